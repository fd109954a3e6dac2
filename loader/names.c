// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Names of the enums of semi_common.h, for CLIs, JSON and messages. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader/semi_dp.h"

static const char *const path_names[SEMI_PATH_MAX] = {
	[SEMI_PATH_NONE] = "none",
	[SEMI_PATH_VF] = "vf",
	[SEMI_PATH_TAP] = "tap",
	[SEMI_PATH_BOTH] = "both",
	[SEMI_PATH_TUNNEL] = "tunnel",
	[SEMI_PATH_HOLD] = "hold",
};

static const char *const role_names[SEMI_ROLE_MAX] = {
	[SEMI_ROLE_VF] = "vf",
	[SEMI_ROLE_TAP] = "tap",
	[SEMI_ROLE_TUNNEL] = "tunnel",
};

static const struct {
	const char *name;
	const char *help;
} drops[SEMI_DROP_MAX] = {
	[SEMI_DROP_RUNT] = { "runt", "frame shorter than an Ethernet header" },
	[SEMI_DROP_TRUNC_VLAN] = { "trunc_vlan", "802.1Q tag cut short" },
	[SEMI_DROP_PATH_NONE] = { "path_none", "port's path is none" },
	[SEMI_DROP_SPOOF_MAC] = { "spoof_mac", "guest sent with a source MAC not its own" },
	[SEMI_DROP_SPOOF_VLAN] = { "spoof_vlan", "guest sent a tagged frame" },
	[SEMI_DROP_NO_PORT] = { "no_port", "frame on a device that belongs to no port" },
	[SEMI_DROP_LOOP] = { "loop", "guest frame addressed to itself" },
	[SEMI_DROP_NO_TARGET] = { "no_target", "path names a device the port lacks" },
	[SEMI_DROP_REDIRECT] = { "redirect", "redirect or clone refused by the kernel" },
	[SEMI_DROP_VLAN_OP] = { "vlan_op", "802.1Q tag push or pop failed" },
	[SEMI_DROP_TX_BLOCKED] = { "tx_blocked", "guest sent from a device its state forbids" },
	[SEMI_DROP_SRC_MCAST] = { "src_mcast", "multicast source MAC" },
	[SEMI_DROP_NO_TUNNEL] = { "no_tunnel", "path is tunnel but no tunnel is configured" },
	[SEMI_DROP_TUNNEL_PEER] = { "tunnel_peer", "tunnel frame from a host that is no peer" },
	[SEMI_DROP_TUNNEL_STATE] = { "tunnel_state", "tunnel frame for a port not expecting one" },
};

const char *semi_path_name(unsigned int path)
{
	return path < SEMI_PATH_MAX && path_names[path] ? path_names[path] : "?";
}

int semi_path_parse(const char *s)
{
	for (int i = 0; i < SEMI_PATH_MAX; i++)
		if (path_names[i] && !strcmp(s, path_names[i]))
			return i;
	return -EINVAL;
}

const char *semi_role_name(unsigned int role)
{
	return role < SEMI_ROLE_MAX ? role_names[role] : "?";
}

const char *semi_drop_name(unsigned int reason)
{
	return reason < SEMI_DROP_MAX && drops[reason].name ? drops[reason].name : NULL;
}

const char *semi_drop_help(unsigned int reason)
{
	return reason < SEMI_DROP_MAX && drops[reason].help ? drops[reason].help : NULL;
}

int semi_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
			 &b[5], &end) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

char *semi_mac_fmt(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}
