// SPDX-License-Identifier: MIT
#include "config.h"

#include "blk.h"
#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SECTOR_SHIFT 9

/* One request from pop to push. */
struct blk_req {
	struct blk *b;
	struct virtq_chain chain;
	struct blk_parsed p;
	struct disk_req io;
	/* DISCARD / WRITE_ZEROES: the bytes [zpos, zend) not yet given to the backend. */
	uint64_t zpos, zend;
	struct blk_req *next_free;
	struct blk_req *next_wait; /* on the waiting list */
	struct iovec iov[BLK_CHAIN_MAX];
	struct iovec data[BLK_SEG_MAX];
};

struct blk {
	struct blk_backend be;
	char serial[BLK_ID_BYTES];
	const char *name;
	struct virtio_transport tr;
	struct virtio_blk_config config; /* little-endian, as the driver reads it */
	uint64_t offered;
	struct blk_limits lim;
	struct ratelimit rl;
	uint64_t zero_piece; /* BLK_ZERO_UNITS granules; 0: DISCARD / WRITE_ZEROES are not split */

	struct virtq *q;     /* queue 0, once the driver started the device */
	bool active;	     /* between activate and reset */
	bool resetting;	     /* completions during a reset only free their request */
	bool stalled;	     /* stopped popping for want of request slots */
	bool pending_signal; /* chains pushed since the last interrupt decision */
	unsigned int inflight;
	unsigned int allocated;
	struct blk_req *free_reqs;

	/* The per-turn budget (see BLK_TURN_REQUESTS) and what was left for a later turn. */
	unsigned int turn_popped;
	uint64_t turn_zeroed;
	bool more_pop;	       /* stopped popping with the budget spent */
	bool resume_signalled; /* resume_fd is readable */
	int resume_fd;
	/* Split requests whose next piece waits for a turn with budget left, oldest first. */
	struct blk_req *wait_head, **wait_tail;
	struct blk_stats stats;
};

/* --- parsing --------------------------------------------------------------- */

/* Copies len bytes from offset `off` of the buffers into `buf`; false if they hold fewer. */
static bool iov_read(const struct iovec *iov, unsigned int n, uint64_t off, void *buf, size_t len)
{
	uint8_t *dst = buf;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		memcpy(dst, (uint8_t *)iov[i].iov_base + off, take);
		dst += take;
		len -= take;
		off = 0;
	}
	return len == 0;
}

/*
 * Describes bytes [off, off + len) of the buffers as out[0 .. *nout).
 * False when that needs more than `max` entries or the buffers are short.
 */
static bool iov_slice(const struct iovec *iov, unsigned int n, uint64_t off, uint64_t len,
		      struct iovec *out, unsigned int max, unsigned int *nout)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		if (k == max)
			return false;
		take = seg - off < len ? seg - off : len;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	*nout = k;
	return len == 0;
}

static uint8_t refuse(uint8_t status, const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return status;
}

/* Sectors [sector, sector + count) lie inside the disk. */
static bool in_capacity(const struct blk_limits *lim, uint64_t sector, uint64_t count)
{
	return sector <= lim->capacity && count <= lim->capacity - sector;
}

/* The data of an IN or OUT request: whole sectors, within the limits and the disk. */
static uint8_t check_rw(const struct blk_parsed *p, const struct blk_limits *lim, const char **why)
{
	if (p->data_len == 0)
		return refuse(VIRTIO_BLK_S_IOERR, why, "no data");
	if (p->data_len % DISK_SECTOR)
		return refuse(VIRTIO_BLK_S_IOERR, why, "data not a multiple of 512 bytes");
	for (unsigned int i = 0; i < p->ndata; i++) {
		if (p->data[i].iov_len > BLK_SIZE_MAX)
			return refuse(VIRTIO_BLK_S_IOERR, why, "buffer larger than size_max");
	}
	if (!in_capacity(lim, p->sector, p->data_len >> SECTOR_SHIFT))
		return refuse(VIRTIO_BLK_S_IOERR, why, "sectors past the end of the disk");
	return VIRTIO_BLK_S_OK;
}

