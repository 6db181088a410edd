// SPDX-License-Identifier: MIT
#include "config.h"

#include "firmware/layout.h"
#include "firmware/mptable.h"
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/*
 * The tables are read back through byte offsets taken from the MP spec 1.4
 * figures, not through the module's structs, so a wrong field offset or a
 * missing `packed` shows up here.
 */
#define FP_LEN 16
#define HDR_LEN 44
#define CPU_LEN 20
#define SMALL_LEN 8 /* bus, IOAPIC, I/O and local interrupt entries */
#define IOAPIC_PINS 24

#define GPA 0xf0000ULL
#define CANARY 0xa5
/* Room for the largest table set and some canary after it. */
#define BUF_LEN (FP_LEN + HDR_LEN + MPTABLE_MAX_CPUS * CPU_LEN + 28 * SMALL_LEN + 64)

/* The vCPU counts the loop tests run for. */
static const unsigned int counts[] = { 1, 2, 4, MPTABLE_MAX_CPUS };

static struct mptable_config config(unsigned int nr_cpus)
{
	struct mptable_config cfg = {
		.nr_cpus = nr_cpus,
		.ioapic_addr = MPTABLE_IOAPIC_DEFAULT,
		.lapic_addr = MPTABLE_LAPIC_DEFAULT,
		.cpu_signature = 0x000806f8,
		.cpu_features = 0x178bfbff,
	};

	return cfg;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static int all_canary(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++ != CANARY)
			return 0;
	return 1;
}

/* Writes the tables for `nr_cpus` at GPA into a canary-filled `buf`; returns the length. */
static size_t build(uint8_t *buf, unsigned int nr_cpus)
{
	struct mptable_config cfg = config(nr_cpus);
	ssize_t n;

	memset(buf, CANARY, BUF_LEN);
	n = mptable_write(buf, BUF_LEN, GPA, &cfg);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq((size_t)n, mptable_size(nr_cpus));
	return (size_t)n;
}

static size_t entry_len(uint8_t type)
{
	return type == 0 ? CPU_LEN : SMALL_LEN;
}

/* The entry of `type` numbered `idx` among those of its type, or NULL. */
static const uint8_t *find_entry(const uint8_t *buf, uint8_t type, unsigned int idx)
{
	const uint8_t *hdr = buf + FP_LEN;
	const uint8_t *p = hdr + HDR_LEN, *end = hdr + le16(hdr + 4);

	while (p < end) {
		if (*p == type && idx-- == 0)
			return p;
		p += entry_len(*p);
	}
	return NULL;
}

START_TEST(sizes)
{
	ck_assert_uint_eq(mptable_size(1), 16 + 44 + 20 + 8 + 8 + 24 * 8 + 2 * 8);
	ck_assert_uint_eq(mptable_size(1), 304);
	ck_assert_uint_eq(mptable_size(2), 324);
	ck_assert_uint_eq(mptable_size(4), 364);
	ck_assert_uint_eq(mptable_size(MPTABLE_MAX_CPUS), 304 + 253 * 20);
	ck_assert_uint_eq(mptable_size(0), 0);
	ck_assert_uint_eq(mptable_size(MPTABLE_MAX_CPUS + 1), 0);
}
END_TEST

START_TEST(max_leaves_room_for_the_ioapic_id)
{
	/* The IOAPIC takes ID nr_cpus, and 0xff is the broadcast ID. */
	ck_assert_uint_lt(MPTABLE_MAX_CPUS, 0xff);
	ck_assert_uint_eq(MPTABLE_MAX_CPUS, 254);
}
END_TEST

START_TEST(checksums_are_zero)
{
	uint8_t buf[BUF_LEN];
	size_t n = build(buf, counts[_i]);

	ck_assert_uint_eq(sum(buf, FP_LEN), 0);
	ck_assert_uint_eq(le16(buf + FP_LEN + 4), n - FP_LEN);
	ck_assert_uint_eq(sum(buf + FP_LEN, n - FP_LEN), 0);
}
END_TEST

START_TEST(floating_pointer)
{
	uint8_t buf[BUF_LEN];

	build(buf, counts[_i]);
	ck_assert_mem_eq(buf, "_MP_", 4);
	ck_assert_uint_eq(le32(buf + 4), GPA + FP_LEN);
	ck_assert_uint_eq(buf[8], 1);  /* length in paragraphs */
	ck_assert_uint_eq(buf[9], 4);  /* spec 1.4 */
	ck_assert_uint_eq(buf[11], 0); /* configuration table present */
	ck_assert_uint_eq(buf[12], 0); /* no IMCR: virtual wire */
	ck_assert_uint_eq(buf[13], 0);
	ck_assert_uint_eq(buf[14], 0);
	ck_assert_uint_eq(buf[15], 0);
}
END_TEST

