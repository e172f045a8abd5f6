/*
 * UDP heartbeats on every link: each node pings each member on each link
 * every interval; the peer answers at once. An answer counts once, and only
 * if it answers, within the timeout, a ping sent after the last one answered. A link is up
 * after HB_UP_STREAK answers in a row (a ping missed or answered late starts
 * the count over) and down the moment the timeout has passed since the last
 * answer (a timer, not the interval, says when); going down closes the
 * link's connection, which sends its unacknowledged frames on another link.
 * Heartbeats carry a truncated HMAC so nobody can keep a dead link "up" by
 * spoofing them.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "transport_internal.h"

/* Sends a heartbeat on link to l's peer (at to: where its ping came from),
 * counted on l. */
static void hb_send(struct transport *t, int link, struct tlink *l, enum hb_type type,
		    uint64_t seq, uint64_t stamp, const struct sockaddr_storage *to)
{
	struct hb_msg m = {
		.type = type,
		.nodeid = t->local_nodeid,
		.link = (uint32_t)link,
		.incarnation = t->incarnation,
		.seq = seq,
		.stamp = stamp,
		.peer_stamp = type == HB_PONG ? now_ns() : 0,
	};
	uint8_t buf[HB_SIZE], mac[AUTH_MAC_LEN];
	struct auth_part head = { buf, HB_MAC_OFFSET };

	hb_encode(&m, buf);
	auth_mac(&t->cfg.key, &head, 1, mac);
	memcpy(buf + HB_MAC_OFFSET, mac, HB_MAC);
	/* Loss is what heartbeats measure: a failed send is a missed beat. */
	if (sendto(t->udp_fd[link], buf, sizeof(buf), MSG_DONTWAIT, (const struct sockaddr *)to,
		   sockaddr_len(to)) < 0)
		qb_log(LOG_TRACE, "heartbeat on link %d: %s", link, strerror(errno));
	else
		l->hb_tx++;
}

static void hb_deadline(void *data);

/* Makes the deadline timer fire by when (monotonic ns) at the latest. */
static void hb_deadline_arm(struct transport *t, uint64_t when, uint64_t now)
{
	if (t->hb_timer && t->hb_timer_at <= when)
		return;
	dloop_timer_del(t->loop, t->hb_timer);
	t->hb_timer = 0;
	/* On failure the tick's check is the backstop, one interval late. */
	if (dloop_timer_add(t->loop, when > now ? when - now : 0, t, hb_deadline, &t->hb_timer))
		t->hb_timer = 0;
	else
		t->hb_timer_at = when;
}

/* Takes down every up link whose last answer is a timeout old, and sets the
 * timer for the next such deadline. */
static void hb_expire(struct transport *t, uint64_t now)
{
	uint64_t timeout = (uint64_t)t->cfg.hb_timeout_ms * 1000000, next = UINT64_MAX;
	size_t i;
	int li;

	for (i = 0; i < t->npeers; i++) {
		struct tpeer *p = t->peers[i];

		for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
			struct tlink *l = &p->links[li];

			if (!l->hb_up)
				continue;
			if (now < l->last_pong + timeout) {
				if (l->last_pong + timeout < next)
					next = l->last_pong + timeout;
				continue;
			}
			l->hb_up = false;
			l->streak = 0;
			qb_log(LOG_NOTICE,
			       "link %d to node %" PRIu32 " (%s): no heartbeat for %" PRIu64 " ms",
			       li, p->nodeid, l->addr_str, (now - l->last_pong) / 1000000);
			if (l->conn)
				conn_close(l->conn, "heartbeat timeout");
			else
				link_state_update(t, p, l);
		}
	}
	if (next != UINT64_MAX)
		hb_deadline_arm(t, next, now);
}

static void hb_deadline(void *data)
{
	struct transport *t = data;

	t->hb_timer = 0;
	hb_expire(t, now_ns());
}

/*
 * The peer read its clock (peer_stamp) after our ping left and before its
 * pong came back (now), so its clock minus ours was at least
 * peer_stamp - now then. The best such lower bound is kept, aged by the
 * largest rate two monotonic clocks may drift apart, so it stays a lower
 * bound: transport_peer_clock() turns our deadlines into the peer's clock
 * no later than they fall.
 */
static void clock_sample(struct tpeer *p, uint64_t peer_stamp, uint64_t now)
{
	int64_t lo = (int64_t)(peer_stamp - now);

	/* A bound older than the window gives way to a fresh one even when
	 * lower: the clocks drifted more than assumed, or the peer's host
	 * restarted its clock (a new incarnation resets it anyway). */
	if (!p->clk_valid || lo >= clock_lo(p, now) || now - p->clk_at > CLOCK_WINDOW_NS) {
		p->clk_lo = lo;
		p->clk_at = now;
		p->clk_valid = true;
	}
}

