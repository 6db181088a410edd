// SPDX-License-Identifier: MIT
/* The CMOS RTC, driven through a port bus with a fake host clock. */
#include "config.h"

#include "devfix.h"
#include "devices/rtc.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

#define T_2026_11_23_040506 1795406706LL /* a Monday */
#define T_1999_12_31_235959 946684799LL
#define T_2000_02_29_120000 951825600LL /* a Tuesday */
#define NS 1000000000LL

static struct devfix fx;
static struct rtc rtc;
static int64_t host_secs;
static int64_t host_ns;

static int64_t fake_now(void *opaque)
{
	(void)opaque;
	return host_secs;
}

static int64_t fake_now_ns(void *opaque)
{
	(void)opaque;
	return host_ns;
}

static void setup(void)
{
	struct rtc_host host = { .now = fake_now };

	host_secs = T_2026_11_23_040506;
	devfix_init(&fx);
	ck_assert_int_eq(rtc_init(&rtc, &host), 0);
	ck_assert_int_eq(rtc_register(&rtc, fx.pio), 0);
}

static void teardown(void)
{
	devfix_fini(&fx);
	rtc_destroy(&rtc);
}

/* Re-initialises the device (same address, still on the bus) with a nanosecond clock. */
static void use_ns_clock(int64_t ns)
{
	struct rtc_host host = { .now_ns = fake_now_ns };

	host_ns = ns;
	rtc_destroy(&rtc);
	ck_assert_int_eq(rtc_init(&rtc, &host), 0);
}

static uint8_t cmos(uint8_t index)
{
	devfix_out8(&fx, 0x70, index);
	return devfix_in8(&fx, 0x71);
}

static void cmos_set(uint8_t index, uint8_t v)
{
	devfix_out8(&fx, 0x70, index);
	devfix_out8(&fx, 0x71, v);
}

/* Reads the time registers in the order Linux's mc146818_get_time does. */
static void read_time(uint8_t t[8])
{
	t[0] = cmos(RTC_SECONDS);
	t[1] = cmos(RTC_MINUTES);
	t[2] = cmos(RTC_HOURS);
	t[3] = cmos(RTC_DAY_OF_WEEK);
	t[4] = cmos(RTC_DAY_OF_MONTH);
	t[5] = cmos(RTC_MONTH);
	t[6] = cmos(RTC_YEAR);
	t[7] = cmos(RTC_CENTURY);
}

static void assert_time(uint8_t sec, uint8_t min, uint8_t hour, uint8_t wday, uint8_t mday,
			uint8_t mon, uint8_t year, uint8_t century)
{
	uint8_t t[8];

	read_time(t);
	ck_assert_uint_eq(t[0], sec);
	ck_assert_uint_eq(t[1], min);
	ck_assert_uint_eq(t[2], hour);
	ck_assert_uint_eq(t[3], wday);
	ck_assert_uint_eq(t[4], mday);
	ck_assert_uint_eq(t[5], mon);
	ck_assert_uint_eq(t[6], year);
	ck_assert_uint_eq(t[7], century);
}

START_TEST(power_on_state)
{
	ck_assert_uint_eq(cmos(RTC_REG_A), RTC_REG_A_DEFAULT);
	ck_assert_uint_eq(cmos(RTC_REG_B), RTC_B_24H);
	ck_assert_uint_eq(cmos(RTC_REG_C), 0);
	ck_assert_uint_eq(cmos(RTC_REG_D), RTC_D_VRT);
	ck_assert_uint_eq(devfix_in8(&fx, 0x70), 0xff); /* the index port is write-only */
	for (unsigned int i = 0x0e; i < RTC_RAM_SIZE; i++)
		if (i != RTC_CENTURY)
			ck_assert_uint_eq(cmos((uint8_t)i), 0);
	for (unsigned int i = RTC_SECONDS_ALARM; i <= RTC_HOURS_ALARM; i += 2)
		ck_assert_uint_eq(cmos((uint8_t)i), 0);
}
END_TEST

