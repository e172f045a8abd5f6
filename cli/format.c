#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void format_mode(uint32_t mode, char buf[FORMAT_MODE_LEN])
{
	static const char rwx[] = "rwxrwxrwx";
	/* ls shows a special bit in the x slot of its class: lower case when
	 * that x is also set, upper case when it is not. */
	static const struct {
		uint32_t bit;
		size_t pos;
		char mark;
	} special[] = {
		{ 04000, 3, 's' },
		{ 02000, 6, 's' },
		{ 01000, 9, 't' },
	};
	size_t i;

	buf[0] = '-';
	for (i = 0; i < 9; i++)
		buf[1 + i] = mode & (0400u >> i) ? rwx[i] : '-';
	for (i = 0; i < ARRAY_SIZE(special); i++) {
		if (!(mode & special[i].bit))
			continue;
		buf[special[i].pos] = buf[special[i].pos] == 'x' ? special[i].mark :
								     (char)toupper(special[i].mark);
	}
	buf[10] = '\0';
}

static int time_format(time_t t, const char *fmt, char *buf, size_t len)
{
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -EOVERFLOW;
	/* every format used here yields a non-empty string, so 0 means the
	 * buffer was too small */
	if (!strftime(buf, len, fmt, &tm))
		return -ERANGE;
	return 0;
}

/* GNU ls's "six months": half of the average Gregorian year, in seconds. */
#define RECENT_SECONDS (31556952 / 2)

int format_mtime(time_t mtime, time_t now, char *buf, size_t len)
{
	/* As ls decides, with whole seconds: the database keeps no fraction,
	 * and a time equal to now counts as past, as ls's clock, with its
	 * nanoseconds, almost always is. */
	bool recent = mtime <= now && mtime > now - RECENT_SECONDS;

	return time_format(mtime, recent ? "%b %e %H:%M" : "%b %e  %Y", buf, len);
}

int format_time_full(time_t t, char *buf, size_t len)
{
	return time_format(t, "%Y-%m-%d %H:%M:%S %z", buf, len);
}

int format_clock(time_t t, char *buf, size_t len)
{
	return time_format(t, "%H:%M:%S", buf, len);
}

int format_size_human(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	const unsigned int nunits = sizeof(units) - 1;
	unsigned int unit = 0, shift;
	uint64_t whole, rest, half, tenths;
	int n;

	while (unit + 1 < nunits && bytes >> (10 * (unit + 1)))
		unit++;
	if (!unit) {
		n = snprintf(buf, len, "%lluB", (unsigned long long)bytes);
		goto out;
	}

	/* Integer arithmetic keeps the rounding exact at every magnitude;
	 * rest * 10 stays below 2^64 because rest < 2^60. */
	shift = 10 * unit;
	whole = bytes >> shift;
	rest = bytes & ((UINT64_C(1) << shift) - 1);
	half = UINT64_C(1) << (shift - 1);
	tenths = whole * 10 + ((rest * 10 + half) >> shift);
	if (tenths < 100) {
		n = snprintf(buf, len, "%llu.%llu%c", (unsigned long long)(tenths / 10),
			     (unsigned long long)(tenths % 10), units[unit]);
		goto out;
	}

	whole += rest >= half;
	/* 1023.6K rounds to 1024K, which reads better as the next unit */
	if (whole == 1024 && unit + 1 < nunits)
		n = snprintf(buf, len, "1.0%c", units[unit + 1]);
	else
		n = snprintf(buf, len, "%llu%c", (unsigned long long)whole, units[unit]);
out:
	return n < 0 || (size_t)n >= len ? -ERANGE : 0;
}

struct suffix {
	const char *text;
	unsigned int shift;
};

/* A decimal number followed by exactly one of the suffixes. */
static int number_parse(const char *str, const struct suffix *suffixes, size_t nsuffixes,
			uint64_t *out)
{
	unsigned long long value;
	char *end;
	size_t i;

	/* strtoull would also take blanks, a sign and wrap "-1" around */
	if (!isdigit((unsigned char)str[0]))
		return -EINVAL;
	errno = 0;
	value = strtoull(str, &end, 10);
	for (i = 0; i < nsuffixes; i++) {
		if (strcmp(end, suffixes[i].text))
			continue;
		if (errno == ERANGE || value > UINT64_MAX >> suffixes[i].shift)
			return -ERANGE;
		*out = (uint64_t)value << suffixes[i].shift;
		return 0;
	}
	return -EINVAL;
}

int parse_size(const char *str, uint64_t *out)
{
	static const struct suffix suffixes[] = {
		{ "", 0 },	  { "B", 0 },	     { "K", 10 },  { "k", 10 },
		{ "KiB", 10 }, { "M", 20 },	     { "MiB", 20 }, { "G", 30 },
		{ "GiB", 30 }, { "T", 40 },	     { "TiB", 40 }, { "P", 50 },
		{ "PiB", 50 },
	};

	return number_parse(str, suffixes, ARRAY_SIZE(suffixes), out);
}

