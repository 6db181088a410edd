// SPDX-License-Identifier: MIT
#include "config.h"

#include "testhooks.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static uint64_t hooks_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)opaque;
	(void)offset;
	(void)size;
	return TESTHOOKS_MAGIC;
}

/* Unconfined, each call fails or succeeds harmlessly and the guest goes on. */
static void hooks_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	char *const argv[] = { NULL };
	int fd;

	(void)opaque;
	(void)offset;
	(void)size;
	switch (value) {
	case TESTHOOKS_OPEN:
		/*
		 * Not close-on-exec: O_RDONLY | O_CLOEXEC is malloc's own open, which
		 * the sandbox fails with EACCES instead of ending ember.
		 */
		fd = open("/etc/passwd", O_RDONLY | O_NOCTTY);
		log_warn("test hook: open(/etc/passwd): %s", fd < 0 ? strerror(errno) : "opened");
		if (fd >= 0)
			close(fd);
		break;
	case TESTHOOKS_EXEC:
		execve("/nonexistent/ember-test-hook", argv, argv);
		log_warn("test hook: execve: %s", strerror(errno));
		break;
	default:
		break;
	}
}

static const struct bus_ops hooks_ops = {
	.read = hooks_read,
	.write = hooks_write,
	.min_access = 1,
	.max_access = 1,
};

int testhooks_register(struct bus *pio)
{
	return bus_register(pio, TESTHOOKS_PORT, 1, &hooks_ops, NULL, "ember-test-hooks");
}
