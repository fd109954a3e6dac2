// SPDX-License-Identifier: GPL-2.0
/*
 * Migration peers: the hosts of the configuration's "peers", the tunnel
 * this instance listens on, and the datapath's peer table.
 *
 * A peer is usable once the next hop towards it is known: the kernel's
 * route and neighbour tables say which device and which MAC (netcfg), and
 * the datapath gets the peer with that MAC (outer destination), the
 * device's MAC (outer source) and tunnel.local (outer source address).
 * Peers are resolved at start and kept fresh by a timer.  A verb that needs
 * a peer not resolved yet never blocks the loop: peer_ready() asks the
 * kernel once and says -EAGAIN, the request waits in its connection
 * (control.c) and is run again every PEER_POLL_MS until the peer is known
 * or PEER_WAIT_MS have passed -- other clients are answered meanwhile, and
 * the verb's ok still means the tunnel works (DESIGN invariant 5).  The
 * last MACs are kept in the state file, so a restarted daemon forwards at
 * once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/netd.h"

#define PEER_RETRY_MS		100	/* while a next hop is being resolved */
#define PEER_REFRESH_MS		10000	/* once all are: follow changes */

static const uint8_t zero_mac[6];

struct peer *peer_find(struct netd *d, const char *name)
{
	for (int i = 0; i < d->npeers; i++)
		if (!strcmp(d->peers[i].cfg.name, name))
			return &d->peers[i];
	return NULL;
}

void peers_list(struct netd *d, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < d->npeers; i++)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? ", " : "", d->peers[i].cfg.name);
	if (!off)
		snprintf(buf, len, "none");
}

/* Put the peer in the datapath as it is now known. */
static int peer_put(struct netd *d, struct peer *p)
{
	struct semi_peer_conf c = {};
	int err;

	snprintf(c.name, sizeof(c.name), "%s", p->cfg.name);
	c.remote_ip = p->ip.s_addr;
	c.local_ip = d->tunnel_ip.s_addr;
	memcpy(c.remote_mac, p->mac, 6);
	memcpy(c.local_mac, p->local_mac, 6);
	c.vni = d->cfg.tunnel.vni;
	c.port = (uint16_t)d->cfg.tunnel.port;
	err = semi_peer_put(d->dp, &c, NULL);
	p->in_dp = err == 0;
	return err;
}

/*
 * Ask the kernel for the next hop once.  0 resolved (and in the datapath),
 * -EAGAIN being resolved, or another error with a message in e.
 */
static int peer_resolve(struct netd *d, struct peer *p, struct netd_err *e)
{
	struct netcfg_nexthop nh;
	struct netcfg_link l;
	char mac[18];
	bool changed;
	int err;

	err = netcfg_nexthop_get(d->nc, AF_INET, &p->ip, &nh);
	if (err) {
		if (err != -EAGAIN || ++p->tries == 20)
			pr_warn("peer %s (%s): %s", p->cfg.name, p->cfg.address,
				netcfg_last_error(d->nc));
		if (err == -EAGAIN)
			nerr_set(e, E_REFUSED, "cannot reach peer %s (%s): not resolved within "
				 "%d ms: %s", p->cfg.name, p->cfg.address, PEER_WAIT_MS,
				 netcfg_last_error(d->nc));
		else
			nerr_set(e, E_REFUSED, "cannot reach peer %s (%s): %s", p->cfg.name,
				 p->cfg.address, netcfg_last_error(d->nc));
		return err;
	}
	p->tries = 0;
	if (netcfg_link_get(d->nc, nh.ifindex, &l)) {
		nerr_set(e, E_REFUSED, "peer %s: the route's device (ifindex %d) is gone",
			 p->cfg.name, nh.ifindex);
		return -ENODEV;
	}
	changed = memcmp(p->mac, nh.mac, 6) || memcmp(p->local_mac, l.mac, 6);
	if (changed || !p->in_dp) {
		memcpy(p->mac, nh.mac, 6);
		memcpy(p->local_mac, l.mac, 6);
		err = peer_put(d, p);
		if (err) {
			nerr_set(e, E_DATAPATH, "%s", semi_dp_last_error(d->dp));
			return err;
		}
		pr_info("peer %s (%s): next hop %s on %s", p->cfg.name, p->cfg.address,
			mac_str(p->mac, mac), l.name);
		if (changed)
			ports_save_soon(d);
	}
	return 0;
}

void peers_tick(struct netd *d, struct timer *t)
{
	bool pending = false;

	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];

		if (!p->ipv4 || !d->tunnel_ip.s_addr)
			continue;
		if (peer_resolve(d, p, NULL) == -EAGAIN)
			pending = true;
	}
	timer_arm(d, t, (uint64_t)(pending ? PEER_RETRY_MS : PEER_REFRESH_MS) * 1000000ull);
}

int peer_ready(struct netd *d, struct peer *p, struct netd_err *e)
{
	if (!d->tunnel_ip.s_addr) {
		nerr_set(e, E_REFUSED, "instance %s has no tunnel: set tunnel.local (an IPv4 "
			 "address of this host) in the configuration", d->cfg.instance);
		return -ENOTCONN;
	}
	if (!p->ipv4) {
		nerr_set(e, E_REFUSED, "peer %s has address %s: the tunnel is IPv4 only",
			 p->cfg.name, p->cfg.address);
		return -EAFNOSUPPORT;
	}
	/* Known and in the datapath: the refresh timer follows changes. */
	if (p->in_dp && memcmp(p->mac, zero_mac, 6))
		return 0;
	/* Ask once; -EAGAIN: the caller waits without holding the loop. */
	return peer_resolve(d, p, e);
}

