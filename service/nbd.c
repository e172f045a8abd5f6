/*
 * The NBD server on the data-plane loop.
 *
 * A connection reads into a fixed buffer and decodes what is complete: the
 * client flags, then options, then requests. A WRITE's data goes straight
 * into the buffer of its request. Each request is one struct nbd_req with
 * its data buffer, handed to router_submit() and freed after its reply went
 * out. Replies wait in a per-connection queue that is written as the socket
 * takes it (sockets are non-blocking).
 *
 * Back-pressure: a connection stops decoding requests while it has
 * INFLIGHT_MAX requests in the router or HELD_MAX bytes of buffers and
 * queued replies, and goes on (a loop job) when it falls below.
 *
 * Closing: a connection that must end after its answers (NBD_CMD_DISC,
 * NBD_OPT_ABORT, a WRITE too large to skip) stops reading and closes once
 * it has nothing in flight and nothing queued. A closed connection whose
 * requests are still in the router gives up its socket and buffers at once
 * and is freed by the last done() (so done() never finds freed memory), or
 * by nbd_destroy() once the router is gone.
 *
 * Limits: a client has HANDSHAKE_MS to reach transmission, or is dropped (a
 * half-open handshake holds a descriptor and buffers); at most CONNS_MAX
 * connections are open, half of them at most over TCP (so anonymous clients
 * cannot lock local ones out), one more is accepted and closed at once (so
 * the listener's backlog does not fill); a listener takes at most
 * ACCEPT_BATCH connections per loop turn; when the process is out of
 * descriptors (EMFILE, ENFILE) or memory, the listeners pause for
 * ACCEPT_PAUSE_MS instead of failing accept() over and over.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <qb/qblist.h>
#include <qb/qblog.h>

#include "listen_socket.h"
#include "nbd.h"
#include "nbd_peer.h"
#include "nbd_proto.h"

#define RBUF_SIZE (256 * 1024)
#define READS_PER_EVENT 16
#define IOV_BATCH 64
#define INFLIGHT_MAX 128
#define HELD_MAX (64u * 1024 * 1024)
/* Data buffers are page aligned, so the backend can use O_DIRECT. */
#define BUF_ALIGN 4096
#define HANDSHAKE_MS 10000
#define CONNS_MAX 1024
#define ACCEPT_BATCH 32
#define ACCEPT_PAUSE_MS 200

/* Everything is offered; all I/O goes through this daemon's router, so
 * connections to the same disk see each other's writes and flushes. */
#define TFLAGS_BASE                                                                        \
	(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | \
	 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN)

_Static_assert(NBD_OPT_HDR_SIZE + NBD_OPT_DATA_MAX <= RBUF_SIZE, "an option fits the buffer");
_Static_assert(VD_IO_MAX <= UINT32_MAX - 8, "a read fits one OFFSET_DATA chunk");

enum conn_state {
	CS_FLAGS, /* greeting sent, waiting for the client flags */
	CS_OPTIONS,
	CS_TRANSMISSION,
};

struct nbd {
	struct router *r;
	struct dloop *loop;
	int unix_fd;
	int tcp_fd;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct qb_list_head conns;
	size_t nopen; /* connections with their socket still open */
	size_t nopen_tcp; /* of which over TCP */
	dloop_timer_t accept_pause; /* set: the listeners are out of the loop */
	bool accept_logged; /* the reason of the pause, or of a refusal, was logged */
	struct nbd_allow allow;
	struct inuse *inuse; /* who has which disk open: the connections in transmission */
};

/* The export a connection negotiated (or an INFO describes). */
struct nbd_export {
	char name[VDISK_NAME_MAX + 1];
	uint32_t disk_id;
	uint64_t size;
	uint16_t tflags;
	char description[96];
};

struct nbd_conn {
	struct qb_list_head list; /* nbd->conns */
	struct nbd *n;
	int fd; /* -1 once closed, kept only for requests in the router */
	char peer[96]; /* for logs */
	struct nbd_cred cred;
	enum conn_state state;
	bool no_zeroes;
	bool structured;
	bool disk_gone; /* logged that the export was deleted */
	/* Set: no more input, close with this reason when all is answered. */
	const char *draining;
	bool paused; /* stopped decoding at the back-pressure limits */
	bool resume_queued;
	bool flush_queued; /* answers go out at the end of the loop turn */
	dloop_timer_t hs_timer; /* until transmission */
	int32_t events; /* polled for */
	struct nbd_export exp;
	uint64_t inuse_token; /* in transmission: the disk counts this client */
	/* input */
	uint8_t *rbuf;
	size_t rpos, rlen;
	struct nbd_req *filling; /* a WRITE whose data is arriving */
	uint32_t skip; /* data of a refused WRITE still to discard */
	/* output */
	struct qb_list_head outq;
	struct qb_list_head reqs; /* in the router */
	uint32_t inflight;
	size_t held; /* bytes of request buffers and queued replies */
};

