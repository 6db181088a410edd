// SPDX-License-Identifier: MIT
/*
 * blkbench: the disk benchmark's guest side, a static program in the guest's
 * initramfs. It measures one block device with O_DIRECT, so the guest's page
 * cache is out of the picture:
 *
 *   blkbench DEV seqread MIB       sequential 1 MiB reads of the first MIB MiB
 *   blkbench DEV seqwrite MIB      the same, writing, then fdatasync
 *   blkbench DEV randread QD SECS  4 KiB reads at random aligned offsets, QD in
 *                                  flight (Linux AIO), for SECS seconds
 *   blkbench DEV randwrite QD SECS the same, writing, then fdatasync
 *
 * and prints one line: "blkbench MODE ... VALUE UNIT" with MB/s (10^6 bytes
 * per second) or IOPS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h> /* BLKGETSIZE64 */
#define SEQ_BLOCK (1U << 20)
#define RAND_BLOCK 4096U
#define MAX_QD 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "blkbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *aligned(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("posix_memalign");
	memset(p, 0x5a, n);
	return p;
}

static void sequential(int fd, int write, unsigned long mib)
{
	uint8_t *buf = aligned(SEQ_BLOCK);
	unsigned long long total = (unsigned long long)mib << 20;
	double t0 = now(), t;

	for (unsigned long long off = 0; off < total; off += SEQ_BLOCK) {
		ssize_t n = write ? pwrite(fd, buf, SEQ_BLOCK, (off_t)off)
				  : pread(fd, buf, SEQ_BLOCK, (off_t)off);

		if (n != (ssize_t)SEQ_BLOCK)
			die(write ? "pwrite" : "pread");
	}
	if (write && fdatasync(fd) < 0)
		die("fdatasync");
	t = now() - t0;
	printf("blkbench seq%s %lu MiB in %.3f s: %.1f MB/s\n", write ? "write" : "read", mib, t,
	       (double)total / t / 1e6);
	free(buf);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_offset(uint64_t blocks)
{
	/* xorshift64: cheap, and the same sequence under every VMM. */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng % blocks) * RAND_BLOCK;
}

static void random_io(int fd, int write, unsigned int qd, double secs)
{
	struct iocb cbs[MAX_QD], *list[MAX_QD];
	struct io_event ev[MAX_QD];
	aio_context_t ctx = 0;
	uint64_t size, blocks, done = 0;
	uint8_t *buf;
	double t0, t;
	unsigned int inflight = 0;

	if (qd < 1 || qd > MAX_QD) {
		fprintf(stderr, "blkbench: queue depth 1..%d\n", MAX_QD);
		exit(2);
	}
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		die("BLKGETSIZE64");
	blocks = size / RAND_BLOCK;
	buf = aligned((size_t)qd * RAND_BLOCK);
	if (syscall(SYS_io_setup, qd, &ctx) < 0)
		die("io_setup");
	t0 = now();
	for (unsigned int i = 0; i < qd; i++) {
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_fildes = (uint32_t)fd;
		cbs[i].aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)i * RAND_BLOCK);
		cbs[i].aio_nbytes = RAND_BLOCK;
		cbs[i].aio_offset = (int64_t)next_offset(blocks);
		list[i] = &cbs[i];
	}
	if (syscall(SYS_io_submit, ctx, (long)qd, list) != (long)qd)
		die("io_submit");
	inflight = qd;
	while (inflight) {
		long n = syscall(SYS_io_getevents, ctx, 1L, (long)qd, ev, NULL);
		int more = now() - t0 < secs;
		unsigned int k = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("io_getevents");
		}
		for (long i = 0; i < n; i++) {
			struct iocb *cb = (struct iocb *)(uintptr_t)ev[i].obj;

			if (ev[i].res != (int64_t)RAND_BLOCK) {
				fprintf(stderr, "blkbench: %s returned %lld\n",
					write ? "write" : "read", (long long)ev[i].res);
				exit(1);
			}
			done++;
			inflight--;
			if (more) {
				cb->aio_offset = (int64_t)next_offset(blocks);
				list[k++] = cb;
			}
		}
		if (k) {
			if (syscall(SYS_io_submit, ctx, (long)k, list) != (long)k)
				die("io_submit");
			inflight += k;
		}
	}
	/* Written data counts once it is on the disk. */
	if (write && fdatasync(fd) < 0)
		die("fdatasync");
	t = now() - t0;
	syscall(SYS_io_destroy, ctx);
	printf("blkbench rand%s qd%u %llu %ss in %.3f s: %.0f IOPS\n", write ? "write" : "read", qd,
	       (unsigned long long)done, write ? "write" : "read", t, (double)done / t);
	free(buf);
}

int main(int argc, char **argv)
{
	int fd, write;

	if (argc < 4) {
		fprintf(stderr, "usage: blkbench DEV seqread|seqwrite MIB | randread|randwrite QD "
				"SECS\n");
		return 2;
	}
	write = strcmp(argv[2], "seqwrite") == 0 || strcmp(argv[2], "randwrite") == 0;
	fd = open(argv[1], (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		die(argv[1]);
	if (strcmp(argv[2], "seqread") == 0 || strcmp(argv[2], "seqwrite") == 0)
		sequential(fd, write, strtoul(argv[3], NULL, 0));
	else if ((strcmp(argv[2], "randread") == 0 || strcmp(argv[2], "randwrite") == 0) &&
		 argc == 5)
		random_io(fd, write, (unsigned int)strtoul(argv[3], NULL, 0),
			  strtod(argv[4], NULL));
	else
		return 2;
	close(fd);
	return 0;
}
