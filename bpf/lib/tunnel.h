/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Forwarding to the destination host during a migration: VXLAN-format UDP
 * (RFC 7348) over IPv4, so that tcpdump and Wireshark decode it.
 *
 *   encap: a frame for a port whose path is tunnel goes, untagged, inside
 *          outer Ethernet/IPv4/UDP/VXLAN to the port's peer (VNI = the
 *          peer's VNI + the port's VLAN), back out of the uplink.
 *   decap: a UDP frame to the instance's tunnel address and port is taken
 *          only from a configured peer (else SEMI_DROP_TUNNEL_PEER) and only
 *          for a port whose path word accepts tunnel frames -- incoming or
 *          emulated -- (else SEMI_DROP_TUNNEL_STATE), and is delivered along
 *          that port's path.
 */
#ifndef SEMI_LIB_TUNNEL_H
#define SEMI_LIB_TUNNEL_H

#include "verdict.h"

struct semi_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct semi_udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

struct semi_vxlanhdr {
	__be32 flags;		/* 0x08000000: the VNI is valid */
	__be32 vni;		/* VNI << 8 */
};

struct semi_encap {
	struct ethhdr eth;
	struct semi_iphdr ip;
	struct semi_udphdr udp;
	struct semi_vxlanhdr vx;
	struct ethhdr inner;
} __attribute__((packed));

#define VXLAN_FLAG_VNI	bpf_htonl(0x08000000)
#define IP_DF		bpf_htons(0x4000)
#define IP_MF_OFFSET	bpf_htons(0x3fff)

