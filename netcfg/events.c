// SPDX-License-Identifier: GPL-2.0
/*
 * Link events: an RTNLGRP_LINK subscriber that turns the kernel's
 * RTM_NEWLINK / RTM_DELLINK notifications into added / removed / changed
 * callbacks.
 *
 * The kernel sends RTM_NEWLINK for many reasons (statistics, features,
 * an address on another family); only a difference in the fields callers
 * care about is worth a callback, so the handle keeps the last state of
 * every link in a small hash table and reports the difference.
 *
 * Multicast notifications are dropped by the kernel when the socket
 * buffer is full (ENOBUFS on the next read).  The handle then dumps the
 * link table on the same socket: replies queue behind the notifications
 * already there, so the table is replayed in order, and at NLMSG_DONE any
 * link the dump did not mention is reported removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

#define EV_BUCKETS	1024		/* power of two */
#define EV_BUF_INIT	65536
#define EV_RCVBUF	(4 << 20)	/* room for a burst of VF resets */
#define EV_OPEN_TIMEOUT_S 10

struct ev_link {
	struct ev_link *next;
	uint32_t gen;			/* resync pass that last saw it */
	struct netcfg_link link;
};

struct netcfg_events {
	struct nl_sock *sk;		/* NULL for a unit-test engine */
	int fd;
	uint32_t portid;		/* ours: dump replies carry it */
	netcfg_link_cb cb;
	void *arg;
	struct ev_link *tab[EV_BUCKETS];
	uint32_t gen;
	uint32_t seq;
	uint32_t dump_seq;		/* nonzero while a dump is running */
	bool resync_again;		/* lost something during the dump */
	bool silent;			/* initial snapshot: no callbacks */
	int delivered;
	uint8_t *buf;
	size_t buflen;
};

static struct ev_link **ev_slot(struct netcfg_events *ev, int ifindex)
{
	struct ev_link **pp = &ev->tab[(unsigned int)ifindex & (EV_BUCKETS - 1)];

	while (*pp && (*pp)->link.ifindex != ifindex)
		pp = &(*pp)->next;
	return pp;
}

static void ev_emit(struct netcfg_events *ev, enum netcfg_link_event_type type,
		    unsigned int changes, const struct netcfg_link *l,
		    const char *old_name)
{
	struct netcfg_link_event e = {
		.type = type,
		.changes = changes,
		.link = *l,
	};

	if (ev->silent || !ev->cb)
		return;
	memcpy(e.old_name, old_name ? old_name : l->name, sizeof(e.old_name));
	ev->delivered++;
	ev->cb(&e, ev->arg);
}

static unsigned int ev_diff(const struct netcfg_link *a,
			    const struct netcfg_link *b)
{
	unsigned int c = 0;

	if (strcmp(a->name, b->name))
		c |= NETCFG_LINK_CHG_NAME;
	if (a->carrier != b->carrier)
		c |= NETCFG_LINK_CHG_CARRIER;
	if (a->operstate != b->operstate)
		c |= NETCFG_LINK_CHG_OPERSTATE;
	if (a->flags != b->flags)
		c |= NETCFG_LINK_CHG_FLAGS;
	if (memcmp(a->mac, b->mac, sizeof(a->mac)))
		c |= NETCFG_LINK_CHG_MAC;
	if (a->mtu != b->mtu)
		c |= NETCFG_LINK_CHG_MTU;
	if (a->master != b->master)
		c |= NETCFG_LINK_CHG_MASTER;
	return c;
}

static int ev_newlink(struct netcfg_events *ev, const struct netcfg_link *l,
		      unsigned int events)
{
	struct ev_link **pp = ev_slot(ev, l->ifindex);
	struct ev_link *e = *pp;
	char old_name[NETCFG_IFNAMSIZ];
	unsigned int changes;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->link = *l;
		e->gen = ev->gen;
		*pp = e;
		ev_emit(ev, NETCFG_LINK_ADDED, 0, l, NULL);
		return 0;
	}
	e->gen = ev->gen;
	changes = ev_diff(&e->link, l) | events;
	if (!changes) {
		/* kind / port kind may only now be filled in */
		e->link = *l;
		return 0;
	}
	memcpy(old_name, e->link.name, sizeof(old_name));
	e->link = *l;
	ev_emit(ev, NETCFG_LINK_CHANGED, changes, l, old_name);
	return 0;
}

static void ev_dellink(struct netcfg_events *ev, const struct netcfg_link *l)
{
	struct ev_link **pp = ev_slot(ev, l->ifindex);
	struct ev_link *e = *pp;

	if (!e) {
		/* Came and went between two resyncs: still worth telling. */
		ev_emit(ev, NETCFG_LINK_REMOVED, 0, l, NULL);
		return;
	}
	*pp = e->next;
	ev_emit(ev, NETCFG_LINK_REMOVED, 0, &e->link, NULL);
	free(e);
}

