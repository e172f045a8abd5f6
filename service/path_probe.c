/*
 * The answering side of a path check (CPG_MSG_PROBE): another member (or
 * this one) creating a disk asks the node that has a path to check it. The
 * device is probed off the loop (prober.h), and compared with the storage
 * of every other disk on this node as the database has them; the reply
 * (CPG_MSG_PROBE_REPLY) carries the error, the size and the disk whose
 * storage it is already, if any. The asking side is cdb.c's.
 *
 * Runs on the control-plane loop, like the cdb it answers for.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "cdb.h"
#include "cdb_msg.h"
#include "path_probe.h"
#include "prober.h"

struct probe_answer {
	struct cdb *c;
	uint32_t from;
	uint64_t reqid;
	int slot;
	char device[VDISK_DEVICE_MAX + 1];
	/* The disks with storage on this node, each path's spec in specs. */
	size_t nclaims;
	char (*names)[VDISK_NAME_MAX + 1];
	char (*specs)[VDISK_DEVICE_MAX + 1];
};

static void probe_answer_free(struct probe_answer *a)
{
	free(a->names);
	free(a->specs);
	free(a);
}

/* What the probe compares the device with: every path on this node of
 * every disk, as the database (identical on every member) has them. */
static int claims_collect(struct cdb *c, struct probe_answer *a)
{
	uint32_t self = membership_local_nodeid(cdb_membership(c));
	const struct db *db = cdb_db(c);
	size_t i, n = 0;

	a->names = calloc(2 * db->ndisks + 1, sizeof(*a->names));
	a->specs = calloc(2 * db->ndisks + 1, sizeof(*a->specs));
	if (!a->names || !a->specs)
		return -ENOMEM;
	for (i = 0; i < db->ndisks; i++) {
		const struct db_disk *d = &db->disks[i];
		const struct db_path *paths[] = { &d->primary, &d->secondary };
		size_t k;

		for (k = 0; k < 2; k++) {
			if (paths[k]->nodeid != self)
				continue;
			snprintf(a->names[n], sizeof(a->names[n]), "%s", d->name);
			snprintf(a->specs[n], sizeof(a->specs[n]), "%s", paths[k]->device);
			n++;
		}
	}
	a->nclaims = n;
	return 0;
}

static void probe_reply_send(struct cdb *c, uint32_t to, uint64_t reqid, int slot, int error,
			     uint64_t size, const char *claim)
{
	struct json_object *body = json_object_new_object();

	json_object_object_add(body, "slot", json_object_new_int(slot));
	json_object_object_add(body, "error", json_object_new_int(-error));
	json_object_object_add(body, "size", json_object_new_int64(error ? 0 : (int64_t)size));
	if (claim)
		json_object_object_add(body, "claim", json_object_new_string(claim));
	cdb_send_to(c, CPG_MSG_PROBE_REPLY, to, reqid, body);
}

static void probe_answered(void *ctx, struct prober_result *res)
{
	struct probe_answer *a = ctx;
	const char *claim = res->claim >= 0 && (size_t)res->claim < a->nclaims ?
				    a->names[res->claim] : NULL;

	/* Cancelled only when vdiskd stops: the asker times out or fails over. */
	if (res->error != -ECANCELED) {
		qb_log(LOG_INFO, "checked %s for node %" PRIu32 ": %s%s%s", a->device, a->from,
		       res->error ? strerror(-res->error) : "ok",
		       claim ? ", the storage of disk " : "", claim ? claim : "");
		probe_reply_send(a->c, a->from, a->reqid, a->slot, res->error, res->size, claim);
	}
	probe_answer_free(a);
}

void path_probe_answer(struct cdb *c, uint32_t from, const struct cpg_msg *msg)
{
	struct cdb_msg_probe p;
	struct probe_answer *a;
	uint64_t ticket;
	int rc = -ENOMEM;

	if (cdb_msg_probe_decode(msg->body, &p)) {
		qb_log(LOG_WARNING, "malformed probe from node %" PRIu32, from);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (a) {
		a->c = c;
		a->from = from;
		a->reqid = msg->reqid;
		a->slot = p.slot;
		snprintf(a->device, sizeof(a->device), "%s", p.device);
		rc = claims_collect(c, a);
		if (!rc)
			rc = prober_probe_claims(cdb_prober(c), p.device,
						 (const char (*)[VDISK_DEVICE_MAX + 1])a->specs,
						 a->nclaims, probe_answered, a, &ticket);
	}
	if (!rc)
		return;
	if (a)
		probe_answer_free(a);
	probe_reply_send(c, from, msg->reqid, p.slot, rc, 0, NULL);
}

