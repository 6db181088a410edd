// SPDX-License-Identifier: MIT
/*
 * The 8254 PIT and port 0x61, driven through a port bus with a clock the
 * test steps, an IRQ recorder and a host-timer recorder.
 *
 * Times are in input clock edges: edge T happens at ns_of(T). A count
 * written between edges T and T + 1 is loaded at edge T + 1 ("L" below).
 */
#include "config.h"

#include "devfix.h"
#include "devices/i8254.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define START_NS (7 * 1000000000ULL + 12345) /* not on an edge */
#define NS 1000000000ULL

static struct devfix fx; /* irq.repeated: a raise left pending, or a lower without a raise */
static struct pit pit;
static uint64_t now; /* the fake clock, ns */
static uint64_t armed;
static unsigned int arm_calls;

static uint64_t fake_now(void *opaque)
{
	(void)opaque;
	return __atomic_load_n(&now, __ATOMIC_RELAXED);
}

static void rec_arm(void *opaque, uint64_t deadline_ns)
{
	(void)opaque;
	armed = deadline_ns;
	arm_calls++;
}

static void setup(void)
{
	struct pit_host host = {
		.now_ns = fake_now,
		.irq_set = devfix_irq_set,
		.irq_opaque = &fx.irq,
		.arm_timer = rec_arm,
	};

	now = START_NS;
	armed = UINT64_MAX;
	arm_calls = 0;
	devfix_init(&fx);
	pit_init(&pit, &host);
	ck_assert_int_eq(pit_register(&pit, fx.pio), 0);
}

static void teardown(void)
{
	ck_assert(!fx.irq.repeated);
	ck_assert_int_eq(fx.irq.level, 0);
	devfix_fini(&fx);
	pit_destroy(&pit);
}

static int64_t tick_of(uint64_t ns)
{
	return (int64_t)((unsigned __int128)ns * PIT_HZ / NS);
}

static uint64_t ns_of(int64_t t)
{
	return (uint64_t)(((unsigned __int128)t * NS + PIT_HZ - 1) / PIT_HZ);
}

static int64_t tnow(void)
{
	return tick_of(now);
}

/* Moves the clock to edge t. */
static void at(int64_t t)
{
	now = ns_of(t);
}

static void write_word(unsigned int ch, uint16_t v)
{
	devfix_out8(&fx, PIT_BASE + ch, v & 0xff);
	devfix_out8(&fx, PIT_BASE + ch, v >> 8);
}

static uint16_t read_word(unsigned int ch)
{
	uint16_t lo = devfix_in8(&fx, PIT_BASE + ch);

	return lo | devfix_in8(&fx, PIT_BASE + ch) << 8;
}

/* Counter latch command, then the two bytes. */
static uint16_t latched(unsigned int ch)
{
	devfix_out8(&fx, PIT_PORT_CONTROL, ch << 6);
	return read_word(ch);
}

/* Read-back of the status byte alone. */
static uint8_t status(unsigned int ch)
{
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xe0 | 2 << ch);
	return devfix_in8(&fx, PIT_BASE + ch);
}

static bool out_pin(unsigned int ch)
{
	return status(ch) & 0x80;
}

static bool out2(void)
{
	return devfix_in8(&fx, PIT_PORT_B) & PIT_PORTB_OUT2;
}

/* Channel 2 in `mode`, word access, gate as given; returns the load edge of `count`. */
static int64_t program2(unsigned int mode, uint16_t count, bool gate)
{
	devfix_out8(&fx, PIT_PORT_B, gate ? PIT_PORTB_GATE2 : 0);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb0 | mode << 1);
	write_word(2, count);
	return tnow() + 1;
}

START_TEST(reset_state)
{
	for (unsigned int ch = 0; ch < PIT_CHANNELS; ch++)
		/* OUT high, null count, word access, mode 3 */
		ck_assert_uint_eq(status(ch), 0x80 | 0x40 | 0x30 | 3 << 1);
	/* The control word address is write-only: the bus floats. */
	ck_assert_uint_eq(devfix_in8(&fx, PIT_PORT_CONTROL), 0xff);
	ck_assert_uint_eq(devfix_in8(&fx, PIT_PORT_B) & (PIT_PORTB_GATE2 | PIT_PORTB_SPEAKER), 0);
	ck_assert_uint_eq(arm_calls, 0);
	pit_timer_fire(&pit); /* spurious: nothing to do */
	ck_assert_int_eq(fx.irq.edges, 0);
	ck_assert_uint_eq(armed, UINT64_MAX);
}
END_TEST

START_TEST(mode0_interrupt_on_terminal_count)
{
	int64_t l = program2(0, 1000, true);

	ck_assert(!out2());
	ck_assert_uint_eq(status(2), 0x40 | 0x30); /* OUT low, null count until the load */
	at(l);
	ck_assert_uint_eq(status(2), 0x30);
	ck_assert_uint_eq(latched(2), 1000);
	at(l + 999);
	ck_assert_uint_eq(latched(2), 1);
	ck_assert(!out2());
	at(l + 1000);
	ck_assert_uint_eq(latched(2), 0);
	ck_assert(out2());
	ck_assert_uint_eq(status(2), 0x80 | 0x30);
	/* The counter wraps and keeps counting; OUT stays high. */
	at(l + 1001);
	ck_assert_uint_eq(latched(2), 0xffff);
	at(l + 50000);
	ck_assert(out2());
	/* A new count drops OUT again. */
	write_word(2, 10);
	l = tnow() + 1;
	ck_assert(!out2());
	at(l + 10);
	ck_assert(out2());
}
END_TEST

START_TEST(mode0_first_byte_stops_counting)
{
	int64_t l = program2(0, 100, true);

	at(l + 100);
	ck_assert(out2());
	devfix_out8(&fx, 0x42, 0x20); /* LSB of a new count: counting stops, OUT drops */
	ck_assert(!out2());
	at(l + 300);
	ck_assert_uint_eq(latched(2), 0); /* held where it stopped */
	devfix_out8(&fx, 0x42, 0x00);
	at(l + 301);
	ck_assert_uint_eq(latched(2), 0x20);
}
END_TEST

