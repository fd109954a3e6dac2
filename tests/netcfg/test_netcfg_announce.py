# SPDX-License-Identifier: GPL-2.0
"""Announce frames on a device: RARP as QEMU sends it, gratuitous ARP and
IPv6 unsolicited NA, optionally 802.1Q tagged.  Sent through netcfg-tool in a
namespace, read back byte for byte from a tap and through tcpdump on a veth,
and decoded with scapy."""
import os
import subprocess
import tempfile
import time

import pytest

import netns

from scapy.layers.inet6 import IPv6, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.utils import rdpcap

MAC = "52:54:00:12:34:56"
V4 = ["192.0.2.10", "198.51.100.7"]
V6 = ["2001:db8::10", "fe80::5054:ff:fe12:3456"]


def addr_args(addrs):
    out = []
    for a in addrs:
        out += ["ip", a]
    return out


@pytest.fixture
def tap(ns):
    t = netns.Tap(ns, "tap-vm1")
    yield t
    t.close()


def built(tool, kind, *args):
    return bytes.fromhex(tool.ok("build", kind, MAC, *args))


def check_rarp(p):
    assert p[Ether].dst == "ff:ff:ff:ff:ff:ff" and p[Ether].src == MAC
    last = p[Dot1Q] if Dot1Q in p else p[Ether]
    assert last.type == 0x8035
    arp = ARP(bytes(last.payload)[:28])     # scapy binds ARP to 0x0806 only
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen, arp.op) == (1, 0x0800, 6, 4, 3)
    assert arp.hwsrc == MAC and arp.hwdst == MAC
    assert arp.psrc == "0.0.0.0" and arp.pdst == "0.0.0.0"
    assert bytes(last.payload)[28:] == b"\0" * 18


def check_garp(p, ip):
    assert p[Ether].dst == "ff:ff:ff:ff:ff:ff" and p[Ether].src == MAC
    arp = p[ARP]
    assert arp.op == 1 and arp.hwsrc == MAC and arp.hwdst == "00:00:00:00:00:00"
    assert arp.psrc == ip and arp.pdst == ip


def check_na(p, ip):
    assert p[Ether].dst == "33:33:00:00:00:01" and p[Ether].src == MAC
    ip6 = p[IPv6]
    assert ip6.src == ip and ip6.dst == "ff02::1" and ip6.hlim == 255 and ip6.plen == 32
    na = p[ICMPv6ND_NA]
    assert (na.R, na.S, na.O) == (0, 0, 1)
    assert na.tgt == ip
    assert p[ICMPv6NDOptDstLLAddr].lladdr == MAC
    # scapy recomputes the checksum over its own copy: it must agree
    sent = na.cksum
    again = IPv6(bytes(ip6))
    del again[ICMPv6ND_NA].cksum
    assert IPv6(bytes(again))[ICMPv6ND_NA].cksum == sent


def test_announce_frames_on_tap(ns, tool, tap):
    n = tool.ok("announce", tap.name, MAC, *addr_args(V4 + V6))
    assert n == 5
    time.sleep(0.1)
    frames = [f for f in tap.read_all() if f[6:12] == bytes.fromhex(MAC.replace(":", ""))]
    assert len(frames) == 5, [f.hex() for f in frames]

    # byte for byte what the builders make (and netcfg-unit pins those)
    assert frames[0] == built(tool, "rarp")
    assert frames[1] == built(tool, "garp", "ip", V4[0])
    assert frames[2] == built(tool, "garp", "ip", V4[1])
    assert frames[3] == built(tool, "na", "ip", V6[0])
    assert frames[4] == built(tool, "na", "ip", V6[1])
    assert [len(f) for f in frames] == [60, 60, 60, 86, 86]

    check_rarp(Ether(frames[0]))
    check_garp(Ether(frames[1]), V4[0])
    check_garp(Ether(frames[2]), V4[1])
    check_na(Ether(frames[3]), V6[0])
    check_na(Ether(frames[4]), V6[1])


def test_announce_vlan_and_no_rarp(ns, tool, tap):
    src = bytes.fromhex(MAC.replace(":", ""))
    assert tool.ok("announce", tap.name, MAC, "vlan", 100, "ip", V4[0], "ip", V6[0]) == 3
    time.sleep(0.1)
    frames = [f for f in tap.read_all() if f[6:12] == src]
    assert [len(f) for f in frames] == [64, 64, 90]
    for f in frames:
        assert Ether(f)[Dot1Q].vlan == 100 and Ether(f)[Dot1Q].prio == 0
    check_rarp(Ether(frames[0]))
    check_garp(Ether(frames[1]), V4[0])
    check_na(Ether(frames[2]), V6[0])
    assert frames[0] == built(tool, "rarp", "vlan", 100)

    # RARP only (what QEMU does), and GARP/NA only
    assert tool.ok("announce", tap.name, MAC) == 1
    assert tool.ok("announce", tap.name, MAC, "no-rarp", "ip", V6[1]) == 1
    time.sleep(0.1)
    frames = [f for f in tap.read_all() if f[6:12] == src]
    assert len(frames) == 2
    check_rarp(Ether(frames[0]))
    check_na(Ether(frames[1]), V6[1])


def test_announce_through_veth_with_tcpdump(ns, tool):
    """On a veth towards a 'fabric' namespace: tcpdump decodes every frame,
    VLAN tag included."""
    fabric = netns.NetNS("nc-fabric")
    try:
        netns.veth(ns, "uplink", fabric, "swp1")
        with tempfile.TemporaryDirectory() as tmp:
            pcap = os.path.join(tmp, "announce.pcap")
            dump = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{fabric.name}", "--", "tcpdump", "-i", "swp1",
                 "-U", "-nn", "-c", "4", "-w", pcap, "ether", "src", MAC],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                line = dump.stderr.readline()
                assert "listening on" in line, line
                assert tool.ok("announce", "uplink", MAC, "vlan", 7, *addr_args(V4[:1] + V6)) == 4
                dump.wait(timeout=10)
            finally:
                if dump.poll() is None:
                    dump.kill()
                    dump.wait()
                dump.stderr.close()
            text = subprocess.run(["tcpdump", "-r", pcap, "-nn", "-e", "-v"],
                                  capture_output=True, text=True, check=True).stdout
            pkts = rdpcap(pcap)
    finally:
        fabric.close()

    assert len(pkts) == 4
    assert text.count("vlan 7") == 4
    assert f"Reverse Request who-is {MAC} tell {MAC}" in text
    assert f"Request who-has {V4[0]} tell {V4[0]}" in text
    assert f"neighbor advertisement, length 32, tgt is {V6[0]}" in text
    assert "Flags [override]" in text
    check_rarp(pkts[0])
    check_garp(pkts[1], V4[0])
    check_na(pkts[2], V6[0])
    check_na(pkts[3], V6[1])


def test_announce_errors_name_the_device(ns, tool):
    ns.ip("link add v0 type veth peer name v1")       # left down
    assert (tool.fails("announce", "v0", MAC) ==
            f"error: cannot send RARP for {MAC} on v0: Network is down")
    assert (tool.fails("announce", "v0", MAC, "no-rarp", "ip", V4[0]) ==
            f"error: cannot send gratuitous ARP for {V4[0]} ({MAC}) on v0: Network is down")
    assert (tool.fails("announce", "nosuch", MAC) ==
            f"error: cannot announce {MAC} on nosuch: no device nosuch")
    assert (tool.fails("announce", "v0", MAC, "vlan", 4095) ==
            f"error: cannot announce {MAC} on v0: VLAN 4095 is out of range (1-4094)")
