# SPDX-License-Identifier: GPL-2.0
"""The hold path (daemon/hold.c): while the guest takes frames from neither
NIC, the port's frames are parked on the instance's hold device and
released, in order, exactly once, into the tap (or the tunnel at --to) --
or, for a VF arriving (hold.plug), into the VF once the guest sends
through it.

    wire ns: up0p --veth-- host ns: up0 (uplink, 10.77.0.1)   vf1 --veth-- guest ns
                                    tap1 (held by this process: the guest's standby)
                                    shold<hash> (the hold device, semi-netd's)
"""
import json
import socket
import struct
import time

import pytest

import frames as fr
import netns
from test_drain import Capture, LOCAL, PEER, check_tunnel, mac_bytes

MAC = "52:54:00:00:00:41"
SRC = "02:00:00:00:00:98"
HOLD = {"unplug": True, "incoming": True, "max_ms": 2000}


def frames(n, base=0):
    return [mac_bytes(MAC) + mac_bytes(SRC) + b"\x88\xb5" + struct.pack("!I", base + i) +
            bytes(46) for i in range(n)]


def ours(fs):
    """The test's frames (EtherType 0x88b5) among what a socket saw."""
    return [f for f in fs if f[12:14] == b"\x88\xb5"]


class Wire:
    """Frames into the host's uplink, from the fabric's end."""

    def __init__(self, wire):
        with netns.open_in(wire.name):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.s.bind(("up0p", 0))

    def send(self, fs):
        for f in fs:
            self.s.send(f)

    def close(self):
        self.s.close()


@pytest.fixture
def lab(host, netd):
    host.ns.ip(f"addr add {LOCAL}/24 dev up0")
    host.wire.ip(f"addr add {PEER}/24 dev up0p")
    wire = Wire(host.wire)
    cap = Capture(host.wire)

    def start(hold=HOLD, **config):
        return netd(host.ns, uplink="up0", tunnel={"local": LOCAL},
                    peers=[{"name": "far", "address": PEER}], hold=hold, **config)
    yield host, start, wire, cap
    wire.close()
    cap.close()


def wait_held(d, n, timeout=3):
    deadline = time.monotonic() + timeout
    while True:
        h = d.port("vm1")["hold"]
        if h and h["held"] >= n or time.monotonic() > deadline:
            return h
        time.sleep(0.01)


def tap_frames(tap, want, timeout=2):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += tap.read_all()
        time.sleep(0.005)
    return got + tap.read_all()


def begin(d):
    d.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", "tap1", check=0)
    r = d.j("migrate", "out", "vm1", "--begin")
    assert (r["state"], r["path"]) == ("handover", "hold"), r
    return r


def test_hold_device_in_status(lab):
    host, start, wire, cap = lab
    d = start()
    st = d.j("status")
    name = st["hold"]["device"]
    assert name.startswith("shold") and len(name) == 13, st["hold"]
    link = json.loads(host.ns.ip(f"-j -d link show dev {name}"))[0]
    assert link["txqlen"] == 65536 and "UP" in link["flags"] and "master" not in link
    assert st["hold"]["ifindex"] == host.ifindex(name)
    # The device goes with the daemon.
    d.stop()
    assert name not in host.ns.ip("-o link show")


def test_hold_off(lab):
    """Without the key, no device and no hold: --begin hands over with both."""
    host, start, wire, cap = lab
    d2 = start(hold={"unplug": False, "incoming": False})
    assert d2.j("status")["hold"] is None
    d2.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", "tap1", check=0)
    assert d2.j("migrate", "out", "vm1", "--begin")["path"] == "both"


