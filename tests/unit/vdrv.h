/* SPDX-License-Identifier: MIT */
/*
 * The driver's side of a virtio-mmio device under test: register accesses at
 * an offset in the device's window on a real MMIO bus, the feature words, the
 * status, queue set-up on the rings of a struct rb (tests/unit/ringbuilder.h),
 * and the start sequence of Linux's virtio-mmio driver up to DRIVER_OK. A test
 * of a misbehaving driver uses the steps one by one. The steps assert what a
 * driver expects of a working device, so a device that goes wrong fails the
 * test at the step where it does.
 *
 * Also, with a transport or without: whether an honest driver kicks; and for
 * a device tested on a struct fake_transport, a queue made ready the way the
 * transport would do it.
 */
#ifndef EMBER_TEST_VDRV_H
#define EMBER_TEST_VDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "tests/unit/ringbuilder.h"
#include "virtio/virtq.h"

struct vdrv {
	struct bus *bus;
	uint64_t base;	    /* the device's register window */
	uint32_t queue_max; /* the QueueNumMax each queue set up must show */
};

void vdrv_init(struct vdrv *d, struct bus *bus, uint64_t base, uint32_t queue_max);

/* Accesses of len bytes (1 to 8) at off in the window, little-endian as the guest sees them. */
uint64_t vdrv_rd(const struct vdrv *d, uint64_t off, unsigned int len);
void vdrv_wr(const struct vdrv *d, uint64_t off, uint64_t v, unsigned int len);
uint32_t vdrv_rd32(const struct vdrv *d, uint64_t off);
void vdrv_wr32(const struct vdrv *d, uint64_t off, uint32_t v);

uint32_t vdrv_status(const struct vdrv *d);
/* Adds bits to the status as Linux does: read, or, write. */
void vdrv_add_status(const struct vdrv *d, uint32_t bits);

/* Both 32-bit words, the high one first as Linux reads them. */
uint64_t vdrv_device_features(const struct vdrv *d);
void vdrv_driver_features(const struct vdrv *d, uint64_t features);

/*
 * Reset (the status must read 0 after it), ACKNOWLEDGE, DRIVER, the device's
 * features read into *offered (when not NULL), `features` written, then
 * FEATURES_OK. Returns whether FEATURES_OK stuck.
 */
bool vdrv_negotiate(const struct vdrv *d, uint64_t features, uint64_t *offered);

/* The six ring address registers of the selected queue. */
void vdrv_queue_addrs(const struct vdrv *d, uint64_t desc, uint64_t avail, uint64_t used);
/*
 * What vm_setup_vq() does for queue idx: QueueSel (QueueReady must read 0 and
 * QueueNumMax d->queue_max), QueueNum, the addresses, QueueReady. Returns
 * QueueReady read back: 1 when the device took the queue.
 */
uint32_t vdrv_queue_setup_at(const struct vdrv *d, unsigned int idx, uint32_t num, uint64_t desc,
			     uint64_t avail, uint64_t used);
/* The same on rb's rings and size. */
uint32_t vdrv_queue_setup(const struct vdrv *d, unsigned int idx, const struct rb *rb);
/* Queue i on rbs[i] for each bit i of `queues`; each must be taken. */
void vdrv_queues(const struct vdrv *d, const struct rb *rbs, uint32_t queues);

/*
 * The whole start: vdrv_negotiate (the status must read ACKNOWLEDGE, DRIVER and
 * FEATURES_OK after it), vdrv_queues, DRIVER_OK (which must stick, nothing else
 * set). Returns the features the device offered.
 */
uint64_t vdrv_start(const struct vdrv *d, uint64_t features, const struct rb *rbs, uint32_t queues);

/*
 * Without a transport: what one does when the driver makes queue q ready on
 * rb's rings, with the device's QueueNumMax; the set-up must succeed.
 */
void vdrv_virtq_setup(struct virtq *q, const struct rb *rb, bool event_idx, unsigned int queue_max);
/* The queue made as well: a virtq over rb's guest RAM into *q. */
void vdrv_virtq_create(struct virtq **q, const struct rb *rb, bool event_idx,
		       unsigned int queue_max);

/*
 * Whether an honest driver kicks after publishing on rb, the avail index having
 * been old_idx before: when the device asked to be told (its avail_event with
 * EVENT_IDX, no NO_NOTIFY flag without).
 */
bool vdrv_kick_wanted(const struct rb *rb, bool event_idx, uint16_t old_idx);

#endif
