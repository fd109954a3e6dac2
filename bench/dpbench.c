// SPDX-License-Identifier: GPL-2.0
/*
 * semi-dpbench: the measuring half of the benchmarks (bench/bench.py
 * builds the namespaces and runs the traffic).  One verb per measurement:
 *
 *   redirect  hold the bare devmap redirect program on a device (baseline)
 *   cost      per-packet cost of the datapath programs, BPF_PROG_RUN repeat
 *   ports     add many ports through libsemi_dp, timed
 *   switch    switch one port's path COUNT times under traffic: time from
 *             the library call to the first frame on the new path, and the
 *             counts that show loss and duplicates
 *   bulk      the same for a bulk switch of many ports (one bank flip)
 *   ctlswitch the same through semi-netd: a `switch` request on its control
 *             socket (or a semi-netctl process), timed from the request to
 *             the first frame on the new path and to the "ok"
 *   tapsink   read a real tap as QEMU would, count semi-pktgen's frames
 *
 * switch and bulk count with semi-count's program (bench/counter.c) with
 * first-frame stamps on: per device, the BPF clock of the first frame
 * since the stamp was zeroed, polled through a shared mapping.  The BPF
 * clock and now_ns() are both CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "loader/log.h"
#include "loader/semi_dp.h"
/* bench/'s own pr_* (util.h) for this file; the loader logs through its own. */
#undef pr_err
#undef pr_warn
#undef pr_info
#undef pr_debug
#include "bench/counter.h"
#include "bench/util.h"
#include "bench_redirect.skel.h"

struct config {
	const char *verb;
	const char *instance;
	const char *pin_root;
	const char *dev;
	const char *to;
	const char *port;
	const char *tap_port;
	const char *prefix;
	uint32_t ports;
	uint8_t mac[6];
	const char *vf_fmt;
	const char *tap_fmt;
	const char *rx_a;
	const char *rx_b;
	const char *paths;
	const char *socket;
	const char *netctl;
	uint32_t switches;
	uint32_t interval_us;
	uint32_t timeout_ms;
	uint64_t repeat;
	uint32_t runs;
	uint64_t max_seq;
	bool json;
	bool quiet;
	int verbose;
};

#define O(n, s, t, f, mv, h, ...)					\
	{ .name = n, .short_name = s, .type = t,			\
	  .off = offsetof(struct config, f), .metavar = mv, .help = h,	\
	  __VA_ARGS__ }

static const struct opt options[] = {
	O("instance", 'i', OPT_STR, instance, "NAME",
	  "semi-net instance (cost, ports, switch, bulk)"),
	O("pin-root", 0, OPT_STR, pin_root, "DIR",
	  "bpffs root of the instance (default /sys/fs/bpf/semi-net)"),
	O("dev", 'd', OPT_STR, dev, "IFNAME",
	  "redirect: attach to IFNAME; tapsink: the tap to read"),
	O("to", 0, OPT_STR, to, "IFNAME", "redirect: send every frame to IFNAME"),
	O("port", 0, OPT_STR, port, "NAME",
	  "switch: the port; cost: a port on path vf"),
	O("tap-port", 0, OPT_STR, tap_port, "NAME", "cost: a port on path tap"),
	O("prefix", 0, OPT_STR, prefix, "P",
	  "ports, bulk: ports are named P0 .. P<N-1>"),
	O("ports", 'n', OPT_U32, ports, "N", "ports, bulk: how many ports",
	  .min = 1, .max = SEMI_MAX_PORTS),
	O("mac", 0, OPT_MAC, mac, "MAC",
	  "ports: MAC of port 0; port k has MAC + k (last three bytes)"),
	O("vf-fmt", 0, OPT_STR, vf_fmt, "FMT", "ports: vf device of port k (%u = k)"),
	O("tap-fmt", 0, OPT_STR, tap_fmt, "FMT", "ports: tap device of port k (%u = k)"),
	O("rx-a", 0, OPT_STR, rx_a, "NS:IFNAME",
	  "switch, bulk: receiver of the first path (bulk: %u = port number)"),
	O("rx-b", 0, OPT_STR, rx_b, "NS:IFNAME", "... of the second path"),
	O("paths", 0, OPT_STR, paths, "A,B",
	  "switch, bulk: the two paths to alternate (default vf,tap)"),
	O("socket", 0, OPT_STR, socket, "PATH", "ctlswitch: semi-netd's control socket"),
	O("netctl", 0, OPT_STR, netctl, "BIN",
	  "ctlswitch: run BIN (semi-netctl) per switch instead of using the socket"),
	O("switches", 'c', OPT_U32, switches, "N",
	  "switch, bulk: how many switches (default 1000)", .min = 1, .max = 1000000),
	O("interval-us", 0, OPT_U32, interval_us, "USEC",
	  "switch, bulk: pause after each switch (default 1000)", .max = 10000000),
	O("timeout-ms", 0, OPT_U32, timeout_ms, "MSEC",
	  "switch, bulk: give up waiting for a frame after (default 200)",
	  .min = 1, .max = 60000),
	O("repeat", 0, OPT_U64, repeat, "N",
	  "cost: runs per BPF_PROG_RUN (default 1M)", .min = 1, .max = UINT32_MAX),
	O("runs", 0, OPT_U32, runs, "N", "cost: median of N (default 5)",
	  .min = 1, .max = 101),
	O("max-seq", 0, OPT_U64, max_seq, "N",
	  "switch, bulk, tapsink: track seqs 0..N-1 for duplicates (default 2^26)",
	  .min = 64, .max = COUNTER_LIMIT_MAX_SEQ),
	O("json", 'j', OPT_FLAG, json, NULL, "print the result as one JSON object"),
	O("quiet", 'q', OPT_FLAG, quiet, NULL, "print nothing but errors and the result"),
	O("verbose", 'v', OPT_COUNT, verbose, NULL, "more messages"),
	OPT_END
};

