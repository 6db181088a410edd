// SPDX-License-Identifier: MIT
#include "config.h"

#include "jail.h"
#include "core/log.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Ids are parsed as unsigned int and stored as uid_t and gid_t. */
_Static_assert(sizeof(uid_t) == sizeof(unsigned int) && sizeof(gid_t) == sizeof(unsigned int),
	       "uid_t and gid_t are 32 bits");

/* Says what failed and is `ret`; a macro so that a static analyzer follows the value. */
#define fail(err, len, ret, ...) (log_errbuf((err), (len), __VA_ARGS__), (ret))

/* All decimal digits: an id, not a name (shadow's tools refuse all-digit names). */
static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Below (unsigned int)-1, which setresuid() and setresgid() take as "leave as is". */
static int parse_id(const char *s, unsigned int *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v >= (unsigned int)-1)
		return -ERANGE;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Names come from /etc/passwd and /etc/group themselves, not through NSS:
 * ember is linked statically, and NSS modules loaded into a static binary
 * may crash it. A user known only to a directory service is given by id.
 */
static bool find_user(const char *name, uid_t uid, struct passwd *out)
{
	FILE *f = fopen("/etc/passwd", "re");
	struct passwd *pw;
	bool found = false;

	if (!f)
		return false;
	while (!found && (pw = fgetpwent(f))) {
		found = name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid;
		if (found)
			*out = (struct passwd){ .pw_uid = pw->pw_uid, .pw_gid = pw->pw_gid };
	}
	fclose(f);
	return found;
}

static bool find_group(const char *name, gid_t *gid)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *gr;
	bool found = false;

	if (!f)
		return false;
	while (!found && (gr = fgetgrent(f))) {
		found = strcmp(gr->gr_name, name) == 0;
		if (found)
			*gid = gr->gr_gid;
	}
	fclose(f);
	return found;
}

/* USER into j->uid; its passwd entry, when it has one, gives j->gid too. */
static int resolve_user(const char *user, struct jail *j, bool *has_gid, char *err, size_t len)
{
	struct passwd pw;
	unsigned int id;
	bool found;

	if (all_digits(user)) {
		if (parse_id(user, &id) < 0)
			return fail(err, len, -EINVAL, "-runas: user id %s is out of range", user);
		j->uid = id;
		found = find_user(NULL, id, &pw);
	} else {
		found = find_user(user, 0, &pw);
		if (!found)
			return fail(err, len, -EINVAL, "-runas: no user '%s' in /etc/passwd", user);
		j->uid = pw.pw_uid;
	}
	*has_gid = found;
	if (found)
		j->gid = pw.pw_gid;
	return 0;
}

static int resolve_group(const char *group, gid_t *gid, char *err, size_t len)
{
	unsigned int id;

	if (all_digits(group)) {
		if (parse_id(group, &id) < 0)
			return fail(err, len, -EINVAL, "-runas: group id %s is out of range",
				    group);
		*gid = id;
		return 0;
	}
	if (!find_group(group, gid))
		return fail(err, len, -EINVAL, "-runas: no group '%s' in /etc/group", group);
	return 0;
}

static int prepare_runas(const char *user, const char *group, struct jail *j, char *err, size_t len)
{
	bool has_gid;
	int ret = resolve_user(user, j, &has_gid, err, len);

	if (ret < 0)
		return ret;
	if (group)
		return resolve_group(group, &j->gid, err, len);
	/* Taking gid = uid would be a guess, and a wrong group is not seen until it matters. */
	if (!has_gid)
		return fail(err, len, -EINVAL,
			    "-runas: uid %s has no passwd entry to take a group from; give one "
			    "(-runas %s:GROUP)",
			    user, user);
	return 0;
}

static int prepare_chroot(const char *dir, struct jail *j, char *err, size_t len)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		int e = errno;

		if (e == ENOENT)
			return fail(err, len, -EINVAL, "-chroot: directory %s does not exist", dir);
		return fail(err, len, -EINVAL, "-chroot: %s: %s", dir, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return fail(err, len, -EINVAL, "-chroot: %s is not a directory", dir);
	/* Resolved now: ember may have changed its working directory by then. */
	if (!realpath(dir, j->root))
		return fail(err, len, -EINVAL, "-chroot: %s: %s", dir, strerror(errno));
	j->chroot = true;
	return 0;
}

/* Read now: /proc may be out of reach after the chroot. */
static int read_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int cap = -1;

	if (f) {
		if (fscanf(f, "%d", &cap) != 1)
			cap = -1;
		fclose(f);
	}
	/* capset's version 3 holds 64 capabilities. */
	return cap >= 0 && cap < 64 ? cap : CAP_LAST_CAP;
}

int jail_prepare(const char *runas_user, const char *runas_group, const char *chroot_dir,
		 uid_t euid, struct jail *j, char *err, size_t len)
{
	int ret;

	memset(j, 0, sizeof(*j));
	j->last_cap = read_last_cap();
	if (len)
		err[0] = '\0';
	if (euid != 0 && (runas_user || chroot_dir))
		return fail(err, len, -EINVAL,
			    "%s needs ember started as root; it runs as uid %u, which cannot "
			    "change users or its root directory",
			    runas_user ? "-runas" : "-chroot", (unsigned int)euid);
	if (runas_user) {
		ret = prepare_runas(runas_user, runas_group, j, err, len);
		if (ret < 0)
			return ret;
		j->runas = true;
	}
	if (chroot_dir)
		return prepare_chroot(chroot_dir, j, err, len);
	return 0;
}

