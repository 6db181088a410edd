// SPDX-License-Identifier: MIT
#include "config.h"

#include "user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELPER "ember-net"
#define ARGS_MAX (20 + NETUSER_MAX_HOSTFWD)
#define ARG_LEN 320 /* a domain name is up to 253 bytes */
#define STATUS_TIMEOUT_MS 10000
/* The helper's descriptors: above the standard three, where nothing else lands. */
#define CHILD_FD 3
#define CHILD_STATUS 4

extern char **environ;

/* Next to ember's own executable (a build tree, or an install), else where it installs. */
static int find_helper(char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(path, len, "%s/%s", self, HELPER) < len &&
			    access(path, X_OK) == 0)
				return 0;
		}
	}
	if ((size_t)snprintf(path, len, "%s/%s", EMBER_LIBEXECDIR, HELPER) < len &&
	    access(path, X_OK) == 0)
		return 0;
	return -ENOENT;
}

struct args {
	char buf[ARGS_MAX][ARG_LEN];
	char *argv[ARGS_MAX + 1];
	unsigned int n;
	bool cut; /* an argument did not fit */
};

__attribute__((format(printf, 2, 3))) static void arg(struct args *a, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (a->n == ARGS_MAX) {
		a->cut = true;
		return;
	}
	va_start(ap, fmt);
	len = vsnprintf(a->buf[a->n], ARG_LEN, fmt, ap);
	va_end(ap);
	a->cut |= len < 0 || len >= ARG_LEN;
	a->argv[a->n] = a->buf[a->n];
	a->argv[++a->n] = NULL;
}

static void arg_ip(struct args *a, const char *key, struct in_addr addr)
{
	char s[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, s, sizeof(s));
	arg(a, "--%s=%s", key, s);
}

/* The helper's command line; false when a string will not fit (never from ember's CLI). */
static bool helper_args(const struct netuser_config *cfg, const char *path, struct args *a)
{
	a->n = 0;
	a->cut = false;
	arg(a, "%s", path);
	arg(a, "--fd=%d", CHILD_FD);
	arg(a, "--status=%d", CHILD_STATUS);
	arg(a, "--name=%s", cfg->name);
	arg(a, "--sandbox=%d", cfg->sandbox);
	if (cfg->uid != (uid_t)-1)
		arg(a, "--uid=%u", (unsigned int)cfg->uid);
	if (cfg->gid != (gid_t)-1)
		arg(a, "--gid=%u", (unsigned int)cfg->gid);
	if (cfg->stream) {
		arg(a, "--stream=%s", cfg->stream);
		arg(a, "--reconnect=%u", cfg->reconnect);
		return !a->cut;
	}
	arg_ip(a, "net", cfg->net);
	arg_ip(a, "mask", cfg->mask);
	arg_ip(a, "host", cfg->host);
	arg_ip(a, "dns", cfg->dns);
	arg_ip(a, "dhcpstart", cfg->dhcpstart);
	arg(a, "--ipv4=%d", cfg->ipv4);
	arg(a, "--ipv6=%d", cfg->ipv6);
	arg(a, "--restrict=%d", cfg->restricted);
	arg(a, "--hostname=%s", cfg->hostname ? cfg->hostname : "");
	arg(a, "--domainname=%s", cfg->domainname ? cfg->domainname : "");
	for (unsigned int i = 0; i < cfg->nr_hostfwd && i < NETUSER_MAX_HOSTFWD; i++) {
		const struct netuser_hostfwd *h = &cfg->hostfwd[i];
		char ha[INET_ADDRSTRLEN], ga[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &h->host_addr, ha, sizeof(ha));
		inet_ntop(AF_INET, &h->guest_addr, ga, sizeof(ga));
		arg(a, "--hostfwd=%s:%s:%u:%s:%u", h->udp ? "udp" : "tcp", ha, h->host_port, ga,
		    h->guest_port);
	}
	return !a->cut;
}

/* The helper's answer: "ok", or what failed. 0, -EINVAL (refused), or -EIO. */
static int read_status(int fd, pid_t pid, const char *name, const char *kind, char *err,
		       size_t err_len)
{
	char line[256];
	size_t got = 0;
	int status;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int ret = poll(&p, 1, STATUS_TIMEOUT_MS);

		if (ret == 0) {
			snprintf(err, err_len, "%s: %s: %s did not start", name, kind, HELPER);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		r = read(fd, line + got, sizeof(line) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == sizeof(line) - 1 || memchr(line, '\n', got))
			break;
	}
	line[got] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "ok") == 0)
		return 0;
	/* It refused (and ends by itself) or died: either way, collect it. */
	waitpid(pid, &status, 0);
	if (line[0]) {
		snprintf(err, err_len, "%s: %s: %s", name, kind, line);
		return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? -EINVAL : -EIO;
	}
	snprintf(err, err_len, "%s: %s: %s ended at start (status %d)", name, kind, HELPER,
		 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return -EIO;
}

/* fd moved to at least 10, close-on-exec, so that the spawn's dup2 always moves it. */
static int high_fd(int fd)
{
	int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);

	if (h < 0)
		return -errno;
	close(fd);
	return h;
}

int netuser_start(const struct netuser_config *cfg, int *device_fd, pid_t *pid, char *err,
		  size_t err_len)
{
	static struct args args; /* set-up is single-threaded; 10 KiB off the stack */
	char path[PATH_MAX];
	const char *kind = cfg->stream ? "stream" : "user networking";
	posix_spawn_file_actions_t fa;
	int sv[2] = { -1, -1 }, st[2] = { -1, -1 }, ret;

	*device_fd = -1;
	if (cfg->helper)
		snprintf(path, sizeof(path), "%s", cfg->helper);
	else if (find_helper(path, sizeof(path)) < 0) {
		snprintf(err, err_len, "%s: %s needs %s, which is not installed", cfg->name, kind,
			 HELPER);
		return -ENOENT;
	}
	if (!helper_args(cfg, path, &args)) {
		snprintf(err, err_len, "%s: %s: a name is too long", cfg->name, kind);
		return -EINVAL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		ret = -errno;
		goto fail_sys;
	}
	if ((ret = high_fd(sv[1])) < 0 || (sv[1] = ret, (ret = high_fd(st[1])) < 0))
		goto fail_sys;
	st[1] = ret;
	ret = posix_spawn_file_actions_init(&fa);
	if (ret) {
		ret = -ret;
		goto fail_sys;
	}
	/* Not the guest's console: the helper reads nothing and prints only warnings. */
	ret = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!ret)
		ret = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!ret)
		ret = posix_spawn_file_actions_adddup2(&fa, sv[1], CHILD_FD);
	if (!ret)
		ret = posix_spawn_file_actions_adddup2(&fa, st[1], CHILD_STATUS);
	if (!ret)
		ret = posix_spawn(pid, path, &fa, NULL, args.argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret) {
		ret = -ret;
		goto fail_sys;
	}
	close(sv[1]);
	close(st[1]);
	sv[1] = st[1] = -1;
	ret = read_status(st[0], *pid, cfg->name, kind, err, err_len);
	close(st[0]);
	if (ret < 0) {
		close(sv[0]);
		return ret;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		close(sv[0]);
		snprintf(err, err_len, "%s: %s: %s", cfg->name, kind, strerror(-ret));
		return ret;
	}
	*device_fd = sv[0];
	return 0;

fail_sys:
	snprintf(err, err_len, "%s: %s: starting %s: %s", cfg->name, kind, HELPER, strerror(-ret));
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (st[i] >= 0)
			close(st[i]);
	}
	return ret;
}
