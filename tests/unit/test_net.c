// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/gmem.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/net.h"
#include "virtio/virtq.h"

/* One ring per struct rb: rx and tx each get their own guest RAM, apart. */
#define RX_BASE 0x100000ULL
#define TX_BASE 0x800000ULL
#define RING_RAM (4ULL << 20)
#define QSIZE 128 /* more than NET_TX_BUDGET */

#define F(bit) (1ULL << (bit))
#define BASE_FEATURES (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* --- fixture ------------------------------------------------------------------ */

struct fx {
	struct rb rx, tx;
	struct fake_transport tr;
	struct net *net;
	struct virtio_device_info info;
	const struct virtio_device_ops *ops;
	int dev_fd, peer_fd; /* the device's end of the socketpair, and the test's */
	bool event_idx;

	uint32_t watched; /* the last events the device asked for */
	unsigned int watch_calls;
	unsigned int tun_flags; /* the last set_offloads argument */
	unsigned int offload_calls;
	int offload_ret;
};

static void fx_watch(void *opaque, uint32_t events)
{
	struct fx *f = opaque;

	f->watched = events;
	f->watch_calls++;
}

static int fx_set_offloads(void *opaque, unsigned int tun_flags)
{
	struct fx *f = opaque;

	f->tun_flags = tun_flags;
	f->offload_calls++;
	return f->offload_ret;
}

static void rings_init(struct fx *f)
{
	ck_assert_int_eq(rb_init(&f->rx, RX_BASE, RING_RAM, QSIZE), 0);
	ck_assert_int_eq(rb_init(&f->tx, TX_BASE, RING_RAM, QSIZE), 0);
}

/* What the transport does when the driver makes both queues ready. */
static void queues_setup(struct fx *f, bool event_idx)
{
	struct rb *rbs[2] = { &f->rx, &f->tx };

	f->event_idx = event_idx;
	for (int i = 0; i < 2; i++)
		vdrv_virtq_setup(f->tr.q[i], rbs[i], event_idx, NET_QUEUE_SIZE);
}

/* A device on a fresh socketpair, attached to the fake transport; no queue set up yet. */
static void fx_create(struct fx *f, uint64_t offloads, bool with_set_offloads)
{
	struct virtio_transport tr = { .ops = &fake_transport_ops, .t = &f->tr };
	struct net_config cfg = {
		.offloads = offloads,
		.set_offloads = with_set_offloads ? fx_set_offloads : NULL,
		.watch = fx_watch,
		.opaque = f,
		.name = "test-net",
	};
	int sv[2];

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->dev_fd = sv[0];
	f->peer_fd = sv[1];
	cfg.fd = f->dev_fd;
	memcpy(cfg.mac, test_mac, sizeof(test_mac));
	rings_init(f);
	ck_assert_int_eq(virtq_create(&f->tr.q[0], &f->rx.mem, NULL), 0);
	ck_assert_int_eq(virtq_create(&f->tr.q[1], &f->tx.mem, NULL), 0);
	ck_assert_int_eq(net_create(&f->net, &cfg), 0);
	net_device(f->net, &f->info, &f->ops);
	net_attach(f->net, &tr);
}

static void fx_activate(struct fx *f, uint64_t features)
{
	queues_setup(f, features & F(VIRTIO_RING_F_EVENT_IDX));
	ck_assert_int_eq(f->ops->activate(f->net, features & f->info.features), 0);
	ck_assert_uint_eq(f->watched, EPOLLIN);
}

static void fx_init(struct fx *f, uint64_t features)
{
	fx_create(f, 0, false);
	fx_activate(f, features);
}

static void fx_fini(struct fx *f)
{
	f->ops->reset(f->net);
	ck_assert_uint_eq(f->watched, 0);
	net_destroy(f->net);
	virtq_destroy(f->tr.q[0]);
	virtq_destroy(f->tr.q[1]);
	rb_destroy(&f->rx);
	rb_destroy(&f->tx);
	if (f->dev_fd >= 0)
		close(f->dev_fd);
	if (f->peer_fd >= 0)
		close(f->peer_fd);
}

static struct net_stats stats(struct fx *f)
{
	struct net_stats s;

	net_get_stats(f->net, &s);
	return s;
}

/*
 * Plays an honest driver after it published buffers on queue qi, the avail
 * index having been old_idx before: it kicks only when the device asked to be
 * (avail_event with EVENT_IDX, the NO_NOTIFY flag without). Returns whether
 * it kicked, so a device that suppressed the kick it needed shows.
 */
static bool driver_kick(struct fx *f, unsigned int qi, uint16_t old_idx)
{
	bool kick = vdrv_kick_wanted(qi ? &f->tx : &f->rx, f->event_idx, old_idx);

	if (kick)
		f->ops->notify(f->net, qi);
	return kick;
}

static void backend_event(struct fx *f, uint32_t events)
{
	net_backend_event(f->net, events);
	ck_assert_int_eq(f->tr.lock_depth, 0);
}

/* The byte at offset i of a test frame: varies with the frame and the offset. */
static uint8_t pattern(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + i / 251);
}

static uint8_t *frame_new(size_t len, unsigned int seed)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(seed, i);
	return p;
}

/* --- transmit helpers ----------------------------------------------------------- */

/*
 * Adds a transmit chain of n readable buffers of lens[i] bytes holding the
 * frame pattern(seed) end to end; returns its head. Not published.
 */
static uint16_t tx_chain(struct fx *f, const uint32_t *lens, unsigned int n, unsigned int seed)
{
	struct rb_seg segs[8];
	size_t off = 0;
	uint16_t head;

	ck_assert_uint_le(n, 8);
	for (unsigned int i = 0; i < n; i++)
		segs[i] = (struct rb_seg){ .len = lens[i] };
	head = rb_add_chain(&f->tx, segs, n);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = rb_host(&f->tx, segs[i].gpa);

		for (uint32_t j = 0; j < lens[i]; j++)
			p[j] = pattern(seed, off + j);
		off += lens[i];
	}
	return head;
}

