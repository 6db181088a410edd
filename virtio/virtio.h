/* SPDX-License-Identifier: MIT */
/*
 * What a virtio device implements, whatever its transport: its identity,
 * the features it offers, its configuration space, and what to do when the
 * driver starts it, kicks a queue or resets it. The transport (virtio/mmio.h)
 * owns the status machine, feature negotiation and the virtqueues.
 */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include <stdint.h>

/* Enough for a virtio-console with 7 ports: two queues each, and two for control. */
#define VIRTIO_MAX_QUEUES 16

struct virtq;

struct virtio_device_info {
	uint32_t device_id;	/* VIRTIO_ID_* */
	uint64_t features;	/* offered; the transport adds VIRTIO_F_VERSION_1 */
	unsigned int nr_queues; /* 1..VIRTIO_MAX_QUEUES */
	unsigned int queue_max; /* QueueNumMax: a power of two, at most VIRTQ_MAX_SIZE */
	uint32_t config_size;	/* bytes of device configuration space */
	const char *name;	/* for log lines: "virtio-blk vda" */
};

/*
 * Called by the transport with its lock held (see virtio_mmio_lock()), from
 * a vCPU thread or the event loop thread.
 */
struct virtio_device_ops {
	/* Reads of config space; the transport has checked offset + len <= config_size. */
	void (*config_read)(void *dev, uint32_t offset, void *buf, uint32_t len);
	/* Writes to config space, same checks; NULL: writes are ignored. */
	void (*config_write)(void *dev, uint32_t offset, const void *buf, uint32_t len);
	/*
	 * The driver set DRIVER_OK having accepted `features`; every queue the
	 * driver made ready is set up. 0, or a negative errno: the transport
	 * then sets DEVICE_NEEDS_RESET and treats the device as never started
	 * (reset is not called). Kicks before DRIVER_OK are not passed on, so
	 * look for buffers already available on the queues.
	 */
	int (*activate)(void *dev, uint64_t features);
	/* The driver made buffers available on queue `index` (set up, device active). */
	void (*notify)(void *dev, unsigned int index);
	/*
	 * The device is being reset (status 0 written). Returns once the device
	 * no longer touches guest memory or its queues; the transport then
	 * resets the queues. Also called when a transport is destroyed while
	 * the device is active.
	 */
	void (*reset)(void *dev);
};

/*
 * What a device calls back into, whichever transport carries it: its queues,
 * its interrupt and status, and the transport's lock, which the device takes
 * on paths the transport did not start (I/O completions).
 */
struct virtio_transport_ops {
	struct virtq *(*queue)(void *t, unsigned int index);
	void (*signal_used)(void *t);
	void (*needs_reset)(void *t);
	void (*lock)(void *t);
	void (*unlock)(void *t);
};

struct virtio_transport {
	const struct virtio_transport_ops *ops;
	void *t;
};

#endif
