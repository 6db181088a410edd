/* SPDX-License-Identifier: MIT */
/*
 * PVH boot: an ELF kernel (vmlinux, or any image with the Xen PVH note)
 * entered in 32-bit protected mode at the physical address the note
 * XEN_ELFNOTE_PHYS32_ENTRY names, with %ebx pointing at an hvm_start_info
 * structure (Xen's public arch-x86/hvm/start_info.h, version 1). The same
 * three steps as bzImage: parse checks the file, plan places it in a RAM
 * size, load writes it into guest memory.
 */
#ifndef EMBER_PVH_H
#define EMBER_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bzimage.h"
#include "e820.h"
#include "layout.h"

struct gmem;

#define PVH_MAX_SEGMENTS 16 /* PT_LOAD segments with memory; vmlinux has 4 or 5 */
#define PVH_MAX_PHDRS 64

/* The Xen ELF note that makes an ELF a PVH kernel. */
#define PVH_NOTE_NAME "Xen"
#define PVH_NOTE_PHYS32_ENTRY 18 /* XEN_ELFNOTE_PHYS32_ENTRY */

/* "xEn3" with the 0x80 bit of the "E" set; version 1 is the first with a memory map. */
#define PVH_START_MAGIC 0x336ec578
#define PVH_START_VERSION 1

/* hvm_start_info: what %ebx points at on entry. Addresses are 0 when absent. */
struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr; /* array of struct pvh_modlist_entry */
	uint64_t cmdline_paddr; /* NUL-terminated */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* array of struct pvh_memmap_entry; version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

/* hvm_modlist_entry: Linux takes the first module as its initrd. */
struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

/* hvm_memmap_table_entry: the type is the e820 (ACPI address range) type. */
struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info is 56 bytes");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry is 24 bytes");

/* What pvh_load() writes at BOOT_PVH_INFO_ADDR, one after the other. */
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + sizeof(struct pvh_start_info))
#define PVH_MEMMAP_ADDR (PVH_MODLIST_ADDR + sizeof(struct pvh_modlist_entry))
#define PVH_INFO_END (PVH_MEMMAP_ADDR + E820_MAX_ENTRIES * sizeof(struct pvh_memmap_entry))

_Static_assert(PVH_INFO_END <= BOOT_ZERO_PAGE_ADDR,
	       "the PVH start info must end below the zero page");

/* A PT_LOAD segment, checked against the file and the 32-bit address space. */
struct pvh_segment {
	uint64_t offset; /* in the file */
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz; /* > 0; memsz - filesz bytes are zeroed */
};

struct pvh_image {
	const uint8_t *data; /* the whole file, owned by the caller */
	size_t size;
	bool elf64;
	unsigned int nr_segments;
	/* Sorted by paddr, not overlapping. */
	struct pvh_segment seg[PVH_MAX_SEGMENTS];
	/* The lowest loaded address (>= BOOT_HIMEM_START) and one past the highest (<= 4 GiB). */
	uint64_t start, end;
	/* From the note; inside a segment's bytes from the file. */
	uint64_t entry;
};

/*
 * Checks an ELF for PVH booting: ELF32 or ELF64, little-endian, i386 or
 * x86-64, ET_EXEC, 1 to PVH_MAX_SEGMENTS non-overlapping PT_LOAD segments
 * in the file and between 1 MiB and 4 GiB, and a "Xen" note of type
 * XEN_ELFNOTE_PHYS32_ENTRY (in a PT_NOTE segment, else an SHT_NOTE section)
 * whose 4- or 8-byte descriptor is the entry address. Returns 0, or
 * -ENOEXEC with a one-line reason in `err`. `data` must outlive `p`.
 */
int pvh_parse(struct pvh_image *p, const uint8_t *data, size_t size, char *err, size_t err_len);

/*
 * Places the kernel (where its segments say), the command line at
 * BOOT_CMDLINE_ADDR and the initrd at the top of low RAM in a guest with
 * `ram_size` bytes of RAM. plan->entry is the 32-bit entry point. Returns 0,
 * or -EINVAL (RAM size), -E2BIG (command line) or -ENOMEM (kernel or initrd
 * does not fit) with a reason.
 */
int pvh_plan(const struct pvh_image *p, uint64_t ram_size, uint64_t initrd_size, size_t cmdline_len,
	     struct boot_plan *plan, char *err, size_t err_len);

/*
 * Writes the segments (zeroing their bss), the command line and, at
 * BOOT_PVH_INFO_ADDR, the start info, module list and memory map; the
 * caller puts the initrd at plan->initrd_addr and starts the vCPU with
 * x86boot_pvh(..., plan->entry, BOOT_PVH_INFO_ADDR). Returns 0, -EINVAL for
 * more than E820_MAX_ENTRIES entries, or -EFAULT if the plan does not
 * match `mem`.
 */
int pvh_load(const struct pvh_image *p, const struct boot_plan *plan, const struct gmem *mem,
	     const char *cmdline, const struct e820_entry *e820, unsigned int nr_e820);

#endif
