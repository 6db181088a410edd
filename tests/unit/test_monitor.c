// SPDX-License-Identifier: MIT
/*
 * The QMP monitor on a real socket and event loop: a client's session end to
 * end, clients one at a time, the last words at close, and a client that
 * stops reading and then hangs up, after which the next one is served.
 */
#include "config.h"

#include "app/monitor.h"
#include "core/evloop.h"
#include "scratch.h"
#include "sockfix.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct evloop *loop;
static struct monitor *mon;
static char dir[256], path[300];
static unsigned int quits;

static enum qmp_run_state state(void *opaque)
{
	(void)opaque;
	return QMP_RUNNING;
}

static int nothing(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	(void)err;
	(void)errlen;
	return 0;
}

static void quit(void *opaque)
{
	(void)opaque;
	quits++;
}

static int refuse(void *opaque, const char *file, char *err, size_t errlen)
{
	(void)opaque;
	snprintf(err, errlen, "no snapshots of %s here", file);
	return -ENOTSUP;
}

static void query(void *opaque, const char *command, struct jbuf *b)
{
	(void)opaque;
	(void)command;
	jbuf_add(b, "[]", 2);
}

static const struct qmp_ops ops = {
	.state = state,
	.stop = nothing,
	.cont = nothing,
	.powerdown = nothing,
	.reset = quit,
	.quit = quit,
	.migrate = refuse,
	.query = query,
};

static void run(void)
{
	sockfix_run(loop);
}

static int connect_client(void)
{
	return sockfix_connect(loop, path);
}

/* What the client can read now, as a string. */
static char *got(int fd)
{
	static char buf[1 << 16];
	size_t n = 0;
	ssize_t r;

	run();
	while (n < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0)
			break;
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return buf;
}

static void say(int fd, const char *s)
{
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void setup(void)
{
	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "monitor"), 0);
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(monitor_open(&mon, path, loop, &ops, "m"), 0);
	quits = 0;
}

static void teardown(void)
{
	struct stat st;

	monitor_close(mon, NULL, NULL);
	ck_assert_int_eq(stat(path, &st), -1);
	evloop_destroy(loop);
	rmdir(dir);
}

START_TEST(a_session_and_its_last_words)
{
	int c = connect_client(), d;

	ck_assert_ptr_nonnull(strstr(got(c), "{\"QMP\": {\"version\""));
	say(c, "{\"execute\": \"qmp_capabilities\"}");
	ck_assert_str_eq(got(c), "{\"return\": {}}\r\n");
	monitor_event(mon, "STOP", NULL);
	ck_assert_ptr_nonnull(strstr(got(c), "\"event\": \"STOP\""));
	/* A second client waits, and hears nothing, until the first goes. */
	d = connect_client();
	ck_assert_str_eq(got(d), "");
	say(c, "{\"execute\": \"quit\", \"id\": 9}");
	ck_assert_str_eq(got(c), "{\"return\": {}, \"id\": 9}\r\n");
	ck_assert_uint_eq(quits, 1);
	close(c);
	run();
	ck_assert_ptr_nonnull(strstr(got(d), "{\"QMP\""));
	say(d, "{\"execute\": \"qmp_capabilities\"}");
	ck_assert_str_eq(got(d), "{\"return\": {}}\r\n");
	/* Closing says the last event, then the client reads the end. */
	monitor_close(mon, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
	mon = NULL;
	ck_assert_ptr_nonnull(strstr(got(d), "\"reason\": \"host-qmp-quit\""));
	ck_assert_int_eq(read(d, (char[1]){ 0 }, 1), 0);
	close(d);
	/* For the teardown. */
	ck_assert_int_eq(monitor_open(&mon, path, loop, &ops, NULL), 0);
}
END_TEST

START_TEST(a_client_that_stops_reading_then_hangs_up)
{
	int c = connect_client(), d, sz = 4096;
	char req[64 * 32 + 1] = "";
	size_t sent = 0;

	/* Small socket buffers, so that ember's replies back up soon. */
	ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);
	got(c);
	say(c, "{\"execute\": \"qmp_capabilities\"}");
	got(c);
	for (int i = 0; i < 64; i++)
		strcat(req, "{\"execute\": \"query-commands\"}");
	ck_assert_int_eq(fcntl(c, F_SETFL, O_NONBLOCK), 0);
	for (int stuck = 0; stuck < 20 && sent < (32u << 20);) {
		ssize_t n = write(c, req, strlen(req));

		if (n > 0) {
			sent += (size_t)n;
			stuck = 0;
		} else {
			stuck++;
		}
		run();
	}
	/* ember stopped taking requests long before 32 MiB of them. */
	ck_assert_uint_lt(sent, 32u << 20);
	close(c);
	run();
	/* The next client is served: the one that hung up was let go of. */
	d = connect_client();
	ck_assert_ptr_nonnull(strstr(got(d), "{\"QMP\""));
	close(d);
}
END_TEST

static Suite *monitor_suite(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = tcase_create("monitor");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_session_and_its_last_words);
	tcase_add_test(tc, a_client_that_stops_reading_then_hangs_up);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(monitor_suite());
}
