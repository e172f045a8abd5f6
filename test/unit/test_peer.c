/*
 * The reliable channel's reassembly of fragmented messages: the pure checks
 * of peer.h (in order, out of order, repeated, overlapping, contradicting
 * fragments), and peer_receive()/transport_send() on a channel without
 * links: what the sender cuts the receiver puts together, a fragment the
 * receiver cannot hold is not counted received, so its resend is taken, and
 * the sender never has more partial messages out than the receiver holds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer.h"
#include "transport_internal.h"

#define REQID 77

static struct frame_hdr frag(uint64_t seq, uint64_t msg_seq, uint32_t off, uint32_t n,
			     uint32_t msg_len)
{
	return (struct frame_hdr){
		.type = FRAME_DATA,
		.flags = FRAME_F_FRAG,
		.client = TCLIENT_ECHO,
		.src_node = 2,
		.seq = seq,
		.reqid = REQID,
		.payload_len = n,
		.frag_offset = off,
		.msg_len = msg_len,
		.msg_seq = msg_seq,
	};
}

/* The message every test cuts up: byte i is i * 7 + 1. */
static uint8_t msg[64];

static struct reasm *reasm_for(struct frame_hdr h)
{
	struct reasm *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->hdr = h;
	r->buf = malloc(h.msg_len);
	assert_non_null(r->buf);
	memset(r->buf, 0xee, h.msg_len);
	return r;
}

static void reasm_drop(struct reasm *r)
{
	free(r->buf);
	free(r);
}

/* Takes fragment h, which must be accepted; returns whether it completed. */
static bool take(struct reasm *r, struct frame_hdr h)
{
	assert_int_equal(reasm_check(r, &h), 0);
	return reasm_add(r, &h, msg + h.frag_offset);
}

/* A 10-byte message in chunks of 3: seqs 100..103, the last one 1 byte. */
static struct frame_hdr ten(unsigned int i)
{
	return frag(100 + i, 100, 3 * i, i == 3 ? 1 : 3, 10);
}

static void test_in_order(void **state)
{
	struct reasm *r = reasm_for(ten(0));
	unsigned int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_false(take(r, ten(i)));
	assert_true(take(r, ten(3)));
	assert_memory_equal(r->buf, msg, 10);
	reasm_drop(r);
}

static void test_out_of_order(void **state)
{
	/* The last one first: its offset tells the chunk size. */
	static const unsigned int orders[][4] = { { 3, 1, 0, 2 }, { 2, 3, 0, 1 }, { 1, 0, 3, 2 } };
	size_t o;
	unsigned int i;

	(void)state;
	for (o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
		struct reasm *r = reasm_for(ten(orders[o][0]));

		for (i = 0; i < 3; i++)
			assert_false(take(r, ten(orders[o][i])));
		assert_true(take(r, ten(orders[o][3])));
		assert_memory_equal(r->buf, msg, 10);
		reasm_drop(r);
	}
}

static void test_duplicate(void **state)
{
	struct frame_hdr h = ten(1);
	struct reasm *r = reasm_for(h);

	(void)state;
	assert_false(take(r, h));
	assert_int_equal(reasm_check(r, &h), -EEXIST);
	assert_int_equal(r->got, 3);
	reasm_drop(r);
}

static void test_overlapping(void **state)
{
	struct frame_hdr h0 = ten(0);
	struct reasm *r = reasm_for(h0);
	/* Index 1 must start at 3: these overlap fragment 0 or leave a gap. */
	const struct frame_hdr bad[] = {
		frag(101, 100, 2, 3, 10), /* overlaps 0 */
		frag(101, 100, 4, 3, 10), /* gap */
		frag(101, 100, 3, 4, 10), /* longer than the chunk */
		frag(101, 100, 3, 2, 10), /* shorter, not the last */
		frag(102, 100, 6, 4, 10), /* the last, longer than the chunk */
		frag(103, 100, 8, 2, 10), /* last at the wrong place */
		frag(100, 100, 0, 5, 10), /* index 0 again, other size */
	};
	size_t i;

	(void)state;
	assert_false(take(r, h0));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(reasm_check(r, &bad[i]), 0);
	assert_int_equal(r->got, 3);
	reasm_drop(r);

	/* The finding: two fragments that both say offset 0 of a 10-byte
	 * message must never complete it with 5 bytes never written. */
	h0 = frag(100, 100, 0, 5, 10);
	r = reasm_for(h0);
	assert_false(take(r, h0));
	h0 = frag(101, 100, 0, 5, 10);
	assert_int_equal(reasm_check(r, &h0), -EPROTO);
	reasm_drop(r);

	/* A last fragment alone whose offset is no multiple of its index. */
	h0 = frag(103, 100, 8, 2, 10);
	r = reasm_for(h0);
	assert_int_equal(reasm_check(r, &h0), -EPROTO);
	reasm_drop(r);
}

