/* SPDX-License-Identifier: MIT */
/*
 * A virtual machine: the /dev/kvm and VM descriptors, guest memory slots,
 * the port and MMIO buses, the in-kernel irqchip, the vCPUs and the event
 * loop. Nothing here is global: a process can hold several.
 */
#ifndef EMBER_VM_H
#define EMBER_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "gmem.h"

struct kvm_cpuid_entry2;

/* Process exit codes; also in --help and ember(1). */
#define EMBER_EXIT_OK 0		   /* the guest powered off or reset */
#define EMBER_EXIT_FAILURE 1	   /* ember itself failed */
#define EMBER_EXIT_USAGE 2	   /* bad command line or input; nothing was started */
#define EMBER_EXIT_SIGNAL_BASE 128 /* + signal number, for SIGTERM / SIGINT */

/* Three pages KVM needs below 4 GiB on Intel hosts, placed under firmware. */
#define VM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define VM_TSS_ADDR 0xfeffd000ULL

struct bus;
struct evloop;
struct irqchip;
struct vcpu;
struct vm;

/*
 * Opens `kvm_path` (NULL: /dev/kvm), checks the API version and the
 * capabilities ember needs, creates the VM, its buses and its event loop.
 */
int vm_create(struct vm **out, const char *kvm_path);
/* Allocates RAM (see gmem_layout) and registers it with KVM. */
int vm_setup_memory(struct vm *vm, uint64_t ram_size);
/* Maps a read-only copy of `data` at `gpa`; guest writes to it become MMIO exits. */
int vm_add_rom(struct vm *vm, uint64_t gpa, const void *data, size_t size);
/* KVM_CREATE_IRQCHIP: PIC, IOAPIC and a LAPIC per vCPU. Before vm_create_vcpus(). */
int vm_create_irqchip(struct vm *vm);
int vm_create_vcpus(struct vm *vm, unsigned int n);

/*
 * KVM_GET_SUPPORTED_CPUID: fills *out (allocated; the caller frees it) with
 * the entries, leaving room for `spare` more. Returns the count or -errno.
 */
int vm_supported_cpuid(struct vm *vm, struct kvm_cpuid_entry2 **out, unsigned int spare);

/* Starts the event loop thread and one thread per vCPU. */
int vm_start(struct vm *vm);
/*
 * Ends the run with `code` unless an earlier request set one. Safe from any
 * thread, including vCPU and event-loop threads.
 */
void vm_request_stop(struct vm *vm, int code);
/*
 * The same, saying why as QMP's SHUTDOWN event does: `reason` one of its
 * reasons ("guest-shutdown", "guest-reset", "host-signal", "host-qmp-quit",
 * ...; a string that lives on) and whether the guest asked.
 */
void vm_request_shutdown(struct vm *vm, int code, const char *reason, bool guest);
/* After vm_wait(): the reason the stop gave (NULL: none), and *guest. */
const char *vm_stop_reason(struct vm *vm, bool *guest);
bool vm_stop_requested(struct vm *vm);
/* Blocks until a stop is requested; returns the exit code. */
int vm_wait(struct vm *vm);
/*
 * Pauses every vCPU: each leaves KVM_RUN and waits, and KVM's clock
 * (kvmclock) is read so that vm_resume() can set it back where it stood,
 * as QEMU does: the guest's clock does not advance while paused. Returns
 * once every vCPU thread still running has parked: 0, -ETIMEDOUT when one
 * has not within `timeout_ms` (the pause is called off), or -EALREADY.
 * Not from a vCPU thread.
 */
int vm_pause(struct vm *vm, unsigned int timeout_ms);
/* Lets paused vCPUs run again; 0, or -EALREADY when not paused. */
int vm_resume(struct vm *vm);
bool vm_paused(struct vm *vm);
/*
 * What a snapshot keeps of the VM beside its vCPUs: the in-kernel PIC pair
 * and IOAPIC, kvmclock as the pause found it, and the host's wall-clock
 * times of the pause and of the save (CLOCK_REALTIME, ns).
 */
struct vm_state {
	struct kvm_irqchip chip[3];
	uint64_t clock_ns;
	int64_t paused_at_ns;
	int64_t saved_at_ns;
};
#define VM_STATE_VERSION 1
/* While paused: 0, -EAGAIN (not paused, or no kvmclock reading) or KVM's -errno. */
int vm_save_state(struct vm *vm, struct vm_state *out);
/*
 * Before the vCPUs start: the irqchip as saved, and kvmclock advanced by
 * the wall-clock time since the pause, so the guest's clock reads now.
 * *since_save_ns: the wall-clock time since the save, by which the caller
 * advances the vCPUs' TSCs. 0, -EINVAL (malformed) or KVM's -errno.
 */
int vm_restore_state(struct vm *vm, const struct vm_state *st, int64_t *since_save_ns);
/* Stops and joins the vCPU threads, then the event loop. */
void vm_stop(struct vm *vm);
void vm_destroy(struct vm *vm);

/* What set-up code, devices and tests reach the VM's parts through. */
struct bus *vm_pio(struct vm *vm);
struct bus *vm_mmio(struct vm *vm);
struct irqchip *vm_irqchip(struct vm *vm);
struct evloop *vm_evloop(struct vm *vm);
const struct gmem *vm_gmem(const struct vm *vm);
struct vcpu *vm_vcpu(struct vm *vm, unsigned int index);
int vm_fd(const struct vm *vm);
unsigned int vm_max_vcpus(const struct vm *vm);
/* KVM_CHECK_EXTENSION: > 0 when KVM has `cap`. */
int vm_check_extension(const struct vm *vm, long cap);
/* One past the highest guest-physical address this host's KVM can map. */
uint64_t vm_gpa_limit(const struct vm *vm);

#endif