static const char usage[] =
	"VERB [options]   (VERB: redirect cost ports switch bulk ctlswitch tapsink)";
static const char description[] =
	"Measure what the benchmarks need (bench/bench.py runs it):\n"
	"  redirect --dev D --to T       bare devmap redirect on D until EOF/signal\n"
	"  cost -i I --port P --tap-port Q   ns per frame of each datapath program\n"
	"  ports -i I --prefix P -n N --mac M --vf-fmt F --tap-fmt F\n"
	"  switch -i I --port P --rx-a NS:D --rx-b NS:D [-c N] [--interval-us U]\n"
	"  bulk -i I --prefix P -n N --rx-a NS:F --rx-b NS:F [-c N]\n"
	"  ctlswitch --socket S --port P --rx-a NS:D --rx-b NS:D [--netctl BIN] [-c N]\n"
	"  tapsink --dev TAP             read TAP until EOF/signal\n"
	"switch, bulk and ctlswitch print 'ready' once counting, wait for traffic, switch,\n"
	"print 'switched', count until stdin EOF or SIGINT, then the result.\n"
	"Exit: 0 done, 1 failure, 2 usage.";

/* ---- common ---- */

static int sfd = -1;

/* Block SIGINT/SIGTERM/SIGHUP into a signalfd: handled where we wait. */
static int setup_signals(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	return sfd < 0 ? -errno : 0;
}

static bool stop_requested(void)
{
	struct signalfd_siginfo si;

	return read(sfd, &si, sizeof(si)) == sizeof(si);
}

/* Until a signal or EOF on stdin (when stdin can end). */
static const char *wait_for_end(void)
{
	struct stat st;
	bool use_stdin = fstat(STDIN_FILENO, &st) == 0 &&
		(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO));
	struct pollfd pfd[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = use_stdin ? STDIN_FILENO : -1, .events = POLLIN },
	};
	char buf[256];

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return "error";
		}
		if (pfd[0].revents && stop_requested())
			return "signal";
		if (pfd[1].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r <= 0)
				return "eof";
		}
	}
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(p / 100.0 * n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static json_object *dist_json(uint64_t *v, size_t n)
{
	json_object *o = json_object_new_object();
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < n; i++)
		sum += v[i];
	json_object_object_add(o, "n", json_object_new_int64(n));
	json_object_object_add(o, "min", json_object_new_int64(n ? v[0] : 0));
	json_object_object_add(o, "p50", json_object_new_int64(pct(v, n, 50)));
	json_object_object_add(o, "p90", json_object_new_int64(pct(v, n, 90)));
	json_object_object_add(o, "p99", json_object_new_int64(pct(v, n, 99)));
	json_object_object_add(o, "max", json_object_new_int64(n ? v[n - 1] : 0));
	json_object_object_add(o, "mean", json_object_new_double(n ? sum / n : 0));
	return o;
}

static void print_json(json_object *o)
{
	json_c_set_serialization_double_format("%.3f", JSON_C_OPTION_GLOBAL);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static int open_dp(const struct config *cfg, struct semi_dp **dp)
{
	struct semi_dp_opts o = {
		.instance = cfg->instance,
		.pin_root = cfg->pin_root,
		.no_create = true,
	};

	if (!cfg->instance) {
		pr_warn("%s needs --instance\n", cfg->verb);
		return -EINVAL;
	}
	return semi_dp_open(&o, dp);
}

static void sleep_us(uint32_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- redirect ---- */

static int cmd_redirect(struct config *cfg)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
	struct bpf_devmap_val val = {};
	struct bench_redirect *skel;
	uint32_t zero = 0;
	int ifindex, link, err;

	if (!cfg->dev || !cfg->to) {
		pr_warn("redirect needs --dev and --to\n");
		return -EINVAL;
	}
	ifindex = if_nametoindex(cfg->dev);
	val.ifindex = if_nametoindex(cfg->to);
	if (!ifindex || !val.ifindex) {
		pr_warn("no device %s\n", ifindex ? cfg->to : cfg->dev);
		return -ENODEV;
	}
	skel = bench_redirect__open_and_load();
	if (!skel) {
		err = -errno;
		pr_warn("cannot load the redirect program: %s\n", strerror(-err));
		return err;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.bench_tx), &zero, &val, BPF_ANY)) {
		err = -errno;
		pr_warn("cannot point the devmap at %s: %s\n", cfg->to, strerror(-err));
		goto out;
	}
	link = bpf_link_create(bpf_program__fd(skel->progs.bench_redirect), ifindex,
			       BPF_XDP, &lo);
	if (link < 0) {
		err = -errno;
		pr_warn("cannot attach XDP to %s: %s\n", cfg->dev, strerror(-err));
		goto out;
	}
	say("ready");
	wait_for_end();
	close(link);
	err = 0;
