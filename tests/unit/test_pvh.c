// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/gmem.h"
#include "firmware/pvh.h"
#include "unit.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ULL << 20)
#define RAM_SIZE (2 * MiB)
#define IMG_MAX 0x4000
#define MAX_SEGS 20
#define KERNEL (1 * MiB)

/*
 * A tiny ELF builder: headers, program headers, one note area and the
 * segments' bytes in a buffer, in that order, and optionally a section
 * header table (a null section and an SHT_NOTE one) at the end.
 */
enum note_place { NOTE_PHDR, NOTE_SECTION, NOTE_NONE };

struct seg {
	uint64_t paddr, filesz, memsz;
};

struct spec {
	bool elf64;
	unsigned int nr;
	struct seg seg[MAX_SEGS];
	enum note_place note;
	const char *note_name;
	uint32_t note_type;
	uint32_t descsz;
	uint64_t entry;
	bool build_id_first; /* a GNU build-id note before the PVH one */
};

/* Where build() put things, for tests that corrupt them. */
struct built {
	size_t size, phoff, note_off, note_size, shoff;
	size_t seg_off[MAX_SEGS];
	unsigned int note_phdr; /* index of the PT_NOTE program header */
};

static uint8_t img[IMG_MAX];
static struct built b;
static uint8_t *file; /* what the parser sees: exactly the file's size, so ASan sees overreads */
static char err[256];
static uint8_t ram[RAM_SIZE];

static const struct e820_entry e820[] = {
	{ 0, 0x9fc00, E820_TYPE_RAM },
	{ 0xf0000, 0x10000, E820_TYPE_RESERVED },
	{ KERNEL, RAM_SIZE - KERNEL, E820_TYPE_RAM },
};
#define NR_E820 (sizeof(e820) / sizeof(e820[0]))

static uint8_t pattern(unsigned int seg, size_t i)
{
	return (uint8_t)((seg + 1) * 31 + i);
}

/* One segment at 1 MiB with 0x200 bytes from the file and 0xe00 of bss, entered at +0x10. */
static struct spec spec_default(bool elf64)
{
	return (struct spec){
		.elf64 = elf64,
		.nr = 1,
		.seg = { { KERNEL, 0x200, 0x1000 } },
		.note = NOTE_PHDR,
		.note_name = "Xen",
		.note_type = 18,
		.descsz = 4,
		.entry = KERNEL + 0x10,
	};
}

static void put32(size_t off, uint32_t v)
{
	memcpy(img + off, &v, sizeof(v));
}

/* One note at `pos`: header, padded name, descriptor holding `value`; returns its size. */
static size_t put_note(size_t pos, const char *name, uint32_t type, uint32_t descsz, uint64_t value)
{
	size_t namesz = strlen(name) + 1;
	size_t desc = pos + 12 + ((namesz + 3) & ~3UL);

	put32(pos, (uint32_t)namesz);
	put32(pos + 4, descsz);
	put32(pos + 8, type);
	memcpy(img + pos + 12, name, namesz);
	memset(img + desc, 0xee, descsz);
	memcpy(img + desc, &value, descsz < 8 ? descsz : 8);
	return desc + ((descsz + 3) & ~3UL) - pos;
}

static void put_phdr(const struct spec *s, unsigned int i, uint32_t type, uint64_t off,
		     uint64_t paddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	if (s->elf64) {
		Elf64_Phdr h = { .p_type = type,
				 .p_offset = off,
				 .p_vaddr = paddr + 0xffffffff80000000ULL,
				 .p_paddr = paddr,
				 .p_filesz = filesz,
				 .p_memsz = memsz,
				 .p_align = align };

		memcpy(img + b.phoff + i * sizeof(h), &h, sizeof(h));
	} else {
		Elf32_Phdr h = { .p_type = type,
				 .p_offset = (uint32_t)off,
				 .p_vaddr = (uint32_t)paddr,
				 .p_paddr = (uint32_t)paddr,
				 .p_filesz = (uint32_t)filesz,
				 .p_memsz = (uint32_t)memsz,
				 .p_align = (uint32_t)align };

		memcpy(img + b.phoff + i * sizeof(h), &h, sizeof(h));
	}
}

static void put_shdr(const struct spec *s, unsigned int i, uint32_t type, uint64_t off,
		     uint64_t size)
{
	if (s->elf64) {
		Elf64_Shdr h = { .sh_type = type, .sh_offset = off, .sh_size = size };

		h.sh_addralign = type ? 4 : 0;
		memcpy(img + b.shoff + i * sizeof(h), &h, sizeof(h));
	} else {
		Elf32_Shdr h = { .sh_type = type,
				 .sh_offset = (uint32_t)off,
				 .sh_size = (uint32_t)size };

		h.sh_addralign = type ? 4 : 0;
		memcpy(img + b.shoff + i * sizeof(h), &h, sizeof(h));
	}
}

