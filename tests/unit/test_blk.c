// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/disk_internal.h"
#include "core/evloop.h"
#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/scratch.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/blk.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define DISK_BYTES (64ULL * 1024) /* 128 sectors */
#define MAX_PENDING 256
#define MiB (1ULL << 20)
/* The fake backend's granule: DISCARD / WRITE_ZEROES go in pieces of 2 MiB. */
#define PIECE (2 * MiB)
#define GRANULE (PIECE / BLK_ZERO_UNITS)

/* --- a backend in memory, completing when the test says ----------------------- */

struct fake_disk {
	uint8_t data[DISK_BYTES];
	struct disk_req *pending[MAX_PENDING];
	unsigned int npending;
	unsigned int submitted;
	unsigned int drains;
	uint64_t size;	      /* what the device is told; bytes past DISK_BYTES read as zero */
	struct disk_req last; /* a copy of the last request submitted */
	int submit_error;     /* refuse submissions with this */
	int next_result;      /* the next completion fails with this */
};

static int fake_submit(void *be, struct disk_req *req)
{
	struct fake_disk *d = be;

	if (d->submit_error)
		return d->submit_error;
	ck_assert_uint_lt(d->npending, MAX_PENDING);
	d->pending[d->npending++] = req;
	d->submitted++;
	d->last = *req;
	return 0;
}

static void fake_execute(struct fake_disk *d, struct disk_req *req)
{
	uint64_t off = req->offset;
	int result = d->next_result;

	d->next_result = 0;
	if (result == 0) {
		switch (req->op) {
		case DISK_READ:
		case DISK_WRITE:
			for (unsigned int i = 0; i < req->iovcnt; i++) {
				ck_assert_uint_le(off + req->iov[i].iov_len, DISK_BYTES);
				if (req->op == DISK_READ)
					memcpy(req->iov[i].iov_base, d->data + off,
					       req->iov[i].iov_len);
				else
					memcpy(d->data + off, req->iov[i].iov_base,
					       req->iov[i].iov_len);
				off += req->iov[i].iov_len;
			}
			break;
		case DISK_DISCARD:
		case DISK_WRITE_ZEROES:
			ck_assert_uint_le(req->offset + req->len, d->size);
			if (req->offset < DISK_BYTES)
				memset(d->data + req->offset, 0,
				       req->len < DISK_BYTES - req->offset
					       ? req->len
					       : DISK_BYTES - req->offset);
			break;
		case DISK_FLUSH:
			break;
		}
	}
	req->done(req, result);
}

static unsigned int fake_complete(void *be)
{
	struct fake_disk *d = be;
	unsigned int n = d->npending;

	for (unsigned int i = 0; i < n; i++)
		fake_execute(d, d->pending[i]);
	d->npending = 0;
	return n;
}

static void fake_drain(void *be)
{
	struct fake_disk *d = be;

	d->drains++;
	fake_complete(be);
}

static const struct blk_backend_ops fake_ops = {
	.submit = fake_submit,
	.complete = fake_complete,
	.drain = fake_drain,
};

/* --- fixture ------------------------------------------------------------------ */

struct fx {
	struct rb rb;
	struct fake_disk *disk;
	struct fake_transport tr;
	struct blk *blk;
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
};

