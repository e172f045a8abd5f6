/*
 * What the command implementations (cmd_*.c) share with vdiskctl's main
 * program: the parsed command line, the request they fill and the one way
 * errors reach the user.
 */
#ifndef VDISK_CLI_VDISKCTL_H
#define VDISK_CLI_VDISKCTL_H

#include <stdbool.h>

#include <vdisk/ctl.h>

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
	CO_INTERVAL,
	CO_WINDOW,
	CO_ONEWAY,
	CO_FORCE,
	CO_MIRROR,
	CO_ASSUME_CLEAN,
	CO_NR,
};

#define CO_BIT(opt) (1u << (opt))

struct cmd_opt_def {
	const char *name; /* as typed */
	int has_arg;
};

extern const struct cmd_opt_def cmd_opts[CO_NR];

struct cli {
	const char *ipc_name;
	bool json;
	bool help;
	bool version;
	unsigned int given;	/* CO_BIT()s */
	const char *opt[CO_NR]; /* arguments of the given options */
	char **words;		/* operands: command words, then the operand */
	int nwords;
	const char *name; /* the operand: NAME or NODE */
	const char *name2; /* the second operand, for commands that take two */
};

/* One line on stderr, prefixed with the program name. */
__attribute__((format(printf, 1, 2))) void complain(const char *fmt, ...);

#endif
