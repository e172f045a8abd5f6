/*
 * Cluster database replication over CPG.
 *
 * Updates: the originator multicasts an update; every member applies it when
 * it is delivered, in agreed order, so all reach the same result; the
 * originator answers its requester when its own message comes back.
 *
 * Sync: after every membership change every member multicasts an offer with
 * its generation; once all offers are in, the member with the highest
 * generation (ties: lowest nodeid) multicasts its whole state and everybody
 * adopts it. Updates delivered before that are refused everywhere, and the
 * originator simply resubmits them after the sync.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <qb/qblist.h>
#include <qb/qblog.h>

#include "cdb.h"
#include "cdb_msg.h"
#include "cmap_mirror.h"
#include "cpg_msg.h"
#include "db_json.h"
#include "dbfile.h"
#include "path_probe.h"
#include "prober.h"

#include <vdisk/syntax.h>

enum op_state {
	OP_WAIT_SYNC, /* queued until the database is synced */
	OP_PROBING, /* waiting for the paths' nodes to check them */
	OP_SENT, /* update multicast, waiting for its delivery */
};

/* One path of a disk being created, checked on its own node. */
struct probe {
	uint32_t nodeid;
	bool pending;
	int error;
	uint64_t size;
	char claim[VDISK_NAME_MAX + 1]; /* the disk whose storage it is already */
};

struct cdb_op {
	struct qb_list_head list;
	struct cdb *c;
	uint64_t reqid;
	enum op_state state;
	struct db_update u;
	unsigned int flags; /* CDB_CREATE_* */
	struct probe probes[2]; /* primary, secondary */
	char note[1024]; /* for the requester on success: what --force overrode */
	qb_loop_timer_handle timer;
	cdb_done_fn done;
	void *ctx;
};

struct offer {
	uint32_t nodeid;
	bool received;
	uint64_t generation;
	uint64_t config;
};

struct cdb {
	qb_loop_t *loop;
	char state_dir[4096];
	struct membership *m;
	uint32_t pid;
	struct db db;

	bool synced;
	int save_error; /* -errno of the last failed save, 0 once one succeeds */
	uint64_t config;
	struct offer offers[MEMBERSHIP_MAX_NODES];
	size_t noffers;
	uint32_t sync_source; /* member that sends the state; 0 until chosen */
	uint64_t sync_config;

	struct qb_list_head ops;
	uint64_t next_reqid;
	qb_loop_timer_handle kick_timer;
	bool kick_armed;

	struct db_inventory local_inv; /* this node's last scan */
	bool inv_scanned; /* local_inv holds a scan: publishing it means something */
	bool inv_publishing;
	struct prober *prober; /* every device probe and scan: never on this loop */

	cdb_watch_fn watch_fn;
	void *watch_ctx;
	const struct cdb_cycle_ops *cycle_ops;
	void *cycle_ctx;
	const struct cdb_lease_ops *lease_ops;
	void *lease_ctx;
	const struct cdb_inuse_ops *inuse_ops;
	void *inuse_ctx;
};

static void op_start(struct cdb_op *op);

static void watchers_notify(struct cdb *c)
{
	if (c->watch_fn)
		c->watch_fn(c->watch_ctx);
}

static uint32_t local_nodeid(const struct cdb *c)
{
	return membership_local_nodeid(c->m);
}

static int msg_send(struct cdb *c, enum cpg_msg_type type, uint32_t target, uint64_t reqid,
		    struct json_object *body)
{
	void *buf;
	size_t len;
	int rc = cpg_msg_encode(type, target, reqid, body, &buf, &len);

	json_object_put(body);
	if (rc)
		return rc;
	return membership_send(c->m, buf, len);
}

/* The other members hold the update too, so a node that cannot save goes
 * on, logs it and shows it in `vdiskctl status` until a save succeeds. */
static int state_save(struct cdb *c)
{
	int rc = dbfile_save(c->state_dir, &c->db);

	if (rc && rc != c->save_error)
		qb_log(LOG_ERR, "cannot save the database in %s/%s: %s", c->state_dir,
		       DBFILE_NAME, strerror(-rc));
	else if (!rc && c->save_error)
		qb_log(LOG_NOTICE, "database saved in %s/%s again", c->state_dir, DBFILE_NAME);
	c->save_error = rc;
	return rc;
}

