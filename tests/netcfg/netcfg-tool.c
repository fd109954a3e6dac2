// SPDX-License-Identifier: GPL-2.0
/*
 * netcfg-tool: one command per netcfg library call, so the pytest suite can
 * drive the library inside a network namespace and check what the kernel
 * did with iproute2.  Results are JSON on stdout (one object, or one object
 * per line for `events`); failures print the library's message on stderr
 * and exit 1; usage errors exit 2.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "netcfg/netcfg.h"

#define MAX_ADDRS 32

static bool debug;

__attribute__((format(printf, 2, 0)))
static void tool_print(enum netcfg_log_level level, const char *fmt, va_list ap)
{
	static const char *const lvl[] = { "warn", "info", "debug" };

	/* failures are printed once, by fail(); -d shows the library's log */
	if (!debug)
		return;
	fprintf(stderr, "netcfg %s: ", lvl[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2), noreturn))
static void usage_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("netcfg-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (netcfg-tool help)\n", stderr);
	exit(2);
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static int fail(struct netcfg *nc, int err)
{
	fprintf(stderr, "error: %s\n",
		nc && netcfg_last_error(nc)[0] ? netcfg_last_error(nc) :
		strerror(-err));
	return 1;
}

static unsigned long num_arg(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > max)
		usage_fail("bad %s '%s'", what, s);
	return v;
}

static void mac_arg(const char *s, uint8_t mac[NETCFG_ETH_ALEN])
{
	if (netcfg_mac_parse(s, mac))
		usage_fail("bad MAC '%s'", s);
}

static bool onoff_arg(const char *s)
{
	if (!strcmp(s, "on"))
		return true;
	if (!strcmp(s, "off"))
		return false;
	usage_fail("expected on or off, got '%s'", s);
}

static json_object *mac_json(const uint8_t mac[NETCFG_ETH_ALEN])
{
	char buf[NETCFG_MAC_STRLEN];

	return json_object_new_string(netcfg_mac_str(mac, buf));
}

static json_object *link_json(const struct netcfg_link *l)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ifindex", json_object_new_int(l->ifindex));
	json_object_object_add(o, "name", json_object_new_string(l->name));
	json_object_object_add(o, "mac", mac_json(l->mac));
	json_object_object_add(o, "mtu", json_object_new_int64(l->mtu));
	json_object_object_add(o, "flags", json_object_new_int64(l->flags));
	json_object_object_add(o, "operstate",
			       json_object_new_string(netcfg_operstate_str(l->operstate)));
	json_object_object_add(o, "carrier", json_object_new_boolean(l->carrier));
	json_object_object_add(o, "master", json_object_new_int(l->master));
	json_object_object_add(o, "kind", json_object_new_string(l->kind));
	json_object_object_add(o, "port_kind", json_object_new_string(l->port_kind));
	return o;
}

/* ------------------------------------------------------------------ */

static int cmd_link(struct netcfg *nc, int argc, char **argv)
{
	struct netcfg_link l;
	char *end;
	long idx;
	int err;

	if (argc != 1)
		usage_fail("link: expected DEV or IFINDEX");
	idx = strtol(argv[0], &end, 10);
	if (*argv[0] && !*end)
		err = netcfg_link_get(nc, (int)idx, &l);
	else
		err = netcfg_link_get_by_name(nc, argv[0], &l);
	if (err)
		return fail(nc, err);
	print_json(link_json(&l));
	return 0;
}

static const char *const ev_names[] = { "added", "removed", "changed" };
static const char *const chg_names[] = {
	"name", "carrier", "operstate", "flags", "mac", "mtu", "master", "features",
};

static int ev_seen, ev_want;