START_TEST(fixed_time_bcd_24h)
{
	/* 2026-11-23 04:05:06 UTC, a Monday (2). */
	assert_time(0x06, 0x05, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
}
END_TEST

START_TEST(fixed_time_binary_24h)
{
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_time(6, 5, 4, 2, 23, 11, 26, 20);
	host_secs += 19 * 3600 + 54 * 60 + 53; /* 23:59:59 */
	assert_time(59, 59, 23, 2, 23, 11, 26, 20);
}
END_TEST

START_TEST(twelve_hour_bcd)
{
	static const struct {
		int64_t hour;
		uint8_t reg;
	} t[] = {
		/* midnight is 12 AM, noon 12 PM */
		{ 0, 0x12 },  { 1, 0x01 },  { 4, 0x04 },  { 11, 0x11 },
		{ 12, 0x92 }, { 13, 0x81 }, { 22, 0x90 }, { 23, 0x91 },
	};
	int64_t midnight = T_2026_11_23_040506 - (4 * 3600 + 5 * 60 + 6);

	cmos_set(RTC_REG_B, 0); /* 12-hour, BCD */
	for (unsigned int i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		host_secs = midnight + t[i].hour * 3600;
		ck_assert_uint_eq(cmos(RTC_HOURS), t[i].reg);
	}
	/* The other fields do not change with the hour format. */
	host_secs = midnight + 13 * 3600 + 7 * 60 + 8;
	assert_time(0x08, 0x07, 0x81, 0x02, 0x23, 0x11, 0x26, 0x20);
}
END_TEST

START_TEST(twelve_hour_binary)
{
	int64_t midnight = T_2026_11_23_040506 - (4 * 3600 + 5 * 60 + 6);

	cmos_set(RTC_REG_B, RTC_B_DM_BINARY);
	host_secs = midnight;
	ck_assert_uint_eq(cmos(RTC_HOURS), 12); /* 12 AM */
	host_secs = midnight + 12 * 3600;
	ck_assert_uint_eq(cmos(RTC_HOURS), 0x80 | 12); /* 12 PM */
	host_secs = midnight + 13 * 3600;
	ck_assert_uint_eq(cmos(RTC_HOURS), 0x80 | 1);
	host_secs = midnight + 23 * 3600;
	ck_assert_uint_eq(cmos(RTC_HOURS), 0x80 | 11);
}
END_TEST

START_TEST(twelve_hour_writes)
{
	static const struct {
		uint8_t reg;
		uint8_t hour24;
	} t[] = { { 0x12, 0x00 }, { 0x01, 0x01 }, { 0x11, 0x11 },
		  { 0x92, 0x12 }, { 0x81, 0x13 }, { 0x91, 0x23 } };

	for (unsigned int i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cmos_set(RTC_REG_B, 0);
		cmos_set(RTC_HOURS, t[i].reg);
		ck_assert_uint_eq(cmos(RTC_HOURS), t[i].reg);
		cmos_set(RTC_REG_B, RTC_B_24H);
		ck_assert_uint_eq(cmos(RTC_HOURS), t[i].hour24);
	}
}
END_TEST

START_TEST(day_of_week)
{
	host_secs = 0; /* 1970-01-01, a Thursday */
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 5);
	host_secs = T_2000_02_29_120000;
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 3);
	ck_assert_uint_eq(cmos(RTC_DAY_OF_MONTH), 0x29);
	ck_assert_uint_eq(cmos(RTC_MONTH), 0x02);
	host_secs = T_2026_11_23_040506 - 5 * 3600; /* Sunday 2026-11-22 23:05:06 */
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 1);
	host_secs += 3600; /* Monday */
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 2);
	host_secs += 5 * 86400; /* Saturday */
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 7);

	/* A written day of week holds its shift across days and date writes. */
	cmos_set(RTC_DAY_OF_WEEK, 0x03);
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 3);
	host_secs += 86400;
	ck_assert_uint_eq(cmos(RTC_DAY_OF_WEEK), 4);
	cmos_set(RTC_DAY_OF_MONTH, 0x01); /* a date write leaves the shift */
	ck_assert_uint_eq(cmos(RTC_DAY_OF_MONTH), 0x01);
}
END_TEST