/* Publishes a one-buffer frame of len bytes and kicks; returns the head. */
static uint16_t tx_one(struct fx *f, uint32_t len, unsigned int seed)
{
	uint16_t old = f->tx.avail_idx;
	uint16_t head = tx_chain(f, &len, 1, seed);

	rb_publish(&f->tx, head);
	driver_kick(f, 1, old);
	return head;
}

/* The next frame on the peer end is len bytes of pattern(seed). */
static void expect_peer_frame(struct fx *f, size_t len, unsigned int seed)
{
	uint8_t *want = frame_new(len, seed);
	uint8_t *got = malloc(NET_MAX_FRAME + 16);
	ssize_t r;

	ck_assert_ptr_nonnull(got);
	r = recv(f->peer_fd, got, NET_MAX_FRAME + 16, MSG_DONTWAIT);
	ck_assert_int_eq(r, (ssize_t)len);
	ck_assert_mem_eq(got, want, len);
	free(got);
	free(want);
}

static void expect_peer_empty(struct fx *f)
{
	uint8_t b;

	ck_assert_int_eq(recv(f->peer_fd, &b, 1, MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

static void expect_used(struct rb *rb, uint16_t head, uint32_t len)
{
	uint32_t id, ulen;

	ck_assert_msg(rb_get_used(rb, &id, &ulen), "no used element for head %u", head);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(ulen, len);
}

static void expect_no_used(struct rb *rb)
{
	uint32_t id, len;

	ck_assert(!rb_get_used(rb, &id, &len));
}

/* --- receive helpers -------------------------------------------------------------- */

/* Posts a receive chain of n writable buffers; fills gpas; returns the head. Not kicked. */
static uint16_t rx_post(struct fx *f, const uint32_t *lens, unsigned int n, uint64_t *gpas)
{
	struct rb_seg segs[8];
	uint16_t head;

	ck_assert_uint_le(n, 8);
	for (unsigned int i = 0; i < n; i++)
		segs[i] = (struct rb_seg){ .len = lens[i], .write = true };
	head = rb_add_chain(&f->rx, segs, n);
	for (unsigned int i = 0; i < n; i++) {
		/* Stale bytes the device must overwrite, or leave past the frame. */
		memset(rb_host(&f->rx, segs[i].gpa), 0xee, lens[i]);
		gpas[i] = segs[i].gpa;
	}
	rb_publish(&f->rx, head);
	return head;
}

/* Sends len bytes of pattern(seed) from the peer end, num_buffers set to garbage. */
static void peer_send(struct fx *f, size_t len, unsigned int seed)
{
	uint8_t *p = frame_new(len, seed);

	if (len >= NET_HDR_LEN) {
		p[10] = 0xad;
		p[11] = 0xde;
	}
	ck_assert_int_eq(send(f->peer_fd, p, len, MSG_DONTWAIT), (ssize_t)len);
	free(p);
}

/*
 * Checks that the bytes at gpas[0..n) (lens[i] each, the frame laid end to
 * end over them) hold the len-byte frame pattern(seed) with num_buffers set
 * to nbufs, and that the bytes past the frame are untouched.
 */
static void expect_rx_bytes(struct fx *f, const uint64_t *gpas, const uint32_t *lens,
			    unsigned int n, size_t len, unsigned int seed, uint16_t nbufs)
{
	uint8_t *want = frame_new(len, seed);
	size_t off = 0;

	want[10] = (uint8_t)nbufs;
	want[11] = (uint8_t)(nbufs >> 8);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = rb_host(&f->rx, gpas[i]);
		size_t k = off < len ? (len - off < lens[i] ? len - off : lens[i]) : 0;

		ck_assert_mem_eq(p, want + off, k);
		for (size_t j = k; j < lens[i]; j++)
			ck_assert_uint_eq(p[j], 0xee);
		off += k;
	}
	ck_assert_uint_eq(off, len);
	free(want);
}

/* Length of the next frame waiting on the device's end, or -1 when there is none. */
static ssize_t dev_next_len(struct fx *f)
{
	return recv(f->dev_fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
}

/* --- configuration ---------------------------------------------------------------- */

START_TEST(config_space_and_features)
{
	struct fx f;
	struct virtio_net_config c;
	uint64_t offloads = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
			    F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_HOST_TSO4);
	uint8_t b;

	/* Bits that are not offloads are not offered, whatever the backend says. */
	fx_create(&f, offloads | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ), false);
	ck_assert_uint_eq(f.info.device_id, VIRTIO_ID_NET);
	ck_assert_uint_eq(f.info.nr_queues, 2);
	ck_assert_uint_eq(f.info.queue_max, NET_QUEUE_SIZE);
	ck_assert_uint_eq(f.info.config_size, offsetof(struct virtio_net_config, mtu));
	memset(&c, 0xff, sizeof(c));
	f.ops->config_read(f.net, 0, &c, f.info.config_size);
	ck_assert_mem_eq(c.mac, test_mac, 6);
	ck_assert_uint_eq(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	/* One byte at an odd offset: the MAC's last. */
	f.ops->config_read(f.net, 5, &b, 1);
	ck_assert_uint_eq(b, test_mac[5]);

	ck_assert(f.info.features & F(VIRTIO_NET_F_MAC));
	ck_assert(f.info.features & F(VIRTIO_NET_F_STATUS));
	ck_assert(f.info.features & F(VIRTIO_NET_F_MRG_RXBUF));
	ck_assert(f.info.features & F(VIRTIO_RING_F_EVENT_IDX));
	ck_assert(!(f.info.features & F(VIRTIO_NET_F_CTRL_VQ)));
	ck_assert(!(f.info.features & F(VIRTIO_NET_F_MQ)));
	ck_assert_uint_eq(f.info.features & offloads, offloads);
	ck_assert(!(f.info.features & F(VIRTIO_NET_F_GUEST_TSO6)));
	ck_assert(!(f.info.features & F(VIRTIO_NET_F_HOST_TSO6)));
	ck_assert(!(f.info.features & F(VIRTIO_NET_F_GUEST_UFO)));
	fx_fini(&f);

	/* A backend that can do no offloads gets none offered. */
	fx_create(&f, 0, false);
	ck_assert(!(f.info.features & (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
				       F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
				       F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_GUEST_UFO) |
				       F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
				       F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_HOST_UFO))));
	ck_assert(f.info.features & F(VIRTIO_NET_F_MRG_RXBUF));
	fx_fini(&f);
}
END_TEST

