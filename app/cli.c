// SPDX-License-Identifier: MIT
#include "config.h"

#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	struct ember_config *cfg;
	char *err;
	size_t err_len;
	/* For each cfg->blk[i] made by -device: the drive= it names, resolved at the end. */
	const char *blk_ref[CLI_MAX_DRIVES];
	/* Likewise the netdev= of each cfg->nics[i] made by -device. */
	const char *nic_ref[CLI_MAX_VIRTIO];
	/* The chardev= of each port, whether it gave nr=, and -serial chardev:ID. */
	const char *port_ref[CLI_MAX_PORTS];
	bool port_nr_set[CLI_MAX_PORTS];
	const char *serial_ref;
	bool serial_given;
	/* -mon chardev=ID, resolved at the end; or -qmp's own chardev (mon_ref NULL). */
	const char *mon_ref;
	const char *mon_opt; /* "-mon" or "-qmp", once one was given */
};

__attribute__((format(printf, 2, 3))) static void fail_msg(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->err_len, fmt, ap);
	va_end(ap);
}

/*
 * Says what is wrong and is -EINVAL, spelled out here rather than returned
 * from the variadic function, which a static analyzer does not follow.
 */
#define fail(p, ...) (fail_msg((p), __VA_ARGS__), -EINVAL)

/* An unsigned number in C notation (decimal, 0x hex, 0 octal), all of s. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 20; /* a bare number is MiB, as in QEMU */
	char *end;

	if (strncmp(s, "size=", 5) == 0)
		s += 5;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		switch (*end) {
		case 'B':
		case 'b':
			shift = 0;
			break;
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		case 'T':
		case 't':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
		if (end[1])
			return -EINVAL;
	}
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int opt_m(struct parser *p, const char *arg)
{
	uint64_t size;

	if (cli_parse_size(arg, &size) < 0)
		return fail(p, "-m: invalid size '%s' (examples: 512, 512M, 2G)", arg);
	if (size < CLI_MIN_RAM)
		return fail(p, "-m: %s is too small; the least is 1M", arg);
	if (size > CLI_MAX_RAM)
		return fail(p, "-m: %s is too large; the most is 1T", arg);
	if (size % 4096)
		return fail(p, "-m: %s is not a multiple of 4K", arg);
	p->cfg->ram_size = size;
	return 0;
}

static int opt_shutdown_timeout(struct parser *p, const char *arg)
{
	uint64_t n;

	if (parse_u64(arg, &n) < 0 || n > CLI_MAX_SHUTDOWN_TIMEOUT)
		return fail(p, "-shutdown-timeout: give whole seconds from 0 to %d, not '%s'",
			    CLI_MAX_SHUTDOWN_TIMEOUT, arg);
	p->cfg->shutdown_timeout = (unsigned int)n;
	return 0;
}

static int opt_bios(struct parser *p, const char *arg)
{
	if (!*arg)
		return fail(p, "-bios: empty file name");
	p->cfg->bios = arg;
	return 0;
}

static int opt_file(struct parser *p, const char *opt, const char *arg, const char **dst)
{
	if (!*arg)
		return fail(p, "%s: empty file name", opt);
	*dst = arg;
	return 0;
}

static int opt_kernel(struct parser *p, const char *arg)
{
	return opt_file(p, "-kernel", arg, &p->cfg->kernel);
}

static int opt_initrd(struct parser *p, const char *arg)
{
	return opt_file(p, "-initrd", arg, &p->cfg->initrd);
}

static int opt_append(struct parser *p, const char *arg)
{
	p->cfg->append = arg;
	return 0;
}

static int opt_serial(struct parser *p, const char *arg)
{
	/* QEMU users write mon:stdio; ember's monitor is QMP on a socket, the console the same. */
	if (strcmp(arg, "mon:stdio") == 0)
		arg = "stdio";
	p->serial_given = true;
	if (strncmp(arg, "chardev:", 8) == 0 && arg[8]) {
		p->serial_ref = arg + 8;
		return 0;
	}
	p->serial_ref = NULL;
	if (chardev_parse(arg, &p->cfg->serial) < 0)
		return fail(
			p,
			"-serial: unknown backend '%s' (use stdio, file:PATH, none or chardev:ID)",
			arg);
	return 0;
}

static int opt_display(struct parser *p, const char *arg)
{
	if (strcmp(arg, "none") != 0)
		return fail(p, "-display: ember has no display; only '-display none' is accepted");
	return 0;
}

static int opt_name(struct parser *p, const char *arg)
{
	const char *s = strncmp(arg, "guest=", 6) == 0 ? arg + 6 : arg;

	if (!*s || strchr(s, ','))
		return fail(p, "-name: give a name ('-name NAME' or '-name guest=NAME')");
	p->cfg->name = s;
	return 0;
}

static int opt_debugcon(struct parser *p, const char *arg)
{
	if (chardev_parse(arg, &p->cfg->debugcon) < 0)
		return fail(p, "-debugcon: unknown backend '%s' (use stdio, file:PATH or none)",
			    arg);
	p->cfg->has_debugcon = true;
	return 0;
}

/* --- QEMU-style property lists: key=value,key=value with ",," for a comma ------ */

/* Copies n bytes of s into the config's string room, turning ",," into ','. */
static const char *unescape(struct parser *p, const char *s, size_t n)
{
	struct ember_config *cfg = p->cfg;
	char *dst = cfg->strings + cfg->strings_used;
	size_t k = 0;

	if (n >= sizeof(cfg->strings) - cfg->strings_used)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		dst[k++] = s[i];
		if (s[i] == ',')
			i++; /* the second comma of ",," */
	}
	dst[k] = '\0';
	cfg->strings_used += k + 1;
	return dst;
}

/* Copies n bytes of s as they are into the config's string room. */
static const char *keep(struct parser *p, const char *s, size_t n)
{
	struct ember_config *cfg = p->cfg;
	char *dst = cfg->strings + cfg->strings_used;

	if (n >= sizeof(cfg->strings) - cfg->strings_used)
		return NULL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	cfg->strings_used += n + 1;
	return dst;
}

/*
 * Takes the next property off *list: sets `key` (its length in *key_len)
 * and `val` (unescaped; NULL when the property has no '='). Returns 1, 0 at
 * the end of the list, or -EINVAL (message set) when out of room.
 */
static int next_prop(struct parser *p, const char *opt, const char **list, const char **key,
		     size_t *key_len, const char **val)
{
	const char *s = *list, *eq, *end;

	if (!s || !*s)
		return 0;
	/* The value ends at a comma that is not doubled. */
	for (end = s; *end; end++) {
		if (*end == ',') {
			if (end[1] != ',')
				break;
			end++;
		}
	}
	eq = memchr(s, '=', (size_t)(end - s));
	*key = s;
	*key_len = eq ? (size_t)(eq - s) : (size_t)(end - s);
	*val = NULL;
	if (eq) {
		*val = unescape(p, eq + 1, (size_t)(end - eq - 1));
		if (!*val)
			return fail(p, "%s: option values too long", opt);
	}
	*list = *end ? end + 1 : end;
	return 1;
}

static bool key_is(const char *key, size_t len, const char *name)
{
	return strlen(name) == len && strncmp(key, name, len) == 0;
}

static int parse_bool(struct parser *p, const char *opt, const char *key, const char *v, bool *out)
{
	if (v && (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0))
		*out = true;
	else if (v && (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0))
		*out = false;
	else
		return fail(p, "%s: %s must be on or off, not '%s'", opt, key, v ? v : "");
	return 0;
}

static int drive_prop(struct parser *p, struct cli_drive *d, const char *key, size_t klen,
		      const char *v)
{
	static const char *const caches[] = { "writeback", "none", "unsafe", "directsync" };
	static const char *const aios[] = { "io_uring", "threads" };

	if (!v)
		return fail(p, "-drive: '%.*s' needs a value (%.*s=...)", (int)klen, key, (int)klen,
			    key);
	if (key_is(key, klen, "file")) {
		if (!*v)
			return fail(p, "-drive: empty file name");
		d->file = v;
	} else if (key_is(key, klen, "format")) {
		if (strcmp(v, "raw") == 0)
			d->format = DISK_FORMAT_RAW;
		else if (strcmp(v, "qcow2") == 0)
			d->format = DISK_FORMAT_QCOW2;
		else
			return fail(p, "-drive: unknown format '%s' (ember reads raw and qcow2)",
				    v);
	} else if (key_is(key, klen, "if")) {
		if (strcmp(v, "none") == 0)
			d->if_none = true;
		else if (strcmp(v, "virtio") == 0)
			d->if_none = false;
		else
			return fail(p, "-drive: if=%s is not available; use if=virtio or if=none",
				    v);
	} else if (key_is(key, klen, "readonly")) {
		return parse_bool(p, "-drive", "readonly", v, &d->readonly);
	} else if (key_is(key, klen, "cache")) {
		unsigned int i;

		for (i = 0; i < 4 && strcmp(v, caches[i]) != 0; i++)
			;
		if (i == 4)
			return fail(p,
				    "-drive: unknown cache mode '%s' (writeback, none, unsafe or "
				    "directsync)",
				    v);
		d->cache = (enum disk_cache)i;
	} else if (key_is(key, klen, "aio")) {
		unsigned int i;

		for (i = 0; i < 2 && strcmp(v, aios[i]) != 0; i++)
			;
		if (i == 2)
			return fail(p, "-drive: unknown aio '%s' (io_uring or threads)", v);
		d->aio = (enum disk_aio)i;
	} else if (key_is(key, klen, "serial")) {
		if (strlen(v) > CLI_SERIAL_MAX)
			return fail(p, "-drive: serial '%s' is longer than %d bytes", v,
				    CLI_SERIAL_MAX);
		d->serial = v;
	} else if (key_is(key, klen, "id")) {
		if (!*v)
			return fail(p, "-drive: empty id");
		d->id = v;
	} else if (key_is(key, klen, "media")) {
		if (strcmp(v, "disk") != 0)
			return fail(p, "-drive: media=%s is not available (only disk)", v);
	} else {
		return fail(p,
			    "-drive: unknown property '%.*s' (file, format, if, readonly, cache, "
			    "aio, serial, id)",
			    (int)klen, key);
	}
	return 0;
}

