// SPDX-License-Identifier: MIT
#include "config.h"

#include "console.h"
#include "virtq.h"
#include "core/clock.h"
#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define F(bit) (1ULL << (bit))
#define CTRL_LEN 8 /* struct virtio_console_control */
#define CTRL_QUEUE_RX 2
#define CTRL_QUEUE_TX 3
#define EMERG_WR_OFFSET 8

/* Control messages owed to the guest, per port, sent in this order. */
enum {
	MSG_ADD = 1 << 0,
	MSG_CONSOLE = 1 << 1,
	MSG_NAME = 1 << 2,
	MSG_OPEN = 1 << 3,
	MSG_ALL = MSG_ADD | MSG_CONSOLE | MSG_NAME | MSG_OPEN,
};

struct vcon_port {
	struct vcon_port_config cfg;
	char name[VCON_NAME_MAX + 1];
	size_t name_len; /* 0: no name */
	struct virtq *rxq, *txq;
	bool present;	     /* the device runs and the port's queues are set up */
	bool ready;	     /* the guest said PORT_READY */
	bool guest_open;     /* the guest's last PORT_OPEN */
	bool host_connected; /* the host's, as vcon_port_set_connected() says */
	uint8_t pending;     /* MSG_* owed to the guest */

	/* Transmit: one chain at a time, copied out VCON_BOUNCE bytes at once. */
	bool held;     /* chain is popped and not all handed to the host */
	bool blocked;  /* the host took less than offered: until vcon_port_writable() */
	bool more;     /* a turn stopped at its budget: vcon_resume() goes on */
	bool running;  /* in tx_run(), which the host's output() might re-enter */
	bool woken;    /* vcon_port_writable() came from inside output() */
	uint32_t skip; /* bytes of the next chain popped that the host took already (a snapshot) */
	struct virtq_chain chain;
	uint32_t copied;  /* bytes of the chain copied into the bounce buffer */
	unsigned int cur; /* where the copying stands: iov[cur], at cur_off */
	size_t cur_off;
	size_t boff, blen; /* bounce[boff, blen) is not yet taken by the host */
	struct iovec iov[VCON_IOV_MAX];
	uint8_t bounce[VCON_BOUNCE];
};

struct vcon {
	const char *name;
	unsigned int nr_ports;
	struct virtio_transport tr;
	struct virtio_console_config config; /* little-endian, as the driver reads it */
	uint64_t offered;
	struct ratelimit rl;

	bool active;
	bool multiport;
	struct virtq *c_rxq, *c_txq;
	bool ctrl_more;	   /* control messages left at the turn's budget */
	bool ctrl_running; /* in ctrl_tx_run(), which guest_open() might re-enter */
	bool resume_signalled;
	int resume_fd;
	/* A snapshot's state between vcon_restore() and the activate that takes it up. */
	bool restoring, restored;
	struct vcon_state restore;

	struct iovec rx_iov[VCON_IOV_MAX];   /* a receive chain, while filled */
	struct iovec ctrl_iov[VCON_IOV_MAX]; /* a control chain, while read or written */
	struct vcon_port port[VCON_MAX_PORTS];
};

