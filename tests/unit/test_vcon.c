// SPDX-License-Identifier: MIT
/*
 * virtio-console through its virtio-mmio window, as a driver sees it: the
 * registers on a real MMIO bus, every queue a slice of one guest RAM region
 * laid out by the ring builder, kicks only when the device asks for them,
 * and fake host ends that take the guest's bytes all at once, a few at a
 * time or not at all.
 */
#include "config.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/console.h"
#include "virtio/mmio.h"

#define MMIO_BASE 0xd0000000ULL
#define RAM_BASE 0x100000ULL
#define SLICE (1ULL << 20) /* each queue's share of guest RAM */
#define QSIZE 128

#define F(bit) (1ULL << (bit))
#define F_MULTI F(VIRTIO_CONSOLE_F_MULTIPORT)
#define F_EMERG F(VIRTIO_CONSOLE_F_EMERG_WRITE)
#define F_EIDX F(VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT F(VIRTIO_RING_F_INDIRECT_DESC)
#define F_ALL (F_MULTI | F_EMERG | F_EIDX | F_INDIRECT)

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR VIRTIO_CONFIG_S_NEEDS_RESET

#define CTRL_RX 2
#define CTRL_TX 3
#define BAD_ID VIRTIO_CONSOLE_BAD_ID

#define TAKE_ALL ((size_t)-1)

/* --- fixture ----------------------------------------------------------------------- */

struct fx;

/* A port's host end: what it took, and what it was told. */
struct hport {
	struct fx *f;
	unsigned int idx;
	size_t take;	   /* the most output() takes per call; TAKE_ALL */
	bool random;	   /* takes 0 .. min(take, len) at random instead */
	bool stalled;	   /* output() took less than offered */
	bool reenter;	   /* output() calls vcon_port_writable() once, as a careless host might */
	uint8_t out[8192]; /* the first bytes taken */
	size_t out_len;	   /* every byte taken */
	uint64_t stream;   /* when set, the taken bytes must be stream_byte(k), k counting */
	bool check_stream;
	unsigned int outputs, readies, opens, closes;
	bool open;
};

struct chain_rec {
	unsigned int n;
	uint64_t gpa[8];
	uint32_t len[8];
};

struct fx {
	struct bus *bus;
	struct gmem mem;
	uint8_t *ram;
	struct virtio_mmio *t;
	struct vcon *d;
	struct vdrv drv;
	unsigned int nports, nq;
	bool event_idx;
	unsigned int irqs;
	struct rb rb[VIRTIO_MAX_QUEUES];
	struct chain_rec rec[VIRTIO_MAX_QUEUES][QSIZE];
	struct vcon_port_config pc[VCON_MAX_PORTS];
	struct hport hp[VCON_MAX_PORTS];
	uint32_t rng;
};

static uint8_t stream_byte(uint64_t k)
{
	return (uint8_t)(k * 7 + k / 251 + 3);
}

static uint32_t rnd(struct fx *f)
{
	/* xorshift32: the same sequence on every run. */
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 17;
	f->rng ^= f->rng << 5;
	return f->rng;
}

static size_t host_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct hport *h = opaque;
	size_t n = len < h->take ? len : h->take;

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, VCON_BOUNCE);
	h->outputs++;
	if (h->reenter) {
		h->reenter = false;
		vcon_port_writable(h->f->d, h->idx);
		ck_assert_uint_eq(h->outputs, 1);
	}
	if (h->random)
		n = rnd(h->f) % (n + 1);
	for (size_t i = 0; i < n; i++) {
		if (h->check_stream)
			ck_assert_msg(buf[i] == stream_byte(h->stream + i),
				      "port %u: byte %llu is %#x, not %#x", h->idx,
				      (unsigned long long)(h->stream + i), buf[i],
				      stream_byte(h->stream + i));
		if (h->out_len + i < sizeof(h->out))
			h->out[h->out_len + i] = buf[i];
	}
	h->stream += n;
	h->out_len += n;
	if (n < len)
		h->stalled = true;
	return n;
}

static void host_input_ready(void *opaque)
{
	((struct hport *)opaque)->readies++;
}

static void host_guest_open(void *opaque, bool open)
{
	struct hport *h = opaque;

	ck_assert(open != h->open);
	h->open = open;
	if (open)
		h->opens++;
	else
		h->closes++;
}

static const struct vcon_port_ops host_ops = {
	.output = host_output,
	.input_ready = host_input_ready,
	.guest_open = host_guest_open,
};

static void count_irq(void *opaque)
{
	((struct fx *)opaque)->irqs++;
}

static unsigned int rxq(unsigned int port)
{
	return port ? 2 + 2 * port : 0;
}

static unsigned int txq(unsigned int port)
{
	return rxq(port) + 1;
}

/*
 * Ports 0..n-1: port 0 a console, the others named "port1".., as names[] says
 * when given; the ports in `absent` (a bit each) have no host end at all.
 */
/* The device and its transport on a bus of their own, as f->pc describes the ports. */
static void fx_device(struct fx *f)
{
	struct virtio_mmio_host host = { .interrupt = count_irq };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;
	struct vcon_config cfg = {
		.nr_ports = f->nports, .cols = 80, .rows = 25, .name = "test-vcon"
	};

	cfg.ports = f->pc;
	ck_assert_int_eq(vcon_create(&f->d, &cfg), 0);
	vcon_device(f->d, &info, &ops);
	host.mem = &f->mem;
	host.irq_opaque = f;
	ck_assert_int_eq(bus_create(&f->bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&f->t, &info, ops, f->d, &host), 0);
	virtio_mmio_transport(f->t, &tr);
	vcon_attach(f->d, &tr);
	ck_assert_int_eq(virtio_mmio_register(f->t, f->bus, MMIO_BASE), 0);
	vdrv_init(&f->drv, f->bus, MMIO_BASE, VCON_QUEUE_SIZE);
}

static struct fx *fx_new_ports(unsigned int nports, const char *const *names, uint32_t absent)
{
	struct fx *f = calloc(1, sizeof(*f));
	static char defnames[VCON_MAX_PORTS][8];

	ck_assert_ptr_nonnull(f);
	f->nports = nports;
	f->nq = 2 + 2 * nports;
	f->rng = 0x12345678;
	f->ram = aligned_alloc(GMEM_PAGE_SIZE, f->nq * SLICE);
	ck_assert_ptr_nonnull(f->ram);
	ck_assert_int_eq(gmem_add_region(&f->mem, RAM_BASE, f->ram, f->nq * SLICE), 0);
	for (unsigned int i = 0; i < nports; i++) {
		f->hp[i] = (struct hport){ .f = f, .idx = i, .take = TAKE_ALL };
		snprintf(defnames[i], sizeof(defnames[i]), "port%u", i);
		f->pc[i] = (struct vcon_port_config){
			.name = names ? names[i]
				: i   ? defnames[i]
				      : NULL,
			.console = i == 0,
			.ops = absent & (1U << i) ? NULL : &host_ops,
			.opaque = &f->hp[i],
		};
	}
	fx_device(f);
	return f;
}

static struct fx *fx_new_named(unsigned int nports, const char *const *names)
{
	return fx_new_ports(nports, names, 0);
}

static struct fx *fx_new(unsigned int nports)
{
	return fx_new_named(nports, NULL);
}

static void fx_free(struct fx *f)
{
	virtio_mmio_destroy(f->t);
	vcon_destroy(f->d);
	bus_destroy(f->bus);
	free(f->ram);
	free(f);
}

/* --- the driver ---------------------------------------------------------------------- */