/*
 * DISCARD and WRITE_ZEROES: exactly one range after the header, read once
 * into a snapshot and checked there. `rd_data` and `wr_data` are the bytes
 * after the header and before the status byte.
 */
static uint8_t parse_range(const struct virtq_chain *c, const struct blk_limits *lim,
			   uint32_t rd_data, uint32_t wr_data, struct blk_parsed *out,
			   const char **why)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t flags;

	if (!lim->discard)
		return refuse(VIRTIO_BLK_S_UNSUPP, why, "discard / write-zeroes not offered");
	if (lim->readonly)
		return refuse(VIRTIO_BLK_S_IOERR, why, "discard on a read-only disk");
	if (wr_data)
		return refuse(VIRTIO_BLK_S_IOERR, why, "writable data in a discard");
	/* max_discard_seg and max_write_zeroes_seg are 1. */
	if (rd_data != sizeof(seg))
		return refuse(VIRTIO_BLK_S_IOERR, why, "not exactly one range");
	if (!iov_read(c->iov, c->out_num, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg)))
		return refuse(VIRTIO_BLK_S_IOERR, why, "short range");
	out->sector = le64toh(seg.sector);
	out->nsectors = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	/* Spec 5.2.6.2: unknown flags, and unmap on a discard, are unsupported. */
	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return refuse(VIRTIO_BLK_S_UNSUPP, why, "unknown range flags");
	if (out->type == VIRTIO_BLK_T_DISCARD && flags)
		return refuse(VIRTIO_BLK_S_UNSUPP, why, "unmap flag on a discard");
	out->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	if (out->nsectors == 0 || out->nsectors > BLK_MAX_DISCARD_SECTORS)
		return refuse(VIRTIO_BLK_S_IOERR, why, "range size out of limits");
	if (!in_capacity(lim, out->sector, out->nsectors))
		return refuse(VIRTIO_BLK_S_IOERR, why, "range past the end of the disk");
	return VIRTIO_BLK_S_OK;
}

uint8_t blk_parse(const struct virtq_chain *c, const struct blk_limits *lim, struct iovec *data,
		  unsigned int data_max, struct blk_parsed *out, const char **why)
{
	const struct iovec *rd = c->iov, *wr = c->iov + c->out_num;
	struct virtio_blk_outhdr hdr;
	uint32_t rd_data, wr_data;
	unsigned int max = data_max < BLK_SEG_MAX ? data_max : BLK_SEG_MAX;

	memset(out, 0, sizeof(*out));
	out->data = data;
	/* The status is the last byte the device may write, wherever the driver put it. */
	if (c->in_len == 0)
		return refuse(VIRTIO_BLK_S_IOERR, why, "no writable status byte");
	out->status = (uint8_t *)wr[c->in_num - 1].iov_base + wr[c->in_num - 1].iov_len - 1;
	wr_data = c->in_len - 1;

	/* A snapshot: the guest may change the ring's buffers while we look. */
	if (c->out_len < sizeof(hdr) || !iov_read(rd, c->out_num, 0, &hdr, sizeof(hdr)))
		return refuse(VIRTIO_BLK_S_IOERR, why, "header shorter than 16 bytes");
	rd_data = c->out_len - (uint32_t)sizeof(hdr);
	out->type = le32toh(hdr.type);
	out->sector = le64toh(hdr.sector);

	switch (out->type) {
	case VIRTIO_BLK_T_IN:
		if (rd_data)
			return refuse(VIRTIO_BLK_S_IOERR, why, "readable data in a read");
		if (!iov_slice(wr, c->in_num, 0, wr_data, data, max, &out->ndata))
			return refuse(VIRTIO_BLK_S_IOERR, why, "more buffers than seg_max");
		out->data_len = wr_data;
		return check_rw(out, lim, why);
	case VIRTIO_BLK_T_OUT:
		if (lim->readonly)
			return refuse(VIRTIO_BLK_S_IOERR, why, "write to a read-only disk");
		if (wr_data)
			return refuse(VIRTIO_BLK_S_IOERR, why, "writable data in a write");
		if (!iov_slice(rd, c->out_num, sizeof(hdr), rd_data, data, max, &out->ndata))
			return refuse(VIRTIO_BLK_S_IOERR, why, "more buffers than seg_max");
		out->data_len = rd_data;
		return check_rw(out, lim, why);
	case VIRTIO_BLK_T_FLUSH:
		if (!lim->flush)
			return refuse(VIRTIO_BLK_S_UNSUPP, why, "flush not offered");
		if (rd_data || wr_data)
			return refuse(VIRTIO_BLK_S_IOERR, why, "data in a flush");
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		if (rd_data || wr_data == 0)
			return refuse(VIRTIO_BLK_S_IOERR, why, "bad buffers for the ID");
		if (!iov_slice(wr, c->in_num, 0, wr_data < BLK_ID_BYTES ? wr_data : BLK_ID_BYTES,
			       data, max, &out->ndata))
			return refuse(VIRTIO_BLK_S_IOERR, why, "more buffers than seg_max");
		out->data_len = wr_data < BLK_ID_BYTES ? wr_data : BLK_ID_BYTES;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_range(c, lim, rd_data, wr_data, out, why);
	default:
		return refuse(VIRTIO_BLK_S_UNSUPP, why, "unknown request type");
	}
}

