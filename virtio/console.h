/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with multiple ports (virtio 1.x section 5.3,
 * VIRTIO_CONSOLE_F_MULTIPORT): up to VCON_MAX_PORTS byte streams between the
 * guest and host endpoints the glue provides, each a console (hvc in Linux)
 * or a named port (/dev/vportNpM, /dev/virtio-ports/NAME). Queues: port 0's
 * receive and transmit queues are 0 and 1, the control queues 2 (to the
 * guest) and 3 (from it), port n >= 1 has 2 + 2n and 3 + 2n. A driver that
 * does not accept MULTIPORT gets port 0 alone, as a console.
 *
 * The control protocol: the driver's DEVICE_READY has the device announce
 * every port (PORT_ADD); a port's PORT_READY has it send CONSOLE_PORT for a
 * console, PORT_NAME for a named port and PORT_OPEN with whether the host
 * side is connected. The guest's PORT_OPEN (an application opened or closed
 * the port) goes to the host through guest_open(). Messages to the guest
 * wait, with no control buffer posted, as one pending bit per port and kind:
 * a PORT_OPEN carries the host's state when it is sent, so connecting and
 * disconnecting coalesce, and a guest that never posts buffers costs nothing.
 * Malformed control messages are ignored and logged at a limited rate.
 *
 * Transmit: the guest's bytes are copied, a bounce buffer (VCON_BOUNCE
 * bytes) at a time, out of the chain and handed to the port's output(). When
 * the host takes fewer than offered the device keeps the chain and the rest
 * of the bounce buffer, and takes nothing more from that port until
 * vcon_port_writable(); the other ports go on. Nothing is buffered beyond
 * the guest's own chain and that one bounce buffer per port. Linux's hvc
 * driver spins on its vCPU until its transmit buffer comes back, so the glue
 * of a console port should always take everything (dropping what it cannot
 * write) rather than stall it.
 *
 * Receive: vcon_port_input() fills the buffers the guest posted on the
 * port, as much as fits, and says how much it took. With MULTIPORT, a port
 * takes input only once the guest opened it (Linux throws away what reaches
 * a closed port). input_ready() tells the host when to try again.
 *
 * Emergency write (VIRTIO_CONSOLE_F_EMERG_WRITE, offered): a byte the driver
 * writes to emerg_wr goes straight to port 0's output(), at any time, ahead of
 * a transmit chain in progress; if the host does not take it, it is dropped.
 *
 * Work per event-loop turn is bounded: per port, VCON_TX_CHAINS chains and
 * VCON_TX_BYTES bytes, and VCON_CTRL_CHAINS control messages from the guest;
 * what is left goes on when vcon_resume_fd() is readable.
 *
 * Threads and the lock: the transport calls the device with its lock held,
 * from a vCPU thread or the event loop thread. The vcon_port_*() calls and
 * vcon_resume() take that lock themselves (it nests); before vcon_attach()
 * they find no device running. The host ops are called with it held, from
 * either thread; input_ready() and guest_open() may call vcon_port_input()
 * and vcon_port_set_connected(); no op may reset the device.
 */
#ifndef EMBER_VIRTIO_CONSOLE_H
#define EMBER_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

#define VCON_MAX_PORTS 7 /* 2 + 2 * 7 queues: VIRTIO_MAX_QUEUES */
#define VCON_NAME_MAX 64 /* bytes of a port's name */
#define VCON_QUEUE_SIZE 128
#define VCON_BOUNCE 4096 /* bytes copied out of a transmit chain at a time */
#define VCON_IOV_MAX 256 /* buffers in one chain (a splice of a 1 MiB pipe) */
#define VCON_TX_CHAINS 64
#define VCON_TX_BYTES (256 * 1024)
#define VCON_CTRL_CHAINS 64

/* The host side of a port. */
struct vcon_port_ops {
	/*
	 * Bytes the guest sent: returns how many the host took, 0 to len.
	 * Fewer than len: the device offers the rest again only after
	 * vcon_port_writable(). Required.
	 */
	size_t (*output)(void *opaque, const uint8_t *buf, size_t len);
	/*
	 * The port can take input (the guest posted receive buffers, or opened
	 * the port): the host may call vcon_port_input() again. Optional.
	 */
	void (*input_ready)(void *opaque);
	/* The guest opened (true) or closed the port; false too when the driver resets. Optional.
	 */
	void (*guest_open)(void *opaque, bool open);
};

struct vcon_port_config {
	/*
	 * The port's name, for the guest's /dev/virtio-ports/NAME: 1 to
	 * VCON_NAME_MAX printable ASCII bytes, no space or '/', unique in the
	 * device; NULL for none. Copied.
	 */
	const char *name;
	/*
	 * A console (hvc in Linux), port 0 normally. Its host side starts
	 * connected; other ports' start disconnected (vcon_port_set_connected()).
	 */
	bool console;
	/*
	 * Must outlive the device. NULL: no port with this number (the guest is
	 * never told of it), as when only ports 1 and up are configured.
	 */
	const struct vcon_port_ops *ops;
	void *opaque;
};

