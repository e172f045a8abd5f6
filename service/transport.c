/*
 * The transport's data-plane thread: its loop, the node table the control
 * plane publishes, the periodic tick (heartbeats, reconnects, handshake
 * timeouts, statistics) and the calls the control plane makes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "transport_internal.h"

socklen_t sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

void sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "-");
	}
}

const char *link_state_name(enum link_state s)
{
	static const char *const names[] = {
		[LINK_DOWN] = "down",
		[LINK_CONNECTING] = "connecting",
		[LINK_UP] = "up",
	};

	return names[s];
}

struct tpeer *transport_peer(struct transport *t, uint32_t nodeid)
{
	size_t i;

	for (i = 0; i < t->npeers; i++)
		if (t->peers[i]->nodeid == nodeid)
			return t->peers[i];
	return NULL;
}

static void stats_publish(struct transport *t);

void link_state_update(struct transport *t, struct tpeer *p, struct tlink *l)
{
	enum link_state s = !l->hb_up ? LINK_DOWN : (peer_link_usable(l) ? LINK_UP : LINK_CONNECTING);

	if (s == l->reported)
		return;
	if (s == LINK_DOWN)
		l->downs++;
	qb_log(s == LINK_UP || s == LINK_DOWN ? LOG_NOTICE : LOG_INFO,
	       "link %d to node %" PRIu32 " (%s): %s -> %s", l->index, p->nodeid, l->addr_str,
	       link_state_name(l->reported), link_state_name(s));
	l->reported = s;
	l->changed = time(NULL);
	/* Operators see a change at once, not at the next tick. */
	stats_publish(t);
}

uint64_t ratelog_hit(struct ratelog *r, uint64_t now, uint32_t period_ms)
{
	uint64_t n = ++r->count;

	if (r->logged && now - r->logged < (uint64_t)period_ms * 1000000)
		return 0;
	r->count = 0;
	r->logged = now;
	return n;
}

int transport_client_register(struct transport *t, enum tclient client, transport_recv_fn recv,
			      transport_reset_fn reset, void *ctx)
{
	if (client <= 0 || client >= TCLIENT_MAX)
		return -EINVAL;
	t->clients[client] = (struct tclient_slot){ .recv = recv, .reset = reset, .ctx = ctx };
	return 0;
}

struct dloop *transport_loop(struct transport *t)
{
	return t->loop;
}

/* Statistics: rebuilt on every tick, read by the control plane. */
static void stats_publish(struct transport *t)
{
	struct link_stat *st, *old;
	size_t i, n = 0;
	int li;

	st = calloc(t->npeers * TRANSPORT_MAX_LINKS + 1, sizeof(*st));
	if (!st)
		return;
	for (i = 0; i < t->npeers; i++) {
		const struct tpeer *p = t->peers[i];

		for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
			const struct tlink *l = &p->links[li];
			struct link_stat *s = &st[n];

			if (!l->configured)
				continue;
			s->nodeid = p->nodeid;
			snprintf(s->name, sizeof(s->name), "%s", p->name);
			s->member = p->member;
			s->link = (uint32_t)li;
			s->state = l->reported;
			snprintf(s->local, sizeof(s->local), "%s", t->local_str[li]);
			snprintf(s->remote, sizeof(s->remote), "%s", l->addr_str);
			if (l->rtt_n) {
				s->rtt_min_us = l->rtt_min / 1000;
				s->rtt_avg_us = l->rtt_sum / l->rtt_n / 1000;
				s->rtt_max_us = l->rtt_max / 1000;
			}
			s->tx_bytes = l->tx_bytes;
			s->rx_bytes = l->rx_bytes;
			s->tx_frames = l->tx_frames;
			s->rx_frames = l->rx_frames;
			s->hb_tx = l->hb_tx;
			s->hb_rx = l->hb_rx;
			s->downs = l->downs;
			s->last_change = l->changed;
			n++;
		}
	}
	pthread_mutex_lock(&t->stats_lock);
	old = t->stats;
	t->stats = st;
	t->nstats = n;
	pthread_mutex_unlock(&t->stats_lock);
	free(old);
}