START_TEST(mode0_gate_holds_the_count)
{
	int64_t l = program2(0, 100, false), t;

	at(l);
	ck_assert_uint_eq(latched(2), 100); /* loaded, but not counting */
	at(l + 50);
	ck_assert_uint_eq(latched(2), 100);
	ck_assert_uint_eq(status(2) & 0x40, 0);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	t = tnow();
	at(t + 10);
	ck_assert_uint_eq(latched(2), 90);
	devfix_out8(&fx, PIT_PORT_B, 0);
	at(t + 500);
	ck_assert_uint_eq(latched(2), 90);
	ck_assert(!out2());
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	at(t + 500 + 89);
	ck_assert_uint_eq(latched(2), 1);
	ck_assert(!out2());
	at(t + 500 + 90);
	ck_assert_uint_eq(latched(2), 0);
	ck_assert(out2());
}
END_TEST

START_TEST(mode1_retriggerable_one_shot)
{
	int64_t t, l;

	program2(1, 100, false);
	ck_assert(out2());
	ck_assert_uint_eq(status(2) & 0x40, 0x40);
	at(tnow() + 10);
	ck_assert(out2()); /* nothing happens without a trigger */
	ck_assert_uint_eq(status(2) & 0x40, 0x40);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	l = tnow() + 1;
	ck_assert(out2());
	at(l);
	ck_assert(!out2());
	ck_assert_uint_eq(latched(2), 100);
	ck_assert_uint_eq(status(2) & 0x40, 0);
	/* The gate going low does not stop a one-shot. */
	devfix_out8(&fx, PIT_PORT_B, 0);
	at(l + 99);
	ck_assert(!out2());
	ck_assert_uint_eq(latched(2), 1);
	at(l + 100);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 0);

	/* Trigger, then retrigger half way: the pulse restarts. */
	at(l + 150);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	l = tnow() + 1;
	at(l + 50);
	devfix_out8(&fx, PIT_PORT_B, 0);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	t = tnow() + 1;
	at(l + 100);
	ck_assert(!out2()); /* the first pulse would have ended here */
	ck_assert_uint_eq(latched(2), 100 - (l + 100 - t));
	at(t + 99);
	ck_assert(!out2());
	at(t + 100);
	ck_assert(out2());
}
END_TEST

START_TEST(mode2_rate_generator)
{
	int64_t l = program2(2, 10, true), t;

	for (int64_t k = 0; k < 30; k++) {
		at(l + k);
		ck_assert_uint_eq(latched(2), 10 - k % 10);
		ck_assert_int_eq(out2(), k % 10 != 9);
	}
	/* A low gate forces OUT high at once and stops the counter. */
	at(l + 39);
	ck_assert(!out2());
	devfix_out8(&fx, PIT_PORT_B, 0);
	ck_assert(out2());
	at(l + 100);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 1);
	/* A rising gate reloads and restarts the period. */
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	t = tnow() + 1;
	at(t);
	ck_assert_uint_eq(latched(2), 10);
	at(t + 9);
	ck_assert(!out2());
	at(t + 10);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 10);
}
END_TEST

START_TEST(mode3_square_wave)
{
	static const uint16_t even[10] = { 10, 8, 6, 4, 2, 10, 8, 6, 4, 2 };
	static const uint16_t odd[7] = { 6, 4, 2, 0, 6, 4, 2 };
	int64_t l = program2(3, 10, true);

	for (int64_t k = 0; k < 20; k++) {
		at(l + k);
		ck_assert_uint_eq(latched(2), even[k % 10]);
		ck_assert_int_eq(out2(), k % 10 < 5);
	}
	/* An odd count: high one edge longer than low. */
	at(l + 100);
	l = program2(3, 7, true);
	for (int64_t k = 0; k < 14; k++) {
		at(l + k);
		ck_assert_uint_eq(latched(2), odd[k % 7]);
		ck_assert_int_eq(out2(), k % 7 < 4);
	}
	at(l + 5);
	devfix_out8(&fx, PIT_PORT_B, 0);
	ck_assert(out2());
}
END_TEST

START_TEST(mode4_software_strobe)
{
	int64_t l = program2(4, 50, true), t;

	ck_assert(out2());
	at(l + 49);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 1);
	at(l + 50);
	ck_assert(!out2());
	ck_assert_uint_eq(latched(2), 0);
	at(l + 51);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 0xffff);
	at(l + 50 + 65536);
	ck_assert(out2()); /* one strobe per count written */

	/* The gate holds the count. */
	l = program2(4, 50, true);
	at(l + 10);
	devfix_out8(&fx, PIT_PORT_B, 0);
	at(l + 1000);
	ck_assert_uint_eq(latched(2), 40);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	t = tnow();
	at(t + 40);
	ck_assert(!out2());
	at(t + 41);
	ck_assert(out2());
}
END_TEST

START_TEST(mode5_hardware_strobe)
{
	int64_t l;

	program2(5, 20, false);
	at(tnow() + 100);
	ck_assert(out2());
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	l = tnow() + 1;
	at(l + 19);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 1);
	at(l + 20);
	ck_assert(!out2());
	at(l + 21);
	ck_assert(out2());
	/* Retrigger while counting restarts the count. */
	at(l + 30);
	devfix_out8(&fx, PIT_PORT_B, 0);
	at(l + 40);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	l = tnow() + 1;
	at(l + 5);
	devfix_out8(&fx, PIT_PORT_B, 0);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	l = tnow() + 1;
	at(l + 19);
	ck_assert(out2());
	at(l + 20);
	ck_assert(!out2());
}
END_TEST

START_TEST(modes_6_and_7_alias_2_and_3)
{
	int64_t l = program2(6, 10, true);

	ck_assert_uint_eq(status(2) & 0x0e, 6 << 1); /* reported as written */
	at(l + 9);
	ck_assert(!out2());
	at(l + 10);
	ck_assert(out2());
	l = program2(7, 10, true);
	at(l + 4);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 2);
	at(l + 5);
	ck_assert(!out2());
}
END_TEST

