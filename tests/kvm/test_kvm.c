// SPDX-License-Identifier: MIT
/*
 * Tests against a real /dev/kvm: VMs, memory slots, vCPU threads, exits,
 * the irqchip, irqfd and ioeventfd. Without /dev/kvm they report a skip
 * (77), or fail under EMBER_NEST_REQUIRE=1; the guest test kvm-api.test runs
 * them in the nested harness.
 *
 * The guest programs are real-mode code assembled into this binary's data
 * (never executed on the host) and copied to guest address CODE.
 */
#include "config.h"

#include "core/bus.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "devices/debug_exit.h"
#include "tests/unit/unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define RAM (512 << 10)
#define CODE 0x1000
#define ROM_BASE 0xd0000
#define EXIT_PORT 0xf4
#define REC_PORT 0x10
#define NOTIFY_PORT 0x700

#define GUEST(name, body)                                                                          \
	extern const uint8_t name##_start[], name##_end[];                                         \
	__asm__(".pushsection .rodata\n.code16\n" #name "_start:\n" body "\n" #name "_end:\n"      \
		".code64\n.popsection\n")

/* Writes "abc" to REC_PORT with one rep outsb, stores 0x1234 at 0x2000, exits with 5. */
GUEST(g_io, "cld\n"
	    "mov $0x10, %dx\n"
	    "mov $(0x1000 + g_io_msg - g_io_start), %si\n"
	    "mov $3, %cx\n"
	    "rep outsb\n"
	    "movw $0x1234, (0x2000)\n"
	    "mov $0xf4, %dx\n"
	    "mov $5, %al\n"
	    "out %al, %dx\n"
	    "hlt\n"
	    "g_io_msg: .ascii \"abc\"\n");

/* Writes to read-only memory at ROM_BASE, reads it back to REC_PORT, exits with 6. */
GUEST(g_rom, "mov $0xd000, %ax\n"
	     "mov %ax, %es\n"
	     "movb $0x55, %es:(0)\n"
	     "mov %es:(1), %al\n"
	     "mov $0x10, %dx\n"
	     "out %al, %dx\n"
	     "mov $0xf4, %dx\n"
	     "mov $6, %al\n"
	     "out %al, %dx\n"
	     "hlt\n");

/* Writes 0x42 to NOTIFY_PORT (an ioeventfd), then exits with 7. */
GUEST(g_notify, "mov $0x700, %dx\n"
		"mov $0x42, %al\n"
		"out %al, %dx\n"
		"mov $0xf4, %dx\n"
		"mov $7, %al\n"
		"out %al, %dx\n"
		"hlt\n");

/* Spins until stopped. */
GUEST(g_spin, "1: jmp 1b\n");

/* Counts at COUNTER until stopped. */
#define COUNTER 0x2000
GUEST(g_count, "1: incl 0x2000\n"
	       "jmp 1b\n");

/* Counts too, with a write to HOLD_PORT (a device that may hold the vCPU) each time. */
#define HOLD_PORT 0x12
GUEST(g_count_out, "1: incl 0x2000\n"
		   "mov $0x12, %dx\n"
		   "out %al, %dx\n"
		   "jmp 1b\n");

/* Counts in %bx, storing it at COUNTER and writing it to HOLD_PORT each time. */
GUEST(g_count_io, "xor %bx, %bx\n"
		  "1: inc %bx\n"
		  "mov %bx, (0x2000)\n"
		  "mov %bl, %al\n"
		  "mov $0x12, %dx\n"
		  "out %al, %dx\n"
		  "jmp 1b\n");

/* Loads an empty IDT and raises an interrupt: a triple fault. */
GUEST(g_triple, "lidtl (0x1000 + g_triple_idt - g_triple_start)\n"
		"int $3\n"
		"hlt\n"
		"g_triple_idt: .word 0\n .long 0\n");

