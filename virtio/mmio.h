/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport, register layout version 2 (virtio 1.x section
 * 4.2.2): a window on the MMIO bus with the magic, IDs, feature words,
 * queue registers, interrupt status and acknowledge, device status, and the
 * device's configuration space from offset 0x100.
 *
 * It owns the device status machine and feature negotiation (VIRTIO_F_VERSION_1
 * is required: a driver that does not accept it never gets FEATURES_OK) and
 * the device's virtqueues. A driver that breaks the rules is refused as the
 * spec prescribes (the write is ignored, or DEVICE_NEEDS_RESET is set and a
 * configuration-change interrupt raised), with a rate-limited log line, and
 * ember keeps running.
 *
 * One recursive mutex per transport serialises register accesses (vCPU
 * threads), queue notifications (the event loop, through an ioeventfd) and
 * the device's completion paths, which take it with virtio_mmio_lock().
 */
#ifndef EMBER_VIRTIO_MMIO_H
#define EMBER_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"
#include "virtio.h"
#include "virtq.h"

#define VIRTIO_MMIO_WINDOW 0x200 /* registers 0x000-0x0ff, config from 0x100 */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_CONFIG 0x100

struct bus;
struct virtq;
struct virtio_mmio;

struct virtio_mmio_host {
	const struct gmem *mem; /* guest RAM, for the virtqueues */
	/* Injects the device's interrupt (an edge on its IOAPIC pin). */
	void (*interrupt)(void *opaque);
	void *irq_opaque;
};

/*
 * A transport for the device `dev` described by `info` and `ops`. The info,
 * ops and host structs are copied; `info->name` must outlive the transport.
 * Returns 0, -EINVAL for a bad info (queue counts, queue_max, a config_size
 * beyond the window's 0x100 bytes, or features this transport cannot carry:
 * VIRTIO_F_RING_PACKED, VIRTIO_F_NOTIFICATION_DATA, VIRTIO_F_RING_RESET), or
 * -ENOMEM.
 */
int virtio_mmio_create(struct virtio_mmio **out, const struct virtio_device_info *info,
		       const struct virtio_device_ops *ops, void *dev,
		       const struct virtio_mmio_host *host);
/* Resets an active device first (ops->reset), then frees. NULL is fine. */
void virtio_mmio_destroy(struct virtio_mmio *t);

/* Registers the window at `base` (VIRTIO_MMIO_WINDOW bytes); the bus's errors. */
int virtio_mmio_register(struct virtio_mmio *t, struct bus *mmio, uint64_t base);

/*
 * A QueueNotify that arrived some other way than a register write (an
 * ioeventfd, on the event loop thread). Takes the lock. Out-of-range indices,
 * queues not set up and a device not running are ignored.
 */
void virtio_mmio_notify(struct virtio_mmio *t, unsigned int index);

/* For the device, from any thread; the lock nests. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);

/* Queue `index` (< nr_queues), whether set up or not. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned int index);
/*
 * The three below take no lock (the state they touch is atomic): call them
 * from any thread, holding the lock or not. The interrupt is injected on every
 * call, from the calling thread.
 */
/* Used buffers were published: InterruptStatus bit 0 and an interrupt. */
void virtio_mmio_signal_used(struct virtio_mmio *t);
/* Configuration changed: ConfigGeneration moves on, InterruptStatus bit 1, an interrupt. */
void virtio_mmio_signal_config(struct virtio_mmio *t);
/* The device cannot go on: DEVICE_NEEDS_RESET, and a configuration interrupt. */
void virtio_mmio_needs_reset(struct virtio_mmio *t);

/* The transport's callbacks, for the device (virtio.h). */
void virtio_mmio_transport(struct virtio_mmio *t, struct virtio_transport *out);

/* The current device status byte, and the features the driver accepted. */
uint8_t virtio_mmio_status(struct virtio_mmio *t);
uint64_t virtio_mmio_features(struct virtio_mmio *t);

/* --- snapshots ------------------------------------------------------------------ */

#define VIRTIO_MMIO_STATE_VERSION 1

/* One queue's registers as the driver wrote them, and the ring as the device stands in it. */
struct virtio_mmio_queue_state {
	uint64_t desc;	       /* QueueDesc */
	uint64_t driver;       /* QueueDriver */
	uint64_t device;       /* QueueDevice */
	uint32_t num;	       /* QueueNum */
	uint32_t pad;	       /* 0 */
	struct virtq_state vq; /* all zero when the queue is not ready */
};

/*
 * A transport's state, written to the snapshot file byte for byte: fixed
 * widths, no pointers, padding and unused queue entries zero. The device's
 * own state (its configuration space, what it keeps between requests) is
 * not in here.
 */
struct virtio_mmio_state {
	uint32_t version;   /* VIRTIO_MMIO_STATE_VERSION */
	uint32_t device_id; /* these three must match the transport restored into */
	uint32_t nr_queues;
	uint32_t queue_max;
	uint32_t status;     /* the device status, DEVICE_NEEDS_RESET included */
	uint32_t isr;	     /* InterruptStatus */
	uint32_t generation; /* ConfigGeneration */
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	uint64_t driver_features;
	uint8_t active; /* the device was started (ops->activate() succeeded), not reset since */
	uint8_t pad[7];
	struct virtio_mmio_queue_state q[VIRTIO_MAX_QUEUES];
};

/*
 * Saves the transport's state into `out`, under its lock. Meant for a paused
 * guest (no register accesses or kicks) and a device that holds no chains:
 * returns 0, or -EBUSY when a queue has chains popped and not pushed (the
 * caller drains the device first, e.g. blk_drain()); `out` is then zeroed.
 * In-flight chains on a broken queue, which can never be pushed, do not count.
 */
int virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *out);

/*
 * Restores `st` into a transport just created for the same device, which the
 * driver has not touched (status 0, no queue ready; else -EBUSY), over guest
 * RAM holding the bytes it held at the save. Checks first that the device
 * matches (ID, queue count, QueueNumMax), that the status is one the driver
 * could have reached (FEATURES_OK after DRIVER, DRIVER_OK after FEATURES_OK,
 * and with NEEDS_RESET if the device did not start), that the accepted
 * features pass FEATURES_OK's checks once it is set, that InterruptStatus
 * has only its two bits, and that each ready queue is what its registers,
 * the features and QueueReady's checks make it (virtq_restore()). Then sets
 * the registers and queues and, for a device that was started, calls
 * ops->activate() with the accepted features as DRIVER_OK does and kicks
 * each ready queue once: the old process may have stopped taking buffers
 * with kicks turned off, counting on a timer or an event that died with it.
 * A non-zero InterruptStatus is raised again through host->interrupt (its
 * edge may have been lost; a spurious one is harmless).
 *
 * Returns 0; -EINVAL for a state that fails a check, or the error of
 * ops->activate(): the transport is then as it was, status 0, and the
 * device not started (NEEDS_RESET is not set; the caller reports it).
 */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *st);

#endif
