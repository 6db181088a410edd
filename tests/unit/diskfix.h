/* SPDX-License-Identifier: MIT */
/*
 * Disk-layer helpers for the qcow2 tests: a scratch directory, shell
 * commands run in it (qemu-img is the reference), and requests waited for.
 */
#ifndef EMBER_TEST_DISKFIX_H
#define EMBER_TEST_DISKFIX_H

#include "block/disk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The last diskfix_open's error message; the scratch directory's path. */
extern char diskfix_err[256];
extern char diskfix_dir[192];
extern const enum disk_aio diskfix_engines[2];

/* Runs cmd with sh in `where`, output discarded; system()'s status. */
int diskfix_sh(const char *where, const char *cmd);
/* A new scratch directory (diskfix_dir) in $TMPDIR or /tmp, or in base. */
void diskfix_mkdir(void);
void diskfix_mkdir_in(const char *base);
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
/* One request of op on [off, off + len), waited for; its result (or submit's refusal). */
int diskfix_rw(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len);
int diskfix_read(struct disk *d, uint64_t off, void *buf, size_t len);
/*
 * Runs req (its done and opaque are set here) to completion a reap at a
 * time, and expects success: the steps the engine carried out for it.
 */
unsigned int diskfix_run_steps(struct disk *d, struct disk_req *req);
int diskfix_write(struct disk *d, uint64_t off, const void *buf, size_t len);
/* FLUSH, DISCARD or WRITE_ZEROES (unmap as given), waited for. */
int diskfix_op(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap);
/* Reads diskfix_dir/name whole into a new buffer of *len bytes. */
uint8_t *diskfix_slurp(const char *name, size_t *len);

#endif
