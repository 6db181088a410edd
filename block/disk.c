// SPDX-License-Identifier: MIT
/*
 * A raw disk image: opening and locking it, checking requests, and the
 * per-request state machine the engines run (see disk_internal.h).
 */
#include "config.h"

#include "block/disk.h"
#include "block/disk_internal.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* What O_DIRECT asks of offsets, lengths and buffer addresses, at least. */
#define DISK_DIO_ALIGN 512ULL
#define DISK_BOUNCE_ALIGN 4096
/* WRITE_ZEROES by hand writes at most this much per system call. */
#define DISK_ZERO_CHUNK (1024 * 1024)
/* What a guest can make a disk log: at most this many lines per interval. */
#define DISK_LOG_INTERVAL_NS (5 * 1000000000ULL)
#define DISK_LOG_BURST 5
/* Where the qcow2 magic would be: the bytes of a probed raw disk its guard checks. */
#define DISK_GUARD_BYTES 4

enum disk_stage {
	STAGE_NOP,
	STAGE_RW,
	STAGE_FLUSH,
	STAGE_DISCARD,
	STAGE_ZERO_PUNCH,
	STAGE_ZERO_RANGE,
	STAGE_ZERO_WRITE,
	STAGE_QCOW2_ZERO, /* WRITE_ZEROES or DISCARD on a qcow2 image, in steps */
};

