/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x section 5.2): one request queue over a block
 * backend. A request goes through three steps: blk_parse() checks the
 * whole descriptor chain (header, data, status, limits, capacity) with no
 * I/O; a valid one is submitted to the backend; its completion writes the
 * status byte and returns the chain. A request that fails parsing gets
 * IOERR or UNSUPP at once and touches nothing on disk.
 */
#ifndef EMBER_VIRTIO_BLK_H
#define EMBER_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/disk.h"
#include "virtio.h"
#include "virtq.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX 126			   /* data buffers per request */
#define BLK_SIZE_MAX (1U << 20)		   /* bytes per data buffer */
#define BLK_MAX_DISCARD_SECTORS (1U << 22) /* 2 GiB per DISCARD / WRITE_ZEROES segment */
#define BLK_ID_BYTES 20			   /* VIRTIO_BLK_ID_BYTES */
/*
 * Work per event-loop turn (one kick, one backend event, one resume), so
 * that other devices, the console and signals are served in between: at
 * most BLK_TURN_REQUESTS chains are popped, and on a backend that does
 * DISCARD / WRITE_ZEROES on the submitting thread a step per granule (a
 * qcow2 image: an L2 entry per cluster), those go to it in pieces of
 * BLK_ZERO_UNITS granules, aligned to their size so that each covers whole
 * clusters, and at most one piece's worth of bytes per turn.
 */
#define BLK_TURN_REQUESTS 64
#define BLK_ZERO_UNITS 256
/* Buffers a chain may have: data, plus the header and status split any way. */
#define BLK_CHAIN_MAX (BLK_SEG_MAX + 8)

/*
 * What the device stores to: a disk (block/disk.h) or, in tests, a fake. Each
 * request completes once through req->done, called from complete() or
 * drain(), on the thread that calls them.
 */
struct blk_backend_ops {
	int (*submit)(void *be, struct disk_req *req); /* 0: done comes later; <0: refused */
	unsigned int (*complete)(void *be);	       /* delivers ready completions */
	void (*drain)(void *be);		       /* waits for all in flight */
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	void *be;
	uint64_t size; /* bytes; capacity is size / 512 */
	bool readonly;
	/*
	 * DISCARD / WRITE_ZEROES cost the submitting thread a step per this
	 * many bytes (a power of two, at most 1 GiB); 0: they cost it nothing
	 * that grows with their length, and are not split.
	 */
	uint64_t zero_granule;
};

/* The raw disk as a backend. */
void blk_backend_disk(struct blk_backend *out, struct disk *d);

/* What blk_parse() checks a request against. */
struct blk_limits {
	uint64_t capacity; /* sectors */
	bool readonly;
	bool flush;   /* FLUSH offered */
	bool discard; /* DISCARD and WRITE_ZEROES offered */
};

/* A request after parsing. */
struct blk_parsed {
	uint32_t type;	   /* VIRTIO_BLK_T_* */
	uint64_t sector;   /* IN, OUT; DISCARD / WRITE_ZEROES: the segment's */
	uint32_t nsectors; /* DISCARD / WRITE_ZEROES */
	bool unmap;	   /* WRITE_ZEROES */
	uint8_t *status;   /* the chain's last writable byte; NULL when it has none */
	/* IN, OUT, GET_ID: the data buffers, pointing into the caller's array. */
	struct iovec *data;
	unsigned int ndata;
	uint32_t data_len;
};

/*
 * Checks chain `c` against `lim` and fills `out`, with its data buffers in
 * data[0 .. data_max). Returns VIRTIO_BLK_S_OK for a request to carry out,
 * else VIRTIO_BLK_S_IOERR or VIRTIO_BLK_S_UNSUPP, the status to report
 * (out->status is still set when the chain has a writable byte, NULL when
 * nothing can be reported). `why` (may be NULL) gets a short reason.
 */
uint8_t blk_parse(const struct virtq_chain *c, const struct blk_limits *lim, struct iovec *data,
		  unsigned int data_max, struct blk_parsed *out, const char **why);

struct blk;

struct blk_config {
	struct blk_backend backend;
	const char *serial; /* GET_ID; at most 20 bytes, NULL: empty */
	const char *name;   /* for log lines: "virtio-blk vda" */
};

int blk_create(struct blk **out, const struct blk_config *cfg);
/* The transport must be destroyed (which resets the device) before the device. */
void blk_destroy(struct blk *b);

/* The device's identity and operations, for the transport. */
void blk_device(struct blk *b, struct virtio_device_info *info,
		const struct virtio_device_ops **ops);
/* Tells the device its transport, before the driver can start it. */
void blk_attach(struct blk *b, const struct virtio_transport *tr);

/*
 * The backend has completions ready (its event fd is readable): delivers
 * them, returns chains to the driver and interrupts it. Takes the transport
 * lock; from the event loop thread.
 */
void blk_backend_event(struct blk *b);

/*
 * Readable when the device stopped at its per-turn budget with work left;
 * the owner then calls blk_resume() from the event loop, which does the next
 * turn's share. Owned by the device.
 */
int blk_resume_fd(const struct blk *b);
/* Takes the transport lock; from the event loop thread. */
void blk_resume(struct blk *b);

/*
 * Completes every request the device has taken: waits for the backend's
 * (its drain), starts and waits for the remaining pieces of split DISCARD /
 * WRITE_ZEROES requests whatever the turn's budget, returns each chain to
 * the driver and interrupts it as it asked. Afterwards the queue has no
 * chain in flight, until the next kick, backend event or resume: for a
 * snapshot (virtio_mmio_save()) with the vCPUs paused. Takes the transport
 * lock; from the event loop thread, after blk_attach().
 */
void blk_drain(struct blk *b);

/* Counters, for tests and the log. */
struct blk_stats {
	uint64_t requests;
	uint64_t ioerr;
	uint64_t unsupp;
	uint64_t inflight;
};
void blk_get_stats(struct blk *b, struct blk_stats *out);

#endif
