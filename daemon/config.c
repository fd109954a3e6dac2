// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration file: one JSON object, every key checked, unknown keys
 * refused (a typo must not silently leave a default in place).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/proto.h"
#include "daemon/util.h"

#define CONFIG_MAX_BYTES	(1 << 20)

void config_default_socket(const char *instance, char *buf, size_t len)
{
	if (!instance || !strcmp(instance, "default"))
		snprintf(buf, len, "%s/semi-netd.sock", NETD_RUN_DIR);
	else
		snprintf(buf, len, "%s/semi-netd.%s.sock", NETD_RUN_DIR, instance);
}

void config_default_host(char *buf, size_t len)
{
	struct utsname u;
	size_t n;

	if (uname(&u) < 0 || !u.nodename[0]) {
		snprintf(buf, len, "localhost");
		return;
	}
	n = strcspn(u.nodename, ".");
	if (n >= len)
		n = len - 1;
	memcpy(buf, u.nodename, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] > '~' || buf[i] == '/')
			buf[i] = '_';
}

void config_default_state(const char *instance, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", NETD_STATE_DIR, instance ? instance : "default");
}

unsigned int config_control_port(const struct netd_config *c)
{
	if (c->tunnel.control_port)
		return c->tunnel.control_port;
	return c->tunnel.port < 65535 ? c->tunnel.port + 1 : c->tunnel.port - 1;
}

const char *config_xdp_mode_name(enum semi_xdp_mode m)
{
	switch (m) {
	case SEMI_XDP_AUTO:
		return "auto";
	case SEMI_XDP_NATIVE:
		return "native";
	case SEMI_XDP_OFF:
		return "off";
	}
	return "?";
}

void config_defaults(struct netd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->instance, sizeof(c->instance), "default");
	snprintf(c->pin_root, sizeof(c->pin_root), "%s", SEMI_PIN_ROOT_DEFAULT);
	c->uplink_xdp = SEMI_XDP_AUTO;
	c->handover_poll_ms = 2;
	c->stats_interval_ms = 1000;
	c->max_clients = 256;
	c->announce.initial_ms = 50;
	c->announce.step_ms = 100;
	c->announce.rounds = 5;
	c->tunnel.port = 4789;
	c->tunnel.vni = 0;
	c->retire.linger_ms = 200;
	c->retire.grace_ms = 30000;
	c->hook.timeout_ms = 5000;
	c->drain_tap = true;
	c->hold.unplug = false;
	c->hold.incoming = false;
	c->hold.plug = false;
	c->hold.max_ms = 2000;
}

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
};

static int bad(struct ctx *x, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct ctx *x, const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "config %s: key '%s': %s", x->file, key, what);
	return -EINVAL;
}

static const char *jtype(json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

static int get_str(struct ctx *x, const char *key, json_object *v, char *out, size_t len,
		   bool (*ok)(const char *), const char *what)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return bad(x, key, "must be %s, not %s", what, jtype(v));
	s = json_object_get_string(v);
	if (strlen(s) >= len || strlen(s) != (size_t)json_object_get_string_len(v) ||
	    (ok && !ok(s)))
		return bad(x, key, "must be %s, not \"%.64s\"", what, s);
	snprintf(out, len, "%s", s);
	return 0;
}

static int get_uint(struct ctx *x, const char *key, json_object *v, unsigned int *out,
		    unsigned int min, unsigned int max)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return bad(x, key, "must be an integer %u..%u, not %s", min, max, jtype(v));
	i = json_object_get_int64(v);
	if (i < min || i > max)
		return bad(x, key, "must be an integer %u..%u, not %lld", min, max, (long long)i);
	*out = (unsigned int)i;
	return 0;
}

static int get_bool(struct ctx *x, const char *key, json_object *v, bool *out)
{
	if (!json_object_is_type(v, json_type_boolean))
		return bad(x, key, "must be true or false, not %s", jtype(v));
	*out = json_object_get_boolean(v);
	return 0;
}

static bool abs_path_ok(const char *s)
{
	return s[0] == '/';
}

static bool instance_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SEMI_INSTANCE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static bool addr_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A host name as peers and the datapath's peer table name it. */
static bool host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= NETD_HOST_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~' || s[i] == '/')
			return false;
	return true;
}

static bool any_ok(const char *s)
{
	return s[0] != '\0';
}

static int unknown(struct ctx *x, const char *prefix, const char *key, const char *known)
{
	snprintf(x->err, x->errlen, "config %s: unknown key '%s%s' (known: %s)", x->file, prefix,
		 key, known);
	return -EINVAL;
}

