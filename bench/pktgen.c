// SPDX-License-Identifier: GPL-2.0
/*
 * semi-pktgen: a traffic generator on BPF_PROG_RUN with live frames.
 *
 * User space builds one template frame (Ethernet [+ 802.1Q] + IPv4 + UDP,
 * payload = struct semi_bench_hdr + zeros) and asks the kernel to run
 * bench/pktgen.bpf.c over it.  The program stamps a sequence number,
 * picks the destination MAC, fixes the UDP checksum and redirects the
 * frame out of --dev; it also paces (--rate) and stops at --count.
 *
 * One BPF_PROG_RUN call costs two RCU grace periods (~20 ms each here:
 * the kernel adds the program to the XDP dispatcher on entry and removes
 * it on exit), so pacing by sleeping between calls cannot work.  Instead
 * the main thread makes one long call (repeat up to 2^32-1) and a watcher
 * thread interrupts it with SIGUSR1 once the count is reached, the
 * duration is over or SIGINT/SIGTERM arrived; the kernel checks for
 * signals between batches, so the batch in progress is always flushed.
 *
 * Back-pressure: the kernel runs the program over one batch (--batch),
 * flushes the redirect queues -- which schedules the receiving device's
 * NAPI on this CPU -- and re-enables bottom halves, which runs that NAPI
 * before the next batch starts.  A batch that fits the receiver's ring
 * therefore never overruns it as long as the receiver keeps up within one
 * softirq round.  veth's ring has 256 slots, and its consumer frees slots
 * 16 at a time (up to 15 stay taken after a full drain), so a batch of 256
 * overruns it now and then even on an idle machine.  Under load a softirq
 * round is sometimes cut short (need_resched) and finished by ksoftirqd
 * after the next batch came in: 240 then overruns too.  The default, 64,
 * survives two such rounds in a row, costs no speed, and is what the
 * zero-loss tests use.  The veth's own xdp_xmit_errors counter, reported
 * as xmit_err, says whether anything was refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "bench/bench_common.h"
#include "bench/util.h"
#include "bench_pktgen.skel.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES	(1U << 1)
#endif

/* The watcher's polling interval: how late a stop may be noticed. */
#define WATCH_NS	1000000ULL

struct config {
	const char *dev;
	uint32_t size;
	uint8_t src_mac[6];
	bool has_src_mac;
	uint8_t dst_mac[6];
	uint32_t dst_count;
	uint32_t vlan;
	bool has_vlan;
	uint32_t src_ip, dst_ip;	/* network byte order */
	uint32_t sport, dport;
	uint64_t count;
	double duration;
	uint64_t rate;
	uint32_t batch;
	int cpu;		/* -1: the CPU we start on; -2: no pinning */
	uint64_t seq_start;
	bool json;
	bool quiet;
	int verbose;
};

/*
 * Pinned by default: the receivers' NAPI runs in this thread's softirq on
 * this CPU, which is the back-pressure; after a migration it may still be
 * pending on the old CPU while the next batches come in.
 */
static int parse_cpu(void *p, const char *arg)
{
	struct config *cfg = p;
	uint64_t v;

	if (!strcmp(arg, "any")) {
		cfg->cpu = -2;
		return 0;
	}
	if (parse_u64(arg, &v) || v >= CPU_SETSIZE)
		return -EINVAL;
	cfg->cpu = v;
	return 0;
}

#define O(n, s, t, f, mv, h, ...)					\
	{ .name = n, .short_name = s, .type = t,			\
	  .off = offsetof(struct config, f), .metavar = mv, .help = h,	\
	  __VA_ARGS__ }

