/*
 * The server side of remote I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "remote.h"
#include "router.h"

/* Completed requests remembered, one per slot by hash of (node, id): a
 * retransmission arrives within seconds, long before its slot is reused.
 * A request is known by its sender, the router's id without the attempt
 * number (router.h) and the path it names. A sender that restarts is
 * forgotten (remote_peer_reset), so its new life's requests always run. */
#define RECENT 8192

struct recent {
	uint32_t node;
	uint8_t path;
	uint64_t id;
	int32_t status;
};

struct remote {
	struct transport *t;
	struct backend *b;
	struct router *r;
	struct qb_list_head running;
	struct recent recent[RECENT];
};

/* One request being served. */
struct serve_io {
	struct backend_io io;
	struct qb_list_head list;
	struct remote *rs;
	/* As last received: a copy sent again while this runs moves the
	 * answer to its attempt. */
	struct frame_hdr req;
	/* The sender restarted meanwhile: nobody waits for the answer. */
	bool orphan;
	/* A read's answer leaves from here without a copy: the frame header
	 * goes right in front of the data. */
	uint8_t frame[FRAME_HDR_SIZE];
	uint8_t data[]; /* read result or write payload */
};

static struct frame_hdr answer_hdr(const struct frame_hdr *req, int status)
{
	return (struct frame_hdr){
		.client = TCLIENT_ROUTER,
		.flags = FRAME_F_REPLY,
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

/* An answer without data. */
static void answer(struct remote *rs, const struct frame_hdr *req, int status)
{
	struct frame_hdr h = answer_hdr(req, status);

	answer_log(req, transport_send(rs->t, req->src_node, &h, NULL, 0));
}

static struct recent *recent_slot(struct remote *rs, const struct frame_hdr *h)
{
	return &rs->recent[(vd_reqid_id(h->reqid) * 0x9e3779b97f4a7c15ull + h->src_node) % RECENT];
}

/* Both are requests of one sender's life (the same request, maybe another
 * attempt of it). */
static bool same_request(const struct frame_hdr *a, const struct frame_hdr *b)
{
	return vd_reqid_id(a->reqid) == vd_reqid_id(b->reqid) && a->src_node == b->src_node &&
	       a->status == b->status;
}

static const struct recent *recent_find(struct remote *rs, const struct frame_hdr *h)
{
	const struct recent *r = recent_slot(rs, h);

	if (r->node != h->src_node || r->id != vd_reqid_id(h->reqid) || r->path != h->status)
		return NULL;
	return r;
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
	struct frame_hdr h;

	qb_list_del(&s->list);
	if (s->orphan) {
		free(s);
		return;
	}
	/* Reads are harmless to repeat; everything else must not be. */
	if ((s->req.op & 0xff) != VD_READ)
		*recent_slot(rs, &s->req) = (struct recent){
			.node = s->req.src_node,
			.path = (uint8_t)s->req.status,
			.id = vd_reqid_id(s->req.reqid),
			.status = status,
		};
	/* Only a read carries data back; the transport frees s once sent. */
	if (status || (s->req.op & 0xff) != VD_READ) {
		answer(rs, &s->req, status);
		free(s);
		return;
	}
	h = answer_hdr(&s->req, 0);
	answer_log(&s->req, transport_send_buffer(rs->t, s->req.src_node, &h, s->frame,
						  s->io.length, free, s));
}

/* Which of this node's paths the request means, or NULL if the mapping it
 * was routed with is not ours. */
static const struct db_path *path_check(const struct vdmap *m, const struct frame_hdr *h)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(m, h->disk);

	if (!m || h->config != m->config || !m->quorate || !d || h->status < 0 || h->status > 1)
		return NULL;
	if (d->paths[h->status].nodeid != m->local_nodeid)
		return NULL;
	if (h->offset > d->size || h->length > d->size - h->offset)
		return NULL;
	return &d->paths[h->status];
}

static void request_receive(void *ctx, const struct frame_hdr *h, const void *payload,
			    size_t len)
{
	struct remote *rs = ctx;
	const struct vdmap *m = router_map(rs->r);
	const struct db_path *path = path_check(m, h);
	uint8_t op = h->op & 0xff;
	const struct recent *done;
	struct serve_io *s;
	size_t size;
	int rc;

	if (h->flags & FRAME_F_REPLY)
		return;
	if (!path) {
		answer(rs, h, -ESTALE);
		return;
	}
	s = running_find(rs, h);
	if (s) {
		/* Answered once, when it completes, as the attempt the
		 * sender waits for now. */
		s->req.reqid = h->reqid;
		return;
	}
	done = recent_find(rs, h);
	if (done) {
		answer(rs, h, done->status);
		return;
	}
	if (op < VD_READ || op > VD_WRITE_ZEROES || (op == VD_READ && h->length > VD_IO_MAX) ||
	    (op == VD_WRITE && len != h->length)) {
		answer(rs, h, -EINVAL);
		return;
	}
	size = (op == VD_READ || op == VD_WRITE) ? h->length : 0;
	s = malloc(sizeof(*s) + size);
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
		.flags = (uint8_t)(h->op >> 8),
		.offset = h->offset,
		.length = h->length,
		.buf = s->data,
		.done = serve_done,
		.inline_any = true,
	};
	qb_list_add_tail(&s->list, &rs->running);
	rc = backend_submit(rs->b, path->device, &s->io);
	if (rc) {
		qb_list_del(&s->list);
		free(s);
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

	for (i = 0; i < RECENT; i++)
		if (rs->recent[i].node == nodeid)
			rs->recent[i] = (struct recent){ 0 };
	qb_list_for_each_entry(s, &rs->running, list)
		if (s->req.src_node == nodeid)
			s->orphan = true;
}

int remote_start(struct remote **out, struct transport *t, struct backend *b, struct router *r)
{
	struct remote *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	rs->t = t;
	rs->b = b;
	rs->r = r;
	qb_list_init(&rs->running);
	transport_client_register(t, TCLIENT_BACKEND, request_receive, remote_peer_reset, rs);
	*out = rs;
	return 0;
}

void remote_destroy(struct remote *rs)
{
	struct serve_io *s, *tmp;

	if (!rs)
		return;
	/* The backend goes next and takes the I/O with it. */
	qb_list_for_each_entry_safe(s, tmp, &rs->running, list) {
		qb_list_del(&s->list);
		free(s);
	}
	free(rs);
}
