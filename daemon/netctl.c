// SPDX-License-Identifier: GPL-2.0
/*
 * semi-netctl: the command line of semi-netd.
 *
 * Table-driven: the verbs, their arguments and their help come from the
 * protocol's command table (proto.c), so the CLI and the daemon cannot
 * disagree on a name or a type.  One request per run (watch: one request,
 * then events); -j prints the reply's JSON, otherwise a table for people.
 *
 * Exit status: 0 ok, 1 refused (the daemon said no, or is not running),
 * 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/proto.h"
#include "daemon/util.h"
#include "loader/log.h"
#include "loader/semi_dp.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static struct {
	bool json;
	bool pretty;
	const char *socket;
	const char *instance;
	const char *pin_root;
	const char *state;
	int timeout_ms;
} g = { .timeout_ms = 30000 };

static char sock_path[NETD_SOCK_MAX];

/* ---- help, generated from the table ---- */

static void arg_usage(const struct arg_spec *a, char *buf, size_t len)
{
	const char *mv = a->metavar ? a->metavar : "VALUE";
	bool req = a->flags & ARGF_REQ;

	if (a->flags & ARGF_POS)
		snprintf(buf, len, req ? "%s" : "[%s]", mv);
	else if (a->type == ARG_BOOL)
		snprintf(buf, len, "[--%s]", a->key);
	else
		snprintf(buf, len, req ? "--%s %s" : "[--%s %s]", a->key, mv);
}

static void verb_synopsis(FILE *f, const struct cmd_spec *c)
{
	char buf[96];

	fprintf(f, "semi-netctl %s", c->words);
	/* Positionals first, in order, then options. */
	for (int pass = 0; pass < 2; pass++) {
		for (const struct arg_spec *a = c->args; a->key; a++) {
			if (!!(a->flags & ARGF_POS) != (pass == 0))
				continue;
			arg_usage(a, buf, sizeof(buf));
			fprintf(f, " %s", buf);
		}
	}
	fputc('\n', f);
}

static void verb_help(FILE *f, const struct cmd_spec *c)
{
	fprintf(f, "usage: ");
	verb_synopsis(f, c);
	fprintf(f, "\n%s.\n", c->summary);
	if (c->help)
		fprintf(f, "%s\n", c->help);
	if (c->args[0].key)
		fprintf(f, "\n");
	for (const struct arg_spec *a = c->args; a->key; a++) {
		char left[64];

		if (a->flags & ARGF_POS)
			snprintf(left, sizeof(left), "%s", a->metavar ? a->metavar : a->key);
		else if (a->type == ARG_BOOL)
			snprintf(left, sizeof(left), "--%s", a->key);
		else
			snprintf(left, sizeof(left), "--%s %s", a->key,
				 a->metavar ? a->metavar : "");
		fprintf(f, "  %-22s %s%s\n", left, a->help ? a->help : "",
			a->flags & ARGF_REQ ? " (required)" : "");
	}
	fprintf(f, "\nexample: %s\n", c->example);
	fprintf(f, "protocol: {\"cmd\":\"%s\",\"args\":{...}}\n", c->cmd);
}

static void usage(FILE *f, const char *prefix)
{
	fprintf(f,
		"usage: semi-netctl [-j] [-p] [-s SOCKET] [-i INSTANCE] [-t MS] VERB [ARGS]\n"
		"\n"
		"  -j, --json          JSON output (the reply's result; watch: one event a line)\n"
		"  -p, --pretty        indented JSON (with -j)\n"
		"  -s, --socket PATH   semi-netd's control socket\n"
		"  -i, --instance NAME the instance (default socket %s/semi-netd[.NAME].sock)\n"
		"      --pin-root DIR  (flush without a daemon) bpffs root, default %s\n"
		"      --state FILE    (flush without a daemon) state file\n"
		"  -t, --timeout MS    how long to wait for a reply (default 30000)\n"
		"  -h, --help          this help; 'semi-netctl VERB --help' for one verb\n"
		"\nverbs:\n", NETD_RUN_DIR, SEMI_PIN_ROOT_DEFAULT);
	for (int i = 0; i < CMD_COUNT; i++) {
		const struct cmd_spec *c = &proto_cmds[i];

		if (prefix && strncmp(c->words, prefix, strlen(prefix)))
			continue;
		fprintf(f, "  %-14s %s\n", c->words, c->summary);
	}
	fprintf(f, "\nexit status: 0 ok, 1 refused (or semi-netd not running), 2 usage\n");
}

/* ---- building the request from the command line ---- */

static int usage_err(const struct cmd_spec *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_err(const struct cmd_spec *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "semi-netctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: ");
	verb_synopsis(stderr, c);
	fprintf(stderr, "('semi-netctl %s --help' for more)\n", c->words);
	return EXIT_USAGE;
}