START_TEST(lsb_msb_and_word_access)
{
	int64_t l;

	/* LSB only: the MSB is 0; reads give the LSB every time. */
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x94);
	devfix_out8(&fx, 0x42, 0x80);
	l = tnow() + 1;
	at(l + 3);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 125);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 125);
	ck_assert_uint_eq(status(2) & 0x30, 0x10);

	/* MSB only: the LSB is 0. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xa4);
	devfix_out8(&fx, 0x42, 0x02);
	l = tnow() + 1;
	at(l + 1);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x01); /* 511 */
	at(l + 300);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x00); /* 212 */

	/* Word: the flip-flop alternates, even when time passes between the bytes. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb4);
	write_word(2, 0x1234);
	l = tnow() + 1;
	at(l + 0x10);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x24); /* 0x1224 */
	at(l + 0x210);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x10); /* 0x1024: an unlatched read tears */
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x24); /* the LSB again */
	/* A control word resets the flip-flop. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb4);
	write_word(2, 0x1234);
	ck_assert_uint_eq(status(2) & 0x40, 0x40);
	at(tnow() + 1);
	ck_assert_uint_eq(read_word(2), 0x1234);
}
END_TEST

START_TEST(reads_and_writes_interleave)
{
	int64_t l = program2(2, 0x0300, true);

	/* Read LSB, write LSB, read MSB, write MSB: the datasheet allows it. */
	at(l + 0x10);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0xf0);
	devfix_out8(&fx, 0x42, 0x00);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x02);
	devfix_out8(&fx, 0x42, 0x01);
	/* Mode 2 takes the new count at the end of the period. */
	at(l + 0x300);
	ck_assert_uint_eq(latched(2), 0x100);
	at(l + 0x300 + 0xff);
	ck_assert(!out2());
}
END_TEST

START_TEST(counter_latch)
{
	int64_t l = program2(2, 1000, true);

	at(l + 100);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x80);
	at(l + 500);
	/* The second latch is ignored until the first is read. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x80);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 900 & 0xff);
	at(l + 700);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x80); /* half read: still ignored */
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 900 >> 8);
	/* Read out, the latch follows the counter again. */
	ck_assert_uint_eq(read_word(2), 300);
	ck_assert_uint_eq(latched(2), 300);
	/* A latch restarts the byte sequence at the LSB. */
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 300 & 0xff);
	ck_assert_uint_eq(latched(2), 300);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 300 & 0xff);
	/* Reprogramming drops a latched count. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x80);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb4);
	write_word(2, 77);
	at(tnow() + 1);
	ck_assert_uint_eq(read_word(2), 77);
}
END_TEST

START_TEST(read_back_several_channels)
{
	int64_t t;

	/* Channel 0 mode 2, channel 1 mode 3, channel 2 mode 0: all loaded at the same edge. */
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x76);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb0);
	devfix_out8(&fx, 0x40, 1000 & 0xff);
	devfix_out8(&fx, 0x41, 2000 & 0xff);
	devfix_out8(&fx, 0x42, 3000 & 0xff);
	devfix_out8(&fx, 0x40, 1000 >> 8);
	devfix_out8(&fx, 0x41, 2000 >> 8);
	devfix_out8(&fx, 0x42, 3000 >> 8);
	t = tnow() + 1;
	at(t + 100);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xce); /* count and status, channels 0-2 */
	at(t + 2999);
	/* Status first, then the count, all as of the command. */
	ck_assert_uint_eq(devfix_in8(&fx, 0x40), 0x80 | 0x30 | 2 << 1);
	ck_assert_uint_eq(read_word(0), 900);
	ck_assert_uint_eq(devfix_in8(&fx, 0x41), 0x80 | 0x30 | 3 << 1);
	ck_assert_uint_eq(read_word(1), 1800);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x30);
	ck_assert_uint_eq(read_word(2), 2900);

	/* A latched status is kept until read, even as OUT changes. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xe8);
	at(t + 3000);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xe8);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x30);
	ck_assert_uint_eq(status(2), 0x80 | 0x30);

	/* Likewise a latched count, from read-back or the latch command. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xd2); /* count only, channel 0 */
	at(t + 3010);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xd2);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x00);
	ck_assert_uint_eq(read_word(0), 1000); /* latched at t + 3000, reload edge */
	ck_assert_uint_eq(latched(0), 990);

	/* Count and status for one channel, status only for another. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xc4);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xe8);
	ck_assert_uint_eq(devfix_in8(&fx, 0x41),
			  0x30 | 3 << 1); /* 1010 into a 2000 period: low half */
	ck_assert_uint_eq(read_word(1), 2000 - 2 * 10);
	ck_assert_uint_eq(devfix_in8(&fx, 0x42), 0x80 | 0x30);
	ck_assert_uint_eq(read_word(2), (uint16_t)(3000 - 3010));
}
END_TEST

START_TEST(reload_zero_is_65536)
{
	int64_t l = program2(0, 0, true);

	at(l);
	ck_assert_uint_eq(latched(2), 0);
	at(l + 1);
	ck_assert_uint_eq(latched(2), 0xffff);
	at(l + 65535);
	ck_assert_uint_eq(latched(2), 1);
	ck_assert(!out2());
	at(l + 65536);
	ck_assert(out2());

	/* And as the period of channel 0. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	write_word(0, 0);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 65536));
}
END_TEST

START_TEST(bcd_counting)
{
	int64_t l;

	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_GATE2);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb1); /* mode 0, BCD */
	write_word(2, 0x1000);
	l = tnow() + 1;
	ck_assert_uint_eq(status(2) & 1, 1);
	at(l);
	ck_assert_uint_eq(latched(2), 0x1000);
	at(l + 1);
	ck_assert_uint_eq(latched(2), 0x0999);
	at(l + 999);
	ck_assert_uint_eq(latched(2), 0x0001);
	ck_assert(!out2());
	at(l + 1000);
	ck_assert(out2());
	at(l + 1001);
	ck_assert_uint_eq(latched(2), 0x9999);

	/* 0 is 10000 in BCD. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb5); /* mode 2, BCD */
	write_word(2, 0);
	l = tnow() + 1;
	at(l + 1);
	ck_assert_uint_eq(latched(2), 0x9999);
	at(l + 9999);
	ck_assert(!out2());
	at(l + 10000);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 0);
}
END_TEST

