/*
 * The device filesystem on the data-plane loop, with libfuse's low-level
 * API: the loop polls the FUSE device, and every request is answered when
 * its work is done, never waited for.
 *
 * Inodes: 1 is the root directory and a disk's is its id + 1, so every node
 * gives a disk the same number and a deleted disk's number never comes back.
 * Attribute and entry timeouts are 0: the kernel asks again for every lookup
 * and stat, and the answer comes from the router's current snapshot, so a
 * change made on another node shows as soon as this node has applied it.
 *
 * Files are opened in direct I/O mode: without a page cache every read and
 * write reaches the router, so no node keeps bytes another node overwrote.
 *
 * A request that waits (I/O in the router, a permission update visiting
 * the control thread) is on the ops list, so ndfs_destroy() can answer and
 * free whatever the router or the mailboxes dropped.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <qb/qblist.h>
#include <qb/qblog.h>

#include "account.h"
#include "mailbox.h"
#include "nbd_proto.h"
#include "ndfs.h"

#define ROOT_INO FUSE_ROOT_ID
/* Data buffers are page aligned, so the backend can use O_DIRECT. */
#define BUF_ALIGN 4096
/* Supplementary groups of a caller looked at when listing the directory. */
#define NDFS_GROUPS_MAX 256
#define RECEIVES_PER_EVENT 16
#define MOUNT_OPTS "default_permissions,allow_other,fsname=vdisk,subtype=ndfs"
#define SPECIAL_BITS (S_ISUID | S_ISGID | S_ISVTX)

struct ndfs {
	struct transport *t;
	struct router *r;
	struct cdb *cdb;
	struct inuse *inuse; /* who has which disk open: each open of a file */
	struct dloop *loop; /* the data loop */
	struct mailbox *to_ctl;
	struct fuse_session *se;
	struct fuse_buf buf; /* receives every request; libfuse allocates it */
	int fd;
	time_t mounted; /* the root directory's times */
	struct qb_list_head ops;
};

/* A request that waits for the router or for the cluster database. */
struct op {
	struct qb_list_head list;
	struct ndfs *n;
	fuse_req_t req;
	struct vd_request vr;
	uint64_t end; /* I/O: where the last piece ends */
	/* setattr: the update, then its result */
	struct db_update u;
	struct stat attr;
	int rc;
};

/* Mailboxes free what they cannot deliver, so what crosses threads is a
 * box of its own, never an object that something else still points to. */
static int post(struct ndfs *n, bool to_ctl, mailbox_fn fn, void *p)
{
	void **box = malloc(sizeof(*box));
	int rc;

	if (!box)
		return -ENOMEM;
	*box = p;
	rc = to_ctl ? mailbox_post(n->to_ctl, fn, box) : transport_post(n->t, fn, box);
	if (rc)
		free(box);
	return rc;
}

static void *unbox(void *arg)
{
	void *p = *(void **)arg;

	free(arg);
	return p;
}

static struct op *op_new(fuse_req_t req)
{
	struct op *o = calloc(1, sizeof(*o));

	if (o) {
		o->n = fuse_req_userdata(req);
		o->req = req;
	}
	return o;
}

static void op_free(struct op *o)
{
	free(o->vr.buf);
	free(o);
}

/*
 * The op's work went out (rc 0): it waits on the list. Listing it after
 * handing it over is safe: the router never calls done() from inside
 * router_submit(), and the control thread answers through the data
 * thread's mailbox, after this call. Or it could not (rc < 0): answered.
 */
static void op_sent(struct op *o, int rc)
{
	if (rc) {
		fuse_reply_err(o->req, -rc);
		op_free(o);
		return;
	}
	qb_list_add_tail(&o->list, &o->n->ops);
}

/* Attributes */

static fuse_ino_t disk_ino(uint32_t id)
{
	return (fuse_ino_t)id + 1;
}

/* The disk of a file's inode, stopped here or not. */
static const struct vdmap_disk *disk_any(struct ndfs *n, fuse_ino_t ino)
{
	const struct vdmap *m = router_map(n->r);

	if (!m || ino <= ROOT_INO || ino - 1 > UINT32_MAX)
		return NULL;
	return vdmap_disk_by_id(m, (uint32_t)(ino - 1));
}

