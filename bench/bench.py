# SPDX-License-Identifier: GPL-2.0
"""semi-net benchmarks (issue 6): `make bench` -> bench/run.sh -> here.

Every figure is measured against a baseline in the same run, on topologies
this script builds from network namespaces and veths (and real taps), with
semi-pktgen as the fabric and semi-count / semi-dpbench as the receivers.
The machine is shared and noisy: absolute figures drift, ratios hold, so
every throughput figure is the median of --runs runs, taken round-robin
(one run of each figure per round) so that drift hits all of them alike.

Sections (each one a function in SECTIONS; the daemon and migration issues
add theirs the same way):
  throughput  2. 64-byte frames, one core: semi_uplink to the vf and tap
              paths, a bare devmap redirect, the Linux bridge, real taps
              read by a user-space reader, the emulated path through the relay
  cost        3. ns per frame of each program, BPF_PROG_RUN repeat
  switch      4. library path switch under 1 Mpps: latency, loss, duplicates
  ctl_switch  4. the same switch through semi-netd: its socket, semi-netctl
  migration   5. 10 live migrations under 100 kpps each way, semi-net and the
              QEMU-style comparison (tests/demo's driver), a timeline plot
  bulk        4. bulk switch of 4096 ports: time, latency, loss
  scale       6. semi-netd at 4096 ports: add, status, RSS, map memory

bulk and scale share one topology of 4096 ports (8192 veth pairs), made
once and deleted at the end of the run: the kernel takes tens of seconds
of rtnl to delete that many devices, which would disturb what follows.

Output: a table on the terminal, JSON (build/bench/results.json), and with
--write-docs docs/BENCHMARKS.md plus docs/bench-throughput.svg and
docs/bench-migration.svg.
"""
import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "daemon"))

import netns  # noqa: E402
from netdlib import Lines, Netd  # noqa: E402


GEN_CPU = 0             # generator, and with it every softirq of the datapath
AUX_CPU = 1             # user-space readers (tap sink, relay) and the switcher


def make_ns(role):
    n = netns.NetNS(role)
    n.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1"])
    return n


class Shared:
    """What more than one section uses, made once per run and removed at
    its end: the topology of many ports (bulk, scale)."""

    def __init__(self):
        self.objs = []
        self.many = None

    def many_ports(self, b, n):
        """wire (up0p) -- host (up0; vK, tK for K < n) -- guest (vKg, tKg)."""
        if self.many and self.many[0] >= n:
            return self.many[1]
        w, h, g = make_ns("kw"), make_ns("kh"), make_ns("kg")
        self.objs += [w, h, g]
        netns.veth(h, "up0", w, "up0p")
        t0 = time.monotonic()
        for part in range(0, n, 1024):
            rng = range(part, min(n, part + 1024))
            netns.run(["ip", "-n", h.name, "-b", "-"], input="".join(
                f"link add v{i} type veth peer name v{i}g netns {g.name}\n"
                f"link add t{i} type veth peer name t{i}g netns {g.name}\n" for i in rng),
                timeout=600)
            netns.run(["ip", "-n", h.name, "-b", "-"], input="".join(
                f"link set v{i} up\nlink set t{i} up\n" for i in rng), timeout=600)
            netns.run(["ip", "-n", g.name, "-b", "-"], input="".join(
                f"link set v{i}g up\nlink set t{i}g up\n" for i in rng), timeout=600)
        b.log(f"{2 * n} veth pairs for {n} ports in {time.monotonic() - t0:.1f} s")
        self.many = (n, (w, h, g))
        return w, h, g

    def close(self):
        for o in reversed(self.objs):
            o.close()
        self.objs = []
        self.many = None


class Bench:
    def __init__(self, build, args, shared=None):
        self.build = build
        self.args = args
        self.shared = shared or Shared()
        self.procs = []
        self.objs = []
        self.instances = []
        self.instance_ns = {}
        self.daemons = []
        self.results = {}

    # ---- plumbing ----

    def bin(self, name):
        return os.path.join(self.build, "bin", name)

    def ns(self, role):
        n = make_ns(role)
        self.objs.append(n)
        return n

    def netd(self, ns, config, cpu=None):
        """A semi-netd in ns (tests/daemon's Netd: own instance, socket,
        state file in a temporary folder), started; on cpu if given."""
        d = Netd(self.build, ns, config=config)
        self.daemons.append(d)
        try:
            d.start()
        except AssertionError as e:
            raise RuntimeError(str(e)) from None
        if cpu is not None:
            subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(d.proc.pid)],
                           check=True, capture_output=True)
        return d

    def drop_netd(self, d):
        """Stop d and remove its instance, pins and files."""
        self.daemons.remove(d)
        problems, text = d.cleanup()
        if problems:
            raise RuntimeError("; ".join(problems) + "\n" + text[-2000:])

    def log(self, msg):
        if not self.args.quiet:
            print(f"bench: {msg}", file=sys.stderr, flush=True)

    def start(self, cmd, ns=None, cpu=None, ready="ready", pidfile=None):
        """A long-running tool whose first line is 'ready' (or that writes
        pidfile once it is ready)."""
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        if ns is not None:
            cmd = ["nsenter", f"--net=/run/netns/{ns.name}", "--"] + cmd
        cmd = [str(c) for c in cmd]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.cmdline = " ".join(cmd)
        self.procs.append(p)
        if pidfile:
            end = time.monotonic() + 30
            while not os.path.exists(pidfile) and p.poll() is None and time.monotonic() < end:
                time.sleep(0.02)
            if not os.path.exists(pidfile):
                self.kill(p)
                raise RuntimeError(f"{p.cmdline}: not ready: {p.err_text}")
        else:
            self.expect_line(p, ready, 60)
        return p

    def expect_line(self, p, want, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            line = p.stdout.readline()
            if not line:
                break
            if line.strip() == want:
                return
        self.kill(p)
        raise RuntimeError(f"{p.cmdline}: no '{want}': {p.err_text}")

    def finish(self, p, sig=signal.SIGINT, timeout=120, parse=True):
        """Stop a tool (signal, or None: EOF on stdin); its JSON result."""
        if sig is None:
            p.stdin.close()
            p.stdin = None
        else:
            p.send_signal(sig)
        out, err = p.communicate(timeout=timeout)
        self.procs.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"{p.cmdline} exited {p.returncode}: {err.strip()}")
        return json.loads(out.strip().splitlines()[-1]) if parse else None

    def kill(self, p):
        if p in self.procs:
            self.procs.remove(p)
        try:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        except Exception as e:  # teardown goes on whatever happens
            print(f"bench: cannot reap {p.cmdline}: {e}", file=sys.stderr)
        p.err_text = ""
        try:
            if p.stderr:
                p.err_text = p.stderr.read().strip()
        except Exception:
            pass
        for f in (p.stdin, p.stdout, p.stderr):
            try:
                if f:
                    f.close()
            except Exception:
                pass

    def pktgen(self, ns, *args, background=False):
        cmd = ["nsenter", f"--net=/run/netns/{ns.name}", "--", self.bin("semi-pktgen"),
               "-j", "-q", "--cpu", str(GEN_CPU)] + [str(a) for a in args]
        if background:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            p.cmdline = " ".join(cmd)
            self.procs.append(p)
            return p
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def counter(self, *devs):
        args = []
        for d in devs:
            args += ["--dev", d]
        return self.start([self.bin("semi-count"), "-j", "-q"] + args)

    def dpctl(self, ns, inst, *args):
        # Purged in its namespace at the end (its attachments are by ifindex).
        self.instance_ns.setdefault(inst, ns.name)
        return netns.run([self.bin("semi-dpctl"), "-i", inst] + [str(a) for a in args],
                         ns=ns.name)

    def tmpdir(self):
        if not getattr(self, "_tmp", None):
            self._tmp = tempfile.mkdtemp(prefix="semi-bench-")
        return self._tmp

    def instance(self, role):
        inst = netns.unique(role)
        self.instances.append(inst)
        return inst

    def close(self):
        for p in list(self.procs):
            self.kill(p)
        self.procs = []
        for inst in self.instances:
            netns.run([self.bin("semi-dpctl"), "-i", inst, "purge"], check=False,
                      ns=self.instance_ns.get(inst))
        for d in self.daemons:
            problems, _ = d.cleanup()
            for p in problems:
                print(f"bench: {p}", file=sys.stderr)
        self.daemons = []
        for o in reversed(self.objs):
            o.close()
        self.objs = []
        if getattr(self, "_tmp", None):
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @staticmethod
    def mac(i, base=0x525400000000):
        v = base + i
        return ":".join(f"{(v >> s) & 0xff:02x}" for s in range(40, -8, -8))


