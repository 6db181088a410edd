/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue walker (virtio 1.x, section 2.7): the device side of the
 * descriptor table, the available ring and the used ring.
 *
 * The geometry is validated once, by virtq_setup() when the driver makes the
 * queue ready; after that every value read from the guest is bounded where it
 * is read. Any protocol violation by the driver marks the queue broken: the
 * device should then set DEVICE_NEEDS_RESET, and the queue refuses pops and
 * pushes until virtq_reset(). No failing call writes to guest memory.
 *
 * A queue is driven by one thread at a time; the caller serialises. The gmem
 * must keep its regions while a queue is set up (host pointers are cached).
 *
 * Typical device loop:
 *
 *	do {
 *		virtq_disable_notify(q);
 *		while ((ret = virtq_pop(q, &chain)) == 0) {
 *			... handle chain ...
 *			virtq_push(q, chain.head, written);
 *		}
 *		if (ret != -EAGAIN)
 *			... set NEEDS_RESET ...
 *		if (virtq_should_notify(q))
 *			... interrupt the driver ...
 *	} while (virtq_enable_notify(q));
 */
#ifndef EMBER_VIRTQ_H
#define EMBER_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/gmem.h"

#define VIRTQ_MAX_SIZE 32768

struct virtq;
struct ratelimit; /* core/log.h */

/* What the transport knows when the driver sets QueueReady / DRIVER_OK. */
struct virtq_config {
	unsigned int size;     /* QueueNum chosen by the driver */
	unsigned int max_size; /* QueueNumMax the device offered (1..VIRTQ_MAX_SIZE) */
	uint64_t desc;	       /* guest-physical, 16-byte aligned */
	uint64_t avail;	       /* guest-physical, 2-byte aligned */
	uint64_t used;	       /* guest-physical, 4-byte aligned */
	bool event_idx;	       /* VIRTIO_RING_F_EVENT_IDX negotiated */
};

/*
 * One popped descriptor chain. The caller sets `iov` and `max` (its
 * capacity); virtq_pop() fills the rest. iov[0 .. out_num) are the
 * device-readable buffers, iov[out_num .. out_num + in_num) the
 * device-writable ones. out_len + in_len never exceeds UINT32_MAX.
 * The contents are unspecified after a failed pop.
 */
struct virtq_chain {
	struct iovec *iov;
	unsigned int max;

	uint16_t head;
	unsigned int out_num;
	unsigned int in_num;
	uint32_t out_len;
	uint32_t in_len;
};

/*
 * Allocates an unconfigured queue over `mem`. `rl` (may be NULL) limits the
 * log lines a misbehaving driver can cause; it may be shared between queues
 * and must outlive this one. Returns 0 or -ENOMEM.
 */
int virtq_create(struct virtq **out, const struct gmem *mem, struct ratelimit *rl);
void virtq_destroy(struct virtq *q);

/*
 * Validates and adopts the geometry. Returns 0; -EINVAL for a size that is
 * 0, not a power of two or above max_size, for a bad max_size, for a
 * misaligned ring, or for rings that overlap one another; -EFAULT when a
 * ring (the used_event / avail_event trailer included) is not entirely
 * inside one RAM region; -EBUSY when already set up.
 */
int virtq_setup(struct virtq *q, const struct virtq_config *cfg);

/*
 * Where a set-up queue's rings are in host memory, and where the device
 * stands in them: for handing the queue to another user of its rings (a
 * vhost driver in the kernel).
 */
struct virtq_rings {
	unsigned int size;
	const void *desc;
	const void *avail;
	const void *used;
	uint16_t last_avail; /* the next available-ring entry the device takes */
};

/* 0, or -ENODEV when the queue is not set up. */
int virtq_rings(const struct virtq *q, struct virtq_rings *out);

/*
 * Takes a set-up queue back from the other user of its rings once that has
 * stopped, so that virtq_save() records where it left them and a later
 * virtq_rings() hands them on from there: it stopped before available-ring
 * entry `last_avail` (what it reports, e.g. VHOST_GET_VRING_BASE) and left
 * its used index in guest memory, read here. The two must be equal: a chain
 * taken and not given back cannot be carried into a snapshot. avail->idx
 * must be at most the queue size ahead, as virtq_restore() checks. Writes
 * nothing to the guest; on failure the queue is unchanged. Returns 0;
 * -ENODEV when not set up; -EIO when broken; -EBUSY when used->idx is behind
 * last_avail by at most the queue size (the other user holds chains);
 * -EPROTO for any other used->idx, or an avail->idx too far ahead.
 */
