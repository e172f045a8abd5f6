/*
 * The cluster database: virtual disk rows and each node's device inventory.
 *
 * Everything here is pure: no I/O, no corosync, no clock. Every member applies
 * the same updates in the same (CPG agreed) order through db_apply(), so the
 * result must depend on nothing but the database and the update. The
 * replication (cdb.c) and the JSON forms used on the wire and on disk
 * (db_json.c) are built on top.
 */
#ifndef VDISK_DB_H
#define VDISK_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdisk/ctl.h>

#include "device.h"

/* A node/device pair; nodeid 0 means "no path". The device is the spec as the
 * administrator gave it (a path, UUID=, LABEL=, PARTUUID=): it is resolved on
 * its own node each time it is opened, so a renamed /dev/sdX still works. */
struct db_path {
	uint32_t nodeid;
	char device[VDISK_DEVICE_MAX + 1];
};

/* One virtual disk. Owner and group are numeric, like on an NFS export: every
 * node shows the same ids, names are looked up locally for display. */
struct db_disk {
	char name[VDISK_NAME_MAX + 1];
	uint32_t id; /* unique, never reused; assigned by db_apply */
	uint64_t size; /* bytes, a multiple of 512 */
	struct db_path primary;
	struct db_path secondary;
	uint32_t uid;
	uint32_t gid;
	uint32_t mode; /* permission bits only, <= 0777 */
	int64_t mtime; /* seconds since the epoch, set by the update's originator */
	/* Held for maintenance (vdiskctl suspend): I/O queues until resumed. */
	bool suspended;
	/* A mirrored disk (docs/mirror.md): primary and secondary are two
	 * replicas, each on its own node's storage; the primary's node is the
	 * writer. state[] is each replica's (enum db_replica_state), in the
	 * order of primary and secondary; datagen, the data generation, is
	 * drawn anew whenever the set of up-to-date replicas shrinks. */
	bool mirror;
	uint8_t state[2];
	uint64_t datagen;
};

enum db_replica_state {
	DB_REPLICA_UPTODATE = 0, /* has every acknowledged write */
	DB_REPLICA_OUTDATED, /* missed writes: regions to copy before it serves */
	DB_REPLICA_SYNCING, /* being copied from an up-to-date replica */
	DB_REPLICA_FAILED, /* its device failed: no copy until it is checked */
	DB_REPLICA_STATES,
};

/* The state's word on the wire, in the database file and in `disk show`;
 * NULL for a value out of range. */
const char *db_replica_state_name(uint8_t state);
/* -EINVAL for a word that names no state. */
int db_replica_state_parse(const char *word, uint8_t *state);
/* Whether a replica may go from one state to another: out of the writes
 * (outdated, failed) from any, syncing only from outdated, up to date only
 * from syncing (a replica is never declared current without its copy). */
bool db_replica_transition_ok(uint8_t from, uint8_t to);

/* What libblkid found on one node, as that node published it. */
struct db_inventory {
	uint32_t nodeid;
	size_t count;
	struct device_info *devices;
};

/* The database. Disks are kept sorted by name, inventories by nodeid, so two
 * members with the same content serialize to the same bytes. */
struct db {
	uint64_t generation; /* +1 for every applied update */
	uint32_t next_id;
	size_t ndisks;
	struct db_disk *disks;
	size_t ninv;
	struct db_inventory *inv;
};

enum db_op {
	DB_OP_CREATE = 1, /* disk: the full row; id is assigned */
	DB_OP_DELETE, /* disk.name */
	DB_OP_PERM, /* disk.name, disk.uid/gid/mode per flags, disk.mtime */
	DB_OP_INVENTORY, /* inv replaces the node's inventory */
	/* The two below are applied only by a reconfiguration cycle's COMMIT
	 * (reconfig.h), never as plain updates: */
	DB_OP_MAP, /* disk.name, disk.primary and disk.secondary, disk.mtime */
	DB_OP_SUSPEND, /* disk.name, disk.suspended */
	/* disk.name, disk.state[] and disk.datagen of a mirrored disk, applied
	 * only while its data generation is still expect (db_update): a
	 * writer that reports a replica lost, and a resync that finished,
	 * never undo a change they did not see. */
	DB_OP_REPLICA,
};

#define DB_PERM_UID (1u << 0)
#define DB_PERM_GID (1u << 1)
#define DB_PERM_MODE (1u << 2)
/* DB_OP_MAP: a new path may be another disk's storage too (--force). */
#define DB_MAP_FORCE (1u << 3)

/* One update as it travels in a CPG message. The inventory's devices are
 * owned by the update (db_update_free). */
struct db_update {
	enum db_op op;
	uint32_t flags;
	struct db_disk disk;
	struct db_inventory inv;
	uint64_t expect; /* DB_OP_REPLICA: the data generation it applies to */
};

#define DB_SECTOR VDISK_SECTOR
/* Refusals about a disk's name (formats for the name), the same from every
 * request. */
#define DB_NO_SUCH_DISK "no such disk '%s' (vdiskctl disk list shows the disks)"
#define DB_DISK_EXISTS "disk '%s' already exists: choose another name, or delete it first"
/* rwx for owner, group and other: setuid, setgid and sticky mean nothing on
 * a device, and ndfs refuses them on chmod. */
#define DB_MODE_MAX 0777u

/* Every disk crosses the control socket in one `disk list` reply
 * (VDISK_CTL_MAX_MSG, 1 MiB) and the whole database one CPG message at
 * sync: 512 disks of the longest names and paths fit both with room. */
#define DB_MAX_DISKS 512u

void db_init(struct db *db);
void db_free(struct db *db);
/* Moves src into dst (freeing what dst held); src is left empty. */
void db_move(struct db *dst, struct db *src);
void db_update_free(struct db_update *u);

struct db_disk *db_disk_find(const struct db *db, const char *name);
const struct db_disk *db_disk_find_id(const struct db *db, uint32_t id);
const struct db_inventory *db_inventory_find(const struct db *db, uint32_t nodeid);

/* Validity checks shared by the control server and db_apply (the name's is
 * vdisk_name_check(), <vdisk/name.h>). Each returns 0 or -EINVAL and writes a
 * reason into err. */
int db_mode_check(uint32_t mode, char *err, size_t errlen);
int db_disk_check(const struct db_disk *disk, char *err, size_t errlen);

/*
 * Applies one update. On success the generation grows by one and 0 is
 * returned; on failure the database is unchanged, -errno is returned and err
 * holds a one-line reason that every member computes identically.
 */
int db_apply(struct db *db, const struct db_update *u, char *err, size_t errlen);

/* Inventories compare equal when they list the same devices in the same order. */
bool db_inventory_equal(const struct db_inventory *a, const struct db_inventory *b);

#endif
