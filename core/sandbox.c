// SPDX-License-Identifier: MIT
#include "config.h"

#include "sandbox.h"
#include "snap.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ucontext.h>
#include <sys/ioctl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALLOW(n)                                                                                   \
	{                                                                                          \
		__NR_##n, #n, SANDBOX_ANY, 0, 0, NULL, 0                                           \
	}
/* The low 32 bits of argument a are v: ioctl and fcntl commands are ints. */
#define ALLOW_IF(n, a, v)                                                                          \
	{                                                                                          \
		__NR_##n, #n, SANDBOX_EQ, a, v, #v, 0                                              \
	}
/* Fails with EACCES instead of running when argument a is v: glibc copes without the call. */
#define REFUSE_IF(n, a, v)                                                                         \
	{                                                                                          \
		__NR_##n, #n, SANDBOX_EQ, a, v, #v, EACCES                                         \
	}
/* Argument a has none of the bits in m. */
#define ALLOW_NOT(n, a, m)                                                                         \
	{                                                                                          \
		__NR_##n, #n, SANDBOX_MASK_ZERO, a, m, #m, 0                                       \
	}

/*
 * What every thread needs: memory for malloc without ever an executable
 * page, locks, logging, signals and ending the thread. docs/architecture.md
 * says why each call is here; test_sandbox checks the two agree.
 */
static const struct sandbox_rule common_rules[] = {
	ALLOW(read),
	ALLOW(write),
	ALLOW(close),
	ALLOW(futex),
	ALLOW_NOT(mmap, 2, PROT_EXEC),
	ALLOW_NOT(mprotect, 2, PROT_EXEC),
	ALLOW(munmap),
	ALLOW(mremap),
	ALLOW(madvise),
	ALLOW(brk),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
	ALLOW(clock_gettime),
	ALLOW(getpid),
	ALLOW(restart_syscall),
	ALLOW(exit),
	ALLOW(exit_group),
	/*
	 * malloc asks /proc/sys/vm/overcommit_memory once, the first time a
	 * thread's heap shrinks, and takes a failure to open it as "shrink as
	 * usual".
	 */
	REFUSE_IF(openat, 2, O_RDONLY | O_CLOEXEC),
};

/* The calls of a disk request, made by whichever thread completes or drains it. */
#define DISK_IO_RULES                                                                              \
	ALLOW(pread64), ALLOW(pwrite64), ALLOW(preadv), ALLOW(pwritev), ALLOW(fdatasync),          \
		ALLOW(fallocate), ALLOW(io_uring_enter), ALLOW(poll)

/* A vhost device stopped: at the driver's reset (a vCPU) or at teardown (main). */
#define VHOST_STOP_RULES                                                                           \
	ALLOW_IF(ioctl, 1, VHOST_VSOCK_SET_RUNNING), ALLOW_IF(ioctl, 1, VHOST_GET_VRING_BASE),     \
		ALLOW_IF(ioctl, 1, VHOST_SET_VRING_KICK),                                          \
		ALLOW_IF(ioctl, 1, VHOST_SET_VRING_CALL), ALLOW_IF(ioctl, 1, VHOST_SET_VRING_ERR), \
		ALLOW_IF(ioctl, 1, VHOST_NET_SET_BACKEND)

/* A vhost device started: at the driver's DRIVER_OK (a vCPU), or again after a snapshot (events).
 */
#define VHOST_START_RULES                                                                          \
	ALLOW_IF(ioctl, 1, VHOST_SET_FEATURES), ALLOW_IF(ioctl, 1, VHOST_SET_MEM_TABLE),           \
		ALLOW_IF(ioctl, 1, VHOST_SET_VRING_NUM), ALLOW_IF(ioctl, 1, VHOST_SET_VRING_BASE), \
		ALLOW_IF(ioctl, 1, VHOST_SET_VRING_ADDR)

static const struct sandbox_rule vcpu_rules[] = {
	ALLOW_IF(ioctl, 1, KVM_RUN),
	ALLOW_IF(ioctl, 1, KVM_GET_REGS),
	ALLOW_IF(ioctl, 1, KVM_GET_SREGS),
	ALLOW_IF(ioctl, 1, KVM_IRQ_LINE),
	ALLOW_IF(ioctl, 1, TUNSETOFFLOAD),
	VHOST_START_RULES,
	VHOST_STOP_RULES,
	ALLOW(timerfd_settime),
	ALLOW(sendto),
	DISK_IO_RULES,
};

