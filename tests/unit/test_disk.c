// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/disk.h"
#include "block/disk_internal.h"
#include "core/log.h"
#include "tests/unit/diskfix.h"
#include "tests/unit/scratch.h"
#include "tests/unit/unit.h"

/* Set in main() before the tests fork: whether io_uring works here, and why not. */
static bool uring_ok;
static char uring_why[128];

static const char *const engine_names[] = { "io_uring", "threads" };

/* ---- files ---- */

struct fx {
	char dir[256];
	char path[320];
	enum disk_aio aio;
	const char *engine;
};

static void file_fill(const char *path, uint64_t size, uint8_t byte)
{
	static uint8_t buf[65536];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	memset(buf, byte, sizeof(buf));
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		ck_assert_int_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
		off += n;
	}
	close(fd);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void file_write(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Asserts the file holds `byte` over [off, off + len). */
static void file_expect_byte(const char *path, uint64_t off, size_t len, uint8_t byte)
{
	uint8_t *buf = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(buf);
	file_read(path, off, buf, len);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != byte)
			ck_abort_msg("byte %llu is 0x%02x, not 0x%02x",
				     (unsigned long long)(off + i), buf[i], byte);
	}
	free(buf);
}

static void file_expect(const char *path, uint64_t off, const void *want, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(buf);
	file_read(path, off, buf, len);
	ck_assert_mem_eq(buf, want, len);
	free(buf);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 9) + 1u);
}

static void fx_init_in(struct fx *f, int engine, const char *base)
{
	memset(f, 0, sizeof(*f));
	f->aio = diskfix_engines[engine];
	f->engine = engine_names[engine];
	ck_assert_int_eq(scratch_dir_in(f->dir, sizeof(f->dir), base, "ember-disk-"), 0);
	snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
}

static void fx_init(struct fx *f, int engine, uint64_t size)
{
	fx_init_in(f, engine, scratch_base());
	file_fill(f->path, size, 0);
}

static void fx_fini(struct fx *f)
{
	unlink(f->path);
	rmdir(f->dir);
}

static int open_cfg(struct fx *f, struct disk **d, bool ro, enum disk_cache cache, char *err,
		    size_t err_len)
{
	struct disk_config cfg = {
		.path = f->path,
		.format = DISK_FORMAT_RAW,
		.readonly = ro,
		.cache = cache,
		.aio = f->aio,
	};

	return disk_open(d, &cfg, err, err_len);
}

static struct disk *open_disk(struct fx *f, bool ro, enum disk_cache cache)
{
	struct disk *d = NULL;
	char err[512] = "";
	int ret = open_cfg(f, &d, ro, cache, err, sizeof(err));

	ck_assert_msg(ret == 0, "disk_open: %d: %s", ret, err);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(disk_engine_name(d), f->engine);
	return d;
}

/* ---- requests (run, submitted and recorded by diskfix) ---- */

/*
 * Splits `len` bytes of `buf` into `cnt` iovecs of uneven sizes, one of
 * them empty, all at odd addresses and lengths (buf itself is odd).
 */
static unsigned int split_iov(struct iovec *iov, uint8_t *buf, size_t len, unsigned int cnt)
{
	size_t off = 0;
	unsigned int i;

	for (i = 0; i + 1 < cnt && off < len; i++) {
		size_t n = (i == 1) ? 0 : 1 + (i * 977u) % 3001u;

		if (n > len - off)
			n = len - off;
		iov[i].iov_base = buf + off;
		iov[i].iov_len = n;
		off += n;
	}
	iov[i].iov_base = buf + off;
	iov[i].iov_len = len - off;
	return i + 1;
}

/* ---- opening ---- */

START_TEST(test_open_basic)
{
	struct fx f;
	struct disk *d;
	const uint64_t size = 1024 * 1024 + 1000;

	fx_init(&f, _i, size);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	ck_assert_uint_eq(disk_size(d), size);
	ck_assert(!disk_readonly(d));
	ck_assert_int_ge(disk_event_fd(d), 0);
	ck_assert_uint_eq(disk_inflight(d), 0);
	ck_assert_uint_eq(disk_complete(d), 0);
	disk_drain(d);
	disk_close(d);
	disk_close(NULL);

	d = open_disk(&f, true, DISK_CACHE_WRITEBACK);
	ck_assert(disk_readonly(d));
	ck_assert_uint_eq(disk_size(d), size);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

START_TEST(test_open_errors)
{
	struct fx f;
	struct disk *d = (struct disk *)1;
	struct disk_config cfg = { .format = DISK_FORMAT_RAW, .aio = diskfix_engines[_i] };
	char err[512];
	char msg[512];
	int ret;

	fx_init_in(&f, _i, scratch_base());

	/* Missing: ENOENT, the file and strerror named. */
	ret = open_cfg(&f, &d, false, DISK_CACHE_WRITEBACK, err, sizeof(err));
	ck_assert_int_eq(ret, -ENOENT);
	ck_assert_ptr_null(d);
	snprintf(msg, sizeof(msg), "%s: %s", f.path, strerror(ENOENT));
	ck_assert_str_eq(err, msg);

	/* A directory, read-write (open fails) and read-only (fstat says so). */
	for (int ro = 0; ro < 2; ro++) {
		struct fx g = f;

		snprintf(g.path, sizeof(g.path), "%s", f.dir);
		err[0] = 0;
		ret = open_cfg(&g, &d, ro, DISK_CACHE_WRITEBACK, err, sizeof(err));
		ck_assert_int_lt(ret, 0);
		ck_assert_ptr_null(d);
		ck_assert_msg(strstr(err, f.dir) &&
				      strstr(err, "not a regular file or block device"),
			      "message: %s", err);
		ck_assert_ptr_null(strchr(err, '\n'));
	}

	/* A character device. */
	cfg.path = "/dev/null";
	ret = disk_open(&d, &cfg, err, sizeof(err));
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_str_eq(err, "/dev/null: not a regular file or block device");

	cfg.path = "";
	ck_assert_int_eq(disk_open(&d, &cfg, err, sizeof(err)), -EINVAL);
	cfg.path = NULL;
	ck_assert_int_eq(disk_open(&d, &cfg, NULL, 0), -EINVAL);
	fx_fini(&f);
}
END_TEST

static void expect_locked(struct fx *f, bool ro)
{
	struct disk *d = (struct disk *)1;
	char err[512] = "";
	char msg[512];

	ck_assert_int_eq(open_cfg(f, &d, ro, DISK_CACHE_WRITEBACK, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_null(d);
	snprintf(msg, sizeof(msg), "%s: in use by another process (locked)", f->path);
	ck_assert_str_eq(err, msg);
}

/* OFD locks belong to the open file description, so two opens in one process conflict. */
START_TEST(test_locks)
{
	struct fx f;
	struct disk *a, *b;

	fx_init(&f, _i, 65536);

	a = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	expect_locked(&f, false);
	expect_locked(&f, true);
	disk_close(a);

	a = open_disk(&f, true, DISK_CACHE_WRITEBACK);
	expect_locked(&f, false);
	b = open_disk(&f, true, DISK_CACHE_WRITEBACK);
	disk_close(b);
	disk_close(a);

	/* Closing released everything. */
	a = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	disk_close(a);
	fx_fini(&f);
}
END_TEST

/* ---- data ---- */

START_TEST(test_rw_multi_iov)
{
	struct fx f;
	struct disk *d;
	const size_t len = 20000;
	uint8_t *src = malloc(len + 1), *dst = malloc(len + 3);
	struct iovec iov[16];
	unsigned int n;
	struct disk_req req = { .op = DISK_WRITE, .offset = 1234, .len = 7 };

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	fx_init(&f, _i, 65536);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);

	pattern(src + 1, len, 1);
	n = split_iov(iov, src + 1, len, 7);
	req.iov = iov;
	req.iovcnt = n;
	ck_assert_int_eq(diskfix_run(d, &req), 0);
	ck_assert_uint_eq(req.len, len); /* set from the iovecs, not trusted */
	file_expect(f.path, 1234, src + 1, len);
	file_expect_byte(f.path, 0, 1234, 0);
	file_expect_byte(f.path, 1234 + len, 65536 - 1234 - len, 0);

	/* Read back with another split, into odd addresses. */
	memset(dst, 0xee, len + 3);
	n = split_iov(iov, dst + 3, len, 11);
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 1234, iov, n), 0);
	ck_assert_mem_eq(dst + 3, src + 1, len);

	/* The last byte of the disk. */
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 65535, src, 1), 0);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 65535, dst, 1), 0);
	ck_assert_uint_eq(dst[0], src[0]);

	/* Many iovecs: one byte each, DISK_MAX_IOV of them. */
	{
		struct iovec *many = calloc(DISK_MAX_IOV, sizeof(*many));

		ck_assert_ptr_nonnull(many);
		for (unsigned int i = 0; i < DISK_MAX_IOV; i++) {
			many[i].iov_base = src + 1 + (DISK_MAX_IOV - 1 - i);
			many[i].iov_len = 1;
		}
		ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, 40000, many, DISK_MAX_IOV), 0);
		file_read(f.path, 40000, dst, DISK_MAX_IOV);
		for (unsigned int i = 0; i < DISK_MAX_IOV; i++)
			ck_assert_uint_eq(dst[i], src[1 + DISK_MAX_IOV - 1 - i]);
		free(many);
	}

	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	disk_close(d);
	free(src);
	free(dst);
	fx_fini(&f);
}
END_TEST

