// SPDX-License-Identifier: MIT
/*
 * runstat -o FILE -- COMMAND [ARGS...]
 *
 * Runs COMMAND and appends one line to FILE: its wall-clock time in
 * milliseconds, its peak resident set size in KiB (from wait4's rusage) and
 * its exit status (128 + N after signal N). Exits with COMMAND's status.
 * Busybox has no clock finer than a second, hence this tool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
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

int main(int argc, char **argv)
{
	struct rusage ru;
	const char *out;
	double start, ms;
	int status, code;
	pid_t pid;
	FILE *f;

	if (argc < 5 || strcmp(argv[1], "-o") != 0 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: runstat -o FILE -- COMMAND [ARGS...]\n");
		return 2;
	}
	out = argv[2];
	start = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[4], &argv[4]);
		fprintf(stderr, "runstat: %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("runstat: wait4");
		return 1;
	}
	ms = now_ms() - start;
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