static const uint64_t all_features = (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
				     (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);

static void fx_init_opts(struct fx *f, bool readonly, const char *serial, uint16_t qsize,
			 uint64_t size)
{
	struct blk_config cfg;
	struct virtio_transport tr = { .ops = &fake_transport_ops, .t = &f->tr };

	memset(f, 0, sizeof(*f));
	f->disk = calloc(1, sizeof(*f->disk));
	ck_assert_ptr_nonnull(f->disk);
	for (size_t i = 0; i < DISK_BYTES; i++)
		f->disk->data[i] = (uint8_t)(i * 7 + 3);
	f->disk->size = size;
	ck_assert_int_eq(rb_init(&f->rb, RAM_BASE, RAM_SIZE, qsize), 0);
	vdrv_virtq_create(&f->tr.q[0], &f->rb, false, BLK_QUEUE_SIZE);

	cfg = (struct blk_config){
		.backend = { .ops = &fake_ops,
			     .be = f->disk,
			     .size = size,
			     .readonly = readonly,
			     .zero_granule = GRANULE },
		.serial = serial,
		.name = "test-blk",
	};
	ck_assert_int_eq(blk_create(&f->blk, &cfg), 0);
	blk_device(f->blk, &f->info, &f->ops);
	blk_attach(f->blk, &tr);
	ck_assert_int_eq(f->ops->activate(f->blk, all_features & f->info.features), 0);
}

static void fx_init_ro(struct fx *f, bool readonly, const char *serial)
{
	fx_init_opts(f, readonly, serial, 16, DISK_BYTES);
}

static void fx_init(struct fx *f)
{
	fx_init_ro(f, false, NULL);
}

static void fx_fini(struct fx *f)
{
	f->ops->reset(f->blk);
	blk_destroy(f->blk);
	virtq_destroy(f->tr.q[0]);
	rb_destroy(&f->rb);
	free(f->disk);
}

/* A 16-byte header in guest memory; returns its address. */
static uint64_t put_header(struct fx *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = rb_alloc(&f->rb, 16, 16);
	struct virtio_blk_outhdr h = {
		.type = htole32(type),
		.sector = htole64(sector),
	};

	memcpy(rb_host(&f->rb, gpa), &h, sizeof(h));
	return gpa;
}

/* Publishes a chain, kicks the device, runs the backend; returns the status byte. */
static uint8_t run(struct fx *f, struct rb_seg *segs, unsigned int n, uint32_t *used_len)
{
	uint64_t status_gpa;
	uint32_t id, len;
	uint16_t head;

	head = rb_add_chain(&f->rb, segs, n);
	status_gpa = segs[n - 1].gpa + segs[n - 1].len - 1;
	*(uint8_t *)rb_host(&f->rb, status_gpa) = 0xee;
	rb_publish(&f->rb, head);
	f->ops->notify(f->blk, 0);
	blk_backend_event(f->blk);
	ck_assert_int_eq(f->tr.lock_depth, 0);
	ck_assert(rb_get_used(&f->rb, &id, &len));
	ck_assert_uint_eq(id, head);
	if (used_len)
		*used_len = len;
	return *(uint8_t *)rb_host(&f->rb, status_gpa);
}

/* header | data (n_data buffers of len each, device-writable for IN) | status */
static uint8_t rw(struct fx *f, uint32_t type, uint64_t sector, uint32_t n_data, uint32_t len,
		  uint64_t *data_gpa, uint32_t *used)
{
	struct rb_seg segs[16];
	unsigned int n = 0;

	ck_assert_uint_le(n_data, 14);
	segs[n++] = (struct rb_seg){ .len = 16, .gpa = put_header(f, type, sector) };
	for (uint32_t i = 0; i < n_data; i++)
		segs[n++] = (struct rb_seg){ .len = len, .write = type == VIRTIO_BLK_T_IN };
	segs[n++] = (struct rb_seg){ .len = 1, .write = true };
	{
		uint8_t st;
		uint16_t head = rb_add_chain(&f->rb, segs, n);
		uint32_t id, ulen;

		if (data_gpa)
			for (uint32_t i = 0; i < n_data; i++)
				data_gpa[i] = segs[1 + i].gpa;
		if (type == VIRTIO_BLK_T_OUT)
			for (uint32_t i = 0; i < n_data; i++)
				memset(rb_host(&f->rb, segs[1 + i].gpa), 0x40 + (int)i, len);
		*(uint8_t *)rb_host(&f->rb, segs[n - 1].gpa) = 0xee;
		rb_publish(&f->rb, head);
		f->ops->notify(f->blk, 0);
		blk_backend_event(f->blk);
		ck_assert(rb_get_used(&f->rb, &id, &ulen));
		ck_assert_uint_eq(id, head);
		st = *(uint8_t *)rb_host(&f->rb, segs[n - 1].gpa);
		if (used)
			*used = ulen;
		return st;
	}
}

/* --- tests -------------------------------------------------------------------- */

START_TEST(config_space_and_features)
{
	struct fx f;
	struct virtio_blk_config c;

	fx_init(&f);
	ck_assert_uint_eq(f.info.device_id, 2);
	ck_assert_uint_eq(f.info.nr_queues, 1);
	ck_assert_uint_eq(f.info.config_size, sizeof(c));
	f.ops->config_read(f.blk, 0, &c, sizeof(c));
	ck_assert_uint_eq(le64toh(c.capacity), DISK_BYTES / 512);
	ck_assert_uint_eq(le32toh(c.seg_max), BLK_SEG_MAX);
	ck_assert_uint_eq(le32toh(c.size_max), BLK_SIZE_MAX);
	ck_assert_uint_eq(le32toh(c.blk_size), 512);
	ck_assert_uint_eq(le32toh(c.max_discard_seg), 1);
	ck_assert_uint_eq(le32toh(c.max_write_zeroes_seg), 1);
	ck_assert(f.info.features & (1ULL << VIRTIO_BLK_F_FLUSH));
	ck_assert(f.info.features & (1ULL << VIRTIO_BLK_F_DISCARD));
	ck_assert(f.info.features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	ck_assert(!(f.info.features & (1ULL << VIRTIO_BLK_F_RO)));
	/* One byte at an odd offset: the capacity's second byte. */
	{
		uint8_t b;

		f.ops->config_read(f.blk, 1, &b, 1);
		ck_assert_uint_eq(b, ((DISK_BYTES / 512) >> 8) & 0xff);
	}
	fx_fini(&f);

	fx_init_ro(&f, true, NULL);
	ck_assert(f.info.features & (1ULL << VIRTIO_BLK_F_RO));
	ck_assert(!(f.info.features & (1ULL << VIRTIO_BLK_F_DISCARD)));
	fx_fini(&f);
}
END_TEST

START_TEST(write_then_read_lands_byte_exact)
{
	struct fx f;
	uint64_t gpa[3];
	uint32_t used;

	fx_init(&f);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 4, 3, 512, gpa, &used), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 1); /* only the status was written */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 512; j++)
			ck_assert_uint_eq(f.disk->data[4 * 512 + i * 512 + j], 0x40 + i);
	/* The bytes around it are untouched. */
	ck_assert_uint_eq(f.disk->data[4 * 512 - 1], (uint8_t)((4 * 512 - 1) * 7 + 3));
	ck_assert_uint_eq(f.disk->data[7 * 512], (uint8_t)(7 * 512 * 7 + 3));

	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 3, 2, 1024, gpa, &used), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 2048 + 1);
	ck_assert_mem_eq(rb_host(&f.rb, gpa[0]), f.disk->data + 3 * 512, 1024);
	ck_assert_mem_eq(rb_host(&f.rb, gpa[1]), f.disk->data + 5 * 512, 1024);
	ck_assert_uint_eq(f.disk->last.op, DISK_READ);
	ck_assert_uint_eq(f.disk->last.offset, 3 * 512);
	ck_assert_uint_eq(f.disk->last.iovcnt, 2);
	fx_fini(&f);
}
END_TEST

/* The spec lets a driver frame a request any way: header, data and status may share buffers. */
START_TEST(any_layout_is_accepted)
{
	struct fx f;
	struct rb_seg segs[2];
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT), .sector = htole64(2) };
	uint8_t *p;
	uint32_t used;

	fx_init(&f);
	/* One readable buffer: header and 512 bytes of data; one byte of status. */
	segs[0] = (struct rb_seg){ .len = 16 + 512 };
	segs[1] = (struct rb_seg){ .len = 1, .write = true };
	segs[0].gpa = rb_alloc(&f.rb, segs[0].len, 16);
	p = rb_host(&f.rb, segs[0].gpa);
	memcpy(p, &h, sizeof(h));
	memset(p + 16, 0x5a, 512);
	ck_assert_uint_eq(run(&f, segs, 2, &used), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 512; i++)
		ck_assert_uint_eq(f.disk->data[1024 + i], 0x5a);

	/* A read whose data and status share one writable buffer; the header split in two. */
	{
		struct rb_seg s3[3];
		struct virtio_blk_outhdr r = { .type = htole32(VIRTIO_BLK_T_IN),
					       .sector = htole64(2) };

		s3[0] = (struct rb_seg){ .len = 5 };
		s3[1] = (struct rb_seg){ .len = 11 };
		s3[2] = (struct rb_seg){ .len = 512 + 1, .write = true };
		s3[0].gpa = rb_alloc(&f.rb, 5, 1);
		s3[1].gpa = rb_alloc(&f.rb, 11, 1);
		memcpy(rb_host(&f.rb, s3[0].gpa), &r, 5);
		memcpy(rb_host(&f.rb, s3[1].gpa), (uint8_t *)&r + 5, 11);
		ck_assert_uint_eq(run(&f, s3, 3, &used), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(used, 513);
		p = rb_host(&f.rb, s3[2].gpa);
		for (int i = 0; i < 512; i++)
			ck_assert_uint_eq(p[i], 0x5a);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(flush_and_get_id)
{
	struct fx f;
	struct rb_seg segs[3];
	uint32_t used;
	uint8_t *id;

	fx_init_ro(&f, false, "disk-serial-0123456789abc");
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_FLUSH, 0) };
	segs[1] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 2, &used), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.disk->last.op, DISK_FLUSH);

	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_GET_ID, 0) };
	segs[1] = (struct rb_seg){ .len = 20, .write = true };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, &used), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 21);
	id = rb_host(&f.rb, segs[1].gpa);
	/* 20 bytes, no terminating NUL when the serial fills them. */
	ck_assert_mem_eq(id, "disk-serial-01234567", 20);
	fx_fini(&f);

	fx_init_ro(&f, false, "short");
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_GET_ID, 0) };
	segs[1] = (struct rb_seg){ .len = 20, .write = true };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, &used), VIRTIO_BLK_S_OK);
	id = rb_host(&f.rb, segs[1].gpa);
	ck_assert_mem_eq(id, "short\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	fx_fini(&f);
}
END_TEST

