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

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/fsm.h"

#define STATEFILE_FORMAT	"semi-netd-state"
#define STATEFILE_VERSION	1

enum port_mode {
	PM_REPRESENTOR,
	PM_LEGACY,
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
};

struct state_doc {
	char instance[SEMI_INSTANCE_MAX + 1];
	uint64_t generation;		/* +1 per save */
	struct port_rec *ports;
	size_t n;
};

/* -ENOENT (err says so) when there is no file; other errors: do not start. */
int statefile_load(const char *path, struct state_doc *doc, char *err, size_t errlen);
int statefile_parse(const char *path, const char *text, size_t len, struct state_doc *doc,
		    char *err, size_t errlen);
int statefile_save(const char *path, const struct state_doc *doc, char *err, size_t errlen);
json_object *statefile_to_json(const struct state_doc *doc);
json_object *port_rec_to_json(const struct port_rec *p);
void state_doc_free(struct state_doc *doc);

const char *port_mode_name(enum port_mode m);
int port_mode_parse(const char *s);

#endif
