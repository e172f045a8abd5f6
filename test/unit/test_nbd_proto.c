/*
 * NBD wire formats: every decoder's good and bad input, the encoders' bytes,
 * request validation, the errno mapping and the access policy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nbd_proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Test input is built the way a client would send it: big-endian. */
static uint8_t *be(uint8_t *p, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return p + n;
}

static uint64_t get(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

static void test_client_flags(void **state)
{
	static const uint32_t good[] = { 0, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES,
					 NBD_FLAG_C_KNOWN };
	static const uint32_t bad[] = { 1u << 2, 1u << 31, NBD_FLAG_C_KNOWN | 0x100 };
	uint8_t buf[4];
	uint32_t flags;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		be(buf, good[i], 4);
		assert_int_equal(nbd_client_flags_decode(buf, 4, &flags), 0);
		assert_int_equal(flags, good[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		be(buf, bad[i], 4);
		assert_int_equal(nbd_client_flags_decode(buf, 4, &flags), -EPROTO);
	}
	assert_int_equal(nbd_client_flags_decode(buf, 3, &flags), -EAGAIN);
	assert_int_equal(nbd_client_flags_decode(NULL, 0, &flags), -EAGAIN);
}

static size_t opt_hdr(uint8_t *buf, uint64_t magic, uint32_t option, uint32_t len)
{
	be(be(be(buf, magic, 8), option, 4), len, 4);
	return NBD_OPT_HDR_SIZE;
}

static void test_opt_hdr(void **state)
{
	struct nbd_opt_hdr h;
	uint8_t buf[NBD_OPT_HDR_SIZE];

	opt_hdr(buf, NBD_OPTS_MAGIC, NBD_OPT_GO, 12);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.option, NBD_OPT_GO);
	assert_int_equal(h.length, 12);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf) - 1, &h), -EAGAIN);

	opt_hdr(buf, NBD_OPTS_MAGIC, 0xdeadbeef, NBD_OPT_DATA_MAX);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.option, 0xdeadbeef);
	opt_hdr(buf, NBD_OPTS_MAGIC, NBD_OPT_LIST, NBD_OPT_DATA_MAX + 1);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), -EMSGSIZE);
	opt_hdr(buf, NBD_OPTS_MAGIC, NBD_OPT_LIST, UINT32_MAX);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), -EMSGSIZE);

	opt_hdr(buf, NBD_MAGIC, NBD_OPT_LIST, 0);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), -EPROTO);
	memcpy(buf, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(nbd_opt_hdr_decode(buf, sizeof(buf), &h), -EPROTO);
}

/* INFO/GO data: u32 name length, name, u16 count, the info types. */
static size_t info_data(uint8_t *buf, const char *name, const uint16_t *types, size_t n)
{
	uint8_t *p = be(buf, strlen(name), 4);
	size_t i;

	memcpy(p, name, strlen(name));
	p = be(p + strlen(name), n, 2);
	for (i = 0; i < n; i++)
		p = be(p, types[i], 2);
	return (size_t)(p - buf);
}

static void test_opt_export_name(void **state)
{
	static struct nbd_opt o;
	static uint8_t big[NBD_STRING_MAX + 1];

	assert_int_equal(nbd_opt_decode(NBD_OPT_EXPORT_NAME, (const uint8_t *)"vd1", 3, &o), 0);
	assert_int_equal(o.option, NBD_OPT_EXPORT_NAME);
	assert_string_equal(o.name, "vd1");
	/* The default export: an empty name. */
	assert_int_equal(nbd_opt_decode(NBD_OPT_EXPORT_NAME, (const uint8_t *)"", 0, &o), 0);
	assert_string_equal(o.name, "");
	/* A NUL inside would make the name looked up differ from the one sent. */
	assert_int_equal(nbd_opt_decode(NBD_OPT_EXPORT_NAME, (const uint8_t *)"vd\0x", 4, &o),
			 -EINVAL);
	memset(big, 'a', sizeof(big));
	assert_int_equal(nbd_opt_decode(NBD_OPT_EXPORT_NAME, big, NBD_STRING_MAX, &o), 0);
	assert_int_equal(strlen(o.name), NBD_STRING_MAX);
	assert_int_equal(nbd_opt_decode(NBD_OPT_EXPORT_NAME, big, sizeof(big), &o), -EINVAL);
}