START_TEST(pointer_follows_gpa)
{
	struct mptable_config cfg = config(2);
	uint8_t buf[BUF_LEN];

	ck_assert_int_gt(mptable_write(buf, sizeof(buf), 0x9fc00, &cfg), 0);
	ck_assert_uint_eq(le32(buf + 4), 0x9fc10);
	ck_assert_uint_eq(sum(buf, FP_LEN), 0);
	ck_assert_int_gt(mptable_write(buf, sizeof(buf), 0, &cfg), 0);
	ck_assert_uint_eq(le32(buf + 4), 0x10);
	ck_assert_uint_eq(sum(buf, FP_LEN), 0);
}
END_TEST

START_TEST(misaligned_gpa)
{
	struct mptable_config cfg = config(2);
	uint8_t buf[BUF_LEN];
	uint64_t gpa;

	memset(buf, CANARY, sizeof(buf));
	for (gpa = GPA + 1; gpa < GPA + 16; gpa++)
		ck_assert_int_eq(mptable_write(buf, sizeof(buf), gpa, &cfg), -EINVAL);
	ck_assert(all_canary(buf, sizeof(buf)));
}
END_TEST

START_TEST(must_end_below_4g)
{
	struct mptable_config cfg = config(2);
	/* The last 16-byte aligned start that still ends at or below 4 GiB. */
	uint64_t last = ((1ULL << 32) - mptable_size(2)) & ~15ULL;
	uint8_t buf[BUF_LEN];

	memset(buf, CANARY, sizeof(buf));
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), last + 16, &cfg), -EINVAL);
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), 1ULL << 32, &cfg), -EINVAL);
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), UINT64_MAX - 15, &cfg), -EINVAL);
	ck_assert(all_canary(buf, sizeof(buf)));
	ck_assert_int_gt(mptable_write(buf, sizeof(buf), last, &cfg), 0);
	ck_assert_uint_eq(le32(buf + 4), last + 16);
}
END_TEST

START_TEST(header)
{
	uint8_t buf[BUF_LEN];
	unsigned int nr = counts[_i];
	const uint8_t *h;

	build(buf, nr);
	h = buf + FP_LEN;
	ck_assert_mem_eq(h, "PCMP", 4);
	ck_assert_uint_eq(le16(h + 4), mptable_size(nr) - FP_LEN);
	ck_assert_uint_eq(h[6], 4);
	ck_assert_mem_eq(h + 8, "EMBER   ", 8);
	ck_assert_mem_eq(h + 16, "EMBER VM    ", 12);
	ck_assert_uint_eq(le32(h + 28), 0); /* no OEM table */
	ck_assert_uint_eq(le16(h + 32), 0);
	ck_assert_uint_eq(le16(h + 34), nr + 1 + 1 + 24 + 2);
	ck_assert_uint_eq(le32(h + 36), 0xfee00000);
	ck_assert_uint_eq(le16(h + 40), 0); /* no extended table */
	ck_assert_uint_eq(h[42], 0);
	ck_assert_uint_eq(h[43], 0);
}
END_TEST

START_TEST(entries_in_type_order)
{
	unsigned int nr = counts[_i], seen[5] = { 0 }, entries = 0;
	uint8_t buf[BUF_LEN];
	const uint8_t *h, *p, *end;
	int last = -1;

	build(buf, nr);
	h = buf + FP_LEN;
	p = h + HDR_LEN;
	end = h + le16(h + 4);
	while (p < end) {
		ck_assert_uint_le(*p, 4);
		ck_assert_int_ge(*p, last);
		last = *p;
		seen[*p]++;
		entries++;
		p += entry_len(*p);
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_uint_eq(entries, le16(h + 34));
	ck_assert_uint_eq(seen[0], nr);
	ck_assert_uint_eq(seen[1], 1);	/* the ISA bus */
	ck_assert_uint_eq(seen[2], 1);	/* the IOAPIC */
	ck_assert_uint_eq(seen[3], 24); /* IOAPIC pins */
	ck_assert_uint_eq(seen[4], 2);	/* LINT0, LINT1 */
}
END_TEST

START_TEST(processors)
{
	unsigned int nr = counts[_i], i;
	uint8_t buf[BUF_LEN];

	build(buf, nr);
	for (i = 0; i < nr; i++) {
		const uint8_t *e = find_entry(buf, 0, i);

		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e[1], i);	/* APIC ID */
		ck_assert_uint_eq(e[2], 0x14);	/* local APIC version */
		ck_assert_uint_eq(e[3] & 1, 1); /* enabled */
		ck_assert_uint_eq(!!(e[3] & 2), i == 0);
		ck_assert_uint_eq(e[3] & ~3u, 0);
		ck_assert_uint_eq(le32(e + 4), 0x000806f8);
		ck_assert_uint_eq(le32(e + 8), 0x178bfbff);
		ck_assert_uint_eq(le32(e + 12), 0);
		ck_assert_uint_eq(le32(e + 16), 0);
	}
	ck_assert_ptr_null(find_entry(buf, 0, nr));
}
END_TEST

