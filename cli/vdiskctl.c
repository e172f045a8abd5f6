/*
 * vdiskctl: command line client of vdiskd's control IPC (include/vdisk/ctl.h).
 *
 * One request per run. The command table maps the command words to a request
 * type and to the functions that fill the request and print the JSON reply;
 * every listing goes through the table printer of format.c. --json prints
 * the reply itself. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <qb/qbipcc.h>

#include <vdisk/ctl.h>

#include "format.h"

/* Creation waits for a remote node and a cluster round trip. */
#define REPLY_TIMEOUT_MS 30000

#define EXIT_USAGE 2

/* Room for any one formatted cell: "node:device" is the longest. */
#define CELL_LEN (VDISK_NODE_MAX + VDISK_DEVICE_MAX + 2)

/* Options that only some commands take; bit n of cli.given. */
enum cmd_opt {
	CO_LONG,
	CO_PRIMARY,
	CO_SECONDARY,
	CO_SIZE,
	CO_OWNER,
	CO_GROUP,
	CO_MODE,
	CO_COUNT,
};

#define CO_BIT(opt) (1u << (opt))
#define CO_PERM (CO_BIT(CO_OWNER) | CO_BIT(CO_GROUP) | CO_BIT(CO_MODE))

static const struct {
	const char *name; /* as typed */
	int has_arg;
} cmd_opts[CO_COUNT] = {
	[CO_LONG] = { "--long", no_argument },
	[CO_PRIMARY] = { "--primary", required_argument },
	[CO_SECONDARY] = { "--secondary", required_argument },
	[CO_SIZE] = { "--size", required_argument },
	[CO_OWNER] = { "--owner", required_argument },
	[CO_GROUP] = { "--group", required_argument },
	[CO_MODE] = { "--mode", required_argument },
};

/* getopt values of the long options without a short form */
enum {
	OPT_JSON = 256,
	OPT_HELP,
	OPT_VERSION,
	OPT_CMD, /* OPT_CMD + enum cmd_opt */
};

struct cli {
	const char *ipc_name;
	bool json;
	bool help;
	bool version;
	unsigned int given;	   /* CO_BIT()s */
	const char *opt[CO_COUNT]; /* arguments of the given options */
	char **words;		   /* operands: command words, then NAME */
	int nwords;
	const char *name;
};

union ctl_request {
	struct qb_ipc_request_header hdr;
	struct vdisk_ctl_req plain;
	struct vdisk_ctl_disk_req disk;
	struct vdisk_ctl_create_req create;
	struct vdisk_ctl_perm_req perm;
};

struct cmd {
	const char *name; /* the command words, "disk create" */
	const char *synopsis;
	const char *summary;
	enum vdisk_ctl_type type;
	size_t size;	   /* of the request struct */
	unsigned int opts; /* CO_BIT()s it takes */
	bool takes_name;
	int (*fill)(union ctl_request *req, const struct cli *cli);
	int (*print)(struct json_object *reply, const struct cli *cli);
};

