/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libsemi_dp: load, pin, adopt, attach and drive the semi-net datapath.
 *
 * A library with no policy: it does what it is told to the maps and the
 * attachments of one instance and says precisely what failed.  Policy (port
 * states, when to switch) lives in semi-netd.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure; the message that explains the failure, naming the device or the
 * port, has been logged through semi_log (see log.h) and can also be read
 * back with semi_dp_last_error().
 *
 * Pin layout (bpffs):  <pin_root>/<instance>/
 *     semi_ports  semi_port_idx  semi_paths  semi_ctl  semi_devs  semi_xdp_tx
 *     semi_port_stats  semi_stats  semi_trace  semi_attach      (maps)
 *     semi_uplink_xdp  semi_uplink_tc  semi_port                 (programs)
 *
 * Attachments are made through netlink (XDP in driver mode, TC on clsact
 * ingress), so they outlive the process that made them; semi_attach records
 * them so that any later process can detach them.
 *
 * Concurrency: every change takes an flock on the instance's pin directory,
 * so several processes may use one instance; semi-netd is the only writer
 * in production.
 */
#ifndef SEMI_DP_H
#define SEMI_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/semi_common.h"

#define SEMI_PIN_ROOT_DEFAULT	"/sys/fs/bpf/semi-net"
#define SEMI_INSTANCE_MAX	32

struct semi_dp;

struct semi_dp_opts {
	const char *instance;	/* required: [A-Za-z0-9_.-], at most 32 chars */
	const char *pin_root;	/* NULL: SEMI_PIN_ROOT_DEFAULT */
	bool trace;		/* load the programs with the decision trace on */
	bool no_create;		/* adopt only; -ENOENT when nothing is pinned */
};

/* Adopt the pinned instance, or load and pin it when nothing is pinned. */
int semi_dp_open(const struct semi_dp_opts *opts, struct semi_dp **dpp);
/* Release this process's handles; the datapath and its pins stay. */
void semi_dp_close(struct semi_dp *dp);
/* Detach everything the instance attached, remove every pin, then close. */
int semi_dp_destroy(struct semi_dp *dp);
/*
 * Remove an instance that cannot be opened (another ABI, a half-made pin
 * directory): detaches what semi_attach records when it is readable, then
 * removes the pins.  -ENOENT when there is nothing.
 */
int semi_dp_purge(const char *pin_root, const char *instance);

bool semi_dp_adopted(const struct semi_dp *dp);	/* pins existed at open */
const char *semi_dp_pin_dir(const struct semi_dp *dp);
const char *semi_dp_last_error(const struct semi_dp *dp);

enum semi_prog {
	SEMI_PROG_ID_UPLINK_XDP,
	SEMI_PROG_ID_UPLINK_TC,
	SEMI_PROG_ID_PORT,
	SEMI_PROG_COUNT,
};
int semi_dp_prog_fd(const struct semi_dp *dp, enum semi_prog prog);
/* Fd of a map by its pinned name (SEMI_MAP_*), or -ENOENT. */
int semi_dp_map_fd(const struct semi_dp *dp, const char *name);

/* ---- attachments ---- */

enum semi_xdp_mode {
	SEMI_XDP_AUTO = 0,	/* native XDP when the driver has it, else TC only */
	SEMI_XDP_NATIVE,	/* native XDP or fail */
	SEMI_XDP_OFF,		/* TC only */
};

/*
 * The uplink: semi_uplink_xdp in driver mode (per mode) and semi_uplink_tc
 * on clsact ingress.  Refuses to replace an XDP program that is not ours.
 */
int semi_dp_attach_uplink(struct semi_dp *dp, const char *ifname, enum semi_xdp_mode mode);
/*
 * Re-check what the uplink can do (XDP_TX out of a veth needs its peer to
 * take XDP frames): after link events on the uplink.
 */
int semi_dp_uplink_refresh(struct semi_dp *dp);
/* semi_port on clsact ingress of a vf or tap. */
int semi_dp_attach_port(struct semi_dp *dp, const char *ifname);
/* Detach whatever this instance attached to the device (by name or index). */
int semi_dp_detach(struct semi_dp *dp, const char *ifname);
int semi_dp_detach_ifindex(struct semi_dp *dp, uint32_t ifindex);
int semi_dp_detach_all(struct semi_dp *dp);
/* Up to max records; returns how many there are. */
int semi_dp_attachments(struct semi_dp *dp, struct semi_attachment *out, int max);

/*
 * Can the device take XDP-redirected frames (ndo_xdp_xmit)?  1 yes, 0 no
 * (frames to it take the TC path), negative errno when it does not exist.
 * A veth says yes only while its peer has an XDP program or GRO on.
 */
int semi_dev_xdp_target(uint32_t ifindex);

/* ---- ports ---- */

struct semi_port_conf {
	char name[SEMI_NAME_LEN];	/* identity of the port, e.g. "vm1" */
	uint8_t mac[6];
	uint16_t vlan;			/* 0 untagged, else 1..4094 */
	uint32_t vf_ifindex;		/* 0: none (yet) */
	uint32_t tap_ifindex;		/* 0: none */
	union semi_pathw path;		/* initial path word (rx path, tx mask) */
};

