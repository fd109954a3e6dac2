// SPDX-License-Identifier: GPL-2.0
/*
 * The source tap's queue at migrate out --to (DESIGN section 5, step 3).
 *
 * When the VM is paused, QEMU stops reading its tap; what the tap holds
 * then, and what the datapath puts there until --to moves the port to the
 * tunnel, is never read: QEMU migrates no tap queue and exits.  So at --to,
 * once the path names the tunnel (no new frame enters the tap), semi-netd
 * reads that queue itself and sends each frame to the destination exactly
 * as the datapath's tunnel would (bpf/lib/tunnel.h: the same outer
 * Ethernet/IPv4/UDP/VXLAN headers from the datapath's peer entry), out of
 * the uplink through an AF_PACKET socket.
 *
 *   find   at --begin (or at --to, if it was not done): /proc/PID/fd links
 *          to /dev/net/tun whose fdinfo names the tap ("iff:"); each is
 *          taken with pidfd_getfd and kept only if its device lives in
 *          semi-netd's network namespace (TUNGETDEVNETNS): another host's
 *          tap of the same name is not ours.  Only (pid, fd) is kept: an
 *          fd held here would keep a tap alive that QEMU closes.
 *   drain  at --to: each queue (a multi-queue tap has one fd per queue) is
 *          read until empty, never blocking and never changing the flags
 *          the file shares with its owner (RWF_NOWAIT, or poll(0) then
 *          read); again 1 ms later for the frames still in a devmap's bulk
 *          queue.  A tun_pi and a virtio-net header are stripped; a
 *          checksum left to the device is filled in; a GSO frame cannot be
 *          sent as one frame and is counted as failed.
 *
 * Nothing here may fail or hold up the migration: a tap nobody holds, a
 * holder that cannot be taken (EPERM, ESRCH, a kernel without
 * pidfd_getfd), a peer or uplink missing -- a warning names the port, the
 * tap and the reason, and --to goes on.  The drain reads at most
 * DRAIN_MAX_FRAMES frames and DRAIN_MAX_MS of the loop's time.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "daemon/netd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif
#ifndef TUNGETDEVNETNS
#define TUNGETDEVNETNS		_IO('T', 227)
#endif

#define DRAIN_MAX_FRAMES	16384	/* a tap holds txqueuelen (1000) per queue */
#define DRAIN_MAX_MS		100
#define DRAIN_SETTLE_US		1000	/* the devmap's bulk queue is flushed by then */
#define DRAIN_HEADROOM		256	/* tun_pi + virtio-net header, room for the encap */
#define DRAIN_BUF		(DRAIN_HEADROOM + 65536)
#define SEND_RETRIES		3
#define IP_DF_BE		htons(0x4000)
#define VXLAN_FLAG_VNI_BE	htonl(0x08000000)

struct vxlan_encap {
	struct ethhdr eth;
	uint8_t ver_ihl, tos;
	uint16_t tot_len, id, frag_off;
	uint8_t ttl, protocol;
	uint16_t check;
	uint32_t saddr, daddr;
	uint16_t sport, dport, ulen, ucheck;
	uint32_t vx_flags, vx_vni;
} __attribute__((packed));

_Static_assert(sizeof(struct vxlan_encap) == SEMI_ENCAP_LEN, "the datapath's encapsulation");

/* One queue of the tap, taken from its holder. */
struct queue {
	int fd;
	unsigned int flags;	/* IFF_* of the device */
	int vnet_hdr;		/* bytes, 0 none */
	pid_t pid;
	bool poll_read;		/* RWF_NOWAIT refused: poll(0) before each read */
};

struct drain {
	struct netd *d;
	struct port *p;
	struct queue q[DRAIN_MAX_HOLDERS];
	int nq;
	struct tunnel_tx tx;
	uint8_t *buf;
	uint64_t read, sent, failed, gso, deadline_ns;
};

/* Why no queue could be taken: the first reason met, for the warning. */
struct why {
	char text[160];
	int found;		/* holders with the tap's name, any namespace */
	int other_ns;		/* ... of which in another namespace */
};

