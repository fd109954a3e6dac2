// SPDX-License-Identifier: GPL-2.0
/*
 * The port state machine: one table, one cell per (state, event).
 *
 * Why the cells say what they say:
 *  - The operator's switch (vf|tap|both) moves between the three states a
 *    port has while its VM runs here; during a migration (outgoing,
 *    incoming) only the migration verbs may move the port, so that a stray
 *    switch cannot send frames to a VM that is not on this host.
 *  - A VF vanishing always ends in emulated: nothing else can reach the
 *    guest.  In outgoing and incoming the VF is irrelevant (the VM is not
 *    running here) and the event changes nothing.
 *  - A VF appearing goes through handover (one copy on each path) so the
 *    guest's net_failover can take the VF whenever it is ready; without a
 *    tap there is no second path and the port goes straight to assigned.
 *    (With hold.plug the daemon holds the frames in that handover instead,
 *    hold.c; the table's cells are the same.)
 *  - A VF going down (closed, or no carrier) carries nothing any more:
 *    from assigned the port hands over, so that the tap's copies reach the
 *    guest the moment its net_failover lets the standby deliver (a VF that
 *    is being unplugged closes well before it unregisters).  Elsewhere it
 *    changes nothing.
 *  - The guest's first frame through the VF ends a waiting handover.
 *  - A tap vanishing in handover leaves the VF as the only path (both would
 *    drop every frame for want of a second target); elsewhere it changes
 *    no state (emulated keeps waiting for its tap to come back).
 *  - Migration cells follow DESIGN section 5.  `migrate out --begin` holds
 *    a handover (one copy on each path) until the VF is gone; `--to`
 *    needs the VF released (handover in legacy mode, or emulated).
 *  - `migrate out --unplugged`: QEMU says the guest has let its VF go
 *    (representor mode: the VF netdev stays on the host, so no vanishing
 *    tells the port): the tap is the guest's only NIC, as when the VF
 *    vanishes.  After --to (a late event) it changes nothing.
 *  - `migrate done`: the VM runs here, on its tap -- or, when the port
 *    already has its VF here (`migrate in --vf`), in a handover that waits
 *    for the guest to take it (nothing else would tell the port).
 *  - `migrate abort` puts the VM back where it runs: from handover or
 *    outgoing the VM resumes here (waiting in handover for the guest's VF
 *    when there is one, so that nothing is lost whichever path the guest
 *    takes first); assigned and emulated stay (a VF comes back by itself);
 *    an incoming port goes away, its VM never ran here.  Whether there is
 *    a migration to abort at all is the daemon's to say, not the table's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/fsm.h"

struct cell {
	enum fsm_kind kind;
	enum port_state to;		/* FK_TO */
	unsigned int need;		/* enum fsm_need */
	enum fsm_handover handover;	/* FK_TO handover: wait or hold */
};

#define REFUSE		{ .kind = FK_REFUSE }
#define STAY		{ .kind = FK_STAY }
#define STAY_N(n)	{ .kind = FK_STAY, .need = (n) }
#define TO(s)		{ .kind = FK_TO, .to = (s) }
#define TO_N(s, n)	{ .kind = FK_TO, .to = (s), .need = (n) }
#define HOLD_N(n)	{ .kind = FK_TO, .to = PS_HANDOVER, .need = (n), .handover = FH_HOLD }
#define VF_ARRIVES	{ .kind = FK_VF_ARRIVES }
#define BEST		{ .kind = FK_BEST }
#define REMOVE		{ .kind = FK_REMOVE }
#define RESUME		{ .kind = FK_RESUME }

