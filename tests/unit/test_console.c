// SPDX-License-Identifier: MIT
/* The serial console's host side: backpressure, idle, escapes, terminal modes. */
#include "config.h"

#include "core/console.h"
#include "core/evloop.h"
#include "unit.h"

#include <fcntl.h>
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

	tcase_add_test(tc, input_reaches_the_guest_with_backpressure);
	tcase_add_test(tc, terminal_is_raw_and_restored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(console_suite());
}
