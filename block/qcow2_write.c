// SPDX-License-Identifier: MIT
/*
 * Writing qcow2 images: refcounts, cluster allocation, and the order of
 * metadata updates.
 *
 * Crash safety rests on one rule: nothing on disk ever points to a cluster
 * whose refcount on disk does not count that reference. Hence:
 * - Clusters are set aside in batches before use: their refcounts are raised
 *   to 1 and synced once per batch, then they are handed out one by one.
 *   After a crash, those not yet used are leaks (`qemu-img check -r leaks`
 *   reclaims them), never corruption.
 * - A new cluster's contents (guest data, an L2 table, a refcount block) are
 *   written before the entry that points to it.
 * - A refcount is lowered only after the entries that pointed to the cluster
 *   are gone on disk (a sync has completed since) and when no request in
 *   flight can still read or write the cluster (the caller says when).
 * The order of the system calls alone makes this hold when ember is killed,
 * since the page cache keeps what was written; the syncs make it hold for a
 * host crash too, except with cache=unsafe, which skips them.
 *
 * A failed sync (here, or the caller's FLUSH) means some of what was written
 * before it may never reach the disk, and the kernel says so only once. It is
 * remembered for the disk's owner (every later FLUSH fails), the clusters set
 * aside before it are never handed out, and nothing is freed from then on:
 * whatever is lost, it costs leaks, not clusters used twice.
 *
 * Refcounts are kept exact: ember never sets the dirty bit (no lazy
 * refcounts); an image that has it set gets its refcounts rebuilt from its
 * tables when opened for writing.
 */
#include "config.h"

#include "block/qcow2_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Clusters set aside per batch (and leaked at most by a crash). */
#define RESV_BATCH 64
/* Refcount blocks kept in memory. */
#define RB_CACHE_TABLES 8
/* Frees waiting for a sync; beyond this, clusters are left allocated. */
#define MAX_FREES (1U << 20)
/*
 * Clusters in use a search for a free one passes per call, when its caller
 * can come back (a request's step): about a millisecond's work.
 */
#define FIND_FREE_BUDGET (1U << 16)
/* Refcount blocks a new refcount block's own refcount may need, nested. */
#define MAX_RB_DEPTH 2
/* Host offsets are 56 bits wide in L2 entries. */
#define MAX_HOST_OFFSET (1ULL << 56)

static int write_exact(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	int ret = qcow2_file_io(q->fd, (void *)buf, len, off, true);

	if (ret == 0 && off + len > q->file_size)
		q->file_size = off + len;
	return ret;
}

void qcow2_sync_failed(struct qcow2 *q, int err)
{
	if (!q->sync_err)
		q->sync_err = err < 0 ? err : -EIO;
	/* Their refcounts of 1 may never have reached the disk: handed out, data could share. */
	q->resv_next = q->resv_end;
	/* The entries that no longer point to these may still be on disk: they stay allocated. */
	q->nr_frees = q->frees_synced = 0;
}

int qcow2_sync_error(const struct qcow2 *q)
{
	return q->sync_err;
}

void qcow2_test_inject_sync(struct qcow2 *q, unsigned int count, int err)
{
	q->inject_syncs = count;
	q->inject_err = err;
}

/*
 * Makes what was written so far durable, before what depends on it. A
 * failure is remembered for the owner of the file (qcow2_sync_error()),
 * since the kernel will not report it again.
 */
static int sync_file(struct qcow2 *q)
{
	int r = 0;

	if (q->sync) {
		if (q->inject_syncs) {
			q->inject_syncs--;
			r = q->inject_err;
		} else {
			do
				r = fdatasync(q->fd);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				r = -errno;
		}
		if (r < 0) {
			qcow2_sync_failed(q, r);
			return r;
		}
	}
	q->frees_synced = q->nr_frees;
	return 0;
}

/* ---- refcounts ---- */

static uint64_t rb_entries(const struct qcow2 *q)
{
	uint64_t per = (q->cluster_size * 8) >> q->refcount_order;

	/* Never 0: the header checks keep clusters >= 512 bytes and refcounts <= 64 bits. */
	return per ? per : 1;
}

static uint64_t rc_max(const struct qcow2 *q)
{
	unsigned int w = 1U << q->refcount_order;

	return w == 64 ? UINT64_MAX : (1ULL << w) - 1;
}

/* Where refcount j lies in its block: first byte and byte count. */
static void rc_span(const struct qcow2 *q, uint64_t j, size_t *at, size_t *n)
{
	unsigned int w = 1U << q->refcount_order;

	*at = (size_t)(j * w / 8);
	*n = w < 8 ? 1 : w / 8;
}

/* Sub-byte refcounts are packed from the least significant bit; wider ones are big-endian. */
static uint64_t rc_get(const struct qcow2 *q, const uint8_t *b, uint64_t j)
{
	unsigned int w = 1U << q->refcount_order;
	size_t at, n;
	uint64_t v = 0;

	rc_span(q, j, &at, &n);
	if (w < 8)
		return (b[at] >> (j * w % 8)) & ((1U << w) - 1);
	for (size_t k = 0; k < n; k++)
		v = v << 8 | b[at + k];
	return v;
}

static void rc_put(const struct qcow2 *q, uint8_t *b, uint64_t j, uint64_t v)
{
	unsigned int w = 1U << q->refcount_order;
	size_t at, n;

	rc_span(q, j, &at, &n);
	if (w < 8) {
		unsigned int shift = (unsigned int)(j * w % 8), mask = ((1U << w) - 1) << shift;

		b[at] = (uint8_t)((b[at] & ~mask) | ((v << shift) & mask));
		return;
	}
	for (size_t k = n; k-- > 0; v >>= 8)
		b[at + k] = (uint8_t)v;
}

