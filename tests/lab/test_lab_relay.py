# SPDX-License-Identifier: GPL-2.0
"""tap-relay, the QEMU stand-in: the emulated path end to end, pause
(SIGSTOP: frames queue in the tap and overflow there), migration (the relay
moves to the other host's tap), and its error handling."""
import json
import os
import subprocess

import pytest

LABELS = ["-L", "1=vf", "-L", "2=virtio"]


def fdb_port(lab, node, bridge, mac):
    out = lab.exec(node, ["bridge", "-j", "fdb", "show", "br", bridge])
    ports = [e["ifname"] for e in json.loads(out)
             if e["mac"] == mac and "permanent" not in e.get("state", "")]
    return ports[0] if ports else None


def test_emulated_path_reachability(lab_factory):
    """No semi-net, no VF: client <-> guests through the fabric, the host
    bridges, the taps and the relays; guest <-> guest across hosts."""
    lab = lab_factory(vms=2, vf=False)
    lab.migrate("vm2", "hostB")
    for dst in ("192.0.2.11", "2001:db8::b", "192.0.2.12", "2001:db8::c"):
        lab.exec("client", ["ping", "-c", "2", "-i", "0.2", "-W", "5", dst])
    lab.exec("vm1", ["ping", "-c", "2", "-i", "0.2", "-W", "5", "192.0.2.12"])
    lab.exec("vm2", ["ping", "-c", "2", "-i", "0.2", "-W", "5", "2001:db8::b"])
    for vm in ("vm1", "vm2"):
        st = lab.guest_stats(vm)
        assert st["rx_virtio"]["packets"] > 0 and st["tx_virtio"]["packets"] > 0
        assert st["rx_vf"]["packets"] == 0 and st["tx_vf"]["packets"] == 0
    # The switch and the host bridges learned where each VM is.
    vm1, vm2 = lab.guest("vm1")["mac"], lab.guest("vm2")["mac"]
    assert fdb_port(lab, "fabric", "sw0", vm1) == "p-hostA"
    assert fdb_port(lab, "fabric", "sw0", vm2) == "p-hostB"
    assert fdb_port(lab, "hostA", "br0", vm1) == "tap-vm1"
    assert fdb_port(lab, "hostB", "br0", vm2) == "tap-vm2"


def test_pause_queues_then_overflows(lab_factory):
    lab = lab_factory(vf=False)
    lab.pin_neigh("client", "vm1")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    qlen = lab.link_stats("hostA", "tap-vm1")["txqlen"]

    # Fewer frames than the tap holds: all arrive after the resume.
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1"])
    lab.pause("vm1")
    assert lab.status()["guests"]["vm1"]["paused"]
    n = qlen // 3
    assert lab.meter_send("client", "192.0.2.11", 20000, count=n).result()["tx"]["sent"] == n
    lab.resume("vm1")
    r = rx.result()["rx"]
    assert (r["sent"], r["received"], r["lost"], r["reordered"]) == (n, n, 0, 0)

    # Three times as many: the tap keeps what fits, drops the rest.
    dropped = lab.link_stats("hostA", "tap-vm1")["tx_dropped"]
    n = qlen * 3
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1", "-e", str(n)])
    lab.pause("vm1")
    assert lab.meter_send("client", "192.0.2.11", 20000, count=n).result()["tx"]["sent"] == n
    lab.wait_for("the tap to overflow",
                 lambda: lab.link_stats("hostA", "tap-vm1")["tx_dropped"] >= dropped + n - qlen)
    lab.resume("vm1")
    r = rx.result()["rx"]
    print(f"pause: {n} sent, {r['received']} queued in the tap, {r['lost']} dropped")
    assert 0 < r["received"] <= qlen
    assert r["received"] + r["lost"] == n
    assert r["duplicated"] == 0 and r["reordered"] == 0
    assert lab.link_stats("hostA", "tap-vm1")["tx_dropped"] - dropped >= r["lost"]
    # What the tap kept is the start of the stream.
    assert r["lost_runs"] == [[r["received"], n - 1]]


def migrate_mid_stream(lab, announce):
    lab.pin_neigh("client", "vm1")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    n = 20000
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1", "-e", str(n)])
    tx = lab.meter_send("client", "192.0.2.11", 10000, count=n)
    lab.wait_for("3000 frames through the relay on hostA",
                 lambda: lab.relay_poll("vm1")["to_guest"]["frames"] >= 3000)
    lab.migrate("vm1", "hostB", announce=announce)
    assert tx.result()["tx"]["sent"] == n
    return n, rx.result()["rx"]


