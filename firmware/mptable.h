/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest booted without
 * ACPI learns about every vCPU, the IOAPIC, and which IOAPIC pin each ISA IRQ
 * arrives on. Without them Linux runs on the boot vCPU alone, through the PIC.
 * Every one of the IOAPIC's 24 pins has an entry: ISA IRQs 0-15 on pins
 * 0-15, and pins 16-23, edge-triggered and active high, for virtio devices,
 * which Linux then knows as irqs 16-23.
 *
 * Linux looks for the floating pointer on a 16-byte boundary in the first KiB
 * of memory, the last KiB below 640 KiB, the first KiB of the EBDA, or
 * 0xf0000-0xfffff. The configuration table follows the pointer directly, so
 * the caller needs mptable_size() contiguous bytes there: the BIOS area at
 * 0xf0000 is the place with room for any vCPU count. Mark the range reserved
 * in the e820 map.
 */
#ifndef EMBER_MPTABLE_H
#define EMBER_MPTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Processor and IOAPIC entries hold 8-bit APIC IDs, and 0xff is the xAPIC
 * broadcast ID (and the table's "every local APIC"), so the usable IDs are
 * 0..254. vCPUs take 0..n-1 and the IOAPIC takes n, so n can be at most 254.
 * Callers that allow more vCPUs (x2APIC) need ACPI tables instead.
 */
#define MPTABLE_MAX_CPUS 254

#define MPTABLE_ALIGN 16 /* the floating pointer's alignment, and so `gpa`'s */
#define MPTABLE_LAPIC_DEFAULT 0xfee00000u
#define MPTABLE_IOAPIC_DEFAULT 0xfec00000u

struct mptable_config {
	unsigned int nr_cpus; /* 1..MPTABLE_MAX_CPUS; APIC IDs 0..nr_cpus-1 */
	uint32_t ioapic_addr; /* MPTABLE_IOAPIC_DEFAULT for ember's machine */
	uint32_t lapic_addr;  /* MPTABLE_LAPIC_DEFAULT */
	/* CPUID leaf 1 EAX and EDX, copied into every processor entry. */
	uint32_t cpu_signature;
	uint32_t cpu_features;
};

/* Bytes mptable_write() needs for `nr_cpus`; 0 when the count is out of range. */
size_t mptable_size(unsigned int nr_cpus);

/*
 * Writes the floating pointer and then the configuration table into `buf`,
 * the host view of guest memory at guest-physical `gpa` with `len` bytes
 * available. Returns the number of bytes written, or
 *   -EINVAL  nr_cpus is 0 or above MPTABLE_MAX_CPUS, `gpa` is not 16-byte
 *            aligned, the tables would end above 4 GiB (the pointer is
 *            32 bits), or an APIC address is 0;
 *   -ENOSPC  `len` is less than mptable_size().
 * On error nothing is written.
 */
ssize_t mptable_write(void *buf, size_t len, uint64_t gpa, const struct mptable_config *cfg);

#endif
