// SPDX-License-Identifier: MIT
/*
 * Behaviour follows the Intel 8254 datasheet (231164). Where it leaves
 * things undefined, the choices are:
 * - Reading 0x43 returns 0xff: the chip does not drive the bus for a read of
 *   the control word address, and an ISA bus nobody drives reads all-ones.
 * - Before a count has ever reached the counting element, reads return what
 *   it last held (0 after reset), as the chip returns stale contents.
 * - A count of 1, illegal in modes 2 and 3, holds OUT high and the counter
 *   at 1: no interrupts, rather than one per input clock.
 * - BCD counting is implemented; a nibble above 9 in a BCD count counts as 9.
 * - A latch command restarts the byte sequence at the LSB for the latched
 *   count, as QEMU and Bochs do.
 * - Only edges produced by counting raise IRQ 0. A control word that forces
 *   OUT0 from low to high would latch a spurious interrupt on real hardware;
 *   no guest relies on that and it is not delivered.
 */
#include "config.h"

#include "i8254.h"
#include "core/bus.h"
#include "core/clock.h"

#include <errno.h>
#include <string.h>

#define TICK_NEVER INT64_MAX

/*
 * On a PC, channel 1 requests a DRAM refresh every 18 input clocks
 * (15.09 us) and port 0x61 bit 4 toggles with each request. Firmware and
 * old kernels poll the toggle for short delays, so it follows the clock
 * even though channel 1 is otherwise free for the guest.
 */
#define REFRESH_TICKS 18

enum { CE_IDLE, CE_RUN, CE_HELD };

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD };

/* The number of input clock edges that have happened by `ns`. */
static int64_t ns_to_tick(uint64_t ns)
{
	/* 128-bit: ns * PIT_HZ overflows 64 bits after about 4.3 hours. */
	return (int64_t)((unsigned __int128)ns * PIT_HZ / NSEC_PER_SEC);
}

/* The first nanosecond at which edge `t` has happened. */
static uint64_t tick_to_ns(int64_t t)
{
	unsigned __int128 ns;

	if (t <= 0)
		return 0;
	ns = ((unsigned __int128)t * NSEC_PER_SEC + PIT_HZ - 1) / PIT_HZ;
	/* UINT64_MAX would mean "cancel" to the host: stop one short. */
	return ns >= UINT64_MAX ? UINT64_MAX - 1 : (uint64_t)ns;
}

static int64_t now_tick(struct pit *p)
{
	return ns_to_tick(p->host.now_ns(p->host.clock_opaque));
}

static uint32_t modulus(const struct pit_channel *c)
{
	return c->bcd ? 10000 : 65536;
}

/* The count the count register stands for: 0 means the largest. */
static uint32_t cr_count(const struct pit_channel *c)
{
	uint32_t n = c->cr;

	if (c->bcd) {
		n = 0;
		for (int shift = 12; shift >= 0; shift -= 4) {
			uint32_t digit = (c->cr >> shift) & 0xf;

			n = n * 10 + (digit > 9 ? 9 : digit);
		}
	}
	return n ? n : modulus(c);
}

