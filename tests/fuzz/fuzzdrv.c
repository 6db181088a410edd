// SPDX-License-Identifier: MIT
#include "config.h"

#include "fuzzdrv.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "virtio/virtq.h"

#define MAX_STEPS 4096

void fdrv_fail(const char *what)
{
	fprintf(stderr, "fuzz check failed: %s\n", what);
	abort();
}

/* --- the ledger: what the device popped and has not given back ------------------- */

struct lent {
	uint16_t head;
	uint32_t in_len;
	uint8_t *status; /* the chain's last writable byte, or NULL */
};

struct ledger {
	struct virtq *q;
	unsigned int n, max;
	struct lent *e;
};

/* The wrappers have no context argument; one fuzzer runs one input at a time. */
static struct fdrv *cur;
static struct ledger led[FDRV_MAX_QUEUES];
static bool status_check;

#define STATUS_POISON 0xee

static struct ledger *ledger_of(const struct virtq *q)
{
	if (!cur)
		return NULL;
	for (unsigned int i = 0; i < cur->nq; i++) {
		if (led[i].q == q)
			return &led[i];
	}
	return NULL;
}

bool fdrv_in_ram(const struct fdrv *d, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (unsigned int i = 0; i < d->mem.nr; i++) {
		const struct gmem_region *r = &d->mem.r[i];

		if (b >= r->host && b < r->host + r->size && len <= r->size - (size_t)(b - r->host))
			return true;
	}
	return false;
}

int __real_virtq_pop(struct virtq *q, struct virtq_chain *c);
int __wrap_virtq_pop(struct virtq *q, struct virtq_chain *c);
int __real_virtq_push(struct virtq *q, uint16_t head, uint32_t written);
int __wrap_virtq_push(struct virtq *q, uint16_t head, uint32_t written);
int __real_virtq_unpop(struct virtq *q, unsigned int n);
int __wrap_virtq_unpop(struct virtq *q, unsigned int n);
void __real_virtq_reset(struct virtq *q);
void __wrap_virtq_reset(struct virtq *q);

int __wrap_virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	struct ledger *l = ledger_of(q);
	int ret = __real_virtq_pop(q, c);
	uint64_t out = 0, in = 0;
	unsigned int n;

	if (!l || ret < 0)
		return ret;
	n = c->out_num + c->in_num;
	/*
	 * Not bounded by the queue size: an indirect table may hold more, as
	 * Linux writes them for small queues; c->max bounds the walk.
	 */
	if (n == 0 || n > c->max)
		fdrv_fail("a chain with no buffers, or more than the caller's array");
	for (unsigned int i = 0; i < n; i++) {
		if (!fdrv_in_ram(cur, c->iov[i].iov_base, c->iov[i].iov_len))
			fdrv_fail("a buffer outside guest RAM");
		*(i < c->out_num ? &out : &in) += c->iov[i].iov_len;
	}
	if (out != c->out_len || in != c->in_len)
		fdrv_fail("chain lengths do not add up");
	if (l->n == l->max)
		fdrv_fail("the device holds more chains than QueueNumMax");
	l->e[l->n] = (struct lent){ .head = c->head, .in_len = c->in_len };
	if (c->in_num) {
		const struct iovec *last = &c->iov[n - 1];

		l->e[l->n].status = (uint8_t *)last->iov_base + last->iov_len - 1;
	}
	/*
	 * A status byte tells which chain went back only while no other held
	 * chain has the same head or the same status byte: a driver that
	 * publishes a head twice, or lets chains share their last byte, gets
	 * the room checks alone for those.
	 */
	for (unsigned int i = 0; i < l->n; i++) {
		if (l->e[i].head == c->head ||
		    (l->e[i].status && l->e[i].status == l->e[l->n].status)) {
			l->e[i].status = NULL;
			l->e[l->n].status = NULL;
		}
	}
	if (status_check && l->e[l->n].status)
		*l->e[l->n].status = STATUS_POISON;
	l->n++;
	return ret;
}

int __wrap_virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct ledger *l = ledger_of(q);
	unsigned int i, best;
	int ret;

	if (!l)
		return __real_virtq_push(q, head, written);
	/*
	 * A driver may publish one head twice, and the device then holds two
	 * chains the ring cannot tell apart. Of those that fit the report (room
	 * for `written`, the status written if checked), the one with the least
	 * room is taken as given back: any later report the others fit, it fits.
	 */
	best = l->n;
	for (i = 0; i < l->n; i++) {
		if (l->e[i].head != head || written > l->e[i].in_len)
			continue;
		if (status_check && l->e[i].status && *l->e[i].status > 2)
			continue;
		if (best == l->n || l->e[i].in_len < l->e[best].in_len)
			best = i;
	}
	if (best == l->n)
		fdrv_fail("a chain given back that the device does not hold, with more bytes "
			  "written than it has room for, or without its status");
	i = best;
	ret = __real_virtq_push(q, head, written);
	if (ret == 0) {
		cur->pushes++;
		memmove(&l->e[i], &l->e[i + 1], (l->n - i - 1) * sizeof(l->e[0]));
		l->n--;
	}
	return ret;
}

