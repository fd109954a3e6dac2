# SPDX-License-Identifier: GPL-2.0
"""The state file and restarts: on disk before the reply; a corrupt or
unreadable file stops the start and leaves the datapath alone; a restarted
daemon adopts the pins (the file wins for configuration, the datapath for
counters); SIGTERM leaves the datapath running; flush removes it."""
import json
import os
import subprocess
import time

import pytest

import netns

MAC1, MAC2 = "52:54:00:00:00:01", "52:54:00:00:00:02"


def frame_from(mac, n=1):
    """A broadcast frame with source mac, as a guest would send it."""
    return bytes.fromhex("ffffffffffff" + mac.replace(":", "")) + b"\x08\x06" + b"\0" * 46


def dpctl(d, *args, check=True):
    return netns.run([d.bin("semi-dpctl"), "-i", d.instance, *args], ns=d.nsname,
                     check=check)


def test_state_file_written_before_reply(host, netd):
    d = netd(host)
    gen = d.read_state()["generation"]
    steps = [
        (("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1"),
         {"vm1": "handover"}),
        (("switch", "vm1", "tap"), {"vm1": "emulated"}),
        (("port", "add", "vm2", "--mac", MAC2, "--tap", "tap2"),
         {"vm1": "emulated", "vm2": "emulated"}),
        (("switch", "vm1", "vf"), {"vm1": "assigned", "vm2": "emulated"}),
        (("port", "set", "vm2", "--vlan", "7"), {"vm1": "assigned", "vm2": "emulated"}),
        (("port", "del", "vm1"), {"vm2": "emulated"}),
    ]
    for argv, want in steps:
        d.ctl(*argv, check=0)
        # The reply is out: the file already says so (no wait).
        st = d.read_state()
        assert {p["name"]: p["state"] for p in st["ports"]} == want, argv
        assert st["generation"] == gen + 1
        gen += 1
    assert d.read_state()["ports"][0]["vlan"] == 7
    # A refused command writes nothing.
    d.ctl("switch", "vm2", "vf", check=1)
    assert d.read_state()["generation"] == gen
    assert os.stat(d.state).st_mode & 0o777 == 0o600


