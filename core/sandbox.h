/* SPDX-License-Identifier: MIT */
/*
 * seccomp filters, one for each kind of ember thread. The main thread builds
 * every filter while it may still do anything (sandbox_prepare); each thread
 * then confines itself before it touches guest data (sandbox_enter), and the
 * main thread confines itself last, once every thread runs.
 *
 * A call outside a thread's list kills the whole process with SIGSYS. In
 * debug mode the call traps instead: its name and the thread's are written
 * to stderr, then ember dies with SIGSYS all the same.
 */
#ifndef EMBER_SANDBOX_H
#define EMBER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sandbox_kind {
	SANDBOX_MAIN,	/* the main thread once the guest runs: waits, then tears down */
	SANDBOX_VCPU,	/* KVM_RUN and the device emulation behind each exit */
	SANDBOX_EVENTS, /* the event loop: ioeventfds, taps, timers, disk completions */
	SANDBOX_DISK,	/* the threads disk engine's workers */
	SANDBOX_KINDS,
};

/* How a rule looks at one argument of the call. */
enum sandbox_arg {
	SANDBOX_ANY,	   /* every argument allowed */
	SANDBOX_EQ,	   /* argument `arg` equals `value` */
	SANDBOX_MASK_ZERO, /* argument `arg` has none of the bits in `value` */
};

/* A system call a thread may make; one call may have several rules (ioctl). */
struct sandbox_rule {
	int nr;
	const char *name;
	enum sandbox_arg how;
	unsigned int arg;
	uint64_t value;
	const char *value_name;
	/* 0: the call is allowed; else it fails with this errno instead of running. */
	int refuse;
};

/*
 * The rules of one kind of thread beyond those every thread has, which
 * SANDBOX_KINDS gives ("common"); in the order docs/architecture.md lists them.
 */
const struct sandbox_rule *sandbox_rules(enum sandbox_kind kind, size_t *count);
const char *sandbox_kind_name(enum sandbox_kind kind);

/*
 * Builds every kind's filter. With debug, a forbidden call is reported by
 * name before ember dies. Fails (-errno, message in err) when the kernel or
 * libseccomp cannot confine ember as asked: ember must not run unconfined.
 */
int sandbox_prepare(bool debug, char *err, size_t err_len);

/* True once sandbox_prepare succeeded: threads started from now on confine themselves. */
bool sandbox_active(void);

/*
 * Confines the calling thread with its kind's filter, for good; `name`
 * names it in debug reports. Does nothing (returns 0) before
 * sandbox_prepare. 0 or -errno.
 */
int sandbox_enter(enum sandbox_kind kind, const char *name);

#endif
