/* SPDX-License-Identifier: MIT */
/*
 * Test helper: plays the driver side of a split virtqueue laid out in a plain
 * buffer that a struct gmem presents as guest RAM. Builds descriptor chains
 * (direct or through an indirect table), publishes them on the avail ring and
 * reads back used elements, so tests can drive virtq and devices without KVM.
 *
 * Layout from `base`: descriptor table, avail ring, used ring (page aligned),
 * then a data area that buffers and indirect tables are carved from, cycling
 * back to its start when full.
 */
#ifndef EMBER_TESTS_RINGBUILDER_H
#define EMBER_TESTS_RINGBUILDER_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

struct rb {
	struct gmem mem;
	uint8_t *ram;
	uint64_t base;
	uint64_t ram_size;
	uint16_t size;
	uint64_t desc, avail, used; /* guest-physical */
	uint16_t next_desc;	    /* descriptors are handed out cyclically */
	uint16_t avail_idx;	    /* driver's copy of avail->idx */
	uint16_t last_used;	    /* next used element the driver reads */
	uint64_t data_start, data_next;
	bool owned; /* ram is the helper's to free */
};

/* One buffer of a chain. gpa 0 means "allocate len bytes"; it is filled in. */
struct rb_seg {
	uint32_t len;
	bool write;
	uint64_t gpa;
};

/* Guest RAM of ram_size bytes at base (both page multiples); a queue of qsize. */
int rb_init(struct rb *rb, uint64_t base, uint64_t ram_size, uint16_t qsize);
/*
 * The same over ram_size bytes of the caller's memory at `ram`, cleared, which
 * stay the caller's: for devices with more queues than a gmem has regions,
 * each queue a slice of one region the caller adds. rb->mem stays empty.
 */
int rb_init_in(struct rb *rb, void *ram, uint64_t base, uint64_t ram_size, uint16_t qsize);
void rb_destroy(struct rb *rb);

/* The geometry of the helper's queue, as a transport would pass it on. */
struct virtq_config rb_config(const struct rb *rb, bool event_idx);

/* Host pointer for a guest address inside the helper's RAM, else NULL. */
void *rb_host(const struct rb *rb, uint64_t gpa);
uint64_t rb_alloc(struct rb *rb, uint64_t len, uint64_t align);

/* Adds a chain of n direct descriptors; returns the head index. */
uint16_t rb_add_chain(struct rb *rb, struct rb_seg *segs, unsigned int n);
/* Writes an indirect table for segs and returns its guest address (16 * n bytes). */
uint64_t rb_make_table(struct rb *rb, struct rb_seg *segs, unsigned int n);
/* Adds one direct descriptor pointing at an indirect table for segs; returns the head. */
uint16_t rb_add_indirect(struct rb *rb, struct rb_seg *segs, unsigned int n);

/* Descriptor `idx` of the direct table, or of the table at gpa, for tampering. */
struct vring_desc *rb_desc(const struct rb *rb, uint16_t idx);
struct vring_desc *rb_table(const struct rb *rb, uint64_t gpa);
void rb_set_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);

/* Puts head in the next avail slot, then bumps avail->idx. */
void rb_publish(struct rb *rb, uint16_t head);
void rb_set_avail_idx(struct rb *rb, uint16_t idx);
void rb_set_avail_slot(struct rb *rb, uint16_t slot, uint16_t head);
void rb_set_avail_flags(struct rb *rb, uint16_t flags);
void rb_set_used_event(struct rb *rb, uint16_t v);

/* Reads the next used element; false when the device has published no more. */
bool rb_get_used(struct rb *rb, uint32_t *id, uint32_t *len);
uint16_t rb_used_idx(const struct rb *rb);
uint16_t rb_used_flags(const struct rb *rb);
uint16_t rb_avail_event(const struct rb *rb);

/*
 * A transport for a device under test: it hands out q[index] (NULL where
 * unset) and counts interrupts, NEEDS_RESET requests and lock depth. Pass
 * &fake_transport_ops with a struct fake_transport as `t`.
 */
struct fake_transport {
	struct virtq *q[2];
	unsigned int signals;
	unsigned int needs_reset;
	int lock_depth;
};

extern const struct virtio_transport_ops fake_transport_ops;

#endif
