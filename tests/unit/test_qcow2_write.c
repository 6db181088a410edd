// SPDX-License-Identifier: MIT
/*
 * Writing qcow2 images through the disk layer, with qemu-img as the judge:
 * random writes, zeroes and discards on images of every shape qemu-img
 * makes leave an image `qemu-img check` finds clean and `qemu-img convert`
 * reads as ember does; backing files stay untouched; a process killed while
 * writing leaves at worst leaks, and every write a completed FLUSH covered;
 * images ember must not write are refused, and hostile refcounts fail the
 * write instead of overwriting metadata.
 */
#include "config.h"

#include "block/disk.h"
#include "block/disk_internal.h"
#include "diskfix.h"
#include "unit.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void need_qemu_img(void)
{
	ck_assert_msg(system("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") ==
			      0,
		      "qemu-img and qemu-io are not installed (Debian's qemu-utils)");
}

static void assert_same(const uint8_t *got, const uint8_t *want, size_t size, const char *who)
{
	size_t i = 0;

	if (memcmp(got, want, size) == 0)
		return;
	while (got[i] == want[i])
		i++;
	ck_abort_msg("%s: byte %zu is 0x%02x, not 0x%02x", who, i, got[i], want[i]);
}

/* qemu-img check's exit status: 0 clean, 2 corrupt, 3 leaks only. */
static int check_status(const char *name)
{
	char cmd[256];
	int st;

	snprintf(cmd, sizeof(cmd), "qemu-img check -q %s", name);
	/*
	 * 1: qemu-img could not open the image, as when a killed writer's lock
	 * outlives it while the kernel still ends its io_uring requests. Those
	 * end within moments; a status of 1 that lasts 5 s is the answer.
	 */
	for (unsigned int tries = 0;; tries++) {
		st = diskfix_sh(diskfix_dir, cmd);
		ck_assert(WIFEXITED(st));
		if (WEXITSTATUS(st) != 1 || tries == 50)
			return WEXITSTATUS(st);
		usleep(100000);
	}
}

/* What qemu-img reads in the image equals `want`. */
static void qemu_img_reads(const char *name, const uint8_t *want, size_t size)
{
	char cmd[256];
	uint8_t *got;
	size_t len;

	snprintf(cmd, sizeof(cmd), "rm -f conv.raw && qemu-img convert -O raw %s conv.raw", name);
	ck_assert_int_eq(diskfix_sh(diskfix_dir, cmd), 0);
	got = diskfix_slurp("conv.raw", &len);
	ck_assert_uint_eq(len, size);
	assert_same(got, want, size, name);
	free(got);
}

static void ember_reads(struct disk *d, const uint8_t *want, size_t size)
{
	uint8_t *got = malloc(size);

	ck_assert_ptr_nonnull(got);
	memset(got, 0xee, size);
	ck_assert_int_eq(diskfix_read(d, 0, got, size), 0);
	assert_same(got, want, size, "ember");
	free(got);
}

/* A random range: byte-granular now and then, mostly sector-aligned, up to 3 clusters of 64K. */
static void pick_range(size_t size, uint64_t *off, uint64_t *len)
{
	uint64_t max = 3 * 65536 + 1000;

	*len = 1 + next_rand() % max;
	if (*len > size)
		*len = size;
	*off = next_rand() % (size - *len + 1);
	if (next_rand() % 4) {
		*off &= ~511ULL;
		*len = (*len + 511) & ~511ULL;
		if (*off + *len > size)
			*len = size - *off;
	}
}

/*
 * Random writes, WRITE_ZEROES (with and without unmap), DISCARDs and
 * FLUSHes, mirrored in `want` (a discarded range becomes what ember then
 * reads there, as its contents are unspecified).
 */
static void random_io(struct disk *d, uint8_t *want, size_t size, unsigned int ops)
{
	uint8_t *buf = malloc(4 * 65536);

	ck_assert_ptr_nonnull(buf);
	for (unsigned int i = 0; i < ops; i++) {
		unsigned int what = (unsigned int)(next_rand() % 20);
		uint64_t off, len;

		pick_range(size, &off, &len);
		if (what < 11) {
			for (uint64_t k = 0; k < len; k++)
				buf[k] = (uint8_t)(next_rand() >> 24);
			ck_assert_int_eq(diskfix_write(d, off, buf, len), 0);
			memcpy(want + off, buf, len);
		} else if (what < 15) {
			ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, off, len, what < 13), 0);
			memset(want + off, 0, len);
		} else if (what < 17) {
			ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, off, len, false), 0);
			ck_assert_int_eq(diskfix_read(d, off, want + off, len), 0);
		} else if (what < 18) {
			ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
		} else {
			ck_assert_int_eq(diskfix_read(d, off, buf, len), 0);
			ck_assert_msg(memcmp(buf, want + off, len) == 0,
				      "op %u: read of %llu bytes at %llu differs", i,
				      (unsigned long long)len, (unsigned long long)off);
		}
	}
	free(buf);
}

/* Image shapes, each made by qemu-img from base.raw (random bytes) where it has one. */
static const struct variant {
	const char *make;
	bool backing;	/* t.qcow2's contents start as base.raw's */
	bool from_base; /* converted from base.raw: starts with its bytes */
} variants[] = {
	{ "qemu-img create -q -f qcow2 t.qcow2 8M", false, false },
	{ "qemu-img create -q -f qcow2 -o compat=0.10 t.qcow2 8M", false, false },
	{ "qemu-img create -q -f qcow2 -o cluster_size=4096,refcount_bits=1 t.qcow2 8M", false,
	  false },
	{ "qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=8 t.qcow2 8M", false,
	  false },
	{ "qemu-img create -q -f qcow2 -o refcount_bits=64 t.qcow2 8M", false, false },
	/* Its refcount table covers 2 MiB of file: it has to grow. */
	{ "qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 t.qcow2 8M", false,
	  false },
	{ "qemu-img convert -c -f raw -O qcow2 base.raw t.qcow2", false, true },
	{ "qemu-img convert -c -f raw -O qcow2 base.raw c.qcow2 && "
	  "qemu-img create -q -f qcow2 -b c.qcow2 -F qcow2 t.qcow2",
	  true, true },
	{ "qemu-img create -q -f qcow2 -o compat=0.10 -b base.raw -F raw t.qcow2", true, true },
	{ "qemu-img convert -f raw -O qcow2 base.raw t.qcow2", false, true },
};

