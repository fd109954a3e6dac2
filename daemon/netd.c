// SPDX-License-Identifier: GPL-2.0
/*
 * semi-netd: the semi-net daemon.  Start-up, the epoll loop, signals,
 * timers and logging; the policy lives in ports.c.
 *
 * Start-up order, and why:
 *   1. configuration        a bad key stops us before anything is touched
 *   2. control socket       a live one means another daemon: refuse
 *   3. lock on the state    one daemon per state file
 *   4. state file           corrupt or unreadable: refuse, never start empty
 *   5. datapath             adopt the pins (or load and pin)
 *   6. link events          subscribed before the devices are looked up,
 *                           so no change between the two is missed
 *   7. reconcile            the file wins for configuration, the datapath
 *                           for counters; identical ports are not written
 *   8. uplink, state file, ready
 *
 * SIGTERM/SIGINT leave the datapath running (it outlives the daemon); the
 * `flush` command or `semi-netd --flush` remove it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/netd.h"

static enum semi_log_level log_level = SEMI_LOG_INFO;
static bool log_journal;
static char log_instance[SEMI_INSTANCE_MAX + 1] = "default";

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- logging: stderr, with syslog priorities when journald reads it ---- */

static void log_line(enum semi_log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { 3, 4, 6, 7 };
	static const char *const word[] = { "error: ", "warning: ", "", "debug: " };
	char msg[2048];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/*
	 * libbpf narrates what the loader handles itself ("Exclusivity flag
	 * on" when a clsact qdisc exists, "Cannot find specified filter chain"
	 * when a query finds none): its chatter is debug unless it warns.
	 */
	if (level == SEMI_LOG_INFO && !strncmp(msg, "libbpf: ", 8))
		level = SEMI_LOG_DEBUG;
	if (level > log_level)
		return;
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (!n)
		return;
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", prio[level], msg);
	else
		fprintf(stderr, "semi-netd[%s]: %s%s\n", log_instance, word[level], msg);
}

static void netcfg_log(enum netcfg_log_level level, const char *fmt, va_list ap)
{
	log_line(level == NETCFG_LOG_WARN ? SEMI_LOG_WARN :
		 level == NETCFG_LOG_INFO ? SEMI_LOG_INFO : SEMI_LOG_DEBUG, fmt, ap);
}

/* ---- epoll and timers ---- */

int netd_epoll_add(struct netd *d, struct evsrc *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0) {
		int err = -errno;

		pr_err("cannot watch fd %d: %s", src->fd, strerror(-err));
		return err;
	}
	return 0;
}