START_TEST(century_rollover)
{
	host_secs = T_1999_12_31_235959;
	assert_time(0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19);
	host_secs++;
	assert_time(0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20);
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_time(0, 0, 0, 7, 1, 1, 0, 20);
}
END_TEST

START_TEST(clock_advances_with_host)
{
	host_secs += 1;
	assert_time(0x07, 0x05, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
	host_secs += 60;
	assert_time(0x07, 0x06, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
	host_secs += 8 * 86400; /* into December */
	assert_time(0x07, 0x06, 0x04, 0x03, 0x01, 0x12, 0x26, 0x20);
}
END_TEST

/* The write sequence of Linux's mc146818_set_time, with the century register. */
static void linux_set_time(uint8_t yrs, uint8_t mon, uint8_t day, uint8_t hrs, uint8_t min,
			   uint8_t sec, uint8_t century)
{
	uint8_t save_control = cmos(RTC_REG_B), save_freq_select;

	cmos_set(RTC_REG_B, save_control | RTC_B_SET);
	save_freq_select = cmos(RTC_REG_A);
	cmos_set(RTC_REG_A, save_freq_select | 0x70); /* RTC_DIV_RESET2 */
	cmos_set(RTC_YEAR, yrs);
	cmos_set(RTC_MONTH, mon);
	cmos_set(RTC_DAY_OF_MONTH, day);
	cmos_set(RTC_HOURS, hrs);
	cmos_set(RTC_MINUTES, min);
	cmos_set(RTC_SECONDS, sec);
	cmos_set(RTC_CENTURY, century);
	cmos_set(RTC_REG_B, save_control);
	cmos_set(RTC_REG_A, save_freq_select);
}

START_TEST(guest_set_time_advances)
{
	linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x05, 0x20);
	/* 2030-01-02 was a Wednesday. */
	assert_time(0x05, 0x04, 0x03, 0x04, 0x02, 0x01, 0x30, 0x20);
	host_secs += 10;
	assert_time(0x15, 0x04, 0x03, 0x04, 0x02, 0x01, 0x30, 0x20);
	host_secs += 3600;
	assert_time(0x15, 0x04, 0x04, 0x04, 0x02, 0x01, 0x30, 0x20);
	ck_assert_uint_eq(cmos(RTC_REG_A), RTC_REG_A_DEFAULT);
	ck_assert_uint_eq(cmos(RTC_REG_B), RTC_B_24H);
}
END_TEST

START_TEST(guest_set_time_binary)
{
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	linux_set_time(99, 12, 31, 23, 59, 58, 19);
	assert_time(58, 59, 23, 6, 31, 12, 99, 19);
	host_secs += 2;
	assert_time(0, 0, 0, 7, 1, 1, 0, 20);
	cmos_set(RTC_REG_B, RTC_B_24H);
	assert_time(0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20);
}
END_TEST

START_TEST(write_while_running)
{
	/* Without SET, a write to one field moves the clock at once. */
	cmos_set(RTC_MINUTES, 0x30);
	assert_time(0x06, 0x30, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
	host_secs += 54;
	assert_time(0x00, 0x31, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
}
END_TEST

START_TEST(set_bit_holds_the_clock)
{
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE | RTC_B_PIE);
	/* SET clears UIE, as on the chip. */
	ck_assert_uint_eq(cmos(RTC_REG_B), RTC_B_24H | RTC_B_SET | RTC_B_PIE);
	host_secs += 100;
	assert_time(0x06, 0x05, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);
	/* Held fields take what is written, even a date that does not exist. */
	cmos_set(RTC_MONTH, 0x02);
	cmos_set(RTC_DAY_OF_MONTH, 0x31);
	ck_assert_uint_eq(cmos(RTC_DAY_OF_MONTH), 0x31);
	ck_assert_uint_eq(cmos(RTC_MONTH), 0x02);
	host_secs += 100;
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x06);
	/* Resuming normalises: 2026-02-31 is 2026-03-03 (a Tuesday). */
	cmos_set(RTC_REG_B, RTC_B_24H);
	assert_time(0x06, 0x05, 0x04, 0x03, 0x03, 0x03, 0x26, 0x20);
	host_secs += 1;
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x07);
}
END_TEST

