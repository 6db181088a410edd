// SPDX-License-Identifier: MIT
#include "config.h"

#include "mptable.h"
#include "core/irq.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/*
 * Layouts from MP spec 1.4 chapter 4. Multi-byte fields are little-endian;
 * ember runs only on x86 hosts, so storing host integers gives the guest's
 * byte order. The assert keeps that assumption from going unnoticed.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "MP tables are written as host structs");

struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* configuration table */
	uint8_t length;	   /* in 16-byte paragraphs */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table: header and entries */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t version;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

/* I/O (type 3) and local (type 4) interrupt assignments share one layout. */
struct mp_irq {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags; /* polarity bits 1:0, trigger bits 3:2 */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic; /* IOAPIC ID, or local APIC ID for type 4 */
	uint8_t dst_pin;  /* IOAPIC INTIN, or LINT0/LINT1 for type 4 */
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP spec 1.4 section 4.1");
_Static_assert(sizeof(struct mp_header) == 44, "MP spec 1.4 section 4.2");
_Static_assert(sizeof(struct mp_cpu) == 20, "MP spec 1.4 section 4.3.1");
_Static_assert(sizeof(struct mp_bus) == 8, "MP spec 1.4 section 4.3.2");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP spec 1.4 section 4.3.3");
_Static_assert(sizeof(struct mp_irq) == 8, "MP spec 1.4 sections 4.3.4, 4.3.5");

enum {
	MP_ENTRY_CPU = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IOINT = 3,
	MP_ENTRY_LINT = 4,
};

enum {
	MP_IRQ_INT = 0, /* vectored, through the IOAPIC redirection entry */
	MP_IRQ_NMI = 1,
	MP_IRQ_EXTINT = 3, /* vector supplied by the 8259 */
};

#define MP_SPEC_REV 4
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_USABLE 0x01
/* Polarity and trigger "conform to the bus": for ISA, active high and edge. */
#define MP_IRQ_CONFORMS 0x0000
/* Polarity active high (bits 1:0 = 01), trigger edge (bits 3:2 = 01), said outright. */
#define MP_IRQ_EDGE_HIGH 0x0005
#define MP_ALL_LAPICS 0xff

/*
 * What KVM's in-kernel irqchip reports in its version registers, so the
 * table agrees with what the guest reads back. Local APIC 0x14 also marks it
 * an xAPIC, which keeps 32-bit Linux from rewriting the IOAPIC ID: KVM keeps
 * only 4 bits of that register, and our ID can be larger.
 */
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11

#define MP_ISA_BUS 0
#define MP_ISA_IRQS 16
/* Every pin of KVM's IOAPIC has an entry: ISA IRQs 0-15, then 16-23. */
#define MP_IOAPIC_PINS IRQCHIP_NR_LINES
#define MP_NR_LINTS 2
#define MP_ADDR_LIMIT (1ULL << 32)

static size_t entry_count(unsigned int nr_cpus)
{
	return nr_cpus + 1 + 1 + MP_IOAPIC_PINS + MP_NR_LINTS;
}

static size_t base_table_size(unsigned int nr_cpus)
{
	return sizeof(struct mp_header) + nr_cpus * sizeof(struct mp_cpu) + sizeof(struct mp_bus) +
	       sizeof(struct mp_ioapic) + (MP_IOAPIC_PINS + MP_NR_LINTS) * sizeof(struct mp_irq);
}

size_t mptable_size(unsigned int nr_cpus)
{
	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return 0;
	return sizeof(struct mp_floating) + base_table_size(nr_cpus);
}

/* The byte that makes `n` bytes, itself included, sum to 0 mod 256. */
static uint8_t mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)(0x100 - sum);
}

/* Entries are copied in, not stored through a cast: `buf` has no alignment promise. */
static uint8_t *put(uint8_t *p, const void *entry, size_t n)
{
	memcpy(p, entry, n);
	return p + n;
}

static uint8_t *put_cpus(uint8_t *p, const struct mptable_config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nr_cpus; i++) {
		/*
		 * KVM gives vCPU i APIC ID i, and vCPU 0 is the one that runs
		 * first, so it is the bootstrap processor.
		 */
		struct mp_cpu cpu = {
			.type = MP_ENTRY_CPU,
			.apic_id = (uint8_t)i,
			.apic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			/*
			 * The whole of CPUID.1 EAX, as SeaBIOS writes it: the
			 * 1.4 layout only defines the low 12 bits, and Linux
			 * reads neither field.
			 */
			.signature = cfg->cpu_signature,
			.features = cfg->cpu_features,
		};

		p = put(p, &cpu, sizeof(cpu));
	}
	return p;
}

static uint8_t *put_io_irqs(uint8_t *p, uint8_t ioapic_id)
{
	unsigned int pin;

	/*
	 * ISA IRQ n goes to IOAPIC pin n. ember installs no GSI routing table,
	 * so KVM's default one applies, and it sends GSI n to pin n (and, for
	 * n < 16, to the PIC). In particular the in-kernel PIT's GSI 0 lands on
	 * pin 0, not on pin 2 as on QEMU's board, whose routing SeaBIOS's
	 * tables describe.
	 *
	 * Pins 16-23 carry virtio devices' edges (irqfds), and reach only the
	 * IOAPIC. A pin without an entry is "not connected" to Linux, which
	 * then sets up no irq for it, so each gets one: ISA source IRQ n, with
	 * polarity and trigger spelled out rather than left to what an ISA
	 * bus implies. Linux takes an ISA source IRQ above 15 as it comes: not
	 * being a legacy IRQ, it gets irq number n (the GSI) in the MP table's
	 * irq domain, and the pin is programmed from the entry's flags. A PCI
	 * source would need a PCI bus entry, for a bus ember does not have.
	 */
	for (pin = 0; pin < MP_IOAPIC_PINS; pin++) {
		struct mp_irq e = {
			.type = MP_ENTRY_IOINT,
			.irq_type = MP_IRQ_INT,
			.flags = pin < MP_ISA_IRQS ? MP_IRQ_CONFORMS : MP_IRQ_EDGE_HIGH,
			.src_bus = MP_ISA_BUS,
			.src_irq = (uint8_t)pin,
			.dst_apic = ioapic_id,
			.dst_pin = (uint8_t)pin,
		};

		p = put(p, &e, sizeof(e));
	}
	return p;
}

