/*
 * JSON encoding and strict decoding of database rows, states and updates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_json.h"

static void add_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

static void add_int(struct json_object *o, const char *key, int64_t val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

static struct json_object *path_to_json(const struct db_path *p)
{
	struct json_object *o;

	if (p->nodeid == 0)
		return NULL;
	o = json_object_new_object();
	add_int(o, "node", p->nodeid);
	add_str(o, "device", p->device);
	return o;
}

/* 64-bit values that are names, not numbers, go as 16 hex digits: JSON
 * integers stop at 2^63. */
static void add_hex64(struct json_object *o, const char *key, uint64_t val)
{
	char hex[17];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)val);
	add_str(o, key, hex);
}

static struct json_object *mirror_to_json(const struct db_disk *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *states = json_object_new_array();

	json_object_array_add(states, json_object_new_string(db_replica_state_name(d->state[0])));
	json_object_array_add(states, json_object_new_string(db_replica_state_name(d->state[1])));
	json_object_object_add(o, "states", states);
	add_hex64(o, "datagen", d->datagen);
	return o;
}

struct json_object *db_disk_to_json(const struct db_disk *d)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "name", d->name);
	add_int(o, "id", d->id);
	add_int(o, "size", (int64_t)d->size);
	json_object_object_add(o, "primary", path_to_json(&d->primary));
	json_object_object_add(o, "secondary", path_to_json(&d->secondary));
	add_int(o, "uid", d->uid);
	add_int(o, "gid", d->gid);
	add_int(o, "mode", d->mode);
	add_int(o, "mtime", d->mtime);
	json_object_object_add(o, "suspended", json_object_new_boolean(d->suspended));
	if (d->mirror)
		json_object_object_add(o, "mirror", mirror_to_json(d));
	return o;
}

static struct json_object *inventory_to_json(const struct db_inventory *inv)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	size_t i;

	add_int(o, "node", inv->nodeid);
	for (i = 0; i < inv->count; i++) {
		const struct device_info *dev = &inv->devices[i];
		struct json_object *d = json_object_new_object();

		add_str(d, "path", dev->path);
		add_int(d, "size", (int64_t)dev->size);
		add_str(d, "uuid", dev->uuid);
		add_str(d, "label", dev->label);
		add_str(d, "partuuid", dev->partuuid);
		add_str(d, "type", dev->type);
		json_object_array_add(arr, d);
	}
	json_object_object_add(o, "devices", arr);
	return o;
}

struct json_object *db_to_json(const struct db *db)
{
	struct json_object *o = json_object_new_object();
	struct json_object *disks = json_object_new_array();
	struct json_object *inv = json_object_new_array();
	size_t i;

	add_int(o, "generation", (int64_t)db->generation);
	add_int(o, "next_id", db->next_id);
	for (i = 0; i < db->ndisks; i++)
		json_object_array_add(disks, db_disk_to_json(&db->disks[i]));
	for (i = 0; i < db->ninv; i++)
		json_object_array_add(inv, inventory_to_json(&db->inv[i]));
	json_object_object_add(o, "disks", disks);
	json_object_object_add(o, "inventory", inv);
	return o;
}

static const char *const op_names[] = {
	[DB_OP_CREATE] = "create",
	[DB_OP_DELETE] = "delete",
	[DB_OP_PERM] = "perm",
	[DB_OP_INVENTORY] = "inventory",
	[DB_OP_MAP] = "map",
	[DB_OP_SUSPEND] = "suspend",
	[DB_OP_REPLICA] = "replica",
};

const char *db_update_op_name(enum db_op op)
{
	return op_names[op];
}

struct json_object *db_update_to_json(const struct db_update *u)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "op", op_names[u->op]);
	add_int(o, "flags", u->flags);
	if (u->op == DB_OP_REPLICA)
		add_hex64(o, "expect", u->expect);
	if (u->op == DB_OP_INVENTORY) {
		json_object_object_add(o, "inventory", inventory_to_json(&u->inv));
	} else if (u->op == DB_OP_DELETE) {
		struct json_object *d = json_object_new_object();

		add_str(d, "name", u->disk.name);
		json_object_object_add(o, "disk", d);
	} else {
		json_object_object_add(o, "disk", db_disk_to_json(&u->disk));
	}
	return o;
}

