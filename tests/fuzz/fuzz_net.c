// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-net behind its virtio-mmio window, driven by the
 * hostile driver of fuzzdrv.h, over a fake packet descriptor. The device is
 * compiled into this file with read() and writev() pointing at the fake,
 * which the input steers: received frames of any size (past the largest the
 * device reads, too), EAGAIN, EINTR, errors and end of file on reads; writes
 * accepted, refused with EAGAIN, taken short or failed.
 *
 * Beyond the ledger's checks: the device never holds a chain between events
 * (unless the queue is broken), hands the descriptor only buffers in guest
 * RAM and frames of sane sizes, and always watches the descriptor for what
 * it waits on, so that no queue can stall for good.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzzdrv.h"

static ssize_t fake_read(int fd, void *buf, size_t count);
static ssize_t fake_writev(int fd, const struct iovec *iov, int iovcnt);

#define read fake_read
#define writev fake_writev
#include "virtio/net.c"
#undef read
#undef writev

#define FAKE_FD 1000
#define MAX_FRAMES 8

enum wmode { W_ACCEPT, W_EAGAIN, W_SHORT, W_EIO, W_EINVAL, W_MODES };

struct fnet {
	struct fin *in;
	struct fdrv *d;
	struct net *n;
	size_t frame[MAX_FRAMES]; /* lengths of the frames waiting to be read */
	uint8_t hdr[MAX_FRAMES][NET_HDR_LEN];
	unsigned int nframes;
	int read_err; /* errno for the next read_errs reads; 0: end of file */
	unsigned int read_errs;
	enum wmode wmode; /* for the next wcount writes */
	unsigned int wcount;
	uint32_t watched;
	int offload_ret;
};

static struct fnet fn;

static ssize_t fake_read(int fd, void *buf, size_t count)
{
	size_t len;

	/* The device's own resume eventfd is real. */
	if (fn.n && fd == net_resume_fd(fn.n))
		return read(fd, buf, count);
	if (fd != FAKE_FD)
		fdrv_fail("a read of another descriptor");
	if (fn.read_errs) {
		fn.read_errs--;
		if (fn.read_err == 0)
			return 0;
		errno = fn.read_err;
		return -1;
	}
	if (!fn.nframes) {
		errno = EAGAIN;
		return -1;
	}
	/* One frame per read, cut to what was asked for, as a tap does. */
	len = fn.frame[0] < count ? fn.frame[0] : count;
	memcpy(buf, fn.hdr[0], len < NET_HDR_LEN ? len : NET_HDR_LEN);
	if (len > NET_HDR_LEN)
		memset((uint8_t *)buf + NET_HDR_LEN, 0x5a, len - NET_HDR_LEN);
	fn.nframes--;
	memmove(fn.frame, fn.frame + 1, fn.nframes * sizeof(fn.frame[0]));
	memmove(fn.hdr, fn.hdr + 1, fn.nframes * sizeof(fn.hdr[0]));
	return (ssize_t)len;
}

static ssize_t fake_writev(int fd, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	enum wmode m = W_ACCEPT;

	if (fd != FAKE_FD)
		fdrv_fail("a write to another descriptor");
	if (iovcnt < 1 || iovcnt > NET_IOV_MAX)
		fdrv_fail("a frame of no buffers, or too many");
	for (int i = 0; i < iovcnt; i++) {
		if (!fdrv_in_ram(fn.d, iov[i].iov_base, iov[i].iov_len))
			fdrv_fail("a frame buffer outside guest RAM");
		total += iov[i].iov_len;
	}
	if (total < NET_HDR_LEN || total > NET_MAX_FRAME)
		fdrv_fail("a frame of a size the device should have dropped");
	if (fn.wcount) {
		fn.wcount--;
		m = fn.wmode;
	}
	switch (m) {
	case W_EAGAIN:
		errno = EAGAIN;
		return -1;
	case W_SHORT:
		return (ssize_t)(total / 2);
	case W_EIO:
		errno = EIO;
		return -1;
	case W_EINVAL:
		errno = EINVAL;
		return -1;
	default:
		return (ssize_t)total;
	}
}

