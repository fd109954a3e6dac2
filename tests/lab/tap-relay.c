// SPDX-License-Identifier: GPL-2.0
/*
 * tap-relay: the lab's stand-in for QEMU's virtio-net with a tap backend.
 *
 * It moves frames both ways between a host tap (what libvirt puts in the
 * host bridge) and the guest's "virtio" interface (a tap in the guest's
 * namespace), one frame per read/write, as QEMU's userspace tap backend
 * does.  Each device may live in its own network namespace.
 *
 * One thread per direction reads its tap until it is empty.  After a burst
 * it looks again COALESCE later (-c, default 250 us) instead of asking to
 * be woken for the next frame, as a NIC moderates its interrupts: at 100
 * kpps that is one sleep per ~25 frames instead of a wakeup per frame or
 * two, for it and for whoever wakes it.  Only an empty tap puts it to sleep
 * until the next frame.  It runs at nice -10 (-P) and, started in a
 * session of its own as the lab starts it, gives its autogroup the same
 * weight: on 2 cores each traffic meter would otherwise get as much CPU as
 * the VM's whole network, and the meters' senders take all they get.
 *
 *   SIGSTOP   the VM is paused: frames queue in the host tap (its
 *             txqueuelen) and overflow there, counted as tx_dropped.
 *   exit      the VM left this host; a relay started on the destination
 *             attaches to its own tap and the same guest interface.
 *   -a        announce the guest's MAC after attaching, as QEMU does after
 *             a migration (RARP, 5 rounds 50 ms apart plus 100 ms a round).
 *   -w        the destination of a migration: attach the host tap at once
 *             (QEMU -incoming holds its tap: frames queue there, up to its
 *             txqueuelen) and the guest interface as soon as the source's
 *             relay lets go of it, then relay as usual.
 *
 * The relay exits 0 on SIGTERM/SIGINT, 1 when a device goes away or on an
 * error, 2 on a usage error; it prints its counters on exit and on SIGUSR1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "labutil.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define RELAY_BATCH	64	/* frames between looks at the counters and the stop flag */
#define RELAY_BUF	65536
#define COALESCE_US	250	/* -c: a burst's end to the next look */
#define COALESCE_MAX_US	100000
#define RELAY_NICE	(-10)	/* -P */

/* QEMU's announce-self defaults: 5 rounds, 50 ms, +100 ms each round. */
#define ANNOUNCE_ROUNDS		5
#define ANNOUNCE_INITIAL_MS	50
#define ANNOUNCE_STEP_MS	100

struct end {
	const char *netns;	/* NULL: the relay's own namespace */
	const char *dev;
	int fd;
};

struct dir_stats {
	unsigned long long frames;
	unsigned long long bytes;
	unsigned long long write_errors;	/* frame read but not delivered */
};

struct relay {
	struct end host;	/* the host tap */
	struct end guest;	/* the guest's virtio interface */
	struct dir_stats to_guest;
	struct dir_stats to_host;
	unsigned long long announces;
	unsigned char mac[ETH_ALEN];
	const char *pidfile;
	const char *statsfile;
	bool announce;
	bool json;
	long coalesce_ns;
	int nice;
	int threads;
	int announce_round;
	uint64_t started_ns;
};

/* -w: a guest interface still held by the source relay is no failure. */
static bool busy_quiet;

static int tap_open(struct end *e, unsigned char *mac)
{
	struct ifreq ifr = { 0 };
	int nsfd, fd = -1, err = 0;

	if (strlen(e->dev) >= IFNAMSIZ) {
		pr_warn("device name too long: %s", e->dev);
		return -EINVAL;
	}
	nsfd = lab_netns_enter(e->netns);
	if (nsfd < 0 && nsfd != LAB_NETNS_NONE)
		return nsfd;

	/* TUNSETIFF would create a missing device: the relay only attaches. */
	if (!if_nametoindex(e->dev)) {
		err = -ENODEV;
		pr_warn("no tap %s%s%s", e->dev, e->netns ? " in " : "",
			e->netns ? e->netns : "");
		goto leave;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot open /dev/net/tun for %s: %s", e->dev, strerror(errno));
		goto leave;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", e->dev);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		if (err == -EBUSY && busy_quiet)
			goto close_fd;
		pr_warn("cannot attach to tap %s%s%s: %s%s", e->dev,
			e->netns ? " in " : "", e->netns ? e->netns : "", strerror(errno),
			errno == EBUSY ? " (another relay attached?)" :
			errno == EINVAL ? " (not a tap?)" : "");
		goto close_fd;
	}
	if (mac) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
			err = -errno;
			pr_warn("cannot read the MAC of %s: %s", e->dev, strerror(errno));
			if (s >= 0)
				close(s);
			goto close_fd;
		}
		close(s);
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	}
	e->fd = fd;
	goto leave;

