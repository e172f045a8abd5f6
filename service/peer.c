/*
 * The reliable channel to one peer over its links.
 *
 * Every data frame gets the next sequence number of the channel and stays in
 * `unacked` until the peer's cumulative ack covers it. It is sent on one live
 * link (the first by priority under `passive`, the next in turn under
 * `stripe`); when that link dies it is sent again on another. The receiver
 * keeps a bitmap of the sequence numbers it has seen above its cumulative
 * ack, so a frame that arrives twice (sent on two links across a failover)
 * reaches its client once.
 *
 * A frame counts as received (and so is acknowledged) only once it has been
 * taken: delivered, or stored in its message's reassembly. One that cannot
 * be taken is refused (frame_refuse) and comes again, so an acknowledged
 * frame is never lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <qb/qblog.h>

#include "transport_internal.h"

/* A message has at most max(live links, FRAME_MSG_MAX / FRAME_PAYLOAD_MAX)
 * fragments (send_check), and reasm.have has a bit for each. */
_Static_assert(TRANSPORT_MAX_LINKS <= FRAG_MAX && FRAME_MSG_MAX / FRAME_PAYLOAD_MAX <= FRAG_MAX &&
		       FRAG_MAX <= 64,
	       "FRAG_MAX does not fit the fragments of a message");

void tframe_put(struct tframe *f)
{
	if (--f->refs)
		return;
	if (f->release)
		f->release(f->owner);
	free(f);
}

struct tpeer *peer_new(uint32_t nodeid)
{
	struct tpeer *p = calloc(1, sizeof(*p));
	int i;

	if (!p)
		return NULL;
	p->nodeid = nodeid;
	p->next_seq = 1;
	qb_list_init(&p->unacked);
	qb_list_init(&p->reasm);
	for (i = 0; i < TRANSPORT_MAX_LINKS; i++) {
		p->links[i].index = i;
		p->links[i].backoff_ms = RECONNECT_MIN_MS;
	}
	return p;
}

static void reasm_free(struct tpeer *p, struct reasm *r)
{
	qb_list_del(&r->list);
	p->nreasm--;
	free(r->buf);
	free(r);
}

/* Forgets the channel's state in both directions. */
static void channel_clear(struct tpeer *p)
{
	struct tframe *f, *tmp;
	struct reasm *r, *rtmp;

	qb_list_for_each_entry_safe(f, tmp, &p->unacked, list) {
		qb_list_del(&f->list);
		tframe_put(f);
	}
	p->frag_msgs = 0;
	p->requeue = false;
	qb_list_for_each_entry_safe(r, rtmp, &p->reasm, list)
		reasm_free(p, r);
	p->next_seq = 1;
	p->rx_cum = 0;
	p->ack_sent = 0;
	memset(p->rx_bits, 0, sizeof(p->rx_bits));
}

static void peer_conns_close(struct transport *t, struct tpeer *p, struct tconn *keep,
			     const char *why)
{
	struct tconn *c, *tmp;

	qb_list_for_each_entry_safe(c, tmp, &t->conns, list)
		if (c != keep && c->nodeid == p->nodeid)
			conn_close(c, why);
}

void peer_free(struct tpeer *p)
{
	channel_clear(p);
	free(p);
}

void peer_reset(struct transport *t, struct tpeer *p, struct tconn *keep)
{
	int i;

	peer_conns_close(t, p, keep, "peer restarted");
	channel_clear(p);
	/* Another life, maybe another boot: its clock is measured afresh. */
	p->clk_valid = false;
	for (i = 0; i < TCLIENT_MAX; i++)
		if (t->clients[i].reset)
			t->clients[i].reset(t->clients[i].ctx, p->nodeid);
}

bool peer_link_usable(const struct tlink *l)
{
	return l->hb_up && l->conn && l->conn->state == CONN_UP;
}

bool transport_peer_up(struct transport *t, uint32_t nodeid)
{
	struct tpeer *p = transport_peer(t, nodeid);
	int i;

	for (i = 0; p && i < TRANSPORT_MAX_LINKS; i++)
		if (peer_link_usable(&p->links[i]))
			return true;
	return false;
}

uint32_t transport_heartbeat_timeout_ms(const struct transport *t)
{
	return t->cfg.hb_timeout_ms;
}