int __wrap_virtq_unpop(struct virtq *q, unsigned int n)
{
	struct ledger *l = ledger_of(q);
	int ret = __real_virtq_unpop(q, n);

	if (l && ret == 0) {
		if (n > l->n)
			fdrv_fail("more chains given back unused than the device holds");
		l->n -= n;
	}
	return ret;
}

void __wrap_virtq_reset(struct virtq *q)
{
	struct ledger *l = ledger_of(q);

	/* The transport resets queues after the device's reset: held chains are dropped. */
	if (l)
		l->n = 0;
	__real_virtq_reset(q);
}

unsigned int fdrv_held(const struct fdrv *d, unsigned int i)
{
	(void)d;
	return led[i].n;
}

bool fdrv_broken(const struct fdrv *d, unsigned int i)
{
	return virtq_broken(virtio_mmio_queue(d->t, i));
}

/* --- the driver ------------------------------------------------------------------ */

static void count_irq(void *opaque)
{
	((struct fdrv *)opaque)->irqs++;
}

void fdrv_init(struct fdrv *d, const uint8_t *data, size_t size,
	       const struct virtio_device_info *info, const struct virtio_device_ops *ops,
	       void *dev, struct virtio_transport *tr)
{
	struct virtio_mmio_host host = { .mem = &d->mem, .interrupt = count_irq, .irq_opaque = d };
	static bool quiet;

	if (!quiet) {
		log_set_level(LOG_LVL_ERROR);
		quiet = true;
	}
	memset(d, 0, sizeof(*d));
	d->in = (struct fin){ data, size };
	d->info = *info;
	d->nq = info->nr_queues;
	if (d->nq > FDRV_MAX_QUEUES)
		fdrv_fail("too many queues for the driver");
	for (unsigned int i = 0; i < d->nq; i++) {
		/* A size the device offers, small enough for the rings and some data to fit. */
		unsigned int qsize = 1U << (fin_take(&d->in, 1) % 11);
		uint64_t base = (i + 1) * FDRV_RAM_STRIDE;

		while (qsize > info->queue_max)
			qsize >>= 1;
		if (rb_init(&d->rb[i], base, FDRV_RAM, (uint16_t)qsize) < 0 ||
		    gmem_add_region(&d->mem, base, d->rb[i].ram, FDRV_RAM) < 0)
			fdrv_fail("guest RAM");
	}
	if (bus_create(&d->bus, "mmio", 0) < 0 ||
	    virtio_mmio_create(&d->t, info, ops, dev, &host) < 0 ||
	    virtio_mmio_register(d->t, d->bus, FDRV_MMIO_BASE) < 0)
		fdrv_fail("the transport");
	virtio_mmio_transport(d->t, tr);

	cur = d;
	for (unsigned int i = 0; i < d->nq; i++) {
		led[i] = (struct ledger){
			.q = virtio_mmio_queue(d->t, i),
			.max = info->queue_max,
			.e = calloc(info->queue_max, sizeof(struct lent)),
		};
		if (!led[i].e)
			fdrv_fail("ledger");
	}
}

void fdrv_fini(struct fdrv *d)
{
	uint32_t zero = 0;

	/* For whoever writes seeds: how far the input got. */
	if (getenv("FDRV_TRACE"))
		fprintf(stderr, "status %#x, %u chains given back, %u interrupts\n",
			virtio_mmio_status(d->t), d->pushes, d->irqs);
	/* Through the register, so that the ledger sees the queues reset after the device. */
	bus_write(d->bus, FDRV_MMIO_BASE + VIRTIO_MMIO_STATUS, &zero, 4);
	for (unsigned int i = 0; i < d->nq; i++) {
		if (led[i].n)
			fdrv_fail("chains held across a reset");
	}
	virtio_mmio_destroy(d->t);
	bus_destroy(d->bus);
	for (unsigned int i = 0; i < d->nq; i++) {
		free(led[i].e);
		led[i] = (struct ledger){ 0 };
		rb_destroy(&d->rb[i]);
	}
	cur = NULL;
}

static void wr32(struct fdrv *d, uint64_t off, uint32_t v)
{
	bus_write(d->bus, FDRV_MMIO_BASE + off, &v, 4);
}

static uint32_t rd32(struct fdrv *d, uint64_t off)
{
	uint32_t v = 0;

	bus_read(d->bus, FDRV_MMIO_BASE + off, &v, 4);
	return v;
}

