// SPDX-License-Identifier: MIT
/*
 * The vhost devices, vhost-vsock and vhost-net, through their virtio-mmio
 * windows, as a driver sees them, with the kernel's vhost driver played by a
 * recorder of the ioctls ember makes: what it tells the kernel at start
 * (features, guest RAM, each ring, the three descriptors of each queue, the
 * device's own calls) and at reset, the configuration spaces, the kernel's
 * calls becoming interrupts and its errors NEEDS_RESET, a kernel that
 * refuses, and a snapshot: the kernel stopped and started again around a
 * save, started where a restore puts the rings, and the guest told.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/mmio.h"
#include "virtio/vhost.h"
#include "virtio/vhostnet.h"
#include "virtio/vsock.h"

#define MMIO_BASE 0xd0000000ULL
#define RAM_BASE 0x100000ULL
#define SLICE (1ULL << 20)
#define NQ 3
#define CID 42

#define F(bit) (1ULL << (bit))
#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR VIRTIO_CONFIG_S_NEEDS_RESET

/* What the kernel's vhost-vsock offers: with two features ember must not pass to the guest. */
#define KERNEL_FEATURES                                                                            \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_RING_F_INDIRECT_DESC) |     \
	 F(VIRTIO_F_ACCESS_PLATFORM) | F(VHOST_F_LOG_ALL) | F(VIRTIO_VSOCK_F_SEQPACKET))

/* --- the kernel, recorded --------------------------------------------------------- */

#define MAX_CALLS 64
#define FAKE_FD 1000

struct call {
	unsigned long req;
	struct vhost_vring_state state; /* NUM, BASE, GET_VRING_BASE */
	struct vhost_vring_addr addr;
	struct vhost_vring_file file; /* KICK, CALL, ERR */
	uint64_t u64;		      /* SET_FEATURES, SET_GUEST_CID */
	int running;
	unsigned int nregions;
	struct vhost_memory_region region[4];
};

static struct {
	struct call c[MAX_CALLS];
	unsigned int n;
	uint64_t features;    /* what GET_FEATURES says; 0: KERNEL_FEATURES */
	unsigned long refuse; /* this request fails... */
	int refuse_errno;     /* ...with this */
	int closed;	      /* FAKE_FD was closed (through the real close: not ours) */
	uint16_t base[2];     /* what GET_VRING_BASE says: where the kernel stands in each ring */
} k;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct call *c;

	ck_assert_int_eq(fd, FAKE_FD);
	ck_assert_uint_lt(k.n, MAX_CALLS);
	c = &k.c[k.n++];
	memset(c, 0, sizeof(*c));
	c->req = req;
	switch (req) {
	case VHOST_GET_FEATURES:
		*(uint64_t *)arg = k.features ? k.features : KERNEL_FEATURES;
		break;
	case VHOST_SET_FEATURES:
	case VHOST_VSOCK_SET_GUEST_CID:
		c->u64 = *(uint64_t *)arg;
		break;
	case VHOST_VSOCK_SET_RUNNING:
		c->running = *(int *)arg;
		break;
	case VHOST_SET_MEM_TABLE: {
		struct vhost_memory *m = arg;

		c->nregions = m->nregions;
		for (unsigned int i = 0; i < m->nregions && i < 4; i++)
			c->region[i] = m->regions[i];
		break;
	}
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
		c->state = *(struct vhost_vring_state *)arg;
		break;
	case VHOST_GET_VRING_BASE: {
		struct vhost_vring_state *st = arg;

		c->state = *st;
		st->num = st->index < 2 ? k.base[st->index] : 0xdead;
		break;
	}
	case VHOST_SET_VRING_ADDR:
		c->addr = *(struct vhost_vring_addr *)arg;
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
	case VHOST_NET_SET_BACKEND:
		c->file = *(struct vhost_vring_file *)arg;
		break;
	default:
		break;
	}
	if (req == k.refuse) {
		errno = k.refuse_errno;
		return -1;
	}
	return 0;
}

static void kernel_reset(void)
{
	memset(&k, 0, sizeof(k));
}

/* The index of the first call of `req` at or after `from`, or -1. */
static int find(unsigned long req, unsigned int from)
{
	for (unsigned int i = from; i < k.n; i++)
		if (k.c[i].req == req)
			return (int)i;
	return -1;
}

static unsigned int count(unsigned long req)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < k.n; i++)
		n += k.c[i].req == req;
	return n;
}

/* --- a device on its transport ------------------------------------------------------ */

/* What both devices' tests share: guest RAM, the bus and transport, the kernel queues' fds. */
struct rig {
	struct gmem mem;
	uint8_t *ram;
	struct bus *bus;
	struct virtio_mmio *t;
	struct vdrv drv;
	unsigned int irqs;
	struct vhost_queue_fds fds[2];
};

static void rig_irq(void *opaque)
{
	((struct rig *)opaque)->irqs++;
}

/* Guest RAM of `slices` slices, one a queue; before the device, which takes r->mem. */
static void rig_ram(struct rig *r, unsigned int slices)
{
	r->ram = aligned_alloc(GMEM_PAGE_SIZE, slices * SLICE);
	ck_assert_ptr_nonnull(r->ram);
	ck_assert_int_eq(gmem_add_region(&r->mem, RAM_BASE, r->ram, slices * SLICE), 0);
}

