// SPDX-License-Identifier: MIT
#include "config.h"

#include "net.h"
#include "virtq.h"
#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

/* Buffers one frame may be spread over, receiving or sending. */
#define NET_IOV_MAX 512
/* Frames received per event before the event loop gets a turn. */
#define NET_BUDGET 256
/*
 * The longest frame read: a 64 KiB GRO packet behind its IP, VLAN, Ethernet
 * and virtio-net headers, with room to spare. A descriptor cuts a longer
 * frame to the length asked for, so one byte more is read to see it.
 */
#define NET_RX_MAX (NET_MAX_FRAME + 4096)
/* Where num_buffers sits in struct virtio_net_hdr_v1. */
#define NUM_BUFFERS_OFFSET 10

struct net {
	struct net_config cfg;
	struct virtio_transport tr;
	struct virtio_net_config config; /* little-endian, as the driver reads it */
	uint64_t offered;
	struct ratelimit rl;

	struct virtq *rxq, *txq;
	bool active;
	bool mrg;	 /* MRG_RXBUF: a frame may take several receive chains */
	bool rx_paused;	 /* no receive buffers: the descriptor is not read */
	bool tx_blocked; /* the descriptor is full: waiting until it is writable */
	bool dead;	 /* the descriptor failed for good (tap deleted) */
	uint32_t watching;
	/* Transmit stopped with a turn's budget spent; resume_fd, once signalled, takes the rest.
	 */
	bool tx_more;
	bool resume_signalled;
	int resume_fd;

	uint8_t *stage; /* the one received frame waiting for buffers */
	size_t pending; /* its length, 0: none */
	struct iovec iov[NET_IOV_MAX];
	uint16_t heads[NET_IOV_MAX];
	uint32_t lens[NET_IOV_MAX];
	struct net_stats stats;
};

static void net_watch(struct net *n)
{
	uint32_t ev = 0;

	if (n->active && !n->dead) {
		if (!n->rx_paused)
			ev |= EPOLLIN;
		if (n->tx_blocked)
			ev |= EPOLLOUT;
	}
	if (ev != n->watching) {
		n->watching = ev;
		n->cfg.watch(n->cfg.opaque, ev);
	}
}

static void net_gone(struct net *n, const char *what, int err)
{
	if (!n->dead)
		log_warn("%s: %s: %s; the network stays down", n->cfg.name, what, strerror(err));
	n->dead = true;
}

/* --- receive ---------------------------------------------------------------------- */

/*
 * Copies the staged frame into the `niov` buffers of the `nchains` chains
 * taken, which hold at least n->pending bytes, and gives the chains back.
 */
static void rx_fill(struct net *n, unsigned int nchains, unsigned int niov)
{
	size_t left, off = 0;

	/* num_buffers: how many chains this frame took (1 without MRG_RXBUF). */
	n->stage[NUM_BUFFERS_OFFSET] = (uint8_t)nchains;
	n->stage[NUM_BUFFERS_OFFSET + 1] = (uint8_t)(nchains >> 8);
	for (unsigned int i = 0; i < niov && off < n->pending; i++) {
		size_t k =
			n->iov[i].iov_len < n->pending - off ? n->iov[i].iov_len : n->pending - off;

		memcpy(n->iov[i].iov_base, n->stage + off, k);
		off += k;
	}
	left = n->pending;
	for (unsigned int i = 0; i < nchains; i++) {
		uint32_t used = left < n->lens[i] ? (uint32_t)left : n->lens[i];

		virtq_push(n->rxq, n->heads[i], used);
		left -= used;
	}
	n->stats.rx_frames++;
	n->pending = 0;
}

/*
 * Moves the staged frame into the driver's buffers. Returns 1 when the frame
 * is gone (delivered, or dropped as too big for any buffers), 0 when there are
 * not enough buffers yet (a kick has been asked for), or -EIO when the ring is
 * broken.
 */
static int rx_deliver(struct net *n)
{
	unsigned int nchains = 0, niov = 0;
	size_t room = 0;
	int ret = -EAGAIN;

	for (;;) {
		while (room < n->pending && niov < NET_IOV_MAX) {
			struct virtq_chain c = { .iov = n->iov + niov, .max = NET_IOV_MAX - niov };

			ret = virtq_pop(n->rxq, &c);
			if (ret < 0)
				break;
			if (c.out_num) {
				/* Receive buffers are device-writable only (spec 5.1.6.3). */
				log_limited(&n->rl, LOG_LVL_WARN,
					    "%s: readable buffer in a receive chain", n->cfg.name);
				virtq_unpop(n->rxq, nchains + 1);
				n->tr.ops->needs_reset(n->tr.t);
				return -EIO;
			}
			n->heads[nchains] = c.head;
			n->lens[nchains] = c.in_len;
			nchains++;
			niov += c.in_num;
			room += c.in_len;
			if (!n->mrg)
				break;
		}
		/*
		 * Out of buffers: ask for a kick while the chains taken are still
		 * taken, so that avail_event (EVENT_IDX) lies past them and the
		 * driver's next post kicks; unpopping first would leave it behind.
		 */
		if (ret != -EAGAIN || !virtq_enable_notify(n->rxq))
			break;
	}
	if (ret < 0 && ret != -EAGAIN) {
		virtq_unpop(n->rxq, nchains);
		n->tr.ops->needs_reset(n->tr.t);
		return -EIO;
	}
	if (room < n->pending) {
		/* Without MRG_RXBUF the frame needs one big enough buffer; with it, iovecs ran out.
		 */
		if ((!n->mrg && nchains) || niov >= NET_IOV_MAX) {
			virtq_unpop(n->rxq, nchains);
			n->stats.rx_dropped++;
			log_limited(
				&n->rl, LOG_LVL_WARN,
				"%s: a %zu-byte frame does not fit the receive buffers; dropped",
				n->cfg.name, n->pending);
			n->pending = 0;
			return 1;
		}
		virtq_unpop(n->rxq, nchains);
		return 0;
	}

	rx_fill(n, nchains, niov);
	return 1;
}

