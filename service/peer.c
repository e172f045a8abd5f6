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
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "transport_internal.h"

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
		f->acked = true;
		tframe_put(f);
	}
	p->unacked_n = 0;
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

static void frame_put_on(struct tframe *f, struct tlink *l)
{
	f->link = l->index;
	l->tx_frames++;
	l->tx_bytes += f->len;
	conn_queue(l->conn, f);
}

void peer_kick(struct transport *t, struct tpeer *p)
{
	struct tframe *f;

	qb_list_for_each_entry(f, &p->unacked, list) {
		struct tlink *l;

		if (f->link >= 0 && peer_link_usable(&p->links[f->link]))
			continue;
		l = link_pick(t, p);
		if (!l)
			return;
		frame_put_on(f, l);
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
	f->acked = false;
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
	return 0;
}

/* Numbers fragment f (payload bytes [off, off + n) of a len-byte message
 * of nfrag fragments starting at first), encodes its header and sends it. */
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
	qb_list_add_tail(&f->list, &p->unacked);
	p->unacked_n++;
	l = link_pick(t, p);
	if (l)
		frame_put_on(f, l);
	p->ack_sent = p->rx_cum;
}

int transport_send(struct transport *t, uint32_t nodeid, const struct frame_hdr *req,
		   const void *payload, size_t len)
{
	struct tpeer *p = transport_peer(t, nodeid);
	size_t nfrag, chunk, off;
	uint64_t first;
	int rc = send_check(t, p, req, len, &nfrag);

	if (rc)
		return rc;
	chunk = (len + nfrag - 1) / nfrag;
	first = p->next_seq;
	for (off = 0; off < len || (len == 0 && off == 0); off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		struct tframe *f = tframe_new(n);

		if (!f)
			return -ENOMEM;
		if (n)
			memcpy(f->buf + FRAME_HDR_SIZE, (const uint8_t *)payload + off, n);
		fragment_send(t, p, req, f, off, n, len, nfrag, first);
		if (len == 0)
			break;
	}
	return 0;
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
		p->unacked_n--;
		f->acked = true;
		tframe_put(f);
	}
}

void peer_ack_flush(struct transport *t, struct tpeer *p)
{
	struct frame_hdr h = { .type = FRAME_ACK };
	struct tframe *f;
	struct tlink *l;

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
	f->link = l->index;
	conn_queue(l->conn, f);
	p->ack_sent = p->rx_cum;
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

static void fragment_receive(struct transport *t, struct tpeer *p, const struct frame_hdr *h,
			     const uint8_t *payload)
{
	struct reasm *r;

	qb_list_for_each_entry(r, &p->reasm, list)
		if (r->msg_seq == h->msg_seq)
			goto found;
	if (p->nreasm >= REASM_MAX) {
		qb_log(LOG_WARNING, "node %" PRIu32 ": too many partial messages, dropping one",
		       p->nodeid);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->buf = malloc(h->msg_len);
	if (!r->buf) {
		free(r);
		return;
	}
	r->msg_seq = h->msg_seq;
	r->hdr = *h;
	qb_list_add_tail(&r->list, &p->reasm);
	p->nreasm++;
found:
	if (h->msg_len != r->hdr.msg_len) {
		qb_log(LOG_WARNING, "node %" PRIu32 ": inconsistent fragments, message dropped",
		       p->nodeid);
		reasm_free(p, r);
		return;
	}
	memcpy(r->buf + h->frag_offset, payload, h->payload_len);
	r->got += h->payload_len;
	if (r->got < r->hdr.msg_len)
		return;
	r->hdr.flags &= (uint16_t)~FRAME_F_FRAG;
	r->hdr.payload_len = r->hdr.msg_len;
	deliver(t, &r->hdr, r->buf, r->hdr.msg_len);
	reasm_free(p, r);
}

void peer_receive(struct transport *t, struct tpeer *p, struct tlink *l,
		  const struct frame_hdr *h, const uint8_t *payload)
{
	l->rx_frames++;
	l->rx_bytes += FRAME_HDR_SIZE + h->payload_len;
	if (h->ack)
		peer_ack(p, h->ack);
	if (h->type != FRAME_DATA)
		return;
	if (h->seq <= p->rx_cum || rx_seen(p, h->seq))
		return; /* a resent copy: the first one was delivered */
	if (h->seq > p->rx_cum + RX_WINDOW - 1) {
		qb_log(LOG_WARNING, "node %" PRIu32 ": frame %" PRIu64 " beyond the window, dropped",
		       p->nodeid, h->seq);
		return;
	}
	rx_mark(p, h->seq, true);
	while (rx_seen(p, p->rx_cum + 1)) {
		rx_mark(p, p->rx_cum + 1, false);
		p->rx_cum++;
	}
	if (h->flags & FRAME_F_FRAG)
		fragment_receive(t, p, h, payload);
	else
		deliver(t, h, payload, h->payload_len);
}