#define vcon_warn(d, fmt, ...)                                                                     \
	log_limited(&(d)->rl, LOG_LVL_WARN, "%s: " fmt, (d)->name, ##__VA_ARGS__)

/* --- helpers ---------------------------------------------------------------------- */

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Copies buf into the chain's writable buffers, iov[0 .. n); returns the bytes copied. */
static size_t scatter(const struct iovec *iov, unsigned int n, const void *buf, size_t len)
{
	size_t off = 0;

	for (unsigned int i = 0; i < n && off < len; i++) {
		size_t k = min_size(iov[i].iov_len, len - off);

		memcpy(iov[i].iov_base, (const uint8_t *)buf + off, k);
		off += k;
	}
	return off;
}

/* Copies the first len bytes of the readable buffers iov[0 .. n) (len is at most theirs). */
static void gather(const struct iovec *iov, unsigned int n, void *buf, size_t len)
{
	size_t off = 0;

	for (unsigned int i = 0; i < n && off < len; i++) {
		size_t k = min_size(iov[i].iov_len, len - off);

		memcpy((uint8_t *)buf + off, iov[i].iov_base, k);
		off += k;
	}
}

/*
 * A pop or push failed: the queue is broken. A first failure asks for a
 * reset; -EIO means an earlier one did.
 */
static void queue_failed(struct vcon *d, int ret)
{
	if (ret != -EIO)
		d->tr.ops->needs_reset(d->tr.t);
}

/* Asks the event loop for another turn. */
static void vcon_defer(struct vcon *d)
{
	uint64_t one = 1;

	if (d->resume_signalled)
		return;
	/* EAGAIN: the counter is saturated, so it is readable anyway. */
	if (write(d->resume_fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN)
		d->resume_signalled = true;
	else
		vcon_warn(d, "signalling its resume eventfd: %s", strerror(errno));
}

/* Whether vcon_port_input() may fill the port's buffers. */
static bool takes_input(const struct vcon *d, const struct vcon_port *p)
{
	if (!d->active || !p->present)
		return false;
	/* Without MULTIPORT, port 0 is a console from the start. */
	return d->multiport ? p->ready && p->guest_open : true;
}

static void tell_input_ready(struct vcon *d, struct vcon_port *p)
{
	if (takes_input(d, p) && p->cfg.ops->input_ready)
		p->cfg.ops->input_ready(p->cfg.opaque);
}

/* --- control messages to the guest ------------------------------------------------ */

/* Builds the message for `bit` of port `id` in buf; returns its length. */
static size_t ctrl_build(const struct vcon_port *p, unsigned int id, unsigned int bit,
			 uint8_t buf[CTRL_LEN + VCON_NAME_MAX])
{
	struct virtio_console_control m = { .id = htole32(id) };
	size_t len = CTRL_LEN;

	switch (bit) {
	case MSG_ADD:
		m.event = htole16(VIRTIO_CONSOLE_PORT_ADD);
		m.value = htole16(1);
		break;
	case MSG_CONSOLE:
		m.event = htole16(VIRTIO_CONSOLE_CONSOLE_PORT);
		m.value = htole16(1);
		break;
	case MSG_NAME:
		/* The name follows in the same buffer, without a NUL (spec 5.3.6.2). */
		m.event = htole16(VIRTIO_CONSOLE_PORT_NAME);
		m.value = htole16(1);
		memcpy(buf + CTRL_LEN, p->name, p->name_len);
		len += p->name_len;
		break;
	default:
		/* What the host's side is now: the latest of any changes meanwhile. */
		m.event = htole16(VIRTIO_CONSOLE_PORT_OPEN);
		m.value = htole16(p->host_connected ? 1 : 0);
		break;
	}
	memcpy(buf, &m, CTRL_LEN);
	return len;
}

/*
 * Puts the message for `bit` of port `id` in the guest's next control
 * buffer. 1: sent (or dropped, the buffer too small); 0: no buffer posted (a
 * kick is asked for); a negative errno: the ring failed.
 */
static int ctrl_put(struct vcon *d, unsigned int id, unsigned int bit)
{
	struct vcon_port *p = &d->port[id];
	uint8_t msg[CTRL_LEN + VCON_NAME_MAX];
	struct virtq_chain c;
	size_t len;
	int ret;

	for (;;) {
		c = (struct virtq_chain){ .iov = d->ctrl_iov, .max = VCON_IOV_MAX };
		ret = virtq_pop(d->c_rxq, &c);
		if (ret != -EAGAIN)
			break;
		/* Out of buffers: the driver's next post kicks. */
		if (!virtq_enable_notify(d->c_rxq))
			return 0;
	}
	if (ret < 0) {
		queue_failed(d, ret);
		return ret;
	}
	if (c.out_num) {
		vcon_warn(d, "readable buffer in a control receive chain");
		virtq_unpop(d->c_rxq, 1);
		d->tr.ops->needs_reset(d->tr.t);
		return -EPROTO;
	}
	len = ctrl_build(p, id, bit, msg);
	p->pending &= (uint8_t)~bit;
	if (c.in_len < len) {
		/* Linux posts pages. Never cut short: a name would change. */
		vcon_warn(d, "port %u: a %zu-byte control message in %u bytes: dropped", id, len,
			  c.in_len);
		len = 0;
	}
	scatter(c.iov, c.in_num, msg, len);
	ret = virtq_push(d->c_rxq, c.head, (uint32_t)len);
	if (ret < 0) {
		queue_failed(d, ret);
		return ret;
	}
	return 1;
}

/*
 * Sends what is owed while the guest has control buffers posted; the rest
 * waits, as pending bits, for its next kick.
 */
static void ctrl_rx_deliver(struct vcon *d)
{
	bool pushed = false;
	int ret = 1;

	if (!d->active || !d->multiport)
		return;
	for (unsigned int i = 0; i < d->nr_ports && ret > 0; i++) {
		struct vcon_port *p = &d->port[i];

		while (p->pending && ret > 0) {
			/* The lowest bit first: ADD, CONSOLE, NAME, OPEN. */
			ret = ctrl_put(d, i, (unsigned int)(p->pending & -p->pending));
			pushed |= ret > 0;
		}
	}
	if (pushed && virtq_should_notify(d->c_rxq))
		d->tr.ops->signal_used(d->tr.t);
}

/* --- control messages from the guest ---------------------------------------------- */

static void ctrl_port_ready(struct vcon *d, struct vcon_port *p, unsigned int id, uint16_t value)
{
	if (value != 1) {
		/* The driver could not set the port up; it stays unused. */
		vcon_warn(d, "port %u: the driver failed to add it", id);
		p->ready = false;
		return;
	}
	p->ready = true;
	p->pending |= MSG_OPEN;
	if (p->cfg.console)
		p->pending |= MSG_CONSOLE;
	if (p->name_len)
		p->pending |= MSG_NAME;
}

static void ctrl_port_open(struct vcon *d, struct vcon_port *p, uint16_t value)
{
	bool open = value != 0;

	if (open == p->guest_open)
		return;
	p->guest_open = open;
	if (p->cfg.ops->guest_open)
		p->cfg.ops->guest_open(p->cfg.opaque, open);
	/* Input held back while the port was closed may flow now. */
	if (open)
		tell_input_ready(d, p);
}

static void ctrl_handle(struct vcon *d, const struct virtio_console_control *m)
{
	uint32_t id = le32toh(m->id);
	uint16_t event = le16toh(m->event);
	uint16_t value = le16toh(m->value);
	struct vcon_port *p;

	if (event == VIRTIO_CONSOLE_DEVICE_READY) {
		/* The id is VIRTIO_CONSOLE_BAD_ID here: the message is for the device. */
		if (value != 1) {
			vcon_warn(d, "the driver failed to set up (DEVICE_READY %u)", value);
			return;
		}
		for (unsigned int i = 0; i < d->nr_ports; i++) {
			if (d->port[i].present)
				d->port[i].pending |= MSG_ADD;
		}
		return;
	}
	if (id >= d->nr_ports || !d->port[id].present) {
		vcon_warn(d, "control event %u for port %u of %u: ignored", event, id, d->nr_ports);
		return;
	}
	p = &d->port[id];
	switch (event) {
	case VIRTIO_CONSOLE_PORT_READY:
		ctrl_port_ready(d, p, id, value);
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (!p->ready) {
			vcon_warn(d, "port %u: PORT_OPEN before PORT_READY: ignored", id);
			break;
		}
		ctrl_port_open(d, p, value);
		break;
	default:
		vcon_warn(d, "port %u: unknown control event %u: ignored", id, event);
		break;
	}
}

static void ctrl_tx_run(struct vcon *d)
{
	unsigned int budget = VCON_CTRL_CHAINS;
	bool pushed = false;
	int ret = -EAGAIN;

	if (!d->active || !d->multiport)
		return;
	if (d->ctrl_running) {
		/* Re-entered from a host op: the outer run picks the rest up. */
		return;
	}
	d->ctrl_running = true;
	d->ctrl_more = false;
	do {
		virtq_disable_notify(d->c_txq);
		for (;;) {
			struct virtq_chain c = { .iov = d->ctrl_iov, .max = VCON_IOV_MAX };
			struct virtio_console_control m = { 0 };
			bool valid;

			if (!budget--) {
				/* Kicks stay off: the resume event takes the rest. */
				d->ctrl_more = true;
				vcon_defer(d);
				goto out;
			}
			ret = virtq_pop(d->c_txq, &c);
			if (ret < 0)
				break;
			/* Read once, before the chain goes back. */
			valid = !c.in_num && c.out_len >= CTRL_LEN;
			if (valid)
				gather(c.iov, c.out_num, &m, CTRL_LEN);
			else
				vcon_warn(d, "control message of %u bytes, %u writable: ignored",
					  c.out_len, c.in_len);
			ret = virtq_push(d->c_txq, c.head, 0);
			if (ret < 0)
				break;
			pushed = true;
			if (valid)
				ctrl_handle(d, &m);
		}
		if (ret != -EAGAIN) {
			queue_failed(d, ret);
			break;
		}
	} while (virtq_enable_notify(d->c_txq));
out:
	if (pushed && virtq_should_notify(d->c_txq))
		d->tr.ops->signal_used(d->tr.t);
	d->ctrl_running = false;
	ctrl_rx_deliver(d);
}

/* --- transmit ---------------------------------------------------------------------- */

/* Copies up to len more bytes of the held chain into the bounce buffer. */
static void tx_copy(struct vcon_port *p, size_t len)
{
	size_t off = 0;

	while (off < len && p->cur < p->chain.out_num) {
		const struct iovec *v = &p->iov[p->cur];
		size_t k = min_size(v->iov_len - p->cur_off, len - off);

		memcpy(p->bounce + off, (const uint8_t *)v->iov_base + p->cur_off, k);
		off += k;
		p->cur_off += k;
		if (p->cur_off == v->iov_len) {
			p->cur++;
			p->cur_off = 0;
		}
	}
	p->copied += (uint32_t)off;
	p->boff = 0;
	p->blen = off;
}

/* Passes over len bytes of the held chain that the host already took. */
static void tx_skip(struct vcon_port *p, uint32_t len)
{
	uint32_t off = 0;

	while (off < len && p->cur < p->chain.out_num) {
		const struct iovec *v = &p->iov[p->cur];
		size_t k = min_size(v->iov_len - p->cur_off, len - off);

		off += (uint32_t)k;
		p->cur_off += k;
		if (p->cur_off == v->iov_len) {
			p->cur++;
			p->cur_off = 0;
		}
	}
	p->copied += off;
}

/*
 * Hands the held chain to the host. Returns 1 when all of it went, 0 when
 * the host is full (the port is blocked), -1 when the turn's bytes are spent
 * or the host said it was writable again from inside output() (resume).
 */
static int tx_feed(struct vcon_port *p, size_t *bytes)
{
	for (;;) {
		size_t want, took;

		if (p->boff == p->blen) {
			if (p->copied == p->chain.out_len)
				return 1;
			if (!*bytes)
				return -1;
			want = min_size(min_size(VCON_BOUNCE, p->chain.out_len - p->copied),
					*bytes);
			tx_copy(p, want);
			*bytes -= p->blen;
		}
		want = p->blen - p->boff;
		took = p->cfg.ops->output(p->cfg.opaque, p->bounce + p->boff, want);
		p->boff += took < want ? took : want;
		if (took < want) {
			if (p->woken)
				return -1;
			return 0;
		}
	}
}

/*
 * Pops the port's next chain and holds it: 0, or the pop's error. A chain
 * with writable buffers is given back at once (*pushed is set): 1.
 */
static int tx_next(struct vcon *d, struct vcon_port *p, bool *pushed)
{
	struct virtq_chain c = { .iov = p->iov, .max = VCON_IOV_MAX };
	int ret = virtq_pop(p->txq, &c);
	uint32_t skip = p->skip;

	if (ret < 0)
		return ret;
	p->skip = 0;
	if (c.in_num) {
		/* Transmit buffers are device-readable only (spec 5.3.6). */
		vcon_warn(d, "writable buffer in a transmit chain: dropped");
		ret = virtq_push(p->txq, c.head, 0);
		if (ret < 0)
			return ret;
		*pushed = true;
		return 1;
	}
	p->chain = c;
	p->held = true;
	p->copied = 0;
	p->cur = 0;
	p->cur_off = 0;
	p->boff = p->blen = 0;
	/* The same chain as before a snapshot, unless the guest changed it meanwhile. */
	tx_skip(p, skip < c.out_len ? skip : c.out_len);
	return 0;
}

static void tx_run(struct vcon *d, struct vcon_port *p)
{
	unsigned int chains = VCON_TX_CHAINS;
	size_t bytes = VCON_TX_BYTES;
	bool pushed = false;
	int ret = -EAGAIN;

	if (!d->active || !p->present || p->blocked)
		return;
	if (p->running) {
		/* Re-entered from output(): the outer run decides once it returns. */
		p->woken = true;
		return;
	}
	p->running = true;
	p->woken = false;
	p->more = false;
	do {
		virtq_disable_notify(p->txq);
		for (;;) {
			int fed;

			if (!p->held) {
				if (!chains || !bytes) {
					/* Kicks stay off: the resume event sends the rest. */
					p->more = true;
					vcon_defer(d);
					goto out;
				}
				ret = tx_next(d, p, &pushed);
				if (ret < 0)
					break;
				chains--;
				if (ret > 0)
					continue;
			}
			fed = tx_feed(p, &bytes);
			if (fed == 0) {
				/* Kicks stay off while blocked; writable() runs it again. */
				p->blocked = true;
				goto out;
			}
			if (fed < 0) {
				p->more = true;
				vcon_defer(d);
				goto out;
			}
			p->held = false;
			ret = virtq_push(p->txq, p->chain.head, 0);
			if (ret < 0)
				break;
			pushed = true;
		}
		if (ret != -EAGAIN) {
			queue_failed(d, ret);
			break;
		}
	} while (virtq_enable_notify(p->txq));
out:
	if (pushed && virtq_should_notify(p->txq))
		d->tr.ops->signal_used(d->tr.t);
	p->running = false;
}

/* --- the host's calls -------------------------------------------------------------- */

/* Without a transport yet there is no lock to take, and no device running either. */
static void vcon_lock(struct vcon *d)
{
	if (d->tr.ops)
		d->tr.ops->lock(d->tr.t);
}

static void vcon_unlock(struct vcon *d)
{
	if (d->tr.ops)
		d->tr.ops->unlock(d->tr.t);
}

size_t vcon_port_input(struct vcon *d, unsigned int port, const void *buf, size_t len)
{
	struct vcon_port *p;
	bool pushed = false;
	size_t off = 0;

	if (port >= d->nr_ports || !len)
		return 0;
	p = &d->port[port];
	vcon_lock(d);
	if (!takes_input(d, p))
		goto out;
	/* While buffers are posted the driver need not kick; running out asks again. */
	virtq_disable_notify(p->rxq);
	while (off < len) {
		struct virtq_chain c = { .iov = d->rx_iov, .max = VCON_IOV_MAX };
		size_t k;
		int ret;

		ret = virtq_pop(p->rxq, &c);
		if (ret == -EAGAIN) {
			if (virtq_enable_notify(p->rxq))
				continue;
			break;
		}
		if (ret < 0) {
			queue_failed(d, ret);
			break;
		}
		if (c.out_num) {
			vcon_warn(d, "port %u: readable buffer in a receive chain", port);
			virtq_unpop(p->rxq, 1);
			d->tr.ops->needs_reset(d->tr.t);
			break;
		}
		k = scatter(c.iov, c.in_num, (const uint8_t *)buf + off, len - off);
		ret = virtq_push(p->rxq, c.head, (uint32_t)k);
		if (ret < 0) {
			queue_failed(d, ret);
			break;
		}
		off += k;
		pushed = true;
	}
	if (pushed && virtq_should_notify(p->rxq))
		d->tr.ops->signal_used(d->tr.t);
out:
	vcon_unlock(d);
	return off;
}

void vcon_port_writable(struct vcon *d, unsigned int port)
{
	struct vcon_port *p;

	if (port >= d->nr_ports)
		return;
	p = &d->port[port];
	vcon_lock(d);
	if (p->running) {
		p->woken = true;
	} else {
		p->blocked = false;
		tx_run(d, p);
	}
	vcon_unlock(d);
}

int vcon_port_set_connected(struct vcon *d, unsigned int port, bool connected)
{
	struct vcon_port *p;

	if (port >= d->nr_ports)
		return -EINVAL;
	p = &d->port[port];
	vcon_lock(d);
	if (p->host_connected != connected) {
		p->host_connected = connected;
		/* Before PORT_READY the guest learns it then; see ctrl_port_ready(). */
		if (d->active && d->multiport && p->ready) {
			p->pending |= MSG_OPEN;
			ctrl_rx_deliver(d);
		}
	}
	vcon_unlock(d);
	return 0;
}

int vcon_resume_fd(const struct vcon *d)
{
	return d->resume_fd;
}

void vcon_resume(struct vcon *d)
{
	uint64_t v;

	vcon_lock(d);
	if (read(d->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vcon_warn(d, "reading its resume eventfd: %s", strerror(errno));
	d->resume_signalled = false;
	if (d->active) {
		if (d->ctrl_more)
			ctrl_tx_run(d);
		for (unsigned int i = 0; i < d->nr_ports; i++) {
			if (d->port[i].more)
				tx_run(d, &d->port[i]);
		}
	}
	vcon_unlock(d);
}

/* --- snapshots ------------------------------------------------------------------- */

int vcon_save(struct vcon *d, struct vcon_state *st)
{
	memset(st, 0, sizeof(*st));
	vcon_lock(d);
	st->nr_ports = d->nr_ports;
	st->active = d->active;
	st->multiport = d->multiport;
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		struct vcon_port_state *ps = &st->port[i];
		struct vcon_port *p = &d->port[i];

		if (!p->cfg.ops)
			continue;
		ps->host_connected = p->host_connected;
		if (!d->active)
			continue;
		/* A broken queue's chains are dead: virtq_save() does not count them. */
		if (p->held && !virtq_broken(p->txq) && virtq_unpop(p->txq, 1) == 0) {
			p->skip = p->copied - (uint32_t)(p->blen - p->boff);
			p->held = false;
			p->copied = 0;
			p->cur = 0;
			p->cur_off = p->boff = p->blen = 0;
		}
		ps->skip = p->skip;
		ps->ready = p->ready;
		ps->guest_open = p->guest_open;
		ps->pending = p->pending;
	}
	vcon_unlock(d);
	return 0;
}

static bool port_state_ok(const struct vcon *d, const struct vcon_state *st, unsigned int i)
{
	const struct vcon_port_state *ps = &st->port[i];
	bool guest = ps->skip || ps->ready || ps->guest_open || ps->pending;

	if (i >= d->nr_ports)
		return !guest && !ps->host_connected;
	if (ps->ready > 1 || ps->guest_open > 1 || ps->host_connected > 1 ||
	    (ps->pending & ~MSG_ALL))
		return false;
	if (!d->port[i].cfg.ops)
		return !guest && !ps->host_connected;
	if (!st->active)
		return !guest;
	/* Without MULTIPORT there is port 0 alone, with no control protocol. */
	return st->multiport || !(ps->ready || ps->guest_open || ps->pending || (i && ps->skip));
}

int vcon_restore(struct vcon *d, const struct vcon_state *in)
{
	struct vcon_state st;
	int ret = 0;

	memcpy(&st, in, sizeof(st));
	if (st.nr_ports != d->nr_ports || st.pad[0] || st.pad[1] || st.active > 1 ||
	    st.multiport > 1 || (st.multiport && !st.active))
		return -EINVAL;
	for (unsigned int i = 0; i < VCON_MAX_PORTS; i++)
		if (!port_state_ok(d, &st, i))
			return -EINVAL;
	vcon_lock(d);
	if (d->active) {
		ret = -EBUSY;
	} else {
		d->restore = st;
		d->restoring = true;
		d->restored = false;
	}
	vcon_unlock(d);
	return ret;
}

int vcon_restore_end(struct vcon *d)
{
	int ret;

	vcon_lock(d);
	/* Taken up by activate; or left, rightly, by a device the driver had not started. */
	ret = d->restored || (d->restoring && !d->restore.active) ? 0 : -EINVAL;
	d->restoring = d->restored = false;
	vcon_unlock(d);
	return ret;
}

/* --- the device's operations ----------------------------------------------------- */

static void vcon_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vcon *d = dev;

	memcpy(buf, (const uint8_t *)&d->config + offset, len);
}

static void vcon_config_write(void *dev, uint32_t offset, const void *buf, uint32_t len)
{
	struct vcon *d = dev;
	struct vcon_port *p = &d->port[0];
	uint8_t c;

	/* Only emerg_wr is writable: its low byte is the character. */
	if (offset > EMERG_WR_OFFSET || offset + len <= EMERG_WR_OFFSET) {
		vcon_warn(d, "config write at %u: read-only, ignored", offset);
		return;
	}
	c = ((const uint8_t *)buf)[EMERG_WR_OFFSET - offset];
	if (!p->cfg.ops) {
		vcon_warn(d, "emergency write: there is no port 0; dropped");
		return;
	}
	if (p->cfg.ops->output(p->cfg.opaque, &c, 1) != 1)
		vcon_warn(d, "emergency write: port 0's host is full; dropped");
}

static void port_forget(struct vcon_port *p)
{
	p->rxq = p->txq = NULL;
	p->present = p->ready = false;
	p->pending = 0;
	p->held = p->blocked = p->more = p->woken = false;
	p->copied = 0;
	p->skip = 0;
	p->cur = 0;
	p->cur_off = p->boff = p->blen = 0;
}

/*
 * The kept snapshot state over a device that activate has just set up from
 * the driver's queues and features: 0, or -EINVAL where they disagree.
 */
static int restore_apply(struct vcon *d)
{
	const struct vcon_state *st = &d->restore;

	if (!st->active || st->multiport != d->multiport)
		return -EINVAL;
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		const struct vcon_port_state *ps = &st->port[i];

		if (!d->port[i].present && (ps->skip || ps->ready || ps->guest_open || ps->pending))
			return -EINVAL;
	}
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		const struct vcon_port_state *ps = &st->port[i];
		struct vcon_port *p = &d->port[i];

		p->ready = ps->ready;
		p->guest_open = ps->guest_open;
		p->pending = ps->pending;
		p->skip = ps->skip;
		/* The host side is this process's: the guest learns where it differs. */
		if (p->ready && ps->host_connected != p->host_connected)
			p->pending |= MSG_OPEN;
	}
	return 0;
}

