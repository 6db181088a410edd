// SPDX-License-Identifier: MIT
#include "config.h"

#include "uart8250.h"
#include "core/bus.h"

#include <errno.h>
#include <string.h>

/* Modem lines a connected terminal presents: carrier, data set ready, clear to send. */
#define MSR_LINES_CONNECTED (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

void uart8250_init(struct uart8250 *u, const struct uart8250_host *host)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->host = *host;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = MSR_LINES_CONNECTED;
}

void uart8250_destroy(struct uart8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

static bool fifo_enabled(const struct uart8250 *u)
{
	return u->fcr & UART_FCR_ENABLE;
}

/* Without FIFOs the receiver holds one byte, as an 8250 does. */
static unsigned int rx_capacity(const struct uart8250 *u)
{
	return fifo_enabled(u) ? UART8250_FIFO_SIZE : 1;
}

static unsigned int rx_trigger(const struct uart8250 *u)
{
	static const unsigned int levels[4] = { 1, 4, 8, 14 };

	return fifo_enabled(u) ? levels[u->fcr >> 6] : 1;
}

/* The highest-priority pending interrupt, as IIR bits 3:0. */
static uint8_t pending(const struct uart8250 *u)
{
	if ((u->ier & UART_IER_RLSI) &&
	    (u->lsr & (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)))
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && u->rx_count >= rx_trigger(u))
		return UART_IIR_RDI;
	if ((u->ier & UART_IER_RDI) && fifo_enabled(u) && u->rx_count && u->rx_idle)
		return UART_IIR_TIMEOUT;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void update_irq(struct uart8250 *u)
{
	int level = pending(u) != UART_IIR_NO_INT;

	if (level != u->irq_level) {
		u->irq_level = level;
		u->host.irq_set(u->host.irq_opaque, level);
	}
}

static void rx_enqueue(struct uart8250 *u, uint8_t c)
{
	u->rx[(u->rx_head + u->rx_count) % UART8250_FIFO_SIZE] = c;
	u->rx_count++;
}

/* Queues what fits and returns the bytes taken; the caller decides what the rest means. */
static size_t rx_fill(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && u->rx_count < rx_capacity(u))
		rx_enqueue(u, buf[n++]);
	return n;
}

/* Modem status as the loopback wiring presents it: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t loop_lines(uint8_t mcr)
{
	uint8_t m = 0;

	if (mcr & UART_MCR_RTS)
		m |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		m |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		m |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		m |= UART_MSR_DCD;
	return m;
}

/* Sets the modem lines to `lines`, recording deltas as the chip does. */
static void set_lines(struct uart8250 *u, uint8_t lines)
{
	uint8_t old = u->msr & 0xf0, delta = u->msr & 0x0f;

	if ((old ^ lines) & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if ((old ^ lines) & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI))
		delta |= UART_MSR_TERI; /* trailing edge of ring indicator */
	if ((old ^ lines) & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	u->msr = lines | delta;
}

uint8_t uart8250_read(struct uart8250 *u, unsigned int offset)
{
	bool dlab, space = false;
	uint8_t v = 0;

	pthread_mutex_lock(&u->lock);
	dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_RBR:
		if (dlab) {
			v = u->dll;
			break;
		}
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART8250_FIFO_SIZE;
			u->rx_count--;
			space = !(u->mcr & UART_MCR_LOOP);
		}
		break;
	case UART_IER:
		v = dlab ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = pending(u);
		/* Reading IIR while it reports THR empty acknowledges that interrupt. */
		if (v == UART_IIR_THRI)
			u->thr_ipending = false;
		if (fifo_enabled(u))
			v |= UART_IIR_FIFO;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = u->lsr | (u->rx_count ? UART_LSR_DR : 0);
		/* Error bits clear when read. */
		u->lsr &= (uint8_t) ~(UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI |
				      UART_LSR_FIFOE);
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= 0xf0; /* deltas clear when read */
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	/* Outside the lock: the host may push more input from this callback. */
	if (space && u->host.rx_space)
		u->host.rx_space(u->host.rx_opaque);
	return v;
}

