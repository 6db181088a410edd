/* SPDX-License-Identifier: MIT */
/*
 * ember-net's relay for -netdev stream (net/relay.c): the virtio-net
 * device's socket on one side, a Unix stream socket (passt's) on the other.
 */
#ifndef EMBER_NET_RELAY_H
#define EMBER_NET_RELAY_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The 12-byte virtio-net header in front of each frame on the device's socket. */
#define RELAY_HDR_LEN 12
/* The largest frame either side may send: 64 KiB and an Ethernet header. */
#define RELAY_FRAME_MAX (65536 + 14)
/*
 * Bytes from the daemon that may wait for the guest. The daemon's socket is
 * read into this while the guest is slow, so the daemon (which drops a frame
 * its socket cannot take) sees room; only a full queue stops the reading.
 */
#define RELAY_QUEUE (4u << 20)

struct relay {
	const char *name, *path;
	unsigned int reconnect; /* seconds between attempts; 0: never */
	int dev, conn;		/* conn -1: not connected */
	/* From the daemon: q[(q_head + i) % RELAY_QUEUE] for i < q_len, framed as it sent them. */
	uint8_t *q;
	size_t q_head, q_len;
	bool dev_full; /* the device's socket took no more: wait for POLLOUT */
	time_t retry_at;
	time_t last_warn;
	FILE *log; /* where its messages go: stderr */
	/* For the daemon: out[out_off, out_len), one length and frame, not yet written. */
	size_t out_off, out_len;
	uint8_t out[4 + RELAY_FRAME_MAX]; /* last: relay_init clears what comes before */
};

/* A nonblocking connection to the Unix socket at path, or a negative errno. */
int relay_connect(const char *path);

/*
 * Sets up r between the device's socket `dev` (nonblocking) and the first
 * connection `conn` (-1: none yet); `reconnect` seconds between attempts once
 * it drops (0: never). Messages on stderr name `name` and `path`. 0, or
 * -ENOMEM.
 */
int relay_init(struct relay *r, int dev, int conn, const char *name, const char *path,
	       unsigned int reconnect);
/* Frees the queue and closes the connection (not dev). */
void relay_fini(struct relay *r);

/* What to poll for: p[0] the device's socket, p[1] the connection; the timeout in ms. */
int relay_events(struct relay *r, struct pollfd p[2]);
/* Acts on what poll returned in p; false once ember's end of dev has gone. */
bool relay_handle(struct relay *r, const struct pollfd p[2]);

/* relay_init, then polls and handles until ember closes `dev` (0) or poll fails (1). */
int relay_run(int dev, int conn, const char *name, const char *path, unsigned int reconnect);

#endif
