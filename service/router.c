/*
 * Router: the pending-request table, route choice, re-issue on failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "auth.h"
#include "backend.h"
#include "clock.h"
#include "lease.h"
#include "remote.h"
#include "router_internal.h"


static struct qb_list_head *bucket(struct router *r, uint64_t id)
{
	return &r->buckets[id % BUCKETS];
}

static struct vd_request *pending_find(struct router *r, uint64_t id)
{
	struct vd_request *req;

	qb_list_for_each_entry(req, bucket(r, id), list)
		if (req->id == id)
			return req;
	return NULL;
}

int router_stats_get(struct router *r, struct router_stats **out)
{
	return rstats_get(&r->stats, out);
}

/* Whether an attempt of disk_id may still run anywhere: one of ours out, or
 * one this node serves for another node. */
static bool disk_out(struct router *r, uint32_t disk_id)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(r->map, disk_id);
	bool reads_only = d && d->held_reads_only;
	struct vd_request *req;
	size_t i;

	if (!reads_only && r->remote && remote_disk_busy(r->remote, disk_id))
		return true;
	/* A mirror's change is out while its legs are (they may wait for
	 * a link, or bounce off a node that holds the disk already), and
	 * while it is parked: a cycle must not move the writer under it. */
	for (i = 0; i < BUCKETS; i++)
		qb_list_for_each_entry(req, &r->buckets[i], list)
			if (req->disk_id == disk_id &&
			    (reads_only ? req->target && req->op == VD_READ :
					  req->target || req->pinned || req->parked || req->nlegs))
				return true;
	return false;
}

/* Reports the held disks that have nothing out any more. A drain is short
 * and rare, so a scan of the table per completion during it is cheap. */
static void drains_check(struct router *r, uint32_t disk_id)
{
	size_t i = 0;

	while (i < r->ndrains) {
		if ((disk_id && r->drains[i] != disk_id) || disk_out(r, r->drains[i])) {
			i++;
			continue;
		}
		r->map->drained(r->map->drained_ctx, r->drains[i], r->map->seq);
		r->drains[i] = r->drains[--r->ndrains];
	}
}

void router_complete(struct router *r, struct vd_request *req, int status)
{
	uint32_t disk_id = req->disk_id;

	qb_list_del(&req->list);
	qb_list_del(&req->age);
	list_leave(&req->fanned);
	/* A leg is part of its change, which is what the client asked; a
	 * resync's copy is no client's. */
	if (!req->pinned)
		rstats_account(&r->stats, req, status);
	if (status < 0)
		qb_log(LOG_INFO, "request %" PRIu64 " (disk %" PRIu32 ", op %u) failed: %s",
		       req->id, req->disk_id, req->op, strerror(-status));
	req->done(req, status);
	/* After done(): a leg's may park its change, which a drain must
	 * then see (req may be gone: its disk id was kept). */
	if (r->ndrains)
		drains_check(r, disk_id);
}

/* rstats_failed_fn over the path-fail table. */
static uint64_t failed_since(void *ctx, uint32_t disk_id, uint8_t path)
{
	const struct router *r = ctx;
	const struct path_fail *f = pathfails_find(&r->fails, disk_id, path, now_ns());

	return f ? f->since : 0;
}

bool router_path_failed(struct router *r, uint32_t disk_id, uint8_t path, uint64_t now)
{
	return pathfails_find(&r->fails, disk_id, path, now) != NULL;
}

/* A held path tried again because the disk has no other (FAIL_RETRY_MS),
 * for a request no path has failed yet (one that has tries the other path
 * or gets EIO, as before): remote, its node reachable, its failure old
 * enough. */
static bool path_retry(struct router *r, const struct vdmap_disk *d, uint8_t path, uint64_t now)
{
	const struct path_fail *f = pathfails_find(&r->fails, d->id, path, now);
	uint32_t node = d->paths[path].nodeid;
	uint64_t wait = r->io_timeout_ms / 2 < FAIL_RETRY_MS ? r->io_timeout_ms / 2 : FAIL_RETRY_MS;

	return f && node != r->map->local_nodeid && transport_peer_up(r->t, node) &&
	       now >= f->since + wait * MS;
}

