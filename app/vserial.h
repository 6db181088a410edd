/* SPDX-License-Identifier: MIT */
/*
 * The virtio-serial device's host ends: each port of the virtio console
 * (virtio/console.h) on the -chardev it names. A socket port is connected
 * while a client is (the guest is told with PORT_OPEN) and passes
 * backpressure both ways; a stdio port reads standard input through the
 * console front end (C-a escapes included) and writes standard output; a
 * file port writes its file; a null port drops what it gets. Output that
 * the host cannot take now stalls a named port; a console port never
 * stalls (the guest's hvc driver spins until its buffer comes back), it
 * drops and counts instead.
 *
 * The device may call its ports from a vCPU thread; sockets are served on
 * the event loop thread alone, so such calls are handed over through an
 * eventfd the loop watches.
 */
#ifndef EMBER_VSERIAL_H
#define EMBER_VSERIAL_H

#include <stddef.h>

#include "cli.h"
#include "vslot.h"

struct evloop;
struct vcon;
struct vserial;

/*
 * The device and its ports' host ends as `cfg` describes them; quit(opaque)
 * is C-a x on a stdio port. Before the loop thread starts. 0, or a negative
 * errno with a message in err.
 */
int vserial_create(struct vserial **out, const struct ember_config *cfg, struct evloop *loop,
		   void (*quit)(void *opaque), void *opaque, char *err, size_t err_len);
/* The slot must be detached first. NULL is fine. */
void vserial_destroy(struct vserial *vs);

/* How the device attaches: for vslot_attach(). */
void vserial_device(struct vserial *vs, struct vslot_device *out);
/* Adds what the ports watch on the event loop to the attached slot. */
int vserial_watch(struct vserial *vs, struct vslot *slot);
/* The device, for its snapshots (vcon_save(), vcon_restore()). */
struct vcon *vserial_vcon(struct vserial *vs);

#endif
