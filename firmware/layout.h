/* SPDX-License-Identifier: MIT */
/*
 * Where ember puts what a booting guest finds in low memory, and where its
 * virtio-mmio devices sit. Everything below 1 MiB sits in RAM ember owns
 * until the kernel takes over; the e820 map tells the kernel which of it it
 * may reuse.
 */
#ifndef EMBER_LAYOUT_H
#define EMBER_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ULL	      /* 4 descriptors */
#define BOOT_PVH_INFO_ADDR 0x6000ULL  /* hvm_start_info, module list, memory map */
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL /* struct boot_params */
#define BOOT_STACK_TOP 0x8ff0ULL
#define BOOT_PML4_ADDR 0x9000ULL /* page tables: PML4, PDPT, 4 page directories */
#define BOOT_PDPT_ADDR 0xa000ULL
#define BOOT_PD_ADDR 0xb000ULL
#define BOOT_PT_END 0xf000ULL
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL	     /* bytes, terminating NUL included */
#define BOOT_EBDA_START 0x9fc00ULL	     /* low RAM ends here, as on a PC */
#define BOOT_ACPI_START 0xe0000ULL	     /* ACPI tables, RSDP first; reserved in e820 */
#define BOOT_BIOS_START 0xf0000ULL	     /* MP tables; reserved in e820 */
#define BOOT_HIMEM_START 0x100000ULL	     /* 1 MiB */
#define BOOT_IDENTITY_MAP_END 0x100000000ULL /* page tables map the first 4 GiB */

/*
 * virtio-mmio windows: one page each from VIRTIO_MMIO_BASE, VIRTIO_MMIO_SLOTS
 * of them, in the hole below 4 GiB that RAM never reaches (it stops at
 * 3 GiB), away from the IOAPIC and local APIC pages at 0xfec00000 and
 * 0xfee00000. Slot i's window starts at VIRTIO_MMIO_BASE + i * stride.
 */
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_STRIDE 0x1000ULL
#define VIRTIO_MMIO_SLOTS 16
#define VIRTIO_MMIO_END (VIRTIO_MMIO_BASE + VIRTIO_MMIO_SLOTS * VIRTIO_MMIO_STRIDE)

/*
 * Slot i's interrupt line (GSI, and IOAPIC pin of the same number): first the
 * ISA IRQs no device ember has (or Linux probes for) uses, then pins 16-23,
 * which reach only the IOAPIC. Every one is edge-triggered and active high,
 * as the MP table and the DSDT describe them.
 */
extern const unsigned int layout_virtio_gsi[VIRTIO_MMIO_SLOTS];

#endif
