// SPDX-License-Identifier: MIT
#include "config.h"

#include "block/qcow2_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

int qcow2_file_io(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r =
			write ? pwrite(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done))
			      : pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

bool qcow2_probe(const void *head, size_t len)
{
	return len >= 4 && be32_at(head) == QCOW2_MAGIC;
}

/* Whether [off, off + len) lies inside the file, without overflow. */
static bool in_file(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	return off <= q->file_size && len <= q->file_size - off;
}

/* The name the image's feature table gives incompatible bit `bit`, or NULL. */
static const char *feature_name(const uint8_t *table, size_t len, unsigned int bit, char *out,
				size_t out_len)
{
	for (size_t i = 0; i + FEATURE_NAME_ENTRY <= len; i += FEATURE_NAME_ENTRY) {
		const uint8_t *e = table + i;
		size_t n = 0;

		if (e[0] != 0 || e[1] != bit)
			continue;
		while (n < FEATURE_NAME_ENTRY - 2 && n + 1 < out_len && e[2 + n] >= 0x20 &&
		       e[2 + n] < 0x7f) {
			out[n] = (char)e[2 + n];
			n++;
		}
		out[n] = '\0';
		return n ? out : NULL;
	}
	return NULL;
}

/*
 * Walks the header extensions in [start, end) of the first cluster `c`:
 * the backing format, and the feature names for a message about an
 * unknown incompatible bit.
 */
static int parse_extensions(struct qcow2 *q, const uint8_t *c, size_t start, size_t end,
			    const uint8_t **names, size_t *names_len, char *err, size_t err_len)
{
	size_t at = start;

	while (at + 8 <= end) {
		uint32_t type = be32_at(c + at), len = be32_at(c + at + 4);
		size_t padded = ((size_t)len + 7) & ~(size_t)7;

		at += 8;
		if (type == EXT_END)
			return 0;
		if (len > end - at || padded > end - at) {
			log_errbuf(err, err_len,
				   "%s: qcow2 header extension 0x%08x runs past the header",
				   q->name, type);
			return -EINVAL;
		}
		if (type == EXT_BACKING_FORMAT) {
			if (len == 0 || len >= sizeof(q->backing_fmt) || memchr(c + at, 0, len)) {
				log_errbuf(err, err_len,
					   "%s: malformed backing format in the qcow2 header",
					   q->name);
				return -EINVAL;
			}
			memcpy(q->backing_fmt, c + at, len);
			q->backing_fmt[len] = '\0';
		} else if (type == EXT_FEATURE_NAMES) {
			*names = c + at;
			*names_len = len;
		}
		at += padded;
	}
	return 0;
}

/* Refuses what ember cannot read correctly, by name. */
static int check_features(struct qcow2 *q, const uint8_t *c, const uint8_t *names, size_t names_len,
			  char *err, size_t err_len)
{
	uint64_t unknown = q->incompat & ~INCOMPAT_KNOWN;
	char buf[48];

	if (q->incompat & INCOMPAT_DATA_FILE) {
		log_errbuf(err, err_len,
			   "%s: qcow2 images with an external data file are not supported",
			   q->name);
		return -EINVAL;
	}
	if (q->incompat & INCOMPAT_EXTL2) {
		log_errbuf(err, err_len,
			   "%s: qcow2 extended L2 entries (subclusters) are not supported",
			   q->name);
		return -EINVAL;
	}
	if (q->incompat & INCOMPAT_COMPRESSION) {
		uint8_t type = c[H_COMPRESSION_TYPE];

		if (type == 1) {
			log_errbuf(err, err_len,
				   "%s: zstd-compressed qcow2 images are not supported "
				   "(only zlib)",
				   q->name);
			return -EINVAL;
		}
		if (type != 0) {
			log_errbuf(err, err_len, "%s: unknown qcow2 compression type %u", q->name,
				   type);
			return -EINVAL;
		}
	}
	if (unknown) {
		unsigned int bit = (unsigned int)__builtin_ctzll(unknown);
		const char *name = feature_name(names, names_len, bit, buf, sizeof(buf));

		log_errbuf(err, err_len, "%s: unsupported qcow2 feature: %s%s%u%s", q->name,
			   name ? name : "", name ? " (incompatible bit " : "incompatible bit ",
			   bit, name ? ")" : "");
		return -EINVAL;
	}
	return 0;
}