/* Each bad request gets its status and reaches no backend. */
START_TEST(bad_requests_touch_nothing)
{
	struct fx f;
	struct rb_seg segs[4];
	uint32_t used;

	fx_init(&f);
	/* Not a multiple of 512. */
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 500, NULL, &used), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 0, 1, 513, NULL, NULL), VIRTIO_BLK_S_IOERR);
	/* Past the end, ending exactly at it (fine), overflowing. */
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 128, 1, 512, NULL, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 127, 2, 512, NULL, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, UINT64_MAX, 1, 512, NULL, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 1, 512, NULL, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(f.disk->submitted, 0);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 127, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.disk->submitted, 1);
	/* A buffer over size_max. */
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, BLK_SIZE_MAX + 512, NULL, NULL),
			  VIRTIO_BLK_S_IOERR);
	/* Unknown and unsupported types. */
	ck_assert_uint_eq(rw(&f, 0x77, 0, 0, 0, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_SCSI_CMD, 0, 0, 0, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	/* No data. */
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 0, 0, NULL, NULL), VIRTIO_BLK_S_IOERR);

	/* A read with readable data after the header. */
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	segs[1] = (struct rb_seg){ .len = 512 };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, NULL), VIRTIO_BLK_S_IOERR);
	/* A write with writable data before the status. */
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_OUT, 0) };
	segs[1] = (struct rb_seg){ .len = 512, .write = true };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, NULL), VIRTIO_BLK_S_IOERR);
	/* A header too short. */
	segs[0] = (struct rb_seg){ .len = 8, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	segs[1] = (struct rb_seg){ .len = 512, .write = true };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, NULL), VIRTIO_BLK_S_IOERR);
	/* A flush carrying data. */
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_FLUSH, 0) };
	segs[1] = (struct rb_seg){ .len = 512 };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(run(&f, segs, 3, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(f.disk->submitted, 1);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(no_status_byte_returns_the_chain)
{
	struct fx f;
	struct rb_seg segs[2];
	uint32_t id, len;
	uint16_t head;

	fx_init(&f);
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	segs[1] = (struct rb_seg){ .len = 512 };
	head = rb_add_chain(&f.rb, segs, 2);
	rb_publish(&f.rb, head);
	f.ops->notify(f.blk, 0);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(f.disk->submitted, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(more_buffers_than_seg_max)
{
	struct fx f;
	struct rb_seg segs[BLK_SEG_MAX + 3];
	uint32_t n = 0;

	fx_init(&f);
	/* An indirect table lets one chain carry seg_max + 1 data buffers. */
	segs[n++] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	for (int i = 0; i < BLK_SEG_MAX + 1; i++)
		segs[n++] = (struct rb_seg){ .len = 512, .write = true };
	segs[n++] = (struct rb_seg){ .len = 1, .write = true };
	{
		uint16_t head;
		uint32_t id, len;
		uint64_t status = 0;

		head = rb_add_indirect(&f.rb, segs, n);
		status = segs[n - 1].gpa;
		rb_publish(&f.rb, head);
		f.ops->notify(f.blk, 0);
		ck_assert(rb_get_used(&f.rb, &id, &len));
		ck_assert_uint_eq(*(uint8_t *)rb_host(&f.rb, status), VIRTIO_BLK_S_IOERR);
	}
	ck_assert_uint_eq(f.disk->submitted, 0);
	/* Exactly seg_max is fine. */
	n = 0;
	segs[n++] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	for (int i = 0; i < BLK_SEG_MAX; i++)
		segs[n++] = (struct rb_seg){ .len = 512, .write = true };
	segs[n++] = (struct rb_seg){ .len = 1, .write = true };
	{
		uint16_t head = rb_add_indirect(&f.rb, segs, n);
		uint32_t id, len;

		rb_publish(&f.rb, head);
		f.ops->notify(f.blk, 0);
		blk_backend_event(f.blk);
		ck_assert(rb_get_used(&f.rb, &id, &len));
		ck_assert_uint_eq(*(uint8_t *)rb_host(&f.rb, segs[n - 1].gpa), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(len, BLK_SEG_MAX * 512 + 1);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(read_only_refuses_writes)
{
	struct fx f;
	uint8_t before[DISK_BYTES];

	fx_init_ro(&f, true, NULL);
	memcpy(before, f.disk->data, DISK_BYTES);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(before, f.disk->data, DISK_BYTES);
	ck_assert_uint_eq(f.disk->submitted, 1);
	fx_fini(&f);
}
END_TEST

static uint8_t range_req(struct fx *f, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags,
			 unsigned int nranges)
{
	struct rb_seg segs[3];
	struct virtio_blk_discard_write_zeroes r[2] = {
		{ .sector = htole64(sector), .num_sectors = htole32(num), .flags = htole32(flags) },
		{ .sector = htole64(sector), .num_sectors = htole32(num), .flags = htole32(flags) },
	};

	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(f, type, 0) };
	segs[1] = (struct rb_seg){ .len = 16 * nranges };
	segs[1].gpa = rb_alloc(&f->rb, segs[1].len, 16);
	memcpy(rb_host(&f->rb, segs[1].gpa), r, segs[1].len);
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	return run(f, segs, 3, NULL);
}

START_TEST(discard_and_write_zeroes)
{
	struct fx f;

	fx_init(&f);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_WRITE_ZEROES, 2, 3, 0, 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.disk->last.op, DISK_WRITE_ZEROES);
	ck_assert_uint_eq(f.disk->last.offset, 1024);
	ck_assert_uint_eq(f.disk->last.len, 1536);
	ck_assert(!f.disk->last.unmap);
	for (int i = 1024; i < 1024 + 1536; i++)
		ck_assert_uint_eq(f.disk->data[i], 0);
	ck_assert_uint_eq(f.disk->data[1023], (uint8_t)(1023 * 7 + 3));
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1,
				    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1),
			  VIRTIO_BLK_S_OK);
	ck_assert(f.disk->last.unmap);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 8, 8, 0, 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.disk->last.op, DISK_DISCARD);
	ck_assert_uint_eq(f.disk->submitted, 3);

	/* Unmap on a discard and unknown flags are unsupported; the rest are errors. */
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 8, 8, 1, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 4, 1),
			  VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 8, 8, 0, 2), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 8, 0, 0, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 127, 2, 0, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX, 1, 0, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(f.disk->submitted, 3);
	fx_fini(&f);

	fx_init_ro(&f, true, NULL);
	/* Not offered to a read-only disk's driver. */
	ck_assert_uint_eq(range_req(&f, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(f.disk->submitted, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(backend_errors_fail_one_request)
{
	static const int errs[] = { -EIO, -ENOSPC, -EFBIG };
	struct fx f;

	fx_init(&f);
	for (unsigned int i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		f.disk->next_result = errs[i];
		ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 0, 1, 512, NULL, NULL),
				  VIRTIO_BLK_S_IOERR);
		ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_OUT, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	}
	/* A refused submission is an error for that request only. */
	f.disk->submit_error = -EBUSY;
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_IOERR);
	f.disk->submit_error = 0;
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(reset_drains_and_reports_nothing)
{
	struct fx f;
	struct rb_seg segs[3];
	uint16_t head;
	uint32_t id, len;

	fx_init(&f);
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, 0) };
	segs[1] = (struct rb_seg){ .len = 512, .write = true };
	segs[2] = (struct rb_seg){ .len = 1, .write = true };
	head = rb_add_chain(&f.rb, segs, 3);
	rb_publish(&f.rb, head);
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->npending, 1);
	f.ops->reset(f.blk);
	ck_assert_uint_eq(f.disk->drains, 1);
	ck_assert_uint_eq(f.disk->npending, 0);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	/* A kick after the reset finds a device not running. */
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->submitted, 1);
	ck_assert_int_eq(f.ops->activate(f.blk, 0), 0);
	blk_destroy(f.blk);
	virtq_destroy(f.tr.q[0]);
	rb_destroy(&f.rb);
	free(f.disk);
}
END_TEST

