# SPDX-License-Identifier: GPL-2.0
"""migrate out --to drains the source tap (daemon/drain.c): what QEMU left
in its tap when the VM was paused goes to the destination, encapsulated as
the datapath's tunnel does, out of the uplink.  A tap nobody holds here --
or held only in another namespace under the same name -- is skipped with a
warning, and the migration goes on.

    host ns: up0 10.77.0.1 (tunnel.local) --veth-- wire ns: up0p 10.77.0.2 (the peer,
             tapN (held by this process)                    captures the tunnel)
"""
import fcntl
import json
import os
import socket
import struct
import time

import pytest

import netns

MAC = "52:54:00:00:00:31"
SRC = "02:00:00:00:00:99"
LOCAL, PEER = "10.77.0.1", "10.77.0.2"
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def link_mac(ns, dev):
    return mac_bytes(json.loads(ns.ip(f"-j link show dev {dev}"))[0]["address"])


def frames(n):
    return [mac_bytes(MAC) + mac_bytes(SRC) + b"\x88\xb5" + struct.pack("!I", i) + bytes(46)
            for i in range(n)]


def queue_in_tap(ns, tap, fs):
    """Frames sent out of tap in ns: they queue for its reader (the guest)."""
    with netns.open_in(ns.name):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((tap, 0))
        for f in fs:
            s.send(f)
    finally:
        s.close()


class Capture:
    """UDP to the tunnel port, as it arrives on the wire."""

    def __init__(self, wire):
        with netns.open_in(wire.name):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.bind(("up0p", 0))
        self.s.setblocking(False)

    def frames(self, want, timeout=3):
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline and len(got) < want:
            try:
                f = self.s.recv(65536)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x12\xb5":
                got.append(f)
        return got

    def close(self):
        self.s.close()


@pytest.fixture
def lab(host, netd):
    """A daemon with its peer ('far', answering on the wire) and a capture there."""
    host.ns.ip(f"addr add {LOCAL}/24 dev up0")
    host.wire.ip(f"addr add {PEER}/24 dev up0p")
    cap = Capture(host.wire)
    started = []

    def start(**config):
        d = netd(host.ns, uplink="up0", tunnel={"local": LOCAL},
                 peers=[{"name": "far", "address": PEER}], **config)
        started.append(d)
        return d
    yield host, start, cap
    cap.close()


def emulated(d, tap):
    d.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", tap, check=0)
    d.ctl("switch", "vm1", "tap", check=0)
    assert d.port("vm1")["state"] == "emulated"


def open_tap(ns, name, flags, nq=1):
    """A tap created here with flags (multi-queue: nq fds); closing removes it."""
    fds = []
    with netns.open_in(ns.name):
        for _ in range(nq):
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | flags))
            fds.append(fd)
    return fds


def check_tunnel(host, got, sent, ordered=True):
    """The datapath's encapsulation (bpf/lib/tunnel.h) around each frame."""
    up0, up0p = link_mac(host.ns, "up0"), link_mac(host.wire, "up0p")
    inner = []
    for f in got:
        assert f[0:6] == up0p and f[6:12] == up0, f[:14].hex()
        assert f[14] == 0x45 and f[26:30] == socket.inet_aton(LOCAL) and \
            f[30:34] == socket.inet_aton(PEER), f[14:34].hex()
        assert struct.unpack("!H", f[16:18])[0] == len(f) - 14
        assert struct.unpack("!H", f[34:36])[0] & 0xc000 == 0xc000     # 49152 + entropy
        assert f[42:50] == struct.pack("!II", 0x08000000, 0), f[42:50].hex()   # VNI 0
        inner.append(f[50:])
    if ordered:
        assert inner == sent
    else:
        assert sorted(inner) == sorted(sent)


def test_drain_sends_the_tap_queue_to_the_peer(lab):
    host, start, cap = lab
    d = start()
    emulated(d, "tap1")
    d.j("migrate", "out", "vm1", "--begin")
    sent = frames(20)
    queue_in_tap(host.ns, "tap1", sent)
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert (r["state"], r["drained"], r["drain_failed"]) == ("outgoing", 20, 0), r
    check_tunnel(host, cap.frames(20), sent)
    assert host.taps["tap1"].read_all() == []         # nothing left for the guest
    assert "port vm1: drained 20 frames from tap tap1 (1 queue of pid " in d.read_log()
    # Again (nothing changes): nothing drained twice.
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert r["drained"] == 20, r
    # What a person sees.
    out = d.ctl("migrate", "out", "vm1", "--to", "far").stdout
    assert out == "vm1: already outgoing, path tunnel to far; 20 frames drained from the tap\n", out


