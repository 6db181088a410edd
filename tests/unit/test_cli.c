// SPDX-License-Identifier: MIT
#include "config.h"

#include "app/cli.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define MiB (1ULL << 20)

static struct ember_config cfg;
static char err[512];

/* Parses a NULL-terminated list of arguments (argv[0] is added). */
static int parse(const char *first, ...)
{
	char *argv[48] = { (char *)"ember" };
	int argc = 1;
	va_list ap;
	const char *a;

	va_start(ap, first);
	for (a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	return cli_parse(argc, argv, &cfg, err, sizeof(err));
}

/* An argument list built a piece at a time, for option lists too long to spell out. */
static struct {
	char *argv[160];
	int argc;
	char room[8192];
	size_t used;
} ab;

static void ab_reset(void)
{
	ab.argv[0] = (char *)"ember";
	ab.argc = 1;
	ab.used = 0;
}

__attribute__((format(printf, 1, 2))) static void ab_add(const char *fmt, ...)
{
	va_list ap;
	int n;

	ck_assert_int_lt(ab.argc, 159);
	va_start(ap, fmt);
	n = vsnprintf(ab.room + ab.used, sizeof(ab.room) - ab.used, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(ab.room) - ab.used);
	ab.argv[ab.argc++] = ab.room + ab.used;
	ab.used += (size_t)n + 1;
}

static int ab_parse(void)
{
	return cli_parse(ab.argc, ab.argv, &cfg, err, sizeof(err));
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
	ck_assert_uint_eq(cfg.shutdown_timeout, CLI_DEFAULT_SHUTDOWN_TIMEOUT);
	ck_assert(cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
	ck_assert_ptr_null(cfg.runas_user);
	ck_assert_ptr_null(cfg.runas_group);
	ck_assert_ptr_null(cfg.chroot_dir);
}
END_TEST

START_TEST(shutdown_timeout)
{
	ck_assert_int_eq(parse("-kernel", "k", "-shutdown-timeout", "5", NULL), 0);
	ck_assert_uint_eq(cfg.shutdown_timeout, 5);
	ck_assert_int_eq(parse("-kernel", "k", "--shutdown-timeout", "0", NULL), 0);
	ck_assert_uint_eq(cfg.shutdown_timeout, 0);
	ck_assert_int_eq(parse("-kernel", "k", "-shutdown-timeout", "86400", NULL), 0);
	fails_with(parse("-kernel", "k", "-shutdown-timeout", "86401", NULL), "-shutdown-timeout");
	fails_with(parse("-kernel", "k", "-shutdown-timeout", "-1", NULL), "not '-1'");
	fails_with(parse("-kernel", "k", "-shutdown-timeout", "5s", NULL), "whole seconds");
	fails_with(parse("-kernel", "k", "-shutdown-timeout", "", NULL), "-shutdown-timeout");
	fails_with(parse("-kernel", "k", "-shutdown-timeout", NULL), "needs an argument");
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
	fails_with(parse("-bios", "f", "-smp", "", NULL), "give a vCPU count");
}
END_TEST

/* What QEMU's x86 machines make of a partial topology, sockets first. */
static void topology(const char *arg, unsigned int cpus, unsigned int cores, unsigned int threads)
{
	ck_assert_msg(parse("-bios", "f", "-smp", arg, NULL) == 0, "%s: %s", arg, err);
	ck_assert_uint_eq(cfg.nr_vcpus, cpus);
	ck_assert_uint_eq(cfg.cores, cores);
	ck_assert_uint_eq(cfg.threads, threads);
}

START_TEST(smp_topology)
{
	ck_assert_int_eq(parse("-bios", "f", NULL), 0);
	ck_assert_uint_eq(cfg.cores, 1);
	ck_assert_uint_eq(cfg.threads, 1);
	topology("4", 4, 1, 1); /* four packages */
	topology("4,sockets=2", 4, 2, 1);
	topology("4,cores=4", 4, 4, 1);
	topology("8,sockets=2,threads=2", 8, 2, 2);
	topology("sockets=2,cores=2,threads=2", 8, 2, 2);
	topology("cores=4", 4, 4, 1);
	topology("cpus=4,sockets=1,cores=4,threads=1,maxcpus=4", 4, 4, 1);
	topology("maxcpus=2", 2, 1, 1);
	fails_with(parse("-bios", "f", "-smp", "4,sockets=3", NULL), "is not 4 vCPUs");
	fails_with(parse("-bios", "f", "-smp", "4,sockets=2,cores=4", NULL), "is not 4 vCPUs");
	fails_with(parse("-bios", "f", "-smp", "6,cores=3", NULL), "powers of two");
	fails_with(parse("-bios", "f", "-smp", "6,sockets=2", NULL), "powers of two");
	fails_with(parse("-bios", "f", "-smp", "4,maxcpus=8", NULL), "no CPU hotplug");
	fails_with(parse("-bios", "f", "-smp", "4,dies=2", NULL), "dies= is not supported");
	fails_with(parse("-bios", "f", "-smp", "4,books=2", NULL), "unknown property 'books'");
	fails_with(parse("-bios", "f", "-smp", "4,cpus=4", NULL), "cpus is given twice");
	fails_with(parse("-bios", "f", "-smp", "4,cores=0", NULL), "cores must be at least 1");
	fails_with(parse("-bios", "f", "-smp", "4,cores=x", NULL), "invalid cores 'x'");
	fails_with(parse("-bios", "f", "-smp", "4,cores", NULL), "invalid cores ''");
	fails_with(parse("-bios", "f", "-smp", "sockets=200,cores=2", NULL), "400 vCPUs is more");
	fails_with(parse("-bios", "f", "-smp", "4,threads=300", NULL), "more than ember supports");
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
		   "unknown property 'port' (it has iobase, iosize)");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=zz", NULL),
		   "invalid number in 'iobase=zz'");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=", NULL),
		   "invalid number");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=0x10000", NULL),
		   "iobase=0x10000 is out of range (0 to 65535)");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=0xffff,iosize=2", NULL),
		   "does not fit");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iosize=0", NULL),
		   "iosize=0 is out of range (1 to 65536)");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit,iobase=1,iosize=0x10000", NULL),
		   "does not fit");
	/* A size that would wrap a 64-bit sum back into range. */
	fails_with(parse("-bios", "f", "-device",
			 "isa-debug-exit,iobase=0x10,iosize=0xfffffffffffffff8", NULL),
		   "out of range (1 to 65536)");
	/* The whole port space is one window, and still fits. */
	ck_assert_int_eq(
		parse("-bios", "f", "-device", "isa-debug-exit,iobase=0,iosize=0x10000", NULL), 0);
	ck_assert_uint_eq(cfg.debug_exit[0].iosize, 0x10000);
	fails_with(parse("-bios", "f", "-device", "virtio-gpu", NULL), "unknown kind 'virtio-gpu'");
	fails_with(parse("-bios", "f", "-device", "isa-debug-exit", "-device", "isa-debug-exit",
			 "-device", "isa-debug-exit", "-device", "isa-debug-exit", "-device",
			 "isa-debug-exit", NULL),
		   "at most 4");
	ck_assert_int_eq(parse("-device", "help", NULL), 0);
	ck_assert_str_eq(cfg.help_kinds, "-device");
	ck_assert_ptr_null(cfg.help_kind);
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

