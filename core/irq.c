// SPDX-License-Identifier: MIT
#include "config.h"

#include "irq.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct irq_line {
	struct irqchip *chip;
	unsigned int gsi;
	_Atomic int level;
};

struct irqchip {
	const struct irq_backend *be;
	void *ctx;
	int vm_fd; /* -1 unless the chip is KVM's */
	struct irq_line lines[IRQCHIP_NR_LINES];
	struct ratelimit rl;
};

static int kvm_set_line(void *ctx, unsigned int gsi, int level)
{
	struct irqchip *chip = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (ioctl(chip->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

static const struct irq_backend kvm_backend = {
	.set_line = kvm_set_line,
};

int irqchip_create(struct irqchip **out, const struct irq_backend *be, void *ctx)
{
	struct irqchip *chip;

	if (!be || !be->set_line)
		return -EINVAL;
	chip = calloc(1, sizeof(*chip));
	if (!chip)
		return -ENOMEM;
	chip->be = be;
	chip->ctx = ctx;
	chip->vm_fd = -1;
	for (unsigned int i = 0; i < IRQCHIP_NR_LINES; i++) {
		chip->lines[i].chip = chip;
		chip->lines[i].gsi = i;
	}
	ratelimit_init(&chip->rl, 5 * NSEC_PER_SEC, 5);
	*out = chip;
	return 0;
}

int irqchip_create_kvm(struct irqchip **out, int vm_fd)
{
	struct irqchip *chip;
	int ret;

	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP) < 0)
		return -errno;
	ret = irqchip_create(&chip, &kvm_backend, NULL);
	if (ret < 0)
		return ret;
	chip->ctx = chip;
	chip->vm_fd = vm_fd;
	*out = chip;
	return 0;
}

void irqchip_destroy(struct irqchip *chip)
{
	if (!chip)
		return;
	ratelimit_destroy(&chip->rl);
	free(chip);
}

struct irq_line *irqchip_line(struct irqchip *chip, unsigned int gsi)
{
	if (gsi >= IRQCHIP_NR_LINES)
		return NULL;
	return &chip->lines[gsi];
}

unsigned int irq_line_gsi(const struct irq_line *line)
{
	return line->gsi;
}

static int set_level(struct irq_line *line, int level)
{
	struct irqchip *chip = line->chip;
	int ret;

	atomic_store(&line->level, level);
	ret = chip->be->set_line(chip->ctx, line->gsi, level);
	if (ret < 0)
		log_limited(&chip->rl, LOG_LVL_WARN, "irq: setting GSI %u to %d failed: %s",
			    line->gsi, level, strerror(-ret));
	return ret;
}

int irq_line_raise(struct irq_line *line)
{
	return set_level(line, 1);
}

int irq_line_lower(struct irq_line *line)
{
	return set_level(line, 0);
}

int irq_line_pulse(struct irq_line *line)
{
	int ret = set_level(line, 1);

	if (ret < 0)
		return ret;
	return set_level(line, 0);
}

int irq_line_level(const struct irq_line *line)
{
	return atomic_load(&line->level);
}

void irq_line_set(void *line, int level)
{
	set_level(line, level ? 1 : 0);
}

static int irqfd(struct irqchip *chip, unsigned int gsi, int efd, uint32_t flags)
{
	struct kvm_irqfd req = { .fd = (uint32_t)efd, .gsi = gsi, .flags = flags };

	if (chip->vm_fd < 0)
		return -ENOTSUP;
	if (gsi >= IRQCHIP_NR_LINES)
		return -EINVAL;
	if (ioctl(chip->vm_fd, KVM_IRQFD, &req) < 0)
		return -errno;
	return 0;
}

int irqchip_irqfd_assign(struct irqchip *chip, unsigned int gsi, int *efd_out)
{
	int efd, ret;

	if (chip->vm_fd < 0)
		return -ENOTSUP;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	ret = irqfd(chip, gsi, efd, 0);
	if (ret < 0) {
		close(efd);
		return ret;
	}
	*efd_out = efd;
	return 0;
}

int irqchip_irqfd_release(struct irqchip *chip, unsigned int gsi, int efd)
{
	int ret = irqfd(chip, gsi, efd, KVM_IRQFD_FLAG_DEASSIGN);

	close(efd);
	return ret;
}

int ioeventfd_check(const struct ioeventfd_spec *spec)
{
	switch (spec->len) {
	case 0:
		/* Any length only exists for MMIO, and cannot match data. */
		if (spec->pio || spec->match)
			return -EINVAL;
		break;
	case 1:
	case 2:
	case 4:
	case 8:
		break;
	default:
		return -EINVAL;
	}
	if (spec->addr + (spec->len ? spec->len - 1 : 0) < spec->addr)
		return -EINVAL;
	if (spec->pio && spec->addr + spec->len > 0x10000)
		return -EINVAL;
	return 0;
}

static int ioeventfd(int vm_fd, const struct ioeventfd_spec *spec, int efd, uint32_t flags)
{
	struct kvm_ioeventfd req = {
		.datamatch = spec->datamatch,
		.addr = spec->addr,
		.len = spec->len,
		.fd = efd,
		.flags = flags,
	};

	if (spec->pio)
		req.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (spec->match)
		req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
	if (ioctl(vm_fd, KVM_IOEVENTFD, &req) < 0)
		return -errno;
	return 0;
}

int ioeventfd_assign(int vm_fd, const struct ioeventfd_spec *spec, int *efd_out)
{
	int efd, ret = ioeventfd_check(spec);

	if (ret < 0)
		return ret;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	ret = ioeventfd(vm_fd, spec, efd, 0);
	if (ret < 0) {
		close(efd);
		return ret;
	}
	*efd_out = efd;
	return 0;
}

int ioeventfd_release(int vm_fd, const struct ioeventfd_spec *spec, int efd)
{
	int ret = ioeventfd(vm_fd, spec, efd, KVM_IOEVENTFD_FLAG_DEASSIGN);

	close(efd);
	return ret;
}
