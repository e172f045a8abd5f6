/*
 * Control request decoder.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl_msg.h"

static size_t request_size(int32_t type)
{
	switch (type) {
	case VDISK_CTL_STATUS:
	case VDISK_CTL_NODE_LIST:
	case VDISK_CTL_SCAN:
	case VDISK_CTL_LINK_STATUS:
	case VDISK_CTL_STATS:
		return sizeof(struct vdisk_ctl_req);
	case VDISK_CTL_PING:
		return sizeof(struct vdisk_ctl_ping_req);
	case VDISK_CTL_DISK_LIST:
	case VDISK_CTL_DISK_SHOW:
	case VDISK_CTL_DISK_DELETE:
	case VDISK_CTL_DISK_CHECK:
	case VDISK_CTL_SUSPEND:
	case VDISK_CTL_RESUME:
	case VDISK_CTL_DISK_STOP:
	case VDISK_CTL_DISK_START:
		return sizeof(struct vdisk_ctl_disk_req);
	case VDISK_CTL_MAP_SET:
	case VDISK_CTL_MAP_PROMOTE:
		return sizeof(struct vdisk_ctl_map_req);
	case VDISK_CTL_DISK_CREATE:
		return sizeof(struct vdisk_ctl_create_req);
	case VDISK_CTL_PERM_SET:
		return sizeof(struct vdisk_ctl_perm_req);
	default:
		return 0;
	}
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define TERMINATED(field) terminated((field), sizeof(field))

static bool strings_terminated(const union vdisk_ctl_request *r)
{
	switch (r->hdr.id) {
	case VDISK_CTL_DISK_LIST:
	case VDISK_CTL_DISK_SHOW:
	case VDISK_CTL_DISK_DELETE:
	case VDISK_CTL_DISK_CHECK:
	case VDISK_CTL_SUSPEND:
	case VDISK_CTL_RESUME:
	case VDISK_CTL_DISK_STOP:
	case VDISK_CTL_DISK_START:
		return TERMINATED(r->disk.name);
	case VDISK_CTL_MAP_SET:
	case VDISK_CTL_MAP_PROMOTE:
		return TERMINATED(r->map.name) && TERMINATED(r->map.node) &&
		       TERMINATED(r->map.primary.node) && TERMINATED(r->map.primary.device) &&
		       TERMINATED(r->map.secondary.node) && TERMINATED(r->map.secondary.device);
	case VDISK_CTL_DISK_CREATE:
		return TERMINATED(r->create.name) && TERMINATED(r->create.primary.node) &&
		       TERMINATED(r->create.primary.device) &&
		       TERMINATED(r->create.secondary.node) &&
		       TERMINATED(r->create.secondary.device) && TERMINATED(r->create.owner) &&
		       TERMINATED(r->create.group);
	case VDISK_CTL_PERM_SET:
		return TERMINATED(r->perm.name) && TERMINATED(r->perm.owner) &&
		       TERMINATED(r->perm.group);
	case VDISK_CTL_PING:
		return TERMINATED(r->ping.node);
	default:
		return true;
	}
}

int ctl_request_decode(const void *buf, size_t len, union vdisk_ctl_request *req, char *err,
		       size_t errlen)
{
	const uint32_t known = VDISK_CTL_F_OWNER | VDISK_CTL_F_GROUP | VDISK_CTL_F_MODE |
			       VDISK_CTL_F_SIZE;
	struct qb_ipc_request_header hdr;
	size_t want;

	memset(req, 0, sizeof(*req));
	if (len < sizeof(hdr)) {
		snprintf(err, errlen, "request of %zu bytes is shorter than its header", len);
		return -EINVAL;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	want = request_size(hdr.id);
	if (!want) {
		snprintf(err, errlen, "unknown request type %d", hdr.id);
		return -EOPNOTSUPP;
	}
	if (len != want || hdr.size < 0 || (size_t)hdr.size != want) {
		snprintf(err, errlen, "request type %d: %zu bytes received, header says %d, expected %zu",
			 hdr.id, len, hdr.size, want);
		return -EINVAL;
	}
	memcpy(req, buf, want);
	if (!strings_terminated(req)) {
		snprintf(err, errlen, "request type %d: a string is not terminated", hdr.id);
		return -EINVAL;
	}
	if ((hdr.id == VDISK_CTL_DISK_CREATE &&
	     (req->create.flags & ~(known | VDISK_CTL_F_FORCE | VDISK_CTL_F_MIRROR | VDISK_CTL_F_CLEAN))) ||
	    (hdr.id == VDISK_CTL_PERM_SET && (req->perm.flags & ~known)) ||
	    (hdr.id == VDISK_CTL_MAP_SET &&
	     (req->map.flags & ~(VDISK_CTL_F_NO_SECONDARY | VDISK_CTL_F_FORCE))) ||
	    (hdr.id == VDISK_CTL_MAP_PROMOTE && req->map.flags) ||
	    (hdr.id == VDISK_CTL_DISK_DELETE && (req->disk.flags & ~VDISK_CTL_F_FORCE)) ||
	    (hdr.id == VDISK_CTL_DISK_LIST && (req->disk.flags & ~VDISK_CTL_F_USERS)) ||
	    ((hdr.id == VDISK_CTL_DISK_SHOW || hdr.id == VDISK_CTL_DISK_CHECK ||
	      hdr.id == VDISK_CTL_SUSPEND || hdr.id == VDISK_CTL_RESUME ||
	      hdr.id == VDISK_CTL_DISK_STOP || hdr.id == VDISK_CTL_DISK_START) && req->disk.flags)) {
		snprintf(err, errlen, "request type %d: unknown flags", hdr.id);
		return -EINVAL;
	}
	if (hdr.id == VDISK_CTL_DISK_LIST && req->disk.name[0]) {
		snprintf(err, errlen, "disk list: a disk name where none belongs");
		return -EINVAL;
	}
	if (hdr.id == VDISK_CTL_MAP_SET && (req->map.flags & VDISK_CTL_F_NO_SECONDARY) &&
	    req->map.secondary.node[0]) {
		snprintf(err, errlen, "map set: a secondary path and 'none' at once");
		return -EINVAL;
	}
	if (hdr.id == VDISK_CTL_PING) {
		const struct vdisk_ctl_ping_req *p = &req->ping;

		if (p->size > VDISK_PING_SIZE_MAX || !p->count || p->count > VDISK_PING_COUNT_MAX ||
		    p->interval_ms > VDISK_PING_INTERVAL_MAX || !p->window ||
		    p->window > VDISK_PING_WINDOW_MAX) {
			snprintf(err, errlen,
				 "ping: size 0..%u, count 1..%u, interval 0..%u ms, window 1..%u",
				 VDISK_PING_SIZE_MAX, VDISK_PING_COUNT_MAX,
				 VDISK_PING_INTERVAL_MAX, VDISK_PING_WINDOW_MAX);
			return -EINVAL;
		}
		if (p->flags & ~VDISK_PING_F_ONEWAY) {
			snprintf(err, errlen, "ping: unknown flags 0x%x", p->flags);
			return -EINVAL;
		}
	}
	return 0;
}
