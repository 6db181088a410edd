// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the legacy devices behind the port-I/O and MMIO buses,
 * driven by a hostile guest and a host whose clocks the input steps.
 *
 * The port bus carries what a machine has: COM1 (8250), the PIT and port
 * 0x61, the CMOS RTC, the i8042, the ACPI PM blocks, debugcon and an
 * isa-debug-exit window the input places. The MMIO bus (the full 64-bit
 * space) carries a second UART and up to four scratch windows the input
 * places anywhere, near the top of the space included, with the access
 * sizes it chooses.
 *
 * The input is a short header (clock start values, where the debug-exit and
 * scratch windows go) and then a script: reads and writes of 0 to 16 bytes
 * at addresses picked among the devices' windows (and their edges) or at
 * random, clock steps, host timer expiries, UART input from the host, the
 * power button.
 *
 * bus_register() is wrapped at link time (-Wl,--wrap=bus_register): every
 * window a device registers is checked against a model of the bus's rules,
 * and its handlers are called through a spy that checks that each access a
 * device sees lies inside its window, inside the access the script made,
 * and within the sizes it declared. Beyond that the target checks: IRQ
 * levels are 0 or 1, the pulsed lines (PIT, i8042) are low between
 * accesses, the level lines (UART, SCI) follow the devices' state, a host
 * timer expiry raises at most one PIT interrupt and leaves no deadline in
 * the past, the FIFOs never hold more than their size, unclaimed reads
 * return all-ones, and debug-exit codes are odd bytes.
 */
#include "tests/fuzz/fuzzin.h"
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/log.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
			void *opaque, const char *devname);
int __wrap_bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
			void *opaque, const char *devname);

#define MAX_SPIES 32
#define MAX_OPS 4096
#define MAX_ACCESS 16
#define SCRATCH_WINDOWS 4
#define SCRATCH_SIZE 64
#define HOST_RX_MAX 256
#define PIT_CLOCK_MAX (1ULL << 60) /* decades of host uptime, in ns */
#define RTC_CLOCK_MAX (1LL << 33)  /* host wall clock, s: up to the year 2242 */
#define MMIO_UART_BASE 0x1000

#define FAIL(...) FUZZ_FAIL("fuzz_devices", __VA_ARGS__)

/* A window a device registered, and the handlers it gave. */
struct spy {
	struct bus *bus;
	uint64_t base, len;
	unsigned int min, max;
	const struct bus_ops *ops;
	void *opaque;
	struct bus_ops mine; /* what the bus calls: the checks, then `ops` */
	unsigned long calls;
};

/* The access the script is making, so a device call can be checked against it. */
struct access {
	bool active;
	struct bus *bus;
	uint64_t addr;
	unsigned int len;
};

struct line {
	const char *name;
	int level;
	unsigned int raises;
};

struct fixture {
	struct bus *pio, *mmio;
	uint64_t pio_limit;
	struct spy spies[MAX_SPIES];
	unsigned int nr_spies;
	struct access cur;

	uint64_t pit_now;   /* monotonic, ns */
	int64_t rtc_now_ns; /* wall clock, ns since the epoch */
	uint64_t pit_armed; /* the PIT's last deadline; UINT64_MAX: none */
	struct line irq0, irq1, irq4, irq4b, sci;

	uint8_t host_rx[HOST_RX_MAX]; /* input the host has for COM1 */
	size_t host_rx_len;
	bool in_rx_space;

	unsigned long tx_bytes, con_bytes, exits, power_offs, resets;
	uint16_t dexit_base;

	struct uart8250 uart, uart2;
	struct pit pit;
	struct rtc rtc;
	struct i8042 kbd;
	struct acpi_pm pm;
	struct debugcon dcon;
	struct debug_exit dexit;
	uint8_t scratch[SCRATCH_WINDOWS][SCRATCH_SIZE];
};

static struct fixture fx;

/* --- the bus spy ---------------------------------------------------------------------------- */

