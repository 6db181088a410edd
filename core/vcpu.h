/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: each runs KVM_RUN and hands exits to core/exit.c. A vCPU is
 * stopped by setting its stop flag and `immediate_exit`, then signalling its
 * thread: whichever side of KVM_RUN the thread is on, it comes back.
 */
#ifndef EMBER_VCPU_H
#define EMBER_VCPU_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct vcpu;

int vcpu_create(struct vcpu **out, struct vm *vm, unsigned int index);
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_fd(const struct vcpu *vcpu);
unsigned int vcpu_index(const struct vcpu *vcpu);
struct kvm_run *vcpu_run_page(const struct vcpu *vcpu);

/*
 * The state every vCPU starts with: `cpuid` (KVM_SET_CPUID2), MTRRs on with
 * write-back as the default type, fast strings, a reset FPU, and LINT0/LINT1
 * wired as ExtINT/NMI so the PIC reaches the boot vCPU before the guest
 * programs its LAPIC. 0 or a negative errno.
 */
int vcpu_configure(struct vcpu *vcpu, const struct kvm_cpuid_entry2 *cpuid, unsigned int n);
/* The TSC frequency in kHz KVM runs this vCPU at, or 0 when KVM cannot say. */
unsigned int vcpu_tsc_khz(struct vcpu *vcpu);
int vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs);
int vcpu_set_boot_state(struct vcpu *vcpu, const struct kvm_regs *regs,
			const struct kvm_sregs *sregs);

/* Installs the (empty) handler for the kick signal; once per process, idempotent. */
int vcpu_signal_setup(void);

int vcpu_start(struct vcpu *vcpu);
/* Asks the thread to leave KVM_RUN and end; returns at once. */
void vcpu_kick(struct vcpu *vcpu);
/* Makes the thread leave KVM_RUN (for a pause); returns at once. */
void vcpu_interrupt(struct vcpu *vcpu);
/* The kernel id of its thread; 0 before it runs. */
pid_t vcpu_thread_id(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/*
 * Snapshots (core/vcpu_state.c). vcpu_save_state(): the vCPU's whole state
 * as KVM holds it, as one blob (malloc'd, *len bytes): registers, segments,
 * XSAVE, XCRs, every MSR KVM lists and will give, LAPIC, pending events,
 * debug registers and MP state. The vCPU must be parked (vm_pause()). 0 or
 * -errno, logged.
 */
int vcpu_save_state(struct vcpu *vcpu, void **blob, size_t *len);
/*
 * Loads such a blob into a vCPU set up as the one it came from was
 * (vcpu_configure()), before it runs, adding `tsc_advance` cycles to its
 * TSC. The blob is checked before use: -EINVAL when malformed or from a
 * host whose XSAVE area differs; KVM's -errno when it refuses a part; each
 * logged, naming the part.
 */
int vcpu_restore_state(struct vcpu *vcpu, const void *blob, size_t len, uint64_t tsc_advance);
/* Tells the guest its clock stood still (KVM_KVMCLOCK_CTRL), so its watchdogs do not bark. */
void vcpu_clock_stopped(struct vcpu *vcpu);

/* Logs general and segment registers at `level` (an enum log_level). */
void vcpu_dump_regs(struct vcpu *vcpu, int level);

#endif
