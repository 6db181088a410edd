// SPDX-License-Identifier: MIT
/* The 8250/16550A UART, driven through a port bus with an IRQ recorder. */
#include "config.h"

#include "devfix.h"
#include "devices/uart8250.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

#define COM1 0x3f8

static struct devfix fx;
static struct uart8250 uart;
static uint8_t sent[256];
static size_t nsent;
static unsigned int space_calls;

static void rec_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	memcpy(sent + nsent, buf, len);
	nsent += len;
}

static void rec_space(void *opaque)
{
	(void)opaque;
	space_calls++;
}

static void setup(void)
{
	struct uart8250_host host = {
		.irq_set = devfix_irq_set,
		.irq_opaque = &fx.irq,
		.tx = rec_tx,
		.rx_space = rec_space,
	};

	nsent = 0;
	space_calls = 0;
	devfix_init(&fx);
	uart8250_init(&uart, &host);
	ck_assert_int_eq(uart8250_register(&uart, fx.pio, COM1), 0);
}

static void teardown(void)
{
	devfix_fini(&fx);
	uart8250_destroy(&uart);
}

static void push(const char *s)
{
	uart8250_rx_push(&uart, (const uint8_t *)s, strlen(s));
}

START_TEST(reset_state)
{
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_NO_INT);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_MSR),
			  UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IER), 0);
	ck_assert_int_eq(fx.irq.level, 0);
}
END_TEST

START_TEST(transmit_and_thr_empty_interrupt)
{
	devfix_out8(&fx, COM1 + UART_THR, 'h');
	devfix_out8(&fx, COM1 + UART_THR, 'i');
	ck_assert_uint_eq(nsent, 2);
	ck_assert_mem_eq(sent, "hi", 2);
	ck_assert_int_eq(fx.irq.level, 0); /* THRI not enabled */

	devfix_out8(&fx, COM1 + UART_IER, UART_IER_THRI); /* enabling it with THR empty raises it */
	ck_assert_int_eq(fx.irq.level, 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_THRI);
	/* Reading IIR acknowledged it. */
	ck_assert_int_eq(fx.irq.level, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_NO_INT);
	devfix_out8(&fx, COM1 + UART_THR, '!');
	ck_assert_int_eq(fx.irq.level, 1);
	ck_assert_uint_eq(fx.irq.edges, 2);
}
END_TEST

START_TEST(receive_without_fifo)
{
	devfix_out8(&fx, COM1 + UART_IER, UART_IER_RDI);
	push("a");
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	ck_assert_int_eq(fx.irq.level, 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_RDI);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'a');
	ck_assert_int_eq(fx.irq.level, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, 0);
	ck_assert_uint_eq(space_calls, 1);

	/* One holding register: it takes one byte of two, the other stays with the host. */
	ck_assert_uint_eq(uart8250_rx_space(&uart), 1);
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)"bc", 2), 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_OE, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'b');
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)"c", 1), 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'c');
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_OE, 0);
}
END_TEST

START_TEST(fifo_trigger_levels)
{
	static const struct {
		uint8_t fcr;
		unsigned int level;
	} t[] = { { 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 } };

	devfix_out8(&fx, COM1 + UART_IER, UART_IER_RDI);
	for (unsigned int i = 0; i < 4; i++) {
		devfix_out8(&fx, COM1 + UART_FCR, t[i].fcr | UART_FCR_CLEAR_RX);
		for (unsigned int k = 0; k + 1 < t[i].level; k++)
			push("x");
		/* Below the trigger and more may come: no interrupt yet. */
		ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR),
				  UART_IIR_FIFO | UART_IIR_NO_INT);
		push("y");
		ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
		ck_assert_int_eq(fx.irq.level, 1);
	}
}
END_TEST