static void check_call(const struct spy *s, uint64_t off, unsigned int size, const char *what)
{
	uint64_t start = s->base + off, first, last;

	if (!fx.cur.active)
		FAIL("%s at +0x%llx outside any bus access", what, (unsigned long long)off);
	if (s->bus != fx.cur.bus)
		FAIL("%s reached a device on the other bus", what);
	if (size != 1 && size != 2 && size != 4 && size != 8)
		FAIL("%s of %u bytes", what, size);
	if (size < s->min || size > s->max)
		FAIL("%s of %u bytes; the device takes %u..%u", what, size, s->min, s->max);
	if (off >= s->len || size > s->len - off)
		FAIL("%s at +0x%llx (%u bytes) outside the %llu-byte window", what,
		     (unsigned long long)off, size, (unsigned long long)s->len);
	/* Inside the access the guest made (addresses wrap at 2^64, as the bus's do). */
	first = start - fx.cur.addr;
	last = first + size - 1;
	if (first >= fx.cur.len || last >= fx.cur.len || last < first)
		FAIL("%s at 0x%llx (%u bytes) outside the access at 0x%llx (%u bytes)", what,
		     (unsigned long long)start, size, (unsigned long long)fx.cur.addr, fx.cur.len);
}

static uint64_t spy_read(void *opaque, uint64_t off, unsigned int size)
{
	struct spy *s = opaque;

	check_call(s, off, size, "read");
	s->calls++;
	return s->ops->read(s->opaque, off, size);
}

static void spy_write(void *opaque, uint64_t off, uint64_t value, unsigned int size)
{
	struct spy *s = opaque;

	check_call(s, off, size, "write");
	s->calls++;
	s->ops->write(s->opaque, off, value, size);
}

static bool valid_size(unsigned int s)
{
	return s == 1 || s == 2 || s == 4 || s == 8;
}

/* What bus_register() must answer, from its documented rules and the windows it holds. */
static int expected_register(struct bus *bus, uint64_t base, uint64_t len,
			     const struct bus_ops *ops)
{
	uint64_t limit = bus == fx.pio ? fx.pio_limit : 0, last;
	unsigned int min, max;

	if (!ops || len == 0)
		return -EINVAL;
	last = base + (len - 1);
	if (last < base)
		return -EINVAL;
	if (limit && (base >= limit || last >= limit))
		return -ERANGE;
	min = ops->min_access ? ops->min_access : 1;
	max = ops->max_access ? ops->max_access : 8;
	if (!valid_size(min) || !valid_size(max) || min > max)
		return -EINVAL;
	for (unsigned int i = 0; i < fx.nr_spies; i++) {
		const struct spy *s = &fx.spies[i];

		if (s->bus == bus && base <= s->base + (s->len - 1) && s->base <= last)
			return -EBUSY;
	}
	return 0;
}

int __wrap_bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
			void *opaque, const char *devname)
{
	int want = expected_register(bus, base, len, ops), ret;
	struct spy *s;

	if (fx.nr_spies == MAX_SPIES)
		FAIL("more windows than the fixture can watch");
	s = &fx.spies[fx.nr_spies];
	*s = (struct spy){ .bus = bus, .base = base, .len = len, .ops = ops, .opaque = opaque };
	if (ops) {
		s->min = ops->min_access ? ops->min_access : 1;
		s->max = ops->max_access ? ops->max_access : 8;
		s->mine = *ops;
		if (ops->read)
			s->mine.read = spy_read;
		if (ops->write)
			s->mine.write = spy_write;
	}
	ret = __real_bus_register(bus, base, len, ops ? &s->mine : NULL, s, devname);
	if (ret != want)
		FAIL("registering %s at 0x%llx (+0x%llx) returned %d, not %d",
		     devname ? devname : "?", (unsigned long long)base, (unsigned long long)len,
		     ret, want);
	if (ret == 0)
		fx.nr_spies++;
	return ret;
}

/* Whether any registered window on `bus` holds `addr`. */
static bool claimed(struct bus *bus, uint64_t addr)
{
	for (unsigned int i = 0; i < fx.nr_spies; i++) {
		const struct spy *s = &fx.spies[i];

		if (s->bus == bus && addr - s->base < s->len)
			return true;
	}
	return false;
}

static unsigned long total_calls(void)
{
	unsigned long n = 0;

	for (unsigned int i = 0; i < fx.nr_spies; i++)
		n += fx.spies[i].calls;
	return n;
}

/* --- host side ------------------------------------------------------------------------------ */

