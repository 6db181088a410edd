/* SPDX-License-Identifier: MIT */
/*
 * The CPUID a vCPU sees: KVM_GET_SUPPORTED_CPUID, adjusted per vCPU for its
 * APIC ID and a consistent topology (one socket, one core per vCPU, one
 * thread per core), with KVM's hypervisor leaves and, where KVM can tell it,
 * the TSC frequency.
 */
#ifndef EMBER_CPUID_H
#define EMBER_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#define CPUID_HV_BASE 0x40000000u
#define CPUID_HV_TIMING 0x40000010u    /* EAX: TSC kHz, EBX: LAPIC timer kHz */
#define CPUID_LAPIC_TIMER_KHZ 1000000u /* KVM's LAPIC timer counts at 1 GHz */
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

/*
 * Rewrites `e` (n entries, room for `max`) for vCPU `index` of `nr_vcpus`.
 * `tsc_khz` 0 leaves the timing leaf out. Returns the new entry count or
 * -ENOSPC, -EINVAL for an index out of range.
 */
int cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int max, unsigned int index,
		   unsigned int nr_vcpus, uint32_t tsc_khz);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, unsigned int n, uint32_t function,
				    uint32_t index);

#endif
