// SPDX-License-Identifier: MIT
#include "config.h"

#include "monitor.h"
#include "chsock.h"

#include <errno.h>
#include <stdlib.h>

#include "core/log.h"

/* How long the last words may take to reach a client at exit. */
#define MONITOR_LAST_WAIT_MS 1000

struct monitor {
	struct qmp *qmp;
	struct chsock *sock;
	uint64_t dropped_logged;
};

/* Sends what the client is owed, as far as it takes it now. */
static void flush(struct monitor *mon)
{
	size_t len, n;
	const char *p = qmp_pending(mon->qmp, &len);

	if (!len)
		return;
	/* A client that hung up reads nothing more: what it was owed goes. */
	n = chsock_connected(mon->sock) ? chsock_write(mon->sock, p, len) : len;
	qmp_sent(mon->qmp, n);
	if (qmp_events_dropped(mon->qmp) != mon->dropped_logged) {
		mon->dropped_logged = qmp_events_dropped(mon->qmp);
		log_warn("QMP: the client reads nothing; %llu events dropped so far",
			 (unsigned long long)mon->dropped_logged);
	}
}

static size_t sock_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct monitor *mon = opaque;
	size_t took = qmp_input(mon->qmp, buf, len);

	flush(mon);
	/* What it did not take waits in the socket's piece until writable() makes room. */
	return took;
}

static void sock_writable(void *opaque)
{
	struct monitor *mon = opaque;

	flush(mon);
	if (qmp_wants_input(mon->qmp))
		chsock_input_ready(mon->sock);
}

static void sock_connected(void *opaque, bool up)
{
	struct monitor *mon = opaque;

	if (up) {
		qmp_connect(mon->qmp);
		flush(mon);
	} else {
		qmp_disconnect(mon->qmp);
	}
}

int monitor_open(struct monitor **out, const char *path, struct evloop *loop,
		 const struct qmp_ops *ops, const char *name)
{
	struct chsock_ops sops = {
		.input = sock_input,
		.writable = sock_writable,
		.connected = sock_connected,
	};
	struct monitor *mon = calloc(1, sizeof(*mon));
	int ret;

	*out = NULL;
	if (!mon)
		return -ENOMEM;
	ret = qmp_create(&mon->qmp, ops, name);
	if (ret == 0) {
		sops.opaque = mon;
		ret = chsock_open(&mon->sock, path, loop, &sops);
		if (ret < 0)
			qmp_destroy(mon->qmp);
	}
	if (ret < 0) {
		free(mon);
		return ret;
	}
	*out = mon;
	return 0;
}

void monitor_event(struct monitor *mon, const char *name, const char *data)
{
	qmp_event(mon->qmp, name, data);
	flush(mon);
}

void monitor_close(struct monitor *mon, const char *name, const char *data)
{
	size_t len;
	const char *p;

	if (!mon)
		return;
	if (name)
		qmp_event(mon->qmp, name, data);
	p = qmp_pending(mon->qmp, &len);
	if (len && chsock_connected(mon->sock))
		chsock_write_wait(mon->sock, p, len, MONITOR_LAST_WAIT_MS);
	chsock_close(mon->sock);
	qmp_destroy(mon->qmp);
	free(mon);
}
