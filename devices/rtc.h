/* SPDX-License-Identifier: MIT */
/*
 * An MC146818-style CMOS RTC at ports 0x70 (index) and 0x71 (data), as PCs
 * have it: 14 clock registers, the century at 0x32, and 128 bytes of CMOS RAM
 * around them.
 *
 * The clock is the host's: the time registers are computed from an injected
 * host clock (UTC) plus an offset, so they are always right and never need a
 * timer to tick. A guest that sets the time (hwclock, rtc-cmos) changes the
 * offset, and its time then advances with the host's. While register B's SET
 * bit is set, or register A's divider bits are above 010 (Linux's
 * mc146818_set_time sets both), the clock holds: the time stops, guest writes
 * change the held fields as written, and the clock resumes from them. A held
 * date that does not exist (31 February) is normalised when the clock resumes
 * (to 3 March), where a real chip would count on from garbage.
 *
 * The registers always present the time in the format register B asks for
 * (DM: binary or BCD; 24/12: 24-hour, or 1-12 with bit 7 = PM). Changing the
 * format therefore needs no rewrite of the time, unlike on the chip.
 *
 * UIP (register A bit 7): the chip sets it 244 us before each update and the
 * registers are unreliable while it is set. Here an update is instantaneous,
 * so with a nanosecond host clock (now_ns) UIP is set during the last
 * 244.14 us (8 periods of 32.768 kHz) of every host second while the clock
 * runs; a guest that waits for UIP to clear, or to rise and fall (hwclock
 * --directisa), sees what it expects. Linux 6.1's mc146818_avoid_UIP() (used
 * by mc146818_get_time) at worst meets it once, waits 1 ms and reads again;
 * it also re-reads the seconds after reading the other registers, which is
 * what guards it against a second boundary between two reads. With only a
 * seconds clock (now) UIP never reads as set: that stays correct for Linux
 * for the same reason, but hwclock --directisa would time out.
 *
 * Interrupts are not modelled: IRQ 8 is never raised, and register C reads 0
 * (no update-ended, alarm or periodic flag is ever set, so there is nothing
 * for the read to clear). PIE, AIE, UIE and the alarm registers are stored.
 * Linux boots without RTC interrupts; rtc-cmos alarms just never fire.
 *
 * Day of week: computed from the date (1 = Sunday). A guest that writes it
 * shifts it by a fixed number of days, as on the chip; writes to the date
 * leave that shift alone (so an untouched day of week stays right).
 *
 * The index port keeps bit 7 (NMI disable; NMIs are not delivered through
 * this device) and selects with bits 6:0, so indices wrap at 0x80. Reads of
 * the index port return 0xff: it is write-only. Register D reads 0x80 (VRT:
 * valid RAM and time); C and D ignore writes.
 *
 * All entry points take the device's lock.
 */
#ifndef EMBER_RTC_H
#define EMBER_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

#define RTC_PORT_BASE 0x70
#define RTC_PORT_COUNT 2
#define RTC_RAM_SIZE 128

/* Offsets within the port window. */
#define RTC_PORT_INDEX 0
#define RTC_PORT_DATA 1

/* Register indices. */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define RTC_INDEX_NMI_DISABLE 0x80

#define RTC_A_UIP 0x80
#define RTC_A_DV_MASK 0x70 /* divider: 010 = 32.768 kHz time base, running */
#define RTC_A_RS_MASK 0x0f /* periodic rate */

#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DSE 0x01

#define RTC_D_VRT 0x80

/* What PC firmware leaves: 32.768 kHz, 1024 Hz rate; 24-hour BCD. */
#define RTC_REG_A_DEFAULT 0x26
#define RTC_REG_B_DEFAULT RTC_B_24H

struct rtc_host {
	/*
	 * The host's time in nanoseconds since the Unix epoch (UTC), e.g.
	 * CLOCK_REALTIME. When set, the calendar and UIP come from this one
	 * reading and `now` is not used.
	 */
	int64_t (*now_ns)(void *opaque);
	/* The host's time in Unix seconds (UTC), e.g. time(NULL). UIP never reads set. */
	int64_t (*now)(void *opaque);
	void *clock_opaque;
};

