// SPDX-License-Identifier: MIT
/*
 * ember-net: the user-mode networks of -nic user and -netdev stream, in a process of its own
 * (net/user.h says why and how ember starts it). It runs libslirp over one
 * end of a SOCK_SEQPACKET socketpair whose other end is the guest's
 * virtio-net device, until ember closes that end.
 *
 * Arguments, all from ember (net/user.c): --fd=N (the frames), --status=N (a
 * pipe: "ok" once every forward listens, else one line saying what failed,
 * then the exit), --name=S, --net=A --mask=A --host=A --dns=A --dhcpstart=A,
 * --ipv4=0|1 --ipv6=0|1 --restrict=0|1, --hostname=S --domainname=S (empty:
 * none), --uid=N --gid=N (taken once the forwards listen), --sandbox=0|1
 * (a seccomp filter once set up; see confine()), and any number of
 * --hostfwd=tcp|udp:HOSTADDR:HOSTPORT:GUESTADDR:GUESTPORT. With --stream=PATH
 * [--reconnect=SECONDS] it relays frames to the Unix socket at PATH instead
 * (-netdev stream, net/relay.c), and libslirp is not started.
 */
#include "config.h"

#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <seccomp.h>
#include <slirp/libslirp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN 12 /* struct virtio_net_hdr_v1 in front of every frame */
#define FRAME_MAX (HDR_LEN + 65536 + 14)
#define READ_BUDGET 64 /* frames from the guest between two polls of the sockets */
#define PFD_MAX 65536
#define SOCKBUF (1 << 20)
#define BATCH_MAX 64		/* frames for the guest written in one call */
#define BATCH_BYTES (256 << 10) /* room for them: a frame is at most FRAME_MAX */
/*
 * Frames for the guest that found its socket full wait here, this many bytes
 * at most (more than a TCP window libslirp opens to a guest): a burst waits
 * instead of being dropped, and the memory it may take is bounded.
 */
#define QUEUE_MAX (4 << 20)

struct qframe {
	struct qframe *next;
	size_t len;
	uint8_t data[];
};