static int parse_announce(struct ctx *x, struct netd_config *c, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "announce", "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, key, v) {
		int err;

		if (!strcmp(key, "initial_ms"))
			err = get_uint(x, "announce.initial_ms", v, &c->announce.initial_ms, 0,
				       60000);
		else if (!strcmp(key, "step_ms"))
			err = get_uint(x, "announce.step_ms", v, &c->announce.step_ms, 0, 60000);
		else if (!strcmp(key, "rounds"))
			err = get_uint(x, "announce.rounds", v, &c->announce.rounds, 1, 100);
		else
			err = unknown(x, "announce.", key, "initial_ms, step_ms, rounds");
		if (err)
			return err;
	}
	return 0;
}

static int parse_peers(struct ctx *x, struct netd_config *c, json_object *arr)
{
	size_t n;

	if (!json_object_is_type(arr, json_type_array))
		return bad(x, "peers", "must be an array of {\"name\":..,\"address\":..}, not %s",
			   jtype(arr));
	n = json_object_array_length(arr);
	if (n > NETD_MAX_PEERS)
		return bad(x, "peers", "at most %d peers, not %zu", NETD_MAX_PEERS, n);
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(arr, i);
		struct netd_peer *peer = &c->peers[i];
		char key[64];
		int err = 0;

		snprintf(key, sizeof(key), "peers[%zu]", i);
		if (!json_object_is_type(p, json_type_object))
			return bad(x, key, "must be an object, not %s", jtype(p));
		json_object_object_foreach(p, k, v) {
			char sub[96];

			snprintf(sub, sizeof(sub), "%s.%s", key, k);
			if (!strcmp(k, "name"))
				err = get_str(x, sub, v, peer->name, sizeof(peer->name), host_ok,
					      "a host name of 1 to 15 printable characters");
			else if (!strcmp(k, "address"))
				err = get_str(x, sub, v, peer->address, sizeof(peer->address),
					      addr_ok, "an IPv4 or IPv6 address");
			else
				err = bad(x, sub, "unknown key (known: name, address)");
			if (err)
				return err;
		}
		if (!peer->name[0] || !peer->address[0])
			return bad(x, key, "needs both \"name\" and \"address\"");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->peers[j].name, peer->name))
				return bad(x, key, "peer name \"%s\" appears twice", peer->name);
	}
	c->n_peers = (int)n;
	return 0;
}

static int parse_tunnel(struct ctx *x, struct netd_config *c, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "tunnel", "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, key, v) {
		int err;

		if (!strcmp(key, "local"))
			err = get_str(x, "tunnel.local", v, c->tunnel.local,
				      sizeof(c->tunnel.local), addr_ok, "an IPv4 or IPv6 address");
		else if (!strcmp(key, "port"))
			err = get_uint(x, "tunnel.port", v, &c->tunnel.port, 1, 65535);
		else if (!strcmp(key, "vni"))
			err = get_uint(x, "tunnel.vni", v, &c->tunnel.vni, 0,
				       (1u << 24) - 1 - SEMI_VLAN_MAX);
		else if (!strcmp(key, "control_port"))
			err = get_uint(x, "tunnel.control_port", v, &c->tunnel.control_port, 1,
				       65535);
		else
			err = unknown(x, "tunnel.", key, "local, port, vni, control_port");
		if (err)
			return err;
	}
	/* The tunnel's datagrams never reach a socket: XDP takes them. */
	if (c->tunnel.control_port && c->tunnel.control_port == c->tunnel.port)
		return bad(x, "tunnel.control_port", "must differ from tunnel.port (%u)",
			   c->tunnel.port);
	return 0;
}

static int parse_retire(struct ctx *x, struct netd_config *c, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "retire", "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, key, v) {
		int err;

		if (!strcmp(key, "linger_ms"))
			err = get_uint(x, "retire.linger_ms", v, &c->retire.linger_ms, 0, 600000);
		else if (!strcmp(key, "grace_ms"))
			err = get_uint(x, "retire.grace_ms", v, &c->retire.grace_ms, 1, 86400000);
		else
			err = unknown(x, "retire.", key, "linger_ms, grace_ms");
		if (err)
			return err;
	}
	return 0;
}

static int parse_hold(struct ctx *x, struct netd_config *c, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "hold", "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, key, v) {
		int err;

		if (!strcmp(key, "unplug"))
			err = get_bool(x, "hold.unplug", v, &c->hold.unplug);
		else if (!strcmp(key, "incoming"))
			err = get_bool(x, "hold.incoming", v, &c->hold.incoming);
		else if (!strcmp(key, "plug"))
			err = get_bool(x, "hold.plug", v, &c->hold.plug);
		else if (!strcmp(key, "max_ms"))
			err = get_uint(x, "hold.max_ms", v, &c->hold.max_ms, 1, 60000);
		else
			err = unknown(x, "hold.", key, "unplug, incoming, plug, max_ms");
		if (err)
			return err;
	}
	return 0;
}

