// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-console with one to three ports behind its
 * virtio-mmio window, driven by the hostile driver of fuzzdrv.h. The device
 * is compiled into this file so that the checks can see its state. The input
 * also plays the host: each port's output() takes everything, nothing, or a
 * few bytes, or says it is writable again from inside output(); input of any
 * length, connects and disconnects, writable and resume events come when it
 * says; and it writes well-formed control messages (any id, event and value)
 * and posts control buffers of any size, so that the handshake is reached
 * often.
 *
 * Beyond the ledger's checks: output() never sees guest memory (the device
 * copies first) nor more than a bounce buffer; input is never said to be
 * taken beyond its length; between events the device holds at most one
 * transmit chain per port and nothing else, and a held chain always has a
 * way on: the port is waiting for a writable the host owes it, or a resume
 * is signalled; the control messages owed stay within one per port and kind.
 * A snapshot may come between any two events: the transport then saves with
 * no chain in flight, a fresh device accepts the saved state, and a chain
 * given back with bytes to skip has the same way on as a held one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzdrv.h"

#include "virtio/console.c"

#define FAKE_PORTS 3
#define TAKE_ALL ((size_t)-1)

struct fhost {
	struct fcon *fc;
	unsigned int idx;
	size_t take;  /* the most output() takes per call */
	bool reenter; /* output() calls vcon_port_writable() once */
	bool owed;    /* output() took less than offered: a writable is owed */
};

struct fcon {
	struct fin *in;
	struct fdrv *d;
	struct vcon *v;
	unsigned int nports;
	struct vcon_config cfg;
	struct fhost host[FAKE_PORTS];
};

static struct fcon fc;

static size_t fake_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct fhost *h = opaque;
	size_t n = len < h->take ? len : h->take;

	if (!len || len > VCON_BOUNCE)
		fdrv_fail("output of no bytes, or more than a bounce buffer");
	if (fdrv_in_ram(fc.d, buf, len))
		fdrv_fail("output handed guest memory, not a copy");
	if (h->reenter) {
		h->reenter = false;
		vcon_port_writable(fc.v, h->idx);
	}
	/* An emergency write (one byte, port 0) is dropped when refused: nothing owed. */
	if (n < len && !(len == 1 && !fc.v->port[h->idx].running))
		h->owed = true;
	return n;
}

static void fake_input_ready(void *opaque)
{
	(void)opaque;
}

static void fake_guest_open(void *opaque, bool open)
{
	struct fhost *h = opaque;

	if (open != fc.v->port[h->idx].guest_open)
		fdrv_fail("guest_open() disagrees with the device");
}

static const struct vcon_port_ops fake_ops = {
	.output = fake_output,
	.input_ready = fake_input_ready,
	.guest_open = fake_guest_open,
};

/* A well-formed control message from the guest, as Linux would write one. */
static void ctrl_message(struct fcon *f, struct fin *in)
{
	struct rb *rb = &f->d->rb[CTRL_QUEUE_TX];
	uint8_t idsel = (uint8_t)fin_take(in, 1);
	struct virtio_console_control m = {
		.id = htole32(idsel == 0xff ? VIRTIO_CONSOLE_BAD_ID : idsel % (f->nports + 1)),
		.event = htole16((uint16_t)(fin_take(in, 1) % 9)),
		.value = htole16((uint16_t)(fin_take(in, 1) % 3)),
	};
	struct rb_seg seg = { .len = sizeof(m) };
	uint16_t head = rb_add_chain(rb, &seg, 1);

	memcpy(rb_host(rb, seg.gpa), &m, sizeof(m));
	rb_publish(rb, head);
	virtio_mmio_notify(f->d->t, CTRL_QUEUE_TX);
}

static void ctrl_buffers(struct fcon *f, struct fin *in)
{
	struct rb *rb = &f->d->rb[CTRL_QUEUE_RX];
	uint8_t how = (uint8_t)fin_take(in, 1);
	unsigned int n = 1 + how % 8;

	if (n > rb->size)
		n = rb->size;
	for (unsigned int i = 0; i < n; i++) {
		/* Mostly room for a name, sometimes too small for a message. */
		struct rb_seg seg = { .len = how & 0x80 ? 4 + how % 8 : 128, .write = true };

		rb_publish(rb, rb_add_chain(rb, &seg, 1));
	}
	virtio_mmio_notify(f->d->t, CTRL_QUEUE_RX);
}

static bool any_broken(const struct fcon *f)
{
	bool broken = false;

	for (unsigned int i = 0; i < f->d->nq; i++)
		broken |= fdrv_broken(f->d, i);
	return broken;
}

/*
 * A snapshot of the device as it stands: once vcon_save() gave its transmit
 * chains back, the transport saves with nothing in flight, and a fresh
 * device takes the state (and, not started, says at the end whether it
 * should have been).
 */
static void snapshot(struct fcon *f)
{
	static struct virtio_mmio_state ms;
	struct vcon_state st;
	struct vcon *fresh;
	int ret;

	if (vcon_save(f->v, &st) != 0)
		fdrv_fail("vcon_save failed");
	ret = virtio_mmio_save(f->d->t, &ms);
	if (ret != 0 && !(ret == -EBUSY && any_broken(f)))
		fdrv_fail("the transport could not be saved after the device");
	if (vcon_create(&fresh, &f->cfg) < 0)
		abort();
	if (vcon_restore(fresh, &st) != 0)
		fdrv_fail("a state the device saved is refused");
	if (vcon_restore_end(fresh) != (st.active ? -EINVAL : 0))
		fdrv_fail("a kept state not taken up misjudged");
	vcon_destroy(fresh);
}

