/* SPDX-License-Identifier: MIT */
/*
 * The host end of the guest's serial console: standard input feeds the
 * guest, with backpressure (input waits in a bounded buffer, and stdin is
 * not read while the guest's FIFO is full). When stdin is a terminal it is
 * put in raw mode, restored on close, and QEMU's escapes apply: Ctrl-A x
 * quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends Ctrl-A.
 *
 * Everything runs on the event-loop thread except console_kick().
 */
#ifndef EMBER_CONSOLE_H
#define EMBER_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct evloop;

struct console_ops {
	/* Offers input to the guest; returns the bytes it took. */
	size_t (*feed)(void *opaque, const uint8_t *buf, size_t len);
	/* Nothing more is queued for now. */
	void (*idle)(void *opaque);
	/* The user asked to quit (Ctrl-A x). */
	void (*quit)(void *opaque);
	void *opaque;
};

struct console;

int console_open(struct console **out, struct evloop *loop, int in_fd,
		 const struct console_ops *ops);
/* Restores the terminal and stops reading. */
void console_close(struct console *c);

/* The guest made room for input: resume feeding. Any thread; cheap when not blocked. */
void console_kick(struct console *c);

#endif
