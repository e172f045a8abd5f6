/*
 * A peer that restarted (a connection authenticated with a new incarnation):
 * peer_reset() on a transport with a real data loop and connections over
 * socketpairs. Node 1 (us) talks to node 2 over links 0 and 1 and to node 3
 * over link 0; node 2's old life received and sent frames, then node 2 comes
 * back on a new connection on link 0. The reset closes node 2's other
 * connections (their far ends read EOF) and nothing else, starts the channel
 * over in both directions (the new life's seq 1 is delivered, the old life's
 * unacknowledged frames are dropped, never sent to the new life) and tells
 * every client once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dloop.h"
#include "tconn_fixture.h"
#include "transport_internal.h"

#define NODE 2 /* the peer that restarts */
#define OTHER 3 /* a peer that does not */
#define OLD_RX 5 /* data frames 1..OLD_RX received from the old life */
#define OLD_TX 3 /* data frames sent to the old life, never acknowledged */
#define OLD_LINKS 2 /* node 2's old life had links 0 and 1 up */

struct client {
	unsigned int resets;
	uint32_t nodeid;
	uint64_t next_seq; /* the channel's, as the callback saw it */
	bool unacked_empty;
	unsigned int delivered;
	uint64_t last_reqid;
};

struct rig {
	struct transport t;
	struct tpeer *p, *other;
	struct tconn *old[OLD_LINKS]; /* node 2's old life, links 0 and 1 */
	struct tconn *fresh; /* node 2's new life, link 0 */
	struct tconn *third; /* node 3, link 0 */
	int far_old[OLD_LINKS], far_fresh, far_third;
	struct client echo, router;
	unsigned int released;
};

static struct rig *rig_of; /* for the reset callbacks' checks */

static int32_t no_event(int32_t fd, int32_t revents, void *data)
{
	(void)fd;
	(void)revents;
	(void)data;
	fail_msg("the loop is never run: no poll callback");
	return 0;
}

static void client_recv(void *ctx, const struct frame_hdr *h, const void *payload, size_t len)
{
	struct client *cl = ctx;

	(void)payload;
	(void)len;
	cl->delivered++;
	cl->last_reqid = h->reqid;
}

static void client_reset(void *ctx, uint32_t nodeid)
{
	struct client *cl = ctx;

	cl->resets++;
	cl->nodeid = nodeid;
	cl->next_seq = rig_of->p->next_seq;
	cl->unacked_empty = qb_list_empty(&rig_of->p->unacked);
}


/* Makes c the link's connection, the link up. */
static void link_up(struct tpeer *p, struct tconn *c)
{
	struct tlink *l = &p->links[c->link];

	l->configured = true;
	l->hb_up = true;
	l->conn = c;
}

static struct tpeer *peer_add(struct rig *r, uint32_t nodeid)
{
	struct tpeer *p = peer_new(nodeid);

	assert_non_null(p);
	p->member = true;
	p->incarnation = 0x1111;
	r->t.peers[r->t.npeers++] = p;
	return p;
}

/* Reads what fd has: the bytes read, and in *eof whether the other end is
 * closed (else it is open with nothing more to read). */
static size_t far_drain(int fd, bool *eof)
{
	uint8_t buf[4096];
	size_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			*eof = true;
			return total;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		*eof = false;
		return total;
	}
}

static struct frame_hdr data_from(uint32_t nodeid, uint64_t seq)
{
	return (struct frame_hdr){
		.type = FRAME_DATA,
		.client = TCLIENT_ECHO,
		.src_node = nodeid,
		.seq = seq,
		.reqid = 1000 + seq,
	};
}

/* A buffer handed to transport_send_buffer() comes back here. */
static void released(void *owner)
{
	rig_of->released++;
	free(owner);
}

/*
 * Node 2's old life: frames 1..OLD_RX received on link 0, OLD_RX + 2 too
 * (above the cumulative ack, in the bitmap), and the first fragment of a
 * message at OLD_RX + 3 (in reassembly); OLD_TX frames sent to it on link 0,
 * none acknowledged.
 */