int transport_link_stats(struct transport *t, struct link_stat **out, size_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&t->stats_lock);
	*n = t->nstats;
	*out = malloc((t->nstats ? t->nstats : 1) * sizeof(**out));
	if (!*out)
		rc = -ENOMEM;
	else if (t->nstats)
		memcpy(*out, t->stats, t->nstats * sizeof(**out));
	pthread_mutex_unlock(&t->stats_lock);
	return rc;
}

uint32_t backoff_double(uint32_t ms)
{
	return ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : ms * 2;
}

static bool local_link_ready(const struct transport *t, int li)
{
	return t->listen_fd[li] >= 0 && t->udp_fd[li] >= 0;
}

static void reconnect_due(struct transport *t, uint64_t now)
{
	size_t i;
	int li;

	for (i = 0; i < t->npeers; i++) {
		struct tpeer *p = t->peers[i];

		/* The lower nodeid connects, so a pair never races two
		 * connections for one link. */
		if (!p->member || p->nodeid < t->local_nodeid)
			continue;
		for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
			struct tlink *l = &p->links[li];
			int rc;

			if (!l->configured || !l->hb_up || l->conn || l->connecting ||
			    now < l->next_connect || !local_link_ready(t, li))
				continue;
			rc = conn_connect(t, p, l);
			if (rc)
				qb_log(LOG_INFO, "connect to node %" PRIu32 " link %d (%s): %s",
				       p->nodeid, li, l->addr_str, strerror(-rc));
		}
	}
}

/* Opens what is not open yet of a local link: its listener and its
 * heartbeat socket. A failure (the address not up yet, say) is retried with
 * backoff, and logged when it first happens or changes. */
static void local_link_open(struct transport *t, int li, uint64_t now)
{
	int rc = 0;

	if (t->listen_fd[li] < 0)
		rc = conn_listen(t, li);
	if (rc == 0 && t->udp_fd[li] < 0)
		rc = hb_open(t, li);
	if (rc == 0) {
		qb_log(LOG_NOTICE, "link %d: listening on %s", li, t->local_str[li]);
		t->local_err[li] = 0;
		t->local_backoff_ms[li] = RECONNECT_MIN_MS;
		return;
	}
	if (rc != t->local_err[li])
		qb_log(LOG_ERR, "link %d: cannot listen on %s: %s; retrying every %u ms at most",
		       li, t->local_str[li], strerror(-rc), RECONNECT_MAX_MS);
	t->local_err[li] = rc;
	t->local_retry_at[li] = now + (uint64_t)t->local_backoff_ms[li] * 1000000;
	t->local_backoff_ms[li] = backoff_double(t->local_backoff_ms[li]);
}

static void local_links_retry(struct transport *t, uint64_t now)
{
	int li;

	for (li = 0; li < TRANSPORT_MAX_LINKS; li++)
		if (t->local[li].ss_family != AF_UNSPEC && !local_link_ready(t, li) &&
		    now >= t->local_retry_at[li])
			local_link_open(t, li, now);
}

static void tick(void *data);

/* Without its tick the transport would stop heartbeating, reconnecting and
 * expiring for good: when the timer cannot be set, try again on the loop's
 * next turn. */
static void tick_arm(void *data)
{
	struct transport *t = data;
	int rc = dloop_timer_add(t->loop, (uint64_t)t->cfg.hb_interval_ms * 1000000, t, tick,
				 &t->tick);

	if (rc == 0)
		return;
	if (ratelog_hit(&t->tick_lost, now_ns(), RATELOG_MS))
		qb_log(LOG_ERR, "transport: cannot set its timer: %s; retrying", strerror(-rc));
	if (dloop_job_add(t->loop, t, tick_arm)) {
		qb_log(LOG_CRIT, "transport: cannot set its timer nor queue a retry; aborting");
		abort();
	}
}