static void why_set(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why_set(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (w->text[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->text, sizeof(w->text), fmt, ap);
	va_end(ap);
}

static int netns_self(struct stat *st)
{
	return stat("/proc/self/ns/net", st) ? -errno : 0;
}

/*
 * Take pid's fd: 0 and *out when it is the tap named tap in this network
 * namespace; -EXDEV when its device is elsewhere; -errno otherwise.
 */
static int take(pid_t pid, int fd, const char *tap, const struct stat *self_ns,
		struct queue *out)
{
	struct ifreq ifr = {};
	struct stat ns;
	int pidfd, tfd, nsfd, err = 0;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	tfd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (tfd < 0)
		err = -errno;
	close(pidfd);
	if (err)
		return err;
	/* The fd may have been closed and reused since the scan. */
	if (ioctl(tfd, TUNGETIFF, &ifr) || strncmp(ifr.ifr_name, tap, IFNAMSIZ)) {
		err = -ENODEV;
		goto close_tfd;
	}
	nsfd = ioctl(tfd, TUNGETDEVNETNS);
	if (nsfd < 0) {
		err = -errno;
		goto close_tfd;
	}
	if (fstat(nsfd, &ns))
		err = -errno;
	else if (ns.st_ino != self_ns->st_ino || ns.st_dev != self_ns->st_dev)
		err = -EXDEV;
	close(nsfd);
	if (err)
		goto close_tfd;
	*out = (struct queue){ .fd = tfd, .flags = (unsigned short)ifr.ifr_flags, .pid = pid };
	if (out->flags & IFF_VNET_HDR) {
		int sz = 0;

		if (ioctl(tfd, TUNGETVNETHDRSZ, &sz) || sz < (int)sizeof(struct virtio_net_hdr) ||
		    sz > DRAIN_HEADROOM - SEMI_ENCAP_LEN - 4) {
			err = -EPROTO;
			goto close_tfd;
		}
		out->vnet_hdr = sz;
	}
	return 0;

close_tfd:
	close(tfd);
	return err;
}

/* Does /proc/PID/fdinfo/FD say it is the tap named tap? */
static bool fdinfo_names(int pid_dfd, int fd, const char *tap)
{
	char path[64], buf[1024], want[IFNAMSIZ + 8];
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "fdinfo/%d", fd);
	f = openat(pid_dfd, path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return false;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	snprintf(want, sizeof(want), "\niff:\t%s\n", tap);
	return strstr(buf, want) != NULL;
}

/* The fds of one process that are the tap; added to p->holders. */
static void scan_pid(struct port *p, pid_t pid, const struct stat *self_ns, struct why *w)
{
	char path[64], link[32];
	struct dirent *e;
	int pid_dfd, fd_dfd;
	DIR *fds;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	pid_dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_dfd < 0)
		return;
	fd_dfd = openat(pid_dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dfd < 0)
		goto close_pid;
	fds = fdopendir(fd_dfd);
	if (!fds) {
		close(fd_dfd);
		goto close_pid;
	}
	while ((e = readdir(fds))) {
		struct queue q;
		ssize_t n;
		int fd, err;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		n = readlinkat(dirfd(fds), e->d_name, link, sizeof(link) - 1);
		if (n != (ssize_t)strlen("/dev/net/tun"))
			continue;
		link[n] = '\0';
		fd = atoi(e->d_name);
		if (strcmp(link, "/dev/net/tun") || !fdinfo_names(pid_dfd, fd, p->r.tap))
			continue;
		w->found++;
		err = take(pid, fd, p->r.tap, self_ns, &q);
		if (err == -EXDEV) {
			w->other_ns++;
			continue;
		}
		if (err) {
			why_set(w, "cannot take fd %d of pid %d: %s%s", fd, (int)pid,
				strerror(-err), err == -ENOSYS ?
				" (this kernel lacks pidfd_getfd, Linux 5.6)" : "");
			continue;
		}
		close(q.fd);
		if (p->nholders < DRAIN_MAX_HOLDERS)
			p->holders[p->nholders++] = (struct tap_holder){ .pid = pid, .fd = fd };
	}
	closedir(fds);
close_pid:
	close(pid_dfd);
}

static void scan(struct netd *d, struct port *p, struct why *w)
{
	pid_t self = getpid();
	struct stat self_ns;
	struct dirent *e;
	uint64_t t0 = now_ns();
	DIR *proc;

	p->nholders = 0;
	p->holders_known = true;
	if (netns_self(&self_ns)) {
		why_set(w, "cannot read this namespace: %s", strerror(errno));
		return;
	}
	proc = opendir("/proc");
	if (!proc) {
		why_set(w, "cannot read /proc: %s", strerror(errno));
		return;
	}
	while ((e = readdir(proc))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		scan_pid(p, (pid_t)pid, &self_ns, w);
	}
	closedir(proc);
	pr_debug("port %s: %d holders of tap %s found in %llu us", p->r.name, p->nholders,
		 p->r.tap, (unsigned long long)((now_ns() - t0) / 1000));
}

void drain_find(struct netd *d, struct port *p)
{
	struct why w = {};

	if (!d->cfg.drain_tap || !p->r.tap[0])
		return;
	scan(d, p, &w);
}

/* The queues of the holders found before, or found now. */
static void take_all(struct drain *dr, struct why *w)
{
	struct port *p = dr->p;
	struct stat self_ns;

	if (p->holders_known && netns_self(&self_ns) == 0) {
		for (int i = 0; i < p->nholders; i++)
			if (take(p->holders[i].pid, p->holders[i].fd, p->r.tap, &self_ns,
				 &dr->q[dr->nq]) == 0)
				dr->nq++;
		if (dr->nq)
			return;
	}
	/* Not looked for, or the holders changed (QEMU restarted): look now. */
	scan(dr->d, p, w);
	if (netns_self(&self_ns))
		return;
	for (int i = 0; i < p->nholders; i++)
		if (take(p->holders[i].pid, p->holders[i].fd, p->r.tap, &self_ns,
			 &dr->q[dr->nq]) == 0)
			dr->nq++;
}

/* One frame, or -1 with errno (EAGAIN: the queue is empty). */
static ssize_t read_nowait(struct queue *q, uint8_t *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	ssize_t n;

	if (!q->poll_read) {
		n = preadv2(q->fd, &iov, 1, -1, RWF_NOWAIT);
		if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL))
			return n;
		q->poll_read = true;
	}
	/* The owner is paused: what poll saw is still there. */
	if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)) {
		errno = EAGAIN;
		return -1;
	}
	return read(q->fd, buf, len);
}