int parse_uint(const char *str, uint64_t *out)
{
	static const struct suffix none[] = { { "", 0 } };

	return number_parse(str, none, ARRAY_SIZE(none), out);
}

int parse_mode(const char *str, uint32_t *out)
{
	uint32_t value = 0;
	size_t n;

	/* chmod's customary leading zero is not one of the four digits */
	if (str[0] == '0' && str[1])
		str++;
	for (n = 0; str[n]; n++) {
		if (n == 4 || str[n] < '0' || str[n] > '7')
			return -EINVAL;
		value = value << 3 | (uint32_t)(str[n] - '0');
	}
	if (!n)
		return -EINVAL;
	if (value & ~0777u)
		return -EPERM;
	*out = value;
	return 0;
}

int parse_path_arg(const char *arg, char *node, size_t nodelen, char *dev, size_t devlen)
{
	const char *colon = strchr(arg, ':');
	size_t n;

	if (!colon || colon == arg || !colon[1])
		return -EINVAL;
	n = (size_t)(colon - arg);
	if (n >= nodelen || strlen(colon + 1) >= devlen)
		return -ENAMETOOLONG;
	memcpy(node, arg, n);
	node[n] = '\0';
	strcpy(dev, colon + 1);
	return 0;
}

/* Terminal columns, counting each UTF-8 sequence once. */
static size_t text_width(const char *s)
{
	size_t width = 0;

	for (; *s; s++)
		width += ((unsigned char)*s & 0xc0) != 0x80;
	return width;
}

int table_init(struct table *t, const struct table_column *columns, size_t ncolumns)
{
	size_t i;

	*t = (struct table){ .columns = columns, .ncolumns = ncolumns };
	if (!ncolumns || ncolumns > TABLE_COLUMNS_MAX)
		return -EINVAL;
	t->widths = calloc(ncolumns, sizeof(*t->widths));
	if (!t->widths)
		return -ENOMEM;
	for (i = 0; i < ncolumns; i++)
		t->widths[i] = columns[i].header ? text_width(columns[i].header) : 0;
	return 0;
}

/* Labels and names come from devices and other nodes; a stray escape
 * sequence must not reach the terminal. */
static char *cell_dup(const char *s)
{
	char *copy = strdup(s);
	char *p;

	if (!copy)
		return NULL;
	for (p = copy; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return copy;
}

int table_add_row(struct table *t, const char *const *cells)
{
	char **row;
	size_t i, width;

	if (t->nrows == t->capacity) {
		size_t capacity = t->capacity ? 2 * t->capacity : 8;
		char **grown = reallocarray(t->cells, capacity * t->ncolumns, sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		t->cells = grown;
		t->capacity = capacity;
	}
	row = t->cells + t->nrows * t->ncolumns;
	for (i = 0; i < t->ncolumns; i++) {
		row[i] = cell_dup(cells[i]);
		if (!row[i])
			goto err_free_row;
	}
	for (i = 0; i < t->ncolumns; i++) {
		width = text_width(row[i]);
		if (width > t->widths[i])
			t->widths[i] = width;
	}
	t->nrows++;
	return 0;

err_free_row:
	while (i--)
		free(row[i]);
	return -ENOMEM;
}

int table_add(struct table *t, ...)
{
	const char *cells[TABLE_COLUMNS_MAX + 1];
	size_t n = 0;
	va_list ap;

	va_start(ap, t);
	do
		cells[n] = va_arg(ap, const char *);
	while (cells[n] && ++n <= TABLE_COLUMNS_MAX);
	va_end(ap);
	return n == t->ncolumns ? table_add_row(t, cells) : -EINVAL;
}

static void row_print(const struct table *t, const char *const *cells, const char *gap, FILE *out)
{
	size_t i, pad;
	bool last;

	for (i = 0; i < t->ncolumns; i++) {
		pad = t->widths[i] - text_width(cells[i]);
		last = i + 1 == t->ncolumns;
		if (i)
			fputs(gap, out);
		if (t->columns[i].right)
			fprintf(out, "%*s", (int)pad, "");
		fputs(cells[i], out);
		/* no trailing blanks after the last column */
		if (!t->columns[i].right && !last)
			fprintf(out, "%*s", (int)pad, "");
	}
	fputc('\n', out);
}

void table_print(const struct table *t, FILE *out)
{
	const char *headers[TABLE_COLUMNS_MAX];
	bool headed = t->columns[0].header;
	/* Headed tables are read across, so they get a wider gap; headless
	 * listings follow ls -l. */
	const char *gap = headed ? "  " : " ";
	size_t i;

	if (headed) {
		for (i = 0; i < t->ncolumns; i++)
			headers[i] = t->columns[i].header;
		row_print(t, headers, gap, out);
	}
	for (i = 0; i < t->nrows; i++)
		row_print(t, (const char *const *)t->cells + i * t->ncolumns, gap, out);
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncolumns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->widths);
	*t = (struct table){ 0 };
}