/* The refcount block for refcount table entry i: its offset, or 0 when there is none. */
static int refblock(struct qcow2 *q, uint64_t i, uint64_t *off)
{
	uint64_t e;

	*off = 0;
	if (i >= q->reft_entries)
		return 0;
	e = q->reft[i];
	if (e & ~REFT_OFFSET_MASK)
		return qcow2_corrupt(q, "refcount table entry 0x%016llx has reserved bits set",
				     (unsigned long long)e);
	if (e && !qcow2_table_ok(q, e))
		return qcow2_corrupt(q,
				     "refcount block at 0x%llx is misaligned, in the header or "
				     "past the end of the file",
				     (unsigned long long)e);
	*off = e;
	return 0;
}

static int refcount_get(struct qcow2 *q, uint64_t c, uint64_t *rc)
{
	uint64_t per = rb_entries(q), boff;
	uint64_t *t;
	int ret = refblock(q, c / per, &boff);

	*rc = 0;
	if (ret < 0 || !boff)
		return ret;
	ret = qcow2_cache_get(q, &q->rb, boff, &t);
	if (ret < 0)
		return ret;
	*rc = rc_get(q, (const uint8_t *)t, c % per);
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- the clusters L1 and refcount table entries name ---- */

/*
 * The key for an entry's offset: its cluster number, or 0 when no cluster
 * handed out can be there (no entry, misaligned, past the largest offset).
 */
static uint64_t meta_key(const struct qcow2 *q, uint64_t off)
{
	if (!off || off % q->cluster_size || off >= MAX_HOST_OFFSET)
		return 0;
	return off >> q->cluster_bits;
}

/*
 * Where the search for key starts. The image chooses the keys: mixed with
 * a seed it cannot know, they cannot be picked to pile up in one run of
 * slots and make every look-up long.
 */
static uint64_t meta_home(const struct qcow2 *q, uint64_t key)
{
	uint64_t h = key ^ q->meta_seed;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h & (q->meta_cap - 1);
}

/* key's slot, or the empty one where it would go (there is one: the set is at most 3/4 full). */
static uint64_t meta_slot(const struct qcow2 *q, uint64_t key)
{
	uint64_t i = meta_home(q, key);

	while (q->meta_key[i] && q->meta_key[i] != key)
		i = (i + 1) & (q->meta_cap - 1);
	return i;
}

/*
 * Room for `more` keys beyond those in the set. The set never holds more
 * keys than the L1 and refcount tables have entries, so it stays within a
 * few times their size. Called right before the additions it makes room for.
 */
static int meta_reserve(struct qcow2 *q, uint64_t more)
{
	uint64_t cap = q->meta_cap ? q->meta_cap : 64, old_cap = q->meta_cap;
	uint64_t *keys = q->meta_key;
	uint32_t *refs = q->meta_refs;

	while (q->meta_n + more > cap / 4 * 3)
		cap *= 2;
	if (cap == old_cap)
		return 0;
	q->meta_key = calloc(cap, sizeof(*q->meta_key));
	q->meta_refs = calloc(cap, sizeof(*q->meta_refs));
	if (!q->meta_key || !q->meta_refs) {
		free(q->meta_key);
		free(q->meta_refs);
		q->meta_key = keys;
		q->meta_refs = refs;
		return -ENOMEM;
	}
	q->meta_cap = cap;
	for (uint64_t i = 0; i < old_cap; i++) {
		if (keys[i]) {
			uint64_t j = meta_slot(q, keys[i]);

			q->meta_key[j] = keys[i];
			q->meta_refs[j] = refs[i];
		}
	}
	free(keys);
	free(refs);
	return 0;
}

/* One more entry names the cluster at off; meta_reserve() made room. */
static void meta_add(struct qcow2 *q, uint64_t off)
{
	uint64_t key = meta_key(q, off), i;

	if (!key)
		return;
	i = meta_slot(q, key);
	if (!q->meta_key[i]) {
		q->meta_key[i] = key;
		q->meta_n++;
	}
	q->meta_refs[i]++;
}

/* One entry fewer names the cluster at off. */
static void meta_del(struct qcow2 *q, uint64_t off)
{
	uint64_t key = meta_key(q, off), mask = q->meta_cap - 1, i;

	if (!key)
		return;
	i = meta_slot(q, key);
	if (!q->meta_key[i] || --q->meta_refs[i])
		return;
	q->meta_n--;
	/*
	 * Close the hole: a key after it moves back into it unless the key's
	 * search starts after the hole, so that no search stops short of a key.
	 */
	for (uint64_t j = (i + 1) & mask; q->meta_key[j]; j = (j + 1) & mask) {
		uint64_t home = meta_home(q, q->meta_key[j]);

		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		q->meta_key[i] = q->meta_key[j];
		q->meta_refs[i] = q->meta_refs[j];
		i = j;
	}
	q->meta_key[i] = 0;
	q->meta_refs[i] = 0;
}

/* The set, from the tables as read; their sizes were bounded when the header was checked. */
static int meta_build(struct qcow2 *q)
{
	uint64_t n = 0;
	int ret;

	if (getrandom(&q->meta_seed, sizeof(q->meta_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(q->meta_seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		q->meta_seed =
			((uint64_t)ts.tv_sec << 30 ^ (uint64_t)ts.tv_nsec) * 0x9e3779b97f4a7c15ULL;
	}
	for (uint32_t i = 0; i < q->l1_size; i++)
		n += meta_key(q, q->l1[i] & ENTRY_OFFSET_MASK) != 0;
	for (uint64_t i = 0; i < q->reft_used; i++)
		n += meta_key(q, q->reft[i] & REFT_OFFSET_MASK) != 0;
	ret = meta_reserve(q, n);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < q->l1_size; i++)
		meta_add(q, q->l1[i] & ENTRY_OFFSET_MASK);
	for (uint64_t i = 0; i < q->reft_used; i++)
		meta_add(q, q->reft[i] & REFT_OFFSET_MASK);
	return 0;
}

/*
 * Whether cluster c holds metadata ember knows of. A cluster about to be
 * handed out must not: a refcount of 0 on one is corruption, and writing
 * there would make it worse. Constant time: find_free() asks for every
 * cluster it hands out, and the tables may have millions of entries.
 */
static bool is_metadata(const struct qcow2 *q, uint64_t c)
{
	uint64_t off = c << q->cluster_bits;

	return off < q->cluster_size ||
	       overlaps(off, q->cluster_size, q->l1_off, (uint64_t)q->l1_size * 8) ||
	       overlaps(off, q->cluster_size, q->reft_off,
			(uint64_t)q->reft_clusters * q->cluster_size) ||
	       q->meta_key[meta_slot(q, c)] == c;
}

static bool in_batch(const struct qcow2 *q, uint64_t c)
{
	for (unsigned int i = 0; i < q->resv_end; i++)
		if (q->resv[i] == c)
			return true;
	return false;
}

/*
 * The first cluster at or after `from` that is free: refcount 0, or past the
 * end of the file. A search from the hint, when the caller may yield
 * (q->may_yield), passes at most FIND_FREE_BUDGET clusters in use: then it
 * moves the hint past them and fails with -EAGAIN, and the next search goes
 * on from there.
 */
static int find_free(struct qcow2 *q, uint64_t from, uint64_t *out)
{
	uint64_t per = rb_entries(q), looked = 0;
	bool budget = q->may_yield && from == q->free_hint;

	for (uint64_t c = from ? from : 1;; c++) {
		uint64_t rc, boff;
		int ret;

		if (c >= MAX_HOST_OFFSET >> q->cluster_bits)
			return -ENOSPC;
		ret = refblock(q, c / per, &boff);
		if (ret < 0)
			return ret;
		if (boff) {
			ret = refcount_get(q, c, &rc);
			if (ret < 0)
				return ret;
			/*
			 * Past the end of the file nothing is stored: a count there is a
			 * leak from a crash (or nonsense), unless this batch set it.
			 */
			if (rc && ((c << q->cluster_bits) < q->file_size || in_batch(q, c))) {
				if (budget && ++looked >= FIND_FREE_BUDGET) {
					/* None is free below c + 1. */
					q->free_hint = c + 1;
					return -EAGAIN;
				}
				continue;
			}
		}
		if (is_metadata(q, c)) {
			q->broken = true;
			return qcow2_corrupt(q,
					     "cluster 0x%llx holds metadata but its refcount is 0; "
					     "no more writes",
					     (unsigned long long)(c << q->cluster_bits));
		}
		*out = c;
		return 0;
	}
}

static int refcount_set(struct qcow2 *q, uint64_t c, uint64_t v, unsigned int depth);
static int grow_reftable(struct qcow2 *q, uint64_t need, uint64_t busy);
static void free_later(struct qcow2 *q, uint64_t c);

/*
 * Creates refcount block i, for cluster c (whose refcount is being set).
 * The block goes to a free cluster; when that cluster is one the new block
 * covers, the block counts itself. It is written and synced before the
 * refcount table points to it.
 */
static int new_refblock(struct qcow2 *q, uint64_t i, uint64_t c, unsigned int depth)
{
	uint64_t per = rb_entries(q), b, be;
	int ret;

	if (depth >= MAX_RB_DEPTH)
		return -ENOSPC;
	/* No cluster below the hint is free (a repair puts it past the end of the file). */
	ret = find_free(q, c + 1 > q->free_hint ? c + 1 : q->free_hint, &b);
	if (ret < 0)
		return ret;
	if (b / per != i) {
		ret = refcount_set(q, b, 1, depth + 1);
		if (ret < 0)
			return ret;
	}
	memset(q->buf, 0, q->cluster_size);
	if (b / per == i)
		rc_put(q, q->buf, b % per, 1);
	qcow2_cache_drop(&q->l2, b << q->cluster_bits);
	qcow2_cache_drop(&q->rb, b << q->cluster_bits);
	ret = write_exact(q, q->buf, q->cluster_size, b << q->cluster_bits);
	if (ret == 0)
		ret = sync_file(q);
	if (ret < 0)
		return ret;
	be = htobe64(b << q->cluster_bits);
	ret = meta_reserve(q, 1);
	if (ret == 0)
		ret = write_exact(q, &be, 8, q->reft_off + i * 8);
	if (ret < 0)
		return ret;
	q->reft[i] = b << q->cluster_bits;
	meta_add(q, q->reft[i]);
	if (i >= q->reft_used)
		q->reft_used = i + 1;
	return 0;
}

/* Whether refcount table entry j has no block, in the table as it is now. */
static bool no_block(const struct qcow2 *q, uint64_t j)
{
	return j >= q->reft_entries || !q->reft[j];
}

/* How many refcount blocks [t, t + n + m) needs that the table lacks, m included. */
static uint64_t blocks_needed(const struct qcow2 *q, uint64_t t, uint64_t n)
{
	uint64_t per = rb_entries(q), m = 0;

	/* More blocks cover more clusters, which may need more blocks: until that settles. */
	for (uint64_t prev = UINT64_MAX; prev != m;) {
		prev = m;
		m = 0;
		for (uint64_t j = t / per; j <= (t + n + prev - 1) / per; j++)
			m += no_block(q, j);
	}
	return m;
}

/*
 * Where a new refcount table goes: the first cluster past the end of the
 * file, past any cluster set aside and past `busy`.
 */
static uint64_t reftable_site(const struct qcow2 *q, uint64_t busy)
{
	uint64_t t = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;

	if (busy >= t)
		t = busy + 1;
	for (unsigned int k = 0; k < q->resv_end; k++)
		if (q->resv[k] >= t)
			t = q->resv[k] + 1;
	return t;
}

/*
 * The size of a new table at cluster t of at least *entries entries: its
 * entries, its clusters *n and the refcount blocks *m that follow it.
 * -ENOSPC when it would pass MAX_REFTABLE_BYTES.
 */
static int reftable_size(struct qcow2 *q, uint64_t t, uint64_t *entries, uint64_t *n, uint64_t *m)
{
	uint64_t per = rb_entries(q), per_cl = q->cluster_size / 8;

	/*
	 * The table itself lands at cluster t, which the file's size chooses: it
	 * needs an entry for the block that counts its own last cluster and the
	 * blocks after it, however far past the size asked for those are. Each
	 * round adds at least one entry, and the size is bounded below.
	 */
	for (;;) {
		*entries = (*entries + per_cl - 1) / per_cl * per_cl;
		*n = *entries / per_cl;
		if (*n * q->cluster_size > MAX_REFTABLE_BYTES) {
			log_limited(&q->rl, LOG_LVL_ERROR,
				    "%s: the qcow2 refcount table would grow past 8 MiB; the "
				    "write fails",
				    q->name);
			return -ENOSPC;
		}
		*m = blocks_needed(q, t, *n);
		if ((t + *n + *m - 1) / per < *entries)
			return 0;
		*entries = (t + *n + *m - 1) / per + 1;
	}
}

/*
 * The refcounts of the new clusters [t, t + n + m): the blocks the current
 * table lacks are written at t + n on and entered in `table`; the clusters
 * that blocks already in the table cover are counted there.
 */
static int count_new_clusters(struct qcow2 *q, uint64_t *table, uint64_t t, uint64_t n, uint64_t m)
{
	uint64_t per = rb_entries(q);
	int ret = 0;

	for (uint64_t j = t / per, b = t + n; ret == 0 && j <= (t + n + m - 1) / per; j++) {
		if (!no_block(q, j))
			continue;
		table[j] = b << q->cluster_bits;
		/* The block counts the clusters of [t, t + n + m) it covers. */
		memset(q->buf, 0, q->cluster_size);
		for (uint64_t c = j * per; c < (j + 1) * per; c++)
			if (c >= t && c < t + n + m)
				rc_put(q, q->buf, c % per, 1);
		ret = write_exact(q, q->buf, q->cluster_size, b << q->cluster_bits);
		b++;
	}
	/* Clusters of the range that blocks already in the table cover. */
	for (uint64_t c = t; ret == 0 && c < t + n + m; c++)
		if (!no_block(q, c / per))
			ret = refcount_set(q, c, 1, MAX_RB_DEPTH);
	return ret;
}

/* The table written at cluster t and synced; then the header points to it, synced too. */
static int write_reftable(struct qcow2 *q, uint64_t *table, uint64_t entries, uint64_t t,
			  uint64_t n)
{
	uint8_t hdr[12];
	int ret;

	/* One write for the whole table (up to 8 MiB), not a system call per entry. */
	for (uint64_t j = 0; j < entries; j++)
		table[j] = htobe64(table[j]);
	ret = write_exact(q, table, entries * 8, t << q->cluster_bits);
	for (uint64_t j = 0; j < entries; j++)
		table[j] = be64toh(table[j]);
	if (ret == 0)
		ret = sync_file(q);
	if (ret == 0) {
		uint64_t off = htobe64(t << q->cluster_bits);
		uint32_t cl = htobe32((uint32_t)n);

		memcpy(hdr, &off, 8);
		memcpy(hdr + 8, &cl, 4);
		ret = write_exact(q, hdr, sizeof(hdr), H_REFTABLE_OFFSET);
	}
	if (ret == 0)
		ret = sync_file(q);
	return ret;
}

/* The image now uses `table`, at cluster t in n clusters; its new blocks are metadata. */
static void adopt_reftable(struct qcow2 *q, uint64_t *table, uint64_t entries, uint64_t t,
			   uint64_t n)
{
	for (uint64_t j = 0; j < entries; j++)
		if (table[j] && (j >= q->reft_entries || !q->reft[j]))
			meta_add(q, table[j]);
	free(q->reft);
	q->reft = table;
	q->reft_off = t << q->cluster_bits;
	q->reft_clusters = (uint32_t)n;
	q->reft_entries = entries;
	for (uint64_t j = 0; j < entries; j++)
		if (table[j])
			q->reft_used = j + 1;
}

/*
 * A bigger refcount table, so that entry `need` exists. It goes past the end
 * of the file, past any cluster set aside and past `busy` (the cluster
 * whose refcount is being set, about to be used), followed by the refcount
 * blocks that the new clusters themselves need; all of it is written and
 * synced before the header points to the new table, and the old table's
 * clusters are freed after. A crash before the header write leaves leaks.
 */
static int grow_reftable(struct qcow2 *q, uint64_t need, uint64_t busy)
{
	uint64_t entries = q->reft_entries * 2 > need + 1 ? q->reft_entries * 2 : need + 1;
	uint64_t n, m, t, *table, old_off = q->reft_off, old_clusters = q->reft_clusters;
	int ret;

	t = reftable_site(q, busy);
	ret = reftable_size(q, t, &entries, &n, &m);
	if (ret < 0)
		return ret;
	/* Room for the blocks that follow the table, before anything is written. */
	ret = meta_reserve(q, m);
	if (ret < 0)
		return ret;
	table = calloc(entries, 8);
	if (!table)
		return -ENOMEM;
	memcpy(table, q->reft, q->reft_entries * 8);
	ret = count_new_clusters(q, table, t, n, m);
	if (ret == 0)
		ret = write_reftable(q, table, entries, t, n);
	if (ret < 0) {
		free(table);
		return ret;
	}
	adopt_reftable(q, table, entries, t, n);
	for (uint64_t c = 0; c < old_clusters; c++)
		free_later(q, (old_off >> q->cluster_bits) + c);
	return 0;
}

static int refcount_set(struct qcow2 *q, uint64_t c, uint64_t v, unsigned int depth)
{
	uint64_t per = rb_entries(q), i = c / per, boff;
	uint8_t *b, old[8];
	size_t at, n;
	uint64_t *t;
	int ret;

	if (v > rc_max(q))
		return qcow2_corrupt(q, "refcount of cluster 0x%llx would overflow",
				     (unsigned long long)(c << q->cluster_bits));
	if (i >= q->reft_entries) {
		ret = grow_reftable(q, i, c);
		if (ret < 0)
			return ret;
	}
	ret = refblock(q, i, &boff);
	if (ret == 0 && !boff) {
		ret = new_refblock(q, i, c, depth);
		boff = q->reft[i];
	}
	if (ret == 0)
		ret = qcow2_cache_get(q, &q->rb, boff, &t);
	/* Not `ret < 0`: any other value, which no callee returns, must not reach t either. */
	if (ret != 0)
		return ret;
	b = (uint8_t *)t;
	rc_span(q, c % per, &at, &n);
	memcpy(old, b + at, n);
	rc_put(q, b, c % per, v);
	ret = write_exact(q, b + at, n, boff + at);
	if (ret < 0)
		memcpy(b + at, old, n);
	return ret;
}

int qcow2_test_set_refcount(struct qcow2 *q, uint64_t off, uint64_t v)
{
	uint64_t c = off >> q->cluster_bits;

	if (!q->writable)
		return -EROFS;
	if (v == 0 && c < q->free_hint)
		q->free_hint = c;
	return refcount_set(q, c, v, 0);
}

/* ---- allocation and freeing ---- */

/* Sets a batch of free clusters aside: refcount 1 each, synced once. */
static int reserve(struct qcow2 *q)
{
	int ret = 0;

	q->resv_next = q->resv_end = 0;
	while (q->resv_end < RESV_BATCH) {
		uint64_t c;

		ret = find_free(q, q->free_hint, &c);
		if (ret == 0)
			ret = refcount_set(q, c, 1, 0);
		if (ret < 0)
			break;
		q->free_hint = c + 1;
		q->resv[q->resv_end++] = c;
	}
	if (q->resv_end == 0)
		return ret;
	return sync_file(q);
}

/* A cluster whose refcount is 1 on disk, for a new reference. */
static int alloc_cluster(struct qcow2 *q, uint64_t *off)
{
	int ret;

	if (q->broken)
		return -EIO;
	if (q->resv_next == q->resv_end) {
		ret = reserve(q);
		if (ret < 0)
			return ret;
	}
	*off = q->resv[q->resv_next++] << q->cluster_bits;
	/* Whatever was cached from this cluster's past life is stale. */
	qcow2_cache_drop(&q->l2, *off);
	qcow2_cache_drop(&q->rb, *off);
	return 0;
}

/* Gives back the cluster alloc_cluster() just handed out, unused. */
static void unalloc_cluster(struct qcow2 *q)
{
	q->resv_next--;
}

/* Records that one reference to cluster c is gone from disk (or will be, at the next sync). */
static void free_later(struct qcow2 *q, uint64_t c)
{
	/* After a failed sync, what is on disk is not known: freed clusters stay allocated. */
	if (q->sync_err)
		return;
	if (q->nr_frees == q->cap_frees) {
		size_t cap = q->cap_frees ? q->cap_frees * 2 : 256;
		uint64_t *f = cap <= MAX_FREES ? realloc(q->frees, cap * sizeof(*f)) : NULL;

		if (!f) {
			log_limited(&q->rl, LOG_LVL_WARN,
				    "%s: too many clusters waiting to be freed; cluster 0x%llx "
				    "stays allocated (a leak 'qemu-img check -r leaks' repairs)",
				    q->name, (unsigned long long)(c << q->cluster_bits));
			return;
		}
		q->frees = f;
		q->cap_frees = cap;
	}
	q->frees[q->nr_frees++] = c;
	if (!q->sync)
		q->frees_synced = q->nr_frees;
}

/* Frees what an L2 entry pointed to, once it no longer does. */
static void free_entry(struct qcow2 *q, uint64_t entry)
{
	if (entry & L2_COMPRESSED) {
		/* Every cluster the compressed bytes touch. */
		uint64_t start, len;

		qcow2_compressed_span(q, entry, &start, &len);
		for (uint64_t c = start >> q->cluster_bits;
		     c <= (start + len - 1) >> q->cluster_bits; c++)
			free_later(q, c);
		return;
	}
	if (entry & ENTRY_OFFSET_MASK)
		free_later(q, (entry & ENTRY_OFFSET_MASK) >> q->cluster_bits);
}

size_t qcow2_sync_begin(const struct qcow2 *q)
{
	return q->nr_frees;
}

void qcow2_sync_done(struct qcow2 *q, size_t mark)
{
	if (!q->sync_err && mark > q->frees_synced && mark <= q->nr_frees)
		q->frees_synced = mark;
}

int qcow2_apply_frees(struct qcow2 *q)
{
	size_t n = q->frees_synced;
	int first = 0;

	/* With the metadata found inconsistent, lowering refcounts could hand out a used cluster.
	 */
	if (!q->writable || !n || q->broken || q->sync_err)
		return 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t c = q->frees[k], rc;
		int ret = refcount_get(q, c, &rc);

		if (ret == 0 && rc == 0)
			ret = qcow2_corrupt(q, "freeing cluster 0x%llx, whose refcount is 0",
					    (unsigned long long)(c << q->cluster_bits));
		if (ret == 0)
			ret = refcount_set(q, c, rc - 1, 0);
		if (ret < 0) {
			/* It stays allocated: a leak, not a cluster handed out twice. */
			if (!first)
				first = ret;
			continue;
		}
		if (rc != 1)
			continue;
		if (c < q->free_hint)
			q->free_hint = c;
		/* Give the space back to the host, as a discard should. */
		if (fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(c << q->cluster_bits), (off_t)q->cluster_size) < 0)
			continue; /* only a hint: the file keeps the bytes */
	}
	memmove(q->frees, q->frees + n, (q->nr_frees - n) * sizeof(*q->frees));
	q->nr_frees -= n;
	q->frees_synced = 0;
	/* A freed compressed cluster's bytes may be reused for other data. */
	q->z_valid = false;
	return first;
}

int qcow2_release(struct qcow2 *q)
{
	int ret, r;

	if (!q->writable)
		return 0;
	ret = sync_file(q);
	r = qcow2_apply_frees(q);
	if (!ret)
		ret = r;
	/* Unused clusters set aside: nothing refers to them, so no sync is needed first. */
	while (!q->broken && q->resv_next < q->resv_end) {
		r = refcount_set(q, q->resv[q->resv_next++], 0, 0);
		if (!ret)
			ret = r;
	}
	return ret;
}

/* ---- L2 entries ---- */

/*
 * The L2 table for L1 entry l1_idx, one the image owns alone (it may be
 * written in place): the existing one, or a new one (a copy of a shared
 * table, or empty), written before the L1 entry points to it.
 */
static int l2_for_write(struct qcow2 *q, uint64_t l1_idx, uint64_t **table, uint64_t *l2_off)
{
	uint64_t l1e = q->l1[l1_idx], old = l1e & ENTRY_OFFSET_MASK, n, be;
	uint64_t *t;
	int ret;

	if (old && !qcow2_table_ok(q, old))
		return qcow2_corrupt(q,
				     "L2 table at 0x%llx is misaligned, in the header or past the "
				     "end of the file",
				     (unsigned long long)old);
	if (old && (l1e & ENTRY_COPIED)) {
		*l2_off = old;
		return qcow2_cache_get(q, &q->l2, old, table);
	}
	ret = alloc_cluster(q, &n);
	if (ret < 0)
		return ret;
	if (old) {
		ret = qcow2_cache_get(q, &q->l2, old, &t);
		if (ret < 0) {
			unalloc_cluster(q);
			return ret;
		}
		memcpy(q->buf, t, q->cluster_size);
	} else {
		memset(q->buf, 0, q->cluster_size);
	}
	ret = meta_reserve(q, 1);
	if (ret == 0)
		ret = write_exact(q, q->buf, q->cluster_size, n);
	if (ret == 0) {
		be = htobe64(n | ENTRY_COPIED);
		ret = write_exact(q, &be, 8, q->l1_off + l1_idx * 8);
	}
	if (ret < 0) {
		unalloc_cluster(q);
		return ret;
	}
	q->l1[l1_idx] = n | ENTRY_COPIED;
	meta_del(q, old);
	meta_add(q, n);
	if (old)
		free_later(q, old >> q->cluster_bits);
	*l2_off = n;
	return qcow2_cache_get(q, &q->l2, n, table);
}

static int set_l2(struct qcow2 *q, uint64_t l2_off, uint64_t *table, uint64_t idx, uint64_t entry)
{
	uint64_t be = htobe64(entry);
	int ret = write_exact(q, &be, 8, l2_off + idx * 8);

	if (ret == 0)
		table[idx] = be;
	return ret;
}

/* A guest cluster's L2 entry, in a table ready to be written, and what it says. */
struct slot {
	uint64_t *table;
	uint64_t l2_off, idx, entry, host;
	enum qcow2_kind kind;
};

static int slot_for_write(struct qcow2 *q, uint64_t cluster, struct slot *s)
{
	uint64_t entries = q->cluster_size / 8;
	int ret = l2_for_write(q, cluster / entries, &s->table, &s->l2_off);

	if (ret < 0)
		return ret;
	s->idx = cluster % entries;
	s->entry = be64toh(s->table[s->idx]);
	return qcow2_classify(q, s->entry, &s->kind, &s->host);
}

static int check_write(struct qcow2 *q, uint64_t off)
{
	if (!q->writable)
		return -EROFS;
	if (q->broken)
		return -EIO;
	if (off >= q->size || off % q->cluster_size)
		return -EINVAL;
	return 0;
}

static int write_cluster(struct qcow2 *q, uint64_t off, const void *data)
{
	struct slot s;
	uint64_t h;
	int ret = check_write(q, off);

	if (ret == 0)
		ret = slot_for_write(q, off >> q->cluster_bits, &s);
	if (ret < 0)
		return ret;
	if (s.host && (s.entry & ENTRY_COPIED)) {
		/* Its own cluster (data, or zeroes preallocated): write there, then say so. */
		ret = write_exact(q, data, q->cluster_size, s.host);
		if (ret == 0 && s.entry != (s.host | ENTRY_COPIED))
			ret = set_l2(q, s.l2_off, s.table, s.idx, s.host | ENTRY_COPIED);
		return ret;
	}
	ret = alloc_cluster(q, &h);
	if (ret < 0)
		return ret;
	ret = write_exact(q, data, q->cluster_size, h);
	if (ret == 0)
		ret = set_l2(q, s.l2_off, s.table, s.idx, h | ENTRY_COPIED);
	if (ret < 0) {
		unalloc_cluster(q);
		return ret;
	}
	/* What it replaced: a compressed cluster, or a cluster shared with another table. */
	if (s.kind == QCOW2_COMPRESSED || s.host)
		free_entry(q, s.entry);
	return 0;
}

/* The entry cluster `entry` gets for mode, or `entry` itself when it stays. */
static uint64_t zeroed_entry(uint64_t entry, enum qcow2_kind kind, uint64_t host,
			     enum qcow2_zero_mode mode, bool backing, bool can_free)
{
	/* Deallocated: unallocated reads as zeroes without a backing file, else the zero flag. */
	uint64_t gone = backing ? L2_ZERO : 0;
	bool own = host && (entry & ENTRY_COPIED) && kind != QCOW2_COMPRESSED;

	switch (kind) {
	case QCOW2_UNALLOCATED:
		return mode == QCOW2_DISCARD || !backing ? entry : L2_ZERO;
	case QCOW2_ZERO:
		if (!host || mode == QCOW2_ZERO_KEEP || !can_free)
			return entry;
		return gone;
	case QCOW2_DATA:
		if (own && (mode == QCOW2_ZERO_KEEP || !can_free))
			return mode == QCOW2_DISCARD ? entry : host | ENTRY_COPIED | L2_ZERO;
		return gone;
	case QCOW2_COMPRESSED:
		return gone;
	}
	return entry;
}

static int zero_range(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_zero_mode mode,
		      bool backing)
{
	uint64_t entries = q->cluster_size / 8;
	int ret = check_write(q, off);

	if (ret < 0)
		return ret;
	if (len > q->size - off)
		len = q->size - off;
	if (q->version < 3) {
		/* No zero flag: only deallocating to "unallocated" reads as zeroes, and only alone.
		 */
		if (backing || mode == QCOW2_ZERO_KEEP)
			return mode == QCOW2_DISCARD ? 0 : -EOPNOTSUPP;
	}
	for (uint64_t c = off >> q->cluster_bits; c << q->cluster_bits < off + len; c++) {
		struct slot s;
		uint64_t next;
		bool can_free = q->nr_frees < MAX_FREES;

		if (!can_free && q->version < 3)
			return -EOPNOTSUPP; /* the caller writes zeroes instead */
		if (!(q->l1[c / entries] & ENTRY_OFFSET_MASK) &&
		    (mode == QCOW2_DISCARD || !backing)) {
			/* No L2 table, and unallocated already reads as wanted: skip the table. */
			c = (c / entries + 1) * entries - 1;
			continue;
		}
		ret = slot_for_write(q, c, &s);
		if (ret < 0)
			return ret;
		next = zeroed_entry(s.entry, s.kind, s.host, mode, backing, can_free);
		if (next == s.entry)
			continue;
		ret = set_l2(q, s.l2_off, s.table, s.idx, next);
		if (ret < 0)
			return ret;
		if ((next & ENTRY_OFFSET_MASK) != s.host || s.kind == QCOW2_COMPRESSED)
			free_entry(q, s.entry);
	}
	return 0;
}

/* The two ways into allocation from a request's step: they may yield (-EAGAIN). */
int qcow2_write_cluster(struct qcow2 *q, uint64_t off, const void *data)
{
	int ret;

	q->may_yield = true;
	ret = write_cluster(q, off, data);
	q->may_yield = false;
	return ret;
}

int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, enum qcow2_zero_mode mode, bool backing)
{
	int ret;

	q->may_yield = true;
	ret = zero_range(q, off, len, mode, backing);
	q->may_yield = false;
	return ret;
}

