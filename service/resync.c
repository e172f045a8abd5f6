/*
 * The writer's side of a mirror's replicas: what each one missed, and the
 * copy (resync) that brings an outdated one back (docs/mirror.md).
 *
 * Tracking. The writer keeps, per replica, a bitmap of the regions a
 * change did not reach (regionmap.h). It knows them all only if it has
 * been the writer since that replica stopped getting the changes: then the
 * set bits are what to copy. Otherwise (it was promoted since, or it
 * restarted) every bit is set: a full copy, since nobody knows what the
 * writer before it sent. The bitmap is in memory only for now.
 *
 * Resync. A replica that is outdated while its node is a member and
 * reachable is first made syncing by a reconfiguration cycle: from its
 * commit on it gets every change, required as for an up-to-date one (a
 * failed one outdates it again). Then the set regions are copied from the
 * writer's replica, a run of at most COPY_MAX bytes at a time: the copy
 * waits until no change touching the run is out, changes that touch it
 * wait while it is copied, so neither overwrites the other with older
 * bytes; each copied run's bits are cleared. With none left, a cycle makes
 * the replica up to date. A copy that fails is the replica's failure: it is
 * outdated again and its bits stay.
 *
 * Threads: the data thread (router_internal.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "clock.h"
#include "router_internal.h"

#define REGION_KIB 64
#define COPY_MAX (1u << 20)
#define MIB (1024 * 1024)

/* One run being copied: read here, then written to the replica. */
struct copy {
	struct vd_request req;
	struct backend_io io;
	struct router *r;
	struct mirror_track *t;
	unsigned int slot; /* in t->runs */
	void *buf;
};

static struct mirror_track *track_find(struct router *r, uint32_t disk_id)
{
	struct mirror_track *t;

	qb_list_for_each_entry(t, &r->tracks, list)
		if (t->disk_id == disk_id)
			return t;
	return NULL;
}

static void track_free(struct mirror_track *t)
{
	size_t p;

	qb_list_del(&t->list);
	for (p = 0; p < 2; p++) {
		regionmap_free(&t->dirty[p]);
		regionmap_free(&t->unflushed[p]);
		regionmap_free(&t->flushing[p]);
	}
	free(t);
}

static struct mirror_track *track_get(struct router *r, const struct vdmap_disk *d)
{
	struct mirror_track *t = track_find(r, d->id);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t) {
		qb_log(LOG_ERR, "disk %" PRIu32 ": out of memory for its mirror's tracking", d->id);
		return NULL;
	}
	t->disk_id = d->id;
	t->sync_path = -1;
	qb_list_add_tail(&t->list, &r->tracks);
	return t;
}

/* The writer's own replica: the path on this node. */
static int local_path(const struct router *r, const struct vdmap_disk *d)
{
	return d->paths[0].nodeid == r->map->local_nodeid ? 0 :
	       d->paths[1].nodeid == r->map->local_nodeid ? 1 :
							    -1;
}

/* Whether old had this node write d with path's replica fed: then every
 * change it missed since went through this node. */
static bool was_fed_here(const struct router *r, const struct vdmap *old,
			 const struct vdmap_disk *d, uint8_t path)
{
	const struct vdmap_disk *od = old ? vdmap_disk_by_id(old, d->id) : NULL;

	return od && od->mirror && od->paths[0].nodeid == r->map->local_nodeid &&
	       od->paths[path].nodeid == d->paths[path].nodeid &&
	       !strcmp(od->paths[path].device, d->paths[path].device) && replica_fed(od, path);
}

static void maps_free(struct regionmap *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		regionmap_free(&m[i]);
		memset(&m[i], 0, sizeof(m[i]));
	}
}

/* A fed replica: its unflushed regions are recorded from now on. */
static void track_fed(struct mirror_track *t, const struct vdmap_disk *d, uint8_t p)
{
	if (t->unflushed[p].w)
		return;
	if (regionmap_init(&t->unflushed[p], d->size, REGION_KIB) ||
	    regionmap_init(&t->flushing[p], d->size, REGION_KIB)) {
		qb_log(LOG_ERR, "disk %" PRIu32 ": out of memory for a replica's bitmap: it is "
		       "copied whole if it fails", d->id);
		regionmap_free(&t->unflushed[p]);
		memset(&t->unflushed[p], 0, sizeof(t->unflushed[p]));
	}
	t->flush_out[p] = false;
}

/* A replica that stopped getting the changes: what it missed is what it
 * is not sent from now on, plus what it may have lost from its cache. */
