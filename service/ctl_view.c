/*
 * The JSON views of the control server's replies (vdiskctl(8) has each
 * shape): pure reads of the parts, built on the control loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "cdb.h"
#include "ctl_view.h"
#include "clock.h"
#include "db_json.h"
#include "disk_state.h"
#include "inuse.h"
#include "iostat.h"
#include "lease.h"
#include "router.h"
#include "stopped.h"
#include "transport.h"

static void id_name_add(struct json_object *o, const char *key, bool user, uint32_t id)
{
	char name[256];

	if (account_lookup(user, NULL, &id, name, sizeof(name)))
		name[0] = '\0';
	json_object_object_add(o, key, json_object_new_string(name));
}

static void path_names_add(const struct ctl_parts *p, struct json_object *disk, const char *key)
{
	struct json_object *path, *node;

	if (!json_object_object_get_ex(disk, key, &path) || !path ||
	    !json_object_object_get_ex(path, "node", &node))
		return;
	json_object_object_add(
		path, "node_name",
		json_object_new_string(membership_node_name(cdb_membership(p->cdb),
							    (uint32_t)json_object_get_int64(node))));
}

/* What this node knows of the disk's paths, for disk_state_judge(): the
 * membership, the lease's fences, the paths the router holds as failed
 * (st: its statistics, NULL when it has none). */
static void disk_state_in_fill(const struct ctl_parts *p, const struct db_disk *d,
			       const struct router_stats *st, uint64_t now,
			       struct disk_state_in *in)
{
	struct membership *m = cdb_membership(p->cdb);
	struct vdmap_fence fences[VDMAP_MAX_FENCES];
	size_t nfences = p->lease ? lease_fences(p->lease, now, fences) : 0;
	const struct router_stat *row = NULL;
	const struct db_path *paths[] = { &d->primary, &d->secondary };
	size_t i, k;

	for (i = 0; st && i < st->ndisks; i++)
		if (st->rows[i].id == d->id)
			row = &st->rows[i];
	*in = (struct disk_state_in){
		.quorate = membership_quorate(m),
		.lease = !p->lease || now < lease_until(p->lease),
		.suspended = d->suspended,
		.mirror = d->mirror,
	};
	for (i = 0; i < 2; i++) {
		struct disk_state_path *sp = &in->path[i];
		uint32_t node = paths[i]->nodeid;

		if (!node)
			continue;
		sp->exists = true;
		sp->node = membership_node_name(m, node);
		sp->member = membership_is_member(m, node);
		for (k = 0; k < nfences; k++)
			if (fences[k].nodeid == node)
				sp->fence_ms = fences[k].until == UINT64_MAX ?
						       DISK_STATE_FENCE_COMMAND :
						       (fences[k].until - now) / 1000000 + 1;
		if (row && row->failed_since[i])
			sp->failed_ms = (now - row->failed_since[i]) / 1000000 + 1;
	}
}

/* {"state", "path": "primary"|"secondary"|null, "node": node or null, "why"} */
static struct json_object *serving_view(const struct ctl_parts *p, const struct db_disk *d,
					const struct router_stats *st)
{
	struct json_object *o = json_object_new_object();
	const struct db_path *path;
	struct disk_state_in in;
	struct disk_state s;

	disk_state_in_fill(p, d, st, now_ns(), &in);
	disk_state_judge(&in, &s);
	path = s.path == 0 ? &d->primary : s.path == 1 ? &d->secondary : NULL;
	json_object_object_add(o, "state", json_object_new_string(disk_serving_name(s.serving)));
	json_object_object_add(o, "path", path ? json_object_new_string(s.path ? "secondary" :
										"primary") :
						 NULL);
	json_object_object_add(o, "node",
			       path ? ctl_view_node(cdb_membership(p->cdb), path->nodeid) : NULL);
	json_object_object_add(o, "why", json_object_new_string(s.why));
	return o;
}

/* A mirror this node writes and copies a replica of: "resync": {"path",
 * "copied", "left" (bytes), "percent", "rate_mib_s", "ms"}. Only the writer
 * knows; the other nodes show the replica's state alone. */
static void resync_view(struct json_object *o, const struct db_disk *d,
			const struct router_stats *st)
{
	const struct router_stat *row = NULL;
	struct json_object *rs;
	uint64_t total;
	size_t i;

	for (i = 0; st && i < st->ndisks; i++)
		if (st->rows[i].id == d->id)
			row = &st->rows[i];
	if (!row || row->resync_path < 0)
		return;
	total = row->resync_copied + row->resync_left;
	rs = json_object_new_object();
	json_object_object_add(rs, "path",
			       json_object_new_string(row->resync_path ? "secondary" : "primary"));
	json_object_object_add(rs, "copied", json_object_new_int64((int64_t)row->resync_copied));
	json_object_object_add(rs, "left", json_object_new_int64((int64_t)row->resync_left));
	json_object_object_add(rs, "percent",
			       json_object_new_int64(total ? (int64_t)(row->resync_copied * 100 /
								       total) :
							     100));
	json_object_object_add(rs, "rate_mib_s",
			       json_object_new_double(row->resync_ns ?
							      (double)row->resync_copied /
								      (1024.0 * 1024.0) /
								      ((double)row->resync_ns / 1e9) :
							      0.0));
	json_object_object_add(rs, "ms", json_object_new_int64((int64_t)(row->resync_ns / 1000000)));
	json_object_object_add(o, "resync", rs);
}