/* The usual start with `features` (VERSION_1 added) and the queues in `qmask` laid out afresh. */
static void drv_setup(struct fx *f, uint64_t features, uint32_t qmask)
{
	uint64_t offered;

	features |= F(VIRTIO_F_VERSION_1);
	vdrv_negotiate(&f->drv, features, &offered);
	ck_assert_uint_eq(offered & features, features);
	ck_assert_uint_eq(vdrv_status(&f->drv), S_ACK | S_DRV | S_FOK);
	f->event_idx = features & F_EIDX;
	for (unsigned int q = 0; q < f->nq; q++) {
		if (qmask & (1U << q))
			ck_assert_int_eq(rb_init_in(&f->rb[q], f->ram + q * SLICE,
						    RAM_BASE + q * SLICE, SLICE, QSIZE),
					 0);
	}
	vdrv_queues(&f->drv, f->rb, qmask);
}

/* The same, then DRIVER_OK. */
static void drv_start_queues(struct fx *f, uint64_t features, uint32_t qmask)
{
	drv_setup(f, features, qmask);
	vdrv_add_status(&f->drv, S_DOK);
}

static void drv_start(struct fx *f, uint64_t features)
{
	drv_start_queues(f, features, (1U << f->nq) - 1);
	ck_assert_uint_eq(vdrv_status(&f->drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* An honest driver kicks only when the device asked to be told (EVENT_IDX or NO_NOTIFY). */
static bool drv_kick(struct fx *f, unsigned int q, uint16_t old_idx)
{
	bool kick = vdrv_kick_wanted(&f->rb[q], f->event_idx, old_idx);

	if (kick)
		vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	return kick;
}

/* Adds a chain of n buffers (writable or readable, filled from data); records it. */
static uint16_t add_chain(struct fx *f, unsigned int q, const uint32_t *lens, unsigned int n,
			  bool write, const uint8_t *data)
{
	struct rb_seg segs[8];
	struct chain_rec *r;
	uint16_t head;
	size_t off = 0;

	ck_assert_uint_le(n, 8);
	for (unsigned int i = 0; i < n; i++)
		segs[i] = (struct rb_seg){ .len = lens[i], .write = write };
	head = rb_add_chain(&f->rb[q], segs, n);
	r = &f->rec[q][head];
	r->n = n;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = rb_host(&f->rb[q], segs[i].gpa);

		r->gpa[i] = segs[i].gpa;
		r->len[i] = lens[i];
		if (data)
			memcpy(p, data + off, lens[i]);
		else
			memset(p, 0xee, lens[i]);
		off += lens[i];
	}
	return head;
}

/* Publishes one chain and kicks if asked to; returns whether it kicked. */
static bool publish(struct fx *f, unsigned int q, uint16_t head)
{
	uint16_t old = f->rb[q].avail_idx;

	rb_publish(&f->rb[q], head);
	return drv_kick(f, q, old);
}

static void expect_used(struct fx *f, unsigned int q, uint16_t head, uint32_t len)
{
	uint32_t id, ulen;

	ck_assert_msg(rb_get_used(&f->rb[q], &id, &ulen), "queue %u: no used element for head %u",
		      q, head);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(ulen, len);
}

static void expect_no_used(struct fx *f, unsigned int q)
{
	uint32_t id, len;

	ck_assert_msg(!rb_get_used(&f->rb[q], &id, &len), "queue %u: head %u used unexpectedly", q,
		      id);
}

/* --- control messages ---------------------------------------------------------------- */

/* Posts n control receive buffers of len bytes. */
static void ctrl_post(struct fx *f, unsigned int n, uint32_t len)
{
	uint16_t old = f->rb[CTRL_RX].avail_idx;

	for (unsigned int i = 0; i < n; i++)
		rb_publish(&f->rb[CTRL_RX], add_chain(f, CTRL_RX, &len, 1, true, NULL));
	drv_kick(f, CTRL_RX, old);
}

static void ctrl_send_raw(struct fx *f, const void *msg, uint32_t len)
{
	uint16_t head = add_chain(f, CTRL_TX, &len, 1, false, msg);

	publish(f, CTRL_TX, head);
	/* Linux spins until the device gives the buffer back. */
	expect_used(f, CTRL_TX, head, 0);
}

static void ctrl_send(struct fx *f, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control m = {
		.id = htole32(id),
		.event = htole16(event),
		.value = htole16(value),
	};

	ctrl_send_raw(f, &m, sizeof(m));
}

/* The next control message from the device; false when there is none. */
static bool ctrl_next(struct fx *f, struct virtio_console_control *m, char *name, size_t *name_len)
{
	uint32_t head, len;
	const uint8_t *p;

	if (!rb_get_used(&f->rb[CTRL_RX], &head, &len))
		return false;
	ck_assert_uint_ge(len, sizeof(*m));
	ck_assert_uint_le(len, f->rec[CTRL_RX][head].len[0]);
	p = rb_host(&f->rb[CTRL_RX], f->rec[CTRL_RX][head].gpa[0]);
	memcpy(m, p, sizeof(*m));
	m->id = le32toh(m->id);
	m->event = le16toh(m->event);
	m->value = le16toh(m->value);
	*name_len = len - sizeof(*m);
	if (name)
		memcpy(name, p + sizeof(*m), *name_len);
	return true;
}

static void expect_ctrl(struct fx *f, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control m;
	size_t nl;

	ck_assert_msg(ctrl_next(f, &m, NULL, &nl), "no control message (%u, %u, %u)", id, event,
		      value);
	ck_assert_msg(m.id == id && m.event == event && m.value == value && nl == 0,
		      "control message (%u, %u, %u) +%zu, not (%u, %u, %u)", m.id, m.event, m.value,
		      nl, id, event, value);
}

static void expect_ctrl_name(struct fx *f, uint32_t id, const char *want)
{
	struct virtio_console_control m;
	char name[VCON_NAME_MAX + 8];
	size_t nl;

	ck_assert(ctrl_next(f, &m, name, &nl));
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.event, VIRTIO_CONSOLE_PORT_NAME);
	ck_assert_uint_eq(nl, strlen(want));
	ck_assert_mem_eq(name, want, nl);
}

static void expect_no_ctrl(struct fx *f)
{
	struct virtio_console_control m;
	size_t nl;

	ck_assert_msg(!ctrl_next(f, &m, NULL, &nl), "unexpected control message (%u, %u, %u)", m.id,
		      m.event, m.value);
}

/* PORT_READY for `port`, checking what the device answers. */
static void port_ready(struct fx *f, unsigned int port, bool connected)
{
	/* Exactly the buffers the answers take: none is left over. */
	ctrl_post(f, 1 + f->pc[port].console + (f->pc[port].name != NULL), 128);
	ctrl_send(f, port, VIRTIO_CONSOLE_PORT_READY, 1);
	if (f->pc[port].console)
		expect_ctrl(f, port, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	if (f->pc[port].name)
		expect_ctrl_name(f, port, f->pc[port].name);
	expect_ctrl(f, port, VIRTIO_CONSOLE_PORT_OPEN, connected);
	expect_no_ctrl(f);
}

/* What Linux does at probe and as it adds each port, and an application opening each. */
static void handshake(struct fx *f)
{
	ctrl_post(f, f->nports, 128);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (unsigned int i = 0; i < f->nports; i++)
		expect_ctrl(f, i, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_no_ctrl(f);
	for (unsigned int i = 0; i < f->nports; i++) {
		port_ready(f, i, f->pc[i].console);
		ctrl_send(f, i, VIRTIO_CONSOLE_PORT_OPEN, 1);
		ck_assert(f->hp[i].open);
	}
}

/* --- data -------------------------------------------------------------------------- */

/* Sends len bytes of text on port as one chain; returns the head. */
static uint16_t tx_send(struct fx *f, unsigned int port, const void *data, uint32_t len)
{
	uint16_t head = add_chain(f, txq(port), &len, 1, false, data);

	publish(f, txq(port), head);
	return head;
}

static uint16_t rx_post(struct fx *f, unsigned int port, const uint32_t *lens, unsigned int n)
{
	uint16_t head = add_chain(f, rxq(port), lens, n, true, NULL);

	publish(f, rxq(port), head);
	return head;
}

/* The bytes the device wrote into receive chain `head`: len of them, laid end to end. */
static void expect_rx(struct fx *f, unsigned int port, uint16_t head, const void *want,
		      uint32_t len)
{
	const struct chain_rec *r = &f->rec[rxq(port)][head];
	uint32_t off = 0;

	expect_used(f, rxq(port), head, len);
	for (unsigned int i = 0; i < r->n; i++) {
		const uint8_t *p = rb_host(&f->rb[rxq(port)], r->gpa[i]);
		uint32_t k = len - off < r->len[i] ? len - off : r->len[i];

		ck_assert_mem_eq(p, (const uint8_t *)want + off, k);
		/* Past what was written: untouched. */
		for (uint32_t j = k; j < r->len[i]; j++)
			ck_assert_uint_eq(p[j], 0xee);
		off += k;
	}
	ck_assert_uint_eq(off, len);
}

static bool resume_pending(struct fx *f)
{
	struct pollfd p = { .fd = vcon_resume_fd(f->d), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* --- tests --------------------------------------------------------------------------- */

START_TEST(identity_and_config)
{
	struct fx *f = fx_new(3);
	uint64_t feat = vdrv_device_features(&f->drv);

	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_DEVICE_ID), 3);
	ck_assert(feat & F_MULTI);
	ck_assert(feat & F_EMERG);
	ck_assert(!(feat & F(VIRTIO_CONSOLE_F_SIZE)));
	/* cols, rows, max_nr_ports, emerg_wr */
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_CONFIG), 80 | 25 << 16);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_CONFIG + 4), 3);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_CONFIG + 8), 0);
	/* Queues 0..7: ports 0..2 and control; none after. */
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_SEL, 7);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_QUEUE_NUM_MAX), VCON_QUEUE_SIZE);
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_SEL, 8);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* Only emerg_wr is writable. */
	vdrv_wr32(&f->drv, VIRTIO_MMIO_CONFIG + 4, 9);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_CONFIG + 4), 3);
	fx_free(f);
}
END_TEST