close_fd:
	close(fd);
leave:
	if (lab_netns_leave(nsfd) && !err) {
		close(fd);
		err = -EIO;
	}
	return err;
}

/*
 * A device we attached to is gone: the tun file reports EBADFD once the
 * interface is deleted, and EIO when it is down.
 */
static bool dev_gone(int err)
{
	return err == EBADFD || err == ENODEV || err == ENXIO;
}

/*
 * One thread per direction, each draining its source until it is empty
 * (EAGAIN): a burst in one direction never waits behind the other, and the
 * two directions run on both cores at once.
 */
struct dir {
	struct end *from, *to;
	struct dir_stats *st;	/* published for the main thread */
	struct dir_stats local;	/* the pump's own */
};

struct pump {
	struct relay *r;
	const char *name;	/* the thread's, for top and perf */
	struct dir dirs[2];
	int ndirs;
	pthread_t tid;
	bool started;
	int err;		/* -errno: a device went away, or poll failed */
};

static int stop_fd = -1;	/* eventfd: the relay ends, the pumps return */
static int done_fd = -1;	/* eventfd: a pump ended on its own (an error) */
static bool stopping;

/* The counters are the pump's to write and everyone's to read. */
static void publish(struct dir_stats *st, const struct dir_stats *local)
{
	__atomic_store_n(&st->frames, local->frames, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bytes, local->bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&st->write_errors, local->write_errors, __ATOMIC_RELAXED);
}

static void snapshot(const struct dir_stats *st, struct dir_stats *out)
{
	out->frames = __atomic_load_n(&st->frames, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&st->bytes, __ATOMIC_RELAXED);
	out->write_errors = __atomic_load_n(&st->write_errors, __ATOMIC_RELAXED);
}

static void warn_gone(const struct end *e, int err)
{
	pr_warn("%s%s%s went away: %s", e->dev, e->netns ? " in " : "",
		e->netns ? e->netns : "", strerror(err));
}

/*
 * Move frames from one end to the other until the source is empty: 0, or
 * -errno when a device is gone.  Counters are published every RELAY_BATCH
 * frames and when the source is empty.
 */
static int drain(struct dir *d, unsigned char *buf, unsigned long long *moved)
{
	struct dir_stats *local = &d->local;

	for (;;) {
		for (int i = 0; i < RELAY_BATCH; i++) {
			ssize_t n = read(d->from->fd, buf, RELAY_BUF);

			if (n <= 0) {
				publish(d->st, local);
				if (n == 0 || errno == EAGAIN || errno == EINTR)
					return 0;
				if (dev_gone(errno)) {
					warn_gone(d->from, errno);
					return -errno;
				}
				return 0;	/* EIO: device down; wait for it */
			}
			(*moved)++;
			if (write(d->to->fd, buf, n) != n) {
				if (dev_gone(errno)) {
					publish(d->st, local);
					warn_gone(d->to, errno);
					return -errno;
				}
				local->write_errors++;
				continue;
			}
			local->frames++;
			local->bytes += n;
		}
		publish(d->st, local);
		if (__atomic_load_n(&stopping, __ATOMIC_RELAXED))
			return 0;
	}
}

/*
 * After a burst, look again coalesce_ns later: the thread is not on the
 * taps' wait queues meanwhile, so neither it nor the sender of the next
 * frames pays a wakeup per frame.  An empty look means the burst is over:
 * sleep in poll() until a frame comes.  The stop eventfd ends either wait.
 */
