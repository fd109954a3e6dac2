// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * lab_steer: a stand-in for semi-net's uplink program, for lab tests only.
 * XDP on a host's uplink: unicast frames go to the device in slot 0 of the
 * devmap lab_steer_to (the VF's host end, say), everything else and every
 * frame while the slot is empty goes on to the host bridge.  It proves that
 * the lab's VF takes XDP-redirected frames.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lab_steer_to SEC(".maps");

SEC("xdp")
int lab_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || (eth->h_dest[0] & 1))
		return XDP_PASS;
	/* The low bits of flags are the action when the slot is empty. */
	return bpf_redirect_map(&lab_steer_to, 0, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
