/*
 * Cross-thread function calls over an eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <qb/qblist.h>

#include "mailbox.h"

struct mail {
	struct qb_list_head list;
	mailbox_fn fn;
	void *arg;
};

struct mailbox {
	qb_loop_t *loop; /* one of the two is set */
	struct dloop *dloop;
	int fd;
	pthread_mutex_t lock; /* protects queue */
	struct qb_list_head queue;
};

void mailbox_drain(struct mailbox *mb)
{
	struct qb_list_head batch;
	struct mail *m, *tmp;

	qb_list_init(&batch);
	pthread_mutex_lock(&mb->lock);
	qb_list_splice_tail(&mb->queue, &batch);
	qb_list_init(&mb->queue);
	pthread_mutex_unlock(&mb->lock);
	qb_list_for_each_entry_safe(m, tmp, &batch, list) {
		qb_list_del(&m->list);
		m->fn(m->arg);
		free(m);
	}
}

static int mailbox_dispatch(int32_t fd, int32_t revents, void *data)
{
	struct mailbox *mb = data;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return 0;
	mailbox_drain(mb);
	return 0;
}

static struct mailbox *mailbox_new(void)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));

	if (!mb)
		return NULL;
	qb_list_init(&mb->queue);
	pthread_mutex_init(&mb->lock, NULL);
	mb->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mb->fd < 0) {
		pthread_mutex_destroy(&mb->lock);
		free(mb);
		return NULL;
	}
	return mb;
}

static void mailbox_free(struct mailbox *mb)
{
	close(mb->fd);
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

int mailbox_create(struct mailbox **out, qb_loop_t *loop)
{
	struct mailbox *mb = mailbox_new();
	int rc;

	if (!mb)
		return -ENOMEM;
	mb->loop = loop;
	rc = qb_loop_poll_add(loop, QB_LOOP_HIGH, mb->fd, POLLIN, mb, mailbox_dispatch);
	if (rc) {
		mailbox_free(mb);
		return rc;
	}
	*out = mb;
	return 0;
}

int mailbox_create_dloop(struct mailbox **out, struct dloop *loop)
{
	struct mailbox *mb = mailbox_new();
	int rc;

	if (!mb)
		return -ENOMEM;
	mb->dloop = loop;
	rc = dloop_poll_add(loop, mb->fd, POLLIN, mb, mailbox_dispatch);
	if (rc) {
		mailbox_free(mb);
		return rc;
	}
	*out = mb;
	return 0;
}

void mailbox_destroy(struct mailbox *mb, mailbox_fn drop)
{
	struct mail *m, *tmp;

	if (!mb)
		return;
	if (mb->loop)
		qb_loop_poll_del(mb->loop, mb->fd);
	else
		dloop_poll_del(mb->dloop, mb->fd);
	qb_list_for_each_entry_safe(m, tmp, &mb->queue, list) {
		qb_list_del(&m->list);
		if (drop)
			drop(m->arg);
		free(m);
	}
	mailbox_free(mb);
}

int mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg)
{
	struct mail *m = malloc(sizeof(*m));
	uint64_t one = 1;

	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	pthread_mutex_lock(&mb->lock);
	qb_list_add_tail(&m->list, &mb->queue);
	pthread_mutex_unlock(&mb->lock);
	/* The counter cannot overflow in practice; a failed write only means
	 * the reader is already woken. */
	if (write(mb->fd, &one, sizeof(one)) < 0)
		return 0;
	return 0;
}
