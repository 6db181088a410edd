// SPDX-License-Identifier: MIT
#include "config.h"

#include "devfix.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

void devfix_init(struct devfix *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(bus_create(&f->pio, "pio", 0x10000), 0);
	ck_assert_int_eq(bus_create(&f->mmio, "mmio", 0), 0);
}

void devfix_fini(struct devfix *f)
{
	bus_destroy(f->pio);
	bus_destroy(f->mmio);
	f->pio = f->mmio = NULL;
}

void devfix_irq_set(void *opaque, int level)
{
	struct devfix_irq *irq = opaque;

	irq->calls++;
	if (level == irq->level)
		irq->repeated = true;
	if (level && !irq->level)
		irq->edges++;
	irq->level = level;
}

/*
 * The bus carries bytes in guest order: assemble and split them so on any host.
 * Tests call these in long loops: no Check assertion here, as each one that
 * passes still writes its place to Check's log.
 */
uint64_t devfix_bus_read(struct bus *bus, uint64_t addr, unsigned int len)
{
	uint8_t b[8];
	uint64_t v = 0;

	if (len > sizeof(b))
		abort();
	bus_read(bus, addr, b, len);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

void devfix_bus_write(struct bus *bus, uint64_t addr, uint64_t v, unsigned int len)
{
	uint8_t b[8];

	if (len > sizeof(b))
		abort();
	for (unsigned int i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_write(bus, addr, b, len);
}

uint8_t devfix_in8(struct devfix *f, uint16_t port)
{
	return (uint8_t)devfix_bus_read(f->pio, port, 1);
}

uint16_t devfix_in16(struct devfix *f, uint16_t port)
{
	return (uint16_t)devfix_bus_read(f->pio, port, 2);
}

uint32_t devfix_in32(struct devfix *f, uint16_t port)
{
	return (uint32_t)devfix_bus_read(f->pio, port, 4);
}

void devfix_out8(struct devfix *f, uint16_t port, uint8_t v)
{
	devfix_bus_write(f->pio, port, v, 1);
}

void devfix_out16(struct devfix *f, uint16_t port, uint16_t v)
{
	devfix_bus_write(f->pio, port, v, 2);
}

void devfix_out32(struct devfix *f, uint16_t port, uint32_t v)
{
	devfix_bus_write(f->pio, port, v, 4);
}

uint8_t devfix_read8(struct devfix *f, uint64_t addr)
{
	return (uint8_t)devfix_bus_read(f->mmio, addr, 1);
}

uint16_t devfix_read16(struct devfix *f, uint64_t addr)
{
	return (uint16_t)devfix_bus_read(f->mmio, addr, 2);
}

uint32_t devfix_read32(struct devfix *f, uint64_t addr)
{
	return (uint32_t)devfix_bus_read(f->mmio, addr, 4);
}

void devfix_write8(struct devfix *f, uint64_t addr, uint8_t v)
{
	devfix_bus_write(f->mmio, addr, v, 1);
}

void devfix_write16(struct devfix *f, uint64_t addr, uint16_t v)
{
	devfix_bus_write(f->mmio, addr, v, 2);
}

void devfix_write32(struct devfix *f, uint64_t addr, uint32_t v)
{
	devfix_bus_write(f->mmio, addr, v, 4);
}