static void rx_run(struct net *n)
{
	bool pushed = false;

	if (!n->active)
		return;
	/*
	 * While the driver has buffers posted it need not kick: each kick is an
	 * exit. rx_deliver() asks for kicks again when it runs out.
	 */
	virtq_disable_notify(n->rxq);
	for (unsigned int budget = NET_BUDGET; budget; budget--) {
		int ret;

		if (!n->pending) {
			ssize_t r;

			if (n->dead)
				break;
			r = read(n->cfg.fd, n->stage, NET_RX_MAX + 1);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					net_gone(n, "reading frames", errno);
				break;
			}
			if (r == 0) {
				net_gone(n, "reading frames", EPIPE);
				break;
			}
			if ((size_t)r < NET_HDR_LEN || r > NET_RX_MAX) {
				/* Shorter than the header, or cut short by the read: corrupt. */
				n->stats.rx_dropped++;
				continue;
			}
			n->pending = (size_t)r;
		}
		ret = rx_deliver(n);
		if (ret > 0) {
			pushed = true;
			continue;
		}
		/*
		 * No buffers (rx_deliver asked for a kick), or a broken ring: stop
		 * reading until the next kick, as the descriptor may stay readable.
		 */
		n->rx_paused = true;
		break;
	}
	if (pushed && virtq_should_notify(n->rxq))
		n->tr.ops->signal_used(n->tr.t);
	net_watch(n);
}

/* --- transmit ---------------------------------------------------------------------- */

static void tx_drop(struct net *n, const char *why, size_t len)
{
	n->stats.tx_dropped++;
	log_limited(&n->rl, LOG_LVL_WARN, "%s: transmit frame of %zu bytes dropped: %s",
		    n->cfg.name, len, why);
}

/* Asks the event loop for another turn. */
static void net_defer(struct net *n)
{
	uint64_t one = 1;

	if (n->resume_signalled)
		return;
	/* EAGAIN: the counter is saturated, so it is readable anyway. */
	if (write(n->resume_fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN)
		n->resume_signalled = true;
	else
		log_limited(&n->rl, LOG_LVL_WARN, "%s: signalling its resume eventfd: %s",
			    n->cfg.name, strerror(errno));
}

static void tx_run(struct net *n)
{
	unsigned int budget = NET_TX_BUDGET;
	bool pushed = false;
	int ret;

	if (!n->active || n->tx_blocked)
		return;
	n->tx_more = false;
	do {
		virtq_disable_notify(n->txq);
		for (;;) {
			struct virtq_chain c = { .iov = n->iov, .max = NET_IOV_MAX };
			ssize_t w;

			if (!budget--) {
				/* Kicks stay off: the resume event sends the rest. */
				n->tx_more = true;
				net_defer(n);
				goto out;
			}
			ret = virtq_pop(n->txq, &c);
			if (ret < 0)
				break;
			if (c.in_num) {
				tx_drop(n, "device-writable buffers in a transmit chain",
					c.out_len);
			} else if (c.out_len < NET_HDR_LEN) {
				tx_drop(n, "shorter than the virtio-net header", c.out_len);
			} else if (c.out_len > NET_MAX_FRAME) {
				tx_drop(n, "longer than 64 KiB after the header", c.out_len);
			} else if (n->dead) {
				n->stats.tx_dropped++;
				n->stats.tx_errors++;
			} else {
				w = writev(n->cfg.fd, c.iov, (int)c.out_num);
				if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
					/* Full: the chain waits for room, untouched; kicks stay
					 * off. */
					virtq_unpop(n->txq, 1);
					n->tx_blocked = true;
					goto out;
				}
				if (w < 0) {
					n->stats.tx_errors++;
					tx_drop(n, strerror(errno), c.out_len);
				} else {
					n->stats.tx_frames++;
				}
			}
			virtq_push(n->txq, c.head, 0);
			pushed = true;
		}
		if (ret != -EAGAIN) {
			n->tr.ops->needs_reset(n->tr.t);
			break;
		}
	} while (virtq_enable_notify(n->txq));
out:
	if (pushed && virtq_should_notify(n->txq))
		n->tr.ops->signal_used(n->tr.t);
	net_watch(n);
}

