/*
 * Path checks: the answering side of CPG_MSG_PROBE (another member, or
 * this one, creating a disk asks the node that has a path to check it: the
 * device is probed off the loop, prober.h, and compared with the storage of
 * every other disk on this node as the database has them; the reply,
 * CPG_MSG_PROBE_REPLY, carries the error, the size and the disk whose
 * storage it is already, if any; the asking side is cdb.c's), and the
 * claims a reconfiguration cycle checks a new path against the same way.
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
	struct path_claims claims;
};

void path_claims_free(struct path_claims *pc)
{
	free(pc->names);
	free(pc->specs);
	memset(pc, 0, sizeof(*pc));
}

int path_claims_collect(const struct db *db, uint32_t node, const char *except,
			struct path_claims *pc)
{
	size_t i, n = 0;

	memset(pc, 0, sizeof(*pc));
	pc->names = calloc(2 * db->ndisks + 1, sizeof(*pc->names));
	pc->specs = calloc(2 * db->ndisks + 1, sizeof(*pc->specs));
	if (!pc->names || !pc->specs) {
		path_claims_free(pc);
		return -ENOMEM;
	}
	for (i = 0; i < db->ndisks; i++) {
		const struct db_disk *d = &db->disks[i];
		const struct db_path *paths[] = { &d->primary, &d->secondary };
		size_t k;

		if (except && !strcmp(d->name, except))
			continue;
		for (k = 0; k < 2; k++) {
			if (paths[k]->nodeid != node)
				continue;
			snprintf(pc->names[n], sizeof(pc->names[n]), "%s", d->name);
			snprintf(pc->specs[n], sizeof(pc->specs[n]), "%s", paths[k]->device);
			n++;
		}
	}
	pc->n = n;
	return 0;
}

const char *path_claims_name(const struct path_claims *pc, int claim)
{
	return claim >= 0 && (size_t)claim < pc->n ? pc->names[claim] : NULL;
}

void path_claim_format(char *buf, size_t len, const struct db *db, struct membership *m,
		       const struct db_path *p, const char *claim, bool forced)
{
	const struct db_disk *other = db_disk_find(db, claim);
	const struct db_path *theirs = !other ? NULL :
				       other->primary.nodeid == p->nodeid ? &other->primary :
				       other->secondary.nodeid == p->nodeid ? &other->secondary :
									      NULL;
	const char *node = membership_node_name(m, p->nodeid);
	char where[VDISK_DEVICE_MAX + 96] = "";

	if (theirs)
		snprintf(where, sizeof(where), " (its %s path %s:%s)",
			 theirs == &other->primary ? "primary" : "secondary", node, theirs->device);
	if (forced)
		snprintf(buf, len, "--force: %s: %s is the storage of disk '%s' too%s; writes to "
			 "either disk change the other", node, p->device, claim, where);
	else
		snprintf(buf, len, "%s: %s is the storage of disk '%s' already%s: a device backs "
			 "one virtual disk; give another device, or --force to share it", node,
			 p->device, claim, where);
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
	const char *claim = path_claims_name(&a->claims, res->claim);

	/* Cancelled only when vdiskd stops: the asker times out or fails over. */
	if (res->error != -ECANCELED) {
		qb_log(LOG_INFO, "checked %s for node %" PRIu32 ": %s%s%s", a->device, a->from,
		       res->error ? strerror(-res->error) : "ok",
		       claim ? ", the storage of disk " : "", claim ? claim : "");
		probe_reply_send(a->c, a->from, a->reqid, a->slot, res->error, res->size, claim);
	}
	path_claims_free(&a->claims);
	free(a);
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
		rc = path_claims_collect(cdb_db(c), membership_local_nodeid(cdb_membership(c)),
					 NULL, &a->claims);
		if (!rc)
			rc = prober_probe_claims(cdb_prober(c), p.device,
						 (const char (*)[VDISK_DEVICE_MAX + 1])a->claims.specs,
						 a->claims.n, probe_answered, a, &ticket);
	}
	if (!rc)
		return;
	if (a)
		path_claims_free(&a->claims);
	free(a);
	probe_reply_send(c, from, msg->reqid, p.slot, rc, 0, NULL);
}

