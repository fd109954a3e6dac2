// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * semi-pktgen's program, run by BPF_PROG_RUN with live frames: stamp each
 * frame with the next sequence number, pick its destination MAC, fix the
 * UDP checksum and redirect it out of the chosen device.
 *
 * The kernel copies the template frame into each page once and keeps the
 * page's contents across runs, so every field that varies is rewritten on
 * every run.
 *
 * Pacing and the frame count are enforced here, not in user space: one
 * BPF_PROG_RUN call costs two RCU grace periods (the XDP dispatcher is
 * updated on entry and exit, ~20 ms each), so user space makes one long
 * call and interrupts it with a signal when done.  A run that is not due
 * yet, or past the count, returns XDP_DROP without taking a number.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench/bench_common.h"

/* Set by semi-pktgen before load. */
const volatile __u32 ifindex_out;
const volatile __u32 hdr_off;		/* offset of struct semi_bench_hdr */
const volatile __u32 dst_count = 1;	/* destination MACs to cycle over */
const volatile __u32 dst_mac_lo;	/* last 3 bytes of the base MAC */
const volatile __u16 udp_csum_base;	/* ~checksum of the template (seq 0) */
const volatile __u64 seq_start;		/* first sequence number */
const volatile __u64 seq_end;		/* stop before this one; 0: never */
const volatile __u64 ps_per_frame;	/* pacing interval; 0: full speed */

/*
 * Next sequence number, set to seq_start by user space.  One atomic add
 * per frame, so that every frame gets its own number even if several CPUs
 * ran the program (the pacing and count checks assume one CPU).
 * next_seq - seq_start is the count of frames that left with XDP_REDIRECT:
 * nothing else takes a number.
 */
__u64 next_seq;
__u64 t_first;		/* bpf_ktime_get_ns() of the first frame */
__u64 t_last;		/* ... of the last frame (every 64th when unpaced) */
__u64 t_last_seq;	/* the seq of the frame stamped t_last */

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

SEC("xdp")
int semi_pktgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct semi_bench_hdr *h = data + hdr_off;
	__u16 *udp_check = (void *)h - 2;	/* last field of the UDP header */
	__u8 *eth = data;
	__u16 *w;
	__u64 seq, now = 0;
	__u16 csum;

	if ((void *)(h + 1) > data_end || hdr_off < 42)
		return XDP_ABORTED;
	if (seq_end && next_seq >= seq_end)
		return XDP_DROP;		/* count reached: idle */
	if (ps_per_frame) {
		/* Frame k is due at t_first + k * interval. */
		now = bpf_ktime_get_ns();
		if (t_first &&
		    now < t_first + (next_seq - seq_start) * ps_per_frame / 1000)
			return XDP_DROP;	/* not due yet */
	}

	seq = __sync_fetch_and_add(&next_seq, 1);
	if (ps_per_frame) {
		if (!t_first)
			t_first = now;
		t_last = now;
		t_last_seq = seq;
	} else if (!t_first || !(seq & 63)) {
		now = bpf_ktime_get_ns();
		if (!t_first)
			t_first = now;
		t_last = now;
		t_last_seq = seq;
	}
	h->seq = bpf_cpu_to_be64(seq);

	if (dst_count > 1) {
		__u32 lo = (dst_mac_lo + (__u32)(seq % dst_count)) & 0xffffff;

		eth[3] = lo >> 16;
		eth[4] = lo >> 8;
		eth[5] = lo;
	}

	/*
	 * The template's checksum covers seq = 0; add the words of the new
	 * seq (RFC 1624).  0 is "no checksum" in UDP over IPv4: send 0xffff.
	 */
	w = (__u16 *)&h->seq;
	csum = ~csum_fold((__u64)udp_csum_base + w[0] + w[1] + w[2] + w[3]);
	*udp_check = csum ? csum : 0xffff;

	return bpf_redirect(ifindex_out, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