static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct frame_hdr h, req = { .client = TCLIENT_ECHO, .reqid = 1 };
	uint8_t *frame;
	uint64_t seq;
	int i;
	bool eof;

	assert_non_null(r);
	rig_of = r;
	transport_fixture_init(&r->t, 1);
	assert_int_equal(
		transport_client_register(&r->t, TCLIENT_ECHO, client_recv, client_reset, &r->echo),
		0);
	assert_int_equal(transport_client_register(&r->t, TCLIENT_ROUTER, client_recv, client_reset,
						   &r->router),
			 0);
	/* A client without a reset callback is skipped. */
	assert_int_equal(
		transport_client_register(&r->t, TCLIENT_PING, client_recv, NULL, &r->router), 0);

	r->p = peer_add(r, NODE);
	r->other = peer_add(r, OTHER);
	for (i = 0; i < OLD_LINKS; i++) {
		r->old[i] = tconn_fixture_make(&r->t, NODE, i, 0, no_event, &r->far_old[i]);
		r->old[i]->peer_incarnation = r->p->incarnation;
		link_up(r->p, r->old[i]);
	}
	r->third = tconn_fixture_make(&r->t, OTHER, 0, 0, no_event, &r->far_third);
	link_up(r->other, r->third);

	for (seq = 1; seq <= OLD_RX; seq++) {
		h = data_from(NODE, seq);
		peer_receive(&r->t, r->p, &r->p->links[0], &h, NULL);
	}
	h = data_from(NODE, OLD_RX + 2);
	peer_receive(&r->t, r->p, &r->p->links[0], &h, NULL);
	h = data_from(NODE, OLD_RX + 3);
	h.flags = FRAME_F_FRAG;
	h.payload_len = 1;
	h.msg_len = 2;
	h.msg_seq = OLD_RX + 3;
	peer_receive(&r->t, r->p, &r->p->links[0], &h, (const uint8_t *)"x");
	assert_int_equal(r->echo.delivered, OLD_RX + 1);
	assert_int_equal(r->p->rx_cum, OLD_RX);
	assert_int_equal(r->p->nreasm, 1);

	for (i = 0; i < OLD_TX; i++) {
		frame = calloc(1, FRAME_HDR_SIZE + 8);
		assert_non_null(frame);
		assert_int_equal(
			transport_send_buffer(&r->t, NODE, &req, frame, 8, released, frame), 0);
	}
	/* The frames went out on link 0; the buffers wait for an ack. */
	assert_int_equal(far_drain(r->far_old[0], &eof), OLD_TX * (FRAME_HDR_SIZE + 8 + FRAME_TAG));
	assert_false(eof);
	assert_int_equal(r->p->next_seq, OLD_TX + 1);
	assert_int_equal(r->released, 0);

	/* Node 2 restarted: its new connection authenticated on link 0, as
	 * conn_established() has it when it calls peer_reset(): up, not yet
	 * the link's connection. */
	r->fresh = tconn_fixture_make(&r->t, NODE, 0, 0, no_event, &r->far_fresh);
	r->fresh->peer_incarnation = 0x2222;
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	struct tconn *c, *tmp;
	size_t i;
	int li;

	qb_list_for_each_entry_safe(c, tmp, &r->t.conns, list)
		conn_close(c, "test over");
	for (li = 0; li < OLD_LINKS; li++)
		close(r->far_old[li]);
	close(r->far_fresh);
	close(r->far_third);
	for (i = 0; i < r->t.npeers; i++)
		peer_free(r->t.peers[i]);
	dloop_destroy(r->t.loop);
	free(r->t.stats);
	pthread_mutex_destroy(&r->t.stats_lock);
	free(r);
	rig_of = NULL;
	return 0;
}

static bool in_conns(struct rig *r, const struct tconn *want)
{
	struct tconn *c;

	qb_list_for_each_entry(c, &r->t.conns, list)
		if (c == want)
			return true;
	return false;
}

static size_t conns_count(struct rig *r)
{
	struct tconn *c;
	size_t n = 0;

	qb_list_for_each_entry(c, &r->t.conns, list)
		n++;
	return n;
}

/* The rest of conn_established() after peer_reset(): the new connection
 * becomes link 0's, and what is unacknowledged goes out on it. */
static void established(struct rig *r)
{
	r->p->incarnation = r->fresh->peer_incarnation;
	link_up(r->p, r->fresh);
	peer_kick(&r->t, r->p);
}

/* 1: the old life's connections are closed, the new one and node 3's are
 * kept open. */
