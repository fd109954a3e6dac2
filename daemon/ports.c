// SPDX-License-Identifier: GPL-2.0
/*
 * The port table: the daemon's policy over libsemi_dp.
 *
 * Every change follows one order: decide (the state machine), change the
 * datapath (a state change is one path-word store), write the state file,
 * then tell the watchers.  A command whose state file cannot be written is
 * rolled back in the datapath and refused, so that what was acknowledged
 * is always both live and on disk (DESIGN invariant 5).
 *
 * Device order: when a device leaves a port the path moves away from it
 * before the port forgets it; when a device joins, the port knows it before
 * the path names it.  The datapath never points at a device it cannot use.
 */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/netd.h"

void nerr_set(struct netd_err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* The reply code of a loader error. */
static const char *dp_code(int err)
{
	switch (err) {
	case -EEXIST:
		return E_EXISTS;
	case -EBUSY:
	case -ENOSPC:
		return E_BUSY;
	case -ENODEV:
		return E_NO_DEVICE;
	case -ENOENT:
		return E_NOT_FOUND;
	default:
		return E_DATAPATH;
	}
}

int port_dp_err(struct netd *d, struct netd_err *e, int err)
{
	nerr_set(e, dp_code(err), "%s", semi_dp_last_error(d->dp));
	return err;
}

const char *port_dev_name(uint32_t ifindex, char *buf)
{
	if (!ifindex || !if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "%s", "");
	return buf;
}

/* ifindex of a device in the daemon's namespace, 0 when there is none. */
uint32_t port_dev_lookup(struct netd *d, const char *name)
{
	struct netcfg_link l;

	if (!name || !name[0])
		return 0;
	if (netcfg_link_get_by_name(d->nc, name, &l) < 0)
		return 0;
	return (uint32_t)l.ifindex;
}

/* Is the device up with a carrier (can it carry frames)? */
bool port_dev_up(struct netd *d, uint32_t ifindex)
{
	struct netcfg_link l;

	if (!ifindex || netcfg_link_get(d->nc, (int)ifindex, &l) < 0)
		return false;
	return (l.flags & IFF_UP) && l.carrier;
}

struct port *port_find(struct netd *d, const char *name)
{
	for (size_t i = 0; i < d->nports; i++)
		if (!strcmp(d->ports[i]->r.name, name))
			return d->ports[i];
	return NULL;
}

static struct fsm_facts facts_of(const struct port_rec *r)
{
	struct fsm_facts f = { .has_vf = r->vf_ifindex != 0, .has_tap = r->tap_ifindex != 0 };

	return f;
}

struct fsm_facts port_facts(const struct port *p)
{
	return facts_of(&p->r);
}

char *mac_str(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}

void port_table_remove(struct netd *d, struct port *p)
{
	for (size_t i = 0; i < d->nports; i++) {
		if (d->ports[i] == p) {
			memmove(&d->ports[i], &d->ports[i + 1],
				(d->nports - i - 1) * sizeof(d->ports[0]));
			d->nports--;
			return;
		}
	}
}

int port_table_add(struct netd *d, struct port *p)
{
	if (d->nports == d->cap_ports) {
		size_t cap = d->cap_ports ? d->cap_ports * 2 : 16;
		struct port **n = realloc(d->ports, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->ports = n;
		d->cap_ports = cap;
	}
	d->ports[d->nports++] = p;
	return 0;
}

union semi_pathw port_pathw(const struct port_rec *r)
{
	union semi_pathw w = fsm_pathw(r->state);

	if (r->hold)
		w.rx = SEMI_PATH_HOLD;
	return w;
}

void port_destroy(struct netd *d, struct port *p)
{
	hold_port_free(d, p);
	timer_cancel(d, &p->t_announce);
	timer_cancel(d, &p->t_push);
	free(p);
}

void ports_free(struct netd *d)
{
	for (size_t i = 0; i < d->nports; i++)
		port_destroy(d, d->ports[i]);
	free(d->ports);
	d->ports = NULL;
	d->nports = d->cap_ports = 0;
}

/* ---- the state file ---- */

#define TRIM_PORTS	256	/* a save of this many ports gives memory back */

int ports_save(struct netd *d, struct netd_err *e)
{
	struct state_doc doc = {};
	char err[512];
	int ret;

	snprintf(doc.instance, sizeof(doc.instance), "%s", d->cfg.instance);
	doc.generation = d->generation + 1;
	doc.n = d->nports;
	doc.ports = calloc(d->nports ? d->nports : 1, sizeof(*doc.ports));
	if (!doc.ports || peers_to_doc(d, &doc)) {
		free(doc.ports);
		nerr_set(e, E_STATE_FILE, "cannot write state file %s: out of memory",
			 d->cfg.state);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->nports; i++)
		doc.ports[i] = d->ports[i]->r;
	ret = statefile_save(d->cfg.state, &doc, err, sizeof(err));
	free(doc.ports);
	free(doc.peers);
	if (doc.n >= TRIM_PORTS)
		d->trim_heap = true;	/* a large transient: see run_loop() */
	if (ret) {
		pr_warn("%s", err);
		nerr_set(e, E_STATE_FILE, "%s", err);
		/* Whatever is on disk now, the table is what to write next. */
		d->state_dirty = true;
		timer_arm(d, &d->t_save, 1000000000ull);
		return ret;
	}
	d->generation = doc.generation;
	d->state_dirty = false;
	d->save_pending = false;
	timer_cancel(d, &d->t_save);
	return 0;
}

/*
 * An automatic change (no client waits for it) is written once the loop
 * has handled everything that is pending: a VF that closes and vanishes
 * is two notices, and the second must not wait for the first one's fsync.
 * The datapath has the change already; a reply to a command always comes
 * after a save that includes it.
 */
void ports_save_soon(struct netd *d)
{
	d->save_pending = true;
}

void ports_save_retry(struct netd *d, struct timer *t)
{
	if (d->state_dirty && ports_save(d, NULL) == 0)
		pr_info("state file %s written again", d->cfg.state);
}

/* ---- events for watchers ---- */

void emit_state(struct netd *d, struct port *p, enum port_state from,
		       const char *cause, uint64_t t0)
{
	union semi_pathw w = port_pathw(&p->r);
	json_object *ev = json_object_new_object();
	uint64_t t1 = now_ns();

	json_object_object_add(ev, "event", json_object_new_string("state"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	/* A new port comes from nowhere. */
	json_object_object_add(ev, "from", from < PS_COUNT ?
			       json_object_new_string(fsm_state_name(from)) : NULL);
	json_object_object_add(ev, "to", json_object_new_string(fsm_state_name(p->r.state)));
	json_object_object_add(ev, "cause", json_object_new_string(cause));
	json_object_object_add(ev, "path", json_object_new_string(semi_path_name(w.rx)));
	json_object_object_add(ev, "tx", json_object_new_string(fsm_tx_name(w.tx)));
	json_object_object_add(ev, "handover", json_object_new_string(
		p->r.handover == FH_WAIT ? "wait" : p->r.handover == FH_HOLD ? "hold" : "none"));
	/* CLOCK_MONOTONIC: when the cause was seen, when the path was stored. */
	json_object_object_add(ev, "detected_ns", json_object_new_uint64(t0 ? t0 : t1));
	json_object_object_add(ev, "applied_ns", json_object_new_uint64(t1));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	pr_info("port %s: %s -> %s (%s)", p->r.name, from < PS_COUNT ? fsm_state_name(from) : "new",
		fsm_state_name(p->r.state), cause);
	control_event(d, p->r.name, ev, false);
}

void emit_simple(struct netd *d, const char *port, const char *event, const char *k1,
			const char *v1, const char *k2, const char *v2)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string(event));
	if (port)
		json_object_object_add(ev, "port", json_object_new_string(port));
	if (k1)
		json_object_object_add(ev, k1, json_object_new_string(v1));
	if (k2)
		json_object_object_add(ev, k2, json_object_new_string(v2));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	control_event(d, port, ev, false);
}

static void emit_device(struct netd *d, struct port *p, const char *role, const char *dev,
			const char *action, uint32_t ifindex)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string("device"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "role", json_object_new_string(role));
	json_object_object_add(ev, "device", json_object_new_string(dev));
	json_object_object_add(ev, "action", json_object_new_string(action));
	json_object_object_add(ev, "ifindex", json_object_new_int64(ifindex));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	pr_info("port %s: %s %s %s (ifindex %u)", p->r.name, role, dev, action, ifindex);
	control_event(d, p->r.name, ev, false);
}

/* ---- the datapath ---- */

uint64_t port_vf_tx(struct netd *d, struct port *p)
{
	struct semi_port_stats s;

	if (semi_port_stats_get_id(d->dp, p->id, &s))
		return p->r.vf_tx_base;
	return s.tx[SEMI_ROLE_VF].packets;
}

static void conf_of(const struct port_rec *r, struct semi_port_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", r->name);
	memcpy(c->mac, r->mac, 6);
	c->vlan = r->vlan;
	c->vf_ifindex = r->vf_ifindex;
	c->tap_ifindex = r->tap_ifindex;
	c->path = port_pathw(r);
}

/* semi_port on clsact ingress of each present device (idempotent). */
static int attach_devs(struct netd *d, struct port *p, struct netd_err *e)
{
	char name[IF_NAMESIZE];
	int err;

	if (p->r.vf_ifindex && port_dev_name(p->r.vf_ifindex, name)[0]) {
		err = semi_dp_attach_port(d->dp, name);
		if (err)
			return port_dp_err(d, e, err);
	}
	if (p->r.tap_ifindex && port_dev_name(p->r.tap_ifindex, name)[0]) {
		err = semi_dp_attach_port(d->dp, name);
		if (err)
			return port_dp_err(d, e, err);
	}
	return 0;
}

int attachments_get(struct netd *d, struct semi_attachment **out)
{
	int n, got;

	*out = NULL;
	/* Count, then read; one more round if some came in between. */
	for (int tries = 0; tries < 3; tries++) {
		n = semi_dp_attachments(d->dp, NULL, 0);
		if (n <= 0)
			return n;
		free(*out);
		*out = calloc((size_t)n, sizeof(**out));
		if (!*out)
			return -ENOMEM;
		got = semi_dp_attachments(d->dp, *out, n);
		if (got <= n)
			return got;
	}
	return n;
}

/* What the instance recorded attaching to ifindex (SEMI_ATTACH_*), 0 none. */
uint32_t attached_kinds(struct netd *d, uint32_t ifindex)
{
	struct semi_attachment *recs;
	uint32_t kinds = 0;
	int n = attachments_get(d, &recs);

	for (int i = 0; i < n; i++)
		if (recs[i].ifindex == ifindex)
			kinds |= recs[i].kinds;
	free(recs);
	return kinds;
}

static void detach_dev(struct netd *d, uint32_t ifindex)
{
	/* Only what this instance attached: no warning for what it did not. */
	if (ifindex && attached_kinds(d, ifindex))
		semi_dp_detach_ifindex(d->dp, ifindex);
}

/*
 * Make the datapath hold p as p->r says: devices, MAC, VLAN, path word.
 * `old` is what the datapath held before (NULL for a new port).
 */
int port_dp_apply(struct netd *d, struct port *p, const struct port_rec *old,
		    struct netd_err *e)
{
	struct semi_port_conf c;
	bool adds = !old || (p->r.vf_ifindex && p->r.vf_ifindex != old->vf_ifindex) ||
		    (p->r.tap_ifindex && p->r.tap_ifindex != old->tap_ifindex);
	int err;

	conf_of(&p->r, &c);
	/* Only devices leaving: move the path off them first. */
	if (old && !adds && port_pathw(old).word != c.path.word)
		semi_path_set_id(d->dp, p->id, c.path);
	err = semi_port_put(d->dp, &c, &p->id);
	if (err)
		return port_dp_err(d, e, err);
	return attach_devs(d, p, e);
}

/* Remove the port from the datapath and its programs from its devices. */
void port_dp_remove(struct netd *d, const struct port_rec *r)
{
	semi_port_del(d->dp, r->name);
	detach_dev(d, r->vf_ifindex);
	detach_dev(d, r->tap_ifindex);
}

/* Bookkeeping of a state entered; the datapath already has it. */
void port_enter(struct netd *d, struct port *p, const struct fsm_result *res)
{
	enum port_state from = p->r.state;

	if (res->next != p->r.state)
		p->r.since_ms = wall_ms();
	p->r.state = res->next;
	p->r.handover = res->next == PS_HANDOVER ? res->handover : FH_NONE;
	if (p->r.handover == FH_WAIT)
		p->r.vf_tx_base = port_vf_tx(d, p);
	hold_plug(d, p, from);
}

/*
 * A round reads the counters of every waiting port, one syscall each: with
 * thousands waiting (a host's VMs that have not sent through their VF yet)
 * a round every handover_poll_ms would keep the daemon busy.  The period
 * stretches so that the rounds take at most 1/HANDOVER_DUTY of the time;
 * nothing is lost by waiting longer (handover delivers on both paths).
 */
#define HANDOVER_DUTY	20

static uint64_t handover_period(const struct netd *d)
{
	uint64_t min = (uint64_t)d->cfg.handover_poll_ms * 1000000ull;

	return d->handover_round_ns * HANDOVER_DUTY > min ?
	       d->handover_round_ns * HANDOVER_DUTY : min;
}

void ports_rearm_handover(struct netd *d)
{
	for (size_t i = 0; i < d->nports; i++) {
		struct port *p = d->ports[i];

		if (p->r.state == PS_HANDOVER && p->r.handover == FH_WAIT) {
			if (!d->t_handover.armed)
				timer_arm(d, &d->t_handover, handover_period(d));
			return;
		}
	}
	timer_cancel(d, &d->t_handover);
}

/*
 * An automatic event (link, counter): decide, store the path (when the
 * port is in the datapath already), tell the watchers.  No one to refuse
 * to: a failure is logged; the caller saves the state file.
 */
static void transition(struct netd *d, struct port *p, enum fsm_event ev, uint64_t t0,
		       bool store)
{
	struct fsm_facts f = facts_of(&p->r);
	enum port_state from = p->r.state;
	struct fsm_result res;
	char why[512];
	int err;

	err = fsm_next(p->r.name, p->r.state, ev, &f, &res, why, sizeof(why));
	if (err) {
		pr_warn("%s", why);
		return;
	}
	if (res.kind != FK_TO)
		return;
	port_enter(d, p, &res);
	/* A hold the new state does not call for: released around the store. */
	if (p->r.hold && !hold_still(p))
		hold_release_begin(d, p, NULL);
	/* The one store the datapath sees. */
	if (store) {
		err = semi_path_set_id(d->dp, p->id, port_pathw(&p->r));
		if (err)
			pr_warn("port %s: cannot store the %s path: %s", p->r.name,
				fsm_state_name(p->r.state), semi_dp_last_error(d->dp));
	}
	emit_state(d, p, from, fsm_event_id(ev), t0);
	hold_release_end(d, p, fsm_event_id(ev));
}

static void auto_event(struct netd *d, struct port *p, enum fsm_event ev, uint64_t t0)
{
	transition(d, p, ev, t0, true);
}

/* ---- commands ---- */

/* A port's device must be able to carry a VM's frames. */
static int check_dev(struct netd *d, const char *port, const char *role, const char *dev,
		     struct netd_err *e)
{
	struct netcfg_link l;

	if (!dev[0] || netcfg_link_get_by_name(d->nc, dev, &l) < 0)
		return 0;	/* absent: checked when it appears */
	if (l.flags & IFF_LOOPBACK) {
		nerr_set(e, E_BAD_ARG, "port %s: %s %s is a loopback device", port, role, dev);
		return -EINVAL;
	}
	if (!strcmp(l.kind, "bridge")) {
		nerr_set(e, E_BAD_ARG, "port %s: %s %s is a bridge, not a VM's device", port,
			 role, dev);
		return -EINVAL;
	}
	return 0;
}

int port_check_unique(struct netd *d, const struct port_rec *r, const struct port *self,
			struct netd_err *e)
{
	char mac[18];
	int err;

	if (r->vf[0] && !strcmp(r->vf, r->tap)) {
		nerr_set(e, E_BAD_ARG, "port %s: vf and tap are the same device %s", r->name,
			 r->vf);
		return -EINVAL;
	}
	err = check_dev(d, r->name, "vf", r->vf, e);
	if (!err)
		err = check_dev(d, r->name, "tap", r->tap, e);
	if (err)
		return err;
	if (d->cfg.uplink[0] && (!strcmp(r->vf, d->cfg.uplink) || !strcmp(r->tap, d->cfg.uplink))) {
		nerr_set(e, E_BUSY, "port %s: %s is the uplink of instance %s", r->name,
			 d->cfg.uplink, d->cfg.instance);
		return -EBUSY;
	}
	for (size_t i = 0; i < d->nports; i++) {
		const struct port *q = d->ports[i];

		if (q == self)
			continue;
		if (!memcmp(q->r.mac, r->mac, 6) && q->r.vlan == r->vlan) {
			nerr_set(e, E_EXISTS, "port %s: MAC %s VLAN %u already belongs to port %s",
				 r->name, mac_str(r->mac, mac), r->vlan, q->r.name);
			return -EEXIST;
		}
		if ((r->vf[0] && (!strcmp(r->vf, q->r.vf) || !strcmp(r->vf, q->r.tap))) ||
		    (r->tap[0] && (!strcmp(r->tap, q->r.vf) || !strcmp(r->tap, q->r.tap)))) {
			nerr_set(e, E_BUSY, "port %s: device %s already belongs to port %s",
				 r->name, r->vf[0] && (!strcmp(r->vf, q->r.vf) ||
						      !strcmp(r->vf, q->r.tap)) ? r->vf : r->tap,
				 q->r.name);
			return -EBUSY;
		}
	}
	return 0;
}

int port_new(struct netd *d, const struct port_rec *want, struct port **out,
	     struct netd_err *e)
{
	struct port *p;
	int err = port_check_unique(d, want, NULL, e);

	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p) {
		nerr_set(e, E_INTERNAL, "out of memory");
		return -ENOMEM;
	}
	p->r = *want;
	p->r.vf_ifindex = port_dev_lookup(d, p->r.vf);
	p->r.tap_ifindex = port_dev_lookup(d, p->r.tap);
	p->vf_up = port_dev_up(d, p->r.vf_ifindex);
	p->r.since_ms = wall_ms();
	*out = p;
	return 0;
}