/* Saves the state and mirrors it into CMAP: only the row u touched, or
 * everything when u is NULL (after a sync). */
static void state_commit(struct cdb *c, bool persist, const struct db_update *u)
{
	cmap_handle_t cmap;
	int rc;

	if (persist)
		state_save(c);
	if (membership_cmap(c->m, &cmap)) {
		rc = u ? cmap_mirror_update(cmap, &c->db, u) : cmap_mirror_write(cmap, &c->db);
		if (rc)
			qb_log(LOG_WARNING, "cannot mirror the database into CMAP: %s",
			       strerror(-rc));
	}
}

/* Operations */

static void op_complete(struct cdb_op *op, int rc, const char *err)
{
	struct cdb *c = op->c;
	const struct db_disk *disk = NULL;

	if (rc == 0 && op->u.op != DB_OP_DELETE)
		disk = db_disk_find(&c->db, op->u.disk.name);
	if (rc == 0 && op->note[0])
		qb_log(LOG_WARNING, "disk '%s': %s", op->u.disk.name, op->note);
	if (rc == 0)
		err = op->note[0] ? op->note : NULL;
	qb_loop_timer_del(c->loop, op->timer);
	qb_list_del(&op->list);
	if (op->done)
		op->done(op->ctx, rc, err, disk, c->db.generation);
	db_update_free(&op->u);
	free(op);
}

static struct cdb_op *op_find(struct cdb *c, uint64_t reqid)
{
	struct cdb_op *op;

	qb_list_for_each_entry(op, &c->ops, list)
		if (op->reqid == reqid)
			return op;
	return NULL;
}

static void op_timeout(void *data)
{
	struct cdb_op *op = data;
	static const char *const waiting[] = {
		[OP_WAIT_SYNC] = "the database sync",
		[OP_PROBING] = "a node to check its path",
		[OP_SENT] = "the update to be delivered",
	};
	char err[128];

	snprintf(err, sizeof(err), "timed out after %d s waiting for %s", CDB_OP_TIMEOUT_MS / 1000,
		 waiting[op->state]);
	op_complete(op, -ETIMEDOUT, err);
}

static void ops_kick_run(void *data)
{
	struct cdb *c = data;
	struct cdb_op *op, *tmp;

	c->kick_armed = false;
	if (!c->synced)
		return;
	qb_list_for_each_entry_safe(op, tmp, &c->ops, list)
		if (op->state == OP_WAIT_SYNC)
			op_start(op);
}

/* Starts waiting operations from the loop, never from inside the call that
 * queued them, so callbacks never run before their request returned. */
static void ops_kick(struct cdb *c)
{
	if (c->kick_armed)
		return;
	if (qb_loop_timer_add(c->loop, QB_LOOP_MED, 0, c, ops_kick_run, &c->kick_timer) == 0)
		c->kick_armed = true;
}

static void ops_fail_all(struct cdb *c, const char *err)
{
	struct cdb_op *op, *tmp;

	qb_list_for_each_entry_safe(op, tmp, &c->ops, list)
		op_complete(op, -ENOTCONN, err);
}

static int op_queue(struct cdb *c, const struct db_update *u, unsigned int flags,
		    cdb_done_fn done, void *ctx)
{
	struct cdb_op *op = calloc(1, sizeof(*op));

	if (!op)
		return -ENOMEM;
	op->c = c;
	op->reqid = ++c->next_reqid;
	op->state = OP_WAIT_SYNC;
	op->u = *u;
	op->u.inv.devices = NULL;
	op->u.inv.count = 0;
	if (u->inv.count) {
		op->u.inv.devices = calloc(u->inv.count, sizeof(*u->inv.devices));
		if (!op->u.inv.devices)
			goto out_free;
		memcpy(op->u.inv.devices, u->inv.devices, u->inv.count * sizeof(*u->inv.devices));
		op->u.inv.count = u->inv.count;
	}
	op->flags = flags;
	op->done = done;
	op->ctx = ctx;
	if (qb_loop_timer_add(c->loop, QB_LOOP_LOW, (uint64_t)CDB_OP_TIMEOUT_MS * QB_TIME_NS_IN_MSEC,
			      op, op_timeout, &op->timer))
		goto out_free_inv;
	qb_list_add_tail(&op->list, &c->ops);
	ops_kick(c);
	return 0;

out_free_inv:
	db_update_free(&op->u);
out_free:
	free(op);
	return -ENOMEM;
}