START_TEST(drives)
{
	ck_assert_int_eq(parse("-kernel", "k", "-drive", "file=a.img,format=raw,if=virtio",
			       "-drive",
			       "if=none,id=d1,file=b,,c.img,readonly=on,cache=none,aio=threads",
			       "-device", "virtio-blk-device,drive=d1,serial=override", "-drive",
			       "file=c.img,serial=SER-1,cache=unsafe,media=disk", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_drives, 3);
	ck_assert_str_eq(cfg.drives[0].file, "a.img");
	ck_assert(!cfg.drives[0].readonly);
	ck_assert_int_eq(cfg.drives[0].cache, DISK_CACHE_WRITEBACK);
	ck_assert_int_eq(cfg.drives[0].aio, DISK_AIO_IO_URING);
	/* ",," is a comma inside a value. */
	ck_assert_str_eq(cfg.drives[1].file, "b,c.img");
	ck_assert(cfg.drives[1].readonly);
	ck_assert(cfg.drives[1].if_none);
	ck_assert_int_eq(cfg.drives[1].cache, DISK_CACHE_NONE);
	ck_assert_int_eq(cfg.drives[1].aio, DISK_AIO_THREADS);
	ck_assert_int_eq(cfg.drives[2].cache, DISK_CACHE_UNSAFE);
	/* Disks in the order their options came: a, then the -device, then c. */
	ck_assert_uint_eq(cfg.nr_blk, 3);
	ck_assert_uint_eq(cfg.blk[0].drive, 0);
	ck_assert_uint_eq(cfg.blk[1].drive, 1);
	ck_assert_str_eq(cfg.blk[1].serial, "override");
	ck_assert_uint_eq(cfg.blk[2].drive, 2);
	ck_assert_str_eq(cfg.drives[2].serial, "SER-1");
	ck_assert(!cfg.no_acpi);

	/* A -device may come before its -drive, as in QEMU. */
	ck_assert_int_eq(parse("-kernel", "k", "-device", "virtio-blk-device,drive=x", "-drive",
			       "if=none,id=x,file=x.img,cache=directsync", "-no-acpi", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_blk, 1);
	ck_assert_uint_eq(cfg.blk[0].drive, 0);
	ck_assert_int_eq(cfg.drives[0].cache, DISK_CACHE_DIRECTSYNC);
	ck_assert(cfg.no_acpi);
	/* An unattached if=none drive is accepted and gives no disk. */
	ck_assert_int_eq(parse("-kernel", "k", "-drive", "if=none,id=x,file=x.img", NULL), 0);
	ck_assert_uint_eq(cfg.nr_blk, 0);
	/* format=: given, or left for ember to probe. */
	ck_assert_int_eq(parse("-kernel", "k", "-drive", "file=a.qcow2,format=qcow2", "-drive",
			       "file=b.img,format=raw", "-drive", "file=c.img", NULL),
			 0);
	ck_assert_int_eq(cfg.drives[0].format, DISK_FORMAT_QCOW2);
	ck_assert_int_eq(cfg.drives[1].format, DISK_FORMAT_RAW);
	ck_assert_int_eq(cfg.drives[2].format, DISK_FORMAT_PROBE);
}
END_TEST

START_TEST(drive_errors)
{
	fails_with(parse("-kernel", "k", "-drive", "format=raw", NULL), "file=PATH");
	fails_with(parse("-kernel", "k", "-drive", "file=", NULL), "empty file name");
	fails_with(parse("-kernel", "k", "-drive", "file=a,bogus=1", NULL),
		   "unknown property 'bogus'");
	fails_with(parse("-kernel", "k", "-drive", "file=a,readonly", NULL), "needs a value");
	fails_with(parse("-kernel", "k", "-drive", "file=a,if=ide", NULL), "if=ide");
	fails_with(parse("-kernel", "k", "-drive", "file=a,format=vmdk", NULL), "unknown format");
	fails_with(parse("-kernel", "k", "-drive", "file=a,cache=fast", NULL), "cache mode");
	fails_with(parse("-kernel", "k", "-drive", "file=a,aio=native", NULL), "unknown aio");
	fails_with(parse("-kernel", "k", "-drive", "file=a,readonly=maybe", NULL), "on or off");
	fails_with(parse("-kernel", "k", "-drive", "file=a,serial=123456789012345678901", NULL),
		   "longer than 20");
	fails_with(parse("-kernel", "k", "-drive", "file=a,media=cdrom", NULL), "media=cdrom");
	fails_with(parse("-kernel", "k", "-drive", "if=none,file=a", NULL), "needs an id=");
	fails_with(parse("-kernel", "k", "-drive", "file=a,id=x", "-drive", "file=b,id=x", NULL),
		   "used twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-blk-device", NULL), "drive=ID");
	fails_with(parse("-kernel", "k", "-device", "virtio-blk-device,drive=nope", NULL),
		   "no -drive with id 'nope'");
	fails_with(parse("-kernel", "k", "-drive", "file=a,id=v", "-device",
			 "virtio-blk-device,drive=v", NULL),
		   "give it if=none");
	fails_with(parse("-kernel", "k", "-drive", "if=none,file=a,id=v", "-device",
			 "virtio-blk-device,drive=v", "-device", "virtio-blk-device,drive=v", NULL),
		   "drive 'v' is used twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-blk-device,drive=v,bus=x", NULL),
		   "unknown property 'bus'");
	fails_with(parse("-kernel", "k", "-device", "virtio-blk-pci,drive=v", NULL), "no PCI");
	ab_reset();
	ab_add("-kernel");
	ab_add("k");
	for (int i = 0; i <= CLI_MAX_DRIVES; i++) {
		ab_add("-drive");
		ab_add("file=%d", i);
	}
	fails_with(ab_parse(), "at most 16 drives");
}
END_TEST

/*
 * Sixteen -device virtio-blk-device fill the disk table before any drive
 * exists; a -drive if=virtio after them needs another disk and must be
 * refused, not stored past the table's end.
 */
START_TEST(drive_after_full_disk_table)
{
	ab_reset();
	ab_add("-kernel");
	ab_add("k");
	for (int i = 0; i < CLI_MAX_DRIVES; i++) {
		ab_add("-device");
		ab_add("virtio-blk-device,drive=d%d", i);
	}
	ab_add("-drive");
	ab_add("file=x");
	fails_with(ab_parse(), "-drive: at most 16 disks");
	ck_assert_uint_le(cfg.nr_blk, CLI_MAX_DRIVES);

	/* An if=none drive adds no disk: it still fits. */
	ab_reset();
	ab_add("-kernel");
	ab_add("k");
	for (int i = 0; i < CLI_MAX_DRIVES - 1; i++) {
		ab_add("-device");
		ab_add("virtio-blk-device,drive=d%d", i);
	}
	for (int i = 0; i < CLI_MAX_DRIVES - 1; i++) {
		ab_add("-drive");
		ab_add("if=none,id=d%d,file=%d", i, i);
	}
	ab_add("-drive");
	ab_add("file=last");
	ck_assert_int_eq(ab_parse(), 0);
	ck_assert_uint_eq(cfg.nr_blk, 16);
	ck_assert_uint_eq(cfg.blk[15].drive, 15);
	ck_assert_uint_eq(cli_nr_virtio(&cfg), 16);
}
END_TEST

START_TEST(nics)
{
	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "tap,ifname=tap0,script=no,downscript=no,mac=52:54:00:12:34:56,"
			       "model=virtio",
			       "-device", "virtio-net-device,netdev=n1,mac=02:00:00:00:00:01",
			       "-netdev", "tap,id=n1,fd=3,vhost=off", "-nic", "tap,ifname=tap1",
			       "-drive", "file=d.img", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_netdevs, 3);
	ck_assert_uint_eq(cfg.nr_nics, 3);
	/* NICs in the order their options came; the -device's backend came later. */
	ck_assert_str_eq(cfg.netdevs[cfg.nics[0].netdev].ifname, "tap0");
	ck_assert_int_eq(cfg.netdevs[cfg.nics[0].netdev].fd, -1);
	ck_assert(cfg.nics[0].has_mac);
	ck_assert_uint_eq(cfg.nics[0].mac[5], 0x56);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[1].netdev].fd, 3);
	ck_assert_ptr_null(cfg.netdevs[cfg.nics[1].netdev].ifname);
	ck_assert_uint_eq(cfg.nics[1].mac[0], 0x02);
	ck_assert_str_eq(cfg.netdevs[cfg.nics[2].netdev].ifname, "tap1");
	ck_assert(!cfg.nics[2].has_mac);
	ck_assert_uint_eq(cfg.nr_blk, 1);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "none", NULL), 0);
	ck_assert_uint_eq(cfg.nr_nics, 0);
}
END_TEST

START_TEST(nic_errors)
{
	fails_with(parse("-kernel", "k", "-nic", "vde", NULL),
		   "-nic: unknown kind 'vde'; ember has tap and user");
	fails_with(parse("-kernel", "k", "-nic", "tap", NULL), "ifname=NAME");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=a,fd=3", NULL), "not both");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=abcdefghijklmnop", NULL),
		   "1 to 15 characters");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,script=/etc/qemu-ifup", NULL),
		   "runs no scripts");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,mac=01:00:00:00:00:01", NULL),
		   "unicast");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,mac=52:54:00:12:34", NULL),
		   "unicast");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,model=e1000", NULL), "e1000");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,queues=4", NULL),
		   "unknown property 'queues'");
	fails_with(parse("-kernel", "k", "-nic", "tap,fd=x", NULL), "not a descriptor");
	fails_with(parse("-kernel", "k", "-netdev", "tap,ifname=t", NULL), "id=");
	fails_with(parse("-kernel", "k", "-netdev", "vde,id=n", NULL),
		   "-netdev: unknown kind 'vde'; ember has tap, user and stream");
	ck_assert_int_eq(parse("-kernel", "k", "-netdev", "tap,id=n,ifname=t,vhost=on", "-device",
			       "virtio-net-device,netdev=n", NULL),
			 0);
	ck_assert(cfg.netdevs[0].vhost);
	ck_assert_int_eq(cfg.netdevs[0].vhostfd, -1);
	ck_assert_int_eq(
		parse("-kernel", "k", "-nic", "tap,ifname=t,vhostforce=on,vhostfd=9", NULL), 0);
	ck_assert(cfg.netdevs[0].vhost); /* vhostforce=on implies it, as in QEMU */
	ck_assert_int_eq(cfg.netdevs[0].vhostfd, 9);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "tap,ifname=t", NULL), 0);
	ck_assert(!cfg.netdevs[0].vhost);
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,vhostfd=9", NULL),
		   "vhostfd= is for vhost=on");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,vhost=maybe", NULL),
		   "vhost must be on or off");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,vhost=on,vhostfd=x", NULL),
		   "vhostfd=x is not a descriptor number");
	fails_with(parse("-kernel", "k", "-netdev", "tap,id=n,ifname=t", "-netdev",
			 "tap,id=n,ifname=u", NULL),
		   "used twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-net-device", NULL), "netdev=ID");
	fails_with(parse("-kernel", "k", "-device", "virtio-net-device,netdev=x", NULL),
		   "no -netdev with id 'x'");
	fails_with(parse("-kernel", "k", "-netdev", "tap,id=n,ifname=t", "-device",
			 "virtio-net-device,netdev=n", "-device", "virtio-net-device,netdev=n",
			 NULL),
		   "netdev 'n' is used twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-net-pci,netdev=n", NULL), "no PCI");
}
END_TEST