int port_install(struct netd *d, struct port *p, struct netd_err *e)
{
	int err = port_dp_apply(d, p, NULL, e);

	if (!err && port_table_add(d, p)) {
		nerr_set(e, E_INTERNAL, "out of memory");
		err = -ENOMEM;
	}
	if (err) {
		port_dp_remove(d, &p->r);
		port_destroy(d, p);
		return err;
	}
	p->r.vf_tx_base = port_vf_tx(d, p);	/* a new port's counters start at 0 */
	/* Counter deltas for watchers count from here. */
	p->have_last = semi_port_stats_get_id(d->dp, p->id, &p->last) == 0;
	return 0;
}

/*
 * port.add in three steps, so that a batch of them (control.c) is written
 * to the state file once: stage (checks, datapath, table), then either
 * finish (after the state file has it: watchers, bridge) or unstage.
 */
int port_add_stage(struct netd *d, const struct port_rec *want, struct port **out,
		   struct netd_err *e)
{
	struct fsm_facts f;
	struct port *p;
	int err;

	if (port_find(d, want->name)) {
		nerr_set(e, E_EXISTS, "port %s exists", want->name);
		return -EEXIST;
	}
	if (d->nports >= SEMI_MAX_PORTS) {
		nerr_set(e, E_BUSY, "instance %s is full (%d ports)", d->cfg.instance,
			 SEMI_MAX_PORTS);
		return -ENOSPC;
	}
	err = port_new(d, want, &p, e);
	if (err)
		return err;
	f = facts_of(&p->r);
	p->r.state = fsm_initial(&f, &p->r.handover);
	err = port_install(d, p, e);
	if (err)
		return err;
	*out = p;
	return 0;
}

