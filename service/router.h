/*
 * The router: every client request (from the NBD server, later the device
 * filesystem) enters its pending-request table with everything needed to
 * issue it again, goes to the local backend or over the transport to the
 * node that has the disk, and leaves the table when it completes. A failed
 * path, a node that left or restarted, or a stale mapping make the router
 * issue the request again on the other path.
 *
 * Timeouts, both `[io] timeout_ms`: an attempt out to another node that is
 * not answered in time counts as a failed path (the request moves on; the
 * silent node may still complete it later, so on storage both paths share a
 * late write can land after a newer one: nothing fences the old path, and
 * timeout_ms should stay well above the storage's own I/O timeouts); a
 * request that finds no path to go to waits, and gets -EIO once it has had
 * no path for that long without a break. A local attempt is never abandoned
 * (see tick() in router.c): past the timeout it is only logged.
 *
 * Request ids on the wire (the frame's reqid): the router's id of the request
 * in bits 8..63, the attempt number (modulo 256) in bits 0..7. A server knows
 * a request sent again by the id alone and answers with the attempt it got
 * last; the router takes an answer only from the node and the attempt the
 * request is out to now, so a late answer to an earlier attempt changes
 * nothing. Ids start at a random value each time vdiskd starts: a restarted
 * node's requests never pass for its previous life's (servers also forget a
 * node's requests when the transport reports that it restarted).
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
#include "vdmap.h"

enum vd_op {
	VD_READ = 1,
	VD_WRITE,
	VD_FLUSH,
	VD_TRIM,
	VD_WRITE_ZEROES,
};

#define VD_F_FUA (1u << 0) /* write through to stable storage before answering */
#define VD_F_NO_HOLE (1u << 1) /* write-zeroes must allocate, not punch */

/* The wire reqid of an attempt, and its parts. */
#define VD_REQID_ATTEMPT_BITS 8
static inline uint64_t vd_reqid_wire(uint64_t id, uint8_t attempt)
{
	return id << VD_REQID_ATTEMPT_BITS | attempt;
}

static inline uint64_t vd_reqid_id(uint64_t wire)
{
	return wire >> VD_REQID_ATTEMPT_BITS;
}

static inline uint8_t vd_reqid_attempt(uint64_t wire)
{
	return (uint8_t)wire;
}

/* Largest read or write one request may carry. */
#define VD_IO_MAX (32u * 1024 * 1024)
/* A frontend sends a trim or write-zeroes to the router in pieces at most
 * this long, one after the other, so no one piece comes near the I/O
 * timeout (a device that cannot punch or zero a range gets zeros written). */
#define VD_RANGE_PIECE (256u * 1024 * 1024)

/* The length of the next piece, left bytes to go. */
static inline uint32_t vd_range_piece(uint64_t left)
{
	return left < VD_RANGE_PIECE ? (uint32_t)left : VD_RANGE_PIECE;
}

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
	uint64_t id;
	uint64_t start_ns;
	uint64_t deadline_ns; /* the attempt out now is given up (or logged) then */
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
};

struct router;

/* Control thread, before the first snapshot: creates the router and its
 * backend on the data thread. */
int router_start(struct router **out, struct transport *t, uint32_t io_timeout_ms);
/* Control thread, after transport_halt(). Requests still pending are
 * dropped without their done() (their submitters are going away too). */
void router_destroy(struct router *r);

/* Data thread. */
int router_submit(struct router *r, struct vd_request *req);
/* The current snapshot (NULL before the first one arrives). */
const struct vdmap *router_map(const struct router *r);

/* Counters per disk and per serving node, for `vdiskctl stats`. */
struct router_stat {
	uint32_t id; /* disk id, or nodeid */
	struct iostat s;
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
