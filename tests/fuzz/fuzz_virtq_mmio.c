// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtqueue walker and the virtio-mmio transport, with
 * a plain test device behind them. The hostile driver (fuzzdrv.h) writes
 * registers and guest memory; the device pops chains and, as the input says,
 * completes each at once, later and out of order, or only when reset drops it,
 * and sometimes gives one back unused. Beyond the ledger's checks, the chains
 * the device holds must be the ones the ledger counts, and at the end every
 * chain the device was free to complete has gone back to the driver.
 */
#include "config.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzdrv.h"
#include "virtio/virtq.h"

#define TDEV_QUEUES 3 /* at most FDRV_MAX_QUEUES */
#define TDEV_QUEUE_MAX 1024
#define TDEV_IOV 2048 /* more than a queue may hold: the walker must stop at its size */
#define TDEV_BUDGET 64

struct held {
	unsigned int q;
	uint16_t head;
	bool until_reset;  /* only a reset drops it */
	struct iovec last; /* the last buffer, written on completion */
	bool writable;
	uint32_t in_len;
};

struct tdev {
	struct virtio_transport tr;
	struct fdrv *d;
	struct fin *in;
	unsigned int nq;
	unsigned int queue_max;
	uint32_t config_size;
	uint64_t offered;
	bool active;
	int activate_ret;
	uint8_t config[24];
	struct held held[TDEV_QUEUES * TDEV_QUEUE_MAX];
	unsigned int nheld;
	unsigned int per_q[TDEV_QUEUES];
	struct iovec iov[TDEV_IOV];
};

static void config_check(struct tdev *t, uint32_t off, uint32_t len)
{
	if (len == 0 || off > t->config_size || len > t->config_size - off)
		fdrv_fail("a config access beyond config_size passed on");
}

static void tdev_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct tdev *t = dev;

	config_check(t, off, len);
	memcpy(buf, t->config + off, len);
}

static void tdev_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct tdev *t = dev;

	config_check(t, off, len);
	memcpy(t->config + off, buf, len);
}

static int tdev_activate(void *dev, uint64_t features)
{
	struct tdev *t = dev;

	/* The transport offers VIRTIO_F_VERSION_1 (bit 32) and requires it. */
	if (features & ~(t->offered | 1ULL << 32) || !(features & 1ULL << 32))
		fdrv_fail("activated with features not offered, or without VERSION_1");
	if (t->activate_ret)
		return t->activate_ret;
	/* A device needs every queue; the transport's checks made them consistent. */
	for (unsigned int i = 0; i < t->nq; i++) {
		if (!virtq_ready(t->tr.ops->queue(t->tr.t, i)))
			return -EINVAL;
	}
	t->active = true;
	return 0;
}

static void complete(struct tdev *t, struct virtq *q, uint16_t head, const struct iovec *last,
		     bool writable, uint32_t written)
{
	if (writable)
		memset(last->iov_base, 0xa5, last->iov_len);
	if (virtq_push(q, head, written) == 0 && virtq_should_notify(q))
		t->tr.ops->signal_used(t->tr.t);
}

static void drop_held(struct tdev *t, unsigned int k)
{
	t->per_q[t->held[k].q]--;
	t->held[k] = t->held[--t->nheld];
}

static void complete_held(struct tdev *t, unsigned int k)
{
	struct held *h = &t->held[k];
	struct virtq *q = t->tr.ops->queue(t->tr.t, h->q);

	complete(t, q, h->head, &h->last, h->writable, h->in_len);
	drop_held(t, k);
}

/* The device loop of virtq.h, with a budget per kick. */
static void tdev_process(struct tdev *t, unsigned int qi)
{
	struct virtq *q = t->tr.ops->queue(t->tr.t, qi);
	unsigned int budget = TDEV_BUDGET;
	int ret = -EAGAIN;

	if (!t->active)
		return;
	do {
		virtq_disable_notify(q);
		while (budget) {
			struct virtq_chain c = { .iov = t->iov, .max = TDEV_IOV };
			uint8_t fate;
			unsigned int n;

			/* A real device would stall here too: it holds all it can. */
			if (t->per_q[qi] == t->queue_max)
				goto out;
			ret = virtq_pop(q, &c);
			if (ret < 0)
				break;
			budget--;
			n = c.out_num + c.in_num;
			/* Every buffer is touched, so the sanitizer sees a bad one. */
			for (unsigned int i = 0; i < c.out_num; i++)
				(void)*(volatile uint8_t *)c.iov[i].iov_base;
			fate = (uint8_t)fin_take(t->in, 1);
			if (fate % 8 == 7) {
				/* Not now: back to the ring, and wait for the next kick. */
				virtq_unpop(q, 1);
				goto out;
			}
			if (fate % 8 >= 4) {
				t->held[t->nheld++] = (struct held){
					.q = qi,
					.head = c.head,
					.until_reset = fate % 8 == 6,
					.last = c.iov[n - 1],
					.writable = c.in_num > 0,
					.in_len = c.in_len,
				};
				t->per_q[qi]++;
				continue;
			}
			complete(t, q, c.head, &c.iov[n - 1], c.in_num > 0,
				 c.in_len ? (uint32_t)(fin_take(t->in, 4) % (c.in_len + 1ULL)) : 0);
		}
		if (ret != -EAGAIN && ret < 0) {
			t->tr.ops->needs_reset(t->tr.t);
			return;
		}
	} while (budget && virtq_enable_notify(q));
out:
	return;
}

