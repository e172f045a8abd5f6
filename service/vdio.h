/*
 * The data path's vocabulary: operations, their flags, request ids and the
 * words that carry them on the wire. The router, the backend, the remote
 * server and the frontends all speak it; nothing else packs or unpacks an
 * op word or a wire request id.
 *
 * Pure definitions: any thread.
 */
#ifndef VDISK_VDIO_H
#define VDISK_VDIO_H

#include <stdbool.h>
#include <stdint.h>

enum vd_op {
	VD_READ = 1,
	VD_WRITE,
	VD_FLUSH,
	VD_TRIM,
	VD_WRITE_ZEROES,
	/* Not a client operation: a sender asks a server what became of an
	 * attempt it gave up waiting for (remote.h has the answers). */
	VD_PROBE,
};

#define VD_F_FUA (1u << 0) /* write through to stable storage before answering */
#define VD_F_NO_HOLE (1u << 1) /* write-zeroes must allocate, not punch */

/* Operations that change the disk: an attempt of one must never run after
 * its sender gave up on it (DESIGN.md, I2). Reads and flushes may. */
static inline bool vd_op_mutates(uint8_t op)
{
	return op == VD_WRITE || op == VD_TRIM || op == VD_WRITE_ZEROES;
}

/* The frame's op word: the operation in the low byte, its flags above. */
static inline uint16_t vd_opword(uint8_t op, uint8_t flags)
{
	return (uint16_t)(op | flags << 8);
}

static inline uint8_t vd_opword_op(uint16_t w)
{
	return (uint8_t)w;
}

static inline uint8_t vd_opword_flags(uint16_t w)
{
	return (uint8_t)(w >> 8);
}

/* The wire reqid of an attempt: the router's id of the request in bits
 * 8..63, the attempt number (modulo 256) in bits 0..7. */
#define VD_REQID_ATTEMPT_BITS 8
static inline uint64_t vd_reqid_wire(uint64_t id, uint8_t attempt)
{
	return id << VD_REQID_ATTEMPT_BITS | attempt;
}

static inline uint64_t vd_reqid_id(uint64_t wire)
{
	return wire >> VD_REQID_ATTEMPT_BITS;
}

static inline uint8_t vd_reqid_attempt(uint64_t wire)
{
	return (uint8_t)wire;
}

/* Largest read or write one request may carry. */
#define VD_IO_MAX (32u * 1024 * 1024)
/* A frontend sends a trim or write-zeroes to the router in pieces at most
 * this long, one after the other, so no one piece comes near the I/O
 * timeout (a device that cannot punch or zero a range gets zeros written). */
#define VD_RANGE_PIECE (256u * 1024 * 1024)

/* The length of the next piece, left bytes to go. */
static inline uint32_t vd_range_piece(uint64_t left)
{
	return left < VD_RANGE_PIECE ? (uint32_t)left : VD_RANGE_PIECE;
}

#endif