# ---- 2. throughput ----------------------------------------------------------

FIGURES = [
    # key, label, what it is
    ("a", "semi_uplink -> vf", "semi_uplink XDP, port on path vf (veth, XDP receiver)"),
    ("b", "semi_uplink -> tap path", "semi_uplink XDP, port on path tap (a veth in the tap's role, XDP receiver)"),
    ("c", "bare devmap redirect", "XDP program that redirects every frame to devmap slot 0"),
    ("d", "Linux bridge", "bridge forwarding to a veth, same receiver (static FDB entry)"),
    ("b_tap", "semi_uplink -> real tap", "semi_uplink XDP into a real tap, read by a user-space reader (one read() per frame, like QEMU) on the second core"),
    ("d_tap", "bridge -> real tap", "bridge into a real tap, same reader"),
    ("e", "emulated path via relay", "semi_uplink -> real tap -> tap-relay (QEMU's part, second core) -> guest's tap, counted there by XDP"),
]


def throughput(b):
    a = b.args
    n = a.frames
    w, h, g = b.ns("tw"), b.ns("th"), b.ns("tg")
    netns.veth(h, "up0", w, "up0p")
    for i in range(4):
        netns.veth(h, f"v{i}", g, f"v{i}g")
    for i in range(2):
        netns.veth(h, f"t{i}", g, f"t{i}g")
    for i in (2, 3):
        h.run(["ip", "tuntap", "add", "dev", f"tap{i}", "mode", "tap"])
        h.ip(f"link set tap{i} up")
    g.run(["ip", "tuntap", "add", "dev", "gtap3", "mode", "tap"])
    g.ip("link set gtap3 up")
    inst = b.instance("bt")
    b.dpctl(h, inst, "load")
    b.dpctl(h, inst, "attach-uplink", "up0", "native")
    # Receivers on the peers while the ports are put: their veths take XDP.
    hold = b.counter(*[f"{g.name}:{d}" for d in ("v0g", "v1g", "v2g", "v3g", "t0g", "t1g")])
    taps = {0: "t0", 1: "t1", 2: "tap2", 3: "tap3"}
    paths = {0: "vf", 1: "tap", 2: "tap", 3: "tap"}
    for i in range(4):
        b.dpctl(h, inst, "port-put", f"p{i}", b.mac(i), "vf", f"v{i}", "tap", taps[i],
                "path", paths[i])
    b.finish(hold)
    ports = {p["name"]: p for p in json.loads(b.dpctl(h, inst, "-j", "port-show"))}
    for i in range(4):
        p = ports[f"p{i}"]
        if not (p["vf_xdp"] and p["tap_xdp"]):
            raise RuntimeError(f"port p{i} is not on the XDP path: {p}")
    relay = None
    if os.access(b.bin("tap-relay"), os.X_OK):
        pidfile = os.path.join(b.tmpdir(), "relay.pid")
        relay = b.start([b.bin("tap-relay"), "-t", "tap3", "-n", h.name, "-g", "gtap3",
                         "-N", g.name, "-j", "-p", pidfile], cpu=AUX_CPU, pidfile=pidfile)
    if relay is None:
        b.log("tap-relay is not built: (e) left out")

    # (c) bare devmap redirect, (d) Linux bridge: their own copies of the topology.
    cw, ch, cg = b.ns("cw"), b.ns("ch"), b.ns("cg")
    netns.veth(ch, "up0", cw, "up0p")
    netns.veth(ch, "v0", cg, "v0g")
    dw, dh, dg = b.ns("dw"), b.ns("dh"), b.ns("dg")
    netns.veth(dh, "up0", dw, "up0p")
    netns.veth(dh, "v0", dg, "v0g")
    dh.run(["ip", "tuntap", "add", "dev", "tapd", "mode", "tap"])
    dh.run(["ethtool", "-K", "up0", "gro", "on"])
    netns.run(["ip", "-n", dh.name, "-b", "-"], input="".join(
        f"{c}\n" for c in ("link add br0 type bridge", "link set up0 master br0",
                           "link set v0 master br0", "link set tapd master br0",
                           "link set tapd up", "link set br0 up")))
    for mac, dev in ((b.mac(0x10), "v0"), (b.mac(0x11), "tapd")):
        dh.run(["bridge", "fdb", "add", mac, "dev", dev, "master", "static"])
    redirect = None

    def veth_run(wire, rxdev, mac):
        c = b.counter(rxdev)
        s = b.pktgen(wire, "--dev", "up0p", "--dst-mac", mac, "--count", n)
        r = b.finish(c)
        return s, r["unique"], r["duplicates"]

    def sink_run(wire, ns, tap, mac):
        k = b.start([b.bin("semi-dpbench"), "tapsink", "--dev", tap, "-j"], ns=ns, cpu=AUX_CPU)
        s = b.pktgen(wire, "--dev", "up0p", "--dst-mac", mac, "--duration", a.tap_seconds)
        time.sleep(0.05)
        r = b.finish(k)
        return s, r["unique"], r["duplicates"], r["pps"]

    def run(key):
        nonlocal redirect
        if key == "a":
            s, got, dup = veth_run(w, f"{g.name}:v0g", b.mac(0))
        elif key == "b":
            s, got, dup = veth_run(w, f"{g.name}:t1g", b.mac(1))
        elif key == "c":
            c = b.counter(f"{cg.name}:v0g")
            if redirect is None:
                redirect = b.start([b.bin("semi-dpbench"), "redirect", "--dev", "up0",
                                    "--to", "v0"], ns=ch)
            s = b.pktgen(cw, "--dev", "up0p", "--dst-mac", b.mac(0), "--count", n)
            r = b.finish(c)
            got, dup = r["unique"], r["duplicates"]
        elif key == "d":
            s, got, dup = veth_run(dw, f"{dg.name}:v0g", b.mac(0x10))
        elif key == "b_tap":
            s, got, dup, pps = sink_run(w, h, "tap2", b.mac(2))
            return {"mpps": pps / 1e6, "sent": s["sent"], "delivered": got,
                    "duplicates": dup, "offered_mpps": s["pps"] / 1e6}
        elif key == "d_tap":
            s, got, dup, pps = sink_run(dw, dh, "tapd", b.mac(0x11))
            return {"mpps": pps / 1e6, "sent": s["sent"], "delivered": got,
                    "duplicates": dup, "offered_mpps": s["pps"] / 1e6}
        elif key == "e":
            c = b.counter(f"{g.name}:gtap3")
            s = b.pktgen(w, "--dev", "up0p", "--dst-mac", b.mac(3), "--duration", a.tap_seconds)
            time.sleep(0.1)
            r = b.finish(c)
            return {"mpps": r["unique"] / s["seconds"] / 1e6 if s["seconds"] else 0,
                    "sent": s["sent"], "delivered": r["unique"],
                    "duplicates": r["duplicates"], "offered_mpps": s["pps"] / 1e6}
        # Back-pressured veth paths: the generator's rate is the path's rate,
        # scaled by what arrived (1.0 when nothing was lost).
        return {"mpps": s["pps"] / 1e6 * got / s["sent"], "sent": s["sent"],
                "delivered": got, "duplicates": dup, "offered_mpps": s["pps"] / 1e6}

    keys = [k for k, _, _ in FIGURES if k != "e" or relay is not None]
    runs = {k: [] for k in keys}
    try:
        for rnd in range(a.runs):
            # Each round starts one figure further on: no figure always
            # follows the same other one (a tap run leaves a busy reader).
            for k in keys[rnd % len(keys):] + keys[:rnd % len(keys)]:
                runs[k].append(run(k))
            b.log(f"throughput round {rnd + 1}/{a.runs}: " + " ".join(
                f"{k}={runs[k][-1]['mpps']:.2f}" for k in keys))

    finally:
        if redirect is not None:
            b.finish(redirect, parse=False)
        relay_stats = b.finish(relay) if relay is not None else None

    out = {"frames_per_run": n, "tap_seconds": a.tap_seconds, "runs": a.runs,
           "generator_cpu": GEN_CPU, "reader_cpu": AUX_CPU, "figures": {}}
    for k, label, what in FIGURES:
        if k not in runs:
            out["figures"][k] = {"label": label, "what": what, "mpps": None,
                                 "todo": "tap-relay (tests/lab) not built"}
            continue
        rs = runs[k]
        out["figures"][k] = {
            "label": label, "what": what,
            "mpps": statistics.median(r["mpps"] for r in rs),
            "runs_mpps": [round(r["mpps"], 4) for r in rs],
            "sent": sum(r["sent"] for r in rs),
            "delivered": sum(r["delivered"] for r in rs),
            "duplicates": sum(r["duplicates"] for r in rs),
            "offered_mpps": statistics.median(r["offered_mpps"] for r in rs),
        }
    f = {k: v["mpps"] for k, v in out["figures"].items()}

    def ratio(x, y):
        return round(f[x] / f[y], 3) if f.get(x) and f.get(y) else None

    out["ratios"] = {"a/c": ratio("a", "c"), "a/d": ratio("a", "d"), "b/d": ratio("b", "d"),
                     "b_tap/d_tap": ratio("b_tap", "d_tap"), "e/d_tap": ratio("e", "d_tap")}
    out["targets"] = {"a/c >= 0.90": out["ratios"]["a/c"] is not None and out["ratios"]["a/c"] >= 0.90,
                      "a/d >= 5": out["ratios"]["a/d"] is not None and out["ratios"]["a/d"] >= 5}
    # The targets as time per frame: what semi_uplink costs end to end over
    # the baseline, and what the target leaves it.
    if f.get("a") and f.get("c") and f.get("d"):
        ns = {k: 1e3 / f[k] for k in ("a", "c", "d")}
        out["per_frame_ns"] = {
            "a": round(ns["a"], 1), "c": round(ns["c"], 1), "d": round(ns["d"], 1),
            "a_over_c": round(ns["a"] - ns["c"], 1),
            "a_over_c_allowed": round(ns["c"] / 0.90 - ns["c"], 1),
            "a_allowed_by_a/d": round(ns["d"] / 5, 1),
        }
    out["relay"] = relay_stats
    return out