void port_add_unstage(struct netd *d, struct port *p)
{
	port_table_remove(d, p);
	port_dp_remove(d, &p->r);
	port_destroy(d, p);
}

void port_add_finish(struct netd *d, struct port *p, const char *cause)
{
	emit_simple(d, p->r.name, "port", "action", "added", NULL, NULL);
	emit_state(d, p, PS_COUNT, cause, 0);
	bridge_sync(d, p);
	ports_rearm_handover(d);
}

int port_add_commit(struct netd *d, struct port *p, const char *cause, struct netd_err *e)
{
	int err = ports_save(d, e);

	if (err) {
		port_add_unstage(d, p);
		return err;
	}
	port_add_finish(d, p, cause);
	return 0;
}

int port_add(struct netd *d, const struct port_rec *want, struct port **out,
	     struct netd_err *e)
{
	struct port *p;
	int err;

	err = port_add_stage(d, want, &p, e);
	if (!err)
		err = port_add_commit(d, p, "port_add", e);
	if (err)
		return err;
	*out = p;
	return 0;
}

int port_del(struct netd *d, const char *name, struct netd_err *e)
{
	struct port *p = port_find(d, name);
	int err;

	if (!p) {
		nerr_set(e, E_NOT_FOUND, "no port %s", name);
		return -ENOENT;
	}
	err = port_unlist(d, p, e);
	if (err)
		return err;
	port_gone(d, p);
	ports_rearm_handover(d);
	mig_rearm_retire(d);
	return 0;
}