START_TEST(divider_reset_holds_the_clock)
{
	cmos_set(RTC_REG_A, 0x66);
	host_secs += 30;
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x06);
	cmos_set(RTC_REG_A, 0x26);
	host_secs += 1;
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x07);
	/* Rate and divider bits are stored; UIP is not writable. */
	cmos_set(RTC_REG_A, 0xaf);
	ck_assert_uint_eq(cmos(RTC_REG_A), 0x2f);
}
END_TEST

START_TEST(reg_c_never_flags_and_read_clears)
{
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE | RTC_B_DSE);
	ck_assert_uint_eq(cmos(RTC_REG_B),
			  RTC_B_24H | RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE | RTC_B_DSE);
	cmos_set(RTC_SECONDS_ALARM, 0x07);
	cmos_set(RTC_MINUTES_ALARM, 0x05);
	cmos_set(RTC_HOURS_ALARM, 0x04);
	ck_assert_uint_eq(cmos(RTC_SECONDS_ALARM), 0x07);
	ck_assert_uint_eq(cmos(RTC_MINUTES_ALARM), 0x05);
	ck_assert_uint_eq(cmos(RTC_HOURS_ALARM), 0x04);
	/* Updates and the alarm time pass: no interrupts are modelled, so no flags. */
	host_secs += 2;
	ck_assert_uint_eq(cmos(RTC_REG_C), 0);
	ck_assert_uint_eq(cmos(RTC_REG_C), 0);
	cmos_set(RTC_REG_C, 0xff); /* read-only */
	ck_assert_uint_eq(cmos(RTC_REG_C), 0);
}
END_TEST

START_TEST(reg_d_valid_ram_and_time)
{
	ck_assert_uint_eq(cmos(RTC_REG_D), RTC_D_VRT);
	cmos_set(RTC_REG_D, 0x00);
	ck_assert_uint_eq(cmos(RTC_REG_D), RTC_D_VRT);
	ck_assert_uint_eq(cmos(RTC_REG_D), RTC_D_VRT);
}
END_TEST

START_TEST(ram_storage)
{
	for (unsigned int i = 0x0e; i < RTC_RAM_SIZE; i++)
		if (i != RTC_CENTURY)
			cmos_set((uint8_t)i, (uint8_t)(i ^ 0xa5));
	for (unsigned int i = 0x0e; i < RTC_RAM_SIZE; i++)
		if (i != RTC_CENTURY)
			ck_assert_uint_eq(cmos((uint8_t)i), i ^ 0xa5);
	/* The clock did not move. */
	assert_time(0x06, 0x05, 0x04, 0x02, 0x23, 0x11, 0x26, 0x20);

	ck_assert_int_eq(rtc_nvram_set(&rtc, 0x34, 0x12), 0);
	ck_assert_uint_eq(cmos(0x34), 0x12);
	ck_assert_int_eq(rtc_nvram_set(&rtc, RTC_SECONDS, 1), -EINVAL);
	ck_assert_int_eq(rtc_nvram_set(&rtc, RTC_REG_D, 1), -EINVAL);
	ck_assert_int_eq(rtc_nvram_set(&rtc, RTC_CENTURY, 1), -EINVAL);
	ck_assert_int_eq(rtc_nvram_set(&rtc, RTC_RAM_SIZE, 1), -EINVAL);
}
END_TEST

