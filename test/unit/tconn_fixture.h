/*
 * For unit tests of the transport's users: a connection as conn_new() and
 * conn_established() leave it, over one end of a socketpair, without a
 * handshake (conn.c keeps those steps to itself).
 */
#ifndef VDISK_TEST_TCONN_FIXTURE_H
#define VDISK_TEST_TCONN_FIXTURE_H

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "dloop.h"
#include "transport_internal.h"

#define TCONN_FIXTURE_RBUF 4096

/* t as transport_start() builds it for node local, without its thread or
 * sockets: the caller's thread is the data thread, running t->loop. */
static inline void transport_fixture_init(struct transport *t, uint32_t local)
{
	int i;

	pthread_mutex_init(&t->stats_lock, NULL);
	t->local_nodeid = local;
	t->incarnation = 0x9999;
	t->cfg.policy = VDISK_POLICY_PASSIVE;
	t->cfg.hb_timeout_ms = 1000;
	qb_list_init(&t->conns);
	qb_list_init(&t->pings);
	t->loop = dloop_create();
	assert_non_null(t->loop);
	for (i = 0; i < TRANSPORT_MAX_LINKS; i++)
		t->listen_fd[i] = t->udp_fd[i] = -1;
}

/* An authenticated connection of t to nodeid on link, which the peer says
 * is its incarnation; the other end of the socketpair in *far. Polled with
 * fn, in t->conns. */
static inline struct tconn *tconn_fixture_make(struct transport *t, uint32_t nodeid, int link,
					       uint64_t incarnation, dloop_poll_fn fn, int *far)
{
	struct tconn *c = calloc(1, sizeof(*c));
	int sv[2];

	assert_non_null(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	c->rbuf = malloc(TCONN_FIXTURE_RBUF);
	assert_non_null(c->rbuf);
	c->rcap = TCONN_FIXTURE_RBUF;
	c->t = t;
	c->fd = sv[0];
	c->outbound = true; /* the lower nodeid connects */
	c->link = link;
	c->nodeid = nodeid;
	c->peer_incarnation = incarnation;
	c->state = CONN_UP;
	c->up_since = now_ns();
	qb_list_init(&c->txq);
	snprintf(c->addr, sizeof(c->addr), "node%u-link%d", nodeid, link);
	assert_int_equal(dloop_poll_add(t->loop, c->fd, POLLIN, c, fn), 0);
	qb_list_add_tail(&c->list, &t->conns);
	*far = sv[1];
	return c;
}

#endif