START_TEST(test_discard)
{
	struct fx f;
	struct disk *d;

	fx_init(&f, _i, 65536);
	file_fill(f.path, 65536, 0xaa);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 4096, 8192, false), 0);
	file_expect_byte(f.path, 0, 4096, 0xaa);
	file_expect_byte(f.path, 4096 + 8192, 65536 - 4096 - 8192, 0xaa);
	/* Unaligned, and to the end. */
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 20001, 5555, false), 0);
	file_expect_byte(f.path, 12288, 20001 - 12288, 0xaa);
	file_expect_byte(f.path, 20001 + 5555, 60000 - 20001 - 5555, 0xaa);
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 60000, 5536, false), 0);
	ck_assert_uint_eq(disk_size(d), 65536);

	/* A filesystem that can't punch holes: discard is a hint, so success. */
	disk_test_inject(d, DISK_OP_BIT(DISK_DISCARD), 1, -EOPNOTSUPP);
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 0, 4096, false), 0);
	file_expect_byte(f.path, 0, 4096, 0xaa);
	/* Other errors are real. */
	disk_test_inject(d, DISK_OP_BIT(DISK_DISCARD), 1, -EIO);
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_DISCARD, 0, 4096, false), -EIO);
	disk_close(d);

	{
		struct stat st;

		ck_assert_int_eq(stat(f.path, &st), 0);
		ck_assert_int_eq(st.st_size, 65536); /* KEEP_SIZE */
	}
	fx_fini(&f);
}
END_TEST

static void check_zeroes(struct fx *f, struct disk *d, uint64_t size, uint64_t off, uint64_t len,
			 bool unmap, unsigned int inject)
{
	file_fill(f->path, size, 0xaa);
	if (inject)
		disk_test_inject(d, DISK_OP_BIT(DISK_WRITE_ZEROES), inject, -EOPNOTSUPP);
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, off, len, unmap), 0);
	file_expect_byte(f->path, 0, off, 0xaa);
	file_expect_byte(f->path, off, len, 0);
	file_expect_byte(f->path, off + len, size - off - len, 0xaa);
}

START_TEST(test_write_zeroes)
{
	const uint64_t size = 4 * 1024 * 1024;
	struct fx f;
	struct disk *d;

	fx_init(&f, _i, size);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	for (int unmap = 0; unmap < 2; unmap++) {
		check_zeroes(&f, d, size, 4096, 8192, unmap, 0);
		check_zeroes(&f, d, size, 777, 3 * 1024 * 1024 + 555, unmap, 0);
		check_zeroes(&f, d, size, size - 100, 100, unmap, 0);
	}
	/* Falling back: no punch (to ZERO_RANGE), then no fallocate at all (writes, >1 chunk). */
	check_zeroes(&f, d, size, 777, 3 * 1024 * 1024 + 555, true, 1);
	check_zeroes(&f, d, size, 777, 3 * 1024 * 1024 + 555, true, 2);
	check_zeroes(&f, d, size, 777, 3 * 1024 * 1024 + 555, false, 1);
	/* A real error from ZERO_RANGE is reported, not papered over. */
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE_ZEROES), 1, -ENOSPC);
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_WRITE_ZEROES, 0, 4096, false), -ENOSPC);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

START_TEST(test_range_checks)
{
	const uint64_t size = 8192;
	struct fx f;
	struct disk *d;
	static uint8_t buf[1024];
	struct iovec iov = { buf, 200 };
	struct iovec huge[2] = { { buf, SIZE_MAX }, { buf, 2 } };
	struct iovec *many;
	struct disk_req req;

	fx_init(&f, _i, size);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);

	/* Past the end, by a byte. */
	req = (struct disk_req){ .op = DISK_READ, .offset = size - 199, .iov = &iov, .iovcnt = 1 };
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){ .op = DISK_WRITE, .offset = size + 1, .iov = &iov, .iovcnt = 1 };
	diskfix_expect_refused(d, &req, -EINVAL);
	/* Offset + length wrapping around. */
	req = (struct disk_req){ .op = DISK_DISCARD, .offset = UINT64_MAX - 1, .len = 4 };
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){ .op = DISK_WRITE_ZEROES, .offset = 512, .len = UINT64_MAX };
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){ .op = DISK_WRITE_ZEROES, .offset = 0, .len = size + 1 };
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){
		.op = DISK_READ, .offset = UINT64_MAX - 100, .iov = &iov, .iovcnt = 1
	};
	diskfix_expect_refused(d, &req, -EINVAL);
	/* iovecs whose lengths overflow when summed. */
	req = (struct disk_req){ .op = DISK_READ, .offset = 0, .iov = huge, .iovcnt = 2 };
	diskfix_expect_refused(d, &req, -EINVAL);
	/* Bad iovcnt, missing iov, missing done, unknown op. */
	req = (struct disk_req){ .op = DISK_READ, .offset = 0, .iov = &iov, .iovcnt = 0 };
	diskfix_expect_refused(d, &req, -EINVAL);
	many = calloc(DISK_MAX_IOV + 1, sizeof(*many));
	ck_assert_ptr_nonnull(many);
	for (unsigned int i = 0; i <= DISK_MAX_IOV; i++)
		many[i] = (struct iovec){ buf, 1 };
	req = (struct disk_req){
		.op = DISK_WRITE, .offset = 0, .iov = many, .iovcnt = DISK_MAX_IOV + 1
	};
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){ .op = DISK_READ, .offset = 0, .iov = NULL, .iovcnt = 1 };
	diskfix_expect_refused(d, &req, -EINVAL);
	req = (struct disk_req){ .op = DISK_READ, .offset = 0, .iov = &iov, .iovcnt = 1 };
	ck_assert_int_eq(diskfix_submit(d, &req), -EINVAL);
	req = (struct disk_req){ .op = (enum disk_op)99, .offset = 0, .len = 1 };
	diskfix_expect_refused(d, &req, -EINVAL);
	ck_assert_uint_eq(disk_inflight(d), 0);

	/* What is just inside is fine, empty requests included (and completed later). */
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, size - 200, &iov, 1), 0);
	ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, size - 200, &iov, 1), 0);
	iov.iov_len = 0;
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, size, &iov, 1), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, size, 0, false), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, 0, size, false), 0);
	free(many);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

