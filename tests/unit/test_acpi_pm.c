// SPDX-License-Identifier: MIT
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

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

/* --- snapshots ------------------------------------------------------------------------ */

/* Events enabled, the power button pressed (SCI up), a sleep type written. */
static void busy_pm(struct fx *f)
{
	devfix_out16(&f->dev, ACPI_PM_EVT_BASE + 2, ACPI_PM1_PWRBTN | 0x0020);
	devfix_out16(&f->dev, ACPI_PM_CNT_BASE, 3 << ACPI_PM1_SLP_TYP_SHIFT | 0x0004);
	ck_assert(acpi_pm_power_button(&f->pm));
	ck_assert_int_eq(f->dev.irq.level, 1);
}

START_TEST(snapshot_restores_everything)
{
	struct acpi_pm_state st, st2;
	struct fx a, b;

	fx_init(&a);
	busy_pm(&a);
	acpi_pm_save(&a.pm, &st);
	fx_init(&b);
	ck_assert_int_eq(acpi_pm_restore(&b.pm, &st), 0);
	ck_assert_int_eq(b.dev.irq.level, 1);
	ck_assert_uint_eq(b.dev.irq.calls, 1);
	acpi_pm_save(&b.pm, &st2);
	ck_assert_mem_eq(&st, &st2, sizeof(st));
	/* Every register reads the same. */
	ck_assert_uint_eq(devfix_in32(&b.dev, ACPI_PM_EVT_BASE),
			  devfix_in32(&a.dev, ACPI_PM_EVT_BASE));
	ck_assert_uint_eq(devfix_in32(&b.dev, ACPI_PM_EVT_BASE),
			  (ACPI_PM1_PWRBTN | 0x0020U) << 16 | ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(devfix_in16(&b.dev, ACPI_PM_CNT_BASE),
			  devfix_in16(&a.dev, ACPI_PM_CNT_BASE));
	/* The guest acknowledges the press on both: both lines drop. */
	devfix_out16(&a.dev, ACPI_PM_EVT_BASE, ACPI_PM1_PWRBTN);
	devfix_out16(&b.dev, ACPI_PM_EVT_BASE, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(a.dev.irq.level, 0);
	ck_assert_int_eq(b.dev.irq.level, 0);
	/* The button is still heard, and S5 still powers off: init's settings stay. */
	ck_assert(acpi_pm_power_button(&b.pm));
	ck_assert_int_eq(b.dev.irq.level, 1);
	devfix_out16(&b.dev, ACPI_PM_CNT_BASE, 5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	ck_assert_uint_eq(b.offs, 1);
	ck_assert_uint_eq(a.offs, 0);
	fx_fini(&a);
	fx_fini(&b);
}
END_TEST

/* Restoring a state with no event pending lowers a line that was up. */
START_TEST(snapshot_lowers_the_sci)
{
	struct acpi_pm_state st;
	struct fx a, b;

	fx_init(&a);
	devfix_out16(&a.dev, ACPI_PM_EVT_BASE + 2, ACPI_PM1_PWRBTN);
	acpi_pm_save(&a.pm, &st);
	fx_init(&b);
	busy_pm(&b);
	ck_assert_int_eq(acpi_pm_restore(&b.pm, &st), 0);
	ck_assert_int_eq(b.dev.irq.level, 0);
	ck_assert_uint_eq(devfix_in32(&b.dev, ACPI_PM_EVT_BASE), ACPI_PM1_PWRBTN << 16);
	ck_assert_uint_eq(devfix_in16(&b.dev, ACPI_PM_CNT_BASE), ACPI_PM1_SCI_EN);
	fx_fini(&a);
	fx_fini(&b);
}
END_TEST

START_TEST(snapshot_refuses_corrupt_state)
{
	struct acpi_pm_state good, st;
	struct acpi_pm before;
	struct fx a, b;

	fx_init(&a);
	busy_pm(&a);
	acpi_pm_save(&a.pm, &good);
	fx_init(&b);
	devfix_out16(&b.dev, ACPI_PM_EVT_BASE + 2, 0x0100);
	for (unsigned int i = 0; i < 8; i++) {
		unsigned int calls = b.dev.irq.calls;

		st = good;
		switch (i) {
		case 0:
			st.sts |= 1; /* TMR_STS: no timer, so never set */
			break;
		case 1:
			st.cnt &= (uint16_t)~ACPI_PM1_SCI_EN;
			break;
		case 2:
			st.cnt |= ACPI_PM1_SLP_EN;
			break;
		case 3:
			st.sci = 0; /* an event is pending and enabled */
			break;
		case 4:
			st.en = 0x0020; /* nothing enabled is pending, yet the line is up */
			break;
		case 5:
			st.sci = 2;
			break;
		case 6:
			st.pad[0] = 1;
			break;
		default:
			st.sts = 0x8000;
			break;
		}
		before = b.pm;
		ck_assert_msg(acpi_pm_restore(&b.pm, &st) == -EINVAL, "corruption %u accepted", i);
		/* Unchanged, the lock aside (its bytes may move while taken and given back). */
		memcpy(&before.lock, &b.pm.lock, sizeof(before.lock));
		ck_assert_msg(memcmp(&before, &b.pm, sizeof(before)) == 0, "corruption %u", i);
		ck_assert_uint_eq(b.dev.irq.calls, calls);
	}
	ck_assert_uint_eq(devfix_in32(&b.dev, ACPI_PM_EVT_BASE), 0x0100U << 16);
	ck_assert_int_eq(acpi_pm_restore(&b.pm, &good), 0);
	ck_assert_int_eq(b.dev.irq.level, 1);
	fx_fini(&a);
	fx_fini(&b);
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
	tcase_add_test(tc, snapshot_restores_everything);
	tcase_add_test(tc, snapshot_lowers_the_sci);
	tcase_add_test(tc, snapshot_refuses_corrupt_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(acpi_pm_suite());
}
