# SPDX-License-Identifier: GPL-2.0
"""Bridge port flags (flood, mcast_flood, bcast_flood, learning): set with
AF_BRIDGE RTM_SETLINK, read back, checked with `bridge -d link show`, and
shown to work: a port with bcast_flood off gets no broadcast."""
import json

from netcfg_lib import send_raw

MAC = "52:54:00:12:34:56"
FLAGS = ("flood", "mcast_flood", "bcast_flood", "learning")


def bridge_link(ns, dev):
    """{flag: bool} as `bridge -d -j link show` reports them."""
    row = json.loads(ns.run(["bridge", "-d", "-j", "link", "show", "dev", dev]))[0]
    return {f: row[f] for f in FLAGS}


def test_brport_set_get(bridge, tool):
    ns, _ = bridge
    on = {f: True for f in FLAGS}
    assert tool.ok("brport", "get", "p1") == on
    assert bridge_link(ns, "p1") == on

    args = []
    for f in FLAGS:
        args += [f, "off"]
    tool.ok("brport", "set", "p1", *args)
    off = {f: False for f in FLAGS}
    assert bridge_link(ns, "p1") == off
    assert tool.ok("brport", "get", "p1") == off
    text = ns.run(["bridge", "-d", "link", "show", "dev", "p1"])
    for f in FLAGS:
        assert f" {f} off" in text
    # the other ports are untouched
    assert bridge_link(ns, "p2") == on


def test_brport_mask_leaves_other_flags(bridge, tool):
    ns, _ = bridge
    tool.ok("brport", "set", "p2", "bcast_flood", "off")
    assert bridge_link(ns, "p2") == {"flood": True, "mcast_flood": True,
                                     "bcast_flood": False, "learning": True}
    tool.ok("brport", "set", "p2", "learning", "off", "bcast_flood", "on")
    assert bridge_link(ns, "p2") == {"flood": True, "mcast_flood": True,
                                     "bcast_flood": True, "learning": False}


def test_brport_errors(bridge, tool):
    ns, _ = bridge
    ns.ip("link add lone type veth peer name lone-peer")
    assert (tool.fails("brport", "set", "lone", "flood", "off") ==
            "error: cannot set flood off on bridge port lone: lone is not a bridge port")
    assert (tool.fails("brport", "set", "nosuch", "bcast_flood", "off") ==
            "error: cannot set bcast_flood off on bridge port nosuch: no device nosuch")
    assert (tool.fails("brport", "get", "lone") ==
            "error: cannot read bridge port flags of lone: lone is not a bridge port")
    assert (tool.fails("brport", "get", "br0") ==
            "error: cannot read bridge port flags of br0: br0 is not a bridge port")


def test_brport_flood_flags_take_effect(bridge, tool, tool_in, capture):
    """Broadcast, multicast and unknown unicast from q1 reach q2 only while
    p2 floods them: the way to keep a VM from getting a broadcast twice."""
    ns, peer = bridge
    sender = tool_in(peer)
    q2, q3 = capture(peer, "q2"), capture(peer, "q3")
    unknown_ucast = (bytes.fromhex("020000000099") + bytes.fromhex(MAC.replace(":", ""))
                     + b"\x88\xb5" + b"\x00" * 46)

    def deliver():
        """Which of broadcast, multicast, unicast reached q2 and q3."""
        sender.ok("announce", "q1", MAC, "ip", "2001:db8::1")   # RARP + NA
        send_raw(peer, "q1", unknown_ucast)
        got = {}
        for name, cap in (("q2", q2), ("q3", q3)):
            kinds = set()
            for f in cap.frames(src=MAC):
                kinds.add({0xff: "bcast", 0x33: "mcast", 0x02: "ucast"}[f[0]])
            got[name] = kinds
        return got

    everything = {"bcast", "mcast", "ucast"}
    # learning off on p1, so the MAC never becomes known and "unicast to
    # 02:..:99" stays unknown
    tool.ok("brport", "set", "p1", "learning", "off")
    assert deliver() == {"q2": everything, "q3": everything}
    tool.ok("brport", "set", "p2", "bcast_flood", "off")
    assert deliver() == {"q2": {"mcast", "ucast"}, "q3": everything}
    tool.ok("brport", "set", "p2", "mcast_flood", "off", "flood", "off")
    assert deliver() == {"q2": set(), "q3": everything}
    tool.ok("brport", "set", "p2", "bcast_flood", "on", "mcast_flood", "on", "flood", "on")
    assert deliver() == {"q2": everything, "q3": everything}