START_TEST(handshake_announces_ports)
{
	static const char *const names[] = { NULL, "org.test.one", "two" };
	struct fx *f = fx_new_named(3, names);
	struct virtio_console_control m;
	char name[VCON_NAME_MAX];
	size_t nl;

	drv_start(f, F_ALL);
	/* Nothing is said before the driver is ready, buffers or not. */
	ctrl_post(f, 16, 128);
	expect_no_ctrl(f);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (unsigned int i = 0; i < 3; i++)
		expect_ctrl(f, i, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_no_ctrl(f);
	ck_assert_uint_gt(f->irqs, 0);

	/* The console: CONSOLE_PORT, then PORT_OPEN 1. */
	ctrl_send(f, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_no_ctrl(f);
	/* A named port: its name right after the message, no NUL; its host not connected. */
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert(ctrl_next(f, &m, name, &nl));
	ck_assert_uint_eq(m.id, 1);
	ck_assert_uint_eq(m.event, VIRTIO_CONSOLE_PORT_NAME);
	ck_assert_uint_eq(nl, strlen("org.test.one"));
	ck_assert_mem_eq(name, "org.test.one", nl);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_no_ctrl(f);

	/* The host connects: the guest hears it at once. */
	ck_assert_int_eq(vcon_port_set_connected(f->d, 1, true), 0);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	/* Port 2 connected before its PORT_READY: said with it. */
	ck_assert_int_eq(vcon_port_set_connected(f->d, 2, true), 0);
	expect_no_ctrl(f);
	ctrl_send(f, 2, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_ctrl_name(f, 2, "two");
	expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_no_ctrl(f);

	/* The guest opens and closes ports: the host hears of each change. */
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert(f->hp[1].open);
	ck_assert_uint_eq(f->hp[1].opens, 1);
	ck_assert_uint_eq(f->hp[1].readies, 1); /* input may flow now */
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_uint_eq(f->hp[1].opens, 1);
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	ck_assert(!f->hp[1].open);
	ck_assert_uint_eq(f->hp[1].closes, 1);
	ck_assert_uint_eq(f->hp[0].opens + f->hp[2].opens, 0);

	/* A DEVICE_READY again (a driver reloading its state) announces the ports again. */
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (unsigned int i = 0; i < 3; i++)
		expect_ctrl(f, i, VIRTIO_CONSOLE_PORT_ADD, 1);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/* A port number with no host end is never announced; the others work as ever. */
START_TEST(absent_ports_are_not_announced)
{
	struct fx *f = fx_new_ports(3, NULL, 1U << 0 | 1U << 2);

	drv_start(f, F_ALL);
	ctrl_post(f, 8, 128);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_no_ctrl(f);
	/* The guest names a port it was not told of: ignored. */
	ctrl_send(f, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	ctrl_send(f, 2, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_no_ctrl(f);
	ck_assert(!f->hp[2].open);
	ck_assert_uint_eq(vcon_port_input(f->d, 0, "x", 1), 0);
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_ctrl_name(f, 1, "port1");
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_no_ctrl(f);
	/* An emergency write has no port 0 to go to: dropped. */
	vdrv_wr32(&f->drv, VIRTIO_MMIO_CONFIG + 8, 'E');
	ck_assert_uint_eq(f->hp[0].out_len, 0);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

START_TEST(console_output_and_input)
{
	struct fx *f = fx_new(1);
	static const uint32_t len = 64;
	uint16_t h;

	drv_start(f, F_ALL);
	handshake(f);
	h = tx_send(f, 0, "hello, world\n", 13);
	expect_used(f, txq(0), h, 0);
	ck_assert_uint_eq(f->hp[0].out_len, 13);
	ck_assert_mem_eq(f->hp[0].out, "hello, world\n", 13);

	h = rx_post(f, 0, &len, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 0, "ls\n", 3), 3);
	expect_rx(f, 0, h, "ls\n", 3);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/*
 * About a megabyte through a named port whose host takes nothing at first,
 * then a little at a time, while the console keeps going: every byte arrives
 * once and in order, and every chain comes back once.
 */
START_TEST(output_backpressure_megabyte)
{
	enum { TOTAL = 1 << 20, MAX_INFLIGHT = 192 * 1024 };
	struct fx *f = fx_new(2);
	struct hport *h = &f->hp[1];
	uint16_t fifo[QSIZE];
	unsigned int fifo_n = 0, fifo_descs[QSIZE], descs = 0, console_checks = 0;
	size_t sent = 0, inflight = 0, chain_bytes[QSIZE];
	uint8_t chunk[8 * 3000];

	drv_start(f, F_ALL);
	handshake(f);
	h->take = 0; /* nothing at first */
	h->check_stream = true;
	for (unsigned int iter = 0; iter < 200000 && (h->out_len < TOTAL || fifo_n); iter++) {
		uint16_t old = f->rb[txq(1)].avail_idx;
		uint32_t id, ulen;

		/* The guest: a few chains of 1 to 8 buffers, as room allows. */
		for (unsigned int k = rnd(f) % 4; k && sent < TOTAL; k--) {
			uint32_t lens[8];
			unsigned int n = 1 + rnd(f) % 8;
			size_t bytes = 0;

			if (descs + n > QSIZE || inflight > MAX_INFLIGHT)
				break;
			for (unsigned int i = 0; i < n; i++) {
				lens[i] = 1 + rnd(f) % 3000;
				if (lens[i] > TOTAL - sent - bytes)
					lens[i] = (uint32_t)(TOTAL - sent - bytes);
				if (!lens[i]) {
					n = i;
					break;
				}
				bytes += lens[i];
			}
			for (size_t i = 0; i < bytes; i++)
				chunk[i] = stream_byte(sent + i);
			fifo[fifo_n] = add_chain(f, txq(1), lens, n, false, chunk);
			fifo_descs[fifo_n] = n;
			chain_bytes[fifo_n] = bytes;
			rb_publish(&f->rb[txq(1)], fifo[fifo_n]);
			fifo_n++;
			descs += n;
			inflight += bytes;
			sent += bytes;
		}
		drv_kick(f, txq(1), old);

		/* Chains come back in order, each once, only when all of it was taken. */
		while (rb_get_used(&f->rb[txq(1)], &id, &ulen)) {
			ck_assert_uint_gt(fifo_n, 0);
			ck_assert_uint_eq(id, fifo[0]);
			ck_assert_uint_eq(ulen, 0);
			descs -= fifo_descs[0];
			inflight -= chain_bytes[0];
			ck_assert_uint_le(sent - inflight, h->out_len);
			fifo_n--;
			memmove(fifo, fifo + 1, fifo_n * sizeof(fifo[0]));
			memmove(fifo_descs, fifo_descs + 1, fifo_n * sizeof(fifo_descs[0]));
			memmove(chain_bytes, chain_bytes + 1, fifo_n * sizeof(chain_bytes[0]));
		}

		/* While port 1 waits, the console is not held up. */
		if (h->stalled && iter % 50 == 0) {
			size_t before = f->hp[0].out_len;
			uint16_t ch = tx_send(f, 0, "tick", 4);

			expect_used(f, txq(0), ch, 0);
			ck_assert_uint_eq(f->hp[0].out_len, before + 4);
			console_checks++;
		}

		/* The event loop: the host's descriptor is writable again, a resume is due. */
		if (resume_pending(f))
			vcon_resume(f->d);
		if (h->stalled) {
			h->stalled = false;
			if (h->take == 0) {
				h->take = 700;
				h->random = true;
			}
			vcon_port_writable(f->d, 1);
		}
	}
	ck_assert_uint_eq(h->out_len, TOTAL);
	ck_assert_uint_eq(sent, TOTAL);
	ck_assert_uint_eq(fifo_n, 0);
	ck_assert_uint_gt(console_checks, 10);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/* What the host did not take is offered again from the device's copy, not re-read. */
START_TEST(output_read_once)
{
	struct fx *f = fx_new(2);
	uint8_t a[6000], b[6000];
	uint16_t h;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	drv_start(f, F_ALL);
	handshake(f);
	f->hp[1].take = 0;
	h = tx_send(f, 1, a, 3000);
	ck_assert(f->hp[1].stalled);
	expect_no_used(f, txq(1));
	/* The guest scribbles over the buffer it handed over. */
	memcpy(rb_host(&f->rb[txq(1)], f->rec[txq(1)][h].gpa[0]), b, 3000);
	f->hp[1].take = TAKE_ALL;
	f->hp[1].stalled = false;
	vcon_port_writable(f->d, 1);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 3000);
	ck_assert_mem_eq(f->hp[1].out, a, 3000);

	/* Longer than a bounce buffer: the part not copied yet is read when its turn comes. */
	f->hp[1].take = 0;
	f->hp[1].out_len = 0;
	h = tx_send(f, 1, a, 6000);
	memcpy(rb_host(&f->rb[txq(1)], f->rec[txq(1)][h].gpa[0]), b, 6000);
	f->hp[1].take = TAKE_ALL;
	vcon_port_writable(f->d, 1);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 6000);
	ck_assert_mem_eq(f->hp[1].out, a, VCON_BOUNCE);
	ck_assert_mem_eq(f->hp[1].out + VCON_BOUNCE, b, 6000 - VCON_BOUNCE);
	fx_free(f);
}
END_TEST

/* A turn takes at most VCON_TX_CHAINS chains and VCON_TX_BYTES bytes; the resume event the rest. */
START_TEST(output_budget_and_resume)
{
	struct fx *f = fx_new(2);
	struct rb_seg segs[80];
	uint32_t len = 10;
	uint16_t heads[100], old, big;

	drv_start(f, F_ALL);
	handshake(f);
	ck_assert(!resume_pending(f));
	old = f->rb[txq(1)].avail_idx;
	for (unsigned int i = 0; i < 100; i++) {
		heads[i] = add_chain(f, txq(1), &len, 1, false, (const uint8_t *)"0123456789");
		rb_publish(&f->rb[txq(1)], heads[i]);
	}
	ck_assert(drv_kick(f, txq(1), old));
	for (unsigned int i = 0; i < VCON_TX_CHAINS; i++)
		expect_used(f, txq(1), heads[i], 0);
	expect_no_used(f, txq(1));
	ck_assert_uint_eq(f->hp[1].out_len, 10 * VCON_TX_CHAINS);
	ck_assert(resume_pending(f));
	vcon_resume(f->d);
	ck_assert(!resume_pending(f));
	for (unsigned int i = VCON_TX_CHAINS; i < 100; i++)
		expect_used(f, txq(1), heads[i], 0);
	ck_assert_uint_eq(f->hp[1].out_len, 1000);

	/* One chain of 320 KiB, through an indirect table. */
	for (unsigned int i = 0; i < 80; i++)
		segs[i] = (struct rb_seg){ .len = 4096 };
	big = rb_add_indirect(&f->rb[txq(1)], segs, 80);
	publish(f, txq(1), big);
	expect_no_used(f, txq(1));
	ck_assert_uint_eq(f->hp[1].out_len, 1000 + VCON_TX_BYTES);
	ck_assert(resume_pending(f));
	vcon_resume(f->d);
	expect_used(f, txq(1), big, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 1000 + 80 * 4096);
	ck_assert(!resume_pending(f));
	/* Kicks are on again. */
	ck_assert(publish(f, txq(1),
			  add_chain(f, txq(1), &len, 1, false, (const uint8_t *)"abcdefghij")));
	ck_assert_uint_eq(f->hp[1].out_len, 1010 + 80 * 4096);
	fx_free(f);
}
END_TEST

START_TEST(input_fills_partial_buffers)
{
	struct fx *f = fx_new(2);
	static const uint32_t l10 = 10, l57[] = { 5, 7 }, l100 = 100, l16 = 16;
	uint8_t data[300];
	uint16_t h1, h2, h3, h4;
	unsigned int readies;

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	/* Not running yet; then running but the port not ready nor open. */
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data, 10), 0);
	drv_start(f, F_ALL);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data, 10), 0);
	ctrl_post(f, 2, 128);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_ADD, 1);
	port_ready(f, 1, false);
	h1 = rx_post(f, 1, &l10, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data, 10), 0); /* ready, not open */
	expect_no_used(f, rxq(1));
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_uint_eq(f->hp[1].readies, 1);

	/* 50 bytes over buffers of 10, 5 + 7 and 100: the last partly filled. */
	h2 = rx_post(f, 1, l57, 2);
	h3 = rx_post(f, 1, &l100, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data, 50), 50);
	expect_rx(f, 1, h1, data, 10);
	expect_rx(f, 1, h2, data + 10, 12);
	expect_rx(f, 1, h3, data + 22, 28);
	expect_no_used(f, rxq(1));

	/* More than is posted: takes what fits, and asks for a kick for the rest. */
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data + 50, 0), 0);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data + 50, 250), 0);
	readies = f->hp[1].readies;
	h4 = add_chain(f, rxq(1), &l16, 1, true, NULL);
	ck_assert(publish(f, rxq(1), h4));
	ck_assert_uint_eq(f->hp[1].readies, readies + 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data + 50, 250), 16);
	expect_rx(f, 1, h4, data + 50, 16);

	/* Out of range, and another port that is not ready. */
	ck_assert_uint_eq(vcon_port_input(f->d, 2, data, 10), 0);
	ck_assert_uint_eq(vcon_port_input(f->d, 9, data, 10), 0);
	/* The guest closes the port: input waits again. */
	rx_post(f, 1, &l16, 1);
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, data, 10), 0);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/*
 * With no control buffer posted, the host connecting and disconnecting over
 * and over leaves one PORT_OPEN per port, with the latest state.
 */
