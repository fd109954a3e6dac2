# SPDX-License-Identifier: GPL-2.0
"""Helpers for the live-migration tests: the two-host lab (tests/lab) with
one semi-netd per host (its "daemons" step), and the moves of a migration
done the way QEMU and libvirt do them.

    m = Mig(build, name)            # lab up, daemons, vm1's port on hostA
    m.j("hostB", "migrate", "in", ...)
    m.relay_incoming("hostB")       # QEMU -incoming on hostB holds its tap
    m.unplug()                      # the VF goes, as at UNPLUG_PRIMARY
    m.relay_handoff()               # the VM leaves hostA's relay for hostB's
    m.plug("hostB")                 # a VF appears on hostB, as a real guest takes it

Everything is named after the lab; Mig.close() takes it down and says what
is left, and whether a daemon's log has a sanitizer report.
"""
import contextlib
import json
import os
import signal
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lab"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import netns  # noqa: E402
import semilab  # noqa: E402
from semilab import Lines  # noqa: E402

VM = "vm1"
HOSTS = ("hostA", "hostB")
LABELS = ["-L", "1=vf", "-L", "2=virtio"]
def other(host):
    return HOSTS[1] if host == HOSTS[0] else HOSTS[0]


class Mig:
    """A lab with vm1 on hostA (its VF plugged), a semi-netd per host and
    vm1's port added on hostA; config goes into both daemons' files."""

    def __init__(self, build, name, config=None, vf=True, fabric_xdp=True):
        self.build = build
        self.lab = semilab.Lab(name, vms=1, build=build, vf=vf, daemons=True,
                               daemon_config=config, fabric_xdp=fabric_xdp)
        self.lab.up()
        self.g = self.lab.guest(VM)
        self.mac = self.g["mac"]
        self.lab.pin_neigh("client", VM)
        self.lab.pin_neigh(VM, "client")

    # -- the daemons ---------------------------------------------------------

    def ctl(self, host, *args, check=0):
        return self.lab.netctl(host, *args, check=check)

    def j(self, host, *args):
        return self.lab.netctl(host, *args, json_out=True)

    def req(self, host, cmd, **args):
        """One request on the socket, no semi-netctl process: for steps
        whose timing matters (the VM is paused)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(self.lab.host(host)["daemon"]["socket"])
            s.sendall((json.dumps({"cmd": cmd, "args": args}) + "\n").encode())
            rep = Lines(s).next_reply()
        finally:
            s.close()
        assert rep["ok"], (host, cmd, args, rep)
        return rep["result"]

    def port(self, host):
        for p in self.j(host, "port", "show")["ports"]:
            if p["name"] == VM:
                return p
        return None

    def state(self, host):
        p = self.port(host)
        return p["state"] if p else None

    def wait_state(self, host, want, timeout=10):
        self.lab.wait_for(f"{VM} {want or 'gone'} on {host}",
                          lambda: self.state(host) == want, timeout=timeout)

    def stats(self, host):
        return self.j(host, "stats", VM)["ports"][0]

    def instance_stats(self, host):
        return self.j(host, "stats")["instance"]

    def uplink_flags(self, host):
        """semi_ctl.uplink_flags of host's datapath (1: XDP_TX works)."""
        dm = self.lab.host(host)["daemon"]
        pin = os.path.join(dm["pin_root"], dm["instance"], "semi_ctl")
        out = json.loads(self.lab.exec(host, ["bpftool", "-j", "map", "dump", "pinned", pin]))
        return out[0]["formatted"]["value"]["uplink_flags"] if "formatted" in out[0] \
            else out[0]["value"]["uplink_flags"]

    def daemon_log(self, host):
        try:
            with open(self.lab.host(host)["daemon"]["log"]) as f:
                return f.read()
        except OSError:
            return ""

    def watch(self, host):
        """A watch on host's daemon (events of vm1, no counters)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.lab.host(host)["daemon"]["socket"])
        s.sendall(b'{"cmd":"watch","args":{"port":"vm1","stats":false}}\n')
        r = Lines(s)
        assert r.next()["ok"]
        return s, r

    def kill9(self, host):
        """kill -9 host's semi-netd (the datapath goes on)."""
        p = self.lab.state["procs"].pop(f"semi-netd-{host}")
        os.kill(p["pid"], signal.SIGKILL)
        pop = self.lab._popens.pop(f"semi-netd-{host}", None)
        if pop is not None:
            pop.wait(10)
        self.lab.save()

    def start(self, host):
        """Start host's semi-netd again, as the lab's step did."""
        self.lab.daemon_start(host)

    # -- bridges ---------------------------------------------------------------

    def fdb(self, node):
        """Where the node's bridge sends vm1's MAC: {device: [flags]}."""
        ns = self.lab.ns(node)
        br = "sw0" if node == "fabric" else self.lab.host(node)["bridge"]
        rows = json.loads(semilab.run(["bridge", "-j", "fdb", "show", "br", br], ns=ns))
        return {r["ifname"]: r.get("flags", []) + ([r["state"]] if r.get("state") else [])
                for r in rows if r["mac"] == self.mac}

    def tap_floods(self, host):
        """The tap's bridge-port flood flags: {flood, mcast_flood, bcast_flood}."""
        out = json.loads(semilab.run(["bridge", "-d", "-j", "link", "show", "dev",
                                      self.g["tap"]], ns=self.lab.ns(host)))[0]
        return {k: out.get(k) for k in ("flood", "mcast_flood", "bcast_flood")}

    # -- the guest's traffic ---------------------------------------------------

    def guest_sends(self, n=100):
        """vm1 -> client: a VF that waits in handover sees the guest's frames."""
        rx = self.lab.meter_recv("client", args=["-t", "1"])
        self.lab.meter_send(VM, self.lab.endpoint("client")["ipv4"], 10000, count=n).result()
        return rx.result()["rx"]

    def assigned(self, host="hostA"):
        self.guest_sends()
        self.wait_state(host, "assigned")

    def queues(self, n=65536):
        """Taps that can hold a stop-and-copy's frames: the guest's virtio
        interface and vm1's tap on each host (QEMU's tap queue is its
        txqueuelen; the lab's default 500 holds 5 ms at 100 kpps)."""
        for h in HOSTS:
            semilab.ip_batch(self.lab.ns(h), [f"link set dev {self.g['tap']} txqueuelen {n}"])
        semilab.ip_batch(self.g["ns"], [f"link set dev {self.g['virtio']} txqueuelen {n}"])

    def virtio_queued(self):
        """Frames the guest handed to its virtio interface that QEMU (the
        relay) has not read yet."""
        gs = self.lab.guest_stats(VM)
        ls = self.lab.link_stats(VM, self.g["virtio"])
        sent = (gs["tx_virtio"]["packets"] + gs["tx_virtio_vf_down"]["packets"] +
                gs["tx_virtio_vf_gone"]["packets"])
        return sent - ls["tx_packets"] - ls["tx_dropped"]

    # -- the VF ----------------------------------------------------------------

    def unplug(self):
        """QEMU's unplug of the VF (lab.unplug_now, in one go).  Returns
        when the request was made."""
        return self.lab.unplug_now(VM)[0]

    def plug(self, host, before_guest=None):
        """A VF for vm1 from host, taken by the guest as a real net_failover
        does (lab.plug_failover); before_guest() is where `port set --vf`
        goes.  Returns the instant the guest registered it."""
        return self.lab.plug_failover(VM, host, before_guest)

    # -- QEMU's relay ------------------------------------------------------------

    def relay_incoming(self, host):
        """QEMU -incoming on host holds vm1's tap there from now on."""
        self.lab.relay_incoming(VM, host)

    def relay_handoff(self):
        """The VM leaves the source's relay for the waiting one."""
        self.lab.relay_handoff(VM)

    # -- the tunnel ------------------------------------------------------------------

    def send_vxlan(self, host, outer_src, inner_dst=None, n=1):
        """n VXLAN frames (UDP 4789, VNI 0) to host's tunnel address, sent
        by the client with outer source address outer_src, around a UDP
        frame for inner_dst (default vm1's MAC)."""
        c = self.lab.topo["client"]
        inner = (mac_bytes(inner_dst or self.mac) + mac_bytes(c["mac"]) + b"\x08\x00" +
                 ipv4_udp(semilab.strip_len(c["ipv4"]), semilab.strip_len(self.g["ipv4"]),
                          40000, 9, b"semi-net tunnel test"))
        self.send_udp(host, outer_src, 4789, struct.pack("!II", 0x08000000, 0) + inner, n)

    def send_udp(self, host, src, dport, payload, n=1):
        """n UDP datagrams to host's underlay address, sent by the client
        (raw, on its wire) with source address src."""
        h, c = self.lab.host(host), self.lab.topo["client"]
        frame = (mac_bytes(h["bridge_mac"]) + mac_bytes(c["mac"]) + b"\x08\x00" +
                 ipv4_udp(src, semilab.strip_len(h["ipv4"]), 49152, dport, payload))
        with netns.open_in(c["ns"]):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((c["dev"], 0))
            for _ in range(n):
                s.send(frame)
        finally:
            s.close()

    # -- the end -------------------------------------------------------------------

    def close(self, failed):
        # The daemons stop first: a leak report comes at their exit.
        for h in HOSTS:
            self.lab.stop_proc(f"semi-netd-{h}")
        logs = {h: self.daemon_log(h) for h in HOSTS}
        if failed:
            print(self.lab.describe())
            for h in HOSTS:
                print(f"---- semi-netd {h} log:\n{logs[h]}")
        self.lab.down()
        with contextlib.suppress(OSError):
            os.rmdir(semilab.DAEMON_PIN_ROOT)
        san = [f"{h}: {semilab.sanitizer_report(logs[h])}" for h in HOSTS
               if semilab.sanitizer_report(logs[h])]
        return self.lab.leftovers(), san


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def ipv4_udp(src, dst, sport, dport, payload):
    """An IPv4 header (checksum filled) and a UDP header (no checksum)."""
    ulen = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    csum = sum(struct.unpack("!10H", ip))
    csum = (csum & 0xffff) + (csum >> 16)
    csum = ~((csum & 0xffff) + (csum >> 16)) & 0xffff
    ip = ip[:10] + struct.pack("!H", csum) + ip[12:]
    return ip + struct.pack("!HHHH", sport, dport, ulen, 0) + payload


