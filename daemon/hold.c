// SPDX-License-Identifier: GPL-2.0
/*
 * The hold path: latency instead of loss while the guest takes frames from
 * neither of its NICs.
 *
 * When QEMU unplugs the VF, the guest closes it (it receives nothing more)
 * and only later unregisters it; while it is registered, net_failover
 * refuses what arrives on the standby.  Whatever the host sends in that
 * window is lost on both paths.  So the source holds the port's frames
 * from `migrate out --begin` until the guest has let its VF go (the VF
 * netdev vanishing, `migrate out --unplugged` on QEMU's DEVICE_DELETED, or
 * `--to`), and the destination holds what arrives for an incoming port
 * until `migrate done` (QEMU's RESUME: before it, the incoming QEMU reads
 * its tap too early and the guest drops what it read).  With hold.plug, a
 * port whose VF arrives while the guest runs on its tap (`port set --vf`,
 * the VF netdev appearing, `migrate done` with a VF here) holds until the
 * guest sends through the VF: when net_failover takes a new primary it
 * refuses what is still on its way through the standby, so frames sent
 * into the tap then are lost; held, they go into the VF once the guest
 * uses it (or, max_ms after the first one, a copy into each: the guest
 * takes the one its NICs let through).
 *
 * The datapath parks a held port's frames (rx path SEMI_PATH_HOLD) on one
 * device per instance, the hold device: a tap semi-netd creates at start
 * and reads (its fd is the only one; the device goes with the daemon).
 * semi-netd reads it whenever it has frames and sorts them by destination
 * MAC into a list per held port (bounded: HOLD_MAX_FRAMES, HOLD_MAX_BYTES).
 * A release writes the port's list toward the guest with an AF_PACKET
 * socket -- into its tap (the frames queue for QEMU as the datapath's
 * would), or into its VF when the port is assigned now -- or, at --to,
 * sends it to the destination through the tunnel, as drain.c sends a
 * drained tap -- then the new path word is stored, then
 * the device is read again for stragglers (frames a CPU had redirected
 * before the store), which go where the port's path leads now.
 *
 * A broadcast or multicast frame reaches the hold device once per held
 * port, in port id order (bpf/lib/deliver.h flood_ports()): a run of
 * identical copies is shared out one per held port in that order.
 *
 * Counted per port (the hold's last or current round): held (read from
 * the hold device for it), released (written into the tap or sent into
 * the tunnel or the VF), dropped (the list was full, the send failed, or
 * the port had nowhere to send them).  held = released + dropped once released.
 * The datapath counts held frames in rx.tap (where they are bound for).
 * Frames for no port are counted instance-wide (hold.stray).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "daemon/netd.h"

#define HOLD_TXQLEN		65536
#define HOLD_MAX_FRAMES		65536	/* per port */
#define HOLD_MAX_BYTES		(64u << 20)
#define HOLD_BUF		(SEMI_ENCAP_LEN + 65536)
#define HOLD_READ_BATCH		4096	/* frames per wakeup before yielding to the loop */

struct held {
	struct held *next;
	uint32_t len;
	uint8_t data[];		/* SEMI_ENCAP_LEN of room, then the frame */
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

void hold_name(const char *instance, char *buf, size_t len)
{
	snprintf(buf, len, "shold%08x", fnv1a(instance));
}

static int set_txqlen(int sock, const char *name, int qlen)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_qlen = qlen;
	return ioctl(sock, SIOCSIFTXQLEN, &ifr);
}

static int set_up(int sock, const char *name)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

/* No IPv6 on it: the host would send router solicitations and MLD there. */
static void no_ipv6(const char *name)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0)
		pr_debug("hold device %s: cannot turn IPv6 off: %s", name, strerror(errno));
	close(fd);
}

static void on_hold(struct netd *d, struct evsrc *src, uint32_t events)
{
	hold_read(d, NULL);
}

