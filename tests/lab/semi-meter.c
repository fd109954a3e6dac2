// SPDX-License-Identifier: GPL-2.0
/*
 * semi-meter: how every migration test proves "nothing lost".
 *
 * The sender sends sequence-numbered UDP frames at a paced rate (sendmmsg
 * batches, CLOCK_MONOTONIC schedule), then an end marker carrying how many
 * frames the kernel accepted.  The receiver counts received, lost,
 * duplicated and reordered frames, and keeps a timeline: per bucket (10 ms
 * by default), how many frames arrived and on which path.  The path is the
 * skb mark the frame carried (SO_RCVMARK; the lab guest marks frames by the
 * interface they came in on, see lab_guest.h) or else the interface it
 * arrived on (IP_PKTINFO).
 *
 * Payload (network byte order), at the start of each UDP datagram:
 *   u32 magic 'SMTR', u8 version 1, u8 type (1 data, 2 end, 3 hello), u16 0,
 *   u32 stream id, u32 0, u64 seq (data) or frames sent (end), u64 tx time.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "labutil.h"

#ifndef SO_RCVMARK
#define SO_RCVMARK 75
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_LOSS = 3 };

#define METER_MAGIC	0x534d5452u	/* "SMTR" */
#define METER_VERSION	1
#define METER_DATA	1
#define METER_END	2
#define METER_HELLO	3	/* "both": I am listening; not counted */
#define HELLO_GAP_NS	10000000ull
#define METER_HDR_LEN	32
#define METER_PORT	9000
#define END_COPIES	5		/* end markers, END_GAP_NS apart */
#define END_GAP_NS	10000000ull
#define MAX_BATCH	256
#define RX_BATCH	64
#define RX_BUF		16384
#define MAX_LABELS	8		/* distinct paths in one timeline */
#define MAX_SEQ		(1ull << 30)	/* bitmap limit: 128 MiB */
#define MAX_RUNS	16		/* lost runs listed in the report */

struct meter_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t zero;
	uint32_t stream;
	uint32_t zero2;
	uint64_t seq;
	uint64_t tx_ns;
} __attribute__((packed));

_Static_assert(sizeof(struct meter_hdr) == METER_HDR_LEN, "meter header size");

struct label_map {
	uint32_t mark;
	const char *name;
};

struct config {
	const char *dest;
	const char *listen;
	const char *netns;
	const char *ifname;	/* sender: SO_BINDTODEVICE */
	const char *source;	/* sender: bind address */
	uint64_t rate;
	uint64_t count;
	uint64_t duration_ns;
	uint64_t size;
	uint64_t batch;
	uint64_t idle_ns;	/* receiver: stop when nothing came for this long */
	uint64_t wait_ns;	/* receiver: give up if the first frame takes longer */
	uint64_t max_ns;	/* receiver: stop after this long in any case */
	uint64_t linger_ns;	/* receiver: keep listening after the end marker */
	uint64_t interval_ns;
	uint64_t expect;
	struct label_map labels[MAX_LABELS];
	int nlabels;
	bool send, recv, json, quiet, fail_on_loss;
};

struct tx_result {
	uint32_t stream;
	uint64_t sent;		/* accepted by the kernel */
	uint64_t errors;	/* refused by the kernel (not sent) */
	uint64_t start_ns, end_ns;
	int err;
};

struct bucket {
	uint64_t frames[MAX_LABELS + 1];	/* last slot: "other" */
};

struct rx_state {
	uint32_t stream;
	bool have_stream;
	bool end_seen;
	uint64_t end_sent;	/* frames sent, from the end marker */
	uint64_t received;	/* unique data frames */
	uint64_t duplicated;
	uint64_t dup_runs[MAX_RUNS][2];	/* runs of consecutive duplicates, in arrival order */
	uint64_t ndup_runs, ndup_runs_total, last_dup;
	uint64_t reordered;
	uint64_t foreign;	/* other streams, bad headers */
	uint64_t bytes;
	uint64_t max_seq;
	bool any;
	uint64_t *seen;		/* bitmap of received sequence numbers */
	uint64_t seen_words;
	uint64_t start_ns, first_ns, last_ns, end_ns;
	uint64_t longest_gap_ns;
	struct bucket *buckets;
	uint64_t nbuckets, cap_buckets;
	char names[MAX_LABELS][IF_NAMESIZE + 16];
	uint32_t keys[MAX_LABELS];	/* mark, or ifindex | 1 << 31 */
	int nnames;
	int err;
};

static volatile sig_atomic_t stop;
/* Set by the sender thread in "both" mode: the receiver stays until then. */
static volatile bool tx_done;
static volatile uint64_t tx_done_ns;
/* "both": the receiver heard the peer, so the peer listens: start sending. */
static volatile bool peer_heard;

