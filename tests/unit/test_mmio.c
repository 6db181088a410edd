// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "core/log.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define BASE 0xd0000000ULL
#define RAM0 0x100000ULL
#define RAM1 0x200000ULL
#define RAM_SIZE 0x40000ULL
#define QMAX 16
#define QSIZE 8
#define NQ 2
#define CFG_SIZE 12
#define DEV_ID 2 /* VIRTIO_ID_BLOCK */
#define F_DEV (1ULL << 0)
#define F_EVENT_IDX (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define OFFERED (F_DEV | F_EVENT_IDX | F_VERSION_1)

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAILED VIRTIO_CONFIG_S_FAILED

/* A device that records what the transport asks of it. */
struct fake {
	struct virtio_mmio *t;
	unsigned int activates, resets, notifies;
	unsigned int notified[NQ];
	uint64_t act_features;
	int activate_ret;
	uint8_t config[CFG_SIZE];
	unsigned int config_reads, config_writes;
	unsigned int completed; /* chains returned by notify() */
	int pop_err;		/* the last virtq_pop() result */
};

struct fx {
	struct rb rb[NQ];
	struct gmem mem; /* both helpers' RAM, as one guest */
	struct bus *bus;
	struct virtio_mmio *t;
	struct fake dev;
	struct vdrv drv;
	unsigned int irqs;
};

static void fake_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct fake *d = opaque;

	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(buf, d->config + off, len);
	d->config_reads++;
}

static void fake_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct fake *d = opaque;

	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(d->config + off, buf, len);
	d->config_writes++;
}

static int fake_activate(void *opaque, uint64_t features)
{
	struct fake *d = opaque;

	d->activates++;
	d->act_features = features;
	return d->activate_ret;
}

/* Serves every chain as a device would: pop, complete, interrupt if wanted. */
static void fake_notify(void *opaque, unsigned int index)
{
	struct fake *d = opaque;
	struct virtq *q = virtio_mmio_queue(d->t, index);
	struct iovec iov[4];
	struct virtq_chain c = { .iov = iov, .max = 4 };

	ck_assert_ptr_nonnull(q);
	d->notifies++;
	d->notified[index]++;
	do {
		virtq_disable_notify(q);
		while ((d->pop_err = virtq_pop(q, &c)) == 0) {
			ck_assert_int_eq(virtq_push(q, c.head, c.in_len), 0);
			d->completed++;
		}
		if (virtq_should_notify(q))
			virtio_mmio_signal_used(d->t);
	} while (virtq_enable_notify(q));
}

static void fake_reset(void *opaque)
{
	struct fake *d = opaque;

	d->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.notify = fake_notify,
	.reset = fake_reset,
};

static const struct virtio_device_info fake_info = {
	.device_id = DEV_ID,
	.features = F_DEV | F_EVENT_IDX,
	.nr_queues = NQ,
	.queue_max = QMAX,
	.config_size = CFG_SIZE,
	.name = "virtio-test",
};

static void record_irq(void *opaque)
{
	struct fx *f = opaque;

	__atomic_fetch_add(&f->irqs, 1, __ATOMIC_RELAXED);
}

static void fx_init(struct fx *f)
{
	struct virtio_mmio_host host = { .mem = &f->mem, .interrupt = record_irq, .irq_opaque = f };

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(rb_init(&f->rb[0], RAM0, RAM_SIZE, QSIZE), 0);
	ck_assert_int_eq(rb_init(&f->rb[1], RAM1, RAM_SIZE, QSIZE), 0);
	ck_assert_int_eq(gmem_add_region(&f->mem, RAM0, f->rb[0].ram, RAM_SIZE), 0);
	ck_assert_int_eq(gmem_add_region(&f->mem, RAM1, f->rb[1].ram, RAM_SIZE), 0);
	for (unsigned int i = 0; i < CFG_SIZE; i++)
		f->dev.config[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_eq(bus_create(&f->bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&f->t, &fake_info, &fake_ops, &f->dev, &host), 0);
	f->dev.t = f->t;
	ck_assert_int_eq(virtio_mmio_register(f->t, f->bus, BASE), 0);
	vdrv_init(&f->drv, f->bus, BASE, QMAX);
}

static void fx_fini(struct fx *f)
{
	virtio_mmio_destroy(f->t);
	bus_destroy(f->bus);
	rb_destroy(&f->rb[0]);
	rb_destroy(&f->rb[1]);
}

/* ---- the driver, through the shared fixture; the device offers OFFERED ---- */

/* Reset, ACKNOWLEDGE, DRIVER, features; returns whether FEATURES_OK stuck. */
static bool negotiate(struct fx *f, uint64_t features)
{
	uint64_t offered;
	bool ok = vdrv_negotiate(&f->drv, features, &offered);

	ck_assert_uint_eq(offered, OFFERED);
	return ok;
}

/* The whole start with both queues on the helper's rings. */
static void full_init(struct fx *f, uint64_t features)
{
	ck_assert_uint_eq(vdrv_start(&f->drv, features, f->rb, (1U << NQ) - 1), OFFERED);
}

/* Makes one chain (a readable and a writable buffer) available on queue idx. */
static void offer_chain(struct fx *f, unsigned int idx)
{
	struct rb_seg segs[2] = { { .len = 16 }, { .len = 32, .write = true } };

	rb_publish(&f->rb[idx], rb_add_chain(&f->rb[idx], segs, 2));
}

static void expect_needs_reset(struct fx *f, unsigned int irqs_before)
{
	ck_assert(vdrv_status(&f->drv) & S_NR);
	ck_assert(vdrv_rd32(&f->drv, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_gt(f->irqs, irqs_before);
}

/* ---- identity ---- */

START_TEST(test_identity)
{
	struct fx f;

	fx_init(&f);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_VERSION), 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_DEVICE_ID), DEV_ID);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_VENDOR_ID), 0x454d4252);
	ck_assert_uint_eq(vdrv_device_features(&f.drv), OFFERED);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION), 0);

	/* No shared memory regions: a length of -1 for any ID. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_SHM_SEL, 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);

	/* Legacy, write-only and unknown registers read 0; writes change nothing. */
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_GUEST_PAGE_SIZE), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_PFN), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_NUM), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, 0x0c0), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, 0x0f8), 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_MAGIC_VALUE, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_VERSION, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
	vdrv_wr32(&f.drv, 0x0f8, 0xdead);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_VERSION), 2);

	/* Registers take aligned 32-bit accesses only. */
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_MAGIC_VALUE, 1), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_MAGIC_VALUE, 2), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_MAGIC_VALUE + 2, 2), 0);
	vdrv_wr(&f.drv, VIRTIO_MMIO_STATUS, S_ACK, 1);
	vdrv_wr(&f.drv, VIRTIO_MMIO_STATUS, S_ACK, 2);
	ck_assert_uint_eq(vdrv_status(&f.drv), 0);
	/* An 8-byte read is two 32-bit ones. */
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_MAGIC_VALUE, 8), 0x0000000274726976ULL);
	fx_fini(&f);
}
END_TEST

