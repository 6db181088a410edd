// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-rng behind its virtio-mmio window, driven by the
 * hostile driver of fuzzdrv.h, with a rate limit the input chooses (or
 * QEMU's defaults), a clock and a timer the input moves and fires, and an
 * entropy source it steers: full, short, nothing, EAGAIN, other errors, or
 * claiming more than it was given room for. The device is compiled into
 * this file with its pops, pushes and unpops seen on the way.
 *
 * Beyond the ledger's checks: the source is handed only guest RAM, never an
 * empty buffer, and never more than the quota has left (a model of the
 * limit, kept apart from the device's); each chain goes back with exactly
 * the bytes the source produced for it, and with some unless it had
 * readable buffers; one put back on the ring had none; no chain is held
 * between calls; once the driver kicks, the source behaves and the timer
 * fires whenever armed, the device leaves nothing on the ring; and a timer event on a
 * device not running (reset, or never started) touches nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzdrv.h"
#include "virtio/virtq.h"

static int seen_pop(struct virtq *q, struct virtq_chain *c);
static int seen_push(struct virtq *q, uint16_t head, uint32_t written);
static int seen_unpop(struct virtq *q, unsigned int n);

#define virtq_pop seen_pop
#define virtq_push seen_push
#define virtq_unpop seen_unpop
#include "virtio/rng.c"
#undef virtq_pop
#undef virtq_push
#undef virtq_unpop

#define MS 1000000ULL

enum smode { S_FULL, S_SHORT, S_NONE, S_EAGAIN, S_EIO, S_OVERCLAIM, S_MODES };

struct frng {
	struct fdrv *d;
	struct rng *r;
	uint64_t now;
	uint64_t deadline;
	bool armed;
	enum smode mode; /* for the next `count` fills */
	unsigned int count;
	bool readable;	   /* the chain popped last has device-readable buffers */
	uint64_t produced; /* by the source since the device last pushed or put back */
	uint64_t fills;
	/* The limit as the device must keep it. */
	uint64_t max_bytes, period_ns;
	uint64_t quota, period_end;
};

static struct frng fr;

static int seen_pop(struct virtq *q, struct virtq_chain *c)
{
	int ret = virtq_pop(q, c);

	if (ret == 0)
		fr.readable = c->out_num != 0;
	return ret;
}

static int seen_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (written != fr.produced)
		fdrv_fail("a chain given back with other than the bytes the source produced");
	/* Spec 5.4.6.2: one random byte or more in each buffer that has room. */
	if (written == 0 && !fr.readable)
		fdrv_fail("a request given back without random bytes");
	fr.produced = 0;
	return virtq_push(q, head, written);
}

static int seen_unpop(struct virtq *q, unsigned int n)
{
	if (n != 1 || fr.produced)
		fdrv_fail("a chain put back with random bytes in it, or more than one");
	return virtq_unpop(q, n);
}

static ssize_t fake_fill(void *opaque, void *buf, size_t len)
{
	enum smode m = S_FULL;
	size_t k = len;

	(void)opaque;
	fr.fills++;
	if (len == 0 || !fdrv_in_ram(fr.d, buf, len))
		fdrv_fail("the source asked to fill nothing, or outside guest RAM");
	if (fr.period_end && fr.now >= fr.period_end) {
		fr.quota = fr.max_bytes;
		fr.period_end = 0;
	}
	if (len > fr.quota)
		fdrv_fail("more asked of the source than the quota has left");
	if (fr.count) {
		fr.count--;
		m = fr.mode;
	}
	switch (m) {
	case S_SHORT:
		k = len / 2;
		break;
	case S_NONE:
		return 0;
	case S_EAGAIN:
		return -EAGAIN;
	case S_EIO:
		return -EIO;
	default:
		break;
	}
	memset(buf, 0x5a, k);
	if (k) {
		if (!fr.period_end)
			fr.period_end = fr.now + fr.period_ns;
		fr.quota -= k;
	}
	fr.produced += k;
	/* The device must hold the source to the room it gave. */
	return (ssize_t)(m == S_OVERCLAIM ? k + 7 : k);
}

static uint64_t fake_now(void *opaque)
{
	(void)opaque;
	return fr.now;
}

static void fake_arm(void *opaque, uint64_t deadline)
{
	(void)opaque;
	fr.deadline = deadline;
	fr.armed = true;
}

/* The host's timer event; on a device not running it must touch nothing. */
static void timer_event(void)
{
	bool idle = !fr.r->active;
	uint64_t fills = fr.fills;
	unsigned int pushes = fr.d->pushes;

	rng_timer(fr.r);
	if (idle && (fr.fills != fills || fr.d->pushes != pushes || fr.r->active))
		fdrv_fail("the timer worked on a device not running");
}

static void fire(void)
{
	if (fr.now < fr.deadline)
		fr.now = fr.deadline;
	fr.armed = false;
	timer_event();
}

static void action(void *dev, struct fin *in)
{
	uint8_t what = (uint8_t)fin_take(in, 1);

	(void)dev;
	switch (what % 5) {
	case 0: /* time passes, in milliseconds */
		fr.now += fin_take(in, 2) * MS;
		break;
	case 1: /* the timer fires, if armed */
		if (fr.armed)
			fire();
		break;
	case 2: /* a timer event with nothing due */
		timer_event();
		break;
	case 3:
		fr.mode = (enum smode)(fin_take(in, 1) % S_MODES);
		fr.count = 1 + (unsigned int)fin_take(in, 1) % 8;
		break;
	default: /* time passes, in nanoseconds */
		fr.now += fin_take(in, 1);
		break;
	}
}

static void check(void *dev)
{
	(void)dev;
	if (!fdrv_broken(fr.d, 0) && fdrv_held(fr.d, 0))
		fdrv_fail("chains held between calls");
	if (fr.produced)
		fdrv_fail("bytes the source produced that no chain took");
	if (fr.r->quota > fr.r->max_bytes)
		fdrv_fail("a quota above the limit");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin hdr = { data, size };
	uint8_t shape = (uint8_t)fin_take(&hdr, 1);
	struct rng_config cfg = {
		.max_bytes = RNG_DEFAULT_MAX_BYTES,
		.period_ms = RNG_DEFAULT_PERIOD_MS,
		.name = "fuzz-rng",
	};
	struct rng_host host = { .fill = fake_fill, .now_ns = fake_now, .arm_timer = fake_arm };
	struct fdrv d;
	struct fdrv_target tgt = { .action = action, .check = check };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;

	if (shape & 1) {
		cfg.max_bytes = 1 + fin_take(&hdr, 2);
		cfg.period_ms = 1 + fin_take(&hdr, 2) % 4000;
	}
	memset(&fr, 0, sizeof(fr));
	fr.now = (uint64_t)(shape >> 1) * 1000 * MS;
	fr.max_bytes = fr.quota = cfg.max_bytes;
	fr.period_ns = cfg.period_ms * MS;
	if (rng_create(&fr.r, &cfg, &host) < 0)
		abort();
	rng_device(fr.r, &info, &ops);
	fdrv_init(&d, hdr.p, hdr.left, &info, ops, fr.r, &tr);
	rng_attach(fr.r, &tr);
	fr.d = &d;
	fdrv_run(&d, &tgt);

	/*
	 * The source behaves and the timer fires whenever armed: each round
	 * serves a chain at least (a period's quota is a byte or more), so the
	 * ring drains in rounds bounded by its size.
	 */
	fr.count = 0;
	/* A driver need not kick; one that does gets every chain served. */
	if (fr.r->active) {
		virtio_mmio_notify(d.t, 0);
		check(NULL);
	}
	for (unsigned int round = 0; fr.armed; round++) {
		if (round > 4 * RNG_QUEUE_SIZE)
			fdrv_fail("the timer keeps being armed with the source behaving");
		fire();
		check(NULL);
	}
	if (fr.r->active && !fdrv_broken(&d, 0)) {
		struct iovec iov[RNG_CHAIN_MAX];
		struct virtq_chain c = { .iov = iov, .max = RNG_CHAIN_MAX };

		if (virtq_pop(fr.r->q, &c) == 0)
			fdrv_fail("a chain left on the ring with no timer armed");
	}
	fdrv_fini(&d);
	rng_destroy(fr.r);
	return 0;
}
