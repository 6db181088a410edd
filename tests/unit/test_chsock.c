// SPDX-License-Identifier: MIT
/* The socket chardev: a client's data both ways with backpressure, and clients coming and going. */
#include "config.h"

#include "app/chsock.h"
#include "core/evloop.h"
#include "scratch.h"
#include "sockfix.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The guest side as the socket sees it: it takes up to `room` bytes of input. */
struct port {
	uint8_t got[1 << 20];
	size_t n;
	size_t room;
	unsigned int writables, ups, downs;
};

static size_t input(void *opaque, const uint8_t *buf, size_t len)
{
	struct port *p = opaque;
	size_t n = len < p->room ? len : p->room;

	ck_assert_uint_le(p->n + n, sizeof(p->got));
	memcpy(p->got + p->n, buf, n);
	p->n += n;
	p->room -= n;
	return n;
}

static void writable(void *opaque)
{
	((struct port *)opaque)->writables++;
}

static void connected(void *opaque, bool up)
{
	struct port *p = opaque;

	if (up)
		p->ups++;
	else
		p->downs++;
}

static struct port *port;
static struct evloop *loop;
static struct chsock *s;
static char dir[256], path[300];

static void run(void)
{
	sockfix_run(loop);
}

static int connect_client(void)
{
	return sockfix_connect(loop, path);
}

static void setup(void)
{
	struct chsock_ops ops = { input, writable, connected, NULL };

	port = calloc(1, sizeof(*port));
	ck_assert_ptr_nonnull(port);
	ops.opaque = port;
	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "chsock"), 0);
	snprintf(path, sizeof(path), "%s/port.sock", dir);
	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(chsock_open(&s, path, loop, &ops), 0);
}

static void teardown(void)
{
	struct stat st;

	chsock_close(s);
	/* The socket file goes with it. */
	ck_assert_int_eq(stat(path, &st), -1);
	evloop_destroy(loop);
	rmdir(dir);
	free(port);
}

START_TEST(input_waits_for_the_guest)
{
	uint8_t big[3 * CHSOCK_INPUT_PIECE];
	int c;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	ck_assert(!chsock_connected(s));
	c = connect_client();
	ck_assert(chsock_connected(s));
	ck_assert_uint_eq(port->ups, 1);
	ck_assert_int_eq(write(c, big, sizeof(big)), (ssize_t)sizeof(big));
	port->room = 100;
	run();
	ck_assert_uint_eq(port->n, 100);
	/* Nothing more is read while the guest has no room, however often the loop runs. */
	run();
	ck_assert_uint_eq(port->n, 100);
	for (int i = 0; i < 100 && port->n < sizeof(big); i++) {
		port->room = 1000;
		chsock_input_ready(s);
		run();
	}
	ck_assert_uint_eq(port->n, sizeof(big));
	ck_assert_mem_eq(port->got, big, sizeof(big));
	close(c);
	run();
	ck_assert_uint_eq(port->downs, 1);
}
END_TEST

/* Exactly a turn's worth of pieces, all taken: none is left waiting for an event. */
START_TEST(a_full_turn_of_input_arrives)
{
	static uint8_t big[16 * CHSOCK_INPUT_PIECE];
	int c = connect_client();

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + i / 4099);
	port->room = sizeof(port->got);
	ck_assert_int_eq(write(c, big, sizeof(big)), (ssize_t)sizeof(big));
	run();
	ck_assert_uint_eq(port->n, sizeof(big));
	ck_assert_mem_eq(port->got, big, sizeof(big));
	close(c);
	run();
}
END_TEST