START_TEST(test_create_bad_info)
{
	struct virtio_mmio_host host = { 0 };
	struct virtio_device_info info;
	struct virtio_mmio *t = (struct virtio_mmio *)&host;
	struct fake dev = { 0 };
	struct gmem mem = { 0 };

	host.mem = &mem;
	info = fake_info;
	info.nr_queues = 0;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	ck_assert_ptr_null(t);
	info.nr_queues = VIRTIO_MAX_QUEUES + 1;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	info = fake_info;
	info.queue_max = 0;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	info.queue_max = 3;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	info.queue_max = VIRTQ_MAX_SIZE * 2;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	info = fake_info;
	info.config_size = VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG + 1;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);
	info = fake_info;
	info.features |= 1ULL << VIRTIO_F_RING_PACKED;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), -EINVAL);

	/* The limits themselves are fine. */
	info = fake_info;
	info.nr_queues = VIRTIO_MAX_QUEUES;
	info.queue_max = VIRTQ_MAX_SIZE;
	info.config_size = VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG;
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &fake_ops, &dev, &host), 0);
	ck_assert_ptr_nonnull(virtio_mmio_queue(t, VIRTIO_MAX_QUEUES - 1));
	ck_assert_ptr_null(virtio_mmio_queue(t, VIRTIO_MAX_QUEUES));
	virtio_mmio_destroy(t);
	virtio_mmio_destroy(NULL);
	ck_assert_uint_eq(dev.resets, 0);
}
END_TEST

START_TEST(test_register_overlap)
{
	struct fx f;

	fx_init(&f);
	ck_assert_int_eq(virtio_mmio_register(f.t, f.bus, BASE + VIRTIO_MMIO_WINDOW - 8), -EBUSY);
	fx_fini(&f);
}
END_TEST

/* ---- the Linux init sequence and traffic ---- */

START_TEST(test_init_and_traffic)
{
	struct fx f;
	uint32_t id, len;

	fx_init(&f);
	full_init(&f, F_VERSION_1 | F_DEV);
	ck_assert_uint_eq(f.dev.activates, 1);
	ck_assert_uint_eq(f.dev.act_features, F_VERSION_1 | F_DEV);
	ck_assert_uint_eq(virtio_mmio_features(f.t), F_VERSION_1 | F_DEV);
	ck_assert_uint_eq(virtio_mmio_status(f.t), S_ACK | S_DRV | S_FOK | S_DOK);
	ck_assert(virtq_ready(virtio_mmio_queue(f.t, 0)));
	ck_assert(virtq_ready(virtio_mmio_queue(f.t, 1)));

	/* A kick by register write: the device serves the chain and interrupts. */
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.notified[0], 1);
	ck_assert_int_eq(f.dev.pop_err, -EAGAIN);
	ck_assert_uint_eq(f.dev.completed, 1);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 32);
	ck_assert_uint_eq(f.irqs, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* A kick through an ioeventfd, on the other queue. */
	offer_chain(&f, 1);
	offer_chain(&f, 1);
	virtio_mmio_notify(f.t, 1);
	ck_assert_uint_eq(f.dev.notified[1], 1);
	ck_assert_uint_eq(f.dev.completed, 3);
	ck_assert(rb_get_used(&f.rb[1], &id, &len));
	ck_assert(rb_get_used(&f.rb[1], &id, &len));
	ck_assert(!rb_get_used(&f.rb[1], &id, &len));
	ck_assert_uint_eq(f.irqs, 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);

	/* Each signal is an edge, even with the bit still pending. */
	virtio_mmio_signal_used(f.t);
	ck_assert_uint_eq(f.irqs, 3);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(f.dev.resets, 0);
	fx_fini(&f);
	ck_assert_uint_eq(f.dev.resets, 1); /* destroyed while active */
}
END_TEST

/* The ring format follows the negotiated VIRTIO_RING_F_EVENT_IDX. */
START_TEST(test_event_idx_follows_features)
{
	struct fx f;

	fx_init(&f);
	full_init(&f, F_VERSION_1 | F_EVENT_IDX);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.completed, 1);
	ck_assert_uint_eq(rb_avail_event(&f.rb[0]), 1);
	fx_fini(&f);

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.completed, 1);
	ck_assert_uint_eq(rb_avail_event(&f.rb[0]), 0);
	fx_fini(&f);
}
END_TEST

/* A 64-bit access to a register pair is split by the bus into its two halves. */
START_TEST(test_wide_queue_address)
{
	struct fx f;
	const struct rb *rb;

	fx_init(&f);
	rb = &f.rb[0];
	ck_assert(negotiate(&f, F_VERSION_1));
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xffffffff00000000ULL | rb->desc, 8);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_AVAIL_LOW, rb->avail, 8);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_USED_LOW, rb->used, 8);
	/* The high half made the table land far outside RAM. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(vdrv_status(&f.drv) & S_NR);

	ck_assert(negotiate(&f, F_VERSION_1));
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_DESC_LOW, rb->desc, 8);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_AVAIL_LOW, rb->avail, 8);
	vdrv_wr(&f.drv, VIRTIO_MMIO_QUEUE_USED_LOW, rb->used, 8);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert(!(vdrv_status(&f.drv) & S_NR));
	fx_fini(&f);
}
END_TEST

/* ---- features ---- */

START_TEST(test_features_without_version_1)
{
	struct fx f;

	fx_init(&f);
	ck_assert(!negotiate(&f, F_DEV));
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	/* Without FEATURES_OK the driver cannot go on. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	ck_assert_uint_eq(f.dev.activates, 0);
	/* Features are still open: the driver may try again. */
	vdrv_driver_features(&f.drv, F_DEV | F_VERSION_1);
	vdrv_add_status(&f.drv, S_FOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK);
	fx_fini(&f);
}
END_TEST

START_TEST(test_features_not_offered)
{
	struct fx f;

	fx_init(&f);
	ck_assert(!negotiate(&f, F_VERSION_1 | (1ULL << 5)));
	ck_assert(!negotiate(&f, F_VERSION_1 | (1ULL << 63)));
	ck_assert(!negotiate(&f, F_VERSION_1 | (1ULL << VIRTIO_F_RING_PACKED)));
	ck_assert(!negotiate(&f, F_VERSION_1 | (1ULL << VIRTIO_RING_F_INDIRECT_DESC)));
	ck_assert_uint_eq(f.dev.activates, 0);
	/* Any subset containing VERSION_1 is fine. */
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert(negotiate(&f, OFFERED));
	fx_fini(&f);
}
END_TEST

