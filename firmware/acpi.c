// SPDX-License-Identifier: MIT
#include "config.h"

#include "acpi.h"
#include "core/irq.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define ACPI_OEM_ID "EMBER "
#define ACPI_OEM_TABLE_ID "EMBERVM "
#define ACPI_CREATOR_ID "EMBR"

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t ext_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control;
	struct acpi_gas sleep_status;
	uint64_t hypervisor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP (ACPI 2.0+)");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6");

/* FADT flags and IA-PC boot architecture flags (ACPI 6.4, tables 5.10 and 5.11). */
#define FADT_WBINVD (1U << 0)
#define FADT_PROC_C1 (1U << 2)
#define FADT_SLP_BUTTON (1U << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1U << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1U << 0)
#define BOOT_ARCH_8042 (1U << 1)
#define BOOT_ARCH_NO_VGA (1U << 2)
#define BOOT_ARCH_NO_MSI (1U << 3)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2

/* MADT (ACPI 6.4 section 5.2.12) */
#define MADT_PCAT_COMPAT 1U
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MPS_LEVEL_HIGH 0x000d /* polarity active high (01), trigger level (11) */

struct madt_lapic {
	uint8_t type, length, uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_iso {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

/* --- AML ------------------------------------------------------------------------ */

#define AML_SCOPE 0x10
#define AML_NAME 0x08
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_STRING 0x0d
#define AML_BYTE 0x0a
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_QWORD 0x0e
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_EXT 0x5b
#define AML_DEVICE 0x82

/* The DSDT's body, built in place; a too-small buffer sets `overflow`. */
struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *src, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, src, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_u16(struct aml *a, uint16_t v)
{
	aml_byte(a, (uint8_t)v);
	aml_byte(a, (uint8_t)(v >> 8));
}

static void aml_u32(struct aml *a, uint32_t v)
{
	aml_u16(a, (uint16_t)v);
	aml_u16(a, (uint16_t)(v >> 16));
}

/* A NameSeg: four characters, '_'-padded. */
static void aml_nameseg(struct aml *a, const char *name)
{
	char seg[4] = { '_', '_', '_', '_' };

	for (size_t i = 0; i < 4 && name[i]; i++)
		seg[i] = name[i];
	aml_bytes(a, seg, 4);
}

/* The smallest encoding of an integer. */
static void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD);
		aml_u16(a, (uint16_t)v);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD);
		aml_u32(a, (uint32_t)v);
	} else {
		aml_byte(a, AML_QWORD);
		aml_u32(a, (uint32_t)v);
		aml_u32(a, (uint32_t)(v >> 32));
	}
}

static void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING);
	aml_bytes(a, s, strlen(s) + 1);
}

/* EisaId("PNPxxxx"): three letters in five bits each, then four hex digits. */
static void aml_eisaid(struct aml *a, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t d[4];

	for (int i = 0; i < 4; i++)
		d[i] = (uint8_t)(strchr(hex, id[3 + i]) - hex);
	aml_byte(a, AML_DWORD);
	aml_byte(a, (uint8_t)(((id[0] - 0x40) << 2) | ((id[1] - 0x40) >> 3)));
	aml_byte(a, (uint8_t)((((id[1] - 0x40) & 7) << 5) | (id[2] - 0x40)));
	aml_byte(a, (uint8_t)(d[0] << 4 | d[1]));
	aml_byte(a, (uint8_t)(d[2] << 4 | d[3]));
}

/*
 * Opens an object whose PkgLength follows its opcode: reserves the longest
 * PkgLength (4 bytes) and returns where it starts, for aml_close().
 */
static size_t aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	size_t at;

	aml_bytes(a, op, oplen);
	at = a->len;
	aml_u32(a, 0);
	return at;
}

