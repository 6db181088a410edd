/* SPDX-License-Identifier: MIT */
/*
 * vhost: hands a virtio device's queues to one of Linux's vhost drivers
 * (/dev/vhost-vsock, /dev/vhost-net), which then moves their buffers in the
 * kernel. ember keeps the transport: the registers, feature negotiation, the
 * status machine and the interrupt status.
 *
 * The calls, in order:
 *   vhost_create()      VHOST_SET_OWNER, VHOST_GET_FEATURES; before the
 *                       privilege drop, with the descriptor already open
 *   vhost_start()       when the driver starts the device: VHOST_SET_FEATURES,
 *                       VHOST_SET_MEM_TABLE (guest RAM's regions and their host
 *                       addresses), then per queue VHOST_SET_VRING_NUM, _BASE,
 *                       _ADDR, _KICK, _CALL and _ERR; each ring's base is
 *                       where ember's copy of the queue stands (0 after a
 *                       reset, the saved place after a snapshot's restore)
 *   vhost_stop()        when the driver resets it, after the device's own stop
 *                       (vhost-vsock's VHOST_VSOCK_SET_RUNNING 0, vhost-net's
 *                       backend unset), which is what ends the kernel's use of
 *                       the rings: per started queue VHOST_GET_VRING_BASE (where
 *                       it stopped), then its kick, call and err unbound
 *
 * For a snapshot, vhost_dev_suspend() stops the kernel as a reset would but
 * keeps where it stopped, in ember's copies of the queues (which the
 * transport saves) and for vhost_dev_resume(), which starts it again from
 * there if the guest goes on.
 *
 * Guest RAM's regions are fixed for ember's lifetime (no memory hotplug), so
 * the table given at start stays right until the next start.
 *
 * The kick descriptor is the slot's ioeventfd for that queue: the guest's
 * QueueNotify write reaches the kernel without a trip through ember. The
 * call and err descriptors are eventfds the caller watches on its event
 * loop: a call means used buffers, for which the transport sets its
 * used-buffer bit in InterruptStatus and raises the line (Linux's
 * virtio-mmio driver reads InterruptStatus first and ignores an interrupt
 * with no bit set, so the kernel's eventfd cannot be the guest's irqfd);
 * an err means the kernel found the ring broken, for which the transport
 * sets DEVICE_NEEDS_RESET.
 *
 * The ioctl is injected so that tests can record and refuse the calls.
 */
#ifndef EMBER_VIRTIO_VHOST_H
#define EMBER_VIRTIO_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"
#include "core/log.h"
#include "virtio.h"

#define VHOST_MAX_QUEUES 2 /* vhost-vsock's rx and tx; vhost-net's rx and tx */

struct vhost;
struct virtq;

/* ioctl(2) or a test's stand-in: 0 (or a value) on success, -1 with errno set. */
typedef int (*vhost_ioctl_fn)(int fd, unsigned long request, void *arg);

/* What a queue needs besides its rings: the three descriptors, all the caller's. */
struct vhost_queue_fds {
	int kick; /* the queue's ioeventfd */
	int call; /* an eventfd the kernel signals for used buffers */
	int err;  /* an eventfd the kernel signals when the ring is broken */
};

/*
 * Takes `fd` (open /dev/vhost-*; closed by vhost_destroy(), or here on
 * failure) and makes this process its owner. `name` names it in log lines
 * and must outlive it; `ioctl_fn` NULL is ioctl(2). Returns 0, or the
 * negative errno of the call that failed (-ENOMEM).
 */
int vhost_create(struct vhost **out, int fd, const char *name, vhost_ioctl_fn ioctl_fn);
/* Stops whatever is started and closes the descriptor. NULL is fine. */
void vhost_destroy(struct vhost *v);

/*
 * A device-specific call (the vsock CID, the net backend) through the same
 * ioctl: 0, or the negative errno, logged with `what` unless it is
 * `quiet_err` (0: none).
 */
int vhost_call(struct vhost *v, unsigned long request, void *arg, const char *what, int quiet_err);
/* The features the kernel offers (VHOST_GET_FEATURES). */
uint64_t vhost_features(const struct vhost *v);

/*
 * Starts queues 0 .. nr - 1 (nr at most VHOST_MAX_QUEUES), each set up by
 * the transport, with the accepted `features` (only those the kernel
 * offers are passed on) and the RAM regions of `mem`. On failure nothing
 * stays started. Returns 0, -EINVAL for a queue that is not set up or too
 * many queues, or the negative errno of the call that failed.
 */
int vhost_start(struct vhost *v, const struct gmem *mem, uint64_t features, struct virtq *const *q,
		const struct vhost_queue_fds *fds, unsigned int nr);
