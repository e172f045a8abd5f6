/*
 * Router: the requests of a mirrored disk (router.h, docs/mirror.md).
 *
 * A change (write, trim, write-zeroes, flush) goes to the writer; there it
 * is fanned out, one leg per up-to-date replica. A leg is a request of the
 * router's table like any other (an id, attempts, deadlines, probes: a leg
 * that may still land is waited for, as any change), pinned to its
 * replica's path and never moved. The change completes once every leg
 * did; a leg that failed on a replica the database still calls up to date
 * parks the change and reports the replica lost, and the change completes
 * once a new mapping says that replica is outdated (or is sent to it again
 * if the outdate did not happen: the replicas never part silently).
 *
 * Overlapping changes are fanned out one after the other: a change waits
 * while one touching the same bytes is out or parked, so every replica
 * applies them in the same order (two legs in flight to one device may
 * land in either order, and a parked change sent again must not land over
 * a later one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "clock.h"
#include "router_internal.h"

/* A change another node's client sent the writer, around the I/O remote.c
 * serves it with. */
struct served {
	struct vd_request req;
	struct backend_io *io;
	uint32_t from;
};

static bool is_change(uint8_t op)
{
	return vd_op_mutates(op) || op == VD_FLUSH;
}

static bool replica_up(const struct vdmap_disk *d, uint8_t path)
{
	return d->paths[path].nodeid && d->state[path] == DB_REPLICA_UPTODATE;
}

/* Reads: this node's replica, else the writer's, else the other one; an
 * up-to-date replica that failed lately is tried only when no other can,
 * and only by a read that has not failed yet (one that has waits, and gets
 * EIO once it had no path for the I/O timeout, as router.h says). */
static void route_read(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
		       uint64_t now)
{
	uint8_t first = d->paths[1].nodeid == r->map->local_nodeid ? 1 : 0;
	uint8_t order[2] = { first, (uint8_t)!first };
	unsigned int pass, i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < 2; i++) {
			uint8_t path = order[i];

			if (!replica_up(d, path) || !vdmap_is_member(r->map, d->paths[path].nodeid))
				continue;
			if (pass == 0 ? router_path_failed(r, d->id, path, now) : req->tries)
				continue;
			if (router_dispatch(r, req, d, path, now) == 0)
				return;
		}
	}
	router_wait(r, req, TICK_MS);
}

static void settle(struct router *r, struct vd_request *change, const struct vdmap_disk *d);
static void served_done(struct vd_request *req, int status);

static void leg_done(struct vd_request *leg, int status)
{
	struct vd_request *change = leg->parent;
	struct router *r = leg->ctx;
	const struct vdmap_disk *d;
	uint8_t path = leg->path;

	if (leg->flush_swap)
		mirror_flush_end(r, change->disk_id, path, status == 0);
	qb_list_del(&leg->owned);
	free(leg);
	change->leg_status[path] = status;
	if (--change->nlegs)
		return;
	d = vdmap_disk_by_id(r->map, change->disk_id);
	if (d)
		settle(r, change, d);
	else
		router_complete(r, change, -ENODEV);
}

/* A leg of change to the replica on path; a leg that cannot be made counts
 * as failed there. */
static void leg_start(struct router *r, struct vd_request *change, uint8_t path)
{
	struct vd_request *leg = calloc(1, sizeof(*leg));

	if (!leg) {
		change->leg_status[path] = -ENOMEM;
		return;
	}
	leg->disk_id = change->disk_id;
	leg->op = change->op;
	leg->flags = change->flags;
	leg->offset = change->offset;
	leg->length = change->length;
	leg->buf = change->buf;
	leg->done = leg_done;
	leg->ctx = r;
	leg->parent = change;
	router_enqueue(r, leg);
	qb_list_add_tail(&leg->owned, &r->owned);
	leg->pinned = true;
	leg->path = path;
	if (change->op == VD_FLUSH)
		leg->flush_swap = mirror_flush_begin(r, change->disk_id, path);
	change->leg_status[path] = LEG_OUT;
	change->nlegs++;
	router_route(r, leg);
}

/* A leg goes to its replica only. Its outcome is final once it answered,
 * its attempt is dead (router.h), its node left, or the replica is no
 * longer up to date (nothing to wait for then). The first routing never
 * completes it: that runs inside router_submit(), whose caller must not
 * see done() yet, so a leg that cannot go then completes from the tick. */
