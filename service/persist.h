/*
 * Whole-file state storage that survives a crash at any point: a reader sees
 * either the old content or the new one, never a mix.
 */
#ifndef VDISK_PERSIST_H
#define VDISK_PERSIST_H

#include <stddef.h>

/*
 * Writes buf to dir/name atomically: writes dir/.name.tmp, fsyncs it, renames
 * it over dir/name and fsyncs dir. Creates dir (mode 0700, with parents) if
 * missing. The file gets mode 0600. On failure dir/name keeps its old content
 * and the temporary file is removed. name must be a plain file name (no '/',
 * not "." or ".."): -EINVAL otherwise. Returns 0 or -errno.
 */
int persist_write(const char *dir, const char *name, const void *buf, size_t len);

/*
 * Reads dir/name whole into a malloc'd buffer with a NUL after the last byte
 * (*len does not count it). Returns 0, -ENOENT if the file is absent, or
 * another -errno.
 */
int persist_read(const char *dir, const char *name, char **buf, size_t *len);

/* Same as persist_read for a path given whole (used for configuration files). */
int persist_read_file(const char *path, char **buf, size_t *len);

#endif
