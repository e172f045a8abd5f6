/*
 * Which path serves a disk now, and why (disk_state.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "disk_state.h"

static const char *const role[] = { "primary", "secondary" };

static bool path_usable(const struct disk_state_path *p)
{
	return p->exists && p->member && !p->failed_ms;
}

/* Failed, but the router tries it again when it is the only one left. */
static bool path_runnable(const struct disk_state_path *p)
{
	return p->exists && p->member;
}

/* Why path i cannot serve, appended to buf ("" when it can). */
static void path_reason(const struct disk_state_path *p, int i, char *buf, size_t len)
{
	size_t used = strlen(buf);
	const char *sep = used ? "; " : "";

	buf += used;
	len -= used;
	if (!p->exists)
		snprintf(buf, len, "%sthere is no %s path", sep, role[i]);
	else if (p->fence_ms == DISK_STATE_FENCE_COMMAND)
		snprintf(buf, len, "%s%s (%s) left the membership: its paths wait until the fence "
			 "command says it is off", sep, p->node, role[i]);
	else if (p->fence_ms)
		snprintf(buf, len, "%s%s (%s) left the membership: its paths wait %" PRIu64
			 " ms more for its lease to run out", sep, p->node, role[i], p->fence_ms);
	else if (!p->member)
		snprintf(buf, len, "%s%s (%s) is not running vdiskd", sep, p->node, role[i]);
	else if (p->failed_ms)
		snprintf(buf, len, "%sthe %s path on %s failed %" PRIu64 ".%" PRIu64 " s ago", sep,
			 role[i], p->node, p->failed_ms / 1000, p->failed_ms % 1000 / 100);
}

static void serve(struct disk_state *out, enum disk_serving s, int path)
{
	out->serving = s;
	out->path = path;
}

void disk_state_judge(const struct disk_state_in *in, struct disk_state *out)
{
	const struct disk_state_path *p = in->path;
	int i;

	out->why[0] = '\0';
	if (!in->quorate) {
		serve(out, DISK_SERVED_HELD, -1);
		snprintf(out->why, sizeof(out->why), "no quorum: this node holds the disk's I/O "
			 "until it is part of a quorate partition");
		return;
	}
	if (!in->lease) {
		serve(out, DISK_SERVED_HELD, -1);
		snprintf(out->why, sizeof(out->why), "no lease: this node holds the disk's I/O "
			 "until a member echoes its beats again (vdiskctl status)");
		return;
	}
	if (in->suspended) {
		serve(out, DISK_SERVED_HELD, -1);
		snprintf(out->why, sizeof(out->why), "suspended: I/O waits for vdiskctl resume");
		return;
	}
	/* A fenced node might still write to the storage both paths share:
	 * the router holds the whole disk until the fence ends (lease.h). */
	for (i = 0; i < 2; i++)
		if (p[i].exists && p[i].fence_ms)
			path_reason(&p[i], i, out->why, sizeof(out->why));
	if (out->why[0]) {
		serve(out, DISK_SERVED_HELD, -1);
		return;
	}
	if (path_usable(&p[0])) {
		serve(out, DISK_SERVED_PRIMARY, 0);
		return;
	}
	path_reason(&p[0], 0, out->why, sizeof(out->why));
	if (in->mirror) {
		size_t used = strlen(out->why);

		serve(out, path_runnable(&p[0]) ? DISK_SERVED_PRIMARY : DISK_SERVED_HELD,
		      path_runnable(&p[0]) ? 0 : -1);
		snprintf(out->why + used, sizeof(out->why) - used,
			 ": writes wait for the writer, or for an up-to-date replica's "
			 "promotion (vdiskctl map promote)");
		return;
	}
	if (path_usable(&p[1])) {
		serve(out, DISK_SERVED_SECONDARY, 1);
		return;
	}
	path_reason(&p[1], 1, out->why, sizeof(out->why));
	/* No path works: a failed one is tried again, the primary first. */
	for (i = 0; i < 2; i++) {
		if (path_runnable(&p[i])) {
			serve(out, i ? DISK_SERVED_SECONDARY : DISK_SERVED_PRIMARY, i);
			return;
		}
	}
	serve(out, DISK_SERVED_NONE, -1);
}

const char *disk_serving_name(enum disk_serving s)
{
	static const char *const names[] = {
		[DISK_SERVED_PRIMARY] = "primary",
		[DISK_SERVED_SECONDARY] = "secondary",
		[DISK_SERVED_HELD] = "held",
		[DISK_SERVED_NONE] = "none",
	};

	return names[s];
}
