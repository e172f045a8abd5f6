/*
 * NBD client input, parsed the way the server does: client flags, options
 * until one picks an export, then requests with a WRITE's data skipped. The
 * first byte picks where the stream starts (so seeds reach each decoder
 * directly) and, with its top bit, structured replies; the second byte is
 * the export's transmission flags. What decodes is encoded back into
 * replies, so the encoders see names and lengths straight from the fuzzer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nbd_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum stage { ST_FLAGS, ST_OPTIONS, ST_REQUESTS };

/* One option; -1 when the stream cannot go on. */
static int option_parse(const uint8_t *p, size_t avail, enum stage *st)
{
	static struct nbd_opt o;
	static uint8_t out[NBD_OPT_REPLY_MAX];
	struct nbd_opt_hdr h;

	if (nbd_opt_hdr_decode(p, avail, &h) || avail - NBD_OPT_HDR_SIZE < h.length)
		return -1;
	if (nbd_opt_decode(h.option, p + NBD_OPT_HDR_SIZE, h.length, &o) == 0) {
		nbd_rep_server_encode(out, h.option, o.name);
		nbd_rep_info_string_encode(out, h.option, NBD_INFO_NAME, o.name);
		nbd_rep_encode(out, h.option, NBD_REP_ERR_UNKNOWN, o.name, strlen(o.name));
		if (h.option == NBD_OPT_GO || h.option == NBD_OPT_EXPORT_NAME)
			*st = ST_REQUESTS;
	}
	return NBD_OPT_HDR_SIZE + (int)h.length;
}

/* One request and, for a WRITE, its data; -1 when the stream ends. */
static int request_parse(const uint8_t *p, size_t avail, uint16_t tflags, bool structured)
{
	static uint8_t out[NBD_REPLY_HDR_MAX];
	struct nbd_request r;
	int rc;

	if (nbd_request_decode(p, avail, &r))
		return -1;
	rc = nbd_request_check(&r, 64ull << 20, tflags, 1u << 20);
	nbd_reply_encode(out, &r, structured, rc, "refused");
	if (r.type != NBD_CMD_WRITE)
		return NBD_REQUEST_SIZE;
	if (r.length > avail - NBD_REQUEST_SIZE)
		return -1;
	return NBD_REQUEST_SIZE + (int)r.length;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum stage st;
	bool structured;
	uint16_t tflags;
	uint32_t flags;
	size_t pos = 2;
	int used;

	if (size < 2)
		return 0;
	st = (enum stage)((data[0] & 0x7f) % 3);
	tflags = (uint16_t)(NBD_FLAG_HAS_FLAGS | data[1]);
	structured = data[0] & 0x80;
	while (pos < size) {
		const uint8_t *p = data + pos;
		size_t avail = size - pos;

		switch (st) {
		case ST_FLAGS:
			used = nbd_client_flags_decode(p, avail, &flags) ? -1 :
									 NBD_CLIENT_FLAGS_SIZE;
			st = ST_OPTIONS;
			break;
		case ST_OPTIONS:
			used = option_parse(p, avail, &st);
			break;
		default:
			used = request_parse(p, avail, tflags, structured);
			break;
		}
		if (used < 0)
			break;
		pos += (size_t)used;
	}
	return 0;
}