/* An address as a.b.c.d, so that a failed comparison prints it. */
static const char *dotted(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];

	ck_assert_ptr_nonnull(inet_ntop(AF_INET, &a, buf, sizeof(buf)));
	return buf;
}

/* -nic user alone: QEMU's network, a NIC on it, nothing forwarded. */
START_TEST(nic_user_defaults)
{
	const struct cli_user *u = &cfg.netdevs[0].user;

	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user", NULL), 0);
	ck_assert_uint_eq(cfg.nr_netdevs, 1);
	ck_assert_uint_eq(cfg.nr_nics, 1);
	ck_assert_uint_eq(cfg.nics[0].netdev, 0);
	ck_assert(!cfg.nics[0].has_mac);
	ck_assert_int_eq(cfg.netdevs[0].kind, CLI_NET_USER);
	ck_assert_ptr_null(cfg.netdevs[0].id);
	ck_assert_str_eq(dotted(u->net), "10.0.2.0");
	ck_assert_str_eq(dotted(u->mask), "255.255.255.0");
	ck_assert_str_eq(dotted(u->host), "10.0.2.2");
	ck_assert_str_eq(dotted(u->dns), "10.0.2.3");
	ck_assert_str_eq(dotted(u->dhcpstart), "10.0.2.15");
	ck_assert(u->ipv4);
	ck_assert(u->ipv6);
	ck_assert(!u->restricted);
	ck_assert_ptr_null(u->hostname);
	ck_assert_ptr_null(u->domainname);
	ck_assert_uint_eq(u->nr_hostfwd, 0);
	ck_assert_uint_eq(cli_nr_virtio(&cfg), 1);

	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "user,id=u0,mac=52:54:00:12:34:57,model=virtio-net-device", "-nic",
			       "tap,ifname=t", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_nics, 2);
	ck_assert(cfg.nics[0].has_mac);
	ck_assert_uint_eq(cfg.nics[0].mac[5], 0x57);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[0].netdev].kind, CLI_NET_USER);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[1].netdev].kind, CLI_NET_TAP);
	ck_assert_str_eq(cfg.netdevs[cfg.nics[1].netdev].ifname, "t");
}
END_TEST

/* net= moves the addresses left out with it, whatever the order of the list. */
START_TEST(nic_user_networks)
{
	const struct cli_user *u = &cfg.netdevs[0].user;

	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,net=192.168.76.0/24", NULL), 0);
	ck_assert_str_eq(dotted(u->net), "192.168.76.0");
	ck_assert_str_eq(dotted(u->mask), "255.255.255.0");
	ck_assert_str_eq(dotted(u->host), "192.168.76.2");
	ck_assert_str_eq(dotted(u->dns), "192.168.76.3");
	ck_assert_str_eq(dotted(u->dhcpstart), "192.168.76.15");

	/* A dotted mask; the address is cut to the network's; QEMU's places in a /16. */
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,net=172.16.5.9/255.255.0.0", NULL), 0);
	ck_assert_str_eq(dotted(u->net), "172.16.0.0");
	ck_assert_str_eq(dotted(u->mask), "255.255.0.0");
	ck_assert_str_eq(dotted(u->host), "172.16.2.2");
	ck_assert_str_eq(dotted(u->dns), "172.16.2.3");
	ck_assert_str_eq(dotted(u->dhcpstart), "172.16.2.15");

	/* No mask: /24. */
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,net=10.1.2.0", NULL), 0);
	ck_assert_str_eq(dotted(u->mask), "255.255.255.0");
	ck_assert_str_eq(dotted(u->host), "10.1.2.2");
	ck_assert_str_eq(dotted(u->dhcpstart), "10.1.2.15");

	ck_assert_int_eq(
		parse("-kernel", "k", "-nic", "user,net=10.9.9.16/28,dhcpstart=10.9.9.20", NULL),
		0);
	ck_assert_str_eq(dotted(u->mask), "255.255.255.240");
	ck_assert_str_eq(dotted(u->host), "10.9.9.18");
	ck_assert_str_eq(dotted(u->dns), "10.9.9.19");
	ck_assert_str_eq(dotted(u->dhcpstart), "10.9.9.20");

	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "user,host=10.0.2.1,dns=10.0.2.53,dhcpstart=10.0.2.100", NULL),
			 0);
	ck_assert_str_eq(dotted(u->net), "10.0.2.0");
	ck_assert_str_eq(dotted(u->host), "10.0.2.1");
	ck_assert_str_eq(dotted(u->dns), "10.0.2.53");
	ck_assert_str_eq(dotted(u->dhcpstart), "10.0.2.100");

	/* Addresses before net=: checked against it, and the rest follow it. */
	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "user,host=192.168.76.1,dhcpstart=192.168.76.50,net=192.168.76.0/24",
			       NULL),
			 0);
	ck_assert_str_eq(dotted(u->host), "192.168.76.1");
	ck_assert_str_eq(dotted(u->dns), "192.168.76.3");
	ck_assert_str_eq(dotted(u->dhcpstart), "192.168.76.50");
}
END_TEST

START_TEST(nic_user_address_errors)
{
	static const struct {
		const char *arg, *msg;
	} bad[] = {
		{ "user,host=10.0.3.2",
		  "-nic user: host=10.0.3.2 is not in the network 10.0.2.0/24" },
		{ "user,dns=192.168.1.1", "dns=192.168.1.1 is not in the network 10.0.2.0/24" },
		{ "user,dhcpstart=10.0.1.15", "dhcpstart=10.0.1.15 is not in the network" },
		{ "user,host=10.0.2.2,net=192.168.76.0/24",
		  "host=10.0.2.2 is not in the network 192.168.76.0/24" },
		{ "user,host=10.0.2.0", "host=10.0.2.0 is the address of the network 10.0.2.0/24" },
		{ "user,dhcpstart=10.0.2.255", "dhcpstart=10.0.2.255 is the broadcast address" },
		{ "user,net=10.9.9.16/28",
		  "the default dhcpstart=10.9.9.31 is the broadcast address of the network "
		  "10.9.9.16/28; give dhcpstart=" },
		{ "user,dns=10.0.2.2", "dns= and host= are the same address" },
		{ "user,dhcpstart=10.0.2.3", "dhcpstart= must differ from host= and dns=" },
		{ "user,hostfwd=tcp::2222-10.0.3.15:22",
		  "the guest address 10.0.3.15 of hostfwd rule 1 is not in the network "
		  "10.0.2.0/24" },
		{ "user,hostfwd=tcp::1-:1,hostfwd=tcp::2222-10.0.2.255:22",
		  "hostfwd rule 2 is the broadcast address" },
		{ "user,host=10.0.2", "host=10.0.2 is not an IPv4 address (a.b.c.d)" },
		{ "user,dns=resolver", "dns=resolver is not an IPv4 address" },
		{ "user,dhcpstart=10.0.2.015", "dhcpstart=10.0.2.015 is not an IPv4 address" },
		{ "user,net=10.0.2.0/31", "net=10.0.2.0/31 is not ADDR[/MASK]" },
		{ "user,net=10.0.2.0/0", "net=10.0.2.0/0 is not" },
		{ "user,net=10.0.2.0/33", "net=10.0.2.0/33 is not" },
		{ "user,net=10.0.2.0/", "net=10.0.2.0/ is not" },
		{ "user,net=10.0.2.0/24x", "net=10.0.2.0/24x is not" },
		{ "user,net=10.0.2.0/255.255.0.255", "net=10.0.2.0/255.255.0.255 is not" },
		{ "user,net=10.0.2.0/255.255.255.254", "net=10.0.2.0/255.255.255.254 is not" },
		{ "user,net=300.0.2.0/24", "net=300.0.2.0/24 is not" },
		{ "user,net=", "net= is not" },
		{ "user,ipv4=off,ipv6=off",
		  "-nic user: ipv4=off and ipv6=off leave the guest no network" },
		{ "user,ipv4=off,net=10.0.2.0/24", "need ipv4=on" },
		{ "user,ipv4=off,host=10.0.2.2", "need ipv4=on" },
		{ "user,hostfwd=tcp::22-:22,ipv4=off", "need ipv4=on" },
		{ "user,ipv6=maybe", "ipv6 must be on or off, not 'maybe'" },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		fails_with(parse("-kernel", "k", "-nic", bad[i].arg, NULL), bad[i].msg);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,ipv4=off", NULL), 0);
	ck_assert(!cfg.netdevs[0].user.ipv4);
	ck_assert(cfg.netdevs[0].user.ipv6);
}
END_TEST

START_TEST(nic_user_hostfwd)
{
	const struct netuser_hostfwd *f = cfg.netdevs[0].user.hostfwd;

	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "user,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-10.0.2.15:53,"
			       "hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=:0.0.0.0:65535-10.0.2.20:1",
			       NULL),
			 0);
	ck_assert_uint_eq(cfg.netdevs[0].user.nr_hostfwd, 4);
	ck_assert(!f[0].udp);
	ck_assert_uint_eq(f[0].host_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_uint_eq(f[0].host_port, 2222);
	ck_assert_uint_eq(f[0].guest_addr.s_addr, 0);
	ck_assert_uint_eq(f[0].guest_port, 22);

	ck_assert(f[1].udp);
	ck_assert_str_eq(dotted(f[1].host_addr), "127.0.0.1");
	ck_assert_uint_eq(f[1].host_port, 5353);
	ck_assert_str_eq(dotted(f[1].guest_addr), "10.0.2.15");
	ck_assert_uint_eq(f[1].guest_port, 53);

	ck_assert(!f[2].udp);
	ck_assert_str_eq(dotted(f[2].host_addr), "127.0.0.1");
	ck_assert_uint_eq(f[2].host_port, 8080);
	ck_assert_uint_eq(f[2].guest_addr.s_addr, 0);
	ck_assert_uint_eq(f[2].guest_port, 80);

	/* No protocol is tcp. */
	ck_assert(!f[3].udp);
	ck_assert_uint_eq(f[3].host_addr.s_addr, 0);
	ck_assert_uint_eq(f[3].host_port, 65535);
	ck_assert_str_eq(dotted(f[3].guest_addr), "10.0.2.20");
	ck_assert_uint_eq(f[3].guest_port, 1);
}
END_TEST