START_TEST(channel0_periodic_interrupts)
{
	int64_t l;
	uint64_t deadline;

	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34); /* Linux's periodic clockevent */
	write_word(0, 1193);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 1193));
	ck_assert_int_eq(fx.irq.edges, 0);

	/* Early (spurious) fire: nothing, same deadline. */
	now = armed - 1;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 0);
	ck_assert_uint_eq(armed, ns_of(l + 1193));

	/* On time: one interrupt per period. */
	for (int k = 1; k <= 5; k++) {
		now = armed;
		pit_timer_fire(&pit);
		ck_assert_int_eq(fx.irq.edges, k);
		ck_assert_int_eq(fx.irq.level, 0);
		ck_assert_uint_eq(armed, ns_of(l + (k + 1) * 1193));
	}

	/* Late by four and a half periods: one interrupt, next deadline on the grid. */
	now = ns_of(l + 10 * 1193 + 600);
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 6);
	ck_assert_uint_eq(armed, ns_of(l + 11 * 1193));
	/* Fired again at once: nothing new. */
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 6);

	/* An edge the timer missed is delivered before a write changes things. */
	deadline = armed;
	now = deadline + 100;
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x00);
	ck_assert_int_eq(fx.irq.edges, 7);
	ck_assert_uint_eq(armed, ns_of(l + 12 * 1193));
	ck_assert_uint_eq(read_word(0), 1193);
}
END_TEST

START_TEST(channel0_mode0_one_shot)
{
	int64_t l;

	devfix_out8(&fx, PIT_PORT_CONTROL, 0x30);
	ck_assert_uint_eq(arm_calls, 0); /* nothing to arm yet */
	write_word(0, 5000);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 5000));
	at(l + 4999);
	ck_assert(!out_pin(0));
	now = armed;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_uint_eq(armed, UINT64_MAX);
	ck_assert(out_pin(0));
	/* Counting goes on through the wrap; no more interrupts. */
	now += 10 * NS;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_uint_eq(armed, UINT64_MAX);
}
END_TEST

START_TEST(channel0_mode4_one_shot)
{
	int64_t l;
	unsigned int calls;

	/* Linux's one-shot clockevent: mode 4, then a count per event. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x38);
	write_word(0, 100);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 101)); /* the strobe ends one clock after the count */
	now = armed;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_uint_eq(armed, UINT64_MAX);

	now += 5000;
	devfix_out8(&fx, 0x40, 200 & 0xff); /* the first byte changes nothing in mode 4 */
	ck_assert_uint_eq(armed, UINT64_MAX);
	devfix_out8(&fx, 0x40, 200 >> 8);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 201));
	/* A new count before the event replaces it. */
	now += 1000;
	calls = arm_calls;
	write_word(0, 50);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 51));
	ck_assert_uint_eq(arm_calls, calls + 1);
	now = armed;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 2);
}
END_TEST

START_TEST(reprogramming_rearms)
{
	int64_t l, t;
	unsigned int calls;

	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	write_word(0, 1000);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 1000));

	/* A new count in mode 2 waits for the end of the period. */
	at(l + 300);
	calls = arm_calls;
	write_word(0, 500);
	ck_assert_uint_eq(arm_calls, calls); /* same deadline: no call */
	ck_assert_uint_eq(status(0) & 0x40, 0x40);
	now = armed;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_uint_eq(armed, ns_of(l + 1000 + 500));
	ck_assert_uint_eq(status(0) & 0x40, 0);
	ck_assert_uint_eq(latched(0), 500);

	/* A control word stops the channel: the timer is cancelled. */
	at(l + 1200);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x30);
	ck_assert_uint_eq(armed, UINT64_MAX);
	now += 10 * NS;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	write_word(0, 300);
	t = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(t + 300));
	/* Back to periodic. */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	ck_assert_uint_eq(armed, UINT64_MAX);
	write_word(0, 2000);
	t = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(t + 2000));
}
END_TEST

START_TEST(period_change_in_square_wave)
{
	int64_t l = program2(3, 10, true);

	/* In the high half: the new count takes over when it ends, with its low half. */
	at(l + 2);
	write_word(2, 6);
	ck_assert_uint_eq(status(2) & 0x40, 0x40);
	at(l + 4);
	ck_assert(out2());
	ck_assert_uint_eq(latched(2), 2);
	at(l + 5);
	ck_assert(!out2());
	ck_assert_uint_eq(latched(2), 6);
	ck_assert_uint_eq(status(2) & 0x40, 0);
	/* The new count's cycle began at l + 2, so that l + 5 starts its low half. */
	for (int64_t k = 5; k < 17; k++) {
		at(l + k);
		ck_assert_int_eq(out2(), (k - 2) % 6 < 3);
	}
}
END_TEST

START_TEST(port61_bits)
{
	devfix_out8(&fx, PIT_PORT_B, 0xff);
	ck_assert_uint_eq(devfix_in8(&fx, PIT_PORT_B) & ~(PIT_PORTB_REFRESH | PIT_PORTB_OUT2),
			  PIT_PORTB_GATE2 | PIT_PORTB_SPEAKER);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_SPEAKER);
	ck_assert_uint_eq(devfix_in8(&fx, PIT_PORT_B) & 0x0f, PIT_PORTB_SPEAKER);
	/* Bit 5 is OUT2: high in mode 3 after reset, low once programmed for mode 0. */
	ck_assert(out2());
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xb0);
	ck_assert(!out2());
	ck_assert_uint_eq(devfix_in8(&fx, PIT_PORT_B) & 0xc0, 0);
	/* 16-bit reads of the counters split into bytes. */
	ck_assert_uint_eq(devfix_in16(&fx, 0x40), 0);
}
END_TEST