static size_t build(const struct spec *s)
{
	size_t ehsize = s->elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phent = s->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t shent = s->elf64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	unsigned int nph = s->nr + (s->note == NOTE_PHDR);
	unsigned int nsh = s->note == NOTE_SECTION ? 2 : 0;
	uint8_t ident[EI_NIDENT] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3 };
	size_t pos;

	ident[EI_CLASS] = s->elf64 ? ELFCLASS64 : ELFCLASS32;
	ident[EI_DATA] = ELFDATA2LSB;
	ident[EI_VERSION] = EV_CURRENT;
	memset(img, 0, sizeof(img));
	memset(&b, 0, sizeof(b));
	b.phoff = ehsize;
	pos = ehsize + nph * phent;

	if (s->note != NOTE_NONE) {
		b.note_off = pos;
		if (s->build_id_first)
			pos += put_note(pos, "GNU", NT_GNU_BUILD_ID, 20, 0);
		pos += put_note(pos, s->note_name, s->note_type, s->descsz, s->entry);
		b.note_size = pos - b.note_off;
	}
	for (unsigned int i = 0; i < s->nr; i++) {
		pos = (pos + 15) & ~15UL;
		b.seg_off[i] = pos;
		for (size_t j = 0; j < s->seg[i].filesz; j++)
			img[pos + j] = pattern(i, j);
		pos += s->seg[i].filesz;
		put_phdr(s, i, PT_LOAD, b.seg_off[i], s->seg[i].paddr, s->seg[i].filesz,
			 s->seg[i].memsz, 0x1000);
	}
	if (s->note == NOTE_PHDR) {
		b.note_phdr = s->nr;
		put_phdr(s, s->nr, PT_NOTE, b.note_off, 0, b.note_size, b.note_size, 4);
	}
	if (nsh) {
		pos = (pos + 7) & ~7UL;
		b.shoff = pos;
		put_shdr(s, 0, SHT_NULL, 0, 0);
		put_shdr(s, 1, SHT_NOTE, b.note_off, b.note_size);
		pos += nsh * shent;
	}
	ck_assert_uint_le(pos, IMG_MAX);

	if (s->elf64) {
		Elf64_Ehdr e = { .e_type = ET_EXEC,
				 .e_machine = EM_X86_64,
				 .e_version = EV_CURRENT,
				 .e_entry = 0xffffffff81000000ULL,
				 .e_phoff = b.phoff,
				 .e_shoff = b.shoff,
				 .e_ehsize = (uint16_t)ehsize,
				 .e_phentsize = (uint16_t)phent,
				 .e_phnum = (uint16_t)nph,
				 .e_shentsize = (uint16_t)shent,
				 .e_shnum = (uint16_t)nsh };

		memcpy(e.e_ident, ident, sizeof(ident));
		memcpy(img, &e, sizeof(e));
	} else {
		Elf32_Ehdr e = { .e_type = ET_EXEC,
				 .e_machine = EM_386,
				 .e_version = EV_CURRENT,
				 .e_entry = (uint32_t)s->entry,
				 .e_phoff = (uint32_t)b.phoff,
				 .e_shoff = (uint32_t)b.shoff,
				 .e_ehsize = (uint16_t)ehsize,
				 .e_phentsize = (uint16_t)phent,
				 .e_phnum = (uint16_t)nph,
				 .e_shentsize = (uint16_t)shent,
				 .e_shnum = (uint16_t)nsh };

		memcpy(e.e_ident, ident, sizeof(ident));
		memcpy(img, &e, sizeof(e));
	}
	b.size = pos;
	return pos;
}

/* Changes one ELF header field of the built image, in either class. */
#define PATCH_EHDR(elf64, field, value)                                                            \
	do {                                                                                       \
		if (elf64) {                                                                       \
			Elf64_Ehdr e_;                                                             \
			memcpy(&e_, img, sizeof(e_));                                              \
			e_.field = (__typeof__(e_.field))(value);                                  \
			memcpy(img, &e_, sizeof(e_));                                              \
		} else {                                                                           \
			Elf32_Ehdr e_;                                                             \
			memcpy(&e_, img, sizeof(e_));                                              \
			e_.field = (__typeof__(e_.field))(value);                                  \
			memcpy(img, &e_, sizeof(e_));                                              \
		}                                                                                  \
	} while (0)

