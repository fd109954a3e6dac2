/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netcfg: the network mechanism semi-netd uses, over rtnetlink (libnl-3)
 * and AF_PACKET.  No policy lives here: every call does one thing to the
 * kernel and says exactly what failed, on which device, VF or MAC.
 *
 *   links      netcfg_link_get(), netcfg_link_get_by_name()
 *   events     netcfg_events_open() / _fd() / _process() / _close()
 *   bridge     netcfg_fdb_set() / _del() / _list(),
 *              netcfg_brport_set_flags() / _get_flags()
 *   VFs        netcfg_vf_count(), netcfg_vf_get(), netcfg_vf_set()
 *   announce   netcfg_announce_build_rarp() / _garp() / _na(),
 *              netcfg_announce_send()
 *   next hop   netcfg_nexthop_get()
 *
 * Conventions
 *   - Functions return 0 (or a count) on success and a negative errno on
 *     failure.  A failure is logged through the print hook at warn level
 *     (lookups of an absent device at debug level) and its message is kept
 *     in the handle: netcfg_last_error().
 *   - Devices are named as in `ip link` and are looked up in the network
 *     namespace the handle was opened in.
 *   - VLAN 0 means "no VLAN" everywhere (untagged, no NDA_VLAN, VF VLAN off).
 *   - A handle is not thread safe; use one per thread or lock around it.
 *
 * Link with the static library and $(NETCFG_LDLIBS) (libnl-3, libnl-route-3).
 */
#ifndef SEMI_NETCFG_H
#define SEMI_NETCFG_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NETCFG_IFNAMSIZ		16	/* = IFNAMSIZ; no <net/if.h> vs <linux/if.h> clash */
#define NETCFG_ETH_ALEN		6
#define NETCFG_KIND_LEN		16
#define NETCFG_MAC_STRLEN	18	/* "aa:bb:cc:dd:ee:ff" + NUL */

/* ------------------------------------------------------------------ */
/* Logging                                                            */
/* ------------------------------------------------------------------ */

enum netcfg_log_level {
	NETCFG_LOG_WARN,
	NETCFG_LOG_INFO,
	NETCFG_LOG_DEBUG,
};

/*
 * The print hook.  The default prints warnings and info to stderr with a
 * "netcfg: " prefix and drops debug.  Messages carry no trailing newline.
 */
typedef void (*netcfg_print_fn)(enum netcfg_log_level level, const char *fmt,
				va_list ap) __attribute__((format(printf, 2, 0)));

/* Replace the print hook (NULL silences the library); returns the old one. */
netcfg_print_fn netcfg_set_print(netcfg_print_fn fn);

/* ------------------------------------------------------------------ */
/* Handle                                                             */
/* ------------------------------------------------------------------ */

struct netcfg;

/*
 * Open a handle: an rtnetlink socket for requests (blocking, with a 10 s
 * reply timeout) and an AF_PACKET socket for announces, both in the
 * caller's current network namespace.
 */
int netcfg_open(struct netcfg **out);
void netcfg_close(struct netcfg *nc);

/*
 * The message of the last failure on this handle, e.g.
 * "cannot set MAC of VF 3 on eth0: eth0 has no VF 3 (it has 0 VFs)";
 * "" if the last call succeeded.  Valid until the next call.
 */
const char *netcfg_last_error(const struct netcfg *nc);

/* ------------------------------------------------------------------ */
/* Links                                                              */
/* ------------------------------------------------------------------ */

struct netcfg_link {
	int ifindex;
	char name[NETCFG_IFNAMSIZ];
	uint8_t mac[NETCFG_ETH_ALEN];	/* zero unless a 6-byte address */
	uint32_t mtu;
	uint32_t flags;			/* IFF_UP, IFF_RUNNING, IFF_LOWER_UP... */
	uint8_t operstate;		/* IF_OPER_* (linux/if.h), RFC 2863 */
	bool carrier;
	int master;			/* ifindex of the master, 0 if none */
	char kind[NETCFG_KIND_LEN];	/* "veth", "bridge", "tun"; "" if none */
	char port_kind[NETCFG_KIND_LEN]; /* master's kind ("bridge") if a port */
	bool have_stats;		/* netcfg_link_get_stats() only: */
	uint64_t tx_dropped;		/* dropped on the way out (a tap's full queue) */
};

