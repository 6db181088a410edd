// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is a qcow2 image, and what is done with it.
 * It is opened through the disk layer (format probing, the header checks,
 * the backing chain, which any backing file name in the input makes it look
 * for): read-only, then writable, then read-only again, to read what the
 * writes left. Each time, requests the input chooses run on it: reads
 * through the mapping, the L2 cache and the decompressor, and (writable)
 * writes, zeroes, discards and flushes through allocation and the
 * refcounts.
 *
 * The image's file may be much larger than the input: it is extended,
 * sparse, to up to 256 MiB, and the input's tail may be placed at its end,
 * so that tables can lie far from the header and clusters get allocated
 * (and refcount tables grow) far into the file, while the process's memory
 * stays small. The dirty bit may be set, so that the writable open rebuilds
 * the refcounts first.
 *
 * Input layout (all little-endian):
 *   byte 0      flags: FL_DIRTY, FL_UNSAFE (cache=unsafe: no syncs)
 *   bytes 1-2   the file's size in MiB (mod 257); 0, or less than the
 *               image: the image's own length
 *   bytes 3-4   how many of the image's last bytes go at the end of the file
 *   byte 5      how many requests follow (mod 33)
 *   8 bytes per request: op, offset and length (see run_requests())
 *   the image
 *
 * Any crash, sanitizer report, leak or hang is a bug; failed opens and
 * failed requests are expected. A request that is accepted must complete
 * exactly once, and one that is refused never.
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

#define FL_DIRTY 1u
#define FL_UNSAFE 2u
#define CTL_BYTES 6
#define MAX_REQS 32
#define MAX_FILE_MIB 256
#define BUF_BYTES (256 * 1024)
/* Header offsets: the version, and the incompatible feature bits (dirty is bit 0). */
#define H_VERSION 4
#define H_INCOMPAT 72

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rec {
	int calls;
	int result;
};

static void done(struct disk_req *req, int result)
{
	struct rec *r = req->opaque;

	r->calls++;
	r->result = result;
}

/*
 * Each request's 8 bytes, as v: bits 32-34 the op (reads only when
 * read-only), bit 31 unmap, the low bits the offset (mod the disk's size),
 * bits 40-63 the length (1 to 256 KiB, clipped at the end of the disk);
 * half the offsets are rounded down to 512 bytes, as a guest's are.
 */
static void run_requests(struct disk *d, const uint8_t *reqs, unsigned int n, bool writable)
{
	static const enum disk_op ops[] = { DISK_READ,	  DISK_WRITE, DISK_WRITE_ZEROES,
					    DISK_DISCARD, DISK_FLUSH, DISK_WRITE };
	static uint8_t buf[BUF_BYTES];
	uint64_t dsize = disk_size(d);

	for (unsigned int i = 0; i < n && dsize; i++) {
		struct disk_req req = { 0 };
		struct rec rec = { 0 };
		struct iovec iov;
		uint64_t v;
		int ret;

		memcpy(&v, reqs + 8 * i, 8);
		req.op = writable ? ops[((v >> 32) & 7) % 6] : DISK_READ;
		req.offset = v % dsize;
		if (v & (1ULL << 30))
			req.offset &= ~511ULL;
		req.unmap = v & (1ULL << 31);
		iov.iov_base = buf;
		iov.iov_len = 1 + (v >> 40) % BUF_BYTES;
		if (iov.iov_len > dsize - req.offset)
			iov.iov_len = dsize - req.offset;
		if (req.op == DISK_WRITE)
			memset(buf, (int)(v >> 56), iov.iov_len);
		req.iov = &iov;
		req.iovcnt = 1;
		req.len = iov.iov_len;
		req.done = done;
		req.opaque = &rec;
		ret = disk_submit(d, &req);
		if (ret == 0)
			disk_drain(d);
		/* Accepted: done exactly once, by the drain. Refused: never. */
		if (rec.calls != (ret == 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int passes[] = { 0, 1, 0 }; /* writable? */
	char path[64], err[256];
	struct disk_config cfg = {
		.path = path,
		.format = DISK_FORMAT_PROBE,
		.aio = DISK_AIO_THREADS,
	};
	const uint8_t *reqs, *img;
	unsigned int flags, nreq;
	size_t img_len, tail;
	uint64_t file_size;
	struct disk *d;
	int fd;

	log_set_level(LOG_LVL_ERROR);
	if (size < CTL_BYTES)
		return 0;
	flags = data[0];
	file_size = (uint64_t)((data[1] | data[2] << 8) % (MAX_FILE_MIB + 1)) << 20;
	tail = (size_t)(data[3] | data[4] << 8);
	nreq = data[5] % (MAX_REQS + 1);
	if (size - CTL_BYTES < 8 * (size_t)nreq)
		nreq = (unsigned int)((size - CTL_BYTES) / 8);
	reqs = data + CTL_BYTES;
	img = reqs + 8 * nreq;
	img_len = size - CTL_BYTES - 8 * (size_t)nreq;
	if (file_size < img_len)
		file_size = img_len;
	if (tail > img_len)
		tail = img_len;

	fd = memfd_create("fuzz.qcow2", 0);
	if (fd < 0)
		return 0;
	/* The head at 0, the tail at the end of the file, holes (zeroes) between. */
	if (ftruncate(fd, (off_t)file_size) < 0 ||
	    pwrite(fd, img, img_len - tail, 0) != (ssize_t)(img_len - tail) ||
	    pwrite(fd, img + img_len - tail, tail, (off_t)(file_size - tail)) != (ssize_t)tail) {
		close(fd);
		return 0;
	}
	if ((flags & FL_DIRTY) && img_len - tail >= H_INCOMPAT + 8 && img[H_VERSION + 3] == 3) {
		/* Version 3's dirty bit: the writable open rebuilds the refcounts. */
		uint8_t bit = img[H_INCOMPAT + 7] | 1;

		if (pwrite(fd, &bit, 1, H_INCOMPAT + 7) != 1) {
			close(fd);
			return 0;
		}
	}
	cfg.cache = flags & FL_UNSAFE ? DISK_CACHE_UNSAFE : DISK_CACHE_WRITEBACK;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t p = 0; p < sizeof(passes) / sizeof(passes[0]); p++) {
		cfg.readonly = !passes[p];
		if (disk_open(&d, &cfg, err, sizeof(err)) != 0)
			continue;
		run_requests(d, reqs, nreq, passes[p]);
		disk_close(d);
	}
	close(fd);
	return 0;
}
