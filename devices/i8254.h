/* SPDX-License-Identifier: MIT */
/*
 * The Intel 8254 programmable interval timer, and the PC's port 0x61 (NMI
 * status and control) that carries channel 2's gate and output.
 *
 * Nothing ticks. Time is the number of input clock edges (PIT_HZ) since the
 * host clock's zero, and every counter value and output level is computed
 * from the edge at which the count was loaded (or the gate moved). A CPU
 * write takes effect at the next edge, as on the chip: a count N written in
 * mode 0 sends OUT high N + 1 edges later.
 *
 * Wiring, as on a PC: channel 0's output is IRQ 0 and its gate is tied high;
 * channel 1 (memory refresh on old PCs) has its gate tied high and its
 * output unconnected; channel 2's gate is port 0x61 bit 0 and its output is
 * port 0x61 bit 5.
 *
 * The device cannot run a timer of its own: it tells the host, through
 * arm_timer, when channel 0's output will next rise, and the host calls
 * pit_timer_fire() at or after that time. Each rising edge of OUT0 produced
 * by counting becomes one interrupt, delivered as irq_set(1) then irq_set(0)
 * for the edge-triggered ISA input. Edges the host timer was too late for
 * are coalesced into one interrupt, never a burst.
 *
 * Locking: one mutex. vCPU threads call pit_read()/pit_write(); the event
 * loop calls pit_timer_fire(). All three host callbacks (now_ns, irq_set,
 * arm_timer) are called with the lock held, so they must not call back into
 * the PIT.
 */
#ifndef EMBER_I8254_H
#define EMBER_I8254_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

#define PIT_HZ 1193182 /* input clock: 14.31818 MHz / 12 */
#define PIT_BASE 0x40  /* counters 0-2 at 0x40-0x42 */
#define PIT_PORT_CONTROL 0x43
#define PIT_PORT_B 0x61 /* NMI status and control */
#define PIT_IRQ 0
#define PIT_CHANNELS 3

/* Port 0x61 bits this device implements; the others read 0 and ignore writes. */
#define PIT_PORTB_GATE2 0x01   /* read/write: channel 2 gate */
#define PIT_PORTB_SPEAKER 0x02 /* read/write: speaker data enable (no sound is made) */
#define PIT_PORTB_REFRESH 0x10 /* read-only: toggles with every refresh request (~15 us) */
#define PIT_PORTB_OUT2 0x20    /* read-only: channel 2 output */

struct pit_host {
	uint64_t (*now_ns)(void *opaque); /* monotonic */
	void *clock_opaque;
	void (*irq_set)(void *opaque, int level); /* IRQ 0 */
	void *irq_opaque;
	/*
	 * Call pit_timer_fire() at (or soon after) deadline_ns; UINT64_MAX
	 * cancels. Each call replaces the previous deadline. A late or
	 * spurious pit_timer_fire() is harmless.
	 */
	void (*arm_timer)(void *opaque, uint64_t deadline_ns);
	void *timer_opaque;
};

/*
 * What a counting element does, as a function of the edge number t:
 * IDLE holds a value; RUN counts from `base` (the edge at which it held n);
 * HELD is a RUN frozen by a low gate after `held` decrements.
 */
struct pit_run {
	uint8_t state;
	uint32_t n; /* initial count in effect: 1..65536 (1..10000 in BCD) */
	int64_t base;
	int64_t held;
};

/* Private: use the functions below. */
struct pit_channel {
	uint8_t mode_bits; /* M2..M0 as written: the status byte reports them */
	uint8_t mode;	   /* 0..5, with 6 and 7 folded onto 2 and 3 */
	uint8_t rw;	   /* 1 LSB only, 2 MSB only, 3 LSB then MSB */
	bool bcd;
	bool gate;
	uint16_t cr;	/* count register */
	bool cr_valid;	/* a whole count was written since the control word */
	uint8_t cr_lsb; /* first half of a two-byte count */
	bool write_msb; /* the next count write is the MSB */
	bool read_msb;	/* the next count read is the MSB */
	bool null_count;
	bool count_latched;
	bool status_latched;
	uint16_t latched_count;
	uint8_t latched_status;
	uint16_t idle_value; /* what the counting element holds while IDLE */
	struct pit_run ce;
	/* A change the chip makes at a later edge (a load at the next edge, a new period). */
	struct pit_run next;
	int64_t next_tick; /* INT64_MAX: none pending */
};

