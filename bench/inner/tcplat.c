// SPDX-License-Identifier: MIT
/*
 * tcplat: TCP connection latency for the user-mode network benchmark, a
 * static program for both ends (the guest's initramfs and the outer machine):
 *
 *   tcplat serve PORT             accepts connections one at a time and
 *                                 echoes each one's first byte, then closes
 *                                 it; forever
 *   tcplat connect ADDR PORT N    N times: connect, send a byte, read the
 *                                 echo, close; prints
 *                                 "tcplat connect N MEDIAN_US MEAN_US"
 *
 * A connection through a user-mode network's port forward completes on the
 * host at once (the forward accepts it), so the echo is what measures the
 * way to the guest and back: the forward's own connection to the guest, and
 * a byte each way.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 10000

static int serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0) {
		perror("tcplat serve");
		return 1;
	}
	printf("tcplat serving %d\n", port);
	fflush(stdout);
	for (;;) {
		char c;
		int c_fd = accept(s, NULL, NULL);

		if (c_fd < 0) {
			if (errno == EINTR)
				continue;
			perror("tcplat accept");
			return 1;
		}
		setsockopt(c_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (read(c_fd, &c, 1) == 1 && write(c_fd, &c, 1) != 1)
			perror("tcplat echo");
		close(c_fd);
	}
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int connect_n(const char *addr, int port, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static double t[MAX_N];
	double sum = 0;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1 || n < 1 || n > MAX_N) {
		fprintf(stderr, "tcplat: bad address or count\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
		double t0 = now_us();
		char c = 'x';

		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("tcplat connect");
			return 1;
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1 || c != 'x') {
			fprintf(stderr, "tcplat: connection %d: no echo\n", i);
			return 1;
		}
		t[i] = now_us() - t0;
		sum += t[i];
		close(s);
	}
	qsort(t, (size_t)n, sizeof(t[0]), cmp);
	printf("tcplat connect %d %.0f %.0f\n", n, n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2,
	       sum / n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "connect") == 0)
		return connect_n(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: tcplat serve PORT | tcplat connect ADDR PORT N\n");
	return 2;
}
