/*
 * For unit tests of the transport's users (the router, remote.c): other
 * nodes as the test plays them. Each has a channel to the node under test
 * over one connection on link 0 (tconn_fixture.h); the test reads, on its
 * far end, every data frame the node sent it (decoded with
 * frame_hdr_decode(), the last FAR_KEEP kept), and sends it frames as the
 * next frames of its channel, through peer_receive() as conn.c hands them
 * over.
 */
#ifndef VDISK_TEST_FAR_FIXTURE_H
#define VDISK_TEST_FAR_FIXTURE_H

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tconn_fixture.h"
#include "transport_internal.h"

#define FAR_RBUF (64 * 1024)
#define FAR_DATA_MAX 4096 /* payload bytes kept of a frame */
#define FAR_KEEP 16

struct far_frame {
	struct frame_hdr h;
	uint8_t data[FAR_DATA_MAX];
};

struct far_node {
	struct transport *t;
	uint32_t id;
	struct tpeer *p;
	struct tconn *c; /* its connection on link 0 */
	int far; /* its end */
	uint64_t seq; /* of the last data frame it sent */
	uint64_t rx; /* seq of the last frame it read: what it acknowledges */
	uint8_t buf[FAR_RBUF]; /* bytes read, not yet a whole frame */
	size_t blen;
	struct far_frame frames[FAR_KEEP]; /* frame n at n % FAR_KEEP */
	size_t nframes;
};

static int32_t far_no_event(int32_t fd, int32_t revents, void *data)
{
	(void)fd;
	(void)revents;
	(void)data;
	fail_msg("input is delivered with peer_receive(): no poll callback");
	return 0;
}

/* The rest of conn_established(): c carries link 0. */
static inline void far_link_up(struct far_node *n, struct tconn *c)
{
	struct tlink *l = &n->p->links[0];

	n->p->incarnation = c->peer_incarnation;
	l->configured = true;
	l->hb_up = true;
	l->conn = c;
	n->c = c;
	peer_kick(n->t, n->p);
}

/* nodeid, a member of t's cluster with link 0 up. */
static inline void far_node_add(struct transport *t, struct far_node *n, uint32_t nodeid)
{
	n->t = t;
	n->id = nodeid;
	n->p = peer_new(nodeid);
	assert_non_null(n->p);
	n->p->member = true;
	t->peers[t->npeers++] = n->p;
	far_link_up(n, tconn_fixture_make(t, nodeid, 0, 0x1111, far_no_event, &n->far));
}

/* Reads what the far end has: each whole data frame is kept (an ack frame
 * carries nothing to check). The fixture's connections are not keyed: each
 * frame's tag (frame_mac.h) is there, all zeros, and skipped. */
static inline void far_read(struct far_node *n)
{
	struct far_frame *f;
	struct frame_hdr h;
	size_t size;
	ssize_t got;

	for (;;) {
		got = read(n->far, n->buf + n->blen, sizeof(n->buf) - n->blen);
		if (got < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		assert_true(got > 0); /* a far end's connection is never closed here */
		n->blen += (size_t)got;
		while (n->blen >= FRAME_HDR_SIZE) {
			assert_int_equal(frame_hdr_decode(n->buf, n->blen, &h), 0);
			size = FRAME_HDR_SIZE + h.payload_len + FRAME_TAG;
			assert_true(size <= sizeof(n->buf));
			if (n->blen < size)
				break;
			if (h.type == FRAME_DATA) {
				/* The channel is in order, from 1 in each life. */
				assert_int_equal(h.seq, n->rx + 1);
				n->rx = h.seq;
				f = &n->frames[n->nframes++ % FAR_KEEP];
				f->h = h;
				memcpy(f->data, n->buf + FRAME_HDR_SIZE,
				       h.payload_len < FAR_DATA_MAX ? h.payload_len : FAR_DATA_MAX);
			}
			memmove(n->buf, n->buf + size, n->blen - size);
			n->blen -= size;
		}
	}
}

/* The latest frame the far end read (there is one). */
static inline const struct far_frame *far_last(struct far_node *n)
{
	far_read(n);
	assert_true(n->nframes > 0);
	return &n->frames[(n->nframes - 1) % FAR_KEEP];
}

/* h arrives from the far node as the next frame of its channel,
 * acknowledging what it read. */
static inline void far_send(struct far_node *n, struct frame_hdr h, const void *payload)
{
	far_read(n);
	h.type = FRAME_DATA;
	h.src_node = n->id;
	h.seq = ++n->seq;
	h.ack = n->rx;
	h.msg_len = h.payload_len;
	peer_receive(n->t, n->p, &n->p->links[0], &h, payload);
}

/* The far node restarted: its new connection authenticated on link 0 with a
 * new incarnation, conn_established() calls peer_reset() and makes it the
 * link's. The old connection is closed, its end reads EOF; the new life
 * numbers its frames from 1 again. */
static inline void far_restart(struct far_node *n)
{
	struct tconn *fresh;
	uint8_t b;
	int far;

	far_read(n);
	fresh = tconn_fixture_make(n->t, n->id, 0, 0x2222, far_no_event, &far);
	peer_reset(n->t, n->p, fresh);
	far_link_up(n, fresh);
	assert_int_equal(read(n->far, &b, 1), 0);
	assert_int_equal(n->blen, 0);
	close(n->far);
	n->far = far;
	n->seq = 0;
	n->rx = 0;
}

/* Undoes far_node_add() for every far node of t and transport_fixture_init()
 * (t's data mailbox included), once the transport's users are gone:
 * answers still unacknowledged go with the channels. */
static inline void far_fixture_destroy(struct transport *t, struct far_node *nodes, size_t n)
{
	struct tconn *c, *tmp;
	size_t i;

	qb_list_for_each_entry_safe(c, tmp, &t->conns, list)
		conn_close(c, "test over");
	for (i = 0; i < n; i++)
		close(nodes[i].far);
	for (i = 0; i < t->npeers; i++)
		peer_free(t->peers[i]);
	mailbox_destroy(t->to_data, free);
	dloop_destroy(t->loop);
	free(t->stats);
	pthread_mutex_destroy(&t->stats_lock);
}

#endif
