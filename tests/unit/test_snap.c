// SPDX-License-Identifier: MIT
/* The snapshot file: sections, sparse RAM, copy-on-write mapping, and damaged files. */
#include "config.h"

#include "core/snap.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define RAM0 (64 * PAGE)
#define RAM1 (16 * PAGE)

struct fixture {
	char path[256];
	int fd;
	uint8_t *ram0, *ram1;
};

static void *anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* Writes a snapshot with two sections and two RAM regions, a few pages touched. */
static void make(struct fixture *f, struct snap_stats *st)
{
	struct snap_out *o;
	struct snap_region r[2];
	uint32_t word = 0x12345678;
	char text[] = "a longer section, not a multiple of eight";

	f->fd = scratch_file(f->path, sizeof(f->path), "snap");
	ck_assert_int_ge(f->fd, 0);
	f->ram0 = anon(RAM0);
	f->ram1 = anon(RAM1);
	memset(f->ram0 + 3 * PAGE, 0xa5, PAGE);
	f->ram0[10 * PAGE + 17] = 1;
	f->ram1[15 * PAGE + PAGE - 1] = 0x5a;
	r[0] = (struct snap_region){ 0, RAM0, f->ram0 };
	r[1] = (struct snap_region){ 1ULL << 32, RAM1, f->ram1 };
	ck_assert_int_eq(snap_out_create(&o), 0);
	ck_assert_int_eq(snap_out_add(o, "word", 1, &word, sizeof(word)), 0);
	ck_assert_int_eq(snap_out_add(o, "text", 3, text, sizeof(text)), 0);
	ck_assert_int_eq(snap_out_add(o, "empty", 1, NULL, 0), 0);
	ck_assert_int_eq(snap_out_write(o, f->fd, r, 2, st), 0);
	snap_out_destroy(o);
}

static void unmake(struct fixture *f)
{
	munmap(f->ram0, RAM0);
	munmap(f->ram1, RAM1);
	close(f->fd);
	unlink(f->path);
}

static int open_in(struct fixture *f, struct snap_in **in, char *err, size_t errlen)
{
	return snap_in_open(in, f->fd, err, errlen);
}

START_TEST(round_trip)
{
	struct fixture f;
	struct snap_stats st;
	struct snap_in *in;
	struct snap_region r[SNAP_MAX_REGIONS];
	char err[256] = "";
	uint32_t word = 0, len = 0;
	const char *text;
	int e;
	uint8_t *m0, *m1;

	make(&f, &st);
	ck_assert_uint_eq(st.ram_bytes, 3 * PAGE);
	ck_assert_uint_eq(st.zero_pages, RAM0 / PAGE + RAM1 / PAGE - 3);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(snap_in_get(in, "word", 1, &word, sizeof(word)), 0);
	ck_assert_uint_eq(word, 0x12345678);
	text = snap_in_find(in, "text", 3, &len, &e);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "a longer section, not a multiple of eight");
	ck_assert_uint_eq(len, 42);
	/* Not read yet: the machine would refuse a file with a section it does not know. */
	ck_assert_str_eq(snap_in_unread(in), "empty");
	ck_assert_int_eq(snap_in_get(in, "empty", 1, NULL, 0), 0);
	ck_assert_ptr_null(snap_in_unread(in));

	ck_assert_uint_eq(snap_in_regions(in, r), 2);
	ck_assert_uint_eq(r[1].gpa, 1ULL << 32);
	ck_assert_uint_eq(r[1].size, RAM1);
	m0 = anon(RAM0);
	m1 = anon(RAM1);
	ck_assert_int_eq(snap_in_map(in, 0, m0), 0);
	ck_assert_int_eq(snap_in_map(in, 1, m1), 0);
	ck_assert_mem_eq(m0, f.ram0, RAM0);
	ck_assert_mem_eq(m1, f.ram1, RAM1);
	/* Copy-on-write: the file keeps what it had. */
	m0[3 * PAGE] = 0;
	{
		uint8_t b = 0;

		ck_assert_int_eq(pread(f.fd, &b, 1, 2 * 1024 * 1024 + 3 * PAGE), 1);
		ck_assert_uint_eq(b, 0xa5);
	}
	snap_in_close(in);
	munmap(m0, RAM0);
	munmap(m1, RAM1);
	unmake(&f);
}
END_TEST