def test_hold_released_into_the_tap_when_the_vf_vanishes(lab):
    host, start, wire, cap = lab
    d = start()
    begin(d)
    sent = frames(50)
    wire.send(sent)
    h = wait_held(d, 50)
    assert (h["active"], h["held"], h["queued"], h["released"]) == (True, 50, 50, 0), h
    assert host.taps["tap1"].read_all() == []          # nothing reached the guest yet
    before = d.port("vm1")["stats"]["rx"]["tap"]["packets"]
    assert before == 50                                # held frames count as rx.tap
    host.del_vf(1)                                     # the guest let it go
    deadline = time.monotonic() + 3
    while d.state_of("vm1") != "emulated" and time.monotonic() < deadline:
        time.sleep(0.01)
    p = d.port("vm1")
    assert (p["state"], p["path"]) == ("emulated", "tap"), p
    got = tap_frames(host.taps["tap1"], 50)
    assert got == sent                                 # in order, exactly once
    h = p["hold"]
    assert (h["active"], h["held"], h["released"], h["dropped"]) == (False, 50, 50, 0), h
    # Afterwards frames go straight to the tap.
    wire.send(frames(5, 100))
    assert tap_frames(host.taps["tap1"], 5) == frames(5, 100)
    log = d.read_log()
    assert "port vm1: hold released (vf_gone) after" in log and \
        "50 held, 50 released, 0 dropped" in log, log


def test_hold_released_by_the_unplugged_step(lab):
    """Representor mode: the VF netdev stays; QEMU's DEVICE_DELETED says it."""
    host, start, wire, cap = lab
    d = start()
    begin(d)
    sent = frames(30)
    wire.send(sent)
    wait_held(d, 30)
    r = d.j("migrate", "out", "vm1", "--unplugged")
    assert (r["state"], r["path"], r["from"]) == ("emulated", "tap", "handover"), r
    assert (r["held"], r["released"], r["hold_dropped"]) == (30, 30, 0), r
    assert tap_frames(host.taps["tap1"], 30) == sent
    assert d.port("vm1")["hold"]["active"] is False
    # What a person sees.
    out = d.ctl("migrate", "out", "vm1", "--unplugged").stdout
    assert out == "vm1: already emulated, path tap; 30 held frames released, 0 dropped\n", out
    # Again: nothing changes (a late event is harmless).
    r = d.j("migrate", "out", "vm1", "--unplugged")
    assert (r["state"], r["changed"]) == ("emulated", False), r
    # One of the three, no more.
    p = d.ctl("migrate", "out", "vm1", "--unplugged", "--begin", check=1)
    assert "give one of 'begin'" in p.stderr, p.stderr
    out = d.ctl("migrate", "out", "--help").stdout
    assert "--unplugged" in out, out


def test_hold_released_into_the_tunnel_at_to(lab):
    host, start, wire, cap = lab
    d = start()
    begin(d)
    sent = frames(40)
    wire.send(sent)
    wait_held(d, 40)
    r = d.j("migrate", "out", "vm1", "--to", "far")
    assert (r["state"], r["path"]) == ("outgoing", "tunnel"), r
    assert (r["held"], r["released"], r["hold_dropped"]) == (40, 40, 0), r
    check_tunnel(host, cap.frames(40), sent)
    assert host.taps["tap1"].read_all() == []
    # Sent by semi-netd, not the datapath: kept with the migration (the
    # retired event's `forwarded` counts them), in the state file too.
    deadline = time.monotonic() + 3
    while d.read_state()["ports"][0]["migration"].get("held_out") != 40:
        assert time.monotonic() < deadline, d.read_state()["ports"][0]["migration"]
        time.sleep(0.01)


def released_at_max_ms(host, wire, n=10):
    """n frames from the wire reach tap1 once max_ms (150) has passed since
    the first, not before; returns them."""
    sent = frames(n)
    t0 = time.monotonic()
    wire.send(sent)
    got = tap_frames(host.taps["tap1"], n, timeout=3)
    took = time.monotonic() - t0
    assert got == sent and 0.14 < took < 1.5, (len(got), took)
    return sent


def test_hold_max_ms(lab):
    """Never released by the guest: into the tap after max_ms, with a warning."""
    host, start, wire, cap = lab
    d = start(hold={"unplug": True, "max_ms": 150})
    begin(d)
    released_at_max_ms(host, wire)
    p = d.port("vm1")
    assert (p["state"], p["path"], p["hold"]["released"]) == ("handover", "both", 10), p
    assert "port vm1: held 150 ms since its first frame and not released: into tap tap1 anyway" \
        in d.read_log()


