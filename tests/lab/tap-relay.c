// SPDX-License-Identifier: GPL-2.0
/*
 * tap-relay: the lab's stand-in for QEMU's virtio-net with a tap backend.
 *
 * It moves frames both ways between a host tap (what libvirt puts in the
 * host bridge) and the guest's "virtio" interface (a tap in the guest's
 * namespace), one frame per read/write, as QEMU's userspace tap backend
 * does.  Each device may live in its own network namespace.
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>

#include "labutil.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define RELAY_BATCH	64	/* frames per direction per wakeup: fairness */
#define RELAY_BUF	65536

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

/* Move up to RELAY_BATCH frames from one end to the other; -errno if the
 * source is gone. */
static int pump(struct end *from, struct end *to, struct dir_stats *st,
		unsigned char *buf)
{
	for (int i = 0; i < RELAY_BATCH; i++) {
		ssize_t n = read(from->fd, buf, RELAY_BUF);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (dev_gone(errno)) {
				pr_warn("%s%s%s went away: %s", from->dev,
					from->netns ? " in " : "",
					from->netns ? from->netns : "", strerror(errno));
				return -errno;
			}
			/* EIO: device down; wait for it to come back. */
			return 0;
		}
		if (n == 0)
			return 0;
		if (write(to->fd, buf, n) != n) {
			if (dev_gone(errno)) {
				pr_warn("%s%s%s went away: %s", to->dev,
					to->netns ? " in " : "",
					to->netns ? to->netns : "", strerror(errno));
				return -errno;
			}
			st->write_errors++;
			continue;
		}
		st->frames++;
		st->bytes += n;
	}
	return 0;
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

	if (json) {
		fprintf(f, "{\"host_tap\":\"%s\",\"host_netns\":\"%s\",\"guest_tap\":\"%s\","
			   "\"guest_netns\":\"%s\",\"seconds\":%.3f,\"announces\":%llu,",
			r->host.dev, r->host.netns ? r->host.netns : "", r->guest.dev,
			r->guest.netns ? r->guest.netns : "", secs, r->announces);
		fprintf(f, "\"to_guest\":{\"frames\":%llu,\"bytes\":%llu,\"write_errors\":%llu},",
			r->to_guest.frames, r->to_guest.bytes, r->to_guest.write_errors);
		fprintf(f, "\"to_host\":{\"frames\":%llu,\"bytes\":%llu,\"write_errors\":%llu}}\n",
			r->to_host.frames, r->to_host.bytes, r->to_host.write_errors);
		return;
	}
	fprintf(f, "tap-relay %s -> %s: %llu frames %llu bytes (%llu not delivered)\n",
		r->host.dev, r->guest.dev, r->to_guest.frames, r->to_guest.bytes,
		r->to_guest.write_errors);
	fprintf(f, "tap-relay %s -> %s: %llu frames %llu bytes (%llu not delivered)\n",
		r->guest.dev, r->host.dev, r->to_host.frames, r->to_host.bytes,
		r->to_host.write_errors);
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
	enum { P_HOST, P_GUEST, P_SIG, P_TIMER, P_MAX };
	struct pollfd pfd[P_MAX];
	unsigned char *buf;
	sigset_t mask;
	int sfd, tfd = -1, err = 0;

	buf = malloc(RELAY_BUF);
	if (!buf)
		return -ENOMEM;
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
		goto free_buf;
	}
	if (r->announce) {
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (tfd < 0 || arm_announce(tfd, 0)) {
			err = -errno;
			pr_warn("cannot create the announce timer: %s", strerror(errno));
			goto close_sfd;
		}
	}
	pfd[P_HOST] = (struct pollfd){ .fd = r->host.fd, .events = POLLIN };
	pfd[P_GUEST] = (struct pollfd){ .fd = r->guest.fd, .events = POLLIN };
	pfd[P_SIG] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[P_TIMER] = (struct pollfd){ .fd = tfd, .events = POLLIN };

	for (;;) {
		if (poll(pfd, P_MAX, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_warn("poll: %s", strerror(errno));
			break;
		}
		if (pfd[P_HOST].revents) {
			err = pump(&r->host, &r->guest, &r->to_guest, buf);
			if (err)
				break;
		}
		if (pfd[P_GUEST].revents) {
			err = pump(&r->guest, &r->host, &r->to_host, buf);
			if (err)
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

	if (tfd >= 0)
		close(tfd);
close_sfd:
	close(sfd);
free_buf:
	free(buf);
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
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stats", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay r = { .host.fd = -1, .guest.fd = -1 };
	bool wait_guest = false;
	int c, err;

	lab_prog = "tap-relay";
	while ((c = getopt_long(argc, argv, "t:n:g:N:awp:s:jvh", long_opts, NULL)) != -1) {
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
		busy_quiet = true;
		while ((err = tap_open(&r.guest, r.mac)) == -EBUSY)
			usleep(100);
		busy_quiet = false;
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