START_TEST(hostile_chain_needs_reset)
{
	struct fx f;
	struct rb_seg segs[2] = { { .len = 16 }, { .len = 1, .write = true } };
	uint16_t head;

	fx_init(&f);
	head = rb_add_chain(&f.rb, segs, 2);
	/* The second descriptor points back at the first: a loop. */
	rb_desc(&f.rb, (uint16_t)(head + 1))->next = htole16(head);
	rb_desc(&f.rb, (uint16_t)(head + 1))->flags |= htole16(VRING_DESC_F_NEXT);
	rb_publish(&f.rb, head);
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.tr.needs_reset, 1);
	ck_assert_uint_eq(f.disk->submitted, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(interrupts_follow_the_driver)
{
	struct fx f;

	fx_init(&f);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.tr.signals, 1);
	rb_set_avail_flags(&f.rb, VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.tr.signals, 1);
	fx_fini(&f);
}
END_TEST

START_TEST(many_requests_in_flight)
{
	struct fx f;
	struct rb_seg segs[10][3];
	uint32_t id, len;
	unsigned int n = 0;

	fx_init(&f);
	for (int i = 0; i < 5; i++) {
		segs[i][0] =
			(struct rb_seg){ .len = 16, .gpa = put_header(&f, VIRTIO_BLK_T_IN, i) };
		segs[i][1] = (struct rb_seg){ .len = 512, .write = true };
		segs[i][2] = (struct rb_seg){ .len = 1, .write = true };
		rb_publish(&f.rb, rb_add_chain(&f.rb, segs[i], 3));
	}
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->npending, 5);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	blk_backend_event(f.blk);
	while (rb_get_used(&f.rb, &id, &len))
		n++;
	ck_assert_uint_eq(n, 5);
	/* One interrupt for the batch. */
	ck_assert_uint_eq(f.tr.signals, 1);
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(*(uint8_t *)rb_host(&f.rb, segs[i][2].gpa), VIRTIO_BLK_S_OK);
		ck_assert_mem_eq(rb_host(&f.rb, segs[i][1].gpa), f.disk->data + i * 512, 512);
	}
	fx_fini(&f);
}
END_TEST

/* --- the per-turn budget ------------------------------------------------------- */

/* Publishes one DISCARD / WRITE_ZEROES chain without kicking; returns its status byte. */
static uint8_t *put_range(struct fx *f, uint32_t type, uint64_t sector, uint32_t num,
			  uint16_t *head)
{
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = htole64(sector),
		.num_sectors = htole32(num),
	};
	struct rb_seg segs[3] = {
		{ .len = 16, .gpa = put_header(f, type, 0) },
		{ .len = 16 },
		{ .len = 1, .write = true },
	};
	uint8_t *st;

	segs[1].gpa = rb_alloc(&f->rb, 16, 16);
	memcpy(rb_host(&f->rb, segs[1].gpa), &seg, sizeof(seg));
	*head = rb_add_chain(&f->rb, segs, 3);
	st = rb_host(&f->rb, segs[2].gpa);
	*st = 0xee;
	rb_publish(&f->rb, *head);
	return st;
}

