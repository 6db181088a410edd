/* SPDX-License-Identifier: MIT */
/*
 * Host-side output for guest character devices: stdout, a file, or nothing.
 * A write never blocks the caller (a vCPU thread): when the host side cannot
 * take more, the bytes are dropped and counted.
 */
#ifndef EMBER_CHARDEV_H
#define EMBER_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

enum chardev_kind {
	CHARDEV_NONE,	/* output discarded */
	CHARDEV_STDIO,	/* standard output */
	CHARDEV_FILE,	/* a file, created or truncated */
	CHARDEV_SOCKET, /* a Unix socket ember listens on (-chardev socket) */
};

struct chardev_spec {
	enum chardev_kind kind;
	const char *path; /* CHARDEV_FILE, CHARDEV_SOCKET */
};

/* Parses "stdio", "file:PATH", "none" or "null"; 0 or -EINVAL. */
int chardev_parse(const char *s, struct chardev_spec *out);

struct chardev;

int chardev_open(struct chardev **out, const struct chardev_spec *spec);
/* Also for an fd the caller owns (tests pass a pipe); ember never closes it. */
int chardev_open_fd(struct chardev **out, int fd);
void chardev_close(struct chardev *cd);

void chardev_write(struct chardev *cd, const void *buf, size_t len);
uint64_t chardev_dropped(const struct chardev *cd);

#endif
