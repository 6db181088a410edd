// SPDX-License-Identifier: MIT
/*
 * A disk's format and backing chain: which image format the file is (given,
 * or probed as QEMU does), the backing files a qcow2 image names, and where
 * each guest byte of the chain comes from.
 */
#include "config.h"

#include "block/disk_internal.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the file starts with the qcow2 magic; -errno when it cannot be read. */
static int starts_like_qcow2(int fd)
{
	uint8_t head[4];
	ssize_t r;

	do
		r = pread(fd, head, sizeof(head), 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return qcow2_probe(head, (size_t)r);
}

/*
 * A backing file's path: absolute as given, or relative to the directory of
 * the image that names it (as QEMU resolves it). NULL when out of memory.
 */
static char *backing_path(const char *image, const char *name)
{
	const char *slash = strrchr(image, '/');
	char *p;

	if (name[0] == '/' || !slash)
		return strdup(name);
	if (asprintf(&p, "%.*s/%s", (int)(slash - image), image, name) < 0)
		return NULL;
	return p;
}

static int file_size(int fd, uint64_t *size)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

/* Opens layer `i`'s format on its fd: qcow2 or raw. */
static int open_layer(struct disk *d, unsigned int i, bool qcow2, char *err, size_t err_len)
{
	/* Only the disk's own image is written; backing files are only read. */
	unsigned int flags = 0;
	struct disk_layer *l = &d->layers[i];
	int ret;

	if (!qcow2) {
		ret = file_size(l->fd, &l->size);
		if (ret < 0)
			log_errbuf(err, err_len, "%s: %s", l->path, strerror(-ret));
		return ret;
	}
	if (i == 0 && !d->readonly)
		flags = QCOW2_OPEN_WRITE | (d->cache == DISK_CACHE_UNSAFE ? QCOW2_OPEN_NOSYNC : 0);
	ret = qcow2_open(&l->q, l->fd, l->path, flags, err, err_len);
	if (ret < 0)
		return ret;
	l->size = qcow2_size(l->q);
	return 0;
}

/* -EINVAL when layer i's file (`st`) is already one of the layers above it. */
static int refuse_loop(struct disk *d, unsigned int i, const struct stat *st, char *err,
		       size_t err_len)
{
	struct stat other;

	/* A chain that comes back to one of its images would never end. */
	for (unsigned int j = 0; j < i; j++) {
		if (fstat(d->layers[j].fd, &other) == 0 &&
		    ((other.st_dev == st->st_dev && other.st_ino == st->st_ino) ||
		     (S_ISBLK(st->st_mode) && S_ISBLK(other.st_mode) &&
		      other.st_rdev == st->st_rdev))) {
			log_errbuf(err, err_len, "%s: its backing chain loops back to %s",
				   d->layers[0].path, d->layers[j].path);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Locks layer i's file, shared: other readers are fine, a writer (an ember
 * with it as its disk) is not.
 */
static int lock_backing(struct disk *d, unsigned int i, char *err, size_t err_len)
{
	struct disk_layer *l = &d->layers[i], *up = &d->layers[i - 1];
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int ret;

	if (fcntl(l->fd, F_OFD_SETLK, &fl) < 0 && errno != ENOLCK) {
		ret = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
		log_errbuf(err, err_len, "%s: backing file %s is %s", up->path, l->path,
			   ret == -EBUSY ? "in use by another process (locked)" : strerror(-ret));
		return ret;
	}
	return 0;
}

/* Whether layer i is qcow2: as the image above names its format, or probed when it does not. */
static int backing_format(struct disk *d, unsigned int i, const char *fmt, bool *qcow2, char *err,
			  size_t err_len)
{
	struct disk_layer *l = &d->layers[i], *up = &d->layers[i - 1];
	int ret;

	if (fmt && strcmp(fmt, "raw") == 0) {
		*qcow2 = false;
	} else if (fmt && strcmp(fmt, "qcow2") == 0) {
		*qcow2 = true;
	} else if (fmt) {
		log_errbuf(err, err_len,
			   "%s: backing file %s has format '%s' (ember reads raw and qcow2)",
			   up->path, l->path, fmt);
		return -EINVAL;
	} else {
		ret = starts_like_qcow2(l->fd);
		if (ret < 0) {
			log_errbuf(err, err_len, "%s: %s", l->path, strerror(-ret));
			return ret;
		}
		*qcow2 = ret;
	}
	return 0;
}

/* Opens, locks (shared) and checks the backing file `name` of layer i - 1 as layer i. */
static int open_backing(struct disk *d, unsigned int i, const char *name, const char *fmt,
			char *err, size_t err_len)
{
	struct disk_layer *l = &d->layers[i], *up = &d->layers[i - 1];
	struct stat st;
	const char *why;
	bool qcow2 = false;
	int ret;

	if (i >= DISK_MAX_CHAIN) {
		log_errbuf(err, err_len, "%s: more than %d images in its backing chain",
			   d->layers[0].path, DISK_MAX_CHAIN);
		return -EINVAL;
	}
	/* Only plain files: no "json:", "nbd:" or other protocol names. */
	if (strchr(name, ':') && name[0] != '/' && name[0] != '.') {
		log_errbuf(err, err_len, "%s: backing file '%s' is not a plain file name", up->path,
			   name);
		return -EINVAL;
	}
	d->nr_layers = i + 1;
	l->fd = -1;
	l->path = backing_path(up->path, name);
	if (!l->path)
		return -ENOMEM;
	/* An image from anywhere may name any host file: look at it before opening it. */
	ret = disk_open_image(l->path, O_RDONLY | O_CLOEXEC, &why);
	if (ret < 0) {
		log_errbuf(err, err_len, "%s: backing file %s: %s", up->path, l->path,
			   why ? why : strerror(-ret));
		return ret;
	}
	l->fd = ret;
	if (fstat(l->fd, &st) < 0) {
		ret = -errno;
		log_errbuf(err, err_len, "%s: backing file %s: %s", up->path, l->path,
			   strerror(-ret));
		return ret;
	}
	ret = refuse_loop(d, i, &st, err, err_len);
	if (ret == 0)
		ret = lock_backing(d, i, err, err_len);
	if (ret == 0)
		ret = backing_format(d, i, fmt, &qcow2, err, err_len);
	if (ret == 0)
		ret = open_layer(d, i, qcow2, err, err_len);
	/* What a downloaded image pulls in, for whoever wants to know. */
	if (ret == 0)
		log_info("%s: backing file %s (%s%s)", up->path, l->path, qcow2 ? "qcow2" : "raw",
			 fmt ? "" : ", probed");
	return ret;
}

int disk_chain_open(struct disk *d, const char *path, enum disk_format format, char *err,
		    size_t err_len)
{
	bool qcow2 = format == DISK_FORMAT_QCOW2;
	int ret;

	if (format == DISK_FORMAT_PROBE) {
		ret = starts_like_qcow2(d->fd_cached);
		if (ret < 0) {
			log_errbuf(err, err_len, "%s: %s", path, strerror(-ret));
			return ret;
		}
		qcow2 = ret;
		if (qcow2) {
			log_warn(
				"%s: no format= given; it looks like qcow2, so it is read as qcow2 "
				"(say format=qcow2 to silence this)",
				path);
		} else {
			/*
			 * As in QEMU: a guest must not turn its raw disk into a qcow2
			 * image that names a host file as its backing file.
			 */
			log_warn("%s: no format= given; reading it as raw, and refusing guest "
				 "writes that would make it look like another format (say "
				 "format=raw to lift that)",
				 path);
			d->probed_raw = true;
		}
	}
	log_info("%s: %s image%s, %s", path, qcow2 ? "qcow2" : "raw",
		 format == DISK_FORMAT_PROBE ? " (probed)" : "",
		 d->readonly ? "read-only" : "read-write");
	if (!qcow2)
		return 0;
	d->nr_layers = 1;
	d->layers[0].fd = d->fd_cached;
	d->layers[0].path = strdup(path);
	if (!d->layers[0].path)
		return -ENOMEM;
	ret = open_layer(d, 0, true, err, err_len);
	for (unsigned int i = 0; ret == 0 && qcow2_backing_file(d->layers[i].q); i++) {
		const struct qcow2 *q = d->layers[i].q;

		ret = open_backing(d, i + 1, qcow2_backing_file(q), qcow2_backing_format(q), err,
				   err_len);
		if (ret == -ENOMEM)
			log_errbuf(err, err_len, "%s: out of memory", path);
		if (ret < 0 || !d->layers[i + 1].q)
			break;
	}
	if (ret == 0)
		d->size = d->layers[0].size;
	return ret;
}

void disk_chain_close(struct disk *d)
{
	for (unsigned int i = 0; i < d->nr_layers; i++) {
		struct disk_layer *l = &d->layers[i];

		qcow2_close(l->q);
		/* The disk's own fd is closed with the disk. */
		if (i > 0 && l->fd >= 0)
			close(l->fd);
		free(l->path);
		memset(l, 0, sizeof(*l));
	}
	d->nr_layers = 0;
	free(d->cow);
	d->cow = NULL;
}

int disk_chain_map(struct disk *d, uint64_t off, uint64_t len, struct disk_extent *x)
{
	memset(x, 0, sizeof(*x));
	for (unsigned int i = 0; i < d->nr_layers; i++) {
		struct disk_layer *l = &d->layers[i];
		int ret;

		/* Past the end of a shorter backing file: zeroes. */
		if (off >= l->size)
			break;
		if (len > l->size - off)
			len = l->size - off;
		x->layer = i;
		if (!l->q) {
			x->kind = QCOW2_DATA;
			x->host = off;
			x->len = len;
			return 0;
		}
		ret = qcow2_map(l->q, off, len, &x->qe);
		if (ret < 0)
			return ret;
		if (x->qe.kind == QCOW2_UNALLOCATED) {
			/* The next image down decides, for this run only. */
			len = x->qe.len;
			continue;
		}
		x->kind = x->qe.kind;
		x->host = x->qe.host_off;
		x->len = x->qe.len;
		return 0;
	}
	x->kind = QCOW2_ZERO;
	x->len = len;
	return 0;
}

int disk_chain_read_compressed(struct disk *d, const struct disk_extent *x, uint64_t off, void *buf,
			       size_t len)
{
	return qcow2_read_compressed(d->layers[x->layer].q, &x->qe, off, buf, len);
}

/* Reads [off, off + len) of the chain as the guest sees it, synchronously. */
static int chain_read(struct disk *d, uint64_t off, uint8_t *buf, uint64_t len)
{
	while (len) {
		struct disk_extent x;
		int ret = disk_chain_map(d, off, len, &x);

		if (ret < 0)
			return ret;
		if (x.kind == QCOW2_ZERO) {
			memset(buf, 0, x.len);
		} else if (x.kind == QCOW2_COMPRESSED) {
			ret = disk_chain_read_compressed(d, &x, off, buf, x.len);
		} else {
			ret = qcow2_file_io(d->layers[x.layer].fd, buf, x.len, x.host, false);
		}
		if (ret < 0)
			return ret;
		off += x.len;
		buf += x.len;
		len -= x.len;
	}
	return 0;
}

/* Copies len bytes from the iovecs, skipping their first `skip` bytes; NULL iov: zeroes. */
static void iov_gather(const struct iovec *iov, unsigned int cnt, uint64_t skip, uint8_t *dst,
		       uint64_t len)
{
	if (!iov) {
		memset(dst, 0, len);
		return;
	}
	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		n -= (size_t)skip;
		if (n > len)
			n = (size_t)len;
		memcpy(dst, (const uint8_t *)iov[i].iov_base + skip, n);
		dst += n;
		len -= n;
		skip = 0;
	}
}

int disk_chain_write(struct disk *d, uint64_t off, const struct iovec *iov, unsigned int cnt,
		     uint64_t len)
{
	struct qcow2 *q = d->layers[0].q;
	uint64_t cs = qcow2_cluster_size(q), done = 0;

	if (!d->cow) {
		d->cow = malloc(cs);
		if (!d->cow)
			return -ENOMEM;
	}
	while (done < len) {
		uint64_t at = off + done, start = at & ~(cs - 1), in = at - start;
		uint64_t n = cs - in < len - done ? cs - in : len - done;
		uint64_t end = d->size - start < cs ? d->size - start : cs;
		struct qcow2_extent e;
		int ret = qcow2_map(q, at, n, &e);

		if (ret < 0)
			return ret;
		if (e.kind == QCOW2_DATA && e.in_place) {
			/* The image's own cluster: just the bytes (zeroes, for WRITE_ZEROES). */
			iov_gather(iov, cnt, done, d->cow, e.len);
			ret = qcow2_file_io(d->layers[0].fd, d->cow, e.len, e.host_off, true);
			if (ret < 0)
				return ret;
			done += e.len;
			continue;
		}
		/* A new cluster: what the guest does not overwrite comes from below. */
		if (in > 0 || n < end) {
			ret = chain_read(d, start, d->cow, end);
			if (ret < 0)
				return ret;
		}
		memset(d->cow + end, 0, cs - end);
		iov_gather(iov, cnt, done, d->cow + in, n);
		ret = qcow2_write_cluster(q, start, d->cow);
		if (ret < 0)
			return ret;
		done += n;
	}
	return 0;
}

int disk_chain_zero(struct disk *d, uint64_t off, uint64_t len, enum qcow2_zero_mode mode)
{
	struct qcow2 *q = d->layers[0].q;
	uint64_t cs = qcow2_cluster_size(q);
	uint64_t head = (cs - off % cs) % cs, n;
	int ret;

	/* A partial first cluster (or the whole request within one): a discard leaves it be. */
	if (head || (len < cs && off + len != d->size)) {
		n = head && head < len ? head : len;
		ret = mode == QCOW2_DISCARD ? 0 : disk_chain_write(d, off, NULL, 0, n);
		return ret < 0 ? ret : (int)n;
	}
	/* Whole clusters from here (the last one may end at the disk's end). */
	n = off + len == d->size ? len : len & ~(cs - 1);
	if (n > DISK_MAP_MAX)
		n = DISK_MAP_MAX;
	ret = qcow2_zero(q, off, n, mode, d->nr_layers > 1);
	if (ret == -EOPNOTSUPP) {
		/* The image cannot mark them: a discard leaves them, zeroes go a step at a time. */
		uint64_t step = (DISK_SYNC_STEP + cs - 1) & ~(cs - 1);

		if (mode == QCOW2_DISCARD)
			return (int)n;
		if (n > step)
			n = step;
		ret = disk_chain_write(d, off, NULL, 0, n);
	}
	return ret < 0 ? ret : (int)n;
}
