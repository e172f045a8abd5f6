/*
 * For the CPG message tests (unit and fuzz): a body decoded as its consumer
 * (cdb.c, reconfig.c) decodes it, by message type.
 */
#ifndef VDISK_TEST_CPG_BODY_H
#define VDISK_TEST_CPG_BODY_H

#include <errno.h>
#include <stddef.h>

#include "cdb_msg.h"
#include "cpg_msg.h"
#include "db_json.h"
#include "reconfig_msg.h"

/* Decodes body as the body of a message of type and frees what it got: 0,
 * the decoder's -errno (a reason in err where it gives one), or -ENOSYS
 * for a type without a body to decode (COMMIT). */
static inline int cpg_body_decode(enum cpg_msg_type type, struct json_object *body, char *err,
				  size_t errlen)
{
	union {
		struct cdb_msg_offer offer;
		struct cdb_msg_probe probe;
		struct cdb_msg_probe_reply reply;
		struct reconfig_msg_ack ack;
		const char *reason;
		struct db_update u;
		struct db db;
		struct cdb_msg_beat beat;
		struct cdb_msg_inuse inuse;
	} out;
	int rc = -ENOSYS;

	switch (type) {
	case CPG_MSG_UPDATE:
		rc = db_update_from_json(body, &out.u, err, errlen);
		if (!rc)
			db_update_free(&out.u);
		break;
	case CPG_MSG_SYNC_OFFER:
		rc = cdb_msg_offer_decode(body, &out.offer);
		break;
	case CPG_MSG_SYNC_STATE:
		rc = cdb_msg_state_decode(body, &out.db, err, errlen);
		if (!rc)
			db_free(&out.db);
		break;
	case CPG_MSG_PROBE:
		rc = cdb_msg_probe_decode(body, &out.probe);
		break;
	case CPG_MSG_PROBE_REPLY:
		rc = cdb_msg_probe_reply_decode(body, &out.reply);
		break;
	case CPG_MSG_PREPARE:
		rc = reconfig_msg_prepare_decode(body, &out.u, err, errlen);
		/* prepare_deliver frees it on any outcome: that must be safe. */
		db_update_free(&out.u);
		break;
	case CPG_MSG_ACK:
		rc = reconfig_msg_ack_decode(body, &out.ack);
		break;
	case CPG_MSG_CANCEL:
		rc = reconfig_msg_cancel_decode(body, &out.reason);
		break;
	case CPG_MSG_BEAT:
		rc = cdb_msg_beat_decode(body, &out.beat);
		break;
	case CPG_MSG_INUSE_QUERY:
	case CPG_MSG_INUSE_REPLY:
		rc = cdb_msg_inuse_decode(body, type == CPG_MSG_INUSE_REPLY, &out.inuse);
		break;
	default:
		break;
	}
	return rc;
}

#endif