int hold_open(struct netd *d)
{
	struct ifreq ifr = {};
	int fd, sock, err;

	d->hold.fd = -1;
	if (!d->cfg.hold.unplug && !d->cfg.hold.incoming && !d->cfg.hold.plug) {
		semi_hold_set(d->dp, 0);	/* a previous daemon's device is gone */
		return 0;
	}
	hold_name(d->cfg.instance, d->hold.name, sizeof(d->hold.name));
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("cannot create the hold device: /dev/net/tun: %s; ports will not hold",
			strerror(errno));
		return 0;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", d->hold.name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		pr_warn("cannot create the hold device %s: %s; ports will not hold", d->hold.name,
			strerror(err));
		close(fd);
		return 0;
	}
	no_ipv6(d->hold.name);
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || set_txqlen(sock, d->hold.name, HOLD_TXQLEN) ||
	    set_up(sock, d->hold.name)) {
		pr_warn("cannot set up the hold device %s: %s; ports will not hold", d->hold.name,
			strerror(errno));
		goto fail;
	}
	close(sock);
	sock = -1;
	d->hold.ifindex = if_nametoindex(d->hold.name);
	if (!d->hold.ifindex || semi_hold_set(d->dp, d->hold.ifindex)) {
		pr_warn("cannot give the hold device %s to the datapath: %s; ports will not hold",
			d->hold.name, semi_dp_last_error(d->dp));
		goto fail;
	}
	d->hold.buf = malloc(HOLD_BUF);
	d->hold.src.fd = fd;
	d->hold.src.fn = on_hold;
	if (!d->hold.buf || netd_epoll_add(d, &d->hold.src, EPOLLIN)) {
		pr_warn("cannot watch the hold device %s; ports will not hold", d->hold.name);
		semi_hold_set(d->dp, 0);
		goto fail;
	}
	d->hold.fd = fd;
	pr_info("hold device %s (ifindex %u)", d->hold.name, d->hold.ifindex);
	return 0;
fail:
	if (sock >= 0)
		close(sock);
	free(d->hold.buf);
	d->hold.buf = NULL;
	d->hold.ifindex = 0;
	close(fd);
	return 0;
}

bool hold_available(struct netd *d)
{
	return d->hold.fd >= 0;
}

bool hold_still(const struct port *p)
{
	if (p->r.state == PS_INCOMING)
		return true;
	if (p->r.state != PS_HANDOVER)
		return false;
	/* A VF arriving: until the guest's first frame through it (assigned). */
	if (p->hold.kind == HOLD_PLUG && p->r.handover == FH_WAIT)
		return true;
	return p->r.handover == FH_HOLD && p->r.mig.role == MIG_SOURCE;
}

void hold_plug(struct netd *d, struct port *p, enum port_state from)
{
	if (!d->cfg.hold.plug || !hold_available(d) || p->r.state != PS_HANDOVER ||
	    p->r.handover != FH_WAIT || (from != PS_EMULATED && from != PS_INCOMING))
		return;
	if (p->r.hold) {
		/* migrate done with the VF here: the incoming hold goes on. */
		p->hold.kind = HOLD_PLUG;
		return;
	}
	hold_start(d, p, HOLD_PLUG);
}

static const char *kind_name(enum hold_kind k)
{
	return k == HOLD_INCOMING ? "incoming" : k == HOLD_PLUG ? "plug" : "unplug";
}

static const char *into_name(enum hold_into i)
{
	static const char *const names[] = {
		[HOLD_INTO_TAP] = "tap", [HOLD_INTO_VF] = "vf",
		[HOLD_INTO_BOTH] = "both", [HOLD_INTO_TUNNEL] = "tunnel",
	};

	return names[i];
}

/* Where what p held goes now: its path's way to the guest (or the peer). */
static enum hold_into into_for(const struct port *p, const char *peer)
{
	if (peer)
		return HOLD_INTO_TUNNEL;
	if (p->r.state == PS_ASSIGNED && p->r.vf_ifindex)
		return HOLD_INTO_VF;
	if (p->r.state == PS_HANDOVER && p->hold.kind == HOLD_PLUG && p->r.vf_ifindex &&
	    p->r.tap_ifindex)
		return HOLD_INTO_BOTH;
	return HOLD_INTO_TAP;
}

/* "tap X", "VF Y", "VF Y and tap X", "the tunnel": for the log. */
static const char *into_desc(const struct port *p, enum hold_into i, char *buf, size_t len)
{
	switch (i) {
	case HOLD_INTO_VF:
		snprintf(buf, len, "VF %s", p->r.vf);
		break;
	case HOLD_INTO_BOTH:
		snprintf(buf, len, "VF %s and tap %s", p->r.vf, p->r.tap);
		break;
	case HOLD_INTO_TUNNEL:
		snprintf(buf, len, "the tunnel to %s", p->r.mig.peer);
		break;
	default:
		snprintf(buf, len, "tap %s", p->r.tap[0] ? p->r.tap : "(none)");
	}
	return buf;
}

static void list_free(struct port *p)
{
	struct held *h = p->hold.head, *n;

	for (; h; h = n) {
		n = h->next;
		free(h);
	}
	p->hold.head = p->hold.tail = NULL;
	p->hold.n = 0;
	p->hold.bytes = 0;
}

