// SPDX-License-Identifier: MIT
#include "config.h"

#include "cpuid.h"

#include <errno.h>
#include <string.h>

#define VENDOR_AMD_EBX 0x68747541u   /* "Auth" of AuthenticAMD */
#define VENDOR_HYGON_EBX 0x6f677948u /* "Hygo" of HygonGenuine */
#define LEAF1_EDX_HTT (1u << 28)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define TOPO_LEVEL_SMT 1u
#define TOPO_LEVEL_CORE 2u

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, unsigned int n, uint32_t function,
				    uint32_t index)
{
	for (unsigned int i = 0; i < n; i++) {
		if (e[i].function != function)
			continue;
		if (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == index)
			return &e[i];
	}
	return NULL;
}

/* Bits needed to number `n` things: ceil(log2(n)). */
static unsigned int width(unsigned int n)
{
	unsigned int w = 0;

	while ((1u << w) < n)
		w++;
	return w;
}

/* Where vCPU `index` sits: its core in its package, its package. */
struct place {
	unsigned int core, pkg;
	unsigned int per_pkg;		  /* logical processors in a package */
	unsigned int smt_bits, core_bits; /* APIC ID bits numbering threads, cores */
};

/* Leaves 0xb and 0x1f: the SMT level, then the core level. */
static void topology_leaf(struct kvm_cpuid_entry2 *e, unsigned int index, const struct place *pl,
			  const struct cpuid_topology *t)
{
	switch (e->index) {
	case 0:
		e->eax = pl->smt_bits;
		e->ebx = t->threads;
		e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = pl->smt_bits + pl->core_bits;
		e->ebx = pl->per_pkg;
		e->ecx = (TOPO_LEVEL_CORE << 8) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index; /* level type 0: no more levels */
		break;
	}
	e->edx = index;
}

/*
 * EAX of a cache leaf (Intel's 4, AMD's 0x8000001d share the layout): the
 * logical processors sharing it, bits 25:14; L1 and L2 belong to a core, L3
 * and beyond to the package. Leaf 4 also says the cores per package.
 */
static uint32_t cache_eax(uint32_t eax, const struct place *pl, const struct cpuid_topology *t,
			  int intel)
{
	unsigned int sharing = ((eax >> 5) & 0x7) >= 3 ? pl->per_pkg : t->threads;

	eax &= 0x3fff;
	eax |= ((sharing - 1) & 0xfff) << 14;
	if (intel)
		eax |= ((t->cores > 64 ? 63 : t->cores - 1) << 26);
	return eax;
}

static int power_of_two(unsigned int v)
{
	return v && !(v & (v - 1));
}

int cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int max, unsigned int index,
		   const struct cpuid_topology *t, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *vendor = cpuid_find(e, n, 0, 0), *hv;
	struct place pl;
	int amd;

	if (!t || t->nr_vcpus == 0 || index >= t->nr_vcpus || !power_of_two(t->cores) ||
	    !power_of_two(t->threads) || t->cores > 256 || t->threads > 256 ||
	    t->nr_vcpus % (t->cores * t->threads))
		return -EINVAL;
	pl.per_pkg = t->cores * t->threads;
	pl.core = (index / t->threads) % t->cores;
	pl.pkg = index / pl.per_pkg;
	pl.smt_bits = width(t->threads);
	pl.core_bits = width(t->cores);
	amd = vendor && (vendor->ebx == VENDOR_AMD_EBX || vendor->ebx == VENDOR_HYGON_EBX);

	for (unsigned int i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *c = &e[i];

		switch (c->function) {
		case 1:
			c->ebx = (c->ebx & 0xffff) | ((pl.per_pkg > 255 ? 255 : pl.per_pkg) << 16) |
				 ((index & 0xff) << 24);
			if (pl.per_pkg > 1)
				c->edx |= LEAF1_EDX_HTT; /* EBX[23:16] is meaningful */
			else
				c->edx &= ~LEAF1_EDX_HTT;
			c->ecx |= LEAF1_ECX_HYPERVISOR;
			break;
		case 4:
		case 0x8000001d:
			if (c->eax & 0x1f) /* 0: no more cache levels */
				c->eax = cache_eax(c->eax, &pl, t, c->function == 4);
			break;
		case 0xb:
		case 0x1f:
			topology_leaf(c, index, &pl, t);
			break;
		case 0x80000008:
			/* AMD's NC: processors - 1, and the APIC ID bits that number them. */
			if (amd)
				c->ecx = (c->ecx & ~0xf0ffu) |
					 ((pl.smt_bits + pl.core_bits) << 12) |
					 ((pl.per_pkg - 1) & 0xff);
			break;
		case 0x8000001e:
			if (amd) {
				c->eax = index; /* extended APIC ID */
				c->ebx = (pl.core & 0xff) |
					 ((t->threads - 1) << 8); /* core, threads */
				c->ecx = pl.pkg & 0xff;		  /* node: one per package */
			}
			break;
		default:
			break;
		}
	}

	hv = cpuid_find(e, n, CPUID_HV_BASE, 0);
	if (tsc_khz && hv) {
		struct kvm_cpuid_entry2 *timing = cpuid_find(e, n, CPUID_HV_TIMING, 0);

		if (!timing) {
			if (n == max)
				return -ENOSPC;
			timing = &e[n++];
			memset(timing, 0, sizeof(*timing));
			timing->function = CPUID_HV_TIMING;
		}
		timing->eax = tsc_khz;
		timing->ebx = CPUID_LAPIC_TIMER_KHZ;
		if (hv->eax < CPUID_HV_TIMING)
			hv->eax = CPUID_HV_TIMING;
	}
	return (int)n;
}
