/*
 * Peer authentication: HMAC-SHA256 with the shared cluster key (OpenSSL's
 * libcrypto). The key file is read once at start; with "none" every MAC is
 * zero and every check passes, which the daemon logs as a warning.
 */
#ifndef VDISK_AUTH_H
#define VDISK_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_MAX 4096
#define AUTH_MAC_LEN 32
/* Longest message (all its parts) a MAC is computed over. */
#define AUTH_MSG_MAX 256

struct auth_key {
	bool none;
	size_t len;
	uint8_t key[AUTH_KEY_MAX];
};

/* path "none" disables authentication. A key shorter than 16 bytes is refused. */
int auth_key_load(struct auth_key *k, const char *path, char *err, size_t errlen);

/* Wipes the key from memory. */
void auth_key_clear(struct auth_key *k);

/* One piece of the message a MAC covers. */
struct auth_part {
	const void *data;
	size_t len;
};

/* MAC over the concatenation of n parts, at most AUTH_MSG_MAX bytes
 * together; all zero if longer or on failure. */
void auth_mac(const struct auth_key *k, const struct auth_part *parts, size_t n,
	      uint8_t out[AUTH_MAC_LEN]);

/* Constant-time check of the first maclen bytes of the MAC. */
bool auth_verify(const struct auth_key *k, const struct auth_part *parts, size_t n,
		 const uint8_t *mac, size_t maclen);

/* Fills buf with cryptographically random bytes. 0 or -EIO. */
int auth_random(void *buf, size_t len);

#endif
