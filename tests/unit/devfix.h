/* SPDX-License-Identifier: MIT */
/*
 * What the device tests share: a port bus and an MMIO bus made with the
 * real bus code, the guest's accesses of 1, 2 and 4 bytes on each, and a
 * recorder for one interrupt line.
 */
#ifndef EMBER_TEST_DEVFIX_H
#define EMBER_TEST_DEVFIX_H

#include "core/bus.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * A line's history, as a device drives it through an irq_set(opaque, level)
 * callback: pass devfix_irq_set with the recorder as the opaque.
 */
struct devfix_irq {
	int level;	    /* as last set */
	unsigned int edges; /* low to high: one per pulse, too */
	unsigned int calls; /* every call, those that changed nothing too */
	bool repeated;	    /* a call set the level the line already had */
};

struct devfix {
	struct bus *pio;  /* 64 KiB of ports */
	struct bus *mmio; /* the whole 64-bit space */
	struct devfix_irq irq;
};

/* Makes both buses, empty, and clears the recorder; asserts. */
void devfix_init(struct devfix *f);
void devfix_fini(struct devfix *f);

void devfix_irq_set(void *opaque, int level);

/*
 * A guest access of len bytes (1 to 8) at addr on any bus, the value
 * assembled from, or split into, the guest's little-endian byte order.
 */
uint64_t devfix_bus_read(struct bus *bus, uint64_t addr, unsigned int len);
void devfix_bus_write(struct bus *bus, uint64_t addr, uint64_t v, unsigned int len);

/* Port accesses; values in the guest's (little-endian) byte order on the bus. */
uint8_t devfix_in8(struct devfix *f, uint16_t port);
uint16_t devfix_in16(struct devfix *f, uint16_t port);
uint32_t devfix_in32(struct devfix *f, uint16_t port);
void devfix_out8(struct devfix *f, uint16_t port, uint8_t v);
void devfix_out16(struct devfix *f, uint16_t port, uint16_t v);
void devfix_out32(struct devfix *f, uint16_t port, uint32_t v);

/* MMIO accesses, likewise. */
uint8_t devfix_read8(struct devfix *f, uint64_t addr);
uint16_t devfix_read16(struct devfix *f, uint64_t addr);
uint32_t devfix_read32(struct devfix *f, uint64_t addr);
void devfix_write8(struct devfix *f, uint64_t addr, uint8_t v);
void devfix_write16(struct devfix *f, uint64_t addr, uint16_t v);
void devfix_write32(struct devfix *f, uint64_t addr, uint32_t v);

#endif