static void ev_cb(const struct netcfg_link_event *e, void *arg)
{
	json_object *o = link_json(&e->link), *chg = json_object_new_array();
	struct timespec ts;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (i = 0; i < sizeof(chg_names) / sizeof(chg_names[0]); i++)
		if (e->changes & (1u << i))
			json_object_array_add(chg, json_object_new_string(chg_names[i]));
	json_object_object_add(o, "event", json_object_new_string(ev_names[e->type]));
	json_object_object_add(o, "changes", chg);
	json_object_object_add(o, "old_name", json_object_new_string(e->old_name));
	json_object_object_add(o, "t_ns",
			       json_object_new_int64((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
	print_json(o);
	ev_seen++;
}

/*
 * events [count N] [timeout MS] [rcvbuf BYTES] [stall MS]: print "ready",
 * then every event until N were seen or nothing came for MS.  `stall`
 * sleeps once after "ready" and `rcvbuf` shrinks the socket buffer, so a
 * test can make the kernel drop notifications and check the resync.
 */
static int cmd_events(struct netcfg *nc, int argc, char **argv)
{
	struct netcfg_events *ev;
	struct epoll_event e = { .events = EPOLLIN }, out;
	unsigned long timeout = 5000, stall = 0, rcvbuf = 0;
	int efd, n, err, i;

	ev_want = -1;
	for (i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage_fail("events: %s needs a value", argv[i]);
		if (!strcmp(argv[i], "count"))
			ev_want = (int)num_arg(argv[i + 1], 1000000, "count");
		else if (!strcmp(argv[i], "timeout"))
			timeout = num_arg(argv[i + 1], 3600000, "timeout");
		else if (!strcmp(argv[i], "stall"))
			stall = num_arg(argv[i + 1], 60000, "stall");
		else if (!strcmp(argv[i], "rcvbuf"))
			rcvbuf = num_arg(argv[i + 1], 1 << 30, "rcvbuf");
		else
			usage_fail("events: unknown option '%s'", argv[i]);
	}

	err = netcfg_events_open(&ev, ev_cb, NULL);
	if (err)
		return fail(NULL, err);
	if (rcvbuf) {
		int v = (int)rcvbuf;

		setsockopt(netcfg_events_fd(ev), SOL_SOCKET, SO_RCVBUFFORCE,
			   &v, sizeof(v));
	}
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, netcfg_events_fd(ev), &e)) {
		perror("epoll");
		netcfg_events_close(ev);
		return 1;
	}
	print_json(json_object_new_string("ready"));
	if (stall)
		usleep((useconds_t)stall * 1000);

	err = 0;
	while (ev_want < 0 || ev_seen < ev_want) {
		n = epoll_wait(efd, &out, 1, (int)timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		err = netcfg_events_process(ev);
		if (err < 0)
			break;
		err = 0;
	}
	close(efd);
	netcfg_events_close(ev);
	return err ? fail(NULL, err) : 0;
}

/* [vlan N] [replace] after PORT MAC */
static int cmd_fdb_set(struct netcfg *nc, int argc, char **argv)
{
	uint8_t mac[NETCFG_ETH_ALEN];
	unsigned int flags = 0;
	uint16_t vlan = 0;
	int i, err;

	if (argc < 2)
		usage_fail("fdb set: expected PORT MAC [vlan N] [replace]");
	mac_arg(argv[1], mac);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "replace"))
			flags |= NETCFG_FDB_REPLACE;
		else if (!strcmp(argv[i], "vlan") && i + 1 < argc)
			vlan = (uint16_t)num_arg(argv[++i], 65535, "vlan");
		else
			usage_fail("fdb set: unknown argument '%s'", argv[i]);
	}
	err = netcfg_fdb_set(nc, argv[0], mac, vlan, flags);
	return err ? fail(nc, err) : 0;
}

static int cmd_fdb_del(struct netcfg *nc, int argc, char **argv)
{
	uint8_t mac[NETCFG_ETH_ALEN];
	uint16_t vlan = 0;
	int err;

	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "vlan")))
		usage_fail("fdb del: expected PORT MAC [vlan N]");
	mac_arg(argv[1], mac);
	if (argc == 4)
		vlan = (uint16_t)num_arg(argv[3], 65535, "vlan");
	err = netcfg_fdb_del(nc, argv[0], mac, vlan);
	return err ? fail(nc, err) : 0;
}

static int cmd_fdb_list(struct netcfg *nc, int argc, char **argv)
{
	struct netcfg_fdb_entry *v;
	uint8_t mac[NETCFG_ETH_ALEN];
	const char *br = NULL;
	bool by_mac = false;
	json_object *arr;
	int i, n;

	for (i = 0; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "br"))
			br = argv[i + 1];
		else if (!strcmp(argv[i], "mac")) {
			mac_arg(argv[i + 1], mac);
			by_mac = true;
		} else
			usage_fail("fdb list: unknown argument '%s'", argv[i]);
	}
	if (i != argc)
		usage_fail("fdb list: expected [br BRIDGE] [mac MAC]");
	n = netcfg_fdb_list(nc, br, by_mac ? mac : NULL, &v);
	if (n < 0)
		return fail(nc, n);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "mac", mac_json(v[i].mac));
		json_object_object_add(o, "vlan", json_object_new_int(v[i].vlan));
		json_object_object_add(o, "ifindex", json_object_new_int(v[i].ifindex));
		json_object_object_add(o, "master", json_object_new_int(v[i].master));
		json_object_object_add(o, "state", json_object_new_int(v[i].state));
		json_object_object_add(o, "flags", json_object_new_int(v[i].flags));
		json_object_array_add(arr, o);
	}
	free(v);
	print_json(arr);
	return 0;
}

