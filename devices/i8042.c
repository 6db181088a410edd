// SPDX-License-Identifier: MIT
#include "config.h"

#include "i8042.h"
#include "core/bus.h"

#include <errno.h>
#include <string.h>

#define KBD_ID_1 0xab
#define KBD_ID_2 0x83
#define KBD_SCANSET_DEFAULT 2
#define KBD_TYPEMATIC_DEFAULT 0x2b /* 10.9 characters/s after 500 ms */

void i8042_init(struct i8042 *k, const struct i8042_host *host)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->host = *host;
	k->ctr = I8042_CTR_DEFAULT;
	k->outport = I8042_OUT_RESET | I8042_OUT_A20;
	k->kbd_scanset = KBD_SCANSET_DEFAULT;
	k->kbd_typematic = KBD_TYPEMATIC_DEFAULT;
	k->kbd_scanning = true;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

/*
 * IRQ 1 follows "keyboard byte in the output buffer and CTR bit 0", as the
 * chip's pin does; the PIC takes edges, so each rise is sent as a pulse.
 */
static void update_irq(struct i8042 *k)
{
	bool line = k->obf && k->out_from_kbd && (k->ctr & I8042_CTR_KBDINT);

	if (line && !k->irq_line && k->host.irq_set) {
		k->host.irq_set(k->host.irq_opaque, 1);
		k->host.irq_set(k->host.irq_opaque, 0);
	}
	k->irq_line = line;
}

/* A byte the keyboard sends. Beyond a full FIFO it is lost, as a real keyboard overruns. */
static void kbd_send(struct i8042 *k, uint8_t b)
{
	k->kbd_last = b;
	if (k->kbd_count == I8042_KBD_FIFO_SIZE)
		return;
	k->kbd_fifo[(k->kbd_head + k->kbd_count) % I8042_KBD_FIFO_SIZE] = b;
	k->kbd_count++;
}

/* Puts a byte back at the head of the keyboard FIFO. */
static void kbd_unread(struct i8042 *k, uint8_t b)
{
	if (k->kbd_count == I8042_KBD_FIFO_SIZE)
		return;
	k->kbd_head = (k->kbd_head + I8042_KBD_FIFO_SIZE - 1) % I8042_KBD_FIFO_SIZE;
	k->kbd_fifo[k->kbd_head] = b;
	k->kbd_count++;
}

/* Moves the next keyboard byte into an empty output buffer unless the interface is disabled. */
static void refill(struct i8042 *k)
{
	if (k->obf || !k->kbd_count || (k->ctr & I8042_CTR_KBDDIS))
		return;
	k->out = k->kbd_fifo[k->kbd_head];
	k->kbd_head = (k->kbd_head + 1) % I8042_KBD_FIFO_SIZE;
	k->kbd_count--;
	k->obf = true;
	k->out_from_kbd = true;
}

/* The controller writes the output buffer itself, over whatever it held. */
static void put_out(struct i8042 *k, uint8_t b, bool from_kbd)
{
	if (k->obf && k->out_from_kbd)
		kbd_unread(k, k->out);
	k->out = b;
	k->obf = true;
	k->out_from_kbd = from_kbd;
}

static void kbd_defaults(struct i8042 *k)
{
	k->kbd_leds = 0;
	k->kbd_typematic = KBD_TYPEMATIC_DEFAULT;
	k->kbd_scanset = KBD_SCANSET_DEFAULT;
}

/* A parameter byte for the keyboard command waiting for one. */
static void kbd_param(struct i8042 *k, uint8_t cmd, uint8_t b)
{
	kbd_send(k, I8042_KBD_ACK);
	switch (cmd) {
	case I8042_KBD_SET_LEDS:
		k->kbd_leds = b & 0x07;
		break;
	case I8042_KBD_TYPEMATIC:
		k->kbd_typematic = b;
		break;
	case I8042_KBD_SCANSET:
		if (b == 0)
			kbd_send(k, k->kbd_scanset); /* a query */
		else if (b <= 3)
			k->kbd_scanset = b;
		break;
	}
}

