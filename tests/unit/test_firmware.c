// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/gmem.h"
#include "core/irq.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/uart8250.h"
#include "firmware/acpi.h"
#include "firmware/bios.h"
#include "firmware/layout.h"
#include "firmware/mptable.h"
#include "scratch.h"
#include "virtio/mmio.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

/*
 * Virtio slots: as many as the DSDT can list, each on a line of its own that
 * the IOAPIC has and no other device of the machine (or the PIC's cascade)
 * uses; the ISA ones first, then 16-23.
 */
START_TEST(virtio_lines)
{
	static const unsigned int taken[] = {
		PIT_IRQ, I8042_KBD_IRQ, 2, UART8250_COM1_IRQ, 8 /* RTC */, ACPI_SCI_IRQ,
	};
	bool used[IRQCHIP_NR_LINES] = { false };

	ck_assert_uint_eq(VIRTIO_MMIO_SLOTS, 16);
	ck_assert_uint_eq(ACPI_MAX_VIRTIO, VIRTIO_MMIO_SLOTS);
	for (unsigned int i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		unsigned int gsi = layout_virtio_gsi[i];

		ck_assert_uint_lt(gsi, IRQCHIP_NR_LINES);
		ck_assert(!used[gsi]);
		used[gsi] = true;
		for (unsigned int t = 0; t < sizeof(taken) / sizeof(taken[0]); t++)
			ck_assert_uint_ne(gsi, taken[t]);
		if (i > 0)
			ck_assert_uint_gt(gsi, layout_virtio_gsi[i - 1]);
	}
	for (unsigned int gsi = 16; gsi < IRQCHIP_NR_LINES; gsi++)
		ck_assert(used[gsi]);
}
END_TEST

/* Every window fits its slot, and all of them lie in the hole between low RAM and the IOAPIC. */
START_TEST(virtio_windows)
{
	ck_assert_uint_ge(VIRTIO_MMIO_STRIDE, VIRTIO_MMIO_WINDOW);
	ck_assert_uint_eq(VIRTIO_MMIO_STRIDE % GMEM_PAGE_SIZE, 0);
	ck_assert_uint_ge(VIRTIO_MMIO_BASE, GMEM_LOW_LIMIT);
	ck_assert_uint_eq(VIRTIO_MMIO_END, VIRTIO_MMIO_BASE + 16 * VIRTIO_MMIO_STRIDE);
	ck_assert_uint_le(VIRTIO_MMIO_END, MPTABLE_IOAPIC_DEFAULT);
}
END_TEST

static Suite *firmware_suite(void)
{
	Suite *s = suite_create("firmware");
	TCase *tc = tcase_create("bios");
	TCase *layout = tcase_create("layout");

	tcase_add_test(tc, loads_and_places_at_the_top);
	tcase_add_test(tc, base_rounds_to_pages);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, empty_and_oversized_files);
	tcase_add_test(tc, directory);
	suite_add_tcase(s, tc);
	tcase_add_test(layout, virtio_lines);
	tcase_add_test(layout, virtio_windows);
	suite_add_tcase(s, layout);
	return s;
}

int main(void)
{
	return unit_run(firmware_suite());
}
