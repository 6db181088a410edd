// SPDX-License-Identifier: MIT
/*
 * ember-net's other mode, -netdev stream: frames between the virtio-net
 * device's socket (one frame per message, a 12-byte header in front) and a
 * Unix stream socket that a network daemon such as passt listens on (each
 * frame after a 4-byte big-endian length, no header), as QEMU's stream
 * netdev speaks to it.
 *
 * Backpressure both ways, memory bounded. Towards the daemon: one frame
 * from the guest waits while the daemon cannot take it, and the device's
 * socket is not read meanwhile (the guest's transmit waits for room, as with
 * a tap). Towards the guest: the daemon's bytes are read into a queue of
 * RELAY_QUEUE bytes while the device's socket is full, and only a full queue
 * stops the reading. passt drops a frame its socket cannot take and finds
 * out through its TCP timers, seconds later; a slow guest must not make it
 * do that. When the daemon goes away the frames it sent whole still reach
 * the guest, the guest's frames are dropped (the link is down) and, with
 * reconnect=, the connection is tried again every that many seconds.
 */
#include "config.h"

#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define FRAME_MIN 14	  /* an Ethernet header */
#define READS_PER_TURN 64 /* reads of either socket before the other gets a turn */
#define BATCH_MAX 32	  /* frames to the device in one call */

static void say(struct relay *r, const char *what, int err)
{
	time_t now = time(NULL);

	/* At most one line a second: a daemon that keeps dropping must not fill stderr. */
	if (now == r->last_warn)
		return;
	r->last_warn = now;
	fprintf(r->log, "ember: warning: %s: stream %s: %s%s%s\n", r->name, r->path, what,
		err ? ": " : "", err ? strerror(err) : "");
}

int relay_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(s);
		return -e;
	}
	return s;
}

int relay_init(struct relay *r, int dev, int conn, const char *name, const char *path,
	       unsigned int reconnect)
{
	memset(r, 0, offsetof(struct relay, out));
	r->q = malloc(RELAY_QUEUE);
	if (!r->q)
		return -ENOMEM;
	r->dev = dev;
	r->conn = conn;
	r->name = name;
	r->path = path;
	r->reconnect = reconnect;
	r->last_warn = (time_t)-1;
	r->log = stderr;
	return 0;
}

void relay_fini(struct relay *r)
{
	free(r->q);
	r->q = NULL;
	if (r->conn >= 0)
		close(r->conn);
	r->conn = -1;
}

static uint8_t q_byte(const struct relay *r, size_t i)
{
	return r->q[(r->q_head + i) % RELAY_QUEUE];
}

/* The length of the frame at offset `at` of the queue; the caller saw 4 bytes there. */
static uint32_t q_len_at(const struct relay *r, size_t at)
{
	return (uint32_t)q_byte(r, at) << 24 | (uint32_t)q_byte(r, at + 1) << 16 |
	       (uint32_t)q_byte(r, at + 2) << 8 | q_byte(r, at + 3);
}

static void q_consume(struct relay *r, size_t n)
{
	r->q_head = (r->q_head + n) % RELAY_QUEUE;
	r->q_len -= n;
}

/*
 * The connection is gone: what the daemon sent whole stays queued for the
 * guest; a frame cut short, and anything after a length out of range, goes.
 */
static void drop_conn(struct relay *r, const char *why, int err)
{
	size_t whole = 0;

	say(r, why, err);
	close(r->conn);
	r->conn = -1;
	while (r->q_len - whole >= 4) {
		uint32_t len = q_len_at(r, whole);

		if (len < FRAME_MIN || len > RELAY_FRAME_MAX || r->q_len - whole - 4 < len)
			break;
		whole += 4 + (size_t)len;
	}
	r->q_len = whole;
	r->out_off = r->out_len = 0;
	r->retry_at = r->reconnect ? time(NULL) + r->reconnect : 0;
	if (!r->reconnect)
		fprintf(r->log,
			"ember: warning: %s: stream %s: the guest's link stays down (no "
			"reconnect=)\n",
			r->name, r->path);
}

/* Writes what is pending for the daemon; false when the connection failed. */
static bool flush_out(struct relay *r)
{
	while (r->out_off < r->out_len) {
		ssize_t w = send(r->conn, r->out + r->out_off, r->out_len - r->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			drop_conn(r, "writing", errno);
			return false;
		}
		r->out_off += (size_t)w;
	}
	r->out_off = r->out_len = 0;
	return true;
}

/* Frames from the guest while the daemon takes them; false once ember has gone. */
static bool from_guest(struct relay *r)
{
	uint8_t hdr[RELAY_HDR_LEN];

	for (unsigned int n = READS_PER_TURN; n && r->out_len == 0; n--) {
		struct iovec iov[2] = { { hdr, sizeof(hdr) }, { r->out + 4, RELAY_FRAME_MAX } };
		ssize_t got = readv(r->dev, iov, 2);
		uint32_t len;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (got == 0)
			return false;
		/* Down, or no whole Ethernet header: gone, as on a cable pulled out. */
		if (r->conn < 0 || got < RELAY_HDR_LEN + FRAME_MIN)
			continue;
		len = (uint32_t)(got - RELAY_HDR_LEN);
		r->out[0] = (uint8_t)(len >> 24);
		r->out[1] = (uint8_t)(len >> 16);
		r->out[2] = (uint8_t)(len >> 8);
		r->out[3] = (uint8_t)len;
		r->out_len = 4 + len;
		if (!flush_out(r))
			return true;
	}
	return true;
}