START_TEST(isa_bus)
{
	uint8_t buf[BUF_LEN];
	const uint8_t *e;

	build(buf, counts[_i]);
	e = find_entry(buf, 1, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e[1], 0);
	ck_assert_mem_eq(e + 2, "ISA   ", 6);
}
END_TEST

START_TEST(ioapic)
{
	unsigned int nr = counts[_i], i;
	uint8_t buf[BUF_LEN];
	const uint8_t *e;

	build(buf, nr);
	e = find_entry(buf, 2, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e[1], nr);
	ck_assert_uint_lt(e[1], 0xff);
	ck_assert_uint_eq(e[2], 0x11);
	ck_assert_uint_eq(e[3], 1); /* usable */
	ck_assert_uint_eq(le32(e + 4), 0xfec00000);
	for (i = 0; i < nr; i++)
		ck_assert_uint_ne(find_entry(buf, 0, i)[1], e[1]);
}
END_TEST

START_TEST(isa_irqs_to_same_pin)
{
	unsigned int irq;
	uint8_t buf[BUF_LEN];
	uint8_t ioapic_id;

	build(buf, counts[_i]);
	ioapic_id = find_entry(buf, 2, 0)[1];
	for (irq = 0; irq < 16; irq++) {
		const uint8_t *e = find_entry(buf, 3, irq);

		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e[1], 0);	   /* INT */
		ck_assert_uint_eq(le16(e + 2), 0); /* conforms to bus */
		ck_assert_uint_eq(e[4], 0);	   /* ISA bus */
		ck_assert_uint_eq(e[5], irq);
		ck_assert_uint_eq(e[6], ioapic_id);
		ck_assert_uint_eq(e[7], irq);
	}
}
END_TEST

START_TEST(high_pins_edge_active_high)
{
	unsigned int pin;
	uint8_t buf[BUF_LEN];
	uint8_t ioapic_id;

	build(buf, counts[_i]);
	ioapic_id = find_entry(buf, 2, 0)[1];
	for (pin = 16; pin < IOAPIC_PINS; pin++) {
		const uint8_t *e = find_entry(buf, 3, pin);

		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e[1], 0); /* INT */
		/* Said outright: polarity 01 (active high), trigger 01 (edge). */
		ck_assert_uint_eq(le16(e + 2) & 3, 1);
		ck_assert_uint_eq((le16(e + 2) >> 2) & 3, 1);
		ck_assert_uint_eq(le16(e + 2) >> 4, 0);
		ck_assert_uint_eq(e[4], 0); /* the ISA bus, the only one */
		ck_assert_uint_eq(e[5], pin);
		ck_assert_uint_eq(e[6], ioapic_id);
		ck_assert_uint_eq(e[7], pin);
	}
	ck_assert_ptr_null(find_entry(buf, 3, IOAPIC_PINS));
}
END_TEST

/*
 * Linux takes the first I/O interrupt entry naming a pin, so each pin has
 * exactly one, and every virtio line is among them, edge-triggered and
 * active high: explicitly, or by conforming to the ISA bus.
 */
START_TEST(every_pin_once_and_virtio_lines_edge)
{
	const uint8_t *by_pin[256] = { NULL }, *e;
	unsigned int i;
	uint8_t buf[BUF_LEN];

	build(buf, counts[_i]);
	for (i = 0; (e = find_entry(buf, 3, i)) != NULL; i++) {
		ck_assert_ptr_null(by_pin[e[7]]);
		by_pin[e[7]] = e;
	}
	for (i = 0; i < 256; i++)
		ck_assert_uint_eq(by_pin[i] != NULL, i < IOAPIC_PINS);
	for (i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		unsigned int flags;

		e = by_pin[layout_virtio_gsi[i]];
		ck_assert_ptr_nonnull(e);
		flags = le16(e + 2);
		ck_assert_uint_eq(e[4], 0); /* ISA: conforming means edge, active high */
		ck_assert(flags == 0 || flags == 0x0005);
	}
}
END_TEST

START_TEST(local_interrupts)
{
	uint8_t buf[BUF_LEN];
	const uint8_t *extint, *nmi;

	build(buf, counts[_i]);
	extint = find_entry(buf, 4, 0);
	nmi = find_entry(buf, 4, 1);
	ck_assert_ptr_nonnull(extint);
	ck_assert_ptr_nonnull(nmi);
	ck_assert_uint_eq(extint[1], 3); /* ExtINT */
	ck_assert_uint_eq(le16(extint + 2), 0);
	ck_assert_uint_eq(extint[6], 0xff); /* every local APIC */
	ck_assert_uint_eq(extint[7], 0);    /* LINT0 */
	ck_assert_uint_eq(nmi[1], 1);	    /* NMI */
	ck_assert_uint_eq(le16(nmi + 2), 0);
	ck_assert_uint_eq(nmi[6], 0xff);
	ck_assert_uint_eq(nmi[7], 1); /* LINT1 */
}
END_TEST

