/* SPDX-License-Identifier: MIT */
/*
 * The i8042 PS/2 controller at ports 0x60 (data) and 0x64 (status/command),
 * with a keyboard attached and no AUX (mouse) port, as far as Linux probes
 * them; and the system reset line it drives.
 *
 * Commands complete at once: IBF never reads set, and a reply is in the
 * output buffer when the command write returns. The keyboard answers its
 * commands the same way, through a small FIFO behind the output buffer; the
 * output buffer shows one byte at a time, and the next keyboard byte moves in
 * when the guest reads the data port, while the keyboard interface is enabled
 * (CTR bit 4 clear). A controller reply overwrites the output buffer, as on
 * the chip; a keyboard byte it displaces goes back to the head of the FIFO,
 * so no keyboard data is lost.
 *
 * IRQ 1 is pulsed (raised, then lowered) whenever a keyboard byte is in the
 * output buffer while CTR bit 0 is set and either was not so before: when a
 * keyboard byte moves in, or when the guest sets bit 0 with one waiting.
 * Controller replies raise nothing. IRQ 12 is never raised.
 *
 * The keyboard does not translate its replies (CTR bit 6 is only stored): it
 * sends no scancodes, and Linux's atkbd accepts the untranslated ID 0xab83.
 * The A20 bit of the output port is stored and has no effect.
 *
 * All entry points take the device's lock. The reset callback runs after the
 * lock is released.
 */
#ifndef EMBER_I8042_H
#define EMBER_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_KBD_FIFO_SIZE 16

/* Status register (read at 0x64). */
#define I8042_STR_OBF 0x01
#define I8042_STR_IBF 0x02
#define I8042_STR_SYS 0x04
#define I8042_STR_CMDDAT 0x08  /* last write went to 0x64 */
#define I8042_STR_KEYLOCK 0x10 /* set: keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20

/* Controller command byte (CTR). */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

/* What a PC BIOS leaves after POST: keyboard on with interrupts, AUX off, translation on. */
#define I8042_CTR_DEFAULT (I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_AUXDIS | I8042_CTR_XLATE)

/* Controller commands (written to 0x64). */
#define I8042_CMD_READ_CTR 0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_OUTPORT 0xd0
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_KBD_LOOP 0xd2
#define I8042_CMD_AUX_LOOP 0xd3
#define I8042_CMD_AUX_SEND 0xd4
#define I8042_CMD_PULSE_RESET 0xfe

#define I8042_SELF_TEST_OK 0x55
/* The AUX interface test's answer: clock line stuck high (see i8042.c). */
#define I8042_AUX_TEST_NO_PORT 0x02

/* Output port (0xd0/0xd1). */
#define I8042_OUT_RESET 0x01 /* low: system reset */
#define I8042_OUT_A20 0x02

/* Keyboard commands and replies. */
#define I8042_KBD_SET_LEDS 0xed
#define I8042_KBD_ECHO 0xee
#define I8042_KBD_SCANSET 0xf0
#define I8042_KBD_GET_ID 0xf2
#define I8042_KBD_TYPEMATIC 0xf3
#define I8042_KBD_ENABLE 0xf4
#define I8042_KBD_RESET_DISABLE 0xf5
#define I8042_KBD_RESET_DEFAULT 0xf6
#define I8042_KBD_RESEND 0xfe
#define I8042_KBD_RESET 0xff
#define I8042_KBD_ACK 0xfa
#define I8042_KBD_BAT_OK 0xaa
#define I8042_KBD_NAK 0xfe

struct i8042_host {
	/* IRQ 1, pulsed: raised, then lowered. */
	void (*irq_set)(void *opaque, int level);
	void *irq_opaque;
	/* The guest asked for a system reset. May be NULL. */
	void (*reset)(void *opaque);
	void *reset_opaque;
};

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_host host;

	uint8_t ctr;
	uint8_t outport;
	bool last_write_cmd; /* status CMD/DATA */
	uint8_t param_cmd;   /* controller command waiting for its byte at 0x60; 0: none */

	/* The output buffer. */
	bool obf;
	bool out_from_kbd;
	uint8_t out;
	bool irq_line; /* keyboard byte shown with CTR bit 0 set */

	/* The keyboard. */
	uint8_t kbd_fifo[I8042_KBD_FIFO_SIZE];
	unsigned int kbd_head;
	unsigned int kbd_count;
	uint8_t kbd_param_cmd; /* keyboard command waiting for its parameter; 0: none */
	uint8_t kbd_last;      /* for resend */
	uint8_t kbd_leds;
	uint8_t kbd_typematic;
	uint8_t kbd_scanset;
	bool kbd_scanning;
};

void i8042_init(struct i8042 *k, const struct i8042_host *host);
void i8042_destroy(struct i8042 *k);
/* Registers ports 0x60 and 0x64 on a port bus. */
int i8042_register(struct i8042 *k, struct bus *pio);

uint8_t i8042_read_data(struct i8042 *k);
uint8_t i8042_read_status(struct i8042 *k);
void i8042_write_data(struct i8042 *k, uint8_t value);
void i8042_write_command(struct i8042 *k, uint8_t value);

/*
 * What a snapshot keeps of the controller and its keyboard: plain data,
 * fixed layout (a section of the snapshot file, written byte for byte).
 */
struct i8042_state {
	uint8_t kbd_fifo[I8042_KBD_FIFO_SIZE]; /* the keyboard's ring, stale bytes included */
	uint8_t kbd_head;		       /* < I8042_KBD_FIFO_SIZE */
	uint8_t kbd_count;		       /* <= I8042_KBD_FIFO_SIZE */
	uint8_t ctr;
	uint8_t outport;	/* I8042_OUT_RESET set */
	uint8_t last_write_cmd; /* this and the flags below: 0 or 1 */
	uint8_t param_cmd;	/* 0 or a controller command that takes a data byte */
	uint8_t obf;
	uint8_t out_from_kbd;
	uint8_t out;
	uint8_t irq_line;      /* as the output buffer and CTR bit 0 make it */
	uint8_t kbd_param_cmd; /* 0, or SET_LEDS, TYPEMATIC or SCANSET */
	uint8_t kbd_last;
	uint8_t kbd_leds;      /* 0..7 */
	uint8_t kbd_typematic; /* < 0x80 */
	uint8_t kbd_scanset;   /* 1..3 */
	uint8_t kbd_scanning;
};
_Static_assert(sizeof(struct i8042_state) == 32, "i8042_state is a fixed 32 bytes");

#define I8042_STATE_VERSION 1

/* Takes the device's lock. Fills all of `out`. */
void i8042_save(struct i8042 *k, struct i8042_state *out);
/*
 * Replaces the device's state with `st`, from a file that may be hostile:
 * every field is checked, and a value the device could not have reached
 * leaves it unchanged with -EINVAL. IRQ 1 is only ever pulsed and was
 * pulsed before the save for a byte already shown, so nothing is sent: the
 * line stays low, as on a fresh device. Host callbacks and the lock are
 * kept. Takes the device's lock. 0 or -EINVAL.
 */
int i8042_restore(struct i8042 *k, const struct i8042_state *st);

#endif
