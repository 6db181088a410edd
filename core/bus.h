/* SPDX-License-Identifier: MIT */
/*
 * An address space (port I/O or MMIO) with devices registered on windows.
 *
 * A device registers (base, len, ops, opaque). Handlers receive the offset
 * inside the window and an access size within the sizes the device declared;
 * the bus splits wider accesses and refuses narrower ones. Reads nobody
 * claims return all-ones; writes nobody claims are dropped.
 *
 * Registration happens before vCPUs run; lookups afterwards take no lock.
 * Each device serialises its own state.
 */
#ifndef EMBER_BUS_H
#define EMBER_BUS_H

#include <stdint.h>

#include "log.h"

struct bus_ops {
	/* NULL read: reads return all-ones. NULL write: writes are dropped. */
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned int size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned int size);
	/* Access sizes in bytes the handlers accept (powers of two, 1..8); 0 means 1 and 8. */
	unsigned int min_access;
	unsigned int max_access;
};

struct bus_stats {
	uint64_t unclaimed_reads;
	uint64_t unclaimed_writes;
	/* Accesses narrower than a device accepts. */
	uint64_t refused;
};

struct bus;

/*
 * `limit` is the size of the address space (0x10000 for port I/O); 0 means
 * the full 64-bit space. `name` appears in log messages.
 */
int bus_create(struct bus **out, const char *name, uint64_t limit);
void bus_destroy(struct bus *bus);

/*
 * Returns 0, -EINVAL for a zero length, a wrapping range, bad access sizes or
 * missing ops, -ERANGE for a range beyond the address space, or -EBUSY when
 * the range overlaps a registered device.
 */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *devname);

/*
 * Removes the device registered at exactly `base` with `opaque`: 0, or
 * -ENOENT when there is none. Like registration, only while no vCPU runs.
 */
int bus_unregister(struct bus *bus, uint64_t base, const void *opaque);

/*
 * Accesses of `len` bytes at `addr`. `data` holds the bytes in guest
 * (little-endian) order. An access may span several devices and gaps.
 */
void bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len);
void bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned int len);

void bus_get_stats(struct bus *bus, struct bus_stats *out);
unsigned int bus_device_count(const struct bus *bus);

#endif
