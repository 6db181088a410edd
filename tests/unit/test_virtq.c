// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/gmem.h"
#include "core/log.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x100000ULL
#define RAM_SIZE 0x100000ULL
#define RAM_END (RAM_BASE + RAM_SIZE)
#define QSIZE 8
#define NIOV 64

struct fx {
	struct rb rb;
	struct virtq *q;
	struct iovec iov[NIOV];
	struct virtq_chain c;
	struct virtq_config cfg;
};

static void fx_init_full(struct fx *f, uint16_t qsize, uint64_t ram_size, bool event_idx,
			 struct ratelimit *rl)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(rb_init(&f->rb, RAM_BASE, ram_size, qsize), 0);
	ck_assert_int_eq(virtq_create(&f->q, &f->rb.mem, rl), 0);
	f->cfg = rb_config(&f->rb, event_idx);
	ck_assert_int_eq(virtq_setup(f->q, &f->cfg), 0);
	ck_assert(virtq_ready(f->q));
	f->c.iov = f->iov;
	f->c.max = NIOV;
}

static void fx_init_sized(struct fx *f, uint16_t qsize, uint64_t ram_size, bool event_idx)
{
	fx_init_full(f, qsize, ram_size, event_idx, NULL);
}

static void fx_init(struct fx *f, bool event_idx)
{
	fx_init_full(f, QSIZE, RAM_SIZE, event_idx, NULL);
}

/*
 * Sets the queue up smaller than the helper's table, so that indices just
 * past the queue size name well-formed descriptors: refusing them must come
 * from the bound, not from garbage found there.
 */
static void fx_shrink(struct fx *f, unsigned int size)
{
	virtq_reset(f->q);
	f->cfg.size = size;
	ck_assert_int_eq(virtq_setup(f->q, &f->cfg), 0);
}

static void fx_fini(struct fx *f)
{
	virtq_destroy(f->q);
	rb_destroy(&f->rb);
}

/* The used ring, flags through avail_event: everything the device may write. */
static size_t used_area_len(const struct fx *f)
{
	return 4 + 8 * (size_t)f->rb.size + 2;
}

/*
 * The next pop fails with `err`, the queue is broken and stays so (pops and
 * pushes refused), and nothing reached the used ring.
 */
static void expect_refused(struct fx *f, int err)
{
	size_t n = used_area_len(f);
	uint8_t *before = malloc(n);

	ck_assert_ptr_nonnull(before);
	memcpy(before, rb_host(&f->rb, f->rb.used), n);
	ck_assert_int_eq(virtq_pop(f->q, &f->c), err);
	ck_assert(virtq_broken(f->q));
	ck_assert_int_eq(virtq_pop(f->q, &f->c), -EIO);
	ck_assert_int_eq(virtq_push(f->q, 0, 0), -EIO);
	ck_assert(!virtq_should_notify(f->q));
	ck_assert(!virtq_enable_notify(f->q));
	virtq_disable_notify(f->q);
	ck_assert_int_eq(virtq_pop(f->q, &f->c), -EIO);
	ck_assert_mem_eq(rb_host(&f->rb, f->rb.used), before, n);
	free(before);
}

/* Reset clears the broken state; the bad chain, still first, fails the same way. */
static void expect_reset_clears(struct fx *f, int err)
{
	virtq_reset(f->q);
	ck_assert(!virtq_ready(f->q));
	ck_assert(!virtq_broken(f->q));
	ck_assert_int_eq(virtq_pop(f->q, &f->c), -ENODEV);
	ck_assert_int_eq(virtq_setup(f->q, &f->cfg), 0);
	ck_assert(!virtq_broken(f->q));
	ck_assert_int_eq(virtq_pop(f->q, &f->c), err);
	ck_assert(virtq_broken(f->q));
}

static void expect_bad_chain(struct fx *f, int err)
{
	expect_refused(f, err);
	expect_reset_clears(f, err);
	ck_assert_int_eq(rb_used_idx(&f->rb), 0);
}

/* ---- geometry ---- */

static int setup_with(struct fx *f, struct virtq_config cfg)
{
	int ret;

	virtq_reset(f->q);
	ret = virtq_setup(f->q, &cfg);
	ck_assert(virtq_ready(f->q) == (ret == 0));
	if (ret)
		ck_assert_int_eq(virtq_pop(f->q, &f->c), -ENODEV);
	return ret;
}

