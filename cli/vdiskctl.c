/*
 * vdiskctl: command line client of vdiskd's control IPC (include/vdisk/ctl.h).
 *
 * One request per run. The command table maps the command words to a request
 * type and to the functions that fill the request and print the JSON reply;
 * every listing goes through the table printer of format.c. --json prints
 * the reply itself. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "vdiskctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd_cluster.h"
#include "cmd_disk.h"
#include "cmd_link.h"
#include "cmd_map.h"
#include "cmd_stats.h"
#include "format.h"
#include "ipc.h"

#define EXIT_USAGE 2

const struct cmd_opt_def cmd_opts[CO_NR] = {
	[CO_LONG] = { "--long", no_argument },
	[CO_PRIMARY] = { "--primary", required_argument },
	[CO_SECONDARY] = { "--secondary", required_argument },
	[CO_SIZE] = { "--size", required_argument },
	[CO_OWNER] = { "--owner", required_argument },
	[CO_GROUP] = { "--group", required_argument },
	[CO_MODE] = { "--mode", required_argument },
	[CO_COUNT] = { "--count", required_argument },
	[CO_INTERVAL] = { "--interval", required_argument },
	[CO_WINDOW] = { "--window", required_argument },
	[CO_ONEWAY] = { "--oneway", no_argument },
	[CO_FORCE] = { "--force", no_argument },
	[CO_MIRROR] = { "--mirror", required_argument },
	[CO_ASSUME_CLEAN] = { "--assume-clean", no_argument },
};

/* getopt values of the long options without a short form */
enum {
	OPT_JSON = 256,
	OPT_HELP,
	OPT_VERSION,
	OPT_CMD, /* OPT_CMD + enum cmd_opt */
};

struct cmd {
	const char *name; /* the command words, "disk create" */
	const char *synopsis;
	const char *summary;
	enum vdisk_ctl_type type;
	size_t size;	   /* of the request struct */
	unsigned int opts; /* CO_BIT()s it takes */
	const char *operand; /* "NAME" or "NODE" if it takes one */
	const char *operand2; /* and a second one */
	int (*fill)(union vdisk_ctl_request *req, const struct cli *cli);
	/* how long the reply may take, if not IPC_REPLY_TIMEOUT_MS */
	int (*timeout_ms)(const union vdisk_ctl_request *req);
	int (*print)(struct json_object *reply, const struct cli *cli,
		     const union vdisk_ctl_request *req);
	/* a verdict on a successful reply, whether printed or not */
	int (*check)(struct json_object *reply);
};