START_TEST(random_io_matches_qemu_img)
{
	const struct variant *v = &variants[_i];
	const size_t size = 8 << 20;
	uint8_t *want, *base, *after;
	size_t len;
	struct disk *d;

	need_qemu_img();
	diskfix_mkdir();
	rng = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "head -c 8388608 /dev/urandom >base.raw && "
				    "qemu-io -f raw -c 'write -z 1048576 1048576' base.raw"),
			 0);
	ck_assert_msg(diskfix_sh(diskfix_dir, v->make) == 0, "%s", v->make);
	base = diskfix_slurp("base.raw", &len);
	ck_assert_uint_eq(len, size);
	want = calloc(1, size);
	ck_assert_ptr_nonnull(want);
	if (v->from_base)
		memcpy(want, base, size);

	ck_assert_msg(
		diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, diskfix_engines[_i % 2]) == 0,
		"%s", diskfix_err);
	ember_reads(d, want, size);
	random_io(d, want, size, 300);
	ember_reads(d, want, size);
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_msg(check_status("t.qcow2") == 0, "%s: qemu-img check is not clean", v->make);
	qemu_img_reads("t.qcow2", want, size);

	/* Reopened: the allocations it finds are respected, and writing goes on. */
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false,
				      diskfix_engines[(_i + 1) % 2]),
			 0);
	ember_reads(d, want, size);
	random_io(d, want, size, 100);
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_msg(check_status("t.qcow2") == 0, "%s: not clean after reopening", v->make);
	qemu_img_reads("t.qcow2", want, size);

	/* The backing files were only read. */
	after = diskfix_slurp("base.raw", &len);
	ck_assert(len == size && memcmp(after, base, size) == 0);
	free(after);
	free(base);
	free(want);
	diskfix_rmdir();
}
END_TEST

/* How many clusters qemu-img check finds allocated. */
static unsigned long allocated(const char *name)
{
	char cmd[256], line[256];
	unsigned long n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd '%s' && qemu-img check %s", diskfix_dir, name);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "allocated"))
			n = strtoul(line, NULL, 10);
	pclose(f);
	return n;
}

/*
 * DISCARD and WRITE_ZEROES with unmap free whole clusters: their refcounts
 * drop and the host file gets the space back; WRITE_ZEROES without unmap
 * keeps them (as preallocated zero clusters).
 */
START_TEST(discards_free_clusters)
{
	const size_t size = 4 << 20;
	uint8_t *buf = malloc(size);
	struct disk *d;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 4M"), 0);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_IO_URING),
			 0);
	memset(buf, 0x42, size);
	ck_assert_int_eq(diskfix_write(d, 0, buf, size), 0);
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_uint_eq(allocated("t.qcow2"), 64);
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "test $(du -k t.qcow2 | cut -f1) -ge 4096"), 0);

	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_IO_URING),
			 0);
	/* Partial clusters at either end stay; the 30 whole ones between go. */
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 1000, 31 * 65536, false), 0);
	/* 16 clusters zeroed and freed, 8 zeroed in place. */
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, 2 << 20, 1 << 20, true), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_WRITE_ZEROES, 3 << 20, 512 << 10, false), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	/* The next request, with nothing in flight, lets the refcounts drop. */
	ck_assert_int_eq(diskfix_read(d, 0, buf, 4096), 0);
	memset(buf, 0, size);
	ck_assert_int_eq(diskfix_read(d, 2 << 20, buf, 1536 << 10), 0);
	for (size_t i = 0; i < 1536 << 10; i++)
		if (buf[i])
			ck_abort_msg("byte %zu of the zeroed range is 0x%02x", i, buf[i]);
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	ck_assert_uint_eq(allocated("t.qcow2"), 64 - 30 - 16);
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "test $(du -k t.qcow2 | cut -f1) -lt 3500"), 0);
	free(buf);
	diskfix_rmdir();
}
END_TEST

/*
 * The other cache modes: O_DIRECT for guest data with the page cache for
 * metadata (none), every write durable (directsync), no syncs (unsafe).
 */