/* Writes the PkgLength for everything since aml_open() in as few bytes as it takes. */
static void aml_close(struct aml *a, size_t at)
{
	size_t body, total;
	unsigned int n;

	if (a->overflow)
		return;
	body = a->len - at - 4;
	/* The length counts its own bytes: 1 byte up to 63, then 4 bits + 8 per extra byte. */
	for (n = 1; n <= 4; n++) {
		total = body + n;
		if ((n == 1 && total < 0x40) || (n > 1 && total < (1ULL << (4 + 8 * (n - 1)))))
			break;
	}
	if (n > 4) {
		a->overflow = true;
		return;
	}
	memmove(a->p + at + n, a->p + at + 4, body);
	if (n == 1) {
		a->p[at] = (uint8_t)total;
	} else {
		a->p[at] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
		for (unsigned int i = 1; i < n; i++)
			a->p[at + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	a->len -= 4 - n;
}

static void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, AML_NAME);
	aml_nameseg(a, name);
	aml_int(a, v);
}

static size_t aml_device_open(struct aml *a, const char *name)
{
	static const uint8_t op[] = { AML_EXT, AML_DEVICE };
	size_t at = aml_open(a, op, sizeof(op));

	aml_nameseg(a, name);
	return at;
}

/* Name(_CRS, ResourceTemplate() { ... }) around the descriptors in `res`. */
static void aml_crs(struct aml *a, const uint8_t *res, size_t n)
{
	static const uint8_t op = AML_BUFFER;
	static const uint8_t end_tag[] = { 0x79, 0x00 }; /* checksum 0: "valid" */
	size_t at;

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_CRS");
	at = aml_open(a, &op, 1);
	aml_int(a, n + sizeof(end_tag));
	aml_bytes(a, res, n);
	aml_bytes(a, end_tag, sizeof(end_tag));
	aml_close(a, at);
}

static void dsdt_com1(struct aml *a)
{
	/* IO(Decode16, 0x3f8, 0x3f8, 1, 8) and IRQNoFlags() { 4 } */
	static const uint8_t res[] = {
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00,
	};
	size_t dev = aml_device_open(a, "COM1");

	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name_int(a, "_UID", 1);
	aml_crs(a, res, sizeof(res));
	aml_close(a, dev);
}

static void dsdt_virtio(struct aml *a, unsigned int i, const struct acpi_virtio *v)
{
	static const char hexdig[] = "0123456789ABCDEF";
	char name[5] = { 'V', 'R', hexdig[(i >> 4) & 0xf], hexdig[i & 0xf], '\0' };
	uint8_t res[12 + 9];
	struct aml r = { .p = res, .cap = sizeof(res) };
	size_t dev;

	/* Memory32Fixed(ReadWrite, base, size) */
	aml_byte(&r, 0x86);
	aml_u16(&r, 9);
	aml_byte(&r, 0x01);
	aml_u32(&r, (uint32_t)v->base);
	aml_u32(&r, v->size);
	/*
	 * Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }:
	 * the extended descriptor names any GSI, 16-23 included, with its
	 * trigger and polarity, so those need no MADT override.
	 */
	aml_byte(&r, 0x89);
	aml_u16(&r, 6);
	aml_byte(&r, 0x03);
	aml_byte(&r, 1);
	aml_u32(&r, v->gsi);

	dev = aml_device_open(a, name);
	aml_byte(a, AML_NAME);
	aml_nameseg(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name_int(a, "_UID", i);
	aml_crs(a, res, r.len);
	aml_close(a, dev);
}

/* The DSDT's definition block: \_S5 and the devices in \_SB. */
static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	static const uint8_t scope = AML_SCOPE, package = AML_PACKAGE;
	size_t at;

	/* Name(\_S5, Package(4) { SLP_TYPa, SLP_TYPb, 0, 0 }) */
	aml_byte(a, AML_NAME);
	aml_byte(a, '\\');
	aml_nameseg(a, "_S5_");
	at = aml_open(a, &package, 1);
	aml_byte(a, 4);
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_int(a, ACPI_SLP_TYP_S5);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a, at);

	at = aml_open(a, &scope, 1);
	aml_byte(a, '\\');
	aml_nameseg(a, "_SB_");
	if (cfg->com1)
		dsdt_com1(a);
	for (unsigned int i = 0; i < cfg->nr_virtio; i++)
		dsdt_virtio(a, i, &cfg->virtio[i]);
	aml_close(a, at);
}

/* --- tables ---------------------------------------------------------------------- */

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)-sum;
}

