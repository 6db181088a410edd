// SPDX-License-Identifier: MIT
/*
 * The io_uring engine: one ring per disk, one SQE per primitive, submitted
 * at once. The disk's eventfd is registered with the ring, so it becomes
 * readable whenever a CQE is posted.
 */
#include "config.h"

#include "block/disk_internal.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct uring {
	struct io_uring ring;
	/* io_uring_submit() failed to hand SQEs over, or some wait for room: retry before waiting.
	 */
	bool pending;
	struct disk_io *backlog;
};

/* A kernel without these (older than 5.6) is treated like one without io_uring. */
static int uring_probe(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV,
				   IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	int ret = 0;

	if (!p)
		return -EOPNOTSUPP;
	for (unsigned int i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!io_uring_opcode_supported(p, ops[i]))
			ret = -EOPNOTSUPP;
	}
	io_uring_free_probe(p);
	return ret;
}

/*
 * The ring's operations bypass seccomp: a thread that may enter the ring
 * could queue an openat or a connect. The kernel holds the ring to the
 * operations the engine uses (Linux 5.10) and, once enabled, to letting go
 * of the eventfd at teardown.
 */
static int uring_restrict(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV,
				   IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_restriction res[sizeof(ops) / sizeof(ops[0]) + 1] = { 0 };
	unsigned int n = 0;

	for (; n < sizeof(ops) / sizeof(ops[0]); n++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n].sqe_op = (uint8_t)ops[n];
	}
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_UNREGISTER_EVENTFD;
	/* liburing 2.3 declares wrappers for these but does not export them. */
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n) <
	    0)
		return -errno;
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) <
	    0)
		return -errno;
	return 0;
}

static int uring_init(struct disk *d)
{
	struct uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	/*
	 * As many SQEs as requests in flight: a free slot always finds a free
	 * SQE. Disabled until restricted; a kernel that cannot is treated
	 * like one without io_uring.
	 */
	ret = io_uring_queue_init(DISK_MAX_INFLIGHT, &u->ring, IORING_SETUP_R_DISABLED);
	if (ret < 0) {
		free(u);
		return ret;
	}
	ret = uring_probe(&u->ring);
	if (!ret)
		ret = io_uring_register_eventfd(&u->ring, d->efd);
	if (!ret)
		ret = uring_restrict(&u->ring);
	if (ret < 0) {
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	d->engine_priv = u;
	return 0;
}

static void uring_fini(struct disk *d)
{
	struct uring *u = d->engine_priv;

	io_uring_unregister_eventfd(&u->ring);
	io_uring_queue_exit(&u->ring);
	free(u);
	d->engine_priv = NULL;
}

static void uring_submit(struct uring *u)
{
	int ret;

	do {
		ret = io_uring_submit(&u->ring);
	} while (ret == -EINTR);
	u->pending = ret < 0 || u->backlog;
}

/* Turns io's primitive into an SQE; false when the SQ is full. */
static bool uring_queue(struct uring *u, struct disk_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		return false;
	switch (io->prim) {
	case DISK_PRIM_NOP:
		io_uring_prep_nop(sqe);
		break;
	case DISK_PRIM_READV:
		io_uring_prep_readv(sqe, io->fd, io->piov, io->piovcnt, io->poff);
		break;
	case DISK_PRIM_WRITEV:
		io_uring_prep_writev(sqe, io->fd, io->piov, io->piovcnt, io->poff);
		break;
	case DISK_PRIM_FDATASYNC:
		io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		break;
	case DISK_PRIM_FALLOCATE:
		io_uring_prep_fallocate(sqe, io->fd, io->pmode, (off_t)io->poff, (off_t)io->plen);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	return true;
}

/* Queues what waited for room in the SQ, then submits everything queued. */
static void uring_flush(struct uring *u)
{
	while (u->backlog) {
		struct disk_io *io = u->backlog;

		if (!uring_queue(u, io))
			break;
		u->backlog = io->next;
		io->next = NULL;
	}
	uring_submit(u);
}

static void uring_start(struct disk *d, struct disk_io *io)
{
	struct uring *u = d->engine_priv;
	struct disk_io **p = &u->backlog;

	/*
	 * The SQ has an entry per request slot, so there is room unless
	 * earlier submits failed; then io waits its turn behind those.
	 */
	if (!u->backlog) {
		bool queued = uring_queue(u, io);

		if (!queued) {
			uring_submit(u);
			queued = uring_queue(u, io);
		}
		if (queued) {
			uring_submit(u);
			return;
		}
	}
	while (*p)
		p = &(*p)->next;
	io->next = NULL;
	*p = io;
	u->pending = true;
}

static unsigned int uring_reap(struct disk *d)
{
	struct uring *u = d->engine_priv;
	unsigned int n, i;

	if (u->pending)
		uring_flush(u);
	disk_clear_signal(d->efd);
	/*
	 * Only what is ready now: a done callback that resubmits must not keep
	 * this loop going forever. What arrives later signals the eventfd.
	 */
	n = io_uring_cq_ready(&u->ring);
	for (i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		struct disk_io *io;
		int res;

		if (io_uring_peek_cqe(&u->ring, &cqe) || !cqe)
			break;
		io = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		/* Seen before the callback, which may submit and reap again. */
		io_uring_cqe_seen(&u->ring, cqe);
		disk_io_finished(d, io, res);
	}
	return i;
}

static void uring_wait(struct disk *d)
{
	struct uring *u = d->engine_priv;
	struct pollfd pfd = { .fd = d->efd, .events = POLLIN };

	if (u->pending)
		uring_flush(u);
	/* With SQEs stuck unsubmitted nothing would signal: poll briefly and retry. */
	poll(&pfd, 1, u->pending ? 10 : -1);
}

const struct disk_engine disk_uring_engine = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.start = uring_start,
	.reap = uring_reap,
	.wait = uring_wait,
};