START_TEST(bad_cpu_counts)
{
	struct mptable_config cfg = config(0);
	uint8_t buf[BUF_LEN];

	memset(buf, CANARY, sizeof(buf));
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), GPA, &cfg), -EINVAL);
	cfg.nr_cpus = MPTABLE_MAX_CPUS + 1;
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), GPA, &cfg), -EINVAL);
	cfg.nr_cpus = 0xffffffffu;
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), GPA, &cfg), -EINVAL);
	ck_assert(all_canary(buf, sizeof(buf)));
}
END_TEST

START_TEST(null_apic_addresses)
{
	struct mptable_config cfg = config(2);
	uint8_t buf[BUF_LEN];

	memset(buf, CANARY, sizeof(buf));
	cfg.lapic_addr = 0;
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), GPA, &cfg), -EINVAL);
	cfg = config(2);
	cfg.ioapic_addr = 0;
	ck_assert_int_eq(mptable_write(buf, sizeof(buf), GPA, &cfg), -EINVAL);
	ck_assert(all_canary(buf, sizeof(buf)));
}
END_TEST

START_TEST(one_byte_short)
{
	unsigned int nr = counts[_i];
	struct mptable_config cfg = config(nr);
	size_t need = mptable_size(nr);
	uint8_t buf[BUF_LEN];

	memset(buf, CANARY, sizeof(buf));
	ck_assert_int_eq(mptable_write(buf, need - 1, GPA, &cfg), -ENOSPC);
	ck_assert_int_eq(mptable_write(buf, 0, GPA, &cfg), -ENOSPC);
	ck_assert(all_canary(buf, sizeof(buf)));
	ck_assert_int_eq(mptable_write(buf, need, GPA, &cfg), (ssize_t)need);
}
END_TEST

START_TEST(nothing_past_the_length)
{
	uint8_t buf[BUF_LEN];
	size_t n = build(buf, counts[_i]);

	ck_assert(all_canary(buf + n, sizeof(buf) - n));
}
END_TEST

START_TEST(unaligned_host_buffer)
{
	/* Guest memory may be mapped anywhere; only the guest address must be aligned. */
	struct mptable_config cfg = config(3);
	uint8_t buf[BUF_LEN + 1];

	ck_assert_int_eq(mptable_write(buf + 1, BUF_LEN, GPA, &cfg), (ssize_t)mptable_size(3));
	ck_assert_mem_eq(buf + 1, "_MP_", 4);
	ck_assert_uint_eq(sum(buf + 1, FP_LEN), 0);
	ck_assert_uint_eq(sum(buf + 1 + FP_LEN, mptable_size(3) - FP_LEN), 0);
}
END_TEST

static Suite *mptable_suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *layout = tcase_create("layout");
	TCase *errors = tcase_create("errors");
	int n = (int)(sizeof(counts) / sizeof(counts[0]));

	tcase_add_test(layout, sizes);
	tcase_add_test(layout, max_leaves_room_for_the_ioapic_id);
	tcase_add_loop_test(layout, checksums_are_zero, 0, n);
	tcase_add_loop_test(layout, floating_pointer, 0, n);
	tcase_add_test(layout, pointer_follows_gpa);
	tcase_add_loop_test(layout, header, 0, n);
	tcase_add_loop_test(layout, entries_in_type_order, 0, n);
	tcase_add_loop_test(layout, processors, 0, n);
	tcase_add_loop_test(layout, isa_bus, 0, n);
	tcase_add_loop_test(layout, ioapic, 0, n);
	tcase_add_loop_test(layout, isa_irqs_to_same_pin, 0, n);
	tcase_add_loop_test(layout, high_pins_edge_active_high, 0, n);
	tcase_add_loop_test(layout, every_pin_once_and_virtio_lines_edge, 0, n);
	tcase_add_loop_test(layout, local_interrupts, 0, n);
	tcase_add_loop_test(layout, nothing_past_the_length, 0, n);
	tcase_add_test(layout, unaligned_host_buffer);
	suite_add_tcase(s, layout);

	tcase_add_test(errors, misaligned_gpa);
	tcase_add_test(errors, must_end_below_4g);
	tcase_add_test(errors, bad_cpu_counts);
	tcase_add_test(errors, null_apic_addresses);
	tcase_add_loop_test(errors, one_byte_short, 0, n);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return unit_run(mptable_suite());
}