/* The device's transport on the bus, and eventfds as the kick, call and err of kernel queues. */
static void rig_up(struct rig *r, void *dev, const struct virtio_device_info *info,
		   const struct virtio_device_ops *ops, struct vhost_dev *vd,
		   void (*attach)(void *dev, const struct virtio_transport *tr))
{
	struct virtio_mmio_host host = { .interrupt = rig_irq, .mem = &r->mem, .irq_opaque = r };
	struct virtio_transport tr;

	ck_assert_int_eq(bus_create(&r->bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&r->t, info, ops, dev, &host), 0);
	virtio_mmio_transport(r->t, &tr);
	attach(dev, &tr);
	ck_assert_int_eq(virtio_mmio_register(r->t, r->bus, MMIO_BASE), 0);
	vdrv_init(&r->drv, r->bus, MMIO_BASE, info->queue_max);
	for (unsigned int q = 0; q < 2; q++) {
		r->fds[q] = (struct vhost_queue_fds){ .kick = eventfd(0, EFD_CLOEXEC),
						      .call = eventfd(0, EFD_CLOEXEC),
						      .err = eventfd(0, EFD_CLOEXEC) };
		ck_assert(r->fds[q].kick >= 0 && r->fds[q].call >= 0 && r->fds[q].err >= 0);
		vhost_dev_set_fds(vd, q, &r->fds[q]);
	}
}

/* The transport first (its reset stops the device), then `destroy` the device, then the rest. */
static void rig_down(struct rig *r, void (*destroy)(void *dev), void *dev)
{
	virtio_mmio_destroy(r->t);
	destroy(dev);
	bus_destroy(r->bus);
	for (unsigned int q = 0; q < 2; q++) {
		close(r->fds[q].kick);
		close(r->fds[q].call);
		close(r->fds[q].err);
	}
	free(r->ram);
}

/* --- vhost-vsock --------------------------------------------------------------------- */

struct fx {
	struct rig r;
	struct rb rb[NQ];
	struct vsock *vs;
};

/* A vhost over the fake kernel; the descriptor is a number nothing else uses. */
static int new_vhost(struct vhost **v)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	/* vhost_create takes the descriptor: give it one it may close, numbered as the fake wants.
	 */
	ck_assert_int_eq(dup2(fd, FAKE_FD), FAKE_FD);
	close(fd);
	return vhost_create(v, FAKE_FD, "test-vhost", fake_ioctl);
}

static void vsock_attach_dev(void *dev, const struct virtio_transport *tr)
{
	vsock_attach(dev, tr);
}

static void vsock_destroy_dev(void *dev)
{
	vsock_destroy(dev);
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct vhost *v;

	ck_assert_ptr_nonnull(f);
	kernel_reset();
	rig_ram(&f->r, NQ);
	ck_assert_int_eq(new_vhost(&v), 0);
	ck_assert_int_eq(vsock_create(&f->vs, v, CID, &f->r.mem, "test-vsock"), 0);
	vsock_device(f->vs, &info, &ops);
	rig_up(&f->r, f->vs, &info, ops, vsock_vhost(f->vs), vsock_attach_dev);
	return f;
}

static void fx_free(struct fx *f)
{
	rig_down(&f->r, vsock_destroy_dev, f->vs);
	free(f);
}

/* The driver's start with `features`, the queues in `qmask` laid out afresh. */
static uint64_t drv_start(struct fx *f, uint64_t features, uint32_t qmask)
{
	uint64_t offered;

	ck_assert(vdrv_negotiate(&f->r.drv, features | F(VIRTIO_F_VERSION_1), &offered));
	for (unsigned int q = 0; q < NQ; q++)
		if (qmask & (1U << q))
			ck_assert_int_eq(rb_init_in(&f->rb[q], f->r.ram + q * SLICE,
						    RAM_BASE + q * SLICE, SLICE, VSOCK_QUEUE_SIZE),
					 0);
	vdrv_queues(&f->r.drv, f->rb, qmask);
	vdrv_add_status(&f->r.drv, S_DOK);
	return offered;
}

/* --- the tests ---------------------------------------------------------------------- */

START_TEST(creation_claims_the_cid)
{
	struct fx *f = fx_new();

	ck_assert_uint_eq(k.c[0].req, VHOST_SET_OWNER);
	ck_assert_uint_eq(k.c[1].req, VHOST_GET_FEATURES);
	ck_assert_uint_eq(k.c[2].req, VHOST_VSOCK_SET_GUEST_CID);
	ck_assert_uint_eq(k.c[2].u64, CID);
	ck_assert_uint_eq(k.n, 3);
	/* The identity and the CID, as the driver reads them. */
	ck_assert_uint_eq(vdrv_rd32(&f->r.drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG, 4), CID);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG + 4, 4), 0);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG, 8), CID);
	fx_free(f);
}
END_TEST

START_TEST(offers_what_the_kernel_and_ember_both_do)
{
	struct fx *f = fx_new();
	uint64_t offered = vdrv_device_features(&f->r.drv);

	ck_assert_uint_eq(offered, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
					   F(VIRTIO_RING_F_INDIRECT_DESC) |
					   F(VIRTIO_VSOCK_F_SEQPACKET));
	fx_free(f);
}
END_TEST