static void path_fail(struct router *r, uint32_t disk_id, uint8_t path, int status)
{
	uint64_t now = now_ns();

	pathfails_add(&r->fails, disk_id, path, now, now + (uint64_t)FAIL_HOLD_MS * MS);
	qb_log(LOG_WARNING, "disk %" PRIu32 ": %s path failed (%s); using the other one",
	       disk_id, path ? "secondary" : "primary", strerror(-status));
}

/* The attempt out on req's path failed: the path is left alone for a while
 * and the node that failed it is charged with an error. */
static void attempt_failed(struct router *r, struct vd_request *req, int status)
{
	rstats_node_error(&r->stats, req->target);
	path_fail(r, req->disk_id, req->path, status);
	req->last_err = status;
	req->tries++;
	req->stale = false;
}

/* Leaves req waiting; the tick routes it again, or fails it once it has had
 * no path for the I/O timeout. */
void router_wait(struct router *r, struct vd_request *req, uint32_t delay_ms)
{
	uint64_t now = now_ns();

	req->target = 0;
	req->retry_ns = now + (uint64_t)delay_ms * 1000000;
	if (!req->lost_ns)
		req->lost_ns = now;
}

static struct disk_state *disk_state(struct router *r, uint32_t disk_id)
{
	struct disk_state *grown;
	size_t i;

