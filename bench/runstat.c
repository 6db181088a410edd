// SPDX-License-Identifier: MIT
/*
 * runstat -o FILE [-u TEXT] [-m TEXT]... -- COMMAND [ARGS...]
 *
 * Runs COMMAND and appends one line to FILE: its wall-clock time in
 * milliseconds, its peak resident set size in KiB (from wait4's rusage) and
 * its exit status (128 + N after signal N). Exits with COMMAND's status.
 * Busybox has no clock finer than a second, hence this tool.
 *
 * With -u, COMMAND's standard output passes through runstat, the time is
 * taken when TEXT first appears there, and COMMAND is then ended with
 * SIGTERM. If TEXT never appears, the time is written as -1.
 *
 * Each -m TEXT (at most 8) marks a moment on the way: standard output passes
 * through runstat, and before its last line FILE gets "mark N MS" for the
 * Nth -m, MS the milliseconds from the start until TEXT first appeared
 * (-1 if it never did).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define MAX_MARKS 8
#define MAX_TEXT 256

/*
 * Copies fd to standard output until end of file. seen[i] gets the time at
 * which text[i] first went past (-1 if it never did); when until is given
 * and goes past, pid is ended and the copy stops, its time returned (-1 if
 * it never went past).
 */
static double watch(int fd, const char *until, const char **text, double *seen, int n, pid_t pid,
		    double start)
{
	size_t longest = until ? strlen(until) : 1, keep = 0;
	double until_seen = -1;
	char buf[4096 + MAX_TEXT];
	ssize_t got;
	int i;

	for (i = 0; i < n; i++) {
		seen[i] = -1;
		if (strlen(text[i]) > longest)
			longest = strlen(text[i]);
	}
	for (;;) {
		got = read(fd, buf + keep, sizeof(buf) - MAX_TEXT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (fwrite(buf + keep, 1, (size_t)got, stdout) != (size_t)got)
			break;
		fflush(stdout);
		keep += (size_t)got;
		for (i = 0; i < n; i++)
			if (seen[i] < 0 && memmem(buf, keep, text[i], strlen(text[i])))
				seen[i] = now_ms() - start;
		if (until && memmem(buf, keep, until, strlen(until))) {
			until_seen = now_ms() - start;
			kill(pid, SIGTERM);
			break;
		}
		/* The last longest - 1 bytes may hold the start of a text. */
		if (keep >= longest) {
			memmove(buf, buf + keep - (longest - 1), longest - 1);
			keep = longest - 1;
		}
	}
	close(fd);
	return until_seen;
}

static int usage(void)
{
	fprintf(stderr, "usage: runstat -o FILE [-u TEXT] [-m TEXT]... -- COMMAND [ARGS...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *until = NULL, *text[MAX_MARKS];
	double start, ms, seen[MAX_MARKS];
	int status, code, a, n = 0, i, pipefd[2] = { -1, -1 };
	struct rusage ru;
	pid_t pid;
	FILE *f;

	for (a = 1; a + 1 < argc && strcmp(argv[a], "--") != 0; a += 2) {
		const char *arg = argv[a + 1];

		if (strcmp(argv[a], "-o") == 0 && !out)
			out = arg;
		else if (strcmp(argv[a], "-u") == 0 && !until)
			until = arg;
		else if (strcmp(argv[a], "-m") == 0 && n < MAX_MARKS)
			text[n++] = arg;
		else
			return usage();
		if (strcmp(argv[a], "-o") != 0 && (!arg[0] || strlen(arg) > MAX_TEXT))
			return usage();
	}
	if (!out || a + 1 >= argc || strcmp(argv[a], "--") != 0)
		return usage();
	a++;
	if ((until || n) && pipe(pipefd) < 0) {
		perror("runstat: pipe");
		return 1;
	}
	start = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 1;
	}
	if (pid == 0) {
		if (pipefd[1] >= 0) {
			dup2(pipefd[1], STDOUT_FILENO);
			close(pipefd[0]);
			close(pipefd[1]);
		}
		execvp(argv[a], &argv[a]);
		fprintf(stderr, "runstat: %s: %s\n", argv[a], strerror(errno));
		_exit(127);
	}
	ms = -1;
	if (pipefd[0] >= 0) {
		close(pipefd[1]);
		ms = watch(pipefd[0], until, text, seen, n, pid, start);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("runstat: wait4");
		return 1;
	}
	if (!until)
		ms = now_ms() - start;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	f = fopen(out, "a");
	if (!f) {
		fprintf(stderr, "runstat: %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++)
		if (seen[i] < 0)
			fprintf(f, "mark %d -1\n", i + 1);
		else
			fprintf(f, "mark %d %.3f\n", i + 1, seen[i]);
	fprintf(f, "%.3f %ld %d\n", ms, ru.ru_maxrss, code);
	fclose(f);
	return code;
}