static void line_set(struct line *l, int level, bool pulsed)
{
	if (level != 0 && level != 1)
		FAIL("%s set to level %d", l->name, level);
	if (pulsed && level == l->level)
		FAIL("%s: a pulse %s twice", l->name, level ? "raised" : "lowered");
	if (level && !l->level)
		l->raises++;
	l->level = level;
}

static void irq0_set(void *opaque, int level)
{
	(void)opaque;
	line_set(&fx.irq0, level, true);
}

static void irq1_set(void *opaque, int level)
{
	(void)opaque;
	line_set(&fx.irq1, level, true);
}

static void uart_irq_set(void *opaque, int level)
{
	line_set(opaque, level, false);
}

static void sci_set(void *opaque, int level)
{
	(void)opaque;
	line_set(&fx.sci, level, false);
}

static uint64_t pit_clock(void *opaque)
{
	(void)opaque;
	return fx.pit_now;
}

static void pit_arm(void *opaque, uint64_t deadline_ns)
{
	(void)opaque;
	fx.pit_armed = deadline_ns;
}

static int64_t rtc_clock_ns(void *opaque)
{
	(void)opaque;
	return fx.rtc_now_ns;
}

static int64_t rtc_clock(void *opaque)
{
	(void)opaque;
	return fx.rtc_now_ns / 1000000000;
}

static void uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	fx.tx_bytes += len;
}

static void check_fifo(const struct uart8250 *u)
{
	unsigned int cap = (u->fcr & UART_FCR_ENABLE) ? UART8250_FIFO_SIZE : 1;

	if (u->rx_count > cap || u->rx_head >= UART8250_FIFO_SIZE)
		FAIL("UART FIFO holds %u bytes from %u; it has room for %u", u->rx_count,
		     u->rx_head, cap);
}

/* Pushes what the host has queued for COM1, as the console does. */
static void host_push(void)
{
	size_t room = uart8250_rx_space(&fx.uart), n;

	if (!fx.host_rx_len)
		return;
	n = uart8250_rx_push(&fx.uart, fx.host_rx, fx.host_rx_len);
	if (n > fx.host_rx_len || n > room)
		FAIL("rx_push took %zu of %zu bytes with room for %zu", n, fx.host_rx_len, room);
	check_fifo(&fx.uart);
	memmove(fx.host_rx, fx.host_rx + n, fx.host_rx_len - n);
	fx.host_rx_len -= n;
	if (!fx.host_rx_len)
		uart8250_rx_idle(&fx.uart);
}

/* The guest read input: the host may push more (from this callback, as the console may). */
static void uart_rx_space(void *opaque)
{
	(void)opaque;
	if (fx.in_rx_space)
		FAIL("rx_space re-entered");
	fx.in_rx_space = true;
	host_push();
	fx.in_rx_space = false;
}

static void con_out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	fx.con_bytes += len;
}

static void request_exit(void *opaque, int code)
{
	(void)opaque;
	if (code < 0 || code > 255 || !(code & 1))
		FAIL("debug-exit asked for exit code %d", code);
	fx.exits++;
}

static void power_off(void *opaque)
{
	(void)opaque;
	fx.power_offs++;
}

static void reset(void *opaque)
{
	(void)opaque;
	fx.resets++;
}

/* A window of plain registers: what the guest writes, it reads back. */
static uint64_t scratch_read(void *opaque, uint64_t off, unsigned int size)
{
	const uint8_t *r = opaque;
	uint64_t v = 0;

	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)r[off + i] << (8 * i);
	return v;
}

static void scratch_write(void *opaque, uint64_t off, uint64_t value, unsigned int size)
{
	uint8_t *r = opaque;

	for (unsigned int i = 0; i < size; i++)
		r[off + i] = (uint8_t)(value >> (8 * i));
}

/* --- the script ----------------------------------------------------------------------------- */

/* Port windows worth aiming at; an access lands at a small offset around one. */
static const uint16_t pio_targets[] = {
	UART8250_COM1_BASE, PIT_BASE,		PIT_PORT_CONTROL,	 PIT_PORT_B,
	RTC_PORT_BASE,	    I8042_DATA_PORT,	I8042_CMD_PORT,		 ACPI_PM_EVT_BASE,
	ACPI_PM_CNT_BASE,   ACPI_PM_RESET_PORT, DEBUGCON_DEFAULT_IOBASE,
};