/* Look a device up by ifindex or by name.  -ENODEV if there is none. */
int netcfg_link_get(struct netcfg *nc, int ifindex, struct netcfg_link *out);
int netcfg_link_get_by_name(struct netcfg *nc, const char *name,
			    struct netcfg_link *out);

/* netcfg_link_get() with the device's counters (have_stats, tx_dropped). */
int netcfg_link_get_stats(struct netcfg *nc, int ifindex, struct netcfg_link *out);

/* "up", "down", "lowerlayerdown", ... for IF_OPER_* values. */
const char *netcfg_operstate_str(uint8_t operstate);

/* ------------------------------------------------------------------ */
/* Link events                                                        */
/* ------------------------------------------------------------------ */

enum netcfg_link_event_type {
	NETCFG_LINK_ADDED,	/* a new ifindex appeared (or moved in) */
	NETCFG_LINK_REMOVED,	/* deleted, or moved to another namespace */
	NETCFG_LINK_CHANGED,	/* see changes */
};

/* netcfg_link_event.changes: what differs from the last state seen. */
#define NETCFG_LINK_CHG_NAME		(1u << 0)
#define NETCFG_LINK_CHG_CARRIER		(1u << 1)
#define NETCFG_LINK_CHG_OPERSTATE	(1u << 2)
#define NETCFG_LINK_CHG_FLAGS		(1u << 3)
#define NETCFG_LINK_CHG_MAC		(1u << 4)
#define NETCFG_LINK_CHG_MTU		(1u << 5)
#define NETCFG_LINK_CHG_MASTER		(1u << 6)
/*
 * The kernel said the device's features changed (IFLA_EVENT_FEATURES),
 * with or without a change above: what it can offload, or take from XDP,
 * may differ -- a veth when its peer gets or loses an XDP program.
 */
#define NETCFG_LINK_CHG_FEATURES	(1u << 7)

struct netcfg_link_event {
	enum netcfg_link_event_type type;
	unsigned int changes;		/* NETCFG_LINK_CHG_*, for CHANGED */
	struct netcfg_link link;	/* state now (REMOVED: last known) */
	char old_name[NETCFG_IFNAMSIZ];	/* name before a rename, else = name */
};

typedef void (*netcfg_link_cb)(const struct netcfg_link_event *ev, void *arg);

struct netcfg_events;

/*
 * Subscribe to link events (RTNLGRP_LINK) in the caller's namespace.
 * Takes a snapshot of the existing links first (no callbacks for those),
 * then returns a handle whose fd is non-blocking and becomes readable when
 * the kernel reports something: put netcfg_events_fd() in an epoll set and
 * call netcfg_events_process() when it is readable.
 *
 * Only real changes are reported: a notification that changes none of the
 * NETCFG_LINK_CHG_* fields, and is no feature change, produces no callback.  Bridge-port (AF_BRIDGE)
 * notifications are ignored; a port leaving a bridge is a CHANGED event
 * with NETCFG_LINK_CHG_MASTER, never a REMOVED one.
 *
 * If the kernel drops notifications because the socket buffer overflowed,
 * the handle re-reads the link table by itself and reports the difference
 * (ADDED / REMOVED / CHANGED), so no change is ever missed for good.
 */
int netcfg_events_open(struct netcfg_events **out, netcfg_link_cb cb,
		       void *arg);
int netcfg_events_fd(const struct netcfg_events *ev);

