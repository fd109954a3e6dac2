// SPDX-License-Identifier: GPL-2.0
/*
 * semi-lab-guest: load the lab guest's net_failover programs into a guest
 * namespace, plug a VF into them, print their counters.
 *
 * The programs and maps are pinned in one folder per guest so that a later
 * "plug" (a VF appearing from another host) attaches the same programs and
 * fills the same devmap slot.  See lab_guest.bpf.c for the rule.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lab_guest.h"
#include "lab_guest.skel.h"
#include "labutil.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct opts {
	const char *netns;
	const char *pindir;
	const char *master;
	const char *standby;
	const char *vf;
	bool json;
};

/* Every pinned object, by the name it has in the skeleton and in DIR. */
static const char *const pin_names[] = {
	"lab_vf", "lab_stats",
	"lab_vf_xdp", "lab_vf_ingress", "lab_vf_egress",
	"lab_virtio_ingress", "lab_master_egress",
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !lab_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int dev_index(const char *dev)
{
	unsigned int ifindex = if_nametoindex(dev);

	if (!ifindex) {
		int err = -errno;

		pr_warn("no device %s in this namespace: %s", dev, strerror(errno));
		return err;
	}
	return (int)ifindex;
}

/* One clsact per device; a second attach on the same device reuses it. */
static int tc_hook(const char *dev, int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_warn("cannot create clsact on %s: %s", dev, strerror(-err));
		return err;
	}
	return 0;
}

static int tc_attach(const char *dev, int ifindex, enum bpf_tc_attach_point where,
		     int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .handle = 1, .priority = 1,
			    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_attach(&hook, &tc);
	if (err)
		pr_warn("cannot attach TC %s program to %s: %s",
			where == BPF_TC_INGRESS ? "ingress" : "egress", dev,
			strerror(-err));
	return err;
}

static int pinned_fd(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	err = pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot open pinned %s: %s (is the guest set up?)", path,
			strerror(errno));
		return err;
	}
	return fd;
}

static int cmd_setup(const struct opts *o)
{
	struct lab_guest *skel;
	char path[PATH_MAX];
	int master, standby, err;

	if (!o->master || !o->standby) {
		pr_warn("setup needs -m MASTER and -s STANDBY");
		return -EINVAL;
	}
	master = dev_index(o->master);
	if (master < 0)
		return master;
	standby = dev_index(o->standby);
	if (standby < 0)
		return standby;

	if (mkdir(o->pindir, 0700) && errno != EEXIST) {
		err = -errno;
		pr_warn("cannot create pin folder %s: %s", o->pindir, strerror(errno));
		return err;
	}
	err = pin_path(path, sizeof(path), o->pindir, "lab_vf");
	if (err)
		return err;
	if (!access(path, F_OK)) {
		pr_warn("guest programs already pinned in %s", o->pindir);
		return -EEXIST;
	}

	skel = lab_guest__open();
	if (!skel) {
		err = -errno;
		pr_warn("cannot open the guest programs: %s", strerror(errno));
		return err;
	}
	skel->rodata->master_ifindex = master;
	skel->rodata->virtio_ifindex = standby;
	err = lab_guest__load(skel);
	if (err) {
		pr_warn("cannot load the guest programs: %s", strerror(-err));
		goto destroy;
	}

#define PIN(obj, name)							\
	do {								\
		err = pin_path(path, sizeof(path), o->pindir, name);	\
		if (!err)						\
			err = obj;					\
		if (err) {						\
			pr_warn("cannot pin %s in %s: %s", name,	\
				o->pindir, strerror(-err));		\
			goto unpin;					\
		}							\
	} while (0)
	PIN(bpf_map__pin(skel->maps.lab_vf, path), "lab_vf");
	PIN(bpf_map__pin(skel->maps.lab_stats, path), "lab_stats");
	PIN(bpf_program__pin(skel->progs.lab_vf_xdp, path), "lab_vf_xdp");
	PIN(bpf_program__pin(skel->progs.lab_vf_ingress, path), "lab_vf_ingress");
	PIN(bpf_program__pin(skel->progs.lab_vf_egress, path), "lab_vf_egress");
	PIN(bpf_program__pin(skel->progs.lab_virtio_ingress, path), "lab_virtio_ingress");
	PIN(bpf_program__pin(skel->progs.lab_master_egress, path), "lab_master_egress");
#undef PIN

	/* Transmit first, then receive: the master has its path before the
	 * standby starts handing it frames. */
	err = tc_hook(o->master, master) ?: tc_hook(o->standby, standby);
	if (err)
		goto unpin;
	err = tc_attach(o->master, master, BPF_TC_EGRESS,
			bpf_program__fd(skel->progs.lab_master_egress));
	if (err)
		goto unpin;
	err = tc_attach(o->standby, standby, BPF_TC_INGRESS,
			bpf_program__fd(skel->progs.lab_virtio_ingress));
	if (err)
		goto unpin;
	lab_guest__destroy(skel);
	return 0;

unpin:
	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++)
		if (!pin_path(path, sizeof(path), o->pindir, pin_names[i]))
			unlink(path);
