/*
 * The server side of remote I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "clock.h"
#include "remote.h"
#include "vdio.h"

/* Hash buckets of one sender's completion records. */
#define DONE_BUCKETS 4096
#define EVICT_LOG_NS (10 * 1000000000ull)

/* A completed request of one sender, answered again if it comes again. */
struct done_rec {
	struct qb_list_head hash; /* in its bucket */
	struct qb_list_head fifo; /* the sender's records, oldest first */
	uint64_t id;
	uint8_t path;
	int32_t status;
};

/* What this node keeps of one sending node. */
struct sender {
	uint32_t node;
	uint64_t low; /* it has every answer to ids below this */
	size_t n;
	uint64_t evicted; /* records dropped at the cap since the last report */
	uint64_t evict_logged;
	struct qb_list_head fifo;
	struct qb_list_head buckets[DONE_BUCKETS];
};

struct remote {
	struct transport *t;
	struct backend *b;
	remote_serve_fn serve;
	void *serve_ctx;
	const struct vdmap *map;
	struct qb_list_head running;
	struct sender *senders[TRANSPORT_MAX_PEERS];
	size_t nsenders;
	bool quiescing; /* remote_quiesce() */
};

/* The data of a request served is aligned for O_DIRECT (a page, or a
 * block device's sector): through the page cache, a path another host
 * shares could read what that host has since overwritten. */
#define DATA_ALIGN 4096

/* One request being served, at the end of its allocation's first
 * DATA_ALIGN bytes, so that data starts the next page. */
struct serve_io {
	struct backend_io io;
	struct qb_list_head list;
	struct remote *rs;
	void *mem; /* the allocation */
	/* The sender restarted meanwhile: nobody waits for the answer. */
	bool orphan;
	/* A change to a mirror this node writes: the router fans it out to
	 * the replicas and accounts for it (a drain waits for its legs). */
	bool fanned;
	/* As last received: a copy sent again while this runs moves the
	 * answer to its attempt. */
	struct frame_hdr req;
	/* A read's answer leaves from here without a copy: the frame header
	 * goes right in front of the data. */
	uint8_t frame[FRAME_HDR_SIZE];
	uint8_t data[]; /* read result or write payload */
};

_Static_assert(offsetof(struct serve_io, data) % sizeof(uint64_t) == 0 &&
		       offsetof(struct serve_io, data) <= DATA_ALIGN,
	       "serve_io must end where its data starts, aligned");

static struct serve_io *serve_alloc(size_t size)
{
	struct serve_io *s;
	void *mem;

	if (posix_memalign(&mem, DATA_ALIGN, DATA_ALIGN + size))
		return NULL;
	s = (struct serve_io *)((uint8_t *)mem + DATA_ALIGN - offsetof(struct serve_io, data));
	s->mem = mem;
	return s;
}

static void serve_free(void *owner)
{
	free(((struct serve_io *)owner)->mem);
}

static struct frame_hdr answer_hdr(const struct frame_hdr *req, uint16_t op, int status)
{
	return (struct frame_hdr){
		.client = TCLIENT_ROUTER,
		.flags = FRAME_F_REPLY,
		.op = op,
		.reqid = req->reqid,
		.config = req->config,
		.disk = req->disk,
		.status = status,
		.offset = req->offset,
		.length = req->length,
	};
}

/* If the requester is gone it re-issues elsewhere; nothing to do. */
static void answer_log(const struct frame_hdr *req, int rc)
{
	if (rc)
		qb_log(LOG_DEBUG, "answer to node %" PRIu32 ": %s", req->src_node, strerror(-rc));
}

/* An answer without data: to the request itself (op 0), or to a probe. */
static void answer_op(struct remote *rs, const struct frame_hdr *req, uint16_t op, int status)
{
	struct frame_hdr h = answer_hdr(req, op, status);

	answer_log(req, transport_send(rs->t, req->src_node, &h, NULL, 0));
}

static void answer(struct remote *rs, const struct frame_hdr *req, int status)
{
	answer_op(rs, req, 0, status);
}

/* Completion records */

static struct sender *sender_find(struct remote *rs, uint32_t node)
{
	size_t i;

