/*
 * Pure helpers of vdiskctl: argument parsing, value formatting and the table
 * printer every listing goes through. Nothing here talks to the daemon, so
 * the unit tests exercise it directly.
 */
#ifndef VDISK_CLI_FORMAT_H
#define VDISK_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* "-rwsr-x--T" and its terminator */
#define FORMAT_MODE_LEN 11

/* Writes the ls -l string of the permission bits of mode (a regular file). */
void format_mode(uint32_t mode, char buf[FORMAT_MODE_LEN]);

/*
 * The time column of GNU ls -l in the C locale: "%b %e %H:%M" if mtime is
 * within the six months before now, "%b %e  %Y" if older or in the future.
 * That is what ls on the ndfs mount shows, so the two listings agree; issue
 * 2's "time within this year" is superseded by this rule. Compare with
 * `LC_ALL=C ls -l`: vdiskctl never calls setlocale().
 */
int format_mtime(time_t mtime, time_t now, char *buf, size_t len);

/* A full local date for detail views, "2024-05-01 12:34:56 +0200". */
int format_time_full(time_t t, char *buf, size_t len);

/* The local time of day, "12:34:56", for recent events. */
int format_clock(time_t t, char *buf, size_t len);

/* "512B", "1.5K", "1.0G", "20G": one decimal below ten units. */
int format_size_human(uint64_t bytes, char *buf, size_t len);

/* Bytes with an optional binary suffix: 10G, 512M, 4k, 1GiB. */
int parse_size(const char *str, uint64_t *out);

/* A plain decimal number: no sign, blanks or suffix. */
int parse_uint(const char *str, uint64_t *out);

/* Octal permission bits as chmod takes them: 660, 0660, 0755. -EPERM for a
 * setuid, setgid or sticky bit (4755): a virtual disk has no use for them. */
int parse_mode(const char *str, uint32_t *out);

/* Splits NODE:DEVICE at the first colon; both parts must be non-empty. */
int parse_path_arg(const char *arg, char *node, size_t nodelen, char *dev, size_t devlen);

/* Enough for the widest listing; keeps the printer free of allocations. */
#define TABLE_COLUMNS_MAX 12

struct table_column {
	const char *header; /* NULL in every column: a listing without header */
	bool right;	    /* numbers line up on their last digit */
};

struct table {
	const struct table_column *columns;
	size_t ncolumns;
	size_t *widths;	/* widest cell of each column, header included */
	char **cells;	/* row-major, nrows * ncolumns */
	size_t nrows;
	size_t capacity; /* rows */
};

int table_init(struct table *t, const struct table_column *columns, size_t ncolumns);
/* Copies one row of ncolumns strings; control characters become '?'. */
int table_add_row(struct table *t, const char *const *cells);
/* The same with the cells as arguments; -EINVAL unless there are ncolumns. */
__attribute__((sentinel)) int table_add(struct table *t, ...);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

#endif
