// SPDX-License-Identifier: MIT
#include "config.h"

#include "machine.h"
#include "chardev.h"
#include "cli.h"
#include "console.h"
#include "jail.h"
#include "monitor.h"
#include "vslot.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/evloop.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/snap.h"
#include "core/thread.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "block/disk.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"
#include "firmware/acpi.h"
#include "firmware/bios.h"
#include "firmware/cpuid.h"
#include "firmware/kernel.h"
#include "firmware/layout.h"
#include "firmware/mptable.h"
#include "net/tap.h"
#include "net/user.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vhost.h"
#include "virtio/vhostnet.h"
#include "virtio/vsock.h"
#include "vserial.h"
#ifdef EMBER_TEST_HOOKS
#include "testhooks.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Room for the entries ember adds to KVM's CPUID (the hypervisor timing leaf). */
#define CPUID_SPARE 4

_Static_assert(CLI_MAX_VIRTIO <= VIRTIO_MMIO_SLOTS, "a line and a window for every device");

/*
 * Virtio slot i's window and interrupt line (edge-triggered, through an
 * irqfd). Slots go to disks, then NICs, then entropy devices, then the
 * virtio-serial device, each kind in command-line order.
 */
static uint64_t slot_base(unsigned int i)
{
	return VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_STRIDE;
}

static unsigned int slot_gsi(unsigned int i)
{
	return layout_virtio_gsi[i];
}

struct machine;

/* A virtio disk: image, device, and the slot that ties them to the machine. */
struct machine_blk {
	struct machine *m;
	char name[32];
	struct disk *disk;
	struct blk *blk;
	struct vslot slot;
};

/*
 * A queue the kernel serves (vhost): ember watches its call eventfd (used
 * buffers: the interrupt) and its err eventfd (a broken ring: NEEDS_RESET).
 */
struct machine_vhost_queue {
	struct vhost_dev *vd;
	unsigned int index;
	int call, err;
};

/* A virtio NIC: its tap, device and transport, and their fds in the event loop. */
struct machine_net {
	struct machine *m;
	char name[32];
	struct tap tap;
	struct net *net;
	struct vslot slot;
	/*
	 * The events the device wants on the tap, set from any thread (a vCPU's
	 * when the driver starts or resets the device); the loop thread applies
	 * them, woken through watch_fd when another thread set them.
	 */
	_Atomic uint32_t want;
	int watch_fd;
	/* The loop thread's alone while it runs, like the handler list. */
	bool tap_watched;
	bool watch_failed; /* said so once */
	/* With vhost=on, the device whose frames the kernel moves instead of net. */
	struct vhostnet *vnet;
	/* -nic user: ember-net, whose socket stands in tap.fd. 0: none. */
	pid_t user_pid;
	struct machine_vhost_queue q[2];
};

/* A virtio-rng device, and the timerfd that ends its rate limit's waits. */
struct machine_rng {
	char name[32];
	struct rng *rng;
	int timer;
	struct vslot slot;
};

/* The vhost-vsock device, its slot, and its rx and tx in the kernel. */
struct machine_vsock {
	struct vsock *vs;
	struct vslot slot;
	struct machine_vhost_queue q[2];
};

struct machine {
	const struct ember_config *cfg;
	struct vm *vm;
	int sigfd;
	int shutdown_timer; /* timerfd: how long SIGTERM's power button is given */
	bool powering_down; /* SIGTERM pressed the power button */
	struct chardev *debugcon_out;
	struct debugcon debugcon;
	struct debug_exit debug_exit[CLI_MAX_DEBUG_EXIT];
	struct bios_image bios;
	struct kernel_image kernel;
	bool have_kernel;
	struct kvm_cpuid_entry2 *cpuid;
	unsigned int nr_cpuid;
	struct chardev *serial_out;
	struct uart8250 uart;
	bool have_uart;
	struct console *console;
	struct rtc rtc;
	bool have_rtc;
	struct i8042 i8042;
	bool have_i8042;
	struct pit pit;
	bool have_pit;
	int pit_timer; /* timerfd driving channel 0 */
	struct acpi_pm pm;
	bool have_pm;
	unsigned int nr_blk;
	struct machine_blk blk[CLI_MAX_DRIVES];
	unsigned int nr_net;
	struct machine_net net[CLI_MAX_VIRTIO];
	unsigned int nr_rng;
	struct machine_rng rng[CLI_MAX_VIRTIO];
	struct vserial *vserial;
	struct vslot vserial_slot;
	struct machine_vsock vsock;
	/* Every attached slot, in slot order: what the ACPI tables describe. */
	unsigned int nr_slots;
	struct vslot *slots[CLI_MAX_VIRTIO];
	struct vslot_env slot_env;	 /* what the slots take of the VM */
	char hints[CLI_MAX_VIRTIO * 64]; /* virtio_mmio.device= for -no-acpi */
	/* A disk's last writes could not be written back at exit: exit 1. */
	bool lost_writes;
	/* Set by a step that failed because of the user's input: exit 2. */
	bool usage_error;
	struct jail jail;
	struct monitor *mon; /* the QMP monitor, if asked for */
	/* The last migrate (snapshot), for query-migrate. */
	struct {
		bool done, failed, since; /* since: paused with it written, until cont */
		uint64_t ms;
		struct snap_stats st;
		char err[256];
	} snap;
	char err[512];
};

__attribute__((format(printf, 2, 3))) static void set_err(struct machine *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
}

/* The kernel, initrd or firmware are read, checked and placed before anything is opened. */
static int inputs_init(struct machine *m)
{
	const struct ember_config *cfg = m->cfg;
	int ret;

	/* A restore takes guest RAM from its snapshot: the kernel is not read. */
	if (cfg->kernel && cfg->incoming)
		return 0;
	if (cfg->kernel) {
		struct kernel_args args = {
			.kernel = cfg->kernel,
			.initrd = cfg->initrd,
			.append = cfg->append,
			.serial_console = cfg->serial.kind != CHARDEV_NONE,
			.extra = m->hints,
			.ram_size = cfg->ram_size,
		};
		size_t used = 0;

		/*
		 * Without ACPI the kernel learns of virtio devices from its command
		 * line, if it was built to (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
		 */
		bool hints = cfg->no_acpi || kernel_cmdline_has(cfg->append, "acpi=off");

		for (unsigned int i = 0; hints && i < cli_nr_virtio(cfg); i++)
			used = vslot_cmdline_hint(m->hints, sizeof(m->hints), used, slot_base(i),
						  slot_gsi(i));

		ret = kernel_prepare(&m->kernel, &args, m->err, sizeof(m->err));
		m->have_kernel = ret == 0;
	} else {
		ret = bios_load(&m->bios, cfg->bios, m->err, sizeof(m->err));
	}
	m->usage_error = ret < 0;
	return ret;
}

static void inputs_fini(struct machine *m)
{
	bios_free(&m->bios);
	if (m->have_kernel)
		kernel_free(&m->kernel);
	m->have_kernel = false;
}

static int kvm_init(struct machine *m)
{
	int ret = vm_create(&m->vm, NULL); /* reports its own failures */

	if (ret < 0)
		return ret;
	if (m->cfg->nr_vcpus > vm_max_vcpus(m->vm)) {
		set_err(m, "-smp %u: this host's KVM allows at most %u vCPUs", m->cfg->nr_vcpus,
			vm_max_vcpus(m->vm));
		m->usage_error = true;
		return -EINVAL;
	}
	return 0;
}

static void kvm_fini(struct machine *m)
{
	vm_destroy(m->vm);
	m->vm = NULL;
}

static int memory_init(struct machine *m)
{
	struct gmem_region layout[2];
	int n = gmem_layout(m->cfg->ram_size, layout), ret;
	uint64_t end = layout[n - 1].gpa + layout[n - 1].size;

	/* RAM above 3 GiB moves up by 1 GiB: its end must still be addressable. */
	if (end > vm_gpa_limit(m->vm)) {
		set_err(m,
			"-m %lluM: RAM would end at 0x%llx, beyond the 0x%llx bytes of "
			"guest-physical address space this host's KVM can map",
			(unsigned long long)(m->cfg->ram_size >> 20), (unsigned long long)end,
			(unsigned long long)vm_gpa_limit(m->vm));
		m->usage_error = true;
		return -ERANGE;
	}
	ret = vm_setup_memory(m->vm, m->cfg->ram_size); /* reports its own failures */
	/* More RAM than this host can map is the user's to fix. */
	m->usage_error = ret == -ENOMEM;
	return ret;
}

static int irqchip_init(struct machine *m)
{
	int ret = vm_create_irqchip(m->vm);

	if (ret < 0)
		set_err(m, "KVM_CREATE_IRQCHIP: %s", strerror(-ret));
	return ret;
}

