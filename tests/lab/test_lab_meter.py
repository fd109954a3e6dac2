# SPDX-License-Identifier: GPL-2.0
"""semi-meter: exact counts on a clean path, loss when the path is cut,
duplicates and reordering, both directions, usage and exit codes."""
import json
import os
import socket
import struct
import subprocess
import time

import pytest

import netns
import semilab


class Meter:
    """semi-meter in a NetNS, background or not."""

    def __init__(self, build):
        self.bin = os.path.join(build, "bin", "semi-meter")
        self.procs = []

    def start(self, ns, *args):
        p = subprocess.Popen([self.bin, args[0], "-n", ns.name, "-j", *args[1:]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        if args[0] in ("recv", "both"):
            line = p.stderr.readline()
            assert "listening on" in line, line + p.stderr.read()
        return p

    @staticmethod
    def result(p, timeout=60):
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        return json.loads(out)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


@pytest.fixture
def pair(build):
    """Two namespaces joined by a veth pair 'v' (192.0.2.1/2, 2001:db8::1/2),
    with permanent neighbour entries and the lab's quiet sysctls (no router
    solicitations, no late MLD reports): the meter and the cable, nothing
    else on it."""
    a, b = netns.NetNS("ma"), netns.NetNS("mb")
    m = Meter(build)
    try:
        for ns in (a, b):
            semilab.sysctl(ns.name, semilab.NS_SYSCTLS)
        netns.veth(a, "v", b, "v", up=False)
        for ns, mine, peer in ((a, 1, 2), (b, 2, 1)):
            semilab.sysctl(ns.name, {"net.ipv6.conf.v.disable_ipv6": 0})
            ns.ip("link set dev v up")
            ns.ip(f"addr add 192.0.2.{mine}/24 dev v")
            ns.ip(f"addr add 2001:db8::{mine}/64 dev v nodad")
        for ns, peer_ns, peer in ((a, b, 2), (b, a, 1)):
            mac = json.loads(peer_ns.ip("-j link show dev v"))[0]["address"]
            ns.ip(f"neigh replace 192.0.2.{peer} lladdr {mac} dev v nud permanent")
            ns.ip(f"neigh replace 2001:db8::{peer} lladdr {mac} dev v nud permanent")
        yield a, b, m
    finally:
        m.close()
        a.close()
        b.close()


def link(ns, dev="v"):
    info = json.loads(ns.ip(f"-j -s link show dev {dev}"))[0]
    return info["stats64"]


@pytest.mark.parametrize("dst", ["192.0.2.2", "[2001:db8::2]:9000"])
def test_clean_path_counts_match(pair, dst):
    a, b, m = pair
    rx = m.start(b, "recv", "-t", "1")
    n = 20000
    tx = m.result(m.start(a, "send", dst, "-r", "50k", "-c", str(n), "-s", "100"))["tx"]
    r = m.result(rx)["rx"]
    assert tx["sent"] == n and tx["errors"] == 0
    assert (r["sent"], r["received"], r["lost"], r["duplicated"], r["reordered"]) == \
        (n, n, 0, 0, 0)
    assert r["sent_known"] and r["end_seen"] and r["lost_runs"] == []
    assert r["stream"] == tx["stream"]
    assert r["paths"] == ["v"]
    assert sum(bk["frames"] for bk in r["timeline"]) == n
    assert all(set(bk["by"]) <= {"v"} for bk in r["timeline"])
    assert r["bytes"] == n * 100


def test_loss_detected_when_the_path_is_cut(pair):
    """The receiver's end goes down mid-stream and up again: every frame
    the sender's veth dropped meanwhile is counted lost, in one run."""
    a, b, m = pair
    n = 30000
    rx = m.start(b, "recv", "-t", "2", "-i", "10ms")
    tx = m.start(a, "send", "192.0.2.2", "-r", "20k", "-c", str(n))
    dropped0 = link(a)["tx"]["dropped"]
    deadline = time.monotonic() + 30
    while link(b)["rx"]["packets"] < 5000:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    b.ip("link set dev v down")
    while link(a)["tx"]["dropped"] < dropped0 + 2000:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    b.ip("link set dev v up")
    t = m.result(tx)["tx"]
    r = m.result(rx)["rx"]
    dropped = link(a)["tx"]["dropped"] - dropped0
    assert t["sent"] == n
    assert r["lost"] == dropped >= 2000
    assert r["received"] + r["lost"] == n and r["duplicated"] == 0
    assert r["lost_runs_total"] == 1
    first, last = r["lost_runs"][0]
    assert last - first + 1 == r["lost"] and 0 < first and last < n - 1
    # The timeline shows the hole: empty buckets between full ones.
    frames = [bk["frames"] for bk in r["timeline"]]
    assert 0 in frames and frames[0] > 0 and frames[-1] > 0


def test_end_marker_lost_uses_expect(pair):
    """Cut for good: the end markers never arrive; with --expect the
    receiver still knows how many were sent, without it says so."""
    a, b, m = pair
    rx_expect = m.start(b, "recv", "-t", "1", "-e", "1000")
    a.ip("link set dev v down")
    t = m.result(m.start(a, "send", "192.0.2.2", "-r", "10k", "-c", "1000"))["tx"]
    a.ip("link set dev v up")
    os.kill(rx_expect.pid, 15)
    r = m.result(rx_expect)["rx"]
    assert (r["sent"], r["sent_known"], r["received"], r["lost"]) == (1000, True, 0, 1000)
    assert t["sent"] + t["errors"] == 1000


def meter_frame(stream, seq, kind=1):
    return struct.pack("!IBBHIIQQ", 0x534D5452, 1, kind, 0, stream, 0, seq, 0)


def test_duplicates_reordering_foreign(pair):
    a, b, m = pair
    rx = m.start(b, "recv", "-t", "1", "-l", "50ms")
    with netns.open_in(a.name):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for seq in (0, 1, 2, 2, 4, 3, 6, 1):
            s.sendto(meter_frame(7, seq), ("192.0.2.2", 9000))
        s.sendto(b"not a meter frame", ("192.0.2.2", 9000))
        s.sendto(meter_frame(8, 5), ("192.0.2.2", 9000))      # another stream
        s.sendto(meter_frame(7, 7, kind=2), ("192.0.2.2", 9000))  # end: 7 sent
    finally:
        s.close()
    r = m.result(rx)["rx"]
    assert (r["sent"], r["received"], r["lost"]) == (7, 6, 1)
    assert (r["duplicated"], r["reordered"], r["foreign"]) == (2, 1, 2)
    assert r["lost_runs"] == [[5, 5]]
    assert sum(bk["frames"] for bk in r["timeline"]) == 8


def test_both_directions(pair):
    """Each end sends to the other and counts what it gets; each starts
    sending once it hears the other, so the order of starting is free."""
    a, b, m = pair
    n = 5000
    pa = m.start(a, "both", "192.0.2.2", "-r", "10k", "-c", str(n), "-t", "1")
    pb = m.start(b, "both", "[2001:db8::1]:9000", "-r", "10k", "-c", str(n), "-t", "1")
    ra, rb = m.result(pa), m.result(pb)
    for me, peer in ((ra, rb), (rb, ra)):
        assert me["tx"]["sent"] == n
        assert me["rx"]["stream"] == peer["tx"]["stream"]
        assert (me["rx"]["received"], me["rx"]["lost"], me["rx"]["duplicated"]) == (n, 0, 0)


def test_paths_by_mark_in_the_lab(lab_factory):
    """In a lab guest the meter tells VF from virtio (the guest's mark)."""
    lab = lab_factory(vf=False)
    lab.pin_neigh("client", "vm1")
    lab.pin_neigh("vm1", "client")
    rx = lab.meter_recv("vm1", args=["-t", "1", "-L", "2=virtio"])
    lab.meter_send("client", "2001:db8::b", 10000, count=3000).result()
    r = rx.result()["rx"]
    assert (r["received"], r["lost"], r["paths"]) == (3000, 0, ["virtio"])
    # Without a label the mark is shown as such; the client sees its eth0.
    rx = lab.meter_recv("vm1", args=["-t", "1"])
    lab.meter_send("client", "192.0.2.11", 10000, count=100).result()
    assert rx.result()["rx"]["paths"] == ["mark:2"]
    rx = lab.meter_recv("client", args=["-t", "1"])
    lab.meter_send("vm1", "192.0.2.100", 10000, count=100).result()
    assert rx.result()["rx"]["paths"] == ["eth0"]


def test_text_report_and_fail_on_loss(pair):
    a, b, m = pair
    rx = subprocess.Popen([m.bin, "recv", "-n", b.name, "-t", "1", "-l", "50ms", "-x"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m.procs.append(rx)
    assert "listening on" in rx.stderr.readline()
    with netns.open_in(a.name):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for seq in (0, 1, 3):
            s.sendto(meter_frame(9, seq), ("192.0.2.2", 9000))
        s.sendto(meter_frame(9, 4, kind=2), ("192.0.2.2", 9000))
    finally:
        s.close()
    out, _ = rx.communicate(timeout=30)
    assert rx.returncode == 3       # -x: something was lost
    assert "rx: sent 4  received 3  lost 1  duplicated 0  reordered 0" in out
    assert "rx: lost runs: 2-2" in out
    assert "timeline (10 ms buckets, by path):" in out and " v " in out


@pytest.mark.parametrize("args,code", [
    ([], 2), (["--help"], 0), (["frob"], 2), (["send"], 2),
    (["send", "192.0.2.2", "-r", "fast"], 2), (["send", "192.0.2.2", "-s", "8"], 2),
    (["recv", "-L", "vf"], 2), (["recv", "9000", "extra"], 2),
    (["send", "not-an-address"], 1), (["recv", "-n", "no-such-ns"], 1),
])
def test_usage(build, args, code):
    p = subprocess.run([os.path.join(build, "bin", "semi-meter"), *args],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == code, p.stderr
    if code == 0:
        assert "usage: semi-meter" in p.stdout
    else:
        assert p.stderr