/* Fill in a checksum the sender left to the device (CHECKSUM_PARTIAL). */
static bool csum_fill(uint8_t *f, size_t len, size_t start, size_t off)
{
	uint32_t sum = 0;
	uint16_t c;
	size_t i;

	if (start + off + 2 > len)
		return false;
	for (i = start; i + 1 < len; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	if (i < len)
		sum += (uint32_t)f[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	f[start + off] = (uint8_t)(c >> 8);
	f[start + off + 1] = (uint8_t)c;
	return true;
}

static uint16_t ip_csum(const void *h)
{
	const uint16_t *w = h;
	uint32_t sum = 0;

	for (int i = 0; i < 10; i++)
		sum += w[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The datapath's encapsulation (bpf/lib/tunnel.h tunnel_encap), in front of f. */
static void encap(const struct tunnel_tx *tx, uint8_t *f, size_t len)
{
	struct vxlan_encap *h = (struct vxlan_encap *)(f - SEMI_ENCAP_LEN);
	const struct semi_peer *peer = &tx->peer;
	uint16_t entropy = (uint16_t)((f[10] << 8 | f[11]) ^ (f[4] << 8 | f[5]));

	memcpy(h->eth.h_dest, peer->remote_mac, ETH_ALEN);
	memcpy(h->eth.h_source, peer->local_mac, ETH_ALEN);
	h->eth.h_proto = htons(ETH_P_IP);
	h->ver_ihl = 0x45;
	h->tos = 0;
	h->tot_len = htons((uint16_t)(len + SEMI_ENCAP_LEN - ETH_HLEN));
	h->id = 0;
	h->frag_off = IP_DF_BE;
	h->ttl = 64;
	h->protocol = 17;
	h->check = 0;
	h->saddr = peer->local_ip;
	h->daddr = peer->remote_ip;
	h->check = ip_csum(&h->ver_ihl);
	h->sport = htons((uint16_t)(49152 | (entropy & 0x3fff)));
	h->dport = htons(peer->port);
	h->ulen = htons((uint16_t)(len + SEMI_ENCAP_LEN - ETH_HLEN - 20));
	h->ucheck = 0;
	h->vx_flags = VXLAN_FLAG_VNI_BE;
	h->vx_vni = htonl((peer->vni + tx->vlan) << 8);
}

/* One frame out of a packet socket, a few tries when the queue is full. */
bool packet_send(int sock, const struct sockaddr_ll *to, const uint8_t *f, size_t len,
		 int *last_errno)
{
	for (int i = 0; i <= SEND_RETRIES; i++) {
		struct pollfd pfd = { .fd = sock, .events = POLLOUT };

		if (sendto(sock, f, len, MSG_DONTWAIT, (const struct sockaddr *)to,
			   sizeof(*to)) == (ssize_t)len)
			return true;
		*last_errno = errno;
		if (errno != EAGAIN && errno != ENOBUFS)
			return false;
		poll(&pfd, 1, 1);
	}
	return false;
}

int packet_sock(struct netd *d)
{
	/* Protocol 0: it receives nothing. */
	if (d->drain_sock < 0)
		d->drain_sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	return d->drain_sock;
}

int tunnel_tx_open(struct netd *d, struct port *p, const char *peer, struct tunnel_tx *tx,
		   char *why, size_t whylen)
{
	memset(tx, 0, sizeof(*tx));
	if (semi_peer_get(d->dp, peer, &tx->peer, NULL)) {
		snprintf(why, whylen, "%s", semi_dp_last_error(d->dp));
		return -ENOENT;
	}
	if (!d->uplink_ifindex) {
		snprintf(why, whylen, "no uplink to send on");
		return -ENODEV;
	}
	tx->sock = packet_sock(d);
	if (tx->sock < 0) {
		snprintf(why, whylen, "cannot open a packet socket: %s", strerror(errno));
		return -errno;
	}
	tx->vlan = p->r.vlan;
	tx->to = (struct sockaddr_ll){ .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				       .sll_ifindex = (int)d->uplink_ifindex,
				       .sll_halen = ETH_ALEN };
	memcpy(tx->to.sll_addr, tx->peer.remote_mac, ETH_ALEN);
	return 0;
}

bool tunnel_tx_send(struct tunnel_tx *tx, uint8_t *f, size_t len)
{
	if (len < ETH_HLEN || len + SEMI_ENCAP_LEN - ETH_HLEN > 0xffff)
		return false;
	encap(tx, f, len);
	return packet_send(tx->sock, &tx->to, f - SEMI_ENCAP_LEN, len + SEMI_ENCAP_LEN,
			   &tx->last_errno);
}

/* One frame as read from the queue: its headers off, sent on. */
static void forward(struct drain *dr, const struct queue *q, uint8_t *buf, size_t n)
{
	uint8_t *f = buf;
	size_t len = n;

	if (!(q->flags & IFF_NO_PI)) {
		if (len < sizeof(struct tun_pi))
			goto fail;
		f += sizeof(struct tun_pi);
		len -= sizeof(struct tun_pi);
	}
	if (q->vnet_hdr) {
		struct virtio_net_hdr vh;

		if (len < (size_t)q->vnet_hdr)
			goto fail;
		memcpy(&vh, f, sizeof(vh));
		f += q->vnet_hdr;
		len -= (size_t)q->vnet_hdr;
		if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE) {
			dr->gso++;
			goto fail;
		}
		if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    !csum_fill(f, len, le16toh(vh.csum_start), le16toh(vh.csum_offset)))
			goto fail;
	}
	if (tunnel_tx_send(&dr->tx, f, len)) {
		dr->sent++;
		return;
	}
fail:
	dr->failed++;
}

/* Read every queue until it is empty (or the budget is spent). */
static void drain_round(struct drain *dr)
{
	for (int i = 0; i < dr->nq; i++) {
		struct queue *q = &dr->q[i];

		while (dr->read < DRAIN_MAX_FRAMES && now_ns() < dr->deadline_ns) {
			uint8_t *at = dr->buf + DRAIN_HEADROOM;
			ssize_t n = read_nowait(q, at, DRAIN_BUF - DRAIN_HEADROOM);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;	/* empty, or the device went (EBADFD, EIO) */
			dr->read++;
			/* The encapsulation goes in front: the frame must start past it. */
			forward(dr, q, at, (size_t)n);
		}
	}
}

static void pids_str(const struct drain *dr, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < dr->nq && off < len; i++) {
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= dr->q[j].pid == dr->q[i].pid;
		if (!seen)
			off += (size_t)snprintf(buf + off, len - off, "%s%d", off ? "," : "",
						(int)dr->q[i].pid);
	}
}

void drain_tap(struct netd *d, struct port *p)
{
	struct drain dr = { .d = d, .p = p };
	struct timespec settle = { .tv_nsec = DRAIN_SETTLE_US * 1000 };
	uint64_t t0 = now_ns();
	struct why w = {};
	char pids[64];

	if (!d->cfg.drain_tap || !p->r.tap[0])
		return;
	p->drain_ran = true;
	take_all(&dr, &w);
	p->holders_known = false;	/* a later --to (after an abort) looks again */
	if (!dr.nq) {
		if (!w.found)
			why_set(&w, "no process holds it");
		else if (w.other_ns == w.found)
			why_set(&w, "only taps of that name in other network namespaces are held "
				"(%d)", w.found);
		pr_warn("port %s: tap %s not drained (its queued frames are lost): %s", p->r.name,
			p->r.tap, w.text);
		return;
	}
	if (tunnel_tx_open(d, p, p->r.mig.peer, &dr.tx, w.text, sizeof(w.text))) {
		pr_warn("port %s: tap %s not drained: %s", p->r.name, p->r.tap, w.text);
		goto close_queues;
	}
	dr.buf = malloc(DRAIN_BUF);
	if (!dr.buf) {
		pr_warn("port %s: tap %s not drained: %s", p->r.name, p->r.tap, strerror(ENOMEM));
		goto close_queues;
	}
	dr.deadline_ns = t0 + DRAIN_MAX_MS * 1000000ull;
	drain_round(&dr);
	nanosleep(&settle, NULL);
	drain_round(&dr);
	p->r.mig.drained += dr.sent;
	p->r.mig.drain_failed += dr.failed;
	pids_str(&dr, pids, sizeof(pids));
	pr_info("port %s: drained %llu frames from tap %s (%d queue%s of pid %s) to %s in %llu "
		"us%s", p->r.name, (unsigned long long)dr.read, p->r.tap, dr.nq,
		dr.nq == 1 ? "" : "s", pids, p->r.mig.peer,
		(unsigned long long)((now_ns() - t0) / 1000), dr.read >= DRAIN_MAX_FRAMES ||
		now_ns() >= dr.deadline_ns ? " (stopped at its limit)" : "");
	if (dr.failed)
		pr_warn("port %s: %llu of the frames drained from tap %s could not be sent to %s "
			"(%llu GSO; last error: %s)", p->r.name, (unsigned long long)dr.failed,
			p->r.tap, p->r.mig.peer, (unsigned long long)dr.gso,
			dr.tx.last_errno ? strerror(dr.tx.last_errno) : "none");
	free(dr.buf);
close_queues:
	for (int i = 0; i < dr.nq; i++)
		close(dr.q[i].fd);
}

void drain_close(struct netd *d)
{
	if (d->drain_sock >= 0)
		close(d->drain_sock);
	d->drain_sock = -1;
}