static uint8_t *put_lints(uint8_t *p)
{
	/*
	 * Virtual wire mode: the 8259's output reaches LINT0 as ExtINT, and
	 * NMI comes in on LINT1, for every local APIC. This matches what KVM
	 * does with the PIC's output and what the spec's default
	 * configurations describe.
	 */
	static const uint8_t types[MP_NR_LINTS] = { MP_IRQ_EXTINT, MP_IRQ_NMI };
	unsigned int lint;

	for (lint = 0; lint < MP_NR_LINTS; lint++) {
		struct mp_irq e = {
			.type = MP_ENTRY_LINT,
			.irq_type = types[lint],
			.flags = MP_IRQ_CONFORMS,
			.src_bus = MP_ISA_BUS,
			.src_irq = 0,
			.dst_apic = MP_ALL_LAPICS,
			.dst_pin = (uint8_t)lint,
		};

		p = put(p, &e, sizeof(e));
	}
	return p;
}

static void put_floating(uint8_t *p, uint64_t gpa)
{
	struct mp_floating fp = {
		.signature = { '_', 'M', 'P', '_' },
		.physptr = (uint32_t)(gpa + sizeof(struct mp_floating)),
		.length = sizeof(struct mp_floating) / 16,
		.spec_rev = MP_SPEC_REV,
		/*
		 * Feature byte 1 is 0: the configuration table is present, no
		 * default configuration. Feature byte 2 bit 7 (IMCR present)
		 * is clear, declaring virtual wire mode: ember has no IMCR at
		 * ports 0x22/0x23, and KVM already passes the PIC's output to
		 * LINT0, so a guest must not try to switch modes through it.
		 */
	};

	memcpy(p, &fp, sizeof(fp));
	p[offsetof(struct mp_floating, checksum)] = mp_checksum(p, sizeof(fp));
}

/* The header with its checksum still 0: it covers the entries too. */
static uint8_t *put_header(uint8_t *p, const struct mptable_config *cfg)
{
	/* No OEM table and no extended entries: their pointer, sizes and checksum stay 0. */
	struct mp_header hdr = {
		.signature = { 'P', 'C', 'M', 'P' },
		.length = (uint16_t)base_table_size(cfg->nr_cpus),
		.spec_rev = MP_SPEC_REV,
		.oem_id = { 'E', 'M', 'B', 'E', 'R', ' ', ' ', ' ' },
		.product_id = { 'E', 'M', 'B', 'E', 'R', ' ', 'V', 'M', ' ', ' ', ' ', ' ' },
		.entry_count = (uint16_t)entry_count(cfg->nr_cpus),
		.lapic_addr = cfg->lapic_addr,
	};

	return put(p, &hdr, sizeof(hdr));
}

static uint8_t *put_bus(uint8_t *p)
{
	struct mp_bus bus = {
		.type = MP_ENTRY_BUS,
		.bus_id = MP_ISA_BUS,
		.bus_type = { 'I', 'S', 'A', ' ', ' ', ' ' },
	};

	return put(p, &bus, sizeof(bus));
}

static uint8_t *put_ioapic(uint8_t *p, uint8_t id, uint32_t addr)
{
	struct mp_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC,
		.apic_id = id,
		.version = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_USABLE,
		.addr = addr,
	};

	return put(p, &ioapic, sizeof(ioapic));
}

ssize_t mptable_write(void *buf, size_t len, uint64_t gpa, const struct mptable_config *cfg)
{
	size_t size = mptable_size(cfg->nr_cpus);
	uint8_t *start = buf, *table, *p;
	uint8_t ioapic_id;

	if (size == 0)
		return -EINVAL;
	if (gpa % MPTABLE_ALIGN || gpa > MP_ADDR_LIMIT - size)
		return -EINVAL;
	/* Linux refuses a table with no local APIC address. */
	if (cfg->lapic_addr == 0 || cfg->ioapic_addr == 0)
		return -EINVAL;
	if (len < size)
		return -ENOSPC;

	/* The first ID after the vCPUs': below 0xff by MPTABLE_MAX_CPUS. */
	ioapic_id = (uint8_t)cfg->nr_cpus;
	put_floating(start, gpa);
	table = start + sizeof(struct mp_floating);

	/* Entries grouped by type, in the ascending order the spec lists them. */
	p = put_header(table, cfg);
	p = put_cpus(p, cfg);
	p = put_bus(p);
	p = put_ioapic(p, ioapic_id, cfg->ioapic_addr);
	p = put_io_irqs(p, ioapic_id);
	p = put_lints(p);

	table[offsetof(struct mp_header, checksum)] = mp_checksum(table, (size_t)(p - table));
	return (ssize_t)(p - start);
}
