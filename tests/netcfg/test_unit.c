// SPDX-License-Identifier: GPL-2.0
/*
 * netcfg unit tests (cmocka): the pure parts, no kernel.
 *
 *  - announce frames byte for byte (RARP as QEMU sends it, gratuitous ARP,
 *    IPv6 unsolicited NA with its checksum; reference bytes from scapy)
 *  - request builders (FDB, bridge-port flags, VF) parsed back attribute by
 *    attribute, and the reply parsers (link, FDB entry, VF list)
 *  - the link-event engine fed synthetic notifications and resync dumps
 *  - next hop: the route and neighbour requests, and their replies parsed
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void quiet(enum netcfg_log_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned int v;

		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Frames                                                             */
/* ------------------------------------------------------------------ */

static void test_rarp_qemu(void **state)
{
	/* QEMU net/announce.c announce_self_create(), field by field */
	static const uint8_t want[60] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* broadcast */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,	/* source = VM */
		0x80, 0x35,				/* ETH_P_RARP */
		0x00, 0x01,				/* htype ethernet */
		0x08, 0x00,				/* ptype IPv4 */
		0x06, 0x04,				/* hlen, plen */
		0x00, 0x03,				/* request reverse */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,	/* sender HW */
		0x00, 0x00, 0x00, 0x00,			/* sender IP */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,	/* target HW */
		0x00, 0x00, 0x00, 0x00,			/* target IP */
		/* 18 bytes of padding, zero */
	};
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX];

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(netcfg_announce_build_rarp(buf, sizeof(buf), vm_mac, 0), 60);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_rarp_vlan(void **state)
{
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX], plain[60];

	assert_int_equal(netcfg_announce_build_rarp(plain, sizeof(plain), vm_mac, 0), 60);
	assert_int_equal(netcfg_announce_build_rarp(buf, sizeof(buf), vm_mac, 100), 64);
	/* the tag goes after the source MAC; the rest is the untagged frame */
	assert_memory_equal(buf, plain, 12);
	assert_int_equal(buf[12], 0x81);
	assert_int_equal(buf[13], 0x00);
	assert_int_equal(buf[14], 0x00);
	assert_int_equal(buf[15], 100);
	assert_memory_equal(buf + 16, plain + 12, 48);

	/* 4094 is the top VLAN; its TCI keeps PCP 0 */
	assert_int_equal(netcfg_announce_build_rarp(buf, sizeof(buf), vm_mac, 4094), 64);
	assert_int_equal(buf[14], 0x0f);
	assert_int_equal(buf[15], 0xfe);
}

static void test_garp(void **state)
{
	static const uint8_t want[60] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
		0x08, 0x06,				/* ETH_P_ARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
		0x00, 0x01,				/* request */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,	/* sender HW */
		192, 0, 2, 10,				/* sender IP */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* target HW */
		192, 0, 2, 10,				/* target IP = sender */
	};
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX];
	struct in_addr ip;

	inet_pton(AF_INET, "192.0.2.10", &ip);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(netcfg_announce_build_garp(buf, sizeof(buf), vm_mac, &ip, 0), 60);
	assert_memory_equal(buf, want, sizeof(want));

	assert_int_equal(netcfg_announce_build_garp(buf, sizeof(buf), vm_mac, &ip, 7), 64);
	assert_memory_equal(buf + 16, want + 12, 48);
}

/* Reference frames made with scapy: Ether/IPv6/ICMPv6ND_NA(O=1)/TLLA */
#define NA_REF "33330000000152540012345686dd6000000000203aff20010db8000000" \
	"000000000000000010ff020000000000000000000000000001880074512000000020" \
	"010db80000000000000000000000100201525400123456"
#define NA_REF_VLAN "3333000000015254001234568100006486dd6000000000203afffe80" \
	"000000000000505400fffe123456ff0200000000000000000000000000018800cb68" \
	"20000000fe80000000000000505400fffe1234560201525400123456"

