/*
 * Hook processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <qb/qblist.h>
#include <qb/qblog.h>

#include "hook.h"

extern char **environ;

struct hook {
	struct qb_list_head list;
	qb_loop_t *loop;
	pid_t pid;
	int pidfd;
	hook_done_fn done; /* NULL once killed */
	void *ctx;
};

/* Every running hook, so a shutdown can let go of them. Control thread only. */
static QB_LIST_DECLARE(hooks);

static void hook_free(struct hook *h)
{
	qb_loop_poll_del(h->loop, h->pidfd);
	close(h->pidfd);
	qb_list_del(&h->list);
	free(h);
}

static int32_t hook_exited(int32_t fd, int32_t revents, void *data)
{
	struct hook *h = data;
	hook_done_fn done = h->done;
	void *ctx = h->ctx;
	int status = 0;

	if (waitpid(h->pid, &status, WNOHANG) == 0)
		return 0; /* spurious: still running */
	hook_free(h);
	if (done)
		done(ctx, status);
	return 0;
}

/* The environment: the daemon's, then env (which wins for duplicate names,
 * as getenv takes the first match: so env goes first). */
static char **env_build(char *const env[])
{
	size_t n = 0, m = 0, i;
	char **out;

	while (env && env[n])
		n++;
	while (environ[m])
		m++;
	out = calloc(n + m + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (i = 0; i < n; i++)
		out[i] = env[i];
	for (i = 0; i < m; i++)
		out[n + i] = environ[i];
	return out;
}

int hook_run(struct hook **out, qb_loop_t *loop, const char *path, char *const argv[],
	     char *const env[], hook_done_fn done, void *ctx)
{
	struct hook *h = calloc(1, sizeof(*h));
	char **envp = env_build(env);
	int rc;

	if (!h || !envp) {
		rc = -ENOMEM;
		goto out_free;
	}
	h->loop = loop;
	h->done = done;
	h->ctx = ctx;
	rc = posix_spawn(&h->pid, path, NULL, NULL, argv, envp);
	if (rc) {
		rc = -rc;
		goto out_free;
	}
	h->pidfd = pidfd_open(h->pid, 0);
	if (h->pidfd < 0) {
		rc = -errno;
		goto out_reap;
	}
	rc = qb_loop_poll_add(loop, QB_LOOP_MED, h->pidfd, POLLIN, h, hook_exited);
	if (rc) {
		close(h->pidfd);
		goto out_reap;
	}
	qb_list_add(&h->list, &hooks);
	free(envp);
	*out = h;
	return 0;

out_reap:
	/* Not watchable: it must not run unwatched, nor stay a zombie. */
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
out_free:
	free(envp);
	free(h);
	return rc;
}

void hook_kill(struct hook *h)
{
	h->done = NULL;
	pidfd_send_signal(h->pidfd, SIGKILL, NULL, 0);
}

void hook_forget_all(qb_loop_t *loop)
{
	struct hook *h, *tmp;

	qb_list_for_each_entry_safe(h, tmp, &hooks, list)
		if (h->loop == loop)
			hook_free(h);
}

const char *hook_status_str(int status, char *buf, size_t len)
{
	if (status < 0)
		snprintf(buf, len, "%s", strerror(-status));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status %#x", (unsigned int)status);
	return buf;
}
