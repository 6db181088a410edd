// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/cli.h"
#include "unit.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define MiB (1ULL << 20)

static struct ember_config cfg;
static char err[512];

/* Parses a NULL-terminated list of arguments (argv[0] is added). */
static int parse(const char *first, ...)
{
	char *argv[32] = { (char *)"ember" };
	int argc = 1;
	va_list ap;
	const char *a;

	va_start(ap, first);
	for (a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	return cli_parse(argc, argv, &cfg, err, sizeof(err));
}

/* The parse fails with a one-line message that contains `needle`. */
static void fails_with(int ret, const char *needle)
{
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_msg(strstr(err, needle), "'%s' not in '%s'", needle, err);
	ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(defaults)
{
	ck_assert_int_eq(parse("-bios", "fw.bin", NULL), 0);
	ck_assert_uint_eq(cfg.ram_size, 128 * MiB);
	ck_assert_uint_eq(cfg.nr_vcpus, 1);
	ck_assert_str_eq(cfg.bios, "fw.bin");
	ck_assert(!cfg.has_debugcon);
	ck_assert_uint_eq(cfg.nr_debug_exit, 0);
}
END_TEST

START_TEST(memory_sizes)
{
	static const struct {
		const char *arg;
		uint64_t bytes;
	} ok[] = {
		{ "512", 512 * MiB },	     { "512M", 512 * MiB }, { "2G", 2048 * MiB },
		{ "1g", 1024 * MiB },	     { "4096k", 4 * MiB },  { "size=64M", 64 * MiB },
		{ "1T", 1024 * 1024 * MiB }, { "1048576B", MiB },
	};

	for (unsigned int i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(parse("-bios", "f", "-m", ok[i].arg, NULL), 0);
		ck_assert_uint_eq(cfg.ram_size, ok[i].bytes);
	}
}
END_TEST

START_TEST(memory_errors)
{
	fails_with(parse("-bios", "f", "-m", "abc", NULL), "-m: invalid size 'abc'");
	fails_with(parse("-bios", "f", "-m", "", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "-1", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "1.5G", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "12X", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "1GG", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "0", NULL), "too small");
	fails_with(parse("-bios", "f", "-m", "64k", NULL), "too small");
	fails_with(parse("-bios", "f", "-m", "2T", NULL), "too large");
	fails_with(parse("-bios", "f", "-m", "99999999999999999999", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "18014398509481984", NULL), "-m: invalid size");
	fails_with(parse("-bios", "f", "-m", "1048577B", NULL), "multiple of 4K");
}
END_TEST

START_TEST(smp)
{
	ck_assert_int_eq(parse("-bios", "f", "-smp", "4", NULL), 0);
	ck_assert_uint_eq(cfg.nr_vcpus, 4);
	ck_assert_int_eq(parse("-bios", "f", "-smp", "cpus=2", NULL), 0);
	ck_assert_uint_eq(cfg.nr_vcpus, 2);
	fails_with(parse("-bios", "f", "-smp", "0", NULL), "at least one vCPU");
	fails_with(parse("-bios", "f", "-smp", "x", NULL), "-smp: invalid vCPU count 'x'");
	fails_with(parse("-bios", "f", "-smp", "-2", NULL), "-smp: invalid");
	fails_with(parse("-bios", "f", "-smp", "5000", NULL), "more than ember supports");
	ck_assert_int_eq(parse("-bios", "f", "-smp", "254", NULL), 0);
	fails_with(parse("-bios", "f", "-smp", "4,sockets=2", NULL), "only a vCPU count");
}
END_TEST

START_TEST(debug_exit_devices)
{
	ck_assert_int_eq(parse("-bios", "f", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
			       "-device", "isa-debug-exit", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_debug_exit, 2);
	ck_assert_uint_eq(cfg.debug_exit[0].iobase, 0xf4);
	ck_assert_uint_eq(cfg.debug_exit[0].iosize, 4);
	ck_assert_uint_eq(cfg.debug_exit[1].iobase, 0x501); /* QEMU's defaults */
	ck_assert_uint_eq(cfg.debug_exit[1].iosize, 2);

	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,port=1", NULL),
		   "unknown property 'port=1'");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=zz", NULL),
		   "invalid number in 'iobase=zz'");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=", NULL),
		   "invalid number");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=0x10000", NULL),
		   "beyond the I/O port space");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=0xffff,iosize=2", NULL),
		   "does not fit");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iosize=0", NULL), "does not fit");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=1,iosize=0x10000", NULL),
		   "does not fit");
	/* A size that would wrap a 64-bit sum back into range. */
	fails_with(parse("-bios", "f", "-device",
			 "isa-debug-exit,iobase=0x10,iosize=0xfffffffffffffff8", NULL),
		   "does not fit");
	/* The whole port space is one window, and still fits. */
	ck_assert_int_eq(
		parse("-bios", "f", "-device", "isa-debug-exit,iobase=0,iosize=0x10000", NULL), 0);
	ck_assert_uint_eq(cfg.debug_exit[0].iosize, 0x10000);
	fails_with(parse("-bios", "f", "-device", "virtio-gpu", NULL),
		   "unknown device 'virtio-gpu'");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit", "-device", "isa-debug-exit",
			 "-device", "isa-debug-exit", "-device", "isa-debug-exit", "-device",
			 "isa-debug-exit", NULL),
		   "at most 4");
	ck_assert_int_eq(parse("-device", "help", NULL), 0);
	ck_assert(cfg.list_devices);
}
END_TEST

