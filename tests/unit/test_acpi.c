// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/acpi.h"
#include "tests/unit/scratch.h"
#include "tests/unit/unit.h"

#define GPA 0xe0000ULL
#define BUF_SIZE 0x10000

static uint8_t buf[BUF_SIZE];

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at guest address `gpa`, after checking its signature and checksum. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t;

	ck_assert_uint_ge(gpa, GPA);
	ck_assert_uint_lt(gpa, GPA + BUF_SIZE);
	t = buf + (gpa - GPA);
	ck_assert_mem_eq(t, sig, 4);
	ck_assert_uint_eq(sum(t, rd32(t + 4)), 0);
	return t;
}

static struct acpi_config config(unsigned int cpus, unsigned int virtio)
{
	struct acpi_config c = {
		.nr_cpus = cpus,
		.ioapic_id = (uint8_t)cpus,
		.ioapic_addr = 0xfec00000,
		.lapic_addr = 0xfee00000,
		.pm1a_evt = 0x600,
		.pm1a_cnt = 0x604,
		.reset_port = 0x606,
		.reset_value = 0x01,
		.rtc_century = 0x32,
		.com1 = true,
		.nr_virtio = virtio,
	};

	for (unsigned int i = 0; i < virtio; i++)
		c.virtio[i] = (struct acpi_virtio){ 0xd0000000 + 0x1000ULL * i, 0x200, 5 + i };
	return c;
}

/* How many times `needle` occurs in [p, p + n). */
static unsigned int count(const uint8_t *p, size_t n, const void *needle, size_t len)
{
	unsigned int c = 0;

	for (size_t i = 0; i + len <= n; i++)
		c += memcmp(p + i, needle, len) == 0;
	return c;
}

START_TEST(tables_chain_and_checksum)
{
	struct acpi_config c = config(4, 3);
	ssize_t n = acpi_write(buf, sizeof(buf), GPA, &c);
	const uint8_t *xsdt, *fadt, *madt, *dsdt;

	ck_assert_int_gt(n, 0);
	/* RSDP: both checksums, revision 2, the XSDT. */
	ck_assert_mem_eq(buf, "RSD PTR ", 8);
	ck_assert_uint_eq(sum(buf, 20), 0);
	ck_assert_uint_eq(sum(buf, 36), 0);
	ck_assert_uint_eq(buf[15], 2);
	xsdt = table(rd64(buf + 24), "XSDT");
	ck_assert_uint_eq(rd32(xsdt + 4), 36 + 16);
	fadt = table(rd64(xsdt + 36), "FACP");
	madt = table(rd64(xsdt + 44), "APIC");
	ck_assert_uint_eq(rd32(fadt + 4), 276);
	dsdt = table(rd64(fadt + 140), "DSDT"); /* X_DSDT */
	ck_assert_uint_eq(rd32(fadt + 40), rd64(fadt + 140));
	ck_assert_uint_le((size_t)(dsdt - buf) + rd32(dsdt + 4), (size_t)n);

	/* FADT: SCI 9, PM1a blocks, not hardware-reduced, the century index. */
	ck_assert_uint_eq(fadt[46] | fadt[47] << 8, ACPI_SCI_IRQ);
	ck_assert_uint_eq(rd32(fadt + 56), 0x600);
	ck_assert_uint_eq(rd32(fadt + 64), 0x604);
	ck_assert_uint_eq(fadt[88], 4);
	ck_assert_uint_eq(fadt[89], 2);
	ck_assert_uint_eq(fadt[108], 0x32);
	ck_assert_uint_eq(rd32(fadt + 112) & (1U << 20), 0);
	/* The fixed power button (PWR_BUTTON clear), and the reset register in I/O space. */
	ck_assert_uint_eq(rd32(fadt + 112) & (1U << 4), 0);
	ck_assert_uint_eq(rd32(fadt + 112) & (1U << 10), 1U << 10);
	ck_assert_uint_eq(fadt[116], 1); /* SystemIO */
	ck_assert_uint_eq(fadt[117], 8);
	ck_assert_uint_eq(fadt[119], 1); /* byte access */
	ck_assert_uint_eq(rd64(fadt + 120), 0x606);
	ck_assert_uint_eq(fadt[128], 0x01);

	/* MADT: one enabled local APIC per vCPU with IDs 0..3, then the IOAPIC. */
	{
		const uint8_t *e = madt + 44, *end = madt + rd32(madt + 4);
		unsigned int lapics = 0, ioapics = 0, isos = 0;

		ck_assert_uint_eq(rd32(madt + 36), 0xfee00000);
		while (e < end) {
			ck_assert_uint_ge(e[1], 2);
			if (e[0] == 0) {
				ck_assert_uint_eq(e[3], lapics);
				ck_assert_uint_eq(rd32(e + 4) & 1, 1);
				lapics++;
			} else if (e[0] == 1) {
				ck_assert_uint_eq(e[2], 4);
				ck_assert_uint_eq(rd32(e + 4), 0xfec00000);
				ioapics++;
			} else if (e[0] == 2) {
				ck_assert_uint_eq(e[3], ACPI_SCI_IRQ);
				isos++;
			}
			e += e[1];
		}
		ck_assert_ptr_eq(e, end);
		ck_assert_uint_eq(lapics, 4);
		ck_assert_uint_eq(ioapics, 1);
		ck_assert_uint_eq(isos, 1);
	}

	/* DSDT: each virtio window by its ID, base and interrupt; COM1; \_S5. */
	{
		size_t len = rd32(dsdt + 4);
		const uint32_t base1 = 0xd0001000, gsi2 = 7;

		ck_assert_uint_eq(count(dsdt, len, "LNRO0005", 8), 3);
		ck_assert_uint_eq(count(dsdt, len, "VR02", 4), 1);
		ck_assert_uint_eq(count(dsdt, len, &base1, 4), 1);
		ck_assert_uint_eq(count(dsdt, len, &gsi2, 4), 1);
		ck_assert_uint_eq(count(dsdt, len, "COM1", 4), 1);
		ck_assert_uint_eq(count(dsdt, len, "_S5_", 4), 1);
	}
}
END_TEST

