/* SPDX-License-Identifier: MIT */
/*
 * What qcow2.c (header, mapping, reads) shares with qcow2_write.c
 * (refcounts, cluster allocation, writes).
 */
#ifndef EMBER_QCOW2_INTERNAL_H
#define EMBER_QCOW2_INTERNAL_H

#include "block/qcow2.h"
#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header fields (big-endian), by byte offset. */
#define H_VERSION 4
#define H_BACKING_OFFSET 8
#define H_BACKING_SIZE 16
#define H_CLUSTER_BITS 20
#define H_SIZE 24
#define H_CRYPT 32
#define H_L1_SIZE 36
#define H_L1_OFFSET 40
#define H_REFTABLE_OFFSET 48
#define H_REFTABLE_CLUSTERS 56
#define H_SNAPSHOTS 60
#define H_INCOMPAT 72
#define H_AUTOCLEAR 88
#define H_REFCOUNT_ORDER 96
#define H_HEADER_LENGTH 100
#define H_COMPRESSION_TYPE 104
#define H_V2_LENGTH 72
#define H_V3_MIN_LENGTH 104

#define INCOMPAT_DIRTY (1ULL << 0)
#define INCOMPAT_CORRUPT (1ULL << 1)
#define INCOMPAT_DATA_FILE (1ULL << 2)
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define INCOMPAT_EXTL2 (1ULL << 4)
#define INCOMPAT_KNOWN                                                                             \
	(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION |           \
	 INCOMPAT_EXTL2)

#define EXT_END 0x00000000U
#define EXT_BACKING_FORMAT 0xe2792acaU
#define EXT_FEATURE_NAMES 0x6803f857U
#define FEATURE_NAME_ENTRY 48

#define MIN_CLUSTER_BITS 9
#define MAX_CLUSTER_BITS 21
#define MAX_BACKING_NAME 1023
/* QEMU's limits, so that what it would refuse is refused here too. */
#define MAX_L1_BYTES (32U << 20)
#define MAX_REFTABLE_BYTES (8U << 20)
#define MAX_L2_CACHE_TABLES 64

/* Bits 9-55 of L1 and standard L2 entries: a cluster-aligned host offset. */
#define ENTRY_OFFSET_MASK 0x00fffffffffffe00ULL
/* Refcount table entries: bits 9-63; the rest reserved. */
#define REFT_OFFSET_MASK 0xfffffffffffffe00ULL
/* L1 and L2 entries: the cluster's refcount is exactly one, so it may be written in place. */
#define ENTRY_COPIED (1ULL << 63)
#define L2_COMPRESSED (1ULL << 62)
#define L2_ZERO (1ULL << 0)

struct cache_slot {
	uint64_t off; /* host offset of the table; 0: empty */
	uint64_t used;
	uint64_t *table; /* one cluster, as on disk (big-endian) */
};

/* A few metadata clusters (L2 tables, refcount blocks), least recently used out first. */
struct qcow2_cache {
	struct cache_slot *s;
	unsigned int n;
	uint64_t clock;
};

struct qcow2 {
	int fd;
	char *name;
	uint64_t file_size;
	unsigned int version;
	unsigned int cluster_bits;
	uint64_t cluster_size;
	uint64_t size;
	uint64_t incompat;
	uint32_t l1_size;
	uint64_t l1_off;
	uint64_t *l1; /* host byte order */
	char *backing;
	char backing_fmt[17];
	struct qcow2_cache l2;
	/* The last cluster inflated, for runs of small reads inside it. */
	uint64_t z_entry;
	uint8_t *z_data; /* cluster_size bytes; z_valid says whether z_entry's are in it */
	bool z_valid;
	uint8_t *z_in;
	struct ratelimit rl;
	uint32_t nb_snapshots;
	uint32_t refcount_order;
	uint64_t reft_off;
	uint32_t reft_clusters;
	uint64_t autoclear;

	/* Writing (qcow2_write.c); all unused when opened read-only. */
	bool writable;
	bool sync;   /* fdatasync between metadata steps (not with cache=unsafe) */
	bool broken; /* metadata found inconsistent while writing: writes fail from now on */
	/*
	 * The first failed sync of the file (-errno; 0: none), here or the
	 * caller's: what was written before it may be lost, and the kernel
	 * reports that only once. Sticky.
	 */
	int sync_err;
	unsigned int inject_syncs; /* test hook: the next this many syncs fail with inject_err */
	int inject_err;
	uint64_t reft_entries;
	uint64_t *reft;	    /* host byte order */
	uint64_t reft_used; /* entries [reft_used, reft_entries) are all zero */
	struct qcow2_cache rb;
	uint64_t free_hint; /* no free cluster below this one, as far as is known */
	/*
	 * In qcow2_write_cluster() or qcow2_zero(), which may fail with -EAGAIN
	 * to be called again: a search for a free cluster from free_hint passes
	 * at most FIND_FREE_BUDGET clusters in use per call.
	 */
	bool may_yield;
	/*
	 * The clusters L1 and refcount table entries name (L2 tables, refcount
	 * blocks), each with the number of entries naming it: an open-addressing
	 * hash set, so that a cluster about to be handed out is checked in
	 * constant time. meta_key[i] is a cluster number, 0 for an empty slot;
	 * meta_cap is a power of two, at most 3/4 full.
	 */
	uint64_t *meta_key;
	uint32_t *meta_refs;
	uint64_t meta_cap, meta_n, meta_seed;
	/* Clusters whose refcount is already 1 on disk (and synced), handed out in order. */
	uint64_t *resv;
	unsigned int resv_next, resv_end;
	/* Clusters no longer referenced, whose refcount drops once that is on disk. */
	uint64_t *frees;
	size_t nr_frees, cap_frees;
	size_t frees_synced; /* frees[0, frees_synced) were recorded before a completed sync */
	uint8_t *buf;	     /* one cluster: a new table's contents */
};

/* Logs a corrupt table entry (at a limited rate). */
__attribute__((format(printf, 2, 3))) void qcow2_corrupt_log(struct qcow2 *q, const char *fmt, ...);
/*
 * Logs a corrupt table entry and is -EIO. The error is spelled out here, not
 * returned from the variadic function: a static analyzer does not follow a
 * variadic call, and would otherwise take an error path for a success.
 */
#define qcow2_corrupt(q, ...) (qcow2_corrupt_log((q), __VA_ARGS__), -EIO)
/* The cached table (L2 or refcount block) at host offset off, checked by the caller. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint64_t **out);
/* Forgets a cached copy of the cluster at off, which is being reused. */
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);
/* Whether a table (L2, refcount block) at off is aligned, past the header and inside the file. */
bool qcow2_table_ok(const struct qcow2 *q, uint64_t off);
/* Where compressed L2 entry `entry`'s bytes lie: from *start (a byte offset), *len bytes. */
void qcow2_compressed_span(const struct qcow2 *q, uint64_t entry, uint64_t *start, uint64_t *len);
/* What L2 entry `entry` says; for data (and preallocated zeroes) where its cluster starts. */
int qcow2_classify(struct qcow2 *q, uint64_t entry, enum qcow2_kind *kind, uint64_t *host);

/* qcow2_write.c */
int qcow2_open_write(struct qcow2 *q, char *err, size_t err_len);
void qcow2_close_write(struct qcow2 *q);

#endif
