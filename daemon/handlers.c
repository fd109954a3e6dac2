// SPDX-License-Identifier: GPL-2.0
/*
 * One handler per command of the protocol table (proto.c).  A handler gets
 * a request whose arguments are already checked against the table and
 * returns exactly one reply object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/netd.h"

typedef json_object *(*handler_fn)(struct netd *d, struct conn *c, struct request *req);

static json_object *err_reply(struct request *req, const struct netd_err *e)
{
	return proto_reply_err(req->id, e->code ? e->code : E_INTERNAL, e->message);
}

static json_object *not_found(struct request *req, const char *name)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "no port %s", name);
	return proto_reply_err(req->id, E_NOT_FOUND, msg);
}

/* A port after a step: its view and the state it came from. */
static json_object *after_step(struct netd *d, struct port *p, enum port_state from)
{
	json_object *o = port_json(d, p, false);

	json_object_object_add(o, "from", json_object_new_string(fsm_state_name(from)));
	/* A hold this step released (or still holds): held, released, hold_dropped. */
	hold_reply(p, o);
	return o;
}

static json_object *h_status(struct netd *d, struct conn *c, struct request *req)
{
	json_object *o = json_object_new_object(), *states = json_object_new_object(),
		    *ports = json_object_new_array(), *up = NULL;
	size_t count[PS_COUNT] = {};

	json_object_object_add(o, "version", json_object_new_string(NETD_VERSION));
	json_object_object_add(o, "protocol", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "instance", json_object_new_string(d->cfg.instance));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "uptime_ms",
			       json_object_new_uint64((now_ns() - d->start_ns) / 1000000));
	json_object_object_add(o, "config", d->cfg.file[0] ?
			       json_object_new_string(d->cfg.file) : NULL);
	json_object_object_add(o, "socket", json_object_new_string(d->cfg.socket));
	json_object_object_add(o, "state_file", json_object_new_string(d->cfg.state));
	json_object_object_add(o, "generation", json_object_new_uint64(d->generation));
	json_object_object_add(o, "state_file_ok", json_object_new_boolean(!d->state_dirty));
	json_object_object_add(o, "pin_dir", json_object_new_string(semi_dp_pin_dir(d->dp)));
	json_object_object_add(o, "adopted", json_object_new_boolean(semi_dp_adopted(d->dp)));
	if (d->cfg.uplink[0]) {
		bool xdp = d->uplink_ifindex &&
			   (attached_kinds(d, d->uplink_ifindex) & SEMI_ATTACH_XDP_DRV);

		up = json_object_new_object();
		json_object_object_add(up, "name", json_object_new_string(d->cfg.uplink));
		json_object_object_add(up, "ifindex", json_object_new_int64(d->uplink_ifindex));
		json_object_object_add(up, "attached", json_object_new_boolean(d->uplink_attached));
		json_object_object_add(up, "xdp_mode", json_object_new_string(
			config_xdp_mode_name(d->cfg.uplink_xdp)));
		json_object_object_add(up, "xdp_native", json_object_new_boolean(xdp));
	}
	json_object_object_add(o, "uplink", up);
	json_object_object_add(o, "host", json_object_new_string(d->cfg.host));
	json_object_object_add(o, "bridge", d->cfg.bridge[0] ?
			       json_object_new_string(d->cfg.bridge) : NULL);
	json_object_object_add(o, "tunnel", tunnel_json(d));
	json_object_object_add(o, "peers", peers_json(d));
	if (hold_available(d)) {
		json_object *h = json_object_new_object();

		json_object_object_add(h, "device", json_object_new_string(d->hold.name));
		json_object_object_add(h, "ifindex", json_object_new_int64(d->hold.ifindex));
		json_object_object_add(h, "unplug", json_object_new_boolean(d->cfg.hold.unplug));
		json_object_object_add(h, "incoming",
				       json_object_new_boolean(d->cfg.hold.incoming));
		json_object_object_add(h, "plug", json_object_new_boolean(d->cfg.hold.plug));
		json_object_object_add(h, "max_ms", json_object_new_int64(d->cfg.hold.max_ms));
		json_object_object_add(h, "stray", json_object_new_uint64(d->hold.stray));
		json_object_object_add(o, "hold", h);
	} else {
		json_object_object_add(o, "hold", NULL);
	}
	for (size_t i = 0; i < d->nports; i++) {
		count[d->ports[i]->r.state]++;
		json_object_array_add(ports, port_json(d, d->ports[i], false));
	}
	for (int s = 0; s < PS_COUNT; s++)
		json_object_object_add(states, fsm_state_name((enum port_state)s),
				       json_object_new_uint64(count[s]));
	json_object_object_add(o, "ports_total", json_object_new_uint64(d->nports));
	json_object_object_add(o, "states", states);
	json_object_object_add(o, "clients", json_object_new_uint64(d->nconns));
	json_object_object_add(o, "watchers", json_object_new_uint64(d->nwatchers));
	json_object_object_add(o, "ports", ports);
	return proto_reply_ok(req->id, o);
}

