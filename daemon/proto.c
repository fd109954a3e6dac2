// SPDX-License-Identifier: GPL-2.0
/*
 * The control protocol: the command table, line framing, request parsing
 * and validation, reply building.  No I/O here, so that every rule can be
 * unit-tested and so that semi-netctl shares the table with the daemon.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/proto.h"

/* ---- the command table ---- */

static const char *const modes[] = { "representor", "legacy", NULL };
static const char *const switch_to[] = { "vf", "tap", "both", NULL };

#define A_NAME(f)	{ .key = "name", .type = ARG_NAME, .flags = ARGF_POS | (f), \
			  .metavar = "PORT", .help = "port name, e.g. libvirt's interface alias" }
#define A_MAC(f)	{ .key = "mac", .type = ARG_MAC, .flags = (f), .metavar = "MAC", \
			  .help = "the VM NIC's MAC address (unicast)" }
#define A_VLAN		{ .key = "vlan", .type = ARG_VLAN, .metavar = "VID", \
			  .help = "802.1Q VLAN of the port on the uplink, 0 = untagged" }
#define A_MODE		{ .key = "mode", .type = ARG_ENUM, .choices = modes, .metavar = "MODE", \
			  .help = "representor (default) or legacy (DESIGN section 7)" }

static const struct arg_spec args_none[] = { {} };

static const struct arg_spec args_port_add[] = {
	A_NAME(ARGF_REQ),
	A_MAC(ARGF_REQ),
	A_VLAN,
	{ .key = "vf", .type = ARG_DEV, .metavar = "DEV",
	  .help = "the VF netdev (or representor); may be absent for now" },
	{ .key = "tap", .type = ARG_DEV, .metavar = "DEV",
	  .help = "the tap of the emulated NIC; may be absent for now" },
	A_MODE,
	{}
};

static const struct arg_spec args_name_only[] = { A_NAME(ARGF_REQ), {} };
static const struct arg_spec args_name_opt[] = { A_NAME(0), {} };

static const struct arg_spec args_port_set[] = {
	A_NAME(ARGF_REQ),
	A_MAC(0),
	A_VLAN,
	{ .key = "vf", .type = ARG_DEV, .flags = ARGF_NULL, .metavar = "DEV|none",
	  .help = "new VF device; none removes it (the port goes to emulated)" },
	{ .key = "tap", .type = ARG_DEV, .flags = ARGF_NULL, .metavar = "DEV|none",
	  .help = "new tap device; none removes it" },
	A_MODE,
	{}
};

static const struct arg_spec args_switch[] = {
	A_NAME(ARGF_REQ),
	{ .key = "to", .type = ARG_ENUM, .flags = ARGF_POS | ARGF_REQ, .choices = switch_to,
	  .metavar = "vf|tap|both",
	  .help = "vf: assigned, tap: emulated, both: handover (held)" },
	{}
};

static const struct arg_spec args_watch[] = {
	{ .key = "port", .type = ARG_NAME, .metavar = "PORT",
	  .help = "only events of this port" },
	{ .key = "stats", .type = ARG_BOOL,
	  .help = "counter deltas too (default true; --stats false to turn off)" },
	{ .key = "count", .type = ARG_UINT, .flags = ARGF_LOCAL, .min = 1, .max = 1000000000,
	  .metavar = "N", .help = "exit after N events" },
	{ .key = "timeout", .type = ARG_UINT, .flags = ARGF_LOCAL, .min = 1, .max = 86400000,
	  .metavar = "MS", .help = "exit after MS milliseconds" },
	{}
};

static const struct arg_spec args_migrate_in[] = {
	A_NAME(ARGF_REQ),
	A_MAC(ARGF_REQ),
	A_VLAN,
	{ .key = "tap", .type = ARG_DEV, .flags = ARGF_REQ, .metavar = "DEV",
	  .help = "the tap of the incoming VM's emulated NIC" },
	{ .key = "vf", .type = ARG_DEV, .metavar = "DEV",
	  .help = "the VF the VM will get here, once it runs" },
	{ .key = "from", .type = ARG_HOST, .flags = ARGF_REQ, .metavar = "HOST",
	  .help = "the source host (a peer of the configuration)" },
	A_MODE,
	{}
};