	for (i = 0; i < r->ndst; i++)
		if (r->dst[i].id == disk_id)
			return &r->dst[i];
	grown = realloc(r->dst, (r->ndst + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	r->dst = grown;
	memset(&r->dst[r->ndst], 0, sizeof(*grown));
	r->dst[r->ndst].id = disk_id;
	return &r->dst[r->ndst++];
}

/* node's counts for ds: its slot; with take, else a free one, else one
 * with nothing unflushed (NULL if all hold unflushed writes of others). A
 * slot that is reused may still be some flush's to cover: that flush
 * then finds nothing to update (a flush never takes a slot). */
static struct node_writes *node_writes(struct disk_state *ds, uint32_t node, bool take)
{
	struct node_writes *spare = NULL;
	size_t i;

	for (i = 0; ds && i < VD_FLUSH_NODES; i++)
		if (ds->n[i].node == node)
			return &ds->n[i];
	for (i = 0; take && ds && i < VD_FLUSH_NODES && !spare; i++)
		if (!ds->n[i].node)
			spare = &ds->n[i];
	for (i = 0; take && ds && i < VD_FLUSH_NODES && !spare; i++)
		if (ds->n[i].wrote == ds->n[i].flushed)
			spare = &ds->n[i];
	if (spare)
		*spare = (struct node_writes){ .node = node };
	return spare;
}

/* Where node is in req's list of nodes to flush, or -1. */
static int flush_index(const struct vd_request *req, uint32_t node)
{
	int i;

	for (i = 0; i < req->nflush; i++)
		if (req->flush_node[i] == node)
			return i;
	return -1;
}

static void flush_drop(struct vd_request *req, int i)
{
	req->nflush--;
	req->flush_node[i] = req->flush_node[req->nflush];
	req->flush_upto[i] = req->flush_upto[req->nflush];
}

/* The attempt on req's node succeeded: a write there is one a flush must
 * cover; a flush has covered that node, and goes on to the next one. */
static void attempt_ok(struct router *r, struct vd_request *req)
{
	bool counts = vd_op_mutates(req->op) && !(req->flags & VD_F_FUA) && !req->pinned;
	struct disk_state *ds = disk_state(r, req->disk_id);
	struct node_writes *nw = node_writes(ds, req->target, counts);
	int i = req->op == VD_FLUSH ? flush_index(req, req->target) : -1;

	if (counts && nw) {
		nw->wrote++;
	} else if (counts && ds) {
		/* More nodes hold unflushed writes than can be counted: the
		 * next flushes go to every path there is. */
		ds->overflow = true;
		qb_log(LOG_WARNING, "disk %" PRIu32 ": writes of more than %d nodes to flush: "
		       "flushing every path", req->disk_id, VD_FLUSH_NODES);
	}
	if (i >= 0) {
		if (nw && req->flush_upto[i] > nw->flushed)
			nw->flushed = req->flush_upto[i];
		flush_drop(req, i);
		if (req->nflush) {
			router_route(r, req);
			return;
		}
	}
	router_complete(r, req, 0);
}

/* The attempt on req->path failed with status: a flush that had to cover
 * that path fails with it (the writes it acknowledged may be lost), unless
 * it never ran there; anything else goes on elsewhere. */
static void attempt_error(struct router *r, struct vd_request *req, int status)
{
	bool flush_here = req->op == VD_FLUSH && flush_index(req, req->target) >= 0;

	/* Not run. Locally: without this node's lease (lease.h), which a
	 * beat renews soon; the path is fine. From another node (its lease,
	 * or it is stopping): the other path, if there is one, may take it;
	 * a flush that must reach that node waits for it (or for it to leave
	 * the membership, which covers it). */
	if (status == -EAGAIN && (req->target == r->map->local_nodeid || flush_here)) {
		req->tries++;
		router_wait(r, req, TICK_MS);
		return;
	}
	if (flush_here && status != -ETIMEDOUT) {
		router_complete(r, req, status);
		return;
	}
	attempt_failed(r, req, status);
	router_route(r, req);
}

static void local_done(struct backend_io *io, int status)
{
	struct local_io *lio = (struct local_io *)io;
	struct vd_request *req = lio->req;
	struct router *r = lio->r;

	free(lio);
	req->local_busy = false;
	if (status == 0)
		attempt_ok(r, req);
	else
		attempt_error(r, req, status);
}

static int dispatch_local(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
			  uint8_t path)
{
	struct local_io *lio = calloc(1, sizeof(*lio));
	int rc;

	if (!lio)
		return -ENOMEM;
	lio->r = r;
	lio->req = req;
	lio->io = (struct backend_io){
		.op = req->op,
		.flags = req->flags,
		.offset = req->offset,
		.length = req->length,
		.buf = req->buf,
		.done = local_done,
	};
	req->local_busy = true;
	rc = backend_submit(r->b, d->paths[path].device, &lio->io);
	if (rc) {
		req->local_busy = false;
		free(lio);
	}
	return rc;
}

/* Every id below this one has been answered here. */
static uint64_t low_id(const struct router *r)
{
	if (qb_list_empty(&r->age))
		return r->next_id + 1;
	return qb_list_first_entry(&r->age, struct vd_request, age)->id;
}

/* A frame about req's attempt: the request itself, or a probe of it. */
static struct frame_hdr attempt_hdr(struct router *r, const struct vd_request *req, uint16_t op,
				    uint8_t path)
{
	return (struct frame_hdr){
		.client = TCLIENT_BACKEND,
		.op = op,
		.reqid = vd_reqid_wire(req->id, req->attempt),
		.config = r->map->config,
		.disk = req->disk_id,
		.status = path,
		.offset = req->offset,
		.length = req->length,
		.deadline = req->wire_deadline,
		.low = low_id(r),
	};
}

/* -EAGAIN while nothing bounds node's clock: its deadline cannot be told
 * in it (transport.h). The attempt's deadline there: timeout_ms or the
 * lease, whichever is shorter. */
static int dispatch_remote(struct router *r, struct vd_request *req, uint8_t path,
			   uint32_t node, uint64_t now)
{
	uint64_t deadline, within = (uint64_t)r->io_timeout_ms * MS;
	uint64_t lease = r->lease ? lease_length(r->lease) : 0;
	struct frame_hdr h;

	/* No longer than a lease: a node that leaves is fenced for one from
	 * then, so no attempt sent to it before can start after its disks
	 * were taken over, whatever it does when it comes back (a slow disk
	 * is still waited for: the probe). */
	if (lease && lease < within)
		within = lease;
	if (!transport_peer_clock(r->t, node, now + within, &deadline))
		return -EAGAIN;
	req->attempt++;
	req->wire_deadline = deadline;
	h = attempt_hdr(r, req, vd_opword(req->op, req->flags), path);
	return transport_send(r->t, node, &h, req->buf, req->op == VD_WRITE ? req->length : 0);
}

/* Asks req's node what became of its attempt (remote.h). */
static void probe_send(struct router *r, struct vd_request *req, uint64_t now)
{
	struct frame_hdr h = attempt_hdr(r, req, vd_opword(VD_PROBE, 0), req->path);
	int rc = transport_send(r->t, req->target, &h, NULL, 0);

	if (rc)
		qb_log(LOG_DEBUG, "request %" PRIu64 ": cannot probe node %" PRIu32 ": %s", req->id,
		       req->target, strerror(-rc));
	req->deadline_ns = now + PROBE_MS * MS;
}

/* req's attempt goes to node's path (or tried to). */
static void attempt_take(struct vd_request *req, uint8_t path, uint32_t node)
{
	req->moves += req->sent && path != req->path;
	req->sent = true;
	req->path = path;
	req->target = node;
}

/* req's attempt is out on path to node: it is given up (or asked after)
 * at its deadline. */
static void attempt_out(struct router *r, struct vd_request *req, uint8_t path, uint32_t node,
			uint64_t now)
{
	bool moved = req->sent && path != req->path;

	attempt_take(req, path, node);
	req->deadline_ns = now + (uint64_t)r->io_timeout_ms * MS;
	req->slow_logged = false;
	/* A stale mapping's bounce is no path yet. */
	if (!req->stale)
		req->lost_ns = 0;
	/* Once, and on every move to the other path: one that bounces off a
	 * busy or stopping node tries again every tick. */
	if (req->tries && (moved || req->tries == 1))
		qb_log(LOG_INFO, "request %" PRIu64 ": re-issued to node %" PRIu32 " (%s path)",
		       req->id, node, path ? "secondary" : "primary");
}

/* Issues req on path; 0 if it went out. A local device that cannot take it
 * is a failed attempt too (then status tells). */
int router_dispatch(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
		    uint8_t path, uint64_t now)
{
	uint32_t node = d->paths[path].nodeid;
	int rc;

	if (node == r->map->local_nodeid)
		rc = dispatch_local(r, req, d, path);
	else
		rc = dispatch_remote(r, req, path, node, now);
	if (rc == 0)
		attempt_out(r, req, path, node, now);
	return rc;
}

/* A flush that must reach certain nodes goes to them in turn, through
 * their paths, and nowhere else: a path that cannot take it now is waited
 * for. A node that left the membership, or has no path of the disk any
 * more, is covered by the others: it wrote through to the storage they
 * share (backend.h), whose own cache a flush on any path empties; when it
 * was the last one, the flush goes where any flush would. */
static void route_flush(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
			uint64_t now)
{
	uint32_t node = req->flush_node[0];
	uint8_t path = d->paths[0].nodeid == node ? 0 : 1;
	int rc;

	if (d->paths[path].nodeid != node || !vdmap_is_member(r->map, node)) {
		flush_drop(req, 0);
		router_route(r, req);
		return;
	}
	rc = router_dispatch(r, req, d, path, now);
	if (rc && node == r->map->local_nodeid && rc != -EAGAIN) {
		attempt_take(req, path, node);
		router_complete(r, req, rc);
	} else if (rc) {
		router_wait(r, req, TICK_MS);
	}
}

/* Sends req down the first path that can take it, or leaves it waiting. */
void router_route(struct router *r, struct vd_request *req)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(r->map, req->disk_id);
	uint64_t now = now_ns();
	uint8_t p;
	int rc;

	/* Whatever was out before is over: no node is charged for what
	 * follows until an attempt goes out. */
	req->target = 0;
	if (!d) {
		router_complete(r, req, -ENODEV);
		return;
	}
	/* Without quorum, or without a lease that says this node is still
	 * in the quorate membership, it must not touch shared storage; and
	 * a disk of a node that left waits until that node's lease ran out. */
	if (!r->map->quorate || (r->lease && now >= lease_until(r->lease))) {
		router_wait(r, req, TICK_MS);
		return;
	}
	/* A failover under way, not a missing path: the wait does not count
	 * toward -EIO. */
	if (vdmap_disk_fenced(r->map, d, now)) {
		router_wait(r, req, TICK_MS);
		req->lost_ns = 0;
		return;
	}
	/* Queued until a snapshot releases the disk; it may have been the
	 * last one out. A mirror's leg or copy is part of what a drain waits
	 * for: it goes on. */
	if (d->held && !req->pinned) {
		req->target = 0;
		req->retry_ns = HELD;
		if (r->ndrains)
			drains_check(r, d->id);
		return;
	}
	if (d->mirror) {
		mirror_route(r, req, d, now);
		return;
	}
	if (req->op == VD_FLUSH && req->nflush) {
		route_flush(r, req, d, now);
		return;
	}
	/* Three passes: first only paths whose node is local or has a live
	 * link (a node that just rejoined has none yet: its turn comes when it
	 * does), then any member, whose frames wait for a link; then a held
	 * one worth trying again (path_retry()): reached when no path took the
	 * request, mostly because every path is held (a path whose node's
	 * clock is not known yet also refuses it; the held one is tried then,
	 * its node reachable). */
	for (p = 0; p < 6; p++) {
		uint8_t path = p % 2;
		uint32_t node = d->paths[path].nodeid;
		unsigned int pass = p / 2;

		if (!node || !vdmap_is_member(r->map, node))
			continue;
		if (pass < 2 ? router_path_failed(r, d->id, path, now) :
			       req->tries || !path_retry(r, d, path, now))
			continue;
		if (pass == 0 && node != r->map->local_nodeid && !transport_peer_up(r->t, node))
			continue;
		rc = router_dispatch(r, req, d, path, now);
		if (rc == 0)
			return;
		if (rc == -EAGAIN && node == r->map->local_nodeid)
			break; /* no lease: wait for it, the path is fine */
		if (node == r->map->local_nodeid) {
			attempt_take(req, path, node);
			attempt_failed(r, req, rc);
		}
	}
	router_wait(r, req, TICK_MS);
}

/* The nodes a new flush must reach: those with writes it covers, or, once
 * writes went uncounted, the nodes of every path. */
static void flush_plan(struct router *r, struct vd_request *req, const struct vdmap_disk *d)
{
	struct disk_state *ds = disk_state(r, req->disk_id);
	size_t i;

	if (!ds)
		return;
	if (ds->overflow) {
		ds->overflow = false;
		for (i = 0; i < 2; i++) {
			if (!d->paths[i].nodeid || flush_index(req, d->paths[i].nodeid) >= 0)
				continue;
			req->flush_node[req->nflush] = d->paths[i].nodeid;
			req->flush_upto[req->nflush++] = 0;
		}
	}
	for (i = 0; i < VD_FLUSH_NODES; i++) {
		if (!ds->n[i].node || ds->n[i].wrote <= ds->n[i].flushed ||
		    flush_index(req, ds->n[i].node) >= 0)
			continue;
		req->flush_node[req->nflush] = ds->n[i].node;
		req->flush_upto[req->nflush++] = ds->n[i].wrote;
	}
}

void router_enqueue(struct router *r, struct vd_request *req)
{
	req->id = ++r->next_id;
	req->start_ns = now_ns();
	req->nflush = 0;
	req->lost_ns = 0;
	req->target = 0;
	req->attempt = 0;
	req->tries = 0;
	req->moves = 0;
	req->sent = false;
	req->stale = false;
	req->local_busy = false;
	req->nlegs = 0;
	req->pinned = false;
	req->flush_swap = false;
	req->parked = false;
	req->ask_ns = 0;
	qb_list_init(&req->fanned);
	req->leg_status[0] = req->leg_status[1] = 0;
	req->last_err = 0;
	qb_list_add_tail(&req->list, bucket(r, req->id));
	qb_list_add_tail(&req->age, &r->age);
}

int router_submit(struct router *r, struct vd_request *req)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(r->map, req->disk_id);

