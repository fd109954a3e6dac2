// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The lab guest's net_failover, in eBPF.
 *
 * The rule (drivers/net/net_failover.c): while a primary (the VF) is
 * registered, frames arriving on the standby (virtio) are not delivered,
 * even if the VF's link is down; transmit goes to the VF if it is running
 * and has carrier, else to virtio.
 *
 * "The VF is registered" is slot 0 of the devmap lab_vf.  The loader fills
 * the slot when it plugs a VF; the kernel empties it itself while the VF's
 * netdev unregisters (devmap's NETDEV_UNREGISTER notifier), so the rule
 * changes in the same instant as the interface disappears.
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "lab_guest.h"

/* Set by the loader before load. */
const volatile __u32 master_ifindex;
const volatile __u32 virtio_ifindex;

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lab_vf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LAB_STAT_MAX);
	__type(key, __u32);
	__type(value, struct lab_count);
} lab_stats SEC(".maps");

/* Just enough of the kernel's types to read a device's state (CO-RE). */
enum netdev_state_t {
	__LINK_STATE_START,
	__LINK_STATE_PRESENT,
	__LINK_STATE_NOCARRIER,
};

struct net_device___lab {
	unsigned long state;
} __attribute__((preserve_access_index));

struct sk_buff___lab {
	struct net_device___lab *dev;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

static __always_inline void count(__u32 stat, __u32 len)
{
	struct lab_count *c = bpf_map_lookup_elem(&lab_stats, &stat);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* ifindex of the registered VF, 0 if none. */
static __always_inline __u32 registered_vf(void)
{
	__u32 key = 0;
	__u32 *ifindex = bpf_map_lookup_elem(&lab_vf, &key);

	return ifindex ? *ifindex : 0;
}

/*
 * The VF netdev needs an XDP program: a host XDP-redirects frames into the
 * VF's peer, and a veth only accepts redirected frames when its peer has
 * XDP enabled.  The failover decision itself is taken at TC ingress below.
 */
SEC("xdp")
int lab_vf_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* vf ingress: deliver to the master, but only from the registered VF. */
SEC("tc")
int lab_vf_ingress(struct __sk_buff *skb)
{
	if (registered_vf() != skb->ifindex) {
		count(LAB_DROP_VF_UNREG, skb->len);
		return TC_ACT_SHOT;
	}
	count(LAB_RX_VF, skb->len);
	skb->mark = LAB_MARK_VF;
	return bpf_redirect(master_ifindex, BPF_F_INGRESS);
}

/* virtio ingress: the standby delivers only while no VF is registered. */
SEC("tc")
int lab_virtio_ingress(struct __sk_buff *skb)
{
	if (registered_vf()) {
		count(LAB_DROP_VIRTIO_VF, skb->len);
		return TC_ACT_SHOT;
	}
	count(LAB_RX_VIRTIO, skb->len);
	skb->mark = LAB_MARK_VIRTIO;
	return bpf_redirect(master_ifindex, BPF_F_INGRESS);
}

/*
 * master egress: to the registered VF (whose egress checks its link), else
 * to virtio.
 *
 * net_failover holds its primary by pointer until the VF's unregistration
 * notice; the slot here holds an ifindex, and the kernel unlists a device
 * (no lookup by ifindex finds it) a synchronize_net() before that notice.
 * A plain bpf_redirect() to the VF in that stretch would be dropped after
 * this program returned, where net_failover -- the VF closed, not ready --
 * sends on the standby.  bpf_clone_redirect() looks the device up now:
 * -EINVAL is "unlisted", and the frame goes to virtio instead.
 */
SEC("tc")
int lab_master_egress(struct __sk_buff *skb)
{
	__u32 vf = registered_vf();
	long err;

	if (vf) {
		err = bpf_clone_redirect(skb, vf, 0);
		if (err != -EINVAL && err != -ENOMEM)
			return TC_ACT_STOLEN;	/* the copy went to the VF */
		count(LAB_TX_VIRTIO_VF_GONE, skb->len);
		return bpf_redirect(virtio_ifindex, 0);
	}
	count(LAB_TX_VIRTIO, skb->len);
	return bpf_redirect(virtio_ifindex, 0);
}

/*
 * vf egress: net_failover_xmit_ready() is netif_running() &&
 * netif_carrier_ok().  The hook runs before the qdisc, so it sees frames
 * even when the VF is administratively down.
 */
SEC("tc")
int lab_vf_egress(struct __sk_buff *ctx)
{
	struct sk_buff___lab *skb = bpf_cast_to_kern_ctx(ctx);
	unsigned long state = BPF_CORE_READ(skb, dev, state);
	unsigned long start = 1UL << bpf_core_enum_value(enum netdev_state_t,
							 __LINK_STATE_START);
	unsigned long nocarrier = 1UL << bpf_core_enum_value(enum netdev_state_t,
							     __LINK_STATE_NOCARRIER);

	if ((state & start) && !(state & nocarrier)) {
		count(LAB_TX_VF, ctx->len);
		return TC_ACT_OK;
	}
	count(LAB_TX_VIRTIO_VF_DOWN, ctx->len);
	return bpf_redirect(virtio_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
