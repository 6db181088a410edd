// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the kernel loaders (-kernel, -initrd, -append). The
 * input is a kernel file — a bzImage, a PVH ELF, or anything — after a short
 * header that chooses the guest's RAM size, the initrd's size and the
 * command line. It goes through kernel_prepare() as ember does it (the
 * files are memfds, the initrd a sparse one of the chosen size), and the
 * plan is checked: the kernel between 1 MiB and the end of low RAM, the
 * initrd whole inside one RAM region, page-aligned, clear of the kernel and
 * below the limit the kernel gave, the command line inside its area.
 *
 * Guests of up to LOAD_RAM_MAX bytes are then loaded for real with
 * kernel_load() into memory with inaccessible guard pages on both sides, so
 * any write outside guest RAM faults; a plan that prepare accepted must
 * load, and the kernel, the command line and the zero page or start info
 * must say what the plan said. Larger guests (to 1 TiB) are planned only.
 * Every refusal must be a negative errno with a message.
 */
#include "config.h"

#include "tests/fuzz/fuzzin.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/gmem.h"
#include "core/log.h"
#include "firmware/kernel.h"
#include "firmware/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOAD_RAM_MAX (64ULL << 20)
#define PLAN_RAM_MAX (1ULL << 40)
#define PAGE 4096ULL

#define FAIL(...) FUZZ_FAIL("fuzz_kernel", __VA_ARGS__)

