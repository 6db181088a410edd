// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/irq.h"
#include "unit.h"

#include <errno.h>

/* Records what the line API asked of the irqchip. */
struct irq_rec {
	unsigned int n;
	unsigned int gsi[32];
	int level[32];
	int fail; /* errno to return, or 0 */
};

static int rec_set_line(void *ctx, unsigned int gsi, int level)
{
	struct irq_rec *r = ctx;

	if (r->fail)
		return -r->fail;
	ck_assert_uint_lt(r->n, 32);
	r->gsi[r->n] = gsi;
	r->level[r->n] = level;
	r->n++;
	return 0;
}

static const struct irq_backend rec_backend = { .set_line = rec_set_line };

START_TEST(raise_lower_pulse)
{
	struct irq_rec r = { 0 };
	struct irqchip *chip;
	struct irq_line *l;

	ck_assert_int_eq(irqchip_create(&chip, &rec_backend, &r), 0);
	l = irqchip_line(chip, 4);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(irq_line_gsi(l), 4);
	ck_assert_int_eq(irq_line_level(l), 0);

	ck_assert_int_eq(irq_line_raise(l), 0);
	ck_assert_int_eq(irq_line_level(l), 1);
	ck_assert_int_eq(irq_line_lower(l), 0);
	ck_assert_int_eq(irq_line_level(l), 0);
	ck_assert_int_eq(irq_line_pulse(l), 0);
	ck_assert_int_eq(irq_line_level(l), 0);

	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_eq(r.gsi[0], 4);
	ck_assert_int_eq(r.level[0], 1);
	ck_assert_int_eq(r.level[1], 0);
	ck_assert_int_eq(r.level[2], 1); /* the pulse: up, then down */
	ck_assert_int_eq(r.level[3], 0);
	irqchip_destroy(chip);
}
END_TEST

START_TEST(device_callback_shape)
{
	struct irq_rec r = { 0 };
	struct irqchip *chip;
	void (*irq_set)(void *, int) = irq_line_set;
	void *opaque;

	ck_assert_int_eq(irqchip_create(&chip, &rec_backend, &r), 0);
	opaque = irqchip_line(chip, 23);
	irq_set(opaque, 5); /* any non-zero level is high */
	irq_set(opaque, 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.gsi[0], 23);
	ck_assert_int_eq(r.level[0], 1);
	ck_assert_int_eq(r.level[1], 0);
	irqchip_destroy(chip);
}
END_TEST

START_TEST(lines_out_of_range)
{
	struct irq_rec r = { 0 };
	struct irqchip *chip;

	ck_assert_int_eq(irqchip_create(&chip, &rec_backend, &r), 0);
	ck_assert_ptr_null(irqchip_line(chip, IRQCHIP_NR_LINES));
	ck_assert_ptr_null(irqchip_line(chip, 1000));
	ck_assert_ptr_nonnull(irqchip_line(chip, IRQCHIP_NR_LINES - 1));
	ck_assert_int_eq(irqchip_create(&chip, NULL, &r), -EINVAL);
	irqchip_destroy(chip);
}
END_TEST

START_TEST(backend_errors_reach_the_caller)
{
	struct irq_rec r = { .fail = EIO };
	struct irqchip *chip;

	ck_assert_int_eq(irqchip_create(&chip, &rec_backend, &r), 0);
	ck_assert_int_eq(irq_line_raise(irqchip_line(chip, 1)), -EIO);
	ck_assert_int_eq(irq_line_pulse(irqchip_line(chip, 1)), -EIO);
	irqchip_destroy(chip);
}
END_TEST

START_TEST(two_chips_are_independent)
{
	struct irq_rec a = { 0 }, b = { 0 };
	struct irqchip *ca, *cb;

	ck_assert_int_eq(irqchip_create(&ca, &rec_backend, &a), 0);
	ck_assert_int_eq(irqchip_create(&cb, &rec_backend, &b), 0);
	irq_line_raise(irqchip_line(ca, 3));
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_int_eq(irq_line_level(irqchip_line(cb, 3)), 0);
	irqchip_destroy(ca);
	irqchip_destroy(cb);
}
END_TEST

START_TEST(irqfd_needs_kvm)
{
	struct irq_rec r = { 0 };
	struct irqchip *chip;
	int fd = -1;

	ck_assert_int_eq(irqchip_create(&chip, &rec_backend, &r), 0);
	ck_assert_int_eq(irqchip_irqfd_assign(chip, 5, &fd), -ENOTSUP);
	ck_assert_int_eq(fd, -1);
	irqchip_destroy(chip);
}
END_TEST

START_TEST(ioeventfd_specs)
{
	struct ioeventfd_spec s = { .addr = 0x700, .len = 1, .pio = true };

	ck_assert_int_eq(ioeventfd_check(&s), 0);
	s.len = 3;
	ck_assert_int_eq(ioeventfd_check(&s), -EINVAL);
	s.len = 0; /* any length: MMIO only */
	ck_assert_int_eq(ioeventfd_check(&s), -EINVAL);
	s.pio = false;
	ck_assert_int_eq(ioeventfd_check(&s), 0);
	s.match = true; /* nothing to match without a length */
	ck_assert_int_eq(ioeventfd_check(&s), -EINVAL);
	s = (struct ioeventfd_spec){ .addr = 0xffff, .len = 2, .pio = true };
	ck_assert_int_eq(ioeventfd_check(&s), -EINVAL);
	s = (struct ioeventfd_spec){ .addr = UINT64_MAX - 2, .len = 8 };
	ck_assert_int_eq(ioeventfd_check(&s), -EINVAL);
	s = (struct ioeventfd_spec){ .addr = 0xd0000050, .len = 4, .match = true, .datamatch = 2 };
	ck_assert_int_eq(ioeventfd_check(&s), 0);
}
END_TEST

static Suite *irq_suite(void)
{
	Suite *s = suite_create("irq");
	TCase *tc = tcase_create("irq");

	tcase_add_test(tc, raise_lower_pulse);
	tcase_add_test(tc, device_callback_shape);
	tcase_add_test(tc, lines_out_of_range);
	tcase_add_test(tc, backend_errors_reach_the_caller);
	tcase_add_test(tc, two_chips_are_independent);
	tcase_add_test(tc, irqfd_needs_kvm);
	tcase_add_test(tc, ioeventfd_specs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(irq_suite());
}