static void track_unfed(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
			uint8_t p, const struct vdmap *old)
{
	struct regionmap *m = &t->dirty[p];
	bool tracking;

	if (!m->w) {
		if (regionmap_init(m, d->size, REGION_KIB)) {
			qb_log(LOG_ERR, "disk %" PRIu32 ": out of memory for a replica's bitmap", d->id);
			return;
		}
		tracking = was_fed_here(r, old, d, p) && t->unflushed[p].w;
		if (!tracking)
			regionmap_mark(m, 0, d->size, true);
		qb_log(LOG_NOTICE, "disk %" PRIu32 ": the %s replica is %s: %s", d->id,
		       p ? "secondary" : "primary", db_replica_state_name(d->state[p]),
		       tracking ? "the regions it misses from now on are recorded" :
					"it is copied whole when it is back");
	}
	if (t->unflushed[p].w) {
		regionmap_or(m, &t->unflushed[p]);
		regionmap_or(m, &t->flushing[p]);
	}
	maps_free(&t->unflushed[p], 1);
	maps_free(&t->flushing[p], 1);
	t->flush_out[p] = false;
}

static void track_update(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
			 const struct vdmap *old)
{
	uint8_t p;

	for (p = 0; p < 2; p++) {
		if (!d->paths[p].nodeid) {
			maps_free(&t->dirty[p], 1);
			maps_free(&t->unflushed[p], 1);
			maps_free(&t->flushing[p], 1);
			continue;
		}
		if (!replica_fed(d, p)) {
			track_unfed(r, t, d, p, old);
			continue;
		}
		track_fed(t, d, p);
		if (d->state[p] == DB_REPLICA_UPTODATE) {
			maps_free(&t->dirty[p], 1);
		} else if (!t->dirty[p].w) {
			/* Syncing without a bitmap (this node restarted, or
			 * was promoted, meanwhile): everything. */
			if (regionmap_init(&t->dirty[p], d->size, REGION_KIB) == 0)
				regionmap_mark(&t->dirty[p], 0, d->size, true);
		}
	}
}

void mirror_tracks_update(struct router *r, const struct vdmap *old)
{
	struct mirror_track *t, *tmp;
	size_t i;

	qb_list_for_each_entry(t, &r->tracks, list)
		t->gone = true;
	for (i = 0; i < r->map->ndisks; i++) {
		const struct vdmap_disk *d = &r->map->disks[i];

		if (!d->mirror || d->paths[0].nodeid != r->map->local_nodeid)
			continue;
		t = track_get(r, d);
		if (!t)
			continue;
		t->gone = false;
		track_update(r, t, d, old);
	}
	qb_list_for_each_entry_safe(t, tmp, &r->tracks, list) {
		if (!t->gone)
			continue;
		/* Not this node's to write any more: it publishes no progress. */
		rstats_resync(&r->stats, t->disk_id, -1, 0, 0, 0);
		if (!t->ncopying)
			track_free(t);
	}
}

void mirror_tracks_free(struct router *r)
{
	struct mirror_track *t, *tmp;

	qb_list_for_each_entry_safe(t, tmp, &r->tracks, list)
		track_free(t);
}

void mirror_missed(struct router *r, const struct vdmap_disk *d, uint8_t path,
		   const struct vd_request *change)
{
	struct mirror_track *t;

	if (!vd_op_mutates(change->op))
		return;
	t = track_find(r, d->id);
	if (t && t->dirty[path].w)
		regionmap_mark(&t->dirty[path], change->offset, change->length, true);
}

void mirror_fed(struct router *r, const struct vdmap_disk *d, uint8_t path,
		const struct vd_request *change)
{
	struct mirror_track *t;

	/* FUA is durable when answered; a flush covers nothing new. */
	if (!vd_op_mutates(change->op) || (change->flags & VD_F_FUA))
		return;
	t = track_find(r, d->id);
	if (t && t->unflushed[path].w)
		regionmap_mark(&t->unflushed[path], change->offset, change->length, true);
}

bool mirror_flush_begin(struct router *r, uint32_t disk_id, uint8_t path)
{
	struct mirror_track *t = track_find(r, disk_id);
	struct regionmap swap;

	if (!t || !t->unflushed[path].w || t->flush_out[path])
		return false;
	swap = t->flushing[path];
	t->flushing[path] = t->unflushed[path];
	t->unflushed[path] = swap;
	regionmap_clear(&t->unflushed[path]);
	t->flush_out[path] = true;
	return true;
}

void mirror_flush_end(struct router *r, uint32_t disk_id, uint8_t path, bool ok)
{
	struct mirror_track *t = track_find(r, disk_id);

	if (!t || !t->flush_out[path] || !t->flushing[path].w)
		return;
	/* A failed flush covered nothing: its regions are unflushed still. */
	if (!ok)
		regionmap_or(&t->unflushed[path], &t->flushing[path]);
	regionmap_clear(&t->flushing[path]);
	t->flush_out[path] = false;
}