static uint64_t pick_addr(struct fin *in, bool mmio, const uint64_t *scratch_base)
{
	uint8_t sel = (uint8_t)fin_take(in, 1);
	int delta = (int)(sel & 0x0f) - 4; /* -4 .. +11 around the window's start */

	sel >>= 4;
	if (!mmio) {
		if (sel < sizeof(pio_targets) / sizeof(pio_targets[0]))
			return (uint16_t)(pio_targets[sel] + delta);
		if (sel == 12)
			return (uint16_t)(fx.dexit_base + delta);
		return fin_take(in, 2);
	}
	if (sel < SCRATCH_WINDOWS)
		return scratch_base[sel] + (uint64_t)(int64_t)delta;
	if (sel == 4)
		return MMIO_UART_BASE + (uint64_t)(int64_t)delta;
	if (sel == 5)
		return (uint64_t)(int64_t)delta - 8; /* around the top of the space */
	return fin_take(in, 8);
}

static void check_lines(void)
{
	if (fx.irq0.level)
		FAIL("IRQ 0 (PIT) left high after a pulse");
	if (fx.irq1.level)
		FAIL("IRQ 1 (i8042) left high after a pulse");
	if (fx.irq4.level != fx.uart.irq_level || fx.irq4b.level != fx.uart2.irq_level)
		FAIL("a UART's IRQ line is %d/%d but the device holds %d/%d", fx.irq4.level,
		     fx.irq4b.level, fx.uart.irq_level, fx.uart2.irq_level);
	if (fx.sci.level != ((fx.pm.sts & fx.pm.en) != 0))
		FAIL("SCI is %d with PM1_STS 0x%x and PM1_EN 0x%x", fx.sci.level, fx.pm.sts,
		     fx.pm.en);
	check_fifo(&fx.uart);
	check_fifo(&fx.uart2);
	if (fx.kbd.kbd_count > I8042_KBD_FIFO_SIZE || fx.kbd.kbd_head >= I8042_KBD_FIFO_SIZE)
		FAIL("i8042 FIFO holds %u bytes from %u", fx.kbd.kbd_count, fx.kbd.kbd_head);
	if (fx.rtc.index >= RTC_RAM_SIZE)
		FAIL("RTC index 0x%x", fx.rtc.index);
}

static void do_access(struct bus *bus, bool write, uint64_t addr, unsigned int len, uint64_t value)
{
	uint8_t buf[MAX_ACCESS];
	bool any = false;
	unsigned long before = total_calls();

	for (unsigned int i = 0; i < len; i++)
		any |= claimed(bus, addr + i);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(value >> (8 * (i % 8)));
	fx.cur = (struct access){ .active = true, .bus = bus, .addr = addr, .len = len };
	if (write) {
		bus_write(bus, addr, buf, len);
	} else {
		memset(buf, 0x5a, sizeof(buf));
		bus_read(bus, addr, buf, len);
		for (unsigned int i = 0; i < len; i++)
			if (!claimed(bus, addr + i) && buf[i] != 0xff)
				FAIL("unclaimed byte at 0x%llx read 0x%02x",
				     (unsigned long long)(addr + i), buf[i]);
		for (unsigned int i = len; i < sizeof(buf); i++)
			if (buf[i] != 0x5a)
				FAIL("a %u-byte read wrote byte %u of the buffer", len, i);
	}
	fx.cur.active = false;
	if (!any && total_calls() != before)
		FAIL("an access to 0x%llx (%u bytes) outside every window reached a device",
		     (unsigned long long)addr, len);
}

static void fire_pit(uint64_t late)
{
	unsigned int raises = fx.irq0.raises;

	if (fx.pit_armed == UINT64_MAX)
		return;
	if (fx.pit_now < fx.pit_armed)
		fx.pit_now = fx.pit_armed;
	if (late < PIT_CLOCK_MAX - fx.pit_now)
		fx.pit_now += late;
	pit_timer_fire(&fx.pit);
	if (fx.irq0.raises - raises > 1)
		FAIL("one timer expiry raised %u interrupts", fx.irq0.raises - raises);
	if (fx.pit_armed != UINT64_MAX && fx.pit_armed <= fx.pit_now)
		FAIL("the PIT armed its timer for %llu ns, not after now (%llu ns)",
		     (unsigned long long)fx.pit_armed, (unsigned long long)fx.pit_now);
}

