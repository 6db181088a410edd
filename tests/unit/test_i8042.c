// SPDX-License-Identifier: MIT
/* The i8042 PS/2 controller and its keyboard, driven through a port bus with an IRQ recorder. */
#include "config.h"

#include "devfix.h"
#include "devices/i8042.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

#define DATA 0x60
#define CMD 0x64

/* Linux's i8042_wait_read/write poll 10000 times, 50 us apart. */
#define LINUX_CTL_TIMEOUT 10000

static struct devfix fx;
static struct i8042 kbc;
static unsigned int resets;
static uint8_t status_in_reset;
static unsigned int extra_polls; /* polls Linux would have spent waiting */

static void rec_reset(void *opaque)
{
	resets++;
	/* Called without the device's lock held: this would deadlock otherwise. */
	status_in_reset = i8042_read_status(opaque);
}

static void setup(void)
{
	struct i8042_host host = {
		.irq_set = devfix_irq_set,
		.irq_opaque = &fx.irq,
		.reset = rec_reset,
		.reset_opaque = &kbc,
	};

	resets = 0;
	extra_polls = 0;
	devfix_init(&fx);
	i8042_init(&kbc, &host);
	ck_assert_int_eq(i8042_register(&kbc, fx.pio), 0);
}

static void teardown(void)
{
	devfix_fini(&fx);
	i8042_destroy(&kbc);
}

static uint8_t status(void)
{
	return devfix_in8(&fx, CMD);
}

/* Reads one byte that must be waiting, from the keyboard side. */
static uint8_t read_kbd_byte(void)
{
	uint8_t s = status();

	ck_assert_uint_eq(s & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	return devfix_in8(&fx, DATA);
}

static void expect_bytes(const uint8_t *want, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(read_kbd_byte(), want[i]);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
}

#define EXPECT(...)                                                                                \
	do {                                                                                       \
		const uint8_t want_[] = { __VA_ARGS__ };                                           \
		expect_bytes(want_, sizeof(want_));                                                \
	} while (0)

/* --- Linux 6.1's drivers/input/serio/i8042.c, as far as the probe goes --- */

static int linux_wait_read(void)
{
	int i = 0;

	while (!(status() & I8042_STR_OBF) && i < LINUX_CTL_TIMEOUT)
		i++;
	extra_polls += (unsigned int)i;
	return -(i == LINUX_CTL_TIMEOUT);
}

static int linux_wait_write(void)
{
	int i = 0;

	while ((status() & I8042_STR_IBF) && i < LINUX_CTL_TIMEOUT)
		i++;
	extra_polls += (unsigned int)i;
	return -(i == LINUX_CTL_TIMEOUT);
}

static int linux_flush(void)
{
	int count = 0;

	while (status() & I8042_STR_OBF) {
		if (count++ >= 16)
			return -1;
		devfix_in8(&fx, DATA);
	}
	return 0;
}

/* Linux encodes parameter and reply counts in the command: 0x1060 = WCTR, one out, none back. */
#define L_RCTR 0x0120
#define L_WCTR 0x1060
#define L_CTL_TEST 0x01aa
#define L_AUX_TEST 0x01a9
#define L_AUX_LOOP 0x11d3

/* __i8042_command. */
static int linux_command(uint8_t *param, int command)
{
	int i;

	if (linux_wait_write())
		return -1;
	devfix_out8(&fx, CMD, command & 0xff);
	for (i = 0; i < ((command >> 12) & 0xf); i++) {
		if (linux_wait_write())
			return -1;
		devfix_out8(&fx, DATA, param[i]);
	}
	for (i = 0; i < ((command >> 8) & 0xf); i++) {
		if (linux_wait_read())
			return -1;
		if (command == L_AUX_LOOP && !(status() & I8042_STR_AUXDATA))
			return -1; /* "auxerr" */
		param[i] = devfix_in8(&fx, DATA);
	}
	return 0;
}

/* i8042_controller_init, without the keylock and direct-mode details. */
static uint8_t linux_controller_init(void)
{
	uint8_t ctr[2];

	ck_assert_int_eq(linux_command(&ctr[0], L_RCTR), 0);
	ck_assert_int_eq(linux_command(&ctr[1], L_RCTR), 0);
	ck_assert_uint_eq(ctr[0], ctr[1]);
	ck_assert_uint_eq(status() & I8042_STR_KEYLOCK, I8042_STR_KEYLOCK); /* no keylock warning */
	ctr[0] |= I8042_CTR_KBDDIS;
	ctr[0] &= (uint8_t)~I8042_CTR_KBDINT;
	ck_assert_int_eq(linux_command(&ctr[0], L_WCTR), 0);
	ck_assert_int_eq(linux_flush(), 0);
	return ctr[0];
}

/* i8042_check_aux up to the point where it gives up on an absent port. */
static int linux_check_aux(bool noloop)
{
	uint8_t param = 0;
	int retval = -1;

	linux_flush();
	if (!noloop) {
		param = 0x5a;
		retval = linux_command(&param, L_AUX_LOOP);
	}
	if (retval || param != 0x5a) {
		if (linux_command(&param, L_AUX_TEST) || (param && param != 0xfa && param != 0xff))
			return -1;
	}
	return 0; /* would go on to toggle AUX and test IRQ 12 */
}

/* --- tests --- */

START_TEST(power_on_state)
{
	ck_assert_uint_eq(status(), I8042_STR_KEYLOCK | I8042_STR_SYS);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(status(),
			  I8042_STR_KEYLOCK | I8042_STR_SYS | I8042_STR_CMDDAT | I8042_STR_OBF);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_CTR_DEFAULT);
	ck_assert_uint_eq(status(), I8042_STR_KEYLOCK | I8042_STR_SYS | I8042_STR_CMDDAT);
	ck_assert_uint_eq(fx.irq.edges, 0);
}
END_TEST

