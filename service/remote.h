/*
 * Serving other nodes' requests (transport client TCLIENT_BACKEND): checks
 * that the request was routed with this node's mapping and names one of its
 * paths, runs it on the backend, and answers TCLIENT_ROUTER with the status
 * and, for reads, the data.
 *
 * Attempts that can never land late (DESIGN.md, I2). Every request carries a
 * deadline in this node's clock (frame.h; the sender converts its own with
 * the heartbeats' clock bound, transport_peer_clock()): an attempt that has
 * not reached the disk by then never does. It is checked when the request
 * arrives and again right before each step goes to the kernel (backend.h),
 * so frames that waited in a socket or a resend queue while this node was
 * stopped, or behind a slow disk, are refused with -ETIMEDOUT. Its sender
 * gives up on a mutating attempt only once it is dead: answered, refused,
 * past its deadline while this node says it is not running (a VD_PROBE,
 * below), or with this node silent past the deadline.
 *
 * A VD_PROBE frame names an attempt (reqid, path, deadline) and is answered
 * with op VD_PROBE and status -EINPROGRESS (it runs now, or may still
 * arrive: its deadline has not passed) or -ETIMEDOUT (it is not running and
 * can never start); an attempt that completed is answered as itself, with
 * its status.
 *
 * Retries. A request seen before (same sender, same id without the attempt
 * number, same path) is not executed twice: one still running answers once,
 * as the latest attempt; one that completed is answered from its sender's
 * completion records. The records of a sender are kept until its requests'
 * frames say it has every answer below their `low` id, so a retry is
 * recognised for as long as one can come (up to REMOTE_DONE_MAX records per
 * sender; past that the oldest go, with a warning). When the transport
 * reports that a sender restarted, its records are dropped and what still
 * runs for it is answered to nobody: the new life's requests never meet the
 * old one's.
 *
 * Mirrored disks: a change sent to the writer's path (paths[0]) is a
 * client's, and goes to every replica through the router's fan-out
 * (remote_serve_fn); one sent to the other path is a leg of such a fan-out
 * and runs on this node's replica as any request. A replica that is not
 * up to date serves nothing (-ESTALE).
 *
 * Threads: data thread only; owned by the router, which hands it every
 * mapping snapshot (remote_map_set) before it uses it itself.
 */
#ifndef VDISK_REMOTE_H
#define VDISK_REMOTE_H

#include "backend.h"
#include "transport.h"
#include "vdmap.h"

/* Completion records kept per sender at most. */
#define REMOTE_DONE_MAX (1u << 20)

struct remote;

/* Runs a change that node from sent, of a mirrored disk this node writes
 * (router.h: the router fans it out to the replicas); io->done() when it
 * completed. 0, or -errno if it cannot start (its deadline passed:
 * -ETIMEDOUT). */
typedef int (*remote_serve_fn)(void *ctx, uint32_t from, uint32_t disk_id,
			       struct backend_io *io);

/* serve: the router's fan-out, handed down by the router that owns this. */
int remote_start(struct remote **out, struct transport *t, struct backend *b,
		 remote_serve_fn serve, void *serve_ctx);
/* After backend_drain(): nothing of it runs any more. */
void remote_destroy(struct remote *rs);
/* The snapshot requests are checked against from now on (the router owns
 * it and keeps it until the next call). */
void remote_map_set(struct remote *rs, const struct vdmap *m);
/* From now on requests are refused (-EAGAIN: not run, try again later);
 * probes are still answered, so the senders wait for what runs. */
void remote_quiesce(struct remote *rs);
/* Whether anything is being served for another node. */
bool remote_busy(const struct remote *rs);
/* Whether a request of disk_id is being served for another node: a
 * reconfiguration cycle's drain waits for those too. */
bool remote_disk_busy(const struct remote *rs, uint32_t disk_id);

#endif
