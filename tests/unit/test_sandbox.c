// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/sandbox.h"
#include "core/snap.h"
#include "core/thread.h"
#include "tests/unit/unit.h"

/*
 * Each case confines a child process, never the test itself: a filter
 * cannot be taken back. The child's fate comes back as its wait status.
 */
typedef void (*child_fn)(void);

static int run_child(child_fn fn, int err_fd)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static bool killed_by_sigsys(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

/* In a child: exit status 10 + the step that failed, so the parent can tell. */
static void confine(bool debug, enum sandbox_kind kind)
{
	char err[256] = "";

	if (sandbox_prepare(debug, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		_exit(10);
	}
	if (sandbox_enter(kind, "ember-test") < 0)
		_exit(11);
}

/*
 * The open malloc makes when a thread's heap first shrinks fails, and the
 * thread lives on; the event loop may still create a snapshot file. (Any
 * other open ends ember, as a_call_outside_the_list_kills_the_process shows
 * for calls of no list.)
 */
static void refused_open(void)
{
	char path[64];
	int fd;

	confine(false, SANDBOX_EVENTS);
	fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES)
		_exit(30);
	snprintf(path, sizeof(path), "/proc/self/fd/nonexistent-%d", (int)getpid());
	/* Allowed, and failing only because /proc/self/fd takes no new files. */
	fd = open(path, SNAP_OPEN_FLAGS, 0600);
	if (fd >= 0 || errno == EACCES)
		_exit(31);
	syscall(SYS_exit_group, 0);
}

START_TEST(mallocs_open_is_refused_and_the_snapshot_file_allowed)
{
	int status = run_child(refused_open, -1);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

static void forbidden_call(void)
{
	confine(false, SANDBOX_DISK);
	syscall(SYS_getppid);
	_exit(12);
}

START_TEST(a_call_outside_the_list_kills_the_process)
{
	ck_assert(killed_by_sigsys(run_child(forbidden_call, -1)));
}
END_TEST

static void allowed_calls(void)
{
	char buf[4] = "abc";
	struct iovec iov = { .iov_base = buf, .iov_len = 1 };
	int fds[2];

	if (pipe(fds) < 0)
		_exit(20);
	confine(false, SANDBOX_DISK);
	if (write(fds[1], buf, 3) != 3 || read(fds[0], buf, 3) != 3)
		_exit(21);
	free(malloc(1 << 20)); /* mmap and munmap, not executable */
	if (pwritev(fds[1], &iov, 1, 0) != -1 || errno != ESPIPE)
		_exit(22);
	syscall(SYS_exit_group, 0);
}

START_TEST(the_calls_on_the_list_work)
{
	int status = run_child(allowed_calls, -1);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
END_TEST

static void exec_mapping(void)
{
	confine(false, SANDBOX_VCPU);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	_exit(30);
}

static void exec_protect(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(31);
	confine(false, SANDBOX_EVENTS);
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	_exit(32);
}

START_TEST(no_thread_makes_memory_executable)
{
	ck_assert(killed_by_sigsys(run_child(exec_mapping, -1)));
	ck_assert(killed_by_sigsys(run_child(exec_protect, -1)));
}
END_TEST

static void listed_ioctl(void)
{
	confine(false, SANDBOX_VCPU);
	/* KVM_RUN is listed: on a bad fd it fails, it does not kill. */
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		_exit(40);
	syscall(SYS_exit_group, 0);
}

static void unlisted_ioctl(void)
{
	struct termios t;

	confine(false, SANDBOX_VCPU);
	ioctl(0, TCGETS, &t);
	_exit(41);
}

START_TEST(ioctls_are_checked_by_number)
{
	int status = run_child(listed_ioctl, -1);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	ck_assert(killed_by_sigsys(run_child(unlisted_ioctl, -1)));
}
END_TEST

static void debug_forbidden(void)
{
	confine(true, SANDBOX_EVENTS);
	syscall(SYS_getppid);
	_exit(50);
}

START_TEST(debug_mode_names_the_call_and_the_thread)
{
	char out[512] = "";
	int fds[2];
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert(killed_by_sigsys(run_child(debug_forbidden, fds[1])));
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(strstr(out, "thread ember-test made system call getppid (110)"), "got: %s",
		      out);
}
END_TEST

static void *thread_calls_getppid(void *arg)
{
	(void)arg;
	syscall(SYS_getppid);
	return NULL;
}

static void thread_confines_itself(void)
{
	char err[256];
	pthread_t t;

	if (sandbox_prepare(false, err, sizeof(err)) < 0)
		_exit(60);
	/* The main thread is not confined yet... */
	syscall(SYS_getppid);
	/* ...but a thread started now is, before it runs its own code. */
	if (thread_start(&t, thread_calls_getppid, NULL, "ember-disk", SANDBOX_DISK) < 0)
		_exit(61);
	pthread_join(t, NULL);
	_exit(62);
}

START_TEST(threads_confine_themselves_at_start)
{
	ck_assert(killed_by_sigsys(run_child(thread_confines_itself, -1)));
}
END_TEST

/* The text of docs/architecture.md from "## The sandbox" to the next "## ". */
static char *sandbox_docs(void)
{
	const char *src = getenv("EMBER_SRCDIR");
	char path[4096], *text, *start, *end;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/docs/architecture.md", src && *src ? src : ".");
	f = fopen(path, "r");
	ck_assert_msg(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
	fclose(f);
	start = strstr(text, "\n## The sandbox");
	ck_assert_msg(start, "docs/architecture.md has no '## The sandbox' section");
	end = strstr(start + 1, "\n## ");
	if (end)
		*end = '\0';
	memmove(text, start, strlen(start) + 1);
	return text;
}

/*
 * The part of the section under "### ... (KIND)" lists each rule as a
 * bullet: "- `name`" or "- `name` VALUE".
 */
static void check_docs_list(const char *docs, const char *kind, const struct sandbox_rule *r,
			    size_t n)
{
	char head[64], bullet[128];
	const char *sub, *end;

	snprintf(head, sizeof(head), "(%s)\n", kind);
	sub = strstr(docs, head);
	ck_assert_msg(sub, "no subsection for the %s rules", kind);
	end = strstr(sub, "\n### ");
	if (!end)
		end = sub + strlen(sub);
	for (size_t i = 0; i < n; i++) {
		const char *hit;

		if (r[i].how == SANDBOX_ANY)
			snprintf(bullet, sizeof(bullet), "\n- `%s`:", r[i].name);
		else
			snprintf(bullet, sizeof(bullet), "\n- `%s` %s%s:", r[i].name,
				 r[i].how == SANDBOX_MASK_ZERO ? "without " : "", r[i].value_name);
		hit = strstr(sub, bullet);
		ck_assert_msg(hit && hit < end, "the %s list in docs lacks \"%s\"", kind,
			      bullet + 1);
	}
	/* And nothing more: as many bullets as rules. */
	size_t bullets = 0;

	for (const char *p = sub; (p = strstr(p, "\n- `")) && p < end; p++)
		bullets++;
	ck_assert_msg(bullets == n, "the %s list in docs has %zu entries, the filter %zu", kind,
		      bullets, n);
}

START_TEST(docs_list_every_rule_of_every_thread)
{
	char *docs = sandbox_docs();
	const struct sandbox_rule *r;
	size_t n;

	for (int k = 0; k <= SANDBOX_KINDS; k++) {
		r = sandbox_rules((enum sandbox_kind)k, &n);
		check_docs_list(docs, sandbox_kind_name((enum sandbox_kind)k), r, n);
	}
	free(docs);
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("filters");

	tcase_add_test(tc, a_call_outside_the_list_kills_the_process);
	tcase_add_test(tc, mallocs_open_is_refused_and_the_snapshot_file_allowed);
	tcase_add_test(tc, the_calls_on_the_list_work);
	tcase_add_test(tc, no_thread_makes_memory_executable);
	tcase_add_test(tc, ioctls_are_checked_by_number);
	tcase_add_test(tc, debug_mode_names_the_call_and_the_thread);
	tcase_add_test(tc, threads_confine_themselves_at_start);
	suite_add_tcase(s, tc);
	tc = tcase_create("docs");
	tcase_add_test(tc, docs_list_every_rule_of_every_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(sandbox_suite());
}