START_TEST(offloads_told_at_activate)
{
	uint64_t all = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
		       F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
		       F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_GUEST_UFO) |
		       F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		       F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_HOST_UFO);
	struct fx f;

	fx_create(&f, all, true);
	fx_activate(&f, BASE_FEATURES | all);
	ck_assert_uint_eq(f.offload_calls, 1);
	ck_assert_uint_eq(f.tun_flags,
			  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
	fx_fini(&f);

	/* The tap's offloads are what the guest receives: only GUEST_* bits count. */
	fx_create(&f, all, true);
	fx_activate(&f, BASE_FEATURES | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
				F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_UFO));
	ck_assert_uint_eq(f.offload_calls, 1);
	ck_assert_uint_eq(f.tun_flags, 0);
	fx_fini(&f);

	fx_create(&f, all, true);
	fx_activate(&f, BASE_FEATURES | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO6));
	ck_assert_uint_eq(f.tun_flags, TUN_F_CSUM | TUN_F_TSO6);
	fx_fini(&f);

	/* A backend refusing them is logged, not fatal. */
	fx_create(&f, all, true);
	f.offload_ret = -EINVAL;
	fx_activate(&f, BASE_FEATURES | F(VIRTIO_NET_F_GUEST_CSUM));
	ck_assert_uint_eq(f.offload_calls, 1);
	tx_one(&f, 64, 1);
	expect_peer_frame(&f, 64, 1);
	fx_fini(&f);
}
END_TEST

START_TEST(activate_needs_both_queues)
{
	struct fx f;

	fx_create(&f, 0, false);
	/* Only the receive queue made ready. */
	vdrv_virtq_setup(f.tr.q[0], &f.rx, false, NET_QUEUE_SIZE);
	ck_assert_int_lt(f.ops->activate(f.net, BASE_FEATURES), 0);
	ck_assert_uint_eq(f.watched, 0);
	virtq_destroy(f.tr.q[0]);
	virtq_destroy(f.tr.q[1]);
	net_destroy(f.net);
	rb_destroy(&f.rx);
	rb_destroy(&f.tx);
	close(f.dev_fd);
	close(f.peer_fd);
}
END_TEST

/* --- transmit ---------------------------------------------------------------------- */

START_TEST(tx_frame_byte_exact)
{
	static const uint32_t lens[] = { NET_HDR_LEN, 100, 1, 1400 };
	/* The header split over two buffers, the second also carrying payload. */
	static const uint32_t split[] = { 5, 7 + 60 };
	struct fx f;
	uint16_t head, old;

	fx_init(&f, BASE_FEATURES);
	old = f.tx.avail_idx;
	head = tx_chain(&f, lens, 4, 7);
	rb_publish(&f.tx, head);
	ck_assert(driver_kick(&f, 1, old));
	expect_peer_frame(&f, NET_HDR_LEN + 1501, 7);
	expect_peer_empty(&f);
	expect_used(&f.tx, head, 0);
	ck_assert_uint_eq(f.tr.signals, 1);
	ck_assert_uint_eq(stats(&f).tx_frames, 1);

	old = f.tx.avail_idx;
	head = tx_chain(&f, split, 2, 8);
	rb_publish(&f.tx, head);
	ck_assert(driver_kick(&f, 1, old));
	expect_peer_frame(&f, 72, 8);
	expect_used(&f.tx, head, 0);
	ck_assert_uint_eq(f.tr.signals, 2);

	/* A header alone is a frame too (the tap decides what to do with it). */
	tx_one(&f, NET_HDR_LEN, 9);
	expect_peer_frame(&f, NET_HDR_LEN, 9);
	ck_assert_uint_eq(stats(&f).tx_frames, 3);
	ck_assert_uint_eq(stats(&f).tx_dropped, 0);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	/* Nothing to transmit: the device was watching only for frames. */
	ck_assert_uint_eq(f.watched, EPOLLIN);
	fx_fini(&f);
}
END_TEST

START_TEST(tx_several_frames_one_kick)
{
	struct fx f;
	uint16_t heads[5], old;

	fx_init(&f, BASE_FEATURES | F(VIRTIO_RING_F_EVENT_IDX));
	old = f.tx.avail_idx;
	for (unsigned int i = 0; i < 5; i++) {
		uint32_t len = 60 + 10 * i;

		heads[i] = tx_chain(&f, &len, 1, 20 + i);
		rb_publish(&f.tx, heads[i]);
	}
	ck_assert(driver_kick(&f, 1, old));
	for (unsigned int i = 0; i < 5; i++) {
		expect_peer_frame(&f, 60 + 10 * i, 20 + i);
		expect_used(&f.tx, heads[i], 0);
	}
	expect_peer_empty(&f);
	/* One interrupt for the batch. */
	ck_assert_uint_eq(f.tr.signals, 1);
	/* Kicks are on again, for the next frame. */
	tx_one(&f, 80, 30);
	expect_peer_frame(&f, 80, 30);
	fx_fini(&f);
}
END_TEST

