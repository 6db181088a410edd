// SPDX-License-Identifier: MIT
#include "config.h"

#include "vsock.h"
#include "virtq.h"
#include "core/clock.h"
#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define VSOCK_RX 0
#define VSOCK_TX 1
#define VSOCK_NR_QUEUES 3 /* rx, tx, event */
#define VSOCK_KERNEL_QUEUES 2

/* What the device offers, where the kernel offers it too. */
#define VSOCK_FEATURES                                                                             \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_VSOCK_F_SEQPACKET))

struct vsock {
	struct vhost *vhost;
	const struct gmem *mem;
	const char *name;
	uint64_t cid;
	struct virtio_transport tr;
	struct vhost_queue_fds fds[VSOCK_KERNEL_QUEUES];
	bool running;
	struct ratelimit rl;
};

static int set_running(struct vsock *s, int on)
{
	return vhost_call(s->vhost, VHOST_VSOCK_SET_RUNNING, &on,
			  on ? "VHOST_VSOCK_SET_RUNNING 1" : "VHOST_VSOCK_SET_RUNNING 0", 0);
}

static void vsock_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vsock *s = dev;
	struct virtio_vsock_config c = { .guest_cid = htole64(s->cid) };

	memcpy(buf, (const uint8_t *)&c + offset, len);
}

static int vsock_activate(void *dev, uint64_t features)
{
	struct vsock *s = dev;
	struct virtq *q[VSOCK_KERNEL_QUEUES];
	int ret;

	for (unsigned int i = 0; i < VSOCK_KERNEL_QUEUES; i++) {
		q[i] = s->tr.ops->queue(s->tr.t, i);
		if (s->fds[i].kick < 0)
			return -EINVAL;
	}
	ret = vhost_start(s->vhost, s->mem, features, q, s->fds, VSOCK_KERNEL_QUEUES);
	if (ret == 0) {
		ret = set_running(s, 1);
		if (ret < 0)
			vhost_stop(s->vhost);
	}
	if (ret < 0) {
		log_limited(&s->rl, LOG_LVL_ERROR, "%s: the kernel's vhost-vsock did not start: %s",
			    s->name, strerror(-ret));
		return ret;
	}
	s->running = true;
	return 0;
}

/* Only the event queue's kicks come here: rx and tx kick the kernel directly. */
static void vsock_notify(void *dev, unsigned int index)
{
	(void)dev;
	(void)index;
}

static void vsock_reset(void *dev)
{
	struct vsock *s = dev;

	if (!s->running)
		return;
	if (set_running(s, 0) < 0) {
		/* Closing the descriptor is the one sure way left to stop the kernel. */
		log_err("%s: the kernel's vhost-vsock would not stop; letting go of it (the device "
			"stays off until ember restarts)",
			s->name);
		vhost_abandon(s->vhost);
	} else {
		vhost_stop(s->vhost);
	}
	s->running = false;
}

static const struct virtio_device_ops vsock_ops = {
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.notify = vsock_notify,
	.reset = vsock_reset,
};

void vsock_device(struct vsock *s, struct virtio_device_info *info,
		  const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_VSOCK,
		.features = vhost_features(s->vhost) & VSOCK_FEATURES,
		.nr_queues = VSOCK_NR_QUEUES,
		.queue_max = VSOCK_QUEUE_SIZE,
		.config_size = sizeof(struct virtio_vsock_config),
		.name = s->name,
	};
	*ops = &vsock_ops;
}

void vsock_attach(struct vsock *s, const struct virtio_transport *tr)
{
	s->tr = *tr;
}

void vsock_set_fds(struct vsock *s, unsigned int queue, const struct vhost_queue_fds *fds)
{
	if (queue < VSOCK_KERNEL_QUEUES)
		s->fds[queue] = *fds;
}

void vsock_called(struct vsock *s)
{
	if (!s->tr.ops)
		return;
	s->tr.ops->lock(s->tr.t);
	if (s->running)
		s->tr.ops->signal_used(s->tr.t);
	s->tr.ops->unlock(s->tr.t);
}

void vsock_broken(struct vsock *s, unsigned int queue)
{
	if (!s->tr.ops)
		return;
	s->tr.ops->lock(s->tr.t);
	if (s->running) {
		log_limited(&s->rl, LOG_LVL_WARN,
			    "%s: the kernel found the driver's %s queue broken; the device "
			    "needs a reset",
			    s->name, queue == VSOCK_RX ? "rx" : "tx");
		s->tr.ops->needs_reset(s->tr.t);
	}
	s->tr.ops->unlock(s->tr.t);
}

int vsock_create(struct vsock **out, struct vhost *vhost, uint64_t cid, const struct gmem *mem,
		 const char *name)
{
	struct vsock *s;
	int ret;

	*out = NULL;
	if (cid < VSOCK_MIN_CID || cid > VSOCK_MAX_CID) {
		vhost_destroy(vhost);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		vhost_destroy(vhost);
		return -ENOMEM;
	}
	*s = (struct vsock){ .vhost = vhost, .mem = mem, .name = name, .cid = cid };
	for (unsigned int i = 0; i < VSOCK_KERNEL_QUEUES; i++)
		s->fds[i] = (struct vhost_queue_fds){ .kick = -1, .call = -1, .err = -1 };
	ratelimit_init(&s->rl, NSEC_PER_SEC, 5);
	/* EADDRINUSE is the caller's to explain: another VM has this CID. */
	ret = vhost_call(vhost, VHOST_VSOCK_SET_GUEST_CID, &cid, "VHOST_VSOCK_SET_GUEST_CID",
			 EADDRINUSE);
	if (ret < 0) {
		vsock_destroy(s);
		return ret;
	}
	*out = s;
	return 0;
}

void vsock_destroy(struct vsock *s)
{
	if (!s)
		return;
	vhost_destroy(s->vhost);
	ratelimit_destroy(&s->rl);
	free(s);
}