/* The driver's side of a queue goes back to empty, as after a reset. */
static void rb_rewind(struct rb *rb)
{
	memset(rb->ram, 0, rb->data_start - rb->base);
	rb->next_desc = rb->avail_idx = rb->last_used = 0;
}

/*
 * The usual start (virtio 1.x, 3.1.1): reset, ACKNOWLEDGE, DRIVER, features
 * (what the device offers, less the bits the input masks), FEATURES_OK, the
 * queues at the ring builder's addresses (one register of one queue as the
 * input says, if it does), DRIVER_OK.
 */
static void start(struct fdrv *d)
{
	uint32_t mask_lo = ~(uint32_t)fin_take(&d->in, 4);
	uint32_t mask_hi = ~(uint32_t)fin_take(&d->in, 1);
	uint8_t tweak = (uint8_t)fin_take(&d->in, 1);
	uint32_t tweak_val = tweak ? (uint32_t)fin_take(&d->in, 4) : 0;
	/* QueueNum, QueueDescLow, QueueDriverLow, QueueDeviceLow, ... High. */
	static const uint32_t tweak_reg[] = { 0x38, 0x80, 0x90, 0xa0, 0x84, 0x94, 0xa4 };
	uint32_t lo, hi;

	wr32(d, VIRTIO_MMIO_STATUS, 0);
	wr32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd32(d, VIRTIO_MMIO_DEVICE_FEATURES);
	wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd32(d, VIRTIO_MMIO_DEVICE_FEATURES);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, lo & mask_lo);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, (hi & mask_hi) | 1); /* VERSION_1 */
	wr32(d, VIRTIO_MMIO_STATUS, 11);
	for (unsigned int i = 0; i < d->nq; i++) {
		struct rb *rb = &d->rb[i];

		rb_rewind(rb);
		wr32(d, VIRTIO_MMIO_QUEUE_SEL, i);
		wr32(d, VIRTIO_MMIO_QUEUE_NUM, rb->size);
		wr32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)rb->desc);
		wr32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(rb->desc >> 32));
		wr32(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)rb->avail);
		wr32(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(rb->avail >> 32));
		wr32(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)rb->used);
		wr32(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(rb->used >> 32));
		if (tweak && (tweak >> 4) % d->nq == i)
			wr32(d, tweak_reg[tweak % 7], tweak_val);
		wr32(d, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr32(d, VIRTIO_MMIO_STATUS, 15);
}

/* A chain of up to 8 buffers, direct or through an indirect table, published. */
static void add_chain(struct fdrv *d)
{
	struct rb *rb = &d->rb[fin_take(&d->in, 1) % d->nq];
	uint8_t shape = (uint8_t)fin_take(&d->in, 1);
	unsigned int n = 1 + shape % 8;
	bool indirect = shape & 0x80;
	struct rb_seg segs[8];
	uint16_t head;

	if (n > rb->size && !indirect)
		n = rb->size;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t len = (uint16_t)fin_take(&d->in, 2);

		/* Bit 15 marks device-writable; lengths up to 4 KiB, 0 included. */
		segs[i] = (struct rb_seg){ .len = (len & 0x7fff) % 4097, .write = len >> 15 };
	}
	head = indirect ? rb_add_indirect(rb, segs, n) : rb_add_chain(rb, segs, n);
	/* Readable buffers start with bytes from the input: request headers, frames. */
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = rb_host(rb, segs[i].gpa);
		unsigned int k = segs[i].len < 24 ? segs[i].len : 24;

		if (segs[i].write)
			continue;
		for (unsigned int j = 0; j < k; j++)
			p[j] = (uint8_t)fin_take(&d->in, 1);
	}
	rb_publish(rb, head);
}

/* A descriptor rewritten by a hostile driver. */
static void tamper_desc(struct fdrv *d)
{
	struct rb *rb = &d->rb[fin_take(&d->in, 1) % d->nq];
	uint16_t idx = (uint16_t)(fin_take(&d->in, 2) % rb->size);
	uint8_t where = (uint8_t)fin_take(&d->in, 1);
	uint64_t addr;

	switch (where % 4) {
	case 0: /* inside this RAM */
		addr = rb->base + fin_take(&d->in, 2);
		break;
	case 1: /* near its end, maybe across it */
		addr = rb->base + FDRV_RAM - fin_take(&d->in, 1);
		break;
	case 2: /* inside another queue's RAM */
		addr = ((fin_take(&d->in, 1) % FDRV_MAX_QUEUES) + 1) * FDRV_RAM_STRIDE +
		       fin_take(&d->in, 2);
		break;
	default:
		addr = fin_take(&d->in, 8);
		break;
	}
	rb_set_desc(rb_desc(rb, idx), addr, (uint32_t)fin_take(&d->in, 4),
		    (uint16_t)fin_take(&d->in, 1), (uint16_t)fin_take(&d->in, 2));
}

