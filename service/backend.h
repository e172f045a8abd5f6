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
 * Threads: data thread only.
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
};

struct backend;

int backend_start(struct backend **out, struct dloop *loop);
void backend_destroy(struct backend *b);

/* Submits io on device spec (the path's device as in the database). */
int backend_submit(struct backend *b, const char *spec, struct backend_io *io);

/* Closes the devices the new mapping no longer names for this node. */
void backend_map_update(struct backend *b, const struct vdmap *m);

#endif
