/*
 * Control requests from local clients.
 */
#include <stddef.h>
#include <stdint.h>

#include "ctl_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union vdisk_ctl_request req;
	char err[256];

	ctl_request_decode(data, size, &req, err, sizeof(err));
	return 0;
}
