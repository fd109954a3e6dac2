// SPDX-License-Identifier: GPL-2.0
/*
 * Host bridge: static FDB entries (AF_BRIDGE RTM_NEWNEIGH / RTM_DELNEIGH
 * with NTF_MASTER, as `bridge fdb add|replace|del ... master static`) and
 * bridge-port flags (AF_BRIDGE RTM_SETLINK with IFLA_PROTINFO, as `bridge
 * link set`).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

#define VLAN_MAX	4094
#define FDB_LIST_RETRIES 5

/* "52:54:00:12:34:56" or "52:54:00:12:34:56 vlan 10" */
static const char *fdb_key(char *buf, size_t size,
			   const uint8_t mac[NETCFG_ETH_ALEN], uint16_t vlan)
{
	char m[NETCFG_MAC_STRLEN];

	netcfg_mac_str(mac, m);
	if (vlan)
		snprintf(buf, size, "%s vlan %u", m, vlan);
	else
		snprintf(buf, size, "%s", m);
	return buf;
}

struct nl_msg *netcfg__fdb_msg(int type, int nlflags, int ifindex,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       uint16_t vlan)
{
	struct ndmsg ndm = {
		.ndm_family = AF_BRIDGE,
		.ndm_ifindex = ifindex,
		.ndm_state = NUD_NOARP,		/* "static": forwards, no ageing */
		.ndm_flags = NTF_MASTER,	/* the bridge's table, not the port's */
	};
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(type, nlflags);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, NDA_LLADDR, NETCFG_ETH_ALEN, mac) < 0 ||
	    (vlan && nla_put_u16(msg, NDA_VLAN, vlan) < 0)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Name of the bridge a port belongs to, for messages; "?" if unknown. */
static const char *bridge_name(struct netcfg *nc, int master, char *buf)
{
	char extack[NETCFG_EXTACK_LEN];
	struct netcfg_link br;

	/* The lookup must not clobber the failure being reported. */
	memcpy(extack, nc->extack, sizeof(extack));
	if (master > 0 && netcfg_link_get(nc, master, &br) == 0)
		memcpy(buf, br.name, NETCFG_IFNAMSIZ);
	else
		snprintf(buf, NETCFG_IFNAMSIZ, "?");
	memcpy(nc->extack, extack, sizeof(extack));
	return buf;
}

/*
 * Resolve a bridge port for an FDB or port-flag operation.  Returns 0,
 * -ENODEV (no such device) or -ENOTCONN (not a bridge port) with the
 * message left for the caller to word, or another -errno with a message.
 */
static int port_lookup(struct netcfg *nc, const char *port,
		       struct netcfg_link *l)
{
	int err = netcfg_link_get_by_name(nc, port, l);

	if (err)
		return err;
	if (strcmp(l->port_kind, "bridge") || l->master <= 0)
		return -ENOTCONN;
	return 0;
}

int netcfg_fdb_set(struct netcfg *nc, const char *port,
		   const uint8_t mac[NETCFG_ETH_ALEN], uint16_t vlan,
		   unsigned int flags)
{
	const char *verb = flags & NETCFG_FDB_REPLACE ? "replace" : "add";
	int nlflags = NLM_F_CREATE |
		      (flags & NETCFG_FDB_REPLACE ? NLM_F_REPLACE : NLM_F_EXCL);
	char key[40], br[NETCFG_IFNAMSIZ];
	struct netcfg_link l;
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	fdb_key(key, sizeof(key), mac, vlan);
	err = netcfg__check_name(nc, port, "cannot add FDB entry");
	if (err)
		return err;
	if (vlan > VLAN_MAX)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot %s FDB entry %s -> %s: VLAN %u is out of range (1-%d)",
				    verb, key, port, vlan, VLAN_MAX);
	if (flags & ~NETCFG_FDB_REPLACE)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot %s FDB entry %s -> %s: unknown flags %#x",
				    verb, key, port, flags);
	err = port_lookup(nc, port, &l);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot %s FDB entry %s -> %s: no device %s",
				    verb, key, port, port);
	if (err == -ENOTCONN)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot %s FDB entry %s -> %s: %s is not a bridge port",
				    verb, key, port, port);
	if (err)
		return err;

	msg = netcfg__fdb_msg(RTM_NEWNEIGH, nlflags, l.ifindex, mac, vlan);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot %s FDB entry %s -> %s: out of memory",
				    verb, key, port);
	err = netcfg__request(nc, msg, NULL, NULL);
	nlmsg_free(msg);
	if (err == -EEXIST)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot add FDB entry %s -> %s on %s: the bridge already has an entry for %s (replace it instead)",
				    key, port, bridge_name(nc, l.master, br), key);
	if (err == -EINVAL && vlan && !nc->extack[0])
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot %s FDB entry %s -> %s on %s: VLAN %u is not configured on %s (is VLAN filtering on for %s?)",
				    verb, key, port, bridge_name(nc, l.master, br),
				    vlan, port, br);
	if (err)
		return netcfg__fail_sys(nc, err,
					"cannot %s FDB entry %s -> %s on %s",
					verb, key, port,
					bridge_name(nc, l.master, br));
	pr_debug("FDB %s -> %s: static entry %sed", key, port,
		 flags & NETCFG_FDB_REPLACE ? "replac" : "add");
	return 0;
}

