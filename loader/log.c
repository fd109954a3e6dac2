// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "loader/log.h"

static enum semi_log_level log_level = SEMI_LOG_WARN;
static semi_log_fn log_sink;
static char log_prefix[32] = "semi-net";

static void default_sink(enum semi_log_level level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	fprintf(stderr, "%s: ", log_prefix);
	vfprintf(stderr, fmt, ap);
	if (!*fmt || fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}

static int libbpf_sink(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum semi_log_level l;

	switch (level) {
	case LIBBPF_WARN:
		l = SEMI_LOG_WARN;
		break;
	case LIBBPF_INFO:
		l = SEMI_LOG_INFO;
		break;
	default:
		l = SEMI_LOG_DEBUG;
		break;
	}
	/* libbpf warns loudly about things the loader handles itself
	 * (a verifier log is only interesting when asked for). */
	if (l == SEMI_LOG_WARN && log_level < SEMI_LOG_DEBUG)
		l = SEMI_LOG_INFO;
	(log_sink ? log_sink : default_sink)(l, fmt, ap);
	return 0;
}

void semi_log_set_level(enum semi_log_level level)
{
	log_level = level;
	libbpf_set_print(libbpf_sink);
}

enum semi_log_level semi_log_get_level(void)
{
	return log_level;
}

void semi_log_set_sink(semi_log_fn fn)
{
	log_sink = fn;
	libbpf_set_print(libbpf_sink);
}

void semi_log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void semi_log(enum semi_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(log_sink ? log_sink : default_sink)(level, fmt, ap);
	va_end(ap);
}