static const struct {
	const char *name;
	unsigned int bit;
} brport_names[] = {
	{ "flood", NETCFG_BRPORT_FLOOD },
	{ "mcast_flood", NETCFG_BRPORT_MCAST_FLOOD },
	{ "bcast_flood", NETCFG_BRPORT_BCAST_FLOOD },
	{ "learning", NETCFG_BRPORT_LEARNING },
};
#define N_BRPORT (sizeof(brport_names) / sizeof(brport_names[0]))

static int cmd_brport_set(struct netcfg *nc, int argc, char **argv)
{
	unsigned int mask = 0, flags = 0;
	size_t k;
	int i, err;

	if (argc < 3 || !(argc & 1))
		usage_fail("brport set: expected PORT FLAG on|off ...");
	for (i = 1; i < argc; i += 2) {
		for (k = 0; k < N_BRPORT; k++)
			if (!strcmp(argv[i], brport_names[k].name))
				break;
		if (k == N_BRPORT)
			usage_fail("brport set: unknown flag '%s'", argv[i]);
		mask |= brport_names[k].bit;
		if (onoff_arg(argv[i + 1]))
			flags |= brport_names[k].bit;
	}
	err = netcfg_brport_set_flags(nc, argv[0], mask, flags);
	return err ? fail(nc, err) : 0;
}

static int cmd_brport_get(struct netcfg *nc, int argc, char **argv)
{
	unsigned int flags;
	json_object *o;
	size_t k;
	int err;

	if (argc != 1)
		usage_fail("brport get: expected PORT");
	err = netcfg_brport_get_flags(nc, argv[0], &flags);
	if (err)
		return fail(nc, err);
	o = json_object_new_object();
	for (k = 0; k < N_BRPORT; k++)
		json_object_object_add(o, brport_names[k].name,
				       json_object_new_boolean(flags & brport_names[k].bit));
	print_json(o);
	return 0;
}

static int cmd_vf_count(struct netcfg *nc, int argc, char **argv)
{
	int n;

	if (argc != 1)
		usage_fail("vf count: expected PF");
	n = netcfg_vf_count(nc, argv[0]);
	if (n < 0)
		return fail(nc, n);
	print_json(json_object_new_int(n));
	return 0;
}

static json_object *tri_json(int v)
{
	return v < 0 ? NULL : json_object_new_boolean(v);
}

static int cmd_vf_get(struct netcfg *nc, int argc, char **argv)
{
	static const char *const ls[] = { "auto", "enable", "disable" };
	struct netcfg_vf vf;
	json_object *o;
	int err;

	if (argc != 2)
		usage_fail("vf get: expected PF VF");
	err = netcfg_vf_get(nc, argv[0],
			    (unsigned int)num_arg(argv[1], 65535, "VF"), &vf);
	if (err)
		return fail(nc, err);
	o = json_object_new_object();
	json_object_object_add(o, "mac", mac_json(vf.mac));
	json_object_object_add(o, "vlan", json_object_new_int(vf.vlan));
	json_object_object_add(o, "qos", json_object_new_int(vf.qos));
	json_object_object_add(o, "spoofchk", tri_json(vf.spoofchk));
	json_object_object_add(o, "trust", tri_json(vf.trust));
	json_object_object_add(o, "link_state", vf.link_state < 0 ? NULL :
			       json_object_new_string(ls[vf.link_state]));
	print_json(o);
	return 0;
}

