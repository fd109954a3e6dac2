// SPDX-License-Identifier: GPL-2.0
/*
 * What the source's daemon tells the destination's: the guest's addresses.
 *
 * The datapath learns a guest's addresses from what it sends (announce.c),
 * but a port that has just arrived has learned nothing: its guest has not
 * sent through this host yet, and the announce at `migrate done` must name
 * its addresses all the same (DESIGN invariant 7).  The source has them,
 * final once the VM is paused: at `migrate out --to` it sends them to the
 * destination's daemon, which keeps them with the incoming port ("carried",
 * the state file's "addresses") for the announce that follows.  No command
 * changes and nothing is asked of the orchestrator: the steps stay those
 * of DESIGN section 5.
 *
 * One UDP datagram of JSON each way, between the tunnel addresses, on
 * tunnel.control_port (default: the tunnel's port + 1; the tunnel's own
 * port never reaches a socket, XDP takes it):
 *
 *   S -> D  {"semi-net":"guest","v":1,"seq":7,"port":"vm1","mac":"52:54:..",
 *            "vlan":0,"ipv4":["192.0.2.11"],"ipv6":["2001:db8::b",...]}
 *   D -> S  {"semi-net":"ack","v":1,"seq":7,"port":"vm1","taken":true}
 *
 * A datagram counts only from a configured peer's address (as a tunnel
 * frame does), and the addresses only for a port of the same MAC and VLAN
 * that is incoming from that peer -- or, arriving late, whose announce is
 * still going (they join its next round).  The source sends again after
 * 20, 40, 80 ... ms until the destination answers, PUSH_TRIES times at
 * most; a lost exchange costs the announce its GARP and NA, never the
 * migration.  `migrate done` reads what is queued before it announces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/netd.h"

#define MSG_TAG		"semi-net"
#define MSG_VERSION	1
#define MSG_MAX		2048		/* a datagram; 8 + 8 addresses fit in 1 KiB */
#define RX_BATCH	64		/* datagrams per wakeup */
#define PUSH_FIRST_MS	20
#define PUSH_TRIES	7		/* 20 ms .. 1.3 s after the first */

/* ---- sending ---- */

static json_object *addr_array(int family, const void *addrs, int n)
{
	json_object *arr = json_object_new_array();
	char buf[INET6_ADDRSTRLEN];

	for (int i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(
			inet_ntop(family, (const char *)addrs + i * (family == AF_INET ? 4 : 16),
				  buf, sizeof(buf))));
	return arr;
}

static json_object *msg_new(const char *kind, uint32_t seq, const char *port)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, MSG_TAG, json_object_new_string(kind));
	json_object_object_add(o, "v", json_object_new_int(MSG_VERSION));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "port", json_object_new_string(port));
	return o;
}

/* Send and free o. */
static int msg_send(struct netd *d, const struct sockaddr_in *to, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	int err = 0;

	if (sendto(d->pmsg.fd, s, strlen(s), MSG_DONTWAIT, (const struct sockaddr *)to,
		   sizeof(*to)) < 0)
		err = -errno;
	json_object_put(o);
	return err;
}

static struct sockaddr_in peer_sa(struct netd *d, const struct peer *peer)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr = peer->ip,
				     .sin_port = htons((uint16_t)config_control_port(&d->cfg)) };
}

static void push_send(struct netd *d, struct port *p)
{
	struct peer *peer = peer_find(d, p->r.mig.peer);
	struct sockaddr_in sa;
	struct addr_set a;
	json_object *o;
	char mac[18];
	int err;

	if (!peer || !peer->ipv4)
		return;
	sa = peer_sa(d, peer);
	port_addrs(d, p, &a);
	o = msg_new("guest", p->push_seq, p->r.name);
	json_object_object_add(o, "mac", json_object_new_string(mac_str(p->r.mac, mac)));
	json_object_object_add(o, "vlan", json_object_new_int(p->r.vlan));
	json_object_object_add(o, "ipv4", addr_array(AF_INET, a.ipv4, a.n_ipv4));
	json_object_object_add(o, "ipv6", addr_array(AF_INET6, a.ipv6, a.n_ipv6));
	err = msg_send(d, &sa, o);
	p->push_tries++;
	if (p->push_tries == 1)
		pr_info("port %s: the guest's addresses (%u IPv4, %u IPv6) to %s%s%s", p->r.name,
			a.n_ipv4, a.n_ipv6, peer->cfg.name, err ? ": " : "",
			err ? strerror(-err) : "");
	if (p->push_tries < PUSH_TRIES)
		timer_arm(d, &p->t_push, ((uint64_t)PUSH_FIRST_MS << (p->push_tries - 1)) *
			  1000000ull);
	else
		pr_warn("port %s: %s did not confirm the guest's addresses (%s:%u unreachable, "
			"or no semi-netd listens there): its announce may lack GARP and NA",
			p->r.name, peer->cfg.name, peer->cfg.address, config_control_port(&d->cfg));
}

