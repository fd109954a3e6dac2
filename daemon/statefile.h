/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The state file: what semi-netd has acknowledged, on disk before the reply
 * (write a temporary file, fsync, rename, fsync the directory).  At start
 * it is the configuration the datapath is reconciled to.
 *
 * A file that exists but cannot be read or parsed stops the start with a
 * message naming the file and the problem: it is never treated as empty.
 */
#ifndef SEMI_NETD_STATEFILE_H
#define SEMI_NETD_STATEFILE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/fsm.h"

#define STATEFILE_FORMAT	"semi-netd-state"
/* 2: migration, announce, learned addresses, peers.  1 is still read. */
#define STATEFILE_VERSION	2
#define STATEFILE_VERSION_MIN	1

/* Addresses of a guest per family: the datapath's slots and as many carried. */
#define PORT_ADDRS		(2 * SEMI_LEARN_SLOTS)

enum port_mode {
	PM_REPRESENTOR,
	PM_LEGACY,
};

enum mig_role {
	MIG_NONE,
	MIG_SOURCE,	/* the VM leaves this host */
	MIG_DEST,	/* the VM comes to this host (until migrate done) */
};

/* A migration in progress on one port. */
struct mig_rec {
	enum mig_role role;
	char peer[NETD_HOST_LEN];	/* the other host; "" on a source before --to */
	enum port_state origin;		/* source: where the port was when it began */
	int64_t since_ms;		/* wall clock of the first step here */
	int64_t out_ms;			/* source: --to, 0 before */
	uint64_t remote_src_base;	/* source: remote_src packets at --to */
	int64_t seen_ms;		/* source: its announce came back, 0 not yet */
	/* Source, from --to: what semi-netd itself sent the peer (the retired
	 * event's `forwarded` counts them with the datapath's tunnel frames). */
	uint64_t drained;		/* read from the tap (drain.c) and sent */
	uint64_t drain_failed;		/* read from the tap, not sent */
	uint64_t held_out;		/* held frames released into the tunnel */
};

/* An announce in progress (after migrate done, an abort, or `announce`). */
struct ann_rec {
	bool active;
	uint32_t rounds;		/* rounds sent so far */
	int64_t started_ms;
	uint64_t rx_base;		/* rx frames (not by tunnel) at the start */
	uint64_t flood_base;		/* the instance's flood counter then */
};

/* A guest's addresses. */
struct addr_set {
	struct in_addr ipv4[PORT_ADDRS];
	struct in6_addr ipv6[PORT_ADDRS];
	uint8_t n_ipv4, n_ipv6;
};

/* A port as the daemon keeps it and the file stores it. */
struct port_rec {
	char name[SEMI_NAME_LEN];
	uint8_t mac[6];
	uint16_t vlan;
	char vf[SEMI_NAME_LEN];		/* configured VF device, "" none */
	char tap[SEMI_NAME_LEN];	/* configured tap device, "" none */
	enum port_mode mode;
	enum port_state state;
	enum fsm_handover handover;	/* FH_WAIT or FH_HOLD in handover, else FH_NONE */
	uint32_t vf_ifindex;		/* last seen, 0 when absent */
	uint32_t tap_ifindex;
	uint64_t vf_tx_base;		/* guest VF frames when handover began */
	int64_t since_ms;		/* wall clock when the state was entered */
	/*
	 * The path word holds (hold.c).  Not in the state file: the hold
	 * device goes with the daemon, so a restarted one stores the state's
	 * own path.
	 */
	bool hold;
	struct mig_rec mig;
	struct ann_rec ann;
	/*
	 * The guest's addresses as the source host had learned them, carried
	 * here by the migration (announce.c); the datapath learns the rest.
	 */
	struct addr_set addrs;
};

/* A migration peer as last resolved (the configuration names them). */
struct peer_rec {
	char name[NETD_HOST_LEN];
	char address[64];
	uint8_t mac[6];			/* next hop towards it; zero: not known */
};

struct state_doc {
	char instance[SEMI_INSTANCE_MAX + 1];
	uint64_t generation;		/* +1 per save */
	struct port_rec *ports;
	size_t n;
	struct peer_rec *peers;
	size_t npeers;
};

/* -ENOENT (err says so) when there is no file; other errors: do not start. */
int statefile_load(const char *path, struct state_doc *doc, char *err, size_t errlen);
int statefile_parse(const char *path, const char *text, size_t len, struct state_doc *doc,
		    char *err, size_t errlen);
int statefile_save(const char *path, const struct state_doc *doc, char *err, size_t errlen);
json_object *statefile_to_json(const struct state_doc *doc);
json_object *port_rec_to_json(const struct port_rec *p);
json_object *port_addrs_json(const struct addr_set *a);	/* {"ipv4":[..],"ipv6":[..]} */
void state_doc_free(struct state_doc *doc);

const char *port_mode_name(enum port_mode m);
int port_mode_parse(const char *s);
const char *mig_role_name(enum mig_role r);	/* "none", "source", "destination" */

#endif
