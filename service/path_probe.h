/*
 * Answers a member's check of a path on this node (path_probe.c). Control
 * loop only.
 */
#ifndef VDISK_PATH_PROBE_H
#define VDISK_PATH_PROBE_H

#include <stdint.h>

#include "cdb.h"
#include "cpg_msg.h"

/* Probes the device msg names and replies to from, later, from the loop; a
 * malformed probe is logged and dropped. */
void path_probe_answer(struct cdb *c, uint32_t from, const struct cpg_msg *msg);

#endif