static int parse_hook(struct ctx *x, struct netd_config *c, json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(x, "hook", "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, key, v) {
		int err;

		if (!strcmp(key, "path"))
			err = get_str(x, "hook.path", v, c->hook.path, sizeof(c->hook.path),
				      abs_path_ok, "an absolute path");
		else if (!strcmp(key, "timeout_ms"))
			err = get_uint(x, "hook.timeout_ms", v, &c->hook.timeout_ms, 1, 600000);
		else
			err = unknown(x, "hook.", key, "path, timeout_ms");
		if (err)
			return err;
	}
	return 0;
}

static bool dev_ok(const char *s)
{
	return proto_dev_ok(s);
}

static int parse_xdp(struct ctx *x, struct netd_config *c, json_object *v)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

	if (s && !strcmp(s, "auto"))
		c->uplink_xdp = SEMI_XDP_AUTO;
	else if (s && !strcmp(s, "native"))
		c->uplink_xdp = SEMI_XDP_NATIVE;
	else if (s && !strcmp(s, "off"))
		c->uplink_xdp = SEMI_XDP_OFF;
	else if (s)
		return bad(x, "uplink_xdp", "must be one of auto, native, off, not \"%.32s\"", s);
	else
		return bad(x, "uplink_xdp", "must be one of auto, native, off, not %s", jtype(v));
	return 0;
}

#define KNOWN_KEYS "instance, host, uplink, uplink_xdp, bridge, socket, socket_group, " \
		   "state, pin_root, handover_poll_ms, stats_interval_ms, max_clients, " \
		   "announce, peers, tunnel, retire, hook, drain_tap, hold"

static int parse_root(struct ctx *x, struct netd_config *c, json_object *root)
{
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(x->err, x->errlen, "config %s: must be a JSON object, not %s", x->file,
			 jtype(root));
		return -EINVAL;
	}
	json_object_object_foreach(root, key, v) {
		int err;

		if (!strcmp(key, "instance"))
			err = get_str(x, key, v, c->instance, sizeof(c->instance), instance_ok,
				      "1 to 32 of [A-Za-z0-9_.-], not starting with '.'");
		else if (!strcmp(key, "host"))
			err = get_str(x, key, v, c->host, sizeof(c->host), host_ok,
				      "a host name of 1 to 15 printable characters");
		else if (!strcmp(key, "uplink"))
			err = get_str(x, key, v, c->uplink, sizeof(c->uplink), dev_ok,
				      "a device name of 1 to 15 characters");
		else if (!strcmp(key, "uplink_xdp"))
			err = parse_xdp(x, c, v);
		else if (!strcmp(key, "bridge"))
			err = get_str(x, key, v, c->bridge, sizeof(c->bridge), dev_ok,
				      "a device name of 1 to 15 characters");
		else if (!strcmp(key, "socket"))
			err = get_str(x, key, v, c->socket, sizeof(c->socket), abs_path_ok,
				      "an absolute path shorter than 108 bytes");
		else if (!strcmp(key, "socket_group"))
			err = get_str(x, key, v, c->socket_group, sizeof(c->socket_group), any_ok,
				      "a group name");
		else if (!strcmp(key, "state"))
			err = get_str(x, key, v, c->state, sizeof(c->state), abs_path_ok,
				      "an absolute path");
		else if (!strcmp(key, "pin_root"))
			err = get_str(x, key, v, c->pin_root, sizeof(c->pin_root), abs_path_ok,
				      "an absolute path on a bpf filesystem");
		else if (!strcmp(key, "handover_poll_ms"))
			err = get_uint(x, key, v, &c->handover_poll_ms, 1, 1000);
		else if (!strcmp(key, "stats_interval_ms"))
			err = get_uint(x, key, v, &c->stats_interval_ms, 10, 3600000);
		else if (!strcmp(key, "max_clients"))
			err = get_uint(x, key, v, &c->max_clients, 1, 4096);
		else if (!strcmp(key, "announce"))
			err = parse_announce(x, c, v);
		else if (!strcmp(key, "peers"))
			err = parse_peers(x, c, v);
		else if (!strcmp(key, "tunnel"))
			err = parse_tunnel(x, c, v);
		else if (!strcmp(key, "retire"))
			err = parse_retire(x, c, v);
		else if (!strcmp(key, "hook"))
			err = parse_hook(x, c, v);
		else if (!strcmp(key, "drain_tap"))
			err = get_bool(x, key, v, &c->drain_tap);
		else if (!strcmp(key, "hold"))
			err = parse_hold(x, c, v);
		else
			err = unknown(x, "", key, KNOWN_KEYS);
		if (err)
			return err;
	}
	return 0;
}

