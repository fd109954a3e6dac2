/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * semi_uplink: frames from the fabric.  Written once for both contexts; the
 * entry files include ctx_xdp.h or ctx_tc.h first.
 *
 *   unicast for a port (MAC, VID)  -> that port's path (vf, tap, both, none,
 *                                     tunnel: forwarded to the destination host)
 *   VXLAN to the tunnel address     -> decapsulated for an incoming port (tunnel.h)
 *   broadcast / multicast           -> every port of the VID once, and the host
 *   unknown unicast, QinQ           -> host stack, untouched
 *   runt, truncated tag             -> dropped, counted by reason
 */
#ifndef SEMI_LIB_UPLINK_H
#define SEMI_LIB_UPLINK_H

#include "deliver.h"

static __always_inline int flood_from_uplink(semi_ctx *ctx, const struct semi_ctl *ctl,
					     struct semi_frame *f)
{
#if SEMI_CTX_TC
	struct semi_port_key src;
	struct semi_stats *gs = stats_global();
	struct ethhdr *eth = ctx_data(ctx);
	__s64 self;

	/*
	 * A frame from the fabric that carries a local port's MAC as source
	 * is that VM speaking from elsewhere (an announce after a migration)
	 * or a loop: count it, and never hand the VM its own frame.
	 */
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return verdict_drop(-1, SEMI_DROP_RUNT);
	*(__u64 *)&src = mac_word(eth->h_source);
	src.vlan = f->dst.vlan;
	self = port_find(&src);
	if (self >= 0) {
		struct semi_port_stats *ps = stats_port((__u32)self);

		if (ps)
			ctr_add(&ps->remote_src, f->len);
	}
	if (ctx_vlan_strip(ctx, f->tag))
		return verdict_drop(-1, SEMI_DROP_VLAN_OP);
	flood_ports(ctx, ctl, f->len, f->dst.vlan, self);
	/* The host stack gets the frame as it arrived: tagged if it was. */
	if (f->tag != SEMI_TAG_NONE) {
		if (ctx_vlan_push(ctx, f->dst.vlan))
			return verdict_drop(-1, SEMI_DROP_VLAN_OP);
		trace_vlan_out(f->dst.vlan);
	}
	if (gs)
		ctr_add(&gs->flood, f->len);
	return verdict_host(ctx, f->len);
#else
	return verdict_defer(ctx, -1, f->len);
#endif
}

static __always_inline int semi_uplink(semi_ctx *ctx)
{
	struct semi_stats *gs;
	struct semi_ctl *ctl;
	struct semi_port *p;
	struct semi_frame f;
	__u32 meta, present, len, id;
	__u16 vid;
	int r;

	trace_begin();
	meta = ctx_meta_kind(ctx);
	if (meta == SEMI_META_HOST)
		return ctx_pass(ctx);	/* XDP decided and counted it */

	ctx_vlan_meta(ctx, &present, &vid);
	len = ctx_len(ctx);
	r = semi_parse(ctx_data(ctx), ctx_data_end(ctx), len, present, vid, &f);
	gs = stats_global();
	if (gs && meta != SEMI_META_DEFER)
		ctr_add(&gs->uplink_rx, len);
	if (r)
		return verdict_drop(-1, r - 1);
	if (f.inner_tag)
		return verdict_host(ctx, f.len);

	ctl = ctl_get();
	if (!ctl)
		return verdict_host(ctx, f.len);
	if (mac_is_multicast(f.dst.mac))
		return flood_from_uplink(ctx, ctl, &f);

	p = port_lookup(&f.dst, &id);
	if (p)
		return deliver_port(ctx, ctl, &f, id, p, path_get(ctl, id).rx);
	/* Tunnel frames are addressed to the host, not to a port: checked
	 * only off the fast path. */
	if (tunnel_frame(ctx, ctl, &f))
		return tunnel_decap(ctx, ctl, &f);
	return verdict_host(ctx, f.len);
}

#endif
