/* SPDX-License-Identifier: MIT */
/*
 * -bios: a firmware image mapped read-only so that it ends at 4 GiB, where
 * an x86 CPU fetches its first instruction (the reset vector, 16 bytes below
 * 4 GiB, in real mode with CS base 0xffff0000). The vCPU starts in KVM's
 * reset state, so nothing else needs setting up.
 */
#ifndef EMBER_BIOS_H
#define EMBER_BIOS_H

#include <stddef.h>
#include <stdint.h>

#define BIOS_MAX_SIZE (16ULL << 20) /* stays above the IOAPIC and LAPIC windows */
#define BIOS_TOP 0x100000000ULL

struct bios_image {
	uint8_t *data;
	size_t size;
};

/*
 * Reads the image at `path`. Returns 0, or a negative errno with a one-line
 * reason in `err`: unreadable, empty, or larger than BIOS_MAX_SIZE.
 */
int bios_load(struct bios_image *img, const char *path, char *err, size_t err_len);
void bios_free(struct bios_image *img);

/* Guest physical address of the page-aligned window that holds the image. */
uint64_t bios_base(const struct bios_image *img);

#endif
