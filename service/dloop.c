/*
 * Data-plane event loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <qb/qblist.h>

#include "clock.h"
#include "dloop.h"

#define EVENTS_PER_WAIT 64

struct dloop_fd {
	dloop_poll_fn fn;
	void *data;
	uint32_t gen; /* bumped on every add: a stale event is recognised */
	bool used;
};

struct dloop_timer {
	struct qb_list_head list; /* sorted by when */
	dloop_timer_t id;
	uint64_t when;
	dloop_fn fn;
	void *data;
};

struct dloop_job {
	struct qb_list_head list;
	dloop_fn fn;
	void *data;
};

struct dloop {
	int epfd;
	bool stop;
	struct dloop_fd *fds; /* by fd number */
	size_t nfds;
	struct qb_list_head timers;
	dloop_timer_t next_id;
	struct qb_list_head jobs;
	/* The jobs of the batch running now: a job may delete a later one of
	 * the same batch (say, both name a connection the first one closes). */
	struct qb_list_head batch;
};

static uint32_t to_epoll(int events)
{
	return ((events & POLLIN) ? EPOLLIN : 0) | ((events & POLLOUT) ? EPOLLOUT : 0);
}

static int32_t from_epoll(uint32_t ev)
{
	return ((ev & EPOLLIN) ? POLLIN : 0) | ((ev & EPOLLOUT) ? POLLOUT : 0) |
	       ((ev & EPOLLERR) ? POLLERR : 0) | ((ev & EPOLLHUP) ? POLLHUP : 0);
}

struct dloop *dloop_create(void)
{
	struct dloop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	qb_list_init(&l->timers);
	qb_list_init(&l->jobs);
	qb_list_init(&l->batch);
	return l;
}

void dloop_destroy(struct dloop *l)
{
	struct dloop_timer *t, *ttmp;
	struct dloop_job *j, *jtmp;

	if (!l)
		return;
	qb_list_for_each_entry_safe(t, ttmp, &l->timers, list)
		free(t);
	qb_list_for_each_entry_safe(j, jtmp, &l->jobs, list)
		free(j);
	close(l->epfd);
	free(l->fds);
	free(l);
}

void dloop_stop(struct dloop *l)
{
	l->stop = true;
}

static int fd_slot(struct dloop *l, int fd)
{
	struct dloop_fd *grown;
	size_t n;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd < l->nfds)
		return 0;
	n = (size_t)fd + 64;
	grown = realloc(l->fds, n * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memset(grown + l->nfds, 0, (n - l->nfds) * sizeof(*grown));
	l->fds = grown;
	l->nfds = n;
	return 0;
}

static int fd_ctl(struct dloop *l, int op, int fd, int events)
{
	struct epoll_event ev = {
		.events = to_epoll(events),
		.data.u64 = ((uint64_t)l->fds[fd].gen << 32) | (uint32_t)fd,
	};

	return epoll_ctl(l->epfd, op, fd, &ev) ? -errno : 0;
}

int dloop_poll_add(struct dloop *l, int fd, int events, void *data, dloop_poll_fn fn)
{
	int rc = fd_slot(l, fd);

	if (rc)
		return rc;
	if (l->fds[fd].used)
		return -EEXIST;
	l->fds[fd].gen++;
	rc = fd_ctl(l, EPOLL_CTL_ADD, fd, events);
	if (rc)
		return rc;
	l->fds[fd].fn = fn;
	l->fds[fd].data = data;
	l->fds[fd].used = true;
	return 0;
}

int dloop_poll_mod(struct dloop *l, int fd, int events, void *data, dloop_poll_fn fn)
{
	int rc;

	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	rc = fd_ctl(l, EPOLL_CTL_MOD, fd, events);
	if (rc)
		return rc;
	l->fds[fd].fn = fn;
	l->fds[fd].data = data;
	return 0;
}

int dloop_poll_del(struct dloop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	l->fds[fd].used = false;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	return 0;
}

