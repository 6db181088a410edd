// SPDX-License-Identifier: MIT
#include "config.h"

#include "bus.h"
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct bus_dev {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
	unsigned int min_access;
	unsigned int max_access;
};

struct bus {
	const char *name;
	uint64_t limit;	      /* 0: the full 64-bit space */
	struct bus_dev *devs; /* sorted by base, never overlapping */
	unsigned int nr;
	unsigned int cap;
	_Atomic uint64_t unclaimed_reads;
	_Atomic uint64_t unclaimed_writes;
	_Atomic uint64_t refused;
	struct ratelimit rl;
};

int bus_create(struct bus **out, const char *name, uint64_t limit)
{
	struct bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return -ENOMEM;
	bus->name = name;
	bus->limit = limit;
	ratelimit_init(&bus->rl, 5 * NSEC_PER_SEC, 10);
	*out = bus;
	return 0;
}

void bus_destroy(struct bus *bus)
{
	if (!bus)
		return;
	ratelimit_destroy(&bus->rl);
	free(bus->devs);
	free(bus);
}

static int valid_size(unsigned int s)
{
	return s == 1 || s == 2 || s == 4 || s == 8;
}

/* Index of the first device whose base is greater than addr. */
static unsigned int upper_bound(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->devs[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *devname)
{
	unsigned int min = ops ? ops->min_access : 0, max = ops ? ops->max_access : 0;
	uint64_t last;
	unsigned int i;

	if (!ops || len == 0)
		return -EINVAL;
	last = base + (len - 1);
	if (last < base)
		return -EINVAL;
	if (bus->limit && (base >= bus->limit || last >= bus->limit))
		return -ERANGE;
	if (min == 0)
		min = 1;
	if (max == 0)
		max = 8;
	if (!valid_size(min) || !valid_size(max) || min > max)
		return -EINVAL;

	i = upper_bound(bus, base);
	/* The device before must end below base, the one after must start above last. */
	if (i > 0) {
		const struct bus_dev *prev = &bus->devs[i - 1];

		if (prev->base + (prev->len - 1) >= base)
			return -EBUSY;
	}
	if (i < bus->nr && bus->devs[i].base <= last)
		return -EBUSY;

	if (bus->nr == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 8;
		struct bus_dev *d = realloc(bus->devs, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		bus->devs = d;
		bus->cap = cap;
	}
	memmove(&bus->devs[i + 1], &bus->devs[i], (bus->nr - i) * sizeof(*bus->devs));
	bus->devs[i] = (struct bus_dev){
		.base = base,
		.len = len,
		.ops = ops,
		.opaque = opaque,
		.name = devname ? devname : "device",
		.min_access = min,
		.max_access = max,
	};
	bus->nr++;
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base, const void *opaque)
{
	unsigned int i = upper_bound(bus, base);

	/* upper_bound: the first device starting above base; the one before may start at it. */
	if (i == 0 || bus->devs[i - 1].base != base || bus->devs[i - 1].opaque != opaque)
		return -ENOENT;
	memmove(&bus->devs[i - 1], &bus->devs[i], (bus->nr - i) * sizeof(*bus->devs));
	bus->nr--;
	return 0;
}

unsigned int bus_device_count(const struct bus *bus)
{
	return bus->nr;
}

void bus_get_stats(struct bus *bus, struct bus_stats *out)
{
	out->unclaimed_reads = atomic_load(&bus->unclaimed_reads);
	out->unclaimed_writes = atomic_load(&bus->unclaimed_writes);
	out->refused = atomic_load(&bus->refused);
}

/*
 * Finds what claims `addr`: returns the device, or NULL with *gap_end set to
 * the last address before the next device (or the end of the space).
 */
static const struct bus_dev *lookup(const struct bus *bus, uint64_t addr, uint64_t *gap_end)
{
	unsigned int i = upper_bound(bus, addr);

	if (i > 0) {
		const struct bus_dev *d = &bus->devs[i - 1];

		if (addr - d->base < d->len)
			return d;
	}
	*gap_end = i < bus->nr ? bus->devs[i].base - 1 : UINT64_MAX;
	return NULL;
}

/* Largest power of two that is <= n and <= max. */
static unsigned int chunk_size(uint64_t n, unsigned int max)
{
	unsigned int s = max;

	while (s > n)
		s >>= 1;
	return s;
}

enum bus_dir { BUS_READ, BUS_WRITE };

static void unclaimed(struct bus *bus, enum bus_dir dir, uint64_t addr, uint8_t *data, uint64_t n)
{
	if (dir == BUS_READ) {
		memset(data, 0xff, n);
		atomic_fetch_add(&bus->unclaimed_reads, 1);
	} else {
		atomic_fetch_add(&bus->unclaimed_writes, 1);
	}
	if (log_enabled(LOG_LVL_DEBUG))
		log_limited(&bus->rl, LOG_LVL_DEBUG, "%s: unclaimed %s of %u bytes at 0x%llx",
			    bus->name, dir == BUS_READ ? "read" : "write", (unsigned int)n,
			    (unsigned long long)addr);
}

static void device_access(struct bus *bus, enum bus_dir dir, const struct bus_dev *d, uint64_t addr,
			  uint8_t *data, uint64_t n)
{
	uint64_t off = addr - d->base;

	while (n) {
		unsigned int s = chunk_size(n, d->max_access);
		uint64_t v = 0;

		if (s < d->min_access) {
			/* Too narrow for this device: refuse the rest of the access. */
			atomic_fetch_add(&bus->refused, 1);
			log_limited(&bus->rl, LOG_LVL_DEBUG,
				    "%s: %u-byte %s at %s+0x%llx refused (device takes %u..%u)",
				    bus->name, (unsigned int)n, dir == BUS_READ ? "read" : "write",
				    d->name, (unsigned long long)off, d->min_access, d->max_access);
			if (dir == BUS_READ)
				memset(data, 0xff, n);
			return;
		}
		if (dir == BUS_READ) {
			v = d->ops->read ? d->ops->read(d->opaque, off, s) : ~0ULL;
			for (unsigned int b = 0; b < s; b++)
				data[b] = (uint8_t)(v >> (8 * b));
		} else if (d->ops->write) {
			for (unsigned int b = 0; b < s; b++)
				v |= (uint64_t)data[b] << (8 * b);
			d->ops->write(d->opaque, off, v, s);
		}
		off += s;
		data += s;
		n -= s;
	}
}

static void bus_access(struct bus *bus, enum bus_dir dir, uint64_t addr, uint8_t *data,
		       unsigned int len)
{
	uint64_t left = len;

	while (left) {
		uint64_t gap_end, n;
		const struct bus_dev *d = lookup(bus, addr, &gap_end);

		if (d) {
			n = d->len - (addr - d->base);
			if (n > left)
				n = left;
			device_access(bus, dir, d, addr, data, n);
		} else {
			n = gap_end - addr + 1;
			if (n == 0 || n > left) /* n == 0: the gap is the whole 2^64 space */
				n = left;
			unclaimed(bus, dir, addr, data, n);
		}
		left -= n;
		data += n;
		addr += n; /* may wrap at the top of the space, as the hardware would */
	}
}

void bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len)
{
	bus_access(bus, BUS_READ, addr, data, len);
}

void bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned int len)
{
	/* Writes never modify the buffer; the cast lets both share one walker. */
	bus_access(bus, BUS_WRITE, addr, (uint8_t *)data, len);
}
