// SPDX-License-Identifier: MIT
#include "config.h"

#include "snap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SNAP_MAGIC "EMBERSNP"
#define PAGE 4096ULL
/* RAM is written in runs of at most this many bytes. */
#define RUN_MAX (1ULL << 20)

struct snap_file_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t off;
};

/* Little-endian, as the only host ember runs on stores it. */
struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t state_off;
	uint64_t state_len;
	uint32_t state_crc;
	uint32_t nr_regions;
	struct snap_file_region region[SNAP_MAX_REGIONS];
	uint64_t file_size;
	uint32_t header_crc; /* over the header with this field zero */
	uint32_t pad;
};
_Static_assert(sizeof(struct snap_header) <= SNAP_STATE_OFF, "the header fits its page");

struct section {
	char tag[SNAP_TAG_LEN];
	uint32_t version;
	uint32_t len;
};
_Static_assert(sizeof(struct section) == 24, "no padding in a section's head");

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint32_t crc(const void *p, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const uint8_t *b = p;

	/* zlib takes a uInt: feed it in pieces. */
	while (len) {
		uInt n = len > (1U << 30) ? (1U << 30) : (uInt)len;

		c = crc32(c, b, n);
		b += n;
		len -= n;
	}
	return (uint32_t)c;
}

/* --- writing -------------------------------------------------------------------------- */

struct snap_out {
	uint8_t *buf;
	size_t len, cap;
	unsigned int nr;
};

int snap_out_create(struct snap_out **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void snap_out_destroy(struct snap_out *o)
{
	if (!o)
		return;
	free(o->buf);
	free(o);
}

static bool tag_ok(const char *tag)
{
	size_t n = strnlen(tag, SNAP_TAG_LEN);

	if (n == 0 || n >= SNAP_TAG_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (tag[i] <= ' ' || tag[i] > '~')
			return false;
	}
	return true;
}

static bool out_has(const struct snap_out *o, const char *tag)
{
	size_t off = 0;

	while (off < o->len) {
		const struct section *s = (const void *)(o->buf + off);

		if (strncmp(s->tag, tag, SNAP_TAG_LEN) == 0)
			return true;
		off += align_up(sizeof(*s) + s->len, 8);
	}
	return false;
}

int snap_out_add(struct snap_out *o, const char *tag, uint32_t version, const void *data,
		 uint32_t len)
{
	size_t need = align_up(sizeof(struct section) + (uint64_t)len, 8);
	struct section s;

	if (!tag_ok(tag) || out_has(o, tag) || o->nr >= SNAP_MAX_SECTIONS)
		return -EINVAL;
	if (o->len + need > SNAP_MAX_STATE)
		return -EFBIG;
	if (o->len + need > o->cap) {
		size_t cap = o->cap ? o->cap : 64 * 1024;
		uint8_t *nb;

		while (cap < o->len + need)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb)
			return -ENOMEM;
		o->buf = nb;
		o->cap = cap;
	}
	memset(&s, 0, sizeof(s));
	memcpy(s.tag, tag, strlen(tag));
	s.version = version;
	s.len = len;
	memset(o->buf + o->len, 0, need);
	memcpy(o->buf + o->len, &s, sizeof(s));
	if (len)
		memcpy(o->buf + o->len + sizeof(s), data, len);
	o->len += need;
	o->nr++;
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < PAGE / sizeof(*w); i++) {
		if (w[i])
			return false;
	}
	return true;
}

/* One region: runs of pages with data are written, pages of zeroes left as holes. */
static int write_region(int fd, const struct snap_region *r, uint64_t off, struct snap_stats *st)
{
	const uint8_t *base = r->host;
	uint64_t run = 0, run_len = 0;
	int ret;

	for (uint64_t p = 0; p < r->size; p += PAGE) {
		if (page_zero(base + p)) {
			st->zero_pages++;
		} else {
			if (run_len == 0)
				run = p;
			run_len += PAGE;
			if (run_len < RUN_MAX && p + PAGE < r->size)
				continue;
		}
		if (run_len) {
			ret = pwrite_all(fd, base + run, run_len, off + run);
			if (ret < 0)
				return ret;
			st->ram_bytes += run_len;
			run_len = 0;
		}
	}
	return 0;
}

