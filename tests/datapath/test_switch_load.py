# SPDX-License-Identifier: GPL-2.0
"""The atomic switch under load: flip the path back and forth while frames
stream at >= 1 Mpps; every frame must reach exactly one receiver.

    wire ns: up0p (semi-pktgen) --veth-- host ns: up0 (semi_uplink XDP + TC)
        port vmN: vf = vN --veth-- vNg (guest ns, semi-count)
                  "tap" = tN --veth-- tNg (guest ns, semi-count)

Both of a port's targets are veths here: a tap's reader is a user-space
process that cannot take 1 Mpps on this machine, and a frame it drops is
not the switch's loss.  Real taps are covered by test_lab.py.
"""
import json
import os
import signal
import subprocess
import time

import pytest

import netns

RATE = 1_500_000        # offered frames per second (>= 1 Mpps)
FLIPS = 1000


class LoadLab:
    def __init__(self, build, nports):
        self.build = build
        self.bin = lambda name: os.path.join(build, "bin", name)
        self.instance = netns.unique("sw")
        self.nports = nports
        self.objs = []
        self.wire = self._keep(netns.NetNS("sww"))
        self.host = self._keep(netns.NetNS("swh"))
        self.guest = self._keep(netns.NetNS("swg"))
        for ns in (self.wire, self.host, self.guest):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"])
        netns.veth(self.host, "up0", self.wire, "up0p")
        batch = []
        for i in range(nports):
            batch += [f"link add v{i} type veth peer name v{i}g netns {self.guest.name}",
                      f"link add t{i} type veth peer name t{i}g netns {self.guest.name}"]
        netns.run(["ip", "-n", self.host.name, "-b", "-"], input="\n".join(batch) + "\n")
        netns.run(["ip", "-n", self.host.name, "-b", "-"], input="".join(
            f"link set v{i} up\nlink set t{i} up\n" for i in range(nports)))
        netns.run(["ip", "-n", self.guest.name, "-b", "-"], input="".join(
            f"link set v{i}g up\nlink set t{i}g up\n" for i in range(nports)))
        self.counter = None

    def _keep(self, obj):
        self.objs.append(obj)
        return obj

    def mac(self, i):
        return f"52:54:00:{(i >> 16) & 0xff:02x}:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}"

    def dpctl(self, *args, **kw):
        return netns.run([self.bin("semi-dpctl"), "-i", self.instance, *args],
                         ns=self.host.name, **kw)

    def start_counter(self):
        # Every vf and tap peer in the guest namespace, by glob: one program,
        # one bpf_link per device, 2000 devices in well under a second.
        devs = ["--dev", f"{self.guest.name}:v*g", "--dev", f"{self.guest.name}:t*g"]
        self.counter = subprocess.Popen([self.bin("semi-count"), "-j", "-q", *devs],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.counter.stdout.readline().strip()
        assert line == "ready", f"semi-count: {line} {self.counter.stderr.read()}"

    def stop_counter(self):
        self.counter.send_signal(signal.SIGINT)
        out, err = self.counter.communicate(timeout=60)
        assert self.counter.returncode == 0, err
        return json.loads(out)

    def setup_ports(self):
        self.dpctl("load")
        self.dpctl("attach-uplink", "up0", "native")
        for i in range(self.nports):
            self.dpctl("port-put", f"p{i}", self.mac(i), "vf", f"v{i}", "tap", f"t{i}",
                       "path", "vf")
        ports = json.loads(self.dpctl("-j", "port-show"))
        assert len(ports) == self.nports
        # Both targets of every port take XDP frames: this is the XDP path.
        assert all(p["vf_xdp"] and p["tap_xdp"] for p in ports), ports[:2]

    def generator(self, seconds):
        return subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.wire.name}", self.bin("semi-pktgen"),
             "--dev", "up0p", "--dst-mac", self.mac(0), "--dst-count", str(self.nports),
             "--rate", str(RATE), "--duration", str(seconds), "--cpu", "0", "-j", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def close(self):
        if self.counter and self.counter.poll() is None:
            self.counter.kill()
            self.counter.communicate()
        netns.run([self.bin("semi-dpctl"), "-i", self.instance, "purge"], check=False)
        for obj in reversed(self.objs):
            obj.close()


def run_switch(build, nports, flip_args):
    lab = LoadLab(build, nports)
    try:
        lab.start_counter()     # XDP on the peers first: targets take XDP frames
        lab.setup_ports()
        # Traffic runs until the flips are over (however long they take
        # on a loaded machine), then stops: every flip happens under load.
        gen = lab.generator(seconds=120)
        time.sleep(0.5)
        t0 = time.monotonic()
        flipper = netns.run([lab.bin("semi-dpctl"), "-j", "-i", lab.instance, *flip_args],
                            ns=lab.host.name, timeout=120)
        flip_seconds = time.monotonic() - t0
        still_sending = gen.poll() is None
        time.sleep(0.3)
        gen.send_signal(signal.SIGINT)
        out, err = gen.communicate(timeout=60)
        assert gen.returncode == 0, err
        sent = json.loads(out)
        time.sleep(0.3)
        got = lab.stop_counter()
        report = {"sent": sent["sent"], "pps": round(sent["pps"]),
                  "received": got["total"], "unique": got["unique"],
                  "duplicates": got["duplicates"], "flips": json.loads(flipper)["flips"],
                  "flip_seconds": round(flip_seconds, 3),
                  "per_device": {d["ifname"]: d["frames"] for d in got["devices"]
                                 if d["frames"]} if nports <= 2 else None}
        print("switch under load:", json.dumps(report))
        assert still_sending, "the flips outlasted the traffic"
        assert sent["pps"] >= 1_000_000, report
        assert got["duplicates"] == 0, report
        assert got["total"] == got["unique"] == sent["sent"], report
        return got, report
    finally:
        lab.close()


def test_switch_1000_flips_under_load(build):
    got, report = run_switch(build, 1, ["flip", "p0", "vf", "tap", str(FLIPS), "2000"])
    per = {d["ifname"]: d["frames"] for d in got["devices"]}
    assert per["v0g"] > 0 and per["t0g"] > 0, report


def test_bulk_switch_1000_ports_under_load(build):
    got, report = run_switch(build, 1000, ["bulk-flip", "p", "1000", "vf", "tap",
                                           str(FLIPS), "1000"])
    vf = sum(d["frames"] for d in got["devices"] if d["ifname"].startswith("v"))
    tap = sum(d["frames"] for d in got["devices"] if d["ifname"].startswith("t"))
    assert vf > 0 and tap > 0, report
