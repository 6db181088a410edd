/* SPDX-License-Identifier: MIT */
/*
 * How the fuzz targets read their input and report a failed check: the
 * input is consumed front to back, and a failed check aborts with a line
 * naming the target, which libFuzzer records as a crash.
 */
#ifndef EMBER_TESTS_FUZZ_FUZZIN_H
#define EMBER_TESTS_FUZZ_FUZZIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The fuzzer's bytes; zeroes once they run out. */
struct fin {
	const uint8_t *p;
	size_t left;
};

/* The next n bytes (at most 8), little-endian. */
static inline uint64_t fin_take(struct fin *in, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n && i < 8 && in->left; i++, in->p++, in->left--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

#define FUZZ_FAIL(target, ...)                                                                     \
	do {                                                                                       \
		fprintf(stderr, target ": " __VA_ARGS__);                                          \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

#endif
