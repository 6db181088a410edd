// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/exit.h"
#include "devfix.h"
#include "unit.h"

#include <linux/kvm.h>
#include <string.h>

#define RUN_SIZE 8192

/* A synthetic kvm_run mapping, as KVM_RUN would leave it. */
static union {
	struct kvm_run run;
	uint8_t bytes[RUN_SIZE];
} page;

static struct devfix fx;

struct rec {
	unsigned int n;
	uint64_t addr[64];
	uint64_t val[64];
	unsigned int size[64];
	uint64_t next_read;
};

static struct rec prec, mrec;

static uint64_t rd(void *opaque, uint64_t off, unsigned int size)
{
	struct rec *r = opaque;

	r->addr[r->n] = off;
	r->size[r->n] = size;
	r->n++;
	return r->next_read++;
}

static void wr(void *opaque, uint64_t off, uint64_t val, unsigned int size)
{
	struct rec *r = opaque;

	r->addr[r->n] = off;
	r->val[r->n] = val;
	r->size[r->n] = size;
	r->n++;
}

static const struct bus_ops ops = { .read = rd, .write = wr };

static void setup(void)
{
	memset(&page, 0, sizeof(page));
	memset(&prec, 0, sizeof(prec));
	memset(&mrec, 0, sizeof(mrec));
	devfix_init(&fx);
	ck_assert_int_eq(bus_register(fx.pio, 0x10, 4, &ops, &prec, "p"), 0);
	ck_assert_int_eq(bus_register(fx.mmio, 0xd0000000, 0x100, &ops, &mrec, "m"), 0);
}

static void teardown(void)
{
	devfix_fini(&fx);
}

static enum exit_action dispatch(char *why, size_t len)
{
	return exit_dispatch(&page.run, RUN_SIZE, fx.pio, fx.mmio, why, len);
}

START_TEST(string_out_delivers_every_element)
{
	page.run.exit_reason = KVM_EXIT_IO;
	page.run.io.direction = KVM_EXIT_IO_OUT;
	page.run.io.size = 1;
	page.run.io.port = 0x10;
	page.run.io.count = 5;
	page.run.io.data_offset = 0x1000;
	memcpy(page.bytes + 0x1000, "hello", 5);
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	ck_assert_uint_eq(prec.n, 5);
	for (unsigned int i = 0; i < 5; i++) {
		ck_assert_uint_eq(prec.addr[i], 0);
		ck_assert_uint_eq(prec.val[i], (uint8_t) "hello"[i]);
	}
}
END_TEST

START_TEST(string_in_fills_every_element)
{
	uint16_t got[3];

	prec.next_read = 0x100;
	page.run.exit_reason = KVM_EXIT_IO;
	page.run.io.direction = KVM_EXIT_IO_IN;
	page.run.io.size = 2;
	page.run.io.port = 0x12;
	page.run.io.count = 3;
	page.run.io.data_offset = 0x1000;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	memcpy(got, page.bytes + 0x1000, sizeof(got));
	ck_assert_uint_eq(prec.n, 3);
	ck_assert_uint_eq(prec.addr[0], 2);
	ck_assert_uint_eq(prec.size[0], 2);
	ck_assert_uint_eq(got[0], 0x100);
	ck_assert_uint_eq(got[2], 0x102);
}
END_TEST

START_TEST(malformed_io_exits_fail)
{
	char why[128];

	page.run.exit_reason = KVM_EXIT_IO;
	page.run.io.direction = KVM_EXIT_IO_OUT;
	page.run.io.size = 4;
	page.run.io.port = 0x10;
	page.run.io.count = 1;
	page.run.io.data_offset = RUN_SIZE - 2; /* data would run past the mapping */
	ck_assert_int_eq(dispatch(why, sizeof(why)), EXIT_ACTION_FAIL);
	ck_assert_ptr_nonnull(strstr(why, "malformed I/O exit"));
	page.run.io.data_offset = 0x1000;
	page.run.io.count = 0xffffffff;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);
	page.run.io.count = 1;
	page.run.io.size = 3;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);
	page.run.io.size = 1;
	page.run.io.count = 0;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);
	ck_assert_uint_eq(prec.n, 0);
}
END_TEST