__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
	va_list ap;

	fputs("vdiskctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Reply decoding. The daemon is another program, possibly another version:
 * every field is looked up and type-checked before use, so a reply of the
 * wrong shape is reported rather than dereferenced.
 */
enum field_kind {
	FIELD_UINT,
	FIELD_BOOL,
	FIELD_STRING,
	FIELD_STRING_OPT, /* absent: NULL */
	FIELD_OBJECT,
	FIELD_OBJECT_OR_NULL,
	FIELD_ARRAY,
};

struct field {
	const char *key;
	enum field_kind kind;
	void *out; /* uint64_t, bool, const char * or struct json_object * */
};

static const struct {
	enum json_type type;
	const char *what;
} field_kinds[] = {
	[FIELD_UINT] = { json_type_int, "a non-negative integer" },
	[FIELD_BOOL] = { json_type_boolean, "a boolean" },
	[FIELD_STRING] = { json_type_string, "a string" },
	[FIELD_STRING_OPT] = { json_type_string, "a string" },
	[FIELD_OBJECT] = { json_type_object, "an object" },
	[FIELD_OBJECT_OR_NULL] = { json_type_object, "an object or null" },
	[FIELD_ARRAY] = { json_type_array, "an array" },
};

static bool field_valid(const struct field *f, struct json_object *val)
{
	if (f->kind == FIELD_OBJECT_OR_NULL && json_object_is_type(val, json_type_null))
		return true;
	if (!json_object_is_type(val, field_kinds[f->kind].type))
		return false;
	/* json-c keeps integers above INT64_MAX as unsigned, which read back
	 * as INT64_MAX here: only a negative value fails */
	return f->kind != FIELD_UINT || json_object_get_int64(val) >= 0;
}

static int fields_get(struct json_object *obj, const struct field *fields, size_t n)
{
	struct json_object *val;
	const struct field *f;
	size_t i;

	for (i = 0; i < n; i++) {
		f = &fields[i];
		if (!json_object_object_get_ex(obj, f->key, &val)) {
			if (f->kind == FIELD_STRING_OPT) {
				*(const char **)f->out = NULL;
				continue;
			}
			complain("malformed reply from vdiskd: no \"%s\"", f->key);
			return -EBADMSG;
		}
		if (!field_valid(f, val)) {
			complain("malformed reply from vdiskd: \"%s\" is not %s", f->key,
				 field_kinds[f->kind].what);
			return -EBADMSG;
		}
		switch (f->kind) {
		case FIELD_UINT:
			*(uint64_t *)f->out = json_object_get_uint64(val);
			break;
		case FIELD_BOOL:
			*(bool *)f->out = json_object_get_boolean(val);
			break;
		case FIELD_STRING:
		case FIELD_STRING_OPT:
			*(const char **)f->out = json_object_get_string(val);
			break;
		case FIELD_OBJECT:
		case FIELD_OBJECT_OR_NULL:
		case FIELD_ARRAY:
			*(struct json_object **)f->out = val;
			break;
		}
	}
	return 0;
}

/* {"id", "name"} of a node */
static int node_get(struct json_object *obj, uint64_t *id, const char **name)
{
	const struct field fields[] = {
		{ "id", FIELD_UINT, id },
		{ "name", FIELD_STRING, name },
	};

	return fields_get(obj, fields, ARRAY_SIZE(fields));
}

/* Nodes and users are shown by name, by number when they have none. */
static const char *name_or_id(const char *name, uint64_t id, char *buf, size_t len)
{
	if (*name)
		return name;
	snprintf(buf, len, "%llu", (unsigned long long)id);
	return buf;
}

/* "n1 (1)", or just "1" without a name. */
static void name_id_format(const char *name, uint64_t id, char *buf, size_t len)
{
	if (*name)
		snprintf(buf, len, "%s (%llu)", name, (unsigned long long)id);
	else
		snprintf(buf, len, "%llu", (unsigned long long)id);
}

/* A path object as NODE:DEVICE, a null one as "-". */
static int path_format(struct json_object *path, char *buf, size_t len)
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
};

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
	ret = path_format(primary, d->primary, sizeof(d->primary));
	if (ret)
		return ret;
	d->has_secondary = secondary != NULL;
	ret = path_format(secondary, d->secondary, sizeof(d->secondary));
	if (ret)
		return ret;
	d->owner = name_or_id(d->owner_name, d->uid, d->owner_id, sizeof(d->owner_id));
	d->group = name_or_id(d->group_name, d->gid, d->group_id, sizeof(d->group_id));
	format_mode((uint32_t)d->mode, d->mode_string);
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

/* Every listing is a table; a row function adds the row of one element of
 * a reply array. */
typedef int (*row_fn)(struct json_object *item, struct table *table);

static int list_print(struct json_object *items, const struct table_column *columns,
		      size_t ncolumns, row_fn row)
{
	struct table table;
	size_t i;
	int ret;

	ret = table_init(&table, columns, ncolumns);
	for (i = 0; !ret && i < json_object_array_length(items); i++)
		ret = row(json_object_array_get_idx(items, i), &table);
	if (!ret)
		table_print(&table, stdout);
	table_free(&table);
	return ret;
}

