/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The port state machine (DESIGN section 1): states, the events that move a
 * port between them, and the path word each state puts in the datapath.
 *
 * Pure logic, no I/O: semi-netd asks fsm_next() what an event does to a
 * port and then carries the answer out (one semi_path_set per change).
 * Every (state, event) pair has a cell in one table; a pair the table does
 * not allow is refused with a message that names the current state and
 * where the event would be allowed.
 */
#ifndef SEMI_NETD_FSM_H
#define SEMI_NETD_FSM_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/semi_dp.h"

enum port_state {
	PS_ASSIGNED,	/* rx vf, tx vf|tap: normal operation */
	PS_HANDOVER,	/* rx both, tx vf|tap: VF being unplugged or replugged */
	PS_EMULATED,	/* rx tap, tx vf|tap: VF gone, VM on the emulated NIC */
	PS_OUTGOING,	/* rx tunnel, tx none: VM moved, stragglers forwarded */
	PS_INCOMING,	/* rx tap, tx tap: destination ready, VM not resumed */
	PS_COUNT,
};

enum fsm_event {
	FE_SWITCH_VF,		/* operator: switch PORT vf */
	FE_SWITCH_TAP,		/* operator: switch PORT tap */
	FE_SWITCH_BOTH,		/* operator: switch PORT both */
	FE_VF_GONE,		/* the port's VF netdev vanished */
	FE_VF_BACK,		/* a VF netdev appeared for the port */
	FE_VF_DOWN,		/* the port's VF went down or lost its carrier */
	FE_GUEST_VF_TX,		/* the guest sent through the VF (handover) */
	FE_TAP_GONE,		/* the port's tap vanished (or was removed) */
	FE_MIGRATE_BEGIN,	/* migrate out PORT --begin (source) */
	FE_MIGRATE_OUT,		/* migrate out PORT --to HOST (source) */
	FE_MIGRATE_DONE,	/* migrate done PORT (destination) */
	FE_MIGRATE_ABORT,	/* migrate abort PORT (either side) */
	FE_MIGRATE_UNPLUGGED,	/* migrate out PORT --unplugged: the guest let its VF go
				 * (QEMU's DEVICE_DELETED; the VF netdev stays) */
	FE_COUNT,
};

/* What a cell of the table says. */
enum fsm_kind {
	FK_REFUSE,	/* not allowed in this state */
	FK_STAY,	/* allowed, nothing changes */
	FK_TO,		/* go to the cell's state */
	FK_VF_ARRIVES,	/* handover when the port has a tap, else assigned */
	FK_BEST,	/* assigned when the port has a VF, else emulated */
	FK_REMOVE,	/* the port goes away (destination abort) */
	FK_RESUME,	/* the VM resumes here: handover (waiting) with a VF and a
			 * tap, assigned with a VF alone, emulated without a VF */
};

/* Devices a cell needs; refused with "no such device" otherwise. */
enum fsm_need {
	FN_VF = 1 << 0,
	FN_TAP = 1 << 1,
};

/* handover flavours: wait for the guest's first VF frame, or hold. */
enum fsm_handover {
	FH_NONE,	/* the result is not handover */
	FH_WAIT,	/* until the guest sends through the VF, then assigned */
	FH_HOLD,	/* until told otherwise (switch both, migrate out --begin) */
};

/* What the port has right now (devices present in this namespace). */
struct fsm_facts {
	bool has_vf;
	bool has_tap;
};

struct fsm_result {
	enum fsm_kind kind;		/* FK_STAY, FK_TO or FK_REMOVE after resolution */
	enum port_state next;		/* = current for FK_STAY */
	enum fsm_handover handover;	/* when next is PS_HANDOVER */
};

/*
 * What `ev` does to a port in `cur` with `facts`.  0 and *res filled, or
 * -EPERM (not allowed in this state) or -ENODEV (a device it needs is
 * missing), with a message in why (port named `port`).
 */
int fsm_next(const char *port, enum port_state cur, enum fsm_event ev,
	     const struct fsm_facts *facts, struct fsm_result *res, char *why, size_t whylen);

/* The state a new port starts in (port add). */
enum port_state fsm_initial(const struct fsm_facts *facts, enum fsm_handover *handover);

/* The raw cell, for tests and for `status` documentation. */
enum fsm_kind fsm_cell(enum port_state s, enum fsm_event ev, unsigned int *need,
		       enum port_state *to, enum fsm_handover *handover);

/*
 * The datapath path word of a state (rx path, tx mask, flags): incoming
 * and emulated take frames from a peer's tunnel (SEMI_PATHF_TUNNEL_IN).
 */
union semi_pathw fsm_pathw(enum port_state s);

const char *fsm_state_name(enum port_state s);
int fsm_state_parse(const char *s);		/* -EINVAL if unknown */
const char *fsm_event_name(enum fsm_event ev);	/* "switch vf", "vf gone", ... */
const char *fsm_event_id(enum fsm_event ev);	/* "switch_vf", "vf_gone", ... */
/* "vf,tap", "tap", "none": the tx mask in words. */
const char *fsm_tx_name(unsigned int tx);

#endif