START_TEST(nic_user_hostfwd_errors)
{
	static const struct {
		const char *rule, *why;
	} bad[] = {
		{ "", "no ':' after the protocol" },
		{ "tcp", "no ':' after the protocol" },
		{ "sctp::2222-:22", "the protocol is not tcp or udp" },
		{ "unix:/tmp/s-:22", "the protocol is not tcp or udp" },
		{ "tcp::2222", "no '-' between the host's side and the guest's" },
		{ "tcp:2222-:22", "no ':' before the host port" },
		{ "tcp::2222-22", "no ':' before the guest port" },
		{ "tcp:localhost:2222-:22", "the host address is not a.b.c.d" },
		{ "tcp:127.0.0:2222-:22", "the host address is not a.b.c.d" },
		{ "tcp::0-:22", "the host port is not a number from 1 to 65535" },
		{ "tcp::65536-:22", "the host port is not" },
		{ "tcp::-:22", "the host port is not" },
		{ "tcp::+22-:22", "the host port is not" },
		{ "tcp::22x-:22", "the host port is not" },
		{ "tcp:127.0.0.1:22:23-:22", "the host port is not" },
		{ "tcp::2222--:22", "the guest address is not a.b.c.d" },
		{ "tcp::2222-10.0.2.256:22", "the guest address is not a.b.c.d" },
		{ "tcp::2222-:0", "the guest port is not a number from 1 to 65535" },
		{ "tcp::2222-:", "the guest port is not" },
		{ "tcp::2222-:22x", "the guest port is not" },
		{ "tcp::2222-:22:23", "the guest port is not" },
		{ "tcp::2222-:100000", "the guest port is not" },
	};
	char arg[128], quoted[128];

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "user,hostfwd=%s", bad[i].rule);
		snprintf(quoted, sizeof(quoted), "-nic user: bad hostfwd rule '%s': ", bad[i].rule);
		fails_with(parse("-kernel", "k", "-nic", arg, NULL), bad[i].why);
		ck_assert_msg(strstr(err, quoted), "'%s' not in '%s'", quoted, err);
		ck_assert_ptr_nonnull(strstr(
			err, "(the form is [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)"));
	}
}
END_TEST

/* CLI_MAX_HOSTFWD rules fit; one more is refused, naming the limit. */
START_TEST(nic_user_hostfwd_limit)
{
	char arg[1024] = "user";
	size_t n = strlen(arg);

	for (unsigned int i = 0; i < CLI_MAX_HOSTFWD; i++)
		n += (size_t)snprintf(arg + n, sizeof(arg) - n, ",hostfwd=tcp::%u-:22", 2200 + i);
	ck_assert_uint_lt(n, sizeof(arg) - 32);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", arg, NULL), 0);
	ck_assert_uint_eq(cfg.netdevs[0].user.nr_hostfwd, CLI_MAX_HOSTFWD);
	ck_assert_uint_eq(cfg.netdevs[0].user.hostfwd[CLI_MAX_HOSTFWD - 1].host_port,
			  2200 + CLI_MAX_HOSTFWD - 1);
	snprintf(arg + n, sizeof(arg) - n, ",hostfwd=udp::53-:53");
	fails_with(parse("-kernel", "k", "-nic", arg, NULL), "-nic user: at most 16 hostfwd rules");
}
END_TEST

START_TEST(nic_user_options)
{
	const struct cli_user *u = &cfg.netdevs[0].user;
	char name[300], arg[320];

	ck_assert_int_eq(parse("-kernel", "k", "-nic",
			       "user,restrict=on,hostname=guest-1.example,domainname=example.org,"
			       "ipv6=off",
			       NULL),
			 0);
	ck_assert(u->restricted);
	ck_assert_str_eq(u->hostname, "guest-1.example");
	ck_assert_str_eq(u->domainname, "example.org");
	ck_assert(u->ipv4);
	ck_assert(!u->ipv6);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,restrict=y", NULL), 0);
	ck_assert(u->restricted);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,restrict=yes,restrict=n", NULL), 0);
	ck_assert(!u->restricted);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", "user,restrict=off", NULL), 0);
	ck_assert(!u->restricted);
	fails_with(parse("-kernel", "k", "-nic", "user,restrict=maybe", NULL),
		   "-nic user: restrict must be on or off, not 'maybe'");
	fails_with(parse("-kernel", "k", "-nic", "user,restrict", NULL),
		   "-nic user: 'restrict' needs a value");

	/* Names: 63 characters for the host, 253 for the domain. */
	memset(name, 'a', 63);
	name[63] = '\0';
	snprintf(arg, sizeof(arg), "user,hostname=%s", name);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", arg, NULL), 0);
	ck_assert_uint_eq(strlen(u->hostname), 63);
	snprintf(arg, sizeof(arg), "user,hostname=%sa", name);
	fails_with(parse("-kernel", "k", "-nic", arg, NULL), "is not a name of 1 to 63 letters");
	memset(name, 'b', 253);
	name[253] = '\0';
	snprintf(arg, sizeof(arg), "user,domainname=%s", name);
	ck_assert_int_eq(parse("-kernel", "k", "-nic", arg, NULL), 0);
	ck_assert_uint_eq(strlen(u->domainname), 253);
	snprintf(arg, sizeof(arg), "user,domainname=%sb", name);
	fails_with(parse("-kernel", "k", "-nic", arg, NULL), "is not a name of 1 to 253 letters");
	fails_with(parse("-kernel", "k", "-nic", "user,hostname=-guest", NULL),
		   "-nic user: hostname=-guest is not a name");
	fails_with(parse("-kernel", "k", "-nic", "user,hostname=.guest", NULL),
		   "hostname=.guest is not a name");
	fails_with(parse("-kernel", "k", "-nic", "user,hostname=my_guest", NULL),
		   "hostname=my_guest is not a name");
	fails_with(parse("-kernel", "k", "-nic", "user,hostname=", NULL),
		   "hostname= is not a name");
	fails_with(parse("-kernel", "k", "-nic", "user,domainname=ex ample.org", NULL),
		   "domainname=ex ample.org is not a name");

	/* Unknown properties, QEMU's that ember lacks and tap's, are named with the list. */
	fails_with(parse("-kernel", "k", "-nic", "user,tftp=/srv", NULL),
		   "-nic user: unknown property 'tftp' (mac, model, net, host, dns, dhcpstart, "
		   "restrict, hostname, domainname, ipv4, ipv6, hostfwd)");
	fails_with(parse("-kernel", "k", "-nic", "user,ifname=tap0", NULL),
		   "unknown property 'ifname'");
	fails_with(parse("-kernel", "k", "-nic", "user,vhost=on", NULL),
		   "unknown property 'vhost'");
	fails_with(parse("-kernel", "k", "-nic", "user,fd=3", NULL), "unknown property 'fd'");
	fails_with(parse("-kernel", "k", "-nic", "user,mac=01:00:00:00:00:01", NULL),
		   "-nic user: mac=01:00:00:00:00:01 is not a unicast");
	fails_with(parse("-kernel", "k", "-nic", "user,model=e1000", NULL),
		   "-nic user: model=e1000 is not available");
	/* And user properties on a tap. */
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,hostfwd=tcp::1-:2", NULL),
		   "-nic: unknown property 'hostfwd' (ifname, fd,");
	fails_with(parse("-kernel", "k", "-nic", "tap,ifname=t,net=10.0.0.0/8", NULL),
		   "-nic: unknown property 'net'");
	fails_with(parse("-kernel", "k", "-netdev", "tap,id=n,ifname=t,restrict=on", NULL),
		   "-netdev: unknown property 'restrict' (id, ifname,");
}
END_TEST