/* "Key:", value, ..., NULL: aligned key-value lines. */
__attribute__((sentinel)) static int details_print(const char *key, ...)
{
	static const struct table_column columns[] = { { NULL, false }, { NULL, false } };
	struct table table;
	va_list ap;
	int ret;

	ret = table_init(&table, columns, ARRAY_SIZE(columns));
	va_start(ap, key);
	for (; !ret && key; key = va_arg(ap, const char *))
		ret = table_add(&table, key, va_arg(ap, const char *), NULL);
	va_end(ap);
	if (!ret)
		table_print(&table, stdout);
	table_free(&table);
	return ret;
}

/* "3 (n1, n2, n3)", allocated */
static int members_format(struct json_object *members, char **textp)
{
	char id_text[24], *text = NULL;
	const char *name;
	uint64_t id;
	size_t i, n = json_object_array_length(members), len;
	FILE *out;
	int ret = 0;

	out = open_memstream(&text, &len);
	if (!out)
		return -ENOMEM;
	fprintf(out, "%zu", n);
	for (i = 0; !ret && i < n; i++) {
		ret = node_get(json_object_array_get_idx(members, i), &id, &name);
		if (!ret)
			fprintf(out, "%s%s", i ? ", " : " (",
				name_or_id(name, id, id_text, sizeof(id_text)));
	}
	if (n)
		fputc(')', out);
	if (fclose(out) && !ret)
		ret = -ENOMEM;
	if (ret)
		free(text);
	else
		*textp = text;
	return ret;
}

static int status_print(struct json_object *reply, const struct cli *cli)
{
	char node_text[CELL_LEN], config_text[24], generation_text[48], disks_text[24];
	struct json_object *node, *members;
	const char *node_name;
	uint64_t config, generation, disks, id;
	bool quorate, synced;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "quorate", FIELD_BOOL, &quorate },
		{ "config", FIELD_UINT, &config },
		{ "generation", FIELD_UINT, &generation },
		{ "synced", FIELD_BOOL, &synced },
		{ "members", FIELD_ARRAY, &members },
		{ "disks", FIELD_UINT, &disks },
	};
	char *members_text;
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	ret = node_get(node, &id, &node_name);
	if (ret)
		return ret;
	ret = members_format(members, &members_text);
	if (ret)
		return ret;

	name_id_format(node_name, id, node_text, sizeof(node_text));
	snprintf(config_text, sizeof(config_text), "%llu", (unsigned long long)config);
	snprintf(generation_text, sizeof(generation_text), "%llu (%s)",
		 (unsigned long long)generation, synced ? "synced" : "not synced");
	snprintf(disks_text, sizeof(disks_text), "%llu", (unsigned long long)disks);
	ret = details_print("Node:", node_text, "Quorate:", quorate ? "yes" : "no", "Members:",
			    members_text, "Configuration:", config_text, "Generation:",
			    generation_text, "Disks:", disks_text, NULL);
	free(members_text);
	return ret;
}

static int node_row(struct json_object *item, struct table *table)
{
	char id_text[24], devices_text[24];
	const char *name;
	uint64_t id, devices;
	bool member, local;
	const struct field fields[] = {
		{ "id", FIELD_UINT, &id },
		{ "name", FIELD_STRING, &name },
		{ "member", FIELD_BOOL, &member },
		{ "local", FIELD_BOOL, &local },
		{ "devices", FIELD_UINT, &devices },
	};
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	snprintf(id_text, sizeof(id_text), "%llu", (unsigned long long)id);
	snprintf(devices_text, sizeof(devices_text), "%llu", (unsigned long long)devices);
	return table_add(table, id_text, *name ? name : "-", member ? "member" : "offline",
			 local ? "*" : "", devices_text, NULL);
}

static int nodes_print(struct json_object *reply, const struct cli *cli)
{
	static const struct table_column columns[] = {
		{ "ID", true }, { "NAME", false }, { "STATE", false },
		{ "LOCAL", false }, { "DEVICES", true },
	};
	struct json_object *nodes;
	const struct field fields[] = { { "nodes", FIELD_ARRAY, &nodes } };
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	return ret ? ret : list_print(nodes, columns, ARRAY_SIZE(columns), node_row);
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
			 d.group, mode_text, NULL);
}

