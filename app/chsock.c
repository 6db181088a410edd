// SPDX-License-Identifier: MIT
#include "config.h"

#include "chsock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"

/* Pieces read in one callback, so that one busy client cannot hold the loop. */
#define CHSOCK_PIECES_PER_TURN 16

struct chsock {
	struct evloop *loop;
	struct chsock_ops ops;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int client;	  /* -1: none */
	uint32_t watched; /* the client's events in the loop; 0: not in it */
	bool in_paused;	  /* the guest left input waiting in `in` */
	bool out_blocked; /* a send came up short: wait for EPOLLOUT */
	bool peer_gone;	  /* hung up; what it sent is still read */
	bool failed;	  /* a send failed: disconnect on the next event */
	size_t in_off, in_len;
	uint8_t in[CHSOCK_INPUT_PIECE];
};

static void client_event(void *opaque, uint32_t events);

/* Watches the client for what is wanted now, or not at all. */
static void update_watch(struct chsock *s)
{
	uint32_t want = 0;
	int ret = 0;

	if (s->client < 0)
		return;
	if (!s->in_paused)
		want |= EPOLLIN | EPOLLRDHUP;
	if (s->out_blocked && !s->peer_gone)
		want |= EPOLLOUT;
	/*
	 * A hung-up socket reports EPOLLHUP whatever the mask; while the
	 * guest holds input back it would wake the loop for nothing, so it
	 * leaves the loop instead until there is something to do.
	 */
	if (s->peer_gone && s->in_paused)
		want = 0;
	if (s->failed)
		want = EPOLLIN | EPOLLOUT; /* ready at once: client_event() ends it */
	if (want == s->watched)
		return;
	if (!want)
		ret = evloop_del(s->loop, s->client);
	else if (!s->watched)
		ret = evloop_add(s->loop, s->client, want, client_event, s);
	else
		ret = evloop_mod(s->loop, s->client, want);
	if (ret < 0)
		log_warn("chardev socket %s: watching the client failed (%s)", s->path,
			 strerror(-ret));
	s->watched = want;
}

static void disconnect(struct chsock *s)
{
	if (s->client < 0)
		return;
	if (s->watched)
		evloop_del(s->loop, s->client);
	close(s->client);
	s->client = -1;
	s->watched = 0;
	s->in_paused = s->out_blocked = s->peer_gone = s->failed = false;
	s->in_off = s->in_len = 0;
	evloop_mod(s->loop, s->listen_fd, EPOLLIN);
	log_info("chardev socket %s: the client went away", s->path);
	s->ops.connected(s->ops.opaque, false);
}

/* Offers what waits in `in`; false when the guest did not take it all. */
static bool offer(struct chsock *s)
{
	while (s->in_off < s->in_len) {
		size_t took = s->ops.input(s->ops.opaque, s->in + s->in_off, s->in_len - s->in_off);

		if (!took)
			return false;
		s->in_off += took < s->in_len - s->in_off ? took : s->in_len - s->in_off;
	}
	s->in_off = s->in_len = 0;
	return true;
}

/* Reads and offers pieces until the guest is full, the socket empty, or the turn over. */
static void read_client(struct chsock *s)
{
	for (unsigned int i = 0; i < CHSOCK_PIECES_PER_TURN; i++) {
		ssize_t n;

		if (!offer(s)) {
			s->in_paused = true;
			return;
		}
		/* A piece read now would wait for an event the socket may never give. */
		if (i == CHSOCK_PIECES_PER_TURN - 1)
			return;
		n = read(s->client, s->in, sizeof(s->in));
		if (n > 0) {
			s->in_len = (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		disconnect(s); /* end of file, or the connection failed */
		return;
	}
}

static void client_event(void *opaque, uint32_t events)
{
	struct chsock *s = opaque;

	if (s->failed) {
		disconnect(s);
		return;
	}
	if (events & EPOLLOUT) {
		s->out_blocked = false;
		s->ops.writable(s->ops.opaque);
	}
	if (s->client < 0)
		return;
	if (events & (EPOLLHUP | EPOLLERR))
		s->peer_gone = true;
	if (!s->in_paused)
		read_client(s);
	else if (s->peer_gone)
		s->out_blocked = false; /* nothing will drain it */
	update_watch(s);
}

static void listen_event(void *opaque, uint32_t events)
{
	struct chsock *s = opaque;
	int fd;

	(void)events;
	if (s->client >= 0)
		return;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return; /* gone again before we took it, or out of descriptors: try later */
	s->client = fd;
	evloop_mod(s->loop, s->listen_fd, 0);
	update_watch(s);
	log_info("chardev socket %s: a client connected", s->path);
	s->ops.connected(s->ops.opaque, true);
}

int chsock_open(struct chsock **out, const char *path, struct evloop *loop,
		const struct chsock_ops *ops)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct chsock *s;
	int ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->ops = *ops;
	s->client = -1;
	memcpy(s->path, path, strlen(path) + 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		ret = -errno;
		free(s);
		return ret;
	}
	unlink(path); /* a socket file left by an earlier run */
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->listen_fd, 1) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = evloop_add(loop, s->listen_fd, EPOLLIN, listen_event, s);
	if (ret < 0) {
		unlink(path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	close(s->listen_fd);
	free(s);
	return ret;
}

void chsock_close(struct chsock *s)
{
	if (!s)
		return;
	if (s->client >= 0) {
		if (s->watched)
			evloop_del(s->loop, s->client);
		close(s->client);
	}
	evloop_del(s->loop, s->listen_fd);
	close(s->listen_fd);
	unlink(s->path);
	free(s);
}

size_t chsock_write(struct chsock *s, const void *buf, size_t len)
{
	ssize_t n;

	if (!chsock_connected(s) || !len)
		return 0;
	n = send(s->client, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* Not from inside the caller's write: the loop's next turn disconnects. */
		s->failed = true;
		update_watch(s);
		return 0;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n < len) {
		s->out_blocked = true;
		update_watch(s);
	}
	return (size_t)n;
}

size_t chsock_write_wait(struct chsock *s, const void *buf, size_t len, int timeout_ms)
{
	struct timespec t0, t;
	size_t done = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < len && chsock_connected(s)) {
		struct pollfd p = { .fd = s->client, .events = POLLOUT };
		long left;

		done += chsock_write(s, (const uint8_t *)buf + done, len - done);
		if (done == len)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms -
		       ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
	}
	return done;
}

void chsock_input_ready(struct chsock *s)
{
	if (s->client < 0 || !s->in_paused)
		return;
	s->in_paused = false;
	read_client(s);
	/* A client that hung up and whose last bytes are now taken is done. */
	if (s->client >= 0 && s->peer_gone && !s->in_paused) {
		disconnect(s);
		return;
	}
	update_watch(s);
}

bool chsock_connected(const struct chsock *s)
{
	return s->client >= 0 && !s->peer_gone && !s->failed;
}
