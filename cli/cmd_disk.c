#include "cmd_disk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <vdisk/syntax.h>

#include "args.h"
#include "reply.h"

int disk_path_format(struct json_object *path, char *buf, size_t len)
{
	char id[24];
	const char *node_name, *device;
	uint64_t node;
	const struct field fields[] = {
		{ "node", FIELD_UINT, &node },
		{ "node_name", FIELD_STRING, &node_name },
		{ "device", FIELD_STRING, &device },
	};
	int ret;

	if (!path) {
		snprintf(buf, len, "-");
		return 0;
	}
	ret = fields_get(path, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	snprintf(buf, len, "%s:%s", name_or_id(node_name, node, id, sizeof(id)), device);
	return 0;
}

struct disk_view {
	const char *name;
	const char *owner_name; /* as the daemon sent them, maybe empty */
	const char *group_name;
	const char *owner;	/* to show: the name, else the number */
	const char *group;
	uint64_t id;
	uint64_t size;
	uint64_t uid;
	uint64_t gid;
	uint64_t mode;
	uint64_t mtime;
	bool has_secondary;
	char primary[CELL_LEN];
	char secondary[CELL_LEN]; /* "-" without one */
	char owner_id[24]; /* owner's storage when it has no name */
	char group_id[24];
	char size_human[16];
	char mode_string[FORMAT_MODE_LEN];
	/* Which path serves it now: "secondary n3", "held", "none"; "-" from a
	 * daemon that does not say. why: "" when the primary serves. */
	char serving[CELL_LEN];
	const char *why;
	int stopped_here; /* 1 stopped on this node, 0 served, -1 not said */
	bool mirror;
	char datagen[17]; /* a mirror's data generation */
};

/* ", 43% at 210 MiB/s" when obj's "resync" (the writer's view) copies
 * replica i, else "". */
static const char *resync_text(struct json_object *obj, size_t i, char *buf, size_t len)
{
	struct json_object *rs, *v;

	buf[0] = '\0';
	if (!json_object_object_get_ex(obj, "resync", &rs) ||
	    !json_object_object_get_ex(rs, "path", &v) ||
	    strcmp(json_object_get_string(v), i ? "secondary" : "primary"))
		return buf;
	snprintf(buf, len, ", %" PRId64 "%% at %.0f MiB/s",
		 json_object_object_get_ex(rs, "percent", &v) ? json_object_get_int64(v) : 0,
		 json_object_object_get_ex(rs, "rate_mib_s", &v) ? json_object_get_double(v) : 0.0);
	return buf;
}

/* A mirror's "mirror": {"states", "datagen"}: each replica's state goes
 * after its path ("n2:/dev/sdc [outdated]"). */
static int mirror_decode(struct json_object *obj, struct disk_view *d)
{
	struct json_object *m, *states;
	const char *datagen;
	const struct field top[] = { { "mirror", FIELD_OBJECT, &m } };
	const struct field fields[] = {
		{ "states", FIELD_ARRAY, &states },
		{ "datagen", FIELD_STRING, &datagen },
	};
	char *cells[] = { d->primary, d->secondary };
	char progress[64];
	size_t i, used;
	int ret;

	d->mirror = json_object_object_get_ex(obj, "mirror", NULL);
	if (!d->mirror)
		return 0;
	if ((ret = fields_get(obj, top, ARRAY_SIZE(top))) ||
	    (ret = fields_get(m, fields, ARRAY_SIZE(fields))))
		return ret;
	if (json_object_array_length(states) != 2) {
		complain("malformed reply from vdiskd: %s's mirror does not have two states",
			 d->name);
		return -EBADMSG;
	}
	snprintf(d->datagen, sizeof(d->datagen), "%s", datagen);
	for (i = 0; i < 2; i++) {
		used = strlen(cells[i]);
		snprintf(cells[i] + used, CELL_LEN - used, " [%s%s]",
			 json_object_get_string(json_object_array_get_idx(states, i)),
			 resync_text(obj, i, progress, sizeof(progress)));
	}
	return 0;
}

/* "serving": {"state", "path", "node", "why"}, which create's reply and
 * older daemons may lack. */
static int serving_decode(struct json_object *obj, struct disk_view *d)
{
	struct json_object *serving, *node;
	const char *state, *path;
	const struct field top[] = { { "serving", FIELD_OBJECT, &serving } };
	const struct field fields[] = {
		{ "state", FIELD_STRING, &state },
		{ "path", FIELD_STRING_OPT, &path },
		{ "node", FIELD_OBJECT_OR_NULL, &node },
		{ "why", FIELD_STRING, &d->why },
	};
	uint64_t id;
	const char *name;
	char node_text[CELL_LEN];
	int ret;

	snprintf(d->serving, sizeof(d->serving), "-");
	d->why = "";
	d->stopped_here = json_object_object_get_ex(obj, "stopped_here", &node) &&
					  json_object_is_type(node, json_type_boolean) ?
				  json_object_get_boolean(node) :
				  -1;
	if (!json_object_object_get_ex(obj, "serving", NULL))
		return 0;
	if ((ret = fields_get(obj, top, ARRAY_SIZE(top))) ||
	    (ret = fields_get(serving, fields, ARRAY_SIZE(fields))))
		return ret;
	if (!node) {
		snprintf(d->serving, sizeof(d->serving), "%s", state);
		return 0;
	}
	if ((ret = node_get(node, &id, &name)))
		return ret;
	snprintf(d->serving, sizeof(d->serving), "%s %s", path ? path : state,
		 name_or_id(name, id, node_text, sizeof(node_text)));
	return 0;
}

static int disk_decode(struct json_object *obj, struct disk_view *d)
{
	struct json_object *primary, *secondary;
	const struct field fields[] = {
		{ "name", FIELD_STRING, &d->name },
		{ "id", FIELD_UINT, &d->id },
		{ "size", FIELD_UINT, &d->size },
		{ "primary", FIELD_OBJECT, &primary },
		{ "secondary", FIELD_OBJECT_OR_NULL, &secondary },
		{ "uid", FIELD_UINT, &d->uid },
		{ "gid", FIELD_UINT, &d->gid },
		{ "owner", FIELD_STRING, &d->owner_name },
		{ "group", FIELD_STRING, &d->group_name },
		{ "mode", FIELD_UINT, &d->mode },
		{ "mtime", FIELD_UINT, &d->mtime },
	};
	int ret;

	ret = fields_get(obj, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	if (d->mode > 07777 || d->mtime > INT64_MAX) {
		complain("malformed reply from vdiskd: mode or mtime of %s out of range", d->name);
		return -EBADMSG;
	}
	ret = disk_path_format(primary, d->primary, sizeof(d->primary));
	if (ret)
		return ret;
	d->has_secondary = secondary != NULL;
	ret = disk_path_format(secondary, d->secondary, sizeof(d->secondary));
	if (ret)
		return ret;
	d->owner = name_or_id(d->owner_name, d->uid, d->owner_id, sizeof(d->owner_id));
	d->group = name_or_id(d->group_name, d->gid, d->group_id, sizeof(d->group_id));
	format_mode((uint32_t)d->mode, d->mode_string);
	ret = serving_decode(obj, d);
	if (ret)
		return ret;
	ret = mirror_decode(obj, d);
	if (ret)
		return ret;
	return format_size_human(d->size, d->size_human, sizeof(d->size_human));
}

/* Replies that carry one disk: show, create, perm set. */
static int reply_disk(struct json_object *reply, struct disk_view *d)
{
	struct json_object *disk;
	const struct field fields[] = { { "disk", FIELD_OBJECT, &disk } };
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	return ret ? ret : disk_decode(disk, d);
}

/* Who uses the disk cluster-wide, as obj ("users" or "users_error") says,
 * in disk show's words or, row true, after the name in disk list -l:
 * "nowhere" / "not open", the users / "open on " the users, or why that is
 * not known. */
static const char *users_text(struct json_object *obj, bool row, char *buf, size_t len)
{
	struct json_object *v;

	if (json_object_object_get_ex(obj, "users_error", &v))
		snprintf(buf, len, row ? "open: not known (%s)" : "not known: %s",
			 json_object_get_string(v));
	else if (!json_object_object_get_ex(obj, "users", &v))
		snprintf(buf, len, "-");
	else if (!json_object_get_string_len(v))
		snprintf(buf, len, "%s", row ? "not open" : "nowhere");
	else
		snprintf(buf, len, "%s%s", row ? "open on " : "", json_object_get_string(v));
	return buf;
}

static int disk_row(struct json_object *item, struct table *table)
{
	char id_text[24], mode_text[8];
	struct disk_view d;
	int ret;

	ret = disk_decode(item, &d);
	if (ret)
		return ret;
	snprintf(id_text, sizeof(id_text), "%llu", (unsigned long long)d.id);
	snprintf(mode_text, sizeof(mode_text), "%04llo", (unsigned long long)d.mode);
	return table_add(table, d.name, id_text, d.size_human, d.primary, d.secondary, d.owner,
			 d.group, mode_text, d.serving, NULL);
}

static int disk_long_row(struct json_object *item, struct table *table)
{
	char size_text[24], mtime_text[32], users[2400];
	struct disk_view d;
	int ret;

	ret = disk_decode(item, &d);
	if (ret)
		return ret;
	ret = format_mtime((time_t)d.mtime, time(NULL), mtime_text, sizeof(mtime_text));
	if (ret) {
		complain("malformed reply from vdiskd: mtime %llu of %s",
			 (unsigned long long)d.mtime, d.name);
		return ret;
	}
	snprintf(size_text, sizeof(size_text), "%llu", (unsigned long long)d.size);
	return table_add(table, d.mode_string, d.owner, d.group, size_text, mtime_text, d.name,
			 users_text(item, true, users, sizeof(users)), NULL);
}

int disks_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	static const struct table_column columns[] = {
		{ "NAME", false },    { "ID", true },	  { "SIZE", true },   { "PRIMARY", false },
		{ "SECONDARY", false }, { "OWNER", false }, { "GROUP", false }, { "MODE", false },
		{ "SERVED BY", false },
	};
	/* ls -l without the link count, and who has each disk open */
	static const struct table_column long_columns[] = {
		{ NULL, false }, { NULL, false }, { NULL, false }, { NULL, true },
		{ NULL, false }, { NULL, false }, { NULL, false },
	};
	struct json_object *disks;
	const struct field fields[] = { { "disks", FIELD_ARRAY, &disks } };
	bool long_form = cli->given & CO_BIT(CO_LONG);
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	if (!json_object_array_length(disks)) {
		puts("No virtual disks.");
		return 0;
	}
	if (long_form)
		return list_print(disks, long_columns, ARRAY_SIZE(long_columns), disk_long_row);
	return list_print(disks, columns, ARRAY_SIZE(columns), disk_row);
}

static const char *here_text(int stopped_here)
{
	return stopped_here < 0 ? "-" :
	       stopped_here	? "stopped: no NBD export, no device file on this node "
				  "(vdiskctl disk start)" :
				  "served to this node's clients";
}

int disk_show_print(struct json_object *reply, const struct cli *cli,
		     const union vdisk_ctl_request *req)
{
	char id_text[24], size_text[48], owner_text[CELL_LEN], group_text[CELL_LEN];
	char mode_text[32], mtime_text[64], serving_text[CELL_LEN + 400], users[2400];
	char mirror_text[96];
	struct disk_view d;
	int ret;

	ret = reply_disk(reply, &d);
	if (ret)
		return ret;
	ret = format_time_full((time_t)d.mtime, mtime_text, sizeof(mtime_text));
	if (ret) {
		complain("malformed reply from vdiskd: mtime %llu", (unsigned long long)d.mtime);
		return ret;
	}
	snprintf(id_text, sizeof(id_text), "%llu", (unsigned long long)d.id);
	snprintf(size_text, sizeof(size_text), "%llu (%s)", (unsigned long long)d.size,
		 d.size_human);
	name_id_format(d.owner_name, d.uid, owner_text, sizeof(owner_text));
	name_id_format(d.group_name, d.gid, group_text, sizeof(group_text));
	snprintf(mode_text, sizeof(mode_text), "%04llo (%s)", (unsigned long long)d.mode,
		 d.mode_string);
	snprintf(serving_text, sizeof(serving_text), "%s%s%s%s", d.serving, d.why[0] ? " (" : "",
		 d.why, d.why[0] ? ")" : "");
	if (d.mirror)
		snprintf(mirror_text, sizeof(mirror_text),
			 "2 replicas, the primary's node writes; data generation %s", d.datagen);
	else
		snprintf(mirror_text, sizeof(mirror_text), "no (shared storage: both paths reach "
			 "one device)");
	return details_print("Name:", d.name, "ID:", id_text, "Size:", size_text, "Primary:",
			     d.primary, "Secondary:", d.secondary, "Mirror:", mirror_text,
			     "Served by:", serving_text,
			     "Open:", users_text(reply, false, users, sizeof(users)),
			     "Here:", here_text(d.stopped_here),
			     "Owner:", owner_text, "Group:", group_text, "Mode:", mode_text,
			     "Modified:", mtime_text, NULL);
}

static int generation_get(struct json_object *reply, uint64_t *generation)
{
	const struct field fields[] = { { "generation", FIELD_UINT, generation } };

	return fields_get(reply, fields, ARRAY_SIZE(fields));
}

/* A reply's "note": what the request overrode (--force), on stdout after
 * the result, for the administrator who asked for it. */
static void note_print(struct json_object *reply)
{
	struct json_object *note;

	if (json_object_object_get_ex(reply, "note", &note) &&
	    json_object_is_type(note, json_type_string))
		printf("note: %s\n", json_object_get_string(note));
}

/* Replies of create and perm set: {"generation", "disk": disk}. */
static int changed_disk_get(struct json_object *reply, struct disk_view *d, uint64_t *generation)
{
	int ret;

	ret = generation_get(reply, generation);
	return ret ? ret : reply_disk(reply, d);
}

int created_print(struct json_object *reply, const struct cli *cli,
		   const union vdisk_ctl_request *req)
{
	struct disk_view d;
	uint64_t generation;
	int ret;

	ret = changed_disk_get(reply, &d, &generation);
	if (ret)
		return ret;
	printf("Created %s (id %llu, %s)%s on %s", d.name, (unsigned long long)d.id,
	       d.size_human, d.mirror ? " mirrored" : "", d.primary);
	if (d.has_secondary)
		printf(" and %s", d.secondary);
	printf(", generation %llu\n", (unsigned long long)generation);
	note_print(reply);
	return 0;
}

int deleted_print(struct json_object *reply, const struct cli *cli,
		   const union vdisk_ctl_request *req)
{
	uint64_t generation;
	int ret;

	ret = generation_get(reply, &generation);
	if (ret)
		return ret;
	printf("Deleted %s, generation %llu\n", cli->name, (unsigned long long)generation);
	return 0;
}

int here_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	bool stop = req->hdr.id == VDISK_CTL_DISK_STOP, was;
	const char *clients;
	const struct field fields[] = {
		{ "was_stopped", FIELD_BOOL, &was },
		{ "clients", FIELD_STRING, &clients },
	};
	int ret = fields_get(reply, fields, ARRAY_SIZE(fields));

	if (ret)
		return ret;
	if (stop == was)
		printf("%s was already %s on this node\n", cli->name, stop ? "stopped" : "served");
	else if (!stop)
		printf("%s is served on this node again\n", cli->name);
	else if (clients[0])
		printf("%s is stopped on this node; its clients here were cut off (their next "
		       "request fails): %s\n", cli->name, clients);
	else
		printf("%s is stopped on this node: no NBD export, no device file\n", cli->name);
	return 0;
}

