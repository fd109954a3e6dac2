# SPDX-License-Identifier: GPL-2.0
"""Real frames through a veth uplink: each path delivers to the right device.

    wire ns: up0p --veth-- host ns: up0 (uplink, XDP + TC or TC only)
                           host ns: vf1, vf2 (veths; peers vf1g, vf2g in the guest ns)
                           host ns: tap1, tap2 (real taps, read by this test)
    vm1: 52:54:00:00:00:01 untagged (vf1, tap1); vm2: 52:54:00:00:00:02 VLAN 100 (vf2, tap2)
"""
import json
import os
import subprocess
import time

import pytest

import frames as fr
import netns

VM1, VM2 = "52:54:00:00:00:01", "52:54:00:00:00:02"
WIRE_MAC, UNKNOWN = "02:00:00:00:0f:01", "52:54:00:00:00:99"


class DpLab:
    def __init__(self, build, mode, gro=True, mtu=None):
        self.bin = os.path.join(build, "bin", "semi-dpctl")
        self.instance = netns.unique(f"dl{mode}")
        self.objs = []
        self.wire = self._keep(netns.NetNS("dlw"))
        self.host = self._keep(netns.NetNS("dlh"))
        self.guest = self._keep(netns.NetNS("dlg"))
        for ns in (self.wire, self.host, self.guest):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"])
        netns.veth(self.host, "up0", self.wire, "up0p")
        netns.veth(self.host, "vf1", self.guest, "vf1g")
        netns.veth(self.host, "vf2", self.guest, "vf2g")
        self.wire.ip(f"link set up0p address {WIRE_MAC}")
        self.guest.ip(f"link set vf1g address {VM1}")
        self.guest.ip(f"link set vf2g address {VM2}")
        if mtu:
            for ns, dev in ((self.host, "up0"), (self.wire, "up0p"), (self.host, "vf1"),
                            (self.guest, "vf1g")):
                ns.ip(f"link set {dev} mtu {mtu}")
        if gro:
            for dev in ("vf1g", "vf2g"):
                self.guest.run(["ethtool", "-K", dev, "gro", "on"])
        self.host.ip("addr add 192.0.2.1/24 dev up0")
        self.tap1 = self._keep(netns.Tap(self.host, "tap1"))
        self.tap2 = self._keep(netns.Tap(self.host, "tap2"))
        self.dpctl("load")
        self.dpctl("attach-uplink", "up0", "auto" if mode == "xdp" else "off")
        self.dpctl("port-put", "vm1", VM1, "vf", "vf1", "tap", "tap1", "path", "vf")
        self.dpctl("port-put", "vm2", VM2, "vlan", "100", "vf", "vf2", "tap", "tap2",
                   "path", "vf")
        for dev in ("vf1", "tap1", "vf2", "tap2"):
            self.dpctl("attach-port", dev)
        self.wire_s = self._keep(fr.PacketSocket(self.wire, "up0p"))
        self.g1 = self._keep(fr.PacketSocket(self.guest, "vf1g"))
        self.g2 = self._keep(fr.PacketSocket(self.guest, "vf2g"))

    def _keep(self, obj):
        self.objs.append(obj)
        return obj

    def dpctl(self, *args, check=True):
        p = subprocess.run(["nsenter", f"--net=/run/netns/{self.host.name}", self.bin,
                            "-i", self.instance, *args], capture_output=True, text=True,
                           timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"semi-dpctl {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def stats(self, port=None):
        return json.loads(self.dpctl("-j", "stats", *([port] if port else [])))

    def ports(self):
        return {p["name"]: p for p in json.loads(self.dpctl("-j", "port-show"))}

    def drain(self):
        for s in (self.wire_s, self.g1, self.g2):
            s.recv_all(wait=0.05)
        for t in (self.tap1, self.tap2):
            fr.tap_frames(t, wait=0.05)

    def received(self, wait=0.25):
        """MARKed frames at each receiver, by receiver (one shared wait)."""
        time.sleep(wait)
        return {
            "vf1": fr.marked(self.g1.recv_all(0.02)),
            "vf2": fr.marked(self.g2.recv_all(0.02)),
            "tap1": fr.marked(fr.tap_frames(self.tap1, 0.02)),
            "tap2": fr.marked(fr.tap_frames(self.tap2, 0.02)),
            "wire": fr.marked(self.wire_s.recv_all(0.02)),
        }

    def close(self):
        self.dpctl("destroy", check=False)
        subprocess.run([self.bin, "-i", self.instance, "purge"], capture_output=True)
        for obj in reversed(self.objs):
            obj.close()


@pytest.fixture(params=["xdp", "tc"])
def lab(request, build):
    lab = DpLab(build, request.param)
    try:
        yield lab
    finally:
        lab.close()


def counts(got):
    return {k: len(v) for k, v in got.items()}


@pytest.mark.parametrize("path,want", [
    ("vf", {"vf1": 5, "tap1": 0}),
    ("tap", {"vf1": 0, "tap1": 5}),
    ("both", {"vf1": 5, "tap1": 5}),
    ("none", {"vf1": 0, "tap1": 0}),
])
def test_unicast_follows_path(lab, path, want):
    lab.dpctl("path", "vm1", path)
    lab.drain()
    before = lab.stats("vm1")
    for i in range(5):
        lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=i))
    got = lab.received()
    c = counts(got)
    assert {k: c[k] for k in want} == want, c
    assert c["vf2"] == 0 and c["tap2"] == 0 and c["wire"] == 0, c
    # Each copy carries its own tag once: exactly one copy per path.
    for dev in ("vf1", "tap1"):
        assert sorted(fr.tag_of(f) for f in got[dev]) == list(range(want[dev]))
    after = lab.stats("vm1")
    assert after["rx_vf"]["packets"] - before["rx_vf"]["packets"] == want["vf1"]
    assert after["rx_tap"]["packets"] - before["rx_tap"]["packets"] == want["tap1"]
    if path == "none":
        assert after["drop"]["path_none"] - before["drop"]["path_none"] == 5


