/*
 * The vdisk transport: one logical, reliable channel per peer node over
 * several physical links (one TCP connection each for data, UDP heartbeats
 * on each for liveness and round-trip time), with failover and striping.
 *
 * Threads and ownership: the transport owns the data-plane thread and its
 * data-plane loop (dloop.h). Everything inside (peers, links, connections,
 * frames, ping sessions) belongs to that thread alone. The control plane talks to it only
 * through the functions marked "control thread" below, which post work to
 * the data thread or read the statistics snapshot (the one structure behind a
 * mutex). Functions marked "data thread" are for the data-plane parts that
 * run on transport_loop() (the router, the echo service).
 *
 * Delivery: a frame given to transport_send() reaches the destination
 * client once, or the sender's reset callback says the peer lost its state
 * (it restarted: a new incarnation). A frame in flight on a link that dies is
 * sent again on a live one; receivers drop duplicates by sequence number.
 */
#ifndef VDISK_TRANSPORT_H
#define VDISK_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <qb/qbloop.h>

#include <vdisk/ctl.h>

#include "auth.h"
#include "config.h"
#include "dloop.h"
#include "frame.h"
#include "mailbox.h"

#define TRANSPORT_MAX_LINKS 8 /* as many as knet (and corosync) have */
#define TRANSPORT_MAX_PEERS 64

struct transport_config {
	uint16_t port;
	uint32_t hb_interval_ms;
	uint32_t hb_timeout_ms;
	enum vdisk_policy policy;
	struct auth_key key;
};

/* A node as the control plane publishes it: addresses by link index (port
 * included); an address family of AF_UNSPEC means no address on that link. */
struct transport_node {
	uint32_t nodeid;
	bool member;
	char name[VDISK_NODE_MAX + 1];
	struct sockaddr_storage addr[TRANSPORT_MAX_LINKS];
};

enum link_state {
	LINK_DOWN, /* heartbeats not answered */
	LINK_CONNECTING, /* heartbeats answered, no authenticated connection yet */
	LINK_UP, /* carries data */
};

/* One link to one peer, as `vdiskctl link status` shows it. */
struct link_stat {
	uint32_t nodeid;
	char name[VDISK_NODE_MAX + 1];
	bool member;
	uint32_t link;
	enum link_state state;
	char local[64];
	char remote[64];
	uint64_t rtt_min_us, rtt_avg_us, rtt_max_us;
	uint64_t tx_bytes, rx_bytes, tx_frames, rx_frames; /* the link's connection */
	uint64_t hb_tx, hb_rx; /* heartbeats, each HB_SIZE bytes of UDP */
	uint32_t downs;
	int64_t last_change; /* seconds since the epoch, 0 never */
};

struct ping_args {
	uint32_t nodeid;
	uint32_t size; /* payload bytes per ping */
	uint32_t count;
	uint32_t interval_ms; /* 0: back to back, `window` outstanding */
	uint32_t window;
	bool oneway; /* the peer checks the payload and answers without it */
};

struct ping_result {
	/* 0, or -errno if the session could not run (sent 0) or was cut
	 * short (the figures tell how far it got) */
	int error;
	uint32_t sent, received, corrupt;
	uint32_t duplicates; /* answers that came a second time */
	uint64_t rtt_min_us, rtt_avg_us, rtt_p50_us, rtt_p90_us, rtt_p99_us, rtt_max_us;
	uint64_t max_gap_us; /* longest time without a reply while pings were out */
	uint64_t duration_us;
};

typedef void (*ping_done_fn)(void *ctx, const struct ping_result *r);

/* Receive callback, on the data thread; payload valid during the call. */
typedef void (*transport_recv_fn)(void *ctx, const struct frame_hdr *h, const void *payload,
				  size_t len);
/* The peer's channel was reset (it restarted): frames to it were dropped. */
typedef void (*transport_reset_fn)(void *ctx, uint32_t nodeid);

struct transport;

/* Control thread. Starts the data thread; ctl_loop receives completions. */
int transport_start(struct transport **out, const struct transport_config *cfg,
		    qb_loop_t *ctl_loop);
/* Control thread: stops and joins the data thread. Afterwards the control
 * thread owns everything the data thread did (to free it), and the data
 * loop still exists for dloop_poll_del() and the like. */
void transport_halt(struct transport *t);
/* Control thread: halts if needed, then frees the transport. */
void transport_stop(struct transport *t);

/* Any thread: runs fn(arg) on the data thread. */
int transport_post(struct transport *t, mailbox_fn fn, void *arg);

/* Control thread: the nodelist with member flags and link addresses. The
 * local node's entry (local_nodeid) gives the addresses to listen on. */
int transport_nodes_set(struct transport *t, uint32_t local_nodeid,
			const struct transport_node *nodes, size_t n);

/* Control thread: runs a ping session; done runs later on ctl_loop. */
int transport_ping(struct transport *t, const struct ping_args *args, ping_done_fn done,
		   void *ctx);

/* Control thread: a copy of the per-link statistics (caller frees). */
int transport_link_stats(struct transport *t, struct link_stat **out, size_t *n);

/* Data thread. */
struct dloop *transport_loop(struct transport *t);
int transport_client_register(struct transport *t, enum tclient client, transport_recv_fn recv,
			      transport_reset_fn reset, void *ctx);
/* Sends len bytes to nodeid's client h->client. Fields used from h: client,
 * flags (FRAME_F_REPLY), op, reqid, config, disk, status, offset, length. */
int transport_send(struct transport *t, uint32_t nodeid, const struct frame_hdr *h,
		   const void *payload, size_t len);
/* The same without a copy: frame holds FRAME_HDR_SIZE bytes for the header
 * (written here), then the len bytes of payload. The transport owns frame
 * from this call on, also when it fails, and calls release(owner) once it
 * no longer needs it (acknowledged, or the peer is gone). */
int transport_send_buffer(struct transport *t, uint32_t nodeid, const struct frame_hdr *h,
			  uint8_t *frame, size_t len, void (*release)(void *owner), void *owner);

/* Data thread: *peer_ns is a time of nodeid's monotonic clock that is not
 * later than local_ns of ours (heartbeats bound the offset; see frame.h's
 * peer_stamp). False while nothing bounds it (no heartbeat answered yet
 * since the peer started). */
bool transport_peer_clock(struct transport *t, uint32_t nodeid, uint64_t local_ns,
			  uint64_t *peer_ns);

/* Any thread: [transport] heartbeat_timeout_ms. */
uint32_t transport_heartbeat_timeout_ms(const struct transport *t);

/* Data thread: whether some link to nodeid carries data now. */
bool transport_peer_up(struct transport *t, uint32_t nodeid);

const char *link_state_name(enum link_state s);

#endif
