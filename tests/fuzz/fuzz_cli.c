// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the command-line parser. The input's first byte sizes
 * the error buffer (0 to 255 bytes, allocated to the byte so an overrun is
 * caught); the rest, split at NUL bytes, is argv after "ember", each
 * argument in its own allocation.
 *
 * A refusal must be -EINVAL with a message that fits the buffer.
 * An accepted configuration must hold what ember relies on later: sizes and
 * counts within their limits, a vCPU topology CPUID can describe, every
 * device naming an existing backend that no other device took, debug-exit
 * windows inside the port space, QMP on a socket chardev no port takes, and
 * every string pointing into argv or the configuration's own string room,
 * terminated there. The parser allocates nothing; leak detection stays on.
 */
#include "tests/fuzz/fuzzin.h"
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 128

#define FAIL(...) FUZZ_FAIL("fuzz_cli", __VA_ARGS__)

static int argc;
static char *argv[MAX_ARGS + 1];
static struct ember_config cfg;

/* a is a host of net/mask: inside it, neither its address nor its broadcast. */
static bool in_net(struct in_addr a, uint32_t net, uint32_t mask)
{
	uint32_t h = ntohl(a.s_addr);

	return (h & mask) == net && h != net && h != (net | ~mask);
}

static void check_string(const char *s, const char *what);

/* A user network ember-net can run: its addresses in its network, its forwards whole. */
static void check_user(unsigned int i, const struct cli_user *u)
{
	uint32_t mask = ntohl(u->mask.s_addr), net = ntohl(u->net.s_addr);

	if (!u->ipv4 && !u->ipv6)
		FAIL("user netdev %u with neither IPv4 nor IPv6", i);
	if (u->nr_hostfwd > CLI_MAX_HOSTFWD)
		FAIL("user netdev %u with %u forwards", i, u->nr_hostfwd);
	check_string(u->hostname, "user hostname");
	check_string(u->domainname, "user domainname");
	if (!u->ipv4)
		return;
	if ((~mask & (~mask + 1)) || (net & ~mask))
		FAIL("user netdev %u: a network of mask %08x", i, mask);
	if (!in_net(u->host, net, mask) || !in_net(u->dns, net, mask) ||
	    !in_net(u->dhcpstart, net, mask))
		FAIL("user netdev %u: an address outside its network", i);
	for (unsigned int k = 0; k < u->nr_hostfwd; k++) {
		const struct netuser_hostfwd *f = &u->hostfwd[k];

		if (!f->host_port || !f->guest_port ||
		    (f->guest_addr.s_addr && !in_net(f->guest_addr, net, mask)))
			FAIL("user netdev %u: forward %u to a port 0 or outside the network", i, k);
	}
}

/* NULL, or a terminated string inside one argument or the config's string room. */
static void check_string(const char *s, const char *what)
{
	if (!s)
		return;
	if (s >= cfg.strings && s < cfg.strings + cfg.strings_used) {
		if (!memchr(s, '\0', (size_t)(cfg.strings + cfg.strings_used - s)))
			FAIL("%s runs past the string room", what);
		return;
	}
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);

		if (s >= argv[i] && s <= argv[i] + len)
			return;
	}
	FAIL("%s points outside argv and the string room", what);
}

/*
 * Whatever the outcome (-h stops checking early), no array in the config
 * holds more than it has room for: the parser fills them by count, and an
 * overrun inside the struct is invisible to the sanitizers.
 */
static void check_counts(void)
{
	if (cfg.nr_drives > CLI_MAX_DRIVES || cfg.nr_blk > CLI_MAX_DRIVES ||
	    cfg.nr_netdevs > CLI_MAX_VIRTIO || cfg.nr_nics > CLI_MAX_VIRTIO ||
	    cfg.nr_debug_exit > CLI_MAX_DEBUG_EXIT || cfg.strings_used > CLI_STRINGS ||
	    cfg.nr_rngs > CLI_MAX_VIRTIO || cfg.nr_chardevs > CLI_MAX_CHARDEVS ||
	    cfg.nr_ports > CLI_MAX_PORTS)
		FAIL("counts: %u drives, %u disks, %u netdevs, %u NICs, %u debug-exits, %zu bytes "
		     "of strings",
		     cfg.nr_drives, cfg.nr_blk, cfg.nr_netdevs, cfg.nr_nics, cfg.nr_debug_exit,
		     cfg.strings_used);
}

