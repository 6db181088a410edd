// SPDX-License-Identifier: MIT
/*
 * -nic user's network helper (net/user.c starting ember-net, which runs
 * libslirp), driven as the virtio-net device drives it: frames with a 12-byte
 * header on a SOCK_SEQPACKET socket. The tests hand-build ARP and DHCP
 * frames and check libslirp's answers, forward host ports, and see the helper
 * refuse what it cannot do and end when ember's end closes. The helper comes
 * from $EMBER_BUILDDIR (make check sets it).
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/user.h"
#include "tests/unit/unit.h"

#define HDR 12
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static char helper[4096];

/* The default -nic user network, as the command line gives it. */
static struct netuser_config defaults(void)
{
	struct netuser_config c = {
		.name = "test-net",
		.ipv4 = true,
		.uid = (uid_t)-1,
		.gid = (gid_t)-1,
		/* Confined as under ember's default -sandbox on. */
		.sandbox = true,
		.helper = helper,
	};

	inet_pton(AF_INET, "10.0.2.0", &c.net);
	inet_pton(AF_INET, "255.255.255.0", &c.mask);
	inet_pton(AF_INET, "10.0.2.2", &c.host);
	inet_pton(AF_INET, "10.0.2.3", &c.dns);
	inet_pton(AF_INET, "10.0.2.15", &c.dhcpstart);
	return c;
}

static bool have_helper(const char *test)
{
	const char *build = getenv("EMBER_BUILDDIR");

	snprintf(helper, sizeof(helper), "%s/ember-net", build && build[0] ? build : ".");
	if (access(helper, X_OK) == 0)
		return true;
	unit_missing(test, "no helper at %s (set EMBER_BUILDDIR to the build tree)", helper);
	return false;
}

#define NEED_HELPER()                                                                              \
	do {                                                                                       \
		if (!have_helper(__func__))                                                        \
			return;                                                                    \
	} while (0)

static void send_frame(int fd, const uint8_t *frame, size_t len)
{
	uint8_t buf[2048] = { 0 };

	ck_assert_uint_le(len + HDR, sizeof(buf));
	memcpy(buf + HDR, frame, len);
	ck_assert_int_eq(write(fd, buf, len + HDR), (ssize_t)(len + HDR));
}

/* The next frame within `ms`, past its header, whose ethertype is `type`; its length or 0. */
static size_t recv_frame(int fd, uint16_t type, uint8_t *out, size_t size, int ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t buf[2048];
		ssize_t r;
		int left;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms -
		       (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return 0;
		r = read(fd, buf, sizeof(buf));
		if (r < HDR + 14)
			continue;
		/* The helper offers no offloads: the header is all zeroes. */
		for (int i = 0; i < HDR; i++)
			ck_assert_uint_eq(buf[i], 0);
		if (((buf[HDR + 12] << 8) | buf[HDR + 13]) != type)
			continue;
		ck_assert_uint_le((size_t)r - HDR, size);
		memcpy(out, buf + HDR, (size_t)r - HDR);
		return (size_t)r - HDR;
	}
}

static void ends_when_closed(int fd, pid_t pid)
{
	int status = 0;

	close(fd);
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			ck_assert(WIFEXITED(status));
			ck_assert_int_eq(WEXITSTATUS(status), 0);
			return;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_abort_msg("the helper did not end when ember's end closed");
}

static void eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
}

/* Who has 10.0.2.2? Tell 10.0.2.15: the answer is libslirp's. */
static void arp_gateway(int fd)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[42] = { 0 }, r[1600];
	size_t n;

	eth(f, bcast, 0x0806);
	memcpy(f + 14, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, "\x0a\x00\x02\x0f", 4);
	memcpy(f + 38, "\x0a\x00\x02\x02", 4);
	send_frame(fd, f, sizeof(f));
	n = recv_frame(fd, 0x0806, r, sizeof(r), 5000);
	ck_assert_uint_ge(n, 42);
	ck_assert_mem_eq(r, guest_mac, 6);
	ck_assert_uint_eq(r[21], 2); /* a reply */
	ck_assert_mem_eq(r + 28, "\x0a\x00\x02\x02", 4);
	ck_assert_mem_eq(r + 38, "\x0a\x00\x02\x0f", 4);
}

START_TEST(arp_for_the_gateway)
{
	struct netuser_config c;
	char err[256];
	pid_t pid;
	int fd;

	NEED_HELPER();
	c = defaults();
	ck_assert_int_eq(netuser_start(&c, &fd, &pid, err, sizeof(err)), 0);
	arp_gateway(fd);
	ends_when_closed(fd, pid);
}
END_TEST

/* A DHCPDISCOVER from 0.0.0.0 to the broadcast address, transaction `xid`. */
static size_t dhcp_discover(uint8_t *f, uint32_t xid)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
	size_t blen = 240 + 4, len = 14 + 20 + 8 + blen;
	uint32_t sum = 0;

	memset(f, 0, len);
	eth(f, bcast, 0x0800);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)((8 + blen) >> 8);
	udp[5] = (uint8_t)(8 + blen);
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, &xid, 4);
	memcpy(bootp + 28, guest_mac, 6);
	memcpy(bootp + 236, "\x63\x82\x53\x63", 4);
	memcpy(bootp + 240, "\x35\x01\x01\xff", 4); /* DHCPDISCOVER, end */
	return len;
}

