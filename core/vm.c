// SPDX-License-Identifier: MIT
#include "config.h"

#include "vm_internal.h"
#include "bus.h"
#include "evloop.h"
#include "irq.h"
#include "log.h"
#include "vcpu.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define KVM_API_EXPECTED 12

static int check_cap(int kvm_fd, long cap, const char *name)
{
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap) <= 0) {
		log_err("KVM lacks %s", name);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * KVM maps guest-physical addresses up to the host's MAXPHYADDR (CPUID
 * 0x80000008, EAX bits 7:0); 36 bits when the leaf is missing.
 */
static unsigned int host_phys_bits(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) && eax >= 0x80000008 &&
	    __get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx) && (eax & 0xff) >= 32)
		return eax & 0xff;
	return 36;
}

static int open_kvm(struct vm *vm, const char *kvm_path)
{
	int ret, n;

	vm->kvm_fd = open(kvm_path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		log_err("cannot open %s: %s", kvm_path, strerror(errno));
		return ret;
	}
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_EXPECTED) {
		log_err("%s speaks KVM API %d, ember needs %d", kvm_path, ret, KVM_API_EXPECTED);
		return -ENOTSUP;
	}
	if ((ret = check_cap(vm->kvm_fd, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY")) ||
	    (ret = check_cap(vm->kvm_fd, KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP")) ||
	    (ret = check_cap(vm->kvm_fd, KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT")) ||
	    (ret = check_cap(vm->kvm_fd, KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD")) ||
	    (ret = check_cap(vm->kvm_fd, KVM_CAP_IRQFD, "KVM_CAP_IRQFD")) ||
	    (ret = check_cap(vm->kvm_fd, KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR")))
		return ret;

	n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	vm->max_vcpus = n > 0 ? (unsigned int)n : 1;

	vm->phys_bits = host_phys_bits();

	n = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", n < 0 ? strerror(errno) : "too small");
		return n < 0 ? -errno : -EINVAL;
	}
	vm->run_size = (size_t)n;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		log_err("KVM_CREATE_VM: %s", strerror(errno));
		return ret;
	}
	/* Intel needs these three pages (and one more for the identity map) in the hole. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ VM_IDENTITY_MAP_ADDR }) < 0) {
		ret = -errno;
		log_err("placing KVM's TSS and identity map: %s", strerror(errno));
		return ret;
	}
	return 0;
}

/* vm_pause() waits against the monotonic clock. */
static void park_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

int vm_create(struct vm **out, const char *kvm_path)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	int ret;

	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	park_cond_init(&vm->park);

	ret = vcpu_signal_setup();
	if (ret < 0)
		log_err("installing the vCPU kick signal handler: %s", strerror(-ret));
	else
		ret = open_kvm(vm, kvm_path ? kvm_path : "/dev/kvm");
	if (ret == 0 &&
	    ((ret = bus_create(&vm->pio, "pio", 0x10000)) ||
	     (ret = bus_create(&vm->mmio, "mmio", 0)) || (ret = evloop_create(&vm->loop))))
		log_err("creating the VM's buses and event loop: %s", strerror(-ret));
	if (ret < 0) {
		vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

static int add_slot(struct vm *vm, uint64_t gpa, uint64_t size, void *host, uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = vm->nr_slots,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	vm->nr_slots++;
	return 0;
}

int vm_setup_memory(struct vm *vm, uint64_t ram_size)
{
	int ret = gmem_alloc(&vm->mem, ram_size);

	if (ret < 0) {
		log_err("cannot map %llu MiB of guest RAM: %s",
			(unsigned long long)(ram_size >> 20), strerror(-ret));
		return ret;
	}
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct gmem_region *r = &vm->mem.r[i];

		ret = add_slot(vm, r->gpa, r->size, r->host, 0);
		if (ret < 0) {
			log_err("KVM_SET_USER_MEMORY_REGION for RAM at 0x%llx: %s",
				(unsigned long long)r->gpa, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vm_add_rom(struct vm *vm, uint64_t gpa, const void *data, size_t size)
{
	size_t map = (size + GMEM_PAGE_SIZE - 1) & ~(GMEM_PAGE_SIZE - 1);
	uint8_t *p;
	int ret;

	if (size == 0 || gpa % GMEM_PAGE_SIZE || vm->rom)
		return -EINVAL;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return -ENOTSUP; /* KVM cannot map read-only memory */
	p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Short images sit at the end of the window, where the reset vector is. */
	memcpy(p + (map - size), data, size);
	mprotect(p, map, PROT_READ);
	ret = add_slot(vm, gpa, map, p, KVM_MEM_READONLY);
	if (ret < 0) {
		munmap(p, map);
		return ret;
	}
	vm->rom = p;
	vm->rom_size = map;
	return 0;
}

int vm_create_irqchip(struct vm *vm)
{
	return irqchip_create_kvm(&vm->irq, vm->vm_fd);
}

int vm_create_vcpus(struct vm *vm, unsigned int n)
{
	if (n == 0 || n > vm->max_vcpus || vm->vcpus)
		return -EINVAL;
	vm->vcpus = calloc(n, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		int ret = vcpu_create(&vm->vcpus[i], vm, i);

		if (ret < 0) {
			log_err("KVM_CREATE_VCPU %u: %s", i, strerror(-ret));
			return ret;
		}
		vm->nr_vcpus++;
	}
	return 0;
}

int vm_supported_cpuid(struct vm *vm, struct kvm_cpuid_entry2 **out, unsigned int spare)
{
	/* KVM says E2BIG until the array is large enough. */
	for (unsigned int nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		struct kvm_cpuid_entry2 *e;
		int n;

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
			int err = errno;

			free(c);
			if (err == E2BIG)
				continue;
			return -err;
		}
		n = (int)c->nent;
		e = calloc((size_t)n + spare, sizeof(*e));
		if (!e) {
			free(c);
			return -ENOMEM;
		}
		memcpy(e, c->entries, (size_t)n * sizeof(*e));
		free(c);
		*out = e;
		return n;
	}
	return -E2BIG;
}

int vm_start(struct vm *vm)
{
	int ret = evloop_start(vm->loop);

	if (ret < 0)
		return ret;
	vm->started = true;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		pthread_mutex_lock(&vm->lock);
		vm->live++;
		pthread_mutex_unlock(&vm->lock);
		ret = vcpu_start(vm->vcpus[i]);
		if (ret < 0) {
			vm_vcpu_ended(vm);
			return ret;
		}
	}
	return 0;
}

void vm_request_shutdown(struct vm *vm, int code, const char *reason, bool guest)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->stop_requested) {
		vm->stop_requested = true;
		vm->exit_code = code;
		vm->stop_reason = reason;
		vm->stop_by_guest = guest;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

void vm_request_stop(struct vm *vm, int code)
{
	vm_request_shutdown(vm, code, NULL, false);
}

const char *vm_stop_reason(struct vm *vm, bool *guest)
{
	const char *r;

	pthread_mutex_lock(&vm->lock);
	r = vm->stop_reason;
	*guest = vm->stop_by_guest;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

bool vm_stop_requested(struct vm *vm)
{
	return atomic_load(&vm->stop_requested);
}

int vm_wait(struct vm *vm)
{
	int code;

	pthread_mutex_lock(&vm->lock);
	while (!vm->stop_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	code = vm->exit_code;
	pthread_mutex_unlock(&vm->lock);
	return code;
}

bool vm_vcpu_park(struct vm *vm, _Atomic bool *stop, struct kvm_run *run)
{
	bool parked = false;

	/* Nothing asked, and no immediate_exit left by a pause that was called off. */
	if (!atomic_load(&vm->pause) && !__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST))
		return false;
	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->pause)) {
		parked = true;
		vm->parked++;
		pthread_cond_broadcast(&vm->park);
		while (atomic_load(&vm->pause) && !atomic_load(stop))
			pthread_cond_wait(&vm->park, &vm->lock);
		vm->parked--;
	}
	/*
	 * Pauses and stops set immediate_exit under this lock: clearing it
	 * here loses none of theirs. A stopping thread keeps it.
	 */
	if (!atomic_load(stop))
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	return parked;
}

void vm_vcpu_ended(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->live--;
	pthread_cond_broadcast(&vm->park);
	pthread_mutex_unlock(&vm->lock);
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int vm_pause(struct vm *vm, unsigned int timeout_ms)
{
	struct timespec deadline;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->lock);
		return -EALREADY;
	}
	atomic_store(&vm->pause, true);
	for (unsigned int i = 0; vm->started && i < vm->nr_vcpus; i++)
		vcpu_interrupt(vm->vcpus[i]);
	while (vm->parked < vm->live && ret == 0)
		ret = -pthread_cond_timedwait(&vm->park, &vm->lock, &deadline);
	if (vm->parked < vm->live) {
		/* Called off: those that parked run on, and the caller may try again. */
		atomic_store(&vm->pause, false);
		pthread_cond_broadcast(&vm->park);
		pthread_mutex_unlock(&vm->lock);
		return -ETIMEDOUT;
	}
	vm->paused = true;
	pthread_mutex_unlock(&vm->lock);
	/* Every vCPU is out of KVM_RUN: the clock stands still until vm_resume(). */
	vm->have_clock = ioctl(vm->vm_fd, KVM_GET_CLOCK, &vm->clock) == 0;
	vm->paused_at_ns = realtime_ns();
	if (!vm->have_clock)
		log_warn("KVM_GET_CLOCK: %s; the guest's clock runs on while paused",
			 strerror(errno));
	return 0;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->paused) {
		pthread_mutex_unlock(&vm->lock);
		return -EALREADY;
	}
	if (vm->have_clock) {
		struct kvm_clock_data c = { .clock = vm->clock.clock };

		if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0)
			log_warn("KVM_SET_CLOCK: %s; the guest's clock jumps by the pause",
				 strerror(errno));
	}
	vm->paused = false;
	atomic_store(&vm->pause, false);
	pthread_cond_broadcast(&vm->park);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm_save_state(struct vm *vm, struct vm_state *out)
{
	memset(out, 0, sizeof(*out));
	if (!vm_paused(vm) || !vm->have_clock)
		return -EAGAIN;
	for (unsigned int i = 0; i < 3; i++) {
		out->chip[i].chip_id = i; /* master PIC, slave PIC, IOAPIC */
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &out->chip[i]) < 0) {
			int ret = -errno;

			log_err("KVM_GET_IRQCHIP %u: %s", i, strerror(errno));
			return ret;
		}
	}
	out->clock_ns = vm->clock.clock;
	out->paused_at_ns = vm->paused_at_ns;
	out->saved_at_ns = realtime_ns();
	return 0;
}

int vm_restore_state(struct vm *vm, const struct vm_state *st, int64_t *since_save_ns)
{
	struct kvm_clock_data c;
	int64_t now = realtime_ns(), since_pause;

	for (unsigned int i = 0; i < 3; i++) {
		/* KVM copies the union's member for chip_id; nothing else is read. */
		if (st->chip[i].chip_id != i)
			return -EINVAL;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &st->chip[i]) < 0) {
			int ret = -errno;

			log_err("KVM_SET_IRQCHIP %u: %s", i, strerror(errno));
			return ret;
		}
	}
	/*
	 * kvmclock stood still from the pause; the wall clock went on, and the
	 * guest's clock catches up with it. A host clock that went back adds
	 * nothing.
	 */
	since_pause = now > st->paused_at_ns ? now - st->paused_at_ns : 0;
	*since_save_ns = now > st->saved_at_ns ? now - st->saved_at_ns : 0;
	memset(&c, 0, sizeof(c));
	c.clock = st->clock_ns + (uint64_t)since_pause;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0) {
		int ret = -errno;

		log_err("KVM_SET_CLOCK: %s", strerror(errno));
		return ret;
	}
	return 0;
}

bool vm_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->lock);
	p = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

void vm_stop(struct vm *vm)
{
	if (!vm->started)
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	/* Parked vCPUs wake to see their stop. */
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->park);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(vm->vcpus[i]);
	evloop_stop(vm->loop);
	vm->started = false;
}

struct bus *vm_pio(struct vm *vm)
{
	return vm->pio;
}

struct bus *vm_mmio(struct vm *vm)
{
	return vm->mmio;
}

struct irqchip *vm_irqchip(struct vm *vm)
{
	return vm->irq;
}

struct evloop *vm_evloop(struct vm *vm)
{
	return vm->loop;
}

const struct gmem *vm_gmem(const struct vm *vm)
{
	return &vm->mem;
}

struct vcpu *vm_vcpu(struct vm *vm, unsigned int index)
{
	return index < vm->nr_vcpus ? vm->vcpus[index] : NULL;
}

int vm_fd(const struct vm *vm)
{
	return vm->vm_fd;
}

unsigned int vm_max_vcpus(const struct vm *vm)
{
	return vm->max_vcpus;
}

int vm_check_extension(const struct vm *vm, long cap)
{
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
}

uint64_t vm_gpa_limit(const struct vm *vm)
{
	return 1ULL << vm->phys_bits;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	evloop_destroy(vm->loop);
	irqchip_destroy(vm->irq);
	bus_destroy(vm->mmio);
	bus_destroy(vm->pio);
	/* Closing the VM releases the memory slots before their mappings go. */
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->rom)
		munmap(vm->rom, vm->rom_size);
	gmem_free(&vm->mem);
	pthread_cond_destroy(&vm->park);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
