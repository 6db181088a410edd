// SPDX-License-Identifier: MIT
/*
 * calllat [-n CALLS]
 *
 * What one interrupt of a vhost device costs ember. The kernel's vhost
 * worker signals a queue's call eventfd; ember's event loop reads it, sets
 * the used-buffer bit in InterruptStatus and writes the slot's irqfd, from
 * which KVM injects the guest's interrupt (docs/architecture.md, "vhost").
 * A guest on virtio-mmio needs the bit set before its handler runs, so the
 * kernel's eventfd cannot be the irqfd itself; this is the price.
 *
 * Host side, no KVM: the real event loop on its own thread, the real slot,
 * virtio-mmio transport and vhost-vsock device (its vhost calls answered by
 * a stand-in for the kernel), started by a driver played on the bus. The
 * main thread stands for the vhost worker and for KVM: it writes the call
 * eventfd, waits for the irqfd, and acknowledges the interrupt on the bus
 * as the guest's driver would (outside the timed part), CALLS times, one at
 * a time. Then the same for a bare relay, a loop handler that reads one
 * eventfd and writes another: the least any path through a userspace loop
 * costs. Figures: each path's round trip (median, 90th and 99th
 * percentile) and the loop thread's CPU time per call (the process's CPU
 * time less the main thread's).
 *
 * Check's fixtures are not used here: their assertions work only inside a test.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "app/vslot.h"
#include "core/bus.h"
#include "core/evloop.h"
#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "virtio/vhost.h"
#include "virtio/vsock.h"

#define MMIO_BASE 0xd0000000ULL
#define GSI 5
#define RAM_BASE 0x100000ULL
#define SLICE (1ULL << 20)
#define NQ 3
#define MAX_CALLS 1000000U
#define F(bit) (1ULL << (bit))

static void die(const char *what, int err)
{
	fprintf(stderr, "calllat: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The kernel's part: every call succeeds; it offers what vhost-vsock offers. */
static int kernel_ioctl(int fd, unsigned long req, void *arg)
{
	(void)fd;
	if (req == VHOST_GET_FEATURES)
		*(uint64_t *)arg = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
				   F(VIRTIO_RING_F_INDIRECT_DESC);
	else if (req == VHOST_GET_VRING_BASE)
		((struct vhost_vring_state *)arg)->num = 0;
	return 0;
}

/* KVM's part: an irqfd and the ioeventfds are plain eventfds here. */
static int new_eventfd(int *fd)
{
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? -errno : 0;
}

static int fake_irqfd_assign(void *ctx, unsigned int gsi, int *fd)
{
	(void)ctx;
	(void)gsi;
	return new_eventfd(fd);
}

static void fake_irqfd_release(void *ctx, unsigned int gsi, int fd)
{
	(void)ctx;
	(void)gsi;
	close(fd);
}

static int fake_ioeventfd_assign(void *ctx, const struct ioeventfd_spec *spec, int *fd)
{
	(void)ctx;
	(void)spec;
	return new_eventfd(fd);
}

static void fake_ioeventfd_release(void *ctx, const struct ioeventfd_spec *spec, int fd)
{
	(void)ctx;
	(void)spec;
	close(fd);
}

/* As app/machine.c's handler of a call: read the eventfd, raise the interrupt. */
struct call {
	int fd;
	struct vhost_dev *vd;
};

static void call_fired(void *opaque, uint32_t events)
{
	struct call *c = opaque;
	uint64_t n;

	(void)events;
	if (read(c->fd, &n, sizeof(n)) == sizeof(n))
		vhost_dev_called(c->vd);
}

/* The bare relay: read one eventfd, write the other. */
struct relay {
	int in, out;
};

static void relay_fired(void *opaque, uint32_t events)
{
	struct relay *r = opaque;
	uint64_t n;

	(void)events;
	if (read(r->in, &n, sizeof(n)) == sizeof(n)) {
		n = 1;
		if (write(r->out, &n, sizeof(n)) < 0)
			die("the relay's write", errno);
	}
}