static const struct arg_spec args_migrate_out[] = {
	A_NAME(ARGF_REQ),
	{ .key = "begin", .type = ARG_BOOL,
	  .help = "step 2: hand the port over to the tap path before the VF is unplugged" },
	{ .key = "unplugged", .type = ARG_BOOL,
	  .help = "the guest has let its VF go (QEMU's DEVICE_DELETED): release a hold" },
	{ .key = "to", .type = ARG_HOST, .metavar = "HOST",
	  .help = "step 3: the VM is paused; forward its frames to HOST" },
	{}
};

const struct cmd_spec proto_cmds[CMD_COUNT] = {
	[CMD_STATUS] = {
		.id = CMD_STATUS, .cmd = "status", .words = "status", .args = args_none,
		.summary = "the daemon, its uplink and every port's state",
		.example = "semi-netctl status",
	},
	[CMD_PORT_ADD] = {
		.id = CMD_PORT_ADD, .cmd = "port.add", .words = "port add",
		.args = args_port_add, .mutates = true,
		.summary = "add a port (one VM NIC)",
		.help = "With its VF present the port starts in handover and becomes assigned\n"
			"on the guest's first frame through the VF; without one it starts\n"
			"emulated and moves to handover when the VF appears.",
		.example = "semi-netctl port add vm1 --mac 52:54:00:00:00:01 --vf vf1 --tap tap1",
	},
	[CMD_PORT_DEL] = {
		.id = CMD_PORT_DEL, .cmd = "port.del", .words = "port del",
		.args = args_name_only, .mutates = true,
		.summary = "remove a port from the datapath",
		.example = "semi-netctl port del vm1",
	},
	[CMD_PORT_SET] = {
		.id = CMD_PORT_SET, .cmd = "port.set", .words = "port set",
		.args = args_port_set, .mutates = true,
		.summary = "change a port's MAC, VLAN, devices or mode",
		.help = "A new VF that is present moves the port to handover (then assigned on\n"
			"the guest's first frame through it; with hold.plug its frames are held\n"
			"until then and go into the VF); --vf none moves it to emulated.",
		.example = "semi-netctl port set vm1 --vf vf7",
	},
	[CMD_PORT_SHOW] = {
		.id = CMD_PORT_SHOW, .cmd = "port.show", .words = "port show",
		.args = args_name_opt,
		.summary = "one port, or all, in detail",
		.example = "semi-netctl port show vm1",
	},
	[CMD_SWITCH] = {
		.id = CMD_SWITCH, .cmd = "switch", .words = "switch", .args = args_switch,
		.mutates = true,
		.summary = "move a port's traffic: vf (assigned), tap (emulated), both (handover)",
		.help = "The operator's override; one store in the datapath.  'both' holds the\n"
			"port in handover until the next switch.  Refused during a migration.",
		.example = "semi-netctl switch vm1 tap",
	},
	[CMD_STATS] = {
		.id = CMD_STATS, .cmd = "stats", .words = "stats", .args = args_name_opt,
		.summary = "counters: one port in detail, or the instance and every port",
		.example = "semi-netctl stats vm1",
	},
	[CMD_WATCH] = {
		.id = CMD_WATCH, .cmd = "watch", .words = "watch", .args = args_watch,
		.summary = "stream events: state changes, devices, counter deltas",
		.example = "semi-netctl -j watch --port vm1",
	},
	[CMD_UNWATCH] = {
		.id = CMD_UNWATCH, .cmd = "unwatch", .words = "unwatch", .args = args_none,
		.summary = "stop a watch on this connection (protocol only)",
		.example = "semi-netctl unwatch",
	},
	[CMD_MIGRATE_IN] = {
		.id = CMD_MIGRATE_IN, .cmd = "migrate.in", .words = "migrate in",
		.args = args_migrate_in, .mutates = true,
		.summary = "destination, step 1: expect PORT from HOST (incoming)",
		.help = "The port is created incoming: frames go to the tap (QEMU -incoming\n"
			"holds them), tunnel frames from HOST are taken, the guest may send\n"
			"from the tap only; the host bridge is not pointed at the tap yet.",
		.example = "semi-netctl migrate in vm1 --mac 52:54:00:00:00:01 --tap tap1 "
			   "--from hostA",
	},
	[CMD_MIGRATE_OUT] = {
		.id = CMD_MIGRATE_OUT, .cmd = "migrate.out", .words = "migrate out",
		.args = args_migrate_out, .mutates = true,
		.summary = "source: --begin (step 2, handover), --unplugged, or --to HOST "
			   "(step 3, outgoing)",
		.help = "One of the three.  --begin when QEMU starts unplugging the VF: one copy\n"
			"on each path (with hold.unplug: the frames held until the guest has\n"
			"let the VF go); the VF vanishing moves the port to emulated by itself.\n"
			"--unplugged when QEMU says the guest let it go (DEVICE_DELETED) and\n"
			"the VF netdev stays (representor mode): emulated, the hold released\n"
			"into the tap.  --to HOST once the VM is paused: frames that still come\n"
			"here (and those held) go to HOST's tunnel; the host bridge no longer\n"
			"points at the tap.  The port is retired once its announce comes back\n"
			"from the fabric.",
		.example = "semi-netctl migrate out vm1 --begin",
	},
	[CMD_MIGRATE_DONE] = {
		.id = CMD_MIGRATE_DONE, .cmd = "migrate.done", .words = "migrate done",
		.args = args_name_only, .mutates = true,
		.summary = "destination, step 4: the VM runs here (emulated, announce)",
		.help = "The host bridge points the MAC at the tap, the announce starts (RARP,\n"
			"GARP, NA) and the switch hook runs.  Then 'port set PORT --vf VF'\n"
			"when the VF is plugged here.",
		.example = "semi-netctl migrate done vm1",
	},
	[CMD_MIGRATE_ABORT] = {
		.id = CMD_MIGRATE_ABORT, .cmd = "migrate.abort", .words = "migrate abort",
		.args = args_name_only, .mutates = true,
		.summary = "either side: return the port to where it was before the migration",
		.help = "Destination (incoming): the port goes.  Source: the VM resumes here\n"
			"(from outgoing: the tunnel cleared, the bridge pointed at the tap\n"
			"again, an announce).  Refused on a source that saw its announce come\n"
			"back; \"aborted\": false where nothing migrates.",
		.example = "semi-netctl migrate abort vm1",
	},
	[CMD_ANNOUNCE] = {
		.id = CMD_ANNOUNCE, .cmd = "announce", .words = "announce",
		.args = args_name_only,
		.summary = "send RARP/GARP/NA for the port's MAC on the uplink",
		.example = "semi-netctl announce vm1",
	},
	[CMD_FLUSH] = {
		.id = CMD_FLUSH, .cmd = "flush", .words = "flush", .args = args_none,
		.mutates = true,
		.summary = "remove the instance's datapath and state file; the daemon exits",
		.help = "Without a running daemon, semi-netctl removes the instance named by\n"
			"-i/--instance (and --pin-root, --state) itself.",
		.example = "semi-netctl flush",
	},
};