static int parse_value(const struct cmd_spec *c, const struct arg_spec *a, const char *s,
		       json_object **out)
{
	struct proto_error err;
	json_object *v;
	char *end;

	if ((a->flags & ARGF_NULL) && !strcmp(s, "none")) {
		*out = NULL;
		return 0;
	}
	switch (a->type) {
	case ARG_VLAN:
	case ARG_UINT: {
		long long n;

		errno = 0;
		n = strtoll(s, &end, 10);
		if (!*s || *end || errno)
			return usage_err(c, "--%s wants a number, not '%s'", a->key, s);
		v = json_object_new_int64(n);
		break;
	}
	case ARG_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
			v = json_object_new_boolean(1);
		else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
			v = json_object_new_boolean(0);
		else
			return usage_err(c, "--%s wants true or false, not '%s'", a->key, s);
		break;
	default:
		v = json_object_new_string(s);
		break;
	}
	if (proto_check_value(c, a, v, &err)) {
		json_object_put(v);
		return usage_err(c, "%s", err.message);
	}
	*out = v;
	return 0;
}

/* args gets the protocol arguments, local the semi-netctl-only ones. */
static int parse_args(const struct cmd_spec *c, int argc, char **argv, json_object *args,
		      json_object *local)
{
	const struct arg_spec *pos[8];
	int npos = 0, ipos = 0;

	for (const struct arg_spec *a = c->args; a->key; a++)
		if ((a->flags & ARGF_POS) && npos < 8)
			pos[npos++] = a;
	for (int i = 0; i < argc; i++) {
		const struct arg_spec *a = NULL;
		const char *arg = argv[i], *val = NULL;
		char key[32];
		json_object *v;
		bool neg = false;
		int ret;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			verb_help(stdout, c);
			return -1;
		}
		if (!strncmp(arg, "--", 2) && arg[2]) {
			const char *eq = strchr(arg + 2, '=');
			size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

			if (n >= sizeof(key))
				return usage_err(c, "unknown option '%s'", arg);
			memcpy(key, arg + 2, n);
			key[n] = '\0';
			for (char *k = key; *k; k++)
				if (*k == '-')
					*k = '_';
			a = proto_arg_find(c, key);
			if (!a && !strncmp(key, "no_", 3)) {
				a = proto_arg_find(c, key + 3);
				neg = a && a->type == ARG_BOOL;
				if (!neg)
					a = NULL;
			}
			if (!a || (a->flags & ARGF_POS))
				return usage_err(c, "unknown option '%s'", arg);
			if (a->type == ARG_BOOL && !eq) {
				v = json_object_new_boolean(!neg);
			} else {
				val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
				if (!val)
					return usage_err(c, "--%s needs a value", a->key);
				ret = parse_value(c, a, val, &v);
				if (ret)
					return ret;
			}
		} else {
			if (ipos >= npos)
				return usage_err(c, "unexpected argument '%s'", arg);
			a = pos[ipos++];
			ret = parse_value(c, a, arg, &v);
			if (ret)
				return ret;
		}
		json_object_object_add(a->flags & ARGF_LOCAL ? local : args, a->key, v);
	}
	for (const struct arg_spec *a = c->args; a->key; a++) {
		if ((a->flags & ARGF_REQ) && !json_object_object_get_ex(args, a->key, NULL))
			return usage_err(c, a->flags & ARGF_POS ? "%s is required" :
					 "--%s is required", a->flags & ARGF_POS && a->metavar ?
					 a->metavar : a->key);
	}
	return 0;
}

/* ---- talking to the daemon ---- */

static int connect_daemon(int *fdp, int *errp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "semi-netctl: socket path %s is too long\n", sock_path);
		return EXIT_USAGE;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "semi-netctl: socket: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*errp = errno;
		close(fd);
		return EXIT_REFUSED;
	}
	*fdp = fd;
	return EXIT_OK;
}

