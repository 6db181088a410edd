/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr, and a rate limiter for messages a guest can provoke.
 *
 * The log threshold and the guest's name are the only process-wide state in
 * ember: set once at start-up (from EMBER_LOG and -name), only read after.
 */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void log_set_level(enum log_level level);
/* Names the guest in every message ("ember[NAME]: ..."); set once at start-up. */
void log_set_name(const char *name);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes a one-line message into a caller's error buffer, for functions
 * that report what went wrong to their caller instead of logging it.
 * Nothing happens when `err` is NULL or `err_len` is 0.
 */
void log_errbuf(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * At most `burst` events per `interval_ns`; the rest are counted as
 * suppressed and reported by the next event that is allowed through.
 */
struct ratelimit {
	pthread_mutex_t lock;
	uint64_t interval_ns;
	unsigned int burst;
	uint64_t window_start;
	unsigned int in_window;
	bool started;
	unsigned long suppressed;
};

void ratelimit_init(struct ratelimit *rl, uint64_t interval_ns, unsigned int burst);
void ratelimit_destroy(struct ratelimit *rl);
/*
 * True when an event at `now_ns` may be logged. *suppressed_out receives the
 * number of events dropped since the last allowed one (may be NULL).
 */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns, unsigned long *suppressed_out);

/* Logs through `rl`, adding how many earlier messages were suppressed. */
void log_limited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
