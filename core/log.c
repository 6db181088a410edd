// SPDX-License-Identifier: MIT
#include "config.h"

#include "log.h"
#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Atomic int log_threshold = LOG_LVL_WARN;
static const char *log_name;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_name(const char *name)
{
	log_name = name;
}

void log_set_level(enum log_level level)
{
	log_threshold = (int)level;
}

enum log_level log_get_level(void)
{
	return (enum log_level)log_threshold;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool log_enabled(enum log_level level)
{
	return (int)level <= log_threshold;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap, unsigned long suppressed)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "ember%s%s%s: %s: ", log_name ? "[" : "",
		     log_name ? log_name : "", log_name ? "]" : "",
		     level == LOG_LVL_ERROR  ? "error"
		     : level == LOG_LVL_WARN ? "warning"
					     : level_names[level]);
	if (n < 0)
		return;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	/* One write per line keeps lines from different threads whole. */
	if (suppressed)
		fprintf(stderr, "%s (%lu similar messages suppressed)\n", buf, suppressed);
	else
		fprintf(stderr, "%s\n", buf);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap, 0);
	va_end(ap);
}

void ratelimit_init(struct ratelimit *rl, uint64_t interval_ns, unsigned int burst)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->interval_ns = interval_ns;
	rl->burst = burst;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns, unsigned long *suppressed_out)
{
	bool ok;

	pthread_mutex_lock(&rl->lock);
	if (!rl->started || now_ns - rl->window_start >= rl->interval_ns) {
		rl->started = true;
		rl->window_start = now_ns;
		rl->in_window = 0;
	}
	ok = rl->in_window < rl->burst;
	if (ok) {
		rl->in_window++;
		if (suppressed_out)
			*suppressed_out = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void log_limited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	unsigned long suppressed;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (!ratelimit_allow(rl, clock_now_ns(), &suppressed))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap, suppressed);
	va_end(ap);
}

void log_errbuf(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}