/* The same for a field of program header `i`. */
#define PATCH_PHDR(elf64, i, field, value)                                                         \
	do {                                                                                       \
		if (elf64) {                                                                       \
			Elf64_Phdr h_;                                                             \
			uint8_t *at_ = img + b.phoff + (i) * sizeof(h_);                           \
			memcpy(&h_, at_, sizeof(h_));                                              \
			h_.field = (__typeof__(h_.field))(value);                                  \
			memcpy(at_, &h_, sizeof(h_));                                              \
		} else {                                                                           \
			Elf32_Phdr h_;                                                             \
			uint8_t *at_ = img + b.phoff + (i) * sizeof(h_);                           \
			memcpy(&h_, at_, sizeof(h_));                                              \
			h_.field = (__typeof__(h_.field))(value);                                  \
			memcpy(at_, &h_, sizeof(h_));                                              \
		}                                                                                  \
	} while (0)

static void free_file(void)
{
	free(file);
	file = NULL;
}

/* Parses the first `size` bytes of img from a buffer of exactly that size. */
static int parse(struct pvh_image *p, size_t size)
{
	free_file();
	file = malloc(size ? size : 1);
	ck_assert_ptr_nonnull(file);
	memcpy(file, img, size);
	err[0] = '\0';
	return pvh_parse(p, file, size, err, sizeof(err));
}

static void expect_refusal(size_t size, const char *why)
{
	struct pvh_image p;

	ck_assert_int_eq(parse(&p, size), -ENOEXEC);
	ck_assert_msg(strstr(err, why), "error \"%s\" lacks \"%s\"", err, why);
}

static void expect_spec_refusal(const struct spec *s, const char *why)
{
	expect_refusal(build(s), why);
}

static void ram_init(struct gmem *m)
{
	memset(m, 0, sizeof(*m));
	memset(ram, 0xcc, sizeof(ram));
	ck_assert_int_eq(gmem_add_region(m, 0, ram, sizeof(ram)), 0);
}

static struct pvh_start_info start_info(void)
{
	struct pvh_start_info si;

	memcpy(&si, ram + BOOT_PVH_INFO_ADDR, sizeof(si));
	return si;
}

/* Checks the bytes of segment `i` of the last build at `paddr` and its zeroed tail. */
static void check_segment(unsigned int i, uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
	for (uint64_t j = 0; j < filesz; j++)
		ck_assert_uint_eq(ram[paddr + j], pattern(i, j));
	for (uint64_t j = filesz; j < memsz; j++)
		ck_assert_uint_eq(ram[paddr + j], 0);
}

/* ---- happy paths ---- */