static const struct opt options[] = {
	O("dev", 'd', OPT_STR, dev, "IFNAME",
	  "send out of IFNAME (a veth: frames arrive at its peer)"),
	O("size", 's', OPT_U32, size, "BYTES",
	  "frame size incl. Ethernet header, no FCS: 64..1500 (default 64)",
	  .min = SEMI_BENCH_MIN_FRAME, .max = SEMI_BENCH_MAX_FRAME),
	O("src-mac", 0, OPT_MAC, src_mac, "MAC",
	  "source MAC (default: IFNAME's address)",
	  .has_off = OPT_HAS(struct config, has_src_mac)),
	O("dst-mac", 0, OPT_MAC, dst_mac, "MAC",
	  "destination MAC (default ff:ff:ff:ff:ff:ff)"),
	O("dst-count", 0, OPT_U32, dst_count, "N",
	  "frame with seq S goes to dst-mac + S % N (last 3 bytes; default 1)",
	  .min = 1, .max = 1 << 24),
	O("vlan", 0, OPT_U32, vlan, "VID",
	  "add an 802.1Q tag with this VLAN id (1..4094)",
	  .min = 1, .max = 4094, .has_off = OPT_HAS(struct config, has_vlan)),
	O("src-ip", 0, OPT_IPV4, src_ip, "ADDR",
	  "IPv4 source (default 198.18.0.1)"),
	O("dst-ip", 0, OPT_IPV4, dst_ip, "ADDR",
	  "IPv4 destination (default 198.18.0.2)"),
	O("sport", 0, OPT_U32, sport, "PORT",
	  "UDP source port (default 9000)", .max = 65535),
	O("dport", 0, OPT_U32, dport, "PORT",
	  "UDP destination port (default 9)", .max = 65535),
	O("count", 'n', OPT_U64, count, "N",
	  "send N frames (k/M/G suffixes)", .min = 1, .max = UINT64_MAX),
	O("duration", 't', OPT_SECONDS, duration, "SECONDS",
	  "send for this long (with --count: whichever ends first)"),
	O("rate", 'r', OPT_U64, rate, "PPS",
	  "frames/s on a CLOCK_MONOTONIC schedule, 0 = full speed (CPU busy either way)",
	  .max = 1000000000),
	O("batch", 'b', OPT_U32, batch, "N",
	  "frames per live-frame batch, 1..256 (default 64, safe on veth)",
	  .min = 1, .max = SEMI_BENCH_MAX_BATCH),
	O("cpu", 'c', OPT_CALL, cpu, "N|any",
	  "run on CPU N (default: stay on the CPU it starts on; any: migrate)",
	  .fn = parse_cpu),
	O("seq-start", 0, OPT_U64, seq_start, "N",
	  "first sequence number (default 0)", .max = UINT64_MAX / 2),
	O("json", 'j', OPT_FLAG, json, NULL,
	  "print the summary as one JSON object"),
	O("quiet", 'q', OPT_FLAG, quiet, NULL,
	  "print nothing but errors (and the JSON summary with -j)"),
	O("verbose", 'v', OPT_COUNT, verbose, NULL,
	  "more messages, libbpf's log included"),
	OPT_END
};

static const char usage[] =
	"--dev IFNAME [--count N | --duration S] [--rate PPS] [options]";
static const char description[] =
	"Send valid IPv4/UDP frames out of IFNAME with BPF_PROG_RUN live frames.\n"
	"Each frame's UDP payload carries a magic and a sequence number unique in\n"
	"the run (seq-start, seq-start+1, ...); semi-count finds loss and\n"
	"duplicates with it.  Without --count and --duration: until SIGINT.\n"
	"Exit: 0 sent, 1 failure, 2 usage.";

/* Why the run ends: set by the watcher or a signal, read by both. */
enum stop_reason {
	RUNNING = 0,
	STOP_COUNT,
	STOP_DURATION,
	STOP_SIGNAL,
	STOP_ERROR,
};

static volatile sig_atomic_t stop;
static volatile sig_atomic_t user_signal;

static void on_signal(int sig)
{
	user_signal = sig;
	if (!stop)
		stop = STOP_SIGNAL;
}

static void on_wakeup(int sig)
{
	/* Only here to interrupt BPF_PROG_RUN. */
}

/* One's complement sum of native 16-bit loads; caller folds. */
static uint64_t csum_add(uint64_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint16_t w;

	for (; len >= 2; p += 2, len -= 2) {
		memcpy(&w, p, 2);
		sum += w;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, 1);
		sum += w;
	}
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