# ---- 3. per-packet cost -----------------------------------------------------

def cost(b):
    h, g = b.ns("ch3"), b.ns("cg3")
    netns.veth(h, "up0", g, "up0p")
    netns.veth(h, "v0", g, "v0g")
    netns.veth(h, "t0", g, "t0g")
    netns.veth(h, "v1", g, "v1g")
    netns.veth(h, "t1", g, "t1g")
    inst = b.instance("bc")
    b.dpctl(h, inst, "load")
    b.dpctl(h, inst, "attach-uplink", "up0", "native")
    hold = b.counter(*[f"{g.name}:{d}" for d in ("v0g", "t0g", "v1g", "t1g")])
    b.dpctl(h, inst, "port-put", "p0", b.mac(0), "vf", "v0", "tap", "t0", "path", "vf")
    b.dpctl(h, inst, "port-put", "p1", b.mac(1), "vf", "v1", "tap", "t1", "path", "tap")
    b.finish(hold)
    out = json.loads(netns.run(
        ["taskset", "-c", str(AUX_CPU), b.bin("semi-dpbench"), "cost", "-i", inst, "--port", "p0", "--tap-port", "p1",
         "--repeat", str(b.args.repeat), "--runs", str(b.args.runs), "-j"], ns=h.name,
        timeout=300))
    ns = out["ns"]
    out["vs_bare_redirect"] = {k: round(v / ns["bare_redirect"], 2)
                               for k, v in ns.items() if ns["bare_redirect"]}
    out["over_bare_redirect_ns"] = {k: round(v - ns["bare_redirect"], 1) for k, v in ns.items()}
    return out