START_TEST(start_hands_the_rings_to_the_kernel)
{
	struct fx *f = fx_new();
	uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX);
	unsigned int from = k.n;
	int i;

	drv_start(f, want, 7);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	i = find(VHOST_SET_FEATURES, from);
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(k.c[i].u64, want);
	i = find(VHOST_SET_MEM_TABLE, from);
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(k.c[i].nregions, 1);
	ck_assert_uint_eq(k.c[i].region[0].guest_phys_addr, RAM_BASE);
	ck_assert_uint_eq(k.c[i].region[0].memory_size, NQ * SLICE);
	ck_assert_uint_eq(k.c[i].region[0].userspace_addr, (uint64_t)(uintptr_t)f->r.ram);
	/* rx and tx, each: its size, base 0, its rings' host addresses, its three descriptors. */
	for (unsigned int q = 0; q < 2; q++) {
		int num = -1, base = -1, addr = -1, kick = -1, call = -1, err = -1;

		for (unsigned int j = from; j < k.n; j++) {
			if (k.c[j].req == VHOST_SET_VRING_NUM && k.c[j].state.index == q)
				num = (int)j;
			if (k.c[j].req == VHOST_SET_VRING_BASE && k.c[j].state.index == q)
				base = (int)j;
			if (k.c[j].req == VHOST_SET_VRING_ADDR && k.c[j].addr.index == q)
				addr = (int)j;
			if (k.c[j].req == VHOST_SET_VRING_KICK && k.c[j].file.index == q)
				kick = (int)j;
			if (k.c[j].req == VHOST_SET_VRING_CALL && k.c[j].file.index == q)
				call = (int)j;
			if (k.c[j].req == VHOST_SET_VRING_ERR && k.c[j].file.index == q)
				err = (int)j;
		}
		ck_assert(num >= 0 && base >= 0 && addr >= 0 && kick >= 0 && call >= 0 && err >= 0);
		ck_assert_uint_eq(k.c[num].state.num, VSOCK_QUEUE_SIZE);
		ck_assert_uint_eq(k.c[base].state.num, 0);
		ck_assert_uint_eq(k.c[addr].addr.desc_user_addr,
				  (uint64_t)(uintptr_t)rb_host(&f->rb[q], f->rb[q].desc));
		ck_assert_uint_eq(k.c[addr].addr.avail_user_addr,
				  (uint64_t)(uintptr_t)rb_host(&f->rb[q], f->rb[q].avail));
		ck_assert_uint_eq(k.c[addr].addr.used_user_addr,
				  (uint64_t)(uintptr_t)rb_host(&f->rb[q], f->rb[q].used));
		ck_assert_int_eq(k.c[kick].file.fd, f->r.fds[q].kick);
		ck_assert_int_eq(k.c[call].file.fd, f->r.fds[q].call);
		ck_assert_int_eq(k.c[err].file.fd, f->r.fds[q].err);
		/* The kick last: the kernel takes buffers only once all is in place. */
		ck_assert(kick > num && kick > base && kick > addr && kick > call && kick > err);
	}
	/* The event queue stays ember's. */
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_SET_VRING_NUM)
			ck_assert_uint_lt(k.c[j].state.index, 2);
	i = find(VHOST_VSOCK_SET_RUNNING, from);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(k.c[i].running, 1);
	ck_assert_int_eq((int)k.n - 1, i); /* running, last */
	fx_free(f);
}
END_TEST

START_TEST(calls_become_interrupts)
{
	struct fx *f = fx_new();

	/* Before the driver starts the device, a stray call is nothing. */
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 0);
	drv_start(f, 0, 7);
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 1);
	ck_assert_uint_eq(vdrv_rd32(&f->r.drv, VIRTIO_MMIO_INTERRUPT_STATUS) & 1, 1);
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	ck_assert_uint_eq(vdrv_rd32(&f->r.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	fx_free(f);
}
END_TEST

START_TEST(kernel_errors_need_a_reset)
{
	struct fx *f = fx_new();

	vhost_dev_broken(vsock_vhost(f->vs), 1); /* not running: nothing */
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, 0);
	drv_start(f, 0, 7);
	vhost_dev_broken(vsock_vhost(f->vs), 1);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	ck_assert_uint_eq(vdrv_rd32(&f->r.drv, VIRTIO_MMIO_INTERRUPT_STATUS) & 2, 2);
	fx_free(f);
}
END_TEST

START_TEST(reset_takes_the_rings_back)
{
	struct fx *f = fx_new();
	unsigned int from;
	int i;

	drv_start(f, 0, 7);
	from = k.n;
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), 0);
	i = find(VHOST_VSOCK_SET_RUNNING, from);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(k.c[i].running, 0);
	/* Stopped first; then each ring's base read back and its descriptors unbound. */
	ck_assert_int_gt(find(VHOST_GET_VRING_BASE, from), i);
	ck_assert_uint_eq(count(VHOST_GET_VRING_BASE), 2);
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_SET_VRING_KICK || k.c[j].req == VHOST_SET_VRING_CALL ||
		    k.c[j].req == VHOST_SET_VRING_ERR)
			ck_assert_int_eq(k.c[j].file.fd, VHOST_FILE_UNBIND);
	/* After a reset a call raises nothing, and the driver can start it again. */
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 0);
	from = k.n;
	drv_start(f, 0, 7);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	ck_assert_int_ge(find(VHOST_VSOCK_SET_RUNNING, from), 0);
	/* A second reset, then destruction, stops nothing twice. */
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	from = k.n;
	fx_free(f);
	ck_assert_int_lt(find(VHOST_VSOCK_SET_RUNNING, from), 0);
	ck_assert_int_lt(find(VHOST_GET_VRING_BASE, from), 0);
}
END_TEST

/* One event buffer of `len` bytes, writable or not, made available and kicked. */
static uint16_t post_event(struct fx *f, uint32_t len, bool write)
{
	struct rb_seg seg = { .len = len, .write = write };
	uint16_t head = rb_add_chain(&f->rb[2], &seg, 1);

	rb_publish(&f->rb[2], head);
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	return head;
}