/* --- requests -------------------------------------------------------------- */

static struct blk_req *req_get(struct blk *b)
{
	struct blk_req *r = b->free_reqs;

	if (r) {
		b->free_reqs = r->next_free;
		return r;
	}
	/* More than a queue's worth can never be in flight: each holds a chain. */
	if (b->allocated >= BLK_QUEUE_SIZE)
		return NULL;
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	b->allocated++;
	r->b = b;
	return r;
}

static void req_put(struct blk *b, struct blk_req *r)
{
	r->next_free = b->free_reqs;
	b->free_reqs = r;
}

/* Reports `status` with `written` bytes of data, returns the chain, recycles r. */
static void req_finish(struct blk *b, struct blk_req *r, uint8_t status, uint32_t written)
{
	if (status == VIRTIO_BLK_S_IOERR)
		b->stats.ioerr++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupp++;
	if (r->p.status) {
		/* The used-ring publication in virtq_push() orders this store before used->idx. */
		__atomic_store_n(r->p.status, status, __ATOMIC_RELAXED);
		written++;
	}
	if (virtq_push(b->q, r->chain.head, written) == 0)
		b->pending_signal = true;
	req_put(b, r);
}

/* Puts a split request at the end of the list of those waiting for their next piece. */
static void wait_push(struct blk *b, struct blk_req *r)
{
	r->next_wait = NULL;
	*b->wait_tail = r;
	b->wait_tail = &r->next_wait;
}

