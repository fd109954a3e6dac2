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
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

import semilab  # noqa: E402
from semilab import LabError  # noqa: E402

import demo_netlink as rtnl  # noqa: E402

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

    def __init__(self, rate=100000, pause_ms=200, lead_ms=700, precopy_ms=100,
                 replug_min_ms=200, replug_max_ms=3000, tail_ms=500, retire_ms=3000):
        self.rate = rate
        self.pause_ms = pause_ms            # stop-and-copy: the VM does not run
        self.lead_ms = lead_ms              # traffic before the migration starts
        self.precopy_ms = precopy_ms        # from the VF's unplug to the stop
        self.replug_min_ms = replug_min_ms  # from the resume to the new VF, at least
        self.replug_max_ms = replug_max_ms  # ... and at most, if QEMU lags behind
        self.tail_ms = tail_ms              # traffic after the last step
        self.retire_ms = retire_ms          # how long the source may take to retire

    @classmethod
    def quick(cls):
        """The test's variant: the same steps, shorter phases."""
        return cls(lead_ms=300, replug_min_ms=100, tail_ms=300)

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

HOLD_CONFIG = {"hold": {"unplug": True, "incoming": True, "plug": True, "max_ms": 2000}}

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
    """UDP datagrams a node has sent so far (its namespace's OutDatagrams):
    frame seq of a stream left its sender when the count passed the count
    at the stream's first frame plus seq."""

    def __init__(self, ns):
        self.udp = rtnl.UdpCounters(ns)

    def __call__(self):
        return {"sent": self.udp.read()["OutDatagrams"]}

    def close(self):
        self.udp.close()


# ---- the lab ------------------------------------------------------------------