START_TEST(connect_messages_wait_and_coalesce)
{
	struct fx *f = fx_new(3);

	drv_start(f, F_ALL);
	handshake(f);
	expect_no_ctrl(f);
	/* The handshake used every buffer it posted. */
	for (unsigned int i = 0; i < 10001; i++) {
		ck_assert_int_eq(vcon_port_set_connected(f->d, 1, i % 2 == 0), 0);
		ck_assert_int_eq(vcon_port_set_connected(f->d, 2, i % 2 == 1), 0);
	}
	/* Same state again: nothing new to say. */
	ck_assert_int_eq(vcon_port_set_connected(f->d, 0, true), 0);
	ck_assert_int_eq(vcon_port_set_connected(f->d, 7, true), -EINVAL);
	expect_no_ctrl(f);
	ctrl_post(f, 2, 128);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_no_ctrl(f);

	/* A disconnect, a buffer too small for a message, then a good one. */
	ck_assert_int_eq(vcon_port_set_connected(f->d, 1, false), 0);
	ctrl_post(f, 1, 4);
	{
		uint32_t id, len;

		ck_assert(rb_get_used(&f->rb[CTRL_RX], &id, &len));
		ck_assert_uint_eq(len, 0);
	}
	ck_assert_int_eq(vcon_port_set_connected(f->d, 1, true), 0);
	ctrl_post(f, 1, 8);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

START_TEST(malformed_control_ignored)
{
	struct fx *f = fx_new(2);
	struct virtio_console_control m = { .id = htole32(1),
					    .event = htole16(VIRTIO_CONSOLE_PORT_READY),
					    .value = htole16(1) };
	uint8_t longer[40] = { 0 };
	uint32_t wlen = 8;
	uint16_t h;

	drv_start(f, F_ALL);
	ctrl_post(f, 16, 128);
	ctrl_send_raw(f, &m, 4);			       /* short */
	ctrl_send(f, 2, VIRTIO_CONSOLE_PORT_READY, 1);	       /* no such port */
	ctrl_send(f, 0x7fffffff, VIRTIO_CONSOLE_PORT_OPEN, 1); /* nor this */
	ctrl_send(f, 1, 42, 1);				       /* unknown event */
	ctrl_send(f, 1, VIRTIO_CONSOLE_CONSOLE_PORT, 1);       /* the device's to send */
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);	       /* before PORT_READY */
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 0);  /* the driver failed */
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_READY, 0);	       /* likewise */
	/* A writable buffer in a control message: given back, nothing read. */
	h = add_chain(f, CTRL_TX, &wlen, 1, true, NULL);
	publish(f, CTRL_TX, h);
	expect_used(f, CTRL_TX, h, 0);
	expect_no_ctrl(f);
	ck_assert_uint_eq(f->hp[1].opens, 0);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);

	/* The device still works: a longer message counts by its first 8 bytes. */
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_ADD, 1);
	memcpy(longer, &m, sizeof(m));
	ctrl_send_raw(f, longer, sizeof(longer));
	expect_ctrl_name(f, 1, "port1");
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_no_ctrl(f);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