static void tdev_notify(void *dev, unsigned int index)
{
	tdev_process(dev, index);
}

static void tdev_reset(void *dev)
{
	struct tdev *t = dev;

	/* The chains held are dropped: the queues are about to be reset. */
	t->nheld = 0;
	memset(t->per_q, 0, sizeof(t->per_q));
	t->active = false;
}

static const struct virtio_device_ops tdev_ops = {
	.config_read = tdev_config_read,
	.config_write = tdev_config_write,
	.activate = tdev_activate,
	.notify = tdev_notify,
	.reset = tdev_reset,
};

static void tdev_action(void *dev, struct fin *in)
{
	struct tdev *t = dev;
	uint8_t what = (uint8_t)fin_take(in, 1);

	if (!t->active)
		return;
	switch (what % 4) {
	case 0: /* one held chain, any of them: out of order */
		if (t->nheld) {
			unsigned int k = (unsigned int)fin_take(in, 2) % t->nheld;

			if (!t->held[k].until_reset)
				complete_held(t, k);
		}
		break;
	case 1: /* all that may go, newest first */
		for (unsigned int k = t->nheld; k--;) {
			if (!t->held[k].until_reset)
				complete_held(t, k);
		}
		break;
	default: /* the device polls a queue on its own, as after a backend event */
		tdev_process(t, (unsigned int)fin_take(in, 1) % t->nq);
		break;
	}
}

/*
 * The device and the ledger agree on what is held, queue by queue; and a
 * driver that set DRIVER_OK has a running device or is told to reset it.
 */
static void tdev_check(void *dev)
{
	struct tdev *t = dev;
	uint8_t status = virtio_mmio_status(t->d->t);

	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->active &&
	    !(status & VIRTIO_CONFIG_S_NEEDS_RESET))
		fdrv_fail("DRIVER_OK, and the device neither runs nor needs a reset");
	if (t->active && !(status & VIRTIO_CONFIG_S_DRIVER_OK))
		fdrv_fail("the device runs without DRIVER_OK");

	for (unsigned int i = 0; i < t->nq; i++) {
		if (!fdrv_broken(t->d, i) && fdrv_held(t->d, i) != t->per_q[i])
			fdrv_fail("the device holds other chains than the ledger");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tdev *t;
	struct fdrv d;
	struct fdrv_target tgt = { .action = tdev_action, .check = tdev_check };
	struct fin hdr = { data, size };
	uint8_t shape = (uint8_t)fin_take(&hdr, 1);
	struct virtio_device_info info = {
		.device_id = 0x2a,
		/* EVENT_IDX, INDIRECT_DESC and a device bit or two, as the input says. */
		.features = ((uint64_t)fin_take(&hdr, 1) << 24) & 0x31000000ULL,
		.nr_queues = 1 + shape % TDEV_QUEUES,
		.queue_max = 1U << ((shape >> 2) % 11),
		.config_size = (uint32_t)fin_take(&hdr, 1) % 25,
		.name = "fuzz-virtq",
	};

	if (!t) {
		t = malloc(sizeof(*t));
		if (!t)
			abort();
	}
	memset(t, 0, sizeof(*t));
	tgt.dev = t;
	t->nq = info.nr_queues;
	t->queue_max = info.queue_max;
	t->config_size = info.config_size;
	t->offered = info.features;
	t->activate_ret = shape & 0x80 && fin_take(&hdr, 1) == 0x5a ? -EIO : 0;
	fdrv_init(&d, hdr.p, hdr.left, &info, &tdev_ops, t, &t->tr);
	t->in = &d.in;
	t->d = &d;
	fdrv_run(&d, &tgt);

	/* Whatever may go back, goes back; what stays must be what the ledger holds. */
	for (unsigned int k = t->nheld; t->active && k--;) {
		if (!t->held[k].until_reset)
			complete_held(t, k);
	}
	tdev_check(t);
	fdrv_fini(&d);
	if (t->nheld || t->active)
		fdrv_fail("the device holds chains after its reset");
	return 0;
}