class DemoLab:
    """The lab of one run (semi-net: with a semi-netd per host, the lab's
    "daemons" step, and vm1's port on hostA).  close() takes everything
    down, also after a failure or Ctrl-C."""

    def __init__(self, name, build, daemons, plan):
        self.plan = plan
        # semi-netd with the hold path: frames wait while the guest takes none.
        self.lab = semilab.Lab(name, vms=1, build=build, daemons=daemons,
                               daemon_config=HOLD_CONFIG if daemons else None)
        self.build = build
        self.daemons = daemons
        self.netd = {}

    def open(self):
        self.lab.up()
        g = self.lab.guest(VM)
        self.mac = g["mac"]
        self.lab.pin_neigh("client", VM)
        self.lab.pin_neigh(VM, "client")
        self.size_queues()
        if self.daemons:
            for h in (SRC, DST):
                self.netd[h] = Netd(h, self.lab.host(h)["daemon"]["socket"])
        return self

    def size_queues(self):
        """The taps hold what arrives while the VM does not run (QEMU does
        not read its tap then; the lab's default queue holds 5 ms at
        100 kpps): rate x pause, twice over."""
        g = self.lab.guest(VM)
        qlen = max(1000, 2 * self.plan.rate * self.plan.pause_ms // 1000)
        for h in (SRC, DST):
            semilab.ip_batch(self.lab.ns(h), [f"link set dev {g['tap']} txqueuelen {qlen}"])
        semilab.ip_batch(self.lab.ns(VM), [f"link set dev {g['virtio']} txqueuelen {qlen}"])
        self.qlen = qlen

    def daemon_log(self, h):
        path = self.lab.host(h)["daemon"].get("log")
        try:
            with open(path) as f:
                return f.read()
        except (OSError, TypeError):
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
    """What both runs share: the streams, the observers, the step log, the
    VM's moves (QEMU's part: unplug, stop, resume, plug), the result."""

    kind = None
    title = None

    def __init__(self, dl, plan):
        self.dl, self.lab, self.plan = dl, dl.lab, plan
        self.g = self.lab.guest(VM)
        self.steps = []
        self.samplers = {}
        self.closers = []
        self.fdb = None
        self.t0 = self.t_end = None     # the migration's start: time 0 of the report
        self.meters = {}
        self.listen_ns = {}
        self.guest_sender = None
        self.relay_in = None
        self.plug_backlog = None
        self.queued = {}        # QEMU's queues toward the guest: "at STOP", "at VF plug"
        self.windows = {}       # name -> [t_ns, t_ns]: where the guest takes no frame

    def step(self, who, what, result=None, t=None):
        self.steps.append({"t_ns": t or now_ns(), "who": who, "what": what,
                           "result": result})

    # -- streams --

    def start_streams(self):
        lab, rate = self.lab, self.plan.rate
        for key, node, labels in (("to_vm", VM, LABELS), ("from_vm", "client", [])):
            self.meters[key + ".rx"] = lab.meter_recv(node, args=labels + ["-t", "3"],
                                                     key=f"demo-{key}-rx")
            self.listen_ns[key] = now_ns()
        # Long enough for any run; ended (SIGTERM: end markers) after the steps.
        self.meters["to_vm.tx"] = lab.meter_send(
            "client", lab.endpoint(VM)["ipv4"], rate, duration=600, key="demo-to_vm-tx")
        self.meters["from_vm.tx"] = lab.meter_send(
            VM, lab.endpoint("client")["ipv4"], rate, duration=600, key="demo-from_vm-tx")
        self.guest_sender = self.meters["from_vm.tx"].proc.pid

    def stop_streams(self):
        for key in ("to_vm.tx", "from_vm.tx"):
            m = self.meters[key]
            with contextlib.suppress(ProcessLookupError):
                os.kill(m.proc.pid, signal.SIGCONT)
                m.stop()
        return {key: m.result(timeout=30) for key, m in self.meters.items()}

    # -- the VM's moves (QEMU and libvirt) --

    def unplug_vf(self):
        """QEMU unplugs the VF (lab.unplug_now: the guest's VF loses its XDP
        program, then its host end goes, in one netlink request each).
        Returns when the removal was asked for."""
        g = self.g
        host = self.lab.vm_state(VM)["vf_host"]
        t = self.lab.unplug_now(VM)[0]
        self.step("qemu", f"VF unplugged ({g['host_vf']} removed on {host})", None, t)
        # The guest's own window: its VF closes, then unregisters.
        self.windows["VF unplug"] = [t, t + 50 * 10**6]
        return t

    def plug_vf(self, host, before_guest=None):
        """A VF from host, taken by the guest as Linux net_failover takes
        one (lab.plug_failover).  before_guest() runs once the host end
        exists and before the guest has the VF (libvirt's part).  Returns
        the instant the guest registered it."""
        g = self.g
        t_host = now_ns()

        def plugged():
            self.step("qemu", f"VF plugged ({g['host_vf']} on {host})", None, t_host)
            if before_guest:
                before_guest()

        t = self.lab.plug_failover(VM, host, plugged)
        self.step("guest", "net_failover takes the new VF as its primary", None, t)
        # What QEMU still had queued for virtio then is dropped by the guest
        # (a standby delivers nothing while a primary exists): those frames
        # were sent up to queued/rate earlier.
        queued = (self.plug_backlog or {}).get("to the guest", 0)
        self.windows["VF plug"] = [t_host - queued * 10**9 // self.plan.rate - 20 * 10**6,
                                   t + 30 * 10**6]
        return t

    def stop_vm(self):
        """STOP: the guest's CPUs stop (it sends nothing more; what it had
        queued for its virtio NIC still goes out, as QEMU migrates a
        descriptor in flight), then QEMU stops reading its tap."""
        os.kill(self.guest_sender, signal.SIGSTOP)
        before = -1
        deadline = now_ns() + 5 * 10**9
        while now_ns() < deadline:
            st = self.lab.relay_poll(VM)
            now = st["to_host"]["frames"]
            if now == before:
                break
            before = now
        self.stop_to_guest = st["to_guest"]["frames"]
        t = now_ns()
        self.lab.pause(VM)
        self.step("qemu", "VM stopped (guest and relay)", None, t)
        self.windows["VM stopped"] = [t, None]
        return t

    def relay_incoming(self, host):
        """QEMU -incoming on host holds vm1's tap there from now on (frames
        queue in it) and takes the guest once the source lets go of it."""
        t = now_ns()
        self.lab.relay_incoming(VM, host, poll=0.001)
        self.relay_in = host
        self.step("qemu", f"QEMU -incoming on {host} holds {self.g['tap']}", None, t)

    def resume_on(self, host, announce=False):
        """RESUME on host: the destination's relay takes the guest (the one
        waiting with -w, else a new one), the guest runs again."""
        lab = self.lab
        t = now_ns()
        # The source QEMU goes (SIGKILL: what its tap still holds is never
        # read, as with QEMU).
        if self.relay_in:
            lab.relay_handoff(VM, kill=True, poll=0.0002)
            self.relay_in = None
        else:
            lab.relay_stop(VM, kill=True)
            lab.relay_start(VM, host, announce=announce)
        os.kill(self.guest_sender, signal.SIGCONT)
        self.step("qemu", f"VM resumed on {host}" + (" (RARP)" if announce else ""), None, t)
        # Until the network knows where the VM is (QEMU's first RARP; semi-net's
        # announce), frames still go to the source.
        self.windows["VM stopped"][1] = now_ns() + 50 * 10**6
        return t

    def wait_drained(self, backlog, deadline):
        """Poll backlog() (frames queued per direction) until it is down to
        1 ms of frames, it stops shrinking for 200 ms (the relay cannot
        catch up: go on), or the deadline.  Returns what was left."""
        p = self.plan
        left, best, t_best = None, None, now_ns()
        while True:
            left = backlog()
            n = sum(left.values())
            if n <= p.rate // 1000 or now_ns() >= deadline:
                return left
            if best is None or n < best * 0.9:
                best, t_best = n, now_ns()
            elif now_ns() - t_best > 400 * 10**6:
                return left
            time.sleep(0.01)

    def wait_caught_up(self, t_resume, host):
        """libvirt plugs the new VF once the VM runs: here not before
        replug_min_ms, and once QEMU has delivered what queued while the VM
        was stopped (the guest, taking its new VF, would drop it from
        virtio; vhost-net drains it in microseconds, the lab's relay
        cannot), within replug_max_ms."""
        p = self.plan
        sleep_until(t_resume + p.replug_min_ms * 1000000)
        left = self.wait_drained(lambda: self.backlog(host),
                                 t_resume + p.replug_max_ms * 1000000)
        self.plug_backlog = left
        if "to the guest" in left:
            self.queued["at VF plug"] = left["to the guest"]
        self.step("qemu", f"QEMU's queues on {host}: " + ", ".join(
            f"{k} {v}" for k, v in left.items()) + " frames", None)

    def backlog(self, host):
        """Frames queued in QEMU's queues (taps) on host: toward the guest
        (what the datapath put in the tap, not yet read; semi-net only) and
        from it (what the guest sent since the resume, not yet read)."""
        out = {}
        relay = self.lab.relay_poll(VM)
        sent = self.udp_guest.read()["OutDatagrams"] - self.resume_udp
        out["from the guest"] = max(0, sent - relay["to_host"]["frames"])
        to = self.tap_in(host)
        if to is not None:
            out["to the guest"] = max(0, to - relay["to_guest"]["frames"])
        return out

    def tap_in(self, host):
        return None

    # -- observers --

    def add_samplers(self, hosts_devices):
        """Every 10 ms: the host view of the run (hosts_devices: the VM's
        host devices, else the datapath's counters set by the run), the
        taps' and the guest's virtio queue drops, and how many datagrams
        each sender has sent."""
        g = self.g
        host_devs = {g["host_vf"]: "vf", g["tap"]: "tap"}

        def sock(node):
            s = rtnl.open_socket(self.lab.ns(node))
            self.closers.append(s)
            return s

        for h in (SRC, DST):
            key = h if hosts_devices else f"dev-{h}"
            self.samplers[key] = Sampler(
                f"links-{h}", lambda s=sock(h): device_counters(
                    s, host_devs, drops_only=not hosts_devices))
        self.samplers["dev-guest"] = Sampler(
            "links-guest", lambda s=sock(VM): device_counters(
                s, {g["virtio"]: "virtio"}, drops_only=True))
        for d, node in (("to_vm", "client"), ("from_vm", VM)):
            c = SentCounter(self.lab.ns(node))
            self.closers.append(c)
            self.samplers[f"sent-{d}"] = Sampler(f"sent-{node}", c)
        self.udp_guest = rtnl.UdpCounters(self.lab.ns(VM))
        self.closers.append(self.udp_guest)

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
        for c in self.closers:
            c.close()
        self.closers = []

    def fdb_snapshot(self):
        return {node: rtnl.fdb_entries(self.lab.ns(node), self.dl.mac)
                for node in ("fabric", SRC, DST)}

    # -- the whole run --

    def execute(self):
        p = self.plan
        self.prepare()
        self.fdb_before = self.fdb_snapshot()
        try:
            self.start_observers()
            t_start = now_ns()
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
            "tap_queue": self.dl.qlen,
            "t0_ns": self.t0, "t_end_ns": self.t_end, "steps": self.steps,
            "states": self.state_events(),
            "samples": {h: s.samples for h, s in self.samplers.items()},
            "sampler_errors": {h: s.error for h, s in self.samplers.items() if s.error},
            "fdb_events": self.fdb.events(),
            "fdb_before": self.fdb_before, "fdb_after": self.fdb_after,
            "meters": reports, "listen_ns": self.listen_ns, "windows": self.windows,
            "queued": self.queued, "extra": self.extra(),
        }

    def state_events(self):
        return {}

    def extra(self):
        return {}


