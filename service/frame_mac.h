/*
 * Integrity of data frames (DESIGN.md, I5): after the handshake, every frame
 * on a connection carries a 16-byte tag behind its payload, GMAC (AES-128-GCM
 * over the frame as additional data, nothing encrypted) under a key of that
 * connection and direction:
 *
 *   key = HMAC-SHA256(cluster key, "vdisk frame " dir || H || R)[0..15]
 *
 * with H the connector's hello and R the acceptor's reply up to its MAC (the
 * handshake's two fresh nonces: no two connections share a key), dir "c2a"
 * for what the connector sends, "a2c" for the acceptor's. The IV is the
 * direction's frame count on the connection, so a frame dropped, replayed or
 * moved is caught as surely as one changed. With `authkey = none` the tags
 * are zeros and not checked.
 *
 * Threads: data thread, one per connection direction.
 */
#ifndef VDISK_FRAME_MAC_H
#define VDISK_FRAME_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "frame.h"

#define FRAME_TAG 16

struct frame_mac {
	void *ctx; /* EVP_CIPHER_CTX, keyed; NULL with authkey none */
	uint64_t count; /* frames tagged so far */
};

/* Keys m for the direction connector -> acceptor (c2a) or back, from the
 * handshake's hello (HS_SIZE bytes) and reply (HS_MAC_OFFSET bytes). */
int frame_mac_init(struct frame_mac *m, const struct auth_key *k, const uint8_t *hello,
		   const uint8_t *reply, bool c2a);
void frame_mac_free(struct frame_mac *m);

/* The tag of the next frame, len bytes at data. 0, or -EIO. */
int frame_mac_tag(struct frame_mac *m, const uint8_t *data, size_t len,
		  uint8_t tag[FRAME_TAG]);
/* Whether tag is the next frame's. */
bool frame_mac_check(struct frame_mac *m, const uint8_t *data, size_t len,
		     const uint8_t tag[FRAME_TAG]);

#endif