static json_object *with_warnings(struct netd *d, struct port *p)
{
	json_object *o = port_json(d, p, true), *w = json_object_new_array();
	char msg[128];

	if (p->r.vf[0] && !p->r.vf_ifindex) {
		snprintf(msg, sizeof(msg), "VF %s is not present: the port moves to handover "
			 "when it appears", p->r.vf);
		json_object_array_add(w, json_object_new_string(msg));
	}
	if (p->r.tap[0] && !p->r.tap_ifindex) {
		snprintf(msg, sizeof(msg), "tap %s is not present yet", p->r.tap);
		json_object_array_add(w, json_object_new_string(msg));
	}
	if (!p->r.vf[0] && !p->r.tap[0])
		json_object_array_add(w, json_object_new_string(
			"the port has neither a VF nor a tap: frames to it are dropped"));
	json_object_object_add(o, "warnings", w);
	return o;
}

static void port_add_rec(struct request *req, struct port_rec *r)
{
	int m;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", args_str(req->args, "name", ""));
	proto_mac_parse(args_str(req->args, "mac", ""), r->mac);
	r->vlan = (uint16_t)args_int(req->args, "vlan", 0);
	snprintf(r->vf, sizeof(r->vf), "%s", args_str(req->args, "vf", ""));
	snprintf(r->tap, sizeof(r->tap), "%s", args_str(req->args, "tap", ""));
	m = port_mode_parse(args_str(req->args, "mode", "representor"));
	r->mode = m < 0 ? PM_REPRESENTOR : (enum port_mode)m;
}

static json_object *h_port_add(struct netd *d, struct conn *c, struct request *req)
{
	struct netd_err e = {};
	struct port_rec r;
	struct port *p;

	port_add_rec(req, &r);
	if (port_add(d, &r, &p, &e))
		return err_reply(req, &e);
	return proto_reply_ok(req->id, with_warnings(d, p));
}

/*
 * Group commit: each port is added as by port.add, the state file is
 * written once for all of them, and only then is any reply made.  When
 * that write fails, every port of the batch is taken out again and each
 * request gets the state_file error (as a single port.add would).
 */
void handle_port_add_batch(struct netd *d, struct conn *c, struct request *reqs, size_t n,
			   json_object **replies)
{
	struct port **staged = calloc(n, sizeof(*staged));
	struct netd_err e = {};
	bool any = false;
	struct port_rec r;
	size_t k;

	if (!staged) {
		for (k = 0; k < n; k++)
			replies[k] = handle_request(d, c, &reqs[k]);
		return;
	}
	pr_debug("client %llu: %zu port.add at once", (unsigned long long)c->id, n);
	for (k = 0; k < n; k++) {
		struct netd_err ek = {};

		port_add_rec(&reqs[k], &r);
		if (port_add_stage(d, &r, &staged[k], &ek)) {
			staged[k] = NULL;
			replies[k] = err_reply(&reqs[k], &ek);
		} else {
			any = true;
		}
	}
	if (any && ports_save(d, &e)) {
		for (k = n; k-- > 0;) {
			if (!staged[k])
				continue;
			port_add_unstage(d, staged[k]);
			staged[k] = NULL;
			replies[k] = err_reply(&reqs[k], &e);
		}
	}
	for (k = 0; k < n; k++) {
		if (!staged[k])
			continue;
		port_add_finish(d, staged[k], "port_add");
		replies[k] = proto_reply_ok(reqs[k].id, with_warnings(d, staged[k]));
	}
	free(staged);
}