int snap_out_write(struct snap_out *o, int fd, const struct snap_region *regions,
		   unsigned int nr_regions, struct snap_stats *stats)
{
	struct snap_header h;
	struct snap_stats st;
	uint64_t off;
	int ret;

	if (nr_regions > SNAP_MAX_REGIONS)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAP_MAGIC, sizeof(h.magic));
	h.version = SNAP_VERSION;
	h.header_size = sizeof(h);
	h.state_off = SNAP_STATE_OFF;
	h.state_len = o->len;
	h.state_crc = crc(o->buf, o->len);
	h.nr_regions = nr_regions;
	off = align_up(SNAP_STATE_OFF + o->len, SNAP_RAM_ALIGN);
	for (unsigned int i = 0; i < nr_regions; i++) {
		if (regions[i].size % PAGE)
			return -EINVAL;
		h.region[i] = (struct snap_file_region){ regions[i].gpa, regions[i].size, off };
		off += regions[i].size;
	}
	h.file_size = off;

	/* The length first, so the holes past the last page with data are there too. */
	if (ftruncate(fd, (off_t)h.file_size) < 0)
		return -errno;
	for (unsigned int i = 0; i < nr_regions; i++) {
		ret = write_region(fd, &regions[i], h.region[i].off, &st);
		if (ret < 0)
			return ret;
	}
	ret = pwrite_all(fd, o->buf, o->len, SNAP_STATE_OFF);
	if (ret < 0)
		return ret;
	h.header_crc = crc(&h, sizeof(h));
	ret = pwrite_all(fd, &h, sizeof(h), 0);
	if (ret < 0)
		return ret;
	if (fdatasync(fd) < 0)
		return -errno;
	st.state_bytes = o->len;
	st.file_bytes = h.file_size;
	if (stats)
		*stats = st;
	return 0;
}

/* --- reading -------------------------------------------------------------------------- */

struct in_section {
	const struct section *head;
	const uint8_t *data;
	bool read;
};

struct snap_in {
	int fd;
	struct snap_header h;
	uint8_t *state;
	unsigned int nr;
	struct in_section s[SNAP_MAX_SECTIONS];
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG; /* cut short */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int check_header(struct snap_header *h, uint64_t real_size, char *err, size_t errlen)
{
	uint32_t want = h->header_crc;
	uint64_t end;

	if (memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)) != 0)
		return fail(err, errlen,
			    "not an ember snapshot (or one whose writing never ended)");
	if (h->version != SNAP_VERSION) {
		snprintf(err, errlen, "snapshot format version %u; this ember reads version %u",
			 h->version, SNAP_VERSION);
		return -EPROTO;
	}
	h->header_crc = 0;
	if (h->header_size != sizeof(*h) || crc(h, sizeof(*h)) != want)
		return fail(err, errlen,
			    "the header's checksum does not match: the file is damaged");
	h->header_crc = want;
	if (h->state_off != SNAP_STATE_OFF || h->state_len > SNAP_MAX_STATE || h->state_len % 8)
		return fail(err, errlen, "the state's place in the file is impossible");
	if (h->nr_regions == 0 || h->nr_regions > SNAP_MAX_REGIONS)
		return fail(err, errlen, "%u RAM regions", h->nr_regions);
	end = SNAP_STATE_OFF + h->state_len;
	for (unsigned int i = 0; i < h->nr_regions; i++) {
		const struct snap_file_region *r = &h->region[i];

		/* In order, page-aligned, not overlapping, and not wrapping around. */
		if (r->size == 0 || r->size % PAGE || r->off % PAGE || r->gpa % PAGE ||
		    r->off < end || r->size > UINT64_MAX - r->off ||
		    r->size > UINT64_MAX - r->gpa ||
		    (i && r->gpa < h->region[i - 1].gpa + h->region[i - 1].size))
			return fail(err, errlen, "RAM region %u's place in the file is impossible",
				    i);
		end = r->off + r->size;
	}
	if (h->file_size != end)
		return fail(err, errlen, "the file's length in its header is impossible");
	if (real_size < h->file_size)
		return fail(err, errlen,
			    "the file is cut short: %llu bytes of the %llu its header gives",
			    (unsigned long long)real_size, (unsigned long long)h->file_size);
	return 0;
}

