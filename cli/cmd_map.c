#include "cmd_map.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cmd_disk.h"
#include "reply.h"

int map_set_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_map_req *m = &req->map;
	int ret;

	if (!(cli->given & CO_BIT(CO_PRIMARY))) {
		complain("map set: --primary NODE:DEVICE is required");
		return -EINVAL;
	}
	ret = name_fill(m->name, cli->name);
	if (!ret)
		ret = path_fill(cli, CO_PRIMARY, &m->primary);
	if (cli->given & CO_BIT(CO_FORCE))
		m->flags |= VDISK_CTL_F_FORCE;
	if (ret || !(cli->given & CO_BIT(CO_SECONDARY)))
		return ret;
	/* Removing the secondary is said, never implied by leaving it out. */
	if (!strcmp(cli->opt[CO_SECONDARY], "none")) {
		m->flags |= VDISK_CTL_F_NO_SECONDARY;
		return 0;
	}
	ret = path_fill(cli, CO_SECONDARY, &m->secondary);
	if (!ret && !memcmp(&m->primary, &m->secondary, sizeof(m->primary))) {
		complain("map set: the secondary path is the primary path");
		ret = -EINVAL;
	}
	return ret;
}

int map_promote_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	int ret = name_fill(req->map.name, cli->name);

	return ret ? ret : arg_copy(req->map.node, sizeof(req->map.node), cli->name2, "node");
}

int cycle_timeout_ms(const union vdisk_ctl_request *req)
{
	return CYCLE_REPLY_TIMEOUT_MS;
}

static const char *const done_verbs[] = {
	[VDISK_CTL_MAP_SET] = "mapped",
	[VDISK_CTL_MAP_PROMOTE] = "promoted",
	[VDISK_CTL_SUSPEND] = "suspended",
	[VDISK_CTL_RESUME] = "resumed",
};

/* Who uses the disk, as the cluster said after the cycle (absent from an
 * unchanged one). */
static void users_print(struct json_object *reply, const struct cli *cli,
			const union vdisk_ctl_request *req)
{
	struct json_object *v;

	if (json_object_object_get_ex(reply, "users_error", &v)) {
		printf("Its users are not known: %s\n", json_object_get_string(v));
		return;
	}
	if (!json_object_object_get_ex(reply, "users", &v) || !json_object_is_type(v, json_type_string))
		return;
	if (!json_object_get_string_len(v))
		printf("In use: nowhere\n");
	else if (req->hdr.id == VDISK_CTL_SUSPEND)
		printf("In use: %s; their I/O waits until 'vdiskctl resume %s'\n",
		       json_object_get_string(v), cli->name);
	else
		printf("In use: %s; their I/O goes on, on the paths above\n",
		       json_object_get_string(v));
}

int cycle_print(struct json_object *reply, const struct cli *cli,
		const union vdisk_ctl_request *req)
{
	struct json_object *disk, *cycle, *primary, *secondary;
	char pri[CELL_LEN], sec[CELL_LEN];
	uint64_t cycle_us, held_us, drain_us, drain_node, txid;
	bool unchanged;
	const struct field top[] = {
		{ "disk", FIELD_OBJECT, &disk },
		{ "cycle", FIELD_OBJECT, &cycle },
	};
	const struct field paths[] = {
		{ "primary", FIELD_OBJECT, &primary },
		{ "secondary", FIELD_OBJECT_OR_NULL, &secondary },
	};
	const struct field costs[] = {
		{ "unchanged", FIELD_BOOL, &unchanged },
		{ "txid", FIELD_UINT, &txid },
		{ "cycle_us", FIELD_UINT, &cycle_us },
		{ "held_us", FIELD_UINT, &held_us },
		{ "drain_us_max", FIELD_UINT, &drain_us },
		{ "drain_node", FIELD_UINT, &drain_node },
	};
	int ret;

	if ((ret = fields_get(reply, top, ARRAY_SIZE(top))) ||
	    (ret = fields_get(disk, paths, ARRAY_SIZE(paths))) ||
	    (ret = fields_get(cycle, costs, ARRAY_SIZE(costs))) ||
	    (ret = disk_path_format(primary, pri, sizeof(pri))) ||
	    (ret = disk_path_format(secondary, sec, sizeof(sec))))
		return ret;
	printf("%s: primary %s, secondary %s", cli->name, pri, sec);
	if (unchanged) {
		printf(" (nothing to change)\n");
		return 0;
	}
	printf("; %s in cycle %llx: %.1f ms, I/O held %.1f ms, longest drain %.1f ms (node %llu)\n",
	       done_verbs[req->hdr.id], (unsigned long long)txid, cycle_us / 1000.0,
	       held_us / 1000.0, drain_us / 1000.0, (unsigned long long)drain_node);
	if (req->hdr.id == VDISK_CTL_MAP_SET && (req->map.flags & VDISK_CTL_F_NO_SECONDARY))
		printf("%s now has no secondary path: it stops when %s or its node fails\n",
		       cli->name, pri);
	users_print(reply, cli, req);
	return 0;
}

struct check_view {
	const char *disk, *role, *device, *path, *error;
	struct json_object *node;
	uint64_t size;
	bool healthy, suspended;
};

static int check_decode(struct json_object *reply, struct check_view *v)
{
	const struct field fields[] = {
		{ "disk", FIELD_STRING, &v->disk },
		{ "node", FIELD_OBJECT, &v->node },
		{ "role", FIELD_STRING, &v->role },
		{ "device", FIELD_STRING, &v->device },
		{ "path", FIELD_STRING, &v->path },
		{ "size", FIELD_UINT, &v->size },
		{ "error", FIELD_STRING, &v->error },
		{ "suspended", FIELD_BOOL, &v->suspended },
	};
	/* null without a path: there is nothing to be healthy */
	const struct field health[] = { { "healthy", FIELD_BOOL, &v->healthy } };
	int ret = fields_get(reply, fields, ARRAY_SIZE(fields));

	v->healthy = true;
	if (ret || !strcmp(v->role, "none"))
		return ret;
	return fields_get(reply, health, ARRAY_SIZE(health));
}

int disk_check_print(struct json_object *reply, const struct cli *cli,
		     const union vdisk_ctl_request *req)
{
	struct check_view v;
	char node[CELL_LEN];
	int ret;

	if ((ret = check_decode(reply, &v)) || (ret = node_format(v.node, node, sizeof(node))))
		return ret;
	if (!strcmp(v.role, "none"))
		printf("%s: node %s has no path to it%s\n", v.disk, node,
		       v.suspended ? " (suspended)" : "");
	else if (v.healthy)
		printf("%s: %s path %s on node %s works (%s, %llu bytes)%s\n", v.disk, v.role,
		       v.device, node, v.path, (unsigned long long)v.size,
		       v.suspended ? " (suspended)" : "");
	else
		printf("%s: %s path on node %s FAILS: %s\n", v.disk, v.role, node, v.error);
	return 0;
}

int disk_check_verdict(struct json_object *reply)
{
	struct check_view v;
	int ret = check_decode(reply, &v);

	if (ret)
		return ret;
	if (v.healthy || !strcmp(v.role, "none"))
		return 0;
	complain("%s: %s path: %s", v.disk, v.role, v.error);
	return -EIO;
}
