// SPDX-License-Identifier: MIT
/*
 * sccost [-n CALLS] [-r REPEATS]
 *
 * What ember's seccomp filters add to one system call. For each kind of
 * thread, every call on its list (core/sandbox.c) is made CALLS times in a
 * row, with arguments the kernel refuses at once or that change nothing (a
 * descriptor of -1, a length of 0, an ioctl on no file), once by a process
 * without a filter and once by a process under that kind's filter. The
 * filter runs before the kernel looks at the arguments, so it costs the
 * same as for the real call. Both processes are forked REPEATS times, in
 * turns; each figure is the median over the repeats.
 *
 * Prints, per kind and call, nanoseconds per call without and with the
 * filter, the most a filter added to any call (the bound bench/sandbox.bench
 * multiplies by the number of calls ember makes), and how long building
 * every filter takes (sandbox_prepare, at ember's start). Calls a probe
 * cannot make harmlessly (exit, rt_sigreturn) are named as not measured.
 *
 * No KVM needed; the kernel must have seccomp filters.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/sandbox.h"

#define MAX_PROBES 64
#define MAX_REPEATS 99

struct probe {
	const struct sandbox_rule *rule;
	long args[6];
};

static uint32_t futex_word;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Arguments that make the call harmless, or false when the call cannot be
 * made without effect (ending the thread, returning from a signal).
 */
static bool harmless_args(const struct sandbox_rule *r, long *a)
{
	static struct timespec ts;

	for (int i = 0; i < 6; i++)
		a[i] = 0;
	switch (r->nr) {
	case __NR_read:
	case __NR_write:
	case __NR_close:
	case __NR_pread64:
	case __NR_pwrite64:
	case __NR_preadv:
	case __NR_pwritev:
	case __NR_readv:
	case __NR_writev:
	case __NR_fdatasync:
	case __NR_fallocate:
	case __NR_io_uring_enter:
	case __NR_epoll_wait:
	case __NR_epoll_ctl:
	case __NR_sendto:
	case __NR_accept4:
	case __NR_timerfd_settime:
		a[0] = -1; /* EBADF */
		return true;
	case __NR_ioctl:
	case __NR_io_uring_register:
		a[0] = -1; /* EBADF, after the filter has compared the request */
		a[1] = (long)r->value;
		return true;
	case __NR_futex:
		a[0] = (long)&futex_word;
		a[1] = FUTEX_WAKE_PRIVATE;
		a[2] = 1; /* nobody waits */
		return true;
	case __NR_mmap:
		a[1] = 0; /* EINVAL: no length */
		a[2] = PROT_READ;
		a[3] = MAP_PRIVATE | MAP_ANONYMOUS;
		a[4] = -1;
		return true;
	case __NR_mprotect:
		a[2] = PROT_READ; /* no pages */
		return true;
	case __NR_munmap:
	case __NR_mremap:
	case __NR_madvise:
	case __NR_brk: /* brk(0) asks where the break is */
	case __NR_poll:
	case __NR_getrandom:
	case __NR_getpid:
	case __NR_tgkill: /* EINVAL: no such thread group */
	case __NR_unlink: /* EFAULT */
		if (r->nr == __NR_tgkill)
			a[0] = a[1] = -1;
		return true;
	case __NR_timerfd_create:
		a[0] = -1; /* EINVAL: no such clock */
		return true;
	case __NR_rt_sigprocmask:
		a[0] = SIG_BLOCK; /* no set: nothing changes */
		a[3] = 8;
		return true;
	case __NR_clock_gettime:
		a[0] = CLOCK_MONOTONIC;
		a[1] = (long)&ts;
		return true;
	default:
		return false;
	}
}

/* The probes of one kind of thread: its own calls and every thread's. */
static size_t probes_of(enum sandbox_kind kind, struct probe *p)
{
	const enum sandbox_kind lists[2] = { SANDBOX_KINDS, kind };
	size_t n = 0;

	for (int l = 0; l < 2; l++) {
		size_t count;
		const struct sandbox_rule *r = sandbox_rules(lists[l], &count);

		for (size_t i = 0; i < count && n < MAX_PROBES; i++) {
			p[n].rule = &r[i];
			n++;
		}
	}
	return n;
}

