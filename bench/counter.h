/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench/: the counting receivers as a library -- what semi-count is made
 * of, and what semi-dpbench uses to watch frames arrive while it switches
 * paths.
 *
 * One program (bench/count.bpf.c), loaded once, attached as an XDP
 * bpf_link to every device; per-device per-CPU counters; one shared bitmap
 * of the sequence numbers seen (duplicates across devices); optionally, per
 * device, the time and seq of the first frame since the caller last reset
 * the device's stamp (a memory-mapped array).
 */
#ifndef SEMI_BENCH_COUNTER_H
#define SEMI_BENCH_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench_common.h"

#define COUNTER_MAX_DEVS	65536
#define COUNTER_DEFAULT_MAX_SEQ	(1ULL << 26)	/* 8 MiB of bitmap */
#define COUNTER_LIMIT_MAX_SEQ	(1ULL << 35)	/* 4 GiB of bitmap */

/* A network namespace some devices live in, opened once. */
struct counter_netns {
	char *name;		/* NULL: the namespace the process runs in */
	int fd;
	uint32_t inum;		/* nsfs inode: the key the program sees */
};

struct counter_dev {
	char *arg;		/* NS:IFNAME, as given or as a glob expanded */
	int ns;			/* index into counter.netns */
	char *ifname;
	uint32_t ifindex;
	int link_fd;
	uint64_t c[SEMI_COUNT_NR];	/* summed over CPUs by counter_read() */
};

struct counter_opts {
	uint64_t max_seq;	/* bits of the dedup bitmap (multiple of 64) */
	bool pass;		/* XDP_PASS counted frames instead of dropping */
	bool generic;		/* generic (skb) mode instead of native */
	bool stamp;		/* keep the per-device first-frame stamps */
};

struct counter {
	char **specs;		/* NS:IFNAME or NS:GLOB, in order */
	int nspecs;
	struct counter_dev *devs;	/* the specs expanded */
	int ndevs;
	struct counter_netns *netns;
	int nnetns;
	struct counter_opts opts;
	struct bench_count *skel;
	struct semi_count_stamp *stamps;	/* mmap, ndevs entries (opts.stamp) */
	size_t stamps_len;
};

/* Append one NS:IFNAME / NS:GLOB; -EINVAL when it cannot be one. */
int counter_add_spec(struct counter *ctr, const char *spec);
/* Append the specs of a file: one per line, '#' comments, blanks skipped. */
int counter_add_file(struct counter *ctr, const char *path);

/*
 * Resolve the specs (each namespace entered once, globs listed), load the
 * program, fill its device table and attach it to every device.  On
 * failure nothing stays attached; messages name the device.
 */
int counter_start(struct counter *ctr, const struct counter_opts *opts);
/* Close every link: the kernel detaches the program. */
void counter_detach(struct counter *ctr);
/* Sum every device's per-CPU counters into devs[i].c. */
int counter_read(struct counter *ctr);
/* Index of the device NS:IFNAME (NS NULL or "-": own namespace), or -1. */
int counter_find(const struct counter *ctr, const char *ns, const char *ifname);
/* Detach, unload, free. */
void counter_free(struct counter *ctr);

/* Sum of all devices: max for SEMI_COUNT_MAX_SEQ, totals for the rest. */
void counter_totals(const struct counter *ctr, uint64_t t[SEMI_COUNT_NR]);

#endif /* SEMI_BENCH_COUNTER_H */