/* Decoding: every field is required and type-checked. */

static int get_field(struct json_object *o, const char *key, enum json_type type,
		     struct json_object **val, char *err, size_t errlen)
{
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "'%s': enclosing value is not an object", key);
		return -EINVAL;
	}
	if (!json_object_object_get_ex(o, key, val) || !json_object_is_type(*val, type)) {
		snprintf(err, errlen, "'%s' is missing or not a %s", key, json_type_to_name(type));
		return -EINVAL;
	}
	return 0;
}

static int get_uint(struct json_object *o, const char *key, uint64_t max, uint64_t *out,
		    char *err, size_t errlen)
{
	struct json_object *v;
	int64_t n;
	int rc = get_field(o, key, json_type_int, &v, err, errlen);

	if (rc)
		return rc;
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > max) {
		snprintf(err, errlen, "'%s' is out of range", key);
		return -EINVAL;
	}
	*out = (uint64_t)n;
	return 0;
}

static int get_u32(struct json_object *o, const char *key, uint32_t *out, char *err,
		   size_t errlen)
{
	uint64_t v;
	int rc = get_uint(o, key, UINT32_MAX, &v, err, errlen);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

/* Absent means false: states saved before the field existed still load. */
static int get_optional_bool(struct json_object *o, const char *key, bool *out, char *err,
			     size_t errlen)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, NULL))
		return 0;
	if (get_field(o, key, json_type_boolean, &v, err, errlen))
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_str(struct json_object *o, const char *key, char *buf, size_t size, char *err,
		   size_t errlen)
{
	struct json_object *v;
	int rc = get_field(o, key, json_type_string, &v, err, errlen);
	int len;

	if (rc)
		return rc;
	len = json_object_get_string_len(v);
	if ((size_t)len >= size || memchr(json_object_get_string(v), 0, (size_t)len)) {
		snprintf(err, errlen, "'%s' is too long or holds a NUL byte", key);
		return -EINVAL;
	}
	memcpy(buf, json_object_get_string(v), (size_t)len + 1);
	return 0;
}

static int path_from_json(struct json_object *o, const char *key, struct db_path *p, char *err,
			  size_t errlen)
{
	struct json_object *v;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!json_object_object_get_ex(o, key, &v)) {
		snprintf(err, errlen, "'%s' is missing", key);
		return -EINVAL;
	}
	if (!v)
		return 0;
	rc = get_u32(v, "node", &p->nodeid, err, errlen);
	if (rc)
		return rc;
	if (p->nodeid == 0) {
		snprintf(err, errlen, "'%s': node 0 is not a node", key);
		return -EINVAL;
	}
	return get_str(v, "device", p->device, sizeof(p->device), err, errlen);
}

static int get_hex64(struct json_object *o, const char *key, uint64_t *out, char *err,
		     size_t errlen)
{
	char hex[17], *end;
	int rc = get_str(o, key, hex, sizeof(hex), err, errlen);

	if (rc)
		return rc;
	errno = 0;
	*out = strtoull(hex, &end, 16);
	if (strlen(hex) != 16 || *end || errno) {
		snprintf(err, errlen, "'%s' is not 16 hex digits", key);
		return -EINVAL;
	}
	return 0;
}

