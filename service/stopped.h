/*
 * The disks this node does not serve to its own clients: `vdiskctl disk
 * stop` (and the ocf:vdisk:vdisk agent's stop) puts a disk here, `disk
 * start` takes it out. A stopped disk has no NBD export and no device file on
 * this node, new opens are refused, and its clients here get ESHUTDOWN from
 * their next request (vdmap.h's `stopped`). It stays in the cluster database
 * and its paths on this node go on serving the other nodes: stopping is a
 * local matter, unlike suspend or delete.
 *
 * The set is kept in state_dir/stopped, written atomically (persist.h)
 * before a change is published, so a vdiskd that restarts does not serve a
 * disk Pacemaker stopped (a disabled resource stays stopped). Entries are
 * disk ids: a disk deleted and created again under the same name is a new
 * disk, served until stopped.
 *
 * Threads: the control thread only.
 */
#ifndef VDISK_STOPPED_H
#define VDISK_STOPPED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define STOPPED_FILE "stopped"
#define STOPPED_MAX 4096

struct stopped;

/* Loads state_dir's file (absent: nothing stopped). changed(ctx) runs after
 * every change, to publish a new mapping snapshot. Returns 0 or -errno with
 * the reason in err. */
int stopped_create(struct stopped **out, const char *state_dir, void (*changed)(void *ctx),
		   void *ctx, char *err, size_t errlen);
void stopped_destroy(struct stopped *s);

bool stopped_has(const struct stopped *s, uint32_t disk_id);
/* Stops (stop true) or starts disk: 0, also when it already was, or -errno
 * when the file could not be written (nothing changed then). */
int stopped_set(struct stopped *s, const struct db_disk *disk, bool stop);
/* Forgets disks no longer in db (deleted), so the file does not grow. */
void stopped_prune(struct stopped *s, const struct db *db);

/*
 * The file's format, one line per stopped disk: "ID NAME\n" (the name for
 * the reader; the id counts). Pure: decodes buf[0..len) into e[0..max), *n
 * the count. Returns 0, or -EINVAL with the line and why in err.
 */
struct stopped_entry {
	uint32_t id;
	char name[VDISK_NAME_MAX + 1];
};

int stopped_decode(const char *buf, size_t len, struct stopped_entry *e, size_t max, size_t *n,
		   char *err, size_t errlen);

#endif
