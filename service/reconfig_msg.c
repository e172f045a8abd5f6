/*
 * Bodies of the reconfiguration cycle's CPG messages.
 */
#include <errno.h>
#include <stdio.h>

#include "db_json.h"
#include "reconfig_msg.h"

int reconfig_msg_prepare_decode(struct json_object *body, struct db_update *u, char *err,
				size_t errlen)
{
	struct json_object *change;
	int rc;

	if (!json_object_object_get_ex(body, "change", &change)) {
		*u = (struct db_update){ 0 };
		snprintf(err, errlen, "PREPARE without a change");
		return -EINVAL;
	}
	rc = db_update_from_json(change, u, err, errlen);
	if (rc)
		return rc;
	/* Only a mapping change (the paths, the hold, a mirror's replicas)
	 * races with I/O; any other update is a plain
	 * one, and a cycle would apply what the database path refuses. */
	if (u->op != DB_OP_MAP && u->op != DB_OP_SUSPEND && u->op != DB_OP_REPLICA) {
		db_update_free(u);
		snprintf(err, errlen, "PREPARE of a change that is not a mapping change");
		return -EINVAL;
	}
	return 0;
}

int reconfig_msg_ack_decode(struct json_object *body, struct reconfig_msg_ack *ack)
{
	struct json_object *error, *drain;

	if (!json_object_object_get_ex(body, "error", &error) ||
	    !json_object_is_type(error, json_type_string) ||
	    !json_object_object_get_ex(body, "drain_us", &drain) ||
	    !json_object_is_type(drain, json_type_int))
		return -EBADMSG;
	/* The length, not the first byte, tells: a reason may start with NUL. */
	ack->refusal = json_object_get_string_len(error) ? json_object_get_string(error) : NULL;
	ack->drain_us = (uint64_t)json_object_get_int64(drain);
	return 0;
}

int reconfig_msg_cancel_decode(struct json_object *body, const char **reason)
{
	struct json_object *r;

	if (!json_object_object_get_ex(body, "reason", &r) ||
	    !json_object_is_type(r, json_type_string))
		return -EBADMSG;
	*reason = json_object_get_string(r);
	return 0;
}