static void on_signal(int sig)
{
	stop = 1;
}

/* ---- addresses ---------------------------------------------------------- */

/* "ADDR:PORT", "[ADDR6]:PORT", "ADDR" (default port) or, if port_only, "PORT". */
static int parse_addr(const char *s, bool listen, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_DGRAM };
	char host[INET6_ADDRSTRLEN + 8] = "", port[8] = "";
	struct addrinfo *ai;
	const char *colon;
	uint64_t p;
	int rc;

	if (listen && !lab_parse_u64(s, 65535, &p)) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		memset(ss, 0, sizeof(*ss));
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		a->sin6_port = htons(p);
		*len = sizeof(*a);
		return 0;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, end - s - 1);
		if (end[1] == ':')
			snprintf(port, sizeof(port), "%s", end + 2);
		else if (end[1])
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') == colon) {
			if ((size_t)(colon - s) >= sizeof(host))
				return -EINVAL;
			memcpy(host, s, colon - s);
			snprintf(port, sizeof(port), "%s", colon + 1);
		} else {
			snprintf(host, sizeof(host), "%s", s);
		}
	}
	if (!port[0])
		snprintf(port, sizeof(port), "%d", METER_PORT);
	if (lab_parse_u64(port, 65535, &p))
		return -EINVAL;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	}
}

/* ---- sender ------------------------------------------------------------- */

static int tx_socket(const struct config *c, struct sockaddr_storage *dst,
		     socklen_t *dlen)
{
	int fd, one = 1, sndbuf = 4 << 20, err;

	if (parse_addr(c->dest, false, dst, dlen)) {
		pr_warn("bad destination '%s' (ADDR:PORT or [ADDR6]:PORT)", c->dest);
		return -EINVAL;
	}
	fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot create UDP socket: %s", strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	if (dst->ss_family == AF_INET)
		setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (c->ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->ifname,
				    strlen(c->ifname) + 1)) {
		err = -errno;
		pr_warn("cannot bind the sender to device %s: %s", c->ifname, strerror(errno));
		goto close_fd;
	}
	if (c->source) {
		struct sockaddr_storage src;
		socklen_t slen;

		if (parse_addr(c->source, false, &src, &slen) ||
		    src.ss_family != dst->ss_family) {
			pr_warn("bad source address '%s'", c->source);
			err = -EINVAL;
			goto close_fd;
		}
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		if (bind(fd, (struct sockaddr *)&src, slen)) {
			err = -errno;
			pr_warn("cannot bind the sender to %s: %s", c->source, strerror(errno));
			goto close_fd;
		}
	}
	return fd;

close_fd:
	close(fd);
	return err;
}

