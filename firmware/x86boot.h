/* SPDX-License-Identifier: MIT */
/*
 * The boot vCPU's starting state: page tables and a GDT in guest memory, and
 * the register values for the two ways ember enters a kernel (64-bit long
 * mode for bzImage, 32-bit protected mode for PVH).
 */
#ifndef EMBER_X86BOOT_H
#define EMBER_X86BOOT_H

#include <linux/kvm.h>
#include <stdint.h>

struct gmem;

/* GDT selectors the boot protocols name (__BOOT_CS, __BOOT_DS). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

/*
 * Writes identity-mapped page tables for the first 4 GiB (2 MiB pages) and
 * the GDT. Returns 0 or -EFAULT when low memory is missing.
 */
int x86boot_write_tables(const struct gmem *mem);

/*
 * 64-bit entry (boot.rst, "64-bit Boot Protocol"): long mode with paging,
 * flat __BOOT_CS/__BOOT_DS, interrupts off, %rsi = the zero page.
 * `sregs` should come from KVM_GET_SREGS; only what the entry needs changes.
 */
void x86boot_long_mode(struct kvm_regs *regs, struct kvm_sregs *sregs, uint64_t entry,
		       uint64_t zero_page);

/*
 * PVH entry: 32-bit protected mode, paging off, flat segments, %ebx = the
 * hvm_start_info structure.
 */
void x86boot_pvh(struct kvm_regs *regs, struct kvm_sregs *sregs, uint64_t entry,
		 uint64_t start_info);

#endif
