// SPDX-License-Identifier: MIT
#include "config.h"

#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct chardev {
	int fd; /* -1: discard */
	int owned;
	int socket; /* written with send(MSG_DONTWAIT): its flags are shared */
	_Atomic uint64_t dropped;
};

int chardev_parse(const char *s, struct chardev_spec *out)
{
	if (strcmp(s, "stdio") == 0) {
		*out = (struct chardev_spec){ .kind = CHARDEV_STDIO };
	} else if (strcmp(s, "none") == 0 || strcmp(s, "null") == 0) {
		*out = (struct chardev_spec){ .kind = CHARDEV_NONE };
	} else if (strncmp(s, "file:", 5) == 0 && s[5]) {
		*out = (struct chardev_spec){ .kind = CHARDEV_FILE, .path = s + 5 };
	} else {
		return -EINVAL;
	}
	return 0;
}

static int is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * Standard output may be a pipe or terminal shared with other processes.
 * Setting O_NONBLOCK on it would change it for them too, so open a second
 * description of the same object through /proc and make only that one
 * non-blocking. Regular files never block and keep using fd 1 (and its
 * offset); sockets cannot be reopened, and are written with MSG_DONTWAIT.
 */
static int open_stdout(void)
{
	struct stat st;
	int fd;

	if (fstat(STDOUT_FILENO, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd >= 0)
			return fd;
		return -errno;
	}
	fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static int new_chardev(struct chardev **out, int fd, int owned)
{
	struct chardev *cd = calloc(1, sizeof(*cd));

	if (!cd)
		return -ENOMEM;
	cd->fd = fd;
	cd->owned = owned;
	cd->socket = fd >= 0 && is_socket(fd);
	*out = cd;
	return 0;
}

int chardev_open(struct chardev **out, const struct chardev_spec *spec)
{
	int fd = -1, ret;

	switch (spec->kind) {
	case CHARDEV_NONE:
		break;
	case CHARDEV_STDIO:
		fd = open_stdout();
		if (fd < 0)
			return fd;
		break;
	case CHARDEV_FILE:
		fd = open(spec->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
		if (fd < 0)
			return -errno;
		break;
	case CHARDEV_SOCKET:
		/* A listening socket has clients, not one output: see chardev_sock_open(). */
		return -EINVAL;
	}
	ret = new_chardev(out, fd, 1);
	if (ret < 0 && fd >= 0)
		close(fd);
	return ret;
}

int chardev_open_fd(struct chardev **out, int fd)
{
	return new_chardev(out, fd, 0);
}

void chardev_close(struct chardev *cd)
{
	if (!cd)
		return;
	if (cd->owned && cd->fd >= 0)
		close(cd->fd);
	free(cd);
}

void chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	const char *p = buf;

	if (cd->fd < 0)
		return;
	while (len) {
		ssize_t n = cd->socket ? send(cd->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL)
				       : write(cd->fd, p, len);

		if (n <= 0) {
			/*
			 * EAGAIN, EPIPE, ENOSPC...: the host side cannot take
			 * it. EINTR too: a vCPU being stopped must not retry.
			 */
			atomic_fetch_add(&cd->dropped, len);
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

uint64_t chardev_dropped(const struct chardev *cd)
{
	return atomic_load(&cd->dropped);
}