START_TEST(test_readonly)
{
	struct fx f;
	struct disk *d;
	uint8_t buf[4096], want[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct disk_req req;

	fx_init(&f, _i, 65536);
	pattern(want, sizeof(want), 3);
	file_write(f.path, 8192, want, sizeof(want));
	d = open_disk(&f, true, DISK_CACHE_WRITEBACK);

	req = (struct disk_req){ .op = DISK_WRITE, .offset = 0, .iov = &iov, .iovcnt = 1 };
	diskfix_expect_refused(d, &req, -EROFS);
	req = (struct disk_req){ .op = DISK_DISCARD, .offset = 0, .len = 4096 };
	diskfix_expect_refused(d, &req, -EROFS);
	for (int unmap = 0; unmap < 2; unmap++) {
		req = (struct disk_req){
			.op = DISK_WRITE_ZEROES, .offset = 0, .len = 4096, .unmap = unmap
		};
		diskfix_expect_refused(d, &req, -EROFS);
	}
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 8192, &iov, 1), 0);
	ck_assert_mem_eq(buf, want, sizeof(buf));
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

/* ---- many requests ---- */

#define BLK 4096

START_TEST(test_inflight_limit)
{
	const uint64_t size = (uint64_t)DISK_MAX_INFLIGHT * BLK;
	struct fx f;
	struct disk *d;
	uint8_t *buf = malloc(size);
	struct iovec *iov = calloc(DISK_MAX_INFLIGHT + 1, sizeof(*iov));
	struct disk_req *req = calloc(DISK_MAX_INFLIGHT + 1, sizeof(*req));
	struct diskfix_rec *r = calloc(DISK_MAX_INFLIGHT + 1, sizeof(*r));

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(iov);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_nonnull(r);
	fx_init(&f, _i, size);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);

	for (unsigned int i = 0; i <= DISK_MAX_INFLIGHT; i++) {
		unsigned int blk = i % DISK_MAX_INFLIGHT;

		iov[i] = (struct iovec){ buf + (size_t)blk * BLK, BLK };
		req[i] = (struct disk_req){ .op = DISK_READ,
					    .offset = (uint64_t)blk * BLK,
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = diskfix_done,
					    .opaque = &r[i] };
	}
	for (unsigned int i = 0; i < DISK_MAX_INFLIGHT; i++)
		ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
	ck_assert_uint_eq(disk_inflight(d), DISK_MAX_INFLIGHT);
	ck_assert_int_eq(diskfix_submit(d, &req[DISK_MAX_INFLIGHT]), -EBUSY);
	/* Busy stays busy until someone collects completions. */
	usleep(10000);
	ck_assert_int_eq(diskfix_submit(d, &req[DISK_MAX_INFLIGHT]), -EBUSY);
	disk_drain(d);
	ck_assert_uint_eq(disk_inflight(d), 0);
	for (unsigned int i = 0; i < DISK_MAX_INFLIGHT; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].result, 0);
	}
	ck_assert_int_eq(r[DISK_MAX_INFLIGHT].calls, 0);
	ck_assert_int_eq(diskfix_run(d, &req[DISK_MAX_INFLIGHT]), 0);
	disk_close(d);
	free(buf);
	free(iov);
	free(req);
	free(r);
	fx_fini(&f);
}
END_TEST

/* Collects completions the way the event loop does: poll the eventfd, then complete. */
static void complete_by_eventfd(struct disk *d)
{
	unsigned int total = 0, start = disk_inflight(d);

	while (disk_inflight(d)) {
		struct pollfd pfd = { .fd = disk_event_fd(d), .events = POLLIN };

		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		total += disk_complete(d);
	}
	ck_assert_uint_eq(total, start);
}

START_TEST(test_many_inflight)
{
	const unsigned int n = DISK_MAX_INFLIGHT;
	const uint64_t size = (uint64_t)n * BLK;
	struct fx f;
	struct disk *d;
	uint8_t *src = malloc(size), *dst = malloc(size);
	struct iovec *iov = calloc(n, sizeof(*iov));
	struct disk_req *req = calloc(n, sizeof(*req));
	struct diskfix_rec *r = calloc(n, sizeof(*r));

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	ck_assert_ptr_nonnull(iov);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_nonnull(r);
	fx_init(&f, _i, size);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src, size, 9);

	/* Written in a scattered order, then read back the same way. */
	for (unsigned int k = 0; k < 2; k++) {
		enum disk_op op = k ? DISK_READ : DISK_WRITE;

		memset(r, 0, n * sizeof(*r));
		for (unsigned int i = 0; i < n; i++) {
			unsigned int blk = (i * 37u) % n;

			iov[i] = (struct iovec){ (k ? dst : src) + (size_t)blk * BLK, BLK };
			req[i] = (struct disk_req){ .op = op,
						    .offset = (uint64_t)blk * BLK,
						    .iov = &iov[i],
						    .iovcnt = 1,
						    .done = diskfix_done,
						    .opaque = &r[i] };
			ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
		}
		complete_by_eventfd(d);
		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(r[i].calls, 1);
			ck_assert_int_eq(r[i].result, 0);
		}
	}
	ck_assert_mem_eq(dst, src, size);
	file_expect(f.path, 0, src, size);
	ck_assert_uint_eq(disk_complete(d), 0);
	disk_close(d);
	free(src);
	free(dst);
	free(iov);
	free(req);
	free(r);
	fx_fini(&f);
}
END_TEST

START_TEST(test_drain_and_close)
{
	struct fx f;
	struct disk *d;
	uint8_t src[8 * BLK];
	struct iovec iov[8];
	struct disk_req req[9];
	struct diskfix_rec r[9];

	fx_init(&f, _i, 65536);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src, sizeof(src), 5);
	memset(r, 0, sizeof(r));
	for (unsigned int i = 0; i < 8; i++) {
		iov[i] = (struct iovec){ src + i * BLK, BLK };
		req[i] = (struct disk_req){ .op = DISK_WRITE,
					    .offset = i * BLK,
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = diskfix_done,
					    .opaque = &r[i] };
		ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
	}
	req[8] = (struct disk_req){ .op = DISK_FLUSH, .done = diskfix_done, .opaque = &r[8] };
	ck_assert_int_eq(diskfix_submit(d, &req[8]), 0);
	ck_assert_uint_eq(disk_inflight(d), 9);
	disk_drain(d);
	ck_assert_uint_eq(disk_inflight(d), 0);
	for (unsigned int i = 0; i < 9; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].result, 0);
	}
	file_expect(f.path, 0, src, sizeof(src));
	disk_drain(d); /* nothing in flight: returns at once */

	/* disk_close drains: every request still completes, exactly once. */
	memset(r, 0, sizeof(r));
	for (unsigned int i = 0; i < 8; i++)
		ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
	disk_close(d);
	for (unsigned int i = 0; i < 8; i++) {
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].result, 0);
	}
	fx_fini(&f);
}
END_TEST

/* Each completion submits the next write, from inside the callback. */
struct chain {
	struct disk *d;
	struct disk_req req;
	struct iovec iov;
	uint8_t *src;
	unsigned int left;
	unsigned int calls;
};