static void put_hdr(unsigned char *p, uint8_t type, uint32_t stream, uint64_t seq)
{
	struct meter_hdr h = {
		.magic = htonl(METER_MAGIC),
		.version = METER_VERSION,
		.type = type,
		.stream = htonl(stream),
		.seq = htobe64(seq),
		.tx_ns = htobe64(lab_now_ns()),
	};

	memcpy(p, &h, sizeof(h));
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { .tv_sec = t_ns / 1000000000ull,
			       .tv_nsec = t_ns % 1000000000ull };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

static void send_tx(const struct config *c, struct tx_result *res)
{
	struct mmsghdr *msgs = NULL;
	struct iovec *iov = NULL;
	unsigned char *bufs = NULL;
	struct sockaddr_storage dst;
	socklen_t dlen;
	uint64_t seq = 0, start;
	int fd;

	fd = tx_socket(c, &dst, &dlen);
	if (fd < 0) {
		res->err = fd;
		return;
	}
	msgs = calloc(c->batch, sizeof(*msgs));
	iov = calloc(c->batch, sizeof(*iov));
	bufs = calloc(c->batch, c->size);
	if (!msgs || !iov || !bufs) {
		res->err = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < c->batch; i++) {
		iov[i].iov_base = bufs + i * c->size;
		iov[i].iov_len = c->size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = dlen;
	}

	/* In "both" mode, say hello until the peer is heard: its receiver is up
	 * by then, so neither stream starts into a closed port. */
	if (c->recv) {
		uint64_t give_up = lab_now_ns() + c->wait_ns;

		while (!__atomic_load_n(&peer_heard, __ATOMIC_ACQUIRE) && !stop) {
			if (lab_now_ns() > give_up) {
				pr_warn("no word from the peer at %s: not sending", c->dest);
				goto out;
			}
			put_hdr(bufs, METER_HELLO, res->stream, 0);
			sendmmsg(fd, msgs, 1, 0);
			sleep_until(lab_now_ns() + HELLO_GAP_NS);
		}
	}

	start = lab_now_ns();
	res->start_ns = start;
	while (seq < c->count && !stop) {
		uint64_t now = lab_now_ns();
		unsigned __int128 due128 = (unsigned __int128)(now - start) * c->rate /
					   1000000000u + 1;
		uint64_t due = due128 > c->count ? c->count : (uint64_t)due128;
		uint64_t n, i = 0;

		if (due <= seq) {
			/* Frame seq is due at start + seq / rate. */
			sleep_until(start + (uint64_t)((unsigned __int128)seq *
						       1000000000u / c->rate));
			continue;
		}
		n = due - seq;
		if (n > c->batch)
			n = c->batch;
		for (uint64_t k = 0; k < n; k++)
			put_hdr(bufs + k * c->size, METER_DATA, res->stream, seq + k);
		while (i < n) {
			int r = sendmmsg(fd, msgs + i, n - i, 0);

			if (r > 0) {
				i += r;
				res->sent += r;
			} else if (errno != EINTR) {
				/* This frame was refused (no route, no buffer):
				 * not sent, so never expected at the receiver. */
				res->errors++;
				i++;
			}
		}
		seq += n;
	}
	res->end_ns = lab_now_ns();

	/* The end markers say how many frames the kernel accepted. */
	for (int k = 0; k < END_COPIES; k++) {
		put_hdr(bufs, METER_END, res->stream, res->sent);
		iov[0].iov_len = c->size;
		sendmmsg(fd, msgs, 1, 0);
		if (k + 1 < END_COPIES)
			sleep_until(lab_now_ns() + END_GAP_NS);
	}
out:
	free(bufs);
	free(iov);
	free(msgs);
	close(fd);
}

static void *tx_thread(void *arg)
{
	void **a = arg;

	send_tx(a[0], a[1]);
	tx_done_ns = lab_now_ns();
	__atomic_store_n(&tx_done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- receiver ----------------------------------------------------------- */

static int rx_socket(const struct config *c, char *desc, size_t dlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0, rcvbuf = 16 << 20, err;

	if (parse_addr(c->listen, true, &ss, &len)) {
		pr_warn("bad listen address '%s' (PORT, ADDR:PORT or [ADDR6]:PORT)",
			c->listen);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot create UDP socket: %s", strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVMARK, &one, sizeof(one)))
		pr_debug("no SO_RCVMARK: paths are told by interface only");
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		pr_warn("cannot listen on %s: %s", c->listen, strerror(errno));
		close(fd);
		return err;
	}
	addr_str(&ss, desc, dlen);
	return fd;
}

/* The timeline slot for a frame's path; MAX_LABELS means "other". */
static int path_slot(const struct config *c, struct rx_state *st, uint32_t mark,
		     int ifindex)
{
	uint32_t key = mark ? mark : ((uint32_t)ifindex | 1u << 31);
	int i;

	for (i = 0; i < st->nnames; i++)
		if (st->keys[i] == key)
			return i;
	if (st->nnames == MAX_LABELS)
		return MAX_LABELS;
	st->keys[i] = key;
	if (mark) {
		snprintf(st->names[i], sizeof(st->names[i]), "mark:%u", mark);
		for (int l = 0; l < c->nlabels; l++)
			if (c->labels[l].mark == mark)
				snprintf(st->names[i], sizeof(st->names[i]), "%s",
					 c->labels[l].name);
	} else {
		char name[IF_NAMESIZE];

		if (ifindex && if_indextoname(ifindex, name))
			snprintf(st->names[i], sizeof(st->names[i]), "%s", name);
		else
			snprintf(st->names[i], sizeof(st->names[i]), "if:%d", ifindex);
	}
	st->nnames++;
	return i;
}

static int seen_grow(struct rx_state *st, uint64_t seq)
{
	uint64_t words = st->seen_words ? st->seen_words : 1024;
	uint64_t *n;

	while (words * 64 <= seq)
		words *= 2;
	n = realloc(st->seen, words * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + st->seen_words, 0, (words - st->seen_words) * sizeof(*n));
	st->seen = n;
	st->seen_words = words;
	return 0;
}

static int bucket_add(struct rx_state *st, uint64_t idx, int slot)
{
	if (idx >= st->cap_buckets) {
		uint64_t cap = st->cap_buckets ? st->cap_buckets : 1024;
		struct bucket *n;

		while (cap <= idx)
			cap *= 2;
		n = realloc(st->buckets, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + st->cap_buckets, 0, (cap - st->cap_buckets) * sizeof(*n));
		st->buckets = n;
		st->cap_buckets = cap;
	}
	if (idx >= st->nbuckets)
		st->nbuckets = idx + 1;
	st->buckets[idx].frames[slot]++;
	return 0;
}

static void rx_frame(const struct config *c, struct rx_state *st,
		     const unsigned char *p, size_t len, uint32_t mark, int ifindex,
		     uint64_t now)
{
	struct meter_hdr h;
	uint64_t seq;

	if (len < sizeof(h)) {
		st->foreign++;
		return;
	}
	memcpy(&h, p, sizeof(h));
	if (ntohl(h.magic) != METER_MAGIC || h.version != METER_VERSION) {
		st->foreign++;
		return;
	}
	if (h.type == METER_HELLO) {
		__atomic_store_n(&peer_heard, true, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&peer_heard, true, __ATOMIC_RELEASE);
	if (!st->have_stream) {
		st->stream = ntohl(h.stream);
		st->have_stream = true;
	} else if (ntohl(h.stream) != st->stream) {
		st->foreign++;
		return;
	}
	seq = be64toh(h.seq);
	if (h.type == METER_END) {
		if (!st->end_seen)
			st->end_ns = now;
		st->end_seen = true;
		st->end_sent = seq;
		return;
	}
	if (h.type != METER_DATA || seq >= MAX_SEQ) {
		st->foreign++;
		return;
	}

	if (!st->first_ns)
		st->first_ns = now;
	else if (now - st->last_ns > st->longest_gap_ns)
		st->longest_gap_ns = now - st->last_ns;
	st->last_ns = now;
	if (bucket_add(st, (now - st->first_ns) / c->interval_ns,
		       path_slot(c, st, mark, ifindex))) {
		st->err = -ENOMEM;
		return;
	}

	if (seq / 64 >= st->seen_words && seen_grow(st, seq)) {
		st->err = -ENOMEM;
		return;
	}
	if (st->seen[seq / 64] & (1ull << (seq % 64))) {
		st->duplicated++;
		/* Which frames came twice: a run grows while they follow on. */
		if (st->ndup_runs_total && st->last_dup + 1 == seq) {
			if (st->ndup_runs_total == st->ndup_runs)
				st->dup_runs[st->ndup_runs - 1][1] = seq;
		} else if (st->ndup_runs_total++ < MAX_RUNS) {
			st->dup_runs[st->ndup_runs][0] = seq;
			st->dup_runs[st->ndup_runs][1] = seq;
			st->ndup_runs++;
		}
		st->last_dup = seq;
		return;
	}
	st->seen[seq / 64] |= 1ull << (seq % 64);
	st->received++;
	st->bytes += len;
	if (st->any && seq < st->max_seq)
		st->reordered++;
	if (!st->any || seq > st->max_seq)
		st->max_seq = seq;
	st->any = true;
}

static void rx_meta(struct msghdr *mh, uint32_t *mark, int *ifindex)
{
	*mark = 0;
	*ifindex = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_MARK)
			memcpy(mark, CMSG_DATA(cm), sizeof(*mark));
		else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			*ifindex = pi.ipi_ifindex;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			*ifindex = pi.ipi6_ifindex;
		}
	}
}

struct rx_slot {
	struct iovec iov;
	unsigned char cbuf[256];
	unsigned char buf[RX_BUF];
};

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Receive until the end marker (plus linger), idle timeout or a signal. */
static int receive(const struct config *c, int fd, struct rx_state *st)
{
	struct mmsghdr msgs[RX_BATCH];
	struct rx_slot *slots;

	slots = calloc(RX_BATCH, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	st->start_ns = lab_now_ns();
	while (!stop && !st->err) {
		uint64_t now = lab_now_ns(), deadline;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n, timeout_ms;

		if (c->send && !__atomic_load_n(&tx_done, __ATOMIC_ACQUIRE))
			deadline = now + 100000000ull;	/* our own stream still runs */
		else if (st->end_seen)
			deadline = max_u64(st->end_ns, tx_done_ns) + c->linger_ns;
		else if (st->first_ns)
			deadline = max_u64(st->last_ns, tx_done_ns) + c->idle_ns;
		else
			deadline = st->start_ns + c->wait_ns;
		if (c->max_ns && st->start_ns + c->max_ns < deadline)
			deadline = st->start_ns + c->max_ns;
		if (now >= deadline)
			break;
		timeout_ms = (deadline - now + 999999) / 1000000;
		if (timeout_ms > 100)
			timeout_ms = 100;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			continue;

		for (int i = 0; i < RX_BATCH; i++) {
			slots[i].iov.iov_base = slots[i].buf;
			slots[i].iov.iov_len = sizeof(slots[i].buf);
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &slots[i].iov;
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = slots[i].cbuf;
			msgs[i].msg_hdr.msg_controllen = sizeof(slots[i].cbuf);
		}
		n = recvmmsg(fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			st->err = -errno;
			pr_warn("cannot receive: %s", strerror(errno));
			break;
		}
		now = lab_now_ns();
		for (int i = 0; i < n; i++) {
			uint32_t mark;
			int ifindex;

			rx_meta(&msgs[i].msg_hdr, &mark, &ifindex);
			rx_frame(c, st, slots[i].buf, msgs[i].msg_len, mark, ifindex, now);
		}
	}
	free(slots);
	return st->err;
}

/* ---- report ------------------------------------------------------------- */

struct rx_summary {
	uint64_t sent, lost;
	bool sent_known;
	uint64_t runs[MAX_RUNS][2];
	int nruns;
	uint64_t nruns_total;
};

static void summarize(const struct config *c, const struct rx_state *st,
		      struct rx_summary *s)
{
	bool in_run = false, recording = false;
	uint64_t seq, limit;

	memset(s, 0, sizeof(*s));
	if (st->end_seen) {
		s->sent = st->end_sent;
		s->sent_known = true;
	} else if (c->expect) {
		s->sent = c->expect;
		s->sent_known = true;
	} else {
		s->sent = st->any ? st->max_seq + 1 : 0;
	}
	s->lost = s->sent > st->received ? s->sent - st->received : 0;

	/* Missing runs among the sequence numbers up to the highest one sent
	 * (when the kernel refused frames, the end marker's count is lower
	 * than the highest sequence number, and a run may name a refused
	 * frame). */
	limit = st->any && st->max_seq + 1 > s->sent ? st->max_seq + 1 : s->sent;
	for (seq = 0; seq < limit; seq++) {
		uint64_t word = seq / 64 < st->seen_words ? st->seen[seq / 64] : 0;

		if (seq % 64 == 0 && word == ~0ull && seq + 63 < limit) {
			in_run = false;
			seq += 63;
			continue;
		}
		if (word & (1ull << (seq % 64))) {
			in_run = false;
			continue;
		}
		if (in_run) {
			if (recording)
				s->runs[s->nruns - 1][1] = seq;
			continue;
		}
		in_run = true;
		s->nruns_total++;
		recording = s->nruns < MAX_RUNS;
		if (recording) {
			s->runs[s->nruns][0] = seq;
			s->runs[s->nruns][1] = seq;
			s->nruns++;
		}
	}
}

static const char *slot_name(const struct rx_state *st, int slot)
{
	return slot < st->nnames ? st->names[slot] : "other";
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static double rx_seconds(const struct rx_state *st)
{
	return st->first_ns && st->last_ns > st->first_ns ?
	       (st->last_ns - st->first_ns) / 1e9 : 0;
}

static void report_rx_json(const struct config *c, const struct rx_state *st,
			   const struct rx_summary *s, FILE *f)
{
	double secs = rx_seconds(st);

	fprintf(f, "\"rx\":{\"stream\":%u,\"sent\":%" PRIu64 ",\"sent_known\":%s,"
		   "\"end_seen\":%s,\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ","
		   "\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64 ","
		   "\"foreign\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
		   "\"rate_pps\":%.0f,\"longest_gap_ms\":%.3f,\"first_rx_ms\":%.3f,",
		st->stream, s->sent, s->sent_known ? "true" : "false",
		st->end_seen ? "true" : "false", st->received, s->lost, st->duplicated,
		st->reordered, st->foreign, st->bytes, secs,
		secs > 0 ? st->received / secs : 0, st->longest_gap_ns / 1e6,
		st->first_ns ? (st->first_ns - st->start_ns) / 1e6 : 0);
	fprintf(f, "\"lost_runs\":[");
	for (int i = 0; i < s->nruns; i++)
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "", s->runs[i][0],
			s->runs[i][1]);
	fprintf(f, "],\"lost_runs_total\":%" PRIu64 ",\"dup_runs\":[", s->nruns_total);
	for (uint64_t i = 0; i < st->ndup_runs; i++)
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "", st->dup_runs[i][0],
			st->dup_runs[i][1]);
	fprintf(f, "],\"dup_runs_total\":%" PRIu64 ",\"paths\":[", st->ndup_runs_total);
	for (int i = 0; i < st->nnames; i++) {
		fputs(i ? "," : "", f);
		json_str(f, st->names[i]);
	}
	fprintf(f, "],\"interval_ms\":%.3f,\"timeline\":[", c->interval_ns / 1e6);
	for (uint64_t b = 0; b < st->nbuckets; b++) {
		uint64_t total = 0;
		bool first = true;

		for (int k = 0; k <= MAX_LABELS; k++)
			total += st->buckets[b].frames[k];
		fprintf(f, "%s{\"t_ms\":%.3f,\"frames\":%" PRIu64 ",\"by\":{", b ? "," : "",
			b * c->interval_ns / 1e6, total);
		for (int k = 0; k <= MAX_LABELS; k++) {
			if (!st->buckets[b].frames[k])
				continue;
			fputs(first ? "" : ",", f);
			json_str(f, slot_name(st, k));
			fprintf(f, ":%" PRIu64, st->buckets[b].frames[k]);
			first = false;
		}
		fputs("}}", f);
	}
	fputs("]}", f);
}

/* Bitmask of the paths that carried frames in a bucket. */
static unsigned int bucket_paths(const struct bucket *b)
{
	unsigned int m = 0;

	for (int k = 0; k <= MAX_LABELS; k++)
		if (b->frames[k])
			m |= 1u << k;
	return m;
}

static void report_rx_text(const struct config *c, const struct rx_state *st,
			   const struct rx_summary *s, FILE *f)
{
	double secs = rx_seconds(st);

	fprintf(f, "rx: sent %" PRIu64 "%s  received %" PRIu64 "  lost %" PRIu64
		   "  duplicated %" PRIu64 "  reordered %" PRIu64 "\n",
		s->sent, s->sent_known ? "" : " (end marker not seen: highest seq + 1)",
		st->received, s->lost, st->duplicated, st->reordered);
	fprintf(f, "rx: %.3f s from first to last frame, %.0f pps, longest gap %.3f ms",
		secs, secs > 0 ? st->received / secs : 0, st->longest_gap_ns / 1e6);
	if (st->foreign)
		fprintf(f, ", %" PRIu64 " foreign frames ignored", st->foreign);
	fputc('\n', f);
	if (s->nruns) {
		fprintf(f, "rx: lost runs:");
		for (int i = 0; i < s->nruns; i++)
			fprintf(f, " %" PRIu64 "-%" PRIu64, s->runs[i][0], s->runs[i][1]);
		if (s->nruns_total > (uint64_t)s->nruns)
			fprintf(f, " ... (%" PRIu64 " runs)", s->nruns_total);
		fputc('\n', f);
	}
	if (c->quiet || !st->nbuckets)
		return;

	/* Consecutive buckets with the same set of paths make one line. */
	fprintf(f, "timeline (%.0f ms buckets, by path):\n", c->interval_ns / 1e6);
	for (uint64_t b = 0; b < st->nbuckets;) {
		unsigned int m = bucket_paths(&st->buckets[b]);
		uint64_t e = b, sum[MAX_LABELS + 1] = { 0 };

		while (e < st->nbuckets && bucket_paths(&st->buckets[e]) == m) {
			for (int k = 0; k <= MAX_LABELS; k++)
				sum[k] += st->buckets[e].frames[k];
			e++;
		}
		fprintf(f, "  %9.3f - %9.3f s ", b * c->interval_ns / 1e9,
			e * c->interval_ns / 1e9);
		if (!m)
			fprintf(f, " (nothing)");
		for (int k = 0; k <= MAX_LABELS; k++)
			if (sum[k])
				fprintf(f, " %s %" PRIu64, slot_name(st, k), sum[k]);
		fputc('\n', f);
		b = e;
	}
}

static void report_tx(const struct config *c, const struct tx_result *t, FILE *f)
{
	double secs = t->end_ns > t->start_ns ? (t->end_ns - t->start_ns) / 1e9 : 0;

	if (c->json)
		fprintf(f, "\"tx\":{\"stream\":%u,\"sent\":%" PRIu64 ",\"errors\":%" PRIu64
			   ",\"seconds\":%.6f,\"rate_pps\":%.0f,\"target_pps\":%" PRIu64
			   ",\"size\":%" PRIu64 "}",
			t->stream, t->sent, t->errors, secs, secs > 0 ? t->sent / secs : 0,
			c->rate, c->size);
	else
		fprintf(f, "tx: sent %" PRIu64 " frames in %.3f s (%.0f pps, target %" PRIu64
			   "), %" PRIu64 " refused\n",
			t->sent, secs, secs > 0 ? t->sent / secs : 0, c->rate, t->errors);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: semi-meter send DEST [options]          send a stream to DEST\n"
		"       semi-meter recv [LISTEN] [options]      receive a stream, report\n"
		"       semi-meter both DEST [LISTEN] [options] both at once (one end of a\n"
		"                                                two-way test; each end\n"
		"                                                sends once it hears the other)\n"
		"DEST is ADDR[:PORT] or [ADDR6]:PORT, LISTEN is PORT, ADDR:PORT or\n"
		"[ADDR6]:PORT (default port %d, default LISTEN all addresses).\n\n"
		"sender:\n"
		"  -r, --rate PPS        frames per second (default 1000; 500k, 1.5M)\n"
		"  -c, --count N         frames to send (default rate x duration)\n"
		"  -d, --duration T      sending time (default 1s; 10, 2.5s, 300ms)\n"
		"  -s, --size BYTES      UDP payload (default 64, min %d)\n"
		"  -b, --batch N         frames per sendmmsg (default 32, max %d)\n"
		"  -I, --interface DEV   send through DEV (SO_BINDTODEVICE)\n"
		"  -S, --source ADDR     send from ADDR\n"
		"receiver:\n"
		"  -t, --idle T          stop when no frame came for T (default 2s)\n"
		"  -w, --wait T          give up when no first frame within T (default 60s)\n"
		"  -T, --max-time T      stop after T in any case\n"
		"  -l, --linger T        keep listening after the end marker (default 200ms)\n"
		"  -e, --expect N        frames sent, in case the end marker is lost\n"
		"  -i, --interval T      timeline bucket (default 10ms)\n"
		"  -L, --label MARK=NAME call frames with skb mark MARK NAME (lab guest:\n"
		"                        -L 1=vf -L 2=virtio); others go by interface\n"
		"  -q, --quiet           no timeline in the text report\n"
		"  -x, --fail-on-loss    exit 3 if a frame was lost or duplicated\n"
		"common:\n"
		"  -n, --netns NS        run in network namespace /run/netns/NS\n"
		"  -j, --json            JSON report on stdout\n"
		"  -v, --verbose\n"
		"  -h, --help\n"
		"The receiver prints 'listening on ADDR' on stderr once bound.\n"
		"exit: 0 done, 1 error, 2 usage, 3 loss or duplicates with -x\n",
		METER_PORT, METER_HDR_LEN, MAX_BATCH);
}

