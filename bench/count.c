// SPDX-License-Identifier: GPL-2.0
/*
 * semi-count: the counting receivers for semi-pktgen's frames.
 *
 * One instance of bench/count.bpf.c per device, attached as an XDP
 * bpf_link (so that the kernel detaches it whenever this process ends,
 * however it ends), each entered through its own network namespace.  All
 * instances share one bitmap of the sequence numbers seen: a frame that
 * arrives twice, on one device or on two, is a duplicate.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "bench/bench_common.h"
#include "bench/util.h"
#include "bench_count.skel.h"

#define MAX_DEVS	64
#define DEFAULT_MAX_SEQ	(1ULL << 26)	/* 8 MiB of bitmap */
#define LIMIT_MAX_SEQ	(1ULL << 35)	/* 4 GiB of bitmap: 2^29 words */

struct rx_dev {
	const char *arg;	/* as given: NS:IFNAME */
	char *ns;		/* NULL: the namespace semi-count runs in */
	char *ifname;
	struct bench_count *skel;
	int link_fd;
	uint64_t c[SEMI_COUNT_NR];	/* summed over CPUs at the end */
};

struct config {
	struct rx_dev devs[MAX_DEVS];
	int ndevs;
	uint64_t max_seq;
	uint64_t expect;
	bool has_expect;
	double duration;
	bool pass;
	bool generic;
	bool json;
	bool quiet;
	int verbose;
};

static int add_dev(void *p, const char *arg)
{
	struct config *cfg = p;
	struct rx_dev *d;
	const char *colon = strrchr(arg, ':');
	const char *ifname = colon ? colon + 1 : arg;

	if (cfg->ndevs >= MAX_DEVS) {
		fprintf(stderr, "%s: at most %d devices\n", prog_name, MAX_DEVS);
		return -E2BIG;
	}
	if (!*ifname || strlen(ifname) >= IFNAMSIZ || (colon && colon == arg))
		return -EINVAL;
	d = &cfg->devs[cfg->ndevs];
	d->arg = arg;
	d->ifname = strdup(ifname);
	if (!d->ifname)
		return -ENOMEM;
	if (colon && !(colon - arg == 1 && arg[0] == '-')) {
		d->ns = strndup(arg, colon - arg);
		if (!d->ns)
			return -ENOMEM;
	}
	d->link_fd = -1;
	cfg->ndevs++;
	return 0;
}

#define O(n, s, t, f, mv, h, ...)					\
	{ .name = n, .short_name = s, .type = t,			\
	  .off = offsetof(struct config, f), .metavar = mv, .help = h,	\
	  __VA_ARGS__ }

static const struct opt options[] = {
	O("dev", 'd', OPT_CALL, devs, "NS:IFNAME",
	  "count on IFNAME in netns NS (/run/netns/NS, or a path if it starts "
	  "with /; '-' or none: this one); repeatable",
	  .fn = add_dev),
	O("max-seq", 'm', OPT_U64, max_seq, "N",
	  "track seqs 0..N-1 for duplicates (default 2^26; N/8 bytes)",
	  .min = 64, .max = LIMIT_MAX_SEQ),
	O("expect", 'e', OPT_U64, expect, "N",
	  "N frames were sent (seq 0..N-1): report lost = N - unique",
	  .has_off = OPT_HAS(struct config, has_expect), .max = UINT64_MAX),
	O("duration", 't', OPT_SECONDS, duration, "SECONDS",
	  "stop after this long (also stops on SIGINT, SIGTERM, stdin EOF)"),
	O("pass", 'p', OPT_FLAG, pass, NULL,
	  "XDP_PASS counted frames instead of dropping them"),
	O("generic", 0, OPT_FLAG, generic, NULL,
	  "attach in generic (skb) mode instead of native"),
	O("json", 'j', OPT_FLAG, json, NULL,
	  "print the result as one JSON object"),
	O("quiet", 'q', OPT_FLAG, quiet, NULL, "print nothing but errors, "
	  "'ready' and the result"),
	O("verbose", 'v', OPT_COUNT, verbose, NULL,
	  "more messages, libbpf's log included"),
	OPT_END
};

static const char usage[] =
	"--dev NS:IFNAME [--dev NS:IFNAME ...] [--max-seq N] [--expect N] "
	"[--duration S] [-j]";
