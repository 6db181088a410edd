// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/tap.h"
#include "tests/unit/scratch.h"
#include "tests/unit/unit.h"

#define F(bit) (1ULL << (bit))

/* A message the user reads: present, one line, naming `what`. */
static void expect_message(const char *err, const char *what)
{
	ck_assert_msg(err[0] != '\0', "no message");
	ck_assert_msg(strchr(err, '\n') == NULL, "more than one line: %s", err);
	ck_assert_msg(strstr(err, what) != NULL, "'%s' does not name %s", err, what);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/*
 * Adopting `fd` fails with `want`, says so naming "fd=N", leaves the tap
 * closed and the caller's descriptor open (it is the caller's to close).
 */
static void expect_adopt_fails(int fd, int want)
{
	struct tap t;
	char err[256] = "", what[32];

	snprintf(what, sizeof(what), "fd=%d", fd);
	ck_assert_int_eq(tap_open(&t, NULL, fd, err, sizeof(err)), want);
	expect_message(err, what);
	ck_assert_int_eq(t.fd, -1);
	tap_close(&t);
	if (want != -EBADF)
		ck_assert(fd_open(fd));
}

START_TEST(adopt_a_pipe)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	expect_adopt_fails(p[0], -EINVAL);
	expect_adopt_fails(p[1], -EINVAL);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(adopt_a_regular_file)
{
	char path[256];
	int fd = scratch_file(path, sizeof(path), "ember-test-tap-");

	ck_assert_int_ge(fd, 0);
	unlink(path);
	expect_adopt_fails(fd, -EINVAL);
	close(fd);
	/* Nor a character device that is not tun. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	expect_adopt_fails(fd, -EINVAL);
	close(fd);
}
END_TEST

START_TEST(adopt_a_closed_fd)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	expect_adopt_fails(p[0], -EBADF);
}
END_TEST

START_TEST(bad_interface_names)
{
	struct tap t;
	char err[256] = "";

	/* IFNAMSIZ is 16 with the NUL: 16 characters is one too many. */
	ck_assert_int_eq(tap_open(&t, "abcdefghijklmnop", -1, err, sizeof(err)), -EINVAL);
	expect_message(err, "abcdefghijklmnop");
	expect_message(err, "15");
	ck_assert_int_eq(t.fd, -1);
	tap_close(&t);

	err[0] = '\0';
	ck_assert_int_eq(tap_open(&t, "", -1, err, sizeof(err)), -EINVAL);
	expect_message(err, "ifname=");
	ck_assert_int_eq(t.fd, -1);

	err[0] = '\0';
	ck_assert_int_eq(tap_open(&t, NULL, -1, err, sizeof(err)), -EINVAL);
	expect_message(err, "ifname=");
	ck_assert_int_eq(t.fd, -1);

	/* A message cut to a small buffer stays terminated. */
	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(tap_open(&t, "abcdefghijklmnopq", -1, err, 8), -EINVAL);
	ck_assert_uint_eq(strlen(err), 7);
}
END_TEST

START_TEST(virtio_offloads_follow_the_tap)
{
	static const struct {
		unsigned int tun;
		uint64_t virtio;
	} map[] = {
		{ TUN_F_CSUM, F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) },
		{ TUN_F_TSO4, F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_HOST_TSO4) },
		{ TUN_F_TSO6, F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_HOST_TSO6) },
		{ TUN_F_TSO_ECN, F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_HOST_ECN) },
		{ TUN_F_UFO, F(VIRTIO_NET_F_GUEST_UFO) | F(VIRTIO_NET_F_HOST_UFO) },
	};
	struct tap t = { .fd = -1 };
	uint64_t all = 0;

	ck_assert_uint_eq(tap_virtio_offloads(&t), 0);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		t.tun_offloads = map[i].tun;
		ck_assert_uint_eq(tap_virtio_offloads(&t), map[i].virtio);
		all |= map[i].virtio;
	}
	t.tun_offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO;
	ck_assert_uint_eq(tap_virtio_offloads(&t), all);
	/* Bits with no virtio-net offload here (TUN_F_USO6) offer nothing. */
	t.tun_offloads = 0x40;
	ck_assert_uint_eq(tap_virtio_offloads(&t), 0);
}
END_TEST

