/*
 * Hooks: administrator programs vdiskd runs at points of a reconfiguration
 * cycle. A hook runs as a child process watched through a pidfd on the
 * control-plane loop, which never waits for it.
 *
 * Ownership: the caller owns a hook until its done() runs (the hook is freed
 * right after done() returns) or until it calls hook_kill(), after which the
 * hook frees itself once the child is reaped and done() is never called.
 */
#ifndef VDISK_HOOK_H
#define VDISK_HOOK_H

#include <qb/qbloop.h>

struct hook;

/* status: the child's wait status, or -errno if it could not be watched. */
typedef void (*hook_done_fn)(void *ctx, int status);

/*
 * Runs path with argv (argv[0] is path) and the daemon's environment plus
 * env (NULL-terminated "NAME=value" strings). 0 or -errno (nothing started).
 */
int hook_run(struct hook **out, qb_loop_t *loop, const char *path, char *const argv[],
	     char *const env[], hook_done_fn done, void *ctx);

/* SIGKILLs the child; done() will not be called. */
void hook_kill(struct hook *h);

/* At shutdown: stops watching every hook still running (they keep running,
 * and are not waited for), frees them. */
void hook_forget_all(qb_loop_t *loop);

/* Describes a wait status for a log line: "exit status 3", "killed by
 * signal 9 (Killed)". */
const char *hook_status_str(int status, char *buf, size_t len);

#endif
