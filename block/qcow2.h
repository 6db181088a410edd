/* SPDX-License-Identifier: MIT */
/*
 * qcow2 images, versions 2 and 3: the header and its checks, and where a
 * guest offset's bytes live (QEMU's docs/interop/qcow2.txt describes the
 * format).
 *
 * This layer reads metadata with pread(2) on the caller's thread and keeps
 * a few L2 tables cached; the data itself is read by the caller (disk.c,
 * through its engine), or, for a compressed cluster, decompressed here with
 * zlib. Opened for writing, it also allocates clusters and keeps their
 * refcounts (qcow2_write.c): allocating writes, zeroing and discarding are
 * done here, synchronously, with metadata updates ordered so that a crash
 * at any point leaves at worst leaked clusters; writes into clusters the
 * image already owns alone go straight to the file, through the caller.
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
	uint64_t entry;	   /* the first cluster's L2 entry */
	bool in_place;	   /* QCOW2_DATA: the image is writable and may be written at host_off */
};

struct qcow2;

/* Whether `head` (the file's first bytes) starts with the qcow2 magic. */
bool qcow2_probe(const void *head, size_t len);

/* qcow2_open() flags */
#define QCOW2_OPEN_WRITE 1u  /* the fd is open for writing too */
#define QCOW2_OPEN_NOSYNC 2u /* no fdatasync between metadata updates (cache=unsafe) */

/*
 * Reads and checks the header of the image open on `fd` (which stays the
 * caller's) and loads its L1 table (and, for writing, its refcount table;
 * unknown autoclear bits are then cleared in the file). `name` is used in
 * messages. Returns 0, or -EINVAL (malformed or unsupported, with a
 * one-line message in `err`), -EIO or -ENOMEM.
 */
int qcow2_open(struct qcow2 **out, int fd, const char *name, unsigned int flags, char *err,
	       size_t err_len);
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

/*
 * pread or pwrite of exactly len bytes, however many calls that takes: 0,
 * -EIO when a call makes no progress (end of file), or -errno.
 */
int qcow2_file_io(int fd, void *buf, size_t len, uint64_t off, bool write);

uint64_t qcow2_cluster_size(const struct qcow2 *q);
/* Whether the image has zero clusters (version 3). */
bool qcow2_has_zero_flag(const struct qcow2 *q);

/*
 * Makes the guest cluster at `off` (cluster-aligned) hold `data`, one
 * cluster of bytes (all of them: the caller fills in what it does not
 * overwrite, from the backing file or the old contents). The cluster is
 * written to a newly allocated one (or its preallocated one), then the L2
 * entry is pointed at it; what it replaces (a compressed cluster, a shared
 * one) is freed later, see qcow2_frees_synced(). 0, -EIO, -ENOSPC or -ENOMEM;
 * -EAGAIN when the search for a free cluster used up its budget for the call
 * (a hostile image can make it long): call again, and it goes on from there.
 */
int qcow2_write_cluster(struct qcow2 *q, uint64_t off, const void *data);

enum qcow2_zero_mode {
	QCOW2_ZERO_KEEP,  /* reads as zeroes; clusters stay allocated where they can */
	QCOW2_ZERO_UNMAP, /* reads as zeroes; clusters may be freed */
	QCOW2_DISCARD,	  /* free the clusters; what they read as afterwards is unspecified */
};

/*
 * Whole clusters [off, off + len) (cluster-aligned, or ending at the image's
 * size). `backing`: a backing file shows through unallocated clusters.
 * Returns 0, -EOPNOTSUPP when the image cannot mark them as zeroes (a
 * version 2 image: the caller writes zeroes instead), -EIO or -ENOMEM; -EAGAIN
 * as for qcow2_write_cluster(), with what was done kept: calling again is safe.
 */
int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_zero_mode mode,
	       bool backing);

/*
 * Freed clusters keep their refcount until that is safe to lower: once the
 * L2 updates that freed them are on disk, and nothing in flight can be
 * reading or writing them. The caller tells when a sync of the file has
 * completed (qcow2_sync_begin() before it, qcow2_sync_done() after) and
 * when nothing is in flight (qcow2_apply_frees()).
 */
size_t qcow2_sync_begin(const struct qcow2 *q);
void qcow2_sync_done(struct qcow2 *q, size_t mark);
/*
 * A sync of the image's file by the caller failed with `err` (-errno): the
 * image forgets the clusters it set aside and the frees it was waiting to
 * apply (they become leaks), as their metadata may not be on disk.
 */
void qcow2_sync_failed(struct qcow2 *q, int err);
/*
 * The first sync of the file that failed, here or the caller's (-errno), or
 * 0. The kernel reports a writeback error once: whoever owns the file must
 * treat this like a failed sync of its own.
 */
int qcow2_sync_error(const struct qcow2 *q);
/* Lowers the refcounts of the synced frees. 0 or -EIO. */
int qcow2_apply_frees(struct qcow2 *q);
/*
 * Before closing a writable image, with nothing in flight: syncs, applies
 * every free and gives back the clusters set aside for allocations. 0 or
 * -errno.
 */
int qcow2_release(struct qcow2 *q);

/* Test hook: the next `count` syncs the image makes of its file fail with `err` (-errno). */
void qcow2_test_inject_sync(struct qcow2 *q, unsigned int count, int err);
/*
 * Test hook: sets the refcount of the cluster at host offset off to v, as
 * someone editing the image behind ember's back might, and lets the next
 * search for free clusters start there. 0 or -errno.
 */
int qcow2_test_set_refcount(struct qcow2 *q, uint64_t off, uint64_t v);

#endif