static int opt_drive(struct parser *p, const char *arg)
{
	struct ember_config *cfg = p->cfg;
	struct cli_drive d = { 0 };
	const char *key, *v, *list = arg;
	size_t klen;
	int ret;

	while ((ret = next_prop(p, "-drive", &list, &key, &klen, &v)) > 0) {
		ret = drive_prop(p, &d, key, klen, v);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (!d.file)
		return fail(p, "-drive: give the image with file=PATH");
	if (d.if_none && !d.id)
		return fail(p, "-drive: if=none needs an id= for -device to name");
	for (unsigned int i = 0; i < cfg->nr_drives; i++)
		if (d.id && cfg->drives[i].id && strcmp(d.id, cfg->drives[i].id) == 0)
			return fail(p, "-drive: id '%s' is used twice", d.id);
	if (cfg->nr_drives == CLI_MAX_DRIVES)
		return fail(p, "-drive: at most %d drives", CLI_MAX_DRIVES);
	/* -device virtio-blk-device options may have taken every disk already. */
	if (!d.if_none && cfg->nr_blk == CLI_MAX_DRIVES)
		return fail(p, "-drive: at most %d disks", CLI_MAX_DRIVES);
	cfg->drives[cfg->nr_drives] = d;
	if (!d.if_none)
		cfg->blk[cfg->nr_blk++] = (struct cli_blk){ .drive = cfg->nr_drives };
	cfg->nr_drives++;
	return 0;
}

/* Every -device virtio-blk-device names an if=none drive no other device took. */
static int resolve_drives(struct parser *p)
{
	struct ember_config *cfg = p->cfg;
	bool taken[CLI_MAX_DRIVES] = { false };

	for (unsigned int i = 0; i < cfg->nr_blk; i++) {
		unsigned int k;

		if (!p->blk_ref[i])
			continue;
		for (k = 0; k < cfg->nr_drives; k++)
			if (cfg->drives[k].id && strcmp(cfg->drives[k].id, p->blk_ref[i]) == 0)
				break;
		if (k == cfg->nr_drives)
			return fail(p, "-device virtio-blk-device: no -drive with id '%s'",
				    p->blk_ref[i]);
		if (!cfg->drives[k].if_none)
			return fail(p,
				    "-device virtio-blk-device: drive '%s' already has a disk "
				    "(give it if=none)",
				    p->blk_ref[i]);
		if (taken[k])
			return fail(p, "-device virtio-blk-device: drive '%s' is used twice",
				    p->blk_ref[i]);
		taken[k] = true;
		cfg->blk[i].drive = k;
	}
	return 0;
}

/* --- networks ------------------------------------------------------------------- */

/* xx:xx:xx:xx:xx:xx, unicast. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return mac[0] & 1 ? -EINVAL : 0;
}

/* One property of a tap backend; 1 when it was not a backend property. */
static int tap_prop(struct parser *p, const char *opt, struct cli_netdev *nd, const char *key,
		    size_t klen, const char *v)
{
	uint64_t fd;

	if (key_is(key, klen, "ifname")) {
		if (!*v || strlen(v) > 15)
			return fail(p, "%s: ifname must have 1 to 15 characters", opt);
		nd->ifname = v;
	} else if (key_is(key, klen, "fd")) {
		if (parse_u64(v, &fd) < 0 || fd > INT32_MAX)
			return fail(p, "%s: fd=%s is not a descriptor number", opt, v);
		nd->fd = (int)fd;
	} else if (key_is(key, klen, "script") || key_is(key, klen, "downscript")) {
		if (strcmp(v, "no") != 0)
			return fail(p,
				    "%s: ember runs no scripts (%.*s=no); configure the tap "
				    "beforehand",
				    opt, (int)klen, key);
	} else if (key_is(key, klen, "vhost")) {
		if (parse_bool(p, opt, "vhost", v, &nd->vhost) < 0)
			return -EINVAL;
	} else if (key_is(key, klen, "vhostforce")) {
		bool on;

		/* As QEMU's: on implies vhost=on (it once also meant "for guests without MSI-X").
		 */
		if (parse_bool(p, opt, "vhostforce", v, &on) < 0)
			return -EINVAL;
		nd->vhostforce = on;
	} else if (key_is(key, klen, "vhostfd")) {
		if (parse_u64(v, &fd) < 0 || fd > INT32_MAX)
			return fail(p, "%s: vhostfd=%s is not a descriptor number", opt, v);
		nd->vhostfd = (int)fd;
	} else {
		return 1;
	}
	return 0;
}

/* --- user networking (libslirp) and stream sockets ------------------------------ */

#define TAP_PROPS "ifname, fd, script, downscript, vhost, vhostfd, vhostforce"
#define USER_PROPS "net, host, dns, dhcpstart, restrict, hostname, domainname, ipv4, ipv6, hostfwd"
#define STREAM_PROPS "server, addr.type, addr.path, reconnect"
#define HOSTFWD_FORM "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"
#define STREAM_MAX_RECONNECT 3600 /* seconds: an hour */

/* What a backend's list gave that is checked, or turned into defaults, at its end. */
struct net_given {
	bool net, host, dns, dhcpstart; /* user */
	bool server;			/* stream: server=on */
	const char *addr_type;		/* stream: NULL until addr.type=unix */
};

/* a.b.c.d in the first n bytes of s, each part 0 to 255. */
static int parse_in_addr(const char *s, size_t n, struct in_addr *out)
{
	char buf[INET_ADDRSTRLEN];

	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, out) == 1 ? 0 : -EINVAL;
}

/* A port in the first n bytes of s: decimal, 1 to 65535. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (!n || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (!v || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/*
 * A hostfwd rule, HOSTFWD_FORM, as QEMU reads it: no protocol is tcp, no
 * host address every host address, no guest address the DHCP start
 * address. Returns NULL, or what is wrong with the rule.
 */
static const char *parse_hostfwd(const char *rule, struct netuser_hostfwd *fwd)
{
	const char *colon = strchr(rule, ':'), *host, *dash, *guest;

	*fwd = (struct netuser_hostfwd){ .host_addr.s_addr = htonl(INADDR_ANY) };
	if (!colon)
		return "no ':' after the protocol";
	if (key_is(rule, (size_t)(colon - rule), "udp"))
		fwd->udp = true;
	else if (colon != rule && !key_is(rule, (size_t)(colon - rule), "tcp"))
		return "the protocol is not tcp or udp";
	host = colon + 1;
	dash = strchr(host, '-');
	if (!dash)
		return "no '-' between the host's side and the guest's";
	colon = memchr(host, ':', (size_t)(dash - host));
	if (!colon)
		return "no ':' before the host port";
	if (colon > host && parse_in_addr(host, (size_t)(colon - host), &fwd->host_addr) < 0)
		return "the host address is not a.b.c.d";
	if (parse_port(colon + 1, (size_t)(dash - colon - 1), &fwd->host_port) < 0)
		return "the host port is not a number from 1 to 65535";
	guest = dash + 1;
	colon = strchr(guest, ':');
	if (!colon)
		return "no ':' before the guest port";
	if (colon > guest && parse_in_addr(guest, (size_t)(colon - guest), &fwd->guest_addr) < 0)
		return "the guest address is not a.b.c.d";
	if (parse_port(colon + 1, strlen(colon + 1), &fwd->guest_port) < 0)
		return "the guest port is not a number from 1 to 65535";
	return NULL;
}

/*
 * net=ADDR[/MASK], MASK a prefix length or a dotted mask, from /1 to /30
 * (room for the network, the broadcast address and two more). Without a
 * mask, /24.
 */
static int parse_net(const char *v, struct in_addr *net, struct in_addr *mask)
{
	const char *slash = strchr(v, '/');
	uint32_t m = 0xffffff00;

	if (parse_in_addr(v, slash ? (size_t)(slash - v) : strlen(v), net) < 0)
		return -EINVAL;
	if (slash && strchr(slash + 1, '.')) {
		struct in_addr dotted;

		if (parse_in_addr(slash + 1, strlen(slash + 1), &dotted) < 0)
			return -EINVAL;
		m = ntohl(dotted.s_addr);
	} else if (slash) {
		uint16_t bits;

		if (strlen(slash + 1) > 2 || parse_port(slash + 1, strlen(slash + 1), &bits) < 0 ||
		    bits > 30)
			return -EINVAL;
		m = 0xffffffffU << (32 - bits);
	}
	/* Ones, then zeroes: the zeroes plus one are a power of two. */
	if ((~m & (~m + 1)) || m < 0x80000000U || m > 0xfffffffcU)
		return -EINVAL;
	mask->s_addr = htonl(m);
	net->s_addr = htonl(ntohl(net->s_addr) & m);
	return 0;
}

/* A DNS name of 1 to max characters: letters, digits, '-' and '.', not starting with '-'. */
static int dns_name(struct parser *p, const char *opt, const char *name, const char *v, size_t max,
		    const char **dst)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-.";
	size_t n = strlen(v);

	if (!n || n > max || strspn(v, allowed) != n || v[0] == '-' || v[0] == '.')
		return fail(p,
			    "%s: %s=%s is not a name of 1 to %zu letters, digits, '-' and '.' "
			    "(not starting with '-' or '.')",
			    opt, name, v, max);
	*dst = v;
	return 0;
}

static int user_addr(struct parser *p, const char *opt, const char *name, const char *v,
		     struct in_addr *a, bool *given)
{
	if (parse_in_addr(v, strlen(v), a) < 0)
		return fail(p, "%s: %s=%s is not an IPv4 address (a.b.c.d)", opt, name, v);
	*given = true;
	return 0;
}

/* One property of a user network; 1 when it was not one. */
static int user_prop(struct parser *p, const char *opt, struct cli_user *u, struct net_given *g,
		     const char *key, size_t klen, const char *v)
{
	const char *why;

	if (key_is(key, klen, "net")) {
		if (parse_net(v, &u->net, &u->mask) < 0)
			return fail(p,
				    "%s: net=%s is not ADDR[/MASK], a network of /1 to /30 (e.g. "
				    "10.0.2.0/24 or 10.0.2.0/255.255.255.0)",
				    opt, v);
		g->net = true;
	} else if (key_is(key, klen, "host")) {
		return user_addr(p, opt, "host", v, &u->host, &g->host);
	} else if (key_is(key, klen, "dns")) {
		return user_addr(p, opt, "dns", v, &u->dns, &g->dns);
	} else if (key_is(key, klen, "dhcpstart")) {
		return user_addr(p, opt, "dhcpstart", v, &u->dhcpstart, &g->dhcpstart);
	} else if (key_is(key, klen, "restrict")) {
		/* QEMU once looked at the first letter only: y and n still work there. */
		if (strcmp(v, "y") == 0 || strcmp(v, "n") == 0)
			u->restricted = v[0] == 'y';
		else
			return parse_bool(p, opt, "restrict", v, &u->restricted);
	} else if (key_is(key, klen, "hostname")) {
		return dns_name(p, opt, "hostname", v, 63, &u->hostname);
	} else if (key_is(key, klen, "domainname")) {
		return dns_name(p, opt, "domainname", v, 253, &u->domainname);
	} else if (key_is(key, klen, "ipv4")) {
		return parse_bool(p, opt, "ipv4", v, &u->ipv4);
	} else if (key_is(key, klen, "ipv6")) {
		return parse_bool(p, opt, "ipv6", v, &u->ipv6);
	} else if (key_is(key, klen, "hostfwd")) {
		if (u->nr_hostfwd == CLI_MAX_HOSTFWD)
			return fail(p, "%s: at most %d hostfwd rules", opt, CLI_MAX_HOSTFWD);
		why = parse_hostfwd(v, &u->hostfwd[u->nr_hostfwd]);
		if (why)
			return fail(p, "%s: bad hostfwd rule '%s': %s (the form is %s)", opt, v,
				    why, HOSTFWD_FORM);
		u->nr_hostfwd++;
	} else {
		return 1;
	}
	return 0;
}

