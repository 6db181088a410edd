// SPDX-License-Identifier: MIT
#include "config.h"

#include "console.h"
#include "core/evloop.h"
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01
#define PENDING_MAX 4096

struct console {
	struct evloop *loop;
	struct console_ops ops;
	int in_fd; /* -1 once it reached EOF */
	int kick_fd;
	int tty_fd; /* the terminal to restore */
	bool tty;
	struct termios saved;
	bool escape;	      /* the last byte was Ctrl-A */
	bool paused;	      /* stdin not watched: the guest is full */
	_Atomic bool blocked; /* waiting for console_kick() */

	uint8_t pending[PENDING_MAX]; /* input the guest has not taken yet */
	size_t npending;
};

static const char help[] = "\r\n"
			   "C-a h    print this help\r\n"
			   "C-a x    exit ember\r\n"
			   "C-a C-a  send C-a to the guest\r\n";

static void watch_input(struct console *c, bool on)
{
	if (c->in_fd < 0 || c->paused == !on)
		return;
	if (evloop_mod(c->loop, c->in_fd, on ? EPOLLIN : 0) == 0)
		c->paused = !on;
}

/* Hands pending input to the guest until it is all taken or the guest is full. */
static void drain(struct console *c)
{
	while (c->npending) {
		size_t n = c->ops.feed(c->ops.opaque, c->pending, c->npending);

		if (n == 0) {
			/*
			 * Publish that we wait before the last try: a guest read
			 * that frees room after this store will kick us.
			 */
			atomic_store(&c->blocked, true);
			n = c->ops.feed(c->ops.opaque, c->pending, c->npending);
			if (n == 0) {
				watch_input(c, false);
				return;
			}
			atomic_store(&c->blocked, false);
		}
		memmove(c->pending, c->pending + n, c->npending - n);
		c->npending -= n;
	}
	c->ops.idle(c->ops.opaque);
	watch_input(c, true);
}

static void queue_byte(struct console *c, uint8_t b)
{
	if (c->npending < PENDING_MAX)
		c->pending[c->npending++] = b;
}

/* QEMU's escapes, on a terminal only: piped input passes through untouched. */
static void take_input(struct console *c, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];

		if (!c->tty) {
			queue_byte(c, b);
			continue;
		}
		if (!c->escape) {
			if (b == CTRL_A)
				c->escape = true;
			else
				queue_byte(c, b);
			continue;
		}
		c->escape = false;
		switch (b) {
		case 'x':
		case 'X':
			c->ops.quit(c->ops.opaque);
			return;
		case 'h':
		case 'H':
			if (write(STDERR_FILENO, help, sizeof(help) - 1) < 0)
				log_debug("console: cannot print help: %s", strerror(errno));
			break;
		case CTRL_A:
			queue_byte(c, CTRL_A);
			break;
		default:
			break; /* not an escape ember knows: dropped, as QEMU does */
		}
	}
}

static void on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint8_t buf[PENDING_MAX];
	ssize_t n;

	(void)events;
	/* Read no more than the buffer can keep: the rest waits in the kernel. */
	n = read(c->in_fd, buf, PENDING_MAX - c->npending);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input (or a hung-up terminal): the guest keeps running. */
		evloop_del(c->loop, c->in_fd);
		c->in_fd = -1;
		return;
	}
	take_input(c, buf, (size_t)n);
	drain(c);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t v;

	(void)events;
	if (read(c->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("console: reading the kick eventfd: %s", strerror(errno));
	drain(c);
}

void console_kick(struct console *c)
{
	uint64_t one = 1;

	if (atomic_exchange(&c->blocked, false) && write(c->kick_fd, &one, sizeof(one)) < 0)
		log_debug("console: kick: %s", strerror(errno));
}

static void restore_terminal(struct console *c)
{
	if (c->tty && tcsetattr(c->tty_fd, TCSADRAIN, &c->saved) < 0)
		log_warn("console: cannot restore the terminal: %s", strerror(errno));
	c->tty = false;
}

int console_open(struct console **out, struct evloop *loop, int in_fd,
		 const struct console_ops *ops)
{
	struct console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->ops = *ops;
	c->in_fd = in_fd;
	c->tty_fd = in_fd;
	c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->kick_fd < 0) {
		ret = -errno;
		free(c);
		return ret;
	}
	if (isatty(in_fd) && tcgetattr(in_fd, &c->saved) == 0) {
		struct termios raw = c->saved;

		/* Every key, Ctrl-C included, goes to the guest; output is the guest's own. */
		cfmakeraw(&raw);
		if (tcsetattr(in_fd, TCSADRAIN, &raw) == 0)
			c->tty = true;
	}
	ret = evloop_add(loop, c->kick_fd, EPOLLIN, on_kick, c);
	if (ret == 0) {
		ret = evloop_add(loop, in_fd, EPOLLIN, on_input, c);
		/* A regular file or /dev/null cannot be polled: it has no input to give. */
		if (ret == -EPERM) {
			c->in_fd = -1;
			ret = 0;
		}
	}
	if (ret < 0) {
		console_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

void console_close(struct console *c)
{
	if (!c)
		return;
	restore_terminal(c);
	if (c->in_fd >= 0)
		evloop_del(c->loop, c->in_fd);
	evloop_del(c->loop, c->kick_fd);
	close(c->kick_fd);
	free(c);
}