START_TEST(netdev_user)
{
	ck_assert_int_eq(parse("-kernel", "k", "-netdev",
			       "user,id=u0,net=192.168.76.0/24,hostfwd=tcp::2222-:22", "-device",
			       "virtio-net-device,netdev=u0,mac=52:54:00:00:00:02", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_netdevs, 1);
	ck_assert_uint_eq(cfg.nr_nics, 1);
	ck_assert_uint_eq(cfg.nics[0].netdev, 0);
	ck_assert(cfg.nics[0].has_mac);
	ck_assert_int_eq(cfg.netdevs[0].kind, CLI_NET_USER);
	ck_assert_str_eq(cfg.netdevs[0].id, "u0");
	ck_assert_str_eq(dotted(cfg.netdevs[0].user.host), "192.168.76.2");
	ck_assert_str_eq(dotted(cfg.netdevs[0].user.dhcpstart), "192.168.76.15");
	ck_assert_uint_eq(cfg.netdevs[0].user.nr_hostfwd, 1);
	ck_assert_uint_eq(cfg.netdevs[0].user.hostfwd[0].host_port, 2222);

	/* Backends of all kinds, named by devices in another order. */
	ck_assert_int_eq(parse("-kernel", "k", "-netdev", "user,id=a", "-netdev",
			       "stream,id=b,addr.type=unix,addr.path=/run/p.sock", "-netdev",
			       "tap,id=c,ifname=t", "-device", "virtio-net-device,netdev=b",
			       "-device", "virtio-net-device,netdev=c", "-device",
			       "virtio-net-device,netdev=a", NULL),
			 0);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[0].netdev].kind, CLI_NET_STREAM);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[1].netdev].kind, CLI_NET_TAP);
	ck_assert_int_eq(cfg.netdevs[cfg.nics[2].netdev].kind, CLI_NET_USER);
	ck_assert_str_eq(dotted(cfg.netdevs[cfg.nics[2].netdev].user.dns), "10.0.2.3");

	fails_with(parse("-kernel", "k", "-netdev", "user", NULL),
		   "-netdev user: give it an id= for -device to name");
	fails_with(parse("-kernel", "k", "-netdev", "user,net=10.0.2.0/24", NULL),
		   "-netdev user: give it an id=");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=", NULL), "-netdev user: empty id");
	fails_with(
		parse("-kernel", "k", "-netdev", "user,id=n", "-netdev", "tap,id=n,ifname=t", NULL),
		"-netdev: id 'n' is used twice");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=n", "-netdev", "user,id=n", NULL),
		   "-netdev user: id 'n' is used twice");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=n,mac=52:54:00:00:00:01", NULL),
		   "-netdev user: unknown property 'mac' (id, net, host, dns, dhcpstart, "
		   "restrict, hostname, domainname, ipv4, ipv6, hostfwd)");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=n,hostfwd=tcp::22", NULL),
		   "-netdev user: bad hostfwd rule 'tcp::22'");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=n,host=10.0.3.2", NULL),
		   "-netdev user: host=10.0.3.2 is not in the network");
	fails_with(parse("-kernel", "k", "-netdev", "user,id=n", "-device",
			 "virtio-net-device,netdev=m", NULL),
		   "no -netdev with id 'm'");

	/* Every kind counts toward the backends' limit. */
	ab_reset();
	ab_add("-kernel");
	ab_add("k");
	for (int i = 0; i < CLI_MAX_VIRTIO; i++) {
		ab_add("-netdev");
		ab_add("%s,id=n%d", i % 2 ? "user" : "stream,addr.type=unix,addr.path=/s", i);
	}
	ck_assert_int_eq(ab_parse(), 0);
	ck_assert_uint_eq(cfg.nr_netdevs, CLI_MAX_VIRTIO);
	ab_add("-netdev");
	ab_add("user,id=last");
	fails_with(ab_parse(), "-netdev user: at most 16 network backends");
}
END_TEST

START_TEST(netdev_stream)
{
	const struct cli_netdev *nd = &cfg.netdevs[0];
	char path[CLI_SOCKET_PATH_MAX + 2], arg[200];

	ck_assert_int_eq(parse("-kernel", "k", "-netdev",
			       "stream,id=s0,server=off,addr.type=unix,addr.path=/run/passt.sock,"
			       "reconnect=5",
			       "-device", "virtio-net-device,netdev=s0", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_netdevs, 1);
	ck_assert_uint_eq(cfg.nr_nics, 1);
	ck_assert_int_eq(nd->kind, CLI_NET_STREAM);
	ck_assert_str_eq(nd->id, "s0");
	ck_assert_str_eq(nd->stream.path, "/run/passt.sock");
	ck_assert_uint_eq(nd->stream.reconnect, 5);

	/* server= defaults to off, reconnect= to never; the order does not matter; ",," is ','. */
	ck_assert_int_eq(parse("-kernel", "k", "-netdev",
			       "stream,addr.path=/tmp/a,,b,id=s1,addr.type=unix", NULL),
			 0);
	ck_assert_str_eq(nd->stream.path, "/tmp/a,b");
	ck_assert_uint_eq(nd->stream.reconnect, 0);
	ck_assert_int_eq(parse("-kernel", "k", "-netdev",
			       "stream,id=s,addr.type=unix,addr.path=/p,reconnect=3600", NULL),
			 0);
	ck_assert_uint_eq(nd->stream.reconnect, 3600);

	/* The longest path sun_path holds, and one byte more. */
	path[0] = '/';
	memset(path + 1, 'p', CLI_SOCKET_PATH_MAX - 1);
	path[CLI_SOCKET_PATH_MAX] = '\0';
	snprintf(arg, sizeof(arg), "stream,id=s,addr.type=unix,addr.path=%s", path);
	ck_assert_int_eq(parse("-kernel", "k", "-netdev", arg, NULL), 0);
	ck_assert_uint_eq(strlen(nd->stream.path), 107);
	snprintf(arg, sizeof(arg), "stream,id=s,addr.type=unix,addr.path=%sp", path);
	fails_with(parse("-kernel", "k", "-netdev", arg, NULL),
		   "-netdev stream: addr.path is longer than 107 bytes");

	fails_with(parse("-kernel", "k", "-netdev", "stream,id=s,addr.type=unix", NULL),
		   "-netdev stream: give addr.path=PATH, the Unix socket to connect to");
	fails_with(parse("-kernel", "k", "-netdev", "stream,id=s,addr.type=unix,addr.path=", NULL),
		   "-netdev stream: empty addr.path");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,server=on,addr.type=unix,addr.path=/p", NULL),
		   "-netdev stream: server=on is not available: ember connects");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,server=maybe,addr.type=unix,addr.path=/p", NULL),
		   "server must be on or off");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=inet,addr.host=localhost,addr.port=5555", NULL),
		   "-netdev stream: addr.type=inet is not available: ember connects to a Unix "
		   "socket");
	fails_with(parse("-kernel", "k", "-netdev", "stream,id=s,addr.type=fd,addr.str=3", NULL),
		   "addr.type=fd is not available");
	fails_with(parse("-kernel", "k", "-netdev", "stream,id=s,addr.type=tcp,addr.path=/p", NULL),
		   "-netdev stream: unknown addr.type 'tcp' (unix)");
	fails_with(parse("-kernel", "k", "-netdev", "stream,id=s,addr.path=/p", NULL),
		   "-netdev stream: give addr.type=unix and addr.path=PATH");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,reconnect=99999", NULL),
		   "-netdev stream: reconnect=99999 is not a number of seconds from 0 to 3600");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,reconnect=3601", NULL),
		   "reconnect=3601 is not");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,reconnect=5s", NULL),
		   "reconnect=5s is not");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,reconnect=-1", NULL),
		   "reconnect=-1 is not");
	fails_with(parse("-kernel", "k", "-netdev", "stream,addr.type=unix,addr.path=/p", NULL),
		   "-netdev stream: give it an id=");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,ifname=t", NULL),
		   "-netdev stream: unknown property 'ifname' (id, server, addr.type, addr.path, "
		   "reconnect)");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,addr.abstract=on", NULL),
		   "unknown property 'addr.abstract'");
	fails_with(parse("-kernel", "k", "-netdev",
			 "stream,id=s,addr.type=unix,addr.path=/p,hostfwd=tcp::1-:1", NULL),
		   "unknown property 'hostfwd'");
}
END_TEST

