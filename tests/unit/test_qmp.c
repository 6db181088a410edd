// SPDX-License-Identifier: MIT
/*
 * QMP: the greeting, negotiation, each command's reply, QEMU's errors, events,
 * and a hostile client (garbage, half requests, a request too long, one that
 * never reads), with the machine played by a recorder.
 */
#include "config.h"

#include "app/qmp.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static struct {
	enum qmp_run_state state;
	unsigned int stops, conts, powerdowns, resets, quits, migrates;
	char path[64]; /* migrate's */
	int fail;      /* stop, cont and powerdown fail with this */
	struct qmp *q;
} m;

static enum qmp_run_state fake_state(void *opaque)
{
	(void)opaque;
	return m.state;
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	if (m.fail) {
		snprintf(err, errlen, "cannot stop: %s", strerror(m.fail));
		return -m.fail;
	}
	m.stops++;
	m.state = QMP_PAUSED;
	qmp_event(m.q, "STOP", NULL);
	return 0;
}

static int fake_cont(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	if (m.fail) {
		snprintf(err, errlen, "cannot resume");
		return -m.fail;
	}
	m.conts++;
	m.state = QMP_RUNNING;
	qmp_event(m.q, "RESUME", NULL);
	return 0;
}

static int fake_powerdown(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	(void)err;
	(void)errlen;
	m.powerdowns++;
	qmp_event(m.q, "POWERDOWN", NULL);
	return 0;
}

static void fake_reset(void *opaque)
{
	(void)opaque;
	m.resets++;
}

static void fake_quit(void *opaque)
{
	(void)opaque;
	m.quits++;
}

static int fake_migrate(void *opaque, const char *path, char *err, size_t errlen)
{
	(void)opaque;
	snprintf(m.path, sizeof(m.path), "%s", path);
	if (m.fail) {
		snprintf(err, errlen, "cannot write %s", path);
		return -m.fail;
	}
	m.migrates++;
	m.state = QMP_POSTMIGRATE;
	return 0;
}

static void fake_query(void *opaque, const char *command, struct jbuf *b)
{
	(void)opaque;
	jbuf_printf(b, "[{\"asked\": \"%s\"}]", command);
}

static void fake_now(struct timespec *ts)
{
	ts->tv_sec = 1700000000;
	ts->tv_nsec = 123456789;
}

static const struct qmp_ops ops = {
	.state = fake_state,
	.stop = fake_stop,
	.cont = fake_cont,
	.powerdown = fake_powerdown,
	.reset = fake_reset,
	.quit = fake_quit,
	.migrate = fake_migrate,
	.query = fake_query,
	.now = fake_now,
};

#define MAX_MSGS 64
static struct json *msg[MAX_MSGS];
static unsigned int nmsg;

static void free_msgs(void)
{
	for (unsigned int i = 0; i < nmsg; i++)
		json_free(msg[i]);
	nmsg = 0;
}

/* What waits for the client, taken as it would read it: each line one JSON object. */
static unsigned int read_all(void)
{
	size_t len;
	const char *p = qmp_pending(m.q, &len), *end = p + len;

	free_msgs();
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		char err[128];

		ck_assert_msg(eol && eol > p && eol[-1] == '\r', "a line without CR LF");
		ck_assert_uint_lt(nmsg, MAX_MSGS);
		ck_assert_msg(json_parse(p, (size_t)(eol - 1 - p), &msg[nmsg], err, sizeof(err)) ==
				      0,
			      "'%.*s': %s", (int)(eol - 1 - p), p, err);
		ck_assert_int_eq(msg[nmsg]->type, JSON_OBJECT);
		nmsg++;
		p = eol + 1;
	}
	qmp_sent(m.q, len);
	return nmsg;
}

static void send_text(const char *s)
{
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)s, strlen(s)), strlen(s));
}

/* One request in, its one reply out. */
static const struct json *ask(const char *s)
{
	send_text(s);
	ck_assert_uint_eq(read_all(), 1);
	return msg[0];
}

static void is_return(const struct json *r)
{
	ck_assert_msg(json_get(r, "return") != NULL, "not a return");
	ck_assert_ptr_null(json_get(r, "error"));
}