/* The disk of a file as this node's clients see it (vdmap_export_by_id). */
static const struct vdmap_disk *disk_of(struct ndfs *n, fuse_ino_t ino)
{
	const struct vdmap_disk *d = disk_any(n, ino);

	return d && !d->stopped ? d : NULL;
}

/* Why I/O on an open file of a disk that disk_of() no longer gives fails:
 * stopped on this node (its clients are told, as the NBD server tells
 * them: ESHUTDOWN), or deleted. */
static int gone_err(struct ndfs *n, fuse_ino_t ino)
{
	return disk_any(n, ino) ? -ESHUTDOWN : -ENOENT;
}

static void attr_fill(struct stat *st, uint32_t id, uint64_t size, uint32_t uid, uint32_t gid,
		      uint32_t mode, int64_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = disk_ino(id);
	st->st_mode = S_IFREG | (mode & 07777);
	st->st_nlink = 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_size = (off_t)size;
	st->st_blksize = BUF_ALIGN;
	st->st_blocks = (blkcnt_t)(size / 512);
	st->st_atime = st->st_mtime = st->st_ctime = (time_t)mtime;
}

static void disk_attr(const struct vdmap_disk *d, struct stat *st)
{
	attr_fill(st, d->id, d->size, d->uid, d->gid, d->mode, d->mtime);
}

static int attr_get(struct ndfs *n, fuse_ino_t ino, struct stat *st)
{
	const struct vdmap_disk *d;

	if (ino == ROOT_INO) {
		memset(st, 0, sizeof(*st));
		st->st_ino = ROOT_INO;
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_atime = st->st_mtime = st->st_ctime = n->mounted;
		return 0;
	}
	d = disk_of(n, ino);
	if (!d)
		return gone_err(n, ino);
	disk_attr(d, st);
	return 0;
}

static void entry_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ndfs *n = fuse_req_userdata(req);
	const struct vdmap *m = router_map(n->r);
	const struct vdmap_disk *d = parent == ROOT_INO && m ? vdmap_export_by_name(m, name) : NULL;
	struct fuse_entry_param e = { 0 };

	if (!d) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = disk_ino(d->id);
	disk_attr(d, &e.attr);
	fuse_reply_entry(req, &e);
}

static void attr_read(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = attr_get(fuse_req_userdata(req), ino, &st);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* Whether the caller of req may read d: the directory lists only those
 * (DESIGN.md, I5), judged as the NBD server judges its clients. */
static bool caller_reads(fuse_req_t req, const gid_t *groups, int ngroups,
			 const struct vdmap_disk *d)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct nbd_cred cred = {
		.local = true,
		.uid = ctx->uid,
		.gid = ctx->gid,
		.ngroups = ngroups > 0 ? (size_t)ngroups : 0,
		.groups = (gid_t *)groups,
	};

	return nbd_access(&cred, d->uid, d->gid, d->mode) & NBD_ACCESS_READ;
}

/* Offsets are positions in the snapshot's name order, after "." and "..":
 * a disk created or deleted between two calls may be missed or seen twice,
 * as POSIX allows for a directory that changes while it is read. Disks the
 * caller may not read are skipped. */