START_TEST(control_budget_and_resume)
{
	struct fx *f = fx_new(1);
	struct virtio_console_control m = { .id = htole32(0),
					    .event = htole16(VIRTIO_CONSOLE_PORT_OPEN),
					    .value = htole16(1) };
	uint32_t len = sizeof(m);
	uint16_t heads[100], old;

	drv_start(f, F_ALL);
	ctrl_post(f, 1, 128);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_ADD, 1);
	port_ready(f, 0, true);
	old = f->rb[CTRL_TX].avail_idx;
	for (unsigned int i = 0; i < 100; i++) {
		m.value = htole16(i % 2 == 0);
		heads[i] = add_chain(f, CTRL_TX, &len, 1, false, (const uint8_t *)&m);
		rb_publish(&f->rb[CTRL_TX], heads[i]);
	}
	drv_kick(f, CTRL_TX, old);
	for (unsigned int i = 0; i < VCON_CTRL_CHAINS; i++)
		expect_used(f, CTRL_TX, heads[i], 0);
	expect_no_used(f, CTRL_TX);
	ck_assert_uint_eq(f->hp[0].opens, VCON_CTRL_CHAINS / 2);
	ck_assert(resume_pending(f));
	vcon_resume(f->d);
	for (unsigned int i = VCON_CTRL_CHAINS; i < 100; i++)
		expect_used(f, CTRL_TX, heads[i], 0);
	ck_assert_uint_eq(f->hp[0].opens, 50);
	ck_assert_uint_eq(f->hp[0].closes, 50);
	fx_free(f);
}
END_TEST

START_TEST(reset_mid_transfer)
{
	struct fx *f = fx_new(2);
	static const uint32_t l32 = 32;
	uint8_t big[5000];
	uint16_t h;

	memset(big, 'x', sizeof(big));
	drv_start(f, F_ALL);
	handshake(f);
	/* Port 1 stalls mid-chain, with bytes in the bounce buffer. */
	f->hp[1].take = 1000;
	tx_send(f, 1, big, sizeof(big));
	ck_assert(f->hp[1].stalled);
	ck_assert_uint_eq(f->hp[1].out_len, 1000);
	rx_post(f, 1, &l32, 1);
	/* A message waits for a control buffer. */
	vcon_port_set_connected(f->d, 1, true);

	vdrv_wr32(&f->drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_status(&f->drv), 0);
	/* The guest's side went away with the driver. */
	ck_assert(!f->hp[0].open);
	ck_assert(!f->hp[1].open);
	ck_assert_uint_eq(f->hp[1].closes, 1);
	/* Nothing reaches the guest or the host after the reset. */
	f->hp[1].take = TAKE_ALL;
	vcon_port_writable(f->d, 1);
	ck_assert_uint_eq(f->hp[1].out_len, 1000);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "late", 4), 0);
	vcon_port_set_connected(f->d, 1, false);
	vcon_resume(f->d);

	/* A new driver starts over: the old chain's bytes are gone, the new flow. */
	f->hp[1].out_len = 0;
	drv_start(f, F_ALL);
	handshake(f);
	h = tx_send(f, 1, "fresh", 5);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 5);
	ck_assert_mem_eq(f->hp[1].out, "fresh", 5);
	h = rx_post(f, 1, &l32, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "back", 4), 4);
	expect_rx(f, 1, h, "back", 4);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