	if (!d)
		return -ENODEV;
	if (r->quiescing)
		return -ESHUTDOWN;
	if (req->offset > d->size || req->length > d->size - req->offset)
		return -EINVAL;
	if ((req->op == VD_READ || req->op == VD_WRITE) && req->length > VD_IO_MAX)
		return -EINVAL;
	router_enqueue(r, req);
	/* A mirror's flush reaches every up-to-date replica (router.h). */
	if (req->op == VD_FLUSH && !d->mirror)
		flush_plan(r, req, d);
	/* The disk exists, so routing can only dispatch or leave the request
	 * waiting: done() never runs inside this call. */
	router_route(r, req);
	return 0;
}

/* What the node says of an attempt past its deadline (remote.h). */
static void probe_answer(struct router *r, struct vd_request *req, int status)
{
	if (status == -ETIMEDOUT) {
		attempt_failed(r, req, status);
		router_route(r, req);
		return;
	}
	if (status != -EINPROGRESS || req->slow_logged)
		return;
	req->slow_logged = true;
	qb_log(LOG_ERR,
	       "request %" PRIu64 " (disk %" PRIu32 ", op %u): node %" PRIu32 " still runs it after"
	       " %" PRIu32 " ms (its storage slow or hung?); waiting, not re-issued elsewhere while"
	       " it may still land", req->id, req->disk_id, req->op, req->target, r->io_timeout_ms);
}

