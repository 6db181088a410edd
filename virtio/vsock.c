// SPDX-License-Identifier: MIT
#include "config.h"

#include "vsock.h"
#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define VSOCK_NR_QUEUES 3 /* rx, tx, event */
#define VSOCK_KERNEL_QUEUES 2
#define VSOCK_EVENT_QUEUE 2
#define VSOCK_EVENT_IOV 8 /* buffers of an event chain looked at */

/* What the device offers, where the kernel offers it too. */
#define VSOCK_FEATURES                                                                             \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_VSOCK_F_SEQPACKET))

struct vsock {
	struct vhost_dev vd;
	uint64_t cid;
	bool ran;	    /* the kernel served this device before */
	bool reset_pending; /* a transport reset waits for the driver's next event buffer */
};

static int set_running(struct vhost *v, int on)
{
	return vhost_call(v, VHOST_VSOCK_SET_RUNNING, &on,
			  on ? "VHOST_VSOCK_SET_RUNNING 1" : "VHOST_VSOCK_SET_RUNNING 0", 0);
}

static int backend_start(void *opaque, struct vhost *v)
{
	(void)opaque;
	return set_running(v, 1);
}

static int backend_stop(void *opaque, struct vhost *v)
{
	(void)opaque;
	return set_running(v, 0);
}

static const struct vhost_backend_ops vsock_backend = {
	.start = backend_start,
	.stop = backend_stop,
};

static void vsock_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vsock *s = dev;
	struct virtio_vsock_config c = { .guest_cid = htole64(s->cid) };

	memcpy(buf, (const uint8_t *)&c + offset, len);
}

/*
 * Under the transport's lock: the transport-reset event, if one is owed, in
 * the driver's next event buffer. A chain whose device-writable part cannot
 * hold the event goes back empty, and the next is tried; the ring holds no
 * more chains than its size, so neither can a driver make this loop long.
 */
static void send_reset(struct vsock *s)
{
	const struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct virtq *q = s->vd.tr.ops->queue(s->vd.tr.t, VSOCK_EVENT_QUEUE);
	bool pushed = false;
	int ret = 0;

	while (s->reset_pending && s->vd.running) {
		struct iovec iov[VSOCK_EVENT_IOV];
		struct virtq_chain c = { .iov = iov, .max = VSOCK_EVENT_IOV };
		const uint8_t *from = (const uint8_t *)&ev;
		uint32_t written = 0;

		ret = virtq_pop(q, &c);
		if (ret < 0)
			break;
		if (c.in_len >= sizeof(ev)) {
			for (unsigned int i = c.out_num; written < sizeof(ev); i++) {
				size_t n = iov[i].iov_len < sizeof(ev) - written
						   ? iov[i].iov_len
						   : sizeof(ev) - written;

				memcpy(iov[i].iov_base, from + written, n);
				written += (uint32_t)n;
			}
			s->reset_pending = false;
			log_info("%s: transport reset sent", s->vd.name);
		}
		if (virtq_push(q, c.head, written) == 0)
			pushed = true;
	}
	/* -ENODEV: the driver never set the queue up; -EAGAIN: no buffer yet. */
	if (ret < 0 && ret != -EAGAIN && ret != -ENODEV)
		s->vd.tr.ops->needs_reset(s->vd.tr.t);
	if (pushed && virtq_should_notify(q))
		s->vd.tr.ops->signal_used(s->vd.tr.t);
}

static int vsock_activate(void *dev, uint64_t features)
{
	struct vsock *s = dev;
	int ret = vhost_dev_activate(&s->vd, features);

	if (ret < 0)
		return ret;
	/*
	 * Started again after a reset: whatever the kernel carried for the
	 * device before is gone, which the transport-reset event tells the
	 * driver (it re-reads the CID and resets its connections).
	 */
	if (s->ran)
		s->reset_pending = true;
	s->ran = true;
	send_reset(s);
	return 0;
}

/* Only the event queue's kicks come here: rx and tx kick the kernel directly. */
static void vsock_notify(void *dev, unsigned int index)
{
	if (index == VSOCK_EVENT_QUEUE)
		send_reset(dev);
}

static void vsock_reset(void *dev)
{
	vhost_dev_reset(&((struct vsock *)dev)->vd);
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
		.features = vhost_features(s->vd.vhost) & VSOCK_FEATURES,
		.nr_queues = VSOCK_NR_QUEUES,
		.queue_max = VSOCK_QUEUE_SIZE,
		.config_size = sizeof(struct virtio_vsock_config),
		.name = s->vd.name,
	};
	*ops = &vsock_ops;
}

int vsock_suspend(struct vsock *s)
{
	/* The event queue is ember's own and holds no chain: it needs no stopping. */
	return vhost_dev_suspend(&s->vd);
}

int vsock_resume(struct vsock *s)
{
	return vhost_dev_resume(&s->vd);
}

void vsock_restored(struct vsock *s)
{
	if (!s->vd.tr.ops)
		return;
	s->vd.tr.ops->lock(s->vd.tr.t);
	s->ran = true;
	s->reset_pending = true;
	send_reset(s); /* waits for an event buffer, or for the start, if need be */
	s->vd.tr.ops->unlock(s->vd.tr.t);
}

void vsock_attach(struct vsock *s, const struct virtio_transport *tr)
{
	s->vd.tr = *tr;
}

struct vhost_dev *vsock_vhost(struct vsock *s)
{
	return &s->vd;
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
	s->cid = cid;
	ret = vhost_dev_init(&s->vd, vhost, mem, VSOCK_KERNEL_QUEUES, name, &vsock_backend, s);
	/* EADDRINUSE is the caller's to explain: another VM has this CID. */
	if (ret == 0)
		ret = vhost_call(vhost, VHOST_VSOCK_SET_GUEST_CID, &cid,
				 "VHOST_VSOCK_SET_GUEST_CID", EADDRINUSE);
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
	vhost_dev_fini(&s->vd);
	free(s);
}
