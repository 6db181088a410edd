// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/bus.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

/* A device that records every access it gets. */
struct rec {
	unsigned int n;
	struct {
		char dir;
		uint64_t off;
		unsigned int size;
		uint64_t val;
	} ev[64];
	uint64_t read_val;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned int size)
{
	struct rec *r = opaque;

	ck_assert_uint_lt(r->n, 64);
	r->ev[r->n].dir = 'r';
	r->ev[r->n].off = off;
	r->ev[r->n].size = size;
	r->n++;
	return r->read_val;
}

static void rec_write(void *opaque, uint64_t off, uint64_t val, unsigned int size)
{
	struct rec *r = opaque;

	ck_assert_uint_lt(r->n, 64);
	r->ev[r->n].dir = 'w';
	r->ev[r->n].off = off;
	r->ev[r->n].size = size;
	r->ev[r->n].val = val;
	r->n++;
}

static const struct bus_ops any_ops = { .read = rec_read, .write = rec_write };
static const struct bus_ops max2_ops = { .read = rec_read, .write = rec_write, .max_access = 2 };
static const struct bus_ops min4_ops = {
	.read = rec_read, .write = rec_write, .min_access = 4, .max_access = 4
};
static const struct bus_ops write_only_ops = { .write = rec_write };

static struct bus *bus;

static void setup(void)
{
	ck_assert_int_eq(bus_create(&bus, "test", 0x10000), 0);
}

static void teardown(void)
{
	bus_destroy(bus);
}

START_TEST(refuses_zero_length_and_wrapping)
{
	struct bus *big;
	struct rec r = { 0 };

	ck_assert_int_eq(bus_register(bus, 0x100, 0, &any_ops, &r, "z"), -EINVAL);
	ck_assert_int_eq(bus_create(&big, "mmio", 0), 0);
	ck_assert_int_eq(bus_register(big, UINT64_MAX - 3, 8, &any_ops, &r, "wrap"), -EINVAL);
	/* Ending exactly at the top of the space is fine. */
	ck_assert_int_eq(bus_register(big, UINT64_MAX - 3, 4, &any_ops, &r, "top"), 0);
	bus_destroy(big);
	ck_assert_uint_eq(bus_device_count(bus), 0);
}
END_TEST

START_TEST(refuses_ranges_beyond_the_space)
{
	struct rec r = { 0 };

	ck_assert_int_eq(bus_register(bus, 0xffff, 2, &any_ops, &r, "x"), -ERANGE);
	ck_assert_int_eq(bus_register(bus, 0x10000, 1, &any_ops, &r, "x"), -ERANGE);
	ck_assert_int_eq(bus_register(bus, 0xffff, 1, &any_ops, &r, "x"), 0);
}
END_TEST

START_TEST(refuses_overlaps)
{
	struct rec r = { 0 };

	ck_assert_int_eq(bus_register(bus, 0x100, 0x10, &any_ops, &r, "a"), 0);
	ck_assert_int_eq(bus_register(bus, 0x100, 0x10, &any_ops, &r, "same"), -EBUSY);
	ck_assert_int_eq(bus_register(bus, 0xf8, 0x10, &any_ops, &r, "left"), -EBUSY);
	ck_assert_int_eq(bus_register(bus, 0x10f, 0x10, &any_ops, &r, "right"), -EBUSY);
	ck_assert_int_eq(bus_register(bus, 0x104, 2, &any_ops, &r, "inside"), -EBUSY);
	ck_assert_int_eq(bus_register(bus, 0x80, 0x100, &any_ops, &r, "around"), -EBUSY);
	/* Touching on either side is not overlapping. */
	ck_assert_int_eq(bus_register(bus, 0xf0, 0x10, &any_ops, &r, "below"), 0);
	ck_assert_int_eq(bus_register(bus, 0x110, 0x10, &any_ops, &r, "above"), 0);
	ck_assert_uint_eq(bus_device_count(bus), 3);
}
END_TEST