static void chain_done(struct disk_req *req, int result)
{
	struct chain *c = req->opaque;

	ck_assert_int_eq(result, 0);
	c->calls++;
	if (!c->left)
		return;
	c->left--;
	req->offset += BLK;
	c->iov.iov_base = (uint8_t *)c->iov.iov_base + BLK;
	ck_assert_int_eq(disk_submit(c->d, req), 0);
}

START_TEST(test_resubmit_from_done)
{
	const unsigned int n = 20;
	struct fx f;
	struct disk *d;
	uint8_t *src = malloc(n * BLK);
	struct chain c;
	struct chain *fc;
	uint8_t *dst;

	ck_assert_ptr_nonnull(src);
	fx_init(&f, _i, (uint64_t)DISK_MAX_INFLIGHT * 2 * BLK);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src, n * BLK, 11);
	c = (struct chain){ .d = d, .src = src, .left = n - 1 };
	c.iov = (struct iovec){ src, BLK };
	c.req = (struct disk_req){ .op = DISK_WRITE,
				   .offset = 0,
				   .iov = &c.iov,
				   .iovcnt = 1,
				   .done = chain_done,
				   .opaque = &c };
	ck_assert_int_eq(diskfix_submit(d, &c.req), 0);
	disk_drain(d);
	ck_assert_uint_eq(c.calls, n);
	file_expect(f.path, 0, src, n * BLK);

	/* With every slot taken, a callback still finds its own slot free. */
	fc = calloc(DISK_MAX_INFLIGHT, sizeof(*fc));
	dst = malloc((size_t)DISK_MAX_INFLIGHT * 2 * BLK);
	ck_assert_ptr_nonnull(dst);
	ck_assert_ptr_nonnull(fc);
	for (unsigned int i = 0; i < DISK_MAX_INFLIGHT; i++) {
		/* Each reads its own two blocks, into its own part of dst. */
		fc[i] = (struct chain){ .d = d, .src = src, .left = 1 };
		fc[i].iov = (struct iovec){ dst + (size_t)i * 2 * BLK, BLK };
		fc[i].req = (struct disk_req){ .op = DISK_READ,
					       .offset = (uint64_t)i * 2 * BLK,
					       .iov = &fc[i].iov,
					       .iovcnt = 1,
					       .done = chain_done,
					       .opaque = &fc[i] };
		ck_assert_int_eq(diskfix_submit(d, &fc[i].req), 0);
	}
	disk_drain(d);
	for (unsigned int i = 0; i < DISK_MAX_INFLIGHT; i++)
		ck_assert_uint_eq(fc[i].calls, 2);
	file_expect(f.path, 0, dst, (size_t)DISK_MAX_INFLIGHT * 2 * BLK);
	free(dst);
	free(fc);
	disk_close(d);
	free(src);
	fx_fini(&f);
}
END_TEST

/* ---- flush ---- */

START_TEST(test_flush_sticky_error)
{
	struct fx f;
	struct disk *d;
	uint8_t src[BLK], dst[BLK];

	fx_init(&f, _i, 65536);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src, sizeof(src), 2);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);

	disk_test_inject(d, DISK_OP_BIT(DISK_FLUSH), 1, -EIO);
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_FLUSH, 0, 0, false), -EIO);
	/* fdatasync would succeed now; the data it lost stays lost. */
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_FLUSH, 0, 0, false), -EIO);
	/* Other I/O goes on. */
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 0, src, sizeof(src)), 0);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 0, dst, sizeof(dst)), 0);
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_FLUSH, 0, 0, false), -EIO);
	/* Closing writes back once more, and still reports the loss. */
	ck_assert_int_eq(disk_close(d), -EIO);

	/* A disk that never failed closes cleanly, written back. */
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 0, src, sizeof(src)), 0);
	ck_assert_int_eq(disk_close(d), 0);

	/* Any fdatasync error is a failed FLUSH: ENOSPC from writeback too. */
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	disk_test_inject(d, DISK_OP_BIT(DISK_FLUSH), 1, -ENOSPC);
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_FLUSH, 0, 0, false), -EIO);
	ck_assert_int_eq(diskfix_op_accepted(d, DISK_FLUSH, 0, 0, false), -EIO);
	disk_close(d);

	/* EINTR/EAGAIN from the kernel are retried, not reported or remembered. */
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	disk_test_inject(d, DISK_OP_BIT(DISK_FLUSH), 2, -EINTR);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	disk_test_inject(d, DISK_OP_BIT(DISK_FLUSH), 3, -EAGAIN);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

START_TEST(test_flush_modes)
{
	static const enum disk_cache modes[] = { DISK_CACHE_WRITEBACK, DISK_CACHE_UNSAFE };
	struct fx f;

	fx_init(&f, _i, 65536);
	for (unsigned int m = 0; m < 2; m++) {
		struct disk *d = open_disk(&f, false, modes[m]);
		struct disk_req req = { .op = DISK_FLUSH };
		struct diskfix_rec r = { 0, 1 };

		/* Completes, but never inside submit, even when there is nothing to do. */
		req.done = diskfix_done;
		req.opaque = &r;
		ck_assert_int_eq(diskfix_submit(d, &req), 0);
		ck_assert_int_eq(r.calls, 0);
		ck_assert_uint_eq(disk_inflight(d), 1);
		disk_drain(d);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_int_eq(r.result, 0);
		disk_close(d);
	}
	fx_fini(&f);
}
END_TEST

/* ---- injected faults ---- */

START_TEST(test_injected_errors)
{
	struct fx f;
	struct disk *d;
	uint8_t src[BLK], dst[BLK];

	fx_init(&f, _i, 65536);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src, sizeof(src), 4);

	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 1, -ENOSPC);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_WRITE, 0, src, sizeof(src)), -ENOSPC);
	file_expect_byte(f.path, 0, sizeof(src), 0);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 0, src, sizeof(src)), 0);
	file_expect(f.path, 0, src, sizeof(src));

	disk_test_inject(d, DISK_OP_BIT(DISK_READ), 1, -EIO);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_READ, 0, dst, sizeof(dst)), -EIO);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 0, dst, sizeof(dst)), 0);
	ck_assert_mem_eq(dst, src, sizeof(src));

	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 1, -EFBIG);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_WRITE, 0, src, sizeof(src)), -EFBIG);

	/* Only the ops named are affected. */
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 1, -EIO);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 0, dst, sizeof(dst)), 0);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_WRITE, 0, src, sizeof(src)), -EIO);

	/* Interrupted and would-block are retried until the transfer happens. */
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE) | DISK_OP_BIT(DISK_READ), 3, -EAGAIN);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, BLK, src, sizeof(src)), 0);
	disk_test_inject(d, DISK_OP_BIT(DISK_READ), 2, -EINTR);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, BLK, dst, sizeof(dst)), 0);
	ck_assert_mem_eq(dst, src, sizeof(src));
	disk_close(d);
	fx_fini(&f);
}
END_TEST

