/* SPDX-License-Identifier: MIT */
/*
 * QMP, QEMU's machine protocol, as a client of the control socket speaks it
 * (QEMU's docs/interop/qmp-spec): the greeting, capabilities negotiation,
 * commands with their replies and errors, and asynchronous events. This is
 * the protocol alone, for one client at a time; the machine answers the
 * commands through struct qmp_ops and carries the bytes (app/machine.c).
 *
 * Input is scanned as it comes: a JSON object is collected until its braces
 * balance (strings respected) and then parsed and run. Memory stays bounded
 * whatever the client sends: a request longer than QMP_MAX_REQUEST is read
 * to its end and refused without being kept, text outside any object is
 * refused up to its end of line, and once QMP_OUTPUT_SOFT bytes of replies
 * wait for a client that does not read, input is taken no further until it
 * does. Events find room up to QMP_OUTPUT_MAX and are dropped past it.
 */
#ifndef EMBER_QMP_H
#define EMBER_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/json.h"

#define QMP_MAX_REQUEST (64 * 1024)
#define QMP_OUTPUT_SOFT (64 * 1024)
/* A reply echoes an id of up to QMP_MAX_REQUEST bytes: room for one past the soft limit. */
#define QMP_OUTPUT_MAX (QMP_OUTPUT_SOFT + 2 * QMP_MAX_REQUEST + 4096)

/* The machine's state, as query-status names it. */
enum qmp_run_state {
	QMP_RUNNING,
	QMP_PAUSED,
	QMP_SHUTDOWN,
	QMP_POSTMIGRATE, /* paused, a snapshot written since */
};

/*
 * What the machine does for the commands. Every call comes from the thread
 * that calls qmp_input() (the event loop's). A command that fails returns a
 * negative errno with a message in `err` (errlen bytes), which becomes a
 * GenericError.
 */
struct qmp_ops {
	enum qmp_run_state (*state)(void *opaque);
	/* stop and cont: every vCPU paused or running again (emitting STOP or RESUME). */
	int (*stop)(void *opaque, char *err, size_t errlen);
	int (*cont)(void *opaque, char *err, size_t errlen);
	/* system_powerdown: the ACPI power button (emitting POWERDOWN). */
	int (*powerdown)(void *opaque, char *err, size_t errlen);
	/* system_reset and quit: the machine ends after this reply (emitting SHUTDOWN). */
	void (*reset)(void *opaque);
	void (*quit)(void *opaque);
	/*
	 * migrate to file:PATH: `path` gets the snapshot, whole when this
	 * returns 0; a running machine is paused first and stays paused.
	 */
	int (*migrate)(void *opaque, const char *path, char *err, size_t errlen);
	/*
	 * query-block, query-chardev, query-cpus-fast, query-migrate: writes the command's
	 * "return" value into `b`.
	 */
	void (*query)(void *opaque, const char *command, struct jbuf *b);
	/* For events' timestamps; NULL: clock_gettime(CLOCK_REALTIME). */
	void (*now)(struct timespec *ts);
	void *opaque;
};

struct qmp;

/* `name` (-name; NULL: none) must outlive it. 0 or -ENOMEM. */
int qmp_create(struct qmp **out, const struct qmp_ops *ops, const char *name);
void qmp_destroy(struct qmp *q);

/* A client connected: its greeting waits in the output; it starts in negotiation. */
void qmp_connect(struct qmp *q);
/* It went: what it sent part-way and what waited for it are dropped. */
void qmp_disconnect(struct qmp *q);
bool qmp_connected(const struct qmp *q);

/*
 * Bytes from the client, run as they complete commands. Returns how many
 * were taken: all, unless the output waiting for the client has passed
 * QMP_OUTPUT_SOFT; the rest is offered again once qmp_sent() has made room.
 */
size_t qmp_input(struct qmp *q, const uint8_t *buf, size_t len);
/* Whether qmp_input() would take more now. */
bool qmp_wants_input(const struct qmp *q);

/* The output waiting for the client, and how much of it was sent. */
const char *qmp_pending(const struct qmp *q, size_t *len);
void qmp_sent(struct qmp *q, size_t n);

/*
 * An event for a client past negotiation (none else gets it): `name` and
 * `data`, a JSON object's text or NULL for none, with the time now.
 */
void qmp_event(struct qmp *q, const char *name, const char *data);
/* Events dropped because the client did not read. */
uint64_t qmp_events_dropped(const struct qmp *q);

#endif
