// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the vhost devices, vhost-vsock or vhost-net (the
 * input's first byte says which), behind their virtio-mmio window, driven
 * by the hostile driver of fuzzdrv.h, with the kernel's vhost driver played
 * by a model that the input makes refuse any call, and whose calls (used
 * buffers) and errors (a broken ring) the input fires at any time. For
 * vhost-net the tap's offload call is played too, and the input makes it
 * refuse.
 *
 * The model checks what ember tells the kernel: features it offers and no
 * other (for vhost-net never its own header, VHOST_NET_F_VIRTIO_NET_HDR,
 * since the tap has it); a memory table that is guest RAM exactly; for each
 * ring a size the driver chose and host addresses whose whole rings lie in
 * guest RAM; a kick bound only after the ring's size, base, addresses, call
 * and err; running (vsock's SET_RUNNING, net's backend on a ring) only with
 * the rings bound; the tap told only offloads the device offered; and after
 * every reset, and at the end, nothing running and nothing bound, or, when
 * the kernel refused to stop, no call at all after that and its descriptor
 * closed. The device holds no chain: the kernel does the work, and
 * vhost-vsock gives back each event buffer it takes at once (its
 * transport-reset event after a restart, or nothing).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzdrv.h"
#include "virtio/net.h"
#include "virtio/vhost.h"
#include "virtio/vhostnet.h"
#include "virtio/virtq.h"
#include "virtio/vsock.h"

#define FAKE_FD 1000
#define TAP_FD 1001 /* never used as a descriptor: the model only compares it */
#define NR 2

/* The ioctls of a start, in order, and of a stop, for the input to refuse one. */
static const unsigned long calls[] = {
	VHOST_SET_FEATURES,   VHOST_SET_MEM_TABLE,  VHOST_SET_VRING_NUM,
	VHOST_SET_VRING_BASE, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_CALL,
	VHOST_SET_VRING_ERR,  VHOST_SET_VRING_KICK, 0 /* the device's own: start and stop */,
	VHOST_GET_VRING_BASE,
};

struct ring {
	unsigned int num;
	bool num_set, base_set, addr_set, call, err, kick;
	bool backend; /* vhost-net: the tap bound to this ring */
	const void *desc, *avail, *used;
};

static struct {
	struct fdrv *d;
	bool net; /* vhost-net; else vhost-vsock */
	struct vhost_dev *vd;
	unsigned int qsize; /* the device's largest ring */
	uint64_t features;  /* what the model offers */
	uint64_t offered;   /* what the device offered the driver */
	bool mem_ok;
	bool running; /* vsock: SET_RUNNING 1; net: a backend on any ring */
	struct ring r[NR];
	unsigned long refuse; /* 0: none */
	bool stop_refused;    /* the kernel refused a call of a stop: ember must close it */
	bool tap_refuses;     /* vhost-net: the tap refuses the offloads */
} k;

static void ring_clear(struct ring *r)
{
	memset(r, 0, sizeof(*r));
}

static void check_ring_in_ram(const struct ring *r)
{
	size_t n = r->num;

	if (!fdrv_in_ram(k.d, r->desc, 16 * n) || !fdrv_in_ram(k.d, r->avail, 6 + 2 * n) ||
	    !fdrv_in_ram(k.d, r->used, 6 + 8 * n))
		fdrv_fail("a ring handed to the kernel lies outside guest RAM");
}

