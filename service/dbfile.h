/*
 * The database's state file, state_dir/vdisk.db: the database in its JSON
 * form (db_json.h), written atomically (persist.h), so a whole-cluster
 * restart starts from what every node last applied.
 */
#ifndef VDISK_DBFILE_H
#define VDISK_DBFILE_H

#include <stddef.h>

#include "db.h"

#define DBFILE_NAME "vdisk.db"

/* Saves db in dir (created if missing). Returns 0 or -errno. */
int dbfile_save(const char *dir, const struct db *db);

/*
 * Loads dir's state file into db (initialised by the caller): 0, also when
 * there is no file yet (db stays empty), or -errno with the reason in err,
 * naming the file.
 */
int dbfile_load(const char *dir, struct db *db, char *err, size_t errlen);

#endif
