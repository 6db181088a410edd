/* SPDX-License-Identifier: MIT */
/*
 * The command line, spelled as QEMU spells it wherever QEMU has the option.
 * Parsing only fills a config; nothing is opened or started.
 */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chardev.h"
#include "block/disk.h"
#include "net/user.h"

#define CLI_DEFAULT_RAM (128ULL << 20) /* QEMU's default */
#define CLI_MIN_RAM (1ULL << 20)
#define CLI_MAX_RAM (1ULL << 40)
#define CLI_MAX_VCPUS 254 /* APIC IDs 0..253; the IOAPIC takes the next (MP tables) */
#define CLI_MAX_DEBUG_EXIT 4
#define CLI_MAX_VIRTIO 16 /* virtio devices of every kind together: the machine's lines */
#define CLI_MAX_DRIVES CLI_MAX_VIRTIO
#define CLI_MAX_CHARDEVS 8
#define CLI_MAX_PORTS 7		/* ports of the virtio-serial device: 0 and six more */
#define CLI_PORT_NAME_MAX 64	/* bytes of a port's name */
#define CLI_SOCKET_PATH_MAX 107 /* sun_path holds 108 bytes with the terminating NUL */
#define CLI_STRINGS 8192	/* room for unescaped option values */
#define CLI_SERIAL_MAX 20	/* bytes of a virtio-blk serial (VIRTIO_BLK_ID_BYTES) */

/* Seconds SIGTERM gives the guest to power off (-shutdown-timeout). */
#define CLI_DEFAULT_SHUTDOWN_TIMEOUT 30
#define CLI_MAX_SHUTDOWN_TIMEOUT 86400

/* A -drive: a disk image and how to open it (the block layer's own options). */
struct cli_drive {
	const char *file;
	enum disk_format format; /* DISK_FORMAT_PROBE: no format= */
	const char *id;		 /* NULL: none given */
	const char *serial;	 /* NULL: none given */
	bool readonly;
	enum disk_cache cache;
	enum disk_aio aio;
	bool if_none; /* if=none: a -device virtio-blk-device,drive=ID attaches it */
};

enum cli_net_backend { CLI_NET_TAP, CLI_NET_USER, CLI_NET_STREAM };

/* hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, as net/user.h takes it. */
#define CLI_MAX_HOSTFWD NETUSER_MAX_HOSTFWD

/* -nic user / -netdev user: libslirp's network, QEMU's defaults. */
struct cli_user {
	struct in_addr net, mask; /* 10.0.2.0/255.255.255.0 */
	struct in_addr host;	  /* the gateway, the host as the guest sees it: 10.0.2.2 */
	struct in_addr dns;	  /* 10.0.2.3 */
	struct in_addr dhcpstart; /* 10.0.2.15 */
	bool ipv4, ipv6;	  /* both on */
	bool restricted;	  /* restrict=on: the guest reaches only the host's forwards */
	const char *hostname;	  /* DHCP's host name for the guest; NULL: none */
	const char *domainname;	  /* NULL: none */
	unsigned int nr_hostfwd;
	struct netuser_hostfwd hostfwd[CLI_MAX_HOSTFWD];
};

/* -netdev stream,server=off,addr.type=unix,addr.path=PATH[,reconnect=SECONDS]: e.g. passt. */
struct cli_stream {
	const char *path;	/* the Unix socket to connect to */
	unsigned int reconnect; /* seconds between attempts once it drops; 0: never */
};

/*
 * A -netdev (or the backend of a -nic): a tap, the interface or a
 * descriptor passed in; libslirp's user network; or a stream socket.
 */
struct cli_netdev {
	enum cli_net_backend kind; /* CLI_NET_TAP is 0: a zeroed netdev is a tap */
	const char *id;		   /* NULL for -nic's own */
	/* kind CLI_NET_TAP */
	const char *ifname; /* NULL with fd */
	int fd;		    /* -1: open ifname */
	bool vhost;	    /* the kernel's vhost-net serves the queues (vhost=on) */
	bool vhostforce;
	int vhostfd;		  /* an open /dev/vhost-net, or -1: open it */
	struct cli_user user;	  /* kind CLI_NET_USER */
	struct cli_stream stream; /* kind CLI_NET_STREAM */
};

/* A virtio-net device and its backend. */
struct cli_nic {
	unsigned int netdev; /* index into netdevs[] */
	bool has_mac;
	uint8_t mac[6];
};

/* A virtio-blk device: its drive, and a serial that overrides the drive's. */
struct cli_blk {
	unsigned int drive; /* index into drives[] */
	const char *serial;
};