START_TEST(no_reset_register_unless_given)
{
	struct acpi_config c = config(1, 0);
	const uint8_t *fadt;

	c.reset_port = 0;
	ck_assert_int_gt(acpi_write(buf, sizeof(buf), GPA, &c), 0);
	fadt = table(rd64(table(rd64(buf + 24), "XSDT") + 36), "FACP");
	ck_assert_uint_eq(rd32(fadt + 112) & (1U << 10), 0);
	ck_assert_uint_eq(rd64(fadt + 120), 0);
}
END_TEST

START_TEST(many_devices_need_long_package_lengths)
{
	struct acpi_config c = config(255, ACPI_MAX_VIRTIO);
	ssize_t n = acpi_write(buf, sizeof(buf), GPA, &c);
	const uint8_t *dsdt;
	size_t len;

	ck_assert_int_gt(n, 0);
	dsdt = table(rd64(table(rd64(buf + 24), "XSDT") + 36), "FACP");
	dsdt = table(rd64(dsdt + 140), "DSDT");
	len = rd32(dsdt + 4);
	ck_assert_uint_eq(count(dsdt, len, "LNRO0005", 8), ACPI_MAX_VIRTIO);
	/* The \_SB scope spans more than 63 bytes: a two-byte PkgLength (0x4N). */
	{
		const uint8_t *scope = NULL;

		for (size_t i = 36; i + 5 < len; i++)
			if (dsdt[i] == 0x10 && memcmp(dsdt + i + 3, "\\_SB_", 5) == 0)
				scope = dsdt + i;
		ck_assert_ptr_nonnull(scope);
		ck_assert_uint_eq(scope[1] >> 6, 1);
		/* PkgLength counts from itself to the end of the DSDT. */
		ck_assert_uint_eq((size_t)((scope[1] & 0xf) | scope[2] << 4),
				  len - (size_t)(scope + 1 - dsdt));
	}
}
END_TEST