START_TEST(cache_modes_write_the_same)
{
	static const enum disk_cache modes[] = { DISK_CACHE_NONE, DISK_CACHE_DIRECTSYNC,
						 DISK_CACHE_UNSAFE };
	const size_t size = 8 << 20;
	enum disk_cache mode = modes[_i];
	const char *build = getenv("EMBER_BUILDDIR");
	uint8_t *want;
	char path[256];
	struct disk_config cfg = { .path = path, .format = DISK_FORMAT_QCOW2, .cache = mode };
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	if (mode != DISK_CACHE_UNSAFE && !diskfix_dir_takes_direct() && build && build[0]) {
		/* $TMPDIR may be a tmpfs that refuses O_DIRECT; the build tree is on a disk. */
		diskfix_rmdir();
		diskfix_mkdir_in(build);
	}
	if (mode != DISK_CACHE_UNSAFE && !diskfix_dir_takes_direct()) {
		diskfix_rmdir();
		UNIT_NEED(false, "no filesystem here takes O_DIRECT ($TMPDIR, $EMBER_BUILDDIR)");
	}
	rng = 0x1234567ULL + (uint64_t)_i;
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "head -c 8388608 /dev/urandom >base.raw && "
				    "qemu-img create -q -f qcow2 -b base.raw -F raw t.qcow2"),
			 0);
	want = diskfix_slurp("base.raw", &len);
	snprintf(path, sizeof(path), "%s/t.qcow2", diskfix_dir);
	for (int e = 0; e < 2; e++) {
		int ret;

		cfg.aio = diskfix_engines[e];
		ret = disk_open(&d, &cfg, diskfix_err, sizeof(diskfix_err));
		ck_assert_msg(ret == 0, "%s", diskfix_err);
		diskfix_expect_engine(d, cfg.aio);
		random_io(d, want, size, 150);
		ember_reads(d, want, size);
		ck_assert_int_eq(disk_close(d), 0);
		ck_assert_int_eq(check_status("t.qcow2"), 0);
		qemu_img_reads("t.qcow2", want, size);
	}
	free(want);
	diskfix_rmdir();
}
END_TEST

static uint64_t be64_in(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static void patch(const char *name, uint64_t off, const void *bytes, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", diskfix_dir, name);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/*
 * A dirty image (lazy refcounts, and qemu-io aborted after writing) has
 * stale refcounts: a writable open rebuilds them and clears the bit, so
 * that qemu-img check finds it clean and new clusters do not land on old
 * data. A read-only open leaves it as it is.
 */
START_TEST(dirty_images_are_repaired)
{
	const size_t size = 8 << 20;
	uint8_t *want = calloc(1, size), *img;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(
		diskfix_sh(diskfix_dir,
			   "qemu-img create -q -f qcow2 -o lazy_refcounts=on t.qcow2 8M && "
			   "{ qemu-io -c 'write -P 0x11 0 1M' -c 'write -P 0x22 3M 200k' "
			   "-c abort t.qcow2; true; }"),
		0);
	memset(want, 0x11, 1 << 20);
	memset(want + (3 << 20), 0x22, 200 << 10);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(img[79] & 1, 1);
	free(img);
	ck_assert_int_eq(check_status("t.qcow2"), 2);

	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
	ember_reads(d, want, size);
	disk_close(d);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(img[79] & 1, 1);
	free(img);

	ck_assert_msg(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_IO_URING) == 0,
		      "%s", diskfix_err);
	random_io(d, want, size, 200);
	ember_reads(d, want, size);
	ck_assert_int_eq(disk_close(d), 0);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(img[79] & 1, 0);
	free(img);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	qemu_img_reads("t.qcow2", want, size);
	free(want);
	diskfix_rmdir();
}
END_TEST

/*
 * A hostile dirty image: two L2 entries share one data cluster, and its
 * refcounts are one bit wide, so the rebuilt count (2) would overflow. The
 * writable open is refused with a message; reading still works.
 */
START_TEST(dirty_image_with_refcount_overflow_is_refused)
{
	uint8_t *img, dirty = 1;
	uint64_t l1, l2, entry;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "qemu-img create -q -f qcow2 -o refcount_bits=1 t.qcow2 4M && "
				    "qemu-io -c 'write -P 0x33 0 65536' t.qcow2"),
			 0);
	img = diskfix_slurp("t.qcow2", &len);
	l1 = be64_in(img + 40);
	l2 = be64_in(img + l1) & 0x00fffffffffffe00ULL;
	entry = htobe64(be64_in(img + l2));
	free(img);
	patch("t.qcow2", l2 + 8, &entry, 8);
	patch("t.qcow2", 79, &dirty, 1);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 -EINVAL);
	ck_assert_msg(strstr(diskfix_err, "dirty") && strstr(diskfix_err, "readonly=on"), "%s",
		      diskfix_err);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
	disk_close(d);
	diskfix_rmdir();
}
END_TEST

/* Images ember must not write are refused by name, and still read. */
START_TEST(unwritable_images_are_refused)
{
	static const struct {
		const char *make;
		const char *needle;
	} cases[] = {
		{ "qemu-img snapshot -c s1 t.qcow2", "snapshots" },
		{ "printf '\\002' | dd of=t.qcow2 bs=1 seek=79 conv=notrunc", "corrupt" },
	};
	struct disk *d;

	need_qemu_img();
	diskfix_mkdir();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(
			diskfix_sh(diskfix_dir,
				   "rm -f t.qcow2 && "
				   "qemu-img create -q -f qcow2 -o lazy_refcounts=on t.qcow2 1M"),
			0);
		ck_assert_int_eq(diskfix_sh(diskfix_dir, cases[i].make), 0);
		ck_assert_int_eq(
			diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			-EINVAL);
		ck_assert_msg(strstr(diskfix_err, cases[i].needle) &&
				      strstr(diskfix_err, "readonly=on"),
			      "%s", diskfix_err);
		ck_assert_int_eq(
			diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
		disk_close(d);
	}
	diskfix_rmdir();
}
END_TEST

/* Autoclear bits (bitmaps, say) are cleared by a writable open only. */
START_TEST(autoclear_bits_are_cleared)
{
	static const uint8_t bits[8] = { 0, 0, 0, 0, 0, 0, 0, 0x81 };
	struct disk *d;
	uint8_t *img;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 1M"), 0);
	patch("t.qcow2", 88, bits, sizeof(bits));
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
	disk_close(d);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(be64_in(img + 88), 0x81);
	free(img);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	disk_close(d);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(be64_in(img + 88), 0);
	free(img);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	diskfix_rmdir();
}
END_TEST

/*
 * A hostile image whose L2 table has refcount 0: the next allocation would
 * land on the table. The write fails with EIO, the table is untouched, and
 * later writes fail too.
 */
