/*
 * The disks this node does not serve to its own clients (stopped.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include <vdisk/syntax.h>

#include "persist.h"
#include "stopped.h"

struct stopped {
	char dir[4096];
	void (*changed)(void *ctx);
	void *ctx;
	size_t n;
	/* The names as of the stop, for the file's reader. */
	struct stopped_entry e[STOPPED_MAX];
};

int stopped_decode(const char *buf, size_t len, struct stopped_entry *e, size_t max, size_t *n,
		   char *err, size_t errlen)
{
	size_t line = 0, pos = 0;

	*n = 0;
	while (pos < len) {
		const char *p = buf + pos, *nl = memchr(p, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - p) : len - pos;
		char why[128];
		uint64_t id = 0;
		size_t i = 0, k;

		line++;
		pos += l + 1;
		if (!nl) {
			snprintf(err, errlen, "line %zu: no newline at the end (a torn write?)", line);
			return -EINVAL;
		}
		while (i < l && p[i] >= '0' && p[i] <= '9' && id <= UINT32_MAX)
			id = id * 10 + (uint64_t)(p[i++] - '0');
		if (!i || !id || id > UINT32_MAX || i >= l || p[i] != ' ') {
			snprintf(err, errlen, "line %zu: want \"ID NAME\", ID a disk id of 1 to %" PRIu32,
				 line, UINT32_MAX);
			return -EINVAL;
		}
		i++;
		if (l - i > VDISK_NAME_MAX || memchr(p + i, '\0', l - i)) {
			snprintf(err, errlen, "line %zu: the name is not a disk name", line);
			return -EINVAL;
		}
		if (*n == max) {
			snprintf(err, errlen, "line %zu: more than %zu disks", line, max);
			return -EINVAL;
		}
		for (k = 0; k < *n; k++) {
			if (e[k].id == id) {
				snprintf(err, errlen, "line %zu: disk id %" PRIu64 " again", line, id);
				return -EINVAL;
			}
		}
		memcpy(e[*n].name, p + i, l - i);
		e[*n].name[l - i] = '\0';
		if (vdisk_name_check(e[*n].name, why, sizeof(why))) {
			snprintf(err, errlen, "line %zu: %s", line, why);
			return -EINVAL;
		}
		e[(*n)++].id = (uint32_t)id;
	}
	return 0;
}

static ssize_t index_of(const struct stopped *s, uint32_t id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->e[i].id == id)
			return (ssize_t)i;
	return -1;
}

/* Writes the set as it would be with entry i removed (i < 0: none) and
 * extra added (NULL: none). */
static int file_write(const struct stopped *s, ssize_t removed, const struct db_disk *extra)
{
	size_t cap = (s->n + 1) * (VDISK_NAME_MAX + 16), len = 0, i;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < s->n; i++)
		if ((ssize_t)i != removed)
			len += (size_t)snprintf(buf + len, cap - len, "%" PRIu32 " %s\n", s->e[i].id,
						s->e[i].name);
	if (extra)
		len += (size_t)snprintf(buf + len, cap - len, "%" PRIu32 " %s\n", extra->id,
					extra->name);
	rc = persist_write(s->dir, STOPPED_FILE, buf, len);
	free(buf);
	return rc;
}

int stopped_create(struct stopped **out, const char *state_dir, void (*changed)(void *ctx),
		   void *ctx, char *err, size_t errlen)
{
	struct stopped *s = calloc(1, sizeof(*s));
	char *buf = NULL, why[256];
	size_t len, i;
	int rc;

	if (!s)
		return -ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", state_dir);
	s->changed = changed;
	s->ctx = ctx;
	rc = persist_read(state_dir, STOPPED_FILE, &buf, &len);
	if (rc == -ENOENT) {
		*out = s;
		return 0;
	}
	if (rc) {
		snprintf(err, errlen, "%s/%s: %s", state_dir, STOPPED_FILE, strerror(-rc));
		goto fail;
	}
	rc = stopped_decode(buf, len, s->e, STOPPED_MAX, &s->n, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "%s/%s: %s (remove the file to serve every disk here)",
			 state_dir, STOPPED_FILE, why);
		goto fail;
	}
	for (i = 0; i < s->n; i++)
		qb_log(LOG_NOTICE, "'%s' (id %" PRIu32 ") stays stopped on this node (%s/%s)",
		       s->e[i].name, s->e[i].id, state_dir, STOPPED_FILE);
	free(buf);
	*out = s;
	return 0;
fail:
	free(buf);
	free(s);
	return rc;
}

void stopped_destroy(struct stopped *s)
{
	free(s);
}

bool stopped_has(const struct stopped *s, uint32_t disk_id)
{
	return index_of(s, disk_id) >= 0;
}

int stopped_set(struct stopped *s, const struct db_disk *disk, bool stop)
{
	ssize_t i = index_of(s, disk->id);
	int rc;

	if (stop == (i >= 0))
		return 0;
	if (stop && s->n == STOPPED_MAX)
		return -ENOSPC;
	rc = file_write(s, stop ? -1 : i, stop ? disk : NULL);
	if (rc)
		return rc;
	if (stop) {
		s->e[s->n].id = disk->id;
		memcpy(s->e[s->n++].name, disk->name, sizeof(s->e[0].name));
	} else {
		s->e[i] = s->e[--s->n];
	}
	qb_log(LOG_NOTICE, "'%s' is %s on this node", disk->name,
	       stop ? "stopped: no longer served to its clients here" : "served here again");
	s->changed(s->ctx);
	return 0;
}

void stopped_prune(struct stopped *s, const struct db *db)
{
	size_t i = 0;
	int rc;

	while (i < s->n) {
		if (db_disk_find_id(db, s->e[i].id)) {
			i++;
			continue;
		}
		rc = file_write(s, (ssize_t)i, NULL);
		if (rc) {
			/* Harmless: a deleted disk's id is never reused. */
			qb_log(LOG_WARNING, "%s/%s: cannot forget deleted disk %" PRIu32 ": %s",
			       s->dir, STOPPED_FILE, s->e[i].id, strerror(-rc));
			return;
		}
		s->e[i] = s->e[--s->n];
	}
}
