/* SPDX-License-Identifier: MIT */
/*
 * The hostile driver the virtio fuzz targets share. A device sits behind a
 * real virtio-mmio transport on an MMIO bus; each of its queues gets its own
 * guest RAM (a struct rb from tests/unit/ringbuilder.h), the RAMs apart from
 * one another, so a buffer between them is outside guest RAM. The fuzzer's
 * input is a script: register reads and writes of any offset and size,
 * status writes and resets, the usual start sequence, chains built with the
 * ring builder, raw bytes over rings and descriptors, kicks, and actions the
 * target defines for its device and backend.
 *
 * A ledger watches every virtq_pop, virtq_push, virtq_unpop and virtq_reset
 * the device makes (the targets link with --wrap for them) and aborts when:
 *  - a popped chain has a buffer outside guest RAM, more buffers than the
 *    caller allowed, or lengths that do not add up;
 *  - a device pushes a chain it does not hold (twice, or after a reset), says
 *    it wrote more than the chain's writable bytes, or holds more chains than
 *    QueueNumMax;
 *  - with status checks on (virtio-blk), a chain goes back without its last
 *    writable byte holding a status (the ledger poisons it at pop), unless
 *    another chain held with it has the same head or the same last byte;
 *  - a queue is broken and the device status lacks DEVICE_NEEDS_RESET.
 */
#ifndef EMBER_TESTS_FUZZDRV_H
#define EMBER_TESTS_FUZZDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "tests/fuzz/fuzzin.h"
#include "tests/unit/ringbuilder.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define FDRV_MAX_QUEUES 8	    /* each queue a RAM region: GMEM_MAX_REGIONS */
#define FDRV_RAM (64 * 1024)	    /* each queue's guest RAM */
#define FDRV_RAM_STRIDE 0x100000ULL /* queue i's RAM starts at (i + 1) * this */
#define FDRV_MMIO_BASE 0xd0000000ULL

/* Aborts with a message: a liveness or bounds check failed. */
void fdrv_fail(const char *what) __attribute__((noreturn));

struct fdrv {
	struct fin in;
	struct rb rb[FDRV_MAX_QUEUES];
	struct gmem mem;
	struct bus *bus;
	struct virtio_mmio *t;
	struct virtio_device_info info;
	unsigned int nq;
	unsigned int irqs;
	unsigned int pushes;
};

/*
 * What a target adds: `action` runs its own script operations (backend
 * events, completions, injected frames); `check` runs after every step.
 */
struct fdrv_target {
	void (*action)(void *dev, struct fin *in);
	void (*check)(void *dev);
	void *dev;
	bool status_check; /* the last writable byte is a status (virtio-blk) */
};

/*
 * Sets up guest RAM (queue sizes from the input, at most info->queue_max),
 * the bus and the transport for the device, and gives the device its
 * transport in *tr. Aborts on failure: there is nothing else to fuzz.
 */
void fdrv_init(struct fdrv *d, const uint8_t *data, size_t size,
	       const struct virtio_device_info *info, const struct virtio_device_ops *ops,
	       void *dev, struct virtio_transport *tr);
/* Runs the script to its end (at most a few thousand steps). */
void fdrv_run(struct fdrv *d, const struct fdrv_target *tgt);
/*
 * Resets the device through its status register, then frees everything.
 * With FDRV_TRACE set in the environment, first prints the device status and
 * how many chains went back: a seed should reach DRIVER_OK (0xf) and some.
 */
void fdrv_fini(struct fdrv *d);

/* Chains the device holds on queue i (popped, not pushed), per the ledger. */
unsigned int fdrv_held(const struct fdrv *d, unsigned int i);
/* Whether queue i is broken (the device must have asked for a reset). */
bool fdrv_broken(const struct fdrv *d, unsigned int i);
/* Whether a host range lies inside one guest RAM region. */
bool fdrv_in_ram(const struct fdrv *d, const void *p, size_t len);

#endif