int port_unlist(struct netd *d, struct port *p, struct netd_err *e)
{
	int err;

	port_table_remove(d, p);
	err = ports_save(d, e);
	if (err)
		port_table_add(d, p);	/* cannot fail: the slot was just freed */
	return err;
}

void port_gone(struct netd *d, struct port *p)
{
	port_dp_remove(d, &p->r);
	bridge_release(d, p);
	emit_simple(d, p->r.name, "port", "action", "deleted", NULL, NULL);
	port_destroy(d, p);
}

int port_switch(struct netd *d, struct port *p, enum fsm_event ev, bool *changed,
		struct netd_err *e)
{
	struct fsm_facts f = facts_of(&p->r);
	struct port_rec old = p->r;
	struct fsm_result res;
	char why[512];
	int err;

	*changed = false;
	if (p->r.mig.role != MIG_NONE) {
		nerr_set(e, E_REFUSED, "port %s is %s, migrating %s %s: '%s' is refused during a "
			 "migration (migrate abort first)", p->r.name, fsm_state_name(p->r.state),
			 p->r.mig.role == MIG_SOURCE ? "to" : "from",
			 p->r.mig.peer[0] ? p->r.mig.peer : "another host", fsm_event_name(ev));
		return -EPERM;
	}
	err = fsm_next(p->r.name, p->r.state, ev, &f, &res, why, sizeof(why));
	if (err) {
		nerr_set(e, err == -ENODEV ? E_NO_DEVICE : E_REFUSED, "%s", why);
		return err;
	}
	if (res.kind != FK_TO)
		return 0;
	port_enter(d, p, &res);
	/* A plug hold the operator's switch ends: released around the store. */
	if (p->r.hold && !hold_still(p))
		hold_release_begin(d, p, NULL);
	if (port_pathw(&p->r).word != port_pathw(&old).word) {
		err = semi_path_set_id(d->dp, p->id, port_pathw(&p->r));
		if (err) {
			p->r = old;
			return port_dp_err(d, e, err);
		}
	}
	err = ports_save(d, e);
	if (err) {
		semi_path_set_id(d->dp, p->id, port_pathw(&old));
		p->r = old;
		return err;
	}
	*changed = true;
	emit_state(d, p, old.state, fsm_event_id(ev), 0);
	hold_release_end(d, p, fsm_event_id(ev));
	ports_rearm_handover(d);
	return 0;
}

