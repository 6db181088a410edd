// SPDX-License-Identifier: MIT
#include "config.h"

#include "qmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the scanner stands between bytes. */
enum scan {
	SCAN_IDLE,   /* between requests: white space, then '{' or '[' */
	SCAN_VALUE,  /* inside one, kept while it fits */
	SCAN_STRING, /* inside a string in one */
	SCAN_ESCAPE, /* after a backslash in that string */
	SCAN_JUNK,   /* text outside any request, refused up to its end of line */
};

struct qmp {
	struct qmp_ops ops;
	const char *name;
	unsigned int version[3]; /* ember's, from PACKAGE_VERSION */
	bool connected;
	bool negotiated; /* past qmp_capabilities */
	enum scan scan;
	size_t depth;
	bool too_long; /* the request passed QMP_MAX_REQUEST: not kept */
	char *req;
	size_t req_len;
	struct jbuf out;
	uint64_t events_dropped;
};

/* --- replies ----------------------------------------------------------------------- */

/* Appends `b` whole to the output if it fits under QMP_OUTPUT_MAX; else drops it. */
static bool send_buf(struct qmp *q, const struct jbuf *b)
{
	if (jbuf_full(b) || b->len > q->out.max - q->out.len)
		return false;
	jbuf_add(&q->out, b->p, b->len);
	if (!jbuf_full(&q->out))
		return true;
	/* Out of memory: nothing of it was added, and the next may fit. */
	q->out.full = false;
	return false;
}

/* Ends a reply begun in b: the request's id, if it had one, then the line's end; sends it. */
static void reply_end(struct qmp *q, struct jbuf *b, const struct json *id)
{
	if (id) {
		jbuf_add(b, ", \"id\": ", 8);
		jbuf_json(b, id);
	}
	jbuf_add(b, "}\r\n", 3);
	send_buf(q, b);
	jbuf_fini(b);
}

static void reply(struct qmp *q, const struct jbuf *ret, const struct json *id)
{
	struct jbuf b;

	jbuf_init(&b, QMP_OUTPUT_MAX);
	jbuf_add(&b, "{\"return\": ", 11);
	jbuf_add(&b, ret->p ? ret->p : "{}", ret->p ? ret->len : 2);
	reply_end(q, &b, id);
}

static void error_reply(struct qmp *q, const char *class, const char *desc, const struct json *id)
{
	struct jbuf b;

	jbuf_init(&b, QMP_OUTPUT_MAX);
	jbuf_printf(&b, "{\"error\": {\"class\": \"%s\", \"desc\": ", class);
	jbuf_string(&b, desc, strlen(desc));
	jbuf_add(&b, "}", 1);
	reply_end(q, &b, id);
}

/* --- commands ---------------------------------------------------------------------- */

struct cmd_ctx {
	struct qmp *q;
	const struct json *args; /* an object, or NULL for none */
	struct jbuf *ret;	 /* the "return" value; left empty: {} */
	char err[256];		 /* a GenericError's text; empty: none */
	const char *err_class;	 /* another class for it */
};

struct command {
	const char *name;
	void (*run)(struct cmd_ctx *c);
	const char *const *params; /* the arguments it takes; NULL: none */
};

static const struct command commands[];

static void cmd_capabilities(struct cmd_ctx *c)
{
	const struct json *enable = json_get(c->args, "enable");

	if (c->q->negotiated) {
		c->err_class = "CommandNotFound";
		snprintf(c->err, sizeof(c->err),
			 "Capabilities negotiation is already complete, command ignored");
		return;
	}
	if (enable) {
		if (enable->type != JSON_ARRAY) {
			snprintf(c->err, sizeof(c->err),
				 "Invalid parameter type for 'enable', expected: array");
			return;
		}
		/* ember offers no capability (no out-of-band execution). */
		for (size_t i = 0; i < enable->arr.n; i++) {
			const char *s = json_string(enable->arr.v[i]);

			if (!s) {
				snprintf(c->err, sizeof(c->err),
					 "Invalid parameter type for 'enable[%zu]', expected: "
					 "string",
					 i);
				return;
			}
			if (strcmp(s, "oob") == 0)
				snprintf(c->err, sizeof(c->err), "Capability 'oob' not available");
			else
				snprintf(c->err, sizeof(c->err),
					 "Parameter 'enable[%zu]' does not accept value '%.64s'", i,
					 s);
			return;
		}
	}
	c->q->negotiated = true;
}