struct recorder {
	unsigned int n;
	uint8_t bytes[64];
	uint8_t last; /* the last byte written, kept or not */
	uint64_t last_off;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned int size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;
}

static void rec_write(void *opaque, uint64_t off, uint64_t val, unsigned int size)
{
	struct recorder *r = opaque;

	(void)size;
	if (r->n < sizeof(r->bytes))
		r->bytes[r->n++] = (uint8_t)val;
	r->last = (uint8_t)val;
	r->last_off = off;
}

static const struct bus_ops rec_ops = { .read = rec_read, .write = rec_write, .max_access = 1 };

static void request_exit(void *opaque, int code)
{
	vm_request_stop(opaque, code);
}

/* A VM with RAM, an irqchip, a debug-exit port and `nr_vcpus` vCPUs. */
struct fixture {
	struct vm *vm;
	struct debug_exit dex;
	struct recorder rec;
};

static void fixture_init(struct fixture *f, unsigned int nr_vcpus)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(vm_create(&f->vm, NULL), 0);
	ck_assert_int_eq(vm_setup_memory(f->vm, RAM), 0);
	ck_assert_int_eq(vm_create_irqchip(f->vm), 0);
	f->dex.request_exit = request_exit;
	f->dex.opaque = f->vm;
	ck_assert_int_eq(debug_exit_register(&f->dex, vm_pio(f->vm), EXIT_PORT, 4), 0);
	ck_assert_int_eq(bus_register(vm_pio(f->vm), REC_PORT, 1, &rec_ops, &f->rec, "rec"), 0);
	ck_assert_int_eq(vm_create_vcpus(f->vm, nr_vcpus), 0);
}

/* Puts the program at CODE and points vCPU 0 at it, in real mode with zero bases. */
static void load(struct fixture *f, const uint8_t *start, const uint8_t *end)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = CODE, .rflags = 0x2 };
	int fd = vcpu_fd(vm_vcpu(f->vm, 0));

	ck_assert_int_eq(gmem_write(vm_gmem(f->vm), CODE, start, (uint64_t)(end - start)), 0);
	ck_assert_int_eq(ioctl(fd, KVM_GET_SREGS, &s), 0);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds.base = s.es.base = s.ss.base = 0;
	s.ds.selector = s.es.selector = s.ss.selector = 0;
	ck_assert_int_eq(ioctl(fd, KVM_SET_SREGS, &s), 0);
	ck_assert_int_eq(ioctl(fd, KVM_SET_REGS, &r), 0);
}

static int run(struct fixture *f)
{
	int code;

	ck_assert_int_eq(vm_start(f->vm), 0);
	code = vm_wait(f->vm);
	vm_stop(f->vm);
	return code;
}

/* A skip (77) without /dev/kvm, or under EMBER_NEST_REQUIRE=1 a failure. */
static void require_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		unit_missing_all("test_kvm", "no usable /dev/kvm: %s", strerror(errno));
}

START_TEST(string_io_memory_and_debug_exit)
{
	struct fixture f;
	uint16_t v;

	fixture_init(&f, 1);
	load(&f, g_io_start, g_io_end);
	ck_assert_int_eq(run(&f), 11); /* (5 << 1) | 1 */
	ck_assert_uint_eq(f.rec.n, 3);
	ck_assert_mem_eq(f.rec.bytes, "abc", 3);
	ck_assert_int_eq(gmem_read(vm_gmem(f.vm), 0x2000, &v, 2), 0);
	ck_assert_uint_eq(v, 0x1234);
	vm_destroy(f.vm);
}
END_TEST