static void test_contradicting(void **state)
{
	struct frame_hdr h0 = ten(0), h;
	struct reasm *r = reasm_for(h0);

	(void)state;
	assert_false(take(r, h0));
	h = ten(1);
	h.reqid++;
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	h = ten(1);
	h.client = TCLIENT_PING;
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	h = ten(1);
	h.flags |= FRAME_F_REPLY;
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	h = frag(101, 100, 3, 3, 11);
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	h = ten(1);
	h.flags = 0;
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	reasm_drop(r);
}

static void test_fragment_count(void **state)
{
	struct frame_hdr h = frag(100, 100, 0, 1, FRAG_MAX + 1), last;
	struct reasm *r = reasm_for(h);

	(void)state;
	/* 1-byte chunks of a FRAG_MAX + 1 byte message: one too many. */
	assert_int_equal(reasm_check(r, &h), -EPROTO);
	reasm_drop(r);
	h = frag(100, 100, 0, 1, FRAG_MAX);
	r = reasm_for(h);
	assert_int_equal(reasm_check(r, &h), 0);
	last = frag(100 + FRAG_MAX - 1, 100, FRAG_MAX - 1, 1, FRAG_MAX);
	assert_int_equal(reasm_check(r, &last), 0);
	last = frag(100 + FRAG_MAX, 100, FRAG_MAX, 1, FRAG_MAX + 1);
	assert_int_equal(reasm_check(r, &last), -EPROTO);
	reasm_drop(r);
}

/* Channel tests: a transport with one peer, node 2, and no live link. */

struct delivered {
	unsigned int n;
	size_t len;
	bool same; /* every message equal to what was sent */
	const uint8_t *want;
};

static void record(void *ctx, const struct frame_hdr *h, const void *payload, size_t len)
{
	struct delivered *d = ctx;

	d->n++;
	d->len = len;
	if (h->flags & FRAME_F_FRAG || h->reqid != REQID || len != h->payload_len ||
	    memcmp(payload, d->want, len))
		d->same = false;
}

struct chan {
	struct transport t;
	struct tpeer *p;
	struct delivered got;
};

static int chan_setup(void **state)
{
	struct chan *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->p = peer_new(2);
	if (!c->p) {
		free(c);
		return -1;
	}
	c->p->member = true;
	c->t.local_nodeid = 1;
	c->t.peers[0] = c->p;
	c->t.npeers = 1;
	c->got.same = true;
	c->got.want = msg;
	c->t.clients[TCLIENT_ECHO] = (struct tclient_slot){ .recv = record, .ctx = &c->got };
	*state = c;
	return 0;
}

static int chan_teardown(void **state)
{
	struct chan *c = *state;

	peer_free(c->p);
	free(c);
	return 0;
}

static void receive(struct chan *c, const struct frame_hdr *h)
{
	peer_receive(&c->t, c->p, &c->p->links[0], h, msg + h->frag_offset);
}

static void test_too_many_partial(void **state)
{
	struct chan *c = *state;
	struct frame_hdr h;
	uint64_t k;

	/* Messages k of 2 bytes, fragments 2k + 1 and 2k + 2; only the
	 * second fragments come: REASM_MAX partial messages. */
	for (k = 0; k < REASM_MAX; k++) {
		h = frag(2 * k + 2, 2 * k + 1, 1, 1, 2);
		receive(c, &h);
	}
	assert_int_equal(c->p->nreasm, REASM_MAX);
	/* One more is refused: not received, so not acknowledged. */
	h = frag(2 * REASM_MAX + 2, 2 * REASM_MAX + 1, 1, 1, 2);
	receive(c, &h);
	assert_int_equal(c->p->nreasm, REASM_MAX);
	assert_int_equal(c->got.n, 0);
	assert_int_equal(c->p->rx_cum, 0);
	/* The first fragments complete the REASM_MAX messages. */
	for (k = 0; k < REASM_MAX; k++) {
		h = frag(2 * k + 1, 2 * k + 1, 0, 1, 2);
		receive(c, &h);
	}
	assert_int_equal(c->got.n, REASM_MAX);
	assert_int_equal(c->p->nreasm, 0);
	assert_int_equal(c->p->rx_cum, 2 * REASM_MAX);
	/* The refused fragment, sent again, is taken now. */
	h = frag(2 * REASM_MAX + 2, 2 * REASM_MAX + 1, 1, 1, 2);
	receive(c, &h);
	h = frag(2 * REASM_MAX + 1, 2 * REASM_MAX + 1, 0, 1, 2);
	receive(c, &h);
	assert_int_equal(c->got.n, REASM_MAX + 1);
	assert_int_equal(c->p->rx_cum, 2 * REASM_MAX + 2);
	assert_true(c->got.same);
	assert_int_equal(c->p->links[0].rx_frames, 2 * REASM_MAX + 3);
}

