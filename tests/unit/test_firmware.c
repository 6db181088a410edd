// SPDX-License-Identifier: MIT
#include "config.h"

#include "firmware/bios.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[256];
static char err[256];

/* A temporary file of `size` bytes, every byte 0x5a. */
static void make_file(off_t size)
{
	static char buf[4096];
	int fd;

	fd = scratch_file(path, sizeof(path), "ember-bios-");
	ck_assert_int_ge(fd, 0);
	memset(buf, 0x5a, sizeof(buf));
	if (size <= (off_t)sizeof(buf))
		ck_assert_int_eq(write(fd, buf, (size_t)size), size);
	else
		ck_assert_int_eq(ftruncate(fd, size), 0);
	close(fd);
}

START_TEST(loads_and_places_at_the_top)
{
	struct bios_image img;

	make_file(4096);
	ck_assert_int_eq(bios_load(&img, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(img.size, 4096);
	ck_assert_uint_eq(img.data[0], 0x5a);
	ck_assert_uint_eq(img.data[4095], 0x5a);
	ck_assert_uint_eq(bios_base(&img), 0xfffff000);
	bios_free(&img);
	unlink(path);
}
END_TEST

START_TEST(base_rounds_to_pages)
{
	struct bios_image img = { .size = 100 };

	ck_assert_uint_eq(bios_base(&img), 0xfffff000);
	img.size = 4097;
	ck_assert_uint_eq(bios_base(&img), 0xffffe000);
	img.size = 64 << 10;
	ck_assert_uint_eq(bios_base(&img), 0xffff0000);
	img.size = BIOS_MAX_SIZE;
	ck_assert_uint_eq(bios_base(&img), 0xff000000);
}
END_TEST

START_TEST(missing_file)
{
	struct bios_image img;

	ck_assert_int_eq(bios_load(&img, "/nonexistent/fw.bin", err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/fw.bin"));
	ck_assert_ptr_null(img.data);
}
END_TEST

START_TEST(empty_and_oversized_files)
{
	struct bios_image img;

	make_file(0);
	ck_assert_int_eq(bios_load(&img, path, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "must be 1 byte to 16 MiB"));
	unlink(path);
	make_file(BIOS_MAX_SIZE + 1);
	ck_assert_int_eq(bios_load(&img, path, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "must be 1 byte to 16 MiB"));
	unlink(path);
}
END_TEST

START_TEST(directory)
{
	struct bios_image img;

	ck_assert_int_eq(bios_load(&img, "/", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

static Suite *firmware_suite(void)
{
	Suite *s = suite_create("firmware");
	TCase *tc = tcase_create("bios");

	tcase_add_test(tc, loads_and_places_at_the_top);
	tcase_add_test(tc, base_rounds_to_pages);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, empty_and_oversized_files);
	tcase_add_test(tc, directory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(firmware_suite());
}
