/*
 * Reconfiguration cycle: PREPARE, ACK, COMMIT or CANCEL (see reconfig.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qb/qblist.h>
#include <qb/qblog.h>

#include <vdisk/syntax.h>

#include "clock.h"
#include "db_json.h"
#include "hook.h"
#include "mailbox.h"
#include "path_probe.h"
#include "prober.h"
#include "reconfig.h"
#include "reconfig_msg.h"

/* A change asked of this node: it coordinates the cycle. */
struct request {
	struct qb_list_head list;
	struct reconfig *rc;
	struct reconfig_req req;
	uint64_t txid; /* 0: waiting to send its PREPARE */
	uint64_t sent_ns;
	qb_loop_timer_handle timer;
	reconfig_done_fn done;
	void *ctx;
};

/* The cycle in progress, as every member sees it. */
struct cycle {
	bool active;
	uint64_t txid;
	uint32_t coordinator;
	struct db_update change;
	uint32_t disk_id;
	size_t nmembers;
	uint32_t members[MEMBERSHIP_MAX_NODES];
	bool acked[MEMBERSHIP_MAX_NODES];
	uint64_t prepare_ns;
	uint64_t hold_seq; /* the first snapshot that holds the disk */
	bool drained;
	bool reads_only; /* its drain waits for reads only (vdmap.h) */
	/* This node's paths of the new mapping, checked by the prober while
	 * the disk drains. */
	struct {
		bool pending;
		int error;
		uint64_t size;
		char claim[VDISK_NAME_MAX + 1]; /* another disk's storage too */
	} probe[2];
	bool prepared; /* this node acknowledged (or refused) */
	uint64_t drain_us; /* this node's */
	uint64_t drain_max_us; /* coordinator: the slowest member's */
	uint32_t drain_node;
	bool cancel_sent;
	struct hook *pre_hook;
	qb_loop_timer_handle ack_timer, outcome_timer;
	bool ack_armed, outcome_armed;
};

struct reconfig {
	qb_loop_t *loop;
	struct cdb *cdb;
	const struct vdisk_config *cfg;
	reconfig_publish_fn publish;
	void *publish_ctx;
	struct mailbox *from_data;
	struct cycle cur;
	struct qb_list_head requests;
	uint32_t next_tx;
	qb_loop_timer_handle kick_timer;
	bool kick_armed;
};

/* Posted by the data thread. */
struct drained_msg {
	struct reconfig *rc;
	uint32_t disk_id;
	uint64_t seq;
};

struct replica_ask_msg {
	struct reconfig *rc;
	uint32_t disk_id;
	uint8_t path;
	uint8_t state;
	uint64_t datagen;
};

static void requests_kick(struct reconfig *rc);

static struct membership *members_of(const struct reconfig *rc)
{
	return cdb_membership(rc->cdb);
}

static uint32_t local_nodeid(const struct reconfig *rc)
{
	return membership_local_nodeid(members_of(rc));
}

static const char *node_name(const struct reconfig *rc, uint32_t nodeid)
{
	return membership_node_name(members_of(rc), nodeid);
}

static uint64_t request_timeout_ms(const struct reconfig *rc)
{
	return CDB_OP_TIMEOUT_MS + 2ull * rc->cfg->ack_timeout_ms;
}

static const char *change_kind(const struct db_update *u)
{
	if (u->op == DB_OP_MAP)
		return "map";
	if (u->op == DB_OP_REPLICA)
		return "replica";
	return u->disk.suspended ? "suspend" : "resume";
}

/* Requests */

static void request_complete(struct request *rq, int rc, const char *err,
			     const struct reconfig_result *res)
{
	struct reconfig *r = rq->rc;
	struct reconfig_result none = { 0 };
	/* Failures do not look: at shutdown the database is already gone. */
	const struct db_disk *disk = rc ? NULL : db_disk_find(cdb_db(r->cdb), rq->req.disk);

	qb_loop_timer_del(r->loop, rq->timer);
	qb_list_del(&rq->list);
	rq->done(rq->ctx, rc, err, disk, res ? res : &none);
	free(rq);
}

static struct request *request_find(struct reconfig *rc, uint64_t txid)
{
	struct request *rq;

	qb_list_for_each_entry(rq, &rc->requests, list)
		if (rq->txid == txid)
			return rq;
	return NULL;
}

/* The change a request asks for, against the current database: 1 if there
 * is nothing to change, 0 with u filled, or -errno with a reason. */