static void explain_connect(int err)
{
	if (err == ENOENT)
		fprintf(stderr, "semi-netctl: semi-netd is not running: no socket at %s "
			"(start semi-netd, or name the socket with -s or the instance with -i)\n",
			sock_path);
	else if (err == ECONNREFUSED)
		fprintf(stderr, "semi-netctl: semi-netd is not running: nothing listens on %s "
			"(a stale socket)\n", sock_path);
	else if (err == EACCES || err == EPERM)
		fprintf(stderr, "semi-netctl: permission denied on %s: semi-netctl needs root, "
			"or membership of semi-netd's socket_group\n", sock_path);
	else
		fprintf(stderr, "semi-netctl: cannot connect to semi-netd at %s: %s\n", sock_path,
			strerror(err));
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Next JSON object from the daemon, waiting at most until deadline (ms,
 * CLOCK_MONOTONIC; 0 = forever).  NULL on EOF, timeout or bad data, with
 * *why set.
 */
static json_object *read_obj(int fd, struct linebuf *lb, int64_t deadline, const char **why)
{
	for (;;) {
		char *line, *space;
		size_t len, size;
		enum lb_result r = linebuf_next(lb, &line, &len);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left;
		ssize_t n;

		if (r == LB_LINE) {
			json_object *o = json_tokener_parse(line);

			if (o && json_object_is_type(o, json_type_object))
				return o;
			json_object_put(o);
			*why = "semi-netd sent something that is not a JSON object";
			return NULL;
		}
		if (r == LB_TOO_LONG)
			continue;
		left = deadline ? deadline - mono_ms() : -1;
		if (deadline && left <= 0) {
			*why = "timed out waiting for semi-netd";
			return NULL;
		}
		if (interrupted) {
			*why = "interrupted";
			return NULL;
		}
		if (poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left) < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			return NULL;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (linebuf_space(lb, &space, &size)) {
			*why = "out of memory";
			return NULL;
		}
		n = recv(fd, space, size, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = n < 0 ? strerror(errno) : "semi-netd closed the connection";
			return NULL;
		}
		linebuf_commit(lb, (size_t)n);
	}
}

/* ---- printing ---- */

static const char *jstr(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, key, &v);
	return v;
}

static void print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, (g.pretty ? JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_SPACED :
								  JSON_C_TO_STRING_PLAIN) |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
}

static const char *dev_col(json_object *p, const char *role, char *buf, size_t len)
{
	json_object *d = jget(p, role);

	if (!d)
		return "-";
	snprintf(buf, len, "%s%s", jstr(d, "name", "?"),
		 json_object_get_boolean(jget(d, "present")) ? "" : " (absent)");
	return buf;
}

static void print_port_row_head(void)
{
	printf("%-15s %-9s %-11s %-17s %4s  %-20s %-20s %-6s %s\n", "PORT", "STATE", "MODE",
	       "MAC", "VLAN", "VF", "TAP", "PATH", "TX");
}

static void print_port_row(json_object *p)
{
	char vf[40], tap[40];

	printf("%-15s %-9s %-11s %-17s %4" PRId64 "  %-20s %-20s %-6s %s\n",
	       jstr(p, "name", "?"), jstr(p, "state", "?"), jstr(p, "mode", "?"),
	       jstr(p, "mac", "?"), jint(p, "vlan"), dev_col(p, "vf", vf, sizeof(vf)),
	       dev_col(p, "tap", tap, sizeof(tap)), jstr(p, "path", "?"), jstr(p, "tx", "?"));
}

/* Host, tunnel and peers: what migrations need. */
static void print_migration_status(json_object *r)
{
	json_object *tun = jget(r, "tunnel"), *peers = jget(r, "peers");
	size_t n = peers ? json_object_array_length(peers) : 0;

	printf("host       %s, bridge %s, tunnel %s", jstr(r, "host", "?"),
	       jstr(r, "bridge", "none"), jstr(tun, "local", "none"));
	if (jget(tun, "local"))
		printf(" udp %" PRId64 " vni %" PRId64, jint(tun, "port"), jint(tun, "vni"));
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(peers, i);

		printf("%s %s %s (next hop %s%s)\n", i ? "          " : "peers     ",
		       jstr(p, "name", "?"), jstr(p, "address", "?"), jstr(p, "next_hop", "unknown"),
		       json_object_get_boolean(jget(p, "usable")) ? "" : ", NOT USABLE");
	}
}

/* The hold device and what holds (the configuration's hold keys). */
static void print_hold_status(json_object *h)
{
	static const char *const keys[] = { "unplug", "incoming", "plug" };
	const char *sep = "";

	if (!h) {
		printf("hold       off\n");
		return;
	}
	printf("hold       device %s, holds at ", jstr(h, "device", "?"));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_get_boolean(jget(h, keys[i]))) {
			printf("%s%s", sep, keys[i]);
			sep = ", ";
		}
	}
	printf("%s; max %" PRId64 " ms, %" PRId64 " stray\n", *sep ? "" : "none",
	       jint(h, "max_ms"), jint(h, "stray"));
}

