// SPDX-License-Identifier: MIT
#include "config.h"

#include "machine.h"
#include "bus.h"
#include "chardev.h"
#include "cli.h"
#include "evloop.h"
#include "log.h"
#include "vm.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "firmware/bios.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct machine {
	const struct ember_config *cfg;
	struct vm *vm;
	int sigfd;
	struct chardev *debugcon_out;
	struct debugcon debugcon;
	struct debug_exit debug_exit[CLI_MAX_DEBUG_EXIT];
	struct bios_image bios;
	/* Set by a step that failed because of the user's input: exit 2. */
	bool usage_error;
	char err[512];
};

__attribute__((format(printf, 2, 3))) static void set_err(struct machine *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
}

/* The firmware image is read and checked before anything is opened. */
static int firmware_load_init(struct machine *m)
{
	int ret = bios_load(&m->bios, m->cfg->bios, m->err, sizeof(m->err));

	m->usage_error = ret < 0;
	return ret;
}

static void firmware_load_fini(struct machine *m)
{
	bios_free(&m->bios);
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

static void on_signal(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(m->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	log_info("received signal %u (%s); stopping", si.ssi_signo, strsignal((int)si.ssi_signo));
	vm_request_stop(m->vm, EMBER_EXIT_SIGNAL_BASE + (int)si.ssi_signo);
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
	if (m->debugcon_out && chardev_dropped(m->debugcon_out))
		log_warn("debug console: %llu bytes dropped because the output was full",
			 (unsigned long long)chardev_dropped(m->debugcon_out));
	chardev_close(m->debugcon_out);
	m->debugcon_out = NULL;
}

static int firmware_init(struct machine *m)
{
	int ret = vm_add_rom(m->vm, bios_base(&m->bios), m->bios.data, m->bios.size);

	if (ret < 0)
		set_err(m, "mapping the BIOS image: %s", strerror(-ret));
	return ret;
}

static int vcpus_init(struct machine *m)
{
	return vm_create_vcpus(m->vm, m->cfg->nr_vcpus); /* reports its own failures */
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
static const struct machine_step steps[] = {
	{"firmware-load", firmware_load_init, firmware_load_fini},
	{"kvm", kvm_init, kvm_fini},
	{"memory", memory_init, NULL},
	{"irqchip", irqchip_init, NULL},
	{"signals", signals_init, signals_fini},
	{"devices", devices_init, devices_fini},
	{"firmware", firmware_init, NULL},
	{"vcpus", vcpus_init, NULL},
	{"start", start_init, start_fini},
};

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
	struct machine m = {.cfg = cfg, .sigfd = -1};
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
	return code;
}
