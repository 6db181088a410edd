// SPDX-License-Identifier: MIT
/* isa-debug-exit and the debug console, driven through a port bus. */
#include "config.h"

#include "core/bus.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static struct bus *pio;

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
	ck_assert_int_eq(bus_create(&pio, "pio", 0x10000), 0);
}

static void teardown(void)
{
	bus_destroy(pio);
}

START_TEST(debug_exit_codes)
{
	struct exits e = { 0 };
	struct debug_exit dev = { .request_exit = record_exit, .opaque = &e };
	uint8_t v8 = 0x31;
	uint16_t v16 = 0x0100;
	uint32_t v32 = 0x12345678;

	ck_assert_int_eq(debug_exit_register(&dev, pio, 0xf4, 4), 0);
	bus_write(pio, 0xf4, &v8, 1);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.code[0], 99); /* (0x31 << 1) | 1 */
	v8 = 0;
	bus_write(pio, 0xf7, &v8, 1); /* anywhere in the window */
	ck_assert_int_eq(e.code[1], 1);
	bus_write(pio, 0xf4, &v16, 2);
	ck_assert_int_eq(e.code[2], 1); /* only the low 8 bits of the status survive */
	bus_write(pio, 0xf4, &v32, 4);
	ck_assert_int_eq(e.code[3], 0xf1);
	ck_assert_uint_eq(e.n, 4);
}
END_TEST

START_TEST(debug_exit_ignores_reads_and_neighbours)
{
	struct exits e = { 0 };
	struct debug_exit dev = { .request_exit = record_exit, .opaque = &e };
	uint8_t v = 1;

	ck_assert_int_eq(debug_exit_register(&dev, pio, 0x501, 2), 0);
	bus_read(pio, 0x501, &v, 1);
	ck_assert_uint_eq(v, 0xff);
	bus_write(pio, 0x500, &v, 1);
	bus_write(pio, 0x503, &v, 1);
	ck_assert_uint_eq(e.n, 0);
}
END_TEST

START_TEST(debugcon_bytes_and_readback)
{
	struct sink s = { 0 };
	struct debugcon dev = { .out = record_out, .opaque = &s };
	uint8_t b;
	uint16_t w = 0x4241; /* "AB": only the byte at 0xe9 is the console's */

	ck_assert_int_eq(debugcon_register(&dev, pio, DEBUGCON_DEFAULT_IOBASE), 0);
	for (const char *p = "hi\n"; *p; p++)
		bus_write(pio, 0xe9, p, 1);
	bus_write(pio, 0xe9, &w, 2);
	ck_assert_uint_eq(s.len, 4);
	ck_assert_mem_eq(s.buf, "hi\nA", 4);
	bus_read(pio, 0xe9, &b, 1);
	ck_assert_uint_eq(b, 0xe9);
}
END_TEST

START_TEST(devices_cannot_share_ports)
{
	struct sink s = { 0 };
	struct exits e = { 0 };
	struct debugcon con = { .out = record_out, .opaque = &s };
	struct debug_exit dex = { .request_exit = record_exit, .opaque = &e };

	ck_assert_int_eq(debugcon_register(&con, pio, 0xe9), 0);
	ck_assert_int_eq(debug_exit_register(&dex, pio, 0xe8, 2), -EBUSY);
	ck_assert_int_eq(debug_exit_register(&dex, pio, 0xea, 2), 0);
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
