// SPDX-License-Identifier: MIT
/*
 * qcow2 headers and mapping: images built here, byte by byte, good and
 * hostile; and images made by qemu-img (plain and compressed), read back
 * through the mapping and compared with the raw bytes they came from.
 */
#include "config.h"

#include "block/disk.h"
#include "block/qcow2.h"
#include "diskfix.h"
#include "unit.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define CB 12 /* 4 KiB clusters: small images, 512 L2 entries per table */
#define CS (1U << CB)
#define C(n) ((uint64_t)(n)*CS)
/* Layout of the built image: header, refcount table and block, L1, L2, data. */
#define REFT C(1)
#define REFB C(2)
#define L1 C(3)
#define L2 C(4)
#define DATA C(5)
#define SIZE (4ULL << 20) /* two L1 entries' worth */

static uint8_t img[C(16)];
static size_t img_len;

static void put32(uint64_t off, uint32_t v)
{
	v = htobe32(v);
	memcpy(img + off, &v, 4);
}

static void put64(uint64_t off, uint64_t v)
{
	v = htobe64(v);
	memcpy(img + off, &v, 8);
}

/* A valid version 3 image: L1[0] -> the L2 table, L1[1] empty; no clusters yet. */
static void build(void)
{
	memset(img, 0, sizeof(img));
	img_len = C(12);
	put32(0, QCOW2_MAGIC);
	put32(4, 3);
	put32(20, CB);
	put64(24, SIZE);
	put32(36, 2); /* l1_size */
	put64(40, L1);
	put64(48, REFT);
	put32(56, 1);	 /* refcount table clusters */
	put32(96, 4);	 /* refcount_order: 16 bits */
	put32(100, 104); /* header length */
	put64(REFT, REFB);
	put64(L1, L2 | (1ULL << 63));
}

static void set_l2(unsigned int idx, uint64_t entry)
{
	put64(L2 + 8ULL * idx, entry);
}

/* The image in a memfd, opened; the fd comes back in *fd. */
static int open_img(struct qcow2 **q, int *fd)
{
	int ret;

	*fd = memfd_create("qcow2", 0);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(write(*fd, img, img_len), (ssize_t)img_len);
	diskfix_err[0] = '\0';
	ret = qcow2_open(q, *fd, "t.qcow2", 0, diskfix_err, sizeof(diskfix_err));
	if (ret == 0)
		ck_assert_ptr_nonnull(*q);
	else
		ck_assert_ptr_null(*q);
	return ret;
}

/* The built image is refused at open with a message containing `needle`. */
static void refused(const char *needle)
{
	struct qcow2 *q;
	int fd;

	ck_assert_int_eq(open_img(&q, &fd), -EINVAL);
	ck_assert_msg(strstr(diskfix_err, needle) != NULL, "'%s' not in '%s'", needle, diskfix_err);
	ck_assert_msg(strstr(diskfix_err, "t.qcow2") != NULL, "no file name in '%s'", diskfix_err);
	close(fd);
}

START_TEST(probe)
{
	static const uint8_t yes[] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };

	ck_assert(qcow2_probe(yes, sizeof(yes)));
	ck_assert(!qcow2_probe(yes, 3));
	ck_assert(!qcow2_probe("QFI\xfa", 4));
}
END_TEST

