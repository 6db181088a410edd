// SPDX-License-Identifier: MIT
/*
 * The thread-pool engine, for aio=threads and for hosts without io_uring.
 *
 * A few workers take primitives from a queue, make the blocking system
 * call, and put the slot on a completed list, signalling the disk's
 * eventfd. reap() hands those results to disk.c on the owner's thread, so
 * callbacks never run on a worker. Both lists are bounded by the slots,
 * DISK_MAX_INFLIGHT.
 */
#include "config.h"

#include "block/disk_internal.h"
#include "core/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#define THREADS_MAX 4

struct io_list {
	struct disk_io *head;
	struct disk_io *tail;
};

struct threads {
	pthread_t tid[THREADS_MAX];
	unsigned int nthreads;
	int efd;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t work;
	struct io_list todo;
	struct io_list done;
	bool stop;
};

static void list_push(struct io_list *l, struct disk_io *io)
{
	io->next = NULL;
	if (l->tail)
		l->tail->next = io;
	else
		l->head = io;
	l->tail = io;
}

static int run_primitive(const struct disk_io *io)
{
	ssize_t n;

	switch (io->prim) {
	case DISK_PRIM_NOP:
		return 0;
	case DISK_PRIM_READV:
		n = preadv(io->fd, io->piov, (int)io->piovcnt, (off_t)io->poff);
		break;
	case DISK_PRIM_WRITEV:
		n = pwritev(io->fd, io->piov, (int)io->piovcnt, (off_t)io->poff);
		break;
	case DISK_PRIM_FDATASYNC:
		n = fdatasync(io->fd);
		break;
	case DISK_PRIM_FALLOCATE:
		n = fallocate(io->fd, io->pmode, (off_t)io->poff, (off_t)io->plen);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -errno;
	/* Linux moves at most MAX_RW_COUNT (2 GiB - 4 KiB) per call: it fits. */
	return (int)n;
}

static void *worker(void *arg)
{
	struct threads *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct disk_io *io;

		while (!t->todo.head && !t->stop)
			pthread_cond_wait(&t->work, &t->lock);
		if (!t->todo.head)
			break;
		io = t->todo.head;
		t->todo.head = io->next;
		if (!t->todo.head)
			t->todo.tail = NULL;
		pthread_mutex_unlock(&t->lock);

		io->raw = run_primitive(io);

		pthread_mutex_lock(&t->lock);
		list_push(&t->done, io);
		disk_signal(t->efd);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void threads_stop(struct threads *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int i = 0; i < t->nthreads; i++)
		pthread_join(t->tid[i], NULL);
	pthread_cond_destroy(&t->work);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int threads_init(struct disk *d)
{
	struct threads *t = calloc(1, sizeof(*t));
	sigset_t all, old;
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->efd = d->efd;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work, NULL);
	/* Workers inherit a full mask: signals meant for vCPUs or main must not land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned int i = 0; i < THREADS_MAX; i++) {
		ret = thread_start(&t->tid[i], worker, t, "ember-disk", SANDBOX_DISK);
		if (ret < 0)
			break;
		t->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Fewer workers than wanted is slower, not wrong. */
	if (!t->nthreads) {
		threads_stop(t);
		return ret;
	}
	d->engine_priv = t;
	return 0;
}

static void threads_fini(struct disk *d)
{
	threads_stop(d->engine_priv);
	d->engine_priv = NULL;
}

static void threads_start(struct disk *d, struct disk_io *io)
{
	struct threads *t = d->engine_priv;

	pthread_mutex_lock(&t->lock);
	list_push(&t->todo, io);
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->lock);
}

static unsigned int threads_reap(struct disk *d)
{
	struct threads *t = d->engine_priv;
	struct disk_io *io;
	unsigned int n = 0;

	disk_clear_signal(d->efd);
	/* Take what is done now; slots started again by callbacks come back next time. */
	pthread_mutex_lock(&t->lock);
	io = t->done.head;
	t->done.head = t->done.tail = NULL;
	pthread_mutex_unlock(&t->lock);
	while (io) {
		struct disk_io *next = io->next;

		disk_io_finished(d, io, io->raw);
		io = next;
		n++;
	}
	return n;
}

static void threads_wait(struct disk *d)
{
	struct pollfd pfd = { .fd = d->efd, .events = POLLIN };

	poll(&pfd, 1, -1);
}

const struct disk_engine disk_threads_engine = {
	.name = "threads",
	.init = threads_init,
	.fini = threads_fini,
	.start = threads_start,
	.reap = threads_reap,
	.wait = threads_wait,
};