const struct cmd_spec *proto_cmd_find(const char *cmd)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (cmd && !strcmp(proto_cmds[i].cmd, cmd))
			return &proto_cmds[i];
	return NULL;
}

const struct arg_spec *proto_arg_find(const struct cmd_spec *c, const char *key)
{
	for (const struct arg_spec *a = c->args; a->key; a++)
		if (!strcmp(a->key, key))
			return a;
	return NULL;
}

/* ---- line framing ---- */

static size_t lb_line_max(const struct linebuf *lb)
{
	return lb->max_line ? lb->max_line : PROTO_MAX_LINE;
}

int linebuf_space(struct linebuf *lb, char **space, size_t *size)
{
	size_t max = lb_line_max(lb) + PROTO_READ_CHUNK;
	size_t want;

	/* Consumed bytes go first: what is held is one partial line at most. */
	if (lb->start) {
		memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
		lb->len -= lb->start;
		lb->start = 0;
	}
	want = lb->len + PROTO_READ_CHUNK;
	if (want > max)
		want = max;
	if (want > lb->cap) {
		size_t cap = lb->cap ? lb->cap : 4096;
		char *p;

		while (cap < want)
			cap *= 2;
		if (cap > max)
			cap = max;
		p = realloc(lb->buf, cap + 1);	/* + the terminator of a last line */
		if (!p)
			return -ENOMEM;
		lb->buf = p;
		lb->cap = cap;
	}
	*space = lb->buf + lb->len;
	*size = lb->cap - lb->len;
	if (*size > PROTO_READ_CHUNK)
		*size = PROTO_READ_CHUNK;
	return 0;
}

void linebuf_commit(struct linebuf *lb, size_t n)
{
	lb->len += n;
}