/* Independent one's complement sum over the pseudo header and payload. */
static uint16_t ref_csum(const uint8_t *ip6, const uint8_t *icmp, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 8; i < 40; i += 2)	/* src and dst */
		sum += (uint32_t)(ip6[i] << 8 | ip6[i + 1]);
	sum += (uint32_t)len + 58;
	for (i = 0; i < len; i += 2)
		sum += (uint32_t)(icmp[i] << 8 | icmp[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_na(void **state)
{
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX], want[128];
	struct in6_addr ip;
	size_t n;

	inet_pton(AF_INET6, "2001:db8::10", &ip);
	n = unhex(NA_REF, want);
	assert_int_equal(n, 86);
	assert_int_equal(netcfg_announce_build_na(buf, sizeof(buf), vm_mac, &ip, 0), 86);
	assert_memory_equal(buf, want, n);
	/* checksum field included, the sum over everything is 0xffff */
	assert_int_equal(ref_csum(buf + 14, buf + 54, 32), 0xffff);
	assert_int_equal(buf[54], 136);		/* neighbour advertisement */
	assert_int_equal(buf[58], 0x20);	/* override, not solicited */
	assert_int_equal(buf[21], 255);		/* hop limit */

	inet_pton(AF_INET6, "fe80::5054:ff:fe12:3456", &ip);
	n = unhex(NA_REF_VLAN, want);
	assert_int_equal(n, 90);
	assert_int_equal(netcfg_announce_build_na(buf, sizeof(buf), vm_mac, &ip, 100), 90);
	assert_memory_equal(buf, want, n);
}

static void test_build_errors(void **state)
{
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX];
	struct in6_addr ip6 = { .s6_addr = { 0x20, 0x01, [15] = 1 } };
	struct in_addr ip4 = { .s_addr = htonl(0x0a000001) };

	assert_int_equal(netcfg_announce_build_rarp(buf, 59, vm_mac, 0), -ENOSPC);
	assert_int_equal(netcfg_announce_build_rarp(buf, 63, vm_mac, 5), -ENOSPC);
	assert_int_equal(netcfg_announce_build_rarp(buf, 60, vm_mac, 0), 60);
	assert_int_equal(netcfg_announce_build_rarp(buf, sizeof(buf), vm_mac, 4095), -EINVAL);
	assert_int_equal(netcfg_announce_build_garp(buf, 10, vm_mac, &ip4, 0), -ENOSPC);
	assert_int_equal(netcfg_announce_build_garp(buf, sizeof(buf), vm_mac, NULL, 0), -EINVAL);
	assert_int_equal(netcfg_announce_build_na(buf, 85, vm_mac, &ip6, 0), -ENOSPC);
	assert_int_equal(netcfg_announce_build_na(buf, 89, vm_mac, &ip6, 1), -ENOSPC);
	assert_int_equal(netcfg_announce_build_na(buf, sizeof(buf), vm_mac, NULL, 0), -EINVAL);
	assert_int_equal(netcfg_announce_build_na(NULL, 100, vm_mac, &ip6, 0), -EINVAL);
}

static void test_icmp6_csum(void **state)
{
	/* RFC 1071 style check: a zero payload from :: to :: sums to ~58+len */
	struct in6_addr z = { 0 };
	uint8_t icmp[8] = { 0 };

	assert_int_equal(netcfg__icmp6_csum(&z, &z, icmp, sizeof(icmp)),
			 (uint16_t)~(58 + 8));
	/* odd length pads with a zero byte */
	icmp[0] = 0x12;
	assert_int_equal(netcfg__icmp6_csum(&z, &z, icmp, 1),
			 (uint16_t)~(58 + 1 + 0x1200));
}