static void test_contradiction_not_received(void **state)
{
	struct chan *c = *state;
	struct frame_hdr h = ten(0);

	c->p->rx_cum = 99;
	receive(c, &h);
	h = frag(101, 100, 0, 3, 10); /* overlaps fragment 0 */
	receive(c, &h);
	assert_int_equal(c->p->rx_cum, 100);
	h = ten(1);
	receive(c, &h);
	h = ten(3);
	receive(c, &h);
	h = ten(2);
	receive(c, &h);
	assert_int_equal(c->got.n, 1);
	assert_int_equal(c->got.len, 10);
	assert_true(c->got.same);
	assert_int_equal(c->p->rx_cum, 103);
}

/* What transport_send() cuts, peer_receive() puts together, whatever the
 * order and however often each fragment comes. */
static void test_send_receive(void **state)
{
	struct chan *c = *state;
	const size_t len = FRAME_PAYLOAD_MAX + 3; /* 2 fragments, the last shorter */
	struct frame_hdr req = { .client = TCLIENT_ECHO, .reqid = REQID }, h[FRAG_MAX];
	uint8_t *big = malloc(len), *frames[FRAG_MAX];
	struct tpeer *rx = peer_new(1);
	struct tframe *f;
	size_t i, n = 0;

	assert_non_null(big);
	assert_non_null(rx);
	for (i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7 + 1);
	c->got.want = big;
	assert_int_equal(transport_send(&c->t, 2, &req, big, len), 0);
	assert_int_equal(c->p->frag_msgs, 1);
	qb_list_for_each_entry(f, &c->p->unacked, list) {
		assert_int_equal(f->link, -1); /* no live link */
		assert_int_equal(frame_hdr_decode(f->bytes, f->len, &h[n]), 0);
		frames[n++] = f->bytes + FRAME_HDR_SIZE;
	}
	assert_int_equal(n, 2);
	assert_true(h[0].payload_len > h[1].payload_len);
	/* Backwards, then all again: one message, delivered once. */
	for (i = n; i--;)
		peer_receive(&c->t, rx, &rx->links[1], &h[i], frames[i]);
	for (i = 0; i < n; i++)
		peer_receive(&c->t, rx, &rx->links[0], &h[i], frames[i]);
	assert_int_equal(c->got.n, 1);
	assert_int_equal(c->got.len, len);
	assert_true(c->got.same);
	assert_int_equal(rx->rx_cum, h[n - 1].seq);
	/* Its acknowledgement ends the message at the sender. */
	h[0] = (struct frame_hdr){ .type = FRAME_ACK, .src_node = 2, .ack = rx->rx_cum };
	peer_receive(&c->t, c->p, &c->p->links[0], &h[0], NULL);
	assert_int_equal(c->p->frag_msgs, 0);
	assert_true(qb_list_empty(&c->p->unacked));
	peer_free(rx);
	free(big);
}

/* The sender keeps within what the receiver can reassemble: REASM_MAX
 * fragmented messages unacknowledged, then -ENOBUFS (and nothing queued),
 * as for a full window; whole messages still go. */
static void test_send_bound(void **state)
{
	struct chan *c = *state;
	const size_t len = FRAME_PAYLOAD_MAX + 1;
	struct frame_hdr req = { .client = TCLIENT_ECHO, .reqid = REQID };
	uint8_t *big = calloc(1, len);
	uint64_t next;

	assert_non_null(big);
	c->p->frag_msgs = REASM_MAX - 1;
	assert_int_equal(transport_send(&c->t, 2, &req, big, len), 0);
	assert_int_equal(c->p->frag_msgs, REASM_MAX);
	next = c->p->next_seq;
	assert_int_equal(transport_send(&c->t, 2, &req, big, len), -ENOBUFS);
	assert_int_equal(c->p->next_seq, next);
	assert_int_equal(transport_send(&c->t, 2, &req, big, FRAME_PAYLOAD_MAX), 0);
	assert_int_equal(c->p->next_seq, next + 1);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_contradicting),
		cmocka_unit_test(test_fragment_count),
		cmocka_unit_test_setup_teardown(test_too_many_partial, chan_setup, chan_teardown),
		cmocka_unit_test_setup_teardown(test_contradiction_not_received, chan_setup,
						chan_teardown),
		cmocka_unit_test_setup_teardown(test_send_receive, chan_setup, chan_teardown),
		cmocka_unit_test_setup_teardown(test_send_bound, chan_setup, chan_teardown),
	};
	size_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