struct frame {
	uint8_t buf[SEMI_BENCH_MAX_FRAME];
	uint32_t len;
	uint32_t hdr_off;	/* struct semi_bench_hdr */
	uint16_t udp_csum_base;	/* folded sum of the template, seq = 0 */
};

static void build_frame(const struct config *cfg, struct frame *f)
{
	uint8_t *p = f->buf;
	uint32_t l2 = cfg->has_vlan ? 18 : 14;
	uint16_t tot_len = cfg->size - l2, udp_len = tot_len - 20;
	uint8_t *ip, *udp;
	struct semi_bench_hdr h = {
		.magic = htobe64(SEMI_BENCH_MAGIC),
		.seq = 0,
	};
	uint16_t v16;
	uint64_t sum;

	memset(f, 0, sizeof(*f));
	f->len = cfg->size;
	memcpy(p, cfg->dst_mac, 6);
	memcpy(p + 6, cfg->src_mac, 6);
	p += 12;
	if (cfg->has_vlan) {
		v16 = htons(ETH_P_8021Q);
		memcpy(p, &v16, 2);
		v16 = htons(cfg->vlan);
		memcpy(p + 2, &v16, 2);
		p += 4;
	}
	v16 = htons(ETH_P_IP);
	memcpy(p, &v16, 2);
	p += 2;

	ip = p;
	ip[0] = 0x45;			/* IPv4, no options */
	v16 = htons(tot_len);
	memcpy(ip + 2, &v16, 2);
	v16 = htons(0x4000);		/* DF: never fragmented */
	memcpy(ip + 6, &v16, 2);
	ip[8] = 64;			/* TTL */
	ip[9] = 17;			/* UDP */
	memcpy(ip + 12, &cfg->src_ip, 4);
	memcpy(ip + 16, &cfg->dst_ip, 4);
	v16 = ~csum_fold(csum_add(0, ip, 20));
	memcpy(ip + 10, &v16, 2);

	udp = ip + 20;
	v16 = htons(cfg->sport);
	memcpy(udp, &v16, 2);
	v16 = htons(cfg->dport);
	memcpy(udp + 2, &v16, 2);
	v16 = htons(udp_len);
	memcpy(udp + 4, &v16, 2);
	memcpy(udp + 8, &h, sizeof(h));
	f->hdr_off = udp + 8 - f->buf;

	/* Pseudo header + UDP header + payload, checksum field still 0. */
	sum = csum_add(0, ip + 12, 8);
	sum += htons(17) + htons(udp_len);
	sum = csum_add(sum, udp, udp_len);
	f->udp_csum_base = csum_fold(sum);
	v16 = ~f->udp_csum_base;
	if (!v16)
		v16 = 0xffff;
	memcpy(udp + 6, &v16, 2);
}

static int dev_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

/*
 * veth counts, per queue, the frames its peer accepted from ndo_xdp_xmit
 * and the ones it refused because the peer's ring was full: the direct
 * evidence of (no) overrun.  Other drivers: not available (-EOPNOTSUPP).
 */
struct xmit_stats {
	uint64_t xmit, err;
};

static int veth_xmit_stats(const char *dev, struct xmit_stats *st)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_gstrings *names = NULL;
	struct ethtool_stats *vals = NULL;
	struct ifreq ifr = {};
	uint32_t n, i;
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&drv;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		err = -errno;
		goto out_close;
	}
	if (strcmp(drv.driver, "veth") || !drv.n_stats) {
		err = -EOPNOTSUPP;
		goto out_close;
	}
	n = drv.n_stats;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	vals = calloc(1, sizeof(*vals) + (size_t)n * sizeof(uint64_t));
	if (!names || !vals) {
		err = -ENOMEM;
		goto out_free;
	}
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_STATS;
	names->len = n;
	ifr.ifr_data = (void *)names;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		err = -errno;
		goto out_free;
	}
	vals->cmd = ETHTOOL_GSTATS;
	vals->n_stats = n;
	ifr.ifr_data = (void *)vals;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		err = -errno;
		goto out_free;
	}
	memset(st, 0, sizeof(*st));
	for (i = 0; i < n && i < vals->n_stats; i++) {
		char name[ETH_GSTRING_LEN + 1] = {};
		size_t len;

		memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN,
		       ETH_GSTRING_LEN);
		len = strlen(name);
		if (strncmp(name, "tx_queue_", 9))
			continue;
		if (len > 9 && !strcmp(name + len - 9, "_xdp_xmit"))
			st->xmit += vals->data[i];
		else if (len > 16 && !strcmp(name + len - 16, "_xdp_xmit_errors"))
			st->err += vals->data[i];
	}