static const char description[] =
	"Count semi-pktgen frames with an XDP program on each device.  Prints\n"
	"'ready' once every device is attached, counts until SIGINT/SIGTERM,\n"
	"EOF on stdin (when stdin is a pipe, socket or terminal) or --duration,\n"
	"detaches, and prints per device the frames with the magic, their bytes\n"
	"and the other frames (passed), then total, unique sequence numbers,\n"
	"duplicates (across all devices), the highest seq and, with --expect,\n"
	"lost.  Frames with the magic are dropped unless --pass.\n"
	"Exit: 0 counted, 1 failure, 2 usage.";

/* The namespace this process started in, to come back to after each dev. */
static int home_ns = -1;

static int enter_ns(const char *ns)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (ns[0] == '/')
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int leave_ns(void)
{
	if (setns(home_ns, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

static int load_dev(const struct config *cfg, struct rx_dev *d,
		    struct bench_count *first)
{
	struct bpf_map *seen;
	int err;

	d->skel = bench_count__open();
	if (!d->skel)
		return -errno;
	d->skel->rodata->max_seq = cfg->max_seq;
	d->skel->rodata->pass_counted = cfg->pass;
	seen = d->skel->maps.semi_count_seen;
	if (first)
		err = bpf_map__reuse_fd(seen,
				bpf_map__fd(first->maps.semi_count_seen));
	else
		err = bpf_map__set_max_entries(seen, cfg->max_seq / 64);
	if (err)
		return err;
	return bench_count__load(d->skel);
}

static int attach_dev(const struct config *cfg, struct rx_dev *d)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts,
		.flags = cfg->generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
	);
	int ifindex, err = 0, fd;

	if (d->ns) {
		err = enter_ns(d->ns);
		if (err) {
			pr_warn("cannot enter network namespace %s for %s: %s\n",
				d->ns, d->ifname, strerror(-err));
			return err;
		}
	}
	ifindex = if_nametoindex(d->ifname);
	if (!ifindex) {
		err = -errno;
		pr_warn("no device %s in network namespace %s\n", d->ifname,
			d->ns ? d->ns : "(own)");
		goto out_leave;
	}
	fd = bpf_link_create(bpf_program__fd(d->skel->progs.semi_count),
			     ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot attach XDP (%s mode) to %s: %s%s\n",
			cfg->generic ? "generic" : "native", d->arg,
			strerror(-err),
			err == -EBUSY || err == -EEXIST ?
			" (another XDP program is attached)" : "");
		goto out_leave;
	}
	d->link_fd = fd;
	pr_debug("counting on %s (ifindex %d)\n", d->arg, ifindex);
out_leave:
	if (d->ns) {
		int e = leave_ns();

		if (e) {
			/* Cannot go on in the wrong namespace. */
			pr_warn("cannot return to the original network namespace: %s\n",
				strerror(-e));
			if (!err)
				err = e;
		}
	}
	return err;
}

static void detach_all(struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->ndevs; i++) {
		if (cfg->devs[i].link_fd >= 0) {
			close(cfg->devs[i].link_fd);
			cfg->devs[i].link_fd = -1;
		}
	}
}

static int read_counters(struct rx_dev *d)
{
	int ncpus = libbpf_num_possible_cpus();
	struct {
		uint64_t c[SEMI_COUNT_NR];
	} *vals;
	uint32_t key = 0;
	int cpu, i, err = 0;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.semi_count_ctrs),
				&key, vals)) {
		err = -errno;
		goto out;
	}
	memset(d->c, 0, sizeof(d->c));
	for (cpu = 0; cpu < ncpus; cpu++) {
		for (i = 0; i < SEMI_COUNT_NR; i++) {
			if (i == SEMI_COUNT_MAX_SEQ) {
				if (vals[cpu].c[i] > d->c[i])
					d->c[i] = vals[cpu].c[i];
			} else {
				d->c[i] += vals[cpu].c[i];
			}
		}
	}
out:
	free(vals);
	return err;
}

/* stdin EOF ends the count only when stdin is something that can end. */
static bool watch_stdin(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) < 0)
		return false;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	       isatty(STDIN_FILENO);
}

