// SPDX-License-Identifier: MIT
/*
 * jail_prepare on good and bad -runas and -chroot values, and jail_enter in
 * a forked child (it cannot be undone), which reports by its exit code what
 * it found.
 */
#include "config.h"

#include "app/jail.h"
#include "scratch.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define NO_SUCH_ID "4000000000" /* no passwd or group entry anywhere */

static struct jail j;
static char err[512];

/* jail_prepare as root, as far as it can tell. */
static int prepare(const char *user, const char *group, const char *dir)
{
	return jail_prepare(user, group, dir, 0, &j, err, sizeof(err));
}

/* The call fails with a one-line message that contains `needle`. */
static void fails_with(int ret, const char *needle)
{
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_msg(strstr(err, needle), "'%s' not in '%s'", needle, err);
	ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(prepare_nothing)
{
	/* Without -runas or -chroot, anyone may run: nothing to resolve. */
	ck_assert_int_eq(jail_prepare(NULL, NULL, NULL, 1000, &j, err, sizeof(err)), 0);
	ck_assert(!j.runas);
	ck_assert(!j.chroot);
	ck_assert_int_gt(j.last_cap, 0);
	ck_assert_int_lt(j.last_cap, 64);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(prepare_users)
{
	struct passwd *pw = getpwnam("nobody");

	ck_assert_int_eq(prepare("root", NULL, NULL), 0);
	ck_assert(j.runas);
	ck_assert_uint_eq(j.uid, 0);
	ck_assert_uint_eq(j.gid, 0);
	ck_assert_int_eq(prepare("root", "root", NULL), 0);
	ck_assert_uint_eq(j.gid, 0);
	/* Numbers are taken as they are, with or without a passwd entry. */
	ck_assert_int_eq(prepare("65534", "65534", NULL), 0);
	ck_assert_uint_eq(j.uid, NOBODY);
	ck_assert_uint_eq(j.gid, NOBODY);
	ck_assert_int_eq(prepare(NO_SUCH_ID, "123", NULL), 0);
	ck_assert_uint_eq(j.uid, 4000000000u);
	ck_assert_uint_eq(j.gid, 123);
	/* A numeric uid with a passwd entry takes its group from there. */
	ck_assert_int_eq(prepare("0", NULL, NULL), 0);
	ck_assert_uint_eq(j.uid, 0);
	ck_assert_uint_eq(j.gid, 0);
	ck_assert(!j.chroot);

	UNIT_NEED(pw, "no user 'nobody' on this host");
	ck_assert_int_eq(prepare("nobody", NULL, NULL), 0);
	ck_assert_uint_eq(j.uid, pw->pw_uid);
	ck_assert_uint_eq(j.gid, pw->pw_gid);
	ck_assert_int_eq(prepare("nobody", "0", NULL), 0);
	ck_assert_uint_eq(j.uid, pw->pw_uid);
	ck_assert_uint_eq(j.gid, 0);
}
END_TEST

START_TEST(prepare_user_errors)
{
	fails_with(prepare("no-such-user-here", NULL, NULL),
		   "-runas: no user 'no-such-user-here' in /etc/passwd");
	fails_with(prepare("root", "no-such-group-here", NULL),
		   "-runas: no group 'no-such-group-here' in /etc/group");
	/* Without a passwd entry there is no group to default to. */
	fails_with(prepare(NO_SUCH_ID, NULL, NULL), "-runas " NO_SUCH_ID ":GROUP");
	ck_assert_ptr_nonnull(strstr(err, "no passwd entry"));
	/* -1 means "leave as is" to setresuid() and setresgid(). */
	fails_with(prepare("4294967295", "0", NULL), "user id 4294967295 is out of range");
	fails_with(prepare("99999999999999999999", "0", NULL), "is out of range");
	fails_with(prepare("0", "4294967295", NULL), "group id 4294967295 is out of range");
	/* Only root can change its ids or its root directory. */
	fails_with(jail_prepare("nobody", NULL, NULL, 1000, &j, err, sizeof(err)),
		   "-runas needs ember started as root; it runs as uid 1000");
	fails_with(jail_prepare("1000", "1000", NULL, 1000, &j, err, sizeof(err)),
		   "-runas needs ember started as root");
	fails_with(jail_prepare(NULL, NULL, "/", 1000, &j, err, sizeof(err)),
		   "-chroot needs ember started as root");
	ck_assert(!j.runas);
	ck_assert(!j.chroot);
}
END_TEST

START_TEST(prepare_chroot)
{
	char dir[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX], *base;

	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "jail-"), 0);
	ck_assert_ptr_nonnull(realpath(dir, real));
	ck_assert_int_eq(prepare(NULL, NULL, dir), 0);
	ck_assert(j.chroot);
	ck_assert(!j.runas);
	ck_assert_str_eq(j.root, real);
	/* A relative name is made absolute, for a jail_enter in another directory. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	base = strrchr(dir, '/');
	*base = '\0';
	ck_assert_int_eq(chdir(dir), 0);
	*base = '/';
	ck_assert_int_eq(prepare(NULL, NULL, base + 1), 0);
	ck_assert_str_eq(j.root, real);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(prepare("0", NULL, dir), 0);
	ck_assert(j.chroot);
	ck_assert(j.runas);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(prepare_chroot_errors)
{
	char dir[PATH_MAX], file[PATH_MAX], missing[PATH_MAX + 16];
	int fd;

	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "jail-"), 0);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	fails_with(prepare(NULL, NULL, missing), "does not exist");
	ck_assert_ptr_nonnull(strstr(err, missing));
	fd = scratch_file(file, sizeof(file), "jail-file-");
	ck_assert_int_ge(fd, 0);
	close(fd);
	fails_with(prepare(NULL, NULL, file), "is not a directory");
	ck_assert_ptr_nonnull(strstr(err, file));
	/* A file on the way is ENOTDIR from stat(), said as such. */
	snprintf(missing, sizeof(missing), "%s/sub", file);
	fails_with(prepare(NULL, NULL, missing), "-chroot: ");
	ck_assert_ptr_nonnull(strstr(err, strerror(ENOTDIR)));
	/* A bad -runas is found before the directory is looked at. */
	fails_with(prepare("no-such-user-here", NULL, dir), "no user");
	ck_assert(!j.chroot);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* --- jail_enter in a child ------------------------------------------------------- */

/* What a child found, as its exit code. */
enum child_result {
	CHILD_OK,
	CHILD_PREPARE,
	CHILD_ENTER,
	CHILD_UIDS,
	CHILD_GIDS,
	CHILD_GROUPS,
	CHILD_MARKER,
	CHILD_CWD,
	CHILD_NO_NEW_PRIVS,
	CHILD_CAPS,
	CHILD_BOUNDING,
	CHILD_SETUID,
	CHILD_ERRNO,
};

static const char *const child_results[] = {
	[CHILD_OK] = "passed",
	[CHILD_PREPARE] = "jail_prepare failed",
	[CHILD_ENTER] = "jail_enter failed",
	[CHILD_UIDS] = "the uids are not all the new one",
	[CHILD_GIDS] = "the gids are not all the new one",
	[CHILD_GROUPS] = "supplementary groups are left",
	[CHILD_MARKER] = "/marker is not there after the chroot",
	[CHILD_CWD] = "the working directory is not the new root",
	[CHILD_NO_NEW_PRIVS] = "no_new_privs is not set",
	[CHILD_CAPS] = "capabilities are left",
	[CHILD_BOUNDING] = "the bounding set is not empty",
	[CHILD_SETUID] = "setuid(0) succeeded",
	[CHILD_ERRNO] = "jail_enter did not fail as expected",
};

/* Runs fn in a child and checks that it reported CHILD_OK. */
static void in_child(enum child_result (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == CHILD_OK, "in the child: %s",
		      (unsigned int)WEXITSTATUS(status) <
				      sizeof(child_results) / sizeof(child_results[0])
			      ? child_results[WEXITSTATUS(status)]
			      : "an unknown result");
}

/* Every capability set of the thread is empty, and so is the bounding set. */
static enum child_result check_no_caps(int last_cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return CHILD_CAPS;
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return CHILD_CAPS;
	for (int cap = 0; cap <= last_cap; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
			return CHILD_BOUNDING;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0) > 0)
		return CHILD_CAPS;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return CHILD_NO_NEW_PRIVS;
	return CHILD_OK;
}

