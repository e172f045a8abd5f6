/*
 * Transport connections: one TCP connection per link per peer, opened by the
 * node with the lower nodeid, authenticated by a challenge-response over the
 * cluster key before any frame is read from it.
 *
 * Handshake: HELLO, REPLY, AUTH (frame.h has the format and what each MAC
 * covers). Each MAC covers the hello, so nothing in it (who, which link,
 * which incarnation, which nonce) can be changed on the way, and the other
 * side's fresh nonce, so no message can be replayed. AUTH repeats the hello's
 * fields and must agree with them. Frames may follow AUTH at once.
 *
 * An authenticated connection that holds part of a frame and receives
 * nothing more for the heartbeat timeout is closed: a stalled peer must not
 * keep the connection and its buffer forever.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "transport_internal.h"

#define RBUF_INITIAL (256 * 1024)
/* A buffer grown for a large frame goes back to RBUF_INITIAL once it is
 * empty and no frame has needed more for this long. */
#define RBUF_SHRINK_MS 2000
#define IOV_BATCH 64
/* Reads per poll event, so one busy peer cannot starve the others. */
#define READS_PER_EVENT 16
/* Most connections in their handshake at once, and how long accepting
 * waits when descriptors run out. */
#define HANDSHAKES_MAX 64
#define ACCEPT_PAUSE_MS 100

static int conn_event(int32_t fd, int32_t revents, void *data);

static struct tlink *conn_link(struct tconn *c)
{
	struct tpeer *p = c->nodeid ? transport_peer(c->t, c->nodeid) : NULL;

	return p ? &p->links[c->link] : NULL;
}

/* When an outbound link connects next: backoff_ms from now, the delay
 * doubling (up to the cap) unless the last connection proved stable. */
static void link_backoff(struct tlink *l, uint64_t now, bool stable)
{
	if (stable)
		l->backoff_ms = RECONNECT_MIN_MS;
	l->next_connect = now + (uint64_t)l->backoff_ms * 1000000;
	if (!stable)
		l->backoff_ms = backoff_double(l->backoff_ms);
}

static void poll_out(struct tconn *c, bool on)
{
	if (c->polling_out == on)
		return;
	c->polling_out = on;
	dloop_poll_mod(c->t->loop, c->fd, POLLIN | (on ? POLLOUT : 0), c,
			 conn_event);
}

void conn_close(struct tconn *c, const char *why)
{
	struct transport *t = c->t;
	struct tlink *l = conn_link(c);
	struct txq_ent *e, *tmp;
	bool was_up = c->state == CONN_UP;
	uint64_t now = now_ns();

	qb_log(was_up ? LOG_NOTICE : LOG_INFO, "connection %s node %" PRIu32 " link %d (%s) closed: %s",
	       c->outbound ? "to" : "from", c->nodeid, c->link, c->addr, why);
	dloop_poll_del(t->loop, c->fd);
	close(c->fd);
	qb_list_del(&c->list);
	qb_list_for_each_entry_safe(e, tmp, &c->txq, list) {
		tframe_put(e->f);
		free(e);
	}
	if (l && c->outbound && (!was_up || l->conn == c)) {
		if (!was_up)
			l->connecting = false;
		link_backoff(l, now, was_up && now - c->up_since >= CONN_STABLE_MS * 1000000ull);
	}
	free(c->rbuf);
	frame_mac_free(&c->tx_mac);
	frame_mac_free(&c->rx_mac);
	if (l && l->conn == c) {
		struct tpeer *p = transport_peer(t, c->nodeid);

		l->conn = NULL;
		free(c);
		link_state_update(t, p, l);
		peer_link_lost(t, p, l);
		return;
	}
	free(c);
}

/* Writes as much of the send queue as the socket takes. -errno on a dead
 * connection; the caller (a poll callback) closes it. */