static void is_error(const struct json *r, const char *class, const char *desc)
{
	const struct json *e = json_get(r, "error");

	ck_assert_msg(e != NULL, "not an error");
	ck_assert_ptr_null(json_get(r, "return"));
	ck_assert_str_eq(json_string(json_get(e, "class")), class);
	if (desc)
		ck_assert_str_eq(json_string(json_get(e, "desc")), desc);
	else
		ck_assert_ptr_nonnull(json_string(json_get(e, "desc")));
}

static void setup(void)
{
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(qmp_create(&m.q, &ops, "vm \"one\""), 0);
	qmp_connect(m.q);
}

static void teardown(void)
{
	free_msgs();
	qmp_destroy(m.q);
}

static void negotiate(void)
{
	ck_assert_uint_eq(read_all(), 1); /* the greeting */
	is_return(ask("{\"execute\": \"qmp_capabilities\"}"));
}

START_TEST(greeting_then_negotiation)
{
	const struct json *v, *r;

	ck_assert_uint_eq(read_all(), 1);
	v = json_get(json_get(json_get(msg[0], "QMP"), "version"), "qemu");
	ck_assert_ptr_nonnull(v);
	ck_assert(json_get(v, "major")->num.is_int);
	ck_assert(json_get(v, "minor")->num.is_int);
	ck_assert(json_get(v, "micro")->num.is_int);
	ck_assert_int_eq(json_get(json_get(msg[0], "QMP"), "capabilities")->type, JSON_ARRAY);
	/* Nothing but qmp_capabilities before negotiation; the id comes back. */
	r = ask("{\"execute\": \"query-status\", \"id\": 7}");
	is_error(r, "CommandNotFound",
		 "Expecting capabilities negotiation with 'qmp_capabilities'");
	ck_assert_int_eq(json_get(r, "id")->num.i, 7);
	is_error(ask("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"),
		 "GenericError", "Capability 'oob' not available");
	is_error(ask("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": 1}}"),
		 "GenericError", NULL);
	r = ask("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}, "
		"\"id\": \"x\"}");
	is_return(r);
	ck_assert_uint_eq(json_get(r, "return")->obj.n, 0);
	ck_assert_str_eq(json_string(json_get(r, "id")), "x");
	is_error(ask("{\"execute\": \"qmp_capabilities\"}"), "CommandNotFound",
		 "Capabilities negotiation is already complete, command ignored");
	is_return(ask("{\"execute\": \"query-status\"}"));
}
END_TEST

START_TEST(queries)
{
	const struct json *r, *list;
	static const char *const names[] = {
		"qmp_capabilities",
		"query-version",
		"query-commands",
		"query-status",
		"query-name",
		"query-kvm",
		"query-cpus-fast",
		"query-block",
		"query-chardev",
		"stop",
		"cont",
		"system_powerdown",
		"system_reset",
		"quit",
		"migrate",
		"query-migrate",
	};

	negotiate();
	r = json_get(ask("{\"execute\": \"query-version\"}"), "return");
	ck_assert_ptr_nonnull(json_get(json_get(r, "qemu"), "major"));
	ck_assert_ptr_nonnull(strstr(json_string(json_get(r, "package")), "ember"));
	list = json_get(ask("{\"execute\": \"query-commands\"}"), "return");
	ck_assert_uint_eq(list->arr.n, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < list->arr.n; i++)
		ck_assert_str_eq(json_string(json_get(list->arr.v[i], "name")), names[i]);
	r = json_get(ask("{\"execute\": \"query-status\"}"), "return");
	ck_assert_str_eq(json_string(json_get(r, "status")), "running");
	ck_assert(json_get(r, "running")->b);
	r = json_get(ask("{\"execute\": \"query-name\"}"), "return");
	ck_assert_str_eq(json_string(json_get(r, "name")), "vm \"one\"");
	r = json_get(ask("{\"execute\": \"query-kvm\"}"), "return");
	ck_assert(json_get(r, "enabled")->b && json_get(r, "present")->b);
	for (const char *const *q =
		     (const char *const[]){ "query-block", "query-chardev", "query-cpus-fast",
					    "query-migrate", NULL };
	     *q; q++) {
		char req[64];

		snprintf(req, sizeof(req), "{\"execute\": \"%s\"}", *q);
		list = json_get(ask(req), "return");
		ck_assert_str_eq(json_string(json_get(list->arr.v[0], "asked")), *q);
	}
}
END_TEST