static void print_status(json_object *r)
{
	json_object *up = jget(r, "uplink"), *ports = jget(r, "ports"), *st = jget(r, "states");
	size_t n = ports ? json_object_array_length(ports) : 0;

	printf("instance   %s (semi-netd %s, pid %" PRId64 ", up %" PRId64 " s)\n",
	       jstr(r, "instance", "?"), jstr(r, "version", "?"), jint(r, "pid"),
	       jint(r, "uptime_ms") / 1000);
	printf("datapath   %s (%s)\n", jstr(r, "pin_dir", "?"),
	       json_object_get_boolean(jget(r, "adopted")) ? "adopted" : "created by this daemon");
	printf("state      %s (generation %" PRId64 "%s)\n", jstr(r, "state_file", "?"),
	       jint(r, "generation"),
	       json_object_get_boolean(jget(r, "state_file_ok")) ? "" : ", LAST WRITE FAILED");
	printf("socket     %s, %" PRId64 " client%s, %" PRId64 " watching\n",
	       jstr(r, "socket", "?"), jint(r, "clients"), jint(r, "clients") == 1 ? "" : "s",
	       jint(r, "watchers"));
	if (up)
		printf("uplink     %s (%s, xdp %s%s)\n", jstr(up, "name", "?"),
		       json_object_get_boolean(jget(up, "attached")) ? "attached" : "NOT ATTACHED",
		       jstr(up, "xdp_mode", "?"),
		       json_object_get_boolean(jget(up, "xdp_native")) ? ", native" : "");
	else
		printf("uplink     none configured\n");
	print_migration_status(r);
	print_hold_status(jget(r, "hold"));
	printf("ports      %zu", n);
	if (st) {
		const char *sep = ": ";

		json_object_object_foreach(st, k, v) {
			if (json_object_get_int64(v)) {
				printf("%s%s %" PRId64, sep, k, json_object_get_int64(v));
				sep = ", ";
			}
		}
	}
	printf("\n");
	if (!n)
		return;
	printf("\n");
	print_port_row_head();
	for (size_t i = 0; i < n; i++)
		print_port_row(json_object_array_get_idx(ports, i));
}

static void print_ctrs(const char *title, json_object *o)
{
	printf("  %-10s", title);
	json_object_object_foreach(o, k, v) {
		printf(" %s %" PRId64 " pkts/%" PRId64 " B ", k, jint(v, "packets"),
		       jint(v, "bytes"));
	}
	printf("\n");
}

static void print_drops(json_object *drop, bool all)
{
	bool any = false;

	json_object_object_foreach(drop, k, v) {
		if (!all && !json_object_get_int64(v))
			continue;
		printf("%s %s %" PRId64, any ? "," : "  drops     ", k, json_object_get_int64(v));
		any = true;
	}
	if (any)
		printf("\n");
}

static void print_port_detail(json_object *p)
{
	char vf[40], tap[40];
	json_object *st = jget(p, "stats"), *m, *a;

	printf("port %s (id %" PRId64 ")\n", jstr(p, "name", "?"), jint(p, "id"));
	printf("  state      %s%s%s%s\n", jstr(p, "state", "?"),
	       strcmp(jstr(p, "handover", "none"), "none") ? " (" : "",
	       strcmp(jstr(p, "handover", "none"), "none") ? jstr(p, "handover", "") : "",
	       strcmp(jstr(p, "handover", "none"), "none") ? ")" : "");
	printf("  mode       %s\n", jstr(p, "mode", "?"));
	printf("  mac        %s  vlan %" PRId64 "\n", jstr(p, "mac", "?"), jint(p, "vlan"));
	printf("  vf         %s%s\n", dev_col(p, "vf", vf, sizeof(vf)),
	       jget(p, "vf") && json_object_get_boolean(jget(jget(p, "vf"), "xdp")) ?
	       " [xdp]" : "");
	printf("  tap        %s%s\n", dev_col(p, "tap", tap, sizeof(tap)),
	       jget(p, "tap") && json_object_get_boolean(jget(jget(p, "tap"), "xdp")) ?
	       " [xdp]" : "");
	printf("  path       rx %s, tx from %s%s\n", jstr(p, "path", "?"), jstr(p, "tx", "?"),
	       json_object_get_boolean(jget(p, "tunnel_in")) ? ", takes tunnel frames" : "");
	if ((m = jget(p, "migration")))
		printf("  migration  %s, %s %s (began in %s)%s\n", jstr(m, "role", "?"),
		       strcmp(jstr(m, "role", ""), "source") ? "from" : "to",
		       jstr(m, "peer", "(not yet)"), jstr(m, "origin", "?"),
		       jget(m, "announce_seen_ms") ? ", its announce came back" : "");
	if ((a = jget(p, "announce")))
		printf("  announce   %" PRId64 " rounds so far\n", jint(a, "rounds"));
	if ((a = jget(p, "addresses"))) {
		json_object *v4 = jget(a, "ipv4"), *v6 = jget(a, "ipv6");
		size_t n4 = v4 ? json_object_array_length(v4) : 0;
		size_t n6 = v6 ? json_object_array_length(v6) : 0;

		if (n4 + n6) {
			printf("  addresses ");
			for (size_t i = 0; i < n4; i++)
				printf(" %s", json_object_get_string(json_object_array_get_idx(v4, i)));
			for (size_t i = 0; i < n6; i++)
				printf(" %s", json_object_get_string(json_object_array_get_idx(v6, i)));
			printf("\n");
		}
	}
	if ((a = jget(p, "hold"))) {
		if (json_object_get_boolean(jget(a, "active")))
			printf("  hold       %s: holding %" PRId64 " frames (%" PRId64 " held, %" PRId64
			       " dropped)\n", jstr(a, "kind", "?"), jint(a, "queued"), jint(a, "held"),
			       jint(a, "dropped"));
		else
			printf("  hold       %s, released: %" PRId64 " held, %" PRId64 " released, %"
			       PRId64 " dropped\n", jstr(a, "kind", "?"), jint(a, "held"),
			       jint(a, "released"), jint(a, "dropped"));
	}
	if (st) {
		print_ctrs("rx", jget(st, "rx"));
		print_ctrs("tx", jget(st, "tx"));
		print_drops(jget(st, "drop"), false);
	}
}