static void hb_pong(struct transport *t, struct tpeer *p, struct tlink *l, const struct hb_msg *m)
{
	uint64_t now = now_ns(), rtt;
	bool missed;

	/* Only the answer to a ping we sent, once: a repeated or an
	 * overtaken pong says nothing new. */
	if (m->seq <= l->pong_seq || m->seq > l->hb_seq || m->stamp > now)
		return;
	missed = m->seq != l->pong_seq + 1;
	l->pong_seq = m->seq;
	rtt = now - m->stamp;
	/* An answer older than the timeout says nothing about now. */
	if (rtt > (uint64_t)t->cfg.hb_timeout_ms * 1000000) {
		l->streak = 0;
		return;
	}
	l->last_pong = now;
	/* The clock of the life we talk to only: a restarted peer answers
	 * heartbeats before its new connection resets the channel (and the
	 * bound with it, peer_reset()). */
	if (!p->incarnation || m->incarnation == p->incarnation)
		clock_sample(p, m->peer_stamp, now);
	if (!l->rtt_n || rtt < l->rtt_min)
		l->rtt_min = rtt;
	if (rtt > l->rtt_max)
		l->rtt_max = rtt;
	l->rtt_sum += rtt;
	l->rtt_n++;
	if (l->hb_up)
		return;
	l->streak = missed ? 1 : l->streak + 1;
	if (l->streak < HB_UP_STREAK)
		return;
	l->hb_up = true;
	hb_deadline_arm(t, now + (uint64_t)t->cfg.hb_timeout_ms * 1000000, now);
	link_state_update(t, p, l);
	peer_kick(t, p);
}

/* Forged datagrams cost nothing to send: say so once per interval per link,
 * with a count, not once per datagram. */
static void hb_bad_log(struct transport *t, int link, const struct sockaddr_storage *from,
		       uint32_t nodeid)
{
	uint64_t n = ratelog_hit(&t->hb_bad[link], now_ns(), RATELOG_MS);
	char addr[64];

	if (!n)
		return;
	sockaddr_format(from, addr, sizeof(addr));
	qb_log(LOG_WARNING, "link %d: heartbeat from %s (claims node %" PRIu32
	       ") fails authentication (%" PRIu64 " since the last report)", link, addr, nodeid, n);
}

static int hb_event(int32_t fd, int32_t revents, void *data)
{
	struct fd_ctx *ctx = data;
	struct transport *t = ctx->t;
	struct sockaddr_storage from;
	uint8_t buf[HB_SIZE + 1];
	int i;

	for (i = 0; i < 64; i++) {
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &len);
		struct auth_part head = { buf, HB_MAC_OFFSET };
		struct hb_msg m;
		struct tpeer *p;

		if (n < 0)
			break;
		if (hb_decode(buf, (size_t)n, &m) || m.link != (uint32_t)ctx->link ||
		    m.nodeid == t->local_nodeid)
			continue;
		if (!auth_verify(&t->cfg.key, &head, 1, m.mac, HB_MAC)) {
			hb_bad_log(t, ctx->link, &from, m.nodeid);
			continue;
		}
		p = transport_peer(t, m.nodeid);
		if (!p || !p->member)
			continue;
		p->links[ctx->link].hb_rx++;
		if (m.type == HB_PING)
			hb_send(t, ctx->link, &p->links[ctx->link], HB_PONG, m.seq, m.stamp, &from);
		else
			hb_pong(t, p, &p->links[ctx->link], &m);
	}
	return 0;
}

int hb_open(struct transport *t, int link)
{
	int fd = socket(t->local[link].ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&t->local[link], sockaddr_len(&t->local[link]))) {
		rc = -errno;
		goto out_close;
	}
	t->fdctx[link] = (struct fd_ctx){ .t = t, .link = link };
	rc = dloop_poll_add(t->loop, fd, POLLIN, &t->fdctx[link], hb_event);
	if (rc)
		goto out_close;
	t->udp_fd[link] = fd;
	return 0;

out_close:
	close(fd);
	return rc;
}

void hb_tick(struct transport *t, uint64_t now)
{
	size_t i;
	int li;

	for (i = 0; i < t->npeers; i++) {
		struct tpeer *p = t->peers[i];

		if (!p->member)
			continue;
		for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
			struct tlink *l = &p->links[li];

			if (!l->configured || t->udp_fd[li] < 0)
				continue;
			hb_send(t, li, l, HB_PING, ++l->hb_seq, now, &l->addr);
		}
	}
	hb_expire(t, now);
}