START_TEST(mapping)
{
	struct qcow2_extent e;
	struct qcow2 *q;
	int fd;

	build();
	set_l2(0, DATA | (1ULL << 63));
	set_l2(1, DATA + C(1));
	set_l2(2, DATA + C(3)); /* not contiguous with the one before */
	set_l2(4, 1);		/* zero cluster */
	set_l2(5, 1);
	set_l2(6, (DATA + C(4)) | 1); /* preallocated, but reads as zeroes */
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_uint_eq(qcow2_size(q), SIZE);
	ck_assert_ptr_null(qcow2_backing_file(q));
	ck_assert(!qcow2_dirty(q));

	/* Clusters 0 and 1 are one run, from the middle of cluster 0. */
	ck_assert_int_eq(qcow2_map(q, 100, SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_DATA);
	ck_assert_uint_eq(e.host_off, DATA + 100);
	ck_assert_uint_eq(e.len, C(2) - 100);
	/* A shorter request is a shorter run. */
	ck_assert_int_eq(qcow2_map(q, 100, 10, &e), 0);
	ck_assert_uint_eq(e.len, 10);
	ck_assert_int_eq(qcow2_map(q, C(2) + 5, SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_DATA);
	ck_assert_uint_eq(e.host_off, DATA + C(3) + 5);
	ck_assert_uint_eq(e.len, CS - 5);
	ck_assert_int_eq(qcow2_map(q, C(3), SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_UNALLOCATED);
	ck_assert_uint_eq(e.len, CS);
	ck_assert_int_eq(qcow2_map(q, C(4), SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_ZERO);
	ck_assert_uint_eq(e.len, C(3));
	/* The rest of the first L2 table is unallocated, up to its end at 2 MiB. */
	ck_assert_int_eq(qcow2_map(q, C(7), SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_UNALLOCATED);
	ck_assert_uint_eq(e.len, (2ULL << 20) - C(7));
	/* L1[1] has no table: 2 MiB unallocated at once. */
	ck_assert_int_eq(qcow2_map(q, 2ULL << 20, SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_UNALLOCATED);
	ck_assert_uint_eq(e.len, 2ULL << 20);
	/* Nothing past the end. */
	ck_assert_int_eq(qcow2_map(q, SIZE, 1, &e), -EINVAL);
	ck_assert_int_eq(qcow2_map(q, SIZE - 1, 100, &e), 0);
	ck_assert_uint_eq(e.len, 1);
	qcow2_close(q);
	close(fd);
}
END_TEST

/* Compresses one cluster the way qcow2 does (raw deflate, 4 KiB window) at `host`. */
static uint64_t put_compressed(uint64_t host, const uint8_t *cluster, size_t *clen)
{
	z_stream zs = { 0 };
	unsigned int x = 62 - (CB - 8);
	uint64_t sectors;

	ck_assert_int_eq(
		deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY),
		Z_OK);
	zs.next_in = (Bytef *)cluster;
	zs.avail_in = CS;
	zs.next_out = img + host;
	zs.avail_out = CS;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*clen = zs.total_out;
	deflateEnd(&zs);
	/* Additional sectors beyond the one holding the first byte. */
	sectors = ((host & 511) + *clen - 1) / 512;
	return (1ULL << 62) | (sectors << x) | host;
}

START_TEST(compressed_clusters)
{
	uint8_t plain[CS], out[CS];
	struct qcow2_extent e;
	struct qcow2 *q;
	size_t clen;
	int fd;

	for (unsigned int i = 0; i < CS; i++)
		plain[i] = (uint8_t)(i * 7 / 3);
	build();
	/* Not sector-aligned, as qemu-img packs them. */
	set_l2(3, put_compressed(DATA + 200, plain, &clen));
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, C(3) + 10, SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_COMPRESSED);
	ck_assert_uint_eq(e.len, CS - 10);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, C(3) + 10, out, CS - 10), 0);
	ck_assert_mem_eq(out, plain + 10, CS - 10);
	/* Again, from the inflated copy; and not past the cluster. */
	ck_assert_int_eq(qcow2_read_compressed(q, &e, C(3), out, 16), 0);
	ck_assert_mem_eq(out, plain, 16);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, C(3) + 10, out, CS), -EINVAL);
	qcow2_close(q);
	close(fd);

	/* Damaged deflate data (a block of the reserved type 3): the read fails. */
	img[DATA + 200] = 0xff;
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, C(3), SIZE, &e), 0);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, C(3), out, CS), -EIO);
	qcow2_close(q);
	close(fd);

	/* A stream that ends early does not fill the cluster. */
	build();
	{
		uint8_t half[CS / 2];
		z_stream zs = { 0 };

		memset(half, 0x33, sizeof(half));
		ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY),
				 Z_OK);
		zs.next_in = half;
		zs.avail_in = sizeof(half);
		zs.next_out = img + DATA;
		zs.avail_out = CS;
		ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
		deflateEnd(&zs);
		set_l2(0, (1ULL << 62) | DATA);
	}
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, 0, SIZE, &e), 0);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, 0, out, 8), -EIO);
	qcow2_close(q);
	close(fd);

	/* A compressed cluster said to be in the header, or past the end. */
	build();
	set_l2(0, (1ULL << 62) | 8);
	set_l2(1, (1ULL << 62) | C(100));
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, 0, SIZE, &e), 0);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, 0, out, 8), -EIO);
	ck_assert_int_eq(qcow2_map(q, C(1), SIZE, &e), 0);
	ck_assert_int_eq(qcow2_read_compressed(q, &e, C(1), out, 8), -EIO);
	qcow2_close(q);
	close(fd);
}
END_TEST

START_TEST(hostile_tables_fail_requests)
{
	struct qcow2_extent e;
	struct qcow2 *q;
	int fd;

	build();
	set_l2(0, 0x200);		      /* data in the header cluster */
	set_l2(1, DATA + 0x200);	      /* misaligned */
	set_l2(2, C(1000));		      /* past the end of the file */
	set_l2(3, DATA | (1ULL << 56));	      /* a reserved bit */
	put64(L1 + 8, C(999) | (1ULL << 63)); /* L1[1]: an L2 table past the end */
	ck_assert_int_eq(open_img(&q, &fd), 0);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_int_eq(qcow2_map(q, C(i), SIZE, &e), -EIO);
	ck_assert_int_eq(qcow2_map(q, 2ULL << 20, SIZE, &e), -EIO);
	/* The good entries still map. */
	ck_assert_int_eq(qcow2_map(q, C(4), SIZE, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_UNALLOCATED);
	qcow2_close(q);
	close(fd);

	/* An L2 table in the header, or misaligned. */
	build();
	put64(L1, 0 | (1ULL << 9));
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, 0, SIZE, &e), -EIO);
	qcow2_close(q);
	close(fd);
	build();
	put64(L1, L2 + 512);
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_int_eq(qcow2_map(q, 0, SIZE, &e), -EIO);
	qcow2_close(q);
	close(fd);
}
END_TEST