def test_hold_abort_releases_into_the_tap(lab):
    host, start, wire, cap = lab
    d = start()
    begin(d)
    wire.send(frames(7))
    wait_held(d, 7)
    r = d.j("migrate", "abort", "vm1")
    assert r["aborted"] and d.port("vm1")["path"] == "both", r
    assert tap_frames(host.taps["tap1"], 7) == frames(7)


def test_hold_incoming_until_done(lab):
    """Destination: frames for an incoming port wait for migrate done."""
    host, start, wire, cap = lab
    d = start()
    r = d.j("migrate", "in", "vm1", "--mac", MAC, "--tap", "tap1", "--from", "far")
    assert (r["state"], r["path"]) == ("incoming", "hold"), r
    sent = frames(25)
    wire.send(sent)
    h = wait_held(d, 25)
    assert (h["kind"], h["held"], h["queued"]) == ("incoming", 25, 25), h
    assert host.taps["tap1"].read_all() == []
    r = d.j("migrate", "done", "vm1")
    assert (r["state"], r["path"]) == ("emulated", "tap"), r
    assert (r["held"], r["released"], r["hold_dropped"]) == (25, 25, 0), r
    got = tap_frames(host.taps["tap1"], 25)
    # The announce may have put nothing in the tap: only the released frames.
    assert got == sent


def test_hold_two_ports_demultiplexed(lab):
    """Frames of two held ports stay apart; releasing one keeps the other's."""
    host, start, wire, cap = lab
    d = start()
    mac2 = "52:54:00:00:00:42"
    d.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("port", "add", "vm2", "--mac", mac2, "--vf", "vf2", "--tap", "tap2", check=0)
    d.ctl("migrate", "out", "vm1", "--begin", check=0)
    d.ctl("migrate", "out", "vm2", "--begin", check=0)
    a = frames(20)
    b = [mac_bytes(mac2) + f[6:] for f in frames(20, 500)]
    for x, y in zip(a, b):
        wire.send([x, y])
    # One broadcast: one copy each.
    bc = b"\xff" * 6 + mac_bytes(SRC) + b"\x88\xb5" + bytes(50)
    wire.send([bc])
    wait_held(d, 21)
    # (A broadcast of the namespaces' own, an ARP, would be held for both
    # too: only the test's frames are compared.)
    r = d.j("migrate", "out", "vm1", "--unplugged")
    assert r["held"] == r["released"] >= 21, r
    assert ours(tap_frames(host.taps["tap1"], r["held"])) == a + [bc]
    assert ours(host.taps["tap2"].read_all()) == []
    r = d.j("migrate", "out", "vm2", "--unplugged")
    assert r["held"] == r["released"] >= 21, r
    assert ours(tap_frames(host.taps["tap2"], r["held"])) == b + [bc]
    assert d.j("status")["hold"]["stray"] == 0


def test_hold_release_into_a_full_tap_counts_its_drops(lab):
    """A tap takes what its queue (txqueuelen) has room for and drops the
    rest: those are counted as dropped, not released."""
    host, start, wire, cap = lab
    host.ns.ip("link set tap1 txqueuelen 10")
    d = start()
    begin(d)
    wire.send(frames(50))
    wait_held(d, 50)
    r = d.j("migrate", "out", "vm1", "--unplugged")
    assert (r["held"], r["released"], r["hold_dropped"]) == (50, 10, 40), r
    assert tap_frames(host.taps["tap1"], 10) == frames(10)
    assert "by tap tap1's full queue: raise its txqueuelen" in d.read_log()


def test_hold_released_when_the_daemon_stops(lab):
    """SIGTERM: the hold device goes with semi-netd, so what it holds goes
    into the taps first; a restarted daemon stores the state's own path."""
    host, start, wire, cap = lab
    d = start()
    begin(d)
    wire.send(frames(12))
    wait_held(d, 12)
    assert d.stop() == 0
    assert tap_frames(host.taps["tap1"], 12) == frames(12)
    assert "port vm1: hold released (exit)" in d.read_log()
    d.start()
    p = d.port("vm1")
    assert (p["state"], p["path"]) == ("handover", "both"), p


# -- hold.plug: a VF arriving while the guest runs on its tap ---------------------------


