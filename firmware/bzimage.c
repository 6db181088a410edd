// SPDX-License-Identifier: MIT
#include "config.h"

#include "bzimage.h"
#include "boot_plan_internal.h"
#include "layout.h"
#include "core/gmem.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HDR_MAGIC 0x53726448 /* "HdrS" */
#define BOOT_FLAG 0xaa55
#define DEFAULT_LOAD_ADDR 0x100000ULL
#define TYPE_OF_LOADER_UNDEFINED 0xff

/* The setup header as the image carries it, read without alignment assumptions. */
static struct setup_header read_header(const uint8_t *data)
{
	struct setup_header h;

	memcpy(&h, data + offsetof(struct boot_params, hdr), sizeof(h));
	return h;
}

int bzimage_parse(struct bzimage *bz, const uint8_t *data, size_t size, char *err, size_t err_len)
{
	struct setup_header h;
	unsigned int sects;

	memset(bz, 0, sizeof(*bz));
	if (size < sizeof(struct boot_params)) {
		snprintf(err, err_len, "too short for a bzImage (%zu bytes)", size);
		return -ENOEXEC;
	}
	h = read_header(data);
	if (h.boot_flag != BOOT_FLAG || h.header != HDR_MAGIC) {
		snprintf(err, err_len, "not a bzImage (no boot-protocol header)");
		return -ENOEXEC;
	}
	if (h.version < 0x0206) {
		snprintf(err, err_len, "boot protocol %u.%02u is older than the 2.06 ember needs",
			 h.version >> 8, h.version & 0xff);
		return -ENOEXEC;
	}
	if (!(h.loadflags & LOADED_HIGH)) {
		snprintf(err, err_len, "a zImage that loads below 1 MiB; ember boots bzImages");
		return -ENOEXEC;
	}
	/* Protocol 2.12 announces the 64-bit entry; before that, x86-64 bzImages all had it. */
	if (h.version >= 0x020c && !(h.xloadflags & XLF_KERNEL_64)) {
		snprintf(err, err_len, "a 32-bit kernel: it has no 64-bit entry point");
		return -ENOEXEC;
	}
	sects = h.setup_sects ? h.setup_sects : 4;
	bz->setup_size = (size_t)(sects + 1) * 512;
	if (bz->setup_size >= size) {
		snprintf(err, err_len, "truncated: the setup code fills the whole file");
		return -ENOEXEC;
	}
	bz->data = data;
	bz->size = size;
	bz->version = h.version;
	bz->kernel_size = size - bz->setup_size;
	bz->cmdline_max = h.cmdline_size;
	bz->initrd_max = (uint64_t)h.initrd_addr_max + 1;
	bz->initrd_above_4g = h.version >= 0x020c && (h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G);
	/* init_size exists from 2.10; before, leave room for the image to decompress. */
	bz->init_size = h.version >= 0x020a ? h.init_size : (uint64_t)bz->kernel_size * 4;
	if (bz->init_size < bz->kernel_size)
		bz->init_size = bz->kernel_size;
	bz->load_addr = DEFAULT_LOAD_ADDR;
	if (h.version >= 0x020a && h.pref_address >= DEFAULT_LOAD_ADDR &&
	    h.pref_address < BOOT_IDENTITY_MAP_END)
		bz->load_addr = h.pref_address;
	return 0;
}

int bzimage_plan(const struct bzimage *bz, uint64_t ram_size, uint64_t initrd_size,
		 size_t cmdline_len, struct boot_plan *plan, char *err, size_t err_len)
{
	struct gmem_region r[2];
	int nr = boot_plan_begin(plan, ram_size, r, err, err_len);

	if (nr < 0)
		return nr;
	if (cmdline_len > bz->cmdline_max || cmdline_len >= BOOT_CMDLINE_MAX) {
		snprintf(err, err_len,
			 "-append: the command line is %zu bytes; this kernel takes %u",
			 cmdline_len, bz->cmdline_max);
		return -E2BIG;
	}
	plan->cmdline_addr = BOOT_CMDLINE_ADDR;
	plan->cmdline_len = cmdline_len;

	plan->kernel_addr = bz->load_addr;
	plan->kernel_end = bz->load_addr + bz->init_size;
	plan->entry = bz->load_addr + 0x200;
	return boot_plan_place(plan, ram_size, r, nr, initrd_size, bz->initrd_max,
			       bz->initrd_above_4g, err, err_len);
}

int bzimage_load(const struct bzimage *bz, const struct boot_plan *plan, const struct gmem *mem,
		 const char *cmdline, const struct e820_entry *e820, unsigned int nr_e820)
{
	struct boot_params *zp = gmem_translate(mem, BOOT_ZERO_PAGE_ADDR, sizeof(*zp));
	size_t hdr_end;

	if (!zp || nr_e820 > E820_MAX_ENTRIES_ZEROPAGE)
		return -EFAULT;
	if (gmem_write(mem, plan->kernel_addr, bz->data + bz->setup_size, bz->kernel_size) ||
	    gmem_write(mem, plan->cmdline_addr, cmdline, plan->cmdline_len + 1))
		return -EFAULT;

	memset(zp, 0, sizeof(*zp));
	/* The header runs from 0x1f1 to 0x202 + the byte at 0x201; copy it as the image has it. */
	hdr_end = 0x202 + bz->data[0x201];
	if (hdr_end > sizeof(*zp))
		hdr_end = sizeof(*zp);
	memcpy((uint8_t *)zp + 0x1f1, bz->data + 0x1f1, hdr_end - 0x1f1);

	zp->hdr.type_of_loader = TYPE_OF_LOADER_UNDEFINED;
	zp->hdr.loadflags |= CAN_USE_HEAP;
	zp->hdr.heap_end_ptr = 0xfe00;
	zp->hdr.code32_start = (uint32_t)plan->kernel_addr;
	zp->hdr.cmd_line_ptr = (uint32_t)plan->cmdline_addr;
	zp->ext_cmd_line_ptr = (uint32_t)(plan->cmdline_addr >> 32);
	zp->hdr.ramdisk_image = (uint32_t)plan->initrd_addr;
	zp->ext_ramdisk_image = (uint32_t)(plan->initrd_addr >> 32);
	zp->hdr.ramdisk_size = (uint32_t)plan->initrd_size;
	zp->ext_ramdisk_size = (uint32_t)(plan->initrd_size >> 32);
	zp->hdr.vid_mode = 0xffff; /* "normal": no video mode change */
	for (unsigned int i = 0; i < nr_e820; i++) {
		zp->e820_table[i].addr = e820[i].addr;
		zp->e820_table[i].size = e820[i].size;
		zp->e820_table[i].type = e820[i].type;
	}
	zp->e820_entries = (uint8_t)nr_e820;
	return 0;
}
