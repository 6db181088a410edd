/* SPDX-License-Identifier: MIT */
/*
 * What disk.c shares with its engines (disk_uring.c, disk_threads.c) and
 * with the unit tests.
 *
 * disk.c owns every request's state machine: range checks, continuing
 * short transfers, O_DIRECT bounce buffers, fallbacks for WRITE_ZEROES,
 * the sticky FLUSH error. It breaks each request into "primitives", one
 * system call each, and hands them to the engine one at a time. An engine
 * only performs a primitive and reports its raw result (bytes or -errno)
 * back through disk_io_finished(), on the owner's thread. So both engines
 * behave the same, and the tests drive the shared logic through either.
 */
#ifndef EMBER_DISK_INTERNAL_H
#define EMBER_DISK_INTERNAL_H

#include "block/disk.h"
#include "block/qcow2.h"
#include "core/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum disk_prim {
	DISK_PRIM_NOP, /* no system call: completes with io->nop_result */
	DISK_PRIM_READV,
	DISK_PRIM_WRITEV,
	DISK_PRIM_FDATASYNC,
	DISK_PRIM_FALLOCATE,
};

/* iovec arrays up to this long live in the slot; longer ones are malloc'd. */
#define DISK_IO_INLINE_IOV 8

/* One slot per request in flight; DISK_MAX_INFLIGHT of them per disk. */
struct disk_io {
	/* The primitive the engine is to perform, set by disk.c. */
	enum disk_prim prim;
	int fd;
	const struct iovec *piov;
	unsigned int piovcnt;
	uint64_t poff;
	uint64_t plen;	      /* FALLOCATE */
	int pmode;	      /* FALLOCATE */
	int nop_result;	      /* NOP */
	size_t frees_mark;    /* FDATASYNC on qcow2: qcow2_sync_begin()'s mark */
	int raw;	      /* the threads engine's result, handed back with the slot */
	struct disk_io *next; /* free list in disk.c; the engines' queues */

	/* The request's progress; disk.c only. */
	struct disk_req *req;
	int stage;
	bool write;
	bool no_direct; /* O_DIRECT refused this request: use the cached fd */
	int clip;	/* injected short transfer: report at most this many bytes; -1 none */
	uint64_t off;
	uint64_t len;
	uint64_t pos;	   /* bytes done so far */
	struct iovec *iov; /* private copy of the caller's array, advanced as bytes land */
	unsigned int iovcnt;
	unsigned int idx;
	void *bounce; /* aligned copy of the data when O_DIRECT can't take the caller's buffers */
	size_t bounce_len;
	/*
	 * A write to the start of a probed raw disk: what it puts in the first
	 * sector, copied once, checked, and written from here (iov[0]).
	 */
	uint8_t *head;
	struct iovec one;
	struct iovec iov_inline[DISK_IO_INLINE_IOV];
	/* A primitive covering only part of the iovecs shortened iov[cut_idx] by cut_len. */
	int cut_idx; /* -1: none */
	size_t cut_len;
};

/*
 * The bounce buffers of a disk's requests in flight take at most this many
 * bytes together; a request that would pass it goes to the page-cache fd,
 * as a misaligned one does. Without it a guest could make ember hold a
 * request's size (126 MiB) for every slot.
 */
#define DISK_BOUNCE_BUDGET (16U << 20)

/* A qcow2 read or zeroing handles at most this much per step. */
#define DISK_MAP_MAX (1ULL << 30)
/*
 * What one step of a qcow2 request may allocate, copy or fill on the thread
 * that runs it (the event loop's), rounded up to a cluster boundary for
 * writes. A longer run takes several steps, each completing as a NOP, and
 * the loop's other handlers run between them.
 */
#define DISK_SYNC_STEP (1ULL << 20)

/* Images in a chain: the disk's own first, then its backing files. */
#define DISK_MAX_CHAIN 16

/* One image of a chain: raw (no q) or qcow2. */
struct disk_layer {
	int fd; /* metadata and data; the disk's own is its fd_cached */
	struct qcow2 *q;
	uint64_t size; /* guest-visible bytes */
	char *path;
};

/* Where a run of a chain's guest bytes comes from. */
struct disk_extent {
	enum qcow2_kind kind; /* QCOW2_DATA, QCOW2_ZERO or QCOW2_COMPRESSED */
	uint64_t len;
	unsigned int layer; /* DATA, COMPRESSED */
	uint64_t host;	    /* DATA: the offset in the layer's file */
	struct qcow2_extent qe;
};

struct disk_engine {
	const char *name;
	/* 0 or -errno; d->efd is already open and must be signalled on completion. */
	int (*init)(struct disk *d);
	/* Nothing is in flight when this is called. */
	void (*fini)(struct disk *d);
	/* Performs io's primitive asynchronously; its result comes back through reap. */
	void (*start)(struct disk *d, struct disk_io *io);
	/*
	 * Passes every primitive result ready now to disk_io_finished(), without
	 * waiting; returns how many. Drains d->efd before looking, so that a
	 * completion arriving meanwhile leaves it readable.
	 */
	unsigned int (*reap)(struct disk *d);
	/* Blocks until reap would find something (or a spurious wakeup). */
	void (*wait)(struct disk *d);
};

struct disk_inject {
	unsigned int ops; /* mask of DISK_OP_BIT(op) */
	unsigned int count;
	int result;
};