static int model_ioctl(int fd, unsigned long req, void *arg)
{
	struct vhost_vring_state *st = arg;
	struct vhost_vring_file *f = arg;
	struct vhost_vring_addr *a = arg;
	struct ring *r = NULL;

	if (fd != FAKE_FD)
		fdrv_fail("an ioctl on another descriptor");
	if (k.stop_refused)
		fdrv_fail("an ioctl after the kernel refused to stop: ember must let go of it");
	if (fcntl(FAKE_FD, F_GETFD) < 0)
		fdrv_fail("an ioctl on a descriptor ember closed");
	switch (req) {
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
		if (st->index >= NR)
			fdrv_fail("a ring the kernel does not serve");
		r = &k.r[st->index];
		break;
	case VHOST_SET_VRING_ADDR:
		if (a->index >= NR)
			fdrv_fail("a ring the kernel does not serve");
		r = &k.r[a->index];
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
	case VHOST_NET_SET_BACKEND:
		if (f->index >= NR)
			fdrv_fail("a ring the kernel does not serve");
		r = &k.r[f->index];
		break;
	default:
		break;
	}
	if ((req == VHOST_NET_SET_BACKEND && !k.net) || (req == VHOST_VSOCK_SET_RUNNING && k.net) ||
	    (req == VHOST_VSOCK_SET_GUEST_CID && k.net))
		fdrv_fail("another device's ioctl");
	if (req == k.refuse) {
		/* A call of a stop, refused: ember must let go of the kernel. */
		if ((req == VHOST_VSOCK_SET_RUNNING && *(int *)arg == 0) ||
		    (req == VHOST_NET_SET_BACKEND && f->fd == -1) || req == VHOST_GET_VRING_BASE ||
		    ((req == VHOST_SET_VRING_KICK || req == VHOST_SET_VRING_CALL ||
		      req == VHOST_SET_VRING_ERR) &&
		     f->fd == VHOST_FILE_UNBIND))
			k.stop_refused = true;
		errno = EFAULT;
		return -1;
	}
	switch (req) {
	case VHOST_SET_OWNER:
		break;
	case VHOST_GET_FEATURES:
		*(uint64_t *)arg = k.features;
		break;
	case VHOST_SET_FEATURES:
		if (*(uint64_t *)arg & ~k.features)
			fdrv_fail("features the kernel never offered");
		if (*(uint64_t *)arg & (1ULL << VHOST_NET_F_VIRTIO_NET_HDR))
			fdrv_fail("the kernel asked to add a header the tap has");
		break;
	case VHOST_VSOCK_SET_GUEST_CID:
		break;
	case VHOST_SET_MEM_TABLE: {
		const struct vhost_memory *m = arg;

		if (m->nregions != k.d->mem.nr)
			fdrv_fail("a memory table that is not guest RAM");
		for (unsigned int i = 0; i < m->nregions; i++)
			if (m->regions[i].guest_phys_addr != k.d->mem.r[i].gpa ||
			    m->regions[i].memory_size != k.d->mem.r[i].size ||
			    m->regions[i].userspace_addr != (uint64_t)(uintptr_t)k.d->mem.r[i].host)
				fdrv_fail("a memory table that is not guest RAM");
		k.mem_ok = true;
		break;
	}
	case VHOST_SET_VRING_NUM:
		if (r->kick)
			fdrv_fail("a ring resized while the kernel may use it");
		if (!st->num || st->num > k.qsize || (st->num & (st->num - 1)))
			fdrv_fail("a ring size the driver could not have chosen");
		r->num = st->num;
		r->num_set = true;
		break;
	case VHOST_SET_VRING_BASE:
		r->base_set = true;
		break;
	case VHOST_SET_VRING_ADDR:
		if (!r->num_set)
			fdrv_fail("ring addresses before its size");
		r->desc = (const void *)(uintptr_t)a->desc_user_addr;
		r->avail = (const void *)(uintptr_t)a->avail_user_addr;
		r->used = (const void *)(uintptr_t)a->used_user_addr;
		check_ring_in_ram(r);
		r->addr_set = true;
		break;
	case VHOST_SET_VRING_CALL:
		r->call = f->fd != VHOST_FILE_UNBIND;
		break;
	case VHOST_SET_VRING_ERR:
		r->err = f->fd != VHOST_FILE_UNBIND;
		break;
	case VHOST_SET_VRING_KICK:
		if (f->fd != VHOST_FILE_UNBIND) {
			if (!k.mem_ok || !r->num_set || !r->base_set || !r->addr_set || !r->call ||
			    !r->err)
				fdrv_fail("a kick bound before its ring was in place");
			if (f->fd < 0)
				fdrv_fail("a kick that is no descriptor");
		} else if (k.running) {
			fdrv_fail("a kick unbound while the kernel runs");
		}
		r->kick = f->fd != VHOST_FILE_UNBIND;
		break;
	case VHOST_GET_VRING_BASE:
		if (k.running)
			fdrv_fail("a ring's base read while the kernel runs");
		st->num = 0;
		break;
	case VHOST_VSOCK_SET_RUNNING:
		k.running = *(int *)arg != 0;
		if (k.running && (!k.r[0].kick || !k.r[1].kick))
			fdrv_fail("running without both rings");
		break;
	case VHOST_NET_SET_BACKEND:
		if (f->fd != -1 && f->fd != TAP_FD)
			fdrv_fail("a backend that is not the tap");
		if (f->fd == TAP_FD && !r->kick)
			fdrv_fail("a backend on a ring not bound");
		r->backend = f->fd == TAP_FD;
		k.running = k.r[0].backend || k.r[1].backend;
		break;
	default:
		fdrv_fail("an ioctl the model does not know");
	}
	return 0;
}

/* The tap's TUNSETOFFLOAD: only what the device offered, and only before the kernel runs. */
static int tap_offloads(void *opaque, unsigned int tun_flags)
{
	(void)opaque;
	if (tun_flags & ~net_tun_flags(k.offered))
		fdrv_fail("the tap told of offloads the device never offered");
	if (k.running && fcntl(FAKE_FD, F_GETFD) >= 0)
		fdrv_fail("the tap's offloads changed while the kernel runs");
	if (k.tap_refuses) {
		errno = EINVAL;
		return -EINVAL;
	}
	return 0;
}

static bool nothing_bound(void)
{
	/* A device ember let go of, closing its descriptor, holds nothing. */
	if (fcntl(FAKE_FD, F_GETFD) < 0)
		return true;
	for (unsigned int i = 0; i < NR; i++)
		if (k.r[i].kick || k.r[i].call || k.r[i].err)
			return false;
	return !k.running;
}