START_TEST(test_setup_bad_size)
{
	struct fx f;
	struct virtq_config cfg;

	fx_init(&f, false);
	cfg = rb_config(&f.rb, false);
	cfg.size = 0;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.size = 3;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.size = 6;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.size = 16; /* above max_size 8 */
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.size = 65536;
	cfg.max_size = 65536;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.size = 4;
	cfg.max_size = 0;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg.max_size = 8;
	ck_assert_int_eq(setup_with(&f, cfg), 0);
	cfg.size = 1;
	ck_assert_int_eq(setup_with(&f, cfg), 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_setup_max_queue)
{
	struct fx f;

	fx_init_sized(&f, VIRTQ_MAX_SIZE, 2 * RAM_SIZE, true);
	fx_fini(&f);
}
END_TEST

START_TEST(test_setup_misaligned)
{
	struct fx f;
	struct virtq_config good, cfg;

	fx_init(&f, false);
	good = rb_config(&f.rb, false);
	cfg = good;
	cfg.desc += 8;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg = good;
	cfg.avail += 1;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	cfg = good;
	cfg.used += 2;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	ck_assert_int_eq(setup_with(&f, good), 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_setup_overlapping_rings)
{
	struct fx f;
	struct virtq_config good, cfg;

	fx_init(&f, false);
	good = rb_config(&f.rb, false);
	/* The used ring on the avail ring: each push would make a chain available. */
	cfg = good;
	cfg.used = cfg.avail & ~3ULL;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	/* The avail ring starting on the descriptor table's last entry. */
	cfg = good;
	cfg.avail = cfg.desc + 16 * (QSIZE - 1);
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	/* The used ring's last byte (avail_event) on the descriptor table's first. */
	cfg = good;
	cfg.desc = (cfg.used + 4 + 8 * QSIZE + 2 - 1) & ~15ULL;
	ck_assert_int_eq(setup_with(&f, cfg), -EINVAL);
	/* Touching but not overlapping is fine. */
	cfg = good;
	cfg.avail = cfg.desc + 16 * QSIZE;
	cfg.used = (cfg.avail + 6 + 2 * QSIZE + 3) & ~3ULL;
	ck_assert_int_eq(setup_with(&f, cfg), 0);
	ck_assert_int_eq(setup_with(&f, good), 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_setup_outside_ram)
{
	struct fx f;
	struct virtq_config good, cfg;

	fx_init(&f, true);
	good = rb_config(&f.rb, true);
	cfg = good;
	cfg.desc = RAM_END - 16 * QSIZE + 16;
	ck_assert_int_eq(setup_with(&f, cfg), -EFAULT);
	cfg = good;
	cfg.desc = 0;
	ck_assert_int_eq(setup_with(&f, cfg), -EFAULT);
	/* The ring fits, its used_event trailer does not. */
	cfg = good;
	cfg.avail = RAM_END - (4 + 2 * QSIZE);
	ck_assert_int_eq(setup_with(&f, cfg), -EFAULT);
	cfg.avail -= 2;
	ck_assert_int_eq(setup_with(&f, cfg), 0);
	/* Likewise avail_event after the used ring. */
	cfg = good;
	cfg.used = RAM_END - (4 + 8 * QSIZE);
	ck_assert_int_eq(setup_with(&f, cfg), -EFAULT);
	cfg.used -= 4;
	ck_assert_int_eq(setup_with(&f, cfg), 0);
	cfg = good;
	cfg.used = 0xfffffffffffffff0ULL;
	ck_assert_int_eq(setup_with(&f, cfg), -EFAULT);
	fx_fini(&f);
}
END_TEST

START_TEST(test_setup_twice_and_unconfigured)
{
	struct fx f;
	struct virtq_config cfg;

	fx_init(&f, false);
	cfg = rb_config(&f.rb, false);
	ck_assert_int_eq(virtq_setup(f.q, &cfg), -EBUSY);
	virtq_reset(f.q);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -ENODEV);
	ck_assert_int_eq(virtq_push(f.q, 0, 0), -ENODEV);
	ck_assert(!virtq_should_notify(f.q));
	ck_assert(!virtq_enable_notify(f.q));
	fx_fini(&f);
}
END_TEST

/* ---- happy paths ---- */

START_TEST(test_single_buffer)
{
	struct fx f;
	struct rb_seg seg = { .len = 64 };
	uint32_t id, len;
	uint16_t head;

	fx_init(&f, false);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);
	head = rb_add_chain(&f.rb, &seg, 1);
	rb_publish(&f.rb, head);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, head);
	ck_assert_uint_eq(f.c.out_num, 1);
	ck_assert_uint_eq(f.c.in_num, 0);
	ck_assert_uint_eq(f.c.out_len, 64);
	ck_assert_uint_eq(f.c.in_len, 0);
	ck_assert_ptr_eq(f.iov[0].iov_base, rb_host(&f.rb, seg.gpa));
	ck_assert_uint_eq(f.iov[0].iov_len, 64);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);

	ck_assert(!rb_get_used(&f.rb, &id, &len));
	ck_assert_int_eq(virtq_push(f.q, head, 0), 0);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 1);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);
	ck_assert(!virtq_broken(f.q));
	fx_fini(&f);
}
END_TEST

START_TEST(test_out_and_in_chain)
{
	struct fx f;
	struct rb_seg segs[] = {
		{ .len = 16 },
		{ .len = 512 },
		{ .len = 100, .write = true },
		{ .len = 200, .write = true },
		{ .len = 1, .write = true },
	};
	uint32_t id, len;
	uint16_t head;

	fx_init(&f, false);
	head = rb_add_chain(&f.rb, segs, 5);
	rb_publish(&f.rb, head);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, head);
	ck_assert_uint_eq(f.c.out_num, 2);
	ck_assert_uint_eq(f.c.in_num, 3);
	ck_assert_uint_eq(f.c.out_len, 528);
	ck_assert_uint_eq(f.c.in_len, 301);
	for (unsigned int i = 0; i < 5; i++) {
		ck_assert_ptr_eq(f.iov[i].iov_base, rb_host(&f.rb, segs[i].gpa));
		ck_assert_uint_eq(f.iov[i].iov_len, segs[i].len);
	}
	ck_assert_int_eq(virtq_push(f.q, head, 301), 0);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 301);
	fx_fini(&f);
}
END_TEST

START_TEST(test_chain_of_queue_size)
{
	struct fx f;
	struct rb_seg segs[QSIZE];

	fx_init(&f, false);
	memset(segs, 0, sizeof(segs));
	for (unsigned int i = 0; i < QSIZE; i++)
		segs[i].len = 8;
	rb_publish(&f.rb, rb_add_chain(&f.rb, segs, QSIZE));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.out_num, QSIZE);
	ck_assert_uint_eq(f.c.out_len, 8 * QSIZE);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_chain)
{
	struct fx f;
	/* More entries than the queue size: an indirect table is bounded by its own length. */
	struct rb_seg segs[QSIZE + 4];
	uint32_t id, len;
	uint16_t head;

	fx_init(&f, true);
	memset(segs, 0, sizeof(segs));
	for (unsigned int i = 0; i < QSIZE + 4; i++) {
		segs[i].len = 32 + i;
		segs[i].write = i >= 3;
	}
	head = rb_add_indirect(&f.rb, segs, QSIZE + 4);
	/* The device must ignore WRITE on the descriptor naming the table. */
	rb_desc(&f.rb, head)->flags |= htole16(VRING_DESC_F_WRITE);
	rb_publish(&f.rb, head);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, head);
	ck_assert_uint_eq(f.c.out_num, 3);
	ck_assert_uint_eq(f.c.in_num, QSIZE + 1);
	ck_assert_uint_eq(f.c.out_len, 32 + 33 + 34);
	for (unsigned int i = 0; i < QSIZE + 4; i++) {
		ck_assert_ptr_eq(f.iov[i].iov_base, rb_host(&f.rb, segs[i].gpa));
		ck_assert_uint_eq(f.iov[i].iov_len, segs[i].len);
	}
	ck_assert_int_eq(virtq_push(f.q, head, 7), 0);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 7);
	fx_fini(&f);
}
END_TEST

