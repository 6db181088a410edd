// SPDX-License-Identifier: MIT
#include "config.h"

#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

const char *scratch_base(void)
{
	const char *t = getenv("TMPDIR");

	return t && t[0] ? t : "/tmp";
}

static int name(char *path, size_t size, const char *base, const char *prefix)
{
	int n = snprintf(path, size, "%s/%sXXXXXX", base, prefix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int scratch_file(char *path, size_t size, const char *prefix)
{
	int fd, ret = name(path, size, scratch_base(), prefix);

	if (ret < 0)
		return ret;
	fd = mkostemp(path, O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int scratch_dir_in(char *path, size_t size, const char *base, const char *prefix)
{
	int ret = name(path, size, base, prefix);

	if (ret < 0)
		return ret;
	return mkdtemp(path) ? 0 : -errno;
}

int scratch_dir(char *path, size_t size, const char *prefix)
{
	return scratch_dir_in(path, size, scratch_base(), prefix);
}