void complain(const char *fmt, ...)
{
	va_list ap;

	/* after what was printed before it, even when both go to one file */
	fflush(stdout);
	fputs("vdiskctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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
		.summary = "virtual disks; -l lists them like ls -l, with who has each open",
		.type = VDISK_CTL_DISK_LIST,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.opts = CO_BIT(CO_LONG),
		.fill = list_fill,
		.print = disks_print,
	},
	{
		.name = "disk show",
		.synopsis = "NAME",
		.summary = "one virtual disk in detail",
		.type = VDISK_CTL_DISK_SHOW,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.print = disk_show_print,
	},
	{
		.name = "disk create",
		/* the second line lines up under NAME in --help */
		.synopsis = "NAME --primary NODE:DEVICE [--secondary NODE:DEVICE]\n"
			    "              [--size SIZE] [--owner USER] [--group GROUP] [--mode MODE]\n"
			    "              [--force]\n"
			    "       disk create NAME --mirror NODE:DEVICE,NODE:DEVICE [--assume-clean]\n"
			    "              [--size SIZE] [--owner USER] [--group GROUP] [--mode MODE]\n"
			    "              [--force]",
		.summary = "create a virtual disk (shared storage, or mirrored on two nodes)",
		.type = VDISK_CTL_DISK_CREATE,
		.size = sizeof(struct vdisk_ctl_create_req),
		.opts = CO_BIT(CO_PRIMARY) | CO_BIT(CO_SECONDARY) | CO_BIT(CO_SIZE) | CO_PERM |
			CO_BIT(CO_FORCE) | CO_BIT(CO_MIRROR) | CO_BIT(CO_ASSUME_CLEAN),
		.operand = "NAME",
		.fill = create_fill,
		.print = created_print,
	},
	{
		.name = "disk delete",
		.synopsis = "NAME [--force]",
		.summary = "delete a virtual disk (refused while in use, unless --force)",
		.type = VDISK_CTL_DISK_DELETE,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.opts = CO_BIT(CO_FORCE),
		.operand = "NAME",
		.fill = disk_fill,
		.print = deleted_print,
	},
	{
		.name = "disk check",
		.synopsis = "NAME",
		.summary = "check this node's path to a disk now (exit 1 if it fails)",
		.type = VDISK_CTL_DISK_CHECK,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.print = disk_check_print,
		.check = disk_check_verdict,
	},
	{
		.name = "disk stop",
		.synopsis = "NAME",
		.summary = "stop serving a disk to this node's clients (the NBD export, the device file)",
		.type = VDISK_CTL_DISK_STOP,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.print = here_print,
	},
	{
		.name = "disk start",
		.synopsis = "NAME",
		.summary = "serve a stopped disk to this node's clients again",
		.type = VDISK_CTL_DISK_START,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.print = here_print,
	},
	{
		.name = "map set",
		.synopsis = "NAME --primary NODE:DEVICE [--secondary NODE:DEVICE|none] [--force]",
		.summary = "change a disk's paths (a reconfiguration cycle)",
		.type = VDISK_CTL_MAP_SET,
		.size = sizeof(struct vdisk_ctl_map_req),
		.opts = CO_BIT(CO_PRIMARY) | CO_BIT(CO_SECONDARY) | CO_BIT(CO_FORCE),
		.operand = "NAME",
		.fill = map_set_fill,
		.timeout_ms = cycle_timeout_ms,
		.print = cycle_print,
	},
	{
		.name = "map promote",
		.synopsis = "NAME NODE",
		.summary = "make NODE's path the primary (a reconfiguration cycle)",
		.type = VDISK_CTL_MAP_PROMOTE,
		.size = sizeof(struct vdisk_ctl_map_req),
		.operand = "NAME",
		.operand2 = "NODE",
		.fill = map_promote_fill,
		.timeout_ms = cycle_timeout_ms,
		.print = cycle_print,
	},
	{
		.name = "suspend",
		.synopsis = "NAME",
		.summary = "hold a disk's I/O cluster-wide for maintenance",
		.type = VDISK_CTL_SUSPEND,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.timeout_ms = cycle_timeout_ms,
		.print = cycle_print,
	},
	{
		.name = "resume",
		.synopsis = "NAME",
		.summary = "let a suspended disk's I/O go again",
		.type = VDISK_CTL_RESUME,
		.size = sizeof(struct vdisk_ctl_disk_req),
		.operand = "NAME",
		.fill = disk_fill,
		.timeout_ms = cycle_timeout_ms,
		.print = cycle_print,
	},
	{
		.name = "perm set",
		.synopsis = "NAME [--owner USER] [--group GROUP] [--mode MODE]",
		.summary = "change owner, group or mode of a virtual disk",
		.type = VDISK_CTL_PERM_SET,
		.size = sizeof(struct vdisk_ctl_perm_req),
		.opts = CO_PERM,
		.operand = "NAME",
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
	{
		.name = "link status",
		.summary = "links to the other nodes: state, round trips, traffic",
		.type = VDISK_CTL_LINK_STATUS,
		.size = sizeof(struct vdisk_ctl_req),
		.print = links_print,
	},
	{
		.name = "ping",
		.synopsis = "NODE [--size SIZE] [--count N] [--interval MS] [--window N] [--oneway]",
		.summary = "send echoes to NODE through vdiskd's transport and time them",
		.type = VDISK_CTL_PING,
		.size = sizeof(struct vdisk_ctl_ping_req),
		.opts = CO_BIT(CO_SIZE) | CO_BIT(CO_COUNT) | CO_BIT(CO_INTERVAL) | CO_BIT(CO_WINDOW) |
			CO_BIT(CO_ONEWAY),
		.operand = "NODE",
		.fill = ping_fill,
		.timeout_ms = ping_timeout_ms,
		.print = ping_print,
		.check = ping_check,
	},
	{
		.name = "stats",
		.summary = "I/O of this node's clients per disk and per serving node",
		.type = VDISK_CTL_STATS,
		.size = sizeof(struct vdisk_ctl_req),
		.print = stats_print,
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
	     "ping defaults: --size 64 --count 10 --interval 200 (ms); --interval 0 sends\n"
	     "back to back, keeping --window (default 1) pings in flight; with --oneway\n"
	     "NODE checks each payload and answers without it (one way, like iperf3).\n"
	     "Exit status: 0 success, 1 failure (for ping also an echo lost, corrupt or\n"
	     "answered twice, or a session cut short), 2 usage error.");
}

/* Global and command options may come anywhere on the line. */
static int cli_parse(struct cli *cli, int argc, char **argv)
{
	static const struct option global_opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
	};
	struct option longopts[ARRAY_SIZE(global_opts) + CO_NR + 1] = { { 0 } };
	struct option *opt = longopts + ARRAY_SIZE(global_opts);
	int c, i;

	memcpy(longopts, global_opts, sizeof(global_opts));
	for (i = 0; i < CO_NR; i++)
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
	int n = 0, takes;

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

	takes = (cmd->operand != NULL) + (cmd->operand2 != NULL);
	if (cli->nwords < n + takes) {
		complain("%s: missing %s", cmd->name,
			 cli->nwords == n ? cmd->operand : cmd->operand2);
		return -EINVAL;
	}
	if (cli->nwords > n + takes) {
		complain("%s: unexpected argument '%s'", cmd->name, cli->words[n + takes]);
		return -EINVAL;
	}
	stray = cli->given & ~cmd->opts;
	if (stray) {
		complain("%s: option %s%s does not apply", cmd->name,
			 __builtin_ctz(stray) == CO_LONG ? "-l/" : "",
			 cmd_opts[__builtin_ctz(stray)].name);
		return -EINVAL;
	}
	cli->name = takes ? cli->words[n] : NULL;
	cli->name2 = takes > 1 ? cli->words[n + 1] : NULL;
	*cmdp = cmd;
	return 0;
}

static int request_fill(const struct cmd *cmd, const struct cli *cli, union vdisk_ctl_request *req)
{
	memset(req, 0, sizeof(*req));
	req->hdr.id = cmd->type;
	req->hdr.size = (int32_t)cmd->size;
	return cmd->fill ? cmd->fill(req, cli) : 0;
}

static int cmd_run(const struct cmd *cmd, const struct cli *cli, const union vdisk_ctl_request *req)
{
	struct json_object *reply = NULL;
	int timeout_ms = cmd->timeout_ms ? cmd->timeout_ms(req) : IPC_REPLY_TIMEOUT_MS;
	int ret;

	ret = ctl_call(cli->ipc_name, &req->hdr, timeout_ms, &reply);
	if (ret)
		return ret;
	if (cli->json)
		puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_SPACED |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		ret = cmd->print(reply, cli, req);
	if (!ret && cmd->check)
		ret = cmd->check(reply);
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
	union vdisk_ctl_request req;
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
	/* The reason is already out, on one line as the contract says. */
	return EXIT_USAGE;
}