def guest_vf(host):
    """The guest's end of vf1 with vm1's MAC, taking what the datapath
    redirects into vf1; a socket on it."""
    host.guest.ip(f"link set vf1g address {MAC}")
    # A veth takes XDP-redirected frames only with NAPI on its peer.
    host.guest.run(["ethtool", "-K", "vf1g", "gro", "on"])
    return fr.PacketSocket(host.guest, "vf1g")


def plug(lab, **hold):
    """vm1 on its tap; then `port set --vf vf1`: held, waiting for the guest.
    Returns the daemon and a socket on the guest's end of the VF."""
    host, start, wire, cap = lab
    d = start(hold=dict({"plug": True}, **hold))
    assert d.j("status")["hold"]["plug"] is True
    d.ctl("port", "add", "vm1", "--mac", MAC, "--tap", "tap1", check=0)
    assert d.state_of("vm1") == "emulated"
    rx = guest_vf(host)
    d.ctl("port", "set", "vm1", "--vf", "vf1", check=0)
    p = d.port("vm1")
    assert (p["state"], p["handover"], p["path"]) == ("handover", "wait", "hold"), p
    assert (p["hold"]["kind"], p["hold"]["active"]) == ("plug", True), p
    return d, rx


def guest_sends_through_vf(host):
    """The guest's first frame through its VF (vf1g, in host's guest ns)."""
    g = fr.PacketSocket(host.guest, "vf1g")
    g.send(fr.udp4("02:00:00:00:0f:01", MAC))
    g.close()


def wait_state(d, state, timeout=3):
    deadline = time.monotonic() + timeout
    while d.state_of("vm1") != state and time.monotonic() < deadline:
        time.sleep(0.005)
    return d.port("vm1")


def test_hold_plug_released_into_the_vf(lab):
    """Held from `port set --vf` until the guest's first frame through the
    VF, then into the VF: in order, exactly once, none into the tap."""
    host, start, wire, cap = lab
    d, rx = plug(lab)
    try:
        sent = frames(40)
        wire.send(sent)
        h = wait_held(d, 40)
        assert (h["held"], h["queued"], h["released"]) == (40, 40, 0), h
        assert "  hold       plug: holding 40 frames (40 held, 0 dropped)\n" in \
            d.ctl("port", "show", "vm1", check=0).stdout
        assert f"hold       device {d.j('status')['hold']['device']}, holds at plug; max " \
            "2000 ms, 0 stray\n" in d.ctl("status", check=0).stdout
        assert ours(rx.recv_all(wait=0.1)) == []          # the guest has nothing yet
        assert host.taps["tap1"].read_all() == []
        guest_sends_through_vf(host)
        p = wait_state(d, "assigned")
        assert (p["state"], p["path"]) == ("assigned", "vf"), p
        assert ours(rx.recv_all(wait=0.3)) == sent           # in order, exactly once
        h = p["hold"]
        assert (h["active"], h["held"], h["released"], h["dropped"]) == (False, 40, 40, 0), h
        assert fr.tap_frames(host.taps["tap1"], wait=0.1) == []
        # Afterwards the datapath sends them to the VF itself.
        wire.send(frames(5, 100))
        assert ours(rx.recv_all(wait=0.3)) == frames(5, 100)
        assert d.port("vm1")["hold"]["held"] == 40
        assert "  hold       plug, released: 40 held, 40 released, 0 dropped\n" in \
            d.ctl("port", "show", "vm1", check=0).stdout
        log = d.read_log()
        assert "port vm1: hold released (guest_vf_tx) after" in log and \
            "into VF vf1: 40 held, 40 released, 0 dropped" in log, log
    finally:
        rx.close()


def test_hold_plug_max_ms_into_both(lab):
    """A guest that never sends through its new VF: max_ms after the first
    frame a copy goes into each device (the guest's NICs let one through),
    and the port stays in its handover (both)."""
    host, start, wire, cap = lab
    d, rx = plug(lab, max_ms=150)
    try:
        sent = released_at_max_ms(host, wire)
        assert ours(rx.recv_all(wait=0.3)) == sent
        p = d.port("vm1")
        assert (p["state"], p["path"]) == ("handover", "both"), p
        assert (p["hold"]["released"], p["hold"]["dropped"]) == (10, 0), p
        assert "port vm1: held 150 ms since its first frame and not released: into VF vf1 " \
            "and tap tap1 anyway" in d.read_log()
    finally:
        rx.close()