out_free:
	free(names);
	free(vals);
out_close:
	close(fd);
	return err;
}

static int pin_cpu(uint32_t cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

struct result {
	uint64_t sent;
	uint64_t ns;		/* first to last frame, BPF clock */
	double pps;
	uint64_t wall_ns;	/* the whole run, set-up included */
	bool have_xmit;
	struct xmit_stats xmit;	/* delta over the run */
};

struct watch {
	const struct config *cfg;
	struct bench_pktgen *skel;
	pthread_t main_thread;
	uint64_t start_ns;
	volatile bool done;	/* main thread is out of BPF_PROG_RUN for good */
};

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = ns / NSEC_PER_SEC,
		.tv_nsec = ns % NSEC_PER_SEC,
	};

	nanosleep(&ts, NULL);
}

/*
 * Poll the program's counters; once the run should end, signal the main
 * thread -- again every interval, in case the signal landed between two
 * calls and the next call started anyway.
 */
static void *watcher(void *arg)
{
	struct watch *w = arg;
	const struct config *cfg = w->cfg;
	volatile __u64 *next = &w->skel->bss->next_seq;
	volatile __u64 *t_first = &w->skel->bss->t_first;
	uint64_t dur = cfg->duration * NSEC_PER_SEC, first;

	while (!w->done) {
		if (!stop && cfg->count && *next - cfg->seq_start >= cfg->count)
			stop = STOP_COUNT;
		if (!stop && dur) {
			/* Duration counts from the first frame sent; the
			 * BPF clock is CLOCK_MONOTONIC. */
			first = *t_first ? *t_first : w->start_ns;
			if (now_ns() >= first + dur)
				stop = STOP_DURATION;
		}
		if (stop)
			pthread_kill(w->main_thread, SIGUSR1);
		sleep_ns(WATCH_NS);
	}
	return NULL;
}

static int generate(const struct config *cfg, struct bench_pktgen *skel,
		    const struct frame *f, struct result *res)
{
	volatile __u64 *next = &skel->bss->next_seq;
	int prog_fd = bpf_program__fd(skel->progs.semi_pktgen);
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f->buf,
		.data_size_in = f->len,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		.batch_size = cfg->batch,
	);
	struct watch w = {
		.cfg = cfg,
		.skel = skel,
		.main_thread = pthread_self(),
		.start_ns = now_ns(),
	};
	sigset_t block, old;
	pthread_t tid;
	uint64_t left;
	int err = 0;

	/* SIGINT/SIGTERM go to this thread, the one in BPF_PROG_RUN. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&tid, NULL, watcher, &w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pr_warn("cannot start the watcher thread: %s\n", strerror(err));
		return -err;
	}

	while (!stop) {
		/*
		 * Unpaced with a count: exactly the frames still owed, so the
		 * call ends by itself.  Otherwise as long as the kernel allows;
		 * the watcher interrupts it.
		 */
		left = cfg->count ? cfg->count - (*next - cfg->seq_start) :
				    UINT32_MAX;
		if (!left)
			break;
		opts.repeat = cfg->rate || left > UINT32_MAX ? UINT32_MAX : left;
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		if (err) {
			err = -errno;
			if (err == -EINTR) {
				err = 0;	/* the watcher or a signal */
				continue;
			}
			stop = STOP_ERROR;
			pr_warn("cannot send on %s: BPF_PROG_RUN with live frames failed: %s\n",
				cfg->dev, strerror(-err));
			if (err == -EINVAL)
				pr_warn("(needs a kernel >= 5.18 with live-frame support)\n");
			break;
		}
	}
	w.done = true;
	pthread_join(tid, NULL);

	res->wall_ns = now_ns() - w.start_ns;
	res->sent = *next - cfg->seq_start;
	if (res->sent) {
		res->ns = skel->bss->t_last - skel->bss->t_first;
		/* Frames between the first and the last time stamp, over the
		 * time between them. */
		if (res->ns)
			res->pps = (double)(skel->bss->t_last_seq - cfg->seq_start) *
				   NSEC_PER_SEC / res->ns;
	}
	return err;
}