/* Absent for a disk that is no mirror. */
static int mirror_from_json(struct json_object *o, struct db_disk *d, char *err, size_t errlen)
{
	struct json_object *m, *states;
	size_t i;
	int rc;

	if (!json_object_object_get_ex(o, "mirror", NULL))
		return 0;
	if ((rc = get_field(o, "mirror", json_type_object, &m, err, errlen)) ||
	    (rc = get_field(m, "states", json_type_array, &states, err, errlen)) ||
	    (rc = get_hex64(m, "datagen", &d->datagen, err, errlen)))
		return rc;
	if (json_object_array_length(states) != 2) {
		snprintf(err, errlen, "'states' must name two replicas");
		return -EINVAL;
	}
	for (i = 0; i < 2; i++) {
		struct json_object *v = json_object_array_get_idx(states, i);

		if (!json_object_is_type(v, json_type_string) ||
		    db_replica_state_parse(json_object_get_string(v), &d->state[i])) {
			snprintf(err, errlen, "'states': replica %zu has no known state", i);
			return -EINVAL;
		}
	}
	d->mirror = true;
	return 0;
}

static int disk_from_json(struct json_object *o, struct db_disk *d, char *err, size_t errlen)
{
	uint64_t mtime;
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = get_str(o, "name", d->name, sizeof(d->name), err, errlen)) ||
	    (rc = get_u32(o, "id", &d->id, err, errlen)) ||
	    (rc = get_uint(o, "size", INT64_MAX, &d->size, err, errlen)) ||
	    (rc = path_from_json(o, "primary", &d->primary, err, errlen)) ||
	    (rc = path_from_json(o, "secondary", &d->secondary, err, errlen)) ||
	    (rc = get_u32(o, "uid", &d->uid, err, errlen)) ||
	    (rc = get_u32(o, "gid", &d->gid, err, errlen)) ||
	    (rc = get_u32(o, "mode", &d->mode, err, errlen)) ||
	    (rc = get_uint(o, "mtime", INT64_MAX, &mtime, err, errlen)) ||
	    (rc = get_optional_bool(o, "suspended", &d->suspended, err, errlen)) ||
	    (rc = mirror_from_json(o, d, err, errlen)))
		return rc;
	d->mtime = (int64_t)mtime;
	return 0;
}

static int device_from_json(struct json_object *o, struct device_info *dev, char *err,
			    size_t errlen)
{
	int rc;

	if ((rc = get_str(o, "path", dev->path, sizeof(dev->path), err, errlen)) ||
	    (rc = get_uint(o, "size", INT64_MAX, &dev->size, err, errlen)) ||
	    (rc = get_str(o, "uuid", dev->uuid, sizeof(dev->uuid), err, errlen)) ||
	    (rc = get_str(o, "label", dev->label, sizeof(dev->label), err, errlen)) ||
	    (rc = get_str(o, "partuuid", dev->partuuid, sizeof(dev->partuuid), err, errlen)) ||
	    (rc = get_str(o, "type", dev->type, sizeof(dev->type), err, errlen)))
		return rc;
	return 0;
}

static int inventory_from_json(struct json_object *o, struct db_inventory *inv, char *err,
			       size_t errlen)
{
	struct json_object *arr;
	size_t i, n;
	int rc;

	memset(inv, 0, sizeof(*inv));
	if ((rc = get_u32(o, "node", &inv->nodeid, err, errlen)) ||
	    (rc = get_field(o, "devices", json_type_array, &arr, err, errlen)))
		return rc;
	n = json_object_array_length(arr);
	if (n > DB_INVENTORY_MAX) {
		snprintf(err, errlen, "inventory of node %u lists too many devices", inv->nodeid);
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	inv->devices = calloc(n, sizeof(*inv->devices));
	if (!inv->devices) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rc = device_from_json(json_object_array_get_idx(arr, i), &inv->devices[i], err,
				      errlen);
		if (rc)
			goto out_free;
	}
	inv->count = n;
	return 0;

out_free:
	free(inv->devices);
	inv->devices = NULL;
	return rc;
}

