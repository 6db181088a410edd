// SPDX-License-Identifier: MIT
/* CPUID per vCPU: APIC IDs, topology, hypervisor leaves, TSC frequency. */
#include "config.h"

#include "firmware/cpuid.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

#define MAX 32

static struct kvm_cpuid_entry2 e[MAX];
static unsigned int n;

static void add(uint32_t fn, uint32_t idx, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx,
		int indexed)
{
	e[n] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx, .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx
	};
	if (indexed)
		e[n].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	n++;
}

/* -smp's topology: `nr` vCPUs in packages of `cores` cores of `threads` threads. */
static const struct cpuid_topology *topo(unsigned int nr, unsigned int cores, unsigned int threads)
{
	static struct cpuid_topology t;

	t = (struct cpuid_topology){ .nr_vcpus = nr, .cores = cores, .threads = threads };
	return &t;
}

/* A trimmed list as KVM_GET_SUPPORTED_CPUID might give it. */
static void supported(uint32_t vendor_ebx)
{
	memset(e, 0, sizeof(e));
	n = 0;
	add(0, 0, 0x1f, vendor_ebx, 0, 0, 0);
	add(1, 0, 0x00a00f11, 0x00000800, 0x7ed8320b, 0x178bfbff, 0);
	add(4, 0, 0x00000121, 0, 0, 0, 1); /* L1 data */
	add(4, 1, 0x00000163, 0, 0, 0, 1); /* L3 */
	add(4, 2, 0, 0, 0, 0, 1);	   /* end of the list */
	add(0xb, 0, 0, 0, 0, 0, 1);
	add(0xb, 1, 0, 0, 0, 0, 1);
	add(0xb, 2, 0, 0, 0, 0, 1);
	add(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d, 0);
	add(0x40000001, 0, 0x01007afb, 0, 0, 0, 0);
	add(0x80000008, 0, 0x3030, 0, 0, 0, 0);
	add(0x8000001d, 0, 0x00000121, 0, 0, 0, 1); /* L1 data */
	add(0x8000001d, 1, 0x0003c163, 0, 0, 0, 1); /* L3, 16 host threads sharing it */
	add(0x8000001e, 0, 0, 0, 0, 0, 0);
}

START_TEST(apic_ids_and_counts)
{
	struct kvm_cpuid_entry2 *l1;

	supported(0x756e6547); /* GenuineIntel */
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 3, topo(4, 4, 1), 0), (int)n);
	l1 = cpuid_find(e, n, 1, 0);
	ck_assert_uint_eq(l1->ebx >> 24, 3);	      /* initial APIC ID */
	ck_assert_uint_eq((l1->ebx >> 16) & 0xff, 4); /* logical processors in the package */
	ck_assert_uint_eq(l1->ebx & 0xffff, 0x0800);  /* the rest kept */
	ck_assert(l1->edx & (1u << 28));
	ck_assert(l1->ecx & (1u << 31)); /* hypervisor present */
	ck_assert_uint_eq(l1->eax, 0x00a00f11);
}
END_TEST

START_TEST(single_vcpu_has_no_htt)
{
	supported(0x756e6547);
	e[1].edx &= ~(1u << 28);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(1, 1, 1), 0), (int)n);
	ck_assert_uint_eq(cpuid_find(e, n, 1, 0)->edx & (1u << 28), 0);
}
END_TEST

START_TEST(x2apic_topology_leaf)
{
	supported(0x756e6547);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 5, topo(8, 8, 1), 0), (int)n);
	/* SMT level: one thread; core level: eight cores, three bits of APIC ID. */
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 0)->eax, 0);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 0)->ebx, 1);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 0)->ecx, 0x100);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->eax, 3);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->ebx, 8);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->ecx, 0x201);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 2)->ecx, 2);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_uint_eq(cpuid_find(e, n, 0xb, i)->edx, 5);
}
END_TEST

START_TEST(intel_cores_per_package)
{
	supported(0x756e6547);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(4, 4, 1), 0), (int)n);
	ck_assert_uint_eq(cpuid_find(e, n, 4, 0)->eax >> 26, 3);
	ck_assert_uint_eq((cpuid_find(e, n, 4, 0)->eax >> 14) & 0xfff, 0); /* L1: per core */
	ck_assert_uint_eq((cpuid_find(e, n, 4, 1)->eax >> 14) & 0xfff, 3); /* L3: shared */
	ck_assert_uint_eq(cpuid_find(e, n, 4, 2)->eax, 0);
	ck_assert_uint_eq(cpuid_find(e, n, 0x80000008, 0)->ecx, 0); /* AMD-only field */
}
END_TEST

START_TEST(amd_core_count_and_extended_apic_id)
{
	supported(0x68747541); /* AuthenticAMD */
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 2, topo(4, 4, 1), 0), (int)n);
	ck_assert_uint_eq(cpuid_find(e, n, 0x80000008, 0)->ecx & 0xff, 3);
	ck_assert_uint_eq((cpuid_find(e, n, 0x80000008, 0)->ecx >> 12) & 0xf, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->eax, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ebx, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ecx, 0);
	/* The L3 is shared by the package's four, not the host's sixteen. */
	ck_assert_uint_eq((cpuid_find(e, n, 0x8000001d, 1)->eax >> 14) & 0xfff, 3);
	ck_assert_uint_eq((cpuid_find(e, n, 0x8000001d, 0)->eax >> 14) & 0xfff, 0);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001d, 1)->eax & 0x3fff, 0x0163);
}
END_TEST