struct timer {
	struct timer *next;
	SlirpTimerCb cb; /* NULL: slirp_handle_timer(id) */
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

static struct {
	Slirp *slirp;
	int fd;
	const char *name;
	struct timer *timers;
	struct pollfd *pfd;
	unsigned int npfd, cap;
	uint64_t dropped;
	struct qframe *qhead, **qtail;
	size_t queued; /* bytes in the queue */
	time_t last_warn;
	/* This turn's frames for the guest, not yet written (flush_batch). */
	unsigned int nbatch;
	size_t bused, boff[BATCH_MAX], blen[BATCH_MAX];
	uint8_t batch[BATCH_BYTES];
	uint8_t hdr[HDR_LEN];
	uint8_t buf[FRAME_MAX];
} nu = { .fd = -1, .name = "virtio-net", .qtail = &nu.qhead };

/* At most one line a second: a guest must not fill ember's standard error. */
static void warn(const char *fmt, ...)
{
	time_t now = time(NULL);
	va_list ap;

	if (now == nu.last_warn)
		return;
	nu.last_warn = now;
	fprintf(stderr, "ember: warning: %s: user networking: ", nu.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- libslirp's callbacks ------------------------------------------------------------ */

/* A frame for the guest's socket that found it full: to the queue, or past it dropped. */
static void enqueue(const void *buf, size_t len)
{
	struct qframe *f;

	/* TCP resends what is dropped, as on a real link. */
	if (nu.queued + len > QUEUE_MAX || !(f = malloc(sizeof(*f) + len))) {
		nu.dropped++;
		return;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->data, buf, len);
	*nu.qtail = f;
	nu.qtail = &f->next;
	nu.queued += len;
}

/*
 * Writes frames to the guest's socket, as many as it takes, in one call:
 * the count written (n at most); 0 when it is full. A write that fails for
 * good drops the frames (warned, counted) and counts them as written.
 */
static unsigned int put_frames(const uint8_t *const *bufs, const size_t *lens, unsigned int n)
{
	struct mmsghdr mm[BATCH_MAX];
	struct iovec iov[BATCH_MAX][2];
	unsigned int done = 0;

	for (unsigned int i = 0; i < n; i++) {
		iov[i][0] = (struct iovec){ nu.hdr, HDR_LEN };
		iov[i][1] = (struct iovec){ (void *)bufs[i], lens[i] };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = iov[i], .msg_iovlen = 2 } };
	}
	while (done < n) {
		int k = sendmmsg(nu.fd, mm + done, n - done, MSG_DONTWAIT);

		if (k > 0) {
			done += (unsigned int)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			break;
		nu.dropped += n - done;
		warn("a frame for the guest: %s", strerror(errno));
		return n;
	}
	return done;
}

/*
 * The frames libslirp sent during one turn of the loop go out together at
 * its end: one system call for them all and one wake-up of ember, not one
 * each, which under emulated CPUs is what a frame costs most.
 */
static void flush_batch(void)
{
	const uint8_t *bufs[BATCH_MAX];
	unsigned int sent;

	for (unsigned int i = 0; i < nu.nbatch; i++)
		bufs[i] = nu.batch + nu.boff[i];
	sent = nu.nbatch ? put_frames(bufs, nu.blen, nu.nbatch) : 0;
	for (unsigned int i = sent; i < nu.nbatch; i++)
		enqueue(bufs[i], nu.blen[i]);
	nu.nbatch = 0;
	nu.bused = 0;
}

/* Queued frames to the guest's socket while it takes them. */
static void flush_queue(void)
{
	while (nu.qhead) {
		const uint8_t *bufs[BATCH_MAX];
		size_t lens[BATCH_MAX];
		struct qframe *f = nu.qhead;
		unsigned int n = 0, sent;

		for (; f && n < BATCH_MAX; f = f->next, n++) {
			bufs[n] = f->data;
			lens[n] = f->len;
		}
		sent = put_frames(bufs, lens, n);
		for (unsigned int i = 0; i < sent; i++) {
			f = nu.qhead;
			nu.qhead = f->next;
			nu.queued -= f->len;
			free(f);
		}
		if (!nu.qhead)
			nu.qtail = &nu.qhead;
		if (sent < n)
			return;
	}
}

static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
	(void)opaque;
	/* Behind frames already waiting, in order. */
	if (nu.qhead) {
		enqueue(buf, len);
		return (ssize_t)len;
	}
	if (nu.nbatch == BATCH_MAX || nu.bused + len > sizeof(nu.batch)) {
		flush_batch();
		if (nu.qhead) {
			enqueue(buf, len);
			return (ssize_t)len;
		}
	}
	memcpy(nu.batch + nu.bused, buf, len);
	nu.boff[nu.nbatch] = nu.bused;
	nu.blen[nu.nbatch++] = len;
	nu.bused += len;
	return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	warn("the guest: %s", msg);
}

static int64_t clock_get_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *timer_add(SlirpTimerCb cb, SlirpTimerId id, void *cb_opaque)
{
	struct timer *t = calloc(1, sizeof(*t));

	if (!t) {
		fprintf(stderr, "ember: %s: user networking: out of memory\n", nu.name);
		exit(1);
	}
	*t = (struct timer){ nu.timers, cb, id, cb_opaque, -1 };
	nu.timers = t;
	return t;
}

static void *timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	(void)opaque;
	return timer_add(cb, SLIRP_TIMER_NUM, cb_opaque);
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	(void)opaque;
	return timer_add(NULL, id, cb_opaque);
}

static void timer_free(void *timer, void *opaque)
{
	(void)opaque;
	for (struct timer **p = &nu.timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct timer *)timer)->expire_ms = expire_ms < 0 ? 0 : expire_ms;
}