START_TEST(bad_configs_and_small_buffers)
{
	struct acpi_config c = config(1, 1);

	ck_assert_int_eq(acpi_write(buf, sizeof(buf), GPA + 8, &c), -EINVAL);
	ck_assert_int_eq(acpi_write(buf, 64, GPA, &c), -ENOSPC);
	ck_assert_int_eq(acpi_write(buf, 400, GPA, &c), -ENOSPC);
	c.nr_cpus = 0;
	ck_assert_int_eq(acpi_write(buf, sizeof(buf), GPA, &c), -EINVAL);
	c = config(1, 1);
	c.virtio[0].base = 0xfffff000;
	c.virtio[0].size = 0x2000;
	ck_assert_int_eq(acpi_write(buf, sizeof(buf), GPA, &c), -EINVAL);
	c = config(1, 0);
	c.com1 = false;
	ck_assert_int_gt(acpi_write(buf, sizeof(buf), GPA, &c), 0);
}
END_TEST

/*
 * A virtio device on GSI 20, an IOAPIC-only pin: its _CRS holds an Extended
 * Interrupt descriptor for 20, edge-triggered, active high, exclusive, and
 * the MADT overrides nothing above the ISA range.
 */
START_TEST(virtio_on_gsi_20)
{
	static const uint8_t res[] = {
		0x86, 0x09, 0x00, 0x01, /* Memory32Fixed, 9 bytes, read-write */
		0x00, 0x80, 0x00, 0xd0, /* base 0xd0008000 */
		0x00, 0x02, 0x00, 0x00, /* length 0x200 */
		0x89, 0x06, 0x00,	/* Extended Interrupt, 6 bytes */
		0x03,			/* consumer, edge, active high, exclusive */
		0x01,			/* one interrupt: */
		0x14, 0x00, 0x00, 0x00, /* GSI 20 */
		0x79, 0x00,		/* end tag */
	};
	struct acpi_config c = config(2, 2);
	const uint8_t *xsdt, *madt, *dsdt, *d, *e, *end;
	size_t len;

	c.virtio[1] = (struct acpi_virtio){ 0xd0008000, 0x200, 20 };
	ck_assert_int_gt(acpi_write(buf, sizeof(buf), GPA, &c), 0);
	xsdt = table(rd64(buf + 24), "XSDT");
	madt = table(rd64(xsdt + 44), "APIC");
	dsdt = table(rd64(table(rd64(xsdt + 36), "FACP") + 140), "DSDT");
	len = rd32(dsdt + 4);
	ck_assert_uint_eq(count(dsdt, len, res, sizeof(res)), 1);

	/* It is Name(_CRS, Buffer(23) { ... }) of device VR01, the last one named before it. */
	for (d = dsdt + 36; memcmp(d, res, sizeof(res)) != 0; d++)
		;
	ck_assert_mem_eq(d - 8, "_CRS", 4);
	ck_assert_uint_eq(d[-4], 0x11); /* BufferOp */
	ck_assert_uint_eq(d[-2], 0x0a); /* BytePrefix */
	ck_assert_uint_eq(d[-1], sizeof(res));
	for (e = d; memcmp(e, "VR", 2) != 0; e--)
		;
	ck_assert_mem_eq(e, "VR01", 4);

	/* MADT: the IOAPIC takes GSIs from 0, and the one override is the SCI's. */
	end = madt + rd32(madt + 4);
	for (e = madt + 44; e < end; e += e[1]) {
		if (e[0] == 1)
			ck_assert_uint_eq(rd32(e + 8), 0);
		if (e[0] == 2)
			ck_assert_uint_eq(rd32(e + 4), ACPI_SCI_IRQ);
	}
}
END_TEST

START_TEST(gsi_past_the_ioapic)
{
	struct acpi_config c = config(1, 2);

	c.virtio[1].gsi = 23;
	ck_assert_int_gt(acpi_write(buf, sizeof(buf), GPA, &c), 0);
	c.virtio[1].gsi = 24;
	ck_assert_int_eq(acpi_write(buf, sizeof(buf), GPA, &c), -EINVAL);
	c.virtio[1].gsi = UINT32_MAX;
	ck_assert_int_eq(acpi_write(buf, sizeof(buf), GPA, &c), -EINVAL);
}
END_TEST

/* The file's contents, NUL-terminated (malloc'd), or NULL when it cannot be read. */
static char *slurp(const char *dir, const char *name)
{
	char path[256];
	char *text = NULL;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		text = calloc(1, (size_t)n + 1);
		if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
			free(text);
			text = NULL;
		}
	}
	fclose(f);
	return text;
}