static void test_opt_simple(void **state)
{
	static struct nbd_opt o;
	static const uint8_t junk[3] = { 1, 2, 3 };

	assert_int_equal(nbd_opt_decode(NBD_OPT_ABORT, NULL, 0, &o), 0);
	assert_int_equal(o.option, NBD_OPT_ABORT);
	/* ABORT's data is ignored, not refused. */
	assert_int_equal(nbd_opt_decode(NBD_OPT_ABORT, junk, sizeof(junk), &o), 0);
	assert_int_equal(nbd_opt_decode(NBD_OPT_LIST, NULL, 0, &o), 0);
	assert_int_equal(nbd_opt_decode(NBD_OPT_LIST, junk, sizeof(junk), &o), -EINVAL);
	assert_int_equal(nbd_opt_decode(NBD_OPT_STRUCTURED_REPLY, NULL, 0, &o), 0);
	assert_int_equal(nbd_opt_decode(NBD_OPT_STRUCTURED_REPLY, junk, 1, &o), -EINVAL);
	/* Unimplemented: answered NBD_REP_ERR_UNSUP, data or not. */
	assert_int_equal(nbd_opt_decode(NBD_OPT_STARTTLS, NULL, 0, &o), -EOPNOTSUPP);
	assert_int_equal(nbd_opt_decode(NBD_OPT_LIST_META_CONTEXT, junk, 3, &o), -EOPNOTSUPP);
	assert_int_equal(nbd_opt_decode(NBD_OPT_SET_META_CONTEXT, junk, 3, &o), -EOPNOTSUPP);
	assert_int_equal(nbd_opt_decode(4, NULL, 0, &o), -EOPNOTSUPP);
	assert_int_equal(nbd_opt_decode(0, NULL, 0, &o), -EOPNOTSUPP);
	assert_int_equal(nbd_opt_decode(UINT32_MAX, junk, 3, &o), -EOPNOTSUPP);
}

static void test_opt_info_go(void **state)
{
	static const uint16_t types[] = { NBD_INFO_BLOCK_SIZE, 99, NBD_INFO_NAME, NBD_INFO_NAME,
					  0xffff };
	static struct nbd_opt o;
	uint8_t buf[64];
	size_t len;

	len = info_data(buf, "vd1", types, ARRAY_SIZE(types));
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len, &o), 0);
	assert_int_equal(o.option, NBD_OPT_GO);
	assert_string_equal(o.name, "vd1");
	/* Unknown types are dropped, repeats are harmless. */
	assert_int_equal(o.info, (1u << NBD_INFO_BLOCK_SIZE) | (1u << NBD_INFO_NAME));

	len = info_data(buf, "", NULL, 0);
	assert_int_equal(len, 6);
	assert_int_equal(nbd_opt_decode(NBD_OPT_INFO, buf, len, &o), 0);
	assert_string_equal(o.name, "");
	assert_int_equal(o.info, 0);

	/* Too short for the fixed fields. */
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, 5, &o), -EINVAL);
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, 0, &o), -EINVAL);
	/* A name running past the data. */
	len = info_data(buf, "vd1", NULL, 0);
	be(buf, 4, 4);
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len, &o), -EINVAL);
	be(buf, UINT32_MAX, 4);
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len, &o), -EINVAL);
	/* A count that does not match what follows, either way. */
	len = info_data(buf, "vd1", types, 2);
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len - 1, &o), -EINVAL);
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len - 2, &o), -EINVAL);
	buf[len] = 0;
	assert_int_equal(nbd_opt_decode(NBD_OPT_GO, buf, len + 1, &o), -EINVAL);
	/* A NUL in the name. */
	len = info_data(buf, "v\001d", NULL, 0);
	buf[5] = 0;
	assert_int_equal(nbd_opt_decode(NBD_OPT_INFO, buf, len, &o), -EINVAL);
}

