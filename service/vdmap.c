/*
 * Mapping snapshots.
 */
#include <stdlib.h>
#include <string.h>

#include "vdmap.h"

struct vdmap *vdmap_build(const struct db *db, uint64_t config, uint32_t local_nodeid,
			  bool quorate, const uint32_t *members, size_t nmembers)
{
	struct vdmap *m = calloc(1, sizeof(*m) + db->ndisks * sizeof(m->disks[0]));
	size_t i;

	if (!m)
		return NULL;
	m->config = config;
	m->local_nodeid = local_nodeid;
	m->quorate = quorate;
	m->nmembers = nmembers < 64 ? nmembers : 64;
	memcpy(m->members, members, m->nmembers * sizeof(*members));
	m->ndisks = db->ndisks;
	for (i = 0; i < db->ndisks; i++) {
		const struct db_disk *d = &db->disks[i];
		struct vdmap_disk *v = &m->disks[i];

		memcpy(v->name, d->name, sizeof(v->name));
		v->id = d->id;
		v->size = d->size;
		v->uid = d->uid;
		v->gid = d->gid;
		v->mode = d->mode;
		v->mtime = d->mtime;
		v->paths[0] = d->primary;
		v->paths[1] = d->secondary;
		v->mirror = d->mirror;
		v->state[0] = d->state[0];
		v->state[1] = d->state[1];
		v->datagen = d->datagen;
		v->held = d->suspended;
	}
	return m;
}

static int disk_cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct vdmap_disk *)elem)->name);
}

const struct vdmap_disk *vdmap_disk_by_name(const struct vdmap *m, const char *name)
{
	if (!m || !m->ndisks)
		return NULL;
	return bsearch(name, m->disks, m->ndisks, sizeof(m->disks[0]), disk_cmp_name);
}

const struct vdmap_disk *vdmap_disk_by_id(const struct vdmap *m, uint32_t id)
{
	size_t i;

	for (i = 0; m && i < m->ndisks; i++)
		if (m->disks[i].id == id)
			return &m->disks[i];
	return NULL;
}

const struct vdmap_disk *vdmap_export_by_name(const struct vdmap *m, const char *name)
{
	const struct vdmap_disk *d = vdmap_disk_by_name(m, name);

	return d && !d->stopped ? d : NULL;
}

const struct vdmap_disk *vdmap_export_by_id(const struct vdmap *m, uint32_t id)
{
	const struct vdmap_disk *d = vdmap_disk_by_id(m, id);

	return d && !d->stopped ? d : NULL;
}

bool vdmap_is_member(const struct vdmap *m, uint32_t nodeid)
{
	size_t i;

	for (i = 0; m && i < m->nmembers; i++)
		if (m->members[i] == nodeid)
			return true;
	return false;
}

bool vdmap_disk_fenced(const struct vdmap *m, const struct vdmap_disk *d, uint64_t now)
{
	size_t i, p;

	for (i = 0; i < m->nfences; i++)
		for (p = 0; p < 2; p++)
			if (d->paths[p].nodeid == m->fences[i].nodeid && now < m->fences[i].until)
				return true;
	return false;
}