static const struct sandbox_rule events_rules[] = {
	ALLOW(epoll_wait),
	ALLOW(epoll_ctl),
	ALLOW(readv),
	ALLOW(writev),
	ALLOW(sendto),
	ALLOW(accept4),
	ALLOW(timerfd_create),
	ALLOW(timerfd_settime),
	ALLOW(getrandom),
	ALLOW(tgkill),
	ALLOW_IF(ioctl, 1, KVM_IRQ_LINE),
	ALLOW_IF(ioctl, 1, TUNSETOFFLOAD),
	ALLOW_IF(ioctl, 1, KVM_GET_CLOCK),
	ALLOW_IF(ioctl, 1, KVM_SET_CLOCK),
	ALLOW_IF(ioctl, 1, KVM_GET_IRQCHIP),
	ALLOW_IF(ioctl, 1, KVM_CHECK_EXTENSION),
	ALLOW_IF(ioctl, 1, KVM_GET_MSR_INDEX_LIST),
	ALLOW_IF(ioctl, 1, KVM_GET_REGS),
	ALLOW_IF(ioctl, 1, KVM_GET_SREGS),
	ALLOW_IF(ioctl, 1, KVM_GET_XCRS),
	ALLOW_IF(ioctl, 1, KVM_GET_XSAVE),
	ALLOW_IF(ioctl, 1, KVM_GET_XSAVE2),
	ALLOW_IF(ioctl, 1, KVM_GET_MSRS),
	ALLOW_IF(ioctl, 1, KVM_GET_LAPIC),
	ALLOW_IF(ioctl, 1, KVM_GET_VCPU_EVENTS),
	ALLOW_IF(ioctl, 1, KVM_GET_DEBUGREGS),
	ALLOW_IF(ioctl, 1, KVM_GET_MP_STATE),
	ALLOW_IF(openat, 2, SNAP_OPEN_FLAGS),
	ALLOW(ftruncate),
	ALLOW(fstat),
	ALLOW_IF(newfstatat, 3, AT_EMPTY_PATH),
	VHOST_STOP_RULES,
	VHOST_START_RULES,
	DISK_IO_RULES,
};

static const struct sandbox_rule disk_rules[] = {
	ALLOW(preadv),
	ALLOW(pwritev),
	ALLOW(fdatasync),
	ALLOW(fallocate),
};

static const struct sandbox_rule main_rules[] = {
	ALLOW(tgkill),
	ALLOW(epoll_ctl),
	ALLOW(timerfd_settime),
	ALLOW_IF(ioctl, 1, KVM_IOEVENTFD),
	ALLOW_IF(ioctl, 1, KVM_IRQFD),
	ALLOW_IF(io_uring_register, 1, IORING_UNREGISTER_EVENTFD),
	ALLOW_IF(ioctl, 1, TCSETSW),
	ALLOW_IF(ioctl, 1, TCGETS),
	VHOST_STOP_RULES,
	ALLOW(sendto),
	ALLOW(unlink),
	DISK_IO_RULES,
};

#if defined(__SANITIZE_ADDRESS__)
/*
 * Test builds with AddressSanitizer only (configure --enable-sanitizers,
 * never a release). Its runtime gives every thread a signal stack and asks
 * for the thread's id and CPUs.
 */
static const struct sandbox_rule sanitizer_rules[] = {
	ALLOW(sigaltstack),
	ALLOW(gettid),
	ALLOW(sched_getaffinity),
};

/*
 * At exit, in the main thread, LeakSanitizer stops the threads from a
 * tracer it clones (which inherits the main thread's filter): it ptraces
 * them and reads /proc/self/task.
 */
static const struct sandbox_rule leak_check_rules[] = {
	ALLOW(clone),	   ALLOW(ptrace),	ALLOW(wait4),
	ALLOW(prctl),	   ALLOW(sched_yield),	ALLOW(getppid),
	ALLOW(open),	   ALLOW(openat),	ALLOW(getdents),
	ALLOW(getdents64), ALLOW(rt_sigaction), ALLOW(stat),
	ALLOW(lstat),	   ALLOW(fstat),	ALLOW(newfstatat),
	ALLOW(lseek),	   ALLOW(readlink),	ALLOW(process_vm_readv),
};
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct rule_list {
	const char *name;
	const struct sandbox_rule *rules;
	size_t count;
};