static void cmd_version(struct cmd_ctx *c)
{
	const unsigned int *v = c->q->version;

	jbuf_printf(c->ret,
		    "{\"qemu\": {\"micro\": %u, \"minor\": %u, \"major\": %u}, "
		    "\"package\": \"ember %s\"}",
		    v[2], v[1], v[0], PACKAGE_VERSION);
}

static void cmd_commands(struct cmd_ctx *c)
{
	jbuf_add(c->ret, "[", 1);
	for (const struct command *cmd = commands; cmd->name; cmd++)
		jbuf_printf(c->ret, "%s{\"name\": \"%s\"}", cmd == commands ? "" : ", ", cmd->name);
	jbuf_add(c->ret, "]", 1);
}

static void cmd_status(struct cmd_ctx *c)
{
	static const char *const names[] = {
		[QMP_RUNNING] = "running",
		[QMP_PAUSED] = "paused",
		[QMP_SHUTDOWN] = "shutdown",
		[QMP_POSTMIGRATE] = "postmigrate",
	};
	enum qmp_run_state s = c->q->ops.state(c->q->ops.opaque);

	jbuf_printf(c->ret, "{\"status\": \"%s\", \"singlestep\": false, \"running\": %s}",
		    names[s], s == QMP_RUNNING ? "true" : "false");
}

static void cmd_name(struct cmd_ctx *c)
{
	if (!c->q->name) {
		jbuf_add(c->ret, "{}", 2);
		return;
	}
	jbuf_add(c->ret, "{\"name\": ", 9);
	jbuf_string(c->ret, c->q->name, strlen(c->q->name));
	jbuf_add(c->ret, "}", 1);
}

static void cmd_kvm(struct cmd_ctx *c)
{
	jbuf_printf(c->ret, "{\"enabled\": true, \"present\": true}");
}

static void cmd_query(struct cmd_ctx *c, const char *name)
{
	c->q->ops.query(c->q->ops.opaque, name, c->ret);
}

static void cmd_cpus(struct cmd_ctx *c)
{
	cmd_query(c, "query-cpus-fast");
}

static void cmd_block(struct cmd_ctx *c)
{
	cmd_query(c, "query-block");
}

static void cmd_chardev(struct cmd_ctx *c)
{
	cmd_query(c, "query-chardev");
}

static void cmd_stop(struct cmd_ctx *c)
{
	c->q->ops.stop(c->q->ops.opaque, c->err, sizeof(c->err));
}

static void cmd_cont(struct cmd_ctx *c)
{
	c->q->ops.cont(c->q->ops.opaque, c->err, sizeof(c->err));
}

static void cmd_powerdown(struct cmd_ctx *c)
{
	c->q->ops.powerdown(c->q->ops.opaque, c->err, sizeof(c->err));
}

static void cmd_reset(struct cmd_ctx *c)
{
	c->q->ops.reset(c->q->ops.opaque);
}

static void cmd_quit(struct cmd_ctx *c)
{
	c->q->ops.quit(c->q->ops.opaque);
}

/*
 * migrate {"uri": "file:PATH"}: the snapshot is whole on disk when the
 * reply comes (QEMU replies at once and finishes later; a client that
 * polls query-migrate finds "completed" either way).
 */
static void cmd_migrate(struct cmd_ctx *c)
{
	const struct json *uri = json_get(c->args, "uri"), *detach = json_get(c->args, "detach");
	const char *u = json_string(uri);

	if (!uri) {
		snprintf(c->err, sizeof(c->err), "Parameter 'uri' is missing");
		return;
	}
	if (!u) {
		snprintf(c->err, sizeof(c->err),
			 "Invalid parameter type for 'uri', expected: string");
		return;
	}
	if (detach && detach->type != JSON_BOOL) {
		snprintf(c->err, sizeof(c->err),
			 "Invalid parameter type for 'detach', expected: boolean");
		return;
	}
	if (strncmp(u, "file:", 5) != 0 || !u[5]) {
		snprintf(c->err, sizeof(c->err), "ember migrates to a file only: give file:PATH");
		return;
	}
	c->q->ops.migrate(c->q->ops.opaque, u + 5, c->err, sizeof(c->err));
}

static void cmd_query_migrate(struct cmd_ctx *c)
{
	cmd_query(c, "query-migrate");
}

static const char *const capabilities_params[] = { "enable", NULL };
static const char *const migrate_params[] = { "uri", "detach", NULL };

