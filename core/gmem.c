// SPDX-License-Identifier: MIT
#include "config.h"

#include "gmem.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int gmem_layout(uint64_t ram_size, struct gmem_region out[2])
{
	if (ram_size == 0 || ram_size % GMEM_PAGE_SIZE)
		return -EINVAL;
	out[0] = (struct gmem_region){ .gpa = 0, .size = ram_size };
	if (ram_size <= GMEM_LOW_LIMIT)
		return 1;
	out[0].size = GMEM_LOW_LIMIT;
	out[1] = (struct gmem_region){ .gpa = GMEM_HIGH_BASE, .size = ram_size - GMEM_LOW_LIMIT };
	return 2;
}

int gmem_add_region(struct gmem *m, uint64_t gpa, void *host, uint64_t size)
{
	if (size == 0 || !host)
		return -EINVAL;
	if (gpa + size - 1 < gpa)
		return -EINVAL;
	if (m->nr == GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned int i = 0; i < m->nr; i++) {
		const struct gmem_region *r = &m->r[i];

		if (gpa <= r->gpa + (r->size - 1) && r->gpa <= gpa + (size - 1))
			return -EEXIST;
	}
	m->r[m->nr++] = (struct gmem_region){ .gpa = gpa, .size = size, .host = host };
	m->ram_size += size;
	return 0;
}

/*
 * Anonymous memory for SIZE bytes of guest RAM, starting on a 2 MiB boundary.
 * KVM maps a guest huge page only where the host address and the guest
 * address agree modulo 2 MiB; every region starts on such a boundary, so
 * aligning the host side lets the nested page tables use 2 MiB pages and
 * saves one fault per 4 KiB page the guest touches. NULL with errno set.
 */
static void *gmem_map_aligned(uint64_t size)
{
	uint64_t span = size + GMEM_HUGE_SIZE;
	uint8_t *p, *start;
	uint64_t head, tail;

	if (span < size) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	start = (uint8_t *)(((uintptr_t)p + GMEM_HUGE_SIZE - 1) & ~(uintptr_t)(GMEM_HUGE_SIZE - 1));
	head = (uint64_t)(start - p);
	tail = span - head - size;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(start + size, tail);
	return start;
}

int gmem_alloc(struct gmem *m, uint64_t ram_size)
{
	struct gmem_region layout[2];
	int n, ret;

	memset(m, 0, sizeof(*m));
	n = gmem_layout(ram_size, layout);
	if (n < 0)
		return n;
	m->owned = 1;
	for (int i = 0; i < n; i++) {
		void *p = gmem_map_aligned(layout[i].size);

		if (!p) {
			ret = -errno;
			gmem_free(m);
			return ret;
		}
		/* Huge pages are a hint: a host without THP still works. */
		madvise(p, layout[i].size, MADV_HUGEPAGE);
		ret = gmem_add_region(m, layout[i].gpa, p, layout[i].size);
		if (ret < 0) {
			munmap(p, layout[i].size);
			gmem_free(m);
			return ret;
		}
	}
	return 0;
}

void gmem_free(struct gmem *m)
{
	if (m->owned) {
		for (unsigned int i = 0; i < m->nr; i++)
			munmap(m->r[i].host, m->r[i].size);
	}
	memset(m, 0, sizeof(*m));
}

void *gmem_translate(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len - 1 < gpa)
		return NULL;
	for (unsigned int i = 0; i < m->nr; i++) {
		const struct gmem_region *r = &m->r[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		if (off >= r->size)
			continue;
		/* The whole range must end inside this one region. */
		if (len > r->size - off)
			return NULL;
		return r->host + off;
	}
	return NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p;

	if (len == 0)
		return 0;
	p = gmem_translate(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = gmem_translate(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}
