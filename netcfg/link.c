// SPDX-License-Identifier: GPL-2.0
/*
 * Link lookup: one RTM_GETLINK, parsed by the same code that parses link
 * events, so a lookup and an event always agree on what a device looks like.
 */
#include <errno.h>
#include <string.h>

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

_Static_assert(NETCFG_IFNAMSIZ == IFNAMSIZ, "NETCFG_IFNAMSIZ must match IFNAMSIZ");

static const struct nla_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME]	 = { .type = NLA_STRING },
	[IFLA_MTU]	 = { .type = NLA_U32 },
	[IFLA_OPERSTATE] = { .type = NLA_U8 },
	[IFLA_CARRIER]	 = { .type = NLA_U8 },
	[IFLA_MASTER]	 = { .type = NLA_U32 },
	[IFLA_LINKINFO]	 = { .type = NLA_NESTED },
	[IFLA_STATS64]	 = { .minlen = sizeof(struct rtnl_link_stats64) },
};

static const struct nla_policy info_policy[IFLA_INFO_MAX + 1] = {
	[IFLA_INFO_KIND]	= { .type = NLA_STRING },
	[IFLA_INFO_SLAVE_KIND]	= { .type = NLA_STRING },
};

int netcfg__link_parse(struct nlmsghdr *nlh, struct netcfg_link *l)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;

	memset(l, 0, sizeof(*l));
	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EINVAL;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, link_policy) < 0)
		return -EINVAL;

	ifi = nlmsg_data(nlh);
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(l->name, tb[IFLA_IFNAME], sizeof(l->name));
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == NETCFG_ETH_ALEN)
		memcpy(l->mac, nla_data(tb[IFLA_ADDRESS]), NETCFG_ETH_ALEN);
	if (tb[IFLA_MTU])
		l->mtu = nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_OPERSTATE])
		l->operstate = nla_get_u8(tb[IFLA_OPERSTATE]);
	/* Kernels always send IFLA_CARRIER; the flag is the fallback. */
	if (tb[IFLA_CARRIER])
		l->carrier = nla_get_u8(tb[IFLA_CARRIER]) != 0;
	else
		l->carrier = (ifi->ifi_flags & IFF_LOWER_UP) != 0;
	if (tb[IFLA_MASTER])
		l->master = (int)nla_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_STATS64]) {
		struct rtnl_link_stats64 st;

		memcpy(&st, nla_data(tb[IFLA_STATS64]), sizeof(st));
		l->tx_dropped = st.tx_dropped;
		l->have_stats = true;
	}
	if (tb[IFLA_LINKINFO]) {
		struct nlattr *info[IFLA_INFO_MAX + 1];

		if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO],
				     info_policy) < 0)
			return -EINVAL;
		if (info[IFLA_INFO_KIND])
			nla_strlcpy(l->kind, info[IFLA_INFO_KIND],
				    sizeof(l->kind));
		if (info[IFLA_INFO_SLAVE_KIND])
			nla_strlcpy(l->port_kind, info[IFLA_INFO_SLAVE_KIND],
				    sizeof(l->port_kind));
	}
	return 0;
}

struct nl_msg *netcfg__link_get_msg(int ifindex, const char *name,
				    uint32_t ext_mask)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = name ? 0 : ifindex,
	};
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    (name && nla_put_string(msg, IFLA_IFNAME, name) < 0) ||
	    nla_put_u32(msg, IFLA_EXT_MASK, ext_mask) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int link_cb(struct nlmsghdr *nlh, void *arg)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	return netcfg__link_parse(nlh, arg);
}

static int link_get(struct netcfg *nc, int ifindex, const char *name,
		    struct netcfg_link *out, uint32_t ext_mask)
{
	char what[64];
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	if (name)
		snprintf(what, sizeof(what), "%s", name);
	else
		snprintf(what, sizeof(what), "ifindex %d", ifindex);
	if (name) {
		err = netcfg__check_name(nc, name, "cannot look up device");
		if (err)
			return err;
	} else if (ifindex <= 0) {
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot look up device: invalid ifindex %d",
				    ifindex);
	}

	msg = netcfg__link_get_msg(ifindex, name, ext_mask);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot look up device %s: out of memory",
				    what);
	memset(out, 0, sizeof(*out));
	err = netcfg__request(nc, msg, link_cb, out);
	nlmsg_free(msg);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_DEBUG, err,
				    "no device %s", what);
	if (err)
		return netcfg__fail_sys(nc, err, "cannot look up device %s",
					what);
	if (out->ifindex <= 0)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EBADMSG,
				    "cannot look up device %s: no answer from the kernel",
				    what);
	return 0;
}

int netcfg_link_get(struct netcfg *nc, int ifindex, struct netcfg_link *out)
{
	return link_get(nc, ifindex, NULL, out, RTEXT_FILTER_SKIP_STATS);
}

int netcfg_link_get_by_name(struct netcfg *nc, const char *name,
			    struct netcfg_link *out)
{
	if (!name)
		return netcfg__check_name(nc, name, "cannot look up device");
	return link_get(nc, 0, name, out, RTEXT_FILTER_SKIP_STATS);
}

int netcfg_link_get_stats(struct netcfg *nc, int ifindex, struct netcfg_link *out)
{
	return link_get(nc, ifindex, NULL, out, 0);
}

const char *netcfg_operstate_str(uint8_t operstate)
{
	static const char *const names[] = {
		[IF_OPER_UNKNOWN]		= "unknown",
		[IF_OPER_NOTPRESENT]		= "notpresent",
		[IF_OPER_DOWN]			= "down",
		[IF_OPER_LOWERLAYERDOWN]	= "lowerlayerdown",
		[IF_OPER_TESTING]		= "testing",
		[IF_OPER_DORMANT]		= "dormant",
		[IF_OPER_UP]			= "up",
	};

	if (operstate < sizeof(names) / sizeof(names[0]) && names[operstate])
		return names[operstate];
	return "invalid";
}