START_TEST(a_restart_sends_the_transport_reset)
{
	struct fx *f = fx_new();
	struct rb_seg split[2] = { { .len = 1, .write = true }, { .len = 3, .write = true } };
	uint32_t id, len;
	uint16_t head;
	uint8_t ev[4];

	/* The first start owes the driver nothing: its event buffer waits. */
	drv_start(f, 0, 7);
	post_event(f, 4, true);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	/* Reset and started again: the event goes to the next buffer, once. */
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	drv_start(f, 0, 7);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	/* A buffer too short, and one the device may not write, go back empty. */
	post_event(f, 3, true);
	ck_assert(rb_get_used(&f->rb[2], &id, &len));
	ck_assert_uint_eq(len, 0);
	post_event(f, 8, false);
	ck_assert(rb_get_used(&f->rb[2], &id, &len));
	ck_assert_uint_eq(len, 0);
	/* The event split over two buffers, little-endian: id 0, TRANSPORT_RESET. */
	memset(f->r.ram + 2 * SLICE + SLICE / 2, 0xff, 64);
	split[0].gpa = RAM_BASE + 2 * SLICE + SLICE / 2;
	split[1].gpa = split[0].gpa + 16;
	head = rb_add_chain(&f->rb[2], split, 2);
	rb_publish(&f->rb[2], head);
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	ck_assert(rb_get_used(&f->rb[2], &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 4);
	ev[0] = f->r.ram[2 * SLICE + SLICE / 2];
	memcpy(ev + 1, f->r.ram + 2 * SLICE + SLICE / 2 + 16, 3);
	ck_assert_uint_eq(ev[0] | ev[1] << 8 | ev[2] << 16 | (uint32_t)ev[3] << 24,
			  VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	ck_assert_uint_eq(f->r.ram[2 * SLICE + SLICE / 2 + 1], 0xff);
	ck_assert_uint_gt(f->r.irqs, 0);
	/* Owed once: the next buffer waits. */
	post_event(f, 4, true);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	fx_free(f);
}
END_TEST

/* A kernel that will not stop is let go of: its descriptor closed, and no call after. */
START_TEST(a_kernel_that_will_not_stop_is_let_go)
{
	static const unsigned long stops[] = { VHOST_VSOCK_SET_RUNNING, VHOST_GET_VRING_BASE,
					       VHOST_SET_VRING_CALL };
	struct fx *f = fx_new();
	unsigned int from;

	drv_start(f, 0, 7);
	k.refuse = stops[_i];
	k.refuse_errno = EIO;
	from = k.n;
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), 0);
	ck_assert_int_ge(find(stops[_i], from), 0);
	ck_assert_int_lt(fcntl(FAKE_FD, F_GETFD), 0);
	/* It cannot start again, and asks nothing of the closed descriptor. */
	k.refuse = 0;
	from = k.n;
	drv_start(f, 0, 7);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	ck_assert_uint_eq(k.n, from);
	fx_free(f);
	ck_assert_uint_eq(k.n, from);
}
END_TEST

START_TEST(a_queue_left_unset_needs_a_reset)
{
	struct fx *f = fx_new();
	unsigned int from = k.n;

	drv_start(f, 0, 1 | 4); /* no tx queue */
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	ck_assert_int_lt(find(VHOST_VSOCK_SET_RUNNING, from), 0);
	ck_assert_int_lt(find(VHOST_SET_VRING_KICK, from), 0);
	fx_free(f);
}
END_TEST

/* Whichever call the kernel refuses at start, the device needs a reset and nothing runs. */
START_TEST(a_refusing_kernel_leaves_nothing_started)
{
	static const unsigned long reqs[] = {
		VHOST_SET_FEATURES,   VHOST_SET_MEM_TABLE,  VHOST_SET_VRING_NUM,
		VHOST_SET_VRING_BASE, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_CALL,
		VHOST_SET_VRING_ERR,  VHOST_SET_VRING_KICK, VHOST_VSOCK_SET_RUNNING,
	};
	struct fx *f = fx_new();
	unsigned int from = k.n;
	int bound = 0;

	k.refuse = reqs[_i];
	k.refuse_errno = EFAULT;
	drv_start(f, 0, 7);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	/* Whatever was bound is unbound again; the kernel is not left running. */
	for (unsigned int j = from; j < k.n; j++) {
		if (k.c[j].req == VHOST_SET_VRING_KICK && k.c[j].file.fd != VHOST_FILE_UNBIND &&
		    k.refuse != VHOST_SET_VRING_KICK)
			bound++;
		if (k.c[j].req == VHOST_SET_VRING_KICK && k.c[j].file.fd == VHOST_FILE_UNBIND)
			bound--;
	}
	/* Or, where the undoing was refused too, the descriptor closed. */
	if (fcntl(FAKE_FD, F_GETFD) < 0)
		bound = 0;
	ck_assert_int_le(bound, 0);
	/* Never running: a SET_RUNNING at all only where each is refused. */
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_VSOCK_SET_RUNNING)
			ck_assert(k.refuse == VHOST_VSOCK_SET_RUNNING);
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 1); /* only NEEDS_RESET's configuration interrupt */
	k.refuse = 0;
	fx_free(f);
}
END_TEST

START_TEST(cids_out_of_range_and_taken)
{
	struct vhost *v;
	struct vsock *s;
	struct gmem mem = { 0 };
	static const uint64_t bad[] = { 0, 1, 2, 0xffffffffULL, 1ULL << 32 };

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kernel_reset();
		ck_assert_int_eq(new_vhost(&v), 0);
		ck_assert_int_eq(vsock_create(&s, v, bad[i], &mem, "t"), -EINVAL);
		ck_assert_ptr_null(s);
		ck_assert_int_lt(find(VHOST_VSOCK_SET_GUEST_CID, 0), 0);
	}
	kernel_reset();
	k.refuse = VHOST_VSOCK_SET_GUEST_CID;
	k.refuse_errno = EADDRINUSE;
	ck_assert_int_eq(new_vhost(&v), 0);
	ck_assert_int_eq(vsock_create(&s, v, 3, &mem, "t"), -EADDRINUSE);
	ck_assert_ptr_null(s);
	kernel_reset();
	k.refuse = VHOST_SET_OWNER;
	k.refuse_errno = EBUSY;
	ck_assert_int_eq(new_vhost(&v), -EBUSY);
	ck_assert_ptr_null(v);
	/* The descriptor was closed with it. */
	ck_assert_int_lt(fcntl(FAKE_FD, F_GETFD), 0);
	kernel_reset();
}
END_TEST

