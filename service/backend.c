/*
 * Local device I/O through io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>
#include <qb/qblog.h>

#include "backend.h"
#include "clock.h"
#include "device.h"
#include "lease.h"
#include "vdio.h"

#define RING_ENTRIES 512
#define ZERO_CHUNK (1024 * 1024)
/* Larger copies of memory files go through the ring: a worker thread then
 * copies while this one serves the network. */
#define INLINE_MAX (64 * 1024)
/* The largest page size Linux uses (64 KiB on some arm64): dropping cache
 * around unaligned I/O in its units covers every smaller page size too. */
#define PAGE_BYTES (64 * 1024)
#define TMPFS_MAGIC 0x01021994
#define RAMFS_MAGIC 0x858458f6

/* Steps of trim and write-zeroes. */
enum io_stage {
	ZS_FALLOCATE, /* try fallocate first */
	ZS_ZERO_RANGE, /* write-zeroes, the hole could not be punched: zero the range */
	ZS_WRITE, /* write-zeroes, the device cannot fallocate: write zeros */
	ZS_SYNC, /* FUA: flush what was written or punched */
};

struct backend_dev {
	struct qb_list_head list;
	char spec[VDISK_DEVICE_MAX + 1];
	char path[4096];
	int fd; /* buffered */
	int dfd; /* O_DIRECT, -1 where the device does not allow it */
	uint32_t align;
	uint32_t inflight;
	bool stale; /* unmapped: closed once idle */
	bool memory; /* tmpfs or ramfs: small copies are done inline */
	/* Another host may reach the same bytes: a block device (maybe dual
	 * ported), or a path of a disk with a second path (a file on shared
	 * storage, or behind FUSE). This host's page cache must then hold
	 * nothing the other does not see (DESIGN.md I1: write-through). */
	bool shared_cache_risk;
	bool blockdev;
};

struct backend {
	struct dloop *loop;
	struct io_uring ring;
	int efd;
	struct qb_list_head devs;
	struct qb_list_head backlog;
	struct qb_list_head inline_done;
	unsigned int unsubmitted; /* SQEs prepared since the last submit */
	/* Those SQEs and their I/O, checked against deadline and lease when
	 * they go to the kernel. */
	struct io_uring_sqe *turn_sqe[RING_ENTRIES];
	struct backend_io *turn_io[RING_ENTRIES];
	unsigned int nturn;
	unsigned int in_kernel; /* submitted, completion not yet seen */
	/* The user data of SQEs that are nobody's I/O: cache drops linked
	 * before one, closes. Their completions are only counted. */
	uint8_t aside;
	bool job_queued;
	uint8_t *zeros;
	const struct lease *lease;
	const struct vdmap *map; /* the router's, as of backend_map_update() */
};

/* Whether spec is this node's path of a disk that has another path: the
 * other path reaches the same bytes (a mirror's replicas do not: each is
 * its node's own storage, written by nobody else). */
static bool spec_shared(const struct vdmap *m, const char *spec)
{
	size_t i, p;

	for (i = 0; m && i < m->ndisks; i++)
		for (p = 0; p < 2; p++)
			if (!m->disks[i].mirror &&
			    m->disks[i].paths[p].nodeid == m->local_nodeid &&
			    m->disks[i].paths[!p].nodeid &&
			    strcmp(m->disks[i].paths[p].device, spec) == 0)
				return true;
	return false;
}

/* 0 if io may start at now, else why not: -ETIMEDOUT past its deadline,
 * -EAGAIN without a lease (lease.h). */
static int io_may_start(const struct backend *b, const struct backend_io *io, uint64_t now)
{
	if (io->deadline && now >= io->deadline)
		return -ETIMEDOUT;
	if (b->lease && now >= lease_until(b->lease))
		return -EAGAIN;
	return 0;
}

static void dev_close(struct backend_dev *d)
{
	qb_log(LOG_INFO, "backend: closing %s", d->path);
	qb_list_del(&d->list);
	if (d->fd >= 0)
		close(d->fd);
	if (d->dfd >= 0)
		close(d->dfd);
	free(d);
}