/* A broken-down time; private to rtc.c. */
struct rtc_tm {
	int64_t year; /* full year */
	int mon;      /* 1-12 */
	int mday;     /* 1-31 */
	int hour;     /* 0-23 */
	int min;
	int sec;
};

struct rtc {
	pthread_mutex_t lock;
	struct rtc_host host;

	uint8_t index;
	bool nmi_disabled; /* kept, not acted on */
	uint8_t reg_a;	   /* without UIP */
	uint8_t reg_b;
	uint8_t ram[RTC_RAM_SIZE]; /* alarms and CMOS RAM; clock slots unused */

	int64_t offset; /* guest seconds minus host seconds while running */
	bool held;	/* SET or divider reset: the time stands at `hold` */
	struct rtc_tm hold;
	int wday_shift; /* 0-6 days added to the computed day of week */
};

/* Returns 0, or -EINVAL when the host gives no clock. */
int rtc_init(struct rtc *r, const struct rtc_host *host);
void rtc_destroy(struct rtc *r);
/* Registers the two ports at RTC_PORT_BASE on a port bus. */
int rtc_register(struct rtc *r, struct bus *pio);

/* Port access by offset (RTC_PORT_INDEX, RTC_PORT_DATA), as the bus delivers it. */
uint8_t rtc_read(struct rtc *r, unsigned int offset);
void rtc_write(struct rtc *r, unsigned int offset, uint8_t value);

/*
 * Host-side initialisation of CMOS RAM (what firmware would find there).
 * Returns 0, or -EINVAL for an index beyond the RAM or one of the clock,
 * status or century registers.
 */
int rtc_nvram_set(struct rtc *r, unsigned int index, uint8_t value);

/*
 * What a snapshot keeps of the RTC: plain data, fixed layout (a section of
 * the snapshot file, written byte for byte). The clock is kept as the
 * guest's offset from the host's clock, so after a restore it reads the new
 * host's time plus that offset: the guest's wall clock moves on to now, as
 * the host's did. A held clock keeps the fields that hold it, unnormalised
 * as the guest wrote them. Nothing sub-second is kept: UIP follows the host
 * clock.
 */
struct rtc_state {
	uint8_t ram[RTC_RAM_SIZE]; /* the clock, status and century slots are zero */
	int64_t offset;		   /* guest seconds minus host seconds, |offset| <= 2^56 */
	int64_t hold_year;	   /* |hold_year| <= 2^31; zero unless held */
	uint8_t hold_mon;	   /* this and the next four: 0..255 as decoded; zero unless held */
	uint8_t hold_mday;
	uint8_t hold_hour;
	uint8_t hold_min;
	uint8_t hold_sec;
	uint8_t index;	      /* < RTC_RAM_SIZE */
	uint8_t nmi_disabled; /* 0 or 1 */
	uint8_t reg_a;	      /* without UIP */
	uint8_t reg_b;	      /* UIE clear while SET is set */
	uint8_t held;	      /* 1 exactly when SET or the divider bits hold the clock */
	uint8_t wday_shift;   /* 0..6 */
	uint8_t pad[5];	      /* zero */
};
_Static_assert(sizeof(struct rtc_state) == 160, "rtc_state is a fixed 160 bytes");

#define RTC_STATE_VERSION 1

/* Takes the device's lock. Fills all of `out`, padding included (zeroes). */
void rtc_save(struct rtc *r, struct rtc_state *out);
/*
 * Replaces the device's state with `st`, from a file that may be hostile:
 * every field is checked, and a value the device could not have reached (or
 * one that would overflow its date arithmetic) leaves it unchanged with
 * -EINVAL. The RTC raises no interrupt, so there is no line to drive. Host
 * callbacks and the lock are kept. Takes the device's lock. 0 or -EINVAL.
 */
int rtc_restore(struct rtc *r, const struct rtc_state *st);

#endif