static void test_mac(void **state)
{
	uint8_t mac[6];
	char buf[NETCFG_MAC_STRLEN];

	assert_int_equal(netcfg_mac_parse("52:54:00:12:34:56", mac), 0);
	assert_memory_equal(mac, vm_mac, 6);
	assert_int_equal(netcfg_mac_parse("52-54-00-AB-cd-EF", mac), 0);
	assert_string_equal(netcfg_mac_str(mac, buf), "52:54:00:ab:cd:ef");
	assert_int_equal(netcfg_mac_parse("52:54:00:12:34", mac), -EINVAL);
	assert_int_equal(netcfg_mac_parse("52:54:00:12:34:5g", mac), -EINVAL);
	assert_int_equal(netcfg_mac_parse("52:54:00:12:34:566", mac), -EINVAL);
	assert_int_equal(netcfg_mac_parse("5254.0012.3456.78", mac), -EINVAL);
	assert_int_equal(netcfg_mac_parse(NULL, mac), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Link messages                                                      */
/* ------------------------------------------------------------------ */

struct fake_link {
	int type, family, ifindex;
	const char *name;
	unsigned int flags, mtu, master;
	uint8_t operstate, carrier;
	const char *kind, *port_kind;
	const uint8_t *mac;
	uint32_t event;			/* IFLA_EVENT, 0 none */
};

static struct nl_msg *link_msg(const struct fake_link *f)
{
	struct ifinfomsg ifi = {
		.ifi_family = (unsigned char)f->family,
		.ifi_index = f->ifindex,
		.ifi_flags = f->flags,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(f->type ? f->type : RTM_NEWLINK, 0);

	assert_non_null(msg);
	assert_int_equal(nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO), 0);
	if (f->name)
		nla_put_string(msg, IFLA_IFNAME, f->name);
	if (f->mac)
		nla_put(msg, IFLA_ADDRESS, 6, f->mac);
	nla_put_u32(msg, IFLA_MTU, f->mtu ? f->mtu : 1500);
	nla_put_u8(msg, IFLA_OPERSTATE, f->operstate);
	nla_put_u8(msg, IFLA_CARRIER, f->carrier);
	if (f->master)
		nla_put_u32(msg, IFLA_MASTER, f->master);
	if (f->event)
		nla_put_u32(msg, IFLA_EVENT, f->event);
	if (f->kind || f->port_kind) {
		struct nlattr *li = nla_nest_start(msg, IFLA_LINKINFO);

		if (f->kind)
			nla_put_string(msg, IFLA_INFO_KIND, f->kind);
		if (f->port_kind)
			nla_put_string(msg, IFLA_INFO_SLAVE_KIND, f->port_kind);
		nla_nest_end(msg, li);
	}
	return msg;
}

static void test_link_parse(void **state)
{
	struct fake_link f = {
		.ifindex = 7, .name = "vf0", .flags = IFF_UP | IFF_LOWER_UP,
		.mtu = 9000, .master = 3, .operstate = IF_OPER_UP, .carrier = 1,
		.kind = "veth", .port_kind = "bridge", .mac = vm_mac,
	};
	struct nl_msg *msg = link_msg(&f);
	struct netcfg_link l;

	assert_int_equal(netcfg__link_parse(nlmsg_hdr(msg), &l), 0);
	assert_int_equal(l.ifindex, 7);
	assert_string_equal(l.name, "vf0");
	assert_memory_equal(l.mac, vm_mac, 6);
	assert_int_equal(l.mtu, 9000);
	assert_int_equal(l.flags, IFF_UP | IFF_LOWER_UP);
	assert_int_equal(l.operstate, IF_OPER_UP);
	assert_true(l.carrier);
	assert_int_equal(l.master, 3);
	assert_string_equal(l.kind, "veth");
	assert_string_equal(l.port_kind, "bridge");
	nlmsg_free(msg);

	/* a physical device: no linkinfo, no master */
	f = (struct fake_link){ .ifindex = 2, .name = "eth0" };
	msg = link_msg(&f);
	assert_int_equal(netcfg__link_parse(nlmsg_hdr(msg), &l), 0);
	assert_string_equal(l.kind, "");
	assert_int_equal(l.master, 0);
	assert_false(l.carrier);
	nlmsg_free(msg);

	/* not a link message */
	msg = nlmsg_alloc_simple(RTM_NEWNEIGH, 0);
	assert_int_equal(netcfg__link_parse(nlmsg_hdr(msg), &l), -EINVAL);
	nlmsg_free(msg);

	assert_string_equal(netcfg_operstate_str(IF_OPER_UP), "up");
	assert_string_equal(netcfg_operstate_str(IF_OPER_LOWERLAYERDOWN), "lowerlayerdown");
	assert_string_equal(netcfg_operstate_str(200), "invalid");
}

static void test_link_get_msg(void **state)
{
	struct nl_msg *msg = netcfg__link_get_msg(0, "eth0", RTEXT_FILTER_VF);
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;

	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_GETLINK);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*ifi), tb, IFLA_MAX, NULL), 0);
	ifi = nlmsg_data(nlmsg_hdr(msg));
	assert_int_equal(ifi->ifi_index, 0);
	assert_string_equal(nla_data(tb[IFLA_IFNAME]), "eth0");
	assert_int_equal(nla_get_u32(tb[IFLA_EXT_MASK]), RTEXT_FILTER_VF);
	nlmsg_free(msg);
}