enum lb_result linebuf_next(struct linebuf *lb, char **line, size_t *len)
{
	for (;;) {
		char *s = lb->buf + lb->start;
		size_t avail = lb->len - lb->start;
		char *nl = avail ? memchr(s, '\n', avail) : NULL;
		size_t n;

		if (lb->skipping) {
			if (!nl) {
				lb->start = lb->len = 0;
				return LB_NONE;
			}
			lb->skipping = false;
			lb->start += (size_t)(nl - s) + 1;
			continue;
		}
		if (!nl) {
			/* No newline yet and no room left for one: too long. */
			if (avail >= lb_line_max(lb)) {
				lb->start = lb->len = 0;
				lb->skipping = true;
				return LB_TOO_LONG;
			}
			return LB_NONE;
		}
		n = (size_t)(nl - s);
		lb->start += n + 1;
		if (n + 1 > lb_line_max(lb))
			return LB_TOO_LONG;
		if (n && s[n - 1] == '\r')
			n--;
		s[n] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (s[i] != ' ' && s[i] != '\t') {
				*line = s;
				*len = n;
				return LB_LINE;
			}
		}
	}
}

int linebuf_put(struct linebuf *lb, const char *data, size_t n)
{
	char *space;
	size_t size;

	while (n) {
		if (linebuf_space(lb, &space, &size))
			return -ENOMEM;
		if (!size)
			return -ENOBUFS;	/* pull lines first */
		if (size > n)
			size = n;
		memcpy(space, data, size);
		linebuf_commit(lb, size);
		data += size;
		n -= size;
	}
	return 0;
}

void linebuf_free(struct linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

/* ---- validation ---- */

void proto_err_set(struct proto_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

bool proto_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '/' || (unsigned char)s[i] > '~')
			return false;
	return true;
}

bool proto_dev_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '/' || s[i] == ':' ||
		    (unsigned char)s[i] > '~')
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int proto_mac_parse(const char *s, uint8_t mac[6])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

static const char *type_word(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fraction";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "?";
}

static void choices_str(const char *const *ch, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; *ch; ch++)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? ", " : "", *ch);
}

int proto_check_value(const struct cmd_spec *c, const struct arg_spec *a, json_object *v,
		      struct proto_error *err)
{
	enum json_type t = json_object_get_type(v);
	const char *s = t == json_type_string ? json_object_get_string(v) : NULL;
	char buf[128];
	uint8_t mac[6];
	int64_t i;

	/* An embedded NUL would make the C string differ from the JSON one. */
	if (s && strlen(s) != (size_t)json_object_get_string_len(v))
		s = "";
	if (t == json_type_null) {
		if (a->flags & ARGF_NULL)
			return 0;
		proto_err_set(err, E_BAD_ARG, "%s: '%s' may not be null", c->cmd, a->key);
		return -EINVAL;
	}
	switch (a->type) {
	case ARG_NAME:
		if (!s || !proto_name_ok(s))
			goto bad;
		return 0;
	case ARG_DEV:
		if (!s || !proto_dev_ok(s))
			goto bad;
		return 0;
	case ARG_HOST:
		if (!s || !*s || strlen(s) > 15)
			goto bad;
		for (const char *c2 = s; *c2; c2++)
			if ((unsigned char)*c2 <= ' ' || (unsigned char)*c2 > '~' || *c2 == '/')
				goto bad;
		return 0;
	case ARG_MAC:
		if (!s || proto_mac_parse(s, mac))
			goto bad;
		return 0;
	case ARG_ENUM:
		if (!s)
			goto bad;
		for (const char *const *ch = a->choices; *ch; ch++)
			if (!strcmp(*ch, s))
				return 0;
		goto bad;
	case ARG_VLAN:
	case ARG_UINT:
		if (t != json_type_int)
			goto bad;
		i = json_object_get_int64(v);
		if (a->type == ARG_VLAN ? (i < 0 || i > 4094) : (i < a->min || i > a->max))
			goto bad;
		return 0;
	case ARG_BOOL:
		if (t != json_type_boolean)
			goto bad;
		return 0;
	}
bad:
	switch (a->type) {
	case ARG_NAME:
		snprintf(buf, sizeof(buf), "a port name of 1 to 15 printable characters, "
			 "no blank or '/'");
		break;
	case ARG_DEV:
		snprintf(buf, sizeof(buf), "a device name of 1 to 15 characters%s",
			 a->flags & ARGF_NULL ? " or null" : "");
		break;
	case ARG_HOST:
		snprintf(buf, sizeof(buf), "a host name of 1 to 15 printable characters");
		break;
	case ARG_MAC:
		snprintf(buf, sizeof(buf), "a unicast MAC address like 52:54:00:12:34:56");
		break;
	case ARG_ENUM: {
		char ch[96];

		choices_str(a->choices, ch, sizeof(ch));
		snprintf(buf, sizeof(buf), "one of %s", ch);
		break;
	}
	case ARG_VLAN:
		snprintf(buf, sizeof(buf), "an integer 0..4094 (0: untagged)");
		break;
	case ARG_UINT:
		snprintf(buf, sizeof(buf), "an integer %lld..%lld", (long long)a->min,
			 (long long)a->max);
		break;
	case ARG_BOOL:
		snprintf(buf, sizeof(buf), "true or false");
		break;
	}
	if (s)
		proto_err_set(err, E_BAD_ARG, "%s: '%s' must be %s, not \"%.64s\"", c->cmd,
			      a->key, buf, s);
	else if (t == json_type_int)
		proto_err_set(err, E_BAD_ARG, "%s: '%s' must be %s, not %lld", c->cmd, a->key,
			      buf, (long long)json_object_get_int64(v));
	else
		proto_err_set(err, E_BAD_ARG, "%s: '%s' must be %s, not %s", c->cmd, a->key, buf,
			      type_word(v));
	return -EINVAL;
}