static const struct cell table[PS_COUNT][FE_COUNT] = {
	[PS_ASSIGNED] = {
		[FE_SWITCH_VF] = STAY_N(FN_VF),
		[FE_SWITCH_TAP] = TO_N(PS_EMULATED, FN_TAP),
		[FE_SWITCH_BOTH] = HOLD_N(FN_VF | FN_TAP),
		[FE_VF_GONE] = TO(PS_EMULATED),
		[FE_VF_BACK] = VF_ARRIVES,	/* a new VF netdev: its ifindex changed */
		[FE_VF_DOWN] = VF_ARRIVES,	/* handover, if there is a tap */
		[FE_GUEST_VF_TX] = STAY,
		[FE_TAP_GONE] = STAY,
		[FE_MIGRATE_BEGIN] = HOLD_N(FN_TAP),
		[FE_MIGRATE_OUT] = REFUSE,	/* the VF must be released first */
		[FE_MIGRATE_DONE] = REFUSE,
		[FE_MIGRATE_ABORT] = STAY,	/* the VM runs here on its VF */
		[FE_MIGRATE_UNPLUGGED] = TO_N(PS_EMULATED, FN_TAP),
	},
	[PS_HANDOVER] = {
		[FE_SWITCH_VF] = TO_N(PS_ASSIGNED, FN_VF),
		[FE_SWITCH_TAP] = TO_N(PS_EMULATED, FN_TAP),
		[FE_SWITCH_BOTH] = HOLD_N(FN_VF | FN_TAP),
		[FE_VF_GONE] = TO(PS_EMULATED),
		[FE_VF_BACK] = VF_ARRIVES,
		[FE_VF_DOWN] = STAY,
		[FE_GUEST_VF_TX] = TO(PS_ASSIGNED),
		[FE_TAP_GONE] = BEST,	/* the VF alone, if there is one */
		[FE_MIGRATE_BEGIN] = HOLD_N(FN_TAP),
		[FE_MIGRATE_OUT] = TO(PS_OUTGOING),	/* legacy mode: VF released */
		[FE_MIGRATE_DONE] = REFUSE,
		[FE_MIGRATE_ABORT] = RESUME,
		[FE_MIGRATE_UNPLUGGED] = TO_N(PS_EMULATED, FN_TAP),
	},
	[PS_EMULATED] = {
		[FE_SWITCH_VF] = TO_N(PS_ASSIGNED, FN_VF),
		[FE_SWITCH_TAP] = STAY_N(FN_TAP),
		[FE_SWITCH_BOTH] = HOLD_N(FN_VF | FN_TAP),
		[FE_VF_GONE] = STAY,
		[FE_VF_BACK] = VF_ARRIVES,
		[FE_VF_DOWN] = STAY,
		[FE_GUEST_VF_TX] = STAY,
		[FE_TAP_GONE] = STAY,
		[FE_MIGRATE_BEGIN] = STAY_N(FN_TAP),	/* VF already gone */
		[FE_MIGRATE_OUT] = TO(PS_OUTGOING),
		[FE_MIGRATE_DONE] = REFUSE,
		[FE_MIGRATE_ABORT] = STAY,	/* the VF comes back by itself */
		[FE_MIGRATE_UNPLUGGED] = STAY,
	},
	[PS_OUTGOING] = {
		[FE_SWITCH_VF] = REFUSE,
		[FE_SWITCH_TAP] = REFUSE,
		[FE_SWITCH_BOTH] = REFUSE,
		[FE_VF_GONE] = STAY,
		[FE_VF_BACK] = STAY,
		[FE_VF_DOWN] = STAY,
		[FE_GUEST_VF_TX] = STAY,
		[FE_TAP_GONE] = STAY,
		[FE_MIGRATE_BEGIN] = REFUSE,
		[FE_MIGRATE_OUT] = STAY,	/* a retried step is not an error */
		[FE_MIGRATE_DONE] = REFUSE,	/* done is the destination's */
		[FE_MIGRATE_ABORT] = RESUME,	/* the VM resumes here */
		[FE_MIGRATE_UNPLUGGED] = STAY,
	},
	[PS_INCOMING] = {
		[FE_SWITCH_VF] = REFUSE,
		[FE_SWITCH_TAP] = REFUSE,
		[FE_SWITCH_BOTH] = REFUSE,
		[FE_VF_GONE] = STAY,
		[FE_VF_BACK] = STAY,
		[FE_VF_DOWN] = STAY,
		[FE_GUEST_VF_TX] = STAY,
		[FE_TAP_GONE] = STAY,
		[FE_MIGRATE_BEGIN] = REFUSE,
		[FE_MIGRATE_OUT] = REFUSE,
		[FE_MIGRATE_DONE] = RESUME,	/* emulated, or a handover to a VF here */
		[FE_MIGRATE_ABORT] = REMOVE,	/* the VM never ran here */
		[FE_MIGRATE_UNPLUGGED] = REFUSE,
	},
};