START_TEST(test_direct_then_indirect)
{
	/* Spec 2.7.5.3.2: zero or more direct descriptors, then one indirect. */
	struct fx f;
	struct rb_seg direct[] = { { .len = 10 }, { .len = 1 } };
	struct rb_seg table[] = { { .len = 20 }, { .len = 30, .write = true } };
	uint64_t t;
	uint16_t head;

	fx_init(&f, false);
	head = rb_add_chain(&f.rb, direct, 2);
	t = rb_make_table(&f.rb, table, 2);
	rb_set_desc(rb_desc(&f.rb, (uint16_t)(head + 1)), t, 32, VRING_DESC_F_INDIRECT, 0);
	rb_publish(&f.rb, head);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.out_num, 2);
	ck_assert_uint_eq(f.c.in_num, 1);
	ck_assert_uint_eq(f.c.out_len, 30);
	ck_assert_uint_eq(f.c.in_len, 30);
	ck_assert_ptr_eq(f.iov[0].iov_base, rb_host(&f.rb, direct[0].gpa));
	ck_assert_ptr_eq(f.iov[1].iov_base, rb_host(&f.rb, table[0].gpa));
	ck_assert_ptr_eq(f.iov[2].iov_base, rb_host(&f.rb, table[1].gpa));
	fx_fini(&f);
}
END_TEST

START_TEST(test_several_in_flight)
{
	struct fx f;
	struct rb_seg a[] = { { .len = 4 }, { .len = 4, .write = true } };
	struct rb_seg b[] = { { .len = 8, .write = true } };
	struct rb_seg c[] = { { .len = 12 }, { .len = 12 }, { .len = 12 } };
	uint16_t ha, hb, hc;
	uint32_t id, len;

	fx_init(&f, false);
	ha = rb_add_chain(&f.rb, a, 2);
	hb = rb_add_chain(&f.rb, b, 1);
	hc = rb_add_indirect(&f.rb, c, 3);
	rb_publish(&f.rb, ha);
	rb_publish(&f.rb, hb);
	rb_publish(&f.rb, hc);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, ha);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hb);
	ck_assert_uint_eq(f.c.in_len, 8);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hc);
	ck_assert_uint_eq(f.c.out_len, 36);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);

	/* Completion order is the device's: used elements follow it. */
	ck_assert_int_eq(virtq_push(f.q, hb, 8), 0);
	ck_assert_int_eq(virtq_push(f.q, hc, 0), 0);
	ck_assert_int_eq(virtq_push(f.q, ha, 4), 0);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 3);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, hb);
	ck_assert_uint_eq(len, 8);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, hc);
	ck_assert_uint_eq(len, 0);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, ha);
	ck_assert_uint_eq(len, 4);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	/* Nothing left in flight: a further push is the device's bug and is refused. */
	ck_assert_int_eq(virtq_push(f.q, ha, 4), -EINVAL);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 3);
	fx_fini(&f);
}
END_TEST

/* A device that took more chains than it needed gives the last ones back. */
START_TEST(test_unpop)
{
	struct fx f;
	struct rb_seg a = { .len = 16, .write = true };
	struct rb_seg b[] = { { .len = 8 }, { .len = 32, .write = true } };
	uint16_t ha, hb;
	uint32_t id, len;

	fx_init(&f, true);
	ha = rb_add_chain(&f.rb, &a, 1);
	hb = rb_add_chain(&f.rb, b, 2);
	rb_publish(&f.rb, ha);
	rb_publish(&f.rb, hb);
	ck_assert_int_eq(virtq_unpop(f.q, 0), 0);
	ck_assert_int_eq(virtq_unpop(f.q, 1), -EINVAL);

	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, ha);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hb);
	ck_assert_int_eq(virtq_unpop(f.q, 1), 0);
	/* The next pop walks the second chain again, the same as before. */
	memset(f.iov, 0, sizeof(f.iov));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hb);
	ck_assert_uint_eq(f.c.out_num, 1);
	ck_assert_uint_eq(f.c.in_num, 1);
	ck_assert_uint_eq(f.c.out_len, 8);
	ck_assert_uint_eq(f.c.in_len, 32);
	ck_assert_ptr_eq(f.iov[1].iov_base, rb_host(&f.rb, b[1].gpa));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);

	/* More than are in flight: refused, nothing changes, the queue stays usable. */
	ck_assert_int_eq(virtq_unpop(f.q, 3), -EINVAL);
	ck_assert(!virtq_broken(f.q));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);
	/* Both at once, then in order again. */
	ck_assert_int_eq(virtq_unpop(f.q, 2), 0);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, ha);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hb);

	/* A chain completed before does not count: the last one popped comes back. */
	ck_assert_int_eq(virtq_push(f.q, ha, 16), 0);
	ck_assert_int_eq(virtq_unpop(f.q, 2), -EINVAL);
	ck_assert_int_eq(virtq_unpop(f.q, 1), 0);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(f.c.head, hb);
	ck_assert_int_eq(virtq_push(f.q, hb, 32), 0);
	ck_assert_int_eq(virtq_unpop(f.q, 1), -EINVAL);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 2);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, ha);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, hb);
	ck_assert_uint_eq(len, 32);

	/* Not set up, then broken. */
	virtq_reset(f.q);
	ck_assert_int_eq(virtq_unpop(f.q, 0), -ENODEV);
	ck_assert_int_eq(virtq_unpop(f.q, 1), -ENODEV);
	fx_fini(&f);

	fx_init(&f, false);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &a, 1));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	rb_set_avail_idx(&f.rb, (uint16_t)(f.rb.avail_idx + QSIZE + 1));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EPROTO);
	ck_assert_int_eq(virtq_unpop(f.q, 1), -EIO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_full_ring)
{
	struct fx f;
	struct rb_seg seg;
	uint16_t heads[QSIZE];

	fx_init(&f, false);
	for (unsigned int i = 0; i < QSIZE; i++) {
		seg = (struct rb_seg){ .len = 16 };
		heads[i] = rb_add_chain(&f.rb, &seg, 1);
		rb_publish(&f.rb, heads[i]);
	}
	/* avail.idx exactly the queue size ahead is legal. */
	for (unsigned int i = 0; i < QSIZE; i++) {
		ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
		ck_assert_uint_eq(f.c.head, heads[i]);
	}
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);
	fx_fini(&f);
}
END_TEST

