/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * semi-net: the one header shared by the eBPF datapath and user space.
 *
 * Map keys and values, enums, counter indexes and map names live here and
 * nowhere else.  Every struct is laid out with explicit padding so that the
 * kernel and user space agree byte for byte, and so that bpftool prints
 * readable values from the BTF the programs carry.
 *
 * Changing a struct layout, an array size or a map definition changes the
 * ABI: bump SEMI_ABI_VERSION.  The loader refuses to adopt pinned maps of
 * another ABI (it says how to flush them) instead of misreading them.
 */
#ifndef SEMI_COMMON_H
#define SEMI_COMMON_H

#include <linux/types.h>

#define SEMI_ABI_VERSION	1

#define SEMI_MAX_PORTS		4096	/* port ids 0 .. SEMI_MAX_PORTS-1 */
#define SEMI_MAX_DEVS		(2 * SEMI_MAX_PORTS + 64)
#define SEMI_NAME_LEN		16	/* = IFNAMSIZ */
#define SEMI_VLAN_NONE		0	/* untagged port */
#define SEMI_VLAN_MAX		4094
#define SEMI_TRACE_TARGETS	8
#define SEMI_MAX_PEERS		64	/* tunnel peer ids 1 .. SEMI_MAX_PEERS-1 */
#define SEMI_VXLAN_PORT		4789
#define SEMI_ENCAP_LEN		50	/* outer Ethernet + IPv4 + UDP + VXLAN */

/* Pinned object names (bpffs: <pin-root>/<instance>/<name>). */
#define SEMI_MAP_PORTS		"semi_ports"
#define SEMI_MAP_PORT_IDX	"semi_port_idx"
#define SEMI_MAP_PORT_CACHE	"semi_port_cache"
#define SEMI_MAP_PATHS		"semi_paths"
#define SEMI_MAP_CTL		"semi_ctl"
#define SEMI_MAP_DEVS		"semi_devs"
#define SEMI_MAP_XDP_TX		"semi_xdp_tx"
#define SEMI_MAP_PORT_STATS	"semi_port_stats"
#define SEMI_MAP_STATS		"semi_stats"
#define SEMI_MAP_TRACE		"semi_trace"
#define SEMI_MAP_ATTACH		"semi_attach"
#define SEMI_MAP_PEERS		"semi_peers"
#define SEMI_MAP_PEER_IDX	"semi_peer_idx"
#define SEMI_MAP_LEARNED	"semi_learned"
#define SEMI_PROG_UPLINK_XDP	"semi_uplink_xdp"
#define SEMI_PROG_UPLINK_TC	"semi_uplink_tc"
#define SEMI_PROG_PORT		"semi_port"
#define SEMI_LINK_MON_XMIT	"semi_mon_xmit"	/* pinned links of the drop monitor */
#define SEMI_LINK_MON_REDIR	"semi_mon_redir"
#define SEMI_LINK_MON_BULK	"semi_mon_bulk"

/*
 * Where frames *to* the VM go.  Stored in the low byte of the port's path
 * word (struct semi_pathw).  NONE is 0 so that a slot never written drops.
 */
enum semi_path {
	SEMI_PATH_NONE = 0,
	SEMI_PATH_VF = 1,
	SEMI_PATH_TAP = 2,
	SEMI_PATH_BOTH = 3,	/* exactly one copy on each of vf and tap */
	SEMI_PATH_TUNNEL = 4,	/* encapsulated to the destination host */
	/*
	 * Parked on the instance's hold device (semi_ctl.hold_ifindex, a tap
	 * semi-netd reads) while the guest takes frames from neither of its
	 * NICs; semi-netd releases them into the port's tap (or the tunnel)
	 * when the guest can take them.  Counted in rx[SEMI_ROLE_TAP]: where
	 * they are bound for.
	 */
	SEMI_PATH_HOLD = 5,
	SEMI_PATH_MAX,
};

