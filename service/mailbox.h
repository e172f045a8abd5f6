/*
 * Mailbox: runs a function on another thread's qb_loop. The control plane and
 * the data plane never share mutable state; they hand each other work through
 * one mailbox each way. The posted argument's ownership passes to the
 * function, which runs on the receiving loop.
 */
#ifndef VDISK_MAILBOX_H
#define VDISK_MAILBOX_H

#include <qb/qbloop.h>

#include "dloop.h"

typedef void (*mailbox_fn)(void *arg);

struct mailbox;

/* Creates a mailbox delivered on the control plane's qb_loop, or on the
 * data plane's loop (polls an eventfd there). */
int mailbox_create(struct mailbox **out, qb_loop_t *loop);
int mailbox_create_dloop(struct mailbox **out, struct dloop *loop);
/* Must be called on the receiving loop's thread, or after it stopped. Runs
 * nothing that is still queued: the functions' arguments are passed to drop. */
void mailbox_destroy(struct mailbox *mb, mailbox_fn drop);

/* On the receiving thread: runs what is queued now, without waiting for
 * its loop (which may not run again). */
void mailbox_drain(struct mailbox *mb);

/* Any thread. 0 or -ENOMEM. */
int mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg);

#endif