static void print_stats(json_object *r)
{
	json_object *inst = jget(r, "instance"), *ports = jget(r, "ports");
	size_t n = ports ? json_object_array_length(ports) : 0;

	if (inst) {
		printf("instance\n");
		json_object_object_foreach(inst, k, v) {
			if (!strcmp(k, "drop"))
				continue;
			printf("  %-10s %12" PRId64 " pkts %14" PRId64 " bytes\n", k,
			       jint(v, "packets"), jint(v, "bytes"));
		}
		print_drops(jget(inst, "drop"), false);
		if (!n)
			return;
		printf("\n%-15s %-9s %12s %12s %12s %12s %12s\n", "PORT", "STATE", "RX_VF",
		       "RX_TAP", "TX_VF", "TX_TAP", "DROPS");
		for (size_t i = 0; i < n; i++) {
			json_object *p = json_object_array_get_idx(ports, i);
			json_object *rx = jget(p, "rx"), *tx = jget(p, "tx");
			int64_t drops = 0;

			json_object_object_foreach(jget(p, "drop"), dk, dv) {
				(void)dk;
				drops += json_object_get_int64(dv);
			}
			printf("%-15s %-9s %12" PRId64 " %12" PRId64 " %12" PRId64 " %12" PRId64
			       " %12" PRId64 "\n", jstr(p, "name", "?"), jstr(p, "state", "?"),
			       jint(jget(rx, "vf"), "packets"), jint(jget(rx, "tap"), "packets"),
			       jint(jget(tx, "vf"), "packets"), jint(jget(tx, "tap"), "packets"),
			       drops);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(ports, i);

		printf("port %s (%s)\n", jstr(p, "name", "?"), jstr(p, "state", "?"));
		print_ctrs("rx", jget(p, "rx"));
		print_ctrs("tx", jget(p, "tx"));
		printf("  %-10s %" PRId64 " pkts/%" PRId64 " B\n", "tx_local",
		       jint(jget(p, "tx_local"), "packets"), jint(jget(p, "tx_local"), "bytes"));
		printf("  %-10s %" PRId64 " pkts/%" PRId64 " B\n", "remote_src",
		       jint(jget(p, "remote_src"), "packets"),
		       jint(jget(p, "remote_src"), "bytes"));
		print_drops(jget(p, "drop"), true);
	}
}

static void print_event(json_object *ev)
{
	const char *type = jstr(ev, "event", "?");
	char ts[32] = "";
	int64_t ms = jint(ev, "time_ms");
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms && localtime_r(&t, &tm))
		snprintf(ts, sizeof(ts), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(ms % 1000));
	if (!strcmp(type, "state")) {
		printf("%s %s state %s -> %s (%s), path %s, tx %s\n", ts, jstr(ev, "port", "?"),
		       jstr(ev, "from", "?"), jstr(ev, "to", "?"), jstr(ev, "cause", "?"),
		       jstr(ev, "path", "?"), jstr(ev, "tx", "?"));
	} else if (!strcmp(type, "stats")) {
		printf("%s %s stats", ts, jstr(ev, "port", "?"));
		json_object_object_foreach(jget(ev, "rx"), k, v)
			printf(" rx_%s +%" PRId64, k, jint(v, "packets"));
		json_object_object_foreach(jget(ev, "tx"), k2, v2)
			printf(" tx_%s +%" PRId64, k2, jint(v2, "packets"));
		json_object_object_foreach(jget(ev, "drop"), k3, v3)
			printf(" drop_%s +%" PRId64, k3, json_object_get_int64(v3));
		printf("\n");
	} else if (!strcmp(type, "device")) {
		printf("%s %s %s %s %s (ifindex %" PRId64 ")\n", ts, jstr(ev, "port", "?"),
		       jstr(ev, "role", "?"), jstr(ev, "device", "?"), jstr(ev, "action", "?"),
		       jint(ev, "ifindex"));
	} else if (!strcmp(type, "port")) {
		printf("%s %s %s%s%s\n", ts, jstr(ev, "port", "?"), jstr(ev, "action", "?"),
		       jget(ev, "reason") ? " " : "", jstr(ev, "reason", ""));
	} else if (!strcmp(type, "migration")) {
		printf("%s %s migration %s%s%s\n", ts, jstr(ev, "port", "?"),
		       jstr(ev, "action", "?"), jget(ev, "peer") ? " " : "", jstr(ev, "peer", ""));
	} else if (!strcmp(type, "announce")) {
		if (jget(ev, "stopped"))
			printf("%s %s announce stopped after %" PRId64 " rounds (%s)\n", ts,
			       jstr(ev, "port", "?"), jint(ev, "round"), jstr(ev, "stopped", "?"));
		else
			printf("%s %s announce round %" PRId64 ": %" PRId64 " frames\n", ts,
			       jstr(ev, "port", "?"), jint(ev, "round"), jint(ev, "frames"));
	} else if (!strcmp(type, "overflow")) {
		printf("(%" PRId64 " events dropped: this client read too slowly)\n",
		       jint(ev, "dropped"));
	} else {
		printf("%s %s\n", ts, json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	}
	fflush(stdout);
}

static void print_result(const struct cmd_spec *c, json_object *r, json_object *args)
{
	json_object *w, *ports;

	if (g.json) {
		print_json(r);
		return;
	}
	switch (c->id) {
	case CMD_STATUS:
		print_status(r);
		break;
	case CMD_PORT_ADD:
	case CMD_PORT_SET:
		printf("port %s %s: %s, path %s\n", jstr(r, "name", "?"),
		       c->id == CMD_PORT_ADD ? "added" : "changed", jstr(r, "state", "?"),
		       jstr(r, "path", "?"));
		w = jget(r, "warnings");
		for (size_t i = 0; w && i < json_object_array_length(w); i++)
			fprintf(stderr, "semi-netctl: note: %s\n",
				json_object_get_string(json_object_array_get_idx(w, i)));
		break;
	case CMD_PORT_DEL:
		printf("port %s deleted\n", jstr(r, "name", "?"));
		break;
	case CMD_PORT_SHOW:
		ports = jget(r, "ports");
		for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
			if (i)
				printf("\n");
			print_port_detail(json_object_array_get_idx(ports, i));
		}
		if (!ports || !json_object_array_length(ports))
			printf("no ports\n");
		break;
	case CMD_SWITCH:
		if (json_object_get_boolean(jget(r, "changed")))
			printf("%s: %s -> %s, path %s\n", jstr(r, "name", "?"),
			       jstr(r, "from", "?"), jstr(r, "state", "?"), jstr(r, "path", "?"));
		else
			printf("%s: already %s, path %s\n", jstr(r, "name", "?"),
			       jstr(r, "state", "?"), jstr(r, "path", "?"));
		break;
	case CMD_STATS:
		print_stats(r);
		break;
	case CMD_WATCH:
		fprintf(stderr, "watching%s%s%s (Ctrl-C to stop)\n",
			args_str(args, "port", NULL) ? " port " : "",
			args_str(args, "port", ""),
			json_object_get_boolean(jget(r, "stats")) ? ", with counter deltas" : "");
		break;
	case CMD_FLUSH:
		printf("flushed: %s removed, state file %s removed; semi-netd stopped\n",
		       jstr(r, "pin_dir", "?"), jstr(r, "state_file", "?"));
		break;
	case CMD_MIGRATE_IN:
		printf("%s: incoming from %s, path %s (tunnel frames taken)\n", jstr(r, "name", "?"),
		       jstr(jget(r, "migration"), "peer", "?"), jstr(r, "path", "?"));
		w = jget(r, "warnings");
		for (size_t i = 0; w && i < json_object_array_length(w); i++)
			fprintf(stderr, "semi-netctl: note: %s\n",
				json_object_get_string(json_object_array_get_idx(w, i)));
		break;
	case CMD_MIGRATE_OUT:
	case CMD_MIGRATE_DONE:
		if (jget(r, "changed") && !json_object_get_boolean(jget(r, "changed")))
			printf("%s: already %s, path %s", jstr(r, "name", "?"),
			       jstr(r, "state", "?"), jstr(r, "path", "?"));
		else
			printf("%s: %s -> %s, path %s", jstr(r, "name", "?"), jstr(r, "from", "?"),
			       jstr(r, "state", "?"), jstr(r, "path", "?"));
		if (!strcmp(jstr(r, "path", ""), "tunnel"))
			printf(" to %s", jstr(jget(r, "migration"), "peer", "?"));
		if (jget(r, "drained"))	/* --to: what QEMU left in the tap */
			printf("; %" PRId64 " frames drained from the tap", jint(r, "drained"));
		if (jint(r, "drain_failed"))
			printf(", %" PRId64 " could not be sent", jint(r, "drain_failed"));
		/* The hold path: frames parked while the guest takes none. */
		if (json_object_get_boolean(jget(jget(r, "hold"), "active")))
			printf("; holding (%" PRId64 " frames)", jint(r, "held"));
		else if (jget(r, "released"))
			printf("; %" PRId64 " held frames released, %" PRId64 " dropped",
			       jint(r, "released"), jint(r, "hold_dropped"));
		printf("%s\n", c->id == CMD_MIGRATE_DONE ? "; announcing" : "");
		break;
	case CMD_MIGRATE_ABORT:
		if (!json_object_get_boolean(jget(r, "aborted")))
			printf("%s: nothing to abort (%s), %s\n", jstr(r, "name", "?"),
			       jstr(r, "reason", "?"), jstr(r, "state", "?"));
		else if (json_object_get_boolean(jget(r, "removed")))
			printf("%s: aborted: removed (it was %s)\n", jstr(r, "name", "?"),
			       jstr(r, "from", "?"));
		else
			printf("%s: aborted: %s -> %s, path %s\n", jstr(r, "name", "?"),
			       jstr(r, "from", "?"), jstr(r, "state", "?"), jstr(r, "path", "?"));
		break;
	case CMD_ANNOUNCE:
		printf("%s: announcing (round %" PRId64 " sent)\n", jstr(r, "name", "?"),
		       jint(jget(r, "announce"), "rounds"));
		break;
	default:
		print_json(r);
		break;
	}
}

