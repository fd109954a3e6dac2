// SPDX-License-Identifier: GPL-2.0
/*
 * Announces and the addresses they carry.
 *
 * After a migration (migrate done; on the source, an abort after --to) the
 * host announces the VM from its uplink: one round is a RARP (as QEMU sends
 * it), a gratuitous ARP per IPv4 address and an unsolicited neighbour
 * advertisement per IPv6 address learned from the guest.  The first round
 * goes at once -- the VM runs here from that moment, never before -- then
 * after announce.initial_ms, then announce.step_ms more each round, for
 * announce.rounds rounds: QEMU's announce-self schedule (0, 50, 200, 450,
 * 800 ms by default).  Rounds stop early once return traffic for the VM is
 * seen here: frames for it that came from the fabric directly (not through
 * a peer's tunnel, not a broadcast every port gets).  The round count and
 * the counter baselines are in the state file: a restarted daemon carries
 * on.
 *
 * The addresses: the datapath learns them itself -- semi_port writes the
 * ARP sender, IPv4 and IPv6 source of every frame a guest sends into
 * semi_learned (SEMI_LEARN_SLOTS per family and port) -- and a round reads
 * them then.  A port that has just arrived has empty slots until its guest
 * sends through this host, so the source hands its guest's addresses over
 * with the migration (peermsg.c): they are "carried" (port_rec, the state
 * file's "addresses") and announced with whatever this host has learned,
 * until the announce that follows the migration ends; from then on what
 * this host's datapath learns is all there is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/netd.h"

static uint64_t rx_direct(const struct semi_port_stats *s)
{
	uint64_t rx = s->rx[SEMI_ROLE_VF].packets + s->rx[SEMI_ROLE_TAP].packets;

	return rx > s->tunnel_in.packets ? rx - s->tunnel_in.packets : 0;
}

static uint64_t floods_now(struct netd *d)
{
	struct semi_stats s;

	return semi_stats_get(d->dp, &s) ? 0 : s.flood.packets;
}

/*
 * Frames for the VM from the fabric, not by tunnel, beyond the copies of
 * floods (one per device the path names).  A heuristic for "the fabric
 * sends the VM's traffic here", cheap and on the safe side: a broadcast
 * of another VLAN makes it later, never earlier.
 */
static bool return_traffic(struct netd *d, struct port *p)
{
	struct semi_port_stats s;
	uint64_t rx, fl, copies = p->r.state == PS_HANDOVER ? 2 : 1;

	if (semi_port_stats_get_id(d->dp, p->id, &s))
		return false;
	rx = rx_direct(&s) - p->r.ann.rx_base;
	fl = floods_now(d) - p->r.ann.flood_base;
	return rx > fl * copies;
}

static bool v4_ok(const struct in_addr *a)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;

	/* Not 0.0.0.0/8, multicast or broadcast. */
	return b[0] != 0 && b[0] < 224;
}

static bool v6_ok(const struct in6_addr *a)
{
	static const struct in6_addr unspec;

	return memcmp(a, &unspec, sizeof(unspec)) && a->s6_addr[0] != 0xff;
}

static void add_v4(struct addr_set *s, const struct in_addr *a)
{
	if (!v4_ok(a) || s->n_ipv4 >= PORT_ADDRS)
		return;
	for (int i = 0; i < s->n_ipv4; i++)
		if (s->ipv4[i].s_addr == a->s_addr)
			return;
	s->ipv4[s->n_ipv4++] = *a;
}

static void add_v6(struct addr_set *s, const struct in6_addr *a)
{
	if (!v6_ok(a) || s->n_ipv6 >= PORT_ADDRS)
		return;
	for (int i = 0; i < s->n_ipv6; i++)
		if (!memcmp(&s->ipv6[i], a, sizeof(*a)))
			return;
	s->ipv6[s->n_ipv6++] = *a;
}

void addr_set_merge(struct addr_set *to, const struct addr_set *from)
{
	for (int i = 0; i < from->n_ipv4 && i < PORT_ADDRS; i++)
		add_v4(to, &from->ipv4[i]);
	for (int i = 0; i < from->n_ipv6 && i < PORT_ADDRS; i++)
		add_v6(to, &from->ipv6[i]);
}

void port_addrs(struct netd *d, struct port *p, struct addr_set *out)
{
	struct semi_learned l;

	memset(out, 0, sizeof(*out));
	/* What this host's datapath saw the guest send from, first. */
	if (semi_port_learned(d->dp, p->r.name, &l) == 0) {
		for (int i = 0; i < SEMI_LEARN_SLOTS; i++) {
			struct in6_addr a6;

			add_v4(out, &(struct in_addr){ .s_addr = l.ipv4[i] });
			memcpy(&a6, l.ipv6[i], sizeof(a6));
			add_v6(out, &a6);
		}
	}
	/* Then what came with the migration. */
	addr_set_merge(out, &p->r.addrs);
}

json_object *port_addrs_live_json(struct netd *d, struct port *p)
{
	struct addr_set a;

	port_addrs(d, p, &a);
	return port_addrs_json(&a);
}