/* The wire form of a disk plus the names a reader wants, and which path
 * serves it now. */
static struct json_object *disk_view(const struct ctl_parts *p, const struct db_disk *d,
				     const struct router_stats *st)
{
	struct json_object *o = db_disk_to_json(d);

	path_names_add(p, o, "primary");
	path_names_add(p, o, "secondary");
	id_name_add(o, "owner", true, d->uid);
	id_name_add(o, "group", false, d->gid);
	json_object_object_add(o, "serving", serving_view(p, d, st));
	if (d->mirror)
		resync_view(o, d, st);
	if (p->inuse) {
		char users[1024];

		inuse_describe(p->inuse, d->name, users, sizeof(users));
		json_object_object_add(o, "open_here", json_object_new_string(users));
	}
	if (p->stopped)
		json_object_object_add(o, "stopped_here",
				       json_object_new_boolean(stopped_has(p->stopped, d->id)));
	return o;
}

struct json_object *ctl_view_disk(const struct ctl_parts *p, const struct db_disk *d)
{
	struct router_stats *st = NULL;
	struct json_object *o;

	if (p->router)
		router_stats_get(p->router, &st);
	o = disk_view(p, d, st);
	free(st);
	return o;
}

struct json_object *ctl_view_node(struct membership *m, uint32_t nodeid)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(nodeid));
	json_object_object_add(o, "name", json_object_new_string(membership_node_name(m, nodeid)));
	return o;
}

struct json_object *ctl_view_generation(const struct ctl_parts *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "generation",
			       json_object_new_int64((int64_t)cdb_db(p->cdb)->generation));
	return o;
}

/* Read requests */

/* {"serving", "lease_ms", "why"}: whether this node may issue I/O to its
 * storage now (its lease, lease.h), for how long, and why not. */
static struct json_object *io_view(const struct ctl_parts *p)
{
	struct json_object *o = json_object_new_object();
	uint64_t now = now_ns(), until = p->lease ? lease_until(p->lease) : 0;
	bool quorate = membership_quorate(cdb_membership(p->cdb));
	char why[160] = "";

	if (!quorate)
		snprintf(why, sizeof(why), "no quorum: this node is not part of a quorate partition");
	else if (!until)
		snprintf(why, sizeof(why), "no lease yet: no member has echoed this node's beats");
	else if (until <= now)
		snprintf(why, sizeof(why), "the lease ran out %" PRIu64 " ms ago: no member has "
			 "echoed this node's beats since", (now - until) / 1000000);
	json_object_object_add(o, "serving", json_object_new_boolean(!why[0]));
	json_object_object_add(o, "lease_ms",
			       json_object_new_int64(until > now ? (int64_t)((until - now) / 1000000) :
								   0));
	json_object_object_add(o, "why", json_object_new_string(why));
	return o;
}

struct json_object *ctl_view_status(const struct ctl_parts *p)
{
	struct membership *m = cdb_membership(p->cdb);
	struct json_object *o = ctl_view_generation(p), *arr = json_object_new_array();
	const uint32_t *members;
	size_t i, n = membership_members(m, &members);

	json_object_object_add(o, "node", ctl_view_node(m, membership_local_nodeid(m)));
	json_object_object_add(o, "quorate", json_object_new_boolean(membership_quorate(m)));
	json_object_object_add(o, "config", json_object_new_int64((int64_t)cdb_config(p->cdb)));
	json_object_object_add(o, "synced", json_object_new_boolean(cdb_synced(p->cdb)));
	for (i = 0; i < n; i++)
		json_object_array_add(arr, ctl_view_node(m, members[i]));
	json_object_object_add(o, "members", arr);
	json_object_object_add(o, "disks", json_object_new_int64((int64_t)cdb_db(p->cdb)->ndisks));
	json_object_object_add(o, "io", io_view(p));
	if (cdb_save_error(p->cdb))
		json_object_object_add(o, "save_error",
				       json_object_new_string(strerror(-cdb_save_error(p->cdb))));
	return o;
}

struct json_object *ctl_view_nodes(const struct ctl_parts *p)
{
	struct membership *m = cdb_membership(p->cdb);
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	const struct membership_node *nodes;
	size_t i, n = membership_nodes(m, &nodes);

	for (i = 0; i < n; i++) {
		const struct db_inventory *inv = db_inventory_find(cdb_db(p->cdb), nodes[i].nodeid);
		struct json_object *node = ctl_view_node(m, nodes[i].nodeid);

		json_object_object_add(node, "member", json_object_new_boolean(
							       membership_is_member(m, nodes[i].nodeid)));
		json_object_object_add(node, "local", json_object_new_boolean(
							      nodes[i].nodeid == membership_local_nodeid(m)));
		json_object_object_add(node, "devices",
				       json_object_new_int64(inv ? (int64_t)inv->count : 0));
		json_object_array_add(arr, node);
	}
	json_object_object_add(o, "nodes", arr);
	return o;
}