int proto_check_args(const struct cmd_spec *c, json_object *args, struct proto_error *err)
{
	json_object_object_foreach(args, key, val) {
		const struct arg_spec *a = proto_arg_find(c, key);
		char known[256];
		size_t off = 0;

		if (a && !(a->flags & ARGF_LOCAL)) {
			if (proto_check_value(c, a, val, err))
				return -EINVAL;
			continue;
		}
		known[0] = '\0';
		for (const struct arg_spec *k = c->args; k->key; k++) {
			size_t room = off < sizeof(known) ? sizeof(known) - off : 0;

			if (!(k->flags & ARGF_LOCAL))
				off += (size_t)snprintf(known + off, room, "%s%s", off ? ", " : "",
							k->key);
		}
		proto_err_set(err, E_UNKNOWN_FIELD, "%s: unknown argument '%.64s' (%s%s)", c->cmd,
			      key, off ? "arguments: " : "it takes none", known);
		return -EINVAL;
	}
	for (const struct arg_spec *a = c->args; a->key; a++) {
		if ((a->flags & ARGF_REQ) && !json_object_object_get_ex(args, a->key, NULL)) {
			proto_err_set(err, E_BAD_ARG, "%s: '%s' is required", c->cmd, a->key);
			return -EINVAL;
		}
	}
	return 0;
}

void request_free(struct request *req)
{
	json_object_put(req->root);
	memset(req, 0, sizeof(*req));
}

static void cmd_list(char *buf, size_t len)
{
	size_t off = 0;

	for (int i = 0; i < CMD_COUNT; i++)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? ", " : "", proto_cmds[i].cmd);
}

int proto_json_parse(const char *text, size_t len, const char *blanks, json_object **out,
		     enum json_tokener_error *jerr, size_t *at)
{
	struct json_tokener *tok = json_tokener_new_ex(PROTO_JSON_DEPTH);
	json_object *v;