	for (i = 0; i < rs->nsenders; i++)
		if (rs->senders[i]->node == node)
			return rs->senders[i];
	return NULL;
}

static struct sender *sender_get(struct remote *rs, uint32_t node)
{
	struct sender *s = sender_find(rs, node);
	size_t i;

	if (s || rs->nsenders == TRANSPORT_MAX_PEERS)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->node = node;
	qb_list_init(&s->fifo);
	for (i = 0; i < DONE_BUCKETS; i++)
		qb_list_init(&s->buckets[i]);
	rs->senders[rs->nsenders++] = s;
	return s;
}

static struct qb_list_head *done_bucket(struct sender *s, uint64_t id)
{
	return &s->buckets[(id * 0x9e3779b97f4a7c15ull) >> 52 & (DONE_BUCKETS - 1)];
}

static void done_del(struct sender *s, struct done_rec *d)
{
	qb_list_del(&d->hash);
	qb_list_del(&d->fifo);
	s->n--;
	free(d);
}

static struct done_rec *done_find(struct sender *s, const struct frame_hdr *h)
{
	uint64_t id = vd_reqid_id(h->reqid);
	struct done_rec *d;

	if (!s)
		return NULL;
	qb_list_for_each_entry(d, done_bucket(s, id), hash)
		if (d->id == id && d->path == (uint8_t)h->status)
			return d;
	return NULL;
}

/* The sender has every answer below low: those records have served. Its
 * requests complete roughly in id order, so the oldest records go first;
 * a straggler behind a newer one goes when that one does. */
static void sender_low(struct sender *s, uint64_t low)
{
	struct done_rec *d;

	if (low > s->low)
		s->low = low;
	while (!qb_list_empty(&s->fifo)) {
		d = qb_list_first_entry(&s->fifo, struct done_rec, fifo);
		if (d->id >= s->low)
			break;
		done_del(s, d);
	}
}

static void done_add(struct sender *s, const struct frame_hdr *h, int status)
{
	struct done_rec *d;
	uint64_t now;

	if (s->n >= REMOTE_DONE_MAX) {
		done_del(s, qb_list_first_entry(&s->fifo, struct done_rec, fifo));
		now = now_ns();
		if (!s->evicted++ || now - s->evict_logged > EVICT_LOG_NS) {
			qb_log(LOG_WARNING,
			       "node %" PRIu32 " keeps requests unanswered for long: completion "
			       "records over %u, the oldest dropped (%" PRIu64 " so far)",
			       s->node, REMOTE_DONE_MAX, s->evicted);
			s->evict_logged = now;
		}
	}
	d = malloc(sizeof(*d));
	if (!d) {
		qb_log(LOG_ERR, "out of memory: a retry of request %" PRIu64 " of node %" PRIu32
		       " would run again", vd_reqid_id(h->reqid), s->node);
		return;
	}
	d->id = vd_reqid_id(h->reqid);
	d->path = (uint8_t)h->status;
	d->status = status;
	qb_list_add_tail(&d->hash, done_bucket(s, d->id));
	qb_list_add_tail(&d->fifo, &s->fifo);
	s->n++;
}

static void sender_free(struct sender *s)
{
	while (!qb_list_empty(&s->fifo))
		done_del(s, qb_list_first_entry(&s->fifo, struct done_rec, fifo));
	free(s);
}

/* Serving */

/* Both are requests of one sender's life (the same request, maybe another
 * attempt of it). */
static bool same_request(const struct frame_hdr *a, const struct frame_hdr *b)
{
	return vd_reqid_id(a->reqid) == vd_reqid_id(b->reqid) && a->src_node == b->src_node &&
	       a->status == b->status;
}

static struct serve_io *running_find(struct remote *rs, const struct frame_hdr *h)
{
	struct serve_io *s;

	qb_list_for_each_entry(s, &rs->running, list)
		if (!s->orphan && same_request(&s->req, h))
			return s;
	return NULL;
}

