/*
 * NBD wire formats (layouts in nbd_proto.h).
 */
#include <errno.h>
#include <string.h>

#include "nbd_proto.h"

/* Big-endian fields of n bytes, whatever the host's byte order. */
static void put_be(uint8_t *p, uint64_t v, unsigned int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Decoders */

int nbd_client_flags_decode(const uint8_t *buf, size_t len, uint32_t *flags)
{
	if (len < NBD_CLIENT_FLAGS_SIZE)
		return -EAGAIN;
	*flags = (uint32_t)get_be(buf, 4);
	/* The protocol says to drop a client that sets a flag we did not
	 * offer: it expects something we will not do. */
	return (*flags & ~NBD_FLAG_C_KNOWN) ? -EPROTO : 0;
}

int nbd_opt_hdr_decode(const uint8_t *buf, size_t len, struct nbd_opt_hdr *h)
{
	if (len < NBD_OPT_HDR_SIZE)
		return -EAGAIN;
	if (get_be(buf, 8) != NBD_OPTS_MAGIC)
		return -EPROTO;
	h->option = (uint32_t)get_be(buf + 8, 4);
	h->length = (uint32_t)get_be(buf + 12, 4);
	return h->length > NBD_OPT_DATA_MAX ? -EMSGSIZE : 0;
}

/* A protocol string into a C string: bounded, and without NUL bytes, which
 * would make the name we look up differ from the one the client sent. */
static int string_copy(char *dst, const uint8_t *src, size_t len)
{
	if (len > NBD_STRING_MAX || memchr(src, 0, len))
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* INFO and GO: u32 name length, name, u16 count, count x u16 info type. */
static int opt_info_decode(const uint8_t *data, size_t len, struct nbd_opt *o)
{
	size_t namelen, n, i;
	int rc;

	if (len < 6)
		return -EINVAL;
	namelen = get_be(data, 4);
	if (namelen > len - 6)
		return -EINVAL;
	rc = string_copy(o->name, data + 4, namelen);
	if (rc)
		return rc;
	data += 4 + namelen;
	len -= 4 + namelen;
	n = get_be(data, 2);
	if (len - 2 != n * 2)
		return -EINVAL;
	/* Unknown info types must be ignored, so only known ones are kept. */
	for (i = 0; i < n; i++) {
		uint16_t type = (uint16_t)get_be(data + 2 + 2 * i, 2);

		if (type <= NBD_INFO_BLOCK_SIZE)
			o->info |= 1u << type;
	}
	return 0;
}

int nbd_opt_decode(uint32_t option, const uint8_t *data, size_t len, struct nbd_opt *o)
{
	o->option = option;
	o->name[0] = '\0';
	o->info = 0;
	switch (option) {
	case NBD_OPT_EXPORT_NAME:
		return string_copy(o->name, data, len);
	case NBD_OPT_ABORT:
		/* Data after ABORT is to be ignored, not refused. */
		return 0;
	case NBD_OPT_LIST:
	case NBD_OPT_STRUCTURED_REPLY:
		return len ? -EINVAL : 0;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info_decode(data, len, o);
	default:
		/* STARTTLS and the metadata contexts included: no TLS, and
		 * block status is not offered. */
		return -EOPNOTSUPP;
	}
}

int nbd_request_decode(const uint8_t *buf, size_t len, struct nbd_request *r)
{
	if (len < NBD_REQUEST_SIZE)
		return -EAGAIN;
	if (get_be(buf, 4) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	r->flags = (uint16_t)get_be(buf + 4, 2);
	r->type = (uint16_t)get_be(buf + 6, 2);
	r->cookie = get_be(buf + 8, 8);
	r->offset = get_be(buf + 16, 8);
	r->length = (uint32_t)get_be(buf + 24, 4);
	return 0;
}

/* The transmission flag that offers a command, and the command flags
 * beside FUA it takes (a flag offered by tflags, too). */
static int cmd_features(uint16_t type, uint16_t *need, uint16_t *cmd_flags)
{
	*cmd_flags = 0;
	switch (type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_DISC:
		*need = 0;
		return 0;
	case NBD_CMD_FLUSH:
		*need = NBD_FLAG_SEND_FLUSH;
		return 0;
	case NBD_CMD_TRIM:
		*need = NBD_FLAG_SEND_TRIM;
		return 0;
	case NBD_CMD_WRITE_ZEROES:
		*need = NBD_FLAG_SEND_WRITE_ZEROES;
		*cmd_flags = NBD_CMD_FLAG_NO_HOLE;
		return 0;
	default:
		return -EINVAL;
	}
}

int nbd_request_check(const struct nbd_request *r, uint64_t size, uint16_t tflags,
		      uint32_t max_payload)
{
	bool changes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
		       r->type == NBD_CMD_WRITE_ZEROES;
	uint16_t need, allowed;

	if (cmd_features(r->type, &need, &allowed) || (tflags & need) != need)
		return -EINVAL;
	if (tflags & NBD_FLAG_SEND_FUA)
		allowed |= NBD_CMD_FLAG_FUA;
	if (r->flags & ~allowed)
		return -EINVAL;
	switch (r->type) {
	case NBD_CMD_DISC:
	case NBD_CMD_FLUSH:
		return r->offset || r->length ? -EINVAL : 0;
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		if (r->length > max_payload)
			return -EINVAL;
		break;
	default:
		break;
	}
	if (changes && (tflags & NBD_FLAG_READ_ONLY))
		return -EPERM;
	if (r->offset > size || r->length > size - r->offset)
		return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES ? -ENOSPC :
										     -EINVAL;
	return 0;
}

/* Encoders */

size_t nbd_greeting_encode(uint8_t out[NBD_GREETING_SIZE])
{
	put_be(out, NBD_MAGIC, 8);
	put_be(out + 8, NBD_OPTS_MAGIC, 8);
	put_be(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 2);
	return NBD_GREETING_SIZE;
}

size_t nbd_export_reply_encode(uint8_t out[NBD_EXPORT_REPLY_SIZE], uint64_t size, uint16_t tflags,
			       bool zeroes)
{
	put_be(out, size, 8);
	put_be(out + 8, tflags, 2);
	if (!zeroes)
		return 10;
	memset(out + 10, 0, NBD_EXPORT_REPLY_SIZE - 10);
	return NBD_EXPORT_REPLY_SIZE;
}

static void rep_hdr_put(uint8_t *out, uint32_t option, uint32_t type, size_t len)
{
	put_be(out, NBD_REP_MAGIC, 8);
	put_be(out + 8, option, 4);
	put_be(out + 12, type, 4);
	put_be(out + 16, len, 4);
}

size_t nbd_rep_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint32_t type,
		      const void *data, size_t len)
{
	if (len > NBD_OPT_REPLY_MAX - NBD_OPT_REPLY_HDR_SIZE)
		len = NBD_OPT_REPLY_MAX - NBD_OPT_REPLY_HDR_SIZE;
	rep_hdr_put(out, option, type, len);
	if (len)
		memcpy(out + NBD_OPT_REPLY_HDR_SIZE, data, len);
	return NBD_OPT_REPLY_HDR_SIZE + len;
}

static size_t string_len(const char *s)
{
	return strnlen(s, NBD_STRING_MAX);
}

size_t nbd_rep_server_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, const char *name)
{
	size_t len = string_len(name);

	rep_hdr_put(out, option, NBD_REP_SERVER, 4 + len);
	put_be(out + NBD_OPT_REPLY_HDR_SIZE, len, 4);
	memcpy(out + NBD_OPT_REPLY_HDR_SIZE + 4, name, len);
	return NBD_OPT_REPLY_HDR_SIZE + 4 + len;
}

/* An NBD_REP_INFO header and its info type; the caller adds len bytes. */
static uint8_t *info_put(uint8_t *out, uint32_t option, uint16_t info, size_t len)
{
	rep_hdr_put(out, option, NBD_REP_INFO, 2 + len);
	put_be(out + NBD_OPT_REPLY_HDR_SIZE, info, 2);
	return out + NBD_OPT_REPLY_HDR_SIZE + 2;
}

size_t nbd_rep_info_export_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint64_t size,
				  uint16_t tflags)
{
	uint8_t *p = info_put(out, option, NBD_INFO_EXPORT, 10);

	put_be(p, size, 8);
	put_be(p + 8, tflags, 2);
	return NBD_OPT_REPLY_HDR_SIZE + 12;
}