static void route_leg(struct router *r, struct vd_request *leg, const struct vdmap_disk *d,
		      uint64_t now)
{
	uint8_t path = leg->path;
	bool first = !leg->sent && !leg->tries && !leg->last_err;
	int status;

	/* Not run there (its node stopping, or without its lease): again. */
	if (leg->last_err == -EAGAIN)
		leg->last_err = 0;
	if (leg->last_err)
		status = leg->last_err;
	else if (!replica_fed(d, path))
		status = LEG_DROPPED;
	else if (!vdmap_is_member(r->map, d->paths[path].nodeid))
		status = -ENOTCONN;
	else if ((status = router_dispatch(r, leg, d, path, now)) == 0)
		return;
	if (status == -EAGAIN) {
		router_wait(r, leg, TICK_MS);
		return;
	}
	if (first) {
		leg->last_err = status;
		router_wait(r, leg, 0);
		return;
	}
	/* It may have landed or not: the copy will tell. */
	if (status == LEG_DROPPED && leg->parent)
		mirror_missed(r, d, path, leg);
	router_complete(r, leg, status);
}

/* change's legs go out: it is theirs to route until they are over (no
 * retry, no deadline of its own). */
static void legs_out(struct vd_request *change)
{
	change->target = 0;
	change->lost_ns = 0;
	change->retry_ns = HELD;
}

/* The writer sends change to every up-to-date replica. */
static void fan_out(struct router *r, struct vd_request *change, const struct vdmap_disk *d)
{
	uint8_t path;

	legs_out(change);
	qb_list_add_tail(&change->fanned, &r->fanned);
	change->leg_status[0] = change->leg_status[1] = LEG_DROPPED;
	/* Counted as one more leg until both went: a leg that completes at
	 * once must not complete the change before the other one is out. */
	change->nlegs = 1;
	for (path = 0; path < 2; path++) {
		if (replica_fed(d, path)) {
			mirror_fed(r, d, path, change);
			leg_start(r, change, path);
		} else if (d->paths[path].nodeid) {
			mirror_missed(r, d, path, change);
		}
	}
	/* No leg could be made (out of memory): settled from the tick, not
	 * inside router_submit(). */
	if (--change->nlegs == 0) {
		change->parked = true;
		change->park_seq = r->map->seq - 1;
		router_wait(r, change, 0);
	}
}

/* A failed leg whose replica is no longer up to date needs nothing more:
 * what it missed is that replica's to copy before it serves again. */
static bool legs_failed(struct router *r, struct vd_request *change, const struct vdmap_disk *d)
{
	bool failed = false;
	uint8_t path;

	for (path = 0; path < 2; path++) {
		if (change->leg_status[path] >= 0)
			continue;
		if (replica_fed(d, path)) {
			failed = true;
			continue;
		}
		change->leg_status[path] = LEG_DROPPED;
		mirror_missed(r, d, path, change);
	}
	return failed;
}

/* Asks that the replicas that failed change be outdated (and again every
 * ASK_MS while it is parked: a cycle may have been cancelled, or asked for
 * another data generation). */
static void outdate_ask(struct router *r, struct vd_request *change, const struct vdmap_disk *d,
			uint64_t now)
{
	uint8_t path;

	change->ask_ns = now;
	for (path = 0; path < 2; path++) {
		if (change->leg_status[path] >= 0)
			continue;
		qb_log(LOG_WARNING, "disk %" PRIu32 ": the %s replica failed a change (%s): "
		       "outdating it before the change is acknowledged", d->id,
		       path ? "secondary" : "primary", strerror(-change->leg_status[path]));
		if (r->map->replica_ask)
			r->map->replica_ask(r->map->drained_ctx, d->id, path, d->datagen,
					    DB_REPLICA_OUTDATED);
	}
}

/* Every leg of change is over: done, parked until the replicas that failed
 * it are outdated, or failed on every replica (the client's error, as on a
 * single device). */
static void settle(struct router *r, struct vd_request *change, const struct vdmap_disk *d)
{
	int err = 0;
	bool ok = false;
	uint8_t path;

	for (path = 0; path < 2; path++) {
		if (change->leg_status[path] == 0)
			ok = true;
		else if (change->leg_status[path] < 0)
			err = change->leg_status[path];
	}
	if (!ok && err) {
		router_complete(r, change, err);
		return;
	}
	if (!legs_failed(r, change, d)) {
		router_complete(r, change, 0);
		return;
	}
	change->parked = true;
	change->park_seq = r->map->seq;
	outdate_ask(r, change, d, now_ns());
	router_wait(r, change, TICK_MS);
}

/* A parked change: done once the replicas that failed it are outdated; on
 * a new mapping that still calls one up to date (the outdate did not
 * happen), sent to it again. If this node no longer writes the disk, the
 * change goes to the writer as a whole, as a new one would: its legs here
 * knew the old paths. */