/* Devices a port's frames use; index of the rx/tx counter arrays. */
enum semi_role {
	SEMI_ROLE_VF = 0,
	SEMI_ROLE_TAP = 1,
	SEMI_ROLE_TUNNEL = 2,
	SEMI_ROLE_MAX,
};

/* Which of the port's devices the guest may transmit from (path word). */
enum semi_tx_mask {
	SEMI_TX_VF = 1 << SEMI_ROLE_VF,
	SEMI_TX_TAP = 1 << SEMI_ROLE_TAP,
	SEMI_TX_ALL = SEMI_TX_VF | SEMI_TX_TAP,
};

/*
 * Drop reasons.  Never a bare drop: every drop is one of these, counted
 * per port when a port is known and in semi_stats otherwise.  Append only;
 * the array is SEMI_DROP_MAX wide in the counters (ABI).
 */
enum semi_drop {
	SEMI_DROP_RUNT = 0,		/* shorter than an Ethernet header */
	SEMI_DROP_TRUNC_VLAN = 1,	/* 802.1Q tag cut short */
	SEMI_DROP_PATH_NONE = 2,	/* port's path is none */
	SEMI_DROP_SPOOF_MAC = 3,	/* guest sent with a source MAC not its own */
	SEMI_DROP_SPOOF_VLAN = 4,	/* guest sent a tagged frame */
	SEMI_DROP_NO_PORT = 5,		/* frame on a device that belongs to no port */
	SEMI_DROP_LOOP = 6,		/* guest frame addressed to itself */
	SEMI_DROP_NO_TARGET = 7,	/* path names a device the port lacks */
	SEMI_DROP_REDIRECT = 8,		/* redirect or clone refused by the kernel */
	SEMI_DROP_VLAN_OP = 9,		/* tag push/pop failed */
	SEMI_DROP_TX_BLOCKED = 10,	/* guest sent from a device its state forbids */
	SEMI_DROP_SRC_MCAST = 11,	/* multicast source MAC */
	SEMI_DROP_NO_TUNNEL = 12,	/* path is tunnel but no tunnel is configured */
	SEMI_DROP_TUNNEL_PEER = 13,	/* tunnel frame from a host that is no peer */
	SEMI_DROP_TUNNEL_STATE = 14,	/* tunnel frame for a port not expecting one */
	SEMI_DROP_FLOOD_TUNNEL = 15,	/* broadcast not sent into a tunnel: the
					 * fabric floods it to the destination */
	SEMI_DROP_MAX = 16,
};

/*
 * Key of semi_port_idx: how the uplink finds a port.  Its 8 bytes are also
 * the first 8 of struct semi_port, so that one 64-bit compare checks a hit
 * of the port cache.
 */
struct semi_port_key {
	__u8 mac[6];
	__u16 vlan;		/* VID, 0 = untagged */
} __attribute__((aligned(8)));

/*
 * semi_port_cache: a direct-mapped array in front of the semi_port_idx
 * hash, slot semi_port_hash(key) holding port id + 1 (0: empty).  A hit is
 * verified against semi_ports[id]; a miss or a collision falls back to the
 * hash.  The same function on both sides of the ABI.
 */
#define SEMI_PORT_CACHE_BITS	13
#define SEMI_PORT_CACHE		(1u << SEMI_PORT_CACHE_BITS)

static inline __u32 semi_port_hash(__u64 key)
{
	return (__u32)((key * 0x9E3779B97F4A7C15ULL) >> (64 - SEMI_PORT_CACHE_BITS));
}

/* Slot of a port's device in semi_xdp_tx (a devmap indexed like this). */
#define SEMI_XDP_SLOT(id, role)	((id) * 2 + (role))

/* semi_port.flags */
enum semi_port_flags {
	SEMI_PORT_F_USED = 1 << 0,	/* slot holds a port */
	SEMI_PORT_F_VF_XDP = 1 << 1,	/* vf takes XDP-redirected frames */
	SEMI_PORT_F_TAP_XDP = 1 << 2,	/* tap takes XDP-redirected frames */
};