START_TEST(character_timeout)
{
	devfix_out8(&fx, COM1 + UART_FCR, 0xc1); /* trigger at 14 */
	devfix_out8(&fx, COM1 + UART_IER, UART_IER_RDI);
	push("ab");
	ck_assert_int_eq(fx.irq.level, 0);
	/* The host has nothing more: the data below the trigger times out. */
	uart8250_rx_idle(&uart);
	ck_assert_int_eq(fx.irq.level, 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'a');
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_FIFO | UART_IIR_TIMEOUT);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'b');
	ck_assert_int_eq(fx.irq.level, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
}
END_TEST

/* More host input than the FIFO holds: it takes 16, the rest waits, nothing overruns. */
START_TEST(host_input_beyond_the_fifo_waits)
{
	const char *s = "0123456789abcdefXYZ";

	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE);
	ck_assert_uint_eq(uart8250_rx_space(&uart), 16);
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)s, strlen(s)), 16);
	ck_assert_uint_eq(uart8250_rx_space(&uart), 0);
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)"!", 1), 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			  UART_LSR_DR);
	for (unsigned int i = 0; i < 16; i++)
		ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), (uint8_t)s[i]);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & (UART_LSR_OE | UART_LSR_DR), 0);
	ck_assert_uint_eq(space_calls, 16);
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)s + 16, 3), 3);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'X');
}
END_TEST

/* A byte that really arrives with the FIFO full (looped back) is lost: overrun. */
START_TEST(overrun_keeps_the_fifo)
{
	const char *s = "0123456789abcdefXYZ";

	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE);
	devfix_out8(&fx, COM1 + UART_MCR, UART_MCR_LOOP);
	for (unsigned int i = 0; i < 16; i++)
		devfix_out8(&fx, COM1 + UART_THR, (uint8_t)s[i]);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			  UART_LSR_DR);
	devfix_out8(&fx, COM1 + UART_THR, (uint8_t)s[16]);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			  UART_LSR_OE | UART_LSR_DR);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_OE,
			  0); /* cleared by the read */
	for (unsigned int i = 0; i < 16; i++)
		ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), (uint8_t)s[i]);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, 0);

	/* Without FIFOs the holding register takes one: the second is lost. */
	devfix_out8(&fx, COM1 + UART_FCR, 0);
	devfix_out8(&fx, COM1 + UART_THR, 'a');
	devfix_out8(&fx, COM1 + UART_THR, 'b');
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			  UART_LSR_OE | UART_LSR_DR);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 'a');
}
END_TEST

START_TEST(interrupt_priorities)
{
	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE);
	devfix_out8(&fx, COM1 + UART_IER,
		    UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
	/*
	 * THR empty is pending from enabling it; add data and an overrun (17
	 * bytes looped back) and a modem change (the lines drop in loopback).
	 */
	devfix_out8(&fx, COM1 + UART_MCR, UART_MCR_LOOP);
	for (unsigned int i = 0; i < 17; i++)
		devfix_out8(&fx, COM1 + UART_THR, 'z');
	devfix_out8(&fx, COM1 + UART_MCR, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & 0x0f, UART_IIR_RLSI);
	devfix_in8(&fx, COM1 + UART_LSR);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & 0x0f, UART_IIR_RDI);
	for (unsigned int i = 0; i < 16; i++)
		devfix_in8(&fx, COM1 + UART_RBR);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & 0x0f,
			  UART_IIR_THRI); /* and this read acknowledges it */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & 0x0f, UART_IIR_MSI);
	ck_assert_uint_ne(devfix_in8(&fx, COM1 + UART_MSR) & 0x0f, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & 0x0f, UART_IIR_NO_INT);
	ck_assert_int_eq(fx.irq.level, 0);
}
END_TEST

START_TEST(divisor_latch)
{
	devfix_out8(&fx, COM1 + UART_LCR, UART_LCR_DLAB | 0x03);
	devfix_out8(&fx, COM1 + UART_DLL, 0);
	devfix_out8(&fx, COM1 + UART_DLM, 0); /* a zero divisor is harmless */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_DLL), 0);
	devfix_out8(&fx, COM1 + UART_DLL, 0x01);
	devfix_out8(&fx, COM1 + UART_DLM, 0x02);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_DLL), 0x01);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_DLM), 0x02);
	ck_assert_uint_eq(nsent, 0); /* DLL writes are not data */
	devfix_out8(&fx, COM1 + UART_LCR, 0x03);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IER), 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LCR), 0x03);
	devfix_out8(&fx, COM1 + UART_THR, 'k');
	ck_assert_uint_eq(nsent, 1);
}
END_TEST

