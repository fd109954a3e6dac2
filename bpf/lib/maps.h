/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Every map of the datapath.  All are pinned by name under the instance's
 * pin root, so each program object reuses the same maps, and a new process
 * adopts them (counters included) instead of recreating them.
 */
#ifndef SEMI_LIB_MAPS_H
#define SEMI_LIB_MAPS_H

#include "common.h"

/* Port configuration, indexed by port id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMI_MAX_PORTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct semi_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_ports SEC(".maps");

/* (MAC, VLAN) -> port id.  Elements only come and go with ports; a path
 * change never touches this map (DESIGN invariant 2). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMI_MAX_PORTS);
	__type(key, struct semi_port_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_port_idx SEC(".maps");

/* Port cache in front of semi_port_idx (see semi_common.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMI_PORT_CACHE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_port_cache SEC(".maps");

/* Two banks of path words: [bank * SEMI_MAX_PORTS + id]. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SEMI_MAX_PORTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, union semi_pathw);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct semi_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_ctl SEC(".maps");

/* ifindex -> (port, role): which port a vf or tap serves. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMI_MAX_DEVS);
	__type(key, __u32);
	__type(value, struct semi_dev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_devs SEC(".maps");

/* XDP redirect targets: slot SEMI_XDP_SLOT(port id, role). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2 * SEMI_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_xdp_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEMI_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct semi_port_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_port_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct semi_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct semi_trace);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_trace SEC(".maps");

/* Tunnel peers: id -> peer, remote IPv4 -> id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMI_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct semi_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMI_MAX_PEERS);
	__type(key, __be32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_peer_idx SEC(".maps");

/* Addresses each guest sends from (see semi_common.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMI_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct semi_learned);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_learned SEC(".maps");

/* What the loader attached where (user space only; survives the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMI_MAX_DEVS);
	__type(key, __u32);
	__type(value, struct semi_attachment);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} semi_attach SEC(".maps");

#endif