/*
 * A byte the guest sends to the keyboard. Every reply is queued at once, so
 * libps2's __ps2_command (which atkbd_probe uses for GET_ID, and atkbd for
 * reset, LEDs and typematic) gets its ACK and answer bytes, one interrupt
 * each, with no timeout.
 */
static void kbd_write(struct i8042 *k, uint8_t b)
{
	uint8_t cmd = k->kbd_param_cmd;

	k->kbd_param_cmd = 0;
	/* Parameters are below 0x80; a command byte instead starts a new command. */
	if (cmd && !(b & 0x80)) {
		kbd_param(k, cmd, b);
		return;
	}
	switch (b) {
	case I8042_KBD_SET_LEDS:
	case I8042_KBD_TYPEMATIC:
	case I8042_KBD_SCANSET:
		kbd_send(k, I8042_KBD_ACK);
		k->kbd_param_cmd = b;
		break;
	case I8042_KBD_ECHO:
		kbd_send(k, I8042_KBD_ECHO);
		break;
	case I8042_KBD_GET_ID:
		kbd_send(k, I8042_KBD_ACK);
		kbd_send(k, KBD_ID_1);
		kbd_send(k, KBD_ID_2);
		break;
	case I8042_KBD_ENABLE:
		k->kbd_scanning = true;
		kbd_send(k, I8042_KBD_ACK);
		break;
	case I8042_KBD_RESET_DISABLE:
		kbd_defaults(k);
		k->kbd_scanning = false;
		kbd_send(k, I8042_KBD_ACK);
		break;
	case I8042_KBD_RESET_DEFAULT:
		kbd_defaults(k);
		kbd_send(k, I8042_KBD_ACK);
		break;
	case 0xf7: /* set-3 key types: nothing to change, no scancodes are sent */
	case 0xf8:
	case 0xf9:
	case 0xfa:
	case 0xfb:
	case 0xfc:
	case 0xfd:
		kbd_send(k, I8042_KBD_ACK);
		break;
	case I8042_KBD_RESEND:
		kbd_send(k, k->kbd_last);
		break;
	case I8042_KBD_RESET:
		/* Reset drops what the keyboard had not sent yet, then passes its self test. */
		k->kbd_head = 0;
		k->kbd_count = 0;
		kbd_defaults(k);
		k->kbd_scanning = true;
		kbd_send(k, I8042_KBD_ACK);
		kbd_send(k, I8042_KBD_BAT_OK);
		break;
	default:
		kbd_send(k, I8042_KBD_NAK);
		break;
	}
}

uint8_t i8042_read_status(struct i8042 *k)
{
	uint8_t s = I8042_STR_KEYLOCK; /* IBF is never set: commands complete at once */

	pthread_mutex_lock(&k->lock);
	if (k->obf)
		s |= I8042_STR_OBF;
	if (k->ctr & I8042_CTR_SYS)
		s |= I8042_STR_SYS;
	if (k->last_write_cmd)
		s |= I8042_STR_CMDDAT;
	/* AUXDATA never: no byte comes from an AUX port (see I8042_CMD_AUX_LOOP). */
	pthread_mutex_unlock(&k->lock);
	return s;
}

