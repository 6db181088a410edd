// SPDX-License-Identifier: MIT
#include "config.h"

#include "vhost.h"
#include "virtq.h"
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct vhost {
	int fd;
	const char *name;
	vhost_ioctl_fn ioctl_fn;
	uint64_t features;	 /* what the kernel offers */
	unsigned int nr_started; /* queues 0 .. nr_started - 1 are the kernel's */
};

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

int vhost_call(struct vhost *v, unsigned long request, void *arg, const char *what, int quiet_err)
{
	int err;

	if (v->fd < 0)
		return -ENODEV;
	errno = 0;
	if (v->ioctl_fn(v->fd, request, arg) >= 0)
		return 0;
	err = errno ? errno : EIO;
	if (err != quiet_err)
		log_err("%s: %s: %s", v->name, what, strerror(err));
	return -err;
}

static int call(struct vhost *v, unsigned long request, void *arg, const char *what)
{
	return vhost_call(v, request, arg, what, 0);
}

int vhost_create(struct vhost **out, int fd, const char *name, vhost_ioctl_fn ioctl_fn)
{
	struct vhost *v = calloc(1, sizeof(*v));
	int ret;

	*out = NULL;
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	*v = (struct vhost){
		.fd = fd,
		.name = name ? name : "vhost",
		.ioctl_fn = ioctl_fn ? ioctl_fn : sys_ioctl,
	};
	ret = call(v, VHOST_SET_OWNER, NULL, "VHOST_SET_OWNER");
	if (ret == 0)
		ret = call(v, VHOST_GET_FEATURES, &v->features, "VHOST_GET_FEATURES");
	if (ret < 0) {
		vhost_destroy(v);
		return ret;
	}
	*out = v;
	return 0;
}

void vhost_destroy(struct vhost *v)
{
	if (!v)
		return;
	vhost_stop(v);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

void vhost_abandon(struct vhost *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->nr_started = 0;
}

uint64_t vhost_features(const struct vhost *v)
{
	return v->features;
}

static int set_mem_table(struct vhost *v, const struct gmem *mem)
{
	struct vhost_memory *t;
	int ret;

	t = calloc(1, sizeof(*t) + mem->nr * sizeof(t->regions[0]));
	if (!t)
		return -ENOMEM;
	t->nregions = mem->nr;
	for (unsigned int i = 0; i < mem->nr; i++)
		t->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = mem->r[i].gpa,
			.memory_size = mem->r[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)mem->r[i].host,
		};
	ret = call(v, VHOST_SET_MEM_TABLE, t, "VHOST_SET_MEM_TABLE");
	free(t);
	return ret;
}

static int bind_fd(struct vhost *v, unsigned long request, unsigned int index, int fd,
		   const char *what)
{
	struct vhost_vring_file f = { .index = index, .fd = fd };

	return call(v, request, &f, what);
}

/* From available-ring entry `from`. */
static int start_queue(struct vhost *v, unsigned int index, struct virtq *q,
		       const struct vhost_queue_fds *fds, uint16_t from)
{
	struct virtq_rings r;
	struct vhost_vring_state num, base;
	struct vhost_vring_addr addr;
	int ret;

	if (virtq_rings(q, &r) < 0)
		return -EINVAL;
	num = (struct vhost_vring_state){ .index = index, .num = r.size };
	base = (struct vhost_vring_state){ .index = index, .num = from };
	addr = (struct vhost_vring_addr){
		.index = index,
		.desc_user_addr = (uint64_t)(uintptr_t)r.desc,
		.avail_user_addr = (uint64_t)(uintptr_t)r.avail,
		.used_user_addr = (uint64_t)(uintptr_t)r.used,
	};
	ret = call(v, VHOST_SET_VRING_NUM, &num, "VHOST_SET_VRING_NUM");
	if (ret == 0)
		ret = call(v, VHOST_SET_VRING_BASE, &base, "VHOST_SET_VRING_BASE");
	if (ret == 0)
		ret = call(v, VHOST_SET_VRING_ADDR, &addr, "VHOST_SET_VRING_ADDR");
	if (ret == 0)
		ret = bind_fd(v, VHOST_SET_VRING_CALL, index, fds->call, "VHOST_SET_VRING_CALL");
	if (ret == 0)
		ret = bind_fd(v, VHOST_SET_VRING_ERR, index, fds->err, "VHOST_SET_VRING_ERR");
	/* The kick last: from here on the kernel may take buffers. */
	if (ret == 0)
		ret = bind_fd(v, VHOST_SET_VRING_KICK, index, fds->kick, "VHOST_SET_VRING_KICK");
	return ret;
}