/* Wait for a signal, stdin EOF or the deadline.  Returns what ended it. */
static const char *wait_for_end(const struct config *cfg, int sfd)
{
	struct pollfd pfd[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = watch_stdin() ? STDIN_FILENO : -1, .events = POLLIN },
	};
	uint64_t end = 0, t;
	int timeout, n;

	if (cfg->duration > 0)
		end = now_ns() + (uint64_t)(cfg->duration * NSEC_PER_SEC);
	for (;;) {
		timeout = -1;
		if (end) {
			t = now_ns();
			if (t >= end)
				return "duration";
			timeout = (end - t + 999999) / 1000000;
		}
		n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("poll failed: %s\n", strerror(errno));
			return "error";
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGINT:
					return "SIGINT";
				case SIGTERM:
					return "SIGTERM";
				case SIGHUP:
					return "SIGHUP";
				}
			}
			return "signal";
		}
		if (pfd[1].revents) {
			char buf[256];
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				return "eof";
			/* Input other than EOF is ignored. */
		}
	}
}

struct totals {
	uint64_t c[SEMI_COUNT_NR];
};

static void sum_totals(const struct config *cfg, struct totals *t)
{
	int i, k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < cfg->ndevs; i++) {
		for (k = 0; k < SEMI_COUNT_NR; k++) {
			if (k == SEMI_COUNT_MAX_SEQ) {
				if (cfg->devs[i].c[k] > t->c[k])
					t->c[k] = cfg->devs[i].c[k];
			} else {
				t->c[k] += cfg->devs[i].c[k];
			}
		}
	}
}

static json_object *u64_json(uint64_t v)
{
	/* json-c prints uint64 exactly; counters never exceed int64 anyway. */
	return json_object_new_uint64(v);
}

static void report_json(const struct config *cfg, const struct totals *t,
			double secs, const char *why)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int i;

	json_c_set_serialization_double_format("%.6f", JSON_C_OPTION_GLOBAL);

	for (i = 0; i < cfg->ndevs; i++) {
		const struct rx_dev *d = &cfg->devs[i];
		json_object *dj = json_object_new_object();

		json_object_object_add(dj, "dev", json_object_new_string(d->arg));
		json_object_object_add(dj, "netns",
				d->ns ? json_object_new_string(d->ns) : NULL);
		json_object_object_add(dj, "ifname",
				       json_object_new_string(d->ifname));
		json_object_object_add(dj, "frames", u64_json(d->c[SEMI_COUNT_FRAMES]));
		json_object_object_add(dj, "bytes", u64_json(d->c[SEMI_COUNT_BYTES]));
		json_object_object_add(dj, "unique", u64_json(d->c[SEMI_COUNT_UNIQUE]));
		json_object_object_add(dj, "duplicates", u64_json(d->c[SEMI_COUNT_DUP]));
		json_object_object_add(dj, "out_of_range", u64_json(d->c[SEMI_COUNT_RANGE]));
		json_object_object_add(dj, "other", u64_json(d->c[SEMI_COUNT_OTHER]));
		json_object_array_add(arr, dj);
	}
	json_object_object_add(o, "devices", arr);
	json_object_object_add(o, "total", u64_json(t->c[SEMI_COUNT_FRAMES]));
	json_object_object_add(o, "bytes", u64_json(t->c[SEMI_COUNT_BYTES]));
	json_object_object_add(o, "unique", u64_json(t->c[SEMI_COUNT_UNIQUE]));
	json_object_object_add(o, "duplicates", u64_json(t->c[SEMI_COUNT_DUP]));
	json_object_object_add(o, "out_of_range", u64_json(t->c[SEMI_COUNT_RANGE]));
	json_object_object_add(o, "other", u64_json(t->c[SEMI_COUNT_OTHER]));
	json_object_object_add(o, "highest_seq", t->c[SEMI_COUNT_MAX_SEQ] ?
			       u64_json(t->c[SEMI_COUNT_MAX_SEQ] - 1) : NULL);
	json_object_object_add(o, "max_seq", u64_json(cfg->max_seq));
	if (cfg->has_expect) {
		json_object_object_add(o, "expected", u64_json(cfg->expect));
		json_object_object_add(o, "lost", json_object_new_int64(
			(int64_t)(cfg->expect - t->c[SEMI_COUNT_UNIQUE])));
	}
	json_object_object_add(o, "seconds", json_object_new_double(secs));
	json_object_object_add(o, "stopped_by", json_object_new_string(why));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void report_text(const struct config *cfg, const struct totals *t,
			double secs)
{
	int i;

	printf("%-32s %14s %16s %10s %10s\n", "device", "frames", "bytes",
	       "dup", "other");
	for (i = 0; i < cfg->ndevs; i++) {
		const struct rx_dev *d = &cfg->devs[i];

		printf("%-32s %14" PRIu64 " %16" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
		       d->arg, d->c[SEMI_COUNT_FRAMES], d->c[SEMI_COUNT_BYTES],
		       d->c[SEMI_COUNT_DUP], d->c[SEMI_COUNT_OTHER]);
	}
	printf("total %" PRIu64 "  unique %" PRIu64 "  duplicates %" PRIu64,
	       t->c[SEMI_COUNT_FRAMES], t->c[SEMI_COUNT_UNIQUE],
	       t->c[SEMI_COUNT_DUP]);
	if (t->c[SEMI_COUNT_MAX_SEQ])
		printf("  highest_seq %" PRIu64, t->c[SEMI_COUNT_MAX_SEQ] - 1);
	else
		printf("  highest_seq -");
	if (t->c[SEMI_COUNT_RANGE])
		printf("  out_of_range %" PRIu64, t->c[SEMI_COUNT_RANGE]);
	if (cfg->has_expect)
		printf("  expected %" PRIu64 "  lost %" PRId64, cfg->expect,
		       (int64_t)(cfg->expect - t->c[SEMI_COUNT_UNIQUE]));
	printf("  (%.3f s)\n", secs);
}

