/* SPDX-License-Identifier: MIT */
/*
 * -kernel, -initrd and -append: reads the kernel, tells a bzImage from a PVH
 * ELF, composes the command line and places everything in guest RAM, all
 * before a VM exists (kernel_prepare), so bad input is a usage error; then
 * writes it into guest memory and gives the boot vCPU's state (kernel_load).
 */
#ifndef EMBER_KERNEL_H
#define EMBER_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "bzimage.h"
#include "pvh.h"

struct gmem;

enum kernel_kind {
	KERNEL_BZIMAGE,
	KERNEL_PVH,
};

struct kernel_args {
	const char *kernel;
	const char *initrd;  /* NULL: none */
	const char *append;  /* NULL: empty */
	bool serial_console; /* a COM1 exists: add console=ttyS0 unless append has console= */
	const char *extra;   /* NULL, or what ember adds last (virtio_mmio.device= hints) */
	uint64_t ram_size;
};

struct kernel_image {
	enum kernel_kind kind;
	uint8_t *data;
	size_t size;
	const char *initrd_path;
	char *cmdline;
	struct bzimage bz;
	struct pvh_image pvh;
	struct boot_plan plan;
	uint64_t acpi_rsdp; /* 0: no ACPI; else where the RSDP is, for the boot protocol */
};

/* Largest kernel file ember reads. */
#define KERNEL_MAX_SIZE (256ULL << 20)

/* 0, or a negative errno with a one-line message in `err`: every such failure is bad input. */
int kernel_prepare(struct kernel_image *k, const struct kernel_args *args, char *err,
		   size_t err_len);

/*
 * Writes kernel, initrd, command line, boot tables and page tables into
 * `mem`. 0, or a negative errno with a message.
 */
int kernel_load(struct kernel_image *k, const struct gmem *mem, char *err, size_t err_len);

/* The boot vCPU's registers for the entry (`sregs` from KVM_GET_SREGS on entry). */
void kernel_boot_state(const struct kernel_image *k, struct kvm_regs *regs,
		       struct kvm_sregs *sregs);

/* Frees the file contents once they are in guest memory; the boot state stays available. */
void kernel_drop_data(struct kernel_image *k);
void kernel_free(struct kernel_image *k);

/*
 * The command line the kernel gets: `append` verbatim, with " console=ttyS0"
 * added when `serial` and append names no console=. A malloc'd string, or
 * NULL when out of memory.
 */
char *kernel_cmdline(const char *append, bool serial);

/*
 * Whether the kernel's own part of `cmdline` (the words before a "--"; the
 * rest goes to init) has the word `word`, such as "acpi=off". NULL has none.
 */
bool kernel_cmdline_has(const char *cmdline, const char *word);

#endif