int perm_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	struct disk_view d;
	uint64_t generation;
	int ret;

	ret = changed_disk_get(reply, &d, &generation);
	if (ret)
		return ret;
	printf("Set %s to owner %s, group %s, mode %04llo (%s), generation %llu\n", d.name,
	       d.owner, d.group, (unsigned long long)d.mode, d.mode_string,
	       (unsigned long long)generation);
	return 0;
}

/* Request filling: argument errors found here are usage errors. */
static int opt_copy(const struct cli *cli, enum cmd_opt opt, char *dst, size_t size,
		    uint32_t flag, uint32_t *flags)
{
	if (!(cli->given & CO_BIT(opt)))
		return 0;
	*flags |= flag;
	return arg_copy(dst, size, cli->opt[opt], cmd_opts[opt].name);
}

/* One NODE:DEVICE of option optname. */
static int path_parse(const char *optname, const char *arg, struct vdisk_ctl_path *path)
{
	int ret;

	ret = parse_path_arg(arg, path->node, sizeof(path->node), path->device,
			     sizeof(path->device));
	if (ret == -ENAMETOOLONG)
		complain("%s '%s': node at most %d, device at most %d characters", optname, arg,
			 VDISK_NODE_MAX, VDISK_DEVICE_MAX);
	else if (ret)
		complain("%s '%s': expected NODE:DEVICE", optname, arg);
	else if ((ret = vdisk_device_spec_check(path->device)))
		complain("%s '%s': '%s' is not a device (use an absolute path, UUID=, LABEL= or "
			 "PARTUUID=)", optname, arg, path->device);
	return ret;
}

