// SPDX-License-Identifier: GPL-2.0
/*
 * Announce frames: what tells the fabric's switches (and the neighbours'
 * ARP / ND caches) that a VM's MAC now lives behind this host.
 *
 * The builders are pure functions over a byte buffer, written field by
 * field in network byte order, so the unit tests can compare them byte for
 * byte; the sender only looks the device up and hands them to a raw
 * AF_PACKET socket.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "netcfg/internal.h"

#define ETH_MIN_PAYLOAD	46		/* 60-byte frame without FCS */
#define VLAN_MAX	4094
#define ARP_HTYPE_ETHER	1
#define ARP_OP_REQUEST	1
#define ARP_OP_RREQUEST	3		/* RARP "request reverse" */
#define ARP_LEN		28
#define IP6_HDR_LEN	40
#define ND_NA_LEN	32		/* header, target, TLLA option */
#define ICMP6_NA	136
#define NA_FLAG_OVERRIDE 0x20		/* first flags byte: R=0x80 S=0x40 O=0x20 */
#define ND_OPT_TLLA	2

static const uint8_t bcast_mac[NETCFG_ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t all_nodes_mac[NETCFG_ETH_ALEN] = {
	0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
};
static const struct in6_addr all_nodes = {
	.s6_addr = { 0xff, 0x02, [15] = 0x01 },
};

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t len)
{
	memcpy(p, src, len);
	return p + len;
}

/* Ethernet header, with an 802.1Q tag if vlan; returns the payload. */
static uint8_t *put_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src,
			uint16_t vlan, uint16_t type)
{
	p = put_bytes(p, dst, NETCFG_ETH_ALEN);
	p = put_bytes(p, src, NETCFG_ETH_ALEN);
	if (vlan) {
		p = put16(p, ETH_P_8021Q);
		p = put16(p, vlan);	/* PCP 0, DEI 0 */
	}
	return put16(p, type);
}

static size_t eth_hlen(uint16_t vlan)
{
	return vlan ? ETH_HLEN + 4 : ETH_HLEN;
}

/* Total length of a frame carrying `payload` bytes, padded to minimum. */
static size_t frame_len(uint16_t vlan, size_t payload)
{
	return eth_hlen(vlan) +
	       (payload < ETH_MIN_PAYLOAD ? ETH_MIN_PAYLOAD : payload);
}

static int check_args(const uint8_t *buf, size_t size, size_t need,
		      uint16_t vlan)
{
	if (!buf)
		return -EINVAL;
	if (vlan > VLAN_MAX)
		return -EINVAL;
	if (size < need)
		return -ENOSPC;
	return 0;
}

/* ARP-format body shared by RARP and gratuitous ARP. */
static uint8_t *put_arp(uint8_t *p, uint16_t op, const uint8_t *sha,
			const void *spa, const uint8_t *tha, const void *tpa)
{
	p = put16(p, ARP_HTYPE_ETHER);
	p = put16(p, ETH_P_IP);
	*p++ = NETCFG_ETH_ALEN;
	*p++ = 4;
	p = put16(p, op);
	p = put_bytes(p, sha, NETCFG_ETH_ALEN);
	p = put_bytes(p, spa, 4);
	p = put_bytes(p, tha, NETCFG_ETH_ALEN);
	return put_bytes(p, tpa, 4);
}

int netcfg_announce_build_rarp(uint8_t *buf, size_t size,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       uint16_t vlan)
{
	static const uint8_t zero_ip[4];
	size_t len = frame_len(vlan, ARP_LEN);
	uint8_t *p;
	int err;

	err = check_args(buf, size, len, vlan);
	if (err)
		return err;
	memset(buf, 0, len);
	p = put_eth(buf, bcast_mac, mac, vlan, ETH_P_RARP);
	put_arp(p, ARP_OP_RREQUEST, mac, zero_ip, mac, zero_ip);
	return (int)len;
}