bool transport_peer_clock(struct transport *t, uint32_t nodeid, uint64_t local_ns,
			  uint64_t *peer_ns)
{
	struct tpeer *p = transport_peer(t, nodeid);
	int64_t peer;

	if (!p || !p->clk_valid)
		return false;
	/* Aged to the later of now and the time told: the drift until then
	 * counts too. */
	peer = (int64_t)local_ns + clock_lo(p, local_ns > now_ns() ? local_ns : now_ns());
	/* A peer clock that cannot be that early: any time of it is later. */
	*peer_ns = peer > 0 ? (uint64_t)peer : 1;
	return true;
}

static int usable_links(const struct tpeer *p)
{
	int i, n = 0;

	for (i = 0; i < TRANSPORT_MAX_LINKS; i++)
		n += peer_link_usable(&p->links[i]);
	return n;
}

static struct tlink *link_pick(struct transport *t, struct tpeer *p)
{
	int i;

	for (i = 0; i < TRANSPORT_MAX_LINKS; i++) {
		/* passive: always the first live link; stripe: the next
		 * live one after the last used. */
		int idx = t->cfg.policy == VDISK_POLICY_STRIPE ? (int)((p->rr + (unsigned)i) %
								       TRANSPORT_MAX_LINKS) :
								 i;

		if (peer_link_usable(&p->links[idx])) {
			p->rr = (unsigned)idx + 1;
			return &p->links[idx];
		}
	}
	return NULL;
}

/* Queues f on l's connection and counts it there: the counters hold what
 * went to the link's connection, data, resends and acks alike. An ack may be
 * written and freed before conn_queue() returns. */
static int link_queue(struct tlink *l, struct tframe *f)
{
	size_t len = f->len;
	int rc = conn_queue(l->conn, f);

	if (rc)
		return rc;
	l->tx_frames++;
	l->tx_bytes += len;
	return 0;
}

/* A channel frame that cannot be queued (out of memory) stays on no link,
 * and peer_ack_flush(), which runs every heartbeat interval, tries again. */
static int frame_put_on(struct tpeer *p, struct tframe *f, struct tlink *l)
{
	int rc = link_queue(l, f);

	if (rc) {
		f->link = -1;
		p->requeue = true;
		return rc;
	}
	f->link = l->index;
	return 0;
}

void peer_kick(struct transport *t, struct tpeer *p)
{
	struct tframe *f;

	p->requeue = false;
	qb_list_for_each_entry(f, &p->unacked, list) {
		struct tlink *l;

		if (f->link >= 0 && peer_link_usable(&p->links[f->link]))
			continue;
		l = link_pick(t, p);
		if (!l || frame_put_on(p, f, l))
			return;
	}
}

void peer_link_lost(struct transport *t, struct tpeer *p, struct tlink *l)
{
	struct tframe *f;
	size_t moved = 0;

	qb_list_for_each_entry(f, &p->unacked, list) {
		if (f->link == l->index) {
			f->link = -1;
			moved++;
		}
	}
	if (moved)
		qb_log(LOG_INFO, "node %" PRIu32 " link %d lost: %zu unacknowledged frames to resend",
		       p->nodeid, l->index, moved);
	peer_kick(t, p);
}

static struct tframe *tframe_new(size_t payload)
{
	struct tframe *f = malloc(sizeof(*f) + FRAME_HDR_SIZE + payload);

	if (!f)
		return NULL;
	f->refs = 0;
	f->msg_end = false;
	f->seq = 0;
	f->link = -1;
	f->len = FRAME_HDR_SIZE + payload;
	f->bytes = f->buf;
	f->release = NULL;
	return f;
}

static uint64_t oldest_unacked(const struct tpeer *p)
{
	if (qb_list_empty(&p->unacked))
		return p->next_seq;
	return qb_list_first_entry(&p->unacked, struct tframe, list)->seq;
}