START_TEST(loopback)
{
	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE);
	devfix_out8(&fx, COM1 + UART_MCR,
		    UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_DTR | UART_MCR_OUT1 | UART_MCR_OUT2);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_MSR) & 0xf0,
			  UART_MSR_CTS | UART_MSR_DSR | UART_MSR_RI | UART_MSR_DCD);
	devfix_out8(&fx, COM1 + UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_MSR),
			  UART_MSR_CTS | UART_MSR_DDSR | UART_MSR_TERI | UART_MSR_DDCD);
	devfix_out8(&fx, COM1 + UART_THR, 0x5a);
	ck_assert_uint_eq(nsent, 0); /* nothing reaches the host */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	/* Host input waits while the receiver listens to the loop. */
	ck_assert_uint_eq(uart8250_rx_space(&uart), 0);
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)"h", 1), 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), 0x5a);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, 0);
	ck_assert_uint_eq(space_calls, 0);
	devfix_out8(&fx, COM1 + UART_MCR, 0); /* back on the line: room for the host again */
	ck_assert_uint_eq(space_calls, 1);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_MSR) & 0xf0,
			  UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}
END_TEST

START_TEST(fifo_clear_and_scratch)
{
	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE);
	push("abc");
	devfix_out8(&fx, COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, 0);
	push("d");
	devfix_out8(&fx, COM1 + UART_FCR, 0); /* disabling the FIFOs empties them too */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR) & UART_LSR_DR, 0);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_IIR) & UART_IIR_FIFO, 0);
	devfix_out8(&fx, COM1 + UART_SCR, 0xa5);
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_SCR), 0xa5);
	devfix_out8(&fx, COM1 + UART_LSR, 0x00); /* read-only */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
}
END_TEST

/* --- snapshots ------------------------------------------------------------------------ */

/* A second UART, as a new process makes it: its own bus and IRQ recorder, no TX sink of note. */
static struct devfix fxb;
static struct uart8250 uartb;

static void rec_tx_b(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
}

static void make_b(void)
{
	struct uart8250_host host = {
		.irq_set = devfix_irq_set,
		.irq_opaque = &fxb.irq,
		.tx = rec_tx_b,
	};

	devfix_init(&fxb);
	uart8250_init(&uartb, &host);
	ck_assert_int_eq(uart8250_register(&uartb, fxb.pio, COM1), 0);
}

static void drop_b(void)
{
	devfix_fini(&fxb);
	uart8250_destroy(&uartb);
}

/* Divisor set, FIFO at trigger 8 with 8 bytes (RDI pending), THRE pending, idle, deltas in MSR. */
static void busy_uart(void)
{
	devfix_out8(&fx, COM1 + UART_LCR, UART_LCR_DLAB | 0x03);
	devfix_out8(&fx, COM1 + UART_DLL, 0x0c);
	devfix_out8(&fx, COM1 + UART_DLM, 0x01);
	devfix_out8(&fx, COM1 + UART_LCR, 0x1b);
	devfix_out8(&fx, COM1 + UART_FCR, 0x81);
	devfix_out8(&fx, COM1 + UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_MSI);
	devfix_out8(&fx, COM1 + UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	devfix_out8(&fx, COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_OUT2);
	devfix_out8(&fx, COM1 + UART_SCR, 0x5a);
	push("0123456789");
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), '0'); /* the ring's head moves on */
	ck_assert_uint_eq(devfix_in8(&fx, COM1 + UART_RBR), '1');
	uart8250_rx_idle(&uart);
	ck_assert_int_eq(fx.irq.level, 1);
}