static int cpuid_init(struct machine *m)
{
	int n = vm_supported_cpuid(m->vm, &m->cpuid, CPUID_SPARE);
	struct kvm_cpuid_entry2 *leaf1;

	if (n < 0) {
		set_err(m, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-n));
		return n;
	}
	m->nr_cpuid = (unsigned int)n;
	/*
	 * KVM lists the TSC-deadline timer as emulated, not supported; its
	 * in-kernel LAPIC has it, and it saves the guest a timer calibration.
	 */
	leaf1 = cpuid_find(m->cpuid, m->nr_cpuid, 1, 0);
	if (leaf1 && vm_check_extension(m->vm, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		leaf1->ecx |= CPUID_1_ECX_TSC_DEADLINE;
	return 0;
}

static void cpuid_fini(struct machine *m)
{
	free(m->cpuid);
	m->cpuid = NULL;
}

/* An event for the QMP client, on the event loop thread. */
static void qmp_emit(struct machine *m, const char *name, const char *data)
{
	if (m->mon)
		monitor_event(m->mon, name, data);
}

static void shutdown_timed_out(void *opaque, uint32_t events)
{
	struct machine *m = opaque;

	(void)events;
	log_warn("the guest did not power off within %u s of SIGTERM; stopping it",
		 m->cfg->shutdown_timeout);
	vm_request_shutdown(m->vm, EMBER_EXIT_SIGNAL_BASE + SIGTERM, "host-signal", false);
}

/*
 * SIGTERM presses the ACPI power button, as QEMU's system_powerdown does,
 * and gives the guest cfg->shutdown_timeout seconds to power off. Returns
 * false when that cannot work (no ACPI, a zero timeout, or a guest that has
 * not enabled the button's event): the caller stops the guest at once.
 */
static bool press_power_button(struct machine *m)
{
	struct itimerspec its = { .it_value.tv_sec = (time_t)m->cfg->shutdown_timeout };
	int err;

	if (!m->cfg->shutdown_timeout || !__atomic_load_n(&m->have_pm, __ATOMIC_ACQUIRE))
		return false;
	if (!acpi_pm_power_button(&m->pm)) {
		log_info("SIGTERM: the guest does not handle the ACPI power button");
		return false;
	}
	m->shutdown_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (m->shutdown_timer < 0 || timerfd_settime(m->shutdown_timer, 0, &its, NULL) < 0)
		err = errno;
	else
		err = -evloop_add(vm_evloop(m->vm), m->shutdown_timer, EPOLLIN, shutdown_timed_out,
				  m);
	if (err) {
		log_warn("SIGTERM: cannot time the guest's shutdown (%s)", strerror(err));
		if (m->shutdown_timer >= 0)
			close(m->shutdown_timer);
		m->shutdown_timer = -1;
		return false;
	}
	log_info("SIGTERM: pressed the ACPI power button; the guest has %u s to power off",
		 m->cfg->shutdown_timeout);
	qmp_emit(m, "POWERDOWN", NULL);
	return true;
}

static void on_signal(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(m->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	/* A second SIGTERM, or SIGINT, stops at once. */
	if (si.ssi_signo == SIGTERM && !m->powering_down) {
		m->powering_down = true;
		if (press_power_button(m))
			return;
	}
	log_info("received signal %u (%s); stopping", si.ssi_signo, strsignal((int)si.ssi_signo));
	vm_request_shutdown(m->vm, EMBER_EXIT_SIGNAL_BASE + (int)si.ssi_signo, "host-signal",
			    false);
}

static int signals_init(struct machine *m)
{
	sigset_t set;
	int ret;

	/* main() blocked these in every thread; they arrive here instead. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->sigfd < 0) {
		ret = -errno;
		set_err(m, "signalfd: %s", strerror(errno));
		return ret;
	}
	ret = evloop_add(vm_evloop(m->vm), m->sigfd, EPOLLIN, on_signal, m);
	if (ret < 0) {
		set_err(m, "watching signals: %s", strerror(-ret));
		close(m->sigfd);
		m->sigfd = -1;
	}
	return ret;
}

static void signals_fini(struct machine *m)
{
	if (m->shutdown_timer >= 0) {
		evloop_del(vm_evloop(m->vm), m->shutdown_timer);
		close(m->shutdown_timer);
		m->shutdown_timer = -1;
	}
	if (m->sigfd < 0)
		return;
	evloop_del(vm_evloop(m->vm), m->sigfd);
	close(m->sigfd);
	m->sigfd = -1;
}

static void debugcon_out(void *opaque, const uint8_t *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

static void debug_exit_request(void *opaque, int code)
{
	vm_request_stop(opaque, code);
}

static void serial_tx(void *opaque, const uint8_t *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

static void serial_rx_space(void *opaque)
{
	struct machine *m = opaque;

	if (m->console)
		console_kick(m->console);
}

static size_t console_feed(void *opaque, const uint8_t *buf, size_t len)
{
	return uart8250_rx_push(&((struct machine *)opaque)->uart, buf, len);
}

static void console_idle(void *opaque)
{
	uart8250_rx_idle(&((struct machine *)opaque)->uart);
}

static void console_quit(void *opaque)
{
	struct machine *m = opaque;

	log_info("C-a x: stopping the guest");
	vm_request_shutdown(m->vm, EMBER_EXIT_OK, "host-ui", false);
}

/* COM1 at 0x3f8, IRQ 4: output to the chardev, input from stdin when it is stdio. */
static int serial_init(struct machine *m)
{
	const struct ember_config *cfg = m->cfg;
	struct uart8250_host host = {
		.irq_set = irq_line_set,
		.irq_opaque = irqchip_line(vm_irqchip(m->vm), UART8250_COM1_IRQ),
		.tx = serial_tx,
		.rx_space = serial_rx_space,
		.rx_opaque = m,
	};
	struct console_ops ops = {
		.feed = console_feed,
		.idle = console_idle,
		.quit = console_quit,
		.opaque = m,
	};
	int ret;

	if (cfg->serial.kind == CHARDEV_NONE)
		return 0;
	ret = chardev_open(&m->serial_out, &cfg->serial);
	if (ret < 0) {
		set_err(m, "-serial: cannot open %s (%s)",
			cfg->serial.path ? cfg->serial.path : "standard output", strerror(-ret));
		m->usage_error = true;
		return ret;
	}
	host.tx_opaque = m->serial_out;
	uart8250_init(&m->uart, &host);
	m->have_uart = true;
	ret = uart8250_register(&m->uart, vm_pio(m->vm), UART8250_COM1_BASE);
	if (ret < 0) {
		set_err(m, "COM1 at 0x%x: %s", UART8250_COM1_BASE,
			ret == -EBUSY ? "overlaps another device" : strerror(-ret));
		m->usage_error = ret == -EBUSY;
		return ret;
	}
	if (cfg->serial.kind == CHARDEV_STDIO) {
		ret = console_open(&m->console, vm_evloop(m->vm), STDIN_FILENO, &ops);
		if (ret < 0) {
			set_err(m, "reading standard input for the serial console: %s",
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void serial_fini(struct machine *m)
{
	/* The terminal goes back to how it was before anything else is said. */
	console_close(m->console);
	m->console = NULL;
	if (m->serial_out && chardev_dropped(m->serial_out))
		log_warn("serial console: %llu bytes dropped because the output was full",
			 (unsigned long long)chardev_dropped(m->serial_out));
	chardev_close(m->serial_out);
	m->serial_out = NULL;
	if (m->have_uart)
		uart8250_destroy(&m->uart);
	m->have_uart = false;
}

static int64_t wall_clock_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void keyboard_reset(void *opaque)
{
	log_info("the guest pulsed the reset line (i8042); ending");
	vm_request_shutdown(opaque, EMBER_EXIT_OK, "guest-reset", true);
}

static uint64_t monotonic_ns(void *opaque)
{
	(void)opaque;
	return clock_now_ns();
}

/* Arms a CLOCK_MONOTONIC timerfd for an absolute time; UINT64_MAX disarms it. */
static int arm_at(int fd, uint64_t deadline_ns)
{
	struct itimerspec its = { 0 };

	if (deadline_ns != UINT64_MAX) {
		/* A zero it_value would disarm: a deadline at 0 has passed anyway. */
		if (deadline_ns == 0)
			deadline_ns = 1;
		its.it_value.tv_sec = (time_t)(deadline_ns / NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(deadline_ns % NSEC_PER_SEC);
	}
	return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

/* The PIT asks for a call at an absolute CLOCK_MONOTONIC time; UINT64_MAX cancels. */
static void pit_arm(void *opaque, uint64_t deadline_ns)
{
	struct machine *m = opaque;
	int ret = arm_at(m->pit_timer, deadline_ns);

	if (ret < 0)
		log_warn("PIT: arming its timer: %s", strerror(-ret));
}

/* Takes a timerfd's expirations off it, so that the loop does not call again at once. */
static void timer_drain(int fd, const char *what)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("%s: reading its timer: %s", what, strerror(errno));
}

static void pit_expired(void *opaque, uint32_t events)
{
	struct machine *m = opaque;

	(void)events;
	timer_drain(m->pit_timer, "PIT");
	pit_timer_fire(&m->pit);
}

/* The i8254 (0x40-0x43, and 0x61), its channel 0 on IRQ 0 paced by a timerfd. */
static int pit_init_device(struct machine *m)
{
	struct pit_host host = {
		.now_ns = monotonic_ns,
		.irq_set = irq_line_set,
		.irq_opaque = irqchip_line(vm_irqchip(m->vm), PIT_IRQ),
		.arm_timer = pit_arm,
		.timer_opaque = m,
	};
	int ret;

	m->pit_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (m->pit_timer < 0)
		return -errno;
	ret = evloop_add(vm_evloop(m->vm), m->pit_timer, EPOLLIN, pit_expired, m);
	if (ret < 0) {
		close(m->pit_timer);
		m->pit_timer = -1;
		return ret;
	}
	pit_init(&m->pit, &host);
	m->have_pit = true;
	return pit_register(&m->pit, vm_pio(m->vm));
}

static void pit_fini_device(struct machine *m)
{
	if (m->pit_timer >= 0) {
		evloop_del(vm_evloop(m->vm), m->pit_timer);
		close(m->pit_timer);
		m->pit_timer = -1;
	}
	if (m->have_pit)
		pit_destroy(&m->pit);
	m->have_pit = false;
}

/*
 * The PC's timer (PIT), CMOS clock (0x70-0x71) and keyboard controller (0x60,
 * 0x64: the reset line, IRQ 1).
 */
static int legacy_init(struct machine *m)
{
	struct rtc_host rtc_host = { .now_ns = wall_clock_ns };
	struct i8042_host kbd_host = {
		.irq_set = irq_line_set,
		.irq_opaque = irqchip_line(vm_irqchip(m->vm), 1),
		.reset = keyboard_reset,
		.reset_opaque = m->vm,
	};
	int ret = pit_init_device(m);

	if (ret < 0)
		return ret;
	ret = rtc_init(&m->rtc, &rtc_host);
	if (ret < 0)
		return ret;
	m->have_rtc = true;
	ret = rtc_register(&m->rtc, vm_pio(m->vm));
	if (ret < 0)
		return ret;
	i8042_init(&m->i8042, &kbd_host);
	m->have_i8042 = true;
	return i8042_register(&m->i8042, vm_pio(m->vm));
}

static void legacy_fini(struct machine *m)
{
	pit_fini_device(m);
	if (m->have_rtc)
		rtc_destroy(&m->rtc);
	if (m->have_i8042)
		i8042_destroy(&m->i8042);
	m->have_rtc = m->have_i8042 = false;
}

/* --- virtio slots ---------------------------------------------------------------- */

static int slot_irqfd_assign(void *ctx, unsigned int gsi, int *fd)
{
	return irqchip_irqfd_assign(vm_irqchip(((struct machine *)ctx)->vm), gsi, fd);
}

static void slot_irqfd_release(void *ctx, unsigned int gsi, int fd)
{
	irqchip_irqfd_release(vm_irqchip(((struct machine *)ctx)->vm), gsi, fd);
}

static int slot_ioeventfd_assign(void *ctx, const struct ioeventfd_spec *spec, int *fd)
{
	return ioeventfd_assign(vm_fd(((struct machine *)ctx)->vm), spec, fd);
}

static void slot_ioeventfd_release(void *ctx, const struct ioeventfd_spec *spec, int fd)
{
	ioeventfd_release(vm_fd(((struct machine *)ctx)->vm), spec, fd);
}

/* What every slot takes of the VM: its RAM, MMIO bus and event loop, and KVM's fds. */
static const struct vslot_env *slots_env(struct machine *m)
{
	m->slot_env = (struct vslot_env){
		.mem = vm_gmem(m->vm),
		.mmio = vm_mmio(m->vm),
		.loop = vm_evloop(m->vm),
		.irqfd_assign = slot_irqfd_assign,
		.irqfd_release = slot_irqfd_release,
		.ioeventfd_assign = slot_ioeventfd_assign,
		.ioeventfd_release = slot_ioeventfd_release,
		.ctx = m,
	};
	return &m->slot_env;
}

/* Attaches `d` in the next slot, which the ACPI tables then describe. */
static int slot_attach(struct machine *m, struct vslot *s, const struct vslot_device *d)
{
	unsigned int i = m->nr_slots;
	int ret;

	if (i == CLI_MAX_VIRTIO)
		return -ENOSPC;
	ret = vslot_attach(s, slots_env(m), d, slot_base(i), slot_gsi(i));
	if (ret < 0) {
		set_err(m, "%s at 0x%llx, IRQ %u: %s", d->info.name,
			(unsigned long long)slot_base(i), slot_gsi(i), strerror(-ret));
		return ret;
	}
	m->slots[m->nr_slots++] = s;
	return 0;
}

/* --- queues the kernel serves (vhost) ---------------------------------------------- */

#define VHOST_VSOCK_DEV "/dev/vhost-vsock"
#define VHOST_NET_DEV "/dev/vhost-net"

static void vhost_call_fired(void *opaque, uint32_t events)
{
	struct machine_vhost_queue *q = opaque;
	uint64_t n;

	(void)events;
	if (read(q->call, &n, sizeof(n)) == sizeof(n))
		vhost_dev_called(q->vd);
}

static void vhost_err_fired(void *opaque, uint32_t events)
{
	struct machine_vhost_queue *q = opaque;
	uint64_t n;

	(void)events;
	if (read(q->err, &n, sizeof(n)) == sizeof(n))
		vhost_dev_broken(q->vd, q->index);
}

static void vhost_queues_clear(struct machine_vhost_queue *q, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++)
		q[i] = (struct machine_vhost_queue){ .index = i, .call = -1, .err = -1 };
}

/*
 * For each of the `nr` kernel queues of `vd`, attached in `slot` with its
 * kicks passed on: a call and an err eventfd, watched on the loop, and the
 * three descriptors given to the device. 0 or a negative errno.
 */
static int vhost_queues_wire(struct vhost_dev *vd, struct vslot *slot,
			     struct machine_vhost_queue *q, unsigned int nr)
{
	int ret = 0;

	for (unsigned int i = 0; ret == 0 && i < nr; i++) {
		q[i].vd = vd;
		q[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q[i].err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q[i].call < 0 || q[i].err < 0)
			return -errno;
		vhost_dev_set_fds(vd, i,
				  &(struct vhost_queue_fds){ .kick = vslot_kick_fd(slot, i),
							     .call = q[i].call,
							     .err = q[i].err });
		ret = vslot_watch(slot, q[i].call, EPOLLIN, vhost_call_fired, &q[i]);
		if (ret == 0)
			ret = vslot_watch(slot, q[i].err, EPOLLIN, vhost_err_fired, &q[i]);
	}
	return ret;
}

/* After the slot is detached: the eventfds closed. */
static void vhost_queues_close(struct machine_vhost_queue *q, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++) {
		if (q[i].call >= 0)
			close(q[i].call);
		if (q[i].err >= 0)
			close(q[i].err);
	}
	vhost_queues_clear(q, nr);
}

/*
 * The descriptor of a vhost device: `vhostfd` as given (it must be open), or
 * `path` opened now. The message in m->err says which went wrong.
 */
static int vhost_open(struct machine *m, const char *what, const char *path, int vhostfd,
		      const char *module)
{
	int fd;

	if (vhostfd >= 0) {
		if (fcntl(vhostfd, F_GETFD) < 0) {
			set_err(m, "%s: vhostfd=%d is not an open descriptor", what, vhostfd);
			m->usage_error = true;
			return -EBADF;
		}
		return vhostfd;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT)
			set_err(m, "%s: cannot open %s: %s (load the %s module: modprobe %s)", what,
				path, strerror(err), module, module);
		else
			set_err(m, "%s: cannot open %s: %s", what, path, strerror(err));
		return -err;
	}
	return fd;
}

/* vhost_create on vhost_open's descriptor, with the same messages. */
static int vhost_take(struct machine *m, struct vhost **v, const char *what, const char *path,
		      int vhostfd, const char *module)
{
	int fd = vhost_open(m, what, path, vhostfd, module);
	int ret;

	if (fd < 0)
		return fd;
	ret = vhost_create(v, fd, path, NULL);
	if (ret < 0 && vhostfd >= 0) {
		set_err(m, "%s: vhostfd=%d is not a vhost device ember can use: %s", what, vhostfd,
			strerror(-ret));
		m->usage_error = true;
	} else if (ret < 0) {
		set_err(m, "%s: %s refused to serve ember: %s", what, path, strerror(-ret));
	}
	return ret;
}

/* --- virtio NICs ------------------------------------------------------------------ */

static void net_resumed(void *opaque, uint32_t events)
{
	(void)events;
	net_resume(((struct machine_net *)opaque)->net);
}

static void net_tap_ready(void *opaque, uint32_t events)
{
	struct machine_net *mn = opaque;

	net_backend_event(mn->net, events);
	/* A deleted tap reports an error forever: stop listening to it. */
	if (net_backend_dead(mn->net) && mn->tap_watched) {
		evloop_del(vm_evloop(mn->m->vm), mn->tap.fd);
		mn->tap_watched = false;
	}
}

/* On the loop thread (or with it stopped): the tap's events become the device's latest wish. */
static void net_apply_watch(struct machine_net *mn)
{
	int ret;

	if (!mn->tap_watched)
		return;
	ret = evloop_mod(vm_evloop(mn->m->vm), mn->tap.fd, atomic_load(&mn->want));
	if (ret < 0 && !mn->watch_failed) {
		log_warn("%s: changing the events watched on its tap: %s", mn->name,
			 strerror(-ret));
		mn->watch_failed = true;
	}
}

static void net_watch_changed(void *opaque, uint32_t events)
{
	struct machine_net *mn = opaque;
	uint64_t n;

	(void)events;
	if (read(mn->watch_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("%s: reading its watch eventfd: %s", mn->name, strerror(errno));
	net_apply_watch(mn);
}

/*
 * The device's wish, from any thread, with its transport's lock held: the
 * tap's handler stays, its events change. Only the loop thread may touch its
 * handlers, so another thread leaves the wish and wakes the loop, as the
 * console's kick does; a later wish overwrites an earlier one not yet applied.
 */
static void net_watch_tap(void *opaque, uint32_t events)
{
	struct machine_net *mn = opaque;
	uint64_t one = 1;

	atomic_store(&mn->want, events);
	if (evloop_on_thread(vm_evloop(mn->m->vm)))
		net_apply_watch(mn);
	else if (write(mn->watch_fd, &one, sizeof(one)) < 0)
		log_warn("%s: waking the event loop: %s", mn->name, strerror(errno));
}

static int net_offloads(void *opaque, unsigned int tun_flags)
{
	return tap_set_offloads(&((struct machine_net *)opaque)->tap, tun_flags);
}

/*
 * -nic user and -netdev stream: ember-net runs the network, or relays to
 * passt's; its socket stands where a tap's descriptor would (tap.fd, closed
 * by tap_close()), without offloads.
 */
static int net_open_helper(struct machine *m, struct machine_net *mn, const struct cli_netdev *nd)
{
	const struct cli_user *u = &nd->user;
	struct netuser_config uc = {
		.name = mn->name,
		.net = u->net,
		.mask = u->mask,
		.host = u->host,
		.dns = u->dns,
		.dhcpstart = u->dhcpstart,
		.ipv4 = u->ipv4,
		.ipv6 = u->ipv6,
		.restricted = u->restricted,
		.hostname = u->hostname,
		.domainname = u->domainname,
		.nr_hostfwd = u->nr_hostfwd,
		.hostfwd = u->hostfwd,
		/* -runas reaches the helper too, once its forwards listen. */
		.uid = m->jail.runas ? m->jail.uid : (uid_t)-1,
		.gid = m->jail.runas ? m->jail.gid : (gid_t)-1,
		.sandbox = m->cfg->sandbox,
	};
	int fd, ret;

	if (nd->kind == CLI_NET_STREAM) {
		uc.stream = nd->stream.path;
		uc.reconnect = nd->stream.reconnect;
	}

	ret = netuser_start(&uc, &fd, &mn->user_pid, m->err, sizeof(m->err));
	if (ret < 0) {
		/* A forward that cannot listen is the command line's to fix. */
		m->usage_error = ret == -EINVAL;
		return ret;
	}
	mn->tap.fd = fd;
	mn->tap.owned = 1;
	snprintf(mn->tap.ifname, sizeof(mn->tap.ifname), "%s", uc.stream ? "stream" : "user");
	return 0;
}

static int net_open_one(struct machine *m, unsigned int i)
{
	const struct cli_nic *nic = &m->cfg->nics[i];
	const struct cli_netdev *nd = &m->cfg->netdevs[nic->netdev];
	struct machine_net *mn = &m->net[i];
	struct net_config nc = { 0 };
	int ret;

	mn->m = m;
	mn->tap.fd = -1;
	mn->watch_fd = -1;
	vhost_queues_clear(mn->q, 2);
	snprintf(mn->name, sizeof(mn->name), "virtio-net eth%u", i);
	if (nd->kind != CLI_NET_TAP) {
		ret = net_open_helper(m, mn, nd);
	} else {
		ret = tap_open(&mn->tap, nd->ifname, nd->fd, m->err, sizeof(m->err));
		m->usage_error = ret < 0;
	}
	if (ret < 0)
		return ret;
	if (nic->has_mac) {
		memcpy(nc.mac, nic->mac, 6);
	} else {
		/* QEMU's prefix, whose first byte has the locally administered bit. */
		nc.mac[0] = 0x52;
		nc.mac[1] = 0x54;
		nc.mac[2] = 0x00;
		if (getrandom(nc.mac + 3, 3, 0) != 3)
			nc.mac[5] = (uint8_t)(0x56 + i);
	}
	if (nd->vhost) {
		struct vhostnet_config vc = {
			.tap_fd = mn->tap.fd,
			.offloads = tap_virtio_offloads(&mn->tap),
			.set_offloads = net_offloads,
			.opaque = mn,
			.name = mn->name,
		};
		struct vhost *v;

		memcpy(vc.mac, nc.mac, 6);
		ret = vhost_take(m, &v, mn->name, VHOST_NET_DEV, nd->vhostfd, "vhost_net");
		if (ret == 0)
			ret = vhostnet_create(&mn->vnet, v, &vc, vm_gmem(m->vm));
		if (ret < 0 && !m->err[0])
			set_err(m, "%s: %s", mn->name, strerror(-ret));
		if (ret < 0)
			return ret;
	} else {
		nc.fd = mn->tap.fd;
		if (nd->kind == CLI_NET_TAP) {
			nc.offloads = tap_virtio_offloads(&mn->tap);
			nc.set_offloads = net_offloads;
		}
		nc.watch = net_watch_tap;
		nc.opaque = mn;
		nc.name = mn->name;
		ret = net_create(&mn->net, &nc);
		if (ret < 0) {
			set_err(m, "%s: %s", mn->name, strerror(-ret));
			return ret;
		}
	}
	if (nd->kind != CLI_NET_TAP)
		log_info("%s: %s%s (ember-net, pid %d), MAC %02x:%02x:%02x:%02x:%02x:%02x",
			 mn->name, nd->kind == CLI_NET_USER ? "user networking" : "stream ",
			 nd->kind == CLI_NET_USER ? "" : nd->stream.path, (int)mn->user_pid,
			 nc.mac[0], nc.mac[1], nc.mac[2], nc.mac[3], nc.mac[4], nc.mac[5]);
	else
		log_info("%s: tap %s%s, MAC %02x:%02x:%02x:%02x:%02x:%02x", mn->name,
			 mn->tap.ifname, nd->vhost ? " (vhost-net)" : "", nc.mac[0], nc.mac[1],
			 nc.mac[2], nc.mac[3], nc.mac[4], nc.mac[5]);
	return 0;
}

static void net_take_transport(void *dev, const struct virtio_transport *tr)
{
	net_attach(dev, tr);
}

static void vhostnet_take_transport(void *dev, const struct virtio_transport *tr)
{
	vhostnet_attach(dev, tr);
}

/* A NIC with vhost=on in its slot: the kernel takes the kicks; ember, its calls and errors. */
static int vhostnet_wire(struct machine *m, struct machine_net *mn)
{
	struct vslot_device d = { .dev = mn->vnet,
				  .attach = vhostnet_take_transport,
				  .passed_kicks = 3 };
	int ret;

	vhostnet_device(mn->vnet, &d.info, &d.ops);
	ret = slot_attach(m, &mn->slot, &d);
	if (ret == 0)
		ret = vhost_queues_wire(vhostnet_vhost(mn->vnet), &mn->slot, mn->q, 2);
	return ret;
}

/* The NIC in its slot; the frames a turn's budget left, the device's wishes and the tap. */
static int net_wire(struct machine *m, struct machine_net *mn)
{
	struct vslot_device d = { .dev = mn->net, .attach = net_take_transport };
	int ret;

	if (mn->vnet)
		return vhostnet_wire(m, mn);

	net_device(mn->net, &d.info, &d.ops);
	ret = slot_attach(m, &mn->slot, &d);
	if (ret < 0)
		return ret;
	ret = vslot_watch(&mn->slot, net_resume_fd(mn->net), EPOLLIN, net_resumed, mn);
	if (ret < 0)
		return ret;
	mn->watch_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mn->watch_fd < 0)
		return -errno;
	ret = vslot_watch(&mn->slot, mn->watch_fd, EPOLLIN, net_watch_changed, mn);
	if (ret < 0)
		return ret;
	/* Its own handler, which lets go of a deleted tap. Not read until the driver starts the
	 * device (events 0 until then). */
	ret = evloop_add(vm_evloop(m->vm), mn->tap.fd, atomic_load(&mn->want), net_tap_ready, mn);
	mn->tap_watched = ret == 0;
	return ret;
}

static int nics_init(struct machine *m)
{
	int ret;

	for (unsigned int i = 0; i < m->cfg->nr_nics; i++) {
		m->nr_net = i + 1;
		ret = net_open_one(m, i);
		if (ret < 0)
			return ret;
		ret = net_wire(m, &m->net[i]);
		if (ret < 0) {
			if (!m->err[0])
				set_err(m, "%s: %s", m->net[i].name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void nics_fini(struct machine *m)
{
	for (unsigned int i = m->nr_net; i-- > 0;) {
		struct machine_net *mn = &m->net[i];
		struct net_stats st;

		if (mn->tap_watched)
			evloop_del(vm_evloop(m->vm), mn->tap.fd);
		mn->tap_watched = false;
		/* Resetting an active device in there changes its wish: nothing to apply it to. */
		vslot_detach(&mn->slot);
		if (mn->watch_fd >= 0)
			close(mn->watch_fd);
		if (mn->net) {
			net_get_stats(mn->net, &st);
			log_info("%s: %llu frames received, %llu sent, %llu dropped receiving, "
				 "%llu dropped sending",
				 mn->name, (unsigned long long)st.rx_frames,
				 (unsigned long long)st.tx_frames,
				 (unsigned long long)st.rx_dropped,
				 (unsigned long long)st.tx_dropped);
		}
		net_destroy(mn->net);
		/* After the slot's reset has taken the tap back from the kernel. */
		vhostnet_destroy(mn->vnet);
		vhost_queues_close(mn->q, 2);
		tap_close(&mn->tap);
		memset(mn, 0, sizeof(*mn));
	}
	m->nr_net = 0;
}

static void acpi_power_off(void *opaque)
{
	log_info("the guest powered off (ACPI S5)");
	vm_request_shutdown(opaque, EMBER_EXIT_OK, "guest-shutdown", true);
}

static void acpi_reset(void *opaque)
{
	log_info("the guest reset the machine (ACPI reset register); ending");
	vm_request_shutdown(opaque, EMBER_EXIT_OK, "guest-reset", true);
}

static int devices_init(struct machine *m)
{
	const struct ember_config *cfg = m->cfg;
	int ret;

	if (cfg->has_debugcon) {
		ret = chardev_open(&m->debugcon_out, &cfg->debugcon);
		if (ret < 0) {
			set_err(m, "-debugcon: cannot open %s (%s)",
				cfg->debugcon.path ? cfg->debugcon.path : "standard output",
				strerror(-ret));
			m->usage_error = true;
			return ret;
		}
		m->debugcon.out = debugcon_out;
		m->debugcon.opaque = m->debugcon_out;
		ret = debugcon_register(&m->debugcon, vm_pio(m->vm), DEBUGCON_DEFAULT_IOBASE);
		if (ret < 0) {
			set_err(m, "-debugcon: port 0x%x: %s", DEBUGCON_DEFAULT_IOBASE,
				strerror(-ret));
			m->usage_error = true;
			return ret;
		}
	}
	ret = serial_init(m);
	if (ret < 0)
		return ret;
	ret = legacy_init(m);
	if (ret < 0) {
		set_err(m, "the PIT, RTC and keyboard controller: %s",
			ret == -EBUSY ? "their ports overlap another device" : strerror(-ret));
		m->usage_error = ret == -EBUSY;
		return ret;
	}
#ifdef EMBER_TEST_HOOKS
	ret = testhooks_register(vm_pio(m->vm));
	if (ret < 0) {
		set_err(m, "the test hooks' port: %s", strerror(-ret));
		return ret;
	}
#endif
	if (cfg->kernel && !cfg->no_acpi) {
		struct acpi_pm_host host = {
			.power_off = acpi_power_off,
			.reset = acpi_reset,
			.opaque = m->vm,
			.sci_set = irq_line_set,
			.sci_opaque = irqchip_line(vm_irqchip(m->vm), ACPI_SCI_IRQ),
		};

		acpi_pm_init(&m->pm, ACPI_SLP_TYP_S5, &host);
		/* The signal handler, on the event loop's thread, presses its button. */
		__atomic_store_n(&m->have_pm, true, __ATOMIC_RELEASE);
		ret = acpi_pm_register(&m->pm, vm_pio(m->vm));
		if (ret < 0) {
			set_err(m, "ACPI PM1 block at 0x%x: %s", ACPI_PM_EVT_BASE,
				ret == -EBUSY ? "overlaps another device" : strerror(-ret));
			m->usage_error = ret == -EBUSY;
			return ret;
		}
	}
	for (unsigned int i = 0; i < cfg->nr_debug_exit; i++) {
		const struct cli_debug_exit *d = &cfg->debug_exit[i];

		m->debug_exit[i].request_exit = debug_exit_request;
		m->debug_exit[i].opaque = m->vm;
		ret = debug_exit_register(&m->debug_exit[i], vm_pio(m->vm), d->iobase, d->iosize);
		if (ret < 0) {
			set_err(m, "isa-debug-exit at 0x%x-0x%x: %s", d->iobase,
				d->iobase + d->iosize - 1,
				ret == -EBUSY ? "overlaps another device" : strerror(-ret));
			m->usage_error = true;
			return ret;
		}
	}
	return 0;
}

static void devices_fini(struct machine *m)
{
	if (m->have_pm)
		acpi_pm_destroy(&m->pm);
	__atomic_store_n(&m->have_pm, false, __ATOMIC_RELEASE);
	legacy_fini(m);
	serial_fini(m);
	if (m->debugcon_out && chardev_dropped(m->debugcon_out))
		log_warn("debug console: %llu bytes dropped because the output was full",
			 (unsigned long long)chardev_dropped(m->debugcon_out));
	chardev_close(m->debugcon_out);
	m->debugcon_out = NULL;
}

/* --- virtio disks ---------------------------------------------------------------- */

static void blk_disk_ready(void *opaque, uint32_t events)
{
	(void)events;
	blk_backend_event(((struct machine_blk *)opaque)->blk);
}

static void blk_resumed(void *opaque, uint32_t events)
{
	(void)events;
	blk_resume(((struct machine_blk *)opaque)->blk);
}

static int blk_open_disk(struct machine *m, unsigned int i)
{
	const struct cli_blk *cb = &m->cfg->blk[i];
	const struct cli_drive *d = &m->cfg->drives[cb->drive];
	struct machine_blk *mb = &m->blk[i];
	struct disk_config dc = {
		.path = d->file,
		.format = d->format,
		.readonly = d->readonly,
		.cache = d->cache,
		.aio = d->aio,
	};
	struct blk_config bc = { .serial = cb->serial ? cb->serial : d->serial };
	int ret;

	mb->m = m;
	snprintf(mb->name, sizeof(mb->name), "virtio-blk vd%c", 'a' + i);
	ret = disk_open(&mb->disk, &dc, m->err, sizeof(m->err));
	if (ret < 0) {
		m->usage_error = true;
		return ret;
	}
	blk_backend_disk(&bc.backend, mb->disk);
	bc.name = mb->name;
	ret = blk_create(&mb->blk, &bc);
	if (ret < 0)
		set_err(m, "%s: %s", mb->name, strerror(-ret));
	return ret;
}

static void blk_take_transport(void *dev, const struct virtio_transport *tr)
{
	blk_attach(dev, tr);
}

/* The disk in its slot; its completions and what a turn's budget left on the event loop. */
static int blk_wire(struct machine *m, struct machine_blk *mb)
{
	struct vslot_device d = { .dev = mb->blk, .attach = blk_take_transport };
	int ret;

	blk_device(mb->blk, &d.info, &d.ops);
	ret = slot_attach(m, &mb->slot, &d);
	if (ret < 0)
		return ret;
	ret = vslot_watch(&mb->slot, disk_event_fd(mb->disk), EPOLLIN, blk_disk_ready, mb);
	if (ret < 0)
		return ret;
	return vslot_watch(&mb->slot, blk_resume_fd(mb->blk), EPOLLIN, blk_resumed, mb);
}

static int virtio_init(struct machine *m)
{
	int ret;

	for (unsigned int i = 0; i < m->cfg->nr_blk; i++) {
		m->nr_blk = i + 1;
		ret = blk_open_disk(m, i);
		if (ret < 0)
			return ret;
		ret = blk_wire(m, &m->blk[i]);
		if (ret < 0) {
			if (!m->err[0])
				set_err(m, "%s: %s", m->blk[i].name, strerror(-ret));
			return ret;
		}
		log_info("%s: %s (%s), %llu bytes at 0x%llx, IRQ %u", m->blk[i].name,
			 m->cfg->drives[m->cfg->blk[i].drive].file,
			 disk_engine_name(m->blk[i].disk),
			 (unsigned long long)disk_size(m->blk[i].disk),
			 (unsigned long long)m->blk[i].slot.base, m->blk[i].slot.gsi);
	}
	return 0;
}

static void virtio_fini(struct machine *m)
{
	for (unsigned int i = m->nr_blk; i-- > 0;) {
		struct machine_blk *mb = &m->blk[i];
		int ret;

		/* Resets an active device: every request in flight finishes first. */
		vslot_detach(&mb->slot);
		blk_destroy(mb->blk);
		ret = disk_close(mb->disk);
		if (ret < 0) {
			log_err("%s: writing the image back at exit failed (%s); the guest's "
				"last writes may be lost",
				mb->name, strerror(-ret));
			m->lost_writes = true;
		}
		memset(mb, 0, sizeof(*mb));
	}
	m->nr_blk = 0;
}

/* --- virtio-rng and virtio-serial -------------------------------------------------- */

static void rng_arm(void *opaque, uint64_t deadline_ns)
{
	struct machine_rng *mr = opaque;
	int ret = arm_at(mr->timer, deadline_ns);

	if (ret < 0)
		log_warn("%s: arming its timer: %s", mr->name, strerror(-ret));
}

static void rng_expired(void *opaque, uint32_t events)
{
	struct machine_rng *mr = opaque;

	(void)events;
	timer_drain(mr->timer, mr->name);
	rng_timer(mr->rng);
}

static void rng_take_transport(void *dev, const struct virtio_transport *tr)
{
	rng_attach(dev, tr);
}

static int rng_init_one(struct machine *m, struct machine_rng *mr, const struct cli_rng *cr)
{
	struct rng_config rc = { .max_bytes = cr->max_bytes, .period_ms = cr->period_ms };
	struct rng_host host = { .now_ns = monotonic_ns, .arm_timer = rng_arm, .opaque = mr };
	struct vslot_device d = { .attach = rng_take_transport };
	int ret;

	rc.name = mr->name;
	mr->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (mr->timer < 0)
		return -errno;
	ret = rng_create(&mr->rng, &rc, &host);
	if (ret < 0)
		return ret;
	d.dev = mr->rng;
	rng_device(mr->rng, &d.info, &d.ops);
	ret = slot_attach(m, &mr->slot, &d);
	if (ret < 0)
		return ret;
	return vslot_watch(&mr->slot, mr->timer, EPOLLIN, rng_expired, mr);
}

static int rngs_init(struct machine *m)
{
	for (unsigned int i = 0; i < m->cfg->nr_rngs; i++) {
		struct machine_rng *mr = &m->rng[i];
		int ret;

		m->nr_rng = i + 1;
		mr->timer = -1;
		snprintf(mr->name, sizeof(mr->name), "virtio-rng %u", i);
		ret = rng_init_one(m, mr, &m->cfg->rngs[i]);
		if (ret < 0) {
			if (!m->err[0])
				set_err(m, "%s: %s", mr->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void rngs_fini(struct machine *m)
{
	for (unsigned int i = m->nr_rng; i-- > 0;) {
		struct machine_rng *mr = &m->rng[i];

		vslot_detach(&mr->slot);
		rng_destroy(mr->rng);
		if (mr->timer >= 0)
			close(mr->timer);
		memset(mr, 0, sizeof(*mr));
	}
	m->nr_rng = 0;
}

static void vserial_quit(void *opaque)
{
	vm_request_shutdown(opaque, EMBER_EXIT_OK, "host-ui", false);
}

static int vserial_init(struct machine *m)
{
	struct vslot_device d;
	int ret;

	if (!m->cfg->has_vserial)
		return 0;
	ret = vserial_create(&m->vserial, m->cfg, vm_evloop(m->vm), vserial_quit, m->vm, m->err,
			     sizeof(m->err));
	if (ret < 0) {
		m->usage_error = true;
		return ret;
	}
	vserial_device(m->vserial, &d);
	ret = slot_attach(m, &m->vserial_slot, &d);
	if (ret < 0)
		return ret;
	ret = vserial_watch(m->vserial, &m->vserial_slot);
	if (ret < 0)
		set_err(m, "virtio-serial: %s", strerror(-ret));
	return ret;
}

static void vserial_fini(struct machine *m)
{
	vslot_detach(&m->vserial_slot);
	vserial_destroy(m->vserial);
	m->vserial = NULL;
}

/* --- vhost-vsock ------------------------------------------------------------------- */

static void vsock_take_transport(void *dev, const struct virtio_transport *tr)
{
	vsock_attach(dev, tr);
}

static int vsock_init(struct machine *m)
{
	const struct cli_vsock *cv = &m->cfg->vsock;
	struct machine_vsock *mv = &m->vsock;
	struct vslot_device d = { .attach = vsock_take_transport, .passed_kicks = 3 };
	struct vhost *v;
	int ret;

	vhost_queues_clear(mv->q, 2);
	if (!m->cfg->has_vsock)
		return 0;
	ret = vhost_take(m, &v, "vhost-vsock-device", VHOST_VSOCK_DEV, cv->vhostfd, "vhost_vsock");
	if (ret < 0)
		return ret;
	ret = vsock_create(&mv->vs, v, cv->cid, vm_gmem(m->vm), "vhost-vsock");
	if (ret == -EADDRINUSE) {
		set_err(m, "vhost-vsock-device: guest-cid=%llu is in use by another VM",
			(unsigned long long)cv->cid);
		m->usage_error = true;
		return ret;
	}
	if (ret < 0) {
		set_err(m, "vhost-vsock-device: guest-cid=%llu: %s", (unsigned long long)cv->cid,
			strerror(-ret));
		m->usage_error = ret == -EINVAL;
		return ret;
	}
	d.dev = mv->vs;
	vsock_device(mv->vs, &d.info, &d.ops);
	ret = slot_attach(m, &mv->slot, &d);
	if (ret < 0)
		return ret;
	ret = vhost_queues_wire(vsock_vhost(mv->vs), &mv->slot, mv->q, 2);
	if (ret < 0)
		set_err(m, "vhost-vsock-device: its eventfds: %s", strerror(-ret));
	return ret;
}

static void vsock_fini(struct machine *m)
{
	struct machine_vsock *mv = &m->vsock;

	/* The slot first: its reset stops the kernel, which then signals nothing more. */
	vslot_detach(&mv->slot);
	vsock_destroy(mv->vs);
	mv->vs = NULL;
	vhost_queues_close(mv->q, 2);
}

/* ACPI tables in the BIOS area, found by the legacy scan and the boot protocol. */
static int write_acpi(struct machine *m)
{
	struct acpi_config ac = {
		.nr_cpus = m->cfg->nr_vcpus,
		.ioapic_id = (uint8_t)m->cfg->nr_vcpus,
		.ioapic_addr = MPTABLE_IOAPIC_DEFAULT,
		.lapic_addr = MPTABLE_LAPIC_DEFAULT,
		.pm1a_evt = ACPI_PM_EVT_BASE,
		.pm1a_cnt = ACPI_PM_CNT_BASE,
		.reset_port = ACPI_PM_RESET_PORT,
		.reset_value = ACPI_PM_RESET_VALUE,
		.rtc_century = RTC_CENTURY,
		.com1 = m->have_uart,
		.nr_virtio = m->nr_slots,
	};
	size_t len = BOOT_BIOS_START - BOOT_ACPI_START;
	void *p = gmem_translate(vm_gmem(m->vm), BOOT_ACPI_START, len);
	ssize_t n;

	for (unsigned int i = 0; i < m->nr_slots; i++)
		ac.virtio[i] = vslot_acpi(m->slots[i]);
	n = p ? acpi_write(p, len, BOOT_ACPI_START, &ac) : -EFAULT;
	if (n < 0)
		set_err(m, "writing the ACPI tables: %s", strerror((int)-n));
	return n < 0 ? (int)n : 0;
}

/* MP tables in the BIOS area, so a kernel without ACPI finds every vCPU and the IOAPIC. */
static int write_mptable(struct machine *m)
{
	const struct kvm_cpuid_entry2 *leaf1 = cpuid_find(m->cpuid, m->nr_cpuid, 1, 0);
	struct mptable_config mp = {
		.nr_cpus = m->cfg->nr_vcpus,
		.ioapic_addr = MPTABLE_IOAPIC_DEFAULT,
		.lapic_addr = MPTABLE_LAPIC_DEFAULT,
		.cpu_signature = leaf1 ? leaf1->eax : 0,
		.cpu_features = leaf1 ? leaf1->edx : 0,
	};
	size_t len = BOOT_HIMEM_START - BOOT_BIOS_START;
	void *p = gmem_translate(vm_gmem(m->vm), BOOT_BIOS_START, len);
	ssize_t n = p ? mptable_write(p, len, BOOT_BIOS_START, &mp) : -EFAULT;

	if (n < 0)
		set_err(m, "writing the MP tables: %s", strerror((int)-n));
	return n < 0 ? (int)n : 0;
}

static int firmware_init(struct machine *m)
{
	int ret;

	/* A restore's RAM holds the kernel and tables already; the BIOS is ROM. */
	if (m->cfg->incoming && m->cfg->kernel)
		return 0;
	/* What the files held now lives in guest memory: don't keep a second copy. */
	if (!m->have_kernel) {
		ret = vm_add_rom(m->vm, bios_base(&m->bios), m->bios.data, m->bios.size);
		if (ret < 0)
			set_err(m, "mapping the BIOS image: %s", strerror(-ret));
		bios_free(&m->bios);
		return ret;
	}
	if (!m->cfg->no_acpi)
		m->kernel.acpi_rsdp = BOOT_ACPI_START;
	ret = kernel_load(&m->kernel, vm_gmem(m->vm), m->err, sizeof(m->err));
	kernel_drop_data(&m->kernel);
	if (ret == 0)
		ret = write_mptable(m);
	if (ret == 0 && !m->cfg->no_acpi)
		ret = write_acpi(m);
	return ret;
}

/* Every vCPU gets its CPUID, MSRs and FPU; the first also the kernel's entry state. */
static int configure_vcpu(struct machine *m, unsigned int i, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *e = malloc((m->nr_cpuid + CPUID_SPARE) * sizeof(*e));
	struct vcpu *v = vm_vcpu(m->vm, i);
	const struct cpuid_topology topo = {
		.nr_vcpus = m->cfg->nr_vcpus,
		.cores = m->cfg->cores,
		.threads = m->cfg->threads,
	};
	int n, ret;

	if (!e)
		return -ENOMEM;
	memcpy(e, m->cpuid, m->nr_cpuid * sizeof(*e));
	n = cpuid_for_vcpu(e, m->nr_cpuid, m->nr_cpuid + CPUID_SPARE, i, &topo, tsc_khz);
	ret = n < 0 ? n : vcpu_configure(v, e, (unsigned int)n);
	free(e);
	if (ret < 0 || i != 0 || !m->have_kernel)
		return ret;

	struct kvm_regs regs;
	struct kvm_sregs sregs;

	ret = vcpu_get_sregs(v, &sregs);
	if (ret == 0) {
		kernel_boot_state(&m->kernel, &regs, &sregs);
		ret = vcpu_set_boot_state(v, &regs, &sregs);
	}
	if (ret < 0)
		set_err(m, "setting the boot vCPU's registers: %s", strerror(-ret));
	return ret;
}

static int vcpus_init(struct machine *m)
{
	uint32_t tsc_khz;
	int ret = vm_create_vcpus(m->vm, m->cfg->nr_vcpus); /* reports its own failures */

	if (ret < 0)
		return ret;
	/* The guest need not calibrate its TSC when KVM says how fast it runs. */
	tsc_khz = vcpu_tsc_khz(vm_vcpu(m->vm, 0));
	for (unsigned int i = 0; i < m->cfg->nr_vcpus; i++) {
		ret = configure_vcpu(m, i, tsc_khz);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- snapshots ------------------------------------------------------------------------ */

#define SNAP_DEVICES_MAX 4096

/* A disk as a snapshot found it: a restore refuses one that changed since. */
struct snap_disk {
	uint64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
};

/*
 * What a snapshot is tied to, a line per part: the machine's shape and
 * every device, in slot order. A restore's command line must give the same.
 */
static int device_set(struct machine *m, char *buf, size_t size)
{
	const struct ember_config *cfg = m->cfg;
	size_t n = 0;

#define ADD(...)                                                                                   \
	n += (size_t)snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, __VA_ARGS__)
	ADD("ram %llu\n", (unsigned long long)cfg->ram_size);
	ADD("smp %u cores %u threads %u\n", cfg->nr_vcpus, cfg->cores, cfg->threads);
	ADD("boot %s, acpi %s\n", cfg->kernel ? "kernel" : "bios", cfg->no_acpi ? "off" : "on");
	ADD("com1 %s, debugcon %s\n", m->have_uart ? "on" : "off",
	    cfg->has_debugcon ? "on" : "off");
	ADD("pit %s, rtc %s, i8042 %s, acpi-pm %s\n", m->have_pit ? "on" : "off",
	    m->have_rtc ? "on" : "off", m->have_i8042 ? "on" : "off", m->have_pm ? "on" : "off");
	for (unsigned int i = 0; i < cfg->nr_debug_exit; i++)
		ADD("isa-debug-exit 0x%x+%u\n", cfg->debug_exit[i].iobase,
		    cfg->debug_exit[i].iosize);
	for (unsigned int i = 0; i < m->nr_slots; i++)
		ADD("slot %u: %s\n", i, m->slots[i]->name);
	for (unsigned int i = 0; i < m->nr_blk; i++)
		ADD("vd%c: %llu bytes, %s\n", 'a' + i,
		    (unsigned long long)disk_size(m->blk[i].disk),
		    disk_readonly(m->blk[i].disk) ? "read-only" : "read-write");
	for (unsigned int i = 0; i < m->nr_rng; i++)
		ADD("rng %u: %llu bytes per %u ms\n", i, (unsigned long long)cfg->rngs[i].max_bytes,
		    cfg->rngs[i].period_ms);
	if (m->vsock.vs)
		ADD("vsock: guest CID %llu\n", (unsigned long long)cfg->vsock.cid);
	if (m->vserial)
		ADD("virtio-serial: %u ports\n", cfg->vserial_max_ports);
	for (unsigned int i = 0; m->vserial && i < cfg->nr_ports; i++)
		ADD("virtio-serial port %u: %s %s\n", cfg->ports[i].nr,
		    cfg->ports[i].console ? "console" : "port",
		    cfg->ports[i].name ? cfg->ports[i].name : "(no name)");
#undef ADD
	return n < size ? 0 : -ENOSPC;
}

static int add_section(struct snap_out *o, const char *tag, uint32_t version, const void *data,
		       size_t len, char *err, size_t errlen)
{
	int ret = len > UINT32_MAX ? -EFBIG : snap_out_add(o, tag, version, data, (uint32_t)len);

	if (ret < 0)
		snprintf(err, errlen, "saving %s: %s", tag, strerror(-ret));
	return ret;
}

/*
 * The kernel serves vhost devices' queues: stopped, it says where it got to,
 * and ember's copies of those queues take that up to be saved. They run
 * again once guest RAM is written too (snap_write()), whatever happened: a
 * kernel running meanwhile would fill receive buffers (a host's TCP
 * retransmission reaches a paused guest's NIC) and RAM would no longer
 * match the queues saved. The guest stays paused.
 */
static int vhost_suspend_all(struct machine *m, char *err, size_t errlen)
{
	int ret;

	if (m->vsock.vs) {
		ret = vsock_suspend(m->vsock.vs);
		if (ret < 0) {
			snprintf(err, errlen, "vhost-vsock: stopping the kernel's queues: %s",
				 strerror(-ret));
			return ret;
		}
	}
	for (unsigned int i = 0; i < m->nr_net; i++) {
		if (!m->net[i].vnet)
			continue;
		ret = vhostnet_suspend(m->net[i].vnet);
		if (ret < 0) {
			snprintf(err, errlen, "%s: stopping vhost-net's queues: %s",
				 m->net[i].slot.name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Those suspended, and none that was not (their resume says so and does nothing). */
static void vhost_resume_all(struct machine *m)
{
	if (m->vsock.vs && vsock_resume(m->vsock.vs) < 0)
		log_warn("vhost-vsock: the kernel's queues did not start again after the snapshot");
	for (unsigned int i = 0; i < m->nr_net; i++)
		if (m->net[i].vnet && vhostnet_resume(m->net[i].vnet) < 0)
			log_warn("%s: vhost-net's queues did not start again after the snapshot",
				 m->net[i].slot.name);
}

/* Every part of the paused machine into `o`. */
static int snap_collect(struct machine *m, struct snap_out *o, char *err, size_t errlen)
{
	char devices[SNAP_DEVICES_MAX];
	struct snap_disk disks[CLI_MAX_DRIVES];
	struct vm_state vs;
	int ret;

	if (device_set(m, devices, sizeof(devices)) < 0) {
		snprintf(err, errlen, "the device list is too long for a snapshot");
		return -ENOSPC;
	}
	ret = add_section(o, "devices", 1, devices, strlen(devices), err, errlen);
	if (ret == 0)
		ret = add_section(o, "cpuid", 1, m->cpuid, m->nr_cpuid * sizeof(*m->cpuid), err,
				  errlen);
	if (ret < 0)
		return ret;
	memset(disks, 0, sizeof(disks));
	for (unsigned int i = 0; i < m->nr_blk; i++) {
		struct stat sb;

		ret = disk_stat(m->blk[i].disk, &sb);
		if (ret < 0) {
			snprintf(err, errlen, "%s: %s", m->blk[i].name, strerror(-ret));
			return ret;
		}
		disks[i] = (struct snap_disk){ (uint64_t)sb.st_size, sb.st_mtim.tv_sec,
					       sb.st_mtim.tv_nsec };
	}
	ret = add_section(o, "disks", 1, disks, m->nr_blk * sizeof(disks[0]), err, errlen);
	if (ret < 0)
		return ret;
	ret = vm_save_state(m->vm, &vs);
	if (ret < 0) {
		snprintf(err, errlen, "the VM's state: %s", strerror(-ret));
		return ret;
	}
	ret = add_section(o, "vm", VM_STATE_VERSION, &vs, sizeof(vs), err, errlen);
	for (unsigned int i = 0; ret == 0 && i < m->cfg->nr_vcpus; i++) {
		char tag[SNAP_TAG_LEN];
		void *blob;
		size_t len;

		ret = vcpu_save_state(vm_vcpu(m->vm, i), &blob, &len);
		if (ret < 0) {
			snprintf(err, errlen, "vCPU %u's state: %s", i, strerror(-ret));
			return ret;
		}
		snprintf(tag, sizeof(tag), "cpu%u", i);
		ret = add_section(o, tag, 1, blob, len, err, errlen);
		free(blob);
	}
	if (ret < 0)
		return ret;
	if (m->have_uart) {
		struct uart8250_state st;

		uart8250_save(&m->uart, &st);
		ret = add_section(o, "uart", UART8250_STATE_VERSION, &st, sizeof(st), err, errlen);
	}
	if (ret == 0 && m->have_pit) {
		struct pit_state st;

		pit_save(&m->pit, &st);
		ret = add_section(o, "pit", PIT_STATE_VERSION, &st, sizeof(st), err, errlen);
	}
	if (ret == 0 && m->have_rtc) {
		struct rtc_state st;

		rtc_save(&m->rtc, &st);
		ret = add_section(o, "rtc", RTC_STATE_VERSION, &st, sizeof(st), err, errlen);
	}
	if (ret == 0 && m->have_i8042) {
		struct i8042_state st;

		i8042_save(&m->i8042, &st);
		ret = add_section(o, "i8042", I8042_STATE_VERSION, &st, sizeof(st), err, errlen);
	}
	if (ret == 0 && m->have_pm) {
		struct acpi_pm_state st;

		acpi_pm_save(&m->pm, &st);
		ret = add_section(o, "acpi-pm", ACPI_PM_STATE_VERSION, &st, sizeof(st), err,
				  errlen);
	}
	if (ret == 0)
		ret = vhost_suspend_all(m, err, errlen);
	/* Before its transport: a transmit chain it holds goes back to the ring. */
	if (ret == 0 && m->vserial) {
		struct vcon_state st;

		ret = vcon_save(vserial_vcon(m->vserial), &st);
		if (ret == 0)
			ret = add_section(o, "vserial", VCON_STATE_VERSION, &st, sizeof(st), err,
					  errlen);
	}
	for (unsigned int i = 0; ret == 0 && i < m->nr_slots; i++) {
		struct virtio_mmio_state *st = malloc(sizeof(*st));
		char tag[SNAP_TAG_LEN];

		if (!st) {
			ret = -ENOMEM;
			break;
		}
		ret = virtio_mmio_save(m->slots[i]->mmio, st);
		if (ret == -EBUSY)
			snprintf(err, errlen, "%s has requests in flight; try again",
				 m->slots[i]->name);
		else if (ret < 0)
			snprintf(err, errlen, "%s: %s", m->slots[i]->name, strerror(-ret));
		snprintf(tag, sizeof(tag), "slot%u", i);
		if (ret == 0)
			ret = add_section(o, tag, VIRTIO_MMIO_STATE_VERSION, st, sizeof(*st), err,
					  errlen);
		free(st);
	}
	return ret;
}

static uint64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static int snap_write(struct machine *m, const char *path, char *err, size_t errlen)
{
	const struct gmem *g = vm_gmem(m->vm);
	struct snap_region r[SNAP_MAX_REGIONS];
	struct snap_out *o = NULL;
	struct timespec t0;
	int fd, ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (g->nr > SNAP_MAX_REGIONS) {
		snprintf(err, errlen, "guest RAM has too many regions for a snapshot");
		return -ENOTSUP;
	}
	/*
	 * Every disk request the guest made finishes and is answered first, and
	 * each image is left as closing it would leave it: what the snapshot
	 * records of it (size, modification time) then holds after ember quits.
	 */
	for (unsigned int i = 0; i < m->nr_blk; i++) {
		blk_drain(m->blk[i].blk);
		ret = disk_settle(m->blk[i].disk);
		if (ret < 0) {
			snprintf(err, errlen, "%s: writing the image back: %s", m->blk[i].name,
				 strerror(-ret));
			return ret;
		}
	}
	ret = snap_out_create(&o);
	if (ret == 0)
		ret = snap_collect(m, o, err, errlen);
	if (ret < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-ret));
		snap_out_destroy(o);
		vhost_resume_all(m);
		return ret;
	}
	/* Never over an existing file: a confined ember may create files, not overwrite them. */
	fd = open(path, SNAP_OPEN_FLAGS, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path,
			 errno == EEXIST ? "the file exists (ember does not write over one)"
					 : strerror(errno));
		snap_out_destroy(o);
		vhost_resume_all(m);
		return ret;
	}
	for (unsigned int i = 0; i < g->nr; i++)
		r[i] = (struct snap_region){ g->r[i].gpa, g->r[i].size, g->r[i].host };
	ret = snap_out_write(o, fd, r, g->nr, &m->snap.st);
	snap_out_destroy(o);
	vhost_resume_all(m);
	if (ret < 0) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(-ret));
		/* Nothing half-written is left to be mistaken for a snapshot. */
		if (ftruncate(fd, 0) < 0)
			log_warn("%s: could not empty the unfinished snapshot", path);
	}
	close(fd);
	if (ret == 0) {
		m->snap.ms = elapsed_ms(&t0);
		log_info("QMP: snapshot %s written in %llu ms: %llu KiB of RAM (%llu pages of "
			 "zeroes left out), %llu KiB of state",
			 path, (unsigned long long)m->snap.ms,
			 (unsigned long long)(m->snap.st.ram_bytes >> 10),
			 (unsigned long long)m->snap.st.zero_pages,
			 (unsigned long long)(m->snap.st.state_bytes >> 10));
	}
	return ret;
}

/* Loads section `tag` of exactly `len` bytes, or says what is wrong with it. */
static int load_section(struct machine *m, struct snap_in *in, const char *tag, uint32_t version,
			void *buf, size_t len)
{
	int ret = snap_in_get(in, tag, version, buf, (uint32_t)len);

	if (ret == -ENOENT)
		set_err(m, "-incoming: the snapshot has no %s: it is of another machine", tag);
	else if (ret == -EPROTO)
		set_err(m, "-incoming: the snapshot's %s is in a format this ember cannot read",
			tag);
	else if (ret < 0)
		set_err(m, "-incoming: the snapshot's %s is malformed", tag);
	return ret;
}

/* The snapshot's machine must be this one, on this kind of host. */
static int restore_check(struct machine *m, struct snap_in *in)
{
	char devices[SNAP_DEVICES_MAX], saved[SNAP_DEVICES_MAX];
	struct snap_disk disks[CLI_MAX_DRIVES];
	const char *have;
	uint32_t len;
	int err;

	if (device_set(m, devices, sizeof(devices)) < 0) {
		set_err(m, "-incoming: the device list is too long");
		return -ENOSPC;
	}
	have = snap_in_find(in, "devices", 1, &len, &err);
	if (!have || len >= sizeof(saved)) {
		set_err(m, "-incoming: the snapshot does not list its devices");
		return -EBADMSG;
	}
	/* A private copy, ended, before any of it is read. */
	memcpy(saved, have, len);
	saved[len] = '\0';
	if (strcmp(saved, devices) != 0) {
		size_t i = 0, line = 0;

		/* Name the first line that differs. */
		while (saved[i] && saved[i] == devices[i]) {
			if (devices[i] == '\n')
				line = i + 1;
			i++;
		}
		saved[line + strcspn(saved + line, "\n")] = '\0';
		devices[line + strcspn(devices + line, "\n")] = '\0';
		set_err(m,
			"-incoming: the command line's devices differ from the snapshot's: "
			"it has %s%s%s, the command line gives %s%s%s",
			saved[line] ? "\"" : "", saved[line] ? saved + line : "nothing more",
			saved[line] ? "\"" : "", devices[line] ? "\"" : "",
			devices[line] ? devices + line : "nothing more", devices[line] ? "\"" : "");
		return -EINVAL;
	}
	have = snap_in_find(in, "cpuid", 1, &len, &err);
	if (!have || len != m->nr_cpuid * sizeof(*m->cpuid) || memcmp(have, m->cpuid, len) != 0) {
		set_err(m, "-incoming: the snapshot was taken on a host whose CPU or KVM offers "
			   "different CPUID leaves");
		return -EINVAL;
	}
	err = load_section(m, in, "disks", 1, disks, m->nr_blk * sizeof(disks[0]));
	if (err < 0)
		return err;
	for (unsigned int i = 0; m->cfg->incoming_check_disks && i < m->nr_blk; i++) {
		struct stat sb;

		if (disk_stat(m->blk[i].disk, &sb) < 0)
			continue;
		if ((uint64_t)sb.st_size != disks[i].size ||
		    sb.st_mtim.tv_sec != disks[i].mtime_sec ||
		    sb.st_mtim.tv_nsec != disks[i].mtime_nsec) {
			set_err(m,
				"-incoming: %s (%s) changed since the snapshot (its size or "
				"modification time differs); the guest would find another disk "
				"than it left. Give check-disks=off if it is a copy made for "
				"this restore",
				m->blk[i].name, m->cfg->drives[m->cfg->blk[i].drive].file);
			return -EINVAL;
		}
	}
	return 0;
}

static int restore_devices(struct machine *m, struct snap_in *in)
{
	int ret = 0;

#define LEGACY(have, tag, type, version, restore, dev)                                             \
	if (ret == 0 && (have)) {                                                                  \
		type st;                                                                           \
		ret = load_section(m, in, tag, version, &st, sizeof(st));                          \
		if (ret == 0 && (ret = restore(dev, &st)) < 0)                                     \
			set_err(m, "-incoming: the snapshot's %s state is out of range", tag);     \
	}
	LEGACY(m->have_uart, "uart", struct uart8250_state, UART8250_STATE_VERSION,
	       uart8250_restore, &m->uart)
	LEGACY(m->have_pit, "pit", struct pit_state, PIT_STATE_VERSION, pit_restore, &m->pit)
	LEGACY(m->have_rtc, "rtc", struct rtc_state, RTC_STATE_VERSION, rtc_restore, &m->rtc)
	LEGACY(m->have_i8042, "i8042", struct i8042_state, I8042_STATE_VERSION, i8042_restore,
	       &m->i8042)
	LEGACY(m->have_pm, "acpi-pm", struct acpi_pm_state, ACPI_PM_STATE_VERSION, acpi_pm_restore,
	       &m->pm)
#undef LEGACY
	/* Kept by the device for its activate, which the transport's restore calls. */
	if (ret == 0 && m->vserial) {
		struct vcon_state st;

		ret = load_section(m, in, "vserial", VCON_STATE_VERSION, &st, sizeof(st));
		if (ret == 0 && (ret = vcon_restore(vserial_vcon(m->vserial), &st)) < 0)
			set_err(m, "-incoming: the snapshot's vserial state is out of range");
	}
	for (unsigned int i = 0; ret == 0 && i < m->nr_slots; i++) {
		struct virtio_mmio_state *st = malloc(sizeof(*st));
		char tag[SNAP_TAG_LEN];

		if (!st)
			return -ENOMEM;
		snprintf(tag, sizeof(tag), "slot%u", i);
		ret = load_section(m, in, tag, VIRTIO_MMIO_STATE_VERSION, st, sizeof(*st));
		if (ret == 0) {
			ret = virtio_mmio_restore(m->slots[i]->mmio, st);
			if (ret < 0)
				set_err(m, "-incoming: %s: the snapshot's state %s",
					m->slots[i]->name,
					ret == -EINVAL ? "is out of range"
						       : "could not be restored");
		}
		free(st);
	}
	if (ret == 0 && m->vserial && (ret = vcon_restore_end(vserial_vcon(m->vserial))) < 0)
		set_err(m, "-incoming: the snapshot's vserial state disagrees with its transport");
	/* Every connection the guest had ended with the old process: the guest hears so. */
	if (ret == 0 && m->vsock.vs)
		vsock_restored(m->vsock.vs);
	return ret;
}

/*
 * -incoming: the machine set up as for a boot, its state is loaded from the
 * snapshot before any vCPU runs. Anything wrong with the file is the user's
 * input (exit 2).
 */
static int restore_init(struct machine *m)
{
	const char *path = m->cfg->incoming;
	const struct gmem *g = vm_gmem(m->vm);
	struct snap_region r[SNAP_MAX_REGIONS];
	struct snap_in *in = NULL;
	struct vm_state vs;
	struct timespec t0;
	int64_t since_save = 0;
	char why[256] = "";
	int fd, ret;
	unsigned int n;

	if (!path)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	m->usage_error = true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(m, "-incoming: cannot open %s (%s)", path, strerror(errno));
		return ret;
	}
	ret = snap_in_open(&in, fd, why, sizeof(why));
	if (ret < 0) {
		set_err(m, "-incoming: %s: %s", path, why);
		close(fd);
		return ret;
	}
	ret = restore_check(m, in);
	if (ret < 0)
		goto out;
	n = snap_in_regions(in, r);
	for (unsigned int i = 0; i < n && n == g->nr; i++) {
		if (r[i].gpa != g->r[i].gpa || r[i].size != g->r[i].size)
			n = 0;
	}
	if (n != g->nr) {
		set_err(m, "-incoming: the snapshot's RAM is laid out otherwise than -m gives");
		ret = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		ret = snap_in_map(in, i, g->r[i].host);
		if (ret < 0) {
			set_err(m, "-incoming: mapping guest RAM from %s: %s", path,
				strerror(-ret));
			m->usage_error = false;
			goto out;
		}
	}
	ret = load_section(m, in, "vm", VM_STATE_VERSION, &vs, sizeof(vs));
	if (ret == 0 && (ret = vm_restore_state(m->vm, &vs, &since_save)) < 0)
		set_err(m, "-incoming: KVM refused the snapshot's interrupt controllers or clock");
	for (unsigned int i = 0; ret == 0 && i < m->cfg->nr_vcpus; i++) {
		struct vcpu *v = vm_vcpu(m->vm, i);
		uint64_t khz = vcpu_tsc_khz(v);
		char tag[SNAP_TAG_LEN];
		const void *blob;
		uint32_t len;

		snprintf(tag, sizeof(tag), "cpu%u", i);
		blob = snap_in_find(in, tag, 1, &len, &ret);
		if (!blob) {
			set_err(m, "-incoming: the snapshot has no usable state for vCPU %u", i);
			break;
		}
		/* The TSC runs on as the wall clock did while the snapshot lay in its file. */
		ret = vcpu_restore_state(v, blob, len, (uint64_t)since_save / 1000 * khz / 1000);
		if (ret < 0)
			set_err(m, "-incoming: vCPU %u's state could not be restored (%s)", i,
				strerror(-ret));
	}
	if (ret == 0)
		ret = restore_devices(m, in);
	if (ret == 0 && snap_in_unread(in)) {
		set_err(m, "-incoming: the snapshot holds %s, which this machine does not have",
			snap_in_unread(in));
		ret = -EINVAL;
	}
	if (ret < 0)
		goto out;
	for (unsigned int i = 0; i < m->cfg->nr_vcpus; i++)
		vcpu_clock_stopped(vm_vcpu(m->vm, i));
	m->usage_error = false;
	log_info("restored from %s in %llu ms; it was saved %lld ms ago", path,
		 (unsigned long long)elapsed_ms(&t0), (long long)(since_save / 1000000));
out:
	snap_in_close(in);
	close(fd); /* the RAM mappings keep the file */
	return ret;
}

/* --- QMP ------------------------------------------------------------------------------ */

/* How long stop waits for every vCPU to leave KVM_RUN. */
#define QMP_PAUSE_TIMEOUT_MS 5000

static enum qmp_run_state qmp_state(void *opaque)
{
	struct machine *m = opaque;

	if (vm_stop_requested(m->vm))
		return QMP_SHUTDOWN;
	if (!vm_paused(m->vm))
		return QMP_RUNNING;
	return m->snap.since ? QMP_POSTMIGRATE : QMP_PAUSED;
}

static int qmp_stop(void *opaque, char *err, size_t errlen)
{
	struct machine *m = opaque;
	int ret = vm_pause(m->vm, QMP_PAUSE_TIMEOUT_MS);

	if (ret == -EALREADY)
		return 0;
	if (ret < 0) {
		snprintf(err, errlen, "the vCPUs did not stop: %s", strerror(-ret));
		return ret;
	}
	log_info("QMP: paused");
	qmp_emit(m, "STOP", NULL);
	return 0;
}

static int qmp_cont(void *opaque, char *err, size_t errlen)
{
	struct machine *m = opaque;
	int ret = vm_resume(m->vm);

	(void)err;
	(void)errlen;
	if (ret == -EALREADY)
		return 0;
	m->snap.since = false;
	log_info("QMP: resumed");
	qmp_emit(m, "RESUME", NULL);
	return 0;
}

static int qmp_powerdown(void *opaque, char *err, size_t errlen)
{
	struct machine *m = opaque;

	if (!__atomic_load_n(&m->have_pm, __ATOMIC_ACQUIRE)) {
		snprintf(err, errlen, "the machine has no ACPI power button (-no-acpi)");
		return -ENODEV;
	}
	/* Pressed whether or not the guest listens yet, as QEMU's is. */
	if (!acpi_pm_power_button(&m->pm))
		log_info("QMP: pressed the power button; the guest has not enabled it");
	qmp_emit(m, "POWERDOWN", NULL);
	return 0;
}

static int qmp_migrate(void *opaque, const char *path, char *err, size_t errlen)
{
	struct machine *m = opaque;
	int ret = 0;

	if (!vm_paused(m->vm)) {
		/* As QEMU leaves its source after a migration: paused. */
		ret = qmp_stop(m, err, errlen);
	}
	if (ret == 0)
		ret = snap_write(m, path, err, errlen);
	m->snap.done = ret == 0;
	m->snap.failed = ret < 0;
	m->snap.since = ret == 0;
	snprintf(m->snap.err, sizeof(m->snap.err), "%s", ret < 0 ? err : "");
	if (ret < 0)
		log_info("QMP: migrate to %s failed: %s", path, err);
	return ret;
}

static void query_migrate(struct machine *m, struct jbuf *b)
{
	const struct snap_stats *st = &m->snap.st;

	if (m->snap.failed) {
		jbuf_printf(b, "{\"status\": \"failed\", \"error-desc\": ");
		jbuf_string(b, m->snap.err, strlen(m->snap.err));
		jbuf_printf(b, "}");
	} else if (m->snap.done) {
		jbuf_printf(b,
			    "{\"status\": \"completed\", \"total-time\": %llu, \"downtime\": %llu, "
			    "\"ram\": {\"total\": %llu, \"transferred\": %llu, \"remaining\": 0, "
			    "\"duplicate\": %llu, \"normal\": %llu, \"normal-bytes\": %llu}}",
			    (unsigned long long)m->snap.ms, (unsigned long long)m->snap.ms,
			    (unsigned long long)m->cfg->ram_size,
			    (unsigned long long)(st->ram_bytes + st->state_bytes),
			    (unsigned long long)st->zero_pages,
			    (unsigned long long)(st->ram_bytes / GMEM_PAGE_SIZE),
			    (unsigned long long)st->ram_bytes);
	} else {
		jbuf_printf(b, "{}");
	}
}

static void qmp_reset(void *opaque)
{
	struct machine *m = opaque;

	/* A reset ends ember, as with QEMU's -no-reboot. */
	log_info("QMP: system_reset; ending");
	vm_request_shutdown(m->vm, EMBER_EXIT_OK, "host-qmp-system-reset", false);
}

static void qmp_quit(void *opaque)
{
	struct machine *m = opaque;

	log_info("QMP: quit");
	vm_request_shutdown(m->vm, EMBER_EXIT_OK, "host-qmp-quit", false);
}

static void query_cpus(struct machine *m, struct jbuf *b)
{
	const struct ember_config *cfg = m->cfg;

	jbuf_printf(b, "[");
	for (unsigned int i = 0; i < cfg->nr_vcpus; i++) {
		struct vcpu *v = vm_vcpu(m->vm, i);

		/* vCPU i has APIC ID i: threads, then cores, then packages. */
		jbuf_printf(
			b,
			"%s{\"cpu-index\": %u, \"qom-path\": \"/machine/unattached/device[%u]\", "
			"\"thread-id\": %d, \"props\": {\"core-id\": %u, \"thread-id\": %u, "
			"\"socket-id\": %u}, \"target\": \"x86_64\"}",
			i ? ", " : "", i, i, v ? (int)vcpu_thread_id(v) : 0,
			(i / cfg->threads) % cfg->cores, i % cfg->threads,
			i / (cfg->threads * cfg->cores));
	}
	jbuf_printf(b, "]");
}

static void query_block(struct machine *m, struct jbuf *b)
{
	static const char *const caches[][3] = {
		/* writeback, direct, no-flush */
		[DISK_CACHE_WRITEBACK] = { "true", "false", "false" },
		[DISK_CACHE_NONE] = { "true", "true", "false" },
		[DISK_CACHE_UNSAFE] = { "true", "false", "true" },
		[DISK_CACHE_DIRECTSYNC] = { "false", "true", "false" },
	};

	jbuf_printf(b, "[");
	for (unsigned int i = 0; i < m->nr_blk; i++) {
		const struct cli_drive *d = &m->cfg->drives[m->cfg->blk[i].drive];
		struct disk *disk = m->blk[i].disk;
		const char *fmt = disk_cluster_size(disk) ? "qcow2" : "raw";
		char dev[8];
		const char *const *c = caches[d->cache];

		snprintf(dev, sizeof(dev), "vd%c", 'a' + i);
		jbuf_printf(b, "%s{\"device\": ", i ? ", " : "");
		jbuf_string(b, d->id ? d->id : dev, strlen(d->id ? d->id : dev));
		jbuf_printf(b,
			    ", \"qdev\": \"/machine/peripheral-anon/device[%u]/virtio-backend\", "
			    "\"locked\": false, \"removable\": false, \"type\": \"unknown\", "
			    "\"inserted\": {\"file\": ",
			    i);
		jbuf_string(b, d->file, strlen(d->file));
		jbuf_printf(b,
			    ", \"ro\": %s, \"drv\": \"%s\", \"encrypted\": false, "
			    "\"detect_zeroes\": \"off\", \"bps\": 0, \"bps_rd\": 0, \"bps_wr\": 0, "
			    "\"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0, \"write_threshold\": 0, "
			    "\"cache\": {\"writeback\": %s, \"direct\": %s, \"no-flush\": %s}, "
			    "\"image\": {\"filename\": ",
			    disk_readonly(disk) ? "true" : "false", fmt, c[0], c[1], c[2]);
		jbuf_string(b, d->file, strlen(d->file));
		jbuf_printf(b, ", \"format\": \"%s\", \"virtual-size\": %llu}}}", fmt,
			    (unsigned long long)disk_size(disk));
	}
	jbuf_printf(b, "]");
}

/* One query-chardev entry: its label, its backend as QEMU writes it, whether in use. */
static void chardev_entry(struct jbuf *b, bool first, const char *label,
			  const struct chardev_spec *spec)
{
	jbuf_printf(b, "%s{\"label\": ", first ? "" : ", ");
	jbuf_string(b, label, strlen(label));
	jbuf_printf(b, ", \"filename\": ");
	switch (spec->kind) {
	case CHARDEV_NONE:
		jbuf_string(b, "null", 4);
		break;
	case CHARDEV_STDIO:
		jbuf_string(b, "stdio", 5);
		break;
	case CHARDEV_FILE:
	case CHARDEV_SOCKET: {
		char name[160];

		snprintf(name, sizeof(name), "%s:%s%s",
			 spec->kind == CHARDEV_FILE ? "file" : "unix", spec->path,
			 spec->kind == CHARDEV_FILE ? "" : ",server=on");
		jbuf_string(b, name, strlen(name));
		break;
	}
	}
	jbuf_printf(b, ", \"frontend-open\": true}");
}

static void query_chardev(struct machine *m, struct jbuf *b)
{
	const struct ember_config *cfg = m->cfg;
	bool first = true;

	jbuf_printf(b, "[");
	/* COM1's own backend, when -serial named no -chardev. */
	if (cfg->serial.kind != CHARDEV_NONE && !cfg->serial_chardev) {
		chardev_entry(b, first, "serial0", &cfg->serial);
		first = false;
	}
	for (unsigned int i = 0; i < cfg->nr_chardevs; i++) {
		chardev_entry(b, first, cfg->chardevs[i].id, &cfg->chardevs[i].spec);
		first = false;
	}
	jbuf_printf(b, "]");
}

static void qmp_query(void *opaque, const char *command, struct jbuf *b)
{
	struct machine *m = opaque;

	if (strcmp(command, "query-cpus-fast") == 0)
		query_cpus(m, b);
	else if (strcmp(command, "query-block") == 0)
		query_block(m, b);
	else if (strcmp(command, "query-migrate") == 0)
		query_migrate(m, b);
	else
		query_chardev(m, b);
}

static int qmp_init(struct machine *m)
{
	static const struct qmp_ops ops = {
		.state = qmp_state,
		.stop = qmp_stop,
		.cont = qmp_cont,
		.powerdown = qmp_powerdown,
		.reset = qmp_reset,
		.quit = qmp_quit,
		.migrate = qmp_migrate,
		.query = qmp_query,
	};
	struct qmp_ops o = ops;
	const char *path;
	int ret;

	if (!m->cfg->has_qmp)
		return 0;
	path = m->cfg->chardevs[m->cfg->qmp_chardev].spec.path;
	o.opaque = m;
	ret = monitor_open(&m->mon, path, vm_evloop(m->vm), &o, m->cfg->name);
	if (ret < 0)
		set_err(m, "QMP: cannot listen on %s (%s)", path, strerror(-ret));
	else
		log_info("QMP: listening on %s", path);
	return ret;
}

/* After the loop has stopped: SHUTDOWN, with why, the client's last words. */
static void qmp_fini(struct machine *m)
{
	char data[128];
	const char *reason = NULL;
	bool guest = false;

	if (!m->mon)
		return;
	if (vm_stop_requested(m->vm))
		reason = vm_stop_reason(m->vm, &guest);
	if (reason)
		snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": \"%s\"}",
			 guest ? "true" : "false", reason);
	monitor_close(m->mon, reason ? "SHUTDOWN" : NULL, reason ? data : NULL);
	m->mon = NULL;
}

static int start_init(struct machine *m)
{
	int ret = vm_start(m->vm);

	if (ret < 0)
		set_err(m, "starting threads: %s", strerror(-ret));
	return ret;
}

static void start_fini(struct machine *m)
{
	vm_stop(m->vm);
}

/*
 * Before anything is opened: -runas and -chroot are checked (bad ones are
 * bad usage), and the seccomp filters built, so a kernel that cannot run
 * them stops ember here. Threads that set-up starts wait at the gate until
 * privileges are dropped.
 */
static int sandbox_init(struct machine *m)
{
	const struct ember_config *cfg = m->cfg;
	int ret = jail_prepare(cfg->runas_user, cfg->runas_group, cfg->chroot_dir, geteuid(),
			       &m->jail, m->err, sizeof(m->err));

	if (ret < 0) {
		m->usage_error = true;
		return ret;
	}
	if (!cfg->sandbox)
		return 0;
	thread_gate_close();
	return sandbox_prepare(cfg->sandbox_debug || log_enabled(LOG_LVL_DEBUG), m->err,
			       sizeof(m->err));
}

/* Lets waiting threads go when set-up failed before the drop; they confine themselves. */
static void sandbox_fini(struct machine *m)
{
	(void)m;
	thread_gate_open();
}

/* Everything is open: chroot, uid and gid, no capabilities, no new privileges. */
static int drop_init(struct machine *m)
{
	int ret = jail_enter(&m->jail, m->err, sizeof(m->err));

	if (ret == 0)
		thread_gate_open();
	return ret;
}

/* Every other thread runs confined now; the main thread only waits and tears down. */
static int confine_init(struct machine *m)
{
	int ret = sandbox_enter(SANDBOX_MAIN, "ember");

	if (ret < 0)
		set_err(m, "installing the main thread's seccomp filter: %s", strerror(-ret));
	return ret;
}

/*
 * A step reports its own failure exactly once: in m->err, or through the
 * layer it called, which logged it. A fini undoes whatever part of its init
 * got done, so it also runs for the step that failed.
 */
struct machine_step {
	const char *name;
	int (*init)(struct machine *m);
	void (*fini)(struct machine *m); /* NULL: nothing to undo beyond later steps */
};

/* The set-up order; teardown runs it backwards from the last step attempted. */
/* One step a line. */
/* clang-format off */
static const struct machine_step steps[] = {
	{ "sandbox", sandbox_init, sandbox_fini },
	{ "inputs", inputs_init, inputs_fini },
	{ "kvm", kvm_init, kvm_fini },
	{ "memory", memory_init, NULL },
	{ "irqchip", irqchip_init, NULL },
	{ "cpuid", cpuid_init, cpuid_fini },
	{ "signals", signals_init, signals_fini },
	{ "devices", devices_init, devices_fini },
	{ "virtio", virtio_init, virtio_fini },
	{ "nics", nics_init, nics_fini },
	{ "rngs", rngs_init, rngs_fini },
	{ "vserial", vserial_init, vserial_fini },
	{ "vsock", vsock_init, vsock_fini },
	{ "qmp", qmp_init, qmp_fini },
	{ "firmware", firmware_init, NULL },
	{ "vcpus", vcpus_init, NULL },
	{ "restore", restore_init, NULL },
	{ "drop", drop_init, NULL },
	{ "start", start_init, start_fini },
	{ "confine", confine_init, NULL },
};
/* clang-format on */

#define NR_STEPS (sizeof(steps) / sizeof(steps[0]))

static void teardown(struct machine *m, size_t done)
{
	while (done--) {
		if (steps[done].fini)
			steps[done].fini(m);
	}
}

int machine_run(const struct ember_config *cfg)
{
	struct machine m = { .cfg = cfg, .sigfd = -1, .shutdown_timer = -1, .pit_timer = -1 };
	size_t done;
	int code;

	for (done = 0; done < NR_STEPS; done++) {
		int ret;

		log_debug("set-up step: %s", steps[done].name);
		ret = steps[done].init(&m);
		if (ret < 0) {
			/*
			 * Bad input gets its one line as it is; other failures
			 * name the step, after whatever the layer below logged.
			 */
			if (m.err[0] && m.usage_error)
				log_err("%s", m.err);
			else if (m.err[0])
				log_err("%s: %s", steps[done].name, m.err);
			else if (!m.usage_error)
				log_err("set-up step '%s' failed (%s)", steps[done].name,
					strerror(-ret));
			code = m.usage_error ? EMBER_EXIT_USAGE : EMBER_EXIT_FAILURE;
			teardown(&m, done + 1);
			return code;
		}
	}
	code = vm_wait(m.vm);
	teardown(&m, done);
	if (m.lost_writes && code == EMBER_EXIT_OK)
		code = EMBER_EXIT_FAILURE;
	return code;
}