/* Answers from servers (TCLIENT_ROUTER). */
static void reply_receive(void *ctx, const struct frame_hdr *h, const void *payload, size_t len)
{
	struct router *r = ctx;
	struct vd_request *req = pending_find(r, vd_reqid_id(h->reqid));

	/* Gone, waiting, local (the backend owns the buffer) or out again
	 * since: the answer is late and says nothing of the attempt out now. */
	if (!req || req->local_busy || req->target != h->src_node ||
	    req->attempt != vd_reqid_attempt(h->reqid))
		return;
	if (vd_opword_op(h->op) == VD_PROBE) {
		probe_answer(r, req, h->status);
		return;
	}
	if (h->status == 0) {
		if (req->op == VD_READ) {
			if (len != req->length) {
				qb_log(LOG_WARNING, "request %" PRIu64 ": %zu bytes in the answer, expected %u",
				       req->id, len, req->length);
				return;
			}
			memcpy(req->buf, payload, len);
		}
		attempt_ok(r, req);
		return;
	}
	switch (h->status) {
	case -ESTALE:
		/* Routed with another mapping than the server's: once both
		 * agree, it goes again. */
		req->tries++;
		req->stale = true;
		router_wait(r, req, TICK_MS);
		return;
	case -EINVAL:
	case -ENOSPC:
		router_complete(r, req, h->status);
		return;
	default:
		attempt_error(r, req, h->status);
	}
}