/* Value of semi_ports (array indexed by port id): a port's configuration. */
struct semi_port {
	__u8 mac[6];
	__u16 vlan;
	__u32 vf_ifindex;	/* 0: no vf */
	__u32 tap_ifindex;	/* 0: no tap */
	__u32 flags;		/* enum semi_port_flags */
	__u32 tunnel;		/* peer id the tunnel path leads to, 0 = none */
	char name[SEMI_NAME_LEN];
};

/*
 * A port's path word: one aligned 32-bit value, written with one store and
 * read by the datapath with one load (DESIGN invariant 2).  semi_paths holds
 * two banks of SEMI_MAX_PORTS words; semi_ctl.bank says which one is live,
 * so a bulk switch of many ports is also one store.
 */
union semi_pathw {
	__u32 word;
	struct {
		__u8 rx;	/* enum semi_path */
		__u8 tx;	/* enum semi_tx_mask */
		__u8 flags;	/* enum semi_path_flags */
		__u8 spare;
	};
};

enum semi_path_flags {
	SEMI_PATHF_TUNNEL_IN = 1 << 0,	/* take frames for this port from a peer's tunnel */
};

/* semi_ctl (array of one): instance-wide switches, user space writes. */
struct semi_ctl {
	__u32 bank;		/* live bank of semi_paths: 0 or 1 */
	__u32 abi;		/* SEMI_ABI_VERSION of whoever created the maps */
	__u32 uplink_ifindex;	/* where guest frames leave the host */
	__u32 port_hwm;		/* highest port id in use + 1 (flood loop bound) */
	__u32 netns_ino;	/* network namespace of the instance (drop monitor) */
	__u32 xdp_tx_map_id;	/* id of semi_xdp_tx (drop monitor) */
	__be32 tunnel_ip;	/* local tunnel address (IPv4), 0 = no tunnel */
	__u16 tunnel_port;	/* UDP port of the tunnel, host order */
	__u16 spare16;
	__u32 uplink_flags;	/* enum semi_uplink_flags */
	__u32 hold_ifindex;	/* the hold device (path hold), 0 = none */
	__u32 spare[4];
};

/* semi_ctl.uplink_flags */
enum semi_uplink_flags {
	/* XDP_TX out of the uplink works (a veth needs its peer to take XDP
	 * frames); without it, tunnel frames are encapsulated by TC. */
	SEMI_UPLINK_F_XDP_TX = 1 << 0,
};

/* semi_peer.flags */
enum semi_peer_flags {
	SEMI_PEER_F_USED = 1 << 0,
};

/*
 * Value of semi_peers (array indexed by peer id): a host frames are
 * forwarded to in VXLAN format (outgoing ports) or accepted from
 * (incoming ports).  semi_peer_idx maps remote_ip to the id.
 */
struct semi_peer {
	__be32 remote_ip;
	__be32 local_ip;
	__u8 remote_mac[6];	/* next hop towards remote_ip on the uplink */
	__u8 local_mac[6];	/* the uplink's address */
	__u32 vni;		/* VNI of untagged frames; a VLAN adds its VID */
	__u16 port;		/* UDP destination port, host order */
	__u16 flags;		/* enum semi_peer_flags */
	char name[SEMI_NAME_LEN];
};

/* Value of semi_devs (keyed by ifindex): which port a device serves. */
struct semi_dev {
	__u32 port;
	__u32 role;		/* enum semi_role */
};

struct semi_ctr {
	__u64 packets;
	__u64 bytes;
};

/* Per-port counters (per-CPU array indexed by port id). */
struct semi_port_stats {
	struct semi_ctr rx[SEMI_ROLE_MAX];	/* to the guest, by the path taken */
	struct semi_ctr tx[SEMI_ROLE_MAX];	/* from the guest, by device (RARP apart) */
	struct semi_ctr tx_local;		/* of tx: hairpinned to a local port */
	struct semi_ctr remote_src;		/* fabric frames with this port's MAC as source */
	struct semi_ctr tunnel_in;		/* of rx: arrived through a peer's tunnel */
	/*
	 * RARP sent through the port's devices: QEMU's announce after a
	 * migration, sent on every NIC of the VM -- the re-plugged VF too,
	 * before the guest uses it.  A guest's own stack never sends RARP, so
	 * it is kept out of tx[]: tx[vf] moving means the guest took its VF.
	 */
	struct semi_ctr tx_rarp;
	__u64 drop[SEMI_DROP_MAX];
};