START_TEST(net_kinds)
{
	fails_with(parse("-kernel", "k", "-nic", "stream,addr.type=unix,addr.path=/p", NULL),
		   "-nic: there is no -nic stream; give -netdev stream,id=ID,... and -device "
		   "virtio-net-device,netdev=ID");
	fails_with(parse("-kernel", "k", "-nic", "bridge,br=br0", NULL),
		   "-nic: unknown kind 'bridge'; ember has tap and user (-nic tap,ifname=NAME or "
		   "-nic user)");
	fails_with(parse("-kernel", "k", "-nic", "ifname=t", NULL), "unknown kind 'ifname=t'");
	fails_with(parse("-kernel", "k", "-nic", "", NULL), "-nic: unknown kind ''");
	fails_with(parse("-kernel", "k", "-netdev", "socket,id=s", NULL),
		   "-netdev: unknown kind 'socket'; ember has tap, user and stream");
	fails_with(parse("-kernel", "k", "-netdev", "user=1,id=s", NULL), "unknown kind 'user=1'");
}
END_TEST

/* Sixteen virtio devices of all kinds fit; one more is refused, naming the limit. */
START_TEST(virtio_device_limit)
{
	ab_reset();
	ab_add("-kernel");
	ab_add("k");
	for (int i = 0; i < 6; i++) {
		ab_add("-nic");
		ab_add("tap,ifname=t%d", i);
		ab_add("-drive");
		ab_add("file=%d", i);
	}
	ab_add("-device");
	ab_add("virtio-rng-device");
	ab_add("-device");
	ab_add("virtio-rng-device");
	ab_add("-device");
	ab_add("virtio-serial-device");
	ab_add("-chardev");
	ab_add("null,id=c");
	ab_add("-device");
	ab_add("virtconsole,chardev=c");
	ab_add("-drive");
	ab_add("file=last");
	ck_assert_int_eq(ab_parse(), 0);
	ck_assert_uint_eq(cli_nr_virtio(&cfg), 16);
	ab_add("-device");
	ab_add("virtio-rng-device");
	fails_with(ab_parse(), "17 virtio devices: ember has lines for 16");
}
END_TEST

START_TEST(rng_devices)
{
	ck_assert_int_eq(parse("-kernel", "k", "-device", "virtio-rng-device", "-device",
			       "virtio-rng-device,max-bytes=1024,period=1000,id=r", NULL),
			 0);
	ck_assert_uint_eq(cfg.nr_rngs, 2);
	ck_assert_uint_eq(cfg.rngs[0].max_bytes, INT64_MAX); /* QEMU's defaults */
	ck_assert_uint_eq(cfg.rngs[0].period_ms, 65536);
	ck_assert_uint_eq(cfg.rngs[1].max_bytes, 1024);
	ck_assert_uint_eq(cfg.rngs[1].period_ms, 1000);
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,period=0", NULL),
		   "period=0 is out of range (1 to 4294967295)");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,period=4294967296", NULL),
		   "out of range");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,max-bytes=0", NULL),
		   "max-bytes=0 is out of range");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,max-bytes=x", NULL),
		   "invalid number in 'max-bytes=x'");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,period=5,period=6", NULL),
		   "period is given twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-device,rng=rng0", NULL),
		   "unknown property 'rng' (it has max-bytes, period, id)");
	fails_with(parse("-kernel", "k", "-device", "virtio-rng-pci", NULL),
		   "use virtio-rng-device");
}
END_TEST

START_TEST(vsock_device)
{
	ck_assert_int_eq(parse("-kernel", "k", "-device", "vhost-vsock-device,guest-cid=42", NULL),
			 0);
	ck_assert(cfg.has_vsock);
	ck_assert_uint_eq(cfg.vsock.cid, 42);
	ck_assert_int_eq(cfg.vsock.vhostfd, -1);
	ck_assert_uint_eq(cli_nr_virtio(&cfg), 1);
	ck_assert_int_eq(parse("-kernel", "k", "-device",
			       "vhost-vsock-device,id=v0,guest-cid=4294967294,vhostfd=7", NULL),
			 0);
	ck_assert_uint_eq(cfg.vsock.cid, 4294967294ULL);
	ck_assert_int_eq(cfg.vsock.vhostfd, 7);
	ck_assert_int_eq(parse("-kernel", "k", NULL), 0);
	ck_assert(!cfg.has_vsock);
	fails_with(parse("-kernel", "k", "-device", "vhost-vsock-device", NULL), "guest-cid");
	for (unsigned int i = 0; i < 4; i++) {
		static const char *const bad[] = { "0", "2", "4294967295", "4294967296" };
		char arg[64];

		snprintf(arg, sizeof(arg), "vhost-vsock-device,guest-cid=%s", bad[i]);
		fails_with(parse("-kernel", "k", "-device", arg, NULL), "out of range (3 to");
	}
	fails_with(
		parse("-kernel", "k", "-device", "vhost-vsock-device,guest-cid=3,vhostfd=-1", NULL),
		"vhostfd");
	fails_with(parse("-kernel", "k", "-device", "vhost-vsock-device,guest-cid=3", "-device",
			 "vhost-vsock-device,guest-cid=4", NULL),
		   "one vsock device at most");
	fails_with(parse("-kernel", "k", "-device", "vhost-vsock-pci,guest-cid=3", NULL),
		   "use vhost-vsock-device");
}
END_TEST

START_TEST(serial_ports)
{
	ck_assert_int_eq(parse("-kernel", "k", "-chardev",
			       "socket,id=s,path=/run/a.sock,server=on,wait=off", "-chardev",
			       "stdio,id=con", "-chardev", "file,id=f,path=out,,1.txt", "-device",
			       "virtserialport,chardev=s,name=org.ember.test", "-device",
			       "virtio-serial-device", "-device", "virtconsole,chardev=con",
			       "-device", "virtserialport,chardev=f,nr=5", NULL),
			 0);
	ck_assert(cfg.has_vserial);
	ck_assert_uint_eq(cfg.vserial_max_ports, CLI_MAX_PORTS);
	ck_assert_uint_eq(cfg.nr_chardevs, 3);
	ck_assert_int_eq(cfg.chardevs[0].spec.kind, CHARDEV_SOCKET);
	ck_assert_str_eq(cfg.chardevs[0].spec.path, "/run/a.sock");
	ck_assert_int_eq(cfg.chardevs[1].spec.kind, CHARDEV_STDIO);
	ck_assert_str_eq(cfg.chardevs[2].spec.path, "out,1.txt");
	ck_assert_uint_eq(cfg.nr_ports, 3);
	/* Numbers as QEMU gives them: ports from 1, the console may take 0. */
	ck_assert_uint_eq(cfg.ports[0].nr, 1);
	ck_assert_str_eq(cfg.ports[0].name, "org.ember.test");
	ck_assert_uint_eq(cfg.ports[0].chardev, 0);
	ck_assert(!cfg.ports[0].console);
	ck_assert_uint_eq(cfg.ports[1].nr, 0);
	ck_assert(cfg.ports[1].console);
	ck_assert_uint_eq(cfg.ports[1].chardev, 1);
	ck_assert_uint_eq(cfg.ports[2].nr, 5);
	ck_assert_uint_eq(cli_nr_virtio(&cfg), 1);

	/* -serial chardev:ID takes the chardev's backend. */
	ck_assert_int_eq(parse("-kernel", "k", "-serial", "chardev:f", "-chardev",
			       "file,id=f,path=log.txt", NULL),
			 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_FILE);
	ck_assert_str_eq(cfg.serial.path, "log.txt");

	fails_with(parse("-kernel", "k", "-chardev", "socket,id=s,path=p", NULL),
		   "give server=on,wait=off");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=s,path=p,server=on", NULL),
		   "server=on,wait=off");
	fails_with(parse("-kernel", "k", "-chardev", "pty,id=s", NULL), "unknown kind 'pty'");
	fails_with(parse("-kernel", "k", "-chardev", "null", NULL), "give id=ID");
	fails_with(parse("-kernel", "k", "-chardev", "file,id=f", NULL), "give path=ID");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=a", "-chardev", "stdio,id=a", NULL),
		   "id 'a' is used twice");
	fails_with(parse("-kernel", "k", "-serial", "chardev:nope", NULL),
		   "no -chardev with id 'nope'");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=c", "-device",
			 "virtconsole,chardev=c", NULL),
		   "add -device virtio-serial-device");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=c", "-device", "virtio-serial-device",
			 "-device", "virtconsole,chardev=c", "-device", "virtserialport,chardev=c",
			 NULL),
		   "chardev 'c' is used twice");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=c", "-device", "virtio-serial-device",
			 "-device", "virtserialport,chardev=c,nr=0", NULL),
		   "port 0 is kept for a virtconsole");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=c", "-chardev", "null,id=d",
			 "-device", "virtio-serial-device,max_ports=2", "-device",
			 "virtserialport,chardev=c", "-device", "virtserialport,chardev=d", NULL),
		   "no free port below max_ports=2");
	fails_with(parse("-kernel", "k", "-chardev", "null,id=c", "-chardev", "null,id=d",
			 "-device", "virtio-serial-device", "-device",
			 "virtserialport,chardev=c,nr=3", "-device", "virtconsole,chardev=d,nr=3",
			 NULL),
		   "port 3 is used twice");
	fails_with(parse("-kernel", "k", "-device", "virtio-serial-device", "-device",
			 "virtio-serial-device", NULL),
		   "one virtio-serial device");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=s,path=p,server=on,wait=off",
			 "-serial", "chardev:s", NULL),
		   "COM1 takes stdio, file or null");

	/* A console on stdio takes standard input: COM1 goes unless asked for. */
	ck_assert_int_eq(parse("-kernel", "k", "-chardev", "stdio,id=c", "-device",
			       "virtio-serial-device", "-device", "virtconsole,chardev=c", NULL),
			 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_NONE);
	ck_assert_int_eq(parse("-kernel", "k", "-serial", "file:s.log", "-chardev", "stdio,id=c",
			       "-device", "virtio-serial-device", "-device",
			       "virtconsole,chardev=c", NULL),
			 0);
	ck_assert_int_eq(cfg.serial.kind, CHARDEV_FILE);
	fails_with(parse("-kernel", "k", "-serial", "stdio", "-chardev", "stdio,id=c", "-device",
			 "virtio-serial-device", "-device", "virtconsole,chardev=c", NULL),
		   "-serial stdio has standard input already");
	fails_with(parse("-kernel", "k", "-chardev", "stdio,id=c", "-chardev", "stdio,id=d", NULL),
		   "one character device only");
}
END_TEST