	*out = NULL;
	if (!tok)
		return -ENOMEM;
	/* Strict JSON; the terminating NUL (when there) ends a bare number. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	v = json_tokener_parse_ex(tok, text, (int)len + (text[len] == '\0'));
	*jerr = json_tokener_get_error(tok);
	*at = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (*jerr != json_tokener_success) {
		json_object_put(v);
		return -EINVAL;
	}
	for (; *at < len; (*at)++) {
		if (!strchr(blanks, text[*at]) || !text[*at]) {
			json_object_put(v);
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}

int proto_parse_request(const char *line, size_t len, struct request *req,
			struct proto_error *err)
{
	json_object *root, *cmd = NULL, *args = NULL;
	enum json_tokener_error jerr;
	size_t at;
	char list[256];
	int ret;

	memset(req, 0, sizeof(*req));
	if (len > PROTO_MAX_LINE) {
		proto_err_set(err, E_TOO_LONG, "request longer than %d bytes", PROTO_MAX_LINE);
		return -EINVAL;
	}
	/* One object per line: only blanks may follow it. */
	ret = proto_json_parse(line, len, " \t\r", &root, &jerr, &at);
	if (ret == -ENOMEM) {
		proto_err_set(err, E_INTERNAL, "out of memory");
		return -EINVAL;
	}
	if (ret && jerr == json_tokener_continue) {
		proto_err_set(err, E_BAD_JSON, "bad JSON: the line ends inside a value");
		return -EINVAL;
	}
	if (ret && jerr != json_tokener_success) {
		proto_err_set(err, E_BAD_JSON, "bad JSON at byte %zu: %s", at,
			      json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	if (ret) {
		proto_err_set(err, E_BAD_JSON, "bad JSON at byte %zu: more after the request "
			      "object", at);
		return -EINVAL;
	}
	if (!root) {
		proto_err_set(err, E_BAD_REQUEST, "a request is a JSON object, not null");
		return -EINVAL;
	}
	req->root = root;
	if (!json_object_is_type(root, json_type_object)) {
		proto_err_set(err, E_BAD_REQUEST, "a request is a JSON object, not %s",
			      type_word(root));
		return -EINVAL;
	}
	/* The id first, so that every later error can echo it. */
	if (json_object_object_get_ex(root, "id", &req->id)) {
		if (!json_object_is_type(req->id, json_type_int) &&
		    !json_object_is_type(req->id, json_type_string)) {
			req->id = NULL;
			proto_err_set(err, E_BAD_REQUEST, "'id' must be an integer or a string");
			return -EINVAL;
		}
		if (json_object_is_type(req->id, json_type_string) &&
		    json_object_get_string_len(req->id) > 128) {
			req->id = NULL;
			proto_err_set(err, E_BAD_REQUEST, "'id' longer than 128 characters");
			return -EINVAL;
		}
	}
	json_object_object_foreach(root, key, val) {
		(void)val;
		if (strcmp(key, "id") && strcmp(key, "cmd") && strcmp(key, "args")) {
			proto_err_set(err, E_UNKNOWN_FIELD, "unknown field '%.64s' in request "
				      "(fields: id, cmd, args)", key);
			return -EINVAL;
		}
	}
	if (!json_object_object_get_ex(root, "cmd", &cmd)) {
		proto_err_set(err, E_BAD_REQUEST, "request without 'cmd'");
		return -EINVAL;
	}
	if (!json_object_is_type(cmd, json_type_string)) {
		proto_err_set(err, E_BAD_REQUEST, "'cmd' must be a string, not %s",
			      type_word(cmd));
		return -EINVAL;
	}
	req->cmd = proto_cmd_find(json_object_get_string(cmd));
	if (!req->cmd) {
		cmd_list(list, sizeof(list));
		proto_err_set(err, E_UNKNOWN_CMD, "unknown command '%.64s' (commands: %s)",
			      json_object_get_string(cmd), list);
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "args", &args) &&
	    !json_object_is_type(args, json_type_null)) {
		if (!json_object_is_type(args, json_type_object)) {
			proto_err_set(err, E_BAD_REQUEST, "'args' must be an object, not %s",
				      type_word(args));
			return -EINVAL;
		}
	} else {
		args = json_object_new_object();
		if (!args) {
			proto_err_set(err, E_INTERNAL, "out of memory");
			return -EINVAL;
		}
		json_object_object_add(root, "args", args);
	}
	req->args = args;
	return proto_check_args(req->cmd, args, err);
}

/* ---- getters ---- */

const char *args_str(json_object *args, const char *key, const char *dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
}

int64_t args_int(json_object *args, const char *key, int64_t dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

bool args_bool(json_object *args, const char *key, bool dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(args, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return dflt;
	return json_object_get_boolean(v);
}

bool args_has(json_object *args, const char *key)
{
	return json_object_object_get_ex(args, key, NULL);
}

bool args_is_null(json_object *args, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(args, key, &v) && v == NULL;
}

/* ---- replies ---- */

static void add_id(json_object *o, json_object *id)
{
	json_object_object_add(o, "id", id ? json_object_get(id) : NULL);
}

json_object *proto_reply_ok(json_object *id, json_object *result)
{
	json_object *o = json_object_new_object();

	add_id(o, id);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result ? result : json_object_new_object());
	return o;
}

json_object *proto_reply_err(json_object *id, const char *code, const char *message)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	add_id(o, id);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	return o;
}

char *proto_line(json_object *o, size_t *len)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	char *line = malloc(n + 2);

	if (!line)
		return NULL;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}