int netd_epoll_mod(struct netd *d, struct evsrc *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

static void timerfd_program(struct netd *d)
{
	struct itimerspec its = {};

	if (d->timers) {
		uint64_t due = d->timers->due_ns ? d->timers->due_ns : 1;

		its.it_value.tv_sec = (time_t)(due / 1000000000ull);
		its.it_value.tv_nsec = (long)(due % 1000000000ull);
	}
	if (timerfd_settime(d->tfd.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		pr_err("cannot program the timer: %s", strerror(errno));
}

void timer_cancel(struct netd *d, struct timer *t)
{
	struct timer **pp;

	if (!t->armed)
		return;
	for (pp = &d->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
	t->next = NULL;
	if (pp == &d->timers)
		timerfd_program(d);
}

void timer_arm(struct netd *d, struct timer *t, uint64_t delay_ns)
{
	struct timer **pp;

	timer_cancel(d, t);
	t->due_ns = now_ns() + delay_ns;
	for (pp = &d->timers; *pp && (*pp)->due_ns <= t->due_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
	if (d->timers == t)
		timerfd_program(d);
}

static void on_timer_event(struct netd *d, struct evsrc *src, uint32_t events)
{
	uint64_t expirations, now = now_ns();

	if (read(src->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_debug("timerfd read: %s", strerror(errno));
	while (d->timers && d->timers->due_ns <= now) {
		struct timer *t = d->timers;

		d->timers = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(d, t);
	}
	timerfd_program(d);
}

static void on_signal(struct netd *d, struct evsrc *src, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			pr_info("%s: stopping; the datapath keeps running",
				strsignal((int)si.ssi_signo));
			d->stop = NETD_STOP;
			break;
		case SIGHUP:
			pr_info("SIGHUP: nothing to reload (restart semi-netd to read %s again)",
				d->cfg.file[0] ? d->cfg.file : "the configuration");
			break;
		default:
			break;
		}
	}
}

static void on_links(struct netd *d, struct evsrc *src, uint32_t events)
{
	int n = netcfg_events_process(d->nev);

	if (n < 0)
		pr_warn("link events: %s", strerror(-n));
}

/* ---- systemd readiness (sd_notify without libsystemd) ---- */

static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		pr_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

/* ---- start-up pieces ---- */

static int take_lock(struct netd *d)
{
	char path[PATH_MAX + 8], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s.lock", d->cfg.state);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		pr_err("cannot open lock file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (err == EWOULDBLOCK)
			pr_err("another semi-netd (pid %s) uses state file %s (lock %s held): "
			       "refusing to start", pid[0] ? pid : "?", d->cfg.state, path);
		else
			pr_err("cannot lock %s: %s", path, strerror(err));
		close(fd);
		return -EADDRINUSE;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) < 0)
		pr_debug("cannot write pid to %s: %s", path, strerror(errno));
	d->lock_fd = fd;
	return 0;
}

static int mkdir_for(const char *file)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", file);
	if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST) {
		int err = errno;

		snprintf(dir, sizeof(dir), "%s", file);
		pr_err("cannot create directory %s: %s", dirname(dir), strerror(err));
		return -err;
	}
	return 0;
}

/*
 * The loader makes the pin root but not its parents: a root below the
 * default one (/sys/fs/bpf/semi-net/lab-hostA, say) needs them made.
 */
static int mkdir_pin_parents(const char *root)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", root);
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		struct stat st;

		*p = '\0';
		if (stat(path, &st) < 0 && mkdir(path, 0700) < 0 && errno != EEXIST) {
			int err = errno;

			pr_err("cannot create %s (for pin root %s): %s", path, root, strerror(err));
			return -err;
		}
		*p = '/';
	}
	return 0;
}

static int setup_loop(struct netd *d)
{
	sigset_t mask;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->sig.fn = on_signal;
	d->tfd.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->tfd.fn = on_timer_event;
	if (d->sig.fd < 0 || d->tfd.fd < 0)
		return -errno;
	if (netd_epoll_add(d, &d->sig, EPOLLIN) || netd_epoll_add(d, &d->tfd, EPOLLIN))
		return -EIO;
	d->t_handover.fn = ports_handover_tick;
	d->t_stats.fn = ports_stats_tick;
	d->t_save.fn = ports_save_retry;
	d->t_peers.fn = peers_tick;
	d->t_retire.fn = mig_retire_tick;
	d->t_parked.fn = control_parked_tick;
	return 0;
}

static void run_loop(struct netd *d)
{
	struct epoll_event evs[64];

	while (d->stop == NETD_RUN) {
		int n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pr_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && d->stop != NETD_FLUSHED; i++) {
			struct evsrc *src = evs[i].data.ptr;

			src->fn(d, src, evs[i].events);
		}
		if (d->save_pending && d->stop != NETD_FLUSHED)
			ports_save(d, NULL);
		control_reap(d);
		/*
		 * A state file or a reply of thousands of ports is built as a
		 * tree of objects many times its size; glibc keeps the freed
		 * pages unless asked, and RSS would stay at the peak.
		 */
		if (d->trim_heap) {
			d->trim_heap = false;
			malloc_trim(0);
		}
	}
}

