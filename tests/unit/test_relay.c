// SPDX-License-Identifier: MIT
/*
 * -netdev stream's relay (net/relay.c), driven in this process: a
 * SOCK_SEQPACKET pair stands for the virtio-net device's socket and a stream
 * pair, or a listening socket, for passt's. The tests check the framing each
 * way, that a guest which reads nothing never stops the daemon's writes until
 * the bounded queue is full and then loses nothing, that bad lengths and a
 * daemon gone mid-frame drop the connection but not the frames sent whole,
 * that a reconnect= relay connects again, and that it ends when ember does.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/relay.h"
#include "tests/unit/scratch.h"
#include "tests/unit/unit.h"

static struct relay r;
static int ember = -1, daemon_end = -1;

/* The relay between a new device pair and a new stream pair; ember and daemon_end the far ends. */
static void setup(unsigned int reconnect)
{
	int dv[2], cv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, dv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cv), 0);
	ck_assert_int_eq(relay_init(&r, dv[0], cv[0], "test-net", "test.sock", reconnect), 0);
	ember = dv[1];
	daemon_end = cv[1];
}

/* Turns of the relay until nothing is ready (or `wait_ms` passed with nothing); false: it ended. */
static bool pump_wait(int wait_ms)
{
	for (int i = 0; i < 100000; i++) {
		struct pollfd p[2];
		int timeout = relay_events(&r, p), n;

		if (timeout < 0 || timeout > wait_ms)
			timeout = wait_ms;
		n = poll(p, 2, timeout);
		ck_assert_int_ge(n, 0);
		if (!relay_handle(&r, p))
			return false;
		if (n == 0)
			return true;
	}
	ck_abort_msg("the relay never went quiet: it spins");
	return false;
}

static bool pump(void)
{
	return pump_wait(0);
}

/* A frame of len bytes numbered n: every byte follows from both. */
static void fill(uint8_t *f, uint32_t len, uint32_t n)
{
	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)(n * 7 + i * 13 + (i >> 8));
	if (len >= 4)
		memcpy(f, &n, 4);
}

/* From the daemon: the length, big-endian, then the frame. */
static size_t framed(uint8_t *buf, uint32_t len, uint32_t n)
{
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	fill(buf + 4, len, n);
	return 4 + len;
}

