// SPDX-License-Identifier: MIT
/* The serial console's host side: backpressure, idle, escapes, terminal modes. */
#include "config.h"

#include "core/clock.h"
#include "app/console.h"
#include "core/evloop.h"
#include "devfix.h"
#include "devices/uart8250.h"
#include "unit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* A guest whose receive FIFO holds `room` bytes until the test drains it. */
struct guest {
	uint8_t got[8192];
	size_t n;
	size_t room;
	unsigned int idles, quits;
};

static size_t feed(void *opaque, const uint8_t *buf, size_t len)
{
	struct guest *g = opaque;
	size_t n = len < g->room ? len : g->room;

	memcpy(g->got + g->n, buf, n);
	g->n += n;
	g->room -= n;
	return n;
}

static void idle(void *opaque)
{
	((struct guest *)opaque)->idles++;
}

static void quit(void *opaque)
{
	((struct guest *)opaque)->quits++;
}

static void run(struct evloop *loop)
{
	while (evloop_run_once(loop, 50) > 0)
		;
}

START_TEST(input_reaches_the_guest_with_backpressure)
{
	struct guest g = { .room = 4 };
	struct console_ops ops = { feed, idle, quit, &g };
	struct evloop *loop;
	struct console *c;
	int p[2];

	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(console_open(&c, loop, p[0], &ops), 0);
	ck_assert_int_eq(write(p[1], "hello world", 11), 11);
	run(loop);
	/* The FIFO took 4; the rest waits, and stdin is not read meanwhile. */
	ck_assert_uint_eq(g.n, 4);
	ck_assert_uint_eq(g.idles, 0);
	ck_assert_int_eq(write(p[1], "!", 1), 1);
	run(loop);
	ck_assert_uint_eq(g.n, 4);

	/* The guest reads: its device kicks the console, which feeds more. */
	g.room = 100;
	console_kick(c);
	run(loop);
	ck_assert_uint_eq(g.n, 12);
	ck_assert_mem_eq(g.got, "hello world!", 12);
	ck_assert_uint_ge(g.idles, 1);
	ck_assert_uint_eq(g.quits, 0);

	/* Piped input passes Ctrl-A through untouched. */
	ck_assert_int_eq(write(p[1], "\x01x", 2), 2);
	run(loop);
	ck_assert_uint_eq(g.n, 14);
	ck_assert_uint_eq(g.quits, 0);

	/* End of input: the console stops reading, the guest keeps what it got. */
	close(p[1]);
	run(loop);
	console_close(c);
	evloop_destroy(loop);
	close(p[0]);
}
END_TEST

/*
 * The console in front of the real UART, the guest reading through the port
 * bus: typing more than the FIFO holds at once loses no byte and reports no
 * overrun, with the FIFO on (16 bytes) or off (one holding register). Runs
 * 2 and 3 put the event loop on its own thread, as in ember: the guest's
 * reads (this thread, a vCPU's) kick the console across threads.
 */
#define COM1 0x3f8

struct serial {
	struct uart8250 uart;
	struct devfix dev;
	struct console *c;
};

static void serial_irq(void *opaque, int level)
{
	(void)opaque;
	(void)level;
}

static void serial_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
}

static void serial_space(void *opaque)
{
	console_kick(((struct serial *)opaque)->c);
}

static size_t serial_feed(void *opaque, const uint8_t *buf, size_t len)
{
	return uart8250_rx_push(&((struct serial *)opaque)->uart, buf, len);
}

static void serial_idle(void *opaque)
{
	uart8250_rx_idle(&((struct serial *)opaque)->uart);
}

static void serial_quit(void *opaque)
{
	(void)opaque;
	ck_abort_msg("piped input cannot quit");
}

