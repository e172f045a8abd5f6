/*
 * A mirror's writer failover (failover.h).
 */
#include <inttypes.h>
#include <stdio.h>

#include <qb/qblog.h>

#include "failover.h"
#include "membership.h"

static void promoted(void *ctx, int rc, const char *err, const struct db_disk *disk,
		     const struct reconfig_result *res)
{
	(void)ctx;
	if (rc)
		qb_log(LOG_ERR, "failover: promotion refused or cancelled: %s (tried again at the "
		       "next membership or database change)", err);
	else if (!res->unchanged)
		qb_log(LOG_WARNING, "failover: this node writes '%s' now (cycle %" PRIx64 ", %.1f "
		       "ms); the replica of the writer that left is outdated", disk->name,
		       res->txid, (double)res->cycle_us / 1000);
}

void failover_check(struct cdb *cdb, struct reconfig *rc)
{
	struct membership *m = cdb_membership(cdb);
	const struct db *db = cdb_db(cdb);
	uint32_t local = membership_local_nodeid(m);
	char err[512];
	size_t i;

	if (!membership_quorate(m) || !cdb_synced(cdb))
		return;
	for (i = 0; i < db->ndisks; i++) {
		const struct db_disk *d = &db->disks[i];
		struct reconfig_req req = { .kind = RECONFIG_PROMOTE, .node = local };

		if (!d->mirror || d->secondary.nodeid != local ||
		    d->state[1] != DB_REPLICA_UPTODATE ||
		    membership_is_member(m, d->primary.nodeid) || reconfig_queued(rc, d->name))
			continue;
		qb_log(LOG_WARNING, "failover: '%s''s writer (node %" PRIu32 ") left; promoting "
		       "this node's up-to-date replica", d->name, d->primary.nodeid);
		snprintf(req.disk, sizeof(req.disk), "%s", d->name);
		if (reconfig_request(rc, &req, promoted, NULL, err, sizeof(err)))
			qb_log(LOG_ERR, "failover: cannot promote '%s' here: %s", d->name, err);
	}
}