static int change_build(struct reconfig *rc, const struct reconfig_req *req, struct db_update *u,
			char *err, size_t errlen)
{
	const struct db_disk *d = db_disk_find(cdb_db(rc->cdb), req->disk);

	memset(u, 0, sizeof(*u));
	if (!d) {
		snprintf(err, errlen, DB_NO_SUCH_DISK, req->disk);
		return -ENOENT;
	}
	snprintf(u->disk.name, sizeof(u->disk.name), "%s", d->name);
	u->disk.mtime = time(NULL);
	switch (req->kind) {
	case RECONFIG_PROMOTE:
		if (d->primary.nodeid == req->node)
			return 1;
		if (d->secondary.nodeid != req->node) {
			snprintf(err, errlen, "%s has no path to '%s': promote the node of its "
				 "secondary path, or give %s a path with map set",
				 node_name(rc, req->node), d->name, node_name(rc, req->node));
			return -EINVAL;
		}
		u->op = DB_OP_MAP;
		u->disk.primary = d->secondary;
		u->disk.secondary = d->primary;
		/* A mirror's states go with the paths, under a new data
		 * generation (a state asked for under the old one is stale
		 * now). A writer that left may have written its replica alone
		 * (changes not acknowledged yet): that replica is outdated in
		 * the same change, copied whole when it is back. */
		if (d->mirror) {
			u->disk.mirror = true;
			u->disk.state[0] = d->state[1];
			u->disk.state[1] = membership_is_member(members_of(rc), d->primary.nodeid) ?
						   d->state[0] :
						   DB_REPLICA_OUTDATED;
			u->disk.datagen = cdb_datagen_new();
		}
		return 0;
	case RECONFIG_MAP:
		u->disk.primary = req->paths[0];
		u->disk.secondary = req->keep_secondary ? d->secondary : req->paths[1];
		if (req->keep_secondary && d->secondary.nodeid &&
		    !memcmp(&u->disk.primary, &d->secondary, sizeof(d->secondary))) {
			snprintf(err, errlen, "%s:%s is the secondary path of '%s' already: to make "
				 "it the primary, run map promote %s %s (or name the new secondary "
				 "with --secondary, 'none' for none)",
				 node_name(rc, d->secondary.nodeid), d->secondary.device, d->name,
				 d->name, node_name(rc, d->secondary.nodeid));
			return -EINVAL;
		}
		if (!memcmp(&u->disk.primary, &d->primary, sizeof(d->primary)) &&
		    !memcmp(&u->disk.secondary, &d->secondary, sizeof(d->secondary)))
			return 1;
		u->op = DB_OP_MAP;
		u->flags = req->force ? DB_MAP_FORCE : 0;
		return 0;
	case RECONFIG_SUSPEND:
	case RECONFIG_RESUME:
		u->op = DB_OP_SUSPEND;
		u->disk.suspended = req->kind == RECONFIG_SUSPEND;
		return u->disk.suspended == d->suspended;
	case RECONFIG_REPLICA:
		if (!d->mirror || req->path > 1 || d->datagen != req->expect ||
		    !db_replica_transition_ok(d->state[req->path], req->state))
			return 1;
		u->op = DB_OP_REPLICA;
		u->expect = d->datagen;
		u->disk.mirror = true;
		u->disk.state[0] = d->state[0];
		u->disk.state[1] = d->state[1];
		u->disk.state[req->path] = req->state;
		u->disk.datagen = cdb_datagen_new();
		return 0;
	}
	snprintf(err, errlen, "unknown change %d", (int)req->kind);
	return -EINVAL;
}

/* Multicasts the request's PREPARE (true), or answers it if there is
 * nothing to do or it cannot go (false: no cycle starts for it). */
static bool request_send(struct request *rq)
{
	struct reconfig *rc = rq->rc;
	struct reconfig_result res = { .unchanged = true };
	struct json_object *body;
	struct db_update u;
	char err[512];
	uint64_t txid;
	int ret;

	ret = change_build(rc, &rq->req, &u, err, sizeof(err));
	if (ret) {
		request_complete(rq, ret < 0 ? ret : 0, ret < 0 ? err : NULL, &res);
		return false;
	}
	txid = (uint64_t)local_nodeid(rc) << 32 | ++rc->next_tx;
	body = json_object_new_object();
	json_object_object_add(body, "change", db_update_to_json(&u));
	ret = cdb_send(rc->cdb, CPG_MSG_PREPARE, txid, body);
	if (ret) {
		snprintf(err, sizeof(err), "cannot multicast PREPARE: %s", strerror(-ret));
		request_complete(rq, ret, err, NULL);
		return false;
	}
	rq->txid = txid;
	rq->sent_ns = now_ns();
	return true;
}

static struct request *request_next(struct reconfig *rc)
{
	struct request *rq;

	qb_list_for_each_entry(rq, &rc->requests, list)
		if (rq->txid == 0)
			return rq;
	return NULL;
}

static void requests_kick_run(void *data)
{
	struct reconfig *rc = data;
	struct request *rq;

	rc->kick_armed = false;
	if (rc->cur.active || !cdb_synced(rc->cdb))
		return;
	/* One at a time: the first PREPARE delivered wins anyway. A request
	 * answered at once (nothing to change, an error) starts no cycle
	 * whose end would kick the queue again: the next one goes now. */
	do
		rq = request_next(rc);
	while (rq && !request_send(rq));
}

