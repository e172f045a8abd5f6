/*
 * The paths the router holds as failed (pathfail.h).
 */
#include "pathfail.h"

const struct path_fail *pathfails_find(const struct pathfails *pf, uint32_t disk_id, uint8_t path,
				       uint64_t now)
{
	size_t i;

	for (i = 0; i < pf->n; i++)
		if (pf->f[i].disk_id == disk_id && pf->f[i].path == path && now < pf->f[i].until)
			return &pf->f[i];
	return NULL;
}

void pathfails_add(struct pathfails *pf, uint32_t disk_id, uint8_t path, uint64_t now,
		   uint64_t until)
{
	size_t i;

	for (i = 0; i < pf->n; i++) {
		if (pf->f[i].until <= now || (pf->f[i].disk_id == disk_id && pf->f[i].path == path)) {
			pf->f[i] = (struct path_fail){ disk_id, path, now, until };
			return;
		}
	}
	if (pf->n < PATHFAIL_MAX)
		pf->f[pf->n++] = (struct path_fail){ disk_id, path, now, until };
}

void pathfails_forget_returned(struct pathfails *pf, const struct vdmap *map,
			       const struct vdmap *old)
{
	const struct vdmap_disk *d;
	uint32_t node;
	size_t i;

	if (!old)
		return;
	for (i = 0; i < pf->n; i++) {
		d = vdmap_disk_by_id(map, pf->f[i].disk_id);
		if (!d)
			continue;
		node = d->paths[pf->f[i].path].nodeid;
		if (node && vdmap_is_member(map, node) && !vdmap_is_member(old, node))
			pf->f[i].until = 0;
	}
}
