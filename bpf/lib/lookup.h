/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Port lookup and the path word: one load of the bank, one of the word. */
#ifndef SEMI_LIB_LOOKUP_H
#define SEMI_LIB_LOOKUP_H

#include "maps.h"

static __always_inline struct semi_ctl *ctl_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&semi_ctl, &zero);
}

static __always_inline struct semi_port *port_get(__u32 id)
{
	struct semi_port *p = bpf_map_lookup_elem(&semi_ports, &id);

	if (!p || !(p->flags & SEMI_PORT_F_USED))
		return NULL;
	return p;
}

/* Port id for (MAC, VID), or -1. */
static __always_inline __s64 port_find(const struct semi_port_key *key)
{
	__u32 *id = bpf_map_lookup_elem(&semi_port_idx, key);

	return id ? (__s64)*id : -1;
}

/*
 * The path word of port id as the datapath sees it right now.  The bank
 * and the word are each read with a single 32-bit load; user space writes
 * each with a single store, so no reader sees a half-written path.
 */
static __always_inline union semi_pathw path_get(const struct semi_ctl *ctl, __u32 id)
{
	union semi_pathw w = { .word = 0 };
	__u32 bank = READ_ONCE(ctl->bank) & 1;
	__u32 slot = bank * SEMI_MAX_PORTS + (id & (SEMI_MAX_PORTS - 1));
	union semi_pathw *p = bpf_map_lookup_elem(&semi_paths, &slot);

	if (p)
		w.word = READ_ONCE(p->word);
	return w;
}

#endif
