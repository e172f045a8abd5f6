/*
 * Device probes on a worker thread; see prober.h for the ownership rules.
 *
 * A job is in exactly one of three places: the shared queue, the worker's
 * hands (shared->running), or the mailbox on its way back to the loop. The
 * loop also keeps every undelivered job on its own list, which only the loop
 * touches, so cancelling is a flag the loop reads at delivery. Once the
 * loop stops the prober, a job in the worker's hands is the worker's alone:
 * the loop answers its callback from a copy and the worker frees it.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qb/qblist.h>

#include <vdisk/ctl.h>

#include "mailbox.h"
#include "prober.h"

struct prober_job {
	struct qb_list_head queued; /* shared->queue, under shared->lock */
	struct qb_list_head live; /* prober->jobs, loop only */
	struct prober *p; /* read on the loop only */
	uint64_t ticket;
	enum { JOB_PROBE, JOB_SCAN, JOB_RESOLVE } kind;
	bool cancelled;
	char spec[VDISK_DEVICE_MAX + 1]; /* a device spec, or a host name */
	char (*others)[VDISK_DEVICE_MAX + 1]; /* JOB_PROBE: specs to compare with */
	size_t nothers;
	prober_done_fn done;
	void *ctx;
	struct prober_result res;
};

/* What the loop and the worker share. Freed by the last of the two. */
struct prober_shared {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct qb_list_head queue;
	struct prober_job *running;
	bool stopping;
	int refs;
	struct mailbox *mb; /* posted to only under lock, while !stopping */
};

struct prober {
	struct prober_shared *sh;
	pthread_t worker;
	struct qb_list_head jobs;
	size_t njobs;
	uint64_t next_ticket;
	bool stopping; /* callbacks run from prober_stop() may not ask again */
};

/* A device that hangs holds the worker; what queues behind it is bounded. */
#define PROBER_JOBS_MAX 64

static void job_free(void *arg)
{
	struct prober_job *j = arg;

	free(j->res.devices);
	free(j->others);
	free(j);
}

static void shared_put(struct prober_shared *sh)
{
	bool last;

	pthread_mutex_lock(&sh->lock);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->lock);
	if (!last)
		return;
	pthread_cond_destroy(&sh->wake);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* Loop: a job came back. */
static void job_deliver(void *arg)
{
	struct prober_job *j = arg;

	qb_list_del(&j->live);
	j->p->njobs--;
	if (!j->cancelled)
		j->done(j->ctx, &j->res);
	job_free(j);
}

static int resolve(const char *host, struct sockaddr_storage *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);

	if (rc)
		return rc == EAI_NONAME || rc == EAI_NODATA ? -ENOENT : rc == EAI_AGAIN ? -EAGAIN :
											  -EIO;
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* The first of j's others that names spec's storage, or -1. */
static int claim_find(const struct prober_job *j)
{
	struct device_id id, other;
	size_t i;

	/* The probe resolved the spec (afresh if it had to): its path. */
	if (!j->nothers || device_identify(j->res.path, &id))
		return -1;
	for (i = 0; i < j->nothers; i++)
		if (!device_identify(j->others[i], &other) && device_id_overlap(&id, &other))
			return (int)i;
	return -1;
}

static void job_run(struct prober_job *j)
{
	switch (j->kind) {
	case JOB_SCAN:
		j->res.error = device_scan(&j->res.devices, &j->res.ndevices);
		break;
	case JOB_RESOLVE:
		j->res.error = resolve(j->spec, &j->res.addr);
		break;
	default:
		j->res.error = device_probe(j->spec, j->res.path, sizeof(j->res.path),
					    &j->res.size);
		j->res.claim = j->res.error ? -1 : claim_find(j);
		break;
	}
}

static void *worker_main(void *arg)
{
	struct prober_shared *sh = arg;
	struct prober_job *j;

	pthread_mutex_lock(&sh->lock);
	for (;;) {
		while (!sh->stopping && qb_list_empty(&sh->queue))
			pthread_cond_wait(&sh->wake, &sh->lock);
		if (sh->stopping)
			break;
		j = qb_list_first_entry(&sh->queue, struct prober_job, queued);
		qb_list_del(&j->queued);
		sh->running = j;
		pthread_mutex_unlock(&sh->lock);

		job_run(j);

		pthread_mutex_lock(&sh->lock);
		sh->running = NULL;
		/* Out of memory, the answer waits for some: a job the loop
		 * knows of must come back to it. This thread may sleep. */
		while (!sh->stopping && mailbox_post(sh->mb, job_deliver, j)) {
			pthread_mutex_unlock(&sh->lock);
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
			pthread_mutex_lock(&sh->lock);
		}
		/* After stop the loop answered it already: nobody to tell. */
		if (sh->stopping)
			job_free(j);
	}
	pthread_mutex_unlock(&sh->lock);
	shared_put(sh);
	return NULL;
}