static int vcon_activate(void *dev, uint64_t features)
{
	struct vcon *d = dev;
	struct virtq *q[VIRTIO_MAX_QUEUES] = { NULL };
	unsigned int nq = 2 + 2 * d->nr_ports;

	for (unsigned int i = 0; i < nq; i++) {
		q[i] = d->tr.ops->queue(d->tr.t, i);
		if (q[i] && !virtq_ready(q[i]))
			q[i] = NULL;
	}
	d->multiport = features & F(VIRTIO_CONSOLE_F_MULTIPORT);
	if (!q[0] || !q[1])
		return -EINVAL;
	if (d->multiport && (!q[CTRL_QUEUE_RX] || !q[CTRL_QUEUE_TX]))
		return -EINVAL;
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		struct vcon_port *p = &d->port[i];
		unsigned int rx = i ? 2 + 2 * i : 0;

		port_forget(p);
		p->guest_open = false;
		if (i && !d->multiport)
			continue;
		/* A port whose queues the driver left out is never announced. */
		p->rxq = q[rx];
		p->txq = q[rx + 1];
		p->present = p->rxq && p->txq && p->cfg.ops;
	}
	d->c_rxq = d->multiport ? q[CTRL_QUEUE_RX] : NULL;
	d->c_txq = d->multiport ? q[CTRL_QUEUE_TX] : NULL;
	d->ctrl_more = false;
	if (d->restoring) {
		int ret = restore_apply(d);

		d->restoring = false;
		if (ret < 0) {
			for (unsigned int i = 0; i < d->nr_ports; i++)
				port_forget(&d->port[i]);
			return ret;
		}
		d->restored = true;
	}
	d->active = true;
	/* A restored port the guest had open: its host side hears so, as at PORT_OPEN. */
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		struct vcon_port *p = &d->port[i];

		if (p->guest_open && p->cfg.ops->guest_open)
			p->cfg.ops->guest_open(p->cfg.opaque, true);
	}

	/* Kicks before DRIVER_OK were not passed on: look at what is there already. */
	ctrl_tx_run(d);
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		tx_run(d, &d->port[i]);
		tell_input_ready(d, &d->port[i]);
	}
	return 0;
}