static int disk_long_row(struct json_object *item, struct table *table)
{
	char size_text[24], mtime_text[32];
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
			 NULL);
}

static int disks_print(struct json_object *reply, const struct cli *cli)
{
	static const struct table_column columns[] = {
		{ "NAME", false },    { "ID", true },	  { "SIZE", true },   { "PRIMARY", false },
		{ "SECONDARY", false }, { "OWNER", false }, { "GROUP", false }, { "MODE", false },
	};
	/* ls -l without the link count */
	static const struct table_column long_columns[] = {
		{ NULL, false }, { NULL, false }, { NULL, false },
		{ NULL, true },	 { NULL, false }, { NULL, false },
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

static int disk_show_print(struct json_object *reply, const struct cli *cli)
{
	char id_text[24], size_text[48], owner_text[CELL_LEN], group_text[CELL_LEN];
	char mode_text[32], mtime_text[64];
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
	return details_print("Name:", d.name, "ID:", id_text, "Size:", size_text, "Primary:",
			     d.primary, "Secondary:", d.secondary, "Owner:", owner_text, "Group:",
			     group_text, "Mode:", mode_text, "Modified:", mtime_text, NULL);
}

static int device_row(struct json_object *item, struct table *table)
{
	char size_text[16];
	const char *path, *type, *uuid, *label;
	uint64_t size;
	const struct field fields[] = {
		{ "path", FIELD_STRING, &path },
		{ "size", FIELD_UINT, &size },
		{ "type", FIELD_STRING_OPT, &type },
		{ "uuid", FIELD_STRING_OPT, &uuid },
		{ "label", FIELD_STRING_OPT, &label },
	};
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	ret = format_size_human(size, size_text, sizeof(size_text));
	if (ret)
		return ret;
	return table_add(table, path, size_text, type ? type : "-", uuid ? uuid : "-",
			 label ? label : "-", NULL);
}

static int scan_print(struct json_object *reply, const struct cli *cli)
{
	static const struct table_column columns[] = {
		{ "PATH", false }, { "SIZE", true }, { "TYPE", false },
		{ "UUID", false }, { "LABEL", false },
	};
	char node_text[CELL_LEN];
	struct json_object *node, *devices;
	const char *name;
	uint64_t id;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "devices", FIELD_ARRAY, &devices },
	};
	size_t n;
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	ret = node_get(node, &id, &name);
	if (ret)
		return ret;
	n = json_object_array_length(devices);
	name_id_format(name, id, node_text, sizeof(node_text));
	printf("Node %s: %zu device%s\n", node_text, n, n == 1 ? "" : "s");
	return n ? list_print(devices, columns, ARRAY_SIZE(columns), device_row) : 0;
}

static int generation_get(struct json_object *reply, uint64_t *generation)
{
	const struct field fields[] = { { "generation", FIELD_UINT, generation } };

	return fields_get(reply, fields, ARRAY_SIZE(fields));
}

static int created_print(struct json_object *reply, const struct cli *cli)
{
	struct disk_view d;
	uint64_t generation;
	int ret;

	ret = generation_get(reply, &generation);
	if (!ret)
		ret = reply_disk(reply, &d);
	if (ret)
		return ret;
	printf("Created %s (id %llu, %s) on %s", d.name, (unsigned long long)d.id, d.size_human,
	       d.primary);
	if (d.has_secondary)
		printf(" and %s", d.secondary);
	printf(", generation %llu\n", (unsigned long long)generation);
	return 0;
}

static int deleted_print(struct json_object *reply, const struct cli *cli)
{
	uint64_t generation;
	int ret;

	ret = generation_get(reply, &generation);
	if (ret)
		return ret;
	printf("Deleted %s, generation %llu\n", cli->name, (unsigned long long)generation);
	return 0;
}

static int perm_print(struct json_object *reply, const struct cli *cli)
{
	struct disk_view d;
	uint64_t generation;
	int ret;

	ret = generation_get(reply, &generation);
	if (!ret)
		ret = reply_disk(reply, &d);
	if (ret)
		return ret;
	printf("Set %s to owner %s, group %s, mode %04llo (%s), generation %llu\n", d.name,
	       d.owner, d.group, (unsigned long long)d.mode, d.mode_string,
	       (unsigned long long)generation);
	return 0;
}

