// SPDX-License-Identifier: GPL-2.0
/*
 * The control protocol without a daemon: line framing (bounds, pieces,
 * overlong lines), request parsing and validation against the command
 * table, replies.  What a client can send must never crash or confuse the
 * parser, and every error must say what was wrong.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/proto.h"

/* ---- framing ---- */

struct lines {
	char got[16][256];
	int n;
	int too_long;
};

static void pull(struct linebuf *lb, struct lines *out)
{
	char *line;
	size_t len;
	enum lb_result r;

	while ((r = linebuf_next(lb, &line, &len)) != LB_NONE) {
		if (r == LB_TOO_LONG) {
			out->too_long++;
			continue;
		}
		assert_int_equal(strlen(line), len);
		if (out->n < 16)
			snprintf(out->got[out->n], sizeof(out->got[0]), "%s", line);
		out->n++;
	}
}

static void feed(struct linebuf *lb, const char *data, size_t n, struct lines *out)
{
	/* As a reader would: put what fits, pull, put the rest. */
	while (n) {
		char *space;
		size_t size;

		assert_int_equal(linebuf_space(lb, &space, &size), 0);
		assert_true(size > 0);
		if (size > n)
			size = n;
		memcpy(space, data, size);
		linebuf_commit(lb, size);
		data += size;
		n -= size;
		pull(lb, out);
	}
}

static void test_lines_basic(void **state)
{
	struct linebuf lb = {};
	struct lines out = {};
	const char *in = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}";

	feed(&lb, in, strlen(in), &out);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.got[0], "{\"a\":1}");
	assert_string_equal(out.got[1], "{\"b\":2}");
	/* The last line waits for its newline. */
	feed(&lb, "\n", 1, &out);
	assert_int_equal(out.n, 3);
	assert_string_equal(out.got[2], "{\"c\":3}");
	assert_int_equal(out.too_long, 0);
	linebuf_free(&lb);
}

static void test_lines_byte_by_byte(void **state)
{
	struct linebuf lb = {};
	struct lines out = {};
	const char *in = "{\"cmd\":\"status\"}\n{\"cmd\":\"stats\"}\n";

	for (size_t i = 0; i < strlen(in); i++)
		feed(&lb, in + i, 1, &out);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.got[1], "{\"cmd\":\"stats\"}");
	linebuf_free(&lb);
}

static void test_lines_limit(void **state)
{
	size_t max = PROTO_MAX_LINE;
	char *big = malloc(3 * max);
	struct linebuf lb = {};
	struct lines out = {};

	/* Exactly the limit, newline included: accepted. */
	memset(big, 'x', max - 1);
	big[max - 1] = '\n';
	feed(&lb, big, max, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.too_long, 0);
	assert_int_equal(strlen(out.got[0]), 255);	/* truncated copy in the test only */

	/* One byte more: refused once, and the next line is read normally. */
	memset(big, 'y', max);
	big[max] = '\n';
	feed(&lb, big, max + 1, &out);
	feed(&lb, "{\"next\":1}\n", 11, &out);
	assert_int_equal(out.too_long, 1);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.got[1], "{\"next\":1}");

	/* Far over the limit, in pieces, no newline for a long time: once. */
	memset(big, 'z', 3 * max);
	for (int i = 0; i < 3; i++)
		feed(&lb, big, 3 * max, &out);
	assert_int_equal(out.too_long, 2);
	feed(&lb, "tail\n{\"after\":1}\n", 17, &out);
	assert_int_equal(out.too_long, 2);
	assert_int_equal(out.n, 3);
	assert_string_equal(out.got[2], "{\"after\":1}");
	/* Never more than the limit and one read held. */
	assert_true(lb.cap <= PROTO_MAX_LINE + PROTO_READ_CHUNK);
	linebuf_free(&lb);
	free(big);
}

static void test_lines_put(void **state)
{
	struct linebuf lb = {};
	struct lines out = {};

	assert_int_equal(linebuf_put(&lb, "a\nb\n", 4), 0);
	pull(&lb, &out);
	assert_int_equal(out.n, 2);
	linebuf_free(&lb);
}

/* ---- requests ---- */

static const char *parse_code(const char *line, struct request *req, struct proto_error *err)
{
	memset(err, 0, sizeof(*err));
	if (proto_parse_request(line, strlen(line), req, err) == 0)
		return "ok";
	assert_non_null(err->code);
	assert_true(strlen(err->message) > 0);
	return err->code;
}

static void expect(const char *line, const char *code, const char *in_message)
{
	struct proto_error err;
	struct request req;
	const char *got = parse_code(line, &req, &err);

	if (strcmp(got, code))
		fail_msg("'%s': want %s, got %s (%s)", line, code, got, err.message);
	if (in_message && !strstr(err.message, in_message))
		fail_msg("'%s': message '%s' lacks '%s'", line, err.message, in_message);
	request_free(&req);
}

