#include "args.h"

#include <errno.h>
#include <string.h>

#include <vdisk/syntax.h>

#include "format.h"

int arg_copy(char *dst, size_t size, const char *value, const char *what)
{
	if (strlen(value) >= size) {
		complain("%s '%s' is too long (at most %zu characters)", what, value, size - 1);
		return -ENAMETOOLONG;
	}
	strcpy(dst, value);
	return 0;
}

int name_fill(char *dst, const char *value)
{
	char err[256];
	int ret = vdisk_name_check(value, err, sizeof(err));

	if (ret) {
		complain("%s", err);
		return ret;
	}
	strcpy(dst, value);
	return 0;
}

int opt_size_get(const struct cli *cli, uint64_t max, uint64_t *out)
{
	const char *arg = cli->opt[CO_SIZE];
	uint64_t size;
	int ret;

	if (!(cli->given & CO_BIT(CO_SIZE)))
		return 0;
	ret = parse_size(arg, &size);
	if (ret == -ERANGE)
		complain("--size '%s' is too large", arg);
	else if (ret)
		complain("--size '%s': expected bytes, optionally with K, M, G, T or P", arg);
	if (ret)
		return ret;
	if (size > max) {
		complain("--size '%s' is too large (at most %llu bytes)", arg,
			 (unsigned long long)max);
		return -ERANGE;
	}
	*out = size;
	return 0;
}

int opt_uint_get(const struct cli *cli, enum cmd_opt opt, uint32_t min, uint32_t max,
		 uint32_t *out)
{
	const char *arg = cli->opt[opt];
	uint64_t value;

	if (!(cli->given & CO_BIT(opt)))
		return 0;
	if (parse_uint(arg, &value) || value < min || value > max) {
		complain("%s '%s': expected a whole number from %u to %u", cmd_opts[opt].name,
			 arg, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)value;
	return 0;
}