void uart8250_write(struct uart8250 *u, unsigned int offset, uint8_t value)
{
	bool dlab, had_room = false;
	size_t before;

	pthread_mutex_lock(&u->lock);
	before = u->rx_count;
	dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_THR:
		if (dlab) {
			u->dll = value; /* any divisor, 0 included: transmission is not timed */
			break;
		}
		if (u->mcr & UART_MCR_LOOP) {
			/* The byte is on the wire: with no room for it, it is lost. */
			if (!rx_fill(u, &value, 1))
				u->lsr |= UART_LSR_OE;
			u->rx_idle = true; /* nothing else is arriving on the loop */
		} else {
			u->host.tx(u->host.tx_opaque, &value, 1);
		}
		/* Sent at once: THR is empty again. */
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = value;
			break;
		}
		/* Enabling the THR-empty interrupt while THR is empty raises it. */
		if ((value & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
			u->thr_ipending = true;
		u->ier = value & 0x0f;
		break;
	case UART_FCR:
		/* Turning the FIFOs on or off empties them. */
		if ((value ^ u->fcr) & UART_FCR_ENABLE)
			value |= UART_FCR_CLEAR_RX;
		if (value & UART_FCR_CLEAR_RX) {
			u->rx_head = 0;
			u->rx_count = 0;
		}
		u->fcr = value & (UART_FCR_ENABLE | 0xc0);
		break;
	case UART_LCR:
		u->lcr = value;
		break;
	case UART_MCR:
		u->mcr = value & 0x1f;
		set_lines(u, (u->mcr & UART_MCR_LOOP) ? loop_lines(u->mcr) : MSR_LINES_CONNECTED);
		break;
	case UART_SCR:
		u->scr = value;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
	update_irq(u);
	/*
	 * Emptying the FIFO (FCR) or leaving loopback makes room the host has
	 * not been told about: tell it, or input waiting there would stall.
	 */
	had_room = !(u->mcr & UART_MCR_LOOP) &&
		   (u->rx_count < before || (offset == UART_MCR && u->rx_count < rx_capacity(u)));
	pthread_mutex_unlock(&u->lock);
	if (had_room && u->host.rx_space)
		u->host.rx_space(u->host.rx_opaque);
}

size_t uart8250_rx_push(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/*
	 * In loopback the receiver listens to the transmitter only: hold host
	 * input. What does not fit stays with the host, which offers it again
	 * after rx_space(): nothing is lost, so this is no overrun.
	 */
	if (!(u->mcr & UART_MCR_LOOP) && len) {
		n = rx_fill(u, buf, len);
		u->rx_idle = false;
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart8250_rx_space(struct uart8250 *u)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = (u->mcr & UART_MCR_LOOP) ? 0 : rx_capacity(u) - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

void uart8250_rx_idle(struct uart8250 *u)
{
	pthread_mutex_lock(&u->lock);
	u->rx_idle = true;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

void uart8250_save(struct uart8250 *u, struct uart8250_state *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&u->lock);
	memcpy(out->rx, u->rx, sizeof(out->rx));
	out->rx_head = (uint8_t)u->rx_head;
	out->rx_count = (uint8_t)u->rx_count;
	out->rx_idle = u->rx_idle;
	out->thr_ipending = u->thr_ipending;
	out->ier = u->ier;
	out->fcr = u->fcr;
	out->lcr = u->lcr;
	out->mcr = u->mcr;
	out->lsr = u->lsr;
	out->msr = u->msr;
	out->scr = u->scr;
	out->dll = u->dll;
	out->dlm = u->dlm;
	out->irq_level = (uint8_t)u->irq_level;
	pthread_mutex_unlock(&u->lock);
}

static void load_state(struct uart8250 *u, const struct uart8250_state *st)
{
	memcpy(u->rx, st->rx, sizeof(u->rx));
	u->rx_head = st->rx_head;
	u->rx_count = st->rx_count;
	u->rx_idle = st->rx_idle;
	u->thr_ipending = st->thr_ipending;
	u->ier = st->ier;
	u->fcr = st->fcr;
	u->lcr = st->lcr;
	u->mcr = st->mcr;
	u->lsr = st->lsr;
	u->msr = st->msr;
	u->scr = st->scr;
	u->dll = st->dll;
	u->dlm = st->dlm;
	u->irq_level = st->irq_level;
}

/*
 * Only what the register machine can reach: the bits the write paths keep,
 * LSR with no error but overrun (the only one ever set), the modem lines
 * MCR implies, and an IRQ level that agrees with the rest.
 */
static bool state_valid(const struct uart8250_state *st)
{
	struct uart8250 t;
	uint8_t lines;

	if (st->pad[0] || st->pad[1])
		return false;
	if (st->rx_idle > 1 || st->thr_ipending > 1 || st->irq_level > 1)
		return false;
	if ((st->ier & 0xf0) || (st->fcr & ~(UART_FCR_ENABLE | 0xc0)) || (st->mcr & 0xe0))
		return false;
	if ((st->lsr & (uint8_t)~UART_LSR_OE) != (UART_LSR_THRE | UART_LSR_TEMT))
		return false;
	lines = (st->mcr & UART_MCR_LOOP) ? loop_lines(st->mcr) : MSR_LINES_CONNECTED;
	if ((st->msr & 0xf0) != lines)
		return false;
	memset(&t, 0, sizeof(t));
	load_state(&t, st);
	if (st->rx_head >= UART8250_FIFO_SIZE || st->rx_count > rx_capacity(&t))
		return false;
	return (pending(&t) != UART_IIR_NO_INT) == st->irq_level;
}

int uart8250_restore(struct uart8250 *u, const struct uart8250_state *st)
{
	if (!state_valid(st))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	load_state(u, st);
	/* The line of a fresh device is low: set it whatever the level, so it matches. */
	u->host.irq_set(u->host.irq_opaque, u->irq_level);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static uint64_t uart_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)size;
	return uart8250_read(opaque, (unsigned int)offset);
}

static void uart_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)size;
	uart8250_write(opaque, (unsigned int)offset, (uint8_t)value);
}

static const struct bus_ops uart_ops = {
	.read = uart_bus_read,
	.write = uart_bus_write,
	.min_access = 1,
	.max_access = 1,
};

int uart8250_register(struct uart8250 *u, struct bus *pio, uint16_t base)
{
	return bus_register(pio, base, 8, &uart_ops, u, "uart8250");
}
