// SPDX-License-Identifier: MIT
#include "config.h"

#include "layout.h"
#include "mptable.h"
#include "core/gmem.h"
#include "core/irq.h"
#include "virtio/mmio.h"

const unsigned int layout_virtio_gsi[VIRTIO_MMIO_SLOTS] = {
	5, 6, 7, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
};

/* Every window fits its slot, and all of them lie in the hole between RAM and the IOAPIC. */
_Static_assert(VIRTIO_MMIO_STRIDE >= VIRTIO_MMIO_WINDOW, "a virtio window outgrows its slot");
_Static_assert(VIRTIO_MMIO_BASE >= GMEM_LOW_LIMIT, "virtio windows overlap low RAM");
_Static_assert(VIRTIO_MMIO_END <= MPTABLE_IOAPIC_DEFAULT, "virtio windows reach the IOAPIC");
_Static_assert(VIRTIO_MMIO_SLOTS <= IRQCHIP_NR_LINES, "more slots than interrupt lines");
