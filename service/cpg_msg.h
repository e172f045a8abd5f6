/*
 * Messages vdiskd members exchange over the CPG group "vdisk".
 *
 * Wire format: a fixed 32-byte little-endian header followed by `len` bytes
 * of JSON text (no terminator).
 *
 *   offset size field
 *   0      4    magic    CPG_MSG_MAGIC
 *   4      2    version  CPG_MSG_VERSION; other versions are refused
 *   6      2    type     enum cpg_msg_type
 *   8      4    target   nodeid the message is for (probe request/reply), else 0
 *   12     4    reserved 0
 *   16     8    reqid    originator's request id: results are matched by it
 *   24     4    len      payload length, must equal the bytes that follow
 *   28     4    reserved 0
 *
 * Payloads, decoded by db_json.h, cdb_msg.h and reconfig_msg.h:
 *   CPG_MSG_UPDATE       update (db_json.h)
 *   CPG_MSG_SYNC_OFFER   {"generation", "config"}: sent by every member after
 *                        each membership change
 *   CPG_MSG_SYNC_STATE   {"config", "db": database}: sent by the member with
 *                        the highest generation (ties: lowest nodeid)
 *   CPG_MSG_PROBE        {"device", "slot"}: asks `target` to check one of
 *                        its paths
 *   CPG_MSG_PROBE_REPLY  {"slot", "error": errno or 0, "size"}: to `target`
 *
 * The reconfiguration cycle (reconfig.h); reqid is the cycle's txid:
 *   CPG_MSG_PREPARE      {"change": update (db_json.h)}: from the coordinator
 *   CPG_MSG_ACK          {"error": "" or reason, "drain_us"}: every member
 *   CPG_MSG_COMMIT       {}: from the coordinator, once every member acked
 *   CPG_MSG_CANCEL       {"reason"}: from any member; the first of COMMIT and
 *                        CANCEL delivered for a txid decides the cycle
 *
 * The lease (lease.h); reqid is the sender's monotonic clock (ns) at send:
 *   CPG_MSG_BEAT         {"view"}: the sender's membership view at send
 *
 * Whether a disk is in use anywhere (inuse_ask.h), before a delete:
 *   CPG_MSG_INUSE_QUERY  {"disk"}: every member answers
 *   CPG_MSG_INUSE_REPLY  {"disk", "users": "" or who}: to `target`
 */
#ifndef VDISK_CPG_MSG_H
#define VDISK_CPG_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define CPG_MSG_MAGIC 0x50436476u /* "vdCP" */
#define CPG_MSG_VERSION 1
#define CPG_MSG_HDR_SIZE 32
/* A full state with thousands of disks fits; anything larger is refused. */
#define CPG_MSG_MAX (4u * 1024 * 1024)

enum cpg_msg_type {
	CPG_MSG_UPDATE = 1,
	CPG_MSG_SYNC_OFFER,
	CPG_MSG_SYNC_STATE,
	CPG_MSG_PROBE,
	CPG_MSG_PROBE_REPLY,
	CPG_MSG_PREPARE,
	CPG_MSG_ACK,
	CPG_MSG_COMMIT,
	CPG_MSG_CANCEL,
	CPG_MSG_BEAT,
	CPG_MSG_INUSE_QUERY,
	CPG_MSG_INUSE_REPLY,
	CPG_MSG_TYPE_MAX,
};

/* A decoded message; body is owned by it (cpg_msg_release). */
struct cpg_msg {
	enum cpg_msg_type type;
	uint32_t target;
	uint64_t reqid;
	struct json_object *body;
};

/* Encodes header and payload into a malloc'd buffer. 0 or -errno. */
int cpg_msg_encode(enum cpg_msg_type type, uint32_t target, uint64_t reqid,
		   struct json_object *body, void **buf, size_t *len);

/* Pure decoder: validates the header and parses the payload as a JSON
 * object. 0, or -EINVAL/-EPROTO with a reason in err. */
int cpg_msg_decode(const void *buf, size_t len, struct cpg_msg *msg, char *err, size_t errlen);

void cpg_msg_release(struct cpg_msg *msg);

#endif