struct json_object *ctl_view_disks(const struct ctl_parts *p)
{
	const struct db *db = cdb_db(p->cdb);
	struct json_object *o = ctl_view_generation(p), *arr = json_object_new_array();
	struct router_stats *st = NULL;
	size_t i;

	if (p->router)
		router_stats_get(p->router, &st);
	for (i = 0; i < db->ndisks; i++)
		json_object_array_add(arr, disk_view(p, &db->disks[i], st));
	free(st);
	json_object_object_add(o, "disks", arr);
	return o;
}

int ctl_view_links(const struct ctl_parts *p, struct json_object **out)
{
	struct membership *m = cdb_membership(p->cdb);
	struct json_object *o, *arr;
	struct link_stat *st;
	size_t i, n;
	int rc = transport_link_stats(p->transport, &st, &n);

	if (rc)
		return rc;
	o = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(o, "node", ctl_view_node(m, membership_local_nodeid(m)));
	json_object_object_add(o, "policy", json_object_new_string(p->policy));
	for (i = 0; i < n; i++) {
		struct json_object *l = json_object_new_object();
		const struct {
			const char *key;
			uint64_t val;
		} nums[] = {
			{ "rtt_min_us", st[i].rtt_min_us }, { "rtt_avg_us", st[i].rtt_avg_us },
			{ "rtt_max_us", st[i].rtt_max_us }, { "tx_bytes", st[i].tx_bytes },
			{ "rx_bytes", st[i].rx_bytes },     { "tx_frames", st[i].tx_frames },
			{ "rx_frames", st[i].rx_frames },   { "downs", st[i].downs },
			{ "hb_tx", st[i].hb_tx },	    { "hb_rx", st[i].hb_rx },
		};
		size_t k;

		json_object_object_add(l, "node", json_object_new_int64(st[i].nodeid));
		json_object_object_add(l, "node_name", json_object_new_string(st[i].name));
		json_object_object_add(l, "member", json_object_new_boolean(st[i].member));
		json_object_object_add(l, "link", json_object_new_int64(st[i].link));
		json_object_object_add(l, "state",
				       json_object_new_string(link_state_name(st[i].state)));
		json_object_object_add(l, "local", json_object_new_string(st[i].local));
		json_object_object_add(l, "remote", json_object_new_string(st[i].remote));
		for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
			json_object_object_add(l, nums[k].key,
					       json_object_new_int64((int64_t)nums[k].val));
		json_object_object_add(l, "last_change", json_object_new_int64(st[i].last_change));
		json_object_array_add(arr, l);
	}
	free(st);
	json_object_object_add(o, "links", arr);
	*out = o;
	return 0;
}

static struct json_object *stat_rows_view(const struct ctl_parts *p, const struct router_stat *rows,
					  size_t n, bool disks)
{
	struct json_object *arr = json_object_new_array();
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct iostat *s = &rows[i].s;
		struct json_object *o = json_object_new_object(), *lat = json_object_new_object();
		const struct db_disk *d = disks ? db_disk_find_id(cdb_db(p->cdb), rows[i].id) : NULL;
		const struct {
			const char *key;
			uint64_t val;
		} nums[] = {
			{ "requests", s->requests }, { "bytes", s->bytes },
			{ "errors", s->errors },     { "retried", s->retried },
			{ "reroutes", s->reroutes },
		};
		static const struct {
			const char *key;
			unsigned int permille;
		} pcts[] = { { "p50", 500 }, { "p90", 900 }, { "p99", 990 }, { "p999", 999 } };

		json_object_object_add(o, "id", json_object_new_int64(rows[i].id));
		json_object_object_add(
			o, "name",
			json_object_new_string(disks ? (d ? d->name : "(deleted)") :
						       membership_node_name(cdb_membership(p->cdb),
									    rows[i].id)));
		for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
			json_object_object_add(o, nums[k].key,
					       json_object_new_int64((int64_t)nums[k].val));
		for (k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++)
			json_object_object_add(lat, pcts[k].key,
					       json_object_new_int64((int64_t)iostat_percentile_us(
						       s, pcts[k].permille)));
		json_object_object_add(o, "latency_us", lat);
		json_object_array_add(arr, o);
	}
	return arr;
}

int ctl_view_stats(const struct ctl_parts *p, struct json_object **out)
{
	struct router_stats *st;
	struct json_object *o;
	int rc = router_stats_get(p->router, &st);

	if (rc)
		return rc;
	o = json_object_new_object();
	json_object_object_add(o, "disks", stat_rows_view(p, st->rows, st->ndisks, true));
	json_object_object_add(o, "nodes",
			       stat_rows_view(p, st->rows + st->ndisks, st->nnodes, false));
	free(st);
	*out = o;
	return 0;
}

