// SPDX-License-Identifier: GPL-2.0
/*
 * The state file, read strictly: a key this version does not know, a value
 * of the wrong type, a duplicate port or MAC is corruption, reported with
 * the file, the port and the key, and the daemon does not start.  Better
 * to stop than to come up with a port table that differs from what was
 * acknowledged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/proto.h"
#include "daemon/statefile.h"
#include "daemon/util.h"

#define STATEFILE_MAX_BYTES	(64 << 20)

const char *port_mode_name(enum port_mode m)
{
	return m == PM_LEGACY ? "legacy" : "representor";
}

int port_mode_parse(const char *s)
{
	if (s && !strcmp(s, "representor"))
		return PM_REPRESENTOR;
	if (s && !strcmp(s, "legacy"))
		return PM_LEGACY;
	return -EINVAL;
}

const char *mig_role_name(enum mig_role r)
{
	return r == MIG_SOURCE ? "source" : r == MIG_DEST ? "destination" : "none";
}

static int mig_role_parse(const char *s)
{
	if (!strcmp(s, "source"))
		return MIG_SOURCE;
	if (!strcmp(s, "destination"))
		return MIG_DEST;
	return -EINVAL;
}

static const char *handover_name(enum fsm_handover h)
{
	return h == FH_HOLD ? "hold" : h == FH_WAIT ? "wait" : "none";
}

void state_doc_free(struct state_doc *doc)
{
	free(doc->ports);
	free(doc->peers);
	memset(doc, 0, sizeof(*doc));
}

static json_object *mig_json(const struct mig_rec *m)
{
	json_object *o;

	if (m->role == MIG_NONE)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "role", json_object_new_string(mig_role_name(m->role)));
	json_object_object_add(o, "peer", m->peer[0] ? json_object_new_string(m->peer) : NULL);
	json_object_object_add(o, "origin", json_object_new_string(fsm_state_name(m->origin)));
	json_object_object_add(o, "since_ms", json_object_new_int64(m->since_ms));
	json_object_object_add(o, "out_ms", json_object_new_int64(m->out_ms));
	json_object_object_add(o, "remote_src_base", json_object_new_uint64(m->remote_src_base));
	json_object_object_add(o, "seen_ms", json_object_new_int64(m->seen_ms));
	json_object_object_add(o, "drained", json_object_new_uint64(m->drained));
	json_object_object_add(o, "drain_failed", json_object_new_uint64(m->drain_failed));
	json_object_object_add(o, "held_out", json_object_new_uint64(m->held_out));
	return o;
}

static json_object *ann_json(const struct ann_rec *a)
{
	json_object *o;

	if (!a->active)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "rounds", json_object_new_int64(a->rounds));
	json_object_object_add(o, "started_ms", json_object_new_int64(a->started_ms));
	json_object_object_add(o, "rx_base", json_object_new_uint64(a->rx_base));
	json_object_object_add(o, "flood_base", json_object_new_uint64(a->flood_base));
	return o;
}

json_object *port_addrs_json(const struct addr_set *p)
{
	json_object *o = json_object_new_object(), *v4 = json_object_new_array(),
		    *v6 = json_object_new_array();
	char buf[INET6_ADDRSTRLEN];

	for (int i = 0; i < p->n_ipv4 && i < PORT_ADDRS; i++)
		json_object_array_add(v4, json_object_new_string(
			inet_ntop(AF_INET, &p->ipv4[i], buf, sizeof(buf))));
	for (int i = 0; i < p->n_ipv6 && i < PORT_ADDRS; i++)
		json_object_array_add(v6, json_object_new_string(
			inet_ntop(AF_INET6, &p->ipv6[i], buf, sizeof(buf))));
	json_object_object_add(o, "ipv4", v4);
	json_object_object_add(o, "ipv6", v6);
	return o;
}

json_object *port_rec_to_json(const struct port_rec *p)
{
	json_object *o = json_object_new_object();
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
		 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "mac", json_object_new_string(mac));
	json_object_object_add(o, "vlan", json_object_new_int(p->vlan));
	json_object_object_add(o, "vf", p->vf[0] ? json_object_new_string(p->vf) : NULL);
	json_object_object_add(o, "tap", p->tap[0] ? json_object_new_string(p->tap) : NULL);
	json_object_object_add(o, "mode", json_object_new_string(port_mode_name(p->mode)));
	json_object_object_add(o, "state", json_object_new_string(fsm_state_name(p->state)));
	json_object_object_add(o, "handover",
			       json_object_new_string(handover_name(p->handover)));
	json_object_object_add(o, "vf_ifindex", json_object_new_int64(p->vf_ifindex));
	json_object_object_add(o, "tap_ifindex", json_object_new_int64(p->tap_ifindex));
	json_object_object_add(o, "vf_tx_base", json_object_new_uint64(p->vf_tx_base));
	json_object_object_add(o, "since_ms", json_object_new_int64(p->since_ms));
	json_object_object_add(o, "migration", mig_json(&p->mig));
	json_object_object_add(o, "announce", ann_json(&p->ann));
	json_object_object_add(o, "addresses", port_addrs_json(&p->addrs));
	return o;
}

json_object *statefile_to_json(const struct state_doc *doc)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "format", json_object_new_string(STATEFILE_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(STATEFILE_VERSION));
	json_object_object_add(o, "instance", json_object_new_string(doc->instance));
	json_object_object_add(o, "generation", json_object_new_uint64(doc->generation));
	for (size_t i = 0; i < doc->n; i++)
		json_object_array_add(arr, port_rec_to_json(&doc->ports[i]));
	json_object_object_add(o, "ports", arr);
	arr = json_object_new_array();
	for (size_t i = 0; i < doc->npeers; i++) {
		const struct peer_rec *pr = &doc->peers[i];
		json_object *po = json_object_new_object();
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", pr->mac[0], pr->mac[1],
			 pr->mac[2], pr->mac[3], pr->mac[4], pr->mac[5]);
		json_object_object_add(po, "name", json_object_new_string(pr->name));
		json_object_object_add(po, "address", json_object_new_string(pr->address));
		json_object_object_add(po, "mac", memcmp(pr->mac, "\0\0\0\0\0\0", 6) ?
				       json_object_new_string(mac) : NULL);
		json_object_array_add(arr, po);
	}
	json_object_object_add(o, "peers", arr);
	return o;
}

struct pctx {
	const char *path;
	char *err;
	size_t errlen;
	int64_t version;
};

static int corrupt(struct pctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int corrupt(struct pctx *x, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "state file %s is corrupt: %s; semi-netd will not start "
		 "with a port table that differs from what it acknowledged (fix or move the "
		 "file away to start empty)", x->path, what);
	return -EUCLEAN;
}

static const char *jtype(json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

static int want_str(struct pctx *x, const char *where, const char *key, json_object *v,
		    const char **out, bool nullable)
{
	if (!v && nullable) {
		*out = NULL;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return corrupt(x, "%s: '%s' must be a string%s, not %s", where, key,
			       nullable ? " or null" : "", jtype(v));
	*out = json_object_get_string(v);
	return 0;
}

static int want_int(struct pctx *x, const char *where, const char *key, json_object *v,
		    int64_t min, int64_t max, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return corrupt(x, "%s: '%s' must be an integer, not %s", where, key, jtype(v));
	*out = json_object_get_int64(v);
	if (*out < min || *out > max)
		return corrupt(x, "%s: '%s' = %" PRId64 " is out of range %" PRId64 "..%" PRId64,
			       where, key, *out, min, max);
	return 0;
}

static int parse_mig(struct pctx *x, const char *where, json_object *o, struct mig_rec *m)
{
	const char *s;
	int64_t i;
	int err = 0, v;

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return corrupt(x, "%s: 'migration' must be an object or null, not %s", where,
			       jtype(o));
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "role")) {
			err = want_str(x, where, "migration.role", val, &s, false);
			if (!err && (v = mig_role_parse(s)) < 0)
				err = corrupt(x, "%s: bad migration role \"%.32s\"", where, s);
			if (!err)
				m->role = (enum mig_role)v;
		} else if (!strcmp(key, "peer")) {
			err = want_str(x, where, "migration.peer", val, &s, true);
			if (!err && s && (!s[0] || strlen(s) >= sizeof(m->peer)))
				err = corrupt(x, "%s: bad migration peer \"%.32s\"", where, s);
			if (!err)
				snprintf(m->peer, sizeof(m->peer), "%s", s ? s : "");
		} else if (!strcmp(key, "origin")) {
			err = want_str(x, where, "migration.origin", val, &s, false);
			if (!err && (v = fsm_state_parse(s)) < 0)
				err = corrupt(x, "%s: bad migration origin \"%.32s\"", where, s);
			if (!err)
				m->origin = (enum port_state)v;
		} else if (!strcmp(key, "since_ms") || !strcmp(key, "out_ms") ||
			   !strcmp(key, "seen_ms")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			*(key[0] == 's' && key[1] == 'i' ? &m->since_ms :
			  key[0] == 'o' ? &m->out_ms : &m->seen_ms) = i;
		} else if (!strcmp(key, "remote_src_base")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			m->remote_src_base = (uint64_t)i;
		} else if (!strcmp(key, "drained") || !strcmp(key, "drain_failed") ||
			   !strcmp(key, "held_out")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			*(!strcmp(key, "drained") ? &m->drained : !strcmp(key, "held_out") ?
			  &m->held_out : &m->drain_failed) = (uint64_t)i;
		} else {
			err = corrupt(x, "%s: unknown key 'migration.%.32s'", where, key);
		}
		if (err)
			return err;
	}
	if (m->role == MIG_NONE)
		return corrupt(x, "%s: 'migration' without a role", where);
	return 0;
}

static int parse_ann(struct pctx *x, const char *where, json_object *o, struct ann_rec *a)
{
	int64_t i;
	int err = 0;

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return corrupt(x, "%s: 'announce' must be an object or null, not %s", where,
			       jtype(o));
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "rounds")) {
			err = want_int(x, where, key, val, 0, 1000, &i);
			a->rounds = (uint32_t)i;
		} else if (!strcmp(key, "started_ms")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			a->started_ms = i;
		} else if (!strcmp(key, "rx_base") || !strcmp(key, "flood_base")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			*(key[0] == 'r' ? &a->rx_base : &a->flood_base) = (uint64_t)i;
		} else {
			err = corrupt(x, "%s: unknown key 'announce.%.32s'", where, key);
		}
		if (err)
			return err;
	}
	a->active = true;
	return 0;
}

static int parse_addr_list(struct pctx *x, const char *where, const char *key, json_object *arr,
			   int family, void *out, uint8_t *n)
{
	size_t len;

	if (!json_object_is_type(arr, json_type_array))
		return corrupt(x, "%s: 'addresses.%s' must be an array, not %s", where, key,
			       jtype(arr));
	len = json_object_array_length(arr);
	if (len > PORT_ADDRS)
		return corrupt(x, "%s: more than %d addresses in 'addresses.%s'", where,
			       PORT_ADDRS, key);
	for (size_t k = 0; k < len; k++) {
		json_object *v = json_object_array_get_idx(arr, k);
		const char *s;
		int err = want_str(x, where, key, v, &s, false);

		if (err)
			return err;
		if (inet_pton(family, s, (char *)out + k * (family == AF_INET ? 4 : 16)) != 1)
			return corrupt(x, "%s: bad address \"%.48s\" in 'addresses.%s'", where, s,
				       key);
	}
	*n = (uint8_t)len;
	return 0;
}

static int parse_addrs(struct pctx *x, const char *where, json_object *o, struct port_rec *p)
{
	int err = 0;

	if (!json_object_is_type(o, json_type_object))
		return corrupt(x, "%s: 'addresses' must be an object, not %s", where, jtype(o));
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "ipv4"))
			err = parse_addr_list(x, where, key, val, AF_INET, p->addrs.ipv4,
					      &p->addrs.n_ipv4);
		else if (!strcmp(key, "ipv6"))
			err = parse_addr_list(x, where, key, val, AF_INET6, p->addrs.ipv6,
					      &p->addrs.n_ipv6);
		else
			err = corrupt(x, "%s: unknown key 'addresses.%.32s'", where, key);
		if (err)
			return err;
	}
	return 0;
}

enum {
	K_NAME = 1 << 0, K_MAC = 1 << 1, K_STATE = 1 << 2,
	K_REQUIRED = K_NAME | K_MAC | K_STATE,
};

static int parse_port(struct pctx *x, size_t idx, json_object *o, struct port_rec *p)
{
	unsigned int seen = 0;
	char where[64];
	const char *s;
	int64_t i;
	int err = 0, v;

	snprintf(where, sizeof(where), "port %zu", idx);
	if (!json_object_is_type(o, json_type_object))
		return corrupt(x, "%s must be an object, not %s", where, jtype(o));
	/* The name first, so that every later message can say which port. */
	if (json_object_object_get_ex(o, "name", NULL)) {
		json_object *n = json_object_object_get(o, "name");

		err = want_str(x, where, "name", n, &s, false);
		if (err)
			return err;
		if (!proto_name_ok(s))
			return corrupt(x, "%s: bad name \"%.32s\"", where, s);
		snprintf(p->name, sizeof(p->name), "%s", s);
		snprintf(where, sizeof(where), "port %zu ('%s')", idx, p->name);
		seen |= K_NAME;
	}
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "name")) {
			continue;
		} else if (!strcmp(key, "mac")) {
			err = want_str(x, where, key, val, &s, false);
			if (!err && proto_mac_parse(s, p->mac))
				err = corrupt(x, "%s: bad MAC \"%.32s\"", where, s);
			seen |= K_MAC;
		} else if (!strcmp(key, "vlan")) {
			err = want_int(x, where, key, val, 0, 4094, &i);
			p->vlan = (uint16_t)i;
		} else if (!strcmp(key, "vf") || !strcmp(key, "tap")) {
			char *dst = key[0] == 'v' ? p->vf : p->tap;

			err = want_str(x, where, key, val, &s, true);
			if (!err && s && !proto_dev_ok(s))
				err = corrupt(x, "%s: bad %s device \"%.32s\"", where, key, s);
			if (!err)
				snprintf(dst, SEMI_NAME_LEN, "%s", s ? s : "");
		} else if (!strcmp(key, "mode")) {
			err = want_str(x, where, key, val, &s, false);
			if (!err && (v = port_mode_parse(s)) < 0)
				err = corrupt(x, "%s: bad mode \"%.32s\"", where, s);
			if (!err)
				p->mode = (enum port_mode)v;
		} else if (!strcmp(key, "state")) {
			err = want_str(x, where, key, val, &s, false);
			if (!err && (v = fsm_state_parse(s)) < 0)
				err = corrupt(x, "%s: bad state \"%.32s\"", where, s);
			if (!err)
				p->state = (enum port_state)v;
			seen |= K_STATE;
		} else if (!strcmp(key, "handover")) {
			err = want_str(x, where, key, val, &s, false);
			if (!err) {
				if (!strcmp(s, "none"))
					p->handover = FH_NONE;
				else if (!strcmp(s, "wait"))
					p->handover = FH_WAIT;
				else if (!strcmp(s, "hold"))
					p->handover = FH_HOLD;
				else
					err = corrupt(x, "%s: bad handover \"%.32s\"", where, s);
			}
		} else if (!strcmp(key, "vf_ifindex") || !strcmp(key, "tap_ifindex")) {
			err = want_int(x, where, key, val, 0, UINT32_MAX, &i);
			*(key[0] == 'v' ? &p->vf_ifindex : &p->tap_ifindex) = (uint32_t)i;
		} else if (!strcmp(key, "vf_tx_base")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			p->vf_tx_base = (uint64_t)i;
		} else if (!strcmp(key, "since_ms")) {
			err = want_int(x, where, key, val, 0, INT64_MAX, &i);
			p->since_ms = i;
		} else if (!strcmp(key, "migration") && x->version >= 2) {
			err = parse_mig(x, where, val, &p->mig);
		} else if (!strcmp(key, "announce") && x->version >= 2) {
			err = parse_ann(x, where, val, &p->ann);
		} else if (!strcmp(key, "addresses") && x->version >= 2) {
			err = parse_addrs(x, where, val, p);
		} else {
			err = corrupt(x, "%s: unknown key '%.32s'", where, key);
		}
		if (err)
			return err;
	}
	if ((seen & K_REQUIRED) != K_REQUIRED)
		return corrupt(x, "%s: missing '%s'", where,
			       !(seen & K_NAME) ? "name" : !(seen & K_MAC) ? "mac" : "state");
	if (p->vf[0] && !strcmp(p->vf, p->tap))
		return corrupt(x, "%s: vf and tap are the same device %s", where, p->vf);
	if (p->state != PS_HANDOVER)
		p->handover = FH_NONE;
	else if (p->handover == FH_NONE)
		p->handover = FH_WAIT;
	return 0;
}

