/* SPDX-License-Identifier: MIT */
/*
 * The debug console port (QEMU's isa-debugcon, -debugcon): each byte a guest
 * writes to port 0xe9 goes to the host; a read returns 0xe9 so a guest can
 * tell the port is there.
 */
#ifndef EMBER_DEBUGCON_H
#define EMBER_DEBUGCON_H

#include <stddef.h>
#include <stdint.h>

struct bus;

#define DEBUGCON_DEFAULT_IOBASE 0xe9

struct debugcon {
	void (*out)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
	uint16_t iobase;
};

int debugcon_register(struct debugcon *dev, struct bus *pio, uint16_t iobase);

#endif