START_TEST(mmio_read_and_write)
{
	page.run.exit_reason = KVM_EXIT_MMIO;
	page.run.mmio.phys_addr = 0xd0000010;
	page.run.mmio.len = 4;
	page.run.mmio.is_write = 1;
	memcpy(page.run.mmio.data, "\x78\x56\x34\x12", 4);
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	ck_assert_uint_eq(mrec.n, 1);
	ck_assert_uint_eq(mrec.addr[0], 0x10);
	ck_assert_uint_eq(mrec.val[0], 0x12345678);

	mrec.next_read = 0x0102030405060708ULL;
	page.run.mmio.is_write = 0;
	page.run.mmio.len = 8;
	page.run.mmio.phys_addr = 0xd0000020;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	ck_assert_uint_eq(page.run.mmio.data[0], 0x08);
	ck_assert_uint_eq(page.run.mmio.data[7], 0x01);

	/* Nobody at this address: all-ones. */
	page.run.mmio.phys_addr = 0xe0000000;
	page.run.mmio.len = 2;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	ck_assert_uint_eq(page.run.mmio.data[0], 0xff);
	ck_assert_uint_eq(page.run.mmio.data[1], 0xff);
}
END_TEST

START_TEST(malformed_mmio_exits_fail)
{
	page.run.exit_reason = KVM_EXIT_MMIO;
	page.run.mmio.phys_addr = 0xd0000000;
	page.run.mmio.len = 0;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);
	page.run.mmio.len = 9;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);
	ck_assert_uint_eq(mrec.n, 0);
}
END_TEST

START_TEST(other_exits)
{
	char why[160];

	page.run.exit_reason = KVM_EXIT_HLT;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_HALT);
	page.run.exit_reason = KVM_EXIT_SHUTDOWN;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_TRIPLE_FAULT);
	page.run.exit_reason = KVM_EXIT_INTR;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_CONTINUE);
	page.run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
	page.run.system_event.type = KVM_SYSTEM_EVENT_RESET;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_RESET);
	page.run.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_POWEROFF);
	page.run.system_event.type = KVM_SYSTEM_EVENT_CRASH;
	ck_assert_int_eq(dispatch(NULL, 0), EXIT_ACTION_FAIL);

	page.run.exit_reason = KVM_EXIT_FAIL_ENTRY;
	page.run.fail_entry.hardware_entry_failure_reason = 0x21;
	ck_assert_int_eq(dispatch(why, sizeof(why)), EXIT_ACTION_FAIL);
	ck_assert_ptr_nonnull(strstr(why, "0x21"));
	page.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	page.run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	ck_assert_int_eq(dispatch(why, sizeof(why)), EXIT_ACTION_FAIL);
	ck_assert_ptr_nonnull(strstr(why, "internal error"));
	page.run.exit_reason = 9999;
	ck_assert_int_eq(dispatch(why, sizeof(why)), EXIT_ACTION_FAIL);
	ck_assert_ptr_nonnull(strstr(why, "9999"));
	ck_assert_str_eq(exit_reason_name(KVM_EXIT_MMIO), "MMIO");
	ck_assert_str_eq(exit_reason_name(9999), "unrecognised");
}
END_TEST

static Suite *exit_suite(void)
{
	Suite *s = suite_create("exit");
	TCase *tc = tcase_create("exit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, string_out_delivers_every_element);
	tcase_add_test(tc, string_in_fills_every_element);
	tcase_add_test(tc, malformed_io_exits_fail);
	tcase_add_test(tc, mmio_read_and_write);
	tcase_add_test(tc, malformed_mmio_exits_fail);
	tcase_add_test(tc, other_exits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(exit_suite());
}