static int dev_open(struct backend *b, const char *spec, struct backend_dev **out)
{
	struct backend_dev *d;
	struct statfs sfs;
	struct stat st;
	int rc, ssz;

	qb_list_for_each_entry(d, &b->devs, list) {
		if (strcmp(d->spec, spec) == 0) {
			*out = d;
			return 0;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->spec, sizeof(d->spec), "%s", spec);
	rc = device_resolve(spec, d->path, sizeof(d->path));
	if (rc)
		goto out_free;
	d->fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	/* tmpfs and some others refuse O_DIRECT; buffered I/O serves them. */
	d->dfd = open(d->path, O_RDWR | O_CLOEXEC | O_DIRECT);
	d->align = 4096;
	if (fstat(d->fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(d->fd, BLKSSZGET, &ssz) == 0 &&
	    ssz > 0)
		d->align = (uint32_t)ssz;
	d->memory = S_ISREG(st.st_mode) && fstatfs(d->fd, &sfs) == 0 &&
		    (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
	d->blockdev = S_ISBLK(st.st_mode);
	d->shared_cache_risk = d->blockdev || spec_shared(b->map, spec);
	qb_list_add_tail(&d->list, &b->devs);
	qb_log(LOG_INFO, "backend: opened %s as %s%s%s", spec, d->path,
	       d->dfd >= 0 ? " (O_DIRECT for aligned I/O)" : "",
	       d->memory ? " (in memory: small copies inline)" : "");
	*out = d;
	return 0;

out_free:
	qb_log(LOG_WARNING, "backend: cannot open %s: %s", spec, strerror(-rc));
	free(d);
	return rc;
}

static bool io_aligned(const struct backend_io *io, uint32_t align)
{
	return (io->offset + io->progress) % align == 0 && (io->length - io->progress) % align == 0 &&
	       ((uintptr_t)io->buf + io->progress) % align == 0;
}

/* Fills one SQE for the next step of io. */
static void io_prep(struct backend *b, struct io_uring_sqe *sqe, struct backend_io *io)
{
	struct backend_dev *d = io->dev;
	uint64_t off = io->offset + io->progress;
	uint32_t left = io->length - io->progress;
	int fd = d->dfd >= 0 && io_aligned(io, d->align) ? d->dfd : d->fd;
	uint32_t chunk = left < ZERO_CHUNK ? left : ZERO_CHUNK;
	bool zero_write = io->op == VD_WRITE_ZEROES && io->stage == ZS_WRITE;
	int mode;

	if (io->stage == ZS_SYNC) {
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, io);
		return;
	}
	switch (io->op) {
	case VD_READ:
		io_uring_prep_read(sqe, fd, (uint8_t *)io->buf + io->progress, left, off);
		break;
	case VD_WRITE:
		io_uring_prep_write(sqe, fd, (uint8_t *)io->buf + io->progress, left, off);
		/* Through the cache, a shared disk's other host must see it
		 * on the disk when this node answers. */
		if ((io->flags & VD_F_FUA) || (fd == d->fd && d->shared_cache_risk))
			sqe->rw_flags = RWF_DSYNC;
		break;
	case VD_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	case VD_TRIM:
		io_uring_prep_fallocate(sqe, d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					io->offset, io->length);
		break;
	case VD_WRITE_ZEROES:
		if (zero_write) {
			io_uring_prep_write(sqe, d->fd, b->zeros, chunk, off);
			/* As a write's: on the disk when this node answers. */
			if (d->shared_cache_risk)
				sqe->rw_flags = RWF_DSYNC;
		} else {
			/* Punched holes read back as zeros too, unless the
			 * client asked for the blocks to stay allocated. A
			 * block device zeroes a range itself, past the page
			 * cache, where it cannot punch one. */
			mode = (io->flags & VD_F_NO_HOLE) || io->stage == ZS_ZERO_RANGE ?
				       FALLOC_FL_ZERO_RANGE :
				       FALLOC_FL_PUNCH_HOLE;
			io_uring_prep_fallocate(sqe, d->fd, mode | FALLOC_FL_KEEP_SIZE, io->offset,
						io->length);
		}
		break;
	}
	io_uring_sqe_set_data(sqe, io);
}

/*
 * Unaligned I/O goes through the page cache, which on a disk shared with
 * another host may hold what that host has since overwritten, for a read,
 * or for the rest of a page a write modifies: the pages are dropped first
 * (whole pages: the kernel keeps partial ones; only clean pages go, and a
 * write through the cache leaves none dirty). True with the range to drop
 * for io's next step. The drop runs in the ring, linked before the step:
 * on a file behind FUSE it can wait for the server.
 */
static bool io_cache_drop(const struct backend_io *io, off_t *off, off_t *len)
{
	const struct backend_dev *d = io->dev;
	uint64_t at = io->offset + io->progress;
	uint32_t left = io->length - io->progress;
	bool buffered = !(d->dfd >= 0 && io_aligned(io, d->align));
	bool zero_write = io->op == VD_WRITE_ZEROES && io->stage == ZS_WRITE;

	if (!d->shared_cache_risk || io->stage == ZS_SYNC ||
	    !((buffered && (io->op == VD_READ || io->op == VD_WRITE)) || zero_write))
		return false;
	if (zero_write && left > ZERO_CHUNK)
		left = ZERO_CHUNK;
	*off = (off_t)(at - at % PAGE_BYTES);
	*len = (off_t)(left + at % PAGE_BYTES + PAGE_BYTES);
	return true;
}

static void backend_turn(void *data);

/* What this loop turn prepared goes to the kernel at its end, in one call,
 * and what it copied inline is answered then. False if that cannot be
 * arranged (no memory). */
static bool turn_end_schedule(struct backend *b)
{
	if (!b->job_queued && dloop_job_add(b->loop, b, backend_turn) == 0)
		b->job_queued = true;
	return b->job_queued;
}

/* This turn's steps go to the kernel, but those whose time is up: their
 * SQE becomes a no-op that completes them with -ETIMEDOUT. */
static void ring_submit(struct backend *b)
{
	uint64_t now;
	unsigned int i;
	int rc;

	if (!b->unsubmitted)
		return;
	now = now_ns();
	for (i = 0; i < b->nturn; i++) {
		int why = io_may_start(b, b->turn_io[i], now);

		if (!why)
			continue;
		io_uring_prep_nop(b->turn_sqe[i]);
		io_uring_sqe_set_data(b->turn_sqe[i], b->turn_io[i]);
		b->turn_io[i]->expired = why;
	}
	rc = io_uring_submit(&b->ring);
	if (rc > 0)
		b->in_kernel += (unsigned int)rc;
	b->unsubmitted = 0;
	b->nturn = 0;
}

static void io_issue(struct backend *b, struct backend_io *io)
{
	struct io_uring_sqe *sqe;
	off_t off, len;
	bool drop = io_cache_drop(io, &off, &len);
	unsigned int need = drop ? 2 : 1;

	if (io_uring_sq_space_left(&b->ring) < need)
		/* Full of this turn's own entries: hand them over now. */
		ring_submit(b);
	if (io_uring_sq_space_left(&b->ring) < need) {
		qb_list_add_tail(&io->list, &b->backlog);
		return;
	}
	if (drop) {
		sqe = io_uring_get_sqe(&b->ring);
		io_uring_prep_fadvise(sqe, io->dev->fd, (uint64_t)off, len, POSIX_FADV_DONTNEED);
		/* The step runs whatever the drop's outcome (a hard link). */
		sqe->flags |= IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data(sqe, &b->aside);
		b->unsubmitted++;
	}
	sqe = io_uring_get_sqe(&b->ring);
	io_prep(b, sqe, io);
	/* A file (not a block device, not in memory) may sit on a filesystem
	 * that ignores "do not wait" (FUSE's direct I/O waits for its server):
	 * its steps go to the ring's workers, never run inline in the submit
	 * call of this thread, which must answer heartbeats meanwhile. */
	if (!io->dev->blockdev && !io->dev->memory)
		sqe->flags |= IOSQE_ASYNC;
	b->turn_sqe[b->nturn] = sqe;
	b->turn_io[b->nturn] = io;
	b->nturn++;
	b->unsubmitted++;
	/* Without the job the entry would wait for the next event. */
	if (!turn_end_schedule(b))
		ring_submit(b);
}

/* On the data thread a close goes through the ring: closing a file behind
 * FUSE (or NFS) waits for its server, and the thread must not. */
static void dev_close_async(struct backend *b, struct backend_dev *d)
{
	int *fds[2] = { &d->fd, &d->dfd };
	struct io_uring_sqe *sqe;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (*fds[i] < 0)
			continue;
		sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			continue; /* dev_close() closes it, waiting */
		io_uring_prep_close(sqe, *fds[i]);
		io_uring_sqe_set_data(sqe, &b->aside);
		b->unsubmitted++;
		*fds[i] = -1;
	}
	if (b->unsubmitted && !turn_end_schedule(b))
		ring_submit(b);
	dev_close(d);
}

static void io_finish(struct backend *b, struct backend_io *io, int status)
{
	struct backend_dev *d = io->dev;

	/* A device that failed is opened afresh next time: a path repaired
	 * underneath (a reattached disk, a remounted filesystem) then works.
	 * One that never saw the I/O (its time was up) did not fail. */
	if (status && status != -EINVAL && status != -ETIMEDOUT && status != -EAGAIN &&
	    !d->stale) {
		qb_log(LOG_WARNING, "backend: %s: %s", d->path, strerror(-status));
		d->stale = true;
		qb_list_del(&d->list);
		qb_list_init(&d->list);
	}
	d->inflight--;
	if (d->stale && !d->inflight)
		dev_close_async(b, d);
	io->done(io, status);
}

/* A small read or write of a file in memory, copied now; 0 or -errno. */
static int io_copy_inline(struct backend_io *io)
{
	struct backend_dev *d = io->dev;
	int flags = (io->op == VD_WRITE && (io->flags & VD_F_FUA)) ? RWF_DSYNC : 0;
	struct iovec iov;
	ssize_t n;

	while (io->progress < io->length) {
		iov.iov_base = (uint8_t *)io->buf + io->progress;
		iov.iov_len = io->length - io->progress;
		n = io->op == VD_READ ?
			    preadv2(d->fd, &iov, 1, (off_t)(io->offset + io->progress), 0) :
			    pwritev2(d->fd, &iov, 1, (off_t)(io->offset + io->progress), flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		io->progress += (uint32_t)n;
	}
	return 0;
}

static bool io_inline(const struct backend_io *io)
{
	return io->dev->memory && (io->op == VD_READ || io->op == VD_WRITE) &&
	       (io->length <= INLINE_MAX || io->inline_any);
}

static void backend_turn(void *data)
{
	struct backend *b = data;
	struct backend_io *io;

	b->job_queued = false;
	ring_submit(b);
	while (!qb_list_empty(&b->inline_done)) {
		io = qb_list_first_entry(&b->inline_done, struct backend_io, list);
		qb_list_del(&io->list);
		io_finish(b, io, io->result);
	}
}

/* A FUA trim or write-zeroes is made durable by a flush once its data step
 * succeeded (the NBD protocol asks that of FUA on any command that writes);
 * true if that flush was issued. */
static bool fua_sync(struct backend *b, struct backend_io *io, int res)
{
	if (res != 0 || io->stage == ZS_SYNC || !(io->flags & VD_F_FUA))
		return false;
	io->stage = ZS_SYNC;
	io_issue(b, io);
	return true;
}

/* One completion: finishes io or issues its next step. */
static void io_complete(struct backend *b, struct backend_io *io, int res)
{
	if (io->expired) {
		res = io->expired;
		io->expired = 0;
		io_finish(b, io, res);
		return;
	}
	/* -ETIMEDOUT and -EAGAIN say "never started" here (backend.h): a
	 * device's own (NFS soft mounts, a FUSE server) is a failure. */
	if (res == -ETIMEDOUT || res == -EAGAIN)
		res = -EIO;
	switch (io->op) {
	case VD_READ:
	case VD_WRITE:
		if (res == 0)
			res = -EIO; /* the device ends before the disk does */
		if (res < 0)
			break;
		io->progress += (uint32_t)res;
		if (io->progress < io->length) {
			io_issue(b, io);
			return;
		}
		res = 0;
		break;
	case VD_TRIM:
		/* Trimming is advice; a device that cannot is still fine. */
		if (io->stage != ZS_SYNC && (res == -EOPNOTSUPP || res == -EINVAL))
			res = 0;
		if (fua_sync(b, io, res))
			return;
		break;
	case VD_WRITE_ZEROES:
		if ((io->stage == ZS_FALLOCATE || io->stage == ZS_ZERO_RANGE) &&
		    (res == -EOPNOTSUPP || res == -EINVAL)) {
			io->stage = io->stage == ZS_FALLOCATE && !(io->flags & VD_F_NO_HOLE) ?
					    ZS_ZERO_RANGE :
					    ZS_WRITE;
			io_issue(b, io);
			return;
		}
		if (io->stage == ZS_WRITE && res > 0) {
			io->progress += (uint32_t)res;
			if (io->progress < io->length) {
				io_issue(b, io);
				return;
			}
			res = 0;
		}
		if (fua_sync(b, io, res))
			return;
		break;
	default:
		break;
	}
	io_finish(b, io, res < 0 ? res : 0);
}

static int backend_event(int32_t fd, int32_t revents, void *data)
{
	struct backend *b = data;
	struct io_uring_cqe *cqe;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return 0;
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct backend_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		b->in_kernel--;
		if ((void *)io != &b->aside)
			io_complete(b, io, res);
	}
	/* Completions made room: issue what waited for it, until one goes
	 * back to wait (a step with its cache drop needs two entries). */
	while (!qb_list_empty(&b->backlog) && io_uring_sq_space_left(&b->ring)) {
		struct backend_io *io = qb_list_first_entry(&b->backlog, struct backend_io, list);

		qb_list_del(&io->list);
		io_issue(b, io);
		if (qb_list_first_entry(&b->backlog, struct backend_io, list) == io)
			break;
	}
	return 0;
}

int backend_submit(struct backend *b, const char *spec, struct backend_io *io)
{
	int rc;

	/* An inline copy happens now: this is its check. */
	rc = io_may_start(b, io, now_ns());
	if (rc)
		return rc;
	rc = dev_open(b, spec, &io->dev);
	if (rc)
		return rc;
	io->expired = 0;
	io->progress = 0;
	io->stage = ZS_FALLOCATE;
	io->dev->inflight++;
	if (!io_inline(io) || !turn_end_schedule(b)) {
		io_issue(b, io);
		return 0;
	}
	io->result = io_copy_inline(io);
	if (io->result == -ETIMEDOUT || io->result == -EAGAIN)
		io->result = -EIO; /* as io_complete() has it */
	qb_list_add_tail(&io->list, &b->inline_done);
	return 0;
}

void backend_map_update(struct backend *b, const struct vdmap *m)
{
	struct backend_dev *d, *tmp;
	size_t i, p;

	b->map = m;
	qb_list_for_each_entry_safe(d, tmp, &b->devs, list) {
		bool used = false;

		for (i = 0; i < m->ndisks && !used; i++)
			for (p = 0; p < 2; p++)
				if (m->disks[i].paths[p].nodeid == m->local_nodeid &&
				    strcmp(m->disks[i].paths[p].device, d->spec) == 0)
					used = true;
		if (used) {
			d->shared_cache_risk = d->blockdev || spec_shared(m, d->spec);
			continue;
		}
		d->stale = true;
		if (!d->inflight)
			dev_close_async(b, d);
	}
}

int backend_start(struct backend **out, struct dloop *loop, const struct lease *lease)
{
	struct backend *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	b->loop = loop;
	b->lease = lease;
	qb_list_init(&b->devs);
	qb_list_init(&b->backlog);
	qb_list_init(&b->inline_done);
	b->zeros = calloc(1, ZERO_CHUNK);
	if (!b->zeros) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = io_uring_queue_init(RING_ENTRIES, &b->ring, 0);
	if (rc)
		goto out_zeros;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		rc = -errno;
		goto out_ring;
	}
	rc = io_uring_register_eventfd(&b->ring, b->efd);
	if (rc)
		goto out_efd;
	rc = dloop_poll_add(loop, b->efd, POLLIN, b, backend_event);
	if (rc)
		goto out_efd;
	*out = b;
	return 0;

out_efd:
	close(b->efd);
out_ring:
	io_uring_queue_exit(&b->ring);
out_zeros:
	free(b->zeros);
out_free:
	free(b);
	return rc;
}