int port_set(struct netd *d, struct port *p, json_object *args, struct netd_err *e)
{
	struct port_rec old = p->r, *r = &p->r;
	struct fsm_result res = { .kind = FK_STAY };
	const char *s;
	char why[512];
	bool vf_changed, tap_changed;
	int err, m;

	if (r->state == PS_OUTGOING || r->state == PS_INCOMING) {
		nerr_set(e, E_REFUSED, "port %s is %s: port set is refused during a migration "
			 "(allowed in: assigned, handover, emulated)", r->name,
			 fsm_state_name(r->state));
		return -EPERM;
	}
	if ((s = args_str(args, "mac", NULL)))
		proto_mac_parse(s, r->mac);
	if (args_has(args, "vlan"))
		r->vlan = (uint16_t)args_int(args, "vlan", 0);
	if (args_has(args, "vf"))
		snprintf(r->vf, sizeof(r->vf), "%s", args_str(args, "vf", ""));
	if (args_has(args, "tap"))
		snprintf(r->tap, sizeof(r->tap), "%s", args_str(args, "tap", ""));
	if ((s = args_str(args, "mode", NULL)) && (m = port_mode_parse(s)) >= 0)
		r->mode = (enum port_mode)m;
	err = port_check_unique(d, r, p, e);
	if (err)
		goto restore;

	vf_changed = strcmp(old.vf, r->vf) != 0;
	tap_changed = strcmp(old.tap, r->tap) != 0;
	if (vf_changed) {
		r->vf_ifindex = port_dev_lookup(d, r->vf);
		p->vf_up = port_dev_up(d, r->vf_ifindex);
	}
	if (tap_changed)
		r->tap_ifindex = port_dev_lookup(d, r->tap);

	/* What the device changes do to the state, as if the devices had come and gone. */
	if (vf_changed && old.vf_ifindex && !r->vf_ifindex)
		err = fsm_next(r->name, r->state, FE_VF_GONE, &(struct fsm_facts){
			.has_vf = false, .has_tap = r->tap_ifindex != 0 }, &res, why, sizeof(why));
	else if (vf_changed && r->vf_ifindex)
		err = fsm_next(r->name, r->state, FE_VF_BACK, &(struct fsm_facts){
			.has_vf = true, .has_tap = r->tap_ifindex != 0 }, &res, why, sizeof(why));
	if (!err && res.kind != FK_TO && tap_changed && old.tap_ifindex && !r->tap_ifindex)
		err = fsm_next(r->name, r->state, FE_TAP_GONE, &(struct fsm_facts){
			.has_vf = r->vf_ifindex != 0, .has_tap = false }, &res, why, sizeof(why));
	if (err) {
		nerr_set(e, E_REFUSED, "%s", why);
		goto restore;
	}
	if (res.kind == FK_TO)
		port_enter(d, p, &res);
	else if (r->state == PS_HANDOVER && !r->tap_ifindex)
		/* handover with one device would drop every frame */
		port_enter(d, p, &(struct fsm_result){ .kind = FK_TO, .next = r->vf_ifindex ?
						   PS_ASSIGNED : PS_EMULATED });
	/* A hold the new state does not call for: released around the store. */
	if (old.hold && r->hold && !hold_still(p))
		hold_release_begin(d, p, NULL);
	err = port_dp_apply(d, p, &old, e);
	if (err)
		goto undo_dp;
	err = ports_save(d, e);
	if (err)
		goto undo_dp;
	if (old.vf_ifindex && old.vf_ifindex != r->vf_ifindex &&
	    old.vf_ifindex != r->tap_ifindex)
		detach_dev(d, old.vf_ifindex);
	if (old.tap_ifindex && old.tap_ifindex != r->tap_ifindex &&
	    old.tap_ifindex != r->vf_ifindex)
		detach_dev(d, old.tap_ifindex);
	emit_simple(d, r->name, "port", "action", "changed", NULL, NULL);
	if (r->state != old.state || r->handover != old.handover)
		emit_state(d, p, old.state, "port_set", 0);
	hold_release_end(d, p, "port_set");
	ports_rearm_handover(d);
	return 0;

undo_dp:
	{
		struct port_rec now = p->r;

		p->r = old;
		if (!old.hold && now.hold)
			p->hold.active = false;		/* a hold this call started */
		port_dp_apply(d, p, &now, NULL);
		if (now.vf_ifindex && now.vf_ifindex != old.vf_ifindex &&
		    now.vf_ifindex != old.tap_ifindex)
			detach_dev(d, now.vf_ifindex);
		if (now.tap_ifindex && now.tap_ifindex != old.tap_ifindex &&
		    now.tap_ifindex != old.vf_ifindex)
			detach_dev(d, now.tap_ifindex);
	}
	return err;
restore:
	p->r = old;
	return err;
}

/* ---- link events ---- */

static void vf_gone(struct netd *d, struct port *p, uint64_t t0)
{
	struct port_rec old = p->r;
	char dev[SEMI_NAME_LEN];

	snprintf(dev, sizeof(dev), "%s", p->r.vf);
	p->r.vf_ifindex = 0;
	/* Path first (one store), then the port forgets the device. */
	auto_event(d, p, FE_VF_GONE, t0);
	if (port_dp_apply(d, p, &old, NULL))
		pr_warn("port %s: cannot drop the vanished VF from the datapath: %s", p->r.name,
			semi_dp_last_error(d->dp));
	detach_dev(d, old.vf_ifindex);
	emit_device(d, p, "vf", dev, "gone", old.vf_ifindex);
	ports_save_soon(d);
	ports_rearm_handover(d);
}

static void vf_back(struct netd *d, struct port *p, uint32_t ifindex, uint64_t t0)
{
	struct port_rec old = p->r;
	struct fsm_facts f;
	struct fsm_result res;
	char why[512];

	p->r.vf_ifindex = ifindex;
	p->vf_up = port_dev_up(d, ifindex);
	f = facts_of(&p->r);
	if (fsm_next(p->r.name, p->r.state, FE_VF_BACK, &f, &res, why, sizeof(why))) {
		pr_warn("%s", why);
		res.kind = FK_STAY;
	}
	if (res.kind == FK_TO)
		port_enter(d, p, &res);
	/* The port learns the device, then the path names it: one port_put. */
	if (port_dp_apply(d, p, &old, NULL)) {
		pr_warn("port %s: cannot use VF %s (ifindex %u): %s", p->r.name, p->r.vf, ifindex,
			semi_dp_last_error(d->dp));
		/* Gone again already, most likely: as it was, without the VF. */
		p->r = old;
		p->r.vf_ifindex = 0;
		port_dp_apply(d, p, &old, NULL);
		return;
	}
	if (p->r.handover == FH_WAIT)
		p->r.vf_tx_base = port_vf_tx(d, p);
	emit_device(d, p, "vf", p->r.vf, "back", ifindex);
	if (res.kind == FK_TO)
		emit_state(d, p, old.state, fsm_event_id(FE_VF_BACK), t0);
	ports_save_soon(d);
	ports_rearm_handover(d);
}

static void tap_change(struct netd *d, struct port *p, uint32_t ifindex, uint64_t t0)
{
	struct port_rec old = p->r;

	p->r.tap_ifindex = ifindex;
	if (!ifindex)
		auto_event(d, p, FE_TAP_GONE, t0);
	if (port_dp_apply(d, p, &old, NULL)) {
		pr_warn("port %s: cannot update tap %s: %s", p->r.name, p->r.tap,
			semi_dp_last_error(d->dp));
		if (ifindex) {
			p->r = old;
			p->r.tap_ifindex = 0;
			port_dp_apply(d, p, &old, NULL);
			return;
		}
	}
	if (!ifindex)
		detach_dev(d, old.tap_ifindex);
	else
		bridge_sync(d, p);
	emit_device(d, p, "tap", p->r.tap, ifindex ? "back" : "gone",
		    ifindex ? ifindex : old.tap_ifindex);
	ports_save_soon(d);
	ports_rearm_handover(d);
}

static void uplink_gone(struct netd *d, uint32_t ifindex)
{
	if (!d->uplink_ifindex || d->uplink_ifindex != ifindex)
		return;
	pr_warn("uplink %s vanished: frames from the fabric stop until it is back",
		d->cfg.uplink);
	semi_dp_detach_ifindex(d->dp, ifindex);
	d->uplink_ifindex = 0;
	d->uplink_attached = false;
	emit_simple(d, NULL, "uplink", "device", d->cfg.uplink, "action", "gone");
}

/* XDP_TX out of the uplink (the tunnel) works, or not: the datapath re-reads it. */
static void uplink_refresh(struct netd *d)
{
	if (semi_dp_uplink_refresh(d->dp))
		pr_warn("uplink %s: cannot re-check what it can do: %s", d->cfg.uplink,
			semi_dp_last_error(d->dp));
	else
		pr_debug("uplink %s: XDP_TX re-checked", d->cfg.uplink);
}