static void test_good_requests(void **state)
{
	struct proto_error err;
	struct request req;

	assert_string_equal(parse_code("{\"cmd\":\"status\"}", &req, &err), "ok");
	assert_int_equal(req.cmd->id, CMD_STATUS);
	assert_null(req.id);
	assert_non_null(req.args);
	request_free(&req);

	assert_string_equal(parse_code("{\"id\":42,\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\","
				       "\"mac\":\"52:54:00:00:00:01\",\"vlan\":100,\"vf\":\"vf1\","
				       "\"tap\":\"tap1\",\"mode\":\"legacy\"}}  ", &req, &err),
			    "ok");
	assert_int_equal(req.cmd->id, CMD_PORT_ADD);
	assert_int_equal(json_object_get_int(req.id), 42);
	assert_string_equal(args_str(req.args, "vf", NULL), "vf1");
	assert_int_equal(args_int(req.args, "vlan", 0), 100);
	request_free(&req);

	assert_string_equal(parse_code("{\"id\":\"abc\",\"cmd\":\"port.set\",\"args\":{\"name\":"
				       "\"vm1\",\"vf\":null}}", &req, &err), "ok");
	assert_string_equal(json_object_get_string(req.id), "abc");
	assert_true(args_is_null(req.args, "vf"));
	request_free(&req);

	expect("{\"cmd\":\"switch\",\"args\":{\"name\":\"vm1\",\"to\":\"both\"}}", "ok", NULL);
	expect("{\"cmd\":\"watch\",\"args\":{\"stats\":false,\"port\":\"vm1\"}}", "ok", NULL);
	expect("{\"cmd\":\"status\",\"args\":null}", "ok", NULL);
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:AB:cd:01\","
	       "\"vlan\":4094}}", "ok", NULL);
}

static void test_bad_json(void **state)
{
	expect("{", E_BAD_JSON, "end of data");
	expect("{\"cmd\":", E_BAD_JSON, NULL);
	expect("not json", E_BAD_JSON, "byte");
	expect("{\"cmd\":\"status\"} {\"cmd\":\"status\"}", E_BAD_JSON, "at byte 17");
	expect("{\"cmd\":\"status\"}x", E_BAD_JSON, NULL);
	expect("{'cmd':'status'}", E_BAD_JSON, NULL);
	expect("\x01\x02\xff", E_BAD_JSON, NULL);
	/* Nesting beyond the depth limit. */
	{
		char deep[200];
		size_t i = 0;

		i += (size_t)snprintf(deep, sizeof(deep), "{\"cmd\":\"status\",\"args\":{\"x\":");
		for (int k = 0; k < 40; k++)
			deep[i++] = '[';
		deep[i] = '\0';
		expect(deep, E_BAD_JSON, NULL);
	}
}

static void test_bad_requests(void **state)
{
	struct proto_error err;
	struct request req;

	expect("[1,2]", E_BAD_REQUEST, "JSON object");
	expect("\"status\"", E_BAD_REQUEST, NULL);
	expect("17", E_BAD_REQUEST, NULL);
	expect("null", E_BAD_REQUEST, "not null");
	expect("{}", E_BAD_REQUEST, "without 'cmd'");
	expect("{\"cmd\":7}", E_BAD_REQUEST, "'cmd' must be a string");
	expect("{\"cmd\":\"status\",\"id\":[1]}", E_BAD_REQUEST, "'id'");
	expect("{\"cmd\":\"status\",\"id\":1.5}", E_BAD_REQUEST, "'id'");
	expect("{\"cmd\":\"status\",\"args\":[]}", E_BAD_REQUEST, "'args' must be an object");
	expect("{\"cmd\":\"status\",\"colour\":\"red\"}", E_UNKNOWN_FIELD, "'colour'");
	expect("{\"cmd\":\"fly\"}", E_UNKNOWN_CMD, "port.add");
	expect("{\"cmd\":\"\"}", E_UNKNOWN_CMD, NULL);

	/* The id survives a later error so that the reply can echo it. */
	assert_string_equal(parse_code("{\"id\":9,\"cmd\":\"fly\"}", &req, &err), E_UNKNOWN_CMD);
	assert_non_null(req.id);
	assert_int_equal(json_object_get_int(req.id), 9);
	request_free(&req);
}