static void attach(void *dev, const struct virtio_transport *tr)
{
	vsock_attach(dev, tr);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Waits until `fd` (an eventfd) is readable, and reads it. */
static void wait_read(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n;

	for (;;) {
		int r = poll(&p, 1, 5000);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll", errno);
		if (r == 0)
			die("waiting for the interrupt", ETIMEDOUT);
		if (read(fd, &n, sizeof(n)) == sizeof(n))
			return;
		if (errno != EAGAIN)
			die("reading the interrupt", errno);
	}
}

/*
 * `n` round trips: write `in`, wait for `out`, then `ack` (NULL: none)
 * untimed. Prints the figures under `name`.
 */
static void run(const char *name, unsigned int n, int in, int out, void (*ack)(void *), void *arg)
{
	uint64_t *t = calloc(n, sizeof(*t)), one = 1;
	uint64_t cpu0, main0, cpu, mine, sum = 0;

	if (!t)
		die("allocating the samples", ENOMEM);
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	main0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

		if (write(in, &one, sizeof(one)) != sizeof(one))
			die("writing the call", errno);
		wait_read(out);
		t[i] = clock_ns(CLOCK_MONOTONIC) - t0;
		sum += t[i];
		if (ack)
			ack(arg);
	}
	mine = clock_ns(CLOCK_THREAD_CPUTIME_ID) - main0;
	cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	qsort(t, n, sizeof(*t), cmp_u64);
	printf("calllat %-6s %u calls: round trip median %.2f us, p90 %.2f, p99 %.2f, mean %.2f; "
	       "loop thread CPU %.2f us a call\n",
	       name, n, t[n / 2] / 1e3, t[(uint64_t)n * 9 / 10] / 1e3,
	       t[(uint64_t)n * 99 / 100] / 1e3, (double)sum / n / 1e3,
	       cpu > mine ? (double)(cpu - mine) / n / 1e3 : 0.0);
	free(t);
}

/* The driver's register accesses, on the bus as a vCPU's exits make them. */
static struct bus *mmio;

static uint32_t reg(uint64_t off)
{
	uint32_t v;

	bus_read(mmio, MMIO_BASE + off, &v, 4);
	return v;
}

static void set_reg(uint64_t off, uint32_t v)
{
	bus_write(mmio, MMIO_BASE + off, &v, 4);
}

/* The guest's handler: InterruptStatus read, the bits acknowledged. */
static void guest_ack(void *arg)
{
	(void)arg;
	set_reg(VIRTIO_MMIO_INTERRUPT_ACK, reg(VIRTIO_MMIO_INTERRUPT_STATUS));
}