/* ---- repairing a dirty image ---- */

/* Clusters a repair counts at most (a 64 MiB table of counts). */
#define MAX_REPAIR_CLUSTERS (1ULL << 24)

struct tally {
	uint32_t *n;
	uint64_t clusters;
};

/* One more reference to each cluster [off, off + len) touches. */
static int count_refs(struct qcow2 *q, struct tally *t, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	for (uint64_t c = off >> q->cluster_bits; c <= (off + len - 1) >> q->cluster_bits; c++) {
		if (c >= t->clusters)
			return qcow2_corrupt(q, "a table points past the end of the file (0x%llx)",
					     (unsigned long long)(c << q->cluster_bits));
		if (t->n[c] == UINT32_MAX)
			return qcow2_corrupt(q, "cluster 0x%llx has too many references",
					     (unsigned long long)(c << q->cluster_bits));
		t->n[c]++;
	}
	return 0;
}

/*
 * Every reference the image's tables make: header, L1, refcount table and
 * blocks, L2, data. Each L2 table is walked once, so the work is bounded by
 * the file's size.
 */
static int count_all(struct qcow2 *q, struct tally *t)
{
	uint64_t entries = q->cluster_size / 8, boff;
	int ret;

	ret = count_refs(q, t, 0, q->cluster_size);
	if (ret == 0)
		ret = count_refs(q, t, q->l1_off, (uint64_t)q->l1_size * 8);
	if (ret == 0)
		ret = count_refs(q, t, q->reft_off, (uint64_t)q->reft_clusters * q->cluster_size);
	for (uint64_t i = 0; ret == 0 && i < q->reft_used; i++) {
		ret = refblock(q, i, &boff);
		if (ret == 0 && boff)
			ret = count_refs(q, t, boff, q->cluster_size);
	}
	for (uint32_t i = 0; ret == 0 && i < q->l1_size; i++) {
		uint64_t l2 = q->l1[i] & ENTRY_OFFSET_MASK;
		uint64_t *table;

		if (!l2)
			continue;
		if (!qcow2_table_ok(q, l2))
			return qcow2_corrupt(
				q,
				"L2 table at 0x%llx is misaligned, in the header or past "
				"the end of the file",
				(unsigned long long)l2);
		/*
		 * Counted already: the table is shared with another L1 entry (or is
		 * other metadata, or data). Walking it again for every entry that
		 * names it could take 2^40 steps; it is corruption anyway.
		 */
		if (t->n[l2 >> q->cluster_bits])
			return qcow2_corrupt(q, "cluster 0x%llx is used twice, once as an L2 table",
					     (unsigned long long)l2);
		ret = count_refs(q, t, l2, q->cluster_size);
		if (ret == 0)
			ret = qcow2_cache_get(q, &q->l2, l2, &table);
		for (uint64_t k = 0; ret == 0 && k < entries; k++) {
			uint64_t e = be64toh(table[k]), host;
			enum qcow2_kind kind;

			ret = qcow2_classify(q, e, &kind, &host);
			if (ret == 0 && kind == QCOW2_COMPRESSED) {
				uint64_t start, len;

				qcow2_compressed_span(q, e, &start, &len);
				ret = count_refs(q, t, start, len);
			} else if (ret == 0 && host) {
				ret = count_refs(q, t, host, q->cluster_size);
			}
		}
	}
	return ret;
}

