// SPDX-License-Identifier: MIT
#include "config.h"

#include "vcpu.h"
#include "exit.h"
#include "log.h"
#include "thread.h"
#include "vm_internal.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The signal that kicks a vCPU thread out of KVM_RUN (QEMU uses the same). */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic pid_t tid; /* its thread's kernel id, once it runs */
};

static void kick_handler(int sig)
{
	(void)sig; /* only here so the signal interrupts KVM_RUN */
}

int vcpu_signal_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return -EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu **out, struct vm *vm, unsigned int index)
{
	struct vcpu *vcpu = calloc(1, sizeof(*vcpu));
	int ret;

	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		ret = -errno;
		free(vcpu);
		return ret;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		close(vcpu->fd);
		free(vcpu);
		return ret;
	}
	*out = vcpu;
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->started)
		vcpu_join(vcpu);
	munmap(vcpu->run, vcpu->vm->run_size);
	close(vcpu->fd);
	free(vcpu);
}

int vcpu_fd(const struct vcpu *vcpu)
{
	return vcpu->fd;
}

struct vm *vcpu_vm(const struct vcpu *vcpu)
{
	return vcpu->vm;
}

unsigned int vcpu_index(const struct vcpu *vcpu)
{
	return vcpu->index;
}

struct kvm_run *vcpu_run_page(const struct vcpu *vcpu)
{
	return vcpu->run;
}

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WRBACK 6ULL
#define LAPIC_LVT0 0x350
#define LAPIC_LVT1 0x360
#define LVT_DELIVERY_MASK (7u << 8)
#define LVT_EXTINT (7u << 8)
#define LVT_NMI (4u << 8)

static int set_cpuid(struct vcpu *vcpu, const struct kvm_cpuid_entry2 *e, unsigned int n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(*e));
	int ret = 0;

	if (!c)
		return -ENOMEM;
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(*e));
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

static int set_msrs(struct vcpu *vcpu)
{
	/*
	 * struct kvm_msrs ends in a flexible array: room for two entries after
	 * it, without a structure that embeds it in the middle (which C forbids
	 * and clang warns of).
	 */
	union {
		struct kvm_msrs hdr;
		unsigned char room[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} m;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 2;
	m.hdr.entries[0].index = MSR_IA32_MISC_ENABLE;
	m.hdr.entries[0].data = MISC_ENABLE_FAST_STRING;
	m.hdr.entries[1].index = MSR_MTRR_DEF_TYPE;
	m.hdr.entries[1].data = MTRR_ENABLE | MTRR_TYPE_WRBACK;
	int n = ioctl(vcpu->fd, KVM_SET_MSRS, &m);

	if (n < 0)
		return -errno;
	/* KVM stops at the first MSR it refuses and returns how many it set. */
	return n == 2 ? 0 : -EINVAL;
}

static int set_lints(struct vcpu *vcpu)
{
	struct kvm_lapic_state s;
	uint32_t v;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &s) < 0)
		return -errno;
	memcpy(&v, s.regs + LAPIC_LVT0, 4);
	v = (v & ~LVT_DELIVERY_MASK) | LVT_EXTINT;
	memcpy(s.regs + LAPIC_LVT0, &v, 4);
	memcpy(&v, s.regs + LAPIC_LVT1, 4);
	v = (v & ~LVT_DELIVERY_MASK) | LVT_NMI;
	memcpy(s.regs + LAPIC_LVT1, &v, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &s) < 0)
		return -errno;
	return 0;
}

