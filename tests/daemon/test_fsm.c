// SPDX-License-Identifier: GPL-2.0
/*
 * The port state machine, cell by cell: every (state, event) pair under
 * every combination of devices present, against the table written out
 * here from DESIGN section 1 and 5, independently of daemon/fsm.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/fsm.h"

enum want_kind { W_REFUSE, W_STAY, W_TO, W_ARRIVE, W_BEST, W_REMOVE, W_RESUME };

struct want {
	enum want_kind kind;
	enum port_state to;
	bool need_vf, need_tap;
	enum fsm_handover handover;	/* for W_TO handover */
};

#define R		{ W_REFUSE }
#define S		{ W_STAY }
#define S_VF		{ W_STAY, 0, true, false }
#define S_TAP		{ W_STAY, 0, false, true }
#define T(s)		{ W_TO, s }
#define T_VF(s)		{ W_TO, s, true, false }
#define T_TAP(s)	{ W_TO, s, false, true }
#define HOLD_BOTH	{ W_TO, PS_HANDOVER, true, true, FH_HOLD }
#define HOLD_TAP	{ W_TO, PS_HANDOVER, false, true, FH_HOLD }
#define ARR		{ W_ARRIVE }
#define BEST		{ W_BEST }
#define RM		{ W_REMOVE }
#define RES		{ W_RESUME }

/*
 * Columns: switch vf, switch tap, switch both, VF gone, VF back, VF down,
 * guest frame on the VF, tap gone, migrate out --begin, migrate out --to,
 * migrate done, migrate abort, migrate out --unplugged.
 */
static const struct want spec[PS_COUNT][FE_COUNT] = {
	[PS_ASSIGNED] = { S_VF, T_TAP(PS_EMULATED), HOLD_BOTH, T(PS_EMULATED), ARR, ARR, S, S,
			  HOLD_TAP, R, R, S, T_TAP(PS_EMULATED) },
	[PS_HANDOVER] = { T_VF(PS_ASSIGNED), T_TAP(PS_EMULATED), HOLD_BOTH, T(PS_EMULATED), ARR,
			  S, T(PS_ASSIGNED), BEST, HOLD_TAP, T(PS_OUTGOING), R, RES,
			  T_TAP(PS_EMULATED) },
	[PS_EMULATED] = { T_VF(PS_ASSIGNED), S_TAP, HOLD_BOTH, S, ARR, S, S, S, S_TAP,
			  T(PS_OUTGOING), R, S, S },
	[PS_OUTGOING] = { R, R, R, S, S, S, S, S, R, S, R, RES, S },
	[PS_INCOMING] = { R, R, R, S, S, S, S, S, R, R, RES, RM, R },
};