START_TEST(hostile_headers_are_refused)
{
	build();
	put32(0, 0x514649fa);
	refused("not a qcow2 image");
	build();
	put32(4, 1);
	refused("version 1");
	build();
	put32(4, 4);
	refused("version 4");
	build();
	put32(20, 8);
	refused("cluster_bits 8");
	build();
	put32(20, 22);
	refused("cluster_bits 22");
	build();
	put32(32, 1);
	refused("encrypted");
	build();
	put32(32, 2);
	refused("encrypted");
	/* Sizes the L1 table cannot describe, and absurd ones. */
	build();
	put64(24, SIZE + 1);
	refused("L1 table");
	build();
	put64(24, ~0ULL);
	refused("L1 table");
	build();
	put32(36, (32U << 20) / 8 + 1);
	refused("L1 table");
	/* Tables outside the file, in the header, or misaligned. */
	build();
	put64(40, C(100));
	refused("L1 table lies outside");
	build();
	put64(40, 0);
	refused("L1 table lies outside");
	build();
	put64(40, L1 + 8);
	refused("L1 table lies outside");
	build();
	put64(40, ~0ULL & ~(uint64_t)(CS - 1));
	refused("L1 table lies outside");
	build();
	put64(48, C(100));
	refused("refcount table");
	build();
	put32(56, 0xffffffff);
	refused("refcount table");
	build();
	put64(48, 0);
	refused("refcount table");
	build();
	put32(96, 7);
	refused("refcount_order");
	/* Header lengths. */
	build();
	put32(100, 100);
	refused("header length");
	build();
	put32(100, 108);
	refused("header length");
	build();
	put32(100, CS + 8);
	refused("header length");
	/* Features ember refuses by name. */
	build();
	put64(72, 1ULL << 2);
	refused("external data file");
	build();
	put64(72, 1ULL << 4);
	refused("extended L2");
	build();
	put32(100, 112);
	put64(72, 1ULL << 3);
	img[104] = 1;
	refused("zstd");
	build();
	put32(100, 112);
	put64(72, 1ULL << 3);
	img[104] = 9;
	refused("compression type 9");
	build();
	put64(72, 1ULL << 9);
	refused("incompatible bit 9");
	/* An unknown bit the image names in its feature table. */
	build();
	put32(104, 0x6803f857);
	put32(108, 48);
	img[112] = 0; /* incompatible */
	img[113] = 9;
	memcpy(img + 114, "frobnication", 12);
	put64(72, 1ULL << 9);
	refused("frobnication");
	/* Backing file names. */
	build();
	put64(8, 512);
	put32(16, 0);
	refused("backing file name");
	build();
	put64(8, 512);
	put32(16, 1024);
	refused("backing file name");
	build();
	put64(8, CS - 4);
	put32(16, 8);
	refused("backing file name");
	build();
	put64(8, 64); /* inside the header */
	put32(16, 4);
	refused("backing file name");
	build();
	put64(8, 512);
	put32(16, 4);
	memcpy(img + 512, "a\0bc", 4);
	refused("backing file name");
	/* Header extensions that run past the cluster. */
	build();
	put32(104, 0x12345678);
	put32(108, CS);
	refused("extension");
	build();
	put32(104, 0xe2792aca);
	put32(108, 40);
	memset(img + 112, 'r', 40);
	refused("backing format");
	/* Too short to hold a header. */
	build();
	img_len = 50;
	refused("too short");
	build();
	put32(4, 3);
	img_len = 80;
	refused("too short");
}
END_TEST

START_TEST(backing_and_flags)
{
	struct qcow2 *q;
	int fd;

	build();
	put32(104, 0xe2792aca); /* backing format "raw" */
	put32(108, 3);
	memcpy(img + 112, "raw", 3);
	put32(120, 0);
	put64(8, 1024);
	put32(16, 11);
	memcpy(img + 1024, "../base.img", 11);
	put64(72, 1); /* dirty */
	ck_assert_int_eq(open_img(&q, &fd), 0);
	ck_assert_str_eq(qcow2_backing_file(q), "../base.img");
	ck_assert_str_eq(qcow2_backing_format(q), "raw");
	ck_assert(qcow2_dirty(q));
	qcow2_close(q);
	close(fd);

	/* Version 2: 72-byte header, no zero flag (bit 0 is not read). */
	build();
	put32(4, 2);
	memset(img + 72, 0, 40);
	set_l2(0, DATA | 1);
	ck_assert_int_eq(open_img(&q, &fd), 0);
	{
		struct qcow2_extent e;

		ck_assert_int_eq(qcow2_map(q, 0, CS, &e), 0);
		ck_assert_int_eq(e.kind, QCOW2_DATA);
		ck_assert_uint_eq(e.host_off, DATA);
	}
	qcow2_close(q);
	close(fd);
}
END_TEST