int path_fill(const struct cli *cli, enum cmd_opt opt, struct vdisk_ctl_path *path)
{
	return path_parse(cmd_opts[opt].name, cli->opt[opt], path);
}

/* --mirror NODE:DEVICE,NODE:DEVICE: the replicas, the first one the writer.
 * A comma may be part of a device path, so the split is at the comma
 * followed by the second NODE: (the one before the last colon). */
static int mirror_fill(const struct cli *cli, struct vdisk_ctl_create_req *c)
{
	const char *arg = cli->opt[CO_MIRROR];
	const char *last = strrchr(arg, ':');
	char first[VDISK_NODE_MAX + VDISK_DEVICE_MAX + 2];
	const char *comma = NULL, *p;
	int ret;

	for (p = arg; last && p < last; p++)
		if (*p == ',')
			comma = p;
	if (!comma || (size_t)(comma - arg) >= sizeof(first)) {
		complain("--mirror '%s': expected NODE:DEVICE,NODE:DEVICE (two replicas, each "
			 "on its own node)", arg);
		return -EINVAL;
	}
	memcpy(first, arg, (size_t)(comma - arg));
	first[comma - arg] = '\0';
	ret = path_parse("--mirror", first, &c->primary);
	if (ret)
		return ret;
	ret = path_parse("--mirror", comma + 1, &c->secondary);
	if (ret)
		return ret;
	if (!strcmp(c->primary.node, c->secondary.node)) {
		complain("--mirror '%s': both replicas are on %s; a mirror needs two nodes", arg,
			 c->primary.node);
		return -EINVAL;
	}
	c->flags |= VDISK_CTL_F_MIRROR;
	if (cli->given & CO_BIT(CO_ASSUME_CLEAN))
		c->flags |= VDISK_CTL_F_CLEAN;
	return 0;
}