static void op_send_update(struct cdb_op *op)
{
	int rc;

	op->u.disk.mtime = time(NULL);
	rc = msg_send(op->c, CPG_MSG_UPDATE, 0, op->reqid, db_update_to_json(&op->u));
	if (rc) {
		char err[128];

		snprintf(err, sizeof(err), "cannot multicast the update: %s", strerror(-rc));
		op_complete(op, rc, err);
		return;
	}
	op->state = OP_SENT;
}

static const struct db_path *op_path(const struct cdb_op *op, size_t slot)
{
	return slot == 0 ? &op->u.disk.primary : &op->u.disk.secondary;
}

/* A path of op is the storage of another disk already: refused, or with
 * --force said in op's note. -EBUSY, or 0 to go on. */
static int claim_judge(struct cdb_op *op, const struct db_path *p, const char *claim,
		       char *err, size_t errlen)
{
	bool forced = op->flags & CDB_CREATE_FORCE;
	size_t len = strlen(op->note);

	if (!forced) {
		path_claim_format(err, errlen, &op->c->db, op->c->m, p, claim, false);
		return -EBUSY;
	}
	if (len)
		snprintf(op->note + len, sizeof(op->note) - len, "; ");
	len = strlen(op->note);
	path_claim_format(op->note + len, sizeof(op->note) - len, &op->c->db, op->c->m, p, claim,
			  true);
	return 0;
}

/* A two-node cluster without corosync's qdevice: with two_node, each half
 * of a split keeps quorum, and each could write its own replica. */
static bool tie_breaker_missing(const struct cdb *c)
{
	const struct membership_node *nodes;
	cmap_handle_t cmap;
	char *model = NULL;

	if (membership_nodes(c->m, &nodes) != 2 || !membership_cmap(c->m, &cmap))
		return false;
	if (cmap_get_string(cmap, "quorum.device.model", &model) == CS_OK) {
		free(model);
		return false;
	}
	return true;
}

/* All probes answered: pick the size and multicast the row, or fail. */
static void probes_finish(struct cdb_op *op)
{
	struct db_disk *d = &op->u.disk;
	char err[1024];
	size_t i;
	int rc;

	for (i = 0; i < 2; i++) {
		const struct db_path *p = op_path(op, i);
		const char *node = membership_node_name(op->c->m, p->nodeid);

		if (!p->nodeid)
			continue;
		if (op->probes[i].error) {
			snprintf(err, sizeof(err), "%s: %s: %s", node, p->device,
				 strerror(-op->probes[i].error));
			op_complete(op, op->probes[i].error, err);
			return;
		}
		if (op->probes[i].claim[0] &&
		    (rc = claim_judge(op, p, op->probes[i].claim, err, sizeof(err)))) {
			op_complete(op, rc, err);
			return;
		}
		if (i == 0 && !(op->flags & CDB_CREATE_SIZE))
			d->size = op->probes[0].size / DB_SECTOR * DB_SECTOR;
		/* A mirror is as large as its smaller replica. */
		if (i == 0 && d->mirror && !(op->flags & CDB_CREATE_SIZE) &&
		    op->probes[1].size < op->probes[0].size)
			d->size = op->probes[1].size / DB_SECTOR * DB_SECTOR;
		if (d->size == 0 || op->probes[i].size < d->size) {
			snprintf(err, sizeof(err),
				 "%s: %s: device holds %" PRIu64 " bytes, the disk needs %" PRIu64,
				 node, p->device, op->probes[i].size,
				 d->size ? d->size : (uint64_t)DB_SECTOR);
			op_complete(op, -ENOSPC, err);
			return;
		}
	}
	if (d->mirror && tie_breaker_missing(op->c)) {
		size_t len = strlen(op->note);

		snprintf(op->note + len, sizeof(op->note) - len,
			 "%sa two-node cluster needs a tie-breaker for a mirror (corosync qdevice, or a "
			 "third node without storage): with two_node, both halves of a split keep "
			 "quorum and each could write its replica", len ? "; " : "");
	}
	op_send_update(op);
}

static bool probes_pending(const struct cdb_op *op)
{
	return op->probes[0].pending || op->probes[1].pending;
}

