# SPDX-License-Identifier: GPL-2.0
"""The guest follows net_failover: while a VF exists, frames arriving on
virtio are not delivered (even with the VF's link down); transmit uses the
VF while it runs, else virtio."""
import pytest

from semilab import ip_batch

LABELS = ["-L", "1=vf", "-L", "2=virtio"]
N = 2000


def stat(lab, vm, name):
    return lab.guest_stats(vm)[name]["packets"]


def stream(lab, src, dst_node, n=N, rate=20000, recv_args=()):
    """n frames from src to dst_node's IPv4; the receiver's report."""
    rx = lab.meter_recv(dst_node, args=LABELS + ["-t", "1"] + list(recv_args))
    tx = lab.meter_send(src, lab.endpoint(dst_node)["ipv4"], rate, count=n)
    assert tx.result()["tx"]["sent"] == n
    return rx, tx


def blocked_stream(lab, n=N):
    """Client -> vm1 while the guest must not deliver: the relay hands the
    frames to virtio0, the guest drops them all."""
    drops = stat(lab, "vm1", "drop_virtio_vf_present")
    before = lab.relay_poll("vm1")["to_guest"]["frames"]
    rx, _ = stream(lab, "client", "vm1", n)
    # Every frame (and the end markers) went through the relay to virtio0 ...
    lab.wait_for("the relay to hand all frames to virtio0",
                 lambda: lab.relay_poll("vm1")["to_guest"]["frames"] >= before + n)
    # ... and was dropped there, so the receiver saw nothing.
    assert stat(lab, "vm1", "drop_virtio_vf_present") >= drops + n
    rx.stop()
    r = rx.result()["rx"]
    assert r["received"] == 0 and r["timeline"] == []


def test_vf_present_blocks_virtio_until_unplug(lab):
    lab.pin_neigh("client", "vm1")
    blocked_stream(lab)

    lab.unplug("vm1")
    assert lab.guest_stats("vm1")["vf"] == ""
    rx, _ = stream(lab, "client", "vm1")
    r = rx.result()["rx"]
    assert (r["sent"], r["received"], r["lost"], r["duplicated"]) == (N, N, 0, 0)
    assert r["paths"] == ["virtio"]


def test_vf_link_down_still_blocks_virtio(lab):
    lab.pin_neigh("client", "vm1")
    lab.pin_neigh("vm1", "client")
    lab.vf_link("vm1", False)
    flags = lab.link_stats("vm1", "vf0")["flags"]
    assert "NO-CARRIER" in flags
    blocked_stream(lab)

    # Transmit falls back to virtio while the VF has no carrier.
    fallback = stat(lab, "vm1", "tx_virtio_vf_down")
    rx, _ = stream(lab, "vm1", "client")
    r = rx.result()["rx"]
    assert (r["received"], r["lost"], r["paths"]) == (N, 0, ["eth0"])
    assert stat(lab, "vm1", "tx_virtio_vf_down") >= fallback + N

    # VF up again: transmit goes to the VF (its host end is unconnected
    # without semi-net: the client gets nothing, the VF's host end all).
    lab.vf_link("vm1", True)
    host_rx = lab.link_stats("hostA", "vf-vm1")["rx_packets"]
    tx_vf = stat(lab, "vm1", "tx_vf")
    rx = lab.meter_recv("client", args=["-t", "1"])
    lab.meter_send("vm1", "192.0.2.100", 20000, count=N).result()
    assert stat(lab, "vm1", "tx_vf") >= tx_vf + N
    assert lab.link_stats("hostA", "vf-vm1")["rx_packets"] >= host_rx + N
    rx.stop()
    assert rx.result()["rx"]["received"] == 0


