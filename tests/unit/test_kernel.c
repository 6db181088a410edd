// SPDX-License-Identifier: MIT
/* -kernel, -initrd, -append: format detection, the command line, and bad input. */
#include "config.h"

#include "firmware/kernel.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1ULL << 20)

static char err[512];

START_TEST(console_is_added_once)
{
	char *s;

	s = kernel_cmdline("root=/dev/vda rw", true);
	ck_assert_str_eq(s, "root=/dev/vda rw console=ttyS0");
	free(s);
	s = kernel_cmdline(NULL, true);
	ck_assert_str_eq(s, "console=ttyS0");
	free(s);
	/* The user's own console= wins, wherever it is; the rest is verbatim. */
	s = kernel_cmdline("quiet console=hvc0  x=\"a b\"", true);
	ck_assert_str_eq(s, "quiet console=hvc0  x=\"a b\"");
	free(s);
	s = kernel_cmdline("console=ttyS0,115200", true);
	ck_assert_str_eq(s, "console=ttyS0,115200");
	free(s);
	/* Not a console= word: netconsole= or xconsole= do not count. */
	s = kernel_cmdline("netconsole=@/eth0", true);
	ck_assert_str_eq(s, "netconsole=@/eth0 console=ttyS0");
	free(s);
	/* No serial port: nothing to point the console at. */
	s = kernel_cmdline("quiet", false);
	ck_assert_str_eq(s, "quiet");
	free(s);
}
END_TEST

START_TEST(cmdline_words)
{
	ck_assert(kernel_cmdline_has("acpi=off", "acpi=off"));
	ck_assert(kernel_cmdline_has("quiet\tacpi=off  root=/dev/vda", "acpi=off"));
	/* Whole words only. */
	ck_assert(!kernel_cmdline_has("xacpi=off acpi=offx acpi=of", "acpi=off"));
	ck_assert(!kernel_cmdline_has("acpi=force", "acpi=off"));
	/* After "--" the words are init's. */
	ck_assert(!kernel_cmdline_has("quiet -- acpi=off", "acpi=off"));
	ck_assert(kernel_cmdline_has("acpi=off --", "acpi=off"));
	ck_assert(!kernel_cmdline_has("", "acpi=off"));
	ck_assert(!kernel_cmdline_has("   ", "acpi=off"));
	ck_assert(!kernel_cmdline_has(NULL, "acpi=off"));
}
END_TEST

static char path[256];

static void write_file(const void *data, size_t len)
{
	int fd;

	fd = scratch_file(path, sizeof(path), "ember-kernel-");
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

START_TEST(bad_kernels_are_usage_errors)
{
	struct kernel_image k;
	struct kernel_args a = { .ram_size = 256 * MiB, .serial_console = true };
	static uint8_t junk[4096];

	a.kernel = "/nonexistent/bzImage";
	ck_assert_int_eq(kernel_prepare(&k, &a, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "-kernel /nonexistent/bzImage"));

	a.kernel = "/";
	ck_assert_int_eq(kernel_prepare(&k, &a, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

	memset(junk, 0x41, sizeof(junk));
	write_file(junk, sizeof(junk));
	a.kernel = path;
	ck_assert_int_eq(kernel_prepare(&k, &a, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "not a bzImage"));
	unlink(path);

	/* ELF magic: the PVH path judges it. */
	memcpy(junk,
	       "\x7f"
	       "ELF",
	       4);
	write_file(junk, 64);
	ck_assert_int_eq(kernel_prepare(&k, &a, err, sizeof(err)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, path));
	unlink(path);
}
END_TEST

START_TEST(missing_initrd)
{
	struct kernel_image k;
	struct kernel_args a = { .ram_size = 256 * MiB, .initrd = "/nonexistent/initrd" };
	static uint8_t junk[4096];

	write_file(junk, sizeof(junk));
	a.kernel = path;
	ck_assert_int_eq(kernel_prepare(&k, &a, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "-initrd /nonexistent/initrd"));
	unlink(path);
}
END_TEST

static Suite *kernel_suite(void)
{
	Suite *s = suite_create("kernel");
	TCase *tc = tcase_create("kernel");

	tcase_add_test(tc, console_is_added_once);
	tcase_add_test(tc, cmdline_words);
	tcase_add_test(tc, bad_kernels_are_usage_errors);
	tcase_add_test(tc, missing_initrd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(kernel_suite());
}
