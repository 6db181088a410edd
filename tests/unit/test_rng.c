// SPDX-License-Identifier: MIT
/*
 * virtio-rng through its virtio-mmio window, as a driver sees it: the
 * registers on a real MMIO bus, a ring in synthetic guest RAM, and a fake
 * entropy source, clock and timer that the test steers.
 */
#include "config.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

#define BASE 0xd0000000ULL
#define RAM_BASE 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define QSIZE RNG_QUEUE_SIZE
#define T0 (5 * NSEC_PER_SEC)
#define LOG_MAX (2U << 20)
#define SENTINEL 0xa5
#define MS NSEC_PER_MSEC

struct fx {
	struct rb rb;
	struct bus *bus;
	struct virtio_mmio *t;
	struct rng *rng;
	struct vdrv drv;
	unsigned int irqs;

	uint64_t now;
	uint64_t deadline; /* the last one armed */
	unsigned int arms;

	/* The source: a byte stream, logged; script[] overrides its next calls. */
	uint32_t seed;
	uint8_t *log;
	size_t logged;
	ssize_t script[8]; /* <0: that error; >=0: at most that many bytes */
	unsigned int nscript, scripted;
	unsigned int fills;
};

static ssize_t fake_fill(void *opaque, void *buf, size_t len)
{
	struct fx *f = opaque;
	uint8_t *p = buf;

	ck_assert_uint_gt(len, 0);
	/* Only ever the guest's buffers. */
	ck_assert(p >= f->rb.ram && len <= f->rb.ram_size &&
		  (size_t)(p - f->rb.ram) <= f->rb.ram_size - len);
	f->fills++;
	if (f->scripted < f->nscript) {
		ssize_t s = f->script[f->scripted++];

		if (s < 0)
			return s;
		if ((size_t)s < len)
			len = (size_t)s;
	}
	for (size_t i = 0; i < len; i++) {
		f->seed = f->seed * 1103515245U + 12345U;
		p[i] = (uint8_t)(f->seed >> 16);
		if (f->logged < LOG_MAX)
			f->log[f->logged++] = p[i];
	}
	return (ssize_t)len;
}

static uint64_t fake_now(void *opaque)
{
	return ((struct fx *)opaque)->now;
}

static void fake_arm(void *opaque, uint64_t deadline)
{
	struct fx *f = opaque;

	f->deadline = deadline;
	f->arms++;
}

static void record_irq(void *opaque)
{
	((struct fx *)opaque)->irqs++;
}

/* --- the driver's side ---------------------------------------------------------- */

/* What Linux's virtio-mmio driver does, up to DRIVER_OK, with the ring at the helper's place. */
static void driver_start(struct fx *f, bool event_idx)
{
	uint64_t feat = vdrv_device_features(&f->drv);

	if (!event_idx)
		feat &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	vdrv_start(&f->drv, feat, &f->rb, 1);
}

static void fx_init_cfg(struct fx *f, uint64_t max_bytes, uint64_t period_ms)
{
	struct virtio_mmio_host mh = { .interrupt = record_irq, .irq_opaque = f };
	struct rng_config cfg = { .max_bytes = max_bytes, .period_ms = period_ms, .name = "rng0" };
	struct rng_host host = {
		.fill = fake_fill,
		.now_ns = fake_now,
		.arm_timer = fake_arm,
		.opaque = f,
	};
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;

	memset(f, 0, sizeof(*f));
	f->now = T0;
	f->seed = 1;
	f->log = malloc(LOG_MAX);
	ck_assert_ptr_nonnull(f->log);
	ck_assert_int_eq(rb_init(&f->rb, RAM_BASE, RAM_SIZE, QSIZE), 0);
	mh.mem = &f->rb.mem;
	ck_assert_int_eq(bus_create(&f->bus, "mmio", 0), 0);
	ck_assert_int_eq(rng_create(&f->rng, &cfg, &host), 0);
	rng_device(f->rng, &info, &ops);
	ck_assert_int_eq(virtio_mmio_create(&f->t, &info, ops, f->rng, &mh), 0);
	virtio_mmio_transport(f->t, &tr);
	rng_attach(f->rng, &tr);
	ck_assert_int_eq(virtio_mmio_register(f->t, f->bus, BASE), 0);
	vdrv_init(&f->drv, f->bus, BASE, RNG_QUEUE_SIZE);
	driver_start(f, true);
}

