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
 * The addresses: one AF_PACKET socket sees what guests send into their
 * vf and tap (ingress, before semi_port at TC; outgoing frames are ignored
 * before the kernel would clone them), through a classic BPF filter
 * that keeps ARP and ICMPv6 whole and samples 1 in SNIFF_SAMPLE of the IPv4
 * and IPv6 frames -- a busy guest is learned within milliseconds, an idle
 * one from its ARP and neighbour discovery, and the daemon never sees the
 * bulk of the traffic.  A frame counts only if it came in on a port's
 * device with that port's MAC as source.  Each port keeps its PORT_ADDRS
 * most recent addresses per family (state file: "addresses").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/netd.h"

#define SNIFF_SAMPLE	1024	/* one IP frame in this many (a power of 2) */
#define SNIFF_SNAPLEN	128	/* Ethernet + IPv6 + ICMPv6 NA target */
#define SNIFF_BATCH	64	/* frames per wakeup */

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

static json_object *addr_list(int family, const void *addrs, int n)
{
	json_object *arr = json_object_new_array();
	char buf[INET6_ADDRSTRLEN];

	for (int i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(
			inet_ntop(family, (const char *)addrs + i * (family == AF_INET ? 4 : 16),
				  buf, sizeof(buf))));
	return arr;
}

static void emit_announce(struct netd *d, struct port *p, int frames, const char *stopped)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "event", json_object_new_string("announce"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "round", json_object_new_int64(p->r.ann.rounds));
	if (frames >= 0) {
		json_object_object_add(ev, "frames", json_object_new_int(frames));
		json_object_object_add(ev, "ipv4", addr_list(AF_INET, p->r.ipv4, p->r.n_ipv4));
		json_object_object_add(ev, "ipv6", addr_list(AF_INET6, p->r.ipv6, p->r.n_ipv6));
	}
	if (stopped)
		json_object_object_add(ev, "stopped", json_object_new_string(stopped));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	control_event(d, p->r.name, ev, false);
}

/* One round: RARP, a GARP per IPv4 address, an NA per IPv6 address. */
static int announce_round(struct netd *d, struct port *p)
{
	struct netcfg_announce a = {
		.vlan = p->r.vlan,
		.ipv4 = p->r.ipv4, .n_ipv4 = p->r.n_ipv4,
		.ipv6 = p->r.ipv6, .n_ipv6 = p->r.n_ipv6,
	};
	int n;

	memcpy(a.mac, p->r.mac, 6);
	n = netcfg_announce_send(d->nc, d->cfg.uplink, &a);
	p->r.ann.rounds++;
	if (n < 0)
		pr_warn("port %s: announce round %u: %s", p->r.name, p->r.ann.rounds,
			netcfg_last_error(d->nc));
	else
		pr_info("port %s: announce round %u on %s: %d frames (%u IPv4, %u IPv6)",
			p->r.name, p->r.ann.rounds, d->cfg.uplink, n, p->r.n_ipv4, p->r.n_ipv6);
	emit_announce(d, p, n, NULL);
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
		emit_announce(d, p, -1, why);
	}
	ports_save_soon(d);
}