struct nbd_req {
	struct vd_request vr;
	struct qb_list_head link; /* conn->reqs while in the router */
	struct nbd_conn *c;
	struct nbd_request r; /* as the client sent it */
	uint32_t filled; /* WRITE: data bytes received */
};

/* One reply on its way out: hdr, then data of the owning request. */
struct out_ent {
	struct qb_list_head list;
	struct nbd_req *owner;
	const uint8_t *data;
	size_t dlen;
	size_t off; /* bytes of hdr and data already sent */
	size_t hlen;
	uint8_t hdr[];
};

/* Requests and their buffers */

static void req_free(struct nbd_req *q)
{
	if (q->vr.buf)
		q->c->held -= q->vr.length;
	free(q->vr.buf);
	free(q);
}

static struct nbd_req *req_new(struct nbd_conn *c, const struct nbd_request *r)
{
	struct nbd_req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->c = c;
	q->r = *r;
	q->vr.offset = r->offset;
	q->vr.length = r->length;
	if (r->type == NBD_CMD_TRIM || r->type == NBD_CMD_WRITE_ZEROES)
		q->vr.length = vd_range_piece(r->length);
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && r->length) {
		if (posix_memalign(&q->vr.buf, BUF_ALIGN, r->length)) {
			free(q);
			return NULL;
		}
		c->held += r->length;
	}
	return q;
}

/* Output */

static void out_free(struct nbd_conn *c, struct out_ent *e)
{
	qb_list_del(&e->list);
	c->held -= e->hlen;
	if (e->owner)
		req_free(e->owner);
	free(e);
}

/* Queues hdr and then dlen bytes of data from owner, which the queue owns
 * from now on, also when it cannot take it (-ENOMEM). */
static int out_queue(struct nbd_conn *c, const void *hdr, size_t hlen, struct nbd_req *owner,
		     size_t dlen)
{
	struct out_ent *e = malloc(sizeof(*e) + hlen);

	if (!e) {
		if (owner)
			req_free(owner);
		return -ENOMEM;
	}
	memcpy(e->hdr, hdr, hlen);
	e->hlen = hlen;
	e->owner = owner;
	e->data = owner ? owner->vr.buf : NULL;
	e->dlen = dlen;
	e->off = 0;
	c->held += hlen;
	qb_list_add_tail(&e->list, &c->outq);
	return 0;
}

/* Queues bytes that are all in buf. */
static int queue(struct nbd_conn *c, const uint8_t *buf, size_t len)
{
	return out_queue(c, buf, len, NULL, 0);
}