struct disk {
	int fd;
	int fd_cached; /* == fd unless O_DIRECT: a page-cache fd for what O_DIRECT refuses */
	int efd;
	uint64_t size;
	bool readonly;
	bool direct;
	enum disk_cache cache;
	const struct disk_engine *engine;
	void *engine_priv;
	unsigned int inflight;
	unsigned int delivered; /* requests completed, ever: disk_complete()'s count */
	/*
	 * A sync of the file failed (a FLUSH's, or the qcow2 layer's own): the
	 * kernel reports a writeback error once; later FLUSHes must not pretend
	 * it is gone. Read through disk_sync_failed(), which folds in qcow2's.
	 */
	bool flush_failed;
	void *zeroes;	     /* DISK_ZERO_CHUNK zero bytes, aligned; allocated on first need */
	size_t bounce_bytes; /* held by the requests in flight, at most DISK_BOUNCE_BUDGET */
	struct disk_inject inject;
	/* qcow2: the chain, nr_layers >= 1; raw: nr_layers == 0. */
	unsigned int nr_layers;
	struct disk_layer layers[DISK_MAX_CHAIN];
	uint8_t *cow; /* qcow2: one cluster, for allocating writes */
	/* The format was probed as raw: a guest write must not make it look like qcow2. */
	bool probed_raw;
	char *path;
	/* For what a guest can make the disk log. */
	struct ratelimit rl;
	/* Test hook: runs when the probed-raw guard has let a write through. */
	void (*guard_hook)(struct disk *d, struct disk_req *req);
	struct disk_io *free_ios;
	struct disk_io ios[DISK_MAX_INFLIGHT];
};

/*
 * Opens a disk image or a backing file without ever opening anything but a
 * regular file or a block device: reading a FIFO would hang, and opening a
 * device node can do things by itself (a watchdog starts, a tape rewinds).
 * The type is looked at first; the open cannot block (O_NONBLOCK, cleared
 * once open); what was opened must be what was looked at. Returns the fd,
 * or -errno, with *why saying what is wrong with the file when it is that
 * (NULL: strerror() says it).
 */
int disk_open_image(const char *path, int flags, const char **why);

/*
 * disk_chain.c: opens the image's format (probing it unless given) and its
 * backing chain, after d->fd and d->fd_cached are open and locked; sets
 * d->size. 0, or -errno with a one-line message.
 */
int disk_chain_open(struct disk *d, const char *path, enum disk_format format, char *err,
		    size_t err_len);
void disk_chain_close(struct disk *d);
/* Where the chain's bytes from `off` come from: one run of at most len bytes. 0 or -EIO. */
int disk_chain_map(struct disk *d, uint64_t off, uint64_t len, struct disk_extent *x);
/* Copies [off, off + len) of the compressed run `x` (from disk_chain_map) to buf. */
int disk_chain_read_compressed(struct disk *d, const struct disk_extent *x, uint64_t off, void *buf,
			       size_t len);

/*
 * Writes [off, off + len) of a qcow2 disk synchronously, from the iovecs
 * (NULL: zeroes): clusters it does not own alone are allocated, filled in
 * from the chain below where the write does not cover them. 0 or -errno;
 * -EAGAIN: qcow2 ran out of its budget for finding free clusters, and the
 * caller's next step goes on (what was written stays written).
 */
int disk_chain_write(struct disk *d, uint64_t off, const struct iovec *iov, unsigned int cnt,
		     uint64_t len);
/*
 * WRITE_ZEROES (ZERO_KEEP, ZERO_UNMAP) or DISCARD of a qcow2 disk, from
 * `off`, one step of at most len bytes: a partial cluster, a run of whole
 * clusters marked as zeroes (at most DISK_MAP_MAX), or, where the image
 * cannot mark them (version 2), about DISK_SYNC_STEP of zeroes written.
 * Returns the bytes done (1 to len), or -errno (-EAGAIN: do the step again).
 */
int disk_chain_zero(struct disk *d, uint64_t off, uint64_t len, enum qcow2_zero_mode mode);

extern const struct disk_engine disk_uring_engine;
extern const struct disk_engine disk_threads_engine;

/*
 * Called by an engine, on the owner's thread, with the raw result of io's
 * primitive: bytes transferred, 0, or -errno. Returns true when that
 * finished the request (its done callback has run).
 */
bool disk_io_finished(struct disk *d, struct disk_io *io, int res);

/* Wakes the owner: adds 1 to the eventfd counter. */
void disk_signal(int efd);
/* Clears the eventfd counter (it is non-blocking). */
void disk_clear_signal(int efd);

/* ---- test hooks ---- */

#define DISK_OP_BIT(op) (1u << (op))

/*
 * Fault injection. The next `count` system calls made for requests whose op
 * is in `ops` (a mask of DISK_OP_BIT()s):
 * - result < 0: are not made, and report `result` (-EIO, -ENOSPC, -EAGAIN,
 *   -EOPNOTSUPP for a fallocate, ...), as if the kernel had returned it;
 * - result >= 0: if they are reads or writes, report at most `result`
 *   bytes, a short transfer (0: end of file). The kernel did the whole
 *   transfer; the engine redoes the rest, as it would after a real one.
 *   Other system calls are not affected and do not count.
 * Counts down on the owner's thread as primitives are issued; a new call
 * replaces what is left of the previous one.
 */
void disk_test_inject(struct disk *d, unsigned int ops, unsigned int count, int result);
/*
 * Calls `hook` each time the guard of a probed raw disk lets a write to its
 * first bytes through, before the write is started: a test's stand-in for
 * a vCPU changing the buffer meanwhile. NULL removes it.
 */
void disk_test_guard_hook(struct disk *d, void (*hook)(struct disk *d, struct disk_req *req));

#endif