/* The fixed part of the header: up to and including the compression type's byte. */
#define FIXED_HEADER_BYTES (H_COMPRESSION_TYPE + 8)

/*
 * Reads the fixed header into `h` (FIXED_HEADER_BYTES, zeroed by the caller:
 * a short version 2 file fills only part of it) and checks what decides how
 * the rest is read: magic, version, cluster size, encryption, the version 3
 * header length and the refcount width.
 */
static int read_fixed_header(struct qcow2 *q, uint8_t *h, size_t *header_len, char *err,
			     size_t err_len)
{
	uint32_t refcount_order = 4;
	int ret;

	if (q->file_size < H_V2_LENGTH) {
		log_errbuf(err, err_len, "%s: too short for a qcow2 image", q->name);
		return -EINVAL;
	}
	ret = qcow2_file_io(q->fd, h,
			    q->file_size < FIXED_HEADER_BYTES ? H_V2_LENGTH : FIXED_HEADER_BYTES, 0,
			    false);
	if (ret < 0) {
		log_errbuf(err, err_len, "%s: reading the qcow2 header: %s", q->name,
			   strerror(-ret));
		return ret;
	}
	if (be32_at(h) != QCOW2_MAGIC) {
		log_errbuf(err, err_len, "%s: not a qcow2 image", q->name);
		return -EINVAL;
	}
	q->version = be32_at(h + H_VERSION);
	if (q->version != 2 && q->version != 3) {
		log_errbuf(err, err_len, "%s: qcow2 version %u is not supported (only 2 and 3)",
			   q->name, q->version);
		return -EINVAL;
	}
	q->cluster_bits = be32_at(h + H_CLUSTER_BITS);
	if (q->cluster_bits < MIN_CLUSTER_BITS || q->cluster_bits > MAX_CLUSTER_BITS) {
		log_errbuf(err, err_len, "%s: qcow2 cluster_bits %u is outside 9..21", q->name,
			   q->cluster_bits);
		return -EINVAL;
	}
	q->cluster_size = 1ULL << q->cluster_bits;
	if (be32_at(h + H_CRYPT) != 0) {
		log_errbuf(err, err_len, "%s: encrypted qcow2 images are not supported", q->name);
		return -EINVAL;
	}
	*header_len = H_V2_LENGTH;
	if (q->version == 3) {
		if (q->file_size < H_V3_MIN_LENGTH) {
			log_errbuf(err, err_len, "%s: too short for a qcow2 version 3 header",
				   q->name);
			return -EINVAL;
		}
		q->incompat = be64_at(h + H_INCOMPAT);
		refcount_order = be32_at(h + H_REFCOUNT_ORDER);
		*header_len = be32_at(h + H_HEADER_LENGTH);
		if (*header_len < H_V3_MIN_LENGTH || *header_len % 8 ||
		    *header_len > q->cluster_size) {
			log_errbuf(err, err_len, "%s: bad qcow2 header length %zu", q->name,
				   *header_len);
			return -EINVAL;
		}
		if (*header_len <= H_COMPRESSION_TYPE)
			h[H_COMPRESSION_TYPE] = 0;
	}
	if (refcount_order > 6) {
		log_errbuf(err, err_len, "%s: qcow2 refcount_order %u is over 6", q->name,
			   refcount_order);
		return -EINVAL;
	}
	q->refcount_order = refcount_order;
	return 0;
}

/*
 * Takes the virtual size and where the L1 and refcount tables are from the
 * checked fixed header `h`, and refuses tables that cannot describe the
 * disk or that lie outside the file or over the header.
 */