START_TEST(unregistering_frees_exactly_that_window)
{
	struct rec a = { 0 }, b = { 0 }, c = { 0 };
	uint8_t v;

	ck_assert_int_eq(bus_register(bus, 0x100, 0x10, &any_ops, &a, "a"), 0);
	ck_assert_int_eq(bus_register(bus, 0x110, 0x10, &any_ops, &b, "b"), 0);
	ck_assert_int_eq(bus_register(bus, 0x120, 0x10, &any_ops, &c, "c"), 0);
	/* Only the device's own base and opaque name it. */
	ck_assert_int_eq(bus_unregister(bus, 0x114, &b), -ENOENT);
	ck_assert_int_eq(bus_unregister(bus, 0x110, &a), -ENOENT);
	ck_assert_int_eq(bus_unregister(bus, 0x90, &a), -ENOENT);
	ck_assert_int_eq(bus_unregister(bus, 0x110, &b), 0);
	ck_assert_int_eq(bus_unregister(bus, 0x110, &b), -ENOENT);
	ck_assert_uint_eq(bus_device_count(bus), 2);
	/* Its window reads as nobody's; the neighbours still answer. */
	a.read_val = 0x11;
	c.read_val = 0x33;
	bus_read(bus, 0x118, &v, 1);
	ck_assert_uint_eq(v, 0xff);
	ck_assert_uint_eq(b.n, 0);
	bus_read(bus, 0x10f, &v, 1);
	ck_assert_uint_eq(v, 0x11);
	bus_read(bus, 0x120, &v, 1);
	ck_assert_uint_eq(v, 0x33);
	/* And it can be taken again. */
	ck_assert_int_eq(bus_register(bus, 0x110, 0x10, &any_ops, &b, "b again"), 0);
	ck_assert_int_eq(bus_unregister(bus, 0x100, &a), 0);
	ck_assert_int_eq(bus_unregister(bus, 0x120, &c), 0);
	ck_assert_int_eq(bus_unregister(bus, 0x110, &b), 0);
	ck_assert_uint_eq(bus_device_count(bus), 0);
}
END_TEST

START_TEST(refuses_bad_access_sizes)
{
	struct rec r = { 0 };
	const struct bus_ops three = { .read = rec_read, .min_access = 3 };
	const struct bus_ops inverted = { .read = rec_read, .min_access = 4, .max_access = 2 };
	const struct bus_ops sixteen = { .read = rec_read, .max_access = 16 };

	ck_assert_int_eq(bus_register(bus, 0, 4, &three, &r, "x"), -EINVAL);
	ck_assert_int_eq(bus_register(bus, 0, 4, &inverted, &r, "x"), -EINVAL);
	ck_assert_int_eq(bus_register(bus, 0, 4, &sixteen, &r, "x"), -EINVAL);
	ck_assert_int_eq(bus_register(bus, 0, 4, NULL, &r, "x"), -EINVAL);
}
END_TEST

START_TEST(handlers_get_offsets_and_values)
{
	struct rec r = { .read_val = 0x1122334455667788ULL };
	uint8_t b[8] = { 0 };
	uint32_t w = 0xdeadbeef;

	ck_assert_int_eq(bus_register(bus, 0x3f8, 8, &any_ops, &r, "uart"), 0);
	bus_write(bus, 0x3fb, &w, 4);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ev[0].dir, 'w');
	ck_assert_uint_eq(r.ev[0].off, 3);
	ck_assert_uint_eq(r.ev[0].size, 4);
	ck_assert_uint_eq(r.ev[0].val, 0xdeadbeef);

	bus_read(bus, 0x3f8, b, 8);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ev[1].off, 0);
	ck_assert_uint_eq(r.ev[1].size, 8);
	/* Little-endian bytes, as the guest sees them. */
	ck_assert_uint_eq(b[0], 0x88);
	ck_assert_uint_eq(b[7], 0x11);
}
END_TEST

START_TEST(wide_accesses_are_split)
{
	struct rec r = { .read_val = 0xabcd };
	uint8_t b[4] = { 0x01, 0x02, 0x03, 0x04 };

	ck_assert_int_eq(bus_register(bus, 0x40, 4, &max2_ops, &r, "narrow"), 0);
	bus_write(bus, 0x40, b, 4);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ev[0].off, 0);
	ck_assert_uint_eq(r.ev[0].size, 2);
	ck_assert_uint_eq(r.ev[0].val, 0x0201);
	ck_assert_uint_eq(r.ev[1].off, 2);
	ck_assert_uint_eq(r.ev[1].val, 0x0403);

	memset(b, 0, sizeof(b));
	bus_read(bus, 0x40, b, 4);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_eq(b[0], 0xcd);
	ck_assert_uint_eq(b[1], 0xab);
	ck_assert_uint_eq(b[2], 0xcd);
	ck_assert_uint_eq(b[3], 0xab);
}
END_TEST

START_TEST(narrow_accesses_are_refused)
{
	struct rec r = { .read_val = 0 };
	struct bus_stats st;
	uint8_t b[2] = { 0x12, 0x34 };

	ck_assert_int_eq(bus_register(bus, 0x80, 8, &min4_ops, &r, "wide"), 0);
	bus_write(bus, 0x80, b, 2);
	bus_read(bus, 0x84, b, 1);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_uint_eq(b[0], 0xff);
	bus_get_stats(bus, &st);
	ck_assert_uint_eq(st.refused, 2);
	ck_assert_uint_eq(st.unclaimed_reads, 0);
}
END_TEST

START_TEST(unclaimed_reads_are_all_ones)
{
	struct bus_stats st;
	uint8_t b[8];
	unsigned int len[] = { 1, 2, 4, 8 };

	for (unsigned int i = 0; i < 4; i++) {
		memset(b, 0, sizeof(b));
		bus_read(bus, 0x1234, b, len[i]);
		for (unsigned int k = 0; k < len[i]; k++)
			ck_assert_uint_eq(b[k], 0xff);
		for (unsigned int k = len[i]; k < 8; k++)
			ck_assert_uint_eq(b[k], 0);
	}
	bus_get_stats(bus, &st);
	ck_assert_uint_eq(st.unclaimed_reads, 4);
}
END_TEST

