/* SPDX-License-Identifier: MIT */
/*
 * vhost-vsock: the virtio socket device (virtio 1.x section 5.10), AF_VSOCK
 * between the guest and the host, with its data path in the kernel's
 * vhost-vsock driver (virtio/vhost.h). Three queues: rx (0) and tx (1),
 * which the kernel drives while the device runs, and event (2), which
 * ember keeps: the driver posts buffers there for the device's events, and
 * the device holds them for its one event, the transport reset: owed when
 * the driver starts the device again after a reset, and when the guest is
 * restored from a snapshot (vsock_restored()). Configuration space: the
 * guest's CID, 64 bits, little-endian.
 *
 * The guest's CID is claimed in the host kernel when the device is created:
 * 3 and above, below 2^32 - 1 (VMADDR_CID_ANY); one already claimed by
 * another VM is refused with -EADDRINUSE.
 */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include <stdint.h>

#include "core/gmem.h"
#include "vhost.h"
#include "virtio.h"

#define VSOCK_QUEUE_SIZE 128
#define VSOCK_MIN_CID 3
#define VSOCK_MAX_CID 0xfffffffeULL /* 0xffffffff is VMADDR_CID_ANY */

struct vsock;

/*
 * A device over `vhost` (taken: destroyed with the device, or here on
 * failure) for the guest `cid` in `mem`. `name` must outlive the device.
 * Returns 0; -EINVAL for a CID out of range; -EADDRINUSE when another VM
 * holds the CID; another negative errno from the kernel; or -ENOMEM.
 */
int vsock_create(struct vsock **out, struct vhost *vhost, uint64_t cid, const struct gmem *mem,
		 const char *name);
/* The transport must be destroyed (which resets the device) first. NULL is fine. */
void vsock_destroy(struct vsock *s);

void vsock_device(struct vsock *s, struct virtio_device_info *info,
		  const struct virtio_device_ops **ops);
void vsock_attach(struct vsock *s, const struct virtio_transport *tr);

/*
 * Its kernel queues, rx (0) and tx (1): their descriptors before the driver
 * can start the device (the kick is the queue's ioeventfd, which nothing
 * else may watch), and the kernel's calls and errors (vhost.h).
 */
struct vhost_dev *vsock_vhost(struct vsock *s);

/*
 * A snapshot of a paused guest, in this order: vsock_suspend(), then
 * virtio_mmio_save() of the device's transport, then vsock_resume() if
 * the guest goes on (whether or not the save succeeded, and also after a
 * suspend that failed). See vhost_dev_suspend() and vhost_dev_resume() for
 * what they do and return; on a device the driver has not started, both
 * do nothing and return 0.
 */
int vsock_suspend(struct vsock *s);
int vsock_resume(struct vsock *s);

/*
 * After virtio_mmio_restore() of the device's transport succeeded, before
 * the guest runs: every connection the guest had ended with the saved
 * process's vhost-vsock device, which the transport-reset event tells the
 * driver. It goes into the next event buffer the driver makes available
 * (one already is, usually), or, for a device the driver has not started,
 * after the driver starts it.
 */
void vsock_restored(struct vsock *s);

#endif