def test_vlan_port_gets_untagged_frames(lab):
    lab.drain()
    lab.wire_s.send(fr.udp4(VM2, WIRE_MAC, vlan=100, tag=7))
    lab.wire_s.send(fr.udp4(VM2, WIRE_MAC, vlan=200, tag=8))   # wrong VLAN
    lab.wire_s.send(fr.udp4(VM2, WIRE_MAC, tag=9))             # untagged
    got = lab.received()
    assert [fr.tag_of(f) for f in got["vf2"]] == [7], counts(got)
    assert fr.vlan_of(got["vf2"][0]) is None
    assert not got["vf1"] and not got["tap2"]


def test_broadcast_reaches_ports_of_its_vlan_and_the_host(lab):
    lab.drain()
    before = lab.stats()
    # ARP for the host's own address: every untagged port gets one copy and
    # the host stack answers.
    lab.wire_s.send(fr.arp_request(WIRE_MAC, "192.0.2.99", "192.0.2.1"))
    g1 = lab.g1.recv_all(0.3)
    replies = [f for f in lab.wire_s.recv_all(0.3) if f[12:14] == b"\x08\x06"
               and f[20:22] == b"\x00\x02"]
    assert len([f for f in g1 if f[12:14] == b"\x08\x06"]) == 1
    assert not [f for f in lab.g2.recv_all(0.1) if f[12:14] == b"\x08\x06"]
    assert len(replies) == 1, "the host stack did not get its copy"
    after = lab.stats()
    assert after["flood"]["packets"] - before["flood"]["packets"] == 1
    # A tagged broadcast reaches only the VLAN's port, untagged.
    lab.wire_s.send(fr.udp4(fr.BCAST, WIRE_MAC, vlan=100, tag=3))
    got = lab.received()
    assert [fr.tag_of(f) for f in got["vf2"]] == [3] and fr.vlan_of(got["vf2"][0]) is None
    assert not got["vf1"] and not got["tap1"] and not got["tap2"]


def test_broadcast_follows_each_ports_path(lab):
    lab.dpctl("path", "vm1", "both")
    lab.dpctl("path", "vm2", "tap")
    lab.drain()
    lab.wire_s.send(fr.udp4(fr.BCAST, WIRE_MAC, tag=1))
    lab.wire_s.send(fr.udp4(fr.BCAST, WIRE_MAC, vlan=100, tag=2))
    got = lab.received()
    assert counts(got) == {"vf1": 1, "tap1": 1, "vf2": 0, "tap2": 1, "wire": 0}


def test_unknown_unicast_goes_to_the_host_only(lab):
    lab.drain()
    before = lab.stats()
    lab.wire_s.send(fr.udp4(UNKNOWN, WIRE_MAC, tag=1))
    got = lab.received()
    assert sum(len(v) for v in got.values()) == 0
    assert lab.stats()["pass_host"]["packets"] - before["pass_host"]["packets"] == 1