out:
	bench_redirect__destroy(skel);
	return err;
}

/* ---- cost ---- */

/* 64 bytes: Ethernet + IPv4 + UDP + zeros; checksums left 0 (not read). */
static void make_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, 64);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = 0;
	f[17] = 50;		/* IPv4 total length */
	f[22] = 64;
	f[23] = 17;		/* UDP */
	f[26] = 198; f[27] = 18; f[28] = 0; f[29] = 1;
	f[30] = 198; f[31] = 18; f[32] = 0; f[33] = 2;
	f[34] = 0x23; f[35] = 0x28;	/* 9000 */
	f[36] = 0; f[37] = 9;
	f[39] = 30;		/* UDP length */
}

struct cost_case {
	const char *name;
	int prog_fd;
	bool xdp;
	uint32_t ifindex;	/* ingress device (ctx), 0 none */
	uint8_t frame[64];
	int want;		/* expected return value, -1 any */
};

static int run_case(const struct config *cfg, struct cost_case *c, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	struct __sk_buff sctx = {};
	struct xdp_md xctx = {};
	uint64_t v[101];
	uint32_t r;
	int err;

	o.data_in = c->frame;
	o.data_size_in = sizeof(c->frame);
	o.repeat = cfg->repeat;
	if (c->xdp && c->ifindex) {
		xctx.ingress_ifindex = c->ifindex;
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	} else if (!c->xdp) {
		sctx.ifindex = c->ifindex;
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	}
	for (r = 0; r < cfg->runs; r++) {
		/*
		 * The kernel's figure (whole ns per run), not the call's wall
		 * time: an XDP test run adds the program to the XDP dispatcher
		 * and removes it again, two RCU grace periods (~20 ms) per call.
		 */
		err = bpf_prog_test_run_opts(c->prog_fd, &o);
		v[r] = o.duration;
		if (err) {
			err = -errno;
			pr_warn("BPF_PROG_RUN of %s failed: %s\n", c->name, strerror(-err));
			return err;
		}
		if (c->want >= 0 && (int)o.retval != c->want) {
			pr_warn("%s returned %u, expected %d: the set-up is not what it should be\n",
				c->name, o.retval, c->want);
			return -EPROTO;
		}
	}
	qsort(v, cfg->runs, sizeof(v[0]), cmp_u64);
	*ns = v[cfg->runs / 2];
	return 0;
}

static int cmd_cost(struct config *cfg)
{
	static const uint8_t fabric[6] = { 0x02, 0xfa, 0xb0, 0, 0, 1 };
	struct semi_port_info vf, tap;
	struct bench_redirect *skel = NULL;
	struct bpf_devmap_val val = {};
	struct cost_case cases[8];
	json_object *o, *ns;
	struct semi_dp *dp;
	uint32_t zero = 0;
	int n = 0, err, i;

	if (!cfg->port || !cfg->tap_port) {
		pr_warn("cost needs --port (path vf) and --tap-port (path tap)\n");
		return -EINVAL;
	}
	err = open_dp(cfg, &dp);
	if (err)
		return err;
	err = semi_port_get(dp, cfg->port, &vf);
	if (!err)
		err = semi_port_get(dp, cfg->tap_port, &tap);
	if (err)
		goto out;
	skel = bench_redirect__open_and_load();
	if (!skel) {
		err = -errno;
		pr_warn("cannot load the baseline programs: %s\n", strerror(-err));
		goto out;
	}
	val.ifindex = vf.port.vf_ifindex;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.bench_tx), &zero, &val, BPF_ANY)) {
		err = -errno;
		pr_warn("cannot fill the baseline devmap: %s\n", strerror(-err));
		goto out;
	}

	memset(cases, 0, sizeof(cases));
	cases[n] = (struct cost_case){ "xdp_pass", bpf_program__fd(skel->progs.bench_pass),
				       true, 0, {0}, XDP_PASS };
	make_frame(cases[n++].frame, vf.port.mac, fabric);
	cases[n] = (struct cost_case){ "bare_redirect",
				       bpf_program__fd(skel->progs.bench_redirect),
				       true, 0, {0}, XDP_REDIRECT };
	make_frame(cases[n++].frame, vf.port.mac, fabric);
	cases[n] = (struct cost_case){ "uplink_xdp_vf",
				       semi_dp_prog_fd(dp, SEMI_PROG_ID_UPLINK_XDP),
				       true, 0, {0}, XDP_REDIRECT };
	make_frame(cases[n++].frame, vf.port.mac, fabric);
	cases[n] = (struct cost_case){ "uplink_xdp_tap",
				       semi_dp_prog_fd(dp, SEMI_PROG_ID_UPLINK_XDP),
				       true, 0, {0}, XDP_REDIRECT };
	make_frame(cases[n++].frame, tap.port.mac, fabric);
	cases[n] = (struct cost_case){ "uplink_tc_vf",
				       semi_dp_prog_fd(dp, SEMI_PROG_ID_UPLINK_TC),
				       false, 0, {0}, TC_ACT_REDIRECT };
	make_frame(cases[n++].frame, vf.port.mac, fabric);
	cases[n] = (struct cost_case){ "uplink_tc_tap",
				       semi_dp_prog_fd(dp, SEMI_PROG_ID_UPLINK_TC),
				       false, 0, {0}, TC_ACT_REDIRECT };
	make_frame(cases[n++].frame, tap.port.mac, fabric);
	/* What the guest sends on its vf, to the fabric: out of the uplink. */
	cases[n] = (struct cost_case){ "port_tc", semi_dp_prog_fd(dp, SEMI_PROG_ID_PORT),
				       false, vf.port.vf_ifindex, {0}, TC_ACT_REDIRECT };
	make_frame(cases[n++].frame, fabric, vf.port.mac);

	ns = json_object_new_object();
	for (i = 0; i < n; i++) {
		double v = 0;

		err = run_case(cfg, &cases[i], &v);
		if (err) {
			json_object_put(ns);
			goto out;
		}
		json_object_object_add(ns, cases[i].name, json_object_new_double(v));
	}
	o = json_object_new_object();
	json_object_object_add(o, "repeat", json_object_new_int64(cfg->repeat));
	json_object_object_add(o, "runs", json_object_new_int(cfg->runs));
	json_object_object_add(o, "ns", ns);
	print_json(o);
