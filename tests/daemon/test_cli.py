# SPDX-License-Identifier: GPL-2.0
"""semi-netctl: help from the table, usage errors (exit 2), refusals (exit 1),
-j JSON for every verb, human output, the daemon-not-running message."""
import json
import os
import subprocess

import pytest

BUILD = os.environ.get("SEMI_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
CTL = os.path.join(BUILD, "bin", "semi-netctl")
MAC1, MAC2 = "52:54:00:00:00:01", "52:54:00:00:00:02"

VERBS = ["status", "port add", "port del", "port set", "port show", "switch", "stats",
         "watch", "unwatch", "migrate in", "migrate out", "migrate done", "migrate abort",
         "announce", "flush"]


def ctl(*args, **kw):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=30, **kw)


def test_help_lists_every_verb():
    p = ctl("--help")
    assert p.returncode == 0
    for v in VERBS:
        assert f"  {v} " in p.stdout, v
    assert "exit status: 0 ok, 1 refused" in p.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_verb_help(verb):
    for argv in (verb.split() + ["--help"], ["help"] + verb.split()):
        p = ctl(*argv)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"usage: semi-netctl {verb}"), p.stdout
        assert "example: semi-netctl " in p.stdout
        assert "protocol: {\"cmd\":" in p.stdout


@pytest.mark.parametrize("argv,says", [
    ([], "usage:"),
    (["fly"], "unknown verb 'fly'"),
    (["port"], "'port' needs a sub-command"),
    (["migrate"], "'migrate' needs a sub-command"),
    (["port", "add", "vm1"], "--mac is required"),
    (["port", "add", "--mac", MAC1], "PORT is required"),
    (["port", "add", "vm1", "--mac", "01:00:5e:00:00:01"], "unicast MAC"),
    (["port", "add", "vm1", "--mac", MAC1, "--vlan", "x"], "--vlan wants a number"),
    (["port", "add", "vm1", "--mac", MAC1, "--vlan", "5000"], "0..4094"),
    (["port", "add", "vm1", "--mac", MAC1, "--colour", "red"], "unknown option '--colour'"),
    (["port", "add", "vm1", "--mac"], "--mac needs a value"),
    (["port", "del", "vm1", "vm2"], "unexpected argument 'vm2'"),
    (["switch", "vm1", "sideways"], "one of vf, tap, both"),
    (["switch", "vm1"], "vf|tap|both is required"),
    (["port", "add", "a-very-long-port-name", "--mac", MAC1], "1 to 15"),
    (["watch", "--stats=maybe"], "true or false"),
    (["-t", "0", "status"], "bad timeout"),
])
def test_usage_errors_exit_2(argv, says):
    p = ctl("-s", "/nonexistent/sock", *argv)
    assert p.returncode == 2, (argv, p.stdout, p.stderr)
    assert says in p.stderr, p.stderr


def test_not_running(tmp_path):
    sock = str(tmp_path / "none.sock")
    p = ctl("-s", sock, "status")
    assert p.returncode == 1
    assert f"semi-netd is not running: no socket at {sock}" in p.stderr
    # A stale socket (nothing listens): also said plainly.
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()
    p = ctl("-s", sock, "status")
    assert p.returncode == 1 and "nothing listens on" in p.stderr
    # -i names the instance's default socket.
    p = ctl("-i", "nosuchinstance", "status")
    assert p.returncode == 1 and "/run/semi-net/semi-netd.nosuchinstance.sock" in p.stderr