START_TEST(test_short_transfers)
{
	const size_t len = 10000;
	struct fx f;
	struct disk *d;
	uint8_t *src = malloc(len + 1), *dst = malloc(len + 1);
	struct iovec iov[8];
	unsigned int n;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	fx_init(&f, _i, 65536);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	pattern(src + 1, len, 6);

	/* Five writes of 100 bytes at most, then the rest at once: all of it lands. */
	n = split_iov(iov, src + 1, len, 6);
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 5, 100);
	ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, 333, iov, n), 0);
	file_expect(f.path, 333, src + 1, len);
	file_expect_byte(f.path, 333 + len, 1000, 0);

	/* Reads a byte at a time for a while, across iovec boundaries. */
	memset(dst, 0, len + 1);
	n = split_iov(iov, dst + 1, len, 8);
	disk_test_inject(d, DISK_OP_BIT(DISK_READ), 50, 1);
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 333, iov, n), 0);
	ck_assert_mem_eq(dst + 1, src + 1, len);

	/* Stopping at the first iovec boundary exactly. */
	n = split_iov(iov, dst + 1, len, 8);
	memset(dst, 0, len + 1);
	disk_test_inject(d, DISK_OP_BIT(DISK_READ), 1, (int)iov[0].iov_len);
	ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 333, iov, n), 0);
	ck_assert_mem_eq(dst + 1, src + 1, len);

	/* A read that gets nothing before the end (the file shrank) fails; the next is fine. */
	disk_test_inject(d, DISK_OP_BIT(DISK_READ), 1, 0);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_READ, 0, dst, len), -EIO);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 333, dst, len), 0);
	ck_assert_mem_eq(dst, src + 1, len);

	/* A write that makes no progress at all fails rather than spinning. */
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 1, 0);
	ck_assert_int_eq(diskfix_rw_accepted(d, DISK_WRITE, 0, src, len), -EIO);

	/*
	 * Progress, then none, or then an error: the continuation's result is
	 * reported. The first system call is issued inside disk_submit, which
	 * takes the first injection; the second applies to the continuation.
	 */
	for (int k = 0; k < 2; k++) {
		struct disk_req req = {
			.op = k ? DISK_WRITE : DISK_READ, .offset = 0, .iov = iov, .iovcnt = 1
		};
		struct diskfix_rec r = { 0, 0 };

		iov[0] = (struct iovec){ k ? src : dst, len };
		req.done = diskfix_done;
		req.opaque = &r;
		disk_test_inject(d, DISK_OP_BIT(req.op), 1, 100);
		ck_assert_int_eq(diskfix_submit(d, &req), 0);
		ck_assert_uint_eq(d->inject.count, 0);
		disk_test_inject(d, DISK_OP_BIT(req.op), 1, k ? -ENOSPC : 0);
		disk_drain(d);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_int_eq(r.result, k ? -ENOSPC : -EIO);
		ck_assert_int_eq(diskfix_run(d, &req), 0);
	}
	disk_close(d);
	free(src);
	free(dst);
	fx_fini(&f);
}
END_TEST

/* ---- O_DIRECT ---- */

/* Exercises a disk opened with O_DIRECT: aligned, bounced and unaligned requests. */
static void direct_io(struct fx *f, struct disk *d, uint64_t size)
{
	const size_t len = 64 * 1024;
	uint8_t *al, *odd = malloc(len + 3), *dst = malloc(len + 3);

	ck_assert_int_eq(posix_memalign((void **)&al, 4096, len), 0);
	ck_assert_ptr_nonnull(odd);
	ck_assert_ptr_nonnull(dst);

	/* Aligned buffers and offset: straight through. */
	pattern(al, len, 21);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 8192, al, len), 0);
	file_expect(f->path, 8192, al, len);
	memset(dst, 0, len);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 8192, dst + 1, len), 0);
	ck_assert_mem_eq(dst + 1, al, len);

	/* Guest-like: sector offset and length, buffers anywhere (a bounce buffer). */
	{
		struct iovec iov[8];
		unsigned int n;

		pattern(odd + 3, len, 22);
		n = split_iov(iov, odd + 3, len, 8);
		ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, 512 * 7, iov, n), 0);
		file_expect(f->path, 512 * 7, odd + 3, len);
		memset(dst, 0, len + 3);
		n = split_iov(iov, dst + 1, len, 5);
		ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 512 * 7, iov, n), 0);
		ck_assert_mem_eq(dst + 1, odd + 3, len);

		/* Short transfers through the bounce buffer, leaving it unaligned midway. */
		pattern(odd + 3, len, 23);
		n = split_iov(iov, odd + 3, len, 8);
		disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 3, 1000);
		ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, 4096, iov, n), 0);
		file_expect(f->path, 4096, odd + 3, len);
		n = split_iov(iov, dst + 1, len, 5);
		disk_test_inject(d, DISK_OP_BIT(DISK_READ), 3, 777);
		ck_assert_int_eq(diskfix_rwv(d, DISK_READ, 4096, iov, n), 0);
		ck_assert_mem_eq(dst + 1, odd + 3, len);
	}

	/* Byte offsets and lengths: done without O_DIRECT, still exact. */
	pattern(odd, 1001, 24);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 100003, odd, 1001), 0);
	file_expect(f->path, 100003, odd, 1001);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, 100003, dst, 1001), 0);
	ck_assert_mem_eq(dst, odd, 1001);
	/* The last bytes of an image whose size is not a sector multiple. */
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, size - 77, odd, 77), 0);
	file_expect(f->path, size - 77, odd, 77);
	ck_assert_int_eq(diskfix_rw(d, DISK_READ, size - 600, dst, 600), 0);
	file_expect(f->path, size - 600, dst, 600);

	/* O_DIRECT refusing an aligned request (a 4K-sector disk) is retried without. */
	pattern(al, len, 25);
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE), 1, -EINVAL);
	ck_assert_int_eq(diskfix_rw(d, DISK_WRITE, 0, al, len), 0);
	file_expect(f->path, 0, al, len);

	/* Zeroes written by hand go through O_DIRECT too. */
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE_ZEROES), 1, -EOPNOTSUPP);
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, 4096, 3 * 512 * 1024, false), 0);
	file_expect_byte(f->path, 4096, 3 * 512 * 1024, 0);
	disk_test_inject(d, DISK_OP_BIT(DISK_WRITE_ZEROES), 1, -EOPNOTSUPP);
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, 1, 1000, false), 0);
	file_expect_byte(f->path, 1, 1000, 0);

	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	ck_assert_uint_eq(disk_size(d), size);
	free(al);
	free(odd);
	free(dst);
}

/*
 * Runs direct_io in a new directory under base for both O_DIRECT cache modes;
 * true if they ran. A filesystem that refuses O_DIRECT must be said plainly.
 */
static bool direct_case(int engine, const char *base)
{
	static const enum disk_cache modes[] = { DISK_CACHE_NONE, DISK_CACHE_DIRECTSYNC };
	const uint64_t size = 4 * 1024 * 1024 + 100;
	unsigned int ran = 0;
	struct fx f;

	fx_init_in(&f, engine, base);
	file_fill(f.path, size, 0);
	for (unsigned int m = 0; m < 2; m++) {
		struct disk *d = NULL;
		char err[512] = "";
		int ret = open_cfg(&f, &d, false, modes[m], err, sizeof(err));

		if (ret == 0) {
			direct_io(&f, d, size);
			disk_close(d);
			ran++;
		} else {
			char msg[512];

			/* The one acceptable failure: the filesystem refuses O_DIRECT, said
			 * plainly. */
			snprintf(msg, sizeof(msg),
				 "%s: its filesystem does not support cache=none/directsync "
				 "(O_DIRECT)",
				 f.path);
			ck_assert_int_eq(ret, -EINVAL);
			ck_assert_ptr_null(d);
			ck_assert_str_eq(err, msg);
			printf("%s: %s\n", base, err);
		}
	}
	fx_fini(&f);
	return ran == 2;
}

START_TEST(test_direct)
{
	const char *build = getenv("EMBER_BUILDDIR");
	struct stat st;
	bool ran = direct_case(_i, scratch_base());

	/* $TMPDIR may be a tmpfs that refuses O_DIRECT; the build tree is on a disk. */
	if (!ran && build && build[0])
		ran = direct_case(_i, build);
	/* tmpfs, which refused O_DIRECT before Linux 6.6. */
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		ran |= direct_case(_i, "/dev/shm");
	UNIT_NEED(ran, "no filesystem here takes O_DIRECT ($TMPDIR, $EMBER_BUILDDIR, /dev/shm)");
}
END_TEST

