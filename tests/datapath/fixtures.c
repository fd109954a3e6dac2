// SPDX-License-Identifier: GPL-2.0
/*
 * Datapath fixture table: each case is an input frame run through one
 * program with BPF_PROG_TEST_RUN, and the verdict, the redirect targets (from
 * the decision trace), the frame that comes out and every counter that moved
 * are checked -- and every counter that should not move, did not.
 *
 * Runs inside a network namespace prepared by tests/datapath/test_fixtures.py:
 *   up0 (uplink veth), vf1..vf5 (veths; vf1..vf4 peers take XDP frames,
 *   vf5's does not), tap1..tap4 (taps), stray0 (a veth no port owns),
 *   hold0 (a tap: the instance's hold device, path hold parks frames there).
 *
 * usage: dp-fixtures -i INSTANCE [-l] [-v] [CASE...]
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "loader/log.h"
#include "loader/semi_dp.h"

#define MAXF 9100

enum prog { XDP, TC, PORT };

/* Counters a case can expect to move. */
enum ctr {
	C_END = 0,
	RX_VF, RX_TAP, TX_VF, TX_TAP, TX_LOCAL, REMOTE_SRC, RX_TUNNEL, TUNNEL_IN, TX_RARP, DROP,
	G_FLOOD, G_PASS_HOST, G_XDP_DEFER, G_DROP,
};

struct ctr_exp {
	enum ctr c;
	const char *port;	/* for per-port counters */
	int reason;		/* for DROP / G_DROP */
	int delta;		/* default 1 */
};

struct path_set {
	const char *port;
	int rx;
	int tx;			/* -1: all */
	int flags;		/* enum semi_path_flags */
};

struct frame {
	const char *dst;	/* MAC, or a port name */
	const char *src;
	int vlan;		/* -1 untagged */
	int vlan2;		/* -1; second tag (QinQ) */
	uint16_t type;		/* ethertype after the tags */
	int len;		/* total length; 0: 64 */
	int raw;		/* >0: truncate the frame to this many bytes */
	const char *vx_src;	/* VXLAN from this IPv4 to the host (dst/src: inner) */
	int vni;
};

struct tcase {
	const char *name;
	enum prog prog;
	const char *dev;	/* ingress device (PORT); uplink cases use up0 */
	struct frame f;
	struct path_set paths[4];
	int ret;		/* program return value */
	int verdict;		/* enum semi_verdict */
	int reason;		/* when verdict is DROP */
	const char *port;	/* port the trace names, NULL none */
	const char *targets[6];
	int vlan_out;
	int strip;		/* 1: output is the input without its tag */
	int runt;		/* the kernel may refuse the frame before the program */
	int encap;		/* output: the input in VXLAN to hostB, this VNI */
	int decap;		/* output: the inner frame of the input */
	const char *tunnel;	/* this port's tunnel leads to hostB */
	int no_xdp_tx;		/* the uplink's peer takes no XDP frames (no XDP_TX) */
	const char *learned;	/* afterwards the port has learned this address */
	struct ctr_exp ctrs[8];
};

/* ---- the world the cases run in ---- */

struct port_def {
	const char *name, *mac;
	int vlan;
	const char *vf, *tap;
};

/* vm6's MAC is chosen at start so that it collides with vm1's in the
 * port cache: it is found through the hash. */
static char vm6_mac[18];

static const struct port_def ports[] = {
	{ "vm1", "52:54:00:00:00:01", 0, "vf1", "tap1" },
	{ "vm2", "52:54:00:00:00:02", 0, "vf2", "tap2" },
	{ "vm3", "52:54:00:00:00:03", 100, "vf3", "tap3" },
	{ "vm4", "52:54:00:00:00:04", 100, "vf4", "tap4" },
	{ "vm5", "52:54:00:00:00:05", 0, "vf5", NULL },
	{ "vm6", vm6_mac, 77, NULL, NULL },	/* a VLAN of its own: no floods */
};
#define NPORTS (int)(sizeof(ports) / sizeof(ports[0]))

#define FABRIC "02:00:00:00:0f:01"
#define HOST_MAC "02:00:00:00:0a:01"	/* the uplink's address in the tunnel */
#define PEER_MAC "02:00:00:00:0b:01"
#define HOST_IP "192.0.2.11"
#define PEER_IP "192.0.2.12"
#define PEER_VNI 1000
#define VX(src_, vni_) .vx_src = (src_), .vni = (vni_)
#define TUN_IN SEMI_PATHF_TUNNEL_IN
#define UNKNOWN "52:54:00:00:00:99"
#define BCAST "ff:ff:ff:ff:ff:ff"
#define MCAST6 "33:33:00:00:00:01"
#define MCAST4 "01:00:5e:00:00:fb"

#define PASS_V SEMI_V_PASS
#define DROP_V SEMI_V_DROP
#define REDIR_V SEMI_V_REDIRECT
#define DEFER_V SEMI_V_DEFER
#define UNTAG .vlan = -1, .vlan2 = -1
#define TAG(v) .vlan = (v), .vlan2 = -1
#define IP4 .type = ETH_P_IP
#define IP6 .type = ETH_P_IPV6
#define ARP .type = ETH_P_ARP
#define ONE(c_, p_) { .c = (c_), .port = (p_) }
#define PDROP(p_, r_) { .c = DROP, .port = (p_), .reason = (r_) }
#define GDROP(r_) { .c = G_DROP, .reason = (r_) }