START_TEST(test_features_write_window)
{
	struct fx f;

	fx_init(&f);
	/* Before DRIVER: ignored. */
	vdrv_add_status(&f.drv, S_ACK);
	vdrv_driver_features(&f.drv, F_VERSION_1);
	ck_assert_uint_eq(virtio_mmio_features(f.t), 0);
	vdrv_add_status(&f.drv, S_DRV);
	vdrv_driver_features(&f.drv, F_VERSION_1 | F_DEV);
	/* Words beyond the second: nothing offered there. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	ck_assert_uint_eq(virtio_mmio_features(f.t), F_VERSION_1 | F_DEV);
	vdrv_add_status(&f.drv, S_FOK);
	ck_assert(vdrv_status(&f.drv) & S_FOK);
	/* After FEATURES_OK: frozen. */
	vdrv_driver_features(&f.drv, F_VERSION_1 | F_EVENT_IDX);
	ck_assert_uint_eq(virtio_mmio_features(f.t), F_VERSION_1 | F_DEV);
	fx_fini(&f);
}
END_TEST

/* ---- status ---- */

START_TEST(test_status_clear_ignored)
{
	struct fx f;

	fx_init(&f);
	vdrv_add_status(&f.drv, S_ACK);
	vdrv_add_status(&f.drv, S_DRV);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, S_ACK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, S_DRV | S_FAILED);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	/* Bits the driver may not set change nothing; not a reset either. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_NR | 0x30 | 0xffff0000);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0x100);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);

	/* FAILED is just recorded; DRIVER_OK after it is not honoured. */
	vdrv_driver_features(&f.drv, F_VERSION_1);
	vdrv_add_status(&f.drv, S_FOK);
	vdrv_add_status(&f.drv, S_FAILED);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_FAILED);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_FAILED);
	ck_assert_uint_eq(f.dev.activates, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_driver_ok_without_features_ok)
{
	struct fx f;

	fx_init(&f);
	vdrv_add_status(&f.drv, S_ACK);
	vdrv_add_status(&f.drv, S_DRV);
	vdrv_driver_features(&f.drv, F_VERSION_1);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV);
	ck_assert_uint_eq(f.dev.activates, 0);
	/* FEATURES_OK and DRIVER_OK in one write: both, in order. */
	vdrv_add_status(&f.drv, S_FOK | S_DOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	ck_assert_uint_eq(f.dev.activates, 1);
	fx_fini(&f);
}
END_TEST

START_TEST(test_reset)
{
	struct fx f;
	uint32_t id, len;

	fx_init(&f);
	/* A reset before DRIVER_OK has no device to stop. */
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(f.dev.resets, 0);
	ck_assert(!virtq_ready(virtio_mmio_queue(f.t, 0)));

	full_init(&f, F_VERSION_1 | F_DEV);
	virtio_mmio_signal_used(f.t);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, NQ);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(f.dev.resets, 1);
	ck_assert_uint_eq(vdrv_status(&f.drv), 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(virtio_mmio_features(f.t), 0);
	for (unsigned int i = 0; i < NQ; i++)
		ck_assert(!virtq_ready(virtio_mmio_queue(f.t, i)));
	/* QueueSel went back to 0 too. */
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
	/* Kicks after a reset reach nobody. */
	virtio_mmio_notify(f.t, 0);
	ck_assert_uint_eq(f.dev.notifies, 0);
	/* A second reset does not reset the device again. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(f.dev.resets, 1);

	/* Ready for a new driver (the rings saw no traffic, so they can be reused). */
	full_init(&f, F_VERSION_1);
	ck_assert_uint_eq(f.dev.activates, 2);
	ck_assert_uint_eq(f.dev.act_features, F_VERSION_1);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.completed, 1);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	fx_fini(&f);
	ck_assert_uint_eq(f.dev.resets, 2);
}
END_TEST

START_TEST(test_activate_failure)
{
	struct fx f;
	unsigned int irqs;

	fx_init(&f);
	f.dev.activate_ret = -EIO;
	irqs = f.irqs;
	ck_assert(negotiate(&f, F_VERSION_1));
	for (unsigned int i = 0; i < NQ; i++)
		ck_assert_uint_eq(vdrv_queue_setup(&f.drv, i, &f.rb[i]), 1);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(f.dev.activates, 1);
	expect_needs_reset(&f, irqs);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	/* A device that did not start gets no kicks and no reset. */
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.notifies, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(f.dev.resets, 0);
	ck_assert_uint_eq(vdrv_status(&f.drv), 0);

	f.dev.activate_ret = 0;
	full_init(&f, F_VERSION_1);
	ck_assert_uint_eq(f.dev.activates, 2);
	fx_fini(&f);
	ck_assert_uint_eq(f.dev.resets, 1);
}
END_TEST

START_TEST(test_device_needs_reset)
{
	struct fx f;
	unsigned int irqs;

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	irqs = f.irqs;
	virtio_mmio_needs_reset(f.t);
	expect_needs_reset(&f, irqs);
	/* The device is stuck until the driver resets it: kicks are dropped. */
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_mmio_notify(f.t, 0);
	ck_assert_uint_eq(f.dev.notifies, 0);
	/* The driver writing the status without the device's bit clears nothing. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	ck_assert(vdrv_status(&f.drv) & S_NR);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_status(&f.drv), 0);
	ck_assert_uint_eq(f.dev.resets, 1);
	fx_fini(&f);
}
END_TEST

/* ---- queues ---- */

static void expect_queue_refused(struct fx *f, unsigned int idx, uint32_t num, uint64_t desc,
				 uint64_t avail, uint64_t used)
{
	unsigned int irqs;

	ck_assert(negotiate(f, F_VERSION_1));
	irqs = f->irqs;
	ck_assert_uint_eq(vdrv_queue_setup_at(&f->drv, idx, num, desc, avail, used), 0);
	expect_needs_reset(f, irqs);
	ck_assert(!virtq_ready(virtio_mmio_queue(f->t, idx)));
	/* DRIVER_OK on a device that needs reset does not start it. */
	vdrv_add_status(&f->drv, S_DOK);
	ck_assert(!(vdrv_status(&f->drv) & S_DOK));
	ck_assert_uint_eq(f->dev.activates, 0);
}

START_TEST(test_queue_bad_size)
{
	struct fx f;
	const struct rb *rb;

	fx_init(&f);
	rb = &f.rb[0];
	expect_queue_refused(&f, 0, 0, rb->desc, rb->avail, rb->used);
	expect_queue_refused(&f, 0, 3, rb->desc, rb->avail, rb->used);
	expect_queue_refused(&f, 0, 12, rb->desc, rb->avail, rb->used);
	expect_queue_refused(&f, 0, QMAX * 2, rb->desc, rb->avail, rb->used);
	expect_queue_refused(&f, 0, 0x80000000, rb->desc, rb->avail, rb->used);
	/* The maximum itself fits in the helper's RAM. */
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup_at(&f.drv, 0, QMAX, RAM0, RAM0 + 0x1000, RAM0 + 0x2000),
			  1);
	fx_fini(&f);
}
END_TEST