static int parse_peers(struct pctx *x, json_object *arr, struct state_doc *doc)
{
	size_t n;

	if (!json_object_is_type(arr, json_type_array))
		return corrupt(x, "'peers' must be an array, not %s", jtype(arr));
	n = json_object_array_length(arr);
	if (n > NETD_MAX_PEERS)
		return corrupt(x, "%zu peers, more than %d", n, NETD_MAX_PEERS);
	doc->peers = calloc(n ? n : 1, sizeof(*doc->peers));
	if (!doc->peers)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		json_object *o = json_object_array_get_idx(arr, k);
		struct peer_rec *pr = &doc->peers[k];
		char where[32];
		const char *s;
		int err = 0;

		snprintf(where, sizeof(where), "peer %zu", k);
		if (!json_object_is_type(o, json_type_object))
			return corrupt(x, "%s must be an object, not %s", where, jtype(o));
		json_object_object_foreach(o, key, val) {
			if (!strcmp(key, "name") || !strcmp(key, "address")) {
				bool nm = key[0] == 'n';

				err = want_str(x, where, key, val, &s, false);
				if (!err && (!s[0] || strlen(s) >= (nm ? sizeof(pr->name) :
								     sizeof(pr->address))))
					err = corrupt(x, "%s: bad %s \"%.32s\"", where, key, s);
				if (!err)
					snprintf(nm ? pr->name : pr->address,
						 nm ? sizeof(pr->name) : sizeof(pr->address), "%s", s);
			} else if (!strcmp(key, "mac")) {
				err = want_str(x, where, key, val, &s, true);
				if (!err && s && proto_mac_parse(s, pr->mac))
					err = corrupt(x, "%s: bad MAC \"%.32s\"", where, s);
			} else {
				err = corrupt(x, "%s: unknown key '%.32s'", where, key);
			}
			if (err)
				return err;
		}
		if (!pr->name[0] || !pr->address[0])
			return corrupt(x, "%s: needs a name and an address", where);
		doc->npeers = k + 1;
	}
	return 0;
}

