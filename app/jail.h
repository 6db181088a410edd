/* SPDX-License-Identifier: MIT */
/*
 * The privilege drop behind -chroot and -runas. Everything is looked up and
 * checked before ember opens anything (jail_prepare: the passwd and group
 * databases and /proc are out of reach after a chroot), and the drop itself
 * happens once everything is open (jail_enter).
 *
 * jail_enter runs in the main thread before any other thread starts: the
 * capability sets, the bounding set and no_new_privs belong to each thread,
 * so a thread started earlier keeps what it had.
 */
#ifndef EMBER_JAIL_H
#define EMBER_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct jail {
	bool chroot;
	char root[PATH_MAX]; /* absolute: jail_enter may run in another directory */
	bool runas;
	uid_t uid;
	gid_t gid;
	int last_cap; /* the kernel's highest capability */
};

/*
 * Resolves -runas USER[:GROUP] (names or numbers; GROUP defaults to USER's
 * primary group) and -chroot DIR into `j`; NULL arguments were not given.
 * `euid` is geteuid(), a parameter so that tests can pretend. 0, or -EINVAL
 * with a one-line message in `err`.
 */
int jail_prepare(const char *runas_user, const char *runas_group, const char *chroot_dir,
		 uid_t euid, struct jail *j, char *err, size_t len);

/*
 * Enters the jail for good: chroot into j->root, empty the bounding set
 * (when the process may), take j's uid and gid with no supplementary groups,
 * set no_new_privs, and give up every capability. Then checks that the
 * drop took. 0, or the failed step's -errno with a message naming the step.
 */
int jail_enter(const struct jail *j, char *err, size_t len);

#endif