/* ------------------------------------------------------------------ */
/* Next hop                                                           */
/* ------------------------------------------------------------------ */

static void test_nexthop_msgs(void **state)
{
	struct in_addr dst = { .s_addr = htonl(0xc6336402) };	/* 198.51.100.2 */
	struct nlattr *tb[RTA_MAX + 1];
	struct nl_msg *msg;
	struct ndmsg *ndm;
	struct rtmsg *rtm;

	msg = netcfg__route_get_msg(AF_INET, &dst);
	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_GETROUTE);
	rtm = nlmsg_data(nlmsg_hdr(msg));
	assert_int_equal(rtm->rtm_family, AF_INET);
	assert_int_equal(rtm->rtm_dst_len, 32);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*rtm), tb, RTA_MAX, NULL), 0);
	assert_int_equal(nla_len(tb[RTA_DST]), 4);
	assert_memory_equal(nla_data(tb[RTA_DST]), &dst, 4);
	nlmsg_free(msg);
	assert_null(netcfg__route_get_msg(AF_PACKET, &dst));

	/* "ip neigh replace ADDR dev DEV use": resolve, no state of ours */
	msg = netcfg__neigh_msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_INET, 7, &dst,
				NTF_USE);
	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_flags, NLM_F_CREATE | NLM_F_REPLACE);
	ndm = nlmsg_data(nlmsg_hdr(msg));
	assert_int_equal(ndm->ndm_family, AF_INET);
	assert_int_equal(ndm->ndm_ifindex, 7);
	assert_int_equal(ndm->ndm_flags, NTF_USE);
	assert_int_equal(ndm->ndm_state, NUD_NONE);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*ndm), tb, NDA_MAX, NULL), 0);
	assert_memory_equal(nla_data(tb[NDA_DST]), &dst, 4);
	assert_null(tb[NDA_LLADDR]);
	nlmsg_free(msg);
}

static void test_nexthop_parse(void **state)
{
	struct in_addr gw = { .s_addr = htonl(0xc6336401) }, src = { .s_addr = htonl(0xc6336402) };
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_type = RTN_UNICAST };
	struct ndmsg ndm = { .ndm_family = AF_INET, .ndm_ifindex = 3, .ndm_state = NUD_STALE };
	struct netcfg_nexthop nh = { .family = AF_INET };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWROUTE, 0);

	nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO);
	nla_put_u32(msg, RTA_OIF, 3);
	nla_put(msg, RTA_GATEWAY, 4, &gw);
	nla_put(msg, RTA_PREFSRC, 4, &src);
	assert_int_equal(netcfg__route_parse(nlmsg_hdr(msg), &nh), 0);
	assert_int_equal(nh.ifindex, 3);
	assert_int_equal(nh.route_type, RTN_UNICAST);
	assert_memory_equal(&nh.gateway.v4, &gw, 4);
	assert_memory_equal(&nh.prefsrc.v4, &src, 4);
	nlmsg_free(msg);

	/* an IPv6 route is not the answer to an IPv4 question */
	nh.family = AF_INET6;
	msg = nlmsg_alloc_simple(RTM_NEWROUTE, 0);
	nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO);
	assert_int_equal(netcfg__route_parse(nlmsg_hdr(msg), &nh), -EINVAL);
	nlmsg_free(msg);

	msg = nlmsg_alloc_simple(RTM_NEWNEIGH, 0);
	nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO);
	nla_put(msg, NDA_DST, 4, &gw);
	nla_put(msg, NDA_LLADDR, 6, vm_mac);
	assert_int_equal(netcfg__neigh_parse(nlmsg_hdr(msg), &nh), 0);
	assert_int_equal(nh.state, NUD_STALE);
	assert_memory_equal(nh.mac, vm_mac, 6);
	nlmsg_free(msg);
}

/* ------------------------------------------------------------------ */
/* FDB, bridge port, VF                                               */
/* ------------------------------------------------------------------ */

