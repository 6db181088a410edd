// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>
#include <string.h>

#include "core/thread.h"
#include "tests/unit/unit.h"

struct seen {
	size_t stack;
	char name[16];
	pthread_mutex_t hold; /* held by the test until it has read the thread's name */
};

static void *probe(void *arg)
{
	struct seen *s = arg;
	pthread_attr_t attr;

	ck_assert_int_eq(pthread_getattr_np(pthread_self(), &attr), 0);
	ck_assert_int_eq(pthread_attr_getstacksize(&attr, &s->stack), 0);
	pthread_attr_destroy(&attr);
	/* Stay alive until the test has read the name: an ended thread has none. */
	pthread_mutex_lock(&s->hold);
	pthread_mutex_unlock(&s->hold);
	return s;
}

START_TEST(thread_has_the_small_stack_and_its_name)
{
	struct seen s = { .hold = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t;
	void *ret;
	int got;

	pthread_mutex_lock(&s.hold);
	ck_assert_int_eq(thread_start(&t, probe, &s, "ember-test", SANDBOX_DISK), 0);
	got = pthread_getname_np(t, s.name, sizeof(s.name));
	pthread_mutex_unlock(&s.hold);
	ck_assert_int_eq(got, 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_eq(ret, &s);
	/* Below a 2 MiB huge page, so transparent huge pages never back it. */
	ck_assert_uint_ge(s.stack, THREAD_STACK_SIZE);
	ck_assert_uint_lt(s.stack, 2U << 20);
	ck_assert_str_eq(s.name, "ember-test");
}
END_TEST

static void *mark(void *arg)
{
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

/* A thread started while the gate is closed runs nothing of its own until it opens. */
START_TEST(a_closed_gate_holds_new_threads)
{
	atomic_bool ran = false;
	pthread_t t;

	thread_gate_close();
	ck_assert_int_eq(thread_start(&t, mark, &ran, "ember-test", SANDBOX_DISK), 0);
	usleep(100 * 1000);
	ck_assert(!atomic_load(&ran));
	thread_gate_open();
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert(atomic_load(&ran));
}
END_TEST

static Suite *thread_suite(void)
{
	Suite *s = suite_create("thread");
	TCase *tc = tcase_create("start");

	tcase_add_test(tc, thread_has_the_small_stack_and_its_name);
	tcase_add_test(tc, a_closed_gate_holds_new_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(thread_suite());
}
