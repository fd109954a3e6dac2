// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The drop monitor: counts the XDP frames a redirect target refused.
 *
 * An XDP redirect into a device that cannot take the frame (a veth whose
 * peer lost its XDP program and GRO, a full ring) is dropped after the
 * program has returned, where the datapath cannot see it.  The kernel
 * reports it on two tracepoints: xdp:xdp_redirect_err when the target
 * refuses at enqueue (no NDO_XMIT feature), xdp:xdp_devmap_xmit when the
 * driver's xmit drops part of a bulk.  These programs charge the drops to
 * the port that owns the target, as SEMI_DROP_REDIRECT, so that no frame
 * vanishes uncounted.  Attached by the loader through pinned links.
 *
 * A refusal that is not a full ring (the target lost its XDP program or
 * its NDO_XMIT feature) also clears the port's "takes XDP frames" flag for
 * that device: the frames after it go by TC, which needs neither.  The
 * loader's semi_port_refresh() sets the flag again once the target can.
 */
#include "bpf/lib/common.h"
#include "bpf/lib/counters.h"
#include "bpf/lib/lookup.h"
#include <bpf/bpf_tracing.h>

/* Just the fields read here; CO-RE finds them in the running kernel. */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct bpf_prog;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

/* Is the frame from our uplink (the same ifindex exists in every netns)? */
static __always_inline struct semi_ctl *ours(const struct net_device *rx)
{
	struct semi_ctl *ctl = ctl_get();

	if (!ctl || !ctl->uplink_ifindex || rx->ifindex != (int)ctl->uplink_ifindex ||
	    rx->nd_net.net->ns.inum != ctl->netns_ino)
		return NULL;
	return ctl;
}

static __always_inline void demote(__u32 id, __u32 role)
{
	struct semi_port *p = bpf_map_lookup_elem(&semi_ports, &id);
	__u32 flag = role == SEMI_ROLE_TAP ? SEMI_PORT_F_TAP_XDP : SEMI_PORT_F_VF_XDP;

	if (p && (p->flags & flag))
		__sync_fetch_and_and(&p->flags, ~flag);
}

static __always_inline void charge(__u32 ifindex, __u64 drops, int err)
{
	struct semi_dev *dev = bpf_map_lookup_elem(&semi_devs, &ifindex);

	if (dev) {
		struct semi_port_stats *ps = stats_port(dev->port);

		if (ps)
			ps->drop[SEMI_DROP_REDIRECT] += drops;
		if (err)
			demote(dev->port, dev->role);
	} else {
		struct semi_stats *gs = stats_global();

		if (gs)
			gs->drop[SEMI_DROP_REDIRECT] += drops;
	}
}

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(semi_mon_xmit, const struct net_device *from_dev, const struct net_device *to_dev,
	     int sent, int drops, int err)
{
	/* err: the driver refused the whole bulk; 0: a full ring took part. */
	if (drops > 0 && ours(from_dev))
		charge((__u32)to_dev->ifindex, (__u64)drops, err);
	return 0;
}

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(semi_mon_redir, const struct net_device *dev, const struct bpf_prog *xdp,
	     const void *tgt, int err, enum bpf_map_type map_type, __u32 map_id, __u32 index)
{
	struct semi_ctl *ctl = ours(dev);

	/* semi_xdp_tx's slot says the port: SEMI_XDP_SLOT(id, role). */
	if (ctl && map_id == ctl->xdp_tx_map_id) {
		struct semi_port_stats *ps = stats_port(index / 2);

		if (ps)
			ps->drop[SEMI_DROP_REDIRECT]++;
		demote(index / 2, index & 1);
	}
	return 0;
}

/*
 * XDP_TX out of the uplink (tunnel frames) refused: a veth uplink whose
 * peer takes no XDP frames.  Counted, and the uplink's XDP_TX flag cleared
 * so that tunnel frames are encapsulated by TC from then on.
 */
SEC("tp_btf/xdp_bulk_tx")
int BPF_PROG(semi_mon_bulk, const struct net_device *dev, int sent, int drops, int err)
{
	struct semi_ctl *ctl = drops > 0 ? ours(dev) : NULL;
	struct semi_stats *gs;

	if (!ctl)
		return 0;
	gs = stats_global();
	if (gs)
		gs->drop[SEMI_DROP_REDIRECT] += (__u64)drops;
	if (err && (ctl->uplink_flags & SEMI_UPLINK_F_XDP_TX))
		__sync_fetch_and_and(&ctl->uplink_flags, ~(__u32)SEMI_UPLINK_F_XDP_TX);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
