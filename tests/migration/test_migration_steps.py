# SPDX-License-Identifier: GPL-2.0
"""Every step of a live migration (DESIGN section 5) on both hosts' daemons:
the states, the paths, the host bridges and the fabric after each one,
traffic flowing; the migration back; migrate abort at every point (both
hosts back where they started); kill -9 in the middle; the switch hook;
tunnel frames from a non-peer or for a port that does not take them.

The VF moves as QEMU moves it (miglib.Mig.unplug / plug); the VM moves with
the lab's relay (pause, then start on the other host)."""
import json
import os
import socket
import struct
import time

import pytest

import netns
from miglib import VM, other

A, B = "hostA", "hostB"


def ping_ok(m, tries=3):
    """client -> vm1 answered (neighbours pinned: no ARP needed)."""
    ip = m.lab.endpoint(VM)["ipv4"]
    for _ in range(tries):
        p = m.lab.exec("client", ["ping", "-c", "1", "-W", "1", ip], check=False)
        if " 0% packet loss" in p or "1 received" in p:
            return True
    return False


def flows(m):
    if ping_ok(m):
        return
    seen = {h: m.port(h) for h in (A, B)}
    raise AssertionError(f"client -> vm1 unanswered; ports {json.dumps(seen)}; guest "
                         f"{m.lab.guest_stats(VM)}; fdb fabric {m.fdb('fabric')} "
                         f"hostA {m.fdb(A)} hostB {m.fdb(B)}")


# ---- the steps, as libvirt and QEMU drive them --------------------------------

def step_in(m, src, dst):
    return m.j(dst, "migrate", "in", VM, "--mac", m.mac, "--tap", m.g["tap"], "--from", src)


def step_begin(m, src):
    return m.j(src, "migrate", "out", VM, "--begin")


def step_unplug(m, src):
    m.unplug()
    m.wait_state(src, "emulated")


def step_out(m, src, dst):
    m.lab.pause(VM)
    return m.j(src, "migrate", "out", VM, "--to", dst)


def step_move_done(m, dst):
    m.lab.relay_stop(VM)
    m.lab.relay_start(VM, dst)
    return m.j(dst, "migrate", "done", VM)


def step_vf(m, dst):
    m.plug(dst, before_guest=lambda: m.j(dst, "port", "set", VM, "--vf", m.g["host_vf"]))
    m.assigned(dst)


def announce_events(watch):
    """A watch's announce events, up to the one that says it stopped."""
    evs = []
    while not evs or "stopped" not in evs[-1]:
        ev = watch.next()
        if ev.get("event") == "announce":
            evs.append(ev)
    return evs


def floods_off(m, host):
    return m.tap_floods(host) == {"flood": False, "mcast_flood": False, "bcast_flood": False}


# ---- every step, there and back -------------------------------------------------

def hook_script(tmp_path, exit_code=0, sleep=0):
    out = tmp_path / "hook.out"
    script = tmp_path / "hook.sh"
    # exec: a hook killed at its timeout leaves no child behind.
    script.write_text(f"#!/bin/sh\n{{ echo \"$1\"; cat; }} >> {out}\n"
                      + (f"exec sleep {sleep}\n" if sleep else "") + f"exit {exit_code}\n")
    script.chmod(0o755)
    return str(script), out


