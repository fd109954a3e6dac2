/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internals of libsemi_dp shared by its source files. */
#ifndef SEMI_DP_INTERNAL_H
#define SEMI_DP_INTERNAL_H

#include <limits.h>
#include <net/if.h>

#include "loader/log.h"
#include "loader/semi_dp.h"

enum semi_map_id {
	M_PORTS,
	M_PORT_IDX,
	M_PATHS,
	M_CTL,
	M_DEVS,
	M_XDP_TX,
	M_PORT_STATS,
	M_STATS,
	M_TRACE,
	M_ATTACH,
	M_PEERS,
	M_PEER_IDX,
	M_PORT_CACHE,
	M_LEARNED,
	M_COUNT,
};

extern const char *const semi_map_names[M_COUNT];
extern const char *const semi_prog_names[SEMI_PROG_COUNT];

#define NAME_IDX_SLOTS	(2 * SEMI_MAX_PORTS)

struct semi_dp {
	char instance[SEMI_INSTANCE_MAX + 1];
	char dir[256];			/* <pin_root>/<instance> */
	char root[200];
	int dir_fd;			/* flock()ed around every change */
	int lock_depth;
	bool adopted;
	int map_fd[M_COUNT];
	int prog_fd[SEMI_PROG_COUNT];
	int ncpus;
	/* Shared mappings of the mmapable arrays. */
	struct semi_port *ports;	/* stride ports_stride */
	size_t ports_len;
	size_t ports_stride;
	volatile uint32_t *paths;	/* word i at paths[i * paths_stride/4] */
	size_t paths_len;
	size_t paths_stride;
	volatile struct semi_ctl *ctl;
	size_t ctl_len;
	volatile char *cache;		/* semi_port_cache, stride cache_stride */
	size_t cache_len;
	size_t cache_stride;
	/*
	 * Name -> port id, open addressing: a cache of semi_ports, checked on
	 * every hit (another process may have changed the table) and rebuilt
	 * on a miss.  Slots hold id + 1, 0 is empty.
	 */
	uint16_t name_idx[NAME_IDX_SLOTS];
	char err[256];
};

/* Record and log an error; returns err (negative errno). */
int dp_fail(struct semi_dp *dp, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int dp_lock(struct semi_dp *dp);
void dp_unlock(struct semi_dp *dp);

static inline struct semi_port *dp_port(struct semi_dp *dp, uint32_t id)
{
	return (struct semi_port *)((char *)dp->ports + (size_t)id * dp->ports_stride);
}

static inline volatile uint32_t *dp_pathw(struct semi_dp *dp, uint32_t bank, uint32_t id)
{
	size_t i = (size_t)bank * SEMI_MAX_PORTS + id;

	return (volatile uint32_t *)((volatile char *)dp->paths + i * dp->paths_stride);
}

static inline volatile uint32_t *dp_cache_slot(struct semi_dp *dp, uint32_t slot)
{
	return (volatile uint32_t *)(dp->cache + (size_t)slot * dp->cache_stride);
}

/* Name of an ifindex for messages ("ifindex 7" when it has none). */
const char *dp_ifname(uint32_t ifindex, char buf[IF_NAMESIZE + 16]);

/* ports.c */
int dp_find_port(struct semi_dp *dp, const char *name);

/* netlink.c */
int nl_xdp_features(uint32_t ifindex, uint64_t *features);
int nl_tc_filter_count(uint32_t ifindex);

#endif