int peers_init(struct netd *d, const struct state_doc *doc)
{
	struct semi_peer dp_peers[SEMI_MAX_PEERS];
	int n, err;

	d->t_peers.fn = peers_tick;
	if (d->cfg.tunnel.local[0]) {
		if (inet_pton(AF_INET, d->cfg.tunnel.local, &d->tunnel_ip) != 1) {
			pr_warn("tunnel.local %s is not IPv4: the tunnel is IPv4 only; no "
				"migration with this instance", d->cfg.tunnel.local);
			d->tunnel_ip.s_addr = 0;
		}
	}
	err = semi_tunnel_listen(d->dp, d->tunnel_ip.s_addr, (uint16_t)d->cfg.tunnel.port);
	if (err)
		return err;
	for (int i = 0; i < d->cfg.n_peers; i++) {
		struct peer *p;

		/* One list for every host: this one is no peer of itself. */
		if (!strcmp(d->cfg.peers[i].name, d->cfg.host)) {
			pr_info("peer %s is this host: skipped", d->cfg.host);
			continue;
		}
		p = &d->peers[d->npeers++];
		memset(p, 0, sizeof(*p));
		p->cfg = d->cfg.peers[i];
		p->ipv4 = inet_pton(AF_INET, p->cfg.address, &p->ip) == 1;
		if (!p->ipv4) {
			pr_warn("peer %s has address %s: the tunnel is IPv4 only, it cannot be "
				"migrated to or from", p->cfg.name, p->cfg.address);
			continue;
		}
		/* What the last daemon knew, until the kernel says otherwise. */
		for (size_t k = 0; k < doc->npeers; k++) {
			const struct peer_rec *r = &doc->peers[k];

			if (!strcmp(r->name, p->cfg.name) && !strcmp(r->address, p->cfg.address))
				memcpy(p->mac, r->mac, 6);
		}
	}
	/* The configuration wins: peers it no longer names go (unless in use). */
	n = semi_peer_list(d->dp, dp_peers, NULL, SEMI_MAX_PEERS);
	for (int i = 0; i < n && i < SEMI_MAX_PEERS; i++) {
		struct peer *p = peer_find(d, dp_peers[i].name);

		if (p && p->ipv4 && p->ip.s_addr == dp_peers[i].remote_ip)
			continue;
		if (semi_peer_del(d->dp, dp_peers[i].name))
			pr_warn("peer %s is pinned but not configured: %s", dp_peers[i].name,
				semi_dp_last_error(d->dp));
		else
			pr_info("peer %s removed from the datapath: not configured",
				dp_peers[i].name);
	}
	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		struct semi_peer cur;

		if (!p->ipv4 || !d->tunnel_ip.s_addr || !memcmp(p->mac, zero_mac, 6))
			continue;
		/* Pinned as the file says: nothing to write (frames may be flowing). */
		if (semi_peer_get(d->dp, p->cfg.name, &cur, NULL) == 0 &&
		    !memcmp(cur.remote_mac, p->mac, 6) && cur.local_ip == d->tunnel_ip.s_addr &&
		    cur.vni == d->cfg.tunnel.vni && cur.port == d->cfg.tunnel.port) {
			memcpy(p->local_mac, cur.local_mac, 6);
			p->in_dp = true;
			continue;
		}
		/* Otherwise the first tick, at once, resolves and writes it. */
	}
	if (d->npeers && d->tunnel_ip.s_addr)
		timer_arm(d, &d->t_peers, 0);
	else if (d->npeers)
		pr_warn("peers are configured but no tunnel: set tunnel.local to migrate");
	return 0;
}

int peers_to_doc(struct netd *d, struct state_doc *doc)
{
	doc->npeers = 0;
	doc->peers = calloc(d->npeers ? (size_t)d->npeers : 1, sizeof(*doc->peers));
	if (!doc->peers)
		return -ENOMEM;
	for (int i = 0; i < d->npeers; i++) {
		struct peer_rec *r = &doc->peers[doc->npeers++];

		snprintf(r->name, sizeof(r->name), "%s", d->peers[i].cfg.name);
		snprintf(r->address, sizeof(r->address), "%s", d->peers[i].cfg.address);
		memcpy(r->mac, d->peers[i].mac, 6);
	}
	return 0;
}

json_object *peers_json(struct netd *d)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];
		json_object *o = json_object_new_object();
		bool known = memcmp(p->mac, zero_mac, 6) != 0;
		char mac[18];

		json_object_object_add(o, "name", json_object_new_string(p->cfg.name));
		json_object_object_add(o, "address", json_object_new_string(p->cfg.address));
		json_object_object_add(o, "usable", json_object_new_boolean(p->ipv4 &&
							d->tunnel_ip.s_addr));
		json_object_object_add(o, "next_hop", known ?
				       json_object_new_string(mac_str(p->mac, mac)) : NULL);
		json_object_object_add(o, "in_datapath", json_object_new_boolean(p->in_dp));
		json_object_array_add(arr, o);
	}
	return arr;
}

json_object *tunnel_json(struct netd *d)
{
	json_object *o = json_object_new_object();
	char a[INET_ADDRSTRLEN];

	json_object_object_add(o, "local", d->tunnel_ip.s_addr ? json_object_new_string(
		inet_ntop(AF_INET, &d->tunnel_ip, a, sizeof(a))) : NULL);
	json_object_object_add(o, "port", json_object_new_int64(d->cfg.tunnel.port));
	json_object_object_add(o, "vni", json_object_new_int64(d->cfg.tunnel.vni));
	json_object_object_add(o, "control_port",
			       json_object_new_int64(config_control_port(&d->cfg)));
	return o;
}