START_TEST(index_wraps_and_nmi_bit_ignored)
{
	cmos_set(0x0e, 0x11);
	cmos_set(0x7f, 0x22);
	/* Bit 7 is the NMI mask: it does not take part in the index. */
	ck_assert_uint_eq(cmos(0x80 | 0x0e), 0x11);
	ck_assert_uint_eq(cmos(0xff), 0x22);
	ck_assert_uint_eq(cmos(0x80 | RTC_SECONDS), 0x06);
	ck_assert_uint_eq(cmos(0x80 | RTC_REG_D), RTC_D_VRT);
	cmos_set(0x80 | 0x40, 0x33);
	ck_assert(rtc.nmi_disabled); /* kept */
	ck_assert_uint_eq(cmos(0x40), 0x33);
	ck_assert(!rtc.nmi_disabled);
	/* The selected index stays until the next index write. */
	ck_assert_uint_eq(devfix_in8(&fx, 0x71), 0x33);
	ck_assert_uint_eq(devfix_in8(&fx, 0x71), 0x33);
}
END_TEST

START_TEST(uip_before_each_second)
{
	int64_t t0 = T_2026_11_23_040506 * NS;

	use_ns_clock(t0 + NS / 2);
	ck_assert_uint_eq(cmos(RTC_REG_A), 0x26);
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x06);
	host_ns = t0 + NS - 244141; /* 244.14 us before the update */
	ck_assert_uint_eq(cmos(RTC_REG_A), 0x26);
	host_ns = t0 + NS - 244140;
	ck_assert_uint_eq(cmos(RTC_REG_A), RTC_A_UIP | 0x26);
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x06); /* still the old, valid second */
	host_ns = t0 + NS - 1;
	ck_assert_uint_eq(cmos(RTC_REG_A), RTC_A_UIP | 0x26);
	host_ns = t0 + NS;
	ck_assert_uint_eq(cmos(RTC_REG_A), 0x26);
	ck_assert_uint_eq(cmos(RTC_SECONDS), 0x07);

	/* No update happens while the clock is held, so no UIP either. */
	host_ns = t0 + NS - 1000;
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_SET);
	ck_assert_uint_eq(cmos(RTC_REG_A), 0x26);
	cmos_set(RTC_REG_B, RTC_B_24H);
	ck_assert_uint_eq(cmos(RTC_REG_A), RTC_A_UIP | 0x26);
}
END_TEST

/*
 * Linux 6.1's mc146818_avoid_UIP loop, one pass: seconds, UIP, seconds again,
 * the rest, UIP again, seconds again. Returns false when it would retry.
 */
static bool linux_get_time_pass(uint8_t t[8])
{
	uint8_t sec = cmos(RTC_SECONDS);

	if (cmos(RTC_REG_A) & RTC_A_UIP)
		return false;
	if (sec != cmos(RTC_SECONDS))
		return false;
	read_time(t);
	if (cmos(RTC_REG_A) & RTC_A_UIP)
		return false;
	return sec == cmos(RTC_SECONDS);
}

START_TEST(linux_get_time_meets_uip_once)
{
	int64_t t0 = T_2026_11_23_040506 * NS;
	uint8_t t[8];

	use_ns_clock(t0 + NS - 100000);
	ck_assert(!linux_get_time_pass(t));
	host_ns += 1000000; /* Linux's mdelay(1) */
	ck_assert(linux_get_time_pass(t));
	ck_assert_uint_eq(t[0], 0x07);
	ck_assert_uint_eq(t[2], 0x04);
}
END_TEST

START_TEST(needs_a_clock)
{
	struct rtc r;
	struct rtc_host none = { 0 };

	ck_assert_int_eq(rtc_init(&r, &none), -EINVAL);
	ck_assert_int_eq(rtc_register(&rtc, fx.pio), -EBUSY);
}
END_TEST

/* --- snapshots ------------------------------------------------------------------------ */

/* A second RTC, as a new process makes it: its own bus and its own host clock. */
static struct devfix fxb;
static struct rtc rtcb;
static int64_t host_ns_b;

