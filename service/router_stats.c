/*
 * The router's statistics (router_stats.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "router_stats.h"

void rstats_init(struct rstats *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->pub_lock, NULL);
}

void rstats_destroy(struct rstats *s)
{
	free(s->dstats);
	free(s->pub);
	pthread_mutex_destroy(&s->pub_lock);
}

/* The row of id in rows[0..*n), added if missing: grown without bound when
 * cap is 0, else NULL once cap rows are there. */
static struct router_stat *stat_row(struct router_stat **rows, size_t *n, size_t cap,
				    uint32_t id)
{
	struct router_stat *grown;
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*rows)[i].id == id)
			return &(*rows)[i];
	if (cap && *n >= cap)
		return NULL;
	if (!cap) {
		grown = realloc(*rows, (*n + 1) * sizeof(**rows));
		if (!grown)
			return NULL;
		*rows = grown;
	}
	memset(&(*rows)[*n], 0, sizeof(**rows));
	(*rows)[*n].id = id;
	(*rows)[*n].resync_path = -1;
	return &(*rows)[(*n)++];
}

static struct router_stat *node_stat(struct rstats *s, uint32_t node)
{
	struct router_stat *rows = s->nstats;

	return stat_row(&rows, &s->nnstats, TRANSPORT_MAX_PEERS + 1, node);
}

void rstats_account(struct rstats *s, const struct vd_request *req, int status)
{
	uint64_t lat = now_ns() - req->start_ns;
	uint64_t bytes = (req->op == VD_READ || req->op == VD_WRITE) ? req->length : 0;
	struct router_stat *row;

	row = stat_row(&s->dstats, &s->ndstats, 0, req->disk_id);
	if (row)
		iostat_add(&row->s, bytes, lat, status != 0, req->tries, req->moves);
	row = req->target ? node_stat(s, req->target) : NULL;
	if (row)
		iostat_add(&row->s, bytes, lat, status != 0, req->tries, req->moves);
}

void rstats_resync(struct rstats *s, uint32_t disk_id, int8_t path, uint64_t copied,
		   uint64_t left, uint64_t ns)
{
	struct router_stat *row = stat_row(&s->dstats, &s->ndstats, 0, disk_id);

	if (!row)
		return;
	row->resync_path = path;
	row->resync_copied = copied;
	row->resync_left = left;
	row->resync_ns = ns;
}

void rstats_node_error(struct rstats *s, uint32_t node)
{
	struct router_stat *row = node_stat(s, node);

	if (row)
		row->s.errors++;
}

void rstats_publish(struct rstats *s, rstats_failed_fn failed_since, void *ctx)
{
	size_t i, n = s->ndstats + s->nnstats;
	struct router_stats *st = malloc(sizeof(*st) + n * sizeof(st->rows[0])), *old;

	if (!st)
		return;
	st->ndisks = s->ndstats;
	st->nnodes = s->nnstats;
	if (s->ndstats)
		memcpy(st->rows, s->dstats, s->ndstats * sizeof(st->rows[0]));
	for (i = 0; i < s->ndstats; i++) {
		st->rows[i].failed_since[0] = failed_since(ctx, st->rows[i].id, 0);
		st->rows[i].failed_since[1] = failed_since(ctx, st->rows[i].id, 1);
	}
	memcpy(st->rows + s->ndstats, s->nstats, s->nnstats * sizeof(st->rows[0]));
	pthread_mutex_lock(&s->pub_lock);
	old = s->pub;
	s->pub = st;
	pthread_mutex_unlock(&s->pub_lock);
	free(old);
}

int rstats_get(struct rstats *s, struct router_stats **out)
{
	size_t size;
	int rc = 0;

	pthread_mutex_lock(&s->pub_lock);
	size = sizeof(**out) + (s->pub ? (s->pub->ndisks + s->pub->nnodes) : 0) *
				       sizeof(s->pub->rows[0]);
	*out = calloc(1, size);
	if (!*out)
		rc = -ENOMEM;
	else if (s->pub)
		memcpy(*out, s->pub, size);
	pthread_mutex_unlock(&s->pub_lock);
	return rc;
}