static void op_probe(struct cdb_op *op)
{
	struct cdb *c = op->c;
	size_t i;
	int rc;

	op->state = OP_PROBING;
	for (i = 0; i < 2; i++) {
		const struct db_path *p = op_path(op, i);
		struct probe *pr = &op->probes[i];
		struct json_object *body;

		memset(pr, 0, sizeof(*pr));
		pr->nodeid = p->nodeid;
		if (!p->nodeid)
			continue;
		/* This node's own paths too: the prober answers, off this loop. */
		body = json_object_new_object();
		json_object_object_add(body, "device", json_object_new_string(p->device));
		json_object_object_add(body, "slot", json_object_new_int((int)i));
		rc = msg_send(c, CPG_MSG_PROBE, p->nodeid, op->reqid, body);
		if (rc) {
			pr->error = rc;
			continue;
		}
		pr->pending = true;
	}
	if (!probes_pending(op))
		probes_finish(op);
}

static void op_start(struct cdb_op *op)
{
	if (op->u.op == DB_OP_CREATE)
		op_probe(op);
	else
		op_send_update(op);
}

/* Message handlers */

static void probe_reply(struct cdb *c, uint32_t from, const struct cpg_msg *msg)
{
	struct cdb_op *op = op_find(c, msg->reqid);
	struct cdb_msg_probe_reply r;
	struct probe *pr;

	if (!op || op->state != OP_PROBING || cdb_msg_probe_reply_decode(msg->body, &r))
		return;
	pr = &op->probes[r.slot];
	if (!pr->pending || pr->nodeid != from)
		return;
	pr->pending = false;
	pr->error = r.error;
	pr->size = r.size;
	snprintf(pr->claim, sizeof(pr->claim), "%s", r.claim ? r.claim : "");
	if (!probes_pending(op))
		probes_finish(op);
}

/* Applies an update in delivery order: refused everywhere alike while the
 * database syncs (-EAGAIN) or without quorum (-EROFS). */
static int update_apply(struct cdb *c, uint32_t from, const struct db_update *u, char *err,
			size_t errlen)
{
	int rc;

	if (!c->synced) {
		snprintf(err, errlen, "the database is synchronizing with the cluster: try again "
			 "in a moment (vdiskctl status says when it is synced)");
		rc = -EAGAIN;
	} else if (!membership_quorate(c->m)) {
		snprintf(err, errlen,
			 "no quorum: this node refuses changes until it is part of a quorate partition");
		rc = -EROFS;
	} else {
		rc = db_apply(&c->db, u, err, errlen);
	}
	if (rc) {
		qb_log(LOG_NOTICE, "refused update from node %" PRIu32 ": %s", from, err);
		return rc;
	}
	if (u->op == DB_OP_INVENTORY)
		qb_log(LOG_INFO, "applied the device inventory of node %" PRIu32
		       ": generation %" PRIu64, from, c->db.generation);
	else
		qb_log(LOG_INFO, "applied %s of '%s' from node %" PRIu32 ": generation %" PRIu64,
		       db_update_op_name(u->op), u->disk.name, from, c->db.generation);
	state_commit(c, true, u);
	watchers_notify(c);
	return 0;
}

static void update_deliver(struct cdb *c, uint32_t from, bool mine, const struct cpg_msg *msg)
{
	struct db_update u;
	struct cdb_op *op = mine ? op_find(c, msg->reqid) : NULL;
	char err[512];
	int rc;

	rc = db_update_from_json(msg->body, &u, err, sizeof(err));
	if (rc == 0 && (u.op == DB_OP_MAP || u.op == DB_OP_SUSPEND || u.op == DB_OP_REPLICA)) {
		snprintf(err, sizeof(err), "a mapping change outside a reconfiguration cycle");
		rc = -EINVAL;
	}
	if (rc) {
		qb_log(LOG_WARNING, "malformed update from node %" PRIu32 ": %s", from, err);
		if (op)
			op_complete(op, rc, err);
		db_update_free(&u);
		return;
	}
	rc = update_apply(c, from, &u, err, sizeof(err));
	db_update_free(&u);
	if (!op)
		return;
	if (rc == -EAGAIN) {
		/* Not applied anywhere: run it again once synced. */
		op->state = OP_WAIT_SYNC;
		return;
	}
	op_complete(op, rc, err);
}