START_TEST(set_offloads_on_a_non_tap)
{
	struct tap t = { .tun_offloads = TUN_F_CSUM };
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	t.fd = p[0];
	ck_assert_int_lt(tap_set_offloads(&t, TUN_F_CSUM), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* --- a real tap, where the process may make one ------------------------------------ */

static void tap_name(char *buf, size_t len, const char *prefix)
{
	snprintf(buf, len, "%s%d", prefix, (int)(getpid() % 10000));
}

static bool is_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * Where a tap cannot be made, the reason is what the user needs told: the
 * capability for EPERM, the device node otherwise. Returns false then.
 */
static bool tap_allowed(int ret, const char *err)
{
	if (ret == -EPERM) {
		expect_message(err, "CAP_NET_ADMIN");
		return false;
	}
	if (ret == -ENOENT || ret == -EACCES || ret == -ENODEV) {
		expect_message(err, "/dev/net/tun");
		return false;
	}
	ck_assert_msg(ret == 0, "tap_open: %d: %s", ret, err);
	return true;
}

/*
 * Moves this test (its own process) into a network namespace of its own,
 * where its taps disturb nothing on the host. Without root, a user
 * namespace around it gives the CAP_NET_ADMIN a tap needs there.
 */
static void private_net(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		return;
	printf("no network namespace of its own (%s): the taps are made on the host\n",
	       strerror(errno));
}

/* Drops CAP_NET_ADMIN from this process's effective set. */
static void drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	ck_assert_int_eq(syscall(SYS_capget, &h, d), 0);
	d[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &= ~CAP_TO_MASK(CAP_NET_ADMIN);
	ck_assert_int_eq(syscall(SYS_capset, &h, d), 0);
}

START_TEST(refused_without_cap_net_admin)
{
	struct tap t;
	char name[IFNAMSIZ], err[256] = "";
	int ret;

	private_net();
	drop_net_admin();
	tap_name(name, sizeof(name), "embp");
	ret = tap_open(&t, name, -1, err, sizeof(err));
	ck_assert_int_eq(t.fd, -1);
	UNIT_NEED(ret != -ENOENT && ret != -EACCES && ret != -ENODEV, "%s", err);
	ck_assert_int_eq(ret, -EPERM);
	expect_message(err, "CAP_NET_ADMIN");
}
END_TEST

START_TEST(open_a_real_tap)
{
	struct tap t;
	char name[IFNAMSIZ], err[256] = "";
	int ret, fd;

	private_net();
	tap_name(name, sizeof(name), "embt");
	ret = tap_open(&t, name, -1, err, sizeof(err));
	if (!tap_allowed(ret, err)) {
		ck_assert_int_eq(t.fd, -1);
		UNIT_NEED(false, "%s", err);
	}
	ck_assert_int_ge(t.fd, 0);
	ck_assert(is_nonblocking(t.fd));
	ck_assert_str_eq(t.ifname, name);
	ck_assert(t.owned);
	ck_assert_uint_ne(t.tun_offloads & TUN_F_CSUM, 0);
	ck_assert_uint_eq(tap_virtio_offloads(&t) & F(VIRTIO_NET_F_GUEST_CSUM),
			  F(VIRTIO_NET_F_GUEST_CSUM));
	/* Bits the tap does not take are masked, not refused. */
	ck_assert_int_eq(tap_set_offloads(&t, ~0u), 0);
	ck_assert_int_eq(tap_set_offloads(&t, 0), 0);
	{
		/* The tap was made with the virtio-net header in front of every frame. */
		struct ifreq ifr;
		int hdr = 0;

		memset(&ifr, 0, sizeof(ifr));
		ck_assert_int_eq(ioctl(t.fd, TUNGETIFF, &ifr), 0);
		ck_assert(ifr.ifr_flags & IFF_TAP);
		ck_assert(ifr.ifr_flags & IFF_NO_PI);
		ck_assert(ifr.ifr_flags & IFF_VNET_HDR);
		ck_assert_int_eq(ioctl(t.fd, TUNGETVNETHDRSZ, &hdr), 0);
		ck_assert_int_eq(hdr, 12);
	}
	fd = t.fd;
	tap_close(&t);
	ck_assert_int_eq(t.fd, -1);
	/* Opened here, so closed here. */
	ck_assert(!fd_open(fd));
	tap_close(&t);
}
END_TEST

/* Opens /dev/net/tun as a parent process would before handing it over. */
static int make_tun(const char *name, short flags)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* The flags the kernel reports for a tun descriptor. */
static short tun_flags(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ck_assert_int_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	return ifr.ifr_flags;
}

START_TEST(adopt_a_real_tap)
{
	struct tap t;
	char name[IFNAMSIZ], err[256] = "";
	int fd;

	private_net();
	tap_name(name, sizeof(name), "embf");
	fd = make_tun(name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	if (fd == -EPERM || fd == -ENOENT || fd == -EACCES || fd == -ENODEV) {
		/* Not allowed here: ember's own attempt must say why. */
		ck_assert(!tap_allowed(tap_open(&t, name, -1, err, sizeof(err)), err));
		UNIT_NEED(false, "%s", err);
	}
	ck_assert_int_ge(fd, 0);
	ck_assert(!is_nonblocking(fd));
	ck_assert_int_eq(tap_open(&t, NULL, fd, err, sizeof(err)), 0);
	ck_assert_int_eq(t.fd, fd);
	ck_assert(!t.owned);
	ck_assert_str_eq(t.ifname, name);
	ck_assert(is_nonblocking(fd));
	ck_assert_uint_ne(t.tun_offloads & TUN_F_CSUM, 0);
	tap_close(&t);
	/* Handed over, so the caller's to close. */
	ck_assert(fd_open(fd));
	close(fd);

	/* Without the virtio-net header, or without IFF_NO_PI, frames would not line up. */
	fd = make_tun(name, IFF_TAP | IFF_NO_PI);
	ck_assert_int_ge(fd, 0);
	expect_adopt_fails(fd, -EINVAL);
	memset(err, 0, sizeof(err));
	tap_open(&t, NULL, fd, err, sizeof(err));
	expect_message(err, "IFF_VNET_HDR");
	close(fd);
	fd = make_tun(name, IFF_TAP | IFF_VNET_HDR);
	ck_assert_int_ge(fd, 0);
	/*
	 * Some kernels (6.18 here) report IFF_NO_PI through TUNGETIFF for a tap
	 * that does put the 4-byte packet information in front of its frames:
	 * nothing in userspace can tell, so only a faithful report is checked.
	 */
	if (!(tun_flags(fd) & IFF_NO_PI))
		expect_adopt_fails(fd, -EINVAL);
	close(fd);
	/* A tun (layer 3) device is not a tap. */
	tap_name(name, sizeof(name), "embu");
	fd = make_tun(name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
	ck_assert_int_ge(fd, 0);
	expect_adopt_fails(fd, -EINVAL);
	close(fd);

	/* /dev/net/tun opened but never attached to an interface. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	expect_adopt_fails(fd, -EINVAL);
	close(fd);
}
END_TEST

static Suite *tap_suite(void)
{
	Suite *s = suite_create("tap");
	TCase *bad = tcase_create("refusals");
	TCase *real = tcase_create("real");

	tcase_add_test(bad, adopt_a_pipe);
	tcase_add_test(bad, adopt_a_regular_file);
	tcase_add_test(bad, adopt_a_closed_fd);
	tcase_add_test(bad, bad_interface_names);
	tcase_add_test(bad, virtio_offloads_follow_the_tap);
	tcase_add_test(bad, set_offloads_on_a_non_tap);
	suite_add_tcase(s, bad);

	tcase_add_test(real, open_a_real_tap);
	tcase_add_test(real, adopt_a_real_tap);
	tcase_add_test(real, refused_without_cap_net_admin);
	suite_add_tcase(s, real);
	return s;
}

int main(void)
{
	return unit_run(tap_suite());
}