/*
 * The dirty bit says the refcounts may be stale (lazy refcounts, and a
 * crash): as the specification asks, they are rebuilt from the tables
 * before anything is allocated, then the bit is cleared. Refcount blocks
 * that are missing go past the end of the file, where nothing is stored.
 */
static int repair(struct qcow2 *q, char *err, size_t err_len)
{
	struct tally t = { 0 };
	uint64_t fixed = 0, incompat;
	int ret;

	t.clusters = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;
	if (t.clusters > MAX_REPAIR_CLUSTERS) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 image was not closed cleanly (dirty) and is too big to "
			   "repair here; use 'qemu-img check -r all', or open it with readonly=on",
			   q->name);
		return -EINVAL;
	}
	t.n = calloc(t.clusters, sizeof(*t.n));
	if (!t.n)
		return -ENOMEM;
	ret = count_all(q, &t);
	q->free_hint = t.clusters;
	for (uint64_t c = 0; ret == 0 && c < t.clusters; c++) {
		uint64_t rc;

		ret = refcount_get(q, c, &rc);
		if (ret == 0 && rc != t.n[c]) {
			ret = refcount_set(q, c, t.n[c], 0);
			fixed++;
		}
	}
	free(t.n);
	if (ret == 0)
		ret = sync_file(q);
	if (ret == 0) {
		incompat = htobe64(q->incompat & ~INCOMPAT_DIRTY);
		ret = write_exact(q, &incompat, 8, H_INCOMPAT);
	}
	if (ret == 0)
		ret = sync_file(q);
	if (ret < 0) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 image was not closed cleanly (dirty) and rebuilding its "
			   "refcounts failed (%s); use 'qemu-img check -r all', or open it with "
			   "readonly=on",
			   q->name, strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	q->incompat &= ~INCOMPAT_DIRTY;
	q->free_hint = 1;
	log_warn("%s: the qcow2 image was not closed cleanly (dirty); its refcounts were rebuilt "
		 "(%llu corrected)",
		 q->name, (unsigned long long)fixed);
	return 0;
}