static void req_done(struct disk_req *io, int result)
{
	struct blk_req *r = io->opaque;
	struct blk *b = r->b;

	b->inflight--;
	b->stats.inflight = b->inflight;
	if (b->resetting) {
		/* The driver reset the device: its rings are gone, nothing is reported. */
		req_put(b, r);
		return;
	}
	if (result < 0) {
		log_limited(&b->rl, LOG_LVL_WARN,
			    "%s: request type %" PRIu32 " at sector %" PRIu64 " failed: %s",
			    b->name, r->p.type, r->p.sector, strerror(-result));
		req_finish(b, r, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	if (r->zpos < r->zend) {
		/* More pieces: the caller starts them as its budget allows. */
		wait_push(b, r);
		return;
	}
	req_finish(b, r, VIRTIO_BLK_S_OK, r->p.type == VIRTIO_BLK_T_IN ? r->p.data_len : 0);
}

/* Asks the event loop for another turn. */
static void blk_defer(struct blk *b)
{
	uint64_t one = 1;

	if (b->resume_signalled)
		return;
	/* EAGAIN: the counter is saturated, so it is readable anyway. */
	if (write(b->resume_fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN)
		b->resume_signalled = true;
	else
		log_limited(&b->rl, LOG_LVL_WARN, "%s: signalling its resume eventfd: %s", b->name,
			    strerror(errno));
}

static void turn_begin(struct blk *b)
{
	b->turn_popped = 0;
	b->turn_zeroed = 0;
}

/* Hands r->io to the backend; a refusal fails the request. */
static void req_submit(struct blk *b, struct blk_req *r)
{
	int ret = b->be.ops->submit(b->be.be, &r->io);

	if (ret < 0) {
		log_limited(&b->rl, LOG_LVL_WARN, "%s: submitting a request: %s", b->name,
			    strerror(-ret));
		req_finish(b, r, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	b->inflight++;
	b->stats.inflight = b->inflight;
}

/* The length of r's next piece: up to the next multiple of the piece size. */
static uint64_t zero_piece(const struct blk *b, const struct blk_req *r)
{
	uint64_t end;

	if (!b->zero_piece)
		return r->zend - r->zpos;
	end = (r->zpos | (b->zero_piece - 1)) + 1;
	return (end < r->zend ? end : r->zend) - r->zpos;
}

/* Whether this turn's budget has room for r's next piece; the first piece always fits. */
static bool zero_fits(const struct blk *b, const struct blk_req *r)
{
	return !b->zero_piece || b->turn_zeroed == 0 ||
	       b->turn_zeroed + zero_piece(b, r) <= b->zero_piece;
}

static void zero_next(struct blk *b, struct blk_req *r)
{
	uint64_t len = zero_piece(b, r);

	r->io.offset = r->zpos;
	r->io.len = len;
	r->zpos += len;
	b->turn_zeroed += len;
	req_submit(b, r);
}

/* Starts waiting pieces while the turn's budget lasts; asks for another turn for the rest. */
static void run_waiting(struct blk *b)
{
	while (b->wait_head) {
		struct blk_req *r = b->wait_head;

		if (!zero_fits(b, r)) {
			blk_defer(b);
			return;
		}
		b->wait_head = r->next_wait;
		if (!b->wait_head)
			b->wait_tail = &b->wait_head;
		zero_next(b, r);
	}
}

static void fill_id(struct blk *b, struct blk_req *r)
{
	uint32_t off = 0;

	for (unsigned int i = 0; i < r->p.ndata; i++) {
		memcpy(r->p.data[i].iov_base, b->serial + off, r->p.data[i].iov_len);
		off += (uint32_t)r->p.data[i].iov_len;
	}
}

/* Parses one popped chain and either finishes it or hands it to the backend. */
static void req_start(struct blk *b, struct blk_req *r)
{
	static const enum disk_op ops[] = {
		[VIRTIO_BLK_T_IN] = DISK_READ,
		[VIRTIO_BLK_T_OUT] = DISK_WRITE,
		[VIRTIO_BLK_T_FLUSH] = DISK_FLUSH,
		[VIRTIO_BLK_T_DISCARD] = DISK_DISCARD,
		[VIRTIO_BLK_T_WRITE_ZEROES] = DISK_WRITE_ZEROES,
	};
	const char *why = NULL;
	uint8_t status;

	b->stats.requests++;
	status = blk_parse(&r->chain, &b->lim, r->data, BLK_SEG_MAX, &r->p, &why);
	if (status != VIRTIO_BLK_S_OK) {
		log_limited(&b->rl, LOG_LVL_WARN, "%s: request refused: %s", b->name, why);
		req_finish(b, r, status, 0);
		return;
	}
	if (r->p.type == VIRTIO_BLK_T_GET_ID) {
		fill_id(b, r);
		req_finish(b, r, VIRTIO_BLK_S_OK, r->p.data_len);
		return;
	}
	r->io = (struct disk_req){
		.op = ops[r->p.type],
		.iov = r->p.data,
		.iovcnt = r->p.ndata,
		.len = r->p.data_len,
		.done = req_done,
		.opaque = r,
	};
	switch (r->p.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		r->io.offset = r->p.sector << SECTOR_SHIFT;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		r->io.unmap = r->p.unmap;
		r->io.iov = NULL;
		r->io.iovcnt = 0;
		/* In pieces, each its own backend request; the last one completes r. */
		r->zpos = r->p.sector << SECTOR_SHIFT;
		r->zend = r->zpos + ((uint64_t)r->p.nsectors << SECTOR_SHIFT);
		if (zero_fits(b, r)) {
			zero_next(b, r);
		} else {
			wait_push(b, r);
			blk_defer(b);
		}
		return;
	default:
		r->io.iov = NULL;
		r->io.iovcnt = 0;
		r->io.len = 0;
		break;
	}
	r->zpos = r->zend = 0;
	req_submit(b, r);
}

/* Interrupts the driver if it asked to be told about what was pushed. */
static void blk_signal(struct blk *b)
{
	if (!b->pending_signal)
		return;
	b->pending_signal = false;
	if (virtq_should_notify(b->q))
		b->tr.ops->signal_used(b->tr.t);
}

/* Takes the available chains, as far as request slots and the turn's budget allow. */
static void blk_process(struct blk *b)
{
	struct blk_req *r;
	int ret = -EAGAIN;

	if (!b->active)
		return;
	b->stalled = false;
	b->more_pop = false;
	do {
		virtq_disable_notify(b->q);
		for (;;) {
			if (b->turn_popped >= BLK_TURN_REQUESTS) {
				/* Kicks stay off: the resume event takes the rest. */
				b->more_pop = true;
				blk_defer(b);
				goto out;
			}
			r = req_get(b);
			if (!r) {
				/* Kicks stay off: the next completion resumes the queue. */
				b->stalled = true;
				goto out;
			}
			r->chain.iov = r->iov;
			r->chain.max = BLK_CHAIN_MAX;
			ret = virtq_pop(b->q, &r->chain);
			if (ret < 0) {
				req_put(b, r);
				break;
			}
			b->turn_popped++;
			req_start(b, r);
		}
		if (ret != -EAGAIN) {
			/* virtq logged why; the queue refuses everything until a reset. */
			b->tr.ops->needs_reset(b->tr.t);
			break;
		}
	} while (virtq_enable_notify(b->q));
out:
	blk_signal(b);
}

void blk_backend_event(struct blk *b)
{
	b->tr.ops->lock(b->tr.t);
	turn_begin(b);
	b->be.ops->complete(b->be.be);
	if (b->active) {
		run_waiting(b);
		if (b->stalled || b->more_pop)
			blk_process(b);
		else
			blk_signal(b);
	}
	b->tr.ops->unlock(b->tr.t);
}

int blk_resume_fd(const struct blk *b)
{
	return b->resume_fd;
}

void blk_resume(struct blk *b)
{
	uint64_t v;

	b->tr.ops->lock(b->tr.t);
	if (read(b->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_limited(&b->rl, LOG_LVL_WARN, "%s: reading its resume eventfd: %s", b->name,
			    strerror(errno));
	b->resume_signalled = false;
	turn_begin(b);
	if (b->active) {
		run_waiting(b);
		if (b->more_pop)
			blk_process(b);
		else
			blk_signal(b);
	}
	b->tr.ops->unlock(b->tr.t);
}

void blk_drain(struct blk *b)
{
	b->tr.ops->lock(b->tr.t);
	for (;;) {
		/* Completions go through req_done(): pushed, or the next piece queued. */
		b->be.ops->drain(b->be.be);
		if (!b->wait_head)
			break;
		/* The budget keeps a turn short for the event loop; a pause wants it all done. */
		while (b->wait_head) {
			struct blk_req *r = b->wait_head;

			b->wait_head = r->next_wait;
			if (!b->wait_head)
				b->wait_tail = &b->wait_head;
			zero_next(b, r);
		}
	}
	if (b->active) {
		/*
		 * The completions that would have resumed a device out of request
		 * slots were delivered here, where nothing is popped: a later turn
		 * takes the chains it left.
		 */
		if (b->stalled) {
			b->more_pop = true;
			blk_defer(b);
		}
		blk_signal(b);
	}
	b->tr.ops->unlock(b->tr.t);
}

/* --- the device's operations ------------------------------------------------ */

static void blk_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct blk *b = dev;

	memcpy(buf, (const uint8_t *)&b->config + offset, len);
}

static int blk_activate(void *dev, uint64_t features)
{
	struct blk *b = dev;

	b->q = b->tr.ops->queue(b->tr.t, 0);
	if (!b->q || !virtq_ready(b->q))
		return -EINVAL;
	b->lim.flush = features & (1ULL << VIRTIO_BLK_F_FLUSH);
	b->lim.discard = (features & (1ULL << VIRTIO_BLK_F_DISCARD)) &&
			 (features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	b->active = true;
	b->stalled = false;
	b->more_pop = false;
	b->pending_signal = false;
	return 0;
}

static void blk_notify(void *dev, unsigned int index)
{
	struct blk *b = dev;

	if (index == 0) {
		turn_begin(b);
		blk_process(b);
	}
}

static void blk_reset(void *dev)
{
	struct blk *b = dev;

	/* Nothing may land in guest memory once the reset is done. */
	b->resetting = true;
	b->be.ops->drain(b->be.be);
	b->resetting = false;
	/* Split requests between pieces: nothing of theirs is in flight. */
	while (b->wait_head) {
		struct blk_req *r = b->wait_head;

		b->wait_head = r->next_wait;
		req_put(b, r);
	}
	b->wait_tail = &b->wait_head;
	b->active = false;
	b->stalled = false;
	b->more_pop = false;
	b->pending_signal = false;
	b->q = NULL;
}

static const struct virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.activate = blk_activate,
	.notify = blk_notify,
	.reset = blk_reset,
};

void blk_device(struct blk *b, struct virtio_device_info *info,
		const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_BLOCK,
		.features = b->offered,
		.nr_queues = 1,
		.queue_max = BLK_QUEUE_SIZE,
		.config_size = sizeof(b->config),
		.name = b->name,
	};
	*ops = &blk_ops;
}

void blk_attach(struct blk *b, const struct virtio_transport *tr)
{
	b->tr = *tr;
}

int blk_create(struct blk **out, const struct blk_config *cfg)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct virtio_blk_config *c;
	uint64_t sectors = cfg->backend.size >> SECTOR_SHIFT;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->resume_fd < 0) {
		int ret = -errno;

		free(b);
		return ret;
	}
	b->wait_tail = &b->wait_head;
	b->be = cfg->backend;
	if (b->be.zero_granule) {
		uint64_t g = b->be.zero_granule;

		if ((g & (g - 1)) || g > (1ULL << 30)) {
			close(b->resume_fd);
			free(b);
			return -EINVAL;
		}
		b->zero_piece = g * BLK_ZERO_UNITS;
	}
	b->name = cfg->name ? cfg->name : "virtio-blk";
	/* Zero padded; a 20-byte serial has no terminating NUL, as the spec allows. */
	if (cfg->serial)
		memcpy(b->serial, cfg->serial, strnlen(cfg->serial, sizeof(b->serial)));
	ratelimit_init(&b->rl, 1000000000ULL, 5);

	b->offered = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (b->be.readonly)
		b->offered |= 1ULL << VIRTIO_BLK_F_RO;
	else
		b->offered |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);

	c = &b->config;
	c->capacity = htole64(sectors);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(DISK_SECTOR);
	c->max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(1);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;

	b->lim.capacity = sectors;
	b->lim.readonly = b->be.readonly;
	*out = b;
	return 0;
}

void blk_destroy(struct blk *b)
{
	struct blk_req *r;

	if (!b)
		return;
	while ((r = b->free_reqs)) {
		b->free_reqs = r->next_free;
		free(r);
	}
	ratelimit_destroy(&b->rl);
	close(b->resume_fd);
	free(b);
}

void blk_get_stats(struct blk *b, struct blk_stats *out)
{
	*out = b->stats;
}

/* --- the raw disk as a backend ---------------------------------------------- */

static int disk_be_submit(void *be, struct disk_req *req)
{
	return disk_submit(be, req);
}

static unsigned int disk_be_complete(void *be)
{
	return disk_complete(be);
}

static void disk_be_drain(void *be)
{
	disk_drain(be);
}

static const struct blk_backend_ops disk_backend_ops = {
	.submit = disk_be_submit,
	.complete = disk_be_complete,
	.drain = disk_be_drain,
};

void blk_backend_disk(struct blk_backend *out, struct disk *d)
{
	*out = (struct blk_backend){
		.ops = &disk_backend_ops,
		.be = d,
		.size = disk_size(d),
		.readonly = disk_readonly(d),
		.zero_granule = disk_cluster_size(d),
	};
}