/* A memfd holding exactly `len` bytes of `data` (NULL: a sparse file of zeroes). */
static int fill_memfd(int fd, const uint8_t *data, uint64_t len)
{
	if (ftruncate(fd, 0) < 0)
		return -1;
	if (!data)
		return ftruncate(fd, (off_t)len);
	return pwrite(fd, data, len, 0) == (ssize_t)len ? 0 : -1;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* The plan must keep everything inside RAM and apart. */
static void check_plan(const struct kernel_image *k, uint64_t ram, uint64_t initrd_size)
{
	const struct boot_plan *p = &k->plan;
	struct gmem_region r[2];
	int nr = gmem_layout(ram, r);
	uint64_t low_end = r[0].size;
	bool in_region = false;

	if (nr < 1)
		FAIL("prepare accepted %llu bytes of RAM", (unsigned long long)ram);
	if (p->kernel_addr < BOOT_HIMEM_START || p->kernel_end < p->kernel_addr ||
	    p->kernel_end > low_end)
		FAIL("kernel planned at 0x%llx..0x%llx with low RAM to 0x%llx",
		     (unsigned long long)p->kernel_addr, (unsigned long long)p->kernel_end,
		     (unsigned long long)low_end);
	if (p->cmdline_len != strlen(k->cmdline) || p->cmdline_addr < BOOT_CMDLINE_ADDR ||
	    p->cmdline_addr + p->cmdline_len + 1 > BOOT_CMDLINE_ADDR + BOOT_CMDLINE_MAX)
		FAIL("command line of %zu bytes planned at 0x%llx", p->cmdline_len,
		     (unsigned long long)p->cmdline_addr);
	if (k->kind == KERNEL_PVH && (p->entry < p->kernel_addr || p->entry >= p->kernel_end))
		FAIL("PVH entry 0x%llx outside the kernel", (unsigned long long)p->entry);
	if (p->initrd_size != initrd_size)
		FAIL("initrd of %llu bytes planned as %llu", (unsigned long long)initrd_size,
		     (unsigned long long)p->initrd_size);
	if (!initrd_size)
		return;
	for (int i = 0; i < nr; i++)
		if (p->initrd_addr >= r[i].gpa && p->initrd_size <= r[i].size &&
		    p->initrd_addr - r[i].gpa <= r[i].size - p->initrd_size)
			in_region = true;
	if (!in_region || p->initrd_addr % PAGE || p->initrd_addr < BOOT_HIMEM_START ||
	    overlaps(p->initrd_addr, p->initrd_size, p->kernel_addr,
		     p->kernel_end - p->kernel_addr))
		FAIL("initrd planned at 0x%llx (+0x%llx), kernel 0x%llx..0x%llx, RAM %llu",
		     (unsigned long long)p->initrd_addr, (unsigned long long)p->initrd_size,
		     (unsigned long long)p->kernel_addr, (unsigned long long)p->kernel_end,
		     (unsigned long long)ram);
	if (k->kind == KERNEL_PVH && p->initrd_addr + p->initrd_size > low_end)
		FAIL("PVH initrd above low RAM");
	if (k->kind == KERNEL_BZIMAGE && p->initrd_addr < GMEM_HIGH_BASE &&
	    p->initrd_addr + p->initrd_size > k->bz.initrd_max)
		FAIL("initrd ends at 0x%llx above the kernel's limit 0x%llx",
		     (unsigned long long)(p->initrd_addr + p->initrd_size),
		     (unsigned long long)k->bz.initrd_max);
	if (k->kind == KERNEL_BZIMAGE && p->initrd_addr >= GMEM_HIGH_BASE && !k->bz.initrd_above_4g)
		FAIL("initrd above 4 GiB for a kernel that cannot take it");
}

/* What kernel_load() wrote must be what the plan and the file say. */
static void check_loaded(const struct kernel_image *k, const uint8_t *file, const uint8_t *ram)
{
	const struct boot_plan *p = &k->plan;

	if (memcmp(ram + p->cmdline_addr, k->cmdline, p->cmdline_len + 1))
		FAIL("the command line in guest memory differs");
	if (k->kind == KERNEL_BZIMAGE) {
		const struct boot_params *zp = (const void *)(ram + BOOT_ZERO_PAGE_ADDR);

		if (memcmp(ram + p->kernel_addr, file + k->bz.setup_size, k->bz.kernel_size))
			FAIL("the kernel in guest memory differs from the file");
		if (zp->hdr.cmd_line_ptr != p->cmdline_addr ||
		    zp->hdr.ramdisk_image != (uint32_t)p->initrd_addr ||
		    zp->hdr.ramdisk_size != (uint32_t)p->initrd_size || zp->e820_entries == 0 ||
		    zp->e820_entries > E820_MAX_ENTRIES_ZEROPAGE)
			FAIL("the zero page does not match the plan");
	} else {
		const struct pvh_start_info *si = (const void *)(ram + BOOT_PVH_INFO_ADDR);

		for (unsigned int i = 0; i < k->pvh.nr_segments; i++) {
			const struct pvh_segment *s = &k->pvh.seg[i];

			if (memcmp(ram + s->paddr, file + s->offset, s->filesz))
				FAIL("PVH segment %u in guest memory differs from the file", i);
		}
		if (si->magic != PVH_START_MAGIC || si->cmdline_paddr != p->cmdline_addr ||
		    si->nr_modules != (p->initrd_size ? 1 : 0) ||
		    si->memmap_entries > E820_MAX_ENTRIES)
			FAIL("the PVH start info does not match the plan");
	}
}

/* Guest RAM at 0 with a guard page below and above: a stray write faults. */
static uint8_t *map_guest(uint64_t ram, void **map, size_t *map_len)
{
	uint8_t *m;

	*map_len = ram + 2 * PAGE;
	m = mmap(NULL, *map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m + PAGE, ram, PROT_READ | PROT_WRITE)) {
		munmap(m, *map_len);
		return NULL;
	}
	*map = m;
	return m + PAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int kfd = -1, ifd = -1;
	static char kpath[64], ipath[64];
	struct fin in = { .p = data, .left = size };
	struct kernel_args args = { .kernel = kpath };
	struct kernel_image k;
	char err[512], append[4096];
	uint64_t ram, initrd_size = 0;
	uint8_t flags;
	size_t alen;
	int ret;

	log_set_level(LOG_LVL_ERROR);
	if (kfd < 0) {
		kfd = memfd_create("fuzz-kernel", 0);
		ifd = memfd_create("fuzz-initrd", 0);
		if (kfd < 0 || ifd < 0)
			abort();
		snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
		snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", ifd);
	}

	flags = (uint8_t)fin_take(&in, 1);
	if (flags & 0x80) /* planned only: any size the command line allows */
		ram = (fin_take(&in, 4) << (fin_take(&in, 1) % 16)) % (PLAN_RAM_MAX / PAGE) * PAGE +
		      PAGE;
	else
		ram = fin_take(&in, 2) % (LOAD_RAM_MAX / PAGE) * PAGE + PAGE;
	if (flags & 1) {
		initrd_size = fin_take(&in, 3) << (fin_take(&in, 1) % 24);
		if (!(flags & 0x80) && initrd_size > LOAD_RAM_MAX)
			initrd_size %= LOAD_RAM_MAX;
		args.initrd = ipath;
	}
	alen = fin_take(&in, 2) % sizeof(append);
	if (alen > in.left)
		alen = in.left;
	memcpy(append, in.p, alen);
	append[alen] = '\0'; /* a NUL inside ends it early, as argv would */
	in.p += alen;
	in.left -= alen;
	if (flags & 2)
		args.append = append;
	args.serial_console = flags & 4;
	if (flags & 8)
		args.extra = "virtio_mmio.device=4K@0xd0000000:5";
	args.ram_size = ram;

	if (fill_memfd(kfd, in.p, in.left) || fill_memfd(ifd, NULL, initrd_size))
		return 0;

	err[0] = '\0';
	ret = kernel_prepare(&k, &args, err, sizeof(err));
	if (ret > 0 || (ret < 0 && (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))))
		FAIL("kernel_prepare returned %d with message '%.*s'", ret, (int)sizeof(err), err);
	if (ret < 0)
		return 0;
	check_plan(&k, ram, initrd_size);
	if (flags & 0x10)
		k.acpi_rsdp = BOOT_ACPI_START;

	if (ram <= LOAD_RAM_MAX) {
		struct gmem mem = { 0 };
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		void *map;
		size_t map_len;
		uint8_t *guest = map_guest(ram, &map, &map_len);

		if (!guest) {
			kernel_free(&k);
			return 0;
		}
		if (gmem_add_region(&mem, 0, guest, ram))
			abort();
		err[0] = '\0';
		ret = kernel_load(&k, &mem, err, sizeof(err));
		if (ret)
			FAIL("a plan prepare accepted did not load (%d): %s", ret, err);
		check_loaded(&k, in.p, guest);
		memset(&regs, 0, sizeof(regs));
		memset(&sregs, 0, sizeof(sregs));
		kernel_drop_data(&k);
		kernel_boot_state(&k, &regs, &sregs);
		if (regs.rip != k.plan.entry)
			FAIL("the vCPU starts at 0x%llx, not the entry 0x%llx",
			     (unsigned long long)regs.rip, (unsigned long long)k.plan.entry);
		munmap(map, map_len);
	}
	kernel_free(&k);
	return 0;
}
