/*
 * The JSON views of the control server's replies (ctl_view.c). Control loop
 * only: they read the database, the membership and the lease, which live
 * there, and the data plane's published statistics.
 */
#ifndef VDISK_CTL_VIEW_H
#define VDISK_CTL_VIEW_H

#include <stdint.h>

#include <json-c/json.h>

#include "ctl.h"
#include "db.h"
#include "membership.h"

/* A disk as the database has it, with node, owner and group names and
 * which path serves it now, and why. */
struct json_object *ctl_view_disk(const struct ctl_parts *p, const struct db_disk *d);
/* {"id", "name"} */
struct json_object *ctl_view_node(struct membership *m, uint32_t nodeid);
/* {"generation"}, to add to */
struct json_object *ctl_view_generation(const struct ctl_parts *p);

/* The read requests: status, node list, disk list. */
struct json_object *ctl_view_status(const struct ctl_parts *p);
struct json_object *ctl_view_nodes(const struct ctl_parts *p);
struct json_object *ctl_view_disks(const struct ctl_parts *p);
/* link status and stats: 0 with *out, or -errno. */
int ctl_view_links(const struct ctl_parts *p, struct json_object **out);
int ctl_view_stats(const struct ctl_parts *p, struct json_object **out);

#endif