static void action(void *dev, struct fin *in)
{
	static const size_t takes[] = { TAKE_ALL, 0, 1, 7, 100, VCON_BOUNCE - 1 };
	static uint8_t data[8192];
	struct fcon *f = dev;
	uint8_t what = (uint8_t)fin_take(in, 1);
	unsigned int port = (unsigned int)fin_take(in, 1) % (f->nports + 1);
	struct fhost *h = port < f->nports ? &f->host[port] : NULL;
	size_t len, took;

	switch (what % 8) {
	case 0: /* the host's side is writable: a port out of range too */
		if (h)
			h->owed = false;
		vcon_port_writable(f->v, port);
		break;
	case 1:
		if (h) {
			uint8_t m = (uint8_t)fin_take(in, 1);

			h->take = takes[m % 6];
			h->reenter = m & 0x80;
		}
		break;
	case 2:
		len = (size_t)fin_take(in, 2) % sizeof(data);
		memset(data, 0x5a, len);
		took = vcon_port_input(f->v, port, data, len);
		if (took > len)
			fdrv_fail("input taken beyond its length");
		break;
	case 3:
		if (vcon_port_set_connected(f->v, port, fin_take(in, 1) & 1) != (h ? 0 : -EINVAL))
			fdrv_fail("set_connected misjudged its port");
		break;
	case 4:
		vcon_resume(f->v);
		break;
	case 5:
		ctrl_message(f, in);
		break;
	case 7:
		snapshot(f);
		break;
	default:
		ctrl_buffers(f, in);
		break;
	}
}

static void check(void *dev)
{
	struct fcon *f = dev;
	struct vcon *v = f->v;
	bool broken = any_broken(f);
	if (fdrv_held(f->d, CTRL_QUEUE_RX) || fdrv_held(f->d, CTRL_QUEUE_TX))
		fdrv_fail("a control chain held between events");
	if (v->ctrl_running)
		fdrv_fail("control still running between events");
	if (v->ctrl_more && !v->resume_signalled)
		fdrv_fail("control messages left without a resume");
	for (unsigned int i = 0; i < f->nports; i++) {
		struct vcon_port *p = &v->port[i];
		unsigned int rx = i ? 2 + 2 * i : 0;

		if (p->pending & ~(MSG_ADD | MSG_CONSOLE | MSG_NAME | MSG_OPEN))
			fdrv_fail("a control message of no known kind owed");
		if (p->running)
			fdrv_fail("transmit still running between events");
		if (fdrv_held(f->d, rx))
			fdrv_fail("a receive chain held between events");
		if (fdrv_held(f->d, rx + 1) > 1 || fdrv_held(f->d, rx + 1) != p->held)
			fdrv_fail("the device and the ledger disagree on the transmit chain");
		if (p->boff > p->blen || p->blen > VCON_BOUNCE || p->copied > p->chain.out_len)
			fdrv_fail("the bounce buffer out of bounds");
		if (!v->active && (p->held || p->pending || p->guest_open || p->ready))
			fdrv_fail("port state left from before a reset");
		if (p->skip && (p->held || !v->active))
			fdrv_fail("bytes to skip with a chain held, or the device stopped");
		if ((p->held || p->skip) && !broken) {
			if (p->blocked && !f->host[i].owed)
				fdrv_fail("a port waits for a writable the host does not owe");
			if (!p->blocked && !(p->more && v->resume_signalled))
				fdrv_fail("a held chain with no way on");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[FAKE_PORTS] = { NULL, "org.fuzz.one", "two" };
	struct fin hdr = { data, size };
	uint8_t shape = (uint8_t)fin_take(&hdr, 1);
	struct vcon_port_config pc[FAKE_PORTS];
	struct vcon_config cfg = { .ports = pc, .name = "fuzz-vcon" };
	struct fdrv d;
	struct fdrv_target tgt = { .action = action, .check = check, .dev = &fc };
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	struct virtio_transport tr;

	memset(&fc, 0, sizeof(fc));
	fc.nports = 1 + shape % FAKE_PORTS;
	cfg.nr_ports = fc.nports;
	fc.cfg = cfg;
	for (unsigned int i = 0; i < FAKE_PORTS; i++) {
		fc.host[i] = (struct fhost){ .fc = &fc, .idx = i, .take = TAKE_ALL };
		pc[i] = (struct vcon_port_config){
			.name = shape & 0x10 ? names[i] : NULL,
			.console = i == 0 || (shape & (0x20 << i)),
			.ops = &fake_ops,
			.opaque = &fc.host[i],
		};
	}
	if (vcon_create(&fc.v, &cfg) < 0)
		abort();
	vcon_device(fc.v, &info, &ops);
	fdrv_init(&d, hdr.p, hdr.left, &info, ops, fc.v, &tr);
	vcon_attach(fc.v, &tr);
	fc.in = &d.in;
	fc.d = &d;
	fdrv_run(&d, &tgt);
	fdrv_fini(&d);
	if (fc.v->active)
		fdrv_fail("the device runs after a reset");
	vcon_destroy(fc.v);
	return 0;
}
