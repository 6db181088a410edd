/* SPDX-License-Identifier: MIT */
/*
 * Scratch files and directories for tests and benchmarks, made with
 * mkstemp/mkdtemp under $TMPDIR when it is set and not empty, else under
 * /tmp: a run told where to put its files leaves nothing in /tmp.
 */
#ifndef EMBER_TEST_SCRATCH_H
#define EMBER_TEST_SCRATCH_H

#include <stddef.h>

/* $TMPDIR, or /tmp. */
const char *scratch_base(void);
/*
 * A new file <base>/<prefix>XXXXXX, its name in path[size]. Returns its fd
 * (read-write, close-on-exec), or -ENAMETOOLONG when the name does not fit,
 * or mkostemp's -errno.
 */
int scratch_file(char *path, size_t size, const char *prefix);
/* A new directory likewise: 0 or a negative errno. */
int scratch_dir(char *path, size_t size, const char *prefix);
/* The same in `base`, for a test that needs another filesystem than $TMPDIR's. */
int scratch_dir_in(char *path, size_t size, const char *base, const char *prefix);

#endif