/* Writes what the socket takes. -errno when the connection is dead. */
static int conn_flush(struct nbd_conn *c)
{
	struct iovec iov[IOV_BATCH];
	struct msghdr msg = { .msg_iov = iov };
	struct out_ent *e, *tmp;
	ssize_t n;

	while (!qb_list_empty(&c->outq)) {
		size_t cnt = 0;

		qb_list_for_each_entry(e, &c->outq, list) {
			if (cnt + 2 > IOV_BATCH)
				break;
			if (e->off < e->hlen)
				iov[cnt++] = (struct iovec){ e->hdr + e->off, e->hlen - e->off };
			if (e->dlen) {
				size_t done = e->off > e->hlen ? e->off - e->hlen : 0;

				iov[cnt++] =
					(struct iovec){ (void *)(e->data + done), e->dlen - done };
			}
		}
		msg.msg_iovlen = cnt;
		/* A client gone away must not kill the daemon with SIGPIPE. */
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		qb_list_for_each_entry_safe(e, tmp, &c->outq, list) {
			size_t left = e->hlen + e->dlen - e->off;

			if ((size_t)n < left) {
				e->off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			out_free(c, e);
		}
	}
	return 0;
}

static int opt_reply(struct nbd_conn *c, uint32_t option, uint32_t type, const char *msg)
{
	uint8_t buf[NBD_OPT_REPLY_MAX];

	return queue(c, buf, nbd_rep_encode(buf, option, type, msg, msg ? strlen(msg) : 0));
}

/* Answers r with err (0 or -errno); the queue takes q (may be NULL),
 * whose buffer holds a good READ's data. */
static int reply(struct nbd_conn *c, const struct nbd_request *r, int err, struct nbd_req *q)
{
	const char *msg = err == -ESHUTDOWN ? "the virtual disk was deleted" : strerror(-err);
	uint8_t buf[NBD_REPLY_HDR_MAX];

	return out_queue(c, buf, nbd_reply_encode(buf, r, c->structured, err, msg), q,
			 !err && r->type == NBD_CMD_READ ? r->length : 0);
}

/* Connection life */

static void conn_free(struct nbd_conn *c)
{
	inuse_close(c->n->inuse, c->inuse_token);
	qb_list_del(&c->list);
	free(c->cred.groups);
	free(c);
}

static void conn_resume(void *data);
static void conn_flush_turn(void *data);

static void conn_close(struct nbd_conn *c, const char *why)
{
	struct out_ent *e, *tmp;

	qb_log(LOG_INFO, "nbd: %s: closed (%s)", c->peer, why);
	dloop_poll_del(c->n->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->n->nopen--;
	c->n->nopen_tcp -= !c->cred.local;
	dloop_timer_del(c->n->loop, c->hs_timer);
	c->hs_timer = 0;
	if (c->resume_queued)
		dloop_job_del(c->n->loop, c, conn_resume);
	if (c->flush_queued)
		dloop_job_del(c->n->loop, c, conn_flush_turn);
	qb_list_for_each_entry_safe(e, tmp, &c->outq, list)
		out_free(c, e);
	if (c->filling)
		req_free(c->filling);
	c->filling = NULL;
	free(c->rbuf);
	c->rbuf = NULL;
	if (!c->inflight)
		conn_free(c);
}

static bool conn_may_decode(const struct nbd_conn *c)
{
	return c->state != CS_TRANSMISSION || (c->inflight < INFLIGHT_MAX && c->held < HELD_MAX);
}

static int conn_event(int32_t fd, int32_t revents, void *data);

/* After every event: sends what is queued, closes a drained connection,
 * resumes decoding below the limits and polls for what is wanted now. */
static void conn_settle(struct nbd_conn *c, int rc)
{
	int32_t events = 0;

	if (rc == 0)
		rc = conn_flush(c);
	/* A client that said goodbye may hang up before reading the last
	 * answer; that is not worth a different reason. */
	if (rc) {
		conn_close(c, c->draining ? c->draining :
			      rc == -ECONNRESET ? "closed by the client" : strerror(-rc));
		return;
	}
	if (c->draining && !c->inflight && qb_list_empty(&c->outq)) {
		conn_close(c, c->draining);
		return;
	}
	if (c->paused && !c->resume_queued && conn_may_decode(c) &&
	    dloop_job_add(c->n->loop, c, conn_resume) == 0)
		c->resume_queued = true;
	if (!c->draining && !c->paused)
		events |= POLLIN;
	if (!qb_list_empty(&c->outq))
		events |= POLLOUT;
	if (events != c->events &&
	    dloop_poll_mod(c->n->loop, c->fd, events, c, conn_event) == 0)
		c->events = events;
}

/* Requests */

static int req_submit(struct nbd_conn *c, struct nbd_req *q);

static void req_done(struct vd_request *vr, int status)
{
	struct nbd_req *q = vr->ctx;
	struct nbd_conn *c = q->c;
	uint64_t end = q->r.offset + q->r.length;

	c->inflight--;
	qb_list_del(&q->link);
	if (c->fd < 0) {
		req_free(q);
		if (!c->inflight)
			conn_free(c);
		return;
	}
	/* The next piece of a long trim or write-zeroes; the client hears
	 * once, when the last is done or one failed. */
	if (!status && vr->offset + vr->length < end) {
		vr->offset += vr->length;
		vr->length = vd_range_piece(end - vr->offset);
		conn_settle(c, req_submit(c, q));
		return;
	}
	/* Whatever the path said, a disk deleted or stopped here is the
	 * client's cue to go. */
	if (status && !vdmap_export_by_id(router_map(c->n->r), c->exp.disk_id))
		status = -ESHUTDOWN;
	status = reply(c, &q->r, status, q);
	/* The answers completed in one loop turn leave in one sendmsg. */
	if (!status && c->flush_queued)
		return;
	if (!status && dloop_job_add(c->n->loop, c, conn_flush_turn) == 0) {
		c->flush_queued = true;
		return;
	}
	conn_settle(c, status);
}

static void conn_flush_turn(void *data)
{
	struct nbd_conn *c = data;

	c->flush_queued = false;
	conn_settle(c, 0);
}

static int req_submit(struct nbd_conn *c, struct nbd_req *q)
{
	static const uint8_t ops[] = {
		[NBD_CMD_READ] = VD_READ,	  [NBD_CMD_WRITE] = VD_WRITE,
		[NBD_CMD_FLUSH] = VD_FLUSH,	  [NBD_CMD_TRIM] = VD_TRIM,
		[NBD_CMD_WRITE_ZEROES] = VD_WRITE_ZEROES,
	};
	int rc;

	/* Nothing to move: no need to bother the router. */
	if (!q->vr.length && q->r.type != NBD_CMD_FLUSH)
		return reply(c, &q->r, 0, q);
	q->vr.disk_id = c->exp.disk_id;
	q->vr.op = ops[q->r.type];
	q->vr.flags = ((q->r.flags & NBD_CMD_FLAG_FUA) ? VD_F_FUA : 0) |
		      ((q->r.flags & NBD_CMD_FLAG_NO_HOLE) ? VD_F_NO_HOLE : 0);
	q->vr.done = req_done;
	q->vr.ctx = q;
	c->inflight++;
	qb_list_add_tail(&q->link, &c->reqs);
	rc = router_submit(c->n->r, &q->vr);
	if (rc == 0)
		return 0;
	c->inflight--;
	qb_list_del(&q->link);
	/* Deleted since the request came in (between the pieces of one):
	 * the client's cue to go, as in req_done(). */
	return reply(c, &q->r, rc == -ENODEV ? -ESHUTDOWN : rc, q);
}

/* The WRITE being filled got all its data: off to the router. */
static int fill_complete(struct nbd_conn *c)
{
	struct nbd_req *q = c->filling;

	if (q->filled < q->vr.length)
		return 0;
	c->filling = NULL;
	return req_submit(c, q);
}

/* A request refused before it reaches the router; a WRITE's data is
 * skipped, unless there is too much of it to trust the stream after. */
static int request_refuse(struct nbd_conn *c, const struct nbd_request *r, int err)
{
	if (r->type == NBD_CMD_WRITE && r->length > VD_IO_MAX) {
		qb_log(LOG_WARNING,
		       "nbd: %s: write of %" PRIu32 " bytes over the limit of %u, disconnecting",
		       c->peer, r->length, VD_IO_MAX);
		c->draining = "write over the size limit";
	} else if (r->type == NBD_CMD_WRITE) {
		c->skip = r->length;
	}
	return reply(c, r, err, NULL);
}

static int conn_request(struct nbd_conn *c, const uint8_t *p, size_t avail, size_t *used)
{
	struct nbd_request r;
	struct nbd_req *q;
	int rc = nbd_request_decode(p, avail, &r);

	if (rc == -EAGAIN)
		return 0;
	if (rc) {
		qb_log(LOG_WARNING, "nbd: %s: bad request magic, disconnecting", c->peer);
		return rc;
	}
	*used = NBD_REQUEST_SIZE;
	if (r.type == NBD_CMD_DISC) {
		c->draining = "client disconnected";
		return 0;
	}
	if (!vdmap_export_by_id(router_map(c->n->r), c->exp.disk_id)) {
		if (!c->disk_gone)
			qb_log(LOG_NOTICE,
			       "nbd: %s: '%s' was deleted or stopped on this node; refusing its requests",
			       c->peer, c->exp.name);
		c->disk_gone = true;
		return request_refuse(c, &r, -ESHUTDOWN);
	}
	rc = nbd_request_check(&r, c->exp.size, c->exp.tflags, VD_IO_MAX);
	if (rc)
		return request_refuse(c, &r, rc);
	q = req_new(c, &r);
	if (!q)
		return request_refuse(c, &r, -ENOMEM);
	if (r.type != NBD_CMD_WRITE || !r.length)
		return req_submit(c, q);
	c->filling = q;
	return 0;
}

/* Handshake */

static int conn_client_flags(struct nbd_conn *c, const uint8_t *p, size_t avail, size_t *used)
{
	uint32_t flags;
	int rc = nbd_client_flags_decode(p, avail, &flags);

	if (rc == -EAGAIN)
		return 0;
	if (rc) {
		qb_log(LOG_WARNING, "nbd: %s: unknown client flags 0x%" PRIx32 ", disconnecting",
		       c->peer, flags);
		return rc;
	}
	*used = NBD_CLIENT_FLAGS_SIZE;
	c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	c->state = CS_OPTIONS;
	return 0;
}

/* Looks name up for this peer: 0 with e filled in, or the NBD_REP_ERR_* to
 * refuse with and a message for the log, which *tell says the client may
 * read too. A disk the peer may not read is refused exactly as a missing
 * one (DESIGN.md, I5: no probe of what it may not open); only the log says
 * why. One it may read but stopped here (stopped.h) is refused as such. */
static uint32_t export_find(struct nbd_conn *c, const char *name, struct nbd_export *e, char *msg,
			    size_t msglen, bool *tell)
{
	const struct vdmap_disk *d = vdmap_disk_by_name(router_map(c->n->r), name);
	unsigned int access;
	int n;

	*tell = false;
	if (!d) {
		snprintf(msg, msglen, "no virtual disk named '%s'", name);
		return NBD_REP_ERR_UNKNOWN;
	}
	access = nbd_access(&c->cred, d->uid, d->gid, d->mode);
	if (!(access & NBD_ACCESS_READ)) {
		snprintf(msg, msglen,
			 "permission denied: '%s' is owned by uid %" PRIu32 " gid %" PRIu32
			 " with mode %04" PRIo32 "%s; answered as a missing disk",
			 name, d->uid, d->gid, d->mode,
			 c->cred.local ? "" : " (TCP clients count as others)");
		return NBD_REP_ERR_UNKNOWN;
	}
	if (d->stopped) {
		snprintf(msg, msglen, "'%s' is stopped on this node: not served to its clients here",
			 name);
		*tell = true;
		return NBD_REP_ERR_UNKNOWN;
	}
	snprintf(e->name, sizeof(e->name), "%s", d->name);
	e->disk_id = d->id;
	e->size = d->size;
	e->tflags = TFLAGS_BASE | ((access & NBD_ACCESS_WRITE) ? 0 : NBD_FLAG_READ_ONLY);
	n = snprintf(e->description, sizeof(e->description),
		     "vdisk virtual disk, primary node %" PRIu32, d->paths[0].nodeid);
	if (d->paths[1].nodeid && n > 0 && (size_t)n < sizeof(e->description))
		snprintf(e->description + n, sizeof(e->description) - (size_t)n,
			 ", secondary node %" PRIu32, d->paths[1].nodeid);
	return 0;
}

static void transmission_enter(struct nbd_conn *c, const struct nbd_export *e)
{
	c->exp = *e;
	c->state = CS_TRANSMISSION;
	c->inuse_token = inuse_open(c->n->inuse, e->name, INUSE_NBD, c->cred.pid);
	dloop_timer_del(c->n->loop, c->hs_timer);
	c->hs_timer = 0;
	qb_log(LOG_INFO, "nbd: %s: serving '%s'%s%s", c->peer, e->name,
	       (e->tflags & NBD_FLAG_READ_ONLY) ? " read-only" : "",
	       c->structured ? " with structured replies" : "");
}

/* NBD_OPT_EXPORT_NAME cannot be answered with an error: a refusal closes. */
static int opt_export_name(struct nbd_conn *c, const struct nbd_opt *o)
{
	uint8_t buf[NBD_EXPORT_REPLY_SIZE];
	struct nbd_export e;
	char msg[256];
	bool tell;

	if (export_find(c, o->name, &e, msg, sizeof(msg), &tell)) {
		qb_log(LOG_NOTICE, "nbd: %s: %s, disconnecting", c->peer, msg);
		return -EACCES;
	}
	transmission_enter(c, &e);
	return queue(c, buf, nbd_export_reply_encode(buf, e.size, e.tflags, !c->no_zeroes));
}

/* NBD_OPT_INFO and NBD_OPT_GO: the export, its block sizes (always: the
 * maximum is what this server enforces), what else was asked for, and the
 * ACK, all at once. The replies before the last are short, so buf has
 * room for a full NBD_OPT_REPLY_MAX after each. */
static int opt_info(struct nbd_conn *c, const struct nbd_opt *o)
{
	uint8_t buf[2 * NBD_OPT_REPLY_MAX], *p = buf;
	struct nbd_export e;
	char msg[256];
	bool tell;
	uint32_t err = export_find(c, o->name, &e, msg, sizeof(msg), &tell);
	int rc;

	if (err) {
		qb_log(LOG_NOTICE, "nbd: %s: %s", c->peer, msg);
		if (!tell)
			snprintf(msg, sizeof(msg), "no virtual disk named '%s'", o->name);
		return opt_reply(c, o->option, err, msg);
	}
	p += nbd_rep_info_export_encode(p, o->option, e.size, e.tflags);
	if (o->info & (1u << NBD_INFO_NAME))
		p += nbd_rep_info_string_encode(p, o->option, NBD_INFO_NAME, e.name);
	if (o->info & (1u << NBD_INFO_DESCRIPTION))
		p += nbd_rep_info_string_encode(p, o->option, NBD_INFO_DESCRIPTION, e.description);
	p += nbd_rep_info_block_size_encode(p, o->option, NBD_BLOCK_MIN, NBD_BLOCK_PREFERRED,
					    VD_IO_MAX);
	p += nbd_rep_encode(p, o->option, NBD_REP_ACK, NULL, 0);
	rc = queue(c, buf, (size_t)(p - buf));
	if (!rc && o->option == NBD_OPT_GO)
		transmission_enter(c, &e);
	return rc;
}

static int opt_list(struct nbd_conn *c)
{
	const struct vdmap *m = router_map(c->n->r);
	uint8_t buf[NBD_OPT_REPLY_MAX];
	size_t i;
	int rc = 0;

	/* Only what this client may read: names are not everybody's business,
	 * least of all a TCP client's. */
	for (i = 0; m && i < m->ndisks && !rc; i++) {
		const struct vdmap_disk *d = &m->disks[i];

		if (!d->stopped && (nbd_access(&c->cred, d->uid, d->gid, d->mode) & NBD_ACCESS_READ))
			rc = queue(c, buf, nbd_rep_server_encode(buf, NBD_OPT_LIST, d->name));
	}
	return rc ? rc : opt_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL);
}

static int conn_option(struct nbd_conn *c, const uint8_t *p, size_t avail, size_t *used)
{
	struct nbd_opt_hdr h;
	struct nbd_opt o;
	char msg[64];
	int rc = nbd_opt_hdr_decode(p, avail, &h);

	if (rc == -EAGAIN)
		return 0;
	if (rc) {
		qb_log(LOG_WARNING, "nbd: %s: %s, disconnecting", c->peer,
		       rc == -EPROTO ? "bad option magic" : "option data too long");
		return rc;
	}
	if (avail - NBD_OPT_HDR_SIZE < h.length)
		return 0;
	*used = NBD_OPT_HDR_SIZE + h.length;
	rc = nbd_opt_decode(h.option, p + NBD_OPT_HDR_SIZE, h.length, &o);
	if (rc == -EOPNOTSUPP) {
		snprintf(msg, sizeof(msg), "option %" PRIu32 " is not supported", h.option);
		return opt_reply(c, h.option, NBD_REP_ERR_UNSUP, msg);
	}
	if (rc && h.option == NBD_OPT_EXPORT_NAME) {
		qb_log(LOG_WARNING, "nbd: %s: malformed export name, disconnecting", c->peer);
		return rc;
	}
	if (rc)
		return opt_reply(c, h.option, NBD_REP_ERR_INVALID, "malformed option data");
	switch (h.option) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(c, &o);
	case NBD_OPT_ABORT:
		c->draining = "client ended the handshake";
		return opt_reply(c, h.option, NBD_REP_ACK, NULL);
	case NBD_OPT_LIST:
		return opt_list(c);
	case NBD_OPT_STRUCTURED_REPLY:
		if (c->structured)
			return opt_reply(c, h.option, NBD_REP_ERR_INVALID,
					 "structured replies are already on");
		c->structured = true;
		return opt_reply(c, h.option, NBD_REP_ACK, NULL);
	default:
		return opt_info(c, &o);
	}
}

