// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The one netlink question the loader asks itself: which XDP features a
 * device has (generic netlink family "netdev", kernel >= 6.3).  A redirect
 * target without NETDEV_XDP_ACT_NDO_XMIT drops XDP frames silently, so the
 * loader sends that port's frames through TC instead.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>

#include "loader/internal.h"

/* From <linux/netdev.h> (6.3+), absent from older UAPI headers. */
#define NETDEV_FAMILY_NAME	"netdev"
#define NETDEV_CMD_DEV_GET	1
#define NETDEV_A_DEV_IFINDEX	1
#define NETDEV_A_DEV_XDP_FEATURES 3

struct nlreq {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	char attrs[64];
};

static void put_attr(struct nlreq *r, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Send one request, walk the attributes of the answer with cb. */
static int genl_call(int fd, struct nlreq *r,
		     int (*cb)(const struct nlattr *a, void *arg), void *arg)
{
	char buf[8192] __attribute__((aligned(4)));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n;

	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			return e->error;
		}
		if (nh->nlmsg_type == NLMSG_DONE)
			break;
		char *p = (char *)NLMSG_DATA(nh) + GENL_HDRLEN;
		int left = nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

		while (left >= NLA_HDRLEN) {
			const struct nlattr *a = (const struct nlattr *)p;

			if (a->nla_len < NLA_HDRLEN || a->nla_len > left)
				break;
			int err = cb(a, arg);

			if (err)
				return err < 0 ? err : 0;
			p += NLA_ALIGN(a->nla_len);
			left -= NLA_ALIGN(a->nla_len);
		}
	}
	return 0;
}

static int family_cb(const struct nlattr *a, void *arg)
{
	if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) {
		memcpy(arg, (const char *)a + NLA_HDRLEN, sizeof(uint16_t));
		return 1;
	}
	return 0;
}

static int features_cb(const struct nlattr *a, void *arg)
{
	if ((a->nla_type & NLA_TYPE_MASK) == NETDEV_A_DEV_XDP_FEATURES &&
	    a->nla_len >= NLA_HDRLEN + sizeof(uint64_t)) {
		memcpy(arg, (const char *)a + NLA_HDRLEN, sizeof(uint64_t));
		return 1;
	}
	return 0;
}

int nl_xdp_features(uint32_t ifindex, uint64_t *features)
{
	struct nlreq r;
	uint16_t family = 0;
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;

	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r.nh.nlmsg_type = GENL_ID_CTRL;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.gh.cmd = CTRL_CMD_GETFAMILY;
	r.gh.version = 1;
	put_attr(&r, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY_NAME, sizeof(NETDEV_FAMILY_NAME));
	err = genl_call(fd, &r, family_cb, &family);
	if (err || !family) {
		err = err ? err : -EOPNOTSUPP;
		goto out;
	}

	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r.nh.nlmsg_type = family;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.gh.cmd = NETDEV_CMD_DEV_GET;
	r.gh.version = 1;
	put_attr(&r, NETDEV_A_DEV_IFINDEX, &ifindex, sizeof(ifindex));
	*features = 0;
	err = genl_call(fd, &r, features_cb, features);
out:
	close(fd);
	return err;
}

/*
 * How many TC filters sit on the device's clsact hooks (ingress and
 * egress), so that a clsact qdisc we created is removed only when nothing
 * but ours ever used it.  Negative errno on failure.
 */
int nl_tc_filter_count(uint32_t ifindex)
{
	static const uint32_t parents[] = {
		TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
		TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS),
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[16384] __attribute__((aligned(4)));
	int fd, count = 0, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]) && !err; i++) {
		struct {
			struct nlmsghdr nh;
			struct tcmsg tc;
		} req = {
			.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
			.nh.nlmsg_type = RTM_GETTFILTER,
			.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.tc.tcm_family = AF_UNSPEC,
			.tc.tcm_ifindex = (int)ifindex,
			.tc.tcm_parent = parents[i],
		};
		bool done = false;

		if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa,
			   sizeof(sa)) < 0) {
			err = -errno;
			break;
		}
		while (!done && !err) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			if (n < 0) {
				err = -errno;
				break;
			}
			for (struct nlmsghdr *nh = (struct nlmsghdr *)buf;
			     NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
				if (nh->nlmsg_type == NLMSG_DONE) {
					done = true;
					break;
				}
				if (nh->nlmsg_type == NLMSG_ERROR) {
					struct nlmsgerr *e = NLMSG_DATA(nh);

					err = e->error;
					done = true;
					break;
				}
				if (nh->nlmsg_type == RTM_NEWTFILTER) {
					struct tcmsg *t = NLMSG_DATA(nh);

					/* The per-protocol chain heads have no handle. */
					if (t->tcm_handle)
						count++;
				}
			}
		}
	}
	close(fd);
	return err ? err : count;
}