START_TEST(tx_a_turn_has_a_budget)
{
	enum { N = NET_TX_BUDGET + 36 };
	struct pollfd resume;
	struct fx f;
	uint16_t heads[N], old;

	fx_init(&f, BASE_FEATURES | F(VIRTIO_RING_F_EVENT_IDX));
	resume = (struct pollfd){ .fd = net_resume_fd(f.net), .events = POLLIN };
	old = f.tx.avail_idx;
	for (unsigned int i = 0; i < N; i++) {
		uint32_t len = 60 + i % 20;

		heads[i] = tx_chain(&f, &len, 1, i);
		rb_publish(&f.tx, heads[i]);
	}
	/* A kick sends one turn's worth; the resume event, a later turn, the rest. */
	ck_assert(driver_kick(&f, 1, old));
	ck_assert_uint_eq(stats(&f).tx_frames, NET_TX_BUDGET);
	ck_assert_int_eq(poll(&resume, 1, 0), 1);
	net_resume(f.net);
	ck_assert_int_eq(f.tr.lock_depth, 0);
	ck_assert_uint_eq(stats(&f).tx_frames, N);
	ck_assert_int_eq(poll(&resume, 1, 0), 0);
	for (unsigned int i = 0; i < N; i++) {
		expect_peer_frame(&f, 60 + i % 20, i);
		expect_used(&f.tx, heads[i], 0);
	}
	expect_peer_empty(&f);
	/* Kicks are on again, for the next frame; a stray resume does nothing. */
	net_resume(f.net);
	tx_one(&f, 80, 30);
	expect_peer_frame(&f, 80, 30);
	ck_assert_uint_eq(stats(&f).tx_frames, N + 1);
	fx_fini(&f);
}
END_TEST

START_TEST(tx_malformed_frames_dropped)
{
	static const uint32_t too_long[] = { 32768, NET_MAX_FRAME + 1 - 32768 };
	static const uint32_t longest[] = { 40000, NET_MAX_FRAME - 40000 };
	struct rb_seg writable[2] = { { .len = NET_HDR_LEN + 64 }, { .len = 64, .write = true } };
	struct fx f;
	uint16_t h_short, h_long, h_write, h_good, old;
	uint32_t short_len = NET_HDR_LEN - 1, good_len = 200;
	struct net_stats s;

	fx_init(&f, BASE_FEATURES);
	old = f.tx.avail_idx;
	h_short = tx_chain(&f, &short_len, 1, 1);
	rb_publish(&f.tx, h_short);
	h_long = tx_chain(&f, too_long, 2, 2);
	rb_publish(&f.tx, h_long);
	h_write = rb_add_chain(&f.tx, writable, 2);
	rb_publish(&f.tx, h_write);
	h_good = tx_chain(&f, &good_len, 1, 3);
	rb_publish(&f.tx, h_good);
	ck_assert(driver_kick(&f, 1, old));

	/* Each chain comes back, in order; only the good frame reached the socket. */
	expect_used(&f.tx, h_short, 0);
	expect_used(&f.tx, h_long, 0);
	expect_used(&f.tx, h_write, 0);
	expect_used(&f.tx, h_good, 0);
	expect_peer_frame(&f, good_len, 3);
	expect_peer_empty(&f);
	s = stats(&f);
	ck_assert_uint_eq(s.tx_dropped, 3);
	ck_assert_uint_eq(s.tx_errors, 0);
	ck_assert_uint_eq(s.tx_frames, 1);
	ck_assert_uint_eq(f.tr.needs_reset, 0);

	/* Exactly 64 KiB after the header is allowed. */
	old = f.tx.avail_idx;
	h_good = tx_chain(&f, longest, 2, 4);
	rb_publish(&f.tx, h_good);
	ck_assert(driver_kick(&f, 1, old));
	expect_used(&f.tx, h_good, 0);
	expect_peer_frame(&f, NET_MAX_FRAME, 4);
	ck_assert_uint_eq(stats(&f).tx_frames, 2);
	ck_assert_uint_eq(stats(&f).tx_dropped, 3);

	/* A one-byte frame, alone in its kick. */
	tx_one(&f, 1, 5);
	expect_peer_empty(&f);
	ck_assert_uint_eq(stats(&f).tx_dropped, 4);
	fx_fini(&f);
}
END_TEST

/*
 * Fills the socket until a write would block: the device holds that chain
 * (not returned), asks for EPOLLOUT, and sends it first once there is room.
 */
