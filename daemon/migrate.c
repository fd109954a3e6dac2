// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration, DESIGN section 5: source S, destination D, port p (MAC m).
 *
 *   1. D  migrate in p --mac m --tap T --from S   -> incoming: p exists on D,
 *         rx to T, tunnel frames from S taken; D's bridge is not pointed at
 *         T yet (the VM still runs on S).
 *   2. S  migrate out p --begin                   -> handover, held: one copy
 *         on each path while QEMU unplugs the VF; the VF vanishing moves p
 *         to emulated by itself (ports.c).
 *   3. S  migrate out p --to D                    -> outgoing: the tunnel to
 *         D is set first, then the path (one store); S's bridge no longer
 *         points m at T.
 *   4. D  migrate done p                          -> emulated: D's bridge
 *         points m at T, the announce starts (announce.c), the switch hook
 *         runs (hook.c).  S sees the announce come back from the fabric (its
 *         port's remote_src counter moves) and retires p after
 *         retire.linger_ms, or after retire.grace_ms at the latest.
 *   5. D  port set p --vf V                       -> handover until the guest
 *         sends through V, then assigned (ports.c).
 *
 * migrate abort, on either host, at any step before the VM runs on D:
 *   D, incoming            the port goes (it never ran here).
 *   S, handover            the VM resumes here: handover waiting for the
 *                          guest's VF (assigned when it sends through it),
 *                          emulated when the VF is gone.
 *   S, emulated/assigned   stays; the VF comes back by itself.
 *   S, outgoing            resumes (emulated, or through a handover if a VF
 *                          is there), the tunnel is cleared, the bridge
 *                          points m at T again, and S announces m (the
 *                          fabric may have seen it elsewhere).  Refused once
 *                          S has seen its announce come back: the VM runs on
 *                          D then, and going back is a migration.
 *   no migration           nothing to abort: ok, and nothing changes.
 *
 * Every step keeps ports.c's order: decide, datapath, state file (undone if
 * it cannot be written), watchers.  The migration record (role, peer, where
 * the source started, when --to was, when the announce came back) is in the
 * state file, so a daemon killed in the middle picks up where it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/netd.h"

#define RETIRE_POLL_MS	5
#define FLOODS		(NETCFG_BRPORT_FLOOD | NETCFG_BRPORT_MCAST_FLOOD | \
			 NETCFG_BRPORT_BCAST_FLOOD)

/* States in which the VM runs on this host. */
static bool vm_here(enum port_state s)
{
	return s == PS_ASSIGNED || s == PS_HANDOVER || s == PS_EMULATED;
}

/* ---- the host bridge ---- */

/* Is the port's tap a port of the configured bridge? */
static bool tap_bridged(struct netd *d, struct port *p)
{
	struct netcfg_link tap, br;

	if (!d->cfg.bridge[0] || !p->r.tap_ifindex)
		return false;
	if (netcfg_link_get(d->nc, (int)p->r.tap_ifindex, &tap) || !tap.master)
		return false;
	return netcfg_link_get_by_name(d->nc, d->cfg.bridge, &br) == 0 &&
	       br.ifindex == tap.master;
}

static void bridge_point(struct netd *d, struct port *p, bool on)
{
	char mac[18];
	int err;

	if (on)
		err = netcfg_fdb_set(d->nc, p->r.tap, p->r.mac, p->r.vlan, NETCFG_FDB_REPLACE);
	else
		err = netcfg_fdb_del(d->nc, p->r.tap, p->r.mac, p->r.vlan);
	if (err)
		pr_warn("port %s: %s", p->r.name, netcfg_last_error(d->nc));
	else
		pr_debug("port %s: bridge %s: %s %s %s", p->r.name, d->cfg.bridge,
			 mac_str(p->r.mac, mac), on ? "->" : "no longer ->", p->r.tap);
}

/*
 * semi_uplink delivers broadcasts and multicasts to every port itself: the
 * bridge must not flood them to the tap as well (the VM would get two).
 * While the VM runs here, the bridge sends its MAC to the tap (frames from
 * the host and the bridge's other ports); otherwise not.
 */
