// SPDX-License-Identifier: GPL-2.0
/*
 * SR-IOV VF settings on the PF: IFLA_VFINFO_LIST in RTM_GETLINK (with
 * RTEXT_FILTER_VF) and RTM_SETLINK, as `ip link set PF vf N ...`.
 *
 * The kernel answers a VF request on a device without VFs with a bare
 * EOPNOTSUPP or EINVAL; we read IFLA_NUM_VF first so the caller gets
 * "eth0 has no VF 3 (it has 0 VFs)" instead.
 */
#include <errno.h>
#include <string.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "netcfg/internal.h"

#define VLAN_MAX	4094
#define QOS_MAX		7
#define VF_SETTING_UNKNOWN ((uint32_t)-1)	/* driver does not report it */

static int8_t vf_bool(uint32_t setting)
{
	return setting == VF_SETTING_UNKNOWN ? -1 : setting != 0;
}

static void vf_info_parse(struct nlattr *info, unsigned int want,
			  struct netcfg__vf_info *out)
{
	struct nlattr *tb[IFLA_VF_MAX + 1];
	struct netcfg_vf *vf = &out->vf;
	const struct ifla_vf_mac *mac;

	if (nla_parse_nested(tb, IFLA_VF_MAX, info, NULL) < 0)
		return;
	/* Every VF entry carries IFLA_VF_MAC; its .vf is the index. */
	if (!tb[IFLA_VF_MAC] || nla_len(tb[IFLA_VF_MAC]) < (int)sizeof(*mac))
		return;
	mac = nla_data(tb[IFLA_VF_MAC]);
	if (mac->vf != want)
		return;

	out->found = true;
	memset(vf, 0, sizeof(*vf));
	vf->spoofchk = vf->trust = vf->link_state = -1;
	memcpy(vf->mac, mac->mac, NETCFG_ETH_ALEN);
	if (tb[IFLA_VF_VLAN] &&
	    nla_len(tb[IFLA_VF_VLAN]) >= (int)sizeof(struct ifla_vf_vlan)) {
		const struct ifla_vf_vlan *v = nla_data(tb[IFLA_VF_VLAN]);

		vf->vlan = (uint16_t)v->vlan;
		vf->qos = (uint8_t)v->qos;
	}
	if (tb[IFLA_VF_SPOOFCHK] &&
	    nla_len(tb[IFLA_VF_SPOOFCHK]) >= (int)sizeof(struct ifla_vf_spoofchk)) {
		const struct ifla_vf_spoofchk *s = nla_data(tb[IFLA_VF_SPOOFCHK]);

		vf->spoofchk = vf_bool(s->setting);
	}
	if (tb[IFLA_VF_TRUST] &&
	    nla_len(tb[IFLA_VF_TRUST]) >= (int)sizeof(struct ifla_vf_trust)) {
		const struct ifla_vf_trust *t = nla_data(tb[IFLA_VF_TRUST]);

		vf->trust = vf_bool(t->setting);
	}
	if (tb[IFLA_VF_LINK_STATE] &&
	    nla_len(tb[IFLA_VF_LINK_STATE]) >= (int)sizeof(struct ifla_vf_link_state)) {
		const struct ifla_vf_link_state *ls =
			nla_data(tb[IFLA_VF_LINK_STATE]);

		vf->link_state = ls->link_state <= NETCFG_VF_LINK_DISABLE ?
				 (int8_t)ls->link_state : -1;
	}
}

int netcfg__vf_parse(struct nlmsghdr *nlh, unsigned int vf,
		     struct netcfg__vf_info *info)
{
	struct nlattr *tb[IFLA_MAX + 1], *a;
	int rem;

	memset(info, 0, sizeof(*info));
	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlh, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0)
		return -EINVAL;
	if (tb[IFLA_NUM_VF] && nla_len(tb[IFLA_NUM_VF]) >= 4)
		info->num_vf = nla_get_u32(tb[IFLA_NUM_VF]);
	if (!tb[IFLA_VFINFO_LIST])
		return 0;
	nla_for_each_nested(a, tb[IFLA_VFINFO_LIST], rem) {
		if (nla_type(a) != IFLA_VF_INFO)
			continue;
		vf_info_parse(a, vf, info);
		if (info->found)
			break;
	}
	return 0;
}

struct vf_req {
	unsigned int vf;
	int ifindex;			/* the PF's, from the answer */
	struct netcfg__vf_info info;
	bool answered;
};

static int vf_cb(struct nlmsghdr *nlh, void *arg)
{
	struct vf_req *r = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	r->answered = true;
	r->ifindex = ((struct ifinfomsg *)nlmsg_data(nlh))->ifi_index;
	return netcfg__vf_parse(nlh, r->vf, &r->info);
}

/*
 * Read what the PF says about VF `vf` (and how many VFs it has).  `what`
 * words a failure: "cannot read VF 2 of eth0".
 */