START_TEST(tx_backpressure_holds_the_frame)
{
	enum { NFRAMES = 48, LEN = 1000 };
	struct fx f;
	uint16_t heads[NFRAMES], old;
	unsigned int sent = 0, received = 0, rounds = 0, kicks = 0;
	int small = 4096;

	fx_init(&f, BASE_FEATURES);
	ck_assert_int_eq(setsockopt(f.dev_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(f.peer_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	old = f.tx.avail_idx;
	for (unsigned int i = 0; i < NFRAMES; i++) {
		uint32_t len = LEN;

		heads[i] = tx_chain(&f, &len, 1, i);
		rb_publish(&f.tx, heads[i]);
	}
	ck_assert(driver_kick(&f, 1, old));

	while (received < NFRAMES) {
		uint32_t id, len;
		unsigned int before = received;

		ck_assert_uint_lt(rounds++, NFRAMES + 1);
		/* Everything returned went out, in order; nothing else was returned. */
		while (rb_get_used(&f.tx, &id, &len)) {
			ck_assert_uint_eq(id, heads[sent]);
			ck_assert_uint_eq(len, 0);
			sent++;
		}
		if (sent < NFRAMES) {
			ck_assert_uint_eq(f.watched, EPOLLIN | EPOLLOUT);
			/* A kick while blocked changes nothing. */
			f.ops->notify(f.net, 1);
			kicks++;
			expect_no_used(&f.tx);
		}
		while (received < sent)
			expect_peer_frame(&f, LEN, received++);
		/* What was not returned was not sent either. */
		expect_peer_empty(&f);
		ck_assert_uint_gt(received, before);
		if (sent < NFRAMES)
			backend_event(&f, EPOLLOUT);
	}
	/* It did block at least once, and is not waiting for room any more. */
	ck_assert_uint_gt(kicks, 0);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	ck_assert_uint_eq(stats(&f).tx_frames, NFRAMES);
	ck_assert_uint_eq(stats(&f).tx_dropped, 0);
	/* Kicks work again. */
	tx_one(&f, LEN, 99);
	expect_peer_frame(&f, LEN, 99);
	fx_fini(&f);
}
END_TEST

/* A write refused for a reason other than room drops that frame only. */
START_TEST(tx_write_error_drops_one_frame)
{
	struct fx f;
	uint16_t h_big, h_good, old;
	uint32_t big = 30000, good = 300;
	int small = 4096;
	struct net_stats s;

	fx_init(&f, BASE_FEATURES);
	/* A message larger than the send buffer can ever hold: EMSGSIZE, not EAGAIN. */
	ck_assert_int_eq(setsockopt(f.dev_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	old = f.tx.avail_idx;
	h_big = tx_chain(&f, &big, 1, 1);
	rb_publish(&f.tx, h_big);
	h_good = tx_chain(&f, &good, 1, 2);
	rb_publish(&f.tx, h_good);
	ck_assert(driver_kick(&f, 1, old));
	expect_used(&f.tx, h_big, 0);
	expect_used(&f.tx, h_good, 0);
	expect_peer_frame(&f, good, 2);
	expect_peer_empty(&f);
	s = stats(&f);
	ck_assert_uint_eq(s.tx_errors, 1);
	ck_assert_uint_eq(s.tx_dropped, 1);
	ck_assert_uint_eq(s.tx_frames, 1);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	ck_assert(!net_backend_dead(f.net));
	fx_fini(&f);
}
END_TEST

START_TEST(tx_to_a_shut_down_socket)
{
	struct fx f;
	uint16_t h;
	struct net_stats s;

	/* EPIPE raises SIGPIPE on a socket (never on a tap); ember ignores it in main. */
	signal(SIGPIPE, SIG_IGN);
	fx_init(&f, BASE_FEATURES);
	ck_assert_int_eq(shutdown(f.dev_fd, SHUT_WR), 0);
	for (unsigned int i = 0; i < 3; i++) {
		h = tx_one(&f, 100, i);
		expect_used(&f.tx, h, 0);
	}
	s = stats(&f);
	ck_assert_uint_eq(s.tx_errors, 3);
	ck_assert_uint_eq(s.tx_dropped, 3);
	ck_assert_uint_eq(s.tx_frames, 0);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	/* Receiving still works: the socket is shut for writing only. */
	{
		static const uint32_t len = 256;
		uint64_t gpa;
		uint16_t rh = rx_post(&f, &len, 1, &gpa);

		peer_send(&f, 100, 5);
		backend_event(&f, EPOLLIN);
		expect_used(&f.rx, rh, 100);
		expect_rx_bytes(&f, &gpa, &len, 1, 100, 5, 1);
	}
	fx_fini(&f);
}
END_TEST

START_TEST(tx_interrupt_suppressed)
{
	struct fx f;
	uint16_t h;

	fx_init(&f, BASE_FEATURES);
	rb_set_avail_flags(&f.tx, VRING_AVAIL_F_NO_INTERRUPT);
	h = tx_one(&f, 64, 1);
	expect_used(&f.tx, h, 0);
	expect_peer_frame(&f, 64, 1);
	ck_assert_uint_eq(f.tr.signals, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(tx_hostile_chain_needs_reset)
{
	struct fx f;
	struct rb_seg segs[2] = { { .len = 64 }, { .len = 64 } };
	uint16_t head, old;

	fx_init(&f, BASE_FEATURES);
	old = f.tx.avail_idx;
	head = rb_add_chain(&f.tx, segs, 2);
	/* The second descriptor points back at the first: a loop. */
	rb_desc(&f.tx, (uint16_t)(head + 1))->next = htole16(head);
	rb_desc(&f.tx, (uint16_t)(head + 1))->flags |= htole16(VRING_DESC_F_NEXT);
	rb_publish(&f.tx, head);
	driver_kick(&f, 1, old);
	ck_assert_uint_eq(f.tr.needs_reset, 1);
	expect_no_used(&f.tx);
	expect_peer_empty(&f);
	fx_fini(&f);
}
END_TEST

/* --- receive ---------------------------------------------------------------------- */

START_TEST(rx_one_buffer_per_frame)
{
	static const uint32_t big = 2048;
	/* A chain of several buffers, as a driver without MRG_RXBUF may post for big frames. */
	static const uint32_t parts[] = { NET_HDR_LEN, 600, 600 };
	struct fx f;
	uint64_t gpa, pg[3];
	uint16_t h1, h2;

	fx_init(&f, BASE_FEATURES);
	h1 = rx_post(&f, &big, 1, &gpa);
	h2 = rx_post(&f, parts, 3, pg);
	peer_send(&f, NET_HDR_LEN + 500, 1);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h1, NET_HDR_LEN + 500);
	expect_rx_bytes(&f, &gpa, &big, 1, NET_HDR_LEN + 500, 1, 1);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.tr.signals, 1);

	peer_send(&f, NET_HDR_LEN + 1000, 2);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h2, NET_HDR_LEN + 1000);
	expect_rx_bytes(&f, pg, parts, 3, NET_HDR_LEN + 1000, 2, 1);
	ck_assert_uint_eq(f.tr.signals, 2);
	ck_assert_uint_eq(stats(&f).rx_frames, 2);
	ck_assert_uint_eq(stats(&f).rx_dropped, 0);

	/* Nothing more to read: the event returns after one empty read. */
	backend_event(&f, EPOLLIN);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	fx_fini(&f);
}
END_TEST

START_TEST(rx_too_big_for_the_buffer)
{
	static const uint32_t len = 100;
	struct fx f;
	uint64_t gpa;
	uint16_t h;

	fx_init(&f, BASE_FEATURES);
	h = rx_post(&f, &len, 1, &gpa);
	peer_send(&f, 101, 1);
	peer_send(&f, 100, 2);
	backend_event(&f, EPOLLIN);
	/* The first is dropped; the buffer it did not fit takes the second. */
	expect_used(&f.rx, h, 100);
	expect_no_used(&f.rx);
	expect_rx_bytes(&f, &gpa, &len, 1, 100, 2, 1);
	ck_assert_uint_eq(stats(&f).rx_dropped, 1);
	ck_assert_uint_eq(stats(&f).rx_frames, 1);
	ck_assert_int_eq(dev_next_len(&f), -1);

	/* The longest frame a driver may send, into a buffer too small for it. */
	h = rx_post(&f, &len, 1, &gpa);
	peer_send(&f, NET_MAX_FRAME, 3);
	peer_send(&f, 50, 4);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h, 50);
	expect_rx_bytes(&f, &gpa, &len, 1, 50, 4, 1);
	ck_assert_uint_eq(stats(&f).rx_dropped, 2);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(rx_shorter_than_header_dropped)
{
	static const uint32_t len = 256;
	struct fx f;
	uint64_t gpa;
	uint16_t h;

	fx_init(&f, BASE_FEATURES);
	h = rx_post(&f, &len, 1, &gpa);
	peer_send(&f, 5, 1);
	peer_send(&f, NET_HDR_LEN - 1, 2);
	peer_send(&f, NET_HDR_LEN, 3);
	backend_event(&f, EPOLLIN);
	/* A bare header is the shortest frame that goes through. */
	expect_used(&f.rx, h, NET_HDR_LEN);
	expect_rx_bytes(&f, &gpa, &len, 1, NET_HDR_LEN, 3, 1);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(stats(&f).rx_dropped, 2);
	ck_assert_uint_eq(stats(&f).rx_frames, 1);
	fx_fini(&f);
}
END_TEST

/*
 * The longest frame a tap hands over: a GRO'd IPv6 packet (64 KiB payload
 * behind its 40-byte header) with Ethernet, VLAN and virtio-net headers. It
 * is longer than the 64 KiB + header allowed on transmit and must still
 * reach the guest whole.
 */
START_TEST(rx_largest_tap_frame)
{
	enum { CHAINS = 20, BUF = 4096, LEN = NET_HDR_LEN + 18 + 40 + 65535 };
	static const uint32_t len = BUF;
	struct fx f;
	uint64_t gpa[CHAINS];
	uint32_t lens[CHAINS];
	uint16_t h[CHAINS];
	size_t total = 0;

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	for (int i = 0; i < CHAINS; i++) {
		h[i] = rx_post(&f, &len, 1, &gpa[i]);
		lens[i] = BUF;
	}
	peer_send(&f, LEN, 1);
	backend_event(&f, EPOLLIN);
	for (int i = 0; i < (LEN + BUF - 1) / BUF; i++) {
		uint32_t want = LEN - total < BUF ? (uint32_t)(LEN - total) : BUF;

		expect_used(&f.rx, h[i], want);
		total += want;
	}
	expect_no_used(&f.rx);
	ck_assert_uint_eq(total, LEN);
	expect_rx_bytes(&f, gpa, lens, (LEN + BUF - 1) / BUF, LEN, 1, (LEN + BUF - 1) / BUF);
	ck_assert_uint_eq(stats(&f).rx_frames, 1);
	ck_assert_uint_eq(stats(&f).rx_dropped, 0);
	fx_fini(&f);
}
END_TEST

/* A frame longer than the device reads at once is dropped, never delivered cut short. */
START_TEST(rx_frame_too_long_to_read)
{
	enum { CHAINS = 30, BUF = 4096 };
	static const uint32_t len = BUF;
	struct fx f;
	uint64_t gpa[CHAINS];
	uint16_t h[CHAINS];

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	for (int i = 0; i < CHAINS; i++)
		h[i] = rx_post(&f, &len, 1, &gpa[i]);
	peer_send(&f, 100000, 1);
	peer_send(&f, 300, 2);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h[0], 300);
	expect_no_used(&f.rx);
	expect_rx_bytes(&f, gpa, &len, 1, 300, 2, 1);
	ck_assert_uint_eq(stats(&f).rx_dropped, 1);
	ck_assert_uint_eq(stats(&f).rx_frames, 1);
	fx_fini(&f);
}
END_TEST

/* Merged buffers: a frame spreads over as many chains as it takes. */
static void rx_merged(bool event_idx)
{
	static const uint32_t parts[] = { 100, 156 }; /* 256 bytes a chain */
	struct fx f;
	uint64_t gpa[4][2], all[6];
	uint32_t lens[6];
	uint16_t h[4];

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF) |
			    (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0));
	for (int i = 0; i < 4; i++)
		h[i] = rx_post(&f, parts, 2, gpa[i]);
	peer_send(&f, 700, 1);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h[0], 256);
	expect_used(&f.rx, h[1], 256);
	expect_used(&f.rx, h[2], 188);
	expect_no_used(&f.rx);
	for (int i = 0; i < 3; i++) {
		all[2 * i] = gpa[i][0];
		all[2 * i + 1] = gpa[i][1];
		lens[2 * i] = parts[0];
		lens[2 * i + 1] = parts[1];
	}
	/* num_buffers in the first chain's header says 3. */
	expect_rx_bytes(&f, all, lens, 6, 700, 1, 3);
	ck_assert_uint_eq(f.tr.signals, 1);

	/* A small frame takes one chain and says so. */
	peer_send(&f, 40, 2);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h[3], 40);
	expect_rx_bytes(&f, gpa[3], parts, 2, 40, 2, 1);
	ck_assert_uint_eq(stats(&f).rx_frames, 2);
	ck_assert_uint_eq(stats(&f).rx_dropped, 0);
	fx_fini(&f);
}