START_TEST(metadata_with_refcount_0_is_not_overwritten)
{
	uint8_t data[4096], zero[2] = { 0, 0 }, *img, *before;
	uint64_t reftable, refblock, l1, l2;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 4M && "
						 "qemu-io -c 'write -P 0x5a 0 65536' t.qcow2"),
			 0);
	img = diskfix_slurp("t.qcow2", &len);
	l1 = be64_in(img + 40);
	reftable = be64_in(img + 48);
	refblock = be64_in(img + reftable);
	l2 = be64_in(img + l1) & 0x00fffffffffffe00ULL;
	free(img);
	/* 16-bit refcounts, 64 KiB clusters: the L2 table's entry. */
	patch("t.qcow2", refblock + 2 * (l2 >> 16), zero, 2);
	before = diskfix_slurp("t.qcow2", &len);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	memset(data, 0x77, sizeof(data));
	ck_assert_int_eq(diskfix_write(d, 1 << 20, data, sizeof(data)), -EIO);
	ck_assert_int_eq(diskfix_write(d, 2 << 20, data, sizeof(data)), -EIO);
	/* The cluster it owns is still written in place, and reads fine. */
	ck_assert_int_eq(diskfix_write(d, 0, data, sizeof(data)), 0);
	ck_assert_int_eq(diskfix_read(d, 0, data, sizeof(data)), 0);
	ck_assert_uint_eq(data[0], 0x77);
	disk_close(d);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_mem_eq(img + l2, before + l2, 65536);
	free(img);
	free(before);
	diskfix_rmdir();
}
END_TEST

/*
 * Every kind of metadata in a hostile image whose refcount says it is
 * free: the refcount table, a refcount block, the L1 table and an L2 table
 * (64 KiB clusters, 16-bit refcounts). The first allocation finds it, and
 * the write fails with EIO instead of handing it out; the cluster is
 * untouched, and later allocating writes fail too.
 */
START_TEST(metadata_of_every_kind_with_refcount_0_is_not_handed_out)
{
	static const char *const kinds[] = { "refcount table", "refcount block", "L1 table",
					     "L2 table" };
	uint8_t data[4096], zero[2] = { 0, 0 }, *img, *before;
	uint64_t reftable, refblock, l1, l2, at[4];
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 base.qcow2 4M && "
						 "qemu-io -c 'write -P 0x5a 0 65536' base.qcow2"),
			 0);
	img = diskfix_slurp("base.qcow2", &len);
	l1 = be64_in(img + 40);
	reftable = be64_in(img + 48);
	refblock = be64_in(img + reftable);
	l2 = be64_in(img + l1) & 0x00fffffffffffe00ULL;
	free(img);
	at[0] = reftable;
	at[1] = refblock;
	at[2] = l1;
	at[3] = l2;
	memset(data, 0x77, sizeof(data));
	for (unsigned int k = 0; k < 4; k++) {
		ck_assert_int_eq(diskfix_sh(diskfix_dir, "cp base.qcow2 t.qcow2"), 0);
		patch("t.qcow2", refblock + 2 * (at[k] >> 16), zero, 2);
		before = diskfix_slurp("t.qcow2", &len);
		ck_assert_int_eq(
			diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS), 0);
		ck_assert_msg(diskfix_write(d, 1 << 20, data, sizeof(data)) == -EIO, "%s",
			      kinds[k]);
		ck_assert_int_eq(diskfix_write(d, 2 << 20, data, sizeof(data)), -EIO);
		disk_close(d);
		img = diskfix_slurp("t.qcow2", &len);
		ck_assert_msg(memcmp(img + at[k], before + at[k], 65536) == 0, "%s was written",
			      kinds[k]);
		free(img);
		free(before);
	}
	diskfix_rmdir();
}
END_TEST

/*
 * The same for metadata ember made while it had the image open: with
 * 512-byte clusters and 64-bit refcounts, writing 3 MiB makes L2 tables
 * and refcount blocks and moves the refcount table. Then one of them gets
 * a refcount of 0 (a test hook, standing in for someone editing the file),
 * and the next clusters set aside would start there: the write fails with
 * EIO and the cluster is untouched.
 */
START_TEST(metadata_made_while_open_is_not_handed_out)
{
	static const char *const kinds[] = { "new L2 table", "new refcount block",
					     "grown refcount table", "its last cluster",
					     "the block counting it" };
	const size_t size = 3 << 20, per = 64; /* refcounts per block */
	uint8_t *buf = malloc(size), *img, *before;
	uint64_t l1, reftable, orig_reftable, at = 0;
	uint32_t reft_clusters;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 -o "
						 "cluster_size=512,refcount_bits=64 base.qcow2 4M"),
			 0);
	img = diskfix_slurp("base.qcow2", &len);
	orig_reftable = be64_in(img + 48);
	free(img);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 13 + i / 512);
	for (unsigned int k = 0; k < 5; k++) {
		ck_assert_int_eq(diskfix_sh(diskfix_dir, "cp base.qcow2 t.qcow2"), 0);
		ck_assert_int_eq(
			diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS), 0);
		for (uint64_t off = 0; off < size; off += 65536)
			ck_assert_int_eq(diskfix_write(d, off, buf + off, 65536), 0);
		ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
		img = diskfix_slurp("t.qcow2", &len);
		l1 = be64_in(img + 40);
		reftable = be64_in(img + 48);
		reft_clusters = (uint32_t)(be64_in(img + 56) >> 32);
		ck_assert_uint_ne(reftable, orig_reftable);
		ck_assert_uint_gt(reft_clusters, 1);
		switch (k) {
		case 0: /* the L2 table for the middle of the disk */
			at = be64_in(img + l1 + 8 * ((size / 2) / (64 * 512))) &
			     0x00fffffffffffe00ULL;
			break;
		case 1: /* the last refcount block */
			for (uint64_t j = 0; j < reft_clusters * 64ULL; j++)
				if (be64_in(img + reftable + 8 * j))
					at = be64_in(img + reftable + 8 * j);
			ck_assert_uint_gt(at, orig_reftable);
			break;
		case 2:
			at = reftable;
			break;
		case 3:
			at = reftable + (reft_clusters - 1) * 512ULL;
			break;
		case 4:
			at = be64_in(img + reftable + 8 * ((reftable >> 9) / per));
			break;
		}
		ck_assert_uint_ne(at, 0);
		free(img);
		ck_assert_int_eq(qcow2_test_set_refcount(d->layers[0].q, at, 0), 0);
		before = diskfix_slurp("t.qcow2", &len);
		/* 128 clusters: more than are set aside, so the search runs. */
		ck_assert_msg(diskfix_write(d, size, buf, 65536) == -EIO, "%s", kinds[k]);
		ck_assert_int_eq(diskfix_write(d, size + 65536, buf, 65536), -EIO);
		disk_close(d);
		img = diskfix_slurp("t.qcow2", &len);
		ck_assert_msg(memcmp(img + at, before + at, 512) == 0, "%s was written", kinds[k]);
		free(img);
		free(before);
	}
	free(buf);
	diskfix_rmdir();
}
END_TEST