/* From the loop, never inside the call that queued: callbacks never run
 * before their request returned. */
static void requests_kick(struct reconfig *rc)
{
	if (rc->kick_armed)
		return;
	if (qb_loop_timer_add(rc->loop, QB_LOOP_MED, 0, rc, requests_kick_run, &rc->kick_timer) == 0)
		rc->kick_armed = true;
}

/* Messages */

static void cancel_send(struct reconfig *rc, const char *reason)
{
	struct json_object *body;

	if (rc->cur.cancel_sent)
		return;
	body = json_object_new_object();
	json_object_object_add(body, "reason", json_object_new_string(reason));
	if (cdb_send(rc->cdb, CPG_MSG_CANCEL, rc->cur.txid, body) == 0)
		rc->cur.cancel_sent = true;
	else
		qb_log(LOG_ERR, "cycle %" PRIx64 ": cannot multicast CANCEL", rc->cur.txid);
}

static void ack_send(struct reconfig *rc, const char *error)
{
	struct json_object *body = json_object_new_object();

	json_object_object_add(body, "error", json_object_new_string(error));
	json_object_object_add(body, "drain_us", json_object_new_int64((int64_t)rc->cur.drain_us));
	if (cdb_send(rc->cdb, CPG_MSG_ACK, rc->cur.txid, body))
		qb_log(LOG_ERR, "cycle %" PRIx64 ": cannot multicast ACK", rc->cur.txid);
}

/* Hooks */

static void path_env(char *buf, size_t len, const char *name, const struct reconfig *rc,
		     const struct db_path *p)
{
	if (p->nodeid)
		snprintf(buf, len, "%s=%s:%s", name, node_name(rc, p->nodeid), p->device);
	else
		snprintf(buf, len, "%s=", name);
}

/* Runs `HOOK DISK PHASE` for the current cycle's change. */
static int hook_start(struct reconfig *rc, const char *path, const char *phase,
		      const struct db_path paths[2], hook_done_fn done, struct hook **out)
{
	const struct cycle *c = &rc->cur;
	char disk[16 + VDISK_NAME_MAX], ph[32], kind[32], txid[48], coord[96];
	char prim[32 + VDISK_NODE_MAX + VDISK_DEVICE_MAX], sec[sizeof(prim)];
	char *argv[] = { (char *)path, (char *)c->change.disk.name, (char *)phase, NULL };
	char *env[] = { disk, ph, kind, txid, coord, prim, sec, NULL };
	struct hook *h;

	snprintf(disk, sizeof(disk), "VDISK_DISK=%s", c->change.disk.name);
	snprintf(ph, sizeof(ph), "VDISK_PHASE=%s", phase);
	snprintf(kind, sizeof(kind), "VDISK_CHANGE=%s", change_kind(&c->change));
	snprintf(txid, sizeof(txid), "VDISK_TXID=%" PRIx64, c->txid);
	snprintf(coord, sizeof(coord), "VDISK_COORDINATOR=%s", node_name(rc, c->coordinator));
	path_env(prim, sizeof(prim), "VDISK_PRIMARY", rc, &paths[0]);
	path_env(sec, sizeof(sec), "VDISK_SECONDARY", rc, &paths[1]);
	return hook_run(out ? out : &h, rc->loop, path, argv, env, done, rc);
}

static void pre_hook_done(void *ctx, int status)
{
	struct reconfig *rc = ctx;
	char why[96], err[PATH_MAX + 256];

	rc->cur.pre_hook = NULL;
	if (status == 0) {
		ack_send(rc, "");
		return;
	}
	snprintf(err, sizeof(err), "%s: pre-change hook %s: %s", node_name(rc, local_nodeid(rc)),
		 rc->cfg->pre_hook, hook_status_str(status, why, sizeof(why)));
	qb_log(LOG_WARNING, "cycle %" PRIx64 ": %s", rc->cur.txid, err);
	ack_send(rc, err);
}

static void post_hook_done(void *ctx, int status)
{
	struct reconfig *rc = ctx;
	char why[96];

	if (status)
		qb_log(LOG_WARNING, "post-change hook %s: %s", rc->cfg->post_hook,
		       hook_status_str(status, why, sizeof(why)));
}

/* The paths a change leaves the disk with. */
static void change_paths(const struct reconfig *rc, const struct db_update *u,
			 struct db_path paths[2])
{
	const struct db_disk *d = db_disk_find(cdb_db(rc->cdb), u->disk.name);

	memset(paths, 0, 2 * sizeof(*paths));
	if (u->op == DB_OP_MAP) {
		paths[0] = u->disk.primary;
		paths[1] = u->disk.secondary;
	} else if (d) {
		paths[0] = d->primary;
		paths[1] = d->secondary;
	}
}

