// SPDX-License-Identifier: MIT
#include "config.h"

#include "evloop.h"
#include "clock.h"
#include "log.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct evloop_handler {
	int fd;
	evloop_cb cb;
	void *opaque;
	struct evloop_handler *next;
};

struct evloop {
	int epfd;
	int wakefd; /* eventfd that evloop_stop() signals */
	struct evloop_handler *handlers;
	/* Removed handlers, freed once no epoll batch can still name them. */
	struct evloop_handler *dead;
	pthread_t thread;
	/* Read by any thread (evloop_on_thread); written by the one that starts and stops it. */
	_Atomic bool running;
	_Atomic bool stop;
};

/* The loop whose thread this is; NULL on every other thread. */
static _Thread_local struct evloop *this_thread_loop;

static void free_list(struct evloop_handler *h)
{
	while (h) {
		struct evloop_handler *next = h->next;

		free(h);
		h = next;
	}
}

int evloop_create(struct evloop **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct evloop *loop = calloc(1, sizeof(*loop));
	int ret;

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0)
		goto fail;
	/* data.ptr NULL marks the wake-up descriptor. */
	ev.data.ptr = NULL;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
		goto fail;
	*out = loop;
	return 0;
fail:
	ret = -errno;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	evloop_stop(loop);
	free_list(loop->handlers);
	free_list(loop->dead);
	close(loop->epfd);
	close(loop->wakefd);
	free(loop);
}

bool evloop_on_thread(struct evloop *loop)
{
	return !atomic_load(&loop->running) || this_thread_loop == loop;
}

static struct evloop_handler **find(struct evloop *loop, int fd)
{
	struct evloop_handler **pp;

	for (pp = &loop->handlers; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			return pp;
	return NULL;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct evloop_handler *h;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (!evloop_on_thread(loop))
		return -EBUSY;
	if (find(loop, fd))
		return -EEXIST;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->cb = cb;
	h->opaque = opaque;
	ev.data.ptr = h;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;

		free(h);
		return ret;
	}
	h->next = loop->handlers;
	loop->handlers = h;
	return 0;
}

int evloop_del(struct evloop *loop, int fd)
{
	struct evloop_handler **pp, *h;

	if (!evloop_on_thread(loop))
		return -EBUSY;
	pp = find(loop, fd);
	if (!pp)
		return -ENOENT;
	h = *pp;
	*pp = h->next;
	/* The fd may already be closed, which removed it from epoll. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/*
	 * A handler removed by a callback may still be in the batch that
	 * epoll_wait returned: mark it so the batch skips it, free it later.
	 */
	h->cb = NULL;
	h->next = loop->dead;
	loop->dead = h;
	return 0;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct evloop_handler **pp;

	if (!evloop_on_thread(loop))
		return -EBUSY;
	pp = find(loop, fd);
	if (!pp)
		return -ENOENT;
	ev.data.ptr = *pp;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n, ran = 0;

	if (!evloop_on_thread(loop))
		return -EBUSY;
	n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = evs[i].data.ptr;

		if (!h) {
			uint64_t v;

			if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("event loop: reading the wake-up eventfd: %s",
					 strerror(errno));
			continue;
		}
		if (!h->cb)
			continue; /* removed by an earlier callback in this batch */
		h->cb(h->opaque, evs[i].events);
		ran++;
	}
	free_list(loop->dead);
	loop->dead = NULL;
	return ran;
}

static void *loop_thread(void *arg)
{
	struct evloop *loop = arg;

	this_thread_loop = loop;
	while (!atomic_load(&loop->stop)) {
		int ret = evloop_run_once(loop, -1);

		if (ret < 0) {
			log_err("event loop: epoll_wait: %s", strerror(-ret));
			break;
		}
	}
	return NULL;
}

int evloop_start(struct evloop *loop)
{
	int ret;

	if (atomic_load(&loop->running))
		return -EBUSY;
	atomic_store(&loop->stop, false);
	/* From here on other threads keep their hands off the handler list. */
	atomic_store(&loop->running, true);
	ret = thread_start(&loop->thread, loop_thread, loop, "ember-events", SANDBOX_EVENTS);
	if (ret < 0)
		atomic_store(&loop->running, false);
	return ret < 0 ? ret : 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	if (!atomic_load(&loop->running))
		return;
	atomic_store(&loop->stop, true);
	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		log_warn("event loop: waking the loop thread: %s", strerror(errno));
	pthread_join(loop->thread, NULL);
	atomic_store(&loop->running, false);
}

int evloop_add_timer(struct evloop *loop, uint64_t first_ns, uint64_t period_ns, evloop_cb cb,
		     void *opaque)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(first_ns / NSEC_PER_SEC),
			      .tv_nsec = (long)(first_ns % NSEC_PER_SEC) },
		.it_interval = { .tv_sec = (time_t)(period_ns / NSEC_PER_SEC),
				 .tv_nsec = (long)(period_ns % NSEC_PER_SEC) },
	};
	int fd, ret;

	if (first_ns == 0)
		return -EINVAL; /* a zero it_value would disarm the timer */
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = evloop_add(loop, fd, EPOLLIN, cb, opaque);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}
