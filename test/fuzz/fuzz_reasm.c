/*
 * Reassembly of fragmented messages (peer.h) against fragments from the
 * network: whatever the fragments say, every byte of a message is written
 * by exactly one accepted fragment, nothing lands outside it, and a message
 * is complete only when every byte was written.
 *
 * Input: msg_len (1 byte, + 1), then records of 4 bytes: the fragment's
 * index (seq - msg_seq), its offset and its length (1 byte each, scaled
 * down from the message length so that real layouts come up), and whether
 * to change one other header field.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[256], written[256] = { 0 }, payload[256];
	struct frame_hdr h = {
		.type = FRAME_DATA,
		.flags = FRAME_F_FRAG,
		.client = TCLIENT_ECHO,
		.src_node = 2,
		.reqid = 9,
		.msg_seq = 1000,
	};
	struct reasm r = { .buf = buf };
	size_t i, at;
	uint32_t len;

	if (size < 1)
		return 0;
	len = (uint32_t)data[0] + 1;
	h.msg_len = len;
	r.hdr = h;
	memset(payload, 0x5a, sizeof(payload));
	for (at = 1; at + 4 <= size; at += 4) {
		struct frame_hdr f = h;
		bool done;

		f.seq = h.msg_seq + data[at];
		f.frag_offset = data[at + 1] % (len + 1);
		f.payload_len = data[at + 2] % (len + 1);
		if (data[at + 3] & 1)
			f.reqid++;
		if (data[at + 3] & 2)
			f.msg_len++;
		if (reasm_check(&r, &f))
			continue;
		if ((uint64_t)f.frag_offset + f.payload_len > len)
			__builtin_trap();
		for (i = f.frag_offset; i < f.frag_offset + f.payload_len; i++) {
			if (written[i])
				__builtin_trap(); /* an overlap was let through */
			written[i] = 1;
		}
		done = reasm_add(&r, &f, payload);
		for (i = 0; done && i < len; i++)
			if (!written[i])
				__builtin_trap(); /* complete with a byte never written */
		if (done != (r.got == len))
			__builtin_trap();
		if (done)
			break;
	}
	return 0;
}