/*
 * Lets go of the kernel's device at once by closing the descriptor, which
 * ends all its work on the rings: for a kernel that refused to stop. It
 * cannot be started again (-ENODEV), and makes no more calls.
 */
void vhost_abandon(struct vhost *v);

/*
 * Lets go of the started queues, if any, once the device-specific stop has
 * ended the kernel's use of them: no kick reaches the kernel any more, and
 * it signals neither call nor err. A kernel that refuses any of these
 * calls is abandoned (vhost_abandon()). Safe to call again.
 */
void vhost_stop(struct vhost *v);
/*
 * vhost_stop() for a kernel to be started again where it stopped: base[i]
 * is where queue i stopped, the next available-ring entry it would have
 * taken (VHOST_GET_VRING_BASE). `nr` must be the number of queues started.
 * Returns 0; -ENODEV when abandoned; -EINVAL for another nr (nothing is
 * stopped); or the negative errno of a call refused (the kernel is then
 * abandoned, as by vhost_stop()).
 */
int vhost_stop_at(struct vhost *v, uint16_t *base, unsigned int nr);

/*
 * A virtio device whose first `nr` queues the kernel serves, the part vhost
 * devices share: start at DRIVER_OK, stop at reset, the kernel's calls as
 * interrupts and its errors as NEEDS_RESET. The device adds its own calls
 * through the backend's start (after the rings are bound: vhost-vsock's
 * SET_RUNNING, vhost-net's backend per queue) and stop (before they are
 * unbound; also after a start that failed part of the way, so it must undo
 * any part of a start; a failure there means the kernel would not stop, and
 * it is let go of with vhost_abandon()).
 */
struct vhost_backend_ops {
	int (*start)(void *opaque, struct vhost *v);
	int (*stop)(void *opaque, struct vhost *v);
};

struct vhost_dev {
	struct vhost *vhost;
	const struct gmem *mem;
	const char *name;
	unsigned int nr;
	const struct vhost_backend_ops *ops;
	void *opaque;
	struct virtio_transport tr;
	struct vhost_queue_fds fds[VHOST_MAX_QUEUES];
	bool running;			 /* started by the driver, not reset since */
	bool suspended;			 /* running, with the kernel stopped for a snapshot */
	uint64_t features;		 /* accepted at the last start */
	uint16_t base[VHOST_MAX_QUEUES]; /* where the kernel stopped at the suspend */
	struct ratelimit rl;
};

/*
 * Takes `v`. `name` names it in log lines and must outlive it. 0, or
 * -EINVAL for nr out of range (then `v` is destroyed).
 */
int vhost_dev_init(struct vhost_dev *d, struct vhost *v, const struct gmem *mem, unsigned int nr,
		   const char *name, const struct vhost_backend_ops *ops, void *opaque);
/* Destroys the vhost; the transport must be gone (which resets the device). */
void vhost_dev_fini(struct vhost_dev *d);
/* The descriptors of kernel queue `queue`, before the driver can start the device. */
void vhost_dev_set_fds(struct vhost_dev *d, unsigned int queue, const struct vhost_queue_fds *fds);
/* For the device's activate and reset operations. */
int vhost_dev_activate(struct vhost_dev *d, uint64_t features);
void vhost_dev_reset(struct vhost_dev *d);

/*
 * Around a snapshot of a paused guest, from any thread; they take the
 * transport's lock. Both do nothing and return 0 for a device the driver
 * has not started (or not attached), and a second suspend or resume in a
 * row does nothing either.
 *
 * vhost_dev_suspend() stops the kernel (the backend's stop, then
 * VHOST_GET_VRING_BASE per queue, as a reset does) and hands each kernel
 * queue back to ember's copy (virtq_take_back()), so that virtio_mmio_save()
 * records where the kernel left it. Returns 0; or, with no snapshot to be
 * taken and the device still resumable, virtq_take_back()'s error for the
 * first queue whose rings in guest memory disagree with the kernel (-EBUSY:
 * it holds chains; -EPROTO: used->idx or avail->idx out of bounds); or the
 * errno of a kernel that would not stop: it is then let go of
 * (vhost_abandon()), the device needs a reset and resuming does nothing.
 *
 * vhost_dev_resume() starts the kernel again as at DRIVER_OK, from where
 * each queue stopped, with the features the driver accepted. Returns 0, or
 * the error of a kernel that refused: the device then needs a reset.
 */
int vhost_dev_suspend(struct vhost_dev *d);
int vhost_dev_resume(struct vhost_dev *d);

/* A queue's call eventfd fired (read it first): raises the used-buffer interrupt. */
void vhost_dev_called(struct vhost_dev *d);
/* A queue's err eventfd fired: the kernel found the ring broken; sets NEEDS_RESET. */
void vhost_dev_broken(struct vhost_dev *d, unsigned int queue);

#endif