int vcpu_configure(struct vcpu *vcpu, const struct kvm_cpuid_entry2 *cpuid, unsigned int n)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 }; /* FNINIT and reset values */
	int ret;

	if ((ret = set_cpuid(vcpu, cpuid, n)) < 0) {
		log_err("vCPU %u: KVM_SET_CPUID2: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	if ((ret = set_msrs(vcpu)) < 0) {
		log_err("vCPU %u: KVM_SET_MSRS: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
		ret = -errno;
		log_err("vCPU %u: KVM_SET_FPU: %s", vcpu->index, strerror(errno));
		return ret;
	}
	if ((ret = set_lints(vcpu)) < 0) {
		log_err("vCPU %u: setting up its LAPIC: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	return 0;
}

unsigned int vcpu_tsc_khz(struct vcpu *vcpu)
{
	int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

	return khz > 0 ? (unsigned int)khz : 0;
}

int vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs)
{
	return ioctl(vcpu->fd, KVM_GET_SREGS, sregs) < 0 ? -errno : 0;
}

int vcpu_set_boot_state(struct vcpu *vcpu, const struct kvm_regs *regs,
			const struct kvm_sregs *sregs)
{
	if (ioctl(vcpu->fd, KVM_SET_SREGS, sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	return 0;
}

static void dump_seg(int level, const char *name, const struct kvm_segment *s)
{
	log_msg((enum log_level)level,
		"  %-3s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u", name,
		s->selector, (unsigned long long)s->base, s->limit, s->type, s->present, s->dpl,
		s->db, s->l, s->g);
}

void vcpu_dump_regs(struct vcpu *vcpu, int level)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (!log_enabled((enum log_level)level))
		return;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		log_msg((enum log_level)level, "vCPU %u: cannot read registers: %s", vcpu->index,
			strerror(errno));
		return;
	}
	log_msg((enum log_level)level, "vCPU %u registers:", vcpu->index);
	log_msg((enum log_level)level, "  rip=%016llx rsp=%016llx rflags=%016llx",
		(unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags);
	log_msg((enum log_level)level, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx",
		(unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
		(unsigned long long)r.rdx);
	log_msg((enum log_level)level, "  rsi=%016llx rdi=%016llx rbp=%016llx",
		(unsigned long long)r.rsi, (unsigned long long)r.rdi, (unsigned long long)r.rbp);
	log_msg((enum log_level)level, "  r8=%016llx r9=%016llx r10=%016llx r11=%016llx",
		(unsigned long long)r.r8, (unsigned long long)r.r9, (unsigned long long)r.r10,
		(unsigned long long)r.r11);
	log_msg((enum log_level)level, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx",
		(unsigned long long)r.r12, (unsigned long long)r.r13, (unsigned long long)r.r14,
		(unsigned long long)r.r15);
	log_msg((enum log_level)level,
		"  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx",
		(unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
		(unsigned long long)s.cr4, (unsigned long long)s.efer);
	dump_seg(level, "cs", &s.cs);
	dump_seg(level, "ds", &s.ds);
	dump_seg(level, "ss", &s.ss);
	dump_seg(level, "tr", &s.tr);
	log_msg((enum log_level)level, "  gdt=%016llx/%04x idt=%016llx/%04x",
		(unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base,
		s.idt.limit);
}

/* Returns false when the thread must end. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	char why[160] = "";

	switch (exit_dispatch(vcpu->run, vm->run_size, vm->pio, vm->mmio, why, sizeof(why))) {
	case EXIT_ACTION_CONTINUE:
		return true;
	case EXIT_ACTION_HALT:
		/*
		 * With the in-kernel LAPIC, KVM keeps HLT to itself and wakes
		 * the vCPU on an interrupt; this exit means it cannot.
		 */
		log_warn(
			"vCPU %u: halted with no interrupt controller to wake it; it stays stopped",
			vcpu->index);
		return false;
	case EXIT_ACTION_TRIPLE_FAULT:
		log_warn("vCPU %u: triple fault: the guest reset itself", vcpu->index);
		vcpu_dump_regs(vcpu, LOG_LVL_WARN);
		vm_request_shutdown(vm, EMBER_EXIT_OK, "guest-reset", true);
		return false;
	case EXIT_ACTION_RESET:
		log_info("vCPU %u: guest requested a reset", vcpu->index);
		vm_request_shutdown(vm, EMBER_EXIT_OK, "guest-reset", true);
		return false;
	case EXIT_ACTION_POWEROFF:
		log_info("vCPU %u: guest powered off", vcpu->index);
		vm_request_shutdown(vm, EMBER_EXIT_OK, "guest-shutdown", true);
		return false;
	case EXIT_ACTION_FAIL:
		break;
	}
	log_err("vCPU %u: %s", vcpu->index, why);
	vcpu_dump_regs(vcpu, LOG_LVL_ERROR);
	vm_request_stop(vm, EMBER_EXIT_FAILURE);
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;

	atomic_store(&vcpu->tid, thread_id());
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/*
	 * After an exit ember served (an I/O read, say), the instruction is
	 * finished only by the next KVM_RUN, and KVM shows nothing of it
	 * meanwhile: a vCPU parks only after a KVM_RUN that returned -EINTR
	 * (a pause's immediate_exit finishes the instruction and returns at
	 * once), so a snapshot never finds one half done.
	 */
	bool exit_served = false;

	while (!atomic_load(&vcpu->stop)) {
		if (!exit_served && vm_vcpu_park(vcpu->vm, &vcpu->stop, vcpu->run))
			continue;
		exit_served = false;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vCPU %u: KVM_RUN: %s", vcpu->index, strerror(errno));
			vm_request_stop(vcpu->vm, EMBER_EXIT_FAILURE);
			break;
		}
		if (!handle_exit(vcpu))
			break;
		exit_served = true;
		/* A device may have ended the run (debug-exit): do not re-enter. */
		if (vm_stop_requested(vcpu->vm))
			break;
	}
	vm_vcpu_ended(vcpu->vm);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "ember-vcpu%u", vcpu->index);
	ret = thread_start(&vcpu->thread, vcpu_thread, vcpu, name, SANDBOX_VCPU);
	if (ret < 0)
		return ret;
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* Under the VM's lock, as vm_vcpu_park() clears immediate_exit under it. */
	pthread_mutex_lock(&vcpu->vm->lock);
	atomic_store(&vcpu->stop, true);
	/*
	 * If the signal lands just before the thread enters KVM_RUN, the
	 * handler runs in user space and KVM_RUN would block; immediate_exit
	 * makes that KVM_RUN return -EINTR at once.
	 */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vcpu->vm->lock);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

pid_t vcpu_thread_id(struct vcpu *vcpu)
{
	return atomic_load(&vcpu->tid);
}

/* Called with the VM's lock held (vm_pause()). */
void vcpu_interrupt(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	vcpu_kick(vcpu);
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}