/* Reads [0, size) of `q` into `out` through the mapping; unallocated reads as zeroes. */
static void read_all(struct qcow2 *q, int fd, uint8_t *out)
{
	uint64_t size = qcow2_size(q), off = 0;

	while (off < size) {
		struct qcow2_extent e;

		ck_assert_int_eq(qcow2_map(q, off, size - off, &e), 0);
		ck_assert_uint_gt(e.len, 0);
		switch (e.kind) {
		case QCOW2_DATA:
			ck_assert_int_eq(pread(fd, out + off, e.len, (off_t)e.host_off),
					 (ssize_t)e.len);
			break;
		case QCOW2_COMPRESSED:
			ck_assert_int_eq(qcow2_read_compressed(q, &e, off, out + off, e.len), 0);
			break;
		case QCOW2_ZERO:
		case QCOW2_UNALLOCATED:
			memset(out + off, 0, e.len);
			break;
		}
		off += e.len;
	}
}

/*
 * qemu-img, the reference: images it writes (64 KiB clusters, with and
 * without compression, with zeroes it leaves unallocated) read back as the
 * raw image they were converted from.
 */
START_TEST(qemu_img_images_read_back)
{
	static const char *const variants[] = {
		"qemu-img convert -f raw -O qcow2 raw.img out.qcow2",
		"qemu-img convert -c -f raw -O qcow2 raw.img out.qcow2",
		"qemu-img convert -f raw -O qcow2 -o compat=0.10 raw.img out.qcow2",
		"qemu-img convert -c -f raw -O qcow2 -o cluster_size=4096 raw.img out.qcow2",
	};
	const size_t size = 3 << 20;
	uint8_t *raw = malloc(size), *got = malloc(size);
	char path[256];
	FILE *f;

	ck_assert_msg(system("command -v qemu-img >/dev/null") == 0,
		      "qemu-img is not installed (Debian's qemu-utils; scripts/install-deps "
		      "installs it)");
	ck_assert_ptr_nonnull(raw);
	ck_assert_ptr_nonnull(got);
	/* Text (compresses), random bytes (does not), and zeroes (left unallocated). */
	memset(raw, 0, size);
	for (size_t i = 0; i < (1 << 20); i++)
		raw[i] = (uint8_t)("qcow2 reads back "[i % 17]);
	srand(7);
	for (size_t i = (1 << 20) + 4096; i < (2 << 20); i++)
		raw[i] = (uint8_t)rand();
	raw[size - 1] = 0x42;
	diskfix_mkdir();
	snprintf(path, sizeof(path), "%s/raw.img", diskfix_dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(raw, 1, size, f), size);
	ck_assert_int_eq(fclose(f), 0);

	for (unsigned int v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		struct qcow2 *q;
		int fd;

		ck_assert_msg(diskfix_sh(diskfix_dir, variants[v]) == 0, "%s failed", variants[v]);
		snprintf(path, sizeof(path), "%s/out.qcow2", diskfix_dir);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_msg(qcow2_open(&q, fd, path, 0, diskfix_err, sizeof(diskfix_err)) == 0,
			      "%s: %s", variants[v], diskfix_err);
		ck_assert_uint_eq(qcow2_size(q), size);
		memset(got, 0xee, size);
		read_all(q, fd, got);
		ck_assert_msg(memcmp(got, raw, size) == 0, "%s: contents differ", variants[v]);
		qcow2_close(q);
		close(fd);
	}
	diskfix_rmdir();
	free(raw);
	free(got);
}
END_TEST

/* ---- through the disk layer: format probing, chains, both engines ---- */

/*
 * A chain qemu-img made: top.qcow2 (compressed, in a subdirectory, naming
 * its backing file relatively) -> mid.qcow2 -> base.raw, each with writes
 * of its own; ember reads what qemu-img reads.
 */