static int read_tables(struct qcow2 *q, const uint8_t *h, char *err, size_t err_len)
{
	uint64_t l1_off, reft_off, need_l1, l2_span;
	uint32_t reft_clusters;

	q->size = be64_at(h + H_SIZE);
	q->l1_size = be32_at(h + H_L1_SIZE);
	l1_off = q->l1_off = be64_at(h + H_L1_OFFSET);
	reft_off = q->reft_off = be64_at(h + H_REFTABLE_OFFSET);
	reft_clusters = q->reft_clusters = be32_at(h + H_REFTABLE_CLUSTERS);
	q->nb_snapshots = be32_at(h + H_SNAPSHOTS);
	if (q->version == 3)
		q->autoclear = be64_at(h + H_AUTOCLEAR);
	/* Each L1 entry covers one L2 table: cluster_size / 8 clusters. */
	l2_span = q->cluster_size * (q->cluster_size / 8);
	need_l1 = q->size / l2_span + (q->size % l2_span != 0);
	if ((uint64_t)q->l1_size * 8 > MAX_L1_BYTES || need_l1 > q->l1_size) {
		log_errbuf(
			err, err_len,
			"%s: qcow2 L1 table of %u entries cannot describe %llu bytes (or is over "
			"32 MiB)",
			q->name, q->l1_size, (unsigned long long)q->size);
		return -EINVAL;
	}
	if (q->l1_size && (l1_off % q->cluster_size || l1_off < q->cluster_size ||
			   !in_file(q, l1_off, (uint64_t)q->l1_size * 8))) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 L1 table lies outside the file or in the header",
			   q->name);
		return -EINVAL;
	}
	if (reft_clusters == 0) {
		/* Every image has one; without it, nothing would count the header's cluster. */
		log_errbuf(err, err_len,
			   "%s: the qcow2 image has no refcount table (refcount_table_clusters is "
			   "0)",
			   q->name);
		return -EINVAL;
	}
	if (reft_off % q->cluster_size || reft_off < q->cluster_size ||
	    (uint64_t)reft_clusters * q->cluster_size > MAX_REFTABLE_BYTES ||
	    !in_file(q, reft_off, (uint64_t)reft_clusters * q->cluster_size)) {
		log_errbuf(err, err_len,
			   "%s: the qcow2 refcount table lies outside the file or in the header",
			   q->name);
		return -EINVAL;
	}
	return 0;
}

/*
 * The backing file name the fixed header `h` points at inside the first
 * cluster `c`, after the header and not running past the cluster. Sets
 * *ext_end to where the name starts: the extensions end there.
 */
static int read_backing_name(struct qcow2 *q, const uint8_t *h, const uint8_t *c, size_t header_len,
			     size_t *ext_end, char *err, size_t err_len)
{
	uint64_t backing_off = be64_at(h + H_BACKING_OFFSET);
	uint32_t backing_len = be32_at(h + H_BACKING_SIZE);

	*ext_end = (size_t)q->cluster_size;
	if (!backing_off)
		return 0;
	if (backing_len == 0 || backing_len > MAX_BACKING_NAME || backing_off < header_len ||
	    backing_off > q->cluster_size || backing_len > q->cluster_size - backing_off ||
	    memchr(c + backing_off, 0, backing_len)) {
		log_errbuf(err, err_len, "%s: malformed backing file name in the qcow2 header",
			   q->name);
		return -EINVAL;
	}
	q->backing = strndup((const char *)c + backing_off, backing_len);
	if (!q->backing)
		return -ENOMEM;
	*ext_end = (size_t)backing_off;
	return 0;
}

/*
 * The rest of the header (extensions, backing name) lives in the first
 * cluster: reads it, then refuses the features ember cannot read.
 */
static int read_first_cluster(struct qcow2 *q, const uint8_t *h, size_t header_len, char *err,
			      size_t err_len)
{
	const uint8_t *names = NULL;
	size_t names_len = 0, ext_end;
	uint8_t *c;
	int ret;

	c = calloc(1, q->cluster_size);
	if (!c)
		return -ENOMEM;
	ret = qcow2_file_io(q->fd, c,
			    q->file_size < q->cluster_size ? (size_t)q->file_size : q->cluster_size,
			    0, false);
	if (ret < 0) {
		log_errbuf(err, err_len, "%s: reading the qcow2 header: %s", q->name,
			   strerror(-ret));
		goto out;
	}
	ret = read_backing_name(q, h, c, header_len, &ext_end, err, err_len);
	if (ret == 0)
		ret = parse_extensions(q, c, header_len, ext_end, &names, &names_len, err, err_len);
	if (ret == 0) {
		/* The compression type from `h`: 0 there when the header ends before it. */
		memcpy(c + H_COMPRESSION_TYPE, h + H_COMPRESSION_TYPE, 1);
		ret = check_features(q, c, names, names_len, err, err_len);
	}
out:
	free(c);
	return ret;
}

