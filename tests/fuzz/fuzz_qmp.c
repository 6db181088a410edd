// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: QMP with a hostile client. The input is a script of
 * steps, each one byte then its arguments: client bytes in a piece of the
 * size the next two bytes give (the text follows in the input), the client
 * reading some of its output, an event, the machine's commands failing or
 * not, a disconnection and reconnection. Then the session ends.
 *
 * Checked: the output never passes QMP_OUTPUT_MAX; input is refused only
 * while more than QMP_OUTPUT_SOFT waits; every line the client reads is one
 * JSON object ending in CR LF, and is the greeting, a return, an error with
 * a class and a description, or an event with a timestamp. The JSON
 * parser meets every byte the client sends.
 */
#include "tests/fuzz/fuzzin.h"
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/qmp.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) FUZZ_FAIL("fuzz_qmp", __VA_ARGS__)

static struct {
	struct qmp *q;
	enum qmp_run_state state;
	int fail;
	unsigned int calls;
	char line[QMP_OUTPUT_MAX + 1];
	size_t line_len;
} f;

static enum qmp_run_state state(void *opaque)
{
	(void)opaque;
	return f.state;
}

static int change(const char *event, enum qmp_run_state to, char *err, size_t errlen)
{
	f.calls++;
	if (f.fail) {
		snprintf(err, errlen, "refused: %d", f.fail);
		return -f.fail;
	}
	f.state = to;
	qmp_event(f.q, event, NULL);
	return 0;
}

static int stop(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	return change("STOP", QMP_PAUSED, err, errlen);
}

static int cont(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	return change("RESUME", QMP_RUNNING, err, errlen);
}

static int powerdown(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	return change("POWERDOWN", f.state, err, errlen);
}

static void reset(void *opaque)
{
	(void)opaque;
	f.calls++;
	qmp_event(f.q, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
}

static void quit(void *opaque)
{
	(void)opaque;
	f.calls++;
}

static int migrate(void *opaque, const char *path, char *err, size_t errlen)
{
	(void)opaque;
	if (strlen(path) == 0)
		FAIL("migrate was given an empty path");
	return change("MIGRATION", QMP_POSTMIGRATE, err, errlen);
}

static void query(void *opaque, const char *command, struct jbuf *b)
{
	(void)opaque;
	f.calls++;
	jbuf_printf(b, "[{\"command\": \"%s\", \"n\": %u}]", command, f.calls);
}

static const struct qmp_ops ops = {
	.state = state,
	.stop = stop,
	.cont = cont,
	.powerdown = powerdown,
	.reset = reset,
	.quit = quit,
	.migrate = migrate,
	.query = query,
};

/* One line the client read: a JSON object of one of the four kinds. */
static void check_line(const char *p, size_t len)
{
	struct json *j;
	const struct json *e;

	if (len < 2 || p[len - 2] != '\r')
		FAIL("a line without CR LF");
	if (json_parse(p, len - 2, &j, NULL, 0) != 0)
		FAIL("a line that is not JSON: %.*s", (int)(len < 200 ? len : 200), p);
	if (j->type != JSON_OBJECT)
		FAIL("a line that is not an object");
	if (json_get(j, "QMP")) {
		if (!json_get(json_get(json_get(j, "QMP"), "version"), "qemu"))
			FAIL("a greeting without its version");
	} else if (json_get(j, "return")) {
		if (json_get(j, "error"))
			FAIL("a return with an error");
	} else if ((e = json_get(j, "error"))) {
		if (!json_string(json_get(e, "class")) || !json_string(json_get(e, "desc")))
			FAIL("an error without its class or description");
	} else if (json_string(json_get(j, "event"))) {
		if (!json_get(json_get(j, "timestamp"), "seconds"))
			FAIL("an event without its time");
	} else {
		FAIL("a line of no known kind");
	}
	json_free(j);
}

/* The client reads up to n bytes: each line it completes is checked. */
static void client_reads(size_t n)
{
	size_t len;
	const char *p = qmp_pending(f.q, &len);

	if (len > QMP_OUTPUT_MAX)
		FAIL("%zu bytes wait for the client", len);
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++) {
		if (f.line_len == sizeof(f.line))
			FAIL("a line longer than the output can hold");
		f.line[f.line_len++] = p[i];
		if (p[i] == '\n') {
			check_line(f.line, f.line_len);
			f.line_len = 0;
		}
	}
	qmp_sent(f.q, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = { data, size };

	memset(&f, 0, sizeof(f));
	if (qmp_create(&f.q, &ops, size & 1 ? "fuzz" : NULL) < 0)
		abort();
	qmp_connect(f.q);
	while (in.left) {
		switch (fin_take(&in, 1) % 6) {
		case 0:
		case 1: {
			/* Client bytes, as many as asked and the input has. */
			size_t n = (size_t)fin_take(&in, 2), taken, pending;

			if (n > in.left)
				n = in.left;
			taken = qmp_input(f.q, in.p, n);
			if (taken > n)
				FAIL("took more than it was given");
			if (taken < n && qmp_connected(f.q)) {
				qmp_pending(f.q, &pending);
				if (pending <= QMP_OUTPUT_SOFT)
					FAIL("refused input with room for output");
			}
			/* The rest is the client's to send again, from where it was taken. */
			in.p += taken;
			in.left -= taken;
			if (taken < n)
				client_reads(SIZE_MAX);
			break;
		}
		case 2:
			client_reads((size_t)fin_take(&in, 3));
			break;
		case 3:
			qmp_event(f.q, fin_take(&in, 1) & 1 ? "STOP" : "RESUME",
				  fin_take(&in, 1) & 1 ? "{\"x\": 1}" : NULL);
			break;
		case 4:
			f.fail = fin_take(&in, 1) & 1 ? EBUSY : 0;
			break;
		default:
			/* The client goes and comes back: what it read part-way goes with it. */
			qmp_disconnect(f.q);
			f.line_len = 0;
			qmp_connect(f.q);
			break;
		}
	}
	client_reads(SIZE_MAX);
	qmp_destroy(f.q);
	return 0;
}