static void dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct ndfs *n = fuse_req_userdata(req);
	const struct vdmap *m = router_map(n->r);
	size_t count = 2 + (m ? m->ndisks : 0), used = 0, len;
	struct stat st = { .st_mode = S_IFREG };
	gid_t groups[NDFS_GROUPS_MAX];
	int ngroups;
	const char *name;
	char *buf;
	size_t i;

	if (ino != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* More groups than that: the first ones count. A caller in a disk's
	 * group only past them is judged as other, which lists the disk
	 * where other may read it and the group may not (open() is still
	 * the kernel's to judge, with every group). */
	ngroups = fuse_req_getgroups(req, NDFS_GROUPS_MAX, groups);
	if (ngroups > NDFS_GROUPS_MAX)
		ngroups = NDFS_GROUPS_MAX;
	for (i = off < 0 ? 0 : (size_t)off; i < count; i++) {
		if (i >= 2 && (m->disks[i - 2].stopped ||
			       !caller_reads(req, groups, ngroups, &m->disks[i - 2])))
			continue;
		if (i < 2) {
			name = i ? ".." : ".";
			st.st_ino = ROOT_INO;
			st.st_mode = S_IFDIR;
		} else {
			name = m->disks[i - 2].name;
			st.st_ino = disk_ino(m->disks[i - 2].id);
			st.st_mode = S_IFREG;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* I/O */

/* O_TRUNC arrives here (libfuse asks for atomic_o_trunc), and truncating
 * is no more possible than in setattr. */
static void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ndfs *n = fuse_req_userdata(req);
	const struct vdmap_disk *d = disk_of(n, ino);

	if (!d) {
		fuse_reply_err(req, ino == ROOT_INO ? EISDIR : ENOENT);
		return;
	}
	if (fi->flags & O_TRUNC) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fi->direct_io = 1;
	/* Counted until release: a delete asks who has the disk open. */
	fi->fh = inuse_open(n->inuse, d->name, INUSE_FILE, fuse_req_ctx(req)->pid);
	if (fuse_reply_open(req, fi))
		inuse_close(n->inuse, fi->fh);
}

static void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ndfs *n = fuse_req_userdata(req);

	inuse_close(n->inuse, fi->fh);
	fuse_reply_err(req, 0);
}

static void io_reply(fuse_req_t req, const struct vd_request *vr, int status)
{
	if (status)
		fuse_reply_err(req, -status);
	else if (vr->op == VD_READ)
		fuse_reply_buf(req, vr->buf, vr->length);
	else if (vr->op == VD_WRITE)
		fuse_reply_write(req, vr->length);
	else
		fuse_reply_err(req, 0);
}

static void io_done(struct vd_request *vr, int status)
{
	struct op *o = vr->ctx;

	if (!status && vr->offset + vr->length < o->end) {
		vr->offset += vr->length;
		vr->length = vd_range_piece(o->end - vr->offset);
		status = router_submit(o->n->r, vr);
		if (!status)
			return;
	}
	qb_list_del(&o->list);
	io_reply(o->req, vr, status);
	op_free(o);
}

/*
 * Fits a request to the disk as a block device would: reads and zeroing end
 * at the end of the disk, a write that starts beyond it finds no space, one
 * that runs over it is cut short.
 */
static int io_clip(const struct vdmap_disk *d, enum vd_op op, off_t off, uint64_t *len)
{
	if (op == VD_FLUSH) {
		*len = 0;
		return 0;
	}
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= d->size) {
		*len = 0;
		return op == VD_WRITE ? -ENOSPC : 0;
	}
	if (*len > d->size - (uint64_t)off)
		*len = d->size - (uint64_t)off;
	return 0;
}

static void io_start(fuse_req_t req, fuse_ino_t ino, enum vd_op op, uint8_t flags, off_t off,
		     uint64_t len, const void *data)
{
	struct ndfs *n = fuse_req_userdata(req);
	const struct vdmap_disk *d = disk_of(n, ino);
	struct op *o;
	int rc;

	rc = d ? io_clip(d, op, off, &len) : gone_err(n, ino);
	o = rc ? NULL : op_new(req);
	if (!o) {
		fuse_reply_err(req, rc ? -rc : ENOMEM);
		return;
	}
	o->vr.disk_id = d->id;
	o->vr.op = op;
	o->vr.flags = flags;
	o->vr.offset = len ? (uint64_t)off : 0;
	o->vr.length = vd_range_piece(len);
	o->vr.done = io_done;
	o->vr.ctx = o;
	o->end = o->vr.offset + len;
	if ((op == VD_READ || op == VD_WRITE) && len &&
	    posix_memalign(&o->vr.buf, BUF_ALIGN, len)) {
		op_sent(o, -ENOMEM);
		return;
	}
	if (op == VD_WRITE)
		memcpy(o->vr.buf, data, len);
	/* Nothing to move: no need to bother the router. */
	if (!len && op != VD_FLUSH) {
		io_reply(req, &o->vr, 0);
		op_free(o);
		return;
	}
	op_sent(o, router_submit(n->r, &o->vr));
}

static void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	io_start(req, ino, VD_READ, 0, off, size, NULL);
}