START_TEST(test_wraparound)
{
	struct fx f;
	uint16_t heads[4];
	unsigned int total = 0;
	uint32_t id, len;

	fx_init_sized(&f, 4, RAM_SIZE, true);
	/* Batches of 1..4 chains until both indices have wrapped past 65535 twice. */
	for (unsigned int i = 0; total < 2 * 65536 + 10; i++) {
		unsigned int k = 1 + i % 4;

		for (unsigned int j = 0; j < k; j++) {
			struct rb_seg segs[] = { { .len = 8 }, { .len = 8, .write = true } };

			heads[j] = rb_add_chain(&f.rb, segs, j % 2 ? 1 : 2);
			rb_publish(&f.rb, heads[j]);
		}
		for (unsigned int j = 0; j < k; j++) {
			ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
			ck_assert_uint_eq(f.c.head, heads[j]);
		}
		ck_assert_int_eq(virtq_pop(f.q, &f.c), -EAGAIN);
		for (unsigned int j = k; j-- > 0;)
			ck_assert_int_eq(virtq_push(f.q, heads[j], j), 0);
		for (unsigned int j = k; j-- > 0;) {
			ck_assert(rb_get_used(&f.rb, &id, &len));
			ck_assert_uint_eq(id, heads[j]);
			ck_assert_uint_eq(len, j);
		}
		total += k;
		ck_assert_uint_eq(rb_used_idx(&f.rb), total & 0xffff);
		ck_assert_uint_eq(rb_avail_event(&f.rb), total & 0xffff);
	}
	ck_assert(!virtq_broken(f.q));
	fx_fini(&f);
}
END_TEST

static void pop_push_one(struct fx *f)
{
	struct rb_seg seg = { .len = 4, .write = true };

	rb_publish(&f->rb, rb_add_chain(&f->rb, &seg, 1));
	ck_assert_int_eq(virtq_pop(f->q, &f->c), 0);
	ck_assert_int_eq(virtq_push(f->q, f->c.head, 4), 0);
}

START_TEST(test_notify_flags)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };

	fx_init(&f, false);
	/* Nothing pushed yet: nothing to signal. */
	ck_assert(!virtq_should_notify(f.q));
	pop_push_one(&f);
	ck_assert(virtq_should_notify(f.q));
	ck_assert(!virtq_should_notify(f.q));
	rb_set_avail_flags(&f.rb, VRING_AVAIL_F_NO_INTERRUPT);
	pop_push_one(&f);
	ck_assert(!virtq_should_notify(f.q));
	rb_set_avail_flags(&f.rb, 0);
	pop_push_one(&f);
	ck_assert(virtq_should_notify(f.q));

	/* Kick suppression through used->flags. */
	ck_assert_uint_eq(rb_used_flags(&f.rb), 0);
	virtq_disable_notify(f.q);
	ck_assert_uint_eq(rb_used_flags(&f.rb), VRING_USED_F_NO_NOTIFY);
	ck_assert(!virtq_enable_notify(f.q));
	ck_assert_uint_eq(rb_used_flags(&f.rb), 0);
	virtq_disable_notify(f.q);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &seg, 1));
	/* Arrived while kicks were off: the device must poll again. */
	ck_assert(virtq_enable_notify(f.q));
	ck_assert_uint_eq(rb_used_flags(&f.rb), 0);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_notify_event_idx)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };

	fx_init(&f, true);
	/* NO_INTERRUPT is ignored with EVENT_IDX; used_event decides. */
	rb_set_avail_flags(&f.rb, VRING_AVAIL_F_NO_INTERRUPT);
	rb_set_used_event(&f.rb, 0);
	pop_push_one(&f); /* used idx 0 -> 1 crosses used_event 0 */
	ck_assert(virtq_should_notify(f.q));
	pop_push_one(&f); /* 1 -> 2 does not cross 0 */
	ck_assert(!virtq_should_notify(f.q));
	rb_set_used_event(&f.rb, 4);
	pop_push_one(&f); /* 2 -> 3 */
	pop_push_one(&f); /* 3 -> 4 */
	ck_assert(!virtq_should_notify(f.q));
	pop_push_one(&f); /* 4 -> 5 crosses 4 */
	ck_assert(virtq_should_notify(f.q));
	ck_assert(!virtq_should_notify(f.q));
	/* A batch crossing used_event in the middle also signals. */
	rb_set_used_event(&f.rb, 6);
	pop_push_one(&f);
	pop_push_one(&f);
	pop_push_one(&f);
	ck_assert(virtq_should_notify(f.q));

	/* avail_event follows what the device consumed while kicks are wanted. */
	ck_assert_uint_eq(rb_avail_event(&f.rb), 8);
	virtq_disable_notify(f.q);
	ck_assert_uint_eq(rb_used_flags(&f.rb), 0);
	pop_push_one(&f);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 8);
	ck_assert(!virtq_enable_notify(f.q));
	ck_assert_uint_eq(rb_avail_event(&f.rb), 9);
	virtq_disable_notify(f.q);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &seg, 1));
	ck_assert(virtq_enable_notify(f.q));
	ck_assert_uint_eq(rb_avail_event(&f.rb), 9);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 10);
	fx_fini(&f);
}
END_TEST