/* The next frame on ember's end: its length past the all-zero header, or 0 when none. */
static size_t ember_recv(uint8_t *out)
{
	uint8_t buf[RELAY_HDR_LEN + RELAY_FRAME_MAX + 16];
	ssize_t got = read(ember, buf, sizeof(buf));

	if (got < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	ck_assert_int_ge(got, RELAY_HDR_LEN + 14);
	for (int i = 0; i < RELAY_HDR_LEN; i++)
		ck_assert_uint_eq(buf[i], 0);
	memcpy(out, buf + RELAY_HDR_LEN, (size_t)got - RELAY_HDR_LEN);
	return (size_t)got - RELAY_HDR_LEN;
}

static void expect_frame(uint32_t len, uint32_t n)
{
	static uint8_t got[RELAY_FRAME_MAX + 16], want[RELAY_FRAME_MAX];

	ck_assert_uint_eq(ember_recv(got), len);
	fill(want, len, n);
	ck_assert_mem_eq(got, want, len);
}

/* Writes all of buf to the daemon's end, turning the relay while its socket is full. */
static void daemon_send(const uint8_t *buf, size_t len)
{
	size_t off = 0;

	for (int stuck = 0; off < len; stuck++) {
		ssize_t w = write(daemon_end, buf + off, len - off);

		ck_assert_int_lt(stuck, 1000);
		if (w < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert(pump());
			continue;
		}
		off += (size_t)w;
	}
}

static void teardown(void)
{
	relay_fini(&r);
	close(r.dev);
	if (ember >= 0)
		close(ember);
	if (daemon_end >= 0)
		close(daemon_end);
	ember = daemon_end = -1;
}

START_TEST(frames_each_way)
{
	static const uint32_t lens[] = { 14, 60, 1514, 9000, RELAY_FRAME_MAX };
	static uint8_t buf[5 * (4 + RELAY_FRAME_MAX)], f[RELAY_HDR_LEN + RELAY_FRAME_MAX];
	size_t len = 0;
	uint8_t hdr[4];

	setup(0);
	for (unsigned int i = 0; i < 5; i++)
		len += framed(buf + len, lens[i], i);
	/* In pieces that cut lengths and frames anywhere. */
	for (size_t off = 0, step = 1; off < len; off += step, step = step * 3 + 1) {
		daemon_send(buf + off, off + step > len ? len - off : step);
		ck_assert(pump());
	}
	for (unsigned int i = 0; i < 5; i++) {
		expect_frame(lens[i], i);
		ck_assert(pump());
	}
	ck_assert_uint_eq(ember_recv(f), 0);

	/* The guest's frames: the header goes, the length comes in front. */
	for (unsigned int i = 0; i < 5; i++) {
		uint8_t want[RELAY_FRAME_MAX];
		size_t got = 0;

		memset(f, 0x55, RELAY_HDR_LEN);
		fill(f + RELAY_HDR_LEN, lens[i], 100 + i);
		ck_assert_int_eq(write(ember, f, RELAY_HDR_LEN + lens[i]),
				 (ssize_t)(RELAY_HDR_LEN + lens[i]));
		ck_assert(pump());
		ck_assert_int_eq(read(daemon_end, hdr, 4), 4);
		ck_assert_uint_eq((uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3],
				  lens[i]);
		while (got < lens[i]) {
			uint8_t *dst = f + got;
			ssize_t n = read(daemon_end, dst, lens[i] - got);

			if (n < 0) {
				ck_assert_int_eq(errno, EAGAIN);
				ck_assert(pump());
				continue;
			}
			ck_assert_int_gt(n, 0);
			got += (size_t)n;
		}
		fill(want, lens[i], 100 + i);
		ck_assert_mem_eq(f, want, lens[i]);
	}
	/* No whole Ethernet header: dropped, and the next frame still goes. */
	ck_assert_int_eq(write(ember, f, RELAY_HDR_LEN + 13), RELAY_HDR_LEN + 13);
	ck_assert_int_eq(write(ember, f, RELAY_HDR_LEN + 14), RELAY_HDR_LEN + 14);
	ck_assert(pump());
	ck_assert_int_eq(read(daemon_end, hdr, 4), 4);
	ck_assert_uint_eq(hdr[3], 14);
	teardown();
}
END_TEST

/*
 * A guest that reads nothing: the daemon can still write a whole queue's
 * worth (passt would drop what its socket refuses), then no more; read
 * afterwards, every frame arrives, in order.
 */
START_TEST(slow_guest_does_not_stop_the_daemon)
{
	static uint8_t buf[4 + 1514];
	uint32_t sent = 0, got = 0;
	size_t bytes = 0;

	setup(0);
	/* Until the daemon's socket stays full whatever the relay does. */
	for (int stuck = 0; stuck < 3;) {
		size_t len = framed(buf, 1514, sent);
		ssize_t w = write(daemon_end, buf, len);

		if (w < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert(pump());
			stuck++;
			continue;
		}
		/* A part: the rest once there is room, so that the stream stays framed. */
		if ((size_t)w < len)
			daemon_send(buf + w, len - (size_t)w);
		stuck = 0;
		bytes += len;
		sent++;
		ck_assert_uint_le(r.q_len, RELAY_QUEUE);
	}
	/* The queue took nearly all of it; the sockets' own buffers hold the rest. */
	ck_assert_uint_ge(bytes, RELAY_QUEUE);
	ck_assert_uint_le(r.q_len, RELAY_QUEUE);
	ck_assert_uint_ge(r.q_len, RELAY_QUEUE - 2 * (4 + 1514));
	/* The guest reads now: every frame, in order. */
	for (int idle = 0; got < sent && idle < 1000;) {
		if (ember_recv(buf) == 0) {
			ck_assert(pump());
			idle++;
			continue;
		}
		idle = 0;
		ck_assert_mem_eq(buf, &got, 4);
		got++;
	}
	ck_assert_uint_eq(got, sent);
	ck_assert_uint_eq(r.q_len, 0);
	teardown();
}
END_TEST

/* A length out of range: the connection goes, the frames before it do not. */
START_TEST(bad_length_drops_the_connection)
{
	static const uint32_t bad[] = { 0, 5, 13, RELAY_FRAME_MAX + 1, 0xffffffffu };
	static uint8_t buf[2 * (4 + 1514)];

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len;
		uint8_t c;

		setup(0);
		len = framed(buf, 1514, i);
		len += framed(buf + len, 60, i + 1);
		buf[len - 64] = (uint8_t)(bad[i] >> 24);
		buf[len - 63] = (uint8_t)(bad[i] >> 16);
		buf[len - 62] = (uint8_t)(bad[i] >> 8);
		buf[len - 61] = (uint8_t)bad[i];
		daemon_send(buf, len);
		ck_assert(pump());
		ck_assert_int_eq(r.conn, -1);
		ck_assert_int_eq(read(daemon_end, &c, 1), 0);
		expect_frame(1514, i);
		ck_assert_uint_eq(ember_recv(buf), 0);
		/* The link is down: the guest's frames are read and dropped, never waiting. */
		for (int k = 0; k < 1000; k++) {
			ck_assert_int_eq(write(ember, buf, RELAY_HDR_LEN + 60), RELAY_HDR_LEN + 60);
			if (k % 50 == 0)
				ck_assert(pump());
		}
		teardown();
	}
}
END_TEST

