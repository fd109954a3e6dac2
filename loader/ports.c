// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Ports and their paths.
 *
 * A port's configuration sits in semi_ports[id]; semi_port_idx maps its
 * (MAC, VLAN) to id and is the last thing written when a port is made and
 * the first removed when it goes, so the uplink never finds a half-made
 * port.  The path word is written with one aligned 32-bit store through the
 * shared mapping of semi_paths (DESIGN invariant 2); a bulk change fills
 * the shadow bank and then flips semi_ctl.bank with one store.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader/internal.h"

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (int i = 0; i < SEMI_NAME_LEN && name[i]; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

static void name_idx_rebuild(struct semi_dp *dp)
{
	uint32_t hwm = dp->ctl->port_hwm;

	memset(dp->name_idx, 0, sizeof(dp->name_idx));
	for (uint32_t id = 0; id < hwm && id < SEMI_MAX_PORTS; id++) {
		struct semi_port *p = dp_port(dp, id);
		uint32_t h;

		if (!(p->flags & SEMI_PORT_F_USED))
			continue;
		h = name_hash(p->name);
		while (dp->name_idx[h % NAME_IDX_SLOTS])
			h++;
		dp->name_idx[h % NAME_IDX_SLOTS] = (uint16_t)(id + 1);
	}
}

static int name_idx_find(struct semi_dp *dp, const char *name)
{
	uint32_t h = name_hash(name);

	for (uint32_t n = 0; n < NAME_IDX_SLOTS; n++, h++) {
		uint16_t slot = dp->name_idx[h % NAME_IDX_SLOTS];
		struct semi_port *p;

		if (!slot)
			return -ENOENT;
		p = dp_port(dp, slot - 1u);
		if ((p->flags & SEMI_PORT_F_USED) && !strncmp(p->name, name, SEMI_NAME_LEN))
			return slot - 1;
	}
	return -ENOENT;
}

int dp_find_port(struct semi_dp *dp, const char *name)
{
	int id = name_idx_find(dp, name);

	if (id >= 0)
		return id;
	/* Not in the cache: the table may have changed under us. */
	name_idx_rebuild(dp);
	return name_idx_find(dp, name);
}

static int lookup(struct semi_dp *dp, const char *name)
{
	int id = dp_find_port(dp, name);

	if (id < 0)
		return dp_fail(dp, -ENOENT, "no port '%s' in instance %s", name, dp->instance);
	return id;
}

static int free_slot(struct semi_dp *dp)
{
	for (uint32_t id = 0; id < SEMI_MAX_PORTS; id++)
		if (!(dp_port(dp, id)->flags & SEMI_PORT_F_USED))
			return (int)id;
	return -ENOSPC;
}

static void recompute_hwm(struct semi_dp *dp)
{
	uint32_t hwm = 0;

	for (uint32_t id = 0; id < SEMI_MAX_PORTS; id++)
		if (dp_port(dp, id)->flags & SEMI_PORT_F_USED)
			hwm = id + 1;
	__atomic_store_n(&dp->ctl->port_hwm, hwm, __ATOMIC_RELEASE);
}

static bool name_ok(const char *n)
{
	size_t len = strnlen(n, SEMI_NAME_LEN);

	if (len == 0 || len >= SEMI_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (n[i] <= ' ' || n[i] == '/' || n[i] > '~')
			return false;
	return true;
}

static int zero_stats(struct semi_dp *dp, uint32_t id)
{
	size_t sz = (size_t)dp->ncpus * ((sizeof(struct semi_port_stats) + 7) & ~7ul);
	void *zero = calloc(1, sz);
	int err = 0;

	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(dp->map_fd[M_PORT_STATS], &id, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

/* Is the device already serving another port (or another role)? */
static int dev_owner(struct semi_dp *dp, uint32_t ifindex, struct semi_dev *dev)
{
	return bpf_map_lookup_elem(dp->map_fd[M_DEVS], &ifindex, dev) ? -ENOENT : 0;
}

static int check_dev(struct semi_dp *dp, const char *port, const char *role,
		     uint32_t ifindex, int self)
{
	char name[IF_NAMESIZE + 16];
	struct semi_dev dev;
	struct semi_attachment rec;

	if (!ifindex)
		return 0;
	if (!if_indextoname(ifindex, name))
		return dp_fail(dp, -ENODEV, "port %s: no %s device with ifindex %u", port, role,
			       ifindex);
	if (dev_owner(dp, ifindex, &dev) == 0 && (int)dev.port != self)
		return dp_fail(dp, -EBUSY, "port %s: %s %s already belongs to port %s", port,
			       role, name, dp_port(dp, dev.port)->name);
	if (bpf_map_lookup_elem(dp->map_fd[M_ATTACH], &ifindex, &rec) == 0 &&
	    (rec.kinds & SEMI_ATTACH_TC_UPLINK))
		return dp_fail(dp, -EBUSY, "port %s: %s %s is the uplink", port, role, name);
	return 0;
}

/* Install (or refresh) one device of a port: semi_devs and semi_xdp_tx. */
static int dev_install(struct semi_dp *dp, uint32_t id, uint32_t role, uint32_t ifindex,
		       uint32_t *flags, uint32_t xdp_flag)
{
	struct semi_dev dev = { .port = id, .role = role };
	struct bpf_devmap_val val = { .ifindex = ifindex };
	uint32_t slot = SEMI_XDP_SLOT(id, role);
	char name[IF_NAMESIZE + 16];
	int xdp;

	*flags &= ~xdp_flag;
	if (!ifindex) {
		bpf_map_delete_elem(dp->map_fd[M_XDP_TX], &slot);
		return 0;
	}
	if (bpf_map_update_elem(dp->map_fd[M_DEVS], &ifindex, &dev, BPF_ANY))
		return dp_fail(dp, -errno, "cannot register %s for port %s: %s",
			       dp_ifname(ifindex, name), dp_port(dp, id)->name, strerror(errno));
	xdp = semi_dev_xdp_target(ifindex);
	if (xdp == 1 && bpf_map_update_elem(dp->map_fd[M_XDP_TX], &slot, &val, BPF_ANY) == 0) {
		*flags |= xdp_flag;
	} else {
		bpf_map_delete_elem(dp->map_fd[M_XDP_TX], &slot);
		pr_debug("%s does not take XDP frames: port %s's frames to it go through TC",
			 dp_ifname(ifindex, name), dp_port(dp, id)->name);
	}
	return 0;
}

/* Forget a device port id used in role: semi_devs (if still its) and its slot. */
static void dev_remove(struct semi_dp *dp, uint32_t ifindex, uint32_t id, uint32_t role)
{
	uint32_t slot = SEMI_XDP_SLOT(id, role);
	struct semi_dev dev;

	bpf_map_delete_elem(dp->map_fd[M_XDP_TX], &slot);
	if (ifindex && dev_owner(dp, ifindex, &dev) == 0 && dev.port == id && dev.role == role)
		bpf_map_delete_elem(dp->map_fd[M_DEVS], &ifindex);
}

static uint64_t key_word(const struct semi_port_key *k)
{
	uint64_t w;

	memcpy(&w, k, sizeof(w));
	return w;
}

/* The port cache slot of key, unless another live port holds it (then
 * this port is found through the hash). */
static void cache_install(struct semi_dp *dp, uint32_t id, const struct semi_port_key *k)
{
	uint32_t h = semi_port_hash(key_word(k));
	volatile uint32_t *slot = dp_cache_slot(dp, h);
	uint32_t cur = *slot;

	if (cur && cur != id + 1 && cur <= SEMI_MAX_PORTS) {
		struct semi_port *o = dp_port(dp, cur - 1);

		if ((o->flags & SEMI_PORT_F_USED) &&
		    semi_port_hash(key_word((const struct semi_port_key *)o)) == h)
			return;
	}
	__atomic_store_n(slot, id + 1, __ATOMIC_RELEASE);
}

/* Free key's slot if it is port id's, and give it to a port that collided. */
static void cache_remove(struct semi_dp *dp, uint32_t id, const struct semi_port_key *k)
{
	uint32_t h = semi_port_hash(key_word(k));
	volatile uint32_t *slot = dp_cache_slot(dp, h);

	if (*slot != id + 1)
		return;
	__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < dp->ctl->port_hwm && i < SEMI_MAX_PORTS; i++) {
		struct semi_port *p = dp_port(dp, i);

		if (i != id && (p->flags & SEMI_PORT_F_USED) &&
		    semi_port_hash(key_word((const struct semi_port_key *)p)) == h) {
			__atomic_store_n(slot, i + 1, __ATOMIC_RELEASE);
			return;
		}
	}
}

static void key_of(const struct semi_port *p, struct semi_port_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->mac, p->mac, 6);
	k->vlan = p->vlan;
}

static void path_write_both(struct semi_dp *dp, uint32_t id, uint32_t word)
{
	__atomic_store_n(dp_pathw(dp, 0, id), word, __ATOMIC_RELEASE);
	__atomic_store_n(dp_pathw(dp, 1, id), word, __ATOMIC_RELEASE);
}

static int port_write(struct semi_dp *dp, uint32_t id, const struct semi_port *p)
{
	if (bpf_map_update_elem(dp->map_fd[M_PORTS], &id, p, BPF_ANY))
		return dp_fail(dp, -errno, "cannot write port %s: %s", p->name, strerror(errno));
	return 0;
}

static void forget_learned(struct semi_dp *dp, uint32_t id)
{
	struct semi_learned zero = {};

	bpf_map_update_elem(dp->map_fd[M_LEARNED], &id, &zero, BPF_ANY);
}

int semi_port_put(struct semi_dp *dp, const struct semi_port_conf *c, uint32_t *idp)
{
	struct semi_port_key key, oldkey;
	struct semi_port old, p;
	char mac[18];
	__u32 owner;
	bool create;
	int id, err;

	if (!name_ok(c->name))
		return dp_fail(dp, -EINVAL,
			       "bad port name '%.*s': 1 to %d printable characters, no blanks",
			       SEMI_NAME_LEN, c->name, SEMI_NAME_LEN - 1);
	if ((c->mac[0] & 1) || !memcmp(c->mac, "\0\0\0\0\0\0", 6))
		return dp_fail(dp, -EINVAL, "port %s: MAC %s is not a unicast address", c->name,
			       semi_mac_fmt(c->mac, mac));
	if (c->vlan > SEMI_VLAN_MAX)
		return dp_fail(dp, -EINVAL, "port %s: VLAN %u out of range 0..%u", c->name,
			       c->vlan, SEMI_VLAN_MAX);
	if (c->path.rx >= SEMI_PATH_MAX || (c->path.tx & ~SEMI_TX_ALL) ||
	    (c->path.flags & ~SEMI_PATHF_TUNNEL_IN) || c->path.spare)
		return dp_fail(dp, -EINVAL, "port %s: bad path word %#x", c->name, c->path.word);
	if (c->vf_ifindex && c->vf_ifindex == c->tap_ifindex)
		return dp_fail(dp, -EINVAL, "port %s: vf and tap are the same device", c->name);

	err = dp_lock(dp);
	if (err)
		return err;
	id = dp_find_port(dp, c->name);
	create = id < 0;
	if (create) {
		id = free_slot(dp);
		if (id < 0) {
			err = dp_fail(dp, -ENOSPC, "port %s: instance %s is full (%d ports)",
				      c->name, dp->instance, SEMI_MAX_PORTS);
			goto out;
		}
		memset(&old, 0, sizeof(old));
	} else {
		old = *dp_port(dp, (uint32_t)id);
	}

	memset(&p, 0, sizeof(p));
	memcpy(p.mac, c->mac, 6);
	p.vlan = c->vlan;
	p.vf_ifindex = c->vf_ifindex;
	p.tap_ifindex = c->tap_ifindex;
	p.tunnel = old.tunnel;
	p.flags = SEMI_PORT_F_USED;
	memcpy(p.name, c->name, SEMI_NAME_LEN);
	p.name[SEMI_NAME_LEN - 1] = '\0';

	key_of(&p, &key);
	if (bpf_map_lookup_elem(dp->map_fd[M_PORT_IDX], &key, &owner) == 0 &&
	    owner != (__u32)id) {
		err = dp_fail(dp, -EEXIST, "port %s: MAC %s VLAN %u already belongs to port %s",
			      c->name, semi_mac_fmt(c->mac, mac), c->vlan,
			      dp_port(dp, owner)->name);
		goto out;
	}
	err = check_dev(dp, c->name, "vf", c->vf_ifindex, id);
	if (!err)
		err = check_dev(dp, c->name, "tap", c->tap_ifindex, id);
	if (err)
		goto out;

	if (create) {
		forget_learned(dp, (uint32_t)id);
		err = zero_stats(dp, (uint32_t)id);
		if (err) {
			err = dp_fail(dp, err, "port %s: cannot reset counters: %s", c->name,
				      strerror(-err));
			goto out;
		}
		path_write_both(dp, (uint32_t)id, c->path.word);
		/* Name the slot before the devices point at it. */
		err = port_write(dp, (uint32_t)id, &p);
		if (err)
			goto out;
	}

	/* Devices this port no longer uses (in that role). */
	if (old.vf_ifindex && old.vf_ifindex != p.vf_ifindex)
		dev_remove(dp, old.vf_ifindex, (uint32_t)id, SEMI_ROLE_VF);
	if (old.tap_ifindex && old.tap_ifindex != p.tap_ifindex)
		dev_remove(dp, old.tap_ifindex, (uint32_t)id, SEMI_ROLE_TAP);
	err = dev_install(dp, (uint32_t)id, SEMI_ROLE_VF, p.vf_ifindex, &p.flags,
			  SEMI_PORT_F_VF_XDP);
	if (!err)
		err = dev_install(dp, (uint32_t)id, SEMI_ROLE_TAP, p.tap_ifindex, &p.flags,
				  SEMI_PORT_F_TAP_XDP);
	if (!err)
		err = port_write(dp, (uint32_t)id, &p);
	if (err)
		goto undo;
	if (!create)
		path_write_both(dp, (uint32_t)id, c->path.word);

	/* Visible to the uplink last; an old (MAC, VLAN) goes after the new. */
	key_of(&old, &oldkey);
	if (bpf_map_update_elem(dp->map_fd[M_PORT_IDX], &key, &id, BPF_ANY)) {
		err = dp_fail(dp, -errno, "port %s: cannot index MAC %s: %s", c->name,
			      semi_mac_fmt(c->mac, mac), strerror(errno));
		goto undo;
	}
	if (!create && memcmp(&oldkey, &key, sizeof(key))) {
		bpf_map_delete_elem(dp->map_fd[M_PORT_IDX], &oldkey);
		cache_remove(dp, (uint32_t)id, &oldkey);
	}
	recompute_hwm(dp);
	cache_install(dp, (uint32_t)id, &key);
	if (idp)
		*idp = (uint32_t)id;
	goto out;

undo:
	if (create) {
		dev_remove(dp, p.vf_ifindex, (uint32_t)id, SEMI_ROLE_VF);
		dev_remove(dp, p.tap_ifindex, (uint32_t)id, SEMI_ROLE_TAP);
		memset(&p, 0, sizeof(p));
		port_write(dp, (uint32_t)id, &p);
		path_write_both(dp, (uint32_t)id, 0);
	}
out:
	dp_unlock(dp);
	return err;
}

static void info_of(struct semi_dp *dp, uint32_t id, struct semi_port_info *out)
{
	out->id = id;
	out->port = *dp_port(dp, id);
	out->path.word = __atomic_load_n(dp_pathw(dp, dp->ctl->bank & 1, id), __ATOMIC_ACQUIRE);
}

int semi_port_get(struct semi_dp *dp, const char *name, struct semi_port_info *out)
{
	int id = lookup(dp, name);

	if (id < 0)
		return id;
	info_of(dp, (uint32_t)id, out);
	return 0;
}

int semi_port_list(struct semi_dp *dp, struct semi_port_info *out, int max)
{
	uint32_t hwm = dp->ctl->port_hwm;
	int n = 0;

	if (hwm > SEMI_MAX_PORTS)
		hwm = SEMI_MAX_PORTS;
	for (uint32_t id = 0; id < hwm; id++) {
		if (!(dp_port(dp, id)->flags & SEMI_PORT_F_USED))
			continue;
		if (n < max)
			info_of(dp, id, &out[n]);
		n++;
	}
	return n;
}

int semi_port_learned(struct semi_dp *dp, const char *name, struct semi_learned *out)
{
	int id = lookup(dp, name);
	__u32 key;

	if (id < 0)
		return id;
	key = (__u32)id;
	if (bpf_map_lookup_elem(dp->map_fd[M_LEARNED], &key, out))
		return dp_fail(dp, -errno, "port %s: cannot read learned addresses: %s", name,
			       strerror(errno));
	return 0;
}

int semi_port_del(struct semi_dp *dp, const char *name)
{
	struct semi_port p, zero = {};
	struct semi_port_key key;
	int id, err;

	err = dp_lock(dp);
	if (err)
		return err;
	id = lookup(dp, name);
	if (id < 0) {
		err = id;
		goto out;
	}
	p = *dp_port(dp, (uint32_t)id);
	/* Invisible to the uplink first, then silent, then gone. */
	key_of(&p, &key);
	cache_remove(dp, (uint32_t)id, &key);
	bpf_map_delete_elem(dp->map_fd[M_PORT_IDX], &key);
	path_write_both(dp, (uint32_t)id, 0);
	dev_remove(dp, p.vf_ifindex, (uint32_t)id, SEMI_ROLE_VF);
	dev_remove(dp, p.tap_ifindex, (uint32_t)id, SEMI_ROLE_TAP);
	err = port_write(dp, (uint32_t)id, &zero);
	if (!err)
		recompute_hwm(dp);
out:
	dp_unlock(dp);
	return err;
}

int semi_port_refresh(struct semi_dp *dp, const char *name)
{
	struct semi_port p;
	int id, err;

	err = dp_lock(dp);
	if (err)
		return err;
	id = lookup(dp, name);
	if (id < 0) {
		err = id;
		goto out;
	}
	p = *dp_port(dp, (uint32_t)id);
	err = dev_install(dp, (uint32_t)id, SEMI_ROLE_VF, p.vf_ifindex, &p.flags,
			  SEMI_PORT_F_VF_XDP);
	if (!err)
		err = dev_install(dp, (uint32_t)id, SEMI_ROLE_TAP, p.tap_ifindex, &p.flags,
				  SEMI_PORT_F_TAP_XDP);
	if (!err)
		err = port_write(dp, (uint32_t)id, &p);
out:
	dp_unlock(dp);
	return err;
}

static int check_pathw(struct semi_dp *dp, const char *name, union semi_pathw w)
{
	if (w.rx >= SEMI_PATH_MAX || (w.tx & ~SEMI_TX_ALL) ||
	    (w.flags & ~SEMI_PATHF_TUNNEL_IN) || w.spare)
		return dp_fail(dp, -EINVAL, "port %s: bad path word %#x", name, w.word);
	return 0;
}

int semi_path_set_id(struct semi_dp *dp, uint32_t id, union semi_pathw w)
{
	int err;

	if (id >= SEMI_MAX_PORTS || !(dp_port(dp, id)->flags & SEMI_PORT_F_USED))
		return dp_fail(dp, -ENOENT, "no port with id %u in instance %s", id,
			       dp->instance);
	err = check_pathw(dp, dp_port(dp, id)->name, w);
	if (err)
		return err;
	err = dp_lock(dp);
	if (err)
		return err;
	/* The one store the datapath sees. */
	__atomic_store_n(dp_pathw(dp, dp->ctl->bank & 1, id), w.word, __ATOMIC_RELEASE);
	dp_unlock(dp);
	return 0;
}

int semi_path_set(struct semi_dp *dp, const char *name, union semi_pathw w)
{
	int id = lookup(dp, name);

	return id < 0 ? id : semi_path_set_id(dp, (uint32_t)id, w);
}

int semi_path_set_bulk(struct semi_dp *dp, const struct semi_path_change *ch, size_t n)
{
	uint32_t live, shadow, hwm;
	int *ids, err;

	if (n == 0)
		return 0;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	err = dp_lock(dp);
	if (err)
		goto out_free;
	/* All or nothing: validate every change before touching anything. */
	for (size_t i = 0; i < n; i++) {
		ids[i] = lookup(dp, ch[i].name);
		if (ids[i] < 0) {
			err = ids[i];
			goto out;
		}
		err = check_pathw(dp, ch[i].name, ch[i].path);
		if (err)
			goto out;
	}
	live = dp->ctl->bank & 1;
	shadow = live ^ 1;
	hwm = dp->ctl->port_hwm;
	for (uint32_t id = 0; id < hwm && id < SEMI_MAX_PORTS; id++)
		__atomic_store_n(dp_pathw(dp, shadow, id),
				 __atomic_load_n(dp_pathw(dp, live, id), __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(dp_pathw(dp, shadow, (uint32_t)ids[i]), ch[i].path.word,
				 __ATOMIC_RELAXED);
	/* The one store that makes every change live at once. */
	__atomic_store_n(&dp->ctl->bank, shadow, __ATOMIC_RELEASE);
out:
	dp_unlock(dp);
out_free:
	free(ids);
	return err;
}