void bridge_sync(struct netd *d, struct port *p)
{
	if (!tap_bridged(d, p))
		return;
	if (netcfg_brport_set_flags(d->nc, p->r.tap, FLOODS, 0))
		pr_warn("port %s: %s", p->r.name, netcfg_last_error(d->nc));
	bridge_point(d, p, vm_here(p->r.state));
}

void bridge_release(struct netd *d, struct port *p)
{
	if (!tap_bridged(d, p))
		return;
	bridge_point(d, p, false);
	if (netcfg_brport_set_flags(d->nc, p->r.tap, FLOODS, FLOODS))
		pr_warn("port %s: %s", p->r.name, netcfg_last_error(d->nc));
}

/* ---- helpers ---- */

static int decide(struct netd *d, struct port *p, enum fsm_event ev, struct fsm_result *res,
		  struct netd_err *e)
{
	struct fsm_facts f = port_facts(p);
	char why[512];
	int err;

	err = fsm_next(p->r.name, p->r.state, ev, &f, res, why, sizeof(why));
	if (err)
		nerr_set(e, err == -ENODEV ? E_NO_DEVICE : E_REFUSED, "%s", why);
	return err;
}

/* The one store of a state change (none when the word is the same). */
static int store(struct netd *d, struct port *p, const struct port_rec *was,
		 struct netd_err *e)
{
	int err;

	if (port_pathw(&p->r).word == port_pathw(was).word)
		return 0;
	err = semi_path_set_id(d->dp, p->id, port_pathw(&p->r));
	return err ? port_dp_err(d, e, err) : 0;
}

/* Enter the decided state (a change only) with its one store; undone if it fails. */
/*
 * A port that holds and whose new state does not call for it is released
 * here, around the store: its held frames into its tap, or to peer through
 * the tunnel (--to); the caller ends the release (hold_release_end) once
 * the step is done.
 */
static int enter(struct netd *d, struct port *p, const struct fsm_result *res,
		 const struct port_rec *old, const char *peer, struct netd_err *e)
{
	int err;

	if (res->kind != FK_TO)
		return store(d, p, old, e);	/* the hold alone may have changed */
	port_enter(d, p, res);
	/* (A hold this step starts is not one to release: old did not hold.) */
	if (old->hold && p->r.hold && !hold_still(p))
		hold_release_begin(d, p, peer);
	err = store(d, p, old, e);
	if (err) {
		if (!old->hold && p->r.hold)
			p->hold.active = false;		/* a hold this step started */
		p->r = *old;
	}
	return err;
}

static void restore_path(struct netd *d, struct port *p, const struct port_rec *old)
{
	if (port_pathw(&p->r).word != port_pathw(old).word)
		semi_path_set_id(d->dp, p->id, port_pathw(old));
}

static uint64_t remote_src_now(struct netd *d, struct port *p)
{
	struct semi_port_stats s;

	if (semi_port_stats_get_id(d->dp, p->id, &s))
		return 0;
	return s.remote_src.packets;
}

static void emit_mig(struct netd *d, struct port *p, const char *action, const char *k,
		     const char *v)
{
	emit_simple(d, p->r.name, "migration", "action", action, v && v[0] ? k : NULL, v);
}

static int no_peer(struct netd *d, const char *name, struct netd_err *e)
{
	char list[256];

	peers_list(d, list, sizeof(list));
	nerr_set(e, E_NOT_FOUND, "no peer %s in the configuration of instance %s (peers: %s)",
		 name, d->cfg.instance, list);
	return -ENOENT;
}

