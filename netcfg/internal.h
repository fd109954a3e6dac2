/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netcfg internals shared by the library's files and its unit tests.
 * Not installed, not for the daemon: symbols here carry the netcfg__
 * prefix and may change at any time.
 */
#ifndef SEMI_NETCFG_INTERNAL_H
#define SEMI_NETCFG_INTERNAL_H

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "netcfg/netcfg.h"

#define NETCFG_ERRBUF_LEN	512
#define NETCFG_EXTACK_LEN	256

struct netcfg {
	struct nl_sock *sk;		/* rtnetlink requests */
	int fd;				/* its fd */
	uint32_t seq;			/* last sequence number sent */
	uint8_t *buf;			/* receive buffer, grown on demand */
	size_t buflen;
	int pkt_fd;			/* AF_PACKET, send only; -1 if absent */
	int pkt_err;			/* why pkt_fd is absent (-errno) */
	char extack[NETCFG_EXTACK_LEN];	/* kernel's message, last request */
	char err[NETCFG_ERRBUF_LEN];	/* netcfg_last_error() */
};

/* Logging through the replaceable hook. */
void netcfg__log(enum netcfg_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define pr_warn(...)	netcfg__log(NETCFG_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	netcfg__log(NETCFG_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	netcfg__log(NETCFG_LOG_DEBUG, __VA_ARGS__)

/*
 * Record a failure: format the message into nc->err, log it at `level` and
 * return err (a negative errno).  netcfg__fail_sys() appends ": <strerror>"
 * and, when the kernel said something through extended ACK, " (kernel:
 * <message>)".
 */
int netcfg__fail(struct netcfg *nc, enum netcfg_log_level level, int err,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int netcfg__fail_sys(struct netcfg *nc, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void netcfg__clear_error(struct netcfg *nc);

/*
 * Send msg (completing seq/pid, adding NLM_F_ACK unless it is a dump) and
 * read the answer: each reply message is passed to cb (may be NULL); for a
 * dump until NLMSG_DONE, otherwise until the ACK.  Returns 0, the negative
 * errno the kernel answered (its extack text in nc->extack), -EINTR if a
 * dump was interrupted by a concurrent change (NLM_F_DUMP_INTR: retry), or
 * the callback's negative return value.
 */
typedef int (*netcfg__msg_cb)(struct nlmsghdr *nlh, void *arg);
int netcfg__request(struct netcfg *nc, struct nl_msg *msg,
		    netcfg__msg_cb cb, void *arg);

/* Name checks and lookups that format their own failure messages. */
int netcfg__check_name(struct netcfg *nc, const char *name, const char *what);

/*
 * Parse an RTM_NEWLINK / RTM_DELLINK message (AF_UNSPEC) into *l.
 * -EINVAL if it is not a well-formed link message.
 */
int netcfg__link_parse(struct nlmsghdr *nlh, struct netcfg_link *l);

/* RTM_GETLINK request for ifindex or name, with IFLA_EXT_MASK ext_mask. */
struct nl_msg *netcfg__link_get_msg(int ifindex, const char *name,
				    uint32_t ext_mask);

/* Request builders and parsers, exposed for the unit tests. */
struct nl_msg *netcfg__fdb_msg(int type, int nlflags, int ifindex,
			       const uint8_t mac[NETCFG_ETH_ALEN],
			       uint16_t vlan);
int netcfg__fdb_parse(struct nlmsghdr *nlh, struct netcfg_fdb_entry *e);
struct nl_msg *netcfg__brport_msg(int ifindex, unsigned int mask,
				  unsigned int flags);
unsigned int netcfg__brport_parse(struct nlattr *slave_data);
struct nl_msg *netcfg__vf_msg(int ifindex, unsigned int vf,
			      const struct netcfg_vf *cfg, unsigned int what);

/* VF facts from an RTM_NEWLINK with RTEXT_FILTER_VF. */
struct netcfg__vf_info {
	uint32_t num_vf;
	bool found;			/* the VF asked for is in the list */
	struct netcfg_vf vf;
};
int netcfg__vf_parse(struct nlmsghdr *nlh, unsigned int vf,
		     struct netcfg__vf_info *info);

/* Next hop (neigh.c): request builders and reply parsers. */
struct nl_msg *netcfg__route_get_msg(int family, const void *dst);
struct nl_msg *netcfg__neigh_msg(int type, int nlflags, int family, int ifindex,
				 const void *dst, uint8_t ntf_flags);
int netcfg__route_parse(struct nlmsghdr *nlh, struct netcfg_nexthop *nh);
int netcfg__neigh_parse(struct nlmsghdr *nlh, struct netcfg_nexthop *nh);

/* Event engine, fed one message at a time (unit tests drive it directly). */
int netcfg__events_handle(struct netcfg_events *ev, struct nlmsghdr *nlh);
struct netcfg_events *netcfg__events_new(netcfg_link_cb cb, void *arg);
/* Start / finish a resync pass by hand (tests). */
void netcfg__events_resync_begin(struct netcfg_events *ev, uint32_t seq);

/* Internet checksum helpers (announce.c). */
uint16_t netcfg__icmp6_csum(const struct in6_addr *src,
			    const struct in6_addr *dst,
			    const uint8_t *icmp, size_t len);

#endif /* SEMI_NETCFG_INTERNAL_H */