static void file_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	io_start(req, ino, VD_WRITE, (fi->flags & O_DSYNC) ? VD_F_FUA : 0, off, size, buf);
}

static void file_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	io_start(req, ino, VD_FLUSH, 0, 0, 0, NULL);
}

/*
 * A disk's blocks always exist, so allocating is a no-op within the disk
 * (and cannot grow it); punching a hole and zeroing a range both leave
 * zeroes, which is what write-zeroes does (allowed to deallocate or not).
 * The loop driver turns discards into punched holes.
 */
static void file_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			   struct fuse_file_info *fi)
{
	const struct vdmap_disk *d = disk_of(fuse_req_userdata(req), ino);
	int rc = 0;

	if (mode & FALLOC_FL_PUNCH_HOLE) {
		io_start(req, ino, VD_WRITE_ZEROES, 0, off, (uint64_t)len, NULL);
		return;
	}
	if (mode & FALLOC_FL_ZERO_RANGE) {
		io_start(req, ino, VD_WRITE_ZEROES, VD_F_NO_HOLE, off, (uint64_t)len, NULL);
		return;
	}
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		rc = EOPNOTSUPP;
	else if (!d)
		rc = ENOENT;
	else if (!(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t)off + (uint64_t)len > d->size)
		rc = ENOSPC;
	fuse_reply_err(req, rc);
}

/* Permissions */

/*
 * Turns a setattr into a permission update, or refuses it: the size is the
 * device's, the time is the database's (touch asks for "now", which is
 * accepted and changes nothing), and a device file has no use for setuid,
 * setgid or sticky bits.
 */
static int perm_update_make(const struct vdmap_disk *d, const struct stat *attr, int to_set,
			    struct db_update *u)
{
	if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size != d->size)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & SPECIAL_BITS))
		return -EPERM;
	memset(u, 0, sizeof(*u));
	u->op = DB_OP_PERM;
	snprintf(u->disk.name, sizeof(u->disk.name), "%s", d->name);
	if (to_set & FUSE_SET_ATTR_MODE) {
		u->flags |= DB_PERM_MODE;
		u->disk.mode = attr->st_mode & 0777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		u->flags |= DB_PERM_UID;
		u->disk.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		u->flags |= DB_PERM_GID;
		u->disk.gid = attr->st_gid;
	}
	return 0;
}

/* Data thread: the database answered. */
static void perm_finish(void *arg)
{
	struct op *o = unbox(arg);

	qb_list_del(&o->list);
	if (o->rc)
		fuse_reply_err(o->req, -o->rc);
	else
		fuse_reply_attr(o->req, &o->attr, 0);
	op_free(o);
}

/* Control thread: the update's result, as every member computed it. */
static void perm_done(void *ctx, int rc, const char *err, const struct db_disk *disk,
		      uint64_t generation)
{
	struct op *o = ctx;

	if (rc) {
		qb_log(LOG_NOTICE, "ndfs: permission change of '%s' refused: %s", o->u.disk.name,
		       err);
	} else {
		attr_fill(&o->attr, disk->id, disk->size, disk->uid, disk->gid, disk->mode,
			  disk->mtime);
		qb_log(LOG_INFO, "ndfs: '%s' is now %u:%u %04o, generation %llu", disk->name,
		       disk->uid, disk->gid, disk->mode, (unsigned long long)generation);
	}
	o->rc = rc;
	/* Undelivered, the op stays listed and ndfs_destroy() answers it. */
	if (post(o->n, false, perm_finish, o))
		qb_log(LOG_ERR, "ndfs: cannot answer a permission change of '%s'",
		       o->u.disk.name);
}

/* Owners and groups are numeric in the database; one this node does not
 * know is a typo, not a wish. */