static int cmd_vf_set(struct netcfg *nc, int argc, char **argv)
{
	struct netcfg_vf vf = { 0 };
	unsigned int what = 0;
	int i, err;

	if (argc < 4)
		usage_fail("vf set: expected PF VF SETTING VALUE ...");
	for (i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "mac")) {
			mac_arg(v, vf.mac);
			what |= NETCFG_VF_MAC;
		} else if (!strcmp(k, "vlan")) {
			vf.vlan = (uint16_t)num_arg(v, 65535, "vlan");
			what |= NETCFG_VF_VLAN;
		} else if (!strcmp(k, "qos")) {
			vf.qos = (uint8_t)num_arg(v, 255, "qos");
			what |= NETCFG_VF_VLAN;
		} else if (!strcmp(k, "spoofchk")) {
			vf.spoofchk = onoff_arg(v);
			what |= NETCFG_VF_SPOOFCHK;
		} else if (!strcmp(k, "trust")) {
			vf.trust = onoff_arg(v);
			what |= NETCFG_VF_TRUST;
		} else if (!strcmp(k, "state")) {
			if (!strcmp(v, "auto"))
				vf.link_state = NETCFG_VF_LINK_AUTO;
			else if (!strcmp(v, "enable"))
				vf.link_state = NETCFG_VF_LINK_ENABLE;
			else if (!strcmp(v, "disable"))
				vf.link_state = NETCFG_VF_LINK_DISABLE;
			else
				usage_fail("vf set: state is auto, enable or disable");
			what |= NETCFG_VF_LINK_STATE;
		} else {
			usage_fail("vf set: unknown setting '%s'", k);
		}
	}
	if (i != argc)
		usage_fail("vf set: '%s' needs a value", argv[i]);
	err = netcfg_vf_set(nc, argv[0],
			    (unsigned int)num_arg(argv[1], 65535, "VF"), &vf, what);
	return err ? fail(nc, err) : 0;
}

/* MAC [vlan N] [ip ADDR]... [no-rarp] */
struct ann_args {
	struct netcfg_announce a;
	struct in_addr v4[MAX_ADDRS];
	struct in6_addr v6[MAX_ADDRS];
};

static void ann_parse(int argc, char **argv, struct ann_args *x)
{
	int i;

	memset(x, 0, sizeof(*x));
	mac_arg(argv[0], x->a.mac);
	x->a.ipv4 = x->v4;
	x->a.ipv6 = x->v6;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "no-rarp")) {
			x->a.flags |= NETCFG_ANNOUNCE_NO_RARP;
		} else if (!strcmp(argv[i], "vlan") && i + 1 < argc) {
			x->a.vlan = (uint16_t)num_arg(argv[++i], 65535, "vlan");
		} else if (!strcmp(argv[i], "ip") && i + 1 < argc) {
			const char *s = argv[++i];

			if (x->a.n_ipv4 < MAX_ADDRS &&
			    inet_pton(AF_INET, s, &x->v4[x->a.n_ipv4]) == 1)
				x->a.n_ipv4++;
			else if (x->a.n_ipv6 < MAX_ADDRS &&
				 inet_pton(AF_INET6, s, &x->v6[x->a.n_ipv6]) == 1)
				x->a.n_ipv6++;
			else
				usage_fail("bad address '%s'", s);
		} else {
			usage_fail("unknown argument '%s'", argv[i]);
		}
	}
}

static int cmd_announce(struct netcfg *nc, int argc, char **argv)
{
	struct ann_args x;
	int n;

	if (argc < 2)
		usage_fail("announce: expected DEV MAC [vlan N] [ip ADDR]... [no-rarp]");
	ann_parse(argc - 1, argv + 1, &x);
	n = netcfg_announce_send(nc, argv[0], &x.a);
	if (n < 0)
		return fail(nc, n);
	print_json(json_object_new_int(n));
	return 0;
}