static void inventory_done(void *ctx, int rc, const char *err, const struct db_disk *disk,
			   uint64_t generation)
{
	struct cdb *c = ctx;

	c->inv_publishing = false;
	if (rc)
		qb_log(LOG_WARNING, "cannot publish the device inventory: %s", err);
}

static void inventory_publish(struct cdb *c)
{
	const struct db_inventory *cur;
	struct db_update u = { .op = DB_OP_INVENTORY };

	if (!c->inv_scanned || !c->synced || !membership_quorate(c->m) || c->inv_publishing)
		return;
	c->local_inv.nodeid = local_nodeid(c);
	cur = db_inventory_find(&c->db, c->local_inv.nodeid);
	if (cur && db_inventory_equal(cur, &c->local_inv))
		return;
	u.inv = c->local_inv;
	if (op_queue(c, &u, 0, inventory_done, c) == 0)
		c->inv_publishing = true;
}

static void sync_offer_deliver(struct cdb *c, uint32_t from, const struct cpg_msg *msg)
{
	struct cdb_msg_offer in;
	uint64_t best_gen = 0, max_cfg = 0;
	uint32_t best = 0;
	size_t i;

	if (cdb_msg_offer_decode(msg->body, &in))
		return;
	for (i = 0; i < c->noffers; i++) {
		if (c->offers[i].nodeid == from) {
			c->offers[i].received = true;
			c->offers[i].generation = in.generation;
			c->offers[i].config = in.config;
		}
	}
	for (i = 0; i < c->noffers; i++) {
		const struct offer *o = &c->offers[i];

		if (!o->received)
			return;
		/* Offers are sorted by nodeid, so '>' keeps the lowest on ties. */
		if (!best || o->generation > best_gen) {
			best = o->nodeid;
			best_gen = o->generation;
		}
		if (o->config > max_cfg)
			max_cfg = o->config;
	}
	if (c->sync_source)
		return;
	c->sync_source = best;
	c->sync_config = max_cfg + 1;
	if (best == local_nodeid(c)) {
		struct json_object *body = json_object_new_object();

		json_object_object_add(body, "config",
				       json_object_new_int64((int64_t)c->sync_config));
		json_object_object_add(body, "db", db_to_json(&c->db));
		msg_send(c, CPG_MSG_SYNC_STATE, 0, 0, body);
	}
}

static void sync_state_deliver(struct cdb *c, uint32_t from, bool mine, const struct cpg_msg *msg)
{
	struct db db;
	char err[256];
	int rc;

	if (!c->sync_source || from != c->sync_source)
		return;
	if (!mine) {
		rc = cdb_msg_state_decode(msg->body, &db, err, sizeof(err));
		if (rc) {
			qb_log(LOG_ERR, "state from node %" PRIu32 " refused: %s", from, err);
			return;
		}
		db_move(&c->db, &db);
	}
	c->config = c->sync_config;
	c->sync_source = 0;
	c->synced = true;
	state_commit(c, !mine, NULL);
	qb_log(LOG_NOTICE, "database synced from node %" PRIu32 ": generation %" PRIu64
	       ", %zu disks, configuration %" PRIu64, from, c->db.generation, c->db.ndisks,
	       c->config);
	ops_kick(c);
	inventory_publish(c);
	watchers_notify(c);
}

/* Membership callbacks */

static void cdb_confchg(void *ctx, const uint32_t *members, size_t n)
{
	struct cdb *c = ctx;
	struct cdb_op *op, *tmp;
	struct json_object *body;
	size_t i;

	if (c->lease_ops)
		c->lease_ops->confchg(c->lease_ctx, members, n);
	c->synced = false;
	c->sync_source = 0;
	c->noffers = n;
	for (i = 0; i < n; i++)
		c->offers[i] = (struct offer){ .nodeid = members[i] };
	qb_list_for_each_entry_safe(op, tmp, &c->ops, list) {
		for (i = 0; op->state == OP_PROBING && i < 2; i++) {
			const struct probe *pr = &op->probes[i];
			char err[256];

			if (!pr->pending || membership_is_member(c->m, pr->nodeid))
				continue;
			snprintf(err, sizeof(err), "%s: node left the cluster before checking %s",
				 membership_node_name(c->m, pr->nodeid), op_path(op, i)->device);
			op_complete(op, -EHOSTUNREACH, err);
			break;
		}
	}
	watchers_notify(c);
	if (c->cycle_ops)
		c->cycle_ops->confchg(c->cycle_ctx);
	if (c->inuse_ops)
		c->inuse_ops->confchg(c->inuse_ctx);
	if (!membership_is_member(c->m, local_nodeid(c)))
		return;
	body = json_object_new_object();
	json_object_object_add(body, "generation", json_object_new_int64((int64_t)c->db.generation));
	json_object_object_add(body, "config", json_object_new_int64((int64_t)c->config));
	msg_send(c, CPG_MSG_SYNC_OFFER, 0, 0, body);
}

