// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tunnel peers: the hosts a migrating port's frames are forwarded to, and
 * accepted from.  semi_peers[id] holds the peer; semi_peer_idx maps its
 * address to id for the decapsulation check.  Id 0 means "no peer".
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "loader/internal.h"

static int peer_read(struct semi_dp *dp, uint32_t id, struct semi_peer *p)
{
	if (bpf_map_lookup_elem(dp->map_fd[M_PEERS], &id, p))
		return -errno;
	return 0;
}

static int peer_find(struct semi_dp *dp, const char *name, struct semi_peer *out)
{
	struct semi_peer p;

	for (uint32_t id = 1; id < SEMI_MAX_PEERS; id++) {
		if (peer_read(dp, id, &p) == 0 && (p.flags & SEMI_PEER_F_USED) &&
		    !strncmp(p.name, name, SEMI_NAME_LEN)) {
			if (out)
				*out = p;
			return (int)id;
		}
	}
	return -ENOENT;
}

int semi_peer_put(struct semi_dp *dp, const struct semi_peer_conf *c, uint32_t *idp)
{
	struct semi_peer old = {}, p = {}, other;
	char addr[INET_ADDRSTRLEN];
	__u32 owner;
	int id, err;

	if (!c->name[0] || strnlen(c->name, SEMI_NAME_LEN) >= SEMI_NAME_LEN)
		return dp_fail(dp, -EINVAL, "bad peer name '%.*s'", SEMI_NAME_LEN, c->name);
	if (!c->remote_ip || !c->local_ip)
		return dp_fail(dp, -EINVAL, "peer %s: remote and local addresses are required",
			       c->name);
	if ((c->remote_mac[0] & 1) || !memcmp(c->remote_mac, "\0\0\0\0\0\0", 6))
		return dp_fail(dp, -EINVAL, "peer %s: next-hop MAC is not a unicast address",
			       c->name);
	if (c->vni + SEMI_VLAN_MAX >= (1u << 24))
		return dp_fail(dp, -EINVAL, "peer %s: VNI %u leaves no room for VLANs (max %u)",
			       c->name, c->vni, (1u << 24) - 1 - SEMI_VLAN_MAX);

	err = dp_lock(dp);
	if (err)
		return err;
	id = peer_find(dp, c->name, &old);
	if (id < 0) {
		for (id = 1; id < SEMI_MAX_PEERS; id++)
			if (peer_read(dp, (uint32_t)id, &other) == 0 &&
			    !(other.flags & SEMI_PEER_F_USED))
				break;
		if (id >= SEMI_MAX_PEERS) {
			err = dp_fail(dp, -ENOSPC, "peer %s: instance %s has %d peers already",
				      c->name, dp->instance, SEMI_MAX_PEERS - 1);
			goto out;
		}
	}
	if (bpf_map_lookup_elem(dp->map_fd[M_PEER_IDX], &c->remote_ip, &owner) == 0 &&
	    owner != (__u32)id) {
		peer_read(dp, owner, &other);
		inet_ntop(AF_INET, &c->remote_ip, addr, sizeof(addr));
		err = dp_fail(dp, -EEXIST, "peer %s: address %s already belongs to peer %s",
			      c->name, addr, other.name);
		goto out;
	}
	p.remote_ip = c->remote_ip;
	p.local_ip = c->local_ip;
	memcpy(p.remote_mac, c->remote_mac, 6);
	memcpy(p.local_mac, c->local_mac, 6);
	p.vni = c->vni;
	p.port = c->port ? c->port : SEMI_VXLAN_PORT;
	p.flags = SEMI_PEER_F_USED;
	memcpy(p.name, c->name, SEMI_NAME_LEN);
	p.name[SEMI_NAME_LEN - 1] = '\0';
	if (bpf_map_update_elem(dp->map_fd[M_PEERS], &id, &p, BPF_ANY) ||
	    bpf_map_update_elem(dp->map_fd[M_PEER_IDX], &p.remote_ip, &id, BPF_ANY)) {
		err = dp_fail(dp, -errno, "peer %s: cannot write: %s", c->name, strerror(errno));
		goto out;
	}
	if ((old.flags & SEMI_PEER_F_USED) && old.remote_ip != p.remote_ip)
		bpf_map_delete_elem(dp->map_fd[M_PEER_IDX], &old.remote_ip);
	if (idp)
		*idp = (uint32_t)id;
out:
	dp_unlock(dp);
	return err;
}

