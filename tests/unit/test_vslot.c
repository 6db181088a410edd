// SPDX-License-Identifier: MIT
/*
 * The virtio slot without KVM: a real MMIO bus and event loop, stand-ins for
 * KVM's irqfd and ioeventfd that hand out eventfds and keep count, and a
 * failure injected at every step of vslot_attach(), after which nothing of
 * the slot may be left: not its window, not its fds, not its handlers.
 */
#include "config.h"

#include "app/vslot.h"
#include "core/bus.h"
#include "core/evloop.h"
#include "core/gmem.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BASE 0xd0000000ULL
#define GSI 5
#define NQ 3
#define MAX_FDS 16

/* The stand-ins for KVM: each call may be told to fail; every fd is recorded. */
struct fake_kvm {
	unsigned int irqfd_calls, ioeventfd_calls;
	unsigned int fail_irqfd;      /* fail the nth irqfd call (1-based); 0: never */
	unsigned int fail_ioeventfd;  /* the same for ioeventfds */
	unsigned int unpollable_from; /* from the nth ioeventfd on, hand out /dev/null */
	int irqfd;
	unsigned int irqfd_gsi;
	unsigned int irqfds_live, ioeventfds_live;
	struct ioeventfd_spec spec[MAX_FDS];
	int fd[MAX_FDS];
	unsigned int nr;
};

static int fake_irqfd_assign(void *ctx, unsigned int gsi, int *fd)
{
	struct fake_kvm *k = ctx;

	if (++k->irqfd_calls == k->fail_irqfd)
		return -EIO;
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(*fd, 0);
	k->irqfd = *fd;
	k->irqfd_gsi = gsi;
	k->irqfds_live++;
	return 0;
}

static void fake_irqfd_release(void *ctx, unsigned int gsi, int fd)
{
	struct fake_kvm *k = ctx;

	ck_assert_uint_eq(gsi, k->irqfd_gsi);
	ck_assert_int_eq(fd, k->irqfd);
	ck_assert_uint_gt(k->irqfds_live, 0);
	k->irqfds_live--;
	close(fd);
}

static int fake_ioeventfd_assign(void *ctx, const struct ioeventfd_spec *spec, int *fd)
{
	struct fake_kvm *k = ctx;

	k->ioeventfd_calls++;
	if (k->ioeventfd_calls == k->fail_ioeventfd)
		return -ENOSPC;
	ck_assert_uint_lt(k->nr, MAX_FDS);
	if (k->unpollable_from && k->ioeventfd_calls >= k->unpollable_from)
		*fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* epoll refuses it */
	else
		*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(*fd, 0);
	k->spec[k->nr] = *spec;
	k->fd[k->nr++] = *fd;
	k->ioeventfds_live++;
	return 0;
}

static void fake_ioeventfd_release(void *ctx, const struct ioeventfd_spec *spec, int fd)
{
	struct fake_kvm *k = ctx;
	unsigned int i;

	for (i = 0; i < k->nr && k->fd[i] != fd; i++)
		;
	ck_assert_uint_lt(i, k->nr);
	ck_assert_uint_eq(spec->addr, k->spec[i].addr);
	ck_assert_uint_eq(spec->datamatch, k->spec[i].datamatch);
	k->fd[i] = -1;
	ck_assert_uint_gt(k->ioeventfds_live, 0);
	k->ioeventfds_live--;
	close(fd);
}

/* A device with NQ queues that counts what the transport asks of it. */
struct dev {
	struct virtio_transport tr;
	unsigned int attached, resets;
};

static void dev_config_read(void *d, uint32_t off, void *buf, uint32_t len)
{
	(void)d;
	(void)off;
	memset(buf, 0, len);
}

static int dev_activate(void *d, uint64_t features)
{
	(void)d;
	(void)features;
	return 0;
}

static void dev_notify(void *d, unsigned int index)
{
	(void)d;
	(void)index;
}

static void dev_reset(void *d)
{
	((struct dev *)d)->resets++;
}

static const struct virtio_device_ops dev_ops = {
	.config_read = dev_config_read,
	.activate = dev_activate,
	.notify = dev_notify,
	.reset = dev_reset,
};

static void dev_attach(void *d, const struct virtio_transport *tr)
{
	struct dev *v = d;

	v->tr = *tr;
	v->attached++;
}

static struct fx {
	uint8_t ram[4096];
	struct gmem mem;
	struct bus *bus;
	struct evloop *loop;
	struct fake_kvm kvm;
	struct vslot_env env;
	struct dev dev;
	struct vslot_device d;
	struct vslot slot;
} fx;

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	ck_assert_int_eq(gmem_add_region(&fx.mem, 0, fx.ram, sizeof(fx.ram)), 0);
	ck_assert_int_eq(bus_create(&fx.bus, "mmio", 0), 0);
	ck_assert_int_eq(evloop_create(&fx.loop), 0);
	fx.env = (struct vslot_env){
		.mem = &fx.mem,
		.mmio = fx.bus,
		.loop = fx.loop,
		.irqfd_assign = fake_irqfd_assign,
		.irqfd_release = fake_irqfd_release,
		.ioeventfd_assign = fake_ioeventfd_assign,
		.ioeventfd_release = fake_ioeventfd_release,
		.ctx = &fx.kvm,
	};
	fx.d = (struct vslot_device){
		.dev = &fx.dev,
		.info = { .device_id = 4, .nr_queues = NQ, .queue_max = 16, .name = "test slot" },
		.ops = &dev_ops,
		.attach = dev_attach,
	};
}

