/*
 * Router internals shared by router.c (the pending-request table, routing,
 * re-issue) and router_mirror.c (the writer's fan-out to a mirrored disk's
 * replicas). Everything here lives on the data-plane thread.
 */
#ifndef VDISK_ROUTER_INTERNAL_H
#define VDISK_ROUTER_INTERNAL_H

#include <stdatomic.h>

#include "backend.h"
#include "pathfail.h"
#include "regionmap.h"
#include "router.h"
#include "router_stats.h"

#define BUCKETS 1024
#define TICK_MS 20
/* A path that failed is left alone this long before it is tried again,
 * while the disk has another path; with none, a held remote path whose node
 * is reachable is tried again by a new request once its failure is this
 * old (or half the I/O timeout, if shorter): a hold is there to prefer the
 * other path, not to leave the disk without one until the client gets EIO. */
#define FAIL_HOLD_MS 10000
#define FAIL_RETRY_MS 1000
/* Waiting requests of a held disk: no retry time, no deadline. */
#define HELD UINT64_MAX
/* Statistics are published for the control plane every this many ticks. */
#define STATS_TICKS 25
/* A node reachable but silent about a mutating attempt past its deadline is
 * asked what became of it this often. */
#define PROBE_MS 1000
#define MS 1000000ull

/* What the nodes serving a disk acknowledged and flushed: writes counted
 * per node (not per path: a mapping change moves the paths, not the cache
 * of the node that took the writes). */
struct disk_state {
	uint32_t id;
	struct node_writes {
		uint32_t node; /* 0: a free slot */
		uint64_t wrote;
		uint64_t flushed; /* wrote as the last flush that covered it saw it */
	} n[VD_FLUSH_NODES];
	bool overflow; /* a node's writes went uncounted: flush every path */
};

struct router {
	struct transport *t;
	struct backend *b;
	struct remote *remote;
	const struct lease *lease;
	struct vdmap *map;
	uint32_t io_timeout_ms;
	uint64_t next_id;
	struct qb_list_head buckets[BUCKETS];
	struct qb_list_head age; /* pending requests by id (router.h) */
	struct disk_state *dst;
	size_t ndst;
	dloop_timer_t tick;
	struct pathfails fails;
	bool quiescing; /* router_quiesce(): nothing new starts */
	_Atomic bool quiet; /* ... and nothing runs any more */
	/* Held disks of the current snapshot not yet reported drained. */
	uint32_t *drains;
	size_t ndrains;

	struct rstats stats;
	unsigned int ticks; /* publication of stats every STATS_TICKS */

	/* Mirrors this node writes (resync.c). */
	struct qb_list_head tracks;
	/* Requests the router made itself (legs, copies, changes it serves
	 * for other nodes): freed at the end if still there. */
	struct qb_list_head owned;
	/* Changes of mirrors this node writes, from their fan-out until they
	 * complete (parked included): an overlapping change waits for them,
	 * so every replica applies overlapping changes in one order. */
	struct qb_list_head fanned;
	uint32_t resync_mib_s; /* [mirror] resync_rate, 0 no limit */
};

#define RESYNC_COPIES 4

/* What the writer keeps of a mirrored disk. */
struct mirror_track {
	struct qb_list_head list;
	uint32_t disk_id;
	/* Per replica path: the regions it may lack; all of them when this
	 * writer did not see every change the replica missed (a full copy,
	 * since who wrote before is not known). */
	struct regionmap dirty[2];
	/* Per fed replica: the regions written to it since the last flush
	 * sent there (unflushed), and those the flush out now covers
	 * (flushing): a replica that fails may have lost them from its cache,
	 * so they join its dirty regions. */
	struct regionmap unflushed[2];
	struct regionmap flushing[2];
	bool flush_out[2];
	/* The resync: up to RESYNC_COPIES runs copied at once; changes that
	 * touch one wait for it. */
	unsigned int ncopying;
	bool gone; /* no longer this node's to write: freed once nothing is copied */
	int8_t sync_path; /* -1 none */
	struct {
		uint64_t lo, hi; /* hi 0: a free slot */
	} runs[RESYNC_COPIES];
	uint64_t next; /* the region to look from */
	uint64_t copied; /* bytes, this resync */
	uint64_t started_ns;
	uint64_t asked_ns; /* the last state asked of the database */
};

