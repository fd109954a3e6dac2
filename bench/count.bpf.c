// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * semi-count's program: loaded once, attached (XDP) to every receiving
 * device.  Each device has its own slot of per-CPU counters; all share one
 * bitmap of the sequence numbers seen, so a frame delivered twice -- on the
 * same device or on two -- counts as a duplicate.
 *
 * Which device a frame arrived on: ingress_ifindex alone is ambiguous (two
 * namespaces may both have an ifindex 2), so the program reads the
 * receiving net_device's namespace through the kernel's xdp_buff
 * (bpf_cast_to_kern_ctx, CO-RE field reads) and looks the pair up in
 * semi_count_devs.  A one-entry per-CPU cache keyed by the net_device
 * pointer skips that lookup while frames keep coming from the same device,
 * which is what NAPI delivers: a burst per device.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench/bench_common.h"

const volatile __u64 max_seq;		/* bits in semi_count_seen */
const volatile __u32 pass_counted;	/* XDP_PASS counted frames too */
const volatile __u32 stamp_first;	/* keep semi_count_first (semi-dpbench) */

/* The few kernel fields read, relocated by CO-RE against vmlinux BTF. */
struct ns_common___sc {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net___sc {
	struct ns_common___sc ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net___sc *net;
} possible_net_t___sc;

struct net_device___sc {
	possible_net_t___sc nd_net;
} __attribute__((preserve_access_index));

struct xdp_rxq_info___sc {
	struct net_device___sc *dev;
} __attribute__((preserve_access_index));

struct xdp_buff___sc {
	struct xdp_rxq_info___sc *rxq;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

struct semi_count_vals {
	__u64 c[SEMI_COUNT_NR];
};

/* Indexed by device index; max_entries = number of devices, set before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct semi_count_vals);
} semi_count_ctrs SEC(".maps");

/* (netns inode, ifindex) -> device index; filled before any attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct semi_count_devkey);
	__type(value, __u32);
} semi_count_devs SEC(".maps");

/* The last device seen on this CPU and its index. */
struct semi_count_cache {
	__u64 dev;	/* struct net_device address, 0 = none */
	__u32 idx;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct semi_count_cache);
} semi_count_cache SEC(".maps");

/* Per device: the first frame since user space zeroed the slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct semi_count_stamp);
} semi_count_first SEC(".maps");

/* Bit n set: seq n seen.  max_entries = max_seq / 64, set before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} semi_count_seen SEC(".maps");

#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))

struct vlan_hdr_ {
	__be16 tci;
	__be16 proto;
};

/* Return the bench header of a semi-pktgen frame, or NULL. */
static __always_inline struct semi_bench_hdr *find_hdr(void *data,
							void *data_end)
{
	struct ethhdr *eth = data;
	struct vlan_hdr_ *vh;
	struct semi_bench_hdr *h;
	struct udphdr *udp;
	struct iphdr *ip;
	__be16 proto;
	__u32 ihl;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	proto = eth->h_proto;
	ip = (void *)(eth + 1);
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return NULL;
		proto = vh->proto;
		ip = (void *)(vh + 1);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return NULL;
	if ((void *)(ip + 1) > data_end)
		return NULL;
	ihl = ip->ihl;
	if (ihl < 5 || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return NULL;
	udp = (void *)ip + ihl * 4;
	h = (void *)(udp + 1);
	if ((void *)(h + 1) > data_end)
		return NULL;
	if (h->magic != bpf_cpu_to_be64(SEMI_BENCH_MAGIC))
		return NULL;
	return h;
}

/* This device's counters, or NULL for a device not in the table. */
static __always_inline struct semi_count_vals *dev_ctrs(struct xdp_md *ctx,
							 __u32 *idxp)
{
	struct xdp_buff___sc *kctx = bpf_cast_to_kern_ctx(ctx);
	struct net_device___sc *dev = kctx->rxq->dev;
	struct semi_count_cache *cache;
	struct semi_count_devkey key;
	__u32 zero = 0, idx, *p;

	cache = bpf_map_lookup_elem(&semi_count_cache, &zero);
	if (!cache)
		return NULL;
	if (cache->dev == (__u64)dev) {
		idx = cache->idx;
	} else {
		key.netns = dev->nd_net.net->ns.inum;
		key.ifindex = ctx->ingress_ifindex;
		p = bpf_map_lookup_elem(&semi_count_devs, &key);
		if (!p)
			return NULL;
		idx = *p;
		cache->dev = (__u64)dev;
		cache->idx = idx;
	}
	*idxp = idx;
	return bpf_map_lookup_elem(&semi_count_ctrs, &idx);
}

SEC("xdp")
int semi_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct semi_count_vals *v;
	struct semi_bench_hdr *h;
	__u32 word, idx = 0;
	__u64 seq, bit, old, *p;

	v = dev_ctrs(ctx, &idx);
	if (!v)
		return XDP_PASS;
	h = find_hdr(data, data_end);
	if (!h) {
		v->c[SEMI_COUNT_OTHER]++;
		return XDP_PASS;
	}
	seq = bpf_be64_to_cpu(h->seq);
	v->c[SEMI_COUNT_FRAMES]++;
	v->c[SEMI_COUNT_BYTES] += data_end - data;
	if (seq + 1 > v->c[SEMI_COUNT_MAX_SEQ])
		v->c[SEMI_COUNT_MAX_SEQ] = seq + 1;
	if (stamp_first) {
		struct semi_count_stamp *st;

		st = bpf_map_lookup_elem(&semi_count_first, &idx);
		/* Read-mostly: written once per reset, by the first CPU. */
		if (st && !READ_ONCE(st->ns) &&
		    !__sync_val_compare_and_swap(&st->ns, 0, bpf_ktime_get_ns()))
			st->seq = seq;
	}

	word = seq >> 6;
	p = seq < max_seq ? bpf_map_lookup_elem(&semi_count_seen, &word) : NULL;
	if (!p) {
		v->c[SEMI_COUNT_RANGE]++;
	} else {
		bit = 1ULL << (seq & 63);
		old = __sync_fetch_and_or(p, bit);
		if (old & bit)
			v->c[SEMI_COUNT_DUP]++;
		else
			v->c[SEMI_COUNT_UNIQUE]++;
	}
	return pass_counted ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
