/* SPDX-License-Identifier: MIT */
/*
 * A listening Unix stream socket as the host end of a guest port
 * (-chardev socket,path=PATH,server=on,wait=off). One client at a time:
 * while one is connected the listener is not watched, and the next waits
 * in the backlog until the first goes.
 *
 * Nothing is buffered beyond a small input piece. Output goes straight to
 * the client with a non-blocking send; what it does not take is the
 * caller's to keep, and writable() says when to try again. Input is read
 * a piece at a time and offered to input(); what the guest does not take
 * waits here, and the socket is not read again until chsock_input_ready().
 * So a client that reads nothing stalls the port, never ember, and a guest
 * that reads nothing stalls the client.
 *
 * Everything runs on the event loop thread (or before it starts).
 */
#ifndef EMBER_CHSOCK_H
#define EMBER_CHSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;

#define CHSOCK_INPUT_PIECE 4096 /* bytes read from the client at a time */

struct chsock_ops {
	/* Offers client input to the guest; returns the bytes it took (0..len). */
	size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
	/* Output that was refused may be tried again. */
	void (*writable)(void *opaque);
	/* A client connected (true) or went away (false). */
	void (*connected)(void *opaque, bool up);
	void *opaque;
};

struct chsock;

/*
 * Listens on `path` (an old socket file there is replaced, as QEMU does) and
 * watches it on `loop`. 0, -ENAMETOOLONG for a path sun_path cannot hold,
 * or the negative errno of socket, bind, listen or evloop_add.
 */
int chsock_open(struct chsock **out, const char *path, struct evloop *loop,
		const struct chsock_ops *ops);
/* Drops the client, stops listening and removes the socket file. NULL is fine. */
void chsock_close(struct chsock *s);

/*
 * Sends to the client without blocking. Returns the bytes it took; fewer
 * than `len` means the socket is full (writable() follows) or no client is
 * connected (the bytes are the caller's to drop: a guest is told of the
 * disconnection, and what it wrote meanwhile has no reader).
 */
size_t chsock_write(struct chsock *s, const void *buf, size_t len);

/*
 * For a last message when the event loop no longer runs: sends like
 * chsock_write(), waiting up to `timeout_ms` in all for the client to take
 * it. Returns the bytes it took.
 */
size_t chsock_write_wait(struct chsock *s, const void *buf, size_t len, int timeout_ms);

/* The guest has room for input again: offer what waits, and read on. */
void chsock_input_ready(struct chsock *s);

bool chsock_connected(const struct chsock *s);

#endif
