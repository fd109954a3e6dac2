/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Logging for semi-net's libraries and programs: pr_warn/pr_info/pr_debug
 * with a printf format check, one sink the program may replace, and
 * libbpf's own messages routed through the same sink.
 */
#ifndef SEMI_LOG_H
#define SEMI_LOG_H

#include <stdarg.h>

enum semi_log_level {
	SEMI_LOG_ERR = 0,
	SEMI_LOG_WARN,
	SEMI_LOG_INFO,
	SEMI_LOG_DEBUG,
};

typedef void (*semi_log_fn)(enum semi_log_level level, const char *fmt, va_list ap);

/* Default sink: stderr, "semi-net: " prefix, levels up to `level`. */
void semi_log_set_level(enum semi_log_level level);
enum semi_log_level semi_log_get_level(void);
/* NULL restores the default sink.  Also routes libbpf's messages. */
void semi_log_set_sink(semi_log_fn fn);
void semi_log_set_prefix(const char *prefix);

void semi_log(enum semi_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(fmt, ...)	semi_log(SEMI_LOG_ERR, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)	semi_log(SEMI_LOG_WARN, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)	semi_log(SEMI_LOG_INFO, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	semi_log(SEMI_LOG_DEBUG, fmt, ##__VA_ARGS__)

#endif
