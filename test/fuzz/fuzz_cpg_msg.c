/*
 * CPG messages from other members: framing, then the decoder of each body
 * type, as cdb.c and reconfig.c run them.
 */
#include <stddef.h>
#include <stdint.h>

#include "cdb_msg.h"
#include "cpg_msg.h"
#include "db_json.h"
#include "reconfig_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdb_msg_probe_reply reply;
	struct cdb_msg_offer offer;
	struct cdb_msg_probe probe;
	struct reconfig_msg_ack ack;
	struct cpg_msg msg;
	struct db_update u;
	const char *reason;
	struct db db;
	char err[256];

	if (cpg_msg_decode(data, size, &msg, err, sizeof(err)))
		return 0;
	switch (msg.type) {
	case CPG_MSG_UPDATE:
		if (db_update_from_json(msg.body, &u, err, sizeof(err)) == 0)
			db_update_free(&u);
		break;
	case CPG_MSG_SYNC_OFFER:
		cdb_msg_offer_decode(msg.body, &offer);
		break;
	case CPG_MSG_SYNC_STATE:
		if (cdb_msg_state_decode(msg.body, &db, err, sizeof(err)) == 0)
			db_free(&db);
		break;
	case CPG_MSG_PROBE:
		cdb_msg_probe_decode(msg.body, &probe);
		break;
	case CPG_MSG_PROBE_REPLY:
		cdb_msg_probe_reply_decode(msg.body, &reply);
		break;
	case CPG_MSG_PREPARE:
		if (reconfig_msg_prepare_decode(msg.body, &u, err, sizeof(err)) == 0)
			db_update_free(&u);
		break;
	case CPG_MSG_ACK:
		reconfig_msg_ack_decode(msg.body, &ack);
		break;
	case CPG_MSG_CANCEL:
		reconfig_msg_cancel_decode(msg.body, &reason);
		break;
	default:
		/* COMMIT: its body carries nothing past the framing. */
		break;
	}
	cpg_msg_release(&msg);
	return 0;
}
