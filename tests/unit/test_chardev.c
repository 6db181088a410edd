// SPDX-License-Identifier: MIT
#include "config.h"

#include "app/chardev.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(parse_specs)
{
	struct chardev_spec s;

	ck_assert_int_eq(chardev_parse("stdio", &s), 0);
	ck_assert_int_eq(s.kind, CHARDEV_STDIO);
	ck_assert_int_eq(chardev_parse("null", &s), 0);
	ck_assert_int_eq(s.kind, CHARDEV_NONE);
	ck_assert_int_eq(chardev_parse("file:out.txt", &s), 0);
	ck_assert_int_eq(s.kind, CHARDEV_FILE);
	ck_assert_str_eq(s.path, "out.txt");
	ck_assert_int_eq(chardev_parse("file:", &s), -EINVAL);
	ck_assert_int_eq(chardev_parse("pty", &s), -EINVAL);
	ck_assert_int_eq(chardev_parse("", &s), -EINVAL);
}
END_TEST

START_TEST(full_pipe_drops_instead_of_blocking)
{
	struct chardev *cd;
	char buf[4096];
	int p[2];
	uint64_t total = 0;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(chardev_open_fd(&cd, p[1]), 0);
	memset(buf, 'x', sizeof(buf));
	/* Far more than a pipe holds; the test would hang if a write blocked. */
	for (int i = 0; i < 64; i++) {
		chardev_write(cd, buf, sizeof(buf));
		total += sizeof(buf);
	}
	ck_assert_uint_gt(chardev_dropped(cd), 0);
	ck_assert_uint_lt(chardev_dropped(cd), total);
	chardev_close(cd);
	/* The caller's descriptor stays open. */
	ck_assert_int_ge(fcntl(p[1], F_GETFD), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(stdout_pipe_is_not_made_nonblocking)
{
	struct chardev_spec spec = { .kind = CHARDEV_STDIO };
	struct chardev *cd;
	char buf[4096];
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(dup2(p[1], STDOUT_FILENO), 0);
	ck_assert_int_eq(chardev_open(&cd, &spec), 0);
	memset(buf, 'y', sizeof(buf));
	for (int i = 0; i < 64; i++)
		chardev_write(cd, buf, sizeof(buf));
	ck_assert_uint_gt(chardev_dropped(cd), 0);
	/* Other writers of standard output still see a blocking descriptor. */
	ck_assert_int_eq(fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK, 0);
	chardev_close(cd);
}
END_TEST

START_TEST(full_socket_drops_instead_of_blocking)
{
	struct chardev *cd;
	char buf[4096];
	int sv[2];

	/* A blocking socket, as when standard output goes to a logging service. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(chardev_open_fd(&cd, sv[0]), 0);
	memset(buf, 'z', sizeof(buf));
	for (int i = 0; i < 256; i++)
		chardev_write(cd, buf, sizeof(buf));
	ck_assert_uint_gt(chardev_dropped(cd), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	/* A reader that went away: dropped, and no SIGPIPE kills the process. */
	close(sv[1]);
	chardev_write(cd, buf, 1);
	chardev_close(cd);
	close(sv[0]);
}
END_TEST

START_TEST(file_is_created_and_truncated)
{
	char path[256];
	struct chardev_spec spec = { .kind = CHARDEV_FILE, .path = path };
	struct chardev *cd;
	char got[32] = { 0 };
	int fd = scratch_file(path, sizeof(path), "ember-chardev-");

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "old contents, longer", 20), 20);
	close(fd);
	ck_assert_int_eq(chardev_open(&cd, &spec), 0);
	chardev_write(cd, "new", 3);
	chardev_close(cd);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, got, sizeof(got)), 3);
	ck_assert_str_eq(got, "new");
	close(fd);
	unlink(path);

	spec.path = "/nonexistent-dir/x";
	ck_assert_int_eq(chardev_open(&cd, &spec), -ENOENT);
}
END_TEST

START_TEST(none_discards)
{
	struct chardev_spec spec = { .kind = CHARDEV_NONE };
	struct chardev *cd;

	ck_assert_int_eq(chardev_open(&cd, &spec), 0);
	chardev_write(cd, "gone", 4);
	ck_assert_uint_eq(chardev_dropped(cd), 0);
	chardev_close(cd);
}
END_TEST

static Suite *chardev_suite(void)
{
	Suite *s = suite_create("chardev");
	TCase *tc = tcase_create("chardev");

	tcase_add_test(tc, parse_specs);
	tcase_add_test(tc, full_pipe_drops_instead_of_blocking);
	tcase_add_test(tc, stdout_pipe_is_not_made_nonblocking);
	tcase_add_test(tc, full_socket_drops_instead_of_blocking);
	tcase_add_test(tc, file_is_created_and_truncated);
	tcase_add_test(tc, none_discards);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(chardev_suite());
}
