/*
 * CPG messages from other members: framing, then the body decoders the
 * cluster database runs on them.
 */
#include <stddef.h>
#include <stdint.h>

#include "cpg_msg.h"
#include "db_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpg_msg msg;
	struct db_update u;
	struct json_object *sub;
	struct db db;
	char err[256];

	if (cpg_msg_decode(data, size, &msg, err, sizeof(err)))
		return 0;
	if (msg.type == CPG_MSG_UPDATE && db_update_from_json(msg.body, &u, err, sizeof(err)) == 0)
		db_update_free(&u);
	if (msg.type == CPG_MSG_SYNC_STATE && json_object_object_get_ex(msg.body, "db", &sub) &&
	    db_from_json(sub, &db, err, sizeof(err)) == 0)
		db_free(&db);
	cpg_msg_release(&msg);
	return 0;
}