/* End of a resync dump: whatever it did not mention is gone. */
static void ev_sweep(struct netcfg_events *ev)
{
	unsigned int i;

	for (i = 0; i < EV_BUCKETS; i++) {
		struct ev_link **pp = &ev->tab[i];

		while (*pp) {
			struct ev_link *e = *pp;

			if (e->gen == ev->gen) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			ev_emit(ev, NETCFG_LINK_REMOVED, 0, &e->link, NULL);
			free(e);
		}
	}
}

void netcfg__events_resync_begin(struct netcfg_events *ev, uint32_t seq)
{
	ev->dump_seq = seq;
	ev->resync_again = false;
	ev->gen++;
}

static int ev_resync_start(struct netcfg_events *ev)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nlh;
	struct nl_msg *msg;
	ssize_t n;

	if (ev->dump_seq) {
		ev->resync_again = true;	/* after the running one */
		return 0;
	}
	if (!ev->sk)
		return 0;
	msg = netcfg__link_get_msg(0, NULL, RTEXT_FILTER_SKIP_STATS);
	if (!msg)
		return -ENOMEM;
	nlh = nlmsg_hdr(msg);
	if (++ev->seq == 0)
		ev->seq = 1;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ev->seq;
	do {
		n = sendto(ev->fd, nlh, nlh->nlmsg_len, 0,
			   (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	nlmsg_free(msg);
	if (n < 0) {
		pr_warn("link events: cannot request the link table: %s",
			strerror(errno));
		return -errno;
	}
	netcfg__events_resync_begin(ev, ev->seq);
	return 0;
}

static int ev_dump_done(struct netcfg_events *ev)
{
	ev->dump_seq = 0;
	ev_sweep(ev);
	if (ev->resync_again) {
		pr_debug("link events: the link table changed during the dump, reading it again");
		return ev_resync_start(ev);
	}
	return 0;
}

/* What a notification says happened beyond the state it carries. */
static unsigned int link_events(struct nlmsghdr *nlh)
{
	struct nlattr *a = nlmsg_find_attr(nlh, sizeof(struct ifinfomsg), IFLA_EVENT);

	if (a && nla_len(a) == sizeof(uint32_t) && nla_get_u32(a) == IFLA_EVENT_FEATURES)
		return NETCFG_LINK_CHG_FEATURES;
	return 0;
}

int netcfg__events_handle(struct netcfg_events *ev, struct nlmsghdr *nlh)
{
	/*
	 * Notifications can carry the seq and portid of whoever caused them
	 * (NLM_F_ECHO support), so a dump reply is told apart by both.
	 */
	bool from_dump = ev->dump_seq && nlh->nlmsg_seq == ev->dump_seq &&
			 nlh->nlmsg_pid == ev->portid;
	struct netcfg_link l;
	struct ifinfomsg *ifi;

	switch (nlh->nlmsg_type) {
	case NLMSG_DONE:
		return from_dump ? ev_dump_done(ev) : 0;
	case NLMSG_ERROR:
		if (from_dump && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
			struct nlmsgerr *e = nlmsg_data(nlh);

			if (!e->error)
				return 0;
			pr_warn("link events: the link table dump failed: %s",
				strerror(-e->error));
			ev->dump_seq = 0;
			return e->error;
		}
		return 0;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		break;
	default:
		return 0;
	}

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	ifi = nlmsg_data(nlh);
	/* AF_BRIDGE notifications describe bridge ports, not links. */
	if (ifi->ifi_family != AF_UNSPEC)
		return 0;
	if (from_dump && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
		ev->resync_again = true;
	if (netcfg__link_parse(nlh, &l) < 0 || l.ifindex <= 0) {
		pr_debug("link events: skipping a malformed link message");
		return 0;
	}
	if (nlh->nlmsg_type == RTM_DELLINK) {
		ev_dellink(ev, &l);
		return 0;
	}
	return ev_newlink(ev, &l, from_dump ? 0 : link_events(nlh));
}

struct netcfg_events *netcfg__events_new(netcfg_link_cb cb, void *arg)
{
	struct netcfg_events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->fd = -1;
	ev->cb = cb;
	ev->arg = arg;
	return ev;
}

/* Read and handle one datagram; 0 when there is nothing (EAGAIN). */
static int ev_read(struct netcfg_events *ev, int flags)
{
	struct sockaddr_nl sa;
	socklen_t salen = sizeof(sa);
	struct nlmsghdr *nlh;
	ssize_t n;
	int len, err;

	n = recvfrom(ev->fd, ev->buf, ev->buflen, flags | MSG_TRUNC,
		     (struct sockaddr *)&sa, &salen);
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		if (errno == EAGAIN)
			return 0;
		if (errno == ENOBUFS) {
			pr_debug("link events: the kernel dropped notifications (socket buffer full); re-reading the link table");
			err = ev_resync_start(ev);
			return err < 0 ? err : 1;
		}
		return -errno;
	}
	if (sa.nl_pid != 0)
		return 1;
	if ((size_t)n > ev->buflen) {
		/* Lost that datagram: grow for next time and resync. */
		size_t want = ((size_t)n + 4095) & ~(size_t)4095;
		uint8_t *p = realloc(ev->buf, want);

		if (p) {
			ev->buf = p;
			ev->buflen = want;
		}
		pr_debug("link events: a %zd-byte message did not fit; re-reading the link table", n);
		err = ev_resync_start(ev);
		return err < 0 ? err : 1;
	}
	len = (int)n;
	for (nlh = (struct nlmsghdr *)ev->buf; nlmsg_ok(nlh, len);
	     nlh = nlmsg_next(nlh, &len)) {
		err = netcfg__events_handle(ev, nlh);
		if (err < 0)
			return err;
	}
	return 1;
}

int netcfg_events_open(struct netcfg_events **out, netcfg_link_cb cb,
		       void *arg)
{
	struct timeval tv = { .tv_sec = EV_OPEN_TIMEOUT_S };
	struct timeval none = { 0 };
	struct netcfg_events *ev;
	int rcvbuf = EV_RCVBUF;
	int err, r;

	*out = NULL;
	ev = netcfg__events_new(cb, arg);
	if (!ev)
		return -ENOMEM;
	/* From here on netcfg_events_close() undoes whatever was done. */
	ev->buflen = EV_BUF_INIT;
	ev->buf = malloc(ev->buflen);
	ev->sk = nl_socket_alloc();
	if (!ev->buf || !ev->sk) {
		err = -ENOMEM;
		goto err_close;
	}
	/* Notifications carry seq 0; only our dump replies are sequenced. */
	nl_socket_disable_seq_check(ev->sk);
	errno = 0;
	if (nl_connect(ev->sk, NETLINK_ROUTE) < 0) {
		err = errno ? -errno : -EIO;
		pr_warn("link events: cannot open an rtnetlink socket: %s",
			strerror(-err));
		goto err_close;
	}
	ev->fd = nl_socket_get_fd(ev->sk);
	ev->portid = nl_socket_get_local_port(ev->sk);
	errno = 0;
	if (nl_socket_add_membership(ev->sk, RTNLGRP_LINK) < 0) {
		err = errno ? -errno : -EIO;
		pr_warn("link events: cannot subscribe to link notifications: %s",
			strerror(-err));
		goto err_close;
	}
	/* A big buffer makes overflow rare; FORCE works as root only. */
	if (setsockopt(ev->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(ev->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));

	/* The snapshot: blocking reads until our dump is done. */
	setsockopt(ev->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ev->silent = true;
	err = ev_resync_start(ev);
	if (err < 0)
		goto err_close;
	while (ev->dump_seq) {
		r = ev_read(ev, 0);
		if (r == 0)	/* EAGAIN on a blocking socket: the timeout */
			r = -ETIMEDOUT;
		if (r < 0) {
			err = r;
			pr_warn("link events: cannot read the link table: %s",
				strerror(-err));
			goto err_close;
		}
	}
	ev->silent = false;
	setsockopt(ev->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (fcntl(ev->fd, F_SETFL, fcntl(ev->fd, F_GETFL) | O_NONBLOCK) < 0) {
		err = -errno;
		goto err_close;
	}
	*out = ev;
	return 0;

err_close:
	netcfg_events_close(ev);
	return err;
}

int netcfg_events_fd(const struct netcfg_events *ev)
{
	return ev->fd;
}

int netcfg_events_process(struct netcfg_events *ev)
{
	int r;

	ev->delivered = 0;
	do {
		r = ev_read(ev, MSG_DONTWAIT);
	} while (r > 0);
	if (r < 0) {
		pr_warn("link events: cannot read notifications: %s",
			strerror(-r));
		return r;
	}
	return ev->delivered;
}

void netcfg_events_close(struct netcfg_events *ev)
{
	unsigned int i;

	if (!ev)
		return;
	for (i = 0; i < EV_BUCKETS; i++) {
		while (ev->tab[i]) {
			struct ev_link *e = ev->tab[i];

			ev->tab[i] = e->next;
			free(e);
		}
	}
	if (ev->sk)
		nl_socket_free(ev->sk);
	free(ev->buf);
	free(ev);
}
