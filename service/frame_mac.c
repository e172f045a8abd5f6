/*
 * GMAC tags on data frames (frame_mac.h).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "frame_mac.h"

#define KEY_LEN 16
#define IV_LEN 12

int frame_mac_init(struct frame_mac *m, const struct auth_key *k, const uint8_t *hello,
		   const uint8_t *reply, bool c2a)
{
	static const char label_c2a[] = "vdisk frame c2a", label_a2c[] = "vdisk frame a2c";
	struct auth_part parts[3] = {
		{ c2a ? label_c2a : label_a2c, sizeof(label_c2a) - 1 },
		{ hello, HS_SIZE },
		{ reply, HS_MAC_OFFSET },
	};
	uint8_t key[AUTH_MAC_LEN];
	EVP_CIPHER_CTX *ctx;
	int rc = -EIO;

	m->ctx = NULL;
	m->count = 0;
	if (k->none)
		return 0;
	auth_mac(k, parts, 3, key);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		goto out;
	}
	m->ctx = ctx;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

void frame_mac_free(struct frame_mac *m)
{
	EVP_CIPHER_CTX_free(m->ctx);
	m->ctx = NULL;
}

int frame_mac_tag(struct frame_mac *m, const uint8_t *data, size_t len,
		  uint8_t tag[FRAME_TAG])
{
	uint8_t iv[IV_LEN] = { 0 };
	uint64_t count = htole64(m->count++);
	int outl;

	memset(tag, 0, FRAME_TAG);
	if (!m->ctx)
		return 0;
	memcpy(iv, &count, sizeof(count));
	if (EVP_EncryptInit_ex(m->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(m->ctx, NULL, &outl, data, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(m->ctx, NULL, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(m->ctx, EVP_CTRL_GCM_GET_TAG, FRAME_TAG, tag) != 1)
		return -EIO;
	return 0;
}

bool frame_mac_check(struct frame_mac *m, const uint8_t *data, size_t len,
		     const uint8_t tag[FRAME_TAG])
{
	uint8_t want[FRAME_TAG];

	if (!m->ctx) {
		m->count++;
		return true;
	}
	return frame_mac_tag(m, data, len, want) == 0 &&
	       CRYPTO_memcmp(want, tag, FRAME_TAG) == 0;
}
