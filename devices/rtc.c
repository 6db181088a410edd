// SPDX-License-Identifier: MIT
#include "config.h"

#include "rtc.h"
#include "core/bus.h"

#include <errno.h>
#include <string.h>

#define NS_PER_SEC 1000000000LL
#define SECS_PER_DAY 86400LL
/* UIP rises 8 cycles of the 32.768 kHz time base before the update. */
#define UIP_WINDOW_NS (8 * NS_PER_SEC / 32768)
/* Days from 0000-03-01 (proleptic Gregorian) to 1970-01-01. */
#define DAYS_0000_03_01_TO_EPOCH 719468LL
#define DAYS_PER_400_YEARS 146097LL

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from
 * March (month 0 below) so that the leap day falls at the end of the year;
 * an era is 400 years, after which the calendar repeats.
 */
static int64_t days_from_date(int64_t year, int mon, int mday)
{
	int64_t y = mon <= 2 ? year - 1 : year;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t mp = mon <= 2 ? mon + 9 : mon - 3;
	int64_t doy = (153 * mp + 2) / 5 + mday - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * DAYS_PER_400_YEARS + doe - DAYS_0000_03_01_TO_EPOCH;
}

static void date_from_days(int64_t days, struct rtc_tm *tm)
{
	int64_t z = days + DAYS_0000_03_01_TO_EPOCH;
	int64_t era = floor_div(z, DAYS_PER_400_YEARS);
	int64_t doe = z - era * DAYS_PER_400_YEARS;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (yoe * 365 + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	tm->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = yoe + era * 400 + (tm->mon <= 2);
}

static void tm_from_secs(int64_t t, struct rtc_tm *tm)
{
	int64_t days = floor_div(t, SECS_PER_DAY), rem = floor_mod(t, SECS_PER_DAY);

	date_from_days(days, tm);
	tm->hour = (int)(rem / 3600);
	tm->min = (int)(rem / 60 % 60);
	tm->sec = (int)(rem % 60);
}

/* Out-of-range fields (a guest may write anything) carry into the next field up. */
static int64_t secs_from_tm(const struct rtc_tm *tm)
{
	int64_t year = tm->year + floor_div(tm->mon - 1, 12);
	int mon = (int)floor_mod(tm->mon - 1, 12) + 1;
	int64_t days = days_from_date(year, mon, 1) + tm->mday - 1;

	return days * SECS_PER_DAY + tm->hour * 3600LL + tm->min * 60LL + tm->sec;
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(const struct rtc_tm *tm)
{
	return (int)floor_mod(floor_div(secs_from_tm(tm), SECS_PER_DAY) + 4, 7);
}

/* The host clock: whole seconds and, with now_ns, nanoseconds into the second (else -1). */
static int64_t host_now(const struct rtc *r, int64_t *subsec)
{
	int64_t ns;

	if (!r->host.now_ns) {
		*subsec = -1;
		return r->host.now(r->host.clock_opaque);
	}
	ns = r->host.now_ns(r->host.clock_opaque);
	*subsec = floor_mod(ns, NS_PER_SEC);
	return floor_div(ns, NS_PER_SEC);
}

/* Runs unless SET holds it or the divider is in reset (DV above 010). */
static bool should_hold(const struct rtc *r)
{
	return (r->reg_b & RTC_B_SET) || (r->reg_a & RTC_A_DV_MASK) > 0x20;
}

static void current_tm(const struct rtc *r, struct rtc_tm *tm)
{
	int64_t subsec;

	if (r->held)
		*tm = r->hold;
	else
		tm_from_secs(host_now(r, &subsec) + r->offset, tm);
}

static void set_tm(struct rtc *r, const struct rtc_tm *tm)
{
	int64_t subsec;

	if (r->held)
		r->hold = *tm;
	else
		r->offset = secs_from_tm(tm) - host_now(r, &subsec);
}

/* After A or B changed: a hold starts from the current time, and running resumes from the hold. */
static void update_hold(struct rtc *r, bool was_held)
{
	bool hold = should_hold(r);
	int64_t subsec;

	if (hold && !was_held) {
		current_tm(r, &r->hold);
		r->held = true;
	} else if (!hold && was_held) {
		r->held = false;
		r->offset = secs_from_tm(&r->hold) - host_now(r, &subsec);
	}
}

static bool binary_mode(const struct rtc *r)
{
	return r->reg_b & RTC_B_DM_BINARY;
}

static uint8_t encode(const struct rtc *r, int64_t v)
{
	if (binary_mode(r))
		return (uint8_t)v;
	v = floor_mod(v, 100);
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* Invalid BCD digits decode to what the digit weights give; the hold normalises them. */
static int decode(const struct rtc *r, uint8_t v)
{
	return binary_mode(r) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode_hours(const struct rtc *r, int hour)
{
	int h12 = hour % 12 ? hour % 12 : 12;

	if (r->reg_b & RTC_B_24H)
		return encode(r, hour);
	return encode(r, h12) | (hour >= 12 ? 0x80 : 0);
}

static int decode_hours(const struct rtc *r, uint8_t v)
{
	if (r->reg_b & RTC_B_24H)
		return decode(r, v);
	/* 12 AM is midnight, 12 PM noon. */
	return decode(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static bool is_time_reg(unsigned int idx)
{
	switch (idx) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t read_time(const struct rtc *r, unsigned int idx)
{
	struct rtc_tm tm;

	current_tm(r, &tm);
	switch (idx) {
	case RTC_SECONDS:
		return encode(r, tm.sec);
	case RTC_MINUTES:
		return encode(r, tm.min);
	case RTC_HOURS:
		return encode_hours(r, tm.hour);
	case RTC_DAY_OF_WEEK:
		return encode(r, (weekday(&tm) + r->wday_shift) % 7 + 1);
	case RTC_DAY_OF_MONTH:
		return encode(r, tm.mday);
	case RTC_MONTH:
		return encode(r, tm.mon);
	case RTC_YEAR:
		return encode(r, floor_mod(tm.year, 100));
	default: /* RTC_CENTURY */
		return encode(r, floor_div(tm.year, 100));
	}
}

static uint8_t read_reg(const struct rtc *r, unsigned int idx)
{
	int64_t subsec;
	uint8_t v;

	if (is_time_reg(idx))
		return read_time(r, idx);
	switch (idx) {
	case RTC_REG_A:
		v = r->reg_a;
		if (!r->held) {
			host_now(r, &subsec);
			if (subsec >= NS_PER_SEC - UIP_WINDOW_NS)
				v |= RTC_A_UIP;
		}
		return v;
	case RTC_REG_B:
		return r->reg_b;
	case RTC_REG_C:
		/* No interrupt source is modelled: no flag is ever set. */
		return 0;
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return r->ram[idx];
	}
}

static void write_time(struct rtc *r, unsigned int idx, uint8_t value)
{
	struct rtc_tm tm;

	current_tm(r, &tm);
	switch (idx) {
	case RTC_SECONDS:
		tm.sec = decode(r, value);
		break;
	case RTC_MINUTES:
		tm.min = decode(r, value);
		break;
	case RTC_HOURS:
		tm.hour = decode_hours(r, value);
		break;
	case RTC_DAY_OF_WEEK:
		/* Shift the computed day so it reads back as written (1 = Sunday). */
		r->wday_shift = (int)floor_mod(decode(r, value) - 1 - weekday(&tm), 7);
		return;
	case RTC_DAY_OF_MONTH:
		tm.mday = decode(r, value);
		break;
	case RTC_MONTH:
		tm.mon = decode(r, value);
		break;
	case RTC_YEAR:
		tm.year = floor_div(tm.year, 100) * 100 + decode(r, value);
		break;
	case RTC_CENTURY:
		tm.year = decode(r, value) * 100LL + floor_mod(tm.year, 100);
		break;
	}
	set_tm(r, &tm);
}

static void write_reg(struct rtc *r, unsigned int idx, uint8_t value)
{
	bool was_held = r->held;

	if (is_time_reg(idx)) {
		write_time(r, idx, value);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		r->reg_a = value & (uint8_t)~RTC_A_UIP; /* UIP is read-only */
		update_hold(r, was_held);
		break;
	case RTC_REG_B:
		/* The chip clears UIE while SET is set. */
		if (value & RTC_B_SET)
			value &= (uint8_t)~RTC_B_UIE;
		r->reg_b = value;
		update_hold(r, was_held);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		r->ram[idx] = value;
		break;
	}
}

int rtc_init(struct rtc *r, const struct rtc_host *host)
{
	if (!host->now_ns && !host->now)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->host = *host;
	r->reg_a = RTC_REG_A_DEFAULT;
	r->reg_b = RTC_REG_B_DEFAULT;
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

uint8_t rtc_read(struct rtc *r, unsigned int offset)
{
	uint8_t v = 0xff; /* the index port is write-only */

	pthread_mutex_lock(&r->lock);
	if (offset == RTC_PORT_DATA)
		v = read_reg(r, r->index);
	pthread_mutex_unlock(&r->lock);
	return v;
}

void rtc_write(struct rtc *r, unsigned int offset, uint8_t value)
{
	pthread_mutex_lock(&r->lock);
	if (offset == RTC_PORT_INDEX) {
		r->nmi_disabled = value & RTC_INDEX_NMI_DISABLE;
		r->index = value & (RTC_RAM_SIZE - 1);
	} else {
		write_reg(r, r->index, value);
	}
	pthread_mutex_unlock(&r->lock);
}

int rtc_nvram_set(struct rtc *r, unsigned int index, uint8_t value)
{
	if (index >= RTC_RAM_SIZE || index <= RTC_REG_D || index == RTC_CENTURY)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	r->ram[index] = value;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Bounds past anything a guest reaches, short of overflow in the date arithmetic. */
#define STATE_MAX_OFFSET (1LL << 56)
#define STATE_MAX_YEAR (1LL << 31)

/* The RAM slots the clock, status and century registers take: never written. */
static bool ram_slot_unused(unsigned int idx)
{
	return is_time_reg(idx) || (idx >= RTC_REG_A && idx <= RTC_REG_D);
}

void rtc_save(struct rtc *r, struct rtc_state *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	memcpy(out->ram, r->ram, sizeof(out->ram));
	out->offset = r->offset;
	/* A hold left over from before the clock last ran means nothing: leave it zero. */
	if (r->held) {
		out->hold_year = r->hold.year;
		out->hold_mon = (uint8_t)r->hold.mon;
		out->hold_mday = (uint8_t)r->hold.mday;
		out->hold_hour = (uint8_t)r->hold.hour;
		out->hold_min = (uint8_t)r->hold.min;
		out->hold_sec = (uint8_t)r->hold.sec;
	}
	out->index = r->index;
	out->nmi_disabled = r->nmi_disabled;
	out->reg_a = r->reg_a;
	out->reg_b = r->reg_b;
	out->held = r->held;
	out->wday_shift = (uint8_t)r->wday_shift;
	pthread_mutex_unlock(&r->lock);
}

static bool state_valid(const struct rtc_state *st)
{
	struct rtc t = { .reg_a = st->reg_a, .reg_b = st->reg_b };

	for (unsigned int i = 0; i < sizeof(st->pad); i++)
		if (st->pad[i])
			return false;
	for (unsigned int i = 0; i < RTC_RAM_SIZE; i++)
		if (ram_slot_unused(i) && st->ram[i])
			return false;
	if (st->index >= RTC_RAM_SIZE || st->nmi_disabled > 1 || st->wday_shift > 6)
		return false;
	/* UIP is computed, never stored; the chip clears UIE while SET is set. */
	if ((st->reg_a & RTC_A_UIP) || ((st->reg_b & RTC_B_SET) && (st->reg_b & RTC_B_UIE)))
		return false;
	if (st->offset < -STATE_MAX_OFFSET || st->offset > STATE_MAX_OFFSET)
		return false;
	/* Every write to A or B makes `held` follow them. */
	if (st->held != should_hold(&t))
		return false;
	if (!st->held)
		return !st->hold_year && !st->hold_mon && !st->hold_mday && !st->hold_hour &&
		       !st->hold_min && !st->hold_sec;
	/* The other fields are bytes as decoded (0..255): any carries into the next up. */
	return st->hold_year >= -STATE_MAX_YEAR && st->hold_year <= STATE_MAX_YEAR;
}

int rtc_restore(struct rtc *r, const struct rtc_state *st)
{
	if (!state_valid(st))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	memcpy(r->ram, st->ram, sizeof(r->ram));
	r->offset = st->offset;
	r->hold = (struct rtc_tm){
		.year = st->hold_year,
		.mon = st->hold_mon,
		.mday = st->hold_mday,
		.hour = st->hold_hour,
		.min = st->hold_min,
		.sec = st->hold_sec,
	};
	r->index = st->index;
	r->nmi_disabled = st->nmi_disabled;
	r->reg_a = st->reg_a;
	r->reg_b = st->reg_b;
	r->held = st->held;
	r->wday_shift = st->wday_shift;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static uint64_t rtc_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)size;
	return rtc_read(opaque, (unsigned int)offset);
}

static void rtc_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)size;
	rtc_write(opaque, (unsigned int)offset, (uint8_t)value);
}

static const struct bus_ops rtc_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
	.min_access = 1,
	.max_access = 1,
};

int rtc_register(struct rtc *r, struct bus *pio)
{
	return bus_register(pio, RTC_PORT_BASE, RTC_PORT_COUNT, &rtc_ops, r, "rtc");
}