START_TEST(rx_merged_buffers)
{
	rx_merged(false);
	rx_merged(true);
}
END_TEST

/*
 * Merged buffers, some posted but not enough for the frame: the device waits
 * for more without reading the descriptor or spinning, the driver's next
 * post reaches it (it kicks), and the frame then spans old and new chains.
 */
static void rx_merged_wait(bool event_idx)
{
	static const uint32_t len = 256;
	struct fx f;
	uint64_t gpa[3];
	uint16_t h[3], old;

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF) |
			    (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0));
	old = f.rx.avail_idx;
	h[0] = rx_post(&f, &len, 1, &gpa[0]);
	driver_kick(&f, 0, old);
	peer_send(&f, 700, 1);
	peer_send(&f, 30, 2);
	backend_event(&f, EPOLLIN);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.watched, 0);
	/* Only the first frame was taken. */
	ck_assert_int_eq(dev_next_len(&f), 30);

	old = f.rx.avail_idx;
	h[1] = rx_post(&f, &len, 1, &gpa[1]);
	h[2] = rx_post(&f, &len, 1, &gpa[2]);
	ck_assert_msg(driver_kick(&f, 0, old),
		      "the device waits for buffers but asked for no kick");
	expect_used(&f.rx, h[0], 256);
	expect_used(&f.rx, h[1], 256);
	expect_used(&f.rx, h[2], 188);
	{
		const uint32_t lens[3] = { len, len, len };

		expect_rx_bytes(&f, gpa, lens, 3, 700, 1, 3);
	}
	/* The second frame waits in turn, for the next buffer. */
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.watched, 0);
	old = f.rx.avail_idx;
	h[0] = rx_post(&f, &len, 1, &gpa[0]);
	ck_assert(driver_kick(&f, 0, old));
	expect_used(&f.rx, h[0], 30);
	expect_rx_bytes(&f, gpa, &len, 1, 30, 2, 1);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	ck_assert_uint_eq(stats(&f).rx_frames, 2);
	fx_fini(&f);
}