static const struct command commands[] = {
	{ "qmp_capabilities", cmd_capabilities, capabilities_params },
	{ "query-version", cmd_version, NULL },
	{ "query-commands", cmd_commands, NULL },
	{ "query-status", cmd_status, NULL },
	{ "query-name", cmd_name, NULL },
	{ "query-kvm", cmd_kvm, NULL },
	{ "query-cpus-fast", cmd_cpus, NULL },
	{ "query-block", cmd_block, NULL },
	{ "query-chardev", cmd_chardev, NULL },
	{ "stop", cmd_stop, NULL },
	{ "cont", cmd_cont, NULL },
	{ "system_powerdown", cmd_powerdown, NULL },
	{ "system_reset", cmd_reset, NULL },
	{ "quit", cmd_quit, NULL },
	{ "migrate", cmd_migrate, migrate_params },
	{ "query-migrate", cmd_query_migrate, NULL },
	{ NULL, NULL, NULL },
};

static bool takes(const struct command *cmd, const char *param)
{
	for (const char *const *p = cmd->params; p && *p; p++)
		if (strcmp(*p, param) == 0)
			return true;
	return false;
}

/* One parsed request: checked as QEMU checks it, then run. */
static void run_request(struct qmp *q, const struct json *j)
{
	const struct json *id = json_get(j, "id"), *exec, *args;
	const struct command *cmd;
	struct cmd_ctx c = { .q = q };
	struct jbuf ret;
	const char *name;

	if (j->type != JSON_OBJECT) {
		error_reply(q, "GenericError", "QMP input must be a JSON object", NULL);
		return;
	}
	for (size_t i = 0; i < j->obj.n; i++) {
		const char *k = j->obj.m[i].key;
		char msg[128];

		if (strcmp(k, "execute") && strcmp(k, "arguments") && strcmp(k, "id")) {
			snprintf(msg, sizeof(msg), "QMP input member '%.64s' is unexpected", k);
			error_reply(q, "GenericError", msg, id);
			return;
		}
	}
	exec = json_get(j, "execute");
	if (!exec) {
		error_reply(q, "GenericError", "QMP input lacks member 'execute'", id);
		return;
	}
	name = json_string(exec);
	if (!name) {
		error_reply(q, "GenericError", "QMP input member 'execute' must be a string", id);
		return;
	}
	args = json_get(j, "arguments");
	if (args && args->type != JSON_OBJECT) {
		error_reply(q, "GenericError", "QMP input member 'arguments' must be an object",
			    id);
		return;
	}
	for (cmd = commands; cmd->name && strcmp(cmd->name, name) != 0; cmd++)
		;
	if (!q->negotiated && cmd->run != cmd_capabilities) {
		error_reply(q, "CommandNotFound",
			    "Expecting capabilities negotiation with 'qmp_capabilities'", id);
		return;
	}
	if (!cmd->name) {
		char msg[128];

		snprintf(msg, sizeof(msg), "The command %.64s has not been found", name);
		error_reply(q, "CommandNotFound", msg, id);
		return;
	}
	for (size_t i = 0; args && i < args->obj.n; i++) {
		if (!takes(cmd, args->obj.m[i].key)) {
			char msg[128];

			snprintf(msg, sizeof(msg), "Parameter '%.64s' is unexpected",
				 args->obj.m[i].key);
			error_reply(q, "GenericError", msg, id);
			return;
		}
	}
	jbuf_init(&ret, QMP_OUTPUT_SOFT);
	c.args = args;
	c.ret = &ret;
	cmd->run(&c);
	if (c.err[0])
		error_reply(q, c.err_class ? c.err_class : "GenericError", c.err, id);
	else if (jbuf_full(&ret))
		error_reply(q, "GenericError", "the reply would be too long", id);
	else
		reply(q, &ret, id);
	jbuf_fini(&ret);
}

/* --- input ------------------------------------------------------------------------- */

static void request_done(struct qmp *q)
{
	char err[128], msg[192];
	struct json *j;
	int ret;

	if (q->too_long) {
		snprintf(msg, sizeof(msg), "JSON parse error, a request longer than %d bytes",
			 QMP_MAX_REQUEST);
		error_reply(q, "GenericError", msg, NULL);
	} else {
		ret = json_parse(q->req, q->req_len, &j, err, sizeof(err));
		if (ret == 0) {
			run_request(q, j);
			json_free(j);
		} else {
			snprintf(msg, sizeof(msg), "JSON parse error, %s", err);
			error_reply(q, "GenericError", msg, NULL);
		}
	}
	q->req_len = 0;
	q->too_long = false;
	q->depth = 0;
	q->scan = SCAN_IDLE;
}

static void keep(struct qmp *q, uint8_t c)
{
	if (q->too_long)
		return;
	if (q->req_len == QMP_MAX_REQUEST) {
		q->too_long = true;
		return;
	}
	q->req[q->req_len++] = (char)c;
}