START_TEST(read_only_memory_exits_on_write)
{
	static uint8_t rom[4096];
	struct fixture f;
	struct recorder mmio = { 0 };

	fixture_init(&f, 1);
	memset(rom, 0x77, sizeof(rom));
	ck_assert_int_eq(vm_add_rom(f.vm, ROM_BASE, rom, sizeof(rom)), 0);
	/* KVM turns writes to a read-only slot into MMIO exits. */
	ck_assert_int_eq(bus_register(vm_mmio(f.vm), ROM_BASE, 4096, &rec_ops, &mmio, "romw"), 0);
	load(&f, g_rom_start, g_rom_end);
	ck_assert_int_eq(run(&f), 13);
	ck_assert_uint_eq(mmio.n, 1);
	ck_assert_uint_eq(mmio.bytes[0], 0x55);
	ck_assert_uint_eq(mmio.last_off, 0);
	ck_assert_uint_eq(f.rec.n, 1);
	ck_assert_uint_eq(f.rec.bytes[0], 0x77); /* read straight from the ROM */
	vm_destroy(f.vm);
}
END_TEST

START_TEST(ioeventfd_signals_without_exit)
{
	struct ioeventfd_spec spec = {
		.addr = NOTIFY_PORT, .len = 1, .pio = true, .match = true, .datamatch = 0x42
	};
	struct fixture f;
	struct recorder port = { 0 };
	uint64_t count = 0;
	int efd;

	fixture_init(&f, 1);
	ck_assert_int_eq(bus_register(vm_pio(f.vm), NOTIFY_PORT, 1, &rec_ops, &port, "n"), 0);
	ck_assert_int_eq(ioeventfd_assign(vm_fd(f.vm), &spec, &efd), 0);
	load(&f, g_notify_start, g_notify_end);
	ck_assert_int_eq(run(&f), 15);
	ck_assert_int_eq(read(efd, &count, sizeof(count)), sizeof(count));
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(port.n, 0); /* the write never reached user space */
	ck_assert_int_eq(ioeventfd_release(vm_fd(f.vm), &spec, efd), 0);
	vm_destroy(f.vm);
}
END_TEST