/* Request filling: argument errors found here are usage errors. */
static int arg_copy(char *dst, size_t size, const char *value, const char *what)
{
	if (strlen(value) >= size) {
		complain("%s '%s' is too long (at most %zu characters)", what, value, size - 1);
		return -ENAMETOOLONG;
	}
	strcpy(dst, value);
	return 0;
}

static int opt_copy(const struct cli *cli, enum cmd_opt opt, char *dst, size_t size,
		    uint32_t flag, uint32_t *flags)
{
	if (!(cli->given & CO_BIT(opt)))
		return 0;
	*flags |= flag;
	return arg_copy(dst, size, cli->opt[opt], cmd_opts[opt].name);
}

static int path_fill(const struct cli *cli, enum cmd_opt opt, struct vdisk_ctl_path *path)
{
	const char *arg = cli->opt[opt];
	int ret;

	ret = parse_path_arg(arg, path->node, sizeof(path->node), path->device,
			     sizeof(path->device));
	if (ret == -ENAMETOOLONG)
		complain("%s '%s': node at most %d, device at most %d characters",
			 cmd_opts[opt].name, arg, VDISK_NODE_MAX, VDISK_DEVICE_MAX);
	else if (ret)
		complain("%s '%s': expected NODE:DEVICE", cmd_opts[opt].name, arg);
	return ret;
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
	if (parse_mode(cli->opt[CO_MODE], mode)) {
		complain("--mode '%s': expected octal permission bits, 0 to 7777",
			 cli->opt[CO_MODE]);
		return -EINVAL;
	}
	*flags |= VDISK_CTL_F_MODE;
	return 0;
}

static int disk_fill(union ctl_request *req, const struct cli *cli)
{
	return arg_copy(req->disk.name, sizeof(req->disk.name), cli->name, "disk name");
}

static int create_fill(union ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_create_req *c = &req->create;
	int ret;

	if (!(cli->given & CO_BIT(CO_PRIMARY))) {
		complain("disk create: --primary NODE:DEVICE is required");
		return -EINVAL;
	}
	ret = arg_copy(c->name, sizeof(c->name), cli->name, "disk name");
	if (ret)
		return ret;
	ret = path_fill(cli, CO_PRIMARY, &c->primary);
	if (ret)
		return ret;
	if (cli->given & CO_BIT(CO_SECONDARY)) {
		ret = path_fill(cli, CO_SECONDARY, &c->secondary);
		if (ret)
			return ret;
	}
	if (cli->given & CO_BIT(CO_SIZE)) {
		ret = parse_size(cli->opt[CO_SIZE], &c->size);
		if (ret == -ERANGE)
			complain("--size '%s' is too large", cli->opt[CO_SIZE]);
		else if (ret)
			complain("--size '%s': expected bytes, optionally with K, M, G, T or P",
				 cli->opt[CO_SIZE]);
		if (ret)
			return ret;
		c->flags |= VDISK_CTL_F_SIZE;
	}
	return perm_fill(cli, c->owner, c->group, &c->mode, &c->flags);
}

static int perm_set_fill(union ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_perm_req *p = &req->perm;
	int ret;

	if (!(cli->given & CO_PERM)) {
		complain("perm set: give at least one of --owner, --group, --mode");
		return -EINVAL;
	}
	ret = arg_copy(p->name, sizeof(p->name), cli->name, "disk name");
	if (ret)
		return ret;
	return perm_fill(cli, p->owner, p->group, &p->mode, &p->flags);
}