/* A counter value as the guest reads it: 65536 reads 0, BCD reads decimal digits. */
static uint16_t to_register(const struct pit_channel *c, uint32_t v)
{
	v %= modulus(c);
	if (!c->bcd)
		return (uint16_t)v;
	return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

/* Decrements done by edge t. */
static int64_t elapsed(const struct pit_run *r, int64_t t)
{
	int64_t e = r->state == CE_HELD ? r->held : t - r->base;

	/* Negative only if the host clock went backwards: treat it as no time. */
	return e < 0 ? 0 : e;
}

static uint32_t count_after(const struct pit_channel *c, const struct pit_run *r, int64_t e)
{
	uint32_t n = r->n, m = modulus(c), h, p;

	switch (c->mode) {
	case 2:
		if (n < 2)
			return n;
		return n - (uint32_t)(e % n);
	case 3:
		/*
		 * Decrements by two; OUT is high for the first ceil(n/2) edges of
		 * each period and low for the rest. An odd count loads as n - 1
		 * and the high half takes one extra edge to expire at 0.
		 */
		if (n < 2)
			return n;
		h = (n + 1) / 2;
		p = (uint32_t)(e % n);
		if (p >= h)
			p -= h;
		return (n & ~1u) - 2 * p;
	default:
		/* Past terminal count the counter wraps and keeps going. */
		return (uint32_t)((n + m - (uint64_t)(e % m)) % m);
	}
}

static uint16_t run_value(const struct pit_channel *c, const struct pit_run *r, int64_t t)
{
	if (r->state == CE_IDLE)
		return c->idle_value;
	return to_register(c, count_after(c, r, elapsed(r, t)));
}

static bool run_out(const struct pit_channel *c, const struct pit_run *r, int64_t t)
{
	uint32_t n = r->n;
	int64_t e;

	/* After a control word OUT is low in mode 0 and high in the others. */
	if (r->state == CE_IDLE)
		return c->mode != 0;
	/* In modes 2 and 3 a low gate forces OUT high. */
	if (r->state == CE_HELD && (c->mode == 2 || c->mode == 3))
		return true;
	e = elapsed(r, t);
	switch (c->mode) {
	case 0:
	case 1:
		return e >= n;
	case 2:
		return n < 2 || e % n != n - 1;
	case 3:
		return n < 2 || e % n < (n + 1) / 2;
	default:
		return e != n; /* modes 4 and 5: low for one clock at terminal count */
	}
}

/* The first edge after t at which counting alone makes OUT rise, or TICK_NEVER. */
static int64_t run_rise(const struct pit_channel *c, const struct pit_run *r, int64_t t)
{
	int64_t n = r->n, at;

	if (r->state != CE_RUN)
		return TICK_NEVER;
	switch (c->mode) {
	case 0:
	case 1:
		at = r->base + n;
		break;
	case 2:
	case 3:
		/* Once per period, when the counter reloads. */
		if (n < 2)
			return TICK_NEVER;
		if (t < r->base)
			return r->base + n;
		return r->base + ((t - r->base) / n + 1) * n;
	default:
		at = r->base + n + 1; /* the end of the strobe */
		break;
	}
	return at > t ? at : TICK_NEVER;
}

/* Makes a change the chip made at an earlier edge visible. */
static void settle(struct pit_channel *c, int64_t t)
{
	if (c->next_tick > t)
		return;
	c->ce = c->next;
	c->next_tick = TICK_NEVER;
	/* Every pending change moves the count register into the counter. */
	c->null_count = false;
}

static uint16_t value_at(const struct pit_channel *c, int64_t t)
{
	return run_value(c, &c->ce, t);
}

static bool out_at(const struct pit_channel *c, int64_t t)
{
	return run_out(c, &c->ce, t);
}

/* Channel 0's next rising edge after t, including one a pending change brings. */
static int64_t next_rise(const struct pit_channel *c, int64_t t)
{
	int64_t r = run_rise(c, &c->ce, t), s = c->next_tick;

	if (s == TICK_NEVER || r < s)
		return r;
	if (!run_out(c, &c->ce, s - 1) && run_out(c, &c->next, s))
		return s;
	return run_rise(c, &c->next, s);
}

/* The count register reaches the counter at edge `at`, counting from `base`. */
static void schedule(struct pit_channel *c, int64_t at, uint8_t state, uint32_t n, int64_t base)
{
	c->next = (struct pit_run){ .state = state, .n = n, .base = base };
	c->next_tick = at;
}

/* Counting stops; the counter keeps its value. */
static void stop(struct pit_channel *c, int64_t t)
{
	c->idle_value = value_at(c, t);
	c->ce.state = CE_IDLE;
	c->next_tick = TICK_NEVER;
}

/* Gate low freezes counting after the decrement at edge t; gate high resumes at t + 1. */
static void hold(struct pit_run *r, bool gate, int64_t t)
{
	if (!gate && r->state == CE_RUN) {
		r->held = t > r->base ? t - r->base : 0;
		r->state = CE_HELD;
	} else if (gate && r->state == CE_HELD) {
		/* A count not yet loaded keeps its load edge. */
		r->base = (r->base > t ? r->base : t) - r->held;
		r->state = CE_RUN;
	}
}

/*
 * Modes 2 and 3: a count written while counting takes over at the end of
 * the current period (mode 2) or half-cycle (mode 3), without a glitch.
 */
static void switch_at_cycle_end(struct pit_channel *c, uint32_t n, int64_t t)
{
	const struct pit_run *r = &c->ce;
	int64_t p, at;
	uint32_t h;

	if (r->n < 2) {
		schedule(c, t + 1, CE_RUN, n, t + 1); /* no cycle to finish */
		return;
	}
	p = elapsed(r, t) % r->n;
	h = (r->n + 1) / 2;
	if (c->mode == 3 && p < h) {
		/* The high half ends: the new count starts with its low half. */
		at = t - p + h;
		schedule(c, at, CE_RUN, n, at - (n + 1) / 2);
		return;
	}
	at = t - p + r->n;
	schedule(c, at, CE_RUN, n, at);
}

/* A whole count was written. */
static void load_cr(struct pit_channel *c, uint16_t cr, int64_t t)
{
	uint32_t n;

	c->cr = cr;
	c->cr_valid = true;
	c->null_count = true;
	n = cr_count(c);
	switch (c->mode) {
	case 0:
	case 4:
		/* Loaded at the next edge whatever the gate; counts while it is high. */
		schedule(c, t + 1, c->gate ? CE_RUN : CE_HELD, n, t + 1);
		break;
	case 2:
	case 3:
		if (!c->gate)
			break; /* the rising gate loads it */
		if (c->ce.state == CE_RUN)
			switch_at_cycle_end(c, n, t);
		else
			schedule(c, t + 1, CE_RUN, n, t + 1);
		break;
	default:
		/* Modes 1 and 5: the next trigger loads it, or one that loads at the next edge. */
		if (c->next_tick == t + 1)
			c->next.n = n;
		break;
	}
}

static void write_count(struct pit_channel *c, uint8_t v, int64_t t)
{
	switch (c->rw) {
	case RW_LSB:
		load_cr(c, v, t);
		break;
	case RW_MSB:
		load_cr(c, (uint16_t)(v << 8), t);
		break;
	default:
		if (!c->write_msb) {
			c->cr_lsb = v;
			c->write_msb = true;
			/* In mode 0 the first byte stops counting and drops OUT at once. */
			if (c->mode == 0)
				stop(c, t);
			break;
		}
		c->write_msb = false;
		load_cr(c, (uint16_t)(c->cr_lsb | v << 8), t);
		break;
	}
}

static uint8_t read_count(struct pit_channel *c, int64_t t)
{
	uint16_t v;
	bool last;
	uint8_t b;

	if (c->status_latched) {
		c->status_latched = false;
		return c->latched_status;
	}
	v = c->count_latched ? c->latched_count : value_at(c, t);
	switch (c->rw) {
	case RW_LSB:
		b = (uint8_t)v;
		last = true;
		break;
	case RW_MSB:
		b = (uint8_t)(v >> 8);
		last = true;
		break;
	default:
		/*
		 * Without a latch the two bytes come from the counter as it is
		 * at each read; the guest latches to get a consistent pair.
		 */
		b = c->read_msb ? (uint8_t)(v >> 8) : (uint8_t)v;
		last = c->read_msb;
		c->read_msb = !c->read_msb;
		break;
	}
	if (last)
		c->count_latched = false;
	return b;
}

/* A second latch before the first is read is ignored, as on the chip. */
static void latch_count(struct pit_channel *c, int64_t t)
{
	if (c->count_latched)
		return;
	c->latched_count = value_at(c, t);
	c->count_latched = true;
	c->read_msb = false;
}

static void latch_status(struct pit_channel *c, int64_t t)
{
	if (c->status_latched)
		return;
	c->latched_status = (uint8_t)(out_at(c, t) << 7 | c->null_count << 6 | c->rw << 4 |
				      c->mode_bits << 1 | c->bcd);
	c->status_latched = true;
}

static void control(struct pit *p, uint8_t v, int64_t t)
{
	unsigned int sc = v >> 6, rw = (v >> 4) & 3;
	struct pit_channel *c;

	if (sc == 3) {
		/* Read-back: bit 5 clear latches counts, bit 4 clear latches status. */
		for (unsigned int i = 0; i < PIT_CHANNELS; i++) {
			if (!(v & (2u << i)))
				continue;
			settle(&p->ch[i], t);
			if (!(v & 0x20))
				latch_count(&p->ch[i], t);
			if (!(v & 0x10))
				latch_status(&p->ch[i], t);
		}
		return;
	}
	c = &p->ch[sc];
	settle(c, t);
	if (rw == RW_LATCH) {
		latch_count(c, t);
		return;
	}
	/* A control word resets the channel's logic: it waits for a count. */
	stop(c, t);
	c->mode_bits = (v >> 1) & 7;
	c->mode = c->mode_bits > 5 ? c->mode_bits - 4 : c->mode_bits;
	c->rw = (uint8_t)rw;
	c->bcd = v & 1;
	c->write_msb = false;
	c->read_msb = false;
	c->count_latched = false;
	c->status_latched = false;
	c->cr_valid = false;
	c->null_count = true;
}

static void set_gate(struct pit_channel *c, bool level, int64_t t)
{
	settle(c, t);
	if (level == c->gate)
		return;
	c->gate = level;
	switch (c->mode) {
	case 0:
	case 4:
		/* The gate enables counting and nothing else. */
		hold(&c->ce, level, t);
		if (c->next_tick != TICK_NEVER)
			hold(&c->next, level, t);
		return;
	case 2:
	case 3:
		if (!level) {
			hold(&c->ce, false, t);
			c->next_tick = TICK_NEVER; /* the rising gate reloads anyway */
			return;
		}
		break;
	default:
		if (!level)
			return;
		break;
	}
	/* A rising gate loads the count at the next edge: retrigger, or restart the period. */
	if (c->cr_valid)
		schedule(c, t + 1, CE_RUN, cr_count(c), t + 1);
}

/*
 * Raises IRQ 0 if OUT0 rose since the last look. However many edges the
 * host timer was late for, the guest gets one interrupt: a burst would only
 * make its clock run fast, and an edge-triggered input could not tell
 * back-to-back edges apart anyway.
 */
static void deliver_due(struct pit *p, int64_t t)
{
	settle(&p->ch[0], t);
	if (p->irq_next > t)
		return;
	p->host.irq_set(p->host.irq_opaque, 1);
	p->host.irq_set(p->host.irq_opaque, 0);
	p->irq_next = next_rise(&p->ch[0], t);
}

/* `force`: the host's timer has fired and needs a deadline even if unchanged. */
static void rearm(struct pit *p, int64_t t, bool force)
{
	uint64_t ns;

	p->irq_next = next_rise(&p->ch[0], t);
	ns = p->irq_next == TICK_NEVER ? UINT64_MAX : tick_to_ns(p->irq_next);
	if (force || ns != p->armed_ns) {
		p->armed_ns = ns;
		p->host.arm_timer(p->host.timer_opaque, ns);
	}
}

static uint8_t port_b(struct pit *p, int64_t t)
{
	struct pit_channel *c2 = &p->ch[2];
	uint8_t v = 0;

	settle(c2, t);
	if (c2->gate)
		v |= PIT_PORTB_GATE2;
	if (p->speaker)
		v |= PIT_PORTB_SPEAKER;
	if ((t / REFRESH_TICKS) & 1)
		v |= PIT_PORTB_REFRESH;
	if (out_at(c2, t))
		v |= PIT_PORTB_OUT2;
	return v;
}

void pit_init(struct pit *p, const struct pit_host *host)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->host = *host;
	for (unsigned int i = 0; i < PIT_CHANNELS; i++) {
		struct pit_channel *c = &p->ch[i];

		c->mode_bits = 3;
		c->mode = 3;
		c->rw = RW_WORD;
		c->gate = i != 2;
		c->null_count = true;
		c->ce.state = CE_IDLE;
		c->next_tick = TICK_NEVER;
	}
	p->irq_next = TICK_NEVER;
	p->armed_ns = UINT64_MAX;
}