int netcfg_fdb_del(struct netcfg *nc, const char *port,
		   const uint8_t mac[NETCFG_ETH_ALEN], uint16_t vlan)
{
	char key[40], br[NETCFG_IFNAMSIZ];
	struct netcfg_link l;
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	fdb_key(key, sizeof(key), mac, vlan);
	err = netcfg__check_name(nc, port, "cannot remove FDB entry");
	if (err)
		return err;
	if (vlan > VLAN_MAX)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot remove FDB entry %s -> %s: VLAN %u is out of range (1-%d)",
				    key, port, vlan, VLAN_MAX);
	/*
	 * The bridge flushes a port's entries when the port leaves it or
	 * goes away, so an absent port has no entry: that is success.
	 */
	err = port_lookup(nc, port, &l);
	if (err == -ENODEV || err == -ENOTCONN) {
		netcfg__clear_error(nc);
		pr_debug("FDB %s -> %s: nothing to remove (%s)", key, port,
			 err == -ENODEV ? "no such device" : "not a bridge port");
		return 0;
	}
	if (err)
		return err;

	msg = netcfg__fdb_msg(RTM_DELNEIGH, 0, l.ifindex, mac, vlan);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot remove FDB entry %s -> %s: out of memory",
				    key, port);
	err = netcfg__request(nc, msg, NULL, NULL);
	nlmsg_free(msg);
	if (err == -ENOENT) {
		netcfg__clear_error(nc);
		pr_debug("FDB %s -> %s: no such entry, nothing to remove",
			 key, port);
		return 0;
	}
	if (err)
		return netcfg__fail_sys(nc, err,
					"cannot remove FDB entry %s -> %s on %s",
					key, port, bridge_name(nc, l.master, br));
	pr_debug("FDB %s -> %s: entry removed", key, port);
	return 0;
}

int netcfg__fdb_parse(struct nlmsghdr *nlh, struct netcfg_fdb_entry *e)
{
	static const struct nla_policy policy[NDA_MAX + 1] = {
		[NDA_VLAN]   = { .type = NLA_U16 },
		[NDA_MASTER] = { .type = NLA_U32 },
	};
	struct nlattr *tb[NDA_MAX + 1];
	struct ndmsg *ndm;

	memset(e, 0, sizeof(*e));
	if (nlh->nlmsg_type != RTM_NEWNEIGH ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)))
		return -EINVAL;
	ndm = nlmsg_data(nlh);
	if (ndm->ndm_family != AF_BRIDGE)
		return -EINVAL;
	if (nlmsg_parse(nlh, sizeof(*ndm), tb, NDA_MAX, policy) < 0)
		return -EINVAL;
	if (!tb[NDA_LLADDR] || nla_len(tb[NDA_LLADDR]) != NETCFG_ETH_ALEN)
		return -EINVAL;
	memcpy(e->mac, nla_data(tb[NDA_LLADDR]), NETCFG_ETH_ALEN);
	if (tb[NDA_VLAN])
		e->vlan = nla_get_u16(tb[NDA_VLAN]);
	if (tb[NDA_MASTER])
		e->master = (int)nla_get_u32(tb[NDA_MASTER]);
	e->ifindex = ndm->ndm_ifindex;
	e->state = ndm->ndm_state;
	e->flags = ndm->ndm_flags;
	return 0;
}