/*
 * Read everything pending, without blocking, and call the callback for
 * each event.  Returns the number of callbacks made or a negative errno.
 * The callback may use a struct netcfg handle but must not close this one.
 */
int netcfg_events_process(struct netcfg_events *ev);
void netcfg_events_close(struct netcfg_events *ev);

/* ------------------------------------------------------------------ */
/* Host bridge FDB and port flags                                     */
/* ------------------------------------------------------------------ */

/* netcfg_fdb_set() flags */
#define NETCFG_FDB_REPLACE	(1u << 0)	/* NLM_F_CREATE|NLM_F_REPLACE */

/*
 * Point MAC [+VLAN] at bridge port `port` with a static entry (`bridge fdb
 * add MAC dev PORT master static [vlan V]`).  Without NETCFG_FDB_REPLACE
 * this is an add (NLM_F_CREATE|NLM_F_EXCL) and fails with -EEXIST if the
 * bridge has any entry for MAC+VLAN; with it, an existing entry (learned,
 * or static on another port) is moved to `port` and made static, and
 * calling it again is a no-op.  A VLAN must be configured on the port,
 * which needs a VLAN-filtering bridge.
 * Errors: -ENODEV no such port, -EINVAL not a bridge port / bad VLAN,
 * -EEXIST (add only), or what the kernel answered.
 */
int netcfg_fdb_set(struct netcfg *nc, const char *port,
		   const uint8_t mac[NETCFG_ETH_ALEN], uint16_t vlan,
		   unsigned int flags);

/*
 * Remove the entry MAC [+VLAN] -> port.  Idempotent: success if there is
 * no such entry, if MAC now points at another port (that entry is left
 * alone), or if the port is gone or out of its bridge (the bridge flushed
 * its entries then).
 */
int netcfg_fdb_del(struct netcfg *nc, const char *port,
		   const uint8_t mac[NETCFG_ETH_ALEN], uint16_t vlan);

struct netcfg_fdb_entry {
	uint8_t mac[NETCFG_ETH_ALEN];
	uint16_t vlan;		/* 0 if none */
	int ifindex;		/* the port (or the bridge, for its own MAC) */
	int master;		/* the bridge (NDA_MASTER), 0 if not given */
	uint16_t state;		/* NUD_NOARP static, NUD_PERMANENT local,
				 * NUD_REACHABLE/NUD_STALE learned */
	uint8_t flags;		/* NTF_SELF (the device's own table; bridge
				 * entries have master set instead),
				 * NTF_EXT_LEARNED, NTF_OFFLOADED... */
};

/*
 * List FDB entries (AF_BRIDGE neighbour dump): those of bridge `bridge`
 * (NULL: all bridges and devices), for MAC `mac` (NULL: all).  Returns
 * the number of entries and sets *out to a malloc'ed array (free() it;
 * NULL when there are none), or a negative errno.
 */
int netcfg_fdb_list(struct netcfg *nc, const char *bridge,
		    const uint8_t *mac, struct netcfg_fdb_entry **out);

/* Bridge port flags (IFLA_BRPORT_*) */
#define NETCFG_BRPORT_FLOOD		(1u << 0)	/* unknown unicast */
#define NETCFG_BRPORT_MCAST_FLOOD	(1u << 1)
#define NETCFG_BRPORT_BCAST_FLOOD	(1u << 2)
#define NETCFG_BRPORT_LEARNING		(1u << 3)
#define NETCFG_BRPORT_ALL		0xfu

/*
 * Set the flags in `mask` of bridge port `port` to their value in
 * `flags` (AF_BRIDGE RTM_SETLINK, like `bridge link set dev PORT flood
 * off ...`); flags outside `mask` are left as they are.
 * Errors: -ENODEV no such device, -EINVAL not a bridge port or bad mask.
 */
int netcfg_brport_set_flags(struct netcfg *nc, const char *port,
			    unsigned int mask, unsigned int flags);