# ---- 4. switch cost ---------------------------------------------------------

def switch_run(b, wire, host, inst, tool_args, gen_args, count, before_traffic=None):
    tool = b.start([b.bin("semi-dpbench")] + tool_args + ["-j"], ns=host, cpu=AUX_CPU)
    if before_traffic:
        try:
            before_traffic()
        except Exception:
            b.kill(tool)
            raise
    gen = b.pktgen(wire, "--dev", "up0p", "--rate", b.args.switch_rate, "--duration", 120,
                   *gen_args, background=True)
    try:
        b.expect_line(tool, "switched", 600)
    finally:
        gen.send_signal(signal.SIGINT)
        out, err = gen.communicate(timeout=60)
        b.procs.remove(gen)
    if gen.returncode != 0:
        raise RuntimeError(f"semi-pktgen: {err}")
    sent = json.loads(out)
    time.sleep(0.3)
    res = b.finish(tool, sig=None)
    res["sent"] = sent["sent"]
    res["offered_pps"] = sent["pps"]
    res["lost"] = sent["sent"] - res["unique"]
    return res


def switch(b):
    w, h, g = b.ns("sw"), b.ns("sh"), b.ns("sg")
    netns.veth(h, "up0", w, "up0p")
    netns.veth(h, "v0", g, "v0g")
    netns.veth(h, "t0", g, "t0g")
    inst = b.instance("bs")
    b.dpctl(h, inst, "load")
    b.dpctl(h, inst, "attach-uplink", "up0", "native")
    hold = b.counter(f"{g.name}:v0g", f"{g.name}:t0g")
    b.dpctl(h, inst, "port-put", "p0", b.mac(0), "vf", "v0", "tap", "t0", "path", "vf")
    b.finish(hold)
    return switch_run(b, w, h, inst,
                      ["switch", "-i", inst, "--port", "p0", "--rx-a", f"{g.name}:v0g",
                       "--rx-b", f"{g.name}:t0g", "--switches", b.args.switches,
                       "--interval-us", 1000],
                      ["--dst-mac", b.mac(0)], b.args.switches)


def bulk(b):
    nports = b.args.bulk_ports
    w, h, g = b.shared.many_ports(b, nports)
    inst = b.instance("bk")
    b.dpctl(h, inst, "load")
    b.dpctl(h, inst, "attach-uplink", "up0", "native")
    res = switch_run(b, w, h, inst,
                     ["bulk", "-i", inst, "--prefix", "p", "--ports", nports,
                      "--mac", b.mac(0), "--vf-fmt", "v%u", "--tap-fmt", "t%u",
                      "--rx-a", f"{g.name}:v%ug", "--rx-b", f"{g.name}:t%ug",
                      "--switches", b.args.bulk_switches, "--interval-us", 5000],
                     ["--dst-mac", b.mac(0), "--dst-count", nports], b.args.bulk_switches)
    return res


# ---- 4. switch through semi-netd ------------------------------------------------

def ctl_switch(b):
    """The library switch of section 4 (same topology, rate and receivers),
    asked of semi-netd instead: `switch p0 vf|tap` (assigned <-> emulated).
    Each request is timed from its sending to the first frame on the new
    path (the receivers' first-frame stamps) and to the "ok", which comes
    only once the state file is on disk (write, fsync, rename, fsync of the
    folder).  Twice: on one socket connection (what an orchestrator keeps
    open), and as one semi-netctl process per switch (what a script does)."""
    w, h, g = b.ns("xw"), b.ns("xh"), b.ns("xg")
    netns.veth(h, "up0", w, "up0p")
    netns.veth(h, "v0", g, "v0g")
    netns.veth(h, "t0", g, "t0g")
    d = b.netd(h, {"uplink": "up0"}, cpu=AUX_CPU)
    d.ctl("port", "add", "p0", "--mac", b.mac(0), "--vf", "v0", "--tap", "t0", check=0)

    def on_xdp_path():
        """The receivers (the tool's XDP programs on the peers) make v0 and
        t0 take XDP frames; semi-netd re-reads that on the feature change."""
        end = time.monotonic() + 10
        while True:
            port = d.port("p0")
            if port["vf"]["xdp"] and port["tap"]["xdp"]:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"port p0 is not on the XDP path: {port}")
            time.sleep(0.01)

    out = {"daemon_cpu": AUX_CPU, "state_file_fs": fs_type(d.state), "via": {}}
    for via in ("socket", "semi-netctl"):
        args = ["ctlswitch", "--socket", d.socket, "--port", "p0",
                "--rx-a", f"{g.name}:v0g", "--rx-b", f"{g.name}:t0g",
                "--switches", b.args.switches, "--interval-us", 1000]
        if via == "semi-netctl":
            args += ["--netctl", b.bin("semi-netctl")]
        out["via"][via] = switch_run(b, w, h, None, args, ["--dst-mac", b.mac(0)],
                                     b.args.switches, before_traffic=on_xdp_path)
    out["state_generation"] = d.read_state()["generation"]
    return out


def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", os.path.dirname(path)],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


# ---- 5. migration -----------------------------------------------------------------