static size_t request(uint8_t *buf, uint32_t magic, uint16_t flags, uint16_t type,
		      uint64_t cookie, uint64_t offset, uint32_t length)
{
	be(be(be(be(be(be(buf, magic, 4), flags, 2), type, 2), cookie, 8), offset, 8), length, 4);
	return NBD_REQUEST_SIZE;
}

static void test_request_decode(void **state)
{
	struct nbd_request r;
	uint8_t buf[NBD_REQUEST_SIZE];

	request(buf, NBD_REQUEST_MAGIC, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 0x0102030405060708ull,
		0xfffffffffffff000ull, 0x80000000u);
	assert_int_equal(nbd_request_decode(buf, sizeof(buf), &r), 0);
	assert_int_equal(r.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(r.type, NBD_CMD_WRITE);
	assert_int_equal(r.cookie, 0x0102030405060708ull);
	assert_int_equal(r.offset, 0xfffffffffffff000ull);
	assert_int_equal(r.length, 0x80000000u);
	assert_int_equal(nbd_request_decode(buf, sizeof(buf) - 1, &r), -EAGAIN);
	request(buf, NBD_SIMPLE_REPLY_MAGIC, 0, NBD_CMD_READ, 1, 0, 512);
	assert_int_equal(nbd_request_decode(buf, sizeof(buf), &r), -EPROTO);
}

static void test_request_check(void **state)
{
	const uint16_t all = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			     NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
	const uint16_t ro = all | NBD_FLAG_READ_ONLY, bare = NBD_FLAG_HAS_FLAGS;
	const uint64_t size = 1 << 20;
	const uint32_t max = 1 << 16;
	static const struct {
		uint16_t type, flags, tflags_sel; /* 0 all, 1 read-only, 2 bare */
		uint64_t offset;
		uint32_t length;
		int want;
	} cases[] = {
		{ NBD_CMD_READ, 0, 0, 0, 4096, 0 },
		{ NBD_CMD_READ, 0, 0, (1 << 20) - 1, 1, 0 },
		{ NBD_CMD_READ, 0, 0, 1 << 20, 0, 0 },
		{ NBD_CMD_READ, 0, 0, 1 << 20, 1, -EINVAL },
		{ NBD_CMD_READ, 0, 0, UINT64_MAX, 2, -EINVAL },
		{ NBD_CMD_READ, 0, 0, 0, 1 << 16, 0 },
		{ NBD_CMD_READ, 0, 0, 0, (1 << 16) + 1, -EINVAL },
		{ NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 0, 512, 0 },
		{ NBD_CMD_READ, NBD_CMD_FLAG_FUA, 2, 0, 512, -EINVAL },
		{ NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 0, 512, -EINVAL },
		{ NBD_CMD_READ, 0, 1, 0, 512, 0 },
		{ NBD_CMD_READ, 0, 2, 0, 512, 0 },
		{ NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 0, 4096, 0 },
		{ NBD_CMD_WRITE, 0, 0, (1 << 20) - 512, 1024, -ENOSPC },
		{ NBD_CMD_WRITE, 0, 0, UINT64_MAX - 10, 100, -ENOSPC },
		{ NBD_CMD_WRITE, 0, 0, 0, (1 << 16) + 1, -EINVAL },
		{ NBD_CMD_WRITE, 0, 1, 0, 512, -EPERM },
		{ NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 0, 512, -EINVAL },
		{ NBD_CMD_WRITE, 1u << 15, 0, 0, 512, -EINVAL },
		{ NBD_CMD_FLUSH, 0, 0, 0, 0, 0 },
		{ NBD_CMD_FLUSH, 0, 1, 0, 0, 0 },
		{ NBD_CMD_FLUSH, 0, 0, 0, 1, -EINVAL },
		{ NBD_CMD_FLUSH, 0, 0, 512, 0, -EINVAL },
		{ NBD_CMD_FLUSH, 0, 2, 0, 0, -EINVAL },
		{ NBD_CMD_TRIM, 0, 0, 0, 1 << 20, 0 },
		{ NBD_CMD_TRIM, 0, 0, 512, 1 << 20, -EINVAL },
		{ NBD_CMD_TRIM, 0, 1, 0, 512, -EPERM },
		{ NBD_CMD_TRIM, 0, 2, 0, 512, -EINVAL },
		{ NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, 0, 0, 1 << 20, 0 },
		{ NBD_CMD_WRITE_ZEROES, 0, 0, 4096, 1 << 20, -ENOSPC },
		{ NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 0, 512, -EINVAL },
		{ NBD_CMD_WRITE_ZEROES, 0, 1, 0, 512, -EPERM },
		{ NBD_CMD_WRITE_ZEROES, 0, 2, 0, 512, -EINVAL },
		{ NBD_CMD_DISC, 0, 0, 0, 0, 0 },
		{ NBD_CMD_DISC, 0, 0, 1, 0, -EINVAL },
		{ NBD_CMD_CACHE, 0, 0, 0, 512, -EINVAL },
		{ NBD_CMD_BLOCK_STATUS, 0, 0, 0, 512, -EINVAL },
		{ 99, 0, 0, 0, 0, -EINVAL },
	};
	const uint16_t sel[] = { all, ro, bare };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct nbd_request r = {
			.flags = cases[i].flags,
			.type = cases[i].type,
			.offset = cases[i].offset,
			.length = cases[i].length,
		};

		if (nbd_request_check(&r, size, sel[cases[i].tflags_sel], max) != cases[i].want)
			fail_msg("case %zu: type %u flags 0x%x offset %llu length %u: want %d", i,
				 r.type, r.flags, (unsigned long long)r.offset, r.length,
				 cases[i].want);
	}
}