static void cdb_deliver(void *ctx, uint32_t nodeid, uint32_t pid, const void *buf, size_t len)
{
	struct cdb *c = ctx;
	bool mine = nodeid == local_nodeid(c) && pid == c->pid;
	struct cpg_msg msg;
	char err[256];

	if (cpg_msg_decode(buf, len, &msg, err, sizeof(err))) {
		qb_log(LOG_WARNING, "ignoring a message from node %" PRIu32 ": %s", nodeid, err);
		return;
	}
	switch (msg.type) {
	case CPG_MSG_UPDATE:
		update_deliver(c, nodeid, mine, &msg);
		break;
	case CPG_MSG_SYNC_OFFER:
		sync_offer_deliver(c, nodeid, &msg);
		break;
	case CPG_MSG_SYNC_STATE:
		sync_state_deliver(c, nodeid, mine, &msg);
		break;
	case CPG_MSG_PROBE:
		if (msg.target == local_nodeid(c))
			path_probe_answer(c, nodeid, &msg);
		break;
	case CPG_MSG_PROBE_REPLY:
		if (msg.target == local_nodeid(c))
			probe_reply(c, nodeid, &msg);
		break;
	case CPG_MSG_BEAT:
		if (c->lease_ops)
			c->lease_ops->deliver(c->lease_ctx, nodeid, mine, &msg);
		break;
	case CPG_MSG_INUSE_QUERY:
	case CPG_MSG_INUSE_REPLY:
		if (c->inuse_ops && (msg.type == CPG_MSG_INUSE_QUERY || msg.target == local_nodeid(c)))
			c->inuse_ops->deliver(c->inuse_ctx, nodeid, &msg);
		break;
	case CPG_MSG_PREPARE:
	case CPG_MSG_ACK:
	case CPG_MSG_COMMIT:
	case CPG_MSG_CANCEL:
		if (c->cycle_ops)
			c->cycle_ops->deliver(c->cycle_ctx, nodeid, &msg);
		break;
	default:
		break;
	}
	cpg_msg_release(&msg);
}

static void cdb_quorum(void *ctx, bool quorate)
{
	struct cdb *c = ctx;

	if (quorate)
		inventory_publish(c);
	watchers_notify(c);
}

static void cdb_lost(void *ctx)
{
	struct cdb *c = ctx;

	c->synced = false;
	c->sync_source = 0;
	c->noffers = 0;
	c->inv_publishing = false;
	if (c->lease_ops)
		c->lease_ops->confchg(c->lease_ctx, NULL, 0);
	ops_fail_all(c, "lost the connection to corosync");
	watchers_notify(c);
	if (c->cycle_ops)
		c->cycle_ops->confchg(c->cycle_ctx);
	if (c->inuse_ops)
		c->inuse_ops->confchg(c->inuse_ctx);
}

static const struct membership_ops cdb_membership_ops = {
	.confchg = cdb_confchg,
	.deliver = cdb_deliver,
	.quorum = cdb_quorum,
	.lost = cdb_lost,
};

/* Public interface */

/* A scan of this node's devices: at start, and for `vdiskctl scan`. */
struct inventory_scan {
	struct cdb *c;
	cdb_scan_fn done; /* NULL for the scan at start */
	void *ctx;
};

static void inventory_scanned(void *ctx, struct prober_result *res)
{
	struct inventory_scan *sc = ctx;
	struct cdb *c = sc->c;

	if (res->error && res->error != -ECANCELED)
		qb_log(LOG_WARNING, "device scan failed: %s", strerror(-res->error));
	if (!res->error) {
		free(c->local_inv.devices);
		c->local_inv.devices = res->devices;
		c->local_inv.count = res->ndevices;
		res->devices = NULL;
		c->inv_scanned = true;
		inventory_publish(c);
	}
	if (sc->done)
		sc->done(sc->ctx, res->error, c->local_inv.devices, c->local_inv.count);
	free(sc);
}

