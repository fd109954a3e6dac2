// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Opening an instance: adopt what is pinned, or load and pin it.
 *
 * Skeleton lifecycle: open -> set rodata, reuse pinned maps -> load -> pin.
 * Maps are reused by the loader itself (bpf_map__reuse_fd after checking
 * the pinned map's shape) rather than by libbpf's pin-by-name check, which
 * rejects devmaps (the kernel adds BPF_F_RDONLY_PROG to them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "loader/internal.h"
#include "semi_port.skel.h"
#include "semi_uplink.skel.h"
#include "semi_uplink_tc.skel.h"
#include "semi_xmit_mon.skel.h"

const char *const semi_map_names[M_COUNT] = {
	[M_PORTS] = SEMI_MAP_PORTS,
	[M_PORT_IDX] = SEMI_MAP_PORT_IDX,
	[M_PATHS] = SEMI_MAP_PATHS,
	[M_CTL] = SEMI_MAP_CTL,
	[M_DEVS] = SEMI_MAP_DEVS,
	[M_XDP_TX] = SEMI_MAP_XDP_TX,
	[M_PORT_STATS] = SEMI_MAP_PORT_STATS,
	[M_STATS] = SEMI_MAP_STATS,
	[M_TRACE] = SEMI_MAP_TRACE,
	[M_ATTACH] = SEMI_MAP_ATTACH,
	[M_PEERS] = SEMI_MAP_PEERS,
	[M_PEER_IDX] = SEMI_MAP_PEER_IDX,
	[M_PORT_CACHE] = SEMI_MAP_PORT_CACHE,
	[M_LEARNED] = SEMI_MAP_LEARNED,
};

const char *const semi_prog_names[SEMI_PROG_COUNT] = {
	[SEMI_PROG_ID_UPLINK_XDP] = SEMI_PROG_UPLINK_XDP,
	[SEMI_PROG_ID_UPLINK_TC] = SEMI_PROG_UPLINK_TC,
	[SEMI_PROG_ID_PORT] = SEMI_PROG_PORT,
};

/* The three program objects, opened but not loaded. */
struct skels {
	struct semi_uplink_bpf *uplink;
	struct semi_uplink_tc_bpf *uplink_tc;
	struct semi_port_bpf *port;
	struct bpf_object *obj[SEMI_PROG_COUNT];
	struct bpf_program *prog[SEMI_PROG_COUNT];
};

int dp_fail(struct semi_dp *dp, int err, const char *fmt, ...)
{
	char buf[sizeof(dp->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (dp)
		memcpy(dp->err, buf, sizeof(buf));
	pr_warn("%s", buf);
	return err < 0 ? err : -err;
}

const char *semi_dp_last_error(const struct semi_dp *dp)
{
	return dp->err;
}

const char *dp_ifname(uint32_t ifindex, char buf[IF_NAMESIZE + 16])
{
	char name[IF_NAMESIZE];

	if (ifindex && if_indextoname(ifindex, name))
		snprintf(buf, IF_NAMESIZE + 16, "%s", name);
	else
		snprintf(buf, IF_NAMESIZE + 16, "ifindex %u", ifindex);
	return buf;
}

int dp_lock(struct semi_dp *dp)
{
	if (dp->lock_depth++ > 0)
		return 0;
	if (flock(dp->dir_fd, LOCK_EX) < 0) {
		dp->lock_depth--;
		return dp_fail(dp, -errno, "cannot lock %s: %s", dp->dir, strerror(errno));
	}
	return 0;
}

void dp_unlock(struct semi_dp *dp)
{
	if (--dp->lock_depth == 0)
		flock(dp->dir_fd, LOCK_UN);
}

static bool instance_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SEMI_INSTANCE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* bpffs at /sys/fs/bpf is where pins live; mount it when a host lacks it. */
static int ensure_bpffs(struct semi_dp *dp, const char *root)
{
	char parent[PATH_MAX];
	struct statfs st;
	char *slash;

	snprintf(parent, sizeof(parent), "%s", root);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (strcmp(parent, "/sys/fs/bpf") != 0)
		return dp_fail(dp, -EINVAL, "pin root %s is not on a bpf filesystem", root);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
		return dp_fail(dp, -errno, "cannot mount bpffs on /sys/fs/bpf: %s",
			       strerror(errno));
	pr_info("mounted bpffs on /sys/fs/bpf");
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static void skels_destroy(struct skels *s)
{
	semi_uplink_bpf__destroy(s->uplink);
	semi_uplink_tc_bpf__destroy(s->uplink_tc);
	semi_port_bpf__destroy(s->port);
	memset(s, 0, sizeof(*s));
}

static int skels_open(struct semi_dp *dp, struct skels *s, bool trace)
{
	memset(s, 0, sizeof(*s));
	s->uplink = semi_uplink_bpf__open();
	s->uplink_tc = semi_uplink_tc_bpf__open();
	s->port = semi_port_bpf__open();
	if (!s->uplink || !s->uplink_tc || !s->port) {
		int err = -errno;

		skels_destroy(s);
		return dp_fail(dp, err, "cannot open the datapath objects: %s", strerror(-err));
	}
	s->uplink->rodata->semi_cfg_trace = trace;
	s->uplink_tc->rodata->semi_cfg_trace = trace;
	s->port->rodata->semi_cfg_trace = trace;
	s->obj[SEMI_PROG_ID_UPLINK_XDP] = s->uplink->obj;
	s->obj[SEMI_PROG_ID_UPLINK_TC] = s->uplink_tc->obj;
	s->obj[SEMI_PROG_ID_PORT] = s->port->obj;
	s->prog[SEMI_PROG_ID_UPLINK_XDP] = s->uplink->progs.semi_uplink_xdp;
	s->prog[SEMI_PROG_ID_UPLINK_TC] = s->uplink_tc->progs.semi_uplink_tc;
	s->prog[SEMI_PROG_ID_PORT] = s->port->progs.semi_port;
	return 0;
}

/* Does the pinned map have the shape this build expects? */
static int map_compatible(struct semi_dp *dp, struct bpf_map *want, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	__u32 flags_mask = ~(__u32)BPF_F_RDONLY_PROG;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return dp_fail(dp, -errno, "cannot read pinned map %s in %s: %s",
			       bpf_map__name(want), dp->dir, strerror(errno));
	if (info.type != bpf_map__type(want) || info.key_size != bpf_map__key_size(want) ||
	    info.value_size != bpf_map__value_size(want) ||
	    info.max_entries != bpf_map__max_entries(want) ||
	    (info.map_flags & flags_mask) != (bpf_map__map_flags(want) & flags_mask))
		return dp_fail(dp, -EPROTO,
			       "pinned map %s in %s was made by an incompatible semi-net "
			       "(type %u key %u value %u entries %u, this build wants "
			       "type %u key %u value %u entries %u); remove the instance "
			       "with 'semi-netctl flush' or 'rm -r %s' and start again",
			       bpf_map__name(want), dp->dir, info.type, info.key_size,
			       info.value_size, info.max_entries, bpf_map__type(want),
			       bpf_map__key_size(want), bpf_map__value_size(want),
			       bpf_map__max_entries(want), dp->dir);
	return 0;
}

static int pin_path(const struct semi_dp *dp, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dp->dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool pinned(const struct semi_dp *dp, const char *name)
{
	char path[PATH_MAX];

	return pin_path(dp, name, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

/*
 * Point every map of obj at the pinned one where a pin exists (after
 * checking its shape); unset libbpf's own pinning for all of them.
 */
static int reuse_pinned_maps(struct semi_dp *dp, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		char path[PATH_MAX];
		int fd, err;

		if (bpf_map__is_internal(map))
			continue;	/* .rodata and friends */
		bpf_map__set_pin_path(map, NULL);
		if (!pinned(dp, name))
			continue;
		pin_path(dp, name, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			return dp_fail(dp, -errno, "cannot open pinned map %s: %s", path,
				       strerror(errno));
		err = map_compatible(dp, map, fd);
		if (!err)
			err = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (err)
			return err;
	}
	return 0;
}

static int pin_new_maps(struct semi_dp *dp, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		char path[PATH_MAX];
		int err;

		if (bpf_map__is_internal(map) || pinned(dp, name))
			continue;
		pin_path(dp, name, path, sizeof(path));
		err = bpf_map__pin(map, path);
		if (err)
			return dp_fail(dp, err, "cannot pin map %s: %s", path, strerror(-err));
	}
	return 0;
}

/* Load what is not pinned yet, pin it.  Called with the lock held. */
static int load_missing(struct semi_dp *dp, struct skels *s)
{
	for (int i = 0; i < SEMI_PROG_COUNT; i++) {
		char path[PATH_MAX];
		int err;

		if (pinned(dp, semi_prog_names[i]))
			continue;
		err = reuse_pinned_maps(dp, s->obj[i]);
		if (err)
			return err;
		err = bpf_object__load(s->obj[i]);
		if (err)
			return dp_fail(dp, err,
				       "cannot load %s: %s (run with -v for the verifier log)",
				       semi_prog_names[i], strerror(-err));
		err = pin_new_maps(dp, s->obj[i]);
		if (err)
			return err;
		pin_path(dp, semi_prog_names[i], path, sizeof(path));
		err = bpf_program__pin(s->prog[i], path);
		if (err)
			return dp_fail(dp, err, "cannot pin program %s: %s", path,
				       strerror(-err));
	}
	return 0;
}

/*
 * The drop monitor (semi_xmit_mon.bpf.c): a tracing program behind a pinned
 * link.  Not essential -- a kernel without BTF for tracing runs without it,
 * with a warning -- so failures here only warn.
 */
static void xmit_mon_attach(struct semi_dp *dp)
{
	struct semi_xmit_mon_bpf *skel;
	struct bpf_program *prog;
	int err;

	if (pinned(dp, SEMI_LINK_MON_XMIT) && pinned(dp, SEMI_LINK_MON_REDIR) &&
	    pinned(dp, SEMI_LINK_MON_BULK))
		return;
	skel = semi_xmit_mon_bpf__open();
	if (!skel) {
		pr_warn("cannot open the XDP drop monitor: %s", strerror(errno));
		return;
	}
	err = reuse_pinned_maps(dp, skel->obj);
	if (!err)
		err = semi_xmit_mon_bpf__load(skel);
	if (err) {
		pr_warn("cannot load the XDP drop monitor (%s): frames a redirect target "
			"refuses will not be counted", strerror(-err));
		goto out;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		const char *name = bpf_program__name(prog);
		struct bpf_link *link;
		char path[PATH_MAX];

		if (pinned(dp, name))
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			pr_warn("cannot attach the XDP drop monitor %s: %s", name,
				strerror(errno));
			continue;
		}
		pin_path(dp, name, path, sizeof(path));
		err = bpf_link__pin(link, path);
		if (err)
			pr_warn("cannot pin %s: %s", path, strerror(-err));
		bpf_link__destroy(link);	/* the pin holds it now */
	}
out:
	semi_xmit_mon_bpf__destroy(skel);
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int netns_ino(uint32_t *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st) < 0)
		return -errno;
	*ino = (uint32_t)st.st_ino;
	return 0;
}

/* Every pinned map must have this build's shape before anything is used. */
static int check_pinned_maps(struct semi_dp *dp, struct skels *s)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, s->obj[SEMI_PROG_ID_UPLINK_TC]) {
		const char *name = bpf_map__name(map);
		char path[PATH_MAX];
		int fd, err;

		if (bpf_map__is_internal(map) || !pinned(dp, name))
			continue;
		pin_path(dp, name, path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			return dp_fail(dp, -errno, "cannot open pinned map %s: %s", path,
				       strerror(errno));
		err = map_compatible(dp, map, fd);
		close(fd);
		if (err)
			return err;
	}
	return 0;
}

static void *map_mmap(struct semi_dp *dp, int fd, const char *name, size_t *len, size_t *stride)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return NULL;
	/* Array elements are 8-byte aligned in the mapping. */
	*stride = (info.value_size + 7) & ~7u;
	*len = ((size_t)*stride * info.max_entries + page - 1) & ~(size_t)(page - 1);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		dp_fail(dp, -errno, "cannot map %s: %s", name, strerror(errno));
		return NULL;
	}
	return p;
}

static int open_pins(struct semi_dp *dp)
{
	size_t stride;

	for (int i = 0; i < M_COUNT; i++) {
		char path[PATH_MAX];

		pin_path(dp, semi_map_names[i], path, sizeof(path));
		dp->map_fd[i] = bpf_obj_get(path);
		if (dp->map_fd[i] < 0)
			return dp_fail(dp, -errno, "cannot open pinned map %s: %s", path,
				       strerror(errno));
	}
	for (int i = 0; i < SEMI_PROG_COUNT; i++) {
		char path[PATH_MAX];

		pin_path(dp, semi_prog_names[i], path, sizeof(path));
		dp->prog_fd[i] = bpf_obj_get(path);
		if (dp->prog_fd[i] < 0)
			return dp_fail(dp, -errno, "cannot open pinned program %s: %s", path,
				       strerror(errno));
	}
	dp->ports = map_mmap(dp, dp->map_fd[M_PORTS], SEMI_MAP_PORTS, &dp->ports_len,
			     &dp->ports_stride);
	dp->paths = map_mmap(dp, dp->map_fd[M_PATHS], SEMI_MAP_PATHS, &dp->paths_len,
			     &dp->paths_stride);
	dp->ctl = map_mmap(dp, dp->map_fd[M_CTL], SEMI_MAP_CTL, &dp->ctl_len, &stride);
	dp->cache = map_mmap(dp, dp->map_fd[M_PORT_CACHE], SEMI_MAP_PORT_CACHE, &dp->cache_len,
			     &dp->cache_stride);
	if (!dp->ports || !dp->paths || !dp->ctl || !dp->cache)
		return -ENOMEM;
	return 0;
}

static void dp_free(struct semi_dp *dp)
{
	if (!dp)
		return;
	if (dp->ports)
		munmap(dp->ports, dp->ports_len);
	if (dp->paths)
		munmap((void *)dp->paths, dp->paths_len);
	if (dp->ctl)
		munmap((void *)dp->ctl, dp->ctl_len);
	if (dp->cache)
		munmap((void *)dp->cache, dp->cache_len);
	for (int i = 0; i < M_COUNT; i++)
		if (dp->map_fd[i] >= 0)
			close(dp->map_fd[i]);
	for (int i = 0; i < SEMI_PROG_COUNT; i++)
		if (dp->prog_fd[i] >= 0)
			close(dp->prog_fd[i]);
	if (dp->dir_fd >= 0)
		close(dp->dir_fd);
	free(dp);
}

static struct semi_dp *dp_alloc(void)
{
	struct semi_dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->dir_fd = -1;
	for (int i = 0; i < M_COUNT; i++)
		dp->map_fd[i] = -1;
	for (int i = 0; i < SEMI_PROG_COUNT; i++)
		dp->prog_fd[i] = -1;
	return dp;
}

static int dp_set_paths(struct semi_dp *dp, const char *pin_root, const char *instance)
{
	if (!instance_name_ok(instance))
		return dp_fail(dp, -EINVAL,
			       "bad instance name '%s': use 1 to %d of [A-Za-z0-9_.-]",
			       instance ? instance : "", SEMI_INSTANCE_MAX);
	if (!pin_root)
		pin_root = SEMI_PIN_ROOT_DEFAULT;
	snprintf(dp->instance, sizeof(dp->instance), "%s", instance);
	if (snprintf(dp->root, sizeof(dp->root), "%s", pin_root) >= (int)sizeof(dp->root) ||
	    snprintf(dp->dir, sizeof(dp->dir), "%s/%s", pin_root, instance) >=
		    (int)sizeof(dp->dir))
		return dp_fail(dp, -ENAMETOOLONG, "pin root %s is too long", pin_root);
	return 0;
}

static void unpin_all(int dir_fd)
{
	unlinkat(dir_fd, SEMI_LINK_MON_XMIT, 0);
	unlinkat(dir_fd, SEMI_LINK_MON_REDIR, 0);
	unlinkat(dir_fd, SEMI_LINK_MON_BULK, 0);
	for (int i = 0; i < SEMI_PROG_COUNT; i++)
		unlinkat(dir_fd, semi_prog_names[i], 0);
	for (int i = 0; i < M_COUNT; i++)
		unlinkat(dir_fd, semi_map_names[i], 0);
}

int semi_dp_open(const struct semi_dp_opts *opts, struct semi_dp **dpp)
{
	struct semi_dp *dp;
	struct skels s = {};
	bool any_pin = false, all_progs = true;
	uint32_t ino = 0;
	int err;

	*dpp = NULL;
	if (!opts)
		return -EINVAL;
	dp = dp_alloc();
	if (!dp)
		return -ENOMEM;
	semi_log_set_level(semi_log_get_level());	/* route libbpf's log */
	err = dp_set_paths(dp, opts->pin_root, opts->instance);
	if (err)
		goto out_free;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = dp_fail(dp, dp->ncpus ? dp->ncpus : -EINVAL, "cannot count CPUs");
		goto out_free;
	}

	if (opts->no_create && access(dp->dir, F_OK) != 0) {
		err = dp_fail(dp, -ENOENT, "no semi-net instance '%s' (nothing pinned at %s)",
			      dp->instance, dp->dir);
		goto out_free;
	}
	err = ensure_bpffs(dp, dp->root);
	if (err)
		goto out_free;
	err = mkdir_p(dp->root, 0700);
	if (!err)
		err = mkdir_p(dp->dir, 0700);
	if (err) {
		err = dp_fail(dp, err, "cannot create pin directory %s: %s", dp->dir,
			      strerror(-err));
		goto out_free;
	}
	dp->dir_fd = open(dp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->dir_fd < 0) {
		err = dp_fail(dp, -errno, "cannot open %s: %s", dp->dir, strerror(errno));
		goto out_free;
	}
	err = dp_lock(dp);
	if (err)
		goto out_free;

	for (int i = 0; i < M_COUNT; i++)
		any_pin |= pinned(dp, semi_map_names[i]);
	for (int i = 0; i < SEMI_PROG_COUNT; i++) {
		bool p = pinned(dp, semi_prog_names[i]);

		any_pin |= p;
		all_progs &= p;
	}
	if (!any_pin && opts->no_create) {
		err = dp_fail(dp, -ENOENT, "no semi-net instance '%s' (nothing pinned at %s)",
			      dp->instance, dp->dir);
		goto out_unlock;
	}
	dp->adopted = any_pin;

	err = skels_open(dp, &s, opts->trace);
	if (err)
		goto out_unlock;
	err = check_pinned_maps(dp, &s);
	if (err)
		goto out_skels;
	if (all_progs) {
		/* A program pinned without one of its maps would split brain. */
		for (int i = 0; i < M_COUNT; i++) {
			if (!pinned(dp, semi_map_names[i])) {
				err = dp_fail(dp, -EUCLEAN,
					      "pin directory %s is incomplete (no %s); "
					      "purge it with 'semi-netctl flush' and start again",
					      dp->dir, semi_map_names[i]);
				goto out_skels;
			}
		}
	} else {
		err = load_missing(dp, &s);
		if (err)
			goto out_skels;
	}
	err = open_pins(dp);
	if (!err)
		err = netns_ino(&ino);
	if (err)
		goto out_skels;
	if (!dp->adopted) {
		dp->ctl->bank = 0;
		dp->ctl->uplink_ifindex = 0;
		dp->ctl->port_hwm = 0;
		dp->ctl->netns_ino = ino;
		dp->ctl->xdp_tx_map_id = map_id(dp->map_fd[M_XDP_TX]);
		__atomic_store_n(&dp->ctl->abi, SEMI_ABI_VERSION, __ATOMIC_RELEASE);
	} else if (dp->ctl->abi != SEMI_ABI_VERSION) {
		err = dp_fail(dp, -EPROTO,
			      "instance %s was made by semi-net ABI %u, this is ABI %u; "
			      "flush it ('semi-netctl flush') to start again",
			      dp->dir, dp->ctl->abi, SEMI_ABI_VERSION);
		goto out_skels;
	} else if (dp->ctl->netns_ino != ino) {
		/* Its ifindexes mean devices of another namespace. */
		err = dp_fail(dp, -EXDEV,
			      "instance %s belongs to network namespace %u, this process is "
			      "in %u; run it there (nsenter --net=...)", dp->instance,
			      dp->ctl->netns_ino, ino);
		goto out_skels;
	}
	xmit_mon_attach(dp);
	skels_destroy(&s);
	dp_unlock(dp);
	pr_debug("%s instance %s at %s", dp->adopted ? "adopted" : "created", dp->instance,
		 dp->dir);
	*dpp = dp;
	return 0;

out_skels:
	skels_destroy(&s);
out_unlock:
	/* A load that failed half way leaves nothing pinned behind. */
	if (!dp->adopted) {
		unpin_all(dp->dir_fd);
		rmdir(dp->dir);
		rmdir(dp->root);
	}
	dp_unlock(dp);
out_free:
	/* Keep the message for the caller: dp is about to go. */
	dp_free(dp);
	return err;
}

void semi_dp_close(struct semi_dp *dp)
{
	dp_free(dp);
}

bool semi_dp_adopted(const struct semi_dp *dp)
{
	return dp->adopted;
}

const char *semi_dp_pin_dir(const struct semi_dp *dp)
{
	return dp->dir;
}

int semi_dp_prog_fd(const struct semi_dp *dp, enum semi_prog prog)
{
	if (prog < 0 || prog >= SEMI_PROG_COUNT)
		return -EINVAL;
	return dp->prog_fd[prog];
}

int semi_dp_map_fd(const struct semi_dp *dp, const char *name)
{
	for (int i = 0; i < M_COUNT; i++)
		if (!strcmp(semi_map_names[i], name))
			return dp->map_fd[i];
	return -ENOENT;
}


int semi_dp_destroy(struct semi_dp *dp)
{
	int err, ret = 0;

	err = dp_lock(dp);
	if (err)
		return err;
	err = semi_dp_detach_all(dp);
	if (err)
		ret = err;
	unpin_all(dp->dir_fd);
	if (rmdir(dp->dir) < 0 && errno != ENOENT && !ret)
		ret = dp_fail(dp, -errno, "cannot remove %s: %s", dp->dir, strerror(errno));
	rmdir(dp->root);	/* only when no other instance is left */
	dp_unlock(dp);
	dp_free(dp);
	return ret;
}

int semi_dp_purge(const char *pin_root, const char *instance)
{
	struct semi_dp *dp = dp_alloc();
	int err;

	if (!dp)
		return -ENOMEM;
	err = dp_set_paths(dp, pin_root, instance);
	if (err)
		goto out;
	dp->dir_fd = open(dp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->dir_fd < 0) {
		err = errno == ENOENT ? -ENOENT : dp_fail(dp, -errno, "cannot open %s: %s",
							   dp->dir, strerror(errno));
		goto out;
	}
	err = dp_lock(dp);
	if (err)
		goto out;
	/* Detach from the records when they can be read at all. */
	if (pinned(dp, SEMI_MAP_ATTACH)) {
		char path[PATH_MAX];

		pin_path(dp, SEMI_MAP_ATTACH, path, sizeof(path));
		dp->map_fd[M_ATTACH] = bpf_obj_get(path);
		if (dp->map_fd[M_ATTACH] >= 0)
			semi_dp_detach_all(dp);
	}
	unpin_all(dp->dir_fd);
	if (rmdir(dp->dir) < 0 && errno != ENOENT)
		err = dp_fail(dp, -errno, "cannot remove %s (unknown files in it?): %s",
			      dp->dir, strerror(errno));
	rmdir(dp->root);
	dp_unlock(dp);
out:
	dp_free(dp);
	return err;
}