START_TEST(stop_cont_and_events)
{
	const struct json *ts;

	negotiate();
	/* The event before the reply, as QEMU sends them. */
	send_text("{\"execute\": \"stop\", \"id\": 1}");
	ck_assert_uint_eq(read_all(), 2);
	ck_assert_str_eq(json_string(json_get(msg[0], "event")), "STOP");
	ts = json_get(msg[0], "timestamp");
	ck_assert_int_eq(json_get(ts, "seconds")->num.i, 1700000000);
	ck_assert_int_eq(json_get(ts, "microseconds")->num.i, 123456);
	ck_assert_ptr_null(json_get(msg[0], "data"));
	is_return(msg[1]);
	ck_assert_uint_eq(m.stops, 1);
	ck_assert_str_eq(
		json_string(json_get(json_get(ask("{\"execute\": \"query-status\"}"), "return"),
				     "status")),
		"paused");
	send_text("{\"execute\": \"cont\"}");
	ck_assert_uint_eq(read_all(), 2);
	ck_assert_str_eq(json_string(json_get(msg[0], "event")), "RESUME");
	send_text("{\"execute\": \"system_powerdown\"}");
	ck_assert_uint_eq(read_all(), 2);
	ck_assert_str_eq(json_string(json_get(msg[0], "event")), "POWERDOWN");
	/* A failure is a GenericError with the machine's words. */
	m.fail = EBUSY;
	is_error(ask("{\"execute\": \"stop\"}"), "GenericError",
		 "cannot stop: Device or resource busy");
	is_error(ask("{\"execute\": \"cont\"}"), "GenericError", "cannot resume");
	m.fail = 0;
	/* An event with data. */
	qmp_event(m.q, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	ck_assert_uint_eq(read_all(), 1);
	ck_assert_str_eq(json_string(json_get(json_get(msg[0], "data"), "reason")),
			 "guest-shutdown");
	is_return(ask("{\"execute\": \"system_reset\"}"));
	is_return(ask("{\"execute\": \"quit\"}"));
	ck_assert_uint_eq(m.resets, 1);
	ck_assert_uint_eq(m.quits, 1);
}
END_TEST

/* migrate's URI and arguments checked as QEMU checks them; the machine sees only good ones. */
START_TEST(migrate_to_a_file)
{
	const struct json *r;

	negotiate();
	is_error(ask("{\"execute\": \"migrate\"}"), "GenericError", "Parameter 'uri' is missing");
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": 7}}"), "GenericError",
		 "Invalid parameter type for 'uri', expected: string");
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:0:4444\"}}"),
		 "GenericError", "ember migrates to a file only: give file:PATH");
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:\"}}"),
		 "GenericError", NULL);
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:/x\", "
		     "\"detach\": 1}}"),
		 "GenericError", "Invalid parameter type for 'detach', expected: boolean");
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:/x\", "
		     "\"blk\": true}}"),
		 "GenericError", "Parameter 'blk' is unexpected");
	ck_assert_uint_eq(m.migrates, 0);

	m.fail = ENOSPC;
	is_error(ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:/full/s\"}}"),
		 "GenericError", "cannot write /full/s");
	m.fail = 0;
	r = ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:/tmp/a,b\", "
		"\"detach\": true}, \"id\": 5}");
	is_return(r);
	ck_assert_int_eq(json_get(r, "id")->num.i, 5);
	ck_assert_uint_eq(m.migrates, 1);
	ck_assert_str_eq(m.path, "/tmp/a,b");
	r = json_get(ask("{\"execute\": \"query-status\"}"), "return");
	ck_assert_str_eq(json_string(json_get(r, "status")), "postmigrate");
	ck_assert(!json_get(r, "running")->b);
}
END_TEST

