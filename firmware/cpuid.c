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

/* Leaves 0xb and 0x1f: SMT level (one thread), then core level (every vCPU). */
static void topology_leaf(struct kvm_cpuid_entry2 *e, unsigned int index, unsigned int nr)
{
	switch (e->index) {
	case 0:
		e->eax = 0; /* no bits of the APIC ID number threads */
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = width(nr);
		e->ebx = nr;
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

int cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int max, unsigned int index,
		   unsigned int nr_vcpus, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *vendor = cpuid_find(e, n, 0, 0), *hv;
	unsigned int per_pkg = nr_vcpus > 255 ? 255 : nr_vcpus;
	int amd;

	if (nr_vcpus == 0 || index >= nr_vcpus)
		return -EINVAL;
	amd = vendor && (vendor->ebx == VENDOR_AMD_EBX || vendor->ebx == VENDOR_HYGON_EBX);

	for (unsigned int i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *c = &e[i];

		switch (c->function) {
		case 1:
			c->ebx = (c->ebx & 0xffff) | (per_pkg << 16) | ((index & 0xff) << 24);
			if (nr_vcpus > 1)
				c->edx |= LEAF1_EDX_HTT; /* EBX[23:16] is meaningful */
			c->ecx |= LEAF1_ECX_HYPERVISOR;
			break;
		case 4:
			/* Cores per package; caches from L3 up are shared by all of them. */
			if (!(c->eax & 0x1f))
				break; /* no more cache levels */
			c->eax &= 0x3fff;
			c->eax |= ((per_pkg > 64 ? 63 : per_pkg - 1) << 26);
			if (((c->eax >> 5) & 0x7) >= 3)
				c->eax |= ((per_pkg - 1) & 0xfff) << 14;
			break;
		case 0xb:
		case 0x1f:
			topology_leaf(c, index, nr_vcpus);
			break;
		case 0x80000008:
			if (amd) /* NC: cores - 1, and the APIC ID bits that number them */
				c->ecx = (c->ecx & ~0xf0ffu) | (width(nr_vcpus) << 12) |
					 ((per_pkg - 1) & 0xff);
			break;
		case 0x8000001e:
			if (amd) {
				c->eax = index;	       /* extended APIC ID */
				c->ebx = index & 0xff; /* core ID; one thread per core */
				c->ecx = 0;	       /* node 0 of 1 */
			}
			break;
		default:
			break;
		}
	}

	hv = cpuid_find(e, n, CPUID_HV_BASE, 0);
	if (tsc_khz && hv) {
		struct kvm_cpuid_entry2 *t = cpuid_find(e, n, CPUID_HV_TIMING, 0);

		if (!t) {
			if (n == max)
				return -ENOSPC;
			t = &e[n++];
			memset(t, 0, sizeof(*t));
			t->function = CPUID_HV_TIMING;
		}
		t->eax = tsc_khz;
		t->ebx = CPUID_LAPIC_TIMER_KHZ;
		if (hv->eax < CPUID_HV_TIMING)
			hv->eax = CPUID_HV_TIMING;
	}
	return (int)n;
}