static void boots_with_initrd(bool elf64)
{
	static const char cmdline[] = "console=ttyS0 hello";
	struct spec s = spec_default(elf64);
	struct pvh_image p;
	struct boot_plan plan;
	struct pvh_start_info si;
	struct pvh_modlist_entry mod;
	struct pvh_memmap_entry map[NR_E820];
	struct gmem m;

	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert(p.elf64 == elf64);
	ck_assert_uint_eq(p.nr_segments, 1);
	ck_assert_uint_eq(p.entry, KERNEL + 0x10);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0x1801, strlen(cmdline), &plan, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(plan.kernel_addr, KERNEL);
	ck_assert_uint_eq(plan.kernel_end, KERNEL + 0x1000);
	ck_assert_uint_eq(plan.entry, KERNEL + 0x10);
	ck_assert_uint_eq(plan.cmdline_addr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(plan.cmdline_len, strlen(cmdline));
	/* The top of RAM, rounded down to a page. */
	ck_assert_uint_eq(plan.initrd_addr, RAM_SIZE - 0x2000);
	ck_assert_uint_eq(plan.initrd_size, 0x1801);

	ram_init(&m);
	ck_assert_int_eq(pvh_load(&p, &plan, &m, cmdline, e820, NR_E820), 0);
	check_segment(0, KERNEL, 0x200, 0x1000);
	ck_assert_str_eq((char *)ram + BOOT_CMDLINE_ADDR, cmdline);

	si = start_info();
	ck_assert_uint_eq(si.magic, 0x336ec578);
	ck_assert_uint_eq(si.version, 1);
	ck_assert_uint_eq(si.flags, 0);
	ck_assert_uint_eq(si.nr_modules, 1);
	ck_assert_uint_eq(si.modlist_paddr, PVH_MODLIST_ADDR);
	ck_assert_uint_eq(si.cmdline_paddr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(si.rsdp_paddr, 0);
	ck_assert_uint_eq(si.memmap_paddr, PVH_MEMMAP_ADDR);
	ck_assert_uint_eq(si.memmap_entries, NR_E820);
	ck_assert_uint_eq(si.reserved, 0);

	memcpy(&mod, ram + si.modlist_paddr, sizeof(mod));
	ck_assert_uint_eq(mod.paddr, RAM_SIZE - 0x2000);
	ck_assert_uint_eq(mod.size, 0x1801);
	ck_assert_uint_eq(mod.cmdline_paddr, 0);
	ck_assert_uint_eq(mod.reserved, 0);

	memcpy(map, ram + si.memmap_paddr, sizeof(map));
	for (unsigned int i = 0; i < NR_E820; i++) {
		ck_assert_uint_eq(map[i].addr, e820[i].addr);
		ck_assert_uint_eq(map[i].size, e820[i].size);
		ck_assert_uint_eq(map[i].type, e820[i].type);
		ck_assert_uint_eq(map[i].reserved, 0);
	}
	/* Everything else up to the zero page is cleared, and the zero page left alone. */
	for (uint64_t a = PVH_MEMMAP_ADDR + sizeof(map); a < BOOT_ZERO_PAGE_ADDR; a++)
		ck_assert_uint_eq(ram[a], 0);
	ck_assert_uint_eq(ram[BOOT_ZERO_PAGE_ADDR], 0xcc);
	ck_assert_uint_eq(ram[BOOT_PVH_INFO_ADDR - 1], 0xcc);
}

START_TEST(elf64_boots_with_initrd)
{
	boots_with_initrd(true);
}
END_TEST

START_TEST(elf32_boots_with_initrd)
{
	boots_with_initrd(false);
}
END_TEST

/* Two segments, out of order in the file, the entry in the higher one; no initrd. */
static void two_segments(bool elf64)
{
	struct spec s = spec_default(elf64);
	struct pvh_image p;
	struct boot_plan plan;
	struct pvh_start_info si;
	struct gmem m;

	s.nr = 2;
	s.seg[0] = (struct seg){ KERNEL + 0x10000, 0x300, 0x300 };
	s.seg[1] = (struct seg){ KERNEL, 0x100, 0x8000 };
	s.entry = KERNEL + 0x10000 + 0x2ff;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.nr_segments, 2);
	ck_assert_uint_eq(p.seg[0].paddr, KERNEL);
	ck_assert_uint_eq(p.seg[1].paddr, KERNEL + 0x10000);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0, 0, &plan, err, sizeof(err)), 0);
	ck_assert_uint_eq(plan.kernel_addr, KERNEL);
	ck_assert_uint_eq(plan.kernel_end, KERNEL + 0x10300);
	ck_assert_uint_eq(plan.entry, KERNEL + 0x102ff);
	ck_assert_uint_eq(plan.initrd_addr, 0);
	ck_assert_uint_eq(plan.initrd_size, 0);

	ram_init(&m);
	ck_assert_int_eq(pvh_load(&p, &plan, &m, "", e820, NR_E820), 0);
	check_segment(1, KERNEL, 0x100, 0x8000);
	check_segment(0, KERNEL + 0x10000, 0x300, 0x300);
	/* Between the segments, memory is left as it was. */
	ck_assert_uint_eq(ram[KERNEL + 0x8000], 0xcc);
	ck_assert_uint_eq(ram[BOOT_CMDLINE_ADDR], 0);

	si = start_info();
	ck_assert_uint_eq(si.magic, PVH_START_MAGIC);
	ck_assert_uint_eq(si.nr_modules, 0);
	ck_assert_uint_eq(si.modlist_paddr, 0);
	ck_assert_uint_eq(si.cmdline_paddr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(si.memmap_entries, NR_E820);
}

START_TEST(elf64_two_segments)
{
	two_segments(true);
}
END_TEST

START_TEST(elf32_two_segments)
{
	two_segments(false);
}
END_TEST

START_TEST(note_in_a_section)
{
	struct spec s = spec_default(true);
	struct pvh_image p;

	s.note = NOTE_SECTION;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.entry, KERNEL + 0x10);
	s.elf64 = false;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.entry, KERNEL + 0x10);
}
END_TEST

/* A 64-bit vmlinux writes the entry as an 8-byte pointer. */
START_TEST(eight_byte_descriptor)
{
	struct spec s = spec_default(true);
	struct pvh_image p;

	s.descsz = 8;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.entry, KERNEL + 0x10);
}
END_TEST

/* Other notes before the PVH one are skipped; a segment without memory is ignored. */
START_TEST(skips_other_notes_and_empty_segments)
{
	struct spec s = spec_default(true);
	struct pvh_image p;

	s.nr = 2;
	s.seg[1] = (struct seg){ 0, 0, 0 };
	s.build_id_first = true;
	s.entry = KERNEL + 0x20;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.entry, KERNEL + 0x20);
	ck_assert_uint_eq(p.nr_segments, 1);
	s.elf64 = false;
	s.note = NOTE_SECTION;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.entry, KERNEL + 0x20);
}
END_TEST

START_TEST(command_line_at_the_limit)
{
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;

	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0, BOOT_CMDLINE_MAX - 1, &plan, err, sizeof(err)),
			 0);
}
END_TEST