int cdb_inventory_rescan(struct cdb *c, cdb_scan_fn done, void *ctx)
{
	struct inventory_scan *sc = malloc(sizeof(*sc));
	uint64_t ticket;
	int rc;

	if (!sc)
		return -ENOMEM;
	*sc = (struct inventory_scan){ c, done, ctx };
	rc = prober_scan(c->prober, inventory_scanned, sc, &ticket);
	if (rc)
		free(sc);
	return rc;
}

int cdb_start(struct cdb **out, qb_loop_t *loop, const char *state_dir, char *err,
	      size_t errlen)
{
	struct cdb *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->pid = (uint32_t)getpid();
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", state_dir);
	qb_list_init(&c->ops);
	db_init(&c->db);
	rc = dbfile_load(c->state_dir, &c->db, err, errlen);
	if (rc)
		goto out_free;
	/* A state_dir that cannot be written stops the start, not a later update. */
	rc = state_save(c);
	if (rc) {
		snprintf(err, errlen, "cannot save the database in %s/%s: %s", c->state_dir,
			 DBFILE_NAME, strerror(-rc));
		goto out_free;
	}
	qb_log(LOG_INFO, "loaded database: generation %" PRIu64 ", %zu disks", c->db.generation,
	       c->db.ndisks);
	rc = prober_start(&c->prober, loop);
	if (rc) {
		snprintf(err, errlen, "cannot start the device prober: %s", strerror(-rc));
		goto out_free;
	}
	/* Published once the database is synced and the scan is in. */
	rc = cdb_inventory_rescan(c, NULL, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot scan the devices: %s", strerror(-rc));
		goto out_prober;
	}
	rc = membership_start(&c->m, loop, &cdb_membership_ops, c);
	if (rc) {
		snprintf(err, errlen, "cannot start membership: %s", strerror(-rc));
		goto out_prober;
	}
	*out = c;
	return 0;

out_prober:
	prober_stop(c->prober);
out_free:
	free(c->local_inv.devices);
	db_free(&c->db);
	free(c);
	return rc;
}

void cdb_stop(struct cdb *c)
{
	struct cdb_op *op, *tmp;

	if (!c)
		return;
	/* Its callbacks still find the database whole. */
	prober_stop(c->prober);
	/* Requesters hold resources (IPC connections) until answered. */
	qb_list_for_each_entry_safe(op, tmp, &c->ops, list)
		op_complete(op, -ECANCELED, "vdiskd is shutting down");
	if (c->kick_armed)
		qb_loop_timer_del(c->loop, c->kick_timer);
	membership_stop(c->m);
	free(c->local_inv.devices);
	db_free(&c->db);
	free(c);
}

static int quorum_check(struct cdb *c, char *err, size_t errlen)
{
	if (membership_quorate(c->m))
		return 0;
	snprintf(err, errlen,
		 "no quorum: this node refuses changes until it is part of a quorate partition");
	return -EROFS;
}

static int path_check(struct cdb *c, const struct db_path *p, char *err, size_t errlen)
{
	const char *node = membership_node_name(c->m, p->nodeid);

	if (!p->nodeid)
		return 0;
	if (vdisk_device_spec_check(p->device)) {
		snprintf(err, errlen,
			 "%s: '%s': not a device (use an absolute path, UUID=, LABEL= or PARTUUID=)",
			 node, p->device);
		return -EINVAL;
	}
	if (!membership_is_member(c->m, p->nodeid)) {
		snprintf(err, errlen, "%s: node is not running vdiskd, its path cannot be checked: start vdiskd there first",
			 node);
		return -EHOSTUNREACH;
	}
	return 0;
}

