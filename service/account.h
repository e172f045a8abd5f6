/*
 * Users and groups of this node, through NSS. getpw*_r and getgr*_r fail
 * with ERANGE when an entry does not fit the caller's buffer (a group with
 * many members); account_lookup() grows the buffer and asks again instead
 * of taking a large entry for a missing one.
 */
#ifndef VDISK_ACCOUNT_H
#define VDISK_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Looks up a user (user true) or a group by name, or by *id when name is
 * NULL. Returns 0 with the id in *id and, if name_out is not NULL, the name
 * in name_out (cut to namelen); -ENOENT if there is no such entry; another
 * -errno if the lookup itself failed.
 */
int account_lookup(bool user, const char *name, uint32_t *id, char *name_out, size_t namelen);

#endif