/* The master PIC's interrupt request register, read back from KVM. */
static unsigned int pic_irr(struct vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };

	ck_assert_int_eq(ioctl(vm_fd(vm), KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.pic.irr;
}

START_TEST(irq_lines_and_irqfd_reach_the_pic)
{
	struct fixture f;
	uint64_t one = 1;
	int efd, tries;

	fixture_init(&f, 1);
	ck_assert_uint_eq(pic_irr(f.vm) & (1u << 3), 0);
	ck_assert_int_eq(irq_line_pulse(irqchip_line(vm_irqchip(f.vm), 3)), 0);
	ck_assert_uint_ne(pic_irr(f.vm) & (1u << 3), 0);

	ck_assert_int_eq(irqchip_irqfd_assign(vm_irqchip(f.vm), 5, &efd), 0);
	ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
	/* irqfd injection runs in a kernel worker: give it a moment. */
	for (tries = 0; tries < 200 && !(pic_irr(f.vm) & (1u << 5)); tries++)
		usleep(5000);
	ck_assert_uint_ne(pic_irr(f.vm) & (1u << 5), 0);
	ck_assert_int_eq(irqchip_irqfd_release(vm_irqchip(f.vm), 5, efd), 0);
	vm_destroy(f.vm);
}
END_TEST

START_TEST(spinning_vcpus_are_stopped)
{
	struct fixture f;

	/* vCPU 0 spins; vCPU 1 waits for a startup IPI that never comes. */
	fixture_init(&f, 2);
	load(&f, g_spin_start, g_spin_end);
	ck_assert_int_eq(vm_start(f.vm), 0);
	usleep(100000);
	ck_assert(!vm_stop_requested(f.vm));
	vm_request_stop(f.vm, 42);
	vm_request_stop(f.vm, 43); /* the first request wins */
	ck_assert_int_eq(vm_wait(f.vm), 42);
	vm_stop(f.vm);
	vm_destroy(f.vm);
}
END_TEST

static uint32_t counter(struct fixture *f)
{
	uint32_t v;

	ck_assert_int_eq(gmem_read(vm_gmem(f->vm), COUNTER, &v, sizeof(v)), 0);
	return v;
}

static uint64_t kvm_clock(struct fixture *f)
{
	struct kvm_clock_data c = { 0 };

	ck_assert_int_eq(ioctl(vm_fd(f->vm), KVM_GET_CLOCK, &c), 0);
	return c.clock;
}

START_TEST(pause_and_resume)
{
	struct fixture f;
	uint32_t before, after;
	uint64_t c0, c1;

	/* vCPU 0 counts; vCPU 1 waits in KVM_RUN for a startup IPI: both must park. */
	fixture_init(&f, 2);
	load(&f, g_count_start, g_count_end);
	ck_assert_int_eq(vm_resume(f.vm), -EALREADY);
	ck_assert_int_eq(vm_start(f.vm), 0);
	usleep(50000);
	ck_assert_int_eq(vm_pause(f.vm, 5000), 0);
	ck_assert(vm_paused(f.vm));
	ck_assert_int_eq(vm_pause(f.vm, 5000), -EALREADY);
	before = counter(&f);
	ck_assert_uint_gt(before, 0);
	c0 = kvm_clock(&f);
	usleep(200000);
	ck_assert_uint_eq(counter(&f), before);
	/*
	 * The clock is set back where the pause found it: the 200 ms do not
	 * count. c0, read during the pause, is a little past that point.
	 */
	ck_assert_int_eq(vm_resume(f.vm), 0);
	c1 = kvm_clock(&f);
	ck_assert_msg((int64_t)(c1 - c0) > -50000000 && (int64_t)(c1 - c0) < 100000000,
		      "kvmclock moved %lld ns over a 200 ms pause", (long long)(c1 - c0));
	ck_assert(!vm_paused(f.vm));
	for (int tries = 0; tries < 200 && counter(&f) == before; tries++)
		usleep(5000);
	after = counter(&f);
	ck_assert_uint_gt(after, before);
	/* Paused again, then stopped while paused: the parked threads end. */
	ck_assert_int_eq(vm_pause(f.vm, 5000), 0);
	vm_request_stop(f.vm, 5);
	ck_assert_int_eq(vm_wait(f.vm), 5);
	vm_stop(f.vm);
	vm_destroy(f.vm);
}
END_TEST

/* A device whose handler holds the vCPU while `hold` is set. */
static _Atomic bool hold;
static _Atomic bool held;

/* Records what it is written (opaque: a recorder, or NULL); holds the vCPU while `hold` is set. */
static void hold_write(void *opaque, uint64_t off, uint64_t val, unsigned int size)
{
	if (opaque)
		rec_write(opaque, off, val, size);
	while (atomic_load(&hold)) {
		atomic_store(&held, true);
		usleep(1000);
	}
}

static const struct bus_ops hold_ops = { .read = rec_read, .write = hold_write, .max_access = 1 };

START_TEST(a_pause_that_times_out_is_called_off)
{
	struct fixture f;
	uint32_t before;

	fixture_init(&f, 1);
	ck_assert_int_eq(bus_register(vm_pio(f.vm), HOLD_PORT, 1, &hold_ops, NULL, "hold"), 0);
	load(&f, g_count_out_start, g_count_out_end);
	atomic_store(&hold, true);
	ck_assert_int_eq(vm_start(f.vm), 0);
	for (int tries = 0; tries < 500 && !atomic_load(&held); tries++)
		usleep(2000);
	ck_assert(atomic_load(&held));
	/* The vCPU is in a device's handler, not KVM_RUN: it cannot park in time. */
	ck_assert_int_eq(vm_pause(f.vm, 200), -ETIMEDOUT);
	ck_assert(!vm_paused(f.vm));
	ck_assert_int_eq(vm_resume(f.vm), -EALREADY);
	before = counter(&f);
	atomic_store(&hold, false);
	/* It runs on: the interrupt the pause left does not keep it out of the guest. */
	for (int tries = 0; tries < 400 && counter(&f) < before + 1000; tries++)
		usleep(5000);
	ck_assert_uint_ge(counter(&f), before + 1000);
	/* And a pause now works. */
	ck_assert_int_eq(vm_pause(f.vm, 5000), 0);
	ck_assert_int_eq(vm_resume(f.vm), 0);
	vm_request_stop(f.vm, 3);
	ck_assert_int_eq(vm_wait(f.vm), 3);
	vm_stop(f.vm);
	vm_destroy(f.vm);
}
END_TEST

static int paused = -1;

static void *pause_a(void *vm)
{
	paused = vm_pause(vm, 5000);
	return NULL;
}

/*
 * A vCPU and the irqchip saved from one paused VM and loaded into another
 * with a copy of its RAM: the second goes on counting from where the first
 * stopped, its registers as the first's were. The guest writes each count
 * to a port whose handler holds the vCPU: the pause is asked for while it
 * is held, so it comes just after ember served an OUT that KVM finishes
 * only at the next KVM_RUN. The vCPU must finish it before it parks, or
 * the second VM would write that count again.
 */
START_TEST(a_snapshot_moves_a_vcpu_to_another_vm)
{
	struct fixture a, b;
	struct vm_state vs;
	struct kvm_regs ra, rb;
	void *blob;
	size_t len;
	int64_t since;
	uint32_t at;
	uint8_t a_last;
	pthread_t pauser;

	fixture_init(&a, 1);
	ck_assert_int_eq(bus_register(vm_pio(a.vm), HOLD_PORT, 1, &hold_ops, &a.rec, "hold"), 0);
	load(&a, g_count_io_start, g_count_io_end);
	ck_assert_int_eq(vm_save_state(a.vm, &vs), -EAGAIN); /* not paused */
	atomic_store(&hold, false);
	atomic_store(&held, false);
	ck_assert_int_eq(vm_start(a.vm), 0);
	for (int tries = 0; tries < 400 && counter(&a) < 1000; tries++)
		usleep(5000);
	atomic_store(&hold, true);
	for (int tries = 0; tries < 500 && !atomic_load(&held); tries++)
		usleep(2000);
	ck_assert(atomic_load(&held));
	ck_assert_int_eq(pthread_create(&pauser, NULL, pause_a, a.vm), 0);
	usleep(100000); /* the pause is asked for */
	atomic_store(&hold, false);
	ck_assert_int_eq(pthread_join(pauser, NULL), 0);
	ck_assert_int_eq(paused, 0);
	ck_assert_int_eq(vm_save_state(a.vm, &vs), 0);
	ck_assert_int_eq(vcpu_save_state(vm_vcpu(a.vm, 0), &blob, &len), 0);
	ck_assert_int_eq(ioctl(vcpu_fd(vm_vcpu(a.vm, 0)), KVM_GET_REGS, &ra), 0);
	at = counter(&a);
	a_last = a.rec.last;
	ck_assert_uint_ge(at, 1000);
	/* The store and %bx agree: no count was half done. */
	ck_assert_uint_eq(ra.rbx & 0xffff, at & 0xffff);

	fixture_init(&b, 1);
	ck_assert_int_eq(bus_register(vm_pio(b.vm), HOLD_PORT, 1, &hold_ops, &b.rec, "hold"), 0);
	ck_assert_int_eq(gmem_write(vm_gmem(b.vm), 0, vm_gmem(a.vm)->r[0].host, RAM), 0);
	/* Malformed blobs are refused before KVM sees them. */
	ck_assert_int_eq(vcpu_restore_state(vm_vcpu(b.vm, 0), blob, len - 1, 0), -EINVAL);
	ck_assert_int_eq(vcpu_restore_state(vm_vcpu(b.vm, 0), blob, 16, 0), -EINVAL);
	ck_assert_int_eq(vm_restore_state(b.vm, &vs, &since), 0);
	ck_assert_int_ge(since, 0);
	ck_assert_int_eq(vcpu_restore_state(vm_vcpu(b.vm, 0), blob, len, 0), 0);
	ck_assert_int_eq(ioctl(vcpu_fd(vm_vcpu(b.vm, 0)), KVM_GET_REGS, &rb), 0);
	ck_assert_uint_eq(rb.rip, ra.rip);
	ck_assert_uint_eq(rb.rbx, ra.rbx);
	ck_assert_uint_eq(rb.rflags, ra.rflags);
	free(blob);
	vm_request_stop(a.vm, 0);
	vm_stop(a.vm);
	vm_destroy(a.vm);

	ck_assert_int_eq(vm_start(b.vm), 0);
	for (int tries = 0; tries < 400 && counter(&b) < at + 100; tries++)
		usleep(5000);
	ck_assert_uint_ge(counter(&b), at + 100);
	ck_assert_uint_gt(b.rec.n, 0);
	/*
	 * The first count B wrote out is the one after the last A wrote: none
	 * lost, none twice.
	 */
	ck_assert_uint_eq(b.rec.bytes[0], (uint8_t)(a_last + 1));
	vm_request_stop(b.vm, 0);
	vm_stop(b.vm);
	vm_destroy(b.vm);
}
END_TEST

START_TEST(triple_fault_ends_the_run)
{
	struct fixture f;

	fixture_init(&f, 1);
	load(&f, g_triple_start, g_triple_end);
	ck_assert_int_eq(run(&f), EMBER_EXIT_OK);
	vm_destroy(f.vm);
}
END_TEST

START_TEST(two_vms_at_once)
{
	struct fixture a, b;

	fixture_init(&a, 1);
	fixture_init(&b, 1);
	load(&a, g_io_start, g_io_end);
	load(&b, g_notify_start, g_notify_end);
	ck_assert_int_eq(run(&a), 11);
	ck_assert_int_eq(run(&b), 15);
	ck_assert_uint_eq(a.rec.n, 3);
	ck_assert_uint_eq(b.rec.n, 0);
	vm_destroy(a.vm);
	vm_destroy(b.vm);
}
END_TEST

START_TEST(bad_requests_are_refused)
{
	struct vm *vm;
	static uint8_t rom[16];

	ck_assert_int_eq(vm_create(&vm, NULL), 0);
	ck_assert_int_lt(vm_setup_memory(vm, 12345), 0);
	ck_assert_int_eq(vm_add_rom(vm, 0xd0001, rom, sizeof(rom)), -EINVAL);
	ck_assert_int_eq(vm_create_vcpus(vm, 0), -EINVAL);
	ck_assert_int_eq(vm_create_vcpus(vm, vm_max_vcpus(vm) + 1), -EINVAL);
	vm_destroy(vm);
	ck_assert_int_eq(vm_create(&vm, "/nonexistent/kvm"), -ENOENT);
}
END_TEST

static Suite *kvm_suite(void)
{
	Suite *s = suite_create("kvm");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, string_io_memory_and_debug_exit);
	tcase_add_test(tc, read_only_memory_exits_on_write);
	tcase_add_test(tc, ioeventfd_signals_without_exit);
	tcase_add_test(tc, irq_lines_and_irqfd_reach_the_pic);
	tcase_add_test(tc, spinning_vcpus_are_stopped);
	tcase_add_test(tc, pause_and_resume);
	tcase_add_test(tc, a_pause_that_times_out_is_called_off);
	tcase_add_test(tc, a_snapshot_moves_a_vcpu_to_another_vm);
	tcase_add_test(tc, triple_fault_ends_the_run);
	tcase_add_test(tc, two_vms_at_once);
	tcase_add_test(tc, bad_requests_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	require_kvm();
	return unit_run(kvm_suite());
}
