// SPDX-License-Identifier: MIT
#include "config.h"

#include "core/clock.h"
#include "core/log.h"
#include "unit.h"

#include <errno.h>

START_TEST(ratelimit_burst_then_quiet)
{
	struct ratelimit rl;
	unsigned long sup = 99;

	ratelimit_init(&rl, NSEC_PER_SEC, 3);
	ck_assert(ratelimit_allow(&rl, 1000, &sup));
	ck_assert_uint_eq(sup, 0);
	ck_assert(ratelimit_allow(&rl, 2000, NULL));
	ck_assert(ratelimit_allow(&rl, 3000, NULL));
	ck_assert(!ratelimit_allow(&rl, 4000, NULL));
	ck_assert(!ratelimit_allow(&rl, NSEC_PER_SEC, NULL));
	/* A new window: allowed again, and told how many were dropped. */
	ck_assert(ratelimit_allow(&rl, 1000 + NSEC_PER_SEC, &sup));
	ck_assert_uint_eq(sup, 2);
	ck_assert(ratelimit_allow(&rl, 2000 + NSEC_PER_SEC, &sup));
	ck_assert_uint_eq(sup, 0);
	ratelimit_destroy(&rl);
}
END_TEST

START_TEST(ratelimit_first_event_at_time_zero)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 10, 1);
	ck_assert(ratelimit_allow(&rl, 0, NULL));
	ck_assert(!ratelimit_allow(&rl, 9, NULL));
	ck_assert(ratelimit_allow(&rl, 10, NULL));
	ratelimit_destroy(&rl);
}
END_TEST

START_TEST(levels)
{
	enum log_level l;

	ck_assert_int_eq(log_parse_level("debug", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_DEBUG);
	ck_assert_int_eq(log_parse_level("warn", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_WARN);
	ck_assert_int_eq(log_parse_level("loud", &l), -EINVAL);
	log_set_level(LOG_LVL_INFO);
	ck_assert(log_enabled(LOG_LVL_WARN));
	ck_assert(log_enabled(LOG_LVL_INFO));
	ck_assert(!log_enabled(LOG_LVL_DEBUG));
	log_set_level(LOG_LVL_WARN);
}
END_TEST

START_TEST(error_buffers)
{
	char buf[8] = "xxxxxxx";

	log_errbuf(buf, sizeof(buf), "%s: %d", "ab", 1234);
	ck_assert_str_eq(buf, "ab: 123");
	log_errbuf(buf, 0, "untouched");
	ck_assert_str_eq(buf, "ab: 123");
	log_errbuf(NULL, 10, "nowhere");
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, ratelimit_burst_then_quiet);
	tcase_add_test(tc, ratelimit_first_event_at_time_zero);
	tcase_add_test(tc, levels);
	tcase_add_test(tc, error_buffers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(log_suite());
}
