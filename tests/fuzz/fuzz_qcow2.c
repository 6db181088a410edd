// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is a qcow2 image. It is opened through the
 * disk layer (format probing, the header checks, the backing chain, which
 * any backing file name in the input makes it look for), read-only and
 * then writable. When that succeeds, requests chosen by the image's own
 * bytes run on it: reads through the mapping, the L2 cache and the
 * decompressor, and (writable) writes, zeroes, discards and flushes through
 * allocation and the refcounts. Any crash, sanitizer report, leak or hang
 * is a bug; failed opens and failed requests are expected.
 */
#include "config.h"

#include "block/disk.h"
#include "core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void done(struct disk_req *req, int result)
{
	*(int *)req->opaque = result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[256 * 1024];
	char path[64], err[256];
	struct disk_config cfg = {
		.path = path,
		.format = DISK_FORMAT_PROBE,
		.aio = DISK_AIO_THREADS,
	};
	static const enum disk_op ops[] = { DISK_READ, DISK_WRITE, DISK_WRITE_ZEROES, DISK_DISCARD,
					    DISK_FLUSH };
	struct disk *d;
	int fd, result;

	log_set_level(LOG_LVL_ERROR);
	fd = memfd_create("fuzz.qcow2", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int writable = 0; writable < 2; writable++) {
		uint64_t dsize;

		cfg.readonly = !writable;
		if (disk_open(&d, &cfg, err, sizeof(err)) != 0)
			continue;
		dsize = disk_size(d);
		/* A handful of requests at offsets and lengths the input picks. */
		for (size_t i = 0; i + 8 <= size && i < 12 * 8 && dsize; i += 8) {
			uint64_t v;
			struct iovec iov;
			struct disk_req req = { .iov = &iov, .iovcnt = 1 };

			memcpy(&v, data + i, 8);
			req.op = writable ? ops[(v >> 32) % 5] : DISK_READ;
			req.offset = v % dsize;
			req.unmap = v & (1ULL << 31);
			iov.iov_base = buf;
			iov.iov_len = 1 + (v >> 40) % sizeof(buf);
			if (iov.iov_len > dsize - req.offset)
				iov.iov_len = dsize - req.offset;
			req.len = iov.iov_len;
			req.done = done;
			req.opaque = &result;
			if (disk_submit(d, &req) == 0)
				disk_drain(d);
		}
		disk_close(d);
	}
	close(fd);
	return 0;
}
