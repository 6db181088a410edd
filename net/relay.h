/* SPDX-License-Identifier: MIT */
/*
 * ember-net's relay for -netdev stream (net/relay.c): the virtio-net
 * device's socket on one side, a Unix stream socket (passt's) on the other.
 */
#ifndef EMBER_NET_RELAY_H
#define EMBER_NET_RELAY_H

/* A nonblocking connection to the Unix socket at path, or a negative errno. */
int relay_connect(const char *path);

/*
 * Relays until ember closes `dev` (returns 0) or poll fails (1). `conn` is
 * the first connection (-1: none yet); `reconnect` seconds between attempts
 * once it drops (0: never). Messages on stderr name `name` and `path`.
 */
int relay_run(int dev, int conn, const char *name, const char *path, unsigned int reconnect);

#endif
