// SPDX-License-Identifier: MIT
#include "config.h"

#include "exit.h"
#include "bus.h"

#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>

static const char *const reason_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN",
	[KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO",
	[KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
};

const char *exit_reason_name(unsigned int reason)
{
	if (reason < sizeof(reason_names) / sizeof(reason_names[0]) && reason_names[reason])
		return reason_names[reason];
	return "unrecognised";
}

#define FAIL(why, why_len, ...)                                                                    \
	({                                                                                         \
		if ((why) && (why_len))                                                            \
			snprintf((why), (why_len), __VA_ARGS__);                                   \
		EXIT_ACTION_FAIL;                                                                  \
	})

static enum exit_action handle_io(struct kvm_run *run, size_t run_size, struct bus *pio, char *why,
				  size_t why_len)
{
	unsigned int size = run->io.size;
	uint64_t count = run->io.count;
	uint64_t off = run->io.data_offset;
	uint8_t *data;

	/*
	 * String I/O (rep ins/outs) arrives as `count` elements of `size`
	 * bytes in the shared page; check the kernel's numbers against the
	 * mapping before touching it.
	 */
	if ((size != 1 && size != 2 && size != 4) || count == 0 || off > run_size ||
	    count * size > run_size - off)
		return FAIL(why, why_len, "malformed I/O exit: size %u, count %llu", size,
			    (unsigned long long)count);
	data = (uint8_t *)run + off;
	for (uint64_t i = 0; i < count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(pio, run->io.port, data, size);
		else
			bus_read(pio, run->io.port, data, size);
	}
	return EXIT_ACTION_CONTINUE;
}

static enum exit_action handle_mmio(struct kvm_run *run, struct bus *mmio, char *why,
				    size_t why_len)
{
	unsigned int len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return FAIL(why, why_len, "malformed MMIO exit: length %u at 0x%llx", len,
			    (unsigned long long)run->mmio.phys_addr);
	if (run->mmio.is_write)
		bus_write(mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(mmio, run->mmio.phys_addr, run->mmio.data, len);
	return EXIT_ACTION_CONTINUE;
}

enum exit_action exit_dispatch(struct kvm_run *run, size_t run_size, struct bus *pio,
			       struct bus *mmio, char *why, size_t why_len)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(run, run_size, pio, why, why_len);
	case KVM_EXIT_MMIO:
		return handle_mmio(run, mmio, why, why_len);
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return EXIT_ACTION_CONTINUE;
	case KVM_EXIT_HLT:
		return EXIT_ACTION_HALT;
	case KVM_EXIT_SHUTDOWN:
		return EXIT_ACTION_TRIPLE_FAULT;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_RESET:
			return EXIT_ACTION_RESET;
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			return EXIT_ACTION_POWEROFF;
		default:
			return FAIL(why, why_len, "unexpected system event %u",
				    run->system_event.type);
		}
	case KVM_EXIT_FAIL_ENTRY:
		return FAIL(why, why_len,
			    "KVM could not enter the guest: hardware entry failure reason 0x%llx",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return FAIL(why, why_len, "KVM internal error, suberror %u",
			    run->internal.suberror);
	default:
		return FAIL(why, why_len, "unexpected exit reason %u (%s)", run->exit_reason,
			    exit_reason_name(run->exit_reason));
	}
}