void net_backend_event(struct net *n, uint32_t events)
{
	n->tr.ops->lock(n->tr.t);
	if (n->active) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			n->tx_blocked = false;
			tx_run(n);
		}
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			rx_run(n);
		net_watch(n);
	}
	n->tr.ops->unlock(n->tr.t);
}

int net_resume_fd(const struct net *n)
{
	return n->resume_fd;
}

void net_resume(struct net *n)
{
	uint64_t v;

	n->tr.ops->lock(n->tr.t);
	if (read(n->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_limited(&n->rl, LOG_LVL_WARN, "%s: reading its resume eventfd: %s", n->cfg.name,
			    strerror(errno));
	n->resume_signalled = false;
	if (n->active && n->tx_more)
		tx_run(n);
	n->tr.ops->unlock(n->tr.t);
}

bool net_backend_dead(struct net *n)
{
	bool dead;

	/* Set under the lock by whichever thread ran the queues last. */
	n->tr.ops->lock(n->tr.t);
	dead = n->dead;
	n->tr.ops->unlock(n->tr.t);
	return dead;
}

/* --- the device's operations ----------------------------------------------------- */

static void net_config_read(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct net *n = dev;

	memcpy(buf, (const uint8_t *)&n->config + offset, len);
}

unsigned int net_tun_flags(uint64_t f)
{
	unsigned int t = 0;

	if (f & (1ULL << VIRTIO_NET_F_GUEST_CSUM))
		t |= TUN_F_CSUM;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		t |= TUN_F_TSO6;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_ECN))
		t |= TUN_F_TSO_ECN;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		t |= TUN_F_UFO;
	return t;
}

static int net_activate(void *dev, uint64_t features)
{
	struct net *n = dev;
	int ret;

	n->rxq = n->tr.ops->queue(n->tr.t, 0);
	n->txq = n->tr.ops->queue(n->tr.t, 1);
	if (!n->rxq || !n->txq || !virtq_ready(n->rxq) || !virtq_ready(n->txq))
		return -EINVAL;
	n->mrg = features & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	if (n->cfg.set_offloads) {
		ret = n->cfg.set_offloads(n->cfg.opaque, net_tun_flags(features));
		if (ret < 0)
			log_warn("%s: setting the offloads the driver accepted: %s", n->cfg.name,
				 strerror(-ret));
	}
	n->active = true;
	n->rx_paused = n->tx_blocked = n->tx_more = false;
	n->pending = 0;
	net_watch(n);
	return 0;
}

static void net_notify(void *dev, unsigned int index)
{
	struct net *n = dev;

	if (index == 0) {
		/* New receive buffers: a waiting frame, then the descriptor again. */
		if (n->rx_paused) {
			n->rx_paused = false;
			rx_run(n);
		}
	} else if (index == 1) {
		tx_run(n);
	}
}

static void net_reset(void *dev)
{
	struct net *n = dev;

	n->active = false;
	n->pending = 0;
	n->rx_paused = n->tx_blocked = n->tx_more = false;
	n->rxq = n->txq = NULL;
	net_watch(n);
}

static const struct virtio_device_ops net_ops = {
	.config_read = net_config_read,
	.activate = net_activate,
	.notify = net_notify,
	.reset = net_reset,
};

void net_device(struct net *n, struct virtio_device_info *info,
		const struct virtio_device_ops **ops)
{
	*info = (struct virtio_device_info){
		.device_id = VIRTIO_ID_NET,
		.features = n->offered,
		.nr_queues = 2,
		.queue_max = NET_QUEUE_SIZE,
		.config_size = offsetof(struct virtio_net_config, mtu),
		.name = n->cfg.name,
	};
	*ops = &net_ops;
}

void net_attach(struct net *n, const struct virtio_transport *tr)
{
	n->tr = *tr;
}

int net_create(struct net **out, const struct net_config *cfg)
{
	struct net *n = calloc(1, sizeof(*n));

	*out = NULL;
	if (!n)
		return -ENOMEM;
	/* Pages of it are touched only as frames arrive. */
	n->stage = malloc(NET_RX_MAX + 1);
	if (!n->stage) {
		free(n);
		return -ENOMEM;
	}
	n->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->resume_fd < 0) {
		int ret = -errno;

		free(n->stage);
		free(n);
		return ret;
	}
	n->cfg = *cfg;
	if (!n->cfg.name)
		n->cfg.name = "virtio-net";
	ratelimit_init(&n->rl, 1000000000ULL, 5);
	n->offered = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (cfg->offloads & NET_OFFLOADS);
	memcpy(n->config.mac, cfg->mac, 6);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	*out = n;
	return 0;
}

void net_destroy(struct net *n)
{
	if (!n)
		return;
	ratelimit_destroy(&n->rl);
	close(n->resume_fd);
	free(n->stage);
	free(n);
}

void net_get_stats(struct net *n, struct net_stats *out)
{
	*out = n->stats;
}
