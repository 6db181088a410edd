/* SPDX-License-Identifier: MIT */
/*
 * virtio-net with its data path in the kernel's vhost-net (-netdev
 * tap,...,vhost=on): receive (0) and transmit (1) served by /dev/vhost-net
 * over the tap (VHOST_NET_SET_BACKEND), no control queue. The tap carries
 * the 12-byte virtio_net_hdr_v1, as for ember's own virtio-net (virtio/net.h),
 * so the kernel passes the header through and the offloads the driver
 * accepts go to the tap (TUNSETOFFLOAD). Configuration space: the MAC and
 * the link status, always up. Frames never pass through ember.
 */
#ifndef EMBER_VIRTIO_VHOSTNET_H
#define EMBER_VIRTIO_VHOSTNET_H

#include <stdint.h>

#include "core/gmem.h"
#include "vhost.h"
#include "virtio.h"

#define VHOSTNET_QUEUE_SIZE 256

struct vhostnet;

struct vhostnet_config {
	int tap_fd; /* the device does not close it */
	uint8_t mac[6];
	/* VIRTIO_NET_F_{CSUM,GUEST_*,HOST_*} bits the tap can carry out. */
	uint64_t offloads;
	/* Tells the tap which offloads the driver accepted (TUN_F_* bits); may be NULL. */
	int (*set_offloads)(void *opaque, unsigned int tun_flags);
	void *opaque;
	const char *name; /* must outlive the device */
};

/*
 * A device over `vhost` (taken: destroyed with the device, or here on
 * failure) in `mem`. 0, or -ENOMEM.
 */
int vhostnet_create(struct vhostnet **out, struct vhost *vhost, const struct vhostnet_config *cfg,
		    const struct gmem *mem);
/* The transport must be destroyed (which resets the device) first. NULL is fine. */
void vhostnet_destroy(struct vhostnet *n);

void vhostnet_device(struct vhostnet *n, struct virtio_device_info *info,
		     const struct virtio_device_ops **ops);
void vhostnet_attach(struct vhostnet *n, const struct virtio_transport *tr);
/* Its kernel queues, for their descriptors and the kernel's calls and errors. */
struct vhost_dev *vhostnet_vhost(struct vhostnet *n);

/*
 * Around a snapshot of a paused guest, as vsock_suspend() and
 * vsock_resume(): vhostnet_suspend() before virtio_mmio_save() of the
 * device's transport, vhostnet_resume() after it if the guest goes on.
 * vhost_dev_suspend() and vhost_dev_resume() say what they do and return.
 * The tap keeps its offloads meanwhile.
 */
int vhostnet_suspend(struct vhostnet *n);
int vhostnet_resume(struct vhostnet *n);

#endif
