// SPDX-License-Identifier: MIT
#include "config.h"

#include "mmio.h"
#include "virtq.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MMIO_MAGIC 0x74726976  /* "virt" */
#define MMIO_VERSION 2	       /* the virtio 1.x register layout */
#define MMIO_VENDOR 0x454d4252 /* "EMBR" */
#define MMIO_CONFIG_MAX (VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG)

/* Status bits the driver may set; DEVICE_NEEDS_RESET is the device's alone. */
#define STATUS_DRIVER_BITS                                                                         \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |      \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED)

/*
 * Transport features this transport cannot honour: the walker only knows
 * split rings, QueueNotify carries only the index, and there is no
 * QueueReset register.
 */
#define FEATURE_BIT(n) (1ULL << (n))
#define MMIO_F_NOTIFICATION_DATA 38
#define MMIO_UNSUPPORTED_FEATURES                                                                  \
	(FEATURE_BIT(VIRTIO_F_RING_PACKED) | FEATURE_BIT(MMIO_F_NOTIFICATION_DATA) |               \
	 FEATURE_BIT(VIRTIO_F_RING_RESET))

struct mmio_queue {
	struct virtq *vq;
	/* What the driver wrote, adopted by virtq_setup() on QueueReady. */
	uint32_t num;
	uint64_t desc;
	uint64_t driver;
	uint64_t device;
};

struct virtio_mmio {
	pthread_mutex_t lock; /* recursive; see mmio.h */
	struct virtio_device_info info;
	struct virtio_device_ops ops;
	void *dev;
	struct virtio_mmio_host host;
	struct ratelimit rl; /* shared with the queues */
	const char *name;

	uint64_t offered;	  /* info.features | VERSION_1 */
	uint64_t driver_features; /* frozen once FEATURES_OK is set */
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	bool active; /* ops->activate() succeeded; ops->reset() owed */

	/*
	 * Written from device threads without the lock (signal_*, needs_reset),
	 * so each is updated with one atomic read-modify-write; every other
	 * status change happens under the lock.
	 */
	_Atomic uint32_t status;
	_Atomic uint32_t isr;
	_Atomic uint32_t generation;

	struct mmio_queue q[VIRTIO_MAX_QUEUES];
};