static void push_tick(struct netd *d, struct timer *t)
{
	struct port *p = container_of(t, struct port, t_push);

	/* Only while the port is the source of a migration to that peer. */
	if (p->r.state == PS_OUTGOING && p->r.mig.role == MIG_SOURCE)
		push_send(d, p);
}

void peermsg_push(struct netd *d, struct port *p)
{
	timer_cancel(d, &p->t_push);
	if (d->pmsg.fd < 0) {
		pr_warn("port %s: cannot tell %s the guest's addresses: no socket for peers "
			"(see the start-up messages)", p->r.name, p->r.mig.peer);
		return;
	}
	p->t_push.fn = push_tick;
	p->push_seq = ++d->pmsg_seq;
	p->push_tries = 0;
	p->push_done = false;
	push_send(d, p);
}

void peermsg_cancel(struct netd *d, struct port *p)
{
	timer_cancel(d, &p->t_push);
}

/* ---- receiving ---- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool jint(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= min && *out <= max;
}

static bool addrs_parse(json_object *o, const char *key, int family, void *out, uint8_t *n)
{
	json_object *arr;
	size_t len;

	if (!json_object_object_get_ex(o, key, &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return false;
	len = json_object_array_length(arr);
	if (len > PORT_ADDRS)
		return false;
	for (size_t k = 0; k < len; k++) {
		json_object *v = json_object_array_get_idx(arr, k);

		if (!json_object_is_type(v, json_type_string) ||
		    inet_pton(family, json_object_get_string(v),
			      (char *)out + k * (family == AF_INET ? 4 : 16)) != 1)
			return false;
	}
	*n = (uint8_t)len;
	return true;
}

static struct peer *peer_by_addr(struct netd *d, const struct sockaddr_in *sa)
{
	for (int i = 0; i < d->npeers; i++)
		if (d->peers[i].ipv4 && d->peers[i].ip.s_addr == sa->sin_addr.s_addr)
			return &d->peers[i];
	return NULL;
}

/* A source's "guest": keep the addresses, answer. */
static void take_guest(struct netd *d, struct peer *peer, const struct sockaddr_in *from,
		       json_object *o, uint32_t seq, const char *name)
{
	struct port *p = port_find(d, name);
	struct addr_set a = {};
	const char *note = NULL, *smac = jstr(o, "mac");
	uint8_t mac[6];
	int64_t vlan;
	json_object *ack;

	if (!smac || proto_mac_parse(smac, mac) || !jint(o, "vlan", 0, SEMI_VLAN_MAX, &vlan) ||
	    !addrs_parse(o, "ipv4", AF_INET, a.ipv4, &a.n_ipv4) ||
	    !addrs_parse(o, "ipv6", AF_INET6, a.ipv6, &a.n_ipv6)) {
		pr_warn("peer %s: a malformed message about port %s: ignored", peer->cfg.name,
			name);
		return;
	}
	if (!p)
		note = "no such port here";
	else if (memcmp(p->r.mac, mac, 6) || p->r.vlan != vlan)
		note = "the port here has another MAC or VLAN";
	else if (p->r.state == PS_INCOMING && p->r.mig.role == MIG_DEST &&
		 !strcmp(p->r.mig.peer, peer->cfg.name))
		p->r.addrs = a;
	else if (p->r.ann.active && p->r.state != PS_OUTGOING && p->r.state != PS_INCOMING)
		addr_set_merge(&p->r.addrs, &a);	/* late: for the next rounds */
	else
		note = "the port here is not arriving from that host";
	if (note) {
		pr_warn("peer %s: the addresses of port %s not taken: %s", peer->cfg.name, name,
			note);
	} else {
		pr_info("port %s: the guest's addresses from %s: %u IPv4, %u IPv6", name,
			peer->cfg.name, a.n_ipv4, a.n_ipv6);
		ports_save_soon(d);
	}
	ack = msg_new("ack", seq, name);
	json_object_object_add(ack, "taken", json_object_new_boolean(!note));
	if (note)
		json_object_object_add(ack, "note", json_object_new_string(note));
	if (msg_send(d, from, ack))
		pr_debug("peer %s: cannot answer: %s", peer->cfg.name, strerror(errno));
}

