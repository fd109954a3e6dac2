# SPDX-License-Identifier: GPL-2.0
"""The live-migration demo, as a library: `tests/demo/demo` prints its
report, `tests/demo/test_demo.py` runs a short variant of it.

Two runs, each in a lab of its own (tests/lab), each under semi-meter
streams in both directions (client -> vm1 and vm1 -> client):

* semi-net: one semi-netd per host; vm1 migrates from hostA to hostB
  through DESIGN section 5, step by step;
* QEMU failover as it is today: no semi-net; the VF is a port of each
  host's bridge (a NIC's embedded switch), the VF is unplugged before the
  migration and plugged on the destination after it, and the only thing
  that tells the fabric where the VM went is QEMU's RARP.

Both runs pause the VM for the same stop-and-copy time.  What each run
records, all on CLOCK_MONOTONIC:
* every step, with the reply of the daemon it went to;
* the daemons' state changes (watch events: when the path was stored);
* per host, every 10 ms: the port's datapath counters (semi-net) or the
  VM's devices' counters (QEMU-style);
* the fabric's and both host bridges' FDB changes for the VM's MAC
  (rtnetlink notifications, stamped on arrival);
* both meters' reports: sent, received, lost (and where), duplicated,
  reordered, and the guest-side path per 10 ms.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

import semilab  # noqa: E402
from semilab import LabError  # noqa: E402

import rtnl  # noqa: E402

VM = "vm1"
SRC, DST = "hostA", "hostB"
LABELS = ["-L", "1=vf", "-L", "2=virtio"]
BUCKET_MS = 10
DAEMON_PIN_PARENT = semilab.DAEMON_PIN_ROOT


class DemoError(Exception):
    """The demo could not do a step; the message says which and why."""


# ---- timing -------------------------------------------------------------------

class Plan:
    """How long each phase lasts (ms) and the rate of both streams (pps)."""

    def __init__(self, rate=100000, pause_ms=200, lead_ms=800, precopy_ms=300,
                 replug_ms=300, tail_ms=600, retire_ms=3000):
        self.rate = rate
        self.pause_ms = pause_ms        # stop-and-copy: the VM does not run
        self.lead_ms = lead_ms          # traffic before the migration starts
        self.precopy_ms = precopy_ms    # from the VF's unplug to the pause
        self.replug_ms = replug_ms      # from the resume to the new VF's plug
        self.tail_ms = tail_ms          # traffic after the last step
        self.retire_ms = retire_ms      # how long the source may take to retire

    @classmethod
    def quick(cls):
        """The test's variant: the same steps, shorter phases."""
        return cls(lead_ms=300, precopy_ms=150, replug_ms=150, tail_ms=300)

    def as_dict(self):
        return dict(vars(self))


def now_ns():
    return time.monotonic_ns()


def sleep_until(t_ns):
    while True:
        left = t_ns - now_ns()
        if left <= 0:
            return
        time.sleep(min(left / 1e9, 0.05))


# ---- semi-netd ----------------------------------------------------------------

