// SPDX-License-Identifier: MIT
#include "config.h"

#include "boot_plan_internal.h"
#include "core/gmem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MiB(x) ((unsigned long long)(x) >> 20)

int boot_plan_begin(struct boot_plan *plan, uint64_t ram_size, struct gmem_region *r, char *err,
		    size_t err_len)
{
	int nr = gmem_layout(ram_size, r);

	memset(plan, 0, sizeof(*plan));
	if (nr < 0) {
		snprintf(err, err_len, "-m: %llu bytes of RAM cannot be laid out",
			 (unsigned long long)ram_size);
		return -EINVAL;
	}
	return nr;
}

int boot_plan_place(struct boot_plan *plan, uint64_t ram_size, const struct gmem_region *r, int nr,
		    uint64_t initrd_size, uint64_t initrd_max, bool above_4g, char *err,
		    size_t err_len)
{
	uint64_t low_end = r[0].size, top, addr;

	if (plan->kernel_end > low_end) {
		snprintf(err, err_len,
			 "-m: %lluM of RAM is too small for this kernel, which needs RAM up to "
			 "%lluM",
			 MiB(ram_size), MiB(plan->kernel_end + 0xfffff));
		return -ENOMEM;
	}

	if (initrd_size == 0)
		return 0;
	/* As high as it goes below initrd_max, page-aligned, above the kernel. */
	top = low_end < initrd_max ? low_end : initrd_max;
	addr = top >= initrd_size ? (top - initrd_size) & ~(GMEM_PAGE_SIZE - 1) : 0;
	if (initrd_size <= top && addr >= plan->kernel_end) {
		plan->initrd_addr = addr;
	} else if (nr == 2 && above_4g && initrd_size <= r[1].size) {
		/* The kernel says it can take an initrd above 4 GiB: use the top of that RAM. */
		plan->initrd_addr = (r[1].gpa + r[1].size - initrd_size) & ~(GMEM_PAGE_SIZE - 1);
	} else {
		snprintf(err, err_len,
			 "-initrd: %lluM does not fit in %lluM of RAM next to the kernel "
			 "(room below %lluM: %lluM)",
			 MiB(initrd_size + 0xfffff), MiB(ram_size), MiB(top),
			 MiB(top > plan->kernel_end ? top - plan->kernel_end : 0));
		return -ENOMEM;
	}
	plan->initrd_size = initrd_size;
	return 0;
}
