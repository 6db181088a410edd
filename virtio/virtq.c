// SPDX-License-Identifier: MIT
#include "config.h"

#include "virtq.h"
#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct virtq {
	const struct gmem *mem;
	struct ratelimit *rl;

	bool ready;
	bool broken;
	bool event_idx;
	/* Whether the driver should kick us; see virtq_disable_notify(). */
	bool notify;
	uint16_t size;
	/* As the transport gave them, for virtq_save(). */
	uint32_t max_size;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Host views of the rings, translated once by virtq_setup(). */
	const uint8_t *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t last_avail;	 /* next avail->ring[] slot to consume */
	uint16_t used_idx;	 /* next used->ring[] slot to fill */
	uint16_t signalled_used; /* used_idx at the last virtq_should_notify() */
	uint32_t inflight;	 /* chains popped and not yet pushed */
};

/*
 * Ring fields are shared with a running guest: each is loaded or stored
 * exactly once, and byte-swapped from little-endian as virtio 1.x requires.
 * Alignment of every such field was checked by virtq_setup().
 */
static inline uint16_t ring_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static inline void ring_store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static inline void ring_store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}

/* used_event lives after the avail ring, avail_event after the used ring. */
static inline uint16_t *used_event_ptr(const struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static inline uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)((uint8_t *)q->used + offsetof(struct vring_used, ring) +
			    sizeof(struct vring_used_elem) * q->size);
}

/*
 * Copies one descriptor out of guest memory. Indirect tables carry no
 * alignment guarantee, hence memcpy; the compiler barrier keeps the copy a
 * snapshot, so the guest cannot change a field between check and use.
 */
static struct vring_desc desc_read(const uint8_t *table, unsigned int idx)
{
	struct vring_desc d;

	memcpy(&d, table + (size_t)idx * sizeof(d), sizeof(d));
	__asm__ __volatile__("" ::: "memory");
	return d;
}

static int virtq_fail(struct virtq *q, int err, const char *what, uint64_t val)
{
	q->broken = true;
	if (q->rl)
		log_limited(q->rl, LOG_LVL_WARN,
			    "virtq %#" PRIx64 ": %s (%" PRIu64 "), needs reset", q->desc_gpa, what,
			    val);
	return err;
}

int virtq_create(struct virtq **out, const struct gmem *mem, struct ratelimit *rl)
{
	struct virtq *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->mem = mem;
	q->rl = rl;
	*out = q;
	return 0;
}

void virtq_destroy(struct virtq *q)
{
	free(q);
}

void virtq_reset(struct virtq *q)
{
	const struct gmem *mem = q->mem;
	struct ratelimit *rl = q->rl;

	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->rl = rl;
}

bool virtq_ready(const struct virtq *q)
{
	return q->ready;
}

int virtq_rings(const struct virtq *q, struct virtq_rings *out)
{
	if (!q->ready)
		return -ENODEV;
	*out = (struct virtq_rings){
		.size = q->size,
		.desc = q->desc,
		.avail = q->avail,
		.used = q->used,
		.last_avail = q->last_avail,
	};
	return 0;
}

int virtq_take_back(struct virtq *q, uint16_t last_avail)
{
	uint16_t avail_idx, used_idx, held;

	if (!q->ready)
		return -ENODEV;
	if (q->broken)
		return -EIO;
	/*
	 * The other user has stopped and the guest is paused, but both indices
	 * are the guest's to overwrite: bound them as virtq_restore() will.
	 */
	avail_idx = ring_load16(&q->avail->idx);
	used_idx = ring_load16(&q->used->idx);
	held = (uint16_t)(last_avail - used_idx);
	if (held > q->size || (uint16_t)(avail_idx - last_avail) > q->size)
		return -EPROTO;
	if (held)
		return -EBUSY;
	q->last_avail = last_avail;
	q->used_idx = used_idx;
	/* Only decides whether ember's next push interrupts; ember pushes nothing here. */
	q->signalled_used = used_idx;
	q->inflight = 0;
	return 0;
}