/* build rarp|garp|na MAC [vlan N] [ip ADDR]: the frame in hex */
static int cmd_build(struct netcfg *nc, int argc, char **argv)
{
	uint8_t buf[NETCFG_ANNOUNCE_FRAME_MAX];
	char hex[2 * NETCFG_ANNOUNCE_FRAME_MAX + 1];
	struct ann_args x;
	int len, i;

	if (argc < 2)
		usage_fail("build: expected rarp|garp|na MAC [vlan N] [ip ADDR]");
	ann_parse(argc - 1, argv + 1, &x);
	if (!strcmp(argv[0], "rarp"))
		len = netcfg_announce_build_rarp(buf, sizeof(buf), x.a.mac, x.a.vlan);
	else if (!strcmp(argv[0], "garp") && x.a.n_ipv4 == 1)
		len = netcfg_announce_build_garp(buf, sizeof(buf), x.a.mac,
						 &x.v4[0], x.a.vlan);
	else if (!strcmp(argv[0], "na") && x.a.n_ipv6 == 1)
		len = netcfg_announce_build_na(buf, sizeof(buf), x.a.mac,
					       &x.v6[0], x.a.vlan);
	else
		usage_fail("build: rarp MAC, garp MAC ip IPV4 or na MAC ip IPV6");
	if (len < 0)
		return fail(NULL, len);
	for (i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", buf[i]);
	print_json(json_object_new_string(hex));
	return 0;
}

static int cmd_nexthop(struct netcfg *nc, int argc, char **argv)
{
	char gw[INET6_ADDRSTRLEN], src[INET6_ADDRSTRLEN];
	struct netcfg_nexthop nh;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	json_object *o;
	int family, err;

	if (argc != 1)
		usage_fail("nexthop: expected ADDR");
	family = strchr(argv[0], ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, argv[0], &a) != 1)
		usage_fail("bad address '%s'", argv[0]);
	err = netcfg_nexthop_get(nc, family, &a, &nh);
	if (err && err != -EAGAIN)
		return fail(nc, err);
	o = json_object_new_object();
	json_object_object_add(o, "resolved", json_object_new_boolean(!err));
	json_object_object_add(o, "ifindex", json_object_new_int(nh.ifindex));
	json_object_object_add(o, "gateway", json_object_new_string(
		inet_ntop(family, &nh.gateway, gw, sizeof(gw))));
	json_object_object_add(o, "prefsrc", json_object_new_string(
		inet_ntop(family, &nh.prefsrc, src, sizeof(src))));
	json_object_object_add(o, "state", json_object_new_int(nh.state));
	json_object_object_add(o, "mac", mac_json(nh.mac));
	print_json(o);
	return 0;
}

/* ------------------------------------------------------------------ */

static const struct cmd {
	const char *obj, *verb;
	int (*fn)(struct netcfg *nc, int argc, char **argv);
	const char *args;
} cmds[] = {
	{ "link", NULL, cmd_link, "DEV|IFINDEX" },
	{ "events", NULL, cmd_events, "[count N] [timeout MS] [rcvbuf BYTES] [stall MS]" },
	{ "fdb", "set", cmd_fdb_set, "PORT MAC [vlan N] [replace]" },
	{ "fdb", "del", cmd_fdb_del, "PORT MAC [vlan N]" },
	{ "fdb", "list", cmd_fdb_list, "[br BRIDGE] [mac MAC]" },
	{ "brport", "set", cmd_brport_set, "PORT {flood|mcast_flood|bcast_flood|learning} {on|off} ..." },
	{ "brport", "get", cmd_brport_get, "PORT" },
	{ "vf", "count", cmd_vf_count, "PF" },
	{ "vf", "get", cmd_vf_get, "PF VF" },
	{ "vf", "set", cmd_vf_set, "PF VF [mac MAC] [vlan N] [qos Q] [spoofchk on|off] [trust on|off] [state auto|enable|disable]" },
	{ "announce", NULL, cmd_announce, "DEV MAC [vlan N] [ip ADDR]... [no-rarp]" },
	{ "build", NULL, cmd_build, "rarp|garp|na MAC [vlan N] [ip ADDR]" },
	{ "nexthop", NULL, cmd_nexthop, "ADDR" },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void help(void)
{
	size_t i;

	puts("usage: netcfg-tool [-d] COMMAND ...   (-d: library debug log)");
	for (i = 0; i < N_CMDS; i++)
		printf("  %s%s%s %s\n", cmds[i].obj, cmds[i].verb ? " " : "",
		       cmds[i].verb ? cmds[i].verb : "", cmds[i].args);
}

int main(int argc, char **argv)
{
	const struct cmd *c = NULL;
	struct netcfg *nc;
	int i, skip, err, ret;

	netcfg_set_print(tool_print);
	argv++, argc--;
	if (argc && !strcmp(argv[0], "-d")) {
		debug = true;
		argv++, argc--;
	}
	if (!argc || !strcmp(argv[0], "help")) {
		help();
		return argc ? 0 : 2;
	}
	for (i = 0; i < (int)N_CMDS && !c; i++) {
		if (strcmp(cmds[i].obj, argv[0]))
			continue;
		if (!cmds[i].verb || (argc > 1 && !strcmp(cmds[i].verb, argv[1])))
			c = &cmds[i];
	}
	if (!c)
		usage_fail("unknown command '%s%s%s'", argv[0], argc > 1 ? " " : "",
			   argc > 1 ? argv[1] : "");
	skip = c->verb ? 2 : 1;

	err = netcfg_open(&nc);
	if (err)
		return fail(NULL, err);
	ret = c->fn(nc, argc - skip, argv + skip);
	netcfg_close(nc);
	return ret;
}