static void unpark(struct router *r, struct vd_request *change, const struct vdmap_disk *d,
		   uint64_t now)
{
	uint8_t path;

	if (d->paths[0].nodeid != r->map->local_nodeid) {
		change->parked = false;
		change->leg_status[0] = change->leg_status[1] = 0;
		list_leave(&change->fanned);
		router_route(r, change);
		return;
	}
	if (legs_failed(r, change, d) && r->map->seq == change->park_seq) {
		if (now - change->ask_ns >= ASK_MS * MS)
			outdate_ask(r, change, d, now);
		router_wait(r, change, TICK_MS);
		return;
	}
	change->parked = false;
	legs_out(change);
	change->nlegs = 1;
	for (path = 0; path < 2; path++) {
		if (change->leg_status[path] < 0) {
			mirror_fed(r, d, path, change);
			leg_start(r, change, path);
		}
	}
	if (--change->nlegs == 0)
		settle(r, change, d);
}

/* A change this node cannot write: to the writer. An error the writer
 * answered is final (it tried every replica); a dead attempt (-ETIMEDOUT)
 * or a writer that is stopping (-EAGAIN) goes again. */
static void route_change(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
			 uint64_t now)
{
	uint32_t writer = d->paths[0].nodeid;

	if (req->last_err && req->last_err != -ETIMEDOUT && req->last_err != -EAGAIN) {
		router_complete(r, req, req->last_err);
		return;
	}
	req->last_err = 0;
	if (!vdmap_is_member(r->map, writer) || router_dispatch(r, req, d, 0, now))
		router_wait(r, req, TICK_MS);
}

/* Waits, without counting toward EIO: the path is fine, another change
 * or a copy has the bytes. */
static void wait_turn(struct router *r, struct vd_request *req)
{
	router_wait(r, req, 1);
	req->lost_ns = 0;
}

void mirror_route(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
		  uint64_t now)
{
	const struct served *sv = req->done == served_done ? (const struct served *)req : NULL;

	if (req->pinned) {
		route_leg(r, req, d, now);
		return;
	}
	if (!is_change(req->op)) {
		route_read(r, req, d, now);
		return;
	}
	if (req->parked) {
		unpark(r, req, d, now);
		return;
	}
	if (d->paths[0].nodeid != r->map->local_nodeid) {
		route_change(r, req, d, now);
		return;
	}
	/* A resync copies regions it touches, or an overlapping change is
	 * out: after it (docs/mirror.md). */
	if (vd_op_mutates(req->op) &&
	    (mirror_locked(r, req) ||
	     mirror_overlap_out(r, req->disk_id, req->offset, req->offset + req->length, req))) {
		wait_turn(r, req);
		return;
	}
	/* Its sender has given up on it by now (remote.h): it never starts. */
	if (sv && sv->io->deadline && now >= sv->io->deadline) {
		router_complete(r, req, -ETIMEDOUT);
		return;
	}
	fan_out(r, req, d);
}

static void served_done(struct vd_request *req, int status)
{
	struct served *s = (struct served *)req;
	struct backend_io *io = s->io;

	qb_list_del(&req->owned);
	free(s);
	io->done(io, status);
}

int mirror_serve(void *ctx, uint32_t from, uint32_t disk_id, struct backend_io *io)
{
	struct router *r = ctx;
	struct served *s;

	if (r->quiescing)
		return -EAGAIN;
	if (io->deadline && now_ns() >= io->deadline)
		return -ETIMEDOUT;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->io = io;
	s->from = from;
	s->req = (struct vd_request){
		.disk_id = disk_id,
		.op = io->op,
		.flags = io->flags,
		.offset = io->offset,
		.length = io->length,
		.buf = io->buf,
		.done = served_done,
		.ctx = r,
	};
	router_enqueue(r, &s->req);
	qb_list_add_tail(&s->req.owned, &r->owned);
	router_route(r, &s->req);
	return 0;
}

void mirror_peer_reset(struct router *r, uint32_t from)
{
	struct vd_request *req, *tmp;

	qb_list_for_each_entry_safe(req, tmp, &r->owned, owned) {
		if (req->done != served_done || ((struct served *)req)->from != from ||
		    !qb_list_empty(&req->fanned) || req->target)
			continue;
		router_complete(r, req, -ECANCELED);
	}
}

bool mirror_overlap_out(struct router *r, uint32_t disk_id, uint64_t lo, uint64_t hi,
			const struct vd_request *except)
{
	const struct vd_request *c;

	qb_list_for_each_entry(c, &r->fanned, fanned)
		if (c != except && c->disk_id == disk_id && vd_op_mutates(c->op) &&
		    ranges_overlap(c->offset, c->offset + c->length, lo, hi))
			return true;
	return false;
}

void mirror_requests_free(struct router *r)
{
	struct vd_request *req, *tmp;

	qb_list_for_each_entry_safe(req, tmp, &r->owned, owned) {
		qb_list_del(&req->owned);
		if (req->done == leg_done)
			free(req);
		else if (req->done == served_done)
			free((struct served *)req);
		else
			resync_request_free(req);
	}
}