int prober_start(struct prober **out, qb_loop_t *loop)
{
	struct prober *p = calloc(1, sizeof(*p));
	struct prober_shared *sh = calloc(1, sizeof(*sh));
	sigset_t all, old;
	int rc;

	if (!p || !sh) {
		rc = -ENOMEM;
		goto out_free;
	}
	qb_list_init(&p->jobs);
	qb_list_init(&sh->queue);
	sh->refs = 2;
	p->sh = sh;
	rc = mailbox_create(&sh->mb, loop);
	if (rc)
		goto out_free;
	pthread_mutex_init(&sh->lock, NULL);
	pthread_cond_init(&sh->wake, NULL);
	/* Signals are the loop's to handle. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&p->worker, NULL, worker_main, sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto out_destroy;
	*out = p;
	return 0;

out_destroy:
	pthread_cond_destroy(&sh->wake);
	pthread_mutex_destroy(&sh->lock);
	mailbox_destroy(sh->mb, NULL);
out_free:
	free(sh);
	free(p);
	return rc;
}

void prober_stop(struct prober *p)
{
	struct prober_result cancelled = { .error = -ECANCELED, .claim = -1 };
	struct prober_shared *sh;
	struct prober_job *j, *tmp;
	QB_LIST_DECLARE(queued);
	prober_done_fn run_done = NULL;
	void *run_ctx = NULL;
	bool busy;

	if (!p)
		return;
	p->stopping = true;
	sh = p->sh;
	pthread_mutex_lock(&sh->lock);
	sh->stopping = true;
	busy = sh->running != NULL;
	if (busy) {
		/* From here on the worker frees it, maybe at once. */
		qb_list_del(&sh->running->live);
		if (!sh->running->cancelled) {
			run_done = sh->running->done;
			run_ctx = sh->running->ctx;
		}
	}
	qb_list_splice(&sh->queue, &queued);
	qb_list_init(&sh->queue);
	pthread_cond_signal(&sh->wake);
	pthread_mutex_unlock(&sh->lock);

	if (run_done)
		run_done(run_ctx, &cancelled);
	qb_list_for_each_entry_safe(j, tmp, &p->jobs, live) {
		qb_list_del(&j->live);
		if (!j->cancelled)
			j->done(j->ctx, &cancelled);
	}
	qb_list_for_each_entry_safe(j, tmp, &queued, queued)
		job_free(j);
	/* What the worker posted before it saw stopping. */
	mailbox_destroy(sh->mb, job_free);
	/* An idle worker exits at once; a busy one may be stuck in the kernel. */
	if (busy)
		pthread_detach(p->worker);
	else
		pthread_join(p->worker, NULL);
	shared_put(sh);
	free(p);
}

static int job_submit(struct prober *p, int kind, const char *spec,
		      const char (*others)[VDISK_DEVICE_MAX + 1], size_t nothers,
		      prober_done_fn done, void *ctx, uint64_t *ticket)
{
	struct prober_job *j;

	if (p->stopping)
		return -ESHUTDOWN;
	if (spec && strlen(spec) > VDISK_DEVICE_MAX)
		return -ENAMETOOLONG;
	if (p->njobs >= PROBER_JOBS_MAX)
		return -EBUSY;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	if (nothers) {
		j->others = calloc(nothers, sizeof(*others));
		if (!j->others) {
			free(j);
			return -ENOMEM;
		}
		memcpy(j->others, others, nothers * sizeof(*others));
		j->nothers = nothers;
	}
	j->res.claim = -1;
	j->ticket = ++p->next_ticket;
	j->kind = kind;
	if (spec)
		snprintf(j->spec, sizeof(j->spec), "%s", spec);
	j->done = done;
	j->ctx = ctx;
	j->p = p;
	qb_list_add_tail(&j->live, &p->jobs);
	p->njobs++;
	pthread_mutex_lock(&p->sh->lock);
	qb_list_add_tail(&j->queued, &p->sh->queue);
	pthread_cond_signal(&p->sh->wake);
	pthread_mutex_unlock(&p->sh->lock);
	*ticket = j->ticket;
	return 0;
}

int prober_probe(struct prober *p, const char *spec, prober_done_fn done, void *ctx,
		 uint64_t *ticket)
{
	return job_submit(p, JOB_PROBE, spec, NULL, 0, done, ctx, ticket);
}

int prober_probe_claims(struct prober *p, const char *spec,
			const char (*others)[VDISK_DEVICE_MAX + 1], size_t nothers,
			prober_done_fn done, void *ctx, uint64_t *ticket)
{
	return job_submit(p, JOB_PROBE, spec, others, nothers, done, ctx, ticket);
}

int prober_scan(struct prober *p, prober_done_fn done, void *ctx, uint64_t *ticket)
{
	return job_submit(p, JOB_SCAN, NULL, NULL, 0, done, ctx, ticket);
}

int prober_resolve(struct prober *p, const char *host, prober_done_fn done, void *ctx,
		   uint64_t *ticket)
{
	return job_submit(p, JOB_RESOLVE, host, NULL, 0, done, ctx, ticket);
}

void prober_cancel(struct prober *p, uint64_t ticket)
{
	struct prober_job *j;

	qb_list_for_each_entry(j, &p->jobs, live)
		if (j->ticket == ticket) {
			j->cancelled = true;
			return;
		}
}
