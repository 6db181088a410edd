// SPDX-License-Identifier: MIT
#include "config.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */

/* The offloads asked for in turn, UFO last: kernels since 4.14 refuse it on some paths. */
static const unsigned int offload_sets[] = {
	TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO,
	TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
	TUN_F_CSUM,
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t err_len, int ret,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return ret;
}

/* Sets up what every tap needs, however it was opened. */
static int tap_configure(struct tap *t, const char *what, char *err, size_t err_len)
{
	int hdr = TAP_VNET_HDR_LEN, fl;

	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return fail(err, err_len, -errno, "%s: setting the virtio-net header size: %s",
			    what, strerror(errno));
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(err, err_len, -errno, "%s: %s", what, strerror(errno));
	t->tun_offloads = 0;
	for (size_t i = 0; i < sizeof(offload_sets) / sizeof(offload_sets[0]); i++) {
		if (ioctl(t->fd, TUNSETOFFLOAD, offload_sets[i]) == 0) {
			t->tun_offloads = offload_sets[i];
			break;
		}
	}
	/* None until the driver says which it takes. */
	ioctl(t->fd, TUNSETOFFLOAD, 0);
	return 0;
}

int tap_open(struct tap *t, const char *ifname, int fd, char *err, size_t err_len)
{
	struct ifreq ifr;
	int ret;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	memset(&ifr, 0, sizeof(ifr));
	if (fd >= 0) {
		char what[32];

		snprintf(what, sizeof(what), "fd=%d", fd);
		if (ioctl(fd, TUNGETIFF, &ifr) < 0)
			return fail(err, err_len, errno == EBADF ? -EBADF : -EINVAL,
				    "%s: not an open tap descriptor (%s)", what,
				    strerror(errno == ENOTTY ? EINVAL : errno));
		if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI) ||
		    !(ifr.ifr_flags & IFF_VNET_HDR))
			return fail(err, err_len, -EINVAL,
				    "%s: the tap must be opened with IFF_TAP, IFF_NO_PI and "
				    "IFF_VNET_HDR",
				    what);
		t->fd = fd;
		memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ - 1);
		ret = tap_configure(t, what, err, err_len);
		if (ret < 0)
			t->fd = -1;
		return ret;
	}
	if (!ifname || !*ifname)
		return fail(err, err_len, -EINVAL, "tap: give the interface with ifname=NAME");
	if (strlen(ifname) >= IFNAMSIZ)
		return fail(err, err_len, -EINVAL, "tap: interface name '%s' is longer than 15",
			    ifname);
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0)
		return fail(err, err_len, -errno, "tap %s: cannot open /dev/net/tun: %s", ifname,
			    strerror(errno));
	t->owned = 1;
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		if (ret == -EPERM)
			fail(err, err_len, ret,
			     "tap %s: %s (creating or opening a tap needs CAP_NET_ADMIN, or a tap "
			     "made beforehand for this user)",
			     ifname, strerror(-ret));
		else
			fail(err, err_len, ret, "tap %s: %s", ifname, strerror(-ret));
		tap_close(t);
		return ret;
	}
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ - 1);
	ret = tap_configure(t, ifname, err, err_len);
	if (ret < 0)
		tap_close(t);
	return ret;
}

void tap_close(struct tap *t)
{
	if (t->owned && t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->owned = 0;
}

int tap_set_offloads(struct tap *t, unsigned int tun_flags)
{
	if (ioctl(t->fd, TUNSETOFFLOAD, tun_flags & t->tun_offloads) < 0)
		return -errno;
	return 0;
}

uint64_t tap_virtio_offloads(const struct tap *t)
{
	uint64_t f = 0;

	if (t->tun_offloads & TUN_F_CSUM)
		f |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	if (t->tun_offloads & TUN_F_TSO4)
		f |= (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO4);
	if (t->tun_offloads & TUN_F_TSO6)
		f |= (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_TSO6);
	if (t->tun_offloads & TUN_F_TSO_ECN)
		f |= (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_HOST_ECN);
	if (t->tun_offloads & TUN_F_UFO)
		f |= (1ULL << VIRTIO_NET_F_GUEST_UFO) | (1ULL << VIRTIO_NET_F_HOST_UFO);
	return f;
}
