// SPDX-License-Identifier: MIT
/*
 * ember-net's other mode, -netdev stream: frames between the virtio-net
 * device's socket (one frame per message, a 12-byte header in front) and a
 * Unix stream socket that a network daemon such as passt listens on (each
 * frame after a 4-byte big-endian length, no header), as QEMU's stream
 * netdev speaks to it.
 *
 * Backpressure both ways, memory bounded: one frame from the guest waits
 * while the daemon cannot take it, and the device's socket is not read
 * meanwhile (the guest's transmit waits for room, as with a tap); frames from
 * the daemon wait in one buffer while the device's socket is full, and the
 * daemon's socket is not read meanwhile. When the daemon goes away the
 * guest's frames are dropped (the link is down) and, with reconnect=, the
 * connection is tried again every that many seconds.
 */
#include "config.h"

#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN 12
#define FRAME_MAX (65536 + 14)	/* the largest frame either side may send */
#define IN_MAX (4 + FRAME_MAX)	/* one length and frame from the daemon */
#define OUT_MAX (4 + FRAME_MAX) /* one length and frame for it */
#define FRAMES_PER_TURN 64

static struct {
	const char *name;
	const char *path;
	unsigned int reconnect;
	int dev, conn;
	uint8_t hdr[HDR_LEN];
	/* From the daemon: in[0, in_len) read, not yet handed to the device. */
	uint8_t in[IN_MAX];
	size_t in_len;
	/* For the daemon: out[out_off, out_len) not yet written. */
	uint8_t out[OUT_MAX];
	size_t out_off, out_len;
	bool dev_full; /* the device's socket took no more: wait for POLLOUT */
	time_t retry_at;
	time_t last_warn;
} r = { .dev = -1, .conn = -1 };

static void say(const char *what, int err)
{
	time_t now = time(NULL);

	/* At most one line a second: a daemon that keeps dropping must not fill stderr. */
	if (now == r.last_warn)
		return;
	r.last_warn = now;
	fprintf(stderr, "ember: warning: %s: stream %s: %s%s%s\n", r.name, r.path, what,
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

static void drop_conn(const char *why, int err)
{
	say(why, err);
	close(r.conn);
	r.conn = -1;
	r.in_len = 0;
	r.out_off = r.out_len = 0;
	r.dev_full = false;
	r.retry_at = r.reconnect ? time(NULL) + r.reconnect : 0;
	if (!r.reconnect)
		say("gone; the guest's link stays down (no reconnect=)", 0);
}

/* Writes what is pending for the daemon; false when the connection failed. */
static bool flush_out(void)
{
	while (r.out_off < r.out_len) {
		ssize_t w = send(r.conn, r.out + r.out_off, r.out_len - r.out_off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			drop_conn("writing", errno);
			return false;
		}
		r.out_off += (size_t)w;
	}
	r.out_off = r.out_len = 0;
	return true;
}

/* Frames from the guest while the daemon takes them; false once ember has gone. */
static bool from_guest(void)
{
	uint8_t buf[HDR_LEN + FRAME_MAX];

	for (unsigned int n = FRAMES_PER_TURN; n && r.out_len == 0; n--) {
		ssize_t got = read(r.dev, buf, sizeof(buf));
		uint32_t len;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		if (got == 0)
			return false;
		/* Down, or a frame shorter than its header: gone, as on a cable pulled out. */
		if (r.conn < 0 || got <= HDR_LEN)
			continue;
		len = (uint32_t)(got - HDR_LEN);
		r.out[0] = (uint8_t)(len >> 24);
		r.out[1] = (uint8_t)(len >> 16);
		r.out[2] = (uint8_t)(len >> 8);
		r.out[3] = (uint8_t)len;
		memcpy(r.out + 4, buf + HDR_LEN, len);
		r.out_len = 4 + len;
		if (!flush_out())
			return true;
	}
	return true;
}

/* Complete frames in r.in to the device, while it takes them. */
static void to_guest(void)
{
	size_t off = 0;

	while (r.in_len - off >= 4) {
		uint32_t len = (uint32_t)r.in[off] << 24 | (uint32_t)r.in[off + 1] << 16 |
			       (uint32_t)r.in[off + 2] << 8 | r.in[off + 3];
		struct iovec iov[2] = { { r.hdr, HDR_LEN }, { r.in + off + 4, len } };

		if (len < 14 || len > FRAME_MAX) {
			memmove(r.in, r.in + off, r.in_len - off);
			r.in_len -= off;
			drop_conn("a frame length out of range", 0);
			return;
		}
		if (r.in_len - off < 4 + len)
			break;
		if (writev(r.dev, iov, 2) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				r.dev_full = true;
				break;
			}
			/* ember's end is gone: the main loop sees it. */
			break;
		}
		off += 4 + len;
	}
	memmove(r.in, r.in + off, r.in_len - off);
	r.in_len -= off;
}

static void from_daemon(void)
{
	for (unsigned int n = FRAMES_PER_TURN; n && r.conn >= 0 && !r.dev_full; n--) {
		ssize_t got;

		if (r.in_len == sizeof(r.in))
			return;
		got = recv(r.conn, r.in + r.in_len, sizeof(r.in) - r.in_len, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				drop_conn("reading", errno);
			return;
		}
		if (got == 0) {
			drop_conn("closed by the other end", 0);
			return;
		}
		r.in_len += (size_t)got;
		to_guest();
	}
}

int relay_run(int dev, int conn, const char *name, const char *path, unsigned int reconnect)
{
	r.dev = dev;
	r.conn = conn;
	r.name = name;
	r.path = path;
	r.reconnect = reconnect;
	for (;;) {
		struct pollfd p[2] = { { .fd = r.dev }, { .fd = r.conn } };
		int timeout = -1, ret;

		/* The guest's next frame only once the last is out; the daemon's only with room. */
		if (r.out_len == 0)
			p[0].events |= POLLIN;
		if (r.dev_full)
			p[0].events |= POLLOUT;
		if (r.conn >= 0) {
			if (!r.dev_full)
				p[1].events |= POLLIN;
			if (r.out_len)
				p[1].events |= POLLOUT;
		} else if (r.retry_at) {
			time_t now = time(NULL);

			timeout = r.retry_at > now ? (int)(r.retry_at - now) * 1000 : 0;
		}
		ret = poll(p, 2, timeout);
		if (ret < 0 && errno != EINTR) {
			fprintf(stderr, "ember: %s: stream: poll: %s\n", r.name, strerror(errno));
			return 1;
		}
		if (r.conn < 0 && r.retry_at && time(NULL) >= r.retry_at) {
			int s = relay_connect(r.path);

			r.retry_at = 0;
			if (s >= 0) {
				r.conn = s;
				fprintf(stderr, "ember: %s: stream %s: connected again\n", r.name,
					r.path);
			} else {
				r.retry_at = time(NULL) + r.reconnect;
			}
			continue;
		}
		if (ret <= 0)
			continue;
		if (p[1].revents & POLLOUT && r.conn >= 0)
			flush_out();
		if (p[0].revents & POLLOUT) {
			r.dev_full = false;
			to_guest();
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && r.conn >= 0)
			from_daemon();
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR) && !from_guest())
			return 0;
	}
}
