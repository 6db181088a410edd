// SPDX-License-Identifier: MIT
#include "config.h"

#include "debugcon.h"
#include "core/bus.h"

static uint64_t debugcon_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct debugcon *dev = opaque;

	(void)offset;
	(void)size;
	return dev->iobase & 0xff;
}

static void debugcon_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct debugcon *dev = opaque;
	uint8_t c = (uint8_t)value;

	(void)offset;
	(void)size;
	dev->out(dev->opaque, &c, 1);
}

/* One byte wide: wider accesses are split into bytes, low byte first. */
static const struct bus_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
	.min_access = 1,
	.max_access = 1,
};

int debugcon_register(struct debugcon *dev, struct bus *pio, uint16_t iobase)
{
	dev->iobase = iobase;
	return bus_register(pio, iobase, 1, &debugcon_ops, dev, "isa-debugcon");
}