class Netd:
    """A connection to one semi-netd: requests (one at a time) and, on a
    second connection, the state events of the VM's port."""

    def __init__(self, host, path, timeout=10):
        self.host, self.path = host, path
        self.sock = self._connect(timeout)
        self.buf = b""
        self.ids = iter(range(1, 1 << 30))
        self.events = []
        self._halt = threading.Event()
        self._watch = None

    def _connect(self, timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(timeout)
        s.connect(self.path)
        return s

    def request(self, cmd, **args):
        """One request; the reply object (ok or not)."""
        rid = next(self.ids)
        self.sock.sendall((json.dumps({"id": rid, "cmd": cmd, "args": args}) + "\n")
                          .encode())
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(1 << 16)
                if not data:
                    raise DemoError(f"semi-netd on {self.host} closed the connection")
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            o = json.loads(line)
            if o.get("id") == rid and "event" not in o:
                return o

    def must(self, cmd, **args):
        r = self.request(cmd, **args)
        if not r.get("ok"):
            e = r.get("error", {})
            raise DemoError(f"{self.host}: {cmd} {args}: {e.get('code')}: {e.get('message')}")
        return r["result"]

    def start_watch(self, port):
        """State events of port, in the background, into self.events."""
        s = self._connect(5)
        s.sendall(json.dumps({"cmd": "watch", "args": {"port": port, "stats": False}})
                  .encode() + b"\n")

        def loop():
            buf = b""
            s.settimeout(0.1)
            while not self._halt.is_set():
                try:
                    data = s.recv(1 << 16)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    o = json.loads(line)
                    if o.get("event") in ("state", "port", "device"):
                        o["seen_ns"] = now_ns()
                        self.events.append(o)
            s.close()

        self._watch = threading.Thread(target=loop, name=f"watch-{self.host}", daemon=True)
        self._watch.start()

    def close(self):
        self._halt.set()
        if self._watch:
            self._watch.join(2)
        with contextlib.suppress(OSError):
            self.sock.close()


# ---- observers ----------------------------------------------------------------

class Sampler(threading.Thread):
    """Calls fn() every period_ms and keeps (t_ns, value)."""

    def __init__(self, name, fn, period_ms=BUCKET_MS):
        super().__init__(name=name, daemon=True)
        self.fn, self.period = fn, period_ms * 1000000
        self.samples = []
        self.error = None
        self._halt = threading.Event()

    def run(self):
        t = now_ns()
        while not self._halt.is_set():
            try:
                v = self.fn()
            except Exception as e:  # recorded, shown in the report
                self.error = f"{type(e).__name__}: {e}"
                v = None
            self.samples.append((now_ns(), v))
            t += self.period
            delay = (t - now_ns()) / 1e9
            if delay > 0:
                self._halt.wait(delay)
            else:
                t = now_ns()

    def stop(self):
        self._halt.set()
        self.join(5)


class FdbWatcher(threading.Thread):
    """FDB notifications for the VM's MAC in the fabric and both hosts."""

    def __init__(self, lab, mac):
        super().__init__(name="fdb", daemon=True)
        self.mons = {node: rtnl.FdbMonitor(lab.ns(node), mac)
                     for node in ("fabric", SRC, DST)}
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            for m in self.mons.values():
                m.poll(0.002)

    def stop(self):
        self._halt.set()
        self.join(5)
        for m in self.mons.values():
            m.poll(0)
            m.close()

    def events(self):
        return {node: m.events for node, m in self.mons.items()}


def port_counters(netd):
    """The VM port's datapath counters as a flat dict (None: no such port)."""
    r = netd.request("stats", name=VM)
    if not r.get("ok"):
        if r.get("error", {}).get("code") == "not_found":
            return None
        raise DemoError(f"stats on {netd.host}: {r.get('error')}")
    p = r["result"]["ports"][0]
    flat = {"state": p.get("state")}
    for d in ("rx", "tx"):
        for path, c in p.get(d, {}).items():
            flat[f"{d}.{path}"] = c["packets"]
    for k in ("tunnel_in", "tx_local", "remote_src"):
        if isinstance(p.get(k), dict):
            flat[k] = p[k]["packets"]
    for reason, n in p.get("drop", {}).items():
        if n:
            flat[f"drop.{reason}"] = n
    return flat


def device_counters(sock, devs, drops_only=False):
    """Counters of the VM's devices in one namespace.  devs: name -> label.
    Each device sends toward the guest on its tx side if it is a host
    device, toward the host if it is the guest's, so: rx.LABEL frames that
    went to the guest, tx.LABEL frames that came from it (host devices),
    drop.LABEL-queue frames its transmit queue dropped (a full tap queue:
    the relay, QEMU's stand-in, did not read in time, or did not run)."""
    flat = {}
    for name, st in rtnl.link_dump(sock).values():
        if name in devs and st:
            if not drops_only:
                flat[f"rx.{devs[name]}"] = st["tx_packets"]
                flat[f"tx.{devs[name]}"] = st["rx_packets"]
            flat[f"drop.{devs[name]}-queue"] = st["tx_dropped"]
    return flat


class SentCounter:
    """Frames a node has sent so far, through any of its devices, counted
    across devices that come and go (a VF unplugged and plugged again
    starts from zero): tells when each frame of a stream left its sender.
    Queue drops count as sent -- the sender handed them over."""

    def __init__(self, sock, devs):
        self.sock, self.devs = sock, set(devs)
        self.last = {}
        self.sum = 0

    def __call__(self):
        first = not self.last
        for ifindex, (name, st) in rtnl.link_dump(self.sock).items():
            if name not in self.devs or not st:
                continue
            v = st["tx_packets"] + st["tx_dropped"]
            prev = self.last.get((name, ifindex))
            if prev is None:
                self.sum += 0 if first else v   # a new device: all of it is new
            elif v >= prev:
                self.sum += v - prev
            self.last[(name, ifindex)] = v
        return {"sent": self.sum}


# ---- the lab ------------------------------------------------------------------

class DemoLab:
    """A lab for one run, with the processes the run starts; close() takes
    everything down (also after a failure or Ctrl-C)."""

    def __init__(self, name, build, daemons, plan):
        self.plan = plan
        self.lab = semilab.Lab(name, vms=1, build=build)
        self.build = build
        self.netd = {}
        self.netd_logs = {}
        self.own_daemons = False
        self.daemons = daemons

    def open(self):
        self.lab.up()
        g = self.lab.guest(VM)
        self.mac = g["mac"]
        self.lab.pin_neigh("client", VM)
        self.lab.pin_neigh(VM, "client")
        self.size_queues()
        if self.daemons:
            self._daemons_up()
        return self

    def binary(self, name):
        return self.lab.binary(name)

    def size_queues(self):
        """The taps' queues hold what arrives while the VM is paused (QEMU
        does not read its tap then): rate x pause, twice over."""
        g = self.lab.guest(VM)
        qlen = max(1000, 2 * self.plan.rate * self.plan.pause_ms // 1000)
        for h in (SRC, DST):
            semilab.ip_batch(self.lab.ns(h), [f"link set dev {g['tap']} txqueuelen {qlen}"])
        semilab.ip_batch(self.lab.ns(VM), [f"link set dev {g['virtio']} txqueuelen {qlen}"])

    def daemon_paths(self, host):
        return self.lab.topo["hosts"][host]["daemon"]

    def _daemons_up(self):
        """One semi-netd per host: the lab's own (a `daemons` step, when the
        lab has one), else started here with the lab's reserved paths."""
        lab_has_them = "daemons" in self.lab.state.get("steps_done", [])
        for h in (SRC, DST):
            paths = self.daemon_paths(h)
            if not lab_has_them:
                self._start_daemon(h, paths)
            self.lab.wait_for(f"semi-netd on {h}", lambda p=paths: os.path.exists(p["socket"])
                              and self._ping(p["socket"]), timeout=20)
            self.netd[h] = Netd(h, paths["socket"])
        self.own_daemons = not lab_has_them

    @staticmethod
    def _ping(path):
        try:
            n = Netd("?", path, timeout=2)
        except OSError:
            return False
        try:
            return n.request("status").get("ok")
        finally:
            n.close()

    def _start_daemon(self, h, paths):
        topo = self.lab.topo["hosts"]
        host = topo[h]
        peer = DST if h == SRC else SRC
        cfg = {
            "uplink": host["uplink"], "bridge": host["bridge"],
            "pin_root": paths["pin_root"],
            "peers": [{"name": peer, "address": semilab.strip_len(topo[peer]["ipv4"])}],
            "tunnel": {"local": semilab.strip_len(host["ipv4"])},
        }
        os.makedirs(os.path.dirname(paths["socket"]), exist_ok=True)
        with open(paths["config"], "w") as f:
            json.dump(cfg, f)
        log_path = os.path.join(os.path.dirname(paths["socket"]), "semi-netd.log")
        self.netd_logs[h] = log_path
        with open(log_path, "a") as log:
            self.lab.popen(h, [self.binary("semi-netd"), "-f", "-c", paths["config"],
                               "-i", paths["instance"], "-s", paths["socket"],
                               "--state", paths["state"]],
                           key=f"semi-netd-{h}", stdout=log, stderr=log)

    def daemon_log(self, h):
        path = self.netd_logs.get(h)
        if not path:
            return ""
        with contextlib.suppress(OSError), open(path) as f:
            return f.read()
        return ""

    def close(self):
        for n in self.netd.values():
            n.close()
        self.netd = {}
        try:
            self.lab.down()
        finally:
            # The daemons' pin parent, if this run made it and nobody uses it.
            with contextlib.suppress(OSError):
                os.rmdir(DAEMON_PIN_PARENT)

    def leftovers(self):
        return self.lab.leftovers()


# ---- one run ------------------------------------------------------------------

class Run:
    """Common to both runs: streams, observers, the step log, the result."""

    kind = None
    title = None

    def __init__(self, dl, plan):
        self.dl, self.lab, self.plan = dl, dl.lab, plan
        self.steps = []
        self.samplers = {}
        self.socks = []
        self.fdb = None
        self.t0 = None          # the migration's start: time 0 of the report
        self.meters = {}
        self.listen_ns = {}
        self.guest_sender = None

    def step(self, who, what, result=None, t=None):
        self.steps.append({"t_ns": t or now_ns(), "who": who, "what": what,
                           "result": result})

    # -- streams --

    def start_streams(self):
        lab, rate = self.lab, self.plan.rate
        # Long enough for any run; stopped (SIGTERM) once the steps are done.
        seconds = 120
        for key, node, labels in (("to_vm", VM, LABELS), ("from_vm", "client", [])):
            self.meters[key + ".rx"] = lab.meter_recv(node, args=labels + ["-t", "3"],
                                                     key=f"demo-{key}-rx")
            self.listen_ns[key] = now_ns()
        self.meters["to_vm.tx"] = lab.meter_send(
            "client", lab.endpoint(VM)["ipv4"], rate, duration=seconds,
            key="demo-to_vm-tx")
        self.meters["from_vm.tx"] = lab.meter_send(
            VM, lab.endpoint("client")["ipv4"], rate, duration=seconds,
            key="demo-from_vm-tx")
        self.guest_sender = self.meters["from_vm.tx"].proc.pid

    def stop_streams(self):
        for key in ("to_vm.tx", "from_vm.tx"):
            m = self.meters[key]
            with contextlib.suppress(ProcessLookupError):
                os.kill(m.proc.pid, signal.SIGCONT)
                m.stop()
        out = {}
        for key, m in self.meters.items():
            out[key] = m.result(timeout=30)
        return out

    # -- the VM --

    def pause_vm(self):
        """Stop-and-copy: the VM's NIC (its relay) and its programs stop."""
        self.lab.pause(VM)
        os.kill(self.guest_sender, signal.SIGSTOP)

    def resume_guest(self):
        os.kill(self.guest_sender, signal.SIGCONT)

    def relay_pid(self):
        return self.lab.relay_pid(VM)

    # -- observers --

    def add_device_samplers(self, hosts_full):
        """Device counters: the host taps and VF ends (whole counters when
        they are the run's host view, else their drops only), the guest's
        virtio queue (its drops), and what each sender has sent.  Each
        sampler has a netlink socket of its own."""
        g = self.lab.guest(VM)
        host_devs = {g["host_vf"]: "vf", g["tap"]: "tap"}

        def sock(node):
            s = rtnl.open_socket(self.lab.ns(node))
            self.socks.append(s)
            return s

        for h in (SRC, DST):
            key = h if hosts_full else f"dev-{h}"
            self.samplers[key] = Sampler(
                f"links-{h}", lambda s=sock(h): device_counters(
                    s, host_devs, drops_only=not hosts_full))
        self.samplers["dev-guest"] = Sampler(
            "links-guest", lambda s=sock(VM): device_counters(
                s, {g["virtio"]: "virtio"}, drops_only=True))
        # When each frame left its sender (to place lost frames in time).
        self.samplers["sent-to_vm"] = Sampler(
            "sent-client", SentCounter(sock("client"), [self.lab.topo["client"]["dev"]]))
        self.samplers["sent-from_vm"] = Sampler(
            "sent-guest", SentCounter(sock(VM), [g["vf"], g["virtio"]]))

    def start_observers(self):
        self.fdb = FdbWatcher(self.lab, self.dl.mac)
        self.fdb.start()
        for s in self.samplers.values():
            s.start()

    def stop_observers(self):
        for s in self.samplers.values():
            if s.is_alive():
                s.stop()
        if self.fdb and self.fdb.is_alive():
            self.fdb.stop()
        for s in self.socks:
            s.close()
        self.socks = []

    def fdb_snapshot(self):
        return {node: rtnl.fdb_entries(self.lab.ns(node), self.dl.mac)
                for node in ("fabric", SRC, DST)}

    # -- the whole run --

    def execute(self):
        p = self.plan
        self.prepare()
        self.fdb_before = self.fdb_snapshot()
        self.start_observers()
        t_start = now_ns()
        try:
            self.start_streams()
            sleep_until(t_start + p.lead_ms * 1000000)
            self.t0 = now_ns()
            self.migrate()
            sleep_until(now_ns() + p.tail_ms * 1000000)
            self.t_end = now_ns()
            reports = self.stop_streams()
        finally:
            self.stop_observers()
        self.fdb_after = self.fdb_snapshot()
        return self.result(reports)

    def result(self, reports):
        return {
            "kind": self.kind, "title": self.title, "plan": self.plan.as_dict(),
            "t0_ns": self.t0, "t_end_ns": self.t_end, "steps": self.steps,
            "states": self.state_events(),
            "samples": {h: s.samples for h, s in self.samplers.items()},
            "sampler_errors": {h: s.error for h, s in self.samplers.items() if s.error},
            "fdb_events": self.fdb.events(),
            "fdb_before": self.fdb_before, "fdb_after": self.fdb_after,
            "meters": reports, "listen_ns": self.listen_ns,
            "extra": self.extra(),
        }

    def state_events(self):
        return {}

    def extra(self):
        return {}


class SemiNetRun(Run):
    kind = "semi-net"
    title = "semi-net: DESIGN section 5, step by step"

    def prepare(self):
        dl, g = self.dl, self.lab.guest(VM)
        self.src, self.dst = dl.netd[SRC], dl.netd[DST]
        self.src.must("port.add", name=VM, mac=g["mac"], vf=g["host_vf"], tap=g["tap"])
        # The guest's first frame through its VF makes the port assigned.
        self.lab.exec(VM, ["ping", "-c", "1", "-W", "2", self.lab.endpoint("client")["ipv4"]])
        self.wait_state(self.src, "assigned")
        for n in (self.src, self.dst):
            n.start_watch(VM)
        self.samplers = {h: Sampler(f"stats-{h}", lambda n=dl.netd[h]: port_counters(n))
                         for h in (SRC, DST)}
        self.add_device_samplers(hosts_full=False)

    def state_of(self, netd):
        r = netd.request("port.show", name=VM)
        return r["result"]["ports"][0]["state"] if r.get("ok") else None

    def wait_state(self, netd, want, timeout=5):
        self.lab.wait_for(f"{VM} {want} on {netd.host}",
                          lambda: self.state_of(netd) == want, timeout=timeout, step=0.001)

    def cmd(self, netd, words, cmd, **args):
        t = now_ns()
        r = netd.must(cmd, **args)
        self.step(netd.host, f"semi-netctl {words}", r.get("state"), t)
        return r

    def migrate(self):
        p, lab, g = self.plan, self.lab, self.lab.guest(VM)
        src, dst = self.src, self.dst
        # 1. The destination expects the VM.
        self.cmd(dst, f"migrate in {VM} --mac {g['mac']} --tap {g['tap']} --from {SRC}",
                 "migrate.in", name=VM, mac=g["mac"], tap=g["tap"], **{"from": SRC})
        # 2. The source hands over; QEMU unplugs the VF; the source sees it
        #    go and moves to emulated by itself.
        self.cmd(src, f"migrate out {VM} --begin", "migrate.out", name=VM, begin=True)
        t = now_ns()
        lab.unplug(VM)
        self.step("lab", f"VF unplugged ({g['host_vf']} removed on {SRC})", None, t)
        self.wait_state(src, "emulated")
        # Pre-copy: the VM runs on hostA's tap while its memory is copied.
        sleep_until(t + p.precopy_ms * 1000000)
        # 3. Stop-and-copy: the VM pauses; the source forwards its frames.
        t = now_ns()
        self.pause_vm()
        self.step("lab", "VM paused (relay and guest stopped)", None, t)
        self.cmd(src, f"migrate out {VM} --to {DST}", "migrate.out", name=VM, to=DST)
        t_sw = now_ns()
        lab.relay_stop(VM)
        lab.relay_start(VM, DST)
        lab.pause(VM)           # QEMU on hostB holds the tap; the VM is not running yet
        self.step("lab", f"relay moved to {DST} (paused)", None, t_sw)
        sleep_until(t + p.pause_ms * 1000000)
        # 4. The VM runs on the destination.
        t = now_ns()
        lab.resume(VM)
        self.resume_guest()
        self.step("lab", f"VM resumed on {DST}", None, t)
        self.cmd(dst, f"migrate done {VM}", "migrate.done", name=VM)
        t_resume = t
        # The source retires the port once its announce comes back.
        try:
            lab.wait_for(f"{SRC} to retire {VM}", lambda: self.state_of(src) is None,
                         timeout=p.retire_ms / 1000, step=0.005)
        except LabError:
            self.step(SRC, f"{VM} not retired after {p.retire_ms} ms", None)
        # 5. libvirt plugs a VF on the destination.
        sleep_until(t_resume + p.replug_ms * 1000000)
        t = now_ns()
        lab.plug(VM, DST)
        self.step("lab", f"VF plugged ({g['host_vf']} on {DST})", None, t)
        self.cmd(dst, f"port set {VM} --vf {g['host_vf']}", "port.set", name=VM,
                 vf=g["host_vf"])
        self.wait_state(dst, "assigned")

    def state_events(self):
        out = {}
        for h, n in ((SRC, self.src), (DST, self.dst)):
            out[h] = [e for e in n.events]
        return out

    def extra(self):
        return {"final": {h: self.state_of(n) for h, n in ((SRC, self.src), (DST, self.dst))}}


class QemuRun(Run):
    kind = "qemu"
    title = "QEMU failover today: no forwarding, RARP only"

    def prepare(self):
        lab = self.lab
        # The VF behind a NIC's embedded switch: a port of the host bridge,
        # reached by MAC learning, as a legacy SR-IOV NIC's VEB does.
        self.bridge_vf(SRC)
        lab.exec(VM, ["ping", "-c", "1", "-W", "2", lab.endpoint("client")["ipv4"]])
        self.add_device_samplers(hosts_full=True)

    def bridge_vf(self, host):
        """The VF's host end is a port of the host bridge with a static,
        sticky entry for the VF's MAC (the NIC's embedded switch knows its
        VFs' MACs: the guest's RARP through the tap does not move it)."""
        g, h = self.lab.guest(VM), self.lab.host(host)
        rtnl.join_when_created(h["ns"], g["host_vf"], h["bridge"], g["mac"])

    def plug_bridged(self, host):
        """Plug the VF from host; its host end joins the bridge the moment
        it exists, before the guest takes the VF as its primary."""
        g, h = self.lab.guest(VM), self.lab.host(host)
        box = {}

        def join():
            try:
                box["t"] = rtnl.join_when_created(h["ns"], g["host_vf"], h["bridge"],
                                                  g["mac"])
            except OSError as e:
                box["error"] = e

        th = threading.Thread(target=join, name="vf-join", daemon=True)
        th.start()
        time.sleep(0.01)        # its netlink socket listens by now
        self.lab.plug(VM, host)
        th.join(10)
        if "error" in box or "t" not in box:
            raise DemoError(f"could not bridge the VF on {host}: {box.get('error')}")
        return box["t"]

    def migrate(self):
        p, lab, g = self.plan, self.lab, self.lab.guest(VM)
        t = now_ns()
        lab.unplug(VM)
        self.step("lab", f"VF unplugged ({g['host_vf']} removed on {SRC})", None, t)
        sleep_until(t + p.precopy_ms * 1000000)
        t = now_ns()
        self.pause_vm()
        self.step("lab", "VM paused (relay and guest stopped)", None, t)
        sleep_until(t + p.pause_ms * 1000000)
        t = now_ns()
        lab.relay_stop(VM)
        lab.relay_start(VM, DST, announce=True)
        self.resume_guest()
        self.step("lab", f"VM resumed on {DST}; QEMU announces (RARP)", None, t)
        t_resume = t
        sleep_until(t_resume + p.replug_ms * 1000000)
        t = now_ns()
        self.plug_bridged(DST)
        self.step("lab", f"VF plugged ({g['host_vf']} on {DST}, in its bridge)", None, t)



RUNS = {"semi-net": SemiNetRun, "qemu": QemuRun}


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP while a lab comes down: a second
    Ctrl-C must not leave half of it behind.  They act once it is down."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def tail(text, n=12):
    return "\n".join(text.strip().splitlines()[-n:])


def run_one(kind, name, build, plan):
    """One run in a lab of its own; the lab is gone when this returns,
    whatever happened."""
    dl = DemoLab(name, build, daemons=(kind == "semi-net"), plan=plan)
    logs = {}
    try:
        dl.open()
        res = RUNS[kind](dl, plan).execute()
        logs = {h: dl.daemon_log(h) for h in dl.netd_logs}
        res["daemon_logs"] = logs
        return res
    except DemoError as e:
        logs = {h: dl.daemon_log(h) for h in dl.netd_logs}
        detail = "".join(f"\n--- semi-netd on {h}:\n{tail(t)}" for h, t in logs.items() if t)
        raise DemoError(f"{e}{detail}") from None
    finally:
        with signals_held():
            dl.close()
        left = dl.leftovers()
        if left:
            raise DemoError(f"lab {name} left behind: {', '.join(left)}")


def build_dir():
    return semilab.build_dir()