/*
 * An L2 table that is not marked as the image's own (no COPIED flag) is
 * copied before it is written; once that is on disk, the old table's
 * cluster is free, and it is handed out again like any other: it no longer
 * counts as metadata.
 */
START_TEST(a_replaced_l2_table_is_reused)
{
	uint8_t *buf = malloc(1 << 20), *img, copied;
	uint64_t l1, l2, l2_now;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 16M && "
						 "qemu-io -c 'write -P 0x5a 0 65536' t.qcow2"),
			 0);
	img = diskfix_slurp("t.qcow2", &len);
	l1 = be64_in(img + 40);
	l2 = be64_in(img + l1) & 0x00fffffffffffe00ULL;
	copied = img[l1] & 0x7f;
	free(img);
	patch("t.qcow2", l1, &copied, 1);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	memset(buf, 0x6b, 1 << 20);
	ck_assert_int_eq(diskfix_write(d, 65536, buf, 65536), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	/* The next request, with nothing in flight, lets the old table's refcount drop. */
	ck_assert_int_eq(diskfix_read(d, 0, buf, 4096), 0);
	ck_assert_uint_eq(buf[0], 0x5a);
	img = diskfix_slurp("t.qcow2", &len);
	l2_now = be64_in(img + l1) & 0x00fffffffffffe00ULL;
	free(img);
	ck_assert_uint_ne(l2_now, l2);
	/* 80 clusters: past those set aside, so the search for free ones finds the old table. */
	memset(buf, 0x6c, 1 << 20);
	ck_assert_int_eq(diskfix_write(d, 2 << 20, buf, 1 << 20), 0);
	ck_assert_int_eq(diskfix_write(d, 4 << 20, buf, 1 << 20), 0);
	ck_assert_int_eq(diskfix_write(d, 6 << 20, buf, 1 << 20), 0);
	ck_assert_int_eq(diskfix_write(d, 8 << 20, buf, 1 << 20), 0);
	ck_assert_int_eq(diskfix_write(d, 10 << 20, buf, 1 << 20), 0);
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	img = diskfix_slurp("t.qcow2", &len);
	/* Guest data now, at 10 MiB or before. */
	ck_assert_uint_eq(img[l2], 0x6c);
	free(img);
	free(buf);
	diskfix_rmdir();
}
END_TEST

/*
 * A refcount table that covers too few clusters grows: 512-byte clusters
 * with 64-bit refcounts cover 2 MiB of file per table cluster, so filling
 * a 4 MiB disk (and then rewriting it, compressed clusters and all) moves
 * the table a few times; qemu-img finds the image clean and the bytes right.
 */
START_TEST(refcount_table_grows)
{
	const size_t size = 4 << 20;
	uint8_t *buf = malloc(size), *img;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 -o "
						 "cluster_size=512,refcount_bits=64 t.qcow2 4M"),
			 0);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq(be64_in(img + 56) >> 32, 1); /* one cluster of refcount table */
	free(img);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7 + i / 4096);
	for (uint64_t off = 0; off < size; off += 65536)
		ck_assert_int_eq(diskfix_write(d, off, buf + off, 65536), 0);
	ck_assert_int_eq(disk_close(d), 0);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_gt(be64_in(img + 56) >> 32, 1);
	free(img);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	qemu_img_reads("t.qcow2", buf, size);
	free(buf);
	diskfix_rmdir();
}
END_TEST

/*
 * Killed while writing: a child writes numbered 4 KiB blocks, FLUSHes every
 * few writes and reports each completed FLUSH's last number through a pipe;
 * the parent kills it at a random moment. Afterwards qemu-img check finds
 * no corruption (leaks are fine), and every block holds the last write to
 * it that a completed FLUSH covered, or a later one.
 */
#define KILL_ROUNDS 25
#define KILL_BLOCKS 512
#define KILL_WRITES 4096

static uint32_t block_of(uint32_t seq)
{
	return (seq * 2654435761U) % KILL_BLOCKS;
}

/* Each block in a cluster of its own, at one of its 4 KiB places: most writes allocate. */
static uint64_t block_off(uint32_t blk)
{
	return (uint64_t)blk * 131072 + (blk % 16) * 4096;
}

/* The block whose cluster is discarded after write seq (a multiple of 64). */
static uint32_t discarded(uint32_t seq)
{
	return block_of(seq + 1);
}

