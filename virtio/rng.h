/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng, the entropy device (virtio 1.x section 5.4): one request queue,
 * no configuration space, no device feature bits. The driver posts
 * device-writable buffers; the device fills them from an entropy source and
 * gives each back with the number of bytes it wrote, which may be fewer
 * than the buffers hold (the spec asks for at least one). A chain with
 * device-readable buffers breaks the driver's side of the contract: it goes
 * back at once with nothing written.
 *
 * The source is injected; rng_getrandom() is the host's. Only the bytes the
 * source says it produced are reported. A source that produces nothing for
 * now (the host's pool not yet initialised, an error) leaves the chain on
 * the ring; the device retries after RNG_RETRY_MS, or at the next kick.
 *
 * Rate limit, as QEMU's virtio-rng: at most max_bytes per period_ms. The
 * quota starts full; a period begins with the first bytes handed to the
 * guest after the quota was (re)filled, and when it has ended the quota is
 * full again. A request gets at most what is left of the quota. With the
 * quota spent the device stops taking chains and asks the host for a timer
 * at the end of the period. The quota outlives a device reset, so that a
 * driver cannot reset its way past the limit.
 *
 * Work per call is bounded (RNG_TURN_REQUESTS chains, RNG_TURN_BYTES bytes)
 * so that a driver that keeps the ring full cannot keep one thread in the
 * device; the device then asks for the timer at once (a deadline already
 * past) and takes the rest when it fires. The timer is the device's only way
 * back to work it left: the host calls rng_timer() when it fires, and a
 * timer left over from before a reset does nothing harmful.
 */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include <stdint.h>
#include <sys/types.h>

#include "virtio.h"

#define RNG_QUEUE_SIZE 256
#define RNG_CHAIN_MAX RNG_QUEUE_SIZE /* buffers per chain */
#define RNG_TURN_REQUESTS 64
#define RNG_TURN_BYTES (256U * 1024)
#define RNG_RETRY_MS 100 /* after the source produced nothing */

/* QEMU's defaults: no limit to speak of (max-bytes = INT64_MAX), period 65536 ms. */
#define RNG_DEFAULT_MAX_BYTES ((uint64_t)INT64_MAX)
#define RNG_DEFAULT_PERIOD_MS 65536U
#define RNG_MAX_PERIOD_MS UINT32_MAX

struct rng;

struct rng_config {
	uint64_t max_bytes; /* per period: 1 .. INT64_MAX */
	uint64_t period_ms; /* 1 .. RNG_MAX_PERIOD_MS */
	const char *name;   /* for log lines; NULL: "virtio-rng" */
};

/*
 * What the device needs of its host. All three are called with the
 * transport's lock held and must not call back into the device.
 */
struct rng_host {
	/*
	 * Writes up to len random bytes to buf; returns how many (fewer is
	 * fine), or a negative errno: -EAGAIN when there is nothing now.
	 * NULL: rng_getrandom().
	 */
	ssize_t (*fill)(void *opaque, void *buf, size_t len);
	/* A monotonic clock, in nanoseconds. */
	uint64_t (*now_ns)(void *opaque);
	/*
	 * Call rng_timer() once now_ns() reaches deadline_ns (one already past:
	 * as soon as possible). Replaces any deadline armed before.
	 */
	void (*arm_timer)(void *opaque, uint64_t deadline_ns);
	void *opaque;
};

/*
 * The host's entropy: getrandom(2) with GRND_NONBLOCK, so that the caller
 * never waits (-EAGAIN until the host's pool is initialised). opaque unused.
 */
ssize_t rng_getrandom(void *opaque, void *buf, size_t len);

/*
 * Returns 0, -EINVAL for a limit out of range or a host without now_ns or
 * arm_timer, or -ENOMEM. The config and host structs are copied; the name
 * must outlive the device.
 */
int rng_create(struct rng **out, const struct rng_config *cfg, const struct rng_host *host);
/* The transport must be destroyed (which resets the device) before the device. NULL is fine. */
void rng_destroy(struct rng *r);

/* The device's identity and operations, for the transport. */
void rng_device(struct rng *r, struct virtio_device_info *info,
		const struct virtio_device_ops **ops);
/* Tells the device its transport, before the driver can start it. */
void rng_attach(struct rng *r, const struct virtio_transport *tr);

/*
 * The host's timer fired: refills the quota if the period ended and serves
 * the chains waiting. Takes the transport lock; does nothing on a device
 * that is not running. Not once the transport is destroyed: the host stops
 * its timer first (a slot stops watching its fds before it frees the
 * transport).
 */
void rng_timer(struct rng *r);

/* Counters, for tests and the log. */
struct rng_stats {
	uint64_t requests;  /* chains given back */
	uint64_t bytes;	    /* random bytes handed to the guest */
	uint64_t refused;   /* chains with readable buffers, given back empty */
	uint64_t throttled; /* times the quota ran out with chains waiting */
	uint64_t starved;   /* times the source produced nothing */
};
void rng_get_stats(struct rng *r, struct rng_stats *out);

#endif