START_TEST(seven_ports)
{
	static const char *const names[] = { NULL,
					     "a",
					     "b",
					     "c",
					     "d",
					     "e",
					     "0123456789012345678901234567890123456789"
					     "012345678901234567890123" };
	struct fx *f = fx_new_named(VCON_MAX_PORTS, names);
	static const uint32_t l16 = 16;
	uint16_t h;

	ck_assert_uint_eq(strlen(names[6]), VCON_NAME_MAX);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_CONFIG + 4), VCON_MAX_PORTS);
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_SEL, VIRTIO_MAX_QUEUES - 1);
	ck_assert_uint_eq(vdrv_rd32(&f->drv, VIRTIO_MMIO_QUEUE_NUM_MAX), VCON_QUEUE_SIZE);
	drv_start(f, F_ALL);
	handshake(f);
	for (unsigned int i = 0; i < VCON_MAX_PORTS; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "to port %u", i);

		h = tx_send(f, i, msg, (uint32_t)n);
		expect_used(f, txq(i), h, 0);
		ck_assert_uint_eq(f->hp[i].out_len, (size_t)n);
		ck_assert_mem_eq(f->hp[i].out, msg, (size_t)n);
		h = rx_post(f, i, &l16, 1);
		ck_assert_uint_eq(vcon_port_input(f->d, i, msg, (size_t)n), (size_t)n);
		expect_rx(f, i, h, msg, (uint32_t)n);
	}
	fx_free(f);
}
END_TEST

/* Queues the driver left out: control is required with MULTIPORT; a port without its queues is not
 * added. */
START_TEST(queues_left_out)
{
	struct fx *f = fx_new(3);

	drv_start_queues(f, F_ALL, 0x3);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	drv_start_queues(f, F_ALL, 0x3f); /* ports 0 and 1, control; not port 2 */
	ck_assert_uint_eq(vdrv_status(&f->drv), S_ACK | S_DRV | S_FOK | S_DOK);
	ctrl_post(f, 4, 128);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_ADD, 1);
	expect_no_ctrl(f);
	ctrl_send(f, 2, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_no_ctrl(f);
	fx_free(f);
}
END_TEST

/* A driver without MULTIPORT: port 0 alone, a console from the start. */
START_TEST(single_port_driver)
{
	struct fx *f = fx_new(2);
	static const uint32_t l8 = 8;
	uint16_t h;

	drv_start_queues(f, F_EIDX, 0x3);
	ck_assert_uint_eq(vdrv_status(&f->drv), S_ACK | S_DRV | S_FOK | S_DOK);
	h = tx_send(f, 0, "boot", 4);
	expect_used(f, txq(0), h, 0);
	ck_assert_uint_eq(f->hp[0].out_len, 4);
	h = rx_post(f, 0, &l8, 1);
	ck_assert_uint_gt(f->hp[0].readies, 0);
	ck_assert_uint_eq(vcon_port_input(f->d, 0, "root\n", 5), 5);
	expect_rx(f, 0, h, "root\n", 5);
	/* The other port and the control queues do not exist for this driver. */
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "x", 1), 0);
	ck_assert_int_eq(vcon_port_set_connected(f->d, 1, true), 0);
	ck_assert_uint_eq(f->hp[0].opens, 0);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);
	fx_free(f);
}
END_TEST

/* Kicks before DRIVER_OK are not passed on: the device looks when it starts. */
START_TEST(work_waiting_at_activation)
{
	struct fx *f = fx_new(1);
	struct virtio_console_control m = { .id = htole32(BAD_ID),
					    .event = htole16(VIRTIO_CONSOLE_DEVICE_READY),
					    .value = htole16(1) };
	uint32_t len = 5, mlen = sizeof(m), clen = 64;
	uint16_t h, hc, hr;

	drv_setup(f, F_ALL, 0xf);
	h = add_chain(f, txq(0), &len, 1, false, (const uint8_t *)"early");
	hr = add_chain(f, CTRL_RX, &clen, 1, true, NULL);
	hc = add_chain(f, CTRL_TX, &mlen, 1, false, (const uint8_t *)&m);
	publish(f, txq(0), h);
	publish(f, CTRL_RX, hr);
	publish(f, CTRL_TX, hc);
	expect_no_used(f, txq(0));
	ck_assert_uint_eq(f->hp[0].out_len, 0);

	vdrv_wr32(&f->drv, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	expect_used(f, txq(0), h, 0);
	ck_assert_mem_eq(f->hp[0].out, "early", 5);
	expect_used(f, CTRL_TX, hc, 0);
	expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_ADD, 1);

	/* Nothing set up at all: the device cannot start. */
	drv_start_queues(f, F_ALL, 0);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	fx_free(f);
}
END_TEST

START_TEST(emergency_write)
{
	struct fx *f = fx_new(1);

	/* Any time, even before the driver set anything up. */
	vdrv_wr(&f->drv, VIRTIO_MMIO_CONFIG + 8, 'E', 1);
	vdrv_wr32(&f->drv, VIRTIO_MMIO_CONFIG + 8, 'm');
	ck_assert_uint_eq(f->hp[0].out_len, 2);
	ck_assert_mem_eq(f->hp[0].out, "Em", 2);
	/* Its other bytes, and the read-only fields, are nothing. */
	vdrv_wr(&f->drv, VIRTIO_MMIO_CONFIG + 9, 'x', 1);
	vdrv_wr(&f->drv, VIRTIO_MMIO_CONFIG, 0xffff, 2);
	ck_assert_uint_eq(f->hp[0].out_len, 2);
	/* A host that cannot take it: dropped. */
	f->hp[0].take = 0;
	vdrv_wr32(&f->drv, VIRTIO_MMIO_CONFIG + 8, '!');
	ck_assert_uint_eq(f->hp[0].out_len, 2);
	fx_free(f);
}
END_TEST

START_TEST(hostile_chains)
{
	struct fx *f = fx_new(2);
	static const uint32_t l8 = 8;
	uint16_t h;

	drv_start(f, F_ALL);
	handshake(f);
	/* A writable buffer in a transmit chain: dropped, given back, the port goes on. */
	h = add_chain(f, txq(1), &l8, 1, true, NULL);
	publish(f, txq(1), h);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 0);
	h = tx_send(f, 1, "fine", 4);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(vdrv_status(&f->drv) & S_NR, 0);

	/* A readable buffer in a receive chain: the device needs a reset. */
	h = add_chain(f, rxq(1), &l8, 1, false, (const uint8_t *)"12345678");
	publish(f, rxq(1), h);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "data", 4), 0);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	expect_no_used(f, rxq(1));
	fx_free(f);

	/* A readable buffer in a control receive chain: the same. */
	f = fx_new(1);
	drv_start(f, F_ALL);
	h = add_chain(f, CTRL_RX, &l8, 1, false, (const uint8_t *)"12345678");
	publish(f, CTRL_RX, h);
	ctrl_send(f, BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	expect_no_used(f, CTRL_RX);
	fx_free(f);
}
END_TEST

/* A host that says it is writable from inside output(): no recursion, and no stall either. */
START_TEST(output_reentered)
{
	struct fx *f = fx_new(2);
	uint8_t data[300];
	uint16_t h;

	memset(data, 'r', sizeof(data));
	drv_start(f, F_ALL);
	handshake(f);
	f->hp[1].outputs = 0;
	f->hp[1].take = 100;
	f->hp[1].reenter = true;
	h = tx_send(f, 1, data, sizeof(data));
	ck_assert_uint_eq(f->hp[1].outputs, 1);
	ck_assert_uint_eq(f->hp[1].out_len, 100);
	expect_no_used(f, txq(1));
	/* Not blocked: the resume event goes on. */
	ck_assert(resume_pending(f));
	f->hp[1].take = TAKE_ALL;
	vcon_resume(f->d);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].out_len, 300);
	fx_free(f);
}
END_TEST