static void test_bad_args(void **state)
{
	expect("{\"cmd\":\"status\",\"args\":{\"x\":1}}", E_UNKNOWN_FIELD, "it takes none");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\"}}", E_BAD_ARG,
	       "'mac' is required");
	expect("{\"cmd\":\"port.add\",\"args\":{\"mac\":\"52:54:00:00:00:01\"}}", E_BAD_ARG,
	       "'name' is required");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"colour\":1}}", E_UNKNOWN_FIELD, "unknown argument 'colour'");
	/* MACs */
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"01:00:5e:00:00:01\"}}",
	       E_BAD_ARG, "unicast");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"00:00:00:00:00:00\"}}",
	       E_BAD_ARG, "'mac'");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00\"}}",
	       E_BAD_ARG, "'mac'");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52-54-00-00-00-01\"}}",
	       E_BAD_ARG, "'mac'");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":5254}}", E_BAD_ARG,
	       "not 5254");
	/* VLAN */
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"vlan\":4095}}", E_BAD_ARG, "0..4094");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"vlan\":-1}}", E_BAD_ARG, "'vlan'");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"vlan\":\"10\"}}", E_BAD_ARG, "'vlan'");
	/* names and devices */
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":\"a name\"}}", E_BAD_ARG, "'name'");
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":\"0123456789abcdef\"}}", E_BAD_ARG,
	       "1 to 15");
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":\"\"}}", E_BAD_ARG, "'name'");
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":\"a/b\"}}", E_BAD_ARG, "'name'");
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":\"vm\\u0000x\"}}", E_BAD_ARG, "'name'");
	expect("{\"cmd\":\"port.del\",\"args\":{\"name\":null}}", E_BAD_ARG, "may not be null");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"vf\":\"../x\"}}", E_BAD_ARG, "'vf'");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"vf\":null}}", E_BAD_ARG, "may not be null");
	/* enums and booleans */
	expect("{\"cmd\":\"switch\",\"args\":{\"name\":\"vm1\",\"to\":\"sideways\"}}", E_BAD_ARG,
	       "one of vf, tap, both");
	expect("{\"cmd\":\"switch\",\"args\":{\"name\":\"vm1\"}}", E_BAD_ARG, "'to' is required");
	expect("{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
	       "\"mode\":\"bridge\"}}", E_BAD_ARG, "representor, legacy");
	expect("{\"cmd\":\"watch\",\"args\":{\"stats\":\"yes\"}}", E_BAD_ARG, "true or false");
	/* semi-netctl's own options are no protocol arguments */
	expect("{\"cmd\":\"watch\",\"args\":{\"count\":3}}", E_UNKNOWN_FIELD, "'count'");
	expect("{\"cmd\":\"migrate.out\",\"args\":{\"name\":\"vm1\",\"to\":\"\"}}", E_BAD_ARG,
	       "'to'");
}

static void test_table(void **state)
{
	for (int i = 0; i < CMD_COUNT; i++) {
		const struct cmd_spec *c = &proto_cmds[i];
		bool seen_opt = false;

		assert_int_equal(c->id, i);
		assert_non_null(c->cmd);
		assert_non_null(c->words);
		assert_non_null(c->summary);
		assert_non_null(c->example);
		assert_non_null(strstr(c->example, c->words));
		assert_ptr_equal(proto_cmd_find(c->cmd), c);
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(proto_cmds[j].cmd, c->cmd);
			assert_string_not_equal(proto_cmds[j].words, c->words);
		}
		for (const struct arg_spec *a = c->args; a->key; a++) {
			/* Positionals first, on the command line and in help. */
			if (!(a->flags & ARGF_POS))
				seen_opt = true;
			else
				assert_false(seen_opt);
			assert_false((a->flags & ARGF_LOCAL) && (a->flags & ARGF_REQ));
			assert_non_null(a->help);
			assert_ptr_equal(proto_arg_find(c, a->key), a);
		}
	}
	assert_null(proto_cmd_find("nope"));
	assert_null(proto_cmd_find(NULL));
}

static void test_replies(void **state)
{
	json_object *id = json_object_new_int(5), *o, *back;
	size_t len;
	char *line;

	o = proto_reply_err(id, E_REFUSED, "two\nlines \"quoted\"");
	line = proto_line(o, &len);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));	/* one line, whatever the message */
	back = json_tokener_parse(line);
	assert_non_null(back);
	assert_false(json_object_get_boolean(json_object_object_get(back, "ok")));
	assert_int_equal(json_object_get_int(json_object_object_get(back, "id")), 5);
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_object_get(back, "error"), "code")), E_REFUSED);
	json_object_put(back);
	json_object_put(o);
	free(line);

	o = proto_reply_ok(NULL, NULL);
	line = proto_line(o, &len);
	assert_string_equal(line, "{\"id\":null,\"ok\":true,\"result\":{}}\n");
	json_object_put(o);
	free(line);
	json_object_put(id);
}

static void test_validators(void **state)
{
	uint8_t mac[6];

	assert_true(proto_name_ok("vm1"));
	assert_true(proto_name_ok("123456789012345"));
	assert_false(proto_name_ok("1234567890123456"));
	assert_false(proto_name_ok(""));
	assert_false(proto_name_ok(NULL));
	assert_true(proto_dev_ok("eth0.100"));
	assert_false(proto_dev_ok(".."));
	assert_false(proto_dev_ok("a:b"));
	assert_int_equal(proto_mac_parse("52:54:00:12:34:56", mac), 0);
	assert_int_equal(mac[5], 0x56);
	assert_int_equal(proto_mac_parse("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
	assert_int_equal(proto_mac_parse("52:54:00:12:34:5g", mac), -EINVAL);
	assert_int_equal(proto_mac_parse("52:54:00:12:34:56:", mac), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_lines_byte_by_byte),
		cmocka_unit_test(test_lines_limit),
		cmocka_unit_test(test_lines_put),
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_validators),
	};

	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