CORRUPT = [
    ("truncated", lambda t: t[: len(t) // 2], "is corrupt: not valid JSON"),
    ("empty", lambda t: "", "is corrupt: the file is empty"),
    ("unknown key", lambda t: t.replace('"vlan"', '"vlam"', 1), "unknown key 'vlam'"),
    ("bad state", lambda t: t.replace('"emulated"', '"elsewhere"', 1),
     "bad state \"elsewhere\""),
    ("newer version", lambda t: t.replace('"version": 2', '"version": 9', 1), "version 9"),
]


@pytest.mark.parametrize("name,damage,says", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_state_file_refused(host, netd, name, damage, says):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    d.kill9()
    with open(d.state) as f:
        good = f.read()
    with open(d.state, "w") as f:
        f.write(damage(good))
    rc, out = d.run_once()
    assert rc == 1, out
    assert f"state file {d.state}" in out and says in out, out
    # Nothing touched: the port is still in the datapath, the socket gone.
    assert "vm1" in dpctl(d, "port-show")
    assert not os.path.exists(d.socket)
    # Repaired, it starts with the port.
    with open(d.state, "w") as f:
        f.write(good)
    d.start()
    assert d.state_of("vm1") == "emulated"


def test_unreadable_state_file_refused(host, netd):
    d = netd(host, start=False)
    os.mkdir(d.state)
    rc, out = d.run_once()
    assert rc == 1 and f"state file {d.state} is not a regular file" in out, out
    os.rmdir(d.state)


def test_restart_adopts_ports_and_counters(host, netd):
    d = netd(host, uplink="up0")
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("port", "add", "vm2", "--mac", MAC2, "--tap", "tap2", "--vlan", "5", check=0)
    d.ctl("switch", "vm1", "tap", check=0)
    for _ in range(3):
        host.taps["tap1"].write(frame_from(MAC1))
    host.taps["tap2"].write(frame_from(MAC1))       # spoofed: counted as a drop
    before = {p: d.j("stats", p)["ports"][0] for p in ("vm1", "vm2")}
    assert before["vm1"]["tx"]["tap"]["packets"] == 3
    assert before["vm2"]["drop"]["spoof_mac"] == 1
    progs = dpctl(d, "-j", "attachments")
    shown = d.j("port", "show")["ports"]
    d.kill9()
    d.start()
    st = d.j("status")
    assert st["adopted"] is True
    assert d.j("port", "show")["ports"] == shown      # same ports, states, ids, devices
    after = {p: d.j("stats", p)["ports"][0] for p in ("vm1", "vm2")}
    assert after == before                            # the datapath's counters
    assert json.loads(dpctl(d, "-j", "attachments")) == json.loads(progs)
    # It keeps counting where it was.
    host.taps["tap1"].write(frame_from(MAC1))
    assert d.j("stats", "vm1")["ports"][0]["tx"]["tap"]["packets"] == 4


def test_sigterm_leaves_the_datapath(host, netd):
    d = netd(host, uplink="up0")
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    assert d.stop() == 0
    assert "the datapath of instance" in d.read_log()
    assert os.path.isdir(d.pin_dir)
    assert "semi_port" in netns.run(["tc", "filter", "show", "dev", "tap1", "ingress"],
                                    ns=host.name)
    assert "vm1" in dpctl(d, "port-show")
    assert not os.path.exists(d.socket)
    d.start()
    assert d.state_of("vm1") == "emulated"


def test_file_wins_for_configuration(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("switch", "vm1", "vf", check=0)
    d.kill9()
    # Behind the daemon's back: a port it never had, and vm1 moved to tap.
    dpctl(d, "port-put", "stray", MAC2, "tap", "tap2", "path", "tap")
    dpctl(d, "path", "vm1", "tap")
    d.start()
    assert [p["name"] for p in d.j("port", "show")["ports"]] == ["vm1"]
    assert "stray" not in dpctl(d, "port-show")
    p = d.port("vm1")
    assert (p["state"], p["path"]) == ("assigned", "vf")
    log = d.read_log()
    assert "port stray is pinned but not in the state file" in log
    assert "port vm1: the datapath differs from the state file" in log


def test_no_state_file_takes_the_datapath(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("switch", "vm1", "vf", check=0)
    d.ctl("port", "add", "vm2", "--mac", MAC2, "--tap", "tap2", check=0)
    d.kill9()
    os.unlink(d.state)
    d.start()
    got = {p["name"]: (p["state"], p["vf"] and p["vf"]["name"], p["tap"]["name"])
           for p in d.j("port", "show")["ports"]}
    assert got == {"vm1": ("assigned", "vf1", "tap1"), "vm2": ("emulated", None, "tap2")}
    assert "no state file" in d.read_log()
    assert len(d.read_state()["ports"]) == 2


def test_vf_gone_while_down(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("switch", "vm1", "vf", check=0)
    d.kill9()
    host.del_vf(1)
    d.start()
    p = d.port("vm1")
    assert (p["state"], p["path"], p["vf"]["present"]) == ("emulated", "tap", False)
    # And when it comes back: handover, waiting for the guest.
    host.add_vf(1)
    d_wait(d, "vm1", "handover")


def test_vf_appeared_while_down(host, netd):
    d = netd(host)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf7", "--tap", "tap1", check=0)
    assert d.state_of("vm1") == "emulated"
    d.kill9()
    host.add_vf(7)
    d.start()
    p = d.port("vm1")
    assert (p["state"], p["handover"], p["path"]) == ("handover", "wait", "both")
    assert p["vf"]["ifindex"] == host.ifindex("vf7")


def d_wait(d, port, state, timeout=5):
    import time
    deadline = time.monotonic() + timeout
    while d.state_of(port) != state:
        assert time.monotonic() < deadline, f"{port} never became {state}"
        time.sleep(0.005)


def test_flush_option(host, netd):
    d = netd(host, uplink="up0")
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    rc, out = d.run_once("--flush")
    assert rc == 1 and "another semi-netd is listening" in out      # not while it runs
    d.stop()
    rc, out = d.run_once("--flush")
    assert rc == 0, out
    assert not os.path.exists(d.pin_dir) and not os.path.exists(d.state)
    assert "semi_port" not in netns.run(["tc", "filter", "show", "dev", "tap1", "ingress"],
                                        ns=host.name)
    assert netns.run(["ip", "-j", "link", "show", "dev", "up0"], ns=host.name).count("xdp") == 0


def test_check_config(tmp_path, build):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"uplink":"eth0","announce":{"rounds":3}}')
    p = subprocess.run([os.path.join(build, "bin", "semi-netd"), "-c", str(cfg), "-i", "x1",
                        "--check-config"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    c = json.loads(p.stdout)
    assert c["uplink"] == "eth0" and c["announce"]["rounds"] == 3
    assert c["socket"] == "/run/semi-net/semi-netd.x1.sock"
    assert c["state"] == "/var/lib/semi-net/x1.json"
    cfg.write_text('{"uplink":"eth0","announce":{"round":3}}')
    p = subprocess.run([os.path.join(build, "bin", "semi-netd"), "-c", str(cfg),
                        "--check-config"], capture_output=True, text=True)
    assert p.returncode == 1
    assert f"config {cfg}: unknown key 'announce.round'" in p.stderr
    p = subprocess.run([os.path.join(build, "bin", "semi-netd"), "--bogus"],
                       capture_output=True, text=True)
    assert p.returncode == 2


def test_background_start_and_readiness(host, netd, tmp_path):
    """Without -f the parent exits 0 once the daemon is ready; it tells
    systemd READY=1 on $NOTIFY_SOCKET; under journald its lines carry
    syslog priorities."""
    import socket
    d = netd(host, start=False)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = str(tmp_path / "notify")
    notify.bind(notify_path)
    notify.settimeout(10)
    argv = [a for a in d.argv() if a != "-f"]
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, JOURNAL_STREAM="8:1234")
    with open(d.log_path, "a") as log:
        p = subprocess.run(argv, stdout=log, stderr=log, env=env, timeout=30)
    pid = None
    try:
        assert p.returncode == 0, d.read_log()
        assert notify.recv(256) == b"READY=1"
        st = d.req({"cmd": "status"})["result"]
        pid = st["pid"]
        assert os.path.exists(f"/proc/{pid}")
        assert "<6>ready: instance " + d.instance in d.read_log()
    finally:
        notify.close()
        if pid:
            os.kill(pid, 15)
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}")
    assert "<6>stopped; the datapath of instance" in d.read_log()
    # A start that fails in the background says why and exits 1.
    with open(d.state, "w") as f:
        f.write("{")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "is corrupt" in p.stderr, p.stderr
