/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by the lab's C tools: logging, namespaces, numbers. */
#ifndef LAB_UTIL_H
#define LAB_UTIL_H

#include <stdbool.h>
#include <stdint.h>

extern const char *lab_prog;	/* program name for messages */
extern int lab_verbose;

void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Move the calling thread into the network namespace /run/netns/NAME (or a
 * path if NAME contains '/').  Returns an fd of the previous namespace to
 * hand to lab_netns_leave(), or negative errno.  NULL or "" stays in the
 * current namespace and returns LAB_NETNS_NONE, which lab_netns_leave()
 * accepts.
 */
#define LAB_NETNS_NONE (-1000)
int lab_netns_enter(const char *name);
int lab_netns_leave(int oldfd);

/* Strict number parsing: whole string, range-checked.  0 or -EINVAL. */
int lab_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* A rate such as 1000, 500k, 1.5M (per second).  0 or -EINVAL. */
int lab_parse_rate(const char *s, uint64_t *out);
/* A duration such as 10, 2.5s, 300ms, 50us.  Bare numbers are seconds. */
int lab_parse_duration_ns(const char *s, uint64_t *out);

uint64_t lab_now_ns(void);	/* CLOCK_MONOTONIC */

#endif /* LAB_UTIL_H */
