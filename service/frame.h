/*
 * Wire formats of the vdisk transport. All integers little-endian; every
 * decoder is a pure function of its input (fuzzed by test/fuzz/fuzz_frame.c).
 *
 * Data frame header (TCP, after the handshake), FRAME_HDR_SIZE bytes:
 *
 *   off size field
 *   0   4    magic        FRAME_MAGIC
 *   4   1    version      FRAME_VERSION
 *   5   1    type         enum frame_type
 *   6   2    flags        FRAME_F_*
 *   8   2    client       destination client inside vdiskd (enum tclient)
 *   10  2    op           request: operation (low byte) and its flags (high byte)
 *   12  4    src_node     sender's nodeid
 *   16  8    seq          per-peer channel sequence (DATA), 0 for ACK
 *   24  8    ack          every seq <= ack has been received by the sender
 *   32  8    reqid        client's request id
 *   40  8    config       configuration number the request was routed with
 *   48  4    disk         virtual disk id
 *   52  4    status       answers: 0 or -errno; requests: the path index used
 *   56  8    offset       I/O offset in bytes
 *   64  4    length       I/O length in bytes
 *   68  4    payload_len  bytes that follow this header
 *   72  4    frag_offset  FRAG: where this fragment's bytes go in the message
 *   76  4    msg_len      whole message payload (== payload_len unless FRAG)
 *   80  8    msg_seq      FRAG: seq of the message's first fragment
 *   88  8    deadline     request: the receiver's monotonic clock (ns) from
 *                         which the attempt must not start; 0 none
 *   96  8    low          request: the sender has every answer to its
 *                         requests with ids below this (vdio.h ids)
 *
 * Handshake message (TCP, before any frame), HS_SIZE bytes:
 *   0 magic HS_MAGIC, 4 version, 5 type (enum hs_type), 6 reserved (2),
 *   8 nodeid, 12 link, 16 incarnation (8), 24 nonce (32), 56 mac (32)
 * The connector sends HELLO (mac zero), the acceptor REPLY, the connector
 * AUTH. With H the HELLO's 88 bytes as sent and R, A the first 56 bytes
 * (all but the mac) of REPLY and AUTH:
 *   REPLY mac = HMAC-SHA256(key, H || R)
 *   AUTH mac  = HMAC-SHA256(key, H || R || A)
 * so both MACs bind the whole hello (nodeid, link, incarnation, the
 * connector's nonce) and each side's fresh nonce, and AUTH's bytes 8..55
 * must equal the HELLO's (the same node, link, incarnation and nonce).
 *
 * Heartbeat (UDP), HB_SIZE bytes:
 *   0 magic HB_MAGIC, 4 version, 5 type (enum hb_type), 6 reserved (2),
 *   8 nodeid, 12 link, 16 incarnation (8), 24 seq (8), 32 stamp (8),
 *   40 peer_stamp (8): PONG: the answering node's monotonic clock (ns) when
 *      it answered, so the pinger bounds the offset between the two
 *      clocks; PING: 0
 *   48 mac (24): HMAC-SHA256 of bytes 0..47, truncated
 */
#ifndef VDISK_FRAME_H
#define VDISK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC 0x46544456u /* "VDTF" */
#define FRAME_VERSION 2
#define FRAME_HDR_SIZE 104
/* Largest payload of one frame; larger messages are fragmented. */
#define FRAME_PAYLOAD_MAX (8u * 1024 * 1024)
/* Largest message a client may send. */
#define FRAME_MSG_MAX (64u * 1024 * 1024)

enum frame_type {
	FRAME_DATA = 1,
	FRAME_ACK = 2,
};

#define FRAME_F_FRAG (1u << 0) /* one fragment of a larger message */
#define FRAME_F_REPLY (1u << 1) /* an answer to a request */
#define FRAME_F_KNOWN (FRAME_F_FRAG | FRAME_F_REPLY)

/* Clients of the transport inside vdiskd. The reconfiguration cycle is not
 * one: it runs over the database's CPG group, which orders its messages with
 * the database changes they depend on. */
enum tclient {
	TCLIENT_ECHO = 1, /* echoes requests back to their sender's TCLIENT_PING */
	TCLIENT_PING = 2,
	TCLIENT_BACKEND = 3,
	TCLIENT_ROUTER = 4,
	TCLIENT_MAX,
};

struct frame_hdr {
	uint8_t type;
	uint16_t flags;
	uint16_t client;
	uint16_t op;
	uint32_t src_node;
	uint64_t seq;
	uint64_t ack;
	uint64_t reqid;
	uint64_t config;
	uint32_t disk;
	int32_t status;
	uint64_t offset;
	uint32_t length;
	uint32_t payload_len;
	uint32_t frag_offset;
	uint32_t msg_len;
	uint64_t msg_seq;
	uint64_t deadline;
	uint64_t low;
};

void frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE]);
/* 0, or -EPROTO (not our protocol) / -EINVAL (inconsistent fields) /
 * -EMSGSIZE (payload too large). */
int frame_hdr_decode(const uint8_t *buf, size_t len, struct frame_hdr *h);

#define HS_MAGIC 0x53484456u /* "VDHS" */
#define HS_SIZE 88
#define HS_NONCE 32
#define HS_MAC 32
#define HS_MAC_OFFSET 56
/* Who a handshake message speaks for (nodeid .. nonce): AUTH repeats its
 * hello's. */
#define HS_ID_OFFSET 8
#define HS_ID_SIZE (HS_MAC_OFFSET - HS_ID_OFFSET)

enum hs_type {
	HS_HELLO = 1, /* connector: who I am, my nonce */
	HS_REPLY = 2, /* acceptor: who I am, my nonce, MAC over the hello and the reply */
	HS_AUTH = 3, /* connector: its hello again, MAC over hello, reply and AUTH */
};

struct hs_msg {
	uint8_t type;
	uint32_t nodeid;
	uint32_t link;
	uint64_t incarnation;
	uint8_t nonce[HS_NONCE];
	uint8_t mac[HS_MAC];
};

void hs_encode(const struct hs_msg *m, uint8_t out[HS_SIZE]);
int hs_decode(const uint8_t *buf, size_t len, struct hs_msg *m);

#define HB_MAGIC 0x42484456u /* "VDHB" */
#define HB_SIZE 72
#define HB_MAC_OFFSET 48
#define HB_MAC 24

enum hb_type {
	HB_PING = 1,
	HB_PONG = 2,
};

struct hb_msg {
	uint8_t type;
	uint32_t nodeid;
	uint32_t link;
	uint64_t incarnation;
	uint64_t seq;
	uint64_t stamp;
	uint64_t peer_stamp;
	uint8_t mac[HB_MAC];
};

void hb_encode(const struct hb_msg *m, uint8_t out[HB_SIZE]);
int hb_decode(const uint8_t *buf, size_t len, struct hb_msg *m);

#endif