def test_every_verb_json(host, netd):
    d = netd(host, uplink="up0", stats_interval_ms=50)
    j = d.j
    st = j("status")
    assert st["instance"] == d.instance and st["ports_total"] == 0
    assert st["uplink"]["name"] == "up0" and st["uplink"]["attached"] is True
    added = j("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1")
    assert added["name"] == "vm1" and added["state"] == "handover" and added["path"] == "both"
    assert added["vf"] == {"name": "vf1", "present": True, "ifindex": host.ifindex("vf1"),
                           "xdp": added["vf"]["xdp"]}
    assert added["warnings"] == []
    later = j("port", "add", "vm2", "--mac", MAC2, "--vlan", "100", "--vf", "vf9", "--tap",
              "tap2", "--mode", "legacy")
    assert later["state"] == "emulated" and later["mode"] == "legacy" and later["vlan"] == 100
    assert any("vf9 is not present" in w for w in later["warnings"])
    shown = j("port", "show")["ports"]
    assert [p["name"] for p in shown] == ["vm1", "vm2"]
    assert shown[0]["in_datapath"] is True and "stats" in shown[0]
    assert j("port", "show", "vm2")["ports"][0]["vf"]["present"] is False
    sw = j("switch", "vm1", "tap")
    assert (sw["from"], sw["state"], sw["path"], sw["changed"]) == ("handover", "emulated",
                                                                    "tap", True)
    assert j("switch", "vm1", "tap")["changed"] is False
    assert j("port", "set", "vm2", "--vlan", "200")["vlan"] == 200
    stats = j("stats")
    assert set(stats["instance"]) >= {"uplink_rx", "flood", "pass_host", "xdp_defer", "drop"}
    assert [p["name"] for p in stats["ports"]] == ["vm1", "vm2"]
    one = j("stats", "vm1")["ports"][0]
    assert set(one) >= {"rx", "tx", "drop", "tx_local", "remote_src", "state"}
    assert one["drop"]["spoof_mac"] == 0      # every reason, also zero
    w = d.ctl("watch", "--count", "1", "--timeout", "2000", json_out=True, check=0)
    assert json.loads(w.stdout.splitlines()[0])["watching"] is True
    assert j("unwatch")["watching"] is False
    # The migration verbs (tests/migration has them at work): a daemon
    # without peers says so; out needs --begin or --to; nothing to abort.
    for argv, code, says in (
            (["migrate", "in", "vm3", "--mac", "52:54:00:00:00:03", "--tap", "tap2",
              "--from", "hostB"], "not_found", "no peer hostB in the configuration"),
            (["migrate", "out", "vm1", "--to", "hostB"], "not_found", "no peer hostB"),
            (["migrate", "out", "vm1"], "bad_arg", "one of 'begin'"),
            (["migrate", "done", "vm1"], "refused", "'migrate done' is refused")):
        p = d.ctl(*argv, json_out=True, check=1)
        rep = json.loads(p.stdout)
        assert rep["ok"] is False and rep["error"]["code"] == code, (argv, rep)
        assert says in p.stderr, (argv, p.stderr)
    ab = j("migrate", "abort", "vm1")
    assert (ab["aborted"], ab["reason"], ab["state"]) == (False, "no migration in progress",
                                                          "emulated")
    assert j("port", "del", "vm2") == {"name": "vm2", "deleted": True}
    fl = j("flush")
    assert fl["flushed"] is True and fl["pin_dir"] == d.pin_dir
    assert d.proc.wait(10) == 0
    assert not os.path.exists(d.pin_dir) and not os.path.exists(d.state)


def test_human_output(host, netd):
    d = netd(host, uplink="up0")
    out = d.ctl("status", check=0).stdout
    assert f"instance   {d.instance}" in out and "uplink     up0 (attached" in out
    assert "hold       off\n" in out
    out = d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1",
                check=0).stdout
    assert out == "port vm1 added: handover, path both\n"
    p = d.ctl("port", "add", "vm2", "--mac", MAC2, "--tap", "tapX", check=0)
    assert "note: tap tapX is not present yet" in p.stderr
    out = d.ctl("status", check=0).stdout
    assert "ports      2: handover 1, emulated 1" in out
    assert "vm1             handover  representor 52:54:00:00:00:01" in out
    assert "tapX (absent)" in out
    out = d.ctl("port", "show", "vm1", check=0).stdout
    assert "port vm1 (id 0)" in out and "state      handover (wait)" in out
    assert "path       rx both, tx from vf,tap" in out
    assert d.ctl("switch", "vm1", "vf", check=0).stdout == "vm1: handover -> assigned, path vf\n"
    assert d.ctl("switch", "vm1", "vf", check=0).stdout == "vm1: already assigned, path vf\n"
    out = d.ctl("stats", check=0).stdout
    assert "PORT" in out and "RX_VF" in out and "vm1" in out and "uplink_rx" in out
    out = d.ctl("stats", "vm1", check=0).stdout
    assert out.startswith("port vm1 (assigned)") and "drops" in out
    out = d.ctl("port", "show", "nope", check=1)
    assert "no port nope (not_found)" in out.stderr
    assert d.ctl("port", "del", "vm2", check=0).stdout == "port vm2 deleted\n"


def test_refusals_exit_1(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    p = d.ctl("switch", "vm1", "vf", check=1)
    assert "'switch vf' needs a VF" in p.stderr and "(no_device)" in p.stderr
    p = d.ctl("port", "add", "vm1", "--mac", MAC2, check=1)
    assert "port vm1 exists (exists)" in p.stderr
    p = d.ctl("port", "add", "vm2", "--mac", MAC1, check=1)
    assert "already belongs to port vm1" in p.stderr
    p = d.ctl("port", "add", "vm2", "--mac", MAC2, "--tap", "tap1", check=1)
    assert "device tap1 already belongs to port vm1" in p.stderr
    p = d.ctl("port", "add", "vm2", "--mac", MAC2, "--vf", "tap2", "--tap", "tap2", check=1)
    assert "same device" in p.stderr
    p = d.ctl("port", "add", "vm2", "--mac", MAC2, "--vf", "lo", check=1)
    assert "vf lo is a loopback device" in p.stderr
    p = d.ctl("port", "del", "vm9", check=1)
    assert "no port vm9" in p.stderr
    # Refused changes leave nothing behind.
    assert [p["name"] for p in d.j("port", "show")["ports"]] == ["vm1"]


def test_flush_without_daemon(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    d.kill9()
    assert os.path.isdir(d.pin_dir)
    p = subprocess.run([CTL, "-s", d.socket, "-i", d.instance, "--state", d.state, "flush"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "semi-netd is not running: removed instance" in p.stdout
    assert not os.path.exists(d.pin_dir) and not os.path.exists(d.state)
    # Nothing left to remove: still fine, and says so.
    p = subprocess.run([CTL, "-s", d.socket, "-i", d.instance, "--state", d.state, "flush"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "nothing pinned" in p.stdout