START_TEST(output_stops_when_the_client_is_full)
{
	static uint8_t out[1 << 20], back[1 << 20];
	size_t sent = 0, got = 0;
	int c = connect_client();

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i ^ (i >> 9));
	/* Send until the socket is full: a short write, then writable() after the client reads. */
	while (sent < sizeof(out)) {
		size_t n = chsock_write(s, out + sent, sizeof(out) - sent);

		sent += n;
		if (sent == sizeof(out))
			break;
		unsigned int before = port->writables;

		run();
		ck_assert_uint_eq(port->writables, before); /* nobody read yet */
		while (port->writables == before) {
			ssize_t r = read(c, back + got, sizeof(back) - got);

			ck_assert_int_gt(r, 0);
			got += (size_t)r;
			run();
		}
	}
	fcntl(c, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t r = read(c, back + got, sizeof(back) - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	ck_assert_uint_eq(got, sizeof(out));
	ck_assert_mem_eq(back, out, sizeof(out));
	close(c);
}
END_TEST

START_TEST(clients_come_and_go)
{
	int c1 = connect_client(), c2;

	port->room = sizeof(port->got);
	ck_assert_int_eq(write(c1, "one", 3), 3);
	run();
	close(c1);
	run();
	ck_assert_uint_eq(port->downs, 1);
	ck_assert(!chsock_connected(s));
	/* Without a client, output is refused: the caller drops it. */
	ck_assert_uint_eq(chsock_write(s, "lost", 4), 0);

	c2 = connect_client();
	ck_assert_uint_eq(port->ups, 2);
	ck_assert_int_eq(write(c2, "two", 3), 3);
	run();
	ck_assert_uint_eq(chsock_write(s, "back", 4), 4);
	char buf[8] = { 0 };

	ck_assert_int_eq(read(c2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "back");
	ck_assert_uint_eq(port->n, 6);
	ck_assert_mem_eq(port->got, "onetwo", 6);
	close(c2);
	run();
	ck_assert_uint_eq(port->downs, 2);
}
END_TEST

/* A client that sends and hangs up while the guest has no room still gets every byte in. */
START_TEST(hangup_keeps_what_was_sent)
{
	int c = connect_client();

	ck_assert_int_eq(write(c, "late bytes", 10), 10);
	close(c);
	port->room = 4;
	run();
	ck_assert_uint_eq(port->n, 4);
	ck_assert_uint_eq(port->downs, 0);
	port->room = 100;
	chsock_input_ready(s);
	run();
	ck_assert_uint_eq(port->n, 10);
	ck_assert_mem_eq(port->got, "late bytes", 10);
	ck_assert_uint_eq(port->downs, 1);
	/* And the next client is taken. */
	c = connect_client();
	ck_assert_uint_eq(port->ups, 2);
	close(c);
	run();
}
END_TEST

/* A client that stops reading and vanishes mid-write ends its connection, not ember. */
START_TEST(a_failed_send_disconnects)
{
	static uint8_t out[1 << 18];
	int c = connect_client();

	while (chsock_write(s, out, sizeof(out)) == sizeof(out))
		;
	close(c);
	run();
	ck_assert_uint_eq(port->downs, 1);
	ck_assert_uint_eq(chsock_write(s, out, 10), 0);
}
END_TEST

START_TEST(bad_paths)
{
	struct chsock_ops ops = { input, writable, connected, port };
	struct chsock *t;
	char longp[200];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(chsock_open(&t, longp, loop, &ops), -ENAMETOOLONG);
	ck_assert_int_eq(chsock_open(&t, "/nonexistent-dir/x.sock", loop, &ops), -ENOENT);
}
END_TEST

static Suite *chsock_suite(void)
{
	Suite *su = suite_create("chsock");
	TCase *tc = tcase_create("chsock");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, input_waits_for_the_guest);
	tcase_add_test(tc, a_full_turn_of_input_arrives);
	tcase_add_test(tc, output_stops_when_the_client_is_full);
	tcase_add_test(tc, clients_come_and_go);
	tcase_add_test(tc, hangup_keeps_what_was_sent);
	tcase_add_test(tc, a_failed_send_disconnects);
	tcase_add_test(tc, bad_paths);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return unit_run(chsock_suite());
}