START_TEST(qmp_monitor)
{
	/* -qmp makes its own socket chardev, as QEMU names it. */
	ck_assert_int_eq(
		parse("-kernel", "k", "-qmp", "unix:/run/q,,1.sock,server=on,wait=off", NULL), 0);
	ck_assert(cfg.has_qmp);
	ck_assert_uint_eq(cfg.nr_chardevs, 1);
	ck_assert_uint_eq(cfg.qmp_chardev, 0);
	ck_assert_str_eq(cfg.chardevs[0].id, "compat_monitor0");
	ck_assert_int_eq(cfg.chardevs[0].spec.kind, CHARDEV_SOCKET);
	ck_assert_str_eq(cfg.chardevs[0].spec.path, "/run/q,1.sock");
	/* QEMU's older spelling. */
	ck_assert_int_eq(parse("-kernel", "k", "-qmp", "unix:q.sock,server,nowait", NULL), 0);
	ck_assert_str_eq(cfg.chardevs[0].spec.path, "q.sock");
	/* -mon on a socket -chardev. */
	ck_assert_int_eq(parse("-kernel", "k", "-chardev", "null,id=n", "-chardev",
			       "socket,id=mon0,path=m.sock,server=on,wait=off", "-mon",
			       "chardev=mon0,mode=control,pretty=off", NULL),
			 0);
	ck_assert(cfg.has_qmp);
	ck_assert_uint_eq(cfg.qmp_chardev, 1);
	ck_assert_int_eq(parse("-kernel", "k", NULL), 0);
	ck_assert(!cfg.has_qmp);

	fails_with(parse("-kernel", "k", "-qmp", "tcp:localhost:4444,server=on,wait=off", NULL),
		   "give unix:PATH,server=on,wait=off");
	fails_with(parse("-kernel", "k", "-qmp", "unix:,server=on,wait=off", NULL),
		   "empty socket path");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock", NULL), "does not wait");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock,server=on", NULL), "does not wait");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock,server=on,wait=on", NULL),
		   "does not wait");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock,server=on,wait", NULL),
		   "wait needs a value");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock,server=maybe,wait=off", NULL),
		   "server must be on or off");
	fails_with(parse("-kernel", "k", "-qmp", "unix:q.sock,server=on,wait=off,telnet=on", NULL),
		   "unknown option 'telnet'");
	fails_with(parse("-kernel", "k", "-qmp", "unix:a,server=on,wait=off", "-qmp",
			 "unix:b,server=on,wait=off", NULL),
		   "one QMP monitor");
	fails_with(parse("-kernel", "k", "-qmp", "unix:a,server=on,wait=off", "-chardev",
			 "null,id=compat_monitor0", NULL),
		   "used twice");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=m,path=p,server=on,wait=off",
			 "-mon", "chardev=m", NULL),
		   "give mode=control");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=m,path=p,server=on,wait=off",
			 "-mon", "chardev=m,mode=readline", NULL),
		   "give mode=control");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=m,path=p,server=on,wait=off",
			 "-mon", "chardev=m,mode=control,pretty=on", NULL),
		   "pretty=on");
	fails_with(parse("-kernel", "k", "-mon", "chardev=nope,mode=control", NULL),
		   "no -chardev with id 'nope'");
	fails_with(parse("-kernel", "k", "-chardev", "file,id=f,path=x", "-mon",
			 "chardev=f,mode=control", NULL),
		   "QMP takes a socket -chardev");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=m,path=p,server=on,wait=off",
			 "-device", "virtio-serial-device", "-device", "virtserialport,chardev=m",
			 "-mon", "chardev=m,mode=control", NULL),
		   "chardev 'm' is used twice");
	fails_with(parse("-kernel", "k", "-chardev", "socket,id=m,path=p,server=on,wait=off",
			 "-mon", "chardev=m,mode=control", "-qmp", "unix:q,server=on,wait=off",
			 NULL),
		   "one QMP monitor");
}
END_TEST

/* The help for kinds comes from the same tables the parser uses. */
START_TEST(kind_help)
{
	char out[4096] = { 0 };
	FILE *f;

	ck_assert_int_eq(parse("-device", "virtio-rng-device,help", NULL), 0);
	ck_assert_str_eq(cfg.help_kinds, "-device");
	ck_assert_str_eq(cfg.help_kind, "virtio-rng-device");
	f = fmemopen(out, sizeof(out) - 1, "w");
	ck_assert_ptr_nonnull(f);
	cli_print_kinds(f, &cfg);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "max-bytes=<uint>"));
	ck_assert_ptr_nonnull(strstr(out, "(default: 9223372036854775807)"));
	ck_assert_ptr_nonnull(strstr(out, "period=<uint>"));
	ck_assert_ptr_nonnull(strstr(out, "(default: 65536)"));

	ck_assert_int_eq(parse("-device", "help", NULL), 0);
	memset(out, 0, sizeof(out));
	f = fmemopen(out, sizeof(out) - 1, "w");
	cli_print_kinds(f, &cfg);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "virtio-blk-device"));
	ck_assert_ptr_nonnull(strstr(out, "virtserialport"));
	ck_assert_ptr_null(strstr(out, "virtio-blk-pci")); /* listed only to refuse it */

	ck_assert_int_eq(parse("-chardev", "socket,help", NULL), 0);
	memset(out, 0, sizeof(out));
	f = fmemopen(out, sizeof(out) - 1, "w");
	cli_print_kinds(f, &cfg);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "server=<bool>"));
	ck_assert_ptr_nonnull(strstr(out, "path=<str>"));
	fails_with(parse("-device", "virtio-gpu,help", NULL), "unknown kind 'virtio-gpu'");
}
END_TEST

START_TEST(sandbox)
{
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "off", NULL), 0);
	ck_assert(!cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "on", NULL), 0);
	ck_assert(cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "--sandbox", "on,debug=on", NULL), 0);
	ck_assert(cfg.sandbox);
	ck_assert(cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "on,debug=off", NULL), 0);
	ck_assert(cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "off,debug=off", NULL), 0);
	ck_assert(!cfg.sandbox);
	/* QEMU's implied key, and its other spellings of a bool. */
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "enable=on,debug=yes", NULL), 0);
	ck_assert(cfg.sandbox);
	ck_assert(cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "false", NULL), 0);
	ck_assert(!cfg.sandbox);
	/* The last -sandbox says everything, debug= included. */
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "on,debug=on", "-sandbox", "off", NULL),
			 0);
	ck_assert(!cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
	ck_assert_int_eq(parse("-kernel", "k", "-sandbox", "off", "-sandbox", "on", NULL), 0);
	ck_assert(cfg.sandbox);
	ck_assert(!cfg.sandbox_debug);
}
END_TEST

