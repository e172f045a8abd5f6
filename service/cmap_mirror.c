/*
 * Writes the database into CMAP.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <corosync/corotypes.h>

#include "cmap_mirror.h"
#include "membership.h"

struct mirror_key {
	char name[CMAP_KEYNAME_MAXLEN + 1];
	cmap_value_types_t type;
	uint64_t num;
	const char *str;
};

struct mirror {
	struct mirror_key *keys;
	size_t n, cap;
	int rc;
};

static struct mirror_key *key_add(struct mirror *mr, cmap_value_types_t type, const char *fmt,
				  ...)
{
	struct mirror_key *k;
	va_list ap;

	if (mr->n == mr->cap) {
		size_t cap = mr->cap ? mr->cap * 2 : 64;
		struct mirror_key *keys = realloc(mr->keys, cap * sizeof(*keys));

		if (!keys) {
			mr->rc = -ENOMEM;
			return NULL;
		}
		mr->keys = keys;
		mr->cap = cap;
	}
	k = &mr->keys[mr->n++];
	memset(k, 0, sizeof(*k));
	k->type = type;
	va_start(ap, fmt);
	vsnprintf(k->name, sizeof(k->name), fmt, ap);
	va_end(ap);
	return k;
}

#define KEY_NUM(mr, type, val, ...)                                                                \
	do {                                                                                       \
		struct mirror_key *_k = key_add(mr, type, __VA_ARGS__);                            \
		if (_k)                                                                            \
			_k->num = (val);                                                           \
	} while (0)

#define KEY_STR(mr, val, ...)                                                                      \
	do {                                                                                       \
		struct mirror_key *_k = key_add(mr, CMAP_VALUETYPE_STRING, __VA_ARGS__);           \
		if (_k)                                                                            \
			_k->str = (val);                                                           \
	} while (0)

/* A mirror's paths are replicas, with a state each. */
static void path_keys(struct mirror *mr, const struct db_disk *d, const char *which,
		      const struct db_path *p, uint8_t state)
{
	if (p->nodeid == 0)
		return;
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, p->nodeid, CMAP_MIRROR_PREFIX "disk.%s.%s.node",
		d->name, which);
	KEY_STR(mr, p->device, CMAP_MIRROR_PREFIX "disk.%s.%s.device", d->name, which);
	if (d->mirror)
		KEY_STR(mr, db_replica_state_name(state), CMAP_MIRROR_PREFIX "disk.%s.%s.state",
			d->name, which);
}

static void disk_keys(struct mirror *mr, const struct db_disk *d)
{
	const char *n = d->name;

	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, d->id, CMAP_MIRROR_PREFIX "disk.%s.id", n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT64, d->size, CMAP_MIRROR_PREFIX "disk.%s.size", n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, d->uid, CMAP_MIRROR_PREFIX "disk.%s.uid", n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, d->gid, CMAP_MIRROR_PREFIX "disk.%s.gid", n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, d->mode, CMAP_MIRROR_PREFIX "disk.%s.mode", n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT64, (uint64_t)d->mtime, CMAP_MIRROR_PREFIX "disk.%s.mtime",
		n);
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, d->suspended, CMAP_MIRROR_PREFIX "disk.%s.suspended", n);
	if (d->mirror)
		KEY_NUM(mr, CMAP_VALUETYPE_UINT64, d->datagen, CMAP_MIRROR_PREFIX "disk.%s.datagen",
			n);
	path_keys(mr, d, "primary", &d->primary, d->state[0]);
	path_keys(mr, d, "secondary", &d->secondary, d->state[1]);
}

static void inventory_keys(struct mirror *mr, const struct db_inventory *inv)
{
	size_t j;

	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, inv->count, CMAP_MIRROR_PREFIX "node.%" PRIu32 ".devices",
		inv->nodeid);
	for (j = 0; j < inv->count; j++) {
		const struct device_info *dev = &inv->devices[j];
		const char *pfx = CMAP_MIRROR_PREFIX "node.%" PRIu32 ".device.%zu.%s";
		const struct {
			const char *key, *val;
		} tags[] = {
			{ "uuid", dev->uuid },
			{ "label", dev->label },
			{ "partuuid", dev->partuuid },
			{ "type", dev->type },
		};
		size_t t;

		KEY_STR(mr, dev->path, pfx, inv->nodeid, j, "path");
		KEY_NUM(mr, CMAP_VALUETYPE_UINT64, dev->size, pfx, inv->nodeid, j, "size");
		/* Every tag a device spec may name (UUID=, LABEL=, PARTUUID=). */
		for (t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
			if (tags[t].val[0])
				KEY_STR(mr, tags[t].val, pfx, inv->nodeid, j, tags[t].key);
	}
}