/* Every socket is polled as each fill asks; nothing to keep per socket. */
static void poll_fd_change(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* The loop polls again after every call into libslirp: nothing to wake. */
static void notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb callbacks = {
	.send_packet = send_packet,
	.guest_error = guest_error,
	.clock_get_ns = clock_get_ns,
	.timer_new = timer_new,
	.timer_free = timer_free,
	.timer_mod = timer_mod,
	.register_poll_fd = poll_fd_change,
	.unregister_poll_fd = poll_fd_change,
	.notify = notify,
	.timer_new_opaque = timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
	short ev = 0;

	(void)opaque;
	if (nu.npfd == nu.cap) {
		unsigned int cap = 2 * nu.cap;
		struct pollfd *p;

		if (cap > PFD_MAX || !(p = realloc(nu.pfd, cap * sizeof(*p))))
			return -1;
		nu.pfd = p;
		nu.cap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	nu.pfd[nu.npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)nu.npfd++;
}

static int get_revents(int idx, void *opaque)
{
	short re;
	int ev = 0;

	(void)opaque;
	if (idx < 1 || (unsigned int)idx >= nu.npfd)
		return 0;
	re = nu.pfd[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & (POLLERR | POLLNVAL))
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* --- the loop ------------------------------------------------------------------------ */

/* Frames from the guest; false once ember has gone (its end closed). */
static bool from_guest(void)
{
	for (unsigned int budget = READ_BUDGET; budget; budget--) {
		ssize_t r = read(nu.fd, nu.buf, sizeof(nu.buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			return errno != ECONNRESET && errno != EPIPE;
		}
		if (r == 0)
			return false;
		if (r > HDR_LEN)
			slirp_input(nu.slirp, nu.buf + HDR_LEN, (int)(r - HDR_LEN));
	}
	return true;
}

static void run_timers(void)
{
	int64_t now = now_ms();
	bool again;

	/* A callback may free or re-arm timers: start over after each. */
	do {
		again = false;
		for (struct timer *t = nu.timers; t; t = t->next) {
			if (t->expire_ms < 0 || t->expire_ms > now)
				continue;
			t->expire_ms = -1;
			if (t->cb)
				t->cb(t->cb_opaque);
			else
				slirp_handle_timer(nu.slirp, t->id, t->cb_opaque);
			again = true;
			break;
		}
	} while (again);
}

static int run(void)
{
	for (;;) {
		uint32_t timeout = 1000;
		int64_t now = now_ms();
		int r;

		/* What libslirp sent in the last turn, before the socket's events are chosen. */
		flush_batch();
		nu.npfd = 0;
		add_poll(nu.fd, SLIRP_POLL_IN | (nu.qhead ? SLIRP_POLL_OUT : 0), NULL);
		slirp_pollfds_fill(nu.slirp, &timeout, add_poll, NULL);
		for (struct timer *t = nu.timers; t; t = t->next) {
			if (t->expire_ms < 0)
				continue;
			if (t->expire_ms <= now)
				timeout = 0;
			else if ((uint64_t)(t->expire_ms - now) < timeout)
				timeout = (uint32_t)(t->expire_ms - now);
		}
		r = poll(nu.pfd, nu.npfd, timeout > INT_MAX ? INT_MAX : (int)timeout);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "ember: %s: user networking: poll: %s\n", nu.name,
				strerror(errno));
			return 1;
		}
		if (r > 0 && (nu.pfd[0].revents & POLLOUT))
			flush_queue();
		if (r > 0 && (nu.pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !from_guest())
			return 0;
		run_timers();
		slirp_pollfds_poll(nu.slirp, r < 0, get_revents, NULL);
	}
}

/* --- set-up --------------------------------------------------------------------------- */

static const char *arg(const char *a, const char *key)
{
	size_t n = strlen(key);

	return strncmp(a, key, n) == 0 && a[n] == '=' ? a + n + 1 : NULL;
}

static bool addr(const char *s, struct in_addr *out)
{
	return inet_pton(AF_INET, s, out) == 1;
}

static bool number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return *s && !*end && !errno && *out <= max;
}

/* tcp|udp:HOSTADDR:HOSTPORT:GUESTADDR:GUESTPORT, as net/user.c writes it. */
static int hostfwd(const char *rule, FILE *status)
{
	char proto[4], haddr[INET_ADDRSTRLEN], gaddr[INET_ADDRSTRLEN], tail;
	unsigned int hport, gport;
	struct in_addr h, g;

	if (sscanf(rule, "%3[a-z]:%15[0-9.]:%5u:%15[0-9.]:%5u%c", proto, haddr, &hport, gaddr,
		   &gport, &tail) != 5 ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || !addr(haddr, &h) ||
	    !addr(gaddr, &g) || !hport || hport > 65535 || !gport || gport > 65535) {
		fprintf(status, "hostfwd: malformed rule %s\n", rule);
		return -1;
	}
	errno = 0;
	if (slirp_add_hostfwd(nu.slirp, proto[0] == 'u', h, (int)hport, g, (int)gport) < 0) {
		fprintf(status, "hostfwd: cannot listen on %s %s:%u (%s)\n",
			proto[0] == 'u' ? "UDP" : "TCP", haddr, hport,
			strerror(errno ? errno : EADDRINUSE));
		return -1;
	}
	return 0;
}

static int start_slirp(const SlirpConfig *sc, int argc, char **argv, FILE *status);

/*
 * After set-up (every forward listens, the first connection is made, the
 * user is -runas's): a seccomp filter with what libslirp and the relay do
 * for a guest's traffic, and nothing else; -sandbox off leaves it out, as
 * for ember. Anything else fails with EPERM rather than killing, so that a
 * path of libslirp's not foreseen here costs one connection, not the
 * guest's network; the calls themselves (exec, ptrace, writing files...)
 * never run. Sanitizer builds are left unconfined: their runtimes need much
 * more. 0, or a negative errno.
 */
static int confine(void)
{
	static const int calls[] = {
		SCMP_SYS(read),
		SCMP_SYS(write),
		SCMP_SYS(readv),
		SCMP_SYS(writev),
		SCMP_SYS(close),
		SCMP_SYS(poll),
		SCMP_SYS(ppoll),
		SCMP_SYS(clock_gettime),
		SCMP_SYS(gettimeofday),
		SCMP_SYS(time),
		SCMP_SYS(exit),
		SCMP_SYS(exit_group),
		SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(restart_syscall),
		SCMP_SYS(futex),
		SCMP_SYS(brk),
		SCMP_SYS(munmap),
		SCMP_SYS(mremap),
		SCMP_SYS(madvise),
		SCMP_SYS(getpid),
		SCMP_SYS(gettid),
		SCMP_SYS(getrandom),
		SCMP_SYS(connect),
		SCMP_SYS(accept),
		SCMP_SYS(accept4),
		SCMP_SYS(bind),
		SCMP_SYS(listen),
		SCMP_SYS(sendto),
		SCMP_SYS(recvfrom),
		SCMP_SYS(sendmsg),
		SCMP_SYS(sendmmsg),
		SCMP_SYS(recvmsg),
		SCMP_SYS(shutdown),
		SCMP_SYS(getsockopt),
		SCMP_SYS(setsockopt),
		SCMP_SYS(getsockname),
		SCMP_SYS(getpeername),
		SCMP_SYS(fcntl),
		SCMP_SYS(fstat),
		SCMP_SYS(newfstatat),
		SCMP_SYS(lseek),
	};
	static const int domains[] = { AF_INET, AF_INET6, AF_UNIX };
	scmp_filter_ctx ctx;
	int ret = 0;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return 0;
#endif
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; ret == 0 && i < sizeof(calls) / sizeof(calls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
	/* The guest's connections and the relay's: IP and Unix sockets alone. */
	for (size_t i = 0; ret == 0 && i < sizeof(domains) / sizeof(domains[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)domains[i]));
	/* Memory for malloc, never executable. */
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* libslirp reads /etc/resolv.conf again when it changes: reading, no more. */
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ,
					       O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY));
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, FIONBIO));
	if (ret == 0)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