static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	struct pollfd pfd[3];
	struct timespec gap = {
		.tv_sec = p->r->coalesce_ns / 1000000000,
		.tv_nsec = p->r->coalesce_ns % 1000000000,
	};
	unsigned char *buf = malloc(RELAY_BUF);
	bool ready[2] = { false, false };
	int n = p->ndirs, err = 0;
	uint64_t one = 1;

	pthread_setname_np(pthread_self(), p->name);
	for (int i = 0; i < n; i++) {
		snapshot(p->dirs[i].st, &p->dirs[i].local);
		pfd[i] = (struct pollfd){ .fd = p->dirs[i].from->fd, .events = POLLIN };
	}
	pfd[n] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
		unsigned long long moved = 0;

		for (int i = 0; i < n && !err; i++)
			if (ready[i])
				err = drain(&p->dirs[i], buf, &moved);
		if (err)
			break;
		if (moved && p->r->coalesce_ns) {
			if (ppoll(&pfd[n], 1, &gap, NULL) > 0)
				break;		/* stop */
			ready[0] = ready[1] = true;
			continue;
		}
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_warn("poll: %s", strerror(errno));
			break;
		}
		if (pfd[n].revents)
			break;
		for (int i = 0; i < n; i++)
			ready[i] = pfd[i].revents;
	}
	free(buf);
out:
	__atomic_store_n(&p->err, err, __ATOMIC_RELEASE);
	if (err && write(done_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

/*
 * The relay's weight against the meters and the rest of the machine.  nice
 * weighs threads within their autogroup (their session, with the kernel's
 * sched_autogroup); the lab starts each relay and each meter in a session
 * of its own, so it is the autogroup's nice that weighs the relay against
 * the meters.  Only a session leader changes it: a relay started from a
 * shell would renice the shell's whole session.  Failing either (no
 * CAP_SYS_NICE, no autogroups) leaves the relay as it is.
 */
static void set_weight(int nice)
{
	FILE *f;

	if (!nice)
		return;
	if (setpriority(PRIO_PROCESS, 0, nice))
		pr_debug("cannot set nice %d: %s", nice, strerror(errno));
	if (getsid(0) != getpid())
		return;
	f = fopen("/proc/self/autogroup", "we");
	if (!f) {
		pr_debug("cannot open /proc/self/autogroup: %s", strerror(errno));
		return;
	}
	fprintf(f, "%d\n", nice);
	if (fclose(f))
		pr_debug("cannot set the autogroup's nice to %d: %s", nice, strerror(errno));
}

static int pump_start(struct pump *p)
{
	int err = pthread_create(&p->tid, NULL, pump_thread, p);

	if (err) {
		pr_warn("cannot start a relay thread: %s", strerror(err));
		return -err;
	}
	p->started = true;
	return 0;
}

static void pumps_stop(struct pump *pumps, int n)
{
	uint64_t one = 1;

	__atomic_store_n(&stopping, true, __ATOMIC_RELAXED);
	if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("cannot stop the relay threads: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		if (pumps[i].started)
			pthread_join(pumps[i].tid, NULL);
}

static void send_rarp(struct relay *r)
{
	unsigned char f[60] = { 0 };	/* minimum Ethernet frame, padded */
	unsigned char *p = f;

	memset(p, 0xff, ETH_ALEN);			/* broadcast */
	memcpy(p + ETH_ALEN, r->mac, ETH_ALEN);
	p[12] = 0x80;					/* ETH_P_RARP */
	p[13] = 0x35;
	p += ETH_HLEN;
	p[1] = 1;					/* htype Ethernet */
	p[2] = 0x08;					/* ptype IPv4 */
	p[4] = ETH_ALEN;
	p[5] = 4;
	p[7] = 3;					/* reverse request */
	memcpy(p + 8, r->mac, ETH_ALEN);		/* sender MAC */
	memcpy(p + 18, r->mac, ETH_ALEN);		/* target MAC */
	if (write(r->host.fd, f, sizeof(f)) == (ssize_t)sizeof(f))
		r->announces++;
	else
		pr_warn("cannot announce on %s: %s", r->host.dev, strerror(errno));
}

static int arm_announce(int tfd, int round)
{
	long ms = round == 0 ? 1 : ANNOUNCE_INITIAL_MS + (round - 1) * ANNOUNCE_STEP_MS;
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 },
	};

	return timerfd_settime(tfd, 0, &its, NULL) ? -errno : 0;
}

static void report(const struct relay *r, FILE *f, bool json)
{
	double secs = (lab_now_ns() - r->started_ns) / 1e9;
	struct dir_stats g, h;

	snapshot(&r->to_guest, &g);
	snapshot(&r->to_host, &h);

	if (json) {
		fprintf(f, "{\"host_tap\":\"%s\",\"host_netns\":\"%s\",\"guest_tap\":\"%s\","
			   "\"guest_netns\":\"%s\",\"seconds\":%.3f,\"announces\":%llu,",
			r->host.dev, r->host.netns ? r->host.netns : "", r->guest.dev,
			r->guest.netns ? r->guest.netns : "", secs, r->announces);
		fprintf(f, "\"to_guest\":{\"frames\":%llu,\"bytes\":%llu,\"write_errors\":%llu},",
			g.frames, g.bytes, g.write_errors);
		fprintf(f, "\"to_host\":{\"frames\":%llu,\"bytes\":%llu,\"write_errors\":%llu}}\n",
			h.frames, h.bytes, h.write_errors);
		return;
	}
	fprintf(f, "tap-relay %s -> %s: %llu frames %llu bytes (%llu not delivered)\n",
		r->host.dev, r->guest.dev, g.frames, g.bytes, g.write_errors);
	fprintf(f, "tap-relay %s -> %s: %llu frames %llu bytes (%llu not delivered)\n",
		r->guest.dev, r->host.dev, h.frames, h.bytes, h.write_errors);
	if (r->announces)
		fprintf(f, "tap-relay announces: %llu\n", r->announces);
}

/* Write the counters to the stats file, atomically (tmp + rename). */
static void write_stats(const struct relay *r)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (!r->statsfile)
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", r->statsfile) >= sizeof(tmp))
		return;
	f = fopen(tmp, "we");
	if (!f) {
		pr_warn("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	report(r, f, true);
	if (fclose(f) || rename(tmp, r->statsfile))
		pr_warn("cannot write %s: %s", r->statsfile, strerror(errno));
}

static int write_pidfile(const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f) {
		int err = -errno;

		pr_warn("cannot write pid file %s: %s", tmp, strerror(errno));
		return err;
	}
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) || rename(tmp, path)) {
		int err = -errno;

		pr_warn("cannot write pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		return err;
	}
	return 0;
}