/* Owner, group and mode, as create and perm set share them. */
static int perm_fill(const struct cli *cli, char *owner, char *group, uint32_t *mode,
		     uint32_t *flags)
{
	int ret;

	ret = opt_copy(cli, CO_OWNER, owner, VDISK_USER_MAX + 1, VDISK_CTL_F_OWNER, flags);
	if (ret)
		return ret;
	ret = opt_copy(cli, CO_GROUP, group, VDISK_USER_MAX + 1, VDISK_CTL_F_GROUP, flags);
	if (ret || !(cli->given & CO_BIT(CO_MODE)))
		return ret;
	ret = parse_mode(cli->opt[CO_MODE], mode);
	if (ret == -EPERM)
		complain("--mode '%s': setuid, setgid and sticky bits are not allowed on a "
			 "virtual disk",
			 cli->opt[CO_MODE]);
	else if (ret)
		complain("--mode '%s': expected octal permission bits, 0 to 777",
			 cli->opt[CO_MODE]);
	if (ret)
		return -EINVAL;
	*flags |= VDISK_CTL_F_MODE;
	return 0;
}

int list_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	if (cli->given & CO_BIT(CO_LONG))
		req->disk.flags |= VDISK_CTL_F_USERS;
	return 0;
}

int disk_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	if (cli->given & CO_BIT(CO_FORCE))
		req->disk.flags |= VDISK_CTL_F_FORCE;
	return name_fill(req->disk.name, cli->name);
}