START_TEST(refresh_toggle_follows_the_clock)
{
	unsigned int flips = 0;
	uint64_t last_flip = 0, min_gap = UINT64_MAX, max_gap = 0;
	bool prev = devfix_in8(&fx, PIT_PORT_B) & PIT_PORTB_REFRESH;

	for (unsigned int i = 0; i < 1000; i++) {
		bool cur;

		now += 1000;
		cur = devfix_in8(&fx, PIT_PORT_B) & PIT_PORTB_REFRESH;
		if (cur == prev)
			continue;
		if (flips) {
			uint64_t gap = now - last_flip;

			min_gap = gap < min_gap ? gap : min_gap;
			max_gap = gap > max_gap ? gap : max_gap;
		}
		flips++;
		last_flip = now;
		prev = cur;
	}
	/* 1 ms at one flip per 15.09 us. */
	ck_assert_uint_ge(flips, 65);
	ck_assert_uint_le(flips, 67);
	ck_assert_uint_ge(min_gap, 14000);
	ck_assert_uint_le(max_gap, 16000);
	/* Without time passing it holds still. */
	prev = devfix_in8(&fx, PIT_PORT_B) & PIT_PORTB_REFRESH;
	for (unsigned int i = 0; i < 100; i++)
		ck_assert_int_eq(devfix_in8(&fx, PIT_PORT_B) & PIT_PORTB_REFRESH ? 1 : 0, prev);
}
END_TEST

/*
 * The guest side of Linux's TSC calibration (arch/x86/kernel/tsc.c), with
 * the fake clock as the TSC (1 GHz) and every port access taking IO_NS.
 */
#define IO_NS 600

static uint8_t guest_inb(uint16_t port)
{
	uint8_t v = devfix_in8(&fx, port);

	now += IO_NS;
	return v;
}

static void guest_outb(uint8_t v, uint16_t port)
{
	devfix_out8(&fx, port, v);
	now += IO_NS;
}

static bool msb_is(uint8_t val)
{
	guest_inb(0x42); /* LSB, ignored */
	return guest_inb(0x42) == val;
}

/* Polls while the MSB reads `val`; *tsc is the last time it did, *slack the uncertainty. */
static bool wait_msb(uint8_t val, uint64_t *tsc, uint64_t *slack)
{
	uint64_t last = 0, before = 0;
	int n;

	for (n = 0; n < 50000 && msb_is(val); n++) {
		before = last;
		last = now;
	}
	*slack = now - before;
	*tsc = last;
	return n > 5;
}

START_TEST(linux_quick_pit_calibrate)
{
	const unsigned int max_iter = 50 * PIT_HZ / 1000 / 256;
	uint64_t tsc0, tsc, d1, d2, khz = 0;
	unsigned int i;

	guest_outb((guest_inb(0x61) & ~0x02) | 0x01, 0x61);
	guest_outb(0xb0, 0x43);
	guest_outb(0xff, 0x42);
	guest_outb(0xff, 0x42);
	msb_is(0); /* let the count load */
	ck_assert(wait_msb(0xff, &tsc0, &d1));
	for (i = 1; i <= max_iter; i++) {
		uint64_t delta;

		ck_assert(wait_msb(0xff - i, &tsc, &d2));
		delta = tsc - tsc0;
		if (i == 1)
			ck_assert_uint_lt(d1 + d2, (delta * max_iter) >> 11);
		if (d1 + d2 >= delta >> 11)
			continue; /* not yet within 500 ppm */
		ck_assert(msb_is(0xfe - i));
		khz = delta * PIT_HZ / (i * 256 * 1000);
		break;
	}
	ck_assert_uint_le(i, max_iter);
	/* The fake TSC runs at 1 GHz. */
	ck_assert_uint_ge(khz, 1000000 - 500);
	ck_assert_uint_le(khz, 1000000 + 500);
}
END_TEST

START_TEST(linux_pit_calibrate_tsc)
{
	const uint16_t latch = PIT_HZ / (1000 / 10); /* 10 ms */
	uint64_t t1, t2, per_ms;
	unsigned int loops = 0;

	guest_outb((guest_inb(0x61) & ~0x02) | 0x01, 0x61);
	guest_outb(0xb0, 0x43);
	guest_outb(latch & 0xff, 0x42);
	guest_outb(latch >> 8, 0x42);
	t1 = t2 = now;
	while (!(guest_inb(0x61) & 0x20)) {
		t2 = now;
		loops++;
	}
	ck_assert_uint_ge(loops, 1000);
	/* latch + 1 clocks after the MSB write, to within a poll. */
	per_ms = (t2 - t1) / 10;
	ck_assert_uint_ge(t2 - t1 + 2 * IO_NS, ns_of(latch + 1) - IO_NS);
	ck_assert_uint_le(t2 - t1, ns_of(latch + 1) + IO_NS);
	ck_assert_uint_ge(per_ms, 999000);
	ck_assert_uint_le(per_ms, 1001000);
}
END_TEST

START_TEST(long_uptime)
{
	const uint64_t period_ns = 1193 * NS / PIT_HZ;
	uint64_t first;
	int64_t l;

	now = 0xf000000000000123ull; /* 548 years */
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	write_word(0, 1193);
	l = tnow() + 1;
	ck_assert_uint_eq(armed, ns_of(l + 1193));
	ck_assert_uint_gt(armed, now);
	ck_assert_uint_le(armed - now, period_ns + 1000);
	first = armed;
	now = armed;
	pit_timer_fire(&pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_uint_ge(armed - first, period_ns);
	ck_assert_uint_le(armed - first, period_ns + 1);
	ck_assert_uint_eq(latched(0), 1193);

	/* Deadlines beyond the clock's range stop short of UINT64_MAX ("cancel"). */
	now = UINT64_MAX - 1000;
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x30);
	write_word(0, 0xffff);
	ck_assert_uint_eq(armed, UINT64_MAX - 1);
}
END_TEST