struct vcon_config {
	/* 1..VCON_MAX_PORTS, the config space's max_nr_ports; one at least has ops. */
	unsigned int nr_ports;
	const struct vcon_port_config *ports;
	/* The config space's cols and rows (VIRTIO_CONSOLE_F_SIZE is not offered). */
	uint16_t cols, rows;
	const char *name; /* for log lines: "virtio-console"; must outlive the device */
};

struct vcon;

/* 0; -EINVAL for a bad port count, name or ops; -ENOMEM, or eventfd's errors. */
int vcon_create(struct vcon **out, const struct vcon_config *cfg);
/* The transport must be destroyed (which resets the device) first. NULL is fine. */
void vcon_destroy(struct vcon *d);

/* How the device describes itself to a transport, and where it takes it (vslot.h). */
void vcon_device(struct vcon *d, struct virtio_device_info *info,
		 const struct virtio_device_ops **ops);
/* `dev` is the struct vcon: this is a struct vslot_device's attach. */
void vcon_attach(void *dev, const struct virtio_transport *tr);

/*
 * Host data for the guest on `port`: fills its posted receive buffers.
 * Returns the bytes taken; 0 when no buffer is posted, the port does not take
 * input yet (not ready or not open), the device is not running, or port is
 * out of range. Takes the transport lock.
 */
size_t vcon_port_input(struct vcon *d, unsigned int port, const void *buf, size_t len);

/* The host can take output on `port` again. Takes the transport lock. */
void vcon_port_writable(struct vcon *d, unsigned int port);

/*
 * The host side of `port` connected or went away: the guest hears of it
 * (PORT_OPEN) once the port is ready, now or when it has a control buffer.
 * 0, or -EINVAL for a port out of range. Takes the transport lock.
 */
int vcon_port_set_connected(struct vcon *d, unsigned int port, bool connected);

/*
 * Readable when a turn stopped at its budget with work left; the owner then
 * calls vcon_resume() from the event loop. Owned by the device.
 */
int vcon_resume_fd(const struct vcon *d);
/* Takes the transport lock; from the event loop thread. */
void vcon_resume(struct vcon *d);

/*
 * A port's part of a snapshot: where the control protocol stands with the
 * guest, and the bytes of its next transmit chain the host already took.
 */
struct vcon_port_state {
	uint32_t skip;		/* bytes at the start of the next transmit chain, already taken */
	uint8_t ready;		/* the guest said PORT_READY */
	uint8_t guest_open;	/* the guest's last PORT_OPEN */
	uint8_t host_connected; /* what the guest was last told, or is owed */
	uint8_t pending;	/* control messages owed to the guest (a bit per kind) */
};

/*
 * The device's state for a snapshot, written to the file byte for byte: fixed
 * widths, explicit padding (zero). The transport and its queues are saved
 * apart (virtio_mmio_save()); this is what the device adds.
 */
#define VCON_STATE_VERSION 1
struct vcon_state {
	uint32_t nr_ports; /* the configuration's: must match on restore */
	uint8_t active;	   /* the driver started the device */
	uint8_t multiport; /* ... and accepted MULTIPORT */
	uint8_t pad[2];
	struct vcon_port_state port[VCON_MAX_PORTS]; /* zero past nr_ports */
};

/*
 * Of a paused guest, before virtio_mmio_save() of the transport, from the
 * event loop thread; takes the transport lock. A transmit chain the device
 * holds (the host took part of it and is full) cannot be carried into another
 * process: it goes back to the ring (virtq_unpop()) and the bytes already
 * taken are recorded as `skip`, so that whoever pops it next, this device or
 * a restored one, hands the host only the rest. The device goes on as
 * before. Returns 0.
 */
int vcon_save(struct vcon *d, struct vcon_state *st);

/*
 * Restoring a snapshot: vcon_restore() checks `st` and keeps it, then
 * virtio_mmio_restore() of the transport starts the device (its activate
 * takes the kept state up instead of starting afresh), then
 * vcon_restore_end() says whether that happened as the state wanted. A port
 * whose host side differs from what the guest was told (a socket client of
 * the old process is gone) has a PORT_OPEN sent; a port the guest had open
 * has its host side told (guest_open). vcon_restore(): 0; -EINVAL for a state
 * out of range or of another port count; -EBUSY when the device runs.
 * vcon_restore_end(): 0; -EINVAL when the kept state was not taken up (the
 * transport's state did not start the device, or the driver's queues and
 * features disagree with it); the kept state is dropped either way.
 */
int vcon_restore(struct vcon *d, const struct vcon_state *st);
int vcon_restore_end(struct vcon *d);

#endif
