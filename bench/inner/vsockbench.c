// SPDX-License-Identifier: MIT
/*
 * vsockbench: the vsock benchmark's two ends, one static program for the
 * guest's initramfs and the host alike.
 *
 *   vsockbench serve PORT           the host's end: takes connections one
 *                                   after another and does what each asks
 *   vsockbench send CID PORT SECS   sends for SECS seconds; the server counts
 *   vsockbench recv CID PORT SECS   the server sends for SECS seconds
 *   vsockbench ping CID PORT N      N round trips of one byte each way
 *
 * A client prints one line, "vsockbench MODE VALUE UNIT": MB/s (10^6 bytes a
 * second) for send and recv, the median round trip in microseconds for
 * ping (with the 10th and 90th percentiles). A send is timed from its first
 * byte to the server's count of what arrived, so nothing still in flight is
 * counted as sent; a recv from its request to the end of the stream.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define MAX_PINGS 100000

struct request {
	char mode; /* 's', 'r' or 'p' */
	char pad[7];
	uint64_t arg; /* seconds for 'r' */
};

static char buf[CHUNK];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "vsockbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		c += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes; 0, or -1 at an early end of the stream. */
static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read");
		if (r == 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void serve_one(int c)
{
	struct request req;
	uint64_t total = 0;
	double end;
	ssize_t r;

	if (read_all(c, &req, sizeof(req)) < 0)
		return;
	switch (req.mode) {
	case 's':
		while ((r = read(c, buf, sizeof(buf))) > 0)
			total += (uint64_t)r;
		write_all(c, &total, sizeof(total));
		break;
	case 'r':
		end = now() + (double)req.arg;
		while (now() < end)
			write_all(c, buf, sizeof(buf));
		break;
	case 'p':
		while ((r = read(c, buf, 1)) == 1)
			write_all(c, buf, 1);
		break;
	default:
		fprintf(stderr, "vsockbench: unknown request '%c'\n", req.mode);
		break;
	}
}

__attribute__((noreturn)) static void serve(unsigned int port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_ANY,
				 .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0)
		die("socket");
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(s, 4) < 0)
		die("listen");
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			die("accept");
		serve_one(c);
		close(c);
	}
}

static int dial(unsigned int cid, unsigned int port, char mode, uint64_t arg)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	struct request req = { .mode = mode, .arg = arg };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0)
		die("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	write_all(s, &req, sizeof(req));
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned int cid, port;
	unsigned long n;
	double t0, t1;
	uint64_t total = 0;
	int s;

	signal(SIGPIPE, SIG_IGN);
	memset(buf, 0x5a, sizeof(buf));
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		serve((unsigned int)strtoul(argv[2], NULL, 0));
	if (argc != 5) {
		fprintf(stderr, "usage: vsockbench serve PORT | send|recv CID PORT SECS | "
				"ping CID PORT N\n");
		return 2;
	}
	cid = (unsigned int)strtoul(argv[2], NULL, 0);
	port = (unsigned int)strtoul(argv[3], NULL, 0);
	n = strtoul(argv[4], NULL, 0);
	if (strcmp(argv[1], "send") == 0) {
		double end;

		s = dial(cid, port, 's', 0);
		t0 = now();
		end = t0 + (double)n;
		while (now() < end)
			write_all(s, buf, sizeof(buf));
		shutdown(s, SHUT_WR);
		if (read_all(s, &total, sizeof(total)) < 0)
			die("the server's count");
		t1 = now();
		printf("vsockbench send %.2f MB/s\n", (double)total / (t1 - t0) / 1e6);
	} else if (strcmp(argv[1], "recv") == 0) {
		ssize_t r;

		s = dial(cid, port, 'r', n);
		t0 = now();
		while ((r = read(s, buf, sizeof(buf))) > 0)
			total += (uint64_t)r;
		if (r < 0)
			die("read");
		t1 = now();
		printf("vsockbench recv %.2f MB/s\n", (double)total / (t1 - t0) / 1e6);
	} else if (strcmp(argv[1], "ping") == 0 && n > 0 && n <= MAX_PINGS) {
		static double rtt[MAX_PINGS];
		char c = 'x';

		s = dial(cid, port, 'p', 0);
		for (unsigned long i = 0; i < n; i++) {
			t0 = now();
			write_all(s, &c, 1);
			if (read_all(s, &c, 1) < 0)
				die("the echo");
			rtt[i] = (now() - t0) * 1e6;
		}
		qsort(rtt, n, sizeof(rtt[0]), cmp_double);
		printf("vsockbench ping %.1f us (p10 %.1f, p90 %.1f)\n", rtt[n / 2], rtt[n / 10],
		       rtt[n * 9 / 10]);
	} else {
		fprintf(stderr, "vsockbench: unknown mode or count '%s %s'\n", argv[1], argv[4]);
		return 2;
	}
	close(s);
	return 0;
}