/* ---- driver errors ---- */

START_TEST(test_avail_idx_too_far)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };
	struct ratelimit rl;

	/* Also goes through the rate-limited log line (printed once). */
	ratelimit_init(&rl, 1000000000ULL, 1);
	fx_init_full(&f, QSIZE, RAM_SIZE, true, &rl);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &seg, 1));
	rb_set_avail_idx(&f.rb, QSIZE + 1);
	expect_refused(&f, -EPROTO);
	/* Repairing the index does not unbreak the queue... */
	rb_set_avail_idx(&f.rb, 1);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EIO);
	/* ...only a reset does. */
	rb_set_avail_idx(&f.rb, 0xffff);
	expect_reset_clears(&f, -EPROTO);
	ck_assert_int_eq(rb_used_idx(&f.rb), 0);
	fx_fini(&f);
	ratelimit_destroy(&rl);
}
END_TEST

START_TEST(test_head_out_of_range)
{
	struct fx f;

	struct rb_seg segs[QSIZE / 2 + 1];
	uint16_t head;

	fx_init(&f, true);
	fx_shrink(&f, QSIZE / 2);
	memset(segs, 0, sizeof(segs));
	for (unsigned int i = 0; i <= QSIZE / 2; i++)
		segs[i].len = 4;
	/* Descriptor QSIZE / 2 is valid in memory but outside the queue. */
	head = rb_add_chain(&f.rb, segs, QSIZE / 2 + 1);
	rb_set_avail_slot(&f.rb, 0, (uint16_t)(head + QSIZE / 2));
	rb_set_avail_idx(&f.rb, 1);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_next_out_of_range)
{
	struct fx f;
	struct rb_seg segs[QSIZE / 2 + 1];
	uint16_t head;

	fx_init(&f, true);
	fx_shrink(&f, QSIZE / 2);
	memset(segs, 0, sizeof(segs));
	for (unsigned int i = 0; i <= QSIZE / 2; i++)
		segs[i].len = 4;
	head = rb_add_chain(&f.rb, segs, QSIZE / 2 + 1);
	/* A well-formed chain, one descriptor too far for a queue of QSIZE / 2. */
	rb_publish(&f.rb, head);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_loop)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = 4 } };
	uint16_t head;

	fx_init(&f, true);
	head = rb_add_chain(&f.rb, segs, 2);
	rb_desc(&f.rb, (uint16_t)(head + 1))->flags |= htole16(VRING_DESC_F_NEXT);
	rb_desc(&f.rb, (uint16_t)(head + 1))->next = htole16(head);
	rb_publish(&f.rb, head);
	expect_bad_chain(&f, -ELOOP);
	fx_fini(&f);
}
END_TEST

START_TEST(test_self_loop)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };
	uint16_t head;

	fx_init(&f, true);
	head = rb_add_chain(&f.rb, &seg, 1);
	rb_desc(&f.rb, head)->flags |= htole16(VRING_DESC_F_NEXT);
	rb_desc(&f.rb, head)->next = htole16(head);
	rb_publish(&f.rb, head);
	expect_bad_chain(&f, -ELOOP);
	fx_fini(&f);
}
END_TEST

/* Publishes one indirect descriptor with the given table address, length and flags. */
static void publish_indirect(struct fx *f, uint64_t table, uint32_t len, uint16_t flags)
{
	uint16_t head = f->rb.next_desc;

	f->rb.next_desc = (uint16_t)((head + 1) % f->rb.size);
	rb_set_desc(rb_desc(&f->rb, head), table, len, flags, 0);
	rb_publish(&f->rb, head);
}

START_TEST(test_indirect_len_zero)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 } };

	fx_init(&f, true);
	publish_indirect(&f, rb_make_table(&f.rb, segs, 1), 0, VRING_DESC_F_INDIRECT);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_len_not_multiple)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 } };
	uint64_t t;

	fx_init(&f, true);
	t = rb_make_table(&f.rb, segs, 1);
	publish_indirect(&f, t, 24, VRING_DESC_F_INDIRECT);
	expect_refused(&f, -EPROTO);
	virtq_reset(f.q);
	ck_assert_int_eq(virtq_setup(f.q, &f.cfg), 0);
	rb_desc(&f.rb, 0)->len = htole32(8);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_nested)
{
	struct fx f;
	struct rb_seg inner[] = { { .len = 4 } };
	struct rb_seg outer[] = { { .len = 4 }, { .len = 4 } };
	uint64_t in, out;

	fx_init(&f, true);
	in = rb_make_table(&f.rb, inner, 1);
	out = rb_make_table(&f.rb, outer, 2);
	rb_set_desc(&rb_table(&f.rb, out)[1], in, 16, VRING_DESC_F_INDIRECT, 0);
	publish_indirect(&f, out, 32, VRING_DESC_F_INDIRECT);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_with_next)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 } };

	fx_init(&f, true);
	publish_indirect(&f, rb_make_table(&f.rb, segs, 1), 16,
			 VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_table_outside_ram)
{
	struct fx f;

	fx_init(&f, true);
	/* The last 16 bytes of RAM hold one entry; 32 bytes cross the end. */
	publish_indirect(&f, RAM_END - 16, 32, VRING_DESC_F_INDIRECT);
	expect_bad_chain(&f, -EFAULT);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_next_beyond_table)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = 4 }, { .len = 4 } };
	uint64_t t;

	fx_init(&f, true);
	/* Three valid entries in memory, but the descriptor only claims two. */
	t = rb_make_table(&f.rb, segs, 3);
	rb_table(&f.rb, t)[1].flags |= htole16(VRING_DESC_F_NEXT);
	rb_table(&f.rb, t)[1].next = htole16(2);
	publish_indirect(&f, t, 32, VRING_DESC_F_INDIRECT);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_loop)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = 4 } };
	uint64_t t;

	fx_init(&f, true);
	t = rb_make_table(&f.rb, segs, 2);
	rb_table(&f.rb, t)[1].flags |= htole16(VRING_DESC_F_NEXT);
	rb_table(&f.rb, t)[1].next = htole16(0);
	publish_indirect(&f, t, 32, VRING_DESC_F_INDIRECT);
	expect_bad_chain(&f, -ELOOP);
	fx_fini(&f);
}
END_TEST