START_TEST(load_needs_the_memory)
{
	static uint8_t low[KERNEL];
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;
	struct gmem m = { 0 };

	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0, 0, &plan, err, sizeof(err)), 0);
	/* Low memory only: the kernel's megabyte is missing. */
	ck_assert_int_eq(gmem_add_region(&m, 0, low, sizeof(low)), 0);
	ck_assert_int_eq(pvh_load(&p, &plan, &m, "", e820, NR_E820), -EFAULT);
	/* And the other way round. */
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(gmem_add_region(&m, KERNEL, ram, KERNEL), 0);
	ck_assert_int_eq(pvh_load(&p, &plan, &m, "", e820, NR_E820), -EFAULT);
	/* More map entries than the block at BOOT_PVH_INFO_ADDR has room for. */
	ram_init(&m);
	ck_assert_int_eq(pvh_load(&p, &plan, &m, "", e820, E820_MAX_ENTRIES + 1), -EINVAL);
}
END_TEST

/* ---- refusals: the ELF header ---- */

START_TEST(refuses_bad_magic)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	img[0] = 0x7e;
	expect_refusal(size, "not an ELF file");
	expect_refusal(0, "not an ELF file");
	expect_refusal(3, "not an ELF file");
}
END_TEST

START_TEST(refuses_wrong_class_data_version)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	img[EI_CLASS] = 3;
	expect_refusal(size, "unknown class 3");
	build(&s);
	img[EI_DATA] = ELFDATA2MSB;
	expect_refusal(size, "big-endian");
	build(&s);
	img[EI_VERSION] = 2;
	expect_refusal(size, "ELF version 2");
}
END_TEST

START_TEST(refuses_wrong_machine_and_type)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	PATCH_EHDR(true, e_machine, EM_AARCH64);
	expect_refusal(size, "machine 183, not x86");
	s.elf64 = false;
	size = build(&s);
	PATCH_EHDR(false, e_machine, EM_ARM);
	expect_refusal(size, "machine 40, not x86");
	size = build(&s);
	PATCH_EHDR(false, e_type, ET_DYN);
	expect_refusal(size, "not an executable");
	s.elf64 = true;
	size = build(&s);
	PATCH_EHDR(true, e_type, ET_REL);
	expect_refusal(size, "not an executable");
}
END_TEST

/* Every prefix of a good file is refused, without reading past it (ASan watches). */
static void truncations(bool elf64)
{
	struct spec s = spec_default(elf64);
	size_t size;
	struct pvh_image p;

	s.note = NOTE_SECTION; /* the section headers come last, after the segment bytes */
	size = build(&s);
	ck_assert_int_eq(parse(&p, size), 0);
	for (size_t n = 0; n < size; n++)
		ck_assert_int_eq(parse(&p, n), -ENOEXEC);
	expect_refusal(EI_NIDENT + 1, elf64 ? "cannot hold an ELF64 header" : "an ELF32 header");
}

START_TEST(elf64_truncated)
{
	truncations(true);
}
END_TEST

START_TEST(elf32_truncated)
{
	truncations(false);
}
END_TEST

START_TEST(refuses_program_headers_outside_the_file)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	PATCH_EHDR(true, e_phoff, size - 8);
	expect_refusal(size, "the program headers (2 at 0x");
	size = build(&s);
	PATCH_EHDR(true, e_phoff, 0xffffffffffffffc0ULL);
	expect_refusal(size, "lie outside the file");
	size = build(&s);
	PATCH_EHDR(true, e_phnum, 60);
	expect_refusal(size, "lie outside the file");
	s.elf64 = false;
	size = build(&s);
	PATCH_EHDR(false, e_phoff, 0xfffffff0U);
	expect_refusal(size, "lie outside the file");
}
END_TEST

START_TEST(refuses_odd_program_header_tables)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	PATCH_EHDR(true, e_phnum, 0);
	expect_refusal(size, "without program headers");
	size = build(&s);
	PATCH_EHDR(true, e_phnum, 0xffff); /* PN_XNUM */
	expect_refusal(size, "65535 program headers");
	size = build(&s);
	PATCH_EHDR(true, e_phentsize, 32);
	expect_refusal(size, "program headers of 32 bytes; ELF64 has 56");
	s.elf64 = false;
	size = build(&s);
	PATCH_EHDR(false, e_phentsize, 56);
	expect_refusal(size, "program headers of 56 bytes; ELF32 has 32");
}
END_TEST

/* ---- refusals: segments ---- */