static int parse_label(const char *s, struct config *c)
{
	const char *eq = strchr(s, '=');
	char num[24];
	uint64_t mark;

	if (!eq || eq == s || !eq[1] || (size_t)(eq - s) >= sizeof(num) ||
	    c->nlabels == MAX_LABELS)
		return -EINVAL;
	memcpy(num, s, eq - s);
	num[eq - s] = 0;
	if (lab_parse_u64(num, UINT32_MAX, &mark) || !mark)
		return -EINVAL;
	c->labels[c->nlabels].mark = mark;
	c->labels[c->nlabels].name = eq + 1;
	c->nlabels++;
	return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "interface", required_argument, NULL, 'I' },
		{ "source", required_argument, NULL, 'S' },
		{ "idle", required_argument, NULL, 't' },
		{ "wait", required_argument, NULL, 'w' },
		{ "max-time", required_argument, NULL, 'T' },
		{ "linger", required_argument, NULL, 'l' },
		{ "expect", required_argument, NULL, 'e' },
		{ "interval", required_argument, NULL, 'i' },
		{ "label", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "fail-on-loss", no_argument, NULL, 'x' },
		{ "netns", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_count = false;
	const char *mode;
	int opt, bad = 0;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	mode = argv[1];
	if (!strcmp(mode, "-h") || !strcmp(mode, "--help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(mode, "send")) {
		c->send = true;
	} else if (!strcmp(mode, "recv")) {
		c->recv = true;
	} else if (!strcmp(mode, "both")) {
		c->send = c->recv = true;
	} else {
		pr_warn("unknown mode '%s' (send, recv or both)", mode);
		usage(stderr);
		return EXIT_USAGE;
	}

	optind = 2;
	while ((opt = getopt_long(argc, argv, "r:c:d:s:b:I:S:t:w:T:l:e:i:L:qxn:jvh",
				  opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			bad |= lab_parse_rate(optarg, &c->rate);
			break;
		case 'c':
			bad |= lab_parse_u64(optarg, MAX_SEQ, &c->count);
			have_count = true;
			break;
		case 'd':
			bad |= lab_parse_duration_ns(optarg, &c->duration_ns);
			break;
		case 's':
			bad |= lab_parse_u64(optarg, 65507, &c->size);
			bad |= c->size < METER_HDR_LEN;
			break;
		case 'b':
			bad |= lab_parse_u64(optarg, MAX_BATCH, &c->batch);
			bad |= !c->batch;
			break;
		case 'I':
			c->ifname = optarg;
			break;
		case 'S':
			c->source = optarg;
			break;
		case 't':
			bad |= lab_parse_duration_ns(optarg, &c->idle_ns);
			break;
		case 'w':
			bad |= lab_parse_duration_ns(optarg, &c->wait_ns);
			break;
		case 'T':
			bad |= lab_parse_duration_ns(optarg, &c->max_ns);
			break;
		case 'l':
			bad |= lab_parse_duration_ns(optarg, &c->linger_ns);
			break;
		case 'e':
			bad |= lab_parse_u64(optarg, MAX_SEQ, &c->expect);
			break;
		case 'i':
			bad |= lab_parse_duration_ns(optarg, &c->interval_ns);
			bad |= c->interval_ns < 1000000;
			break;
		case 'L':
			bad |= parse_label(optarg, c);
			break;
		case 'q':
			c->quiet = true;
			break;
		case 'x':
			c->fail_on_loss = true;
			break;
		case 'n':
			c->netns = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'v':
			lab_verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (bad) {
			pr_warn("bad value for -%c: '%s'", opt, optarg);
			return EXIT_USAGE;
		}
	}
	if (c->send) {
		if (optind >= argc) {
			pr_warn("%s needs a destination", mode);
			return EXIT_USAGE;
		}
		c->dest = argv[optind++];
	}
	if (c->recv && optind < argc)
		c->listen = argv[optind++];
	if (optind < argc) {
		pr_warn("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (!have_count) {
		unsigned __int128 n = (unsigned __int128)c->rate * c->duration_ns / 1000000000u;

		c->count = n > MAX_SEQ ? MAX_SEQ : (uint64_t)n;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct config c = {
		.rate = 1000, .duration_ns = 1000000000ull, .size = 64, .batch = 32,
		.idle_ns = 2000000000ull, .wait_ns = 60000000000ull,
		.linger_ns = 200000000ull, .interval_ns = 10000000ull,
		.listen = "9000",
	};
	struct tx_result tx = { 0 };
	struct rx_state st = { 0 };
	struct rx_summary sum;
	pthread_t thread;
	bool thread_started = false;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc, nsfd, fd = -1, err = 0;
	void *targ[2] = { &c, &tx };

	lab_prog = "semi-meter";
	rc = parse_args(argc, argv, &c);
	if (rc >= 0)
		return rc;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_TIMERSLACK, 1UL);
	if (getrandom(&tx.stream, sizeof(tx.stream), 0) != sizeof(tx.stream))
		tx.stream = (uint32_t)lab_now_ns() ^ (uint32_t)getpid();

	/* The whole process, its sender thread included, lives in NS. */
	nsfd = lab_netns_enter(c.netns);
	if (nsfd < 0 && nsfd != LAB_NETNS_NONE)
		return EXIT_FAIL;
	if (nsfd >= 0)
		close(nsfd);

	if (c.recv) {
		char desc[INET6_ADDRSTRLEN + 16];

		fd = rx_socket(&c, desc, sizeof(desc));
		if (fd < 0)
			return EXIT_FAIL;
		fprintf(stderr, "semi-meter: listening on %s\n", desc);
		fflush(stderr);
	}
	if (c.send && c.recv) {
		rc = pthread_create(&thread, NULL, tx_thread, targ);
		if (rc) {
			pr_warn("cannot start the sender thread: %s", strerror(rc));
			close(fd);
			return EXIT_FAIL;
		}
		thread_started = true;
	} else if (c.send) {
		send_tx(&c, &tx);
	}
	if (c.recv) {
		err = receive(&c, fd, &st);
		close(fd);
	}
	if (thread_started) {
		/* Only a signal or --max-time ends the receiver before our own
		 * stream: then stop the stream too. */
		stop = 1;
		pthread_join(thread, NULL);
	}
	if (tx.err)
		err = tx.err;

	if (c.recv)
		summarize(&c, &st, &sum);
	if (c.json) {
		fputc('{', stdout);
		if (c.send)
			report_tx(&c, &tx, stdout);
		if (c.send && c.recv)
			fputc(',', stdout);
		if (c.recv)
			report_rx_json(&c, &st, &sum, stdout);
		fputs("}\n", stdout);
	} else {
		if (c.send)
			report_tx(&c, &tx, stdout);
		if (c.recv)
			report_rx_text(&c, &st, &sum, stdout);
	}
	free(st.seen);
	free(st.buckets);
	if (err)
		return EXIT_FAIL;
	if (c.fail_on_loss && c.recv && (sum.lost || st.duplicated || !st.received))
		return EXIT_LOSS;
	return EXIT_OK;
}