static int vf_query(struct netcfg *nc, const char *pf, unsigned int vf,
		    struct vf_req *r, const char *what)
{
	struct nl_msg *msg;
	int err;

	err = netcfg__check_name(nc, pf, what);
	if (err)
		return err;
	memset(r, 0, sizeof(*r));
	r->vf = vf;
	msg = netcfg__link_get_msg(0, pf, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
	if (!msg)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
				    "%s: out of memory", what);
	err = netcfg__request(nc, msg, vf_cb, r);
	nlmsg_free(msg);
	if (err == -ENODEV)
		return netcfg__fail(nc, NETCFG_LOG_WARN, err, "%s: no device %s",
				    what, pf);
	if (err)
		return netcfg__fail_sys(nc, err, "%s", what);
	if (!r->answered)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EBADMSG,
				    "%s: no answer from the kernel", what);
	return 0;
}

static int vf_missing(struct netcfg *nc, const char *pf, unsigned int vf,
		      const struct vf_req *r, const char *what)
{
	if (vf >= r->info.num_vf)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOENT,
				    "%s: %s has no VF %u (it has %u VF%s)", what,
				    pf, vf, r->info.num_vf,
				    r->info.num_vf == 1 ? "" : "s");
	/* Counted but not listed: the driver does not report VF settings. */
	return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOENT,
			    "%s: %s has %u VFs but reports no settings for VF %u",
			    what, pf, r->info.num_vf, vf);
}

int netcfg_vf_count(struct netcfg *nc, const char *pf)
{
	char what[64];
	struct vf_req r;
	int err;

	netcfg__clear_error(nc);
	snprintf(what, sizeof(what), "cannot count the VFs of %s", pf ? pf : "?");
	err = vf_query(nc, pf, 0, &r, what);
	if (err)
		return err;
	return (int)r.info.num_vf;
}

int netcfg_vf_get(struct netcfg *nc, const char *pf, unsigned int vf,
		  struct netcfg_vf *out)
{
	char what[64];
	struct vf_req r;
	int err;

	netcfg__clear_error(nc);
	snprintf(what, sizeof(what), "cannot read VF %u of %s", vf, pf ? pf : "?");
	err = vf_query(nc, pf, vf, &r, what);
	if (err)
		return err;
	if (vf >= r.info.num_vf || !r.info.found)
		return vf_missing(nc, pf, vf, &r, what);
	*out = r.info.vf;
	return 0;
}

struct nl_msg *netcfg__vf_msg(int ifindex, unsigned int vf,
			      const struct netcfg_vf *cfg, unsigned int what)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
	};
	struct nlattr *list, *info;
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		goto err_free_msg;
	list = nla_nest_start(msg, IFLA_VFINFO_LIST | NLA_F_NESTED);
	if (!list)
		goto err_free_msg;
	info = nla_nest_start(msg, IFLA_VF_INFO | NLA_F_NESTED);
	if (!info)
		goto err_free_msg;
	if (what & NETCFG_VF_MAC) {
		struct ifla_vf_mac m = { .vf = vf };

		memcpy(m.mac, cfg->mac, NETCFG_ETH_ALEN);
		if (nla_put(msg, IFLA_VF_MAC, sizeof(m), &m) < 0)
			goto err_free_msg;
	}
	if (what & NETCFG_VF_VLAN) {
		struct ifla_vf_vlan v = {
			.vf = vf, .vlan = cfg->vlan, .qos = cfg->qos,
		};

		if (nla_put(msg, IFLA_VF_VLAN, sizeof(v), &v) < 0)
			goto err_free_msg;
	}
	if (what & NETCFG_VF_SPOOFCHK) {
		struct ifla_vf_spoofchk s = {
			.vf = vf, .setting = cfg->spoofchk > 0,
		};

		if (nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(s), &s) < 0)
			goto err_free_msg;
	}
	if (what & NETCFG_VF_TRUST) {
		struct ifla_vf_trust t = { .vf = vf, .setting = cfg->trust > 0 };

		if (nla_put(msg, IFLA_VF_TRUST, sizeof(t), &t) < 0)
			goto err_free_msg;
	}
	if (what & NETCFG_VF_LINK_STATE) {
		struct ifla_vf_link_state ls = {
			.vf = vf, .link_state = (uint32_t)cfg->link_state,
		};

		if (nla_put(msg, IFLA_VF_LINK_STATE, sizeof(ls), &ls) < 0)
			goto err_free_msg;
	}
	nla_nest_end(msg, info);
	nla_nest_end(msg, list);
	return msg;

err_free_msg:
	nlmsg_free(msg);
	return NULL;
}

static const char *const link_state_names[] = {
	[NETCFG_VF_LINK_AUTO] = "auto",
	[NETCFG_VF_LINK_ENABLE] = "enable",
	[NETCFG_VF_LINK_DISABLE] = "disable",
};