static void head_keys(struct mirror *mr, const struct db *db)
{
	KEY_NUM(mr, CMAP_VALUETYPE_UINT64, db->generation, CMAP_MIRROR_PREFIX "generation");
	KEY_NUM(mr, CMAP_VALUETYPE_UINT32, db->next_id, CMAP_MIRROR_PREFIX "next_id");
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mirror_key *)a)->name, ((const struct mirror_key *)b)->name);
}

/* mr->keys is sorted (keys_write): a lookup is a binary search, so a full
 * rewrite costs n log n, not n squared. */
static bool key_wanted(const struct mirror *mr, const char *name)
{
	struct mirror_key probe;

	if (!mr->n)
		return false;
	snprintf(probe.name, sizeof(probe.name), "%s", name);
	return bsearch(&probe, mr->keys, mr->n, sizeof(*mr->keys), key_cmp) != NULL;
}

/* Deletes the keys under prefix that the new state no longer has. */
static int stale_keys_delete(cmap_handle_t cmap, const char *prefix, const struct mirror *mr)
{
	char name[CMAP_KEYNAME_MAXLEN + 1];
	cmap_iter_handle_t iter;
	char (*stale)[CMAP_KEYNAME_MAXLEN + 1] = NULL;
	size_t i, n = 0;
	int rc;

	rc = membership_cs_errno(cmap_iter_init(cmap, prefix, &iter));
	if (rc)
		return rc;
	while (cmap_iter_next(cmap, iter, name, NULL, NULL) == CS_OK) {
		void *grown;

		if (key_wanted(mr, name))
			continue;
		grown = realloc(stale, (n + 1) * sizeof(*stale));
		if (!grown) {
			rc = -ENOMEM;
			break;
		}
		stale = grown;
		memcpy(stale[n++], name, sizeof(name));
	}
	cmap_iter_finalize(cmap, iter);
	/* Deleting while iterating would invalidate the iterator. */
	for (i = 0; i < n && rc == 0; i++) {
		rc = membership_cs_errno(cmap_delete(cmap, stale[i]));
		if (rc == -ENOENT)
			rc = 0;
	}
	free(stale);
	return rc;
}

/* Replaces what CMAP holds under prefix with the keys in mr. */
static int keys_write(cmap_handle_t cmap, const char *prefix, struct mirror *mr)
{
	size_t i;
	int rc = mr->rc;

	if (mr->n)
		qsort(mr->keys, mr->n, sizeof(*mr->keys), key_cmp);
	if (rc == 0)
		rc = stale_keys_delete(cmap, prefix, mr);
	for (i = 0; i < mr->n && rc == 0; i++) {
		const struct mirror_key *k = &mr->keys[i];
		cs_error_t cs;

		switch (k->type) {
		case CMAP_VALUETYPE_STRING:
			cs = cmap_set_string(cmap, k->name, k->str);
			break;
		case CMAP_VALUETYPE_UINT32:
			cs = cmap_set_uint32(cmap, k->name, (uint32_t)k->num);
			break;
		default:
			cs = cmap_set_uint64(cmap, k->name, k->num);
			break;
		}
		rc = membership_cs_errno(cs);
	}
	free(mr->keys);
	return rc;
}

int cmap_mirror_write(cmap_handle_t cmap, const struct db *db)
{
	struct mirror mr = { 0 };
	size_t i;

	head_keys(&mr, db);
	for (i = 0; i < db->ndisks; i++)
		disk_keys(&mr, &db->disks[i]);
	for (i = 0; i < db->ninv; i++)
		inventory_keys(&mr, &db->inv[i]);
	return keys_write(cmap, CMAP_MIRROR_PREFIX, &mr);
}

int cmap_mirror_update(cmap_handle_t cmap, const struct db *db, const struct db_update *u)
{
	struct mirror head = { 0 }, row = { 0 };
	char prefix[CMAP_KEYNAME_MAXLEN + 1];
	int rc;

	if (u->op == DB_OP_INVENTORY) {
		const struct db_inventory *inv = db_inventory_find(db, u->inv.nodeid);

		snprintf(prefix, sizeof(prefix), CMAP_MIRROR_PREFIX "node.%" PRIu32 ".",
			 u->inv.nodeid);
		if (inv)
			inventory_keys(&row, inv);
	} else {
		const struct db_disk *d = db_disk_find(db, u->disk.name);

		/* The trailing dot keeps vd1 from matching vd10. */
		snprintf(prefix, sizeof(prefix), CMAP_MIRROR_PREFIX "disk.%s.", u->disk.name);
		if (d)
			disk_keys(&row, d);
	}
	rc = keys_write(cmap, prefix, &row);
	head_keys(&head, db);
	/* The generation goes last: a reader that sees it sees the row. */
	return rc ? rc : keys_write(cmap, CMAP_MIRROR_PREFIX "generation", &head);
}