static void fx_init(struct fx *f)
{
	fx_init_cfg(f, RNG_DEFAULT_MAX_BYTES, RNG_DEFAULT_PERIOD_MS);
}

static void fx_fini(struct fx *f)
{
	virtio_mmio_destroy(f->t);
	rng_destroy(f->rng);
	bus_destroy(f->bus);
	rb_destroy(&f->rb);
	free(f->log);
}

static void kick(struct fx *f)
{
	vdrv_wr32(&f->drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* The timer fires at its deadline. */
static void fire(struct fx *f)
{
	if (f->now < f->deadline)
		f->now = f->deadline;
	rng_timer(f->rng);
}

/* One chain of n writable buffers of `len` bytes each, filled with SENTINEL, published. */
static uint16_t post(struct fx *f, unsigned int n, uint32_t len, uint64_t *gpa)
{
	struct rb_seg segs[8];
	uint16_t head;

	ck_assert_uint_le(n, 8);
	for (unsigned int i = 0; i < n; i++)
		segs[i] = (struct rb_seg){ .len = len, .write = true };
	head = rb_add_chain(&f->rb, segs, n);
	for (unsigned int i = 0; i < n; i++) {
		memset(rb_host(&f->rb, segs[i].gpa), SENTINEL, len);
		if (gpa)
			gpa[i] = segs[i].gpa;
	}
	rb_publish(&f->rb, head);
	return head;
}

static uint8_t *host(struct fx *f, uint64_t gpa)
{
	return rb_host(&f->rb, gpa);
}

/* The next used element is `head` with `len` written. */
static void expect_used(struct fx *f, uint16_t head, uint32_t len)
{
	uint32_t id, l;

	ck_assert_msg(rb_get_used(&f->rb, &id, &l), "no used element for head %u", head);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(l, len);
}

static void expect_no_used(struct fx *f)
{
	uint32_t id, l;

	ck_assert(!rb_get_used(&f->rb, &id, &l));
}

static bool all_sentinel(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != SENTINEL)
			return false;
	}
	return true;
}

/* --- tests ---------------------------------------------------------------------- */

START_TEST(identity)
{
	struct fx f;

	fx_init(&f);
	ck_assert_uint_eq(vdrv_rd32(&f.drv, VIRTIO_MMIO_DEVICE_ID), 4);
	/* No device features: ring features and VERSION_1 alone. */
	ck_assert_uint_eq(vdrv_device_features(&f.drv) & ((1ULL << 24) - 1), 0);
	ck_assert(vdrv_device_features(&f.drv) & (1ULL << VIRTIO_F_VERSION_1));
	fx_fini(&f);
}
END_TEST