static void action(void *dev, struct fin *in)
{
	(void)dev;
	switch (fin_take(in, 1) % 4) {
	case 0:
		vhost_dev_called(k.vd);
		break;
	case 1:
		vhost_dev_broken(k.vd, (unsigned int)fin_take(in, 1) % NR);
		break;
	case 2: {
		unsigned int c = (unsigned int)fin_take(in, 1);

		k.refuse = c < sizeof(calls) / sizeof(calls[0]) ? calls[c] : 0;
		if (c < sizeof(calls) / sizeof(calls[0]) && !calls[c])
			k.refuse = k.net ? VHOST_NET_SET_BACKEND : VHOST_VSOCK_SET_RUNNING;
		/* The tap's refusal goes with the kernel's first: any odd choice. */
		k.tap_refuses = c & 1;
		break;
	}
	default:
		k.refuse = 0;
		k.tap_refuses = false;
		break;
	}
}

static void check(void *dev)
{
	(void)dev;
	for (unsigned int i = 0; i < k.d->nq; i++)
		if (fdrv_held(k.d, i))
			fdrv_fail("the device holds a chain: the kernel does the work");
	/* Not started (or reset): the kernel has nothing of the guest's. */
	if (!(virtio_mmio_status(k.d->t) & 4) && !nothing_bound())
		fdrv_fail("the kernel still has the rings of a device not running");
	if (k.running)
		for (unsigned int i = 0; i < NR; i++)
			check_ring_in_ram(&k.r[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin hdr = { data, size };
	uint8_t shape = (uint8_t)fin_take(&hdr, 1);
	struct fdrv d;
	struct fdrv_target tgt = { .action = action, .check = check };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;
	struct vsock *vs = NULL;
	struct vhostnet *vn = NULL;
	struct vhost *v;
	int fd;

	memset(&k, 0, sizeof(k));
	k.d = &d;
	k.net = shape & 0x80;
	/* The kernel's offer: some of what the vhost driver has, the input says which. */
	k.features = (1ULL << 32) | (shape & 1 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |
		     (shape & 2 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0) |
		     (shape & 4 ? 1ULL << 33 /* ACCESS_PLATFORM */ : 0);
	if (k.net)
		k.features |= (shape & 8 ? 1ULL << VIRTIO_NET_F_MRG_RXBUF : 0) |
			      (shape & 16 ? 1ULL << VHOST_NET_F_VIRTIO_NET_HDR : 0);
	else
		k.features |= shape & 8 ? 2 /* SEQPACKET */ : 0;
	fd = dup(2);
	if (fd < 0 || dup2(fd, FAKE_FD) != FAKE_FD)
		abort();
	close(fd);
	if (vhost_create(&v, FAKE_FD, "fuzz-vhost", model_ioctl) < 0)
		abort();
	/* fdrv_init sets up guest RAM; the device reads it only when started. */
	if (k.net) {
		/* The tap's offloads, all or none, by the input. */
		struct vhostnet_config cfg = { .tap_fd = TAP_FD,
					       .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
					       .offloads = shape & 32 ? NET_OFFLOADS : 0,
					       .set_offloads = tap_offloads,
					       .name = "fuzz-vhostnet" };

		if (vhostnet_create(&vn, v, &cfg, &d.mem) < 0)
			abort();
		vhostnet_device(vn, &info, &ops);
		k.vd = vhostnet_vhost(vn);
		k.qsize = VHOSTNET_QUEUE_SIZE;
	} else {
		if (vsock_create(&vs, v, 3 + ((shape >> 4) & 7), &d.mem, "fuzz-vsock") < 0)
			abort();
		vsock_device(vs, &info, &ops);
		k.vd = vsock_vhost(vs);
		k.qsize = VSOCK_QUEUE_SIZE;
	}
	k.offered = info.features;
	if (info.features & (1ULL << 33))
		fdrv_fail("ACCESS_PLATFORM offered to the guest");
	if (info.features & (1ULL << VHOST_NET_F_VIRTIO_NET_HDR))
		fdrv_fail("the vhost header offered to the guest");
	fdrv_init(&d, hdr.p, hdr.left, &info, ops, k.net ? (void *)vn : (void *)vs, &tr);
	if (k.net)
		vhostnet_attach(vn, &tr);
	else
		vsock_attach(vs, &tr);
	for (unsigned int i = 0; i < NR; i++) {
		/* Any open descriptors do: the model never uses them. */
		struct vhost_queue_fds fds = { .kick = 0, .call = 1, .err = 2 };

		vhost_dev_set_fds(k.vd, i, &fds);
	}
	fdrv_run(&d, &tgt);
	fdrv_fini(&d);
	if (!nothing_bound())
		fdrv_fail("the kernel still has rings after the device is gone");
	vsock_destroy(vs);
	vhostnet_destroy(vn);
	return 0;
}
