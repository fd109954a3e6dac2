# SPDX-License-Identifier: GPL-2.0
"""Host bridge FDB: static entries added, replaced and removed idempotently,
checked with `bridge fdb show`."""
import json

MAC = "52:54:00:12:34:56"
OTHER = "52:54:00:12:34:57"


def fdb(ns, mac=MAC):
    """`bridge fdb show br br0` rows for mac: {port: [flags...]}."""
    rows = json.loads(ns.run(["bridge", "-j", "fdb", "show", "br", "br0"]))
    return {r["ifname"]: r.get("flags", []) + ([r["state"]] if r.get("state") else [])
            for r in rows if r["mac"] == mac}


def test_fdb_add_replace_del(bridge, tool):
    ns, _ = bridge
    tool.ok("fdb", "set", "p1", MAC)
    assert fdb(ns) == {"p1": ["static"]}
    assert f"{MAC} dev p1 master br0 static" in ns.run(["bridge", "fdb", "show", "br", "br0"])

    # add again without replace: refused, and the message says what to do
    msg = tool.fails("fdb", "set", "p1", MAC)
    assert msg == (f"error: cannot add FDB entry {MAC} -> p1 on br0: the bridge "
                   f"already has an entry for {MAC} (replace it instead)")

    # replace: idempotent on the same port, moves to another port
    tool.ok("fdb", "set", "p1", MAC, "replace")
    assert fdb(ns) == {"p1": ["static"]}
    tool.ok("fdb", "set", "p2", MAC, "replace")
    assert fdb(ns) == {"p2": ["static"]}

    # delete on the old port: no such entry there, success, p2 untouched
    tool.ok("fdb", "del", "p1", MAC)
    assert fdb(ns) == {"p2": ["static"]}
    tool.ok("fdb", "del", "p2", MAC)
    assert fdb(ns) == {}
    # and again: removing an absent entry is success
    tool.ok("fdb", "del", "p2", MAC)


def test_fdb_replace_learned_entry(bridge, tool, tool_in):
    """A MAC the bridge learned on p1 (the VM talked through the old path)
    becomes a static entry on p3 (the new path)."""
    ns, peer = bridge
    # the VM's MAC as source on q1 -> the bridge learns it on p1
    tool_in(peer).ok("announce", "q1", MAC)
    assert fdb(ns) == {"p1": []}
    msg = tool.fails("fdb", "set", "p3", MAC)      # add: the learned one exists
    assert "already has an entry" in msg
    tool.ok("fdb", "set", "p3", MAC, "replace")
    assert fdb(ns) == {"p3": ["static"]}


def test_fdb_list(bridge, tool):
    ns, _ = bridge
    tool.ok("fdb", "set", "p1", MAC)
    tool.ok("fdb", "set", "p2", OTHER)
    br0, p1, p2 = ns.ifindex("br0"), ns.ifindex("p1"), ns.ifindex("p2")

    rows = tool.ok("fdb", "list", "mac", MAC)
    assert rows == [{"mac": MAC, "vlan": 0, "ifindex": p1, "master": br0,
                     "state": 0x40, "flags": 0}]          # NUD_NOARP: static
    rows = tool.ok("fdb", "list", "br", "br0")
    ours = {(r["mac"], r["ifindex"]) for r in rows if r["state"] == 0x40}
    assert ours == {(MAC, p1), (OTHER, p2)}
    # every row belongs to br0
    assert all(r["master"] == br0 or r["ifindex"] == br0 for r in rows)
    # the ports' own MACs are there as local (permanent) entries
    p1_mac = json.loads(ns.ip("-j link show dev p1"))[0]["address"]
    assert any(r["mac"] == p1_mac and r["state"] == 0x80 for r in rows)

    assert tool.ok("fdb", "list", "br", "br0", "mac", "02:00:00:00:00:99") == []
    assert tool.fails("fdb", "list", "br", "p1") == "error: cannot list the FDB of p1: p1 is not a bridge"
    assert tool.fails("fdb", "list", "br", "nosuch") == "error: cannot list the FDB of nosuch: no device nosuch"


def test_fdb_vlan_needs_vlan_filtering(bridge, tool):
    """This kernel has no VLAN filtering: a VLAN entry is refused, and the
    message says which VLAN, which port and what to check."""
    ns, _ = bridge
    msg = tool.fails("fdb", "set", "p1", MAC, "vlan", 10, "replace")
    assert msg.startswith(f"error: cannot replace FDB entry {MAC} vlan 10 -> p1 on br0: ")
    assert "VLAN 10" in msg and "br0" in msg
    assert fdb(ns) == {}
    msg = tool.fails("fdb", "set", "p1", MAC, "vlan", 4095)
    assert "VLAN 4095 is out of range" in msg
    # deleting a VLAN entry that cannot exist is still success
    tool.ok("fdb", "del", "p1", MAC, "vlan", 10)


def test_fdb_errors_name_the_device(bridge, tool):
    ns, peer = bridge
    ns.ip("link add lone type veth peer name lone-peer")
    assert (tool.fails("fdb", "set", "nosuch", MAC) ==
            f"error: cannot add FDB entry {MAC} -> nosuch: no device nosuch")
    assert (tool.fails("fdb", "set", "lone", MAC, "replace") ==
            f"error: cannot replace FDB entry {MAC} -> lone: lone is not a bridge port")
    # removal from a port that is gone or not in a bridge: nothing to remove
    tool.ok("fdb", "del", "nosuch", MAC)
    tool.ok("fdb", "del", "lone", MAC)


def test_fdb_entry_goes_with_the_port(bridge, tool):
    ns, _ = bridge
    tool.ok("fdb", "set", "p3", MAC)
    ns.ip("link del p3")
    assert fdb(ns) == {}
    tool.ok("fdb", "del", "p3", MAC)
