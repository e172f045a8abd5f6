/*
 * CPG messages from other members: framing, then the decoder of each body
 * type, as cdb.c and reconfig.c run them.
 */
#include <stddef.h>
#include <stdint.h>

#include "../cpg_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpg_msg msg;
	char err[256];

	if (cpg_msg_decode(data, size, &msg, err, sizeof(err)))
		return 0;
	cpg_body_decode(msg.type, msg.body, err, sizeof(err));
	cpg_msg_release(&msg);
	return 0;
}