START_TEST(self_test)
{
	uint8_t param;

	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, DATA, 0x00); /* SYS clear */
	ck_assert_uint_eq(status() & I8042_STR_SYS, 0);
	ck_assert_int_eq(linux_command(&param, L_CTL_TEST), 0);
	ck_assert_uint_eq(param, I8042_SELF_TEST_OK);
	ck_assert_uint_eq(status() & I8042_STR_SYS, I8042_STR_SYS);
	ck_assert_int_eq(linux_command(&param, L_RCTR), 0);
	ck_assert_uint_eq(param, I8042_CTR_SYS);
	devfix_out8(&fx, CMD, I8042_CMD_KBD_TEST);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x00);
	ck_assert_uint_eq(extra_polls, 0);
}
END_TEST

START_TEST(ctr_read_write)
{
	uint8_t param = 0x47;

	ck_assert_int_eq(linux_command(&param, L_WCTR), 0);
	ck_assert_uint_eq(status() & I8042_STR_CMDDAT, 0); /* the parameter went to 0x60 */
	ck_assert_int_eq(linux_command(&param, L_RCTR), 0);
	ck_assert_uint_eq(param, 0x47);
	ck_assert_uint_eq(status() & I8042_STR_CMDDAT, I8042_STR_CMDDAT);

	devfix_out8(&fx, CMD, I8042_CMD_KBD_DISABLE);
	devfix_out8(&fx, CMD, I8042_CMD_AUX_DISABLE);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x47 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	devfix_out8(&fx, CMD, I8042_CMD_KBD_ENABLE);
	devfix_out8(&fx, CMD, I8042_CMD_AUX_ENABLE);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x47);

	/* SYS follows the command byte. */
	param = 0x41;
	linux_command(&param, L_WCTR);
	ck_assert_uint_eq(status() & I8042_STR_SYS, 0);
	/* A new command cancels one waiting for its parameter: 0xee then goes to the keyboard. */
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x41);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	EXPECT(I8042_KBD_ECHO);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x41);
}
END_TEST

