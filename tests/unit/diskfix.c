// SPDX-License-Identifier: MIT
#include "config.h"

#include "diskfix.h"
#include "block/disk_internal.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char diskfix_err[256];
char diskfix_dir[192];
const enum disk_aio diskfix_engines[2] = { DISK_AIO_IO_URING, DISK_AIO_THREADS };

int diskfix_sh(const char *where, const char *cmd)
{
	char line[2048];

	snprintf(line, sizeof(line), "cd '%s' && { %s; } >/dev/null 2>&1", where, cmd);
	return system(line);
}

void diskfix_sh_ok(const char *where, const char *cmd)
{
	ck_assert_msg(diskfix_sh(where, cmd) == 0, "%s", cmd);
}

void diskfix_mkdir_in(const char *base)
{
	int ret = scratch_dir_in(diskfix_dir, sizeof(diskfix_dir), base, "ember-chain-");

	ck_assert_msg(ret == 0, "a scratch directory in %s: %s", base, strerror(-ret));
}

void diskfix_mkdir(void)
{
	diskfix_mkdir_in(scratch_base());
}

void diskfix_expect_engine(struct disk *d, enum disk_aio aio)
{
	if (aio == DISK_AIO_IO_URING && strcmp(disk_engine_name(d), "io_uring") != 0)
		unit_missing("io_uring", "the io_uring engine is unavailable; %s ran instead",
			     disk_engine_name(d));
}

bool diskfix_dir_takes_direct(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/direct-probe", diskfix_dir);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	else
		ck_assert_msg(errno == EINVAL, "%s: %s", path, strerror(errno));
	unlink(path);
	return fd >= 0;
}

void diskfix_rmdir(void)
{
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "rm -rf ./*"), 0);
	ck_assert_int_eq(rmdir(diskfix_dir), 0);
}

int diskfix_open(struct disk **d, const char *name, enum disk_format fmt, bool ro,
		 enum disk_aio aio)
{
	char path[256];
	struct disk_config cfg = { .path = path, .format = fmt, .readonly = ro, .aio = aio };
	int ret;

	snprintf(path, sizeof(path), "%s/%s", diskfix_dir, name);
	diskfix_err[0] = '\0';
	ret = disk_open(d, &cfg, diskfix_err, sizeof(diskfix_err));
	if (ret == 0)
		diskfix_expect_engine(*d, aio);
	return ret;
}

/* Set around disk_submit(): a done callback must never run inside it. */
static bool submitting;

void diskfix_done(struct disk_req *req, int result)
{
	struct diskfix_rec *r = req->opaque;

	ck_assert_msg(!submitting, "done called inside disk_submit");
	r->calls++;
	r->result = result;
}

int diskfix_submit(struct disk *d, struct disk_req *req)
{
	int ret;

	submitting = true;
	ret = disk_submit(d, req);
	submitting = false;
	return ret;
}

static int run(struct disk *d, struct disk_req *req, bool must_accept)
{
	struct diskfix_rec r = { 0, 0 };
	int ret;

	req->done = diskfix_done;
	req->opaque = &r;
	ret = diskfix_submit(d, req);
	if (must_accept)
		ck_assert_int_eq(ret, 0);
	if (ret < 0)
		return ret;
	ck_assert_int_eq(r.calls, 0);
	disk_drain(d);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(disk_inflight(d), 0);
	return r.result;
}

int diskfix_run(struct disk *d, struct disk_req *req)
{
	return run(d, req, false);
}

int diskfix_rwv(struct disk *d, enum disk_op op, uint64_t off, const struct iovec *iov,
		unsigned int cnt)
{
	struct disk_req req = { .op = op, .offset = off, .iov = iov, .iovcnt = cnt };

	return run(d, &req, false);
}

int diskfix_rw(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { buf, len };

	return diskfix_rwv(d, op, off, &iov, 1);
}

int diskfix_read(struct disk *d, uint64_t off, void *buf, size_t len)
{
	return diskfix_rw(d, DISK_READ, off, buf, len);
}

int diskfix_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
	return diskfix_rw(d, DISK_WRITE, off, (void *)buf, len);
}

int diskfix_op(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap)
{
	struct disk_req req = { .op = op, .offset = off, .len = len, .unmap = unmap };

	return run(d, &req, false);
}

int diskfix_rw_accepted(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct disk_req req = { .op = op, .offset = off, .iov = &iov, .iovcnt = 1 };

	return run(d, &req, true);
}

int diskfix_op_accepted(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, bool unmap)
{
	struct disk_req req = { .op = op, .offset = off, .len = len, .unmap = unmap };

	return run(d, &req, true);
}

void diskfix_expect_refused(struct disk *d, struct disk_req *req, int err)
{
	struct diskfix_rec r = { 0, 0 };

	if (!req->done)
		req->done = diskfix_done;
	req->opaque = &r;
	ck_assert_int_eq(diskfix_submit(d, req), err);
	disk_drain(d);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(disk_inflight(d), 0);
}

unsigned int diskfix_run_steps(struct disk *d, struct disk_req *req)
{
	struct diskfix_rec r = { 0, 0 };
	unsigned int steps = 0, n;

	req->done = diskfix_done;
	req->opaque = &r;
	ck_assert_int_eq(diskfix_submit(d, req), 0);
	while (!r.calls) {
		n = d->engine->reap(d);
		steps += n;
		if (!n && !r.calls)
			d->engine->wait(d);
	}
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.result, 0);
	return steps;
}

uint8_t *diskfix_slurp(const char *name, size_t *len)
{
	char path[256];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", diskfix_dir, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}
