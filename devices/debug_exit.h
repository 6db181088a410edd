/* SPDX-License-Identifier: MIT */
/*
 * isa-debug-exit, as QEMU has it: a guest write of V to the port window
 * ends the VMM with exit code (V << 1) | 1, so a test guest can report a
 * result that cannot be mistaken for a clean power-off (0).
 */
#ifndef EMBER_DEBUG_EXIT_H
#define EMBER_DEBUG_EXIT_H

#include <stdint.h>

struct bus;

#define DEBUG_EXIT_DEFAULT_IOBASE 0x501
#define DEBUG_EXIT_DEFAULT_IOSIZE 2

struct debug_exit {
	/* Called with the exit code on every write; the VM keeps the first. */
	void (*request_exit)(void *opaque, int code);
	void *opaque;
};

/* Registers the device on `pio` at [iobase, iobase + iosize). */
int debug_exit_register(struct debug_exit *dev, struct bus *pio, uint16_t iobase, uint32_t iosize);

#endif
