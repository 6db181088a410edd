/* SPDX-License-Identifier: MIT */
/*
 * Interrupt lines into the in-kernel irqchip (PIC + IOAPIC + LAPIC), and the
 * irqfd / ioeventfd helpers that let devices signal and be signalled without
 * a trip through a vCPU thread.
 *
 * The line API sits on a small backend so device tests can record what a
 * device raised without KVM; the KVM backend issues KVM_IRQ_LINE.
 */
#ifndef EMBER_IRQ_H
#define EMBER_IRQ_H

#include <stdbool.h>
#include <stdint.h>

/* GSIs 0-15 reach both the PICs and the IOAPIC; 16-23 only the IOAPIC. */
#define IRQCHIP_NR_LINES 24

struct irq_backend {
	/* Sets the level of `gsi`; 0 or a negative errno. */
	int (*set_line)(void *ctx, unsigned int gsi, int level);
};

struct irqchip;
struct irq_line;

/* A chip whose lines go to `be` (tests pass a recorder). */
int irqchip_create(struct irqchip **out, const struct irq_backend *be, void *ctx);
/* KVM_CREATE_IRQCHIP on `vm_fd`; lines go through KVM_IRQ_LINE. */
int irqchip_create_kvm(struct irqchip **out, int vm_fd);
void irqchip_destroy(struct irqchip *chip);

/* The line for `gsi`, or NULL when gsi >= IRQCHIP_NR_LINES. */
struct irq_line *irqchip_line(struct irqchip *chip, unsigned int gsi);
unsigned int irq_line_gsi(const struct irq_line *line);

/* Each returns 0 or a negative errno from the backend. */
int irq_line_raise(struct irq_line *line);
int irq_line_lower(struct irq_line *line);
/* Raise then lower: an edge for edge-triggered inputs. */
int irq_line_pulse(struct irq_line *line);
/* The level last set on the line. */
int irq_line_level(const struct irq_line *line);

/*
 * The shape devices take: `irq_set(opaque, level)` with the line as opaque.
 * Errors are logged (rate-limited); a device cannot act on them.
 */
void irq_line_set(void *line, int level);

/*
 * irqfd: a write to the returned eventfd injects an edge on `gsi` inside the
 * kernel. Only for chips made by irqchip_create_kvm(); others get -ENOTSUP.
 */
int irqchip_irqfd_assign(struct irqchip *chip, unsigned int gsi, int *efd_out);
int irqchip_irqfd_release(struct irqchip *chip, unsigned int gsi, int efd);

/*
 * ioeventfd: a guest write of `len` bytes (1, 2, 4 or 8; 0 for any length on
 * MMIO) to `addr` signals the returned eventfd instead of exiting to user
 * space. With `match`, only writes of `datamatch` do.
 */
struct ioeventfd_spec {
	uint64_t addr;
	unsigned int len;
	bool pio;
	bool match;
	uint64_t datamatch;
};

int ioeventfd_assign(int vm_fd, const struct ioeventfd_spec *spec, int *efd_out);
int ioeventfd_release(int vm_fd, const struct ioeventfd_spec *spec, int efd);
/* Checks a spec without touching KVM; 0 or -EINVAL. */
int ioeventfd_check(const struct ioeventfd_spec *spec);

#endif