static void announce_tick(struct netd *d, struct timer *t)
{
	struct port *p = container_of(t, struct port, t_announce);

	if (!p->r.ann.active)
		return;
	if (return_traffic(d, p)) {
		announce_stop(d, p, "return_traffic");
		return;
	}
	announce_round(d, p);
	if (p->r.ann.rounds >= d->cfg.announce.rounds) {
		announce_stop(d, p, "rounds");
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
		announce_stop(d, p, "rounds");
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

/* ---- learning addresses from what guests send ---- */

static bool learn(void *list, uint8_t *n, const void *a, size_t alen, const char *port,
		  int family)
{
	char buf[INET6_ADDRSTRLEN];
	char *l = list;

	for (int i = 0; i < *n; i++) {
		if (memcmp(l + i * alen, a, alen))
			continue;
		/* Known: most recent first. */
		memmove(l + alen, l, (size_t)i * alen);
		memcpy(l, a, alen);
		return false;
	}
	if (*n < PORT_ADDRS)
		(*n)++;
	memmove(l + alen, l, (size_t)(*n - 1) * alen);
	memcpy(l, a, alen);
	pr_info("port %s: learned %s from the guest", port, inet_ntop(family, a, buf, sizeof(buf)));
	return true;
}

static bool v4_ok(const uint8_t *a)
{
	/* Not 0.0.0.0/8, multicast or broadcast. */
	return a[0] != 0 && a[0] < 224;
}

static bool v6_ok(const uint8_t *a)
{
	static const uint8_t unspec[16];

	return memcmp(a, unspec, 16) && a[0] != 0xff;
}

static void sniff_frame(struct netd *d, const uint8_t *f, size_t len, int ifindex)
{
	struct port *p = NULL;
	uint16_t proto;
	bool changed = false;

	if (len < ETH_HLEN || (f[6] & 1))
		return;
	for (size_t i = 0; i < d->nports && !p; i++) {
		struct port *q = d->ports[i];

		if ((q->r.vf_ifindex == (uint32_t)ifindex || q->r.tap_ifindex == (uint32_t)ifindex) &&
		    !memcmp(q->r.mac, f + 6, 6))
			p = q;
	}
	if (!p || p->r.state == PS_OUTGOING)
		return;
	proto = (uint16_t)(f[12] << 8 | f[13]);
	f += ETH_HLEN;
	len -= ETH_HLEN;
	if (proto == ETH_P_ARP && len >= 28 && f[0] == 0 && f[1] == 1 && f[2] == 8 &&
	    f[3] == 0 && f[4] == 6 && f[5] == 4 && v4_ok(f + 14)) {
		changed = learn(p->r.ipv4, &p->r.n_ipv4, f + 14, 4, p->r.name, AF_INET);
	} else if (proto == ETH_P_IP && len >= 20 && (f[0] >> 4) == 4 && v4_ok(f + 12)) {
		changed = learn(p->r.ipv4, &p->r.n_ipv4, f + 12, 4, p->r.name, AF_INET);
	} else if (proto == ETH_P_IPV6 && len >= 40 && (f[0] >> 4) == 6) {
		if (v6_ok(f + 8))
			changed = learn(p->r.ipv6, &p->r.n_ipv6, f + 8, 16, p->r.name, AF_INET6);
		/* A neighbour advertisement names its target. */
		if (f[6] == 58 && len >= 64 && f[40] == 136 && v6_ok(f + 48))
			changed |= learn(p->r.ipv6, &p->r.n_ipv6, f + 48, 16, p->r.name, AF_INET6);
	}
	if (changed)
		ports_save_soon(d);
}

static void on_sniff(struct netd *d, struct evsrc *src, uint32_t events)
{
	uint8_t buf[SNIFF_SNAPLEN];

	for (int i = 0; i < SNIFF_BATCH; i++) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		ssize_t n = recvfrom(src->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&sll,
				     &sl);

		if (n < 0)
			return;
		if (sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		sniff_frame(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf),
			    sll.sll_ifindex);
	}
}

int sniff_open(struct netd *d)
{
	/*
	 * Incoming frames only; ARP and ICMPv6 whole, other IPv4 and IPv6
	 * sampled, everything else never copied.
	 */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 10, 0),	/* drop */
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 7, 0),		/* keep */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 3, 0),		/* sample */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 6),		/* or drop */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),			/* next header */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 3, 0),			/* ICMPv6: keep */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, SNIFF_SAMPLE - 1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SNIFF_SNAPLEN),			/* keep */
		BPF_STMT(BPF_RET | BPF_K, 0),					/* drop */
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int fd, one = 1, rcvbuf = 256 * 1024;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/*
	 * The filter first, then the protocol: nothing unfiltered is queued.
	 * Outgoing frames are ignored before the kernel clones them for us,
	 * so the socket costs transmitted traffic nothing.
	 */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
	    bind(fd, (struct sockaddr *)&(struct sockaddr_ll){
		    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) },
		 sizeof(struct sockaddr_ll)) < 0) {
		close(fd);
		goto fail;
	}
	d->sniff.fd = fd;
	d->sniff.fn = on_sniff;
	return netd_epoll_add(d, &d->sniff, EPOLLIN);
fail:
	pr_warn("cannot watch what guests send (%s): announces carry no GARP or NA",
		strerror(errno));
	return 0;
}

void sniff_close(struct netd *d)
{
	if (d->sniff.fd >= 0)
		close(d->sniff.fd);
	d->sniff.fd = -1;
}