START_TEST(typing_past_the_fifo_loses_nothing)
{
	static const char typed[] = "root\rls -l /usr/share/doc | head -n 40\r";
	const size_t len = sizeof(typed) - 1;
	struct uart8250_host host = { .irq_set = serial_irq,
				      .tx = serial_tx,
				      .rx_space = serial_space };
	struct console_ops ops = { serial_feed, serial_idle, serial_quit, NULL };
	bool threaded = _i & 2;
	uint64_t deadline = clock_now_ns() + 10 * NSEC_PER_SEC;
	struct serial s;
	struct evloop *loop;
	uint8_t got[sizeof(typed)];
	size_t n = 0;
	int p[2];

	host.rx_opaque = &s;
	ops.opaque = &s;
	devfix_init(&s.dev);
	uart8250_init(&s.uart, &host);
	ck_assert_int_eq(uart8250_register(&s.uart, s.dev.pio, COM1), 0);
	devfix_out8(&s.dev, COM1 + UART_FCR, (_i & 1) ? UART_FCR_ENABLE : 0);
	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(console_open(&s.c, loop, p[0], &ops), 0);

	if (threaded)
		ck_assert_int_eq(evloop_start(loop), 0);
	ck_assert_int_eq(write(p[1], typed, len), (ssize_t)len);
	for (unsigned int round = 0; n < len; round++) {
		uint8_t lsr;

		if (threaded) {
			ck_assert_msg(clock_now_ns() < deadline, "%zu bytes of %zu arrived", n,
				      len);
			usleep(100);
		} else {
			ck_assert_uint_lt(round, 2 * len);
			run(loop);
		}
		/* The guest's driver: read LSR, then RBR while it has data. */
		while ((lsr = devfix_in8(&s.dev, COM1 + UART_LSR)) & UART_LSR_DR) {
			ck_assert_msg(!(lsr & UART_LSR_OE), "overrun after %zu bytes", n);
			ck_assert_uint_lt(n, len);
			got[n++] = devfix_in8(&s.dev, COM1 + UART_RBR);
		}
		ck_assert_msg(!(lsr & UART_LSR_OE), "overrun after %zu bytes", n);
	}
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(got, typed, len);

	evloop_stop(loop);
	console_close(s.c);
	evloop_destroy(loop);
	devfix_fini(&s.dev);
	uart8250_destroy(&s.uart);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* A pseudo-terminal: the console reads the slave, the test types on the master. */
static void open_pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(*master, 0);
	ck_assert_int_eq(grantpt(*master), 0);
	ck_assert_int_eq(unlockpt(*master), 0);
	*slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(*slave, 0);
}

START_TEST(terminal_is_raw_and_restored)
{
	struct guest g = { .room = 100 };
	struct console_ops ops = { feed, idle, quit, &g };
	struct termios before, during, after;
	struct evloop *loop;
	struct console *c;
	int m, s;

	open_pty(&m, &s);
	ck_assert_int_eq(tcgetattr(s, &before), 0);
	ck_assert(before.c_lflag & ICANON);
	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(console_open(&c, loop, s, &ops), 0);
	ck_assert_int_eq(tcgetattr(s, &during), 0);
	ck_assert(!(during.c_lflag & (ICANON | ECHO | ISIG)));

	/* Raw: a character arrives without a newline; Ctrl-C is data, not a signal. */
	ck_assert_int_eq(write(m, "a\x03", 2), 2);
	run(loop);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_mem_eq(g.got, "a\x03", 2);

	/* Escapes: Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A h prints help; Ctrl-A x quits. */
	ck_assert_int_eq(write(m,
			       "\x01\x01"
			       "b\x01z",
			       5),
			 5);
	run(loop);
	ck_assert_uint_eq(g.n, 4);
	ck_assert_mem_eq(g.got + 2,
			 "\x01"
			 "b",
			 2);
	ck_assert_int_eq(write(m, "\x01x", 2), 2);
	run(loop);
	ck_assert_uint_eq(g.quits, 1);

	console_close(c);
	ck_assert_int_eq(tcgetattr(s, &after), 0);
	ck_assert_int_eq(after.c_lflag, before.c_lflag);
	ck_assert_int_eq(after.c_oflag, before.c_oflag);
	evloop_destroy(loop);
	close(s);
	close(m);
}
END_TEST

static Suite *console_suite(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("console");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, input_reaches_the_guest_with_backpressure);
	tcase_add_test(tc, terminal_is_raw_and_restored);
	tcase_add_loop_test(tc, typing_past_the_fifo_loses_nothing, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(console_suite());
}
