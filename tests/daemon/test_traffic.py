# SPDX-License-Identifier: GPL-2.0
"""semi-netd under traffic, outside the lab.

* The operator's switch to tap and back, measured by semi-meter in a plain
  guest that takes frames from either device (no net_failover: a frame it
  gets twice is counted twice, one it never gets is lost), through a real
  tap and tap-relay:

    client ns: c0 --veth-- host ns: up0 (uplink)   vf1 --veth-- guest ns: vf1g  192.0.2.11
                                     tap1 <-- tap-relay --> guest ns: virtio0 192.0.2.11

* kill -9 of semi-netd at 500 kpps (semi-pktgen into the uplink, semi-count
  on the VF's peer): not one frame lost, and the restarted daemon shows
  the same ports and counters.
"""
import json
import os
import signal
import subprocess
import time

import pytest

import netns

MAC = "52:54:00:00:00:11"
GUEST_IP, CLIENT_IP = "192.0.2.11", "192.0.2.100"


class PlainGuest:
    def __init__(self, build):
        self.build = build
        self.objs, self.procs = [], []
        self.client = self._keep(netns.NetNS("pc"))
        self.host = self._keep(netns.NetNS("ph"))
        self.guest = self._keep(netns.NetNS("pg"))
        for ns in (self.client, self.host, self.guest):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0"])
        netns.veth(self.host, "up0", self.client, "c0")
        netns.veth(self.host, "vf1", self.guest, "vf1g")
        self.client.ip(f"addr add {CLIENT_IP}/24 dev c0")
        self.client.ip(f"neigh replace {GUEST_IP} lladdr {MAC} dev c0 nud permanent")
        self.client.run(["ethtool", "-K", "c0", "tx", "off", "gso", "off"])
        self.guest.ip(f"link set vf1g address {MAC}")
        self.guest.ip(f"addr add {GUEST_IP}/24 dev vf1g")
        self.guest.run(["ethtool", "-K", "vf1g", "gro", "on"])
        self.host.ip("tuntap add tap1 mode tap")
        self.host.ip("link set tap1 up")
        self.guest.ip("tuntap add virtio0 mode tap")
        self.guest.ip(f"link set virtio0 address {MAC} up")
        self.guest.ip(f"addr add {GUEST_IP}/24 dev virtio0")
        self.relay_dir = None

    def _keep(self, o):
        self.objs.append(o)
        return o

    def bin(self, name):
        return os.path.join(self.build, "bin", name)

    def start_relay(self, tmpdir):
        pidfile = os.path.join(tmpdir, "relay.pid")
        p = subprocess.Popen([self.bin("tap-relay"), "-n", self.host.name, "-t", "tap1",
                              "-N", self.guest.name, "-g", "virtio0", "-p", pidfile],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        deadline = time.monotonic() + 10
        while not os.path.exists(pidfile):
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
            time.sleep(0.005)

    def meter(self, *args, ns):
        p = subprocess.Popen([self.bin("semi-meter"), args[0], "-n", ns.name, *args[1:]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for o in reversed(self.objs):
            o.close()


@pytest.fixture
def plain(build):
    g = PlainGuest(build)
    yield g
    g.close()


def wait_listening(p):
    line = p.stderr.readline()
    assert "listening on" in line, line + p.stderr.read()


def test_switch_to_tap_and_back_under_meter(plain, netd, tmp_path):
    plain.start_relay(str(tmp_path))
    d = netd(plain.host, uplink="up0")
    d.ctl("port", "add", "vm1", "--mac", MAC, "--vf", "vf1", "--tap", "tap1", check=0)
    d.ctl("switch", "vm1", "vf", check=0)
    rate, seconds, flips = 20000, 3, 10
    rx = plain.meter("recv", "-j", "-t", "1", ns=plain.guest)
    wait_listening(rx)
    tx = plain.meter("send", GUEST_IP, "-j", "-r", str(rate), "-c", str(rate * seconds),
                     ns=plain.client)
    time.sleep(0.3)
    for _ in range(flips):
        d.ctl("switch", "vm1", "tap", check=0)
        time.sleep(0.1)
        d.ctl("switch", "vm1", "vf", check=0)
        time.sleep(0.1)
    out, err = tx.communicate(timeout=60)
    assert tx.returncode == 0, err
    out, err = rx.communicate(timeout=60)
    r = json.loads(out)["rx"]
    print(f"switch tap/vf x{flips} at {rate} pps: sent {r['sent']} received {r['received']} "
          f"lost {r['lost']} duplicated {r['duplicated']} reordered {r.get('reordered')} "
          f"paths {r['paths']}")
    assert (r["sent"], r["lost"], r["duplicated"]) == (rate * seconds, 0, 0), r
    assert r["received"] == r["sent"]
    assert set(r["paths"]) == {"vf1g", "virtio0"}, r["paths"]
    st = d.j("stats", "vm1")["ports"][0]
    assert st["rx"]["vf"]["packets"] + st["rx"]["tap"]["packets"] >= r["sent"]


RATE_KILL = 500_000


@pytest.fixture
def loadlab():
    """wire (generator) -- host (uplink up0; v0, t0) -- guest (v0g, t0g)."""
    objs = [netns.NetNS(r) for r in ("kw", "kh", "kg")]
    wire, hostns, guest = objs
    try:
        for ns in objs:
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"])
        netns.veth(hostns, "up0", wire, "up0p")
        netns.veth(hostns, "v0", guest, "v0g")
        netns.veth(hostns, "t0", guest, "t0g")
        yield wire, hostns, guest
    finally:
        for ns in reversed(objs):
            ns.close()


def test_kill9_at_500kpps_loses_nothing(build, loadlab, netd):
    wire, hostns, guest = loadlab
    counter = gen = None
    try:
        # The receivers first: their XDP makes the veths take XDP frames.
        counter = subprocess.Popen([os.path.join(build, "bin", "semi-count"), "-j", "-q",
                                    "--dev", f"{guest.name}:v0g", "--dev", f"{guest.name}:t0g"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert counter.stdout.readline().strip() == "ready", counter.stderr.read()
        d = netd(hostns, uplink="up0", uplink_xdp="native")
        d.ctl("port", "add", "p0", "--mac", MAC, "--vf", "v0", "--tap", "t0", check=0)
        d.ctl("switch", "p0", "vf", check=0)
        port = d.port("p0")
        assert port["vf"]["xdp"] is True and port["path"] == "vf"
        before_show = d.j("port", "show")
        gen = subprocess.Popen(["nsenter", f"--net=/run/netns/{wire.name}",
                                os.path.join(build, "bin", "semi-pktgen"), "--dev", "up0p",
                                "--dst-mac", MAC, "--rate", str(RATE_KILL), "--duration", "4",
                                "--cpu", "0", "-j", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Kill only once frames are flowing (the generator's start-up takes
        # a while under the sanitizers).
        deadline = time.monotonic() + 20
        mid = 0
        while mid == 0 and time.monotonic() < deadline and gen.poll() is None:
            time.sleep(0.05)
            mid = d.j("stats", "p0")["ports"][0]["rx"]["vf"]["packets"]
        d.kill9()
        time.sleep(0.5)                      # no daemon at all for a while
        t0 = time.monotonic()
        d.start()
        restart_s = time.monotonic() - t0
        after_show = d.j("port", "show")
        still_sending = gen.poll() is None
        out, err = gen.communicate(timeout=60)
        assert gen.returncode == 0, err
        sent = json.loads(out)
        time.sleep(0.3)
        counter.send_signal(signal.SIGINT)
        cout, cerr = counter.communicate(timeout=60)
        assert counter.returncode == 0, cerr
        got = json.loads(cout)
        final = d.j("stats", "p0")["ports"][0]
        report = {"sent": sent["sent"], "pps": round(sent["pps"]), "received": got["total"],
                  "unique": got["unique"], "duplicates": got["duplicates"],
                  "counted_before_kill": mid, "rx_vf_counter": final["rx"]["vf"]["packets"],
                  "restart_s": round(restart_s, 3)}
        print("kill -9 under load:", json.dumps(report))
        assert still_sending, "the restart outlasted the traffic"
        assert sent["pps"] >= 0.95 * RATE_KILL, report
        assert got["duplicates"] == 0, report
        assert got["total"] == got["unique"] == sent["sent"], report
        # The restarted daemon: the same ports, and the datapath's counters.
        strip = lambda s: [{k: v for k, v in p.items() if k != "stats"} for p in s["ports"]]
        assert strip(after_show) == strip(before_show)
        assert final["rx"]["vf"]["packets"] == sent["sent"] > mid > 0, report
    finally:
        if gen is not None and gen.poll() is None:
            gen.kill()
            gen.communicate()
        if counter is not None and counter.poll() is None:
            counter.kill()
            counter.communicate()