int virtq_take_back(struct virtq *q, uint16_t last_avail);

/*
 * A queue's state for a snapshot, written to the file byte for byte: fixed
 * widths, no pointers, explicit padding (zero). A queue not set up is all
 * zero. The ring addresses are guest-physical, as the driver gave them.
 */
struct virtq_state {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint32_t size;
	uint32_t max_size;
	uint32_t inflight;	 /* chains popped and not pushed: 0 on a queue that can be saved */
	uint16_t last_avail;	 /* the next avail->ring[] slot the device takes */
	uint16_t used_idx;	 /* the next used->ring[] slot it fills */
	uint16_t signalled_used; /* used_idx when it last decided whether to interrupt */
	uint8_t ready;
	uint8_t broken;
	uint8_t event_idx;
	uint8_t notify; /* kicks wanted (see virtq_disable_notify()) */
	uint8_t pad[2];
};

/*
 * Fills `out` with where the queue stands. Chains in flight cannot be
 * carried into another process (their iovecs point into this one), so the
 * caller must first have every popped chain pushed or unpopped, and check
 * out->inflight == 0: virtq_restore() refuses a state with chains in flight
 * on a queue that is not broken. A broken queue never pushes again, so its
 * in-flight chains are dead and do not stop a save.
 */
void virtq_save(const struct virtq *q, struct virtq_state *out);

/*
 * Makes the unconfigured queue `q` what virtq_save() described, over guest
 * memory holding the same bytes as when it was saved. The geometry goes
 * through virtq_setup()'s checks; the indices must agree with each other
 * (last_avail - used_idx == inflight, 0 unless broken) and with the rings in
 * guest memory (used->idx == used_idx, avail->idx at most size ahead of
 * last_avail; not checked on a broken queue, which touches neither again).
 * Writes nothing to the guest. Returns 0; -EBUSY when q is already set up;
 * -EINVAL for any state that fails a check, with q left unconfigured.
 */
int virtq_restore(struct virtq *q, const struct virtq_state *st);

/* Back to unconfigured, not broken, indices at 0. Writes nothing to the guest. */
void virtq_reset(struct virtq *q);

bool virtq_ready(const struct virtq *q);
bool virtq_broken(const struct virtq *q);

/*
 * Takes the next available chain. Returns 0 with `c` filled, -EAGAIN when
 * the ring is empty, -ENODEV when not set up, -EIO when broken. A driver
 * error breaks the queue and returns:
 *   -EPROTO  avail.idx more than the queue size ahead, head or next index out
 *            of range, a readable buffer after a writable one, a zero-length
 *            buffer, a bad indirect descriptor (length 0 or not a multiple of
 *            16, nested, or with NEXT set)
 *   -ELOOP   a chain longer than the queue size, or than its indirect table
 *   -EFAULT  a buffer or indirect table not entirely inside one RAM region
 *   -E2BIG   a chain whose buffers add up to more than UINT32_MAX bytes
 *   -ENOBUFS more buffers than c->max
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/*
 * Gives back the `n` chains popped last, not pushed: the next pops return
 * them again (a device that took more buffers than a packet needed).
 * Returns 0, -ENODEV, -EIO when broken, or -EINVAL for more than are in
 * flight.
 */
int virtq_unpop(struct virtq *q, unsigned int n);

/*
 * Returns chain `head` to the driver with `written` bytes written to its
 * device-writable buffers, and publishes the new used index. Returns 0,
 * -ENODEV, -EIO when broken, or -EINVAL when head is out of range or no
 * chain is in flight.
 */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call: used_event with EVENT_IDX, VRING_AVAIL_F_NO_INTERRUPT without.
 * Call once after each batch of pushes.
 */
bool virtq_should_notify(struct virtq *q);

/*
 * Ask the driver not to kick (or, with EVENT_IDX, stop advancing avail_event)
 * while the device is polling the ring anyway.
 */
void virtq_disable_notify(struct virtq *q);

/*
 * Re-enables kicks: publishes avail_event (EVENT_IDX) or clears
 * VRING_USED_F_NO_NOTIFY, then re-checks the ring. Returns true when buffers
 * arrived meanwhile, which the driver may not kick for: poll again.
 */
bool virtq_enable_notify(struct virtq *q);

#endif
