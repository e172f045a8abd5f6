/*
 * Transport input from the network: data frame headers, handshake messages
 * and heartbeats. The first byte picks the decoder so one target covers all
 * three.
 *
 * Whatever decodes must encode back to the same bytes: the MACs cover the
 * bytes as received (a handshake's hello, a heartbeat's head), so no byte
 * may mean something the decoded fields do not say, nor two encodings the
 * same message.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_bytes(const uint8_t *a, const uint8_t *b, size_t len)
{
	if (memcmp(a, b, len))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[FRAME_HDR_SIZE > HS_SIZE ? FRAME_HDR_SIZE : HS_SIZE];
	struct frame_hdr h;
	struct hs_msg hs;
	struct hb_msg hb;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (frame_hdr_decode(data + 1, size - 1, &h) == 0) {
			frame_hdr_encode(&h, again);
			same_bytes(again, data + 1, FRAME_HDR_SIZE);
		}
		break;
	case 1:
		if (hs_decode(data + 1, size - 1, &hs) == 0) {
			hs_encode(&hs, again);
			same_bytes(again, data + 1, HS_SIZE);
		}
		break;
	default:
		if (hb_decode(data + 1, size - 1, &hb) == 0) {
			hb_encode(&hb, again);
			same_bytes(again, data + 1, HB_SIZE);
		}
		break;
	}
	return 0;
}
