/* SPDX-License-Identifier: MIT */
/*
 * User-mode networking (-nic user): libslirp's NAT'd network, needing no
 * privilege and no host configuration. The guest sees a gateway that is the
 * host, a DHCP server and a DNS forwarder; its connections become the host's
 * own sockets, and hostfwd rules forward host ports to the guest.
 *
 * libslirp runs in a process of its own, ember-net (net/helper.c):
 * a TCP/IP stack fed by the guest stays out of the process that holds guest
 * RAM and the vCPUs, and ember itself keeps linking statically (Debian ships
 * libslirp shared only). ember starts it at set-up with one end of a
 * SOCK_SEQPACKET socketpair; the virtio-net device gets the other end and
 * sees it as it sees a tap: one frame per message, a 12-byte virtio-net
 * header in front (zeroes: the device offers no offloads). Frames for a guest
 * that posts no buffers fill the socket, then wait in the helper (4 MiB at
 * most), then are dropped, which TCP makes good, as on a real link; the
 * guest's own frames wait for room like a tap's. The helper ends when ember closes its end, or dies
 * with ember (PR_SET_PDEATHSIG).
 *
 * -netdev stream runs the same helper to relay the same frames to a Unix
 * stream socket (passt's), each after a 4-byte big-endian length, and to
 * connect again when the daemon comes back (net/relay.c).
 */
#ifndef EMBER_NET_USER_H
#define EMBER_NET_USER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NETUSER_MAX_HOSTFWD 16

struct netuser_hostfwd {
	bool udp;
	struct in_addr host_addr; /* INADDR_ANY: every address */
	uint16_t host_port;
	struct in_addr guest_addr; /* 0: the DHCP start address */
	uint16_t guest_port;
};

struct netuser_config {
	const char *name; /* for messages: "virtio-net eth0" */
	/*
	 * -netdev stream: the Unix socket a network daemon (passt) listens on;
	 * the helper relays frames to it, and every field below but uid, gid
	 * and helper is unused. NULL: -nic user.
	 */
	const char *stream;
	unsigned int reconnect;	  /* seconds between attempts once it drops; 0: never */
	struct in_addr net, mask; /* the guest's network */
	struct in_addr host;	  /* the gateway: the host as the guest sees it */
	struct in_addr dns;	  /* the DNS forwarder */
	struct in_addr dhcpstart; /* the first address DHCP hands out */
	bool ipv4, ipv6;
	bool restricted;	/* the guest reaches nothing but the host's forwards */
	const char *hostname;	/* DHCP's host name for the guest; NULL: none */
	const char *domainname; /* NULL: none */
	unsigned int nr_hostfwd;
	const struct netuser_hostfwd *hostfwd;
	/* -runas: the helper takes these once its forwards listen; -1: stays as it is. */
	uid_t uid;
	gid_t gid;
	bool sandbox; /* the helper confines itself once set up (ember's -sandbox) */
	/* The helper to start; NULL: ember-net next to ember's executable, else installed. */
	const char *helper;
};

/*
 * Starts the helper: 0 with *device_fd (nonblocking, close-on-exec; the
 * caller's to close, which ends the helper) and *pid; or a negative errno
 * with a one-line message in err: -EINVAL when the helper refused the
 * configuration (a forward that cannot listen: the user's to fix), another
 * when it could not be started.
 */
int netuser_start(const struct netuser_config *cfg, int *device_fd, pid_t *pid, char *err,
		  size_t err_len);

#endif