int create_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_create_req *c = &req->create;
	bool mirror = cli->given & CO_BIT(CO_MIRROR);
	int ret;

	if (mirror && (cli->given & (CO_BIT(CO_PRIMARY) | CO_BIT(CO_SECONDARY)))) {
		complain("disk create: --mirror names both replicas; it goes without --primary "
			 "and --secondary");
		return -EINVAL;
	}
	if (!mirror && (cli->given & CO_BIT(CO_ASSUME_CLEAN))) {
		complain("disk create: --assume-clean is for a mirror (--mirror)");
		return -EINVAL;
	}
	if (!mirror && !(cli->given & CO_BIT(CO_PRIMARY))) {
		complain("disk create: --primary NODE:DEVICE (or --mirror NODE:DEVICE,NODE:DEVICE) "
			 "is required");
		return -EINVAL;
	}
	ret = name_fill(c->name, cli->name);
	if (ret)
		return ret;
	ret = mirror ? mirror_fill(cli, c) : path_fill(cli, CO_PRIMARY, &c->primary);
	if (ret)
		return ret;
	if (cli->given & CO_BIT(CO_SECONDARY)) {
		ret = path_fill(cli, CO_SECONDARY, &c->secondary);
		if (ret)
			return ret;
		/* The daemon also sees the same path named twice ("n2" and "2"). */
		if (!memcmp(&c->primary, &c->secondary, sizeof(c->primary))) {
			complain("disk create: the secondary path is the primary path");
			return -EINVAL;
		}
	}
	ret = opt_size_get(cli, UINT64_MAX, &c->size);
	if (ret)
		return ret;
	if (cli->given & CO_BIT(CO_SIZE)) {
		if (!c->size || c->size % VDISK_SECTOR) {
			complain("--size '%s': not a positive multiple of %u bytes",
				 cli->opt[CO_SIZE], VDISK_SECTOR);
			return -EINVAL;
		}
		c->flags |= VDISK_CTL_F_SIZE;
	}
	if (cli->given & CO_BIT(CO_FORCE))
		c->flags |= VDISK_CTL_F_FORCE;
	return perm_fill(cli, c->owner, c->group, &c->mode, &c->flags);
}

int perm_set_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_perm_req *p = &req->perm;
	int ret;

	if (!(cli->given & CO_PERM)) {
		complain("perm set: give at least one of --owner, --group, --mode");
		return -EINVAL;
	}
	ret = name_fill(p->name, cli->name);
	if (ret)
		return ret;
	return perm_fill(cli, p->owner, p->group, &p->mode, &p->flags);
}