destroy:
	lab_guest__destroy(skel);
	return err;
}

static int cmd_plug(const struct opts *o)
{
	int vf, map_fd, xdp_fd = -1, in_fd = -1, eg_fd = -1, err;
	__u32 key = 0, val;

	if (!o->vf) {
		pr_warn("plug needs -f VF");
		return -EINVAL;
	}
	vf = dev_index(o->vf);
	if (vf < 0)
		return vf;
	map_fd = pinned_fd(o->pindir, "lab_vf");
	if (map_fd < 0)
		return map_fd;
	xdp_fd = pinned_fd(o->pindir, "lab_vf_xdp");
	in_fd = pinned_fd(o->pindir, "lab_vf_ingress");
	eg_fd = pinned_fd(o->pindir, "lab_vf_egress");
	if (xdp_fd < 0 || in_fd < 0 || eg_fd < 0) {
		err = -ENOENT;
		goto close_fds;
	}

	err = bpf_xdp_attach(vf, xdp_fd, XDP_FLAGS_DRV_MODE, NULL);
	if (err) {
		pr_warn("cannot attach XDP (native) to %s: %s", o->vf, strerror(-err));
		goto close_fds;
	}
	err = tc_hook(o->vf, vf);
	if (err)
		goto close_fds;
	err = tc_attach(o->vf, vf, BPF_TC_EGRESS, eg_fd);
	if (err)
		goto close_fds;
	err = tc_attach(o->vf, vf, BPF_TC_INGRESS, in_fd);
	if (err)
		goto close_fds;
	/* Registration last: from this write on, virtio stops delivering. */
	val = vf;
	if (bpf_map_update_elem(map_fd, &key, &val, BPF_ANY)) {
		err = -errno;
		pr_warn("cannot register %s as the guest's VF: %s", o->vf, strerror(errno));
	}

close_fds:
	if (eg_fd >= 0)
		close(eg_fd);
	if (in_fd >= 0)
		close(in_fd);
	if (xdp_fd >= 0)
		close(xdp_fd);
	close(map_fd);
	return err;
}

static int cmd_stats(const struct opts *o)
{
	static const char *const names[LAB_STAT_MAX] = LAB_STAT_NAMES;
	int ncpu = libbpf_num_possible_cpus();
	struct lab_count *per_cpu, sum;
	int stats_fd, vf_fd, err = 0;
	char ifname[IF_NAMESIZE] = "";
	__u32 key = 0, vf = 0;

	if (ncpu < 0) {
		pr_warn("cannot count CPUs: %s", strerror(-ncpu));
		return ncpu;
	}
	vf_fd = pinned_fd(o->pindir, "lab_vf");
	if (vf_fd < 0)
		return vf_fd;
	stats_fd = pinned_fd(o->pindir, "lab_stats");
	if (stats_fd < 0) {
		err = stats_fd;
		goto close_vf;
	}
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu) {
		err = -ENOMEM;
		goto close_stats;
	}
	if (bpf_map_lookup_elem(vf_fd, &key, &vf))
		vf = 0;
	if (vf && !if_indextoname(vf, ifname))
		snprintf(ifname, sizeof(ifname), "?");

	if (o->json)
		printf("{\"vf_ifindex\":%u,\"vf\":\"%s\"", vf, ifname);
	else
		printf("registered VF: %s\n", vf ? ifname : "(none)");
	for (key = 0; key < LAB_STAT_MAX; key++) {
		memset(&sum, 0, sizeof(sum));
		if (bpf_map_lookup_elem(stats_fd, &key, per_cpu)) {
			err = -errno;
			pr_warn("cannot read counter %s: %s", names[key], strerror(errno));
			break;
		}
		for (int c = 0; c < ncpu; c++) {
			sum.packets += per_cpu[c].packets;
			sum.bytes += per_cpu[c].bytes;
		}
		if (o->json)
			printf(",\"%s\":{\"packets\":%llu,\"bytes\":%llu}", names[key],
			       (unsigned long long)sum.packets,
			       (unsigned long long)sum.bytes);
		else
			printf("%-24s %12llu pkts %14llu bytes\n", names[key],
			       (unsigned long long)sum.packets,
			       (unsigned long long)sum.bytes);
	}
	if (o->json)
		printf("}\n");
	free(per_cpu);