/* Runs `cmd` in `dir` through the shell; its output goes to dir/log. */
static int run_in(const char *dir, const char *cmd)
{
	char line[512];

	snprintf(line, sizeof(line), "cd '%s' && %s >log 2>&1", dir, cmd);
	return system(line);
}

/*
 * ACPICA's iasl, the reference the kernel's own parser comes from,
 * disassembles every table without an error, a warning or a bad checksum,
 * and compiles the disassembled DSDT back without errors. The RSDP is not a
 * table iasl reads alone; the test above checks its checksums. One virtio
 * device is on GSI 20, which iasl reads as the interrupt ember means.
 */
START_TEST(iasl_accepts_every_table)
{
	static const char *const sigs[] = { "XSDT", "FACP", "APIC", "DSDT" };
	struct acpi_config c = config(4, 3);
	char dir[256];
	const uint8_t *xsdt, *t[4];
	char *text;

	ck_assert_msg(system("command -v iasl >/dev/null") == 0,
		      "iasl is not installed (Debian's acpica-tools; scripts/install-deps "
		      "installs it)");
	c.virtio[2].gsi = 20;
	ck_assert_int_gt(acpi_write(buf, sizeof(buf), GPA, &c), 0);
	xsdt = table(rd64(buf + 24), "XSDT");
	t[0] = xsdt;
	t[1] = table(rd64(xsdt + 36), "FACP");
	t[2] = table(rd64(xsdt + 44), "APIC");
	t[3] = table(rd64(t[1] + 140), "DSDT");
	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "ember-acpi-"), 0);
	for (unsigned int i = 0; i < 4; i++) {
		char path[320], cmd[64], dsl[16];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, sigs[i]);
		f = fopen(path, "wb");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(t[i], 1, rd32(t[i] + 4), f), rd32(t[i] + 4));
		ck_assert_int_eq(fclose(f), 0);

		snprintf(cmd, sizeof(cmd), "iasl -d %s.dat", sigs[i]);
		ck_assert_msg(run_in(dir, cmd) == 0, "iasl -d failed on %s", sigs[i]);
		text = slurp(dir, "log");
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(strstr(text, "Error") == NULL && strstr(text, "Warning") == NULL,
			      "iasl -d on %s said: %s", sigs[i], text);
		ck_assert_msg(strstr(text, "valid ACPI table") != NULL, "iasl -d on %s: %s",
			      sigs[i], text);
		free(text);
		snprintf(dsl, sizeof(dsl), "%s.dsl", sigs[i]);
		text = slurp(dir, dsl);
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(strstr(text, "Incorrect") == NULL, "%s: %s", dsl, text);
		if (i == 3) {
			/* GSI 20's descriptor: the nearest "Interrupt (" before it. */
			static const char want[] =
				"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive,";
			const char *gsi = strstr(text, "0x00000014,"), *desc = gsi;

			ck_assert_msg(gsi != NULL, "no GSI 20 in %s", text);
			while (desc > text && strncmp(desc, "Interrupt (", 11) != 0)
				desc--;
			ck_assert_msg(strncmp(desc, want, sizeof(want) - 1) == 0,
				      "GSI 20 is not edge, active high in %s", text);
		}
		free(text);
	}
	ck_assert_int_eq(run_in(dir, "iasl DSDT.dsl"), 0);
	text = slurp(dir, "log");
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, " 0 Errors, 0 Warnings") != NULL, "iasl DSDT.dsl: %s", text);
	free(text);
	ck_assert_int_eq(run_in(dir, "rm -f ./*.dat ./*.dsl ./*.aml log"), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("tables");

	tcase_add_test(tc, tables_chain_and_checksum);
	tcase_add_test(tc, no_reset_register_unless_given);
	tcase_add_test(tc, many_devices_need_long_package_lengths);
	tcase_add_test(tc, bad_configs_and_small_buffers);
	tcase_add_test(tc, virtio_on_gsi_20);
	tcase_add_test(tc, gsi_past_the_ioapic);
	tcase_add_test(tc, iasl_accepts_every_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(acpi_suite());
}