int semi_peer_get(struct semi_dp *dp, const char *name, struct semi_peer *out, uint32_t *idp)
{
	int id = peer_find(dp, name, out);

	if (id < 0)
		return dp_fail(dp, -ENOENT, "no peer '%s' in instance %s", name, dp->instance);
	if (idp)
		*idp = (uint32_t)id;
	return 0;
}

int semi_peer_list(struct semi_dp *dp, struct semi_peer *out, uint32_t *ids, int max)
{
	struct semi_peer p;
	int n = 0;

	for (uint32_t id = 1; id < SEMI_MAX_PEERS; id++) {
		if (peer_read(dp, id, &p) || !(p.flags & SEMI_PEER_F_USED))
			continue;
		if (n < max) {
			out[n] = p;
			if (ids)
				ids[n] = id;
		}
		n++;
	}
	return n;
}

int semi_peer_del(struct semi_dp *dp, const char *name)
{
	struct semi_peer p, zero = {};
	int id, err;

	err = dp_lock(dp);
	if (err)
		return err;
	id = peer_find(dp, name, &p);
	if (id < 0) {
		err = dp_fail(dp, -ENOENT, "no peer '%s' in instance %s", name, dp->instance);
		goto out;
	}
	for (uint32_t i = 0; i < dp->ctl->port_hwm && i < SEMI_MAX_PORTS; i++) {
		struct semi_port *port = dp_port(dp, i);

		if ((port->flags & SEMI_PORT_F_USED) && port->tunnel == (__u32)id) {
			err = dp_fail(dp, -EBUSY, "peer %s: port %s tunnels to it", name,
				      port->name);
			goto out;
		}
	}
	bpf_map_delete_elem(dp->map_fd[M_PEER_IDX], &p.remote_ip);
	if (bpf_map_update_elem(dp->map_fd[M_PEERS], &id, &zero, BPF_ANY))
		err = dp_fail(dp, -errno, "peer %s: cannot remove: %s", name, strerror(errno));
out:
	dp_unlock(dp);
	return err;
}

int semi_tunnel_listen(struct semi_dp *dp, uint32_t local_ip, uint16_t port)
{
	int err = dp_lock(dp);

	if (err)
		return err;
	/* Port first: a reader that sees the address sees its port. */
	__atomic_store_n(&dp->ctl->tunnel_port, port ? port : SEMI_VXLAN_PORT, __ATOMIC_RELEASE);
	__atomic_store_n(&dp->ctl->tunnel_ip, local_ip, __ATOMIC_RELEASE);
	dp_unlock(dp);
	return 0;
}

int semi_hold_set(struct semi_dp *dp, uint32_t ifindex)
{
	char name[IF_NAMESIZE];
	int err;

	if (ifindex && !if_indextoname(ifindex, name))
		return dp_fail(dp, -ENODEV, "hold device: no device with ifindex %u: %s", ifindex,
			       strerror(errno));
	err = dp_lock(dp);
	if (err)
		return err;
	/* One aligned word: a program reads the old device or the new one. */
	__atomic_store_n(&dp->ctl->hold_ifindex, ifindex, __ATOMIC_RELEASE);
	dp_unlock(dp);
	return 0;
}

uint32_t semi_hold_get(const struct semi_dp *dp)
{
	return __atomic_load_n(&dp->ctl->hold_ifindex, __ATOMIC_ACQUIRE);
}

int semi_port_set_tunnel(struct semi_dp *dp, const char *port, const char *peer)
{
	int id, pid = 0, err;

	err = dp_lock(dp);
	if (err)
		return err;
	id = dp_find_port(dp, port);
	if (id < 0) {
		err = dp_fail(dp, -ENOENT, "no port '%s' in instance %s", port, dp->instance);
		goto out;
	}
	if (peer && *peer) {
		pid = peer_find(dp, peer, NULL);
		if (pid < 0) {
			err = dp_fail(dp, -ENOENT, "port %s: no peer '%s' in instance %s", port,
				      peer, dp->instance);
			goto out;
		}
	}
	/* One aligned 32-bit field of the port: one store. */
	__atomic_store_n(&dp_port(dp, (uint32_t)id)->tunnel, (__u32)pid, __ATOMIC_RELEASE);
out:
	dp_unlock(dp);
	return err;
}