def test_drain_vnet_hdr_and_multiqueue(lab):
    """QEMU's taps: a virtio-net header on each frame, a queue per vCPU."""
    host, start, cap = lab
    fds = open_tap(host.ns, "tapq", IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, nq=3)
    try:
        host.ns.ip("link set tapq up")
        d = start()
        emulated(d, "tapq")
        sent = [f[:16] + bytes([i]) + f[17:] for i, f in enumerate(frames(30))]   # flows
        queue_in_tap(host.ns, "tapq", sent)
        # No --begin: the holders are looked for at --to.
        r = d.j("migrate", "out", "vm1", "--to", "far")
        assert (r["drained"], r["drain_failed"]) == (30, 0), r
        check_tunnel(host, cap.frames(30), sent, ordered=False)
        assert "port vm1: drained 30 frames from tap tapq (3 queues of pid" in d.read_log()
    finally:
        for fd in fds:
            os.close(fd)


def test_drain_skipped_when_nobody_here_holds_the_tap(lab):
    """A tap of the port's name is held, but in another namespace (another
    host of the lab): not ours.  The migration completes, with a warning."""
    host, start, cap = lab
    host.ns.ip("tuntap add dev tapz mode tap")
    other = open_tap(host.guest, "tapz", IFF_NO_PI)
    mine = open_tap(host.ns, "tapz", IFF_NO_PI)       # up with carrier for the switch
    try:
        host.ns.ip("link set tapz up")
        host.guest.ip("link set tapz up")
        d = start()
        emulated(d, "tapz")
        d.j("migrate", "out", "vm1", "--begin")
        os.close(mine.pop())                            # QEMU is gone; its tap stays
        queue_in_tap(host.guest, "tapz", frames(3))     # the other host's
        r = d.j("migrate", "out", "vm1", "--to", "far")
        assert (r["state"], r["path"], r["drained"]) == ("outgoing", "tunnel", 0), r
        log = d.read_log()
        assert "port vm1: tap tapz not drained (its queued frames are lost): only taps of " \
               "that name in other network namespaces are held (1)" in log, log
        assert cap.frames(1, timeout=0.3) == []
        assert len(os.read(other[0], 65536)) == 64      # the other host's queue untouched
    finally:
        for fd in other + mine:
            os.close(fd)
        host.ns.ip("tuntap del dev tapz mode tap")


def test_drain_off(lab):
    host, start, cap = lab
    d = start(drain_tap=False)
    emulated(d, "tap1")
    queue_in_tap(host.ns, "tap1", frames(5))
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert (r["state"], r["drained"]) == ("outgoing", None), r
    assert len(host.taps["tap1"].read_all()) == 5
    assert "drained" not in d.read_log()


def test_drain_counts_survive_a_restart(lab):
    """What --to drained is in the state file: a semi-netd killed (-9) and
    restarted before the source retires the port still counts it in the
    retired event's `forwarded`."""
    host, start, cap = lab
    d = start(retire={"linger_ms": 50, "grace_ms": 1500})
    emulated(d, "tap1")
    d.j("migrate", "out", "vm1", "--begin")
    queue_in_tap(host.ns, "tap1", frames(12))
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert (r["drained"], r["drain_failed"]) == (12, 0), r
    deadline = time.monotonic() + 3
    while True:
        mig = d.read_state()["ports"][0]["migration"]
        if mig.get("drained") == 12 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert (mig["drained"], mig["drain_failed"], mig["held_out"]) == (12, 0, 0), mig
    d.kill9()
    d.start()
    deadline = time.monotonic() + 5
    while d.j("status")["ports"] and time.monotonic() < deadline:
        time.sleep(0.05)                  # retired after grace_ms (nothing comes back)
    assert d.j("status")["ports"] == []
    log = d.read_log()
    restarted = log[log.rindex("---- start"):]       # the second daemon's
    assert "port vm1: retired (grace_period) after forwarding 12 frames (12 drained from " \
        "its tap, 0 it held)" in restarted, log
