/*
 * Cluster database rows and the deterministic apply function.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#include <vdisk/syntax.h>

void db_init(struct db *db)
{
	memset(db, 0, sizeof(*db));
	db->next_id = 1;
}

static void inventory_free(struct db_inventory *inv)
{
	free(inv->devices);
	inv->devices = NULL;
	inv->count = 0;
}

void db_free(struct db *db)
{
	size_t i;

	for (i = 0; i < db->ninv; i++)
		inventory_free(&db->inv[i]);
	free(db->inv);
	free(db->disks);
	db_init(db);
}

void db_move(struct db *dst, struct db *src)
{
	db_free(dst);
	*dst = *src;
	db_init(src);
}

void db_update_free(struct db_update *u)
{
	inventory_free(&u->inv);
}

static int disk_cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct db_disk *)elem)->name);
}

struct db_disk *db_disk_find(const struct db *db, const char *name)
{
	if (db->ndisks == 0)
		return NULL;
	return bsearch(name, db->disks, db->ndisks, sizeof(*db->disks), disk_cmp_name);
}

const struct db_disk *db_disk_find_id(const struct db *db, uint32_t id)
{
	size_t i;

	for (i = 0; i < db->ndisks; i++)
		if (db->disks[i].id == id)
			return &db->disks[i];
	return NULL;
}

const struct db_inventory *db_inventory_find(const struct db *db, uint32_t nodeid)
{
	size_t i;

	for (i = 0; i < db->ninv; i++)
		if (db->inv[i].nodeid == nodeid)
			return &db->inv[i];
	return NULL;
}

int db_mode_check(uint32_t mode, char *err, size_t errlen)
{
	if (mode > DB_MODE_MAX) {
		snprintf(err, errlen,
			 "invalid mode %o: only permission bits (0 to 0777); setuid, setgid and "
			 "sticky bits are not allowed on a virtual disk",
			 mode);
		return -EINVAL;
	}
	return 0;
}

static int path_check(const char *which, const struct db_path *p, char *err, size_t errlen)
{
	size_t len = strnlen(p->device, sizeof(p->device));

	if (p->nodeid == 0)
		return 0;
	if (len == 0 || len >= sizeof(p->device)) {
		snprintf(err, errlen, "invalid %s path: empty or over-long device", which);
		return -EINVAL;
	}
	return 0;
}

static const char *const replica_states[DB_REPLICA_STATES] = {
	[DB_REPLICA_UPTODATE] = "uptodate",
	[DB_REPLICA_OUTDATED] = "outdated",
	[DB_REPLICA_SYNCING] = "syncing",
	[DB_REPLICA_FAILED] = "failed",
};

const char *db_replica_state_name(uint8_t state)
{
	return state < DB_REPLICA_STATES ? replica_states[state] : NULL;
}

int db_replica_state_parse(const char *word, uint8_t *state)
{
	uint8_t i;

	for (i = 0; i < DB_REPLICA_STATES; i++) {
		if (strcmp(word, replica_states[i]) == 0) {
			*state = i;
			return 0;
		}
	}
	return -EINVAL;
}

bool db_replica_transition_ok(uint8_t from, uint8_t to)
{
	switch (to) {
	case DB_REPLICA_OUTDATED:
	case DB_REPLICA_FAILED:
		return true;
	case DB_REPLICA_SYNCING:
		return from == DB_REPLICA_OUTDATED || from == DB_REPLICA_SYNCING;
	case DB_REPLICA_UPTODATE:
		return from == DB_REPLICA_SYNCING || from == DB_REPLICA_UPTODATE;
	}
	return false;
}

/* A mirror's replicas are on two nodes (two replicas on one node protect
 * from nothing a mirror is for), and one of them at least has every write. */