/* QEMU's "-smp 4": four packages of one core, so no package has siblings. */
START_TEST(one_package_per_vcpu)
{
	struct kvm_cpuid_entry2 *l1;

	supported(0x68747541);
	e[1].edx |= 1u << 28; /* a host value with HTT set */
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 3, topo(4, 1, 1), 0), (int)n);
	l1 = cpuid_find(e, n, 1, 0);
	ck_assert_uint_eq(l1->ebx >> 24, 3);
	ck_assert_uint_eq((l1->ebx >> 16) & 0xff, 1);
	ck_assert_uint_eq(l1->edx & (1u << 28), 0);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->eax, 0); /* no APIC ID bits below the package */
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->ebx, 1);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->edx, 3);
	ck_assert_uint_eq(cpuid_find(e, n, 0x80000008, 0)->ecx & 0xf0ff, 0);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->eax, 3);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ebx, 0); /* core 0 of its package */
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ecx, 3); /* node 3 */
	ck_assert_uint_eq((cpuid_find(e, n, 0x8000001d, 1)->eax >> 14) & 0xfff, 0);
}
END_TEST

/* Two packages of two cores of two threads: vCPU 6 is package 1, core 1, thread 0. */
START_TEST(packages_cores_threads)
{
	supported(0x756e6547);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 6, topo(8, 2, 2), 0), (int)n);
	ck_assert_uint_eq((cpuid_find(e, n, 1, 0)->ebx >> 16) & 0xff, 4);
	ck_assert_uint_eq(cpuid_find(e, n, 1, 0)->ebx >> 24, 6);
	ck_assert(cpuid_find(e, n, 1, 0)->edx & (1u << 28));
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 0)->eax, 1);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 0)->ebx, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->eax, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0xb, 1)->ebx, 4);
	ck_assert_uint_eq(cpuid_find(e, n, 4, 0)->eax >> 26, 1);	   /* two cores */
	ck_assert_uint_eq((cpuid_find(e, n, 4, 0)->eax >> 14) & 0xfff, 1); /* L1: the core's two */
	ck_assert_uint_eq((cpuid_find(e, n, 4, 1)->eax >> 14) & 0xfff, 3); /* L3: the package's */

	supported(0x68747541);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 6, topo(8, 2, 2), 0), (int)n);
	ck_assert_uint_eq(cpuid_find(e, n, 0x80000008, 0)->ecx & 0xff, 3);
	ck_assert_uint_eq((cpuid_find(e, n, 0x80000008, 0)->ecx >> 12) & 0xf, 2);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->eax, 6);
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ebx, 0x101); /* core 1, two threads */
	ck_assert_uint_eq(cpuid_find(e, n, 0x8000001e, 0)->ecx, 1);
}
END_TEST

START_TEST(tsc_frequency_leaf)
{
	struct kvm_cpuid_entry2 *t;
	int m;

	supported(0x756e6547);
	m = cpuid_for_vcpu(e, n, MAX, 0, topo(1, 1, 1), 2999999);
	ck_assert_int_eq(m, (int)n + 1);
	t = cpuid_find(e, (unsigned int)m, CPUID_HV_TIMING, 0);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->eax, 2999999);
	ck_assert_uint_eq(t->ebx, CPUID_LAPIC_TIMER_KHZ);
	ck_assert_uint_eq(cpuid_find(e, (unsigned int)m, CPUID_HV_BASE, 0)->eax, CPUID_HV_TIMING);
	/* KVM's signature and features are kept. */
	ck_assert_uint_eq(cpuid_find(e, (unsigned int)m, CPUID_HV_BASE, 0)->ebx, 0x4b4d564b);
	ck_assert_uint_eq(cpuid_find(e, (unsigned int)m, 0x40000001, 0)->eax, 0x01007afb);
	/* Applying it again updates the leaf rather than adding another. */
	ck_assert_int_eq(cpuid_for_vcpu(e, (unsigned int)m, MAX, 0, topo(1, 1, 1), 1000), m);
	ck_assert_uint_eq(t->eax, 1000);
}
END_TEST

START_TEST(refusals)
{
	supported(0x756e6547);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 4, topo(4, 1, 1), 0), -EINVAL);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(0, 1, 1), 0), -EINVAL);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(6, 3, 1), 0), -EINVAL); /* not 2^n */
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(6, 2, 2), 0), -EINVAL); /* 6 % 4 */
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(4, 0, 1), 0), -EINVAL);
	ck_assert_int_eq(cpuid_for_vcpu(e, n, n, 0, topo(1, 1, 1), 1000), -ENOSPC);
	/* Without KVM's hypervisor leaf there is nowhere to announce the timing leaf. */
	supported(0x756e6547);
	e[8].function = 0x12345678;
	ck_assert_int_eq(cpuid_for_vcpu(e, n, MAX, 0, topo(1, 1, 1), 1000), (int)n);
}
END_TEST

static Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("cpuid");

	tcase_add_test(tc, apic_ids_and_counts);
	tcase_add_test(tc, single_vcpu_has_no_htt);
	tcase_add_test(tc, x2apic_topology_leaf);
	tcase_add_test(tc, intel_cores_per_package);
	tcase_add_test(tc, amd_core_count_and_extended_apic_id);
	tcase_add_test(tc, one_package_per_vcpu);
	tcase_add_test(tc, packages_cores_threads);
	tcase_add_test(tc, tsc_frequency_leaf);
	tcase_add_test(tc, refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(cpuid_suite());
}