START_TEST(no_events_before_negotiation)
{
	ck_assert_uint_eq(read_all(), 1);
	qmp_event(m.q, "STOP", NULL);
	ck_assert_uint_eq(read_all(), 0);
	qmp_disconnect(m.q);
	qmp_event(m.q, "STOP", NULL);
	ck_assert_uint_eq(read_all(), 0);
	ck_assert_uint_eq(qmp_events_dropped(m.q), 0);
}
END_TEST

START_TEST(bad_requests_answered_and_the_session_goes_on)
{
	static const struct {
		const char *req, *class, *desc;
	} cases[] = {
		{ "[1, 2]", "GenericError", "QMP input must be a JSON object" },
		{ "{\"id\": 3}", "GenericError", "QMP input lacks member 'execute'" },
		{ "{\"execute\": 5}", "GenericError",
		  "QMP input member 'execute' must be a string" },
		{ "{\"execute\": \"stop\", \"arguments\": []}", "GenericError",
		  "QMP input member 'arguments' must be an object" },
		{ "{\"execute\": \"stop\", \"exec-oob\": 1}", "GenericError",
		  "QMP input member 'exec-oob' is unexpected" },
		{ "{\"execute\": \"stop\", \"arguments\": {\"force\": true}}", "GenericError",
		  "Parameter 'force' is unexpected" },
		{ "{\"execute\": \"no-such-thing\"}", "CommandNotFound",
		  "The command no-such-thing has not been found" },
		{ "{\"execute\": \"stop\",}", "GenericError", NULL },
		{ "{\"execute\": \"st\\u0000op\"}", "GenericError", NULL },
		{ "{\"execute\": \"stop\", \"execute\": \"cont\"}", "GenericError", NULL },
		{ "garbage\n", "GenericError", "JSON parse error, text outside a JSON object" },
	};

	negotiate();
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_error(ask(cases[i].req), cases[i].class, cases[i].desc);
		is_return(ask("{\"execute\": \"query-kvm\"}"));
	}
	ck_assert_uint_eq(m.stops + m.conts, 0);
}
END_TEST

START_TEST(requests_split_and_joined)
{
	const char *two = "{\"execute\": \"query-kvm\", \"id\": \"a}{[\\\"\"}\n"
			  "  {\"execute\": \"query-name\", \"id\": [{}]}";

	negotiate();
	/* A byte at a time: nothing until each object closes; braces in strings do not count. */
	for (size_t i = 0; two[i]; i++) {
		ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)two + i, 1), 1);
		if (two[i] == '\n') {
			ck_assert_uint_eq(read_all(), 1);
			ck_assert_str_eq(json_string(json_get(msg[0], "id")), "a}{[\"");
		} else if (two[i + 1] != '\0' && two[i + 1] != '\n') {
			ck_assert_uint_eq(read_all(), 0);
		}
	}
	ck_assert_uint_eq(read_all(), 1);
	ck_assert_int_eq(json_get(msg[0], "id")->type, JSON_ARRAY);
	/* Both in one piece. */
	send_text(two);
	ck_assert_uint_eq(read_all(), 2);
}
END_TEST

START_TEST(a_request_too_long_is_refused_unkept)
{
	size_t n = 3 * QMP_MAX_REQUEST;
	char *big = malloc(n + 64);
	size_t len;

	negotiate();
	/* A string member that never ends within the limit, then a proper close. */
	len = (size_t)sprintf(big, "{\"execute\": \"stop\", \"id\": \"");
	memset(big + len, 'x', n);
	len += n;
	len += (size_t)sprintf(big + len, "\"}");
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)big, len), len);
	ck_assert_uint_eq(read_all(), 1);
	is_error(msg[0], "GenericError", NULL);
	ck_assert_ptr_nonnull(
		strstr(json_string(json_get(json_get(msg[0], "error"), "desc")), "longer than"));
	ck_assert_uint_eq(m.stops, 0);
	/* Deep nesting, short enough to keep: the parser refuses it. */
	memset(big, '[', 1000);
	memset(big + 1000, ']', 1000);
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)big, 2000), 2000);
	ck_assert_uint_eq(read_all(), 1);
	is_error(msg[0], "GenericError", NULL);
	/* A line of junk, long and without its end yet: no reply, nothing kept. */
	memset(big, 'z', n);
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)big, n), n);
	ck_assert_uint_eq(read_all(), 0);
	send_text("\n");
	ck_assert_uint_eq(read_all(), 1);
	is_return(ask("{\"execute\": \"query-kvm\"}"));
	free(big);
}
END_TEST

