/*
 * Turning operands and option arguments into request fields. A bad argument
 * is reported on stderr here; the caller makes it a usage error.
 */
#ifndef VDISK_CLI_ARGS_H
#define VDISK_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "vdiskctl.h"

/* Copies value into dst of size bytes; what names it in the complaint. */
int arg_copy(char *dst, size_t size, const char *value, const char *what);

/* A disk name operand into dst (VDISK_NAME_MAX + 1 bytes), checked by the
 * daemon's own rule: a bad name is a usage error, not a refusal. */
int name_fill(char *dst, const char *value);

/* --size, when given, into *out: bytes with an optional binary suffix, at
 * most max. */
int opt_size_get(const struct cli *cli, uint64_t max, uint64_t *out);

/* A numeric option, when given, into *out: a whole number from min to max. */
int opt_uint_get(const struct cli *cli, enum cmd_opt opt, uint32_t min, uint32_t max,
		 uint32_t *out);

#endif