static int mirror_check(const struct db_disk *disk, char *err, size_t errlen)
{
	if (!disk->mirror) {
		if (disk->state[0] || disk->state[1] || disk->datagen) {
			snprintf(err, errlen, "disk '%s': replica states on a disk that is no mirror",
				 disk->name);
			return -EINVAL;
		}
		return 0;
	}
	if (!disk->secondary.nodeid || disk->secondary.nodeid == disk->primary.nodeid) {
		snprintf(err, errlen,
			 "disk '%s': a mirror needs two replicas on two different nodes",
			 disk->name);
		return -EINVAL;
	}
	if (disk->state[0] >= DB_REPLICA_STATES || disk->state[1] >= DB_REPLICA_STATES) {
		snprintf(err, errlen, "disk '%s': unknown replica state", disk->name);
		return -EINVAL;
	}
	if (disk->state[0] != DB_REPLICA_UPTODATE && disk->state[1] != DB_REPLICA_UPTODATE) {
		snprintf(err, errlen, "disk '%s': no replica would be up to date", disk->name);
		return -EINVAL;
	}
	if (!disk->datagen) {
		snprintf(err, errlen, "disk '%s': a mirror needs a data generation", disk->name);
		return -EINVAL;
	}
	return 0;
}

int db_disk_check(const struct db_disk *disk, char *err, size_t errlen)
{
	int rc;

	rc = vdisk_name_check(disk->name, err, errlen);
	if (rc)
		return rc;
	rc = db_mode_check(disk->mode, err, errlen);
	if (rc)
		return rc;
	if (disk->size == 0 || disk->size % DB_SECTOR) {
		snprintf(err, errlen, "disk '%s': size %llu is not a positive multiple of %u",
			 disk->name, (unsigned long long)disk->size, DB_SECTOR);
		return -EINVAL;
	}
	if (disk->primary.nodeid == 0) {
		snprintf(err, errlen, "disk '%s': a primary path is required", disk->name);
		return -EINVAL;
	}
	rc = path_check("primary", &disk->primary, err, errlen);
	if (rc)
		return rc;
	rc = path_check("secondary", &disk->secondary, err, errlen);
	if (rc)
		return rc;
	if (disk->secondary.nodeid && disk->secondary.nodeid == disk->primary.nodeid &&
	    strcmp(disk->secondary.device, disk->primary.device) == 0) {
		snprintf(err, errlen, "disk '%s': the secondary path is the primary path",
			 disk->name);
		return -EINVAL;
	}
	return mirror_check(disk, err, errlen);
}

static int apply_create(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *disks;
	size_t pos;
	int rc;

	rc = db_disk_check(&u->disk, err, errlen);
	if (rc)
		return rc;
	if (db_disk_find(db, u->disk.name)) {
		snprintf(err, errlen, DB_DISK_EXISTS, u->disk.name);
		return -EEXIST;
	}
	if (db->ndisks >= DB_MAX_DISKS) {
		snprintf(err, errlen, "the cluster already has %u disks, the most it can hold",
			 DB_MAX_DISKS);
		return -ENOSPC;
	}
	if (db->next_id == UINT32_MAX) {
		snprintf(err, errlen, "no disk ids left");
		return -ENOSPC;
	}
	disks = realloc(db->disks, (db->ndisks + 1) * sizeof(*disks));
	if (!disks) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	db->disks = disks;
	for (pos = 0; pos < db->ndisks; pos++)
		if (strcmp(u->disk.name, disks[pos].name) < 0)
			break;
	memmove(&disks[pos + 1], &disks[pos], (db->ndisks - pos) * sizeof(*disks));
	disks[pos] = u->disk;
	disks[pos].id = db->next_id++;
	db->ndisks++;
	return 0;
}

static struct db_disk *disk_lookup(struct db *db, const char *name, char *err, size_t errlen)
{
	struct db_disk *d = db_disk_find(db, name);

	if (!d)
		snprintf(err, errlen, DB_NO_SUCH_DISK, name);
	return d;
}

static int apply_delete(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *d = disk_lookup(db, u->disk.name, err, errlen);
	size_t pos;

	if (!d)
		return -ENOENT;
	pos = (size_t)(d - db->disks);
	memmove(d, d + 1, (db->ndisks - pos - 1) * sizeof(*d));
	db->ndisks--;
	return 0;
}

