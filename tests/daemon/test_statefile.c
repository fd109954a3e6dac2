// SPDX-License-Identifier: GPL-2.0
/*
 * The state file: a round trip keeps every field; the write is atomic
 * (temporary file, rename) and private; every kind of damage is refused
 * with a message that names the file and, where there is one, the port.
 * Also the configuration file's parser, which follows the same rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/statefile.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/semi-statefile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct port_rec sample(int i)
{
	struct port_rec r = {
		.mac = { 0x52, 0x54, 0, 0, 0, (uint8_t)i },
		.vlan = (uint16_t)(i * 10),
		.mode = i & 1 ? PM_LEGACY : PM_REPRESENTOR,
		.state = (enum port_state)(i % PS_COUNT),
		.vf_ifindex = (uint32_t)(100 + i),
		.tap_ifindex = (uint32_t)(200 + i),
		.vf_tx_base = 1ull << 40 | (uint64_t)i,
		.since_ms = 1700000000000ll + i,
	};

	snprintf(r.name, sizeof(r.name), "vm%d", i);
	snprintf(r.vf, sizeof(r.vf), "vf%d", i);
	if (i != 2)
		snprintf(r.tap, sizeof(r.tap), "tap%d", i);
	r.handover = r.state == PS_HANDOVER ? FH_HOLD : FH_NONE;
	/* Version 2: a migration on some, an announce, learned addresses. */
	if (r.state == PS_OUTGOING || r.state == PS_INCOMING) {
		r.mig.role = r.state == PS_OUTGOING ? MIG_SOURCE : MIG_DEST;
		snprintf(r.mig.peer, sizeof(r.mig.peer), "host%d", i);
		r.mig.origin = PS_ASSIGNED;
		r.mig.since_ms = 1700000000100ll + i;
		r.mig.out_ms = r.state == PS_OUTGOING ? 1700000000200ll : 0;
		r.mig.remote_src_base = 77;
		r.mig.seen_ms = 0;
		r.mig.drained = r.state == PS_OUTGOING ? 136 : 0;
		r.mig.drain_failed = r.state == PS_OUTGOING ? 2 : 0;
		r.mig.held_out = r.state == PS_OUTGOING ? 5997 : 0;
	}
	if (i == 1) {
		r.ann = (struct ann_rec){ .active = true, .rounds = 2, .started_ms = 1700000000300ll,
					  .rx_base = 5, .flood_base = 9 };
		r.addrs.n_ipv4 = 2;
		r.addrs.ipv4[0].s_addr = htonl(0xc000020b);
		r.addrs.ipv4[1].s_addr = htonl(0xc000020c);
		r.addrs.n_ipv6 = 1;
		inet_pton(AF_INET6, "2001:db8::b", &r.addrs.ipv6[0]);
	}
	return r;
}