static json_object *h_port_del(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", "");
	struct netd_err e = {};
	json_object *o;

	if (port_del(d, name, &e))
		return err_reply(req, &e);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "deleted", json_object_new_boolean(1));
	return proto_reply_ok(req->id, o);
}

static json_object *h_port_set(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", "");
	struct port *p = port_find(d, name);
	struct netd_err e = {};

	if (!p)
		return not_found(req, name);
	if (port_set(d, p, req->args, &e))
		return err_reply(req, &e);
	return proto_reply_ok(req->id, with_warnings(d, p));
}

static json_object *h_port_show(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", NULL);
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	if (name) {
		struct port *p = port_find(d, name);

		if (!p) {
			json_object_put(o);
			json_object_put(arr);
			return not_found(req, name);
		}
		json_object_array_add(arr, port_json(d, p, true));
	} else {
		for (size_t i = 0; i < d->nports; i++)
			json_object_array_add(arr, port_json(d, d->ports[i], true));
	}
	json_object_object_add(o, "ports", arr);
	return proto_reply_ok(req->id, o);
}

static json_object *h_switch(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", ""), *to = args_str(req->args, "to", "");
	struct port *p = port_find(d, name);
	struct netd_err e = {};
	enum port_state from;
	enum fsm_event ev;
	json_object *o;
	bool changed;

	if (!p)
		return not_found(req, name);
	ev = !strcmp(to, "vf") ? FE_SWITCH_VF : !strcmp(to, "tap") ? FE_SWITCH_TAP :
								     FE_SWITCH_BOTH;
	from = p->r.state;
	if (port_switch(d, p, ev, &changed, &e))
		return err_reply(req, &e);
	o = after_step(d, p, from);
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	return proto_reply_ok(req->id, o);
}

static json_object *stats_of(struct netd *d, struct port *p)
{
	struct semi_port_stats s;
	json_object *o;

	if (semi_port_stats_get_id(d->dp, p->id, &s))
		return NULL;
	o = port_stats_json(&s, true);
	json_object_object_add(o, "name", json_object_new_string(p->r.name));
	json_object_object_add(o, "state", json_object_new_string(fsm_state_name(p->r.state)));
	return o;
}

static json_object *instance_stats(struct netd *d)
{
	json_object *g, *drop;
	struct semi_stats s;
	const struct {
		const char *k;
		const struct semi_ctr *v;
	} ctrs[] = {
		{ "uplink_rx", &s.uplink_rx }, { "flood", &s.flood },
		{ "pass_host", &s.pass_host }, { "xdp_defer", &s.xdp_defer },
	};

	if (semi_stats_get(d->dp, &s))
		return NULL;
	g = json_object_new_object();
	drop = json_object_new_object();
	for (size_t i = 0; i < sizeof(ctrs) / sizeof(ctrs[0]); i++) {
		json_object *x = json_object_new_object();

		json_object_object_add(x, "packets", json_object_new_uint64(ctrs[i].v->packets));
		json_object_object_add(x, "bytes", json_object_new_uint64(ctrs[i].v->bytes));
		json_object_object_add(g, ctrs[i].k, x);
	}
	for (int r = 0; r < SEMI_DROP_MAX; r++)
		if (semi_drop_name((unsigned int)r))
			json_object_object_add(drop, semi_drop_name((unsigned int)r),
					       json_object_new_uint64(s.drop[r]));
	json_object_object_add(g, "drop", drop);
	return g;
}

static json_object *h_stats(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", NULL);
	json_object *o = json_object_new_object(), *arr = json_object_new_array(), *ps;

	if (name) {
		struct port *p = port_find(d, name);

		if (!p) {
			json_object_put(o);
			json_object_put(arr);
			return not_found(req, name);
		}
		ps = stats_of(d, p);
		if (!ps) {
			json_object_put(o);
			json_object_put(arr);
			return proto_reply_err(req->id, E_DATAPATH, semi_dp_last_error(d->dp));
		}
		json_object_array_add(arr, ps);
	} else {
		json_object *g = instance_stats(d);

		if (g)
			json_object_object_add(o, "instance", g);
		for (size_t i = 0; i < d->nports; i++) {
			ps = stats_of(d, d->ports[i]);
			if (ps)
				json_object_array_add(arr, ps);
		}
	}
	json_object_object_add(o, "ports", arr);
	return proto_reply_ok(req->id, o);
}

