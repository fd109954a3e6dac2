// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Attaching the programs: XDP in driver mode and TC on clsact ingress, both
 * through netlink so that they outlive this process.  What was attached is
 * recorded in semi_attach; detaching removes only what the record says is
 * ours and still is.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>

#include "loader/internal.h"

#define NETDEV_XDP_ACT_NDO_XMIT	(1ULL << 2)

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static void prog_name_by_id(uint32_t id, char *buf, size_t len)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(buf, len, "?");
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

static int driver_name(uint32_t ifindex, char *buf, size_t len)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd, err = 0;

	if (!if_indextoname(ifindex, ifr.ifr_name))
		return -ENODEV;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ifr.ifr_data = (void *)&drv;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		err = -errno;
	else
		snprintf(buf, len, "%s", drv.driver);
	close(fd);
	return err;
}

int semi_dev_xdp_target(uint32_t ifindex)
{
	char ifname[IF_NAMESIZE], drv[32];
	uint64_t features;
	int err;

	if (!ifindex || !if_indextoname(ifindex, ifname))
		return -ENODEV;
	err = nl_xdp_features(ifindex, &features);
	if (!err)
		return !!(features & NETDEV_XDP_ACT_NDO_XMIT);
	if (err == -ENODEV)
		return err;
	/* Kernel without the netdev family (< 6.3): only tun is a sure yes. */
	if (driver_name(ifindex, drv, sizeof(drv)) == 0 && !strcmp(drv, "tun"))
		return 1;
	return 0;
}

static int record_get(struct semi_dp *dp, uint32_t ifindex, struct semi_attachment *rec)
{
	if (bpf_map_lookup_elem(dp->map_fd[M_ATTACH], &ifindex, rec) == 0)
		return 0;
	memset(rec, 0, sizeof(*rec));
	rec->ifindex = ifindex;
	if_indextoname(ifindex, rec->ifname);
	return -ENOENT;
}

static int record_put(struct semi_dp *dp, const struct semi_attachment *rec)
{
	if (bpf_map_update_elem(dp->map_fd[M_ATTACH], &rec->ifindex, rec, BPF_ANY))
		return dp_fail(dp, -errno, "cannot record attachment to %s: %s", rec->ifname,
			       strerror(errno));
	return 0;
}

static int tc_attach(struct semi_dp *dp, struct semi_attachment *rec, int fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)rec->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = SEMI_TC_HANDLE, .priority = SEMI_TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = SEMI_TC_HANDLE, .priority = SEMI_TC_PRIORITY,
		    .prog_fd = fd, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err == 0)
		rec->kinds |= SEMI_ATTACH_CLSACT_OURS;
	else if (err != -EEXIST)
		return dp_fail(dp, err, "cannot create clsact qdisc on %s: %s", rec->ifname,
			       strerror(-err));

	/* Our handle and priority, but someone else's program: leave it. */
	if (bpf_tc_query(&hook, &q) == 0 && q.prog_id != prog_id(fd) &&
	    q.prog_id != rec->tc_prog_id) {
		char name[BPF_OBJ_NAME_LEN];

		prog_name_by_id(q.prog_id, name, sizeof(name));
		return dp_fail(dp, -EBUSY,
			       "TC filter %#x prio %#x on %s runs program %u (%s), not this "
			       "instance's; semi-net will not replace it",
			       SEMI_TC_HANDLE, SEMI_TC_PRIORITY, rec->ifname, q.prog_id, name);
	}
	err = bpf_tc_attach(&hook, &o);
	if (err)
		return dp_fail(dp, err, "cannot attach TC program to %s: %s", rec->ifname,
			       strerror(-err));
	rec->tc_prog_id = o.prog_id;
	return 0;
}

static int resolve(struct semi_dp *dp, const char *ifname, uint32_t *ifindex)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE)
		return dp_fail(dp, -EINVAL, "bad device name '%s'", ifname ? ifname : "");
	*ifindex = if_nametoindex(ifname);
	if (!*ifindex)
		return dp_fail(dp, -ENODEV, "no device %s", ifname);
	return 0;
}

/* What XDP may do with the uplink itself (semi_ctl.uplink_flags). */
static void uplink_flags(struct semi_dp *dp, uint32_t ifindex, bool xdp)
{
	uint32_t flags = 0;

	/* XDP_TX out of a veth goes to its peer: the same test as for a
	 * redirect target; a NIC's own XDP_TX ring always takes them. */
	if (xdp && semi_dev_xdp_target(ifindex) == 1)
		flags |= SEMI_UPLINK_F_XDP_TX;
	__atomic_store_n(&dp->ctl->uplink_flags, flags, __ATOMIC_RELEASE);
}