def migration(b):
    """tests/demo's driver (`make demo`), run --migrations times each way,
    interleaved: semi-net (DESIGN section 5, one semi-netd per host) and
    the QEMU-style comparison (no forwarding, RARP only), each in a lab of
    its own, vm1 hostA -> hostB under semi-meter at --migration-rate each
    way.  Its analysis (demo_report) gives per direction the frames lost,
    where they were lost, and when the fabric's bridge moved."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "demo"))
    import demolib
    import demo_report

    plan = demolib.Plan.quick()
    plan.rate = b.args.migration_rate
    kinds = ("semi-net", "qemu")
    runs = {k: [] for k in kinds}
    kept = {k: [] for k in kinds}       # (total lost, timeline) for the plot
    failed = []
    want = b.args.migrations
    # A run the driver cannot complete (a lab step failed) is recorded and
    # taken again, up to twice as many times more as there are runs.
    for i in range(4 * want):
        todo = [k for k in kinds if len(runs[k]) < want]
        if not todo or len(failed) > 2 * want:
            break
        for kind in todo:
            name = netns.unique(f"bm{kind[0]}{i}")
            t0 = time.monotonic()
            try:
                res = demolib.run_one(kind, name, b.build, plan)
            except demolib.DemoError as e:
                failed.append({"kind": kind, "run": i, "error": str(e)[-2000:]})
                b.log(f"migration {kind} {i + 1}: failed: {str(e).splitlines()[0]}")
                continue
            a = demo_report.analyze(res)
            r = migration_figures(a, demo_report)
            r["seconds"] = round(time.monotonic() - t0, 1)
            runs[kind].append(r)
            kept[kind].append((r["to_vm"]["lost"] + r["from_vm"]["lost"],
                               timeline_of(a, demo_report)))
            b.log(f"migration {kind} {len(runs[kind])}/{want}: lost "
                  f"{r['to_vm']['lost']} / {r['from_vm']['lost']}, fabric moved "
                  f"{fmt(r['fabric_after_resume_ms'], 1)} ms after resume")
    out = {"migrations": b.args.migrations, "rate": plan.rate, "plan": plan.as_dict(),
           "runs": runs, "failed": failed, "summary": {}}
    for kind in kinds:
        out["summary"][kind] = migration_summary(runs[kind], plan.rate)
        # The run whose loss is the median: its timeline is the plot's.
        ks = sorted(kept[kind], key=lambda x: x[0])
        out["summary"][kind]["timeline"] = ks[(len(ks) - 1) // 2][1] if ks else None
    sn, q = out["summary"]["semi-net"], out["summary"]["qemu"]
    out["ratios"] = {}
    for d in ("to_vm", "from_vm"):
        for key, what in (("lost", "lost"), ("lost_while_stopped", "lost while stopped")):
            # per migration: the two kinds may have completed different counts
            a, c = sn.get(d, {}).get(key), q.get(d, {}).get(key)
            out["ratios"][f"{d} {what} semi-net/qemu"] = (
                round(a / sn["runs"] / (c / q["runs"]), 3) if a is not None and c else None)
    return out


def migration_figures(a, demo_report):
    """One run's figures from demo_report.analyze()."""
    r = {}
    for d in ("to_vm", "from_vm"):
        t = a["traffic"][d]
        sp = demo_report.lost_split(a, d)
        r[d] = {"sent": t["sent"], "received": t["received"], "lost": t["lost"],
                "duplicated": t["duplicated"], "longest_gap_ms": t["longest_gap_ms"],
                "lost_while_stopped": sp["stopped"], "lost_in_queues": sp["queues"],
                "lost_in_vf_windows": sp["vf"], "lost_other": sp["other"]}
    steps = {s["what"]: s["t_ms"] for s in a["steps"]}
    resume = next((t for w, t in steps.items() if w.startswith("VM resumed")), None)
    stop = next((t for w, t in steps.items() if w.startswith("VM stopped")), None)
    moved = a["fdb"]["moved"]
    r["fabric_moved_ms"] = moved["fabric"]["t_ms"]
    r["resume_ms"], r["stop_ms"] = resume, stop
    r["fabric_after_resume_ms"] = (moved["fabric"]["t_ms"] - resume
                                   if moved["fabric"]["t_ms"] is not None and resume is not None
                                   else None)
    r["bridges"] = {n: {"before": m["before"], "after": m["after"], "t_ms": m["t_ms"]}
                    for n, m in moved.items()}
    r["final"] = a.get("extra", {}).get("final")
    r["drops"] = a.get("drops", {})
    return r


def timeline_of(a, demo_report):
    """What the plot needs of one run: 10 ms rows, steps, bridge moves."""
    marks = [{"t": s["t_ms"], "label": demo_report.short_step(s)} for s in a["steps"]
             if not s["what"].startswith(("left in", "QEMU's queues"))]
    for node, m in a["fdb"]["moved"].items():
        if m["t_ms"] is not None:
            marks.append({"t": m["t_ms"], "fdb": True, "label": (
                "fabric" if node == "fabric" else f"{node} br0") + f" -> {m['after'][0]}"})
    return {
        "title": a["title"], "kind": a["kind"], "rate": a["plan"]["rate"],
        "pause_ms": a["plan"]["pause_ms"],
        # held: what the destination's datapath took from the tunnel (into its
        # tap) while the guest took nothing -- frames kept for a stopped VM
        "rows": [{"t": r["t_ms"], "guest": r["guest"], "to_vm_lost": r["to_vm_lost"],
                  "client": r["client"], "from_vm_lost": r["from_vm_lost"],
                  "held": 0 if r["guest"] else r["to_vm"].get("hostB", {}).get("from-tunnel", 0)}
                 for r in a["timeline"]],
        "marks": sorted(marks, key=lambda m: m["t"]),
        "lost": {d: a["traffic"][d]["lost"] for d in ("to_vm", "from_vm")},
    }


def migration_summary(rs, rate):
    if not rs:
        return {"runs": 0}
    out = {"runs": len(rs)}
    for d in ("to_vm", "from_vm"):
        lost = [r[d]["lost"] for r in rs]
        out[d] = {
            "sent": sum(r[d]["sent"] for r in rs), "lost": sum(lost),
            "duplicated": sum(r[d]["duplicated"] for r in rs),
            "lost_mean": round(statistics.mean(lost), 1),
            "lost_median": statistics.median(lost), "lost_min": min(lost),
            "lost_max": max(lost),
            "lost_ms_mean": round(statistics.mean(lost) * 1000 / rate, 1),
        }
        for k in ("lost_while_stopped", "lost_in_queues", "lost_in_vf_windows", "lost_other"):
            out[d][k] = sum(r[d][k] for r in rs)
    out["drops"] = {}
    for r in rs:
        for k, v in r["drops"].items():
            out["drops"][k] = out["drops"].get(k, 0) + v
    fab = [r["fabric_after_resume_ms"] for r in rs if r["fabric_after_resume_ms"] is not None]
    out["fabric_after_resume_ms"] = dist(fab)
    out["fabric_not_moved"] = sum(1 for r in rs if r["fabric_moved_ms"] is None)
    return out


# ---- 6. control plane scale -------------------------------------------------------