static int ids_check(const struct db_update *u, char *err, size_t errlen)
{
	uint32_t id;

	id = u->disk.uid;
	if ((u->flags & DB_PERM_UID) && account_lookup(true, NULL, &id, NULL, 0)) {
		snprintf(err, errlen, "unknown user id %u", u->disk.uid);
		return -EINVAL;
	}
	id = u->disk.gid;
	if ((u->flags & DB_PERM_GID) && account_lookup(false, NULL, &id, NULL, 0)) {
		snprintf(err, errlen, "unknown group id %u", u->disk.gid);
		return -EINVAL;
	}
	return 0;
}

/* Control thread: the cluster database lives here. */
static void perm_submit(void *arg)
{
	struct op *o = unbox(arg);
	char err[256];
	int rc;

	rc = ids_check(&o->u, err, sizeof(err));
	if (!rc)
		rc = cdb_update_submit(o->n->cdb, &o->u, perm_done, o, err, sizeof(err));
	if (rc)
		perm_done(o, rc, err, NULL, 0);
}

static void attr_set(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		     struct fuse_file_info *fi)
{
	struct ndfs *n = fuse_req_userdata(req);
	const struct vdmap_disk *d = disk_of(n, ino);
	struct db_update u;
	struct stat st;
	struct op *o;
	int rc;

	rc = d ? perm_update_make(d, attr, to_set, &u) : ino == ROOT_INO ? -EPERM : -ENOENT;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!u.flags) {
		disk_attr(d, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	o = op_new(req);
	if (!o) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	o->u = u;
	op_sent(o, post(n, true, perm_submit, o));
}

/* The set of files is the cluster's: nothing is created, removed or renamed
 * here. */

static void node_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	fuse_reply_err(req, EPERM);
}

static void dir_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EPERM);
}

static void entry_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void symlink_make(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void entry_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EPERM);
}

static void link_make(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void file_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			struct fuse_file_info *fi)
{
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops ndfs_ops = {
	.lookup = entry_lookup,
	.getattr = attr_read,
	.setattr = attr_set,
	.readdir = dir_read,
	.open = file_open,
	.release = file_release,
	.read = file_read,
	.write = file_write,
	.fsync = file_fsync,
	.fallocate = file_fallocate,
	.mknod = node_make,
	.mkdir = dir_make,
	.unlink = entry_remove,
	.rmdir = entry_remove,
	.symlink = symlink_make,
	.rename = entry_rename,
	.link = link_make,
	.create = file_create,
};

/* The session */

static int32_t fuse_event(int32_t fd, int32_t revents, void *data)
{
	struct ndfs *n = data;
	int i, rc;

	/* The device is non-blocking: read what is there, a few at a time so
	 * the rest of the loop gets its turn. */
	for (i = 0; i < RECEIVES_PER_EVENT; i++) {
		rc = fuse_session_receive_buf(n->se, &n->buf);
		if (rc == -EAGAIN || rc == -EINTR)
			return 0;
		if (rc <= 0) {
			qb_log(LOG_WARNING, "ndfs: the device filesystem was unmounted (%s)",
			       rc ? strerror(-rc) : "from outside vdiskd");
			/* Negative: the loop forgets the descriptor. */
			return -1;
		}
		fuse_session_process_buf(n->se, &n->buf);
	}
	return 0;
}

/* Data thread: the session joins the loop. */
static void session_attach(void *arg)
{
	struct ndfs *n = unbox(arg);

	if (!dloop_poll_add(n->loop, n->fd, POLLIN, n, fuse_event))
		return;
	/* Unserved, every access to the mount would hang: detach it, so
	 * they fail with ENOTCONN instead. */
	qb_log(LOG_ERR, "ndfs: cannot poll the FUSE device; detaching the device files");
	fuse_session_unmount(n->se);
}

static void fuse_log_to_qb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = '\0';
	qb_log_from_external_source(__func__, __FILE__, "ndfs: libfuse: %s", (uint8_t)level,
				    __LINE__, 0, msg);
}

