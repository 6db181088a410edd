/* SPDX-License-Identifier: MIT */
/*
 * What the disk-layer tests share: a scratch directory, shell commands run
 * in it (qemu-img is the reference), images opened from it, and requests
 * run to completion with the disk_submit contract checked on the way.
 */
#ifndef EMBER_TEST_DISKFIX_H
#define EMBER_TEST_DISKFIX_H

#include "block/disk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The last diskfix_open's error message; the scratch directory's path. */
extern char diskfix_err[256];
extern char diskfix_dir[192];
extern const enum disk_aio diskfix_engines[2];

/* Runs cmd with sh in `where`, output discarded; system()'s status. */
int diskfix_sh(const char *where, const char *cmd);
/* The same for a command that must succeed: a failure names it. */
void diskfix_sh_ok(const char *where, const char *cmd);
/* A new scratch directory (diskfix_dir) in $TMPDIR or /tmp, or in base. */
void diskfix_mkdir(void);
void diskfix_mkdir_in(const char *base);
/* Removes the scratch directory and what is in it. */
void diskfix_rmdir(void);
/* Whether the scratch directory's filesystem takes O_DIRECT. */
bool diskfix_dir_takes_direct(void);
/*
 * Opens diskfix_dir/name; diskfix_err holds the message. The engine is
 * checked as by diskfix_expect_engine.
 */
int diskfix_open(struct disk **d, const char *name, enum disk_format fmt, bool ro,
		 enum disk_aio aio);
/* A disk opened for io_uring that fell back to threads did not test io_uring. */
void diskfix_expect_engine(struct disk *d, enum disk_aio aio);
/* Reads diskfix_dir/name whole into a new buffer of *len bytes. */
uint8_t *diskfix_slurp(const char *name, size_t *len);

/* What a request's done callback was told: how many times, the last result. */
struct diskfix_rec {
	int calls;
	int result;
};

/*
 * A done callback counting into the diskfix_rec in req->opaque. It fails
 * the test when it runs inside diskfix_submit: disk.h promises that
 * disk_submit never calls done itself.
 */
void diskfix_done(struct disk_req *req, int result);
/* disk_submit, watched for diskfix_done running inside it. */
int diskfix_submit(struct disk *d, struct disk_req *req);

/*
 * Runs req to completion (its done and opaque are set here): submit's
 * refusal, or the result done was given. An accepted request's done runs
 * once, in the drain, and leaves nothing in flight.
 */
int diskfix_run(struct disk *d, struct disk_req *req);
/* One request of op on [off, off + len) from iov[cnt] or buf, by diskfix_run. */
int diskfix_rwv(struct disk *d, enum disk_op op, uint64_t off, const struct iovec *iov,
		unsigned int cnt);
int diskfix_rw(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len);
int diskfix_read(struct disk *d, uint64_t off, void *buf, size_t len);
int diskfix_write(struct disk *d, uint64_t off, const void *buf, size_t len);
/* FLUSH, DISCARD or WRITE_ZEROES (unmap as given), by diskfix_run. */
int diskfix_op(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap);
/*
 * diskfix_rw and diskfix_op for a request disk_submit must accept, so that
 * an error they return is the completion's, never a refusal.
 */
int diskfix_rw_accepted(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len);
int diskfix_op_accepted(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap);
/*
 * Expects disk_submit to refuse req with err (done, diskfix_done when
 * unset, never to run), leaving nothing in flight.
 */
void diskfix_expect_refused(struct disk *d, struct disk_req *req, int err);
/*
 * Runs req (its done and opaque are set here) to completion a reap at a
 * time, and expects success: the steps the engine carried out for it.
 */
unsigned int diskfix_run_steps(struct disk *d, struct disk_req *req);

#endif