/* vhost_start(), each queue from base[i], or from where its virtq stands when base is NULL. */
static int start(struct vhost *v, const struct gmem *mem, uint64_t features, struct virtq *const *q,
		 const struct vhost_queue_fds *fds, unsigned int nr, const uint16_t *base)
{
	uint64_t accepted = features & v->features;
	int ret;

	if (nr > VHOST_MAX_QUEUES)
		return -EINVAL;
	if (v->fd < 0)
		return -ENODEV;
	vhost_stop(v);
	for (unsigned int i = 0; i < nr; i++)
		if (!q[i] || !virtq_ready(q[i]))
			return -EINVAL;
	ret = call(v, VHOST_SET_FEATURES, &accepted, "VHOST_SET_FEATURES");
	if (ret == 0)
		ret = set_mem_table(v, mem);
	for (unsigned int i = 0; ret == 0 && i < nr; i++) {
		struct virtq_rings r = { 0 };

		/* A queue half set up is stopped with the others. */
		v->nr_started = i + 1;
		if (!base)
			virtq_rings(q[i], &r); /* set up: checked above */
		ret = start_queue(v, i, q[i], &fds[i], base ? base[i] : r.last_avail);
	}
	if (ret < 0)
		vhost_stop(v);
	return ret;
}

int vhost_start(struct vhost *v, const struct gmem *mem, uint64_t features, struct virtq *const *q,
		const struct vhost_queue_fds *fds, unsigned int nr)
{
	return start(v, mem, features, q, fds, nr, NULL);
}

/* vhost_stop(); where each queue stopped into base[i] when base is not NULL. 0, or the error. */
static int stop(struct vhost *v, uint16_t *base)
{
	int ret = 0;

	for (unsigned int i = 0; ret == 0 && i < v->nr_started; i++) {
		struct vhost_vring_state st = { .index = i };

		if (v->fd < 0)
			break;
		ret = call(v, VHOST_GET_VRING_BASE, &st, "VHOST_GET_VRING_BASE");
		/* A split ring's last_avail_idx (packed rings put more there; never negotiated). */
		if (ret == 0 && base)
			base[i] = (uint16_t)st.num;
		if (ret == 0)
			ret = bind_fd(v, VHOST_SET_VRING_KICK, i, VHOST_FILE_UNBIND,
				      "unbinding a kick");
		if (ret == 0)
			ret = bind_fd(v, VHOST_SET_VRING_CALL, i, VHOST_FILE_UNBIND,
				      "unbinding a call");
		if (ret == 0)
			ret = bind_fd(v, VHOST_SET_VRING_ERR, i, VHOST_FILE_UNBIND,
				      "unbinding an err");
	}
	/* A kernel that will not let go is let go of: closing its descriptor ends its work. */
	if (ret < 0) {
		log_err("%s: letting go of the kernel's device; it stays off until ember restarts",
			v->name);
		vhost_abandon(v);
	}
	v->nr_started = 0;
	return ret;
}

void vhost_stop(struct vhost *v)
{
	/* Where the kernel stopped does not matter: ember's own walker resets the queue anyway. */
	stop(v, NULL);
}

int vhost_stop_at(struct vhost *v, uint16_t *base, unsigned int nr)
{
	if (v->fd < 0)
		return -ENODEV;
	if (nr != v->nr_started)
		return -EINVAL;
	return stop(v, base);
}

/* --- a device whose queues the kernel serves -------------------------------------- */

int vhost_dev_init(struct vhost_dev *d, struct vhost *v, const struct gmem *mem, unsigned int nr,
		   const char *name, const struct vhost_backend_ops *ops, void *opaque)
{
	*d = (struct vhost_dev){
		.vhost = v, .mem = mem, .name = name, .nr = nr, .ops = ops, .opaque = opaque
	};
	if (nr == 0 || nr > VHOST_MAX_QUEUES) {
		vhost_destroy(v);
		*d = (struct vhost_dev){ 0 };
		return -EINVAL;
	}
	for (unsigned int i = 0; i < VHOST_MAX_QUEUES; i++)
		d->fds[i] = (struct vhost_queue_fds){ .kick = -1, .call = -1, .err = -1 };
	ratelimit_init(&d->rl, NSEC_PER_SEC, 5);
	return 0;
}

void vhost_dev_fini(struct vhost_dev *d)
{
	if (!d->name)
		return; /* never initialised */
	vhost_destroy(d->vhost);
	d->vhost = NULL;
	ratelimit_destroy(&d->rl);
	d->name = NULL;
}

void vhost_dev_set_fds(struct vhost_dev *d, unsigned int queue, const struct vhost_queue_fds *fds)
{
	if (queue < d->nr)
		d->fds[queue] = *fds;
}