/* Checks a message can go to nodeid now; its fragment count in *nfrag. */
static int send_check(struct transport *t, struct tpeer *p, const struct frame_hdr *req,
		      size_t len, size_t *nfrag)
{
	if (!p || !p->member)
		return -EHOSTUNREACH;
	if (len > FRAME_MSG_MAX || req->client == 0 || req->client >= TCLIENT_MAX)
		return -EINVAL;
	*nfrag = 1;
	if (t->cfg.policy == VDISK_POLICY_STRIPE && len >= STRIPE_MIN_BYTES && usable_links(p) > 1)
		*nfrag = (size_t)usable_links(p);
	if ((len + *nfrag - 1) / *nfrag > FRAME_PAYLOAD_MAX)
		*nfrag = (len + FRAME_PAYLOAD_MAX - 1) / FRAME_PAYLOAD_MAX;
	if (p->next_seq + *nfrag - oldest_unacked(p) >= RX_WINDOW)
		return -ENOBUFS;
	/* The receiver can hold REASM_MAX partial messages (peer.h). */
	if (*nfrag > 1 && p->frag_msgs >= REASM_MAX)
		return -ENOBUFS;
	return 0;
}

/* Numbers fragment f (payload bytes [off, off + n) of a len-byte message
 * of nfrag fragments starting at first), encodes its header and sends it.
 * Never fails: a frame that cannot be queued now is in unacked and goes out
 * later. */
static void fragment_send(struct transport *t, struct tpeer *p, const struct frame_hdr *req,
			  struct tframe *f, size_t off, size_t n, size_t len, size_t nfrag,
			  uint64_t first)
{
	struct frame_hdr h = *req;
	struct tlink *l;

	h.type = FRAME_DATA;
	h.flags = (uint16_t)((req->flags & FRAME_F_REPLY) | (nfrag > 1 ? FRAME_F_FRAG : 0));
	h.src_node = t->local_nodeid;
	h.seq = p->next_seq++;
	h.ack = p->rx_cum;
	h.payload_len = (uint32_t)n;
	h.frag_offset = nfrag > 1 ? (uint32_t)off : 0;
	h.msg_len = nfrag > 1 ? (uint32_t)len : (uint32_t)n;
	h.msg_seq = nfrag > 1 ? first : 0;
	frame_hdr_encode(&h, f->bytes);
	f->seq = h.seq;
	f->refs = 1;
	f->msg_end = nfrag > 1 && off + n == len;
	qb_list_add_tail(&f->list, &p->unacked);
	l = link_pick(t, p);
	if (l && frame_put_on(p, f, l) == 0)
		p->ack_sent = h.ack;
}

/* The layout of peer.h: ceil(len / nfrag)-byte fragments, the last one the
 * rest. A message goes out whole or not at all: every fragment is copied
 * before the first is numbered. */
int transport_send(struct transport *t, uint32_t nodeid, const struct frame_hdr *req,
		   const void *payload, size_t len)
{
	struct tpeer *p = transport_peer(t, nodeid);
	struct tframe *frags[FRAG_MAX];
	size_t nfrag, chunk, count, i;
	uint64_t first;
	int rc = send_check(t, p, req, len, &nfrag);

	if (rc)
		return rc;
	chunk = (len + nfrag - 1) / nfrag;
	count = len ? (len + chunk - 1) / chunk : 1;
	for (i = 0; i < count; i++) {
		size_t n = len - i * chunk < chunk ? len - i * chunk : chunk;

		frags[i] = tframe_new(n);
		if (!frags[i])
			goto out_free;
		if (n)
			memcpy(frags[i]->buf + FRAME_HDR_SIZE, (const uint8_t *)payload + i * chunk,
			       n);
	}
	first = p->next_seq;
	for (i = 0; i < count; i++)
		fragment_send(t, p, req, frags[i], i * chunk, frags[i]->len - FRAME_HDR_SIZE, len,
			      count, first);
	p->frag_msgs += count > 1;
	return 0;

out_free:
	while (i--)
		free(frags[i]);
	return -ENOMEM;
}

int transport_send_buffer(struct transport *t, uint32_t nodeid, const struct frame_hdr *req,
			  uint8_t *frame, size_t len, void (*release)(void *owner), void *owner)
{
	struct tpeer *p = transport_peer(t, nodeid);
	struct tframe *f;
	size_t nfrag;
	int rc = send_check(t, p, req, len, &nfrag);

	/* Several fragments: copied, as any message. */
	if (rc == 0 && nfrag > 1)
		rc = transport_send(t, nodeid, req, frame + FRAME_HDR_SIZE, len);
	if (rc || nfrag > 1)
		goto out_release;
	f = tframe_new(0);
	if (!f) {
		rc = -ENOMEM;
		goto out_release;
	}
	f->len = FRAME_HDR_SIZE + len;
	f->bytes = frame;
	f->release = release;
	f->owner = owner;
	fragment_send(t, p, req, f, 0, len, len, 1, p->next_seq);
	return 0;

out_release:
	release(owner);
	return rc;
}