static bool resume_pending(struct fx *f)
{
	struct pollfd p = { .fd = blk_resume_fd(f->blk), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void expect_piece(struct fx *f, unsigned int submitted, enum disk_op op, uint64_t off,
			 uint64_t len)
{
	ck_assert_uint_eq(f->disk->submitted, submitted);
	ck_assert_uint_eq(f->disk->last.op, op);
	ck_assert_uint_eq(f->disk->last.offset, off);
	ck_assert_uint_eq(f->disk->last.len, len);
}

START_TEST(large_discard_goes_in_pieces)
{
	struct fx f;
	struct blk_stats st;
	uint32_t id, len;
	uint16_t head;
	uint8_t *status;

	fx_init_opts(&f, false, NULL, 16, 64 * MiB);
	/* [1 MiB, 6 MiB): one piece per turn, each ending on a multiple of its size. */
	status = put_range(&f, VIRTIO_BLK_T_DISCARD, MiB / 512, 5 * MiB / 512, &head);
	f.ops->notify(f.blk, 0);
	expect_piece(&f, 1, DISK_DISCARD, MiB, MiB);
	blk_backend_event(f.blk);
	expect_piece(&f, 2, DISK_DISCARD, 2 * MiB, 2 * MiB);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	blk_backend_event(f.blk);
	expect_piece(&f, 3, DISK_DISCARD, 4 * MiB, 2 * MiB);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(*status, 0xee);
	/* The last piece completes the request, once. */
	blk_backend_event(f.blk);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(*status, VIRTIO_BLK_S_OK);
	blk_backend_event(f.blk);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(f.disk->submitted, 3);
	ck_assert_uint_eq(f.tr.signals, 1);

	/* A piece that fails fails its request, once; the rest is never started. */
	status = put_range(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8 * MiB / 512, &head);
	f.ops->notify(f.blk, 0);
	expect_piece(&f, 4, DISK_WRITE_ZEROES, 0, 2 * MiB);
	blk_backend_event(f.blk);
	expect_piece(&f, 5, DISK_WRITE_ZEROES, 2 * MiB, 2 * MiB);
	f.disk->next_result = -EIO;
	blk_backend_event(f.blk);
	ck_assert(rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(*status, VIRTIO_BLK_S_IOERR);
	blk_backend_event(f.blk);
	blk_resume(f.blk);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	ck_assert_uint_eq(f.disk->submitted, 5);
	blk_get_stats(f.blk, &st);
	ck_assert_uint_eq(st.requests, 2);
	ck_assert_uint_eq(st.ioerr, 1);
	ck_assert_uint_eq(st.inflight, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(granule_must_be_a_power_of_two)
{
	struct fake_disk d = { .size = DISK_BYTES };
	struct blk_config cfg = {
		.backend = { .ops = &fake_ops,
			     .be = &d,
			     .size = DISK_BYTES,
			     .zero_granule = 3 * 512 },
	};
	struct blk *b;

	ck_assert_int_eq(blk_create(&b, &cfg), -EINVAL);
	cfg.backend.zero_granule = 2ULL << 30;
	ck_assert_int_eq(blk_create(&b, &cfg), -EINVAL);
	cfg.backend.zero_granule = 512;
	ck_assert_int_eq(blk_create(&b, &cfg), 0);
	blk_destroy(b);
}
END_TEST

START_TEST(a_turn_has_a_budget)
{
	struct fx f;
	struct rb_seg segs[80][3];
	uint32_t id, len;
	uint16_t head;
	unsigned int n = 0, before;

	fx_init_opts(&f, false, NULL, 256, 64 * MiB);
	/* A guest queueing 80 reads (3 descriptors each): a kick takes BLK_TURN_REQUESTS, a later
	 * turn the rest. */
	for (int i = 0; i < 80; i++) {
		segs[i][0] = (struct rb_seg){ .len = 16,
					      .gpa = put_header(&f, VIRTIO_BLK_T_IN, i % 64) };
		segs[i][1] = (struct rb_seg){ .len = 512, .write = true };
		segs[i][2] = (struct rb_seg){ .len = 1, .write = true };
		rb_publish(&f.rb, rb_add_chain(&f.rb, segs[i], 3));
	}
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->submitted, BLK_TURN_REQUESTS);
	ck_assert(resume_pending(&f));
	blk_resume(f.blk);
	ck_assert_uint_eq(f.disk->submitted, 80);
	ck_assert(!resume_pending(&f));
	blk_backend_event(f.blk);
	while (rb_get_used(&f.rb, &id, &len))
		n++;
	ck_assert_uint_eq(n, 80);
	for (int i = 0; i < 80; i++)
		ck_assert_uint_eq(*(uint8_t *)rb_host(&f.rb, segs[i][2].gpa), VIRTIO_BLK_S_OK);

	/* Small discards share a turn's bytes: 40 of 256 KiB go 8 to a turn. */
	for (int i = 0; i < 40; i++)
		put_range(&f, VIRTIO_BLK_T_DISCARD, (uint64_t)i * 512, 512, &head);
	before = f.disk->submitted;
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->submitted - before, 8);
	for (int turn = 1; turn < 5; turn++) {
		ck_assert(resume_pending(&f));
		blk_resume(f.blk);
		ck_assert_uint_eq(f.disk->submitted - before, 8 * (turn + 1));
	}
	ck_assert(!resume_pending(&f));
	blk_backend_event(f.blk);
	for (n = 0; rb_get_used(&f.rb, &id, &len); n++)
		;
	ck_assert_uint_eq(n, 40);
	fx_fini(&f);
}
END_TEST

START_TEST(reset_drops_pieces_not_started)
{
	struct fx f;
	uint32_t id, len;
	uint16_t head;

	fx_init_opts(&f, false, NULL, 16, 64 * MiB);
	put_range(&f, VIRTIO_BLK_T_DISCARD, 0, 4 * MiB / 512, &head);
	put_range(&f, VIRTIO_BLK_T_DISCARD, 4 * MiB / 512, 4 * MiB / 512, &head);
	f.ops->notify(f.blk, 0);
	/* The first piece is in flight; the second request waits for a turn. */
	expect_piece(&f, 1, DISK_DISCARD, 0, 2 * MiB);
	ck_assert(resume_pending(&f));
	f.ops->reset(f.blk);
	ck_assert_uint_eq(f.disk->drains, 1);
	blk_resume(f.blk);
	blk_backend_event(f.blk);
	ck_assert_uint_eq(f.disk->submitted, 1);
	ck_assert(!rb_get_used(&f.rb, &id, &len));
	/* Both requests are free again (the sanitizers see a leak otherwise). */
	fx_fini(&f);
}
END_TEST

/* --- draining for a snapshot -------------------------------------------------- */

/*
 * Publishes a one-sector read of `sector` without kicking, through an
 * indirect table so that a ring's worth fits the descriptor table; returns
 * its status byte.
 */
static uint8_t *put_read(struct fx *f, uint64_t sector)
{
	struct rb_seg segs[3] = {
		{ .len = 16, .gpa = put_header(f, VIRTIO_BLK_T_IN, sector) },
		{ .len = 512, .write = true },
		{ .len = 1, .write = true },
	};
	uint8_t *st;

	rb_publish(&f->rb, rb_add_indirect(&f->rb, segs, 3));
	st = rb_host(&f->rb, segs[2].gpa);
	*st = 0xee;
	return st;
}

/* What virtio_mmio_save() looks at: no chain in flight, every one taken given back. */
static void expect_nothing_in_flight(struct fx *f, uint16_t used)
{
	struct virtq_state vs;
	struct blk_stats st;

	virtq_save(f->tr.q[0], &vs);
	ck_assert_uint_eq(vs.inflight, 0);
	ck_assert_uint_eq(vs.last_avail, used);
	ck_assert_uint_eq(vs.used_idx, used);
	ck_assert_uint_eq(rb_used_idx(&f->rb), used);
	ck_assert_uint_eq(f->disk->npending, 0);
	blk_get_stats(f->blk, &st);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_int_eq(f->tr.lock_depth, 0);
}

START_TEST(drain_completes_everything)
{
	struct fx f;
	uint8_t *status[5];
	uint32_t id, len;
	uint16_t head;
	unsigned int n;

	fx_init_opts(&f, false, NULL, 16, 64 * MiB);
	/* Nothing in flight: harmless. */
	blk_drain(f.blk);
	ck_assert_uint_eq(f.tr.signals, 0);
	expect_nothing_in_flight(&f, 0);

	for (int i = 0; i < 3; i++)
		status[i] = put_read(&f, (uint64_t)i);
	/* 5 MiB from 1 MiB: three pieces, one per turn; then 4 MiB that waits whole. */
	status[3] = put_range(&f, VIRTIO_BLK_T_DISCARD, MiB / 512, 5 * MiB / 512, &head);
	status[4] = put_range(&f, VIRTIO_BLK_T_WRITE_ZEROES, 8 * MiB / 512, 4 * MiB / 512, &head);
	f.ops->notify(f.blk, 0);
	ck_assert_uint_eq(f.disk->npending, 4);
	ck_assert(!rb_get_used(&f.rb, &id, &len));

	blk_drain(f.blk);
	ck_assert_uint_ge(f.disk->drains, 3);
	ck_assert_uint_eq(f.disk->submitted, 3 + 3 + 2);
	expect_nothing_in_flight(&f, 5);
	for (n = 0; rb_get_used(&f.rb, &id, &len); n++)
		;
	ck_assert_uint_eq(n, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(*status[i], VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(f.tr.signals, 1);

	/* The device goes on as before. */
	ck_assert_uint_eq(rw(&f, VIRTIO_BLK_T_IN, 0, 1, 512, NULL, NULL), VIRTIO_BLK_S_OK);
	fx_fini(&f);
}
END_TEST

/* A device out of request slots is resumed by completions: drain's must not strand it. */
START_TEST(drain_resumes_a_stalled_queue)
{
	struct fx f;
	uint32_t id, len;
	uint8_t *last;
	unsigned int n;

	fx_init_opts(&f, false, NULL, BLK_QUEUE_SIZE, DISK_BYTES);
	for (int i = 0; i < BLK_QUEUE_SIZE; i++)
		put_read(&f, (uint64_t)(i % 64));
	f.ops->notify(f.blk, 0);
	while (resume_pending(&f))
		blk_resume(f.blk);
	ck_assert_uint_eq(f.disk->npending, BLK_QUEUE_SIZE);

	blk_drain(f.blk);
	expect_nothing_in_flight(&f, BLK_QUEUE_SIZE);
	for (n = 0; rb_get_used(&f.rb, &id, &len); n++)
		;
	ck_assert_uint_eq(n, BLK_QUEUE_SIZE);
	/* With kicks still off, a chain posted now is taken by the turn drain asked for. */
	last = put_read(&f, 1);
	ck_assert(resume_pending(&f));
	blk_resume(f.blk);
	ck_assert_uint_eq(f.disk->npending, 1);
	blk_backend_event(f.blk);
	ck_assert_uint_eq(*last, VIRTIO_BLK_S_OK);
	fx_fini(&f);
}
END_TEST

/* --- through the real disk, on a memfd ---------------------------------------- */

struct real {
	struct fx f;
	struct disk *disk;
	int memfd;
};

static void real_init(struct real *r, enum disk_aio aio)
{
	struct blk_config cfg = { .name = "memfd-blk" };
	struct virtio_transport tr = { .ops = &fake_transport_ops, .t = &r->f.tr };
	struct disk_config dc = { .format = DISK_FORMAT_RAW,
				  .cache = DISK_CACHE_WRITEBACK,
				  .aio = aio };
	uint8_t pattern[DISK_BYTES];
	char path[64], err[256];

	memset(r, 0, sizeof(*r));
	r->memfd = memfd_create("blk-test", MFD_CLOEXEC);
	ck_assert_int_ge(r->memfd, 0);
	for (size_t i = 0; i < DISK_BYTES; i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(pwrite(r->memfd, pattern, DISK_BYTES, 0), DISK_BYTES);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->memfd);
	dc.path = path;
	ck_assert_msg(disk_open(&r->disk, &dc, err, sizeof(err)) == 0, "%s", err);
	/* Where io_uring does not work, the disk falls back to threads: say so. */
	if (aio == DISK_AIO_IO_URING && strcmp(disk_engine_name(r->disk), "io_uring") != 0)
		unit_missing("io_uring", "the io_uring engine is unavailable; %s ran instead",
			     disk_engine_name(r->disk));

	ck_assert_int_eq(rb_init(&r->f.rb, RAM_BASE, RAM_SIZE, 16), 0);
	vdrv_virtq_create(&r->f.tr.q[0], &r->f.rb, true, BLK_QUEUE_SIZE);
	blk_backend_disk(&cfg.backend, r->disk);
	ck_assert_int_eq(blk_create(&r->f.blk, &cfg), 0);
	blk_device(r->f.blk, &r->f.info, &r->f.ops);
	blk_attach(r->f.blk, &tr);
	ck_assert_int_eq(r->f.ops->activate(r->f.blk, all_features), 0);
}

static void real_fini(struct real *r)
{
	r->f.ops->reset(r->f.blk);
	blk_destroy(r->f.blk);
	disk_close(r->disk);
	virtq_destroy(r->f.tr.q[0]);
	rb_destroy(&r->f.rb);
	close(r->memfd);
}

/* Publishes a chain and runs the event loop's part until the device returns it. */
static uint8_t real_run(struct real *r, struct rb_seg *segs, unsigned int n)
{
	uint16_t head = rb_add_chain(&r->f.rb, segs, n);
	uint8_t *status = rb_host(&r->f.rb, segs[n - 1].gpa + segs[n - 1].len - 1);
	uint32_t id, len;

	*status = 0xee;
	rb_publish(&r->f.rb, head);
	r->f.ops->notify(r->f.blk, 0);
	for (int spins = 0; !rb_get_used(&r->f.rb, &id, &len); spins++) {
		struct pollfd p = { .fd = disk_event_fd(r->disk), .events = POLLIN };

		ck_assert_int_lt(spins, 100);
		ck_assert_int_ge(poll(&p, 1, 1000), 0);
		blk_backend_event(r->f.blk);
	}
	ck_assert_uint_eq(id, head);
	return *status;
}

static uint8_t real_rw(struct real *r, uint32_t type, uint64_t sector, uint32_t len, uint64_t *data)
{
	struct rb_seg segs[3] = {
		{ .len = 16, .gpa = put_header(&r->f, type, sector) },
		{ .len = len, .write = type == VIRTIO_BLK_T_IN },
		{ .len = 1, .write = true },
	};

	segs[1].gpa = rb_alloc(&r->f.rb, len, 512);
	if (type == VIRTIO_BLK_T_OUT)
		memset(rb_host(&r->f.rb, segs[1].gpa), 0xa5, len);
	*data = segs[1].gpa;
	return real_run(r, segs, 3);
}

static uint8_t real_range(struct real *r, uint32_t type, uint64_t sector, uint32_t num,
			  uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = htole64(sector),
		.num_sectors = htole32(num),
		.flags = htole32(flags),
	};
	struct rb_seg segs[3] = {
		{ .len = 16, .gpa = put_header(&r->f, type, 0) },
		{ .len = 16 },
		{ .len = 1, .write = true },
	};

	segs[1].gpa = rb_alloc(&r->f.rb, 16, 16);
	memcpy(rb_host(&r->f.rb, segs[1].gpa), &seg, sizeof(seg));
	return real_run(r, segs, 3);
}

static void expect_bytes(struct real *r, uint64_t off, size_t len, int value)
{
	uint8_t buf[4096];

	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(pread(r->memfd, buf, len, (off_t)off), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		ck_assert_uint_eq(buf[i], value < 0 ? (uint8_t)((off + i) * 7 + 3) : value);
}

static void real_disk_lands_byte_exact(enum disk_aio aio)
{
	struct real r;
	struct rb_seg segs[2];
	uint64_t data;

	real_init(&r, aio);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_OUT, 2, 1024, &data), VIRTIO_BLK_S_OK);
	expect_bytes(&r, 1024, 1024, 0xa5);
	expect_bytes(&r, 1023, 1, -1);
	expect_bytes(&r, 2048, 1, -1);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_IN, 8, 2048, &data), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 2048; i++)
		ck_assert_uint_eq(((uint8_t *)rb_host(&r.f.rb, data))[i],
				  (uint8_t)((4096 + i) * 7 + 3));
	segs[0] = (struct rb_seg){ .len = 16, .gpa = put_header(&r.f, VIRTIO_BLK_T_FLUSH, 0) };
	segs[1] = (struct rb_seg){ .len = 1, .write = true };
	ck_assert_uint_eq(real_run(&r, segs, 2), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(real_range(&r, VIRTIO_BLK_T_WRITE_ZEROES, 16, 2, 0), VIRTIO_BLK_S_OK);
	expect_bytes(&r, 8192, 1024, 0);
	expect_bytes(&r, 9216, 1, -1);
	ck_assert_uint_eq(real_range(&r, VIRTIO_BLK_T_WRITE_ZEROES, 20, 8,
				     VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
			  VIRTIO_BLK_S_OK);
	expect_bytes(&r, 10240, 4096, 0);
	ck_assert_uint_eq(real_range(&r, VIRTIO_BLK_T_DISCARD, 40, 8, 0), VIRTIO_BLK_S_OK);
	expect_bytes(&r, 40 * 512 - 1, 1, -1);

	/* A short write is finished by the engine; the guest sees success. */
	disk_test_inject(r.disk, DISK_OP_BIT(DISK_WRITE), 1, 100);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_OUT, 64, 1024, &data), VIRTIO_BLK_S_OK);
	expect_bytes(&r, 64 * 512, 1024, 0xa5);
	/* EIO and ENOSPC fail their request; the next one succeeds. */
	disk_test_inject(r.disk, DISK_OP_BIT(DISK_WRITE), 1, -EIO);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_OUT, 80, 512, &data), VIRTIO_BLK_S_IOERR);
	expect_bytes(&r, 80 * 512, 512, -1);
	disk_test_inject(r.disk, DISK_OP_BIT(DISK_READ), 1, -ENOSPC);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_IN, 80, 512, &data), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(real_rw(&r, VIRTIO_BLK_T_OUT, 80, 512, &data), VIRTIO_BLK_S_OK);
	expect_bytes(&r, 80 * 512, 512, 0xa5);

	/* Requests the engine holds, drained for a snapshot: all back, none in flight. */
	{
		uint8_t *status[8];
		struct virtq_state vs;
		uint16_t used = rb_used_idx(&r.f.rb);
		uint32_t id, len;

		for (int i = 0; i < 8; i++)
			status[i] = put_read(&r.f, (uint64_t)i);
		r.f.ops->notify(r.f.blk, 0);
		blk_drain(r.f.blk);
		ck_assert_uint_eq(disk_inflight(r.disk), 0);
		virtq_save(r.f.tr.q[0], &vs);
		ck_assert_uint_eq(vs.inflight, 0);
		ck_assert_uint_eq(rb_used_idx(&r.f.rb), (uint16_t)(used + 8));
		for (int i = 0; i < 8; i++) {
			ck_assert(rb_get_used(&r.f.rb, &id, &len));
			ck_assert_uint_eq(*status[i], VIRTIO_BLK_S_OK);
		}
	}
	real_fini(&r);
}