static void any_access(struct fdrv *d)
{
	uint8_t how = (uint8_t)fin_take(&d->in, 1);
	unsigned int size = 1U << (how % 4);
	/* A little past the window too: the bus refuses those. */
	uint64_t off = fin_take(&d->in, 2) % (VIRTIO_MMIO_WINDOW + 8);
	uint64_t v = 0;

	if (how & 0x80) {
		v = fin_take(&d->in, size);
		bus_write(d->bus, FDRV_MMIO_BASE + off, &v, size);
	} else {
		bus_read(d->bus, FDRV_MMIO_BASE + off, &v, size);
	}
}

static void status_write(struct fdrv *d)
{
	static const uint32_t values[] = { 0, 1, 3, 11, 15, 0x80, 0x40 | 15 };
	uint8_t pick = (uint8_t)fin_take(&d->in, 1);

	wr32(d, VIRTIO_MMIO_STATUS,
	     pick < sizeof(values) / sizeof(values[0]) * 32
		     ? values[pick % (sizeof(values) / sizeof(values[0]))]
		     : (uint32_t)fin_take(&d->in, 1));
}

static void check(struct fdrv *d, const struct fdrv_target *tgt)
{
	uint8_t status = virtio_mmio_status(d->t);

	for (unsigned int i = 0; i < d->nq; i++) {
		if (fdrv_broken(d, i) && !(status & VIRTIO_CONFIG_S_NEEDS_RESET))
			fdrv_fail("a broken queue without DEVICE_NEEDS_RESET");
	}
	if (tgt->check)
		tgt->check(tgt->dev);
}

void fdrv_run(struct fdrv *d, const struct fdrv_target *tgt)
{
	status_check = tgt->status_check;
	for (unsigned int steps = 0; d->in.left && steps < MAX_STEPS; steps++) {
		uint8_t op = (uint8_t)fin_take(&d->in, 1);
		struct rb *rb;

		switch (op % 16) {
		case 0: /* an aligned register write */
			wr32(d, (fin_take(&d->in, 1) % 64) * 4, (uint32_t)fin_take(&d->in, 4));
			break;
		case 1:
			any_access(d);
			break;
		case 2:
			rd32(d, (fin_take(&d->in, 1) % 64) * 4);
			break;
		case 3:
			status_write(d);
			break;
		case 4:
			start(d);
			break;
		case 5:
		case 6:
			add_chain(d);
			break;
		case 7: /* raw avail ring entries and index */
			rb = &d->rb[fin_take(&d->in, 1) % d->nq];
			if (op & 0x80) {
				rb_set_avail_slot(rb, (uint16_t)fin_take(&d->in, 2),
						  (uint16_t)fin_take(&d->in, 2));
			} else if (op & 0x40) {
				/* One head published many times: a queue's worth in flight. */
				uint16_t head = (uint16_t)fin_take(&d->in, 2);
				unsigned int k = 1 + (unsigned int)fin_take(&d->in, 1);

				for (unsigned int j = 0; j < k; j++)
					rb_publish(rb, head);
			} else {
				rb_set_avail_idx(rb, (uint16_t)fin_take(&d->in, 2));
			}
			break;
		case 8:
			tamper_desc(d);
			break;
		case 9: { /* raw bytes anywhere in a queue's RAM */
			uint64_t at, k;

			rb = &d->rb[fin_take(&d->in, 1) % d->nq];
			at = fin_take(&d->in, 2) % FDRV_RAM;
			k = fin_take(&d->in, 1) % 32;
			for (uint64_t j = 0; j < k && at + j < FDRV_RAM; j++)
				rb->ram[at + j] = (uint8_t)fin_take(&d->in, 1);
			break;
		}
		case 10: /* a kick through the ioeventfd path */
			virtio_mmio_notify(d->t, (unsigned int)fin_take(&d->in, 1) % (d->nq + 1));
			break;
		case 11: /* a kick through the register */
			wr32(d, VIRTIO_MMIO_QUEUE_NOTIFY,
			     (uint32_t)fin_take(&d->in, 1) % (d->nq + 1));
			break;
		case 12: /* interrupt suppression */
			rb = &d->rb[fin_take(&d->in, 1) % d->nq];
			if (op & 0x80)
				rb_set_used_event(rb, (uint16_t)fin_take(&d->in, 2));
			else
				rb_set_avail_flags(rb, (uint16_t)fin_take(&d->in, 1) & 1);
			break;
		case 13:
			wr32(d, VIRTIO_MMIO_INTERRUPT_ACK, (uint32_t)fin_take(&d->in, 1) & 3);
			break;
		default:
			if (tgt->action)
				tgt->action(tgt->dev, &d->in);
			break;
		}
		check(d, tgt);
	}
}