int uplink_attach(struct netd *d)
{
	struct semi_attachment *recs;
	uint32_t ifindex;
	int n, err;

	/* The configuration wins: another uplink recorded in the pins goes. */
	ifindex = port_dev_lookup(d, d->cfg.uplink);
	n = attachments_get(d, &recs);
	for (int i = 0; i < n; i++) {
		if ((recs[i].kinds & (SEMI_ATTACH_TC_UPLINK | SEMI_ATTACH_XDP_DRV)) &&
		    recs[i].ifindex != ifindex) {
			pr_info("detaching the previous uplink %s (ifindex %u): the configuration "
				"names %s", recs[i].ifname, recs[i].ifindex,
				d->cfg.uplink[0] ? d->cfg.uplink : "none");
			semi_dp_detach_ifindex(d->dp, recs[i].ifindex);
		}
	}
	free(recs);
	if (!d->cfg.uplink[0])
		return 0;
	if (!ifindex) {
		pr_warn("uplink %s is absent: semi_uplink is attached when it appears",
			d->cfg.uplink);
		return 0;
	}
	err = semi_dp_attach_uplink(d->dp, d->cfg.uplink, d->cfg.uplink_xdp);
	if (err)
		return err;
	d->uplink_ifindex = ifindex;
	d->uplink_attached = true;
	return 0;
}

void ports_link_event(const struct netcfg_link_event *ev, void *arg)
{
	struct netd *d = arg;
	const struct netcfg_link *l = &ev->link;
	uint32_t ifindex = (uint32_t)l->ifindex;
	bool renamed = ev->type == NETCFG_LINK_CHANGED && (ev->changes & NETCFG_LINK_CHG_NAME);
	uint64_t t0 = now_ns();

	if (ev->type == NETCFG_LINK_REMOVED || renamed) {
		/* A device we use by name is gone (or no longer has that name). */
		for (size_t i = 0; i < d->nports; i++) {
			struct port *p = d->ports[i];

			if (p->r.vf_ifindex == ifindex)
				vf_gone(d, p, t0);
			if (p->r.tap_ifindex == ifindex)
				tap_change(d, p, 0, t0);
		}
		uplink_gone(d, ifindex);
	}
	if (ev->type == NETCFG_LINK_ADDED || renamed) {
		for (size_t i = 0; i < d->nports; i++) {
			struct port *p = d->ports[i];

			if (p->r.vf[0] && !strcmp(p->r.vf, l->name) && p->r.vf_ifindex != ifindex)
				vf_back(d, p, ifindex, t0);
			if (p->r.tap[0] && !strcmp(p->r.tap, l->name) &&
			    p->r.tap_ifindex != ifindex)
				tap_change(d, p, ifindex, t0);
		}
		if (d->cfg.uplink[0] && !strcmp(d->cfg.uplink, l->name) &&
		    d->uplink_ifindex != ifindex) {
			if (uplink_attach(d))
				pr_warn("uplink %s appeared but cannot be attached: %s",
					d->cfg.uplink, semi_dp_last_error(d->dp));
			else
				emit_simple(d, NULL, "uplink", "device", d->cfg.uplink, "action",
					    "attached");
		}
	}
	if (ev->type == NETCFG_LINK_CHANGED && !renamed &&
	    (ev->changes & (NETCFG_LINK_CHG_FLAGS | NETCFG_LINK_CHG_CARRIER |
			    NETCFG_LINK_CHG_FEATURES))) {
		bool up = (l->flags & IFF_UP) && l->carrier;
		/*
		 * Whether a device takes XDP frames can change with its state,
		 * and with its features (a veth: its peer's XDP program comes or
		 * goes); a device going down is asked again when it is up.
		 */
		bool ask = up || (ev->changes & NETCFG_LINK_CHG_FEATURES);

		if (ask && d->uplink_attached && ifindex == d->uplink_ifindex)
			uplink_refresh(d);
		for (size_t i = 0; i < d->nports; i++) {
			struct port *p = d->ports[i];

			if (p->r.vf_ifindex == ifindex) {
				/*
				 * A VF that goes down carries nothing: hand over now.
				 * An unplug closes the VF long before it unregisters.
				 */
				if (p->vf_up && !up) {
					pr_info("port %s: VF %s is down", p->r.name, p->r.vf);
					auto_event(d, p, FE_VF_DOWN, t0);
					ports_save_soon(d);
					ports_rearm_handover(d);
				}
				p->vf_up = up;
			}
			if (ask && (p->r.vf_ifindex == ifindex || p->r.tap_ifindex == ifindex))
				semi_port_refresh(d->dp, p->r.name);
		}
	}
}

/* ---- timers ---- */

void ports_handover_tick(struct netd *d, struct timer *t)
{
	uint64_t t0 = now_ns();
	bool changed = false;

	for (size_t i = 0; i < d->nports; i++) {
		struct port *p = d->ports[i];

		if (p->r.state != PS_HANDOVER || p->r.handover != FH_WAIT)
			continue;
		if (port_vf_tx(d, p) > p->r.vf_tx_base) {
			auto_event(d, p, FE_GUEST_VF_TX, t0);
			changed = true;
		}
	}
	if (changed)
		ports_save_soon(d);
	d->handover_round_ns = now_ns() - t0;
	ports_rearm_handover(d);
}

static void ctr_delta(json_object *o, const char *key, const struct semi_ctr *now,
		      const struct semi_ctr *was)
{
	json_object *c;

	if (now->packets == was->packets && now->bytes == was->bytes)
		return;
	c = json_object_new_object();
	json_object_object_add(c, "packets", json_object_new_uint64(now->packets - was->packets));
	json_object_object_add(c, "bytes", json_object_new_uint64(now->bytes - was->bytes));
	json_object_object_add(o, key, c);
}