START_TEST(fills_with_source_bytes)
{
	struct fx f;
	uint64_t gpa[2];
	uint16_t head;

	fx_init(&f);
	head = post(&f, 2, 300, gpa);
	kick(&f);
	expect_used(&f, head, 600);
	ck_assert_uint_eq(f.logged, 600);
	ck_assert_mem_eq(host(&f, gpa[0]), f.log, 300);
	ck_assert_mem_eq(host(&f, gpa[1]), f.log + 300, 300);
	ck_assert_uint_eq(f.irqs, 1);
	ck_assert_uint_eq(f.arms, 0);

	/* Through an indirect table too. */
	{
		struct rb_seg segs[3] = { { .len = 8, .write = true },
					  { .len = 24, .write = true },
					  { .len = 1, .write = true } };

		head = rb_add_indirect(&f.rb, segs, 3);
		rb_publish(&f.rb, head);
		kick(&f);
		expect_used(&f, head, 33);
		ck_assert_mem_eq(host(&f, segs[0].gpa), f.log + 600, 8);
		ck_assert_mem_eq(host(&f, segs[1].gpa), f.log + 608, 24);
		ck_assert_mem_eq(host(&f, segs[2].gpa), f.log + 632, 1);
	}
	{
		struct rng_stats st;

		rng_get_stats(f.rng, &st);
		ck_assert_uint_eq(st.requests, 2);
		ck_assert_uint_eq(st.bytes, 633);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(distinct_requests_get_distinct_bytes)
{
	struct fx f;
	uint64_t a, b;
	uint16_t ha, hb;

	fx_init(&f);
	ha = post(&f, 1, 64, &a);
	hb = post(&f, 1, 64, &b);
	kick(&f);
	expect_used(&f, ha, 64);
	expect_used(&f, hb, 64);
	ck_assert_mem_eq(host(&f, a), f.log, 64);
	ck_assert_mem_eq(host(&f, b), f.log + 64, 64);
	ck_assert(memcmp(host(&f, a), host(&f, b), 64) != 0);
	fx_fini(&f);
}
END_TEST

START_TEST(rate_limit_stalls_until_the_period_ends)
{
	struct fx f;
	uint64_t gpa[4];
	uint16_t h[4];
	uint64_t start;

	fx_init_cfg(&f, 1024, 1000);
	for (int i = 0; i < 4; i++)
		h[i] = post(&f, 1, 512, &gpa[i]);
	start = f.now;
	kick(&f);
	expect_used(&f, h[0], 512);
	expect_used(&f, h[1], 512);
	expect_no_used(&f);
	ck_assert(all_sentinel(host(&f, gpa[2]), 512));
	ck_assert_uint_eq(f.arms, 1);
	ck_assert_uint_eq(f.deadline, start + 1000 * MS);

	/* A kick, or a timer early, changes nothing. */
	f.now += 400 * MS;
	kick(&f);
	f.now += 599 * MS;
	rng_timer(f.rng);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, start + 1000 * MS);
	ck_assert_uint_eq(f.logged, 1024);

	/* At the deadline: a new period, a full quota, the rest served. */
	fire(&f);
	expect_used(&f, h[2], 512);
	expect_used(&f, h[3], 512);
	ck_assert_mem_eq(host(&f, gpa[3]), f.log + 1536, 512);

	/* The new period started with those bytes, and its quota is spent. */
	start = f.now;
	h[0] = post(&f, 1, 16, NULL);
	f.now += 10 * MS;
	kick(&f);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, start + 1000 * MS);
	fire(&f);
	expect_used(&f, h[0], 16);
	{
		struct rng_stats st;

		rng_get_stats(f.rng, &st);
		ck_assert_uint_eq(st.bytes, 2048 + 16);
		ck_assert_uint_ge(st.throttled, 2);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(partial_fill_when_quota_is_short)
{
	struct fx f;
	uint64_t gpa[2];
	uint16_t h;

	fx_init_cfg(&f, 100, 50);
	h = post(&f, 2, 64, gpa);
	kick(&f);
	/* 100 bytes: the first buffer whole, 36 of the second. */
	expect_used(&f, h, 100);
	ck_assert_mem_eq(host(&f, gpa[0]), f.log, 64);
	ck_assert_mem_eq(host(&f, gpa[1]), f.log + 64, 36);
	ck_assert(all_sentinel(host(&f, gpa[1]) + 36, 28));

	h = post(&f, 1, 512, gpa);
	kick(&f);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, T0 + 50 * MS);
	fire(&f);
	expect_used(&f, h, 100);
	ck_assert(all_sentinel(host(&f, gpa[0]) + 100, 412));
	fx_fini(&f);
}
END_TEST

START_TEST(readable_buffers_are_given_back_empty)
{
	struct fx f;
	struct rb_seg ro[1] = { { .len = 32 } };
	struct rb_seg mixed[2] = { { .len = 16 }, { .len = 64, .write = true } };
	uint16_t h1, h2, h3;
	struct rng_stats st;

	fx_init(&f);
	h1 = rb_add_chain(&f.rb, ro, 1);
	rb_publish(&f.rb, h1);
	h2 = rb_add_chain(&f.rb, mixed, 2);
	memset(host(&f, mixed[1].gpa), SENTINEL, 64);
	rb_publish(&f.rb, h2);
	h3 = post(&f, 1, 8, NULL);
	kick(&f);
	expect_used(&f, h1, 0);
	expect_used(&f, h2, 0);
	ck_assert(all_sentinel(host(&f, mixed[1].gpa), 64));
	/* The queue goes on. */
	expect_used(&f, h3, 8);
	ck_assert_uint_eq(f.logged, 8);
	ck_assert(!(vdrv_rd32(&f.drv, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	rng_get_stats(f.rng, &st);
	ck_assert_uint_eq(st.refused, 2);
	ck_assert_uint_eq(st.requests, 3);
	fx_fini(&f);
}
END_TEST

START_TEST(zero_length_buffer_breaks_the_queue)
{
	struct fx f;
	struct rb_seg segs[1] = { { .len = 0, .write = true } };
	uint16_t h;

	fx_init(&f);
	h = rb_add_chain(&f.rb, segs, 1);
	rb_publish(&f.rb, h);
	kick(&f);
	expect_no_used(&f);
	ck_assert_uint_eq(f.fills, 0);
	ck_assert(vdrv_rd32(&f.drv, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* A reset and a new start bring it back. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	memset(f.rb.ram, 0, f.rb.data_start - f.rb.base);
	f.rb.next_desc = f.rb.avail_idx = f.rb.last_used = 0;
	driver_start(&f, true);
	h = post(&f, 1, 4, NULL);
	kick(&f);
	expect_used(&f, h, 4);
	fx_fini(&f);
}
END_TEST

START_TEST(source_failures_write_nothing_and_retry)
{
	struct fx f;
	uint64_t gpa[2];
	uint16_t h;

	fx_init(&f);
	/* Nothing now: the chain stays on the ring, untouched; a retry is timed. */
	f.script[f.nscript++] = -EAGAIN;
	h = post(&f, 1, 64, gpa);
	kick(&f);
	expect_no_used(&f);
	ck_assert(all_sentinel(host(&f, gpa[0]), 64));
	ck_assert_uint_eq(f.arms, 1);
	ck_assert_uint_eq(f.deadline, T0 + RNG_RETRY_MS * MS);
	fire(&f);
	expect_used(&f, h, 64);
	ck_assert_mem_eq(host(&f, gpa[0]), f.log, 64);

	/* An error, then the next kick retries. */
	f.script[f.nscript++] = -EIO;
	h = post(&f, 1, 32, gpa);
	kick(&f);
	expect_no_used(&f);
	kick(&f);
	expect_used(&f, h, 32);
	ck_assert_mem_eq(host(&f, gpa[0]), f.log + 64, 32);

	/* Short: only what the source produced counts, the rest is not touched. */
	f.script[f.nscript++] = 10;
	h = post(&f, 1, 64, gpa);
	kick(&f);
	expect_used(&f, h, 10);
	ck_assert_mem_eq(host(&f, gpa[0]), f.log + 96, 10);
	ck_assert(all_sentinel(host(&f, gpa[0]) + 10, 54));

	/* Short across buffers: the first whole, then 5 bytes and an error. */
	f.script[f.nscript++] = 64;
	f.script[f.nscript++] = 5;
	h = post(&f, 2, 64, gpa);
	kick(&f);
	expect_used(&f, h, 69);
	ck_assert(all_sentinel(host(&f, gpa[1]) + 5, 59));

	f.script[f.nscript++] = 0; /* nothing, but no error */
	h = post(&f, 1, 16, gpa);
	kick(&f);
	expect_no_used(&f);
	fire(&f);
	expect_used(&f, h, 16);
	{
		struct rng_stats st;

		rng_get_stats(f.rng, &st);
		ck_assert_uint_eq(st.starved, 3);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(reset_while_waiting)
{
	struct fx f;
	uint16_t h;
	unsigned int fills;

	fx_init_cfg(&f, 64, 1000);
	post(&f, 1, 64, NULL);
	post(&f, 1, 64, NULL);
	kick(&f);
	expect_used(&f, 0, 64);
	expect_no_used(&f);
	ck_assert_uint_eq(f.arms, 1);

	/* The driver resets: the waiting chain is dropped, the timer finds nothing to do. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	fills = f.fills;
	fire(&f);
	ck_assert_uint_eq(f.fills, fills);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 1);

	/* A new start; the quota outlives the reset, so a new period serves it. */
	memset(f.rb.ram, 0, f.rb.data_start - f.rb.base);
	f.rb.next_desc = f.rb.avail_idx = f.rb.last_used = 0;
	driver_start(&f, false);
	h = post(&f, 1, 64, NULL);
	kick(&f);
	expect_used(&f, h, 64);
	h = post(&f, 1, 64, NULL);
	kick(&f);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, f.now + 1000 * MS);

	/* Reset again with that timer armed, and the transport goes away before it fires. */
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	fire(&f);
	expect_no_used(&f);
	fx_fini(&f);
}
END_TEST

START_TEST(quota_outlives_a_reset)
{
	struct fx f;
	uint16_t h;

	fx_init_cfg(&f, 64, 1000);
	h = post(&f, 1, 64, NULL);
	kick(&f);
	expect_used(&f, h, 64);
	vdrv_wr32(&f.drv, VIRTIO_MMIO_STATUS, 0);
	memset(f.rb.ram, 0, f.rb.data_start - f.rb.base);
	f.rb.next_desc = f.rb.avail_idx = f.rb.last_used = 0;
	driver_start(&f, true);
	h = post(&f, 1, 64, NULL);
	kick(&f);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, T0 + 1000 * MS);
	fire(&f);
	expect_used(&f, h, 64);
	fx_fini(&f);
}
END_TEST

START_TEST(bad_config_is_refused)
{
	struct rng_host host = { .now_ns = fake_now, .arm_timer = fake_arm };
	static const struct {
		uint64_t max_bytes, period_ms;
		int ret;
	} cases[] = {
		{ 0, 1000, -EINVAL },
		{ (uint64_t)INT64_MAX + 1, 1000, -EINVAL },
		{ UINT64_MAX, 1000, -EINVAL },
		{ 1024, 0, -EINVAL },
		{ 1024, (uint64_t)UINT32_MAX + 1, -EINVAL },
		{ 1, 1, 0 },
		{ RNG_DEFAULT_MAX_BYTES, RNG_DEFAULT_PERIOD_MS, 0 },
		{ (uint64_t)INT64_MAX, UINT32_MAX, 0 },
	};
	struct rng *r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rng_config cfg = { .max_bytes = cases[i].max_bytes,
					  .period_ms = cases[i].period_ms };

		r = (struct rng *)&host;
		ck_assert_int_eq(rng_create(&r, &cfg, &host), cases[i].ret);
		if (cases[i].ret)
			ck_assert_ptr_null(r);
		rng_destroy(r);
	}
	{
		struct rng_config cfg = { .max_bytes = 1, .period_ms = 1 };
		struct rng_host no_clock = { .arm_timer = fake_arm };
		struct rng_host no_timer = { .now_ns = fake_now };

		ck_assert_int_eq(rng_create(&r, &cfg, &no_clock), -EINVAL);
		ck_assert_int_eq(rng_create(&r, &cfg, &no_timer), -EINVAL);
	}
	/* Never attached: a timer is harmless. */
	{
		struct rng_config cfg = { .max_bytes = 1, .period_ms = 1 };

		ck_assert_int_eq(rng_create(&r, &cfg, &host), 0);
		rng_timer(r);
		rng_destroy(r);
	}
}
END_TEST

START_TEST(budget_bounds_each_call)
{
	struct fx f;
	uint16_t h[200];
	unsigned int served = 0, calls = 0;
	uint32_t id, len;

	fx_init(&f);
	for (unsigned int i = 0; i < 200; i++)
		h[i] = post(&f, 1, 16, NULL);
	kick(&f);
	while (rb_get_used(&f.rb, &id, &len)) {
		ck_assert_uint_eq(id, h[served]);
		ck_assert_uint_eq(len, 16);
		served++;
	}
	ck_assert_uint_eq(served, RNG_TURN_REQUESTS);
	/* The rest is asked for at once, through the timer. */
	ck_assert_uint_eq(f.arms, 1);
	ck_assert_uint_eq(f.deadline, f.now);
	/* Kicks are off while the device owes a turn. */
	ck_assert_uint_ne(rb_avail_event(&f.rb), f.rb.avail_idx);
	while (served < 200) {
		unsigned int before = served;

		ck_assert_uint_lt(++calls, 10);
		f.now += MS;
		rng_timer(f.rng);
		while (rb_get_used(&f.rb, &id, &len)) {
			ck_assert_uint_eq(id, h[served]);
			ck_assert_uint_eq(len, 16);
			served++;
		}
		ck_assert_uint_le(served - before, RNG_TURN_REQUESTS);
	}
	ck_assert_uint_eq(calls, 3);
	ck_assert_uint_eq(f.logged, 200 * 16);
	/* Drained: kicks are wanted again for the next buffer. */
	ck_assert_uint_eq(rb_avail_event(&f.rb), f.rb.avail_idx);
	fx_fini(&f);
}
END_TEST

START_TEST(byte_budget_bounds_each_call)
{
	struct fx f;
	uint16_t h[3];
	uint64_t gpa[3];
	const uint32_t big = RNG_TURN_BYTES / 2;

	fx_init(&f);
	for (int i = 0; i < 3; i++)
		h[i] = post(&f, 1, big, &gpa[i]);
	kick(&f);
	expect_used(&f, h[0], big);
	expect_used(&f, h[1], big);
	expect_no_used(&f);
	ck_assert_uint_eq(f.deadline, f.now);
	rng_timer(f.rng);
	expect_used(&f, h[2], big);
	ck_assert_mem_eq(host(&f, gpa[2]), f.log + 2 * (size_t)big, big);
	fx_fini(&f);
}
END_TEST

START_TEST(host_entropy)
{
	uint8_t buf[64] = { 0 }, zero[64] = { 0 };
	ssize_t r = rng_getrandom(NULL, buf, sizeof(buf));

	UNIT_NEED(r != -ENOSYS && r != -EAGAIN, "getrandom(2): %s", strerror((int)-r));
	ck_assert_int_eq(r, 64);
	ck_assert(memcmp(buf, zero, sizeof(buf)) != 0);
}
END_TEST

static Suite *rng_suite(void)
{
	Suite *s = suite_create("rng");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, identity);
	tcase_add_test(tc, fills_with_source_bytes);
	tcase_add_test(tc, distinct_requests_get_distinct_bytes);
	tcase_add_test(tc, rate_limit_stalls_until_the_period_ends);
	tcase_add_test(tc, partial_fill_when_quota_is_short);
	tcase_add_test(tc, readable_buffers_are_given_back_empty);
	tcase_add_test(tc, zero_length_buffer_breaks_the_queue);
	tcase_add_test(tc, source_failures_write_nothing_and_retry);
	tcase_add_test(tc, reset_while_waiting);
	tcase_add_test(tc, quota_outlives_a_reset);
	tcase_add_test(tc, bad_config_is_refused);
	tcase_add_test(tc, budget_bounds_each_call);
	tcase_add_test(tc, byte_budget_bounds_each_call);
	tcase_add_test(tc, host_entropy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(rng_suite());
}