def test_vf_takes_xdp_redirected_frames(lab):
    """A host XDP-redirects into the VF's host end (as semi-net's uplink
    program does): the guest gets every frame, through the VF."""
    lab.pin_neigh("client", "vm1")
    lab.steer("hostA", "vm1")
    rx, _ = stream(lab, "client", "vm1", n=20000, rate=50000)
    r = rx.result()["rx"]
    assert (r["received"], r["lost"], r["duplicated"]) == (20000, 0, 0)
    assert r["paths"] == ["vf"]
    assert stat(lab, "vm1", "rx_vf") >= 20000


def test_handover_copies_reach_the_guest_once(lab):
    """Both paths carry a copy of every frame (the host bridge floods the
    guest's MAC to tap and VF); the VF is unplugged mid-stream.  The guest
    delivers each frame from the VF before the unplug and from virtio
    after it; only frames inside the kernel's own window (the VF closed
    but not yet unregistered, where net_failover takes neither copy) can
    be missing, and only the relay's in-flight frames at the unplug can
    arrive twice (the standby path lagging: its copy comes after the VF
    went)."""
    g = lab.guest("vm1")
    lab.pin_neigh("client", "vm1")
    ip_batch(lab.ns("hostA"), [
        f"link set dev {g['host_vf']} master br0",
        f"link set dev {g['host_vf']} type bridge_slave learning off",
        f"link set dev {g['tap']} type bridge_slave learning off",
    ])
    # Nothing learned about the guest's MAC: unicast to it floods.
    for dev in (g["tap"], g["host_vf"]):
        lab.exec("hostA", ["bridge", "fdb", "del", g["mac"], "dev", dev, "master"],
                 check=False)
    n = 20000
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1"])
    tx = lab.meter_send("client", "192.0.2.11", 20000, count=n)
    lab.wait_for("5000 frames through the VF", lambda: stat(lab, "vm1", "rx_vf") >= 5000)
    lab.unplug("vm1")
    assert tx.result()["tx"]["sent"] == n
    r = rx.result()["rx"]
    print(f"handover: {r['lost']} frames lost in the unplug window, "
          f"lost runs {r['lost_runs']}")

    # Twice only what was still in the relay (QEMU) when the VF went: its
    # VF copy taken before, its virtio copy after -- one run, the frames
    # just before the unplug, a few ms of the stream at most.  (With a relay
    # that keeps up, none; under load, tens: seen 22 at 20 kpps.)
    assert r["dup_runs_total"] <= 1, r["dup_runs"]
    if r["duplicated"]:
        first, last = r["dup_runs"][0]
        assert last - first + 1 == r["duplicated"] <= 20000 // 20, r["dup_runs"]
    assert r["received"] + r["lost"] == n
    assert r["lost_runs_total"] <= 1
    assert r["paths"] == ["vf", "virtio"]
    # Before the unplug the virtio copies were dropped, after it delivered.
    assert stat(lab, "vm1", "drop_virtio_vf_present") >= stat(lab, "vm1", "rx_vf") - 1
    seen_virtio = False
    for b in r["timeline"]:
        if "virtio" in b["by"]:
            seen_virtio = True
        elif seen_virtio:
            assert "vf" not in b["by"], "VF frames after virtio took over"


def test_plug_from_the_other_host(lab_factory):
    lab = lab_factory(vf=False)
    lab.pin_neigh("client", "vm1")
    lab.plug("vm1", "hostB")
    s = lab.status()
    assert s["guests"]["vm1"]["vf_host"] == "hostB"
    assert s["hosts"]["hostB"]["vms"]["vm1"]["vf"] == "vf-vm1"
    assert s["hosts"]["hostA"]["vms"]["vm1"]["vf"] is None
    assert lab.link_stats("hostB", "vf-vm1")["operstate"] == "UP"
    assert lab.guest_stats("vm1")["vf"] == "vf0"
    blocked_stream(lab)

    lab.unplug("vm1")
    rx, _ = stream(lab, "client", "vm1")
    assert rx.result()["rx"]["received"] == N
    with pytest.raises(Exception, match="no VF"):
        lab.unplug("vm1")