static void scan_byte(struct qmp *q, uint8_t c)
{
	switch (q->scan) {
	case SCAN_IDLE:
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			return;
		if (c == '{' || c == '[') {
			q->scan = SCAN_VALUE;
			q->depth = 1;
			keep(q, c);
			return;
		}
		q->scan = SCAN_JUNK;
		return;
	case SCAN_JUNK:
		if (c == '\n') {
			error_reply(q, "GenericError",
				    "JSON parse error, text outside a JSON object", NULL);
			q->scan = SCAN_IDLE;
		}
		return;
	case SCAN_STRING:
		keep(q, c);
		if (c == '\\')
			q->scan = SCAN_ESCAPE;
		else if (c == '"')
			q->scan = SCAN_VALUE;
		return;
	case SCAN_ESCAPE:
		keep(q, c);
		q->scan = SCAN_STRING;
		return;
	case SCAN_VALUE:
		keep(q, c);
		if (c == '"') {
			q->scan = SCAN_STRING;
		} else if (c == '{' || c == '[') {
			q->depth++;
		} else if (c == '}' || c == ']') {
			if (--q->depth == 0)
				request_done(q);
		}
		return;
	}
}

size_t qmp_input(struct qmp *q, const uint8_t *buf, size_t len)
{
	size_t i;

	if (!q->connected)
		return len;
	for (i = 0; i < len && qmp_wants_input(q); i++)
		scan_byte(q, buf[i]);
	return i;
}

bool qmp_wants_input(const struct qmp *q)
{
	return q->out.len <= QMP_OUTPUT_SOFT;
}

/* --- the connection ---------------------------------------------------------------- */

static void drop_input(struct qmp *q)
{
	q->scan = SCAN_IDLE;
	q->depth = 0;
	q->req_len = 0;
	q->too_long = false;
}

void qmp_connect(struct qmp *q)
{
	struct jbuf b;
	const unsigned int *v = q->version;

	q->connected = true;
	q->negotiated = false;
	drop_input(q);
	q->out.len = 0;
	jbuf_init(&b, 1024);
	jbuf_printf(&b,
		    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": %u, \"minor\": %u, "
		    "\"major\": %u}, \"package\": \"ember %s\"}, \"capabilities\": []}}\r\n",
		    v[2], v[1], v[0], PACKAGE_VERSION);
	send_buf(q, &b);
	jbuf_fini(&b);
}

void qmp_disconnect(struct qmp *q)
{
	q->connected = false;
	q->negotiated = false;
	drop_input(q);
	q->out.len = 0;
}

bool qmp_connected(const struct qmp *q)
{
	return q->connected;
}

const char *qmp_pending(const struct qmp *q, size_t *len)
{
	*len = q->out.len;
	return q->out.p;
}

void qmp_sent(struct qmp *q, size_t n)
{
	jbuf_consume(&q->out, n);
}

void qmp_event(struct qmp *q, const char *name, const char *data)
{
	struct timespec ts;
	struct jbuf b;

	if (!q->connected || !q->negotiated)
		return;
	if (q->ops.now)
		q->ops.now(&ts);
	else
		clock_gettime(CLOCK_REALTIME, &ts);
	jbuf_init(&b, 4096);
	jbuf_printf(&b,
		    "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %ld}, "
		    "\"event\": \"%s\"",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000, name);
	if (data) {
		jbuf_add(&b, ", \"data\": ", 10);
		jbuf_add(&b, data, strlen(data));
	}
	jbuf_add(&b, "}\r\n", 3);
	if (!send_buf(q, &b))
		q->events_dropped++;
	jbuf_fini(&b);
}

uint64_t qmp_events_dropped(const struct qmp *q)
{
	return q->events_dropped;
}

int qmp_create(struct qmp **out, const struct qmp_ops *ops, const char *name)
{
	struct qmp *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->req = malloc(QMP_MAX_REQUEST);
	if (!q->req) {
		free(q);
		return -ENOMEM;
	}
	q->ops = *ops;
	q->name = name;
	if (sscanf(PACKAGE_VERSION, "%u.%u.%u", &q->version[0], &q->version[1], &q->version[2]) < 1)
		memset(q->version, 0, sizeof(q->version));
	jbuf_init(&q->out, QMP_OUTPUT_MAX);
	*out = q;
	return 0;
}

void qmp_destroy(struct qmp *q)
{
	if (!q)
		return;
	jbuf_fini(&q->out);
	free(q->req);
	free(q);
}
