/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The context abstraction, TC (cls_bpf, clsact ingress) flavour.  The TC
 * twin of the uplink program handles what XDP defers, and all of it on an
 * uplink whose driver lacks XDP.  semi_port is TC only.
 */
#ifndef SEMI_LIB_CTX_TC_H
#define SEMI_LIB_CTX_TC_H

#include "maps.h"
#include "parse.h"

typedef struct __sk_buff semi_ctx;

#define SEMI_CTX_XDP	0
#define SEMI_CTX_TC	1
#define CTX_CAN_COPY	1
#define CTX_DROP	TC_ACT_SHOT

static __always_inline void *ctx_data(semi_ctx *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(semi_ctx *ctx)
{
	return (void *)(long)ctx->data_end;
}

static __always_inline __u32 ctx_len(semi_ctx *ctx)
{
	return ctx->len;
}

static __always_inline int ctx_multibuf(semi_ctx *ctx)
{
	return 0;
}

static __always_inline __u32 ctx_ifindex(semi_ctx *ctx)
{
	return ctx->ifindex;
}

/* The stack untags 802.1Q before TC ingress: the tag sits in the skb. */
static __always_inline void ctx_vlan_meta(semi_ctx *ctx, __u32 *present, __u16 *vid)
{
	*present = ctx->vlan_present;
	*vid = (__u16)ctx->vlan_tci;
}

/* The mark the XDP program left in front of the frame, if any. */
static __always_inline __u32 ctx_meta_kind(semi_ctx *ctx)
{
	__u32 *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + 1) > ctx_data(ctx))
		return 0;
	if ((*meta & 0xffff0000u) != SEMI_META_MAGIC)
		return 0;
	return *meta & 0xffff;
}

/* Removes the tag wherever it is (skb metadata or data). */
static __always_inline int ctx_vlan_strip(semi_ctx *ctx, __u8 tag)
{
	if (tag == SEMI_TAG_NONE)
		return 0;
	return bpf_skb_vlan_pop(ctx) ? -1 : 0;
}

static __always_inline int ctx_vlan_push(semi_ctx *ctx, __u16 vid)
{
	return bpf_skb_vlan_push(ctx, ETH_P_8021Q_BE, vid) ? -1 : 0;
}

static __always_inline int ctx_clone(semi_ctx *ctx, __u32 ifindex)
{
	return bpf_clone_redirect(ctx, ifindex, 0) ? -1 : 0;
}

static __always_inline int ctx_redirect(semi_ctx *ctx, __u32 ifindex, __u32 slot)
{
	return bpf_redirect(ifindex, 0);
}

/*
 * Room for len bytes.  For IP, bpf_skb_adjust_room() opens it after the
 * Ethernet header and keeps GSO metadata right; it refuses other protocols
 * (ARP), which are never GSO and get the room in front with
 * bpf_skb_change_head().  Either way callers rewrite the first
 * len + ETH_HLEN bytes whole: outer headers, then the inner Ethernet header
 * they saved.
 */
static __always_inline int ctx_push_front(semi_ctx *ctx, int len)
{
	if (ctx->protocol == bpf_htons(ETH_P_IP) || ctx->protocol == bpf_htons(ETH_P_IPV6))
		return bpf_skb_adjust_room(ctx, len, BPF_ADJ_ROOM_MAC,
					   BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
					   BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
					   BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN)) ? -1 : 0;
	return bpf_skb_change_head(ctx, len, 0) ? -1 : 0;
}

/* Removes len bytes after the Ethernet header; callers rewrite that header. */
static __always_inline int ctx_pull_front(semi_ctx *ctx, int len)
{
	return bpf_skb_adjust_room(ctx, -len, BPF_ADJ_ROOM_MAC, 0) ? -1 : 0;
}

static __always_inline int ctx_tx_uplink(semi_ctx *ctx, __u32 uplink)
{
	return bpf_redirect(uplink, 0);
}

static __always_inline int ctx_pass(semi_ctx *ctx)
{
	return TC_ACT_OK;
}

static __always_inline int ctx_defer(semi_ctx *ctx)
{
	return TC_ACT_OK;	/* nothing after TC to defer to */
}

#endif