int main(int argc, char **argv)
{
	struct config cfg = { .max_seq = DEFAULT_MAX_SEQ };
	struct totals tot;
	const char *why;
	sigset_t sigs;
	uint64_t t0;
	int i, err = 0, sfd;

	prog_name = "semi-count";
	parse_opts(argc, argv, options, &cfg, usage, description);
	if (!cfg.ndevs) {
		fprintf(stderr, "%s: at least one --dev is required\nUsage: %s %s\n",
			prog_name, prog_name, usage);
		return EXIT_USAGE;
	}
	cfg.max_seq = (cfg.max_seq + 63) / 64 * 64;
	log_level = cfg.quiet ? LOG_WARN : LOG_INFO + cfg.verbose;
	setup_libbpf_log();

	/*
	 * Signals are taken through a signalfd: blocked from here on, so one
	 * that arrives while attaching is handled once everything is up (and
	 * then torn down), never lost and never killing us half-attached.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGPIPE);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigdelset(&sigs, SIGPIPE);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		pr_warn("cannot create a signalfd: %s\n", strerror(errno));
		err = -errno;
		goto out_free;
	}
	home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home_ns < 0) {
		err = -errno;
		pr_warn("cannot open own network namespace: %s\n",
			strerror(-err));
		goto out_sfd;
	}

	for (i = 0; i < cfg.ndevs; i++) {
		err = load_dev(&cfg, &cfg.devs[i], i ? cfg.devs[0].skel : NULL);
		if (err) {
			pr_warn("cannot load the counting program for %s: %s\n",
				cfg.devs[i].arg, strerror(-err));
			goto out_destroy;
		}
	}
	for (i = 0; i < cfg.ndevs; i++) {
		err = attach_dev(&cfg, &cfg.devs[i]);
		if (err)
			goto out_detach;
	}
	printf("ready\n");
	fflush(stdout);
	t0 = now_ns();

	why = wait_for_end(&cfg, sfd);
	detach_all(&cfg);
	pr_debug("stopped by %s\n", why);
	for (i = 0; i < cfg.ndevs; i++) {
		err = read_counters(&cfg.devs[i]);
		if (err) {
			pr_warn("cannot read the counters of %s: %s\n",
				cfg.devs[i].arg, strerror(-err));
			goto out_destroy;
		}
	}
	sum_totals(&cfg, &tot);
	if (cfg.json)
		report_json(&cfg, &tot, (now_ns() - t0) / 1e9, why);
	else
		report_text(&cfg, &tot, (now_ns() - t0) / 1e9);
	fflush(stdout);

out_detach:
	detach_all(&cfg);
out_destroy:
	for (i = 0; i < cfg.ndevs; i++)
		bench_count__destroy(cfg.devs[i].skel);
	close(home_ns);
out_sfd:
	close(sfd);
out_free:
	for (i = 0; i < cfg.ndevs; i++) {
		free(cfg.devs[i].ns);
		free(cfg.devs[i].ifname);
	}
	return err ? EXIT_FAIL : EXIT_OK;
}
