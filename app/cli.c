// SPDX-License-Identifier: MIT
#include "config.h"

#include "cli.h"

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

static int opt_smp(struct parser *p, const char *arg)
{
	const char *s = strncmp(arg, "cpus=", 5) == 0 ? arg + 5 : arg;
	uint64_t n;

	if (strchr(s, ','))
		return fail(p, "-smp: only a vCPU count is supported ('-smp N'), not '%s'", arg);
	if (parse_u64(s, &n) < 0)
		return fail(p, "-smp: invalid vCPU count '%s'", arg);
	if (n == 0)
		return fail(p, "-smp: a guest needs at least one vCPU");
	if (n > CLI_MAX_VCPUS)
		return fail(p, "-smp: %s vCPUs is more than ember supports (%d)", s, CLI_MAX_VCPUS);
	p->cfg->nr_vcpus = (unsigned int)n;
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
	/* QEMU users write mon:stdio; ember has no monitor, the console is the same. */
	if (strcmp(arg, "mon:stdio") == 0)
		arg = "stdio";
	if (chardev_parse(arg, &p->cfg->serial) < 0)
		return fail(p, "-serial: unknown backend '%s' (use stdio, file:PATH or none)", arg);
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

/* The value of `key=` in a property, or NULL. */
static const char *prop_value(const char *prop, size_t len, const char *key)
{
	size_t k = strlen(key);

	if (len > k && strncmp(prop, key, k) == 0 && prop[k] == '=')
		return prop + k + 1;
	return NULL;
}

static int device_debug_exit(struct parser *p, const char *props)
{
	uint64_t iobase = 0x501, iosize = 2; /* QEMU's defaults */
	struct ember_config *cfg = p->cfg;

	while (props && *props) {
		const char *comma = strchr(props, ',');
		size_t len = comma ? (size_t)(comma - props) : strlen(props);
		char val[32];
		const char *v;
		uint64_t *dst;

		if ((v = prop_value(props, len, "iobase")))
			dst = &iobase;
		else if ((v = prop_value(props, len, "iosize")))
			dst = &iosize;
		else
			return fail(p,
				    "-device isa-debug-exit: unknown property '%.*s' "
				    "(it has iobase and iosize)",
				    (int)len, props);
		if ((size_t)(props + len - v) >= sizeof(val))
			return fail(p, "-device isa-debug-exit: value too long in '%.*s'", (int)len,
				    props);
		memcpy(val, v, (size_t)(props + len - v));
		val[props + len - v] = '\0';
		if (parse_u64(val, dst) < 0)
			return fail(p, "-device isa-debug-exit: invalid number in '%.*s'", (int)len,
				    props);
		props = comma ? comma + 1 : NULL;
	}
	if (iobase > 0xffff)
		return fail(p,
			    "-device isa-debug-exit: iobase 0x%" PRIx64 " is beyond the "
			    "I/O port space",
			    iobase);
	if (iosize == 0 || iosize > 0x10000 - iobase)
		return fail(p,
			    "-device isa-debug-exit: iosize 0x%" PRIx64 " at iobase 0x%" PRIx64
			    " does not fit the I/O port space",
			    iosize, iobase);
	if (cfg->nr_debug_exit == CLI_MAX_DEBUG_EXIT)
		return fail(p, "-device isa-debug-exit: at most %d of them", CLI_MAX_DEBUG_EXIT);
	cfg->debug_exit[cfg->nr_debug_exit++] = (struct cli_debug_exit){
		.iobase = (uint16_t)iobase,
		.iosize = (uint32_t)iosize,
	};
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

/* -device virtio-blk-device,drive=ID[,serial=S][,id=NAME] */
static int device_virtio_blk(struct parser *p, const char *props)
{
	struct ember_config *cfg = p->cfg;
	const char *key, *v, *drive = NULL, *serial = NULL;
	size_t klen;
	int ret;

	while ((ret = next_prop(p, "-device virtio-blk-device", &props, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "-device virtio-blk-device: '%.*s' needs a value", (int)klen,
				    key);
		if (key_is(key, klen, "drive")) {
			drive = v;
		} else if (key_is(key, klen, "serial")) {
			if (strlen(v) > CLI_SERIAL_MAX)
				return fail(p,
					    "-device virtio-blk-device: serial '%s' is longer "
					    "than %d bytes",
					    v, CLI_SERIAL_MAX);
			serial = v;
		} else if (!key_is(key, klen, "id")) {
			return fail(p,
				    "-device virtio-blk-device: unknown property '%.*s' (drive, "
				    "serial, id)",
				    (int)klen, key);
		}
	}
	if (ret < 0)
		return ret;
	if (!drive)
		return fail(p, "-device virtio-blk-device: give its drive with drive=ID");
	if (cfg->nr_blk == CLI_MAX_DRIVES)
		return fail(p, "-device virtio-blk-device: at most %d disks", CLI_MAX_DRIVES);
	p->blk_ref[cfg->nr_blk] = drive;
	cfg->blk[cfg->nr_blk++] = (struct cli_blk){ .serial = serial };
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
		bool on;

		if (parse_bool(p, opt, "vhost", v, &on) < 0)
			return -EINVAL;
		if (on)
			return fail(p, "%s: ember has no vhost-net; use vhost=off", opt);
	} else {
		return 1;
	}
	return 0;
}

static int add_netdev(struct parser *p, const char *opt, const struct cli_netdev *nd)
{
	struct ember_config *cfg = p->cfg;

	if (nd->fd >= 0 && nd->ifname)
		return fail(p, "%s: give ifname= or fd=, not both", opt);
	if (nd->fd < 0 && !nd->ifname)
		return fail(p, "%s: name the tap with ifname=NAME (or pass fd=N)", opt);
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

/* -nic tap,ifname=NAME|fd=N[,script=no][,downscript=no][,mac=MAC][,model=virtio] */
static int opt_nic(struct parser *p, const char *arg)
{
	struct cli_netdev nd = { .fd = -1 };
	struct cli_nic nic = { 0 };
	const char *key, *v, *list = arg;
	size_t klen;
	int ret;

	if (strcmp(arg, "none") == 0)
		return 0;
	ret = next_prop(p, "-nic", &list, &key, &klen, &v);
	if (ret < 0)
		return ret;
	if (ret == 0 || v || !key_is(key, klen, "tap"))
		return fail(p, "-nic: only tap networking is available (-nic tap,ifname=NAME)");
	while ((ret = next_prop(p, "-nic", &list, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "-nic: '%.*s' needs a value", (int)klen, key);
		ret = tap_prop(p, "-nic", &nd, key, klen, v);
		if (ret <= 0) {
			if (ret < 0)
				return ret;
			continue;
		}
		if (key_is(key, klen, "mac")) {
			if (parse_mac(v, nic.mac) < 0)
				return fail(p, "-nic: mac=%s is not a unicast xx:xx:xx:xx:xx:xx",
					    v);
			nic.has_mac = true;
		} else if (key_is(key, klen, "model")) {
			if (strcmp(v, "virtio") != 0 && strcmp(v, "virtio-net-device") != 0)
				return fail(p, "-nic: model=%s is not available (virtio)", v);
		} else if (!key_is(key, klen, "id")) {
			return fail(p,
				    "-nic: unknown property '%.*s' (ifname, fd, script, "
				    "downscript, mac, model)",
				    (int)klen, key);
		}
	}
	if (ret < 0)
		return ret;
	ret = add_netdev(p, "-nic", &nd);
	if (ret < 0)
		return ret;
	nic.netdev = p->cfg->nr_netdevs - 1;
	return add_nic(p, "-nic", &nic, NULL);
}

/* -netdev tap,id=ID,ifname=NAME|fd=N[,script=no][,downscript=no][,vhost=off] */
static int opt_netdev(struct parser *p, const char *arg)
{
	struct cli_netdev nd = { .fd = -1 };
	const char *key, *v, *list = arg;
	size_t klen;
	int ret;

	ret = next_prop(p, "-netdev", &list, &key, &klen, &v);
	if (ret < 0)
		return ret;
	if (ret == 0 || v || !key_is(key, klen, "tap"))
		return fail(p, "-netdev: only tap is available (-netdev tap,id=ID,ifname=NAME)");
	while ((ret = next_prop(p, "-netdev", &list, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "-netdev: '%.*s' needs a value", (int)klen, key);
		ret = tap_prop(p, "-netdev", &nd, key, klen, v);
		if (ret < 0)
			return ret;
		if (ret == 0)
			continue;
		if (!key_is(key, klen, "id"))
			return fail(p,
				    "-netdev: unknown property '%.*s' (id, ifname, fd, script, "
				    "downscript, vhost)",
				    (int)klen, key);
		if (!*v)
			return fail(p, "-netdev: empty id");
		nd.id = v;
	}
	if (ret < 0)
		return ret;
	if (!nd.id)
		return fail(p, "-netdev: give it an id= for -device to name");
	return add_netdev(p, "-netdev", &nd);
}

/* -device virtio-net-device,netdev=ID[,mac=MAC][,id=NAME] */
static int device_virtio_net(struct parser *p, const char *props)
{
	struct cli_nic nic = { 0 };
	const char *key, *v, *netdev = NULL;
	size_t klen;
	int ret;

	while ((ret = next_prop(p, "-device virtio-net-device", &props, &key, &klen, &v)) > 0) {
		if (!v)
			return fail(p, "-device virtio-net-device: '%.*s' needs a value", (int)klen,
				    key);
		if (key_is(key, klen, "netdev")) {
			netdev = v;
		} else if (key_is(key, klen, "mac")) {
			if (parse_mac(v, nic.mac) < 0)
				return fail(p,
					    "-device virtio-net-device: mac=%s is not a unicast "
					    "xx:xx:xx:xx:xx:xx",
					    v);
			nic.has_mac = true;
		} else if (!key_is(key, klen, "id")) {
			return fail(p,
				    "-device virtio-net-device: unknown property '%.*s' (netdev, "
				    "mac, id)",
				    (int)klen, key);
		}
	}
	if (ret < 0)
		return ret;
	if (!netdev)
		return fail(p, "-device virtio-net-device: give its backend with netdev=ID");
	return add_nic(p, "-device virtio-net-device", &nic, netdev);
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
	if (cfg->nr_blk + cfg->nr_nics > CLI_MAX_VIRTIO)
		return fail(p, "at most %d virtio devices (disks and NICs together)",
			    CLI_MAX_VIRTIO);
	return 0;
}

static int opt_device(struct parser *p, const char *arg)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);

	if (len == 4 && strncmp(arg, "help", 4) == 0) {
		p->cfg->list_devices = true;
		return 0;
	}
	if (len == 14 && strncmp(arg, "isa-debug-exit", 14) == 0)
		return device_debug_exit(p, comma ? comma + 1 : NULL);
	if (len == 17 && strncmp(arg, "virtio-blk-device", 17) == 0)
		return device_virtio_blk(p, comma ? comma + 1 : NULL);
	if (len == 17 && strncmp(arg, "virtio-net-device", 17) == 0)
		return device_virtio_net(p, comma ? comma + 1 : NULL);
	if (len == 14 && strncmp(arg, "virtio-net-pci", 14) == 0)
		return fail(p, "-device virtio-net-pci: ember has no PCI bus; use "
			       "virtio-net-device");
	if (len == 14 && strncmp(arg, "virtio-blk-pci", 14) == 0)
		return fail(p, "-device virtio-blk-pci: ember has no PCI bus; use "
			       "virtio-blk-device");
	return fail(p, "-device: unknown device '%.*s' (-device help lists them)", (int)len, arg);
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
	cfg->serial.kind = CHARDEV_STDIO;
	cfg->shutdown_timeout = CLI_DEFAULT_SHUTDOWN_TIMEOUT;
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
	if (cfg->help || cfg->version || cfg->list_devices)
		return 0;
	if (resolve_drives(&p) < 0 || resolve_netdevs(&p) < 0)
		return -EINVAL;
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

void cli_print_devices(FILE *f)
{
	fputs("Devices for -device:\n"
	      "  virtio-blk-device,drive=ID[,serial=STR]\n"
	      "      a virtio disk (virtio-mmio) for the -drive if=none,id=ID\n"
	      "  virtio-net-device,netdev=ID[,mac=MAC]\n"
	      "      a virtio NIC (virtio-mmio) on the -netdev tap,id=ID\n"
	      "  isa-debug-exit[,iobase=N][,iosize=N]\n"
	      "      a guest write of V ends ember with exit code (V << 1) | 1\n"
	      "      (defaults: iobase=0x501, iosize=2)\n",
	      f);
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
	      "  -smp N            number of vCPUs (default 1, at most 254)\n"
	      "  -serial DEV       COM1 (ttyS0): stdio (default), file:PATH or none; with\n"
	      "                    stdio on a terminal, C-a x quits and C-a h lists the keys\n"
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
	      "                    host and runs no scripts; without mac= one is made up\n"
	      "  -netdev tap,id=ID,ifname=NAME|fd=N[,vhost=off]\n"
	      "                    a tap for -device virtio-net-device,netdev=ID\n"
	      "  -no-acpi          no ACPI tables: MP tables, and virtio_mmio.device= hints\n"
	      "                    on the kernel command line, describe the machine (the\n"
	      "                    hints are added for acpi=off in -append too)\n"
	      "  -shutdown-timeout SECONDS\n"
	      "                    how long SIGTERM waits for the guest to power off after\n"
	      "                    pressing its ACPI power button (default 30; 0: SIGTERM\n"
	      "                    stops the guest at once, as SIGINT does)\n"
	      "  -name NAME        name the guest in ember's messages\n"
	      "  -nographic, -display none, -no-reboot\n"
	      "                    accepted as in QEMU; ember has no display and a guest\n"
	      "                    reset always ends it\n"
	      "  -debugcon DEV     debug console on I/O port 0xe9: stdio, file:PATH or none\n"
	      "  -device DEV[,PROP=VALUE...]\n"
	      "                    add a device; '-device help' lists them\n"
	      "  -h, --help        show this help and exit\n"
	      "  --version         show the version and exit\n"
	      "\n"
	      "Environment:\n"
	      "  EMBER_LOG         log level: error, warn (default), info or debug\n"
	      "\n"
	      "Exit status:\n"
	      "  0                 the guest rebooted, powered off or reset (triple fault\n"
	      "                    included), or C-a x was typed\n"
	      "  1                 ember failed (KVM error, entry failure)\n"
	      "  2                 bad usage or input; the guest was not started\n"
	      "  (V << 1) | 1      the guest wrote V to an isa-debug-exit port\n"
	      "  128 + N           ember was stopped by signal N (SIGINT, SIGTERM); a guest\n"
	      "                    that powers off after SIGTERM's power button ends with 0\n",
	      f);
}