void ports_stats_tick(struct netd *d, struct timer *t)
{
	for (size_t i = 0; i < d->nports; i++) {
		struct port *p = d->ports[i];
		struct semi_port_stats s;
		json_object *ev, *rx, *tx, *drop;

		if (semi_port_stats_get_id(d->dp, p->id, &s))
			continue;
		if (!p->have_last || !memcmp(&s, &p->last, sizeof(s))) {
			p->last = s;
			p->have_last = true;
			continue;
		}
		ev = json_object_new_object();
		rx = json_object_new_object();
		tx = json_object_new_object();
		drop = json_object_new_object();
		for (int role = 0; role < SEMI_ROLE_MAX; role++) {
			ctr_delta(rx, semi_role_name((unsigned int)role), &s.rx[role],
				  &p->last.rx[role]);
			ctr_delta(tx, semi_role_name((unsigned int)role), &s.tx[role],
				  &p->last.tx[role]);
		}
		ctr_delta(tx, "local", &s.tx_local, &p->last.tx_local);
		for (int r = 0; r < SEMI_DROP_MAX; r++)
			if (s.drop[r] != p->last.drop[r] && semi_drop_name((unsigned int)r))
				json_object_object_add(drop, semi_drop_name((unsigned int)r),
						       json_object_new_uint64(s.drop[r] -
									      p->last.drop[r]));
		json_object_object_add(ev, "event", json_object_new_string("stats"));
		json_object_object_add(ev, "port", json_object_new_string(p->r.name));
		json_object_object_add(ev, "interval_ms",
				       json_object_new_int64(d->cfg.stats_interval_ms));
		json_object_object_add(ev, "rx", rx);
		json_object_object_add(ev, "tx", tx);
		json_object_object_add(ev, "drop", drop);
		p->last = s;
		control_event(d, p->r.name, ev, true);
	}
	if (d->nstat_watchers)
		timer_arm(d, t, (uint64_t)d->cfg.stats_interval_ms * 1000000ull);
}

/* ---- JSON views ---- */

static json_object *ctr_json(const struct semi_ctr *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "packets", json_object_new_uint64(c->packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(c->bytes));
	return o;
}

json_object *port_stats_json(const struct semi_port_stats *s, bool all)
{
	json_object *o = json_object_new_object(), *rx = json_object_new_object(),
		    *tx = json_object_new_object(), *drop = json_object_new_object();

	for (int role = 0; role < SEMI_ROLE_MAX; role++) {
		const char *name = semi_role_name((unsigned int)role);

		json_object_object_add(rx, name, ctr_json(&s->rx[role]));
		json_object_object_add(tx, name, ctr_json(&s->tx[role]));
	}
	json_object_object_add(o, "rx", rx);
	json_object_object_add(o, "tx", tx);
	json_object_object_add(o, "tx_local", ctr_json(&s->tx_local));
	json_object_object_add(o, "remote_src", ctr_json(&s->remote_src));
	json_object_object_add(o, "tunnel_in", ctr_json(&s->tunnel_in));
	for (int r = 0; r < SEMI_DROP_MAX; r++)
		if (semi_drop_name((unsigned int)r) && (all || s->drop[r]))
			json_object_object_add(drop, semi_drop_name((unsigned int)r),
					       json_object_new_uint64(s->drop[r]));
	json_object_object_add(o, "drop", drop);
	return o;
}

static json_object *dev_json(const char *name, uint32_t ifindex, bool xdp)
{
	json_object *o;

	if (!name[0])
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "present", json_object_new_boolean(ifindex != 0));
	json_object_object_add(o, "ifindex", json_object_new_int64(ifindex));
	json_object_object_add(o, "xdp", json_object_new_boolean(xdp));
	return o;
}

json_object *port_json(struct netd *d, struct port *p, bool detail)
{
	union semi_pathw w = port_pathw(&p->r);
	json_object *o = json_object_new_object();
	struct semi_port_info info;
	struct semi_port_stats s;
	bool have_info;
	char mac[18];

	have_info = semi_port_get(d->dp, p->r.name, &info) == 0;
	json_object_object_add(o, "name", json_object_new_string(p->r.name));
	json_object_object_add(o, "state", json_object_new_string(fsm_state_name(p->r.state)));
	json_object_object_add(o, "mode", json_object_new_string(port_mode_name(p->r.mode)));
	json_object_object_add(o, "mac", json_object_new_string(mac_str(p->r.mac, mac)));
	json_object_object_add(o, "vlan", json_object_new_int(p->r.vlan));
	json_object_object_add(o, "vf", dev_json(p->r.vf, p->r.vf_ifindex, have_info &&
						 (info.port.flags & SEMI_PORT_F_VF_XDP)));
	json_object_object_add(o, "tap", dev_json(p->r.tap, p->r.tap_ifindex, have_info &&
						  (info.port.flags & SEMI_PORT_F_TAP_XDP)));
	/* The live path word, read back from the datapath. */
	if (have_info)
		w = info.path;
	json_object_object_add(o, "path", json_object_new_string(semi_path_name(w.rx)));
	json_object_object_add(o, "tx", json_object_new_string(fsm_tx_name(w.tx)));
	json_object_object_add(o, "tunnel_in", json_object_new_boolean(
		(w.flags & SEMI_PATHF_TUNNEL_IN) != 0));
	json_object_object_add(o, "migration", mig_json(p));
	json_object_object_add(o, "hold", hold_json(p));
	if (!detail)
		return o;
	json_object_object_add(o, "announce", announce_json(p));
	json_object_object_add(o, "addresses", port_addrs_live_json(d, p));
	json_object_object_add(o, "id", json_object_new_int64(p->id));
	json_object_object_add(o, "handover", json_object_new_string(
		p->r.handover == FH_WAIT ? "wait" : p->r.handover == FH_HOLD ? "hold" : "none"));
	json_object_object_add(o, "since_ms", json_object_new_int64(p->r.since_ms));
	json_object_object_add(o, "in_datapath", json_object_new_boolean(have_info));
	if (semi_port_stats_get_id(d->dp, p->id, &s) == 0)
		json_object_object_add(o, "stats", port_stats_json(&s, false));
	return o;
}

/* ---- start: reconcile the state file with the pinned datapath ---- */

static enum port_state state_of_path(union semi_pathw w)
{
	switch (w.rx) {
	case SEMI_PATH_VF:
		return PS_ASSIGNED;
	case SEMI_PATH_BOTH:
		return PS_HANDOVER;
	case SEMI_PATH_TUNNEL:
		return PS_OUTGOING;
	case SEMI_PATH_TAP:
		return w.tx == SEMI_TX_TAP ? PS_INCOMING : PS_EMULATED;
	default:
		return PS_EMULATED;
	}
}

/* No state file but ports in the pins: take them as they are. */
static int adopt_from_datapath(struct netd *d, struct semi_port_info *info, int n,
			       struct state_doc *doc)
{
	char name[IF_NAMESIZE];

	doc->ports = calloc((size_t)n ? (size_t)n : 1, sizeof(*doc->ports));
	if (!doc->ports)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct port_rec *r = &doc->ports[i];

