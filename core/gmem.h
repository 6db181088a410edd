/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM: the regions of guest physical address space that are backed by
 * host memory, and the one checked translation from a guest range to a host
 * pointer. Every device reaches guest memory through gmem_translate().
 *
 * The layout puts the first 3 GiB of RAM at 0 and the rest at 4 GiB, keeping
 * the 32-bit MMIO hole (3 GiB .. 4 GiB) free for devices, the IOAPIC, the
 * LAPIC and firmware.
 */
#ifndef EMBER_GMEM_H
#define EMBER_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8
#define GMEM_LOW_LIMIT 0xC0000000ULL  /* 3 GiB: RAM below the 32-bit hole */
#define GMEM_HIGH_BASE 0x100000000ULL /* 4 GiB: where the rest of RAM continues */
#define GMEM_PAGE_SIZE 4096ULL
#define GMEM_HUGE_SIZE 0x200000ULL /* 2 MiB: the host mapping's alignment */

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct gmem {
	unsigned int nr;
	struct gmem_region r[GMEM_MAX_REGIONS];
	uint64_t ram_size;
	/* Set when the regions were mapped by gmem_alloc() and must be unmapped. */
	int owned;
};

/*
 * Splits `ram_size` bytes of RAM around the 32-bit hole. Fills `out` (room
 * for two) and returns the number of regions, or -EINVAL when ram_size is 0
 * or not a multiple of the page size.
 */
int gmem_layout(uint64_t ram_size, struct gmem_region out[2]);

/* Maps anonymous memory for `ram_size` bytes laid out by gmem_layout(). */
int gmem_alloc(struct gmem *m, uint64_t ram_size);
void gmem_free(struct gmem *m);

/*
 * Adds caller-owned host memory as a RAM region (tests use a plain buffer).
 * Refuses zero sizes, wrapping ranges and overlaps.
 */
int gmem_add_region(struct gmem *m, uint64_t gpa, void *host, uint64_t size);

/*
 * Host pointer for the guest range [gpa, gpa + len), or NULL when len is 0,
 * the range wraps, or any byte of it is outside a single RAM region.
 */
void *gmem_translate(const struct gmem *m, uint64_t gpa, uint64_t len);

/*
 * Copies between guest and host memory; 0 or -EFAULT, nothing copied on
 * error. A zero length copies nothing and succeeds.
 */
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, uint64_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, uint64_t len);

#endif
