// SPDX-License-Identifier: MIT
#include "config.h"

#include "pvh.h"
#include "boot_plan_internal.h"
#include "core/gmem.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MiB(x) ((unsigned long long)(x) >> 20)
#define FOUR_GiB 0x100000000ULL
#define MAX_NOTE_SECTIONS 64 /* bounds the work a file full of SHT_NOTE headers can cause */

/* Headers and notes are copied out of the file as they are: ember runs on x86 hosts. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "ELF parsing assumes a little-endian host");

/* The header fields both ELF classes share, widened to 64 bits. */
struct ehdr {
	uint16_t type;
	uint16_t machine;
	uint64_t phoff;
	uint64_t shoff;
	uint16_t phentsize;
	uint16_t phnum;
	uint16_t shentsize;
	uint16_t shnum;
};

struct phdr {
	uint32_t type;
	uint64_t offset;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

struct shdr {
	uint32_t type;
	uint64_t offset;
	uint64_t size;
	uint64_t align;
};

/* Everything in the file the entry note search needs. */
struct note_search {
	const uint8_t *data;
	bool found;
	uint64_t entry;
	char *err;
	size_t err_len;
};

static int __attribute__((format(printf, 3, 4)))
refuse(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -ENOEXEC;
}

static bool in_file(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Both classes name the same fields, only their widths differ: one list of
 * fields per header serves both, widened by assignment.
 */
#define WIDEN_EHDR(e)                                                                              \
	((struct ehdr){ .type = (e).e_type,                                                        \
			.machine = (e).e_machine,                                                  \
			.phoff = (e).e_phoff,                                                      \
			.shoff = (e).e_shoff,                                                      \
			.phentsize = (e).e_phentsize,                                              \
			.phnum = (e).e_phnum,                                                      \
			.shentsize = (e).e_shentsize,                                              \
			.shnum = (e).e_shnum })
#define WIDEN_PHDR(h)                                                                              \
	((struct phdr){ .type = (h).p_type,                                                        \
			.offset = (h).p_offset,                                                    \
			.paddr = (h).p_paddr,                                                      \
			.filesz = (h).p_filesz,                                                    \
			.memsz = (h).p_memsz,                                                      \
			.align = (h).p_align })
#define WIDEN_SHDR(h)                                                                              \
	((struct shdr){ .type = (h).sh_type,                                                       \
			.offset = (h).sh_offset,                                                   \
			.size = (h).sh_size,                                                       \
			.align = (h).sh_addralign })

/* The caller has checked that a whole ELF header of the class is in the file. */
static struct ehdr read_ehdr(const uint8_t *data, bool elf64)
{
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;

	if (elf64) {
		memcpy(&e64, data, sizeof(e64));
		return WIDEN_EHDR(e64);
	}
	memcpy(&e32, data, sizeof(e32));
	return WIDEN_EHDR(e32);
}

/* `at` points at a whole program header of the class, checked against the file. */
static struct phdr read_phdr(const uint8_t *at, bool elf64)
{
	Elf64_Phdr h64;
	Elf32_Phdr h32;

	if (elf64) {
		memcpy(&h64, at, sizeof(h64));
		return WIDEN_PHDR(h64);
	}
	memcpy(&h32, at, sizeof(h32));
	return WIDEN_PHDR(h32);
}

static struct shdr read_shdr(const uint8_t *at, bool elf64)
{
	Elf64_Shdr h64;
	Elf32_Shdr h32;

	if (elf64) {
		memcpy(&h64, at, sizeof(h64));
		return WIDEN_SHDR(h64);
	}
	memcpy(&h32, at, sizeof(h32));
	return WIDEN_SHDR(h32);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Walks the notes in [off, off + len) of the file (checked by the caller)
 * for the PVH entry. Notes are padded to 4 bytes, or to 8 in an area aligned
 * so (gABI; GNU property notes in ELF64). A note running past the area ends
 * the walk of that area. Returns 0 (s->found tells), or -ENOEXEC for an
 * entry note whose descriptor is not a 32-bit address.
 */
static int scan_notes(struct note_search *s, uint64_t off, uint64_t len, uint64_t area_align,
		      const char *where, unsigned int index)
{
	const uint8_t *area = s->data + off;
	uint64_t a = area_align == 8 ? 8 : 4;
	uint64_t pos = 0;

	while (!s->found && len - pos >= 12) {
		/* 32-bit sizes in 64-bit sums: nothing below can wrap. */
		uint64_t namesz = get32(area + pos), descsz = get32(area + pos + 4);
		uint32_t type = get32(area + pos + 8);
		uint64_t name = pos + 12, desc = name + align_up(namesz, a);

		if (desc > len || descsz > len - desc)
			return 0;
		pos = desc + align_up(descsz, a);
		if (pos > len)
			pos = len;
		if (type != PVH_NOTE_PHYS32_ENTRY || namesz != sizeof(PVH_NOTE_NAME) ||
		    memcmp(area + name, PVH_NOTE_NAME, sizeof(PVH_NOTE_NAME)))
			continue;
		/* Linux writes the address as a pointer: 8 bytes in a 64-bit vmlinux. */
		if (descsz == 4) {
			s->entry = get32(area + desc);
		} else if (descsz == 8) {
			s->entry = get64(area + desc);
			if (s->entry >= FOUR_GiB)
				return refuse(
					s->err, s->err_len,
					"the PVH entry note (%s %u) names 0x%llx, above 4 GiB",
					where, index, (unsigned long long)s->entry);
		} else {
			return refuse(s->err, s->err_len,
				      "the PVH entry note (%s %u) has a %llu-byte descriptor; "
				      "an entry address takes 4 or 8",
				      where, index, (unsigned long long)descsz);
		}
		s->found = true;
	}
	return 0;
}

/* The notes in SHT_NOTE sections, for an ELF whose program headers carry none. */
static int scan_note_sections(struct note_search *s, const struct ehdr *eh, size_t size, bool elf64)
{
	size_t entsize = elf64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	unsigned int notes = 0;
	int ret;

	/* shnum 0 with an offset means 0xff00 or more sections (gABI): none a kernel has. */
	if (eh->shoff == 0 || eh->shnum == 0)
		return 0;
	if (eh->shentsize != entsize)
		return refuse(s->err, s->err_len, "section headers of %u bytes; ELF%s has %zu",
			      eh->shentsize, elf64 ? "64" : "32", entsize);
	if (!in_file(size, eh->shoff, (uint64_t)eh->shnum * entsize))
		return refuse(s->err, s->err_len,
			      "the section headers (%u at 0x%llx) lie outside the file (%zu bytes)",
			      eh->shnum, (unsigned long long)eh->shoff, size);
	for (unsigned int i = 0; i < eh->shnum && !s->found && notes < MAX_NOTE_SECTIONS; i++) {
		struct shdr sh = read_shdr(s->data + eh->shoff + (uint64_t)i * entsize, elf64);

		if (sh.type != SHT_NOTE)
			continue;
		notes++;
		if (!in_file(size, sh.offset, sh.size))
			return refuse(s->err, s->err_len,
				      "section %u: notes at 0x%llx (+0x%llx) lie outside the file "
				      "(%zu bytes)",
				      i, (unsigned long long)sh.offset, (unsigned long long)sh.size,
				      size);
		ret = scan_notes(s, sh.offset, sh.size, sh.align, "section", i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Checks one PT_LOAD and adds it to the image; segments without memory add nothing. */
static int add_segment(struct pvh_image *p, const struct phdr *ph, unsigned int i, char *err,
		       size_t err_len)
{
	if (ph->filesz > ph->memsz)
		return refuse(err, err_len,
			      "program header %u: file size 0x%llx exceeds memory size 0x%llx", i,
			      (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	if (!in_file(p->size, ph->offset, ph->filesz))
		return refuse(err, err_len,
			      "program header %u: bytes at 0x%llx (+0x%llx) lie outside the file "
			      "(%zu bytes)",
			      i, (unsigned long long)ph->offset, (unsigned long long)ph->filesz,
			      p->size);
	if (ph->memsz == 0)
		return 0;
	/* PVH starts with paging off: every byte must have a 32-bit physical address. */
	if (ph->memsz > FOUR_GiB || ph->paddr > FOUR_GiB - ph->memsz)
		return refuse(err, err_len,
			      "program header %u: segment at 0x%llx (+0x%llx) ends above 4 GiB", i,
			      (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
	if (ph->paddr < BOOT_HIMEM_START)
		return refuse(err, err_len,
			      "program header %u: segment at 0x%llx is below 1 MiB, where ember "
			      "keeps its boot data",
			      i, (unsigned long long)ph->paddr);
	if (p->nr_segments == PVH_MAX_SEGMENTS)
		return refuse(err, err_len, "more than %d loadable segments", PVH_MAX_SEGMENTS);
	p->seg[p->nr_segments++] = (struct pvh_segment){
		.offset = ph->offset,
		.paddr = ph->paddr,
		.filesz = ph->filesz,
		.memsz = ph->memsz,
	};
	return 0;
}

/* Sorts the segments by address (a handful: insertion sort) and refuses overlaps. */
static int order_segments(struct pvh_image *p, char *err, size_t err_len)
{
	for (unsigned int i = 1; i < p->nr_segments; i++) {
		struct pvh_segment s = p->seg[i];
		unsigned int j = i;

		for (; j > 0 && p->seg[j - 1].paddr > s.paddr; j--)
			p->seg[j] = p->seg[j - 1];
		p->seg[j] = s;
	}
	for (unsigned int i = 1; i < p->nr_segments; i++) {
		const struct pvh_segment *a = &p->seg[i - 1], *b = &p->seg[i];

		if (a->paddr + a->memsz > b->paddr)
			return refuse(err, err_len,
				      "segments at 0x%llx (+0x%llx) and 0x%llx (+0x%llx) overlap",
				      (unsigned long long)a->paddr, (unsigned long long)a->memsz,
				      (unsigned long long)b->paddr, (unsigned long long)b->memsz);
	}
	p->start = p->seg[0].paddr;
	p->end = p->seg[p->nr_segments - 1].paddr + p->seg[p->nr_segments - 1].memsz;
	return 0;
}

static int check_ident(const uint8_t *data, size_t size, char *err, size_t err_len)
{
	if (size < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG))
		return refuse(err, err_len, "not an ELF file");
	if (data[EI_CLASS] != ELFCLASS32 && data[EI_CLASS] != ELFCLASS64)
		return refuse(err, err_len, "an ELF of unknown class %u", data[EI_CLASS]);
	if (data[EI_DATA] != ELFDATA2LSB)
		return refuse(err, err_len, "a big-endian ELF; x86 kernels are little-endian");
	if (data[EI_VERSION] != EV_CURRENT)
		return refuse(err, err_len, "ELF version %u; ember knows version 1",
			      data[EI_VERSION]);
	return 0;
}

/* The ELF header: whole for its class, for x86, and an executable. */
static int check_ehdr(const uint8_t *data, size_t size, struct ehdr *eh, bool *elf64, char *err,
		      size_t err_len)
{
	int ret;

	ret = check_ident(data, size, err, err_len);
	if (ret < 0)
		return ret;
	*elf64 = data[EI_CLASS] == ELFCLASS64;
	if (size < (*elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return refuse(err, err_len, "truncated: %zu bytes cannot hold an ELF%s header",
			      size, *elf64 ? "64" : "32");
	*eh = read_ehdr(data, *elf64);
	if (eh->machine != EM_X86_64 && eh->machine != EM_386)
		return refuse(err, err_len, "an ELF for machine %u, not x86", eh->machine);
	if (eh->type != ET_EXEC)
		return refuse(err, err_len, "an ELF of type %u, not an executable (ET_EXEC)",
			      eh->type);
	return 0;
}

/* The program header table: there, not too long, of the class's entry size, in the file. */
static int check_phdr_table(const struct ehdr *eh, size_t size, bool elf64, char *err,
			    size_t err_len)
{
	size_t entsize = elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);

	if (eh->phnum == 0)
		return refuse(err, err_len, "an ELF without program headers");
	if (eh->phnum > PVH_MAX_PHDRS)
		return refuse(err, err_len, "%u program headers; ember reads at most %d", eh->phnum,
			      PVH_MAX_PHDRS);
	if (eh->phentsize != entsize)
		return refuse(err, err_len, "program headers of %u bytes; ELF%s has %zu",
			      eh->phentsize, elf64 ? "64" : "32", entsize);
	if (!in_file(size, eh->phoff, (uint64_t)eh->phnum * entsize))
		return refuse(err, err_len,
			      "the program headers (%u at 0x%llx) lie outside the file (%zu bytes)",
			      eh->phnum, (unsigned long long)eh->phoff, size);
	return 0;
}

/*
 * Each program header of the checked table: a PT_LOAD joins the image's
 * segments, a PT_NOTE is searched for the entry. The caller has set p->data,
 * p->size and p->elf64.
 */
static int walk_phdrs(struct pvh_image *p, const struct ehdr *eh, struct note_search *notes,
		      char *err, size_t err_len)
{
	size_t entsize = p->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	int ret;

	for (unsigned int i = 0; i < eh->phnum; i++) {
		struct phdr ph = read_phdr(p->data + eh->phoff + (uint64_t)i * entsize, p->elf64);

		ret = 0;
		if (ph.type == PT_LOAD) {
			ret = add_segment(p, &ph, i, err, err_len);
		} else if (ph.type == PT_NOTE) {
			if (!in_file(p->size, ph.offset, ph.filesz))
				return refuse(err, err_len,
					      "program header %u: notes at 0x%llx (+0x%llx) lie "
					      "outside the file (%zu bytes)",
					      i, (unsigned long long)ph.offset,
					      (unsigned long long)ph.filesz, p->size);
			ret = scan_notes(notes, ph.offset, ph.filesz, ph.align, "program header",
					 i);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * The entry the note named, once a segment's bytes from the file hold it:
 * the first instruction must come from the file, not from zeroed bss.
 */
static int set_entry(struct pvh_image *p, uint64_t entry, char *err, size_t err_len)
{
	for (unsigned int i = 0; i < p->nr_segments; i++) {
		const struct pvh_segment *s = &p->seg[i];

		if (entry >= s->paddr && entry - s->paddr < s->filesz) {
			p->entry = entry;
			return 0;
		}
	}
	return refuse(err, err_len, "the PVH entry point 0x%llx is outside the loaded segments",
		      (unsigned long long)entry);
}

int pvh_parse(struct pvh_image *p, const uint8_t *data, size_t size, char *err, size_t err_len)
{
	struct note_search notes = { .data = data, .err = err, .err_len = err_len };
	/* Set by check_ehdr() when it returns 0; the compiler cannot always see that. */
	struct ehdr eh = { 0 };
	bool elf64 = false;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = check_ehdr(data, size, &eh, &elf64, err, err_len);
	if (ret < 0)
		return ret;
	ret = check_phdr_table(&eh, size, elf64, err, err_len);
	if (ret < 0)
		return ret;

	p->data = data;
	p->size = size;
	p->elf64 = elf64;
	ret = walk_phdrs(p, &eh, &notes, err, err_len);
	if (ret < 0)
		return ret;
	if (p->nr_segments == 0)
		return refuse(err, err_len, "an ELF without loadable segments");
	ret = order_segments(p, err, err_len);
	if (ret < 0)
		return ret;

	if (!notes.found) {
		ret = scan_note_sections(&notes, &eh, size, elf64);
		if (ret < 0)
			return ret;
	}
	if (!notes.found)
		return refuse(err, err_len,
			      "an ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	return set_entry(p, notes.entry, err, err_len);
}

int pvh_plan(const struct pvh_image *p, uint64_t ram_size, uint64_t initrd_size, size_t cmdline_len,
	     struct boot_plan *plan, char *err, size_t err_len)
{
	struct gmem_region r[2];
	int nr = boot_plan_begin(plan, ram_size, r, err, err_len);

	if (nr < 0)
		return nr;
	if (cmdline_len >= BOOT_CMDLINE_MAX) {
		snprintf(err, err_len, "-append: the command line is %zu bytes; at most %llu fit",
			 cmdline_len, BOOT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	plan->cmdline_addr = BOOT_CMDLINE_ADDR;
	plan->cmdline_len = cmdline_len;

	plan->kernel_addr = p->start;
	plan->kernel_end = p->end;
	plan->entry = p->entry;
	if (p->end > GMEM_LOW_LIMIT) {
		/* No -m helps: the 32-bit hole has no RAM. */
		snprintf(err, err_len,
			 "-kernel: this kernel loads up to 0x%llx, into the MMIO hole above %lluM "
			 "where there is no RAM",
			 (unsigned long long)p->end, MiB(GMEM_LOW_LIMIT));
		return -ENOMEM;
	}
	/* Paging is off at the PVH entry: kernel and initrd go in the RAM below 4 GiB. */
	return boot_plan_place(plan, ram_size, r, nr, initrd_size, FOUR_GiB, false, err, err_len);
}

/* The block at BOOT_PVH_INFO_ADDR, in the order PVH_MODLIST_ADDR and PVH_MEMMAP_ADDR name. */
struct pvh_info_block {
	struct pvh_start_info start;
	struct pvh_modlist_entry mod;
	struct pvh_memmap_entry map[E820_MAX_ENTRIES];
} __attribute__((packed));

_Static_assert(BOOT_PVH_INFO_ADDR + offsetof(struct pvh_info_block, mod) == PVH_MODLIST_ADDR,
	       "module list placement");
_Static_assert(BOOT_PVH_INFO_ADDR + offsetof(struct pvh_info_block, map) == PVH_MEMMAP_ADDR,
	       "memory map placement");
_Static_assert(BOOT_PVH_INFO_ADDR + sizeof(struct pvh_info_block) <= BOOT_ZERO_PAGE_ADDR,
	       "the PVH block must end below the zero page");

int pvh_load(const struct pvh_image *p, const struct boot_plan *plan, const struct gmem *mem,
	     const char *cmdline, const struct e820_entry *e820, unsigned int nr_e820)
{
	struct pvh_info_block info;
	uint8_t *page =
		gmem_translate(mem, BOOT_PVH_INFO_ADDR, BOOT_ZERO_PAGE_ADDR - BOOT_PVH_INFO_ADDR);
	char *cl = gmem_translate(mem, plan->cmdline_addr, plan->cmdline_len + 1);

	if (nr_e820 > E820_MAX_ENTRIES)
		return -EINVAL;
	if (!page || !cl)
		return -EFAULT;
	for (unsigned int i = 0; i < p->nr_segments; i++) {
		const struct pvh_segment *s = &p->seg[i];
		uint8_t *dst = gmem_translate(mem, s->paddr, s->memsz);

		if (!dst)
			return -EFAULT;
		memcpy(dst, p->data + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	if (plan->cmdline_len)
		memcpy(cl, cmdline, plan->cmdline_len);
	cl[plan->cmdline_len] = '\0';

	memset(&info, 0, sizeof(info));
	info.start = (struct pvh_start_info){
		.magic = PVH_START_MAGIC,
		.version = PVH_START_VERSION,
		.cmdline_paddr = plan->cmdline_addr,
		.memmap_paddr = nr_e820 ? PVH_MEMMAP_ADDR : 0,
		.memmap_entries = nr_e820,
	};
	if (plan->initrd_size) {
		info.start.nr_modules = 1;
		info.start.modlist_paddr = PVH_MODLIST_ADDR;
		info.mod.paddr = plan->initrd_addr;
		info.mod.size = plan->initrd_size;
	}
	for (unsigned int i = 0; i < nr_e820; i++)
		info.map[i] = (struct pvh_memmap_entry){
			.addr = e820[i].addr,
			.size = e820[i].size,
			.type = e820[i].type,
		};
	/* The whole page, so nothing from an earlier boot is left after the map. */
	memset(page, 0, BOOT_ZERO_PAGE_ADDR - BOOT_PVH_INFO_ADDR);
	memcpy(page, &info, sizeof(info));
	return 0;
}
