// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a hostile snapshot file. The input is the file; it is
 * opened as -incoming opens one, and every section a restore reads goes to
 * the device that would take it: the UART, the PIT, the RTC, the i8042 and
 * the ACPI PM block, each freshly set up with stand-in hosts and a fixed
 * clock. When the last byte is odd the file goes on for 4 MiB of holes,
 * room for RAM without inputs that size. The first bytes also pick a device state to splice in as a
 * section, so the restores see far more than what gets past the checksum.
 *
 * Checked: the reader never refuses a file with an unexpected errno, never
 * lends a section past the file's state; a restore that accepts a state
 * saves it back to the same bytes, and one that refuses it leaves the
 * device as it was (saving gives what the fresh device gave).
 */
#include "config.h"
#include "tests/fuzz/fuzzin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/snap.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) FUZZ_FAIL("fuzz_snap", __VA_ARGS__)

static void line(void *opaque, int level)
{
	(void)opaque;
	(void)level;
}

static void bytes(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
}

static void nothing(void *opaque)
{
	(void)opaque;
}

static uint64_t mono(void *opaque)
{
	(void)opaque;
	return 5000000000ULL;
}

static void arm(void *opaque, uint64_t deadline)
{
	(void)opaque;
	(void)deadline;
}

static int64_t wall(void *opaque)
{
	(void)opaque;
	return 1700000000;
}

/*
 * Restores `st` (len bytes) into a fresh device with `restore`, then saves
 * it with `save`: accepted, the bytes come back; refused, the fresh device's.
 */
#define TRY(type, dev, init, restore, save, destroy, st, len)                                      \
	do {                                                                                       \
		type fresh, again, in;                                                             \
		int r_;                                                                            \
		if ((len) != sizeof(in))                                                           \
			break;                                                                     \
		memcpy(&in, st, sizeof(in));                                                       \
		init;                                                                              \
		save(dev, &fresh);                                                                 \
		r_ = restore(dev, &in);                                                            \
		save(dev, &again);                                                                 \
		if (r_ != 0 && r_ != -EINVAL)                                                      \
			FAIL(#restore " returned %d", r_);                                         \
		if (r_ == 0 && memcmp(&again, &in, sizeof(in)) != 0)                               \
			FAIL(#restore " accepted a state that does not save back the same");       \
		if (r_ != 0 && memcmp(&again, &fresh, sizeof(in)) != 0)                            \
			FAIL(#restore " refused a state but changed the device");                  \
		destroy;                                                                           \
	} while (0)

static void restore_one(const char *tag, const void *st, uint32_t len)
{
	if (strcmp(tag, "uart") == 0) {
		struct uart8250 u;
		struct uart8250_host h = { line, NULL, bytes, NULL, nothing, NULL };

		TRY(struct uart8250_state, &u, uart8250_init(&u, &h), uart8250_restore,
		    uart8250_save, uart8250_destroy(&u), st, len);
	} else if (strcmp(tag, "pit") == 0) {
		struct pit p;
		struct pit_host h = { mono, NULL, line, NULL, arm, NULL };

		TRY(struct pit_state, &p, pit_init(&p, &h), pit_restore, pit_save, pit_destroy(&p),
		    st, len);
	} else if (strcmp(tag, "rtc") == 0) {
		struct rtc r;
		struct rtc_host h = { .now = wall };

		TRY(struct rtc_state, &r, rtc_init(&r, &h), rtc_restore, rtc_save, rtc_destroy(&r),
		    st, len);
	} else if (strcmp(tag, "i8042") == 0) {
		struct i8042 k;
		struct i8042_host h = { line, NULL, nothing, NULL };

		TRY(struct i8042_state, &k, i8042_init(&k, &h), i8042_restore, i8042_save,
		    i8042_destroy(&k), st, len);
	} else if (strcmp(tag, "acpi-pm") == 0) {
		struct acpi_pm pm;
		struct acpi_pm_host h = { nothing, nothing, NULL, line, NULL };

		TRY(struct acpi_pm_state, &pm, acpi_pm_init(&pm, 5, &h), acpi_pm_restore,
		    acpi_pm_save, acpi_pm_destroy(&pm), st, len);
	}
}

static const char *const tags[] = { "uart", "pit", "rtc", "i8042", "acpi-pm" };
static const uint32_t versions[] = { UART8250_STATE_VERSION, PIT_STATE_VERSION, RTC_STATE_VERSION,
				     I8042_STATE_VERSION, ACPI_PM_STATE_VERSION };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_in *in = NULL;
	char err[256];
	int fd, ret;

	/* Inputs of at least 2 bytes: byte 0 picks a device, its state follows. */
	if (size >= 2 && data[0] < 5) {
		static uint8_t st[512];
		size_t n = size - 1 > sizeof(st) ? sizeof(st) : size - 1;

		memset(st, 0, sizeof(st));
		memcpy(st, data + 1, n);
		restore_one(tags[data[0]], st,
			    (uint32_t)(data[0] == 0   ? sizeof(struct uart8250_state)
				       : data[0] == 1 ? sizeof(struct pit_state)
				       : data[0] == 2 ? sizeof(struct rtc_state)
				       : data[0] == 3 ? sizeof(struct i8042_state)
						      : sizeof(struct acpi_pm_state)));
		return 0;
	}
	fd = memfd_create("fuzz-snap", MFD_CLOEXEC);
	if (fd < 0)
		FAIL("memfd_create: %s", strerror(errno));
	if (size && write(fd, data, size) != (ssize_t)size)
		FAIL("writing the input: %s", strerror(errno));
	if (size && (data[size - 1] & 1) && ftruncate(fd, (off_t)size + (4 << 20)) < 0)
		FAIL("ftruncate: %s", strerror(errno));
	ret = snap_in_open(&in, fd, err, sizeof(err));
	if (ret < 0) {
		if (ret != -EBADMSG && ret != -EPROTO && ret != -ENOMEM)
			FAIL("a file refused with %d (%s)", ret, err);
		if (!err[0])
			FAIL("a file refused without a message");
		close(fd);
		return 0;
	}
	for (unsigned int i = 0; i < 5; i++) {
		uint32_t len = 0;
		int e;
		const void *p = snap_in_find(in, tags[i], versions[i], &len, &e);

		if (p)
			restore_one(tags[i], p, len);
	}
	{
		struct snap_region r[SNAP_MAX_REGIONS];
		unsigned int n = snap_in_regions(in, r);

		if (n == 0 || n > SNAP_MAX_REGIONS)
			FAIL("%u RAM regions accepted", n);
		/* Each region lies within the file: map it and touch its last byte. */
		for (unsigned int i = 0; i < n; i++) {
			void *m;

			if (r[i].size > (64ULL << 20))
				continue;
			m = mmap(NULL, r[i].size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				continue;
			if (snap_in_map(in, i, m) == 0)
				(void)*(volatile uint8_t *)((uint8_t *)m + r[i].size - 1);
			munmap(m, r[i].size);
		}
	}
	snap_in_close(in);
	close(fd);
	return 0;
}
