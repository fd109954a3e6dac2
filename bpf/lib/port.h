/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * semi_port: what a guest sends, at TC ingress of its vf and of its tap.
 *
 * Only the port's own source MAC, untagged, from a device its state allows.
 * A VLAN port's frames are tagged on the way to the uplink.  Unicast to
 * another port of this host is hairpinned to that port's path, as an
 * SR-IOV embedded switch does; broadcast and multicast go to the other
 * ports of the VLAN and to the uplink.  Everything else is dropped and
 * counted by reason.
 */
#ifndef SEMI_LIB_PORT_H
#define SEMI_LIB_PORT_H

#include "deliver.h"

static __always_inline int to_uplink(semi_ctx *ctx, const struct semi_ctl *ctl,
				     const struct semi_port *p, __u32 id)
{
	__u32 uplink = READ_ONCE(ctl->uplink_ifindex);

	if (!uplink)
		return verdict_drop(id, SEMI_DROP_NO_TARGET);
	if (p->vlan) {
		if (ctx_vlan_push(ctx, p->vlan))
			return verdict_drop(id, SEMI_DROP_VLAN_OP);
		trace_vlan_out(p->vlan);
	}
	trace_target(uplink);
	trace_verdict(SEMI_V_REDIRECT, 0, id);
	return ctx_redirect(ctx, uplink, 0);
}

static __always_inline __u32 learn_slot(__u32 h)
{
	h ^= h >> 16;
	h ^= h >> 8;
	return h & (SEMI_LEARN_SLOTS - 1);
}

/*
 * Remember the addresses the guest sends from (ARP sender, IPv4 and IPv6
 * source): the destination announces them after a migration.  One compare
 * per frame; a write only when an address is new.
 */
static __always_inline void learn(semi_ctx *ctx, __u32 id, __be16 proto)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	struct semi_learned *l = bpf_map_lookup_elem(&semi_learned, &id);

	if (!l)
		return;
	if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_ARP)) {
		__be32 a;
		__u32 slot;

		if (data + ETH_HLEN + 18 > end)
			return;
		/* IPv4 source at 14 + 12; ARP sender address at 14 + 14. */
		if (proto == bpf_htons(ETH_P_IP))
			a = *(__be32 *)(data + ETH_HLEN + 12);
		else
			a = *(__be32 *)(data + ETH_HLEN + 14);
		if (!a)
			return;
		slot = learn_slot(a);
		if (l->ipv4[slot] != a)
			l->ipv4[slot] = a;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u64 *src = data + ETH_HLEN + 8;
		__u64 *have;
		__u32 slot;

		if ((void *)(src + 2) > end || !(src[0] | src[1]))
			return;
		slot = learn_slot((__u32)(src[0] ^ src[1] ^ (src[1] >> 32)));
		have = (__u64 *)l->ipv6[slot];
		if (have[0] != src[0] || have[1] != src[1]) {
			have[0] = src[0];
			have[1] = src[1];
		}
	}
}

static __always_inline int semi_port_tx(semi_ctx *ctx)
{
	struct semi_port_stats *ps;
	struct semi_port *p, *dp;
	struct semi_port_key dst;
	struct semi_dev *dev;
	struct semi_ctl *ctl;
	struct semi_frame f;
	struct ethhdr *eth;
	union semi_pathw w;
	__u32 ifindex = ctx_ifindex(ctx), id, role, present;
	__u16 vid;
	__s64 did;
	int r;

	trace_begin();
	dev = bpf_map_lookup_elem(&semi_devs, &ifindex);
	if (!dev)
		return verdict_drop(-1, SEMI_DROP_NO_PORT);
	id = dev->port;
	/* Guests send from their vf or their tap; one bounded copy of the role. */
	role = READ_ONCE(dev->role) == SEMI_ROLE_TAP ? SEMI_ROLE_TAP : SEMI_ROLE_VF;
	p = port_get(id);
	ctl = ctl_get();
	if (!p || !ctl)
		return verdict_drop(-1, SEMI_DROP_NO_PORT);

	ctx_vlan_meta(ctx, &present, &vid);
	r = semi_parse(ctx_data(ctx), ctx_data_end(ctx), ctx_len(ctx), present, vid, &f);
	if (r)
		return verdict_drop(id, r - 1);
	if (f.tag != SEMI_TAG_NONE || f.inner_tag)
		return verdict_drop(id, SEMI_DROP_SPOOF_VLAN);
	/* parse() saw 14 bytes: the source MAC is there. */
	eth = ctx_data(ctx);
	if ((void *)(eth + 1) > ctx_data_end(ctx) || !mac_equal(eth->h_source, p->mac))
		return verdict_drop(id, SEMI_DROP_SPOOF_MAC);
	w = path_get(ctl, id);
	if (!(w.tx & (1u << role)))
		return verdict_drop(id, SEMI_DROP_TX_BLOCKED);

	ps = stats_port(id);
	if (ps) {
		if (f.proto == bpf_htons(ETH_P_RARP))
			ctr_add(&ps->tx_rarp, f.len);
		else
			ctr_add(&ps->tx[role], f.len);
	}
	learn(ctx, id, f.proto);

	if (mac_is_multicast(f.dst.mac)) {
		flood_ports(ctx, ctl, f.len, p->vlan, id);
		return to_uplink(ctx, ctl, p, id);
	}

	__builtin_memcpy(dst.mac, f.dst.mac, ETH_ALEN);
	dst.vlan = p->vlan;
	did = port_find(&dst);
	if (did == (__s64)id)
		return verdict_drop(id, SEMI_DROP_LOOP);
	if (did >= 0 && (dp = port_get((__u32)did))) {
		if (ps)
			ctr_add(&ps->tx_local, f.len);
		return deliver_port(ctx, ctl, &f, (__u32)did, dp, path_get(ctl, (__u32)did).rx);
	}
	return to_uplink(ctx, ctl, p, id);
}

#endif