/* "line 3, column 7" for a byte offset. */
static void where(const char *text, size_t off, char *buf, size_t len)
{
	unsigned int line = 1, col = 1;

	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	snprintf(buf, len, "line %u, column %u", line, col);
}

int config_parse(struct netd_config *c, const char *file, const char *text, size_t len,
		 char *err, size_t errlen)
{
	struct ctx x = { .file = file, .err = err, .errlen = errlen };
	enum json_tokener_error jerr;
	json_object *root;
	char pos[64];
	size_t end;
	int ret;

	ret = proto_json_parse(text, len, " \n\t\r", &root, &jerr, &end);
	if (ret == -ENOMEM) {
		snprintf(err, errlen, "config %s: out of memory", file);
		return ret;
	}
	if (ret) {
		where(text, end, pos, sizeof(pos));
		snprintf(err, errlen, "config %s: not valid JSON at %s: %s", file, pos,
			 jerr == json_tokener_continue ? "the file ends inside a value" :
			 jerr != json_tokener_success ? json_tokener_error_desc(jerr) :
			 "more after the top-level object");
		return ret;
	}
	ret = parse_root(&x, c, root);
	json_object_put(root);
	if (ret)
		return ret;
	if (c->socket_group[0]) {
		struct group *g = getgrnam(c->socket_group);

		if (!g) {
			snprintf(err, errlen, "config %s: key 'socket_group': no group \"%s\" on "
				 "this system", file, c->socket_group);
			return -EINVAL;
		}
		c->gid = g->gr_gid;
	}
	return 0;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int fd, rerr;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "config %s: cannot open: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "config %s: not a regular file of at most %d bytes", path,
			 CONFIG_MAX_BYTES);
		close(fd);
		return -EINVAL;
	}
	rerr = read_all(fd, (size_t)st.st_size, out);
	close(fd);
	if (rerr) {
		snprintf(err, errlen, "config %s: cannot read: %s", path, strerror(-rerr));
		return rerr;
	}
	*len = (size_t)st.st_size;
	return 0;
}

static int set_path(char *dst, size_t len, const char *src, const char *what, char *err,
		    size_t errlen)
{
	if (strlen(src) >= len || src[0] != '/') {
		snprintf(err, errlen, "%s must be an absolute path shorter than %zu bytes: %s",
			 what, len, src);
		return -EINVAL;
	}
	snprintf(dst, len, "%s", src);
	return 0;
}

int config_load(struct netd_config *c, const struct netd_overrides *o, char *err, size_t errlen)
{
	const char *file = o->config;
	char *text = NULL;
	size_t len = 0;
	int ret;

	config_defaults(c);
	if (!file && access(NETD_CONFIG_DEFAULT, F_OK) == 0)
		file = NETD_CONFIG_DEFAULT;
	if (file) {
		ret = read_file(file, &text, &len, err, errlen);
		if (ret)
			return ret;
		snprintf(c->file, sizeof(c->file), "%s", file);
		ret = config_parse(c, file, text, len, err, errlen);
		free(text);
		if (ret)
			return ret;
	}
	if (o->instance) {
		if (!instance_ok(o->instance)) {
			snprintf(err, errlen, "bad instance name '%s': use 1 to %d of "
				 "[A-Za-z0-9_.-], not starting with '.'", o->instance,
				 SEMI_INSTANCE_MAX);
			return -EINVAL;
		}
		snprintf(c->instance, sizeof(c->instance), "%s", o->instance);
	}
	if (o->socket && (ret = set_path(c->socket, sizeof(c->socket), o->socket, "--socket",
					 err, errlen)))
		return ret;
	if (o->state && (ret = set_path(c->state, sizeof(c->state), o->state, "--state", err,
					errlen)))
		return ret;
	if (o->pin_root && (ret = set_path(c->pin_root, sizeof(c->pin_root), o->pin_root,
					   "--pin-root", err, errlen)))
		return ret;
	if (!c->host[0])
		config_default_host(c->host, sizeof(c->host));
	if (!c->socket[0])
		config_default_socket(c->instance, c->socket, sizeof(c->socket));
	if (!c->state[0])
		config_default_state(c->instance, c->state, sizeof(c->state));
	return 0;
}