START_TEST(keyboard_reset)
{
	devfix_out8(&fx, DATA, I8042_KBD_RESET);
	ck_assert_uint_eq(status(), I8042_STR_OBF | I8042_STR_SYS | I8042_STR_KEYLOCK);
	EXPECT(I8042_KBD_ACK, I8042_KBD_BAT_OK);
	/* A reset drops what was not sent yet. */
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	devfix_out8(&fx, DATA, I8042_KBD_RESET);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK, I8042_KBD_BAT_OK);
}
END_TEST

START_TEST(keyboard_get_id_and_echo)
{
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	EXPECT(I8042_KBD_ACK, 0xab, 0x83);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	EXPECT(I8042_KBD_ECHO);
	/* Replies queue up; the output buffer shows one at a time. */
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	devfix_out8(&fx, DATA, I8042_KBD_ENABLE);
	EXPECT(I8042_KBD_ACK, 0xab, 0x83, I8042_KBD_ECHO, I8042_KBD_ACK);
	/* An empty output buffer reads the last byte again. */
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_KBD_ACK);
}
END_TEST

START_TEST(keyboard_parameters)
{
	devfix_out8(&fx, DATA, I8042_KBD_SET_LEDS);
	devfix_out8(&fx, DATA, 0x07);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK);
	ck_assert_uint_eq(kbc.kbd_leds, 0x07);
	devfix_out8(&fx, DATA, I8042_KBD_TYPEMATIC);
	devfix_out8(&fx, DATA, 0x00);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_SCANSET);
	devfix_out8(&fx, DATA, 0x00); /* query */
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK, 0x02);
	devfix_out8(&fx, DATA, I8042_KBD_SCANSET);
	devfix_out8(&fx, DATA, 0x03);
	devfix_out8(&fx, DATA, I8042_KBD_SCANSET);
	devfix_out8(&fx, DATA, 0x00);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK, I8042_KBD_ACK, I8042_KBD_ACK, 0x03);
	/* A command byte where a parameter was due is a new command. */
	devfix_out8(&fx, DATA, I8042_KBD_SET_LEDS);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ECHO);
	/* Unknown commands are refused; resend repeats the last byte. */
	devfix_out8(&fx, DATA, 0x5a);
	EXPECT(I8042_KBD_NAK);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	devfix_out8(&fx, DATA, I8042_KBD_RESEND);
	EXPECT(I8042_KBD_ECHO, I8042_KBD_ECHO);
	devfix_out8(&fx, DATA, I8042_KBD_RESET_DISABLE);
	EXPECT(I8042_KBD_ACK);
	ck_assert(!kbc.kbd_scanning);
	ck_assert_uint_eq(kbc.kbd_leds, 0);
	devfix_out8(&fx, DATA, I8042_KBD_RESET_DEFAULT);
	devfix_out8(&fx, DATA, I8042_KBD_ENABLE);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK);
	ck_assert(kbc.kbd_scanning);
	ck_assert_uint_eq(kbc.kbd_scanset, 2);
}
END_TEST

START_TEST(reset_requests)
{
	devfix_out8(&fx, CMD, I8042_CMD_PULSE_RESET);
	ck_assert_uint_eq(resets, 1);
	ck_assert_uint_eq(status_in_reset & I8042_STR_CMDDAT, I8042_STR_CMDDAT);
	devfix_out8(&fx, CMD, 0xf0); /* pulses all four lines, reset among them */
	ck_assert_uint_eq(resets, 2);
	devfix_out8(&fx, CMD, 0xff); /* pulses nothing */
	devfix_out8(&fx, CMD, 0xf1);
	devfix_out8(&fx, CMD, 0xfd);
	ck_assert_uint_eq(resets, 2);

	devfix_out8(&fx, CMD, I8042_CMD_READ_OUTPORT);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_OUT_RESET | I8042_OUT_A20);
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_OUTPORT);
	devfix_out8(&fx, DATA, I8042_OUT_RESET); /* A20 off: stored, no reset */
	ck_assert_uint_eq(resets, 2);
	devfix_out8(&fx, CMD, I8042_CMD_READ_OUTPORT);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_OUT_RESET);
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_OUTPORT);
	devfix_out8(&fx, DATA, I8042_OUT_A20); /* reset line low */
	ck_assert_uint_eq(resets, 3);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
}
END_TEST

