// SPDX-License-Identifier: GPL-2.0
/*
 * netcfg handle, logging, failure messages and the rtnetlink request loop.
 *
 * libnl-3 builds and parses the messages and owns the socket; the receive
 * loop is ours so that a failure keeps the kernel's own errno and its
 * extended-ACK text, both of which end up in the message the daemon shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "netcfg/internal.h"

#define NC_BUF_INIT		32768
#define NC_REPLY_TIMEOUT_S	10

/* ------------------------------------------------------------------ */
/* Logging                                                            */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 0)))
static void default_print(enum netcfg_log_level level, const char *fmt,
			  va_list ap)
{
	if (level == NETCFG_LOG_DEBUG)
		return;
	fputs("netcfg: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static netcfg_print_fn print_fn = default_print;

netcfg_print_fn netcfg_set_print(netcfg_print_fn fn)
{
	netcfg_print_fn old = print_fn;

	print_fn = fn;
	return old;
}

void netcfg__log(enum netcfg_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!print_fn)
		return;
	va_start(ap, fmt);
	print_fn(level, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Failure messages                                                   */
/* ------------------------------------------------------------------ */

void netcfg__clear_error(struct netcfg *nc)
{
	nc->err[0] = '\0';
	nc->extack[0] = '\0';
}

const char *netcfg_last_error(const struct netcfg *nc)
{
	return nc ? nc->err : "no netcfg handle";
}

int netcfg__fail(struct netcfg *nc, enum netcfg_log_level level, int err,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nc->err, sizeof(nc->err), fmt, ap);
	va_end(ap);
	netcfg__log(level, "%s", nc->err);
	return err;
}

int netcfg__fail_sys(struct netcfg *nc, int err, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nc->err, sizeof(nc->err), fmt, ap);
	va_end(ap);
	n = strlen(nc->err);
	if (nc->extack[0])
		snprintf(nc->err + n, sizeof(nc->err) - n, ": %s (kernel: %s)",
			 strerror(-err), nc->extack);
	else
		snprintf(nc->err + n, sizeof(nc->err) - n, ": %s",
			 strerror(-err));
	netcfg__log(NETCFG_LOG_WARN, "%s", nc->err);
	return err;
}

int netcfg__check_name(struct netcfg *nc, const char *name, const char *what)
{
	if (!name || !name[0])
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "%s: no device name given", what);
	if (strlen(name) >= NETCFG_IFNAMSIZ)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "%s: device name '%s' is too long (at most %d characters)",
				    what, name, NETCFG_IFNAMSIZ - 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Handle                                                             */
/* ------------------------------------------------------------------ */

int netcfg_open(struct netcfg **out)
{
	struct timeval tv = { .tv_sec = NC_REPLY_TIMEOUT_S };
	struct netcfg *nc;
	int one = 1;
	int err;

	*out = NULL;
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc->pkt_fd = -1;

	nc->buflen = NC_BUF_INIT;
	nc->buf = malloc(nc->buflen);
	if (!nc->buf) {
		err = -ENOMEM;
		goto err_free_nc;
	}

	nc->sk = nl_socket_alloc();
	if (!nc->sk) {
		err = -ENOMEM;
		goto err_free_buf;
	}
	errno = 0;
	err = nl_connect(nc->sk, NETLINK_ROUTE);
	if (err < 0) {
		err = errno ? -errno : -EIO;
		pr_warn("cannot open an rtnetlink socket: %s", strerror(-err));
		goto err_free_sk;
	}
	nc->fd = nl_socket_get_fd(nc->sk);

	/*
	 * Extended ACK gives the kernel's reason with the errno; capped ACKs
	 * keep error replies from echoing our whole request.  Both are
	 * optional: old kernels just give the errno.
	 */
	setsockopt(nc->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nc->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	/* The kernel always answers; the timeout only guards against a bug. */
	setsockopt(nc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/*
	 * Protocol 0: a send-only packet socket, so no frame is ever queued
	 * to it.  Needs CAP_NET_RAW; without it the handle still works for
	 * everything but announces, which then say why they cannot.
	 */
	nc->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (nc->pkt_fd < 0) {
		nc->pkt_err = -errno;
		pr_debug("no packet socket for announces: %s",
			 strerror(errno));
	}

	*out = nc;
	return 0;

err_free_sk:
	nl_socket_free(nc->sk);
err_free_buf:
	free(nc->buf);
err_free_nc:
	free(nc);
	return err;
}

void netcfg_close(struct netcfg *nc)
{
	if (!nc)
		return;
	if (nc->pkt_fd >= 0)
		close(nc->pkt_fd);
	nl_socket_free(nc->sk);
	free(nc->buf);
	free(nc);
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

/* Read one datagram whole into nc->buf, growing it as needed. */
static ssize_t nc_recv(struct netcfg *nc)
{
	struct sockaddr_nl sa;
	socklen_t salen;
	ssize_t n;

	for (;;) {
		n = recv(nc->fd, nc->buf, nc->buflen, MSG_PEEK | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if ((size_t)n > nc->buflen) {
			size_t len = ((size_t)n + 4095) & ~(size_t)4095;
			uint8_t *p = realloc(nc->buf, len);

			if (!p)
				return -ENOMEM;
			nc->buf = p;
			nc->buflen = len;
		}
		salen = sizeof(sa);
		n = recvfrom(nc->fd, nc->buf, nc->buflen, 0,
			     (struct sockaddr *)&sa, &salen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (sa.nl_pid != 0)	/* not from the kernel */
			continue;
		return n;
	}
}

/* Copy the kernel's extended-ACK message, if any, into nc->extack. */
static void nc_extack(struct netcfg *nc, struct nlmsghdr *nlh, size_t off)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	len = nlh->nlmsg_len - NLMSG_HDRLEN;
	if (off > len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)nlmsg_data(nlh) + off),
		      (int)(len - off), NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(nc->extack, tb[NLMSGERR_ATTR_MSG],
			    sizeof(nc->extack));
}

int netcfg__request(struct netcfg *nc, struct nl_msg *msg,
		    netcfg__msg_cb cb, void *arg)
{
	struct nlmsghdr *req = nlmsg_hdr(msg);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	bool intr = false;
	uint32_t seq;
	int ret = 0;
	ssize_t n;

	nc->extack[0] = '\0';
	if (++nc->seq == 0)
		nc->seq = 1;
	seq = nc->seq;
	req->nlmsg_seq = seq;
	req->nlmsg_pid = 0;
	req->nlmsg_flags |= NLM_F_REQUEST;
	if (!dump)
		req->nlmsg_flags |= NLM_F_ACK;

	do {
		n = sendto(nc->fd, req, req->nlmsg_len, 0,
			   (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (;;) {
		struct nlmsghdr *nlh;
		int len;

		n = nc_recv(nc);
		if (n < 0)
			return (int)n;
		len = (int)n;
		for (nlh = (struct nlmsghdr *)nc->buf; nlmsg_ok(nlh, len);
		     nlh = nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq)
				continue;	/* late answer to an old request */
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;

			if (nlh->nlmsg_type == NLMSG_DONE) {
				int *e = nlmsg_data(nlh);

				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) &&
				    *e < 0 && !ret) {
					ret = *e;
					nc_extack(nc, nlh, sizeof(*e));
				}
				return ret ? ret : intr ? -EINTR : 0;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = nlmsg_data(nlh);
				size_t off = sizeof(*e);

				if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - NLMSG_HDRLEN;
				nc_extack(nc, nlh, off);
				if (e->error)
					return e->error;
				return ret;	/* the ACK */
			}
			if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
				continue;	/* NOOP, OVERRUN */
			if (cb && !ret) {
				int r = cb(nlh, arg);

				/* keep reading to the end, then report */
				if (r < 0)
					ret = r;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* MAC helpers                                                        */
/* ------------------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int netcfg_mac_parse(const char *s, uint8_t mac[NETCFG_ETH_ALEN])
{
	int i;

	if (!s || strlen(s) != NETCFG_MAC_STRLEN - 1)
		return -EINVAL;
	for (i = 0; i < NETCFG_ETH_ALEN; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (i < NETCFG_ETH_ALEN - 1 && p[2] != ':' && p[2] != '-')
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *netcfg_mac_str(const uint8_t mac[NETCFG_ETH_ALEN], char *buf)
{
	snprintf(buf, NETCFG_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