/* The kernel's queues and the device's own start; base as start()'s. 0, or the error, logged. */
static int dev_start(struct vhost_dev *d, uint64_t features, const uint16_t *base)
{
	struct virtq *q[VHOST_MAX_QUEUES];
	int ret;

	for (unsigned int i = 0; i < d->nr; i++) {
		q[i] = d->tr.ops->queue(d->tr.t, i);
		if (d->fds[i].kick < 0)
			return -EINVAL;
	}
	ret = start(d->vhost, d->mem, features, q, d->fds, d->nr, base);
	if (ret == 0) {
		ret = d->ops->start(d->opaque, d->vhost);
		/* Whatever part of it was done is undone; a kernel that will not is let go of. */
		if (ret < 0 && d->ops->stop(d->opaque, d->vhost) < 0)
			vhost_abandon(d->vhost);
		else if (ret < 0)
			vhost_stop(d->vhost);
	}
	if (ret < 0)
		log_limited(&d->rl, LOG_LVL_ERROR, "%s: the kernel's side did not start: %s",
			    d->name, strerror(-ret));
	return ret;
}

int vhost_dev_activate(struct vhost_dev *d, uint64_t features)
{
	/* From where the driver's rings stand: 0 after a reset, the saved place after a restore. */
	int ret = dev_start(d, features, NULL);

	if (ret < 0)
		return ret;
	d->features = features;
	d->running = true;
	d->suspended = false;
	return 0;
}

void vhost_dev_reset(struct vhost_dev *d)
{
	if (!d->running)
		return;
	if (d->suspended) {
		/* The kernel was stopped and its queues unbound already. */
		d->running = d->suspended = false;
		return;
	}
	if (d->ops->stop(d->opaque, d->vhost) < 0) {
		/* Closing the descriptor is the one sure way left to stop the kernel. */
		log_err("%s: the kernel's side would not stop; letting go of it (the device "
			"stays off until ember restarts)",
			d->name);
		vhost_abandon(d->vhost);
	} else {
		vhost_stop(d->vhost);
	}
	d->running = false;
}

/* With the transport's lock: the kernel's device gone while the driver thinks it runs. */
static void dev_lost(struct vhost_dev *d, const char *what)
{
	log_err("%s: the kernel's side would not %s; the device needs a reset, and stays off "
		"until ember restarts",
		d->name, what);
	d->running = d->suspended = false;
	d->tr.ops->needs_reset(d->tr.t);
}

int vhost_dev_suspend(struct vhost_dev *d)
{
	uint16_t base[VHOST_MAX_QUEUES];
	int ret = 0;

	if (!d->tr.ops)
		return 0; /* never attached: never started */
	d->tr.ops->lock(d->tr.t);
	if (!d->running || d->suspended)
		goto out;
	ret = d->ops->stop(d->opaque, d->vhost);
	if (ret < 0)
		vhost_abandon(d->vhost);
	else
		ret = vhost_stop_at(d->vhost, base, d->nr); /* abandons a kernel that refuses */
	if (ret < 0) {
		dev_lost(d, "stop");
		goto out;
	}
	memcpy(d->base, base, sizeof(base[0]) * d->nr);
	d->suspended = true;
	/*
	 * The kernel no longer moves the rings, so ember's copies of the
	 * queues take its place for virtio_mmio_save(). vhost_dev_resume()
	 * restarts from d->base even where a queue refused it.
	 */
	for (unsigned int i = 0; i < d->nr; i++) {
		int err = virtq_take_back(d->tr.ops->queue(d->tr.t, i), base[i]);

		if (err < 0) {
			log_limited(&d->rl, LOG_LVL_WARN,
				    "%s: queue %u: the kernel stopped at %u, which the driver's "
				    "ring disagrees with (%s): no snapshot",
				    d->name, i, base[i], strerror(-err));
			if (ret == 0)
				ret = err;
		}
	}
out:
	d->tr.ops->unlock(d->tr.t);
	return ret;
}

int vhost_dev_resume(struct vhost_dev *d)
{
	int ret = 0;

	if (!d->tr.ops)
		return 0;
	d->tr.ops->lock(d->tr.t);
	if (d->running && d->suspended) {
		d->suspended = false;
		ret = dev_start(d, d->features, d->base);
		if (ret < 0)
			dev_lost(d, "start again");
	}
	d->tr.ops->unlock(d->tr.t);
	return ret;
}

void vhost_dev_called(struct vhost_dev *d)
{
	if (!d->tr.ops)
		return;
	d->tr.ops->lock(d->tr.t);
	if (d->running)
		d->tr.ops->signal_used(d->tr.t);
	d->tr.ops->unlock(d->tr.t);
}

void vhost_dev_broken(struct vhost_dev *d, unsigned int queue)
{
	if (!d->tr.ops)
		return;
	d->tr.ops->lock(d->tr.t);
	if (d->running) {
		log_limited(&d->rl, LOG_LVL_WARN,
			    "%s: the kernel found the driver's queue %u broken; the device needs "
			    "a reset",
			    d->name, queue);
		d->tr.ops->needs_reset(d->tr.t);
	}
	d->tr.ops->unlock(d->tr.t);
}
