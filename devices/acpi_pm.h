/* SPDX-License-Identifier: MIT */
/*
 * The ACPI PM1a event and control blocks the FADT points at (ACPI 6.4
 * section 4.8.3): PM1_STS and PM1_EN (two 16-bit registers) and PM1_CNT.
 * The machine is always in ACPI mode (SCI_EN reads 1; the FADT has no
 * SMI_CMD). Writing SLP_EN with the SLP_TYP that \_S5 names powers the
 * guest off: the device calls `power_off`. Other sleep states are not
 * offered and are ignored.
 */
#ifndef EMBER_ACPI_PM_H
#define EMBER_ACPI_PM_H

#include <pthread.h>
#include <stdint.h>

struct bus;

#define ACPI_PM_EVT_BASE 0x600 /* PM1a_EVT_BLK: status, then enable */
#define ACPI_PM_CNT_BASE 0x604 /* PM1a_CNT_BLK */

#define ACPI_PM1_SCI_EN (1U << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7U << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN (1U << 13)

struct acpi_pm {
	void (*power_off)(void *opaque);
	void *opaque;
	uint8_t s5_typ; /* SLP_TYP meaning S5 */
	pthread_mutex_t lock;
	uint16_t sts;
	uint16_t en;
	uint16_t cnt; /* SLP_EN is write-only and never stored */
};

void acpi_pm_init(struct acpi_pm *pm, uint8_t s5_typ, void (*power_off)(void *), void *opaque);
void acpi_pm_destroy(struct acpi_pm *pm);
/* Registers both blocks on `pio` at ACPI_PM_EVT_BASE and ACPI_PM_CNT_BASE. */
int acpi_pm_register(struct acpi_pm *pm, struct bus *pio);

#endif
