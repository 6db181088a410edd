// SPDX-License-Identifier: MIT
#include "config.h"

#include "vserial.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chardev.h"
#include "chsock.h"
#include "console.h"
#include "core/evloop.h"
#include "core/log.h"
#include "virtio/console.h"

struct vserial;

struct vport {
	struct vserial *vs;
	unsigned int nr;
	bool present;
	bool console;
	enum chardev_kind kind;
	char label[48];
	struct chardev *out;   /* stdio, file and null */
	struct console *in;    /* stdio */
	struct chsock *sock;   /* socket */
	_Atomic uint64_t lost; /* a console port's output the socket could not take */
};

struct vserial {
	struct vcon *dev;
	struct evloop *loop;
	void (*quit)(void *opaque);
	void *quit_opaque;
	/* Ports' wishes from threads other than the loop's, and the eventfd that says so. */
	int kick_fd;
	_Atomic uint32_t want_writable, want_input;
	unsigned int nr_ports;
	struct vport port[VCON_MAX_PORTS];
	struct vcon_port_config pc[VCON_MAX_PORTS];
};

static void hand_to_loop(struct vport *p, _Atomic uint32_t *want)
{
	uint64_t one = 1;

	atomic_fetch_or(want, 1u << p->nr);
	if (write(p->vs->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: waking the event loop: %s", p->label, strerror(errno));
}

/* --- the device's side -------------------------------------------------------------- */

static size_t port_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct vport *p = opaque;
	size_t n;

	if (p->kind != CHARDEV_SOCKET) {
		chardev_write(p->out, buf, len); /* never blocks: drops and counts instead */
		return len;
	}
	/* A port nobody is connected to has no reader: the guest was told so. */
	if (!chsock_connected(p->sock))
		return len;
	if (!evloop_on_thread(p->vs->loop)) {
		hand_to_loop(p, &p->vs->want_writable);
		return 0;
	}
	n = chsock_write(p->sock, buf, len);
	if (p->console && n < len) {
		atomic_fetch_add(&p->lost, len - n);
		return len;
	}
	return n;
}

static void port_input_ready(void *opaque)
{
	struct vport *p = opaque;

	if (p->in) {
		console_kick(p->in); /* any thread */
	} else if (p->sock) {
		if (evloop_on_thread(p->vs->loop))
			chsock_input_ready(p->sock);
		else
			hand_to_loop(p, &p->vs->want_input);
	}
}

static const struct vcon_port_ops port_ops = {
	.output = port_output,
	.input_ready = port_input_ready,
};

/* --- the host's side, on the loop thread --------------------------------------------- */

static size_t sock_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct vport *p = opaque;

	return vcon_port_input(p->vs->dev, p->nr, buf, len);
}

static void sock_writable(void *opaque)
{
	struct vport *p = opaque;

	vcon_port_writable(p->vs->dev, p->nr);
}

static void sock_connected(void *opaque, bool up)
{
	struct vport *p = opaque;

	vcon_port_set_connected(p->vs->dev, p->nr, up);
	/* Output held for the client that went is dropped now, not when the next comes. */
	if (!up)
		vcon_port_writable(p->vs->dev, p->nr);
}

static size_t stdin_feed(void *opaque, const uint8_t *buf, size_t len)
{
	struct vport *p = opaque;

	return vcon_port_input(p->vs->dev, p->nr, buf, len);
}

static void stdin_idle(void *opaque)
{
	(void)opaque;
}

static void stdin_quit(void *opaque)
{
	struct vport *p = opaque;

	log_info("C-a x: stopping the guest");
	p->vs->quit(p->vs->quit_opaque);
}