START_TEST(rx_merged_waits_for_enough_buffers)
{
	rx_merged_wait(false);
	rx_merged_wait(true);
}
END_TEST

/*
 * No receive buffers: one frame is read and held, the descriptor is no longer
 * watched for input, further frames stay in the socket; the driver's next
 * post resumes everything, in order.
 */
static void rx_backpressure(bool event_idx)
{
	static const uint32_t len = 512;
	struct fx f;
	uint64_t gpa[3];
	uint16_t h[3], old;

	fx_init(&f, BASE_FEATURES | (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0));
	peer_send(&f, 100, 1);
	peer_send(&f, 200, 2);
	peer_send(&f, 300, 3);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.watched, 0);
	ck_assert_int_eq(dev_next_len(&f), 200);
	/* A spurious wakeup reads nothing more. */
	backend_event(&f, EPOLLIN);
	ck_assert_int_eq(dev_next_len(&f), 200);
	ck_assert_uint_eq(f.watched, 0);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(stats(&f).rx_dropped, 0);

	old = f.rx.avail_idx;
	for (int i = 0; i < 3; i++)
		h[i] = rx_post(&f, &len, 1, &gpa[i]);
	ck_assert(driver_kick(&f, 0, old));
	for (int i = 0; i < 3; i++) {
		expect_used(&f.rx, h[i], 100 * (i + 1));
		expect_rx_bytes(&f, &gpa[i], &len, 1, 100 * (i + 1), i + 1, 1);
	}
	ck_assert_uint_eq(f.watched, EPOLLIN);
	ck_assert_int_eq(dev_next_len(&f), -1);
	ck_assert_uint_eq(stats(&f).rx_frames, 3);
	ck_assert_uint_eq(stats(&f).rx_dropped, 0);
	ck_assert_uint_ge(f.tr.signals, 1);
	fx_fini(&f);
}

START_TEST(rx_backpressure_holds_one_frame)
{
	rx_backpressure(false);
	rx_backpressure(true);
}
END_TEST

/* A kick on the receive queue while frames flow normally changes nothing. */
START_TEST(rx_kick_while_running)
{
	static const uint32_t len = 512;
	struct fx f;
	uint64_t gpa;
	uint16_t h;

	fx_init(&f, BASE_FEATURES);
	h = rx_post(&f, &len, 1, &gpa);
	f.ops->notify(f.net, 0);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	peer_send(&f, 64, 1);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h, 64);
	fx_fini(&f);
}
END_TEST

START_TEST(rx_hostile_chain_needs_reset)
{
	struct rb_seg segs[2] = { { .len = 64 }, { .len = 512, .write = true } };
	static const uint32_t len = 512;
	struct fx f;
	uint64_t gpa;

	/* A readable buffer in a receive chain, without and then with MRG_RXBUF. */
	fx_init(&f, BASE_FEATURES);
	rb_publish(&f.rx, rb_add_chain(&f.rx, segs, 2));
	peer_send(&f, 100, 1);
	peer_send(&f, 100, 2);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.tr.needs_reset, 1);
	expect_no_used(&f.rx);
	/*
	 * The descriptor stays readable (the second frame), so watching it
	 * now would spin the event loop until the driver resets the device.
	 */
	ck_assert_uint_eq(f.watched, 0);
	ck_assert_int_eq(dev_next_len(&f), 100);
	fx_fini(&f);

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	rx_post(&f, &len, 1, &gpa);
	segs[0].gpa = segs[1].gpa = 0;
	rb_publish(&f.rx, rb_add_chain(&f.rx, segs, 2));
	peer_send(&f, 1000, 1);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.tr.needs_reset, 1);
	expect_no_used(&f.rx);
	ck_assert_uint_eq(f.watched, 0);
	fx_fini(&f);

	/* A loop in the descriptor table: the queue breaks, the device asks for a reset. */
	fx_init(&f, BASE_FEATURES);
	{
		struct rb_seg w[2] = { { .len = 64, .write = true }, { .len = 64, .write = true } };
		uint16_t head = rb_add_chain(&f.rx, w, 2);

		rb_desc(&f.rx, (uint16_t)(head + 1))->next = htole16(head);
		rb_desc(&f.rx, (uint16_t)(head + 1))->flags |= htole16(VRING_DESC_F_NEXT);
		rb_publish(&f.rx, head);
	}
	peer_send(&f, 100, 1);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.tr.needs_reset, 1);
	expect_no_used(&f.rx);
	fx_fini(&f);
}
END_TEST

/* --- lifecycle -------------------------------------------------------------------- */