/* --- snapshots ----------------------------------------------------------------------- */

/*
 * The kernel's part in queue `q`: the driver makes `n` buffers available,
 * the "kernel" takes them and gives them back, moving used->idx in guest
 * memory and its own place, which GET_VRING_BASE reports.
 */
static void kernel_consumes(struct rb *rb, unsigned int q, unsigned int n)
{
	struct vring_used *u = rb_host(rb, rb->used);

	for (unsigned int i = 0; i < n; i++) {
		struct rb_seg seg = { .len = 64, .write = true };
		uint16_t head = rb_add_chain(rb, &seg, 1);
		uint16_t idx = le16toh(u->idx);

		rb_publish(rb, head);
		u->ring[idx % rb->size].id = htole32(head);
		u->ring[idx % rb->size].len = htole32(64);
		u->idx = htole16((uint16_t)(idx + 1));
	}
	k.base[q] = (uint16_t)(k.base[q] + n);
}

/* The base queue `q` was given by the first SET_VRING_BASE for it at or after `from`, or -1. */
static int base_given(unsigned int q, unsigned int from)
{
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_SET_VRING_BASE && k.c[j].state.index == q)
			return (int)k.c[j].state.num;
	return -1;
}

/* The kernel was stopped from `from` on: SET_RUNNING 0, then both rings' bases read back. */
static void assert_stopped(unsigned int from)
{
	int i = find(VHOST_VSOCK_SET_RUNNING, from);
	int first = find(VHOST_GET_VRING_BASE, from);

	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(k.c[i].running, 0);
	ck_assert_int_gt(first, i);
	ck_assert_int_ge(find(VHOST_GET_VRING_BASE, (unsigned int)first + 1), 0);
}

/* The kernel was started from `from` on with rx at `rx` and tx at `tx`, running last. */
static void assert_started_at(unsigned int from, int rx, int tx)
{
	int i = find(VHOST_VSOCK_SET_RUNNING, from);

	ck_assert_int_eq(base_given(0, from), rx);
	ck_assert_int_eq(base_given(1, from), tx);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(k.c[i].running, 1);
	ck_assert_int_eq((int)k.n - 1, i);
}

/* A running device whose kernel took and gave back 5 rx and 3 tx buffers, the tx ring wrapped. */
static struct fx *fx_used(void)
{
	struct fx *f = fx_new();

	drv_start(f, F(VIRTIO_RING_F_EVENT_IDX), 7);
	kernel_consumes(&f->rb[0], 0, 5);
	kernel_consumes(&f->rb[1], 1, VSOCK_QUEUE_SIZE + 3);
	return f;
}

START_TEST(suspend_saves_where_the_kernel_stopped)
{
	struct fx *f = fx_used();
	struct virtio_mmio_state st;
	unsigned int from = k.n;

	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	assert_stopped(from);
	/* Kept: the kick, call and err unbound as at a reset. */
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_SET_VRING_KICK)
			ck_assert_int_eq(k.c[j].file.fd, VHOST_FILE_UNBIND);
	ck_assert_int_eq(virtio_mmio_save(f->r.t, &st), 0);
	ck_assert_uint_eq(st.active, 1);
	ck_assert_uint_eq(st.q[0].vq.last_avail, 5);
	ck_assert_uint_eq(st.q[0].vq.used_idx, 5);
	ck_assert_uint_eq(st.q[1].vq.last_avail, VSOCK_QUEUE_SIZE + 3);
	ck_assert_uint_eq(st.q[1].vq.used_idx, VSOCK_QUEUE_SIZE + 3);
	ck_assert_uint_eq(st.q[1].vq.inflight, 0);
	/* Suspended twice: the second asks nothing of the kernel. */
	from = k.n;
	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	ck_assert_uint_eq(k.n, from);
	/* The guest goes on: the kernel starts again where it stopped, not at 0. */
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	assert_started_at(from, 5, VSOCK_QUEUE_SIZE + 3);
	ck_assert_uint_eq(count(VHOST_SET_FEATURES), 2);
	ck_assert_uint_eq(k.c[find(VHOST_SET_FEATURES, from)].u64,
			  F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX));
	ck_assert_uint_eq(vdrv_status(&f->r.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	from = k.n;
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	ck_assert_uint_eq(k.n, from);
	/* Running: its calls are interrupts, and a reset stops the kernel. */
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 1);
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	assert_stopped(from);
	fx_free(f);
}
END_TEST