static int parse_sections(struct snap_in *in, char *err, size_t errlen)
{
	uint64_t off = 0, len = in->h.state_len;

	while (off < len) {
		const struct section *s = (const void *)(in->state + off);
		uint64_t need;

		if (len - off < sizeof(*s))
			return fail(err, errlen, "a section is cut short");
		need = align_up(sizeof(*s) + (uint64_t)s->len, 8);
		if (need > len - off)
			return fail(err, errlen, "a section runs past the state's end");
		if (!tag_ok(s->tag) || memchr(s->tag, 0, SNAP_TAG_LEN) == NULL)
			return fail(err, errlen, "a section has a malformed tag");
		if (in->nr >= SNAP_MAX_SECTIONS)
			return fail(err, errlen, "more than %u sections", SNAP_MAX_SECTIONS);
		for (unsigned int i = 0; i < in->nr; i++) {
			if (strcmp(in->s[i].head->tag, s->tag) == 0)
				return fail(err, errlen, "section %s appears twice", s->tag);
		}
		in->s[in->nr++] = (struct in_section){ s, in->state + off + sizeof(*s), false };
		off += need;
	}
	return 0;
}

int snap_in_open(struct snap_in **out, int fd, char *err, size_t errlen)
{
	struct snap_in *in = calloc(1, sizeof(*in));
	struct stat sb;
	int ret;

	if (!in)
		return -ENOMEM;
	in->fd = fd;
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(-ret));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = fail(err, errlen, "not a regular file");
		goto fail;
	}
	ret = pread_all(fd, &in->h, sizeof(in->h), 0);
	if (ret == -EBADMSG)
		snprintf(err, errlen, "too short for a snapshot");
	else if (ret < 0)
		snprintf(err, errlen, "%s", strerror(-ret));
	if (ret == 0)
		ret = check_header(&in->h, (uint64_t)sb.st_size, err, errlen);
	if (ret < 0)
		goto fail;
	in->state = malloc(in->h.state_len ? in->h.state_len : 1);
	if (!in->state) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto fail;
	}
	ret = pread_all(fd, in->state, in->h.state_len, in->h.state_off);
	if (ret < 0) {
		snprintf(err, errlen, "reading the state: %s", strerror(-ret));
		goto fail;
	}
	if (crc(in->state, in->h.state_len) != in->h.state_crc) {
		ret = fail(err, errlen, "the state's checksum does not match: the file is damaged");
		goto fail;
	}
	ret = parse_sections(in, err, errlen);
	if (ret < 0)
		goto fail;
	*out = in;
	return 0;
fail:
	free(in->state);
	free(in);
	return ret;
}

void snap_in_close(struct snap_in *in)
{
	if (!in)
		return;
	free(in->state);
	free(in);
}

static struct in_section *lookup(struct snap_in *in, const char *tag)
{
	for (unsigned int i = 0; i < in->nr; i++) {
		if (strncmp(in->s[i].head->tag, tag, SNAP_TAG_LEN) == 0)
			return &in->s[i];
	}
	return NULL;
}

const void *snap_in_find(struct snap_in *in, const char *tag, uint32_t version, uint32_t *len,
			 int *err)
{
	struct in_section *s = lookup(in, tag);

	if (!s) {
		*err = -ENOENT;
		return NULL;
	}
	s->read = true;
	if (s->head->version != version) {
		*err = -EPROTO;
		return NULL;
	}
	*len = s->head->len;
	*err = 0;
	return s->data;
}

int snap_in_get(struct snap_in *in, const char *tag, uint32_t version, void *buf, uint32_t len)
{
	uint32_t have;
	int err;
	const void *p = snap_in_find(in, tag, version, &have, &err);

	if (!p)
		return err;
	if (have != len)
		return -EBADMSG;
	if (len)
		memcpy(buf, p, len);
	return 0;
}

const char *snap_in_unread(const struct snap_in *in)
{
	for (unsigned int i = 0; i < in->nr; i++) {
		if (!in->s[i].read)
			return in->s[i].head->tag;
	}
	return NULL;
}

unsigned int snap_in_regions(const struct snap_in *in, struct snap_region *out)
{
	for (unsigned int i = 0; i < in->h.nr_regions; i++)
		out[i] = (struct snap_region){ in->h.region[i].gpa, in->h.region[i].size, NULL };
	return in->h.nr_regions;
}

int snap_in_map(struct snap_in *in, unsigned int index, void *host)
{
	const struct snap_file_region *r;
	void *p;

	if (index >= in->h.nr_regions)
		return -EINVAL;
	r = &in->h.region[index];
	p = mmap(host, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, in->fd,
		 (off_t)r->off);
	return p == MAP_FAILED ? -errno : 0;
}
