// SPDX-License-Identifier: MIT
/* Linux boot: e820 maps, bzImage parsing and placement, the zero page, page tables and GDT. */
#include "config.h"

#include "core/gmem.h"
#include "firmware/bzimage.h"
#include "firmware/e820.h"
#include "firmware/layout.h"
#include "firmware/x86boot.h"
#include "unit.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static char err[256];

START_TEST(e820_small_guest)
{
	struct e820_entry e[E820_MAX_ENTRIES];

	ck_assert_int_eq(e820_build(256 * MiB, e), 3);
	ck_assert_uint_eq(e[0].addr, 0);
	ck_assert_uint_eq(e[0].size, BOOT_EBDA_START);
	ck_assert_uint_eq(e[0].type, E820_TYPE_RAM);
	ck_assert_uint_eq(e[1].addr, BOOT_BIOS_START);
	ck_assert_uint_eq(e[1].type, E820_TYPE_RESERVED);
	ck_assert_uint_eq(e[2].addr, MiB);
	ck_assert_uint_eq(e[2].size, 255 * MiB);
	ck_assert_uint_eq(e[2].type, E820_TYPE_RAM);
}
END_TEST

START_TEST(e820_split_above_4g)
{
	struct e820_entry e[E820_MAX_ENTRIES];

	ck_assert_int_eq(e820_build(3 * GiB, e), 3);
	ck_assert_uint_eq(e[2].addr + e[2].size, 3 * GiB);
	ck_assert_int_eq(e820_build(6 * GiB, e), 4);
	ck_assert_uint_eq(e[2].addr + e[2].size, 3 * GiB);
	ck_assert_uint_eq(e[3].addr, 4 * GiB);
	ck_assert_uint_eq(e[3].size, 3 * GiB);
	ck_assert_uint_eq(e[3].type, E820_TYPE_RAM);
	ck_assert_int_eq(e820_build(MiB, e), 2); /* nothing above 1 MiB */
	ck_assert_int_eq(e820_build(512 * 1024, e), -EINVAL);
	ck_assert_int_eq(e820_build(0, e), -EINVAL);
}
END_TEST

/* A synthetic bzImage: a real-mode part of `sects` sectors and a protected-mode part. */
static uint8_t *make_bzimage(size_t *size, uint16_t version, uint8_t sects, size_t kernel_len)
{
	size_t setup = ((size_t)(sects ? sects : 4) + 1) * 512;
	uint8_t *img = calloc(1, setup + kernel_len);
	struct setup_header h = { 0 };

	h.setup_sects = sects;
	h.boot_flag = 0xaa55;
	h.header = 0x53726448;
	h.version = version;
	h.loadflags = LOADED_HIGH;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 2 * MiB;
	h.relocatable_kernel = 1;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.cmdline_size = 2047;
	h.pref_address = 16 * MiB;
	h.init_size = 32 * MiB;
	h.jump = 0x66eb; /* the header's length byte at 0x201: 0x66 */
	memcpy(img + offsetof(struct boot_params, hdr), &h, sizeof(h));
	for (size_t i = 0; i < kernel_len; i++)
		img[setup + i] = (uint8_t)(i * 7);
	*size = setup + kernel_len;
	return img;
}

START_TEST(parse_a_modern_bzimage)
{
	struct bzimage bz;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 27, 8192);

	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	ck_assert_uint_eq(bz.setup_size, 28 * 512);
	ck_assert_uint_eq(bz.kernel_size, 8192);
	ck_assert_uint_eq(bz.load_addr, 16 * MiB);
	ck_assert_uint_eq(bz.init_size, 32 * MiB);
	ck_assert_uint_eq(bz.cmdline_max, 2047);
	ck_assert_uint_eq(bz.initrd_max, 0x80000000ULL);
	ck_assert(bz.initrd_above_4g);
	free(img);
}
END_TEST

START_TEST(parse_refusals)
{
	struct bzimage bz;
	struct setup_header *h;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 4, 4096);

	h = (struct setup_header *)(img + offsetof(struct boot_params, hdr));
	ck_assert_int_eq(bzimage_parse(&bz, img, 100, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "too short"));
	h->boot_flag = 0;
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "not a bzImage"));
	h->boot_flag = 0xaa55;
	h->version = 0x0205;
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "2.05 is older than the 2.06"));
	h->version = 0x020f;
	h->loadflags = 0;
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "zImage"));
	h->loadflags = LOADED_HIGH;
	h->xloadflags = 0;
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "32-bit kernel"));
	h->xloadflags = XLF_KERNEL_64;
	h->setup_sects = 200; /* more setup than file */
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	free(img);
}
END_TEST

START_TEST(old_protocols)
{
	struct bzimage bz;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x0206, 4, 4096);

	/* Before 2.10: no init_size or pref_address; before 2.12: no xloadflags. */
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	ck_assert_uint_eq(bz.load_addr, MiB);
	ck_assert_uint_eq(bz.init_size, 4 * 4096);
	ck_assert(!bz.initrd_above_4g);
	free(img);
}
END_TEST

