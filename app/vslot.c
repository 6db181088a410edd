// SPDX-License-Identifier: MIT
#include "config.h"

#include "vslot.h"
#include "core/bus.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* The transport's interrupt: an irqfd write is an edge on the slot's line, injected by KVM. */
static void slot_interrupt(void *opaque)
{
	struct vslot *s = opaque;
	uint64_t one = 1;

	if (write(s->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: interrupt: %s", s->name, strerror(errno));
}

/* A queue's kick, on the event loop's thread. */
static void slot_kicked(void *opaque, uint32_t events)
{
	struct vslot_kick *k = opaque;
	uint64_t n;

	(void)events;
	if (read(k->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("%s: reading its kick: %s", k->slot->name, strerror(errno));
	virtio_mmio_notify(k->slot->mmio, k->queue);
}

static struct ioeventfd_spec kick_spec(const struct vslot *s, unsigned int queue)
{
	return (struct ioeventfd_spec){
		.addr = s->base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.match = true,
		.datamatch = queue,
	};
}

static int add_kick(struct vslot *s, unsigned int queue, bool passed)
{
	struct vslot_kick *k = &s->kick[queue];
	struct ioeventfd_spec spec = kick_spec(s, queue);
	int ret;

	*k = (struct vslot_kick){ .slot = s, .queue = queue, .fd = -1 };
	s->nr_kicks = queue + 1;
	ret = s->env->ioeventfd_assign(s->env->ctx, &spec, &k->fd);
	if (ret < 0) {
		k->fd = -1;
		return ret;
	}
	if (passed)
		return 0;
	ret = evloop_add(s->env->loop, k->fd, EPOLLIN, slot_kicked, k);
	k->watched = ret == 0;
	return ret;
}

int vslot_attach(struct vslot *s, const struct vslot_env *env, const struct vslot_device *d,
		 uint64_t base, unsigned int gsi)
{
	struct virtio_mmio_host host = {
		.mem = env->mem,
		.interrupt = slot_interrupt,
		.irq_opaque = s,
	};
	struct virtio_transport tr;
	int ret;

	*s = (struct vslot){
		.env = env,
		.name = d->info.name ? d->info.name : "virtio",
		.base = base,
		.gsi = gsi,
		.irqfd = -1,
	};
	if (d->info.nr_queues > VSLOT_MAX_QUEUES)
		return -EINVAL;
	ret = virtio_mmio_create(&s->mmio, &d->info, d->ops, d->dev, &host);
	if (ret < 0)
		goto fail;
	virtio_mmio_transport(s->mmio, &tr);
	d->attach(d->dev, &tr);
	ret = virtio_mmio_register(s->mmio, env->mmio, base);
	if (ret < 0)
		goto fail;
	s->registered = true;
	ret = env->irqfd_assign(env->ctx, gsi, &s->irqfd);
	if (ret < 0) {
		/* Whatever a failed assign left there is not ours to release. */
		s->irqfd = -1;
		goto fail;
	}
	for (unsigned int q = 0; q < d->info.nr_queues; q++) {
		ret = add_kick(s, q, d->passed_kicks & (1U << q));
		if (ret < 0)
			goto fail;
	}
	return 0;
fail:
	vslot_detach(s);
	return ret;
}

int vslot_kick_fd(const struct vslot *s, unsigned int queue)
{
	return queue < s->nr_kicks ? s->kick[queue].fd : -1;
}

int vslot_watch(struct vslot *s, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	int ret;

	if (s->nr_watches == VSLOT_MAX_WATCHES)
		return -ENOSPC;
	ret = evloop_add(s->env->loop, fd, events, cb, opaque);
	if (ret < 0)
		return ret;
	s->watch[s->nr_watches++].fd = fd;
	return 0;
}

void vslot_detach(struct vslot *s)
{
	/* All zeroes: never attached, and its irqfd of 0 is no irqfd of ours. */
	if (!s->env) {
		*s = (struct vslot){ .irqfd = -1 };
		return;
	}
	/* Nothing reaches the device from the loop any more... */
	for (unsigned int q = s->nr_kicks; q-- > 0;) {
		struct vslot_kick *k = &s->kick[q];
		struct ioeventfd_spec spec = kick_spec(s, q);

		if (k->watched)
			evloop_del(s->env->loop, k->fd);
		if (k->fd >= 0)
			s->env->ioeventfd_release(s->env->ctx, &spec, k->fd);
	}
	for (unsigned int i = s->nr_watches; i-- > 0;)
		evloop_del(s->env->loop, s->watch[i].fd);
	/* ...nor from the guest; then the reset, whose last interrupt still has its irqfd. */
	if (s->registered && bus_unregister(s->env->mmio, s->base, s->mmio) < 0)
		log_warn("%s: its window at 0x%llx was not on the bus", s->name,
			 (unsigned long long)s->base);
	virtio_mmio_destroy(s->mmio);
	if (s->irqfd >= 0)
		s->env->irqfd_release(s->env->ctx, s->gsi, s->irqfd);
	*s = (struct vslot){ .irqfd = -1 };
}

struct acpi_virtio vslot_acpi(const struct vslot *s)
{
	return (struct acpi_virtio){ .base = s->base, .size = VIRTIO_MMIO_WINDOW, .gsi = s->gsi };
}

size_t vslot_cmdline_hint(char *buf, size_t size, size_t len, uint64_t base, unsigned int gsi)
{
	int n;

	if (len >= size)
		return size;
	n = snprintf(buf + len, size - len, "%svirtio_mmio.device=%u@0x%llx:%u", len ? " " : "",
		     (unsigned int)VIRTIO_MMIO_WINDOW, (unsigned long long)base, gsi);
	return n < 0 || (size_t)n >= size - len ? size : len + (size_t)n;
}