START_TEST(linux_finds_no_aux_at_once)
{
	uint8_t ctr, param[2];

	/* i8042_controller_check, i8042_controller_init. */
	ck_assert_int_eq(linux_flush(), 0);
	ctr = linux_controller_init();
	ck_assert_uint_eq(ctr, (I8042_CTR_DEFAULT | I8042_CTR_KBDDIS) & ~I8042_CTR_KBDINT);

	/* i8042_setup_aux -> i8042_check_aux: the loop fails on AUXDATA, the test on its answer. */
	ck_assert_int_eq(linux_check_aux(false), -1);
	/* Every wait ended at its first poll, and nothing stale is left. */
	ck_assert_uint_eq(extra_polls, 0);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
	ck_assert_uint_eq(fx.irq.edges, 0);

	/* i8042_setup_kbd -> i8042_enable_kbd_port. */
	ctr &= (uint8_t)~I8042_CTR_KBDDIS;
	ctr |= I8042_CTR_KBDINT;
	ck_assert_int_eq(linux_command(&ctr, L_WCTR), 0);
	ck_assert_uint_eq(fx.irq.edges, 0);

	/* atkbd_probe: GET_ID through i8042_kbd_write; each byte comes with an interrupt. */
	ck_assert_int_eq(linux_wait_write(), 0);
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	ck_assert_uint_eq(fx.irq.edges, 1);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	ck_assert_uint_eq(fx.irq.edges, 2);
	param[0] = read_kbd_byte();
	ck_assert_uint_eq(fx.irq.edges, 3);
	param[1] = read_kbd_byte();
	ck_assert_uint_eq(param[0], 0xab);
	ck_assert_uint_eq(param[1], 0x83);
	ck_assert_uint_eq(fx.irq.edges, 3);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);

	/* atkbd_deactivate, then atkbd_activate (typematic, enable), then LEDs. */
	devfix_out8(&fx, DATA, I8042_KBD_RESET_DISABLE);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_TYPEMATIC);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, 0x00);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_ENABLE);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_SET_LEDS);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, 0x00);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	ck_assert_uint_eq(fx.irq.edges, 9);
	ck_assert_uint_eq(extra_polls, 0);
}
END_TEST

START_TEST(linux_noloop_finds_no_aux)
{
	linux_controller_init();
	ck_assert_int_eq(linux_check_aux(true), -1);
	ck_assert_uint_eq(extra_polls, 0);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
}
END_TEST

START_TEST(aux_commands)
{
	devfix_out8(&fx, CMD, I8042_CMD_AUX_TEST);
	ck_assert_uint_eq(status() & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_AUX_TEST_NO_PORT);
	/* The loop hands the byte back from the controller, not from AUX. */
	devfix_out8(&fx, CMD, I8042_CMD_AUX_LOOP);
	devfix_out8(&fx, DATA, 0x5a);
	ck_assert_uint_eq(status() & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x5a);
	/* Bytes for the AUX device go nowhere. */
	devfix_out8(&fx, CMD, I8042_CMD_AUX_SEND);
	devfix_out8(&fx, DATA, 0xf2);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
	/* Unknown commands are ignored; the next data byte goes to the keyboard. */
	devfix_out8(&fx, CMD, 0xc0);
	devfix_out8(&fx, CMD, 0x90);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	EXPECT(I8042_KBD_ECHO);
	ck_assert_uint_eq(fx.irq.edges, 1); /* the echo; CTR bit 0 is set by default */
}
END_TEST