/* Whether [lo, hi) touches a run being copied. */
static bool run_overlap(const struct mirror_track *t, uint64_t lo, uint64_t hi)
{
	unsigned int i;

	for (i = 0; i < RESYNC_COPIES; i++)
		if (t->runs[i].hi && ranges_overlap(lo, hi, t->runs[i].lo, t->runs[i].hi))
			return true;
	return false;
}

bool mirror_locked(struct router *r, const struct vd_request *change)
{
	const struct mirror_track *t;

	if (!vd_op_mutates(change->op))
		return false;
	t = track_find(r, change->disk_id);
	return t && t->ncopying && run_overlap(t, change->offset, change->offset + change->length);
}

static void ask(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
		uint8_t path, uint8_t state, uint64_t now)
{
	if (t->asked_ns && now - t->asked_ns < ASK_MS * MS)
		return;
	t->asked_ns = now;
	if (r->map->replica_ask)
		r->map->replica_ask(r->map->drained_ctx, d->id, path, d->datagen, state);
}

static void copy_next(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
		      uint8_t path, uint64_t now);

static void copy_end(struct copy *c)
{
	struct mirror_track *t = c->t;

	qb_list_del(&c->req.owned);
	t->ncopying--;
	t->runs[c->slot].lo = t->runs[c->slot].hi = 0;
	free(c->buf);
	free(c);
	if (t->gone && !t->ncopying)
		track_free(t);
}

static void copy_write_done(struct vd_request *req, int status)
{
	struct copy *c = (struct copy *)req;
	struct mirror_track *t = c->t;
	struct router *r = c->r;
	const struct vdmap_disk *d = vdmap_disk_by_id(r->map, t->disk_id);
	uint8_t path = req->path;
	bool go_on = status == 0 && d && !t->gone && t->sync_path == path &&
		     d->state[path] == DB_REPLICA_SYNCING;

	if (status == 0 && t->dirty[req->path].w) {
		regionmap_mark(&t->dirty[req->path], req->offset, req->length, false);
		t->copied += req->length;
	} else if (status < 0 && d && !t->gone) {
		qb_log(LOG_WARNING, "disk %" PRIu32 ": copying to the %s replica failed (%s): "
		       "outdating it", t->disk_id, req->path ? "secondary" : "primary",
		       strerror(-status));
		t->asked_ns = 0;
		ask(r, t, d, req->path, DB_REPLICA_OUTDATED, now_ns());
	}
	copy_end(c);
	/* The next run at once, not at the next tick: a copy is a round
	 * trip or two, a tick 20 ms. */
	if (go_on)
		copy_next(r, t, d, path, now_ns());
}

static void copy_read_done(struct backend_io *io, int status)
{
	struct copy *c = (struct copy *)((char *)io - offsetof(struct copy, io));
	struct mirror_track *t = c->t;
	struct router *r = c->r;
	struct qb_list_head owned;

	if (status || t->gone || t->sync_path < 0) {
		if (status)
			qb_log(LOG_ERR, "disk %" PRIu32 ": reading this node's replica to copy it "
			       "failed: %s", t->disk_id, strerror(-status));
		copy_end(c);
		return;
	}
	/* Durable before its bits clear: a replica that loses its cache
	 * later must not have lost a copied region with them. (Its place in
	 * the router's list of what it owns stays.) */
	owned = c->req.owned;
	c->req = (struct vd_request){
		.disk_id = t->disk_id,
		.op = VD_WRITE,
		.flags = VD_F_FUA,
		.offset = c->io.offset,
		.length = c->io.length,
		.buf = c->buf,
		.done = copy_write_done,
		.ctx = c,
	};
	c->req.owned = owned;
	router_enqueue(r, &c->req);
	c->req.pinned = true;
	c->req.path = (uint8_t)t->sync_path;
	router_route(r, &c->req);
}

void resync_request_free(struct vd_request *req)
{
	struct copy *c = (struct copy *)req;

	free(c->buf);
	free(c);
}

/* Starts copying the next run of set regions, from where the last one
 * ended, unless it touches a change out or a run being copied; false when
 * none started. */
