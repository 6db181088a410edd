/* SPDX-License-Identifier: MIT */
/* Starting ember's threads: vCPUs, the event loop, I/O workers. */
#ifndef EMBER_THREAD_H
#define EMBER_THREAD_H

#include <pthread.h>
#include <sys/types.h>

#include "sandbox.h"

/*
 * Stack size of every ember thread. Device emulation needs little, and a
 * stack smaller than a huge page never gets one: with transparent huge
 * pages on "always", glibc's 8 MiB default stacks would each cost 2 MiB
 * of resident memory as soon as the thread runs.
 */
#define THREAD_STACK_SIZE (256U << 10)

/*
 * pthread_create with THREAD_STACK_SIZE and a name (at most 15 characters).
 * Once the sandbox is prepared, the thread confines itself with the filter
 * of `kind` before it calls fn. 0 or -errno.
 */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name,
		 enum sandbox_kind kind);
/* The calling thread's kernel id, for a thread thread_start() made (0 for others). */
pid_t thread_id(void);

/*
 * While closed, threads started wait before they confine themselves and run;
 * opening lets them go. The main thread closes it before set-up starts any
 * thread and opens it once privileges are dropped (or set-up failed).
 */
void thread_gate_close(void);
void thread_gate_open(void);

#endif
