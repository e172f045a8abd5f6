/*
 * vdisk-fence-pacemaker NODE SINCE NODEID: vdiskd's `[io] fence_command` for
 * a cluster that Pacemaker fences (vdiskd(8), DATA SAFETY).
 *
 * Exits 0 when Pacemaker's fencer reports a successful fencing of the node
 * with corosync nodeid NODEID completed at or after SINCE (seconds since the
 * epoch: when vdiskd saw the node join the membership last; a fencing since
 * then means it is off, or it would have joined again), 1 when it does not
 * (yet: vdiskd asks again a second later, and the node's disks wait), 2 on a
 * usage error or when Pacemaker's fencing library cannot be loaded.
 *
 * It asks the way DLM does: stonith_api_time() of libstonithd, by nodeid (so
 * the node's name in Pacemaker does not matter), the latest successful
 * fencing. The library is loaded at run time (dlopen), as Pacemaker's own
 * stonith_api_time_helper() does, so vdisk neither builds nor installs
 * against Pacemaker. It only asks: Pacemaker fences a node corosync lost by
 * itself (stonith-enabled=true and a fence device that covers it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* libstonithd's, <crm/stonith-ng.h>. */
typedef time_t (*stonith_api_time_fn)(uint32_t nodeid, const char *uname, bool in_progress);

/* Pacemaker 2.1 (Debian 12), then later sonames. */
static const char *const libraries[] = { "libstonithd.so.26", "libstonithd.so.56",
					 "libstonithd.so" };

static int number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return s[0] < '0' || s[0] > '9' || *end || errno || *out > max ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	stonith_api_time_fn api_time = NULL;
	uint64_t since, nodeid;
	void *lib = NULL;
	time_t last;
	size_t i;

	if (argc != 4 || !argv[1][0] || number(argv[2], INT64_MAX, &since) ||
	    number(argv[3], UINT32_MAX, &nodeid) || !nodeid) {
		fprintf(stderr, "usage: vdisk-fence-pacemaker NODE SINCE NODEID "
				"(SINCE: seconds since the epoch; NODEID: corosync's)\n");
		return 2;
	}
	for (i = 0; i < sizeof(libraries) / sizeof(libraries[0]) && !lib; i++)
		lib = dlopen(libraries[i], RTLD_NOW | RTLD_LOCAL);
	if (lib)
		api_time = (stonith_api_time_fn)dlsym(lib, "stonith_api_time");
	if (!api_time) {
		fprintf(stderr, "vdisk-fence-pacemaker: cannot load stonith_api_time from "
				"Pacemaker's libstonithd: %s\n", dlerror());
		return 2;
	}
	last = api_time((uint32_t)nodeid, NULL, false);
	return last > 0 && (uint64_t)last >= since ? 0 : 1;
}
