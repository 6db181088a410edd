// SPDX-License-Identifier: MIT
#include "config.h"

#include "vdrv.h"
#include "devfix.h"
#include "unit.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

void vdrv_init(struct vdrv *d, struct bus *bus, uint64_t base, uint32_t queue_max)
{
	*d = (struct vdrv){ .bus = bus, .base = base, .queue_max = queue_max };
}

uint64_t vdrv_rd(const struct vdrv *d, uint64_t off, unsigned int len)
{
	return devfix_bus_read(d->bus, d->base + off, len);
}

void vdrv_wr(const struct vdrv *d, uint64_t off, uint64_t v, unsigned int len)
{
	devfix_bus_write(d->bus, d->base + off, v, len);
}

uint32_t vdrv_rd32(const struct vdrv *d, uint64_t off)
{
	return (uint32_t)vdrv_rd(d, off, 4);
}

void vdrv_wr32(const struct vdrv *d, uint64_t off, uint32_t v)
{
	vdrv_wr(d, off, v, 4);
}

uint32_t vdrv_status(const struct vdrv *d)
{
	return vdrv_rd32(d, VIRTIO_MMIO_STATUS);
}

void vdrv_add_status(const struct vdrv *d, uint32_t bits)
{
	vdrv_wr32(d, VIRTIO_MMIO_STATUS, vdrv_status(d) | bits);
}

uint64_t vdrv_device_features(const struct vdrv *d)
{
	uint64_t v;

	vdrv_wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	v = (uint64_t)vdrv_rd32(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vdrv_wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return v | vdrv_rd32(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

void vdrv_driver_features(const struct vdrv *d, uint64_t features)
{
	vdrv_wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vdrv_wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
}

bool vdrv_negotiate(const struct vdrv *d, uint64_t features, uint64_t *offered)
{
	uint64_t dev;

	vdrv_wr32(d, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_status(d), 0);
	vdrv_add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_add_status(d, VIRTIO_CONFIG_S_DRIVER);
	dev = vdrv_device_features(d);
	if (offered)
		*offered = dev;
	vdrv_driver_features(d, features);
	vdrv_add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

void vdrv_queue_addrs(const struct vdrv *d, uint64_t desc, uint64_t avail, uint64_t used)
{
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
}

uint32_t vdrv_queue_setup_at(const struct vdrv *d, unsigned int idx, uint32_t num, uint64_t desc,
			     uint64_t avail, uint64_t used)
{
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_SEL, idx);
	ck_assert_uint_eq(vdrv_rd32(d, VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_uint_eq(vdrv_rd32(d, VIRTIO_MMIO_QUEUE_NUM_MAX), d->queue_max);
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_NUM, num);
	vdrv_queue_addrs(d, desc, avail, used);
	vdrv_wr32(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return vdrv_rd32(d, VIRTIO_MMIO_QUEUE_READY);
}

uint32_t vdrv_queue_setup(const struct vdrv *d, unsigned int idx, const struct rb *rb)
{
	return vdrv_queue_setup_at(d, idx, rb->size, rb->desc, rb->avail, rb->used);
}

void vdrv_queues(const struct vdrv *d, const struct rb *rbs, uint32_t queues)
{
	for (unsigned int i = 0; i < 32; i++) {
		if (queues & (1U << i))
			ck_assert_msg(vdrv_queue_setup(d, i, &rbs[i]) == 1,
				      "queue %u: the device did not take it", i);
	}
}

uint64_t vdrv_start(const struct vdrv *d, uint64_t features, const struct rb *rbs, uint32_t queues)
{
	const uint32_t negotiated =
		VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
	uint64_t offered;

	vdrv_negotiate(d, features, &offered);
	ck_assert_uint_eq(vdrv_status(d), negotiated);
	vdrv_queues(d, rbs, queues);
	vdrv_add_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_uint_eq(vdrv_status(d), negotiated | VIRTIO_CONFIG_S_DRIVER_OK);
	return offered;
}

void vdrv_virtq_setup(struct virtq *q, const struct rb *rb, bool event_idx, unsigned int queue_max)
{
	struct virtq_config qc = rb_config(rb, event_idx);

	qc.max_size = queue_max;
	ck_assert_int_eq(virtq_setup(q, &qc), 0);
}

void vdrv_virtq_create(struct virtq **q, const struct rb *rb, bool event_idx,
		       unsigned int queue_max)
{
	ck_assert_int_eq(virtq_create(q, &rb->mem, NULL), 0);
	vdrv_virtq_setup(*q, rb, event_idx, queue_max);
}

bool vdrv_kick_wanted(const struct rb *rb, bool event_idx, uint16_t old_idx)
{
	if (event_idx)
		return vring_need_event(rb_avail_event(rb), rb->avail_idx, old_idx);
	return !(rb_used_flags(rb) & VRING_USED_F_NO_NOTIFY);
}