close_stats:
	close(stats_fd);
close_vf:
	close(vf_fd);
	return err;
}

static int cmd_teardown(const struct opts *o)
{
	char path[PATH_MAX];
	int err = 0;

	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++) {
		if (pin_path(path, sizeof(path), o->pindir, pin_names[i]))
			continue;
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_warn("cannot remove pin %s: %s", path, strerror(errno));
		}
	}
	if (rmdir(o->pindir) && errno != ENOENT) {
		err = -errno;
		pr_warn("cannot remove pin folder %s: %s", o->pindir, strerror(errno));
	}
	return err;
}

static const struct command {
	const char *name;
	int (*run)(const struct opts *o);
	const char *args;
	const char *help;
} commands[] = {
	{ "setup", cmd_setup, "-p DIR -m MASTER -s STANDBY",
	  "load the programs, pin them in DIR, attach to the master and the standby" },
	{ "plug", cmd_plug, "-p DIR -f VF",
	  "attach to VF and register it as the primary (virtio stops delivering)" },
	{ "stats", cmd_stats, "-p DIR [-j]",
	  "print the registered VF and the per-path counters" },
	{ "teardown", cmd_teardown, "-p DIR", "remove the pins in DIR" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: semi-lab-guest [-n NETNS] [-v] COMMAND ARGS\n"
		   "The lab guest's net_failover (tests/lab/lab_guest.bpf.c).\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %-28s %s\n", commands[i].name, commands[i].args,
			commands[i].help);
	fprintf(f, "\n  -n NETNS  run in network namespace /run/netns/NETNS\n"
		   "  -j        JSON output\n  -v        verbose (libbpf debug)\n"
		   "exit: 0 ok, 1 failed, 2 usage\n");
}

static const struct option long_opts[] = {
	{ "netns", required_argument, NULL, 'n' },
	{ "pin", required_argument, NULL, 'p' },
	{ "master", required_argument, NULL, 'm' },
	{ "standby", required_argument, NULL, 's' },
	{ "vf", required_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Options go before or after the command; returns -1 to go on, else an exit code. */
static int parse_opts(int argc, char **argv, const char *optstring, struct opts *o)
{
	int c;

	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->netns = optarg;
			break;
		case 'p':
			o->pindir = optarg;
			break;
		case 'm':
			o->master = optarg;
			break;
		case 's':
			o->standby = optarg;
			break;
		case 'f':
			o->vf = optarg;
			break;
		case 'j':
			o->json = true;
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
	return -1;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct opts o = { 0 };
	int nsfd, err;

	lab_prog = "semi-lab-guest";
	err = parse_opts(argc, argv, "+n:p:m:s:f:jvh", &o);
	if (err >= 0)
		return err;
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		pr_warn("unknown command '%s'", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	optind++;
	err = parse_opts(argc, argv, "n:p:m:s:f:jvh", &o);
	if (err >= 0)
		return err;
	if (optind != argc || !o.pindir) {
		pr_warn("%s: %s", cmd->name, optind != argc ? "unexpected argument" :
			"needs -p DIR");
		usage(stderr);
		return EXIT_USAGE;
	}
	libbpf_set_print(libbpf_print);

	nsfd = lab_netns_enter(o.netns);
	if (nsfd < 0 && nsfd != LAB_NETNS_NONE)
		return EXIT_FAIL;
	err = cmd->run(&o);
	lab_netns_leave(nsfd);
	return err ? EXIT_FAIL : EXIT_OK;
}