/* Any sequence of port writes is legal input. */
START_TEST(guest_garbage)
{
	static const uint16_t ports[] = { 0x40, 0x41, 0x42, 0x43, 0x43, 0x61 };
	uint32_t x = 12345;

	for (unsigned int i = 0; i < 200000; i++) {
		uint16_t port;

		x = x * 1103515245 + 12345;
		port = ports[(x >> 16) % 6];
		now += (x >> 8) % 4096;
		switch (x % 4) {
		case 0:
			devfix_in8(&fx, port);
			break;
		case 1:
			pit_timer_fire(&pit);
			ck_assert(armed == UINT64_MAX || armed > now);
			break;
		default:
			devfix_out8(&fx, port, (uint8_t)(x >> 20));
			break;
		}
		ck_assert_int_eq(fx.irq.level, 0);
	}
	ck_assert(!fx.irq.repeated);
}
END_TEST

/* vCPU threads write and read while the event loop fires the timer. */
static void *vcpu_thread(void *arg)
{
	(void)arg;
	for (unsigned int i = 0; i < 20000; i++) {
		__atomic_fetch_add(&now, 700, __ATOMIC_RELAXED);
		if (i % 1000 == 0) {
			pit_write(&pit, 0x43, 0x34);
			pit_write(&pit, 0x40, 100);
			pit_write(&pit, 0x40, 0);
		}
		pit_write(&pit, 0x43, 0x00);
		pit_read(&pit, 0x40);
		pit_read(&pit, 0x40);
		pit_read(&pit, 0x61);
	}
	return NULL;
}

START_TEST(concurrent_access)
{
	pthread_t vcpu;
	int fired_edges;

	ck_assert_int_eq(pthread_create(&vcpu, NULL, vcpu_thread, NULL), 0);
	for (unsigned int i = 0; i < 20000; i++)
		pit_timer_fire(&pit);
	pthread_join(vcpu, NULL);
	fired_edges = fx.irq.edges;
	ck_assert_int_gt(fired_edges, 0);
	/* 20000 * 700 ns = 14 ms at 100 clocks a period: at most one per period. */
	ck_assert_int_le(fired_edges, (int)(tick_of(20000 * 700) / 100) + 1);
}
END_TEST

/* --- snapshots ------------------------------------------------------------------------ */

/*
 * A second PIT, as a new process makes it: its own bus, IRQ recorder, timer
 * recorder and clock, whose origin is not the first one's.
 */
static struct {
	struct devfix fx;
	struct pit pit;
	uint64_t now;
	uint64_t armed;
	unsigned int arm_calls;
} b;

static uint64_t b_now(void *opaque)
{
	(void)opaque;
	return b.now;
}

static void b_arm(void *opaque, uint64_t deadline_ns)
{
	(void)opaque;
	b.armed = deadline_ns;
	b.arm_calls++;
}

static void make_b(uint64_t start_ns)
{
	struct pit_host host = {
		.now_ns = b_now,
		.irq_set = devfix_irq_set,
		.irq_opaque = &b.fx.irq,
		.arm_timer = b_arm,
	};

	b.now = start_ns;
	b.armed = UINT64_MAX;
	b.arm_calls = 0;
	devfix_init(&b.fx);
	pit_init(&b.pit, &host);
	ck_assert_int_eq(pit_register(&b.pit, b.fx.pio), 0);
}

static void drop_b(void)
{
	ck_assert(!b.fx.irq.repeated);
	ck_assert_int_eq(b.fx.irq.level, 0);
	devfix_fini(&b.fx);
	pit_destroy(&b.pit);
}

/* The edges at which each was saved (A) and restored (B): times are compared from there. */
static int64_t ta, tb;

/* Both clocks `d` edges after their origins. */
static void step_both(int64_t d)
{
	now = ns_of(ta + d);
	b.now = ns_of(tb + d);
}

/* A deadline as edges after the origin, UINT64_MAX as -1. */
static int64_t rel_a(uint64_t deadline)
{
	return deadline == UINT64_MAX ? -1 : tick_of(deadline) - ta;
}

static int64_t rel_b(uint64_t deadline)
{
	return deadline == UINT64_MAX ? -1 : tick_of(deadline) - tb;
}

/* Port 0x61's refresh toggle follows each process's own clock: leave it out. */
static uint8_t in_both(uint16_t port)
{
	uint8_t mask = port == PIT_PORT_B ? (uint8_t)~PIT_PORTB_REFRESH : 0xff;
	uint8_t va = devfix_in8(&fx, port) & mask, vb = devfix_in8(&b.fx, port) & mask;

	ck_assert_uint_eq(va, vb);
	return va;
}

static void out_both(uint16_t port, uint8_t v)
{
	devfix_out8(&fx, port, v);
	devfix_out8(&b.fx, port, v);
	ck_assert_int_eq(rel_a(armed), rel_b(b.armed));
}

/* Both timers fire at their deadlines: the same interrupts, the same next deadline. */
static void fire_both(void)
{
	ck_assert_uint_ne(armed, UINT64_MAX);
	ck_assert_int_eq(rel_a(armed), rel_b(b.armed));
	step_both(rel_a(armed));
	pit_timer_fire(&pit);
	pit_timer_fire(&b.pit);
	ck_assert_int_eq(fx.irq.edges, b.fx.irq.edges);
	ck_assert_int_eq(rel_a(armed), rel_b(b.armed));
}

/*
 * Channel 0 periodic with a new period pending, channel 1 half-way through
 * writing a count, channel 2 in mode 0 held by its gate with count and
 * status latched; the speaker on. Returns channel 0's load edge.
 */
static int64_t busy_pit(void)
{
	int64_t l;

	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	write_word(0, 1193);
	l = tnow() + 1;
	at(l + 300);
	write_word(0, 500);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0x76);
	devfix_out8(&fx, PIT_BASE + 1, 0x34);
	program2(0, 5000, true);
	at(l + 450);
	devfix_out8(&fx, PIT_PORT_CONTROL, 0xc8); /* read-back: count and status of channel 2 */
	at(l + 460);
	devfix_out8(&fx, PIT_PORT_B, PIT_PORTB_SPEAKER); /* gate 2 low: counting holds */
	/* Between edges. */
	now = ns_of(l + 700) + 123;
	return l;
}