static void test_fdb_msg(void **state)
{
	struct nlattr *tb[NDA_MAX + 1];
	struct nl_msg *msg;
	struct ndmsg *ndm;

	msg = netcfg__fdb_msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, 9,
			      vm_mac, 0);
	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_NEWNEIGH);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_flags, NLM_F_CREATE | NLM_F_REPLACE);
	ndm = nlmsg_data(nlmsg_hdr(msg));
	assert_int_equal(ndm->ndm_family, AF_BRIDGE);
	assert_int_equal(ndm->ndm_ifindex, 9);
	assert_int_equal(ndm->ndm_state, NUD_NOARP);	/* static, not local */
	assert_int_equal(ndm->ndm_flags, NTF_MASTER);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*ndm), tb, NDA_MAX, NULL), 0);
	assert_int_equal(nla_len(tb[NDA_LLADDR]), 6);
	assert_memory_equal(nla_data(tb[NDA_LLADDR]), vm_mac, 6);
	assert_null(tb[NDA_VLAN]);
	nlmsg_free(msg);

	msg = netcfg__fdb_msg(RTM_DELNEIGH, 0, 9, vm_mac, 42);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*ndm), tb, NDA_MAX, NULL), 0);
	assert_int_equal(nla_get_u16(tb[NDA_VLAN]), 42);
	nlmsg_free(msg);
}

static void test_fdb_parse(void **state)
{
	struct ndmsg ndm = {
		.ndm_family = AF_BRIDGE, .ndm_ifindex = 5,
		.ndm_state = NUD_REACHABLE, .ndm_flags = NTF_MASTER,
	};
	struct netcfg_fdb_entry e;
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWNEIGH, 0);

	nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO);
	nla_put(msg, NDA_LLADDR, 6, vm_mac);
	nla_put_u16(msg, NDA_VLAN, 10);
	nla_put_u32(msg, NDA_MASTER, 4);
	assert_int_equal(netcfg__fdb_parse(nlmsg_hdr(msg), &e), 0);
	assert_memory_equal(e.mac, vm_mac, 6);
	assert_int_equal(e.vlan, 10);
	assert_int_equal(e.ifindex, 5);
	assert_int_equal(e.master, 4);
	assert_int_equal(e.state, NUD_REACHABLE);
	assert_int_equal(e.flags, NTF_MASTER);
	nlmsg_free(msg);

	/* an IPv4 neighbour is not an FDB entry */
	ndm.ndm_family = AF_INET;
	msg = nlmsg_alloc_simple(RTM_NEWNEIGH, 0);
	nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO);
	nla_put(msg, NDA_LLADDR, 6, vm_mac);
	assert_int_equal(netcfg__fdb_parse(nlmsg_hdr(msg), &e), -EINVAL);
	nlmsg_free(msg);
}

static void test_brport_msg(void **state)
{
	struct nlattr *tb[IFLA_MAX + 1], *pt[IFLA_BRPORT_MAX + 1];
	struct nl_msg *msg;
	struct ifinfomsg *ifi;

	msg = netcfg__brport_msg(12, NETCFG_BRPORT_FLOOD | NETCFG_BRPORT_BCAST_FLOOD |
				 NETCFG_BRPORT_LEARNING, NETCFG_BRPORT_LEARNING);
	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_SETLINK);
	ifi = nlmsg_data(nlmsg_hdr(msg));
	assert_int_equal(ifi->ifi_family, AF_BRIDGE);
	assert_int_equal(ifi->ifi_index, 12);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(*ifi), tb, IFLA_MAX, NULL), 0);
	assert_non_null(tb[IFLA_PROTINFO]);
	/* the bridge ignores a PROTINFO that is not flagged nested */
	assert_true(tb[IFLA_PROTINFO]->nla_type & NLA_F_NESTED);
	assert_int_equal(nla_parse_nested(pt, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], NULL), 0);
	assert_int_equal(nla_get_u8(pt[IFLA_BRPORT_UNICAST_FLOOD]), 0);
	assert_int_equal(nla_get_u8(pt[IFLA_BRPORT_BCAST_FLOOD]), 0);
	assert_int_equal(nla_get_u8(pt[IFLA_BRPORT_LEARNING]), 1);
	assert_null(pt[IFLA_BRPORT_MCAST_FLOOD]);	/* not in the mask */
	/* and the reader turns the same attributes back into flags */
	assert_int_equal(netcfg__brport_parse(tb[IFLA_PROTINFO]), NETCFG_BRPORT_LEARNING);
	nlmsg_free(msg);
}

