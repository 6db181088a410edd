// SPDX-License-Identifier: MIT
#include "config.h"

#include "vhostnet.h"
#include "net.h"

#include <endian.h>
#include <errno.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define VHOSTNET_QUEUES 2

/* What the kernel must take for the device to run: the ring and header features. */
#define KERNEL_FEATURES                                                                            \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF))

struct vhostnet {
	struct vhost_dev vd;
	struct vhostnet_config cfg;
	struct virtio_net_config config; /* little-endian, as the driver reads it */
	uint64_t offered;
};

static int set_backend(struct vhost *v, int fd)
{
	for (unsigned int i = 0; i < VHOSTNET_QUEUES; i++) {
		struct vhost_vring_file f = { .index = i, .fd = fd };
		int ret = vhost_call(v, VHOST_NET_SET_BACKEND, &f, "VHOST_NET_SET_BACKEND", 0);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int backend_start(void *opaque, struct vhost *v)
{
	return set_backend(v, ((struct vhostnet *)opaque)->cfg.tap_fd);
}

static int backend_stop(void *opaque, struct vhost *v)
{
	(void)opaque;
	return set_backend(v, -1);
}

static const struct vhost_backend_ops vhostnet_backend = {
	.start = backend_start,
	.stop = backend_stop,
};

static void vhostnet_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vhostnet *n = dev;

	memcpy(buf, (const uint8_t *)&n->config + offset, len);
}

static int vhostnet_activate(void *dev, uint64_t features)
{
	struct vhostnet *n = dev;

	if (n->cfg.set_offloads) {
		int ret = n->cfg.set_offloads(n->cfg.opaque, net_tun_flags(features));

		/* The tap would hand the guest frames it did not ask for. */
		if (ret < 0) {
			log_limited(&n->vd.rl, LOG_LVL_ERROR,
				    "%s: the tap refused the offloads the driver accepted: %s",
				    n->cfg.name, strerror(-ret));
			return ret;
		}
	}
	return vhost_dev_activate(&n->vd, features);
}

/* Kicks go to the kernel; none comes here. */
static void vhostnet_notify(void *dev, unsigned int index)
{
	(void)dev;
	(void)index;
}

static void vhostnet_reset(void *dev)
{
	vhost_dev_reset(&((struct vhostnet *)dev)->vd);
}

static const struct virtio_device_ops vhostnet_ops = {
	.config_read = vhostnet_config_read,
	.activate = vhostnet_activate,
	.notify = vhostnet_notify,
	.reset = vhostnet_reset,
};

void vhostnet_device(struct vhostnet *n, struct virtio_device_info *info,
		     const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_NET,
		.features = n->offered,
		.nr_queues = VHOSTNET_QUEUES,
		.queue_max = VHOSTNET_QUEUE_SIZE,
		.config_size = offsetof(struct virtio_net_config, mtu),
		.name = n->cfg.name,
	};
	*ops = &vhostnet_ops;
}

int vhostnet_suspend(struct vhostnet *n)
{
	return vhost_dev_suspend(&n->vd);
}

int vhostnet_resume(struct vhostnet *n)
{
	return vhost_dev_resume(&n->vd);
}

void vhostnet_attach(struct vhostnet *n, const struct virtio_transport *tr)
{
	n->vd.tr = *tr;
}

struct vhost_dev *vhostnet_vhost(struct vhostnet *n)
{
	return &n->vd;
}

int vhostnet_create(struct vhostnet **out, struct vhost *vhost, const struct vhostnet_config *cfg,
		    const struct gmem *mem)
{
	struct vhostnet *n = calloc(1, sizeof(*n));
	int ret;

	*out = NULL;
	if (!n) {
		vhost_destroy(vhost);
		return -ENOMEM;
	}
	n->cfg = *cfg;
	ret = vhost_dev_init(&n->vd, vhost, mem, VHOSTNET_QUEUES, cfg->name, &vhostnet_backend, n);
	if (ret < 0) {
		free(n);
		return ret;
	}
	/*
	 * The ring and header features where the kernel has them; the offloads
	 * are the tap's (the kernel passes the header through). Never
	 * VHOST_NET_F_VIRTIO_NET_HDR: the tap has the header.
	 */
	n->offered = (vhost_features(vhost) & KERNEL_FEATURES) | (1ULL << VIRTIO_NET_F_MAC) |
		     (1ULL << VIRTIO_NET_F_STATUS) | (cfg->offloads & NET_OFFLOADS);
	memcpy(n->config.mac, cfg->mac, 6);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	*out = n;
	return 0;
}

void vhostnet_destroy(struct vhostnet *n)
{
	if (!n)
		return;
	vhost_dev_fini(&n->vd);
	free(n);
}