START_TEST(snapshot_resumes_on_another_clock)
{
	struct pit_state st, st2;
	int64_t l = busy_pit();

	ta = tnow();
	pit_save(&pit, &st);
	make_b(3 * NS + 999);
	tb = tick_of(b.now);
	ck_assert_int_eq(pit_restore(&b.pit, &st), 0);
	/* The next interrupt is as far ahead as it was: the end of the first period. */
	ck_assert_uint_eq(b.arm_calls, 1);
	ck_assert_int_eq(rel_a(armed), l + 1193 - ta);
	ck_assert_int_eq(rel_b(b.armed), rel_a(armed));
	/* In nanoseconds, to within an edge: the clocks' phases between edges differ. */
	ck_assert_int_lt(llabs((long long)(b.armed - b.now) - (long long)(armed - now)),
			 (long long)(NS / PIT_HZ + 1));
	ck_assert_int_eq(b.fx.irq.calls, 0);
	/* Saved again before the clock moves: the same bytes. */
	pit_save(&b.pit, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));

	/* Time passes alike on both: every register reads the same. */
	step_both(5);
	ck_assert_uint_eq(in_both(PIT_BASE + 2), 0x30); /* latched status: OUT low, mode 0 */
	/* The latched count. */
	in_both(PIT_BASE + 2);
	in_both(PIT_BASE + 2);
	in_both(PIT_PORT_B);
	for (uint16_t ch = 0; ch < PIT_CHANNELS; ch++) {
		out_both(PIT_PORT_CONTROL, (uint8_t)(0xe0 | 2 << ch)); /* status */
		in_both(PIT_BASE + ch);
		out_both(PIT_PORT_CONTROL, (uint8_t)(ch << 6)); /* counter latch */
		in_both(PIT_BASE + ch);
		in_both(PIT_BASE + ch);
	}
	/* Channel 1 takes the second byte of its count and starts. */
	out_both(PIT_BASE + 1, 0x12);
	step_both(40);
	out_both(PIT_PORT_CONTROL, 0x40);
	in_both(PIT_BASE + 1);
	in_both(PIT_BASE + 1);
	/* Channel 0's interrupts: the old period ends, the new one runs. */
	for (int k = 0; k < 4; k++)
		fire_both();
	ck_assert_int_eq(fx.irq.edges, 4);
	ck_assert_int_eq(rel_a(armed), l + 1193 + 4 * 500 - ta);
	/* Channel 2 resumes counting from where the gate held it. */
	out_both(PIT_PORT_B, PIT_PORTB_GATE2);
	for (int64_t d = 0; d < 5000; d += 250) {
		step_both(rel_a(armed) - 3 + d % 7);
		out_both(PIT_PORT_CONTROL, 0x80);
		in_both(PIT_BASE + 2);
		in_both(PIT_BASE + 2);
		in_both(PIT_PORT_B);
		fire_both();
	}
	ck_assert_int_gt(fx.irq.edges, 4);
	drop_b();
}
END_TEST

/* An edge due before the save but not yet delivered: the restored PIT delivers it at once. */
START_TEST(snapshot_keeps_an_edge_due)
{
	struct pit_state st;
	int64_t l;

	devfix_out8(&fx, PIT_PORT_CONTROL, 0x34);
	write_word(0, 1000);
	l = tnow() + 1;
	at(l + 10);
	ck_assert_uint_eq(latched(0), 990);
	at(l + 1000 + 250); /* the host timer is late */
	ta = tnow();
	pit_save(&pit, &st);
	ck_assert_int_eq(st.irq_next, -250);
	make_b(NS / 3);
	tb = tick_of(b.now);
	ck_assert_int_eq(pit_restore(&b.pit, &st), 0);
	ck_assert_uint_le(b.armed, b.now);
	pit_timer_fire(&pit);
	pit_timer_fire(&b.pit);
	ck_assert_int_eq(fx.irq.edges, 1);
	ck_assert_int_eq(b.fx.irq.edges, 1);
	ck_assert_int_eq(rel_b(b.armed), 750);
	ck_assert_int_eq(rel_a(armed), 750);
	drop_b();
}
END_TEST

/* Each spoils one field of a good state (see busy_pit()). */
static void bad_mode(struct pit_state *st)
{
	st->ch[0].mode_bits = 8;
}

static void bad_rw_latch(struct pit_state *st)
{
	st->ch[0].rw = 0;
}

static void bad_rw(struct pit_state *st)
{
	st->ch[2].rw = 4;
}

static void bad_bcd(struct pit_state *st)
{
	st->ch[2].bcd = 2;
}

static void bad_flag(struct pit_state *st)
{
	st->ch[1].cr_valid = 0xff;
}

static void bad_latch_flag(struct pit_state *st)
{
	st->ch[2].status_latched = 3;
}

static void gate0_low(struct pit_state *st)
{
	st->ch[0].gate = 0;
}

static void write_msb_byte_access(struct pit_state *st)
{
	st->ch[1].rw = 1; /* its MSB is awaited */
}

static void read_msb_byte_access(struct pit_state *st)
{
	st->ch[0].rw = 2;
	st->ch[0].read_msb = 1;
}

static void bad_channel_pad(struct pit_state *st)
{
	st->ch[1].pad[5] = 1;
}

static void bad_run_pad(struct pit_state *st)
{
	st->ch[0].ce.pad[0] = 1;
}

static void bad_pad(struct pit_state *st)
{
	st->pad[6] = 1;
}

static void bad_run_state(struct pit_state *st)
{
	st->ch[0].ce.state = 3;
}

static void zero_count(struct pit_state *st)
{
	st->ch[0].ce.n = 0;
}

static void big_count(struct pit_state *st)
{
	st->ch[0].ce.n = 65537;
}