static void peer_ack(struct tpeer *p, uint64_t ack)
{
	struct tframe *f, *tmp;

	qb_list_for_each_entry_safe(f, tmp, &p->unacked, list) {
		if (f->seq > ack)
			break;
		qb_list_del(&f->list);
		/* Its fragments are acknowledged in order: the message is
		 * complete at the receiver. */
		p->frag_msgs -= f->msg_end;
		tframe_put(f);
	}
}

/* After input and every heartbeat interval: acknowledges what data frames
 * did not, and retries frames that could not be queued. */
void peer_ack_flush(struct transport *t, struct tpeer *p)
{
	struct frame_hdr h = { .type = FRAME_ACK };
	struct tframe *f;
	struct tlink *l;

	if (p->requeue)
		peer_kick(t, p);
	if (p->rx_cum <= p->ack_sent)
		return;
	l = link_pick(t, p);
	if (!l)
		return;
	f = tframe_new(0);
	if (!f)
		return;
	h.src_node = t->local_nodeid;
	h.ack = p->rx_cum;
	frame_hdr_encode(&h, f->buf);
	if (link_queue(l, f)) {
		free(f); /* no reference was taken */
		return;
	}
	p->ack_sent = h.ack;
}

static bool rx_seen(struct tpeer *p, uint64_t seq)
{
	uint64_t bit = seq % RX_WINDOW;

	return p->rx_bits[bit / 64] & (1ull << (bit % 64));
}

static void rx_mark(struct tpeer *p, uint64_t seq, bool on)
{
	uint64_t bit = seq % RX_WINDOW;

	if (on)
		p->rx_bits[bit / 64] |= 1ull << (bit % 64);
	else
		p->rx_bits[bit / 64] &= ~(1ull << (bit % 64));
}

static void deliver(struct transport *t, const struct frame_hdr *h, const void *payload,
		    size_t len)
{
	const struct tclient_slot *slot = &t->clients[h->client];

	if (slot->recv)
		slot->recv(slot->ctx, h, payload, len);
	else
		qb_log(LOG_DEBUG, "frame for client %u, which is not running", h->client);
}

static bool frag_same_message(const struct frame_hdr *a, const struct frame_hdr *b)
{
	return a->flags == b->flags && a->client == b->client && a->op == b->op &&
	       a->src_node == b->src_node && a->reqid == b->reqid && a->config == b->config &&
	       a->disk == b->disk && a->status == b->status && a->offset == b->offset &&
	       a->length == b->length && a->msg_len == b->msg_len && a->msg_seq == b->msg_seq;
}

/* The fragment size h implies for message r, 0 if h does not fit the
 * layout of peer.h. */
static uint64_t frag_chunk(const struct reasm *r, const struct frame_hdr *h)
{
	uint64_t idx = h->seq - h->msg_seq, end = (uint64_t)h->frag_offset + h->payload_len;
	uint64_t chunk;

	if (end < h->msg_len)
		chunk = h->payload_len; /* all but the last are chunk bytes */
	else if (r->chunk)
		chunk = r->chunk;
	else if (idx == 0)
		chunk = h->payload_len;
	else if (h->frag_offset % idx == 0)
		chunk = h->frag_offset / idx;
	else
		return 0;
	if (!chunk || (r->chunk && chunk != r->chunk) || h->frag_offset != idx * chunk ||
	    h->payload_len > chunk || end > h->msg_len ||
	    (h->msg_len + chunk - 1) / chunk > FRAG_MAX)
		return 0;
	return chunk;
}

int reasm_check(const struct reasm *r, const struct frame_hdr *h)
{
	if (!(h->flags & FRAME_F_FRAG) || h->seq < h->msg_seq || h->seq - h->msg_seq >= FRAG_MAX ||
	    !h->payload_len || !frag_same_message(&r->hdr, h) || !frag_chunk(r, h))
		return -EPROTO;
	if (r->have & (1ull << (h->seq - h->msg_seq)))
		return -EEXIST;
	return 0;
}