out:
	bench_redirect__destroy(skel);
	semi_dp_close(dp);
	return err;
}

/* ---- ports ---- */

/* FMT with its first "%u" replaced by k (user formats are data, not code). */
static void fmt_k(char *out, size_t size, const char *fmt, uint32_t k)
{
	const char *p = strstr(fmt, "%u");

	if (!p)
		snprintf(out, size, "%s", fmt);
	else
		snprintf(out, size, "%.*s%u%s", (int)(p - fmt), fmt, k, p + 2);
}

static void mac_plus(const uint8_t *base, uint32_t k, uint8_t *out)
{
	uint32_t lo = ((uint32_t)base[3] << 16 | base[4] << 8 | base[5]) + k;

	memcpy(out, base, 3);
	out[3] = lo >> 16;
	out[4] = lo >> 8;
	out[5] = lo;
}

/* Ports PREFIX0.. with MAC + k, vf and tap from the formats; timed. */
static int create_ports(const struct config *cfg, struct semi_dp *dp, json_object **rep)
{
	uint64_t *t, t0, t1, total0;
	json_object *o;
	uint32_t k;
	int err = 0;

	t = calloc(cfg->ports, sizeof(*t));
	if (!t)
		return -ENOMEM;
	total0 = now_ns();
	for (k = 0; k < cfg->ports; k++) {
		struct semi_port_conf c = {
			.path = semi_pathw_make(SEMI_PATH_VF, SEMI_TX_ALL),
		};
		char vf[IF_NAMESIZE + 8], tap[IF_NAMESIZE + 8];

		snprintf(c.name, sizeof(c.name), "%s%u", cfg->prefix, k);
		mac_plus(cfg->mac, k, c.mac);
		fmt_k(vf, sizeof(vf), cfg->vf_fmt, k);
		fmt_k(tap, sizeof(tap), cfg->tap_fmt, k);
		c.vf_ifindex = if_nametoindex(vf);
		c.tap_ifindex = if_nametoindex(tap);
		if (!c.vf_ifindex || !c.tap_ifindex) {
			pr_warn("port %s: no device %s\n", c.name, c.vf_ifindex ? tap : vf);
			err = -ENODEV;
			goto out;
		}
		t0 = now_ns();
		err = semi_port_put(dp, &c, NULL);
		t1 = now_ns();
		if (err)
			goto out;
		t[k] = t1 - t0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "ports", json_object_new_int(cfg->ports));
	json_object_object_add(o, "seconds",
			       json_object_new_double((now_ns() - total0) / 1e9));
	json_object_object_add(o, "put_ns", dist_json(t, cfg->ports));
	*rep = o;
out:
	free(t);
	return err;
}

static int cmd_ports(struct config *cfg)
{
	struct semi_dp *dp;
	json_object *o;
	int err;

	if (!cfg->prefix || !cfg->ports || !cfg->vf_fmt || !cfg->tap_fmt) {
		pr_warn("ports needs --prefix, --ports, --vf-fmt and --tap-fmt\n");
		return -EINVAL;
	}
	err = open_dp(cfg, &dp);
	if (err)
		return err;
	err = create_ports(cfg, dp, &o);
	if (!err)
		print_json(o);
	semi_dp_close(dp);
	return err;
}

/* ---- switch and bulk ---- */

