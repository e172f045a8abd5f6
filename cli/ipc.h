/*
 * vdiskctl's side of the control IPC: one request out, one reply back, the
 * reply checked and parsed. Every failure is reported on stderr here, so
 * callers only pass the -errno on.
 */
#ifndef VDISK_CLI_IPC_H
#define VDISK_CLI_IPC_H

#include <json-c/json.h>
#include <qb/qbipc_common.h>

/* Creation waits for a remote node and a cluster round trip. */
#define IPC_REPLY_TIMEOUT_MS 30000

/* Sends req (req->size bytes) to the service ipc_name and waits up to
 * timeout_ms for the reply. On success *replyp is the reply's JSON object,
 * for the caller to put. */
int ctl_call(const char *ipc_name, const struct qb_ipc_request_header *req, int timeout_ms,
	     struct json_object **replyp);

#endif