/* Nanoseconds per call of each probe, CALLS calls each, in a child; -1: not made. */
static void measure(const struct probe *p, size_t n, long calls, double *ns)
{
	for (size_t i = 0; i < n; i++) {
		long a[6];

		if (!harmless_args(p[i].rule, a)) {
			ns[i] = -1;
			continue;
		}
		double t = now_ns();
		for (long c = 0; c < calls; c++)
			syscall(p[i].rule->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		ns[i] = (now_ns() - t) / (double)calls;
	}
}

/* Forks a child that measures, confined first when `confine`; 0 or -1. */
static int child_run(enum sandbox_kind kind, bool confine, const struct probe *p, size_t n,
		     long calls, double *ns)
{
	int fd[2];
	pid_t pid;
	int status;
	ssize_t want = (ssize_t)(n * sizeof(*ns));

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fd[0]);
		if (confine && sandbox_enter(kind, "sccost") < 0)
			_exit(2);
		measure(p, n, calls, ns);
		_exit(write(fd[1], ns, (size_t)want) == want ? 0 : 3);
	}
	close(fd[1]);
	ssize_t got = read(fd[0], ns, (size_t)want);
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    got != want) {
		fprintf(stderr, "sccost: the %s child failed (status %#x)\n",
			confine ? "confined" : "unconfined", status);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void probe_name(const struct sandbox_rule *r, char *buf, size_t len)
{
	if (r->how == SANDBOX_EQ)
		snprintf(buf, len, "%s(%s)", r->name, r->value_name);
	else
		snprintf(buf, len, "%s", r->name);
}

int main(int argc, char **argv)
{
	long calls = 20000;
	int repeats = 5;
	int opt;
	char err[256] = "";
	double worst = 0;
	char worst_name[96] = "none";

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n':
			calls = strtol(optarg, NULL, 10);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || calls < 1 || calls > 100000000 || repeats < 1 ||
	    repeats > MAX_REPEATS)
		goto usage;

	double t = now_ns();
	if (sandbox_prepare(false, err, sizeof(err)) < 0) {
		fprintf(stderr, "sccost: %s\n", err);
		return 1;
	}
	printf("sccost: building every filter took %.3f ms\n", (now_ns() - t) / 1e6);

	for (int k = 0; k < SANDBOX_KINDS; k++) {
		static double off[MAX_REPEATS][MAX_PROBES], on[MAX_REPEATS][MAX_PROBES];
		struct probe p[MAX_PROBES];
		size_t n = probes_of((enum sandbox_kind)k, p);
		double kind_worst = 0;
		char kind_worst_name[64] = "none";
		const char *kname = sandbox_kind_name((enum sandbox_kind)k);

		for (int r = 0; r < repeats; r++) {
			if (child_run((enum sandbox_kind)k, false, p, n, calls, off[r]) < 0 ||
			    child_run((enum sandbox_kind)k, true, p, n, calls, on[r]) < 0)
				return 1;
		}
		for (size_t i = 0; i < n; i++) {
			double a[MAX_REPEATS], b[MAX_REPEATS];
			char name[64];

			probe_name(p[i].rule, name, sizeof(name));
			if (off[0][i] < 0) {
				printf("sccost: %-6s %-44s not measured (no harmless way to call "
				       "it)\n",
				       kname, name);
				continue;
			}
			for (int r = 0; r < repeats; r++) {
				a[r] = off[r][i];
				b[r] = on[r][i];
			}
			double m_off = median(a, repeats), m_on = median(b, repeats);
			printf("sccost: %-6s %-44s %8.1f ns -> %8.1f ns  (%+.1f ns)\n", kname, name,
			       m_off, m_on, m_on - m_off);
			if (m_on - m_off > kind_worst) {
				kind_worst = m_on - m_off;
				snprintf(kind_worst_name, sizeof(kind_worst_name), "%s", name);
			}
		}
		printf("sccost: %-6s most added to one call: %.1f ns (%s)\n", kname, kind_worst,
		       kind_worst_name);
		if (kind_worst > worst) {
			worst = kind_worst;
			snprintf(worst_name, sizeof(worst_name), "%s, %s thread", kind_worst_name,
				 kname);
		}
	}
	printf("sccost: %ld calls each, %d repeats; most added to one call, any thread: %.1f ns "
	       "(%s)\n",
	       calls, repeats, worst, worst_name);
	return 0;

usage:
	fprintf(stderr, "usage: sccost [-n CALLS (1..100000000)] [-r REPEATS (1..%d)]\n",
		MAX_REPEATS);
	return 2;
}