START_TEST(refuses_segment_outside_the_file)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	PATCH_PHDR(true, 0, p_offset, size - 0x10);
	expect_refusal(size, "program header 0: bytes at 0x");
	size = build(&s);
	PATCH_PHDR(true, 0, p_offset, 0xfffffffffffffff0ULL); /* offset + filesz wraps */
	expect_refusal(size, "lie outside the file");
	s.elf64 = false;
	size = build(&s);
	PATCH_PHDR(false, 0, p_filesz, 0xffffff00U);
	PATCH_PHDR(false, 0, p_memsz, 0xffffff00U);
	expect_refusal(size, "lie outside the file");
}
END_TEST

START_TEST(refuses_filesz_above_memsz)
{
	struct spec s = spec_default(false);
	size_t size = build(&s);

	PATCH_PHDR(false, 0, p_memsz, 0x1ff);
	expect_refusal(size, "file size 0x200 exceeds memory size 0x1ff");
}
END_TEST

START_TEST(refuses_segments_above_4g)
{
	struct spec s = spec_default(true);

	/* Wraps the 64-bit address space. */
	s.seg[0].paddr = 0xfffffffffffff000ULL;
	s.entry = 0;
	expect_spec_refusal(&s, "ends above 4 GiB");
	/* Ends a byte past 4 GiB, in either class. */
	s.seg[0].paddr = 0xfffff001ULL;
	expect_spec_refusal(&s, "segment at 0xfffff001 (+0x1000) ends above 4 GiB");
	s.elf64 = false;
	expect_spec_refusal(&s, "ends above 4 GiB");
	s.elf64 = true;
	s.seg[0] = (struct seg){ KERNEL, 0, 0x100000000ULL };
	expect_spec_refusal(&s, "ends above 4 GiB");
}
END_TEST

START_TEST(accepts_a_segment_ending_at_4g)
{
	struct spec s = spec_default(false);
	struct pvh_image p;

	s.seg[0].paddr = 0xfffff000ULL;
	s.entry = 0xfffff000ULL;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_uint_eq(p.end, 0x100000000ULL);
}
END_TEST

START_TEST(refuses_overlapping_segments)
{
	struct spec s = spec_default(true);

	s.nr = 2;
	s.seg[1] = (struct seg){ KERNEL + 0xfff, 0x10, 0x10 };
	expect_spec_refusal(&s, "segments at 0x100000 (+0x1000) and 0x100fff (+0x10) overlap");
	/* Touching is fine. */
	s.seg[1].paddr = KERNEL + 0x1000;
	{
		struct pvh_image p;

		ck_assert_int_eq(parse(&p, build(&s)), 0);
	}
	/* One inside another, listed first. */
	s.elf64 = false;
	s.seg[0] = (struct seg){ KERNEL + 0x100, 0x10, 0x10 };
	s.seg[1] = (struct seg){ KERNEL, 0x10, 0x1000 };
	s.entry = KERNEL;
	expect_spec_refusal(&s, "overlap");
}
END_TEST

START_TEST(refuses_segment_below_1m)
{
	struct spec s = spec_default(true);

	s.seg[0].paddr = KERNEL - 0x1000;
	expect_spec_refusal(&s, "segment at 0xff000 is below 1 MiB");
	s.nr = 2;
	s.seg[0].paddr = KERNEL;
	s.seg[1] = (struct seg){ 0, 0x10, 0x10 };
	expect_spec_refusal(&s, "program header 1: segment at 0x0 is below 1 MiB");
}
END_TEST

START_TEST(refuses_no_or_too_many_segments)
{
	struct spec s = spec_default(true);

	s.nr = 0;
	expect_spec_refusal(&s, "without loadable segments");
	s.nr = PVH_MAX_SEGMENTS + 1;
	for (unsigned int i = 0; i < s.nr; i++)
		s.seg[i] = (struct seg){ KERNEL + i * 0x1000, i == 0 ? 0x20 : 0, 0x1000 };
	expect_spec_refusal(&s, "more than 16 loadable segments");
	s.nr = PVH_MAX_SEGMENTS;
	{
		struct pvh_image p;

		ck_assert_int_eq(parse(&p, build(&s)), 0);
		ck_assert_uint_eq(p.end, KERNEL + PVH_MAX_SEGMENTS * 0x1000);
	}
}
END_TEST

/* ---- refusals: the entry note ---- */