static int64_t fake_now_ns_b(void *opaque)
{
	(void)opaque;
	return host_ns_b;
}

static void make_b(int64_t ns)
{
	struct rtc_host host = { .now_ns = fake_now_ns_b };

	host_ns_b = ns;
	devfix_init(&fxb);
	ck_assert_int_eq(rtc_init(&rtcb, &host), 0);
	ck_assert_int_eq(rtc_register(&rtcb, fxb.pio), 0);
}

static void drop_b(void)
{
	devfix_fini(&fxb);
	rtc_destroy(&rtcb);
}

static uint8_t cmos_b(uint8_t index)
{
	devfix_out8(&fxb, 0x70, index);
	return devfix_in8(&fxb, 0x71);
}

/* Every index reads the same on both (the index port is left at the last). */
static void assert_same_registers(void)
{
	for (unsigned int i = 0; i < RTC_RAM_SIZE; i++)
		ck_assert_msg(cmos((uint8_t)i) == cmos_b((uint8_t)i), "index %#x", i);
}

/*
 * The guest set 1999-12-31 23:59:50, in binary, with alarms, a rate, PIE
 * and AIE, its own day of week, CMOS RAM, and index 0x40 with NMIs off.
 */
static void busy_rtc(int64_t ns)
{
	use_ns_clock(ns);
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	linux_set_time(99, 12, 31, 23, 59, 50, 19);
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY | RTC_B_PIE | RTC_B_AIE | RTC_B_SQWE);
	cmos_set(RTC_REG_A, 0x2a);
	cmos_set(RTC_DAY_OF_WEEK, 2);
	cmos_set(RTC_SECONDS_ALARM, 30);
	cmos_set(RTC_MINUTES_ALARM, 15);
	cmos_set(RTC_HOURS_ALARM, 0xc0); /* "don't care" */
	cmos_set(0x7f, 0xcd);
	cmos_set(0x80 | 0x40, 0xab);
}

START_TEST(snapshot_moves_the_clock_on_with_the_host)
{
	int64_t t0 = T_2026_11_23_040506 * NS + NS / 2;
	struct rtc_state st, st2;

	busy_rtc(t0);
	host_ns += 3 * NS;
	rtc_save(&rtc, &st);
	/* Restored an hour later by the host's clock. */
	make_b(host_ns + 3600 * NS);
	ck_assert_int_eq(rtc_restore(&rtcb, &st), 0);
	rtc_save(&rtcb, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));
	/* The index and the NMI bit are as the guest left them. */
	ck_assert(rtcb.nmi_disabled);
	ck_assert_uint_eq(devfix_in8(&fxb, 0x71), 0xab);
	/* 23:59:53 and an hour: into 2000, and the shifted day of week moves on with it. */
	ck_assert_uint_eq(cmos_b(RTC_SECONDS), 53);
	ck_assert_uint_eq(cmos_b(RTC_MINUTES), 59);
	ck_assert_uint_eq(cmos_b(RTC_HOURS), 0);
	ck_assert_uint_eq(cmos_b(RTC_DAY_OF_MONTH), 1);
	ck_assert_uint_eq(cmos_b(RTC_MONTH), 1);
	ck_assert_uint_eq(cmos_b(RTC_YEAR), 0);
	ck_assert_uint_eq(cmos_b(RTC_CENTURY), 20);
	ck_assert_uint_eq(cmos_b(RTC_DAY_OF_WEEK), 3);
	/* The first RTC, an hour on too, reads the same everywhere. */
	host_ns += 3600 * NS;
	assert_same_registers();
	/* UIP comes with the new host's seconds, as before. */
	host_ns_b = host_ns = (host_ns / NS + 1) * NS - 1000;
	ck_assert_uint_eq(cmos_b(RTC_REG_A), RTC_A_UIP | 0x2a);
	assert_same_registers();
	/* And the guest goes on alike on both. */
	cmos_set(RTC_MINUTES, 7);
	devfix_out8(&fxb, 0x70, RTC_MINUTES);
	devfix_out8(&fxb, 0x71, 7);
	host_ns += 100 * NS;
	host_ns_b += 100 * NS;
	assert_same_registers();
	drop_b();
}
END_TEST