static void vcon_notify(void *dev, unsigned int index)
{
	struct vcon *d = dev;
	struct vcon_port *p;

	if (!d->active)
		return;
	if (index == CTRL_QUEUE_RX || index == CTRL_QUEUE_TX) {
		if (index == CTRL_QUEUE_RX)
			ctrl_rx_deliver(d);
		else
			ctrl_tx_run(d);
		return;
	}
	if (index >= 2 + 2 * d->nr_ports)
		return;
	p = &d->port[index < 2 ? 0 : (index - 2) / 2];
	if (!p->present)
		return;
	if (index % 2 == 0)
		tell_input_ready(d, p);
	else
		tx_run(d, p);
}

static void vcon_reset(void *dev)
{
	struct vcon *d = dev;

	d->active = false;
	d->multiport = false;
	d->restoring = false;
	d->c_rxq = d->c_txq = NULL;
	d->ctrl_more = false;
	for (unsigned int i = 0; i < d->nr_ports; i++) {
		struct vcon_port *p = &d->port[i];
		bool was_open = p->guest_open;

		/* Held chains belong to the queues, which the transport resets next. */
		port_forget(p);
		p->guest_open = false;
		if (was_open && p->cfg.ops->guest_open)
			p->cfg.ops->guest_open(p->cfg.opaque, false);
	}
}