/* Reads `off` on both UARTs: the same value, and the same line level after. */
static uint8_t read_both(unsigned int off)
{
	uint8_t a = devfix_in8(&fx, COM1 + off), b = devfix_in8(&fxb, COM1 + off);

	ck_assert_uint_eq(a, b);
	ck_assert_int_eq(fx.irq.level, fxb.irq.level);
	return a;
}

static void write_both(unsigned int off, uint8_t v)
{
	devfix_out8(&fx, COM1 + off, v);
	devfix_out8(&fxb, COM1 + off, v);
	ck_assert_int_eq(fx.irq.level, fxb.irq.level);
}

START_TEST(snapshot_restores_everything)
{
	struct uart8250_state st, st2;

	busy_uart();
	uart8250_save(&uart, &st);
	make_b();
	ck_assert_int_eq(fxb.irq.level, 0);
	ck_assert_int_eq(uart8250_restore(&uartb, &st), 0);
	ck_assert_int_eq(fxb.irq.level, 1);
	ck_assert_uint_eq(fxb.irq.calls, 1);
	/* Saved again before anything happens: the same bytes. */
	uart8250_save(&uartb, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));

	/* Every register reads the same, and the interrupts come and go alike. */
	read_both(UART_LCR);
	read_both(UART_MCR);
	read_both(UART_SCR);
	read_both(UART_IER);
	ck_assert_uint_eq(read_both(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT | UART_LSR_DR);
	ck_assert_uint_eq(read_both(UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
	write_both(UART_LCR, UART_LCR_DLAB | 0x1b);
	ck_assert_uint_eq(read_both(UART_DLL), 0x0c);
	ck_assert_uint_eq(read_both(UART_DLM), 0x01);
	write_both(UART_LCR, 0x1b);
	for (unsigned int i = 2; i < 10; i++) {
		ck_assert_uint_eq(read_both(UART_IIR) & 0x0f,
				  10 - i >= 8 ? UART_IIR_RDI : UART_IIR_TIMEOUT);
		ck_assert_uint_eq(read_both(UART_RBR), '0' + i);
	}
	/* THR empty was pending under the data; reading IIR acknowledges it. */
	ck_assert_uint_eq(read_both(UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
	ck_assert_uint_eq(read_both(UART_IIR), UART_IIR_FIFO | UART_IIR_MSI);
	ck_assert_uint_eq(read_both(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS |
						       UART_MSR_DDSR | UART_MSR_DDCD);
	ck_assert_uint_eq(read_both(UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
	ck_assert_int_eq(fxb.irq.level, 0);
	/* And they go on receiving alike: 8 more reach the trigger. */
	ck_assert_uint_eq(uart8250_rx_push(&uart, (const uint8_t *)"abcdefgh", 8), 8);
	ck_assert_uint_eq(uart8250_rx_push(&uartb, (const uint8_t *)"abcdefgh", 8), 8);
	ck_assert_int_eq(fxb.irq.level, 1);
	ck_assert_uint_eq(read_both(UART_RBR), 'a');
	drop_b();
}
END_TEST

/* The interrupt line of a restored UART follows the state: low when nothing is pending. */
START_TEST(snapshot_restores_a_low_line)
{
	struct uart8250_state st;

	devfix_out8(&fx, COM1 + UART_IER, UART_IER_RDI);
	uart8250_save(&uart, &st);
	make_b();
	fxb.irq.level = 1; /* as if the line had been left high */
	ck_assert_int_eq(uart8250_restore(&uartb, &st), 0);
	ck_assert_int_eq(fxb.irq.level, 0);
	push("x");
	uart8250_rx_push(&uartb, (const uint8_t *)"x", 1);
	ck_assert_int_eq(fx.irq.level, 1);
	ck_assert_int_eq(fxb.irq.level, 1);
	drop_b();
}
END_TEST

static void bad_head(struct uart8250_state *st)
{
	st->rx_head = UART8250_FIFO_SIZE;
}

static void bad_count(struct uart8250_state *st)
{
	st->rx_count = UART8250_FIFO_SIZE + 1;
}

static void bad_count_without_fifo(struct uart8250_state *st)
{
	st->fcr = 0;
	st->rx_count = 2;
}

static void bad_idle(struct uart8250_state *st)
{
	st->rx_idle = 2;
}

static void bad_thri(struct uart8250_state *st)
{
	st->thr_ipending = 0x80;
}

static void bad_level(struct uart8250_state *st)
{
	st->irq_level = 2;
}

static void wrong_level(struct uart8250_state *st)
{
	st->irq_level = 0; /* data above the trigger is pending */
}

static void bad_ier(struct uart8250_state *st)
{
	st->ier |= 0x10;
}

static void bad_fcr(struct uart8250_state *st)
{
	st->fcr |= UART_FCR_CLEAR_RX;
}

static void bad_mcr(struct uart8250_state *st)
{
	st->mcr |= 0x20;
}

static void bad_lsr_dr(struct uart8250_state *st)
{
	st->lsr |= UART_LSR_DR; /* computed, never stored */
}

static void bad_lsr_thre(struct uart8250_state *st)
{
	st->lsr &= (uint8_t)~UART_LSR_THRE;
}

static void bad_msr_lines(struct uart8250_state *st)
{
	st->msr &= (uint8_t)~UART_MSR_DCD; /* not in loopback: the lines are connected */
}

static void bad_pad(struct uart8250_state *st)
{
	st->pad[1] = 1;
}

START_TEST(snapshot_refuses_corrupt_state)
{
	static void (*const corrupt[])(struct uart8250_state *) = {
		bad_head,      bad_count,  bad_count_without_fifo,
		bad_idle,      bad_thri,   bad_level,
		wrong_level,   bad_ier,	   bad_fcr,
		bad_mcr,       bad_lsr_dr, bad_lsr_thre,
		bad_msr_lines, bad_pad,
	};
	struct uart8250_state good, st;
	struct uart8250 before;

	busy_uart();
	uart8250_save(&uart, &good);
	make_b();
	devfix_out8(&fxb, COM1 + UART_SCR, 0x77);
	devfix_out8(&fxb, COM1 + UART_IER, UART_IER_THRI); /* B's line is high */
	ck_assert_int_eq(fxb.irq.level, 1);
	for (unsigned int i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		unsigned int calls = fxb.irq.calls;

		st = good;
		corrupt[i](&st);
		before = uartb;
		ck_assert_msg(uart8250_restore(&uartb, &st) == -EINVAL, "corruption %u accepted",
			      i);
		/* Unchanged, the lock aside (its bytes may move while taken and given back). */
		memcpy(&before.lock, &uartb.lock, sizeof(before.lock));
		ck_assert_msg(memcmp(&before, &uartb, sizeof(before)) == 0, "corruption %u", i);
		ck_assert_uint_eq(fxb.irq.calls, calls);
	}
	ck_assert_uint_eq(devfix_in8(&fxb, COM1 + UART_SCR), 0x77);
	/* The state they came from is fine. */
	ck_assert_int_eq(uart8250_restore(&uartb, &good), 0);
	ck_assert_uint_eq(devfix_in8(&fxb, COM1 + UART_SCR), 0x5a);
	drop_b();
}
END_TEST

static Suite *uart_suite(void)
{
	Suite *s = suite_create("uart8250");
	TCase *tc = tcase_create("uart8250");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reset_state);
	tcase_add_test(tc, transmit_and_thr_empty_interrupt);
	tcase_add_test(tc, receive_without_fifo);
	tcase_add_test(tc, fifo_trigger_levels);
	tcase_add_test(tc, character_timeout);
	tcase_add_test(tc, host_input_beyond_the_fifo_waits);
	tcase_add_test(tc, overrun_keeps_the_fifo);
	tcase_add_test(tc, interrupt_priorities);
	tcase_add_test(tc, divisor_latch);
	tcase_add_test(tc, loopback);
	tcase_add_test(tc, fifo_clear_and_scratch);
	tcase_add_test(tc, snapshot_restores_everything);
	tcase_add_test(tc, snapshot_restores_a_low_line);
	tcase_add_test(tc, snapshot_refuses_corrupt_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(uart_suite());
}
