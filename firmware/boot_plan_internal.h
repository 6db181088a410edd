/* SPDX-License-Identifier: MIT */
/*
 * What the bzImage and PVH planners share: where the kernel must end and
 * where the initrd goes in the guest's RAM.
 */
#ifndef EMBER_BOOT_PLAN_INTERNAL_H
#define EMBER_BOOT_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bzimage.h"

struct gmem_region;

/*
 * Starts a plan: clears it and lays RAM of `ram_size` bytes out as
 * gmem_layout() does, into r (room for two regions). The number of
 * regions, or -EINVAL with a reason when the size cannot be laid out.
 */
int boot_plan_begin(struct boot_plan *plan, uint64_t ram_size, struct gmem_region *r, char *err,
		    size_t err_len);

/*
 * With plan->kernel_end set, and RAM laid out by gmem_layout() as `nr`
 * regions `r` (low RAM first): refuses a kernel that ends above low RAM,
 * then places an initrd of `initrd_size` bytes (0: none) as high as it goes
 * in low RAM without ending above `initrd_max`, page aligned and clear of
 * the kernel; failing that, when `above_4g`, at the top of the RAM above
 * 4 GiB. Returns 0, or -ENOMEM with a reason naming `ram_size`.
 */
int boot_plan_place(struct boot_plan *plan, uint64_t ram_size, const struct gmem_region *r, int nr,
		    uint64_t initrd_size, uint64_t initrd_max, bool above_4g, char *err,
		    size_t err_len);

#endif