static void test_vf_msg(void **state)
{
	struct netcfg_vf cfg = {
		.vlan = 100, .qos = 3, .spoofchk = 1, .trust = 0,
		.link_state = NETCFG_VF_LINK_DISABLE,
	};
	struct nlattr *tb[IFLA_MAX + 1], *vt[IFLA_VF_MAX + 1], *a;
	struct nl_msg *msg;
	int rem, n = 0;

	memcpy(cfg.mac, vm_mac, 6);
	msg = netcfg__vf_msg(4, 3, &cfg, NETCFG_VF_MAC | NETCFG_VF_VLAN |
			     NETCFG_VF_SPOOFCHK | NETCFG_VF_TRUST |
			     NETCFG_VF_LINK_STATE);
	assert_non_null(msg);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_SETLINK);
	assert_int_equal(((struct ifinfomsg *)nlmsg_data(nlmsg_hdr(msg)))->ifi_index, 4);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb,
				     IFLA_MAX, NULL), 0);
	nla_for_each_nested(a, tb[IFLA_VFINFO_LIST], rem) {
		const struct ifla_vf_mac *m;
		const struct ifla_vf_vlan *v;
		const struct ifla_vf_spoofchk *s;
		const struct ifla_vf_trust *t;
		const struct ifla_vf_link_state *ls;

		assert_int_equal(nla_type(a), IFLA_VF_INFO);
		assert_int_equal(nla_parse_nested(vt, IFLA_VF_MAX, a, NULL), 0);
		m = nla_data(vt[IFLA_VF_MAC]);
		v = nla_data(vt[IFLA_VF_VLAN]);
		s = nla_data(vt[IFLA_VF_SPOOFCHK]);
		t = nla_data(vt[IFLA_VF_TRUST]);
		ls = nla_data(vt[IFLA_VF_LINK_STATE]);
		assert_int_equal(nla_len(vt[IFLA_VF_MAC]), sizeof(*m));
		assert_int_equal(m->vf, 3);
		assert_memory_equal(m->mac, vm_mac, 6);
		assert_int_equal(v->vf, 3);
		assert_int_equal(v->vlan, 100);
		assert_int_equal(v->qos, 3);
		assert_int_equal(s->vf, 3);
		assert_int_equal(s->setting, 1);
		assert_int_equal(t->setting, 0);
		assert_int_equal(ls->link_state, IFLA_VF_LINK_STATE_DISABLE);
		n++;
	}
	assert_int_equal(n, 1);
	nlmsg_free(msg);

	/* one setting per request: only that attribute */
	msg = netcfg__vf_msg(4, 0, &cfg, NETCFG_VF_TRUST);
	nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL);
	a = nla_data(tb[IFLA_VFINFO_LIST]);
	assert_int_equal(nla_parse_nested(vt, IFLA_VF_MAX, a, NULL), 0);
	assert_non_null(vt[IFLA_VF_TRUST]);
	assert_null(vt[IFLA_VF_MAC]);
	assert_null(vt[IFLA_VF_VLAN]);
	nlmsg_free(msg);
}

/* An RTM_NEWLINK for a PF with n VFs, VF i having MAC ..:i and VLAN 10+i */
static struct nl_msg *pf_msg(unsigned int n, bool with_num)
{
	struct ifinfomsg ifi = { .ifi_index = 2 };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	struct nlattr *list;
	unsigned int i;

	nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	nla_put_string(msg, IFLA_IFNAME, "eth0");
	if (with_num)
		nla_put_u32(msg, IFLA_NUM_VF, n);
	list = nla_nest_start(msg, IFLA_VFINFO_LIST);
	for (i = 0; i < n; i++) {
		struct nlattr *info = nla_nest_start(msg, IFLA_VF_INFO);
		struct ifla_vf_mac m = { .vf = i, .mac = { 0x02, 0, 0, 0, 0, (uint8_t)i } };
		struct ifla_vf_vlan v = { .vf = i, .vlan = 10 + i, .qos = 0 };
		struct ifla_vf_spoofchk s = { .vf = i, .setting = 1 };
		struct ifla_vf_trust t = { .vf = i, .setting = (uint32_t)-1 };
		struct ifla_vf_link_state ls = { .vf = i, .link_state = 1 };

		nla_put(msg, IFLA_VF_MAC, sizeof(m), &m);
		nla_put(msg, IFLA_VF_VLAN, sizeof(v), &v);
		nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(s), &s);
		nla_put(msg, IFLA_VF_TRUST, sizeof(t), &t);
		nla_put(msg, IFLA_VF_LINK_STATE, sizeof(ls), &ls);
		nla_nest_end(msg, info);
	}
	nla_nest_end(msg, list);
	return msg;
}