START_TEST(restore_starts_the_kernel_where_it_stopped)
{
	struct fx *f = fx_used();
	struct virtio_mmio_state st;
	struct rb rb[NQ];
	uint8_t *ram = malloc(NQ * SLICE);
	uint32_t id, len, ev;
	unsigned int from;
	uint16_t head;

	ck_assert_ptr_nonnull(ram);
	/* An event buffer waits, as the driver leaves one. */
	head = post_event(f, 8, true);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	ck_assert_int_eq(virtio_mmio_save(f->r.t, &st), 0);
	memcpy(ram, f->r.ram, NQ * SLICE);
	memcpy(rb, f->rb, sizeof(rb));
	/* The suspended device goes without another stop: the kernel has none of its rings. */
	from = k.n;
	fx_free(f);
	ck_assert_uint_eq(k.n, from);

	/* Another process: the same guest RAM, a device just made. */
	f = fx_new();
	memcpy(f->r.ram, ram, NQ * SLICE);
	free(ram);
	for (unsigned int q = 0; q < NQ; q++) {
		f->rb[q] = rb[q];
		f->rb[q].ram = f->r.ram + q * SLICE;
	}
	ck_assert_int_eq(virtio_mmio_restore(f->r.t, &st), 0);
	assert_started_at(0, 5, VSOCK_QUEUE_SIZE + 3);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	/* The restore alone owes the driver nothing. */
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	/* Its connections are gone: the transport reset, in the buffer that waits. */
	vsock_restored(f->vs);
	ck_assert(rb_get_used(&f->rb[2], &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 4);
	memcpy(&ev, f->r.ram + (le64toh(rb_desc(&f->rb[2], head)->addr) - RAM_BASE), 4);
	ck_assert_uint_eq(le32toh(ev), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	ck_assert_uint_gt(f->r.irqs, 0);
	/* Once. */
	post_event(f, 4, true);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	fx_free(f);
}
END_TEST

/* Restored without an event buffer: the reset goes into the first one the driver adds. */
START_TEST(restored_reset_waits_for_a_buffer)
{
	struct fx *f = fx_new();
	uint32_t id, len;

	drv_start(f, 0, 7);
	vsock_restored(f->vs);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	post_event(f, 4, true);
	ck_assert(rb_get_used(&f->rb[2], &id, &len));
	ck_assert_uint_eq(len, 4);
	post_event(f, 4, true);
	ck_assert(!rb_get_used(&f->rb[2], &id, &len));
	fx_free(f);
}
END_TEST

/*
 * The guest's rings disagree with where the kernel stopped: used->idx more
 * than a queue ahead, a chain the kernel kept, avail->idx too far ahead.
 * No snapshot; the guest goes on as if none had been tried.
 */
START_TEST(suspend_refuses_rings_the_kernel_disagrees_with)
{
	static const int want[] = { -EPROTO, -EBUSY, -EPROTO };
	struct fx *f = fx_used();
	struct vring_used *u = rb_host(&f->rb[1], f->rb[1].used);
	struct virtio_mmio_state st;
	unsigned int from;

	switch (_i) {
	case 0:
		u->idx = htole16((uint16_t)(le16toh(u->idx) + VSOCK_QUEUE_SIZE + 1));
		break;
	case 1:
		u->idx = htole16((uint16_t)(le16toh(u->idx) - 2));
		break;
	default:
		rb_set_avail_idx(&f->rb[1], (uint16_t)(k.base[1] + VSOCK_QUEUE_SIZE + 1));
		break;
	}
	from = k.n;
	ck_assert_int_eq(vsock_suspend(f->vs), want[_i]);
	assert_stopped(from);
	/* rx agreed and was taken back; tx keeps what ember had, nothing of the guest's. */
	ck_assert_int_eq(virtio_mmio_save(f->r.t, &st), 0);
	ck_assert_uint_eq(st.q[0].vq.last_avail, 5);
	ck_assert_uint_eq(st.q[1].vq.last_avail, 0);
	ck_assert_uint_eq(st.q[1].vq.used_idx, 0);
	/* Resumed where the kernel stopped, which is what it knows. */
	from = k.n;
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	assert_started_at(from, 5, VSOCK_QUEUE_SIZE + 3);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/* Never started, or reset since: nothing to stop or start, and nothing asked of the kernel. */
START_TEST(suspend_of_a_device_not_started_does_nothing)
{
	struct fx *f = fx_new();
	struct virtio_mmio_state st;
	unsigned int from = k.n;

	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	ck_assert_int_eq(virtio_mmio_save(f->r.t, &st), 0);
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	ck_assert_uint_eq(k.n, from);
	drv_start(f, 0, 7);
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	from = k.n;
	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	ck_assert_uint_eq(k.n, from);
	/* The driver starts it as usual afterwards. */
	drv_start(f, 0, 7);
	assert_started_at(from, 0, 0);
	fx_free(f);
}
END_TEST

/* A kernel that will not stop for a snapshot is let go of; the driver is told to reset. */
START_TEST(a_kernel_that_will_not_suspend_is_let_go)
{
	static const unsigned long stops[] = { VHOST_VSOCK_SET_RUNNING, VHOST_GET_VRING_BASE,
					       VHOST_SET_VRING_KICK };
	struct fx *f = fx_used();
	unsigned int from;

	k.refuse = stops[_i];
	k.refuse_errno = EIO;
	ck_assert_int_eq(vsock_suspend(f->vs), -EIO);
	ck_assert_int_lt(fcntl(FAKE_FD, F_GETFD), 0);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	k.refuse = 0;
	from = k.n;
	ck_assert_int_eq(vsock_resume(f->vs), 0);
	ck_assert_uint_eq(k.n, from);
	fx_free(f);
	ck_assert_uint_eq(k.n, from);
}
END_TEST

/* A kernel that will not start again after a snapshot: the device needs a reset. */
START_TEST(a_kernel_that_will_not_resume_needs_a_reset)
{
	struct fx *f = fx_used();
	unsigned int from;

	ck_assert_int_eq(vsock_suspend(f->vs), 0);
	k.refuse = VHOST_SET_VRING_ADDR;
	k.refuse_errno = EFAULT;
	from = k.n;
	ck_assert_int_eq(vsock_resume(f->vs), -EFAULT);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	/* Nothing left bound, and the kernel not running. */
	ck_assert_int_lt(find(VHOST_VSOCK_SET_RUNNING, from), 0);
	ck_assert_int_ge(find(VHOST_GET_VRING_BASE, from), 0);
	k.refuse = 0;
	vhost_dev_called(vsock_vhost(f->vs));
	ck_assert_uint_eq(f->r.irqs, 1); /* NEEDS_RESET's only */
	/* The driver's reset and start bring it back, from 0. */
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	from = k.n;
	drv_start(f, 0, 7);
	assert_started_at(from, 0, 0);
	fx_free(f);
}
END_TEST

/* --- vhost-net ----------------------------------------------------------------------- */

#define TAP_FD 77 /* never used as a descriptor: the kernel is the recorder */
#define NET_FEATURES                                                                               \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_RING_F_INDIRECT_DESC) |     \
	 F(VIRTIO_NET_F_MRG_RXBUF) | F(VHOST_NET_F_VIRTIO_NET_HDR) | F(VIRTIO_F_ACCESS_PLATFORM))

struct nfx {
	struct rig r;
	struct rb rb[2];
	struct vhostnet *n;
	unsigned int offload_calls;
	unsigned int tun_flags;
	int offload_ret;
};

static int nfx_offloads(void *opaque, unsigned int flags)
{
	struct nfx *f = opaque;

	f->offload_calls++;
	f->tun_flags = flags;
	return f->offload_ret;
}

static void vhostnet_attach_dev(void *dev, const struct virtio_transport *tr)
{
	vhostnet_attach(dev, tr);
}

static void vhostnet_destroy_dev(void *dev)
{
	vhostnet_destroy(dev);
}

static struct nfx *nfx_new(uint64_t kernel_features)
{
	struct nfx *f = calloc(1, sizeof(*f));
	struct vhostnet_config cfg = {
		.tap_fd = TAP_FD,
		.mac = { 0x52, 0x54, 0, 1, 2, 3 },
		.offloads = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
			    F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_HOST_TSO4),
		.set_offloads = nfx_offloads,
		.name = "test-vhost-net",
	};
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct vhost *v;

	ck_assert_ptr_nonnull(f);
	kernel_reset();
	k.features = kernel_features;
	cfg.opaque = f;
	rig_ram(&f->r, 2);
	ck_assert_int_eq(new_vhost(&v), 0);
	ck_assert_int_eq(vhostnet_create(&f->n, v, &cfg, &f->r.mem), 0);
	vhostnet_device(f->n, &info, &ops);
	rig_up(&f->r, f->n, &info, ops, vhostnet_vhost(f->n), vhostnet_attach_dev);
	return f;
}

static void nfx_free(struct nfx *f)
{
	rig_down(&f->r, vhostnet_destroy_dev, f->n);
	free(f);
}

static void nfx_start(struct nfx *f, uint64_t features)
{
	ck_assert(vdrv_negotiate(&f->r.drv, features | F(VIRTIO_F_VERSION_1), NULL));
	for (unsigned int q = 0; q < 2; q++)
		ck_assert_int_eq(rb_init_in(&f->rb[q], f->r.ram + q * SLICE, RAM_BASE + q * SLICE,
					    SLICE, VHOSTNET_QUEUE_SIZE),
				 0);
	vdrv_queues(&f->r.drv, f->rb, 3);
	vdrv_add_status(&f->r.drv, S_DOK);
}

START_TEST(net_offers_the_taps_offloads_and_the_kernels_rings)
{
	struct nfx *f = nfx_new(NET_FEATURES);
	uint64_t offered = vdrv_device_features(&f->r.drv);

	ck_assert_uint_eq(offered, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
					   F(VIRTIO_RING_F_INDIRECT_DESC) |
					   F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MAC) |
					   F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CSUM) |
					   F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
					   F(VIRTIO_NET_F_HOST_TSO4));
	ck_assert_uint_eq(vdrv_rd32(&f->r.drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG, 1), 0x52);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG + 5, 1), 3);
	ck_assert_uint_eq(vdrv_rd(&f->r.drv, VIRTIO_MMIO_CONFIG + 6, 2), VIRTIO_NET_S_LINK_UP);
	nfx_free(f);
	/* A kernel without MRG_RXBUF: the device does not offer it. */
	f = nfx_new(NET_FEATURES & ~F(VIRTIO_NET_F_MRG_RXBUF));
	ck_assert_uint_eq(vdrv_device_features(&f->r.drv) & F(VIRTIO_NET_F_MRG_RXBUF), 0);
	nfx_free(f);
}
END_TEST