static int apply_perm(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *d = disk_lookup(db, u->disk.name, err, errlen);
	int rc;

	if (!d)
		return -ENOENT;
	if (!(u->flags & (DB_PERM_UID | DB_PERM_GID | DB_PERM_MODE))) {
		snprintf(err, errlen, "disk '%s': nothing to change", u->disk.name);
		return -EINVAL;
	}
	if (u->flags & DB_PERM_MODE) {
		rc = db_mode_check(u->disk.mode, err, errlen);
		if (rc)
			return rc;
		d->mode = u->disk.mode;
	}
	if (u->flags & DB_PERM_UID)
		d->uid = u->disk.uid;
	if (u->flags & DB_PERM_GID)
		d->gid = u->disk.gid;
	d->mtime = u->disk.mtime;
	return 0;
}

static bool path_equal(const struct db_path *a, const struct db_path *b)
{
	return a->nodeid == b->nodeid && strcmp(a->device, b->device) == 0;
}

/* A mirror's mapping may only reorder its replicas (the writer moves, its
 * state with it), and only onto one that has every write: a replica that
 * missed some would serve them as they were before. */
static int mirror_remap(const struct db_disk *d, struct db_disk *next, char *err, size_t errlen)
{
	if (path_equal(&next->primary, &d->secondary) && path_equal(&next->secondary, &d->primary)) {
		next->state[0] = d->state[1];
		next->state[1] = d->state[0];
	} else if (!path_equal(&next->primary, &d->primary) ||
		   !path_equal(&next->secondary, &d->secondary)) {
		snprintf(err, errlen,
			 "disk '%s' is a mirror: its replicas can be promoted, not replaced",
			 d->name);
		return -EOPNOTSUPP;
	}
	if (next->state[0] != DB_REPLICA_UPTODATE) {
		snprintf(err, errlen,
			 "disk '%s': the replica on node %u is %s (the disk's data generation "
			 "is %016llx): it resyncs before it can be the writer",
			 d->name, next->primary.nodeid, db_replica_state_name(next->state[0]),
			 (unsigned long long)d->datagen);
		return -EBUSY;
	}
	return 0;
}

/* A promotion that also gives the replicas new states (u->mirror: the
 * writer that left is outdated in the same change). */
static int mirror_restate(struct db_disk *next, const struct db_disk *u, char *err,
			  size_t errlen)
{
	int i;

	if (!u->mirror)
		return 0;
	for (i = 0; i < 2; i++) {
		if (!db_replica_transition_ok(next->state[i], u->state[i])) {
			snprintf(err, errlen, "disk '%s': a replica cannot go from %s to %s",
				 next->name, db_replica_state_name(next->state[i]),
				 db_replica_state_name(u->state[i]) ? db_replica_state_name(u->state[i]) :
								      "?");
			return -EINVAL;
		}
		next->state[i] = u->state[i];
	}
	next->datagen = u->datagen;
	return 0;
}

/* The writer, or a resync, changes the replicas' states. */
static int apply_replica(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *d = disk_lookup(db, u->disk.name, err, errlen);
	struct db_disk next;
	int rc, i;

	if (!d)
		return -ENOENT;
	if (!d->mirror) {
		snprintf(err, errlen, "disk '%s' is not a mirror", d->name);
		return -EINVAL;
	}
	if (d->datagen != u->expect) {
		snprintf(err, errlen,
			 "disk '%s': data generation %016llx, not %016llx: the replicas changed "
			 "meanwhile",
			 d->name, (unsigned long long)d->datagen, (unsigned long long)u->expect);
		return -ESTALE;
	}
	for (i = 0; i < 2; i++) {
		if (!db_replica_transition_ok(d->state[i], u->disk.state[i])) {
			snprintf(err, errlen,
				 "disk '%s': the replica on node %u cannot go from %s to %s",
				 d->name, i ? d->secondary.nodeid : d->primary.nodeid,
				 db_replica_state_name(d->state[i]),
				 db_replica_state_name(u->disk.state[i]) ?
					 db_replica_state_name(u->disk.state[i]) : "?");
			return -EINVAL;
		}
	}
	next = *d;
	next.state[0] = u->disk.state[0];
	next.state[1] = u->disk.state[1];
	next.datagen = u->disk.datagen;
	rc = db_disk_check(&next, err, errlen);
	if (rc)
		return rc;
	*d = next;
	return 0;
}