static void teardown(void)
{
	evloop_destroy(fx.loop);
	bus_destroy(fx.bus);
}

static uint32_t reg(uint64_t off)
{
	uint32_t v;

	bus_read(fx.bus, BASE + off, &v, 4);
	return v;
}

/* Nothing of a slot is left: no window, no fds held, the window free again. */
static void nothing_left(void)
{
	ck_assert_uint_eq(bus_device_count(fx.bus), 0);
	ck_assert_uint_eq(reg(VIRTIO_MMIO_MAGIC_VALUE), 0xffffffff);
	ck_assert_uint_eq(fx.kvm.irqfds_live, 0);
	ck_assert_uint_eq(fx.kvm.ioeventfds_live, 0);
	ck_assert_ptr_null(fx.slot.mmio);
	ck_assert_int_eq(fx.slot.irqfd, -1);
	ck_assert_uint_eq(fx.slot.nr_kicks, 0);
}

START_TEST(attach_wires_window_interrupt_and_kicks)
{
	uint64_t v = 1;

	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	ck_assert_uint_eq(fx.dev.attached, 1);
	/* The window answers as a virtio-mmio device of the device's ID. */
	ck_assert_uint_eq(reg(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(reg(VIRTIO_MMIO_DEVICE_ID), 4);
	ck_assert_uint_eq(fx.kvm.irqfd_gsi, GSI);
	/* One kick per queue, each a 4-byte QueueNotify write of its index. */
	ck_assert_uint_eq(fx.kvm.nr, NQ);
	for (unsigned int q = 0; q < NQ; q++) {
		ck_assert_uint_eq(fx.kvm.spec[q].addr, BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		ck_assert_uint_eq(fx.kvm.spec[q].len, 4);
		ck_assert(fx.kvm.spec[q].match);
		ck_assert_uint_eq(fx.kvm.spec[q].datamatch, q);
	}
	/* A kick reaches the loop, which takes it off its eventfd. */
	ck_assert_int_eq(write(fx.kvm.fd[1], &v, sizeof(v)), sizeof(v));
	ck_assert_int_ge(evloop_run_once(fx.loop, 1000), 1);
	ck_assert_int_eq(read(fx.kvm.fd[1], &v, sizeof(v)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* The transport's interrupt is an irqfd write. */
	fx.dev.tr.ops->signal_used(fx.dev.tr.t);
	ck_assert_int_eq(read(fx.kvm.irqfd, &v, sizeof(v)), sizeof(v));
	ck_assert_uint_eq(v, 1);
	vslot_detach(&fx.slot);
	nothing_left();
}
END_TEST

/* Queues whose kicks a device passes on (vhost): made, handed out, never read. */
START_TEST(passed_kicks_are_left_alone)
{
	uint64_t v = 1;

	fx.d.passed_kicks = 1U << 1;
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	ck_assert_uint_eq(fx.kvm.nr, NQ);
	ck_assert_int_eq(vslot_kick_fd(&fx.slot, 1), fx.kvm.fd[1]);
	ck_assert_int_eq(vslot_kick_fd(&fx.slot, NQ), -1);
	ck_assert_int_eq(write(fx.kvm.fd[1], &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(evloop_run_once(fx.loop, 100), 0);
	/* The kick is still there for its reader. */
	ck_assert_int_eq(read(fx.kvm.fd[1], &v, sizeof(v)), sizeof(v));
	/* The others go to the loop as ever. */
	ck_assert_int_eq(write(fx.kvm.fd[0], &v, sizeof(v)), sizeof(v));
	ck_assert_int_ge(evloop_run_once(fx.loop, 1000), 1);
	vslot_detach(&fx.slot);
	nothing_left();
}
END_TEST

static unsigned int watched;

static void count_watch(void *opaque, uint32_t events)
{
	uint64_t v;

	(void)events;
	ck_assert_int_eq(read(*(int *)opaque, &v, sizeof(v)), sizeof(v));
	watched++;
}

START_TEST(watches_go_with_the_slot)
{
	int fd[VSLOT_MAX_WATCHES + 1];
	uint64_t one = 1;

	watched = 0;
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	for (unsigned int i = 0; i <= VSLOT_MAX_WATCHES; i++) {
		fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ck_assert_int_ge(fd[i], 0);
	}
	for (unsigned int i = 0; i < VSLOT_MAX_WATCHES; i++)
		ck_assert_int_eq(vslot_watch(&fx.slot, fd[i], EPOLLIN, count_watch, &fd[i]), 0);
	ck_assert_int_eq(vslot_watch(&fx.slot, fd[VSLOT_MAX_WATCHES], EPOLLIN, count_watch,
				     &fd[VSLOT_MAX_WATCHES]),
			 -ENOSPC);
	ck_assert_int_eq(write(fd[2], &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(evloop_run_once(fx.loop, 1000), 1);
	ck_assert_uint_eq(watched, 1);
	vslot_detach(&fx.slot);
	nothing_left();
	/* The loop no longer watches them: a signal stays unread. */
	ck_assert_int_eq(write(fd[2], &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(evloop_run_once(fx.loop, 0), 0);
	ck_assert_uint_eq(watched, 1);
	for (unsigned int i = 0; i <= VSLOT_MAX_WATCHES; i++)
		close(fd[i]);
}
END_TEST

/* Step _i of attaching fails; the slot undoes the steps before and can be attached after. */
START_TEST(a_failure_at_any_step_leaves_nothing)
{
	struct bus_ops other = { 0 };
	int want;

	switch (_i) {
	case 0: /* the transport: a queue size that is no power of two */
		fx.d.info.queue_max = 12;
		want = -EINVAL;
		break;
	case 1: /* the window: somebody's already */
		ck_assert_int_eq(bus_register(fx.bus, BASE + 0x100, 4, &other, &other, "other"), 0);
		want = -EBUSY;
		break;
	case 2: /* the irqfd */
		fx.kvm.fail_irqfd = 1;
		want = -EIO;
		break;
	case 3:
	case 4:
	case 5: /* queue 0, 1 or 2's ioeventfd */
		fx.kvm.fail_ioeventfd = (unsigned int)_i - 2;
		want = -ENOSPC;
		break;
	default: /* queue 0, 1 or 2's place in the event loop */
		fx.kvm.unpollable_from = (unsigned int)_i - 5;
		want = -EPERM;
		break;
	}
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), want);
	if (_i == 1) {
		ck_assert_int_eq(bus_unregister(fx.bus, BASE + 0x100, &other), 0);
		ck_assert_uint_eq(fx.kvm.irqfd_calls, 0);
	}
	nothing_left();
	/* Undone: the same slot attaches at the same place now. */
	fx.d.info.queue_max = 16;
	fx.kvm = (struct fake_kvm){ 0 };
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	ck_assert_uint_eq(fx.kvm.nr, NQ);
	vslot_detach(&fx.slot);
	nothing_left();
}
END_TEST

START_TEST(too_many_queues_are_refused_first)
{
	fx.d.info.nr_queues = VSLOT_MAX_QUEUES + 1;
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), -EINVAL);
	ck_assert_uint_eq(fx.dev.attached, 0);
	nothing_left();
}
END_TEST

START_TEST(detaching_twice_or_never_attached_is_harmless)
{
	struct vslot zero = { 0 };

	vslot_detach(&zero);
	vslot_detach(&zero);
	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	vslot_detach(&fx.slot);
	vslot_detach(&fx.slot);
	nothing_left();
}
END_TEST

START_TEST(the_guest_learns_of_a_slot)
{
	struct acpi_virtio a;
	char buf[96];
	size_t n;

	ck_assert_int_eq(vslot_attach(&fx.slot, &fx.env, &fx.d, BASE, GSI), 0);
	a = vslot_acpi(&fx.slot);
	ck_assert_uint_eq(a.base, BASE);
	ck_assert_uint_eq(a.size, VIRTIO_MMIO_WINDOW);
	ck_assert_uint_eq(a.gsi, GSI);
	vslot_detach(&fx.slot);
	/* Without ACPI: words on the kernel's command line, a space between two. */
	n = vslot_cmdline_hint(buf, sizeof(buf), 0, BASE, GSI);
	ck_assert_str_eq(buf, "virtio_mmio.device=512@0xd0000000:5");
	ck_assert_uint_eq(n, strlen(buf));
	n = vslot_cmdline_hint(buf, sizeof(buf), n, BASE + 0x1000, 6);
	ck_assert_str_eq(buf,
			 "virtio_mmio.device=512@0xd0000000:5 virtio_mmio.device=512@0xd0001000:6");
	ck_assert_uint_eq(n, strlen(buf));
	/* What does not fit says so, and stays so. */
	n = vslot_cmdline_hint(buf, sizeof(buf), n, BASE + 0x2000, 7);
	ck_assert_uint_eq(n, sizeof(buf));
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_uint_eq(vslot_cmdline_hint(buf, sizeof(buf), n, BASE, GSI), sizeof(buf));
}
END_TEST

static Suite *vslot_suite(void)
{
	Suite *s = suite_create("vslot");
	TCase *tc = tcase_create("vslot");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, attach_wires_window_interrupt_and_kicks);
	tcase_add_test(tc, passed_kicks_are_left_alone);
	tcase_add_test(tc, watches_go_with_the_slot);
	tcase_add_loop_test(tc, a_failure_at_any_step_leaves_nothing, 0, 6 + NQ);
	tcase_add_test(tc, too_many_queues_are_refused_first);
	tcase_add_test(tc, detaching_twice_or_never_attached_is_harmless);
	tcase_add_test(tc, the_guest_learns_of_a_slot);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(vslot_suite());
}
