// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a virtio-blk device behind its virtio-mmio window, driven
 * by the hostile driver of fuzzdrv.h, over a fake backend the input steers:
 * each request it takes succeeds, fails, transfers part of its data and then
 * fails, is refused at submission, or stalls until the input releases it,
 * and ready completions are delivered in or out of order.
 *
 * Beyond the ledger's checks (every chain goes back once, with its status
 * byte written; a broken queue means DEVICE_NEEDS_RESET): the backend sees
 * only requests inside the disk, every request it takes completes exactly
 * once, and once the backend has finished everything, no chain is left held.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzdrv.h"
#include "virtio/blk.h"

#define DISK_BYTES (32 * 1024)

enum fate { F_OK, F_FAIL, F_SHORT };

struct pend {
	struct disk_req *req;
	enum fate fate;
	bool ready;
};

struct fake {
	struct fin *in;
	struct fdrv *d;
	struct blk *b;
	uint8_t disk[DISK_BYTES];
	struct pend p[DISK_MAX_INFLIGHT];
	unsigned int n;
	bool reverse; /* deliver ready completions newest first */
};

static int fake_submit(void *be, struct disk_req *req)
{
	struct fake *f = be;
	uint8_t how = (uint8_t)fin_take(f->in, 1);
	uint64_t len = 0;

	if (req->op == DISK_READ || req->op == DISK_WRITE) {
		if (req->iovcnt == 0 || req->iovcnt > DISK_MAX_IOV)
			fdrv_fail("a read or write with no buffers, or too many");
		for (unsigned int k = 0; k < req->iovcnt; k++) {
			if (!fdrv_in_ram(f->d, req->iov[k].iov_base, req->iov[k].iov_len))
				fdrv_fail("a data buffer outside guest RAM");
			len += req->iov[k].iov_len;
		}
		if (len != req->len || len % DISK_SECTOR)
			fdrv_fail("request lengths do not add up");
	} else if (req->op == DISK_DISCARD || req->op == DISK_WRITE_ZEROES) {
		len = req->len;
		if (len == 0)
			fdrv_fail("an empty discard");
	}
	if (req->offset > DISK_BYTES || len > DISK_BYTES - req->offset)
		fdrv_fail("a request past the end of the disk");

	/* Refused now, or taken: 1 in 8 each fails, goes short, or stalls. */
	if (how % 8 == 7 || f->n == DISK_MAX_INFLIGHT)
		return how & 0x80 ? -EAGAIN : -EBUSY;
	f->p[f->n++] = (struct pend){
		.req = req,
		.fate = how % 8 == 4   ? F_FAIL
			: how % 8 == 5 ? F_SHORT
				       : F_OK,
		.ready = how % 8 != 6,
	};
	return 0;
}

/* Carries out p's fate and completes it. */
static void finish(struct fake *f, struct pend p)
{
	struct disk_req *r = p.req;
	uint64_t off = r->offset;
	/* A short transfer moves the first buffer's first half, then fails. */
	unsigned int niov = p.fate == F_OK ? r->iovcnt : p.fate == F_SHORT && r->iovcnt ? 1 : 0;

	for (unsigned int k = 0; k < niov; k++) {
		size_t len = p.fate == F_SHORT ? r->iov[k].iov_len / 2 : r->iov[k].iov_len;

		if (r->op == DISK_READ)
			memcpy(r->iov[k].iov_base, f->disk + off, len);
		else if (r->op == DISK_WRITE)
			memcpy(f->disk + off, r->iov[k].iov_base, len);
		off += len;
	}
	if (p.fate == F_OK && r->op == DISK_WRITE_ZEROES)
		memset(f->disk + r->offset, 0, r->len);
	r->done(r, p.fate == F_OK ? 0 : -EIO);
}

/* Takes entry k out of the list first: done() may submit more. */
static void finish_at(struct fake *f, unsigned int k)
{
	struct pend p = f->p[k];

	memmove(&f->p[k], &f->p[k + 1], (f->n - k - 1) * sizeof(f->p[0]));
	f->n--;
	finish(f, p);
}