static const struct cmd cmds[] = {
	{
		.name = "status",
		.summary = "this node, quorum, members and the cluster database",
		.type = VDISK_CTL_STATUS,
		.size = sizeof(struct vdisk_ctl_req),
		.print = status_print,
	},
	{
		.name = "node list",
		.summary = "cluster nodes and their device counts",
		.type = VDISK_CTL_NODE_LIST,
		.size = sizeof(struct vdisk_ctl_req),
		.print = nodes_print,
	},
	{
		.name = "disk list",
		.synopsis = "[-l]",
		.summary = "virtual disks; -l lists them like ls -l",
		.type = VDISK_CTL_DISK_LIST,
		.size = sizeof(struct vdisk_ctl_req),
		.opts = CO_BIT(CO_LONG),
		.print = disks_print,
	},
	{
		.name = "disk show",
		.synopsis = "NAME",
		.summary = "one virtual disk in detail",
		.type = VDISK_CTL_DISK_SHOW,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.takes_name = true,
		.fill = disk_fill,
		.print = disk_show_print,
	},
	{
		.name = "disk create",
		/* the second line lines up under NAME in --help */
		.synopsis = "NAME --primary NODE:DEVICE [--secondary NODE:DEVICE]\n"
			    "              [--size SIZE] [--owner USER] [--group GROUP] [--mode MODE]",
		.summary = "create a virtual disk",
		.type = VDISK_CTL_DISK_CREATE,
		.size = sizeof(struct vdisk_ctl_create_req),
		.opts = CO_BIT(CO_PRIMARY) | CO_BIT(CO_SECONDARY) | CO_BIT(CO_SIZE) | CO_PERM,
		.takes_name = true,
		.fill = create_fill,
		.print = created_print,
	},
	{
		.name = "disk delete",
		.synopsis = "NAME",
		.summary = "delete a virtual disk",
		.type = VDISK_CTL_DISK_DELETE,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.takes_name = true,
		.fill = disk_fill,
		.print = deleted_print,
	},
	{
		.name = "perm set",
		.synopsis = "NAME [--owner USER] [--group GROUP] [--mode MODE]",
		.summary = "change owner, group or mode of a virtual disk",
		.type = VDISK_CTL_PERM_SET,
		.size = sizeof(struct vdisk_ctl_perm_req),
		.opts = CO_PERM,
		.takes_name = true,
		.fill = perm_set_fill,
		.print = perm_print,
	},
	{
		.name = "scan",
		.summary = "scan this node's devices and publish them",
		.type = VDISK_CTL_SCAN,
		.size = sizeof(struct vdisk_ctl_req),
		.print = scan_print,
	},
};

static void help_print(void)
{
	const int column = 22; /* of the summaries */
	const struct cmd *cmd;
	size_t i;
	int len;

	puts("Usage: vdiskctl [-n IPC_NAME] [--json] COMMAND [ARGS]\n"
	     "\n"
	     "Commands:");
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		cmd = &cmds[i];
		len = printf("  %s%s%s", cmd->name, cmd->synopsis ? " " : "",
			     cmd->synopsis ? cmd->synopsis : "");
		/* a long synopsis gets the summary on a line of its own */
		if (len > column) {
			putchar('\n');
			len = 0;
		}
		printf("%*s  %s\n", column - len, "", cmd->summary);
	}
	puts("\n"
	     "Options:\n"
	     "  -n IPC_NAME       IPC service of vdiskd (default " VDISK_IPC_NAME_DEFAULT ")\n"
	     "  --json            print the daemon's JSON reply\n"
	     "  -h, --help        print this help\n"
	     "  --version         print the version\n"
	     "\n"
	     "NODE is a node name or id; DEVICE a path, UUID=, LABEL= or PARTUUID=.\n"
	     "SIZE is in bytes, optionally with K, M, G, T or P (powers of 1024).\n"
	     "MODE is octal, as for chmod (0660).\n"
	     "Exit status: 0 success, 1 failure, 2 usage error.");
}