START_TEST(refuses_missing_note)
{
	struct spec s = spec_default(true);

	s.note = NOTE_NONE;
	expect_spec_refusal(&s, "an ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	s.note = NOTE_PHDR;
	s.note_name = "Linux";
	expect_spec_refusal(&s, "without a PVH entry note");
	s.note_name = "Xen";
	s.note_type = 17; /* another Xen note */
	expect_spec_refusal(&s, "without a PVH entry note");
	s.elf64 = false;
	s.note_type = 18;
	s.note_name = "Xe";
	expect_spec_refusal(&s, "without a PVH entry note");
}
END_TEST

START_TEST(refuses_truncated_note)
{
	struct spec s = spec_default(true);
	size_t size = build(&s);

	/* The descriptor runs past the note area. */
	PATCH_PHDR(true, b.note_phdr, p_filesz, b.note_size - 1);
	expect_refusal(size, "without a PVH entry note");
	/* A name size that would wrap a 32-bit sum. */
	size = build(&s);
	put32(b.note_off, 0xfffffffe);
	expect_refusal(size, "without a PVH entry note");
	size = build(&s);
	put32(b.note_off + 4, 0xfffffffc);
	expect_refusal(size, "without a PVH entry note");
	/* The note area itself outside the file. */
	size = build(&s);
	PATCH_PHDR(true, b.note_phdr, p_offset, size - 4);
	expect_refusal(size, "program header 1: notes at 0x");
}
END_TEST

START_TEST(refuses_bad_descriptor)
{
	struct spec s = spec_default(true);

	s.descsz = 2;
	expect_spec_refusal(&s, "has a 2-byte descriptor; an entry address takes 4 or 8");
	s.descsz = 0;
	expect_spec_refusal(&s, "has a 0-byte descriptor");
	s.descsz = 6;
	expect_spec_refusal(&s, "has a 6-byte descriptor");
	s.elf64 = false;
	s.descsz = 3;
	s.note = NOTE_SECTION;
	expect_spec_refusal(&s, "(section 1) has a 3-byte descriptor");
	s.elf64 = true;
	s.note = NOTE_PHDR;
	s.descsz = 8;
	s.entry = 0x100100000ULL;
	expect_spec_refusal(&s, "names 0x100100000, above 4 GiB");
}
END_TEST

START_TEST(refuses_entry_outside_segments)
{
	struct spec s = spec_default(true);

	s.entry = KERNEL - 1;
	expect_spec_refusal(&s, "the PVH entry point 0xfffff is outside the loaded segments");
	s.entry = KERNEL + 0x1000;
	expect_spec_refusal(&s, "0x101000 is outside");
	/* In the segment, but in its bss: nothing to run there. */
	s.entry = KERNEL + 0x200;
	expect_spec_refusal(&s, "0x100200 is outside");
	s.entry = KERNEL + 0x1ff;
	{
		struct pvh_image p;

		ck_assert_int_eq(parse(&p, build(&s)), 0);
	}
}
END_TEST

START_TEST(refuses_bad_section_headers)
{
	struct spec s = spec_default(true);
	size_t size;

	s.note = NOTE_SECTION;
	size = build(&s);
	PATCH_EHDR(true, e_shoff, size - 8);
	expect_refusal(size, "the section headers (2 at 0x");
	size = build(&s);
	PATCH_EHDR(true, e_shentsize, 40);
	expect_refusal(size, "section headers of 40 bytes; ELF64 has 64");
	size = build(&s);
	/* The note section's bytes outside the file. */
	{
		Elf64_Shdr h;
		uint8_t *at = img + b.shoff + sizeof(h);

		memcpy(&h, at, sizeof(h));
		h.sh_offset = 0xfffffffffffffff0ULL;
		memcpy(at, &h, sizeof(h));
	}
	expect_refusal(size, "section 1: notes at 0xfffffffffffffff0");
	/* No section headers at all: simply no note. */
	size = build(&s);
	PATCH_EHDR(true, e_shnum, 0);
	expect_refusal(size, "without a PVH entry note");
}
END_TEST

/* Random byte changes to a good file: any answer but a crash or an overread. */
START_TEST(survives_corruption)
{
	unsigned int seed = 12345;

	for (int round = 0; round < 4000; round++) {
		struct spec s = spec_default(round & 1);
		struct pvh_image p;
		size_t size;

		s.note = round & 2 ? NOTE_SECTION : NOTE_PHDR;
		size = build(&s);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245 + 12345;
			/* Mostly the headers, where the offsets and sizes are. */
			img[(seed >> 8) % (k & 1 ? size : b.note_off + b.note_size)] ^=
				(uint8_t)(1 + (seed >> 20) % 255);
		}
		if (parse(&p, size) == 0) {
			ck_assert_uint_ge(p.start, BOOT_HIMEM_START);
			ck_assert_uint_le(p.end, 0x100000000ULL);
			ck_assert_uint_ge(p.entry, p.start);
			ck_assert_uint_lt(p.entry, p.end);
		}
	}
}
END_TEST

/* ---- refusals: placement ---- */

