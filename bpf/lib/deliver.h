/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Delivering a frame to a port along its rx path, for either context.  The
 * caller has decided the frame is for port `id`; this decides vf, tap, both
 * or nothing, strips the tag, counts, and redirects.
 */
#ifndef SEMI_LIB_DELIVER_H
#define SEMI_LIB_DELIVER_H

#include "tunnel.h"

/*
 * Unicast delivery: exactly one copy per device the path names.  Returns
 * the program's verdict.
 */
static __always_inline int deliver_port(semi_ctx *ctx, const struct semi_ctl *ctl,
					struct semi_frame *f, __u32 id, const struct semi_port *p,
					__u32 rx)
{
	__u32 target, role, xdp_ok;

	switch (rx) {
	case SEMI_PATH_VF:
		target = p->vf_ifindex;
		role = SEMI_ROLE_VF;
		xdp_ok = p->flags & SEMI_PORT_F_VF_XDP;
		break;
	case SEMI_PATH_TAP:
		target = p->tap_ifindex;
		role = SEMI_ROLE_TAP;
		xdp_ok = p->flags & SEMI_PORT_F_TAP_XDP;
		break;
	case SEMI_PATH_BOTH:
		if (!CTX_CAN_COPY)
			return verdict_defer(ctx, id, f->len);
		if (!p->vf_ifindex || !p->tap_ifindex)
			return verdict_drop(id, SEMI_DROP_NO_TARGET);
		if (ctx_vlan_strip(ctx, f->tag))
			return verdict_drop(id, SEMI_DROP_VLAN_OP);
		if (ctx_clone(ctx, p->vf_ifindex) == 0) {
			count_rx(id, SEMI_ROLE_VF, f->len);
			trace_target(p->vf_ifindex);
		} else {
			count_drop(id, SEMI_DROP_REDIRECT);
		}
		count_rx(id, SEMI_ROLE_TAP, f->len);
		trace_target(p->tap_ifindex);
		trace_verdict(SEMI_V_REDIRECT, 0, id);
		return ctx_redirect(ctx, p->tap_ifindex, SEMI_XDP_SLOT(id, SEMI_ROLE_TAP));
	case SEMI_PATH_TUNNEL:
		return tunnel_encap(ctx, ctl, f, id, p);
	case SEMI_PATH_HOLD:
		/* The hold device is a tap: no XDP frames; TC parks it. */
		if (SEMI_CTX_XDP)
			return verdict_defer(ctx, id, f->len);
		target = READ_ONCE(ctl->hold_ifindex);
		role = SEMI_ROLE_TAP;	/* held frames count as rx.tap */
		xdp_ok = 0;
		break;
	default:
		return verdict_drop(id, SEMI_DROP_PATH_NONE);
	}

	if (!target)
		return verdict_drop(id, SEMI_DROP_NO_TARGET);
	if (SEMI_CTX_XDP && (!xdp_ok || ctx_multibuf(ctx)))
		return verdict_defer(ctx, id, f->len);
	if (ctx_vlan_strip(ctx, f->tag))
		return verdict_drop(id, SEMI_DROP_VLAN_OP);
	count_rx(id, role, f->len);
	trace_target(target);
	trace_verdict(SEMI_V_REDIRECT, 0, id);
	return ctx_redirect(ctx, target, SEMI_XDP_SLOT(id, role));
}

#if SEMI_CTX_TC
/*
 * One copy of an (untagged) frame to each device port `id`'s path names,
 * for floods: the original skb stays with the caller.
 */
static __always_inline void copy_to_port(semi_ctx *ctx, const struct semi_ctl *ctl,
					 __u32 len, __u32 id, const struct semi_port *p, __u32 rx)
{
	if (rx == SEMI_PATH_NONE) {
		count_drop(id, SEMI_DROP_PATH_NONE);
		return;
	}
	if (rx == SEMI_PATH_TUNNEL) {
		count_drop(id, SEMI_DROP_FLOOD_TUNNEL);
		return;
	}
	if (rx == SEMI_PATH_HOLD) {
		__u32 hold = READ_ONCE(ctl->hold_ifindex);

		if (!hold)
			count_drop(id, SEMI_DROP_NO_TARGET);
		else if (ctx_clone(ctx, hold))
			count_drop(id, SEMI_DROP_REDIRECT);
		else {
			count_rx(id, SEMI_ROLE_TAP, len);
			trace_target(hold);
		}
		return;
	}
	if (rx == SEMI_PATH_VF || rx == SEMI_PATH_BOTH) {
		if (!p->vf_ifindex)
			count_drop(id, SEMI_DROP_NO_TARGET);
		else if (ctx_clone(ctx, p->vf_ifindex))
			count_drop(id, SEMI_DROP_REDIRECT);
		else {
			count_rx(id, SEMI_ROLE_VF, len);
			trace_target(p->vf_ifindex);
		}
	}
	if (rx == SEMI_PATH_TAP || rx == SEMI_PATH_BOTH) {
		if (!p->tap_ifindex)
			count_drop(id, SEMI_DROP_NO_TARGET);
		else if (ctx_clone(ctx, p->tap_ifindex))
			count_drop(id, SEMI_DROP_REDIRECT);
		else {
			count_rx(id, SEMI_ROLE_TAP, len);
			trace_target(p->tap_ifindex);
		}
	}
}

struct flood_ctx {
	semi_ctx *ctx;
	const struct semi_ctl *ctl;
	__u32 len;
	__u32 vlan;
	__s64 exclude;		/* port id that must not get a copy, or -1 */
};

static long flood_one(__u32 id, void *data)
{
	struct flood_ctx *fc = data;
	struct semi_port *p = port_get(id);

	if (!p || p->vlan != fc->vlan || (__s64)id == fc->exclude)
		return 0;
	copy_to_port(fc->ctx, fc->ctl, fc->len, id, p, path_get(fc->ctl, id).rx);
	return 0;
}

/* A copy of the (untagged) frame to every port of the VLAN but one. */
static __always_inline void flood_ports(semi_ctx *ctx, const struct semi_ctl *ctl,
					__u32 len, __u32 vlan, __s64 exclude)
{
	struct flood_ctx fc = {
		.ctx = ctx, .ctl = ctl, .len = len, .vlan = vlan, .exclude = exclude,
	};
	__u32 n = READ_ONCE(ctl->port_hwm);

	if (n > SEMI_MAX_PORTS)
		n = SEMI_MAX_PORTS;
	bpf_loop(n, flood_one, &fc, 0);
}
#endif /* SEMI_CTX_TC */

#endif