static void bad_buffer(uint64_t gpa, uint32_t len, bool indirect, int err)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = len, .gpa = gpa, .write = true } };
	uint16_t head;

	fx_init(&f, true);
	head = indirect ? rb_add_indirect(&f.rb, segs, 2) : rb_add_chain(&f.rb, segs, 2);
	rb_publish(&f.rb, head);
	expect_bad_chain(&f, err);
	fx_fini(&f);
}

START_TEST(test_buffer_outside_ram)
{
	bad_buffer(RAM_END - 10, 20, false, -EFAULT); /* crosses the end */
	bad_buffer(RAM_END - 10, 20, true, -EFAULT);
	bad_buffer(RAM_END, 1, false, -EFAULT);		       /* just past it */
	bad_buffer(RAM_BASE - 4, 8, false, -EFAULT);	       /* starts below RAM */
	bad_buffer(0xfffffffffffffff8ULL, 16, false, -EFAULT); /* wraps */
	bad_buffer(0xfffffffffffffff8ULL, 16, true, -EFAULT);
}
END_TEST

START_TEST(test_zero_length_buffer)
{
	bad_buffer(RAM_BASE + RAM_SIZE / 2, 0, false, -EPROTO);
	bad_buffer(RAM_BASE + RAM_SIZE / 2, 0, true, -EPROTO);
}
END_TEST

START_TEST(test_readable_after_writable)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = 4, .write = true }, { .len = 4 } };

	fx_init(&f, true);
	rb_publish(&f.rb, rb_add_chain(&f.rb, segs, 3));
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_readable_after_writable_indirect)
{
	/* The order holds across the step from direct descriptors into the table. */
	struct fx f;
	struct rb_seg direct[] = { { .len = 4, .write = true }, { .len = 1 } };
	struct rb_seg table[] = { { .len = 4 } };
	uint16_t head;

	fx_init(&f, true);
	head = rb_add_chain(&f.rb, direct, 2);
	rb_set_desc(rb_desc(&f.rb, (uint16_t)(head + 1)), rb_make_table(&f.rb, table, 1), 16,
		    VRING_DESC_F_INDIRECT, 0);
	rb_publish(&f.rb, head);
	expect_bad_chain(&f, -EPROTO);
	fx_fini(&f);
}
END_TEST

START_TEST(test_over_capacity)
{
	struct fx f;
	struct rb_seg segs[] = { { .len = 4 }, { .len = 4 }, { .len = 4, .write = true } };

	fx_init(&f, true);
	f.c.max = 2;
	rb_publish(&f.rb, rb_add_chain(&f.rb, segs, 3));
	expect_bad_chain(&f, -ENOBUFS);
	fx_fini(&f);
}
END_TEST

START_TEST(test_chain_over_4g)
{
	/* A large reserved, never touched region: the walker only translates. */
	const uint64_t big = 0x200000000ULL, big_size = 0x80001000ULL;
	struct fx f;
	void *p;

	p = mmap(NULL, big_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	fx_init(&f, true);
	ck_assert_int_eq(gmem_add_region(&f.rb.mem, big, p, big_size), 0);

	/* Exactly UINT32_MAX bytes is the most a chain may carry. */
	{
		struct rb_seg segs[] = { { .len = 0x80000000U, .gpa = big },
					 { .len = 0x7fffffffU, .gpa = big, .write = true } };

		rb_publish(&f.rb, rb_add_chain(&f.rb, segs, 2));
		ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
		ck_assert_uint_eq(f.c.out_len, 0x80000000U);
		ck_assert_uint_eq(f.c.in_len, 0x7fffffffU);
		ck_assert_int_eq(virtq_push(f.q, f.c.head, 0), 0);
	}
	/* One byte more is refused. */
	{
		struct rb_seg segs[] = { { .len = 0x80000000U, .gpa = big },
					 { .len = 0x80000000U, .gpa = big + 4096, .write = true } };

		rb_publish(&f.rb, rb_add_chain(&f.rb, segs, 2));
		expect_refused(&f, -E2BIG);
		ck_assert_uint_eq(rb_used_idx(&f.rb), 1);
	}
	fx_fini(&f);
	munmap(p, big_size);
}
END_TEST

START_TEST(test_error_after_traffic)
{
	/* A bad chain behind good ones: earlier completions stay, nothing new is written. */
	struct fx f;
	struct rb_seg good = { .len = 4 };
	struct rb_seg bad[] = { { .len = 4, .write = true }, { .len = 4 } };
	uint16_t h1;

	fx_init(&f, true);
	h1 = rb_add_chain(&f.rb, &good, 1);
	rb_publish(&f.rb, h1);
	rb_publish(&f.rb, rb_add_chain(&f.rb, bad, 2));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_int_eq(virtq_push(f.q, h1, 0), 0);
	expect_refused(&f, -EPROTO);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 1);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 1);
	fx_fini(&f);
}
END_TEST