def test_hold_plug_vf_gone_into_the_tap(lab):
    """The VF goes before the guest used it: emulated, what was held into
    the tap."""
    host, start, wire, cap = lab
    d, rx = plug(lab)
    rx.close()
    wire.send(frames(15))
    wait_held(d, 15)
    host.del_vf(1)
    assert tap_frames(host.taps["tap1"], 15) == frames(15)
    p = d.port("vm1")
    assert (p["state"], p["path"]) == ("emulated", "tap"), p
    assert (p["hold"]["held"], p["hold"]["released"]) == (15, 15), p


def test_hold_plug_off_by_default(lab):
    """Without hold.plug a VF arriving hands over with both, as before."""
    host, start, wire, cap = lab
    d = start()
    d.ctl("port", "add", "vm1", "--mac", MAC, "--tap", "tap1", check=0)
    d.ctl("port", "set", "vm1", "--vf", "vf1", check=0)
    p = d.port("vm1")
    assert (p["state"], p["path"], p["hold"]) == ("handover", "both", None), p


def test_hold_plug_ended_by_a_switch(lab):
    """The operator's switch ends a plug hold: `switch vf` sends what was
    held into the VF, `switch both` a copy into each device."""
    host, start, wire, cap = lab
    d, rx = plug(lab)
    try:
        wire.send(frames(8))
        wait_held(d, 8)
        assert d.ctl("switch", "vm1", "vf", check=0).stdout == \
            "vm1: handover -> assigned, path vf\n"
        assert ours(rx.recv_all(wait=0.3)) == frames(8)
        assert fr.tap_frames(host.taps["tap1"], wait=0.1) == []
        h = d.port("vm1")["hold"]
        assert (h["active"], h["held"], h["released"]) == (False, 8, 8), h
    finally:
        rx.close()


def test_hold_plug_after_migrate_done_with_the_vf_here(lab):
    """`migrate in --vf`: at migrate done the VF is here already, the
    incoming hold goes on as a plug hold until the guest sends through it,
    and everything held since migrate in goes into the VF."""
    host, start, wire, cap = lab
    d = start(hold={"incoming": True, "plug": True})
    rx = guest_vf(host)
    try:
        r = d.j("migrate", "in", "vm1", "--mac", MAC, "--tap", "tap1", "--vf", "vf1",
                "--from", "far")
        assert (r["state"], r["path"]) == ("incoming", "hold"), r
        wire.send(frames(20))
        wait_held(d, 20)
        r = d.j("migrate", "done", "vm1")
        assert (r["state"], r["path"]) == ("handover", "hold"), r
        wire.send(frames(5, 20))
        h = wait_held(d, 25)
        assert (h["kind"], h["active"], h["held"], h["queued"]) == ("plug", True, 25, 25), h
        assert ours(rx.recv_all(wait=0.1)) == []
        assert fr.tap_frames(host.taps["tap1"], wait=0.1) == []
        guest_sends_through_vf(host)
        p = wait_state(d, "assigned")
        assert p["path"] == "vf", p
        assert ours(rx.recv_all(wait=0.3)) == frames(25)
        assert (p["hold"]["released"], p["hold"]["dropped"]) == (25, 0), p
    finally:
        rx.close()


def test_hold_plug_ended_by_migrate_begin(lab):
    """A migration begun while a plug hold waits for the guest: whether the
    guest has taken that VF is unknown, so what was held goes into both
    devices and the handover copies to both."""
    host, start, wire, cap = lab
    d, rx = plug(lab)
    try:
        wire.send(frames(6))
        wait_held(d, 6)
        r = d.j("migrate", "out", "vm1", "--begin")
        assert (r["state"], r["path"]) == ("handover", "both"), r
        assert tap_frames(host.taps["tap1"], 6) == frames(6)
        assert ours(rx.recv_all(wait=0.3)) == frames(6)
        h = d.port("vm1")["hold"]
        assert (h["kind"], h["active"], h["released"]) == ("plug", False, 6), h
        assert "port vm1: hold released (migrate_begin) after" in d.read_log()
    finally:
        rx.close()
