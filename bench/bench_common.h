/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * bench/: what the traffic generator (semi-pktgen) and the counting
 * receivers (semi-count) agree on, shared by their BPF programs and their
 * user space.
 *
 * Every generated frame is Ethernet [+ one 802.1Q tag] + IPv4 (no options)
 * + UDP, and the UDP payload starts with struct semi_bench_hdr.  Both
 * fields are in network byte order so that tcpdump -X shows them readable.
 */
#ifndef SEMI_BENCH_COMMON_H
#define SEMI_BENCH_COMMON_H

#include <linux/types.h>

/* "SEMIBNCH": unlikely in any payload that semi-pktgen did not write. */
#define SEMI_BENCH_MAGIC	0x53454d49424e4348ULL

struct semi_bench_hdr {
	__be64 magic;
	__be64 seq;	/* unique within one generator run: 0, 1, 2, ... */
};

#define SEMI_BENCH_MIN_FRAME	64	/* bytes incl. Ethernet header, no FCS */
#define SEMI_BENCH_MAX_FRAME	1500
#define SEMI_BENCH_MAX_BATCH	256	/* kernel limit for live-frame batches */

/*
 * semi-count's device table: (network namespace inode, ifindex) -> the
 * device's index in its per-CPU counter array.  The namespace is part of the
 * key because two namespaces may hold devices with the same ifindex.
 */
struct semi_count_devkey {
	__u32 netns;	/* inode of the network namespace (nsfs, ns.inum) */
	__u32 ifindex;
};

/*
 * Optional (semi-dpbench): per device, the first frame since user space last
 * zeroed the slot -- when it arrived (bpf_ktime_get_ns, CLOCK_MONOTONIC)
 * and its sequence number.  A memory-mapped array, polled by user space.
 */
struct semi_count_stamp {
	__u64 ns;	/* 0: no frame since the reset */
	__u64 seq;
};

/* Per-device counters of semi-count, one per-CPU array slot each. */
enum semi_count_ctr {
	SEMI_COUNT_FRAMES = 0,	/* frames carrying the magic */
	SEMI_COUNT_BYTES,	/* their bytes (Ethernet header on, no FCS) */
	SEMI_COUNT_UNIQUE,	/* first sighting of a sequence number */
	SEMI_COUNT_DUP,		/* sequence number seen before (any device) */
	SEMI_COUNT_RANGE,	/* seq >= --max-seq: not checked for duplicates */
	SEMI_COUNT_OTHER,	/* frames without the magic (passed) */
	SEMI_COUNT_MAX_SEQ,	/* highest seq + 1 seen on this CPU, 0 = none */
	SEMI_COUNT_NR,
};

#endif /* SEMI_BENCH_COMMON_H */