static void test_round_trip(void **state)
{
	struct port_rec ports[5];
	struct peer_rec peers[2] = {
		{ .name = "hostC", .address = "fd00::3" },
		{ .name = "hostB", .address = "198.51.100.2",
		  .mac = { 0x02, 0x5e, 0x00, 0x00, 0x02, 0x00 } },
	};
	struct state_doc doc = { .generation = 41, .ports = ports, .n = 5, .peers = peers,
				 .npeers = 2 }, back;
	char path[128], tmp[140], err[512];
	struct stat st;

	path_of(path, sizeof(path), "rt.json");
	snprintf(doc.instance, sizeof(doc.instance), "test");
	for (int i = 0; i < 5; i++)
		ports[i] = sample(i);
	assert_int_equal(statefile_save(path, &doc, err, sizeof(err)), 0);
	/* Private, and no temporary left behind. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);

	assert_int_equal(statefile_load(path, &back, err, sizeof(err)), 0);
	assert_string_equal(back.instance, "test");
	assert_int_equal(back.generation, 41);
	assert_int_equal(back.n, 5);
	for (int i = 0; i < 5; i++) {
		const struct port_rec *a = &back.ports[i], *b = &ports[i];

		assert_string_equal(a->name, b->name);
		assert_memory_equal(a->mac, b->mac, 6);
		assert_int_equal(a->vlan, b->vlan);
		assert_string_equal(a->vf, b->vf);
		assert_string_equal(a->tap, b->tap);
		assert_int_equal(a->mode, b->mode);
		assert_int_equal(a->state, b->state);
		assert_int_equal(a->handover, b->handover);
		assert_int_equal(a->vf_ifindex, b->vf_ifindex);
		assert_int_equal(a->tap_ifindex, b->tap_ifindex);
		assert_int_equal(a->vf_tx_base, b->vf_tx_base);
		assert_int_equal(a->since_ms, b->since_ms);
		assert_int_equal(a->mig.role, b->mig.role);
		assert_string_equal(a->mig.peer, b->mig.peer);
		assert_int_equal(a->mig.origin, b->mig.role ? b->mig.origin : 0);
		assert_int_equal(a->mig.since_ms, b->mig.since_ms);
		assert_int_equal(a->mig.out_ms, b->mig.out_ms);
		assert_int_equal(a->mig.remote_src_base, b->mig.remote_src_base);
		assert_int_equal(a->mig.drained, b->mig.drained);
		assert_int_equal(a->mig.drain_failed, b->mig.drain_failed);
		assert_int_equal(a->mig.held_out, b->mig.held_out);
		assert_int_equal(a->ann.active, b->ann.active);
		assert_int_equal(a->ann.rounds, b->ann.rounds);
		assert_int_equal(a->ann.started_ms, b->ann.started_ms);
		assert_int_equal(a->ann.rx_base, b->ann.rx_base);
		assert_int_equal(a->ann.flood_base, b->ann.flood_base);
		assert_int_equal(a->addrs.n_ipv4, b->addrs.n_ipv4);
		assert_int_equal(a->addrs.n_ipv6, b->addrs.n_ipv6);
		assert_memory_equal(a->addrs.ipv4, b->addrs.ipv4,
				    sizeof(a->addrs.ipv4[0]) * b->addrs.n_ipv4);
		assert_memory_equal(a->addrs.ipv6, b->addrs.ipv6,
				    sizeof(a->addrs.ipv6[0]) * b->addrs.n_ipv6);
	}
	assert_int_equal(back.npeers, 2);
	assert_string_equal(back.peers[1].name, "hostB");
	assert_string_equal(back.peers[1].address, "198.51.100.2");
	assert_memory_equal(back.peers[1].mac, peers[1].mac, 6);
	assert_memory_equal(back.peers[0].mac, "\0\0\0\0\0\0", 6);	/* not resolved */
	state_doc_free(&back);

	/* Saving again replaces the file whole. */
	doc.n = 1;
	assert_int_equal(statefile_save(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(statefile_load(path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, 1);
	state_doc_free(&back);
}

static void test_empty_table(void **state)
{
	struct state_doc doc = {}, back;
	char path[128], err[512];

	path_of(path, sizeof(path), "empty.json");
	assert_int_equal(statefile_save(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(statefile_load(path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, 0);
	state_doc_free(&back);
}

static void test_missing(void **state)
{
	struct state_doc doc;
	char path[128], err[512];

	path_of(path, sizeof(path), "nothing-here.json");
	assert_int_equal(statefile_load(path, &doc, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

#define HDR "{\"format\":\"semi-netd-state\",\"version\":1,\"instance\":\"x\",\"generation\":1,"
#define P1 "{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\"}"

static const struct {
	const char *text;
	const char *says;	/* in the message, besides the file name */
} corrupt[] = {
	{ "", "empty" },
	{ "{", "end of data" },
	{ "[]", "top level must be an object" },
	{ "{\"format\":\"semi-netd-state\",\"version\":1} trailing", "not valid JSON at byte 41" },
	{ "{\"format\":\"other\",\"version\":1,\"ports\":[]}", "'format'" },
	{ "{\"version\":1,\"ports\":[]}", "missing 'format'" },
	{ "{\"format\":\"semi-netd-state\",\"ports\":[]}", "missing 'version'" },
	{ HDR "\"ports\":{}}", "'ports' must be an array" },
	{ HDR "\"ports\":[]," "\"extra\":1}", "unknown key 'extra'" },
	{ HDR "\"ports\":[7]}", "port 0 must be an object" },
	{ HDR "\"ports\":[{\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\"}]}",
	  "missing 'name'" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"state\":\"assigned\"}]}",
	  "port 0 ('vm1'): missing 'mac'" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\"}]}", "missing 'state'" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"lost\"}]}",
	  "bad state \"lost\"" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"ff:ff:ff:ff:ff:ff\","
	  "\"state\":\"assigned\"}]}",
	  "bad MAC" },
	{ HDR "\"ports\":[{\"name\":\"vm 1\",\"mac\":\"52:54:00:00:00:01\","
	  "\"state\":\"assigned\"}]}",
	  "bad name" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\","
	  "\"vlan\":5000}]}", "'vlan' = 5000 is out of range" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\","
	  "\"vf\":\"a\",\"tap\":\"a\"}]}", "same device" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\","
	  "\"colour\":\"red\"}]}", "port 0 ('vm1'): unknown key 'colour'" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\","
	  "\"vf_ifindex\":\"7\"}]}", "'vf_ifindex' must be an integer" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"handover\","
	  "\"handover\":\"maybe\"}]}", "bad handover" },
	{ HDR "\"ports\":[" P1 "," P1 "]}", "name 'vm1' also names port 0" },
	{ HDR "\"ports\":[" P1 ",{\"name\":\"vm2\",\"mac\":\"52:54:00:00:00:01\",\"state\":"
	  "\"emulated\"}]}", "MAC and VLAN also belong to port 'vm1'" },
	{ HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"assigned\","
	  "\"vf\":\"d1\"},{\"name\":\"vm2\",\"mac\":\"52:54:00:00:00:02\",\"state\":\"assigned\","
	  "\"tap\":\"d1\"}]}", "a device also belongs to port 'vm1'" },
};

#define HDR2 "{\"format\":\"semi-netd-state\",\"version\":2,\"instance\":\"x\",\"generation\":1,"
#define P1X(x) "{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\",\"state\":\"outgoing\"," x "}"

static const struct {
	const char *text;
	const char *says;
} corrupt2[] = {
	{ HDR2 "\"ports\":[" P1X("\"migration\":{\"peer\":\"hostB\"}") "]}",
	  "'migration' without a role" },
	{ HDR2 "\"ports\":[" P1X("\"migration\":{\"role\":\"sideways\"}") "]}",
	  "bad migration role" },
	{ HDR2 "\"ports\":[" P1X("\"migration\":{\"role\":\"source\",\"origin\":\"lost\"}") "]}",
	  "bad migration origin" },
	{ HDR2 "\"ports\":[" P1X("\"migration\":{\"role\":\"source\",\"when\":1}") "]}",
	  "unknown key 'migration.when'" },
	{ HDR2 "\"ports\":[" P1X("\"migration\":{\"role\":\"source\",\"drained\":-3}") "]}",
	  "'drained' = -3" },
	{ HDR2 "\"ports\":[" P1X("\"announce\":{\"rounds\":-1}") "]}", "'rounds' = -1" },
	{ HDR2 "\"ports\":[" P1X("\"announce\":[]") "]}", "'announce' must be an object" },
	{ HDR2 "\"ports\":[" P1X("\"addresses\":{\"ipv4\":[\"192.0.2.300\"]}") "]}",
	  "bad address \"192.0.2.300\"" },
	{ HDR2 "\"ports\":[" P1X("\"addresses\":{\"ipv6\":[\"::1\",\"::2\",\"::3\",\"::4\","
				  "\"::5\",\"::6\",\"::7\",\"::8\",\"::9\"]}") "]}",
	  "more than 8 addresses" },
	{ HDR2 "\"ports\":[" P1X("\"addresses\":{\"ipx\":[]}") "]}",
	  "unknown key 'addresses.ipx'" },
	{ HDR2 "\"ports\":[],\"peers\":[{\"name\":\"hostB\"}]}", "peer 0: needs a name and an" },
	{ HDR2 "\"ports\":[],\"peers\":[{\"name\":\"hostB\",\"address\":\"x\","
	  "\"mac\":\"nope\"}]}", "peer 0: bad MAC" },
	{ HDR2 "\"ports\":[],\"peers\":[{\"name\":\"hostB\",\"address\":\"x\",\"vni\":1}]}",
	  "peer 0: unknown key 'vni'" },
};

static void test_corrupt_v2(void **state)
{
	char path[128], err[512];

	path_of(path, sizeof(path), "corrupt2.json");
	for (size_t i = 0; i < sizeof(corrupt2) / sizeof(corrupt2[0]); i++) {
		struct state_doc doc;

		write_text(path, corrupt2[i].text);
		if (statefile_load(path, &doc, err, sizeof(err)) == 0)
			fail_msg("case %zu accepted: %s", i, corrupt2[i].text);
		if (!strstr(err, path) || !strstr(err, corrupt2[i].says))
			fail_msg("case %zu: message '%s' lacks the file or '%s'", i, err,
				 corrupt2[i].says);
		assert_null(doc.ports);
		assert_null(doc.peers);
	}
}

static void test_corrupt(void **state)
{
	char path[128], err[512];

	path_of(path, sizeof(path), "corrupt.json");
	for (size_t i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		struct state_doc doc;
		int ret;

		write_text(path, corrupt[i].text);
		ret = statefile_load(path, &doc, err, sizeof(err));
		if (ret == 0)
			fail_msg("case %zu accepted: %s", i, corrupt[i].text);
		if (!strstr(err, path) || !strstr(err, corrupt[i].says))
			fail_msg("case %zu: message '%s' lacks the file or '%s'", i, err,
				 corrupt[i].says);
		assert_null(doc.ports);
		assert_int_equal(doc.n, 0);
	}
}

static void test_other_version(void **state)
{
	char path[128], err[512];
	struct state_doc doc;

	path_of(path, sizeof(path), "v3.json");
	write_text(path, "{\"format\":\"semi-netd-state\",\"version\":3,\"ports\":[]}");
	assert_int_equal(statefile_load(path, &doc, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 3"));
	assert_non_null(strstr(err, "versions 1 to 2"));
}

static void test_version_1(void **state)
{
	char path[128], err[512];
	struct state_doc doc;

	/* What the daemon of issue 4 wrote: read as it was, nothing migrating. */
	path_of(path, sizeof(path), "v1.json");
	write_text(path, HDR "\"ports\":[" P1 "]}");
	assert_int_equal(statefile_load(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(doc.n, 1);
	assert_int_equal(doc.ports[0].mig.role, MIG_NONE);
	assert_false(doc.ports[0].ann.active);
	assert_int_equal(doc.ports[0].addrs.n_ipv4, 0);
	assert_int_equal(doc.npeers, 0);
	state_doc_free(&doc);
	/* ... but a key of version 2 in a version 1 file is corruption. */
	write_text(path, HDR "\"ports\":[{\"name\":\"vm1\",\"mac\":\"52:54:00:00:00:01\","
		   "\"state\":\"assigned\",\"migration\":null}]}");
	assert_int_equal(statefile_load(path, &doc, err, sizeof(err)), -EUCLEAN);
	assert_non_null(strstr(err, "unknown key 'migration'"));
	write_text(path, HDR "\"ports\":[],\"peers\":[]}");
	assert_int_equal(statefile_load(path, &doc, err, sizeof(err)), -EUCLEAN);
}

static void test_unreadable(void **state)
{
	char path[128], err[512];
	struct state_doc doc;

	/* A directory where the file should be. */
	path_of(path, sizeof(path), "adir.json");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(statefile_load(path, &doc, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, path));
	assert_int_equal(rmdir(path), 0);
}

static void test_save_fails(void **state)
{
	struct state_doc doc = {};
	char path[128], err[512];

	path_of(path, sizeof(path), "no/such/dir/state.json");
	assert_true(statefile_save(path, &doc, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "state.json"));
}

/* ---- the configuration file ---- */

static int cfg(const char *text, struct netd_config *c, char *err, size_t len)
{
	config_defaults(c);
	return config_parse(c, "/etc/x.json", text, strlen(text), err, len);
}

static void test_config_good(void **state)
{
	struct netd_config c;
	char err[512];

	assert_int_equal(cfg("{\"instance\":\"hostA\",\"uplink\":\"eth0\",\"uplink_xdp\":\"off\","
			     "\"bridge\":\"br0\",\"socket\":\"/run/x.sock\","
			     "\"state\":\"/var/x.json\","
			     "\"pin_root\":\"/sys/fs/bpf/t\",\"handover_poll_ms\":5,"
			     "\"stats_interval_ms\":250,\"max_clients\":50,"
			     "\"announce\":{\"initial_ms\":10,\"step_ms\":20,\"rounds\":3},"
			     "\"peers\":[{\"name\":\"hostB\",\"address\":\"10.0.0.2\"},"
			     "{\"name\":\"hostC\",\"address\":\"fd00::3\"}],"
			     "\"tunnel\":{\"local\":\"10.0.0.1\",\"port\":4790,\"vni\":4096},"
			     "\"host\":\"hostA\",\"retire\":{\"linger_ms\":5,\"grace_ms\":600},"
			     "\"hook\":{\"path\":\"/usr/libexec/x\",\"timeout_ms\":100},"
			     "\"drain_tap\":false,"
			     "\"hold\":{\"unplug\":true,\"incoming\":true,\"plug\":true,"
			     "\"max_ms\":150}}",
			     &c, err, sizeof(err)), 0);
	assert_string_equal(c.instance, "hostA");
	assert_string_equal(c.uplink, "eth0");
	assert_int_equal(c.uplink_xdp, SEMI_XDP_OFF);
	assert_int_equal(c.handover_poll_ms, 5);
	assert_int_equal(c.announce.rounds, 3);
	assert_int_equal(c.n_peers, 2);
	assert_string_equal(c.peers[1].address, "fd00::3");
	assert_int_equal(c.tunnel.port, 4790);
	assert_int_equal(c.tunnel.vni, 4096);
	assert_int_equal(config_control_port(&c), 4791);	/* the tunnel's + 1 */
	assert_string_equal(c.host, "hostA");
	assert_int_equal(c.retire.linger_ms, 5);
	assert_int_equal(c.retire.grace_ms, 600);
	assert_string_equal(c.hook.path, "/usr/libexec/x");
	assert_false(c.drain_tap);
	assert_true(c.hold.unplug);
	assert_true(c.hold.incoming);
	assert_true(c.hold.plug);
	assert_int_equal(c.hold.max_ms, 150);

	/* Defaults: the announce backoff of the migration issue, a 2 ms watch. */
	assert_int_equal(cfg("{}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.announce.initial_ms, 50);
	assert_int_equal(c.announce.step_ms, 100);
	assert_int_equal(c.announce.rounds, 5);
	assert_int_equal(c.handover_poll_ms, 2);
	assert_int_equal(c.retire.linger_ms, 200);
	assert_int_equal(c.retire.grace_ms, 30000);
	assert_int_equal(c.tunnel.vni, 0);
	assert_true(c.drain_tap);
	assert_false(c.hold.unplug);
	assert_false(c.hold.incoming);
	assert_false(c.hold.plug);
	assert_int_equal(c.hold.max_ms, 2000);
	assert_int_equal(config_control_port(&c), 4790);
	assert_int_equal(cfg("{\"tunnel\":{\"control_port\":5000}}", &c, err, sizeof(err)), 0);
	assert_int_equal(config_control_port(&c), 5000);
	assert_string_equal(c.pin_root, "/sys/fs/bpf/semi-net");
}

static const struct {
	const char *text;
	const char *says;
} bad_cfg[] = {
	{ "{\"uplnk\":\"eth0\"}", "unknown key 'uplnk'" },
	{ "{\"uplink\":7}", "key 'uplink': must be a device name" },
	{ "{\"uplink\":\"a/b\"}", "key 'uplink'" },
	{ "{\"uplink_xdp\":\"fast\"}", "key 'uplink_xdp': must be one of auto, native, off" },
	{ "{\"socket\":\"relative.sock\"}", "key 'socket': must be an absolute path" },
	{ "{\"instance\":\".hidden\"}", "key 'instance'" },
	{ "{\"handover_poll_ms\":0}", "key 'handover_poll_ms': must be an integer 1..1000, not 0" },
	{ "{\"announce\":{\"rounds\":\"x\"}}", "key 'announce.rounds': must be an integer" },
	{ "{\"announce\":{\"speed\":1}}", "unknown key 'announce.speed'" },
	{ "{\"peers\":[{\"name\":\"b\",\"address\":\"10.0.0.300\"}]}",
	  "key 'peers[0].address': must be an IPv4 or IPv6 address" },
	{ "{\"peers\":[{\"name\":\"b\"}]}", "key 'peers[0]': needs both" },
	{ "{\"peers\":[{\"name\":\"b\",\"address\":\"10.0.0.1\"},{\"name\":\"b\","
	  "\"address\":\"10.0.0.2\"}]}", "appears twice" },
	{ "{\"tunnel\":{\"port\":70000}}", "key 'tunnel.port'" },
	{ "{\"tunnel\":{\"control_port\":4790,\"port\":4790}}",
	  "key 'tunnel.control_port': must differ from tunnel.port (4790)" },
	{ "{\"tunnel\":{\"vni\":16777215}}", "key 'tunnel.vni': must be an integer 0..16773121" },
	{ "{\"retire\":{\"grace_ms\":0}}", "key 'retire.grace_ms'" },
	{ "{\"retire\":{\"soon\":1}}", "unknown key 'retire.soon'" },
	{ "{\"host\":\"a-host-name-far-too-long\"}", "key 'host': must be a host name of 1 to 15" },
	{ "{\"peers\":[{\"name\":\"a-host-name-far-too-long\",\"address\":\"10.0.0.1\"}]}",
	  "key 'peers[0].name'" },

	{ "{\"hook\":{\"path\":\"x\"}}", "key 'hook.path': must be an absolute path" },
	{ "{\"drain_tap\":\"yes\"}", "key 'drain_tap': must be true or false, not string" },
	{ "{\"hold\":true}", "key 'hold': must be an object, not boolean" },
	{ "{\"hold\":{\"unplug\":1}}", "key 'hold.unplug': must be true or false" },
	{ "{\"hold\":{\"max_ms\":0}}", "key 'hold.max_ms': must be an integer 1..60000, not 0" },
	{ "{\"hold\":{\"plug\":\"on\"}}", "key 'hold.plug': must be true or false, not string" },
	{ "{\"hold\":{\"later\":true}}", "unknown key 'hold.later' (known: unplug, incoming, plug, max_ms)" },
	{ "{\"socket_group\":\"no-such-group-semi\"}", "no group \"no-such-group-semi\"" },
	{ "{\n  \"uplink\": \"eth0\",\n  oops\n}", "line 3, column 3" },
	{ "[]", "must be a JSON object" },
	{ "{} {}", "not valid JSON at line 1" },
};

static void test_config_bad(void **state)
{
	struct netd_config c;
	char err[512];

	for (size_t i = 0; i < sizeof(bad_cfg) / sizeof(bad_cfg[0]); i++) {
		if (cfg(bad_cfg[i].text, &c, err, sizeof(err)) == 0)
			fail_msg("config case %zu accepted: %s", i, bad_cfg[i].text);
		if (!strstr(err, "/etc/x.json") || !strstr(err, bad_cfg[i].says))
			fail_msg("config case %zu: '%s' lacks '%s'", i, err, bad_cfg[i].says);
	}
}

static void test_config_layers(void **state)
{
	struct netd_overrides ov = {};
	struct netd_config c;
	char path[128], err[512];

	path_of(path, sizeof(path), "netd.json");
	write_text(path, "{\"instance\":\"fromfile\",\"socket\":\"/run/f.sock\"}");
	ov.config = path;
	assert_int_equal(config_load(&c, &ov, err, sizeof(err)), 0);
	assert_string_equal(c.instance, "fromfile");
	assert_string_equal(c.socket, "/run/f.sock");
	assert_string_equal(c.state, "/var/lib/semi-net/fromfile.json");
	/* The command line wins over the file. */
	ov.instance = "cli";
	ov.socket = "/tmp/cli.sock";
	assert_int_equal(config_load(&c, &ov, err, sizeof(err)), 0);
	assert_string_equal(c.instance, "cli");
	assert_string_equal(c.socket, "/tmp/cli.sock");
	assert_string_equal(c.state, "/var/lib/semi-net/cli.json");
	ov.socket = NULL;
	ov.config = NULL;
	ov.state = "relative.json";
	assert_true(config_load(&c, &ov, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "--state"));
	ov.state = NULL;
	ov.config = "/nonexistent/semi.json";
	assert_true(config_load(&c, &ov, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/semi.json"));

	config_default_socket("default", path, sizeof(path));
	assert_string_equal(path, "/run/semi-net/semi-netd.sock");
	config_default_socket("hostB", path, sizeof(path));
	assert_string_equal(path, "/run/semi-net/semi-netd.hostB.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_corrupt_v2),
		cmocka_unit_test(test_other_version),
		cmocka_unit_test(test_version_1),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_save_fails),
		cmocka_unit_test(test_config_good),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_config_layers),
	};

	return cmocka_run_group_tests_name("statefile and config", tests, setup, teardown);
}