struct sw {
	struct config *cfg;
	struct semi_dp *dp;
	struct counter ctr;
	int path[2];		/* enum semi_path of A and B */
	uint32_t nports;
	uint32_t *ids;		/* port ids */
	uint8_t *tx;		/* their tx masks */
	struct semi_path_change *ch[2];	/* bulk: all ports to A, to B */
	char (*names)[SEMI_NAME_LEN];
	uint64_t *lat, *call;	/* per switch: call to first frame, the call */
	uint64_t *after;	/* the call's return to first frame, 0 if before */
	uint32_t nlat, timeouts;
	uint32_t before_return;	/* switches whose first frame came before the return */
	/* ctlswitch: through semi-netd, its socket or a semi-netctl per switch */
	bool ctl;
	int ctl_fd;
	char ctl_to[2][16];	/* the switch targets: vf, tap, both */
	uint32_t ctl_id;
};

static int parse_paths(struct sw *s)
{
	char a[16] = "vf", b[16] = "tap";
	const char *p = s->cfg->paths, *comma;

	if (p) {
		comma = strchr(p, ',');
		if (!comma || comma - p >= (int)sizeof(a) || strlen(comma + 1) >= sizeof(b))
			return -EINVAL;
		snprintf(a, sizeof(a), "%.*s", (int)(comma - p), p);
		snprintf(b, sizeof(b), "%s", comma + 1);
	}
	s->path[0] = semi_path_parse(a);
	s->path[1] = semi_path_parse(b);
	snprintf(s->ctl_to[0], sizeof(s->ctl_to[0]), "%s", a);
	snprintf(s->ctl_to[1], sizeof(s->ctl_to[1]), "%s", b);
	if (s->path[0] < 0 || s->path[1] < 0 || s->path[0] == s->path[1]) {
		pr_warn("bad --paths '%s': two different paths, e.g. vf,tap\n", p);
		return -EINVAL;
	}
	return 0;
}

/* Receivers: port k's path A device is counter device 2k, path B's 2k+1. */
static int add_receivers(struct sw *s, bool bulk)
{
	char spec[256];
	uint32_t k;
	int err;

	if (!s->cfg->rx_a || !s->cfg->rx_b) {
		pr_warn("%s needs --rx-a and --rx-b\n", s->cfg->verb);
		return -EINVAL;
	}
	for (k = 0; k < s->nports; k++) {
		for (int w = 0; w < 2; w++) {
			const char *fmt = w ? s->cfg->rx_b : s->cfg->rx_a;

			if (bulk)
				fmt_k(spec, sizeof(spec), fmt, k);
			else
				snprintf(spec, sizeof(spec), "%s", fmt);
			err = counter_add_spec(&s->ctr, spec);
			if (err) {
				pr_warn("bad receiver '%s'\n", spec);
				return err;
			}
		}
	}
	return 0;
}

static volatile struct semi_count_stamp *stamp(struct sw *s, uint32_t k, int w)
{
	return (volatile struct semi_count_stamp *)&s->ctr.stamps[2 * k + w];
}

static int ctl_set(struct sw *s, int w);

/* Set every port to path w: the single port's word, or one bank flip. */
static int set_path(struct sw *s, int w, bool bulk)
{
	if (s->ctl)
		return ctl_set(s, w);
	if (bulk)
		return semi_path_set_bulk(s->dp, s->ch[w], s->nports);
	return semi_path_set_id(s->dp, s->ids[0],
				semi_pathw_make((enum semi_path)s->path[w], s->tx[0]));
}

/* Wait for the first frame on any of path w's receivers; 0 on timeout. */
static uint64_t first_frame(struct sw *s, int w, uint64_t deadline)
{
	uint64_t best;
	uint32_t k;

	for (;;) {
		best = 0;
		for (k = 0; k < s->nports; k++) {
			uint64_t t = stamp(s, k, w)->ns;

			if (t && (!best || t < best))
				best = t;
		}
		if (best || now_ns() > deadline)
			return best;
	}
}

static int do_switches(struct sw *s, bool bulk)
{
	const struct config *cfg = s->cfg;
	uint64_t t0, t1, first, timeout = (uint64_t)cfg->timeout_ms * 1000000;
	uint32_t i, k;
	int cur = 0, err;

	/* Traffic first: a frame on the current path (A). */
	if (!first_frame(s, cur, now_ns() + 30 * NSEC_PER_SEC)) {
		pr_warn("no traffic reached the receivers of path %s in 30 s\n",
			semi_path_name(s->path[cur]));
		return -ETIMEDOUT;
	}
	for (i = 0; i < cfg->switches; i++) {
		int nw = cur ^ 1;

		if (stop_requested())
			return -EINTR;
		for (k = 0; k < s->nports; k++) {
			stamp(s, k, nw)->ns = 0;
			stamp(s, k, nw)->seq = 0;
		}
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		t0 = now_ns();
		err = set_path(s, nw, bulk);
		t1 = now_ns();
		if (err)
			return err;
		cur = nw;
		s->call[i] = t1 - t0;
		first = first_frame(s, nw, t1 + timeout);
		if (first && first < t1)
			s->before_return++;
		if (first) {
			s->after[s->nlat] = first > t1 ? first - t1 : 0;
			s->lat[s->nlat++] = first > t0 ? first - t0 : 0;
		} else
			s->timeouts++;
		sleep_us(cfg->interval_us);
	}
	return 0;
}

