/*
 * JSON forms of the cluster database, used in CPG messages and in the state
 * file. The decoders are pure functions of their input (fuzzed through the
 * CPG message fuzzer): anything malformed is refused with a reason, never
 * half-applied.
 *
 * disk:      {"name", "id", "size", "primary": path, "secondary": path|null,
 *             "uid", "gid", "mode", "mtime", "suspended" (optional),
 *             "mirror" (mirrored disks only): {"states": [primary's,
 *             secondary's] ("uptodate"|"outdated"|"syncing"|"failed"),
 *             "datagen": 16 hex digits}}
 * path:      {"node": nodeid, "device": spec}
 * inventory: {"node": nodeid, "devices": [{"path", "size", "uuid", "label",
 *             "partuuid", "type"}]}
 * database:  {"generation", "next_id", "disks": [disk], "inventory": [inventory]}
 * update:    {"op": "create"|"delete"|"perm"|"inventory"|"map"|"suspend"|
 *             "replica", "flags", "expect": 16 hex digits (replica),
 *             "disk": disk (all but delete) | {"name"} (delete),
 *             "inventory": inventory (inventory)}
 */
#ifndef VDISK_DB_JSON_H
#define VDISK_DB_JSON_H

#include <json-c/json.h>

#include "db.h"

/* Most devices one node may publish; more is refused as malformed. */
#define DB_INVENTORY_MAX 4096

struct json_object *db_disk_to_json(const struct db_disk *d);
struct json_object *db_to_json(const struct db *db);
struct json_object *db_update_to_json(const struct db_update *u);
/* The op's word above ("create", ...). */
const char *db_update_op_name(enum db_op op);

/* Each returns 0, or -EINVAL with a reason in err; on error nothing is left
 * allocated in the output. */
int db_from_json(struct json_object *o, struct db *db, char *err, size_t errlen);
int db_update_from_json(struct json_object *o, struct db_update *u, char *err, size_t errlen);

#endif
