/* SPDX-License-Identifier: MIT */
/*
 * A tap interface for virtio-net: /dev/net/tun opened with IFF_TAP,
 * IFF_NO_PI and IFF_VNET_HDR (creating the interface when it does not exist
 * and the process may), or a tap descriptor handed over by a parent process.
 * Frames carry a 12-byte virtio_net_hdr_v1 in front. ember configures no
 * host addresses and runs no scripts.
 */
#ifndef EMBER_TAP_H
#define EMBER_TAP_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

struct tap {
	int fd; /* nonblocking */
	char ifname[IFNAMSIZ];
	unsigned int tun_offloads; /* TUN_F_* bits the tap accepts */
	int owned;		   /* opened here (closed by tap_close) rather than passed in */
};

/*
 * Opens the tap named `ifname`, or adopts `fd` (>= 0, then ifname may be
 * NULL). Returns 0, or a negative errno with a one-line message in `err`.
 */
int tap_open(struct tap *t, const char *ifname, int fd, char *err, size_t err_len);
void tap_close(struct tap *t);

/* TUNSETOFFLOAD with TUN_F_* bits (a subset of tun_offloads). 0 or -errno. */
int tap_set_offloads(struct tap *t, unsigned int tun_flags);

/* The VIRTIO_NET_F_* offload bits the tap can carry out, for the device to offer. */
uint64_t tap_virtio_offloads(const struct tap *t);

#endif