#define mmio_warn(t, fmt, ...)                                                                     \
	log_limited(&(t)->rl, LOG_LVL_WARN, "%s: " fmt, (t)->name, ##__VA_ARGS__)
#define mmio_debug(t, fmt, ...)                                                                    \
	log_limited(&(t)->rl, LOG_LVL_DEBUG, "%s: " fmt, (t)->name, ##__VA_ARGS__)

static bool is_pow2(unsigned int v)
{
	return v && !(v & (v - 1));
}

static int check_info(const struct virtio_device_info *info)
{
	if (info->nr_queues < 1 || info->nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	if (!is_pow2(info->queue_max) || info->queue_max > VIRTQ_MAX_SIZE)
		return -EINVAL;
	/* Configuration space must fit in the window after the registers. */
	if (info->config_size > MMIO_CONFIG_MAX)
		return -EINVAL;
	if (info->features & MMIO_UNSUPPORTED_FEATURES)
		return -EINVAL;
	return 0;
}

static void queue_regs_clear(struct virtio_mmio *t, struct mmio_queue *mq)
{
	/* As for PCI, QueueNum starts at the maximum until the driver picks a size. */
	mq->num = t->info.queue_max;
	mq->desc = mq->driver = mq->device = 0;
}

int virtio_mmio_create(struct virtio_mmio **out, const struct virtio_device_info *info,
		       const struct virtio_device_ops *ops, void *dev,
		       const struct virtio_mmio_host *host)
{
	pthread_mutexattr_t attr;
	struct virtio_mmio *t;
	int ret;

	*out = NULL;
	ret = check_info(info);
	if (ret < 0)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->info = *info;
	t->ops = *ops;
	t->dev = dev;
	t->host = *host;
	t->name = info->name ? info->name : "virtio-mmio";
	t->offered = info->features | FEATURE_BIT(VIRTIO_F_VERSION_1);
	ratelimit_init(&t->rl, NSEC_PER_SEC, 5);

	for (unsigned int i = 0; i < info->nr_queues; i++) {
		ret = virtq_create(&t->q[i].vq, host->mem, &t->rl);
		if (ret < 0) {
			while (i--)
				virtq_destroy(t->q[i].vq);
			ratelimit_destroy(&t->rl);
			free(t);
			return ret;
		}
		queue_regs_clear(t, &t->q[i]);
	}

	/* Recursive: device ops run with it held and may call back into the transport. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	*out = t;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	if (t->active && t->ops.reset)
		t->ops.reset(t->dev);
	t->active = false;
	for (unsigned int i = 0; i < t->info.nr_queues; i++)
		virtq_destroy(t->q[i].vq);
	pthread_mutex_destroy(&t->lock);
	ratelimit_destroy(&t->rl);
	free(t);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned int index)
{
	return index < t->info.nr_queues ? t->q[index].vq : NULL;
}

uint8_t virtio_mmio_status(struct virtio_mmio *t)
{
	return (uint8_t)atomic_load(&t->status);
}

uint64_t virtio_mmio_features(struct virtio_mmio *t)
{
	uint64_t f;

	pthread_mutex_lock(&t->lock);
	f = t->driver_features;
	pthread_mutex_unlock(&t->lock);
	return f;
}

static void raise_irq(struct virtio_mmio *t, uint32_t isr_bit)
{
	/*
	 * Sequentially consistent: whatever the device published before this
	 * call (used ring entries, configuration fields) is visible before the
	 * ISR bit the guest reads once the interrupt arrives.
	 */
	atomic_fetch_or(&t->isr, isr_bit);
	if (t->host.interrupt)
		t->host.interrupt(t->host.irq_opaque);
}

/* Lock-free, so device threads may call these whether or not they hold the lock. */
void virtio_mmio_signal_used(struct virtio_mmio *t)
{
	raise_irq(t, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_signal_config(struct virtio_mmio *t)
{
	/* The new generation must be visible before the interrupt that announces it. */
	atomic_fetch_add(&t->generation, 1);
	raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
	atomic_fetch_or(&t->status, VIRTIO_CONFIG_S_NEEDS_RESET);
	raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
}

/* Status 0: the device forgets everything the driver told it. */
static void device_reset(struct virtio_mmio *t)
{
	/* The device stops touching the queues before they are torn down. */
	if (t->active) {
		t->active = false;
		if (t->ops.reset)
			t->ops.reset(t->dev);
	}
	for (unsigned int i = 0; i < t->info.nr_queues; i++) {
		virtq_reset(t->q[i].vq);
		queue_regs_clear(t, &t->q[i]);
	}
	t->driver_features = 0;
	t->dev_features_sel = 0;
	t->drv_features_sel = 0;
	t->queue_sel = 0;
	atomic_store(&t->isr, 0);
	atomic_store(&t->status, 0);
}

/* Why FEATURES_OK may not stand with the driver having accepted `f`; NULL: it may. */
static const char *features_refusal(const struct virtio_mmio *t, uint64_t f)
{
	if (f & ~t->offered)
		return "features not offered";
	if (!(f & FEATURE_BIT(VIRTIO_F_VERSION_1)))
		return "VIRTIO_F_VERSION_1 not accepted";
	return NULL;
}

static bool features_acceptable(struct virtio_mmio *t)
{
	const char *why = features_refusal(t, t->driver_features);

	if (why) {
		mmio_warn(t, "driver features %#" PRIx64 ": %s: FEATURES_OK refused",
			  t->driver_features, why);
		return false;
	}
	return true;
}

/* What DRIVER_OK does to the device: 0 once it runs, or its activate's error. */
static int device_start(struct virtio_mmio *t)
{
	int ret = t->ops.activate ? t->ops.activate(t->dev, t->driver_features) : 0;

	if (ret < 0)
		return ret;
	t->active = true;
	return 0;
}

static void device_activate(struct virtio_mmio *t)
{
	int ret = device_start(t);

	if (ret < 0) {
		mmio_warn(t, "activation failed (%s): device needs reset", strerror(-ret));
		virtio_mmio_needs_reset(t);
	}
}

static void status_write(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = atomic_load(&t->status);
	uint32_t cur = old & STATUS_DRIVER_BITS;
	/* Reserved bits and DEVICE_NEEDS_RESET are not the driver's to set. */
	uint32_t want = v & STATUS_DRIVER_BITS;
	uint32_t add;

	if (v == 0) {
		device_reset(t);
		return;
	}
	if (cur & ~want) {
		mmio_warn(t, "status %#x would clear bits of %#x: ignored", v, old);
		return;
	}
	add = want & ~cur;

	if ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(t))
		add &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	if (add & VIRTIO_CONFIG_S_DRIVER_OK) {
		const char *why = NULL;

		if (!((cur | add) & VIRTIO_CONFIG_S_FEATURES_OK))
			why = "without FEATURES_OK";
		else if (old & VIRTIO_CONFIG_S_NEEDS_RESET)
			why = "while the device needs reset";
		else if ((cur | add) & VIRTIO_CONFIG_S_FAILED)
			why = "after FAILED";
		if (why) {
			mmio_warn(t, "DRIVER_OK %s: ignored", why);
			add &= ~VIRTIO_CONFIG_S_DRIVER_OK;
		}
	}
	if (add & VIRTIO_CONFIG_S_FAILED)
		mmio_debug(t, "driver gave up (FAILED)");

	/* fetch_or, not a store: needs_reset() may be setting its bit concurrently. */
	atomic_fetch_or(&t->status, add);
	if (add & VIRTIO_CONFIG_S_DRIVER_OK)
		device_activate(t);
}

/* One half of a 64-bit register pair: the high half sits 4 bytes above the low one. */
static void set_half(uint64_t *r, uint64_t off, uint32_t v)
{
	if (off & 4)
		*r = (*r & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*r = (*r & ~0xffffffffULL) | v;
}

static void driver_features_write(struct virtio_mmio *t, uint32_t v)
{
	uint32_t st = atomic_load(&t->status);

	if (!(st & VIRTIO_CONFIG_S_DRIVER) || (st & VIRTIO_CONFIG_S_FEATURES_OK)) {
		mmio_warn(t, "DriverFeatures written in status %#x: ignored", st);
		return;
	}
	if (t->drv_features_sel == 0) {
		t->driver_features = (t->driver_features & ~0xffffffffULL) | v;
	} else if (t->drv_features_sel == 1) {
		t->driver_features = (t->driver_features & 0xffffffffULL) | (uint64_t)v << 32;
	} else if (v) {
		/* Nothing is offered there, so FEATURES_OK would be refused anyway. */
		mmio_warn(t, "DriverFeatures word %u = %#x: nothing offered there, ignored",
			  t->drv_features_sel, v);
	}
}

/* The selected queue, when its registers may still be written. */
static struct mmio_queue *queue_for_write(struct virtio_mmio *t, const char *reg)
{
	uint32_t st = atomic_load(&t->status);
	struct mmio_queue *mq;

	if (t->queue_sel >= t->info.nr_queues) {
		mmio_warn(t, "%s write to queue %u of %u: ignored", reg, t->queue_sel,
			  t->info.nr_queues);
		return NULL;
	}
	mq = &t->q[t->queue_sel];
	if (st & VIRTIO_CONFIG_S_DRIVER_OK) {
		mmio_warn(t, "queue %u: %s write after DRIVER_OK: ignored", t->queue_sel, reg);
		return NULL;
	}
	if (virtq_ready(mq->vq)) {
		mmio_warn(t, "queue %u: %s write while ready: ignored", t->queue_sel, reg);
		return NULL;
	}
	return mq;
}

/* The geometry QueueReady hands to virtq_setup(): the registers, and the ring format agreed. */
static struct virtq_config queue_config(const struct virtio_mmio *t, const struct mmio_queue *mq,
					uint64_t features)
{
	return (struct virtq_config){
		.size = mq->num,
		.max_size = t->info.queue_max,
		.desc = mq->desc,
		.avail = mq->driver,
		.used = mq->device,
		.event_idx = features & FEATURE_BIT(VIRTIO_RING_F_EVENT_IDX),
	};
}

static void queue_ready_write(struct virtio_mmio *t, uint32_t v)
{
	uint32_t st = atomic_load(&t->status);
	unsigned int idx = t->queue_sel;
	struct mmio_queue *mq;
	struct virtq_config cfg;
	int ret;

	if (idx >= t->info.nr_queues) {
		mmio_warn(t, "QueueReady write to queue %u of %u: ignored", idx, t->info.nr_queues);
		return;
	}
	mq = &t->q[idx];
	if (st & VIRTIO_CONFIG_S_DRIVER_OK) {
		/* The device may be using the queue; only a reset stops it. */
		mmio_warn(t, "queue %u: QueueReady %u after DRIVER_OK: ignored", idx, v);
		return;
	}
	if (v == 0) {
		/* Nothing runs yet, so the driver may take the queue back. */
		virtq_reset(mq->vq);
		return;
	}
	if (v != 1) {
		mmio_warn(t, "queue %u: QueueReady %#x: ignored", idx, v);
		return;
	}
	if (virtq_ready(mq->vq))
		return;
	/* Whether the ring has event indices is only known once features are final. */
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK)) {
		mmio_warn(t, "queue %u: QueueReady before FEATURES_OK: ignored", idx);
		return;
	}

	cfg = queue_config(t, mq, t->driver_features);
	ret = virtq_setup(mq->vq, &cfg);
	if (ret < 0) {
		mmio_warn(t,
			  "queue %u: size %u desc %#" PRIx64 " avail %#" PRIx64 " used %#" PRIx64
			  " refused (%s): device needs reset",
			  idx, mq->num, mq->desc, mq->driver, mq->device, strerror(-ret));
		virtio_mmio_needs_reset(t);
	}
}

/* With the lock held. */
static void queue_notify(struct virtio_mmio *t, uint32_t index)
{
	uint32_t st = atomic_load(&t->status);

	if (index >= t->info.nr_queues) {
		mmio_warn(t, "notify for queue %u of %u: ignored", index, t->info.nr_queues);
		return;
	}
	/* A kick before the device runs is harmless; it looks at its queues when activated. */
	if (!t->active || !(st & VIRTIO_CONFIG_S_DRIVER_OK) || (st & VIRTIO_CONFIG_S_NEEDS_RESET) ||
	    !virtq_ready(t->q[index].vq)) {
		mmio_debug(t, "notify for queue %u in status %#x: ignored", index, st);
		return;
	}
	if (t->ops.notify)
		t->ops.notify(t->dev, index);
}

void virtio_mmio_notify(struct virtio_mmio *t, unsigned int index)
{
	pthread_mutex_lock(&t->lock);
	queue_notify(t, index);
	pthread_mutex_unlock(&t->lock);
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	bool qvalid = t->queue_sel < t->info.nr_queues;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->info.device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_features_sel == 0)
			return (uint32_t)t->offered;
		if (t->dev_features_sel == 1)
			return (uint32_t)(t->offered >> 32);
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return qvalid ? t->info.queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return qvalid && virtq_ready(t->q[t->queue_sel].vq);
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&t->isr);
	case VIRTIO_MMIO_STATUS:
		return atomic_load(&t->status);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		/* A length of -1: no shared memory region with that ID. */
		return 0xffffffff;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return atomic_load(&t->generation);
	default:
		/* Write-only, legacy, absent and unknown registers. */
		return 0;
	}
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct mmio_queue *mq;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		driver_features_write(t, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		mq = queue_for_write(t, "QueueNum");
		if (mq)
			mq->num = v; /* validated by virtq_setup() */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		queue_ready_write(t, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		queue_notify(t, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&t->isr, ~v);
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(t, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		mq = queue_for_write(t, "QueueDesc");
		if (mq)
			set_half(&mq->desc, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		mq = queue_for_write(t, "QueueDriver");
		if (mq)
			set_half(&mq->driver, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		mq = queue_for_write(t, "QueueDevice");
		if (mq)
			set_half(&mq->device, off, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		break; /* there are no regions to select */
	default:
		mmio_warn(t, "write of %#x to register %#" PRIx64 ": ignored", v, off);
		break;
	}
}

static uint64_t config_read(struct virtio_mmio *t, uint32_t off, unsigned int size)
{
	uint8_t buf[8] = { 0 };
	uint64_t v = 0;

	if (off + size > t->info.config_size) {
		mmio_warn(t, "%u-byte config read at %#x beyond %u bytes: reads 0", size, off,
			  t->info.config_size);
		return 0;
	}
	if (t->ops.config_read)
		t->ops.config_read(t->dev, off, buf, size);
	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)buf[i] << (8 * i);
	return v;
}

static void config_write(struct virtio_mmio *t, uint32_t off, uint64_t v, unsigned int size)
{
	uint8_t buf[8];

	if (off + size > t->info.config_size) {
		mmio_warn(t, "%u-byte config write at %#x beyond %u bytes: ignored", size, off,
			  t->info.config_size);
		return;
	}
	if (!t->ops.config_write) {
		mmio_debug(t, "config write at %#x to a read-only config space: ignored", off);
		return;
	}
	for (unsigned int i = 0; i < size; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	t->ops.config_write(t->dev, off, buf, size);
}

/* Control registers take aligned 32-bit accesses only (virtio 1.x, 4.2.2.2). */
static bool reg_access_ok(struct virtio_mmio *t, const char *dir, uint64_t off, unsigned int size)
{
	if (size == 4 && off % 4 == 0)
		return true;
	mmio_warn(t, "%u-byte register %s at %#" PRIx64 ": ignored", size, dir, off);
	return false;
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned int size)
{
	struct virtio_mmio *t = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG)
		v = config_read(t, (uint32_t)(off - VIRTIO_MMIO_CONFIG), size);
	else if (reg_access_ok(t, "read", off, size))
		v = reg_read(t, off);
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void mmio_write(void *opaque, uint64_t off, uint64_t v, unsigned int size)
{
	struct virtio_mmio *t = opaque;

	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG)
		config_write(t, (uint32_t)(off - VIRTIO_MMIO_CONFIG), v, size);
	else if (reg_access_ok(t, "write", off, size))
		reg_write(t, off, (uint32_t)v);
	pthread_mutex_unlock(&t->lock);
}

/* Config space takes 1, 2 and 4 bytes; the bus splits 8-byte accesses in two. */
static const struct bus_ops mmio_bus_ops = {
	.read = mmio_read,
	.write = mmio_write,
	.min_access = 1,
	.max_access = 4,
};

int virtio_mmio_register(struct virtio_mmio *t, struct bus *mmio, uint64_t base)
{
	return bus_register(mmio, base, VIRTIO_MMIO_WINDOW, &mmio_bus_ops, t, t->name);
}

/* --- snapshots ---------------------------------------------------------------------- */

_Static_assert(sizeof(struct virtio_mmio_queue_state) == 80, "a file format");
_Static_assert(sizeof(struct virtio_mmio_state) == 56 + 80 * VIRTIO_MAX_QUEUES, "a file format");

int virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *out)
{
	int ret = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	out->version = VIRTIO_MMIO_STATE_VERSION;
	out->device_id = t->info.device_id;
	out->nr_queues = t->info.nr_queues;
	out->queue_max = t->info.queue_max;
	out->status = atomic_load(&t->status);
	out->isr = atomic_load(&t->isr);
	out->generation = atomic_load(&t->generation);
	out->dev_features_sel = t->dev_features_sel;
	out->drv_features_sel = t->drv_features_sel;
	out->queue_sel = t->queue_sel;
	out->driver_features = t->driver_features;
	out->active = t->active;
	for (unsigned int i = 0; i < t->info.nr_queues; i++) {
		const struct mmio_queue *mq = &t->q[i];
		struct virtio_mmio_queue_state *qs = &out->q[i];

		qs->desc = mq->desc;
		qs->driver = mq->driver;
		qs->device = mq->device;
		qs->num = mq->num;
		virtq_save(mq->vq, &qs->vq);
		if (qs->vq.inflight && !qs->vq.broken)
			ret = -EBUSY;
	}
	pthread_mutex_unlock(&t->lock);
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}

/*
 * The checks on a saved state that need neither guest memory nor changes to
 * the transport: that it is this device, and that a driver could have
 * brought the transport where the state says, by the rules status_write(),
 * driver_features_write() and queue_ready_write() enforce. NULL when it
 * passes, else why not (*queue: the queue concerned, or -1).
 */
static const char *state_check(const struct virtio_mmio *t, const struct virtio_mmio_state *st,
			       int *queue)
{
	static const struct virtio_mmio_queue_state unused;
	uint32_t status = st->status;
	const char *why;

	*queue = -1;
	if (st->version != VIRTIO_MMIO_STATE_VERSION)
		return "another version";
	if (st->device_id != t->info.device_id)
		return "another device ID";
	if (st->nr_queues != t->info.nr_queues || st->queue_max != t->info.queue_max)
		return "another queue count or QueueNumMax";
	if (st->active > 1)
		return "bad active flag";
	for (unsigned int i = 0; i < sizeof(st->pad); i++)
		if (st->pad[i])
			return "bad padding";

	if (status & ~(STATUS_DRIVER_BITS | VIRTIO_CONFIG_S_NEEDS_RESET))
		return "reserved status bits";
	/* DriverFeatures is taken only with DRIVER set, and FEATURES_OK checks it. */
	if (st->driver_features && !(status & VIRTIO_CONFIG_S_DRIVER))
		return "driver features without DRIVER";
	if (status & VIRTIO_CONFIG_S_FEATURES_OK) {
		why = features_refusal(t, st->driver_features);
		if (why)
			return why;
	}
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return "DRIVER_OK without FEATURES_OK";
	if (st->active && !(status & VIRTIO_CONFIG_S_DRIVER_OK))
		return "device started without DRIVER_OK";
	/* A device that failed to start at DRIVER_OK asked for a reset (device_activate()). */
	if (!st->active && (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return "DRIVER_OK with the device neither started nor needing reset";
	if (st->isr & ~(uint32_t)(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		return "reserved InterruptStatus bits";

	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtio_mmio_queue_state *qs = &st->q[i];
		const struct mmio_queue regs = {
			.num = qs->num,
			.desc = qs->desc,
			.driver = qs->driver,
			.device = qs->device,
		};
		struct virtq_config cfg;

		*queue = (int)i;
		if (i >= t->info.nr_queues) {
			if (memcmp(qs, &unused, sizeof(*qs)))
				return "a queue the device does not have";
			continue;
		}
		if (qs->pad)
			return "bad padding";
		/* virtq_restore() checks that the rest of a queue not ready is zero. */
		if (!qs->vq.ready)
			continue;
		if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
			return "ready before FEATURES_OK";
		/* QueueReady adopts the registers as they are, with the ring format agreed. */
		cfg = queue_config(t, &regs, st->driver_features);
		if (qs->vq.size != cfg.size || qs->vq.max_size != cfg.max_size ||
		    qs->vq.desc != cfg.desc || qs->vq.avail != cfg.avail ||
		    qs->vq.used != cfg.used || qs->vq.event_idx != cfg.event_idx)
			return "ring unlike its registers and the features";
		/* A device that never ran moved nothing on its rings. */
		if (!st->active && (qs->vq.last_avail || qs->vq.used_idx || qs->vq.signalled_used ||
				    qs->vq.inflight || qs->vq.broken || !qs->vq.notify))
			return "ring used with the device not started";
	}
	*queue = -1;
	return NULL;
}

static int restore_refused(struct virtio_mmio *t, int queue, const char *why)
{
	if (queue >= 0)
		mmio_warn(t, "snapshot state refused: queue %d: %s", queue, why);
	else
		mmio_warn(t, "snapshot state refused: %s", why);
	return -EINVAL;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *st)
{
	uint32_t generation;
	const char *why;
	int queue, ret;

	pthread_mutex_lock(&t->lock);
	generation = atomic_load(&t->generation);
	ret = -EBUSY;
	if (atomic_load(&t->status) || t->active)
		goto out;
	for (unsigned int i = 0; i < t->info.nr_queues; i++)
		if (virtq_ready(t->q[i].vq))
			goto out;
	why = state_check(t, st, &queue);
	if (why) {
		ret = restore_refused(t, queue, why);
		goto out;
	}

	for (unsigned int i = 0; i < t->info.nr_queues; i++) {
		struct mmio_queue *mq = &t->q[i];
		const struct virtio_mmio_queue_state *qs = &st->q[i];

		mq->num = qs->num;
		mq->desc = qs->desc;
		mq->driver = qs->driver;
		mq->device = qs->device;
		if (virtq_restore(mq->vq, &qs->vq) < 0) {
			ret = restore_refused(t, (int)i, "ring state, or rings in guest memory");
			goto undo;
		}
	}
	t->driver_features = st->driver_features;
	t->dev_features_sel = st->dev_features_sel;
	t->drv_features_sel = st->drv_features_sel;
	t->queue_sel = st->queue_sel;
	atomic_store(&t->generation, st->generation);
	atomic_store(&t->isr, st->isr);
	atomic_store(&t->status, st->status);

	if (st->active) {
		/* As DRIVER_OK; but a failure is the caller's to report, not the guest's. */
		ret = device_start(t);
		if (ret < 0)
			goto undo;
		/*
		 * The old device may have left buffers on a ring with kicks off,
		 * counting on its own later turn (a timer, a resume event) that
		 * did not survive the process. A kick is never wrong.
		 */
		for (unsigned int i = 0; i < t->info.nr_queues; i++)
			if (virtq_ready(t->q[i].vq))
				queue_notify(t, i);
	}
	/* The edge may have died with the old process; virtio-mmio drivers take a spare one. */
	if (st->isr && t->host.interrupt)
		t->host.interrupt(t->host.irq_opaque);
	ret = 0;
	goto out;

undo:
	/* Back to a transport just created; the device was not started, so it is not reset. */
	device_reset(t);
	atomic_store(&t->generation, generation);
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* --- the transport as its devices see it --------------------------------------- */

static struct virtq *tr_queue(void *t, unsigned int index)
{
	struct virtio_mmio *m = t;

	return index < m->info.nr_queues ? virtio_mmio_queue(m, index) : NULL;
}

static void tr_signal_used(void *t)
{
	virtio_mmio_signal_used(t);
}

static void tr_needs_reset(void *t)
{
	virtio_mmio_needs_reset(t);
}

static void tr_lock(void *t)
{
	virtio_mmio_lock(t);
}

static void tr_unlock(void *t)
{
	virtio_mmio_unlock(t);
}

static const struct virtio_transport_ops mmio_transport_ops = {
	.queue = tr_queue,
	.signal_used = tr_signal_used,
	.needs_reset = tr_needs_reset,
	.lock = tr_lock,
	.unlock = tr_unlock,
};

void virtio_mmio_transport(struct virtio_mmio *t, struct virtio_transport *out)
{
	*out = (struct virtio_transport){ .ops = &mmio_transport_ops, .t = t };
}
