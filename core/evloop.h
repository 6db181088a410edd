/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one thread waiting in epoll for host-side I/O (stdin, tap,
 * io_uring completion eventfds, timerfds, signalfd) and running the callback
 * registered for each ready descriptor.
 *
 * Handlers are added and removed before the loop thread starts, after it
 * stops, or from a callback on the loop thread itself.
 */
#ifndef EMBER_EVLOOP_H
#define EMBER_EVLOOP_H

#include <stdint.h>

/* `events` is the epoll event mask that was ready (EPOLLIN, EPOLLHUP, ...). */
typedef void (*evloop_cb)(void *opaque, uint32_t events);

struct evloop;

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *loop);

/* 0, -EEXIST when fd already has a handler, or another negative errno. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_del(struct evloop *loop, int fd);
/* Changes the events watched for `fd` (0 pauses it); the same threads as add and del. */
int evloop_mod(struct evloop *loop, int fd, uint32_t events);

/*
 * Runs ready handlers once, waiting at most timeout_ms (-1: forever).
 * Returns the number of handlers run or a negative errno. For tests and for
 * callers that drive the loop themselves.
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