int semi_dp_uplink_refresh(struct semi_dp *dp)
{
	struct semi_attachment rec;
	uint32_t ifindex = dp->ctl->uplink_ifindex;
	char name[IF_NAMESIZE + 16];
	int err;

	if (!ifindex)
		return dp_fail(dp, -ENOENT, "instance %s has no uplink", dp->instance);
	err = dp_lock(dp);
	if (err)
		return err;
	if (record_get(dp, ifindex, &rec))
		err = dp_fail(dp, -ENOENT, "instance %s has no record of its uplink %s",
			      dp->instance, dp_ifname(ifindex, name));
	else
		uplink_flags(dp, ifindex, rec.kinds & SEMI_ATTACH_XDP_DRV);
	dp_unlock(dp);
	return err;
}

int semi_dp_attach_uplink(struct semi_dp *dp, const char *ifname, enum semi_xdp_mode mode)
{
	struct semi_attachment rec;
	uint32_t ifindex, cur = 0, ours;
	int err;

	err = resolve(dp, ifname, &ifindex);
	if (err)
		return err;
	err = dp_lock(dp);
	if (err)
		return err;
	if (dp->ctl->uplink_ifindex && dp->ctl->uplink_ifindex != ifindex &&
	    if_indextoname(dp->ctl->uplink_ifindex, rec.ifname)) {
		err = dp_fail(dp, -EBUSY,
			      "instance %s already has uplink %s; detach it first",
			      dp->instance, rec.ifname);
		goto out;
	}
	record_get(dp, ifindex, &rec);
	if (rec.kinds & SEMI_ATTACH_TC_PORT) {
		err = dp_fail(dp, -EBUSY, "%s is a port device of instance %s, not an uplink",
			      ifname, dp->instance);
		goto out;
	}

	if (mode != SEMI_XDP_OFF) {
		ours = prog_id(dp->prog_fd[SEMI_PROG_ID_UPLINK_XDP]);
		err = bpf_xdp_query_id((int)ifindex, XDP_FLAGS_DRV_MODE, &cur);
		if (err) {
			err = dp_fail(dp, err, "cannot query XDP on %s: %s", ifname,
				      strerror(-err));
			goto out;
		}
		if (cur && cur != ours) {
			char name[BPF_OBJ_NAME_LEN];

			prog_name_by_id(cur, name, sizeof(name));
			err = dp_fail(dp, -EBUSY,
				      "%s already runs XDP program %u (%s); semi-net will not "
				      "replace another program", ifname, cur, name);
			goto out;
		}
		if (!cur) {
			err = bpf_xdp_attach((int)ifindex,
					     dp->prog_fd[SEMI_PROG_ID_UPLINK_XDP],
					     XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
					     NULL);
			if (err && mode == SEMI_XDP_AUTO &&
			    (err == -EOPNOTSUPP || err == -EINVAL)) {
				pr_info("%s has no native XDP (%s): uplink runs on TC only",
					ifname, strerror(-err));
				err = 0;
				ours = 0;
			} else if (err) {
				err = dp_fail(dp, err, "cannot attach XDP to %s: %s", ifname,
					      strerror(-err));
				goto out;
			}
		}
		if (ours) {
			rec.kinds |= SEMI_ATTACH_XDP_DRV;
			rec.xdp_prog_id = ours;
		}
	}
	err = tc_attach(dp, &rec, dp->prog_fd[SEMI_PROG_ID_UPLINK_TC]);
	if (!err) {
		rec.kinds |= SEMI_ATTACH_TC_UPLINK;
		err = record_put(dp, &rec);
	}
	if (!err) {
		__atomic_store_n(&dp->ctl->uplink_ifindex, ifindex, __ATOMIC_RELEASE);
		uplink_flags(dp, ifindex, rec.kinds & SEMI_ATTACH_XDP_DRV);
	}
	else if (rec.kinds)
		record_put(dp, &rec);	/* whatever did get attached */
out:
	dp_unlock(dp);
	return err;
}

int semi_dp_attach_port(struct semi_dp *dp, const char *ifname)
{
	struct semi_attachment rec;
	uint32_t ifindex;
	int err;

	err = resolve(dp, ifname, &ifindex);
	if (err)
		return err;
	err = dp_lock(dp);
	if (err)
		return err;
	record_get(dp, ifindex, &rec);
	if (rec.kinds & (SEMI_ATTACH_TC_UPLINK | SEMI_ATTACH_XDP_DRV)) {
		err = dp_fail(dp, -EBUSY, "%s is the uplink of instance %s, not a port device",
			      ifname, dp->instance);
		goto out;
	}
	err = tc_attach(dp, &rec, dp->prog_fd[SEMI_PROG_ID_PORT]);
	if (!err) {
		rec.kinds |= SEMI_ATTACH_TC_PORT;
		err = record_put(dp, &rec);
	} else if (rec.kinds) {
		record_put(dp, &rec);
	}
out:
	dp_unlock(dp);
	return err;
}