struct pit {
	pthread_mutex_t lock;
	struct pit_host host;
	struct pit_channel ch[PIT_CHANNELS];
	bool speaker;
	int64_t irq_next;  /* edge at which OUT0 next rises; INT64_MAX: never */
	uint64_t armed_ns; /* deadline last given to arm_timer; UINT64_MAX: cancelled */
};

/*
 * All channels start as if programmed for mode 3 with no count written:
 * OUT high, nothing counting, no interrupts until the guest programs
 * channel 0. Channel 2's gate starts low.
 */
void pit_init(struct pit *p, const struct pit_host *host);
/* The host stops its timer (and stops calling pit_timer_fire()) first. */
void pit_destroy(struct pit *p);
/* Registers 0x40-0x43 and 0x61 on a port bus; returns 0 or bus_register()'s error. */
int pit_register(struct pit *p, struct bus *pio);

/*
 * Byte access by absolute port (0x40-0x43, 0x61), as the bus delivers it.
 * Other ports read 0xff and ignore writes.
 */
uint8_t pit_read(struct pit *p, uint16_t port);
void pit_write(struct pit *p, uint16_t port, uint8_t v);

/* The host timer expired: raise what is due at now_ns and re-arm. */
void pit_timer_fire(struct pit *p);

/*
 * What a snapshot keeps of the PIT: plain data, fixed layout (a section of
 * the snapshot file, written byte for byte). Times are in input clock edges
 * (PIT_HZ) relative to the edge at which the state was saved, as the host
 * clock of the process that restores it has another origin; a value
 * "relative" may be negative (in the past). A run is the counting element
 * (or the change pending for it): see struct pit_run. Fields a run's state
 * does not use are zero.
 */
struct pit_run_state {
	uint8_t state;	/* 0 idle, 1 counting, 2 held by a low gate */
	uint8_t pad[3]; /* zero */
	uint32_t n;	/* initial count: 1..65536 (1..10000 in BCD); 0 when idle */
	int64_t base;	/* relative edge at which it held n; 0 when idle */
	int64_t held;	/* decrements done when the gate fell; 0 unless held */
};
_Static_assert(sizeof(struct pit_run_state) == 24, "pit_run_state is a fixed 24 bytes");

struct pit_channel_state {
	uint8_t mode_bits; /* M2..M0 as written, 0..7 */
	uint8_t rw;	   /* 1 LSB only, 2 MSB only, 3 LSB then MSB */
	uint8_t bcd;	   /* this and the flags below: 0 or 1 */
	uint8_t gate;	   /* 1 on channels 0 and 1: tied high */
	uint8_t cr_valid;
	uint8_t write_msb; /* only with rw 3 */
	uint8_t read_msb;  /* only with rw 3 */
	uint8_t null_count;
	uint8_t count_latched;
	uint8_t status_latched;
	uint8_t cr_lsb;
	uint8_t latched_status;
	uint16_t cr;
	uint16_t latched_count;
	uint16_t idle_value;
	uint8_t pad[6]; /* zero */
	struct pit_run_state ce;
	struct pit_run_state next; /* all zero when nothing is pending */
	int64_t next_tick;	   /* relative edge of the pending change; PIT_STATE_NEVER: none */
};
_Static_assert(sizeof(struct pit_channel_state) == 80, "pit_channel_state is a fixed 80 bytes");

#define PIT_STATE_NEVER INT64_MAX
/* Relative times beyond this (about 30,000 years of edges) are refused. */
#define PIT_STATE_MAX_TICKS (1LL << 60)

struct pit_state {
	struct pit_channel_state ch[PIT_CHANNELS];
	int64_t irq_next; /* relative edge at which OUT0 next rises; PIT_STATE_NEVER: never */
	uint8_t speaker;  /* 0 or 1 */
	uint8_t pad[7];	  /* zero */
};
_Static_assert(sizeof(struct pit_state) == 256, "pit_state is a fixed 256 bytes");

#define PIT_STATE_VERSION 1

/* Takes the device's lock and reads the host clock once. Fills all of `out`, padding included. */
void pit_save(struct pit *p, struct pit_state *out);
/*
 * Replaces the device's state with `st`, from a file that may be hostile:
 * every field is checked, and a value the device could not have reached
 * leaves it unchanged with -EINVAL. On success the relative times are
 * rebased on the host clock's now, so the time between the save and the
 * restore does not count, and the host timer is armed (arm_timer is called,
 * UINT64_MAX when nothing is due); an edge that was due but not delivered
 * at the save makes the deadline one already past. Host callbacks and the
 * lock are kept. Takes the device's lock. 0 or -EINVAL.
 */
int pit_restore(struct pit *p, const struct pit_state *st);

#endif
