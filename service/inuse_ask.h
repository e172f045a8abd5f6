/*
 * Is a disk in use anywhere in the cluster? Asked before `disk delete`: the
 * asker multicasts INUSE_QUERY; every member that delivers it answers with
 * its own users of the disk (inuse.h) in an INUSE_REPLY to the asker; the
 * answer is complete once every member of the membership at the query's
 * delivery has answered or left. The answer is a moment's: a client that
 * opens the disk right after is not refused (the delete then ends its I/O,
 * as before).
 *
 * Ownership: created after the cdb, destroyed before it; it owns its
 * pending asks. Control loop only.
 */
#ifndef VDISK_INUSE_ASK_H
#define VDISK_INUSE_ASK_H

#include <stddef.h>
#include <stdint.h>

#include <qb/qbloop.h>

#include "cdb.h"
#include "inuse.h"

/* No answer from a member this long after the query: the ask fails. */
#define INUSE_ASK_TIMEOUT_MS 5000

struct inuse_ask;

/* rc 0: users is "" (in use nowhere) or who uses it, by node ("n1: 1 NBD
 * client (pid 4242, fio); n3: loop0 over the device file"); rc -errno: the
 * question could not be answered, users says why. Runs on the loop, once,
 * never from inside inuse_ask(). */
typedef void (*inuse_ask_fn)(void *ctx, int rc, const char *users);

int inuse_ask_create(struct inuse_ask **out, qb_loop_t *loop, struct cdb *c, struct inuse *local);
/* Pending asks end with -ECANCELED. */
void inuse_ask_destroy(struct inuse_ask *a);

/* 0, or -errno and done never runs. */
int inuse_ask(struct inuse_ask *a, const char *disk, inuse_ask_fn done, void *ctx);

#endif