/* Input */

static int conn_input(struct nbd_conn *c)
{
	int rc = 0;

	c->paused = false;
	while (rc == 0 && !c->draining) {
		const uint8_t *p = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos, used = 0;

		if (c->skip) {
			used = avail < c->skip ? avail : c->skip;
			c->skip -= (uint32_t)used;
		} else if (c->filling) {
			struct nbd_req *q = c->filling;

			used = q->vr.length - q->filled;
			used = avail < used ? avail : used;
			memcpy((uint8_t *)q->vr.buf + q->filled, p, used);
			q->filled += (uint32_t)used;
			rc = fill_complete(c);
		} else if (c->state == CS_FLAGS) {
			rc = conn_client_flags(c, p, avail, &used);
		} else if (c->state == CS_OPTIONS) {
			rc = conn_option(c, p, avail, &used);
		} else if (conn_may_decode(c)) {
			rc = conn_request(c, p, avail, &used);
		} else {
			c->paused = true;
		}
		if (!used)
			break;
		c->rpos += used;
	}
	return rc;
}

static int conn_read(struct nbd_conn *c)
{
	int i, rc = 0;

	for (i = 0; i < READS_PER_EVENT && rc == 0 && !c->draining && !c->paused; i++) {
		struct nbd_req *q = c->filling;
		ssize_t n;

		if (c->rpos) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		/* Large WRITE data skips the copy through the input buffer. */
		if (q && c->rlen == 0)
			n = read(c->fd, (uint8_t *)q->vr.buf + q->filled, q->vr.length - q->filled);
		else
			n = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (q && c->rlen == 0) {
			q->filled += (uint32_t)n;
			rc = fill_complete(c);
		} else {
			c->rlen += (size_t)n;
		}
		if (rc == 0)
			rc = conn_input(c);
	}
	return rc;
}

