/* SPDX-License-Identifier: MIT */
/* The memory map a booting guest is given (BIOS e820 types). */
#ifndef EMBER_E820_H
#define EMBER_E820_H

#include <stdint.h>

#define E820_MAX_ENTRIES 8
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * Fills `out` for a guest with `ram_size` bytes of RAM laid out as
 * gmem_layout() does: RAM below the EBDA, the BIOS area reserved (the MP
 * tables live there), RAM from 1 MiB to the 32-bit hole, and the rest from
 * 4 GiB. Returns the number of entries, or -EINVAL for a RAM size gmem
 * refuses or one under 1 MiB.
 */
int e820_build(uint64_t ram_size, struct e820_entry out[E820_MAX_ENTRIES]);

#endif