START_TEST(test_queue_bad_rings)
{
	struct fx f;
	const struct rb *rb;

	fx_init(&f);
	rb = &f.rb[1];
	expect_queue_refused(&f, 1, QSIZE, rb->desc + 8, rb->avail, rb->used);
	expect_queue_refused(&f, 1, QSIZE, rb->desc, rb->avail + 1, rb->used);
	expect_queue_refused(&f, 1, QSIZE, rb->desc, rb->avail, rb->used + 2);
	/* Outside RAM, across its end, in the gap between regions, at the top of the space. */
	expect_queue_refused(&f, 1, QSIZE, 0x1000, rb->avail, rb->used);
	expect_queue_refused(&f, 1, QSIZE, rb->desc, RAM1 + RAM_SIZE - 4, rb->used);
	expect_queue_refused(&f, 1, QSIZE, rb->desc, rb->avail, RAM0 + RAM_SIZE);
	expect_queue_refused(&f, 1, QSIZE, 0xfffffffffffffff0ULL, rb->avail, rb->used);
	/* Never set: all at 0, outside RAM. */
	ck_assert(negotiate(&f, F_VERSION_1));
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(vdrv_status(&f.drv) & S_NR);
	fx_fini(&f);
}
END_TEST

START_TEST(test_queue_ready_before_features_ok)
{
	struct fx f;

	fx_init(&f);
	vdrv_add_status(&f.drv, S_ACK);
	vdrv_add_status(&f.drv, S_DRV);
	vdrv_driver_features(&f.drv, F_VERSION_1);
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 0);
	ck_assert(!(vdrv_status(&f.drv) & S_NR));
	/* The registers were kept: after FEATURES_OK, QueueReady alone is enough. */
	vdrv_add_status(&f.drv, S_FOK);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	fx_fini(&f);
}
END_TEST

START_TEST(test_queue_writes_after_driver_ok)
{
	struct fx f;
	uint32_t id, len;

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, 1);
	vdrv_queue_addrs(&f.drv, 0x1000, 0x2000, 0x3000);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	/* The queue still runs on its original rings. */
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.completed, 1);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));

	/* A queue the driver left unused cannot be set up late either. */
	fx_fini(&f);
	fx_init(&f);
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(f.dev.activates, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	vdrv_queue_addrs(&f.drv, f.rb[1].desc, f.rb[1].avail, f.rb[1].used);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	offer_chain(&f, 1);
	virtio_mmio_notify(f.t, 1);
	ck_assert_uint_eq(f.dev.notifies, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_queue_writes_while_ready)
{
	struct fx f;
	uint32_t id, len;

	fx_init(&f);
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	/* Ready: the geometry is fixed. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, 2);
	vdrv_queue_addrs(&f.drv, 0x1000, 0x2000, 0x3000);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert(!(vdrv_status(&f.drv) & S_NR));
	/* Before DRIVER_OK the driver may take a queue back and set it up again... */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	/* ...where the writes made while it was ready left no trace. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert(!(vdrv_status(&f.drv) & S_NR));
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 0);
	vdrv_queue_addrs(&f.drv, 0x1000, 0x2000, 0x3000);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(vdrv_status(&f.drv) & S_NR);

	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 1, &f.rb[1]), 1);
	vdrv_add_status(&f.drv, S_DOK);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	fx_fini(&f);
}
END_TEST

START_TEST(test_queue_sel_out_of_range)
{
	static const uint32_t sels[] = { NQ, 7, VIRTIO_MAX_QUEUES, 0xffffffff };
	struct fx f;

	fx_init(&f);
	ck_assert(negotiate(&f, F_VERSION_1));
	for (unsigned int i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, sels[i]);
		ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
		vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		vdrv_queue_addrs(&f.drv, f.rb[0].desc, f.rb[0].avail, f.rb[0].used);
		vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 1);
		ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_QUEUE_READY), 0);
		vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_READY, 0);
	}
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK);
	/* Nothing leaked into the real queues. */
	for (unsigned int i = 0; i < NQ; i++)
		ck_assert(!virtq_ready(virtio_mmio_queue(f.t, i)));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 1, &f.rb[1]), 1);
	fx_fini(&f);
}
END_TEST

START_TEST(test_notify_ignored)
{
	struct fx f;

	fx_init(&f);
	/* Before DRIVER_OK, even with the queue set up. */
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_mmio_notify(f.t, 0);
	ck_assert_uint_eq(f.dev.notifies, 0);

	/* After DRIVER_OK: out of range, or a queue the driver did not set up. */
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(f.dev.activates, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, NQ);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	virtio_mmio_notify(f.t, NQ);
	virtio_mmio_notify(f.t, 100000);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	virtio_mmio_notify(f.t, 1);
	ck_assert_uint_eq(f.dev.notifies, 0);
	ck_assert_uint_eq(f.irqs, 0);
	ck_assert(!(vdrv_status(&f.drv) & S_NR));

	/* The chain offered early is served by the first real kick. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(f.dev.notifies, 1);
	ck_assert_uint_eq(f.dev.completed, 1);
	fx_fini(&f);
}
END_TEST

/* ---- configuration space ---- */

START_TEST(test_config_space)
{
	struct fx f;

	fx_init(&f);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG, 1), 0xa0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + 1, 2), 0xa2a1);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + 4, 4), 0xa7a6a5a4);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + 4, 8), 0xabaaa9a8a7a6a5a4ULL);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE - 1, 1), 0xab);

	/* Past the end, or straddling it: 0, and the device is not asked. */
	f.dev.config_reads = 0;
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE, 1), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE - 2, 4), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE - 1, 2), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_WINDOW - 4, 4), 0);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_WINDOW - 1, 1), 0);
	ck_assert_uint_eq(f.dev.config_reads, 0);

	vdrv_wr(&f.drv, VIRTIO_MMIO_CONFIG + 2, 0x1234, 2);
	ck_assert_uint_eq(f.dev.config_writes, 1);
	ck_assert_uint_eq(f.dev.config[2], 0x34);
	ck_assert_uint_eq(f.dev.config[3], 0x12);
	vdrv_wr(&f.drv, VIRTIO_MMIO_CONFIG + 8, 0xdeadbeef, 4);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + 8, 4), 0xdeadbeef);
	vdrv_wr(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE - 2, 0xffffffff, 4);
	vdrv_wr(&f.drv, VIRTIO_MMIO_CONFIG + CFG_SIZE, 0xff, 1);
	vdrv_wr(&f.drv, VIRTIO_MMIO_WINDOW - 1, 0xff, 1);
	ck_assert_uint_eq(f.dev.config_writes, 2);
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_CONFIG + 8, 4), 0xdeadbeef);

	/* An access running past the window is cut off by the bus. */
	ck_assert_uint_eq(vdrv_rd(&f.drv, VIRTIO_MMIO_WINDOW - 2, 4), 0xffff0000);
	fx_fini(&f);
}
END_TEST