int statefile_parse(const char *path, const char *text, size_t len, struct state_doc *doc,
		    char *err, size_t errlen)
{
	struct pctx x = { .path = path, .err = err, .errlen = errlen };
	enum json_tokener_error jerr;
	json_object *root, *v, *ports = NULL, *peers = NULL;
	bool has_format = false, has_version = false;
	int64_t i;
	size_t end, n;
	int ret = 0;

	memset(doc, 0, sizeof(*doc));
	if (len == 0)
		return corrupt(&x, "the file is empty");
	ret = proto_json_parse(text, len, " \n\t\r", &root, &jerr, &end);
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		return corrupt(&x, "not valid JSON at byte %zu: %s", end,
			       jerr == json_tokener_continue ? "the file ends inside a value" :
			       jerr != json_tokener_success ? json_tokener_error_desc(jerr) :
			       "more after the object");
	if (!json_object_is_type(root, json_type_object)) {
		ret = corrupt(&x, "the top level must be an object, not %s", jtype(root));
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		if (!strcmp(key, "format")) {
			has_format = true;
			if (!json_object_is_type(val, json_type_string) ||
			    strcmp(json_object_get_string(val), STATEFILE_FORMAT)) {
				ret = corrupt(&x, "'format' is not \"%s\"", STATEFILE_FORMAT);
				goto out;
			}
		} else if (!strcmp(key, "version")) {
			has_version = true;
			if (!json_object_is_type(val, json_type_int)) {
				ret = corrupt(&x, "'version' must be an integer, not %s",
					      jtype(val));
				goto out;
			}
			i = json_object_get_int64(val);
			if (i < STATEFILE_VERSION_MIN || i > STATEFILE_VERSION) {
				snprintf(err, errlen, "state file %s has version %" PRId64 "; this "
					 "semi-netd reads versions %d to %d (written by another "
					 "release?)", path, i, STATEFILE_VERSION_MIN,
					 STATEFILE_VERSION);
				ret = -EPROTO;
				goto out;
			}
			x.version = i;
		} else if (!strcmp(key, "instance")) {
			const char *s;

			ret = want_str(&x, "the file", key, val, &s, false);
			if (ret)
				goto out;
			if (strlen(s) > SEMI_INSTANCE_MAX) {
				ret = corrupt(&x, "'instance' is too long");
				goto out;
			}
			snprintf(doc->instance, sizeof(doc->instance), "%s", s);
		} else if (!strcmp(key, "generation")) {
			ret = want_int(&x, "the file", key, val, 0, INT64_MAX, &i);
			if (ret)
				goto out;
			doc->generation = (uint64_t)i;
		} else if (!strcmp(key, "ports")) {
			ports = val;
		} else if (!strcmp(key, "peers")) {
			peers = val;
		} else {
			ret = corrupt(&x, "unknown key '%.32s'", key);
			goto out;
		}
	}
	if (!has_format || !has_version) {
		ret = corrupt(&x, "missing '%s'", has_format ? "version" : "format");
		goto out;
	}
	if (peers && x.version < 2) {
		ret = corrupt(&x, "unknown key 'peers'");
		goto out;
	}
	if (peers) {
		ret = parse_peers(&x, peers, doc);
		if (ret)
			goto out;
	}
	if (!json_object_is_type(ports, json_type_array)) {
		ret = corrupt(&x, "'ports' must be an array, not %s", jtype(ports));
		goto out;
	}
	n = json_object_array_length(ports);
	if (n > SEMI_MAX_PORTS) {
		ret = corrupt(&x, "%zu ports, more than the datapath's %d", n, SEMI_MAX_PORTS);
		goto out;
	}
	doc->ports = calloc(n ? n : 1, sizeof(*doc->ports));
	if (!doc->ports) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		struct port_rec *p = &doc->ports[k];

		v = json_object_array_get_idx(ports, k);
		ret = parse_port(&x, k, v, p);
		if (ret)
			goto out;
		for (size_t j = 0; j < k; j++) {
			const struct port_rec *q = &doc->ports[j];

			if (!strcmp(q->name, p->name)) {
				ret = corrupt(&x, "port %zu: name '%s' also names port %zu", k,
					      p->name, j);
				goto out;
			}
			if (!memcmp(q->mac, p->mac, 6) && q->vlan == p->vlan) {
				ret = corrupt(&x, "port %zu ('%s'): MAC and VLAN also belong to "
					      "port '%s'", k, p->name, q->name);
				goto out;
			}
			if ((p->vf[0] && (!strcmp(p->vf, q->vf) || !strcmp(p->vf, q->tap))) ||
			    (p->tap[0] && (!strcmp(p->tap, q->vf) || !strcmp(p->tap, q->tap)))) {
				ret = corrupt(&x, "port %zu ('%s'): a device also belongs to port "
					      "'%s'", k, p->name, q->name);
				goto out;
			}
		}
		doc->n = k + 1;
	}