int cdb_disk_create(struct cdb *c, const struct db_disk *disk, unsigned int flags,
		    cdb_done_fn done, void *ctx, char *err, size_t errlen)
{
	struct db_update u = { .op = DB_OP_CREATE, .disk = *disk };
	int rc;

	if ((rc = quorum_check(c, err, errlen)) || (rc = vdisk_name_check(disk->name, err, errlen)) ||
	    (rc = db_mode_check(disk->mode, err, errlen)))
		return rc;
	if (db_disk_find(&c->db, disk->name)) {
		snprintf(err, errlen, DB_DISK_EXISTS, disk->name);
		return -EEXIST;
	}
	if ((flags & CDB_CREATE_SIZE) && (disk->size == 0 || disk->size % DB_SECTOR)) {
		snprintf(err, errlen, "size %" PRIu64 " is not a positive multiple of %u bytes",
			 disk->size, DB_SECTOR);
		return -EINVAL;
	}
	if ((rc = path_check(c, &disk->primary, err, errlen)) ||
	    (rc = path_check(c, &disk->secondary, err, errlen)))
		return rc;
	if (disk->secondary.nodeid == disk->primary.nodeid &&
	    strcmp(disk->secondary.device, disk->primary.device) == 0) {
		snprintf(err, errlen, "the secondary path is the primary path");
		return -EINVAL;
	}
	if (disk->mirror) {
		if (!disk->secondary.nodeid || disk->secondary.nodeid == disk->primary.nodeid) {
			snprintf(err, errlen, "a mirror needs two replicas on two different nodes "
				 "(--mirror NODE:DEVICE,NODE:DEVICE)");
			return -EINVAL;
		}
		u.disk.datagen = cdb_datagen_new();
		u.disk.state[0] = DB_REPLICA_UPTODATE;
		u.disk.state[1] = (flags & CDB_CREATE_CLEAN) ? DB_REPLICA_UPTODATE :
							       DB_REPLICA_OUTDATED;
	}
	rc = op_queue(c, &u, flags, done, ctx);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

uint64_t cdb_datagen_new(void)
{
	uint64_t g = 0;

	/* getrandom() of 8 bytes does not fail once the pool is up; the
	 * clock is the fallback that still differs from the last value. */
	while (!g)
		if (getrandom(&g, sizeof(g), 0) != sizeof(g))
			g = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	return g;
}

int cdb_update_submit(struct cdb *c, const struct db_update *u, cdb_done_fn done, void *ctx,
		      char *err, size_t errlen)
{
	int rc;

	if ((rc = quorum_check(c, err, errlen)))
		return rc;
	if (!db_disk_find(&c->db, u->disk.name)) {
		snprintf(err, errlen, DB_NO_SUCH_DISK, u->disk.name);
		return -ENOENT;
	}
	if (u->op == DB_OP_PERM && (u->flags & DB_PERM_MODE) &&
	    (rc = db_mode_check(u->disk.mode, err, errlen)))
		return rc;
	rc = op_queue(c, u, 0, done, ctx);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

struct prober *cdb_prober(const struct cdb *c)
{
	return c->prober;
}

void cdb_lease_attach(struct cdb *c, const struct cdb_lease_ops *ops, void *ctx)
{
	c->lease_ops = ops;
	c->lease_ctx = ctx;
}

void cdb_inuse_attach(struct cdb *c, const struct cdb_inuse_ops *ops, void *ctx)
{
	c->inuse_ops = ops;
	c->inuse_ctx = ctx;
}

void cdb_cycle_attach(struct cdb *c, const struct cdb_cycle_ops *ops, void *ctx)
{
	c->cycle_ops = ops;
	c->cycle_ctx = ctx;
}

int cdb_send(struct cdb *c, enum cpg_msg_type type, uint64_t reqid, struct json_object *body)
{
	return msg_send(c, type, 0, reqid, body);
}

int cdb_send_to(struct cdb *c, enum cpg_msg_type type, uint32_t to, uint64_t reqid,
		struct json_object *body)
{
	return msg_send(c, type, to, reqid, body);
}

int cdb_commit_apply(struct cdb *c, uint32_t from, const struct db_update *u, char *err,
		     size_t errlen)
{
	return update_apply(c, from, u, err, errlen);
}

void cdb_watch(struct cdb *c, cdb_watch_fn fn, void *ctx)
{
	c->watch_fn = fn;
	c->watch_ctx = ctx;
}

const struct db *cdb_db(const struct cdb *c)
{
	return &c->db;
}

struct membership *cdb_membership(const struct cdb *c)
{
	return c->m;
}

int cdb_save_error(const struct cdb *c)
{
	return c->save_error;
}

bool cdb_synced(const struct cdb *c)
{
	return c->synced;
}

uint64_t cdb_config(const struct cdb *c)
{
	return c->config;
}