static void header(struct acpi_header *h, const char *sig, uint32_t length, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Sets the table's checksum once its bytes are final. */
static void seal(void *table)
{
	struct acpi_header *h = table;

	h->checksum = 0;
	h->checksum = checksum(table, h->length);
}

static struct acpi_gas io_gas(uint16_t port, uint8_t bits, uint8_t access)
{
	return (struct acpi_gas){
		.space_id = GAS_SYSTEM_IO,
		.bit_width = bits,
		.access_size = access,
		.address = port,
	};
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * The DSDT at `dsdt`, its AML body in the `room` bytes after the header.
 * Returns the table's length, or -ENOSPC when the body does not fit.
 */
static ssize_t write_dsdt(struct acpi_header *dsdt, size_t room, const struct acpi_config *cfg)
{
	struct aml a = { .p = (uint8_t *)(dsdt + 1), .cap = room };

	dsdt_body(&a, cfg);
	if (a.overflow)
		return -ENOSPC;
	header(dsdt, "DSDT", (uint32_t)(sizeof(*dsdt) + a.len), 2);
	seal(dsdt);
	return (ssize_t)(sizeof(*dsdt) + a.len);
}

/* The FADT, on zeroed bytes: the fields not set here stay 0 (absent). */
static void write_fadt(struct acpi_fadt *fadt, uint64_t dsdt_gpa, const struct acpi_config *cfg)
{
	header(&fadt->h, "FACP", sizeof(*fadt), 6);
	fadt->dsdt = (uint32_t)dsdt_gpa;
	fadt->x_dsdt = dsdt_gpa;
	fadt->sci_int = ACPI_SCI_IRQ;
	/* SMI_CMD 0: the machine is in ACPI mode from the start (SCI_EN reads 1). */
	fadt->pm1a_evt_blk = cfg->pm1a_evt;
	fadt->pm1a_cnt_blk = cfg->pm1a_cnt;
	fadt->pm1_evt_len = 4;
	fadt->pm1_cnt_len = 2;
	fadt->x_pm1a_evt_blk = io_gas(cfg->pm1a_evt, 32, GAS_ACCESS_WORD);
	fadt->x_pm1a_cnt_blk = io_gas(cfg->pm1a_cnt, 16, GAS_ACCESS_WORD);
	/* Latencies above 100 and 1000 us say C2 and C3 are not there. */
	fadt->p_lvl2_lat = 101;
	fadt->p_lvl3_lat = 1001;
	fadt->century = cfg->rtc_century;
	fadt->iapc_boot_arch =
		BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 | BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_MSI;
	/* The power button is the fixed-feature one, in PM1_STS and PM1_EN. */
	fadt->flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON;
	if (cfg->reset_port) {
		fadt->flags |= FADT_RESET_REG_SUP;
		fadt->reset_reg = io_gas(cfg->reset_port, 8, GAS_ACCESS_BYTE);
		fadt->reset_value = cfg->reset_value;
	}
	fadt->minor_version = 4;
	seal(fadt);
}

/* The MADT's length for `cfg`: what write_madt() fills. */
static size_t madt_size(const struct acpi_config *cfg)
{
	return sizeof(struct acpi_header) + 8 + cfg->nr_cpus * sizeof(struct madt_lapic) +
	       sizeof(struct madt_ioapic) + sizeof(struct madt_iso) + sizeof(struct madt_lapic_nmi);
}

/* The MADT, on zeroed bytes, madt_size(cfg) long. */
static void write_madt(struct acpi_header *madt, const struct acpi_config *cfg)
{
	const struct madt_ioapic io = {
		.type = MADT_IOAPIC,
		.length = sizeof(io),
		.id = cfg->ioapic_id,
		.address = cfg->ioapic_addr,
	};
	/*
	 * ISA IRQs reach the IOAPIC pin of the same number (KVM's default
	 * routing), so only the SCI needs saying: level-triggered, and
	 * active high as KVM's lines are. GSIs 16-23 have no ISA IRQ to
	 * override; the _CRS of a device on one gives trigger and polarity.
	 */
	const struct madt_iso sci = {
		.type = MADT_ISO,
		.length = sizeof(sci),
		.source = ACPI_SCI_IRQ,
		.gsi = ACPI_SCI_IRQ,
		.flags = MPS_LEVEL_HIGH,
	};
	/* NMI on LINT1 of every local APIC, as the MP table says too. */
	const struct madt_lapic_nmi nmi = {
		.type = MADT_LAPIC_NMI,
		.length = sizeof(nmi),
		.uid = 0xff,
		.lint = 1,
	};
	uint8_t *m = (uint8_t *)(madt + 1);

	header(madt, "APIC", (uint32_t)madt_size(cfg), 5);
	memcpy(m, &cfg->lapic_addr, 4);
	memcpy(m + 4, &(uint32_t){ MADT_PCAT_COMPAT }, 4);
	m += 8;
	for (unsigned int i = 0; i < cfg->nr_cpus; i++) {
		struct madt_lapic l = {
			.type = MADT_LAPIC,
			.length = sizeof(l),
			.uid = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = 1, /* enabled */
		};

		memcpy(m, &l, sizeof(l));
		m += sizeof(l);
	}
	memcpy(m, &io, sizeof(io));
	m += sizeof(io);
	memcpy(m, &sci, sizeof(sci));
	m += sizeof(sci);
	memcpy(m, &nmi, sizeof(nmi));
	seal(madt);
}

/* The XSDT: where the FADT and MADT are. */
static void write_xsdt(struct acpi_header *xsdt, uint64_t fadt_gpa, uint64_t madt_gpa)
{
	header(xsdt, "XSDT", sizeof(*xsdt) + 2 * sizeof(uint64_t), 1);
	memcpy(xsdt + 1, &fadt_gpa, 8);
	memcpy((uint8_t *)(xsdt + 1) + 8, &madt_gpa, 8);
	seal(xsdt);
}

/* The RSDP (ACPI 2.0+, no RSDT), on zeroed bytes. */
static void write_rsdp(struct acpi_rsdp *rsdp, uint64_t xsdt_gpa)
{
	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt = xsdt_gpa;
	rsdp->checksum = checksum(rsdp, 20);
	rsdp->ext_checksum = checksum(rsdp, sizeof(*rsdp));
}

ssize_t acpi_write(void *buf, size_t len, uint64_t gpa, const struct acpi_config *cfg)
{
	uint8_t *base = buf;
	size_t off_xsdt, off_fadt, off_madt, off_dsdt;
	ssize_t dsdt_len;

	if (gpa % 16 || cfg->nr_cpus == 0 || cfg->nr_cpus > 255 ||
	    cfg->nr_virtio > ACPI_MAX_VIRTIO || gpa + len < gpa || gpa + len > 0x100000000ULL)
		return -EINVAL;
	/* Memory32Fixed holds 32-bit addresses; the IOAPIC, at GSI base 0, has 24 pins. */
	for (unsigned int i = 0; i < cfg->nr_virtio; i++)
		if (cfg->virtio[i].base + cfg->virtio[i].size > 0x100000000ULL ||
		    cfg->virtio[i].gsi >= IRQCHIP_NR_LINES)
			return -EINVAL;

	off_xsdt = align16(sizeof(struct acpi_rsdp));
	off_fadt = align16(off_xsdt + sizeof(struct acpi_header) + 2 * sizeof(uint64_t));
	off_madt = align16(off_fadt + sizeof(struct acpi_fadt));
	off_dsdt = align16(off_madt + madt_size(cfg));
	if (off_dsdt + sizeof(struct acpi_header) > len)
		return -ENOSPC;
	memset(base, 0, off_dsdt + sizeof(struct acpi_header));

	/* DSDT first: the others point at it and need nothing from it but its place. */
	dsdt_len = write_dsdt((struct acpi_header *)(base + off_dsdt),
			      len - off_dsdt - sizeof(struct acpi_header), cfg);
	if (dsdt_len < 0)
		return dsdt_len;
	write_fadt((struct acpi_fadt *)(base + off_fadt), gpa + off_dsdt, cfg);
	write_madt((struct acpi_header *)(base + off_madt), cfg);
	write_xsdt((struct acpi_header *)(base + off_xsdt), gpa + off_fadt, gpa + off_madt);
	write_rsdp((struct acpi_rsdp *)base, gpa + off_xsdt);
	return (ssize_t)(off_dsdt + (size_t)dsdt_len);
}
