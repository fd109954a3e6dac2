/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The context abstraction, XDP flavour.  The uplink logic (uplink.h) is
 * written once against these functions; ctx_tc.h is the TC flavour.
 *
 * XDP cannot copy a frame, so whatever needs two copies or more (path both,
 * broadcast, multicast), or a target that cannot take XDP frames, is
 * deferred: passed up with a 4-byte metadata mark, and the TC twin on the
 * same uplink finishes the job.
 */
#ifndef SEMI_LIB_CTX_XDP_H
#define SEMI_LIB_CTX_XDP_H

#include "maps.h"
#include "parse.h"

typedef struct xdp_md semi_ctx;

#define SEMI_CTX_XDP	1
#define SEMI_CTX_TC	0
#define CTX_CAN_COPY	0
#define CTX_DROP	XDP_DROP

static __always_inline void *ctx_data(semi_ctx *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(semi_ctx *ctx)
{
	return (void *)(long)ctx->data_end;
}

/*
 * Whole frame, fragments included (xdp.frags: jumbo frames).  A frame with
 * fragments fills its first buffer (a page less head- and tailroom on veth,
 * 2-4 KiB on NICs), so a short linear part is the whole frame: the helper
 * call is only made for long ones.
 */
#define SEMI_XDP_SURE_LINEAR	1024

/* Length of the linear part, computed on 64-bit pointers (the verifier
 * refuses arithmetic on a 32-bit view of pkt_end). */
static __always_inline __u64 ctx_linear(semi_ctx *ctx)
{
	__u64 end = (__u64)ctx_data_end(ctx), data = (__u64)ctx_data(ctx);

	asm volatile("" : "+r"(end));
	return end - data;
}

static __always_inline __u32 ctx_len(semi_ctx *ctx)
{
	__u64 linear = ctx_linear(ctx);

	if (linear < SEMI_XDP_SURE_LINEAR)
		return (__u32)linear;
	return (__u32)bpf_xdp_get_buff_len(ctx);
}

/* A multi-buffer frame only goes where NDO_XMIT_SG is: leave it to TC. */
static __always_inline int ctx_multibuf(semi_ctx *ctx)
{
	__u64 linear = ctx_linear(ctx);

	return linear >= SEMI_XDP_SURE_LINEAR && bpf_xdp_get_buff_len(ctx) != linear;
}

static __always_inline __u32 ctx_ifindex(semi_ctx *ctx)
{
	return ctx->ingress_ifindex;
}

/* XDP sees the tag in the data (no offload metadata). */
static __always_inline void ctx_vlan_meta(semi_ctx *ctx, __u32 *present, __u16 *vid)
{
	*present = 0;
	*vid = 0;
}

/* Only the TC twin reads the hand-off mark. */
static __always_inline __u32 ctx_meta_kind(semi_ctx *ctx)
{
	return 0;
}

static __always_inline void ctx_mark(semi_ctx *ctx, __u32 kind)
{
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)))
		return;	/* driver without metadata: TC recounts, decides the same */

	__u32 *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + 1) > ctx_data(ctx))
		return;
	*meta = SEMI_META_MAGIC | kind;
}

/* Remove the 802.1Q header held in the data. */
static __always_inline int ctx_vlan_strip(semi_ctx *ctx, __u8 tag)
{
	if (tag != SEMI_TAG_DATA)
		return 0;

	void *data = ctx_data(ctx);
	__u8 macs[2 * ETH_ALEN];

	if (data + 2 * ETH_ALEN + VLAN_HLEN > ctx_data_end(ctx))
		return -1;
	__builtin_memcpy(macs, data, sizeof(macs));
	__builtin_memcpy(data + VLAN_HLEN, macs, sizeof(macs));
	return bpf_xdp_adjust_head(ctx, VLAN_HLEN) ? -1 : 0;
}

static __always_inline int ctx_vlan_push(semi_ctx *ctx, __u16 vid)
{
	return -1;	/* never called: XDP defers every path that tags */
}

static __always_inline int ctx_clone(semi_ctx *ctx, __u32 ifindex)
{
	return -1;	/* never called: CTX_CAN_COPY is 0 */
}

/*
 * Targets are in semi_xdp_tx at the port's slot.  A target missing from it
 * (a port deleted under traffic) falls back to the host stack rather than
 * to a silent drop.
 */
static __always_inline int ctx_redirect(semi_ctx *ctx, __u32 ifindex, __u32 slot)
{
	return bpf_redirect_map(&semi_xdp_tx, slot, XDP_PASS);
}

/* Room for len bytes in front of the frame (encapsulation). */
static __always_inline int ctx_push_front(semi_ctx *ctx, int len)
{
	return bpf_xdp_adjust_head(ctx, -len) ? -1 : 0;
}

/* Remove len bytes from the front (decapsulation). */
static __always_inline int ctx_pull_front(semi_ctx *ctx, int len)
{
	return bpf_xdp_adjust_head(ctx, len) ? -1 : 0;
}

/* Send the frame back out of the uplink it came in on. */
static __always_inline int ctx_tx_uplink(semi_ctx *ctx, __u32 uplink)
{
	return XDP_TX;
}

static __always_inline int ctx_pass(semi_ctx *ctx)
{
	ctx_mark(ctx, SEMI_META_HOST);
	return XDP_PASS;
}

static __always_inline int ctx_defer(semi_ctx *ctx)
{
	ctx_mark(ctx, SEMI_META_DEFER);
	return XDP_PASS;
}

#endif
