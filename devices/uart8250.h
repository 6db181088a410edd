/* SPDX-License-Identifier: MIT */
/*
 * An 8250/16550A UART: the register machine behind COM1.
 *
 * Transmission is instant (THR empties as soon as it is written), so LSR's
 * THRE and TEMT are always set. Reception goes through a 16-byte FIFO that
 * the host side fills with uart8250_rx_push(); the received-data interrupt
 * follows the FIFO trigger level, and the character-timeout interrupt fires
 * once the host says no more input is coming for now (uart8250_rx_idle()).
 * The host is offered only the room there is: what does not fit stays with
 * it until the guest's read frees room (the rx_space callback). A byte that
 * really arrives with the FIFO full (the transmitter's own, in loopback) is
 * lost and sets the overrun error; the FIFO's contents are never overwritten.
 *
 * The device knows nothing of terminals or KVM: it gets an irq_set callback
 * and a TX sink. All entry points take the device's lock.
 */
#ifndef EMBER_UART8250_H
#define EMBER_UART8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;

#define UART8250_COM1_BASE 0x3f8
#define UART8250_COM1_IRQ 4
#define UART8250_FIFO_SIZE 16

struct uart8250_host {
	void (*irq_set)(void *opaque, int level);
	void *irq_opaque;
	/* Bytes the guest sent (not in loopback mode). */
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	void *tx_opaque;
	/* The guest read from the RX FIFO: the host may push more. May be NULL. */
	void (*rx_space)(void *opaque);
	void *rx_opaque;
};

struct uart8250 {
	pthread_mutex_t lock;
	struct uart8250_host host;

	uint8_t rx[UART8250_FIFO_SIZE];
	unsigned int rx_head;
	unsigned int rx_count;
	bool rx_idle;	   /* the host has nothing more queued: timeout may fire */
	bool thr_ipending; /* THR-empty interrupt pending */

	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	int irq_level;
};

void uart8250_init(struct uart8250 *u, const struct uart8250_host *host);
void uart8250_destroy(struct uart8250 *u);
/* Registers the 8 ports at `base` on a port bus. */
int uart8250_register(struct uart8250 *u, struct bus *pio, uint16_t base);

/* Register access by offset 0..7, as the bus delivers it. */
uint8_t uart8250_read(struct uart8250 *u, unsigned int offset);
void uart8250_write(struct uart8250 *u, unsigned int offset, uint8_t value);

/*
 * Host input. rx_push() queues what fits and returns how many bytes it took;
 * the caller keeps the rest for later (no overrun: nothing is lost).
 * rx_space() tells how many more fit.
 */
size_t uart8250_rx_push(struct uart8250 *u, const uint8_t *buf, size_t len);
size_t uart8250_rx_space(struct uart8250 *u);
void uart8250_rx_idle(struct uart8250 *u);

/*
 * What a snapshot keeps of the UART: plain data, fixed layout (a section of
 * the snapshot file, written byte for byte). The interrupt level is derived
 * from the rest; it is kept so that a restore can check it agrees.
 */
struct uart8250_state {
	uint8_t rx[UART8250_FIFO_SIZE]; /* the FIFO's ring, stale bytes included */
	uint8_t rx_head;		/* < UART8250_FIFO_SIZE */
	uint8_t rx_count;		/* <= 16 with FIFOs, 1 without */
	uint8_t rx_idle;		/* 0 or 1 */
	uint8_t thr_ipending;		/* 0 or 1 */
	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t irq_level; /* 0 or 1 */
	uint8_t pad[2];	   /* zero */
};
_Static_assert(sizeof(struct uart8250_state) == 32, "uart8250_state is a fixed 32 bytes");

#define UART8250_STATE_VERSION 1

/* Takes the device's lock. Fills all of `out`, padding included (zeroes). */
void uart8250_save(struct uart8250 *u, struct uart8250_state *out);
/*
 * Replaces the device's state with `st`, from a file that may be hostile:
 * every field is checked, and a value the device could not have reached
 * leaves it unchanged with -EINVAL. On success the IRQ line is driven to
 * the restored level (irq_set is called, whatever the level). Host
 * callbacks and the lock are kept. Takes the device's lock. 0 or -EINVAL.
 */
int uart8250_restore(struct uart8250 *u, const struct uart8250_state *st);

/* Registers, offsets as in the datasheet. */
enum {
	UART_RBR = 0,
	UART_THR = 0,
	UART_DLL = 0,
	UART_IER = 1,
	UART_DLM = 1,
	UART_IIR = 2,
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* THR empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08  /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_TIMEOUT 0x0c
#define UART_IIR_FIFO 0xc0 /* FIFOs enabled */

#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_FIFOE 0x80

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#endif