/* A ring the driver broke: a reset is asked for once, not on every host call after. */
START_TEST(broken_rings)
{
	struct fx *f = fx_new(2);
	static const uint32_t l8 = 8;
	unsigned int irqs;

	drv_start(f, F_ALL);
	handshake(f);
	rb_publish(&f->rb[txq(1)], QSIZE + 3); /* a head past the table */
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, txq(1));
	ck_assert(vdrv_status(&f->drv) & S_NR);
	irqs = f->irqs;
	vcon_port_writable(f->d, 1);
	vcon_resume(f->d);
	ck_assert_uint_eq(f->irqs, irqs);
	/* The other ports' rings still work until the driver resets. */
	rx_post(f, 0, &l8, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 0, "ok", 2), 2);
	fx_free(f);

	f = fx_new(2);
	drv_start(f, F_ALL);
	handshake(f);
	rb_publish(&f->rb[rxq(1)], QSIZE + 3);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "x", 1), 0);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	irqs = f->irqs;
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "x", 1), 0);
	ck_assert_uint_eq(f->irqs, irqs);
	fx_free(f);

	f = fx_new(2);
	drv_start(f, F_ALL);
	handshake(f);
	rb_publish(&f->rb[CTRL_RX], QSIZE + 3);
	vcon_port_set_connected(f->d, 1, true);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	irqs = f->irqs;
	vcon_port_set_connected(f->d, 1, false);
	ck_assert_uint_eq(f->irqs, irqs);
	fx_free(f);

	f = fx_new(1);
	drv_start(f, F_ALL);
	rb_publish(&f->rb[CTRL_TX], QSIZE + 3);
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, CTRL_TX);
	ck_assert(vdrv_status(&f->drv) & S_NR);
	fx_free(f);
}
END_TEST

START_TEST(bad_configs_refused)
{
	struct vcon_port_ops no_output = { .input_ready = host_input_ready };
	struct vcon_port_config pc[VCON_MAX_PORTS + 1];
	struct vcon_config cfg = { .ports = pc };
	struct vcon *d = (struct vcon *)&cfg;
	char long_name[VCON_NAME_MAX + 2];
	static const char *const bad_names[] = { "", "a/b", "a b", "tab\t", "caf\xc3\xa9", NULL };

	for (unsigned int i = 0; i <= VCON_MAX_PORTS; i++)
		pc[i] = (struct vcon_port_config){ .ops = &host_ops };
	cfg.nr_ports = 0;
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	ck_assert_ptr_null(d);
	cfg.nr_ports = VCON_MAX_PORTS + 1;
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	cfg.nr_ports = 2;
	cfg.ports = NULL;
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	cfg.ports = pc;
	pc[0].ops = pc[1].ops = NULL; /* no port at all */
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	pc[0].ops = &host_ops;
	pc[1].ops = &no_output;
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	pc[1].ops = &host_ops;
	for (unsigned int i = 0; bad_names[i]; i++) {
		pc[1].name = bad_names[i];
		ck_assert_msg(vcon_create(&d, &cfg) == -EINVAL, "name \"%s\" taken", bad_names[i]);
	}
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	pc[1].name = long_name;
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);
	pc[0].name = pc[1].name = "twice";
	ck_assert_int_eq(vcon_create(&d, &cfg), -EINVAL);

	/* The limits themselves are fine, and the names are the device's own copies. */
	pc[0].name = NULL;
	long_name[VCON_NAME_MAX] = '\0';
	pc[1].name = long_name;
	cfg.nr_ports = VCON_MAX_PORTS;
	ck_assert_int_eq(vcon_create(&d, &cfg), 0);
	ck_assert_ptr_nonnull(d);
	/* No transport yet: nothing runs, and the host may set its state already. */
	ck_assert_int_eq(vcon_port_set_connected(d, 1, true), 0);
	ck_assert_uint_eq(vcon_port_input(d, 1, "x", 1), 0);
	vcon_port_writable(d, 1);
	vcon_resume(d);
	vcon_destroy(d);
	vcon_destroy(NULL);
}
END_TEST

/* --- snapshots ----------------------------------------------------------------------- */

static void fx_save(struct fx *f, struct vcon_state *st, struct virtio_mmio_state *ms)
{
	ck_assert_int_eq(vcon_save(f->d, st), 0);
	ck_assert_int_eq(virtio_mmio_save(f->t, ms), 0);
}

/*
 * The process ends and another restores `st` and `ms` over the same guest
 * RAM: a new device and transport, new host ends (as a new process has them:
 * nothing connected but the console), the driver's rings as they were. A
 * host end's stream check goes on where it stood. Returns the first error of
 * vcon_restore(), virtio_mmio_restore() and vcon_restore_end().
 */
static int fx_reborn(struct fx *f, const struct vcon_state *st, const struct virtio_mmio_state *ms)
{
	int ret;

	virtio_mmio_destroy(f->t);
	vcon_destroy(f->d);
	bus_destroy(f->bus);
	for (unsigned int i = 0; i < f->nports; i++)
		f->hp[i] = (struct hport){ .f = f,
					   .idx = i,
					   .take = TAKE_ALL,
					   .stream = f->hp[i].stream,
					   .check_stream = f->hp[i].check_stream };
	fx_device(f);
	ret = vcon_restore(f->d, st);
	if (ret < 0)
		return ret;
	ret = virtio_mmio_restore(f->t, ms);
	if (ret < 0) {
		vcon_restore_end(f->d);
		return ret;
	}
	return vcon_restore_end(f->d);
}

START_TEST(snapshot_restores_ports)
{
	struct virtio_mmio_state *ms = malloc(sizeof(*ms));
	struct fx *f = fx_new(3);
	static const uint32_t l32 = 32;
	struct vcon_state st;
	uint8_t big[5000];
	uint16_t h, r;

	ck_assert_ptr_nonnull(ms);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = stream_byte(i);
	drv_start(f, F_ALL);
	handshake(f);
	/* Port 1's host takes 1000 bytes of a 5000-byte chain and is full. */
	f->hp[1].take = 1000;
	f->hp[1].check_stream = true;
	h = tx_send(f, 1, big, sizeof(big));
	ck_assert(f->hp[1].stalled);
	ck_assert_uint_eq(f->hp[1].out_len, 1000);
	/* Port 1's host is connected, and the guest told so. */
	ctrl_post(f, 1, 128);
	vcon_port_set_connected(f->d, 1, true);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	/* Port 2's host connects with no control buffer posted: a PORT_OPEN is owed. */
	vcon_port_set_connected(f->d, 2, true);
	expect_no_ctrl(f);

	fx_save(f, &st, ms);
	ck_assert_uint_eq(st.nr_ports, 3);
	ck_assert(st.active && st.multiport);
	ck_assert_uint_eq(st.port[1].skip, 1000);
	ck_assert_uint_ne(st.port[2].pending, 0);
	ck_assert_uint_eq(st.port[2].host_connected, 1);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert(st.port[i].ready && st.port[i].guest_open);

	ck_assert_int_eq(fx_reborn(f, &st, ms), 0);
	/* The new host ends hear the guest has the ports open. */
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_msg(f->hp[i].open && f->hp[i].opens == 1, "port %u", i);
	/* The restore's kick handed the new host the rest of the chain, once; it came back. */
	ck_assert_uint_eq(f->hp[1].out_len, 4000);
	ck_assert_uint_eq(f->hp[1].stream, 5000);
	expect_used(f, txq(1), h, 0);
	expect_no_used(f, txq(1));
	/* The guest learns the host sides as they are now: nobody (the old clients went). */
	ctrl_post(f, 2, 128);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_OPEN, 0);
	expect_no_ctrl(f);
	/* Input and output flow as before; the ports' state goes on. */
	r = rx_post(f, 1, &l32, 1);
	ck_assert_uint_eq(vcon_port_input(f->d, 1, "after", 5), 5);
	expect_rx(f, 1, r, "after", 5);
	for (size_t i = 0; i < 10; i++)
		big[i] = stream_byte(5000 + i);
	h = tx_send(f, 1, big, 10);
	expect_used(f, txq(1), h, 0);
	ck_assert_uint_eq(f->hp[1].stream, 5010);
	vcon_port_set_connected(f->d, 1, true);
	ctrl_post(f, 1, 128);
	expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ctrl_send(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	ck_assert(!f->hp[1].open);
	fx_free(f);
	free(ms);
}
END_TEST