bool backend_busy(const struct backend *b)
{
	return b->in_kernel || b->unsubmitted || !qb_list_empty(&b->backlog) ||
	       !qb_list_empty(&b->inline_done);
}

int backend_drain(struct backend *b)
{
	struct io_uring_cqe *cqe;
	int rc;

	if (!b)
		return 0;
	if (b->in_kernel)
		qb_log(LOG_NOTICE, "backend: waiting for %u I/O the kernel still runs",
		       b->in_kernel);
	while (b->in_kernel) {
		rc = io_uring_wait_cqe(&b->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc) {
			qb_log(LOG_ERR, "backend: cannot wait for the kernel's I/O: %s",
			       strerror(-rc));
			return rc;
		}
		io_uring_cqe_seen(&b->ring, cqe);
		b->in_kernel--;
	}
	return 0;
}

void backend_destroy(struct backend *b)
{
	if (!b)
		return;
	if (b->job_queued)
		dloop_job_del(b->loop, b, backend_turn);
	dloop_poll_del(b->loop, b->efd);
	close(b->efd);
	io_uring_queue_exit(&b->ring);
	while (!qb_list_empty(&b->devs))
		dev_close(qb_list_first_entry(&b->devs, struct backend_dev, list));
	free(b->zeros);
	free(b);
}
