/* See account.h. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "account.h"

/* No real entry comes near; a bound keeps a broken NSS module from making
 * the daemon allocate without end. */
#define ACCOUNT_BUF_MAX (1024 * 1024)

/* One attempt with a buffer of len bytes: 0, -ENOENT, -ERANGE or -errno. */
static int lookup_once(bool user, const char *name, uint32_t *id, char *name_out, size_t namelen,
		       char *buf, size_t len)
{
	struct passwd pw, *pwres = NULL;
	struct group gr, *grres = NULL;
	const char *found;
	int rc;

	if (user)
		rc = name ? getpwnam_r(name, &pw, buf, len, &pwres)
			  : getpwuid_r(*id, &pw, buf, len, &pwres);
	else
		rc = name ? getgrnam_r(name, &gr, buf, len, &grres)
			  : getgrgid_r(*id, &gr, buf, len, &grres);
	if (rc)
		return -rc;
	if (user ? !pwres : !grres)
		return -ENOENT;
	*id = user ? pw.pw_uid : gr.gr_gid;
	found = user ? pw.pw_name : gr.gr_name;
	if (name_out)
		snprintf(name_out, namelen, "%s", found);
	return 0;
}

int account_lookup(bool user, const char *name, uint32_t *id, char *name_out, size_t namelen)
{
	long hint = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	size_t len = hint > 0 ? (size_t)hint : 1024;
	char *buf;
	int rc;

	for (;;) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		rc = lookup_once(user, name, id, name_out, namelen, buf, len);
		free(buf);
		if (rc != -ERANGE || len >= ACCOUNT_BUF_MAX)
			return rc;
		len *= 2;
	}
}
