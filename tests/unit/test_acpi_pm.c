// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <stdint.h>

#include "devices/acpi_pm.h"
#include "tests/unit/devfix.h"
#include "tests/unit/unit.h"

struct fx {
	struct devfix dev; /* dev.irq is the SCI */
	struct acpi_pm pm;
	unsigned int offs;
	unsigned int resets;
};

static void off(void *opaque)
{
	((struct fx *)opaque)->offs++;
}

static void reset(void *opaque)
{
	((struct fx *)opaque)->resets++;
}

static void fx_init(struct fx *f)
{
	struct acpi_pm_host host = {
		.power_off = off,
		.reset = reset,
		.opaque = f,
		.sci_set = devfix_irq_set,
		.sci_opaque = &f->dev.irq,
	};

	f->offs = f->resets = 0;
	devfix_init(&f->dev);
	acpi_pm_init(&f->pm, 5, &host);
	ck_assert_int_eq(acpi_pm_register(&f->pm, f->dev.pio), 0);
}

static void fx_fini(struct fx *f)
{
	devfix_fini(&f->dev);
	acpi_pm_destroy(&f->pm);
}

START_TEST(acpi_mode_is_on_and_registers_hold)
{
	struct fx f;
	fx_init(&f);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_CNT_BASE) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
	/* Clearing SCI_EN does not take: there is no legacy mode. */
	devfix_out16(&f.dev, ACPI_PM_CNT_BASE, 0);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_CNT_BASE), ACPI_PM1_SCI_EN);
	/* PM1_EN stores; PM1_STS reads 0 and clears on 1s. */
	devfix_out16(&f.dev, ACPI_PM_EVT_BASE + 2, 0x0120);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_EVT_BASE + 2), 0x0120);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_EVT_BASE), 0);
	ck_assert_uint_eq(devfix_in8(&f.dev, ACPI_PM_EVT_BASE + 3), 0x01);
	/* A 32-bit access covers status and enable. */
	ck_assert_uint_eq(devfix_in32(&f.dev, ACPI_PM_EVT_BASE), 0x01200000);
	ck_assert_uint_eq(f.offs, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(slp_en_with_s5_powers_off)
{
	struct fx f;

	fx_init(&f);
	/* SLP_TYP alone, as Linux writes it first, does nothing. */
	devfix_out16(&f.dev, ACPI_PM_CNT_BASE, 5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SCI_EN);
	ck_assert_uint_eq(f.offs, 0);
	/* SLP_EN with another sleep type is ignored, and SLP_EN never reads back. */
	devfix_out16(&f.dev, ACPI_PM_CNT_BASE, 3 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	ck_assert_uint_eq(f.offs, 0);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_CNT_BASE) & ACPI_PM1_SLP_EN, 0);
	devfix_out16(&f.dev, ACPI_PM_CNT_BASE, 5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	ck_assert_uint_eq(f.offs, 1);
	/* Byte-wise, the high byte carries SLP_TYP and SLP_EN. */
	devfix_out8(&f.dev, ACPI_PM_CNT_BASE + 1,
		    (uint8_t)((5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN) >> 8));
	ck_assert_uint_eq(f.offs, 2);
	fx_fini(&f);
}
END_TEST

START_TEST(power_button_raises_the_sci_while_enabled)
{
	struct fx f;

	fx_init(&f);
	/* Pressed before the guest enabled it: status set, no SCI, nobody listening. */
	ck_assert(!acpi_pm_power_button(&f.pm));
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_EVT_BASE), ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(f.dev.irq.calls, 0);
	/* Enabling it with the status still set raises the SCI. */
	devfix_out16(&f.dev, ACPI_PM_EVT_BASE + 2, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(f.dev.irq.level, 1);
	/* Writing 0 to the status changes nothing; writing 1 clears it and lowers the line. */
	devfix_out16(&f.dev, ACPI_PM_EVT_BASE, 0);
	ck_assert_int_eq(f.dev.irq.level, 1);
	devfix_out16(&f.dev, ACPI_PM_EVT_BASE, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(f.dev.irq.level, 0);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_EVT_BASE), 0);
	ck_assert_uint_eq(f.dev.irq.calls, 2);
	/* A press with the event enabled is heard at once. */
	ck_assert(acpi_pm_power_button(&f.pm));
	ck_assert_int_eq(f.dev.irq.level, 1);
	/* A second press while pending does not pulse the line. */
	ck_assert(acpi_pm_power_button(&f.pm));
	ck_assert_uint_eq(f.dev.irq.calls, 3);
	/* Disabling the event lowers the line; the status stays for the guest to see. */
	devfix_out16(&f.dev, ACPI_PM_EVT_BASE + 2, 0);
	ck_assert_int_eq(f.dev.irq.level, 0);
	ck_assert_uint_eq(devfix_in16(&f.dev, ACPI_PM_EVT_BASE), ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(f.offs, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(reset_register_takes_only_its_value)
{
	struct fx f;

	fx_init(&f);
	devfix_out8(&f.dev, ACPI_PM_RESET_PORT, 0x02);
	ck_assert_uint_eq(f.resets, 0);
	devfix_out8(&f.dev, ACPI_PM_RESET_PORT, ACPI_PM_RESET_VALUE);
	ck_assert_uint_eq(f.resets, 1);
	ck_assert_uint_eq(devfix_in8(&f.dev, ACPI_PM_RESET_PORT), 0);
	ck_assert_uint_eq(f.offs, 0);
	fx_fini(&f);
}
END_TEST

static Suite *acpi_pm_suite(void)
{
	Suite *s = suite_create("acpi_pm");
	TCase *tc = tcase_create("pm1");

	tcase_add_test(tc, acpi_mode_is_on_and_registers_hold);
	tcase_add_test(tc, slp_en_with_s5_powers_off);
	tcase_add_test(tc, power_button_raises_the_sci_while_enabled);
	tcase_add_test(tc, reset_register_takes_only_its_value);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(acpi_pm_suite());
}