/*
 * Requests whose buffers O_DIRECT cannot take are copied through bounce
 * buffers; those of a disk's requests in flight stay within its budget, and
 * a request past it is carried out through the page cache instead, still
 * exactly. True if it ran (the filesystem under base takes O_DIRECT).
 */
static bool bounce_budget_case(int engine, const char *base)
{
	const size_t len = 8 << 20;
	const unsigned int n = 4;
	struct disk_req req[4];
	struct diskfix_rec rec[4] = { 0 };
	struct iovec iov[4];
	uint8_t *buf[4];
	struct disk *d = NULL;
	char err[512] = "";
	struct fx f;

	fx_init_in(&f, engine, base);
	file_fill(f.path, n * len, 0);
	if (open_cfg(&f, &d, false, DISK_CACHE_NONE, err, sizeof(err)) < 0) {
		printf("%s: %s\n", base, err);
		fx_fini(&f);
		return false;
	}
	for (unsigned int i = 0; i < n; i++) {
		buf[i] = malloc(len + 1);
		ck_assert_ptr_nonnull(buf[i]);
		pattern(buf[i] + 1, len, 40 + i);
		iov[i] = (struct iovec){ buf[i] + 1, len };
		req[i] = (struct disk_req){ .op = DISK_WRITE,
					    .offset = i * len,
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = diskfix_done,
					    .opaque = &rec[i] };
		ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
		ck_assert_uint_le(d->bounce_bytes, DISK_BOUNCE_BUDGET);
	}
	/* The budget holds two of them: those are still bounced, the others are not. */
	ck_assert_uint_eq(d->bounce_bytes, 2 * len);
	disk_drain(d);
	ck_assert_uint_eq(d->bounce_bytes, 0);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(rec[i].calls, 1);
		ck_assert_int_eq(rec[i].result, 0);
		file_expect(f.path, i * len, buf[i] + 1, len);
	}
	/* Read back the same way, into misaligned buffers. */
	for (unsigned int i = 0; i < n; i++) {
		memset(buf[i], 0, len + 1);
		rec[i] = (struct diskfix_rec){ 0, 0 };
		req[i].op = DISK_READ;
		ck_assert_int_eq(diskfix_submit(d, &req[i]), 0);
		ck_assert_uint_le(d->bounce_bytes, DISK_BOUNCE_BUDGET);
	}
	disk_drain(d);
	ck_assert_uint_eq(d->bounce_bytes, 0);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(rec[i].calls, 1);
		ck_assert_int_eq(rec[i].result, 0);
		file_expect(f.path, i * len, buf[i] + 1, len);
		free(buf[i]);
	}
	ck_assert_int_eq(disk_close(d), 0);
	fx_fini(&f);
	return true;
}

START_TEST(test_bounce_budget)
{
	const char *build = getenv("EMBER_BUILDDIR");
	bool ran = bounce_budget_case(_i, scratch_base());

	if (!ran && build && build[0])
		ran = bounce_budget_case(_i, build);
	UNIT_NEED(ran, "no filesystem here takes O_DIRECT ($TMPDIR, $EMBER_BUILDDIR)");
}
END_TEST

/* ---- the guard of a probed raw disk ---- */

static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
static int guard_calls;

/* A second vCPU at work: once the guard has passed a write, its buffer starts like qcow2. */
static void flip_to_magic(struct disk *d, struct disk_req *req)
{
	unsigned int at = 0;

	(void)d;
	for (unsigned int i = 0; i < req->iovcnt && at < sizeof(qcow2_magic); i++) {
		uint8_t *b = req->iov[i].iov_base;

		for (size_t k = 0; k < req->iov[i].iov_len && at < sizeof(qcow2_magic); k++)
			b[k] = qcow2_magic[at++];
	}
	guard_calls++;
}

static int open_probed(struct fx *f, struct disk **d, enum disk_cache cache, char *err,
		       size_t err_len)
{
	struct disk_config cfg = {
		.path = f->path,
		.format = DISK_FORMAT_PROBE,
		.cache = cache,
		.aio = f->aio,
	};

	return disk_open(d, &cfg, err, err_len);
}

/*
 * Writes `len` bytes to sector 0 through `iov` (over src) while the buffer
 * turns into the qcow2 magic after the guard: the file gets the bytes the
 * guard saw, never the magic.
 */
static void guarded_write(struct fx *f, struct disk *d, const struct iovec *iov, unsigned int cnt,
			  uint8_t *src, size_t len, unsigned int seed)
{
	uint8_t *want = malloc(len);
	uint8_t head[4];

	ck_assert_ptr_nonnull(want);
	pattern(src, len, seed);
	memcpy(want, src, len);
	guard_calls = 0;
	ck_assert_int_eq(diskfix_rwv(d, DISK_WRITE, 0, iov, cnt), 0);
	ck_assert_int_eq(guard_calls, 1);
	/* The vCPU did change the buffer. */
	ck_assert_mem_eq(src, qcow2_magic, sizeof(qcow2_magic));
	file_read(f->path, 0, head, sizeof(head));
	ck_assert_msg(memcmp(head, qcow2_magic, sizeof(head)) != 0,
		      "the disk now starts with the qcow2 magic");
	file_expect(f->path, 0, want, len);
	free(want);
}

static void guard_case(struct fx *f, enum disk_cache cache)
{
	const size_t len = 1024 + (DISK_MAX_IOV - 1) * 512;
	struct iovec *iov = calloc(DISK_MAX_IOV, sizeof(*iov));
	uint8_t *buf = NULL;
	struct disk *d = NULL;
	char err[512] = "";
	unsigned int n;
	int ret;

	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, len + 4096), 0);
	ret = open_probed(f, &d, cache, err, sizeof(err));
	if (ret == -EINVAL && cache == DISK_CACHE_NONE && strstr(err, "O_DIRECT")) {
		printf("%s: O_DIRECT refused here, cache=none not tested\n", f->engine);
		goto out;
	}
	ck_assert_msg(ret == 0, "disk_open: %d: %s", ret, err);
	disk_test_guard_hook(d, flip_to_magic);

	/* One buffer, aligned (O_DIRECT takes it as it is) and not (a bounce buffer). */
	for (size_t odd = 0; odd < 2; odd++) {
		iov[0] = (struct iovec){ buf + odd, 4096 };
		guarded_write(f, d, iov, 1, buf + odd, 4096, 1 + (unsigned int)odd);
	}
	/* The magic spread over several buffers, one of them empty. */
	iov[0] = (struct iovec){ buf + 1, 2 };
	iov[1] = (struct iovec){ buf + 3, 0 };
	iov[2] = (struct iovec){ buf + 3, 1 };
	iov[3] = (struct iovec){ buf + 4, 1000 };
	iov[4] = (struct iovec){ buf + 1004, 8192 - 1003 };
	n = 5;
	guarded_write(f, d, iov, n, buf + 1, 8192, 3);
	/* As many buffers as a request may have, the first longer than a sector. */
	iov[0] = (struct iovec){ buf, 1024 };
	for (unsigned int i = 1; i < DISK_MAX_IOV; i++)
		iov[i] = (struct iovec){ buf + 1024 + (i - 1) * 512, 512 };
	guarded_write(f, d, iov, DISK_MAX_IOV, buf, len, 4);

	/* A write that is the magic is still refused, and the hook never runs. */
	memcpy(buf, qcow2_magic, sizeof(qcow2_magic));
	guard_calls = 0;
	ck_assert_int_eq(diskfix_submit(d, &(struct disk_req){ .op = DISK_WRITE,
							       .iov = &(struct iovec){ buf, 512 },
							       .iovcnt = 1,
							       .done = diskfix_done }),
			 -EPERM);
	ck_assert_int_eq(guard_calls, 0);
	ck_assert_int_eq(disk_close(d), 0);
