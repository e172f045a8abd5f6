/*
 * UDP heartbeats on every link: each node pings each member on each link
 * every interval; the peer answers at once. A link is up after HB_UP_STREAK
 * answers in a row and down when none came for the timeout; going down
 * closes the link's connection, which sends its unacknowledged frames on
 * another link. Heartbeats carry a truncated HMAC so nobody can keep a dead
 * link "up" by spoofing them.
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

static void hb_send(struct transport *t, int link, enum hb_type type, uint64_t seq,
		    uint64_t stamp, const struct sockaddr_storage *to)
{
	struct hb_msg m = {
		.type = type,
		.nodeid = t->local_nodeid,
		.link = (uint32_t)link,
		.incarnation = t->incarnation,
		.seq = seq,
		.stamp = stamp,
	};
	uint8_t buf[HB_SIZE], mac[AUTH_MAC_LEN];

	hb_encode(&m, buf);
	auth_mac(&t->cfg.key, buf, HB_MAC_OFFSET, NULL, 0, mac);
	memcpy(buf + HB_MAC_OFFSET, mac, HB_MAC);
	/* Loss is what heartbeats measure: a failed send is a missed beat. */
	if (sendto(t->udp_fd[link], buf, sizeof(buf), MSG_DONTWAIT, (const struct sockaddr *)to,
		   sockaddr_len(to)) < 0)
		qb_log(LOG_TRACE, "heartbeat on link %d: %s", link, strerror(errno));
}

static void hb_pong(struct transport *t, struct tpeer *p, struct tlink *l, const struct hb_msg *m)
{
	uint64_t now = now_ns(), rtt;

	if (m->stamp > now)
		return;
	rtt = now - m->stamp;
	/* An answer older than the timeout says nothing about now. */
	if (rtt > (uint64_t)t->cfg.hb_timeout_ms * 1000000)
		return;
	l->last_pong = now;
	if (!l->rtt_n || rtt < l->rtt_min)
		l->rtt_min = rtt;
	if (rtt > l->rtt_max)
		l->rtt_max = rtt;
	l->rtt_sum += rtt;
	l->rtt_n++;
	if (l->hb_up)
		return;
	if (++l->streak < HB_UP_STREAK)
		return;
	l->hb_up = true;
	link_state_update(p, l);
	peer_kick(t, p);
}

/* Forged datagrams cost nothing to send: say so once per interval per link,
 * with a count, not once per datagram. */
static void hb_bad_log(struct transport *t, int link, const struct sockaddr_storage *from,
		       uint32_t nodeid)
{
	uint64_t now = now_ns();
	char addr[64];

	t->hb_bad[link]++;
	if (now - t->hb_bad_logged[link] < (uint64_t)HB_BAD_LOG_MS * 1000000)
		return;
	sockaddr_format(from, addr, sizeof(addr));
	qb_log(LOG_WARNING, "link %d: heartbeat from %s (claims node %" PRIu32
	       ") fails authentication (%" PRIu64 " since the last report)", link, addr, nodeid,
	       t->hb_bad[link]);
	t->hb_bad[link] = 0;
	t->hb_bad_logged[link] = now;
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
		struct hb_msg m;
		struct tpeer *p;

		if (n < 0)
			break;
		if (hb_decode(buf, (size_t)n, &m) || m.link != (uint32_t)ctx->link ||
		    m.nodeid == t->local_nodeid)
			continue;
		if (!auth_verify(&t->cfg.key, buf, HB_MAC_OFFSET, NULL, 0, m.mac, HB_MAC)) {
			hb_bad_log(t, ctx->link, &from, m.nodeid);
			continue;
		}
		p = transport_peer(t, m.nodeid);
		if (!p || !p->member)
			continue;
		if (m.type == HB_PING)
			hb_send(t, ctx->link, HB_PONG, m.seq, m.stamp, &from);
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
	uint64_t timeout = (uint64_t)t->cfg.hb_timeout_ms * 1000000;
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
			hb_send(t, li, HB_PING, ++l->hb_seq, now, &l->addr);
			if (now - l->last_pong <= timeout)
				continue;
			l->streak = 0;
			if (!l->hb_up)
				continue;
			l->hb_up = false;
			qb_log(LOG_NOTICE, "link %d to node %" PRIu32 " (%s): no heartbeat for %u ms",
			       li, p->nodeid, l->addr_str, t->cfg.hb_timeout_ms);
			if (l->conn)
				conn_close(l->conn, "heartbeat timeout");
			else
				link_state_update(p, l);
		}
	}
}