static void test_vf_parse(void **state)
{
	struct netcfg__vf_info info;
	struct nl_msg *msg = pf_msg(4, true);

	assert_int_equal(netcfg__vf_parse(nlmsg_hdr(msg), 2, &info), 0);
	assert_int_equal(info.num_vf, 4);
	assert_true(info.found);
	assert_int_equal(info.vf.mac[5], 2);
	assert_int_equal(info.vf.vlan, 12);
	assert_int_equal(info.vf.spoofchk, 1);
	assert_int_equal(info.vf.trust, -1);	/* driver does not report */
	assert_int_equal(info.vf.link_state, NETCFG_VF_LINK_ENABLE);

	assert_int_equal(netcfg__vf_parse(nlmsg_hdr(msg), 4, &info), 0);
	assert_false(info.found);
	nlmsg_free(msg);

	/* a veth: no IFLA_NUM_VF at all means 0 VFs */
	msg = pf_msg(0, false);
	assert_int_equal(netcfg__vf_parse(nlmsg_hdr(msg), 0, &info), 0);
	assert_int_equal(info.num_vf, 0);
	assert_false(info.found);
	nlmsg_free(msg);
}

/* ------------------------------------------------------------------ */
/* Link event engine                                                  */
/* ------------------------------------------------------------------ */

#define MAX_SEEN 16
struct seen {
	int n;
	struct netcfg_link_event ev[MAX_SEEN];
};

static void record(const struct netcfg_link_event *e, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_SEEN);
	s->ev[s->n++] = *e;
}

static void feed(struct netcfg_events *ev, const struct fake_link *f, uint32_t seq)
{
	struct nl_msg *msg = link_msg(f);

	nlmsg_hdr(msg)->nlmsg_seq = seq;
	assert_int_equal(netcfg__events_handle(ev, nlmsg_hdr(msg)), 0);
	nlmsg_free(msg);
}

static void feed_done(struct netcfg_events *ev, uint32_t seq)
{
	struct nl_msg *msg = nlmsg_alloc_simple(NLMSG_DONE, NLM_F_MULTI);
	int zero = 0;

	nlmsg_append(msg, &zero, sizeof(zero), NLMSG_ALIGNTO);
	nlmsg_hdr(msg)->nlmsg_seq = seq;
	assert_int_equal(netcfg__events_handle(ev, nlmsg_hdr(msg)), 0);
	nlmsg_free(msg);
}

static void test_events(void **state)
{
	struct seen s = { 0 };
	struct netcfg_events *ev = netcfg__events_new(record, &s);
	struct fake_link vf = {
		.ifindex = 10, .name = "vf0", .flags = IFF_UP,
		.operstate = IF_OPER_DOWN, .carrier = 0, .kind = "veth",
	};
	struct fake_link tap = { .ifindex = 11, .name = "tap0", .flags = IFF_UP,
				 .operstate = IF_OPER_UP, .carrier = 1 };

	assert_non_null(ev);
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].type, NETCFG_LINK_ADDED);
	assert_string_equal(s.ev[0].link.name, "vf0");

	/* the same state again (a stats-only notification): nothing */
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 1);

	/* carrier and operstate come up */
	vf.carrier = 1;
	vf.operstate = IF_OPER_UP;
	vf.flags |= IFF_LOWER_UP | IFF_RUNNING;
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[1].type, NETCFG_LINK_CHANGED);
	assert_int_equal(s.ev[1].changes, NETCFG_LINK_CHG_CARRIER |
			 NETCFG_LINK_CHG_OPERSTATE | NETCFG_LINK_CHG_FLAGS);
	assert_true(s.ev[1].link.carrier);

	/* a feature change (a veth's peer got XDP): nothing else differs */
	vf.event = IFLA_EVENT_FEATURES;
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ev[2].type, NETCFG_LINK_CHANGED);
	assert_int_equal(s.ev[2].changes, NETCFG_LINK_CHG_FEATURES);
	/* other events (a notification of peers, say) are no change */
	vf.event = IFLA_EVENT_NOTIFY_PEERS;
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 3);
	vf.event = 0;
	s.n = 2;

	/* rename */
	vf.name = "vm1-vf";
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ev[2].changes, NETCFG_LINK_CHG_NAME);
	assert_string_equal(s.ev[2].old_name, "vf0");
	assert_string_equal(s.ev[2].link.name, "vm1-vf");

	/* joins a bridge: master changes; the AF_BRIDGE twin is ignored */
	vf.master = 5;
	feed(ev, &vf, 0);
	assert_int_equal(s.ev[3].changes, NETCFG_LINK_CHG_MASTER);
	vf.family = AF_BRIDGE;
	vf.type = RTM_DELLINK;		/* "port left the bridge", not "gone" */
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 4);
	vf.family = AF_UNSPEC;
	vf.type = 0;

	/* deleted: REMOVED with the last known name */
	feed(ev, &tap, 0);
	assert_int_equal(s.n, 5);
	vf.type = RTM_DELLINK;
	vf.name = "vm1-vf";
	feed(ev, &vf, 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.ev[5].type, NETCFG_LINK_REMOVED);
	assert_int_equal(s.ev[5].link.ifindex, 10);
	assert_string_equal(s.ev[5].link.name, "vm1-vf");

	netcfg_events_close(ev);
}