/* Read the NETCFG_BRPORT_* flags that are on; errors as above. */
int netcfg_brport_get_flags(struct netcfg *nc, const char *port,
			    unsigned int *flags);

/* ------------------------------------------------------------------ */
/* SR-IOV VF settings on the PF                                       */
/* ------------------------------------------------------------------ */

enum netcfg_vf_link_state {
	NETCFG_VF_LINK_AUTO = 0,	/* follows the PF (IFLA_VF_LINK_STATE_*) */
	NETCFG_VF_LINK_ENABLE = 1,
	NETCFG_VF_LINK_DISABLE = 2,
};

struct netcfg_vf {
	uint8_t mac[NETCFG_ETH_ALEN];	/* all zero: no MAC set (cleared) */
	uint16_t vlan;			/* 0: no VLAN */
	uint8_t qos;			/* 802.1p priority with the VLAN */
	int8_t spoofchk;		/* 1 on, 0 off, -1 not reported */
	int8_t trust;			/* 1 on, 0 off, -1 not reported */
	int8_t link_state;		/* enum netcfg_vf_link_state, -1 n/r */
};

/* netcfg_vf_set() `what` */
#define NETCFG_VF_MAC		(1u << 0)
#define NETCFG_VF_VLAN		(1u << 1)	/* vlan and qos */
#define NETCFG_VF_SPOOFCHK	(1u << 2)
#define NETCFG_VF_TRUST		(1u << 3)
#define NETCFG_VF_LINK_STATE	(1u << 4)

/* Number of VFs the PF has enabled (IFLA_NUM_VF; 0 for other devices). */
int netcfg_vf_count(struct netcfg *nc, const char *pf);

/*
 * Read VF `vf` of `pf`.  Fails with -ENODEV if there is no device `pf`,
 * and with -ENOENT and a message such as
 * "cannot read VF 2 of eth0: eth0 has no VF 2 (it has 0 VFs)"
 * if it has no such VF (every non-PF device has 0 VFs).
 */
int netcfg_vf_get(struct netcfg *nc, const char *pf, unsigned int vf,
		  struct netcfg_vf *out);

/*
 * Apply the settings selected by `what` from `cfg` to VF `vf` of `pf`
 * (RTM_SETLINK with IFLA_VFINFO_LIST), one request per setting in the
 * order MAC, VLAN, spoofchk, trust, link state; stops at the first the
 * kernel refuses, so the earlier ones stay applied.  Fails with -ENOENT
 * when the PF has no such VF, naming the device and its VF count.
 */
int netcfg_vf_set(struct netcfg *nc, const char *pf, unsigned int vf,
		  const struct netcfg_vf *cfg, unsigned int what);

/* ------------------------------------------------------------------ */
/* Announce frames                                                    */
/* ------------------------------------------------------------------ */

/* Large enough for any frame the builders make (NA with a VLAN: 90). */
#define NETCFG_ANNOUNCE_FRAME_MAX	128

/*
 * Frame builders: write one complete Ethernet frame (no FCS) for `mac` to
 * buf and return its length, or -ENOSPC if `size` is too small, or
 * -EINVAL for a VLAN above 4094.  With vlan != 0 an 802.1Q tag (PCP 0)
 * follows the source MAC.  Frames shorter than the Ethernet minimum are
 * padded with zeros to 60 bytes (64 when tagged).
 *
 * RARP: exactly what QEMU's qemu_announce_self() sends: to ff:ff:ff:ff:ff:ff,
 *   ethertype 0x8035, reverse request (op 3), sender and target hardware
 *   address = mac, protocol addresses 0.0.0.0; 60 bytes.
 * GARP: gratuitous ARP request to broadcast: sender = target IP = `ip`,
 *   sender HW = mac, target HW 00:00:00:00:00:00; 60 bytes.
 * NA:   IPv6 unsolicited neighbour advertisement from `ip` to ff02::1
 *   (dst MAC 33:33:00:00:00:01), hop limit 255, override flag set, with a
 *   target link-layer address option = mac; 86 bytes.
 */
