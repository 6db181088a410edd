/* SPDX-License-Identifier: MIT */
/*
 * A virtio slot: where one virtio device meets the machine. A slot is a
 * virtio-mmio window on the MMIO bus, an interrupt line whose edges the
 * device raises through an irqfd, and one ioeventfd per queue whose kicks
 * the event loop hands to the transport, with no trip through a vCPU. Any
 * virtio device attaches through vslot_attach(); a device whose queues a
 * vhost driver serves takes their ioeventfds instead (passed_kicks,
 * vslot_kick_fd()), so that a kick reaches the kernel without ember; what
 * else its glue watches
 * on the event loop (a disk's completions, a tap) goes through vslot_watch()
 * and is removed with the slot. vslot_acpi() and vslot_cmdline_hint()
 * describe a slot to the guest: in the ACPI tables, or on the kernel's
 * command line when it has no ACPI.
 *
 * Attaching takes these steps in order, and a failing one undoes those
 * before it: the transport; the window on the bus; the irqfd; per queue,
 * the ioeventfd and its place in the event loop. vslot_detach() undoes a
 * slot in any state, from all zeroes up, and leaves it all zeroes.
 */
#ifndef EMBER_VSLOT_H
#define EMBER_VSLOT_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "core/evloop.h"
#include "core/irq.h"
#include "firmware/acpi.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define VSLOT_MAX_QUEUES 16 /* VIRTIO_MAX_QUEUES: one kick per queue */
#define VSLOT_MAX_WATCHES 4

/* What a slot needs of the VM: the machine's come from KVM, a test's are stand-ins. */
struct vslot_env {
	const struct gmem *mem;
	struct bus *mmio;
	struct evloop *loop;
	int (*irqfd_assign)(void *ctx, unsigned int gsi, int *fd);
	void (*irqfd_release)(void *ctx, unsigned int gsi, int fd);
	int (*ioeventfd_assign)(void *ctx, const struct ioeventfd_spec *spec, int *fd);
	void (*ioeventfd_release)(void *ctx, const struct ioeventfd_spec *spec, int fd);
	void *ctx;
};

/* The device: how it describes itself, and where it takes its transport. */
struct vslot_device {
	void *dev;
	struct virtio_device_info info; /* info.name names the slot in messages */
	const struct virtio_device_ops *ops;
	void (*attach)(void *dev, const struct virtio_transport *tr);
	/*
	 * Bit q: queue q's kicks go elsewhere (a vhost driver in the kernel):
	 * the slot makes its ioeventfd, for vslot_kick_fd(), and never reads it.
	 */
	uint32_t passed_kicks;
};

struct vslot;

struct vslot_kick {
	struct vslot *slot;
	unsigned int queue;
	int fd; /* -1: none */
	bool watched;
};

struct vslot_watch {
	int fd;
};

struct vslot {
	const struct vslot_env *env;
	const char *name;
	uint64_t base;
	unsigned int gsi;
	struct virtio_mmio *mmio;
	bool registered;
	int irqfd; /* -1: none, once attach has begun */
	unsigned int nr_kicks;
	struct vslot_kick kick[VSLOT_MAX_QUEUES];
	unsigned int nr_watches;
	struct vslot_watch watch[VSLOT_MAX_WATCHES];
};

/*
 * Attaches `d` at `base` (VIRTIO_MMIO_WINDOW bytes) with interrupt line `gsi`.
 * `s` must be all zeroes (or detached). 0, or the negative errno of the step
 * that failed (-EINVAL for more queues than VSLOT_MAX_QUEUES), with every
 * earlier step undone.
 */
int vslot_attach(struct vslot *s, const struct vslot_env *env, const struct vslot_device *d,
		 uint64_t base, unsigned int gsi);

/* Queue `queue`'s ioeventfd, for a device that passes its kicks on; -1 when there is none. */
int vslot_kick_fd(const struct vslot *s, unsigned int queue);

/* Watches `fd` on the event loop until the slot is detached. 0 or a negative errno. */
int vslot_watch(struct vslot *s, int fd, uint32_t events, evloop_cb cb, void *opaque);

/*
 * Stops the kicks and the watches, resets and frees the transport (an active
 * device finishes its requests), takes the window off the bus and releases
 * the irqfd. The device itself stays its owner's to destroy.
 */
void vslot_detach(struct vslot *s);

/* The slot as the ACPI tables describe it to the guest: a virtio-mmio device in the DSDT. */
struct acpi_virtio vslot_acpi(const struct vslot *s);

/*
 * For a guest without ACPI, the kernel command-line words that describe a
 * slot at `base` with line `gsi` (virtio_mmio.device=SIZE@BASE:IRQ), appended
 * to the `len` bytes already in `buf` after a space. The new length, or
 * `size` when they do not fit (buf then holds what fitted, terminated).
 */
size_t vslot_cmdline_hint(char *buf, size_t size, size_t len, uint64_t base, unsigned int gsi);

#endif