void disk_signal(int efd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: still readable, nothing lost. */
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void disk_clear_signal(int efd)
{
	uint64_t v;

	while (read(efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* ---- opening ---- */

static int disk_type_size(int fd, const char *path, uint64_t *size, char *err, size_t err_len)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		log_errbuf(err, err_len, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0) {
			int e = errno;

			log_errbuf(err, err_len, "%s: cannot get the block device's size: %s", path,
				   strerror(e));
			return -e;
		}
		return 0;
	}
	log_errbuf(err, err_len, "%s: not a regular file or block device", path);
	return -EINVAL;
}

int disk_open_image(const char *path, int flags, const char **why)
{
	struct stat before, st;
	int fd, fl;

	*why = NULL;
	if (stat(path, &before) < 0)
		return -errno;
	if (S_ISDIR(before.st_mode)) {
		*why = "is a directory, not a regular file or block device";
		return -EISDIR;
	}
	if (!S_ISREG(before.st_mode) && !S_ISBLK(before.st_mode)) {
		*why = "not a regular file or block device";
		return -EINVAL;
	}
	/* Should it have been swapped for a FIFO since: the open does not wait for a writer. */
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (st.st_dev != before.st_dev || st.st_ino != before.st_ino ||
	    (st.st_mode & S_IFMT) != (before.st_mode & S_IFMT)) {
		close(fd);
		*why = "was replaced while it was being opened";
		return -ESTALE;
	}
	/* With O_NONBLOCK, io_uring may answer EAGAIN rather than wait for the disk. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int disk_open_file(struct disk *d, const char *path, int flags, char *err, size_t err_len)
{
	const char *why;
	int fd = disk_open_image(path, flags | (d->direct ? O_DIRECT : 0), &why);
	int ret;

	if (why) {
		log_errbuf(err, err_len, "%s: %s", path, why);
		return fd;
	}
	if (fd == -EINVAL && d->direct) {
		/* Tell "the filesystem refuses O_DIRECT" from the file being wrong. */
		fd = disk_open_image(path, flags, &why);
		if (fd >= 0) {
			ret = disk_type_size(fd, path, &d->size, err, err_len);
			close(fd);
			if (ret)
				return ret;
			log_errbuf(err, err_len,
				   "%s: its filesystem does not support cache=none/directsync "
				   "(O_DIRECT)",
				   path);
			return -EINVAL;
		}
	}
	if (fd < 0) {
		log_errbuf(err, err_len, "%s: %s", path, why ? why : strerror(-fd));
		return fd;
	}
	d->fd = fd;
	return disk_type_size(fd, path, &d->size, err, err_len);
}

static int disk_lock(struct disk *d, const char *path, char *err, size_t err_len)
{
	struct flock fl = {
		.l_type = d->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0, /* to the end, however far it grows */
	};
	int e;

	if (fcntl(d->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	e = errno;
	if (e == EAGAIN || e == EACCES) {
		log_errbuf(err, err_len, "%s: in use by another process (locked)", path);
		return -EBUSY;
	}
	if (e == ENOLCK) {
		/* Some network filesystems have no lock manager; better unlocked than unusable. */
		log_warn("%s: cannot lock the image (%s); another process could use it at the "
			 "same time",
			 path, strerror(e));
		return 0;
	}
	log_errbuf(err, err_len, "%s: cannot lock the image: %s", path, strerror(e));
	return -e;
}

/* The page-cache twin of an O_DIRECT fd: the same file, checked by inode. */
static int disk_open_cached(struct disk *d, const char *path, int flags, char *err, size_t err_len)
{
	struct stat a, b;
	const char *why;
	int fd = disk_open_image(path, flags, &why);

	if (fd < 0) {
		log_errbuf(err, err_len, "%s: %s", path, why ? why : strerror(-fd));
		return fd;
	}
	if (fstat(d->fd, &a) < 0 || fstat(fd, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino || a.st_rdev != b.st_rdev) {
		close(fd);
		log_errbuf(err, err_len, "%s: was replaced while it was being opened", path);
		return -ESTALE;
	}
	d->fd_cached = fd;
	return 0;
}

static int disk_start_engine(struct disk *d, const struct disk_config *cfg, char *err,
			     size_t err_len)
{
	int ret;

	if (cfg->aio == DISK_AIO_IO_URING) {
		d->engine = &disk_uring_engine;
		ret = d->engine->init(d);
		if (ret == 0)
			return 0;
		log_warn("%s: io_uring is unavailable (%s); using the thread pool instead",
			 cfg->path, strerror(-ret));
	}
	d->engine = &disk_threads_engine;
	ret = d->engine->init(d);
	if (ret) {
		log_errbuf(err, err_len, "%s: cannot start the I/O threads: %s", cfg->path,
			   strerror(-ret));
		d->engine = NULL;
	}
	return ret;
}

int disk_open(struct disk **out, const struct disk_config *cfg, char *err, size_t err_len)
{
	struct disk *d;
	int flags, ret;

	*out = NULL;
	if (!cfg || !cfg->path || !cfg->path[0]) {
		log_errbuf(err, err_len, "no disk image path given");
		return -EINVAL;
	}
	if ((unsigned int)cfg->cache > DISK_CACHE_DIRECTSYNC ||
	    (unsigned int)cfg->aio > DISK_AIO_THREADS ||
	    (unsigned int)cfg->format > DISK_FORMAT_QCOW2) {
		log_errbuf(err, err_len, "%s: unknown cache, aio mode or format", cfg->path);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_errbuf(err, err_len, "%s: out of memory", cfg->path);
		return -ENOMEM;
	}
	d->fd = -1;
	d->fd_cached = -1;
	d->efd = -1;
	ratelimit_init(&d->rl, DISK_LOG_INTERVAL_NS, DISK_LOG_BURST);
	d->path = strdup(cfg->path);
	if (!d->path) {
		log_errbuf(err, err_len, "%s: out of memory", cfg->path);
		ret = -ENOMEM;
		goto fail;
	}
	d->readonly = cfg->readonly;
	d->cache = cfg->cache;
	d->direct = cfg->cache == DISK_CACHE_NONE || cfg->cache == DISK_CACHE_DIRECTSYNC;
	for (unsigned int i = DISK_MAX_INFLIGHT; i-- > 0;) {
		d->ios[i].next = d->free_ios;
		d->free_ios = &d->ios[i];
	}

	flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (cfg->cache == DISK_CACHE_DIRECTSYNC)
		flags |= O_DSYNC;
	ret = disk_open_file(d, cfg->path, flags, err, err_len);
	if (ret)
		goto fail;
	ret = disk_lock(d, cfg->path, err, err_len);
	if (ret)
		goto fail;
	if (d->direct) {
		ret = disk_open_cached(d, cfg->path, flags, err, err_len);
		if (ret)
			goto fail;
	} else {
		d->fd_cached = d->fd;
	}
	ret = disk_chain_open(d, cfg->path, cfg->format, err, err_len);
	if (ret)
		goto fail;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		ret = -errno;
		log_errbuf(err, err_len, "%s: eventfd: %s", cfg->path, strerror(-ret));
		goto fail;
	}
	ret = disk_start_engine(d, cfg, err, err_len);
	if (ret)
		goto fail;
	*out = d;
	return 0;

fail:
	disk_close(d);
	return ret;
}

/*
 * Whether a sync of the disk's file has failed: a FLUSH's, or one the qcow2
 * layer made between its metadata updates. The kernel reports a writeback
 * error once per open file, so whichever sync saw it, every FLUSH after it
 * and the close fail too.
 */
static bool disk_sync_failed(struct disk *d)
{
	if (!d->flush_failed && d->nr_layers && d->layers[0].q && qcow2_sync_error(d->layers[0].q))
		d->flush_failed = true;
	return d->flush_failed;
}

/* A FLUSH's sync failed: remembered, and the qcow2 layer forgets what it set aside. */
static void disk_sync_error(struct disk *d, int err)
{
	d->flush_failed = true;
	if (d->nr_layers && d->layers[0].q && !d->readonly)
		qcow2_sync_failed(d->layers[0].q, err);
}

int disk_close(struct disk *d)
{
	int ret = 0;

	if (!d)
		return 0;
	if (d->engine) {
		disk_drain(d);
		d->engine->fini(d);
	}
	if (d->nr_layers && d->layers[0].q && !d->readonly) {
		/* Freed clusters' refcounts drop, and clusters set aside go back. */
		int r = qcow2_release(d->layers[0].q);

		/* At worst clusters stay allocated (leaks): the guest's data is all there. */
		if (r < 0)
			log_warn("%s: updating the qcow2 refcounts at close: %s", d->layers[0].path,
				 strerror(-r));
	}
	if (d->fd >= 0 && !d->readonly && d->cache != DISK_CACHE_UNSAFE) {
		int r;

		do
			r = fdatasync(d->fd);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			ret = -errno;
		else if (disk_sync_failed(d) && !ret)
			ret = -EIO;
	}
	disk_chain_close(d);
	if (d->efd >= 0)
		close(d->efd);
	if (d->fd_cached >= 0 && d->fd_cached != d->fd)
		close(d->fd_cached);
	if (d->fd >= 0)
		close(d->fd); /* releases the OFD lock */
	free(d->zeroes);
	free(d->path);
	ratelimit_destroy(&d->rl);
	free(d);
	return ret;
}

uint64_t disk_size(const struct disk *d)
{
	return d->size;
}

int disk_settle(struct disk *d)
{
	int ret = 0;

	disk_drain(d);
	if (d->nr_layers && d->layers[0].q && !d->readonly)
		ret = qcow2_release(d->layers[0].q);
	if (ret == 0 && d->fd >= 0 && !d->readonly && d->cache != DISK_CACHE_UNSAFE) {
		do
			ret = fdatasync(d->fd) < 0 ? -errno : 0;
		while (ret == -EINTR);
	}
	return ret;
}

int disk_stat(const struct disk *d, struct stat *st)
{
	return fstat(d->fd, st) < 0 ? -errno : 0;
}

bool disk_readonly(const struct disk *d)
{
	return d->readonly;
}

const char *disk_engine_name(const struct disk *d)
{
	return d->engine->name;
}

uint64_t disk_cluster_size(const struct disk *d)
{
	return d->nr_layers ? qcow2_cluster_size(d->layers[0].q) : 0;
}

int disk_event_fd(const struct disk *d)
{
	return d->efd;
}

unsigned int disk_inflight(const struct disk *d)
{
	return d->inflight;
}

void disk_test_guard_hook(struct disk *d, void (*hook)(struct disk *d, struct disk_req *req))
{
	d->guard_hook = hook;
}

void disk_test_inject(struct disk *d, unsigned int ops, unsigned int count, int result)
{
	d->inject.ops = ops;
	d->inject.count = count;
	d->inject.result = result;
}

/* ---- the request state machine ---- */

static bool dio_aligned(uint64_t off, const struct iovec *iov, unsigned int cnt)
{
	if (off % DISK_DIO_ALIGN)
		return false;
	for (unsigned int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		if ((uintptr_t)iov[i].iov_base % DISK_DIO_ALIGN || iov[i].iov_len % DISK_DIO_ALIGN)
			return false;
	}
	return true;
}

/* Undoes io_cut(): the iovecs are whole again. */
static void io_uncut(struct disk_io *io)
{
	if (io->cut_idx >= 0)
		io->iov[io->cut_idx].iov_len += io->cut_len;
	io->cut_idx = -1;
	io->cut_len = 0;
}

/* Limits the primitive just prepared to its first n bytes (n > 0, n <= what it covers). */
static void io_cut(struct disk_io *io, uint64_t n)
{
	struct iovec *v = (struct iovec *)io->piov;
	uint64_t sum = 0;

	for (unsigned int i = 0; i < io->piovcnt; i++) {
		sum += v[i].iov_len;
		if (sum >= n) {
			io->piovcnt = i + 1;
			if (sum > n) {
				/* io->one is private; io->iov entries are restored by io_uncut().
				 */
				if (v != &io->one)
					io->cut_idx = (int)(v + i - io->iov);
				io->cut_len = (size_t)(sum - n);
				v[i].iov_len -= io->cut_len;
			}
			return;
		}
	}
}

/* Copies `len` bytes from `src` (NULL: zeroes) into the primitive's iovecs. */
static void piov_fill(struct disk_io *io, const uint8_t *src, uint64_t len)
{
	for (unsigned int i = 0; i < io->piovcnt && len; i++) {
		size_t k = io->piov[i].iov_len < len ? io->piov[i].iov_len : (size_t)len;

		if (src) {
			memcpy(io->piov[i].iov_base, src, k);
			src += k;
		} else {
			memset(io->piov[i].iov_base, 0, k);
		}
		len -= k;
	}
}

/*
 * A read from a qcow2 chain: the next run of the request, mapped. Data is
 * read from its file by the engine; zeroes and compressed clusters are
 * filled in here, and complete as a NOP of that many bytes.
 */
/* The primitive is no system call after all: it completes with `result`. */
static void io_nop(struct disk_io *io, int result)
{
	io->prim = DISK_PRIM_NOP;
	io->nop_result = result;
}

static void io_map_read(struct disk *d, struct disk_io *io, uint64_t rem)
{
	struct disk_extent x;
	int ret = disk_chain_map(d, io->off + io->pos, rem, &x);

	if (ret < 0) {
		io_nop(io, ret);
		return;
	}
	/* A NOP reports its bytes as an int. */
	if (x.len > DISK_MAP_MAX)
		x.len = DISK_MAP_MAX;
	/* Zeroes are filled in here: a step at a time. */
	if (x.kind == QCOW2_ZERO && x.len > DISK_SYNC_STEP)
		x.len = DISK_SYNC_STEP;
	io_cut(io, x.len);
	if (x.kind == QCOW2_DATA) {
		io->poff = x.host;
		if (x.layer > 0)
			io->fd = d->layers[x.layer].fd;
		return;
	}
	io_nop(io, (int)x.len);
	if (x.kind == QCOW2_ZERO) {
		piov_fill(io, NULL, x.len);
		return;
	}
	/* Compressed: within one cluster, so x.len is small enough for an int. */
	for (unsigned int i = 0, done = 0; i < io->piovcnt; i++) {
		ret = disk_chain_read_compressed(d, &x, io->off + io->pos + done,
						 io->piov[i].iov_base, io->piov[i].iov_len);
		if (ret < 0) {
			io->nop_result = ret;
			return;
		}
		done += (unsigned int)io->piov[i].iov_len;
	}
}

/*
 * A write to a qcow2 disk: the next run of the request. Clusters the image
 * owns alone are written where they are, by the engine; anything else is
 * allocated and written here, synchronously (qcow2_write.c orders the
 * metadata), and completes as a NOP of that many bytes.
 */
static void io_map_write(struct disk *d, struct disk_io *io, uint64_t rem)
{
	struct qcow2_extent e;
	uint64_t off = io->off + io->pos, cs, step;
	int ret = qcow2_map(d->layers[0].q, off, rem, &e);

	if (ret < 0) {
		io_nop(io, ret);
		return;
	}
	if (e.len > DISK_MAP_MAX)
		e.len = DISK_MAP_MAX;
	if (e.kind == QCOW2_DATA && e.in_place) {
		io_cut(io, e.len);
		io->poff = e.host_off;
		return;
	}
	/* Allocated and written here: a step at a time, whole clusters where it can. */
	cs = qcow2_cluster_size(d->layers[0].q);
	step = ((off + DISK_SYNC_STEP + cs - 1) & ~(cs - 1)) - off;
	if (e.len > step)
		e.len = step;
	io_cut(io, e.len);
	ret = disk_chain_write(d, off, io->piov, io->piovcnt, e.len);
	io_nop(io, ret < 0 ? ret : (int)e.len);
}

static void io_prepare_rw(struct disk *d, struct disk_io *io)
{
	uint64_t rem = io->len - io->pos;

	io->prim = io->write ? DISK_PRIM_WRITEV : DISK_PRIM_READV;
	io->poff = io->off + io->pos;
	if (io->stage == STAGE_ZERO_WRITE) {
		io->one.iov_base = d->zeroes;
		io->one.iov_len = rem < DISK_ZERO_CHUNK ? rem : DISK_ZERO_CHUNK;
		io->piov = &io->one;
		io->piovcnt = 1;
	} else if (io->bounce) {
		io->one.iov_base = (char *)io->bounce + io->pos;
		io->one.iov_len = rem;
		io->piov = &io->one;
		io->piovcnt = 1;
	} else {
		io->piov = io->iov + io->idx;
		io->piovcnt = io->iovcnt - io->idx;
		/*
		 * The guard's private head can make a request one iovec more
		 * than a system call takes (IOV_MAX): the rest follows, as
		 * after a short transfer.
		 */
		if (io->piovcnt > DISK_MAX_IOV) {
			io->piovcnt = DISK_MAX_IOV;
			rem = 0;
			for (unsigned int i = 0; i < io->piovcnt; i++)
				rem += io->piov[i].iov_len;
		}
	}
	io_uncut(io);
	if (d->nr_layers && io->stage == STAGE_RW) {
		io->fd = d->fd;
		if (io->write)
			io_map_write(d, io, rem);
		else
			io_map_read(d, io, rem);
		if (io->prim == DISK_PRIM_NOP || io->fd != d->fd)
			return;
	}
	io->fd = d->fd;
	if (d->direct && (io->no_direct || !dio_aligned(io->poff, io->piov, io->piovcnt)))
		io->fd = d->fd_cached;
}

static void io_prepare_fallocate(struct disk *d, struct disk_io *io, int mode)
{
	io->prim = DISK_PRIM_FALLOCATE;
	io->fd = d->fd;
	io->pmode = mode;
	io->poff = io->off;
	io->plen = io->len;
}

/* Applies (and counts down) injected faults to the primitive just prepared. */
static void io_inject(struct disk *d, struct disk_io *io)
{
	struct disk_inject *inj = &d->inject;

	if (!inj->count || !(inj->ops & DISK_OP_BIT(io->req->op)) || io->prim == DISK_PRIM_NOP)
		return;
	if (inj->result < 0) {
		io_nop(io, inj->result);
	} else if (io->prim == DISK_PRIM_READV || io->prim == DISK_PRIM_WRITEV) {
		io->clip = inj->result;
	} else {
		return;
	}
	inj->count--;
}

/* Builds the next primitive for io's stage and hands it to the engine. */
static void io_issue(struct disk *d, struct disk_io *io)
{
	io->clip = -1;
	switch ((enum disk_stage)io->stage) {
	case STAGE_NOP:
		io->prim = DISK_PRIM_NOP;
		break;
	case STAGE_RW:
	case STAGE_ZERO_WRITE:
		io_prepare_rw(d, io);
		break;
	case STAGE_FLUSH:
		io->prim = DISK_PRIM_FDATASYNC;
		io->fd = d->fd;
		/* The qcow2 clusters freed so far may drop their refcounts once this is done. */
		if (d->nr_layers)
			io->frees_mark = qcow2_sync_begin(d->layers[0].q);
		break;
	case STAGE_QCOW2_ZERO:
		io->prim = DISK_PRIM_NOP;
		io->nop_result = disk_chain_zero(d, io->off + io->pos, io->len - io->pos,
						 (enum qcow2_zero_mode)io->pmode);
		break;
	case STAGE_DISCARD:
	case STAGE_ZERO_PUNCH:
		io_prepare_fallocate(d, io, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
		break;
	case STAGE_ZERO_RANGE:
		io_prepare_fallocate(d, io, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
		break;
	}
	io_inject(d, io);
	d->engine->start(d, io);
}

static void io_release(struct disk *d, struct disk_io *io)
{
	if (io->iov != io->iov_inline)
		free(io->iov);
	d->bounce_bytes -= io->bounce_len;
	io->bounce_len = 0;
	free(io->bounce);
	free(io->head);
	io->iov = NULL;
	io->bounce = NULL;
	io->head = NULL;
	io->req = NULL;
	io->next = d->free_ios;
	d->free_ios = io;
	d->inflight--;
}

static bool io_end(struct disk *d, struct disk_io *io, int result)
{
	struct disk_req *req = io->req;

	/* The slot is free before done runs, so that done may submit again. */
	io_release(d, io);
	d->delivered++;
	req->done(req, result);
	return true;
}

static void iov_advance(struct disk_io *io, uint64_t n)
{
	while (n && io->idx < io->iovcnt) {
		struct iovec *v = &io->iov[io->idx];

		if (n < v->iov_len) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		io->idx++;
	}
}

static void bounce_copy(struct disk_io *io, bool to_bounce)
{
	char *b = io->bounce;

	for (unsigned int i = 0; i < io->iovcnt; i++) {
		if (to_bounce)
			memcpy(b, io->iov[i].iov_base, io->iov[i].iov_len);
		else
			memcpy(io->iov[i].iov_base, b, io->iov[i].iov_len);
		b += io->iov[i].iov_len;
	}
}

static bool io_rw_result(struct disk *d, struct disk_io *io, int res)
{
	uint64_t n;

	io_uncut(io);
	/* A qcow2 step that ran out of its budget for finding free clusters: the next goes on. */
	if (res == -EAGAIN && io->prim == DISK_PRIM_NOP) {
		io_issue(d, io);
		return false;
	}
	if (res < 0) {
		if (res == -EINVAL && io->fd == d->fd && d->fd != d->fd_cached && !io->no_direct) {
			/* O_DIRECT wanted more alignment than we checked for (a 4K-sector disk). */
			io->no_direct = true;
			io_issue(d, io);
			return false;
		}
		return io_end(d, io, res);
	}
	if (io->clip >= 0 && res > io->clip)
		res = io->clip;
	/* No progress: a read at end of file (it shrank), or a write that stalled. */
	if (res == 0)
		return io_end(d, io, -EIO);
	n = (uint64_t)res;
	if (n > io->len - io->pos)
		n = io->len - io->pos;
	io->pos += n;
	if (io->stage == STAGE_RW && !io->bounce)
		iov_advance(io, n);
	if (io->pos < io->len) {
		io_issue(d, io);
		return false;
	}
	if (io->bounce && !io->write)
		bounce_copy(io, false);
	return io_end(d, io, 0);
}

/* fallocate failures that mean "this file or device can't do that mode". */
static bool falloc_unsupported(int res)
{
	return res == -EOPNOTSUPP || res == -EINVAL || res == -ENODEV || res == -ENOSYS ||
	       res == -ENOTTY;
}

static bool io_zero_fallback(struct disk *d, struct disk_io *io, int res)
{
	if (!falloc_unsupported(res))
		return io_end(d, io, res);
	if (io->stage == STAGE_ZERO_PUNCH) {
		io->stage = STAGE_ZERO_RANGE;
		io_issue(d, io);
		return false;
	}
	if (!d->zeroes) {
		void *z;

		if (posix_memalign(&z, DISK_BOUNCE_ALIGN, DISK_ZERO_CHUNK))
			return io_end(d, io, -ENOMEM);
		memset(z, 0, DISK_ZERO_CHUNK);
		d->zeroes = z;
	}
	io->stage = STAGE_ZERO_WRITE;
	io->write = true;
	io_issue(d, io);
	return false;
}

bool disk_io_finished(struct disk *d, struct disk_io *io, int res)
{
	if (io->prim == DISK_PRIM_NOP)
		res = io->nop_result;
	if (res == -EINTR || res == -EAGAIN) {
		io_issue(d, io);
		return false;
	}
	switch ((enum disk_stage)io->stage) {
	case STAGE_NOP:
		break;
	case STAGE_RW:
	case STAGE_ZERO_WRITE:
		return io_rw_result(d, io, res);
	case STAGE_QCOW2_ZERO:
		/* -EAGAIN: qcow2 found no free cluster within its budget yet; the step goes on. */
		if (res == -EAGAIN) {
			io_issue(d, io);
			return false;
		}
		if (res > 0) {
			io->pos += (uint64_t)res < io->len - io->pos ? (uint64_t)res
								     : io->len - io->pos;
			if (io->pos < io->len) {
				io_issue(d, io);
				return false;
			}
			res = 0;
		} else if (res == 0) {
			res = -EIO; /* no progress: never loop */
		}
		break;
	case STAGE_FLUSH:
		if (res < 0)
			disk_sync_error(d, res);
		else if (d->nr_layers && io->prim == DISK_PRIM_FDATASYNC)
			qcow2_sync_done(d->layers[0].q, io->frees_mark);
		/* Also for a FLUSH that raced with the failing one: don't report success after. */
		res = disk_sync_failed(d) ? -EIO : 0;
		break;
	case STAGE_DISCARD:
		/* A hint: a file that can't punch holes just keeps the data. */
		if (res == -EOPNOTSUPP)
			res = 0;
		break;
	case STAGE_ZERO_PUNCH:
	case STAGE_ZERO_RANGE:
		if (res < 0)
			return io_zero_fallback(d, io, res);
		break;
	}
	return io_end(d, io, res < 0 ? res : 0);
}

/* Sums the iovec lengths; -EINVAL if they overflow. */
static int iov_total(const struct iovec *iov, unsigned int cnt, uint64_t *total)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - t)
			return -EINVAL;
		t += iov[i].iov_len;
	}
	*total = t;
	return 0;
}

/*
 * Whether the write of `head` (n bytes at offset `off`, before
 * DISK_GUARD_BYTES) to a raw disk whose format was probed would give it the
 * qcow2 magic, so that the next probe would read it as qcow2 (with a backing
 * file of the guest's choosing).
 */
static bool would_look_like_qcow2(struct disk *d, uint64_t off, const uint8_t *head, size_t n)
{
	uint8_t magic[DISK_GUARD_BYTES] = { 0 };
	ssize_t r;

	do
		r = pread(d->fd_cached, magic, sizeof(magic), 0);
	while (r < 0 && errno == EINTR);
	for (size_t k = 0; k < n && off + k < sizeof(magic); k++)
		magic[off + k] = head[k];
	if (!qcow2_probe(magic, sizeof(magic)))
		return false;
	log_limited(&d->rl, LOG_LVL_WARN,
		    "%s: a guest write to the start of a raw disk opened without format= would "
		    "make it look like qcow2: refused",
		    d->path);
	return true;
}

/*
 * A write to the first bytes of a probed raw disk. The guest may change its
 * buffers while the write is in flight (another vCPU), and the kernel reads
 * them when it gets to it: so what the write puts in the first sector is
 * copied once into io->head, checked there, and written from there. The
 * rest of the write comes from the guest's buffers as usual. io->iov has
 * room for one more entry than it holds.
 */
static int io_guard_head(struct disk *d, struct disk_io *io, struct disk_req *req)
{
	size_t n = io->len < DISK_SECTOR - io->off ? (size_t)io->len : DISK_SECTOR - io->off;
	size_t left = n, in = 0;
	unsigned int j = 0;
	uint8_t *p;
	void *h;

	if (posix_memalign(&h, DISK_BOUNCE_ALIGN, DISK_SECTOR))
		return -ENOMEM;
	io->head = h;
	/* The iovecs hold io->len >= n bytes: j stays below iovcnt while bytes are left. */
	for (p = h; left; j++) {
		size_t l = io->iov[j].iov_len, c = l < left ? l : left;

		memcpy(p, io->iov[j].iov_base, c);
		p += c;
		left -= c;
		if (c < l) {
			in = c;
			break;
		}
	}
	if (would_look_like_qcow2(d, io->off, h, n))
		return -EPERM;
	if (d->guard_hook)
		d->guard_hook(d, req);
	/* The head's bytes leave the iovecs: `in` of iov[j]'s, all before it. */
	if (j < io->iovcnt) {
		io->iov[j].iov_base = (uint8_t *)io->iov[j].iov_base + in;
		io->iov[j].iov_len -= in;
	}
	memmove(io->iov + 1, io->iov + j, sizeof(*io->iov) * (io->iovcnt - j));
	io->iov[0] = (struct iovec){ h, n };
	io->iovcnt = 1 + io->iovcnt - j;
	return 0;
}

static int io_setup_rw(struct disk *d, struct disk_io *io, struct disk_req *req)
{
	bool guard = req->op == DISK_WRITE && d->probed_raw && io->off < DISK_GUARD_BYTES;
	/* The guard's private head may split the first iovec in two. */
	unsigned int room = req->iovcnt + (guard ? 1 : 0);
	int ret;

	io->iovcnt = req->iovcnt;
	io->idx = 0;
	if (room <= DISK_IO_INLINE_IOV) {
		io->iov = io->iov_inline;
	} else {
		io->iov = malloc(sizeof(*io->iov) * room);
		if (!io->iov)
			return -ENOMEM;
	}
	memcpy(io->iov, req->iov, sizeof(*io->iov) * req->iovcnt);
	io->write = req->op == DISK_WRITE;
	if (guard) {
		ret = io_guard_head(d, io, req);
		if (ret) {
			if (io->iov != io->iov_inline)
				free(io->iov);
			free(io->head);
			io->head = NULL;
			return ret;
		}
	}
	if (d->direct && io->off % DISK_DIO_ALIGN == 0 && io->len % DISK_DIO_ALIGN == 0 &&
	    !dio_aligned(io->off, io->iov, io->iovcnt)) {
		/*
		 * Only the buffers are misaligned (the usual case for guest
		 * memory): copy through an aligned buffer and stay direct. A
		 * misaligned offset or length goes to the cached fd instead,
		 * as does everything if the bounce buffer can't be had or would
		 * pass the disk's budget.
		 */
		void *b;

		if (io->len <= DISK_BOUNCE_BUDGET - d->bounce_bytes &&
		    posix_memalign(&b, DISK_BOUNCE_ALIGN, io->len) == 0) {
			io->bounce = b;
			io->bounce_len = io->len;
			d->bounce_bytes += io->len;
			if (io->write)
				bounce_copy(io, true);
		}
	}
	return 0;
}

/*
 * What a request asks, checked before a slot is taken: its length, whether
 * it writes, and the stage its operation starts in. 0, -EINVAL or -EROFS.
 */
static int req_check(const struct disk *d, const struct disk_req *req, uint64_t *len, bool *writes,
		     int *stage)
{
	*len = 0;
	*writes = false;
	if (!req || !req->done)
		return -EINVAL;
	switch (req->op) {
	case DISK_READ:
	case DISK_WRITE:
		if (!req->iov || req->iovcnt < 1 || req->iovcnt > DISK_MAX_IOV)
			return -EINVAL;
		if (iov_total(req->iov, req->iovcnt, len))
			return -EINVAL;
		*writes = req->op == DISK_WRITE;
		*stage = STAGE_RW;
		break;
	case DISK_FLUSH:
		*stage = STAGE_FLUSH;
		break;
	case DISK_DISCARD:
		*len = req->len;
		*writes = true;
		*stage = STAGE_DISCARD;
		break;
	case DISK_WRITE_ZEROES:
		*len = req->len;
		*writes = true;
		*stage = req->unmap ? STAGE_ZERO_PUNCH : STAGE_ZERO_RANGE;
		break;
	default:
		return -EINVAL;
	}
	if (req->op != DISK_FLUSH && (req->offset > d->size || *len > d->size - req->offset))
		return -EINVAL;
	if (*writes && d->readonly)
		return -EROFS;
	return 0;
}

/* The stage a checked request really starts in, given the disk as it is now. */
static int first_stage(struct disk *d, const struct disk_req *req, uint64_t len, int stage)
{
	/* Nothing to do still completes later: done never runs inside submit. */
	if (req->op == DISK_FLUSH) {
		if (disk_sync_failed(d))
			return STAGE_NOP;
		if (d->cache == DISK_CACHE_UNSAFE || d->readonly)
			return STAGE_NOP;
	} else if (len == 0) {
		return STAGE_NOP;
	} else if (d->nr_layers && stage != STAGE_RW) {
		return STAGE_QCOW2_ZERO;
	}
	return stage;
}

/* A free slot made ready for the request: nothing of a request before it is left. */
static void io_init(struct disk *d, struct disk_io *io, struct disk_req *req, int stage,
		    uint64_t len, bool writes)
{
	io->req = req;
	io->stage = stage;
	io->off = req->offset;
	io->len = len;
	io->pos = 0;
	io->no_direct = false;
	io->write = writes;
	io->iov = NULL;
	io->iovcnt = 0;
	io->bounce = NULL;
	io->bounce_len = 0;
	io->head = NULL;
	io->cut_idx = -1;
	io->cut_len = 0;
	io->nop_result = req->op == DISK_FLUSH && disk_sync_failed(d) ? -EIO : 0;
	io->pmode = req->op == DISK_DISCARD ? QCOW2_DISCARD
		    : req->unmap	    ? QCOW2_ZERO_UNMAP
					    : QCOW2_ZERO_KEEP;
}

int disk_submit(struct disk *d, struct disk_req *req)
{
	struct disk_io *io;
	uint64_t len;
	bool writes;
	int stage = STAGE_NOP, ret;

	ret = req_check(d, req, &len, &writes, &stage);
	if (ret < 0)
		return ret;
	if (!d->free_ios)
		return -EBUSY;
	/* Nothing in flight can touch a freed qcow2 cluster now: let its refcount drop. */
	if (d->nr_layers && !d->readonly && d->inflight == 0)
		qcow2_apply_frees(d->layers[0].q);

	io = d->free_ios;
	io_init(d, io, req, first_stage(d, req, len, stage), len, writes);
	if (io->stage == STAGE_RW) {
		ret = io_setup_rw(d, io, req);
		if (ret) {
			io->iov = NULL;
			return ret;
		}
	}
	if (req->op == DISK_READ || req->op == DISK_WRITE)
		req->len = len;
	d->free_ios = io->next;
	io->next = NULL;
	d->inflight++;
	io_issue(d, io);
	return 0;
}

unsigned int disk_complete(struct disk *d)
{
	unsigned int before = d->delivered;

	d->engine->reap(d);
	return d->delivered - before;
}

void disk_drain(struct disk *d)
{
	while (d->inflight) {
		if (!d->engine->reap(d))
			d->engine->wait(d);
	}
}