static void test_old_conns_closed(void **state)
{
	struct rig *r = *state;
	int old_fd0 = r->old[0]->fd, old_fd1 = r->old[1]->fd;
	bool eof;
	int i;

	assert_int_equal(conns_count(r), 4);
	peer_reset(&r->t, r->p, r->fresh);

	for (i = 0; i < OLD_LINKS; i++) {
		far_drain(r->far_old[i], &eof);
		assert_true(eof);
	}
	/* Out of the loop as well: no fd was opened since. */
	assert_int_equal(dloop_poll_del(r->t.loop, old_fd0), -ENOENT);
	assert_int_equal(dloop_poll_del(r->t.loop, old_fd1), -ENOENT);
	assert_int_equal(conns_count(r), 2);
	assert_true(in_conns(r, r->fresh));
	assert_true(in_conns(r, r->third));
	assert_null(r->p->links[0].conn);
	assert_null(r->p->links[1].conn);
	assert_int_equal(far_drain(r->far_fresh, &eof), 0);
	assert_false(eof);
	assert_int_equal(far_drain(r->far_third, &eof), 0);
	assert_false(eof);
	assert_ptr_equal(r->other->links[0].conn, r->third);
}

/* 2: the channel starts over: the new life's seqs from 1 are delivered,
 * though the old life had 1..OLD_RX and OLD_RX + 2 already. */
static void test_rx_starts_over(void **state)
{
	struct rig *r = *state;
	struct frame_hdr h;
	uint64_t seq;
	unsigned int before = r->echo.delivered;

	peer_reset(&r->t, r->p, r->fresh);
	established(r);
	assert_int_equal(r->p->rx_cum, 0);
	assert_int_equal(r->p->nreasm, 0);
	assert_true(qb_list_empty(&r->p->reasm));

	for (seq = 1; seq <= OLD_RX + 3; seq++) {
		h = data_from(NODE, seq);
		h.reqid = 5000 + seq;
		peer_receive(&r->t, r->p, &r->p->links[0], &h, NULL);
		assert_int_equal(r->echo.delivered, before + seq);
		assert_int_equal(r->echo.last_reqid, 5000 + seq);
		assert_int_equal(r->p->rx_cum, seq);
	}
	/* And duplicates of the new life are dropped again. */
	h = data_from(NODE, 1);
	peer_receive(&r->t, r->p, &r->p->links[0], &h, NULL);
	assert_int_equal(r->echo.delivered, before + OLD_RX + 3);
	assert_int_equal(r->p->links[0].rx_frames, OLD_RX + 2 + OLD_RX + 4);
}

/* 3: every client with a reset callback hears once, about node 2, with the
 * channel already cleared (what it sends again is not dropped with the old
 * frames). */
static void test_clients_told(void **state)
{
	struct rig *r = *state;

	peer_reset(&r->t, r->p, r->fresh);
	assert_int_equal(r->echo.resets, 1);
	assert_int_equal(r->echo.nodeid, NODE);
	assert_int_equal(r->echo.next_seq, 1);
	assert_true(r->echo.unacked_empty);
	assert_int_equal(r->router.resets, 1);
	assert_int_equal(r->router.nodeid, NODE);
	assert_int_equal(r->router.next_seq, 1);
	assert_true(r->router.unacked_empty);
}

/* 4: the old life's unacknowledged frames are dropped (their buffers given
 * back), not sent to the new life; what is sent next is the new life's
 * seq 1, acknowledging nothing of the old life. */
static void test_unacked_dropped(void **state)
{
	struct rig *r = *state;
	struct frame_hdr req = { .client = TCLIENT_ECHO, .reqid = 2 }, h;
	uint8_t buf[FRAME_HDR_SIZE + 8 + FRAME_TAG]; /* and its tag, zeros: not keyed */
	bool eof;

	peer_reset(&r->t, r->p, r->fresh);
	assert_true(qb_list_empty(&r->p->unacked));
	assert_int_equal(r->released, OLD_TX);
	assert_int_equal(r->p->next_seq, 1);
	assert_int_equal(r->p->frag_msgs, 0);
	assert_false(r->p->requeue);

	established(r);
	peer_ack_flush(&r->t, r->p); /* nothing received: no ack either */
	assert_int_equal(far_drain(r->far_fresh, &eof), 0);
	assert_false(eof);

	assert_int_equal(transport_send(&r->t, NODE, &req, "new life", 8), 0);
	assert_int_equal(read(r->far_fresh, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(frame_hdr_decode(buf, FRAME_HDR_SIZE + 8, &h), 0);
	assert_int_equal(h.type, FRAME_DATA);
	assert_int_equal(h.seq, 1);
	assert_int_equal(h.ack, 0);
	assert_int_equal(h.reqid, 2);
	assert_memory_equal(buf + FRAME_HDR_SIZE, "new life", 8);
	assert_int_equal(far_drain(r->far_fresh, &eof), 0);
	assert_false(eof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_old_conns_closed, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_rx_starts_over, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_clients_told, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_unacked_dropped, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
