/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control protocol of semi-netd, shared by the daemon and semi-netctl.
 *
 * One JSON object per line each way (README "Control protocol"):
 *   request  {"id": 7, "cmd": "port.add", "args": {"name": "vm1", ...}}
 *   reply    {"id": 7, "ok": true, "result": {...}}
 *            {"id": 7, "ok": false, "error": {"code": "...", "message": "..."}}
 *   event    {"event": "state", ...}          (after a "watch" request)
 *
 * The command table below is the single description of every command: its
 * arguments with their types, which of them are positional on the command
 * line, and the help text.  The daemon validates requests against it and
 * semi-netctl builds its parser and its help from it.
 */
#ifndef SEMI_NETD_PROTO_H
#define SEMI_NETD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define PROTO_MAX_LINE		65536	/* bytes in one line, newline included */
#define PROTO_JSON_DEPTH	16
#define PROTO_VERSION		1

/* Error codes of {"ok":false,"error":{"code":...}}. */
#define E_BAD_JSON		"bad_json"		/* not JSON */
#define E_TOO_LONG		"too_long"		/* line over PROTO_MAX_LINE */
#define E_BAD_REQUEST		"bad_request"		/* JSON, but not a request */
#define E_UNKNOWN_CMD		"unknown_cmd"
#define E_UNKNOWN_FIELD		"unknown_field"		/* in the request or its args */
#define E_BAD_ARG		"bad_arg"		/* missing, wrong type, out of range */
#define E_NOT_FOUND		"not_found"		/* no such port */
#define E_EXISTS		"exists"		/* port name or MAC taken */
#define E_REFUSED		"refused"		/* the state machine says no */
#define E_NO_DEVICE		"no_device"		/* a device the request needs is absent */
#define E_BUSY			"busy"			/* device taken, too many clients */
#define E_NOT_IMPLEMENTED	"not_implemented"
#define E_PERMISSION		"permission"		/* peer credentials refused */
#define E_DATAPATH		"datapath"		/* the loader failed */
#define E_STATE_FILE		"state_file"		/* the change could not be saved */
#define E_INTERNAL		"internal"

enum cmd_id {
	CMD_STATUS,
	CMD_PORT_ADD,
	CMD_PORT_DEL,
	CMD_PORT_SET,
	CMD_PORT_SHOW,
	CMD_SWITCH,
	CMD_STATS,
	CMD_WATCH,
	CMD_UNWATCH,
	CMD_MIGRATE_IN,
	CMD_MIGRATE_OUT,
	CMD_MIGRATE_DONE,
	CMD_MIGRATE_ABORT,
	CMD_ANNOUNCE,
	CMD_FLUSH,
	CMD_COUNT,
};

enum arg_type {
	ARG_NAME,	/* port name: 1..15 printable, no blank, no '/' */
	ARG_MAC,	/* "52:54:00:12:34:56", unicast */
	ARG_VLAN,	/* 0 (untagged) .. 4094 */
	ARG_DEV,	/* network device name (IFNAMSIZ) */
	ARG_ENUM,	/* one of choices */
	ARG_UINT,	/* integer min..max */
	ARG_BOOL,	/* true / false; a bare --flag on the command line */
	ARG_HOST,	/* a peer host name from the configuration */
};

enum arg_flags {
	ARGF_REQ = 1 << 0,	/* required */
	ARGF_POS = 1 << 1,	/* positional on the command line (in table order) */
	ARGF_NULL = 1 << 2,	/* null accepted ("none" on the command line): remove */
	ARGF_LOCAL = 1 << 3,	/* semi-netctl only, never sent */
};

struct arg_spec {
	const char *key;		/* JSON key; --key on the command line */
	enum arg_type type;
	unsigned int flags;		/* enum arg_flags */
	const char *metavar;		/* for help */
	const char *help;
	const char *const *choices;	/* ARG_ENUM, NULL-terminated */
	int64_t min, max;		/* ARG_UINT */
};

struct cmd_spec {
	enum cmd_id id;
	const char *cmd;		/* "port.add" */
	const char *words;		/* "port add": the command-line verb */
	const struct arg_spec *args;	/* terminated by key == NULL */
	const char *summary;		/* one line */
	const char *help;		/* more, or NULL */
	const char *example;		/* one command line, for help and README */
	bool mutates;			/* changes the datapath and the state file */
};

extern const struct cmd_spec proto_cmds[CMD_COUNT];

const struct cmd_spec *proto_cmd_find(const char *cmd);
const struct arg_spec *proto_arg_find(const struct cmd_spec *c, const char *key);