START_TEST(irq1_only_when_enabled)
{
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, DATA, I8042_CTR_SYS);
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	ck_assert_uint_eq(status() & I8042_STR_OBF, I8042_STR_OBF);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_KBD_ACK);
	ck_assert_uint_eq(fx.irq.edges, 0);
	/* Enabling it with a keyboard byte waiting raises it. */
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, DATA, I8042_CTR_SYS | I8042_CTR_KBDINT);
	ck_assert_uint_eq(fx.irq.edges, 1);
	ck_assert_int_eq(fx.irq.level, 0); /* pulsed */
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0xab);
	ck_assert_uint_eq(fx.irq.edges, 2);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), 0x83);
	ck_assert_uint_eq(fx.irq.edges, 2);
	/* Controller replies raise nothing. */
	devfix_out8(&fx, CMD, I8042_CMD_SELF_TEST);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_SELF_TEST_OK);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_CTR_SYS | I8042_CTR_KBDINT);
	ck_assert_uint_eq(fx.irq.edges, 2);
	/* Writing the keyboard output buffer is keyboard data. */
	devfix_out8(&fx, CMD, I8042_CMD_KBD_LOOP);
	devfix_out8(&fx, DATA, 0x1c);
	ck_assert_uint_eq(fx.irq.edges, 3);
	EXPECT(0x1c);
	/* Disabled again: nothing. */
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, DATA, I8042_CTR_SYS);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_KBD_ECHO);
	ck_assert_uint_eq(fx.irq.edges, 3);
}
END_TEST

START_TEST(disabled_keyboard_holds_bytes)
{
	devfix_out8(&fx, CMD, I8042_CMD_KBD_DISABLE);
	devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
	ck_assert_uint_eq(fx.irq.edges, 0);
	devfix_out8(&fx, CMD, I8042_CMD_KBD_ENABLE);
	ck_assert_uint_eq(fx.irq.edges, 1);
	EXPECT(I8042_KBD_ECHO);
}
END_TEST

START_TEST(reply_displaces_keyboard_byte)
{
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	devfix_out8(&fx, CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(devfix_in8(&fx, DATA), I8042_CTR_DEFAULT);
	/* The keyboard's bytes follow, in order, none lost. */
	EXPECT(I8042_KBD_ACK, 0xab, 0x83);
}
END_TEST

START_TEST(keyboard_fifo_overrun)
{
	devfix_out8(&fx, CMD, I8042_CMD_KBD_DISABLE);
	for (unsigned int i = 0; i < I8042_KBD_FIFO_SIZE + 4; i++)
		devfix_out8(&fx, DATA, I8042_KBD_ECHO);
	devfix_out8(&fx, CMD, I8042_CMD_KBD_ENABLE);
	for (unsigned int i = 0; i < I8042_KBD_FIFO_SIZE; i++)
		ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ECHO);
	ck_assert_uint_eq(status() & I8042_STR_OBF, 0);
}
END_TEST

/* --- snapshots ------------------------------------------------------------------------ */

/* A second controller, as a new process makes it: its own bus and IRQ recorder. */
static struct devfix fxb;
static struct i8042 kbcb;
static unsigned int resets_b;

static void rec_reset_b(void *opaque)
{
	(void)opaque;
	resets_b++;
}

static void make_b(void)
{
	struct i8042_host host = {
		.irq_set = devfix_irq_set,
		.irq_opaque = &fxb.irq,
		.reset = rec_reset_b,
	};

	resets_b = 0;
	devfix_init(&fxb);
	i8042_init(&kbcb, &host);
	ck_assert_int_eq(i8042_register(&kbcb, fxb.pio), 0);
}

static void drop_b(void)
{
	devfix_fini(&fxb);
	i8042_destroy(&kbcb);
}

/*
 * A changed command byte and output port, keyboard settings, a keyboard
 * byte in the output buffer with more behind it, a keyboard command waiting
 * for its parameter, and a controller command waiting for its data byte.
 */