START_TEST(debugcon)
{
	ck_assert_int_eq(parse("-bios", "f", "-debugcon", "stdio", NULL), 0);
	ck_assert(cfg.has_debugcon);
	ck_assert_int_eq(cfg.debugcon.kind, CHARDEV_STDIO);
	ck_assert_int_eq(parse("-bios", "f", "-debugcon", "file:/tmp/x", NULL), 0);
	ck_assert_int_eq(cfg.debugcon.kind, CHARDEV_FILE);
	ck_assert_str_eq(cfg.debugcon.path, "/tmp/x");
	ck_assert_int_eq(parse("-bios", "f", "-debugcon", "none", NULL), 0);
	ck_assert_int_eq(cfg.debugcon.kind, CHARDEV_NONE);
	fails_with(parse("-bios", "f", "-debugcon", "tcp:1234", NULL),
		   "-debugcon: unknown backend");
	fails_with(parse("-bios", "f", "-debugcon", "file:", NULL), "-debugcon: unknown backend");
}
END_TEST

START_TEST(general_errors)
{
	fails_with(parse("-bios", "f", "-frobnicate", NULL), "unknown option '-frobnicate'");
	fails_with(parse("-bios", "f", "-m", NULL), "option '-m' needs an argument");
	fails_with(parse("-bios", "f", "stray", NULL), "unexpected argument 'stray'");
	fails_with(parse("-bios", "f", "-", NULL), "unexpected argument '-'");
	fails_with(parse("-bios", "", NULL), "-bios: empty file name");
	fails_with(parse(NULL), "nothing to run");
	fails_with(parse("-m", "1G", NULL), "nothing to run");
}
END_TEST

START_TEST(help_and_version_need_nothing_else)
{
	ck_assert_int_eq(parse("-h", NULL), 0);
	ck_assert(cfg.help);
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert(cfg.help);
	ck_assert_int_eq(parse("--version", NULL), 0);
	ck_assert(cfg.version);
	ck_assert_int_eq(parse("-version", NULL), 0);
	ck_assert(cfg.version);
	/* Both spellings of an option work, as in QEMU. */
	ck_assert_int_eq(parse("--bios", "f", "--m", "256", NULL), 0);
	ck_assert_uint_eq(cfg.ram_size, 256 * MiB);
}
END_TEST

START_TEST(later_options_win)
{
	ck_assert_int_eq(parse("-bios", "a", "-m", "256", "-bios", "b", "-m", "512", NULL), 0);
	ck_assert_str_eq(cfg.bios, "b");
	ck_assert_uint_eq(cfg.ram_size, 512 * MiB);
}
END_TEST

START_TEST(linux_options)
{
	ck_assert_int_eq(parse("-kernel", "bzImage", "-initrd", "initrd.img", "-append",
			       "root=/dev/vda rw", "-m", "1G", "-smp", "4", NULL),
			 0);
	ck_assert_str_eq(cfg.kernel, "bzImage");
	ck_assert_str_eq(cfg.initrd, "initrd.img");
	ck_assert_str_eq(cfg.append, "root=/dev/vda rw");
	ck_assert_ptr_null(cfg.bios);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_STDIO); /* the default */
	ck_assert_int_eq(parse("-kernel", "k", "-append", "", NULL), 0);
	ck_assert_str_eq(cfg.append, "");
}
END_TEST

START_TEST(serial_and_accepted_flags)
{
	ck_assert_int_eq(parse("-kernel", "k", "-serial", "none", NULL), 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_NONE);
	ck_assert_int_eq(parse("-kernel", "k", "-serial", "file:console.log", NULL), 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_FILE);
	ck_assert_str_eq(cfg.serial.path, "console.log");
	ck_assert_int_eq(parse("-kernel", "k", "-serial", "mon:stdio", NULL), 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_STDIO);
	ck_assert_int_eq(parse("-kernel", "k", "-nographic", "-display", "none", "-no-reboot",
			       "-enable-kvm", "-nodefaults", NULL),
			 0);
	ck_assert_int_eq(parse("-kernel", "k", "-name", "web1", NULL), 0);
	ck_assert_str_eq(cfg.name, "web1");
	ck_assert_int_eq(parse("-kernel", "k", "-name", "guest=db", NULL), 0);
	ck_assert_str_eq(cfg.name, "db");
}
END_TEST

START_TEST(linux_option_errors)
{
	fails_with(parse("-kernel", "", NULL), "-kernel: empty file name");
	fails_with(parse("-kernel", "k", "-initrd", "", NULL), "-initrd: empty file name");
	fails_with(parse("-initrd", "i", NULL), "-initrd needs -kernel");
	fails_with(parse("-bios", "f", "-append", "x", NULL), "-append needs -kernel");
	fails_with(parse("-kernel", "k", "-bios", "f", NULL), "cannot be combined");
	fails_with(parse("-kernel", "k", "-serial", "pty", NULL), "-serial: unknown backend 'pty'");
	fails_with(parse("-kernel", "k", "-display", "gtk", NULL), "only '-display none'");
	fails_with(parse("-kernel", "k", "-name", "", NULL), "-name: give a name");
	fails_with(parse("-kernel", "k", "-name", "a,debug-threads=on", NULL),
		   "-name: give a name");
	fails_with(parse("-kernel", "k", "-smp", "255", NULL), "more than ember supports (254)");
	fails_with(parse("-kernel", NULL), "option '-kernel' needs an argument");
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, memory_sizes);
	tcase_add_test(tc, memory_errors);
	tcase_add_test(tc, smp);
	tcase_add_test(tc, debug_exit_devices);
	tcase_add_test(tc, debugcon);
	tcase_add_test(tc, general_errors);
	tcase_add_test(tc, help_and_version_need_nothing_else);
	tcase_add_test(tc, later_options_win);
	tcase_add_test(tc, linux_options);
	tcase_add_test(tc, serial_and_accepted_flags);
	tcase_add_test(tc, linux_option_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(cli_suite());
}
