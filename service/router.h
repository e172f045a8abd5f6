/*
 * The router: every client request (from the NBD server, later the device
 * filesystem) enters its pending-request table with everything needed to
 * issue it again, goes to the local backend or over the transport to the
 * node that has the disk, and leaves the table when it completes. A failed
 * path, a node that left or restarted, or a stale mapping make the router
 * issue the request again on the other path.
 *
 * Timeouts, both `[io] timeout_ms`. An attempt out to another node carries
 * a deadline, send time + timeout_ms, converted to that node's clock no
 * later than it falls (transport_peer_clock()); the node starts none of it
 * from then on (remote.h). Past it, a read or flush moves on to the other
 * path at once; a write, trim or write-zeroes moves on only once its
 * attempt is dead (DESIGN.md, I2): the node answered, or says it is not
 * running it (a VD_PROBE every PROBE_MS, sent once a link carries it: a
 * slow disk is waited for, and logged, never raced), or the node left the
 * membership (its disks then wait out its lease) or restarted. A silent
 * node is not enough: a vdiskd stopped (SIGSTOP, a pause) after it handed a
 * write to its kernel's io_uring workers, which stop with it, runs that
 * write when it goes on, past any deadline; its disk waits meanwhile, and a
 * vdiskd that never goes on is killed by its monitor (Pacemaker), which
 * cancels what its kernel had queued. A request that finds
 * no path to go to waits, and gets -EIO once it has had no path for
 * timeout_ms without a break. A local attempt is never abandoned (see
 * tick() in router.c): past the timeout it is only logged.
 *
 * Holds. Nothing is routed without quorum, without a lease (lease.h), to a
 * disk a reconfiguration cycle holds, or to a disk with a path on a node
 * that left the membership less than a lease ago (vdmap.h's fences):
 * requests wait, they do not fail.
 *
 * Flushes (DESIGN.md, I3). Each disk counts, per node, the writes that
 * node acknowledged; a FLUSH goes to every node that acknowledged one since
 * it last flushed (through that node's path in the current mapping, in
 * turn), and only to the current route when none did. A flush that fails on a path it must cover is the
 * client's error, not re-issued elsewhere. A path whose node left is
 * covered by a flush on another: paths another node reaches are written
 * through (backend.h), so what that node acknowledged is on the shared
 * storage, whose cache any path's flush empties.
 *
 * Request ids on the wire (vdio.h): a server knows a request sent again by
 * the id alone and answers with the attempt it got last; the router takes
 * an answer only from the node and the attempt the request is out to now,
 * so a late answer to an earlier attempt changes nothing. Every request
 * frame also says the lowest id still pending here, so servers keep their
 * completion records exactly as long as a retry can come. Ids start at a
 * random value each time vdiskd starts: a restarted node's requests never
 * pass for its previous life's (servers also forget a node's requests when
 * the transport reports that it restarted).
 *
 * Mirrored disks (docs/mirror.md). Reads go to the nearest up-to-date
 * replica (this node's, else the writer's, else the other); changes and
 * flushes go to the writer (paths[0]'s node) only, never elsewhere: the
 * writer's router sends each to every up-to-date replica, its own through
 * the backend, the other over the transport, and answers once all did. A
 * replica that fails a leg is reported (vdmap.h's replica_lost) and the
 * change waits until the database says that replica is outdated (a
 * reconfiguration cycle, so no node still reads it), and the node that
 * left it no lease to serve from: nothing is acknowledged that an
 * up-to-date replica lacks (I1). A change that failed on every replica
 * fails.
 *
 * Threads: everything here runs on the data-plane thread (transport_loop());
 * the control plane only posts new mapping snapshots (router_map_post).
 */
#ifndef VDISK_ROUTER_H
#define VDISK_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include <qb/qblist.h>

#include "iostat.h"
#include "transport.h"
#include "vdio.h"
#include "vdmap.h"

/* Nodes whose acknowledged writes one disk's flush may have to reach: its
 * two paths' nodes, and those its paths had before a mapping change. */
#define VD_FLUSH_NODES 4

struct vd_request;
typedef void (*vd_done_fn)(struct vd_request *req, int status);

/*
 * One client request. The submitter owns it and its buffer until done() is
 * called (on the data thread, never from inside router_submit()); done() may
 * free both. For VD_READ the router fills buf with length bytes.
 */
