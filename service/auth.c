/*
 * HMAC-SHA256 over the cluster key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"
#include "persist.h"

/* Corosync's own authkey is 128 bytes or more; anything under this is a
 * placeholder, not a key. */
#define AUTH_KEY_MIN 16

int auth_key_load(struct auth_key *k, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	memset(k, 0, sizeof(*k));
	if (strcmp(path, "none") == 0) {
		k->none = true;
		return 0;
	}
	rc = persist_read_file(path, &buf, &len);
	if (rc) {
		snprintf(err, errlen,
			 "[transport] authkey: %s: %s (set 'authkey = none' to run without "
			 "authentication)",
			 path, strerror(-rc));
		return rc;
	}
	if (len < AUTH_KEY_MIN || len > AUTH_KEY_MAX) {
		snprintf(err, errlen, "[transport] authkey: %s: %zu bytes, a key has %d to %d",
			 path, len, AUTH_KEY_MIN, AUTH_KEY_MAX);
		rc = -EINVAL;
		goto out_free;
	}
	memcpy(k->key, buf, len);
	k->len = len;

out_free:
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

void auth_key_clear(struct auth_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

void auth_mac(const struct auth_key *k, const struct auth_part *parts, size_t n,
	      uint8_t out[AUTH_MAC_LEN])
{
	uint8_t msg[AUTH_MSG_MAX];
	unsigned int maclen = AUTH_MAC_LEN;
	size_t i, len = 0;

	memset(out, 0, AUTH_MAC_LEN);
	if (k->none)
		return;
	for (i = 0; i < n; i++) {
		if (parts[i].len > sizeof(msg) - len)
			return;
		memcpy(msg + len, parts[i].data, parts[i].len);
		len += parts[i].len;
	}
	if (!HMAC(EVP_sha256(), k->key, (int)k->len, msg, len, out, &maclen))
		memset(out, 0, AUTH_MAC_LEN);
}

bool auth_verify(const struct auth_key *k, const struct auth_part *parts, size_t n,
		 const uint8_t *mac, size_t maclen)
{
	uint8_t want[AUTH_MAC_LEN];
	static const uint8_t zero[AUTH_MAC_LEN];

	if (k->none)
		return true;
	if (maclen > AUTH_MAC_LEN)
		return false;
	auth_mac(k, parts, n, want);
	/* An all-zero MAC is what a failed HMAC leaves; never accept it. */
	return CRYPTO_memcmp(want, zero, maclen) != 0 && CRYPTO_memcmp(want, mac, maclen) == 0;
}

int auth_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}