struct fdb_list {
	int bridge;			/* 0: any */
	const uint8_t *mac;		/* NULL: any */
	struct netcfg_fdb_entry *v;
	size_t n, cap;
};

static int fdb_list_cb(struct nlmsghdr *nlh, void *arg)
{
	struct fdb_list *fl = arg;
	struct netcfg_fdb_entry e;

	if (netcfg__fdb_parse(nlh, &e) < 0)
		return 0;
	if (fl->mac && memcmp(e.mac, fl->mac, NETCFG_ETH_ALEN))
		return 0;
	if (fl->bridge && e.master != fl->bridge && e.ifindex != fl->bridge)
		return 0;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? 2 * fl->cap : 16;
		struct netcfg_fdb_entry *v = realloc(fl->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		fl->v = v;
		fl->cap = cap;
	}
	fl->v[fl->n++] = e;
	return 0;
}

int netcfg_fdb_list(struct netcfg *nc, const char *bridge,
		    const uint8_t *mac, struct netcfg_fdb_entry **out)
{
	struct ndmsg ndm = { .ndm_family = AF_BRIDGE };
	struct fdb_list fl = { .mac = mac };
	struct netcfg_link br;
	struct nl_msg *msg;
	int err, tries;

	netcfg__clear_error(nc);
	*out = NULL;
	if (bridge) {
		err = netcfg_link_get_by_name(nc, bridge, &br);
		if (err == -ENODEV)
			return netcfg__fail(nc, NETCFG_LOG_WARN, err,
					    "cannot list the FDB of %s: no device %s",
					    bridge, bridge);
		if (err)
			return err;
		if (strcmp(br.kind, "bridge"))
			return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
					    "cannot list the FDB of %s: %s is not a bridge",
					    bridge, bridge);
		fl.bridge = br.ifindex;
	}

	for (tries = 0; tries < FDB_LIST_RETRIES; tries++) {
		msg = nlmsg_alloc_simple(RTM_GETNEIGH, NLM_F_DUMP);
		if (!msg || nlmsg_append(msg, &ndm, sizeof(ndm),
					 NLMSG_ALIGNTO) < 0) {
			nlmsg_free(msg);
			err = -ENOMEM;
			break;
		}
		fl.n = 0;
		err = netcfg__request(nc, msg, fdb_list_cb, &fl);
		nlmsg_free(msg);
		if (err != -EINTR)	/* interrupted by a change: again */
			break;
	}
	if (err) {
		free(fl.v);
		return netcfg__fail_sys(nc, err, "cannot list the FDB%s%s",
					bridge ? " of " : "",
					bridge ? bridge : "");
	}
	if (!fl.n) {
		free(fl.v);
		fl.v = NULL;
	}
	*out = fl.v;
	return (int)fl.n;
}

/* ------------------------------------------------------------------ */
/* Bridge port flags                                                  */
/* ------------------------------------------------------------------ */

static const struct {
	unsigned int bit;
	int attr;
	const char *name;		/* as `bridge link` spells it */
} brport_flags[] = {
	{ NETCFG_BRPORT_FLOOD,		IFLA_BRPORT_UNICAST_FLOOD, "flood" },
	{ NETCFG_BRPORT_MCAST_FLOOD,	IFLA_BRPORT_MCAST_FLOOD, "mcast_flood" },
	{ NETCFG_BRPORT_BCAST_FLOOD,	IFLA_BRPORT_BCAST_FLOOD, "bcast_flood" },
	{ NETCFG_BRPORT_LEARNING,	IFLA_BRPORT_LEARNING, "learning" },
};
#define N_BRPORT_FLAGS (sizeof(brport_flags) / sizeof(brport_flags[0]))

struct nl_msg *netcfg__brport_msg(int ifindex, unsigned int mask,
				  unsigned int flags)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_BRIDGE,
		.ifi_index = ifindex,
	};
	struct nlattr *nest;
	struct nl_msg *msg;
	size_t i;

	msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		goto err_free_msg;
	/* The bridge takes IFLA_PROTINFO as port attributes only if nested. */
	nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
	if (!nest)
		goto err_free_msg;
	for (i = 0; i < N_BRPORT_FLAGS; i++) {
		if (!(mask & brport_flags[i].bit))
			continue;
		if (nla_put_u8(msg, brport_flags[i].attr,
			       !!(flags & brport_flags[i].bit)) < 0)
			goto err_free_msg;
	}
	nla_nest_end(msg, nest);
	return msg;