uint8_t i8042_read_data(struct i8042 *k)
{
	uint8_t v;

	pthread_mutex_lock(&k->lock);
	v = k->out; /* with nothing new, the last byte again, as the chip does */
	k->obf = false;
	update_irq(k);
	refill(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return v;
}

void i8042_write_command(struct i8042 *k, uint8_t cmd)
{
	bool reset = false;

	pthread_mutex_lock(&k->lock);
	k->last_write_cmd = true;
	k->param_cmd = 0;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		put_out(k, k->ctr, false);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPORT:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		k->param_cmd = cmd;
		break;
	case I8042_CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_TEST:
		/* See I8042_CMD_AUX_LOOP in i8042_write_data(). */
		put_out(k, I8042_AUX_TEST_NO_PORT, false);
		break;
	case I8042_CMD_SELF_TEST:
		k->ctr |= I8042_CTR_SYS;
		put_out(k, I8042_SELF_TEST_OK, false);
		break;
	case I8042_CMD_KBD_TEST:
		put_out(k, 0x00, false);
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_READ_OUTPORT:
		put_out(k, k->outport, false);
		break;
	default:
		/*
		 * 0xf0-0xff pulse output port bits 3:0 low where the command has a
		 * 0 bit; only bit 0, the reset line, is wired to anything.
		 */
		if (cmd >= 0xf0 && !(cmd & I8042_OUT_RESET))
			reset = true;
		break; /* other commands are ignored */
	}
	refill(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->host.reset)
		k->host.reset(k->host.reset_opaque);
}

void i8042_write_data(struct i8042 *k, uint8_t value)
{
	bool reset = false;
	uint8_t cmd;

	pthread_mutex_lock(&k->lock);
	k->last_write_cmd = false;
	cmd = k->param_cmd;
	k->param_cmd = 0;
	switch (cmd) {
	case I8042_CMD_WRITE_CTR:
		k->ctr = value;
		break;
	case I8042_CMD_WRITE_OUTPORT:
		reset = !(value & I8042_OUT_RESET);
		k->outport = value | I8042_OUT_RESET; /* the reset, once requested, is over */
		break;
	case I8042_CMD_KBD_LOOP:
		put_out(k, value, true);
		break;
	case I8042_CMD_AUX_LOOP:
		/*
		 * There is no AUX port, and Linux 6.1 must learn that without
		 * waiting. i8042_setup_aux() gives up on AUX (-ENODEV, and
		 * never tries i8042_check_mux()) when i8042_check_aux() fails.
		 * After i8042_flush(), that function:
		 *  1. Sends AUX_LOOP (0xd3) with 0x5a through __i8042_command(),
		 *     which polls for OBF (i8042_wait_read(), up to 500 ms) and,
		 *     for this command only, fails ("auxerr") when the byte
		 *     waiting lacks AUXDATA, without reading it. So the byte is
		 *     handed back at once with AUXDATA clear: with no AUX side,
		 *     the controller has only its own side to return it on.
		 *     (Echoing it with AUXDATA would pass the loop test and send
		 *     Linux to its AUX IRQ test, which waits 250 ms for an IRQ 12
		 *     that never comes.)
		 *  2. As the loop failed, sends AUX_TEST (0xa9) and accepts only
		 *     0x00, 0xfa or 0xff. The answer is 0x02 (clock line stuck
		 *     high: nothing is there to clock), so i8042_check_aux()
		 *     returns -1 before i8042_toggle_aux() or the IRQ test. The
		 *     answer replaces the unread loop byte in the output buffer,
		 *     so nothing stale is left for the keyboard driver.
		 * Two commands, no timeout. With i8042.noloop, step 2 alone
		 * decides the same way.
		 */
		put_out(k, value, false);
		break;
	case I8042_CMD_AUX_SEND:
		break; /* no AUX device to receive it */
	default:
		kbd_write(k, value);
		break;
	}
	refill(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->host.reset)
		k->host.reset(k->host.reset_opaque);
}