static json_object *h_watch(struct netd *d, struct conn *c, struct request *req)
{
	const char *port = args_str(req->args, "port", NULL);
	bool stats = args_bool(req->args, "stats", true);
	json_object *o = json_object_new_object();

	conn_set_watch(c, true, stats, port);
	json_object_object_add(o, "watching", json_object_new_boolean(1));
	json_object_object_add(o, "port", port ? json_object_new_string(port) : NULL);
	json_object_object_add(o, "stats", json_object_new_boolean(stats));
	json_object_object_add(o, "stats_interval_ms",
			       json_object_new_int64(d->cfg.stats_interval_ms));
	return proto_reply_ok(req->id, o);
}

static json_object *h_unwatch(struct netd *d, struct conn *c, struct request *req)
{
	json_object *o = json_object_new_object();

	conn_set_watch(c, false, false, NULL);
	json_object_object_add(o, "watching", json_object_new_boolean(0));
	return proto_reply_ok(req->id, o);
}

static json_object *h_migrate_in(struct netd *d, struct conn *c, struct request *req)
{
	struct netd_err e = {};
	struct port_rec r = {};
	struct port *p;
	int m, err;

	snprintf(r.name, sizeof(r.name), "%s", args_str(req->args, "name", ""));
	proto_mac_parse(args_str(req->args, "mac", ""), r.mac);
	r.vlan = (uint16_t)args_int(req->args, "vlan", 0);
	snprintf(r.vf, sizeof(r.vf), "%s", args_str(req->args, "vf", ""));
	snprintf(r.tap, sizeof(r.tap), "%s", args_str(req->args, "tap", ""));
	m = port_mode_parse(args_str(req->args, "mode", "representor"));
	r.mode = m < 0 ? PM_REPRESENTOR : (enum port_mode)m;
	err = mig_in(d, &r, args_str(req->args, "from", ""), &p, &e);
	if (err == -EAGAIN && conn_may_wait(c))
		return NULL;	/* the peer is being resolved: again later */
	if (err)
		return err_reply(req, &e);
	return proto_reply_ok(req->id, with_warnings(d, p));
}

static json_object *h_migrate_out(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", ""), *to = args_str(req->args, "to", NULL);
	bool begin = args_bool(req->args, "begin", false), changed;
	bool unplugged = args_bool(req->args, "unplugged", false);
	struct port *p = port_find(d, name);
	enum port_state from;
	struct netd_err e = {};
	json_object *o;
	int err;

	if (begin + unplugged + (to != NULL) != 1)
		return proto_reply_err(req->id, E_BAD_ARG, "migrate.out: give one of 'begin' "
				       "(step 2, before the VF is unplugged), 'unplugged' (the "
				       "guest let its VF go) or 'to' (step 3, the VM is paused)");
	if (!p)
		return not_found(req, name);
	from = p->r.state;
	if (begin)
		err = mig_begin(d, p, &changed, &e);
	else if (unplugged)
		err = mig_unplugged(d, p, &changed, &e);
	else
		err = mig_out(d, p, to, &changed, &e);
	if (err == -EAGAIN && conn_may_wait(c))
		return NULL;	/* the peer is being resolved: again later */
	if (err)
		return err_reply(req, &e);
	o = after_step(d, p, from);
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	if (to) {
		/* The source tap's queue, sent to the peer (drain.c); null: not tried. */
		json_object_object_add(o, "drained", p->drain_ran ?
				       json_object_new_uint64(p->r.mig.drained) : NULL);
		json_object_object_add(o, "drain_failed", p->drain_ran ?
				       json_object_new_uint64(p->r.mig.drain_failed) : NULL);
	}
	return proto_reply_ok(req->id, o);
}

static json_object *h_migrate_done(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", "");
	struct port *p = port_find(d, name);
	struct netd_err e = {};
	enum port_state from;
	json_object *o;

	if (!p)
		return not_found(req, name);
	from = p->r.state;
	if (mig_done(d, p, &e))
		return err_reply(req, &e);
	o = after_step(d, p, from);
	json_object_object_add(o, "announce", announce_json(p));
	return proto_reply_ok(req->id, o);
}