/* mkdir -p: path and every missing parent, mode 0755. */
static int dir_create(const char *path)
{
	char buf[PATH_MAX];
	char *p, c;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

/*
 * A daemon killed with its mount in place leaves a mount nobody serves:
 * ENOTCONN, or ECONNABORTED for a request the kernel had queued when the
 * connection was aborted. Each is detached, so the new one goes on the
 * directory.
 */
static int mountpoint_prepare(const char *path)
{
	struct stat st;

	while (stat(path, &st)) {
		if (errno == ENOENT)
			return dir_create(path);
		if (errno != ENOTCONN && errno != ECONNABORTED)
			return -errno;
		qb_log(LOG_WARNING, "ndfs: %s: detaching the stale mount of an earlier run", path);
		if (umount2(path, MNT_DETACH))
			return -errno;
	}
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int session_open(struct ndfs *n, const char *mountpoint)
{
	char prog[] = "vdiskd", opt[] = "-o", opts[] = MOUNT_OPTS;
	char *argv[] = { prog, opt, opts };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int rc = 0, flags;

	n->se = fuse_session_new(&args, &ndfs_ops, sizeof(ndfs_ops), n);
	fuse_opt_free_args(&args);
	if (!n->se)
		return -EINVAL;
	/* libfuse says why on its log. */
	if (fuse_session_mount(n->se, mountpoint)) {
		rc = -EIO;
		goto out_destroy;
	}
	n->fd = fuse_session_fd(n->se);
	flags = fcntl(n->fd, F_GETFL);
	if (flags < 0 || fcntl(n->fd, F_SETFL, flags | O_NONBLOCK)) {
		rc = -errno;
		goto out_unmount;
	}
	return 0;

out_unmount:
	fuse_session_unmount(n->se);
out_destroy:
	fuse_session_destroy(n->se);
	return rc;
}

int ndfs_start(struct ndfs **out, struct transport *t, struct router *r, struct cdb *cdb,
	       struct inuse *inuse, qb_loop_t *ctl_loop, const char *mountpoint)
{
	struct ndfs *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	n->t = t;
	n->r = r;
	n->cdb = cdb;
	n->inuse = inuse;
	n->loop = transport_loop(t);
	n->mounted = time(NULL);
	qb_list_init(&n->ops);
	fuse_set_log_func(fuse_log_to_qb);
	rc = mountpoint_prepare(mountpoint);
	if (rc) {
		qb_log(LOG_ERR, "ndfs: mount point %s: %s", mountpoint, strerror(-rc));
		goto out_free;
	}
	rc = session_open(n, mountpoint);
	if (rc) {
		qb_log(LOG_ERR, "ndfs: cannot mount on %s: %s", mountpoint, strerror(-rc));
		goto out_free;
	}
	rc = mailbox_create(&n->to_ctl, ctl_loop);
	if (rc)
		goto out_session;
	rc = post(n, false, session_attach, n);
	if (rc)
		goto out_mailbox;
	qb_log(LOG_NOTICE, "ndfs: device files on %s", mountpoint);
	*out = n;
	return 0;

out_mailbox:
	mailbox_destroy(n->to_ctl, free);
out_session:
	fuse_session_unmount(n->se);
	fuse_session_destroy(n->se);
out_free:
	fuse_set_log_func(NULL);
	free(n);
	return rc;
}

void ndfs_destroy(struct ndfs *n)
{
	struct op *o, *tmp;

	if (!n)
		return;
	dloop_poll_del(n->loop, n->fd);
	/* Answered while the device is open: unmounting closes it. */
	qb_list_for_each_entry_safe(o, tmp, &n->ops, list) {
		qb_list_del(&o->list);
		fuse_reply_err(o->req, EIO);
		op_free(o);
	}
	mailbox_destroy(n->to_ctl, free);
	/* Lazily: a loop device still holding a file keeps the mount until it
	 * lets go, and gets errors from now on. */
	fuse_session_unmount(n->se);
	fuse_session_destroy(n->se);
	free(n->buf.mem);
	fuse_set_log_func(NULL);
	free(n);
}