/* --- entering ------------------------------------------------------------------ */

/* The calling thread's capability sets (two 32-bit words each), without libcap. */
static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

static int caps_clear(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

static bool has_cap(int cap)
{
	struct __user_cap_data_struct data[2];

	if (caps_get(data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

static int enter_chroot(const struct jail *j, char *err, size_t len)
{
	int e;

	if (chroot(j->root) < 0) {
		e = errno;
		return fail(err, len, -e, "chroot %s: %s", j->root, strerror(e));
	}
	/* A working directory left outside the new root is a way out of it. */
	if (chdir("/") < 0) {
		e = errno;
		return fail(err, len, -e, "chdir / after chroot %s: %s", j->root, strerror(e));
	}
	return 0;
}

/*
 * Empties the bounding set, so that nothing, not even an executed file,
 * brings a capability back. That needs CAP_SETPCAP; a process without it
 * (not root) has nothing to bring back that no_new_privs does not stop.
 */
static int drop_bounding_set(const struct jail *j, char *err, size_t len)
{
	if (!has_cap(CAP_SETPCAP))
		return 0;
	for (int cap = 0; cap <= j->last_cap; cap++) {
		/* EINVAL: a capability this kernel does not have (the fallback last_cap). */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			int e = errno;

			return fail(err, len, -e,
				    "dropping capability %d from the bounding set: %s", cap,
				    strerror(e));
		}
	}
	return 0;
}

/* glibc applies each call to every thread of the process, as POSIX asks. */
static int drop_ids(const struct jail *j, char *err, size_t len)
{
	int e;

	/* Groups first: changing them needs CAP_SETGID, which the new uid takes away. */
	if (setgroups(0, NULL) < 0) {
		e = errno;
		return fail(err, len, -e, "setgroups (dropping supplementary groups): %s",
			    strerror(e));
	}
	if (setresgid(j->gid, j->gid, j->gid) < 0) {
		e = errno;
		return fail(err, len, -e, "setresgid %u: %s", (unsigned int)j->gid, strerror(e));
	}
	if (setresuid(j->uid, j->uid, j->uid) < 0) {
		e = errno;
		return fail(err, len, -e, "setresuid %u: %s", (unsigned int)j->uid, strerror(e));
	}
	return 0;
}

/* No way back: no_new_privs stops set-user-ID files and file capabilities. */
static int drop_caps(char *err, size_t len)
{
	int e, ret;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		e = errno;
		return fail(err, len, -e, "PR_SET_NO_NEW_PRIVS: %s", strerror(e));
	}
	/* EINVAL: a kernel before 4.3 has no ambient set to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		e = errno;
		return fail(err, len, -e, "clearing the ambient capabilities: %s", strerror(e));
	}
	ret = caps_clear();
	if (ret < 0)
		return fail(err, len, ret, "capset (no capabilities): %s", strerror(-ret));
	return 0;
}

static int check_ids(const struct jail *j, char *err, size_t len)
{
	uid_t ru = (uid_t)-1, eu = (uid_t)-1, su = (uid_t)-1;
	gid_t rg = (gid_t)-1, eg = (gid_t)-1, sg = (gid_t)-1;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (ru != j->uid || eu != j->uid || su != j->uid)
		return fail(err, len, -EPERM, "after setresuid %u: the uids are %u, %u and %u",
			    (unsigned int)j->uid, (unsigned int)ru, (unsigned int)eu,
			    (unsigned int)su);
	if (rg != j->gid || eg != j->gid || sg != j->gid)
		return fail(err, len, -EPERM, "after setresgid %u: the gids are %u, %u and %u",
			    (unsigned int)j->gid, (unsigned int)rg, (unsigned int)eg,
			    (unsigned int)sg);
	/* A root id kept anywhere, or a capability, would let this succeed. */
	if (j->uid != 0 && setuid(0) == 0)
		return fail(err, len, -EPERM, "setuid(0) still succeeds after dropping to uid %u",
			    (unsigned int)j->uid);
	return 0;
}

/* Trust nothing above: check that the drop took. */
static int check_dropped(const struct jail *j, char *err, size_t len)
{
	struct __user_cap_data_struct caps[2];
	int ret;

	if (j->runas) {
		ret = check_ids(j, err, len);
		if (ret < 0)
			return ret;
	}
	ret = caps_get(caps);
	if (ret < 0)
		return fail(err, len, ret, "capget: %s", strerror(-ret));
	for (int i = 0; i < 2; i++)
		if (caps[i].effective || caps[i].permitted || caps[i].inheritable)
			return fail(err, len, -EPERM, "capabilities are left after capset");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return fail(err, len, -EPERM, "no_new_privs is not set");
	return 0;
}

int jail_enter(const struct jail *j, char *err, size_t len)
{
	int ret;

	if (j->chroot) {
		ret = enter_chroot(j, err, len);
		if (ret < 0)
			return ret;
	}
	ret = drop_bounding_set(j, err, len);
	if (ret < 0)
		return ret;
	if (j->runas) {
		ret = drop_ids(j, err, len);
		if (ret < 0)
			return ret;
	}
	ret = drop_caps(err, len);
	if (ret < 0)
		return ret;
	return check_dropped(j, err, len);
}