static int parse_header(struct qcow2 *q, char *err, size_t err_len)
{
	uint8_t h[FIXED_HEADER_BYTES] = { 0 };
	size_t header_len;
	int ret;

	ret = read_fixed_header(q, h, &header_len, err, err_len);
	if (ret == 0)
		ret = read_tables(q, h, err, err_len);
	if (ret == 0)
		ret = read_first_cluster(q, h, header_len, err, err_len);
	return ret;
}

static int load_l1(struct qcow2 *q, char *err, size_t err_len)
{
	int ret;

	if (!q->l1_size)
		return 0;
	/* At most 32 MiB, and no more than the file holds: checked with the header. */
	q->l1 = malloc((size_t)q->l1_size * 8);
	if (!q->l1)
		return -ENOMEM;
	ret = qcow2_file_io(q->fd, q->l1, (size_t)q->l1_size * 8, q->l1_off, false);
	if (ret < 0) {
		log_errbuf(err, err_len, "%s: reading the qcow2 L1 table: %s", q->name,
			   strerror(-ret));
		return ret;
	}
	for (uint32_t i = 0; i < q->l1_size; i++)
		q->l1[i] = be64toh(q->l1[i]);
	return 0;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint64_t **out)
{
	struct cache_slot *victim = &c->s[0];
	int ret;

	for (unsigned int i = 0; i < c->n; i++) {
		struct cache_slot *s = &c->s[i];

		if (s->off == off && s->table) {
			s->used = ++c->clock;
			*out = s->table;
			return 0;
		}
		if (!s->table || s->used < victim->used)
			victim = s;
		if (!s->table)
			break;
	}
	if (!victim->table) {
		victim->table = malloc(q->cluster_size);
		if (!victim->table)
			return -ENOMEM;
	}
	victim->off = 0;
	ret = qcow2_file_io(q->fd, victim->table, q->cluster_size, off, false);
	if (ret < 0)
		return qcow2_corrupt(q, "reading the table at 0x%llx: %s", (unsigned long long)off,
				     strerror(-ret));
	victim->off = off;
	victim->used = ++c->clock;
	*out = victim->table;
	return 0;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned int i = 0; i < c->n; i++)
		if (c->s[i].off == off)
			c->s[i].off = 0;
}

static int cache_init(struct qcow2_cache *c, unsigned int n)
{
	c->s = calloc(n, sizeof(*c->s));
	if (!c->s)
		return -ENOMEM;
	c->n = n;
	/* Tables come with first use. */
	return 0;
}

static void cache_fini(struct qcow2_cache *c)
{
	for (unsigned int i = 0; c->s && i < c->n; i++)
		free(c->s[i].table);
	free(c->s);
	c->s = NULL;
}

static int alloc_caches(struct qcow2 *q)
{
	unsigned int n = (unsigned int)(QCOW2_L2_CACHE_BYTES / q->cluster_size);

	if (n < 2)
		n = 2;
	if (n > MAX_L2_CACHE_TABLES)
		n = MAX_L2_CACHE_TABLES;
	/* The inflate buffers come with first use. */
	return cache_init(&q->l2, n);
}

int qcow2_open(struct qcow2 **out, int fd, const char *name, unsigned int flags, char *err,
	       size_t err_len)
{
	struct qcow2 *q;
	off_t end;
	int ret;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		log_errbuf(err, err_len, "%s: out of memory", name ? name : "qcow2 image");
		return -ENOMEM;
	}
	q->fd = fd;
	ratelimit_init(&q->rl, 1000000000ULL, 5);
	q->name = strdup(name ? name : "qcow2 image");
	if (!q->name) {
		ret = -ENOMEM;
		goto fail;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		ret = -errno;
		log_errbuf(err, err_len, "%s: %s", q->name, strerror(-ret));
		goto fail;
	}
	q->file_size = (uint64_t)end;
	ret = parse_header(q, err, err_len);
	if (ret == 0)
		ret = load_l1(q, err, err_len);
	if (ret == 0)
		ret = alloc_caches(q);
	if (ret == 0 && (q->incompat & INCOMPAT_CORRUPT) && !(flags & QCOW2_OPEN_WRITE))
		log_warn("%s: the qcow2 image is marked corrupt; reading it anyway (read-only)",
			 q->name);
	if (ret == 0 && (flags & QCOW2_OPEN_WRITE)) {
		q->sync = !(flags & QCOW2_OPEN_NOSYNC);
		ret = qcow2_open_write(q, err, err_len);
	}
	if (ret < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	if (ret == -ENOMEM)
		log_errbuf(err, err_len, "%s: out of memory", q->name ? q->name : "qcow2 image");
	qcow2_close(q);
	return ret;
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	qcow2_close_write(q);
	cache_fini(&q->l2);
	free(q->l1);
	free(q->backing);
	free(q->z_data);
	free(q->z_in);
	free(q->name);
	ratelimit_destroy(&q->rl);
	free(q);
}

