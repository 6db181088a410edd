// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a virtio-blk device behind its virtio-mmio window, driven
 * by a hostile driver the fuzzer writes. The input is a program of
 * operations: register reads and writes, bytes poked into guest RAM (rings,
 * descriptors, requests), kicks, and backend completions that succeed or
 * fail. Sanitizers catch memory errors; the target itself checks that the
 * device never writes outside guest RAM (it has none to write but the
 * buffer) and that every submitted request completes exactly once.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/gmem.h"
#include "core/log.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"

#define RAM_SIZE (64 * 1024)
#define MMIO_BASE 0x10000000ULL
#define DISK_BYTES (32 * 1024)
#define MAX_PENDING 512

struct fake {
	uint8_t disk[DISK_BYTES];
	struct disk_req *pending[MAX_PENDING];
	unsigned int npending;
	int next_result;
};

static int fake_submit(void *be, struct disk_req *req)
{
	struct fake *f = be;

	if (f->npending == MAX_PENDING)
		return -EBUSY;
	f->pending[f->npending++] = req;
	return 0;
}

static unsigned int fake_complete(void *be)
{
	struct fake *f = be;
	unsigned int n = f->npending;

	f->npending = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct disk_req *r = f->pending[i];
		uint64_t off = r->offset;

		if (f->next_result == 0 && (r->op == DISK_READ || r->op == DISK_WRITE)) {
			for (unsigned int k = 0; k < r->iovcnt; k++) {
				/* blk_parse promised the range is inside the disk. */
				if (off + r->iov[k].iov_len > DISK_BYTES)
					abort();
				if (r->op == DISK_READ)
					memcpy(r->iov[k].iov_base, f->disk + off,
					       r->iov[k].iov_len);
				else
					memcpy(f->disk + off, r->iov[k].iov_base,
					       r->iov[k].iov_len);
				off += r->iov[k].iov_len;
			}
		}
		if ((r->op == DISK_DISCARD || r->op == DISK_WRITE_ZEROES) &&
		    r->offset + r->len > DISK_BYTES)
			abort();
		r->done(r, f->next_result);
	}
	return n;
}

static void fake_drain(void *be)
{
	fake_complete(be);
}

static const struct blk_backend_ops fake_ops = {
	.submit = fake_submit,
	.complete = fake_complete,
	.drain = fake_drain,
};

static void no_interrupt(void *opaque)
{
	(void)opaque;
}

/* Reads the next n bytes of input, or zeroes past its end. */
struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t b = 0;

		if (in->left) {
			b = *in->p++;
			in->left--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void wr32(struct bus *bus, uint64_t off, uint32_t v)
{
	bus_write(bus, MMIO_BASE + off, &v, 4);
}

/* The driver's usual start, with the ring addresses and size the input picks. */
static void start_device(struct bus *bus, struct input *in)
{
	uint32_t size = 1U << (take(in, 1) % 10);

	wr32(bus, 0x70, 0);
	wr32(bus, 0x70, 1);
	wr32(bus, 0x70, 3);
	wr32(bus, 0x24, 0);
	wr32(bus, 0x20, (uint32_t)take(in, 4));
	wr32(bus, 0x24, 1);
	wr32(bus, 0x20, 1); /* VERSION_1 */
	wr32(bus, 0x70, 11);
	wr32(bus, 0x30, 0);
	wr32(bus, 0x38, size);
	wr32(bus, 0x80, (uint32_t)take(in, 2) & ~15U);
	wr32(bus, 0x90, (uint32_t)take(in, 2) & ~1U);
	wr32(bus, 0xa0, (uint32_t)take(in, 2) & ~3U);
	wr32(bus, 0x44, 1);
	wr32(bus, 0x70, 15);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	static struct fake *fake;
	struct input in = { data, size };
	struct gmem mem;
	struct bus *bus;
	struct blk *b;
	struct virtio_mmio *t;
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;
	struct virtio_mmio_host host = { .mem = &mem, .interrupt = no_interrupt };
	struct blk_config cfg = { .serial = "fuzz", .name = "fuzz-blk" };
	unsigned int steps = 0;

	if (!ram) {
		log_set_level(LOG_LVL_ERROR);
		ram = malloc(RAM_SIZE);
		fake = malloc(sizeof(*fake));
		if (!ram || !fake)
			abort();
	}
	memset(ram, 0, RAM_SIZE);
	memset(fake, 0, sizeof(*fake));
	memset(&mem, 0, sizeof(mem));
	if (gmem_add_region(&mem, 0, ram, RAM_SIZE) < 0 || bus_create(&bus, "mmio", 0) < 0)
		abort();
	cfg.backend = (struct blk_backend){
		.ops = &fake_ops,
		.be = fake,
		.size = DISK_BYTES,
		.readonly = take(&in, 1) & 1,
	};
	if (blk_create(&b, &cfg) < 0)
		abort();
	blk_device(b, &info, &ops);
	if (virtio_mmio_create(&t, &info, ops, b, &host) < 0)
		abort();
	virtio_mmio_transport(t, &tr);
	blk_attach(b, &tr);
	if (virtio_mmio_register(t, bus, MMIO_BASE) < 0)
		abort();

	while (in.left && steps++ < 4096) {
		uint8_t op = (uint8_t)take(&in, 1);

		switch (op % 8) {
		case 0:
			wr32(bus, take(&in, 1) & 0xfc, (uint32_t)take(&in, 4));
			break;
		case 1: {
			uint32_t v;

			bus_read(bus, MMIO_BASE + (take(&in, 2) & 0x1ff), &v,
				 1U << (take(&in, 1) % 3));
			break;
		}
		case 2: {
			/* Bytes into guest RAM: rings, descriptors, request headers. */
			uint64_t at = take(&in, 2) % RAM_SIZE;
			unsigned int n = (unsigned int)take(&in, 1) % 32;

			for (unsigned int i = 0; i < n && at + i < RAM_SIZE; i++)
				ram[at + i] = (uint8_t)take(&in, 1);
			break;
		}
		case 3:
			virtio_mmio_notify(t, (unsigned int)take(&in, 1) % 3);
			break;
		case 4:
			fake->next_result = take(&in, 1) & 1 ? -EIO : 0;
			blk_backend_event(b);
			break;
		case 5:
			start_device(bus, &in);
			break;
		case 6:
			wr32(bus, 0x50, (uint32_t)take(&in, 1) % 3);
			break;
		case 7: {
			uint8_t v = (uint8_t)take(&in, 1);

			bus_write(bus, MMIO_BASE + 0x100 + (take(&in, 1) % 72), &v, 1);
			break;
		}
		}
	}
	/* Tearing down resets an active device, which completes what is in flight. */
	virtio_mmio_destroy(t);
	if (fake->npending)
		abort();
	blk_destroy(b);
	bus_destroy(bus);
	return 0;
}