/*
 * A host that takes random amounts: at every stall the device is saved, and
 * either goes on in this process or is reborn in another. Chains of several
 * buffers; the host sees every byte once, in order.
 */
START_TEST(snapshot_at_any_stall_loses_nothing)
{
	enum { TOTAL = 256 * 1024 };
	struct virtio_mmio_state *ms = malloc(sizeof(*ms));
	struct fx *f = fx_new(2);
	struct hport *h;
	uint8_t chunk[8 * 3000];
	unsigned int saves = 0, reborn = 0;
	size_t sent = 0;

	ck_assert_ptr_nonnull(ms);
	drv_start(f, F_ALL);
	handshake(f);
	f->hp[1].check_stream = true;
	for (unsigned int iter = 0; iter < 100000 && f->hp[1].out_len < TOTAL; iter++) {
		uint32_t id, ulen;

		h = &f->hp[1];
		/* One chain at a time, of 1 to 8 buffers, once the last came back. */
		if (sent == h->out_len && sent < TOTAL) {
			uint32_t lens[8];
			unsigned int n = 1 + rnd(f) % 8;
			size_t bytes = 0;

			for (unsigned int i = 0; i < n; i++) {
				lens[i] = 1 + rnd(f) % 3000;
				bytes += lens[i];
			}
			for (size_t i = 0; i < bytes; i++)
				chunk[i] = stream_byte(sent + i);
			sent += bytes;
			h->take = rnd(f) % 6000;
			h->stalled = false;
			rb_publish(&f->rb[txq(1)], add_chain(f, txq(1), lens, n, false, chunk));
			vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, txq(1));
		}
		if (h->stalled) {
			struct vcon_state st;

			fx_save(f, &st, ms);
			saves++;
			h->take = rnd(f) % 6000;
			h->stalled = false;
			if (rnd(f) % 3 == 0) {
				size_t took = h->out_len;

				ck_assert_int_eq(fx_reborn(f, &st, ms), 0);
				reborn++;
				f->hp[1].out_len += took;
			} else {
				vcon_port_writable(f->d, 1);
			}
			h = &f->hp[1];
		}
		if (resume_pending(f))
			vcon_resume(f->d);
		while (rb_get_used(&f->rb[txq(1)], &id, &ulen))
			ck_assert_uint_eq(h->out_len, sent);
	}
	ck_assert_uint_ge(f->hp[1].out_len, TOTAL);
	ck_assert_uint_eq(f->hp[1].out_len, sent);
	ck_assert_uint_eq(f->hp[1].stream, sent);
	ck_assert_uint_gt(saves, 20);
	ck_assert_uint_gt(reborn, 5);
	fx_free(f);
	free(ms);
}
END_TEST

START_TEST(snapshot_state_checked)
{
	struct virtio_mmio_state *ms = malloc(sizeof(*ms)), *plain = malloc(sizeof(*plain));
	struct fx *f = fx_new(3), *g = fx_new(3), *single = fx_new(3);
	struct vcon_state good, bad, idle;

	ck_assert_ptr_nonnull(ms);
	ck_assert_ptr_nonnull(plain);
	/* A device never started saves as such, and restores as such. */
	fx_save(f, &idle, ms);
	ck_assert(!idle.active);
	ck_assert_int_eq(vcon_restore(g->d, &idle), 0);
	ck_assert_int_eq(vcon_restore_end(g->d), 0);

	drv_start(f, F_ALL);
	handshake(f);
	fx_save(f, &good, ms);
	ck_assert_int_eq(vcon_restore(f->d, &good), -EBUSY);
#define REFUSED(change)                                                                            \
	do {                                                                                       \
		bad = good;                                                                        \
		change;                                                                            \
		ck_assert_msg(vcon_restore(g->d, &bad) == -EINVAL, "taken: %s", #change);          \
	} while (0)
	REFUSED(bad.nr_ports = 2);
	REFUSED(bad.pad[1] = 1);
	REFUSED(bad.active = 2);
	REFUSED(bad.multiport = 2);
	REFUSED(bad.active = 0);
	REFUSED(bad.port[1].ready = 2);
	REFUSED(bad.port[1].guest_open = 2);
	REFUSED(bad.port[1].host_connected = 7);
	REFUSED(bad.port[1].pending = 0x10);
	REFUSED(bad.port[3].ready = 1); /* past the ports */
	REFUSED(bad.port[6].host_connected = 1);
	REFUSED(bad.port[6].skip = 1);
	REFUSED(bad.multiport = 0); /* ports ready without the control protocol */
	bad = idle;
	bad.port[1].skip = 5;
	ck_assert_int_eq(vcon_restore(g->d, &bad),
			 -EINVAL); /* a device never started moved bytes */
#undef REFUSED

	/* Kept, but the transport's state never started the device: refused, and dropped. */
	ck_assert_int_eq(vcon_restore(g->d, &good), 0);
	ck_assert_int_eq(vcon_restore_end(g->d), -EINVAL);
	ck_assert_int_eq(vcon_restore_end(g->d), -EINVAL);
	drv_start(g, F_ALL);
	handshake(g);

	/* A driver without MULTIPORT under a state with it: the transport's restore fails. */
	drv_start(single, F_EMERG);
	ck_assert_int_eq(virtio_mmio_save(single->t, plain), 0);
	ck_assert_int_ne(fx_reborn(single, &good, plain), 0);
	/* The device is left as a new one: a driver starts it afresh. */
	drv_start(single, F_ALL);
	handshake(single);
	fx_free(f);
	fx_free(g);
	fx_free(single);
	free(ms);
	free(plain);
}
END_TEST

static Suite *vcon_suite(void)
{
	Suite *s = suite_create("vcon");
	TCase *ctl = tcase_create("control");
	TCase *data = tcase_create("data");
	TCase *life = tcase_create("lifecycle");

	tcase_add_test(ctl, identity_and_config);
	tcase_add_test(ctl, handshake_announces_ports);
	tcase_add_test(ctl, absent_ports_are_not_announced);
	tcase_add_test(ctl, connect_messages_wait_and_coalesce);
	tcase_add_test(ctl, malformed_control_ignored);
	tcase_add_test(ctl, control_budget_and_resume);
	suite_add_tcase(s, ctl);

	tcase_add_test(data, console_output_and_input);
	/* A megabyte through the ring a few bytes at a time: seconds under the sanitizers. */
	tcase_set_timeout(data, 60);
	tcase_add_test(data, output_backpressure_megabyte);
	tcase_add_test(data, output_read_once);
	tcase_add_test(data, output_budget_and_resume);
	tcase_add_test(data, input_fills_partial_buffers);
	tcase_add_test(data, emergency_write);
	tcase_add_test(data, hostile_chains);
	tcase_add_test(data, output_reentered);
	tcase_add_test(data, broken_rings);
	suite_add_tcase(s, data);

	tcase_add_test(life, reset_mid_transfer);
	tcase_add_test(life, seven_ports);
	tcase_add_test(life, queues_left_out);
	tcase_add_test(life, single_port_driver);
	tcase_add_test(life, work_waiting_at_activation);
	tcase_add_test(life, bad_configs_refused);
	tcase_add_test(life, snapshot_restores_ports);
	tcase_add_test(life, snapshot_at_any_stall_loses_nothing);
	tcase_add_test(life, snapshot_state_checked);
	suite_add_tcase(s, life);
	return s;
}

int main(void)
{
	return unit_run(vcon_suite());
}
