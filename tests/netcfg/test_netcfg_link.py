# SPDX-License-Identifier: GPL-2.0
"""netcfg_link_get(): what the library reports matches `ip -d -j link`."""
import json


def ip_link(ns, dev):
    return json.loads(ns.ip(f"-d -j link show dev {dev}"))[0]


def test_link_veth_in_bridge(bridge, tool):
    ns, _ = bridge
    ns.ip("link set p1 mtu 1400")
    ns.ip("link set p1 address 52:54:00:aa:bb:01")
    got = tool.ok("link", "p1")
    want = ip_link(ns, "p1")
    assert got["ifindex"] == want["ifindex"]
    assert got["name"] == "p1"
    assert got["mac"] == "52:54:00:aa:bb:01"
    assert got["mtu"] == 1400
    assert got["kind"] == "veth"
    assert got["port_kind"] == "bridge"
    assert got["master"] == ns.ifindex("br0")
    assert got["operstate"] == want["operstate"].lower() == "up"
    assert got["carrier"] is True
    # by ifindex gives the same answer
    assert tool.ok("link", got["ifindex"]) == got


def test_link_bridge_and_down_device(bridge, tool):
    ns, peer = bridge
    br = tool.ok("link", "br0")
    assert br["kind"] == "bridge" and br["port_kind"] == "" and br["master"] == 0
    # peer down: p2 loses carrier, its operstate says why
    peer.ip("link set q2 down")
    p2 = tool.ok("link", "p2")
    assert p2["carrier"] is False
    assert p2["operstate"] in ("down", "lowerlayerdown")
    assert p2["flags"] & 0x1          # IFF_UP: still administratively up


def test_link_loopback(ns, tool):
    lo = tool.ok("link", "lo")
    assert lo["ifindex"] == 1 and lo["kind"] == "" and lo["mtu"] == 65536


def test_link_absent(ns, tool):
    assert tool.fails("link", "nosuch0") == "error: no device nosuch0"
    assert tool.fails("link", "4242") == "error: no device ifindex 4242"
    msg = tool.fails("link", "a-name-much-too-long")
    assert "device name 'a-name-much-too-long' is too long" in msg