static const struct tcase cases[] = {
	/* ---------------- semi_uplink, XDP ---------------- */
	{ "xdp_ucast_vf_ipv4", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 }, {},
	  XDP_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .ctrs = { ONE(RX_VF, "vm1") } },
	{ "xdp_ucast_vf_ipv6", XDP, NULL, { "vm1", FABRIC, UNTAG, IP6, 128 }, {},
	  XDP_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .ctrs = { ONE(RX_VF, "vm1") } },
	{ "xdp_ucast_vf_arp_reply", XDP, NULL, { "vm2", FABRIC, UNTAG, ARP }, {},
	  XDP_REDIRECT, REDIR_V, 0, "vm2", { "vf2" }, .ctrs = { ONE(RX_VF, "vm2") } },
	{ "xdp_ucast_tap", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TAP, -1 } },
	  XDP_REDIRECT, REDIR_V, 0, "vm1", { "tap1" }, .ctrs = { ONE(RX_TAP, "vm1") } },
	{ "xdp_ucast_both_defers", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_BOTH, -1 } },
	  XDP_PASS, DEFER_V, 0, "vm1", {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	/* The hold device is a tap: XDP leaves held frames to TC. */
	{ "xdp_ucast_hold_defers", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_HOLD, -1 } },
	  XDP_PASS, DEFER_V, 0, "vm1", {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_tagged_hold_defers", XDP, NULL, { "vm3", FABRIC, TAG(100), IP4 },
	  { { "vm3", SEMI_PATH_HOLD, -1 } },
	  XDP_PASS, DEFER_V, 0, "vm3", {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_ucast_none_drops", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_NONE, -1 } },
	  XDP_DROP, DROP_V, SEMI_DROP_PATH_NONE, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_PATH_NONE) } },
	{ "xdp_ucast_tunnel_unconfigured", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TUNNEL, -1 } },
	  XDP_DROP, DROP_V, SEMI_DROP_NO_TUNNEL, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_NO_TUNNEL) } },
	{ "xdp_ucast_vf_without_xdp_defers", XDP, NULL, { "vm5", FABRIC, UNTAG, IP4 }, {},
	  XDP_PASS, DEFER_V, 0, "vm5", {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_ucast_no_tap_device", XDP, NULL, { "vm5", FABRIC, UNTAG, IP4 },
	  { { "vm5", SEMI_PATH_TAP, -1 } },
	  XDP_DROP, DROP_V, SEMI_DROP_NO_TARGET, "vm5", {},
	  .ctrs = { PDROP("vm5", SEMI_DROP_NO_TARGET) } },
	{ "xdp_unknown_ucast_to_host", XDP, NULL, { UNKNOWN, FABRIC, UNTAG, IP4 }, {},
	  XDP_PASS, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "xdp_bcast_defers", XDP, NULL, { BCAST, FABRIC, UNTAG, ARP }, {},
	  XDP_PASS, DEFER_V, 0, NULL, {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_mcast_ipv6_defers", XDP, NULL, { MCAST6, FABRIC, UNTAG, IP6, 90 }, {},
	  XDP_PASS, DEFER_V, 0, NULL, {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_runt_10_bytes", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4, 64, 10 }, {},
	  XDP_DROP, DROP_V, SEMI_DROP_RUNT, NULL, {}, .runt = 1,
	  .ctrs = { GDROP(SEMI_DROP_RUNT) } },
	{ "xdp_runt_13_bytes", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4, 64, 13 }, {},
	  XDP_DROP, DROP_V, SEMI_DROP_RUNT, NULL, {}, .runt = 1,
	  .ctrs = { GDROP(SEMI_DROP_RUNT) } },
	{ "xdp_header_only_14_bytes", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4, 64, 14 }, {},
	  XDP_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .ctrs = { ONE(RX_VF, "vm1") } },
	{ "xdp_bare_tag_header_14_bytes", XDP, NULL, { "vm3", FABRIC, TAG(100), IP4, 64, 14 },
	  {}, XDP_DROP, DROP_V, SEMI_DROP_TRUNC_VLAN, NULL, {},
	  .ctrs = { GDROP(SEMI_DROP_TRUNC_VLAN) } },
	{ "xdp_truncated_tag", XDP, NULL, { "vm3", FABRIC, TAG(100), IP4, 64, 16 }, {},
	  XDP_DROP, DROP_V, SEMI_DROP_TRUNC_VLAN, NULL, {},
	  .ctrs = { GDROP(SEMI_DROP_TRUNC_VLAN) } },
	{ "xdp_tagged_to_vlan_port_vf", XDP, NULL, { "vm3", FABRIC, TAG(100), IP4 }, {},
	  XDP_REDIRECT, REDIR_V, 0, "vm3", { "vf3" }, .strip = 1,
	  .ctrs = { ONE(RX_VF, "vm3") } },
	{ "xdp_tagged_to_vlan_port_tap", XDP, NULL, { "vm4", FABRIC, TAG(100), IP6, 100 },
	  { { "vm4", SEMI_PATH_TAP, -1 } },
	  XDP_REDIRECT, REDIR_V, 0, "vm4", { "tap4" }, .strip = 1,
	  .ctrs = { ONE(RX_TAP, "vm4") } },
	{ "xdp_tagged_vlan_port_none", XDP, NULL, { "vm3", FABRIC, TAG(100), IP4 },
	  { { "vm3", SEMI_PATH_NONE, -1 } },
	  XDP_DROP, DROP_V, SEMI_DROP_PATH_NONE, "vm3", {},
	  .ctrs = { PDROP("vm3", SEMI_DROP_PATH_NONE) } },
	{ "xdp_wrong_vlan_to_host", XDP, NULL, { "vm3", FABRIC, TAG(200), IP4 }, {},
	  XDP_PASS, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "xdp_untagged_for_vlan_port_to_host", XDP, NULL, { "vm3", FABRIC, UNTAG, IP4 }, {},
	  XDP_PASS, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "xdp_tagged_for_untagged_port_to_host", XDP, NULL, { "vm1", FABRIC, TAG(100), IP4 },
	  {}, XDP_PASS, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "xdp_priority_tag_vid0_to_untagged_port", XDP, NULL, { "vm1", FABRIC, TAG(0), IP4 },
	  {}, XDP_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .strip = 1,
	  .ctrs = { ONE(RX_VF, "vm1") } },
	{ "xdp_qinq_to_host", XDP, NULL,
	  { "vm3", FABRIC, .vlan = 100, .vlan2 = 5, .type = ETH_P_IP }, {},
	  XDP_PASS, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "xdp_jumbo_9000_defers", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4, 9000 }, {},
	  XDP_PASS, DEFER_V, 0, "vm1", {}, .ctrs = { ONE(G_XDP_DEFER, NULL) } },

	/* ---------------- semi_uplink, TC twin ---------------- */
	{ "tc_ucast_vf", TC, NULL, { "vm1", FABRIC, UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .ctrs = { ONE(RX_VF, "vm1") } },
	{ "tc_ucast_tap", TC, NULL, { "vm1", FABRIC, UNTAG, IP6, 128 },
	  { { "vm1", SEMI_PATH_TAP, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "tap1" }, .ctrs = { ONE(RX_TAP, "vm1") } },
	{ "tc_ucast_both_one_copy_each", TC, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_BOTH, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "vf1", "tap1" },
	  .ctrs = { ONE(RX_VF, "vm1"), ONE(RX_TAP, "vm1") } },
	/* Held frames are counted in rx.tap: where they are bound for. */
	{ "tc_ucast_hold_to_hold_device", TC, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "hold0" }, .ctrs = { ONE(RX_TAP, "vm1") } },
	{ "tc_tagged_hold_strips", TC, NULL, { "vm4", FABRIC, TAG(100), IP6, 100 },
	  { { "vm4", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm4", { "hold0" }, .strip = 1,
	  .ctrs = { ONE(RX_TAP, "vm4") } },
	/* A port without a tap holds too: the daemon releases into the tunnel. */
	{ "tc_ucast_hold_without_tap", TC, NULL, { "vm5", FABRIC, UNTAG, IP4 },
	  { { "vm5", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm5", { "hold0" }, .ctrs = { ONE(RX_TAP, "vm5") } },
	{ "tc_bcast_hold_copies_to_hold_device", TC, NULL, { BCAST, FABRIC, UNTAG, ARP },
	  { { "vm1", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_OK, PASS_V, 0, NULL, { "hold0", "vf2", "vf5" },
	  .ctrs = { ONE(RX_TAP, "vm1"), ONE(RX_VF, "vm2"), ONE(RX_VF, "vm5"),
		    ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "tc_ucast_none_drops", TC, NULL, { "vm2", FABRIC, UNTAG, IP4 },
	  { { "vm2", SEMI_PATH_NONE, -1 } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_PATH_NONE, "vm2", {},
	  .ctrs = { PDROP("vm2", SEMI_DROP_PATH_NONE) } },
	{ "tc_ucast_vf_without_xdp", TC, NULL, { "vm5", FABRIC, UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm5", { "vf5" }, .ctrs = { ONE(RX_VF, "vm5") } },
	{ "tc_ucast_both_without_tap", TC, NULL, { "vm5", FABRIC, UNTAG, IP4 },
	  { { "vm5", SEMI_PATH_BOTH, -1 } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_NO_TARGET, "vm5", {},
	  .ctrs = { PDROP("vm5", SEMI_DROP_NO_TARGET) } },
	{ "tc_unknown_ucast_to_host", TC, NULL, { UNKNOWN, FABRIC, UNTAG, ARP }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "tc_bcast_arp_every_untagged_port", TC, NULL, { BCAST, FABRIC, UNTAG, ARP }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, { "vf1", "vf2", "vf5" },
	  .ctrs = { ONE(RX_VF, "vm1"), ONE(RX_VF, "vm2"), ONE(RX_VF, "vm5"),
		    ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "tc_bcast_vlan100_only_its_ports", TC, NULL, { BCAST, FABRIC, TAG(100), ARP }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, { "vf3", "vf4" }, .vlan_out = 100, .strip = 1,
	  .ctrs = { ONE(RX_VF, "vm3"), ONE(RX_VF, "vm4"), ONE(G_FLOOD, NULL),
		    ONE(G_PASS_HOST, NULL) } },
	{ "tc_bcast_vlan_without_ports", TC, NULL, { BCAST, FABRIC, TAG(300), ARP }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, {}, .vlan_out = 300, .strip = 1,
	  .ctrs = { ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "tc_mcast_ipv6_every_untagged_port", TC, NULL, { MCAST6, FABRIC, UNTAG, IP6, 90 }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, { "vf1", "vf2", "vf5" },
	  .ctrs = { ONE(RX_VF, "vm1"), ONE(RX_VF, "vm2"), ONE(RX_VF, "vm5"),
		    ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "tc_mcast_ipv4_follows_paths", TC, NULL, { MCAST4, FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TAP, -1 }, { "vm2", SEMI_PATH_BOTH, -1 },
	    { "vm5", SEMI_PATH_NONE, -1 } },
	  TC_ACT_OK, PASS_V, 0, NULL, { "tap1", "vf2", "tap2" },
	  .ctrs = { ONE(RX_TAP, "vm1"), ONE(RX_VF, "vm2"), ONE(RX_TAP, "vm2"),
		    PDROP("vm5", SEMI_DROP_PATH_NONE), ONE(G_FLOOD, NULL),
		    ONE(G_PASS_HOST, NULL) } },
	{ "tc_bcast_from_own_mac_not_reflected", TC, NULL,
	  { BCAST, "52:54:00:00:00:01", UNTAG, .type = 0x8035 }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, { "vf2", "vf5" },
	  .ctrs = { ONE(RX_VF, "vm2"), ONE(RX_VF, "vm5"), ONE(REMOTE_SRC, "vm1"),
		    ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "tc_runt_12_bytes", TC, NULL, { "vm1", FABRIC, UNTAG, IP4, 64, 12 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_RUNT, NULL, {}, .runt = 1,
	  .ctrs = { GDROP(SEMI_DROP_RUNT) } },
	{ "tc_min_frame_60_bytes", TC, NULL, { "vm2", FABRIC, UNTAG, IP4, 60 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "vf2" }, .ctrs = { ONE(RX_VF, "vm2") } },
	{ "tc_truncated_tag", TC, NULL, { "vm3", FABRIC, TAG(100), IP4, 64, 16 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_TRUNC_VLAN, NULL, {},
	  .ctrs = { GDROP(SEMI_DROP_TRUNC_VLAN) } },
	{ "tc_tagged_to_vlan_port", TC, NULL, { "vm3", FABRIC, TAG(100), IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm3", { "vf3" }, .strip = 1,
	  .ctrs = { ONE(RX_VF, "vm3") } },
	{ "tc_tagged_both_strips_once", TC, NULL, { "vm4", FABRIC, TAG(100), IP4 },
	  { { "vm4", SEMI_PATH_BOTH, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm4", { "vf4", "tap4" }, .strip = 1,
	  .ctrs = { ONE(RX_VF, "vm4"), ONE(RX_TAP, "vm4") } },
	{ "tc_wrong_vlan_to_host", TC, NULL, { "vm4", FABRIC, TAG(7), IP4 }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	{ "tc_qinq_to_host", TC, NULL,
	  { "vm3", FABRIC, .vlan = 100, .vlan2 = 5, .type = ETH_P_IP }, {},
	  TC_ACT_OK, PASS_V, 0, NULL, {}, .ctrs = { ONE(G_PASS_HOST, NULL) } },
	/* 3500 bytes: the largest skb BPF_PROG_TEST_RUN builds; 9000-byte
	 * frames through TC are covered live by tests/datapath/test_lab.py. */
	{ "tc_large_3500_vf", TC, NULL, { "vm1", FABRIC, UNTAG, IP4, 3500 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "vf1" }, .ctrs = { ONE(RX_VF, "vm1") } },

	/* ---------------- semi_port (what guests send) ---------------- */
	{ "port_vf_to_uplink", PORT, "vf1", { UNKNOWN, "vm1", UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "up0" }, .learned = "192.0.2.1",
	  .ctrs = { ONE(TX_VF, "vm1") } },
	{ "port_tap_to_uplink_ipv6", PORT, "tap1", { UNKNOWN, "vm1", UNTAG, IP6, 100 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "up0" }, .learned = "2001:db8::1",
	  .ctrs = { ONE(TX_TAP, "vm1") } },
	{ "port_arp_request_floods", PORT, "vf2", { BCAST, "vm2", UNTAG, ARP }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "vf1", "vf5", "up0" }, .learned = "192.0.2.1",
	  .ctrs = { ONE(TX_VF, "vm2"), ONE(RX_VF, "vm1"), ONE(RX_VF, "vm5") } },
	{ "port_vlan_bcast_stays_in_vlan", PORT, "vf3", { BCAST, "vm3", UNTAG, ARP }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm3", { "vf4", "up0" }, .vlan_out = 100,
	  .ctrs = { ONE(TX_VF, "vm3"), ONE(RX_VF, "vm4") } },
	{ "port_vlan_port_tags_to_uplink", PORT, "tap3", { UNKNOWN, "vm3", UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm3", { "up0" }, .vlan_out = 100,
	  .ctrs = { ONE(TX_TAP, "vm3") } },
	/* QEMU's announce through a re-plugged VF is not the guest taking it. */
	{ "port_rarp_through_vf_kept_apart", PORT, "vf1", { BCAST, "vm1", UNTAG, .type = 0x8035 },
	  {}, TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "vf2", "vf5", "up0" },
	  .ctrs = { ONE(TX_RARP, "vm1"), ONE(RX_VF, "vm2"), ONE(RX_VF, "vm5") } },
	{ "port_spoofed_src_mac", PORT, "vf1", { UNKNOWN, "vm2", UNTAG, IP4 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_SPOOF_MAC, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_SPOOF_MAC) } },
	{ "port_spoofed_random_mac_on_tap", PORT, "tap2", { UNKNOWN, "02:de:ad:be:ef:00", UNTAG,
	  IP4 }, {}, TC_ACT_SHOT, DROP_V, SEMI_DROP_SPOOF_MAC, "vm2", {},
	  .ctrs = { PDROP("vm2", SEMI_DROP_SPOOF_MAC) } },
	{ "port_multicast_src_mac", PORT, "vf1", { UNKNOWN, "01:00:5e:00:00:01", UNTAG, IP4 },
	  {}, TC_ACT_SHOT, DROP_V, SEMI_DROP_SPOOF_MAC, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_SPOOF_MAC) } },
	{ "port_guest_tagged_frame", PORT, "vf1", { UNKNOWN, "vm1", TAG(100), IP4 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_SPOOF_VLAN, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_SPOOF_VLAN) } },
	{ "port_vlan_guest_tagged_other_vlan", PORT, "vf3", { UNKNOWN, "vm3", TAG(200), IP4 },
	  {}, TC_ACT_SHOT, DROP_V, SEMI_DROP_SPOOF_VLAN, "vm3", {},
	  .ctrs = { PDROP("vm3", SEMI_DROP_SPOOF_VLAN) } },
	{ "port_truncated_tag", PORT, "vf1", { UNKNOWN, "vm1", TAG(100), IP4, 64, 16 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_TRUNC_VLAN, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_TRUNC_VLAN) } },
	{ "port_hairpin_to_vf", PORT, "vf1", { "vm2", "vm1", UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "vf2" },
	  .ctrs = { ONE(TX_VF, "vm1"), ONE(TX_LOCAL, "vm1"), ONE(RX_VF, "vm2") } },
	{ "port_hairpin_to_tap", PORT, "tap1", { "vm2", "vm1", UNTAG, IP6, 100 },
	  { { "vm2", SEMI_PATH_TAP, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "tap2" },
	  .ctrs = { ONE(TX_TAP, "vm1"), ONE(TX_LOCAL, "vm1"), ONE(RX_TAP, "vm2") } },
	{ "port_hairpin_both", PORT, "vf1", { "vm2", "vm1", UNTAG, IP4 },
	  { { "vm2", SEMI_PATH_BOTH, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "vf2", "tap2" },
	  .ctrs = { ONE(TX_VF, "vm1"), ONE(TX_LOCAL, "vm1"), ONE(RX_VF, "vm2"),
		    ONE(RX_TAP, "vm2") } },
	{ "port_hairpin_to_held_port", PORT, "tap1", { "vm2", "vm1", UNTAG, IP4 },
	  { { "vm2", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "hold0" },
	  .ctrs = { ONE(TX_TAP, "vm1"), ONE(TX_LOCAL, "vm1"), ONE(RX_TAP, "vm2") } },
	{ "port_bcast_floods_to_held_port", PORT, "vf2", { BCAST, "vm2", UNTAG, ARP },
	  { { "vm1", SEMI_PATH_HOLD, -1 } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "hold0", "vf5", "up0" }, .learned = "192.0.2.1",
	  .ctrs = { ONE(TX_VF, "vm2"), ONE(RX_TAP, "vm1"), ONE(RX_VF, "vm5") } },
	{ "port_hairpin_to_port_in_none", PORT, "vf1", { "vm2", "vm1", UNTAG, IP4 },
	  { { "vm2", SEMI_PATH_NONE, -1 } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_PATH_NONE, "vm2", {},
	  .ctrs = { ONE(TX_VF, "vm1"), ONE(TX_LOCAL, "vm1"),
		    PDROP("vm2", SEMI_DROP_PATH_NONE) } },
	{ "port_hairpin_within_vlan", PORT, "vf3", { "vm4", "vm3", UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm4", { "vf4" },
	  .ctrs = { ONE(TX_VF, "vm3"), ONE(TX_LOCAL, "vm3"), ONE(RX_VF, "vm4") } },
	{ "port_no_hairpin_across_vlans", PORT, "vf1", { "vm3", "vm1", UNTAG, IP4 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "up0" }, .ctrs = { ONE(TX_VF, "vm1") } },
	{ "port_frame_to_itself", PORT, "vf1", { "vm1", "vm1", UNTAG, IP4 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_LOOP, "vm1", {},
	  .ctrs = { ONE(TX_VF, "vm1"), PDROP("vm1", SEMI_DROP_LOOP) } },
	{ "port_tx_from_vf_blocked", PORT, "vf1", { UNKNOWN, "vm1", UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TAP, SEMI_TX_TAP } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_TX_BLOCKED, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_TX_BLOCKED) } },
	{ "port_tx_from_tap_blocked", PORT, "tap1", { UNKNOWN, "vm1", UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_VF, SEMI_TX_VF } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_TX_BLOCKED, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_TX_BLOCKED) } },
	{ "port_tx_from_tap_allowed_alone", PORT, "tap1", { UNKNOWN, "vm1", UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TAP, SEMI_TX_TAP } },
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "up0" }, .ctrs = { ONE(TX_TAP, "vm1") } },
	{ "port_device_of_no_port", PORT, "stray0", { UNKNOWN, "vm1", UNTAG, IP4 }, {},
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_NO_PORT, NULL, {},
	  .ctrs = { GDROP(SEMI_DROP_NO_PORT) } },
	{ "port_hairpin_to_missing_tap", PORT, "vf1", { "vm5", "vm1", UNTAG, IP4 },
	  { { "vm5", SEMI_PATH_TAP, -1 } },
	  TC_ACT_SHOT, DROP_V, SEMI_DROP_NO_TARGET, "vm5", {},
	  .ctrs = { ONE(TX_VF, "vm1"), ONE(TX_LOCAL, "vm1"),
		    PDROP("vm5", SEMI_DROP_NO_TARGET) } },
	{ "port_large_3500_to_uplink", PORT, "vf2", { UNKNOWN, "vm2", UNTAG, IP4, 3500 }, {},
	  TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "up0" }, .ctrs = { ONE(TX_VF, "vm2") } },

	{ "xdp_cache_collision_found_by_hash", XDP, NULL, { "vm6", FABRIC, TAG(77), IP4 },
	  { { "vm6", SEMI_PATH_NONE, -1 } }, XDP_DROP, DROP_V, SEMI_DROP_PATH_NONE, "vm6", {},
	  .ctrs = { PDROP("vm6", SEMI_DROP_PATH_NONE) } },
	{ "xdp_cache_holder_still_found", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm6", SEMI_PATH_NONE, -1 } }, XDP_REDIRECT, REDIR_V, 0, "vm1", { "vf1" },
	  .ctrs = { ONE(RX_VF, "vm1") } },

	/* ---------------- tunnel: forwarding during a migration ---------------- */
	{ "xdp_tunnel_encap", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4, 100 },
	  { { "vm1", SEMI_PATH_TUNNEL, 0 } }, XDP_TX, REDIR_V, 0, "vm1", { "up0" },
	  .encap = PEER_VNI, .tunnel = "vm1", .ctrs = { ONE(RX_TUNNEL, "vm1") } },
	{ "xdp_tunnel_encap_defers_without_xdp_tx", XDP, NULL, { "vm1", FABRIC, UNTAG, IP4 },
	  { { "vm1", SEMI_PATH_TUNNEL, 0 } }, XDP_PASS, DEFER_V, 0, "vm1", {},
	  .tunnel = "vm1", .no_xdp_tx = 1, .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "xdp_tunnel_encap_vlan_port", XDP, NULL, { "vm3", FABRIC, TAG(100), IP6, 120 },
	  { { "vm3", SEMI_PATH_TUNNEL, 0 } }, XDP_TX, REDIR_V, 0, "vm3", { "up0" },
	  .encap = PEER_VNI + 100, .tunnel = "vm3", .ctrs = { ONE(RX_TUNNEL, "vm3") } },
	{ "tc_tunnel_encap", TC, NULL, { "vm1", FABRIC, UNTAG, ARP },
	  { { "vm1", SEMI_PATH_TUNNEL, 0 } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm1", { "up0" },
	  .encap = PEER_VNI, .tunnel = "vm1", .ctrs = { ONE(RX_TUNNEL, "vm1") } },
	{ "tc_tunnel_encap_vlan_port", TC, NULL, { "vm4", FABRIC, TAG(100), IP4 },
	  { { "vm4", SEMI_PATH_TUNNEL, 0 } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm4", { "up0" },
	  .encap = PEER_VNI + 100, .tunnel = "vm4", .ctrs = { ONE(RX_TUNNEL, "vm4") } },
	{ "port_hairpin_into_tunnel", PORT, "vf1", { "vm2", "vm1", UNTAG, IP4 },
	  { { "vm2", SEMI_PATH_TUNNEL, 0 } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm2", { "up0" },
	  .encap = PEER_VNI, .tunnel = "vm2",
	  .ctrs = { ONE(TX_VF, "vm1"), ONE(TX_LOCAL, "vm1"), ONE(RX_TUNNEL, "vm2") } },
	{ "tc_bcast_not_into_tunnel", TC, NULL, { BCAST, FABRIC, UNTAG, ARP },
	  { { "vm2", SEMI_PATH_TUNNEL, 0 } }, TC_ACT_OK, PASS_V, 0, NULL, { "vf1", "vf5" },
	  .tunnel = "vm2",
	  .ctrs = { ONE(RX_VF, "vm1"), ONE(RX_VF, "vm5"), PDROP("vm2", SEMI_DROP_FLOOD_TUNNEL),
		    ONE(G_FLOOD, NULL), ONE(G_PASS_HOST, NULL) } },
	{ "xdp_decap_to_incoming_tap", XDP, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 150, VX(PEER_IP, PEER_VNI) },
	  { { "vm1", SEMI_PATH_TAP, SEMI_TX_TAP, TUN_IN } }, XDP_REDIRECT, REDIR_V, 0, "vm1",
	  { "tap1" }, .decap = 1, .ctrs = { ONE(TUNNEL_IN, "vm1"), ONE(RX_TAP, "vm1") } },
	{ "tc_decap_to_incoming_tap", TC, NULL,
	  { "vm2", FABRIC, UNTAG, IP6, 150, VX(PEER_IP, PEER_VNI) },
	  { { "vm2", SEMI_PATH_TAP, SEMI_TX_TAP, TUN_IN } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm2",
	  { "tap2" }, .decap = 1, .ctrs = { ONE(TUNNEL_IN, "vm2"), ONE(RX_TAP, "vm2") } },
	{ "xdp_decap_vlan_port_by_vni", XDP, NULL,
	  { "vm3", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI + 100) },
	  { { "vm3", SEMI_PATH_TAP, -1, TUN_IN } }, XDP_REDIRECT, REDIR_V, 0, "vm3",
	  { "tap3" }, .decap = 1, .ctrs = { ONE(TUNNEL_IN, "vm3"), ONE(RX_TAP, "vm3") } },
	{ "xdp_decap_target_without_xdp_defers", XDP, NULL,
	  { "vm5", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI) },
	  { { "vm5", SEMI_PATH_VF, -1, TUN_IN } }, XDP_PASS, DEFER_V, 0, "vm5", {},
	  .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	/* Destination before RESUME: tunnel frames parked, not in the tap yet. */
	{ "xdp_decap_incoming_hold_defers", XDP, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 150, VX(PEER_IP, PEER_VNI) },
	  { { "vm1", SEMI_PATH_HOLD, SEMI_TX_TAP, TUN_IN } }, XDP_PASS, DEFER_V, 0, "vm1", {},
	  .ctrs = { ONE(G_XDP_DEFER, NULL) } },
	{ "tc_decap_incoming_hold", TC, NULL,
	  { "vm2", FABRIC, UNTAG, IP4, 150, VX(PEER_IP, PEER_VNI) },
	  { { "vm2", SEMI_PATH_HOLD, SEMI_TX_TAP, TUN_IN } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm2",
	  { "hold0" }, .decap = 1, .ctrs = { ONE(TUNNEL_IN, "vm2"), ONE(RX_TAP, "vm2") } },
	{ "tc_decap_target_without_xdp", TC, NULL,
	  { "vm5", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI) },
	  { { "vm5", SEMI_PATH_VF, -1, TUN_IN } }, TC_ACT_REDIRECT, REDIR_V, 0, "vm5",
	  { "vf5" }, .decap = 1, .ctrs = { ONE(TUNNEL_IN, "vm5"), ONE(RX_VF, "vm5") } },
	{ "xdp_decap_from_non_peer", XDP, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 100, VX("192.0.2.99", PEER_VNI) },
	  { { "vm1", SEMI_PATH_TAP, -1, TUN_IN } }, XDP_DROP, DROP_V, SEMI_DROP_TUNNEL_PEER,
	  NULL, {}, .ctrs = { GDROP(SEMI_DROP_TUNNEL_PEER) } },
	{ "tc_decap_from_non_peer", TC, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 100, VX("198.51.100.1", PEER_VNI) },
	  { { "vm1", SEMI_PATH_TAP, -1, TUN_IN } }, TC_ACT_SHOT, DROP_V, SEMI_DROP_TUNNEL_PEER,
	  NULL, {}, .ctrs = { GDROP(SEMI_DROP_TUNNEL_PEER) } },
	{ "xdp_decap_port_not_expecting", XDP, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI) }, {},
	  XDP_DROP, DROP_V, SEMI_DROP_TUNNEL_STATE, "vm1", {},
	  .ctrs = { PDROP("vm1", SEMI_DROP_TUNNEL_STATE) } },
	{ "tc_decap_port_not_expecting", TC, NULL,
	  { "vm2", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI) },
	  { { "vm2", SEMI_PATH_TAP, -1, 0 } }, TC_ACT_SHOT, DROP_V, SEMI_DROP_TUNNEL_STATE,
	  "vm2", {}, .ctrs = { PDROP("vm2", SEMI_DROP_TUNNEL_STATE) } },
	{ "xdp_decap_unknown_port", XDP, NULL,
	  { UNKNOWN, FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI) }, {},
	  XDP_DROP, DROP_V, SEMI_DROP_TUNNEL_STATE, NULL, {},
	  .ctrs = { GDROP(SEMI_DROP_TUNNEL_STATE) } },
	{ "xdp_decap_wrong_vni", XDP, NULL,
	  { "vm1", FABRIC, UNTAG, IP4, 100, VX(PEER_IP, PEER_VNI + 7) },
	  { { "vm1", SEMI_PATH_TAP, -1, TUN_IN } }, XDP_DROP, DROP_V, SEMI_DROP_TUNNEL_STATE,
	  NULL, {}, .ctrs = { GDROP(SEMI_DROP_TUNNEL_STATE) } },
};
#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

static struct semi_dp *dp;
static bool verbose;

static int port_index(const char *name)
{
	for (int i = 0; i < NPORTS; i++)
		if (!strcmp(ports[i].name, name))
			return i;
	return -1;
}

static int mac_of(const char *s, uint8_t mac[6])
{
	int p = port_index(s);

	return semi_mac_parse(p >= 0 ? ports[p].mac : s, mac);
}

static uint16_t csum(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int build_plain(const struct frame *f, uint8_t *buf, int *tag_off);

/* VXLAN from f->vx_src to the host's tunnel address around the frame f. */
static int build_vxlan(const struct frame *f, uint8_t *buf, int *tag_off)
{
	struct frame in = *f;
	int ilen, len;
	uint8_t *ip = buf + 14, *udp = buf + 34, *vx = buf + 42;
	struct in_addr a;
	uint16_t c;

	in.vx_src = NULL;
	ilen = build_plain(&in, buf + 50, tag_off);
	if (ilen < 0)
		return -1;
	len = ilen + 50;
	memset(buf, 0, 50);
	semi_mac_parse(HOST_MAC, buf);
	semi_mac_parse(PEER_MAC, buf + 6);
	buf[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	inet_pton(AF_INET, f->vx_src, &a);
	memcpy(ip + 12, &a, 4);
	inet_pton(AF_INET, HOST_IP, &a);
	memcpy(ip + 16, &a, 4);
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[0] = 0xc0;
	udp[2] = (uint8_t)(SEMI_VXLAN_PORT >> 8);
	udp[3] = (uint8_t)SEMI_VXLAN_PORT;
	udp[4] = (uint8_t)((len - 34) >> 8);
	udp[5] = (uint8_t)(len - 34);
	vx[0] = 0x08;
	vx[4] = (uint8_t)(f->vni >> 16);
	vx[5] = (uint8_t)(f->vni >> 8);
	vx[6] = (uint8_t)f->vni;
	*tag_off = -1;
	return len;
}

static int build(const struct frame *f, uint8_t *buf, int *tag_off)
{
	return f->vx_src ? build_vxlan(f, buf, tag_off) : build_plain(f, buf, tag_off);
}

/* A real frame: Ethernet, tags, then an IPv4/UDP, IPv6/UDP or ARP header. */
static int build_plain(const struct frame *f, uint8_t *buf, int *tag_off)
{
	int len = f->len ? f->len : 64, off = 12;

	memset(buf, 0, (size_t)len);
	if (mac_of(f->dst, buf) || mac_of(f->src, buf + 6))
		return -1;
	*tag_off = -1;
	for (int t = 0; t < 2; t++) {
		int vid = t ? f->vlan2 : f->vlan;

		if (vid < 0)
			continue;
		if (t == 0)
			*tag_off = off;
		buf[off] = 0x81;
		buf[off + 1] = 0x00;
		buf[off + 2] = (uint8_t)(vid >> 8);
		buf[off + 3] = (uint8_t)vid;
		off += 4;
	}
	buf[off] = (uint8_t)(f->type >> 8);
	buf[off + 1] = (uint8_t)f->type;
	off += 2;
	if (f->type == ETH_P_IP && len - off >= 28) {
		uint8_t *ip = buf + off;
		int iplen = len - off;

		ip[0] = 0x45;
		ip[2] = (uint8_t)(iplen >> 8);
		ip[3] = (uint8_t)iplen;
		ip[8] = 64;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8);
		uint16_t c = csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		ip[20] = 0x30, ip[21] = 0x39, ip[22] = 0x30, ip[23] = 0x39;
		ip[24] = (uint8_t)((iplen - 20) >> 8);
		ip[25] = (uint8_t)(iplen - 20);
	} else if (f->type == ETH_P_IPV6 && len - off >= 48) {
		uint8_t *ip = buf + off;
		int pl = len - off - 40;

		ip[0] = 0x60;
		ip[4] = (uint8_t)(pl >> 8);
		ip[5] = (uint8_t)pl;
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8, ip[23] = 1;
		ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8, ip[39] = 2;
		ip[44] = (uint8_t)(pl >> 8);
		ip[45] = (uint8_t)pl;
	} else if (f->type == ETH_P_ARP && len - off >= 28) {
		uint8_t *a = buf + off;

		a[1] = 1;		/* Ethernet */
		a[2] = 0x08;		/* IPv4 */
		a[4] = 6;
		a[5] = 4;
		a[7] = buf[0] == 0xff ? 1 : 2;	/* request when broadcast */
		memcpy(a + 8, buf + 6, 6);
		memcpy(a + 14, "\xc0\x00\x02\x01", 4);
		memcpy(a + 24, "\xc0\x00\x02\x02", 4);
	}
	return f->raw ? f->raw : len;
}

/* ---- counters ---- */

struct snap {
	struct semi_port_stats p[NPORTS];
	struct semi_stats g;
};

static int snapshot(struct snap *s)
{
	for (int i = 0; i < NPORTS; i++)
		if (semi_port_stats_get(dp, ports[i].name, &s->p[i]))
			return -1;
	return semi_stats_get(dp, &s->g);
}

static const char *ctr_name(enum ctr c)
{
	static const char *const n[] = {
		[RX_VF] = "rx_vf", [RX_TAP] = "rx_tap", [TX_VF] = "tx_vf", [TX_TAP] = "tx_tap",
		[TX_LOCAL] = "tx_local", [REMOTE_SRC] = "remote_src", [RX_TUNNEL] = "rx_tunnel",
		[TUNNEL_IN] = "tunnel_in", [TX_RARP] = "tx_rarp", [DROP] = "drop",
		[G_FLOOD] = "flood", [G_PASS_HOST] = "pass_host", [G_XDP_DEFER] = "xdp_defer",
		[G_DROP] = "drop",
	};
	return n[c];
}

/* The packet counters of a snapshot, flattened, with a name for each. */
#define NPC 9	/* per-port packet counters before the drops */
#define NCTR (NPORTS * (NPC + SEMI_DROP_MAX) + 4 + SEMI_DROP_MAX)

static void flatten(const struct snap *s, uint64_t *v, char names[][48])
{
	int k = 0;

	for (int i = 0; i < NPORTS; i++) {
		const struct semi_port_stats *p = &s->p[i];
		const uint64_t vals[NPC] = {
			p->rx[SEMI_ROLE_VF].packets, p->rx[SEMI_ROLE_TAP].packets,
			p->tx[SEMI_ROLE_VF].packets, p->tx[SEMI_ROLE_TAP].packets,
			p->tx_local.packets, p->remote_src.packets,
			p->rx[SEMI_ROLE_TUNNEL].packets, p->tunnel_in.packets, p->tx_rarp.packets,
		};
		static const enum ctr which[NPC] = { RX_VF, RX_TAP, TX_VF, TX_TAP, TX_LOCAL,
						     REMOTE_SRC, RX_TUNNEL, TUNNEL_IN, TX_RARP };

		for (int j = 0; j < NPC; j++) {
			if (names)
				snprintf(names[k], 48, "%s.%s", ports[i].name, ctr_name(which[j]));
			v[k++] = vals[j];
		}
		for (int r = 0; r < SEMI_DROP_MAX; r++) {
			if (names)
				snprintf(names[k], 48, "%s.drop.%s", ports[i].name,
					 semi_drop_name((unsigned int)r) ?: "?");
			v[k++] = p->drop[r];
		}
	}
	const uint64_t g[4] = { s->g.uplink_rx.packets, s->g.flood.packets,
				s->g.pass_host.packets, s->g.xdp_defer.packets };
	static const char *const gn[4] = { "uplink_rx", "flood", "pass_host", "xdp_defer" };

	for (int j = 0; j < 4; j++) {
		if (names)
			snprintf(names[k], 48, "global.%s", gn[j]);
		v[k++] = g[j];
	}
	for (int r = 0; r < SEMI_DROP_MAX; r++) {
		if (names)
			snprintf(names[k], 48, "global.drop.%s",
				 semi_drop_name((unsigned int)r) ?: "?");
		v[k++] = s->g.drop[r];
	}
}

static int expect_index(const struct ctr_exp *e)
{
	int base, p;

	switch (e->c) {
	case G_FLOOD: return NPORTS * (NPC + SEMI_DROP_MAX) + 1;
	case G_PASS_HOST: return NPORTS * (NPC + SEMI_DROP_MAX) + 2;
	case G_XDP_DEFER: return NPORTS * (NPC + SEMI_DROP_MAX) + 3;
	case G_DROP: return NPORTS * (NPC + SEMI_DROP_MAX) + 4 + e->reason;
	default: break;
	}
	p = port_index(e->port);
	if (p < 0)
		return -1;
	base = p * (NPC + SEMI_DROP_MAX);
	switch (e->c) {
	case RX_VF: return base;
	case RX_TAP: return base + 1;
	case TX_VF: return base + 2;
	case TX_TAP: return base + 3;
	case TX_LOCAL: return base + 4;
	case REMOTE_SRC: return base + 5;
	case RX_TUNNEL: return base + 6;
	case TUNNEL_IN: return base + 7;
	case TX_RARP: return base + 8;
	case DROP: return base + NPC + e->reason;
	default: return -1;
	}
}

/* Is out the input frame (its tag removed) inside VXLAN to hostB? */
static const char *check_encap(const struct tcase *t, const uint8_t *in, int len, int tag_off,
			       const uint8_t *out, uint32_t nout)
{
	uint8_t inner[MAXF], mac[6];
	int ilen = len;
	struct in_addr a;
	uint32_t vni;

	memcpy(inner, in, (size_t)len);
	if (tag_off >= 0) {
		memmove(inner + tag_off, inner + tag_off + 4, (size_t)(len - tag_off - 4));
		ilen -= 4;
	}
	if ((int)nout != ilen + 50)
		return "wrong length";
	semi_mac_parse(PEER_MAC, mac);
	if (memcmp(out, mac, 6))
		return "outer destination is not the peer's next hop";
	semi_mac_parse(HOST_MAC, mac);
	if (memcmp(out + 6, mac, 6) || out[12] != 0x08 || out[13] != 0x00)
		return "outer source or ethertype";
	if (out[14] != 0x45 || out[23] != IPPROTO_UDP || csum(out + 14, 20) != 0)
		return "outer IPv4 header or its checksum";
	inet_pton(AF_INET, PEER_IP, &a);
	if (memcmp(out + 30, &a, 4))
		return "outer destination address";
	inet_pton(AF_INET, HOST_IP, &a);
	if (memcmp(out + 26, &a, 4))
		return "outer source address";
	if ((out[36] << 8 | out[37]) != SEMI_VXLAN_PORT ||
	    (out[38] << 8 | out[39]) != ilen + 16 || (out[16] << 8 | out[17]) != ilen + 36)
		return "UDP port or lengths";
	vni = (uint32_t)(out[46] << 16 | out[47] << 8 | out[48]);
	if (out[42] != 0x08 || vni != (uint32_t)t->encap)
		return "VXLAN flags or VNI";
	if (memcmp(out + 50, inner, (size_t)ilen))
		return "inner frame differs";
	return NULL;
}

/* The fabric end of up0 takes XDP frames (GRO on) or not; the loader
 * re-reads what the uplink can do. */
static int uplink_xdp_tx(bool on)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "ethtool -K up0p gro %s", on ? "on" : "off");
	if (system(cmd) != 0)
		return -1;
	return semi_dp_uplink_refresh(dp);
}

static bool has_learned(const char *port, const char *addr)
{
	struct semi_learned l;
	uint8_t a6[16];
	uint32_t a4;

	if (semi_port_learned(dp, port, &l))
		return false;
	for (int i = 0; i < SEMI_LEARN_SLOTS; i++) {
		if (inet_pton(AF_INET, addr, &a4) == 1 && l.ipv4[i] == a4)
			return true;
		if (inet_pton(AF_INET6, addr, a6) == 1 && !memcmp(l.ipv6[i], a6, 16))
			return true;
	}
	return false;
}

/* ---- running a case ---- */

static int fail(const struct tcase *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(const struct tcase *t, const char *fmt, ...)
{
	va_list ap;

	printf("not ok %s: ", t->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 1;
}

static int set_paths(const struct tcase *t)
{
	for (int i = 0; i < NPORTS; i++)
		if (semi_path_set(dp, ports[i].name, semi_pathw_make(SEMI_PATH_VF, SEMI_TX_ALL)))
			return -1;
	for (int i = 0; i < 4 && t->paths[i].port; i++) {
		const struct path_set *ps = &t->paths[i];

		if (semi_path_set(dp, ps->port,
				  semi_pathw_make_flags((enum semi_path)ps->rx,
							ps->tx < 0 ? SEMI_TX_ALL : (unsigned int)ps->tx,
							(unsigned int)ps->flags)))
			return -1;
	}
	for (int i = 0; i < NPORTS; i++)
		if (semi_port_set_tunnel(dp, ports[i].name,
					 t->tunnel && !strcmp(t->tunnel, ports[i].name) ? "hostB" :
											  NULL))
			return -1;
	return 0;
}

static int run_case(const struct tcase *t)
{
	static uint8_t in[MAXF + 64], out[MAXF + 64];
	static uint64_t before[NCTR], after[NCTR], want[NCTR];
	static char names[NCTR][48];
	struct snap s0, s1;
	struct semi_trace tr;
	struct xdp_md xctx = {}, xout = {};
	uint8_t *fout = out;
	uint32_t nout;
	struct __sk_buff sctx = {};
	int len, tag_off, fd, err, ntargets = 0;
	bool ok = true;
	LIBBPF_OPTS(bpf_test_run_opts, o);

	len = build(&t->f, in + 4, &tag_off);
	if (len < 0)
		return fail(t, "cannot build the frame");
	if (set_paths(t))
		return fail(t, "cannot set paths: %s", semi_dp_last_error(dp));
	if (t->no_xdp_tx && uplink_xdp_tx(false))
		return fail(t, "cannot take XDP_TX away from the uplink");
	if (snapshot(&s0))
		return fail(t, "cannot read counters");

	o.data_out = out;
	o.data_size_out = sizeof(out);
	if (t->prog == XDP) {
		/* Four bytes of metadata in front let frames shorter than an
		 * Ethernet header reach the program. */
		fd = semi_dp_prog_fd(dp, SEMI_PROG_ID_UPLINK_XDP);
		xctx.data = 4;
		xctx.data_end = (__u32)len + 4;
		xctx.ingress_ifindex = if_nametoindex("up0");
		o.data_in = in;
		o.data_size_in = xctx.data_end;
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
		o.ctx_out = &xout;
		o.ctx_size_out = sizeof(xout);
	} else {
		fd = semi_dp_prog_fd(dp, t->prog == TC ? SEMI_PROG_ID_UPLINK_TC :
							  SEMI_PROG_ID_PORT);
		sctx.ifindex = if_nametoindex(t->prog == TC ? "up0" : t->dev);
		if (!sctx.ifindex)
			return fail(t, "no device %s", t->dev);
		o.data_in = in + 4;
		o.data_size_in = (__u32)len;
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	}
	err = bpf_prog_test_run_opts(fd, &o);
	if (t->no_xdp_tx && uplink_xdp_tx(true))
		return fail(t, "cannot give XDP_TX back to the uplink");
	if (err == -EINVAL && t->runt) {
		/* This kernel never hands a frame shorter than an Ethernet header
		 * to a program (drivers, tun and BPF_PROG_TEST_RUN refuse it).
		 * Then nothing may have been counted either. */
		if (snapshot(&s1))
			return fail(t, "cannot read counters");
		flatten(&s0, before, names);
		flatten(&s1, after, NULL);
		for (int k = 0; k < NCTR; k++)
			if (after[k] != before[k])
				return fail(t, "kernel refused the frame, yet %s moved", names[k]);
		printf("ok %s: kernel refuses %d-byte frames before the program\n", t->name,
		       len);
		return 0;
	}
	if (err)
		return fail(t, "BPF_PROG_TEST_RUN: %s", strerror(-err));
	/* XDP hands back its metadata in front of the frame. */
	nout = o.data_size_out;
	if (t->prog == XDP && xout.data_end >= xout.data && xout.data_end <= o.data_size_out) {
		fout = out + xout.data;
		nout = xout.data_end - xout.data;
	}
	if (semi_trace_get(dp, 0, &tr))
		return fail(t, "cannot read the trace");
	if (snapshot(&s1))
		return fail(t, "cannot read counters");

	if ((int)o.retval != t->ret) {
		fail(t, "program returned %u, want %d", o.retval, t->ret);
		ok = false;
	}
	if ((int)tr.verdict != t->verdict) {
		fail(t, "trace verdict %u, want %d", tr.verdict, t->verdict);
		ok = false;
	}
	if (t->verdict == SEMI_V_DROP && (int)tr.reason != t->reason) {
		fail(t, "drop reason %s, want %s", semi_drop_name(tr.reason),
		     semi_drop_name((unsigned int)t->reason));
		ok = false;
	}
	if ((t->port ? port_index(t->port) + 1 : 0) != (int)tr.port) {
		fail(t, "trace names port id+1 %u, want %s", tr.port, t->port ? t->port : "none");
		ok = false;
	}
	while (ntargets < 6 && t->targets[ntargets])
		ntargets++;
	if ((int)tr.ntargets != ntargets) {
		fail(t, "%u copies sent, want %d", tr.ntargets, ntargets);
		ok = false;
	} else {
		for (int i = 0; i < ntargets; i++) {
			char got[IF_NAMESIZE] = "?";

			if (tr.targets[i] != if_nametoindex(t->targets[i])) {
				if_indextoname(tr.targets[i], got);
				fail(t, "copy %d went to %s, want %s", i, got, t->targets[i]);
				ok = false;
			}
		}
	}
	if ((int)tr.vlan_out != t->vlan_out) {
		fail(t, "frame left with VLAN %u, want %d", tr.vlan_out, t->vlan_out);
		ok = false;
	}
	if (t->encap) {
		const char *why = check_encap(t, in + 4, len, tag_off, fout, nout);

		if (why) {
			fail(t, "encapsulation: %s", why);
			ok = false;
		}
	} else if (t->decap) {
		if ((int)nout != len - 50 || memcmp(fout, in + 4 + 50, (size_t)len - 50)) {
			fail(t, "output is %u bytes, want the %d-byte inner frame", nout, len - 50);
			ok = false;
		}
	} else if (t->strip) {
		uint8_t *f = in + 4;

		if ((int)nout != len - 4 || memcmp(fout, f, 12) ||
		    memcmp(fout + 12, f + 16, (size_t)len - 16)) {
			fail(t, "output is %u bytes, want the %d-byte input without its tag",
			     nout, len);
			ok = false;
		}
	} else if (o.retval != XDP_DROP && o.retval != TC_ACT_SHOT && t->vlan_out == 0 &&
		   len >= 14 && len <= (int)sizeof(out) &&
		   ((int)nout != len || memcmp(fout, in + 4, (size_t)len))) {
		fail(t, "frame changed on the way (%u bytes out, %d in)", nout, len);
		ok = false;
	}

	if (t->learned && !has_learned(t->port ? t->port : "", t->learned)) {
		fail(t, "port %s did not learn %s", t->port, t->learned);
		ok = false;
	}

	/* Exactly the expected counters moved, by the expected amounts. */
	flatten(&s0, before, names);
	flatten(&s1, after, NULL);
	memset(want, 0, sizeof(want));
	if (t->prog != PORT)
		want[NPORTS * (NPC + SEMI_DROP_MAX)] = 1;	/* global.uplink_rx */
	for (int i = 0; i < 8 && t->ctrs[i].c; i++) {
		int k = expect_index(&t->ctrs[i]);

		if (k < 0)
			return fail(t, "bad expectation %d", i);
		want[k] += (uint64_t)(t->ctrs[i].delta ? t->ctrs[i].delta : 1);
	}
	for (int k = 0; k < NCTR; k++) {
		if (after[k] - before[k] != want[k]) {
			fail(t, "counter %s moved by %lld, want %llu", names[k],
			     (long long)(after[k] - before[k]), (unsigned long long)want[k]);
			ok = false;
		}
	}
	if (ok)
		printf("ok %s\n", t->name);
	return ok ? 0 : 1;
}

/* A MAC of 52:54:00:ff:xx:yy that, in VLAN 77, has vm1's cache slot. */
static int pick_colliding_mac(void)
{
	struct semi_port_key k1 = { .vlan = 0 }, k = { .vlan = 77 };
	uint64_t w1, w;

	semi_mac_parse(ports[0].mac, k1.mac);
	memcpy(&w1, &k1, 8);
	for (unsigned int i = 0; i < 0x10000; i++) {
		snprintf(vm6_mac, sizeof(vm6_mac), "52:54:00:ff:%02x:%02x", i >> 8, i & 0xff);
		semi_mac_parse(vm6_mac, k.mac);
		memcpy(&w, &k, 8);
		if (semi_port_hash(w) == semi_port_hash(w1))
			return 0;
	}
	return -1;
}

static int setup(void)
{
	struct semi_peer_conf peer = { .name = "hostB", .vni = PEER_VNI };
	struct in_addr a;

	if (pick_colliding_mac()) {
		fprintf(stderr, "dp-fixtures: no MAC collides with vm1's cache slot\n");
		return -1;
	}
	if (semi_dp_attach_uplink(dp, "up0", SEMI_XDP_AUTO))
		return -1;
	inet_pton(AF_INET, PEER_IP, &a);
	peer.remote_ip = a.s_addr;
	inet_pton(AF_INET, HOST_IP, &a);
	peer.local_ip = a.s_addr;
	semi_mac_parse(PEER_MAC, peer.remote_mac);
	semi_mac_parse(HOST_MAC, peer.local_mac);
	if (semi_peer_put(dp, &peer, NULL) || semi_tunnel_listen(dp, a.s_addr, 0))
		return -1;
	if (semi_hold_set(dp, if_nametoindex("hold0")) || !semi_hold_get(dp)) {
		fprintf(stderr, "dp-fixtures: cannot set the hold device hold0\n");
		return -1;
	}
	for (int i = 0; i < NPORTS; i++) {
		struct semi_port_conf c = {};

		snprintf(c.name, sizeof(c.name), "%s", ports[i].name);
		semi_mac_parse(ports[i].mac, c.mac);
		c.vlan = (uint16_t)ports[i].vlan;
		c.vf_ifindex = ports[i].vf ? if_nametoindex(ports[i].vf) : 0;
		c.tap_ifindex = ports[i].tap ? if_nametoindex(ports[i].tap) : 0;
		c.path = semi_pathw_make(SEMI_PATH_VF, SEMI_TX_ALL);
		if ((ports[i].vf && !c.vf_ifindex) || (ports[i].tap && !c.tap_ifindex)) {
			fprintf(stderr, "dp-fixtures: devices of %s missing\n", ports[i].name);
			return -1;
		}
		if (semi_port_put(dp, &c, NULL))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct semi_dp_opts o = { .trace = true };
	cpu_set_t set;
	bool list = false;
	int c, failed = 0, ran = 0;

	while ((c = getopt(argc, argv, "i:lv")) != -1) {
		switch (c) {
		case 'i':
			o.instance = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'v':
			verbose = true;
			semi_log_set_level(SEMI_LOG_DEBUG);
			break;
		default:
			fprintf(stderr, "usage: dp-fixtures -i INSTANCE [-l] [-v] [CASE...]\n");
			return 2;
		}
	}
	if (list) {
		for (int i = 0; i < NCASES; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (!o.instance) {
		fprintf(stderr, "dp-fixtures: -i INSTANCE is required\n");
		return 2;
	}
	/* The trace is per CPU: run every case on CPU 0. */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return 1;
	}
	if (semi_dp_open(&o, &dp))
		return 1;
	if (semi_dp_adopted(dp)) {
		fprintf(stderr, "dp-fixtures: instance %s already exists\n", o.instance);
		semi_dp_close(dp);
		return 1;
	}
	if (setup()) {
		semi_dp_destroy(dp);
		return 1;
	}
	for (int i = 0; i < NCASES; i++) {
		bool sel = optind >= argc;

		for (int a = optind; a < argc; a++)
			sel |= !strcmp(argv[a], cases[i].name);
		if (!sel)
			continue;
		ran++;
		failed += run_case(&cases[i]);
	}
	printf("# %d cases, %d failed\n", ran, failed);
	if (semi_dp_destroy(dp))
		failed++;
	return failed ? 1 : 0;
}