static void remove_pidfile(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && atoi(buf) == (int)getpid())
		unlink(path);
	fclose(f);
}

static int run(struct relay *r)
{
	enum { P_SIG, P_TIMER, P_DONE, P_MAX };
	struct dir to_guest = { .from = &r->host, .to = &r->guest, .st = &r->to_guest };
	struct dir to_host = { .from = &r->guest, .to = &r->host, .st = &r->to_host };
	struct pump pumps[2] = {
		{ .r = r, .name = "to-guest", .dirs = { to_guest }, .ndirs = 1 },
		{ .r = r, .name = "to-host", .dirs = { to_host }, .ndirs = 1 },
	};
	int npumps = 2;
	struct pollfd pfd[P_MAX];
	sigset_t mask;
	int sfd, tfd = -1, err = 0;

	/* Blocked before the threads start: only the main thread takes them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		err = -errno;
		pr_warn("cannot create signalfd: %s", strerror(errno));
		return err;
	}
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0 || done_fd < 0) {
		err = -errno;
		pr_warn("cannot create an eventfd: %s", strerror(errno));
		goto close_fds;
	}
	if (r->announce) {
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (tfd < 0 || arm_announce(tfd, 0)) {
			err = -errno;
			pr_warn("cannot create the announce timer: %s", strerror(errno));
			goto close_fds;
		}
	}
	pfd[P_SIG] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[P_TIMER] = (struct pollfd){ .fd = tfd, .events = POLLIN };
	pfd[P_DONE] = (struct pollfd){ .fd = done_fd, .events = POLLIN };

	set_weight(r->nice);	/* before the threads: they inherit it */
	if (r->threads == 1) {
		pumps[0].dirs[1] = to_host;
		pumps[0].ndirs = 2;
		pumps[0].name = "both-ways";
		npumps = 1;
	}
	for (int i = 0; i < npumps && !err; i++)
		err = pump_start(&pumps[i]);

	while (!err) {
		if (poll(pfd, P_MAX, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_warn("poll: %s", strerror(errno));
			break;
		}
		if (pfd[P_DONE].revents) {
			/* A pump ended on an error; the other is stopped below. */
			for (int i = 0; i < npumps && !err; i++)
				err = __atomic_load_n(&pumps[i].err, __ATOMIC_ACQUIRE);
			if (!err)
				err = -EIO;
			break;
		}
		if (pfd[P_TIMER].revents) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
				send_rarp(r);
				if (++r->announce_round < ANNOUNCE_ROUNDS)
					arm_announce(tfd, r->announce_round);
			}
		}
		if (pfd[P_SIG].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				if (r->statsfile)
					write_stats(r);
				else
					report(r, stderr, false);
				continue;
			}
			break;	/* SIGTERM, SIGINT, SIGHUP: the VM left */
		}
	}
	pumps_stop(pumps, npumps);

