/*
 * The router: every client request (from the NBD server, later the device
 * filesystem) enters its pending-request table with everything needed to
 * issue it again, goes to the local backend or over the transport to the
 * node that has the disk, and leaves the table when it completes. A failed
 * path, a node that left or restarted, or a stale mapping make the router
 * issue the request again on the other path; the client sees an error
 * (-EIO) only when no path is left for `[io] timeout_ms`.
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

/* Largest read or write one request may carry. */
#define VD_IO_MAX (32u * 1024 * 1024)

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
	uint64_t deadline_ns;
	uint64_t retry_ns; /* waiting: next routing attempt */
	uint32_t target; /* nodeid the request is out to, 0 if waiting */
	uint8_t path; /* index into the disk's paths */
	uint16_t tries;
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