START_TEST(chains_read_as_qemu_img_reads)
{
	const size_t size = 1 << 20;
	uint8_t *want = malloc(size), *got = malloc(size);
	struct disk *d;
	FILE *f;

	ck_assert_msg(system("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") ==
			      0,
		      "qemu-img and qemu-io are not installed (Debian's qemu-utils)");
	diskfix_mkdir();
	ck_assert_int_eq(
		diskfix_sh(diskfix_dir,
			   "head -c 1048576 /dev/urandom >base.raw && mkdir sub && "
			   "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
			   "qemu-io -c 'write -P 0x11 65536 131072' mid.qcow2 && "
			   "qemu-img create -q -f qcow2 -b ../mid.qcow2 -F qcow2 sub/top.qcow2 && "
			   "qemu-io -c 'write -P 0x22 131072 4096' -c 'write -z 500000 70000' "
			   "sub/top.qcow2 && "
			   "qemu-img convert -O raw sub/top.qcow2 want.raw"),
		0);
	snprintf((char *)got, size, "%s/want.raw", diskfix_dir);
	f = fopen((char *)got, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(want, 1, size, f), size);
	fclose(f);
	for (unsigned int e = 0; e < 2; e++) {
		ck_assert_msg(diskfix_open(&d, "sub/top.qcow2", DISK_FORMAT_PROBE, true,
					   diskfix_engines[e]) == 0,
			      "%s", diskfix_err);
		ck_assert_uint_eq(disk_size(d), size);
		memset(got, 0xee, size);
		ck_assert_int_eq(diskfix_read(d, 0, got, size), 0);
		ck_assert_msg(memcmp(got, want, size) == 0, "engine %u: contents differ", e);
		/* Small reads across every boundary of the runs agree too. */
		for (uint64_t off = 60000; off < size - 9000; off += 65536 - 1000) {
			ck_assert_int_eq(diskfix_read(d, off, got, 9000), 0);
			ck_assert_mem_eq(got, want + off, 9000);
		}
		disk_close(d);
	}
	/* The same image converted compressed reads the same. */
	ck_assert_int_eq(
		diskfix_sh(diskfix_dir, "qemu-img convert -c -O qcow2 sub/top.qcow2 c.qcow2"), 0);
	ck_assert_int_eq(diskfix_open(&d, "c.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_IO_URING),
			 0);
	memset(got, 0xee, size);
	ck_assert_int_eq(diskfix_read(d, 0, got, size), 0);
	ck_assert(memcmp(got, want, size) == 0);
	disk_close(d);
	diskfix_rmdir();
	free(want);
	free(got);
}
END_TEST

START_TEST(chain_errors)
{
	struct disk *d = NULL;

	diskfix_mkdir();
	/* A loop: a -> b -> a. */
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "qemu-img create -q -f qcow2 a.qcow2 1M && "
				    "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
				    "qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2"),
			 0);
	ck_assert_int_eq(diskfix_open(&d, "b.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS),
			 -EINVAL);
	ck_assert_msg(strstr(diskfix_err, "loops back") != NULL, "%s", diskfix_err);
	ck_assert_ptr_null(d);
	/* A missing backing file is named. */
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "qemu-img create -q -f qcow2 -b gone.raw -F raw -u m.qcow2 1M"),
			 0);
	ck_assert_int_lt(diskfix_open(&d, "m.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS), 0);
	ck_assert_msg(strstr(diskfix_err, "gone.raw") != NULL, "%s", diskfix_err);
	/* Another format in the chain. */
	ck_assert_int_eq(diskfix_sh(diskfix_dir,
				    "qemu-img create -q -f vmdk v.vmdk 1M && "
				    "qemu-img create -q -f qcow2 -b v.vmdk -F vmdk w.qcow2"),
			 0);
	ck_assert_int_eq(diskfix_open(&d, "w.qcow2", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS),
			 -EINVAL);
	ck_assert_msg(strstr(diskfix_err, "vmdk") != NULL, "%s", diskfix_err);
	/* format=qcow2 on a raw file. */
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "head -c 65536 /dev/zero >r.raw"), 0);
	ck_assert_int_eq(diskfix_open(&d, "r.raw", DISK_FORMAT_QCOW2, true, DISK_AIO_THREADS),
			 -EINVAL);
	ck_assert_msg(strstr(diskfix_err, "not a qcow2 image") != NULL, "%s", diskfix_err);
	diskfix_rmdir();
}
END_TEST

/* A raw disk opened without format= must not become a qcow2 image by a guest's write. */
START_TEST(probed_raw_keeps_its_format)
{
	static const uint8_t magic[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	uint8_t buf[512] = { 0 };
	struct disk *d;

	diskfix_mkdir();
	ck_assert_int_eq(diskfix_sh(diskfix_dir, "head -c 65536 /dev/zero >r.raw"), 0);
	ck_assert_int_eq(diskfix_open(&d, "r.raw", DISK_FORMAT_PROBE, false, DISK_AIO_THREADS), 0);
	memcpy(buf, magic, sizeof(magic));
	ck_assert_int_eq(diskfix_write(d, 0, buf, sizeof(buf)), -EPERM);
	/* Byte by byte does not get round it. */
	ck_assert_int_eq(diskfix_write(d, 0, magic, 3), 0);
	ck_assert_int_eq(diskfix_write(d, 3, magic + 3, 1), -EPERM);
	/* Anything else goes. */
	ck_assert_int_eq(diskfix_write(d, 1, "x", 1), 0);
	ck_assert_int_eq(diskfix_write(d, 4096, magic, sizeof(magic)), 0);
	disk_close(d);
	/* Said to be raw, it takes the write. */
	ck_assert_int_eq(diskfix_open(&d, "r.raw", DISK_FORMAT_RAW, false, DISK_AIO_THREADS), 0);
	ck_assert_int_eq(diskfix_write(d, 0, buf, sizeof(buf)), 0);
	disk_close(d);
	diskfix_rmdir();
}
END_TEST

/* ---- hostile images opened for writing ---- */

/* Writes v at off in fd, big-endian, `bytes` (2, 4 or 8) wide. */
static void fd_put(int fd, uint64_t off, uint64_t v, unsigned int bytes)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	ck_assert_int_eq(pwrite(fd, b, bytes, (off_t)off), (ssize_t)bytes);
}