START_TEST(unclaimed_writes_are_dropped)
{
	struct rec r = { 0 };
	struct bus_stats st;
	uint32_t v = 1;

	ck_assert_int_eq(bus_register(bus, 0x100, 4, &any_ops, &r, "a"), 0);
	bus_write(bus, 0x104, &v, 4);
	bus_write(bus, 0xfc, &v, 4);
	ck_assert_uint_eq(r.n, 0);
	bus_get_stats(bus, &st);
	ck_assert_uint_eq(st.unclaimed_writes, 2);
}
END_TEST

START_TEST(access_across_a_device_end)
{
	struct rec r = { .read_val = 0x5a5a };
	uint8_t b[4] = { 0 };

	/* The last two bytes of the window belong to the device; the rest is unclaimed. */
	ck_assert_int_eq(bus_register(bus, 0x200, 2, &any_ops, &r, "two"), 0);
	bus_read(bus, 0x200, b, 4);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.ev[0].size, 2);
	ck_assert_uint_eq(b[0], 0x5a);
	ck_assert_uint_eq(b[1], 0x5a);
	ck_assert_uint_eq(b[2], 0xff);
	ck_assert_uint_eq(b[3], 0xff);

	/* Starting in a gap and ending inside the device. */
	memset(b, 0, sizeof(b));
	bus_read(bus, 0x1fe, b, 4);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.ev[1].off, 0);
	ck_assert_uint_eq(b[0], 0xff);
	ck_assert_uint_eq(b[2], 0x5a);
}
END_TEST

START_TEST(missing_handlers)
{
	struct rec r = { 0 };
	uint8_t b = 0;

	ck_assert_int_eq(bus_register(bus, 0x10, 1, &write_only_ops, &r, "wo"), 0);
	bus_read(bus, 0x10, &b, 1);
	ck_assert_uint_eq(b, 0xff);
	bus_write(bus, 0x10, &b, 1);
	ck_assert_uint_eq(r.n, 1);
}
END_TEST

START_TEST(lookup_among_many_devices)
{
	static struct rec recs[100];
	unsigned int order[100];

	/* Register in a scrambled order; every port must reach its own device. */
	for (unsigned int i = 0; i < 100; i++)
		order[i] = (i * 37) % 100;
	for (unsigned int i = 0; i < 100; i++) {
		unsigned int d = order[i];

		memset(&recs[d], 0, sizeof(recs[d]));
		ck_assert_int_eq(bus_register(bus, 0x1000 + d * 0x10, 8, &any_ops, &recs[d], "d"),
				 0);
	}
	ck_assert_uint_eq(bus_device_count(bus), 100);
	for (unsigned int d = 0; d < 100; d++) {
		uint8_t b = (uint8_t)d;

		bus_write(bus, 0x1000 + d * 0x10 + 7, &b, 1);
		bus_write(bus, 0x1000 + d * 0x10 + 8, &b, 1); /* the gap after it */
	}
	for (unsigned int d = 0; d < 100; d++) {
		ck_assert_uint_eq(recs[d].n, 1);
		ck_assert_uint_eq(recs[d].ev[0].off, 7);
		ck_assert_uint_eq(recs[d].ev[0].val, d);
	}
}
END_TEST

START_TEST(two_buses_are_independent)
{
	struct bus *other;
	struct rec a = { 0 }, b = { 0 };
	uint8_t v = 7;

	ck_assert_int_eq(bus_create(&other, "other", 0x10000), 0);
	ck_assert_int_eq(bus_register(bus, 0x60, 1, &any_ops, &a, "a"), 0);
	ck_assert_int_eq(bus_register(other, 0x60, 1, &any_ops, &b, "b"), 0);
	bus_write(other, 0x60, &v, 1);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_uint_eq(b.n, 1);
	bus_destroy(other);
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, refuses_zero_length_and_wrapping);
	tcase_add_test(tc, refuses_ranges_beyond_the_space);
	tcase_add_test(tc, refuses_overlaps);
	tcase_add_test(tc, unregistering_frees_exactly_that_window);
	tcase_add_test(tc, refuses_bad_access_sizes);
	tcase_add_test(tc, handlers_get_offsets_and_values);
	tcase_add_test(tc, wide_accesses_are_split);
	tcase_add_test(tc, narrow_accesses_are_refused);
	tcase_add_test(tc, unclaimed_reads_are_all_ones);
	tcase_add_test(tc, unclaimed_writes_are_dropped);
	tcase_add_test(tc, access_across_a_device_end);
	tcase_add_test(tc, missing_handlers);
	tcase_add_test(tc, lookup_among_many_devices);
	tcase_add_test(tc, two_buses_are_independent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(bus_suite());
}