START_TEST(test_push_refusals)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };

	fx_init(&f, true);
	/* Device bugs, not driver errors: refused without breaking the queue. */
	ck_assert_int_eq(virtq_push(f.q, 0, 0), -EINVAL);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &seg, 1));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	ck_assert_int_eq(virtq_push(f.q, QSIZE, 0), -EINVAL);
	ck_assert(!virtq_broken(f.q));
	ck_assert_uint_eq(rb_used_idx(&f.rb), 0);
	ck_assert_int_eq(virtq_push(f.q, f.c.head, 0), 0);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 1);
	fx_fini(&f);
}
END_TEST

/* ---- snapshots ---- */

/* A second queue over the same guest memory, as a new process would make it. */
static struct virtq *fresh_queue(struct fx *f)
{
	struct virtq *q;

	ck_assert_int_eq(virtq_create(&q, &f->rb.mem, NULL), 0);
	return q;
}

/* Restoring st into q is refused, and q is left unconfigured. */
static void expect_restore_refused(struct fx *f, struct virtq *q, const struct virtq_state *st)
{
	uint16_t used = rb_used_idx(&f->rb);

	ck_assert_int_eq(virtq_restore(q, st), -EINVAL);
	ck_assert(!virtq_ready(q));
	ck_assert(!virtq_broken(q));
	ck_assert_int_eq(virtq_pop(q, &f->c), -ENODEV);
	ck_assert_uint_eq(rb_used_idx(&f->rb), used);
}

START_TEST(test_save_restore_continues)
{
	struct fx f;
	struct rb_seg seg = { .len = 8, .write = true };
	struct virtq_state st, again;
	struct virtq *q2;
	uint16_t heads[3];
	uint32_t id, len;

	fx_init(&f, true);
	for (int i = 0; i < 3; i++) {
		heads[i] = rb_add_chain(&f.rb, &seg, 1);
		rb_publish(&f.rb, heads[i]);
	}
	rb_set_used_event(&f.rb, 5);
	/* The device takes two, returns them, and stops taking kicks. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
		ck_assert_int_eq(virtq_push(f.q, f.c.head, 8), 0);
	}
	ck_assert(!virtq_should_notify(f.q));
	virtq_disable_notify(f.q);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 2);

	virtq_save(f.q, &st);
	ck_assert_uint_eq(st.ready, 1);
	ck_assert_uint_eq(st.size, QSIZE);
	ck_assert_uint_eq(st.max_size, QSIZE);
	ck_assert_uint_eq(st.desc, f.rb.desc);
	ck_assert_uint_eq(st.avail, f.rb.avail);
	ck_assert_uint_eq(st.used, f.rb.used);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.last_avail, 2);
	ck_assert_uint_eq(st.used_idx, 2);
	ck_assert_uint_eq(st.signalled_used, 2);
	ck_assert_uint_eq(st.event_idx, 1);
	ck_assert_uint_eq(st.notify, 0);
	ck_assert_uint_eq(st.broken, 0);

	q2 = fresh_queue(&f);
	ck_assert_int_eq(virtq_restore(q2, &st), 0);
	ck_assert(virtq_ready(q2));
	virtq_save(q2, &again);
	ck_assert_mem_eq(&again, &st, sizeof(st));
	/* A queue already set up is not restored over. */
	ck_assert_int_eq(virtq_restore(q2, &st), -EBUSY);

	/* The third chain comes next, kicks still off (avail_event stays); used idx goes on. */
	ck_assert_int_eq(virtq_pop(q2, &f.c), 0);
	ck_assert_uint_eq(f.c.head, heads[2]);
	ck_assert_uint_eq(rb_avail_event(&f.rb), 2);
	ck_assert_int_eq(virtq_pop(q2, &f.c), -EAGAIN);
	ck_assert_int_eq(virtq_push(q2, heads[2], 8), 0);
	ck_assert_uint_eq(rb_used_idx(&f.rb), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(rb_get_used(&f.rb, &id, &len));
		ck_assert_uint_eq(id, heads[i]);
	}
	/* signalled_used came along: 2 -> 3 does not cross used_event 5. */
	ck_assert(!virtq_should_notify(q2));
	ck_assert(!virtq_enable_notify(q2));
	ck_assert_uint_eq(rb_avail_event(&f.rb), 3);
	virtq_destroy(q2);
	fx_fini(&f);
}
END_TEST

START_TEST(test_save_unconfigured)
{
	static const struct virtq_state zero;
	struct virtq_state st;
	struct virtq *q2;
	struct fx f;

	fx_init(&f, false);
	pop_push_one(&f);
	virtq_reset(f.q);
	memset(&st, 0xa5, sizeof(st));
	virtq_save(f.q, &st);
	ck_assert_mem_eq(&st, &zero, sizeof(st));
	q2 = fresh_queue(&f);
	ck_assert_int_eq(virtq_restore(q2, &st), 0);
	ck_assert(!virtq_ready(q2));
	/* Something in a queue not set up is not what virtq_save() writes. */
	st.last_avail = 1;
	expect_restore_refused(&f, q2, &st);
	st = zero;
	st.notify = 1;
	expect_restore_refused(&f, q2, &st);
	virtq_destroy(q2);
	fx_fini(&f);
}
END_TEST

