/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench/: helpers shared by semi-pktgen and semi-count -- logging, the
 * table-driven option parser, number and MAC parsing, clocks.
 */
#ifndef SEMI_BENCH_UTIL_H
#define SEMI_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes shared by every semi-net tool. */
#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

enum log_level {
	LOG_WARN = 0,	/* always printed (unless -q silences info only) */
	LOG_INFO = 1,
	LOG_DEBUG = 2,	/* -v: libbpf's own log too */
};

extern const char *prog_name;
extern int log_level;

void bench_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define pr_warn(...)	bench_log(LOG_WARN, __VA_ARGS__)
#define pr_info(...)	bench_log(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	bench_log(LOG_DEBUG, __VA_ARGS__)

/* Route libbpf's log through bench_log: warnings only with -v. */
void setup_libbpf_log(void);

/*
 * The option table: one entry per option, its help line and where the
 * parsed value goes (an offset into the caller's config struct).
 */
enum opt_type {
	OPT_FLAG,	/* bool, no argument */
	OPT_COUNT,	/* int, incremented per occurrence (-v -v) */
	OPT_U64,	/* uint64_t in [min, max]; k/M/G suffixes */
	OPT_U32,	/* uint32_t in [min, max] */
	OPT_SECONDS,	/* double > 0 */
	OPT_MAC,	/* uint8_t[6] */
	OPT_IPV4,	/* uint32_t, network byte order */
	OPT_STR,	/* const char * */
	OPT_CALL,	/* calls fn(cfg, arg) */
};

struct opt {
	const char *name;	/* long name, without "--" */
	int short_name;		/* 0: none */
	enum opt_type type;
	size_t off;		/* offset of the value in the config struct */
	const char *metavar;	/* NULL for OPT_FLAG and OPT_COUNT */
	const char *help;
	uint64_t min, max;	/* OPT_U64 / OPT_U32 bounds */
	size_t has_off;		/* OPT_HAS(): a bool set when given; 0: none */
	int (*fn)(void *cfg, const char *arg);	/* OPT_CALL */
};

#define OPT_END { .name = NULL }
#define OPT_HAS(type, field)	(offsetof(type, field) + 1)

/*
 * Parse argv against the table.  Prints help (with the usage line and the
 * table) and exits 0 on -h/--help; prints a message and exits EXIT_USAGE on
 * anything it cannot parse.  Positional arguments are refused.
 */
void parse_opts(int argc, char **argv, const struct opt *opts, void *cfg,
		const char *usage, const char *description);

int parse_mac(const char *s, uint8_t mac[6]);
int parse_u64(const char *s, uint64_t *v);	/* accepts k, M, G suffixes */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

#define NSEC_PER_SEC	1000000000ULL

#endif /* SEMI_BENCH_UTIL_H */