struct semi_port_info {
	uint32_t id;
	struct semi_port port;		/* as the datapath holds it */
	union semi_pathw path;		/* live path word */
};

/* Create the port, or update it when the name exists.  *id may be NULL. */
int semi_port_put(struct semi_dp *dp, const struct semi_port_conf *conf, uint32_t *id);
int semi_port_get(struct semi_dp *dp, const char *name, struct semi_port_info *out);
int semi_port_del(struct semi_dp *dp, const char *name);
/* The addresses the guest of a port was seen sending from. */
int semi_port_learned(struct semi_dp *dp, const char *name, struct semi_learned *out);
/* Up to max ports in id order; returns how many there are. */
int semi_port_list(struct semi_dp *dp, struct semi_port_info *out, int max);
/* Re-check whether the port's devices take XDP frames (after link events). */
int semi_port_refresh(struct semi_dp *dp, const char *name);

/* One port's path word: one store, seen whole by the datapath. */
int semi_path_set(struct semi_dp *dp, const char *name, union semi_pathw path);
int semi_path_set_id(struct semi_dp *dp, uint32_t id, union semi_pathw path);

struct semi_path_change {
	const char *name;
	union semi_pathw path;
};
/*
 * Many ports at once: written into the shadow bank, made live by one store
 * of the bank word.  All or nothing: an unknown name changes nothing.
 */
int semi_path_set_bulk(struct semi_dp *dp, const struct semi_path_change *ch, size_t n);

static inline union semi_pathw semi_pathw_make(enum semi_path rx, unsigned int tx)
{
	union semi_pathw w = { .word = 0 };

	w.rx = (uint8_t)rx;
	w.tx = (uint8_t)tx;
	return w;
}

/* ---- tunnel peers (forwarding during a migration) ---- */

struct semi_peer_conf {
	char name[SEMI_NAME_LEN];	/* e.g. "hostB" */
	uint32_t remote_ip;		/* IPv4, network order */
	uint32_t local_ip;		/* IPv4, network order: outer source */
	uint8_t remote_mac[6];		/* next hop towards remote_ip */
	uint8_t local_mac[6];		/* the uplink's address */
	uint32_t vni;			/* VNI of untagged frames (VLAN adds its VID) */
	uint16_t port;			/* UDP port, 0: 4789 */
};

/* Create or update a peer by name.  *id may be NULL. */
int semi_peer_put(struct semi_dp *dp, const struct semi_peer_conf *conf, uint32_t *id);
/* -EBUSY while a port's tunnel leads to it. */
int semi_peer_del(struct semi_dp *dp, const char *name);
int semi_peer_get(struct semi_dp *dp, const char *name, struct semi_peer *out, uint32_t *id);
/* Up to max peers (id in *ids when not NULL); returns how many there are. */
int semi_peer_list(struct semi_dp *dp, struct semi_peer *out, uint32_t *ids, int max);
/*
 * Where the instance takes tunnel frames: IPv4 address (network order) and
 * UDP port (0: 4789).  local_ip 0 turns decapsulation off.
 */
int semi_tunnel_listen(struct semi_dp *dp, uint32_t local_ip, uint16_t port);
/* The peer a port's tunnel path leads to (NULL or "": none). */
int semi_port_set_tunnel(struct semi_dp *dp, const char *port, const char *peer);
/*
 * The hold device (path hold parks frames there): ifindex of an existing
 * device, 0 = none (held frames are then dropped as no_target).
 */
int semi_hold_set(struct semi_dp *dp, uint32_t ifindex);
uint32_t semi_hold_get(const struct semi_dp *dp);

static inline union semi_pathw semi_pathw_make_flags(enum semi_path rx, unsigned int tx,
						     unsigned int flags)
{
	union semi_pathw w = semi_pathw_make(rx, tx);

	w.flags = (uint8_t)flags;
	return w;
}

/* ---- counters (per-CPU maps, summed) ---- */

int semi_port_stats_get(struct semi_dp *dp, const char *name, struct semi_port_stats *sum);
int semi_port_stats_get_id(struct semi_dp *dp, uint32_t id, struct semi_port_stats *sum);
int semi_stats_get(struct semi_dp *dp, struct semi_stats *sum);

/* The decision trace (programs loaded with trace on). */
int semi_trace_get(struct semi_dp *dp, int cpu, struct semi_trace *out);

/* ---- names ---- */

const char *semi_path_name(unsigned int path);		/* "vf", ... or "?" */
int semi_path_parse(const char *s);			/* -EINVAL if unknown */
const char *semi_role_name(unsigned int role);
const char *semi_drop_name(unsigned int reason);	/* "spoof_mac", ... */
const char *semi_drop_help(unsigned int reason);	/* one line for humans */
int semi_mac_parse(const char *s, uint8_t mac[6]);
/* "52:54:00:12:34:56"; buf of at least 18 bytes. */
char *semi_mac_fmt(const uint8_t mac[6], char *buf);

#endif /* SEMI_DP_H */