/* The destination's answer: stop sending. */
static void take_ack(struct netd *d, struct peer *peer, json_object *o, uint32_t seq,
		     const char *name)
{
	struct port *p = port_find(d, name);
	json_object *v;
	const char *note = jstr(o, "note");
	bool taken = json_object_object_get_ex(o, "taken", &v) && json_object_get_boolean(v);

	if (!p || p->push_seq != seq || p->push_done || strcmp(p->r.mig.peer, peer->cfg.name))
		return;		/* another round's, or one more answer: the first counts */
	if (p->push_tries >= PUSH_TRIES && !p->t_push.armed && taken)
		pr_info("port %s: %s has the guest's addresses after all", name, peer->cfg.name);
	timer_cancel(d, &p->t_push);
	p->push_done = true;
	if (taken)
		pr_debug("port %s: %s has the guest's addresses", name, peer->cfg.name);
	else
		pr_warn("port %s: %s did not take the guest's addresses: %s", name,
			peer->cfg.name, note ? note : "no reason given");
}

static void msg_handle(struct netd *d, const char *buf, size_t len,
		       const struct sockaddr_in *from)
{
	struct peer *peer = peer_by_addr(d, from);
	char a[INET_ADDRSTRLEN];
	json_object *o;
	const char *kind, *name;
	int64_t v, seq;

	if (!peer) {
		pr_debug("a datagram from %s:%u, no peer: ignored",
			 inet_ntop(AF_INET, &from->sin_addr, a, sizeof(a)), ntohs(from->sin_port));
		return;
	}
	if (len > MSG_MAX) {
		pr_warn("peer %s: a datagram of %zu bytes (at most %d): ignored", peer->cfg.name,
			len, MSG_MAX);
		return;
	}
	o = json_tokener_parse(buf);
	kind = o ? jstr(o, MSG_TAG) : NULL;
	name = o ? jstr(o, "port") : NULL;
	if (!kind || !jint(o, "v", MSG_VERSION, MSG_VERSION, &v) ||
	    !jint(o, "seq", 0, UINT32_MAX, &seq) || !name || strlen(name) >= SEMI_NAME_LEN) {
		pr_warn("peer %s: a datagram that is no semi-netd message of version %d: "
			"ignored", peer->cfg.name, MSG_VERSION);
	} else if (!strcmp(kind, "guest")) {
		take_guest(d, peer, from, o, (uint32_t)seq, name);
	} else if (!strcmp(kind, "ack")) {
		take_ack(d, peer, o, (uint32_t)seq, name);
	} else {
		pr_warn("peer %s: an unknown message \"%.32s\": ignored", peer->cfg.name, kind);
	}
	json_object_put(o);
}

static void on_msg(struct netd *d, struct evsrc *src, uint32_t events)
{
	char buf[MSG_MAX + 1];

	for (int i = 0; i < RX_BATCH; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(src->fd, buf, MSG_MAX, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);

		if (n < 0)
			return;
		if (fl != sizeof(from) || from.sin_family != AF_INET)
			continue;
		buf[n < MSG_MAX ? n : MSG_MAX] = '\0';
		msg_handle(d, buf, (size_t)n, &from);
	}
}

void peermsg_drain(struct netd *d)
{
	if (d->pmsg.fd >= 0)
		on_msg(d, &d->pmsg, EPOLLIN);
}

int peermsg_open(struct netd *d)
{
	unsigned int port = config_control_port(&d->cfg);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = d->tunnel_ip,
				  .sin_port = htons((uint16_t)port) };
	char a[INET_ADDRSTRLEN];
	int fd, one = 1;

	if (!d->tunnel_ip.s_addr || !d->npeers)
		return 0;
	inet_ntop(AF_INET, &d->tunnel_ip, a, sizeof(a));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* The tunnel address may come to the host after the daemon. */
	if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		goto fail;
	}
	d->pmsg.fd = fd;
	d->pmsg.fn = on_msg;
	if (netd_epoll_add(d, &d->pmsg, EPOLLIN)) {
		peermsg_close(d);
		return -EIO;
	}
	pr_debug("peers' messages on %s:%u (UDP)", a, port);
	return 0;
fail:
	pr_warn("cannot listen for peers on %s:%u (UDP): %s: guests' addresses do not travel "
		"with their migrations", a, port, strerror(errno));
	return 0;
}

void peermsg_close(struct netd *d)
{
	if (d->pmsg.fd >= 0)
		close(d->pmsg.fd);
	d->pmsg.fd = -1;
}
