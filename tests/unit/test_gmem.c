// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/gmem.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)

START_TEST(layout_below_the_hole)
{
	struct gmem_region r[2];

	ck_assert_int_eq(gmem_layout(128 * MiB, r), 1);
	ck_assert_uint_eq(r[0].gpa, 0);
	ck_assert_uint_eq(r[0].size, 128 * MiB);
	ck_assert_int_eq(gmem_layout(3 * GiB, r), 1);
	ck_assert_uint_eq(r[0].size, 3 * GiB);
}
END_TEST

START_TEST(layout_splits_above_3g)
{
	struct gmem_region r[2];

	ck_assert_int_eq(gmem_layout(3 * GiB + 4096, r), 2);
	ck_assert_uint_eq(r[0].gpa, 0);
	ck_assert_uint_eq(r[0].size, 3 * GiB);
	ck_assert_uint_eq(r[1].gpa, 4 * GiB);
	ck_assert_uint_eq(r[1].size, 4096);

	ck_assert_int_eq(gmem_layout(8 * GiB, r), 2);
	ck_assert_uint_eq(r[1].gpa, 4 * GiB);
	ck_assert_uint_eq(r[1].size, 5 * GiB);
}
END_TEST

START_TEST(layout_refuses_bad_sizes)
{
	struct gmem_region r[2];

	ck_assert_int_eq(gmem_layout(0, r), -EINVAL);
	ck_assert_int_eq(gmem_layout(MiB + 1, r), -EINVAL);
}
END_TEST

static uint8_t low[0x10000], high[0x4000];

/* Low RAM at 0..64K and a region at 4 GiB, with a hole between. */
static void two_regions(struct gmem *m)
{
	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(gmem_add_region(m, 0, low, sizeof(low)), 0);
	ck_assert_int_eq(gmem_add_region(m, 4 * GiB, high, sizeof(high)), 0);
}

START_TEST(translate_inside)
{
	struct gmem m;

	two_regions(&m);
	ck_assert_ptr_eq(gmem_translate(&m, 0, 1), low);
	ck_assert_ptr_eq(gmem_translate(&m, 0x100, 0x10), low + 0x100);
	ck_assert_ptr_eq(gmem_translate(&m, 0, sizeof(low)), low);
	ck_assert_ptr_eq(gmem_translate(&m, sizeof(low) - 1, 1), low + sizeof(low) - 1);
	ck_assert_ptr_eq(gmem_translate(&m, 4 * GiB + 0x10, 8), high + 0x10);
}
END_TEST

START_TEST(translate_refuses_slot_end_crossing)
{
	struct gmem m;

	two_regions(&m);
	ck_assert_ptr_null(gmem_translate(&m, sizeof(low) - 1, 2));
	ck_assert_ptr_null(gmem_translate(&m, 0, sizeof(low) + 1));
	ck_assert_ptr_null(gmem_translate(&m, 4 * GiB + sizeof(high) - 4, 8));
}
END_TEST

START_TEST(translate_refuses_adjacent_slots)
{
	static uint8_t a[4096], b[4096];
	struct gmem m;

	/* Two slots back to back are still two host mappings: no range spans both. */
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(gmem_add_region(&m, 0, a, sizeof(a)), 0);
	ck_assert_int_eq(gmem_add_region(&m, 4096, b, sizeof(b)), 0);
	ck_assert_ptr_null(gmem_translate(&m, 4095, 2));
	ck_assert_ptr_eq(gmem_translate(&m, 4096, 2), b);
}
END_TEST

START_TEST(translate_refuses_wrap_and_zero)
{
	struct gmem m;

	two_regions(&m);
	ck_assert_ptr_null(gmem_translate(&m, UINT64_MAX - 1, 4));
	ck_assert_ptr_null(gmem_translate(&m, 0x10, UINT64_MAX));
	ck_assert_ptr_null(gmem_translate(&m, 0x10, 0));
}
END_TEST

START_TEST(translate_refuses_holes)
{
	struct gmem m;

	two_regions(&m);
	ck_assert_ptr_null(gmem_translate(&m, sizeof(low), 1));
	ck_assert_ptr_null(gmem_translate(&m, 3 * GiB, 4));
	ck_assert_ptr_null(gmem_translate(&m, 4 * GiB - 2, 4));
	ck_assert_ptr_null(gmem_translate(&m, 4 * GiB + sizeof(high), 1));
	ck_assert_ptr_null(gmem_translate(&m, UINT64_MAX, 1));
}
END_TEST

