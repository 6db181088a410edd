// SPDX-License-Identifier: MIT
/* isa-debug-exit and the debug console, driven through a port bus. */
#include "config.h"

#include "devfix.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static struct devfix fx;

struct exits {
	unsigned int n;
	int code[8];
};

static void record_exit(void *opaque, int code)
{
	struct exits *e = opaque;

	e->code[e->n++] = code;
}

struct sink {
	size_t len;
	uint8_t buf[64];
};

static void record_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;

	memcpy(s->buf + s->len, buf, len);
	s->len += len;
}

static void setup(void)
{
	devfix_init(&fx);
}

static void teardown(void)
{
	devfix_fini(&fx);
}

START_TEST(debug_exit_codes)
{
	struct exits e = { 0 };
	struct debug_exit dev = { .request_exit = record_exit, .opaque = &e };

	ck_assert_int_eq(debug_exit_register(&dev, fx.pio, 0xf4, 4), 0);
	devfix_out8(&fx, 0xf4, 0x31);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.code[0], 99); /* (0x31 << 1) | 1 */
	devfix_out8(&fx, 0xf7, 0);	 /* anywhere in the window */
	ck_assert_int_eq(e.code[1], 1);
	devfix_out16(&fx, 0xf4, 0x0100);
	ck_assert_int_eq(e.code[2], 1); /* only the low 8 bits of the status survive */
	devfix_out32(&fx, 0xf4, 0x12345678);
	ck_assert_int_eq(e.code[3], 0xf1);
	ck_assert_uint_eq(e.n, 4);
}
END_TEST

START_TEST(debug_exit_ignores_reads_and_neighbours)
{
	struct exits e = { 0 };
	struct debug_exit dev = { .request_exit = record_exit, .opaque = &e };

	ck_assert_int_eq(debug_exit_register(&dev, fx.pio, 0x501, 2), 0);
	ck_assert_uint_eq(devfix_in8(&fx, 0x501), 0xff);
	devfix_out8(&fx, 0x500, 0xff);
	devfix_out8(&fx, 0x503, 0xff);
	ck_assert_uint_eq(e.n, 0);
}
END_TEST

START_TEST(debugcon_bytes_and_readback)
{
	struct sink s = { 0 };
	struct debugcon dev = { .out = record_out, .opaque = &s };

	ck_assert_int_eq(debugcon_register(&dev, fx.pio, DEBUGCON_DEFAULT_IOBASE), 0);
	for (const char *p = "hi\n"; *p; p++)
		devfix_out8(&fx, 0xe9, (uint8_t)*p);
	devfix_out16(&fx, 0xe9, 0x4241); /* "AB": only the byte at 0xe9 is the console's */
	ck_assert_uint_eq(s.len, 4);
	ck_assert_mem_eq(s.buf, "hi\nA", 4);
	ck_assert_uint_eq(devfix_in8(&fx, 0xe9), 0xe9);
}
END_TEST

START_TEST(devices_cannot_share_ports)
{
	struct sink s = { 0 };
	struct exits e = { 0 };
	struct debugcon con = { .out = record_out, .opaque = &s };
	struct debug_exit dex = { .request_exit = record_exit, .opaque = &e };

	ck_assert_int_eq(debugcon_register(&con, fx.pio, 0xe9), 0);
	ck_assert_int_eq(debug_exit_register(&dex, fx.pio, 0xe8, 2), -EBUSY);
	ck_assert_int_eq(debug_exit_register(&dex, fx.pio, 0xea, 2), 0);
}
END_TEST

static Suite *devices_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("devices");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, debug_exit_codes);
	tcase_add_test(tc, debug_exit_ignores_reads_and_neighbours);
	tcase_add_test(tc, debugcon_bytes_and_readback);
	tcase_add_test(tc, devices_cannot_share_ports);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(devices_suite());
}