/*
 * The daemon gone mid-frame while the guest reads nothing: every whole frame
 * still arrives, those in the device's socket and those in the queue.
 */
START_TEST(daemon_gone_mid_frame)
{
	static uint8_t buf[4 + 1514];
	uint32_t n = 1000;

	setup(0);
	for (uint32_t i = 0; i < n; i++)
		daemon_send(buf, framed(buf, 1514, i));
	ck_assert(pump());
	/* More than the device's socket holds: some wait in the queue. */
	ck_assert_uint_gt(r.q_len, 100 * (4 + 1514));
	daemon_send(buf, framed(buf, 1514, n) - 700);
	close(daemon_end);
	daemon_end = -1;
	ck_assert(pump());
	ck_assert_int_eq(r.conn, -1);
	for (uint32_t i = 0; i < n; i++) {
		if (i % 16 == 0)
			ck_assert(pump());
		expect_frame(1514, i);
	}
	ck_assert(pump());
	ck_assert_uint_eq(ember_recv(buf), 0);
	teardown();
}
END_TEST

/* reconnect=1: a new connection a second after the daemon left, and frames through it. */
START_TEST(reconnects)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[64];
	static uint8_t buf[4 + 1514];
	int lis, dv[2], conn, acc = -1;

	/* A socket's path is short: $TMPDIR's directory must leave room for the name. */
	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "relay"), 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/s", dir);
	lis = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(lis, 0);
	ck_assert_int_eq(bind(lis, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lis, 4), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, dv), 0);
	conn = relay_connect(a.sun_path);
	ck_assert_int_ge(conn, 0);
	ck_assert_int_eq(relay_init(&r, dv[0], conn, "test-net", a.sun_path, 1), 0);
	ember = dv[1];
	daemon_end = accept4(lis, NULL, NULL, SOCK_NONBLOCK);
	ck_assert_int_ge(daemon_end, 0);
	close(daemon_end);
	daemon_end = -1;
	ck_assert(pump());
	ck_assert_int_eq(r.conn, -1);
	/* Within three seconds, a new connection. */
	for (int i = 0; i < 60 && acc < 0; i++) {
		ck_assert(pump_wait(50));
		acc = accept4(lis, NULL, NULL, SOCK_NONBLOCK);
	}
	ck_assert_int_ge(acc, 0);
	daemon_end = acc;
	daemon_send(buf, framed(buf, 1514, 9));
	ck_assert(pump());
	expect_frame(1514, 9);
	teardown();
	close(lis);
	unlink(a.sun_path);
	rmdir(dir);
}
END_TEST

/*
 * A daemon that reads nothing: the guest's frames wait (ember's writes meet
 * a full socket) rather than being dropped; and when ember closes its end
 * with a frame still pending, the relay ends instead of spinning.
 */
START_TEST(ends_with_ember)
{
	static uint8_t f[RELAY_HDR_LEN + 1514];
	bool full = false;

	setup(0);
	for (int i = 0; i < 100000 && !full; i++) {
		if (write(ember, f, sizeof(f)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			full = !pump() || write(ember, f, sizeof(f)) < 0;
		}
		if (i % 16 == 0)
			ck_assert(pump());
	}
	ck_assert(full);
	ck_assert_uint_gt(r.out_len, 0);
	close(ember);
	ember = -1;
	ck_assert(!pump());
	teardown();
}
END_TEST

static Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, frames_each_way);
	tcase_add_test(tc, slow_guest_does_not_stop_the_daemon);
	tcase_add_test(tc, bad_length_drops_the_connection);
	tcase_add_test(tc, daemon_gone_mid_frame);
	tcase_add_test(tc, reconnects);
	tcase_add_test(tc, ends_with_ember);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(relay_suite());
}
