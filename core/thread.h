/* SPDX-License-Identifier: MIT */
/* Starting ember's threads: vCPUs, the event loop, I/O workers. */
#ifndef EMBER_THREAD_H
#define EMBER_THREAD_H

#include <pthread.h>

/*
 * Stack size of every ember thread. Device emulation needs little, and a
 * stack smaller than a huge page never gets one: with transparent huge
 * pages on "always", glibc's 8 MiB default stacks would each cost 2 MiB
 * of resident memory as soon as the thread runs.
 */
#define THREAD_STACK_SIZE (256U << 10)

/* pthread_create with THREAD_STACK_SIZE and a name (at most 15 characters). 0 or -errno. */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name);

#endif
