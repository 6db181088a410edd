// SPDX-License-Identifier: MIT
#include "config.h"

#include "e820.h"
#include "layout.h"
#include "core/gmem.h"

#include <errno.h>

int e820_build(uint64_t ram_size, struct e820_entry out[E820_MAX_ENTRIES])
{
	struct gmem_region r[2];
	int nr = gmem_layout(ram_size, r), n = 0;

	if (nr < 0 || ram_size < BOOT_HIMEM_START)
		return -EINVAL;
	out[n++] = (struct e820_entry){ 0, BOOT_EBDA_START, E820_TYPE_RAM };
	out[n++] = (struct e820_entry){ BOOT_BIOS_START, BOOT_HIMEM_START - BOOT_BIOS_START,
					E820_TYPE_RESERVED };
	if (r[0].size > BOOT_HIMEM_START)
		out[n++] = (struct e820_entry){ BOOT_HIMEM_START, r[0].size - BOOT_HIMEM_START,
						E820_TYPE_RAM };
	if (nr == 2)
		out[n++] = (struct e820_entry){ r[1].gpa, r[1].size, E820_TYPE_RAM };
	return n;
}