static void run_op(struct fin *in, const uint64_t *scratch_base)
{
	/* Bits 0-3 choose the operation, bits 4-7 its flavour. */
	static const unsigned int pio_lens[8] = { 1, 2, 4, 1, 8, 3, 6, 16 };
	static const unsigned int mmio_lens[8] = { 1, 2, 4, 8, 0, 5, 7, 12 };
	uint8_t op = (uint8_t)fin_take(in, 1);

	switch ((op & 0x0f) % 10) {
	case 0: /* port read or write */
	case 1:
	case 2: {
		bool write = op & 0x10;
		unsigned int len = pio_lens[(op >> 5) & 7];
		uint64_t addr = pick_addr(in, false, scratch_base);

		do_access(fx.pio, write, addr, len, write ? fin_take(in, len < 8 ? len : 8) : 0);
		break;
	}
	case 3: /* MMIO read or write */
	case 4: {
		bool write = op & 0x10;
		unsigned int len = mmio_lens[(op >> 5) & 7];
		uint64_t addr = pick_addr(in, true, scratch_base);

		do_access(fx.mmio, write, addr, len, write ? fin_take(in, 8) : 0);
		break;
	}
	case 5: { /* the monotonic clock moves on */
		uint64_t step = fin_take(in, 4) << ((op >> 4) & 15) * 2;

		fx.pit_now = step < PIT_CLOCK_MAX - fx.pit_now ? fx.pit_now + step : PIT_CLOCK_MAX;
		break;
	}
	case 6: /* the host timer expires (late by up to the input's choice) */
		fire_pit(fin_take(in, 2) << ((op >> 4) & 15));
		break;
	case 7: { /* the wall clock jumps, either way */
		int64_t step = (int64_t)(int32_t)fin_take(in, 4) * ((int64_t)1 << ((op >> 4) & 15));

		fx.rtc_now_ns += step;
		if (fx.rtc_now_ns < 0)
			fx.rtc_now_ns = 0;
		if (fx.rtc_now_ns > RTC_CLOCK_MAX * 1000000000)
			fx.rtc_now_ns = RTC_CLOCK_MAX * 1000000000;
		break;
	}
	case 8: { /* the host has input for COM1 */
		size_t n = fin_take(in, 1) % 64;

		if (n > HOST_RX_MAX - fx.host_rx_len)
			n = HOST_RX_MAX - fx.host_rx_len;
		for (size_t i = 0; i < n; i++)
			fx.host_rx[fx.host_rx_len++] = (uint8_t)fin_take(in, 1);
		host_push();
		break;
	}
	case 9: /* events: the power button, the second UART's host side */
		if (op & 0x10) {
			acpi_pm_power_button(&fx.pm);
		} else {
			uint8_t b[32];
			size_t n = fin_take(in, 1) % sizeof(b), room = uart8250_rx_space(&fx.uart2);

			for (size_t i = 0; i < n; i++)
				b[i] = (uint8_t)fin_take(in, 1);
			if (uart8250_rx_push(&fx.uart2, b, n) > room)
				FAIL("rx_push took more than rx_space offered");
			if (op & 0x20)
				uart8250_rx_idle(&fx.uart2);
		}
		break;
	}
	check_lines();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = { .p = data, .left = size };
	uint64_t scratch_base[SCRATCH_WINDOWS];
	struct bus_ops scratch_ops[SCRATCH_WINDOWS];
	unsigned int pio_devices, mmio_devices;
	uint8_t flags;

	log_set_level(LOG_LVL_ERROR);
	memset(&fx, 0, sizeof(fx));
	fx.irq0.name = "IRQ 0";
	fx.irq1.name = "IRQ 1";
	fx.irq4.name = "IRQ 4";
	fx.irq4b.name = "MMIO UART IRQ";
	fx.sci.name = "SCI";
	fx.pit_armed = UINT64_MAX;
	fx.pio_limit = 0x10000;

	flags = (uint8_t)fin_take(&in, 1);
	fx.pit_now = fin_take(&in, 6);
	fx.rtc_now_ns = (int64_t)(fin_take(&in, 5) % (uint64_t)RTC_CLOCK_MAX) * 1000000000 +
			(int64_t)(fin_take(&in, 4) % 1000000000);

	if (bus_create(&fx.pio, "pio", fx.pio_limit) || bus_create(&fx.mmio, "mmio", 0))
		abort();

	uart8250_init(&fx.uart, &(struct uart8250_host){ .irq_set = uart_irq_set,
							 .irq_opaque = &fx.irq4,
							 .tx = uart_tx,
							 .rx_space = uart_rx_space });
	uart8250_init(&fx.uart2, &(struct uart8250_host){ .irq_set = uart_irq_set,
							  .irq_opaque = &fx.irq4b,
							  .tx = uart_tx });
	pit_init(&fx.pit, &(struct pit_host){
				  .now_ns = pit_clock, .irq_set = irq0_set, .arm_timer = pit_arm });
	if (rtc_init(&fx.rtc, (flags & 1) ? &(struct rtc_host){ .now = rtc_clock }
					  : &(struct rtc_host){ .now_ns = rtc_clock_ns }))
		abort();
	i8042_init(&fx.kbd, &(struct i8042_host){ .irq_set = irq1_set, .reset = reset });
	acpi_pm_init(&fx.pm, 5,
		     &(struct acpi_pm_host){
			     .power_off = power_off, .reset = reset, .sci_set = sci_set });
	fx.dcon.out = con_out;
	fx.dexit.request_exit = request_exit;

	/* A machine's port layout: none of these may fail. */
	if (uart8250_register(&fx.uart, fx.pio, UART8250_COM1_BASE) ||
	    pit_register(&fx.pit, fx.pio) || rtc_register(&fx.rtc, fx.pio) ||
	    i8042_register(&fx.kbd, fx.pio) || acpi_pm_register(&fx.pm, fx.pio) ||
	    debugcon_register(&fx.dcon, fx.pio, DEBUGCON_DEFAULT_IOBASE) ||
	    uart8250_register(&fx.uart2, fx.mmio, MMIO_UART_BASE))
		FAIL("a fixed window was refused");
	/* Where the input puts isa-debug-exit (it may collide: the wrapper checks the answer). */
	fx.dexit_base = (uint16_t)fin_take(&in, 2);
	(void)debug_exit_register(&fx.dexit, fx.pio, fx.dexit_base,
				  (uint32_t)(fin_take(&in, 1) % 9));
	/* Scratch windows anywhere in the 64-bit space, with the access sizes the input picks. */
	for (unsigned int i = 0; i < SCRATCH_WINDOWS; i++) {
		/* Mostly valid sizes; 0 means the default; 3 and 16 must be refused. */
		static const unsigned int sz[8] = { 0, 1, 2, 4, 8, 1, 3, 16 };
		uint8_t sizes = (uint8_t)fin_take(&in, 1);

		scratch_base[i] = fin_take(&in, 8);
		if (sizes & 0x80)
			scratch_base[i] = ~(scratch_base[i] & 0xffff); /* near the top */
		scratch_ops[i] = (struct bus_ops){ .read = scratch_read,
						   .write = scratch_write,
						   .min_access = sz[sizes & 7],
						   .max_access = sz[(sizes >> 3) & 7] };
		(void)bus_register(fx.mmio, scratch_base[i], fin_take(&in, 1) % (SCRATCH_SIZE + 1),
				   &scratch_ops[i], fx.scratch[i], "scratch");
	}
	pio_devices = bus_device_count(fx.pio);
	mmio_devices = bus_device_count(fx.mmio);

	for (unsigned int n = 0; in.left && n < MAX_OPS; n++)
		run_op(&in, scratch_base);

	if (bus_device_count(fx.pio) != pio_devices || bus_device_count(fx.mmio) != mmio_devices)
		FAIL("the buses' device counts changed while the guest ran");
	bus_destroy(fx.pio);
	bus_destroy(fx.mmio);
	uart8250_destroy(&fx.uart);
	uart8250_destroy(&fx.uart2);
	pit_destroy(&fx.pit);
	rtc_destroy(&fx.rtc);
	i8042_destroy(&fx.kbd);
	acpi_pm_destroy(&fx.pm);
	return 0;
}