/* A local attempt: the backend I/O and who it is for. */
struct local_io {
	struct backend_io io;
	struct router *r;
	struct vd_request *req;
};

/* A mirror's writer asks a replica's state of the database at most this
 * often (per disk, or per parked change). */
#define ASK_MS 1000

/* Whether [lo1, hi1) and [lo2, hi2) share a byte. */
static inline bool ranges_overlap(uint64_t lo1, uint64_t hi1, uint64_t lo2, uint64_t hi2)
{
	return lo1 < hi2 && hi1 > lo2;
}

/* Takes node out of its list; it may be taken out again. */
static inline void list_leave(struct qb_list_head *node)
{
	qb_list_del(node);
	qb_list_init(node);
}

/* A mirror leg's outcome before it has one, and when its replica was no
 * longer needed (outdated meanwhile: nothing to wait for). */
#define LEG_OUT 1
#define LEG_DROPPED 2

/* router.c */
/* Takes req out of the table and calls its done(). */
void router_complete(struct router *r, struct vd_request *req, int status);
/* Issues req on path of d; 0 if it went out. */
int router_dispatch(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
		    uint8_t path, uint64_t now);
/* Leaves req waiting; the tick routes it again in delay_ms. */
void router_wait(struct router *r, struct vd_request *req, uint32_t delay_ms);
void router_route(struct router *r, struct vd_request *req);
bool router_path_failed(struct router *r, uint32_t disk_id, uint8_t path, uint64_t now);
/* Gives req an id and enters it in the table, without routing it. */
void router_enqueue(struct router *r, struct vd_request *req);

/* router_mirror.c */
/* A replica that gets the changes: up to date, or being copied. */
static inline bool replica_fed(const struct vdmap_disk *d, uint8_t path)
{
	return d->paths[path].nodeid &&
	       (d->state[path] == DB_REPLICA_UPTODATE || d->state[path] == DB_REPLICA_SYNCING);
}

/* Routes a request of mirrored disk d (router.h): 0, or -EAGAIN when no
 * path can take it now (then it waits). */
void mirror_route(struct router *r, struct vd_request *req, const struct vdmap_disk *d,
		  uint64_t now);
/* A change another node's client sent the writer: fanned out as this
 * node's own; io->done() runs when it completes. */
int mirror_serve(void *ctx, uint32_t from, uint32_t disk_id, struct backend_io *io);
/* from restarted: the changes it sent that have not gone out yet are
 * cancelled (its new life's must never meet them). */
void mirror_peer_reset(struct router *r, uint32_t from);
/* At the end: frees the requests the router made itself still there. */
void mirror_requests_free(struct router *r);

/* resync.c */
/* After a new snapshot (old: the one before, NULL at first): starts or
 * ends the tracking of what each replica misses. */
void mirror_tracks_update(struct router *r, const struct vdmap *old);
void mirror_tracks_free(struct router *r);
/* change (a write, trim or zeroes) did not reach path's replica. */
void mirror_missed(struct router *r, const struct vdmap_disk *d, uint8_t path,
		   const struct vd_request *change);
/* change goes to path's replica: a write not durable yet there. */
void mirror_fed(struct router *r, const struct vdmap_disk *d, uint8_t path,
		const struct vd_request *change);
/* A flush goes to path's replica: true if it covers what was unflushed
 * there (no other flush out), to be told how it ended (mirror_flush_end). */
bool mirror_flush_begin(struct router *r, uint32_t disk_id, uint8_t path);
void mirror_flush_end(struct router *r, uint32_t disk_id, uint8_t path, bool ok);
/* Whether a change of disk_id (other than except) touching [lo, hi) is
 * fanned out or parked. */
bool mirror_overlap_out(struct router *r, uint32_t disk_id, uint64_t lo, uint64_t hi,
			const struct vd_request *except);
/* Whether change must wait: a resync copies regions it touches. */
bool mirror_locked(struct router *r, const struct vd_request *change);
/* Every tick: asks for the copies and drives them, publishes progress. */
void resync_tick(struct router *r);
/* A copy's request (none of the other kinds the router owns): freed. */
void resync_request_free(struct vd_request *req);

#endif