static int fake_set_offloads(void *opaque, unsigned int tun_flags)
{
	(void)opaque;
	(void)tun_flags;
	return fn.offload_ret;
}

static void fake_watch(void *opaque, uint32_t events)
{
	(void)opaque;
	fn.watched = events;
}

static void inject(struct fin *in)
{
	uint8_t how = (uint8_t)fin_take(in, 1);
	size_t len;

	switch (how % 4) {
	case 0: /* shorter than the header, maybe */
		len = how >> 2;
		break;
	case 1:
		len = NET_HDR_LEN + fin_take(in, 1);
		break;
	case 2:
		len = fin_take(in, 2) + fin_take(in, 1);
		break;
	default: /* around the longest frame the device reads */
		len = NET_RX_MAX - 8 + fin_take(in, 1) % 16;
		break;
	}
	if (fn.nframes == MAX_FRAMES)
		return;
	for (unsigned int i = 0; i < NET_HDR_LEN; i++)
		fn.hdr[fn.nframes][i] = (uint8_t)fin_take(in, 1);
	fn.frame[fn.nframes++] = len;
}

static void action(void *dev, struct fin *in)
{
	static const int errs[] = { EAGAIN, EINTR, EIO, 0, ENOBUFS };
	struct fnet *f = dev;
	uint8_t what = (uint8_t)fin_take(in, 1);
	uint32_t ev = 0;

	switch (what % 6) {
	case 5: /* the device's resume event: frames its last turn left unsent */
		net_resume(f->n);
		break;
	case 0:
		inject(in);
		break;
	case 1:
		f->read_err = errs[fin_take(in, 1) % 5];
		f->read_errs = 1 + (unsigned int)fin_take(in, 1) % 4;
		break;
	case 2:
		f->wmode = (enum wmode)(fin_take(in, 1) % W_MODES);
		f->wcount = 1 + (unsigned int)fin_take(in, 1) % 8;
		break;
	default: /* the descriptor is ready, as epoll says */
		if (what & 0x10)
			ev |= EPOLLIN;
		if (what & 0x20)
			ev |= EPOLLOUT;
		if ((what & 0xc0) == 0xc0)
			ev |= what & 0x08 ? EPOLLHUP : EPOLLERR;
		net_backend_event(f->n, ev);
		break;
	}
}

static void check(void *dev)
{
	struct fnet *f = dev;
	struct net *n = f->n;

	for (unsigned int i = 0; i < 2; i++) {
		if (!fdrv_broken(f->d, i) && fdrv_held(f->d, i))
			fdrv_fail("chains held between events");
	}
	if (n->pending > NET_RX_MAX)
		fdrv_fail("a staged frame longer than the device reads");
	if (n->watching != f->watched)
		fdrv_fail("the device forgot what it asked to watch");
	if (n->active && !n->dead) {
		if (n->tx_blocked && !(f->watched & EPOLLOUT))
			fdrv_fail("transmit waits for room it does not watch for");
		if (!n->rx_paused && !(f->watched & EPOLLIN))
			fdrv_fail("receive runs without watching the descriptor");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin hdr = { data, size };
	uint8_t shape = (uint8_t)fin_take(&hdr, 1);
	struct net_config cfg = {
		.fd = FAKE_FD,
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.offloads = shape & 1 ? NET_OFFLOADS : 0,
		.set_offloads = fake_set_offloads,
		.watch = fake_watch,
		.name = "fuzz-net",
	};
	struct fdrv d;
	struct fdrv_target tgt = { .action = action, .check = check, .dev = &fn };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;

	memset(&fn, 0, sizeof(fn));
	fn.offload_ret = shape & 2 ? -EINVAL : 0;
	if (net_create(&fn.n, &cfg) < 0)
		abort();
	net_device(fn.n, &info, &ops);
	fdrv_init(&d, hdr.p, hdr.left, &info, ops, fn.n, &tr);
	net_attach(fn.n, &tr);
	fn.in = &d.in;
	fn.d = &d;
	fdrv_run(&d, &tgt);
	fdrv_fini(&d);
	if (fn.watched)
		fdrv_fail("the descriptor watched after a reset");
	net_destroy(fn.n);
	return 0;
}