static json_object *h_migrate_abort(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", "");
	struct port *p = port_find(d, name);
	bool aborted, removed;
	struct netd_err e = {};
	enum port_state from;
	json_object *o;

	if (!p)
		return not_found(req, name);
	from = p->r.state;
	if (mig_abort(d, p, &aborted, &removed, &e))
		return err_reply(req, &e);
	if (removed) {
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "state", NULL);
	} else {
		o = port_json(d, p, false);
	}
	json_object_object_add(o, "from", json_object_new_string(fsm_state_name(from)));
	json_object_object_add(o, "aborted", json_object_new_boolean(aborted));
	json_object_object_add(o, "removed", json_object_new_boolean(removed));
	if (!aborted)
		json_object_object_add(o, "reason", json_object_new_string(
			"no migration in progress"));
	return proto_reply_ok(req->id, o);
}

static json_object *h_announce(struct netd *d, struct conn *c, struct request *req)
{
	const char *name = args_str(req->args, "name", "");
	struct port *p = port_find(d, name);
	struct netd_err e = {};
	json_object *o;

	if (!p)
		return not_found(req, name);
	if (p->r.state == PS_OUTGOING || p->r.state == PS_INCOMING) {
		nerr_set(&e, E_REFUSED, "port %s is %s: the VM does not run here, it is not "
			 "announced from here", p->r.name, fsm_state_name(p->r.state));
		return err_reply(req, &e);
	}
	if (announce_start(d, p, "announce", &e))
		return err_reply(req, &e);
	o = port_json(d, p, false);
	json_object_object_add(o, "announce", announce_json(p));
	json_object_object_add(o, "addresses", port_addrs_live_json(d, p));
	return proto_reply_ok(req->id, o);
}

static json_object *h_not_implemented(struct netd *d, struct conn *c, struct request *req)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s is not implemented by this semi-netd %s", req->cmd->words,
		 NETD_VERSION);
	return proto_reply_err(req->id, E_NOT_IMPLEMENTED, msg);
}

static json_object *h_flush(struct netd *d, struct conn *c, struct request *req)
{
	json_object *o = json_object_new_object();
	char dir[256];
	int err;

	snprintf(dir, sizeof(dir), "%s", semi_dp_pin_dir(d->dp));
	pr_warn("flush asked by pid %d: removing the datapath at %s and the state file %s",
		c->pid, dir, d->cfg.state);
	err = semi_dp_destroy(d->dp);	/* frees the handle, also on failure */
	d->dp = NULL;
	d->stop = NETD_FLUSHED;
	if (unlink(d->cfg.state) < 0 && errno != ENOENT)
		pr_warn("cannot remove state file %s: %s", d->cfg.state, strerror(errno));
	ports_free(d);
	if (err) {
		char msg[512];

		json_object_put(o);
		snprintf(msg, sizeof(msg), "flush of %s incomplete: %s; semi-netd stops", dir,
			 strerror(-err));
		return proto_reply_err(req->id, E_DATAPATH, msg);
	}
	json_object_object_add(o, "flushed", json_object_new_boolean(1));
	json_object_object_add(o, "pin_dir", json_object_new_string(dir));
	json_object_object_add(o, "state_file", json_object_new_string(d->cfg.state));
	return proto_reply_ok(req->id, o);
}

static const handler_fn handlers[CMD_COUNT] = {
	[CMD_STATUS] = h_status,
	[CMD_PORT_ADD] = h_port_add,
	[CMD_PORT_DEL] = h_port_del,
	[CMD_PORT_SET] = h_port_set,
	[CMD_PORT_SHOW] = h_port_show,
	[CMD_SWITCH] = h_switch,
	[CMD_STATS] = h_stats,
	[CMD_WATCH] = h_watch,
	[CMD_UNWATCH] = h_unwatch,
	[CMD_MIGRATE_IN] = h_migrate_in,
	[CMD_MIGRATE_OUT] = h_migrate_out,
	[CMD_MIGRATE_DONE] = h_migrate_done,
	[CMD_MIGRATE_ABORT] = h_migrate_abort,
	[CMD_ANNOUNCE] = h_announce,
	[CMD_FLUSH] = h_flush,
};

json_object *handle_request(struct netd *d, struct conn *c, struct request *req)
{
	handler_fn fn = handlers[req->cmd->id];

	if (!fn)
		return h_not_implemented(d, c, req);
	pr_debug("client %llu: %s", (unsigned long long)c->id, req->cmd->cmd);
	return fn(d, c, req);
}
