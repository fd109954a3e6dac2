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

/*
 * The port for (MAC, VID) and its id, or NULL: the cache first, then the
 * hash.  A hit in the cache is checked against the port it names.
 */
static __always_inline struct semi_port *port_lookup(const struct semi_port_key *key,
						     __u32 *idp)
{
	__u64 k = *(const __u64 *)key;
	__u32 h = semi_port_hash(k);
	__u32 *slot = bpf_map_lookup_elem(&semi_port_cache, &h);
	struct semi_port *p;
	__u32 *id;

	if (slot) {
		__u32 c = READ_ONCE(*slot);

		if (c) {
			*idp = c - 1;
			p = bpf_map_lookup_elem(&semi_ports, idp);
			if (p && *(const __u64 *)p == k && (p->flags & SEMI_PORT_F_USED))
				return p;
		}
	}
	id = bpf_map_lookup_elem(&semi_port_idx, key);
	if (!id)
		return NULL;
	*idp = *id;
	return port_get(*id);
}

/* Port id for (MAC, VID), or -1. */
static __always_inline __s64 port_find(const struct semi_port_key *key)
{
	__u32 id;

	return port_lookup(key, &id) ? (__s64)id : -1;
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