void pit_destroy(struct pit *p)
{
	pthread_mutex_destroy(&p->lock);
}

uint8_t pit_read(struct pit *p, uint16_t port)
{
	uint8_t v = 0xff;
	int64_t t;

	pthread_mutex_lock(&p->lock);
	t = now_tick(p);
	if (port >= PIT_BASE && port < PIT_BASE + PIT_CHANNELS) {
		struct pit_channel *c = &p->ch[port - PIT_BASE];

		settle(c, t);
		v = read_count(c, t);
	} else if (port == PIT_PORT_B) {
		v = port_b(p, t);
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

void pit_write(struct pit *p, uint16_t port, uint8_t v)
{
	int64_t t;

	pthread_mutex_lock(&p->lock);
	t = now_tick(p);
	/* An edge the host timer has not reported yet happened before this write. */
	deliver_due(p, t);
	if (port >= PIT_BASE && port < PIT_BASE + PIT_CHANNELS) {
		struct pit_channel *c = &p->ch[port - PIT_BASE];

		settle(c, t);
		write_count(c, v, t);
	} else if (port == PIT_PORT_CONTROL) {
		control(p, v, t);
	} else if (port == PIT_PORT_B) {
		set_gate(&p->ch[2], v & PIT_PORTB_GATE2, t);
		p->speaker = v & PIT_PORTB_SPEAKER;
	}
	rearm(p, t, false);
	pthread_mutex_unlock(&p->lock);
}

void pit_timer_fire(struct pit *p)
{
	int64_t t;

	pthread_mutex_lock(&p->lock);
	t = now_tick(p);
	deliver_due(p, t);
	rearm(p, t, true);
	pthread_mutex_unlock(&p->lock);
}

/* A run as the snapshot keeps it: times relative to edge t, unused fields zero. */
static void save_run(const struct pit_run *r, int64_t t, struct pit_run_state *out)
{
	out->state = r->state;
	if (r->state == CE_IDLE)
		return;
	out->n = r->n;
	out->base = r->base - t;
	if (r->state == CE_HELD)
		out->held = r->held;
}

static int64_t save_tick(int64_t tick, int64_t t)
{
	return tick == TICK_NEVER ? PIT_STATE_NEVER : tick - t;
}

void pit_save(struct pit *p, struct pit_state *out)
{
	int64_t t;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	t = now_tick(p);
	for (unsigned int i = 0; i < PIT_CHANNELS; i++) {
		const struct pit_channel *c = &p->ch[i];
		struct pit_channel_state *o = &out->ch[i];

		o->mode_bits = c->mode_bits;
		o->rw = c->rw;
		o->bcd = c->bcd;
		o->gate = c->gate;
		o->cr_valid = c->cr_valid;
		o->write_msb = c->write_msb;
		o->read_msb = c->read_msb;
		o->null_count = c->null_count;
		o->count_latched = c->count_latched;
		o->status_latched = c->status_latched;
		o->cr_lsb = c->cr_lsb;
		o->latched_status = c->latched_status;
		o->cr = c->cr;
		o->latched_count = c->latched_count;
		o->idle_value = c->idle_value;
		save_run(&c->ce, t, &o->ce);
		/* A change already made keeps no meaning: leave it zero. */
		if (c->next_tick != TICK_NEVER)
			save_run(&c->next, t, &o->next);
		o->next_tick = save_tick(c->next_tick, t);
	}
	out->irq_next = save_tick(p->irq_next, t);
	out->speaker = p->speaker;
	pthread_mutex_unlock(&p->lock);
}

/*
 * Bounded so that rebasing on any host clock (under 2^55 edges in 64 bits
 * of nanoseconds) and the arithmetic on the result cannot overflow.
 */
static bool rel_valid(int64_t v)
{
	return v >= -PIT_STATE_MAX_TICKS && v <= PIT_STATE_MAX_TICKS;
}

static bool tick_valid(int64_t v)
{
	return v == PIT_STATE_NEVER || rel_valid(v);
}

/* `idle_ok`: the run may be idle, with every other field zero. */
static bool run_valid(const struct pit_run_state *r, uint32_t modulus, bool idle_ok)
{
	if (r->pad[0] || r->pad[1] || r->pad[2])
		return false;
	switch (r->state) {
	case CE_IDLE:
		return idle_ok && !r->n && !r->base && !r->held;
	case CE_RUN:
		if (r->held)
			return false;
		break;
	case CE_HELD:
		if (r->held < 0 || r->held > PIT_STATE_MAX_TICKS)
			return false;
		break;
	default:
		return false;
	}
	return r->n >= 1 && r->n <= modulus && rel_valid(r->base);
}

static bool channel_valid(const struct pit_channel_state *c, unsigned int i)
{
	uint32_t m = c->bcd ? 10000 : 65536;
	bool pending = c->next_tick != PIT_STATE_NEVER;

	for (unsigned int k = 0; k < sizeof(c->pad); k++)
		if (c->pad[k])
			return false;
	if (c->bcd > 1 || c->gate > 1 || c->cr_valid > 1 || c->write_msb > 1 || c->read_msb > 1 ||
	    c->null_count > 1 || c->count_latched > 1 || c->status_latched > 1)
		return false;
	if (c->mode_bits > 7 || c->rw < RW_LSB || c->rw > RW_WORD)
		return false;
	/* The byte sequence flags only move with word access. */
	if ((c->write_msb || c->read_msb) && c->rw != RW_WORD)
		return false;
	/* Only channel 2's gate is wired to anything. */
	if (i != 2 && !c->gate)
		return false;
	if (!tick_valid(c->next_tick) || !run_valid(&c->ce, m, true))
		return false;
	/* A pending change is a count to run or hold; none pending, the slot is zero. */
	return run_valid(&c->next, m, !pending) && (pending || c->next.state == CE_IDLE);
}

static void load_run(struct pit_run *r, const struct pit_run_state *st, int64_t t)
{
	*r = (struct pit_run){ .state = st->state };
	if (st->state == CE_IDLE)
		return;
	r->n = st->n;
	r->base = t + st->base;
	r->held = st->held;
}

static int64_t load_tick(int64_t rel, int64_t t)
{
	return rel == PIT_STATE_NEVER ? TICK_NEVER : t + rel;
}

int pit_restore(struct pit *p, const struct pit_state *st)
{
	int64_t t;

	for (unsigned int k = 0; k < sizeof(st->pad); k++)
		if (st->pad[k])
			return -EINVAL;
	if (st->speaker > 1 || !tick_valid(st->irq_next))
		return -EINVAL;
	for (unsigned int i = 0; i < PIT_CHANNELS; i++)
		if (!channel_valid(&st->ch[i], i))
			return -EINVAL;

	pthread_mutex_lock(&p->lock);
	/* Rebased on now: the guest's time stood still between the save and this. */
	t = now_tick(p);
	for (unsigned int i = 0; i < PIT_CHANNELS; i++) {
		const struct pit_channel_state *o = &st->ch[i];
		struct pit_channel *c = &p->ch[i];

		c->mode_bits = o->mode_bits;
		c->mode = o->mode_bits > 5 ? o->mode_bits - 4 : o->mode_bits;
		c->rw = o->rw;
		c->bcd = o->bcd;
		c->gate = o->gate;
		c->cr_valid = o->cr_valid;
		c->write_msb = o->write_msb;
		c->read_msb = o->read_msb;
		c->null_count = o->null_count;
		c->count_latched = o->count_latched;
		c->status_latched = o->status_latched;
		c->cr_lsb = o->cr_lsb;
		c->latched_status = o->latched_status;
		c->cr = o->cr;
		c->latched_count = o->latched_count;
		c->idle_value = o->idle_value;
		load_run(&c->ce, &o->ce, t);
		load_run(&c->next, &o->next, t);
		c->next_tick = load_tick(o->next_tick, t);
	}
	p->speaker = st->speaker;
	/*
	 * Not recomputed from channel 0: an edge due before the save but not yet
	 * delivered stays due, and the deadline in the past makes the host fire
	 * at once. IRQ 0 is only ever pulsed: its line is low, as on a fresh device.
	 */
	p->irq_next = load_tick(st->irq_next, t);
	p->armed_ns = p->irq_next == TICK_NEVER ? UINT64_MAX : tick_to_ns(p->irq_next);
	p->host.arm_timer(p->host.timer_opaque, p->armed_ns);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static uint64_t pit_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)size;
	return pit_read(opaque, (uint16_t)(PIT_BASE + offset));
}

static void pit_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)size;
	pit_write(opaque, (uint16_t)(PIT_BASE + offset), (uint8_t)value);
}

static uint64_t portb_bus_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)offset;
	(void)size;
	return pit_read(opaque, PIT_PORT_B);
}

static void portb_bus_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	(void)offset;
	(void)size;
	pit_write(opaque, PIT_PORT_B, (uint8_t)value);
}

static const struct bus_ops pit_ops = {
	.read = pit_bus_read,
	.write = pit_bus_write,
	.min_access = 1,
	.max_access = 1,
};

static const struct bus_ops portb_ops = {
	.read = portb_bus_read,
	.write = portb_bus_write,
	.min_access = 1,
	.max_access = 1,
};

int pit_register(struct pit *p, struct bus *pio)
{
	int ret = bus_register(pio, PIT_BASE, 4, &pit_ops, p, "i8254");

	if (ret)
		return ret;
	return bus_register(pio, PIT_PORT_B, 1, &portb_ops, p, "port61");
}