int netcfg_announce_build_rarp(uint8_t *buf, size_t size,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       uint16_t vlan);
int netcfg_announce_build_garp(uint8_t *buf, size_t size,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       const struct in_addr *ip, uint16_t vlan);
int netcfg_announce_build_na(uint8_t *buf, size_t size,
			     const uint8_t mac[NETCFG_ETH_ALEN],
			     const struct in6_addr *ip, uint16_t vlan);

/* netcfg_announce.flags */
#define NETCFG_ANNOUNCE_NO_RARP	(1u << 0)	/* only GARP / NA */

struct netcfg_announce {
	uint8_t mac[NETCFG_ETH_ALEN];	/* the VM's MAC: source of every frame */
	uint16_t vlan;			/* 0: untagged */
	unsigned int flags;		/* NETCFG_ANNOUNCE_* */
	const struct in_addr *ipv4;	/* one gratuitous ARP each */
	size_t n_ipv4;
	const struct in6_addr *ipv6;	/* one unsolicited NA each */
	size_t n_ipv6;
};

/*
 * Send one round of announces on device `dev` (raw AF_PACKET): a RARP,
 * then a gratuitous ARP per IPv4 address, then an NA per IPv6 address.
 * Returns the number of frames sent, or a negative errno at the first
 * frame that could not be sent (e.g. -ENETDOWN if dev is down).
 */
int netcfg_announce_send(struct netcfg *nc, const char *dev,
			 const struct netcfg_announce *a);

/* ------------------------------------------------------------------ */
/* Next hop                                                           */
/* ------------------------------------------------------------------ */

struct netcfg_nexthop {
	int family;			/* AF_INET or AF_INET6, as asked */
	int ifindex;			/* the route's output device */
	uint8_t route_type;		/* RTN_UNICAST, ... */
	union {				/* the next hop: the gateway, or the */
		struct in_addr v4;	/* address itself when it is on-link */
		struct in6_addr v6;
	} gateway;
	union {				/* the route's preferred source, zero */
		struct in_addr v4;	/* if it has none */
		struct in6_addr v6;
	} prefsrc;
	uint16_t state;			/* NUD_* of the neighbour entry */
	uint8_t mac[NETCFG_ETH_ALEN];	/* the next hop's link-layer address */
};

/*
 * The next hop towards `dst` (AF_INET: struct in_addr, AF_INET6: struct
 * in6_addr) and its link-layer address, from the kernel's tables: the
 * route (RTM_GETROUTE, as `ip route get`), then the neighbour entry of its
 * gateway, or of dst when on-link, on its device (RTM_GETNEIGH).
 *
 * 0 with *out filled when the entry can be used now (reachable, stale,
 * delay, probe, permanent, noarp).  -EAGAIN when it cannot yet: the call
 * has asked the kernel to resolve it (RTM_NEWNEIGH with NTF_USE, as `ip
 * neigh replace ADDR dev DEV use`), so the same call a little later finds
 * it; out has everything but mac.  -ENETUNREACH when no device route
 * leads there (no route, a local or blackhole address).  Other errors are
 * the kernel's, with a message.
 */
int netcfg_nexthop_get(struct netcfg *nc, int family, const void *dst,
		       struct netcfg_nexthop *out);

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

/* Parse "aa:bb:cc:dd:ee:ff" (also '-' separated); 0 or -EINVAL. */
int netcfg_mac_parse(const char *s, uint8_t mac[NETCFG_ETH_ALEN]);
/* Format as "aa:bb:cc:dd:ee:ff" into buf (NETCFG_MAC_STRLEN); returns buf. */
char *netcfg_mac_str(const uint8_t mac[NETCFG_ETH_ALEN], char *buf);

#ifdef __cplusplus
}
#endif

#endif /* SEMI_NETCFG_H */
