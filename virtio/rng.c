// SPDX-License-Identifier: MIT
#include "config.h"

#include "rng.h"
#include "virtq.h"
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

struct rng {
	struct rng_host host;
	uint64_t max_bytes;
	uint64_t period_ns;
	const char *name;
	struct virtio_transport tr;
	struct ratelimit rl;

	struct virtq *q; /* queue 0, once the driver started the device */
	bool active;	 /* between activate and reset */

	/* The rate limit; kept across resets. */
	uint64_t quota;	     /* bytes left in this period */
	uint64_t period_end; /* when the quota is full again; 0: no period running */
	uint64_t armed;	     /* the deadline last asked of the host; 0: none */

	struct iovec iov[RNG_CHAIN_MAX];
	struct rng_stats stats;
};

ssize_t rng_getrandom(void *opaque, void *buf, size_t len)
{
	ssize_t r;

	(void)opaque;
	do {
		r = getrandom(buf, len, GRND_NONBLOCK);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void arm(struct rng *r, uint64_t deadline)
{
	/* A deadline of 0 is "none" here; the clock is past it anyway. */
	if (deadline == 0)
		deadline = 1;
	if (r->armed == deadline)
		return;
	r->armed = deadline;
	r->host.arm_timer(r->host.opaque, deadline);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * Fills the writable buffers of the chain with up to `want` bytes from the
 * source, in order, stopping at the first buffer it does not fill. Returns
 * the bytes it produced.
 */
static uint32_t fill_chain(struct rng *r, const struct virtq_chain *c, uint32_t want)
{
	const struct iovec *wr = c->iov + c->out_num;
	uint32_t done = 0;

	for (unsigned int i = 0; i < c->in_num && done < want; i++) {
		size_t n = wr[i].iov_len < want - done ? wr[i].iov_len : want - done;
		ssize_t got = r->host.fill(r->host.opaque, wr[i].iov_base, n);

		if (got <= 0) {
			if (got < 0 && got != -EAGAIN)
				log_limited(&r->rl, LOG_LVL_WARN, "%s: entropy source: %s", r->name,
					    strerror((int)-got));
			break;
		}
		/* A source that claims more than it was given room for is held to the room. */
		if ((size_t)got > n)
			got = (ssize_t)n;
		done += (uint32_t)got;
		if ((size_t)got < n)
			break;
	}
	return done;
}

/* What one call of rng_process() has done so far, against its budget. */
struct rng_turn {
	uint64_t now;
	unsigned int popped;
	uint32_t bytes;
	bool pushed; /* a chain went back to the driver: maybe an interrupt */
};

/*
 * Serves one popped chain: fills it, or gives back a malformed one empty.
 * False when the turn stops here (the budget, the quota or the source): the
 * chain is then put back and the timer that resumes the device is armed.
 */
static bool serve_chain(struct rng *r, struct rng_turn *t, const struct virtq_chain *c)
{
	uint32_t want, got;

	/*
	 * Each stop below puts the chain back and leaves kicks off: the
	 * timer takes what is left. Only a chain waiting makes one.
	 */
	if (t->popped == RNG_TURN_REQUESTS || t->bytes == RNG_TURN_BYTES) {
		virtq_unpop(r->q, 1);
		arm(r, t->now);
		return false;
	}
	t->popped++;
	if (c->out_num) {
		/* Spec 5.4.6.1: the driver posts no device-readable buffers. */
		log_limited(&r->rl, LOG_LVL_WARN,
			    "%s: a request with device-readable buffers; given back empty",
			    r->name);
		r->stats.refused++;
		r->stats.requests++;
		if (virtq_push(r->q, c->head, 0) == 0)
			t->pushed = true;
		return true;
	}
	if (r->quota == 0) {
		virtq_unpop(r->q, 1);
		r->stats.throttled++;
		arm(r, r->period_end);
		return false;
	}
	/* in_len > 0: virtq refuses empty buffers and the chain is not empty. */
	want = c->in_len;
	if (want > r->quota)
		want = (uint32_t)r->quota;
	if (want > RNG_TURN_BYTES - t->bytes)
		want = RNG_TURN_BYTES - t->bytes;
	got = fill_chain(r, c, want);
	if (got == 0) {
		/* Nothing to give: the chain waits on the ring, untouched. */
		r->stats.starved++;
		virtq_unpop(r->q, 1);
		arm(r, add_sat(t->now, RNG_RETRY_MS * NSEC_PER_MSEC));
		return false;
	}
	if (r->period_end == 0)
		r->period_end = add_sat(t->now, r->period_ns);
	r->quota -= got;
	t->bytes += got;
	r->stats.bytes += got;
	r->stats.requests++;
	/* virtq_push() publishes used->idx after the bytes (a release). */
	if (virtq_push(r->q, c->head, got) == 0)
		t->pushed = true;
	return true;
}

/*
 * Serves the available chains as far as the quota, the source and this
 * call's budget allow; whatever stops it arms the timer that resumes it.
 */
static void rng_process(struct rng *r)
{
	struct rng_turn t = { 0 };
	int ret = -EAGAIN;

	if (!r->active)
		return;
	t.now = r->host.now_ns(r->host.opaque);
	if (r->period_end && t.now >= r->period_end) {
		r->quota = r->max_bytes;
		r->period_end = 0;
	}
	do {
		virtq_disable_notify(r->q);
		for (;;) {
			struct virtq_chain c = { .iov = r->iov, .max = RNG_CHAIN_MAX };

			ret = virtq_pop(r->q, &c);
			if (ret < 0)
				break;
			if (!serve_chain(r, &t, &c))
				goto out;
		}
		if (ret != -EAGAIN) {
			/* virtq logged why; the queue refuses everything until a reset. */
			r->tr.ops->needs_reset(r->tr.t);
			break;
		}
	} while (virtq_enable_notify(r->q));
out:
	if (t.pushed && virtq_should_notify(r->q))
		r->tr.ops->signal_used(r->tr.t);
}

void rng_timer(struct rng *r)
{
	if (!r->tr.ops)
		return;
	r->tr.ops->lock(r->tr.t);
	r->armed = 0;
	rng_process(r);
	r->tr.ops->unlock(r->tr.t);
}

/* --- the device's operations ------------------------------------------------ */

static int rng_activate(void *dev, uint64_t features)
{
	struct rng *r = dev;

	(void)features;
	r->q = r->tr.ops->queue(r->tr.t, 0);
	if (!r->q || !virtq_ready(r->q))
		return -EINVAL;
	r->active = true;
	return 0;
}

static void rng_notify(void *dev, unsigned int index)
{
	struct rng *r = dev;

	if (index == 0)
		rng_process(r);
}

static void rng_reset(void *dev)
{
	struct rng *r = dev;

	/*
	 * Nothing is in flight: every chain popped went back or was unpopped
	 * before the call that took it returned. A timer still armed finds the
	 * device inactive, or finds the new driver's chains.
	 */
	r->active = false;
	r->q = NULL;
}

static const struct virtio_device_ops rng_ops = {
	.activate = rng_activate,
	.notify = rng_notify,
	.reset = rng_reset,
};

void rng_device(struct rng *r, struct virtio_device_info *info,
		const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_RNG,
		/* No device features; the ring features every driver may use. */
		.features =
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		.nr_queues = 1,
		.queue_max = RNG_QUEUE_SIZE,
		.config_size = 0,
		.name = r->name,
	};
	*ops = &rng_ops;
}

void rng_attach(struct rng *r, const struct virtio_transport *tr)
{
	r->tr = *tr;
}

int rng_create(struct rng **out, const struct rng_config *cfg, const struct rng_host *host)
{
	struct rng *r;

	*out = NULL;
	if (cfg->max_bytes < 1 || cfg->max_bytes > (uint64_t)INT64_MAX || cfg->period_ms < 1 ||
	    cfg->period_ms > RNG_MAX_PERIOD_MS || !host->now_ns || !host->arm_timer)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->host = *host;
	if (!r->host.fill)
		r->host.fill = rng_getrandom;
	r->max_bytes = cfg->max_bytes;
	r->period_ns = cfg->period_ms * NSEC_PER_MSEC;
	r->quota = r->max_bytes;
	r->name = cfg->name ? cfg->name : "virtio-rng";
	ratelimit_init(&r->rl, NSEC_PER_SEC, 5);
	*out = r;
	return 0;
}

void rng_destroy(struct rng *r)
{
	if (!r)
		return;
	ratelimit_destroy(&r->rl);
	free(r);
}

void rng_get_stats(struct rng *r, struct rng_stats *out)
{
	/* Counted under the transport lock, by whichever thread served the queue. */
	if (r->tr.ops)
		r->tr.ops->lock(r->tr.t);
	*out = r->stats;
	if (r->tr.ops)
		r->tr.ops->unlock(r->tr.t);
}