uint64_t qcow2_size(const struct qcow2 *q)
{
	return q->size;
}

const char *qcow2_backing_file(const struct qcow2 *q)
{
	return q->backing;
}

const char *qcow2_backing_format(const struct qcow2 *q)
{
	return q->backing_fmt[0] ? q->backing_fmt : NULL;
}

bool qcow2_dirty(const struct qcow2 *q)
{
	return q->incompat & INCOMPAT_DIRTY;
}

uint64_t qcow2_cluster_size(const struct qcow2 *q)
{
	return q->cluster_size;
}

bool qcow2_has_zero_flag(const struct qcow2 *q)
{
	return q->version >= 3;
}

void qcow2_corrupt_log(struct qcow2 *q, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_limited(&q->rl, LOG_LVL_ERROR, "%s: corrupt qcow2 image: %s; the request fails",
		    q->name, msg);
}

bool qcow2_table_ok(const struct qcow2 *q, uint64_t off)
{
	return off % q->cluster_size == 0 && off >= q->cluster_size &&
	       in_file(q, off, q->cluster_size);
}

void qcow2_compressed_span(const struct qcow2 *q, uint64_t entry, uint64_t *start, uint64_t *len)
{
	unsigned int x = 62 - (q->cluster_bits - 8);
	uint64_t sectors = ((entry & ((1ULL << 62) - 1)) >> x) + 1;

	/* The offset, then how many more 512-byte sectors follow the one it is in. */
	*start = entry & ((1ULL << x) - 1);
	*len = sectors * 512 - (*start & 511);
}

int qcow2_classify(struct qcow2 *q, uint64_t entry, enum qcow2_kind *kind, uint64_t *host)
{
	*host = 0;
	if (entry & L2_COMPRESSED) {
		*kind = QCOW2_COMPRESSED;
		return 0;
	}
	/* Bits 1-8 and 56-61 are reserved: set, the entry is not one we understand. */
	if (entry & ~(ENTRY_OFFSET_MASK | L2_ZERO | ENTRY_COPIED))
		return qcow2_corrupt(q, "L2 entry 0x%016llx has reserved bits set",
				     (unsigned long long)entry);
	*host = entry & ENTRY_OFFSET_MASK;
	if (q->version >= 3 && (entry & L2_ZERO))
		*kind = QCOW2_ZERO;
	else if (*host)
		*kind = QCOW2_DATA;
	else
		*kind = QCOW2_UNALLOCATED;
	if (*host && (*host % q->cluster_size || *host < q->cluster_size || *host >= q->file_size))
		return qcow2_corrupt(q,
				     "data cluster at 0x%llx is misaligned, in the header or past "
				     "the end of the file",
				     (unsigned long long)*host);
	return 0;
}