/* Linux's virtio-mmio driver starting the device: features, then each queue on rb[q]. */
static void driver_start(uint64_t features, const struct rb *rb)
{
	set_reg(VIRTIO_MMIO_STATUS, 0);
	set_reg(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		set_reg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		set_reg(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * sel)));
	}
	set_reg(VIRTIO_MMIO_STATUS, reg(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned int q = 0; q < NQ; q++) {
		set_reg(VIRTIO_MMIO_QUEUE_SEL, q);
		set_reg(VIRTIO_MMIO_QUEUE_NUM, rb[q].size);
		set_reg(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)rb[q].desc);
		set_reg(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(rb[q].desc >> 32));
		set_reg(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)rb[q].avail);
		set_reg(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(rb[q].avail >> 32));
		set_reg(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)rb[q].used);
		set_reg(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(rb[q].used >> 32));
		set_reg(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	set_reg(VIRTIO_MMIO_STATUS, reg(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

int main(int argc, char **argv)
{
	unsigned int n = 20000;
	uint8_t *ram;
	struct gmem mem = { 0 };
	struct bus *bus;
	struct evloop *loop;
	struct vslot_env env;
	struct vslot_device d = { .attach = attach, .passed_kicks = 3 };
	struct vslot slot;
	struct vhost *v;
	struct vsock *vs;
	struct rb rb[NQ];
	struct call calls[2];
	int errs[2];
	struct relay relay;
	int opt, ret;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		char *end;
		unsigned long x;

		if (opt != 'n')
			goto usage;
		errno = 0;
		x = strtoul(optarg, &end, 10);
		if (errno || *end || x == 0 || x > MAX_CALLS)
			goto usage;
		n = (unsigned int)x;
	}
	if (optind != argc)
		goto usage;

	ram = aligned_alloc(GMEM_PAGE_SIZE, NQ * SLICE);
	if (!ram)
		die("guest RAM", ENOMEM);
	if (gmem_add_region(&mem, RAM_BASE, ram, NQ * SLICE) < 0 ||
	    bus_create(&bus, "mmio", 0) < 0 || evloop_create(&loop) < 0)
		die("setting up", ENOMEM);
	env = (struct vslot_env){
		.mem = &mem,
		.mmio = bus,
		.loop = loop,
		.irqfd_assign = fake_irqfd_assign,
		.irqfd_release = fake_irqfd_release,
		.ioeventfd_assign = fake_ioeventfd_assign,
		.ioeventfd_release = fake_ioeventfd_release,
	};
	/* Any descriptor vhost_create may close will do: the stand-in ignores it. */
	ret = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (ret >= 0)
		ret = vhost_create(&v, ret, "calllat", kernel_ioctl);
	else
		ret = -errno;
	if (ret == 0)
		ret = vsock_create(&vs, v, 42, &mem, "vhost-vsock");
	if (ret < 0)
		die("the device", -ret);
	d.dev = vs;
	vsock_device(vs, &d.info, &d.ops);
	ret = vslot_attach(&slot, &env, &d, MMIO_BASE, GSI);
	if (ret < 0)
		die("the slot", -ret);
	for (unsigned int q = 0; q < 2; q++) {
		calls[q].vd = vsock_vhost(vs);
		calls[q].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		errs[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (calls[q].fd < 0 || errs[q] < 0)
			die("eventfd", errno);
		vhost_dev_set_fds(calls[q].vd, q,
				  &(struct vhost_queue_fds){ .kick = vslot_kick_fd(&slot, q),
							     .call = calls[q].fd,
							     .err = errs[q] });
		ret = vslot_watch(&slot, calls[q].fd, EPOLLIN, call_fired, &calls[q]);
		if (ret < 0)
			die("watching the call", -ret);
	}
	/* The driver's start; the queues' rings each in a slice of RAM. */
	mmio = bus;
	for (unsigned int q = 0; q < NQ; q++)
		if (rb_init_in(&rb[q], ram + q * SLICE, RAM_BASE + q * SLICE, SLICE,
			       VSOCK_QUEUE_SIZE) < 0)
			die("the rings", EINVAL);
	driver_start(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX), rb);
	if (reg(VIRTIO_MMIO_STATUS) != (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK))
		die("the device did not start", EIO);

	relay.in = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	relay.out = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (relay.in < 0 || relay.out < 0)
		die("eventfd", errno);
	ret = evloop_add(loop, relay.in, EPOLLIN, relay_fired, &relay);
	if (ret == 0)
		ret = evloop_start(loop);
	if (ret < 0)
		die("the loop", -ret);

	/* A warm-up of each, then the timed runs. */
	run("warmup", n / 10 + 1, calls[0].fd, slot.irqfd, guest_ack, NULL);
	run("vhost", n, calls[0].fd, slot.irqfd, guest_ack, NULL);
	run("relay", n, relay.in, relay.out, NULL, NULL);

	evloop_stop(loop);
	evloop_del(loop, relay.in);
	close(relay.in);
	close(relay.out);
	vslot_detach(&slot);
	vsock_destroy(vs);
	for (unsigned int q = 0; q < 2; q++) {
		close(calls[q].fd);
		close(errs[q]);
	}
	evloop_destroy(loop);
	bus_destroy(bus);
	free(ram);
	return 0;
usage:
	fprintf(stderr, "usage: calllat [-n CALLS] (1 to %u; 20000 if not given)\n", MAX_CALLS);
	return 2;
}