static void fill_block(uint8_t *b, uint32_t round, uint32_t seq)
{
	for (unsigned int k = 0; k < 4096; k += 8) {
		uint32_t w[2] = { round, seq };

		memcpy(b + k, w, 8);
	}
}

static void writer(int wfd, uint32_t round, enum disk_aio aio)
{
	uint8_t b[4096];
	struct disk *d;

	if (diskfix_open(&d, "k.qcow2", DISK_FORMAT_QCOW2, false, aio) != 0)
		_exit(2);
	for (uint32_t seq = 1; seq <= KILL_WRITES; seq++) {
		fill_block(b, round, seq);
		if (diskfix_write(d, block_off(block_of(seq)), b, sizeof(b)) != 0)
			_exit(3);
		if (seq % 8 == 0) {
			if (diskfix_op(d, DISK_FLUSH, 0, 0, false) != 0)
				_exit(4);
			if (write(wfd, &seq, sizeof(seq)) != sizeof(seq))
				_exit(5);
		}
		if (seq % 64 == 0 &&
		    diskfix_op(d, DISK_DISCARD, block_off(discarded(seq)) & ~65535ULL, 65536,
			       false) != 0)
			_exit(6);
	}
	disk_close(d);
	_exit(0);
}

START_TEST(killed_writers_leave_consistent_images)
{
	/* Per block: round and seq of the last write a completed FLUSH covered. */
	static uint32_t want_round[KILL_BLOCKS], want_seq[KILL_BLOCKS];
	unsigned int leaks = 0;
	uint8_t b[4096];

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 k.qcow2 64M"), 0);
	for (uint32_t round = 1; round <= KILL_ROUNDS; round++) {
		struct timespec ts = { 0, (long)(1 + next_rand() % 40) * 1000000L };
		uint32_t acked = 0, seq;
		struct disk *d;
		int p[2], st;
		pid_t pid;

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			writer(p[1], round, diskfix_engines[round % 2]);
		}
		close(p[1]);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
			      "round %u: the writer failed (%d)", round, st);
		while (read(p[0], &seq, sizeof(seq)) == sizeof(seq))
			acked = seq;
		close(p[0]);
		/* Blocks the discards may have hit are unspecified until rewritten. */
		for (seq = 1; seq <= acked; seq++) {
			want_round[block_of(seq)] = round;
			want_seq[block_of(seq)] = seq;
			if (seq % 64 == 0)
				want_seq[discarded(seq)] = 0;
		}

		st = check_status("k.qcow2");
		ck_assert_msg(st == 0 || st == 3, "round %u: qemu-img check says %d", round, st);
		leaks += st == 3;
		ck_assert_int_eq(
			diskfix_open(&d, "k.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
		for (uint32_t blk = 0; blk < KILL_BLOCKS; blk++) {
			uint32_t got[2];

			if (!want_seq[blk])
				continue;
			ck_assert_int_eq(diskfix_read(d, block_off(blk), b, sizeof(b)), 0);
			memcpy(got, b, 8);
			/* The flushed write, or a later one (later seq this round, or a later
			 * round). */
			ck_assert_msg((got[0] == want_round[blk] && got[1] >= want_seq[blk]) ||
					      got[0] > want_round[blk],
				      "round %u: block %u holds (%u, %u), flushed was (%u, %u)",
				      round, blk, got[0], got[1], want_round[blk], want_seq[blk]);
		}
		disk_close(d);
	}
	/* Leaks are allowed; repairing them gives a clean image. */
	if (leaks)
		ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img check -q -r leaks k.qcow2"), 0);
	ck_assert_int_eq(check_status("k.qcow2"), 0);
	diskfix_rmdir();
}
END_TEST

/* ---- failed syncs (64 KiB clusters, 16-bit refcounts, as qemu-img makes them) ---- */

/* The refcount of cluster c in the image file as it is now (0 past its refcount blocks). */
static unsigned int refcount_in(const uint8_t *img, size_t len, uint64_t c)
{
	uint64_t reft = be64_in(img + 48), rb;

	ck_assert_uint_le(reft + 8 * (c / 32768) + 8, len);
	rb = be64_in(img + reft + 8 * (c / 32768));
	if (!rb || rb + 65536 > len)
		return 0;
	return (unsigned int)img[rb + 2 * (c % 32768)] << 8 | img[rb + 2 * (c % 32768) + 1];
}

/* The clusters guest offset `off` needs in the image file: its L2 table's and its data's. */
static void clusters_of(const uint8_t *img, uint64_t off, uint64_t *l2, uint64_t *data)
{
	uint64_t l1 = be64_in(img + 40);

	*l2 = be64_in(img + l1 + 8 * (off >> 29)) & 0x00fffffffffffe00ULL;
	ck_assert_uint_ne(*l2, 0);
	*data = be64_in(img + *l2 + 8 * ((off >> 16) & 8191)) & 0x00fffffffffffe00ULL;
	ck_assert_uint_ne(*data, 0);
}

/*
 * After a failed sync, a write must not use a cluster set aside (or used)
 * before it: every cluster guest offset `off` needs now had refcount 0 in
 * `before`, the file as it was just after the failure, unless it was
 * already the one `off` used then.
 */
static void uses_only_clusters_free_at(const uint8_t *before, size_t before_len, uint64_t off,
				       uint64_t old_l2)
{
	uint64_t l2, data;
	uint8_t *img;
	size_t len;

	img = diskfix_slurp("t.qcow2", &len);
	clusters_of(img, off, &l2, &data);
	if (l2 != old_l2)
		ck_assert_msg(refcount_in(before, before_len, l2 >> 16) == 0,
			      "the new L2 table at 0x%llx was set aside before the failed sync",
			      (unsigned long long)l2);
	ck_assert_msg(refcount_in(before, before_len, data >> 16) == 0,
		      "the new data cluster 0x%llx was set aside before the failed sync",
		      (unsigned long long)data);
	free(img);
}