static int conn_event(int32_t fd, int32_t revents, void *data)
{
	struct nbd_conn *c = data;
	int rc = 0;

	if (revents & POLLIN)
		rc = conn_read(c);
	if (rc == 0 && (revents & (POLLERR | POLLHUP)) && !(revents & POLLIN))
		rc = -ECONNRESET;
	conn_settle(c, rc);
	return 0;
}

static void conn_resume(void *data)
{
	struct nbd_conn *c = data;

	c->resume_queued = false;
	conn_settle(c, conn_input(c));
}

static void conn_hs_timeout(void *data)
{
	struct nbd_conn *c = data;

	c->hs_timer = 0;
	qb_log(LOG_WARNING, "nbd: %s: no export chosen within %d ms of connecting", c->peer,
	       HANDSHAKE_MS);
	conn_close(c, "handshake timeout");
}

static void conn_open(struct nbd *n, int fd, const struct sockaddr_storage *tcp)
{
	uint8_t greeting[NBD_GREETING_SIZE];
	struct nbd_conn *c;
	int rc = -ENOMEM;

	if (n->nopen >= CONNS_MAX || (tcp && n->nopen_tcp >= CONNS_MAX / 2)) {
		if (!n->accept_logged)
			qb_log(LOG_WARNING, "nbd: %zu connections open, %zu over TCP (limits %d, "
			       "%d): refusing more", n->nopen, n->nopen_tcp, CONNS_MAX,
			       CONNS_MAX / 2);
		n->accept_logged = true;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out_close;
	c->n = n;
	c->fd = fd;
	c->events = POLLIN;
	/* A reply is one write that nothing follows soon: Nagle would hold
	 * it for the client's delayed ACK. */
	if (tcp) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	qb_list_init(&c->outq);
	qb_list_init(&c->reqs);
	c->rbuf = malloc(RBUF_SIZE);
	rc = c->rbuf ? nbd_peer_identify(fd, tcp, &c->cred, c->peer, sizeof(c->peer)) : -ENOMEM;
	if (rc)
		goto out_free;
	rc = dloop_timer_add(n->loop, HANDSHAKE_MS * 1000000ull, c, conn_hs_timeout, &c->hs_timer);
	if (rc)
		goto out_free;
	rc = dloop_poll_add(n->loop, fd, c->events, c, conn_event);
	if (rc)
		goto out_timer;
	n->nopen++;
	n->nopen_tcp += !c->cred.local;
	qb_list_add_tail(&c->list, &n->conns);
	qb_log(LOG_INFO, "nbd: %s: connected", c->peer);
	conn_settle(c, queue(c, greeting, nbd_greeting_encode(greeting)));
	return;

out_timer:
	dloop_timer_del(n->loop, c->hs_timer);
out_free:
	free(c->rbuf);
	free(c->cred.groups);
	free(c);
out_close:
	qb_log(LOG_WARNING, "nbd: cannot take a connection: %s", strerror(-rc));
	close(fd);
}

/* Listeners */

static int listen_event(int32_t fd, int32_t revents, void *data);

static void listeners_poll(struct nbd *n)
{
	if (dloop_poll_add(n->loop, n->unix_fd, POLLIN, n, listen_event))
		qb_log(LOG_ERR, "nbd: cannot poll %s", n->socket_path);
	if (n->tcp_fd >= 0 && dloop_poll_add(n->loop, n->tcp_fd, POLLIN, n, listen_event))
		qb_log(LOG_ERR, "nbd: cannot poll the TCP listener");
}

static void accept_resume(void *data)
{
	struct nbd *n = data;

	n->accept_pause = 0;
	listeners_poll(n);
}

/* Out of descriptors or memory: the pending connection stays in the
 * backlog, and a level-triggered listener would wake this thread again at
 * once; it leaves the loop for a while instead. Logged once until an accept
 * succeeds again. */
static void accept_pause(struct nbd *n, int err)
{
	if (!n->accept_logged)
		qb_log(LOG_WARNING, "nbd: accept: %s; pausing %d ms at a time until it works",
		       strerror(err), ACCEPT_PAUSE_MS);
	n->accept_logged = true;
	if (dloop_timer_add(n->loop, ACCEPT_PAUSE_MS * 1000000ull, n, accept_resume,
			    &n->accept_pause))
		return; /* no memory for the timer either: try again at the next event */
	dloop_poll_del(n->loop, n->unix_fd);
	if (n->tcp_fd >= 0)
		dloop_poll_del(n->loop, n->tcp_fd);
}

static int listen_event(int32_t fd, int32_t revents, void *data)
{
	struct nbd *n = data;
	struct sockaddr_storage ss;
	socklen_t len;
	int cfd, i;

	/* The rest waits for the next turn: requests are served between. */
	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			break;
		if (n->nopen < CONNS_MAX && n->nopen_tcp < CONNS_MAX / 2)
			n->accept_logged = false;
		/* Outside [nbd] allow: closed before the greeting. */
		if (fd == n->tcp_fd && !nbd_allow_check(&n->allow, &ss)) {
			close(cfd);
			continue;
		}
		conn_open(n, cfd, fd == n->tcp_fd ? &ss : NULL);
	}
	if (i == ACCEPT_BATCH)
		return 0;
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
		accept_pause(n, errno);
	else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		qb_log(LOG_WARNING, "nbd: accept: %s", strerror(errno));
	return 0;
}