/* Whole frames from the queue to the device, while it takes them, BATCH_MAX to a call. */
static void to_guest(struct relay *r)
{
	static const uint8_t zero[RELAY_HDR_LEN];

	while (!r->dev_full && r->q_len >= 4) {
		struct mmsghdr mm[BATCH_MAX];
		struct iovec iov[BATCH_MAX][3];
		size_t at = 0, lens[BATCH_MAX];
		unsigned int n = 0;
		int sent;

		/* The whole frames at the head of the queue, as parts of the ring. */
		while (n < BATCH_MAX && r->q_len - at >= 4) {
			uint32_t len = q_len_at(r, at);
			size_t start = (r->q_head + at + 4) % RELAY_QUEUE, first;

			if (len < FRAME_MIN || len > RELAY_FRAME_MAX || r->q_len - at - 4 < len)
				break;
			first = RELAY_QUEUE - start < len ? RELAY_QUEUE - start : len;
			iov[n][0] = (struct iovec){ (void *)zero, RELAY_HDR_LEN };
			iov[n][1] = (struct iovec){ r->q + start, first };
			iov[n][2] = (struct iovec){ r->q, len - first };
			mm[n] = (struct mmsghdr){
				.msg_hdr = { .msg_iov = iov[n], .msg_iovlen = len > first ? 3 : 2 }
			};
			lens[n++] = 4 + (size_t)len;
			at += 4 + (size_t)len;
		}
		if (n == 0) {
			uint32_t len = q_len_at(r, 0);

			if (len >= FRAME_MIN && len <= RELAY_FRAME_MAX)
				return; /* the head frame is not all here yet */
			/* Nothing after it can be framed: what came before is delivered. */
			if (r->conn >= 0)
				drop_conn(r, "a frame length out of range", 0);
			r->q_len = 0;
			return;
		}
		sent = sendmmsg(r->dev, mm, n, MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			/* Full; or ember's end is gone, which the device side's poll reports. */
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
			    errno == EPIPE || errno == ECONNRESET) {
				r->dev_full = true;
				return;
			}
			say(r, "a frame the device's socket refused", errno);
			sent = 1;
		}
		for (int i = 0; i < sent; i++)
			q_consume(r, lens[i]);
	}
}

static void from_daemon(struct relay *r)
{
	for (unsigned int n = READS_PER_TURN; n && r->conn >= 0 && r->q_len < RELAY_QUEUE; n--) {
		size_t tail = (r->q_head + r->q_len) % RELAY_QUEUE, room = RELAY_QUEUE - r->q_len;
		size_t first = RELAY_QUEUE - tail < room ? RELAY_QUEUE - tail : room;
		struct iovec iov[2] = { { r->q + tail, first }, { r->q, room - first } };
		ssize_t got = readv(r->conn, iov, room > first ? 2 : 1);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop_conn(r, "reading", errno);
			return;
		}
		if (got == 0) {
			drop_conn(r, "closed by the other end", 0);
			return;
		}
		/* The device's turn comes after: passt's socket is emptied first, for its next
		 * burst. */
		r->q_len += (size_t)got;
	}
}

int relay_events(struct relay *r, struct pollfd p[2])
{
	p[0] = (struct pollfd){ .fd = r->dev };
	p[1] = (struct pollfd){ .fd = r->conn };
	/* The guest's next frame only once the last is out; the daemon's only with room. */
	if (r->out_len == 0)
		p[0].events |= POLLIN;
	if (r->dev_full)
		p[0].events |= POLLOUT;
	if (r->conn >= 0) {
		if (r->q_len < RELAY_QUEUE)
			p[1].events |= POLLIN;
		if (r->out_len)
			p[1].events |= POLLOUT;
	} else if (r->retry_at) {
		time_t now = time(NULL);

		return r->retry_at > now ? (int)(r->retry_at - now) * 1000 : 0;
	}
	return -1;
}

bool relay_handle(struct relay *r, const struct pollfd p[2])
{
	if (r->conn < 0 && r->retry_at && time(NULL) >= r->retry_at) {
		int s = relay_connect(r->path);

		r->retry_at = 0;
		if (s >= 0) {
			r->conn = s;
			fprintf(r->log, "ember: %s: stream %s: connected again\n", r->name,
				r->path);
		} else {
			r->retry_at = time(NULL) + r->reconnect;
		}
	}
	/* ember closed its end: whatever either side still holds has nowhere to go. */
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
		return false;
	if (p[1].fd >= 0 && p[1].fd == r->conn) {
		if (p[1].revents & POLLOUT)
			flush_out(r);
		if (r->conn >= 0 && p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (r->q_len < RELAY_QUEUE)
				from_daemon(r);
			else if (p[1].revents & (POLLHUP | POLLERR))
				drop_conn(r, "closed by the other end", 0);
		}
	}
	if (p[0].revents & POLLOUT)
		r->dev_full = false;
	to_guest(r);
	if (p[0].revents & POLLIN)
		return from_guest(r);
	return true;
}

int relay_run(int dev, int conn, const char *name, const char *path, unsigned int reconnect)
{
	struct relay *r = malloc(sizeof(*r));
	int ret = 0;

	if (!r || relay_init(r, dev, conn, name, path, reconnect) < 0) {
		fprintf(stderr, "ember: %s: stream: out of memory\n", name);
		free(r);
		return 1;
	}
	for (;;) {
		struct pollfd p[2];
		int timeout = relay_events(r, p);

		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ember: %s: stream: poll: %s\n", name, strerror(errno));
			ret = 1;
			break;
		}
		if (!relay_handle(r, p))
			break;
	}
	relay_fini(r);
	free(r);
	return ret;
}