static void serve_done(struct backend_io *io, int status)
{
	struct serve_io *s = (struct serve_io *)io;
	struct remote *rs = s->rs;
	struct sender *snd;
	struct frame_hdr h;

	qb_list_del(&s->list);
	if (s->orphan) {
		serve_free(s);
		return;
	}
	/* Reads are harmless to repeat; everything else must not be. One
	 * that never started (its deadline passed first, or the lease) may
	 * run as another attempt. */
	snd = sender_find(rs, s->req.src_node);
	if (snd && s->io.op != VD_READ && status != -ETIMEDOUT && status != -EAGAIN)
		done_add(snd, &s->req, status);
	/* Only a read carries data back; the transport frees s once sent. */
	if (status || s->io.op != VD_READ) {
		answer(rs, &s->req, status);
		serve_free(s);
		return;
	}
	h = answer_hdr(&s->req, 0, 0);
	answer_log(&s->req, transport_send_buffer(rs->t, s->req.src_node, &h, s->frame,
						  s->io.length, serve_free, s));
}

/* Which of this node's paths the request means, or NULL if the mapping it
 * was routed with is not ours, or a reconfiguration cycle holds the disk
 * (the sender holds it too: this one was sent before), or a node that left
 * may still write to it (lease.h). */
static const struct db_path *path_check(const struct vdmap *m, const struct frame_hdr *h,
				       uint8_t op)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(m, h->disk);
	/* A mirror's leg or copy: part of a change its writer's drain waits
	 * for, so a hold does not stop it. */
	bool leg = d && d->mirror && h->status == 1 && op != VD_READ;

	if (!m || h->config != m->config || !m->quorate || !d || (d->held && !leg) ||
	    h->status < 0 || h->status > 1 || vdmap_disk_fenced(m, d, now_ns()))
		return NULL;
	if (d->paths[h->status].nodeid != m->local_nodeid)
		return NULL;
	/* A mirror's replica serves reads only up to date, changes while it
	 * is being copied too; the writer takes its clients' changes whatever
	 * its own replica's state (it sends them to those up to date). */
	if (d->mirror && d->state[h->status] != DB_REPLICA_UPTODATE &&
	    !(d->state[h->status] == DB_REPLICA_SYNCING && op != VD_READ) &&
	    !(h->status == 0 && op != VD_READ))
		return NULL;
	if (h->offset > d->size || h->length > d->size - h->offset)
		return NULL;
	return &d->paths[h->status];
}

/* What became of the attempt a probe names (remote.h). */
static void probe_receive(struct remote *rs, const struct frame_hdr *h)
{
	uint16_t probe = vd_opword(VD_PROBE, 0);
	const struct done_rec *done;
	struct serve_io *s;

	s = running_find(rs, h);
	if (s) {
		s->req.reqid = h->reqid;
		answer_op(rs, h, probe, -EINPROGRESS);
		return;
	}
	done = done_find(sender_find(rs, h->src_node), h);
	if (done)
		answer(rs, h, done->status);
	else
		answer_op(rs, h, probe, now_ns() < h->deadline ? -EINPROGRESS : -ETIMEDOUT);
}

/* Whether h is a change (or flush) of a mirror this node writes: a
 * client's, to be sent to every replica, not a leg (which names the
 * other path). */
static bool path_writes_mirror(const struct vdmap *m, const struct frame_hdr *h, uint8_t op)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(m, h->disk);

	return d->mirror && h->status == 0 && op != VD_READ;
}

static bool request_valid(const struct frame_hdr *h, uint8_t op, size_t len)
{
	if (op < VD_READ || op > VD_WRITE_ZEROES)
		return false;
	if (op == VD_READ && h->length > VD_IO_MAX)
		return false;
	return op != VD_WRITE || len == h->length;
}