/* flush with no daemon: remove the instance ourselves. */
static int offline_flush(void)
{
	char state[PATH_MAX];
	const char *inst = g.instance ? g.instance : "default";
	int err;

	if (g.state)
		snprintf(state, sizeof(state), "%s", g.state);
	else
		config_default_state(inst, state, sizeof(state));
	semi_log_set_prefix("semi-netctl");
	err = semi_dp_purge(g.pin_root, inst);
	if (err && err != -ENOENT)
		return EXIT_REFUSED;
	if (unlink(state) < 0 && errno != ENOENT) {
		fprintf(stderr, "semi-netctl: cannot remove state file %s: %s\n", state,
			strerror(errno));
		return EXIT_REFUSED;
	}
	if (g.json)
		printf("{\"flushed\":%s,\"offline\":true,\"instance\":\"%s\"}\n",
		       err == -ENOENT ? "false" : "true", inst);
	else
		printf("semi-netd is not running: %s instance %s under %s, state file %s\n",
		       err == -ENOENT ? "nothing pinned for" : "removed", inst,
		       g.pin_root ? g.pin_root : SEMI_PIN_ROOT_DEFAULT, state);
	return EXIT_OK;
}

static int run_watch(int fd, struct linebuf *lb, json_object *local)
{
	int64_t count = jint(local, "count"), seen = 0;
	int64_t timeout = jint(local, "timeout");
	int64_t deadline = timeout ? mono_ms() + timeout : 0;
	const char *why = NULL;

	while (!count || seen < count) {
		json_object *ev = read_obj(fd, lb, deadline, &why);

		if (!ev)
			break;
		if (jget(ev, "event")) {
			if (g.json)
				print_json(ev);
			else
				print_event(ev);
			fflush(stdout);
			seen++;
		}
		json_object_put(ev);
	}
	if (why && !interrupted && strcmp(why, "timed out waiting for semi-netd")) {
		fprintf(stderr, "semi-netctl: watch ended: %s\n", why);
		return EXIT_REFUSED;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "instance", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "pin-root", required_argument, NULL, 'P' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cmd_spec *cmd = NULL;
	json_object *req, *args, *local, *reply = NULL;
	/* A reply can be long (status of thousands of ports), unlike a request. */
	struct linebuf lb = { .max_line = NETCTL_MAX_REPLY };
	const char *why = NULL, *env;
	int c, fd = -1, err = 0, ret, nwords = 0, send_err = 0;
	bool want_help = false;
	char *line;
	size_t len;

	while ((c = getopt_long(argc, argv, "+jps:i:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			g.json = true;
			break;
		case 'p':
			g.pretty = true;
			break;
		case 's':
			g.socket = optarg;
			break;
		case 'i':
			g.instance = optarg;
			break;
		case 't':
			g.timeout_ms = atoi(optarg);
			if (g.timeout_ms <= 0) {
				fprintf(stderr, "semi-netctl: bad timeout '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'P':
			g.pin_root = optarg;
			break;
		case 'S':
			g.state = optarg;
			break;
		case 'h':
			usage(stdout, NULL);
			return EXIT_OK;
		default:
			usage(stderr, NULL);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr, NULL);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		want_help = true;
		optind++;
		if (optind >= argc) {
			usage(stdout, NULL);
			return EXIT_OK;
		}
	}
	/* The longest verb that the words match: "port add" before "port". */
	for (int i = 0; i < CMD_COUNT; i++) {
		const struct cmd_spec *cs = &proto_cmds[i];
		char words[32], *save = NULL, *w;
		int n = 0;
		bool match = true;

		snprintf(words, sizeof(words), "%s", cs->words);
		for (w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
			if (optind + n >= argc || strcmp(argv[optind + n], w))
				match = false;
		if (match && n > nwords) {
			cmd = cs;
			nwords = n;
		}
	}
	if (!cmd) {
		bool group = false;

		for (int i = 0; i < CMD_COUNT; i++)
			if (!strncmp(proto_cmds[i].words, argv[optind], strlen(argv[optind])) &&
			    proto_cmds[i].words[strlen(argv[optind])] == ' ')
				group = true;
		if (group) {
			fprintf(stderr, "semi-netctl: '%s' needs a sub-command\n", argv[optind]);
			usage(stderr, argv[optind]);
		} else {
			fprintf(stderr, "semi-netctl: unknown verb '%s'\n", argv[optind]);
			usage(stderr, NULL);
		}
		return EXIT_USAGE;
	}
	if (want_help) {
		verb_help(stdout, cmd);
		return EXIT_OK;
	}

	args = json_object_new_object();
	local = json_object_new_object();
	ret = parse_args(cmd, argc - optind - nwords, argv + optind + nwords, args, local);
	if (ret) {
		json_object_put(args);
		json_object_put(local);
		return ret < 0 ? EXIT_OK : ret;
	}

	if (g.socket)
		snprintf(sock_path, sizeof(sock_path), "%s", g.socket);
	else if ((env = getenv("SEMI_NETD_SOCKET")) && *env)
		snprintf(sock_path, sizeof(sock_path), "%s", env);
	else
		config_default_socket(g.instance, sock_path, sizeof(sock_path));

	ret = connect_daemon(&fd, &err);
	if (ret) {
		if (cmd->id == CMD_FLUSH && (err == ENOENT || err == ECONNREFUSED))
			ret = offline_flush();
		else if (err)
			explain_connect(err);
		goto out_args;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	signal(SIGPIPE, SIG_IGN);

	req = json_object_new_object();
	json_object_object_add(req, "id", json_object_new_int(1));
	json_object_object_add(req, "cmd", json_object_new_string(cmd->cmd));
	json_object_object_add(req, "args", json_object_get(args));
	line = proto_line(req, &len);
	json_object_put(req);
	/*
	 * A refused client (credentials, too many clients) is told why on
	 * connect and closed: read that even when the send fails.
	 */
	if (!line || write_all(fd, line, len, MSG_NOSIGNAL))
		send_err = line ? errno : ENOMEM;
	free(line);
	/* The reply is the object with our id; events before it are not ours. */
	for (;;) {
		reply = read_obj(fd, &lb, mono_ms() + (send_err ? 1000 : g.timeout_ms), &why);
		if (!reply || !jget(reply, "event"))
			break;
		json_object_put(reply);
	}
	if (!reply) {
		if (send_err)
			fprintf(stderr, "semi-netctl: cannot send to semi-netd at %s: %s\n",
				sock_path, strerror(send_err));
		else
			fprintf(stderr, "semi-netctl: no reply from semi-netd at %s: %s\n",
				sock_path, why);
		ret = EXIT_REFUSED;
		goto out_fd;
	}
	if (!json_object_get_boolean(jget(reply, "ok"))) {
		json_object *e = jget(reply, "error");

		if (g.json)
			print_json(reply);
		fprintf(stderr, "semi-netctl: %s (%s)\n", jstr(e, "message", "refused"),
			jstr(e, "code", "?"));
		ret = EXIT_REFUSED;
		goto out_reply;
	}
	print_result(cmd, jget(reply, "result"), args);
	fflush(stdout);
	ret = EXIT_OK;
	if (cmd->id == CMD_WATCH)
		ret = run_watch(fd, &lb, local);
out_reply:
	json_object_put(reply);
out_fd:
	close(fd);
out_args:
	linebuf_free(&lb);
	json_object_put(args);
	json_object_put(local);
	return ret;
}