static const struct virtio_device_ops vcon_ops = {
	.config_read = vcon_config_read,
	.config_write = vcon_config_write,
	.activate = vcon_activate,
	.notify = vcon_notify,
	.reset = vcon_reset,
};

void vcon_device(struct vcon *d, struct virtio_device_info *info,
		 const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_CONSOLE,
		.features = d->offered,
		.nr_queues = 2 + 2 * d->nr_ports,
		.queue_max = VCON_QUEUE_SIZE,
		.config_size = sizeof(struct virtio_console_config),
		.name = d->name,
	};
	*ops = &vcon_ops;
}

void vcon_attach(void *dev, const struct virtio_transport *tr)
{
	struct vcon *d = dev;

	d->tr = *tr;
}

/* --- creation ---------------------------------------------------------------------- */

/* Printable ASCII without space or '/': the name becomes a file name in the guest. */
static bool name_ok(const char *name, size_t *len)
{
	size_t n = strnlen(name, VCON_NAME_MAX + 1);

	if (n == 0 || n > VCON_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (name[i] <= ' ' || name[i] > '~' || name[i] == '/')
			return false;
	}
	*len = n;
	return true;
}

static int check_config(const struct vcon_config *cfg)
{
	unsigned int used = 0;

	if (cfg->nr_ports < 1 || cfg->nr_ports > VCON_MAX_PORTS || !cfg->ports)
		return -EINVAL;
	for (unsigned int i = 0; i < cfg->nr_ports; i++) {
		const struct vcon_port_config *pc = &cfg->ports[i];
		size_t len;

		if (!pc->ops)
			continue;
		if (!pc->ops->output)
			return -EINVAL;
		used++;
		if (!pc->name)
			continue;
		if (!name_ok(pc->name, &len))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++) {
			if (cfg->ports[j].name && strcmp(cfg->ports[j].name, pc->name) == 0)
				return -EINVAL;
		}
	}
	return used ? 0 : -EINVAL;
}