static uint64_t fd_get64(int fd, uint64_t off)
{
	uint64_t v;

	ck_assert_int_eq(pread(fd, &v, 8, (off_t)off), 8);
	return be64toh(v);
}

/*
 * The header of a version 3 image in a new memfd of file_size bytes
 * (sparse): clusters of 1 << bits bytes, 16-bit refcounts, the refcount
 * table at cluster 1 (reft_clusters long), an L1 table of l1_entries
 * entries (all 0) at cluster l1, a guest size of `size` bytes.
 */
static int sparse_img(unsigned int bits, uint64_t size, uint32_t reft_clusters, uint64_t l1,
		      uint32_t l1_entries, uint64_t file_size, bool dirty)
{
	int fd = memfd_create("qcow2", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)file_size), 0);
	fd_put(fd, 0, QCOW2_MAGIC, 4);
	fd_put(fd, 4, 3, 4);
	fd_put(fd, 20, bits, 4);
	fd_put(fd, 24, size, 8);
	fd_put(fd, 36, l1_entries, 4);
	fd_put(fd, 40, l1 << bits, 8);
	fd_put(fd, 48, 1ULL << bits, 8);
	fd_put(fd, 56, reft_clusters, 4);
	fd_put(fd, 72, dirty ? 1 : 0, 8);
	fd_put(fd, 96, 4, 4);
	fd_put(fd, 100, 104, 4);
	return fd;
}

#define SB 9 /* 512-byte clusters: 256 refcounts per block, 64 entries per table cluster */
#define SC(n) ((uint64_t)(n) << SB)

/*
 * The refcount table entry and refcount of every cluster of the image's
 * refcount table: the table must count itself, however far into the file it
 * moved.
 */
static void reftable_counts_itself(int fd)
{
	uint64_t reft = fd_get64(fd, 48);
	uint32_t clusters;

	ck_assert_int_eq(pread(fd, &clusters, 4, 56), 4);
	clusters = be32toh(clusters);
	for (uint64_t c = reft >> SB; c < (reft >> SB) + clusters; c++) {
		uint64_t j = c / 256, block;
		uint16_t rc;

		ck_assert_msg(j < (uint64_t)clusters * 64,
			      "the refcount table at 0x%llx has no entry for its cluster 0x%llx",
			      (unsigned long long)reft, (unsigned long long)SC(c));
		block = fd_get64(fd, reft + 8 * j);
		ck_assert_uint_ne(block, 0);
		ck_assert_int_eq(pread(fd, &rc, 2, (off_t)(block + 2 * (c % 256))), 2);
		ck_assert_uint_eq(be16toh(rc), 1);
	}
}