/* ---- line framing ---- */

/*
 * Bytes in, lines out, pulled one at a time so that a reader can stop
 * between two lines (a congested connection reads no further).  Never more
 * than max_line (default PROTO_MAX_LINE) + PROTO_READ_CHUNK bytes are held.
 * A line that does not fit is reported once (LB_TOO_LONG) and skipped up
 * to its newline; the next line is read normally.  '\r' before '\n' is
 * dropped; blank lines are skipped.
 */
#define PROTO_READ_CHUNK	16384
#define NETCTL_MAX_REPLY	(256u << 20)	/* semi-netctl's limit on a reply line */

struct linebuf {
	char *buf;
	size_t start;		/* first unconsumed byte */
	size_t len;		/* bytes held, from buf[0] */
	size_t cap;
	bool skipping;		/* inside an overlong line */
	size_t max_line;	/* 0: PROTO_MAX_LINE; the client takes longer replies */
};

enum lb_result {
	LB_NONE = 0,		/* no complete line: read more */
	LB_LINE = 1,		/* *line (NUL-terminated, len bytes) until the next call */
	LB_TOO_LONG = 2,	/* a line over the limit was dropped */
};

/*
 * Room to read into: *space and its size (at most PROTO_READ_CHUNK), or
 * -ENOMEM.  Then linebuf_commit() the bytes read.
 */
int linebuf_space(struct linebuf *lb, char **space, size_t *size);
void linebuf_commit(struct linebuf *lb, size_t n);
enum lb_result linebuf_next(struct linebuf *lb, char **line, size_t *len);
/* Convenience for tests and the client: copy data in (in chunks) and pull. */
int linebuf_put(struct linebuf *lb, const char *data, size_t n);
void linebuf_free(struct linebuf *lb);

/* ---- requests ---- */

struct proto_error {
	const char *code;	/* E_* */
	char message[512];
};

struct request {
	json_object *root;		/* owns everything below */
	json_object *id;		/* NULL when the request had none */
	const struct cmd_spec *cmd;
	json_object *args;		/* an object, possibly empty */
};

/*
 * Parse and validate one request line (NUL-terminated at len, as
 * linebuf_next() gives it) against the command table.  0 with
 * *req filled (free with request_free), or -EINVAL with err filled; req->id
 * is set whenever the line carried a usable id, also on failure, so that
 * the error reply can echo it.
 */
int proto_parse_request(const char *line, size_t len, struct request *req,
			struct proto_error *err);
void request_free(struct request *req);

/*
 * One strict JSON value of at most PROTO_JSON_DEPTH from text (len bytes; a
 * NUL after them ends a bare number), followed by nothing but characters
 * of blanks.  0 with *out (NULL for JSON null); -ENOMEM; -EINVAL with *jerr
 * and *at: the tokener's error (json_tokener_continue: the text ends inside
 * a value) and where, or json_tokener_success and where something other
 * than a blank follows the value.
 */
int proto_json_parse(const char *text, size_t len, const char *blanks, json_object **out,
		     enum json_tokener_error *jerr, size_t *at);

/* Validate args (an object) against a command; 0 or -EINVAL with err. */
int proto_check_args(const struct cmd_spec *c, json_object *args, struct proto_error *err);

/* Check one value against its spec; message names the key.  0 or -EINVAL. */
int proto_check_value(const struct cmd_spec *c, const struct arg_spec *a, json_object *v,
		      struct proto_error *err);

/* Argument getters for validated args (defaults when absent). */
const char *args_str(json_object *args, const char *key, const char *dflt);
int64_t args_int(json_object *args, const char *key, int64_t dflt);
bool args_bool(json_object *args, const char *key, bool dflt);
bool args_has(json_object *args, const char *key);
bool args_is_null(json_object *args, const char *key);

/* ---- replies ---- */

/* {"id":..,"ok":true,"result":result}; takes ownership of result (may be NULL). */
json_object *proto_reply_ok(json_object *id, json_object *result);
/* {"id":..,"ok":false,"error":{"code":..,"message":..}} */
json_object *proto_reply_err(json_object *id, const char *code, const char *message);
/* One line: the object as compact JSON plus '\n'; malloc'ed, *len set. */
char *proto_line(json_object *o, size_t *len);

void proto_err_set(struct proto_error *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Shared validators (also used on the config file). */
bool proto_name_ok(const char *s);	/* port names */
bool proto_dev_ok(const char *s);	/* device names */
int proto_mac_parse(const char *s, uint8_t mac[6]);	/* unicast, not zero */

#endif