void hold_start(struct netd *d, struct port *p, enum hold_kind kind)
{
	list_free(p);
	timer_cancel(d, &p->hold.t_max);
	p->r.hold = true;
	p->hold.kind = kind;
	p->hold.since_ns = now_ns();
	p->hold.first_ns = 0;
	p->hold.held = p->hold.released = p->hold.dropped = 0;
	p->hold.overflow = p->hold.tap_full = 0;
	p->hold.active = true;
}

static void hold_timeout(struct netd *d, struct timer *t);

/* A frame read from the hold device, for port p (which holds). */
static void keep(struct netd *d, struct port *p, const uint8_t *f, size_t len)
{
	struct held *h;

	p->hold.held++;
	if (!p->hold.first_ns) {
		/* max_ms counts from the first frame held. */
		p->hold.first_ns = now_ns();
		p->hold.t_max.fn = hold_timeout;
		timer_arm(d, &p->hold.t_max, (uint64_t)d->cfg.hold.max_ms * 1000000ull);
	}
	if (p->hold.n >= HOLD_MAX_FRAMES || p->hold.bytes + len > HOLD_MAX_BYTES ||
	    !(h = malloc(sizeof(*h) + SEMI_ENCAP_LEN + len))) {
		p->hold.dropped++;
		p->hold.overflow++;
		return;
	}
	h->next = NULL;
	h->len = (uint32_t)len;
	memcpy(h->data + SEMI_ENCAP_LEN, f, len);
	if (p->hold.tail)
		p->hold.tail->next = h;
	else
		p->hold.head = h;
	p->hold.tail = h;
	p->hold.n++;
	p->hold.bytes += len;
}

/* The tap's own drops (its queue full: QEMU reads slower than we write). */
static uint64_t tap_dropped(struct netd *d, struct port *p)
{
	struct netcfg_link l;

	if (!p->r.tap_ifindex || netcfg_link_get_stats(d->nc, (int)p->r.tap_ifindex, &l) ||
	    !l.have_stats)
		return 0;
	return l.tx_dropped;
}

/* Out of one of the port's devices, toward the guest (QEMU reads a tap). */
static bool to_dev(struct netd *d, struct port *p, uint32_t ifindex, const uint8_t *f,
		   size_t len)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	int sock = packet_sock(d), e = 0;

	if (sock < 0 || !ifindex || len < ETH_HLEN)
		return false;
	to.sll_ifindex = (int)ifindex;
	memcpy(&to.sll_protocol, f + 12, 2);
	memcpy(to.sll_addr, f, ETH_ALEN);
	if (packet_send(sock, &to, f, len, &e))
		return true;
	p->hold.last_errno = e;
	return false;
}

/* Toward the guest the way `into` says (both: sent if either copy was). */
static bool to_guest(struct netd *d, struct port *p, enum hold_into into, const uint8_t *f,
		     size_t len)
{
	bool vf, tap;

	switch (into) {
	case HOLD_INTO_VF:
		return to_dev(d, p, p->r.vf_ifindex, f, len);
	case HOLD_INTO_BOTH:
		vf = to_dev(d, p, p->r.vf_ifindex, f, len);
		tap = to_dev(d, p, p->r.tap_ifindex, f, len);
		return vf || tap;
	default:
		return to_dev(d, p, p->r.tap_ifindex, f, len);
	}
}

/* A frame for a port released already: where its path leads now. */
static bool straggler(struct netd *d, struct port *p, uint8_t *f, size_t len)
{
	struct tunnel_tx tx;
	char why[160];

	if (p->r.state != PS_OUTGOING)
		return to_guest(d, p, into_for(p, NULL), f, len);
	/* f has SEMI_ENCAP_LEN of room in front (the read buffer's). */
	if (tunnel_tx_open(d, p, p->r.mig.peer, &tx, why, sizeof(why)) ||
	    !tunnel_tx_send(&tx, f, len))
		return false;
	p->r.mig.held_out++;
	return true;
}