/* A device without config space or a config_write handler. */
START_TEST(test_config_absent)
{
	static const struct virtio_device_ops ops = { .activate = fake_activate };
	struct virtio_device_info info = fake_info;
	struct virtio_mmio_host host = { 0 };
	struct virtio_mmio *t;
	struct fake dev = { 0 };
	struct gmem mem = { 0 };
	struct bus *bus;
	uint8_t b[4] = { 1, 2, 3, 4 };

	info.config_size = 0;
	host.mem = &mem;
	ck_assert_int_eq(bus_create(&bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &ops, &dev, &host), 0);
	ck_assert_int_eq(virtio_mmio_register(t, bus, BASE), 0);
	bus_read(bus, BASE + VIRTIO_MMIO_CONFIG, b, 4);
	ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
	bus_write(bus, BASE + VIRTIO_MMIO_CONFIG, b, 4);
	/* No interrupt hook: signals still set the ISR. */
	virtio_mmio_signal_config(t);
	bus_read(bus, BASE + VIRTIO_MMIO_INTERRUPT_STATUS, b, 4);
	ck_assert_uint_eq(b[0], VIRTIO_MMIO_INT_CONFIG);
	virtio_mmio_destroy(t);
	bus_destroy(bus);

	/* Config space present but read-only. */
	info = fake_info;
	ck_assert_int_eq(bus_create(&bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&t, &info, &ops, &dev, &host), 0);
	ck_assert_int_eq(virtio_mmio_register(t, bus, BASE), 0);
	bus_write(bus, BASE + VIRTIO_MMIO_CONFIG, b, 4);
	bus_read(bus, BASE + VIRTIO_MMIO_CONFIG, b, 4);
	ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
	virtio_mmio_destroy(t);
	bus_destroy(bus);
}
END_TEST

START_TEST(test_config_generation)
{
	struct fx f;
	uint32_t gen;

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	gen = vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_mmio_signal_config(f.t);
	ck_assert_uint_ne(vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	ck_assert_uint_eq(f.irqs, 1);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	virtio_mmio_signal_used(f.t);
	ck_assert_uint_eq(f.irqs, 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS),
			  VIRTIO_MMIO_INT_CONFIG | VIRTIO_MMIO_INT_VRING);
	/* ACK clears only the bits written. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* The ISR is read-only; a write there changes nothing. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	gen = vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_mmio_signal_config(f.t);
	virtio_mmio_signal_config(f.t);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION), gen + 2);
	/* A reset does not take the generation back. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION), gen + 2);
	fx_fini(&f);
}
END_TEST

/* ---- lifetime and threads ---- */

START_TEST(test_destroy)
{
	struct fx f;

	/* Inactive: no reset. */
	fx_init(&f);
	ck_assert(negotiate(&f, F_VERSION_1));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	fx_fini(&f);
	ck_assert_uint_eq(f.dev.resets, 0);

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	fx_fini(&f);
	ck_assert_uint_eq(f.dev.resets, 1);
}
END_TEST

#define COMPLETIONS 20000

/* A completion thread, as a backend would run one: takes the lock, signals. */
static void *completer(void *arg)
{
	struct fx *f = arg;

	for (unsigned int i = 0; i < COMPLETIONS; i++) {
		virtio_mmio_lock(f->t);
		virtio_mmio_lock(f->t); /* the lock nests */
		virtio_mmio_signal_used(f->t);
		virtio_mmio_unlock(f->t);
		virtio_mmio_unlock(f->t);
		if (i % 2)
			virtio_mmio_signal_config(f->t);
	}
	return NULL;
}

START_TEST(test_signal_from_thread)
{
	struct fx f;
	pthread_t th;
	uint32_t isr;

	fx_init(&f);
	full_init(&f, F_VERSION_1);
	ck_assert_int_eq(pthread_create(&th, NULL, completer, &f), 0);
	/* The guest's interrupt handler, racing with the completions. */
	for (unsigned int i = 0; i < COMPLETIONS; i++) {
		isr = vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS);
		ck_assert_uint_eq(isr & ~3u, 0);
		vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(f.irqs, COMPLETIONS + COMPLETIONS / 2);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_CONFIG_GENERATION), COMPLETIONS / 2);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	fx_fini(&f);
}
END_TEST

/* ---- snapshots ---- */

/*
 * Transport B: what a new process creates for the same device, with a fresh
 * device instance, over the same guest memory (which holds the same bytes).
 */
struct peer {
	struct bus *bus;
	struct virtio_mmio *t;
	struct fake dev;
	struct vdrv drv;
	unsigned int irqs;
};

static void record_peer_irq(void *opaque)
{
	struct peer *p = opaque;

	__atomic_fetch_add(&p->irqs, 1, __ATOMIC_RELAXED);
}

static void peer_init(struct fx *f, struct peer *p)
{
	struct virtio_mmio_host host = { .mem = &f->mem,
					 .interrupt = record_peer_irq,
					 .irq_opaque = p };

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(bus_create(&p->bus, "mmio", 0), 0);
	ck_assert_int_eq(virtio_mmio_create(&p->t, &fake_info, &fake_ops, &p->dev, &host), 0);
	p->dev.t = p->t;
	ck_assert_int_eq(virtio_mmio_register(p->t, p->bus, BASE), 0);
	vdrv_init(&p->drv, p->bus, BASE, QMAX);
}

static void peer_fini(struct peer *p)
{
	virtio_mmio_destroy(p->t);
	bus_destroy(p->bus);
}