static int xdp_detach(struct semi_dp *dp, const struct semi_attachment *rec)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, o);
	uint32_t cur = 0;
	int err, fd;

	err = bpf_xdp_query_id((int)rec->ifindex, XDP_FLAGS_DRV_MODE, &cur);
	if (err == -ENODEV)
		return 0;	/* device gone, program with it */
	if (err || cur != rec->xdp_prog_id)
		return 0;	/* not ours any more */
	fd = bpf_prog_get_fd_by_id(cur);
	if (fd < 0)
		return 0;
	o.old_prog_fd = fd;
	err = bpf_xdp_detach((int)rec->ifindex, XDP_FLAGS_DRV_MODE, &o);
	close(fd);
	if (err && err != -ENODEV)
		return dp_fail(dp, err, "cannot detach XDP from %s: %s", rec->ifname,
			       strerror(-err));
	return 0;
}

static int tc_detach(struct semi_dp *dp, const struct semi_attachment *rec)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)rec->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = SEMI_TC_HANDLE, .priority = SEMI_TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = SEMI_TC_HANDLE, .priority = SEMI_TC_PRIORITY);
	int err;

	err = bpf_tc_query(&hook, &q);
	if (err == 0 && q.prog_id == rec->tc_prog_id) {
		err = bpf_tc_detach(&hook, &d);
		if (err && err != -ENOENT && err != -ENODEV)
			return dp_fail(dp, err, "cannot detach TC program from %s: %s",
				       rec->ifname, strerror(-err));
	}
	/* A clsact qdisc we created goes when no filter is left on it. */
	if ((rec->kinds & SEMI_ATTACH_CLSACT_OURS) && nl_tc_filter_count(rec->ifindex) == 0) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	return 0;
}

int semi_dp_detach_ifindex(struct semi_dp *dp, uint32_t ifindex)
{
	struct semi_attachment rec;
	char name[IF_NAMESIZE + 16];
	int err;

	err = dp_lock(dp);
	if (err)
		return err;
	if (record_get(dp, ifindex, &rec)) {
		err = dp_fail(dp, -ENOENT, "instance %s has nothing attached to %s",
			      dp->instance, dp_ifname(ifindex, name));
		goto out;
	}
	/* The device may have been renamed, or be gone: say what it is now. */
	if_indextoname(ifindex, rec.ifname);
	if (rec.kinds & SEMI_ATTACH_XDP_DRV)
		err = xdp_detach(dp, &rec);
	if (!err && (rec.kinds & (SEMI_ATTACH_TC_UPLINK | SEMI_ATTACH_TC_PORT)))
		err = tc_detach(dp, &rec);
	if (err)
		goto out;
	if (dp->ctl && dp->ctl->uplink_ifindex == ifindex)
		__atomic_store_n(&dp->ctl->uplink_ifindex, 0, __ATOMIC_RELEASE);
	bpf_map_delete_elem(dp->map_fd[M_ATTACH], &ifindex);
out:
	dp_unlock(dp);
	return err;
}

int semi_dp_detach(struct semi_dp *dp, const char *ifname)
{
	uint32_t ifindex;
	int err = resolve(dp, ifname, &ifindex);

	return err ? err : semi_dp_detach_ifindex(dp, ifindex);
}

int semi_dp_detach_all(struct semi_dp *dp)
{
	uint32_t key, next;
	uint32_t keys[SEMI_MAX_DEVS];
	int n = 0, err, ret = 0;

	err = dp_lock(dp);
	if (err)
		return err;
	/* Collect first: detaching deletes from the map being walked. */
	for (err = bpf_map_get_next_key(dp->map_fd[M_ATTACH], NULL, &next);
	     !err && n < SEMI_MAX_DEVS;
	     err = bpf_map_get_next_key(dp->map_fd[M_ATTACH], &key, &next)) {
		keys[n++] = next;
		key = next;
	}
	for (int i = 0; i < n; i++) {
		err = semi_dp_detach_ifindex(dp, keys[i]);
		if (err && !ret)
			ret = err;
	}
	dp_unlock(dp);
	return ret;
}

int semi_dp_attachments(struct semi_dp *dp, struct semi_attachment *out, int max)
{
	uint32_t key, next;
	int n = 0, err;

	for (err = bpf_map_get_next_key(dp->map_fd[M_ATTACH], NULL, &next); !err;
	     err = bpf_map_get_next_key(dp->map_fd[M_ATTACH], &key, &next)) {
		key = next;
		if (n < max && bpf_map_lookup_elem(dp->map_fd[M_ATTACH], &next, &out[n]))
			continue;	/* went away while we looked */
		n++;
	}
	return n;
}