static void tick(void *data)
{
	struct transport *t = data;
	uint64_t now = now_ns();
	size_t i;

	local_links_retry(t, now);
	hb_tick(t, now);
	reconnect_due(t, now);
	conn_expire(t, now);
	for (i = 0; i < t->npeers; i++)
		peer_ack_flush(t, t->peers[i]);
	stats_publish(t);
	tick_arm(t);
}

/* Nodes */

struct nodes_msg {
	struct transport *t;
	uint32_t local;
	size_t n;
	struct transport_node nodes[];
};

static void local_links_open(struct transport *t, const struct transport_node *self)
{
	uint64_t now = now_ns();
	int li;

	for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
		/* An address in use stays; one that is failing may change. */
		if (self->addr[li].ss_family == AF_UNSPEC || t->listen_fd[li] >= 0 ||
		    t->udp_fd[li] >= 0)
			continue;
		t->local[li] = self->addr[li];
		sockaddr_format(&t->local[li], t->local_str[li], sizeof(t->local_str[li]));
		local_link_open(t, li, now);
	}
}

static void peer_depart(struct transport *t, struct tpeer *p)
{
	int li;

	/* The channel's state is kept: if the same process comes back, what
	 * it has not acknowledged is sent again. */
	p->member = false;
	for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
		struct tlink *l = &p->links[li];

		l->hb_up = false;
		l->streak = 0;
		if (l->conn)
			conn_close(l->conn, "node left the membership");
		link_state_update(t, p, l);
	}
}

static void nodes_apply(void *arg)
{
	struct nodes_msg *m = arg;
	struct transport *t = m->t;
	size_t i, j;
	int li;

	t->local_nodeid = m->local;
	for (i = 0; i < m->n; i++) {
		const struct transport_node *nd = &m->nodes[i];
		struct tpeer *p;

		if (nd->nodeid == m->local) {
			local_links_open(t, nd);
			continue;
		}
		p = transport_peer(t, nd->nodeid);
		if (!p && t->npeers < TRANSPORT_MAX_PEERS) {
			p = peer_new(nd->nodeid);
			if (p)
				t->peers[t->npeers++] = p;
		}
		if (!p)
			continue;
		snprintf(p->name, sizeof(p->name), "%s", nd->name);
		for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
			struct tlink *l = &p->links[li];

			l->configured = nd->addr[li].ss_family != AF_UNSPEC;
			l->addr = nd->addr[li];
			sockaddr_format(&l->addr, l->addr_str, sizeof(l->addr_str));
		}
		if (nd->member && !p->member)
			qb_log(LOG_INFO, "node %" PRIu32 " (%s) joined", p->nodeid, p->name);
		if (!nd->member && p->member)
			peer_depart(t, p);
		p->member = nd->member;
	}
	/* Nodes gone from the nodelist depart too. */
	for (j = 0; j < t->npeers; j++) {
		for (i = 0; i < m->n; i++)
			if (m->nodes[i].nodeid == t->peers[j]->nodeid)
				break;
		if (i == m->n && t->peers[j]->member)
			peer_depart(t, t->peers[j]);
	}
	free(m);
}

int transport_nodes_set(struct transport *t, uint32_t local_nodeid,
			const struct transport_node *nodes, size_t n)
{
	struct nodes_msg *m = malloc(sizeof(*m) + n * sizeof(*nodes));
	int rc;

	if (!m)
		return -ENOMEM;
	m->t = t;
	m->local = local_nodeid;
	m->n = n;
	memcpy(m->nodes, nodes, n * sizeof(*nodes));
	rc = mailbox_post(t->to_data, nodes_apply, m);
	if (rc)
		free(m);
	return rc;
}

/* Ping sessions are started from the control plane. */

struct ping_msg {
	struct transport *t;
	struct ping_args args;
	ping_done_fn done;
	void *ctx;
};

static void ping_apply(void *arg)
{
	struct ping_msg *m = arg;

	ping_start_on_data(m->t, &m->args, m->done, m->ctx);
	free(m);
}