/*
 * The syncs the qcow2 layer makes between metadata updates consume a
 * writeback error as a FLUSH's would: the guest's next FLUSH fails, every
 * one after it too, and so does the close (ember's exit status). The
 * clusters whose refcounts that sync was to make durable are never handed
 * out, and the image is left with leaks at worst.
 */
START_TEST(qcow2_sync_failures_are_sticky)
{
	uint8_t data[4096], *before;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	memset(data, 0x3c, sizeof(data));
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 4M"), 0);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	/* The first allocation sets a batch of clusters aside, and syncs. */
	qcow2_test_inject_sync(d->layers[0].q, 1, -EIO);
	ck_assert_int_eq(diskfix_write(d, 0, data, sizeof(data)), -EIO);
	before = diskfix_slurp("t.qcow2", &len);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), -EIO);
	/* Writes go on, in clusters set aside after the failure; FLUSH keeps failing. */
	ck_assert_int_eq(diskfix_write(d, 0, data, sizeof(data)), 0);
	uses_only_clusters_free_at(before, len, 0, 0);
	ck_assert_int_eq(diskfix_op(d, DISK_DISCARD, 0, 65536, false), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), -EIO);
	ck_assert_int_eq(disk_close(d), -EIO);
	free(before);
	ck_assert_int_ne(check_status("t.qcow2"), 2);

	/* The sync at close, before the clusters set aside go back, counts too. */
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_THREADS),
			 0);
	ck_assert_int_eq(diskfix_write(d, 1 << 20, data, sizeof(data)), 0);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), 0);
	qcow2_test_inject_sync(d->layers[0].q, 1, -ENOSPC);
	ck_assert_int_eq(disk_close(d), -EIO);
	ck_assert_int_ne(check_status("t.qcow2"), 2);
	diskfix_rmdir();
}
END_TEST

/*
 * A FLUSH that fails also makes the qcow2 layer forget the clusters it set
 * aside before: their refcounts may not have reached the disk.
 */
START_TEST(failed_flush_drops_clusters_set_aside)
{
	uint8_t data[4096], *before, *img;
	uint64_t l2, first;
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	memset(data, 0x4b, sizeof(data));
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "qemu-img create -q -f qcow2 t.qcow2 4M"), 0);
	ck_assert_int_eq(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, DISK_AIO_IO_URING),
			 0);
	ck_assert_int_eq(diskfix_write(d, 0, data, sizeof(data)), 0);
	img = diskfix_slurp("t.qcow2", &len);
	clusters_of(img, 0, &l2, &first);
	free(img);
	disk_test_inject(d, DISK_OP_BIT(DISK_FLUSH), 1, -EIO);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), -EIO);
	before = diskfix_slurp("t.qcow2", &len);
	/* The same L2 table, a new data cluster. */
	ck_assert_int_eq(diskfix_write(d, 65536, data, sizeof(data)), 0);
	uses_only_clusters_free_at(before, len, 65536, l2);
	ck_assert_int_eq(diskfix_op(d, DISK_FLUSH, 0, 0, false), -EIO);
	ck_assert_int_eq(disk_close(d), -EIO);
	free(before);
	ck_assert_int_ne(check_status("t.qcow2"), 2);
	diskfix_rmdir();
}
END_TEST

/*
 * Handing out a cluster costs little however big the image's tables are:
 * an 8 TiB disk with 4 KiB clusters has an L1 table of 4 Mi entries
 * (32 MiB), the most ember accepts. Checking each cluster against every L1
 * entry took milliseconds apiece, so the 17408 clusters allocated here took
 * about half a minute; the test fits in its tcase's timeout only when that
 * check is cheap. cache=unsafe keeps syncs out of the timing.
 */
START_TEST(allocating_with_a_large_l1_is_quick)
{
	const size_t chunk = 64 << 10, stride = 2 << 20;
	uint8_t *buf = malloc(chunk), *got = malloc(chunk), *img;
	char path[256];
	struct disk_config cfg = { .path = path,
				   .format = DISK_FORMAT_QCOW2,
				   .cache = DISK_CACHE_UNSAFE };
	struct disk *d;
	size_t len;

	need_qemu_img();
	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "qemu-img create -q -f qcow2 -o cluster_size=4096 t.qcow2 8T"),
			 0);
	img = diskfix_slurp("t.qcow2", &len);
	ck_assert_uint_eq((uint32_t)be64_in(img + 32), 4U << 20); /* L1 entries */
	free(img);
	snprintf(path, sizeof(path), "%s/t.qcow2", diskfix_dir);
	ck_assert_msg(disk_open(&d, &cfg, diskfix_err, sizeof(diskfix_err)) == 0, "%s",
		      diskfix_err);
	/* 16 data clusters each, and an L2 table for each 2 MiB stretch. */
	for (uint64_t i = 0; i < 1024; i++) {
		memset(buf, (int)(i % 251 + 1), chunk);
		ck_assert_int_eq(diskfix_write(d, i * stride, buf, chunk), 0);
	}
	for (uint64_t i = 0; i < 1024; i += 37) {
		ck_assert_int_eq(diskfix_read(d, i * stride, got, chunk), 0);
		ck_assert_uint_eq(got[0], i % 251 + 1);
		ck_assert_uint_eq(got[chunk - 1], i % 251 + 1);
	}
	ck_assert_int_eq(disk_close(d), 0);
	free(buf);
	free(got);
	diskfix_rmdir();
}
END_TEST