bool virtq_broken(const struct virtq *q)
{
	return q->broken;
}

/* Host pointer for a whole ring area, or NULL; the host side must be aligned too. */
static void *ring_map(const struct virtq *q, uint64_t gpa, uint64_t len, uint64_t align)
{
	void *p = gmem_translate(q->mem, gpa, len);

	if (p && (uintptr_t)p % align)
		return NULL;
	return p;
}

/* Whether [a, a + alen) and [b, b + blen) share a byte. A range that wraps is not RAM. */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	if (a + alen < a || b + blen < b)
		return false; /* refused as -EFAULT by ring_map() */
	return a < b + blen && b < a + alen;
}

int virtq_setup(struct virtq *q, const struct virtq_config *cfg)
{
	uint64_t n = cfg->size, desc_len, avail_len, used_len;
	void *desc, *avail, *used;

	if (q->ready)
		return -EBUSY;
	if (cfg->max_size == 0 || cfg->max_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if (n == 0 || (n & (n - 1)) || n > cfg->max_size)
		return -EINVAL;
	if (cfg->desc % 16 || cfg->avail % 2 || cfg->used % 4)
		return -EINVAL;

	/* flags, idx, ring[n], then used_event / avail_event (laid out even without EVENT_IDX). */
	desc_len = sizeof(struct vring_desc) * n;
	avail_len = 2 + 2 + 2 * n + 2;
	used_len = 2 + 2 + sizeof(struct vring_used_elem) * n + 2;
	/*
	 * Overlapping rings are refused: with the used ring over avail->idx,
	 * every chain the device returned would make a new one available, and
	 * the device would never run out of work.
	 */
	if (overlap(cfg->desc, desc_len, cfg->avail, avail_len) ||
	    overlap(cfg->desc, desc_len, cfg->used, used_len) ||
	    overlap(cfg->avail, avail_len, cfg->used, used_len))
		return -EINVAL;
	desc = ring_map(q, cfg->desc, desc_len, 16);
	avail = ring_map(q, cfg->avail, avail_len, 2);
	used = ring_map(q, cfg->used, used_len, 4);
	if (!desc || !avail || !used)
		return -EFAULT;

	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->desc_gpa = cfg->desc;
	q->avail_gpa = cfg->avail;
	q->used_gpa = cfg->used;
	q->max_size = cfg->max_size;
	q->size = (uint16_t)n; /* 32768 at most */
	q->event_idx = cfg->event_idx;
	q->notify = true;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->inflight = 0;
	q->broken = false;
	q->ready = true;
	return 0;
}

_Static_assert(sizeof(struct virtq_state) == 48, "struct virtq_state is a file format");

void virtq_save(const struct virtq *q, struct virtq_state *out)
{
	memset(out, 0, sizeof(*out));
	if (!q->ready)
		return;
	out->desc = q->desc_gpa;
	out->avail = q->avail_gpa;
	out->used = q->used_gpa;
	out->size = q->size;
	out->max_size = q->max_size;
	out->inflight = q->inflight;
	out->last_avail = q->last_avail;
	out->used_idx = q->used_idx;
	out->signalled_used = q->signalled_used;
	out->ready = 1;
	out->broken = q->broken;
	out->event_idx = q->event_idx;
	out->notify = q->notify;
}

/* The checks that need no guest memory: flags, padding, and the indices against each other. */
static bool state_consistent(const struct virtq_state *st)
{
	static const struct virtq_state unconfigured;

	if (st->ready > 1 || st->broken > 1 || st->event_idx > 1 || st->notify > 1 || st->pad[0] ||
	    st->pad[1])
		return false;
	/* What virtq_save() writes for a queue not set up; only a pop can break a queue. */
	if (!st->ready)
		return memcmp(st, &unconfigured, sizeof(*st)) == 0;
	/* Each pop moves last_avail and inflight, each push used_idx back the other way. */
	if (st->inflight > st->size || (uint16_t)(st->last_avail - st->used_idx) != st->inflight)
		return false;
	/* A chain in flight holds host pointers of the process that popped it. */
	return st->inflight == 0 || st->broken;
}

int virtq_restore(struct virtq *q, const struct virtq_state *st)
{
	struct virtq_config cfg = {
		.size = st->size,
		.max_size = st->max_size,
		.desc = st->desc,
		.avail = st->avail,
		.used = st->used,
		.event_idx = st->event_idx,
	};
	uint16_t avail_idx, used_idx;

	if (q->ready)
		return -EBUSY;
	if (!state_consistent(st))
		return -EINVAL;
	if (!st->ready)
		return 0;
	/* The same checks and translations as when the driver set the queue up. */
	if (virtq_setup(q, &cfg) < 0)
		return -EINVAL;

	/*
	 * Guest RAM holds what it held at the save, and the guest is not
	 * running: the device's indices must match the rings there, or the
	 * device would hand the driver chains twice or skip some. A broken
	 * queue never reads or writes the rings again before a reset.
	 */
	avail_idx = ring_load16(&q->avail->idx);
	used_idx = ring_load16(&q->used->idx);
	if (!st->broken &&
	    (used_idx != st->used_idx || (uint16_t)(avail_idx - st->last_avail) > q->size)) {
		virtq_reset(q);
		return -EINVAL;
	}
	q->last_avail = st->last_avail;
	q->used_idx = st->used_idx;
	/* Any value is one the device could hold: it decides only whether a push interrupts. */
	q->signalled_used = st->signalled_used;
	q->inflight = st->inflight;
	q->notify = st->notify;
	q->broken = st->broken;
	return 0;
}

/* Walks the chain starting at `head` into `c`. Writes nothing to the guest. */
static int virtq_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	unsigned int limit = q->size; /* entries in the table being walked */
	unsigned int idx = head, seen = 0, n = 0;
	uint64_t out_len = 0, in_len = 0;
	bool indirect = false;

	c->head = head;
	c->out_num = c->in_num = 0;
	for (;;) {
		struct vring_desc d = desc_read(table, idx);
		uint16_t flags = le16toh(d.flags);
		uint64_t addr = le64toh(d.addr);
		uint32_t len = le32toh(d.len);
		void *p;

		/* A chain visits each entry of its table at most once; more is a loop. */
		if (++seen > limit)
			return virtq_fail(q, -ELOOP, "descriptor chain too long", seen);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return virtq_fail(q, -EPROTO, "nested indirect descriptor", idx);
			if (flags & VRING_DESC_F_NEXT)
				return virtq_fail(q, -EPROTO, "indirect descriptor with NEXT", idx);
			if (len == 0 || len % sizeof(struct vring_desc))
				return virtq_fail(q, -EPROTO, "bad indirect table length", len);
			table = gmem_translate(q->mem, addr, len);
			if (!table)
				return virtq_fail(q, -EFAULT, "indirect table outside RAM", addr);
			/* The spec says to ignore WRITE here; the table's entries decide. */
			limit = len / sizeof(struct vring_desc);
			indirect = true;
			idx = 0;
			seen = 0;
			continue;
		}

		/*
		 * Refused, as QEMU does. It also makes every descriptor walked fill
		 * an iovec, so c->max bounds the walk as well.
		 */
		if (len == 0)
			return virtq_fail(q, -EPROTO, "zero-length buffer", idx);
		p = gmem_translate(q->mem, addr, len);
		if (!p)
			return virtq_fail(q, -EFAULT, "buffer outside RAM", addr);
		if (flags & VRING_DESC_F_WRITE) {
			in_len += len;
			c->in_num++;
		} else {
			/* Spec 2.7.4.2: device-writable buffers come after all readable ones. */
			if (c->in_num)
				return virtq_fail(q, -EPROTO, "readable buffer after writable",
						  idx);
			out_len += len;
			c->out_num++;
		}
		if (out_len + in_len > UINT32_MAX)
			return virtq_fail(q, -E2BIG, "chain longer than 4 GiB", out_len + in_len);
		if (n == c->max)
			return virtq_fail(q, -ENOBUFS, "more buffers than the device handles", n);
		c->iov[n].iov_base = p;
		c->iov[n].iov_len = len;
		n++;

		if (!(flags & VRING_DESC_F_NEXT))
			break;
		idx = le16toh(d.next);
		if (idx >= limit)
			return virtq_fail(q, -EPROTO, "next index out of range", idx);
	}
	c->out_len = (uint32_t)out_len;
	c->in_len = (uint32_t)in_len;
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, head;
	int ret;

	if (!q->ready)
		return -ENODEV;
	if (q->broken)
		return -EIO;

	/*
	 * Acquire: pairs with the driver's write barrier between filling
	 * avail->ring[] (and the descriptors it names) and bumping avail->idx,
	 * so the ring slots and descriptors read below are at least that new.
	 */
	avail_idx = le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE));
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending > q->size)
		return virtq_fail(q, -EPROTO, "avail index too far ahead", pending);
	if (pending == 0)
		return -EAGAIN;

	head = ring_load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
	if (head >= q->size)
		return virtq_fail(q, -EPROTO, "head index out of range", head);
	ret = virtq_walk(q, head, c);
	if (ret < 0)
		return ret;

	q->last_avail++;
	q->inflight++;
	/* Kick us when the driver adds past what we have taken. */
	if (q->event_idx && q->notify)
		ring_store16(avail_event_ptr(q), q->last_avail);
	return 0;
}