START_TEST(net_start_gives_the_kernel_the_tap)
{
	struct nfx *f = nfx_new(NET_FEATURES);
	uint64_t want = F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MAC) |
			F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
			F(VIRTIO_NET_F_CSUM);
	unsigned int from = k.n;
	int i, backend[2] = { -1, -1 }, kick[2] = { -1, -1 };

	nfx_start(f, want);
	ck_assert_uint_eq(vdrv_status(&f->r.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	/* The offloads the driver took, on the tap. */
	ck_assert_uint_eq(f->offload_calls, 1);
	ck_assert_uint_eq(f->tun_flags, TUN_F_CSUM | TUN_F_TSO4);
	/* The kernel hears only of its own features: never MAC, CSUM, nor its header. */
	i = find(VHOST_SET_FEATURES, from);
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(k.c[i].u64, F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned int j = from; j < k.n; j++) {
		if (k.c[j].req == VHOST_NET_SET_BACKEND) {
			ck_assert_uint_lt(k.c[j].file.index, 2);
			ck_assert_int_eq(k.c[j].file.fd, TAP_FD);
			backend[k.c[j].file.index] = (int)j;
		}
		if (k.c[j].req == VHOST_SET_VRING_KICK)
			kick[k.c[j].file.index] = (int)j;
	}
	/* Each queue's backend once its ring is in place. */
	ck_assert(backend[0] > kick[0] && backend[1] > kick[1] && kick[0] >= 0 && kick[1] >= 0);
	ck_assert_uint_eq(count(VHOST_NET_SET_BACKEND), 2);
	nfx_free(f);
}
END_TEST

START_TEST(net_reset_takes_the_tap_back_first)
{
	struct nfx *f = nfx_new(NET_FEATURES);
	unsigned int from;
	int unset = -1;

	nfx_start(f, 0);
	from = k.n;
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_NET_SET_BACKEND) {
			ck_assert_int_eq(k.c[j].file.fd, -1);
			unset = (int)j;
		}
	ck_assert_int_ge(unset, 0);
	ck_assert_int_lt(unset, find(VHOST_GET_VRING_BASE, from));
	/* Calls after the reset raise nothing; a call while running does. */
	vhost_dev_called(vhostnet_vhost(f->n));
	ck_assert_uint_eq(f->r.irqs, 0);
	nfx_start(f, 0);
	vhost_dev_called(vhostnet_vhost(f->n));
	ck_assert_uint_eq(f->r.irqs, 1);
	nfx_free(f);
}
END_TEST

