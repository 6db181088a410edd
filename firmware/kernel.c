// SPDX-License-Identifier: MIT
#include "config.h"

#include "kernel.h"
#include "e820.h"
#include "layout.h"
#include "x86boot.h"
#include "pvh.h"
#include <asm/bootparam.h>
#include "core/file.h"
#include "core/gmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };

/* Whether the command line already names a console (a word starting "console="). */
static bool has_console(const char *s)
{
	for (const char *p = s; (p = strstr(p, "console=")); p++)
		if (p == s || p[-1] == ' ' || p[-1] == '\t')
			return true;
	return false;
}

bool kernel_cmdline_has(const char *cmdline, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = cmdline;

	if (!p)
		return false;
	for (;;) {
		size_t n;

		p += strspn(p, " \t\n");
		if (!*p)
			return false;
		n = strcspn(p, " \t\n");
		if (n == 2 && p[0] == '-' && p[1] == '-')
			return false;
		if (n == wlen && memcmp(p, word, n) == 0)
			return true;
		p += n;
	}
}

char *kernel_cmdline(const char *append, bool serial)
{
	const char *add = "console=ttyS0";
	char *s;

	if (!append)
		append = "";
	if (!serial || has_console(append))
		return strdup(append);
	if (asprintf(&s, "%s%s%s", append, *append ? " " : "", add) < 0)
		return NULL;
	return s;
}

int kernel_prepare(struct kernel_image *k, const struct kernel_args *args, char *err,
		   size_t err_len)
{
	uint64_t initrd_size = 0;
	char why[256];
	int ret;

	memset(k, 0, sizeof(*k));
	ret = file_read_all(args->kernel, KERNEL_MAX_SIZE, &k->data, &k->size);
	if (ret < 0) {
		snprintf(err, err_len, "-kernel %s: %s", args->kernel, file_strerror(ret));
		return ret;
	}
	if (args->initrd) {
		ret = file_size(args->initrd, UINT64_MAX, &initrd_size);
		if (ret < 0) {
			snprintf(err, err_len, "-initrd %s: %s", args->initrd, file_strerror(ret));
			goto fail;
		}
		k->initrd_path = args->initrd;
	}
	k->cmdline = kernel_cmdline(args->append, args->serial_console);
	if (k->cmdline && args->extra && *args->extra) {
		char *both;

		if (asprintf(&both, "%s%s%s", k->cmdline, *k->cmdline ? " " : "", args->extra) < 0)
			both = NULL;
		free(k->cmdline);
		k->cmdline = both;
	}
	if (!k->cmdline) {
		ret = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto fail;
	}

	if (k->size >= 4 && memcmp(k->data, elf_magic, 4) == 0) {
		k->kind = KERNEL_PVH;
		ret = pvh_parse(&k->pvh, k->data, k->size, why, sizeof(why));
		if (ret == 0)
			ret = pvh_plan(&k->pvh, args->ram_size, initrd_size, strlen(k->cmdline),
				       &k->plan, err, err_len);
	} else {
		k->kind = KERNEL_BZIMAGE;
		ret = bzimage_parse(&k->bz, k->data, k->size, why, sizeof(why));
		if (ret == 0)
			ret = bzimage_plan(&k->bz, args->ram_size, initrd_size, strlen(k->cmdline),
					   &k->plan, err, err_len);
	}
	if (ret == -ENOEXEC)
		snprintf(err, err_len, "-kernel %s: %s", args->kernel, why);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	kernel_free(k);
	return ret;
}

int kernel_load(struct kernel_image *k, const struct gmem *mem, char *err, size_t err_len)
{
	struct e820_entry e820[E820_MAX_ENTRIES];
	int n = e820_build(mem->ram_size, e820), ret;

	if (n < 0) {
		snprintf(err, err_len, "no memory map for %llu bytes of RAM",
			 (unsigned long long)mem->ram_size);
		return n;
	}
	if (k->plan.initrd_size) {
		void *dst = gmem_translate(mem, k->plan.initrd_addr, k->plan.initrd_size);

		ret = dst ? file_read_into(k->initrd_path, dst, k->plan.initrd_size) : -EFAULT;
		if (ret < 0) {
			snprintf(err, err_len, "-initrd %s: %s", k->initrd_path,
				 file_strerror(ret));
			return ret;
		}
	}
	if (k->kind == KERNEL_BZIMAGE)
		ret = bzimage_load(&k->bz, &k->plan, mem, k->cmdline, e820, (unsigned int)n);
	else
		ret = pvh_load(&k->pvh, &k->plan, mem, k->cmdline, e820, (unsigned int)n);
	/* Where the ACPI tables start: Linux need not scan the BIOS area for them. */
	if (ret == 0 && k->acpi_rsdp) {
		if (k->kind == KERNEL_BZIMAGE) {
			struct boot_params *zp =
				gmem_translate(mem, BOOT_ZERO_PAGE_ADDR, sizeof(*zp));

			if (zp)
				zp->acpi_rsdp_addr = k->acpi_rsdp;
		} else {
			struct pvh_start_info *si =
				gmem_translate(mem, BOOT_PVH_INFO_ADDR, sizeof(*si));

			if (si)
				si->rsdp_paddr = k->acpi_rsdp;
		}
	}
	/* Page tables for the 64-bit entry; the GDT both entries' selectors name. */
	if (ret == 0)
		ret = x86boot_write_tables(mem);
	if (ret < 0)
		snprintf(err, err_len, "loading the kernel into guest memory: %s", strerror(-ret));
	return ret;
}

void kernel_boot_state(const struct kernel_image *k, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	if (k->kind == KERNEL_BZIMAGE)
		x86boot_long_mode(regs, sregs, k->plan.entry, BOOT_ZERO_PAGE_ADDR);
	else
		x86boot_pvh(regs, sregs, k->plan.entry, BOOT_PVH_INFO_ADDR);
}

void kernel_drop_data(struct kernel_image *k)
{
	free(k->data);
	free(k->cmdline);
	k->data = NULL;
	k->cmdline = NULL;
	k->size = 0;
	memset(&k->bz, 0, sizeof(k->bz));
	memset(&k->pvh, 0, sizeof(k->pvh));
}

void kernel_free(struct kernel_image *k)
{
	free(k->data);
	free(k->cmdline);
	memset(k, 0, sizeof(*k));
}