int dloop_timer_add(struct dloop *l, uint64_t ns, void *data, dloop_fn fn, dloop_timer_t *handle)
{
	struct dloop_timer *t = malloc(sizeof(*t)), *pos;

	if (!t)
		return -ENOMEM;
	t->id = ++l->next_id;
	t->when = now_ns() + ns;
	t->fn = fn;
	t->data = data;
	/* Few timers live at once (ticks, ping sessions): a sorted list. */
	qb_list_for_each_entry(pos, &l->timers, list)
		if (pos->when > t->when)
			break;
	qb_list_add_tail(&t->list, &pos->list);
	if (handle)
		*handle = t->id;
	return 0;
}

int dloop_timer_del(struct dloop *l, dloop_timer_t handle)
{
	struct dloop_timer *t;

	qb_list_for_each_entry(t, &l->timers, list) {
		if (t->id == handle) {
			qb_list_del(&t->list);
			free(t);
			return 0;
		}
	}
	return -ENOENT;
}

int dloop_job_add(struct dloop *l, void *data, dloop_fn fn)
{
	struct dloop_job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->data = data;
	qb_list_add_tail(&j->list, &l->jobs);
	return 0;
}

static int job_remove(struct qb_list_head *jobs, void *data, dloop_fn fn)
{
	struct dloop_job *j;

	qb_list_for_each_entry(j, jobs, list) {
		if (j->fn == fn && j->data == data) {
			qb_list_del(&j->list);
			free(j);
			return 0;
		}
	}
	return -ENOENT;
}

int dloop_job_del(struct dloop *l, void *data, dloop_fn fn)
{
	return job_remove(&l->batch, data, fn) == 0 ? 0 : job_remove(&l->jobs, data, fn);
}

static int wait_ms(struct dloop *l)
{
	struct dloop_timer *t;
	uint64_t now;

	if (!qb_list_empty(&l->jobs))
		return 0;
	if (qb_list_empty(&l->timers))
		return -1;
	t = qb_list_first_entry(&l->timers, struct dloop_timer, list);
	now = now_ns();
	/* Rounded up: waking early would only spin. */
	return t->when <= now ? 0 : (int)((t->when - now + 999999) / 1000000);
}

static void timers_run(struct dloop *l)
{
	uint64_t now = now_ns();

	while (!qb_list_empty(&l->timers) && !l->stop) {
		struct dloop_timer *t = qb_list_first_entry(&l->timers, struct dloop_timer, list);
		dloop_fn fn = t->fn;
		void *data = t->data;

		if (t->when > now)
			break;
		qb_list_del(&t->list);
		free(t);
		fn(data);
	}
}

static void jobs_run(struct dloop *l)
{
	/* Jobs queued by these jobs run next turn, after I/O had its say. */
	qb_list_splice_tail(&l->jobs, &l->batch);
	qb_list_init(&l->jobs);
	while (!qb_list_empty(&l->batch) && !l->stop) {
		struct dloop_job *j = qb_list_first_entry(&l->batch, struct dloop_job, list);
		dloop_fn fn = j->fn;
		void *data = j->data;

		qb_list_del(&j->list);
		free(j);
		fn(data);
	}
	/* Stopped half way: the rest runs first when the loop runs again. */
	qb_list_splice(&l->batch, &l->jobs);
	qb_list_init(&l->batch);
}

void dloop_run(struct dloop *l)
{
	struct epoll_event ev[EVENTS_PER_WAIT];
	int i, n;

	l->stop = false;
	while (!l->stop) {
		n = epoll_wait(l->epfd, ev, EVENTS_PER_WAIT, wait_ms(l));
		for (i = 0; i < n && !l->stop; i++) {
			int fd = (int)(uint32_t)ev[i].data.u64;
			uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
			struct dloop_fd *e = &l->fds[fd];

			/* Removed, or closed and reused, earlier in this batch. */
			if (!e->used || e->gen != gen)
				continue;
			e->fn(fd, from_epoll(ev[i].events), e->data);
		}
		timers_run(l);
		jobs_run(l);
	}
}