def test_migrate_relay_with_announce(lab_factory):
    """The relay moves from hostA to hostB and announces the guest (RARP):
    the switch learns the new port and the stream continues there."""
    lab = lab_factory(vf=False)
    n, r = migrate_mid_stream(lab, announce=True)
    print(f"migration: {r['lost']} frames lost, longest gap {r['longest_gap_ms']} ms")
    assert r["received"] + r["lost"] == n and r["duplicated"] == 0
    assert r["lost_runs_total"] <= 1
    assert not r["lost_runs"] or r["lost_runs"][0][1] < n - 1   # the end arrived
    assert r["paths"] == ["virtio"]

    old, new = lab.relay_stats("vm1", "hostA"), lab.relay_poll("vm1")
    assert old["to_guest"]["frames"] >= 3000
    assert new["to_guest"]["frames"] > 0 and new["announces"] == 5
    assert old["to_guest"]["frames"] + new["to_guest"]["frames"] >= r["received"]
    s = lab.status()
    assert s["guests"]["vm1"]["host"] == "hostB"
    assert s["hosts"]["hostB"]["vms"]["vm1"]["running"]
    assert not s["hosts"]["hostA"]["vms"]["vm1"]["running"]
    assert "NO-CARRIER" in lab.link_stats("hostA", "tap-vm1")["flags"]
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostB"


def test_migrate_relay_without_announce_blackholes(lab_factory):
    """Without an announce the switch still sends the guest's frames to
    hostA, where its tap has no carrier: the rest of the stream is lost
    until the guest itself sends."""
    lab = lab_factory(vf=False)
    n, r = migrate_mid_stream(lab, announce=False)
    assert r["received"] + r["lost"] == n
    assert r["lost_runs"] == [[r["received"], n - 1]]
    assert lab.relay_poll("vm1")["to_guest"]["frames"] < 100   # floods only
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostA"

    lab.exec("vm1", ["ping", "-c", "1", "-W", "5", "192.0.2.100"])
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostB"
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1"])
    lab.meter_send("client", "192.0.2.11", 10000, count=2000).result()
    assert rx.result()["rx"]["received"] == 2000


def relay(build, *args):
    return subprocess.run([os.path.join(build, "bin", "tap-relay"), *args],
                          capture_output=True, text=True, timeout=30)


def test_relay_errors(lab_factory, build):
    lab = lab_factory(vf=False, relay=False)
    ns_a, ns_g = lab.ns("hostA"), lab.ns("vm1")
    assert relay(build).returncode == 2
    assert relay(build, "-t", "tap-vm1", "-g", "virtio0", "extra").returncode == 2
    p = relay(build, "--help")
    assert p.returncode == 0 and "usage: tap-relay" in p.stdout
    # A device that does not exist is named, and not created.
    p = relay(build, "-n", ns_a, "-t", "tap-nope", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "no tap tap-nope in " + ns_a in p.stderr
    assert "tap-nope" not in lab.exec("hostA", ["ip", "link"])
    p = relay(build, "-n", ns_a, "-t", "tap-vm1", "-N", ns_g, "-g", "virtio9")
    assert p.returncode == 1 and "no tap virtio9 in " + ns_g in p.stderr
    # Not a tap.
    p = relay(build, "-n", ns_a, "-t", "br0", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "br0" in p.stderr
    p = relay(build, "-n", "no-such-ns", "-t", "tap-vm1", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "no-such-ns" in p.stderr
    # Once the VM runs, its tap and its virtio are taken.
    lab.relay_start("vm1", "hostA")
    p = relay(build, "-n", ns_a, "-t", "tap-vm1", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "busy" in p.stderr
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_relay_exit_frees_the_tap(lab_factory, sig):
    """However the relay ends, the tap is free for the next one."""
    lab = lab_factory(vf=False)
    pid = lab.relay_pid("vm1")
    os.kill(pid, getattr(__import__("signal"), "SIG" + sig))
    lab.wait_for("the relay to exit", lambda: not lab.relay_alive("vm1"))
    lab.relay_stop("vm1")
    lab.relay_start("vm1", "hostA")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