size_t nbd_rep_info_string_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint16_t info,
				  const char *s)
{
	size_t len = string_len(s);

	memcpy(info_put(out, option, info, len), s, len);
	return NBD_OPT_REPLY_HDR_SIZE + 2 + len;
}

size_t nbd_rep_info_block_size_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option,
				      uint32_t minimum, uint32_t preferred, uint32_t maximum)
{
	uint8_t *p = info_put(out, option, NBD_INFO_BLOCK_SIZE, 12);

	put_be(p, minimum, 4);
	put_be(p + 4, preferred, 4);
	put_be(p + 8, maximum, 4);
	return NBD_OPT_REPLY_HDR_SIZE + 14;
}

size_t nbd_simple_reply_encode(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error,
			       uint64_t cookie)
{
	put_be(out, NBD_SIMPLE_REPLY_MAGIC, 4);
	put_be(out + 4, error, 4);
	put_be(out + 8, cookie, 8);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t nbd_chunk_encode(uint8_t out[NBD_CHUNK_HDR_SIZE], uint16_t flags, uint16_t type,
			uint64_t cookie, uint32_t length)
{
	put_be(out, NBD_STRUCTURED_REPLY_MAGIC, 4);
	put_be(out + 4, flags, 2);
	put_be(out + 6, type, 2);
	put_be(out + 8, cookie, 8);
	put_be(out + 16, length, 4);
	return NBD_CHUNK_HDR_SIZE;
}

size_t nbd_chunk_data_encode(uint8_t out[NBD_CHUNK_DATA_HDR_SIZE], uint16_t flags,
			     uint64_t cookie, uint64_t offset, uint32_t datalen)
{
	nbd_chunk_encode(out, flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + datalen);
	put_be(out + NBD_CHUNK_HDR_SIZE, offset, 8);
	return NBD_CHUNK_DATA_HDR_SIZE;
}

size_t nbd_chunk_error_encode(uint8_t out[NBD_CHUNK_ERROR_MAX], uint16_t flags, uint64_t cookie,
			      uint32_t error, const char *msg)
{
	size_t len = strnlen(msg, NBD_ERROR_MSG_MAX);
	uint8_t *p = out + NBD_CHUNK_HDR_SIZE;

	nbd_chunk_encode(out, flags, NBD_REPLY_TYPE_ERROR, cookie, (uint32_t)(6 + len));
	put_be(p, error, 4);
	put_be(p + 4, len, 2);
	memcpy(p + 6, msg, len);
	return NBD_CHUNK_HDR_SIZE + 6 + len;
}

size_t nbd_reply_encode(uint8_t out[NBD_REPLY_HDR_MAX], const struct nbd_request *r,
			bool structured, int err, const char *msg)
{
	bool read = r->type == NBD_CMD_READ;

	if (structured && err)
		return nbd_chunk_error_encode(out, NBD_REPLY_FLAG_DONE, r->cookie,
					      nbd_error_from_errno(err), msg);
	/* A READ may not be answered with a simple reply then. */
	if (structured && read && r->length)
		return nbd_chunk_data_encode(out, NBD_REPLY_FLAG_DONE, r->cookie, r->offset,
					     r->length);
	if (structured && read)
		return nbd_chunk_encode(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r->cookie,
					0);
	return nbd_simple_reply_encode(out, err ? nbd_error_from_errno(err) : 0, r->cookie);
}

uint32_t nbd_error_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM:
	case EACCES:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

/* Access policy */

static bool cred_in_group(const struct nbd_cred *cred, gid_t gid)
{
	size_t i;

	if (cred->gid == gid)
		return true;
	for (i = 0; i < cred->ngroups; i++)
		if (cred->groups[i] == gid)
			return true;
	return false;
}

unsigned int nbd_access(const struct nbd_cred *cred, uint32_t uid, uint32_t gid, uint32_t mode)
{
	unsigned int bits = mode;

	if (cred->local && cred->uid == 0)
		return NBD_ACCESS_READ | NBD_ACCESS_WRITE;
	/* The owner's class decides alone, even when it grants less. */
	if (cred->local && cred->uid == uid)
		bits = mode >> 6;
	else if (cred->local && cred_in_group(cred, gid))
		bits = mode >> 3;
	return bits & (NBD_ACCESS_READ | NBD_ACCESS_WRITE);
}