/* Global and command options may come anywhere on the line. */
static int cli_parse(struct cli *cli, int argc, char **argv)
{
	static const struct option global_opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
	};
	struct option longopts[ARRAY_SIZE(global_opts) + CO_COUNT + 1] = { { 0 } };
	struct option *opt = longopts + ARRAY_SIZE(global_opts);
	int c, i;

	memcpy(longopts, global_opts, sizeof(global_opts));
	for (i = 0; i < CO_COUNT; i++)
		opt[i] = (struct option){ cmd_opts[i].name + 2, cmd_opts[i].has_arg, NULL,
					  OPT_CMD + i };
	/* getopt's own messages would name argv[0] with its directory */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hln:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP:
			cli->help = true;
			break;
		case OPT_VERSION:
			cli->version = true;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case 'n':
			cli->ipc_name = optarg;
			break;
		case 'l':
			cli->given |= CO_BIT(CO_LONG);
			break;
		case ':':
			complain("option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		case '?':
			/* optopt: a short option, a long one given an
			 * argument it does not take, or 0 */
			if (optopt >= OPT_JSON)
				complain("option '%.*s' takes no argument",
					 (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
			else if (optopt)
				complain("unknown option '-%c'", optopt);
			else
				complain("unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		default:
			cli->given |= CO_BIT(c - OPT_CMD);
			cli->opt[c - OPT_CMD] = optarg;
			break;
		}
	}
	cli->words = argv + optind;
	cli->nwords = argc - optind;
	return 0;
}

/* How many operands spell the command name, 0 if they do not. */
static int cmd_words(const char *name, char **words, int nwords)
{
	size_t len;
	int i;

	for (i = 0; *name; i++) {
		len = strcspn(name, " ");
		if (i == nwords || strlen(words[i]) != len || strncmp(name, words[i], len))
			return 0;
		name += len + (name[len] == ' ');
	}
	return i;
}

static int cmd_find(struct cli *cli, const struct cmd **cmdp)
{
	const struct cmd *cmd = NULL;
	unsigned int stray;
	bool group = false;
	size_t i, len;
	int n = 0;

	if (!cli->nwords) {
		complain("no command given");
		return -EINVAL;
	}
	for (i = 0; !n && i < ARRAY_SIZE(cmds); i++) {
		cmd = &cmds[i];
		n = cmd_words(cmd->name, cli->words, cli->nwords);
		len = strlen(cli->words[0]);
		group |= !strncmp(cmd->name, cli->words[0], len) && cmd->name[len] == ' ';
	}
	if (!n) {
		if (group && cli->nwords > 1)
			complain("unknown command '%s %s'", cli->words[0], cli->words[1]);
		else if (group)
			complain("'%s' needs a subcommand", cli->words[0]);
		else
			complain("unknown command '%s'", cli->words[0]);
		return -EINVAL;
	}

	if (cmd->takes_name && cli->nwords == n) {
		complain("%s: missing NAME", cmd->name);
		return -EINVAL;
	}
	if (cli->nwords > n + cmd->takes_name) {
		complain("%s: unexpected argument '%s'", cmd->name,
			 cli->words[n + cmd->takes_name]);
		return -EINVAL;
	}
	stray = cli->given & ~cmd->opts;
	if (stray) {
		complain("%s: option %s does not apply", cmd->name,
			 cmd_opts[__builtin_ctz(stray)].name);
		return -EINVAL;
	}
	cli->name = cmd->takes_name ? cli->words[n] : NULL;
	*cmdp = cmd;
	return 0;
}

static int request_fill(const struct cmd *cmd, const struct cli *cli, union ctl_request *req)
{
	memset(req, 0, sizeof(*req));
	req->hdr.id = cmd->type;
	req->hdr.size = (int32_t)cmd->size;
	return cmd->fill ? cmd->fill(req, cli) : 0;
}

/* One complete JSON text and nothing after it; NULL for "null". */
static int json_parse(const char *text, struct json_object **out)
{
	struct json_tokener *tok;
	size_t len = strlen(text);
	int ret = 0;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	*out = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(*out);
		*out = NULL;
		ret = -EBADMSG;
	}
	json_tokener_free(tok);
	return ret;
}

/* Checks the reply header and parses the JSON after it. An error reply
 * yields its reason on stderr and the daemon's -errno. */