		snprintf(r->name, sizeof(r->name), "%s", info[i].port.name);
		memcpy(r->mac, info[i].port.mac, 6);
		r->vlan = info[i].port.vlan;
		snprintf(r->vf, sizeof(r->vf), "%s", port_dev_name(info[i].port.vf_ifindex, name));
		snprintf(r->tap, sizeof(r->tap), "%s",
			 port_dev_name(info[i].port.tap_ifindex, name));
		r->vf_ifindex = r->vf[0] ? info[i].port.vf_ifindex : 0;
		r->tap_ifindex = r->tap[0] ? info[i].port.tap_ifindex : 0;
		r->state = state_of_path(info[i].path);
		r->handover = r->state == PS_HANDOVER ? FH_WAIT : FH_NONE;
		r->since_ms = wall_ms();
		r->mode = PM_REPRESENTOR;
		/* A migration the file would have said more about: what the pins say. */
		if (r->state == PS_OUTGOING || r->state == PS_INCOMING) {
			struct semi_peer peers[SEMI_MAX_PEERS];
			uint32_t ids[SEMI_MAX_PEERS];
			int np = semi_peer_list(d->dp, peers, ids, SEMI_MAX_PEERS);

			r->mig.role = r->state == PS_OUTGOING ? MIG_SOURCE : MIG_DEST;
			r->mig.origin = PS_EMULATED;
			r->mig.since_ms = r->mig.out_ms = r->state == PS_OUTGOING ? wall_ms() : 0;
			for (int k = 0; k < np && k < SEMI_MAX_PEERS; k++)
				if (ids[k] == info[i].port.tunnel)
					snprintf(r->mig.peer, sizeof(r->mig.peer), "%s", peers[k].name);
		}
		pr_warn("adopting port %s from the datapath (%s, vf %s, tap %s)", r->name,
			fsm_state_name(r->state), r->vf[0] ? r->vf : "-", r->tap[0] ? r->tap : "-");
	}
	doc->n = (size_t)n;
	return 0;
}

static bool dp_matches(const struct semi_port_info *info, const struct port_rec *r)
{
	return !memcmp(info->port.mac, r->mac, 6) && info->port.vlan == r->vlan &&
	       info->port.vf_ifindex == r->vf_ifindex && info->port.tap_ifindex == r->tap_ifindex &&
	       info->path.word == port_pathw(r).word;
}

int ports_reconcile(struct netd *d, struct state_doc *doc, bool have_file)
{
	static struct semi_port_info info[SEMI_MAX_PORTS];
	struct netd_err e = {};
	int n, err;

	n = semi_port_list(d->dp, info, SEMI_MAX_PORTS);
	if (n < 0)
		return n;
	if (n > SEMI_MAX_PORTS)
		n = SEMI_MAX_PORTS;
	if (!have_file) {
		if (n)
			pr_warn("no state file %s: taking the %d ports pinned in %s as they are",
				d->cfg.state, n, semi_dp_pin_dir(d->dp));
		err = adopt_from_datapath(d, info, n, doc);
		if (err)
			return err;
	} else {
		d->generation = doc->generation;
	}
	/* The file wins for configuration: pinned ports it does not have go. */
	for (int i = 0; i < n; i++) {
		bool known = false;

		for (size_t k = 0; k < doc->n && !known; k++)
			known = !strcmp(doc->ports[k].name, info[i].port.name);
		if (known)
			continue;
		pr_warn("port %s is pinned but not in the state file %s: removing it",
			info[i].port.name, d->cfg.state);
		semi_port_del(d->dp, info[i].port.name);
		detach_dev(d, info[i].port.vf_ifindex);
		detach_dev(d, info[i].port.tap_ifindex);
	}
	for (size_t k = 0; k < doc->n; k++) {
		struct port_rec was = doc->ports[k];
		struct semi_port_info cur;
		struct port *p;
		uint32_t vf, tap;
		bool in_dp;

		p = calloc(1, sizeof(*p));
		if (!p || port_table_add(d, p)) {
			free(p);
			return -ENOMEM;
		}
		p->r = was;
		vf = port_dev_lookup(d, p->r.vf);
		tap = port_dev_lookup(d, p->r.tap);
		in_dp = semi_port_get(d->dp, p->r.name, &cur) == 0;
		if (in_dp)
			p->id = cur.id;
		/*
		 * What happened to the devices while no daemon watched: the same
		 * events as if it had.  The datapath still has the old devices,
		 * which is what the path must move away from first.
		 */
		if (was.vf_ifindex && vf != was.vf_ifindex) {
			p->r.vf_ifindex = 0;
			transition(d, p, FE_VF_GONE, 0, in_dp);
		}
		if (was.tap_ifindex && tap != was.tap_ifindex) {
			p->r.tap_ifindex = 0;
			transition(d, p, FE_TAP_GONE, 0, in_dp);
		}
		p->r.tap_ifindex = tap;
		if (vf && vf != was.vf_ifindex) {
			/* The port learns the device in dp_apply, then the path names it. */
			p->r.vf_ifindex = vf;
			transition(d, p, FE_VF_BACK, 0, false);
		}
		p->r.vf_ifindex = vf;
		p->vf_up = port_dev_up(d, vf);
		if (!in_dp || !dp_matches(&cur, &p->r)) {
			if (in_dp)
				pr_info("port %s: the datapath differs from the state file: "
					"updating it", p->r.name);
			err = port_dp_apply(d, p, in_dp ? &was : NULL, &e);
		} else {
			/* Identical: no write; only make sure the programs are there. */
			err = attach_devs(d, p, &e);
		}
		if (err) {
			pr_err("port %s: %s", p->r.name, e.message);
			return err;
		}
		/* An outgoing port's tunnel: the pins keep it; a rebuilt port needs it. */
		if (p->r.state == PS_OUTGOING && p->r.mig.peer[0]) {
			struct semi_peer peer;
			uint32_t pid = 0;

			if (semi_port_get(d->dp, p->r.name, &cur) == 0 &&
			    (semi_peer_get(d->dp, p->r.mig.peer, &peer, &pid) ||
			     cur.port.tunnel != pid) &&
			    semi_port_set_tunnel(d->dp, p->r.name, p->r.mig.peer))
				pr_warn("port %s: cannot forward to %s: %s", p->r.name,
					p->r.mig.peer, semi_dp_last_error(d->dp));
		}
		/*
		 * The counters are the datapath's.  A VF new since the file was
		 * written, or a port re-created, starts its handover watch now.
		 */
		if (p->r.handover == FH_WAIT &&
		    (!in_dp || vf != was.vf_ifindex || port_vf_tx(d, p) < p->r.vf_tx_base))
			p->r.vf_tx_base = port_vf_tx(d, p);
		p->have_last = semi_port_stats_get_id(d->dp, p->id, &p->last) == 0;
	}
	return 0;
}
