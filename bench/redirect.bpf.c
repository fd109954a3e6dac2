// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The baselines semi-dpbench measures semi_uplink against: a bare devmap
 * redirect (every frame to slot 0, no parsing, no counting: the upper
 * bound of an XDP forwarder on the same topology) and a program that only
 * passes (the floor of BPF_PROG_RUN's own cost).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} bench_tx SEC(".maps");

SEC("xdp")
int bench_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&bench_tx, 0, XDP_ABORTED);
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