def migrate_by_steps(m, src, dst, hook_out):
    # 1. The destination expects the VM: incoming, tunnel frames taken,
    #    its bridge not yet pointed at the tap (the VM runs on src).
    r = step_in(m, src, dst)
    assert (r["state"], r["path"], r["tx"], r["tunnel_in"]) == ("incoming", "tap", "tap", True)
    assert r["migration"]["role"] == "destination" and r["migration"]["peer"] == src
    assert m.g["tap"] not in m.fdb(dst) and floods_off(m, dst)
    assert m.state(src) == "assigned"
    flows(m)
    # 2. The source hands over (one copy on each path, held).
    r = step_begin(m, src)
    assert (r["from"], r["state"], r["path"], r["changed"]) == ("assigned", "handover",
                                                                "both", True)
    assert r["migration"] == {**r["migration"], "role": "source", "origin": "assigned"}
    assert m.port(src)["handover"] == "hold"
    flows(m)
    # The VF goes: emulated, by itself.
    step_unplug(m, src)
    flows(m)
    assert m.fdb(src) == {m.g["tap"]: ["static"]}
    # 3. The VM is paused: outgoing, the tunnel to dst; src's bridge lets go.
    r = step_out(m, src, dst)
    assert (r["from"], r["state"], r["path"], r["tx"]) == ("emulated", "outgoing", "tunnel",
                                                          "none")
    assert r["migration"]["peer"] == dst and r["migration"]["out_ms"]
    assert m.g["tap"] not in m.fdb(src)
    assert m.j(src, "migrate", "out", VM, "--to", dst)["changed"] is False   # a retry
    # 4. The VM runs on dst: emulated, bridge, announce, hook; src retires.
    ws, watch = m.watch(dst)
    r = step_move_done(m, dst)
    assert (r["from"], r["state"], r["path"], r["tunnel_in"]) == ("incoming", "emulated",
                                                                 "tap", True)
    assert r["migration"] is None and r["announce"]["rounds"] == 1
    assert m.fdb(dst) == {m.g["tap"]: ["static"]}
    m.wait_state(src, None)
    m.lab.wait_for("the fabric to learn vm1 on p-" + dst,
                   lambda: list(m.fdb("fabric")) == [f"p-{dst}"])
    assert m.g["tap"] not in m.fdb(src)
    flows(m)
    rounds = announce_events(watch)
    ws.close()
    assert [e["round"] for e in rounds if "frames" in e] == list(range(1, len(rounds)))
    assert rounds[0]["frames"] >= 1 and rounds[-1]["stopped"] in ("rounds", "return_traffic")
    if hook_out:
        m.lab.wait_for("the switch hook", lambda: hook_out.exists() and
                       hook_out.read_text().count("\n") >= 2)
        lines = hook_out.read_text().splitlines()
        ev = json.loads(lines[-1])
        assert lines[-2] == "migrated"
        assert {k: ev[k] for k in ("event", "port", "mac", "vlan", "from", "to")} == {
            "event": "migrated", "port": VM, "mac": m.mac, "vlan": 0, "from": src, "to": dst}
    # 5. A VF on dst: handover until the guest sends through it, then assigned.
    step_vf(m, dst)
    assert m.port(dst)["path"] == "vf"
    flows(m)


def test_every_step_there_and_back(mig, tmp_path):
    hook, out = hook_script(tmp_path)
    m = mig(config={"hook": {"path": hook, "timeout_ms": 5000}})
    m.assigned(A)
    assert m.fdb(A) == {m.g["tap"]: ["static"]} and floods_off(m, A)
    st = m.j(A, "status")
    assert st["host"] == A and st["tunnel"]["local"] == "198.51.100.1"
    m.lab.wait_for("hostA to resolve hostB", lambda: m.j(A, "status")["peers"][0]["next_hop"])
    migrate_by_steps(m, A, B, out)
    migrate_by_steps(m, B, A, out)


# ---- migrate abort at every point -----------------------------------------------

POINTS = ["in", "begin", "emulated", "out"]


@pytest.mark.parametrize("point", POINTS)
def test_abort(mig, point):
    """Both hosts return to where they started: the destination has no
    port, the source runs the VM on its VF (a VF QEMU plugs again where it
    was unplugged), its bridge points at its tap, the fabric at it."""
    m = mig()
    m.assigned(A)
    step_in(m, A, B)
    if point in ("begin", "emulated", "out"):
        step_begin(m, A)
    if point in ("emulated", "out"):
        step_unplug(m, A)
    if point == "out":
        step_out(m, A, B)
    # libvirt's failure path: abort on both, the destination first.
    r = m.j(B, "migrate", "abort", VM)
    assert (r["aborted"], r["removed"], r["from"]) == (True, True, "incoming")
    assert m.state(B) is None and m.g["tap"] not in m.fdb(B)
    r = m.j(A, "migrate", "abort", VM)
    assert r["aborted"] is (point != "in"), r
    want = {"in": "assigned", "begin": "handover", "emulated": "emulated",
            "out": "emulated"}[point]
    assert r["state"] == want and m.port(A)["migration"] is None, r
    assert m.fdb(A) == {m.g["tap"]: ["static"]}
    # Again: nothing to abort here, no port there.
    assert m.j(A, "migrate", "abort", VM)["aborted"] is False
    assert m.ctl(B, "migrate", "abort", VM, check=1).returncode == 1
    if point == "out":
        m.lab.resume(VM)                 # QEMU resumes the VM on the source
        assert m.port(A)["announce"] is not None    # and hostA announces it again
    if point in ("emulated", "out"):
        flows(m)
        # QEMU plugs the VF back on the source.
        m.plug(A)
    m.assigned(A)
    flows(m)
    assert m.port(A)["path"] == "vf"
    assert list(m.fdb("fabric")) == [f"p-{A}"]
    # And the migration can start over.
    step_in(m, A, B)
    step_begin(m, A)
    assert m.state(B) == "incoming" and m.state(A) == "handover"


