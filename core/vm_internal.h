/* SPDX-License-Identifier: MIT */
/* struct vm, for core/vm.c and core/vcpu.c only; everything else uses vm.h. */
#ifndef EMBER_VM_INTERNAL_H
#define EMBER_VM_INTERNAL_H

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
	bool started;
};

#endif