/* Instance-wide counters (per-CPU array of one). */
struct semi_stats {
	struct semi_ctr uplink_rx;	/* every frame the uplink program saw */
	struct semi_ctr flood;		/* broadcast/multicast fanned out */
	struct semi_ctr pass_host;	/* handed to the host stack */
	struct semi_ctr xdp_defer;	/* XDP left to TC (copies, non-XDP target) */
	__u64 drop[SEMI_DROP_MAX];	/* drops not attributable to a port */
};

/*
 * Value of semi_learned (array indexed by port id): the guest's own
 * addresses, learned from what it sends (ARP sender, IPv4 and IPv6
 * sources, link-local included), for the announces after a migration.
 * Slot (hash of the address) % SEMI_LEARN_SLOTS: a new address replaces
 * whatever shared its slot.  0 / :: = empty.
 */
#define SEMI_LEARN_SLOTS	4

struct semi_learned {
	__be32 ipv4[SEMI_LEARN_SLOTS];
	__u8 ipv6[SEMI_LEARN_SLOTS][16];
};

/* Verdict classes recorded in the trace (tests). */
enum semi_verdict {
	SEMI_V_PASS = 1,	/* host stack */
	SEMI_V_DROP = 2,
	SEMI_V_REDIRECT = 3,	/* one copy to targets[ntargets-1] */
	SEMI_V_DEFER = 4,	/* XDP handed it to the TC twin */
};

/*
 * Last decision of a program on this CPU, written only when the programs are
 * loaded with tracing on (tests): lets a BPF_PROG_TEST_RUN fixture assert the
 * target of a redirect, which the kernel does not report.
 */
struct semi_trace {
	__u32 verdict;			/* enum semi_verdict */
	__u32 reason;			/* enum semi_drop when verdict is DROP */
	__u32 port;			/* port id + 1, 0 = none */
	__u32 ntargets;			/* copies sent (clones and the redirect) */
	__u32 targets[SEMI_TRACE_TARGETS];	/* ifindex of each copy, in order */
	__u32 vlan_out;			/* VID on the frame leaving, 0 untagged */
	__u32 spare;
};

/* Value of semi_attach (keyed by ifindex): what the loader attached where,
 * so that a new process can detach what a dead one attached. */
enum semi_attach_kind {
	SEMI_ATTACH_XDP_DRV = 1 << 0,
	SEMI_ATTACH_XDP_SKB = 1 << 1,
	SEMI_ATTACH_TC_UPLINK = 1 << 2,
	SEMI_ATTACH_TC_PORT = 1 << 3,
	SEMI_ATTACH_CLSACT_OURS = 1 << 4,	/* we created the clsact qdisc */
};

struct semi_attachment {
	__u32 ifindex;
	__u32 kinds;		/* enum semi_attach_kind */
	__u32 xdp_prog_id;
	__u32 tc_prog_id;
	__u32 tc_handle;
	__u32 tc_priority;
	char ifname[SEMI_NAME_LEN];
};

/* TC filter identity used on every device (clsact ingress). */
#define SEMI_TC_HANDLE		0x5e41
#define SEMI_TC_PRIORITY	0x5e4

/* XDP -> TC hand-off: 4 bytes of XDP metadata in front of the frame. */
#define SEMI_META_MAGIC		0x5e410000u
enum semi_meta_kind {
	SEMI_META_HOST = 1,	/* XDP decided: host stack, already counted */
	SEMI_META_DEFER = 2,	/* XDP deferred: TC decides, uplink_rx counted */
};

#endif /* SEMI_COMMON_H */
