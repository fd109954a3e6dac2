// SPDX-License-Identifier: GPL-2.0
/* Small helpers shared by the lab's C tools. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labutil.h"

const char *lab_prog = "lab";
int lab_verbose;

static void vlog(const char *level, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", lab_prog, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;

	if (!lab_verbose)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

int lab_netns_enter(const char *name)
{
	char path[PATH_MAX];
	int oldfd, fd, err;

	if (!name || !*name)
		return LAB_NETNS_NONE;
	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);

	oldfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (oldfd < 0) {
		err = -errno;
		pr_warn("cannot open own network namespace: %s", strerror(errno));
		return err;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot open network namespace %s: %s", path, strerror(errno));
		goto close_old;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		err = -errno;
		pr_warn("cannot enter network namespace %s: %s", path, strerror(errno));
		goto close_fd;
	}
	close(fd);
	return oldfd;

close_fd:
	close(fd);
close_old:
	close(oldfd);
	return err;
}

int lab_netns_leave(int oldfd)
{
	int err = 0;

	if (oldfd == LAB_NETNS_NONE)
		return 0;
	if (oldfd < 0)
		return -EBADF;
	if (setns(oldfd, CLONE_NEWNET) < 0) {
		err = -errno;
		pr_warn("cannot return to the original network namespace: %s",
			strerror(errno));
	}
	close(oldfd);
	return err;
}

int lab_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_scaled(const char *s, const char *const *units,
			const double *scale, double *out)
{
	double v;
	char *end;
	int i;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	for (i = 0; units[i]; i++) {
		if (!strcmp(end, units[i])) {
			*out = v * scale[i];
			return 0;
		}
	}
	return -EINVAL;
}

int lab_parse_rate(const char *s, uint64_t *out)
{
	static const char *const units[] = { "", "k", "K", "m", "M", NULL };
	static const double scale[] = { 1, 1e3, 1e3, 1e6, 1e6 };
	double v;

	if (parse_scaled(s, units, scale, &v) || v < 1 || v > 1e9)
		return -EINVAL;
	*out = (uint64_t)(v + 0.5);
	return 0;
}

int lab_parse_duration_ns(const char *s, uint64_t *out)
{
	static const char *const units[] = { "", "s", "ms", "us", "ns", NULL };
	static const double scale[] = { 1e9, 1e9, 1e6, 1e3, 1 };
	double v;

	if (parse_scaled(s, units, scale, &v) || v > 1e9 * 86400 * 365)
		return -EINVAL;
	*out = (uint64_t)(v + 0.5);
	return 0;
}

uint64_t lab_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
