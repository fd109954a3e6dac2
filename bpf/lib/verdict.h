/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The end of every decision: count it, trace it, return the verdict. */
#ifndef SEMI_LIB_VERDICT_H
#define SEMI_LIB_VERDICT_H

#include "counters.h"
#include "lookup.h"
#include "parse.h"

static __always_inline int verdict_drop(__s64 port, enum semi_drop reason)
{
	count_drop(port, reason);
	trace_verdict(SEMI_V_DROP, reason, port);
	return CTX_DROP;
}

static __always_inline int verdict_defer(semi_ctx *ctx, __s64 port, __u32 len)
{
	struct semi_stats *gs = stats_global();

	if (gs)
		ctr_add(&gs->xdp_defer, len);
	trace_verdict(SEMI_V_DEFER, 0, port);
	return ctx_defer(ctx);
}

static __always_inline int verdict_host(semi_ctx *ctx, __u32 len)
{
	struct semi_stats *gs = stats_global();

	if (gs)
		ctr_add(&gs->pass_host, len);
	trace_verdict(SEMI_V_PASS, 0, -1);
	return ctx_pass(ctx);
}

static __always_inline void count_rx(__u32 id, enum semi_role role, __u32 len)
{
	struct semi_port_stats *ps = stats_port(id);

	if (ps && role < SEMI_ROLE_MAX)
		ctr_add(&ps->rx[role], len);
}

#endif