static void kicked(void *opaque, uint32_t events)
{
	struct vserial *vs = opaque;
	uint32_t w, in;
	uint64_t n;

	(void)events;
	if (read(vs->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-serial: reading its eventfd: %s", strerror(errno));
	w = atomic_exchange(&vs->want_writable, 0);
	in = atomic_exchange(&vs->want_input, 0);
	for (unsigned int i = 0; i < vs->nr_ports; i++) {
		if (w & (1u << i))
			vcon_port_writable(vs->dev, i);
		if ((in & (1u << i)) && vs->port[i].sock)
			chsock_input_ready(vs->port[i].sock);
	}
}

static void resumed(void *opaque, uint32_t events)
{
	(void)events;
	vcon_resume(((struct vserial *)opaque)->dev);
}

/* --- set-up --------------------------------------------------------------------------- */

static int open_host_end(struct vserial *vs, struct vport *p, const struct cli_chardev *cd,
			 char *err, size_t err_len)
{
	static const struct chsock_ops sops = {
		.input = sock_input,
		.writable = sock_writable,
		.connected = sock_connected,
	};
	struct chsock_ops ops = sops;
	int ret;

	p->kind = cd->spec.kind;
	if (p->kind == CHARDEV_SOCKET) {
		ops.opaque = p;
		ret = chsock_open(&p->sock, cd->spec.path, vs->loop, &ops);
		if (ret < 0)
			snprintf(err, err_len, "-chardev socket,id=%s: cannot listen on %s (%s)",
				 cd->id, cd->spec.path, strerror(-ret));
		return ret;
	}
	ret = chardev_open(&p->out, &cd->spec);
	if (ret < 0) {
		snprintf(err, err_len, "-chardev %s: cannot open %s (%s)", cd->id,
			 cd->spec.path ? cd->spec.path : "standard output", strerror(-ret));
		return ret;
	}
	if (p->kind == CHARDEV_STDIO) {
		struct console_ops cops = {
			.feed = stdin_feed,
			.idle = stdin_idle,
			.quit = stdin_quit,
			.opaque = p,
		};

		ret = console_open(&p->in, vs->loop, STDIN_FILENO, &cops);
		if (ret < 0)
			snprintf(err, err_len, "-chardev stdio,id=%s: reading standard input: %s",
				 cd->id, strerror(-ret));
	}
	return ret;
}

int vserial_create(struct vserial **out, const struct ember_config *cfg, struct evloop *loop,
		   void (*quit)(void *opaque), void *opaque, char *err, size_t err_len)
{
	struct vserial *vs = calloc(1, sizeof(*vs));
	struct vcon_config vc = { .cols = 80, .rows = 25, .name = "virtio-serial" };
	int ret = -ENOMEM;

	if (!vs)
		goto fail;
	vs->kick_fd = -1;
	vs->loop = loop;
	vs->quit = quit;
	vs->quit_opaque = opaque;
	vs->nr_ports = cfg->vserial_max_ports;
	vs->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vs->kick_fd < 0) {
		ret = -errno;
		goto fail;
	}
	for (unsigned int i = 0; i < vs->nr_ports; i++) {
		vs->port[i].vs = vs;
		vs->port[i].nr = i;
	}
	for (unsigned int i = 0; i < cfg->nr_ports; i++) {
		const struct cli_port *cp = &cfg->ports[i];
		struct vport *p = &vs->port[cp->nr];

		p->present = true;
		p->console = cp->console;
		snprintf(p->label, sizeof(p->label), "virtio-serial port %u%s%s", cp->nr,
			 cp->name ? " " : "", cp->name ? cp->name : "");
		ret = open_host_end(vs, p, &cfg->chardevs[cp->chardev], err, err_len);
		if (ret < 0)
			goto fail;
		vs->pc[cp->nr] = (struct vcon_port_config){
			.name = cp->name,
			.console = cp->console,
			.ops = &port_ops,
			.opaque = p,
		};
	}
	vc.nr_ports = vs->nr_ports;
	vc.ports = vs->pc;
	ret = vcon_create(&vs->dev, &vc);
	if (ret < 0) {
		snprintf(err, err_len, "virtio-serial: %s", strerror(-ret));
		goto fail;
	}
	/* Every host end but a socket is there from the start. */
	for (unsigned int i = 0; i < vs->nr_ports; i++)
		if (vs->port[i].present && vs->port[i].kind != CHARDEV_SOCKET)
			vcon_port_set_connected(vs->dev, i, true);
	*out = vs;
	return 0;
fail:
	vserial_destroy(vs);
	return ret;
}

void vserial_destroy(struct vserial *vs)
{
	if (!vs)
		return;
	for (unsigned int i = 0; i < vs->nr_ports; i++) {
		struct vport *p = &vs->port[i];

		console_close(p->in);
		chsock_close(p->sock);
		if (p->out && chardev_dropped(p->out))
			log_warn("%s: %llu bytes dropped because the output was full", p->label,
				 (unsigned long long)chardev_dropped(p->out));
		if (atomic_load(&p->lost))
			log_warn("%s: %llu bytes dropped because the socket was full", p->label,
				 (unsigned long long)atomic_load(&p->lost));
		chardev_close(p->out);
	}
	vcon_destroy(vs->dev);
	if (vs->kick_fd >= 0)
		close(vs->kick_fd);
	free(vs);
}

void vserial_device(struct vserial *vs, struct vslot_device *out)
{
	*out = (struct vslot_device){ .dev = vs->dev, .attach = vcon_attach };
	vcon_device(vs->dev, &out->info, &out->ops);
}

int vserial_watch(struct vserial *vs, struct vslot *slot)
{
	int ret = vslot_watch(slot, vs->kick_fd, EPOLLIN, kicked, vs);

	if (ret < 0)
		return ret;
	return vslot_watch(slot, vcon_resume_fd(vs->dev), EPOLLIN, resumed, vs);
}

struct vcon *vserial_vcon(struct vserial *vs)
{
	return vs->dev;
}