/* One setting in words: "MAC 52:54:00:12:34:56", "VLAN 10 qos 3", ... */
static const char *vf_desc(char *buf, size_t size, const struct netcfg_vf *cfg,
			   unsigned int bit)
{
	char m[NETCFG_MAC_STRLEN];

	switch (bit) {
	case NETCFG_VF_MAC:
		snprintf(buf, size, "MAC %s", netcfg_mac_str(cfg->mac, m));
		break;
	case NETCFG_VF_VLAN:
		if (cfg->vlan)
			snprintf(buf, size, "VLAN %u qos %u", cfg->vlan, cfg->qos);
		else
			snprintf(buf, size, "VLAN off");
		break;
	case NETCFG_VF_SPOOFCHK:
		snprintf(buf, size, "spoofchk %s", cfg->spoofchk > 0 ? "on" : "off");
		break;
	case NETCFG_VF_TRUST:
		snprintf(buf, size, "trust %s", cfg->trust > 0 ? "on" : "off");
		break;
	case NETCFG_VF_LINK_STATE:
		snprintf(buf, size, "link state %s",
			 cfg->link_state >= 0 && cfg->link_state <= NETCFG_VF_LINK_DISABLE ?
			 link_state_names[cfg->link_state] : "invalid");
		break;
	default:
		snprintf(buf, size, "setting %#x", bit);
	}
	return buf;
}

#define VF_ALL (NETCFG_VF_MAC | NETCFG_VF_VLAN | NETCFG_VF_SPOOFCHK | \
		NETCFG_VF_TRUST | NETCFG_VF_LINK_STATE)

/* Everything to be set, in words: "MAC 52:..., spoofchk on" */
static const char *vf_desc_all(char *buf, size_t size,
			       const struct netcfg_vf *cfg, unsigned int what)
{
	unsigned int bit;
	size_t n = 0;
	char one[48];

	buf[0] = '\0';
	for (bit = 1; bit & VF_ALL; bit <<= 1) {
		if (!(what & bit) || n >= size)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
				      vf_desc(one, sizeof(one), cfg, bit));
	}
	return buf;
}

int netcfg_vf_set(struct netcfg *nc, const char *pf, unsigned int vf,
		  const struct netcfg_vf *cfg, unsigned int what)
{
	char desc[192], what_s[256], one[48];
	struct vf_req r;
	struct nl_msg *msg;
	unsigned int bit;
	int err;

	netcfg__clear_error(nc);
	if (!what || (what & ~VF_ALL))
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "cannot configure VF %u of %s: invalid settings mask %#x",
				    vf, pf ? pf : "?", what);
	vf_desc_all(desc, sizeof(desc), cfg, what);
	if (what & (what - 1))	/* several settings */
		snprintf(what_s, sizeof(what_s), "cannot configure VF %u on %s (%s)",
			 vf, pf ? pf : "?", desc);
	else
		snprintf(what_s, sizeof(what_s), "cannot set %s of VF %u on %s",
			 desc, vf, pf ? pf : "?");
	if ((what & NETCFG_VF_VLAN) && (cfg->vlan > VLAN_MAX || cfg->qos > QOS_MAX))
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "%s: VLAN must be 0-%d and qos 0-%d", what_s,
				    VLAN_MAX, QOS_MAX);
	if ((what & NETCFG_VF_VLAN) && !cfg->vlan && cfg->qos)
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "%s: qos needs a VLAN", what_s);
	if ((what & NETCFG_VF_LINK_STATE) &&
	    (cfg->link_state < NETCFG_VF_LINK_AUTO ||
	     cfg->link_state > NETCFG_VF_LINK_DISABLE))
		return netcfg__fail(nc, NETCFG_LOG_WARN, -EINVAL,
				    "%s: link state must be auto, enable or disable",
				    what_s);

	err = vf_query(nc, pf, vf, &r, what_s);
	if (err)
		return err;
	if (vf >= r.info.num_vf)
		return vf_missing(nc, pf, vf, &r, what_s);

	for (bit = 1; bit & VF_ALL; bit <<= 1) {
		if (!(what & bit))
			continue;
		vf_desc(one, sizeof(one), cfg, bit);
		msg = netcfg__vf_msg(r.ifindex, vf, cfg, bit);
		if (!msg)
			return netcfg__fail(nc, NETCFG_LOG_WARN, -ENOMEM,
					    "cannot set %s of VF %u on %s: out of memory",
					    one, vf, pf);
		err = netcfg__request(nc, msg, NULL, NULL);
		nlmsg_free(msg);
		if (err)
			return netcfg__fail_sys(nc, err,
						"cannot set %s of VF %u on %s",
						one, vf, pf);
		pr_debug("VF %u on %s: %s", vf, pf, one);
	}
	return 0;
}