static json_object *sw_report(struct sw *s, const char *why)
{
	json_object *o = json_object_new_object(), *devs;
	uint64_t t[SEMI_COUNT_NR];
	int i;

	counter_totals(&s->ctr, t);
	json_object_object_add(o, "ports", json_object_new_int(s->nports));
	json_object_object_add(o, "switches", json_object_new_int(s->cfg->switches));
	json_object_object_add(o, "paths", json_object_new_string(s->cfg->paths ?
							s->cfg->paths : "vf,tap"));
	json_object_object_add(o, "latency_ns", dist_json(s->lat, s->nlat));
	json_object_object_add(o, "after_return_ns", dist_json(s->after, s->nlat));
	json_object_object_add(o, "call_ns", dist_json(s->call, s->cfg->switches));
	json_object_object_add(o, "timeouts", json_object_new_int(s->timeouts));
	json_object_object_add(o, "first_before_return", json_object_new_int(s->before_return));
	json_object_object_add(o, "total", json_object_new_uint64(t[SEMI_COUNT_FRAMES]));
	json_object_object_add(o, "unique", json_object_new_uint64(t[SEMI_COUNT_UNIQUE]));
	json_object_object_add(o, "duplicates", json_object_new_uint64(t[SEMI_COUNT_DUP]));
	json_object_object_add(o, "out_of_range", json_object_new_uint64(t[SEMI_COUNT_RANGE]));
	json_object_object_add(o, "highest_seq", t[SEMI_COUNT_MAX_SEQ] ?
			       json_object_new_uint64(t[SEMI_COUNT_MAX_SEQ] - 1) : NULL);
	if (s->nports == 1) {
		devs = json_object_new_object();
		for (i = 0; i < s->ctr.ndevs; i++)
			json_object_object_add(devs, s->ctr.devs[i].ifname,
				json_object_new_uint64(s->ctr.devs[i].c[SEMI_COUNT_FRAMES]));
		json_object_object_add(o, "per_device", devs);
	}
	json_object_object_add(o, "stopped_by", json_object_new_string(why));
	return o;
}

static int cmd_switch(struct config *cfg, bool bulk)
{
	struct counter_opts co = { .max_seq = cfg->max_seq, .stamp = true };
	struct sw s = { .cfg = cfg };
	json_object *created = NULL, *rep;
	struct semi_port_info pi;
	const char *why;
	uint32_t k;
	int err;

	err = parse_paths(&s);
	if (err)
		return err;
	if (bulk && (!cfg->prefix || !cfg->ports)) {
		pr_warn("bulk needs --prefix and --ports\n");
		return -EINVAL;
	}
	if (!bulk && !cfg->port) {
		pr_warn("switch needs --port\n");
		return -EINVAL;
	}
	s.nports = bulk ? cfg->ports : 1;
	err = open_dp(cfg, &s.dp);
	if (err)
		return err;
	s.ids = calloc(s.nports, sizeof(*s.ids));
	s.tx = calloc(s.nports, 1);
	s.names = calloc(s.nports, sizeof(*s.names));
	s.ch[0] = calloc(s.nports, sizeof(*s.ch[0]));
	s.ch[1] = calloc(s.nports, sizeof(*s.ch[1]));
	s.lat = calloc(cfg->switches, sizeof(*s.lat));
	s.call = calloc(cfg->switches, sizeof(*s.call));
	s.after = calloc(cfg->switches, sizeof(*s.after));
	if (!s.ids || !s.tx || !s.names || !s.ch[0] || !s.ch[1] || !s.lat || !s.call ||
	    !s.after) {
		err = -ENOMEM;
		goto out;
	}
	/*
	 * Receivers first: a veth takes XDP frames only while its peer has a
	 * program, and a port records that when it is put.
	 */
	err = add_receivers(&s, bulk);
	if (err)
		goto out;
	err = counter_start(&s.ctr, &co);
	if (err)
		goto out;
	if (bulk && cfg->vf_fmt && cfg->tap_fmt) {
		err = create_ports(cfg, s.dp, &created);
		if (err)
			goto out;
	}
	for (k = 0; k < s.nports; k++) {
		if (bulk)
			snprintf(s.names[k], sizeof(s.names[k]), "%s%u", cfg->prefix, k);
		else
			snprintf(s.names[k], sizeof(s.names[k]), "%s", cfg->port);
		err = semi_port_get(s.dp, s.names[k], &pi);
		if (err)
			goto out;
		s.ids[k] = pi.id;
		s.tx[k] = pi.path.tx;
		for (int w = 0; w < 2; w++) {
			s.ch[w][k].name = s.names[k];
			s.ch[w][k].path = semi_pathw_make((enum semi_path)s.path[w], pi.path.tx);
		}
	}
	/* Every port on path A before the traffic starts. */
	err = set_path(&s, 0, bulk);
	if (err)
		goto out;
	say("ready");
	err = do_switches(&s, bulk);
	if (err == -EINTR) {
		why = "signal";
		err = 0;
	} else if (err) {
		goto out;
	} else {
		say("switched");
		why = wait_for_end();
	}
	counter_detach(&s.ctr);
	err = counter_read(&s.ctr);
	if (!err) {
		rep = sw_report(&s, why);
		if (created)
			json_object_object_add(rep, "created", json_object_get(created));
		print_json(rep);
	}
out:
	json_object_put(created);
	counter_free(&s.ctr);
	free(s.ids);
	free(s.tx);
	free(s.names);
	free(s.ch[0]);
	free(s.ch[1]);
	free(s.lat);
	free(s.call);
	free(s.after);
	semi_dp_close(s.dp);
	return err;
}

