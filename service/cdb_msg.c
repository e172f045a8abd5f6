/*
 * Bodies of the cluster database's CPG messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cdb_msg.h"
#include "db_json.h"

#include <vdisk/syntax.h>

static struct json_object *field(struct json_object *body, const char *key, json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(body, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

int cdb_msg_beat_decode(struct json_object *body, struct cdb_msg_beat *beat)
{
	struct json_object *v = field(body, "view", json_type_int);
	struct json_object *seen = field(body, "seen", json_type_array);
	struct json_object *e, *node, *sent;
	size_t i, n;

	if (!v || !seen)
		return -EBADMSG;
	n = json_object_array_length(seen);
	if (n > CDB_BEAT_SEEN_MAX)
		return -EBADMSG;
	beat->view = (uint64_t)json_object_get_int64(v);
	beat->nseen = n;
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(seen, i);
		if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 2)
			return -EBADMSG;
		node = json_object_array_get_idx(e, 0);
		sent = json_object_array_get_idx(e, 1);
		if (!json_object_is_type(node, json_type_int) ||
		    !json_object_is_type(sent, json_type_int))
			return -EBADMSG;
		beat->seen[i].node = (uint32_t)json_object_get_int64(node);
		beat->seen[i].sent = (uint64_t)json_object_get_int64(sent);
	}
	return 0;
}

int cdb_msg_offer_decode(struct json_object *body, struct cdb_msg_offer *offer)
{
	struct json_object *gen = field(body, "generation", json_type_int);
	struct json_object *cfg = field(body, "config", json_type_int);

	if (!gen || !cfg)
		return -EBADMSG;
	offer->generation = (uint64_t)json_object_get_int64(gen);
	offer->config = (uint64_t)json_object_get_int64(cfg);
	return 0;
}

int cdb_msg_state_decode(struct json_object *body, struct db *db, char *err, size_t errlen)
{
	struct json_object *dbj;

	memset(db, 0, sizeof(*db));
	if (!json_object_object_get_ex(body, "db", &dbj)) {
		snprintf(err, errlen, "no database");
		return -EBADMSG;
	}
	return db_from_json(dbj, db, err, errlen);
}

int cdb_msg_probe_decode(struct json_object *body, struct cdb_msg_probe *probe)
{
	struct json_object *dev = field(body, "device", json_type_string);
	struct json_object *slot = field(body, "slot", json_type_int);

	if (!dev || !slot)
		return -EBADMSG;
	probe->device = json_object_get_string(dev);
	probe->slot = json_object_get_int(slot);
	return 0;
}

int cdb_msg_probe_reply_decode(struct json_object *body, struct cdb_msg_probe_reply *reply)
{
	struct json_object *slot = field(body, "slot", json_type_int);
	struct json_object *error = field(body, "error", json_type_int);
	struct json_object *size = field(body, "size", json_type_int);
	struct json_object *claim;
	char why[128];
	int64_t n;

	if (!slot || !error || !size)
		return -EBADMSG;
	n = json_object_get_int64(slot);
	if (n < 0 || n > 1)
		return -EBADMSG;
	reply->slot = (unsigned int)n;
	/* The errno travels positive; anything that cannot be one still fails
	 * the probe rather than passing it. */
	n = json_object_get_int64(error);
	reply->error = (n > 0 && n < 4096) ? (int)-n : (n ? -EPROTO : 0);
	n = json_object_get_int64(size);
	reply->size = n > 0 ? (uint64_t)n : 0;
	reply->claim = NULL;
	if (json_object_object_get_ex(body, "claim", &claim)) {
		if (!json_object_is_type(claim, json_type_string) ||
		    vdisk_name_check(json_object_get_string(claim), why, sizeof(why)))
			return -EBADMSG;
		reply->claim = json_object_get_string(claim);
	}
	return 0;
}

int cdb_msg_inuse_decode(struct json_object *body, bool reply, struct cdb_msg_inuse *m)
{
	struct json_object *disk = field(body, "disk", json_type_string);
	struct json_object *users = reply ? field(body, "users", json_type_string) : NULL;
	char why[160];
	size_t i, len;

	if (!disk || (reply && !users) ||
	    vdisk_name_check(json_object_get_string(disk), why, sizeof(why)))
		return -EBADMSG;
	m->disk = json_object_get_string(disk);
	m->users = users ? json_object_get_string(users) : NULL;
	if (!m->users)
		return 0;
	len = strnlen(m->users, CDB_INUSE_USERS_MAX + 1);
	if (len > CDB_INUSE_USERS_MAX)
		return -EBADMSG;
	for (i = 0; i < len; i++)
		if ((unsigned char)m->users[i] < ' ' || m->users[i] == 0x7f)
			return -EBADMSG;
	return 0;
}
