// SPDX-License-Identifier: GPL-2.0
/*
 * semi-dpctl: drive libsemi_dp directly, without semi-netd.  A test and
 * debugging tool: every loader operation is one verb.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader/log.h"
#include "loader/semi_dp.h"

static const char *instance = "default";
static const char *pin_root;
static bool json, trace;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: semi-dpctl [-i INSTANCE] [-p PIN_ROOT] [-j] [-v] [--trace] VERB ...\n"
		"verbs:\n"
		"  load                           adopt the pinned instance or create it\n"
		"  attach-uplink DEV [auto|native|off]\n"
		"  attach-port DEV                semi_port on clsact ingress of DEV\n"
		"  detach DEV\n"
		"  attachments\n"
		"  port-put NAME MAC [vlan N] [vf DEV] [tap DEV] [path P] [tx vf|tap|all|none]\n"
		"  port-del NAME\n"
		"  port-show [NAME]\n"
		"  refresh NAME                   re-check XDP capability of the port's devices\n"
		"  path NAME PATH [tx MASK]       PATH: none vf tap both tunnel\n"
		"  flip NAME PATH1 PATH2 COUNT USEC   alternate the path COUNT times\n"
		"  bulk-flip PREFIX N PATH1 PATH2 COUNT USEC\n"
		"                                 ports PREFIX0..PREFIX<N-1>, one bank flip each\n"
		"  stats [NAME]\n"
		"  hold                           open (or create) the instance, keep it open\n"
		"                                 until stdin closes\n"
		"  destroy                        detach everything, remove every pin\n"
		"  purge                          destroy without opening (other ABI)\n");
}

static int parse_tx(const char *s)
{
	if (!strcmp(s, "all"))
		return SEMI_TX_ALL;
	if (!strcmp(s, "vf"))
		return SEMI_TX_VF;
	if (!strcmp(s, "tap"))
		return SEMI_TX_TAP;
	if (!strcmp(s, "none"))
		return 0;
	return -1;
}

static int ifindex_of(const char *dev)
{
	unsigned int i = if_nametoindex(dev);

	if (!i)
		fprintf(stderr, "semi-dpctl: no device %s\n", dev);
	return (int)i;
}

static int cmd_port_put(struct semi_dp *dp, int argc, char **argv)
{
	struct semi_port_conf c = {};
	int tx = SEMI_TX_ALL, rx = SEMI_PATH_VF;

	if (argc < 2)
		return -EINVAL;
	snprintf(c.name, sizeof(c.name), "%s", argv[0]);
	if (semi_mac_parse(argv[1], c.mac)) {
		fprintf(stderr, "semi-dpctl: bad MAC '%s'\n", argv[1]);
		return -EINVAL;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		int idx;

		if (!strcmp(k, "vlan")) {
			c.vlan = (uint16_t)atoi(v);
		} else if (!strcmp(k, "vf") || !strcmp(k, "tap")) {
			idx = ifindex_of(v);
			if (!idx)
				return -ENODEV;
			if (k[0] == 'v')
				c.vf_ifindex = (uint32_t)idx;
			else
				c.tap_ifindex = (uint32_t)idx;
		} else if (!strcmp(k, "path")) {
			rx = semi_path_parse(v);
			if (rx < 0)
				return -EINVAL;
		} else if (!strcmp(k, "tx")) {
			tx = parse_tx(v);
			if (tx < 0)
				return -EINVAL;
		} else {
			fprintf(stderr, "semi-dpctl: unknown port option '%s'\n", k);
			return -EINVAL;
		}
	}
	c.path = semi_pathw_make((enum semi_path)rx, (unsigned int)tx);
	return semi_port_put(dp, &c, NULL);
}

static void print_port(const struct semi_port_info *pi, bool first)
{
	char mac[18], vf[IF_NAMESIZE] = "", tap[IF_NAMESIZE] = "";

	if (pi->port.vf_ifindex)
		if_indextoname(pi->port.vf_ifindex, vf);
	if (pi->port.tap_ifindex)
		if_indextoname(pi->port.tap_ifindex, tap);
	semi_mac_fmt(pi->port.mac, mac);
	if (json)
		printf("%s{\"name\":\"%s\",\"id\":%u,\"mac\":\"%s\",\"vlan\":%u,\"vf\":\"%s\","
		       "\"tap\":\"%s\",\"path\":\"%s\",\"tx\":%u,\"vf_xdp\":%s,\"tap_xdp\":%s}",
		       first ? "" : ",", pi->port.name, pi->id, mac, pi->port.vlan, vf, tap,
		       semi_path_name(pi->path.rx), pi->path.tx,
		       pi->port.flags & SEMI_PORT_F_VF_XDP ? "true" : "false",
		       pi->port.flags & SEMI_PORT_F_TAP_XDP ? "true" : "false");
	else
		printf("%-15s %4u %s vlan %-4u vf %-15s tap %-15s path %-6s tx %u\n",
		       pi->port.name, pi->id, mac, pi->port.vlan, vf[0] ? vf : "-",
		       tap[0] ? tap : "-", semi_path_name(pi->path.rx), pi->path.tx);
}

static int cmd_port_show(struct semi_dp *dp, int argc, char **argv)
{
	static struct semi_port_info all[SEMI_MAX_PORTS];
	int n, err;

	if (argc >= 1) {
		err = semi_port_get(dp, argv[0], &all[0]);
		if (err)
			return err;
		n = 1;
	} else {
		n = semi_port_list(dp, all, SEMI_MAX_PORTS);
	}
	if (json)
		printf("[");
	for (int i = 0; i < n; i++)
		print_port(&all[i], i == 0);
	if (json)
		printf("]\n");
	return 0;
}

static void print_ctr(const char *name, const struct semi_ctr *c, bool *first)
{
	if (json)
		printf("%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", *first ? "" : ",", name,
		       (unsigned long long)c->packets, (unsigned long long)c->bytes);
	else
		printf("  %-14s %12llu pkts %14llu bytes\n", name,
		       (unsigned long long)c->packets, (unsigned long long)c->bytes);
	*first = false;
}

static void print_drops(const __u64 *drop)
{
	bool first = true;

	if (json)
		printf(",\"drop\":{");
	for (int r = 0; r < SEMI_DROP_MAX; r++) {
		if (!semi_drop_name((unsigned int)r))
			continue;
		if (json) {
			printf("%s\"%s\":%llu", first ? "" : ",", semi_drop_name((unsigned int)r),
			       (unsigned long long)drop[r]);
			first = false;
		} else if (drop[r]) {
			printf("  drop %-9s %12llu\n", semi_drop_name((unsigned int)r),
			       (unsigned long long)drop[r]);
		}
	}
	if (json)
		printf("}");
}

static int cmd_stats(struct semi_dp *dp, int argc, char **argv)
{
	bool first = true;
	int err;

	if (argc >= 1) {
		struct semi_port_stats s;

		err = semi_port_stats_get(dp, argv[0], &s);
		if (err)
			return err;
		if (json)
			printf("{");
		else
			printf("port %s\n", argv[0]);
		print_ctr("rx_vf", &s.rx[SEMI_ROLE_VF], &first);
		print_ctr("rx_tap", &s.rx[SEMI_ROLE_TAP], &first);
		print_ctr("rx_tunnel", &s.rx[SEMI_ROLE_TUNNEL], &first);
		print_ctr("tx_vf", &s.tx[SEMI_ROLE_VF], &first);
		print_ctr("tx_tap", &s.tx[SEMI_ROLE_TAP], &first);
		print_ctr("tx_tunnel", &s.tx[SEMI_ROLE_TUNNEL], &first);
		print_ctr("tx_local", &s.tx_local, &first);
		print_ctr("remote_src", &s.remote_src, &first);
		print_ctr("tunnel_in", &s.tunnel_in, &first);
		print_ctr("tx_rarp", &s.tx_rarp, &first);
		print_drops(s.drop);
	} else {
		struct semi_stats s;

		err = semi_stats_get(dp, &s);
		if (err)
			return err;
		if (json)
			printf("{");
		print_ctr("uplink_rx", &s.uplink_rx, &first);
		print_ctr("flood", &s.flood, &first);
		print_ctr("pass_host", &s.pass_host, &first);
		print_ctr("xdp_defer", &s.xdp_defer, &first);
		print_drops(s.drop);
	}
	if (json)
		printf("}\n");
	return 0;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int cmd_flip(struct semi_dp *dp, int argc, char **argv)
{
	struct semi_port_info pi;
	int a, b, count, err;
	long us;

	if (argc < 5)
		return -EINVAL;
	a = semi_path_parse(argv[1]);
	b = semi_path_parse(argv[2]);
	count = atoi(argv[3]);
	us = atol(argv[4]);
	if (a < 0 || b < 0 || count < 0)
		return -EINVAL;
	err = semi_port_get(dp, argv[0], &pi);
	if (err)
		return err;
	for (int i = 0; i < count; i++) {
		err = semi_path_set_id(dp, pi.id,
				       semi_pathw_make((enum semi_path)(i & 1 ? a : b), pi.path.tx));
		if (err)
			return err;
		sleep_us(us);
	}
	printf(json ? "{\"flips\":%d}\n" : "flips %d\n", count);
	return 0;
}

static int cmd_bulk_flip(struct semi_dp *dp, int argc, char **argv)
{
	struct semi_path_change *ch;
	char (*names)[SEMI_NAME_LEN];
	int n, a, b, count, err = 0;
	long us;

	if (argc < 6)
		return -EINVAL;
	n = atoi(argv[1]);
	a = semi_path_parse(argv[2]);
	b = semi_path_parse(argv[3]);
	count = atoi(argv[4]);
	us = atol(argv[5]);
	if (n <= 0 || n > SEMI_MAX_PORTS || a < 0 || b < 0 || count < 0)
		return -EINVAL;
	ch = calloc((size_t)n, sizeof(*ch));
	names = calloc((size_t)n, sizeof(*names));
	if (!ch || !names) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "%s%d", argv[0], i);
		ch[i].name = names[i];
	}
	for (int k = 0; k < count && !err; k++) {
		for (int i = 0; i < n; i++)
			ch[i].path = semi_pathw_make((enum semi_path)(k & 1 ? a : b), SEMI_TX_ALL);
		err = semi_path_set_bulk(dp, ch, (size_t)n);
		sleep_us(us);
	}
	if (!err)
		printf(json ? "{\"flips\":%d,\"ports\":%d}\n" : "flips %d ports %d\n", count, n);
out:
	free(ch);
	free(names);
	return err;
}

static int cmd_attachments(struct semi_dp *dp)
{
	struct semi_attachment a[64];
	int n = semi_dp_attachments(dp, a, 64);

	if (json)
		printf("[");
	for (int i = 0; i < n && i < 64; i++) {
		if (json)
			printf("%s{\"ifname\":\"%s\",\"ifindex\":%u,\"kinds\":%u,"
			       "\"xdp_prog_id\":%u,\"tc_prog_id\":%u}", i ? "," : "",
			       a[i].ifname, a[i].ifindex, a[i].kinds, a[i].xdp_prog_id,
			       a[i].tc_prog_id);
		else
			printf("%-15s ifindex %u kinds %#x xdp %u tc %u\n", a[i].ifname,
			       a[i].ifindex, a[i].kinds, a[i].xdp_prog_id, a[i].tc_prog_id);
	}
	if (json)
		printf("]\n");
	return 0;
}

static int run(struct semi_dp *dp, const char *verb, int argc, char **argv)
{
	if (!strcmp(verb, "load")) {
		printf(json ? "{\"adopted\":%s}\n" : "%s\n",
		       semi_dp_adopted(dp) ? (json ? "true" : "adopted") :
					     (json ? "false" : "created"));
		return 0;
	}
	if (!strcmp(verb, "attach-uplink") && argc >= 1) {
		enum semi_xdp_mode m = SEMI_XDP_AUTO;

		if (argc >= 2 && !strcmp(argv[1], "native"))
			m = SEMI_XDP_NATIVE;
		else if (argc >= 2 && !strcmp(argv[1], "off"))
			m = SEMI_XDP_OFF;
		return semi_dp_attach_uplink(dp, argv[0], m);
	}
	if (!strcmp(verb, "attach-port") && argc >= 1)
		return semi_dp_attach_port(dp, argv[0]);
	if (!strcmp(verb, "detach") && argc >= 1)
		return semi_dp_detach(dp, argv[0]);
	if (!strcmp(verb, "attachments"))
		return cmd_attachments(dp);
	if (!strcmp(verb, "port-put"))
		return cmd_port_put(dp, argc, argv);
	if (!strcmp(verb, "port-del") && argc >= 1)
		return semi_port_del(dp, argv[0]);
	if (!strcmp(verb, "port-show"))
		return cmd_port_show(dp, argc, argv);
	if (!strcmp(verb, "refresh") && argc >= 1)
		return semi_port_refresh(dp, argv[0]);
	if (!strcmp(verb, "path") && argc >= 2) {
		struct semi_port_info pi;
		int rx = semi_path_parse(argv[1]), tx, err;

		if (rx < 0)
			return -EINVAL;
		err = semi_port_get(dp, argv[0], &pi);
		if (err)
			return err;
		tx = argc >= 4 && !strcmp(argv[2], "tx") ? parse_tx(argv[3]) : pi.path.tx;
		if (tx < 0)
			return -EINVAL;
		return semi_path_set(dp, argv[0], semi_pathw_make((enum semi_path)rx,
								  (unsigned int)tx));
	}
	if (!strcmp(verb, "flip"))
		return cmd_flip(dp, argc, argv);
	if (!strcmp(verb, "bulk-flip"))
		return cmd_bulk_flip(dp, argc, argv);
	if (!strcmp(verb, "stats"))
		return cmd_stats(dp, argc, argv);
	if (!strcmp(verb, "hold")) {
		char buf[64];

		printf("ready\n");
		fflush(stdout);
		while (read(0, buf, sizeof(buf)) > 0)
			;
		return 0;
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "pin-root", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "trace", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct semi_dp_opts o = {};
	struct semi_dp *dp;
	const char *verb;
	bool explained;
	char dp_err_before;
	int c, err;

	semi_log_set_prefix("semi-dpctl");
	while ((c = getopt_long(argc, argv, "+i:p:jvth", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			instance = optarg;
			break;
		case 'p':
			pin_root = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			semi_log_set_level(SEMI_LOG_DEBUG);
			break;
		case 't':
			trace = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	verb = argv[optind];
	if (!strcmp(verb, "purge")) {
		err = semi_dp_purge(pin_root, instance);
		return err && err != -ENOENT ? 1 : 0;
	}
	o.instance = instance;
	o.pin_root = pin_root;
	o.trace = trace;
	o.no_create = strcmp(verb, "load") != 0 && strcmp(verb, "hold") != 0;
	err = semi_dp_open(&o, &dp);
	if (err)
		return 1;
	if (!strcmp(verb, "destroy"))
		return semi_dp_destroy(dp) ? 1 : 0;
	dp_err_before = *semi_dp_last_error(dp);
	err = run(dp, verb, argc - optind - 1, argv + optind + 1);
	explained = *semi_dp_last_error(dp) != dp_err_before || *semi_dp_last_error(dp);
	semi_dp_close(dp);
	if (err == -EINVAL && !explained) {
		usage(stderr);
		return 2;
	}
	return err ? 1 : 0;
}