/* Why `a` cannot be a host of the network net/mask; NULL when it can. */
static const char *not_in_net(uint32_t net, uint32_t mask, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	if ((h & mask) != net)
		return "is not in the network";
	if (h == net)
		return "is the address of the network";
	if (h == (net | ~mask))
		return "is the broadcast address of the network";
	return NULL;
}

static unsigned int prefix_len(uint32_t mask)
{
	unsigned int n = 0;

	while (mask & 0x80000000U) {
		mask <<= 1;
		n++;
	}
	return n;
}

/*
 * The end of a user network's list: the addresses left out follow net=
 * (host .2, dns .3, dhcpstart .15, as QEMU places them), then every
 * address must be a host of the network, as QEMU wants.
 */
static int user_finish(struct parser *p, const char *opt, struct cli_user *u,
		       const struct net_given *g)
{
	uint32_t net = ntohl(u->net.s_addr), mask = ntohl(u->mask.s_addr);
	struct {
		const char *name;
		struct in_addr *a;
		bool given;
		uint32_t low; /* QEMU's default: these bits below the mask */
	} addrs[] = {
		{ "host", &u->host, g->host, 0x0202 },
		{ "dns", &u->dns, g->dns, 0x0203 },
		{ "dhcpstart", &u->dhcpstart, g->dhcpstart, 0x020f },
	};
	char a[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN];
	const char *why;

	if (!u->ipv4 && !u->ipv6)
		return fail(p, "%s: ipv4=off and ipv6=off leave the guest no network", opt);
	if (!u->ipv4 && (g->net || g->host || g->dns || g->dhcpstart || u->nr_hostfwd))
		return fail(p, "%s: net=, host=, dns=, dhcpstart= and hostfwd= need ipv4=on", opt);
	inet_ntop(AF_INET, &u->net, n, sizeof(n));
	for (unsigned int i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		if (!addrs[i].given)
			addrs[i].a->s_addr = htonl(net | (addrs[i].low & ~mask));
		why = not_in_net(net, mask, *addrs[i].a);
		if (!why)
			continue;
		inet_ntop(AF_INET, addrs[i].a, a, sizeof(a));
		if (addrs[i].given)
			return fail(p, "%s: %s=%s %s %s/%u", opt, addrs[i].name, a, why, n,
				    prefix_len(mask));
		return fail(p, "%s: the default %s=%s %s %s/%u; give %s=", opt, addrs[i].name, a,
			    why, n, prefix_len(mask), addrs[i].name);
	}
	if (u->dns.s_addr == u->host.s_addr)
		return fail(p, "%s: dns= and host= are the same address", opt);
	if (u->dhcpstart.s_addr == u->host.s_addr || u->dhcpstart.s_addr == u->dns.s_addr)
		return fail(p, "%s: dhcpstart= must differ from host= and dns=", opt);
	for (unsigned int i = 0; i < u->nr_hostfwd; i++) {
		struct in_addr guest = u->hostfwd[i].guest_addr;

		if (!guest.s_addr || !(why = not_in_net(net, mask, guest)))
			continue;
		inet_ntop(AF_INET, &guest, a, sizeof(a));
		return fail(p, "%s: the guest address %s of hostfwd rule %u %s %s/%u", opt, a,
			    i + 1, why, n, prefix_len(mask));
	}
	return 0;
}

/* One property of a stream socket; 1 when it was not one. */
static int stream_prop(struct parser *p, const char *opt, struct cli_stream *s, struct net_given *g,
		       const char *key, size_t klen, const char *v)
{
	uint64_t n;

	if (key_is(key, klen, "server")) {
		return parse_bool(p, opt, "server", v, &g->server);
	} else if (key_is(key, klen, "addr.type")) {
		if (strcmp(v, "inet") == 0 || strcmp(v, "fd") == 0 || strcmp(v, "vsock") == 0)
			return fail(p,
				    "%s: addr.type=%s is not available: ember connects to a Unix "
				    "socket (addr.type=unix,addr.path=PATH)",
				    opt, v);
		if (strcmp(v, "unix") != 0)
			return fail(p, "%s: unknown addr.type '%s' (unix)", opt, v);
		g->addr_type = v;
	} else if (key_is(key, klen, "addr.path")) {
		if (!*v)
			return fail(p, "%s: empty addr.path", opt);
		if (strlen(v) > CLI_SOCKET_PATH_MAX)
			return fail(p, "%s: addr.path is longer than %d bytes", opt,
				    CLI_SOCKET_PATH_MAX);
		s->path = v;
	} else if (key_is(key, klen, "reconnect")) {
		if (parse_u64(v, &n) < 0 || n > STREAM_MAX_RECONNECT)
			return fail(p, "%s: reconnect=%s is not a number of seconds from 0 to %d",
				    opt, v, STREAM_MAX_RECONNECT);
		s->reconnect = (unsigned int)n;
	} else {
		return 1;
	}
	return 0;
}

static int stream_finish(struct parser *p, const char *opt, const struct cli_stream *s,
			 const struct net_given *g)
{
	if (g->server)
		return fail(p,
			    "%s: server=on is not available: ember connects to a socket that "
			    "listens (passt's, for one); give server=off",
			    opt);
	if (!g->addr_type)
		return fail(p,
			    "%s: give addr.type=unix and addr.path=PATH, the socket to connect to",
			    opt);
	if (!s->path)
		return fail(p, "%s: give addr.path=PATH, the Unix socket to connect to", opt);
	return 0;
}

