/* SPDX-License-Identifier: MIT */
/*
 * qcow2 images, versions 2 and 3: the header and its checks, and where a
 * guest offset's bytes live (QEMU's docs/interop/qcow2.txt describes the
 * format).
 *
 * This layer reads metadata with pread(2) on the caller's thread and keeps
 * a few L2 tables cached; the data itself is read by the caller (disk.c,
 * through its engine), or, for a compressed cluster, decompressed here with
 * zlib. It only reads: images are opened read-only.
 *
 * Everything read from the file is checked before use. A header that is
 * malformed, absurd or asks for a feature ember lacks (encryption, an
 * external data file, extended L2 entries, zstd compression, unknown
 * incompatible bits) is refused at open with a message naming it; a table
 * entry that points outside the file, into the header, or is misaligned
 * fails the request that met it (-EIO) and is logged.
 */
#ifndef EMBER_QCOW2_H
#define EMBER_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
/* Bytes of L2 tables kept in memory per image. */
#define QCOW2_L2_CACHE_BYTES (1U << 20)

enum qcow2_kind {
	QCOW2_UNALLOCATED, /* not in this image: the backing file's bytes, or zeroes */
	QCOW2_DATA,	   /* at host_off in the image file, contiguously */
	QCOW2_ZERO,	   /* reads as zeroes (a zero cluster) */
	QCOW2_COMPRESSED,  /* inside one compressed cluster: qcow2_read_compressed() */
};

/* A run of guest bytes starting at the offset asked for, all of one kind. */
struct qcow2_extent {
	enum qcow2_kind kind;
	uint64_t len;
	uint64_t host_off; /* QCOW2_DATA */
	uint64_t entry;	   /* QCOW2_COMPRESSED: the L2 entry */
};

struct qcow2;

/* Whether `head` (the file's first bytes) starts with the qcow2 magic. */
bool qcow2_probe(const void *head, size_t len);

/*
 * Reads and checks the header of the image open on `fd` (which stays the
 * caller's) and loads its L1 table. `name` is used in messages. Returns 0,
 * or -EINVAL (malformed or unsupported, with a one-line message in `err`),
 * -EIO or -ENOMEM.
 */
int qcow2_open(struct qcow2 **out, int fd, const char *name, char *err, size_t err_len);
void qcow2_close(struct qcow2 *q);

/* The guest-visible size in bytes. */
uint64_t qcow2_size(const struct qcow2 *q);
/* The backing file's name as the image gives it, or NULL. */
const char *qcow2_backing_file(const struct qcow2 *q);
/* The backing file's format from the header extension ("raw", "qcow2"), or NULL. */
const char *qcow2_backing_format(const struct qcow2 *q);
/* Whether the dirty bit is set (refcounts may be stale; reading is unaffected). */
bool qcow2_dirty(const struct qcow2 *q);

/*
 * Describes the bytes from guest offset `off` (below the size): one run of
 * at most `len` bytes (len > 0), all of one kind, in `e`. Returns 0, or -EIO
 * when the metadata on the way is unreadable or corrupt.
 */
int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_extent *e);

/*
 * Copies the guest bytes [off, off + len) out of the compressed cluster `e`
 * that qcow2_map() returned for `off`, into `buf`. Returns 0, or -EIO when
 * the cluster cannot be read or does not inflate to exactly one cluster.
 */
int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_extent *e, uint64_t off, void *buf,
			  size_t len);

#endif