static void busy_kbc(void)
{
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_CTR);
	devfix_out8(&fx, DATA, I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE);
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_OUTPORT);
	devfix_out8(&fx, DATA, I8042_OUT_RESET); /* A20 off */
	devfix_out8(&fx, DATA, I8042_KBD_TYPEMATIC);
	devfix_out8(&fx, DATA, 0x20);
	devfix_out8(&fx, DATA, I8042_KBD_SCANSET);
	devfix_out8(&fx, DATA, 0x03);
	EXPECT(I8042_KBD_ACK, I8042_KBD_ACK, I8042_KBD_ACK, I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_GET_ID);
	ck_assert_uint_eq(read_kbd_byte(), I8042_KBD_ACK);
	devfix_out8(&fx, DATA, I8042_KBD_SET_LEDS);
	devfix_out8(&fx, CMD, I8042_CMD_WRITE_OUTPORT);
}

static uint8_t in_both(uint16_t port)
{
	uint8_t a = devfix_in8(&fx, port), b = devfix_in8(&fxb, port);

	ck_assert_uint_eq(a, b);
	return a;
}

static void out_both(uint16_t port, uint8_t v)
{
	devfix_out8(&fx, port, v);
	devfix_out8(&fxb, port, v);
}

START_TEST(snapshot_restores_everything)
{
	struct i8042_state st, st2;
	unsigned int edges;

	busy_kbc();
	edges = fx.irq.edges;
	i8042_save(&kbc, &st);
	make_b();
	ck_assert_int_eq(i8042_restore(&kbcb, &st), 0);
	/* The byte shown was announced before the save: no second interrupt for it. */
	ck_assert_uint_eq(fxb.irq.calls, 0);
	i8042_save(&kbcb, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));

	ck_assert_uint_eq(in_both(CMD),
			  I8042_STR_KEYLOCK | I8042_STR_SYS | I8042_STR_CMDDAT | I8042_STR_OBF);
	ck_assert_uint_eq(in_both(DATA), 0xab);
	ck_assert_uint_eq(in_both(CMD),
			  I8042_STR_KEYLOCK | I8042_STR_SYS | I8042_STR_CMDDAT | I8042_STR_OBF);
	ck_assert_uint_eq(in_both(DATA), 0x83);
	ck_assert_uint_eq(in_both(DATA), I8042_KBD_ACK); /* SET_LEDS's */
	ck_assert_uint_eq(in_both(CMD) & I8042_STR_OBF, 0);
	ck_assert_uint_eq(fx.irq.edges - edges, 2);
	ck_assert_uint_eq(fxb.irq.edges, 2);
	/* The output port takes its data byte, A20 back on, and no reset. */
	out_both(DATA, I8042_OUT_RESET | I8042_OUT_A20);
	ck_assert_uint_eq(resets_b, 0);
	out_both(CMD, I8042_CMD_READ_OUTPORT);
	ck_assert_uint_eq(in_both(DATA), I8042_OUT_RESET | I8042_OUT_A20);
	/* The keyboard takes its parameter; resend repeats its last byte. */
	out_both(DATA, 0x05);
	ck_assert_uint_eq(kbcb.kbd_leds, 0x05);
	ck_assert_uint_eq(in_both(DATA), I8042_KBD_ACK);
	out_both(DATA, I8042_KBD_SCANSET);
	out_both(DATA, 0x00);
	out_both(DATA, I8042_KBD_RESEND);
	ck_assert_uint_eq(in_both(DATA), I8042_KBD_ACK);
	ck_assert_uint_eq(in_both(DATA), I8042_KBD_ACK);
	ck_assert_uint_eq(in_both(DATA), 0x03);
	ck_assert_uint_eq(in_both(DATA), 0x03);
	ck_assert_uint_eq(kbcb.kbd_typematic, 0x20);
	out_both(CMD, I8042_CMD_READ_CTR);
	ck_assert_uint_eq(in_both(DATA), I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE);
	ck_assert_uint_eq(fx.irq.edges - edges, fxb.irq.edges);
	drop_b();
}
END_TEST

static void bad_head(struct i8042_state *st)
{
	st->kbd_head = I8042_KBD_FIFO_SIZE;
}

static void bad_count(struct i8042_state *st)
{
	st->kbd_count = I8042_KBD_FIFO_SIZE + 1;
}

static void bad_flag(struct i8042_state *st)
{
	st->last_write_cmd = 2;
}

