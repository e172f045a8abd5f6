/*
 * Bodies of the reconfiguration cycle's CPG messages (cpg_msg.h). The
 * coordinator or another member wrote them, so each decoder is a pure
 * function of the body, fuzzed through fuzz_cpg_msg; whether the message
 * belongs to the cycle in progress is the caller's business. COMMIT's body
 * carries nothing.
 *
 * Strings in a decoded body point into it: they live as long as the body.
 */
#ifndef VDISK_RECONFIG_MSG_H
#define VDISK_RECONFIG_MSG_H

#include <stdint.h>

#include <json-c/json.h>

#include "db.h"

/* CPG_MSG_ACK {"error": "" or reason, "drain_us"} */
struct reconfig_msg_ack {
	const char *refusal; /* why the member refused; NULL: it is ready */
	uint64_t drain_us; /* how long its outstanding requests took */
};

/* CPG_MSG_PREPARE {"change": update}: the change into u, which must be a
 * mapping change (map or suspend). 0, or -EINVAL with a reason in err; on
 * error u holds nothing. */
int reconfig_msg_prepare_decode(struct json_object *body, struct db_update *u, char *err,
				size_t errlen);

/* 0, or -EBADMSG: a field is missing or of the wrong type. */
int reconfig_msg_ack_decode(struct json_object *body, struct reconfig_msg_ack *ack);

/* CPG_MSG_CANCEL {"reason"}: the reason into *reason. 0, or -EBADMSG when
 * there is none or it is not a string. */
int reconfig_msg_cancel_decode(struct json_object *body, const char **reason);

#endif
