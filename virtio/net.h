/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x section 5.1): a receive and a transmit queue over a
 * packet descriptor: a tap opened with IFF_VNET_HDR (net/tap.h), or in tests
 * one end of a SOCK_SEQPACKET socketpair. Every frame on the descriptor
 * carries a 12-byte virtio_net_hdr_v1 in front, the same header the guest
 * uses, so checksum and segmentation offloads pass straight through.
 *
 * Receive: a frame is read from the descriptor into one staging buffer, then
 * copied into the guest's buffers (several with MRG_RXBUF). With no buffers
 * posted, the frame waits there and ember stops reading the descriptor until
 * the driver kicks the receive queue: at most one frame is ever held.
 * Transmit: each chain is written as one frame. A frame with no room on the
 * descriptor waits for it to become writable; one that fails otherwise
 * (EIO with the link down, EINVAL) or is malformed (shorter than the header,
 * longer than 64 KiB after it) is dropped and counted. The queue never sticks.
 */
#ifndef EMBER_VIRTIO_NET_H
#define EMBER_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "virtio.h"

#define NET_QUEUE_SIZE 256
#define NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define NET_MAX_FRAME (65536 + NET_HDR_LEN)
/*
 * Frames sent per event-loop turn (one kick, one writable event, one
 * resume) at most, so that a guest that keeps its transmit queue full does
 * not keep the loop from the console, the other devices and signals.
 */
#define NET_TX_BUDGET 64

/* The offloads a device may offer, where its backend can carry them out. */
#define NET_OFFLOADS                                                                               \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |                         \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) |                     \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |                     \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO))

struct net;

/* The TUN_F_* bits (TUNSETOFFLOAD) for the GUEST_* offloads a driver accepted. */
unsigned int net_tun_flags(uint64_t features);

struct net_config {
	int fd; /* nonblocking; one frame per read and write; the device does not close it */
	uint8_t mac[6];
	/* VIRTIO_NET_F_{CSUM,GUEST_*,HOST_*} bits the descriptor can carry out. */
	uint64_t offloads;
	/*
	 * Tells the backend which offloads the driver accepted (TUN_F_* bits,
	 * for TUNSETOFFLOAD); NULL when there is nothing to tell.
	 */
	int (*set_offloads)(void *opaque, unsigned int tun_flags);
	/* Which of EPOLLIN / EPOLLOUT the device wants on fd now. */
	void (*watch)(void *opaque, uint32_t events);
	void *opaque;
	const char *name; /* for log lines: "virtio-net eth0" */
};

struct net_stats {
	uint64_t rx_frames;
	uint64_t tx_frames;
	uint64_t rx_dropped; /* too big for the buffers or to read, or shorter than the header */
	uint64_t tx_dropped; /* malformed, or refused by the descriptor */
	uint64_t tx_errors;  /* of those, refused by the descriptor */
};

int net_create(struct net **out, const struct net_config *cfg);
/* The transport must be destroyed (which resets the device) first. */
void net_destroy(struct net *n);

void net_device(struct net *n, struct virtio_device_info *info,
		const struct virtio_device_ops **ops);
void net_attach(struct net *n, const struct virtio_transport *tr);

/* fd is ready (`events` from epoll); takes the transport lock. */
void net_backend_event(struct net *n, uint32_t events);
/*
 * Whether the descriptor failed for good (a deleted tap): its owner should
 * stop watching it, as epoll keeps reporting an error on it. Transmitted
 * frames are then dropped and counted; the guest's queues keep moving.
 */
bool net_backend_dead(struct net *n);

/*
 * Readable when the device stopped at its per-turn budget with frames left
 * to send; the owner then calls net_resume() from the event loop, which
 * sends the next turn's share. Owned by the device.
 */
int net_resume_fd(const struct net *n);
/* Takes the transport lock; from the event loop thread. */
void net_resume(struct net *n);

void net_get_stats(struct net *n, struct net_stats *out);

#endif