static int apply_map(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *d = disk_lookup(db, u->disk.name, err, errlen);
	struct db_disk next;
	int rc;

	if (!d)
		return -ENOENT;
	next = *d;
	next.primary = u->disk.primary;
	next.secondary = u->disk.secondary;
	if (d->mirror) {
		rc = mirror_remap(d, &next, err, errlen);
		if (rc)
			return rc;
		rc = mirror_restate(&next, &u->disk, err, errlen);
		if (rc)
			return rc;
	}
	rc = db_disk_check(&next, err, errlen);
	if (rc)
		return rc;
	*d = next;
	d->mtime = u->disk.mtime;
	return 0;
}

static int apply_suspend(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_disk *d = disk_lookup(db, u->disk.name, err, errlen);

	if (!d)
		return -ENOENT;
	d->suspended = u->disk.suspended;
	return 0;
}

static int apply_inventory(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	struct db_inventory *slot = (struct db_inventory *)db_inventory_find(db, u->inv.nodeid);
	struct device_info *copy = NULL;
	size_t i;

	if (u->inv.nodeid == 0) {
		snprintf(err, errlen, "inventory without a node");
		return -EINVAL;
	}
	if (u->inv.count) {
		copy = calloc(u->inv.count, sizeof(*copy));
		if (!copy)
			goto out_nomem;
		memcpy(copy, u->inv.devices, u->inv.count * sizeof(*copy));
	}
	if (!slot) {
		struct db_inventory *inv = realloc(db->inv, (db->ninv + 1) * sizeof(*inv));

		if (!inv)
			goto out_free_copy;
		db->inv = inv;
		for (i = db->ninv; i > 0 && inv[i - 1].nodeid > u->inv.nodeid; i--)
			inv[i] = inv[i - 1];
		slot = &inv[i];
		db->ninv++;
	} else {
		free(slot->devices);
	}
	slot->nodeid = u->inv.nodeid;
	slot->count = u->inv.count;
	slot->devices = copy;
	return 0;

out_free_copy:
	free(copy);
out_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int db_apply(struct db *db, const struct db_update *u, char *err, size_t errlen)
{
	int rc;

	switch (u->op) {
	case DB_OP_CREATE:
		rc = apply_create(db, u, err, errlen);
		break;
	case DB_OP_DELETE:
		rc = apply_delete(db, u, err, errlen);
		break;
	case DB_OP_PERM:
		rc = apply_perm(db, u, err, errlen);
		break;
	case DB_OP_INVENTORY:
		rc = apply_inventory(db, u, err, errlen);
		break;
	case DB_OP_MAP:
		rc = apply_map(db, u, err, errlen);
		break;
	case DB_OP_SUSPEND:
		rc = apply_suspend(db, u, err, errlen);
		break;
	case DB_OP_REPLICA:
		rc = apply_replica(db, u, err, errlen);
		break;
	default:
		snprintf(err, errlen, "unknown update operation %d", (int)u->op);
		return -EINVAL;
	}
	if (rc == 0)
		db->generation++;
	return rc;
}

bool db_inventory_equal(const struct db_inventory *a, const struct db_inventory *b)
{
	size_t i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++) {
		const struct device_info *x = &a->devices[i], *y = &b->devices[i];

		if (x->size != y->size || strcmp(x->path, y->path) || strcmp(x->uuid, y->uuid) ||
		    strcmp(x->label, y->label) || strcmp(x->partuuid, y->partuuid) ||
		    strcmp(x->type, y->type))
			return false;
	}
	return true;
}
