// SPDX-License-Identifier: MIT
#include "config.h"

#include "thread.h"

int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name)
{
	pthread_attr_t attr;
	int ret = pthread_attr_init(&attr);

	if (ret)
		return -ret;
	ret = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	if (!ret)
		ret = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	if (name)
		pthread_setname_np(*thread, name);
	return 0;
}