def scale(b):
    """semi-netd with --scale-ports ports whose devices exist (the bulk
    section's topology: a veth as VF and one as tap per port).  The ports
    are added the way an orchestrator that (re)starts a host's VMs would:
    every port.add on one connection without waiting for each reply (a
    reader thread takes them), so that the daemon can write its state
    file once per batch.  Baselines in the same run: the library alone
    (libsemi_dp, no TC attachment, no state file) and the daemon with the
    ports' devices absent (its own work: no TC attachment)."""
    n = b.args.scale_ports
    w, h, g = b.shared.many_ports(b, n)
    out = {"ports": n}

    # Baseline: the library puts the same ports into an instance of its own.
    inst = b.instance("sl")
    b.dpctl(h, inst, "load")
    out["library"] = json.loads(netns.run(
        ["taskset", "-c", str(AUX_CPU), b.bin("semi-dpbench"), "ports", "-i", inst,
         "--prefix", "p", "-n", str(n), "--mac", b.mac(0), "--vf-fmt", "v%u",
         "--tap-fmt", "t%u", "-j"], ns=h.name, timeout=600))
    b.dpctl(h, inst, "purge")
    b.instances.remove(inst)

    # The daemon's own part: the same ports, their devices absent.
    d0 = b.netd(h, {}, cpu=AUX_CPU)
    out["absent_devices"] = add_ports(d0, n, "nv{}", "nt{}")
    out["absent_devices"]["rss_kib"] = proc_status(d0.proc.pid)
    b.drop_netd(d0)

    d = b.netd(h, {"uplink": "up0"}, cpu=AUX_CPU)
    pid = d.proc.pid
    out["empty"] = {"rss_kib": proc_status(pid), "maps": map_memory(d)}
    out["add"] = add_ports(d, n, "v{}", "t{}")
    out["rss_after_add_kib"] = proc_status(pid)
    st = d.req({"cmd": "status"}, timeout=60)["result"]
    out["states"] = {k: v for k, v in st["states"].items() if v}

    # status: the request on a socket, and semi-netctl (-j; the table).
    out["status_ms"] = {}
    for key, fn in (("socket", lambda: d.req({"cmd": "status"}, timeout=60)),
                    ("semi-netctl -j", lambda: d.ctl("-j", "status", check=0, timeout=60)),
                    ("semi-netctl", lambda: d.ctl("status", check=0, timeout=60))):
        ts = []
        for _ in range(b.args.status_runs):
            t0 = time.monotonic()
            r = fn()
            ts.append((time.monotonic() - t0) * 1e3)
            if key == "socket" and len(r["result"]["ports"]) != n:
                raise RuntimeError(f"status shows {len(r['result']['ports'])} of {n} ports")
        out["status_ms"][key] = dist(ts)
    out["status_bytes"] = len(json.dumps(d.req({"cmd": "status"}, timeout=60)))
    out["rss_after_status_kib"] = proc_status(pid)

    # At rest with n ports: CPU over a few seconds, memory.
    c0 = proc_cpu(pid)
    time.sleep(b.args.idle_seconds)
    out["idle_cpu_percent"] = round((proc_cpu(pid) - c0) / b.args.idle_seconds * 100, 2)
    out["rss_kib"] = proc_status(pid)
    out["maps"] = map_memory(d)

    # One switch with n ports: the state file of n ports is written each time.
    with d.connect(timeout=60) as s:
        ts = []
        for i in range(b.args.scale_switches):
            t0 = time.monotonic()
            s.sendall((json.dumps({"cmd": "switch", "args": {
                "name": "p0", "to": "tap" if i % 2 == 0 else "vf"}}) + "\n").encode())
            r = Lines(s).next_reply()
            ts.append((time.monotonic() - t0) * 1e3)
            if not r["ok"]:
                raise RuntimeError(f"switch p0 at {n} ports: {r}")
    out["switch_ack_ms"] = dist(ts)
    out["state_file_bytes"] = os.path.getsize(d.state)
    out["targets"] = {
        "add < 1 s": out["add"]["seconds"] < 1.0,
        "status < 100 ms": out["status_ms"]["semi-netctl -j"]["p50"] < 100,
        "RSS < 16 MiB": out["rss_kib"]["VmRSS"] < 16 * 1024,
    }
    return out


def add_ports(d, n, vf_fmt, tap_fmt):
    """n port.add requests on one connection, sent by one thread while
    another reads the replies (neither waits for the other); timed from
    the first byte sent to the last reply read."""
    reqs = "".join(json.dumps({"id": i, "cmd": "port.add", "args": {
        "name": f"p{i}", "mac": Bench.mac(i), "vf": vf_fmt.format(i),
        "tap": tap_fmt.format(i)}}) + "\n" for i in range(n)).encode()
    gen0 = d.read_state()["generation"]
    at = []
    errors = []
    with d.connect(timeout=600) as s:
        lines = Lines(s)
        t0 = time.monotonic()
        sender = threading.Thread(target=s.sendall, args=(reqs,), daemon=True)
        sender.start()
        for i in range(n):
            r = lines.next_reply()
            at.append(time.monotonic() - t0)
            if not r["ok"]:
                errors.append(r)
        sender.join(60)
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} port.add refused, e.g. {errors[0]}")
    gaps = sorted(b - a for a, b in zip([0] + at, at))
    return {"seconds": round(at[-1], 3), "ports_per_s": round(n / at[-1]),
            "state_file_writes": d.read_state()["generation"] - gen0,
            "first_reply_ms": round(at[0] * 1e3, 2),
            "longest_wait_ms": round(gaps[-1] * 1e3, 2)}


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")


def map_memory(d):
    """The instance's pinned maps (bpftool: memlock bytes, entries)."""
    maps = {}
    for name in sorted(os.listdir(d.pin_dir)):
        r = subprocess.run(["bpftool", "-j", "map", "show", "pinned",
                            os.path.join(d.pin_dir, name)], capture_output=True, text=True)
        if r.returncode != 0:
            continue            # a program or a link
        m = json.loads(r.stdout)
        maps[name] = {"type": m.get("type"), "max_entries": m.get("max_entries"),
                      "bytes": m.get("bytes_memlock")}
    return {"maps": maps, "total_bytes": sum(m["bytes"] or 0 for m in maps.values())}


def dist(v):
    if not v:
        return None
    v = sorted(v)
    return {"n": len(v), "min": round(v[0], 1), "p50": round(statistics.median(v), 1),
            "max": round(v[-1], 1), "mean": round(statistics.mean(v), 1)}


SECTIONS = [
    ("throughput", throughput),
    ("cost", cost),
    ("switch", switch),
    ("ctl_switch", ctl_switch),
    ("migration", migration),
    ("bulk", bulk),
    ("scale", scale),
]