static __always_inline __u16 ip_csum(const struct semi_iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline struct semi_peer *peer_get(__u32 id)
{
	struct semi_peer *peer;

	if (!id || id >= SEMI_MAX_PEERS)
		return NULL;
	peer = bpf_map_lookup_elem(&semi_peers, &id);
	return peer && (peer->flags & SEMI_PEER_F_USED) ? peer : NULL;
}

static __always_inline int tunnel_encap(semi_ctx *ctx, const struct semi_ctl *ctl,
					struct semi_frame *f, __u32 id, const struct semi_port *p)
{
	struct semi_peer *peer = peer_get(p->tunnel);
	__u32 uplink = READ_ONCE(ctl->uplink_ifindex);
	struct semi_encap *h;
	struct semi_iphdr ip;
	struct ethhdr inner;
	__u16 entropy;
	void *data;

	if (!peer || !uplink)
		return verdict_drop(id, SEMI_DROP_NO_TUNNEL);
	/* XDP sends it back out with XDP_TX: only where that works. */
	if (SEMI_CTX_XDP &&
	    (ctx_multibuf(ctx) || !(READ_ONCE(ctl->uplink_flags) & SEMI_UPLINK_F_XDP_TX)))
		return verdict_defer(ctx, id, f->len);
	if (ctx_vlan_strip(ctx, f->tag))
		return verdict_drop(id, SEMI_DROP_VLAN_OP);

	data = ctx_data(ctx);
	if (data + sizeof(inner) > ctx_data_end(ctx))
		return verdict_drop(id, SEMI_DROP_RUNT);
	__builtin_memcpy(&inner, data, sizeof(inner));
	if (ctx_push_front(ctx, SEMI_ENCAP_LEN))
		return verdict_drop(id, SEMI_DROP_REDIRECT);
	h = ctx_data(ctx);
	if ((void *)(h + 1) > ctx_data_end(ctx))
		return verdict_drop(id, SEMI_DROP_REDIRECT);

	__builtin_memcpy(h->eth.h_dest, peer->remote_mac, ETH_ALEN);
	__builtin_memcpy(h->eth.h_source, peer->local_mac, ETH_ALEN);
	h->eth.h_proto = bpf_htons(ETH_P_IP);
	ip.ver_ihl = 0x45;
	ip.tos = 0;
	ip.tot_len = bpf_htons((__u16)(f->len + SEMI_ENCAP_LEN - ETH_HLEN));
	ip.id = 0;
	ip.frag_off = IP_DF;
	ip.ttl = 64;
	ip.protocol = 17;	/* UDP */
	ip.check = 0;
	ip.saddr = peer->local_ip;
	ip.daddr = peer->remote_ip;
	ip.check = ip_csum(&ip);
	__builtin_memcpy(&h->ip, &ip, sizeof(ip));
	/* Source port from the inner addresses: flows spread over ECMP. */
	entropy = (__u16)((inner.h_source[4] << 8 | inner.h_source[5]) ^
			  (inner.h_dest[4] << 8 | inner.h_dest[5]));
	h->udp.source = bpf_htons(49152 | (entropy & 0x3fff));
	h->udp.dest = bpf_htons(peer->port);
	h->udp.len = bpf_htons((__u16)(f->len + SEMI_ENCAP_LEN - ETH_HLEN - sizeof(h->ip)));
	h->udp.check = 0;	/* allowed for IPv4 (RFC 7348) */
	h->vx.flags = VXLAN_FLAG_VNI;
	h->vx.vni = bpf_htonl((peer->vni + p->vlan) << 8);
	__builtin_memcpy(&h->inner, &inner, sizeof(inner));

	count_rx(id, SEMI_ROLE_TUNNEL, f->len);
	trace_target(uplink);
	trace_verdict(SEMI_V_REDIRECT, 0, id);
	return ctx_tx_uplink(ctx, uplink);
}

/* Is this (untagged, IPv4) frame addressed to the instance's tunnel? */
static __always_inline int tunnel_frame(semi_ctx *ctx, const struct semi_ctl *ctl,
					const struct semi_frame *f)
{
	struct semi_encap *h = ctx_data(ctx);
	__be32 tip = READ_ONCE(ctl->tunnel_ip);

	if (!tip || f->tag != SEMI_TAG_NONE || f->proto != bpf_htons(ETH_P_IP))
		return 0;
	if ((void *)&h->vx > ctx_data_end(ctx))
		return 0;
	return h->ip.ver_ihl == 0x45 && h->ip.protocol == 17 && h->ip.daddr == tip &&
	       !(h->ip.frag_off & IP_MF_OFFSET) &&
	       h->udp.dest == bpf_htons(READ_ONCE(ctl->tunnel_port));
}

static __always_inline int deliver_port(semi_ctx *ctx, const struct semi_ctl *ctl,
					struct semi_frame *f, __u32 id, const struct semi_port *p,
					__u32 rx);

/* Would XDP deliver to this path itself (rather than defer to TC)? */
static __always_inline int xdp_direct(const struct semi_port *p, __u32 rx)
{
	return (rx == SEMI_PATH_VF && (p->flags & SEMI_PORT_F_VF_XDP)) ||
	       (rx == SEMI_PATH_TAP && (p->flags & SEMI_PORT_F_TAP_XDP));
}

static __always_inline int tunnel_decap(semi_ctx *ctx, const struct semi_ctl *ctl,
					const struct semi_frame *outer)
{
	struct semi_encap *h = ctx_data(ctx);
	struct semi_port_stats *ps;
	struct semi_peer *peer;
	struct semi_frame f = {};
	struct ethhdr inner;
	union semi_pathw w;
	struct semi_port *p;
	__u32 *pid, vni;
	__be32 saddr;
	__s64 id;

	if ((void *)(h + 1) > ctx_data_end(ctx))
		return verdict_drop(-1, SEMI_DROP_TUNNEL_STATE);
	saddr = h->ip.saddr;
	pid = bpf_map_lookup_elem(&semi_peer_idx, &saddr);
	peer = pid ? peer_get(*pid) : NULL;
	if (!peer)
		return verdict_drop(-1, SEMI_DROP_TUNNEL_PEER);
	vni = bpf_ntohl(h->vx.vni) >> 8;
	if (!(h->vx.flags & VXLAN_FLAG_VNI) || vni < peer->vni || vni - peer->vni > SEMI_VLAN_MAX)
		return verdict_drop(-1, SEMI_DROP_TUNNEL_STATE);

	__builtin_memcpy(&inner, &h->inner, sizeof(inner));
	__builtin_memcpy(f.dst.mac, inner.h_dest, ETH_ALEN);
	f.dst.vlan = (__u16)(vni - peer->vni);
	f.proto = inner.h_proto;
	f.len = outer->len - SEMI_ENCAP_LEN;
	if (mac_is_multicast(f.dst.mac))
		return verdict_drop(-1, SEMI_DROP_TUNNEL_STATE);
	id = port_find(&f.dst);
	p = id >= 0 ? port_get((__u32)id) : NULL;
	if (!p)
		return verdict_drop(-1, SEMI_DROP_TUNNEL_STATE);
	w = path_get(ctl, (__u32)id);
	if (!(w.flags & SEMI_PATHF_TUNNEL_IN))
		return verdict_drop(id, SEMI_DROP_TUNNEL_STATE);
	/* Decapsulate only where the frame is delivered: XDP leaves what it
	 * cannot deliver itself to TC, still encapsulated. */
	if (SEMI_CTX_XDP && (ctx_multibuf(ctx) || !xdp_direct(p, w.rx)))
		return verdict_defer(ctx, id, outer->len);

	if (ctx_pull_front(ctx, SEMI_ENCAP_LEN))
		return verdict_drop(id, SEMI_DROP_REDIRECT);
	h = ctx_data(ctx);
	if ((void *)h + sizeof(inner) > ctx_data_end(ctx))
		return verdict_drop(id, SEMI_DROP_REDIRECT);
	__builtin_memcpy(h, &inner, sizeof(inner));
	ps = stats_port((__u32)id);
	if (ps)
		ctr_add(&ps->tunnel_in, f.len);
	return deliver_port(ctx, ctl, &f, (__u32)id, p, w.rx);
}

#endif
