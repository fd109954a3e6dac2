# SPDX-License-Identifier: GPL-2.0
"""A migration step whose peer is not resolved yet waits for it without
holding semi-netd's loop: other clients are answered meanwhile; the step is
answered ok once the tunnel works (DESIGN invariant 5), or refused after
a second; the waiting connection keeps its replies in order.

    host ns: up0 10.77.0.1 (tunnel.local) --veth-- wire ns: up0p (10.77.0.2: the peer,
                                                    added only when the test says)
"""
import json
import socket
import subprocess
import time

import pytest

from netdlib import Lines

MAC = "52:54:00:00:00:21"
LOCAL, PEER = "10.77.0.1", "10.77.0.2"


@pytest.fixture
def waiting(host, netd):
    """A daemon with one peer ('far') that nothing answers for yet, and a
    port that may go outgoing (emulated)."""
    host.ns.ip(f"addr add {LOCAL}/24 dev up0")
    # ARP probes every 50 ms, so that the peer, once there, is found fast.
    host.ns.run(["sysctl", "-qw", "net.ipv4.neigh.up0.retrans_time_ms=50"])
    d = netd(host.ns, tunnel={"local": LOCAL}, peers=[{"name": "far", "address": PEER}])
    d.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("switch", "vm1", "tap", check=0)
    return host, d


def status_ms(d):
    t = time.monotonic()
    assert d.req({"cmd": "status"}, timeout=5)["ok"]
    return (time.monotonic() - t) * 1000


def test_step_waits_for_its_peer_without_blocking(waiting):
    host, d = waiting
    t0 = time.monotonic()
    out = subprocess.Popen([d.bin("semi-netctl"), "-s", d.socket, "-j", "migrate", "out",
                            "vm1", "--to", "far"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    # While it waits, everyone else is answered at once.
    lat = []
    while time.monotonic() - t0 < 0.3:
        lat.append(status_ms(d))
        assert out.poll() is None, out.communicate()
    assert lat and max(lat) < 150, lat
    assert d.port("vm1")["state"] == "emulated"      # nothing done before the peer is known
    # The peer appears: the step is done, and only then answered ok.
    host.wire.ip(f"addr add {PEER}/24 dev up0p")
    stdout, stderr = out.communicate(timeout=10)
    waited = time.monotonic() - t0
    assert out.returncode == 0, stderr
    r = json.loads(stdout)
    assert (r["state"], r["path"]) == ("outgoing", "tunnel"), r
    assert 0.3 <= waited < 1.0, waited
    peer = d.j("status")["peers"][0]
    assert peer["in_datapath"] and peer["next_hop"], peer


def test_step_refused_when_its_peer_never_answers(waiting):
    host, d = waiting
    t0 = time.monotonic()
    out = subprocess.Popen([d.bin("semi-netctl"), "-s", d.socket, "migrate", "out", "vm1",
                            "--to", "far"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    lat = []
    while out.poll() is None:
        lat.append(status_ms(d))
        time.sleep(0.02)
    waited = time.monotonic() - t0
    _, stderr = out.communicate()
    assert out.returncode == 1, stderr
    assert "cannot reach peer far (10.77.0.2): not resolved within 1000 ms" in stderr, stderr
    assert 1.0 <= waited < 3.0, waited
    assert len(lat) > 10 and sorted(lat)[len(lat) // 2] < 50, lat
    assert d.port("vm1")["state"] == "emulated"
    assert d.j("status")["peers"][0]["in_datapath"] is False


def test_waiting_connection_keeps_its_order(waiting):
    """Requests sent behind the waiting one on its connection are answered
    after it, in order; a client that stops sending (half-close) while it
    waits still gets every reply."""
    host, d = waiting
    s = d.connect(timeout=10)
    try:
        s.sendall(b'{"id":1,"cmd":"migrate.out","args":{"name":"vm1","to":"far"}}\n'
                  b'{"id":2,"cmd":"port.show","args":{"name":"vm1"}}\n'
                  b'{"id":3,"cmd":"status"}\n')
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        host.wire.ip(f"addr add {PEER}/24 dev up0p")
        r = Lines(s)
        replies = [r.next() for _ in range(3)]
        assert s.recv(1) == b""          # then closed
    finally:
        s.close()
    assert [x["id"] for x in replies] == [1, 2, 3], replies
    assert all(x["ok"] for x in replies), replies
    assert replies[0]["result"]["state"] == "outgoing"
    assert replies[1]["result"]["ports"][0]["state"] == "outgoing"


def test_client_gone_while_its_step_waits(waiting):
    """The client hangs up before its step could be done: the step is not
    done (no one was told ok), and the daemon goes on."""
    host, d = waiting
    s = d.connect()
    s.sendall(b'{"cmd":"migrate.out","args":{"name":"vm1","to":"far"}}\n')
    time.sleep(0.1)
    s.close()
    time.sleep(0.1)
    host.wire.ip(f"addr add {PEER}/24 dev up0p")
    time.sleep(0.3)
    assert d.port("vm1")["state"] == "emulated"
    assert "gone while its migrate out waited: not done" in d.read_log()
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert r["state"] == "outgoing"