static bool path_known(const struct db_disk *d, const struct db_path *p)
{
	return !memcmp(p, &d->primary, sizeof(*p)) || !memcmp(p, &d->secondary, sizeof(*p));
}

/* Drained and this node's paths checked: judge the paths, run the
 * pre-change hook, acknowledge. */
static void member_prepared(struct reconfig *rc)
{
	struct cycle *c = &rc->cur;
	const struct db_disk *d = db_disk_find(cdb_db(rc->cdb), c->change.disk.name);
	struct db_path paths[2];
	char err[PATH_MAX + 512];
	uint64_t size;
	int i, ret;

	if (!c->drained || c->probe[0].pending || c->probe[1].pending || c->prepared)
		return;
	c->prepared = true;
	change_paths(rc, &c->change, paths);
	/* Suspend and resume leave the paths alone, broken or not. */
	for (i = 0; i < 2 && d && c->change.op == DB_OP_MAP; i++) {
		if (paths[i].nodeid != local_nodeid(rc))
			continue;
		ret = c->probe[i].error;
		size = c->probe[i].size;
		if (ret)
			snprintf(err, sizeof(err), "%s: %s: %s", node_name(rc, paths[i].nodeid),
				 paths[i].device, strerror(-ret));
		else if (size < d->size)
			snprintf(err, sizeof(err),
				 "%s: %s: device holds %" PRIu64 " bytes, the disk needs %" PRIu64,
				 node_name(rc, paths[i].nodeid), paths[i].device, size, d->size);
		if (!ret && size >= d->size && c->probe[i].claim[0]) {
			bool forced = c->change.flags & DB_MAP_FORCE;

			path_claim_format(err, sizeof(err), cdb_db(rc->cdb), members_of(rc),
					  &paths[i], c->probe[i].claim, forced);
			if (!forced) {
				ack_send(rc, err);
				return;
			}
			qb_log(LOG_WARNING, "cycle %" PRIx64 ": disk '%s': %s", c->txid, d->name,
			       err);
		}
		if (!ret && size >= d->size)
			continue;
		/* The new primary must work, and so must a path the disk
		 * did not have; a failed primary may step down to secondary
		 * (the router keeps avoiding it). */
		if (i == 1 && path_known(d, &paths[1])) {
			qb_log(LOG_WARNING, "cycle %" PRIx64 ": secondary path %s", rc->cur.txid, err);
			continue;
		}
		ack_send(rc, err);
		return;
	}
	if (!rc->cfg->pre_hook[0]) {
		ack_send(rc, "");
		return;
	}
	ret = hook_start(rc, rc->cfg->pre_hook, "prepare", paths, pre_hook_done, &rc->cur.pre_hook);
	if (ret) {
		snprintf(err, sizeof(err), "%s: cannot run the pre-change hook %s: %s",
			 node_name(rc, local_nodeid(rc)), rc->cfg->pre_hook, strerror(-ret));
		ack_send(rc, err);
	}
}

struct path_probe {
	struct reconfig *rc;
	uint64_t txid;
	int slot;
	struct path_claims claims; /* a new path: the other disks' storage here */
};

static void path_probed(void *ctx, struct prober_result *res)
{
	struct path_probe *pp = ctx;
	struct cycle *c = &pp->rc->cur;

	/* A cycle that ended (or vdiskd stopping) has no use for it. */
	if (c->active && c->txid == pp->txid && res->error != -ECANCELED) {
		c->probe[pp->slot].pending = false;
		c->probe[pp->slot].error = res->error;
		c->probe[pp->slot].size = res->size;
		snprintf(c->probe[pp->slot].claim, sizeof(c->probe[pp->slot].claim), "%s",
			 path_claims_name(&pp->claims, res->claim) ?: "");
		member_prepared(pp->rc);
	}
	path_claims_free(&pp->claims);
	free(pp);
}

/* Starts checking this node's paths of a new mapping, while the disk drains. */
static void paths_probe(struct reconfig *rc)
{
	struct cycle *c = &rc->cur;
	const struct db_disk *d = db_disk_find(cdb_db(rc->cdb), c->change.disk.name);
	struct db_path paths[2];
	struct path_probe *pp;
	uint64_t ticket;
	int i, ret;

	if (c->change.op != DB_OP_MAP || !d)
		return;
	change_paths(rc, &c->change, paths);
	for (i = 0; i < 2; i++) {
		if (paths[i].nodeid != local_nodeid(rc))
			continue;
		pp = calloc(1, sizeof(*pp));
		ret = -ENOMEM;
		if (pp) {
			pp->rc = rc;
			pp->txid = c->txid;
			pp->slot = i;
			/* A path the disk had is its own storage already. */
			ret = path_known(d, &paths[i]) ? 0 :
							 path_claims_collect(cdb_db(rc->cdb),
									     local_nodeid(rc), d->name,
									     &pp->claims);
			if (!ret)
				ret = prober_probe_claims(cdb_prober(rc->cdb), paths[i].device,
							  (const char (*)[VDISK_DEVICE_MAX + 1])
								  pp->claims.specs,
							  pp->claims.n, path_probed, pp, &ticket);
		}
		if (ret) {
			if (pp)
				path_claims_free(&pp->claims);
			free(pp);
			c->probe[i].error = ret;
			continue;
		}
		c->probe[i].pending = true;
	}
}

