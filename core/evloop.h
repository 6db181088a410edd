/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one thread waiting in epoll for host-side I/O (stdin, tap,
 * io_uring completion eventfds, timerfds, signalfd) and running the callback
 * registered for each ready descriptor.
 *
 * Handlers are added, changed and removed before the loop thread starts,
 * after it stops, or from a callback on the loop thread itself. While the
 * loop thread runs, any other thread that tries gets -EBUSY: the handler
 * list is the loop thread's alone. A vCPU thread hands such a change to the
 * loop instead, through an eventfd the loop watches (as app/console.c and
 * the NICs in app/machine.c do).
 */
#ifndef EMBER_EVLOOP_H
#define EMBER_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

/* `events` is the epoll event mask that was ready (EPOLLIN, EPOLLHUP, ...). */
typedef void (*evloop_cb)(void *opaque, uint32_t events);

struct evloop;

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *loop);

/*
 * 0, -EEXIST when fd already has a handler, -EBUSY from a thread that may
 * not change handlers now (above), or another negative errno.
 */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_del(struct evloop *loop, int fd);
/* Changes the events watched for `fd` (0 pauses it); the same threads as add and del. */
int evloop_mod(struct evloop *loop, int fd, uint32_t events);

/*
 * Whether the calling thread may add, change or remove handlers now: the
 * loop thread is not running, or this is the loop thread. Any thread.
 */
bool evloop_on_thread(struct evloop *loop);

/*
 * Runs ready handlers once, waiting at most timeout_ms (-1: forever).
 * Returns the number of handlers run or a negative errno (-EBUSY while the
 * loop thread runs). For tests and for callers that drive the loop themselves.
 */
int evloop_run_once(struct evloop *loop, int timeout_ms);

/* Starts the loop thread; evloop_stop() wakes and joins it. */
int evloop_start(struct evloop *loop);
void evloop_stop(struct evloop *loop);

/*
 * A timerfd firing every `period_ns` (0: once, after `first_ns`) whose
 * expirations go to `cb`. Returns the timerfd (owned by the caller, who
 * removes it with evloop_del() and closes it) or a negative errno.
 */
int evloop_add_timer(struct evloop *loop, uint64_t first_ns, uint64_t period_ns, evloop_cb cb,
		     void *opaque);

#endif
