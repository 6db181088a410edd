// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/clock.h"
#include "core/evloop.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct hit {
	int fd;
	unsigned int calls;
	uint32_t events;
	struct evloop *loop;
	int remove_fd; /* removed from inside the callback when >= 0 */
};

static void on_ready(void *opaque, uint32_t events)
{
	struct hit *h = opaque;
	char buf[64];

	h->calls++;
	h->events = events;
	if (read(h->fd, buf, sizeof(buf)) < 0)
		ck_abort_msg("read: %d", errno);
	if (h->remove_fd >= 0)
		ck_assert_int_eq(evloop_del(h->loop, h->remove_fd), 0);
}

START_TEST(readable_fd_runs_its_handler)
{
	struct evloop *loop;
	struct hit h = { .remove_fd = -1 };
	int p[2];

	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(pipe(p), 0);
	h.fd = p[0];
	ck_assert_int_eq(evloop_add(loop, p[0], EPOLLIN, on_ready, &h), 0);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 1);
	ck_assert_uint_eq(h.calls, 1);
	ck_assert(h.events & EPOLLIN);
	evloop_destroy(loop);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(add_and_del_errors)
{
	struct evloop *loop;
	struct hit h = { .remove_fd = -1 };
	int p[2];

	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(evloop_add(loop, p[0], EPOLLIN, on_ready, &h), 0);
	ck_assert_int_eq(evloop_add(loop, p[0], EPOLLIN, on_ready, &h), -EEXIST);
	ck_assert_int_eq(evloop_add(loop, -1, EPOLLIN, on_ready, &h), -EINVAL);
	ck_assert_int_eq(evloop_add(loop, p[1], EPOLLOUT, NULL, &h), -EINVAL);
	ck_assert_int_eq(evloop_del(loop, p[1]), -ENOENT);
	ck_assert_int_eq(evloop_del(loop, p[0]), 0);
	ck_assert_int_eq(evloop_del(loop, p[0]), -ENOENT);
	evloop_destroy(loop);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(handler_removed_by_an_earlier_one_in_the_batch)
{
	struct evloop *loop;
	struct hit a = { .remove_fd = -1 }, b = { .remove_fd = -1 };
	int pa[2], pb[2];

	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(pipe(pa), 0);
	ck_assert_int_eq(pipe(pb), 0);
	a.fd = pa[0];
	b.fd = pb[0];
	a.loop = b.loop = loop;
	/* Whichever runs first removes the other; the other must not run. */
	a.remove_fd = pb[0];
	b.remove_fd = pa[0];
	ck_assert_int_eq(evloop_add(loop, pa[0], EPOLLIN, on_ready, &a), 0);
	ck_assert_int_eq(evloop_add(loop, pb[0], EPOLLIN, on_ready, &b), 0);
	ck_assert_int_eq(write(pa[1], "x", 1), 1);
	ck_assert_int_eq(write(pb[1], "x", 1), 1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 1);
	ck_assert_uint_eq(a.calls + b.calls, 1);
	evloop_destroy(loop);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}
END_TEST

struct tick {
	int fd;
	unsigned int n;
};

static void on_tick(void *opaque, uint32_t events)
{
	struct tick *t = opaque;
	uint64_t expirations;

	(void)events;
	if (read(t->fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		t->n += (unsigned int)expirations;
}

START_TEST(timers_fire)
{
	struct evloop *loop;
	struct tick t = { 0 };
	uint64_t start = clock_now_ns();

	ck_assert_int_eq(evloop_create(&loop), 0);
	ck_assert_int_eq(evloop_add_timer(loop, 0, 0, on_tick, &t), -EINVAL);
	t.fd = evloop_add_timer(loop, NSEC_PER_MSEC, NSEC_PER_MSEC, on_tick, &t);
	ck_assert_int_ge(t.fd, 0);
	while (t.n < 3 && clock_now_ns() - start < 5 * NSEC_PER_SEC)
		ck_assert_int_ge(evloop_run_once(loop, 100), 0);
	ck_assert_uint_ge(t.n, 3);
	ck_assert_int_eq(evloop_del(loop, t.fd), 0);
	close(t.fd);
	evloop_destroy(loop);
}
END_TEST

struct signalled {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int done;
};

static void on_event(void *opaque, uint32_t events)
{
	struct signalled *s = opaque;
	uint64_t v;

	(void)events;
	ck_assert_int_eq(read(s->fd, &v, sizeof(v)), sizeof(v));
	pthread_mutex_lock(&s->lock);
	s->thread = pthread_self();
	s->done = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

START_TEST(loop_thread_runs_handlers_and_stops)
{
	struct evloop *loop;
	struct signalled s = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .cond = PTHREAD_COND_INITIALIZER };
	uint64_t one = 1;

	ck_assert_int_eq(evloop_create(&loop), 0);
	s.fd = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_eq(evloop_add(loop, s.fd, EPOLLIN, on_event, &s), 0);
	ck_assert_int_eq(evloop_start(loop), 0);
	ck_assert_int_eq(evloop_start(loop), -EBUSY);
	ck_assert_int_eq(write(s.fd, &one, sizeof(one)), sizeof(one));
	pthread_mutex_lock(&s.lock);
	while (!s.done)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	ck_assert(!pthread_equal(s.thread, pthread_self()));
	evloop_stop(loop);
	evloop_stop(loop); /* stopping twice is harmless */
	evloop_destroy(loop);
	close(s.fd);
}
END_TEST

/*
 * The loop thread owns the handler list: while it runs (here it inserts and
 * frees a handler every millisecond), another thread's add, mod and del are
 * refused before they touch the list, and the loop thread's own succeed.
 */
struct owner {
	struct evloop *loop;
	int timer, churn[2], ask, target;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int churned;
	int asked;
	int mod_ret;
	bool on_thread;
};

static void on_nothing(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
}

static void on_churn(void *opaque, uint32_t events)
{
	struct owner *o = opaque;
	uint64_t n;

	(void)events;
	if (read(o->timer, &n, sizeof(n)) < 0 && errno != EAGAIN)
		ck_abort_msg("read: %d", errno);
	ck_assert_int_eq(evloop_add(o->loop, o->churn[0], EPOLLIN, on_nothing, o), 0);
	ck_assert_int_eq(evloop_del(o->loop, o->churn[0]), 0);
	pthread_mutex_lock(&o->lock);
	o->churned++;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static void on_ask(void *opaque, uint32_t events)
{
	struct owner *o = opaque;
	uint64_t v;

	(void)events;
	ck_assert_int_eq(read(o->ask, &v, sizeof(v)), sizeof(v));
	pthread_mutex_lock(&o->lock);
	o->on_thread = evloop_on_thread(o->loop);
	o->mod_ret = evloop_mod(o->loop, o->target, EPOLLIN);
	o->asked = 1;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

START_TEST(only_the_loop_thread_changes_handlers)
{
	struct owner o = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	unsigned int refused = 0;
	uint64_t one = 1;
	int p[2];

	ck_assert_int_eq(evloop_create(&o.loop), 0);
	ck_assert_int_eq(pipe(o.churn), 0);
	ck_assert_int_eq(pipe(p), 0);
	o.target = p[0];
	o.ask = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_ge(o.ask, 0);
	ck_assert_int_eq(evloop_add(o.loop, o.target, 0, on_nothing, &o), 0);
	ck_assert_int_eq(evloop_add(o.loop, o.ask, EPOLLIN, on_ask, &o), 0);
	o.timer = evloop_add_timer(o.loop, NSEC_PER_MSEC, NSEC_PER_MSEC, on_churn, &o);
	ck_assert_int_ge(o.timer, 0);
	ck_assert(evloop_on_thread(o.loop));
	ck_assert_int_eq(evloop_start(o.loop), 0);
	ck_assert(!evloop_on_thread(o.loop));

	/* Calls from this thread while the loop thread changes its list. */
	pthread_mutex_lock(&o.lock);
	while (o.churned < 3)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	for (unsigned int i = 0; i < 1000; i++)
		refused += evloop_mod(o.loop, o.target, i & 1 ? EPOLLIN : 0) == -EBUSY;
	ck_assert_uint_eq(refused, 1000);
	ck_assert_int_eq(evloop_add(o.loop, p[1], EPOLLOUT, on_nothing, &o), -EBUSY);
	ck_assert_int_eq(evloop_del(o.loop, o.target), -EBUSY);
	ck_assert_int_eq(evloop_run_once(o.loop, 0), -EBUSY);

	/* Handed to the loop thread, the same change is made. */
	ck_assert_int_eq(write(o.ask, &one, sizeof(one)), sizeof(one));
	pthread_mutex_lock(&o.lock);
	while (!o.asked)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	ck_assert(o.on_thread);
	ck_assert_int_eq(o.mod_ret, 0);

	/* Stopped, the loop is anyone's again. */
	evloop_stop(o.loop);
	ck_assert(evloop_on_thread(o.loop));
	ck_assert_int_eq(evloop_mod(o.loop, o.target, 0), 0);
	ck_assert_int_eq(evloop_del(o.loop, o.target), 0);
	ck_assert_int_eq(evloop_del(o.loop, o.timer), 0);
	evloop_destroy(o.loop);
	close(o.timer);
	close(o.ask);
	close(o.churn[0]);
	close(o.churn[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *evloop_suite(void)
{
	Suite *s = suite_create("evloop");
	TCase *tc = tcase_create("evloop");

	tcase_add_test(tc, readable_fd_runs_its_handler);
	tcase_add_test(tc, add_and_del_errors);
	tcase_add_test(tc, handler_removed_by_an_earlier_one_in_the_batch);
	tcase_add_test(tc, timers_fire);
	tcase_add_test(tc, loop_thread_runs_handlers_and_stops);
	tcase_add_test(tc, only_the_loop_thread_changes_handlers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(evloop_suite());
}
