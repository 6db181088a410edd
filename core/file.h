/* SPDX-License-Identifier: MIT */
/* Reading whole input files (kernels, initrds, firmware) with size limits. */
#ifndef EMBER_FILE_H
#define EMBER_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The size of the regular file at `path`: 0 or -errno (-EINVAL when it is
 * not a regular file, -EFBIG when it is larger than `max`).
 */
int file_size(const char *path, uint64_t max, uint64_t *size);

/*
 * Reads the whole regular file at `path` into a malloc'd buffer. Returns 0
 * or -errno as file_size() does; -EIO if the file shrank meanwhile.
 */
int file_read_all(const char *path, uint64_t max, uint8_t **data, size_t *size);

/* Reads exactly `size` bytes of the file at `path` into `dst`. 0 or -errno. */
int file_read_into(const char *path, void *dst, size_t size);

/* A message for those errors, naming what the file is for, e.g. "-initrd". */
const char *file_strerror(int err);

#endif