int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_extent *e)
{
	uint64_t entries = q->cluster_size / 8;
	uint64_t cluster = off >> q->cluster_bits;
	uint64_t in = off & (q->cluster_size - 1);
	uint64_t l1_idx = cluster / entries, l2_idx = cluster % entries;
	uint64_t l1e, l2_off, host;
	uint64_t *table = NULL, entry;
	enum qcow2_kind kind;
	int ret;

	if (off >= q->size || len == 0)
		return -EINVAL;
	if (len > q->size - off)
		len = q->size - off;
	memset(e, 0, sizeof(*e));
	if (l1_idx >= q->l1_size)
		return qcow2_corrupt(q, "offset 0x%llx is past the L1 table",
				     (unsigned long long)off);
	l1e = q->l1[l1_idx];
	l2_off = l1e & ENTRY_OFFSET_MASK;
	if (!l2_off) {
		/* No L2 table: the rest of what this L1 entry covers is unallocated. */
		uint64_t span = (entries - l2_idx) * q->cluster_size - in;

		e->kind = QCOW2_UNALLOCATED;
		e->len = len < span ? len : span;
		return 0;
	}
	if (!qcow2_table_ok(q, l2_off))
		return qcow2_corrupt(
			q,
			"L2 table at 0x%llx is misaligned, in the header or past the end "
			"of the file",
			(unsigned long long)l2_off);
	ret = qcow2_cache_get(q, &q->l2, l2_off, &table);
	if (ret < 0)
		return ret;
	entry = be64toh(table[l2_idx]);
	ret = qcow2_classify(q, entry, &kind, &host);
	if (ret < 0)
		return ret;
	e->kind = kind;
	e->len = q->cluster_size - in;
	e->entry = entry;
	if (kind == QCOW2_DATA) {
		e->host_off = host + in;
		/* Only a cluster nothing else refers to may be written where it is. */
		e->in_place = q->writable && (entry & ENTRY_COPIED) && (l1e & ENTRY_COPIED);
	}
	if (kind != QCOW2_COMPRESSED) {
		/* Following clusters of the same kind (and, for data, contiguous) join the run. */
		for (uint64_t i = l2_idx + 1; i < entries && e->len < len; i++) {
			enum qcow2_kind k;
			uint64_t h;

			uint64_t next = be64toh(table[i]);

			ret = qcow2_classify(q, next, &k, &h);
			if (ret < 0 || k != kind ||
			    (kind == QCOW2_DATA &&
			     (h != host + (i - l2_idx) * q->cluster_size ||
			      (q->writable && ((next ^ entry) & ENTRY_COPIED)))))
				break;
			e->len += q->cluster_size;
		}
	}
	if (e->len > len)
		e->len = len;
	return 0;
}

/* Inflates the compressed cluster `entry` into q->z_data. */
static int inflate_cluster(struct qcow2 *q, uint64_t entry)
{
	uint64_t host, clen;
	z_stream zs;
	int ret, zret;

	if (q->z_valid && q->z_entry == entry)
		return 0;
	qcow2_compressed_span(q, entry, &host, &clen);
	q->z_valid = false;
	if (!q->z_data)
		q->z_data = malloc(q->cluster_size);
	/* A compressed cluster may take a little more than a cluster: room for two. */
	if (!q->z_in)
		q->z_in = malloc(2 * q->cluster_size);
	if (!q->z_data || !q->z_in)
		return -ENOMEM;
	if (host < q->cluster_size || host >= q->file_size)
		return qcow2_corrupt(
			q,
			"compressed cluster at 0x%llx is in the header or past the end "
			"of the file",
			(unsigned long long)host);
	if (clen > 2 * q->cluster_size)
		clen = 2 * q->cluster_size;
	/* The last compressed cluster may end before its last sector does. */
	if (clen > q->file_size - host)
		clen = q->file_size - host;
	ret = qcow2_file_io(q->fd, q->z_in, (size_t)clen, host, false);
	if (ret < 0)
		return qcow2_corrupt(q, "reading the compressed cluster at 0x%llx: %s",
				     (unsigned long long)host, strerror(-ret));
	memset(&zs, 0, sizeof(zs));
	/* Raw deflate, no zlib header, with a 4 KiB window, as qcow2 writes it. */
	if (inflateInit2(&zs, -12) != Z_OK)
		return -ENOMEM;
	zs.next_in = q->z_in;
	zs.avail_in = (uInt)clen;
	zs.next_out = q->z_data;
	zs.avail_out = (uInt)q->cluster_size;
	zret = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	/* It must fill the cluster exactly; trailing input (padding) is fine. */
	if ((zret != Z_STREAM_END && zret != Z_BUF_ERROR) || zs.avail_out != 0)
		return qcow2_corrupt(
			q, "the compressed cluster at 0x%llx does not inflate to %llu bytes",
			(unsigned long long)host, (unsigned long long)q->cluster_size);
	q->z_entry = entry;
	q->z_valid = true;
	return 0;
}

int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_extent *e, uint64_t off, void *buf,
			  size_t len)
{
	uint64_t in = off & (q->cluster_size - 1);
	int ret;

	if (e->kind != QCOW2_COMPRESSED || len > q->cluster_size - in)
		return -EINVAL;
	ret = inflate_cluster(q, e->entry);
	if (ret < 0)
		return ret;
	memcpy(buf, q->z_data + in, len);
	return 0;
}
