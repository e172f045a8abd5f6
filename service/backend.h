/*
 * The backend: I/O on the storage devices of this node, asynchronous through
 * one io_uring on the data-plane loop, so one thread keeps many requests in
 * flight. Devices are opened on first use (device specs resolved with
 * libblkid), O_DIRECT where the device allows it for aligned requests, and
 * closed when the mapping no longer uses them. A disk error completes the
 * I/O with -errno, which the router turns into a negative acknowledgement.
 *
 * The ring is submitted once per loop turn, not once per request. Small
 * reads and writes of files in memory (tmpfs, ramfs) are copied inline:
 * those filesystems cannot tell io_uring that a copy will not block, so it
 * would hand each one to a worker thread, whose wake-up costs more than the
 * copy. Their done() still runs later, from a job of the loop.
 *
 * Nothing starts late (DESIGN.md, I2 and I4): an I/O may carry a deadline,
 * and the backend may be given a lease (lease.h); every step of an I/O
 * (a read or write goes in several when the device transfers less, a
 * write-zeroes may fall back to writing zeros, FUA adds a flush) is checked
 * against both right before the turn hands it to the kernel, and one past
 * either completes without reaching the device: -ETIMEDOUT past its
 * deadline, -EAGAIN without the lease. What the
 * kernel has taken runs to its end: backend_drain() waits for it.
 *
 * Threads: data thread only, but backend_drain() and backend_destroy(),
 * which run on the control thread once the data thread is gone.
 */
#ifndef VDISK_BACKEND_H
#define VDISK_BACKEND_H

#include <stdint.h>

#include <qb/qblist.h>
#include "dloop.h"

#include "vdmap.h"

struct backend_io;
typedef void (*backend_done_fn)(struct backend_io *io, int status);

/* One I/O; the caller owns it and buf until done() runs (never inline). */
struct backend_io {
	uint8_t op; /* enum vd_op */
	uint8_t flags; /* VD_F_* */
	uint64_t offset;
	uint32_t length;
	void *buf;
	uint64_t deadline; /* monotonic ns from which no step may start; 0 none */
	backend_done_fn done;
	/* A file in memory is copied inline whatever the size: serving a
	 * peer, this thread has nothing better to do meanwhile than the
	 * network, and a worker thread's wake-up costs more than the copy. */
	bool inline_any;
	/* private */
	struct qb_list_head list; /* waiting for room in the ring, or done inline */
	struct backend_dev *dev;
	uint32_t progress; /* bytes done (short transfers, zero fill) */
	uint8_t stage; /* trim and write-zeroes: fallback, FUA flush */
	int result; /* of an inline copy, until its done() runs */
	int expired; /* its step was turned into a no-op: why (-errno), else 0 */
};

struct backend;
struct lease;

/* lease: NULL for none (every I/O may start). */
int backend_start(struct backend **out, struct dloop *loop, const struct lease *lease);
/* Data thread: whether an I/O is anywhere in the backend (prepared, queued,
 * in the kernel, or answered but not yet told). */
bool backend_busy(const struct backend *b);
/* Waits until the kernel has given back every I/O it took (their done()
 * is not called: the thread that owned them is gone). 0, or -errno if the
 * ring cannot be waited on (then the buffers must be leaked, not freed). */
int backend_drain(struct backend *b);
void backend_destroy(struct backend *b);

/* Submits io on device spec (the path's device as in the database). */
int backend_submit(struct backend *b, const char *spec, struct backend_io *io);

/* Closes the devices the new mapping no longer names for this node, and
 * notes which of the others another node reaches too (a block device, or a
 * path of a disk with two paths): their writes go through this host's page
 * cache to the device before they are answered (RWF_DSYNC where O_DIRECT
 * cannot serve them), and reads through it drop what it may hold stale.
 * m stays the router's until the next call. */
void backend_map_update(struct backend *b, const struct vdmap *m);

#endif