/* Ports that hold, by datapath id: the order flood copies are made in. */
static int by_id(const void *a, const void *b)
{
	const struct port *x = *(struct port *const *)a, *y = *(struct port *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Read the hold device until it is empty (or a batch is done): each frame
 * to the list of the held port it is for.  A frame for a port that no
 * longer holds (a straggler) goes into its tap at once.
 */
void hold_read(struct netd *d, struct port *releasing)
{
	struct port **held = NULL;
	size_t nheld = 0, mc_next = 0;
	uint32_t mc_len = 0;
	uint8_t mc_head[64];
	int n = 0;

	if (d->hold.fd < 0)
		return;
	while (n++ < HOLD_READ_BATCH || releasing) {
		uint8_t *f = d->hold.buf + SEMI_ENCAP_LEN;
		ssize_t len = read(d->hold.fd, f, HOLD_BUF - SEMI_ENCAP_LEN);
		struct port *to = NULL;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		if (len < ETH_HLEN) {
			d->hold.stray++;
			continue;
		}
		if (!held) {
			held = calloc(d->nports ? d->nports : 1, sizeof(*held));
			if (!held)
				break;
			for (size_t i = 0; i < d->nports; i++)
				if (d->ports[i]->r.hold)
					held[nheld++] = d->ports[i];
			qsort(held, nheld, sizeof(*held), by_id);
		}
		if (f[0] & 1) {
			/* Copies of one flood are consecutive: one per held port. */
			size_t cmp = (size_t)len < sizeof(mc_head) ? (size_t)len : sizeof(mc_head);

			if (mc_len == (uint32_t)len && !memcmp(mc_head, f, cmp) && mc_next < nheld)
				to = held[mc_next++];
			else if (nheld) {
				to = held[0];
				mc_next = 1;
			}
			mc_len = (uint32_t)len;
			memcpy(mc_head, f, cmp);
		} else {
			for (size_t i = 0; i < nheld && !to; i++)
				if (!memcmp(held[i]->r.mac, f, ETH_ALEN))
					to = held[i];
			if (!to)
				for (size_t i = 0; i < d->nports && !to; i++)
					if (!memcmp(d->ports[i]->r.mac, f, ETH_ALEN))
						to = d->ports[i];
		}
		if (!to) {
			d->hold.stray++;
			continue;
		}
		if (to->r.hold) {
			keep(d, to, f, (size_t)len);
			continue;
		}
		/* Released already: late, but still the guest's. */
		to->hold.held++;
		if (straggler(d, to, f, (size_t)len))
			to->hold.released++;
		else
			to->hold.dropped++;
	}
	free(held);
}

static void send_list(struct netd *d, struct port *p, const char *peer)
{
	bool tunnel = peer != NULL;
	struct tunnel_tx tx;
	bool have_tx = false;
	char why[160];
	struct held *h;

	if (tunnel && p->hold.head) {
		have_tx = tunnel_tx_open(d, p, peer, &tx, why, sizeof(why)) == 0;
		if (!have_tx)
			pr_warn("port %s: held frames not sent to %s: %s", p->r.name, peer, why);
	}
	while ((h = p->hold.head)) {
		bool ok;

		p->hold.head = h->next;
		if (tunnel) {
			ok = have_tx && tunnel_tx_send(&tx, h->data + SEMI_ENCAP_LEN, h->len);
			if (!ok && have_tx)
				p->hold.last_errno = tx.last_errno;
			if (ok)
				p->r.mig.held_out++;
		} else {
			ok = to_guest(d, p, p->hold.into, h->data + SEMI_ENCAP_LEN, h->len);
		}
		if (ok)
			p->hold.released++;
		else
			p->hold.dropped++;
		free(h);
	}
	p->hold.tail = NULL;
	p->hold.n = 0;
	p->hold.bytes = 0;
}

/*
 * Release, first half: what is held goes toward the guest (into_for(): the
 * tap, the VF once the port is assigned) or to peer through the tunnel,
 * and the port's path word no longer says hold.
 * The caller stores the path, then calls hold_release_end().
 */
void hold_release_begin(struct netd *d, struct port *p, const char *peer)
{
	if (!p->r.hold)
		return;
	hold_read(d, p);
	p->r.hold = false;
	p->hold.into = into_for(p, peer);
	if (p->hold.into == HOLD_INTO_TAP)
		p->hold.tap_dropped_base = tap_dropped(d, p);
	send_list(d, p, peer);
	timer_cancel(d, &p->hold.t_max);
}

/* Release, second half, once the new path is stored: stragglers, the event. */
void hold_release_end(struct netd *d, struct port *p, const char *cause)
{
	json_object *ev;
	char into[96];
	uint64_t ms;

	if (!p->hold.active || p->r.hold)
		return;
	hold_read(d, p);
	p->hold.active = false;
	/*
	 * A tap takes what it is given and drops what its queue (txqueuelen)
	 * has no room for: those were sent, not received.  Counted as dropped
	 * (its counter may include a drop of another frame at that moment).
	 */
	if (p->hold.into == HOLD_INTO_TAP) {
		uint64_t now = tap_dropped(d, p), lost;

		lost = now > p->hold.tap_dropped_base ? now - p->hold.tap_dropped_base : 0;
		if (lost > p->hold.released)
			lost = p->hold.released;
		p->hold.released -= lost;
		p->hold.dropped += lost;
		p->hold.tap_full = lost;
	}
	ms = (now_ns() - p->hold.since_ns) / 1000000;
	pr_info("port %s: hold released (%s) after %llu ms into %s: %llu held, %llu released, "
		"%llu dropped", p->r.name, cause, (unsigned long long)ms,
		into_desc(p, p->hold.into, into, sizeof(into)), (unsigned long long)p->hold.held,
		(unsigned long long)p->hold.released, (unsigned long long)p->hold.dropped);
	if (p->hold.dropped)
		pr_warn("port %s: %llu held frames dropped (%llu over the hold's bounds, %llu by "
			"tap %s's full queue: raise its txqueuelen; last error: %s)", p->r.name,
			(unsigned long long)p->hold.dropped, (unsigned long long)p->hold.overflow,
			(unsigned long long)p->hold.tap_full, p->r.tap,
			p->hold.last_errno ? strerror(p->hold.last_errno) : "none");
	ev = json_object_new_object();
	json_object_object_add(ev, "event", json_object_new_string("hold"));
	json_object_object_add(ev, "port", json_object_new_string(p->r.name));
	json_object_object_add(ev, "action", json_object_new_string("released"));
	json_object_object_add(ev, "cause", json_object_new_string(cause));
	json_object_object_add(ev, "kind", json_object_new_string(kind_name(p->hold.kind)));
	json_object_object_add(ev, "into", json_object_new_string(into_name(p->hold.into)));
	json_object_object_add(ev, "held", json_object_new_uint64(p->hold.held));
	json_object_object_add(ev, "released", json_object_new_uint64(p->hold.released));
	json_object_object_add(ev, "dropped", json_object_new_uint64(p->hold.dropped));
	json_object_object_add(ev, "held_ms", json_object_new_uint64(ms));
	json_object_object_add(ev, "time_ms", json_object_new_int64(wall_ms()));
	control_event(d, p->r.name, ev, false);
}

static void hold_timeout(struct netd *d, struct timer *t)
{
	struct port *p = container_of(t, struct port, hold.t_max);
	char into[96];
	int err;

	if (!p->r.hold)
		return;
	pr_warn("port %s: held %u ms since its first frame and not released: into %s anyway",
		p->r.name, d->cfg.hold.max_ms,
		into_desc(p, into_for(p, NULL), into, sizeof(into)));
	hold_release_begin(d, p, NULL);
	err = semi_path_set_id(d->dp, p->id, port_pathw(&p->r));
	if (err)
		pr_warn("port %s: cannot store the %s path: %s", p->r.name,
			fsm_state_name(p->r.state), semi_dp_last_error(d->dp));
	hold_release_end(d, p, "max_ms");
}

json_object *hold_json(struct port *p)
{
	json_object *o;

	if (!p->hold.active && !p->hold.held)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "active", json_object_new_boolean(p->r.hold));
	json_object_object_add(o, "kind", json_object_new_string(kind_name(p->hold.kind)));
	json_object_object_add(o, "held", json_object_new_uint64(p->hold.held));
	json_object_object_add(o, "released", json_object_new_uint64(p->hold.released));
	json_object_object_add(o, "dropped", json_object_new_uint64(p->hold.dropped));
	json_object_object_add(o, "queued", json_object_new_uint64(p->hold.n));
	return o;
}

void hold_reply(struct port *p, json_object *reply)
{
	if (!p->hold.held && !p->hold.active)
		return;
	json_object_object_add(reply, "held", json_object_new_uint64(p->hold.held));
	json_object_object_add(reply, "released", json_object_new_uint64(p->hold.released));
	json_object_object_add(reply, "hold_dropped", json_object_new_uint64(p->hold.dropped));
}

void hold_port_free(struct netd *d, struct port *p)
{
	timer_cancel(d, &p->hold.t_max);
	list_free(p);
}

/* At exit: every held port released into its tap (the device goes with us). */
void hold_close(struct netd *d)
{
	if (d->hold.fd < 0)
		return;
	if (d->stop != NETD_FLUSHED && d->dp) {
		for (size_t i = 0; i < d->nports; i++) {
			struct port *p = d->ports[i];

			if (!p->r.hold)
				continue;
			hold_release_begin(d, p, p->r.state == PS_OUTGOING ? p->r.mig.peer : NULL);
			semi_path_set_id(d->dp, p->id, port_pathw(&p->r));
			hold_release_end(d, p, "exit");
		}
		semi_hold_set(d->dp, 0);
	}
	close(d->hold.fd);
	d->hold.fd = -1;
	free(d->hold.buf);
	d->hold.buf = NULL;
}
