/* SPDX-License-Identifier: MIT */
/*
 * A disk image, raw or qcow2 (with its chain of backing files): the open,
 * locked files and the engine that does their I/O asynchronously (io_uring,
 * or a pool of threads where io_uring is missing).
 *
 * Requests go in with disk_submit() and each completes exactly once through
 * its `done` callback. Completions are delivered by disk_complete(), which the
 * owner calls when disk_event_fd() is readable (the event loop does), and by
 * disk_drain(), which waits for everything in flight. Never from inside
 * disk_submit(). One thread at a time submits, completes and drains: the
 * owner serialises (the virtio device's lock does).
 */
#ifndef EMBER_DISK_H
#define EMBER_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_SECTOR 512ULL
/* Most buffers one READ or WRITE request may carry. */
#define DISK_MAX_IOV 1024
/* Requests in flight at once, at most; disk_submit() refuses more. */
#define DISK_MAX_INFLIGHT 256

enum disk_cache {
	DISK_CACHE_WRITEBACK,  /* page cache; FLUSH -> fdatasync (the default) */
	DISK_CACHE_NONE,       /* O_DIRECT; FLUSH -> fdatasync */
	DISK_CACHE_UNSAFE,     /* page cache; FLUSH does nothing */
	DISK_CACHE_DIRECTSYNC, /* O_DIRECT | O_DSYNC: every write is durable when done */
};

enum disk_format {
	DISK_FORMAT_PROBE, /* qcow2 if the file starts like one, else raw (with a warning) */
	DISK_FORMAT_RAW,
	DISK_FORMAT_QCOW2,
};

enum disk_aio {
	DISK_AIO_IO_URING, /* the default; falls back to threads, with a log line saying why */
	DISK_AIO_THREADS,
};

struct disk_config {
	const char *path;
	enum disk_format format;
	bool readonly;
	enum disk_cache cache;
	enum disk_aio aio;
};

enum disk_op {
	DISK_READ,
	DISK_WRITE,
	DISK_FLUSH,	   /* once one fails (-EIO), every later one on the disk fails too */
	DISK_DISCARD,	   /* may deallocate [offset, offset + len); contents then unspecified */
	DISK_WRITE_ZEROES, /* [offset, offset + len) reads back as zeroes */
};

struct disk_req {
	enum disk_op op;
	uint64_t offset; /* bytes; READ, WRITE, DISCARD, WRITE_ZEROES */
	uint64_t len;	 /* bytes; DISCARD and WRITE_ZEROES (READ/WRITE: the iovecs' total) */
	/* READ and WRITE: the caller keeps the array and the buffers valid until done. */
	const struct iovec *iov;
	unsigned int iovcnt; /* 1..DISK_MAX_IOV */
	bool unmap;	     /* WRITE_ZEROES may deallocate the range instead of writing */
	/*
	 * 0 when all of the request was done; a negative errno otherwise (-EIO,
	 * -ENOSPC, -EFBIG, ...). A short transfer is continued by the engine
	 * and reported only when no progress can be made.
	 */
	void (*done)(struct disk_req *req, int result);
	void *opaque;
};

struct disk;

/*
 * Opens and locks the image (an OFD lock: shared when read-only, exclusive
 * otherwise) and starts its engine. Returns 0, or a negative errno with a
 * one-line message in `err` naming the file and the problem (missing, not a
 * regular file or block device, locked by another process, O_DIRECT
 * refused by its filesystem, ...). The image and every backing file are
 * looked at before they are opened: anything but a regular file or a block
 * device (a FIFO, a character device) is refused unopened. Logs (at info)
 * one line per file opened: the image's format, and which image names which
 * backing file.
 */
int disk_open(struct disk **out, const struct disk_config *cfg, char *err, size_t err_len);
/*
 * Drains, writes the page cache back (fdatasync; not for readonly or
 * cache=unsafe), then closes the file, releasing the lock. Returns 0, or
 * -errno when the write-back failed (or an earlier FLUSH had): the guest's
 * last writes may be lost. NULL is fine.
 */
int disk_close(struct disk *d);

/* Bytes, from the file's size (or the block device's); never changes while open. */
uint64_t disk_size(const struct disk *d);
bool disk_readonly(const struct disk *d);
/*
 * Leaves the image as closing it would, still open: every request done, a
 * qcow2 image's clusters set aside given back and its refcounts written,
 * the file synced. For a snapshot, whose record of the file must still hold
 * once ember has closed it. 0 or -errno.
 */
int disk_settle(struct disk *d);
/* fstat() of the image ember opened (a qcow2 chain's top): for a snapshot's record of it. */
struct stat;
int disk_stat(const struct disk *d, struct stat *st);
/* The engine in use, for log lines: "io_uring" or "threads". */
const char *disk_engine_name(const struct disk *d);
/*
 * The top image's cluster size for qcow2, whose DISCARD and WRITE_ZEROES are
 * carried out inside disk_submit(), a table update per cluster; 0 for a raw
 * file, where they are one system call on the engine.
 */
uint64_t disk_cluster_size(const struct disk *d);

/*
 * Starts `req`. Returns 0 when it was accepted (done will be called later),
 * -EBUSY when DISK_MAX_INFLIGHT requests are in flight, -EROFS for a write
 * to a read-only disk, -EINVAL for a malformed request (range past the end
 * of the disk or overflowing, bad iovcnt, iovec lengths overflowing when
 * summed, no done callback), -EPERM for a write that would give a raw
 * disk opened without a format the qcow2 magic, -ENOMEM when a READ or
 * WRITE with more than a few iovecs can't get memory for the engine's copy
 * of them, or a write to such a disk's first sector for its private copy of
 * that sector (checked and written from there, so the guest cannot change
 * it in between). A refused request's done is never called. An accepted
 * READ or WRITE has req->len set to the iovecs' total. Requests may have
 * any byte offset and length; with O_DIRECT (cache=none/directsync), those
 * it can't take as they are go through an aligned bounce buffer or the
 * page cache.
 */
int disk_submit(struct disk *d, struct disk_req *req);

/* An fd that becomes readable when completions are waiting; poll it for reading. */
int disk_event_fd(const struct disk *d);
/* Delivers every completion that is ready, without waiting. Returns how many. */
unsigned int disk_complete(struct disk *d);
/* Waits until nothing is in flight, delivering every completion. */
void disk_drain(struct disk *d);
unsigned int disk_inflight(const struct disk *d);

#endif