static void test_handshake_encoders(void **state)
{
	static const uint8_t greeting[] = { 'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C', 'I',
					    'H', 'A', 'V', 'E', 'O', 'P', 'T', 0,   3 };
	uint8_t buf[NBD_EXPORT_REPLY_SIZE];
	size_t i;

	assert_int_equal(nbd_greeting_encode(buf), NBD_GREETING_SIZE);
	assert_memory_equal(buf, greeting, sizeof(greeting));

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(nbd_export_reply_encode(buf, 0x0102030405060708ull, 0x0123, false), 10);
	assert_int_equal(get(buf, 8), 0x0102030405060708ull);
	assert_int_equal(get(buf + 8, 2), 0x0123);
	assert_int_equal(buf[10], 0xaa);
	assert_int_equal(nbd_export_reply_encode(buf, 1, 1, true), NBD_EXPORT_REPLY_SIZE);
	for (i = 10; i < NBD_EXPORT_REPLY_SIZE; i++)
		assert_int_equal(buf[i], 0);
}

static void rep_hdr_check(const uint8_t *buf, uint32_t option, uint32_t type, uint32_t len)
{
	assert_int_equal(get(buf, 8), NBD_REP_MAGIC);
	assert_int_equal(get(buf + 8, 4), option);
	assert_int_equal(get(buf + 12, 4), type);
	assert_int_equal(get(buf + 16, 4), len);
}

