/*
 * libFuzzer target for the vdisk.conf parser. Beyond not crashing, a text the
 * parser accepts must leave a configuration that satisfies its invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void config_assert(const struct vdisk_config *cfg)
{
	const char *const paths[] = {cfg->state_dir, cfg->run_dir, cfg->nbd_socket,
				     cfg->ndfs_mount};
	char host[VDISK_LISTEN_MAX + 1];
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i][0] != '/')
			abort();
	if (strlen(cfg->nbd_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		abort();
	if (strcmp(cfg->authkey, "none") && cfg->authkey[0] != '/')
		abort();
	if (!cfg->ipc_name[0] || !cfg->port)
		abort();
	if (cfg->heartbeat_timeout_ms <= cfg->heartbeat_interval_ms)
		abort();
	if (cfg->nbd_listen[0] && config_listen_split(cfg->nbd_listen, host, sizeof(host), &port))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdisk_config cfg;
	char err[256];

	config_init(&cfg);
	if (config_parse(&cfg, (const char *)data, size, "fuzz.conf", err, sizeof(err)) == 0)
		config_assert(&cfg);
	else if (strncmp(err, "fuzz.conf:", 10))
		abort();
	return 0;
}