/* Entropy devices, chardevs and the virtio-serial ports. */
static void check_devices(void)
{
	bool chardev_used[CLI_MAX_CHARDEVS] = { false }, nr_used[CLI_MAX_PORTS] = { false };
	unsigned int stdio = 0;

	for (unsigned int i = 0; i < cfg.nr_rngs; i++)
		if (cfg.rngs[i].max_bytes < 1 || cfg.rngs[i].max_bytes > INT64_MAX ||
		    cfg.rngs[i].period_ms < 1)
			FAIL("rng %u: %llu bytes per %u ms", i,
			     (unsigned long long)cfg.rngs[i].max_bytes, cfg.rngs[i].period_ms);
	for (unsigned int i = 0; i < cfg.nr_chardevs; i++) {
		const struct cli_chardev *c = &cfg.chardevs[i];

		if (!c->id || !*c->id)
			FAIL("chardev %u without an id", i);
		check_string(c->id, "chardev id");
		check_string(c->spec.path, "chardev path");
		if ((c->spec.kind == CHARDEV_FILE || c->spec.kind == CHARDEV_SOCKET) &&
		    (!c->spec.path || !*c->spec.path))
			FAIL("chardev %u without a path", i);
		if (c->spec.kind == CHARDEV_SOCKET && strlen(c->spec.path) > CLI_SOCKET_PATH_MAX)
			FAIL("chardev %u: a socket path of %zu bytes", i, strlen(c->spec.path));
		for (unsigned int k = 0; k < i; k++)
			if (strcmp(c->id, cfg.chardevs[k].id) == 0)
				FAIL("chardev id '%s' twice", c->id);
		stdio += c->spec.kind == CHARDEV_STDIO;
	}
	if (stdio > 1)
		FAIL("%u stdio chardevs", stdio);
	if (cfg.has_qmp) {
		if (cfg.qmp_chardev >= cfg.nr_chardevs ||
		    cfg.chardevs[cfg.qmp_chardev].spec.kind != CHARDEV_SOCKET)
			FAIL("QMP on chardev %u (of %u), not a socket", cfg.qmp_chardev,
			     cfg.nr_chardevs);
		chardev_used[cfg.qmp_chardev] = true;
	}
	if (cfg.nr_ports && !cfg.has_vserial)
		FAIL("ports without a virtio-serial device");
	if (cfg.has_vserial && (cfg.vserial_max_ports < 1 || cfg.vserial_max_ports > CLI_MAX_PORTS))
		FAIL("max_ports %u", cfg.vserial_max_ports);
	for (unsigned int i = 0; i < cfg.nr_ports; i++) {
		const struct cli_port *p = &cfg.ports[i];

		if (p->chardev >= cfg.nr_chardevs || chardev_used[p->chardev])
			FAIL("port %u names chardev %u (of %u), or a taken one", i, p->chardev,
			     cfg.nr_chardevs);
		chardev_used[p->chardev] = true;
		if (p->nr >= cfg.vserial_max_ports || nr_used[p->nr] || (!p->console && !p->nr))
			FAIL("port %u numbered %u", i, p->nr);
		nr_used[p->nr] = true;
		if (p->name && (!*p->name || strlen(p->name) > CLI_PORT_NAME_MAX))
			FAIL("port %u named with %zu bytes", i, strlen(p->name));
		check_string(p->name, "port name");
		if (cfg.chardevs[p->chardev].spec.kind == CHARDEV_STDIO &&
		    cfg.serial.kind == CHARDEV_STDIO)
			FAIL("COM1 and port %u both on stdio", i);
	}
}

