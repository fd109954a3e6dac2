// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Counters: per-CPU values summed; the decision trace for tests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "loader/internal.h"

/* Read key of a per-CPU map and add up every CPU's value, as u64 words. */
static int percpu_sum(struct semi_dp *dp, int fd, uint32_t key, void *sum, size_t size,
		      const char *what)
{
	size_t stride = (size + 7) & ~(size_t)7;
	uint64_t *acc = sum;
	char *vals;

	vals = calloc((size_t)dp->ncpus, stride);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		int err = -errno;

		free(vals);
		return dp_fail(dp, err, "cannot read %s: %s", what, strerror(-err));
	}
	memset(sum, 0, size);
	for (int cpu = 0; cpu < dp->ncpus; cpu++) {
		const uint64_t *v = (const uint64_t *)(vals + (size_t)cpu * stride);

		for (size_t i = 0; i < size / sizeof(uint64_t); i++)
			acc[i] += v[i];
	}
	free(vals);
	return 0;
}

int semi_port_stats_get_id(struct semi_dp *dp, uint32_t id, struct semi_port_stats *sum)
{
	if (id >= SEMI_MAX_PORTS)
		return dp_fail(dp, -ENOENT, "no port with id %u", id);
	return percpu_sum(dp, dp->map_fd[M_PORT_STATS], id, sum, sizeof(*sum),
			  SEMI_MAP_PORT_STATS);
}

int semi_port_stats_get(struct semi_dp *dp, const char *name, struct semi_port_stats *sum)
{
	struct semi_port_info info;
	int err = semi_port_get(dp, name, &info);

	return err ? err : semi_port_stats_get_id(dp, info.id, sum);
}

int semi_stats_get(struct semi_dp *dp, struct semi_stats *sum)
{
	return percpu_sum(dp, dp->map_fd[M_STATS], 0, sum, sizeof(*sum), SEMI_MAP_STATS);
}

int semi_trace_get(struct semi_dp *dp, int cpu, struct semi_trace *out)
{
	size_t stride = (sizeof(*out) + 7) & ~(size_t)7;
	uint32_t zero = 0;
	char *vals;
	int err = 0;

	if (cpu < 0 || cpu >= dp->ncpus)
		return -EINVAL;
	vals = calloc((size_t)dp->ncpus, stride);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp->map_fd[M_TRACE], &zero, vals))
		err = -errno;
	else
		memcpy(out, vals + (size_t)cpu * stride, sizeof(*out));
	free(vals);
	return err;
}
