// SPDX-License-Identifier: GPL-2.0
/*
 * semi-count: the counting receivers for semi-pktgen's frames, a command
 * line over bench/counter.c: one XDP program attached to every device
 * given (by name, glob or file), counting until told to stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "bench/counter.h"
#include "bench/util.h"

struct config {
	struct counter ctr;
	struct counter_opts opts;
	uint64_t expect;
	bool has_expect;
	double duration;
	bool json;
	bool quiet;
	int verbose;
};

static int add_dev(void *p, const char *arg)
{
	struct config *cfg = p;

	return counter_add_spec(&cfg->ctr, arg);
}

static int add_dev_file(void *p, const char *path)
{
	struct config *cfg = p;

	return counter_add_file(&cfg->ctr, path);
}

#define O(n, s, t, f, mv, h, ...)					\
	{ .name = n, .short_name = s, .type = t,			\
	  .off = offsetof(struct config, f), .metavar = mv, .help = h,	\
	  __VA_ARGS__ }

static const struct opt options[] = {
	O("dev", 'd', OPT_CALL, ctr, "NS:IFNAME",
	  "count on IFNAME in netns NS (/run/netns/NS, or a path if it starts "
	  "with /; '-' or none: this one); IFNAME may be a glob (NS:veth*: "
	  "every match); repeatable",
	  .fn = add_dev),
	O("dev-file", 'f', OPT_CALL, ctr, "FILE",
	  "read more --dev values from FILE, one per line ('#' comments)",
	  .fn = add_dev_file),
	O("max-seq", 'm', OPT_U64, opts.max_seq, "N",
	  "track seqs 0..N-1 for duplicates (default 2^26; N/8 bytes)",
	  .min = 64, .max = COUNTER_LIMIT_MAX_SEQ),
	O("expect", 'e', OPT_U64, expect, "N",
	  "N frames were sent (seq 0..N-1): report lost = N - unique",
	  .has_off = OPT_HAS(struct config, has_expect), .max = UINT64_MAX),
	O("duration", 't', OPT_SECONDS, duration, "SECONDS",
	  "stop after this long (also stops on SIGINT, SIGTERM, stdin EOF)"),
	O("pass", 'p', OPT_FLAG, opts.pass, NULL,
	  "XDP_PASS counted frames instead of dropping them"),
	O("generic", 0, OPT_FLAG, opts.generic, NULL,
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
	"--dev NS:IFNAME [--dev NS:GLOB ...] [--dev-file FILE] [--max-seq N] "
	"[--expect N] [--duration S] [-j]";
static const char description[] =
	"Count semi-pktgen frames with an XDP program on each device.  Loads the\n"
	"program once and attaches it to every device (a bpf_link each).  Prints\n"
	"'ready' once every device is attached, counts until SIGINT/SIGTERM,\n"
	"EOF on stdin (when stdin is a pipe, socket or terminal) or --duration,\n"
	"detaches, and prints per device the frames with the magic, their bytes\n"
	"and the other frames (passed), then total, unique sequence numbers,\n"
	"duplicates (across all devices), the highest seq and, with --expect,\n"
	"lost.  Frames with the magic are dropped unless --pass.\n"
	"Exit: 0 counted, 1 failure, 2 usage.";

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

static json_object *u64_json(uint64_t v)
{
	/* json-c prints uint64 exactly; counters never exceed int64 anyway. */
	return json_object_new_uint64(v);
}