close_fds:
	if (tfd >= 0)
		close(tfd);
	if (done_fd >= 0)
		close(done_fd);
	if (stop_fd >= 0)
		close(stop_fd);
	close(sfd);
	return err;
}

/*
 * -w: attach the guest's interface once the source relay lets go of it.
 * Its tap loses its carrier when the last file detaches, and rtnetlink
 * says so: try again on every link event in the guest's namespace (and
 * every WAIT_RETRY_MS in case one was missed), not in a busy loop -- the
 * source relay needs the CPU most while a migration stops the VM.
 */
#define WAIT_RETRY_MS	10

static int link_events(const char *netns)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int nsfd, fd, err = 0;

	nsfd = lab_netns_enter(netns);
	if (nsfd < 0 && nsfd != LAB_NETNS_NONE)
		return nsfd;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		pr_warn("cannot watch the links of %s: %s", netns ? netns : "this namespace",
			strerror(errno));
	}
	if (lab_netns_leave(nsfd) && !err)
		err = -EIO;
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

static int attach_guest_when_free(struct relay *r)
{
	unsigned char msg[8192];
	int nl, err;

	nl = link_events(r->guest.netns);
	if (nl < 0)
		return nl;
	busy_quiet = true;
	while ((err = tap_open(&r->guest, r->mac)) == -EBUSY) {
		struct pollfd pfd = { .fd = nl, .events = POLLIN };

		if (poll(&pfd, 1, WAIT_RETRY_MS) < 0 && errno != EINTR) {
			err = -errno;
			pr_warn("poll: %s", strerror(errno));
			break;
		}
		while (recv(nl, msg, sizeof(msg), 0) > 0 || errno == ENOBUFS)
			;
	}
	busy_quiet = false;
	close(nl);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tap-relay -t TAP [-n NETNS] -g GUEST_TAP [-N GUEST_NETNS] [options]\n"
		"Move frames between a host tap and a guest's virtio tap, as QEMU does.\n\n"
		"  -t, --tap TAP            host tap (in the host bridge), must exist\n"
		"  -n, --netns NETNS        network namespace of TAP (/run/netns/NETNS)\n"
		"  -g, --guest GUEST_TAP    the guest's virtio interface (a tap), must exist\n"
		"  -N, --guest-netns NETNS  network namespace of GUEST_TAP\n"
		"  -a, --announce           announce the guest's MAC after attaching (RARP,\n"
		"                           like QEMU after a migration)\n"
		"  -w, --wait-guest         attach TAP now, GUEST_TAP once no other relay holds\n"
		"                           it (the destination of a migration)\n"
		"  -c, --coalesce T         after a burst, look at a tap again T later rather\n"
		"                           than be woken for each frame (default 250us;\n"
		"                           0: woken for each; at most 100ms)\n"
		"  -T, --threads N          2: a thread per direction (default); 1: one for\n"
		"                           both\n"
		"  -P, --nice N             run at nice N, and the relay's autogroup too\n"
		"                           when it leads its session (default -10; 0: as\n"
		"                           started)\n"
		"  -p, --pidfile FILE       write the pid once both devices are attached\n"
		"  -s, --stats FILE         write counters as JSON on SIGUSR1 (instead of\n"
		"                           printing them) and on exit\n"
		"  -j, --json               print the counters on exit as JSON (stdout)\n"
		"  -v, --verbose            more messages\n"
		"  -h, --help               this text\n\n"
		"SIGSTOP pauses the VM (frames queue in TAP), SIGCONT resumes it, SIGTERM\n"
		"ends it (the VM left this host), SIGUSR1 prints the counters.\n"
		"exit: 0 stopped by a signal, 1 a device went away or an error, 2 usage\n");
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "tap", required_argument, NULL, 't' },
		{ "netns", required_argument, NULL, 'n' },
		{ "guest", required_argument, NULL, 'g' },
		{ "guest-netns", required_argument, NULL, 'N' },
		{ "announce", no_argument, NULL, 'a' },
		{ "wait-guest", no_argument, NULL, 'w' },
		{ "coalesce", required_argument, NULL, 'c' },
		{ "nice", required_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 'T' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stats", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay r = {
		.host.fd = -1, .guest.fd = -1,
		.coalesce_ns = COALESCE_US * 1000L, .nice = RELAY_NICE, .threads = 2,
	};
	bool wait_guest = false;
	uint64_t v;
	char *end;
	int c, err;

	lab_prog = "tap-relay";
	while ((c = getopt_long(argc, argv, "t:n:g:N:awc:P:T:p:s:jvh", long_opts, NULL)) != -1) {
		switch (c) {
		case 't':
			r.host.dev = optarg;
			break;
		case 'n':
			r.host.netns = optarg;
			break;
		case 'g':
			r.guest.dev = optarg;
			break;
		case 'N':
			r.guest.netns = optarg;
			break;
		case 'a':
			r.announce = true;
			break;
		case 'w':
			wait_guest = true;
			break;
		case 'c':
			if (lab_parse_duration_ns(optarg, &v) || v > COALESCE_MAX_US * 1000ull) {
				pr_warn("bad coalesce time '%s' (0 to 100ms, e.g. 250us)", optarg);
				usage(stderr);
				return EXIT_USAGE;
			}
			r.coalesce_ns = v;
			break;
		case 'T':
			if (strcmp(optarg, "1") && strcmp(optarg, "2")) {
				pr_warn("bad thread count '%s' (1 or 2)", optarg);
				usage(stderr);
				return EXIT_USAGE;
			}
			r.threads = atoi(optarg);
			break;
		case 'P':
			errno = 0;
			r.nice = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || r.nice < -20 || r.nice > 19) {
				pr_warn("bad nice '%s' (-20 to 19)", optarg);
				usage(stderr);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			r.pidfile = optarg;
			break;
		case 's':
			r.statsfile = optarg;
			break;
		case 'j':
			r.json = true;
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
	}
	if (optind != argc || !r.host.dev || !r.guest.dev) {
		if (optind != argc)
			pr_warn("unexpected argument '%s'", argv[optind]);
		else
			pr_warn("-t TAP and -g GUEST_TAP are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);

	if (wait_guest) {
		/* Host tap first; the guest's when the source relay is gone. */
		err = tap_open(&r.host, NULL);
		if (err)
			return EXIT_FAIL;
		pr_info("attached %s, waiting for %s", r.host.dev, r.guest.dev);
		err = attach_guest_when_free(&r);
		if (err)
			goto close_host;
	} else {
		err = tap_open(&r.guest, r.mac);
		if (err)
			return EXIT_FAIL;
		err = tap_open(&r.host, NULL);
		if (err)
			goto close_guest;
	}
	if (r.pidfile) {
		err = write_pidfile(r.pidfile);
		if (err)
			goto close_host;
	}
	pr_info("attached %s%s%s <-> %s%s%s", r.host.dev, r.host.netns ? " in " : "",
		 r.host.netns ? r.host.netns : "", r.guest.dev,
		 r.guest.netns ? " in " : "", r.guest.netns ? r.guest.netns : "");
	r.started_ns = lab_now_ns();

	err = run(&r);

	report(&r, r.json ? stdout : stderr, r.json);
	write_stats(&r);
	if (r.pidfile)
		remove_pidfile(r.pidfile);
close_host:
	close(r.host.fd);
close_guest:
	if (r.guest.fd >= 0)
		close(r.guest.fd);
	return err ? EXIT_FAIL : EXIT_OK;
}
