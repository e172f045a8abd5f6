/*
 * Bodies of the cluster database's CPG messages (cpg_msg.h): sync offers and
 * states, device probes and their replies. Another member wrote them, so each
 * decoder is a pure function of the body, fuzzed through fuzz_cpg_msg; what
 * the body means for this node's state is the caller's business.
 *
 * Strings in a decoded body point into it: they live as long as the body.
 */
#ifndef VDISK_CDB_MSG_H
#define VDISK_CDB_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "db.h"

/* CPG_MSG_BEAT {"view", "seen": [[nodeid, sent], ...]}: the lease's
 * (lease.h): the sender's view, and for each member the send time (that
 * member's clock) of its last beat the sender delivered in this view. */
#define CDB_BEAT_SEEN_MAX 64
struct cdb_msg_beat {
	uint64_t view;
	size_t nseen;
	struct {
		uint32_t node;
		uint64_t sent;
	} seen[CDB_BEAT_SEEN_MAX];
};

/* CPG_MSG_SYNC_OFFER {"generation", "config"} */
struct cdb_msg_offer {
	uint64_t generation;
	uint64_t config;
};

/* CPG_MSG_PROBE {"device", "slot"}: slot is echoed back unchecked, the
 * asker matches it. */
struct cdb_msg_probe {
	const char *device;
	int slot;
};

/* CPG_MSG_PROBE_REPLY {"slot", "error": errno or 0, "size", ["claim"]}:
 * claim names the disk whose storage on the answering node the device
 * already is (absent from older members: no claim known). */
struct cdb_msg_probe_reply {
	unsigned int slot; /* 0 primary, 1 secondary */
	int error; /* -errno or 0 */
	uint64_t size; /* a negative one reads as 0 */
	const char *claim; /* a valid disk name, or NULL */
};

/* CPG_MSG_INUSE_QUERY {"disk"} and CPG_MSG_INUSE_REPLY {"disk", "users"}:
 * users NULL in a query, "" when the disk is not open on the answering
 * node. */
#define CDB_INUSE_USERS_MAX 1024
struct cdb_msg_inuse {
	const char *disk;
	const char *users;
};

/* 0, or -EBADMSG: a field is missing or of the wrong type, the disk is not
 * a disk name, users is longer than CDB_INUSE_USERS_MAX or holds a control
 * character (it ends up in a reply line). reply: users is required. */
int cdb_msg_inuse_decode(struct json_object *body, bool reply, struct cdb_msg_inuse *m);

/* 0, or -EBADMSG: a field is missing or of the wrong type. */
int cdb_msg_beat_decode(struct json_object *body, struct cdb_msg_beat *beat);

/* 0, or -EBADMSG: a field is missing or of the wrong type. */
int cdb_msg_offer_decode(struct json_object *body, struct cdb_msg_offer *offer);

/* CPG_MSG_SYNC_STATE {"config", "db": database}: the database into db.
 * 0, or -EBADMSG/-EINVAL with a reason in err; on error db holds nothing. */
int cdb_msg_state_decode(struct json_object *body, struct db *db, char *err, size_t errlen);

/* 0, or -EBADMSG: a field is missing or of the wrong type. */
int cdb_msg_probe_decode(struct json_object *body, struct cdb_msg_probe *probe);

/* 0, or -EBADMSG: a field is missing or of the wrong type, the slot is
 * not 0 or 1, or the claim is not a disk name. An error outside 1..4095 is
 * taken as -EPROTO. */
int cdb_msg_probe_reply_decode(struct json_object *body, struct cdb_msg_probe_reply *reply);

#endif