/* The source is done with the port: it goes, as if deleted. */
static void retire(struct netd *d, struct port *p, const char *why)
{
	json_object *ev = json_object_new_object();
	struct semi_port_stats st;
	uint64_t fwd = 0;

	/* The stragglers it forwarded: its last word on the migration. */
	if (semi_port_stats_get_id(d->dp, p->id, &st) == 0)
		fwd = st.rx[SEMI_ROLE_TUNNEL].packets;
	/* What the tap held at --to went the same way (drain.c), and what the
	 * port held then (hold.c). */
	fwd += p->r.mig.drained + p->r.mig.held_out;
	pr_info("port %s: retired (%s) after forwarding %llu frames (%llu drained from its tap, "
		"%llu it held); the VM runs on %s", p->r.name, why, (unsigned long long)fwd,
		(unsigned long long)p->r.mig.drained, (unsigned long long)p->r.mig.held_out,
		p->r.mig.peer[0] ? p->r.mig.peer : "another host");
	announce_stop(d, p, NULL);
	port_table_remove(d, p);
	port_dp_remove(d, &p->r);
	bridge_release(d, p);
	json_object_object_add(ev, "event", json_object_new_string("port"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "action", json_object_new_string("retired"));
	json_object_object_add(ev, "reason", json_object_new_string(why));
	json_object_object_add(ev, "peer", json_object_new_string(p->r.mig.peer));
	json_object_object_add(ev, "forwarded", json_object_new_uint64(fwd));
	json_object_object_add(ev, "drained", json_object_new_uint64(p->r.mig.drained));
	json_object_object_add(ev, "drain_failed", json_object_new_uint64(p->r.mig.drain_failed));
	json_object_object_add(ev, "hold_released", json_object_new_uint64(p->r.mig.held_out));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	control_event(d, p->r.name, ev, false);
	port_destroy(d, p);
	ports_save_soon(d);
	ports_rearm_handover(d);
}

/* ---- the verbs ---- */

int mig_in(struct netd *d, const struct port_rec *want, const char *from, struct port **out,
	   struct netd_err *e)
{
	struct peer *peer = peer_find(d, from);
	struct port *p, *old = port_find(d, want->name);
	int err;

	if (!peer)
		return no_peer(d, from, e);
	if (old && !(old->r.state == PS_OUTGOING && old->r.mig.role == MIG_SOURCE &&
		     !memcmp(old->r.mac, want->mac, 6) && old->r.vlan == want->vlan)) {
		nerr_set(e, E_EXISTS, "port %s exists here (%s)%s", want->name,
			 fsm_state_name(old->r.state), vm_here(old->r.state) ?
			 ": the VM runs on this host" : "");
		return -EEXIST;
	}
	if (!old && d->nports >= SEMI_MAX_PORTS) {
		nerr_set(e, E_BUSY, "instance %s is full (%d ports)", d->cfg.instance,
			 SEMI_MAX_PORTS);
		return -ENOSPC;
	}
	err = peer_ready(d, peer, e);
	if (err)
		return err;
	/* Back before this host retired it: that migration is over. */
	if (old)
		retire(d, old, "migrating back");
	err = port_new(d, want, &p, e);
	if (err)
		return err;
	p->r.state = PS_INCOMING;
	p->r.handover = FH_NONE;
	/* Parked until migrate done: the incoming QEMU reads its tap too early. */
	if (d->cfg.hold.incoming && hold_available(d))
		hold_start(d, p, HOLD_INCOMING);
	p->r.mig = (struct mig_rec){ .role = MIG_DEST, .origin = PS_INCOMING,
				     .since_ms = p->r.since_ms };
	snprintf(p->r.mig.peer, sizeof(p->r.mig.peer), "%s", peer->cfg.name);
	err = port_install(d, p, e);
	if (!err)
		err = port_add_commit(d, p, "migrate_in", e);
	if (err)
		return err;
	*out = p;
	return 0;
}

int mig_begin(struct netd *d, struct port *p, bool *changed, struct netd_err *e)
{
	struct port_rec old = p->r;
	struct fsm_result res;
	int err;

	*changed = false;
	if (p->r.mig.role == MIG_DEST) {
		nerr_set(e, E_REFUSED, "port %s is %s, arriving from %s: 'migrate out --begin' "
			 "is refused (migrate done, or migrate abort, first)", p->r.name,
			 fsm_state_name(p->r.state), p->r.mig.peer);
		return -EPERM;
	}
	err = decide(d, p, FE_MIGRATE_BEGIN, &res, e);
	if (err)
		return err;
	/* Held, not both: the guest takes frames from neither NIC for a while. */
	if (res.next == PS_HANDOVER && d->cfg.hold.unplug && hold_available(d) && !p->r.hold)
		hold_start(d, p, HOLD_UNPLUG);
	/*
	 * (A plug hold still waiting for the guest's VF is released by enter()
	 * into both devices, and this handover copies to both: the guest may
	 * or may not have taken that VF.)
	 */
	err = enter(d, p, &res, &old, NULL, e);
	if (err) {
		p->hold.active = false;
		return err;
	}
	if (p->r.mig.role == MIG_NONE)
		p->r.mig = (struct mig_rec){ .role = MIG_SOURCE, .origin = old.state,
					     .since_ms = wall_ms() };
	err = ports_save(d, e);
	if (err) {
		restore_path(d, p, &old);
		p->r = old;
		if (!old.hold)
			p->hold.active = false;
		return err;
	}
	*changed = res.kind == FK_TO;
	if (*changed)
		emit_state(d, p, old.state, fsm_event_id(FE_MIGRATE_BEGIN), 0);
	if (old.mig.role == MIG_NONE)
		emit_mig(d, p, "begin", NULL, NULL);
	hold_release_end(d, p, fsm_event_id(FE_MIGRATE_BEGIN));	/* a plug hold's */
	/* Who holds the tap, while there is time: --to drains it (drain.c). */
	drain_find(d, p);
	ports_rearm_handover(d);
	return 0;
}

/*
 * The guest has let its VF go (QEMU's DEVICE_DELETED of the primary): in
 * representor mode the VF netdev stays on the host, so nothing else says
 * so.  Like the VF vanishing: emulated, and a hold is released into the tap.
 */
int mig_unplugged(struct netd *d, struct port *p, bool *changed, struct netd_err *e)
{
	struct port_rec old = p->r;
	struct fsm_result res;
	int err;

	*changed = false;
	if (p->r.mig.role == MIG_DEST) {
		nerr_set(e, E_REFUSED, "port %s is %s, arriving from %s: 'migrate out "
			 "--unplugged' is refused (migrate done, or migrate abort, first)",
			 p->r.name, fsm_state_name(p->r.state), p->r.mig.peer);
		return -EPERM;
	}
	err = decide(d, p, FE_MIGRATE_UNPLUGGED, &res, e);
	if (err)
		return err;
	err = enter(d, p, &res, &old, NULL, e);
	if (err)
		return err;
	err = ports_save(d, e);
	if (err) {
		restore_path(d, p, &old);
		p->r = old;
		return err;
	}
	*changed = res.kind == FK_TO;
	if (*changed)
		emit_state(d, p, old.state, fsm_event_id(FE_MIGRATE_UNPLUGGED), 0);
	hold_release_end(d, p, fsm_event_id(FE_MIGRATE_UNPLUGGED));
	ports_rearm_handover(d);
	return 0;
}

int mig_out(struct netd *d, struct port *p, const char *to, bool *changed, struct netd_err *e)
{
	struct peer *peer = peer_find(d, to);
	struct port_rec old = p->r;
	struct fsm_result res;
	int err;

	*changed = false;
	if (p->r.mig.role == MIG_DEST) {
		nerr_set(e, E_REFUSED, "port %s is %s, arriving from %s: 'migrate out --to' is "
			 "refused (migrate done, or migrate abort, first)", p->r.name,
			 fsm_state_name(p->r.state), p->r.mig.peer);
		return -EPERM;
	}
	if (!peer)
		return no_peer(d, to, e);
	err = decide(d, p, FE_MIGRATE_OUT, &res, e);
	if (err)
		return err;
	/* The same step again: nothing to do. */
	if (p->r.state == PS_OUTGOING && !strcmp(p->r.mig.peer, to))
		return 0;
	err = peer_ready(d, peer, e);
	if (err)
		return err;
	/* The port knows where its tunnel leads before the path names it. */
	err = semi_port_set_tunnel(d->dp, p->r.name, to);
	if (err)
		return port_dp_err(d, e, err);
	err = enter(d, p, &res, &old, to, e);
	if (err)
		goto undo_tunnel;
	if (p->r.mig.role == MIG_NONE)	/* (keeping what enter() released into the tunnel) */
		p->r.mig = (struct mig_rec){ .role = MIG_SOURCE, .origin = old.state,
					     .since_ms = wall_ms(),
					     .held_out = p->r.mig.held_out };
	snprintf(p->r.mig.peer, sizeof(p->r.mig.peer), "%s", to);
	p->r.mig.out_ms = wall_ms();
	p->r.mig.remote_src_base = remote_src_now(d, p);
	p->r.mig.seen_ms = 0;
	err = ports_save(d, e);
	if (err) {
		restore_path(d, p, &old);
		goto undo_tunnel;
	}
	*changed = true;
	/*
	 * No new frame enters the tap now: what it holds goes to the peer.
	 * From a handover too (the VF stays on the host): QEMU unplugged it
	 * from the guest before STOP, and read the tap until then, so what
	 * the tap holds now the guest has not had through its VF.  Not again
	 * when only the peer changes (outgoing to outgoing).
	 */
	hold_release_end(d, p, fsm_event_id(FE_MIGRATE_OUT));
	if (old.state != PS_OUTGOING) {
		p->drain_ran = false;
		drain_tap(d, p);
	}
	/* What semi-netd sent the peer itself counts in `forwarded` at retirement. */
	ports_save_soon(d);
	announce_stop(d, p, "the VM left");
	/* The VM is paused: its addresses are final; the destination announces them. */
	peermsg_push(d, p);
	bridge_sync(d, p);
	if (old.state != p->r.state)
		emit_state(d, p, old.state, fsm_event_id(FE_MIGRATE_OUT), 0);
	emit_mig(d, p, "out", "peer", to);
	ports_rearm_handover(d);
	mig_rearm_retire(d);
	return 0;

undo_tunnel:
	semi_port_set_tunnel(d->dp, p->r.name, old.state == PS_OUTGOING ? old.mig.peer : NULL);
	p->r = old;
	return err;
}

int mig_done(struct netd *d, struct port *p, struct netd_err *e)
{
	struct port_rec old = p->r;
	struct fsm_result res;
	char from[NETD_HOST_LEN];
	int err;

	/* What the source said about its guest, if it is still queued. */
	peermsg_drain(d);
	old = p->r;
	err = decide(d, p, FE_MIGRATE_DONE, &res, e);
	if (err)
		return err;
	snprintf(from, sizeof(from), "%s", p->r.mig.peer);
	err = enter(d, p, &res, &old, NULL, e);
	if (err)
		return err;
	memset(&p->r.mig, 0, sizeof(p->r.mig));
	err = ports_save(d, e);
	if (err) {
		restore_path(d, p, &old);
		p->r = old;
		return err;
	}
	hold_release_end(d, p, fsm_event_id(FE_MIGRATE_DONE));
	bridge_sync(d, p);
	emit_state(d, p, old.state, fsm_event_id(FE_MIGRATE_DONE), 0);
	emit_mig(d, p, "done", "peer", from);
	/* The VM runs here now, not before: announce it. */
	announce_start(d, p, "migrate_done", NULL);
	hook_migrated(d, p, from);
	ports_rearm_handover(d);
	return 0;
}

int mig_abort(struct netd *d, struct port *p, bool *aborted, bool *removed,
	      struct netd_err *e)
{
	struct port_rec old = p->r;
	struct fsm_result res;
	char when[32];
	int err;

	*aborted = *removed = false;
	if (p->r.mig.role == MIG_NONE)
		return 0;
	if (p->r.mig.role == MIG_DEST && p->r.state == PS_INCOMING) {
		/* The VM never ran here: the port goes. */
		err = port_unlist(d, p, e);
		if (err)
			return err;
		emit_mig(d, p, "aborted", "peer", p->r.mig.peer);
		pr_info("port %s: migration from %s aborted: removed", p->r.name, p->r.mig.peer);
		port_gone(d, p);
		*aborted = *removed = true;
		return 0;
	}
	if (p->r.state == PS_OUTGOING && p->r.mig.seen_ms) {
		snprintf(when, sizeof(when), "%lld", (long long)p->r.mig.seen_ms);
		nerr_set(e, E_REFUSED, "port %s is outgoing and its announce came back from the "
			 "fabric (at %s ms): the VM runs on %s; migrate it back instead",
			 p->r.name, when, p->r.mig.peer);
		return -EPERM;
	}
	err = decide(d, p, FE_MIGRATE_ABORT, &res, e);
	if (err)
		return err;
	err = enter(d, p, &res, &old, NULL, e);
	if (err)
		return err;
	peermsg_cancel(d, p);
	/* Path first: the tunnel goes once no path names it. */
	if (old.state == PS_OUTGOING && semi_port_set_tunnel(d->dp, p->r.name, NULL))
		pr_warn("port %s: %s", p->r.name, semi_dp_last_error(d->dp));
	memset(&p->r.mig, 0, sizeof(p->r.mig));
	err = ports_save(d, e);
	if (err) {
		if (old.state == PS_OUTGOING)
			semi_port_set_tunnel(d->dp, p->r.name, old.mig.peer);
		restore_path(d, p, &old);
		p->r = old;
		return err;
	}
	*aborted = true;
	hold_release_end(d, p, fsm_event_id(FE_MIGRATE_ABORT));
	bridge_sync(d, p);
	if (res.kind == FK_TO)
		emit_state(d, p, old.state, fsm_event_id(FE_MIGRATE_ABORT), 0);
	emit_mig(d, p, "aborted", "peer", old.mig.peer);
	pr_info("port %s: migration%s%s aborted: %s", p->r.name, old.mig.peer[0] ? " to " : "",
		old.mig.peer, fsm_state_name(p->r.state));
	/* The VM runs here again; the fabric may have heard of it elsewhere. */
	if (old.state == PS_OUTGOING)
		announce_start(d, p, "migrate_abort", NULL);
	ports_rearm_handover(d);
	mig_rearm_retire(d);
	return 0;
}

/* ---- the source's retirement ---- */

void mig_retire_tick(struct netd *d, struct timer *t)
{
	int64_t now = wall_ms();

	/* Backwards: a retired port leaves the table. */
	for (size_t i = d->nports; i-- > 0;) {
		struct port *p = d->ports[i];
		struct mig_rec *m = &p->r.mig;
		uint64_t rs;

		if (p->r.state != PS_OUTGOING || m->role != MIG_SOURCE)
			continue;
		rs = remote_src_now(d, p);
		if (!m->seen_ms && rs > m->remote_src_base) {
			m->seen_ms = now;
			pr_info("port %s: its MAC came back from the fabric (%llu frames since "
				"--to): the VM runs on %s; retired in %u ms", p->r.name,
				(unsigned long long)(rs - m->remote_src_base), m->peer,
				d->cfg.retire.linger_ms);
			emit_mig(d, p, "announce_seen", "peer", m->peer);
			ports_save_soon(d);
		}
		if (m->seen_ms && now - m->seen_ms >= (int64_t)d->cfg.retire.linger_ms)
			retire(d, p, "announce_seen");
		else if (now - m->out_ms >= (int64_t)d->cfg.retire.grace_ms)
			retire(d, p, "grace_period");
	}
	mig_rearm_retire(d);
}

void mig_rearm_retire(struct netd *d)
{
	d->t_retire.fn = mig_retire_tick;
	for (size_t i = 0; i < d->nports; i++) {
		struct port *p = d->ports[i];

		if (p->r.state == PS_OUTGOING && p->r.mig.role == MIG_SOURCE) {
			if (!d->t_retire.armed)
				timer_arm(d, &d->t_retire, RETIRE_POLL_MS * 1000000ull);
			return;
		}
	}
	timer_cancel(d, &d->t_retire);
}

void mig_resume_all(struct netd *d)
{
	for (size_t i = 0; i < d->nports; i++) {
		struct port *p = d->ports[i];

		bridge_sync(d, p);
		if (p->r.ann.active)
			announce_resume(d, p);
		/* The destination may not have heard about the guest's addresses. */
		if (p->r.state == PS_OUTGOING && p->r.mig.role == MIG_SOURCE && !p->r.mig.seen_ms)
			peermsg_push(d, p);
	}
	mig_rearm_retire(d);
}

json_object *mig_json(struct port *p)
{
	const struct mig_rec *m = &p->r.mig;
	json_object *o;

	if (m->role == MIG_NONE)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "role", json_object_new_string(mig_role_name(m->role)));
	json_object_object_add(o, "peer", m->peer[0] ? json_object_new_string(m->peer) : NULL);
	json_object_object_add(o, "origin", json_object_new_string(fsm_state_name(m->origin)));
	json_object_object_add(o, "since_ms", json_object_new_int64(m->since_ms));
	json_object_object_add(o, "out_ms", m->out_ms ? json_object_new_int64(m->out_ms) : NULL);
	json_object_object_add(o, "announce_seen_ms", m->seen_ms ?
			       json_object_new_int64(m->seen_ms) : NULL);
	return o;
}
