/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables describing the machine: RSDP, XSDT, FADT, MADT and a DSDT.
 *
 * The FADT is a full (not hardware-reduced) one with a PM1a event and
 * control block, so Linux keeps the PC's legacy PIC, PIT and CMOS clock as
 * ember emulates them, and powers off through SLP_TYP/SLP_EN with the \_S5
 * values below. It names the fixed-feature power button (its status and
 * enable bits in the PM1a event block, signalled by the SCI) and, when
 * given one, a reset register in I/O space. The MADT lists a local APIC
 * per vCPU, the IOAPIC and the SCI's level trigger. The DSDT names COM1
 * (PNP0501) and every virtio-mmio window (LNRO0005, the ID Linux's
 * virtio_mmio driver matches), with its memory and interrupt: a stock
 * distribution kernel finds its disks and NICs there without command-line
 * hints.
 */
#ifndef EMBER_ACPI_H
#define EMBER_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ACPI_MAX_VIRTIO 16
/* SLP_TYP for S5 (soft off), as \_S5 gives it; ember's PM block acts on it. */
#define ACPI_SLP_TYP_S5 5
/* The SCI's ISA IRQ, as on PCs. */
#define ACPI_SCI_IRQ 9

struct acpi_virtio {
	uint64_t base; /* the window must end at or below 4 GiB */
	uint32_t size;
	uint32_t gsi; /* an IOAPIC pin, 0-23; edge-triggered, active high */
};

struct acpi_config {
	unsigned int nr_cpus; /* local APIC IDs 0 .. nr_cpus - 1 */
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
	uint16_t pm1a_evt;   /* I/O port of the 4-byte PM1a event block */
	uint16_t pm1a_cnt;   /* I/O port of the 2-byte PM1a control block */
	uint16_t reset_port; /* I/O port of the reset register, 0: none */
	uint8_t reset_value; /* what to write there to reset */
	uint8_t rtc_century; /* CMOS index of the century, 0: none */
	bool com1;
	unsigned int nr_virtio;
	struct acpi_virtio virtio[ACPI_MAX_VIRTIO];
};

/*
 * Writes every table into `buf`, which the guest sees at `gpa` (16-byte
 * aligned), the RSDP first, so the RSDP's address is `gpa`. Returns the
 * bytes used, -EINVAL for a bad config (a virtio window above 4 GiB or a
 * GSI past the IOAPIC's pins among them) or -ENOSPC when `len` is too small.
 */
ssize_t acpi_write(void *buf, size_t len, uint64_t gpa, const struct acpi_config *cfg);

#endif
