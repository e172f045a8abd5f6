/*
 * The router's statistics: per disk (this node's clients' requests) and per
 * serving node, kept by the data thread as requests complete and published
 * for the control plane every so often (router.h, router_stats_get()).
 *
 * Threads: rstats_account(), rstats_node_error() and rstats_publish() on the
 * data thread only; rstats_get() on any thread (it copies the published
 * table under a mutex). The owner initialises and destroys it.
 */
#ifndef VDISK_ROUTER_STATS_H
#define VDISK_ROUTER_STATS_H

#include <pthread.h>
#include <stdint.h>

#include "router.h"
#include "transport.h"

struct rstats {
	struct router_stat *dstats; /* per disk id */
	size_t ndstats;
	struct router_stat nstats[TRANSPORT_MAX_PEERS + 1]; /* per serving node */
	size_t nnstats;
	pthread_mutex_t pub_lock;
	struct router_stats *pub;
};

void rstats_init(struct rstats *s);
void rstats_destroy(struct rstats *s);

/* req completed with status: it counts for its disk and for the node that
 * answered it last (the attempts that failed before count on their nodes). */
void rstats_account(struct rstats *s, const struct vd_request *req, int status);
/* An attempt on node failed. */
void rstats_node_error(struct rstats *s, uint32_t node);
/* disk_id's resync progress, published with the next statistics (path -1:
 * none runs). */
void rstats_resync(struct rstats *s, uint32_t disk_id, int8_t path, uint64_t copied,
		   uint64_t left, uint64_t ns);

/* Since when (monotonic ns) path (0 primary, 1 secondary) of disk_id is held
 * as failed, 0 when it is not. */
typedef uint64_t (*rstats_failed_fn)(void *ctx, uint32_t disk_id, uint8_t path);

/* Publishes the current counts, with each disk's held paths. */
void rstats_publish(struct rstats *s, rstats_failed_fn failed_since, void *ctx);
/* A copy of what was last published (caller frees); 0 or -ENOMEM. */
int rstats_get(struct rstats *s, struct router_stats **out);

#endif