/* A virtio-rng device and its rate limit: max_bytes per period_ms. */
struct cli_rng {
	uint64_t max_bytes;
	uint32_t period_ms;
};

/* The vhost-vsock device: the guest's CID, and a /dev/vhost-vsock already open (-1: none). */
struct cli_vsock {
	uint64_t cid;
	int vhostfd;
};

/* A -chardev: its id and backend. */
struct cli_chardev {
	const char *id;
	struct chardev_spec spec;
};

/* A port of the virtio-serial device (virtconsole or virtserialport). */
struct cli_port {
	unsigned int chardev; /* index into chardevs[] */
	const char *name;     /* NULL: none */
	bool console;
	unsigned int nr; /* the port's number, below vserial_max_ports */
};

struct cli_debug_exit {
	uint16_t iobase;
	uint32_t iosize; /* up to 0x10000 - iobase */
};

struct ember_config {
	uint64_t ram_size;
	unsigned int nr_vcpus;
	/* -smp's topology: nr_vcpus / (cores * threads) packages; both powers of two. */
	unsigned int cores;
	unsigned int threads;
	const char *bios;
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *name;
	struct chardev_spec serial; /* CHARDEV_NONE: no COM1 at all */
	bool serial_chardev;	    /* it is a -chardev's (-serial chardev:ID) */
	bool has_debugcon;
	struct chardev_spec debugcon;
	unsigned int nr_debug_exit;
	struct cli_debug_exit debug_exit[CLI_MAX_DEBUG_EXIT];
	bool no_acpi;
	/* Seconds SIGTERM waits for the guest to power off; 0: stop at once. */
	unsigned int shutdown_timeout;
	/* -sandbox: a seccomp filter on every thread (the default); debug names a refused call. */
	bool sandbox;
	bool sandbox_debug;
	/*
	 * -runas USER[:GROUP] and -chroot DIR, as given (names or numbers), for
	 * jail_prepare(); NULL: not asked (runas_group: the user's own group).
	 */
	const char *runas_user;
	const char *runas_group;
	const char *chroot_dir;
	unsigned int nr_drives;
	struct cli_drive drives[CLI_MAX_DRIVES];
	/* virtio-blk devices, in the order their options came: vda, vdb, ... */
	unsigned int nr_blk;
	struct cli_blk blk[CLI_MAX_DRIVES];
	unsigned int nr_netdevs;
	struct cli_netdev netdevs[CLI_MAX_VIRTIO];
	/* virtio-net devices in the order their options came: eth0, eth1, ... */
	unsigned int nr_nics;
	struct cli_nic nics[CLI_MAX_VIRTIO];
	/* virtio-rng devices. */
	unsigned int nr_rngs;
	struct cli_rng rngs[CLI_MAX_VIRTIO];
	unsigned int nr_chardevs;
	struct cli_chardev chardevs[CLI_MAX_CHARDEVS];
	/* The virtio-serial device and its ports, in the order their options came. */
	bool has_vserial;
	unsigned int vserial_max_ports;
	unsigned int nr_ports;
	struct cli_port ports[CLI_MAX_PORTS];
	bool has_vsock;
	struct cli_vsock vsock;
	/* The QMP monitor (-qmp, or -mon on a socket -chardev): its chardev's index. */
	bool has_qmp;
	unsigned int qmp_chardev;
	/* -incoming file:PATH: the snapshot to start from (NULL: boot). */
	const char *incoming;
	bool incoming_check_disks; /* refuse disks changed since the snapshot */
	/* Option values that needed unescaping (",," is a comma) live here. */
	char strings[CLI_STRINGS];
	size_t strings_used;
	bool help;
	bool version;
	/* "-device" or "-chardev" for KIND help (cli_print_kinds()); NULL: not asked. */
	const char *help_kinds;
	const char *help_kind; /* for KIND,help; NULL: list the kinds */
};

/*
 * Fills `cfg` from argv. Returns 0, or -EINVAL with a one-line message in
 * `err` (without a trailing newline) naming the option at fault.
 */
int cli_parse(int argc, char *const argv[], struct ember_config *cfg, char *err, size_t err_len);

/* Parses a -m size: a number of MiB, or a number with a B/K/M/G/T suffix. */
int cli_parse_size(const char *s, uint64_t *out);

void cli_print_help(FILE *f);
/* Lists the kinds of -device or -chardev, or one kind's properties, as cfg asks. */
void cli_print_kinds(FILE *f, const struct ember_config *cfg);

/* Virtio devices of every kind: each takes a slot. */
unsigned int cli_nr_virtio(const struct ember_config *cfg);

#endif
