/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor: app/qmp.c's protocol on a listening Unix socket
 * (app/chsock.c), one client at a time. Replies and events go to the client
 * as it takes them; while it does not, the protocol's own limits hold
 * (QMP_OUTPUT_SOFT stops its input, QMP_OUTPUT_MAX drops events).
 *
 * Everything runs on the event loop thread, or before it starts and after
 * it stops (monitor_close()).
 */
#ifndef EMBER_MONITOR_H
#define EMBER_MONITOR_H

#include "qmp.h"

struct evloop;
struct monitor;

/*
 * Listens on `path`; `ops` answer the commands, `name` is -name's (NULL:
 * none; it must outlive the monitor). 0, or the negative errno of
 * chsock_open() or an allocation.
 */
int monitor_open(struct monitor **out, const char *path, struct evloop *loop,
		 const struct qmp_ops *ops, const char *name);
/* An event for the client (qmp_event()), sent as it can take it. */
void monitor_event(struct monitor *mon, const char *name, const char *data);
/*
 * Once the loop has stopped: the last event (`name` and `data`, or NULL),
 * what is still owed to the client sent within a second, then the socket
 * closed and its file removed. NULL is fine.
 */
void monitor_close(struct monitor *mon, const char *name, const char *data);

#endif