/* A clock the guest holds (SET) stays at its held fields, whatever the new host's time. */
START_TEST(snapshot_keeps_a_held_clock)
{
	int64_t t0 = T_2026_11_23_040506 * NS + NS / 4;
	struct rtc_state st, st2;

	use_ns_clock(t0);
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_SET);
	cmos_set(RTC_MONTH, 0x02);
	cmos_set(RTC_DAY_OF_MONTH, 0x31); /* kept as written until the clock runs */
	rtc_save(&rtc, &st);
	ck_assert_uint_eq(st.held, 1);
	make_b(t0 + 86400 * NS * 400);
	ck_assert_int_eq(rtc_restore(&rtcb, &st), 0);
	rtc_save(&rtcb, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));
	ck_assert_uint_eq(cmos_b(RTC_DAY_OF_MONTH), 0x31);
	ck_assert_uint_eq(cmos_b(RTC_MONTH), 0x02);
	ck_assert_uint_eq(cmos_b(RTC_SECONDS), 0x06);
	assert_same_registers();
	/* Released, both run on from 2026-03-03 04:05:06 by their own clocks. */
	cmos_set(RTC_REG_B, RTC_B_24H);
	devfix_out8(&fxb, 0x70, RTC_REG_B);
	devfix_out8(&fxb, 0x71, RTC_B_24H);
	host_ns += 5 * NS;
	host_ns_b += 5 * NS;
	ck_assert_uint_eq(cmos_b(RTC_SECONDS), 0x11);
	ck_assert_uint_eq(cmos_b(RTC_DAY_OF_MONTH), 0x03);
	assert_same_registers();
	drop_b();
}
END_TEST

/* Each spoils one field of a good running state (see busy_rtc()). */
static void bad_index(struct rtc_state *st)
{
	st->index = RTC_RAM_SIZE;
}

static void bad_nmi(struct rtc_state *st)
{
	st->nmi_disabled = 2;
}

static void bad_wday_shift(struct rtc_state *st)
{
	st->wday_shift = 7;
}

static void stored_uip(struct rtc_state *st)
{
	st->reg_a |= RTC_A_UIP;
}

static void set_with_uie(struct rtc_state *st)
{
	st->reg_b |= RTC_B_SET | RTC_B_UIE;
	st->held = 1;
}

static void far_offset(struct rtc_state *st)
{
	st->offset = (1LL << 56) + 1;
}

static void far_negative_offset(struct rtc_state *st)
{
	st->offset = INT64_MIN;
}

static void held_while_running(struct rtc_state *st)
{
	st->held = 1;
}

static void running_while_set(struct rtc_state *st)
{
	st->reg_b |= RTC_B_SET;
}

static void running_in_divider_reset(struct rtc_state *st)
{
	st->reg_a = 0x62;
}

static void bad_held(struct rtc_state *st)
{
	st->held = 2;
}

static void stale_hold(struct rtc_state *st)
{
	st->hold_mday = 3;
}

static void far_hold_year(struct rtc_state *st)
{
	st->reg_b |= RTC_B_SET;
	st->held = 1;
	st->hold_year = (1LL << 31) + 1;
}

static void far_negative_hold_year(struct rtc_state *st)
{
	st->reg_b |= RTC_B_SET;
	st->held = 1;
	st->hold_year = INT64_MIN;
}

static void ram_in_seconds_slot(struct rtc_state *st)
{
	st->ram[RTC_SECONDS] = 1;
}

static void ram_in_reg_d_slot(struct rtc_state *st)
{
	st->ram[RTC_REG_D] = 0x80;
}

static void ram_in_century_slot(struct rtc_state *st)
{
	st->ram[RTC_CENTURY] = 0x20;
}

static void bad_pad(struct rtc_state *st)
{
	st->pad[4] = 1;
}

