// SPDX-License-Identifier: MIT
/*
 * runstat -o FILE [-u TEXT] -- COMMAND [ARGS...]
 *
 * Runs COMMAND and appends one line to FILE: its wall-clock time in
 * milliseconds, its peak resident set size in KiB (from wait4's rusage) and
 * its exit status (128 + N after signal N). Exits with COMMAND's status.
 * Busybox has no clock finer than a second, hence this tool.
 *
 * With -u, COMMAND's standard output passes through runstat, the time is
 * taken when TEXT first appears there, and COMMAND is then ended with
 * SIGTERM. If TEXT never appears, the time is written as -1.
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

/*
 * Copies fd to standard output until end of file, and returns the time at
 * which text first went past (-1 if it never did). Then ends pid.
 */
static double watch(int fd, const char *text, pid_t pid, double start)
{
	size_t n = strlen(text), keep = 0;
	double seen = -1;
	char buf[4096 + 256];
	ssize_t got;

	for (;;) {
		got = read(fd, buf + keep, sizeof(buf) - 256);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (fwrite(buf + keep, 1, (size_t)got, stdout) != (size_t)got)
			break;
		fflush(stdout);
		keep += (size_t)got;
		if (memmem(buf, keep, text, n)) {
			seen = now_ms() - start;
			kill(pid, SIGTERM);
			break;
		}
		/* The last n - 1 bytes may hold the start of text. */
		if (keep >= n) {
			memmove(buf, buf + keep - (n - 1), n - 1);
			keep = n - 1;
		}
	}
	close(fd);
	return seen;
}

int main(int argc, char **argv)
{
	const char *out, *until = NULL;
	struct rusage ru;
	double start, ms, seen = 0;
	int status, code, first = 4, pipefd[2] = { -1, -1 };
	pid_t pid;
	FILE *f;

	if (argc >= 7 && strcmp(argv[3], "-u") == 0) {
		until = argv[4];
		first = 6;
	}
	if (argc < first + 1 || strcmp(argv[1], "-o") != 0 || strcmp(argv[first - 1], "--") != 0 ||
	    (until && (!until[0] || strlen(until) > 256))) {
		fprintf(stderr, "usage: runstat -o FILE [-u TEXT] -- COMMAND [ARGS...]\n");
		return 2;
	}
	out = argv[2];
	if (until && pipe(pipefd) < 0) {
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
		if (until) {
			dup2(pipefd[1], STDOUT_FILENO);
			close(pipefd[0]);
			close(pipefd[1]);
		}
		execvp(argv[first], &argv[first]);
		fprintf(stderr, "runstat: %s: %s\n", argv[first], strerror(errno));
		_exit(127);
	}
	if (until) {
		close(pipefd[1]);
		seen = watch(pipefd[0], until, pid, start);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("runstat: wait4");
		return 1;
	}
	ms = until ? seen : now_ms() - start;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	f = fopen(out, "a");
	if (!f) {
		fprintf(stderr, "runstat: %s: %s\n", out, strerror(errno));
		return 1;
	}
	fprintf(f, "%.3f %ld %d\n", ms, ru.ru_maxrss, code);
	fclose(f);
	return code;
}