struct vd_request {
	uint32_t disk_id;
	uint8_t op; /* enum vd_op */
	uint8_t flags; /* VD_F_* */
	uint64_t offset;
	uint32_t length;
	void *buf;
	vd_done_fn done;
	void *ctx;
	/* The router's own bookkeeping. */
	struct qb_list_head list;
	struct qb_list_head age; /* pending requests, oldest (lowest id) first */
	uint64_t id;
	uint64_t start_ns;
	uint64_t deadline_ns; /* the attempt out now is given up (or logged) then */
	uint64_t wire_deadline; /* the remote attempt's, in its node's clock */
	uint64_t retry_ns; /* waiting: next routing attempt */
	uint64_t lost_ns; /* since then no path took it; 0 while one does */
	uint32_t target; /* nodeid the request is out to, 0 if waiting */
	uint8_t path; /* index into the disk's paths */
	uint8_t attempt; /* of the last remote attempt, for its wire reqid */
	uint16_t tries; /* attempts beyond the first */
	uint16_t moves; /* attempts that went to another path than the one before */
	bool sent; /* an attempt went out: path is the one it took */
	bool stale; /* the last answer was -ESTALE: the clock of lost_ns runs on */
	bool slow_logged; /* a local attempt past its deadline was reported */
	bool local_busy; /* a local I/O into buf is in flight */
	/* FLUSH: the nodes it must still reach, and the writes each acknowledged
	 * that it covers (router.c, struct disk_state). */
	uint8_t nflush;
	uint32_t flush_node[VD_FLUSH_NODES];
	uint64_t flush_upto[VD_FLUSH_NODES];
	/* Mirrored disks (router_mirror.c). A change the writer runs has
	 * one leg per up-to-date replica, each a request of its own pinned
	 * to that replica's path; the change completes once every leg did,
	 * or once a replica that failed its leg is outdated in the
	 * database (parked meanwhile). */
	struct vd_request *parent; /* a leg: the change it is part of */
	bool pinned; /* a leg, or a resync's copy: its path only (path) */
	bool flush_swap; /* a flush leg that owns its replica's flushing regions */
	struct qb_list_head owned; /* the router made it: in its list of those */
	struct qb_list_head fanned; /* a change the writer fanned out, until done */
	uint64_t ask_ns; /* parked: when its replica's outdate was last asked */
	uint8_t nlegs; /* a change: legs still out */
	bool parked;
	int32_t leg_status[2]; /* a change: each replica's leg (LEG_*, -errno) */
	uint64_t park_seq; /* the mapping it was parked under */
	int32_t last_err; /* the last failed attempt's status */
};

struct router;

struct lease;

/* Control thread, before the first snapshot: creates the router and its
 * backend on the data thread. lease: NULL for none (tests); else it must
 * outlive the data thread. resync_mib_s: `[mirror] resync_rate`, the most
 * a mirror's resync copies per second (MiB), 0 for no limit. */
int router_start(struct router **out, struct transport *t, uint32_t io_timeout_ms,
		 const struct lease *lease, uint32_t resync_mib_s);
/* Control thread, when vdiskd stops, before transport_halt(): no new
 * request starts from here on (clients get -ESHUTDOWN, other nodes -EAGAIN)
 * while the data thread goes on answering heartbeats and probes, so the
 * other nodes wait for what still runs here instead of taking it for dead;
 * returns once nothing of this node's I/O runs any more (0), or after
 * max_ms (-ETIMEDOUT: a device that does not answer). Blocks. */
int router_quiesce(struct router *r, uint32_t max_ms);
/* Control thread, after transport_halt(): waits for the I/O the kernel
 * still runs (backend_drain()), then frees everything. Requests still
 * pending are dropped without their done() (their submitters are going
 * away too). */
void router_destroy(struct router *r);

/* Data thread. */
int router_submit(struct router *r, struct vd_request *req);
/* The current snapshot (NULL before the first one arrives). */
const struct vdmap *router_map(const struct router *r);

/* Counters per disk and per serving node, for `vdiskctl stats`. */
struct router_stat {
	uint32_t id; /* disk id, or nodeid */
	struct iostat s;
	/* Disks: since when (monotonic ns) each path is held as failed, 0
	 * when it is not (at the statistics' publication). */
	uint64_t failed_since[2];
	/* A mirror this node writes, copying a replica (resync.c): which
	 * path (-1 none), the bytes copied and left, for how long. */
	int8_t resync_path;
	uint64_t resync_copied;
	uint64_t resync_left;
	uint64_t resync_ns;
};

struct router_stats {
	size_t ndisks; /* rows[0 .. ndisks) are disks, the rest nodes */
	size_t nnodes;
	struct router_stat rows[];
};

/* Any thread: a copy of the statistics, at most half a second old (caller
 * frees). */
int router_stats_get(struct router *r, struct router_stats **out);

/* Any thread: hands a snapshot (ownership included) to the data thread. */
int router_map_post(struct router *r, struct vdmap *map);

#endif