static const struct rule_list lists[SANDBOX_KINDS] = {
	[SANDBOX_MAIN] = { "main", main_rules, ARRAY_SIZE(main_rules) },
	[SANDBOX_VCPU] = { "vcpu", vcpu_rules, ARRAY_SIZE(vcpu_rules) },
	[SANDBOX_EVENTS] = { "events", events_rules, ARRAY_SIZE(events_rules) },
	[SANDBOX_DISK] = { "disk", disk_rules, ARRAY_SIZE(disk_rules) },
};

const struct sandbox_rule *sandbox_rules(enum sandbox_kind kind, size_t *count)
{
	if (kind == SANDBOX_KINDS) {
		*count = ARRAY_SIZE(common_rules);
		return common_rules;
	}
	*count = lists[kind].count;
	return lists[kind].rules;
}

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return kind < SANDBOX_KINDS ? lists[kind].name : "common";
}

/* Set once by sandbox_prepare, before any thread that reads them starts. */
static struct sock_fprog programs[SANDBOX_KINDS];
static bool prepared;

/* Debug mode: names of the calls, looked up now; the SIGSYS handler must not allocate. */
#define NAMES 512
#define NAME_LEN 28
static char (*call_names)[NAME_LEN];
static __thread const char *thread_name;

bool sandbox_active(void)
{
	return prepared;
}

static int add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *r)
{
	uint32_t action = r->refuse ? SCMP_ACT_ERRNO((uint32_t)r->refuse) : SCMP_ACT_ALLOW;
	struct scmp_arg_cmp cmp;

	switch (r->how) {
	case SANDBOX_ANY:
		return seccomp_rule_add(ctx, action, r->nr, 0);
	case SANDBOX_EQ:
		cmp = SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, 0xffffffffULL, r->value);
		break;
	case SANDBOX_MASK_ZERO:
	default:
		cmp = SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, r->value, 0);
		break;
	}
	return seccomp_rule_add_array(ctx, action, r->nr, 1, &cmp);
}

