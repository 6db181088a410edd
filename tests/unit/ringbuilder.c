// SPDX-License-Identifier: MIT
#include "config.h"

#include "ringbuilder.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Misuse of the helper is a bug in the test, not a test failure. */
#define RB_REQUIRE(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: ringbuilder: %s\n", __FILE__, __LINE__, #cond);    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The rings and the data area, laid out from base. */
static int rb_layout(struct rb *rb, uint64_t base, uint64_t ram_size, uint16_t qsize)
{
	memset(rb, 0, sizeof(*rb));
	if (qsize == 0 || base % GMEM_PAGE_SIZE || ram_size % GMEM_PAGE_SIZE)
		return -EINVAL;
	rb->base = base;
	rb->ram_size = ram_size;
	rb->size = qsize;
	rb->desc = base;
	rb->avail = rb->desc + 16ULL * qsize;
	rb->used = align_up(rb->avail + 6 + 2ULL * qsize, GMEM_PAGE_SIZE);
	rb->data_start = align_up(rb->used + 6 + 8ULL * qsize, GMEM_PAGE_SIZE);
	rb->data_next = rb->data_start;
	if (rb->data_start >= base + ram_size)
		return -EINVAL;
	return 0;
}

int rb_init(struct rb *rb, uint64_t base, uint64_t ram_size, uint16_t qsize)
{
	int ret = rb_layout(rb, base, ram_size, qsize);

	if (ret < 0)
		return ret;
	/* Page-aligned host memory keeps host and guest alignment the same. */
	rb->ram = aligned_alloc(GMEM_PAGE_SIZE, ram_size);
	if (!rb->ram)
		return -ENOMEM;
	rb->owned = true;
	memset(rb->ram, 0, ram_size);
	ret = gmem_add_region(&rb->mem, base, rb->ram, ram_size);
	if (ret < 0) {
		free(rb->ram);
		rb->ram = NULL;
	}
	return ret;
}

int rb_init_in(struct rb *rb, void *ram, uint64_t base, uint64_t ram_size, uint16_t qsize)
{
	int ret = rb_layout(rb, base, ram_size, qsize);

	if (ret < 0)
		return ret;
	rb->ram = ram;
	memset(rb->ram, 0, ram_size);
	return 0;
}

void rb_destroy(struct rb *rb)
{
	if (rb->owned)
		free(rb->ram);
	memset(rb, 0, sizeof(*rb));
}

struct virtq_config rb_config(const struct rb *rb, bool event_idx)
{
	return (struct virtq_config){
		.size = rb->size,
		.max_size = rb->size,
		.desc = rb->desc,
		.avail = rb->avail,
		.used = rb->used,
		.event_idx = event_idx,
	};
}

void *rb_host(const struct rb *rb, uint64_t gpa)
{
	if (gpa < rb->base || gpa - rb->base >= rb->ram_size)
		return NULL;
	return rb->ram + (gpa - rb->base);
}

uint64_t rb_alloc(struct rb *rb, uint64_t len, uint64_t align)
{
	uint64_t end = rb->base + rb->ram_size;
	uint64_t gpa = align_up(rb->data_next, align);

	RB_REQUIRE(len > 0 && len <= end - rb->data_start);
	if (gpa > end || len > end - gpa)
		gpa = rb->data_start;
	rb->data_next = gpa + len;
	return gpa;
}

void rb_set_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

struct vring_desc *rb_desc(const struct rb *rb, uint16_t idx)
{
	RB_REQUIRE(idx < rb->size);
	return (struct vring_desc *)rb_host(rb, rb->desc) + idx;
}

struct vring_desc *rb_table(const struct rb *rb, uint64_t gpa)
{
	struct vring_desc *t = rb_host(rb, gpa);

	RB_REQUIRE(t != NULL);
	return t;
}

/* Fills n entries of table t with segs, chained through slots (first + i) % mod. */
static void fill_chain(struct rb *rb, struct vring_desc *t, unsigned int first, unsigned int mod,
		       struct rb_seg *segs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t flags = segs[i].write ? VRING_DESC_F_WRITE : 0;
		uint16_t next = (uint16_t)((first + i + 1) % mod);

		if (!segs[i].gpa)
			segs[i].gpa = rb_alloc(rb, segs[i].len ? segs[i].len : 1, 8);
		if (i + 1 < n)
			flags |= VRING_DESC_F_NEXT;
		rb_set_desc(&t[(first + i) % mod], segs[i].gpa, segs[i].len, flags,
			    i + 1 < n ? next : 0);
	}
}