static void check_config(void)
{
	bool drive_used[CLI_MAX_DRIVES] = { false }, netdev_used[CLI_MAX_VIRTIO] = { false };

	if (cfg.ram_size < CLI_MIN_RAM || cfg.ram_size > CLI_MAX_RAM || cfg.ram_size % 4096)
		FAIL("RAM size %llu accepted", (unsigned long long)cfg.ram_size);
	if (cfg.nr_vcpus < 1 || cfg.nr_vcpus > CLI_MAX_VCPUS)
		FAIL("%u vCPUs accepted", cfg.nr_vcpus);
	/* What cpuid_for_vcpu() takes: powers of two that divide the count. */
	if (!cfg.cores || (cfg.cores & (cfg.cores - 1)) || !cfg.threads ||
	    (cfg.threads & (cfg.threads - 1)) || cfg.nr_vcpus % (cfg.cores * cfg.threads))
		FAIL("topology %u cores x %u threads for %u vCPUs", cfg.cores, cfg.threads,
		     cfg.nr_vcpus);
	if (!cfg.kernel == !cfg.bios)
		FAIL("accepted with %s", cfg.kernel ? "both -kernel and -bios" : "nothing to run");
	if (!cfg.kernel && (cfg.initrd || cfg.append))
		FAIL("-initrd or -append accepted without -kernel");
	if (cfg.shutdown_timeout > CLI_MAX_SHUTDOWN_TIMEOUT)
		FAIL("shutdown timeout %u", cfg.shutdown_timeout);
	if (cli_nr_virtio(&cfg) > CLI_MAX_VIRTIO)
		FAIL("%u virtio devices accepted", cli_nr_virtio(&cfg));
	check_string(cfg.bios, "bios");
	check_string(cfg.kernel, "kernel");
	check_string(cfg.initrd, "initrd");
	check_string(cfg.append, "append");
	check_string(cfg.name, "name");
	check_string(cfg.serial.path, "serial path");
	check_string(cfg.debugcon.path, "debugcon path");
	check_string(cfg.runas_user, "runas user");
	check_string(cfg.runas_group, "runas group");
	check_string(cfg.chroot_dir, "chroot dir");
	if ((cfg.runas_user && (!*cfg.runas_user || strchr(cfg.runas_user, ':'))) ||
	    (cfg.runas_group && (!*cfg.runas_group || strchr(cfg.runas_group, ':'))) ||
	    (cfg.runas_group && !cfg.runas_user) || (cfg.chroot_dir && !*cfg.chroot_dir))
		FAIL("an empty or ':' -runas user or group, or an empty -chroot");
	if (cfg.sandbox_debug && !cfg.sandbox)
		FAIL("sandbox debug without the sandbox");
	if ((cfg.serial.kind == CHARDEV_FILE && !cfg.serial.path) ||
	    (cfg.has_debugcon && cfg.debugcon.kind == CHARDEV_FILE && !cfg.debugcon.path))
		FAIL("a file chardev without a path");
	for (unsigned int i = 0; i < cfg.nr_debug_exit; i++)
		if (cfg.debug_exit[i].iosize == 0 ||
		    cfg.debug_exit[i].iobase + (uint64_t)cfg.debug_exit[i].iosize > 0x10000)
			FAIL("debug-exit at 0x%x (+0x%x)", cfg.debug_exit[i].iobase,
			     cfg.debug_exit[i].iosize);
	for (unsigned int i = 0; i < cfg.nr_drives; i++) {
		const struct cli_drive *d = &cfg.drives[i];

		if (!d->file || !*d->file)
			FAIL("drive %u without a file", i);
		if (d->if_none && !d->id)
			FAIL("if=none drive %u without an id", i);
		if (d->serial && strlen(d->serial) > CLI_SERIAL_MAX)
			FAIL("drive %u serial too long", i);
		check_string(d->file, "drive file");
		check_string(d->id, "drive id");
		check_string(d->serial, "drive serial");
	}
	for (unsigned int i = 0; i < cfg.nr_blk; i++) {
		const struct cli_blk *b = &cfg.blk[i];

		if (b->drive >= cfg.nr_drives || drive_used[b->drive])
			FAIL("disk %u names drive %u (of %u), or a taken one", i, b->drive,
			     cfg.nr_drives);
		drive_used[b->drive] = true;
		if (b->serial && strlen(b->serial) > CLI_SERIAL_MAX)
			FAIL("disk %u serial too long", i);
		check_string(b->serial, "disk serial");
	}
	for (unsigned int i = 0; i < cfg.nr_drives; i++)
		if (!cfg.drives[i].if_none && !drive_used[i])
			FAIL("if=virtio drive %u has no disk", i);
	for (unsigned int i = 0; i < cfg.nr_netdevs; i++) {
		const struct cli_netdev *n = &cfg.netdevs[i];

		check_string(n->id, "netdev id");
		if (n->kind == CLI_NET_USER) {
			check_user(i, &n->user);
		} else if (n->kind == CLI_NET_STREAM) {
			if (!n->stream.path || !*n->stream.path || strlen(n->stream.path) > 107 ||
			    n->stream.reconnect > 3600)
				FAIL("stream netdev %u: a path of the wrong size, or reconnect %u",
				     i, n->stream.reconnect);
			check_string(n->stream.path, "stream path");
		} else if (n->kind != CLI_NET_TAP) {
			FAIL("netdev %u of kind %d", i, (int)n->kind);
		}
		if (n->kind != CLI_NET_TAP && (n->ifname || n->fd >= 0 || n->vhost))
			FAIL("netdev %u: tap properties on another kind", i);
		if (n->kind != CLI_NET_TAP)
			continue;
		if ((n->fd >= 0) == (n->ifname != NULL))
			FAIL("netdev %u with fd %d and ifname %s", i, n->fd,
			     n->ifname ? n->ifname : "(none)");
		if (n->ifname && (!*n->ifname || strlen(n->ifname) > 15))
			FAIL("netdev %u ifname of %zu bytes", i, strlen(n->ifname));
		check_string(n->ifname, "netdev ifname");
	}
	for (unsigned int i = 0; i < cfg.nr_nics; i++) {
		const struct cli_nic *n = &cfg.nics[i];

		if (n->netdev >= cfg.nr_netdevs || netdev_used[n->netdev])
			FAIL("NIC %u names netdev %u (of %u), or a taken one", i, n->netdev,
			     cfg.nr_netdevs);
		netdev_used[n->netdev] = true;
		if (n->has_mac && (n->mac[0] & 1))
			FAIL("NIC %u has a multicast MAC", i);
	}
	check_devices();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t err_len, pos;
	char *err;
	int ret;

	if (size < 1)
		return 0;
	err_len = data[0];
	err = malloc(err_len ? err_len : 1);
	if (!err)
		return 0;
	argc = 0;
	argv[argc++] = strdup("ember");
	for (pos = 1; pos < size && argc < MAX_ARGS;) {
		const uint8_t *nul = memchr(data + pos, '\0', size - pos);
		size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;

		argv[argc] = malloc(len + 1);
		if (!argv[argc])
			break;
		memcpy(argv[argc], data + pos, len);
		argv[argc][len] = '\0';
		argc++;
		pos += len + 1;
	}
	argv[argc] = NULL;

	ret = cli_parse(argc, argv, &cfg, err, err_len);
	check_counts();
	if (ret == 0) {
		if (!cfg.help && !cfg.version && !cfg.help_kinds)
			check_config();
	} else if (ret != -EINVAL) {
		FAIL("cli_parse returned %d", ret);
	} else if (err_len) {
		size_t n = strnlen(err, err_len);

		if (n == err_len)
			FAIL("the message is not terminated inside its %zu bytes", err_len);
		if (n == 0 && err_len > 1)
			FAIL("a refusal without a message");
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(err);
	return 0;
}