int transport_ping(struct transport *t, const struct ping_args *args, ping_done_fn done,
		   void *ctx)
{
	struct ping_msg *m = malloc(sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	*m = (struct ping_msg){ .t = t, .args = *args, .done = done, .ctx = ctx };
	rc = mailbox_post(t->to_data, ping_apply, m);
	if (rc)
		free(m);
	return rc;
}

/* Thread */

static void *transport_thread(void *arg)
{
	struct transport *t = arg;

	dloop_run(t->loop);
	return NULL;
}

static void loop_stop(void *arg)
{
	struct transport *t = arg;

	dloop_stop(t->loop);
}

int transport_start(struct transport **out, const struct transport_config *cfg,
		    qb_loop_t *ctl_loop)
{
	struct transport *t = calloc(1, sizeof(*t));
	int li, rc;

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->ctl_loop = ctl_loop;
	qb_list_init(&t->conns);
	pthread_mutex_init(&t->stats_lock, NULL);
	for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
		t->listen_fd[li] = t->udp_fd[li] = -1;
		t->local_backoff_ms[li] = RECONNECT_MIN_MS;
	}
	/* A random incarnation tells peers that a restarted daemon is a new
	 * process whose frames start over. */
	do {
		rc = auth_random(&t->incarnation, sizeof(t->incarnation));
	} while (rc == 0 && t->incarnation == 0);
	if (rc)
		goto out_free;
	rc = -ENOMEM;
	t->loop = dloop_create();
	if (!t->loop)
		goto out_free;
	rc = mailbox_create_dloop(&t->to_data, t->loop);
	if (rc)
		goto out_loop;
	rc = mailbox_create(&t->to_ctl, ctl_loop);
	if (rc)
		goto out_to_data;
	ping_init(t);
	rc = dloop_timer_add(t->loop, (uint64_t)cfg->hb_interval_ms * 1000000, t, tick, &t->tick);
	if (rc)
		goto out_to_ctl;
	rc = -pthread_create(&t->thread, NULL, transport_thread, t);
	if (rc)
		goto out_to_ctl;
	if (cfg->key.none)
		qb_log(LOG_WARNING, "transport: peer authentication is disabled (authkey = none)");
	*out = t;
	return 0;

out_to_ctl:
	mailbox_destroy(t->to_ctl, free);
out_to_data:
	mailbox_destroy(t->to_data, free);
out_loop:
	dloop_destroy(t->loop);
out_free:
	pthread_mutex_destroy(&t->stats_lock);
	free(t);
	return rc;
}

int transport_post(struct transport *t, mailbox_fn fn, void *arg)
{
	return mailbox_post(t->to_data, fn, arg);
}

void transport_halt(struct transport *t)
{
	if (!t || t->halted)
		return;
	mailbox_post(t->to_data, loop_stop, t);
	pthread_join(t->thread, NULL);
	t->halted = true;
}

void transport_stop(struct transport *t)
{
	size_t i;
	int li;

	if (!t)
		return;
	transport_halt(t);
	/* The data thread is gone: what it owned is ours to free. Connections
	 * first, while the peers they point into still exist. */
	ping_shutdown(t);
	while (!qb_list_empty(&t->conns))
		conn_close(qb_list_first_entry(&t->conns, struct tconn, list), "transport stopping");
	for (i = 0; i < t->npeers; i++)
		peer_free(t->peers[i]);
	for (li = 0; li < TRANSPORT_MAX_LINKS; li++) {
		if (t->listen_fd[li] >= 0)
			conn_unlisten(t, li);
		if (t->udp_fd[li] >= 0) {
			dloop_poll_del(t->loop, t->udp_fd[li]);
			close(t->udp_fd[li]);
		}
	}
	dloop_timer_del(t->loop, t->tick);
	dloop_timer_del(t->loop, t->hb_timer);
	mailbox_destroy(t->to_data, free);
	/* Ping sessions just reported "cancelled": their requesters hold
	 * resources until told, and this is their thread. */
	mailbox_drain(t->to_ctl);
	mailbox_destroy(t->to_ctl, free);
	dloop_destroy(t->loop);
	free(t->stats);
	pthread_mutex_destroy(&t->stats_lock);
	auth_key_clear(&t->cfg.key);
	free(t);
}
