/* SPDX-License-Identifier: MIT */
/*
 * The fixed ACPI hardware the FADT points at (ACPI 6.4 section 4.8): the
 * PM1a event block (PM1_STS and PM1_EN, two 16-bit registers), the PM1a
 * control block (PM1_CNT) and the reset register.
 *
 * The machine is always in ACPI mode (SCI_EN reads 1; the FADT has no
 * SMI_CMD). Writing SLP_EN with the SLP_TYP that \_S5 names powers the
 * guest off: the device calls `power_off`. Other sleep states are not
 * offered and are ignored. Writing ACPI_PM_RESET_VALUE to the reset
 * register calls `reset`.
 *
 * The only event is the fixed-feature power button: acpi_pm_power_button()
 * sets PWRBTN_STS, and the SCI (a level-triggered line) is raised while a
 * status bit is set whose enable bit is set too. The guest lowers it by
 * writing 1 to the status bit.
 */
#ifndef EMBER_ACPI_PM_H
#define EMBER_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus;

#define ACPI_PM_EVT_BASE 0x600	 /* PM1a_EVT_BLK: status, then enable */
#define ACPI_PM_CNT_BASE 0x604	 /* PM1a_CNT_BLK */
#define ACPI_PM_RESET_PORT 0x606 /* RESET_REG, one byte */
#define ACPI_PM_RESET_VALUE 0x01

#define ACPI_PM1_PWRBTN (1U << 8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define ACPI_PM1_SCI_EN (1U << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7U << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN (1U << 13)

struct acpi_pm_host {
	void (*power_off)(void *opaque);
	void (*reset)(void *opaque);
	void *opaque;
	/* The SCI line: level 1 raised, 0 lowered. */
	void (*sci_set)(void *sci_opaque, int level);
	void *sci_opaque;
};

struct acpi_pm {
	struct acpi_pm_host host;
	uint8_t s5_typ; /* SLP_TYP meaning S5 */
	pthread_mutex_t lock;
	uint16_t sts;
	uint16_t en;
	uint16_t cnt; /* SLP_EN is write-only and never stored */
	bool sci;     /* the level last given to sci_set */
};

void acpi_pm_init(struct acpi_pm *pm, uint8_t s5_typ, const struct acpi_pm_host *host);
void acpi_pm_destroy(struct acpi_pm *pm);
/* Registers the blocks on `pio` at ACPI_PM_EVT_BASE, ACPI_PM_CNT_BASE and ACPI_PM_RESET_PORT. */
int acpi_pm_register(struct acpi_pm *pm, struct bus *pio);
/*
 * Presses the power button. Returns whether the guest has enabled the
 * button's event, that is whether anything in it will notice.
 */
bool acpi_pm_power_button(struct acpi_pm *pm);

/*
 * What a snapshot keeps of the PM1 registers: plain data, fixed layout (a
 * section of the snapshot file, written byte for byte). There is no PM
 * timer and no GPE block, so nothing here depends on time.
 */
struct acpi_pm_state {
	uint16_t sts; /* only PWRBTN_STS: no other event exists */
	uint16_t en;
	uint16_t cnt;	/* SCI_EN set, SLP_EN clear */
	uint8_t sci;	/* the SCI level: 1 exactly when sts & en */
	uint8_t pad[1]; /* zero */
};
_Static_assert(sizeof(struct acpi_pm_state) == 8, "acpi_pm_state is a fixed 8 bytes");

#define ACPI_PM_STATE_VERSION 1

/* Takes the device's lock. Fills all of `out`, padding included (zeroes). */
void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *out);
/*
 * Replaces the device's state with `st`, from a file that may be hostile:
 * every field is checked, and a value the device could not have reached
 * leaves it unchanged with -EINVAL. On success the SCI is driven to the
 * restored level (sci_set is called, whatever the level, when the host gave
 * one). The SLP_TYP meaning S5, host callbacks and the lock are kept. Takes
 * the device's lock. 0 or -EINVAL.
 */
int acpi_pm_restore(struct acpi_pm *pm, const struct acpi_pm_state *st);

#endif