static void request_receive(void *ctx, const struct frame_hdr *h, const void *payload,
			    size_t len)
{
	struct remote *rs = ctx;
	uint8_t op = vd_opword_op(h->op);
	const struct db_path *path;
	const struct done_rec *done;
	struct sender *snd;
	struct serve_io *s;
	size_t size;
	int rc;

	if (h->flags & FRAME_F_REPLY)
		return;
	if (op == VD_PROBE) {
		probe_receive(rs, h);
		return;
	}
	snd = sender_get(rs, h->src_node);
	if (!snd) {
		answer(rs, h, -ENOMEM);
		return;
	}
	sender_low(snd, h->low);
	/* A retry is known first: one that runs here must not be told "not
	 * run" (the sender would move it elsewhere while it runs). */
	s = running_find(rs, h);
	if (s) {
		/* Answered once, when it completes, as the attempt the
		 * sender waits for now. */
		s->req.reqid = h->reqid;
		return;
	}
	done = done_find(snd, h);
	if (done) {
		answer(rs, h, done->status);
		return;
	}
	/* Stopping: nothing new starts here (the sender waits and goes
	 * elsewhere once this node has left the group). */
	if (rs->quiescing) {
		answer(rs, h, -EAGAIN);
		return;
	}
	path = path_check(rs->map, h, op);
	if (!path) {
		answer(rs, h, -ESTALE);
		return;
	}
	if (!request_valid(h, op, len)) {
		answer(rs, h, -EINVAL);
		return;
	}
	/* Its sender has given up on it, or is about to. */
	if (!h->deadline || now_ns() >= h->deadline) {
		answer(rs, h, -ETIMEDOUT);
		return;
	}
	size = (op == VD_READ || op == VD_WRITE) ? h->length : 0;
	s = serve_alloc(size);
	if (!s) {
		answer(rs, h, -ENOMEM);
		return;
	}
	s->rs = rs;
	s->req = *h;
	s->orphan = false;
	if (op == VD_WRITE)
		memcpy(s->data, payload, size);
	s->io = (struct backend_io){
		.op = op,
		.flags = vd_opword_flags(h->op),
		.offset = h->offset,
		.length = h->length,
		.buf = s->data,
		.deadline = h->deadline,
		.done = serve_done,
		.inline_any = true,
	};
	qb_list_add_tail(&s->list, &rs->running);
	s->fanned = path_writes_mirror(rs->map, h, op);
	if (s->fanned)
		rc = rs->serve(rs->serve_ctx, h->src_node, h->disk, &s->io);
	else
		rc = backend_submit(rs->b, path->device, &s->io);
	if (rc) {
		qb_list_del(&s->list);
		serve_free(s);
		answer(rs, h, rc);
	}
}

/* The sender restarted: what it sent before is nobody's any more, and its
 * new life numbers requests afresh. */
static void remote_peer_reset(void *ctx, uint32_t nodeid)
{
	struct remote *rs = ctx;
	struct serve_io *s;
	size_t i;

	for (i = 0; i < rs->nsenders; i++) {
		if (rs->senders[i]->node != nodeid)
			continue;
		sender_free(rs->senders[i]);
		rs->senders[i] = rs->senders[--rs->nsenders];
		break;
	}
	qb_list_for_each_entry(s, &rs->running, list)
		if (s->req.src_node == nodeid)
			s->orphan = true;
}

void remote_quiesce(struct remote *rs)
{
	rs->quiescing = true;
}

bool remote_busy(const struct remote *rs)
{
	return !qb_list_empty(&rs->running);
}

bool remote_disk_busy(const struct remote *rs, uint32_t disk_id)
{
	const struct serve_io *s;

	/* A fanned change is the router's to account for: parked, it waits
	 * for the very cycle this drain is part of. */
	qb_list_for_each_entry(s, &rs->running, list)
		if (s->req.disk == disk_id && !s->fanned)
			return true;
	return false;
}

void remote_map_set(struct remote *rs, const struct vdmap *m)
{
	rs->map = m;
}

int remote_start(struct remote **out, struct transport *t, struct backend *b,
		 remote_serve_fn serve, void *serve_ctx)
{
	struct remote *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	rs->t = t;
	rs->b = b;
	rs->serve = serve;
	rs->serve_ctx = serve_ctx;
	qb_list_init(&rs->running);
	transport_client_register(t, TCLIENT_BACKEND, request_receive, remote_peer_reset, rs);
	*out = rs;
	return 0;
}

void remote_destroy(struct remote *rs)
{
	struct serve_io *s, *tmp;
	size_t i;

	if (!rs)
		return;
	qb_list_for_each_entry_safe(s, tmp, &rs->running, list) {
		qb_list_del(&s->list);
		serve_free(s);
	}
	for (i = 0; i < rs->nsenders; i++)
		sender_free(rs->senders[i]);
	free(rs);
}
