// SPDX-License-Identifier: GPL-2.0
/*
 * The next hop towards an address and its link-layer address: one
 * RTM_GETROUTE (as `ip route get ADDR`), then one RTM_GETNEIGH on the
 * route's device (as `ip neigh get ADDR dev DEV`).  When the kernel has no
 * usable neighbour entry yet, one RTM_NEWNEIGH with NTF_USE asks it to
 * resolve one (as `ip neigh replace ADDR dev DEV use`): the kernel sends
 * its ARP request or neighbour solicitation and the caller asks again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

struct nl_msg *netcfg__route_get_msg(int family, const void *dst)
{
	struct rtmsg rtm = {
		.rtm_family = (unsigned char)family,
		.rtm_dst_len = (unsigned char)(addr_len(family) * 8),
	};
	struct nl_msg *msg;

	if (!addr_len(family))
		return NULL;
	msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, (int)addr_len(family), dst) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

struct nl_msg *netcfg__neigh_msg(int type, int nlflags, int family, int ifindex,
				 const void *dst, uint8_t ntf_flags)
{
	struct ndmsg ndm = {
		.ndm_family = (unsigned char)family,
		.ndm_ifindex = ifindex,
		.ndm_flags = ntf_flags,
		/* NTF_USE: no state of ours; the kernel resolves from NONE */
		.ndm_state = type == RTM_NEWNEIGH ? NUD_NONE : 0,
	};
	struct nl_msg *msg;

	if (!addr_len(family))
		return NULL;
	msg = nlmsg_alloc_simple(type, nlflags);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, NDA_DST, (int)addr_len(family), dst) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int netcfg__route_parse(struct nlmsghdr *nlh, struct netcfg_nexthop *nh)
{
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return -EINVAL;
	if (nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return -EINVAL;
	rtm = nlmsg_data(nlh);
	alen = addr_len(rtm->rtm_family);
	if (!alen || rtm->rtm_family != nh->family)
		return -EINVAL;
	nh->route_type = rtm->rtm_type;
	if (tb[RTA_OIF])
		nh->ifindex = (int)nla_get_u32(tb[RTA_OIF]);
	if (tb[RTA_GATEWAY] && (size_t)nla_len(tb[RTA_GATEWAY]) == alen)
		memcpy(&nh->gateway, nla_data(tb[RTA_GATEWAY]), alen);
	if (tb[RTA_PREFSRC] && (size_t)nla_len(tb[RTA_PREFSRC]) == alen)
		memcpy(&nh->prefsrc, nla_data(tb[RTA_PREFSRC]), alen);
	return 0;
}

int netcfg__neigh_parse(struct nlmsghdr *nlh, struct netcfg_nexthop *nh)
{
	struct nlattr *tb[NDA_MAX + 1];
	struct ndmsg *ndm;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)))
		return -EINVAL;
	if (nlmsg_parse(nlh, sizeof(*ndm), tb, NDA_MAX, NULL) < 0)
		return -EINVAL;
	ndm = nlmsg_data(nlh);
	nh->state = ndm->ndm_state;
	memset(nh->mac, 0, sizeof(nh->mac));
	if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == NETCFG_ETH_ALEN)
		memcpy(nh->mac, nla_data(tb[NDA_LLADDR]), NETCFG_ETH_ALEN);
	return 0;
}

static int route_cb(struct nlmsghdr *nlh, void *arg)
{
	return netcfg__route_parse(nlh, arg) == 0 ? 0 : -EBADMSG;
}

static int neigh_cb(struct nlmsghdr *nlh, void *arg)
{
	return netcfg__neigh_parse(nlh, arg) == 0 ? 0 : -EBADMSG;
}

/* A neighbour state whose link-layer address may be used now. */
static bool nud_usable(uint16_t state)
{
	return state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_STALE | NUD_DELAY |
			NUD_PROBE);
}

int netcfg_nexthop_get(struct netcfg *nc, int family, const void *dst,
		       struct netcfg_nexthop *out)
{
	char a[INET6_ADDRSTRLEN] = "?";
	const void *hop;
	struct nl_msg *msg;
	int err;

	netcfg__clear_error(nc);
	memset(out, 0, sizeof(*out));
	out->family = family;
	if (!addr_len(family) || !dst)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot find a next hop: address family %d is not IPv4 or "
				    "IPv6", family);
	inet_ntop(family, dst, a, sizeof(a));

	msg = netcfg__route_get_msg(family, dst);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot find the route to %s: out of memory", a);
	err = netcfg__request(nc, msg, route_cb, out);
	nlmsg_free(msg);
	if (err == -ENETUNREACH || err == -EHOSTUNREACH)
		return netcfg__fail(nc, NETCFG_LOG_DEBUG, -ENETUNREACH, "no route to %s", a);
	if (err)
		return netcfg__fail_sys(nc, err, "cannot find the route to %s", a);
	if (out->route_type != RTN_UNICAST || !out->ifindex)
		return netcfg__fail(nc, NETCFG_LOG_DEBUG, -ENETUNREACH,
				    "%s is not reached through a device (route type %u)", a,
				    out->route_type);

	/* On-link: the address itself; through a router: the gateway. */
	hop = memcmp(&out->gateway, &(struct in6_addr){}, addr_len(family)) ? &out->gateway : dst;
	if (hop == dst)
		memcpy(&out->gateway, dst, addr_len(family));
	msg = netcfg__neigh_msg(RTM_GETNEIGH, 0, family, out->ifindex, hop, 0);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot look up the neighbour of %s: out of memory", a);
	err = netcfg__request(nc, msg, neigh_cb, out);
	nlmsg_free(msg);
	if (err && err != -ENOENT)
		return netcfg__fail_sys(nc, err, "cannot look up the neighbour entry of %s", a);
	if (!err && nud_usable(out->state) &&
	    memcmp(out->mac, "\0\0\0\0\0\0", NETCFG_ETH_ALEN))
		return 0;

	/* Nothing usable: ask the kernel to resolve it, and say so. */
	msg = netcfg__neigh_msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, family,
				out->ifindex, hop, NTF_USE);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "cannot resolve the neighbour of %s: out of memory", a);
	err = netcfg__request(nc, msg, NULL, NULL);
	nlmsg_free(msg);
	if (err)
		return netcfg__fail_sys(nc, err, "cannot ask the kernel to resolve %s", a);
	return netcfg__fail(nc, NETCFG_LOG_DEBUG, -EAGAIN,
			    "the link-layer address of %s is not known yet (%s): resolving",
			    a, out->state == NUD_FAILED ? "the last resolution failed" :
			    out->state ? "resolution in progress" : "no neighbour entry");
}
