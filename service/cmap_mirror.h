/*
 * Mirror of the cluster database into the node-local CMAP under "vdisk.", so
 * `corosync-cmapctl -b vdisk.` shows what this node holds:
 *
 *   vdisk.generation, vdisk.next_id
 *   vdisk.disk.NAME.{id,size,uid,gid,mode,mtime,suspended}
 *   vdisk.disk.NAME.{primary,secondary}.{node,device}
 *   a mirror's: vdisk.disk.NAME.datagen, vdisk.disk.NAME.{primary,secondary}.state
 *   vdisk.node.NODEID.devices (count), vdisk.node.NODEID.device.I.{path,size,uuid,label}
 *
 * Keys of rows that no longer exist are deleted.
 */
#ifndef VDISK_CMAP_MIRROR_H
#define VDISK_CMAP_MIRROR_H

#include <corosync/cmap.h>

#include "db.h"

#define CMAP_MIRROR_PREFIX "vdisk."

/* The whole database (after a sync). 0 or -errno of the first CMAP call
 * that failed. */
int cmap_mirror_write(cmap_handle_t cmap, const struct db *db);
/* Only the row an applied update touched, and the generation: an update
 * costs the same whatever the number of disks. */
int cmap_mirror_update(cmap_handle_t cmap, const struct db *db, const struct db_update *u);

#endif