out:
	free(buf);
	free(iov);
}

START_TEST(test_guard_race)
{
	struct fx f;

	fx_init(&f, _i, 1024 * 1024);
	guard_case(&f, DISK_CACHE_WRITEBACK);
	guard_case(&f, DISK_CACHE_NONE);
	fx_fini(&f);
}
END_TEST

/* ---- what the disk logs ---- */

/* Sends stderr to a file in dir until capture_end(), which returns what was written. */
struct capture {
	int saved;
	char path[320];
};

static void capture_start(struct capture *c, const char *dir)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "%s/stderr.log", dir);
	fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	struct stat st;
	char *out;

	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
	close(c->saved);
	ck_assert_int_eq(stat(c->path, &st), 0);
	out = calloc(1, (size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(out);
	file_read(c->path, 0, out, (size_t)st.st_size);
	unlink(c->path);
	return out;
}

static unsigned int count_lines(const char *out, const char *with)
{
	unsigned int n = 0;

	for (const char *p = out; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (memmem(p, l, with, strlen(with)))
			n++;
		p += l + (nl ? 1 : 0);
	}
	return n;
}

/* A guest retrying a refused write as fast as it can: a few log lines, not one each. */
START_TEST(test_guard_log_bounded)
{
	uint8_t buf[512] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct disk_req req = { .op = DISK_WRITE, .iov = &iov, .iovcnt = 1 };
	struct capture c;
	struct fx f;
	struct disk *d = NULL;
	char err[512] = "";
	unsigned int lines;
	char *out;

	fx_init(&f, _i, 65536);
	capture_start(&c, f.dir);
	ck_assert_int_eq(open_probed(&f, &d, DISK_CACHE_WRITEBACK, err, sizeof(err)), 0);
	memcpy(buf, qcow2_magic, sizeof(qcow2_magic));
	for (int i = 0; i < 2000; i++)
		diskfix_expect_refused(d, &req, -EPERM);
	disk_close(d);
	out = capture_end(&c);
	lines = count_lines(out, "look like qcow2");
	/* At least one says so; a window's burst, or two if the loop crossed windows. */
	ck_assert_msg(lines >= 1 && lines <= 10, "%u lines:\n%.2000s", lines, out);
	ck_assert_msg(strstr(out, f.path) != NULL, "the disk is not named:\n%.2000s", out);
	free(out);
	fx_fini(&f);
}
END_TEST

/* ---- which files a disk opens ---- */

/*
 * qemu-img always records a backing file's format now: turn that header
 * extension into one readers skip, so that the backing file's format is
 * probed.
 */
static void forget_backing_format(const char *dir, const char *name)
{
	static const uint8_t ext[4] = { 0xe2, 0x79, 0x2a, 0xca };
	static const uint8_t other[4] = { 0x0e, 0xb0, 0x00, 0x01 };
	char path[320];
	uint8_t head[4096];
	size_t at;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	file_read(path, 0, head, sizeof(head));
	for (at = 72; at + 4 <= sizeof(head); at += 8) {
		if (memcmp(head + at, ext, 4) == 0)
			break;
	}
	ck_assert_msg(at + 4 <= sizeof(head), "%s: no backing format extension", path);
	file_write(path, at, other, sizeof(other));
}

static int open_ro(const char *path, enum disk_format fmt, struct disk **d, char *err,
		   size_t err_len)
{
	struct disk_config cfg = {
		.path = path, .format = fmt, .readonly = true, .aio = DISK_AIO_THREADS
	};

	return disk_open(d, &cfg, err, err_len);
}

/*
 * A FIFO or a device node named as an image or a backing file is refused
 * without being opened: a FIFO would hang ember at start, a device's open
 * can have effects of its own.
 */
START_TEST(test_special_files_refused)
{
	static const char *const tops[] = { "fifo-raw.qcow2", "fifo-probed.qcow2", "null-raw.qcow2",
					    "null-probed.qcow2" };
	char dir[256], path[320], fifo[320], msg[1024], err[512];
	struct inotify_event ev;
	struct disk *d;
	int ifd;

	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "ember-special-"), 0);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	diskfix_sh_ok(dir,
		      "qemu-img create -q -f qcow2 -u -b fifo -F raw fifo-raw.qcow2 1M && "
		      "qemu-img create -q -f qcow2 -u -b fifo -F raw fifo-probed.qcow2 1M && "
		      "qemu-img create -q -f qcow2 -u -b /dev/null -F raw null-raw.qcow2 1M && "
		      "qemu-img create -q -f qcow2 -u -b /dev/null -F raw null-probed.qcow2 1M");
	forget_backing_format(dir, "fifo-probed.qcow2");
	forget_backing_format(dir, "null-probed.qcow2");
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ge(ifd, 0);
	ck_assert_int_ge(inotify_add_watch(ifd, fifo, IN_OPEN | IN_ACCESS), 0);

	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, tops[i]);
		for (enum disk_format fmt = DISK_FORMAT_PROBE; fmt <= DISK_FORMAT_QCOW2; fmt++) {
			if (fmt == DISK_FORMAT_RAW)
				continue;
			d = (struct disk *)1;
			err[0] = 0;
			ck_assert_int_eq(open_ro(path, fmt, &d, err, sizeof(err)), -EINVAL);
			ck_assert_ptr_null(d);
			snprintf(msg, sizeof(msg),
				 "%s: backing file %s: not a regular file or block device", path,
				 i < 2 ? fifo : "/dev/null");
			ck_assert_str_eq(err, msg);
		}
	}
	/* The FIFO as the disk itself. */
	for (enum disk_format fmt = DISK_FORMAT_PROBE; fmt <= DISK_FORMAT_QCOW2; fmt++) {
		struct disk_config cfg = { .path = fifo, .format = fmt, .aio = DISK_AIO_THREADS };

		d = (struct disk *)1;
		ck_assert_int_eq(open_ro(fifo, fmt, &d, err, sizeof(err)), -EINVAL);
		ck_assert_int_eq(disk_open(&d, &cfg, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(d);
		snprintf(msg, sizeof(msg), "%s: not a regular file or block device", fifo);
		ck_assert_str_eq(err, msg);
	}
	/* Nothing opened the FIFO, not even for a moment. */
	ck_assert_int_eq(read(ifd, &ev, sizeof(ev)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(ifd);
	diskfix_sh_ok(dir, "rm -f ./*");
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* One info line per image opened: the disk, then which image pulls in which backing file. */
START_TEST(test_chain_logged)
{
	char dir[256], path[320], want[1024];
	struct capture c;
	struct disk *d;
	char err[512] = "";
	char *out;

	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "ember-chainlog-"), 0);
	diskfix_sh_ok(dir, "head -c 1048576 /dev/zero >base.raw && "
			   "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
			   "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2");
	forget_backing_format(dir, "top.qcow2");
	snprintf(path, sizeof(path), "%s/top.qcow2", dir);
	log_set_level(LOG_LVL_INFO);
	capture_start(&c, dir);
	ck_assert_int_eq(open_ro(path, DISK_FORMAT_QCOW2, &d, err, sizeof(err)), 0);
	disk_close(d);
	out = capture_end(&c);
	log_set_level(LOG_LVL_WARN);
	ck_assert_msg(count_lines(out, ": info: ") == 3, "%s", out);
	snprintf(want, sizeof(want), "ember: info: %s: qcow2 image, read-only\n", path);
	ck_assert_msg(strstr(out, want), "no '%s' in:\n%s", want, out);
	snprintf(want, sizeof(want), "ember: info: %s: backing file %s/mid.qcow2 (qcow2, probed)\n",
		 path, dir);
	ck_assert_msg(strstr(out, want), "no '%s' in:\n%s", want, out);
	snprintf(want, sizeof(want), "ember: info: %s/mid.qcow2: backing file %s/base.raw (raw)\n",
		 dir, dir);
	ck_assert_msg(strstr(out, want), "no '%s' in:\n%s", want, out);
	free(out);

	/* A raw disk is one line too, and says when its format was probed. */
	snprintf(path, sizeof(path), "%s/base.raw", dir);
	log_set_level(LOG_LVL_INFO);
	capture_start(&c, dir);
	ck_assert_int_eq(open_ro(path, DISK_FORMAT_PROBE, &d, err, sizeof(err)), 0);
	disk_close(d);
	out = capture_end(&c);
	log_set_level(LOG_LVL_WARN);
	snprintf(want, sizeof(want), "ember: info: %s: raw image (probed), read-only\n", path);
	ck_assert_msg(count_lines(out, ": info: ") == 1 && strstr(out, want), "%s", out);
	free(out);
	diskfix_sh_ok(dir, "rm -f ./*");
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- falling back from io_uring ---- */

#ifdef __NR_io_uring_setup
/*
 * In a child: io_uring_setup fails with ENOSYS as under a seccomp policy;
 * the disk must still work, on threads. Exit codes: 0 ok, 77 no seccomp,
 * other a failure.
 */
static int fallback_child(const char *path)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	struct disk_config cfg = { .path = path,
				   .format = DISK_FORMAT_RAW,
				   .aio = DISK_AIO_IO_URING };
	struct disk *d;
	char err[512];
	uint8_t src[BLK], dst[BLK];
	struct iovec iov = { src, BLK };
	struct disk_req req = { .op = DISK_WRITE, .iov = &iov, .iovcnt = 1, .done = diskfix_done };
	struct diskfix_rec r = { 0, 1 };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		fprintf(stderr, "%s\n", strerror(errno));
		return 77;
	}
	if (disk_open(&d, &cfg, err, sizeof(err)))
		return 2;
	if (strcmp(disk_engine_name(d), "threads"))
		return 3;
	pattern(src, BLK, 8);
	req.opaque = &r;
	if (disk_submit(d, &req))
		return 4;
	disk_drain(d);
	if (r.calls != 1 || r.result)
		return 5;
	iov.iov_base = dst;
	req.op = DISK_READ;
	if (disk_submit(d, &req))
		return 6;
	disk_drain(d);
	if (r.calls != 2 || r.result || memcmp(src, dst, BLK))
		return 7;
	disk_close(d);
	return 0;
}

START_TEST(test_uring_fallback)
{
	struct fx f;
	int pfd[2], status;
	char out[4096];
	ssize_t n, total = 0;
	pid_t pid;
	int lines = 0;

	fx_init(&f, 1, 65536);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		_exit(fallback_child(f.path));
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + total, sizeof(out) - 1 - (size_t)total)) > 0)
		total += n;
	out[total] = 0;
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		/* The child's reason, without its newline. */
		out[strcspn(out, "\n")] = '\0';
		fx_fini(&f);
		unit_missing(__func__, "no seccomp filter (PR_SET_SECCOMP): %s", out);
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failed at step %d; stderr: %s",
		      WEXITSTATUS(status), out);
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	ck_assert_msg(lines == 1, "expected one log line, got: %s", out);
	ck_assert_msg(strstr(out, "io_uring is unavailable") && strstr(out, strerror(ENOSYS)) &&
			      strstr(out, "thread pool") && strstr(out, f.path),
		      "log line: %s", out);
	fx_fini(&f);
}
END_TEST
#endif