bool reasm_add(struct reasm *r, const struct frame_hdr *h, const uint8_t *payload)
{
	r->chunk = (uint32_t)frag_chunk(r, h);
	r->have |= 1ull << (h->seq - h->msg_seq);
	memcpy(r->buf + h->frag_offset, payload, h->payload_len);
	r->got += h->payload_len;
	return r->got == r->hdr.msg_len;
}

/* Takes fragment h into its message: 0, with *done set if that completed
 * the message, or -errno if it cannot be taken (and must be refused). */
static int fragment_take(struct tpeer *p, const struct frame_hdr *h, const uint8_t *payload,
			 struct reasm **done)
{
	struct reasm fresh = { .hdr = *h }, *r;
	int rc;

	*done = NULL;
	qb_list_for_each_entry(r, &p->reasm, list)
		if (r->hdr.msg_seq == h->msg_seq)
			goto found;
	r = &fresh;
found:
	rc = reasm_check(r, h);
	if (rc)
		return rc;
	if (r == &fresh) {
		/* The sender keeps within REASM_MAX: more breaks the protocol. */
		if (p->nreasm >= REASM_MAX)
			return -ENOSPC;
		r = malloc(sizeof(*r));
		if (!r)
			return -ENOMEM;
		*r = fresh;
		r->buf = malloc(h->msg_len);
		if (!r->buf) {
			free(r);
			return -ENOMEM;
		}
		qb_list_add_tail(&r->list, &p->reasm);
		p->nreasm++;
	}
	if (reasm_add(r, h, payload))
		*done = r;
	return 0;
}

static const char *refuse_reason(int err)
{
	switch (err) {
	case -EPROTO:
		return "fragment contradicts its message";
	case -EEXIST:
		return "fragment index received twice";
	case -ENOSPC:
		return "more partial messages than REASM_MAX";
	case -ERANGE:
		return "beyond the receive window";
	default:
		return strerror(-err);
	}
}

/*
 * A data frame that cannot be taken now (out of memory, or one the sender
 * had no right to send) is not counted received, so it is never
 * acknowledged; the connection it came on is reset, the sender sees it die
 * and sends what it did not get acknowledged on that link again
 * (peer_link_lost). The connection cannot be closed here, as its input is
 * being read: shut down, its next read ends it.
 */
static void frame_refuse(struct tpeer *p, struct tlink *l, const struct frame_hdr *h, int err)
{
	qb_log(LOG_WARNING,
	       "node %" PRIu32 " link %d: frame %" PRIu64 " refused (%s), resetting the connection",
	       p->nodeid, l->index, h->seq, refuse_reason(err));
	if (l->conn)
		shutdown(l->conn->fd, SHUT_RDWR);
}

void peer_receive(struct transport *t, struct tpeer *p, struct tlink *l,
		  const struct frame_hdr *h, const uint8_t *payload)
{
	struct reasm *done = NULL;
	int rc = 0;

	l->rx_frames++;
	l->rx_bytes += FRAME_HDR_SIZE + h->payload_len;
	if (h->ack)
		peer_ack(p, h->ack);
	if (h->type != FRAME_DATA)
		return;
	if (h->seq <= p->rx_cum || rx_seen(p, h->seq))
		return; /* a resent copy: the first one was taken */
	if (h->seq > p->rx_cum + RX_WINDOW - 1)
		rc = -ERANGE;
	else if (h->flags & FRAME_F_FRAG)
		rc = fragment_take(p, h, payload, &done);
	if (rc) {
		frame_refuse(p, l, h, rc);
		return;
	}
	rx_mark(p, h->seq, true);
	while (rx_seen(p, p->rx_cum + 1)) {
		rx_mark(p, p->rx_cum + 1, false);
		p->rx_cum++;
	}
	if (!(h->flags & FRAME_F_FRAG)) {
		deliver(t, h, payload, h->payload_len);
	} else if (done) {
		done->hdr.flags &= (uint16_t)~FRAME_F_FRAG;
		done->hdr.payload_len = done->hdr.msg_len;
		deliver(t, &done->hdr, done->buf, done->hdr.msg_len);
		reasm_free(p, done);
	}
}
