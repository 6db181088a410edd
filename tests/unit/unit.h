/* SPDX-License-Identifier: MIT */
/*
 * What every Check test program shares: run one suite, exit non-zero on
 * failure; and what a test does when this machine lacks something it needs.
 */
#ifndef EMBER_TESTS_UNIT_H
#define EMBER_TESTS_UNIT_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int unit_run(Suite *s)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr = srunner_create(s);
	int failed;

	/* Check keeps a file per test in $TEMP, else /tmp: make it follow TMPDIR too. */
	if (tmp && tmp[0])
		setenv("TEMP", tmp, 0);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* EMBER_NEST_REQUIRE=1 (CI sets it): a test that cannot run is a failure. */
static inline bool unit_required(void)
{
	const char *r = getenv("EMBER_NEST_REQUIRE");

	return r && strcmp(r, "1") == 0;
}

/*
 * Inside a test: this machine lacks what `test` needs (the reason, printf
 * style). Under EMBER_NEST_REQUIRE=1 the test fails with the reason;
 * otherwise a "SKIP:" line in the test's log says what did not run, and the
 * caller returns without testing. UNIT_NEED does both.
 */
__attribute__((format(printf, 2, 3))) static inline void unit_missing(const char *test,
								      const char *fmt, ...)
{
	char why[512];
	va_list ap;
	/* Check names a test's function NAME_fn: the test is NAME. */
	size_t n = strlen(test);

	if (n > 3 && strcmp(test + n - 3, "_fn") == 0)
		n -= 3;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (unit_required())
		ck_abort_msg("%.*s cannot run here: %s (EMBER_NEST_REQUIRE=1)", (int)n, test, why);
	printf("SKIP: %.*s: %s\n", (int)n, test, why);
	fflush(stdout);
}

/* In a test's body: runs on only if `have`; else unit_missing, then return. */
#define UNIT_NEED(have, ...)                                                                       \
	do {                                                                                       \
		if (!(have)) {                                                                     \
			unit_missing(__func__, __VA_ARGS__);                                       \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/*
 * In main(), before any test: the whole program needs something missing.
 * Exits 77 (a skip for automake), or 1 under EMBER_NEST_REQUIRE=1.
 */
__attribute__((format(printf, 2, 3), noreturn)) static inline void
unit_missing_all(const char *program, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (unit_required()) {
		fprintf(stderr, "FAIL: %s cannot run here: %s (EMBER_NEST_REQUIRE=1)\n", program,
			why);
		exit(EXIT_FAILURE);
	}
	printf("SKIP: %s: %s\n", program, why);
	exit(77);
}

#endif