/* ---- ctlswitch ---- */

/* Port name for semi-netd's requests (checked: no quoting needed). */
static bool plain_name(const char *n)
{
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* One request line, its reply line (the connection watches nothing). */
static int ctl_request(struct sw *s, const char *to)
{
	char req[256], rep[8192];
	size_t got = 0;
	int n;

	n = snprintf(req, sizeof(req), "{\"id\":%u,\"cmd\":\"switch\",\"args\":"
		     "{\"name\":\"%s\",\"to\":\"%s\"}}\n", ++s->ctl_id, s->cfg->port, to);
	if (send(s->ctl_fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno ? -errno : -EIO;
	for (;;) {
		ssize_t r = recv(s->ctl_fd, rep + got, sizeof(rep) - 1 - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			pr_warn("semi-netd closed the connection\n");
			return -EPIPE;
		}
		got += (size_t)r;
		if (memchr(rep, '\n', got))
			break;
		if (got == sizeof(rep) - 1) {
			pr_warn("semi-netd's reply is longer than %zu bytes\n", got);
			return -EPROTO;
		}
	}
	rep[got] = '\0';
	if (!strstr(rep, "\"ok\":true")) {
		pr_warn("switch %s %s refused: %s", s->cfg->port, to, rep);
		return -EPERM;
	}
	return 0;
}

/* semi-netctl -s SOCKET switch PORT TO, as a script would run it. */
static int ctl_exec(struct sw *s, const char *to)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(s->cfg->netctl, s->cfg->netctl, "-s", s->cfg->socket, "switch",
		      s->cfg->port, to, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_warn("%s switch %s %s failed (status %d)\n", s->cfg->netctl, s->cfg->port,
			to, status);
		return -EPERM;
	}
	return 0;
}

static int ctl_set(struct sw *s, int w)
{
	return s->cfg->netctl ? ctl_exec(s, s->ctl_to[w]) : ctl_request(s, s->ctl_to[w]);
}

static int cmd_ctlswitch(struct config *cfg)
{
	struct counter_opts co = { .max_seq = cfg->max_seq, .stamp = true };
	struct sw s = { .cfg = cfg, .nports = 1, .ctl = true, .ctl_fd = -1 };
	const char *why;
	int err;

	if (!cfg->socket || !cfg->port) {
		pr_warn("ctlswitch needs --socket and --port\n");
		return -EINVAL;
	}
	if (!plain_name(cfg->port)) {
		pr_warn("port name '%s': letters, digits, '-', '_', '.' only\n", cfg->port);
		return -EINVAL;
	}
	err = parse_paths(&s);
	if (err)
		return err;
	s.lat = calloc(cfg->switches, sizeof(*s.lat));
	s.call = calloc(cfg->switches, sizeof(*s.call));
	s.after = calloc(cfg->switches, sizeof(*s.after));
	if (!s.lat || !s.call || !s.after) {
		err = -ENOMEM;
		goto out;
	}
	if (!cfg->netctl) {
		s.ctl_fd = ctl_connect(cfg->socket);
		if (s.ctl_fd < 0) {
			err = s.ctl_fd;
			pr_warn("cannot connect to semi-netd at %s: %s\n", cfg->socket,
				strerror(-err));
			goto out;
		}
	}
	err = add_receivers(&s, false);
	if (!err)
		err = counter_start(&s.ctr, &co);
	/* The port on path A before the traffic starts. */
	if (!err)
		err = set_path(&s, 0, false);
	if (err)
		goto out;
	say("ready");
	err = do_switches(&s, false);
	if (err == -EINTR) {
		why = "signal";
		err = 0;
	} else if (err) {
		goto out;
	} else {
		say("switched");
		why = wait_for_end();
	}
	counter_detach(&s.ctr);
	err = counter_read(&s.ctr);
	if (!err) {
		json_object *rep = sw_report(&s, why);

		json_object_object_add(rep, "via", json_object_new_string(
			cfg->netctl ? "semi-netctl" : "socket"));
		print_json(rep);
	}
out:
	if (s.ctl_fd >= 0)
		close(s.ctl_fd);
	counter_free(&s.ctr);
	free(s.lat);
	free(s.call);
	free(s.after);
	return err;
}

/* ---- tapsink ---- */

/* The sequence number of a semi-pktgen frame, or -1. */
static int64_t bench_seq(const uint8_t *f, size_t len)
{
	size_t off = 12;
	uint16_t proto;
	uint64_t magic, seq;
	size_t ihl;

	if (len < 14)
		return -1;
	proto = f[off] << 8 | f[off + 1];
	off += 2;
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		if (len < 18)
			return -1;
		proto = f[off + 2] << 8 | f[off + 3];
		off += 4;
	}
	if (proto != ETH_P_IP || len < off + 20)
		return -1;
	ihl = (f[off] & 0xf) * 4;
	if (ihl < 20 || f[off + 9] != 17 || len < off + ihl + 8 + 16)
		return -1;
	off += ihl + 8;
	memcpy(&magic, f + off, 8);
	memcpy(&seq, f + off + 8, 8);
	if (be64toh(magic) != SEMI_BENCH_MAGIC)
		return -1;
	return (int64_t)be64toh(seq);
}

static int cmd_tapsink(struct config *cfg)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	uint64_t frames = 0, uniq = 0, dup = 0, other = 0, range = 0;
	uint64_t first = 0, last = 0, nbits = cfg->max_seq;
	struct pollfd pfd[3];
	uint8_t *bits, buf[65536];
	const char *why = NULL;
	json_object *o;
	struct stat st;
	int fd, err = 0;

	if (!cfg->dev) {
		pr_warn("tapsink needs --dev\n");
		return -EINVAL;
	}
	bits = calloc(nbits / 8 + 1, 1);
	if (!bits)
		return -ENOMEM;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot open /dev/net/tun: %s\n", strerror(-err));
		goto out_free;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->dev);
	if (!if_nametoindex(cfg->dev) || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno ? -errno : -ENODEV;
		pr_warn("cannot attach to tap %s: %s\n", cfg->dev, strerror(-err));
		goto out_close;
	}
	say("ready");
	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = fstat(0, &st) == 0 &&
				  (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) ? 0 : -1,
				  .events = POLLIN };
	while (!why) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		/* One read per frame, as QEMU's tap backend. */
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			int64_t seq;

			if (n <= 0)
				break;
			seq = bench_seq(buf, n);
			if (seq < 0) {
				other++;
				continue;
			}
			last = now_ns();
			if (!first)
				first = last;
			frames++;
			if ((uint64_t)seq >= nbits) {
				range++;
			} else if (bits[seq >> 3] & (1u << (seq & 7))) {
				dup++;
			} else {
				bits[seq >> 3] |= 1u << (seq & 7);
				uniq++;
			}
		}
		if (pfd[1].revents && stop_requested())
			why = "signal";
		if (pfd[2].revents) {
			char b[64];

			if (read(0, b, sizeof(b)) <= 0)
				why = "eof";
		}
	}
	o = json_object_new_object();
	json_object_object_add(o, "dev", json_object_new_string(cfg->dev));
	json_object_object_add(o, "frames", json_object_new_uint64(frames));
	json_object_object_add(o, "unique", json_object_new_uint64(uniq));
	json_object_object_add(o, "duplicates", json_object_new_uint64(dup));
	json_object_object_add(o, "out_of_range", json_object_new_uint64(range));
	json_object_object_add(o, "other", json_object_new_uint64(other));
	json_object_object_add(o, "seconds", json_object_new_double((last - first) / 1e9));
	json_object_object_add(o, "pps", json_object_new_double(
		last > first ? (frames - 1) * 1e9 / (last - first) : 0));
	json_object_object_add(o, "stopped_by", json_object_new_string(why ? why : "error"));
	print_json(o);