START_TEST(plan_places_initrd_at_the_top)
{
	struct bzimage bz;
	struct boot_plan p;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 4, 4096);

	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	ck_assert_int_eq(bzimage_plan(&bz, 256 * MiB, 10 * MiB + 5, 100, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(p.kernel_addr, 16 * MiB);
	ck_assert_uint_eq(p.kernel_end, 48 * MiB);
	ck_assert_uint_eq(p.entry, 16 * MiB + 0x200);
	ck_assert_uint_eq(p.initrd_size, 10 * MiB + 5);
	ck_assert_uint_eq(p.initrd_addr % 4096, 0);
	ck_assert_uint_le(p.initrd_addr + p.initrd_size, 256 * MiB);
	ck_assert_uint_gt(p.initrd_addr + p.initrd_size + 4096, 256 * MiB);
	ck_assert_uint_eq(p.cmdline_addr, BOOT_CMDLINE_ADDR);

	/* Below initrd_addr_max (2 GiB here) even with 3 GiB of RAM. */
	ck_assert_int_eq(bzimage_plan(&bz, 3 * GiB, MiB, 0, &p, err, sizeof(err)), 0);
	ck_assert_uint_le(p.initrd_addr + p.initrd_size, 2 * GiB);
	free(img);
}
END_TEST

START_TEST(plan_refusals)
{
	struct bzimage bz;
	struct boot_plan p;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 4, 4096);

	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	ck_assert_int_eq(bzimage_plan(&bz, 32 * MiB, 0, 10, &p, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "too small for this kernel"));
	ck_assert_int_eq(bzimage_plan(&bz, 64 * MiB, 20 * MiB, 10, &p, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "-initrd"));
	ck_assert_int_eq(bzimage_plan(&bz, 64 * MiB, 0, 2048, &p, err, sizeof(err)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "2048 bytes; this kernel takes 2047"));
	ck_assert_int_eq(bzimage_plan(&bz, 64 * MiB, 0, 2047, &p, err, sizeof(err)), 0);
	free(img);
}
END_TEST

START_TEST(plan_initrd_above_4g_when_allowed)
{
	struct bzimage bz;
	struct boot_plan p;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 4, 4096);

	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	/* 2.5 GiB of initrd does not fit below 2 GiB; the kernel takes it above 4 GiB. */
	ck_assert_int_eq(bzimage_plan(&bz, 6 * GiB, 2 * GiB + GiB / 2, 0, &p, err, sizeof(err)), 0);
	ck_assert_uint_ge(p.initrd_addr, 4 * GiB);
	ck_assert_uint_le(p.initrd_addr + p.initrd_size, 7 * GiB);
	bz.initrd_above_4g = false;
	ck_assert_int_eq(bzimage_plan(&bz, 6 * GiB, 2 * GiB + GiB / 2, 0, &p, err, sizeof(err)),
			 -ENOMEM);
	free(img);
}
END_TEST

/* Guest RAM in a plain mapping: 64 MiB at 0. */
static uint8_t *ram;
static struct gmem mem;

static void ram_setup(void)
{
	ram = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(ram, MAP_FAILED);
	memset(&mem, 0, sizeof(mem));
	ck_assert_int_eq(gmem_add_region(&mem, 0, ram, 64 * MiB), 0);
}

static void ram_teardown(void)
{
	munmap(ram, 64 * MiB);
}