/* `semi-netd --flush`: remove an instance that no daemon runs. */
static int offline_flush(struct netd *d)
{
	int err;

	err = control_check_live(d->cfg.socket);	/* refuses when a daemon answers */
	if (err)
		return err;
	err = take_lock(d);
	if (err)
		return err;
	err = semi_dp_purge(d->cfg.pin_root, d->cfg.instance);
	if (err && err != -ENOENT) {
		pr_err("cannot remove instance %s from %s", d->cfg.instance, d->cfg.pin_root);
		return err;
	}
	pr_info("%s %s/%s", err == -ENOENT ? "nothing pinned at" : "removed", d->cfg.pin_root,
		d->cfg.instance);
	if (unlink(d->cfg.state) == 0)
		pr_info("removed state file %s", d->cfg.state);
	else if (errno != ENOENT)
		pr_warn("cannot remove state file %s: %s", d->cfg.state, strerror(errno));
	return 0;
}

static json_object *opt_str(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

static void print_config(const struct netd_config *c)
{
	json_object *o = json_object_new_object(), *peers = json_object_new_array(), *a;

	json_object_object_add(o, "config", c->file[0] ? json_object_new_string(c->file) : NULL);
	json_object_object_add(o, "instance", json_object_new_string(c->instance));
	json_object_object_add(o, "socket", json_object_new_string(c->socket));
	json_object_object_add(o, "socket_group", c->socket_group[0] ?
			       json_object_new_string(c->socket_group) : NULL);
	json_object_object_add(o, "state", json_object_new_string(c->state));
	json_object_object_add(o, "pin_root", json_object_new_string(c->pin_root));
	json_object_object_add(o, "uplink", opt_str(c->uplink));
	json_object_object_add(o, "uplink_xdp",
			       json_object_new_string(config_xdp_mode_name(c->uplink_xdp)));
	json_object_object_add(o, "bridge", opt_str(c->bridge));
	json_object_object_add(o, "host", json_object_new_string(c->host));
	json_object_object_add(o, "handover_poll_ms", json_object_new_int64(c->handover_poll_ms));
	json_object_object_add(o, "stats_interval_ms", json_object_new_int64(c->stats_interval_ms));
	json_object_object_add(o, "max_clients", json_object_new_int64(c->max_clients));
	a = json_object_new_object();
	json_object_object_add(a, "initial_ms", json_object_new_int64(c->announce.initial_ms));
	json_object_object_add(a, "step_ms", json_object_new_int64(c->announce.step_ms));
	json_object_object_add(a, "rounds", json_object_new_int64(c->announce.rounds));
	json_object_object_add(o, "announce", a);
	for (int i = 0; i < c->n_peers; i++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(c->peers[i].name));
		json_object_object_add(p, "address", json_object_new_string(c->peers[i].address));
		json_object_array_add(peers, p);
	}
	json_object_object_add(o, "peers", peers);
	a = json_object_new_object();
	json_object_object_add(a, "local", c->tunnel.local[0] ?
			       json_object_new_string(c->tunnel.local) : NULL);
	json_object_object_add(a, "port", json_object_new_int64(c->tunnel.port));
	json_object_object_add(a, "vni", json_object_new_int64(c->tunnel.vni));
	json_object_object_add(a, "control_port", json_object_new_int64(config_control_port(c)));
	json_object_object_add(o, "tunnel", a);
	a = json_object_new_object();
	json_object_object_add(a, "linger_ms", json_object_new_int64(c->retire.linger_ms));
	json_object_object_add(a, "grace_ms", json_object_new_int64(c->retire.grace_ms));
	json_object_object_add(o, "retire", a);
	a = json_object_new_object();
	json_object_object_add(a, "path", opt_str(c->hook.path));
	json_object_object_add(a, "timeout_ms", json_object_new_int64(c->hook.timeout_ms));
	json_object_object_add(o, "hook", a);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Fork; the parent exits 0 once the child says it is ready, 1 if it dies. */
static int daemonize(int *ready_fd)
{
	int pfd[2];
	pid_t pid;
	char c = 0;
	int nul;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pfd[1]);
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		/* EOF without 'R': the child failed, and said why on stderr. */
		_exit(c == 'R' ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		close(nul);
	}
	*ready_fd = pfd[1];
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: semi-netd [options]\n"
		"\n"
		"The semi-net daemon: port state machine, control socket, state file.\n"
		"\n"
		"  -c, --config FILE     JSON configuration (default %s, if it exists)\n"
		"  -i, --instance NAME   instance: pins in <pin-root>/NAME (default: default)\n"
		"  -s, --socket PATH     control socket (default %s/semi-netd[.NAME].sock)\n"
		"      --state FILE      state file (default %s/NAME.json)\n"
		"      --pin-root DIR    bpffs root of the pins (default %s)\n"
		"  -f, --foreground      do not fork; log to stderr (systemd: Type=notify)\n"
		"  -v, --verbose         debug messages\n"
		"      --check-config    print the effective configuration as JSON and exit\n"
		"      --flush           remove the instance (datapath and state file), exit\n"
		"  -V, --version\n"
		"  -h, --help\n"
		"\n"
		"The command line wins over the file, the file over the defaults.\n"
		"SIGTERM leaves the datapath running; 'semi-netctl flush' removes it.\n",
		NETD_CONFIG_DEFAULT, NETD_RUN_DIR, NETD_STATE_DIR, SEMI_PIN_ROOT_DEFAULT);
}