START_TEST(a_client_that_never_reads)
{
	const char *req = "{\"execute\": \"query-commands\"}";
	size_t len = strlen(req), taken, pending, total = 0;

	negotiate();
	/* Output grows to the soft limit, then input waits. */
	for (;;) {
		taken = qmp_input(m.q, (const uint8_t *)req, len);
		total += taken;
		qmp_pending(m.q, &pending);
		ck_assert_uint_le(pending, QMP_OUTPUT_MAX);
		if (taken < len)
			break;
		ck_assert_uint_lt(total, 100 * QMP_OUTPUT_MAX);
	}
	ck_assert(!qmp_wants_input(m.q));
	ck_assert_uint_gt(pending, QMP_OUTPUT_SOFT);
	/* Events still find room up to the hard limit, then are counted as dropped. */
	for (int i = 0; i < 100000 && !qmp_events_dropped(m.q); i++)
		qmp_event(m.q, "RESUME", NULL);
	ck_assert_uint_eq(qmp_events_dropped(m.q), 1);
	qmp_pending(m.q, &pending);
	ck_assert_uint_le(pending, QMP_OUTPUT_MAX);
	/* Reading makes room, and the rest of the request is taken. */
	qmp_sent(m.q, pending);
	ck_assert(qmp_wants_input(m.q));
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)req + taken, len - taken), len - taken);
	ck_assert_uint_eq(read_all(), 1);
	is_return(msg[0]);
}
END_TEST

START_TEST(reconnect_starts_afresh)
{
	negotiate();
	/* Half a request, then the client goes. */
	send_text("{\"execute\": \"st");
	qmp_disconnect(m.q);
	ck_assert(!qmp_connected(m.q));
	/* Input without a client is dropped. */
	ck_assert_uint_eq(qmp_input(m.q, (const uint8_t *)"op\"}", 4), 4);
	qmp_connect(m.q);
	ck_assert_uint_eq(read_all(), 1);
	ck_assert_ptr_nonnull(json_get(msg[0], "QMP"));
	/* Negotiation again; the half request is gone. */
	is_error(ask("{\"execute\": \"query-kvm\"}"), "CommandNotFound", NULL);
	is_return(ask("{\"execute\": \"qmp_capabilities\"}"));
	ck_assert_uint_eq(m.stops, 0);
}
END_TEST

START_TEST(no_name)
{
	struct qmp *q;
	struct json *j;
	const char *p;
	size_t len;

	ck_assert_int_eq(qmp_create(&q, &ops, NULL), 0);
	qmp_connect(q);
	qmp_sent(q, 100000);
	ck_assert_uint_eq(qmp_input(q, (const uint8_t *)"{\"execute\": \"qmp_capabilities\"}", 31),
			  31);
	qmp_pending(q, &len);
	qmp_sent(q, len);
	ck_assert_uint_eq(qmp_input(q, (const uint8_t *)"{\"execute\": \"query-name\"}", 25), 25);
	p = qmp_pending(q, &len);
	ck_assert_int_eq(json_parse(p, len, &j, NULL, 0), 0);
	ck_assert_uint_eq(json_get(j, "return")->obj.n, 0);
	json_free(j);
	qmp_destroy(q);
}
END_TEST

static Suite *qmp_suite(void)
{
	Suite *s = suite_create("qmp");
	TCase *tc = tcase_create("qmp");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, greeting_then_negotiation);
	tcase_add_test(tc, queries);
	tcase_add_test(tc, stop_cont_and_events);
	tcase_add_test(tc, migrate_to_a_file);
	tcase_add_test(tc, no_events_before_negotiation);
	tcase_add_test(tc, bad_requests_answered_and_the_session_goes_on);
	tcase_add_test(tc, requests_split_and_joined);
	tcase_add_test(tc, a_request_too_long_is_refused_unkept);
	tcase_add_test(tc, a_client_that_never_reads);
	tcase_add_test(tc, reconnect_starts_afresh);
	tcase_add_test(tc, no_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(qmp_suite());
}
