/* SPDX-License-Identifier: MIT */
/* struct vm, for core/vm.c and core/vcpu.c only; everything else uses vm.h. */
#ifndef EMBER_VM_INTERNAL_H
#define EMBER_VM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "vm.h"

struct vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size; /* bytes of each vCPU's struct kvm_run mapping */
	unsigned int max_vcpus;
	unsigned int phys_bits; /* guest-physical address width KVM can map */

	struct gmem mem;
	unsigned int nr_slots;
	void *rom; /* host copy of read-only firmware, if any */
	size_t rom_size;

	struct bus *pio;
	struct bus *mmio;
	struct irqchip *irq;
	struct evloop *loop;

	struct vcpu **vcpus;
	unsigned int nr_vcpus;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Written under `lock`; read without it by vCPU threads after each exit. */
	_Atomic bool stop_requested;
	int exit_code;
	const char *stop_reason; /* for QMP's SHUTDOWN event; NULL: none */
	bool stop_by_guest;
	bool started;

	/*
	 * Pausing (vm_pause()): under `lock`. vCPU threads park on `park` while
	 * `pause` holds; `parked` counts them, `live` counts the threads not yet
	 * ended, so a pause waits for exactly those.
	 */
	pthread_cond_t park;
	_Atomic bool pause;
	bool paused;
	unsigned int parked;
	unsigned int live;
	struct kvm_clock_data clock; /* kvmclock when paused, for vm_resume() */
	bool have_clock;
	int64_t paused_at_ns; /* CLOCK_REALTIME when the pause began, for a snapshot */
};

/* The VM a vCPU belongs to (core/vcpu.c). */
struct vm *vcpu_vm(const struct vcpu *vcpu);

/*
 * For a vCPU thread before each KVM_RUN: parks it while a pause holds (or
 * until `stop` says it must end). Returns whether it parked. Unless it is
 * stopping, its immediate_exit is cleared, under the lock pauses and stops
 * set it under, so none is missed and none left set by a pause that was
 * called off makes KVM_RUN return at once for ever.
 */
bool vm_vcpu_park(struct vm *vm, _Atomic bool *stop, struct kvm_run *run);
/* A vCPU thread ends: a pause no longer waits for it. */
void vm_vcpu_ended(struct vm *vm);

#endif