/* Requests out to a node that went away go elsewhere. */
static void requests_reroute(struct router *r, uint32_t node, bool only_gone)
{
	struct vd_request *req, *tmp;
	size_t i;

	for (i = 0; i < BUCKETS; i++) {
		qb_list_for_each_entry_safe(req, tmp, &r->buckets[i], list) {
			if (!req->target || req->local_busy || req->target == r->map->local_nodeid)
				continue;
			if (only_gone ? vdmap_is_member(r->map, req->target) : req->target != node)
				continue;
			req->tries++;
			req->stale = false;
			router_route(r, req);
		}
	}
}

static void peer_reset(void *ctx, uint32_t nodeid)
{
	requests_reroute(ctx, nodeid, false);
	mirror_peer_reset(ctx, nodeid);
}

/*
 * A local attempt past the I/O timeout is reported, once, and waited for:
 * the backend writes into or out of the client's buffer until it completes,
 * and a write issued again on the other path while this one may still land
 * could overwrite a newer write on shared storage (the same blocks reached
 * by both paths) when it finally does.
 */
static void local_slow(struct router *r, struct vd_request *req)
{
	if (req->slow_logged)
		return;
	req->slow_logged = true;
	qb_log(LOG_ERR,
	       "request %" PRIu64 " (disk %" PRIu32 ", op %u): local %s path I/O unanswered"
	       " for over %" PRIu32 " ms (device hung?); still waiting, not re-issued elsewhere",
	       req->id, req->disk_id, req->op, req->path ? "secondary" : "primary",
	       r->io_timeout_ms);
}