/* Where io_uring does not work, this stands for the io_uring cases left out. */
START_TEST(test_uring_available)
{
	UNIT_NEED(uring_ok, "io_uring_queue_init: %s; the io_uring engine cases did not run",
		  uring_why);
}
END_TEST

/*
 * The ring's operations bypass seccomp, so the kernel holds the disk's ring
 * to reads, writes, syncs and fallocate: an openat queued on it fails.
 * (struct uring in disk_uring.c starts with its ring.)
 */
START_TEST(test_uring_refuses_other_operations)
{
	struct io_uring *ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct disk *d;
	struct fx f;

	UNIT_NEED(uring_ok, "io_uring_queue_init: %s", uring_why);
	fx_init(&f, 0, 4096);
	d = open_disk(&f, false, DISK_CACHE_WRITEBACK);
	ring = d->engine_priv;
	sqe = io_uring_get_sqe(ring);
	ck_assert_ptr_nonnull(sqe);
	io_uring_prep_openat(sqe, AT_FDCWD, f.path, O_RDONLY, 0);
	ck_assert_int_eq(io_uring_submit(ring), 1);
	ck_assert_int_eq(io_uring_wait_cqe(ring, &cqe), 0);
	ck_assert_int_eq(cqe->res, -EACCES);
	io_uring_cqe_seen(ring, cqe);
	disk_close(d);
	fx_fini(&f);
}
END_TEST

static Suite *disk_suite(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("engines");
	/* Every case runs for io_uring (0) and threads (1); io_uring only where it works. */
	int first = uring_ok ? 0 : 1;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_uring_available);
	tcase_add_test(tc, test_uring_refuses_other_operations);
	tcase_add_loop_test(tc, test_open_basic, first, 2);
	tcase_add_loop_test(tc, test_open_errors, first, 2);
	tcase_add_loop_test(tc, test_locks, first, 2);
	tcase_add_loop_test(tc, test_rw_multi_iov, first, 2);
	tcase_add_loop_test(tc, test_discard, first, 2);
	tcase_add_loop_test(tc, test_write_zeroes, first, 2);
	tcase_add_loop_test(tc, test_range_checks, first, 2);
	tcase_add_loop_test(tc, test_readonly, first, 2);
	tcase_add_loop_test(tc, test_inflight_limit, first, 2);
	tcase_add_loop_test(tc, test_many_inflight, first, 2);
	tcase_add_loop_test(tc, test_drain_and_close, first, 2);
	tcase_add_loop_test(tc, test_resubmit_from_done, first, 2);
	tcase_add_loop_test(tc, test_flush_sticky_error, first, 2);
	tcase_add_loop_test(tc, test_flush_modes, first, 2);
	tcase_add_loop_test(tc, test_injected_errors, first, 2);
	tcase_add_loop_test(tc, test_short_transfers, first, 2);
	tcase_add_loop_test(tc, test_direct, first, 2);
	tcase_add_loop_test(tc, test_bounce_budget, first, 2);
#ifdef __NR_io_uring_setup
	tcase_add_test(tc, test_uring_fallback);
#endif
	tcase_add_loop_test(tc, test_guard_race, first, 2);
	tcase_add_loop_test(tc, test_guard_log_bounded, first, 2);
	suite_add_tcase(s, tc);
	/* A hang opening a FIFO must fail the test, not stall it. */
	tc = tcase_create("files");
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_special_files_refused);
	tcase_add_test(tc, test_chain_logged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct io_uring ring;
	int ret = io_uring_queue_init(8, &ring, 0);

	uring_ok = ret == 0;
	if (uring_ok)
		io_uring_queue_exit(&ring);
	else
		snprintf(uring_why, sizeof(uring_why), "%s", strerror(-ret));
	return unit_run(disk_suite());
}