static const char *const state_names[PS_COUNT] = {
	[PS_ASSIGNED] = "assigned",
	[PS_HANDOVER] = "handover",
	[PS_EMULATED] = "emulated",
	[PS_OUTGOING] = "outgoing",
	[PS_INCOMING] = "incoming",
};

static const struct {
	const char *name;	/* for people */
	const char *id;		/* for JSON */
} event_names[FE_COUNT] = {
	[FE_SWITCH_VF] = { "switch vf", "switch_vf" },
	[FE_SWITCH_TAP] = { "switch tap", "switch_tap" },
	[FE_SWITCH_BOTH] = { "switch both", "switch_both" },
	[FE_VF_GONE] = { "VF gone", "vf_gone" },
	[FE_VF_BACK] = { "VF back", "vf_back" },
	[FE_VF_DOWN] = { "VF down", "vf_down" },
	[FE_GUEST_VF_TX] = { "guest frame on the VF", "guest_vf_tx" },
	[FE_TAP_GONE] = { "tap gone", "tap_gone" },
	[FE_MIGRATE_BEGIN] = { "migrate out --begin", "migrate_begin" },
	[FE_MIGRATE_OUT] = { "migrate out --to", "migrate_out" },
	[FE_MIGRATE_DONE] = { "migrate done", "migrate_done" },
	[FE_MIGRATE_ABORT] = { "migrate abort", "migrate_abort" },
	[FE_MIGRATE_UNPLUGGED] = { "migrate out --unplugged", "migrate_unplugged" },
};

const char *fsm_state_name(enum port_state s)
{
	return (unsigned int)s < PS_COUNT ? state_names[s] : "?";
}

int fsm_state_parse(const char *s)
{
	for (int i = 0; i < PS_COUNT; i++)
		if (s && !strcmp(s, state_names[i]))
			return i;
	return -EINVAL;
}

const char *fsm_event_name(enum fsm_event ev)
{
	return (unsigned int)ev < FE_COUNT ? event_names[ev].name : "?";
}

const char *fsm_event_id(enum fsm_event ev)
{
	return (unsigned int)ev < FE_COUNT ? event_names[ev].id : "?";
}

const char *fsm_tx_name(unsigned int tx)
{
	switch (tx & SEMI_TX_ALL) {
	case SEMI_TX_ALL:
		return "vf,tap";
	case SEMI_TX_VF:
		return "vf";
	case SEMI_TX_TAP:
		return "tap";
	default:
		return "none";
	}
}

union semi_pathw fsm_pathw(enum port_state s)
{
	switch (s) {
	case PS_ASSIGNED:
		return semi_pathw_make(SEMI_PATH_VF, SEMI_TX_ALL);
	case PS_HANDOVER:
		return semi_pathw_make(SEMI_PATH_BOTH, SEMI_TX_ALL);
	case PS_EMULATED:
		return semi_pathw_make_flags(SEMI_PATH_TAP, SEMI_TX_ALL, SEMI_PATHF_TUNNEL_IN);
	case PS_OUTGOING:
		return semi_pathw_make(SEMI_PATH_TUNNEL, 0);
	case PS_INCOMING:
		return semi_pathw_make_flags(SEMI_PATH_TAP, SEMI_TX_TAP, SEMI_PATHF_TUNNEL_IN);
	default:
		return semi_pathw_make(SEMI_PATH_NONE, 0);
	}
}

enum fsm_kind fsm_cell(enum port_state s, enum fsm_event ev, unsigned int *need,
		       enum port_state *to, enum fsm_handover *handover)
{
	const struct cell *c;

	if ((unsigned int)s >= PS_COUNT || (unsigned int)ev >= FE_COUNT)
		return FK_REFUSE;
	c = &table[s][ev];
	if (need)
		*need = c->need;
	if (to)
		*to = c->kind == FK_TO ? c->to : s;
	if (handover)
		*handover = c->handover;
	return c->kind;
}

/* "assigned, handover, emulated": the states where ev is allowed. */
static void allowed_states(enum fsm_event ev, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int s = 0; s < PS_COUNT; s++) {
		if (table[s][ev].kind == FK_REFUSE)
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? ", " : "", state_names[s]);
	}
	if (!off)
		snprintf(buf, len, "no state");
}