START_TEST(peer_gone_marks_dead)
{
	static const uint32_t len = 512;
	struct fx f;
	uint64_t gpa;
	uint16_t h;
	struct net_stats s;

	fx_init(&f, BASE_FEATURES);
	rx_post(&f, &len, 1, &gpa);
	ck_assert(!net_backend_dead(f.net));
	close(f.peer_fd);
	f.peer_fd = -1;
	backend_event(&f, EPOLLIN | EPOLLHUP);
	ck_assert(net_backend_dead(f.net));
	/* Its owner stops watching a dead descriptor. */
	ck_assert_uint_eq(f.watched, 0);
	expect_no_used(&f.rx);

	/* Transmit chains still come back, each one counted. */
	for (unsigned int i = 0; i < 3; i++) {
		h = tx_one(&f, 100, i);
		expect_used(&f.tx, h, 0);
	}
	s = stats(&f);
	ck_assert_uint_eq(s.tx_dropped, 3);
	ck_assert_uint_eq(s.tx_errors, 3);
	ck_assert_uint_eq(s.tx_frames, 0);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	/* A late event does not bring it back, and reads nothing. */
	backend_event(&f, EPOLLIN | EPOLLHUP);
	ck_assert(net_backend_dead(f.net));
	ck_assert_uint_eq(f.watched, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(notify_before_activate_ignored)
{
	struct fx f;
	uint16_t h;
	uint32_t len = 100;

	fx_create(&f, 0, false);
	/* Queues not even set up: kicks and events find a device that is not running. */
	f.ops->notify(f.net, 0);
	f.ops->notify(f.net, 1);
	backend_event(&f, EPOLLIN | EPOLLOUT);
	ck_assert_uint_eq(f.watch_calls, 0);

	/* Set up, a frame published, but no DRIVER_OK yet. */
	queues_setup(&f, false);
	h = tx_chain(&f, &len, 1, 1);
	rb_publish(&f.tx, h);
	peer_send(&f, 64, 2);
	f.ops->notify(f.net, 1);
	f.ops->notify(f.net, 0);
	backend_event(&f, EPOLLIN);
	expect_peer_empty(&f);
	expect_no_used(&f.tx);
	ck_assert_int_eq(dev_next_len(&f), 64);
	ck_assert_uint_eq(f.watch_calls, 0);

	/* Started, the next kick sends it. */
	ck_assert_int_eq(f.ops->activate(f.net, BASE_FEATURES), 0);
	ck_assert_uint_eq(f.watched, EPOLLIN);
	f.ops->notify(f.net, 1);
	expect_used(&f.tx, h, 0);
	expect_peer_frame(&f, len, 1);
	fx_fini(&f);
}
END_TEST

START_TEST(reset_then_activate_again)
{
	static const uint32_t len = 512;
	struct fx f;
	uint64_t gpa;
	uint16_t h;
	uint32_t tlen = 100;

	fx_init(&f, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	/* A frame held for want of buffers when the reset comes. */
	peer_send(&f, 300, 1);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.watched, 0);
	tx_one(&f, 80, 2);
	expect_peer_frame(&f, 80, 2);

	f.ops->reset(f.net);
	ck_assert_uint_eq(f.watched, 0);
	/* The transport resets the queues; a kick after that finds nothing running. */
	virtq_reset(f.tr.q[0]);
	virtq_reset(f.tr.q[1]);
	f.ops->notify(f.net, 0);
	f.ops->notify(f.net, 1);
	backend_event(&f, EPOLLIN);
	ck_assert_uint_eq(f.watched, 0);

	/* The driver lays out fresh rings and starts the device again. */
	rb_destroy(&f.rx);
	rb_destroy(&f.tx);
	rings_init(&f);
	fx_activate(&f, BASE_FEATURES);
	h = tx_chain(&f, &tlen, 1, 3);
	rb_publish(&f.tx, h);
	ck_assert(driver_kick(&f, 1, 0));
	expect_used(&f.tx, h, 0);
	expect_peer_frame(&f, tlen, 3);

	/* The frame held before the reset is gone with it; new ones arrive. */
	h = rx_post(&f, &len, 1, &gpa);
	peer_send(&f, 90, 4);
	backend_event(&f, EPOLLIN);
	expect_used(&f.rx, h, 90);
	expect_rx_bytes(&f, &gpa, &len, 1, 90, 4, 1);
	ck_assert_uint_eq(f.tr.needs_reset, 0);
	fx_fini(&f);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *cfg = tcase_create("config");
	TCase *tx = tcase_create("transmit");
	TCase *rx = tcase_create("receive");
	TCase *life = tcase_create("lifecycle");

	tcase_add_test(cfg, config_space_and_features);
	tcase_add_test(cfg, offloads_told_at_activate);
	tcase_add_test(cfg, activate_needs_both_queues);
	suite_add_tcase(s, cfg);

	tcase_add_test(tx, tx_frame_byte_exact);
	tcase_add_test(tx, tx_several_frames_one_kick);
	tcase_add_test(tx, tx_a_turn_has_a_budget);
	tcase_add_test(tx, tx_malformed_frames_dropped);
	tcase_add_test(tx, tx_backpressure_holds_the_frame);
	tcase_add_test(tx, tx_write_error_drops_one_frame);
	tcase_add_test(tx, tx_to_a_shut_down_socket);
	tcase_add_test(tx, tx_interrupt_suppressed);
	tcase_add_test(tx, tx_hostile_chain_needs_reset);
	suite_add_tcase(s, tx);

	tcase_add_test(rx, rx_one_buffer_per_frame);
	tcase_add_test(rx, rx_too_big_for_the_buffer);
	tcase_add_test(rx, rx_shorter_than_header_dropped);
	tcase_add_test(rx, rx_merged_buffers);
	tcase_add_test(rx, rx_largest_tap_frame);
	tcase_add_test(rx, rx_frame_too_long_to_read);
	tcase_add_test(rx, rx_merged_waits_for_enough_buffers);
	tcase_add_test(rx, rx_backpressure_holds_one_frame);
	tcase_add_test(rx, rx_kick_while_running);
	tcase_add_test(rx, rx_hostile_chain_needs_reset);
	suite_add_tcase(s, rx);

	tcase_add_test(life, peer_gone_marks_dead);
	tcase_add_test(life, notify_before_activate_ignored);
	tcase_add_test(life, reset_then_activate_again);
	suite_add_tcase(s, life);
	return s;
}

int main(void)
{
	return unit_run(net_suite());
}