def test_abort_after_done_is_refused(mig):
    """Once the VM runs on the destination, there is nothing to abort
    there, and the source refuses: its announce came back, the VM runs
    elsewhere (going back is a migration)."""
    m = mig(config={"retire": {"linger_ms": 600000}})
    m.assigned(A)
    step_in(m, A, B)
    step_begin(m, A)
    step_unplug(m, A)
    step_out(m, A, B)
    step_move_done(m, B)
    r = m.j(B, "migrate", "abort", VM)
    assert (r["aborted"], r["state"]) == (False, "emulated")
    m.lab.wait_for("hostA to see its announce",
                   lambda: (m.port(A)["migration"] or {}).get("announce_seen_ms"))
    p = m.ctl(A, "migrate", "abort", VM, check=1)
    assert "its announce came back from the fabric" in p.stderr and "hostB" in p.stderr
    assert m.state(A) == "outgoing"


def test_retire_after_grace_period(mig):
    """A destination that never announces: the source keeps forwarding,
    then retires the port after retire.grace_ms."""
    m = mig(config={"retire": {"grace_ms": 300}})
    m.assigned(A)
    step_in(m, A, B)
    step_begin(m, A)
    step_unplug(m, A)
    ws, watch = m.watch(A)
    step_out(m, A, B)
    while True:
        ev = watch.next()
        if ev.get("action") == "retired":
            break
    ws.close()
    assert ev["reason"] == "grace_period" and m.state(A) is None


def test_vf_named_at_migrate_in(mig):
    """migrate in --vf: the port knows its VF before it exists; when QEMU
    plugs it on the destination, the port hands over by itself (no port
    set), and assigned once the guest sends through it."""
    m = mig()
    m.assigned(A)
    m.j(B, "migrate", "in", VM, "--mac", m.mac, "--tap", m.g["tap"], "--from", A,
        "--vf", m.g["host_vf"])
    step_begin(m, A)
    step_unplug(m, A)
    step_out(m, A, B)
    assert step_move_done(m, B)["state"] == "emulated"      # no VF here yet
    m.plug(B)
    m.assigned(B)
    flows(m)


# ---- refusals ---------------------------------------------------------------------

def test_steps_out_of_order_are_refused(mig):
    m = mig()
    m.assigned(A)
    refused = lambda host, *a: m.ctl(host, *a, check=1).stderr   # noqa: E731
    assert "'migrate out --to' is refused" in refused(A, "migrate", "out", VM, "--to", B)
    assert "'migrate done' is refused" in refused(A, "migrate", "done", VM)
    assert "no peer hostC" in refused(B, "migrate", "in", VM, "--mac", m.mac, "--tap",
                                      m.g["tap"], "--from", "hostC")
    assert "port vm1 exists here (assigned)" in refused(A, "migrate", "in", VM, "--mac",
                                                        m.mac, "--tap", m.g["tap"],
                                                        "--from", B)
    step_in(m, A, B)
    assert "arriving from hostA" in refused(B, "migrate", "out", VM, "--begin")
    assert "is refused" in refused(B, "switch", VM, "tap")
    assert "does not run here" in refused(B, "announce", VM)
    step_begin(m, A)
    assert "refused during a migration" in refused(A, "switch", VM, "vf")
    assert m.state(A) == "handover" and m.state(B) == "incoming"


# ---- kill -9 in the middle ----------------------------------------------------------

def test_kill9_mid_migration(mig):
    """Each daemon killed after each of its steps and started again: the
    step is not lost (states, migration records, tunnel, peers), and the
    migration carries on to the end."""
    m = mig()
    m.assigned(A)

    def restart(host):
        before = m.port(host)
        m.kill9(host)
        m.start(host)
        after = m.port(host)
        for k in ("state", "path", "tx", "tunnel_in", "migration", "handover"):
            assert after[k] == before[k], (host, k, before[k], after[k])
        return after

    step_in(m, A, B)
    restart(B)
    step_begin(m, A)
    assert restart(A)["handover"] == "hold"
    step_unplug(m, A)
    step_out(m, A, B)
    p = restart(A)
    assert p["state"] == "outgoing" and p["migration"]["peer"] == B
    assert m.j(A, "status")["peers"][0]["in_datapath"]
    step_move_done(m, B)
    m.wait_state(A, None)
    flows(m)
    step_vf(m, B)
    flows(m)