/* A new scratch directory holding t.qcow2, 64 MiB, made by qemu-img with `opts`; opened. */
static struct disk *new_image(const char *opts, enum disk_aio aio)
{
	char cmd[128];
	struct disk *d;

	need_qemu_img();
	diskfix_mkdir();
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 %s t.qcow2 64M", opts);
	ck_assert_int_eq(diskfix_sh(diskfix_dir, cmd), 0);
	ck_assert_msg(diskfix_open(&d, "t.qcow2", DISK_FORMAT_QCOW2, false, aio) == 0, "%s",
		      diskfix_err);
	return d;
}

/*
 * What a qcow2 request does on the event loop's thread — allocating and
 * writing new clusters, filling unallocated ranges with zeroes — goes a
 * megabyte or so per step, each step a reap of its own, so the loop's other
 * handlers run between them. One 8 MiB write into an empty image, and one
 * 8 MiB read of a hole, were a single step before.
 */
START_TEST(synchronous_work_goes_in_steps)
{
	const size_t len = 8 << 20;
	uint8_t *buf = malloc(len), *got = malloc(len);
	struct iovec iov;
	struct disk_req req;
	struct disk *d;
	unsigned int steps;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(got);
	d = new_image("", diskfix_engines[_i]);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / 4093);

	/* Not cluster-aligned: the first and last clusters are partly the image's zeroes. */
	iov = (struct iovec){ buf, len };
	req = (struct disk_req){ .op = DISK_WRITE, .offset = 1000, .iov = &iov, .iovcnt = 1 };
	steps = diskfix_run_steps(d, &req);
	ck_assert_uint_ge(steps, 8);
	ck_assert_uint_le(steps, 10);

	memset(got, 0xa5, len);
	iov = (struct iovec){ got, len };
	req = (struct disk_req){ .op = DISK_READ, .offset = 32 << 20, .iov = &iov, .iovcnt = 1 };
	steps = diskfix_run_steps(d, &req);
	ck_assert_uint_ge(steps, 8);
	ck_assert_uint_le(steps, 10);
	memset(buf + len / 2, 0, len / 2);
	assert_same(got, buf + len / 2, len / 2, "hole, first half");
	assert_same(got + len / 2, buf + len / 2, len / 2, "hole, second half");

	ck_assert_int_eq(diskfix_read(d, 0, got, 1000), 0);
	assert_same(got, buf + len / 2, 1000, "before the write");
	for (size_t i = len / 2; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / 4093);
	ck_assert_int_eq(diskfix_read(d, 1000, got, len), 0);
	assert_same(got, buf, len, "read back");
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	free(buf);
	free(got);
	diskfix_rmdir();
}
END_TEST

/*
 * WRITE_ZEROES on a version 2 image, which has no zero flag: the zeroes are
 * written, a megabyte or so per step, the partial clusters at either end
 * steps of their own. Before, the whole request was one step.
 */
START_TEST(zeroes_on_a_v2_image_go_in_steps)
{
	const size_t len = 10 << 20, off = 1000, zlen = 8 << 20;
	uint8_t *buf = malloc(len), *got = malloc(len);
	struct disk_req req;
	struct disk *d;
	unsigned int steps;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(got);
	d = new_image("-o compat=0.10", diskfix_engines[_i]);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + i / 511 + 1);
	ck_assert_int_eq(diskfix_write(d, 0, buf, len), 0);

	req = (struct disk_req){ .op = DISK_WRITE_ZEROES, .offset = off, .len = zlen };
	steps = diskfix_run_steps(d, &req);
	/* The head, eight megabytes less a cluster in eight steps, the tail. */
	ck_assert_uint_ge(steps, 9);
	ck_assert_uint_le(steps, 11);
	memset(buf + off, 0, zlen);
	ck_assert_int_eq(diskfix_read(d, 0, got, len), 0);
	assert_same(got, buf, len, "after WRITE_ZEROES");
	ck_assert_int_eq(disk_close(d), 0);
	ck_assert_int_eq(check_status("t.qcow2"), 0);
	free(buf);
	free(got);
	diskfix_rmdir();
}
END_TEST

static Suite *qcow2_write_suite(void)
{
	Suite *s = suite_create("qcow2_write");
	TCase *tc = tcase_create("qcow2_write");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, random_io_matches_qemu_img, 0,
			    (int)(sizeof(variants) / sizeof(variants[0])));
	tcase_add_loop_test(tc, cache_modes_write_the_same, 0, 3);
	tcase_add_test(tc, discards_free_clusters);
	tcase_add_test(tc, dirty_images_are_repaired);
	tcase_add_test(tc, dirty_image_with_refcount_overflow_is_refused);
	tcase_add_test(tc, unwritable_images_are_refused);
	tcase_add_test(tc, autoclear_bits_are_cleared);
	tcase_add_test(tc, metadata_with_refcount_0_is_not_overwritten);
	tcase_add_test(tc, metadata_of_every_kind_with_refcount_0_is_not_handed_out);
	tcase_add_test(tc, metadata_made_while_open_is_not_handed_out);
	tcase_add_test(tc, a_replaced_l2_table_is_reused);
	tcase_add_test(tc, refcount_table_grows);
	tcase_add_test(tc, killed_writers_leave_consistent_images);
	tcase_add_test(tc, qcow2_sync_failures_are_sticky);
	tcase_add_test(tc, failed_flush_drops_clusters_set_aside);
	suite_add_tcase(s, tc);
	/* Quick when the work per request is bounded; seconds when it grows with the tables. */
	tc = tcase_create("bounded");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, allocating_with_a_large_l1_is_quick);
	tcase_add_loop_test(tc, synchronous_work_goes_in_steps, 0, 2);
	tcase_add_loop_test(tc, zeroes_on_a_v2_image_go_in_steps, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(qcow2_write_suite());
}
