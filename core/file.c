// SPDX-License-Identifier: MIT
#include "config.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_regular(const char *path, uint64_t max, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	/* Set on every path: a static analyzer cannot tell that -errno is negative. */
	*size = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int file_size(const char *path, uint64_t max, uint64_t *size)
{
	int fd = open_regular(path, max, size);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int read_full(int fd, uint8_t *dst, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, dst + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank */
		done += (size_t)n;
	}
	return 0;
}

int file_read_all(const char *path, uint64_t max, uint8_t **data, size_t *size)
{
	uint64_t len;
	uint8_t *buf;
	int fd = open_regular(path, max, &len), ret;

	if (fd < 0)
		return fd;
	buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	ret = read_full(fd, buf, len);
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*data = buf;
	*size = len;
	return 0;
}

int file_read_into(const char *path, void *dst, size_t size)
{
	uint64_t len;
	int fd = open_regular(path, UINT64_MAX, &len), ret;

	if (fd < 0)
		return fd;
	ret = len < size ? -EIO : read_full(fd, dst, size);
	close(fd);
	return ret;
}

const char *file_strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		return "too large";
	case -EIO:
		return "the file changed while it was read";
	default:
		return strerror(-err);
	}
}