# ---- the tunnel takes frames only from peers, only for ports expecting them ------

def test_tunnel_frames_from_non_peers_and_for_other_ports_are_dropped(mig):
    m = mig()
    m.assigned(A)
    peer_ip = "198.51.100.1"
    step_in(m, A, B)
    # From the peer, for the incoming port: taken.
    m.send_vxlan(B, peer_ip, n=5)
    m.lab.wait_for("tunnel frames taken", lambda: m.stats(B)["tunnel_in"]["packets"] == 5)
    # From a host that is no peer: dropped, counted on the instance.
    m.send_vxlan(B, "198.51.100.77", n=3)
    m.lab.wait_for("non-peer frames counted",
                   lambda: m.instance_stats(B)["drop"]["tunnel_peer"] == 3)
    # From the peer, for a MAC that is no port here: counted on the instance.
    m.send_vxlan(B, peer_ip, inner_dst="52:54:00:77:77:77", n=2)
    m.lab.wait_for("frames for no port counted",
                   lambda: m.instance_stats(B)["drop"]["tunnel_state"] == 2)
    # From the peer, for a port that does not take tunnel frames (assigned
    # on hostA, where hostB is the peer): dropped, counted on the port.
    m.send_vxlan(A, "198.51.100.2", n=4)
    m.lab.wait_for("frames for an assigned port counted",
                   lambda: m.stats(A)["drop"]["tunnel_state"] == 4)
    assert m.stats(B)["tunnel_in"]["packets"] == 5
    assert m.stats(A)["tunnel_in"]["packets"] == 0


# ---- the switch hook never holds a migration up ---------------------------------------

@pytest.mark.parametrize("kind", ["fails", "hangs"])
def test_switch_hook_failure_is_logged(mig, tmp_path, kind):
    hook, out = hook_script(tmp_path, exit_code=3 if kind == "fails" else 0,
                            sleep=30 if kind == "hangs" else 0)
    m = mig(config={"hook": {"path": hook, "timeout_ms": 300}})
    m.assigned(A)
    step_in(m, A, B)
    step_begin(m, A)
    step_unplug(m, A)
    step_out(m, A, B)
    t = time.monotonic()
    r = step_move_done(m, B)
    assert r["state"] == "emulated"
    said = ("failed: exit status 3" if kind == "fails" else
            "no answer after 300 ms: killing it")
    m.lab.wait_for("the hook's fate in the log", lambda: said in m.daemon_log(B))
    if kind == "hangs":
        m.lab.wait_for("the hook reaped", lambda: "killed by signal 9" in m.daemon_log(B))
    assert json.loads(out.read_text().splitlines()[1])["port"] == VM
    step_vf(m, B)                       # the daemon went on meanwhile
    assert time.monotonic() - t < 30


# ---- announces ---------------------------------------------------------------------

class Capture:
    """Frames with vm1's MAC as source, seen on the client's interface."""

    def __init__(self, m):
        c = m.lab.topo["client"]
        with netns.open_in(c["ns"]):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.bind((c["dev"], 0))
        self.s.setblocking(False)
        self.src = bytes(int(x, 16) for x in m.mac.split(":"))

    def frames(self):
        out = []
        while True:
            try:
                f = self.s.recv(2048)
            except BlockingIOError:
                return out
            if f[6:12] == self.src:
                out.append(f)

    def close(self):
        self.s.close()


def test_announce_carries_learned_addresses(mig):
    """RARP, then a gratuitous ARP for the address the guest's own frames
    showed (its ARP request), each round; the rounds stop at announce.rounds
    without return traffic; `announce` is refused where the VM is not."""
    m = mig(config={"announce": {"initial_ms": 20, "step_ms": 10, "rounds": 3}})
    m.assigned(A)
    ip = m.lab.endpoint(VM)["ipv4"]
    # The guest asks for an unknown address: its ARP request names its own.
    m.lab.exec(VM, ["ping", "-c", "1", "-W", "1", "192.0.2.99"], check=False)
    m.lab.wait_for("hostA to learn the guest's address",
                   lambda: ip in m.port(A)["addresses"]["ipv4"])
    cap = Capture(m)
    try:
        ws, watch = m.watch(A)
        r = m.j(A, "announce", VM)
        assert r["announce"]["rounds"] == 1 and ip in r["addresses"]["ipv4"]
        evs = announce_events(watch)
        ws.close()
        assert [e["round"] for e in evs] == [1, 2, 3, 3] and evs[-1]["stopped"] == "rounds"
        assert all(ip in e["ipv4"] for e in evs[:3])
        time.sleep(0.05)
        frames = cap.frames()
    finally:
        cap.close()
    rarp = [f for f in frames if f[12:14] == b"\x80\x35"]
    garp = [f for f in frames if f[12:14] == b"\x08\x06" and f[28:32] == socket.inet_aton(ip)
            and f[38:42] == socket.inet_aton(ip)]
    assert len(rarp) == 3 and len(garp) == 3, [f[:42].hex() for f in frames]
    assert all(f[:6] == b"\xff" * 6 for f in rarp + garp)
    step_in(m, A, B)
    assert "does not run here" in m.ctl(B, "announce", VM, check=1).stderr