/* ---- opening for writing ---- */

int qcow2_open_write(struct qcow2 *q, char *err, size_t err_len)
{
	int ret;

	if (q->incompat & INCOMPAT_CORRUPT) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 image is marked corrupt; repair it with 'qemu-img check "
			   "-r all', or open it with readonly=on",
			   q->name);
		return -EINVAL;
	}
	if (q->nb_snapshots) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 image has %u internal snapshots; ember writes only "
			   "images without them (readonly=on reads it)",
			   q->name, q->nb_snapshots);
		return -EINVAL;
	}
	q->reft_entries = (uint64_t)q->reft_clusters * q->cluster_size / 8;
	q->reft = malloc(q->reft_entries * 8 + 8);
	/* Zeroed: nothing is set aside yet, and no entry is ever read unwritten. */
	q->resv = calloc(RESV_BATCH, sizeof(*q->resv));
	q->buf = malloc(q->cluster_size);
	q->rb.s = calloc(RB_CACHE_TABLES, sizeof(*q->rb.s));
	if (!q->reft || !q->resv || !q->buf || !q->rb.s)
		return -ENOMEM;
	q->rb.n = RB_CACHE_TABLES;
	/* At most 8 MiB, inside the file: checked with the header. */
	ret = qcow2_file_io(q->fd, q->reft, q->reft_entries * 8, q->reft_off, false);
	if (ret < 0) {
		log_errbuf(err, err_len, "%s: reading the qcow2 refcount table: %s", q->name,
			   strerror(-ret));
		return ret;
	}
	for (uint64_t i = 0; i < q->reft_entries; i++) {
		q->reft[i] = be64toh(q->reft[i]);
		if (q->reft[i])
			q->reft_used = i + 1;
	}
	ret = meta_build(q);
	if (ret < 0)
		return ret;
	if (q->autoclear) {
		/* Whatever those bits vouch for (bitmaps) stops being true once ember writes. */
		uint64_t zero = 0;

		ret = write_exact(q, &zero, 8, H_AUTOCLEAR);
		if (ret == 0)
			ret = sync_file(q);
		if (ret < 0) {
			log_errbuf(err, err_len, "%s: clearing the qcow2 autoclear bits: %s",
				   q->name, strerror(-ret));
			return ret;
		}
		q->autoclear = 0;
	}
	q->free_hint = 1;
	if (q->incompat & INCOMPAT_DIRTY) {
		ret = repair(q, err, err_len);
		if (ret < 0)
			return ret;
	}
	q->writable = true;
	return 0;
}

void qcow2_close_write(struct qcow2 *q)
{
	for (unsigned int i = 0; q->rb.s && i < q->rb.n; i++)
		free(q->rb.s[i].table);
	free(q->rb.s);
	free(q->reft);
	free(q->meta_key);
	free(q->meta_refs);
	free(q->resv);
	free(q->frees);
	free(q->buf);
}