START_TEST(refuses_too_little_ram)
{
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;

	s.seg[0].memsz = 0x200000; /* up to 3 MiB */
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0, 0, &plan, err, sizeof(err)), -ENOMEM);
	ck_assert_str_eq(err,
			 "-m: 2M of RAM is too small for this kernel, which needs RAM up to 3M");
	ck_assert_int_eq(pvh_plan(&p, 3 * MiB, 0, 0, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(pvh_plan(&p, 0, 0, 0, &plan, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "cannot be laid out"));
}
END_TEST

START_TEST(refuses_kernel_in_the_mmio_hole)
{
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;

	s.seg[0].paddr = 0xd0000000ULL;
	s.entry = 0xd0000000ULL;
	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_int_eq(pvh_plan(&p, 8ULL << 30, 0, 0, &plan, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "into the MMIO hole above 3072M"));
}
END_TEST

START_TEST(refuses_initrd_that_does_not_fit)
{
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;

	ck_assert_int_eq(parse(&p, build(&s)), 0);
	/* The kernel ends at 1 MiB + 4 KiB: a 1 MiB initrd at the top of 2 MiB would overlap it. */
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, MiB, 0, &plan, err, sizeof(err)), -ENOMEM);
	ck_assert_str_eq(err, "-initrd: 1M does not fit in 2M of RAM next to the kernel "
			      "(room below 2M: 0M)");
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 8 * MiB, 0, &plan, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "-initrd: 8M does not fit"));
	/* Just fits. */
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, MiB - 0x1000, 0, &plan, err, sizeof(err)), 0);
	ck_assert_uint_eq(plan.initrd_addr, KERNEL + 0x1000);
	/* Above 3 GiB RAM continues at 4 GiB, but PVH wants the initrd below it. */
	ck_assert_int_eq(pvh_plan(&p, 4ULL << 30, 3ULL << 30, 0, &plan, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "(room below 3072M: 3070M)"));
}
END_TEST

START_TEST(refuses_long_command_line)
{
	struct spec s = spec_default(true);
	struct pvh_image p;
	struct boot_plan plan;

	ck_assert_int_eq(parse(&p, build(&s)), 0);
	ck_assert_int_eq(pvh_plan(&p, RAM_SIZE, 0, BOOT_CMDLINE_MAX, &plan, err, sizeof(err)),
			 -E2BIG);
	ck_assert_str_eq(err, "-append: the command line is 65536 bytes; at most 65535 fit");
}
END_TEST

static Suite *pvh_suite(void)
{
	Suite *s = suite_create("pvh");
	TCase *ok = tcase_create("boots");
	TCase *elf = tcase_create("refuses ELF");
	TCase *place = tcase_create("refuses placement");

	tcase_add_checked_fixture(ok, NULL, free_file);
	tcase_add_test(ok, elf64_boots_with_initrd);
	tcase_add_test(ok, elf32_boots_with_initrd);
	tcase_add_test(ok, elf64_two_segments);
	tcase_add_test(ok, elf32_two_segments);
	tcase_add_test(ok, note_in_a_section);
	tcase_add_test(ok, eight_byte_descriptor);
	tcase_add_test(ok, skips_other_notes_and_empty_segments);
	tcase_add_test(ok, command_line_at_the_limit);
	tcase_add_test(ok, accepts_a_segment_ending_at_4g);
	tcase_add_test(ok, load_needs_the_memory);
	suite_add_tcase(s, ok);

	tcase_add_checked_fixture(elf, NULL, free_file);
	tcase_add_test(elf, refuses_bad_magic);
	tcase_add_test(elf, refuses_wrong_class_data_version);
	tcase_add_test(elf, refuses_wrong_machine_and_type);
	tcase_add_test(elf, elf64_truncated);
	tcase_add_test(elf, elf32_truncated);
	tcase_add_test(elf, refuses_program_headers_outside_the_file);
	tcase_add_test(elf, refuses_odd_program_header_tables);
	tcase_add_test(elf, refuses_segment_outside_the_file);
	tcase_add_test(elf, refuses_filesz_above_memsz);
	tcase_add_test(elf, refuses_segments_above_4g);
	tcase_add_test(elf, refuses_overlapping_segments);
	tcase_add_test(elf, refuses_segment_below_1m);
	tcase_add_test(elf, refuses_no_or_too_many_segments);
	tcase_add_test(elf, refuses_missing_note);
	tcase_add_test(elf, refuses_truncated_note);
	tcase_add_test(elf, refuses_bad_descriptor);
	tcase_add_test(elf, refuses_entry_outside_segments);
	tcase_add_test(elf, refuses_bad_section_headers);
	tcase_add_test(elf, survives_corruption);
	suite_add_tcase(s, elf);

	tcase_add_checked_fixture(place, NULL, free_file);
	tcase_add_test(place, refuses_too_little_ram);
	tcase_add_test(place, refuses_kernel_in_the_mmio_hole);
	tcase_add_test(place, refuses_initrd_that_does_not_fit);
	tcase_add_test(place, refuses_long_command_line);
	suite_add_tcase(s, place);
	return s;
}

int main(void)
{
	return unit_run(pvh_suite());
}