class SemiNetRun(Run):
    kind = "semi-net"
    title = "semi-net: DESIGN section 5, step by step"

    def prepare(self):
        dl = self.dl
        self.src, self.dst = dl.netd[SRC], dl.netd[DST]
        # The lab added vm1's port on hostA with its VF: it is assigned once
        # the guest sends through the VF.
        self.lab.exec(VM, ["ping", "-c", "1", "-W", "2", self.lab.endpoint("client")["ipv4"]])
        self.wait_state(self.src, "assigned")
        for n in (self.src, self.dst):
            n.start_watch(VM)
        # The samplers' own connections: one request at a time on each.
        for h in (SRC, DST):
            n = Netd(h, self.lab.host(h)["daemon"]["socket"])
            self.closers.append(n)
            self.samplers[h] = Sampler(f"stats-{h}", lambda n=n: port_counters(n))
        self.add_samplers(hosts_devices=False)

    def state_of(self, netd):
        r = netd.request("port.show", name=VM)
        return r["result"]["ports"][0]["state"] if r.get("ok") else None

    def wait_state(self, netd, want, timeout=5):
        self.lab.wait_for(f"{VM} {want or 'retired'} on {netd.host}",
                          lambda: self.state_of(netd) == want, timeout=timeout, step=0.001)

    def cmd(self, netd, words, cmd, **args):
        t = now_ns()
        r = netd.must(cmd, **args)
        self.step(netd.host, f"semi-netctl {words}", r.get("state"), t)
        return r

    def tap_in(self, host):
        """What the datapath has put in vm1's tap on host."""
        r = self.dl.netd[host].request("stats", name=VM)
        return r["result"]["ports"][0]["rx"]["tap"]["packets"] if r.get("ok") else None

    def src_queue(self, relay_to_guest):
        return max(0, self.tap_in(SRC) - relay_to_guest - self.src_base)

    def migrate(self):
        p, g = self.plan, self.g
        src, dst = self.src, self.dst
        # The source tap's accounts start here (the VM runs on its VF: the
        # relay has read all the datapath put in the tap).
        self.src_base = self.tap_in(SRC) - self.lab.relay_poll(VM)["to_guest"]["frames"]
        # 1. The destination expects the VM; its QEMU starts and holds its tap.
        self.cmd(dst, f"migrate in {VM} --mac {g['mac']} --tap {g['tap']} --from {SRC}",
                 "migrate.in", name=VM, mac=g["mac"], tap=g["tap"], **{"from": SRC})
        self.relay_incoming(DST)
        # 2. UNPLUG_PRIMARY: the source hands over, QEMU unplugs the VF, the
        #    source sees it go and moves to emulated by itself.
        self.cmd(src, f"migrate out {VM} --begin", "migrate.out", name=VM, begin=True)
        t = self.unplug_vf()
        self.wait_state(src, "emulated")
        # Pre-copy: the VM runs on its virtio NIC while its memory is copied.
        sleep_until(t + p.precopy_ms * 1000000)
        # 3. STOP, then the source forwards what still comes for the VM.
        t_stop = self.stop_vm()
        r = self.cmd(src, f"migrate out {VM} --to {DST}", "migrate.out", name=VM, to=DST)
        # What entered the source's tap after QEMU last read it: QEMU never
        # reads it.  semi-netd drains it to the destination at --to and says
        # how much that was (exact); without the drain, an estimate from the
        # relay's count when it was paused.
        drained = r.get("drained")
        if drained is not None:
            failed = r.get("drain_failed") or 0
            stuck = drained + failed
            self.step("qemu", f"left in {SRC}'s tap, never read: {stuck} frames", None)
            self.step(src.host, f"drained {drained} frames from {SRC}'s tap to {DST}"
                      + (f" ({failed} not sent)" if failed else ""), None)
            self.queued["at STOP"] = failed
        else:
            stuck = self.src_queue(self.stop_to_guest)
            self.step("qemu", f"left in {SRC}'s tap, never read: {stuck} frames", None)
            self.queued["at STOP"] = stuck
        self.windows["queued at STOP"] = [t_stop - stuck * 10**9 // p.rate - 10 * 10**6,
                                          t_stop]
        # Stop-and-copy: the VM is paused for pause_ms.
        sleep_until(t_stop + p.pause_ms * 1000000)
        # 4. RESUME on the destination.
        self.resume_udp = self.udp_guest.read()["OutDatagrams"]
        t_resume = self.resume_on(DST)
        self.cmd(dst, f"migrate done {VM}", "migrate.done", name=VM)
        # 5. The new VF: libvirt tells semi-net before the guest has it.
        self.wait_caught_up(t_resume, DST)
        self.plug_vf(DST, before_guest=lambda: self.cmd(
            dst, f"port set {VM} --vf {g['host_vf']}", "port.set", name=VM, vf=g["host_vf"]))
        self.wait_state(dst, "assigned")
        # The source retires the port once its announce came back.
        try:
            self.wait_state(src, None, timeout=p.retire_ms / 1000)
        except LabError:
            self.step(SRC, f"{VM} not retired within {p.retire_ms} ms", None)

    def state_events(self):
        return {h: list(n.events) for h, n in ((SRC, self.src), (DST, self.dst))}

    def extra(self):
        return {"final": {h: self.state_of(n) for h, n in ((SRC, self.src), (DST, self.dst))}}


