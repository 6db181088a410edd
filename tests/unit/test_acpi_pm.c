// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <stdint.h>

#include "core/bus.h"
#include "devices/acpi_pm.h"
#include "tests/unit/unit.h"

struct fx {
	struct bus *pio;
	struct acpi_pm pm;
	unsigned int offs;
	unsigned int resets;
	int sci;		  /* the SCI's level */
	unsigned int sci_changes; /* calls that changed nothing count too */
};

static void off(void *opaque)
{
	((struct fx *)opaque)->offs++;
}

static void reset(void *opaque)
{
	((struct fx *)opaque)->resets++;
}

static void sci_set(void *opaque, int level)
{
	struct fx *f = opaque;

	f->sci = level;
	f->sci_changes++;
}

static void fx_init(struct fx *f)
{
	struct acpi_pm_host host = {
		.power_off = off,
		.reset = reset,
		.opaque = f,
		.sci_set = sci_set,
		.sci_opaque = f,
	};

	f->offs = f->resets = f->sci_changes = 0;
	f->sci = 0;
	ck_assert_int_eq(bus_create(&f->pio, "pio", 0x10000), 0);
	acpi_pm_init(&f->pm, 5, &host);
	ck_assert_int_eq(acpi_pm_register(&f->pm, f->pio), 0);
}

static void fx_fini(struct fx *f)
{
	bus_destroy(f->pio);
	acpi_pm_destroy(&f->pm);
}

static uint16_t in16(struct fx *f, uint16_t port)
{
	uint16_t v = 0;

	bus_read(f->pio, port, &v, 2);
	return v;
}

static void out16(struct fx *f, uint16_t port, uint16_t v)
{
	bus_write(f->pio, port, &v, 2);
}

START_TEST(acpi_mode_is_on_and_registers_hold)
{
	struct fx f;
	uint8_t b = 0;

	fx_init(&f);
	ck_assert_uint_eq(in16(&f, ACPI_PM_CNT_BASE) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
	/* Clearing SCI_EN does not take: there is no legacy mode. */
	out16(&f, ACPI_PM_CNT_BASE, 0);
	ck_assert_uint_eq(in16(&f, ACPI_PM_CNT_BASE), ACPI_PM1_SCI_EN);
	/* PM1_EN stores; PM1_STS reads 0 and clears on 1s. */
	out16(&f, ACPI_PM_EVT_BASE + 2, 0x0120);
	ck_assert_uint_eq(in16(&f, ACPI_PM_EVT_BASE + 2), 0x0120);
	ck_assert_uint_eq(in16(&f, ACPI_PM_EVT_BASE), 0);
	bus_read(f.pio, ACPI_PM_EVT_BASE + 3, &b, 1);
	ck_assert_uint_eq(b, 0x01);
	/* A 32-bit access covers status and enable. */
	{
		uint32_t v = 0;

		bus_read(f.pio, ACPI_PM_EVT_BASE, &v, 4);
		ck_assert_uint_eq(v, 0x01200000);
	}
	ck_assert_uint_eq(f.offs, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(slp_en_with_s5_powers_off)
{
	struct fx f;

	fx_init(&f);
	/* SLP_TYP alone, as Linux writes it first, does nothing. */
	out16(&f, ACPI_PM_CNT_BASE, 5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SCI_EN);
	ck_assert_uint_eq(f.offs, 0);
	/* SLP_EN with another sleep type is ignored, and SLP_EN never reads back. */
	out16(&f, ACPI_PM_CNT_BASE, 3 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	ck_assert_uint_eq(f.offs, 0);
	ck_assert_uint_eq(in16(&f, ACPI_PM_CNT_BASE) & ACPI_PM1_SLP_EN, 0);
	out16(&f, ACPI_PM_CNT_BASE, 5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	ck_assert_uint_eq(f.offs, 1);
	/* Byte-wise, the high byte carries SLP_TYP and SLP_EN. */
	{
		uint8_t hi = (uint8_t)((5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN) >> 8);

		bus_write(f.pio, ACPI_PM_CNT_BASE + 1, &hi, 1);
	}
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
	ck_assert_uint_eq(in16(&f, ACPI_PM_EVT_BASE), ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(f.sci_changes, 0);
	/* Enabling it with the status still set raises the SCI. */
	out16(&f, ACPI_PM_EVT_BASE + 2, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(f.sci, 1);
	/* Writing 0 to the status changes nothing; writing 1 clears it and lowers the line. */
	out16(&f, ACPI_PM_EVT_BASE, 0);
	ck_assert_int_eq(f.sci, 1);
	out16(&f, ACPI_PM_EVT_BASE, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(f.sci, 0);
	ck_assert_uint_eq(in16(&f, ACPI_PM_EVT_BASE), 0);
	ck_assert_uint_eq(f.sci_changes, 2);
	/* A press with the event enabled is heard at once. */
	ck_assert(acpi_pm_power_button(&f.pm));
	ck_assert_int_eq(f.sci, 1);
	/* A second press while pending does not pulse the line. */
	ck_assert(acpi_pm_power_button(&f.pm));
	ck_assert_uint_eq(f.sci_changes, 3);
	/* Disabling the event lowers the line; the status stays for the guest to see. */
	out16(&f, ACPI_PM_EVT_BASE + 2, 0);
	ck_assert_int_eq(f.sci, 0);
	ck_assert_uint_eq(in16(&f, ACPI_PM_EVT_BASE), ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(f.offs, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(reset_register_takes_only_its_value)
{
	struct fx f;
	uint8_t v = 0x02;

	fx_init(&f);
	bus_write(f.pio, ACPI_PM_RESET_PORT, &v, 1);
	ck_assert_uint_eq(f.resets, 0);
	v = ACPI_PM_RESET_VALUE;
	bus_write(f.pio, ACPI_PM_RESET_PORT, &v, 1);
	ck_assert_uint_eq(f.resets, 1);
	v = 0xff;
	bus_read(f.pio, ACPI_PM_RESET_PORT, &v, 1);
	ck_assert_uint_eq(v, 0);
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