START_TEST(test_restore_refusals)
{
	struct fx f;
	struct virtq_state good, st;
	struct virtq *q2;

	fx_init(&f, false);
	pop_push_one(&f);
	pop_push_one(&f);
	virtq_save(f.q, &good);
	q2 = fresh_queue(&f);

	/* Geometry: each through virtq_setup()'s checks. */
	st = good;
	st.size = 3;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.size = 0;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.size = 16; /* above max_size */
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.max_size = 0;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.size = st.max_size = 65536;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.desc += 8;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.avail += 1;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.used += 2;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.desc = 0x1000; /* below RAM */
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.used = RAM_END - 4; /* across its end */
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.used = st.avail; /* overlapping */
	expect_restore_refused(&f, q2, &st);

	/* Flags and padding. */
	st = good;
	st.ready = 2;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.notify = 2;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.broken = 7;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.event_idx = 2;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.pad[1] = 1;
	expect_restore_refused(&f, q2, &st);

	/* Indices against each other: every popped chain was pushed. */
	st = good;
	st.last_avail++;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.inflight = 1;
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.last_avail++;
	st.inflight = 1; /* consistent, but a chain in flight cannot be carried over */
	expect_restore_refused(&f, q2, &st);

	/* Indices against guest memory. */
	st = good;
	st.last_avail = st.used_idx = 1; /* used->idx reads 2 */
	expect_restore_refused(&f, q2, &st);
	st = good;
	st.last_avail = st.used_idx = 0xfffa;
	expect_restore_refused(&f, q2, &st);
	/* avail->idx more than the queue size ahead of last_avail. */
	rb_set_avail_idx(&f.rb, (uint16_t)(good.last_avail + QSIZE + 1));
	expect_restore_refused(&f, q2, &good);
	/* Exactly a ring's worth ahead is fine. */
	rb_set_avail_idx(&f.rb, (uint16_t)(good.last_avail + QSIZE));
	ck_assert_int_eq(virtq_restore(q2, &good), 0);
	virtq_reset(q2);
	rb_set_avail_idx(&f.rb, 2);

	/* After every refusal the queue takes the good state. */
	ck_assert_int_eq(virtq_restore(q2, &good), 0);
	ck_assert_int_eq(virtq_pop(q2, &f.c), -EAGAIN);
	virtq_destroy(q2);
	fx_fini(&f);
}
END_TEST

/* A broken queue keeps its dead chains and its broken state; the rings are not looked at. */
START_TEST(test_restore_broken)
{
	struct fx f;
	struct rb_seg seg = { .len = 4 };
	struct virtq_state st;
	struct virtq *q2;

	fx_init(&f, false);
	rb_publish(&f.rb, rb_add_chain(&f.rb, &seg, 1));
	ck_assert_int_eq(virtq_pop(f.q, &f.c), 0);
	rb_set_avail_idx(&f.rb, QSIZE + 5);
	ck_assert_int_eq(virtq_pop(f.q, &f.c), -EPROTO);
	virtq_save(f.q, &st);
	ck_assert_uint_eq(st.broken, 1);
	ck_assert_uint_eq(st.inflight, 1);

	q2 = fresh_queue(&f);
	ck_assert_int_eq(virtq_restore(q2, &st), 0);
	ck_assert(virtq_broken(q2));
	ck_assert_int_eq(virtq_pop(q2, &f.c), -EIO);
	ck_assert_int_eq(virtq_push(q2, 0, 0), -EIO);
	virtq_reset(q2);
	/* The in-flight count must still add up. */
	st.inflight = 2;
	expect_restore_refused(&f, q2, &st);
	virtq_destroy(q2);
	fx_fini(&f);
}
END_TEST

static Suite *virtq_suite(void)
{
	Suite *s = suite_create("virtq");
	TCase *geo = tcase_create("geometry");
	TCase *ok = tcase_create("walk");
	TCase *bad = tcase_create("refusals");
	TCase *snap = tcase_create("snapshots");

	tcase_add_test(geo, test_setup_bad_size);
	tcase_add_test(geo, test_setup_max_queue);
	tcase_add_test(geo, test_setup_misaligned);
	tcase_add_test(geo, test_setup_overlapping_rings);
	tcase_add_test(geo, test_setup_outside_ram);
	tcase_add_test(geo, test_setup_twice_and_unconfigured);
	suite_add_tcase(s, geo);

	tcase_add_test(ok, test_single_buffer);
	tcase_add_test(ok, test_out_and_in_chain);
	tcase_add_test(ok, test_chain_of_queue_size);
	tcase_add_test(ok, test_indirect_chain);
	tcase_add_test(ok, test_direct_then_indirect);
	tcase_add_test(ok, test_several_in_flight);
	tcase_add_test(ok, test_unpop);
	tcase_add_test(ok, test_full_ring);
	tcase_add_test(ok, test_wraparound);
	tcase_add_test(ok, test_notify_flags);
	tcase_add_test(ok, test_notify_event_idx);
	tcase_set_timeout(ok, 30);
	suite_add_tcase(s, ok);

	tcase_add_test(bad, test_avail_idx_too_far);
	tcase_add_test(bad, test_head_out_of_range);
	tcase_add_test(bad, test_next_out_of_range);
	tcase_add_test(bad, test_loop);
	tcase_add_test(bad, test_self_loop);
	tcase_add_test(bad, test_indirect_len_zero);
	tcase_add_test(bad, test_indirect_len_not_multiple);
	tcase_add_test(bad, test_indirect_nested);
	tcase_add_test(bad, test_indirect_with_next);
	tcase_add_test(bad, test_indirect_table_outside_ram);
	tcase_add_test(bad, test_indirect_next_beyond_table);
	tcase_add_test(bad, test_indirect_loop);
	tcase_add_test(bad, test_buffer_outside_ram);
	tcase_add_test(bad, test_zero_length_buffer);
	tcase_add_test(bad, test_readable_after_writable);
	tcase_add_test(bad, test_readable_after_writable_indirect);
	tcase_add_test(bad, test_over_capacity);
	tcase_add_test(bad, test_chain_over_4g);
	tcase_add_test(bad, test_error_after_traffic);
	tcase_add_test(bad, test_push_refusals);
	suite_add_tcase(s, bad);

	tcase_add_test(snap, test_save_restore_continues);
	tcase_add_test(snap, test_save_unconfigured);
	tcase_add_test(snap, test_restore_refusals);
	tcase_add_test(snap, test_restore_broken);
	suite_add_tcase(s, snap);
	return s;
}

int main(void)
{
	return unit_run(virtq_suite());
}