out_close:
	close(fd);
out_free:
	free(bits);
	return err;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.switches = 1000,
		.interval_us = 1000,
		.timeout_ms = 200,
		.repeat = 1000000,
		.runs = 5,
		.max_seq = COUNTER_DEFAULT_MAX_SEQ,
		.mac = { 0x52, 0x54, 0x00, 0, 0, 0 },
	};
	int err;

	prog_name = "semi-dpbench";
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
			parse_opts(argc, argv, options, &cfg, usage, description);
		fprintf(stderr, "%s: a verb is required\nUsage: %s %s\n", prog_name,
			prog_name, usage);
		return EXIT_USAGE;
	}
	cfg.verb = argv[1];
	parse_opts(argc - 1, argv + 1, options, &cfg, usage, description);
	log_level = cfg.quiet ? LOG_WARN : LOG_INFO + cfg.verbose;
	setup_libbpf_log();
	semi_log_set_prefix("semi-dpbench");
	if (setup_signals()) {
		pr_warn("cannot create a signalfd: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	if (!strcmp(cfg.verb, "redirect"))
		err = cmd_redirect(&cfg);
	else if (!strcmp(cfg.verb, "cost"))
		err = cmd_cost(&cfg);
	else if (!strcmp(cfg.verb, "ports"))
		err = cmd_ports(&cfg);
	else if (!strcmp(cfg.verb, "switch"))
		err = cmd_switch(&cfg, false);
	else if (!strcmp(cfg.verb, "bulk"))
		err = cmd_switch(&cfg, true);
	else if (!strcmp(cfg.verb, "ctlswitch"))
		err = cmd_ctlswitch(&cfg);
	else if (!strcmp(cfg.verb, "tapsink"))
		err = cmd_tapsink(&cfg);
	else {
		fprintf(stderr, "%s: unknown verb '%s'\nUsage: %s %s\n", prog_name,
			cfg.verb, prog_name, usage);
		return EXIT_USAGE;
	}
	if (err == -EINVAL)
		return EXIT_USAGE;
	return err ? EXIT_FAIL : EXIT_OK;
}
