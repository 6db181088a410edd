// SPDX-License-Identifier: MIT
#include "config.h"

#include "debug_exit.h"
#include "core/bus.h"

static void debug_exit_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct debug_exit *dev = opaque;

	(void)offset;
	(void)size;
	/* The process exit status keeps the low 8 bits, as with QEMU. */
	dev->request_exit(dev->opaque, (int)(((value << 1) | 1) & 0xff));
}

static const struct bus_ops debug_exit_ops = {
	.write = debug_exit_write,
	.min_access = 1,
	.max_access = 4,
};

int debug_exit_register(struct debug_exit *dev, struct bus *pio, uint16_t iobase, uint32_t iosize)
{
	return bus_register(pio, iobase, iosize, &debug_exit_ops, dev, "isa-debug-exit");
}