static void big_bcd_count(struct pit_state *st)
{
	st->ch[2].bcd = 1; /* its count of 5000 fits BCD: make it one that does not */
	st->ch[2].ce.n = 10001;
}

static void far_past(struct pit_state *st)
{
	st->ch[0].ce.base = -PIT_STATE_MAX_TICKS - 1;
}

static void far_future(struct pit_state *st)
{
	st->ch[2].ce.base = INT64_MAX - 5;
}

static void held_while_running(struct pit_state *st)
{
	st->ch[0].ce.held = 7;
}

static void negative_held(struct pit_state *st)
{
	st->ch[2].ce.held = -1;
}

static void huge_held(struct pit_state *st)
{
	st->ch[2].ce.held = PIT_STATE_MAX_TICKS + 1;
}

static void idle_with_count(struct pit_state *st)
{
	st->ch[1].ce.n = 5;
}

static void pending_idle(struct pit_state *st)
{
	st->ch[0].next.state = 0;
	st->ch[0].next.n = 0;
	st->ch[0].next.base = 0;
}

static void stale_next(struct pit_state *st)
{
	st->ch[1].next.state = 1;
	st->ch[1].next.n = 5;
}

static void bad_next_tick(struct pit_state *st)
{
	st->ch[0].next_tick = PIT_STATE_MAX_TICKS * 2;
}

static void bad_irq_next(struct pit_state *st)
{
	st->irq_next = INT64_MIN;
}

static void bad_speaker(struct pit_state *st)
{
	st->speaker = 2;
}

START_TEST(snapshot_refuses_corrupt_state)
{
	static void (*const corrupt[])(struct pit_state *) = {
		bad_mode,
		bad_rw_latch,
		bad_rw,
		bad_bcd,
		bad_flag,
		bad_latch_flag,
		gate0_low,
		write_msb_byte_access,
		read_msb_byte_access,
		bad_channel_pad,
		bad_run_pad,
		bad_pad,
		bad_run_state,
		zero_count,
		big_count,
		big_bcd_count,
		far_past,
		far_future,
		held_while_running,
		negative_held,
		huge_held,
		idle_with_count,
		pending_idle,
		stale_next,
		bad_next_tick,
		bad_irq_next,
		bad_speaker,
	};
	struct pit_state good, st;
	struct pit before;

	busy_pit();
	pit_save(&pit, &good);
	/* The spoiled fields are ones the state uses as the functions above assume. */
	ck_assert_uint_eq(good.ch[0].ce.state, 1);
	ck_assert_int_ne(good.ch[0].next_tick, PIT_STATE_NEVER);
	ck_assert_uint_eq(good.ch[1].ce.state, 0);
	ck_assert_uint_eq(good.ch[1].write_msb, 1);
	ck_assert_uint_eq(good.ch[2].ce.state, 2);
	make_b(5 * NS);
	devfix_out8(&b.fx, PIT_PORT_CONTROL, 0x34);
	devfix_out8(&b.fx, PIT_BASE, 0x00);
	devfix_out8(&b.fx, PIT_BASE, 0x10);
	for (unsigned int i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		unsigned int calls = b.arm_calls;

		st = good;
		corrupt[i](&st);
		before = b.pit;
		ck_assert_msg(pit_restore(&b.pit, &st) == -EINVAL, "corruption %u accepted", i);
		/* Unchanged, the lock aside (its bytes may move while taken and given back). */
		memcpy(&before.lock, &b.pit.lock, sizeof(before.lock));
		ck_assert_msg(memcmp(&before, &b.pit, sizeof(before)) == 0, "corruption %u", i);
		ck_assert_uint_eq(b.arm_calls, calls);
	}
	ck_assert_uint_eq(b.fx.irq.calls, 0);
	/* The state they came from is fine. */
	ck_assert_int_eq(pit_restore(&b.pit, &good), 0);
	drop_b();
}
END_TEST

static Suite *pit_suite(void)
{
	Suite *s = suite_create("i8254");
	TCase *tc = tcase_create("i8254");

	/* guest_garbage's 200,000 accesses take seconds under the sanitizers on a busy host. */
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reset_state);
	tcase_add_test(tc, mode0_interrupt_on_terminal_count);
	tcase_add_test(tc, mode0_first_byte_stops_counting);
	tcase_add_test(tc, mode0_gate_holds_the_count);
	tcase_add_test(tc, mode1_retriggerable_one_shot);
	tcase_add_test(tc, mode2_rate_generator);
	tcase_add_test(tc, mode3_square_wave);
	tcase_add_test(tc, mode4_software_strobe);
	tcase_add_test(tc, mode5_hardware_strobe);
	tcase_add_test(tc, modes_6_and_7_alias_2_and_3);
	tcase_add_test(tc, lsb_msb_and_word_access);
	tcase_add_test(tc, reads_and_writes_interleave);
	tcase_add_test(tc, counter_latch);
	tcase_add_test(tc, read_back_several_channels);
	tcase_add_test(tc, reload_zero_is_65536);
	tcase_add_test(tc, bcd_counting);
	tcase_add_test(tc, channel0_periodic_interrupts);
	tcase_add_test(tc, channel0_mode0_one_shot);
	tcase_add_test(tc, channel0_mode4_one_shot);
	tcase_add_test(tc, reprogramming_rearms);
	tcase_add_test(tc, period_change_in_square_wave);
	tcase_add_test(tc, port61_bits);
	tcase_add_test(tc, refresh_toggle_follows_the_clock);
	tcase_add_test(tc, linux_quick_pit_calibrate);
	tcase_add_test(tc, linux_pit_calibrate_tsc);
	tcase_add_test(tc, long_uptime);
	tcase_add_test(tc, guest_garbage);
	tcase_add_test(tc, concurrent_access);
	tcase_add_test(tc, snapshot_resumes_on_another_clock);
	tcase_add_test(tc, snapshot_keeps_an_edge_due);
	tcase_add_test(tc, snapshot_refuses_corrupt_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(pit_suite());
}