static void tick(void *data)
{
	struct router *r = data;
	struct vd_request *req, *tmp;
	uint64_t now = now_ns(), timeout = (uint64_t)r->io_timeout_ms * 1000000;
	size_t i;

	for (i = 0; i < BUCKETS && r->map; i++) {
		qb_list_for_each_entry_safe(req, tmp, &r->buckets[i], list) {
			/* An answer that never comes counts as a failed path:
			 * the other one gets a full timeout of its own. A
			 * change to the disk first waits until its attempt
			 * cannot land late (router.h). */
			if (req->target && now > req->deadline_ns) {
				if (req->local_busy) {
					local_slow(r, req);
					continue;
				}
				/* Ask, reachable or silent (the probe waits
				 * for a link): a node that is silent may be a
				 * vdiskd stopped with the write queued to its
				 * kernel workers, which run it when it goes on,
				 * deadline or not (torture seed 22, cycle 330).
				 * The attempt is dead once the node says so,
				 * leaves the membership (its disks then wait
				 * out its lease: vdmap.h's fences) or restarts. */
				if (vd_op_mutates(req->op)) {
					probe_send(r, req, now);
					continue;
				}
				attempt_failed(r, req, -ETIMEDOUT);
				router_route(r, req);
				continue;
			}
			if (req->target || now < req->retry_ns)
				continue;
			/* A parked change waits for the database, not a path. */
			if (req->lost_ns && now - req->lost_ns > timeout && !req->parked) {
				router_complete(r, req, -EIO);
				continue;
			}
			router_route(r, req);
		}
	}
	/* A request another node had this one serve may have been the last
	 * of a held disk. */
	if (r->ndrains)
		drains_check(r, 0);
	if (r->map && !r->quiescing)
		resync_tick(r);
	if (r->quiescing && !backend_busy(r->b) && (!r->remote || !remote_busy(r->remote)))
		atomic_store(&r->quiet, true);
	if (++r->ticks % STATS_TICKS == 0)
		rstats_publish(&r->stats, failed_since, r);
	dloop_timer_add(transport_loop(r->t), TICK_MS * 1000000ull, r, tick,
			  &r->tick);
}

const struct vdmap *router_map(const struct router *r)
{
	return r->map;
}

struct map_msg {
	struct router *r;
	struct vdmap *map;
};

/* Requests queued for a disk the new snapshot releases go out; their time
 * without a path starts now. */
static void held_release(struct router *r)
{
	const struct vdmap_disk *d;
	struct vd_request *req, *tmp;
	uint64_t now = now_ns();
	size_t i;

	for (i = 0; i < BUCKETS; i++) {
		qb_list_for_each_entry_safe(req, tmp, &r->buckets[i], list) {
			if (req->target || req->retry_ns != HELD || req->nlegs)
				continue;
			d = vdmap_disk_by_id(r->map, req->disk_id);
			if (d && d->held)
				continue;
			req->retry_ns = now;
			req->lost_ns = 0;
			router_route(r, req);
		}
	}
}

static void drains_start(struct router *r)
{
	uint32_t *ids;
	size_t i, n = 0;

	r->ndrains = 0;
	for (i = 0; i < r->map->ndisks; i++)
		n += r->map->disks[i].held;
	if (!n || !r->map->drained)
		return;
	ids = realloc(r->drains, n * sizeof(*ids));
	if (!ids) {
		qb_log(LOG_ERR, "out of memory: cannot report drained disks");
		return;
	}
	r->drains = ids;
	for (i = 0; i < r->map->ndisks; i++)
		if (r->map->disks[i].held)
			r->drains[r->ndrains++] = r->map->disks[i].id;
}