# ---- output ------------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "bench",
                            "bpf", "loader", "daemon"],
                           capture_output=True, text=True).stdout.strip()
    return {"kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "loadavg_start": loadavg(),
            "mem_mib": mem, "os": _os_name(), "commit": rev + ("+dirty" if dirty else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def loadavg():
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def _os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def fmt(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def table(res):
    lines = []
    t = res.get("throughput")
    if t and "figures" in t:
        lines.append("2. Throughput, 64-byte frames, one core (median of "
                     f"{t['runs']} runs)")
        lines.append(f"   {'':7} {'path':28} {'Mpps':>7}  {'delivered/sent':>17}  dup")
        for k, v in t["figures"].items():
            if v["mpps"] is None:
                lines.append(f"   {'(' + k + ')':7} {v['label']:28} {'TODO':>7}  {v.get('todo', '')}")
                continue
            lines.append(f"   {'(' + k + ')':7} {v['label']:28} {v['mpps']:7.2f}  "
                         f"{v['delivered']:>8}/{v['sent']:<8}  {v['duplicates']}")
        r = t["ratios"]
        lines.append(f"   a/c {fmt(r['a/c'], 3)} (target >= 0.90: "
                     f"{'met' if t['targets']['a/c >= 0.90'] else 'NOT met'})   "
                     f"a/d {fmt(r['a/d'], 2)} (target >= 5: "
                     f"{'met' if t['targets']['a/d >= 5'] else 'NOT met'})   "
                     f"b/d {fmt(r['b/d'], 2)}")
        lines.append(f"   real taps: b_tap/d_tap {fmt(r['b_tap/d_tap'], 2)}   "
                     f"e/d_tap {fmt(r['e/d_tap'], 2)}")
        pf = t.get("per_frame_ns")
        if pf:
            lines.append(f"   per frame end to end: a {pf['a']} ns, c {pf['c']} ns, d {pf['d']} ns; "
                         f"a costs {pf['a_over_c']} ns over c (a/c >= 0.90 allows "
                         f"{pf['a_over_c_allowed']}), a/d >= 5 needs a <= {pf['a_allowed_by_a/d']} ns")
    c = res.get("cost")
    if c and "ns" in c:
        lines.append(f"3. Per-packet cost, BPF_PROG_RUN x {c['repeat']} (median of {c['runs']})")
        for k, v in c["ns"].items():
            lines.append(f"   {k:16} {v:7.1f} ns   x{c['vs_bare_redirect'][k]:<5} "
                         f"of bare redirect ({c['over_bare_redirect_ns'][k]:+.1f} ns)")
    for key, title in (("switch", "4. Path switch through the library, 1 port"),
                       ("bulk", "4. Bulk switch through the library")):
        s = res.get(key)
        if not s or "latency_ns" not in s:
            continue
        lat, call = s["latency_ns"], s["call_ns"]
        lines.append(f"{title}: {s['switches']} switches, {s['ports']} ports, "
                     f"{s['offered_pps'] / 1e6:.2f} Mpps offered")
        lines.append(f"   store -> first frame on new path: p50 {lat['p50'] / 1e3:.1f} us  "
                     f"p99 {lat['p99'] / 1e3:.1f} us  max {lat['max'] / 1e3:.1f} us  "
                     f"(timeouts {s['timeouts']})")
        aft = s["after_return_ns"]
        lines.append(f"   library call: p50 {call['p50'] / 1e3:.1f} us  p99 {call['p99'] / 1e3:.1f} us;"
                     f"  its return -> first frame: p50 {aft['p50'] / 1e3:.1f} us  "
                     f"p99 {aft['p99'] / 1e3:.1f} us")
        lines.append(f"   frames: sent {s['sent']}  delivered {s['unique']}  lost {s['lost']}  "
                     f"duplicates {s['duplicates']}")
        if "created" in s:
            cr = s["created"]
            lines.append(f"   ports added through the library: {cr['ports']} in "
                         f"{cr['seconds']:.2f} s (p50 {cr['put_ns']['p50'] / 1e3:.0f} us, "
                         f"p99 {cr['put_ns']['p99'] / 1e3:.0f} us each)")
    lines += table_ctl(res.get("ctl_switch"))
    lines += table_migration(res.get("migration"))
    lines += table_scale(res.get("scale"))
    return "\n".join(lines)


def us(ns):
    return f"{ns / 1e3:.1f} us" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def table_ctl(c):
    if not c or "via" not in c:
        return []
    v = c["via"]
    first = next(iter(v.values()))
    L = [f"4. Path switch through semi-netd, 1 port: {first['switches']} switches per way, "
         f"{first['offered_pps'] / 1e6:.2f} Mpps offered, state file on {c['state_file_fs']}"]
    for via, x in v.items():
        lat, ack = x["latency_ns"], x["call_ns"]
        L.append(f"   {via + ':':13} request -> first frame p50 {us(lat['p50'])}  p99 "
                 f"{us(lat['p99'])};  -> ok p50 {us(ack['p50'])}  p99 {us(ack['p99'])}  "
                 f"(first frame before the ok: {x['first_before_return']}/{x['switches']}; "
                 f"timeouts {x['timeouts']})")
        L.append(f"   {'':13} frames: sent {x['sent']}  delivered {x['unique']}  "
                 f"lost {x['lost']}  duplicates {x['duplicates']}")
    r = c.get("vs_library")
    if r:
        L.append("   vs the library call (4. above), p50 request -> first frame: " + ", ".join(
            f"{via} x{q}" for via, q in r.items()))
    return L


def table_migration(m):
    if not m or "summary" not in m:
        return []
    L = [f"5. Live migration, vm1 hostA -> hostB, {m['rate'] // 1000} kpps each way, VM "
         f"stopped {m['plan']['pause_ms']} ms; {m['migrations']} migrations of each kind "
         "(tests/demo's driver)",
         f"   {'':22} {'client -> vm1: lost per migration':^38} {'vm1 -> client':^38}  fabric moved",
         f"   {'':22} {'mean':>7} {'median':>7} {'min-max':>13} {'stopped':>8} "
         f"{'mean':>7} {'median':>7} {'min-max':>13} {'stopped':>8}  after resume p50/max ms"]
    for kind, sm in m["summary"].items():
        if not sm.get("runs"):
            L.append(f"   {kind:22} no run completed")
            continue
        cells = []
        for d in ("to_vm", "from_vm"):
            x = sm[d]
            cells.append(f"{x['lost_mean']:>7.0f} {x['lost_median']:>7.0f} "
                         f"{str(x['lost_min']) + '-' + str(x['lost_max']):>13} "
                         f"{x['lost_while_stopped'] / sm['runs']:>8.0f}")
        fab = sm["fabric_after_resume_ms"]
        L.append(f"   {kind + ' (' + str(sm['runs']) + ' runs)':22} {cells[0]} {cells[1]}  "
                 f"{fab['p50'] if fab else '-'}/{fab['max'] if fab else '-'}")
    r = m["ratios"]
    L.append("   semi-net/QEMU-style, lost per migration: client -> vm1 "
             f"{fmt(r.get('to_vm lost semi-net/qemu'), 3)} (while stopped "
             f"{fmt(r.get('to_vm lost while stopped semi-net/qemu'), 3)}), vm1 -> client "
             f"{fmt(r.get('from_vm lost semi-net/qemu'), 3)}")
    for kind, sm in m["summary"].items():
        if sm.get("runs"):
            L.append(f"   {kind}: all frames lost by where (stopped / lab queues / guest VF "
                     "windows / other): " + "; ".join(
                         f"{'to vm1' if d == 'to_vm' else 'from vm1'} "
                         f"{sm[d]['lost_while_stopped']}/{sm[d]['lost_in_queues']}/"
                         f"{sm[d]['lost_in_vf_windows']}/{sm[d]['lost_other']}, "
                         f"dup {sm[d]['duplicated']}" for d in ("to_vm", "from_vm")))
    if m["failed"]:
        L.append(f"   runs the driver could not complete (taken again): {len(m['failed'])}")
    return L


def table_scale(c):
    if not c or "add" not in c:
        return []
    t, n = c["targets"], c["ports"]

    def met(k):
        return "met" if t[k] else "NOT met"

    st, rss = c["status_ms"], c["rss_kib"]
    lib = c["library"]["seconds"]
    return [
        f"6. Control plane: semi-netd at {n} ports (devices present; port.add pipelined on "
        "one connection)",
        f"   add {n}: {c['add']['seconds']:.2f} s (target < 1 s: {met('add < 1 s')}), "
        f"{c['add']['state_file_writes']} state file writes; the library alone "
        f"{lib:.2f} s (daemon/library x{c['add']['seconds'] / lib:.1f}); the daemon with "
        f"the devices absent {c['absent_devices']['seconds']:.2f} s",
        f"   status: socket p50 {st['socket']['p50']} ms, semi-netctl -j p50 "
        f"{st['semi-netctl -j']['p50']} ms (target < 100 ms: {met('status < 100 ms')}), "
        f"table p50 {st['semi-netctl']['p50']} ms; reply {c['status_bytes'] / 1024:.0f} KiB",
        f"   RSS {rss['VmRSS'] / 1024:.1f} MiB (target < 16 MiB: {met('RSS < 16 MiB')}), "
        f"peak {rss['VmHWM'] / 1024:.1f} MiB, empty daemon "
        f"{c['empty']['rss_kib']['VmRSS'] / 1024:.1f} MiB; BPF maps "
        f"{c['maps']['total_bytes'] / 2**20:.1f} MiB ({c['empty']['maps']['total_bytes'] / 2**20:.1f}"
        " MiB with no port: preallocated)",
        f"   at rest: {c['idle_cpu_percent']}% CPU ({', '.join(f'{v} {k}' for k, v in c['states'].items())}); "
        f"one switch with {n} ports: ok after p50 {c['switch_ack_ms']['p50']} ms "
        f"(state file {c['state_file_bytes'] / 2**20:.1f} MiB)",
    ]


def cross_ratios(sections):
    """Ratios between sections of the same run."""
    sw, ctl = sections.get("switch"), sections.get("ctl_switch")
    if sw and ctl and "latency_ns" in sw and "via" in ctl:
        ctl["vs_library"] = {via: round(x["latency_ns"]["p50"] / sw["latency_ns"]["p50"], 1)
                             for via, x in ctl["via"].items() if sw["latency_ns"]["p50"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("SEMI_BUILD") or os.path.join(ROOT, "build"))
    ap.add_argument("--only", action="append", choices=[s for s, _ in SECTIONS],
                    help="run only this section (repeatable)")
    ap.add_argument("--runs", type=int, default=7, help="runs per figure (median; >= 5)")
    ap.add_argument("--frames", type=int, default=3_000_000,
                    help="frames per back-pressured throughput run")
    ap.add_argument("--tap-seconds", type=float, default=1.0,
                    help="seconds per run into a real tap")
    ap.add_argument("--repeat", type=int, default=1_000_000, help="BPF_PROG_RUN repeat")
    ap.add_argument("--switches", type=int, default=1000)
    ap.add_argument("--switch-rate", type=int, default=1_000_000)
    ap.add_argument("--bulk-ports", type=int, default=4096)
    ap.add_argument("--bulk-switches", type=int, default=100)
    ap.add_argument("--migrations", type=int, default=10, help="migrations of each kind")
    ap.add_argument("--migration-rate", type=int, default=100_000,
                    help="frames/s each way during a migration")
    ap.add_argument("--scale-ports", type=int, default=4096)
    ap.add_argument("--status-runs", type=int, default=5)
    ap.add_argument("--scale-switches", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=3.0)
    ap.add_argument("--json", default=None, help="results file (default BUILD/bench/results.json)")
    ap.add_argument("--write-docs", action="store_true",
                    help="write docs/BENCHMARKS.md and docs/bench-throughput.svg")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (namespaces, BPF)")
    for tool in ("semi-pktgen", "semi-count", "semi-dpbench", "semi-dpctl"):
        if not os.access(os.path.join(args.build, "bin", tool), os.X_OK):
            sys.exit(f"bench: {tool} is not built in {args.build}: run 'make tests' first")

    # A signal ends the run through the finally below: nothing is left behind.
    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    res = {"machine": machine(), "command": "make bench", "sections": {}}
    t_all = time.monotonic()
    shared = Shared()
    for name, fn in SECTIONS:
        if args.only and name not in args.only:
            continue
        b = Bench(args.build, args, shared)
        t0 = time.monotonic()
        try:
            b.log(f"{name} ...")
            res["sections"][name] = fn(b)
        except KeyboardInterrupt:
            b.close()
            shared.close()
            netns.cleanup_all()
            sys.exit("bench: interrupted; cleaned up")
        except Exception as e:   # one section failing does not hide the others
            res["sections"][name] = {"error": str(e)}
            traceback.print_exc()
            print(f"bench: {name} failed: {e}", file=sys.stderr)
        finally:
            b.close()
        res["sections"][name]["seconds"] = round(time.monotonic() - t0, 1)
    shared.close()
    netns.cleanup_all()
    res["seconds"] = round(time.monotonic() - t_all, 1)
    res["machine"]["loadavg_end"] = loadavg()
    cross_ratios(res["sections"])

    path = args.json or os.path.join(args.build, "bench", "results.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    text = table(res["sections"])
    print(text)
    print(f"bench: {res['seconds']:.0f} s; results in {path}")
    if args.write_docs:
        import report
        report.write(res, ROOT, text)
        print("bench: wrote docs/BENCHMARKS.md, docs/bench-throughput.svg and "
              "docs/bench-migration.svg")
    failed = [k for k, v in res["sections"].items() if "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