void i8042_save(struct i8042 *k, struct i8042_state *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&k->lock);
	memcpy(out->kbd_fifo, k->kbd_fifo, sizeof(out->kbd_fifo));
	out->kbd_head = (uint8_t)k->kbd_head;
	out->kbd_count = (uint8_t)k->kbd_count;
	out->ctr = k->ctr;
	out->outport = k->outport;
	out->last_write_cmd = k->last_write_cmd;
	out->param_cmd = k->param_cmd;
	out->obf = k->obf;
	out->out_from_kbd = k->out_from_kbd;
	out->out = k->out;
	out->irq_line = k->irq_line;
	out->kbd_param_cmd = k->kbd_param_cmd;
	out->kbd_last = k->kbd_last;
	out->kbd_leds = k->kbd_leds;
	out->kbd_typematic = k->kbd_typematic;
	out->kbd_scanset = k->kbd_scanset;
	out->kbd_scanning = k->kbd_scanning;
	pthread_mutex_unlock(&k->lock);
}

static bool state_valid(const struct i8042_state *st)
{
	bool line = st->obf && st->out_from_kbd && (st->ctr & I8042_CTR_KBDINT);

	if (st->last_write_cmd > 1 || st->obf > 1 || st->out_from_kbd > 1 || st->irq_line > 1 ||
	    st->kbd_scanning > 1)
		return false;
	if (st->kbd_head >= I8042_KBD_FIFO_SIZE || st->kbd_count > I8042_KBD_FIFO_SIZE)
		return false;
	/* The reset line is high again as soon as a write to the output port is done. */
	if (!(st->outport & I8042_OUT_RESET))
		return false;
	switch (st->param_cmd) {
	case 0:
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPORT:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		break;
	default:
		return false;
	}
	switch (st->kbd_param_cmd) {
	case 0:
	case I8042_KBD_SET_LEDS:
	case I8042_KBD_TYPEMATIC:
	case I8042_KBD_SCANSET:
		break;
	default:
		return false;
	}
	/* Parameters are below 0x80: see kbd_write(). */
	if (st->kbd_leds > 7 || st->kbd_typematic >= 0x80 || st->kbd_scanset < 1 ||
	    st->kbd_scanset > 3)
		return false;
	/* Every entry point ends with refill() and update_irq(). */
	if (!st->obf && st->kbd_count && !(st->ctr & I8042_CTR_KBDDIS))
		return false;
	return st->irq_line == line;
}

int i8042_restore(struct i8042 *k, const struct i8042_state *st)
{
	if (!state_valid(st))
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	memcpy(k->kbd_fifo, st->kbd_fifo, sizeof(k->kbd_fifo));
	k->kbd_head = st->kbd_head;
	k->kbd_count = st->kbd_count;
	k->ctr = st->ctr;
	k->outport = st->outport;
	k->last_write_cmd = st->last_write_cmd;
	k->param_cmd = st->param_cmd;
	k->obf = st->obf;
	k->out_from_kbd = st->out_from_kbd;
	k->out = st->out;
	k->irq_line = st->irq_line;
	k->kbd_param_cmd = st->kbd_param_cmd;
	k->kbd_last = st->kbd_last;
	k->kbd_leds = st->kbd_leds;
	k->kbd_typematic = st->kbd_typematic;
	k->kbd_scanset = st->kbd_scanset;
	k->kbd_scanning = st->kbd_scanning;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static uint64_t i8042_data_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)offset;
	(void)size;
	return i8042_read_data(opaque);
}

static void i8042_data_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)offset;
	(void)size;
	i8042_write_data(opaque, (uint8_t)value);
}

static uint64_t i8042_cmd_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)offset;
	(void)size;
	return i8042_read_status(opaque);
}

static void i8042_cmd_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)offset;
	(void)size;
	i8042_write_command(opaque, (uint8_t)value);
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_bus_read,
	.write = i8042_data_bus_write,
	.min_access = 1,
	.max_access = 1,
};

static const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_bus_read,
	.write = i8042_cmd_bus_write,
	.min_access = 1,
	.max_access = 1,
};

int i8042_register(struct i8042 *k, struct bus *pio)
{
	int ret = bus_register(pio, I8042_DATA_PORT, 1, &i8042_data_ops, k, "i8042");

	if (ret)
		return ret;
	return bus_register(pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, k, "i8042");
}
