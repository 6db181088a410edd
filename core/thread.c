// SPDX-License-Identifier: MIT
#include "config.h"

#include "thread.h"
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct thread_start_args {
	void *(*fn)(void *);
	void *arg;
	enum sandbox_kind kind;
	char name[16];
};

/* Kept for the sandbox's debug reports, which may come from a signal handler. */
static __thread char thread_name[16];
/* Read before the filter, which refuses gettid. */
static __thread pid_t thread_tid;

/*
 * Threads started while the gate is closed (the disk workers, during
 * set-up) wait at their start: they confine themselves only once the main
 * thread has dropped its privileges, whose uid and gid changes glibc has
 * every thread make for itself.
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;

void thread_gate_close(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_closed = true;
	pthread_mutex_unlock(&gate_lock);
}

void thread_gate_open(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_closed = false;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_pass(void)
{
	pthread_mutex_lock(&gate_lock);
	while (gate_closed)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

/* Every thread confines itself before it runs its own code: nothing of it runs unconfined. */
static void *thread_main(void *p)
{
	struct thread_start_args a = *(struct thread_start_args *)p;
	int ret;

	free(p);
	memcpy(thread_name, a.name, sizeof(thread_name));
	thread_tid = (pid_t)syscall(SYS_gettid);
	gate_pass();
	ret = sandbox_enter(a.kind, thread_name);
	if (ret < 0) {
		log_err("%s: installing the thread's seccomp filter: %s", thread_name,
			strerror(-ret));
		_exit(1);
	}
	return a.fn(a.arg);
}

int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name,
		 enum sandbox_kind kind)
{
	struct thread_start_args *a = calloc(1, sizeof(*a));
	pthread_attr_t attr;
	int ret;

	if (!a)
		return -ENOMEM;
	a->fn = fn;
	a->arg = arg;
	a->kind = kind;
	snprintf(a->name, sizeof(a->name), "%s", name ? name : "ember");
	ret = pthread_attr_init(&attr);
	if (ret) {
		free(a);
		return -ret;
	}
	ret = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	if (!ret)
		ret = pthread_create(thread, &attr, thread_main, a);
	pthread_attr_destroy(&attr);
	if (ret) {
		free(a);
		return -ret;
	}
	if (name)
		pthread_setname_np(*thread, name);
	return 0;
}

pid_t thread_id(void)
{
	return thread_tid;
}