static enum child_result enter(const char *user, const char *group, const char *dir)
{
	char e[256];

	if (jail_prepare(user, group, dir, geteuid(), &j, e, sizeof(e)) < 0) {
		fprintf(stderr, "jail_prepare: %s\n", e);
		return CHILD_PREPARE;
	}
	if (jail_enter(&j, e, sizeof(e)) < 0) {
		fprintf(stderr, "jail_enter: %s\n", e);
		return CHILD_ENTER;
	}
	return CHILD_OK;
}

static enum child_result runas_nobody_in_chroot(void *arg)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	char cwd[16];
	gid_t extra[] = { 1, 2 };
	enum child_result res;

	/* Supplementary groups for the drop to take away. */
	if (setgroups(2, extra) < 0)
		return CHILD_GROUPS;
	res = enter("65534", "65534", arg);
	if (res != CHILD_OK)
		return res;
	if (getresuid(&r, &e, &s) < 0 || r != NOBODY || e != NOBODY || s != NOBODY)
		return CHILD_UIDS;
	if (getresgid(&rg, &eg, &sg) < 0 || rg != NOBODY || eg != NOBODY || sg != NOBODY)
		return CHILD_GIDS;
	if (getgroups(0, NULL) != 0)
		return CHILD_GROUPS;
	if (access("/marker", F_OK) < 0)
		return CHILD_MARKER;
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/") != 0)
		return CHILD_CWD;
	res = check_no_caps(j.last_cap);
	if (res != CHILD_OK)
		return res;
	return setuid(0) == 0 ? CHILD_SETUID : CHILD_OK;
}