out:
	json_object_put(root);
	if (ret)
		state_doc_free(doc);
	return ret;
}

int statefile_load(const char *path, struct state_doc *doc, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	int fd, ret;

	memset(doc, 0, sizeof(*doc));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errlen, "state file %s does not exist", path);
		else
			snprintf(err, errlen, "cannot open state file %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "state file %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > STATEFILE_MAX_BYTES) {
		snprintf(err, errlen, "state file %s is %lld bytes, more than a state file can "
			 "be (%d)", path, (long long)st.st_size, STATEFILE_MAX_BYTES);
		close(fd);
		return -EFBIG;
	}
	ret = read_all(fd, (size_t)st.st_size, &buf);
	close(fd);
	if (ret) {
		snprintf(err, errlen, "cannot read state file %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = statefile_parse(path, buf, (size_t)st.st_size, doc, err, errlen);
	free(buf);
	return ret;
}

int statefile_save(const char *path, const struct state_doc *doc, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	json_object *o = statefile_to_json(doc);
	const char *text;
	int fd, dfd, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		json_object_put(o);
		snprintf(err, errlen, "state file path %s is too long", path);
		return -ENAMETOOLONG;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot write state file: cannot create %s: %s", tmp,
			 strerror(-ret));
		goto out_json;
	}
	ret = write_all(fd, text, strlen(text), -1);
	if (!ret)
		ret = write_all(fd, "\n", 1, -1);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write state file %s: %s", tmp, strerror(-ret));
		goto out_unlink;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(-ret));
		goto out_unlink;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync the directory of state file %s: %s", path,
			 strerror(-ret));
	}
	if (dfd >= 0)
		close(dfd);
	goto out_json;

out_unlink:
	unlink(tmp);
out_json:
	json_object_put(o);
	return ret;
}