static void test_option_replies(void **state)
{
	static const uint8_t ack[] = { 0, 3, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0,
				       0, 7, 0,	   0,	 0,    1,    0,	   0,	 0, 0 };
	static uint8_t buf[NBD_OPT_REPLY_MAX], big[NBD_OPT_REPLY_MAX * 2];
	static char name[NBD_STRING_MAX + 10];

	assert_int_equal(nbd_rep_encode(buf, NBD_OPT_GO, NBD_REP_ACK, NULL, 0), 20);
	assert_memory_equal(buf, ack, sizeof(ack));

	assert_int_equal(nbd_rep_encode(buf, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "no vd9", 6), 26);
	rep_hdr_check(buf, NBD_OPT_GO, 0x80000006u, 6);
	assert_memory_equal(buf + 20, "no vd9", 6);
	/* Data too long for a reply is cut, never written past the buffer. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(nbd_rep_encode(buf, 1, NBD_REP_ERR_POLICY, big, sizeof(big)),
			 NBD_OPT_REPLY_MAX);
	rep_hdr_check(buf, 1, NBD_REP_ERR_POLICY, NBD_OPT_REPLY_MAX - 20);

	assert_int_equal(nbd_rep_server_encode(buf, NBD_OPT_LIST, "vd1"), 27);
	rep_hdr_check(buf, NBD_OPT_LIST, NBD_REP_SERVER, 7);
	assert_int_equal(get(buf + 20, 4), 3);
	assert_memory_equal(buf + 24, "vd1", 3);
	memset(name, 'n', sizeof(name) - 1);
	assert_int_equal(nbd_rep_server_encode(buf, NBD_OPT_LIST, name), NBD_OPT_REPLY_MAX);
	assert_int_equal(get(buf + 20, 4), NBD_STRING_MAX);

	assert_int_equal(nbd_rep_info_export_encode(buf, NBD_OPT_INFO, 64ull << 20, 0x0145), 32);
	rep_hdr_check(buf, NBD_OPT_INFO, NBD_REP_INFO, 12);
	assert_int_equal(get(buf + 20, 2), NBD_INFO_EXPORT);
	assert_int_equal(get(buf + 22, 8), 64ull << 20);
	assert_int_equal(get(buf + 30, 2), 0x0145);

	assert_int_equal(nbd_rep_info_string_encode(buf, NBD_OPT_GO, NBD_INFO_NAME, "vd1"), 25);
	rep_hdr_check(buf, NBD_OPT_GO, NBD_REP_INFO, 5);
	assert_int_equal(get(buf + 20, 2), NBD_INFO_NAME);
	assert_memory_equal(buf + 22, "vd1", 3);
	assert_int_equal(nbd_rep_info_string_encode(buf, NBD_OPT_GO, NBD_INFO_DESCRIPTION, ""),
			 22);
	rep_hdr_check(buf, NBD_OPT_GO, NBD_REP_INFO, 2);
	assert_int_equal(get(buf + 20, 2), NBD_INFO_DESCRIPTION);

	assert_int_equal(nbd_rep_info_block_size_encode(buf, NBD_OPT_GO, 1, 4096, 32u << 20), 34);
	rep_hdr_check(buf, NBD_OPT_GO, NBD_REP_INFO, 14);
	assert_int_equal(get(buf + 20, 2), NBD_INFO_BLOCK_SIZE);
	assert_int_equal(get(buf + 22, 4), 1);
	assert_int_equal(get(buf + 26, 4), 4096);
	assert_int_equal(get(buf + 30, 4), 32u << 20);
}

static void test_transmission_replies(void **state)
{
	static const uint8_t simple[] = { 0x67, 0x44, 0x66, 0x98, 0, 0, 0, 28,
					  1,	2,    3,    4,	  5, 6, 7, 8 };
	static char msg[NBD_ERROR_MSG_MAX + 50];
	static uint8_t buf[NBD_CHUNK_ERROR_MAX];

	assert_int_equal(nbd_simple_reply_encode(buf, NBD_ENOSPC, 0x0102030405060708ull), 16);
	assert_memory_equal(buf, simple, sizeof(simple));

	assert_int_equal(nbd_chunk_encode(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, 7, 0), 20);
	assert_int_equal(get(buf, 4), NBD_STRUCTURED_REPLY_MAGIC);
	assert_int_equal(get(buf + 4, 2), NBD_REPLY_FLAG_DONE);
	assert_int_equal(get(buf + 6, 2), NBD_REPLY_TYPE_NONE);
	assert_int_equal(get(buf + 8, 8), 7);
	assert_int_equal(get(buf + 16, 4), 0);

	assert_int_equal(nbd_chunk_data_encode(buf, NBD_REPLY_FLAG_DONE, 9, 1 << 20, 4096), 28);
	assert_int_equal(get(buf + 6, 2), NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(get(buf + 8, 8), 9);
	assert_int_equal(get(buf + 16, 4), 8 + 4096);
	assert_int_equal(get(buf + 20, 8), 1 << 20);

	assert_int_equal(nbd_chunk_error_encode(buf, NBD_REPLY_FLAG_DONE, 5, NBD_EIO, "I/O error"),
			 35);
	assert_int_equal(get(buf + 4, 2), NBD_REPLY_FLAG_DONE);
	assert_int_equal(get(buf + 6, 2), 0x8001);
	assert_int_equal(get(buf + 16, 4), 15);
	assert_int_equal(get(buf + 20, 4), NBD_EIO);
	assert_int_equal(get(buf + 24, 2), 9);
	assert_memory_equal(buf + 26, "I/O error", 9);
	memset(msg, 'm', sizeof(msg) - 1);
	assert_int_equal(nbd_chunk_error_encode(buf, 0, 5, NBD_EINVAL, msg), NBD_CHUNK_ERROR_MAX);
	assert_int_equal(get(buf + 24, 2), NBD_ERROR_MSG_MAX);
}

static void test_reply(void **state)
{
	struct nbd_request read = { .type = NBD_CMD_READ, .cookie = 42, .offset = 8192,
				    .length = 4096 };
	struct nbd_request write = { .type = NBD_CMD_WRITE, .cookie = 43, .length = 512 };
	static uint8_t buf[NBD_REPLY_HDR_MAX];

	/* Without structured replies: always simple, errors mapped. */
	assert_int_equal(nbd_reply_encode(buf, &read, false, 0, ""), NBD_SIMPLE_REPLY_SIZE);
	assert_int_equal(get(buf, 4), NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(get(buf + 4, 4), 0);
	assert_int_equal(get(buf + 8, 8), 42);
	assert_int_equal(nbd_reply_encode(buf, &write, false, -EDQUOT, "x"), NBD_SIMPLE_REPLY_SIZE);
	assert_int_equal(get(buf + 4, 4), NBD_ENOSPC);
	assert_int_equal(get(buf + 8, 8), 43);

	/* With them: a READ gets one OFFSET_DATA chunk, an empty one NONE. */
	assert_int_equal(nbd_reply_encode(buf, &read, true, 0, ""), NBD_CHUNK_DATA_HDR_SIZE);
	assert_int_equal(get(buf, 4), NBD_STRUCTURED_REPLY_MAGIC);
	assert_int_equal(get(buf + 4, 2), NBD_REPLY_FLAG_DONE);
	assert_int_equal(get(buf + 6, 2), NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(get(buf + 16, 4), 8 + 4096);
	assert_int_equal(get(buf + 20, 8), 8192);
	read.length = 0;
	assert_int_equal(nbd_reply_encode(buf, &read, true, 0, ""), NBD_CHUNK_HDR_SIZE);
	assert_int_equal(get(buf + 6, 2), NBD_REPLY_TYPE_NONE);
	assert_int_equal(get(buf + 16, 4), 0);
	/* Errors are ERROR chunks with the message, for any request. */
	assert_int_equal(nbd_reply_encode(buf, &read, true, -EINVAL, "bad"),
			 NBD_CHUNK_HDR_SIZE + 9);
	assert_int_equal(get(buf + 6, 2), NBD_REPLY_TYPE_ERROR);
	assert_int_equal(get(buf + 20, 4), NBD_EINVAL);
	assert_memory_equal(buf + 26, "bad", 3);
	assert_int_equal(nbd_reply_encode(buf, &write, true, -ESHUTDOWN, ""),
			 NBD_CHUNK_HDR_SIZE + 6);
	assert_int_equal(get(buf + 20, 4), NBD_ESHUTDOWN);
	/* A good non-READ may still be a simple reply. */
	assert_int_equal(nbd_reply_encode(buf, &write, true, 0, ""), NBD_SIMPLE_REPLY_SIZE);
	assert_int_equal(get(buf + 4, 4), 0);
}

static void test_errno_map(void **state)
{
	static const struct {
		int err;
		uint32_t want;
	} cases[] = {
		{ EPERM, NBD_EPERM },	      { EACCES, NBD_EPERM },
		{ EROFS, NBD_EPERM },	      { EIO, NBD_EIO },
		{ ENOMEM, NBD_ENOMEM },	      { EINVAL, NBD_EINVAL },
		{ ENOSPC, NBD_ENOSPC },	      { EDQUOT, NBD_ENOSPC },
		{ EFBIG, NBD_ENOSPC },	      { EOVERFLOW, NBD_EOVERFLOW },
		{ EOPNOTSUPP, NBD_ENOTSUP },  { ESHUTDOWN, NBD_ESHUTDOWN },
		{ ETIMEDOUT, NBD_EIO },	      { ENODEV, NBD_EIO },
		{ 0xffff, NBD_EIO },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(nbd_error_from_errno(cases[i].err), cases[i].want);
		assert_int_equal(nbd_error_from_errno(-cases[i].err), cases[i].want);
	}
}

static void test_access(void **state)
{
	gid_t groups[] = { 50, 60 };
	const struct nbd_cred root = { .local = true, .uid = 0, .gid = 0 };
	const struct nbd_cred owner = { .local = true, .uid = 1000, .gid = 1000 };
	const struct nbd_cred member = { .local = true, .uid = 1001, .gid = 1001,
					 .ngroups = 2, .groups = groups };
	const struct nbd_cred primary = { .local = true, .uid = 1002, .gid = 60 };
	const struct nbd_cred other = { .local = true, .uid = 1003, .gid = 1003 };
	/* A TCP peer's zero uid is not root. */
	const struct nbd_cred tcp = { .local = false, .uid = 0, .gid = 60 };
	const unsigned int rw = NBD_ACCESS_READ | NBD_ACCESS_WRITE;

	assert_int_equal(nbd_access(&root, 1000, 60, 0), rw);
	assert_int_equal(nbd_access(&owner, 1000, 60, 0640), rw);
	assert_int_equal(nbd_access(&owner, 1000, 60, 0440), NBD_ACCESS_READ);
	/* The owner's bits decide for the owner, even when others get more. */
	assert_int_equal(nbd_access(&owner, 1000, 60, 0066), 0);
	assert_int_equal(nbd_access(&member, 1000, 60, 0640), NBD_ACCESS_READ);
	assert_int_equal(nbd_access(&member, 1000, 60, 0660), rw);
	assert_int_equal(nbd_access(&member, 1000, 60, 0606), 0);
	assert_int_equal(nbd_access(&primary, 1000, 60, 0620), NBD_ACCESS_WRITE);
	assert_int_equal(nbd_access(&other, 1000, 60, 0640), 0);
	assert_int_equal(nbd_access(&other, 1000, 60, 0644), NBD_ACCESS_READ);
	assert_int_equal(nbd_access(&other, 1000, 60, 0666), rw);
	assert_int_equal(nbd_access(&tcp, 1000, 60, 0660), 0);
	assert_int_equal(nbd_access(&tcp, 0, 60, 0604), NBD_ACCESS_READ);
	/* Execute and the special bits grant nothing here. */
	assert_int_equal(nbd_access(&other, 1000, 60, 07771), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* Decoders */
		cmocka_unit_test(test_client_flags),
		cmocka_unit_test(test_opt_hdr),
		cmocka_unit_test(test_opt_export_name),
		cmocka_unit_test(test_opt_simple),
		cmocka_unit_test(test_opt_info_go),
		cmocka_unit_test(test_request_decode),
		cmocka_unit_test(test_request_check),
		/* Encoders */
		cmocka_unit_test(test_handshake_encoders),
		cmocka_unit_test(test_option_replies),
		cmocka_unit_test(test_transmission_replies),
		cmocka_unit_test(test_reply),
		/* Policy */
		cmocka_unit_test(test_errno_map),
		cmocka_unit_test(test_access),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
