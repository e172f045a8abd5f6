/*
 * Transport input from the network: data frame headers, handshake messages
 * and heartbeats. The first byte picks the decoder so one target covers all
 * three.
 */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_hdr h;
	struct hs_msg hs;
	struct hb_msg hb;
	uint8_t again[FRAME_HDR_SIZE];

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		/* What decodes must encode back to the same bytes. */
		if (frame_hdr_decode(data + 1, size - 1, &h) == 0) {
			frame_hdr_encode(&h, again);
			for (size_t i = 0; i < FRAME_HDR_SIZE; i++)
				if (again[i] != data[1 + i])
					__builtin_trap();
		}
		break;
	case 1:
		hs_decode(data + 1, size - 1, &hs);
		break;
	default:
		hb_decode(data + 1, size - 1, &hb);
		break;
	}
	return 0;
}
