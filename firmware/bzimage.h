/* SPDX-License-Identifier: MIT */
/*
 * Linux bzImage loading (Documentation/arch/x86/boot.rst), through the 64-bit
 * entry point. Three steps: parse checks the image; plan places kernel,
 * initrd and command line in a RAM size, so every "does not fit" is found
 * before a VM exists; load writes them and the zero page into guest memory.
 */
#ifndef EMBER_BZIMAGE_H
#define EMBER_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e820.h"

struct gmem;

struct bzimage {
	const uint8_t *data; /* the whole file, owned by the caller */
	size_t size;
	uint16_t version;   /* boot protocol, e.g. 0x020f */
	size_t setup_size;  /* real-mode part: (setup_sects + 1) * 512 */
	size_t kernel_size; /* protected-mode part that follows it */
	uint64_t load_addr;
	uint64_t init_size;   /* memory the kernel needs from load_addr while it starts */
	uint32_t cmdline_max; /* bytes, without the terminating NUL */
	uint64_t initrd_max;  /* highest address an initrd may end at, below 4 GiB */
	bool initrd_above_4g;
};

/* Where a kernel, its initrd and its command line go (shared by bzImage and PVH). */
struct boot_plan {
	uint64_t kernel_addr;
	uint64_t kernel_end;  /* kernel_addr + init_size */
	uint64_t entry;	      /* 64-bit entry point */
	uint64_t initrd_addr; /* 0: no initrd */
	uint64_t initrd_size;
	uint64_t cmdline_addr;
	size_t cmdline_len; /* without the NUL */
};

/* Checks a bzImage; 0, or -ENOEXEC with a one-line reason in `err`. */
int bzimage_parse(struct bzimage *bz, const uint8_t *data, size_t size, char *err, size_t err_len);

/*
 * Places everything in a guest with `ram_size` bytes of RAM. Returns 0, or
 * -E2BIG / -ENOMEM with a reason (command line too long, RAM too small for
 * the kernel, initrd does not fit).
 */
int bzimage_plan(const struct bzimage *bz, uint64_t ram_size, uint64_t initrd_size,
		 size_t cmdline_len, struct boot_plan *plan, char *err, size_t err_len);

/*
 * Writes the kernel, command line and zero page (with the e820 map) into
 * guest memory; the caller puts the initrd at plan->initrd_addr. Returns 0
 * or -EFAULT if the plan does not match `mem`.
 */
int bzimage_load(const struct bzimage *bz, const struct boot_plan *plan, const struct gmem *mem,
		 const char *cmdline, const struct e820_entry *e820, unsigned int nr_e820);

#endif
