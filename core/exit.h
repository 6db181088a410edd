/* SPDX-License-Identifier: MIT */
/*
 * What a vCPU does with a KVM_RUN exit: port and MMIO accesses go to the
 * buses; everything else becomes an action for the vCPU thread. Kept apart
 * from the thread so tests can feed it a synthetic struct kvm_run.
 */
#ifndef EMBER_EXIT_H
#define EMBER_EXIT_H

#include <stddef.h>

struct bus;
struct kvm_run;

enum exit_action {
	EXIT_ACTION_CONTINUE,	  /* re-enter the guest */
	EXIT_ACTION_HALT,	  /* HLT reached user space (only without an in-kernel LAPIC) */
	EXIT_ACTION_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN: the guest reset itself */
	EXIT_ACTION_RESET,	  /* a reset system event */
	EXIT_ACTION_POWEROFF,	  /* a shutdown system event */
	EXIT_ACTION_FAIL, /* KVM cannot go on: entry failure, internal error, unknown exit */
};

/*
 * Handles the exit described by `run` (`run_size` bytes mapped). On
 * EXIT_ACTION_FAIL, `why` (may be NULL) receives a one-line description.
 */
enum exit_action exit_dispatch(struct kvm_run *run, size_t run_size, struct bus *pio,
			       struct bus *mmio, char *why, size_t why_len);

const char *exit_reason_name(unsigned int reason);

#endif