int main(int argc, char **argv)
{
	SlirpConfig sc = { .version = 4, .in_enabled = true, .in6_enabled = true };
	unsigned long fd = ULONG_MAX, sfd = ULONG_MAX, uid = ULONG_MAX, gid = ULONG_MAX, n;
	unsigned long reconnect = 0, sandbox = 1;
	const char *stream = NULL;
	FILE *status;
	int size = SOCKBUF, conn = -1, ret;
	bool ok = true;

	/* ember's end closing is the way out; a dead ember must not leave this behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *v;

		if ((v = arg(argv[i], "--fd")))
			ok &= number(v, INT_MAX, &fd);
		else if ((v = arg(argv[i], "--status")))
			ok &= number(v, INT_MAX, &sfd);
	}
	if (!ok || fd == ULONG_MAX || sfd == ULONG_MAX || !(status = fdopen((int)sfd, "w"))) {
		fprintf(stderr, "ember-net: ember starts this program, with --fd= and "
				"--status=\n");
		return 2;
	}
	setvbuf(status, NULL, _IOLBF, 0);
	nu.fd = (int)fd;
	inet_pton(AF_INET6, "fec0::", &sc.vprefix_addr6);
	sc.vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &sc.vhost6);
	inet_pton(AF_INET6, "fec0::3", &sc.vnameserver6);
	for (int i = 1; i < argc && ok; i++) {
		const char *a = argv[i], *v;

		if ((v = arg(a, "--fd")) || (v = arg(a, "--status")) || (v = arg(a, "--hostfwd")))
			continue;
		if ((v = arg(a, "--name")))
			nu.name = v;
		else if ((v = arg(a, "--net")))
			ok = addr(v, &sc.vnetwork);
		else if ((v = arg(a, "--mask")))
			ok = addr(v, &sc.vnetmask);
		else if ((v = arg(a, "--host")))
			ok = addr(v, &sc.vhost);
		else if ((v = arg(a, "--dns")))
			ok = addr(v, &sc.vnameserver);
		else if ((v = arg(a, "--dhcpstart")))
			ok = addr(v, &sc.vdhcp_start);
		else if ((v = arg(a, "--ipv4")) && (ok = number(v, 1, &n)))
			sc.in_enabled = n;
		else if ((v = arg(a, "--ipv6")) && (ok = number(v, 1, &n)))
			sc.in6_enabled = n;
		else if ((v = arg(a, "--restrict")) && (ok = number(v, 1, &n)))
			sc.restricted = (int)n;
		else if ((v = arg(a, "--hostname")))
			sc.vhostname = *v ? v : NULL;
		else if ((v = arg(a, "--domainname")))
			sc.vdomainname = *v ? v : NULL;
		else if ((v = arg(a, "--uid")))
			ok = number(v, UINT_MAX - 1, &uid);
		else if ((v = arg(a, "--gid")))
			ok = number(v, UINT_MAX - 1, &gid);
		else if ((v = arg(a, "--stream")))
			stream = v;
		else if ((v = arg(a, "--reconnect")))
			ok = number(v, 3600, &reconnect);
		else if ((v = arg(a, "--sandbox")))
			ok = number(v, 1, &sandbox);
		else if (!v)
			ok = false;
		if (!ok)
			fprintf(status, "ember-net: bad argument %s\n", a);
	}
	if (!ok)
		return 2;
	setsockopt(nu.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* The loops read until there is nothing left and write what fits, never waiting. */
	if (fcntl(nu.fd, F_SETFL, fcntl(nu.fd, F_GETFL) | O_NONBLOCK) < 0) {
		fprintf(status, "--fd=%lu: %s\n", fd, strerror(errno));
		return 2;
	}
	if (stream) {
		/* -netdev stream: the daemon must be there at start; later it may come and go. */
		conn = relay_connect(stream);
		if (conn < 0) {
			fprintf(status, "cannot connect to %s (%s)\n", stream, strerror(-conn));
			return 2;
		}
	} else if (start_slirp(&sc, argc, argv, status) < 0) {
		return 2;
	}
	/* Once every forward listens (a port below 1024 may need root): ember's -runas. */
	if (gid != ULONG_MAX && (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0)) {
		fprintf(status, "taking group %lu: %s\n", gid, strerror(errno));
		return 1;
	}
	if (uid != ULONG_MAX && setuid((uid_t)uid) < 0) {
		fprintf(status, "taking user %lu: %s\n", uid, strerror(errno));
		return 1;
	}
	if (sandbox && (n = (unsigned long)-confine()) != 0) {
		fprintf(status, "confining itself (seccomp): %s\n", strerror((int)n));
		return 1;
	}
	fprintf(status, "ok\n");
	fclose(status);
	if (stream)
		return relay_run(nu.fd, conn, nu.name, stream, (unsigned int)reconnect);
	ret = run();
	/* As ember reports its device's counts at exit: what never reached the guest. */
	if (nu.dropped)
		fprintf(stderr,
			"ember: %s: user networking: %llu frames for the guest dropped (its "
			"buffers full and %u MiB waiting, or its socket failed)\n",
			nu.name, (unsigned long long)nu.dropped, QUEUE_MAX >> 20);
	return ret;
}

/* libslirp's network and its forwards; -1 with the reason on `status`. */
static int start_slirp(const SlirpConfig *sc, int argc, char **argv, FILE *status)
{
	nu.cap = 64;
	nu.pfd = calloc(nu.cap, sizeof(*nu.pfd));
	if (!nu.pfd) {
		fprintf(status, "out of memory\n");
		return -1;
	}
	nu.slirp = slirp_new(sc, &callbacks, NULL);
	if (!nu.slirp) {
		fprintf(status, "libslirp refused the network's configuration\n");
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *v = arg(argv[i], "--hostfwd");

		if (v && hostfwd(v, status) < 0)
			return -1;
	}
	return 0;
}