def by_window(runs, total, rate, start_ns, windows, lag_ns=0, margin_ms=40):
    """Place runs of frames ([first, last] sequence numbers, as semi-meter
    lists lost and duplicated ones) in named windows {name: (t0, t1)}
    (CLOCK_MONOTONIC ns) by when their frames left the sender: due at
    start_ns + seq / rate, and no later than lag_ns after that (how far
    behind its schedule the sender fell, at most); a run goes to the first
    window within margin_ms of that.  Runs near no window are "other", and
    so are frames beyond the runs listed (total: all the frames).  Returns
    {name: frames}."""
    out = {name: 0 for name in windows}
    out["other"] = 0
    m = margin_ms * 1e6
    for first, last in runs:
        sent0 = start_ns + first * 1e9 / rate
        sent1 = start_ns + last * 1e9 / rate + lag_ns
        name = next((n for n, (a, b) in windows.items() if sent0 <= b + m and sent1 >= a - m),
                    "other")
        out[name] += last - first + 1
    out["other"] += total - sum(b - a + 1 for a, b in runs)
    return out


def lost_by_window(rx, rate, start_ns, windows, lag_ns=0):
    """The receiver's lost frames by window (see by_window)."""
    return by_window(rx["lost_runs"], rx["lost"], rate, start_ns, windows, lag_ns)


def dup_by_window(rx, rate, start_ns, windows, lag_ns=0):
    """The receiver's duplicated frames by window (see by_window)."""
    return by_window(rx["dup_runs"], rx["duplicated"], rate, start_ns, windows, lag_ns)