def test_guest_sends_through_uplink(lab):
    lab.drain()
    lab.g1.send(fr.udp4(fr.BCAST[:0] + UNKNOWN, VM1, tag=11))
    lab.g2.send(fr.udp4(UNKNOWN, VM2, tag=12))
    lab.tap1.write(fr.udp4(UNKNOWN, VM1, tag=13))
    lab.g1.send(fr.udp4(UNKNOWN, VM2, tag=14))      # spoofed source MAC
    got = lab.received()
    wire = {fr.tag_of(f): fr.vlan_of(f) for f in got["wire"]}
    assert wire == {11: None, 12: 100, 13: None}, wire
    s = lab.stats("vm1")
    assert s["tx_vf"]["packets"] >= 1 and s["tx_tap"]["packets"] == 1
    assert s["drop"]["spoof_mac"] == 1


def test_guest_hairpin_to_local_port(lab):
    lab.dpctl("port-put", "vm3", "52:54:00:00:00:03", "tap", "tap2", check=False)
    lab.drain()
    # vm1 -> vm2 crosses VLANs: not hairpinned, goes to the uplink.
    lab.g1.send(fr.udp4(VM2, VM1, tag=21))
    got = lab.received()
    assert [fr.tag_of(f) for f in got["wire"]] == [21] and not got["vf2"]


def test_jumbo_frame_reaches_vf(build):
    for mode in ("xdp", "tc"):
        lab = DpLab(build, mode, mtu=9000)
        try:
            lab.drain()
            lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, size=9000, tag=90))
            got = lab.received()
            assert [len(f) for f in got["vf1"]] == [9000], (mode, counts(got))
            assert lab.stats("vm1")["rx_vf"]["bytes"] == 9000
        finally:
            lab.close()


def test_vf_without_xdp_is_served_through_tc(build):
    """A veth whose peer has neither XDP nor GRO refuses XDP frames: the
    loader notices and the frames go through TC instead of vanishing."""
    lab = DpLab(build, "xdp", gro=False)
    try:
        assert lab.ports()["vm1"]["vf_xdp"] is False
        assert lab.ports()["vm1"]["tap_xdp"] is True
        lab.drain()
        before = lab.stats()
        for i in range(5):
            lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=i))
        got = lab.received()
        assert len(got["vf1"]) == 5
        assert lab.stats()["xdp_defer"]["packets"] - before["xdp_defer"]["packets"] == 5
        # Once the peer can take XDP frames, a refresh puts them back on XDP.
        lab.guest.run(["ethtool", "-K", "vf1g", "gro", "on"])
        lab.dpctl("refresh", "vm1")
        assert lab.ports()["vm1"]["vf_xdp"] is True
        before = lab.stats()
        for i in range(5):
            lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=i))
        assert len(lab.received()["vf1"]) == 5
        assert lab.stats()["xdp_defer"]["packets"] == before["xdp_defer"]["packets"]
    finally:
        lab.close()


def test_refused_xdp_frames_are_counted(build):
    """A target that stops taking XDP frames after the check (its peer lost
    GRO/XDP) refuses them in the kernel: the drop monitor counts every one
    and sends the port's frames for that device through TC from then on."""
    lab = DpLab(build, "xdp")
    try:
        assert lab.ports()["vm1"]["vf_xdp"] is True
        lab.guest.run(["ethtool", "-K", "vf1g", "gro", "off"])
        lab.drain()
        for i in range(5):
            lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=i))
        got = lab.received()["vf1"]
        s = lab.stats("vm1")
        # The first refusal is counted and moves the port's vf to TC: of the
        # five, those XDP sent on their way were refused (counted), the rest
        # went by TC and arrived.  Nothing vanished.
        assert s["drop"]["redirect"] >= 1
        assert s["drop"]["redirect"] + len(got) == 5, (s, len(got))
        assert lab.ports()["vm1"]["vf_xdp"] is False
        lab.drain()
        for i in range(5):
            lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=10 + i))
        assert len(lab.received()["vf1"]) == 5
        # A refresh once the target takes XDP frames again: back on XDP.
        lab.guest.run(["ethtool", "-K", "vf1g", "gro", "on"])
        lab.dpctl("refresh", "vm1")
        assert lab.ports()["vm1"]["vf_xdp"] is True
    finally:
        lab.close()