static void emit_announce(struct netd *d, struct port *p, int frames, const struct addr_set *a,
			  const char *stopped)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string("announce"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "round", json_object_new_int64(p->r.ann.rounds));
	if (frames >= 0 && a) {
		json_object *l = port_addrs_json(a);

		json_object_object_add(ev, "frames", json_object_new_int(frames));
		json_object_object_add(ev, "ipv4", json_object_get(json_object_object_get(l,
								  "ipv4")));
		json_object_object_add(ev, "ipv6", json_object_get(json_object_object_get(l,
								  "ipv6")));
		json_object_put(l);
	}
	if (stopped)
		json_object_object_add(ev, "stopped", json_object_new_string(stopped));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	control_event(d, p->r.name, ev, false);
}

/* One round: RARP, a GARP per IPv4 address, an NA per IPv6 address. */
static int announce_round(struct netd *d, struct port *p)
{
	struct addr_set s;
	struct netcfg_announce a = { .vlan = p->r.vlan };
	int n;

	port_addrs(d, p, &s);
	a.ipv4 = s.ipv4;
	a.n_ipv4 = s.n_ipv4;
	a.ipv6 = s.ipv6;
	a.n_ipv6 = s.n_ipv6;
	memcpy(a.mac, p->r.mac, 6);
	n = netcfg_announce_send(d->nc, d->cfg.uplink, &a);
	p->r.ann.rounds++;
	if (n < 0)
		pr_warn("port %s: announce round %u: %s", p->r.name, p->r.ann.rounds,
			netcfg_last_error(d->nc));
	else
		pr_info("port %s: announce round %u on %s: %d frames (%u IPv4, %u IPv6)",
			p->r.name, p->r.ann.rounds, d->cfg.uplink, n, s.n_ipv4, s.n_ipv6);
	emit_announce(d, p, n, &s, NULL);
	return n;
}

/* The gap before round k+1, k rounds sent: initial, then step more each. */
static uint64_t gap_ms(struct netd *d, uint32_t k)
{
	return d->cfg.announce.initial_ms + (uint64_t)(k - 1) * d->cfg.announce.step_ms;
}

void announce_stop(struct netd *d, struct port *p, const char *why)
{
	timer_cancel(d, &p->t_announce);
	if (!p->r.ann.active)
		return;
	p->r.ann.active = false;
	if (why) {
		pr_info("port %s: announce stopped after %u rounds: %s", p->r.name,
			p->r.ann.rounds, why);
		emit_announce(d, p, -1, NULL, why);
	}
	ports_save_soon(d);
}

/*
 * An announce ran its course: addresses carried by a migration have served
 * the announce that followed it; this host's datapath knows the guest now.
 */
static void announce_over(struct netd *d, struct port *p, const char *why)
{
	if (p->r.addrs.n_ipv4 || p->r.addrs.n_ipv6)
		pr_debug("port %s: the addresses carried by the migration are no longer used",
			 p->r.name);
	memset(&p->r.addrs, 0, sizeof(p->r.addrs));
	announce_stop(d, p, why);
}

static void announce_tick(struct netd *d, struct timer *t)
{
	struct port *p = container_of(t, struct port, t_announce);

	if (!p->r.ann.active)
		return;
	if (return_traffic(d, p)) {
		announce_over(d, p, "return_traffic");
		return;
	}
	announce_round(d, p);
	if (p->r.ann.rounds >= d->cfg.announce.rounds) {
		announce_over(d, p, "rounds");
		return;
	}
	timer_arm(d, t, gap_ms(d, p->r.ann.rounds) * 1000000ull);
	ports_save_soon(d);
}

int announce_start(struct netd *d, struct port *p, const char *cause, struct netd_err *e)
{
	struct semi_port_stats s;

	if (!d->cfg.uplink[0] || !d->uplink_ifindex) {
		pr_warn("port %s: no announce (%s): %s", p->r.name, cause,
			d->cfg.uplink[0] ? "the uplink is absent" : "no uplink configured");
		nerr_set(e, E_NO_DEVICE, "instance %s: %s", d->cfg.instance,
			 d->cfg.uplink[0] ? "the uplink is absent" : "no uplink configured");
		return -ENODEV;
	}
	timer_cancel(d, &p->t_announce);
	p->t_announce.fn = announce_tick;
	p->r.ann = (struct ann_rec){ .active = true, .started_ms = wall_ms(),
				     .flood_base = floods_now(d) };
	if (semi_port_stats_get_id(d->dp, p->id, &s) == 0)
		p->r.ann.rx_base = rx_direct(&s);
	pr_debug("port %s: announce (%s)", p->r.name, cause);
	announce_round(d, p);
	if (p->r.ann.rounds >= d->cfg.announce.rounds)
		announce_over(d, p, "rounds");
	else
		timer_arm(d, &p->t_announce, gap_ms(d, 1) * 1000000ull);
	ports_save_soon(d);
	return 0;
}

void announce_resume(struct netd *d, struct port *p)
{
	/* The round that was due while no daemon ran goes now. */
	p->t_announce.fn = announce_tick;
	timer_arm(d, &p->t_announce, 0);
}

json_object *announce_json(struct port *p)
{
	json_object *o;

	if (!p->r.ann.active)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "rounds", json_object_new_int64(p->r.ann.rounds));
	json_object_object_add(o, "started_ms", json_object_new_int64(p->r.ann.started_ms));
	return o;
}