/* Data thread: the listeners join the loop. */
static void listeners_attach(void *arg)
{
	struct nbd **box = arg;
	struct nbd *n = *box;

	free(box);
	listeners_poll(n);
}

int nbd_start(struct nbd **out, struct transport *t, struct router *r, struct inuse *inuse,
	      const struct vdisk_config *cfg)
{
	struct nbd *n = calloc(1, sizeof(*n));
	struct nbd **box;
	int rc;

	if (!n)
		return -ENOMEM;
	n->r = r;
	n->inuse = inuse;
	/* A getter: the loop exists from transport_start() to _stop(). */
	n->loop = transport_loop(t);
	n->unix_fd = -1;
	n->tcp_fd = -1;
	n->allow.n = cfg->nnbd_allow;
	memcpy(n->allow.nets, cfg->nbd_allow, sizeof(n->allow.nets));
	qb_list_init(&n->conns);
	rc = listen_unix(cfg->nbd_socket, &n->unix_fd);
	if (rc) {
		qb_log(LOG_ERR, "nbd: cannot listen on %s: %s", cfg->nbd_socket, strerror(-rc));
		goto out_free;
	}
	rc = cfg->nbd_listen[0] ? listen_tcp(cfg->nbd_listen, &n->tcp_fd) : 0;
	if (rc) {
		qb_log(LOG_ERR, "nbd: cannot listen on %s: %s", cfg->nbd_listen, strerror(-rc));
		goto out_unix;
	}
	/* The mailbox frees an argument it never delivers (a halt racing
	 * this), so it gets a box of its own rather than the server. */
	rc = -ENOMEM;
	box = malloc(sizeof(*box));
	if (!box)
		goto out_tcp;
	*box = n;
	rc = transport_post(t, listeners_attach, box);
	if (rc)
		goto out_box;
	snprintf(n->socket_path, sizeof(n->socket_path), "%s", cfg->nbd_socket);
	qb_log(LOG_NOTICE, "nbd: serving on %s%s%s", n->socket_path, n->tcp_fd >= 0 ? " and " : "",
	       n->tcp_fd >= 0 ? cfg->nbd_listen : "");
	*out = n;
	return 0;

out_box:
	free(box);
out_tcp:
	if (n->tcp_fd >= 0)
		close(n->tcp_fd);
out_unix:
	close(n->unix_fd);
	unlink(cfg->nbd_socket);
out_free:
	free(n);
	return rc;
}

void nbd_destroy(struct nbd *n)
{
	struct nbd_conn *c, *tmp;
	struct nbd_req *q, *qtmp;

	if (!n)
		return;
	dloop_timer_del(n->loop, n->accept_pause);
	dloop_poll_del(n->loop, n->unix_fd);
	close(n->unix_fd);
	unlink(n->socket_path);
	if (n->tcp_fd >= 0) {
		dloop_poll_del(n->loop, n->tcp_fd);
		close(n->tcp_fd);
	}
	/* The router is gone: what it held will never be done. */
	qb_list_for_each_entry_safe(c, tmp, &n->conns, list) {
		qb_list_for_each_entry_safe(q, qtmp, &c->reqs, link)
			req_free(q);
		c->inflight = 0;
		if (c->fd >= 0)
			conn_close(c, "server stopping");
		else
			conn_free(c);
	}
	free(n);
}