START_TEST(add_region_refusals)
{
	static uint8_t buf[4096];
	struct gmem m;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(gmem_add_region(&m, 0, buf, 0), -EINVAL);
	ck_assert_int_eq(gmem_add_region(&m, UINT64_MAX - 10, buf, 4096), -EINVAL);
	ck_assert_int_eq(gmem_add_region(&m, 0, NULL, 4096), -EINVAL);
	ck_assert_int_eq(gmem_add_region(&m, 0x1000, buf, 4096), 0);
	ck_assert_int_eq(gmem_add_region(&m, 0x1800, buf, 4096), -EEXIST);
	ck_assert_int_eq(gmem_add_region(&m, 0x0800, buf, 4096), -EEXIST);
	for (unsigned int i = 1; i < GMEM_MAX_REGIONS; i++)
		ck_assert_int_eq(gmem_add_region(&m, 0x10000 * (i + 1), buf, 4096), 0);
	ck_assert_int_eq(gmem_add_region(&m, 0x1000000, buf, 4096), -ENOSPC);
}
END_TEST

START_TEST(read_write_copy_or_refuse)
{
	struct gmem m;
	uint8_t out[4] = { 1, 2, 3, 4 }, in[4] = { 0 };

	two_regions(&m);
	ck_assert_int_eq(gmem_write(&m, 0x20, out, 4), 0);
	ck_assert_int_eq(gmem_read(&m, 0x20, in, 4), 0);
	ck_assert_mem_eq(in, out, 4);

	memset(in, 0x77, sizeof(in));
	ck_assert_int_eq(gmem_read(&m, sizeof(low) - 2, in, 4), -EFAULT);
	ck_assert_uint_eq(in[0], 0x77); /* nothing copied */
	ck_assert_int_eq(gmem_write(&m, 3 * GiB, out, 4), -EFAULT);
	ck_assert_int_eq(gmem_read(&m, 3 * GiB, in, 0), 0);
}
END_TEST

START_TEST(alloc_maps_the_split_layout)
{
	struct gmem m;
	uint8_t *p;

	/* MAP_NORESERVE: 5 GiB of address space costs only the pages touched. */
	ck_assert_int_eq(gmem_alloc(&m, 5 * GiB), 0);
	ck_assert_uint_eq(m.nr, 2);
	ck_assert_uint_eq(m.ram_size, 5 * GiB);
	p = gmem_translate(&m, 4 * GiB + 2 * GiB - 8, 8);
	ck_assert_ptr_nonnull(p);
	memset(p, 0xab, 8);
	ck_assert_ptr_null(gmem_translate(&m, 6 * GiB, 1));
	ck_assert_ptr_null(gmem_translate(&m, 3 * GiB, 1));
	ck_assert_ptr_nonnull(gmem_translate(&m, 3 * GiB - 1, 1));
	gmem_free(&m);
	ck_assert_uint_eq(m.nr, 0);
	ck_assert_int_eq(gmem_alloc(&m, 0), -EINVAL);
}
END_TEST

START_TEST(alloc_aligns_regions_to_huge_pages)
{
	struct gmem m;

	/* A size that is not a multiple of 2 MiB still starts on a boundary. */
	ck_assert_int_eq(gmem_alloc(&m, 3 * GiB + 4 * 4096), 0);
	for (unsigned int i = 0; i < m.nr; i++)
		ck_assert_uint_eq((uintptr_t)m.r[i].host % GMEM_HUGE_SIZE, 0);
	/* The last byte of each region is mapped and writable. */
	for (unsigned int i = 0; i < m.nr; i++)
		m.r[i].host[m.r[i].size - 1] = 1;
	gmem_free(&m);
	ck_assert_int_eq(gmem_alloc(&m, 256 << 20), 0);
	ck_assert_uint_eq((uintptr_t)m.r[0].host % GMEM_HUGE_SIZE, 0);
	gmem_free(&m);
}
END_TEST

static Suite *gmem_suite(void)
{
	Suite *s = suite_create("gmem");
	TCase *tc = tcase_create("gmem");

	tcase_add_test(tc, layout_below_the_hole);
	tcase_add_test(tc, layout_splits_above_3g);
	tcase_add_test(tc, layout_refuses_bad_sizes);
	tcase_add_test(tc, translate_inside);
	tcase_add_test(tc, translate_refuses_slot_end_crossing);
	tcase_add_test(tc, translate_refuses_adjacent_slots);
	tcase_add_test(tc, translate_refuses_wrap_and_zero);
	tcase_add_test(tc, translate_refuses_holes);
	tcase_add_test(tc, add_region_refusals);
	tcase_add_test(tc, read_write_copy_or_refuse);
	tcase_add_test(tc, alloc_maps_the_split_layout);
	tcase_add_test(tc, alloc_aligns_regions_to_huge_pages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(gmem_suite());
}