START_TEST(net_refusals_need_a_reset)
{
	struct nfx *f = nfx_new(NET_FEATURES);
	unsigned int from = k.n;

	/* The tap refusing the offloads: nothing reaches the kernel. */
	f->offload_ret = -EINVAL;
	nfx_start(f, F(VIRTIO_NET_F_GUEST_CSUM));
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	ck_assert_uint_eq(k.n, from);
	/* The kernel refusing the tap: the rings are taken back. */
	f->offload_ret = 0;
	vdrv_wr32(&f->r.drv, VIRTIO_MMIO_STATUS, 0);
	k.refuse = VHOST_NET_SET_BACKEND;
	k.refuse_errno = EBADF;
	from = k.n;
	nfx_start(f, 0);
	ck_assert_uint_eq(vdrv_status(&f->r.drv) & S_NR, S_NR);
	/* The unset refused too: the kernel is let go of, its descriptor closed. */
	ck_assert_int_lt(find(VHOST_GET_VRING_BASE, from), 0);
	ck_assert_int_lt(fcntl(FAKE_FD, F_GETFD), 0);
	k.refuse = 0;
	nfx_free(f);
}
END_TEST

START_TEST(net_suspend_and_resume)
{
	struct nfx *f = nfx_new(NET_FEATURES);
	struct virtio_mmio_state st;
	unsigned int from = k.n;
	int unset = -1, set = -1;

	/* Not started: nothing. */
	ck_assert_int_eq(vhostnet_suspend(f->n), 0);
	ck_assert_int_eq(vhostnet_resume(f->n), 0);
	ck_assert_uint_eq(k.n, from);
	nfx_start(f, 0);
	kernel_consumes(&f->rb[0], 0, 9);
	kernel_consumes(&f->rb[1], 1, 4);
	from = k.n;
	ck_assert_int_eq(vhostnet_suspend(f->n), 0);
	/* The tap taken back from both rings before their bases are read. */
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_NET_SET_BACKEND && k.c[j].file.fd == -1)
			unset = (int)j;
	ck_assert_int_ge(unset, 0);
	ck_assert_int_lt(unset, find(VHOST_GET_VRING_BASE, from));
	ck_assert_int_eq(virtio_mmio_save(f->r.t, &st), 0);
	ck_assert_uint_eq(st.q[0].vq.last_avail, 9);
	ck_assert_uint_eq(st.q[1].vq.used_idx, 4);
	from = k.n;
	ck_assert_int_eq(vhostnet_resume(f->n), 0);
	ck_assert_int_eq(base_given(0, from), 9);
	ck_assert_int_eq(base_given(1, from), 4);
	for (unsigned int j = from; j < k.n; j++)
		if (k.c[j].req == VHOST_NET_SET_BACKEND && k.c[j].file.fd == TAP_FD)
			set = (int)j;
	ck_assert_int_gt(set, find(VHOST_SET_VRING_KICK, from));
	/* The tap's offloads are the tap's still: not set again. */
	ck_assert_uint_eq(f->offload_calls, 1);
	nfx_free(f);
}
END_TEST

static Suite *vsock_suite(void)
{
	Suite *s = suite_create("vhost");
	TCase *tc = tcase_create("vsock");
	TCase *tn = tcase_create("vhost-net");

	tcase_add_test(tc, creation_claims_the_cid);
	tcase_add_test(tc, offers_what_the_kernel_and_ember_both_do);
	tcase_add_test(tc, start_hands_the_rings_to_the_kernel);
	tcase_add_test(tc, calls_become_interrupts);
	tcase_add_test(tc, kernel_errors_need_a_reset);
	tcase_add_test(tc, reset_takes_the_rings_back);
	tcase_add_test(tc, a_restart_sends_the_transport_reset);
	tcase_add_test(tc, a_queue_left_unset_needs_a_reset);
	tcase_add_loop_test(tc, a_kernel_that_will_not_stop_is_let_go, 0, 3);
	tcase_add_loop_test(tc, a_refusing_kernel_leaves_nothing_started, 0, 9);
	tcase_add_test(tc, cids_out_of_range_and_taken);
	tcase_add_test(tc, suspend_saves_where_the_kernel_stopped);
	tcase_add_test(tc, restore_starts_the_kernel_where_it_stopped);
	tcase_add_test(tc, restored_reset_waits_for_a_buffer);
	tcase_add_loop_test(tc, suspend_refuses_rings_the_kernel_disagrees_with, 0, 3);
	tcase_add_test(tc, suspend_of_a_device_not_started_does_nothing);
	tcase_add_loop_test(tc, a_kernel_that_will_not_suspend_is_let_go, 0, 3);
	tcase_add_test(tc, a_kernel_that_will_not_resume_needs_a_reset);
	suite_add_tcase(s, tc);
	tcase_add_test(tn, net_offers_the_taps_offloads_and_the_kernels_rings);
	tcase_add_test(tn, net_start_gives_the_kernel_the_tap);
	tcase_add_test(tn, net_reset_takes_the_tap_back_first);
	tcase_add_test(tn, net_refusals_need_a_reset);
	tcase_add_test(tn, net_suspend_and_resume);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	return unit_run(vsock_suite());
}
