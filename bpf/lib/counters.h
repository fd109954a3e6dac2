/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Per-CPU counters and the test trace.  Every frame is counted. */
#ifndef SEMI_LIB_COUNTERS_H
#define SEMI_LIB_COUNTERS_H

#include "maps.h"

static __always_inline struct semi_stats *stats_global(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&semi_stats, &zero);
}

static __always_inline struct semi_port_stats *stats_port(__u32 id)
{
	return bpf_map_lookup_elem(&semi_port_stats, &id);
}

static __always_inline void ctr_add(struct semi_ctr *c, __u32 len)
{
	c->packets++;
	c->bytes += len;
}

/* Drop counted against the port when one is known, else instance-wide. */
static __always_inline void count_drop(__s64 port, enum semi_drop reason)
{
	if (reason >= SEMI_DROP_MAX)
		return;
	if (port >= 0) {
		struct semi_port_stats *ps = stats_port((__u32)port);

		if (ps) {
			ps->drop[reason]++;
			return;
		}
	}
	struct semi_stats *gs = stats_global();

	if (gs)
		gs->drop[reason]++;
}

static __always_inline struct semi_trace *trace_get(void)
{
	__u32 zero = 0;

	if (!semi_cfg_trace)
		return NULL;
	return bpf_map_lookup_elem(&semi_trace, &zero);
}

static __always_inline void trace_target(__u32 ifindex)
{
	struct semi_trace *t = trace_get();

	if (!t)
		return;
	__u32 n = t->ntargets;

	if (n < SEMI_TRACE_TARGETS)
		t->targets[n] = ifindex;
	t->ntargets = n + 1;
}

static __always_inline void trace_verdict(enum semi_verdict v, __u32 reason, __s64 port)
{
	struct semi_trace *t = trace_get();

	if (!t)
		return;
	t->verdict = v;
	t->reason = reason;
	t->port = port >= 0 ? (__u32)port + 1 : 0;
}

static __always_inline void trace_vlan_out(__u32 vid)
{
	struct semi_trace *t = trace_get();

	if (t)
		t->vlan_out = vid;
}

/* Called first by every entry point: a fresh record per frame. */
static __always_inline void trace_begin(void)
{
	struct semi_trace *t = trace_get();

	if (t)
		__builtin_memset(t, 0, sizeof(*t));
}

#endif
