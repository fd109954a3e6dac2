# SPDX-License-Identifier: GPL-2.0
"""The next hop towards an address and its link-layer address, from the
kernel's route and neighbour tables; resolved on demand (NTF_USE)."""
import json
import time

import netns


def peer_pair(ns):
    """ns: veth v1 10.9.0.1/24 (and 2001:db8:9::1/64) to a peer namespace
    with v2 10.9.0.2 (2001:db8:9::2); a route to 10.8.0.0/24 via the peer."""
    peer = netns.NetNS(f"{ns.name}-nh")
    try:
        for n in (ns, peer):
            n.run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"])
        netns.veth(ns, "v1", peer, "v2")
        ns.ip("addr add 10.9.0.1/24 dev v1")
        ns.ip("addr add 2001:db8:9::1/64 dev v1 nodad")
        peer.ip("addr add 10.9.0.2/24 dev v2")
        peer.ip("addr add 2001:db8:9::2/64 dev v2 nodad")
        ns.ip("route add 10.8.0.0/24 via 10.9.0.2")
    except Exception:
        peer.close()
        raise
    return peer


def resolve(tool, addr, tries=200):
    """Ask until resolved (the first ask starts the resolution)."""
    first = tool.ok("nexthop", addr)
    r = first
    while not r["resolved"] and tries:
        time.sleep(0.005)
        tries -= 1
        r = tool.ok("nexthop", addr)
    return first, r


def test_nexthop_on_link_resolves(ns, tool):
    peer = peer_pair(ns)
    try:
        mac = json.loads(peer.run(["ip", "-j", "link", "show", "v2"]))[0]["address"]
        first, r = resolve(tool, "10.9.0.2")
        assert not first["resolved"] and first["mac"] == "00:00:00:00:00:00", first
        assert r["resolved"] and r["mac"] == mac, r
        assert (r["gateway"], r["prefsrc"], r["ifindex"]) == ("10.9.0.2", "10.9.0.1",
                                                               ns.ifindex("v1"))
        # the kernel keeps the entry: asked again, answered at once
        assert tool.ok("nexthop", "10.9.0.2")["resolved"]
        _, r6 = resolve(tool, "2001:db8:9::2")
        assert r6["resolved"] and r6["mac"] == mac, r6
    finally:
        peer.close()


def test_nexthop_through_a_gateway(ns, tool):
    peer = peer_pair(ns)
    try:
        _, r = resolve(tool, "10.8.0.7")
        assert r["resolved"] and r["gateway"] == "10.9.0.2", r
    finally:
        peer.close()


def test_nexthop_unreachable(ns, tool):
    peer = peer_pair(ns)
    try:
        assert tool.fails("nexthop", "10.7.0.7") == "error: no route to 10.7.0.7"
        assert "is not reached through a device" in tool.fails("nexthop", "10.9.0.1")
        # no one answers: never resolved, and the kernel says it tried
        r = tool.ok("nexthop", "10.9.0.99")
        assert not r["resolved"]
        assert "10.9.0.99 dev v1" in ns.run(["ip", "neigh", "show", "10.9.0.99"])
    finally:
        peer.close()
