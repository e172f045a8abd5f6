/*
 * Transport internals shared by transport.c (thread, nodes, statistics),
 * conn.c (TCP connections and the handshake), peer.c (the reliable channel),
 * heartbeat.c (UDP liveness) and ping.c (echo service and ping sessions).
 * Everything here lives on the data-plane thread.
 */
#ifndef VDISK_TRANSPORT_INTERNAL_H
#define VDISK_TRANSPORT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <qb/qblist.h>

#include "clock.h"
#include "frame_mac.h"
#include "mailbox.h"
#include "peer.h"
#include "transport.h"

/* Receive window in frames: a sender never has more unacknowledged. */
#define RX_WINDOW 65536
/* Pongs in a row before a down link counts as up again. */
#define HB_UP_STREAK 3
/* A connection must be authenticated within this. */
#define HANDSHAKE_TIMEOUT_MS 3000
/* Outbound connections and local links that fail to open are retried
 * after a delay that doubles on every failure, from RECONNECT_MIN_MS up to
 * RECONNECT_MAX_MS. It starts over only once a connection stayed
 * authenticated for CONN_STABLE_MS: one that keeps dying slows down. */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
#define CONN_STABLE_MS 3000
/* Messages above this are split across links under the stripe policy. */
#define STRIPE_MIN_BYTES (64 * 1024)
/* How fast two nodes' monotonic clocks may drift apart, in parts per
 * million: NTP slews by at most 500 ppm; quartz alone stays under 100. */
#define CLOCK_DRIFT_PPM 1000 /* both nodes slewed 500 ppm, opposite ways */
/* A clock bound is kept at most this long before a fresh sample replaces
 * it (heartbeat.c: clock_sample). */
#define CLOCK_WINDOW_NS (60 * 1000000000ull)
/* Rate-limited reports (unauthentic heartbeats, refused connections) come
 * at most this often. */
#define RATELOG_MS 10000

/* One frame kept until the peer acknowledges it. refs: one for the channel
 * (until acked or reset), one per connection send queue holding it. */
struct tframe {
	struct qb_list_head list; /* peer->unacked, in seq order */
	uint32_t refs;
	bool msg_end; /* the last fragment of a fragmented message */
	uint64_t seq;
	int link; /* link it was last queued on, -1 if none */
	size_t len;
	/* The len bytes on the wire: buf, or a buffer handed over by the
	 * sender (transport_send_buffer), given back through release. */
	uint8_t *bytes;
	void (*release)(void *owner);
	void *owner;
	uint8_t buf[]; /* header + payload */
};

struct txq_ent {
	struct qb_list_head list;
	struct tframe *f;
	size_t off; /* bytes of f, then of its tag, already written */
	uint8_t tag[FRAME_TAG]; /* f's on this connection (frame_mac.h) */
};

enum conn_state {
	CONN_CONNECTING, /* outbound, connect() in progress */
	CONN_HELLO_SENT, /* outbound, waiting for the reply */
	CONN_WAIT_HELLO, /* inbound, waiting for the hello */
	CONN_WAIT_AUTH, /* inbound, reply sent, waiting for the proof */
	CONN_UP,
};

struct tpeer;

struct tconn {
	struct qb_list_head list; /* transport->conns */
	struct transport *t;
	int fd;
	enum conn_state state;
	bool outbound;
	bool polling_out;
	int link;
	uint32_t nodeid; /* 0 until the hello names it (inbound) */
	uint64_t peer_incarnation;
	/* The handshake as it went on the wire, what the MACs cover: the
	 * connector's hello, the acceptor's reply up to its MAC. */
	uint8_t hello[HS_SIZE];
	uint8_t reply[HS_MAC_OFFSET];
	uint8_t my_nonce[HS_NONCE];
	uint64_t deadline; /* monotonic ns */
	uint64_t up_since; /* monotonic ns, authenticated since */
	/* Input: bytes [rpos, rlen) of rbuf are received, not yet taken. */
	uint8_t *rbuf;
	size_t rpos, rlen, rcap;
	uint64_t rx_at; /* monotonic ns of the last bytes read */
	uint64_t big_at; /* when a frame last needed more than the initial buffer */
	struct qb_list_head txq;
	/* Frame tags once up: what we send, what we receive (frame_mac.h). */
	struct frame_mac tx_mac, rx_mac;
	char addr[64]; /* peer address, for logs */
};

struct tlink {
	int index;
	bool configured;
	struct sockaddr_storage addr;
	char addr_str[64];
	bool hb_up;
	unsigned int streak;
	uint64_t hb_seq; /* last ping sent */
	uint64_t pong_seq; /* last ping answered: a pong counts once, in order */
	uint64_t last_pong; /* monotonic ns */
	uint64_t rtt_min, rtt_max, rtt_sum, rtt_n; /* ns */
	uint32_t downs;
	int64_t changed; /* wall-clock seconds of the last state change */
	enum link_state reported; /* state at the last change */
	struct tconn *conn; /* CONN_UP connection */
	bool connecting; /* an outbound connection is in its handshake */
	uint64_t next_connect; /* monotonic ns */
	uint32_t backoff_ms;
	uint64_t tx_bytes, rx_bytes, tx_frames, rx_frames;
	uint64_t hb_tx, hb_rx; /* heartbeats (UDP, HB_SIZE each), sent and taken */
};