static void drained_deliver(void *arg)
{
	struct drained_msg *m = arg;
	struct reconfig *rc = m->rc;
	struct cycle *c = &rc->cur;

	if (c->active && !c->drained && m->disk_id == c->disk_id && m->seq >= c->hold_seq) {
		c->drained = true;
		c->drain_us = (now_ns() - c->prepare_ns) / 1000;
		member_prepared(rc);
	}
	free(m);
}

/* Data thread. */
static void drained_post(void *ctx, uint32_t disk_id, uint64_t seq)
{
	struct reconfig *rc = ctx;
	struct drained_msg *m = malloc(sizeof(*m));

	if (m)
		*m = (struct drained_msg){ rc, disk_id, seq };
	if (!m || mailbox_post(rc->from_data, drained_deliver, m)) {
		free(m);
		qb_log(LOG_ERR, "out of memory: a drained disk goes unreported");
	}
}

static void replica_done(void *ctx, int ret, const char *err, const struct db_disk *disk,
			 const struct reconfig_result *res)
{
	(void)ctx;
	if (ret)
		qb_log(LOG_ERR, "a mirror replica's new state is not recorded: %s (asked again "
		       "with the next mapping)", err);
	else if (!res->unchanged)
		qb_log(LOG_WARNING, "disk '%s': replicas %s and %s, data generation %016" PRIx64
		       " (cycle %" PRIx64 ")", disk->name, db_replica_state_name(disk->state[0]),
		       db_replica_state_name(disk->state[1]), disk->datagen, res->txid);
}

bool reconfig_queued(const struct reconfig *rc, const char *disk)
{
	const struct request *rq;

	qb_list_for_each_entry(rq, &rc->requests, list)
		if (!strcmp(rq->req.disk, disk))
			return true;
	return false;
}

/* The same state of the same replica is asked already. */
static bool replica_asked(const struct reconfig *rc, const struct reconfig_req *req,
			  const char *disk)
{
	const struct request *rq;

	qb_list_for_each_entry(rq, &rc->requests, list)
		if (rq->req.kind == RECONFIG_REPLICA && rq->req.path == req->path &&
		    rq->req.state == req->state && !strcmp(rq->req.disk, disk))
			return true;
	return false;
}

static void replica_ask_deliver(void *arg)
{
	struct replica_ask_msg *m = arg;
	struct reconfig *rc = m->rc;
	const struct db_disk *d = db_disk_find_id(cdb_db(rc->cdb), m->disk_id);
	struct reconfig_req req = { .kind = RECONFIG_REPLICA, .path = m->path,
				    .state = m->state, .expect = m->datagen };
	char err[512];
	int ret;

	free(m);
	if (!d || replica_asked(rc, &req, d->name))
		return;
	snprintf(req.disk, sizeof(req.disk), "%s", d->name);
	ret = reconfig_request(rc, &req, replica_done, rc, err, sizeof(err));
	if (ret)
		replica_done(rc, ret, err, d, NULL);
}

/* Data thread. */
static void replica_ask_post(void *ctx, uint32_t disk_id, uint8_t path, uint64_t datagen,
			     uint8_t state)
{
	struct reconfig *rc = ctx;
	struct replica_ask_msg *m = malloc(sizeof(*m));

	if (m)
		*m = (struct replica_ask_msg){ rc, disk_id, path, state, datagen };
	if (!m || mailbox_post(rc->from_data, replica_ask_deliver, m)) {
		free(m);
		qb_log(LOG_ERR, "out of memory: a mirror replica's change goes unasked");
	}
}

void reconfig_snapshot_mark(struct reconfig *rc, struct vdmap *map)
{
	size_t i;

	map->drained = drained_post;
	map->drained_ctx = rc;
	map->replica_ask = replica_ask_post;
	for (i = 0; rc->cur.active && i < map->ndisks; i++) {
		if (map->disks[i].id != rc->cur.disk_id)
			continue;
		map->disks[i].held = true;
		map->disks[i].held_reads_only = rc->cur.reads_only;
	}
}

static void timers_stop(struct reconfig *rc)
{
	struct cycle *c = &rc->cur;

	if (c->ack_armed)
		qb_loop_timer_del(rc->loop, c->ack_timer);
	if (c->outcome_armed)
		qb_loop_timer_del(rc->loop, c->outcome_timer);
	c->ack_armed = c->outcome_armed = false;
}