err_free_msg:
	nlmsg_free(msg);
	return NULL;
}

unsigned int netcfg__brport_parse(struct nlattr *slave_data)
{
	struct nlattr *tb[IFLA_BRPORT_MAX + 1];
	unsigned int flags = 0;
	size_t i;

	if (nla_parse_nested(tb, IFLA_BRPORT_MAX, slave_data, NULL) < 0)
		return 0;
	for (i = 0; i < N_BRPORT_FLAGS; i++) {
		struct nlattr *a = tb[brport_flags[i].attr];

		if (a && nla_len(a) >= 1 && nla_get_u8(a))
			flags |= brport_flags[i].bit;
	}
	return flags;
}

/* "flood off, bcast_flood on" for messages */
static const char *brport_desc(char *buf, size_t size, unsigned int mask,
			       unsigned int flags)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < N_BRPORT_FLAGS && n < size; i++) {
		if (!(mask & brport_flags[i].bit))
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s %s",
				      n ? ", " : "", brport_flags[i].name,
				      flags & brport_flags[i].bit ? "on" : "off");
	}
	return buf;
}

int netcfg_brport_set_flags(struct netcfg *nc, const char *port,
			    unsigned int mask, unsigned int flags)
{
	char desc[96];
	struct netcfg_link l;
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	err = netcfg__check_name(nc, port, "cannot set bridge port flags");
	if (err)
		return err;
	if (!mask || (mask & ~NETCFG_BRPORT_ALL))
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot set bridge port flags of %s: invalid mask %#x",
				    port, mask);
	brport_desc(desc, sizeof(desc), mask, flags);
	err = port_lookup(nc, port, &l);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot set %s on bridge port %s: no device %s",
				    desc, port, port);
	if (err == -ENOTCONN)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot set %s on bridge port %s: %s is not a bridge port",
				    desc, port, port);
	if (err)
		return err;

	msg = netcfg__brport_msg(l.ifindex, mask, flags);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot set %s on bridge port %s: out of memory",
				    desc, port);
	err = netcfg__request(nc, msg, NULL, NULL);
	nlmsg_free(msg);
	if (err)
		return netcfg__fail_sys(nc, err,
					"cannot set %s on bridge port %s", desc,
					port);
	pr_debug("bridge port %s: %s", port, desc);
	return 0;
}

struct brport_get {
	bool is_port;
	unsigned int flags;
};

static int brport_get_cb(struct nlmsghdr *nlh, void *arg)
{
	static const struct nla_policy info_policy[IFLA_INFO_MAX + 1] = {
		[IFLA_INFO_SLAVE_KIND] = { .type = NLA_STRING },
		[IFLA_INFO_SLAVE_DATA] = { .type = NLA_NESTED },
	};
	struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	struct brport_get *g = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlh, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 ||
	    !tb[IFLA_LINKINFO] ||
	    nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO],
			     info_policy) < 0)
		return 0;
	if (!info[IFLA_INFO_SLAVE_KIND] ||
	    nla_strcmp(info[IFLA_INFO_SLAVE_KIND], "bridge") ||
	    !info[IFLA_INFO_SLAVE_DATA])
		return 0;
	g->is_port = true;
	g->flags = netcfg__brport_parse(info[IFLA_INFO_SLAVE_DATA]);
	return 0;
}

int netcfg_brport_get_flags(struct netcfg *nc, const char *port,
			    unsigned int *flags)
{
	struct brport_get g = { 0 };
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	err = netcfg__check_name(nc, port, "cannot read bridge port flags");
	if (err)
		return err;
	msg = netcfg__link_get_msg(0, port, RTEXT_FILTER_SKIP_STATS);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot read bridge port flags of %s: out of memory",
				    port);
	err = netcfg__request(nc, msg, brport_get_cb, &g);
	nlmsg_free(msg);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot read bridge port flags of %s: no device %s",
				    port, port);
	if (err)
		return netcfg__fail_sys(nc, err,
					"cannot read bridge port flags of %s",
					port);
	if (!g.is_port)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot read bridge port flags of %s: %s is not a bridge port",
				    port, port);
	*flags = g.flags;
	return 0;
}