START_TEST(enter_as_nobody_in_chroot)
{
	char dir[PATH_MAX], marker[PATH_MAX + 16];
	int fd;

	UNIT_NEED(geteuid() == 0, "changing users and the root directory needs root");
	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "jail-root-"), 0);
	/* nobody must be able to look inside its new root. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	in_child(runas_nobody_in_chroot, dir);
	ck_assert_int_eq(unlink(marker), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static enum child_result root_without_caps(void *arg)
{
	enum child_result res = enter(NULL, NULL, NULL);

	(void)arg;
	if (res != CHILD_OK)
		return res;
	if (geteuid() != 0)
		return CHILD_UIDS;
	return check_no_caps(j.last_cap);
}

START_TEST(enter_as_root_without_caps)
{
	UNIT_NEED(geteuid() == 0, "dropping capabilities is only seen with some to drop");
	in_child(root_without_caps, NULL);
}
END_TEST

/* The chroot directory went away after jail_prepare: jail_enter names the step. */
static enum child_result chroot_gone(void *arg)
{
	char e[256];

	if (jail_prepare(NULL, NULL, arg, 0, &j, e, sizeof(e)) < 0)
		return CHILD_PREPARE;
	if (rmdir(arg) < 0)
		return CHILD_PREPARE;
	if (jail_enter(&j, e, sizeof(e)) != -ENOENT || strncmp(e, "chroot ", 7) != 0) {
		fprintf(stderr, "jail_enter: %s\n", e);
		return CHILD_ERRNO;
	}
	return CHILD_OK;
}

START_TEST(enter_names_the_failed_step)
{
	char dir[PATH_MAX];

	ck_assert_int_eq(scratch_dir(dir, sizeof(dir), "jail-gone-"), 0);
	in_child(chroot_gone, dir);
}
END_TEST

static Suite *jail_suite(void)
{
	Suite *s = suite_create("jail");
	TCase *tc = tcase_create("jail");

	tcase_add_test(tc, prepare_nothing);
	tcase_add_test(tc, prepare_users);
	tcase_add_test(tc, prepare_user_errors);
	tcase_add_test(tc, prepare_chroot);
	tcase_add_test(tc, prepare_chroot_errors);
	tcase_add_test(tc, enter_as_nobody_in_chroot);
	tcase_add_test(tc, enter_as_root_without_caps);
	tcase_add_test(tc, enter_names_the_failed_step);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(jail_suite());
}