START_TEST(zero_pages_are_holes)
{
	struct fixture f;
	struct snap_stats st;
	struct stat sb;

	make(&f, &st);
	ck_assert_int_eq(fstat(f.fd, &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, st.file_bytes);
	/* Three pages of RAM and the state: far less than the 80 pages of RAM. */
	ck_assert_int_lt((long long)sb.st_blocks * 512, 32 * PAGE);
	unmake(&f);
}
END_TEST

START_TEST(sections_checked)
{
	struct fixture f;
	struct snap_stats st;
	struct snap_in *in;
	struct snap_out *o;
	char err[256];
	uint32_t word, len;
	uint64_t big;
	int e;

	make(&f, &st);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(snap_in_get(in, "none", 1, &word, sizeof(word)), -ENOENT);
	ck_assert_int_eq(snap_in_get(in, "word", 2, &word, sizeof(word)), -EPROTO);
	ck_assert_int_eq(snap_in_get(in, "word", 1, &big, sizeof(big)), -EBADMSG);
	ck_assert_ptr_null(snap_in_find(in, "nothing", 1, &len, &e));
	ck_assert_int_eq(e, -ENOENT);
	snap_in_close(in);

	ck_assert_int_eq(snap_out_create(&o), 0);
	ck_assert_int_eq(snap_out_add(o, "", 1, NULL, 0), -EINVAL);
	ck_assert_int_eq(snap_out_add(o, "sixteen-letters!", 1, NULL, 0), -EINVAL);
	ck_assert_int_eq(snap_out_add(o, "two words", 1, NULL, 0), -EINVAL);
	ck_assert_int_eq(snap_out_add(o, "once", 1, NULL, 0), 0);
	ck_assert_int_eq(snap_out_add(o, "once", 1, NULL, 0), -EINVAL);
	snap_out_destroy(o);
	unmake(&f);
}
END_TEST

/* Flips a byte at `off` and expects the file refused with `want`. */
static void damaged(struct fixture *f, off_t off, int want, const char *says)
{
	struct snap_in *in = NULL;
	char err[256] = "";
	uint8_t b;

	ck_assert_int_eq(pread(f->fd, &b, 1, off), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(f->fd, &b, 1, off), 1);
	ck_assert_int_eq(open_in(f, &in, err, sizeof(err)), want);
	ck_assert_ptr_null(in);
	ck_assert_msg(strstr(err, says), "\"%s\" does not say \"%s\"", err, says);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(f->fd, &b, 1, off), 1);
	ck_assert_int_eq(open_in(f, &in, err, sizeof(err)), 0);
	snap_in_close(in);
}

START_TEST(damage_refused)
{
	struct fixture f;
	struct snap_stats st;
	struct snap_in *in = NULL;
	char err[256] = "";
	uint32_t v = 7;

	make(&f, &st);
	damaged(&f, 0, -EBADMSG, "not an ember snapshot");
	damaged(&f, 20, -EBADMSG, "checksum"); /* state_off */
	damaged(&f, SNAP_STATE_OFF + 30, -EBADMSG, "checksum");
	/* A version from elsewhere is named as such. */
	ck_assert_int_eq(pwrite(f.fd, &v, 4, 8), 4);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "version 7"));
	v = SNAP_VERSION;
	ck_assert_int_eq(pwrite(f.fd, &v, 4, 8), 4);
	/* Cut short: RAM missing at the end. */
	ck_assert_int_eq(ftruncate(f.fd, (off_t)st.file_bytes - PAGE), 0);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "cut short"));
	ck_assert_int_eq(ftruncate(f.fd, 100), 0);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), -EBADMSG);
	ck_assert_int_eq(ftruncate(f.fd, 0), 0);
	ck_assert_int_eq(open_in(&f, &in, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "too short"));
	unmake(&f);
}
END_TEST

/* Every byte of the header and state flipped in turn: refused or read, never past the file. */
START_TEST(every_byte_flipped)
{
	struct fixture f;
	struct snap_stats st;
	/* The header, and the three sections (32 + 72 + 24 bytes). */
	off_t ends[2][2] = { { 0, 152 }, { SNAP_STATE_OFF, SNAP_STATE_OFF + 128 } };

	make(&f, &st);
	for (int k = 0; k < 2; k++) {
		for (off_t off = ends[k][0]; off < ends[k][1]; off++) {
			struct snap_in *in = NULL;
			char err[256];
			uint8_t b, x;
			int ret;

			ck_assert_int_eq(pread(f.fd, &b, 1, off), 1);
			x = b ^ 0xff;
			ck_assert_int_eq(pwrite(f.fd, &x, 1, off), 1);
			ret = open_in(&f, &in, err, sizeof(err));
			/* Both areas are checksummed: every flip is caught. */
			ck_assert_msg(ret < 0, "a flip at %lld went unnoticed", (long long)off);
			ck_assert_int_eq(pwrite(f.fd, &b, 1, off), 1);
		}
	}
	unmake(&f);
}
END_TEST

static Suite *snap_suite(void)
{
	Suite *s = suite_create("snap");
	TCase *tc = tcase_create("snap");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, zero_pages_are_holes);
	tcase_add_test(tc, sections_checked);
	tcase_add_test(tc, damage_refused);
	tcase_add_test(tc, every_byte_flipped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(snap_suite());
}