START_TEST(memfd_disk_io_uring)
{
	real_disk_lands_byte_exact(DISK_AIO_IO_URING);
}
END_TEST

START_TEST(memfd_disk_threads)
{
	real_disk_lands_byte_exact(DISK_AIO_THREADS);
}
END_TEST

/* --- a 2 GiB discard on a qcow2 image with 512-byte clusters, in an event loop -- */

/* The real disk behind a backend that watches what each turn gives it. */
struct turns {
	struct disk *disk;
	struct blk *blk;
	uint64_t next_off;	 /* where the next piece must start */
	uint64_t turn_bytes;	 /* discarded in this turn */
	uint64_t max_turn_bytes; /* in any one turn */
	unsigned int pieces, device_turns;
	unsigned int console_calls, console_at_piece;
};

static int turns_submit(void *be, struct disk_req *req)
{
	struct turns *t = be;

	if (req->op == DISK_DISCARD) {
		ck_assert_uint_eq(req->offset, t->next_off);
		/* The console's handler ran since the piece before. */
		if (t->pieces)
			ck_assert_uint_gt(t->console_calls, t->console_at_piece);
		t->console_at_piece = t->console_calls;
		t->next_off += req->len;
		t->turn_bytes += req->len;
		if (t->turn_bytes > t->max_turn_bytes)
			t->max_turn_bytes = t->turn_bytes;
		t->pieces++;
	}
	return disk_submit(t->disk, req);
}