/* The kind a -nic or -netdev list starts with; -EINVAL when it is none of ember's. */
static int net_kind(const char *key, size_t klen, const char *v, struct cli_netdev *nd)
{
	if (v)
		return -EINVAL;
	if (key_is(key, klen, "tap")) {
		nd->kind = CLI_NET_TAP;
	} else if (key_is(key, klen, "user")) {
		nd->kind = CLI_NET_USER;
		/* QEMU's network; the addresses in it follow at the end of the list. */
		nd->user.net.s_addr = htonl(0x0a000200);
		nd->user.mask.s_addr = htonl(0xffffff00);
		nd->user.ipv4 = true;
		nd->user.ipv6 = true;
	} else if (key_is(key, klen, "stream")) {
		nd->kind = CLI_NET_STREAM;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* One property of nd's kind of backend; 1 when it was not one. */
static int backend_prop(struct parser *p, const char *opt, struct cli_netdev *nd,
			struct net_given *g, const char *key, size_t klen, const char *v)
{
	switch (nd->kind) {
	case CLI_NET_TAP:
		return tap_prop(p, opt, nd, key, klen, v);
	case CLI_NET_USER:
		return user_prop(p, opt, &nd->user, g, key, klen, v);
	case CLI_NET_STREAM:
		return stream_prop(p, opt, &nd->stream, g, key, klen, v);
	}
	return 1;
}

static const char *backend_props(enum cli_net_backend kind)
{
	return kind == CLI_NET_TAP ? TAP_PROPS : kind == CLI_NET_USER ? USER_PROPS : STREAM_PROPS;
}

/* --- -nic and -netdev ------------------------------------------------------------ */

/* The last checks of a backend, for its kind, then its place in the config. */
static int add_netdev(struct parser *p, const char *opt, struct cli_netdev *nd,
		      const struct net_given *g)
{
	struct ember_config *cfg = p->cfg;
	int ret = 0;

	if (nd->kind == CLI_NET_TAP) {
		nd->vhost = nd->vhost || nd->vhostforce;
		if (nd->fd >= 0 && nd->ifname)
			return fail(p, "%s: give ifname= or fd=, not both", opt);
		if (nd->fd < 0 && !nd->ifname)
			return fail(p, "%s: name the tap with ifname=NAME (or pass fd=N)", opt);
		if (nd->vhostfd >= 0 && !nd->vhost && !nd->vhostforce)
			return fail(p, "%s: vhostfd= is for vhost=on", opt);
	} else if (nd->kind == CLI_NET_USER) {
		ret = user_finish(p, opt, &nd->user, g);
	} else {
		ret = stream_finish(p, opt, &nd->stream, g);
	}
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < cfg->nr_netdevs; i++)
		if (nd->id && cfg->netdevs[i].id && strcmp(nd->id, cfg->netdevs[i].id) == 0)
			return fail(p, "%s: id '%s' is used twice", opt, nd->id);
	if (cfg->nr_netdevs == CLI_MAX_VIRTIO)
		return fail(p, "%s: at most %d network backends", opt, CLI_MAX_VIRTIO);
	cfg->netdevs[cfg->nr_netdevs++] = *nd;
	return 0;
}

static int add_nic(struct parser *p, const char *opt, const struct cli_nic *nic, const char *ref)
{
	struct ember_config *cfg = p->cfg;

	if (cfg->nr_nics == CLI_MAX_VIRTIO)
		return fail(p, "%s: at most %d NICs", opt, CLI_MAX_VIRTIO);
	p->nic_ref[cfg->nr_nics] = ref;
	cfg->nics[cfg->nr_nics++] = *nic;
	return 0;
}

/*
 * -nic tap,ifname=NAME|fd=N[,script=no][,downscript=no][,mac=MAC][,model=virtio]
 * [,vhost=on|off][,vhostfd=N][,vhostforce=on|off], or
 * -nic user[,mac=MAC][,model=virtio][,USER_PROPS...]
 */
static int opt_nic(struct parser *p, const char *arg)
{
	struct cli_netdev nd = { .fd = -1, .vhostfd = -1 };
	struct net_given given = { 0 };
	struct cli_nic nic = { 0 };
	const char *key = "", *v = NULL, *list = arg, *opt;
	size_t klen = 0;
	int ret;

	if (strcmp(arg, "none") == 0)
		return 0;
	ret = next_prop(p, "-nic", &list, &key, &klen, &v);
	if (ret < 0)
		return ret;
	if (ret > 0 && !v && key_is(key, klen, "stream"))
		return fail(p, "-nic: there is no -nic stream; give -netdev stream,id=ID,... and "
			       "-device virtio-net-device,netdev=ID");
	if (net_kind(key, klen, v, &nd) < 0)
		return fail(p,
			    "-nic: unknown kind '%.*s%s%s'; ember has tap and user (-nic "
			    "tap,ifname=NAME or -nic user)",
			    (int)klen, key, v ? "=" : "", v ? v : "");
	opt = nd.kind == CLI_NET_TAP ? "-nic" : "-nic user";
	while ((ret = next_prop(p, opt, &list, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "%s: '%.*s' needs a value", opt, (int)klen, key);
		ret = backend_prop(p, opt, &nd, &given, key, klen, v);
		if (ret <= 0) {
			if (ret < 0)
				return ret;
			continue;
		}
		if (key_is(key, klen, "mac")) {
			if (parse_mac(v, nic.mac) < 0)
				return fail(p, "%s: mac=%s is not a unicast xx:xx:xx:xx:xx:xx", opt,
					    v);
			nic.has_mac = true;
		} else if (key_is(key, klen, "model")) {
			if (strcmp(v, "virtio") != 0 && strcmp(v, "virtio-net-device") != 0)
				return fail(p, "%s: model=%s is not available (virtio)", opt, v);
		} else if (key_is(key, klen, "id")) {
			continue;
		} else if (nd.kind == CLI_NET_TAP) {
			return fail(p,
				    "-nic: unknown property '%.*s' (ifname, fd, script, "
				    "downscript, mac, model, vhost, vhostfd, vhostforce)",
				    (int)klen, key);
		} else {
			return fail(p, "%s: unknown property '%.*s' (mac, model, %s)", opt,
				    (int)klen, key, USER_PROPS);
		}
	}
	if (ret < 0)
		return ret;
	ret = add_netdev(p, opt, &nd, &given);
	if (ret < 0)
		return ret;
	nic.netdev = p->cfg->nr_netdevs - 1;
	return add_nic(p, opt, &nic, NULL);
}

/*
 * -netdev tap,id=ID,ifname=NAME|fd=N[,script=no][,downscript=no][,vhost=on|off]
 * [,vhostfd=N][,vhostforce=on|off], -netdev user,id=ID[,USER_PROPS...], or
 * -netdev stream,id=ID[,server=off],addr.type=unix,addr.path=PATH[,reconnect=S]
 */
static int opt_netdev(struct parser *p, const char *arg)
{
	static const char *const opts[] = {
		[CLI_NET_TAP] = "-netdev",
		[CLI_NET_USER] = "-netdev user",
		[CLI_NET_STREAM] = "-netdev stream",
	};
	struct cli_netdev nd = { .fd = -1, .vhostfd = -1 };
	struct net_given given = { 0 };
	const char *key = "", *v = NULL, *list = arg, *opt;
	size_t klen = 0;
	int ret;

	ret = next_prop(p, "-netdev", &list, &key, &klen, &v);
	if (ret < 0)
		return ret;
	if (net_kind(key, klen, v, &nd) < 0)
		return fail(p,
			    "-netdev: unknown kind '%.*s%s%s'; ember has tap, user and stream "
			    "(-netdev tap,id=ID,ifname=NAME)",
			    (int)klen, key, v ? "=" : "", v ? v : "");
	opt = opts[nd.kind];
	while ((ret = next_prop(p, opt, &list, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "%s: '%.*s' needs a value", opt, (int)klen, key);
		ret = backend_prop(p, opt, &nd, &given, key, klen, v);
		if (ret < 0)
			return ret;
		if (ret == 0)
			continue;
		if (!key_is(key, klen, "id"))
			return fail(p, "%s: unknown property '%.*s' (id, %s)", opt, (int)klen, key,
				    backend_props(nd.kind));
		if (!*v)
			return fail(p, "%s: empty id", opt);
		nd.id = v;
	}
	if (ret < 0)
		return ret;
	if (!nd.id)
		return fail(p, "%s: give it an id= for -device to name", opt);
	return add_netdev(p, opt, &nd, &given);
}

/* Every -device virtio-net-device names a -netdev no other NIC took. */
static int resolve_netdevs(struct parser *p)
{
	struct ember_config *cfg = p->cfg;
	bool taken[CLI_MAX_VIRTIO] = { false };

	for (unsigned int i = 0; i < cfg->nr_nics; i++) {
		unsigned int k;

		if (!p->nic_ref[i]) {
			taken[cfg->nics[i].netdev] = true;
			continue;
		}
		for (k = 0; k < cfg->nr_netdevs; k++)
			if (cfg->netdevs[k].id && strcmp(cfg->netdevs[k].id, p->nic_ref[i]) == 0)
				break;
		if (k == cfg->nr_netdevs)
			return fail(p, "-device virtio-net-device: no -netdev with id '%s'",
				    p->nic_ref[i]);
		if (taken[k])
			return fail(p, "-device virtio-net-device: netdev '%s' is used twice",
				    p->nic_ref[i]);
		taken[k] = true;
		cfg->nics[i].netdev = k;
	}
	return 0;
}

/* --- vCPUs and their topology --------------------------------------------------- */

#define SMP_FORM "[cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=N]"

static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* One number of -smp: given at most once, 1 to CLI_MAX_VCPUS. */
static int smp_value(struct parser *p, const char *key, size_t klen, const char *v, uint64_t *out)
{
	bool count = key_is(key, klen, "cpus");

	if (*out)
		return fail(p, "-smp: %.*s is given twice", (int)klen, key);
	if (!v || parse_u64(v, out) < 0)
		return count ? fail(p, "-smp: invalid vCPU count '%s'", v ? v : "")
			     : fail(p, "-smp: invalid %.*s '%s'", (int)klen, key, v ? v : "");
	if (*out == 0 && count)
		return fail(p, "-smp: a guest needs at least one vCPU");
	if (*out == 0)
		return fail(p, "-smp: %.*s must be at least 1", (int)klen, key);
	if (*out > CLI_MAX_VCPUS && count)
		return fail(p, "-smp: %s vCPUs is more than ember supports (%d)", v, CLI_MAX_VCPUS);
	if (*out > CLI_MAX_VCPUS)
		return fail(p, "-smp: %.*s=%s is more than ember supports (%d vCPUs)", (int)klen,
			    key, v, CLI_MAX_VCPUS);
	return 0;
}

/*
 * -smp [cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=N], as QEMU
 * spells it. What is left out is worked out as QEMU's x86 machines did
 * before 6.2: sockets first, so "-smp 4" is four packages of one core,
 * which is also what QEMU's microvm gives. ember numbers APIC IDs densely
 * (vCPU i has APIC ID i), so cores and threads must be powers of two, and
 * there is no CPU hotplug: maxcpus, if given, equals N.
 */
static int opt_smp(struct parser *p, const char *arg)
{
	const char *key, *v, *list = arg;
	uint64_t cpus = 0, sockets = 0, cores = 0, threads = 0, maxcpus = 0, *dst;
	bool first = true;
	size_t klen;
	int ret;

	while ((ret = next_prop(p, "-smp", &list, &key, &klen, &v)) > 0) {
		if (first && !v) { /* the leading count: QEMU's implied cpus= */
			v = unescape(p, key, klen);
			if (!v)
				return fail(p, "-smp: option values too long");
			key = "cpus";
			klen = 4;
		}
		first = false;
		if (key_is(key, klen, "cpus"))
			dst = &cpus;
		else if (key_is(key, klen, "sockets"))
			dst = &sockets;
		else if (key_is(key, klen, "cores"))
			dst = &cores;
		else if (key_is(key, klen, "threads"))
			dst = &threads;
		else if (key_is(key, klen, "maxcpus"))
			dst = &maxcpus;
		else if (key_is(key, klen, "dies") || key_is(key, klen, "clusters"))
			return fail(p,
				    "-smp: %.*s= is not supported; ember's packages have one die",
				    (int)klen, key);
		else
			return fail(p, "-smp: unknown property '%.*s' (ember takes %s)", (int)klen,
				    key, SMP_FORM);
		ret = smp_value(p, key, klen, v, dst);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (!cpus && !sockets && !cores && !threads && !maxcpus)
		return fail(p, "-smp: give a vCPU count (%s)", SMP_FORM);
	if (!cpus)
		cpus = maxcpus ? maxcpus
			       : (sockets ? sockets : 1) * (cores ? cores : 1) *
					 (threads ? threads : 1);
	if (cpus > CLI_MAX_VCPUS)
		return fail(p, "-smp: %llu vCPUs is more than ember supports (%d)",
			    (unsigned long long)cpus, CLI_MAX_VCPUS);
	if (maxcpus && maxcpus != cpus)
		return fail(
			p,
			"-smp: maxcpus=%llu differs from the %llu vCPUs: ember has no CPU hotplug",
			(unsigned long long)maxcpus, (unsigned long long)cpus);
	threads = threads ? threads : 1;
	if (!sockets) {
		cores = cores ? cores : 1;
		sockets = cpus / (cores * threads);
	} else if (!cores) {
		cores = cpus / (sockets * threads);
	}
	if (!sockets || !cores || sockets * cores * threads != cpus)
		return fail(
			p, "-smp: sockets (%llu) x cores (%llu) x threads (%llu) is not %llu vCPUs",
			(unsigned long long)sockets, (unsigned long long)cores,
			(unsigned long long)threads, (unsigned long long)cpus);
	if (!power_of_two(cores) || !power_of_two(threads))
		return fail(p,
			    "-smp: cores and threads must be powers of two (ember numbers APIC IDs "
			    "densely), not cores=%llu threads=%llu",
			    (unsigned long long)cores, (unsigned long long)threads);
	p->cfg->nr_vcpus = (unsigned int)cpus;
	p->cfg->cores = (unsigned int)cores;
	p->cfg->threads = (unsigned int)threads;
	return 0;
}

/* --- the sandbox and the privilege drop ------------------------------------------ */

#define SANDBOX_FORM "on|off[,debug=on|off]"

/* QEMU's -sandbox properties that tune its filter: ember's has no such knobs. */
static const char *const qemu_sandbox_props[] = {
	"obsolete",
	"elevateprivileges",
	"spawn",
	"resourcecontrol",
};

/* A property after on|off: debug=, or one of QEMU's, refused by name. */
static int sandbox_prop(struct parser *p, const char *key, size_t klen, const char *v, bool *debug,
			bool *debug_set)
{
	for (size_t i = 0; i < sizeof(qemu_sandbox_props) / sizeof(qemu_sandbox_props[0]); i++)
		if (key_is(key, klen, qemu_sandbox_props[i]))
			return fail(p, "-sandbox: QEMU's %s= is not supported; ember takes %s",
				    qemu_sandbox_props[i], SANDBOX_FORM);
	if (key_is(key, klen, "enable"))
		return fail(p, "-sandbox: on or off is given twice");
	if (!key_is(key, klen, "debug"))
		return fail(p, "-sandbox: unknown property '%.*s' (ember takes %s)", (int)klen, key,
			    SANDBOX_FORM);
	if (*debug_set)
		return fail(p, "-sandbox: debug is given twice");
	if (!v)
		return fail(p, "-sandbox: debug needs a value (debug=on or debug=off)");
	*debug_set = true;
	return parse_bool(p, "-sandbox", "debug", v, debug);
}

/*
 * -sandbox on|off[,debug=on|off]. The first item is QEMU's implied enable=,
 * so enable=on is on too. Each -sandbox says everything: the last one wins.
 */
static int opt_sandbox(struct parser *p, const char *arg)
{
	const char *key, *v, *list = arg;
	bool on, debug = false, debug_set = false;
	size_t klen;
	int ret;

	ret = next_prop(p, "-sandbox", &list, &key, &klen, &v);
	if (ret < 0)
		return ret;
	if (ret == 0 || (v && !key_is(key, klen, "enable")))
		return fail(p, "-sandbox: start with on or off (%s), not '%s'", SANDBOX_FORM, arg);
	if (!v && !(v = unescape(p, key, klen)))
		return fail(p, "-sandbox: option values too long");
	if (parse_bool(p, "-sandbox", "enable", v, &on) < 0)
		return fail(p, "-sandbox: give on or off, not '%s' (%s)", v, SANDBOX_FORM);
	while ((ret = next_prop(p, "-sandbox", &list, &key, &klen, &v)) > 0) {
		ret = sandbox_prop(p, key, klen, v, &debug, &debug_set);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (!on && debug)
		return fail(p, "-sandbox: debug=on needs the sandbox on (-sandbox on,debug=on)");
	p->cfg->sandbox = on;
	p->cfg->sandbox_debug = debug;
	return 0;
}

/*
 * -runas USER[:GROUP], names or numbers; jail_prepare() looks them up when
 * ember starts. A ':' cannot be part of a name (it separates /etc/passwd's
 * fields), so a second one is a mistake.
 */
static int opt_runas(struct parser *p, const char *arg)
{
	const char *colon = strchr(arg, ':');
	size_t ulen = colon ? (size_t)(colon - arg) : strlen(arg);
	const char *user = arg;

	if (!ulen)
		return fail(p, "-runas: empty user in '%s' (-runas USER[:GROUP])", arg);
	if (colon && !colon[1])
		return fail(p, "-runas: empty group in '%s' (-runas USER:GROUP)", arg);
	if (colon && strchr(colon + 1, ':'))
		return fail(p, "-runas: '%s' has more than one ':' (-runas USER[:GROUP])", arg);
	if (colon && !(user = keep(p, arg, ulen)))
		return fail(p, "-runas: option values too long");
	p->cfg->runas_user = user;
	p->cfg->runas_group = colon ? colon + 1 : NULL;
	return 0;
}

static int opt_chroot(struct parser *p, const char *arg)
{
	if (!*arg)
		return fail(p, "-chroot: empty directory name");
	p->cfg->chroot_dir = arg;
	return 0;
}

/* --- -device and -chardev: kinds and their properties, from tables ------------- */

enum prop_type {
	PROP_STR,
	PROP_NUM,
	PROP_BOOL,
	PROP_MAC,
};

/* One property of a kind. */
struct prop_def {
	const char *name;
	enum prop_type type;
	bool required;
	uint64_t min, max; /* PROP_NUM: the range; PROP_STR: the longest value (0: any) */
	uint64_t def;	   /* PROP_NUM, PROP_BOOL: the value when not given */
	const char *help;
};

#define KIND_MAX_PROPS 8

/* What a property list held, by the index of each property in its kind's table. */
struct prop_vals {
	bool set[KIND_MAX_PROPS];
	const char *str[KIND_MAX_PROPS];
	uint64_t num[KIND_MAX_PROPS]; /* PROP_NUM and PROP_BOOL */
	uint8_t mac[6];		      /* the one PROP_MAC a kind may have */
};

/* A kind of device (or of character device): its properties and what adding one does. */
struct kind_def {
	const char *name;
	const char *help;
	const struct prop_def *props; /* ends with a NULL name */
	int (*add)(struct parser *p, const char *opt, const struct prop_vals *v);
	const char *instead; /* not available here: the kind to use instead */
};

static const char *const type_names[] = {
	[PROP_STR] = "str",
	[PROP_NUM] = "uint",
	[PROP_BOOL] = "bool",
	[PROP_MAC] = "macaddr",
};

static unsigned int nr_props(const struct kind_def *k)
{
	unsigned int n = 0;

	while (k->props && k->props[n].name)
		n++;
	return n;
}

/* "drive, serial, id": the property names, for a message. */
static void prop_names(const struct kind_def *k, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < nr_props(k) && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 k->props[i].name);
	if (!nr_props(k))
		snprintf(buf, size, "none");
}

static int prop_value(struct parser *p, const char *opt, const struct prop_def *d, const char *v,
		      struct prop_vals *vals, unsigned int i)
{
	switch (d->type) {
	case PROP_STR:
		if (d->max && strlen(v) > d->max)
			return fail(p, "%s: %s '%s' is longer than %" PRIu64 " bytes", opt, d->name,
				    v, d->max);
		if (!*v)
			return fail(p, "%s: empty %s", opt, d->name);
		vals->str[i] = v;
		break;
	case PROP_NUM:
		if (parse_u64(v, &vals->num[i]) < 0)
			return fail(p, "%s: invalid number in '%s=%s'", opt, d->name, v);
		if (vals->num[i] < d->min || vals->num[i] > d->max)
			return fail(p, "%s: %s=%s is out of range (%" PRIu64 " to %" PRIu64 ")",
				    opt, d->name, v, d->min, d->max);
		break;
	case PROP_BOOL: {
		bool b;

		if (parse_bool(p, opt, d->name, v, &b) < 0)
			return -EINVAL;
		vals->num[i] = b;
		break;
	}
	case PROP_MAC:
		if (parse_mac(v, vals->mac) < 0)
			return fail(p, "%s: %s=%s is not a unicast xx:xx:xx:xx:xx:xx", opt, d->name,
				    v);
		break;
	}
	vals->set[i] = true;
	return 0;
}

/* Fills `vals` from a property list by `k`'s table: defaults, then what was given. */
static int parse_props(struct parser *p, const char *opt, const struct kind_def *k,
		       const char *list, struct prop_vals *vals)
{
	unsigned int n = nr_props(k), i;
	const char *key, *v;
	size_t klen;
	int ret;

	*vals = (struct prop_vals){ 0 };
	for (i = 0; i < n; i++)
		vals->num[i] = k->props[i].def;
	while ((ret = next_prop(p, opt, &list, &key, &klen, &v)) > 0) {
		for (i = 0; i < n && !key_is(key, klen, k->props[i].name); i++)
			;
		if (i == n) {
			char names[128];

			prop_names(k, names, sizeof(names));
			return fail(p, "%s: unknown property '%.*s' (it has %s)", opt, (int)klen,
				    key, names);
		}
		if (!v)
			return fail(p, "%s: '%.*s' needs a value (%.*s=...)", opt, (int)klen, key,
				    (int)klen, key);
		if (vals->set[i])
			return fail(p, "%s: %s is given twice", opt, k->props[i].name);
		ret = prop_value(p, opt, &k->props[i], v, vals, i);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++)
		if (k->props[i].required && !vals->set[i])
			return fail(p, "%s: give %s=%s", opt, k->props[i].name,
				    k->props[i].type == PROP_STR ? "ID" : "N");
	return 0;
}

static void print_kind_help(FILE *f, const char *what, const struct kind_def *k)
{
	fprintf(f, "%s %s: %s\n", what, k->name, k->help);
	if (k->instead) {
		fprintf(f, "  not available in ember; use %s\n", k->instead);
		return;
	}
	if (!nr_props(k))
		fputs("  (no properties)\n", f);
	for (unsigned int i = 0; i < nr_props(k); i++) {
		const struct prop_def *d = &k->props[i];
		char arg[48];

		snprintf(arg, sizeof(arg), "%s=<%s>", d->name, type_names[d->type]);
		fprintf(f, "  %-22s - %s", arg, d->help);
		if (d->required)
			fputs(" (required)", f);
		else if (d->type == PROP_NUM)
			fprintf(f, " (default: %" PRIu64 ")", d->def);
		else if (d->type == PROP_BOOL)
			fprintf(f, " (default: %s)", d->def ? "on" : "off");
		fputc('\n', f);
	}
}

static void print_kinds(FILE *f, const char *what, const struct kind_def *kinds, size_t n)
{
	fprintf(f, "Kinds for %s (%s KIND,help lists a kind's properties):\n", what, what);
	for (size_t i = 0; i < n; i++)
		if (!kinds[i].instead)
			fprintf(f, "  %-22s %s\n", kinds[i].name, kinds[i].help);
}

/*
 * "KIND[,PROP=VALUE...]" by `kinds`: "help" lists the kinds, "KIND,help" the
 * kind's properties (the listing is printed after parsing ends), anything
 * else goes to the kind's add().
 */
static int parse_kind(struct parser *p, const char *what, const struct kind_def *kinds, size_t n,
		      const char *arg)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	const struct kind_def *k = NULL;
	struct prop_vals vals;
	char opt[64];

	if (key_is(arg, len, "help") && !comma) {
		p->cfg->help_kinds = what;
		return 0;
	}
	for (size_t i = 0; i < n && !k; i++)
		if (key_is(arg, len, kinds[i].name))
			k = &kinds[i];
	if (!k)
		return fail(p, "%s: unknown kind '%.*s' (%s help lists them)", what, (int)len, arg,
			    what);
	snprintf(opt, sizeof(opt), "%s %s", what, k->name);
	if (comma && strcmp(comma + 1, "help") == 0) {
		p->cfg->help_kinds = what;
		p->cfg->help_kind = k->name;
		return 0;
	}
	if (k->instead)
		return fail(p, "%s: not available in ember (it has no PCI bus); use %s", opt,
			    k->instead);
	if (parse_props(p, opt, k, comma ? comma + 1 : NULL, &vals) < 0)
		return -EINVAL;
	return k->add(p, opt, &vals);
}

/* isa-debug-exit */
enum { DX_IOBASE, DX_IOSIZE };
static const struct prop_def debug_exit_props[] = {
	[DX_IOBASE] = { "iobase", PROP_NUM, false, 0, 0xffff, 0x501, "first I/O port" },
	[DX_IOSIZE] = { "iosize", PROP_NUM, false, 1, 0x10000, 2, "ports in the window" },
	{ 0 },
};

static int add_debug_exit(struct parser *p, const char *opt, const struct prop_vals *v)
{
	struct ember_config *cfg = p->cfg;
	uint64_t iobase = v->num[DX_IOBASE], iosize = v->num[DX_IOSIZE];

	if (iosize > 0x10000 - iobase)
		return fail(p,
			    "%s: iosize 0x%" PRIx64 " at iobase 0x%" PRIx64
			    " does not fit the I/O port space",
			    opt, iosize, iobase);
	if (cfg->nr_debug_exit == CLI_MAX_DEBUG_EXIT)
		return fail(p, "%s: at most %d of them", opt, CLI_MAX_DEBUG_EXIT);
	cfg->debug_exit[cfg->nr_debug_exit++] = (struct cli_debug_exit){
		.iobase = (uint16_t)iobase,
		.iosize = (uint32_t)iosize,
	};
	return 0;
}

/* virtio-blk-device */
enum { BLK_DRIVE, BLK_SERIAL, BLK_ID };
static const struct prop_def blk_props[] = {
	[BLK_DRIVE] = { "drive", PROP_STR, true, 0, 0, 0, "the -drive if=none,id=ID to use" },
	[BLK_SERIAL] = { "serial", PROP_STR, false, 0, CLI_SERIAL_MAX, 0,
			 "serial number (overrides the drive's)" },
	[BLK_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_blk(struct parser *p, const char *opt, const struct prop_vals *v)
{
	struct ember_config *cfg = p->cfg;

	if (cfg->nr_blk == CLI_MAX_DRIVES)
		return fail(p, "%s: at most %d disks", opt, CLI_MAX_DRIVES);
	p->blk_ref[cfg->nr_blk] = v->str[BLK_DRIVE];
	cfg->blk[cfg->nr_blk++] = (struct cli_blk){ .serial = v->str[BLK_SERIAL] };
	return 0;
}

/* virtio-net-device */
enum { NET_NETDEV, NET_MAC, NET_ID };
static const struct prop_def net_props[] = {
	[NET_NETDEV] = { "netdev", PROP_STR, true, 0, 0, 0, "the -netdev id=ID to use" },
	[NET_MAC] = { "mac", PROP_MAC, false, 0, 0, 0, "MAC address (default: made up)" },
	[NET_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_net(struct parser *p, const char *opt, const struct prop_vals *v)
{
	struct cli_nic nic = { .has_mac = v->set[NET_MAC] };

	memcpy(nic.mac, v->mac, sizeof(nic.mac));
	return add_nic(p, opt, &nic, v->str[NET_NETDEV]);
}

/* virtio-rng-device */
enum { RNG_MAX_BYTES, RNG_PERIOD, RNG_ID };
static const struct prop_def rng_props[] = {
	[RNG_MAX_BYTES] = { "max-bytes", PROP_NUM, false, 1, INT64_MAX, INT64_MAX,
			    "bytes the guest may take per period" },
	[RNG_PERIOD] = { "period", PROP_NUM, false, 1, UINT32_MAX, 65536,
			 "the rate limit's period, in milliseconds" },
	[RNG_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_rng(struct parser *p, const char *opt, const struct prop_vals *v)
{
	struct ember_config *cfg = p->cfg;

	if (cfg->nr_rngs == CLI_MAX_VIRTIO)
		return fail(p, "%s: at most %d of them", opt, CLI_MAX_VIRTIO);
	cfg->rngs[cfg->nr_rngs++] = (struct cli_rng){
		.max_bytes = v->num[RNG_MAX_BYTES],
		.period_ms = (uint32_t)v->num[RNG_PERIOD],
	};
	return 0;
}

/* virtio-serial-device */
enum { VSER_MAX_PORTS, VSER_ID };
static const struct prop_def vserial_props[] = {
	[VSER_MAX_PORTS] = { "max_ports", PROP_NUM, false, 1, CLI_MAX_PORTS, CLI_MAX_PORTS,
			     "ports the guest is told of" },
	[VSER_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_vserial(struct parser *p, const char *opt, const struct prop_vals *v)
{
	if (p->cfg->has_vserial)
		return fail(p, "%s: ember has one virtio-serial device at most", opt);
	p->cfg->has_vserial = true;
	p->cfg->vserial_max_ports = (unsigned int)v->num[VSER_MAX_PORTS];
	return 0;
}

/* vhost-vsock-device: AF_VSOCK through the kernel's vhost-vsock. */
enum { VSOCK_CID, VSOCK_VHOSTFD, VSOCK_ID };
static const struct prop_def vsock_props[] = {
	[VSOCK_CID] = { "guest-cid", PROP_NUM, true, 3, 0xfffffffeULL, 0,
			"the guest's address: 3 to 4294967294, unused by other VMs" },
	[VSOCK_VHOSTFD] = { "vhostfd", PROP_NUM, false, 0, INT32_MAX, 0,
			    "an open /dev/vhost-vsock to use (default: open it)" },
	[VSOCK_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_vsock(struct parser *p, const char *opt, const struct prop_vals *v)
{
	if (p->cfg->has_vsock)
		return fail(p, "%s: a guest has one vsock device at most", opt);
	p->cfg->has_vsock = true;
	p->cfg->vsock = (struct cli_vsock){
		.cid = v->num[VSOCK_CID],
		.vhostfd = v->set[VSOCK_VHOSTFD] ? (int)v->num[VSOCK_VHOSTFD] : -1,
	};
	return 0;
}

/* virtconsole and virtserialport: ports of the virtio-serial device. */
enum { PORT_CHARDEV, PORT_NAME, PORT_NR, PORT_ID };
static const struct prop_def port_props[] = {
	[PORT_CHARDEV] = { "chardev", PROP_STR, true, 0, 0, 0, "the -chardev id=ID to use" },
	[PORT_NAME] = { "name", PROP_STR, false, 0, CLI_PORT_NAME_MAX, 0,
			"the port's name in the guest (/dev/virtio-ports/NAME)" },
	[PORT_NR] = { "nr", PROP_NUM, false, 0, CLI_MAX_PORTS - 1, 0,
		      "port number (default: the first free)" },
	[PORT_ID] = { "id", PROP_STR, false, 0, 0, 0, "the device's name" },
	{ 0 },
};

static int add_port(struct parser *p, const char *opt, const struct prop_vals *v, bool console)
{
	struct ember_config *cfg = p->cfg;

	if (!console && v->set[PORT_NR] && v->num[PORT_NR] == 0)
		return fail(p, "%s: port 0 is kept for a virtconsole", opt);
	if (cfg->nr_ports == CLI_MAX_PORTS)
		return fail(p, "%s: at most %d ports", opt, CLI_MAX_PORTS);
	p->port_ref[cfg->nr_ports] = v->str[PORT_CHARDEV];
	p->port_nr_set[cfg->nr_ports] = v->set[PORT_NR];
	cfg->ports[cfg->nr_ports++] = (struct cli_port){
		.name = v->str[PORT_NAME],
		.console = console,
		.nr = (unsigned int)v->num[PORT_NR],
	};
	return 0;
}

static int add_virtconsole(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_port(p, opt, v, true);
}

static int add_virtserialport(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_port(p, opt, v, false);
}

#define KIND(n, h, p, a)                                                                           \
	{                                                                                          \
		.name = (n), .help = (h), .props = (p), .add = (a)                                 \
	}
#define NO_PCI(n, h, use)                                                                          \
	{                                                                                          \
		.name = (n), .help = (h), .instead = (use)                                         \
	}

static const struct kind_def device_kinds[] = {
	KIND("virtio-blk-device", "a virtio disk (virtio-mmio) on a -drive", blk_props, add_blk),
	KIND("virtio-net-device", "a virtio NIC (virtio-mmio) on a -netdev", net_props, add_net),
	KIND("virtio-rng-device", "a virtio entropy source, fed by getrandom(2)", rng_props,
	     add_rng),
	KIND("virtio-serial-device", "a virtio console with ports (virtio-mmio)", vserial_props,
	     add_vserial),
	KIND("virtconsole", "a console port (hvc0, ...) of the virtio-serial device", port_props,
	     add_virtconsole),
	KIND("virtserialport", "a named port of the virtio-serial device", port_props,
	     add_virtserialport),
	KIND("vhost-vsock-device", "AF_VSOCK sockets to the host (the kernel's vhost-vsock)",
	     vsock_props, add_vsock),
	KIND("isa-debug-exit", "a guest write of V ends ember with exit code (V << 1) | 1",
	     debug_exit_props, add_debug_exit),
	NO_PCI("virtio-blk-pci", "a virtio disk on PCI", "virtio-blk-device"),
	NO_PCI("virtio-net-pci", "a virtio NIC on PCI", "virtio-net-device"),
	NO_PCI("virtio-rng-pci", "a virtio entropy source on PCI", "virtio-rng-device"),
	NO_PCI("virtio-serial-pci", "a virtio console on PCI", "virtio-serial-device"),
	NO_PCI("vhost-vsock-pci", "a vhost-vsock device on PCI", "vhost-vsock-device"),
};

static int opt_device(struct parser *p, const char *arg)
{
	return parse_kind(p, "-device", device_kinds,
			  sizeof(device_kinds) / sizeof(device_kinds[0]), arg);
}

/* -chardev KIND,id=ID[,...] */
enum { CD_ID, CD_PATH, CD_SERVER, CD_WAIT };
static const struct prop_def chardev_id_props[] = {
	[CD_ID] = { "id", PROP_STR, true, 0, 0, 0, "the name devices use" },
	{ 0 },
};
static const struct prop_def chardev_file_props[] = {
	[CD_ID] = { "id", PROP_STR, true, 0, 0, 0, "the name devices use" },
	[CD_PATH] = { "path", PROP_STR, true, 0, 0, 0, "the file, created or truncated" },
	{ 0 },
};
static const struct prop_def chardev_socket_props[] = {
	[CD_ID] = { "id", PROP_STR, true, 0, 0, 0, "the name devices use" },
	[CD_PATH] = { "path", PROP_STR, true, 0, CLI_SOCKET_PATH_MAX, 0,
		      "the Unix socket ember listens on" },
	[CD_SERVER] = { "server", PROP_BOOL, false, 0, 0, 0, "listen (ember needs on)" },
	[CD_WAIT] = { "wait", PROP_BOOL, false, 0, 0, 1,
		      "wait for a client before starting (ember needs off)" },
	{ 0 },
};

static int add_chardev(struct parser *p, const char *opt, const struct prop_vals *v,
		       enum chardev_kind kind)
{
	struct ember_config *cfg = p->cfg;

	if (kind == CHARDEV_SOCKET && (!v->num[CD_SERVER] || v->num[CD_WAIT]))
		return fail(p,
			    "%s: ember listens and does not wait for a client; give "
			    "server=on,wait=off",
			    opt);
	for (unsigned int i = 0; i < cfg->nr_chardevs; i++) {
		if (strcmp(cfg->chardevs[i].id, v->str[CD_ID]) == 0)
			return fail(p, "%s: id '%s' is used twice", opt, v->str[CD_ID]);
		if (kind == CHARDEV_STDIO && cfg->chardevs[i].spec.kind == CHARDEV_STDIO)
			return fail(p, "%s: standard input can feed one character device only",
				    opt);
	}
	if (cfg->nr_chardevs == CLI_MAX_CHARDEVS)
		return fail(p, "%s: at most %d character devices", opt, CLI_MAX_CHARDEVS);
	cfg->chardevs[cfg->nr_chardevs++] = (struct cli_chardev){
		.id = v->str[CD_ID],
		.spec = { .kind = kind,
			  .path = kind == CHARDEV_FILE || kind == CHARDEV_SOCKET ? v->str[CD_PATH]
										 : NULL },
	};
	return 0;
}

static int add_chardev_stdio(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_chardev(p, opt, v, CHARDEV_STDIO);
}

static int add_chardev_null(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_chardev(p, opt, v, CHARDEV_NONE);
}

static int add_chardev_file(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_chardev(p, opt, v, CHARDEV_FILE);
}

static int add_chardev_socket(struct parser *p, const char *opt, const struct prop_vals *v)
{
	return add_chardev(p, opt, v, CHARDEV_SOCKET);
}

static const struct kind_def chardev_kinds[] = {
	KIND("stdio", "ember's standard input and output", chardev_id_props, add_chardev_stdio),
	KIND("null", "output discarded, no input", chardev_id_props, add_chardev_null),
	KIND("file", "output to a file", chardev_file_props, add_chardev_file),
	KIND("socket", "a Unix socket ember listens on; one client at a time", chardev_socket_props,
	     add_chardev_socket),
};

static int opt_chardev(struct parser *p, const char *arg)
{
	return parse_kind(p, "-chardev", chardev_kinds,
			  sizeof(chardev_kinds) / sizeof(chardev_kinds[0]), arg);
}

static int one_monitor(struct parser *p, const char *opt)
{
	if (p->mon_opt)
		return fail(p, "%s: ember has one QMP monitor, and %s gave it already", opt,
			    p->mon_opt);
	p->mon_opt = opt;
	return 0;
}

/*
 * -qmp unix:PATH,server=on,wait=off (or QEMU's older server,nowait): a
 * socket chardev of its own, named as QEMU names it.
 */
static int opt_qmp(struct parser *p, const char *arg)
{
	struct ember_config *cfg = p->cfg;
	const char *end, *path, *list, *key, *v;
	bool server = false, wait = true;
	size_t klen;
	int ret;

	if (strncmp(arg, "unix:", 5) != 0)
		return fail(p, "-qmp: ember's monitor is a Unix socket: give "
			       "unix:PATH,server=on,wait=off");
	for (end = arg + 5; *end && !(*end == ',' && end[1] != ','); end++)
		if (*end == ',')
			end++;
	if (end == arg + 5)
		return fail(p, "-qmp: empty socket path");
	path = unescape(p, arg + 5, (size_t)(end - arg - 5));
	if (!path)
		return fail(p, "-qmp: option values too long");
	if (strlen(path) > CLI_SOCKET_PATH_MAX)
		return fail(p, "-qmp: the socket path is longer than %d bytes",
			    CLI_SOCKET_PATH_MAX);
	list = *end ? end + 1 : end;
	while ((ret = next_prop(p, "-qmp", &list, &key, &klen, &v)) > 0) {
		bool b = true;

		if (key_is(key, klen, "nowait") && !v) {
			wait = false;
			continue;
		}
		if (!key_is(key, klen, "server") && !key_is(key, klen, "wait"))
			return fail(p, "-qmp: unknown option '%.*s' (it has server, wait)",
				    (int)klen, key);
		if (v && parse_bool(p, "-qmp", key_is(key, klen, "server") ? "server" : "wait", v,
				    &b) < 0)
			return -EINVAL;
		if (!v && key_is(key, klen, "wait"))
			return fail(p, "-qmp: wait needs a value (wait=off)");
		if (key_is(key, klen, "server"))
			server = b;
		else
			wait = b;
	}
	if (ret < 0)
		return ret;
	if (!server || wait)
		return fail(p, "-qmp: ember listens and does not wait for a client; give "
			       "server=on,wait=off");
	ret = one_monitor(p, "-qmp");
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < cfg->nr_chardevs; i++)
		if (strcmp(cfg->chardevs[i].id, "compat_monitor0") == 0)
			return fail(p, "-qmp: id 'compat_monitor0' is used by a -chardev");
	if (cfg->nr_chardevs == CLI_MAX_CHARDEVS)
		return fail(p, "-qmp: at most %d character devices", CLI_MAX_CHARDEVS);
	cfg->qmp_chardev = cfg->nr_chardevs;
	cfg->chardevs[cfg->nr_chardevs] = (struct cli_chardev){
		/* In the string room, as every other id is. */
		.id = unescape(p, "compat_monitor0", strlen("compat_monitor0")),
		.spec = { .kind = CHARDEV_SOCKET, .path = path },
	};
	if (!cfg->chardevs[cfg->nr_chardevs].id)
		return fail(p, "-qmp: option values too long");
	cfg->nr_chardevs++;
	cfg->has_qmp = true;
	return 0;
}

/*
 * -incoming file:PATH[,check-disks=off]: start from a snapshot that QMP's
 * migrate wrote, as QEMU 8.2 spells the file URI. check-disks=off lets disks
 * whose size or modification time changed since the snapshot through.
 */
static int opt_incoming(struct parser *p, const char *arg)
{
	struct ember_config *cfg = p->cfg;
	const char *end, *list, *key, *v;
	size_t klen;
	int ret;

	if (strncmp(arg, "file:", 5) != 0)
		return fail(p, "-incoming: ember restores from a file: give file:PATH");
	if (cfg->incoming)
		return fail(p, "-incoming: given twice");
	for (end = arg + 5; *end && !(*end == ',' && end[1] != ','); end++)
		if (*end == ',')
			end++;
	if (end == arg + 5)
		return fail(p, "-incoming: empty file name");
	cfg->incoming = unescape(p, arg + 5, (size_t)(end - arg - 5));
	if (!cfg->incoming)
		return fail(p, "-incoming: option values too long");
	cfg->incoming_check_disks = true;
	list = *end ? end + 1 : end;
	while ((ret = next_prop(p, "-incoming", &list, &key, &klen, &v)) > 0) {
		if (!key_is(key, klen, "check-disks"))
			return fail(p, "-incoming: unknown option '%.*s' (it has check-disks)",
				    (int)klen, key);
		if (parse_bool(p, "-incoming", "check-disks", v, &cfg->incoming_check_disks) < 0)
			return -EINVAL;
	}
	return ret;
}

/* -mon chardev=ID,mode=control[,pretty=off]: QMP on a socket -chardev. */
enum { MON_CHARDEV, MON_MODE, MON_PRETTY };
static const struct prop_def mon_props[] = {
	[MON_CHARDEV] = { "chardev", PROP_STR, true, 0, 0, 0, "the -chardev id=ID to use" },
	[MON_MODE] = { "mode", PROP_STR, false, 0, 0, 0, "control (QMP; ember has no other)" },
	[MON_PRETTY] = { "pretty", PROP_BOOL, false, 0, 0, 0,
			 "indented replies (ember needs off)" },
	{ 0 },
};

static int opt_mon(struct parser *p, const char *arg)
{
	static const struct kind_def mon = { .name = "mon", .props = mon_props };
	struct prop_vals v;
	int ret = parse_props(p, "-mon", &mon, arg, &v);

	if (ret < 0)
		return ret;
	if (!v.set[MON_MODE] || strcmp(v.str[MON_MODE], "control") != 0)
		return fail(p, "-mon: ember's monitor speaks QMP only: give mode=control");
	if (v.num[MON_PRETTY])
		return fail(p, "-mon: pretty=on is not supported; replies are one line each");
	ret = one_monitor(p, "-mon");
	if (ret < 0)
		return ret;
	p->mon_ref = v.str[MON_CHARDEV];
	p->cfg->has_qmp = true;
	return 0;
}

/* The index of the -chardev with id `id`, taken by one user only; or -EINVAL. */
static int resolve_chardev(struct parser *p, const char *opt, const char *id, bool *taken)
{
	struct ember_config *cfg = p->cfg;

	if (!id) /* a required property: the table saw to it */
		return fail(p, "%s: give chardev=ID", opt);
	for (unsigned int k = 0; k < cfg->nr_chardevs; k++) {
		if (strcmp(cfg->chardevs[k].id, id) != 0)
			continue;
		if (taken[k])
			return fail(p, "%s: chardev '%s' is used twice", opt, id);
		taken[k] = true;
		return (int)k;
	}
	return fail(p, "%s: no -chardev with id '%s'", opt, id);
}

/*
 * -serial chardev:ID takes its chardev; every port names a chardev no one
 * else took, needs the virtio-serial device, and gets a free number.
 */
static int resolve_chardevs(struct parser *p)
{
	struct ember_config *cfg = p->cfg;
	bool taken[CLI_MAX_CHARDEVS] = { false }, used_nr[CLI_MAX_PORTS] = { false };
	int k;

	if (p->serial_ref) {
		k = resolve_chardev(p, "-serial", p->serial_ref, taken);
		if (k < 0)
			return k;
		if (cfg->chardevs[k].spec.kind == CHARDEV_SOCKET)
			return fail(p, "-serial chardev:%s: COM1 takes stdio, file or null",
				    p->serial_ref);
		cfg->serial = cfg->chardevs[k].spec;
		cfg->serial_chardev = true;
	}
	if (cfg->has_qmp) {
		if (p->mon_ref) {
			k = resolve_chardev(p, "-mon", p->mon_ref, taken);
			if (k < 0)
				return k;
			if (cfg->chardevs[k].spec.kind != CHARDEV_SOCKET)
				return fail(p, "-mon chardev=%s: QMP takes a socket -chardev",
					    p->mon_ref);
			cfg->qmp_chardev = (unsigned int)k;
		} else {
			taken[cfg->qmp_chardev] = true;
		}
	}
	if (cfg->nr_ports && !cfg->has_vserial)
		return fail(p, "-device %s: add -device virtio-serial-device for its ports",
			    cfg->ports[0].console ? "virtconsole" : "virtserialport");
	for (unsigned int i = 0; i < cfg->nr_ports; i++) {
		struct cli_port *port = &cfg->ports[i];
		const char *opt = port->console ? "-device virtconsole" : "-device virtserialport";

		k = resolve_chardev(p, opt, p->port_ref[i], taken);
		if (k < 0)
			return k;
		port->chardev = (unsigned int)k;
		/* A port on stdio takes standard input: COM1 cannot have it too. */
		if (cfg->chardevs[k].spec.kind == CHARDEV_STDIO && !p->serial_ref) {
			if (p->serial_given && cfg->serial.kind == CHARDEV_STDIO)
				return fail(p, "%s: -serial stdio has standard input already", opt);
			if (!p->serial_given)
				cfg->serial.kind = CHARDEV_NONE;
		}
		if (!p->port_nr_set[i])
			continue;
		if (port->nr >= cfg->vserial_max_ports)
			return fail(p, "%s: nr=%u is not below max_ports=%u", opt, port->nr,
				    cfg->vserial_max_ports);
		if (used_nr[port->nr])
			return fail(p, "%s: port %u is used twice", opt, port->nr);
		used_nr[port->nr] = true;
	}
	/* As QEMU numbers them: a console may take port 0, other ports start at 1. */
	for (unsigned int i = 0; i < cfg->nr_ports; i++) {
		struct cli_port *port = &cfg->ports[i];
		unsigned int nr;

		if (p->port_nr_set[i])
			continue;
		for (nr = port->console ? 0 : 1; nr < cfg->vserial_max_ports && used_nr[nr]; nr++)
			;
		if (nr >= cfg->vserial_max_ports)
			return fail(p, "-device %s: no free port below max_ports=%u",
				    port->console ? "virtconsole" : "virtserialport",
				    cfg->vserial_max_ports);
		used_nr[nr] = true;
		port->nr = nr;
	}
	return 0;
}

struct option_def {
	const char *name;
	int (*handler)(struct parser *p, const char *arg); /* NULL: a flag handled inline */
};

/* Two options a line. */
/* clang-format off */
static const struct option_def options[] = {
	{ "m", opt_m },		  { "smp", opt_smp },
	{ "kernel", opt_kernel }, { "initrd", opt_initrd },
	{ "append", opt_append }, { "bios", opt_bios },
	{ "serial", opt_serial }, { "display", opt_display },
	{ "name", opt_name },	  { "debugcon", opt_debugcon },
	{ "device", opt_device }, { "drive", opt_drive },
	{ "nic", opt_nic },	  { "netdev", opt_netdev },
	{ "chardev", opt_chardev }, { "sandbox", opt_sandbox },
	{ "runas", opt_runas },	  { "chroot", opt_chroot },
	{ "qmp", opt_qmp },	  { "mon", opt_mon },
	{ "incoming", opt_incoming },
	{ "shutdown-timeout", opt_shutdown_timeout },
};
/* clang-format on */

/* Options QEMU users pass that change nothing in ember. */
static const char *const accepted_flags[] = {
	"nographic", /* ember has no display; the serial console is stdio already */
	"no-reboot", /* a guest reset always ends ember */
	"nodefaults",
	"enable-kvm",
};

int cli_parse(int argc, char *const argv[], struct ember_config *cfg, char *err, size_t err_len)
{
	struct parser p = { .cfg = cfg, .err = err, .err_len = err_len };

	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_size = CLI_DEFAULT_RAM;
	cfg->nr_vcpus = 1;
	cfg->cores = 1;
	cfg->threads = 1;
	cfg->serial.kind = CHARDEV_STDIO;
	cfg->shutdown_timeout = CLI_DEFAULT_SHUTDOWN_TIMEOUT;
	cfg->sandbox = true;
	if (err_len)
		err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *name;
		unsigned int k;
		int ret;

		if (a[0] != '-' || a[1] == '\0')
			return fail(&p, "unexpected argument '%s' (options start with '-')", a);
		/* QEMU accepts both -opt and --opt. */
		name = a[1] == '-' ? a + 2 : a + 1;
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
			cfg->help = true;
			continue;
		}
		if (strcmp(name, "version") == 0) {
			cfg->version = true;
			continue;
		}
		if (strcmp(name, "no-acpi") == 0) {
			cfg->no_acpi = true;
			continue;
		}
		for (k = 0; k < sizeof(accepted_flags) / sizeof(accepted_flags[0]); k++)
			if (strcmp(name, accepted_flags[k]) == 0)
				break;
		if (k < sizeof(accepted_flags) / sizeof(accepted_flags[0]))
			continue;
		for (k = 0; k < sizeof(options) / sizeof(options[0]); k++)
			if (strcmp(name, options[k].name) == 0)
				break;
		if (k == sizeof(options) / sizeof(options[0]))
			return fail(&p, "unknown option '%s' (ember -h lists the options)", a);
		if (i + 1 >= argc)
			return fail(&p, "option '%s' needs an argument", a);
		ret = options[k].handler(&p, argv[++i]);
		if (ret < 0)
			return ret;
	}
	if (cfg->help || cfg->version || cfg->help_kinds)
		return 0;
	if (resolve_drives(&p) < 0 || resolve_netdevs(&p) < 0 || resolve_chardevs(&p) < 0)
		return -EINVAL;
	if (cli_nr_virtio(cfg) > CLI_MAX_VIRTIO)
		return fail(&p,
			    "%u virtio devices: ember has lines for %d (disks, NICs and the rest "
			    "together)",
			    cli_nr_virtio(cfg), CLI_MAX_VIRTIO);
	if (cfg->kernel && cfg->bios)
		return fail(&p,
			    "-kernel and -bios cannot be combined: ember loads the kernel itself");
	if (!cfg->kernel && (cfg->initrd || cfg->append))
		return fail(&p, "%s needs -kernel", cfg->initrd ? "-initrd" : "-append");
	if (!cfg->kernel && !cfg->bios)
		return fail(&p, "nothing to run: give a kernel with -kernel FILE (or firmware with "
				"-bios FILE)");
	return 0;
}

unsigned int cli_nr_virtio(const struct ember_config *cfg)
{
	return cfg->nr_blk + cfg->nr_nics + cfg->nr_rngs + (cfg->has_vserial ? 1 : 0) +
	       (cfg->has_vsock ? 1 : 0);
}

/* What -device help, -device KIND,help, -chardev help and -chardev KIND,help print. */
void cli_print_kinds(FILE *f, const struct ember_config *cfg)
{
	bool dev = strcmp(cfg->help_kinds, "-device") == 0;
	const struct kind_def *kinds = dev ? device_kinds : chardev_kinds;
	size_t n = dev ? sizeof(device_kinds) / sizeof(device_kinds[0])
		       : sizeof(chardev_kinds) / sizeof(chardev_kinds[0]);

	if (!cfg->help_kind) {
		print_kinds(f, cfg->help_kinds, kinds, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(kinds[i].name, cfg->help_kind) == 0)
			print_kind_help(f, cfg->help_kinds, &kinds[i]);
}

void cli_print_help(FILE *f)
{
	fputs("Usage: ember -kernel FILE [options]\n"
	      "       ember -bios FILE [options]\n"
	      "\n"
	      "Runs a KVM virtual machine.\n"
	      "\n"
	      "Options:\n"
	      "  -kernel FILE      Linux kernel: a bzImage, or an ELF vmlinux with a PVH entry\n"
	      "  -initrd FILE      initial ramdisk for the kernel\n"
	      "  -append CMDLINE   kernel command line; ember adds console=ttyS0 unless it\n"
	      "                    has a console= (and there is a serial port)\n"
	      "  -bios FILE        firmware image, mapped read-only to end at 4 GiB; the guest\n"
	      "                    starts at its reset vector (16 bytes below 4 GiB, real mode)\n"
	      "  -m SIZE           guest RAM: MiB, or with a B/K/M/G/T suffix (default 128M)\n"
	      "  -smp N[,sockets=S][,cores=C][,threads=T]\n"
	      "                    number of vCPUs (default 1, at most 254) and their\n"
	      "                    topology (default: one package per vCPU)\n"
	      "  -serial DEV       COM1 (ttyS0): stdio (default), file:PATH, none or\n"
	      "                    chardev:ID; with stdio on a terminal, C-a x quits and\n"
	      "                    C-a h lists the keys\n"
	      "  -drive file=PATH[,format=raw|qcow2][,if=virtio|none][,readonly=on]\n"
	      "        [,cache=writeback|none|unsafe|directsync][,aio=io_uring|threads]\n"
	      "        [,serial=STR][,id=ID]\n"
	      "                    a disk image as a virtio disk (vda, vdb, ... in the\n"
	      "                    order given); with if=none, -device virtio-blk-device\n"
	      "                    attaches it. Without format=, a qcow2 image is known\n"
	      "                    by its header. A ',' in a value is written ',,'\n"
	      "  -nic tap,ifname=NAME|fd=N[,mac=MAC][,script=no,downscript=no][,model=virtio]\n"
	      "                    a virtio NIC on a tap (eth0, eth1, ... in order); ember\n"
	      "                    opens or creates the tap but configures nothing on the\n"
	      "                    host and runs no scripts; without mac= one is made up;\n"
	      "                    vhost=on moves its frames in the kernel (vhost-net)\n"
	      "  -netdev tap,id=ID,ifname=NAME|fd=N[,vhost=on|off][,vhostfd=N]\n"
	      "                    a tap for -device virtio-net-device,netdev=ID\n"
	      "  -nic user[,mac=MAC][,net=ADDR[/MASK]][,host=ADDR][,dns=ADDR]\n"
	      "        [,dhcpstart=ADDR][,hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT]\n"
	      "        [,restrict=on|off][,hostname=NAME][,domainname=NAME]\n"
	      "        [,ipv4=on|off][,ipv6=on|off]\n"
	      "                    a virtio NIC on user-mode networking (libslirp), no\n"
	      "                    privileges needed: the guest gets 10.0.2.15 by DHCP,\n"
	      "                    the host is 10.0.2.2 and DNS 10.0.2.3; each hostfwd=\n"
	      "                    forwards a host port to the guest (hostfwd=tcp::2222-:22)\n"
	      "  -netdev user,id=ID[,net=...][,hostfwd=...]...\n"
	      "                    the same for -device virtio-net-device,netdev=ID\n"
	      "  -netdev stream,id=ID,addr.type=unix,addr.path=PATH[,reconnect=S]\n"
	      "                    frames over a Unix socket ember connects to (passt's,\n"
	      "                    say), again every S seconds after it drops\n"
	      "  -no-acpi          no ACPI tables: MP tables, and virtio_mmio.device= hints\n"
	      "                    on the kernel command line, describe the machine (the\n"
	      "                    hints are added for acpi=off in -append too)\n"
	      "  -shutdown-timeout SECONDS\n"
	      "                    how long SIGTERM waits for the guest to power off after\n"
	      "                    pressing its ACPI power button (default 30; 0: SIGTERM\n"
	      "                    stops the guest at once, as SIGINT does)\n"
	      "  -sandbox on|off[,debug=on|off]\n"
	      "                    on (the default): every thread runs under a seccomp\n"
	      "                    filter, and a system call ember has no use for ends\n"
	      "                    it; debug=on names the call and the thread first\n"
	      "  -runas USER[:GROUP]\n"
	      "                    once everything is opened, drop to USER and GROUP\n"
	      "                    (names or ids; GROUP: USER's own); needs root\n"
	      "  -chroot DIR       once everything is opened, make DIR the root\n"
	      "                    directory; needs root\n"
	      "  -name NAME        name the guest in ember's messages\n"
	      "  -nographic, -display none, -no-reboot\n"
	      "                    accepted as in QEMU; ember has no display and a guest\n"
	      "                    reset always ends it\n"
	      "  -debugcon DEV     debug console on I/O port 0xe9: stdio, file:PATH or none\n"
	      "  -device KIND[,PROP=VALUE...]\n"
	      "                    add a device: virtio-blk-device, virtio-net-device,\n"
	      "                    virtio-rng-device, virtio-serial-device, virtconsole,\n"
	      "                    virtserialport, vhost-vsock-device, isa-debug-exit;\n"
	      "                    '-device help' lists them, '-device KIND,help' a kind's\n"
	      "                    properties\n"
	      "  -chardev KIND,id=ID[,PROP=VALUE...]\n"
	      "                    a host end for a port or -serial chardev:ID: stdio, null,\n"
	      "                    file,path=PATH or socket,path=PATH,server=on,wait=off\n"
	      "                    (a Unix socket ember listens on); '-chardev help'\n"
	      "  -qmp unix:PATH,server=on,wait=off\n"
	      "                    a QMP control socket (QEMU's machine protocol)\n"
	      "  -mon chardev=ID,mode=control\n"
	      "                    the same on a socket -chardev\n"
	      "  -incoming file:PATH[,check-disks=off]\n"
	      "                    start from a snapshot QMP's migrate wrote, with the\n"
	      "                    same devices; disks must be unchanged since\n"
	      "                    (check-disks=off: not checked)\n"
	      "  -h, --help        show this help and exit\n"
	      "  --version         show the version and exit\n"
	      "\n"
	      "Environment:\n"
	      "  EMBER_LOG         log level: error, warn (default), info or debug\n"
	      "\n"
	      "Exit status:\n"
	      "  0                 the guest rebooted, powered off or reset (triple fault\n"
	      "                    included), C-a x was typed, or QMP's quit or\n"
	      "                    system_reset came\n"
	      "  1                 ember failed (KVM error, entry failure)\n"
	      "  2                 bad usage or input; the guest was not started\n"
	      "  (V << 1) | 1      the guest wrote V to an isa-debug-exit port\n"
	      "  128 + N           ember was stopped by signal N (SIGINT, SIGTERM); a guest\n"
	      "                    that powers off after SIGTERM's power button ends with 0\n",
	      f);
}