static void test_events_resync(void **state)
{
	struct seen s = { 0 };
	struct netcfg_events *ev = netcfg__events_new(record, &s);
	struct fake_link a = { .ifindex = 20, .name = "a", .carrier = 1 };
	struct fake_link b = { .ifindex = 21, .name = "b", .carrier = 1 };
	struct fake_link c = { .ifindex = 22, .name = "c", .carrier = 0 };
	/* same bucket as a (1024 buckets): chains must work */
	struct fake_link d = { .ifindex = 20 + 1024, .name = "d" };

	feed(ev, &a, 0);
	feed(ev, &b, 0);
	feed(ev, &d, 0);
	assert_int_equal(s.n, 3);

	/*
	 * Notifications were lost: the dump shows b lost carrier, c is new,
	 * a and d are gone.  A multicast in the middle of the dump counts as
	 * seen too.
	 */
	netcfg__events_resync_begin(ev, 77);
	b.carrier = 0;
	feed(ev, &b, 77);
	feed(ev, &c, 0);
	feed_done(ev, 12345);		/* someone else's DONE: ignored */
	assert_int_equal(s.n, 5);
	feed_done(ev, 77);
	assert_int_equal(s.n, 7);
	assert_int_equal(s.ev[3].type, NETCFG_LINK_CHANGED);
	assert_int_equal(s.ev[3].changes, NETCFG_LINK_CHG_CARRIER);
	assert_int_equal(s.ev[4].type, NETCFG_LINK_ADDED);
	assert_string_equal(s.ev[4].link.name, "c");
	assert_int_equal(s.ev[5].type, NETCFG_LINK_REMOVED);
	assert_int_equal(s.ev[6].type, NETCFG_LINK_REMOVED);
	assert_true((s.ev[5].link.ifindex == 20 && s.ev[6].link.ifindex == 1044) ||
		    (s.ev[5].link.ifindex == 1044 && s.ev[6].link.ifindex == 20));

	/* b and c survive: a later change of b is still reported */
	b.carrier = 1;
	feed(ev, &b, 0);
	assert_int_equal(s.n, 8);
	netcfg_events_close(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rarp_qemu),
		cmocka_unit_test(test_rarp_vlan),
		cmocka_unit_test(test_garp),
		cmocka_unit_test(test_na),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_icmp6_csum),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_link_parse),
		cmocka_unit_test(test_link_get_msg),
		cmocka_unit_test(test_nexthop_msgs),
		cmocka_unit_test(test_nexthop_parse),
		cmocka_unit_test(test_fdb_msg),
		cmocka_unit_test(test_fdb_parse),
		cmocka_unit_test(test_brport_msg),
		cmocka_unit_test(test_vf_msg),
		cmocka_unit_test(test_vf_parse),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_events_resync),
	};

	netcfg_set_print(quiet);
	return cmocka_run_group_tests_name("netcfg", tests, NULL, NULL);
}