/* Outcome: the first COMMIT or CANCEL delivered, or losing the group. */
static void cycle_end(struct reconfig *rc, int ret, const char *reason)
{
	struct cycle *c = &rc->cur;
	struct reconfig_result res = {
		.txid = c->txid,
		.held_us = (now_ns() - c->prepare_ns) / 1000,
		.drain_us_max = c->drain_max_us,
		.drain_node = c->drain_node,
	};
	struct request *rq = c->coordinator == local_nodeid(rc) ? request_find(rc, c->txid) : NULL;
	struct db_path paths[2];

	timers_stop(rc);
	if (c->pre_hook)
		hook_kill(c->pre_hook);
	change_paths(rc, &c->change, paths);
	if (ret == 0)
		qb_log(LOG_NOTICE, "cycle %" PRIx64 ": %s of '%s' committed; I/O held %" PRIu64 " us",
		       c->txid, change_kind(&c->change), c->change.disk.name, res.held_us);
	else
		qb_log(LOG_NOTICE, "cycle %" PRIx64 ": %s of '%s' cancelled (%s); I/O held %" PRIu64
		       " us", c->txid, change_kind(&c->change), c->change.disk.name, reason,
		       res.held_us);
	/* The post-change hook sees the cycle as it ended. */
	if (rc->cfg->post_hook[0] &&
	    hook_start(rc, rc->cfg->post_hook, ret ? "cancel" : "commit", paths, post_hook_done,
		       NULL))
		qb_log(LOG_WARNING, "cannot run the post-change hook %s", rc->cfg->post_hook);
	c->active = false;
	db_update_free(&c->change);
	rc->publish(rc->publish_ctx);
	if (rq) {
		res.cycle_us = (now_ns() - rq->sent_ns) / 1000;
		request_complete(rq, ret, reason, &res);
	}
	requests_kick(rc);
}

static void ack_timeout(void *data)
{
	struct reconfig *rc = data;
	struct cycle *c = &rc->cur;
	char reason[512];
	size_t i, n;

	c->ack_armed = false;
	n = (size_t)snprintf(reason, sizeof(reason), "no acknowledgement within %" PRIu32 " ms from",
			     rc->cfg->ack_timeout_ms);
	for (i = 0; i < c->nmembers && n < sizeof(reason); i++)
		if (!c->acked[i])
			n += (size_t)snprintf(reason + n, sizeof(reason) - n, " %s",
					      node_name(rc, c->members[i]));
	cancel_send(rc, reason);
}

static void outcome_timeout(void *data)
{
	struct reconfig *rc = data;
	char reason[256];

	rc->cur.outcome_armed = false;
	snprintf(reason, sizeof(reason), "no outcome from the coordinator %s within %" PRIu32 " ms",
		 node_name(rc, rc->cur.coordinator), 2 * rc->cfg->ack_timeout_ms);
	cancel_send(rc, reason);
}

/* A cycle that only takes a replica out of the writes (outdates it) drains
 * reads alone: the changes out wait for it (vdmap.h's held_reads_only). */
static bool replica_outdating(const struct db_update *u, const struct db_disk *d)
{
	int i;

	for (i = 0; u->op == DB_OP_REPLICA && i < 2; i++)
		if (u->disk.state[i] == DB_REPLICA_OUTDATED && d->state[i] != DB_REPLICA_OUTDATED)
			return true;
	return false;
}