START_TEST(dhcp_offers_the_first_address)
{
	struct netuser_config c;
	uint8_t f[400], r[1600];
	uint32_t xid = htonl(0x45e3b3e7);
	char err[256];
	pid_t pid;
	size_t n;
	int fd;

	NEED_HELPER();
	c = defaults();
	/* Another network: the offer follows the configuration. */
	inet_pton(AF_INET, "192.168.76.0", &c.net);
	inet_pton(AF_INET, "192.168.76.2", &c.host);
	inet_pton(AF_INET, "192.168.76.3", &c.dns);
	inet_pton(AF_INET, "192.168.76.9", &c.dhcpstart);
	ck_assert_int_eq(netuser_start(&c, &fd, &pid, err, sizeof(err)), 0);
	send_frame(fd, f, dhcp_discover(f, xid));
	n = recv_frame(fd, 0x0800, r, sizeof(r), 5000);
	ck_assert_uint_ge(n, 14 + 20 + 8 + 240);
	ck_assert_uint_eq(r[14 + 9], 17);			   /* UDP */
	ck_assert_mem_eq(r + 14 + 12, "\xc0\xa8\x4c\x02", 4);	   /* from the gateway */
	ck_assert_uint_eq(r[14 + 20 + 1], 67);			   /* the server's port */
	ck_assert_uint_eq(r[14 + 28], 2);			   /* BOOTREPLY */
	ck_assert_mem_eq(r + 14 + 28 + 4, &xid, 4);		   /* our transaction */
	ck_assert_mem_eq(r + 14 + 28 + 16, "\xc0\xa8\x4c\x09", 4); /* yiaddr */
	ends_when_closed(fd, pid);
}
END_TEST

/* A listening TCP socket on 127.0.0.1, and its port. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

START_TEST(hostfwd_reaches_the_guest)
{
	struct netuser_hostfwd fwd = { .guest_port = 22 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct netuser_config c;
	uint8_t r[1600];
	char err[256];
	uint16_t port;
	pid_t pid;
	size_t n;
	int fd, s, busy;

	NEED_HELPER();
	/* A free port: taken, noted, let go. */
	busy = listener(&port);
	close(busy);
	c = defaults();
	inet_pton(AF_INET, "127.0.0.1", &fwd.host_addr);
	fwd.host_port = port;
	c.hostfwd = &fwd;
	c.nr_hostfwd = 1;
	ck_assert_int_eq(netuser_start(&c, &fd, &pid, err, sizeof(err)), 0);
	/*
	 * The guest has spoken (libslirp knows its MAC), and then falls silent:
	 * the helper must go on serving the host's side without another frame.
	 */
	arp_gateway(fd);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	a.sin_port = htons(port);
	ck_assert(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	/* The forward opens its connection to the guest: a SYN to 10.0.2.15:22. */
	n = recv_frame(fd, 0x0800, r, sizeof(r), 5000);
	ck_assert_uint_ge(n, 14 + 20 + 20);
	ck_assert_mem_eq(r, guest_mac, 6);
	ck_assert_uint_eq(r[14 + 9], 6);		      /* TCP */
	ck_assert_mem_eq(r + 14 + 16, "\x0a\x00\x02\x0f", 4); /* to the guest */
	ck_assert_uint_eq(r[14 + 20 + 2] << 8 | r[14 + 20 + 3], 22);
	ck_assert_uint_eq(r[14 + 20 + 13] & 0x12, 0x02); /* SYN, not ACK */
	close(s);
	ends_when_closed(fd, pid);
}
END_TEST

START_TEST(hostfwd_on_a_port_in_use)
{
	struct netuser_hostfwd fwd = { .guest_port = 22 };
	struct netuser_config c;
	char err[256], want[64];
	uint16_t port;
	pid_t pid;
	int fd, busy;

	NEED_HELPER();
	busy = listener(&port);
	c = defaults();
	inet_pton(AF_INET, "127.0.0.1", &fwd.host_addr);
	fwd.host_port = port;
	c.hostfwd = &fwd;
	c.nr_hostfwd = 1;
	err[0] = '\0';
	ck_assert_int_eq(netuser_start(&c, &fd, &pid, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(fd, -1);
	snprintf(want, sizeof(want), "cannot listen on TCP 127.0.0.1:%u", port);
	ck_assert_msg(strstr(err, want) && strstr(err, "test-net"), "message: %s", err);
	close(busy);
}
END_TEST

START_TEST(refusals)
{
	struct netuser_config c;
	char err[256], name[400];
	pid_t pid;
	int fd;

	NEED_HELPER();
	/* No helper there. */
	c = defaults();
	c.helper = "/nonexistent/ember-net";
	ck_assert_int_lt(netuser_start(&c, &fd, &pid, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "test-net"));
	/* A host name longer than any the command line takes. */
	c = defaults();
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	c.hostname = name;
	ck_assert_int_eq(netuser_start(&c, &fd, &pid, err, sizeof(err)), -EINVAL);
}
END_TEST

static Suite *netuser_suite(void)
{
	Suite *s = suite_create("netuser");
	TCase *t = tcase_create("helper");

	tcase_set_timeout(t, 30);
	tcase_add_test(t, arp_for_the_gateway);
	tcase_add_test(t, dhcp_offers_the_first_address);
	tcase_add_test(t, hostfwd_reaches_the_guest);
	tcase_add_test(t, hostfwd_on_a_port_in_use);
	tcase_add_test(t, refusals);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return unit_run(netuser_suite());
}
