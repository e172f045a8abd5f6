/*
 * The syntax of what an administrator types, shared by vdiskctl (a bad
 * name or device spec is a usage error, refused before anything is sent)
 * and vdiskd (which does not trust its clients). Header-only: the CLI links
 * none of the daemon. Pure; any thread.
 */
#ifndef VDISK_SYNTAX_H
#define VDISK_SYNTAX_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <vdisk/ctl.h>

/* A disk name: 0, or -EINVAL with the reason in err. */
static inline int vdisk_name_check(const char *name, char *err, size_t errlen)
{
	size_t i, len = strnlen(name, VDISK_NAME_MAX + 1);

	if (len == 0) {
		snprintf(err, errlen, "invalid disk name '': a name must not be empty");
		return -EINVAL;
	}
	if (len > VDISK_NAME_MAX) {
		snprintf(err, errlen, "invalid disk name '%.*s...': longer than %d characters",
			 16, name, VDISK_NAME_MAX);
		return -EINVAL;
	}
	/* Names are CMAP key components, NBD export names and file names:
	 * letters, digits, '_' and '-' keep them valid in all three. */
	for (i = 0; i < len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (alnum || (i > 0 && (c == '_' || c == '-')))
			continue;
		snprintf(err, errlen, "invalid disk name '%s': use letters, digits, '_' and '-', "
			 "starting with a letter or digit", name);
		return -EINVAL;
	}
	return 0;
}

/*
 * A device spec (an absolute path, UUID=value, LABEL=value or
 * PARTUUID=value), without looking at the system. 0 or -EINVAL: empty,
 * longer than VDISK_DEVICE_MAX, a control character, a relative path, an
 * unknown TAG= or an empty tag value.
 */
static inline int vdisk_device_spec_check(const char *spec)
{
	static const char *const tags[] = { "UUID", "LABEL", "PARTUUID" };
	size_t i, len = strnlen(spec, VDISK_DEVICE_MAX + 1);
	const char *eq;

	if (!len || len > VDISK_DEVICE_MAX)
		return -EINVAL;
	/* Specs end up in CMAP keys' values, JSON and log lines. */
	for (i = 0; i < len; i++)
		if ((unsigned char)spec[i] < ' ' || spec[i] == 0x7f)
			return -EINVAL;
	if (spec[0] == '/')
		return 0;
	eq = strchr(spec, '=');
	if (!eq || !eq[1])
		return -EINVAL;
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strlen(tags[i]) == (size_t)(eq - spec) && !memcmp(spec, tags[i], (size_t)(eq - spec)))
			return 0;
	return -EINVAL;
}

#endif