static int add_rules(scmp_filter_ctx ctx, const struct sandbox_rule *r, size_t n, char *err,
		     size_t err_len)
{
	for (size_t i = 0; i < n; i++) {
		int ret = add_rule(ctx, &r[i]);

		if (ret < 0) {
			log_errbuf(err, err_len, "sandbox: adding %s to a filter: %s", r[i].name,
				   strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* libseccomp 2.5 exports a filter only to a file descriptor: read it back from a memfd. */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("ember-seccomp", MFD_CLOEXEC);
	off_t size = 0;
	void *buf = NULL;
	int ret;

	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	if (ret == 0) {
		size = lseek(fd, 0, SEEK_END);
		if (size <= 0 || size % sizeof(struct sock_filter) || size > BPF_MAXINSNS * 8)
			ret = -EINVAL;
	}
	if (ret == 0 && !(buf = malloc((size_t)size)))
		ret = -ENOMEM;
	if (ret == 0 && pread(fd, buf, (size_t)size, 0) != size)
		ret = -EIO;
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	prog->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	prog->filter = buf;
	return 0;
}

static int build(enum sandbox_kind kind, bool debug, char *err, size_t err_len)
{
	scmp_filter_ctx ctx = seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	int ret;

	if (!ctx) {
		log_errbuf(err, err_len, "sandbox: libseccomp cannot start a filter");
		return -ENOMEM;
	}
	/* A 32-bit or x32 system call would slip past rules written for x86-64. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (ret == 0)
		ret = add_rules(ctx, common_rules, ARRAY_SIZE(common_rules), err, err_len);
	if (ret == 0)
		ret = add_rules(ctx, lists[kind].rules, lists[kind].count, err, err_len);
#if defined(__SANITIZE_ADDRESS__)
	if (ret == 0)
		ret = add_rules(ctx, sanitizer_rules, ARRAY_SIZE(sanitizer_rules), err, err_len);
	if (ret == 0 && kind == SANDBOX_MAIN)
		ret = add_rules(ctx, leak_check_rules, ARRAY_SIZE(leak_check_rules), err, err_len);
#endif
	if (ret == 0) {
		ret = export_program(ctx, &programs[kind]);
		if (ret < 0)
			log_errbuf(err, err_len, "sandbox: exporting the %s filter: %s",
				   lists[kind].name, strerror(-ret));
	} else if (!err[0]) {
		log_errbuf(err, err_len, "sandbox: building the %s filter: %s", lists[kind].name,
			   strerror(-ret));
	}
	seccomp_release(ctx);
	return ret;
}

static size_t put(char *buf, size_t at, size_t len, const char *s)
{
	while (*s && at + 1 < len)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t len, long v)
{
	char digits[24];
	size_t n = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n < sizeof(digits));
	if (v < 0)
		at = put(buf, at, len, "-");
	while (n && at + 1 < len)
		buf[at++] = digits[--n];
	return at;
}

/*
 * Debug mode's SIGSYS handler: one line naming the call and the thread,
 * written without allocating. Then the same call again: the handler has
 * reset itself, so the filter's second trap ends ember as the kill action
 * would have.
 */
static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
	const greg_t *r = ((ucontext_t *)uctx)->uc_mcontext.gregs;
	char line[160];
	size_t n = 0;
	int nr = info->si_syscall;

	(void)sig;
	n = put(line, n, sizeof(line), "ember: sandbox: thread ");
	n = put(line, n, sizeof(line), thread_name ? thread_name : "ember");
	n = put(line, n, sizeof(line), " made system call ");
	if (nr >= 0 && nr < NAMES && call_names && call_names[nr][0])
		n = put(line, n, sizeof(line), call_names[nr]);
	else
		n = put(line, n, sizeof(line), "?");
	n = put(line, n, sizeof(line), " (");
	n = put_num(line, n, sizeof(line), nr);
	/* Which ioctl, when it is one: the lists allow them by number. */
	if (nr == __NR_ioctl) {
		n = put(line, n, sizeof(line), ", request ");
		n = put_num(line, n, sizeof(line), (long)(uint32_t)r[REG_RSI]);
	}
	n = put(line, n, sizeof(line), "), which its filter forbids\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nothing better to do: SIGSYS still says what happened. */
	}
	syscall(nr, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
}

static int debug_setup(char *err, size_t err_len)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_RESETHAND };

	call_names = calloc(NAMES, NAME_LEN);
	if (!call_names)
		return -ENOMEM;
	for (int nr = 0; nr < NAMES; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (s)
			snprintf(call_names[nr], NAME_LEN, "%s", s);
		free(s);
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		log_errbuf(err, err_len, "sandbox: installing the SIGSYS handler: %s",
			   strerror(errno));
		return -errno;
	}
	return 0;
}

/* KILL_PROCESS needs Linux 4.14; ember refuses to run less confined than asked. */
static int check_kernel(char *err, size_t err_len)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		log_errbuf(err, err_len,
			   "sandbox: this kernel has no seccomp filters (%s); -sandbox off runs "
			   "ember unconfined",
			   strerror(errno));
		return -ENOSYS;
	}
	if (seccomp_api_get() < 3) {
		log_errbuf(err, err_len,
			   "sandbox: the kernel or libseccomp cannot kill a process from a filter "
			   "(API level %u); -sandbox off runs ember unconfined",
			   seccomp_api_get());
		return -ENOSYS;
	}
	return 0;
}

int sandbox_prepare(bool debug, char *err, size_t err_len)
{
	int ret;

	if (prepared)
		return -EBUSY;
	ret = check_kernel(err, err_len);
	if (ret < 0)
		return ret;
	if (debug) {
		ret = debug_setup(err, err_len);
		if (ret < 0)
			return ret;
	}
	for (int k = 0; k < SANDBOX_KINDS; k++) {
		ret = build((enum sandbox_kind)k, debug, err, err_len);
		if (ret < 0)
			return ret;
	}
	prepared = true;
	return 0;
}

int sandbox_enter(enum sandbox_kind kind, const char *name)
{
	if (!prepared)
		return 0;
	thread_name = name;
	/* Needed to install a filter without CAP_SYS_ADMIN; the jail sets it too. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[kind]) < 0)
		return -errno;
	return 0;
}