static void map_apply(void *arg)
{
	struct map_msg *m = arg;
	struct router *r = m->r;
	struct vdmap *old = r->map;

	if (r->remote)
		remote_map_set(r->remote, m->map);
	r->map = m->map;
	free(m);
	/* A node back in the membership: what failed on its paths before
	 * is over (also this node's own, when it is the one back: a device
	 * still broken fails again and is held again). */
	pathfails_forget_returned(&r->fails, r->map, old);
	mirror_tracks_update(r, old);
	free(old);
	backend_map_update(r->b, r->map);
	drains_start(r);
	requests_reroute(r, 0, true);
	held_release(r);
	drains_check(r, 0);
}

int router_map_post(struct router *r, struct vdmap *map)
{
	struct map_msg *m = malloc(sizeof(*m));
	int rc;

	if (!m) {
		free(map);
		return -ENOMEM;
	}
	m->r = r;
	m->map = map;
	rc = transport_post(r->t, map_apply, m);
	if (rc) {
		free(map);
		free(m);
	}
	return rc;
}

static void router_attach(void *arg)
{
	struct router *r = arg;
	struct dloop *loop = transport_loop(r->t);
	int rc;

	rc = backend_start(&r->b, loop, r->lease);
	if (rc) {
		qb_log(LOG_CRIT, "cannot start the backend (io_uring): %s", strerror(-rc));
		return;
	}
	rc = remote_start(&r->remote, r->t, r->b, mirror_serve, r);
	if (rc)
		qb_log(LOG_CRIT, "cannot serve remote requests: %s", strerror(-rc));
	transport_client_register(r->t, TCLIENT_ROUTER, reply_receive, peer_reset, r);
	dloop_timer_add(loop, TICK_MS * 1000000ull, r, tick, &r->tick);
}

static void quiesce_start(void *arg)
{
	struct router *r = arg;

	r->quiescing = true;
	if (r->remote)
		remote_quiesce(r->remote);
}

int router_quiesce(struct router *r, uint32_t max_ms)
{
	uint32_t waited;

	if (!r || transport_post(r->t, quiesce_start, r))
		return -ENOMEM;
	for (waited = 0; !atomic_load(&r->quiet); waited += 10) {
		if (waited >= max_ms)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

int router_start(struct router **out, struct transport *t, uint32_t io_timeout_ms,
		 const struct lease *lease, uint32_t resync_mib_s)
{
	struct router *r = calloc(1, sizeof(*r));
	size_t i;
	int rc;

	if (!r)
		return -ENOMEM;
	/* A random start: ids of this life never match the last one's (see
	 * router.h); below 2^47 leaves 2^56 - 2^47 ids before the wire's 56
	 * bits run out. */
	rc = auth_random(&r->next_id, sizeof(r->next_id));
	if (rc) {
		free(r);
		return rc;
	}
	r->next_id &= (1ull << 47) - 1;
	r->t = t;
	r->lease = lease;
	r->io_timeout_ms = io_timeout_ms;
	r->resync_mib_s = resync_mib_s;
	qb_list_init(&r->age);
	qb_list_init(&r->tracks);
	qb_list_init(&r->owned);
	qb_list_init(&r->fanned);
	rstats_init(&r->stats);
	for (i = 0; i < BUCKETS; i++)
		qb_list_init(&r->buckets[i]);
	rc = transport_post(t, router_attach, r);
	if (rc) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void router_destroy(struct router *r)
{
	if (!r)
		return;
	dloop_timer_del(transport_loop(r->t), r->tick);
	/* The kernel may still write into buffers of requests and of what
	 * this node served: they go only once it gave them back. */
	if (backend_drain(r->b)) {
		qb_log(LOG_ERR, "leaving the buffers of unfinished I/O to the kernel");
		return;
	}
	remote_destroy(r->remote);
	backend_destroy(r->b);
	mirror_requests_free(r);
	mirror_tracks_free(r);
	free(r->dst);
	free(r->map);
	free(r->drains);
	rstats_destroy(&r->stats);
	free(r);
}