static bool copy_start(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
		       uint8_t path, int src)
{
	struct regionmap *m = &t->dirty[path];
	uint64_t region = 1ull << m->region_shift, lo, hi;
	unsigned int slot;
	int64_t first;
	struct copy *c;
	int rc;

	first = regionmap_next(m, t->next);
	if (first < 0)
		first = regionmap_next(m, 0);
	if (first < 0)
		return false;
	lo = (uint64_t)first * region;
	for (hi = lo + region; hi < m->size && hi - lo < COPY_MAX; hi += region)
		if (!regionmap_test(m, hi / region) || run_overlap(t, hi, hi + region))
			break;
	if (hi > m->size)
		hi = m->size;
	if (run_overlap(t, lo, hi) || mirror_overlap_out(r, d->id, lo, hi, NULL))
		return false;
	for (slot = 0; slot < RESYNC_COPIES && t->runs[slot].hi; slot++)
		;
	c = calloc(1, sizeof(*c));
	if (!c || posix_memalign(&c->buf, 4096, COPY_MAX)) {
		free(c);
		return false;
	}
	c->r = r;
	c->t = t;
	c->slot = slot;
	c->io = (struct backend_io){
		.op = VD_READ,
		.offset = lo,
		.length = (uint32_t)(hi - lo),
		.buf = c->buf,
		.done = copy_read_done,
	};
	/* The router's until it ends, read or write (freed at its end if
	 * still there: mirror_requests_free). */
	qb_list_add_tail(&c->req.owned, &r->owned);
	t->ncopying++;
	t->runs[slot].lo = lo;
	t->runs[slot].hi = hi;
	t->next = hi / region;
	rc = backend_submit(r->b, d->paths[src].device, &c->io);
	if (rc) {
		/* Without this node's lease (just started, or cut off) the
		 * copy waits for it, quietly. */
		if (rc != -EAGAIN)
			qb_log(LOG_ERR, "disk %" PRIu32 ": cannot read this node's replica to copy "
			       "it: %s", d->id, strerror(-rc));
		copy_end(c);
		return false;
	}
	return true;
}

/* Keeps up to RESYNC_COPIES runs out; with none left to copy, asks for the
 * replica to be up to date. */
static void copy_next(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
		      uint8_t path, uint64_t now)
{
	struct regionmap *m = &t->dirty[path];
	int src = local_path(r, d);

	if (!m->w || src < 0 || d->held)
		return;
	if (!m->set) {
		if (!t->asked_ns)
			qb_log(LOG_NOTICE, "disk %" PRIu32 ": the %s replica is copied: %" PRIu64
			       " bytes in %" PRIu64 " ms; asking for it to be up to date", d->id,
			       path ? "secondary" : "primary", t->copied,
			       (now - t->started_ns) / MS);
		ask(r, t, d, path, DB_REPLICA_UPTODATE, now);
		return;
	}
	while (t->ncopying < RESYNC_COPIES) {
		/* [mirror] resync_rate: no more than that many MiB per
		 * second so far. */
		if (r->resync_mib_s &&
		    t->copied > (now - t->started_ns) / MS * r->resync_mib_s * MIB / 1000)
			return;
		if (!copy_start(r, t, d, path, src))
			return;
	}
}

/* The other replica of a disk this node writes: asked to be copied once it
 * is back, copied, asked to be up to date. */
static void track_tick(struct router *r, struct mirror_track *t, const struct vdmap_disk *d,
		       uint64_t now)
{
	int src = local_path(r, d);
	uint8_t p;

	if (src < 0 || d->state[src] != DB_REPLICA_UPTODATE)
		return;
	for (p = 0; p < 2; p++) {
		uint32_t node = d->paths[p].nodeid;

		if (p == src || !node)
			continue;
		if (d->state[p] == DB_REPLICA_OUTDATED && vdmap_is_member(r->map, node) &&
		    transport_peer_up(r->t, node)) {
			t->sync_path = -1;
			ask(r, t, d, p, DB_REPLICA_SYNCING, now);
		} else if (d->state[p] == DB_REPLICA_SYNCING) {
			if (t->sync_path != p) {
				t->sync_path = (int8_t)p;
				t->copied = 0;
				t->next = 0;
				t->asked_ns = 0;
				t->started_ns = now;
				qb_log(LOG_NOTICE, "disk %" PRIu32 ": copying %" PRIu64 " bytes to the "
				       "%s replica", d->id, regionmap_dirty_bytes(&t->dirty[p]),
				       p ? "secondary" : "primary");
			}
			copy_next(r, t, d, p, now);
		} else if (t->sync_path == p) {
			t->sync_path = -1;
		}
	}
}

void resync_tick(struct router *r)
{
	struct mirror_track *t;
	uint64_t now = now_ns();

	qb_list_for_each_entry(t, &r->tracks, list) {
		const struct vdmap_disk *d = vdmap_disk_by_id(r->map, t->disk_id);

		if (!d || t->gone)
			continue;
		track_tick(r, t, d, now);
		rstats_resync(&r->stats, t->disk_id, t->sync_path, t->copied,
			      t->sync_path < 0 ? 0 : regionmap_dirty_bytes(&t->dirty[t->sync_path]),
			      t->sync_path < 0 ? 0 : now - t->started_ns);
	}
}
