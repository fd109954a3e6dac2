# SPDX-License-Identifier: GPL-2.0
"""Just enough rtnetlink for the demo's observers: bridge FDB notifications
(who learned the VM's MAC where, and when) and per-device counters, each
from a socket opened inside a lab namespace.

A socket keeps the namespace it was created in, so each observer opens its
socket once (semilab.in_netns) and then reads or polls from any thread.
"""
import os
import socket
import struct
import time

import semilab

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
RTNLGRP_NEIGH = 3
AF_BRIDGE = 7
IFLA_IFNAME, IFLA_STATS64 = 3, 23
NDA_LLADDR, NDA_MASTER = 2, 9
NTF_SELF = 0x02
NUD_REACHABLE, NUD_STALE, NUD_NOARP, NUD_PERMANENT = 0x02, 0x04, 0x40, 0x80
STATS64 = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors",
           "tx_errors", "rx_dropped", "tx_dropped")

_seq = iter(range(1, 1 << 30))


def open_socket(ns, groups=0, rcvbuf=1 << 20):
    """A NETLINK_ROUTE socket that lives in namespace ns."""
    with semilab.in_netns(ns):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                          NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((0, groups))
    s.settimeout(2)
    return s


def attrs(buf, off, end):
    """rtattrs in buf[off:end] as {type: payload}."""
    out = {}
    while off + 4 <= end:
        alen, atype = struct.unpack_from("=HH", buf, off)
        if alen < 4:
            break
        out[atype & 0x3fff] = buf[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def messages(buf):
    """(type, flags, seq, payload offset, end) of each message in buf."""
    off = 0
    while off + 16 <= len(buf):
        mlen, mtype, mflags, mseq, _ = struct.unpack_from("=IHHII", buf, off)
        if mlen < 16:
            break
        yield mtype, mflags, mseq, off + 16, off + mlen
        off += (mlen + 3) & ~3


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def link_dump(s):
    """Every link of the socket's namespace: {ifindex: (name, stats64 dict)}."""
    seq = next(_seq)
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(body), RTM_GETLINK,
                       NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    links = {}
    while True:
        buf = s.recv(1 << 16)
        for mtype, _, mseq, off, end in messages(buf):
            if mseq != seq:
                continue
            if mtype == NLMSG_DONE:
                return links
            if mtype == NLMSG_ERROR:
                err = struct.unpack_from("=i", buf, off)[0]
                raise OSError(-err, f"link dump: {os.strerror(-err)}")
            if mtype != RTM_NEWLINK:
                continue
            ifindex = struct.unpack_from("=i", buf, off + 4)[0]
            a = attrs(buf, off + 16, end)
            name = a.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
            st = {}
            if IFLA_STATS64 in a:
                st = dict(zip(STATS64, struct.unpack_from("=8Q", a[IFLA_STATS64])))
            links[ifindex] = (name, st)


class FdbMonitor:
    """Bridge FDB changes for one MAC in one namespace, stamped on arrival
    (CLOCK_MONOTONIC, the clock of every other record of the demo)."""

    def __init__(self, ns, mac):
        self.ns, self.mac = ns, mac.lower()
        self.sock = open_socket(ns, groups=1 << (RTNLGRP_NEIGH - 1))
        s = open_socket(ns)
        try:
            self.names = {i: n for i, (n, _) in link_dump(s).items()}
        finally:
            s.close()
        self.events = []

    def _name(self, ifindex):
        if ifindex not in self.names:
            with semilab.in_netns(self.ns):
                try:
                    self.names[ifindex] = socket.if_indextoname(ifindex)
                except OSError:
                    return f"ifindex {ifindex}"
        return self.names[ifindex]

    def poll(self, timeout=0.05):
        """Read what arrived (up to timeout); append matching events."""
        self.sock.settimeout(timeout)
        try:
            buf = self.sock.recv(1 << 16)
        except (socket.timeout, BlockingIOError):
            return
        now = time.monotonic_ns()
        for mtype, _, _, off, end in messages(buf):
            if mtype not in (RTM_NEWNEIGH, RTM_DELNEIGH):
                continue
            family, ifindex, state, flags, _ = struct.unpack_from("=BxxxiHBB", buf, off)
            if family != AF_BRIDGE or flags & NTF_SELF:
                continue
            a = attrs(buf, off + 12, end)
            if mac_str(a.get(NDA_LLADDR, b"")) != self.mac:
                continue
            kind = "static" if state & (NUD_NOARP | NUD_PERMANENT) else "learned"
            self.events.append({"t_ns": now, "action": "new" if mtype == RTM_NEWNEIGH
                                else "del", "port": self._name(ifindex), "kind": kind})

    def close(self):
        self.sock.close()


def fdb_entries(ns, mac):
    """The bridge FDB entries of one MAC in namespace ns (bridge -j fdb)."""
    import json
    out = semilab.run(["bridge", "-j", "fdb", "show"], ns=ns)
    return [{"port": e["ifname"], "kind": "learned" if not e.get("state") else "static"}
            for e in json.loads(out or "[]")
            if e.get("mac", "").lower() == mac.lower() and "self" not in e.get("flags", [])]


RTM_SETLINK = 19
RTNLGRP_LINK = 1
IFLA_MASTER = 10
NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x4, 0x100, 0x400
NTF_MASTER, NTF_STICKY = 0x04, 0x40


def _ack(s, seq, what):
    while True:
        buf = s.recv(1 << 16)
        for mtype, _, mseq, off, _ in messages(buf):
            if mseq == seq and mtype == NLMSG_ERROR:
                err = struct.unpack_from("=i", buf, off)[0]
                if err:
                    raise OSError(-err, f"{what}: {os.strerror(-err)}")
                return


def set_master(s, ifindex, master):
    """ip link set dev IFINDEX master MASTER."""
    seq = next(_seq)
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, ifindex, 0, 0) + \
        struct.pack("=HHI", 8, IFLA_MASTER, master)
    s.send(struct.pack("=IHHII", 16 + len(body), RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK,
                       seq, 0) + body)
    _ack(s, seq, f"set master of ifindex {ifindex}")


