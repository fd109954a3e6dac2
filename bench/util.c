// SPDX-License-Identifier: GPL-2.0
/* bench/: logging, option table, parsing helpers (see util.h). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <bpf/libbpf.h>

#include "bench/util.h"

const char *prog_name = "semi-bench";
int log_level = LOG_INFO;

void bench_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* libbpf is chatty even on success: only -v shows its log. */
	if (log_level < LOG_DEBUG || level == LIBBPF_DEBUG)
		return 0;
	fprintf(stderr, "%s: libbpf: ", prog_name);
	return vfprintf(stderr, fmt, ap);
}

void setup_libbpf_log(void)
{
	libbpf_set_print(libbpf_print);
}

int parse_u64(const char *s, uint64_t *v)
{
	unsigned long long n;
	uint64_t mul = 1;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno)
		return -errno;
	if (end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1000;
		end++;
		break;
	case 'M':
		mul = 1000000;
		end++;
		break;
	case 'G':
		mul = 1000000000;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	if (n > UINT64_MAX / mul)
		return -ERANGE;
	*v = n * mul;
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void print_help(const struct opt *opts, const char *usage,
		       const char *description)
{
	const struct opt *o;
	char left[64];

	printf("Usage: %s %s\n", prog_name, usage);
	if (description)
		printf("\n%s\n", description);
	printf("\nOptions:\n");
	for (o = opts; o->name; o++) {
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
				 o->short_name, o->name, o->metavar ? " " : "",
				 o->metavar ? o->metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
				 o->metavar ? " " : "",
				 o->metavar ? o->metavar : "");
		if (strlen(left) > 24)
			printf("  %s\n  %-24s  %s\n", left, "", o->help);
		else
			printf("  %-24s  %s\n", left, o->help);
	}
	printf("  %-24s  %s\n", "-h, --help", "show this help and exit");
}

static void usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Usage: %s %s\nTry '%s --help'.\n", prog_name, usage,
		prog_name);
	exit(EXIT_USAGE);
}

static void apply_opt(const struct opt *o, const char *arg, void *cfg,
		      const char *usage)
{
	char *field = (char *)cfg + o->off;
	struct in_addr ia;
	uint64_t v;
	double d;
	char *end;
	int err;

	switch (o->type) {
	case OPT_FLAG:
		*(bool *)field = true;
		break;
	case OPT_COUNT:
		(*(int *)field)++;
		break;
	case OPT_U64:
	case OPT_U32:
		err = parse_u64(arg, &v);
		if (err || v < o->min || v > o->max)
			usage_error(usage,
				    "invalid --%s '%s': expected a number in %llu..%llu\n",
				    o->name, arg, (unsigned long long)o->min,
				    (unsigned long long)o->max);
		if (o->type == OPT_U64)
			*(uint64_t *)field = v;
		else
			*(uint32_t *)field = v;
		break;
	case OPT_SECONDS:
		errno = 0;
		d = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(d) || d <= 0)
			usage_error(usage,
				    "invalid --%s '%s': expected seconds > 0\n",
				    o->name, arg);
		*(double *)field = d;
		break;
	case OPT_MAC:
		if (parse_mac(arg, (uint8_t *)field))
			usage_error(usage,
				    "invalid --%s '%s': expected a MAC like 02:00:00:00:00:01\n",
				    o->name, arg);
		break;
	case OPT_IPV4:
		if (inet_pton(AF_INET, arg, &ia) != 1)
			usage_error(usage,
				    "invalid --%s '%s': expected an IPv4 address\n",
				    o->name, arg);
		*(uint32_t *)field = ia.s_addr;
		break;
	case OPT_STR:
		*(const char **)field = arg;
		break;
	case OPT_CALL:
		if (o->fn(cfg, arg))
			usage_error(usage, "invalid --%s '%s'\n", o->name, arg);
		break;
	}
	if (o->has_off)
		*(bool *)((char *)cfg + o->has_off - 1) = true;
}

void parse_opts(int argc, char **argv, const struct opt *opts, void *cfg,
		const char *usage, const char *description)
{
	struct option *lopts;
	char shorts[128];
	size_t n = 0, i, s = 0;
	int c, idx;

	while (opts[n].name)
		n++;
	lopts = calloc(n + 2, sizeof(*lopts));
	if (!lopts) {
		pr_warn("out of memory\n");
		exit(EXIT_FAIL);
	}
	shorts[s++] = ':';	/* report missing arguments as ':' */
	for (i = 0; i < n; i++) {
		bool arg = opts[i].type != OPT_FLAG && opts[i].type != OPT_COUNT;

		lopts[i].name = opts[i].name;
		lopts[i].has_arg = arg ? required_argument : no_argument;
		lopts[i].val = 256 + i;
		if (opts[i].short_name && s < sizeof(shorts) - 3) {
			shorts[s++] = opts[i].short_name;
			if (arg)
				shorts[s++] = ':';
		}
	}
	lopts[n].name = "help";
	lopts[n].val = 'h';
	shorts[s++] = 'h';
	shorts[s] = '\0';

	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lopts, &idx)) != -1) {
		const struct opt *o = NULL;

		if (c == 'h') {
			free(lopts);
			print_help(opts, usage, description);
			exit(EXIT_OK);
		}
		if (c == ':')
			usage_error(usage, "option '%s' needs an argument\n",
				    argv[optind - 1]);
		if (c == '?')
			usage_error(usage, "unknown option '%s'\n",
				    argv[optind - 1]);
		if (c >= 256)
			o = &opts[c - 256];
		else
			for (i = 0; i < n; i++)
				if (opts[i].short_name == c)
					o = &opts[i];
		if (!o)
			usage_error(usage, "unknown option '%s'\n",
				    argv[optind - 1]);
		apply_opt(o, optarg, cfg, usage);
	}
	free(lopts);
	if (optind < argc)
		usage_error(usage, "unexpected argument '%s'\n", argv[optind]);
}