/* qemu-img check of the image open on fd: its exit status (0 clean, 2 corrupt, 3 leaks). */
static int qemu_img_check_fd(int fd)
{
	char cmd[128];
	int st;

	snprintf(cmd, sizeof(cmd), "qemu-img check -q /proc/self/fd/%d >/dev/null 2>&1", fd);
	st = system(cmd);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* An image without a refcount table is refused, read-only or not. */
START_TEST(no_refcount_table_is_refused)
{
	struct qcow2 *q;
	int fd = sparse_img(SB, SC(64), 0, 100, 1, 16 << 20, false);

	for (unsigned int flags = 0; flags <= QCOW2_OPEN_WRITE; flags += QCOW2_OPEN_WRITE) {
		diskfix_err[0] = '\0';
		ck_assert_int_eq(
			qcow2_open(&q, fd, "t.qcow2", flags, diskfix_err, sizeof(diskfix_err)),
			-EINVAL);
		ck_assert_ptr_null(q);
		ck_assert_msg(strstr(diskfix_err, "refcount table") &&
				      strstr(diskfix_err, "t.qcow2"),
			      "%s", diskfix_err);
	}
	close(fd);
}
END_TEST

/*
 * The refcount table grows to cover a cluster past what it covers, and the
 * new table lands at the end of the file, which the image chooses: 16 MiB
 * here, far past the entry the growth was for. Its own refcount block's
 * entry must be in it. The table (one cluster) here counts 8 MiB through
 * one refcount block that all its entries share, full: the first free
 * cluster is past its reach.
 */
START_TEST(reftable_grows_to_the_end_of_a_sparse_file)
{
	uint8_t data[512], got[512];
	struct qcow2_extent e;
	struct qcow2 *q;
	int fd = sparse_img(SB, SC(64), 1, 100, 1, 16 << 20, false);

	for (unsigned int j = 0; j < 64; j++)
		fd_put(fd, SC(1) + 8 * j, SC(2), 8);
	for (unsigned int c = 0; c < 256; c++)
		fd_put(fd, SC(2) + 2 * c, 1, 2);
	ck_assert_msg(qcow2_open(&q, fd, "t.qcow2", QCOW2_OPEN_WRITE, diskfix_err,
				 sizeof(diskfix_err)) == 0,
		      "%s", diskfix_err);
	memset(data, 0x5c, sizeof(data));
	ck_assert_int_eq(qcow2_write_cluster(q, 0, data), 0);
	ck_assert_int_eq(qcow2_map(q, 0, 512, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_DATA);
	ck_assert_int_eq(pread(fd, got, sizeof(got), (off_t)e.host_off), (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, data, sizeof(data));
	ck_assert_int_eq(qcow2_release(q), 0);
	qcow2_close(q);
	reftable_counts_itself(fd);
	close(fd);
}
END_TEST

/*
 * The same growth from the repair of a dirty image, before the guest runs:
 * its L1 table is the file's last cluster, past what the refcount table
 * covers. Repaired and written, the image is one qemu-img finds clean.
 */
START_TEST(repair_grows_reftable_to_the_end_of_a_sparse_file)
{
	uint8_t data[512];
	struct qcow2 *q;
	int fd = sparse_img(SB, SC(64), 1, (16 << 20 >> SB) - 1, 1, 16 << 20, true);

	ck_assert_msg(system("command -v qemu-img >/dev/null") == 0,
		      "qemu-img is not installed (Debian's qemu-utils)");
	fd_put(fd, SC(1), SC(2), 8);
	ck_assert_msg(qcow2_open(&q, fd, "t.qcow2", QCOW2_OPEN_WRITE, diskfix_err,
				 sizeof(diskfix_err)) == 0,
		      "%s", diskfix_err);
	ck_assert(!qcow2_dirty(q));
	memset(data, 0xa7, sizeof(data));
	ck_assert_int_eq(qcow2_write_cluster(q, SC(5), data), 0);
	ck_assert_int_eq(qcow2_release(q), 0);
	qcow2_close(q);
	reftable_counts_itself(fd);
	ck_assert_int_eq(qemu_img_check_fd(fd), 0);
	close(fd);
}
END_TEST

/*
 * A dirty image whose 1 Mi L1 entries all name one L2 table of 256 Ki
 * entries (2 MiB clusters): a repair that walked the table once per entry
 * would take 2^38 steps. A table named twice is corruption: the writable
 * open is refused at once, naming the way out; reading still works.
 */
START_TEST(repair_walks_a_shared_l2_table_once)
{
	const unsigned int bits = 21, entries = 1U << 20;
	uint64_t *l1 = malloc((size_t)entries * 8);
	struct qcow2 *q;
	int fd = sparse_img(bits, 1ULL << 30, 1, 1, entries, 8ULL << bits, true);

	/* L1 at clusters 1-4, refcount table at 5 (moved below), its block at 6, L2 at 7. */
	ck_assert_ptr_nonnull(l1);
	for (unsigned int i = 0; i < entries; i++)
		l1[i] = htobe64(7ULL << bits);
	ck_assert_int_eq(pwrite(fd, l1, (size_t)entries * 8, 1LL << bits), (ssize_t)entries * 8);
	free(l1);
	fd_put(fd, 48, 5ULL << bits, 8);
	fd_put(fd, 5ULL << bits, 6ULL << bits, 8);
	diskfix_err[0] = '\0';
	ck_assert_int_eq(
		qcow2_open(&q, fd, "t.qcow2", QCOW2_OPEN_WRITE, diskfix_err, sizeof(diskfix_err)),
		-EINVAL);
	ck_assert_msg(strstr(diskfix_err, "dirty") && strstr(diskfix_err, "readonly=on"), "%s",
		      diskfix_err);
	ck_assert_int_eq(qcow2_open(&q, fd, "t.qcow2", 0, diskfix_err, sizeof(diskfix_err)), 0);
	qcow2_close(q);
	close(fd);
}
END_TEST

/*
 * An image whose refcount table (64 clusters, 4096 entries) names one
 * refcount block, full: every cluster of its 512 MiB sparse file is in use,
 * so the first free one is at the end. l1_entry is the L1 table's only
 * entry; L2 tables go at cluster 67 and data at 68 if it names them.
 */
static int crowded_img(uint64_t l1_entry, uint64_t l2_entry0)
{
	const unsigned int entries = 64 * 64;
	uint64_t *reft = malloc((size_t)entries * 8);
	int fd = sparse_img(SB, SC(64), 64, 66, 1, (uint64_t)entries * 256 * 512, false);

	ck_assert_ptr_nonnull(reft);
	for (unsigned int j = 0; j < entries; j++)
		reft[j] = htobe64(SC(65));
	ck_assert_int_eq(pwrite(fd, reft, (size_t)entries * 8, (off_t)SC(1)), (ssize_t)entries * 8);
	free(reft);
	for (unsigned int c = 0; c < 256; c++)
		fd_put(fd, SC(65) + 2 * c, 1, 2);
	fd_put(fd, SC(66), l1_entry, 8);
	fd_put(fd, SC(67), l2_entry0, 8);
	return fd;
}

/*
 * Finding a free cluster in such an image means passing a million clusters
 * in use. One call did it all at once, on the event loop's thread; it now
 * passes at most FIND_FREE_BUDGET of them per call (-EAGAIN: call again),
 * going on where it stopped, and the disk layer takes the calls as steps of
 * a request, each a reap of its own: for a write, and for WRITE_ZEROES
 * that must copy a shared L2 table.
 */
START_TEST(finding_a_free_cluster_goes_in_steps)
{
	uint8_t data[512], got[512];
	struct qcow2_extent e;
	struct qcow2 *q;
	struct disk *d;
	struct disk_req req;
	struct iovec iov = { data, sizeof(data) };
	char path[64];
	unsigned int calls = 0;
	int ret, fd = crowded_img(0, 0);

	ck_assert_msg(qcow2_open(&q, fd, "t.qcow2", QCOW2_OPEN_WRITE, diskfix_err,
				 sizeof(diskfix_err)) == 0,
		      "%s", diskfix_err);
	memset(data, 0x3c, sizeof(data));
	do {
		ret = qcow2_write_cluster(q, SC(3), data);
		calls++;
	} while (ret == -EAGAIN && calls < 1000);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_ge(calls, 16);
	ck_assert_uint_le(calls, 20);
	ck_assert_int_eq(qcow2_map(q, SC(3), 512, &e), 0);
	ck_assert_int_eq(e.kind, QCOW2_DATA);
	ck_assert_uint_ge(e.host_off, (uint64_t)64 * 64 * 256 * 512);
	ck_assert_int_eq(pread(fd, got, sizeof(got), (off_t)e.host_off), (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, data, sizeof(data));
	/* Now the search starts past the crowd: quick. */
	ck_assert_int_eq(qcow2_write_cluster(q, SC(40), data), 0);
	ck_assert_int_eq(qcow2_release(q), 0);
	qcow2_close(q);
	close(fd);

	for (unsigned int k = 0; k < 2; k++) {
		struct disk_config cfg = { .path = path, .format = DISK_FORMAT_QCOW2 };
		unsigned int steps;

		/* k = 1: cluster 0 is data, through an L2 table that is not the image's own. */
		fd = k ? crowded_img(SC(67), SC(68) | (1ULL << 63)) : crowded_img(0, 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ck_assert_msg(disk_open(&d, &cfg, diskfix_err, sizeof(diskfix_err)) == 0, "%s",
			      diskfix_err);
		if (k == 0)
			req = (struct disk_req){ .op = DISK_WRITE, .iov = &iov, .iovcnt = 1 };
		else
			req = (struct disk_req){ .op = DISK_WRITE_ZEROES, .len = 512 };
		steps = diskfix_run_steps(d, &req);
		ck_assert_uint_ge(steps, 16);
		ck_assert_uint_le(steps, 24);
		memset(got, 0xee, sizeof(got));
		ck_assert_int_eq(diskfix_read(d, 0, got, sizeof(got)), 0);
		if (k == 0) {
			ck_assert_mem_eq(got, data, sizeof(data));
		} else {
			memset(data, 0, sizeof(data));
			ck_assert_mem_eq(got, data, sizeof(data));
		}
		ck_assert_int_eq(disk_close(d), 0);
		close(fd);
	}
}
END_TEST

static Suite *qcow2_suite(void)
{
	Suite *s = suite_create("qcow2");
	TCase *tc = tcase_create("qcow2");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, probe);
	tcase_add_test(tc, mapping);
	tcase_add_test(tc, compressed_clusters);
	tcase_add_test(tc, hostile_tables_fail_requests);
	tcase_add_test(tc, hostile_headers_are_refused);
	tcase_add_test(tc, backing_and_flags);
	tcase_add_test(tc, qemu_img_images_read_back);
	tcase_add_test(tc, chains_read_as_qemu_img_reads);
	tcase_add_test(tc, chain_errors);
	tcase_add_test(tc, probed_raw_keeps_its_format);
	tcase_add_test(tc, no_refcount_table_is_refused);
	tcase_add_test(tc, reftable_grows_to_the_end_of_a_sparse_file);
	tcase_add_test(tc, repair_grows_reftable_to_the_end_of_a_sparse_file);
	suite_add_tcase(s, tc);
	/* Each test here is quick; one that takes seconds is walking what it should not. */
	tc = tcase_create("bounded");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, repair_walks_a_shared_l2_table_once);
	tcase_add_test(tc, finding_a_free_cluster_goes_in_steps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(qcow2_suite());
}