uint16_t rb_add_chain(struct rb *rb, struct rb_seg *segs, unsigned int n)
{
	uint16_t head = rb->next_desc;

	RB_REQUIRE(n > 0 && n <= rb->size);
	rb->next_desc = (uint16_t)((head + n) % rb->size);
	fill_chain(rb, rb_desc(rb, 0), head, rb->size, segs, n);
	return head;
}

uint64_t rb_make_table(struct rb *rb, struct rb_seg *segs, unsigned int n)
{
	uint64_t gpa;

	RB_REQUIRE(n > 0 && n <= UINT16_MAX);
	gpa = rb_alloc(rb, 16ULL * n, 16);
	fill_chain(rb, rb_table(rb, gpa), 0, n, segs, n);
	return gpa;
}

uint16_t rb_add_indirect(struct rb *rb, struct rb_seg *segs, unsigned int n)
{
	uint64_t table = rb_make_table(rb, segs, n);
	uint16_t head = rb->next_desc;

	rb->next_desc = (uint16_t)((rb->next_desc + 1) % rb->size);
	rb_set_desc(rb_desc(rb, head), table, 16U * n, VRING_DESC_F_INDIRECT, 0);
	return head;
}

static struct vring_avail *avail(const struct rb *rb)
{
	return rb_host(rb, rb->avail);
}

static struct vring_used *used(const struct rb *rb)
{
	return rb_host(rb, rb->used);
}

void rb_set_avail_slot(struct rb *rb, uint16_t slot, uint16_t head)
{
	avail(rb)->ring[slot % rb->size] = htole16(head);
}

void rb_set_avail_idx(struct rb *rb, uint16_t idx)
{
	rb->avail_idx = idx;
	/* Release: the ring slot and descriptors written before must be seen first. */
	__atomic_store_n(&avail(rb)->idx, htole16(idx), __ATOMIC_RELEASE);
}

void rb_publish(struct rb *rb, uint16_t head)
{
	rb_set_avail_slot(rb, rb->avail_idx, head);
	rb_set_avail_idx(rb, (uint16_t)(rb->avail_idx + 1));
}

void rb_set_avail_flags(struct rb *rb, uint16_t flags)
{
	avail(rb)->flags = htole16(flags);
}

void rb_set_used_event(struct rb *rb, uint16_t v)
{
	avail(rb)->ring[rb->size] = htole16(v);
}

uint16_t rb_used_idx(const struct rb *rb)
{
	return le16toh(__atomic_load_n(&used(rb)->idx, __ATOMIC_ACQUIRE));
}

uint16_t rb_used_flags(const struct rb *rb)
{
	return le16toh(used(rb)->flags);
}

uint16_t rb_avail_event(const struct rb *rb)
{
	uint16_t v;

	memcpy(&v, &used(rb)->ring[rb->size], sizeof(v));
	return le16toh(v);
}

bool rb_get_used(struct rb *rb, uint32_t *id, uint32_t *len)
{
	const struct vring_used_elem *e;

	if (rb_used_idx(rb) == rb->last_used)
		return false;
	e = &used(rb)->ring[rb->last_used % rb->size];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	rb->last_used++;
	return true;
}

static struct virtq *ft_queue(void *t, unsigned int index)
{
	return index < 2 ? ((struct fake_transport *)t)->q[index] : NULL;
}

static void ft_signal(void *t)
{
	((struct fake_transport *)t)->signals++;
}

static void ft_needs_reset(void *t)
{
	((struct fake_transport *)t)->needs_reset++;
}

static void ft_lock(void *t)
{
	((struct fake_transport *)t)->lock_depth++;
}

static void ft_unlock(void *t)
{
	((struct fake_transport *)t)->lock_depth--;
}

const struct virtio_transport_ops fake_transport_ops = {
	.queue = ft_queue,
	.signal_used = ft_signal,
	.needs_reset = ft_needs_reset,
	.lock = ft_lock,
	.unlock = ft_unlock,
};