def fdb_static(s, ifindex, mac):
    """bridge fdb replace MAC dev IFINDEX master static sticky."""
    seq = next(_seq)
    lladdr = bytes(int(x, 16) for x in mac.split(":"))
    body = struct.pack("=BxxxiHBB", AF_BRIDGE, ifindex, NUD_NOARP, NTF_MASTER | NTF_STICKY, 0) \
        + struct.pack("=HH", 10, NDA_LLADDR) + lladdr + b"\0\0"
    s.send(struct.pack("=IHHII", 16 + len(body), RTM_NEWNEIGH,
                       NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq, 0) + body)
    _ack(s, seq, f"static FDB entry {mac} on ifindex {ifindex}")


def join_when_created(ns, dev, bridge, mac, timeout=10):
    """Wait in namespace ns for dev to be created, then at once make it a
    port of bridge with a static, sticky entry for mac (a NIC's embedded
    switch knows its VF's MAC from the start).  Returns the monotonic time
    it was done; call it in a thread before whatever creates dev."""
    ev = open_socket(ns, groups=1 << (RTNLGRP_LINK - 1))
    ctl = open_socket(ns)
    try:
        master = next((i for i, (n, _) in link_dump(ctl).items() if n == bridge), None)
        if master is None:
            raise OSError(19, f"no bridge {bridge} in {ns}")
        deadline = time.monotonic() + timeout
        ifindex = next((i for i, (n, _) in link_dump(ctl).items() if n == dev), None)
        while ifindex is None:
            if time.monotonic() > deadline:
                raise OSError(110, f"{dev} did not appear in {ns}")
            ev.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                buf = ev.recv(1 << 16)
            except socket.timeout:
                continue
            for mtype, _, _, off, end in messages(buf):
                if mtype != RTM_NEWLINK:
                    continue
                idx = struct.unpack_from("=i", buf, off + 4)[0]
                a = attrs(buf, off + 16, end)
                if a.get(IFLA_IFNAME, b"").rstrip(b"\0").decode() == dev:
                    ifindex = idx
        set_master(ctl, ifindex, master)
        fdb_static(ctl, ifindex, mac)
        return time.monotonic_ns()
    finally:
        ev.close()
        ctl.close()


class UdpCounters:
    """The UDP counters of one namespace (/proc/net/snmp as its threads
    see it), read again on every call from the file opened there."""

    def __init__(self, ns):
        with semilab.in_netns(ns):
            self.f = open("/proc/thread-self/net/snmp")

    def read(self):
        self.f.seek(0)
        rows = [line.split() for line in self.f.read().splitlines() if line.startswith("Udp:")]
        return dict(zip(rows[0][1:], map(int, rows[1][1:])))

    def close(self):
        self.f.close()