static unsigned int turns_complete(void *be)
{
	return disk_complete(((struct turns *)be)->disk);
}

static void turns_drain(void *be)
{
	disk_drain(((struct turns *)be)->disk);
}

static const struct blk_backend_ops turns_ops = {
	.submit = turns_submit,
	.complete = turns_complete,
	.drain = turns_drain,
};

static void turn_begins(struct turns *t)
{
	t->turn_bytes = 0;
	t->device_turns++;
}

static void on_disk(void *opaque, uint32_t events)
{
	struct turns *t = opaque;

	(void)events;
	turn_begins(t);
	blk_backend_event(t->blk);
}

static void on_resume(void *opaque, uint32_t events)
{
	struct turns *t = opaque;

	(void)events;
	turn_begins(t);
	blk_resume(t->blk);
}

/* Stands for the console's input handler: its eventfd stays readable. */
static void on_console(void *opaque, uint32_t events)
{
	(void)events;
	((struct turns *)opaque)->console_calls++;
}

START_TEST(two_gib_discard_on_qcow2_yields)
{
	const uint64_t total = (uint64_t)BLK_MAX_DISCARD_SECTORS * 512;
	const uint64_t piece = BLK_ZERO_UNITS * 512ULL; /* the image's clusters */
	char tdir[256], path[300], cmd[400], errbuf[256];
	struct disk_config dc = { .path = path, .format = DISK_FORMAT_QCOW2 };
	struct virtio_transport tr;
	struct blk_config cfg = { .name = "qcow2-blk" };
	struct turns t = { 0 };
	struct evloop *loop;
	struct fx f = { 0 };
	uint64_t one = 1;
	uint32_t id, len;
	uint16_t head;
	uint8_t *status;
	int console;

	ck_assert_int_eq(scratch_dir(tdir, sizeof(tdir), "ember-blk-"), 0);
	snprintf(path, sizeof(path), "%s/d.qcow2", tdir);
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 -o cluster_size=512 '%s' 2G", path);
	ck_assert_msg(system(cmd) == 0, "%s failed (is qemu-img installed?)", cmd);
	ck_assert_msg(disk_open(&t.disk, &dc, errbuf, sizeof(errbuf)) == 0, "%s", errbuf);

	tr = (struct virtio_transport){ .ops = &fake_transport_ops, .t = &f.tr };
	ck_assert_int_eq(rb_init(&f.rb, RAM_BASE, RAM_SIZE, 16), 0);
	vdrv_virtq_create(&f.tr.q[0], &f.rb, true, BLK_QUEUE_SIZE);
	blk_backend_disk(&cfg.backend, t.disk);
	ck_assert_uint_eq(cfg.backend.zero_granule, 512);
	cfg.backend.ops = &turns_ops;
	cfg.backend.be = &t;
	ck_assert_int_eq(blk_create(&f.blk, &cfg), 0);
	t.blk = f.blk;
	blk_device(f.blk, &f.info, &f.ops);
	blk_attach(f.blk, &tr);
	ck_assert_int_eq(f.ops->activate(f.blk, all_features), 0);

	ck_assert_int_eq(evloop_create(&loop), 0);
	console = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(console, 0);
	ck_assert_int_eq(write(console, &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(evloop_add(loop, disk_event_fd(t.disk), EPOLLIN, on_disk, &t), 0);
	ck_assert_int_eq(evloop_add(loop, blk_resume_fd(f.blk), EPOLLIN, on_resume, &t), 0);
	ck_assert_int_eq(evloop_add(loop, console, EPOLLIN, on_console, &t), 0);

	status = put_range(&f, VIRTIO_BLK_T_DISCARD, 0, BLK_MAX_DISCARD_SECTORS, &head);
	turn_begins(&t);
	f.ops->notify(f.blk, 0);
	for (int i = 0; !rb_get_used(&f.rb, &id, &len); i++) {
		ck_assert_int_lt(i, 1000000);
		ck_assert_int_ge(evloop_run_once(loop, 1000), 0);
	}
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(*status, VIRTIO_BLK_S_OK);
	/* Many turns, none over the budget, the console served between pieces. */
	ck_assert_uint_eq(t.next_off, total);
	ck_assert_uint_eq(t.pieces, total / piece);
	ck_assert_uint_le(t.max_turn_bytes, piece);
	ck_assert_uint_ge(t.device_turns, total / piece);
	ck_assert_uint_ge(t.console_calls, total / piece - 1);
	/* Completed exactly once. */
	for (int i = 0; i < 10; i++)
		ck_assert_int_ge(evloop_run_once(loop, 0), 0);
	ck_assert(!rb_get_used(&f.rb, &id, &len));

	evloop_destroy(loop);
	close(console);
	f.ops->reset(f.blk);
	blk_destroy(f.blk);
	ck_assert_int_eq(disk_close(t.disk), 0);
	virtq_destroy(f.tr.q[0]);
	rb_destroy(&f.rb);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(tdir), 0);
}
END_TEST

static Suite *blk_suite(void)
{
	Suite *s = suite_create("blk");
	TCase *tc = tcase_create("requests");

	tcase_add_test(tc, config_space_and_features);
	tcase_add_test(tc, write_then_read_lands_byte_exact);
	tcase_add_test(tc, any_layout_is_accepted);
	tcase_add_test(tc, flush_and_get_id);
	tcase_add_test(tc, bad_requests_touch_nothing);
	tcase_add_test(tc, no_status_byte_returns_the_chain);
	tcase_add_test(tc, more_buffers_than_seg_max);
	tcase_add_test(tc, read_only_refuses_writes);
	tcase_add_test(tc, discard_and_write_zeroes);
	tcase_add_test(tc, backend_errors_fail_one_request);
	tcase_add_test(tc, reset_drains_and_reports_nothing);
	tcase_add_test(tc, hostile_chain_needs_reset);
	tcase_add_test(tc, interrupts_follow_the_driver);
	tcase_add_test(tc, many_requests_in_flight);
	tcase_add_test(tc, memfd_disk_io_uring);
	tcase_add_test(tc, memfd_disk_threads);
	tcase_add_test(tc, large_discard_goes_in_pieces);
	tcase_add_test(tc, granule_must_be_a_power_of_two);
	tcase_add_test(tc, a_turn_has_a_budget);
	tcase_add_test(tc, reset_drops_pieces_not_started);
	tcase_add_test(tc, drain_completes_everything);
	tcase_add_test(tc, drain_resumes_a_stalled_queue);
	tcase_add_test(tc, two_gib_discard_on_qcow2_yields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(blk_suite());
}