START_TEST(sandbox_errors)
{
	static const char *const qemu_props[] = {
		"obsolete=deny",
		"elevateprivileges=deny",
		"spawn=deny",
		"resourcecontrol=deny",
	};

	for (unsigned int i = 0; i < sizeof(qemu_props) / sizeof(qemu_props[0]); i++) {
		char arg[64], needle[64];

		snprintf(arg, sizeof(arg), "on,%s", qemu_props[i]);
		snprintf(needle, sizeof(needle), "QEMU's %.*s= is not supported",
			 (int)(strchr(qemu_props[i], '=') - qemu_props[i]), qemu_props[i]);
		fails_with(parse("-kernel", "k", "-sandbox", arg, NULL), needle);
		ck_assert_ptr_nonnull(strstr(err, "on|off[,debug=on|off]"));
	}
	fails_with(parse("-kernel", "k", "-sandbox", "maybe", NULL),
		   "-sandbox: give on or off, not 'maybe'");
	fails_with(parse("-kernel", "k", "-sandbox", "", NULL), "-sandbox: start with on or off");
	fails_with(parse("-kernel", "k", "-sandbox", ",debug=on", NULL),
		   "-sandbox: give on or off, not ''");
	fails_with(parse("-kernel", "k", "-sandbox", "enable=maybe", NULL),
		   "-sandbox: give on or off, not 'maybe'");
	fails_with(parse("-kernel", "k", "-sandbox", "debug=on", NULL),
		   "-sandbox: start with on or off");
	fails_with(parse("-kernel", "k", "-sandbox", "obsolete=deny", NULL),
		   "-sandbox: start with on or off");
	fails_with(parse("-kernel", "k", "-sandbox", "on,debug", NULL), "debug needs a value");
	fails_with(parse("-kernel", "k", "-sandbox", "on,debug=", NULL),
		   "debug must be on or off, not ''");
	fails_with(parse("-kernel", "k", "-sandbox", "on,debug=2", NULL),
		   "debug must be on or off, not '2'");
	fails_with(parse("-kernel", "k", "-sandbox", "on,debug=on,debug=off", NULL),
		   "debug is given twice");
	fails_with(parse("-kernel", "k", "-sandbox", "on,enable=off", NULL),
		   "on or off is given twice");
	fails_with(parse("-kernel", "k", "-sandbox", "on,strict=on", NULL),
		   "-sandbox: unknown property 'strict' (ember takes on|off[,debug=on|off])");
	fails_with(parse("-kernel", "k", "-sandbox", "off,debug=on", NULL),
		   "debug=on needs the sandbox on");
	fails_with(parse("-kernel", "k", "-sandbox", NULL), "option '-sandbox' needs an argument");
}
END_TEST

START_TEST(runas_and_chroot)
{
	ck_assert_int_eq(parse("-kernel", "k", "-runas", "nobody", NULL), 0);
	ck_assert_str_eq(cfg.runas_user, "nobody");
	ck_assert_ptr_null(cfg.runas_group);
	ck_assert_int_eq(parse("-kernel", "k", "-runas", "qemu:kvm", NULL), 0);
	ck_assert_str_eq(cfg.runas_user, "qemu");
	ck_assert_str_eq(cfg.runas_group, "kvm");
	ck_assert_int_eq(parse("-kernel", "k", "-runas", "65534:65534", NULL), 0);
	ck_assert_str_eq(cfg.runas_user, "65534");
	ck_assert_str_eq(cfg.runas_group, "65534");
	ck_assert_int_eq(parse("-kernel", "k", "-runas", "1000", NULL), 0);
	ck_assert_str_eq(cfg.runas_user, "1000");
	ck_assert_ptr_null(cfg.runas_group);
	/* The last one wins, group and all. */
	ck_assert_int_eq(parse("-kernel", "k", "-runas", "a:b", "-runas", "c", NULL), 0);
	ck_assert_str_eq(cfg.runas_user, "c");
	ck_assert_ptr_null(cfg.runas_group);

	ck_assert_int_eq(parse("-kernel", "k", "-chroot", "/var/empty", NULL), 0);
	ck_assert_str_eq(cfg.chroot_dir, "/var/empty");
	ck_assert_int_eq(parse("-kernel", "k", "-chroot", "a", "--chroot", "jail", NULL), 0);
	ck_assert_str_eq(cfg.chroot_dir, "jail");
}
END_TEST

START_TEST(runas_and_chroot_errors)
{
	fails_with(parse("-kernel", "k", "-runas", "", NULL), "-runas: empty user in ''");
	fails_with(parse("-kernel", "k", "-runas", ":kvm", NULL), "-runas: empty user in ':kvm'");
	fails_with(parse("-kernel", "k", "-runas", ":", NULL), "-runas: empty user");
	fails_with(parse("-kernel", "k", "-runas", "qemu:", NULL),
		   "-runas: empty group in 'qemu:'");
	fails_with(parse("-kernel", "k", "-runas", "a:b:c", NULL),
		   "-runas: 'a:b:c' has more than one ':'");
	fails_with(parse("-kernel", "k", "-runas", "a::", NULL), "more than one ':'");
	fails_with(parse("-kernel", "k", "-runas", NULL), "option '-runas' needs an argument");
	fails_with(parse("-kernel", "k", "-chroot", "", NULL), "-chroot: empty directory name");
	fails_with(parse("-kernel", "k", "-chroot", NULL), "option '-chroot' needs an argument");
}
END_TEST

START_TEST(help_lists_the_jail)
{
	char out[16384] = { 0 };
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");

	ck_assert_ptr_nonnull(f);
	cli_print_help(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "-sandbox on|off[,debug=on|off]"));
	ck_assert_ptr_nonnull(strstr(out, "-runas USER[:GROUP]"));
	ck_assert_ptr_nonnull(strstr(out, "-chroot DIR"));
}
END_TEST

/* The help names every kind of network, in lines that fit 80 columns. */
START_TEST(help_lists_the_networks)
{
	char out[16384] = { 0 };
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");

	ck_assert_ptr_nonnull(f);
	cli_print_help(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "-nic tap,"));
	ck_assert_ptr_nonnull(strstr(out, "-nic user[,mac=MAC]"));
	ck_assert_ptr_nonnull(strstr(out, "-netdev user,id=ID"));
	ck_assert_ptr_nonnull(
		strstr(out, "-netdev stream,id=ID,addr.type=unix,addr.path=PATH[,reconnect=S]"));
	for (const char *line = out; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		ck_assert_msg(len <= 80, "help line of %zu columns: %.*s", len, (int)len, line);
		line += len + (nl ? 1 : 0);
	}
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, shutdown_timeout);
	tcase_add_test(tc, memory_sizes);
	tcase_add_test(tc, memory_errors);
	tcase_add_test(tc, smp);
	tcase_add_test(tc, smp_topology);
	tcase_add_test(tc, debug_exit_devices);
	tcase_add_test(tc, debugcon);
	tcase_add_test(tc, general_errors);
	tcase_add_test(tc, help_and_version_need_nothing_else);
	tcase_add_test(tc, later_options_win);
	tcase_add_test(tc, linux_options);
	tcase_add_test(tc, serial_and_accepted_flags);
	tcase_add_test(tc, linux_option_errors);
	tcase_add_test(tc, drives);
	tcase_add_test(tc, drive_errors);
	tcase_add_test(tc, drive_after_full_disk_table);
	tcase_add_test(tc, nics);
	tcase_add_test(tc, nic_errors);
	tcase_add_test(tc, nic_user_defaults);
	tcase_add_test(tc, nic_user_networks);
	tcase_add_test(tc, nic_user_address_errors);
	tcase_add_test(tc, nic_user_hostfwd);
	tcase_add_test(tc, nic_user_hostfwd_errors);
	tcase_add_test(tc, nic_user_hostfwd_limit);
	tcase_add_test(tc, nic_user_options);
	tcase_add_test(tc, netdev_user);
	tcase_add_test(tc, netdev_stream);
	tcase_add_test(tc, net_kinds);
	tcase_add_test(tc, virtio_device_limit);
	tcase_add_test(tc, rng_devices);
	tcase_add_test(tc, vsock_device);
	tcase_add_test(tc, serial_ports);
	tcase_add_test(tc, qmp_monitor);
	tcase_add_test(tc, kind_help);
	tcase_add_test(tc, sandbox);
	tcase_add_test(tc, sandbox_errors);
	tcase_add_test(tc, runas_and_chroot);
	tcase_add_test(tc, runas_and_chroot_errors);
	tcase_add_test(tc, help_lists_the_jail);
	tcase_add_test(tc, help_lists_the_networks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(cli_suite());
}
