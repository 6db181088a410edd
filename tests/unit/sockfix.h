/* SPDX-License-Identifier: MIT */
/* For tests of ember's listening sockets: an event loop run dry, and a client connected. */
#ifndef EMBER_TEST_SOCKFIX_H
#define EMBER_TEST_SOCKFIX_H

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/evloop.h"
#include "unit.h"

/* Runs the loop's handlers until none is ready for 20 ms. */
static inline void sockfix_run(struct evloop *loop)
{
	while (evloop_run_once(loop, 20) > 0)
		;
}

/* A client connected to the socket at `path`, and the loop run so that ember takes it. */
static inline int sockfix_connect(struct evloop *loop, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	sockfix_run(loop);
	return fd;
}

#endif