int virtq_unpop(struct virtq *q, unsigned int n)
{
	if (!q->ready)
		return -ENODEV;
	if (q->broken)
		return -EIO;
	if (n > q->inflight)
		return -EINVAL;
	/* The ring slots still hold those heads: the driver may not reuse them before a push. */
	q->last_avail = (uint16_t)(q->last_avail - n);
	q->inflight -= n;
	return 0;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct vring_used_elem *e;

	if (!q->ready)
		return -ENODEV;
	if (q->broken)
		return -EIO;
	if (head >= q->size || q->inflight == 0)
		return -EINVAL;

	e = &q->used->ring[q->used_idx & (q->size - 1)];
	ring_store32(&e->id, head);
	ring_store32(&e->len, written);
	q->used_idx++;
	q->inflight--;
	/*
	 * Release: the driver reads used->idx, then (after its read barrier)
	 * the element above and the data the device wrote into the chain's
	 * buffers; both must be visible before the new index.
	 */
	__atomic_store_n(&q->used->idx, htole16(q->used_idx), __ATOMIC_RELEASE);
	return 0;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used;

	if (!q->ready || q->broken || q->used_idx == old)
		return false;
	q->signalled_used = q->used_idx;
	/*
	 * Full barrier: our used->idx store must be visible before we load
	 * used_event / avail->flags. Pairs with the driver's barrier between
	 * writing used_event (or clearing NO_INTERRUPT) and re-reading
	 * used->idx: either it sees our index or we see its request.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (q->event_idx)
		return vring_need_event(ring_load16(used_event_ptr(q)), q->used_idx, old);
	return !(ring_load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
}

void virtq_disable_notify(struct virtq *q)
{
	if (!q->ready || q->broken || !q->notify)
		return;
	q->notify = false;
	/* With EVENT_IDX, leaving avail_event behind is enough: the driver stops kicking. */
	if (!q->event_idx)
		ring_store16(&q->used->flags, VRING_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->ready || q->broken)
		return false;
	q->notify = true;
	if (q->event_idx)
		ring_store16(avail_event_ptr(q), q->last_avail);
	else
		ring_store16(&q->used->flags, 0);
	/*
	 * Full barrier: the store above must be visible before we re-read
	 * avail->idx. Pairs with the driver's barrier between bumping
	 * avail->idx and reading avail_event / used->flags to decide whether
	 * to kick; without it both sides could skip and the queue would stall.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	return ring_load16(&q->avail->idx) != q->last_avail;
}