static void bad_obf(struct i8042_state *st)
{
	st->obf = 0xff;
}

static void bad_scanning(struct i8042_state *st)
{
	st->kbd_scanning = 2;
}

static void reset_held_low(struct i8042_state *st)
{
	st->outport &= (uint8_t)~I8042_OUT_RESET;
}

static void bad_param_cmd(struct i8042_state *st)
{
	st->param_cmd = I8042_CMD_READ_CTR; /* takes no data byte */
}

static void bad_kbd_param_cmd(struct i8042_state *st)
{
	st->kbd_param_cmd = I8042_KBD_ECHO;
}

static void bad_leds(struct i8042_state *st)
{
	st->kbd_leds = 8;
}

static void bad_typematic(struct i8042_state *st)
{
	st->kbd_typematic = 0x80;
}

static void bad_scanset(struct i8042_state *st)
{
	st->kbd_scanset = 4;
}

static void no_scanset(struct i8042_state *st)
{
	st->kbd_scanset = 0;
}

static void line_without_byte(struct i8042_state *st)
{
	st->out_from_kbd = 0; /* a controller reply raises no line */
}

static void byte_stuck_behind_empty_buffer(struct i8042_state *st)
{
	st->obf = 0;
	st->irq_line = 0;
}

START_TEST(snapshot_refuses_corrupt_state)
{
	static void (*const corrupt[])(struct i8042_state *) = {
		bad_head,	   bad_count,
		bad_flag,	   bad_obf,
		bad_scanning,	   reset_held_low,
		bad_param_cmd,	   bad_kbd_param_cmd,
		bad_leds,	   bad_typematic,
		bad_scanset,	   no_scanset,
		line_without_byte, byte_stuck_behind_empty_buffer,
	};
	struct i8042_state good, st;
	struct i8042 before;

	busy_kbc();
	i8042_save(&kbc, &good);
	ck_assert_uint_eq(good.irq_line, 1);
	ck_assert_uint_ne(good.kbd_count, 0);
	make_b();
	devfix_out8(&fxb, DATA, I8042_KBD_ECHO);
	for (unsigned int i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		unsigned int calls = fxb.irq.calls;

		st = good;
		corrupt[i](&st);
		before = kbcb;
		ck_assert_msg(i8042_restore(&kbcb, &st) == -EINVAL, "corruption %u accepted", i);
		/* Unchanged, the lock aside (its bytes may move while taken and given back). */
		memcpy(&before.lock, &kbcb.lock, sizeof(before.lock));
		ck_assert_msg(memcmp(&before, &kbcb, sizeof(before)) == 0, "corruption %u", i);
		ck_assert_uint_eq(fxb.irq.calls, calls);
	}
	ck_assert_uint_eq(devfix_in8(&fxb, DATA), I8042_KBD_ECHO);
	ck_assert_int_eq(i8042_restore(&kbcb, &good), 0);
	ck_assert_uint_eq(devfix_in8(&fxb, DATA), 0xab);
	drop_b();
}
END_TEST

static Suite *i8042_suite(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc = tcase_create("i8042");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, power_on_state);
	tcase_add_test(tc, self_test);
	tcase_add_test(tc, ctr_read_write);
	tcase_add_test(tc, keyboard_reset);
	tcase_add_test(tc, keyboard_get_id_and_echo);
	tcase_add_test(tc, keyboard_parameters);
	tcase_add_test(tc, reset_requests);
	tcase_add_test(tc, linux_finds_no_aux_at_once);
	tcase_add_test(tc, linux_noloop_finds_no_aux);
	tcase_add_test(tc, aux_commands);
	tcase_add_test(tc, irq1_only_when_enabled);
	tcase_add_test(tc, disabled_keyboard_holds_bytes);
	tcase_add_test(tc, reply_displaces_keyboard_byte);
	tcase_add_test(tc, keyboard_fifo_overrun);
	tcase_add_test(tc, snapshot_restores_everything);
	tcase_add_test(tc, snapshot_refuses_corrupt_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(i8042_suite());
}