static void check_cell(enum port_state s, enum fsm_event ev, bool vf, bool tap)
{
	const struct want *w = &spec[s][ev];
	struct fsm_facts f = { .has_vf = vf, .has_tap = tap };
	struct fsm_result res = {};
	char why[512], where[96];
	int err;

	snprintf(where, sizeof(where), "%s + '%s' (vf %d, tap %d)", fsm_state_name(s),
		 fsm_event_name(ev), vf, tap);
	err = fsm_next("vm1", s, ev, &f, &res, why, sizeof(why));
	if (w->kind == W_REFUSE) {
		if (err != -EPERM)
			fail_msg("%s: want refused, got %d (%s)", where, err, why);
		/* The message says where the port is and where ev is allowed. */
		if (!strstr(why, "port vm1 is ") || !strstr(why, fsm_state_name(s)) ||
		    !strstr(why, "allowed in"))
			fail_msg("%s: unhelpful refusal: %s", where, why);
		return;
	}
	if ((w->need_vf && !vf) || (w->need_tap && !tap)) {
		if (err != -ENODEV)
			fail_msg("%s: want -ENODEV, got %d", where, err);
		if (!strstr(why, w->need_vf && !vf ? "needs a VF" : "needs a tap"))
			fail_msg("%s: message does not name the device: %s", where, why);
		return;
	}
	if (err)
		fail_msg("%s: refused: %s", where, why);
	switch (w->kind) {
	case W_STAY:
		if (res.kind != FK_STAY || res.next != s)
			fail_msg("%s: want stay, got kind %d next %s", where, res.kind,
				 fsm_state_name(res.next));
		break;
	case W_TO:
		if (res.next != w->to)
			fail_msg("%s: want %s, got %s", where, fsm_state_name(w->to),
				 fsm_state_name(res.next));
		if (w->to != s && res.kind != FK_TO)
			fail_msg("%s: kind %d, want FK_TO", where, res.kind);
		if (w->to == PS_HANDOVER &&
		    res.handover != (w->handover ? w->handover : FH_WAIT))
			fail_msg("%s: handover flavour %d", where, res.handover);
		break;
	case W_ARRIVE:
		/* A VF arriving: handover when there is a tap to hand over from. */
		if (res.next != (tap ? PS_HANDOVER : PS_ASSIGNED))
			fail_msg("%s: VF arriving went to %s", where, fsm_state_name(res.next));
		if (tap && res.handover != FH_WAIT)
			fail_msg("%s: VF arriving must wait for the guest", where);
		break;
	case W_BEST:
		if (res.next != (vf ? PS_ASSIGNED : PS_EMULATED))
			fail_msg("%s: went to %s", where, fsm_state_name(res.next));
		break;
	case W_REMOVE:
		if (res.kind != FK_REMOVE)
			fail_msg("%s: want remove, got kind %d", where, res.kind);
		break;
	case W_RESUME:
		/* The VM resumes here: the guest's VF, if any, through a handover. */
		if (res.next != (!vf ? PS_EMULATED : tap ? PS_HANDOVER : PS_ASSIGNED))
			fail_msg("%s: resumed in %s", where, fsm_state_name(res.next));
		if (res.next == PS_HANDOVER && res.handover != FH_WAIT)
			fail_msg("%s: a resumed handover must wait for the guest", where);
		break;
	default:
		fail_msg("bad spec");
	}
	if (res.next != PS_HANDOVER && res.handover != FH_NONE)
		fail_msg("%s: handover flavour outside handover", where);
}

/* One test per (state, event), under the four combinations of devices. */
static void test_cell(void **state)
{
	int cell = (int)(intptr_t)*state;

	for (int m = 0; m < 4; m++)
		check_cell((enum port_state)(cell / FE_COUNT), (enum fsm_event)(cell % FE_COUNT),
			   m & 1, m & 2);
}

static void test_cells_match_table(void **state)
{
	/* fsm_cell reports the same kinds as the spec (coarse check). */
	for (int s = 0; s < PS_COUNT; s++) {
		for (int ev = 0; ev < FE_COUNT; ev++) {
			enum fsm_kind k = fsm_cell((enum port_state)s, (enum fsm_event)ev, NULL,
						   NULL, NULL);
			bool refuse = spec[s][ev].kind == W_REFUSE;

			assert_int_equal(k == FK_REFUSE, refuse);
		}
	}
	assert_int_equal(fsm_cell(PS_COUNT, FE_SWITCH_VF, NULL, NULL, NULL), FK_REFUSE);
}

static void test_path_words(void **state)
{
	/* DESIGN section 1: state -> (rx path, tx mask). */
	/* Tunnel frames are taken only in incoming and emulated (invariant 3). */
	static const struct {
		enum port_state s;
		unsigned int rx, tx, flags;
	} t[] = {
		{ PS_ASSIGNED, SEMI_PATH_VF, SEMI_TX_VF | SEMI_TX_TAP, 0 },
		{ PS_HANDOVER, SEMI_PATH_BOTH, SEMI_TX_VF | SEMI_TX_TAP, 0 },
		{ PS_EMULATED, SEMI_PATH_TAP, SEMI_TX_VF | SEMI_TX_TAP, SEMI_PATHF_TUNNEL_IN },
		{ PS_OUTGOING, SEMI_PATH_TUNNEL, 0, 0 },
		{ PS_INCOMING, SEMI_PATH_TAP, SEMI_TX_TAP, SEMI_PATHF_TUNNEL_IN },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		union semi_pathw w = fsm_pathw(t[i].s);

		assert_int_equal(w.rx, t[i].rx);
		assert_int_equal(w.tx, t[i].tx);
		assert_int_equal(w.flags, t[i].flags);
		assert_int_equal(w.spare, 0);
	}
	assert_int_equal(fsm_pathw(PS_COUNT).word, 0);
}