/* "switch vf, ...": the operator and migration events allowed in s. */
static void allowed_events(enum port_state s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int ev = 0; ev < FE_COUNT; ev++) {
		/* The automatic events are not something one can ask for. */
		if (ev == FE_VF_GONE || ev == FE_VF_BACK || ev == FE_VF_DOWN ||
		    ev == FE_GUEST_VF_TX || ev == FE_TAP_GONE)
			continue;
		if (table[s][ev].kind == FK_REFUSE)
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? ", " : "", event_names[ev].name);
	}
	if (!off)
		snprintf(buf, len, "none");
}

enum port_state fsm_initial(const struct fsm_facts *f, enum fsm_handover *handover)
{
	/* A new port with its VF present: as if the VF had just arrived. */
	if (f->has_vf && f->has_tap) {
		*handover = FH_WAIT;
		return PS_HANDOVER;
	}
	*handover = FH_NONE;
	return f->has_vf ? PS_ASSIGNED : PS_EMULATED;
}

int fsm_next(const char *port, enum port_state cur, enum fsm_event ev,
	     const struct fsm_facts *f, struct fsm_result *res, char *why, size_t whylen)
{
	char states[96], events[160];
	const struct cell *c;

	if ((unsigned int)cur >= PS_COUNT || (unsigned int)ev >= FE_COUNT) {
		snprintf(why, whylen, "port %s: bad state %d or event %d", port, (int)cur,
			 (int)ev);
		return -EINVAL;
	}
	c = &table[cur][ev];
	if (c->kind == FK_REFUSE) {
		allowed_states(ev, states, sizeof(states));
		allowed_events(cur, events, sizeof(events));
		snprintf(why, whylen,
			 "port %s is %s: '%s' is refused (allowed in: %s; allowed in %s: %s)",
			 port, state_names[cur], event_names[ev].name, states, state_names[cur],
			 events);
		return -EPERM;
	}
	if ((c->need & FN_VF) && !f->has_vf) {
		snprintf(why, whylen, "port %s is %s: '%s' needs a VF and the port has none "
			 "present", port, state_names[cur], event_names[ev].name);
		return -ENODEV;
	}
	if ((c->need & FN_TAP) && !f->has_tap) {
		snprintf(why, whylen, "port %s is %s: '%s' needs a tap and the port has none "
			 "present", port, state_names[cur], event_names[ev].name);
		return -ENODEV;
	}
	res->handover = FH_NONE;
	switch (c->kind) {
	case FK_STAY:
		res->kind = FK_STAY;
		res->next = cur;
		break;
	case FK_TO:
		res->kind = c->to == cur ? FK_STAY : FK_TO;
		res->next = c->to;
		if (c->to == PS_HANDOVER)
			res->handover = c->handover ? c->handover : FH_WAIT;
		/* Re-asking for handover changes its flavour, not the state. */
		if (c->to == PS_HANDOVER && cur == PS_HANDOVER)
			res->kind = FK_TO;
		break;
	case FK_VF_ARRIVES:
		res->kind = FK_TO;
		res->next = f->has_tap ? PS_HANDOVER : PS_ASSIGNED;
		res->handover = f->has_tap ? FH_WAIT : FH_NONE;
		break;
	case FK_BEST:
		res->kind = FK_TO;
		res->next = f->has_vf ? PS_ASSIGNED : PS_EMULATED;
		break;
	case FK_REMOVE:
		res->kind = FK_REMOVE;
		res->next = cur;
		break;
	case FK_RESUME:
		res->kind = FK_TO;
		res->next = !f->has_vf ? PS_EMULATED : f->has_tap ? PS_HANDOVER : PS_ASSIGNED;
		res->handover = res->next == PS_HANDOVER ? FH_WAIT : FH_NONE;
		break;
	default:
		snprintf(why, whylen, "port %s: bad table cell", port);
		return -EINVAL;
	}
	if (res->kind == FK_TO && res->next == cur && res->next != PS_HANDOVER)
		res->kind = FK_STAY;
	snprintf(why, whylen, "%s", "");
	return 0;
}