static int conn_flush(struct tconn *c)
{
	struct iovec iov[IOV_BATCH];
	struct txq_ent *e, *tmp;
	ssize_t n;
	int cnt;

	while (!qb_list_empty(&c->txq)) {
		cnt = 0;
		qb_list_for_each_entry(e, &c->txq, list) {
			if (cnt + 2 > IOV_BATCH)
				break;
			if (e->off < e->f->len) {
				iov[cnt].iov_base = e->f->bytes + e->off;
				iov[cnt].iov_len = e->f->len - e->off;
				cnt++;
			}
			iov[cnt].iov_base = e->tag + (e->off > e->f->len ? e->off - e->f->len : 0);
			iov[cnt].iov_len = FRAME_TAG - (e->off > e->f->len ? e->off - e->f->len : 0);
			cnt++;
		}
		n = writev(c->fd, iov, cnt);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		qb_list_for_each_entry_safe(e, tmp, &c->txq, list) {
			size_t left = e->f->len + FRAME_TAG - e->off;

			if ((size_t)n < left) {
				e->off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			qb_list_del(&e->list);
			tframe_put(e->f);
			free(e);
		}
	}
	poll_out(c, !qb_list_empty(&c->txq));
	return 0;
}

int conn_queue(struct tconn *c, struct tframe *f)
{
	struct txq_ent *e = malloc(sizeof(*e));
	int rc;

	if (!e)
		return -ENOMEM;
	/* Tagged in the order the frames go out on this connection. */
	rc = frame_mac_tag(&c->tx_mac, f->bytes, f->len, e->tag);
	if (rc) {
		free(e);
		return rc;
	}
	e->f = f;
	e->off = 0;
	f->refs++;
	qb_list_add_tail(&e->list, &c->txq);
	/* Errors surface in the poll callback, which may close; callers here
	 * are in the middle of walking peer state and must not see that. */
	if (conn_flush(c))
		poll_out(c, true);
	return 0;
}

static struct tconn *conn_new(struct transport *t, int fd, bool outbound, int link,
			      uint32_t nodeid)
{
	struct tconn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->rbuf = malloc(RBUF_INITIAL);
	if (!c->rbuf || auth_random(c->my_nonce, HS_NONCE)) {
		free(c->rbuf);
		free(c);
		return NULL;
	}
	c->rcap = RBUF_INITIAL;
	c->t = t;
	c->fd = fd;
	c->outbound = outbound;
	c->link = link;
	c->nodeid = nodeid;
	c->state = outbound ? CONN_CONNECTING : CONN_WAIT_HELLO;
	c->deadline = now_ns() + (uint64_t)HANDSHAKE_TIMEOUT_MS * 1000000;
	qb_list_init(&c->txq);
	/* Requests are small and latency-bound; the kernel's buffer autotuning
	 * is left alone (a fixed SO_SNDBUF would switch it off). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (dloop_poll_add(t->loop, fd, outbound ? POLLOUT : POLLIN, c, conn_event)) {
		free(c->rbuf);
		free(c);
		return NULL;
	}
	c->polling_out = outbound;
	qb_list_add_tail(&c->list, &t->conns);
	return c;
}

/* Handshake */

/* What the MAC of a REPLY or AUTH message (msg, its first HS_MAC_OFFSET
 * bytes) covers: the handshake so far, up to and including msg. */
static void hs_parts(const struct tconn *c, const uint8_t *msg, struct auth_part parts[3],
		     size_t *n)
{
	parts[0] = (struct auth_part){ c->hello, HS_SIZE };
	if (msg[5] == HS_REPLY) {
		parts[1] = (struct auth_part){ msg, HS_MAC_OFFSET };
		*n = 2;
		return;
	}
	parts[1] = (struct auth_part){ c->reply, HS_MAC_OFFSET };
	parts[2] = (struct auth_part){ msg, HS_MAC_OFFSET };
	*n = 3;
}

/* Sends our HELLO, REPLY or AUTH, and keeps the hello or reply for the MACs
 * still to come. */
static int hs_send(struct tconn *c, enum hs_type type)
{
	struct hs_msg m = {
		.type = type,
		.nodeid = c->t->local_nodeid,
		.link = (uint32_t)c->link,
		.incarnation = c->t->incarnation,
	};
	struct auth_part parts[3];
	uint8_t buf[HS_SIZE];
	size_t nparts;
	ssize_t n;

	memcpy(m.nonce, c->my_nonce, HS_NONCE);
	hs_encode(&m, buf);
	if (type == HS_HELLO) {
		memcpy(c->hello, buf, HS_SIZE);
	} else {
		hs_parts(c, buf, parts, &nparts);
		auth_mac(&c->t->cfg.key, parts, nparts, buf + HS_MAC_OFFSET);
		if (type == HS_REPLY)
			memcpy(c->reply, buf, HS_MAC_OFFSET);
	}
	/* A fresh socket's buffer always takes 88 bytes. */
	n = write(c->fd, buf, HS_SIZE);
	return n == HS_SIZE ? 0 : (n < 0 ? -errno : -EIO);
}

/* MAC check of a received REPLY or AUTH. */
static bool hs_verify(struct tconn *c, const uint8_t *raw, const struct hs_msg *m)
{
	struct auth_part parts[3];
	size_t n;

	hs_parts(c, raw, parts, &n);
	return auth_verify(&c->t->cfg.key, parts, n, m->mac, HS_MAC);
}

/* 0, or -errno: the caller drops the connection. */
static int conn_established(struct tconn *c)
{
	struct transport *t = c->t;
	struct tpeer *p = transport_peer(t, c->nodeid);
	struct tlink *l = &p->links[c->link];

	/* Frames from here on carry tags under this connection's keys. */
	if (frame_mac_init(&c->tx_mac, &t->cfg.key, c->hello, c->reply, c->outbound) ||
	    frame_mac_init(&c->rx_mac, &t->cfg.key, c->hello, c->reply, !c->outbound)) {
		qb_log(LOG_ERR, "%s: cannot key the frame tags (libcrypto)", c->addr);
		return -EIO;
	}
	c->state = CONN_UP;
	if (p->incarnation && p->incarnation != c->peer_incarnation) {
		qb_log(LOG_NOTICE, "node %" PRIu32 " restarted (new incarnation): resetting its channel",
		       p->nodeid);
		peer_reset(t, p, c);
	}
	p->incarnation = c->peer_incarnation;
	if (c->outbound)
		l->connecting = false;
	if (l->conn && l->conn != c)
		conn_close(l->conn, "replaced by a new connection");
	l->conn = c;
	c->up_since = now_ns();
	qb_log(LOG_INFO, "connection %s node %" PRIu32 " link %d (%s) authenticated",
	       c->outbound ? "to" : "from", c->nodeid, c->link, c->addr);
	link_state_update(t, p, l);
	peer_kick(t, p);
	return 0;
}

/* One handshake message from the peer. 0, or -errno to drop the connection
 * (with the reason logged). */
static int hs_receive(struct tconn *c, const uint8_t *raw)
{
	struct transport *t = c->t;
	struct tpeer *p;
	struct hs_msg m;
	int rc = hs_decode(raw, HS_SIZE, &m);

	if (rc) {
		qb_log(LOG_WARNING, "%s: not a vdisk handshake, disconnecting", c->addr);
		return rc;
	}
	switch (c->state) {
	case CONN_WAIT_HELLO:
		p = transport_peer(t, m.nodeid);
		if (m.type != HS_HELLO || m.link != (uint32_t)c->link || !p || !p->member ||
		    m.nodeid == t->local_nodeid) {
			qb_log(LOG_WARNING, "%s: hello from node %" PRIu32 " link %" PRIu32
			       " refused (not a member, or wrong link)", c->addr, m.nodeid, m.link);
			return -EPERM;
		}
		c->nodeid = m.nodeid;
		c->peer_incarnation = m.incarnation;
		memcpy(c->hello, raw, HS_SIZE);
		c->state = CONN_WAIT_AUTH;
		return hs_send(c, HS_REPLY);
	case CONN_HELLO_SENT:
		if (m.type != HS_REPLY || m.nodeid != c->nodeid || m.link != (uint32_t)c->link ||
		    !hs_verify(c, raw, &m)) {
			qb_log(LOG_WARNING, "%s: node %" PRIu32 " failed authentication, disconnecting",
			       c->addr, c->nodeid);
			return -EACCES;
		}
		c->peer_incarnation = m.incarnation;
		memcpy(c->reply, raw, HS_MAC_OFFSET);
		rc = hs_send(c, HS_AUTH);
		if (rc == 0)
			rc = conn_established(c);
		return rc;
	case CONN_WAIT_AUTH:
		if (m.type != HS_AUTH || !hs_verify(c, raw, &m)) {
			qb_log(LOG_WARNING, "%s: node %" PRIu32 " failed authentication, disconnecting",
			       c->addr, c->nodeid);
			return -EACCES;
		}
		/* The MAC says the key holder sent this AUTH for this hello;
		 * who it says it is must be who the hello said. */
		if (memcmp(raw + HS_ID_OFFSET, c->hello + HS_ID_OFFSET, HS_ID_SIZE)) {
			qb_log(LOG_WARNING,
			       "%s: node %" PRIu32 " sent an AUTH (node %" PRIu32 ", link %" PRIu32
			       ", incarnation %" PRIx64 ") that does not match its hello"
			       " (incarnation %" PRIx64 "), disconnecting",
			       c->addr, c->nodeid, m.nodeid, m.link, m.incarnation,
			       c->peer_incarnation);
			return -EACCES;
		}
		return conn_established(c);
	default:
		return -EPROTO;
	}
}

/* Input */

/* Moves the bytes not yet taken to the front of the buffer. */
static void rbuf_compact(struct tconn *c)
{
	memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
	c->rlen -= c->rpos;
	c->rpos = 0;
}

static int conn_input(struct tconn *c)
{
	int rc = 0;

	while (rc == 0) {
		struct frame_hdr h;
		size_t total, avail = c->rlen - c->rpos;
		uint8_t *at = c->rbuf + c->rpos;
		struct tpeer *p;

		if (c->state != CONN_UP) {
			if (avail < HS_SIZE)
				break;
			rc = hs_receive(c, at);
			c->rpos += HS_SIZE;
			continue;
		}
		if (avail < FRAME_HDR_SIZE)
			break;
		rc = frame_hdr_decode(at, avail, &h);
		if (rc == 0 && h.src_node != c->nodeid)
			rc = -EINVAL;
		if (rc) {
			qb_log(LOG_WARNING, "%s: bad frame from node %" PRIu32 " (%s), disconnecting",
			       c->addr, c->nodeid, strerror(-rc));
			break;
		}
		total = FRAME_HDR_SIZE + h.payload_len + FRAME_TAG;
		if (total > RBUF_INITIAL)
			c->big_at = c->rx_at;
		if (avail < total) {
			/* The rest of this frame must fit behind it: compact,
			 * and grow the buffer only to one frame. */
			if (total > c->rcap - c->rpos)
				rbuf_compact(c);
			if (total > c->rcap) {
				uint8_t *grown = realloc(c->rbuf, total);

				if (!grown)
					return -ENOMEM;
				c->rbuf = grown;
				c->rcap = total;
			}
			break;
		}
		if (!frame_mac_check(&c->rx_mac, at, total - FRAME_TAG, at + total - FRAME_TAG)) {
			qb_log(LOG_WARNING, "%s: frame from node %" PRIu32 " link %d fails "
			       "authentication (changed, replayed or out of order), disconnecting",
			       c->addr, c->nodeid, c->link);
			rc = -EBADMSG;
			break;
		}
		p = transport_peer(c->t, c->nodeid);
		peer_receive(c->t, p, &p->links[c->link], &h, at + FRAME_HDR_SIZE);
		c->rpos += total;
	}
	/* Partial frames stay where they are: a large one would otherwise be
	 * moved once per read. */
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	return rc;
}

static int conn_read(struct tconn *c)
{
	int i;

	for (i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n;
		int rc;

		/* Full: what is left of the buffer is a partial frame's. */
		if (c->rlen == c->rcap) {
			if (!c->rpos)
				return -ENOBUFS;
			rbuf_compact(c);
		}
		n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
		if (i == 0)
			c->rx_at = now_ns();
		c->rlen += (size_t)n;
		rc = conn_input(c);
		if (rc)
			return rc;
	}
	return 0;
}

/* What is buffered of a frame not yet complete, for logs. */
static void conn_partial(const struct tconn *c, char *buf, size_t len)
{
	size_t avail = c->rlen - c->rpos;
	struct frame_hdr h;

	/* A buffered header has been decoded once already: it decodes. */
	if (avail < FRAME_HDR_SIZE || frame_hdr_decode(c->rbuf + c->rpos, avail, &h))
		snprintf(buf, len, "%zu of %d header bytes", avail, FRAME_HDR_SIZE);
	else
		snprintf(buf, len, "%zu of %zu bytes", avail,
			 FRAME_HDR_SIZE + (size_t)h.payload_len + FRAME_TAG);
}

/* A connection that failed (-errno); a peer that leaves in the middle of a
 * frame cut it short, which says more than that it left. */
static void conn_fail(struct tconn *c, int rc)
{
	char part[64];

	if (rc != -ECONNRESET) {
		conn_close(c, strerror(-rc));
		return;
	}
	if (c->state == CONN_UP && c->rlen > c->rpos) {
		conn_partial(c, part, sizeof(part));
		qb_log(LOG_WARNING,
		       "%s: node %" PRIu32 " link %d: truncated frame: %s, then the peer"
		       " closed the connection",
		       c->addr, c->nodeid, c->link, part);
	}
	conn_close(c, "closed by peer");
}

static int conn_event(int32_t fd, int32_t revents, void *data)
{
	struct tconn *c = data;
	struct tpeer *p;
	int err = 0, rc = 0;
	socklen_t len = sizeof(err);

	if (c->state == CONN_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
			conn_close(c, strerror(err));
			return 0;
		}
		c->state = CONN_HELLO_SENT;
		rc = hs_send(c, HS_HELLO);
		if (rc) {
			conn_close(c, strerror(-rc));
			return 0;
		}
		poll_out(c, false);
		return 0;
	}
	if (revents & POLLIN)
		rc = conn_read(c);
	if (rc == 0 && (revents & POLLOUT))
		rc = conn_flush(c);
	if (rc == 0 && (revents & (POLLERR | POLLHUP)) && !(revents & POLLIN))
		rc = -ECONNRESET;
	if (rc) {
		conn_fail(c, rc);
		return 0;
	}
	p = c->state == CONN_UP ? transport_peer(c->t, c->nodeid) : NULL;
	if (p)
		peer_ack_flush(c->t, p);
	return 0;
}

int conn_connect(struct transport *t, struct tpeer *p, struct tlink *l)
{
	const struct sockaddr_storage *local = &t->local[l->index];
	struct sockaddr_storage src = *local;
	struct tconn *c;
	int fd, rc;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out_backoff;
	}
	/* Leave through this link's own address, whatever the routes say. */
	if (src.ss_family == l->addr.ss_family) {
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		if (bind(fd, (struct sockaddr *)&src, sockaddr_len(&src)))
			qb_log(LOG_DEBUG, "bind to %s: %s", t->local_str[l->index], strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&l->addr, sockaddr_len(&l->addr)) &&
	    errno != EINPROGRESS) {
		rc = -errno;
		goto out_close;
	}
	c = conn_new(t, fd, true, l->index, p->nodeid);
	if (!c) {
		rc = -ENOMEM;
		goto out_close;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", l->addr_str);
	l->connecting = true;
	return 0;

out_close:
	close(fd);
out_backoff:
	link_backoff(l, now_ns(), false);
	return rc;
}

static int listen_event(int32_t fd, int32_t revents, void *data);

/* A listener that cannot be polled again is closed; the tick opens the
 * link again (transport.c), with backoff. */
static void listen_lost(struct fd_ctx *ctx, const char *what, int rc)
{
	qb_log(LOG_ERR, "link %d: %s: %s; closing the listener to open it again", ctx->link, what,
	       strerror(-rc));
	conn_unlisten(ctx->t, ctx->link);
}

static void listen_resume(void *data)
{
	struct fd_ctx *ctx = data;
	int rc = dloop_poll_add(ctx->t->loop, ctx->t->listen_fd[ctx->link], POLLIN, ctx,
				listen_event);

	if (rc)
		listen_lost(ctx, "cannot resume accepting", rc);
}

/* Connections that have not authenticated yet: an unauthenticated crowd must
 * not take every descriptor the members need. */
static size_t handshakes_count(struct transport *t)
{
	struct tconn *c;
	size_t n = 0;

	qb_list_for_each_entry(c, &t->conns, list)
		n += c->state != CONN_UP;
	return n;
}

static int listen_event(int32_t fd, int32_t revents, void *data)
{
	struct fd_ctx *ctx = data;
	struct transport *t = ctx->t;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct tconn *c;
	uint64_t n;
	int nfd, rc;

	while ((nfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		len = sizeof(ss);
		if (handshakes_count(t) >= HANDSHAKES_MAX) {
			char addr[64];

			close(nfd);
			n = ratelog_hit(&t->hs_full, now_ns(), RATELOG_MS);
			if (!n)
				continue;
			sockaddr_format(&ss, addr, sizeof(addr));
			qb_log(LOG_WARNING,
			       "link %d: %d connections in their handshake already: closed %" PRIu64
			       " new one(s) since the last report, the last from %s",
			       ctx->link, HANDSHAKES_MAX, n, addr);
			continue;
		}
		c = conn_new(t, nfd, false, ctx->link, 0);
		if (!c) {
			close(nfd);
			continue;
		}
		sockaddr_format(&ss, c->addr, sizeof(c->addr));
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/* The pending connection stays queued and the listener
		 * readable: polling it now would spin. Look again later. */
		qb_log(LOG_WARNING, "link %d: cannot accept (%s); pausing for %d ms", ctx->link,
		       strerror(errno), ACCEPT_PAUSE_MS);
		rc = dloop_timer_add(t->loop, ACCEPT_PAUSE_MS * 1000000ull, ctx, listen_resume,
				     NULL);
		if (rc)
			listen_lost(ctx, "cannot pause accepting", rc);
		else
			dloop_poll_del(t->loop, fd);
	}
	return 0;
}
int conn_listen(struct transport *t, int link)
{
	int fd, one = 1, rc;

	fd = socket(t->local[link].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&t->local[link], sockaddr_len(&t->local[link])) ||
	    listen(fd, 64)) {
		rc = -errno;
		goto out_close;
	}
	t->fdctx[link] = (struct fd_ctx){ .t = t, .link = link };
	rc = dloop_poll_add(t->loop, fd, POLLIN, &t->fdctx[link], listen_event);
	if (rc)
		goto out_close;
	t->listen_fd[link] = fd;
	return 0;

out_close:
	close(fd);
	return rc;
}

void conn_unlisten(struct transport *t, int link)
{
	dloop_poll_del(t->loop, t->listen_fd[link]);
	close(t->listen_fd[link]);
	t->listen_fd[link] = -1;
}

/* Gives back the memory a large frame took once the buffer is empty and
 * large frames have stopped coming. */
static void rbuf_shrink(struct tconn *c, uint64_t now)
{
	uint8_t *small;

	if (c->rcap <= RBUF_INITIAL || c->rlen || now - c->big_at < RBUF_SHRINK_MS * 1000000ull)
		return;
	small = realloc(c->rbuf, RBUF_INITIAL);
	if (!small)
		return;
	c->rbuf = small;
	c->rcap = RBUF_INITIAL;
}

void conn_expire(struct transport *t, uint64_t now)
{
	uint64_t stall = (uint64_t)t->cfg.hb_timeout_ms * 1000000;
	struct tconn *c, *tmp;
	char part[64];

	qb_list_for_each_entry_safe(c, tmp, &t->conns, list) {
		if (c->state != CONN_UP) {
			if (now > c->deadline)
				conn_close(c, "handshake timed out");
			continue;
		}
		if (c->rlen > c->rpos && now - c->rx_at >= stall) {
			conn_partial(c, part, sizeof(part));
			qb_log(LOG_WARNING,
			       "%s: node %" PRIu32 " link %d: truncated frame: %s, "
			       "no progress for %" PRIu64 " ms, disconnecting",
			       c->addr, c->nodeid, c->link, part, (now - c->rx_at) / 1000000);
			conn_close(c, "truncated frame");
			continue;
		}
		rbuf_shrink(c, now);
	}
}