static void report_json(const struct config *cfg, const uint64_t *t,
			double secs, double attach_secs, const char *why)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int i;

	json_c_set_serialization_double_format("%.6f", JSON_C_OPTION_GLOBAL);

	for (i = 0; i < cfg->ctr.ndevs; i++) {
		const struct counter_dev *d = &cfg->ctr.devs[i];
		json_object *dj = json_object_new_object();

		json_object_object_add(dj, "dev", json_object_new_string(d->arg));
		json_object_object_add(dj, "netns",
				cfg->ctr.netns[d->ns].name ?
				json_object_new_string(cfg->ctr.netns[d->ns].name) : NULL);
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
	json_object_object_add(o, "total", u64_json(t[SEMI_COUNT_FRAMES]));
	json_object_object_add(o, "bytes", u64_json(t[SEMI_COUNT_BYTES]));
	json_object_object_add(o, "unique", u64_json(t[SEMI_COUNT_UNIQUE]));
	json_object_object_add(o, "duplicates", u64_json(t[SEMI_COUNT_DUP]));
	json_object_object_add(o, "out_of_range", u64_json(t[SEMI_COUNT_RANGE]));
	json_object_object_add(o, "other", u64_json(t[SEMI_COUNT_OTHER]));
	json_object_object_add(o, "highest_seq", t[SEMI_COUNT_MAX_SEQ] ?
			       u64_json(t[SEMI_COUNT_MAX_SEQ] - 1) : NULL);
	json_object_object_add(o, "max_seq", u64_json(cfg->ctr.opts.max_seq));
	if (cfg->has_expect) {
		json_object_object_add(o, "expected", u64_json(cfg->expect));
		json_object_object_add(o, "lost", json_object_new_int64(
			(int64_t)(cfg->expect - t[SEMI_COUNT_UNIQUE])));
	}
	json_object_object_add(o, "seconds", json_object_new_double(secs));
	json_object_object_add(o, "attach_seconds",
			       json_object_new_double(attach_secs));
	json_object_object_add(o, "stopped_by", json_object_new_string(why));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void report_text(const struct config *cfg, const uint64_t *t,
			double secs)
{
	int i;

	printf("%-32s %14s %16s %10s %10s\n", "device", "frames", "bytes",
	       "dup", "other");
	for (i = 0; i < cfg->ctr.ndevs; i++) {
		const struct counter_dev *d = &cfg->ctr.devs[i];

		printf("%-32s %14" PRIu64 " %16" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
		       d->arg, d->c[SEMI_COUNT_FRAMES], d->c[SEMI_COUNT_BYTES],
		       d->c[SEMI_COUNT_DUP], d->c[SEMI_COUNT_OTHER]);
	}
	printf("total %" PRIu64 "  unique %" PRIu64 "  duplicates %" PRIu64,
	       t[SEMI_COUNT_FRAMES], t[SEMI_COUNT_UNIQUE],
	       t[SEMI_COUNT_DUP]);
	if (t[SEMI_COUNT_MAX_SEQ])
		printf("  highest_seq %" PRIu64, t[SEMI_COUNT_MAX_SEQ] - 1);
	else
		printf("  highest_seq -");
	if (t[SEMI_COUNT_RANGE])
		printf("  out_of_range %" PRIu64, t[SEMI_COUNT_RANGE]);
	if (cfg->has_expect)
		printf("  expected %" PRIu64 "  lost %" PRId64, cfg->expect,
		       (int64_t)(cfg->expect - t[SEMI_COUNT_UNIQUE]));
	printf("  (%.3f s)\n", secs);
}

int main(int argc, char **argv)
{
	struct config cfg = { .opts.max_seq = COUNTER_DEFAULT_MAX_SEQ };
	uint64_t tot[SEMI_COUNT_NR];
	const char *why;
	sigset_t sigs;
	uint64_t t0, t_attach;
	int err = 0, sfd;

	prog_name = "semi-count";
	parse_opts(argc, argv, options, &cfg, usage, description);
	if (!cfg.ctr.nspecs) {
		fprintf(stderr, "%s: at least one --dev is required\nUsage: %s %s\n",
			prog_name, prog_name, usage);
		counter_free(&cfg.ctr);
		return EXIT_USAGE;
	}
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
		err = -errno;
		pr_warn("cannot create a signalfd: %s\n", strerror(-err));
		goto out_free;
	}

	t_attach = now_ns();
	err = counter_start(&cfg.ctr, &cfg.opts);
	if (err)
		goto out_sfd;
	t0 = now_ns();
	pr_info("counting on %d device%s in %d namespace%s (attached in %.3f s)\n",
		cfg.ctr.ndevs, cfg.ctr.ndevs == 1 ? "" : "s", cfg.ctr.nnetns,
		cfg.ctr.nnetns == 1 ? "" : "s", (t0 - t_attach) / 1e9);
	printf("ready\n");
	fflush(stdout);

	why = wait_for_end(&cfg, sfd);
	counter_detach(&cfg.ctr);
	pr_debug("stopped by %s; detached in %.3f s\n", why,
		 (now_ns() - t0) / 1e9);
	err = counter_read(&cfg.ctr);
	if (err)
		goto out_sfd;
	counter_totals(&cfg.ctr, tot);
	if (cfg.json)
		report_json(&cfg, tot, (now_ns() - t0) / 1e9,
			    (t0 - t_attach) / 1e9, why);
	else
		report_text(&cfg, tot, (now_ns() - t0) / 1e9);
	fflush(stdout);

out_sfd:
	close(sfd);
out_free:
	counter_free(&cfg.ctr);
	return err ? EXIT_FAIL : EXIT_OK;
}
