/* SPDX-License-Identifier: MIT */
/*
 * The CPUID a vCPU sees: KVM_GET_SUPPORTED_CPUID, adjusted per vCPU for its
 * APIC ID and the topology -smp gives (packages of cores of threads, vCPU i
 * having APIC ID i), with KVM's hypervisor leaves and, where KVM can tell
 * it, the TSC frequency.
 */
#ifndef EMBER_CPUID_H
#define EMBER_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#define CPUID_HV_BASE 0x40000000u
#define CPUID_HV_TIMING 0x40000010u    /* EAX: TSC kHz, EBX: LAPIC timer kHz */
#define CPUID_LAPIC_TIMER_KHZ 1000000u /* KVM's LAPIC timer counts at 1 GHz */
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

struct cpuid_topology {
	unsigned int nr_vcpus; /* packages * cores * threads */
	unsigned int cores;    /* per package, a power of two */
	unsigned int threads;  /* per core, a power of two */
};

/*
 * Rewrites `e` (n entries, room for `max`) for vCPU `index` of the topology
 * `t`. `tsc_khz` 0 leaves the timing leaf out. Returns the new entry count
 * or -ENOSPC, -EINVAL for an index out of range or a topology that does not
 * add up.
 */
int cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int max, unsigned int index,
		   const struct cpuid_topology *t, uint32_t tsc_khz);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, unsigned int n, uint32_t function,
				    uint32_t index);

#endif