static const char *const stop_names[] = {
	[RUNNING] = "end",
	[STOP_COUNT] = "count",
	[STOP_DURATION] = "duration",
	[STOP_SIGNAL] = "signal",
	[STOP_ERROR] = "error",
};

static void report_json(const struct config *cfg, const struct result *res)
{
	json_object *o = json_object_new_object();

	json_c_set_serialization_double_format("%.6f", JSON_C_OPTION_GLOBAL);
	json_object_object_add(o, "dev", json_object_new_string(cfg->dev));
	json_object_object_add(o, "size", json_object_new_int(cfg->size));
	json_object_object_add(o, "vlan", cfg->has_vlan ?
			       json_object_new_int(cfg->vlan) : NULL);
	json_object_object_add(o, "dst_count",
			       json_object_new_int64(cfg->dst_count));
	json_object_object_add(o, "sent", json_object_new_uint64(res->sent));
	json_object_object_add(o, "seconds",
			       json_object_new_double(res->ns / 1e9));
	json_object_object_add(o, "pps",
			       json_object_new_int64((int64_t)(res->pps + 0.5)));
	json_object_object_add(o, "wall_seconds",
			       json_object_new_double(res->wall_ns / 1e9));
	json_object_object_add(o, "seq_first",
			       json_object_new_uint64(cfg->seq_start));
	json_object_object_add(o, "seq_next",
			       json_object_new_uint64(cfg->seq_start + res->sent));
	json_object_object_add(o, "rate", json_object_new_uint64(cfg->rate));
	json_object_object_add(o, "batch", json_object_new_int(cfg->batch));
	json_object_object_add(o, "cpu", cfg->cpu >= 0 ?
			       json_object_new_int(cfg->cpu) : NULL);
	json_object_object_add(o, "xmit", res->have_xmit ?
			       json_object_new_uint64(res->xmit.xmit) : NULL);
	json_object_object_add(o, "xmit_err", res->have_xmit ?
			       json_object_new_uint64(res->xmit.err) : NULL);
	json_object_object_add(o, "stopped_by",
			       json_object_new_string(stop_names[stop]));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void report(const struct config *cfg, const struct result *res)
{
	if (cfg->json) {
		report_json(cfg, res);
	} else if (!cfg->quiet) {
		printf("%s: sent %" PRIu64 " frames of %u bytes in %.3f s: %.3f Mpps, %.1f Mbit/s\n",
		       cfg->dev, res->sent, cfg->size, res->ns / 1e9,
		       res->pps / 1e6, res->pps * cfg->size * 8 / 1e6);
		if (res->have_xmit)
			printf("%s: the veth's peer took %" PRIu64 ", refused %" PRIu64 "\n",
			       cfg->dev, res->xmit.xmit, res->xmit.err);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.size = SEMI_BENCH_MIN_FRAME,
		.dst_mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		.dst_count = 1,
		.sport = 9000,
		.dport = 9,
		.batch = 64,
		.cpu = -1,
	};
	struct xmit_stats xs0 = {}, xs1 = {};
	struct result res = {};
	struct bench_pktgen *skel;
	struct sigaction sa = { .sa_handler = on_signal };
	struct sigaction wake = { .sa_handler = on_wakeup };
	struct frame *f;
	int ifindex, err;

	prog_name = "semi-pktgen";
	inet_pton(AF_INET, "198.18.0.1", &cfg.src_ip);
	inet_pton(AF_INET, "198.18.0.2", &cfg.dst_ip);
	parse_opts(argc, argv, options, &cfg, usage, description);
	if (!cfg.dev) {
		fprintf(stderr, "%s: --dev is required\nUsage: %s %s\n",
			prog_name, prog_name, usage);
		return EXIT_USAGE;
	}
	log_level = cfg.quiet ? LOG_WARN : LOG_INFO + cfg.verbose;
	setup_libbpf_log();

	ifindex = if_nametoindex(cfg.dev);
	if (!ifindex) {
		pr_warn("no device %s in this network namespace: %s\n", cfg.dev,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (!cfg.has_src_mac) {
		err = dev_mac(cfg.dev, cfg.src_mac);
		if (err) {
			pr_warn("cannot read the MAC address of %s: %s\n",
				cfg.dev, strerror(-err));
			return EXIT_FAIL;
		}
	}
	f = malloc(sizeof(*f));
	if (!f) {
		pr_warn("out of memory\n");
		return EXIT_FAIL;
	}
	build_frame(&cfg, f);

	skel = bench_pktgen__open();
	if (!skel) {
		pr_warn("cannot open the generator's BPF object: %s\n",
			strerror(errno));
		err = -errno;
		goto out_free;
	}
	skel->rodata->ifindex_out = ifindex;
	skel->rodata->hdr_off = f->hdr_off;
	skel->rodata->dst_count = cfg.dst_count;
	skel->rodata->dst_mac_lo = cfg.dst_mac[3] << 16 | cfg.dst_mac[4] << 8 |
				   cfg.dst_mac[5];
	skel->rodata->udp_csum_base = f->udp_csum_base;
	skel->rodata->seq_start = cfg.seq_start;
	skel->rodata->seq_end = cfg.count ? cfg.seq_start + cfg.count : 0;
	skel->rodata->ps_per_frame = cfg.rate ? 1000000000000ULL / cfg.rate : 0;
	err = bench_pktgen__load(skel);
	if (err) {
		pr_warn("cannot load the generator's BPF program for %s: %s\n",
			cfg.dev, strerror(-err));
		goto out_destroy;
	}
	skel->bss->next_seq = cfg.seq_start;

	if (cfg.cpu == -1)
		cfg.cpu = sched_getcpu();
	if (cfg.cpu >= 0) {
		err = pin_cpu(cfg.cpu);
		if (err) {
			pr_warn("cannot pin to CPU %d: %s\n", cfg.cpu,
				strerror(-err));
			goto out_destroy;
		}
	}
	/* No SA_RESTART: a signal interrupts BPF_PROG_RUN (-EINTR). */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&wake.sa_mask);
	sigaction(SIGUSR1, &wake, NULL);

	res.have_xmit = !veth_xmit_stats(cfg.dev, &xs0);
	pr_debug("sending on %s (ifindex %d), %u-byte frames, batch %u\n",
		 cfg.dev, ifindex, cfg.size, cfg.batch);
	err = generate(&cfg, skel, f, &res);
	if (res.have_xmit && !veth_xmit_stats(cfg.dev, &xs1)) {
		res.xmit.xmit = xs1.xmit - xs0.xmit;
		res.xmit.err = xs1.err - xs0.err;
	} else {
		res.have_xmit = false;
	}
	if (!err || res.sent)
		report(&cfg, &res);
	if (!err && res.have_xmit && res.xmit.err)
		pr_warn("%s: the veth's peer refused %" PRIu64
			" frames (its ring was full: try a smaller --batch)\n",
			cfg.dev, res.xmit.err);
	if (!err && res.have_xmit && res.xmit.xmit + res.xmit.err < res.sent)
		pr_warn("%s: only %" PRIu64 " of %" PRIu64
			" frames reached the veth's peer: is the peer up, with an XDP program?\n",
			cfg.dev, res.xmit.xmit + res.xmit.err, res.sent);

out_destroy:
	bench_pktgen__destroy(skel);
out_free:
	free(f);
	return err ? EXIT_FAIL : EXIT_OK;
}