int db_update_from_json(struct json_object *o, struct db_update *u, char *err, size_t errlen)
{
	struct json_object *sub;
	char op[16];
	int rc;

	memset(u, 0, sizeof(*u));
	if ((rc = get_str(o, "op", op, sizeof(op), err, errlen)) ||
	    (rc = get_u32(o, "flags", &u->flags, err, errlen)))
		return rc;
	for (u->op = DB_OP_CREATE; u->op <= DB_OP_REPLICA; u->op++)
		if (strcmp(op, op_names[u->op]) == 0)
			break;
	switch (u->op) {
	case DB_OP_INVENTORY:
		rc = get_field(o, "inventory", json_type_object, &sub, err, errlen);
		return rc ? rc : inventory_from_json(sub, &u->inv, err, errlen);
	case DB_OP_DELETE:
		rc = get_field(o, "disk", json_type_object, &sub, err, errlen);
		return rc ? rc : get_str(sub, "name", u->disk.name, sizeof(u->disk.name), err, errlen);
	case DB_OP_REPLICA:
		rc = get_hex64(o, "expect", &u->expect, err, errlen);
		if (rc)
			return rc;
		/* fall through */
	case DB_OP_CREATE:
	case DB_OP_PERM:
	case DB_OP_MAP:
	case DB_OP_SUSPEND:
		rc = get_field(o, "disk", json_type_object, &sub, err, errlen);
		return rc ? rc : disk_from_json(sub, &u->disk, err, errlen);
	default:
		snprintf(err, errlen, "unknown update operation '%s'", op);
		return -EINVAL;
	}
}

static int disks_from_json(struct json_object *arr, struct db *db, char *err, size_t errlen)
{
	size_t i, n = json_object_array_length(arr);
	int rc;

	if (n == 0)
		return 0;
	db->disks = calloc(n, sizeof(*db->disks));
	if (!db->disks) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct db_disk *d = &db->disks[i];

		rc = disk_from_json(json_object_array_get_idx(arr, i), d, err, errlen);
		if (rc)
			return rc;
		rc = db_disk_check(d, err, errlen);
		if (rc)
			return rc;
		/* Sorted and unique, or lookups by bsearch would go wrong. */
		if (i > 0 && strcmp(db->disks[i - 1].name, d->name) >= 0) {
			snprintf(err, errlen, "disk '%s' is out of order or listed twice", d->name);
			return -EINVAL;
		}
		if (d->id == 0 || d->id >= db->next_id) {
			snprintf(err, errlen, "disk '%s' has id %u outside 1..%u", d->name, d->id,
				 db->next_id - 1);
			return -EINVAL;
		}
		db->ndisks++;
	}
	return 0;
}

static int inventories_from_json(struct json_object *arr, struct db *db, char *err,
				 size_t errlen)
{
	size_t i, n = json_object_array_length(arr);
	int rc;

	if (n == 0)
		return 0;
	db->inv = calloc(n, sizeof(*db->inv));
	if (!db->inv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rc = inventory_from_json(json_object_array_get_idx(arr, i), &db->inv[i], err,
					 errlen);
		if (rc)
			return rc;
		db->ninv++;
		if (i > 0 && db->inv[i - 1].nodeid >= db->inv[i].nodeid) {
			snprintf(err, errlen, "inventory of node %u is out of order or listed twice",
				 db->inv[i].nodeid);
			return -EINVAL;
		}
	}
	return 0;
}

int db_from_json(struct json_object *o, struct db *db, char *err, size_t errlen)
{
	struct json_object *disks, *inv;
	int rc;

	db_init(db);
	if ((rc = get_uint(o, "generation", INT64_MAX, &db->generation, err, errlen)) ||
	    (rc = get_u32(o, "next_id", &db->next_id, err, errlen)) ||
	    (rc = get_field(o, "disks", json_type_array, &disks, err, errlen)) ||
	    (rc = get_field(o, "inventory", json_type_array, &inv, err, errlen)))
		goto out_free;
	if (db->next_id == 0) {
		snprintf(err, errlen, "'next_id' must be positive");
		rc = -EINVAL;
		goto out_free;
	}
	rc = disks_from_json(disks, db, err, errlen);
	if (rc)
		goto out_free;
	rc = inventories_from_json(inv, db, err, errlen);
	if (rc)
		goto out_free;
	return 0;

out_free:
	db_free(db);
	return rc;
}