static int reply_parse(int32_t id, char *buf, size_t len, struct json_object **replyp)
{
	const struct qb_ipc_response_header *hdr = (const void *)buf;
	const char *json = buf + sizeof(*hdr), *reason;
	struct json_object *reply, *val;
	int ret;

	if (len <= sizeof(*hdr) || !memchr(json, '\0', len - sizeof(*hdr)) || hdr->id != id) {
		complain("malformed reply from vdiskd");
		return -EBADMSG;
	}
	ret = json_parse(json, &reply);
	if (ret == -ENOMEM) {
		complain("out of memory");
		return ret;
	}

	if (hdr->error) {
		/* an error must come out as one, whatever the daemon sent */
		ret = hdr->error < 0 && hdr->error > INT32_MIN ? hdr->error : -EPROTO;
		if (json_object_object_get_ex(reply, "error", &val) &&
		    json_object_is_type(val, json_type_string))
			reason = json_object_get_string(val);
		else
			reason = strerror(-ret);
		complain("%s", reason);
		json_object_put(reply);
		return ret;
	}
	if (ret) {
		complain("malformed reply from vdiskd: invalid JSON");
		return ret;
	}
	if (!json_object_is_type(reply, json_type_object)) {
		complain("malformed reply from vdiskd: not a JSON object");
		json_object_put(reply);
		return -EBADMSG;
	}
	*replyp = reply;
	return 0;
}

static int ctl_call(const char *ipc_name, const union ctl_request *req,
		    struct json_object **replyp)
{
	qb_ipcc_connection_t *conn;
	char *buf;
	ssize_t n;
	int ret;

	conn = qb_ipcc_connect(ipc_name, VDISK_CTL_MAX_MSG);
	if (!conn) {
		ret = errno ? -errno : -ECONNREFUSED;
		complain("cannot connect to vdiskd (IPC service '%s'): %s%s", ipc_name,
			 strerror(-ret),
			 ret == -ECONNREFUSED || ret == -ENOENT ? " — is vdiskd running?" : "");
		return ret;
	}
	buf = malloc(VDISK_CTL_MAX_MSG);
	if (!buf) {
		ret = -ENOMEM;
		complain("out of memory");
		goto out_disconnect;
	}
	n = qb_ipcc_send(conn, req, (size_t)req->hdr.size);
	if (n < 0) {
		ret = (int)n;
		complain("cannot send the request to vdiskd: %s", strerror(-ret));
		goto out_free_buf;
	}
	n = qb_ipcc_recv(conn, buf, VDISK_CTL_MAX_MSG, REPLY_TIMEOUT_MS);
	if (n < 0) {
		ret = (int)n;
		if (ret == -ETIMEDOUT || ret == -EAGAIN)
			complain("no reply from vdiskd within %d s", REPLY_TIMEOUT_MS / 1000);
		else if (ret == -ENOTCONN)
			complain("vdiskd closed the connection without replying");
		else
			complain("cannot receive the reply of vdiskd: %s", strerror(-ret));
		goto out_free_buf;
	}
	ret = reply_parse(req->hdr.id, buf, (size_t)n, replyp);
out_free_buf:
	free(buf);
out_disconnect:
	qb_ipcc_disconnect(conn);
	return ret;
}

static int cmd_run(const struct cmd *cmd, const struct cli *cli, const union ctl_request *req)
{
	struct json_object *reply = NULL;
	int ret;

	ret = ctl_call(cli->ipc_name, req, &reply);
	if (ret)
		return ret;
	if (cli->json)
		puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_SPACED |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		ret = cmd->print(reply, cli);
	json_object_put(reply);
	return ret;
}

/* A full disk or a closed pipe must not pass for success. */
static int stdout_close(void)
{
	bool failed = ferror(stdout);

	if (fclose(stdout) || failed) {
		complain("write error on standard output");
		return -EIO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { .ipc_name = VDISK_IPC_NAME_DEFAULT };
	union ctl_request req;
	const struct cmd *cmd;
	int ret;

	ret = cli_parse(&cli, argc, argv);
	if (ret)
		goto usage;
	if (cli.help || cli.version) {
		if (cli.help)
			help_print();
		else
			puts("vdiskctl " VDISK_VERSION);
		return stdout_close() ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	ret = cmd_find(&cli, &cmd);
	if (ret)
		goto usage;
	ret = request_fill(cmd, &cli, &req);
	if (ret)
		goto usage;

	ret = cmd_run(cmd, &cli, &req);
	if (stdout_close())
		ret = -EIO;
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;

usage:
	fputs("Try 'vdiskctl --help'.\n", stderr);
	return EXIT_USAGE;
}
