/*
 * The lease: how this node proves to itself that it is still inside the
 * quorate membership, and how long the others wait before they take over
 * the storage of a node that left it (DESIGN.md, I4: one writer per shared
 * device).
 *
 * Renewal. Every lease_ms / 8 the control plane multicasts a BEAT over the
 * database's CPG group carrying the time it was sent (its sender's
 * monotonic clock) and, for each member, the send time of that member's
 * last beat it delivered in this view. When another member's beat that
 * echoes ours, sent at s, is delivered here and the membership is quorate,
 * the lease runs to s + lease_ms: that member had our beat from a ring with
 * us before it sent its own, and it can only fence us after. Our own beat
 * coming back is not enough (a corosync frozen while it held the token
 * delivers what vdiskd queued meanwhile, in the old view, after the others
 * went on without it: the torture suite saw this), unless we are the
 * view's only member.
 *
 * Expiry. The backend checks the lease right before every I/O step goes to
 * the kernel (backend.h) and the router before it routes (router.c): with
 * the lease run out, no new I/O reaches this node's storage. A node whose
 * corosync stops (SIGSTOP, a hang, a cut network) is out of new I/O at most
 * lease_ms after its last beat was sent.
 *
 * Takeover. s was before the echoing member's view change, so this node
 * issues nothing new after that member's T + lease_ms (below). A vdiskd
 * that left the group (stopping, its I/O drained) or
 * died on a node whose corosync saw it die issues nothing more: its disks
 * are taken over at once. A member whose CPG membership loses node X's
 * whole node at time T (its own clock; corosync lost it: crashed, cut off,
 * frozen, alive or not) knows X's last beat was sent before T (X's deliveries in the old
 * view precede the new view), so X issues nothing new after T + lease_ms.
 * It fences X until T + lease_ms, plus the clock drift of that interval and
 * LEASE_MARGIN_MS: the router holds every disk with a path on X, and the
 * remote server refuses them, until then (vdmap.h's fences). An I/O that X's
 * kernel had already taken is not recalled: it ends within the device's
 * own timeout (vdiskd(8) has the timeline).
 *
 * Fence command. With `[io] fence_command` set (vdisk-fence-pacemaker asks
 * Pacemaker's fencer, as DLM does), a node corosync lost has its disks held,
 * however long, until the command, run as `COMMAND NODE SINCE NODEID`
 * (SINCE: when the node last joined the membership as this node saw it,
 * seconds since the epoch), exits 0: the node has been fenced (powered off)
 * since it joined, so it is off now (back on, it would have joined again)
 * and not even an I/O its kernel had already taken can land later; and
 * until its lease has run out, as without the command (a command that says
 * yes too soon cannot end a fence early). A fencing that ended before
 * corosync noticed the loss counts: SINCE is not the loss. A command that
 * fails runs again a second later, one that hangs is killed after 30 s and
 * runs again, one still running when the node comes back is killed. When
 * this node's own corosync goes away, its fences last a lease, as without
 * the command (it has no view of who left).
 *
 * Length. `[io] lease_ms`, the same on every node; 0 (the default) takes
 * corosync's token + consensus timeouts + 1 s, read from CMAP: a membership
 * change completes within the lease of the nodes that stay, so only the
 * departed node's disks wait for it. Until the length is known no beat is
 * sent (so no I/O), and a fence lasts UNKNOWN_FENCE_MS.
 *
 * Refusals. An I/O refused for the lease completes with -EAGAIN (not run:
 * this node's router waits for the lease, another node's tries its other
 * path), one refused for its own deadline with -ETIMEDOUT.
 *
 * Threads: the control thread owns it; lease_until() is for any thread.
 */
#ifndef VDISK_LEASE_H
#define VDISK_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qb/qbloop.h>

#include "vdmap.h"

/* Added to every fence: scheduling delays on the nodes' loops. */
#define LEASE_MARGIN_MS 200

struct cdb;
struct lease;

/* Control thread: a fence's end changed (its fence command succeeded):
 * the mapping snapshot should be published again. */
typedef void (*lease_changed_fn)(void *ctx);

/* The lease exists from here on, expired: the data plane may be handed it
 * before the database starts. lease_ms 0: automatic (above); fence_cmd ""
 * or NULL: none (fences last the lease). */
int lease_create(struct lease **out, qb_loop_t *loop, uint32_t lease_ms, const char *fence_cmd,
		 lease_changed_fn changed, void *ctx);
/* Starts beating over c's group (c must outlive the lease's use of it:
 * cdb_stop() before lease_destroy()). */
int lease_attach(struct lease *l, struct cdb *c);
/* After the data thread is gone and after cdb_stop(). */
void lease_destroy(struct lease *l);

/* Any thread: this node may issue I/O to its storage until this time
 * (monotonic ns); 0 before the first renewal. */
uint64_t lease_until(const struct lease *l);

/* Any thread: the lease's length (ns), 0 while it is not known. Every
 * remote attempt's deadline is at most this after it was sent, so a fence
 * outlasts every attempt sent before its node left (router.h). */
uint64_t lease_length(const struct lease *l);

/* Control thread: the fences still running at now (monotonic ns), into
 * out (at most VDMAP_MAX_FENCES); returns how many. */
size_t lease_fences(const struct lease *l, uint64_t now, struct vdmap_fence *out);

#endif