int netcfg_announce_build_garp(uint8_t *buf, size_t size,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       const struct in_addr *ip, uint16_t vlan)
{
	static const uint8_t zero_mac[NETCFG_ETH_ALEN];
	size_t len = frame_len(vlan, ARP_LEN);
	uint8_t *p;
	int err;

	if (!ip)
		return -EINVAL;
	err = check_args(buf, size, len, vlan);
	if (err)
		return err;
	memset(buf, 0, len);
	p = put_eth(buf, bcast_mac, mac, vlan, ETH_P_ARP);
	/* s_addr is already in network byte order */
	put_arp(p, ARP_OP_REQUEST, mac, &ip->s_addr, zero_mac, &ip->s_addr);
	return (int)len;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

uint16_t netcfg__icmp6_csum(const struct in6_addr *src,
			    const struct in6_addr *dst,
			    const uint8_t *icmp, size_t len)
{
	uint8_t pseudo[8] = {
		(uint8_t)(len >> 24), (uint8_t)(len >> 16),
		(uint8_t)(len >> 8), (uint8_t)len,
		0, 0, 0, IPPROTO_ICMPV6,
	};
	uint32_t sum = 0;

	sum = csum_add(sum, src->s6_addr, 16);
	sum = csum_add(sum, dst->s6_addr, 16);
	sum = csum_add(sum, pseudo, sizeof(pseudo));
	sum = csum_add(sum, icmp, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int netcfg_announce_build_na(uint8_t *buf, size_t size,
			     const uint8_t mac[NETCFG_ETH_ALEN],
			     const struct in6_addr *ip, uint16_t vlan)
{
	size_t len = frame_len(vlan, IP6_HDR_LEN + ND_NA_LEN);
	uint8_t *p, *icmp;
	int err;

	if (!ip)
		return -EINVAL;
	err = check_args(buf, size, len, vlan);
	if (err)
		return err;
	memset(buf, 0, len);
	p = put_eth(buf, all_nodes_mac, mac, vlan, ETH_P_IPV6);

	/* IPv6 header: from the address itself, to all nodes, hop limit 255 */
	*p++ = 0x60;			/* version 6, traffic class 0, flow 0 */
	p += 3;
	p = put16(p, ND_NA_LEN);
	*p++ = IPPROTO_ICMPV6;
	*p++ = 255;
	p = put_bytes(p, ip->s6_addr, 16);
	p = put_bytes(p, all_nodes.s6_addr, 16);

	/* ICMPv6 neighbour advertisement, unsolicited, override */
	icmp = p;
	*p++ = ICMP6_NA;
	*p++ = 0;			/* code */
	p += 2;				/* checksum, below */
	*p++ = NA_FLAG_OVERRIDE;
	p += 3;				/* reserved */
	p = put_bytes(p, ip->s6_addr, 16);
	*p++ = ND_OPT_TLLA;
	*p++ = 1;			/* option length in units of 8 bytes */
	put_bytes(p, mac, NETCFG_ETH_ALEN);

	put16(icmp + 2, netcfg__icmp6_csum(ip, &all_nodes, icmp, ND_NA_LEN));
	return (int)len;
}

/* ------------------------------------------------------------------ */
/* Sender                                                             */
/* ------------------------------------------------------------------ */

static int send_frame(struct netcfg *nc, int ifindex, const uint8_t *frame,
		      size_t len, uint16_t vlan)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = ifindex,
		.sll_halen = NETCFG_ETH_ALEN,
	};
	const uint8_t *type = frame + 2 * NETCFG_ETH_ALEN;
	ssize_t n;

	/* skb->protocol: the outer ethertype, as it is on the wire */
	sll.sll_protocol = vlan ? htons(ETH_P_8021Q) :
			   htons((uint16_t)(type[0] << 8 | type[1]));
	memcpy(sll.sll_addr, frame, NETCFG_ETH_ALEN);
	do {
		n = sendto(nc->pkt_fd, frame, len, 0, (struct sockaddr *)&sll,
			   sizeof(sll));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

int netcfg_announce_send(struct netcfg *nc, const char *dev,
			 const struct netcfg_announce *a)
{
	uint8_t frame[NETCFG_ANNOUNCE_FRAME_MAX];
	char m[NETCFG_MAC_STRLEN], ip[INET6_ADDRSTRLEN];
	struct netcfg_link l;
	int sent = 0, len, err;
	size_t i;

	netcfg__clear_error(nc);
	if (!a)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot announce on %s: nothing to announce",
				    dev ? dev : "?");
	netcfg_mac_str(a->mac, m);
	err = netcfg__check_name(nc, dev, "cannot announce");
	if (err)
		return err;
	if (a->vlan > VLAN_MAX)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot announce %s on %s: VLAN %u is out of range (1-%d)",
				    m, dev, a->vlan, VLAN_MAX);
	if ((a->n_ipv4 && !a->ipv4) || (a->n_ipv6 && !a->ipv6))
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot announce %s on %s: address list missing",
				    m, dev);
	err = netcfg_link_get_by_name(nc, dev, &l);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err,
				    "cannot announce %s on %s: no device %s", m,
				    dev, dev);
	if (err)
		return err;
	if (nc->pkt_fd < 0)
		return netcfg__fail(nc, NETCFG_LOG_WARN, nc->pkt_err,
				    "cannot announce %s on %s: no packet socket: %s",
				    m, dev, strerror(-nc->pkt_err));

	if (!(a->flags & NETCFG_ANNOUNCE_NO_RARP)) {
		len = netcfg_announce_build_rarp(frame, sizeof(frame), a->mac,
						 a->vlan);
		err = len < 0 ? len : send_frame(nc, l.ifindex, frame,
						 (size_t)len, a->vlan);
		if (err)
			return netcfg__fail_sys(nc, err,
						"cannot send RARP for %s on %s",
						m, dev);
		sent++;
	}
	for (i = 0; i < a->n_ipv4; i++) {
		len = netcfg_announce_build_garp(frame, sizeof(frame), a->mac,
						 &a->ipv4[i], a->vlan);
		err = len < 0 ? len : send_frame(nc, l.ifindex, frame,
						 (size_t)len, a->vlan);
		if (err)
			return netcfg__fail_sys(nc, err,
						"cannot send gratuitous ARP for %s (%s) on %s",
						inet_ntop(AF_INET, &a->ipv4[i], ip, sizeof(ip)),
						m, dev);
		sent++;
	}
	for (i = 0; i < a->n_ipv6; i++) {
		len = netcfg_announce_build_na(frame, sizeof(frame), a->mac,
					       &a->ipv6[i], a->vlan);
		err = len < 0 ? len : send_frame(nc, l.ifindex, frame,
						 (size_t)len, a->vlan);
		if (err)
			return netcfg__fail_sys(nc, err,
						"cannot send neighbour advertisement for %s (%s) on %s",
						inet_ntop(AF_INET6, &a->ipv6[i], ip, sizeof(ip)),
						m, dev);
		sent++;
	}
	pr_debug("announced %s on %s: %d frame%s", m, dev, sent,
		 sent == 1 ? "" : "s");
	return sent;
}