class QemuRun(Run):
    kind = "qemu"
    title = "QEMU failover today: no forwarding, RARP only"

    def prepare(self):
        h = self.lab.host(SRC)
        # No semi-net: the VF's host end is a port of the host bridge (a
        # legacy NIC's embedded switch) with a static entry for its MAC.
        s = rtnl.open_socket(h["ns"])
        try:
            self.bridge_vf(s, SRC)
        finally:
            s.close()
        self.lab.exec(VM, ["ping", "-c", "1", "-W", "2", self.lab.endpoint("client")["ipv4"]])
        self.add_samplers(hosts_devices=True)

    def bridge_vf(self, sock, host):
        """The VF as its NIC's switch knows it: a port of the bridge with a
        static, sticky entry for its MAC (QEMU's RARP through the tap does
        not take it away)."""
        g, h = self.g, self.lab.host(host)
        links = {n: i for i, (n, _) in rtnl.link_dump(sock).items()}
        rtnl.set_master(sock, links[g["host_vf"]], links[h["bridge"]])
        rtnl.fdb_static(sock, links[g["host_vf"]], g["mac"])

    def tap_in(self, host):
        """Frames the fabric sent to host since the resume: toward the VM,
        all but a broadcast now and then."""
        fab = self.lab.topo["fabric"]
        n = self.lab.link_stats("fabric", fab["ports"][host])["tx_packets"]
        if self.fabric_base is None:
            self.fabric_base = n
        return n - self.fabric_base

    def migrate(self):
        p = self.plan
        self.fabric_base = None
        # UNPLUG_PRIMARY: QEMU unplugs the VF; the bridge learns the MAC on
        # the tap from the guest's next frame.
        t = self.unplug_vf()
        sleep_until(t + p.precopy_ms * 1000000)
        t_stop = self.stop_vm()
        sleep_until(t_stop + p.pause_ms * 1000000)
        # RESUME: QEMU on hostB attaches and announces the MAC (RARP).
        self.resume_udp = self.udp_guest.read()["OutDatagrams"]
        self.tap_in(DST)
        t_resume = self.resume_on(DST, announce=True)
        self.wait_caught_up(t_resume, DST)
        s = rtnl.open_socket(self.lab.ns(DST))
        try:
            self.plug_vf(DST, before_guest=lambda: self.bridge_vf(s, DST))
        finally:
            s.close()


RUNS = {"semi-net": SemiNetRun, "qemu": QemuRun}


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP while a lab comes down: a second
    Ctrl-C must not leave half of it behind.  They act once it is down."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
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
    try:
        dl.open()
        res = RUNS[kind](dl, plan).execute()
        res["daemon_logs"] = {h: dl.daemon_log(h) for h in (SRC, DST)} if dl.daemons else {}
        return res
    except (DemoError, LabError, OSError) as e:
        detail = ""
        if dl.daemons:
            detail = "".join(f"\n--- semi-netd on {h}:\n{tail(dl.daemon_log(h))}"
                             for h in (SRC, DST) if dl.daemon_log(h))
        raise DemoError(f"{e}{detail}") from None
    finally:
        with signals_held():
            dl.close()
        left = dl.leftovers()
        if left:
            raise DemoError(f"lab {name} left behind: {', '.join(left)}")


def build_dir():
    return semilab.build_dir()