def test_addresses_travel_with_the_migration(mig):
    """The destination's first announce names the addresses the guest sent
    from on the source, IPv4 and IPv6, though the guest has sent nothing
    through the destination yet: the source's daemon hands them over at
    --to (peermsg.c).  Such a message counts from a peer's address only,
    and the source's at --to replaces what came before."""
    m = mig(config={"announce": {"initial_ms": 20, "step_ms": 10, "rounds": 3}})
    ep, client = m.lab.endpoint(VM), m.lab.endpoint("client")
    m.assigned(A)
    m.lab.exec(VM, ["ping", "-6", "-c", "1", "-W", "1", client["ipv6"]])
    addrs = lambda h: m.port(h)["addresses"]        # noqa: E731
    m.lab.wait_for("hostA's datapath to learn both addresses",
                   lambda: ep["ipv4"] in addrs(A)["ipv4"] and ep["ipv6"] in addrs(A)["ipv6"])
    step_in(m, A, B)
    assert addrs(B) == {"ipv4": [], "ipv6": []}

    def forged(ip):
        return json.dumps({"semi-net": "guest", "v": 1, "seq": 1, "port": VM, "mac": m.mac,
                           "vlan": 0, "ipv4": [ip], "ipv6": []}).encode()
    # From the client, no peer: ignored.  Then from hostA's address (the
    # tunnel's trust: a peer's address): taken, in order.
    m.send_udp(B, client["ipv4"], 4790, forged("10.9.9.9"))
    m.send_udp(B, "198.51.100.1", 4790, forged("10.8.8.8"))
    m.lab.wait_for("hostB to take the peer's message", lambda: addrs(B)["ipv4"] == ["10.8.8.8"])
    step_begin(m, A)
    step_unplug(m, A)
    step_out(m, A, B)
    m.lab.wait_for("hostB to have the guest's addresses from hostA",
                   lambda: ep["ipv4"] in addrs(B)["ipv4"])
    got = addrs(B)
    assert ep["ipv6"] in got["ipv6"] and "10.8.8.8" not in got["ipv4"], got
    carried = m.lab.host(B)["daemon"]["state"]
    with open(carried) as f:
        port = next(p for p in json.load(f)["ports"] if p["name"] == VM)
    assert port["addresses"] == got, port
    cap = Capture(m)
    try:
        ws, watch = m.watch(B)
        step_move_done(m, B)
        evs = announce_events(watch)
        ws.close()
        time.sleep(0.05)
        frames = cap.frames()
    finally:
        cap.close()
    assert ep["ipv4"] in evs[0]["ipv4"] and ep["ipv6"] in evs[0]["ipv6"], evs
    garp = [f for f in frames if f[12:14] == b"\x08\x06" and
            f[28:32] == socket.inet_aton(ep["ipv4"])]
    na = [f for f in frames if f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 136
          and f[62:78] == socket.inet_pton(socket.AF_INET6, ep["ipv6"])]
    assert garp and na, [f[:80].hex() for f in frames]
    assert "did not" not in m.daemon_log(A), m.daemon_log(A)


def test_announce_stops_on_return_traffic(mig):
    """Rounds stop once frames for the VM come from the fabric directly."""
    m = mig(config={"announce": {"initial_ms": 200, "step_ms": 200, "rounds": 5}})
    m.assigned(A)
    ws, watch = m.watch(A)
    m.j(A, "announce", VM)
    rx = m.lab.meter_recv(VM, args=["-t", "1"])
    m.lab.meter_send("client", m.lab.endpoint(VM)["ipv4"], 1000, count=300).result()
    evs = announce_events(watch)
    ws.close()
    rx.result()
    assert evs[-1]["stopped"] == "return_traffic" and evs[-1]["round"] < 5, evs