START_TEST(snapshot_refuses_corrupt_state)
{
	static void (*const corrupt[])(struct rtc_state *) = {
		bad_index,
		bad_nmi,
		bad_wday_shift,
		stored_uip,
		set_with_uie,
		far_offset,
		far_negative_offset,
		held_while_running,
		running_while_set,
		running_in_divider_reset,
		bad_held,
		stale_hold,
		far_hold_year,
		far_negative_hold_year,
		ram_in_seconds_slot,
		ram_in_reg_d_slot,
		ram_in_century_slot,
		bad_pad,
	};
	int64_t t0 = T_2026_11_23_040506 * NS;
	struct rtc_state good, st;
	struct rtc before;

	busy_rtc(t0);
	rtc_save(&rtc, &good);
	make_b(t0 + 7 * NS);
	devfix_out8(&fxb, 0x70, 0x50);
	devfix_out8(&fxb, 0x71, 0x99);
	devfix_out8(&fxb, 0x70, RTC_MINUTES);
	devfix_out8(&fxb, 0x71, 0x42);
	for (unsigned int i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		st = good;
		corrupt[i](&st);
		before = rtcb;
		ck_assert_msg(rtc_restore(&rtcb, &st) == -EINVAL, "corruption %u accepted", i);
		/* Unchanged, the lock aside (its bytes may move while taken and given back). */
		memcpy(&before.lock, &rtcb.lock, sizeof(before.lock));
		ck_assert_msg(memcmp(&before, &rtcb, sizeof(before)) == 0, "corruption %u", i);
	}
	ck_assert_uint_eq(cmos_b(RTC_MINUTES), 0x42);
	ck_assert_uint_eq(cmos_b(0x50), 0x99);
	/* The bounds themselves are fine: a hold 2^31 years out, an offset of 2^56 s. */
	st = good;
	st.reg_b |= RTC_B_SET;
	st.held = 1;
	st.hold_year = -(1LL << 31);
	st.hold_mon = 255;
	st.hold_mday = 255;
	ck_assert_int_eq(rtc_restore(&rtcb, &st), 0);
	st = good;
	st.offset = -(1LL << 56);
	ck_assert_int_eq(rtc_restore(&rtcb, &st), 0);
	ck_assert_int_eq(rtc_restore(&rtcb, &good), 0);
	ck_assert_uint_eq(cmos_b(0x50), 0);
	drop_b();
}
END_TEST

static Suite *rtc_suite(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("rtc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, power_on_state);
	tcase_add_test(tc, fixed_time_bcd_24h);
	tcase_add_test(tc, fixed_time_binary_24h);
	tcase_add_test(tc, twelve_hour_bcd);
	tcase_add_test(tc, twelve_hour_binary);
	tcase_add_test(tc, twelve_hour_writes);
	tcase_add_test(tc, day_of_week);
	tcase_add_test(tc, century_rollover);
	tcase_add_test(tc, clock_advances_with_host);
	tcase_add_test(tc, guest_set_time_advances);
	tcase_add_test(tc, guest_set_time_binary);
	tcase_add_test(tc, write_while_running);
	tcase_add_test(tc, set_bit_holds_the_clock);
	tcase_add_test(tc, divider_reset_holds_the_clock);
	tcase_add_test(tc, reg_c_never_flags_and_read_clears);
	tcase_add_test(tc, reg_d_valid_ram_and_time);
	tcase_add_test(tc, ram_storage);
	tcase_add_test(tc, index_wraps_and_nmi_bit_ignored);
	tcase_add_test(tc, uip_before_each_second);
	tcase_add_test(tc, linux_get_time_meets_uip_once);
	tcase_add_test(tc, needs_a_clock);
	tcase_add_test(tc, snapshot_moves_the_clock_on_with_the_host);
	tcase_add_test(tc, snapshot_keeps_a_held_clock);
	tcase_add_test(tc, snapshot_refuses_corrupt_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(rtc_suite());
}