static void prepare_deliver(struct reconfig *rc, uint32_t from, const struct cpg_msg *msg)
{
	struct request *rq = from == local_nodeid(rc) ? request_find(rc, msg->reqid) : NULL;
	struct cycle *c = &rc->cur;
	const struct db_disk *d;
	const uint32_t *members;
	struct db_update u;
	char err[512];
	int ret;

	/* Every member sees the same order, so all skip the same PREPAREs;
	 * a request of this node goes again once the way is clear. */
	if (c->active || !cdb_synced(rc->cdb)) {
		if (rq)
			rq->txid = 0;
		return;
	}
	ret = reconfig_msg_prepare_decode(msg->body, &u, err, sizeof(err));
	d = ret ? NULL : db_disk_find(cdb_db(rc->cdb), u.disk.name);
	if (ret == 0 && !d) {
		snprintf(err, sizeof(err), DB_NO_SUCH_DISK, u.disk.name);
		ret = -ENOENT;
	}
	if (ret) {
		qb_log(LOG_WARNING, "PREPARE %" PRIx64 " from node %" PRIu32 " ignored: %s",
		       msg->reqid, from, err);
		db_update_free(&u);
		if (rq)
			request_complete(rq, ret, err, NULL);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->active = true;
	c->txid = msg->reqid;
	c->coordinator = from;
	c->change = u;
	c->disk_id = d->id;
	c->reads_only = replica_outdating(&u, d);
	c->nmembers = membership_members(members_of(rc), &members);
	memcpy(c->members, members, c->nmembers * sizeof(*members));
	c->prepare_ns = now_ns();
	qb_log(LOG_INFO, "cycle %" PRIx64 ": %s of '%s' from %s: holding I/O", c->txid,
	       change_kind(&u), u.disk.name, node_name(rc, from));
	paths_probe(rc);
	c->hold_seq = rc->publish(rc->publish_ctx);
	c->outcome_armed = !qb_loop_timer_add(rc->loop, QB_LOOP_MED,
					      2ull * rc->cfg->ack_timeout_ms * QB_TIME_NS_IN_MSEC, rc,
					      outcome_timeout, &c->outcome_timer);
	if (from == local_nodeid(rc))
		c->ack_armed = !qb_loop_timer_add(rc->loop, QB_LOOP_MED,
						  (uint64_t)rc->cfg->ack_timeout_ms *
							  QB_TIME_NS_IN_MSEC,
						  rc, ack_timeout, &c->ack_timer);
}

static void ack_deliver(struct reconfig *rc, uint32_t from, const struct cpg_msg *msg)
{
	struct cycle *c = &rc->cur;
	struct reconfig_msg_ack ack;
	size_t i, acked = 0;

	if (!c->active || c->txid != msg->reqid || c->coordinator != local_nodeid(rc))
		return;
	if (reconfig_msg_ack_decode(msg->body, &ack)) {
		cancel_send(rc, "malformed acknowledgement");
		return;
	}
	if (ack.refusal) {
		cancel_send(rc, ack.refusal);
		return;
	}
	for (i = 0; i < c->nmembers; i++) {
		if (c->members[i] == from && !c->acked[i]) {
			c->acked[i] = true;
			if (ack.drain_us >= c->drain_max_us) {
				c->drain_max_us = ack.drain_us;
				c->drain_node = from;
			}
		}
		acked += c->acked[i];
	}
	if (acked < c->nmembers || c->cancel_sent)
		return;
	if (c->ack_armed)
		qb_loop_timer_del(rc->loop, c->ack_timer);
	c->ack_armed = false;
	if (cdb_send(rc->cdb, CPG_MSG_COMMIT, c->txid, json_object_new_object()))
		cancel_send(rc, "cannot multicast COMMIT");
}

static void outcome_deliver(struct reconfig *rc, uint32_t from, const struct cpg_msg *msg)
{
	struct cycle *c = &rc->cur;
	const char *reason;
	char err[512];
	int ret;

	if (!c->active || c->txid != msg->reqid)
		return;
	if (msg->type == CPG_MSG_CANCEL) {
		if (reconfig_msg_cancel_decode(msg->body, &reason))
			reason = "no reason given";
		snprintf(err, sizeof(err), "cancelled: %s", reason);
		cycle_end(rc, -ECANCELED, err);
		return;
	}
	ret = cdb_commit_apply(rc->cdb, from, &c->change, err, sizeof(err));
	cycle_end(rc, ret, ret ? err : NULL);
}

static void reconfig_deliver(void *ctx, uint32_t from, const struct cpg_msg *msg)
{
	struct reconfig *rc = ctx;

	switch (msg->type) {
	case CPG_MSG_PREPARE:
		prepare_deliver(rc, from, msg);
		break;
	case CPG_MSG_ACK:
		ack_deliver(rc, from, msg);
		break;
	case CPG_MSG_COMMIT:
	case CPG_MSG_CANCEL:
		outcome_deliver(rc, from, msg);
		break;
	default:
		break;
	}
}

/* Any membership change ends the cycle: a member that left cannot ack, one
 * that joined holds nothing. The coordinator cancels, or if it left, the
 * lowest remaining nodeid. */
static void reconfig_confchg(void *ctx)
{
	struct reconfig *rc = ctx;
	struct membership *m = members_of(rc);
	struct cycle *c = &rc->cur;
	const uint32_t *members;
	size_t n = membership_members(m, &members);
	uint32_t canceller;
	char reason[256];

	if (!c->active)
		return;
	if (!membership_is_member(m, local_nodeid(rc))) {
		cycle_end(rc, -ECANCELED, "cancelled: this node left the cluster group");
		return;
	}
	if (n == c->nmembers && !memcmp(members, c->members, n * sizeof(*members)))
		return;
	canceller = membership_is_member(m, c->coordinator) ? c->coordinator : members[0];
	if (canceller != local_nodeid(rc))
		return;
	if (canceller == c->coordinator)
		snprintf(reason, sizeof(reason), "the membership changed during the cycle");
	else
		snprintf(reason, sizeof(reason), "the coordinator %s left during the cycle",
			 node_name(rc, c->coordinator));
	cancel_send(rc, reason);
}

static const struct cdb_cycle_ops reconfig_cdb_ops = {
	.deliver = reconfig_deliver,
	.confchg = reconfig_confchg,
};

/* Public interface */

static void request_timeout(void *data)
{
	struct request *rq = data;
	struct reconfig *rc = rq->rc;
	char err[128];

	/* A cycle of its own in progress ends through CANCEL, which answers. */
	if (rc->cur.active && rq->txid == rc->cur.txid) {
		cancel_send(rc, "the request timed out");
		return;
	}
	snprintf(err, sizeof(err), "timed out after %" PRIu64 " s waiting for the cycle to start",
		 request_timeout_ms(rc) / 1000);
	request_complete(rq, -ETIMEDOUT, err, NULL);
}

static int path_valid(const struct reconfig *rc, const struct db_path *p, char *err,
		      size_t errlen)
{
	struct membership *m = members_of(rc);

	if (!p->nodeid)
		return 0;
	if (vdisk_device_spec_check(p->device)) {
		snprintf(err, errlen,
			 "%s: '%s': not a device (use an absolute path, UUID=, LABEL= or PARTUUID=)",
			 node_name(rc, p->nodeid), p->device);
		return -EINVAL;
	}
	if (!membership_is_member(m, p->nodeid)) {
		snprintf(err, errlen, "%s: node is not running vdiskd, its path cannot be checked: start vdiskd there first",
			 node_name(rc, p->nodeid));
		return -EHOSTUNREACH;
	}
	return 0;
}

int reconfig_request(struct reconfig *rc, const struct reconfig_req *req, reconfig_done_fn done,
		     void *ctx, char *err, size_t errlen)
{
	struct request *rq;
	struct db_update u;
	int ret;

	if (!membership_quorate(members_of(rc))) {
		snprintf(err, errlen, "no quorum: this node refuses changes until it is part of a "
				      "quorate partition");
		return -EROFS;
	}
	if (req->kind == RECONFIG_MAP) {
		if (!req->paths[0].nodeid) {
			snprintf(err, errlen, "a primary path is required");
			return -EINVAL;
		}
		if ((ret = path_valid(rc, &req->paths[0], err, errlen)) ||
		    (ret = path_valid(rc, &req->paths[1], err, errlen)))
			return ret;
		if (!memcmp(&req->paths[0], &req->paths[1], sizeof(req->paths[0]))) {
			snprintf(err, errlen, "the secondary path is the primary path");
			return -EINVAL;
		}
	}
	/* Checked now for a quick answer, and again when its turn comes. */
	ret = change_build(rc, req, &u, err, errlen);
	if (ret < 0)
		return ret;
	rq = calloc(1, sizeof(*rq));
	if (!rq) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rq->rc = rc;
	rq->req = *req;
	rq->done = done;
	rq->ctx = ctx;
	if (qb_loop_timer_add(rc->loop, QB_LOOP_LOW, request_timeout_ms(rc) * QB_TIME_NS_IN_MSEC, rq,
			      request_timeout, &rq->timer)) {
		free(rq);
		snprintf(err, errlen, "cannot arm a timer");
		return -ENOMEM;
	}
	qb_list_add_tail(&rq->list, &rc->requests);
	requests_kick(rc);
	return 0;
}

void reconfig_kick(struct reconfig *rc)
{
	if (!qb_list_empty(&rc->requests))
		requests_kick(rc);
}

int reconfig_start(struct reconfig **out, qb_loop_t *loop, struct cdb *cdb,
		   const struct vdisk_config *cfg, reconfig_publish_fn publish, void *ctx)
{
	struct reconfig *rc = calloc(1, sizeof(*rc));
	int ret;

	if (!rc)
		return -ENOMEM;
	rc->loop = loop;
	rc->cdb = cdb;
	rc->cfg = cfg;
	rc->publish = publish;
	rc->publish_ctx = ctx;
	qb_list_init(&rc->requests);
	ret = mailbox_create(&rc->from_data, loop);
	if (ret) {
		free(rc);
		return ret;
	}
	cdb_cycle_attach(cdb, &reconfig_cdb_ops, rc);
	*out = rc;
	return 0;
}

void reconfig_stop(struct reconfig *rc)
{
	struct request *rq, *tmp;

	if (!rc)
		return;
	qb_list_for_each_entry_safe(rq, tmp, &rc->requests, list)
		request_complete(rq, -ECANCELED, "vdiskd is shutting down", NULL);
	if (rc->cur.active) {
		timers_stop(rc);
		if (rc->cur.pre_hook)
			hook_kill(rc->cur.pre_hook);
		db_update_free(&rc->cur.change);
	}
	if (rc->kick_armed)
		qb_loop_timer_del(rc->loop, rc->kick_timer);
	hook_forget_all(rc->loop);
	mailbox_destroy(rc->from_data, free);
	free(rc);
}
