/* SPDX-License-Identifier: GPL-2.0 */
/*
 * semi-netd's configuration: defaults, then the JSON config file, then the
 * command line.  Every key of the file is checked; an error names the file,
 * the key and what was wrong with it.
 */
#ifndef SEMI_NETD_CONFIG_H
#define SEMI_NETD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "loader/semi_dp.h"

#define NETD_CONFIG_DEFAULT	"/etc/semi-net/semi-netd.json"
#define NETD_STATE_DIR		"/var/lib/semi-net"
#define NETD_RUN_DIR		"/run/semi-net"
#define NETD_MAX_PEERS		32
#define NETD_SOCK_MAX		108	/* sun_path */
#define NETD_HOST_LEN		16	/* a host name, as the datapath's peer names */

struct netd_peer {
	char name[NETD_HOST_LEN];
	char address[64];	/* IPv4 or IPv6, as written */
};

struct netd_config {
	char file[PATH_MAX];		/* the file read, "" when none */
	char instance[SEMI_INSTANCE_MAX + 1];
	char socket[NETD_SOCK_MAX];
	char state[PATH_MAX];
	char pin_root[PATH_MAX];
	char uplink[16];		/* "" none */
	enum semi_xdp_mode uplink_xdp;
	char bridge[16];		/* host bridge, "" none (used by migration) */
	char host[NETD_HOST_LEN];	/* this host, as its peers name it */
	char socket_group[64];		/* "" root only */
	gid_t gid;
	unsigned int handover_poll_ms;	/* guest-frame watch while in handover */
	unsigned int stats_interval_ms;	/* counter deltas for watchers */
	unsigned int max_clients;
	struct {
		unsigned int initial_ms, step_ms, rounds;
	} announce;
	struct netd_peer peers[NETD_MAX_PEERS];
	int n_peers;
	struct {
		char local[64];		/* this host's tunnel address */
		unsigned int port;	/* UDP, VXLAN format */
		unsigned int vni;	/* VNI of untagged ports; a VLAN adds its VID */
		unsigned int control_port; /* UDP, between peers' daemons; 0: port + 1 */
	} tunnel;
	struct {
		unsigned int linger_ms;	/* source: after its announce came back */
		unsigned int grace_ms;	/* source: at the latest, after --to */
	} retire;
	bool drain_tap;			/* --to: the source tap's queue goes to the peer */
	struct {
		bool unplug;		/* source: --begin holds until the VF is let go */
		bool incoming;		/* destination: migrate in holds until done */
		bool plug;		/* a VF arriving: held until the guest sends on it */
		unsigned int max_ms;	/* released anyway after this */
	} hold;
	struct {
		char path[PATH_MAX];	/* switch hook executable, "" none */
		unsigned int timeout_ms;
	} hook;
};

/* What the command line set; NULL/0 = not given. */
struct netd_overrides {
	const char *config;		/* NULL: the default file if it exists */
	const char *instance;
	const char *socket;
	const char *state;
	const char *pin_root;
};

/* Defaults that depend on the instance name. */
void config_defaults(struct netd_config *c);
/*
 * Load: defaults, file, overrides.  0, or -errno with a message in err
 * naming the file and the key.
 */
int config_load(struct netd_config *c, const struct netd_overrides *o, char *err, size_t errlen);
/* Parse a config document (for tests): the file name is only for messages. */
int config_parse(struct netd_config *c, const char *file, const char *text, size_t len,
		 char *err, size_t errlen);

/* The default socket of an instance: semi-netd.sock, or semi-netd.NAME.sock. */
void config_default_socket(const char *instance, char *buf, size_t len);
void config_default_state(const char *instance, char *buf, size_t len);
/* This host's name when the file has no "host": the first label of uname's. */
void config_default_host(char *buf, size_t len);

/* tunnel.control_port, or its default: the tunnel's port + 1. */
unsigned int config_control_port(const struct netd_config *c);

const char *config_xdp_mode_name(enum semi_xdp_mode m);

#endif