static void test_initial(void **state)
{
	enum fsm_handover h;

	assert_int_equal(fsm_initial(&(struct fsm_facts){ true, true }, &h), PS_HANDOVER);
	assert_int_equal(h, FH_WAIT);
	assert_int_equal(fsm_initial(&(struct fsm_facts){ true, false }, &h), PS_ASSIGNED);
	assert_int_equal(h, FH_NONE);
	assert_int_equal(fsm_initial(&(struct fsm_facts){ false, true }, &h), PS_EMULATED);
	assert_int_equal(fsm_initial(&(struct fsm_facts){ false, false }, &h), PS_EMULATED);
}

static void test_names(void **state)
{
	for (int s = 0; s < PS_COUNT; s++)
		assert_int_equal(fsm_state_parse(fsm_state_name((enum port_state)s)), s);
	assert_int_equal(fsm_state_parse("flying"), -EINVAL);
	assert_int_equal(fsm_state_parse(NULL), -EINVAL);
	assert_string_equal(fsm_state_name(PS_COUNT), "?");
	for (int ev = 0; ev < FE_COUNT; ev++) {
		assert_string_not_equal(fsm_event_name((enum fsm_event)ev), "?");
		assert_string_not_equal(fsm_event_id((enum fsm_event)ev), "?");
	}
	assert_string_equal(fsm_tx_name(SEMI_TX_ALL), "vf,tap");
	assert_string_equal(fsm_tx_name(SEMI_TX_TAP), "tap");
	assert_string_equal(fsm_tx_name(0), "none");
}

static void test_refusal_message(void **state)
{
	struct fsm_facts f = { true, true };
	struct fsm_result res;
	char why[512];

	assert_int_equal(fsm_next("vm7", PS_OUTGOING, FE_SWITCH_VF, &f, &res, why, sizeof(why)),
			 -EPERM);
	/* current state, where the event is allowed, what is allowed now */
	assert_non_null(strstr(why, "port vm7 is outgoing"));
	assert_non_null(strstr(why, "allowed in: assigned, handover, emulated"));
	assert_non_null(strstr(why, "allowed in outgoing: migrate out --to, migrate abort"));
	assert_int_equal(fsm_next("vm7", PS_COUNT, FE_SWITCH_VF, &f, &res, why, sizeof(why)),
			 -EINVAL);
}

static void test_handover_flavours(void **state)
{
	struct fsm_facts f = { true, true };
	struct fsm_result res;
	char why[512];

	/* Asking for handover while in a waiting handover makes it hold. */
	assert_int_equal(fsm_next("p", PS_HANDOVER, FE_SWITCH_BOTH, &f, &res, why, sizeof(why)),
			 0);
	assert_int_equal(res.kind, FK_TO);
	assert_int_equal(res.handover, FH_HOLD);
	/* A VF coming back in a held handover makes it wait again. */
	assert_int_equal(fsm_next("p", PS_HANDOVER, FE_VF_BACK, &f, &res, why, sizeof(why)), 0);
	assert_int_equal(res.next, PS_HANDOVER);
	assert_int_equal(res.handover, FH_WAIT);
}

#define NCELLS	(PS_COUNT * FE_COUNT)

int main(void)
{
	static char names[NCELLS][64];
	struct CMUnitTest cells[NCELLS];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cells_match_table),
		cmocka_unit_test(test_path_words),
		cmocka_unit_test(test_initial),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_refusal_message),
		cmocka_unit_test(test_handover_flavours),
	};

	int failed;

	for (int i = 0; i < NCELLS; i++) {
		snprintf(names[i], sizeof(names[i]), "%s + %s",
			 fsm_state_name((enum port_state)(i / FE_COUNT)),
			 fsm_event_id((enum fsm_event)(i % FE_COUNT)));
		cells[i] = (struct CMUnitTest){
			.name = names[i], .test_func = test_cell,
			.initial_state = (void *)(intptr_t)i,
		};
	}
	failed = _cmocka_run_group_tests("fsm transitions", cells, NCELLS, NULL, NULL);
	failed += cmocka_run_group_tests_name("fsm", tests, NULL, NULL);
	return failed;
}