/* B reads as a transport just created, and its device was never started. */
static void expect_untouched(struct peer *p)
{
	ck_assert_uint_eq(vdrv_status(&p->drv), 0);
	ck_assert_uint_eq(virtio_mmio_features(p->t), 0);
	ck_assert_uint_eq(vdrv_rd32(&p->drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(vdrv_rd32(&p->drv, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* QueueSel and DeviceFeaturesSel at 0. */
	ck_assert_uint_eq(vdrv_rd32(&p->drv, VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
	ck_assert_uint_eq(vdrv_rd32(&p->drv, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)OFFERED);
	for (unsigned int i = 0; i < NQ; i++)
		ck_assert(!virtq_ready(virtio_mmio_queue(p->t, i)));
	ck_assert_uint_eq(p->dev.activates, 0);
	ck_assert_uint_eq(p->dev.resets, 0);
	ck_assert_uint_eq(p->dev.notifies, 0);
	ck_assert_uint_eq(p->irqs, 0);
}

#define F_RUN (F_VERSION_1 | F_EVENT_IDX | F_DEV)

/* A started on both queues, 2 chains served on queue 0 and 1 on queue 1, then saved. */
static void running_state(struct fx *f, struct virtio_mmio_state *st)
{
	full_init(f, F_RUN);
	offer_chain(f, 0);
	offer_chain(f, 0);
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	offer_chain(f, 1);
	virtio_mmio_notify(f->t, 1);
	ck_assert_uint_eq(f->dev.completed, 3);
	ck_assert_int_eq(virtio_mmio_save(f->t, st), 0);
}

START_TEST(test_snapshot_continues)
{
	static const struct virtio_mmio_queue_state unused;
	struct virtio_mmio_state st;
	struct peer p;
	struct fx f;
	uint32_t id, len;
	uint16_t pending[2];

	fx_init(&f);
	full_init(&f, F_RUN);
	offer_chain(&f, 0);
	offer_chain(&f, 0);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	offer_chain(&f, 1);
	virtio_mmio_notify(f.t, 1);
	ck_assert_uint_eq(f.dev.completed, 3);
	ck_assert_uint_eq(f.irqs, 2);
	virtio_mmio_signal_config(f.t);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	/* Two chains made available, not kicked for yet: the device has not seen them. */
	pending[0] = f.rb[0].next_desc;
	offer_chain(&f, 0);
	pending[1] = f.rb[0].next_desc;
	offer_chain(&f, 0);
	/* Selectors left where a driver might leave them. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_QUEUE_SEL, 5);

	memset(&st, 0xa5, sizeof(st));
	ck_assert_int_eq(virtio_mmio_save(f.t, &st), 0);
	ck_assert_uint_eq(st.version, VIRTIO_MMIO_STATE_VERSION);
	ck_assert_uint_eq(st.device_id, DEV_ID);
	ck_assert_uint_eq(st.nr_queues, NQ);
	ck_assert_uint_eq(st.queue_max, QMAX);
	ck_assert_uint_eq(st.status, S_ACK | S_DRV | S_FOK | S_DOK);
	ck_assert_uint_eq(st.active, 1);
	ck_assert_uint_eq(st.isr, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(st.generation, 1);
	ck_assert_uint_eq(st.driver_features, F_RUN);
	ck_assert_uint_eq(st.dev_features_sel, 1);
	ck_assert_uint_eq(st.drv_features_sel, 1);
	ck_assert_uint_eq(st.queue_sel, 5);
	ck_assert_uint_eq(st.q[0].num, QSIZE);
	ck_assert_uint_eq(st.q[0].desc, f.rb[0].desc);
	ck_assert_uint_eq(st.q[0].driver, f.rb[0].avail);
	ck_assert_uint_eq(st.q[0].device, f.rb[0].used);
	ck_assert_uint_eq(st.q[0].vq.ready, 1);
	ck_assert_uint_eq(st.q[0].vq.used_idx, 2);
	ck_assert_uint_eq(st.q[0].vq.last_avail, 2);
	ck_assert_uint_eq(st.q[0].vq.event_idx, 1);
	ck_assert_uint_eq(st.q[1].vq.used_idx, 1);
	for (unsigned int i = NQ; i < VIRTIO_MAX_QUEUES; i++)
		ck_assert_mem_eq(&st.q[i], &unused, sizeof(unused));

	/* The old process is gone; guest memory stays. */
	virtio_mmio_destroy(f.t);
	f.t = NULL;
	peer_init(&f, &p);
	ck_assert_int_eq(virtio_mmio_restore(p.t, &st), 0);
	ck_assert_uint_eq(p.dev.activates, 1);
	ck_assert_uint_eq(p.dev.act_features, F_RUN);
	ck_assert_uint_eq(virtio_mmio_features(p.t), F_RUN);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK | S_DOK);
	/* The restore kicked each queue: the two chains left were taken, the used index went on. */
	ck_assert_uint_eq(p.dev.notified[0], 1);
	ck_assert_uint_eq(p.dev.notified[1], 1);
	ck_assert_uint_eq(p.dev.completed, 2);
	ck_assert_uint_eq(rb_used_idx(&f.rb[0]), 4);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	ck_assert_uint_eq(id, pending[0]);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	ck_assert_uint_eq(id, pending[1]);
	ck_assert_uint_eq(len, 32);
	ck_assert(!rb_get_used(&f.rb[0], &id, &len));
	/*
	 * One interrupt: InterruptStatus raised again. The two pushes do not
	 * cross used_event (0) since the last signal, at used index 2.
	 */
	ck_assert_uint_eq(p.irqs, 1);
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	/* The selectors came along: word 1 of the features, and a queue that does not exist. */
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_DEVICE_FEATURES),
			  (uint32_t)(OFFERED >> 32));
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_QUEUE_READY), 0);
	for (unsigned int i = 0; i < NQ; i++) {
		vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_SEL, i);
		ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	}

	/* The driver goes on with B. */
	vdrv_wr32(&p.drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	offer_chain(&f, 1);
	vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ck_assert_uint_eq(p.dev.notified[1], 2);
	ck_assert_uint_eq(p.dev.completed, 3);
	ck_assert_uint_eq(rb_used_idx(&f.rb[1]), 2);
	ck_assert_uint_eq(rb_avail_event(&f.rb[1]), 2);
	ck_assert_uint_eq(p.dev.activates, 1);
	/* And a reset stops the device B started. */
	vdrv_wr32(&p.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(p.dev.resets, 1);
	peer_fini(&p);
	fx_fini(&f);
}
END_TEST

static void expect_refused(struct peer *p, const struct virtio_mmio_state *st)
{
	ck_assert_int_eq(virtio_mmio_restore(p->t, st), -EINVAL);
	expect_untouched(p);
}

START_TEST(test_snapshot_refusals)
{
	struct virtio_mmio_state good, st;
	struct peer p;
	struct fx f;
	uint16_t avail;

	fx_init(&f);
	running_state(&f, &good);
	peer_init(&f, &p);

	/* Another device. */
	st = good;
	st.version = 2;
	expect_refused(&p, &st);
	st = good;
	st.device_id = DEV_ID + 1;
	expect_refused(&p, &st);
	st = good;
	st.nr_queues = 1;
	expect_refused(&p, &st);
	st = good;
	st.queue_max = QMAX / 2;
	expect_refused(&p, &st);

	/* A status no driver could have reached here. */
	st = good;
	st.status |= 0x20;
	expect_refused(&p, &st);
	st = good;
	st.status &= ~(uint32_t)S_FOK;
	expect_refused(&p, &st);
	st = good;
	st.status = S_ACK | S_DRV | S_FOK; /* started without DRIVER_OK */
	expect_refused(&p, &st);
	st = good;
	st.active = 0; /* not started, yet no NEEDS_RESET */
	expect_refused(&p, &st);
	st = good;
	st.active = 2;
	expect_refused(&p, &st);
	st = good;
	st.status = S_ACK | S_DRV; /* ready queues before FEATURES_OK */
	st.active = 0;
	expect_refused(&p, &st);
	st = good;
	st.status = S_ACK;
	st.active = 0;
	memset(st.q, 0, sizeof(st.q)); /* features without DRIVER */
	expect_refused(&p, &st);

	/* Features FEATURES_OK would not have let stand. */
	st = good;
	st.driver_features |= 1ULL << 5;
	expect_refused(&p, &st);
	st = good;
	st.driver_features &= ~F_VERSION_1;
	expect_refused(&p, &st);
	st = good;
	st.isr = 4;
	expect_refused(&p, &st);
	st = good;
	st.pad[3] = 1;
	expect_refused(&p, &st);

	/* Queues: geometry, through QueueReady's checks. */
	st = good;
	st.q[0].pad = 1;
	expect_refused(&p, &st);
	st = good;
	st.q[NQ].num = 1;
	expect_refused(&p, &st);
	st = good;
	st.q[0].num = st.q[0].vq.size = 3;
	expect_refused(&p, &st);
	st = good;
	st.q[0].num = st.q[0].vq.size = 2 * QMAX;
	expect_refused(&p, &st);
	st = good;
	st.q[0].vq.max_size = 2 * QMAX;
	expect_refused(&p, &st);
	st = good;
	st.q[0].desc = st.q[0].vq.desc = f.rb[0].desc + 8;
	expect_refused(&p, &st);
	st = good;
	st.q[0].desc = st.q[0].vq.desc = 0x1000; /* not RAM */
	expect_refused(&p, &st);
	st = good;
	st.q[1].device = st.q[1].vq.used = RAM1 + RAM_SIZE - 4; /* across RAM's end */
	expect_refused(&p, &st);
	st = good;
	st.q[1].driver = st.q[1].vq.avail = f.rb[0].avail; /* another queue's ring: fine */
	st.q[1].device = st.q[1].vq.used = st.q[1].driver; /* over its own avail ring: not */
	expect_refused(&p, &st);
	st = good;
	st.q[0].desc += 16; /* the register unlike the ring */
	expect_refused(&p, &st);
	st = good;
	st.q[0].vq.event_idx = 0; /* unlike the features */
	expect_refused(&p, &st);
	st = good;
	st.q[0].vq.ready = 0; /* the rest of a queue not ready must be zero */
	expect_refused(&p, &st);

	/* Indices, against each other and against the rings in guest memory. */
	st = good;
	st.q[0].vq.last_avail = st.q[0].vq.used_idx = 1; /* used->idx is 2 */
	expect_refused(&p, &st);
	st = good;
	st.q[0].vq.last_avail++;
	st.q[0].vq.inflight = 1;
	expect_refused(&p, &st);
	/* Queue 1 fails after queue 0 was set up: that is undone too. */
	st = good;
	st.q[1].vq.last_avail = st.q[1].vq.used_idx = 5;
	expect_refused(&p, &st);
	avail = *(uint16_t *)rb_host(&f.rb[0], f.rb[0].avail + 2);
	rb_set_avail_idx(&f.rb[0], (uint16_t)(2 + QSIZE + 1));
	expect_refused(&p, &good);
	rb_set_avail_idx(&f.rb[0], avail);

	/* The device failing to start: its error, and B as it was, without NEEDS_RESET. */
	p.dev.activate_ret = -EIO;
	st = good;
	st.generation = 7;
	st.isr = VIRTIO_MMIO_INT_CONFIG;
	ck_assert_int_eq(virtio_mmio_restore(p.t, &st), -EIO);
	ck_assert_uint_eq(p.dev.activates, 1);
	p.dev.activates = 0;
	expect_untouched(&p);

	/* After all that, B takes the good state; and only once. */
	p.dev.activate_ret = 0;
	ck_assert_int_eq(virtio_mmio_restore(p.t, &good), 0);
	ck_assert_uint_eq(p.dev.activates, 1);
	ck_assert_int_eq(virtio_mmio_restore(p.t, &good), -EBUSY);
	ck_assert_uint_eq(p.dev.activates, 1);
	peer_fini(&p);

	/* A transport the driver has started taking is not restored over. */
	peer_init(&f, &p);
	vdrv_add_status(&p.drv, S_ACK);
	ck_assert_int_eq(virtio_mmio_restore(p.t, &good), -EBUSY);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK);
	peer_fini(&p);
	fx_fini(&f);
}
END_TEST

START_TEST(test_snapshot_busy)
{
	struct virtio_mmio_state st;
	struct iovec iov[4];
	struct virtq_chain c = { .iov = iov, .max = 4 };
	struct virtq *q;
	struct peer p;
	struct fx f;
	uint16_t head;

	fx_init(&f);
	full_init(&f, F_RUN);
	q = virtio_mmio_queue(f.t, 0);
	/* The device holds a chain, as one waiting for its backend would. */
	offer_chain(&f, 0);
	ck_assert_int_eq(virtq_pop(q, &c), 0);
	head = c.head;
	memset(&st, 0xa5, sizeof(st));
	ck_assert_int_eq(virtio_mmio_save(f.t, &st), -EBUSY);
	ck_assert_uint_eq(st.version, 0);
	ck_assert_uint_eq(st.status, 0);
	ck_assert_int_eq(virtq_push(q, head, 0), 0);
	ck_assert_int_eq(virtio_mmio_save(f.t, &st), 0);

	/*
	 * A chain in flight on a broken queue is never pushed: no reason to
	 * refuse. The broken queue and NEEDS_RESET carry over.
	 */
	offer_chain(&f, 0);
	ck_assert_int_eq(virtq_pop(q, &c), 0);
	rb_set_avail_idx(&f.rb[0], 2 + QSIZE + 1);
	ck_assert_int_eq(virtq_pop(q, &c), -EPROTO);
	virtio_mmio_needs_reset(f.t);
	ck_assert_int_eq(virtio_mmio_save(f.t, &st), 0);
	ck_assert_uint_eq(st.q[0].vq.broken, 1);
	ck_assert_uint_eq(st.q[0].vq.inflight, 1);
	ck_assert_uint_eq(st.status, S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	ck_assert_uint_eq(st.isr, VIRTIO_MMIO_INT_CONFIG);

	peer_init(&f, &p);
	ck_assert_int_eq(virtio_mmio_restore(p.t, &st), 0);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	ck_assert(virtq_broken(virtio_mmio_queue(p.t, 0)));
	/* Started as it was, but kicks do not reach a device that needs a reset. */
	ck_assert_uint_eq(p.dev.activates, 1);
	ck_assert_uint_eq(p.dev.notifies, 0);
	ck_assert_uint_eq(p.irqs, 1);
	/* The driver's reset stops it. */
	vdrv_wr32(&p.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(p.dev.resets, 1);
	peer_fini(&p);
	fx_fini(&f);
}
END_TEST

/* Saves A, restores into a new B; the caller checks B. */
static void save_into_peer(struct fx *f, struct peer *p)
{
	struct virtio_mmio_state st;

	ck_assert_int_eq(virtio_mmio_save(f->t, &st), 0);
	peer_init(f, p);
	ck_assert_int_eq(virtio_mmio_restore(p->t, &st), 0);
}

START_TEST(test_snapshot_before_driver_ok)
{
	struct virtio_mmio_state st, bad;
	struct peer p;
	struct fx f;
	uint32_t id, len;

	/* Mid-negotiation: features written, queue 0's registers too, no FEATURES_OK yet. */
	fx_init(&f);
	vdrv_add_status(&f.drv, S_ACK);
	vdrv_add_status(&f.drv, S_DRV);
	vdrv_driver_features(&f.drv, F_VERSION_1 | F_DEV);
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 0);
	save_into_peer(&f, &p);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV);
	ck_assert_uint_eq(virtio_mmio_features(p.t), F_VERSION_1 | F_DEV);
	ck_assert_uint_eq(p.dev.activates, 0);
	ck_assert_uint_eq(p.irqs, 0);
	/* The driver goes on with B: the queue registers it wrote to A are there. */
	vdrv_add_status(&p.drv, S_FOK);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK);
	vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_uint_eq(vdrv_queue_setup(&p.drv, 1, &f.rb[1]), 1);
	vdrv_add_status(&p.drv, S_DOK);
	ck_assert_uint_eq(p.dev.activates, 1);
	ck_assert_uint_eq(p.dev.act_features, F_VERSION_1 | F_DEV);
	offer_chain(&f, 0);
	vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	peer_fini(&p);
	fx_fini(&f);

	/* FEATURES_OK and a queue ready: the queue comes along, the device is not started. */
	fx_init(&f);
	ck_assert(negotiate(&f, F_VERSION_1 | F_EVENT_IDX));
	ck_assert_uint_eq(vdrv_queue_setup(&f.drv, 0, &f.rb[0]), 1);
	offer_chain(&f, 0);
	ck_assert_int_eq(virtio_mmio_save(f.t, &st), 0);
	peer_init(&f, &p);
	/* A device never started cannot have moved anything on a ring. */
	bad = st;
	bad.q[0].vq.notify = 0;
	expect_refused(&p, &bad);
	bad = st;
	bad.q[0].vq.signalled_used = 1;
	expect_refused(&p, &bad);
	ck_assert_int_eq(virtio_mmio_restore(p.t, &st), 0);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK);
	ck_assert(virtq_ready(virtio_mmio_queue(p.t, 0)));
	ck_assert(!virtq_ready(virtio_mmio_queue(p.t, 1)));
	ck_assert_uint_eq(p.dev.activates, 0);
	ck_assert_uint_eq(p.dev.notifies, 0);
	ck_assert_uint_eq(vdrv_queue_setup(&p.drv, 1, &f.rb[1]), 1);
	vdrv_add_status(&p.drv, S_DOK);
	ck_assert_uint_eq(p.dev.activates, 1);
	ck_assert_uint_eq(p.dev.act_features, F_VERSION_1 | F_EVENT_IDX);
	/* The chain offered before DRIVER_OK is served at the first kick. */
	vdrv_wr32(&p.drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(p.dev.completed, 1);
	ck_assert(rb_get_used(&f.rb[0], &id, &len));
	peer_fini(&p);
	fx_fini(&f);

	/* The device failed to start: it stays not started, NEEDS_RESET and all. */
	fx_init(&f);
	f.dev.activate_ret = -EIO;
	ck_assert(negotiate(&f, F_VERSION_1));
	vdrv_queues(&f.drv, f.rb, 3);
	vdrv_add_status(&f.drv, S_DOK);
	ck_assert_uint_eq(vdrv_status(&f.drv), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	save_into_peer(&f, &p);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
	ck_assert_uint_eq(p.dev.activates, 0);
	ck_assert_uint_eq(vdrv_rd32(&p.drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(p.irqs, 1);
	vdrv_wr32(&p.drv, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(p.dev.resets, 0);
	peer_fini(&p);
	fx_fini(&f);

	/* The driver gave up after DRIVER_OK: FAILED is kept, the device runs as it did. */
	fx_init(&f);
	full_init(&f, F_VERSION_1);
	vdrv_add_status(&f.drv, S_FAILED);
	save_into_peer(&f, &p);
	ck_assert_uint_eq(vdrv_status(&p.drv), S_ACK | S_DRV | S_FOK | S_DOK | S_FAILED);
	ck_assert_uint_eq(p.dev.activates, 1);
	peer_fini(&p);
	fx_fini(&f);
}
END_TEST

static Suite *mmio_suite(void)
{
	Suite *s = suite_create("virtio-mmio");
	TCase *regs = tcase_create("registers");
	TCase *init = tcase_create("init");
	TCase *bad = tcase_create("refusals");
	TCase *snap = tcase_create("snapshots");

	tcase_add_test(regs, test_identity);
	tcase_add_test(regs, test_create_bad_info);
	tcase_add_test(regs, test_register_overlap);
	tcase_add_test(regs, test_config_space);
	tcase_add_test(regs, test_config_absent);
	tcase_add_test(regs, test_config_generation);
	suite_add_tcase(s, regs);

	tcase_add_test(init, test_init_and_traffic);
	tcase_add_test(init, test_event_idx_follows_features);
	tcase_add_test(init, test_wide_queue_address);
	tcase_add_test(init, test_reset);
	tcase_add_test(init, test_destroy);
	tcase_add_test(init, test_signal_from_thread);
	tcase_set_timeout(init, 30);
	suite_add_tcase(s, init);

	tcase_add_test(bad, test_features_without_version_1);
	tcase_add_test(bad, test_features_not_offered);
	tcase_add_test(bad, test_features_write_window);
	tcase_add_test(bad, test_status_clear_ignored);
	tcase_add_test(bad, test_driver_ok_without_features_ok);
	tcase_add_test(bad, test_activate_failure);
	tcase_add_test(bad, test_device_needs_reset);
	tcase_add_test(bad, test_queue_bad_size);
	tcase_add_test(bad, test_queue_bad_rings);
	tcase_add_test(bad, test_queue_ready_before_features_ok);
	tcase_add_test(bad, test_queue_writes_after_driver_ok);
	tcase_add_test(bad, test_queue_writes_while_ready);
	tcase_add_test(bad, test_queue_sel_out_of_range);
	tcase_add_test(bad, test_notify_ignored);
	suite_add_tcase(s, bad);

	tcase_add_test(snap, test_snapshot_continues);
	tcase_add_test(snap, test_snapshot_refusals);
	tcase_add_test(snap, test_snapshot_busy);
	tcase_add_test(snap, test_snapshot_before_driver_ok);
	suite_add_tcase(s, snap);
	return s;
}

int main(void)
{
	const char *lvl = getenv("EMBER_LOG");
	enum log_level level = LOG_LVL_ERROR;

	/* The refusals log by design; keep the output to the verdicts unless asked. */
	if (lvl && log_parse_level(lvl, &level) < 0)
		level = LOG_LVL_ERROR;
	log_set_level(level);
	return unit_run(mmio_suite());
}
