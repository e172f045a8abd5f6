/*
 * Reassembly of fragmented messages (FRAME_F_FRAG), kept apart from the
 * channel so it can be checked as a pure function of the frames received.
 *
 * Layout, which the sender (peer.c, transport_send) always uses and the
 * receiver enforces: a message of msg_len bytes is cut into chunk-sized
 * fragments, chunk = ceil(msg_len / n) for n <= FRAG_MAX, the last one
 * holding the rest. Fragment i has channel seq msg_seq + i and carries bytes
 * [i * chunk, i * chunk + payload_len). So every byte of a message comes from
 * exactly one fragment index, and a message is complete when the bytes
 * received add up to msg_len: fragments that overlap, leave gaps or repeat an
 * index are refused, never copied.
 */
#ifndef VDISK_PEER_H
#define VDISK_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include <qb/qblist.h>

#include "frame.h"

/* Most fragments per message: a message is split across the live links, or
 * into FRAME_PAYLOAD_MAX pieces, whichever gives more. */
#define FRAG_MAX 64

/*
 * Most partly received messages per peer. The bound is shared: a sender
 * never has more fragmented messages unacknowledged (peer.c, send_check),
 * and a message the receiver holds part of is one whose last fragment it has
 * not acknowledged, so the receiver never needs more. A sender exceeding it
 * breaks the protocol (peer.c, fragment_take).
 */
#define REASM_MAX 256

/* A message being put together from its fragments. */
struct reasm {
	struct qb_list_head list; /* tpeer->reasm */
	struct frame_hdr hdr; /* the first fragment's: what the message says */
	uint32_t chunk; /* fragment size, 0 until a fragment tells it */
	uint32_t got; /* payload bytes received */
	uint64_t have; /* fragment indexes received, bit i for msg_seq + i */
	uint8_t *buf; /* msg_len bytes */
};

/*
 * Whether fragment h can go into message r (r->hdr set from an earlier
 * fragment of the same msg_seq, or from h itself for a new message): 0,
 * -EEXIST if its index was received already, -EPROTO if it contradicts the
 * message (other header fields, or not the layout above). Pure.
 */
int reasm_check(const struct reasm *r, const struct frame_hdr *h);
/* Copies a fragment reasm_check() accepted into r; true once complete. */
bool reasm_add(struct reasm *r, const struct frame_hdr *h, const uint8_t *payload);

#endif