static unsigned int fake_complete(void *be)
{
	struct fake *f = be;
	unsigned int done = 0;

	if (f->reverse) {
		for (unsigned int k = f->n; k--;) {
			if (f->p[k].ready) {
				finish_at(f, k);
				done++;
			}
		}
		return done;
	}
	for (unsigned int k = 0; k < f->n;) {
		if (f->p[k].ready) {
			finish_at(f, k);
			done++;
		} else {
			k++;
		}
	}
	return done;
}

static void fake_drain(void *be)
{
	struct fake *f = be;

	while (f->n)
		finish_at(f, 0);
}

static const struct blk_backend_ops fake_ops = {
	.submit = fake_submit,
	.complete = fake_complete,
	.drain = fake_drain,
};

static void action(void *dev, struct fin *in)
{
	struct fake *f = dev;
	uint8_t what = (uint8_t)fin_take(in, 1);

	switch (what % 5) {
	case 0: /* a stalled request becomes ready */
		if (f->n)
			f->p[fin_take(in, 1) % f->n].ready = true;
		break;
	case 1: /* everything becomes ready */
		for (unsigned int k = 0; k < f->n; k++)
			f->p[k].ready = true;
		break;
	case 2: /* the device's resume event fires: the next turn's share */
		blk_resume(f->b);
		break;
	default: /* the backend's event fd fires */
		f->reverse = what & 0x80;
		blk_backend_event(f->b);
		break;
	}
}

static void check(void *dev)
{
	struct fake *f = dev;

	/* Every request in the backend holds a chain, and more besides may be refused ones. */
	if (f->n > fdrv_held(f->d, 0))
		fdrv_fail("backend requests without a chain");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake *f;
	struct fin hdr = { data, size };
	struct blk_config cfg = { .serial = "fuzz", .name = "fuzz-blk" };
	struct fdrv d;
	struct fdrv_target tgt = { .action = action, .check = check, .status_check = true };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;

	if (!f) {
		f = malloc(sizeof(*f));
		if (!f)
			abort();
	}
	/* Pieces of 2, 8 and 32 KiB (256 granules), so a request on the small disk splits. */
	static const uint64_t granules[] = { 0, 8, 32, 128 };
	uint8_t first = (uint8_t)fin_take(&hdr, 1);

	memset(f, 0, sizeof(*f));
	/* The first byte also chooses whether DISCARD and WRITE_ZEROES go in pieces. */
	cfg.backend = (struct blk_backend){
		.ops = &fake_ops,
		.be = f,
		.size = DISK_BYTES,
		.readonly = first == 0x52,
		.zero_granule = granules[first & 3],
	};
	if (blk_create(&f->b, &cfg) < 0)
		abort();
	blk_device(f->b, &info, &ops);
	fdrv_init(&d, hdr.p, hdr.left, &info, ops, f->b, &tr);
	blk_attach(f->b, &tr);
	f->in = &d.in;
	f->d = &d;
	tgt.dev = f;
	fdrv_run(&d, &tgt);

	/*
	 * The backend finishes everything and the device gets the turns it asks
	 * for; it takes what it left on the ring meanwhile (bounded by avail.idx,
	 * which nobody moves now) and the pieces of split requests.
	 */
	for (unsigned int round = 0;
	     round < 64 * BLK_QUEUE_SIZE && (f->n || (!fdrv_broken(&d, 0) && fdrv_held(&d, 0)));
	     round++) {
		for (unsigned int k = 0; k < f->n; k++)
			f->p[k].ready = true;
		blk_backend_event(f->b);
		blk_resume(f->b);
	}
	if (f->n)
		fdrv_fail("the backend never runs dry");
	if (!fdrv_broken(&d, 0) && fdrv_held(&d, 0))
		fdrv_fail("a chain never completed");
	fdrv_fini(&d);
	if (f->n)
		fdrv_fail("requests in the backend after a reset");
	blk_destroy(f->b);
	return 0;
}