int vcon_create(struct vcon **out, const struct vcon_config *cfg)
{
	struct vcon *d;
	int ret;

	*out = NULL;
	ret = check_config(cfg);
	if (ret < 0)
		return ret;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->resume_fd < 0) {
		ret = -errno;
		free(d);
		return ret;
	}
	d->name = cfg->name ? cfg->name : "virtio-console";
	d->nr_ports = cfg->nr_ports;
	for (unsigned int i = 0; i < cfg->nr_ports; i++) {
		struct vcon_port *p = &d->port[i];

		p->cfg = cfg->ports[i];
		if (p->cfg.name) {
			name_ok(p->cfg.name, &p->name_len);
			memcpy(p->name, p->cfg.name, p->name_len);
		}
		p->cfg.name = p->name_len ? p->name : NULL;
		p->host_connected = p->cfg.console;
	}
	ratelimit_init(&d->rl, NSEC_PER_SEC, 5);
	d->offered = F(VIRTIO_CONSOLE_F_MULTIPORT) | F(VIRTIO_CONSOLE_F_EMERG_WRITE) |
		     F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_RING_F_INDIRECT_DESC);
	d->config.cols = htole16(cfg->cols);
	d->config.rows = htole16(cfg->rows);
	d->config.max_nr_ports = htole32(cfg->nr_ports);
	*out = d;
	return 0;
}

void vcon_destroy(struct vcon *d)
{
	if (!d)
		return;
	ratelimit_destroy(&d->rl);
	close(d->resume_fd);
	free(d);
}