START_TEST(load_writes_kernel_cmdline_and_zero_page)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct boot_params *zp = (struct boot_params *)(ram + BOOT_ZERO_PAGE_ADDR);
	struct bzimage bz;
	struct boot_plan p;
	size_t size;
	uint8_t *img = make_bzimage(&size, 0x020f, 4, 4096);
	int n = e820_build(64 * MiB, e);
	const char *cmd = "console=ttyS0 quiet";

	/* A small kernel so it fits 64 MiB: init_size 16 MiB. */
	((struct setup_header *)(img + 0x1f1))->init_size = 16 * MiB;
	ck_assert_int_eq(bzimage_parse(&bz, img, size, err, sizeof(err)), 0);
	ck_assert_int_eq(bzimage_plan(&bz, 64 * MiB, 3 * MiB, strlen(cmd), &p, err, sizeof(err)),
			 0);
	ck_assert_int_eq(bzimage_load(&bz, &p, &mem, cmd, e, (unsigned int)n), 0);
	ck_assert_mem_eq(ram + 16 * MiB, img + 5 * 512, 4096);
	ck_assert_str_eq((char *)ram + BOOT_CMDLINE_ADDR, cmd);
	ck_assert_uint_eq(zp->hdr.boot_flag, 0xaa55);
	ck_assert_uint_eq(zp->hdr.header, 0x53726448);
	ck_assert_uint_eq(zp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(zp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(zp->hdr.ramdisk_image, p.initrd_addr);
	ck_assert_uint_eq(zp->hdr.ramdisk_size, 3 * MiB);
	ck_assert_uint_eq(zp->hdr.code32_start, 16 * MiB);
	ck_assert(zp->hdr.loadflags & CAN_USE_HEAP);
	ck_assert_uint_eq(zp->e820_entries, 3);
	ck_assert_uint_eq(zp->e820_table[2].addr, MiB);
	ck_assert_uint_eq(zp->e820_table[2].size, 63 * MiB);
	ck_assert_uint_eq(zp->e820_table[2].type, E820_TYPE_RAM);
	free(img);
}
END_TEST

START_TEST(page_tables_and_gdt)
{
	uint64_t *pml4 = (uint64_t *)(ram + BOOT_PML4_ADDR);
	uint64_t *pdpt = (uint64_t *)(ram + BOOT_PDPT_ADDR);
	uint64_t *pd = (uint64_t *)(ram + BOOT_PD_ADDR);
	uint64_t *gdt = (uint64_t *)(ram + BOOT_GDT_ADDR);

	ck_assert_int_eq(x86boot_write_tables(&mem), 0);
	ck_assert_uint_eq(pml4[0], BOOT_PDPT_ADDR | 3);
	ck_assert_uint_eq(pml4[1], 0);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_uint_eq(pdpt[i], (BOOT_PD_ADDR + i * 4096) | 3);
	ck_assert_uint_eq(pdpt[4], 0);
	/* 2048 large pages map 0..4 GiB onto themselves. */
	ck_assert_uint_eq(pd[0], 0x83);
	ck_assert_uint_eq(pd[1], (2 * MiB) | 0x83);
	ck_assert_uint_eq(pd[2047], (4 * GiB - 2 * MiB) | 0x83);
	/* __BOOT_CS: 64-bit code, flat; __BOOT_DS: data, flat. */
	ck_assert_uint_eq(gdt[0], 0);
	ck_assert_uint_eq(gdt[BOOT_CS / 8], 0x00af9b000000ffffULL);
	ck_assert_uint_eq(gdt[BOOT_DS / 8], 0x00cf93000000ffffULL);
}
END_TEST

START_TEST(entry_states)
{
	struct kvm_regs regs;
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.apic_base = 0xfee00900; /* must survive */
	x86boot_long_mode(&regs, &s, 16 * MiB + 0x200, BOOT_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(regs.rip, 16 * MiB + 0x200);
	ck_assert_uint_eq(regs.rsi, BOOT_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(regs.rflags & (1 << 9), 0); /* interrupts off */
	ck_assert_uint_eq(s.cs.selector, BOOT_CS);
	ck_assert_uint_eq(s.cs.l, 1);
	ck_assert_uint_eq(s.ds.selector, BOOT_DS);
	ck_assert_uint_eq(s.ss.selector, BOOT_DS);
	ck_assert_uint_eq(s.cr3, BOOT_PML4_ADDR);
	ck_assert(s.cr0 & (1ULL << 31));
	ck_assert(s.cr4 & (1ULL << 5));
	ck_assert_uint_eq(s.efer & 0x500, 0x500);
	ck_assert_uint_eq(s.apic_base, 0xfee00900);

	x86boot_pvh(&regs, &s, 0x100200, BOOT_PVH_INFO_ADDR);
	ck_assert_uint_eq(regs.rip, 0x100200);
	ck_assert_uint_eq(regs.rbx, BOOT_PVH_INFO_ADDR);
	ck_assert_uint_eq(s.cs.l, 0);
	ck_assert_uint_eq(s.cs.db, 1);
	ck_assert_uint_eq(s.cr0 & (1ULL << 31), 0); /* paging off */
	ck_assert_uint_eq(s.cr0 & 1, 1);
	ck_assert_uint_eq(s.efer, 0);
	ck_assert_uint_eq(s.apic_base, 0xfee00900);
}
END_TEST

static Suite *boot_suite(void)
{
	Suite *s = suite_create("boot");
	TCase *tc = tcase_create("plan");
	TCase *mem_tc = tcase_create("memory");

	tcase_add_test(tc, e820_small_guest);
	tcase_add_test(tc, e820_split_above_4g);
	tcase_add_test(tc, parse_a_modern_bzimage);
	tcase_add_test(tc, parse_refusals);
	tcase_add_test(tc, old_protocols);
	tcase_add_test(tc, plan_places_initrd_at_the_top);
	tcase_add_test(tc, plan_refusals);
	tcase_add_test(tc, plan_initrd_above_4g_when_allowed);
	tcase_add_test(tc, entry_states);
	tcase_add_checked_fixture(mem_tc, ram_setup, ram_teardown);
	tcase_add_test(mem_tc, load_writes_kernel_cmdline_and_zero_page);
	tcase_add_test(mem_tc, page_tables_and_gdt);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, mem_tc);
	return s;
}

int main(void)
{
	return unit_run(boot_suite());
}
