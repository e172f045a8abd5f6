/*
 * The data-plane event loop: epoll, timers and deferred jobs for the one
 * data-plane thread.
 *
 * Why not a second qb_loop: libqb's timer source counts expired timers in a
 * variable shared by every qb_loop of the process (loop_timerlist.c), so two
 * threads each running one lose each other's timer wake-ups, and a 0 ms timer
 * of the control plane can fire seconds late. The control plane keeps
 * qb_loop (corosync and libqb IPC plug into it); the data plane runs this.
 *
 * Everything here is called on the loop's own thread, except dloop_create
 * and dloop_destroy (before and after it runs).
 */
#ifndef VDISK_DLOOP_H
#define VDISK_DLOOP_H

#include <poll.h>
#include <stdint.h>

/* Same shape as qb_loop's, so callbacks read alike on both loops. events
 * and revents use POLLIN, POLLOUT, POLLERR, POLLHUP. */
typedef int32_t (*dloop_poll_fn)(int32_t fd, int32_t revents, void *data);
typedef void (*dloop_fn)(void *data);
/* A timer; 0 is never a live timer, so a zeroed handle is safe to delete. */
typedef uint64_t dloop_timer_t;

struct dloop;

struct dloop *dloop_create(void);
void dloop_destroy(struct dloop *l);
/* Runs until dloop_stop() is called from inside. */
void dloop_run(struct dloop *l);
void dloop_stop(struct dloop *l);

int dloop_poll_add(struct dloop *l, int fd, int events, void *data, dloop_poll_fn fn);
int dloop_poll_mod(struct dloop *l, int fd, int events, void *data, dloop_poll_fn fn);
int dloop_poll_del(struct dloop *l, int fd);

/* One-shot: fn(data) after ns nanoseconds. A fired or deleted timer's
 * handle is stale; deleting it again returns -ENOENT and does nothing. */
int dloop_timer_add(struct dloop *l, uint64_t ns, void *data, dloop_fn fn, dloop_timer_t *handle);
int dloop_timer_del(struct dloop *l, dloop_timer_t handle);

/* fn(data) on the next turn of the loop, before it sleeps again. */
int dloop_job_add(struct dloop *l, void *data, dloop_fn fn);
/* Drops a queued job with this data and fn, also one of the batch running
 * now (it then does not run); -ENOENT if none. */
int dloop_job_del(struct dloop *l, void *data, dloop_fn fn);

#endif