struct tpeer {
	uint32_t nodeid;
	char name[VDISK_NODE_MAX + 1];
	bool member;
	uint64_t incarnation; /* the peer process we talk to; 0 unknown */
	struct tlink links[TRANSPORT_MAX_LINKS];
	/* sending */
	uint64_t next_seq;
	struct qb_list_head unacked;
	size_t frag_msgs; /* fragmented messages in unacked, at most REASM_MAX */
	bool requeue; /* a frame in unacked could not be queued: try again */
	unsigned int rr;
	/* Its monotonic clock minus ours is at least clk_lo (ns), as measured
	 * at clk_at (heartbeat.c: clock_sample). */
	bool clk_valid;
	int64_t clk_lo;
	uint64_t clk_at;
	/* receiving */
	uint64_t rx_cum; /* every seq <= rx_cum received */
	uint64_t rx_bits[RX_WINDOW / 64]; /* seqs above rx_cum, by seq % RX_WINDOW */
	uint64_t ack_sent;
	struct qb_list_head reasm;
	size_t nreasm;
};

struct tclient_slot {
	transport_recv_fn recv;
	transport_reset_fn reset;
	void *ctx;
};

/* What a listening or heartbeat socket's poll callback is given. */
struct fd_ctx {
	struct transport *t;
	int link;
};

/* An event that is logged with a count at most once per period. */
struct ratelog {
	uint64_t count; /* since the last report */
	uint64_t logged; /* monotonic ns of the last report */
};

struct transport {
	struct transport_config cfg;
	uint64_t incarnation;
	uint32_t local_nodeid;
	struct dloop *loop;
	qb_loop_t *ctl_loop;
	pthread_t thread;
	bool halted;
	struct mailbox *to_data;
	struct mailbox *to_ctl;
	dloop_timer_t tick;

	struct tpeer *peers[TRANSPORT_MAX_PEERS];
	size_t npeers;
	struct sockaddr_storage local[TRANSPORT_MAX_LINKS];
	char local_str[TRANSPORT_MAX_LINKS][64];
	int listen_fd[TRANSPORT_MAX_LINKS];
	int udp_fd[TRANSPORT_MAX_LINKS];
	struct fd_ctx fdctx[TRANSPORT_MAX_LINKS];
	/* Local links that failed to open: retried with backoff, the error
	 * logged when it changes. */
	int local_err[TRANSPORT_MAX_LINKS];
	uint32_t local_backoff_ms[TRANSPORT_MAX_LINKS];
	uint64_t local_retry_at[TRANSPORT_MAX_LINKS];
	dloop_timer_t hb_timer; /* the earliest heartbeat deadline of an up link */
	uint64_t hb_timer_at;
	struct ratelog hb_bad[TRANSPORT_MAX_LINKS]; /* unauthentic heartbeats */
	struct ratelog hs_full; /* connections refused: too many handshakes */
	struct ratelog tick_lost; /* the tick's timer could not be set */
	struct qb_list_head conns;
	struct tclient_slot clients[TCLIENT_MAX];
	struct qb_list_head pings;
	uint32_t next_ping_id;
	uint8_t *echo_pattern; /* what one-way pings must hold, grown as needed */
	size_t echo_pattern_len;

	pthread_mutex_t stats_lock; /* protects stats, nstats */
	struct link_stat *stats;
	size_t nstats;
};

struct tpeer *transport_peer(struct transport *t, uint32_t nodeid);
void sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len);
socklen_t sockaddr_len(const struct sockaddr_storage *ss);
/* Logs and publishes a change of the link's state, if there is one. */
void link_state_update(struct transport *t, struct tpeer *p, struct tlink *l);
/* Counts one event: its count since the last report if one is due now (the
 * count starts over), else 0. */
uint64_t ratelog_hit(struct ratelog *r, uint64_t now, uint32_t period_ms);
/* The retry delay after one more failure: twice ms, at most RECONNECT_MAX_MS. */
uint32_t backoff_double(uint32_t ms);

/* conn.c */
int conn_listen(struct transport *t, int link);
void conn_unlisten(struct transport *t, int link);
int conn_connect(struct transport *t, struct tpeer *p, struct tlink *l);
void conn_close(struct tconn *c, const char *why);
int conn_queue(struct tconn *c, struct tframe *f);
void conn_expire(struct transport *t, uint64_t now);

/* peer.c */
struct tpeer *peer_new(uint32_t nodeid);
/* After every connection is closed. */
void peer_free(struct tpeer *p);
void peer_reset(struct transport *t, struct tpeer *p, struct tconn *keep);
bool peer_link_usable(const struct tlink *l);
void peer_link_lost(struct transport *t, struct tpeer *p, struct tlink *l);
void peer_kick(struct transport *t, struct tpeer *p);
void peer_receive(struct transport *t, struct tpeer *p, struct tlink *l,
		  const struct frame_hdr *h, const uint8_t *payload);
void peer_ack_flush(struct transport *t, struct tpeer *p);
void tframe_put(struct tframe *f);

/* A lower bound of p's clock minus ours at time now (p->clk_valid). */
static inline int64_t clock_lo(const struct tpeer *p, uint64_t now)
{
	return p->clk_lo - (int64_t)((now - p->clk_at) / 1000000 * CLOCK_DRIFT_PPM);
}

/* heartbeat.c */
int hb_open(struct transport *t, int link);
void hb_tick(struct transport *t, uint64_t now);

/* ping.c */
void ping_init(struct transport *t);
void ping_start_on_data(struct transport *t, const struct ping_args *args, ping_done_fn done,
			void *ctx);
void ping_shutdown(struct transport *t);

#endif