enum { OPT_STATE = 256, OPT_PIN_ROOT, OPT_CHECK, OPT_FLUSH };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "instance", required_argument, NULL, 'i' },
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "pin-root", required_argument, NULL, OPT_PIN_ROOT },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "flush", no_argument, NULL, OPT_FLUSH },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct netd_overrides ov = {};
	struct semi_dp_opts dpo = {};
	struct state_doc doc = {};
	struct netd *d;
	bool foreground = false, check = false, flush = false, have_file;
	char err[1024];
	int c, ret = 1, ready_fd = -1;

	log_journal = getenv("JOURNAL_STREAM") != NULL;
	semi_log_set_sink(log_line);
	netcfg_set_print(netcfg_log);
	while ((c = getopt_long(argc, argv, "c:i:s:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ov.config = optarg;
			break;
		case 'i':
			ov.instance = optarg;
			break;
		case 's':
			ov.socket = optarg;
			break;
		case OPT_STATE:
			ov.state = optarg;
			break;
		case OPT_PIN_ROOT:
			ov.pin_root = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			log_level = SEMI_LOG_DEBUG;
			semi_log_set_level(SEMI_LOG_DEBUG);
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_FLUSH:
			flush = true;
			break;
		case 'V':
			printf("semi-netd %s (protocol %d, datapath ABI %d)\n", NETD_VERSION,
			       PROTO_VERSION, SEMI_ABI_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "semi-netd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->epfd = d->lock_fd = d->listen.fd = d->sig.fd = d->tfd.fd = d->links.fd = -1;
	d->pmsg.fd = d->drain_sock = d->hold.fd = -1;
	if (config_load(&d->cfg, &ov, err, sizeof(err))) {
		fprintf(stderr, "semi-netd: %s\n", err);
		goto out_free;
	}
	snprintf(log_instance, sizeof(log_instance), "%s", d->cfg.instance);
	if (check) {
		print_config(&d->cfg);
		ret = 0;
		goto out_free;
	}
	if (flush) {
		ret = offline_flush(d) ? 1 : 0;
		goto out_lock;
	}
	if (!foreground && daemonize(&ready_fd)) {
		pr_err("cannot become a daemon: %s", strerror(errno));
		goto out_free;
	}
	d->start_ns = now_ns();
	if (setup_loop(d)) {
		pr_err("cannot set up the event loop: %s", strerror(errno));
		goto out_loop;
	}
	if (control_open(d))
		goto out_loop;
	if (mkdir_for(d->cfg.state) || take_lock(d))
		goto out_control;

	ret = statefile_load(d->cfg.state, &doc, err, sizeof(err));
	have_file = ret == 0;
	if (ret && ret != -ENOENT) {
		pr_err("%s", err);
		ret = 1;
		goto out_control;
	}
	ret = 1;
	if (have_file && doc.instance[0] && strcmp(doc.instance, d->cfg.instance))
		pr_warn("state file %s was written for instance %s; this is instance %s",
			d->cfg.state, doc.instance, d->cfg.instance);

	dpo.instance = d->cfg.instance;
	dpo.pin_root = d->cfg.pin_root;
	if (mkdir_pin_parents(d->cfg.pin_root) || semi_dp_open(&dpo, &d->dp)) {
		pr_err("cannot open the datapath of instance %s: see above", d->cfg.instance);
		goto out_doc;
	}
	if (netcfg_open(&d->nc) || netcfg_events_open(&d->nev, ports_link_event, d)) {
		pr_err("cannot open netlink for link events");
		goto out_dp;
	}
	d->links.fd = netcfg_events_fd(d->nev);
	d->links.fn = on_links;
	if (netd_epoll_add(d, &d->links, EPOLLIN))
		goto out_dp;
	/* Peers before ports: an outgoing port's tunnel names one. */
	if (peers_init(d, &doc)) {
		pr_err("cannot set up the tunnel: %s", semi_dp_last_error(d->dp));
		goto out_dp;
	}
	if (peermsg_open(d))
		goto out_dp;
	hold_open(d);
	if (ports_reconcile(d, &doc, have_file)) {
		pr_err("cannot bring the datapath in line with state file %s", d->cfg.state);
		goto out_dp;
	}
	if (uplink_attach(d)) {
		pr_err("cannot attach the uplink %s: %s", d->cfg.uplink,
		       semi_dp_last_error(d->dp));
		goto out_dp;
	}
	if (ports_save(d, NULL)) {
		pr_err("cannot write state file %s: refusing to run without one", d->cfg.state);
		goto out_dp;
	}
	/* A migration in the middle: bridge, announces, retirement carry on. */
	mig_resume_all(d);
	ports_rearm_handover(d);
	pr_info("ready: instance %s, %zu port%s, %s datapath at %s, state %s", d->cfg.instance,
		d->nports, d->nports == 1 ? "" : "s", semi_dp_adopted(d->dp) ? "adopted" : "new",
		semi_dp_pin_dir(d->dp), d->cfg.state);
	sd_notify_msg("READY=1");
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) < 0)
			pr_debug("cannot tell the parent: %s", strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}

	run_loop(d);

	sd_notify_msg("STOPPING=1");
	control_flush_all(d, 500);
	ret = 0;
	if (d->stop == NETD_FLUSHED)
		pr_info("flushed: instance %s removed", d->cfg.instance);
	else
		pr_info("stopped; the datapath of instance %s keeps running", d->cfg.instance);
out_dp:
	hooks_stop(d);
	hold_close(d);
	peermsg_close(d);
	drain_close(d);
	if (d->nev)
		netcfg_events_close(d->nev);
	if (d->nc)
		netcfg_close(d->nc);
	if (d->dp)
		semi_dp_close(d->dp);
	ports_free(d);
out_doc:
	state_doc_free(&doc);
out_control:
	control_close(d);
out_loop:
	if (d->sig.fd >= 0)
		close(d->sig.fd);
	if (d->tfd.fd >= 0)
		close(d->tfd.fd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (ready_fd >= 0)
		close(ready_fd);
out_lock:
	if (d->lock_fd >= 0)
		close(d->lock_fd);
out_free:
	free(d);
	return ret;
}
