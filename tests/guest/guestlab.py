# SPDX-License-Identifier: GPL-2.0
"""The real-guest lab: tests/lab's two hosts, a QEMU guest instead of the
guest model, live migration driven from QMP events, and the ping meter.

    lab = qemu_lab(name, build)                     # fabric, hostA/B, client, taps
    vm = QemuVM(lab, image, "vm1", "hostA").start(); vm.wait_ready()
    vm, report = measure_migration(lab, vm, "hostB", hooks={})

    lab = qemu_lab(name, build, semi_net=True)      # + semi-netd per host
    vm = QemuVM(...).start(); vm.wait_ready(); add_port(lab, "vm1", "hostA")
    vm, report = measure_migration(lab, vm, "hostB", semi_net=True)
                                    # steps: contrib/semi-net-qmp fed QMP events

Topology (tests/lab/semilab.py, without its guest model and relays): per
VM and per host two persistent taps, `tap-vmN` (the port's `tap`, QEMU's
virtio-net standby) and `vf-vmN` (the port's `vf` in representor mode,
QEMU's e1000e primary).  Both are in the host bridge (bridge_vf=True: the
plain learning bridge of the baseline); with bridge_vf=False the VF tap is
left out of the bridge for semi-net's datapath to switch.

Migration hooks: a table {point: callable(ctx)}; the driver calls each when
its QMP event arrives, in order, on the driver's thread:

    point             trigger                                 semi-net (DESIGN 5)
    begin             dest QEMU listening, before `migrate`   D: migrate in
    unplug_primary    source UNPLUG_PRIMARY                   S: migrate out --begin
    wait_unplug       source MIGRATION status wait-unplug     (S: --begin, if not yet)
    stop              source STOP (VM paused)                 S: migrate out --to D
    completed         source MIGRATION status completed
    resume            dest RESUME (VM runs on D)              D: migrate done
    primary_plugged   dest has the primary device again       D: port set --vf
    failed            source MIGRATION failed or cancelled    both: migrate abort

ctx has .lab .vm (name) .guest (lab guest dict) .src .dst (host names)
.src_vm .dst_vm (QemuVM) .event (the triggering event) and .note(text)
for the timeline.  A hook that raises fails the migration (after
"failed" hooks run).
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lab"))
sys.path.insert(0, HERE)

import guestimage  # noqa: E402
import semilab  # noqa: E402
from qemuvm import QEMU, GuestError, QemuVM, now  # noqa: E402

PINGER = os.path.join(HERE, "pinger.py")
PYTHON = "/usr/bin/python3"
HOOK_POINTS = ("begin", "unplug_primary", "wait_unplug", "stop", "completed",
               "resume", "primary_plugged", "failed")
BASE_STEPS = ("namespaces", "pins", "fabric", "hosts", "client")
REPORTS = []        # (title, text): what a test run prints at its end
RESULTS = {"no semi-net": [], "semi-net": []}   # migration reports, side by side


# ---- what the guest needs -----------------------------------------------------

class Unavailable(Exception):
    """QEMU or the guest's packages cannot be had here: a reason to skip."""


def prepare(build, log=print):
    """Install QEMU if missing (tests/guest/deps.sh) and build the guest
    image (cached); the guestimage.Image.  Unavailable when either cannot
    be had from apt."""
    p = subprocess.run([os.path.join(HERE, "deps.sh")], capture_output=True, text=True)
    if p.returncode != 0 or not shutil.which(QEMU):
        raise Unavailable(f"QEMU cannot be installed (tests/guest/deps.sh: "
                          f"{(p.stderr or p.stdout).strip()[-300:] or 'no ' + QEMU})")
    try:
        return guestimage.ensure(build, log=log)
    except guestimage.FetchError as e:
        raise Unavailable(f"guest kernel or busybox cannot be fetched: {e}") from e


# ---- the lab -----------------------------------------------------------------

def _taps_up(lab, bridge_vf):
    for vm, g in lab.topo["guests"].items():
        for h, host in lab.topo["hosts"].items():
            lines = [f"tuntap add dev {g['tap']} mode tap",
                     f"link set dev {g['tap']} master {host['bridge']} up",
                     f"tuntap add dev {g['host_vf']} mode tap"]
            if bridge_vf:
                lines.append(f"link set dev {g['host_vf']} master {host['bridge']}")
            lines.append(f"link set dev {g['host_vf']} up")
            semilab.ip_batch(host["ns"], lines)
    lab.state["qemu_taps"] = {"bridge_vf": bridge_vf}


def qemu_steps(bridge_vf=True, daemons=False):
    """The lab's steps for a QEMU guest: tests/lab's topology up to the
    client, then the two taps per VM and host, then (daemons) tests/lab's
    semi-netd per host."""
    want = BASE_STEPS + (("daemons",) if daemons else ())
    found = {s.name: s for s in semilab.STEPS if s.name in want}
    missing = set(want) - set(found)
    if missing:
        raise semilab.LabError(f"tests/lab has no step {', '.join(sorted(missing))}")
    steps = [found[n] for n in BASE_STEPS]
    steps.append(semilab.Step("qemu-taps", lambda lab: _taps_up(lab, bridge_vf)))
    if daemons:
        steps.append(found["daemons"])
    return steps


# semi-netd's hold path (README "Live migration"): the source parks the VM's
# frames from UNPLUG_PRIMARY until the guest has let its primary go
# (DEVICE_DELETED: semi-net-qmp's `migrate out --unplugged`), the
# destination until RESUME.
HOLD_CONFIG = {"hold": {"unplug": True, "incoming": True, "max_ms": 2000}}


def qemu_lab(name, build, vms=1, bridge_vf=True, semi_net=False, daemon_config=None):
    """A lab brought up for QEMU guests (down() it when done).  semi_net:
    one semi-netd per host (tests/lab's daemons step, which adds no port:
    add_port() once the guest runs), and the VF taps out of the bridges
    (the datapath switches them); daemon_config None: HOLD_CONFIG."""
    if semi_net:
        bridge_vf = False
        if daemon_config is None:
            daemon_config = HOLD_CONFIG
    lab = semilab.Lab(name, vms=vms, build=build, relay=False, vf=False,
                      steps=qemu_steps(bridge_vf, semi_net), daemons=semi_net,
                      daemon_config=daemon_config)
    lab.topo["daemon_ports"] = False
    try:
        lab.up()
    except BaseException:
        with contextlib.suppress(Exception):
            lab.down()
        raise
    return lab


def fdb_port(lab, node, mac):
    """The bridge port a node's bridge has learned mac on (None: unknown)."""
    out = lab.exec(node, ["bridge", "-j", "fdb", "show"], check=False)
    try:
        entries = json.loads(out or "[]")
    except ValueError:
        return None
    for e in entries:
        if e.get("mac") == mac and "master" in e:     # the bridge's, not a device's own
            return e.get("ifname")
    return None


# ---- ping -------------------------------------------------------------------

class Pinger:
    """tests/guest/pinger.py in the client namespace, as a lab process.
    progress: (time, sent, answered) samples, every 100 ms."""

    def __init__(self, lab, dest, rate=100, node="client", wait=1.0):
        self.lab = lab
        self.key = f"pinger-{time.monotonic_ns()}"
        self.out = os.path.join(lab.rundir, f"{self.key}.json")
        self.progress = []
        self.err = []
        cmd = [PYTHON, PINGER, dest, "-i", str(1.0 / rate), "-w", str(wait),
               "-o", self.out]
        self.proc = lab.popen(node, cmd, key=self.key, stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True)
        started = threading.Event()
        self.thread = threading.Thread(target=self._reader, args=(started,), daemon=True)
        self.thread.start()
        if not started.wait(10):
            self.lab.stop_proc(self.key)
            raise GuestError(f"pinger did not start: {' '.join(self.err)}")

    def _reader(self, started):
        for line in self.proc.stderr:
            w = line.split()
            if w[:1] == ["started"]:
                started.set()
            elif w[:1] == ["progress"] and len(w) == 3:
                self.progress.append((now(), int(w[1]), int(w[2])))
            else:
                self.err.append(line.strip())

    def clean_for(self, seconds, slack=1):
        """No more than slack requests unanswered over the last seconds
        (late replies allowed for: the window ends 0.3 s ago)."""
        p = self.progress
        if not p or p[-1][0] - p[0][0] < seconds + 0.3:
            return False
        end = next(s for s in reversed(p) if s[0] <= p[-1][0] - 0.3)
        begin = next((s for s in reversed(p) if s[0] <= end[0] - seconds), None)
        if begin is None:
            return False
        sent = end[1] - begin[1]
        return sent > 0 and sent - (end[2] - begin[2]) <= slack

    def stop(self, timeout=10):
        """Stop sending; the report once late replies had their time."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout)
        finally:
            self.lab.stop_proc(self.key)
        self.thread.join(2)
        try:
            with open(self.out) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            raise GuestError(f"pinger wrote no report ({self.proc.returncode}): "
                             f"{' '.join(self.err)}") from e
        os.unlink(self.out)
        return report


def ping_ok(lab, dest, count=5, node="client", timeout=20):
    """True when dest answers count pings in a row within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = lab.exec(node, ["ping", "-c", str(count), "-i", "0.05", "-W", "1", "-q",
                              dest], check=False, timeout=count + 5)
        if f"{count} received" in out:
            return True
        time.sleep(0.2)
    return False


# ---- migration ----------------------------------------------------------------

class HookContext:
    def __init__(self, mig, event):
        self.mig = mig
        self.lab, self.vm, self.guest = mig.lab, mig.vm, mig.lab.guest(mig.vm)
        self.src, self.dst = mig.src_vm.host, mig.dst_host
        self.src_vm, self.dst_vm = mig.src_vm, mig.dst_vm
        self.event = event

    def note(self, text):
        self.mig.mark("hook", text)


def command_hook(where, argv, timeout=10):
    """A hook that runs argv in the source's or the destination's host
    namespace (where: "src" or "dst"; nsenter, so it sees bpffs).  Words of
    argv are formatted with {vm} {mac} {tap} {vf} {src} {dst} and {socket}
    (that host's semi-netd control socket in the lab).  Its output is put
    on the timeline; a non-zero exit fails the migration.  For instance:

        "stop": command_hook("src", ["semi-netctl", "-s", "{socket}",
                                     "migrate", "out", "{vm}", "--to", "{dst}"])
    """
    if where not in ("src", "dst"):
        raise ValueError(f"where must be src or dst, not {where!r}")

    def hook(ctx):
        host = ctx.src if where == "src" else ctx.dst
        h = ctx.lab.host(host)
        words = {"vm": ctx.vm, "mac": ctx.guest["mac"], "tap": ctx.guest["tap"],
                 "vf": ctx.guest["host_vf"], "src": ctx.src, "dst": ctx.dst,
                 "socket": h["daemon"]["socket"]}
        cmd = [w.format(**words) for w in argv]
        try:
            out = ctx.lab.exec(host, cmd, timeout=timeout)
        except semilab.LabError as e:
            ctx.note(f"{host}: {' '.join(cmd)}: {e}")
            raise GuestError(f"hook on {host} failed: {e}") from e
        ctx.note(f"{host}: {' '.join(cmd)}" + (f": {out.strip()}" if out.strip() else ""))
        return out
    return hook


# ---- semi-net ----------------------------------------------------------------

SEMI_NET_QMP = os.path.join(os.path.dirname(os.path.dirname(HERE)), "contrib", "semi-net-qmp")


def add_port(lab, vm, host, timeout=10):
    """Register the running guest's port with host's semi-netd, as libvirt
    would once the VM runs there: its VF (the primary's tap, representor
    mode) and its tap (the standby's).  The port starts in handover and
    is assigned at the guest's first frame through its VF: pings bring
    that about.  Returns the port as `port show -j` has it."""
    g = lab.guest(vm)
    lab.netctl(host, "port", "add", vm, "--mac", g["mac"], "--vf", g["host_vf"],
               "--tap", g["tap"])
    dest = semilab.strip_len(g["ipv4"])
    deadline = time.monotonic() + timeout
    while True:
        lab.exec("client", ["ping", "-c", "1", "-W", "1", "-q", dest], check=False)
        port = port_show(lab, host, vm)
        if port and port.get("state") == "assigned":
            return port
        if time.monotonic() > deadline:
            raise GuestError(f"port {vm} on {host} not assigned within {timeout}s: {port}")


def port_show(lab, host, vm):
    """The port as host's semi-netd shows it (None: no such port)."""
    p = lab.netctl(host, "port", "show", vm, check=None, json_out=True)
    if not isinstance(p, (dict, list)):
        return None
    out = p
    if isinstance(out, dict) and isinstance(out.get("ports"), list):
        out = out["ports"][0] if out["ports"] else None
    return out


class Watch:
    """`semi-netctl -j watch --port VM --no-stats` against one host's
    semi-netd: its events, each with the time it was read."""

    def __init__(self, lab, host, vm):
        self.lab, self.host = lab, host
        self.key = f"watch-{host}-{time.monotonic_ns()}"
        self.events = []
        dm = lab.host(host)["daemon"]
        self.proc = lab.spawn(self.key, [lab.binary("semi-netctl"), "-s", dm["socket"], "-j",
                                         "watch", "--port", vm, "--no-stats"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                ev = json.loads(line)
                if isinstance(ev, dict) and "event" in ev:
                    ev["_read"] = now()
                    self.events.append(ev)

    def stop(self):
        self.lab.stop_proc(self.key)
        self.thread.join(2)
        return self.events


def describe_watch_event(ev):
    """One semi-netd watch event in a few words."""
    kind = ev.get("event")
    if kind == "state":
        return f"semi-netd: {ev.get('from')} -> {ev.get('to')} ({ev.get('cause')}, rx {ev.get('path')})"
    if kind == "migration":
        return f"semi-netd: migration {ev.get('action')}" + \
            (f" (peer {ev['peer']})" if ev.get("peer") else "")
    if kind == "announce":
        what = f"stopped: {ev['stopped']}" if ev.get("stopped") else f"{ev.get('frames')} frames"
        return f"semi-netd: announce round {ev.get('round')}, {what}"
    if kind == "hold":
        return (f"semi-netd: hold released ({ev.get('cause')}) into {ev.get('into')} after "
                f"{ev.get('held_ms')} ms: {ev.get('held')} held, {ev.get('released')} released, "
                f"{ev.get('dropped')} dropped")
    if kind == "port":
        more = {k: v for k, v in ev.items() if k not in ("event", "port", "action", "time_ms",
                                                        "_read")}
        return f"semi-netd: port {ev.get('action')}" + \
            (f" {json.dumps(more, sort_keys=True)}" if more else "")
    if kind == "device":
        return f"semi-netd: {ev.get('role')} {ev.get('device')} {ev.get('action')}"
    return f"semi-netd: {json.dumps({k: v for k, v in ev.items() if k != '_read'})}"


def virsh_event_line(ev, domain):
    """A QMP event as `virsh qemu-monitor-event` prints it."""
    t = ev["time"]
    data = ev.get("data")
    return (f"event {ev['event']} at {int(t)}.{int(round((t % 1) * 1e6)) % 1000000:06d} "
            f"for domain '{domain}': {json.dumps(data, separators=(',', ':')) if data else '<null>'}\n")


class QmpSteps:
    """contrib/semi-net-qmp on both hosts of one migration, as a deployment
    runs it (README "With libvirt and QEMU"): started with the migration,
    the destination's runs `migrate in` at once; each then reads its own
    QEMU's QMP events, in the format of `virsh qemu-monitor-event`, from
    a FIFO (the script's --events) that this migration's event bus feeds,
    and runs semi-netctl against its host's semi-netd as each comes:

        source       UNPLUG_PRIMARY / wait-unplug  migrate out --begin
                     DEVICE_DELETED (primary)      migrate out --unplugged
                     STOP                          migrate out --to DST
        destination  RESUME                        migrate done
                     DEVICE_ADDED (primary)        port set --vf
        either       MIGRATION failed/cancelled    migrate abort

    QEMU 7.2 has no DEVICE_ADDED event: the driver's qom-list poll
    (hook primary_plugged) stands in for it, one DEVICE_ADDED line with
    the primary's id.  hooks() is the Migration's hook table; finish()
    ends the scripts and returns what they logged."""

    def __init__(self, lab, vm):
        self.lab, self.vm = lab, vm
        self.procs = {}         # role -> (Popen, key)
        self.fifos = {}         # role -> (path, fd)
        self.log = []           # (time, role, line)
        self.sources = {}       # QMP source name -> role
        self.sub = self.bus = self.feeder = None
        self.exit = {}          # role -> exit status (finish)
        self.lock = threading.Lock()

    # The events that make a step (their feeding is put on the timeline).
    STEP_EVENTS = ("UNPLUG_PRIMARY", "DEVICE_DELETED", "STOP", "RESUME", "DEVICE_ADDED")

    def hooks(self):
        return {"begin": self._begin, "primary_plugged": self._plugged,
                "failed": self._failed}

    def _start(self, role, ctx):
        lab, g = self.lab, ctx.guest
        host = ctx.src if role == "source" else ctx.dst
        fifo = os.path.join(lab.rundir, "guest", f"qmp-{role}-{time.monotonic_ns()}.fifo")
        os.mkfifo(fifo, 0o600)
        # O_RDWR: never blocks, and the script sees end of file once it is closed.
        self.fifos[role] = (fifo, os.open(fifo, os.O_RDWR))
        cmd = [PYTHON, SEMI_NET_QMP, "--role", role, "--domain", self.vm, "--port", self.vm,
               "--mac", g["mac"], "--tap", g["tap"], "--vf", g["host_vf"],
               "--primary", QemuVM.PRIMARY, "--source", ctx.src, "--destination", ctx.dst,
               "--socket", lab.host(host)["daemon"]["socket"],
               "--semi-netctl", lab.binary("semi-netctl"), "--events", fifo]
        key = f"semi-net-qmp-{role}-{time.monotonic_ns()}"
        proc = lab.popen(host, cmd, key=key, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        self.procs[role] = (proc, key)
        threading.Thread(target=self._reader, args=(role, proc), daemon=True).start()

    def _reader(self, role, proc):
        for line in proc.stderr:
            line = line.rstrip("\n")
            # "semi-net-qmp: HH:MM:SS <command>: <output>" -- the time is ours.
            line = re.sub(r"^semi-net-qmp: \d\d:\d\d:\d\d ", "", line)
            with self.lock:
                self.log.append((now(), role, line))

    def _begin(self, ctx):
        self.bus = ctx.src_vm.bus
        self.sub = self.bus.subscribe()
        self.sources = {ctx.src_vm.name: "source", ctx.dst_vm.name: "destination"}
        for role in ("destination", "source"):
            self._start(role, ctx)
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()
        # The destination's script runs `migrate in` first thing: the
        # migration starts once the port is there, incoming.
        deadline = time.monotonic() + 15
        while True:
            port = port_show(self.lab, ctx.dst, self.vm)
            if port and port.get("state") == "incoming":
                break
            proc = self.procs["destination"][0]
            if proc.poll() is not None or time.monotonic() > deadline:
                raise GuestError(f"semi-net-qmp on {ctx.dst}: no migrate in "
                                 f"({self.text()[-300:]})")
            time.sleep(0.01)
        ctx.note(f"{ctx.dst}: port {self.vm} incoming (semi-net-qmp: migrate in)")

    def _feed(self):
        while True:
            ev = self.sub.get()
            if ev is None:
                return
            role = self.sources.get(ev["source"])
            if role is None or ev["event"].startswith("GUEST_"):
                continue        # the guest's console, not QMP
            self._write(role, virsh_event_line(ev, self.vm))
            if ev["event"] in self.STEP_EVENTS:
                with self.lock:
                    self.log.append((now(), role, f"<- {ev['event']} (fed)"))

    def _write(self, role, line):
        with self.lock:
            f = self.fifos.get(role)
            if f is not None:
                with contextlib.suppress(OSError):
                    os.write(f[1], line.encode())

    def _plugged(self, ctx):
        # Into the bus, so that it keeps its place among the events.
        self.bus.post({"source": ctx.dst_vm.name, "event": "DEVICE_ADDED", "time": now(),
                       "data": {"device": QemuVM.PRIMARY,
                                "path": f"/machine/peripheral/{QemuVM.PRIMARY}"}})

    def _failed(self, ctx):
        # semi-net-qmp aborts on QEMU's failed/cancelled; a migration the
        # driver gave up on has neither: abort on both hosts here.
        for host in (ctx.src, ctx.dst):
            with contextlib.suppress(Exception):
                self.lab.netctl(host, "migrate", "abort", self.vm, check=None)

    def finish(self, timeout=10):
        """Wait for both scripts to end (the source's at MIGRATION
        completed, the destination's after port set), close their FIFOs;
        the log [(time, role, line)]."""
        deadline = time.monotonic() + timeout
        for role, (proc, key) in list(self.procs.items()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                with self.lock:
                    self.log.append((now(), role, "still running: stopped"))
            self.lab.stop_proc(key)
        if self.sub is not None:
            self.sub.put(None)
            self.bus.unsubscribe(self.sub)
        if self.feeder is not None:
            self.feeder.join(2)
        with self.lock:
            for path, fd in self.fifos.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self.fifos.clear()
        self.exit = {role: p.returncode for role, (p, _) in self.procs.items()}
        self.procs.clear()
        return list(self.log)

    def text(self):
        with self.lock:
            return " | ".join(f"{r}: {l}" for _, r, l in self.log)


class Migration:
    """One live migration of a running QemuVM to another host of the lab."""

    def __init__(self, lab, src_vm, dst_host, hooks=None, timeout=60, image=None):
        unknown = set(hooks or {}) - set(HOOK_POINTS)
        if unknown:
            raise ValueError(f"unknown hook points: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(HOOK_POINTS)})")
        self.lab, self.src_vm, self.dst_host = lab, src_vm, dst_host
        self.vm = src_vm.vm
        self.image = image or src_vm.image
        self.hooks = hooks or {}
        self.timeout = timeout
        self.dst_vm = None
        self.timeline = []          # (time, source, what)
        self.times = {}             # point or event -> first time
        self.stats = {}

    def mark(self, source, what, t=None):
        t = t if t is not None else now()
        self.timeline.append((t, source, what))
        return t

    def _hook(self, point, event=None):
        self.times.setdefault(point, event["time"] if event else now())
        fn = self.hooks.get(point)
        if fn is None:
            return
        t0 = now()
        fn(HookContext(self, event))
        self.mark("hook", f"{point} done in {(now() - t0) * 1000:.1f} ms", t0)

    def run(self):
        """Migrate; returns the QemuVM now running on the destination."""
        bus = self.src_vm.bus
        sub = bus.subscribe()
        src = self.src_vm
        uri = f"unix:{os.path.join(self.lab.rundir, 'guest', f'mig-{time.monotonic_ns()}.sock')}"
        try:
            self.dst_vm = QemuVM(self.lab, self.image, self.vm, self.dst_host,
                                 incoming=True, bus=bus).start()
            dst = self.dst_vm
            for q in (src.qmp, dst.qmp):
                q.cmd("migrate-set-capabilities",
                      capabilities=[{"capability": "events", "state": True}])
            dst.qmp.cmd("migrate-incoming", uri=uri)
            self._hook("begin")
            self.times["start"] = self.mark("driver", f"migrate {src.host} -> {dst.host}")
            src.qmp.cmd("migrate", uri=uri)
            self._loop(sub, src, dst)
        except BaseException as e:
            self.mark("driver", f"failed: {e}")
            with contextlib.suppress(Exception):
                if "failed" not in self.times:
                    self._hook("failed")
            with contextlib.suppress(Exception):
                src.qmp.cmd("migrate_cancel")
            if self.dst_vm is not None:
                self.dst_vm.stop()
            raise
        finally:
            bus.unsubscribe(sub)
        # QEMU fills in the figures just after it announces "completed".
        deadline = time.monotonic() + 2
        while True:
            self.stats = src.qmp.cmd("query-migrate")
            if self.stats.get("total-time") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # The source is left in postmigrate: nothing more to do there.
        src.stop()
        self.mark("driver", f"source QEMU on {src.host} stopped")
        return self.dst_vm

    def _loop(self, sub, src, dst):
        deadline = time.monotonic() + self.timeout
        resumed = plugged = guest_primary = completed = False
        while not (completed and resumed and plugged and guest_primary):
            if time.monotonic() > deadline:
                missing = [n for n, ok in [("completed", completed), ("RESUME", resumed),
                                           ("primary plug", plugged),
                                           ("primary active in the guest", guest_primary)]
                           if not ok]
                raise GuestError(f"migration to {dst.host}: no {', '.join(missing)} "
                                 f"within {self.timeout}s")
            for vm in (src, dst):
                if not vm.alive() and not (vm is src and completed):
                    raise GuestError(f"QEMU on {vm.host} exited during the migration: "
                                     f"{vm.tail(vm.log_path)}")
            try:
                ev = sub.get(timeout=0.02)
            except Exception:
                ev = None
            if ev is None:
                if resumed and not plugged and dst.primary_present():
                    plugged = True
                    self.mark(f"dst:{dst.host}", "QEMU: primary device plugged")
                    self._hook("primary_plugged")
                continue
            who = "src" if ev["source"] == src.name else \
                  "dst" if ev["source"] == dst.name else None
            if who is None:
                continue
            name, data = ev["event"], ev["data"]
            desc = name
            if name == "MIGRATION":
                desc = f"MIGRATION {data.get('status')}"
            elif name == "GUEST_SLAVES":
                desc = f"guest: {data.get('text')}"
            elif data and name not in ("STOP", "RESUME"):
                desc = f"{name} {json.dumps(data, sort_keys=True)}"
            self.mark(f"{who}:{src.host if who == 'src' else dst.host}", desc, ev["time"])
            self.times.setdefault(f"{who}:{desc}", ev["time"])
            if who == "src":
                if name == "UNPLUG_PRIMARY":
                    self._hook("unplug_primary", ev)
                elif name == "MIGRATION" and data.get("status") == "wait-unplug":
                    self._hook("wait_unplug", ev)
                elif name == "STOP":
                    self._hook("stop", ev)
                elif name == "MIGRATION" and data.get("status") == "completed":
                    completed = True
                    self._hook("completed", ev)
                elif name == "MIGRATION" and data.get("status") in ("failed", "cancelled"):
                    info = {}
                    with contextlib.suppress(GuestError):
                        info = src.qmp.cmd("query-migrate")
                    self._hook("failed", ev)
                    raise GuestError(f"migration {data.get('status')}: "
                                     f"{info.get('error-desc', '')}")
            else:
                if name == "RESUME":
                    resumed = True
                    self._hook("resume", ev)
                elif name == "GUEST_SLAVES" and resumed and \
                        data.get("active") not in (None, data.get("standby")):
                    guest_primary = True
                    self.times.setdefault("guest_primary_active", ev["time"])

    def summary(self):
        """The migration's figures (seconds, ms) relative to `migrate`."""
        t0 = self.times.get("start")
        st = self.stats or {}

        def rel(key):
            t = self.times.get(key)
            return round(t - t0, 3) if t is not None and t0 is not None else None
        return {
            "from": self.src_vm.host, "to": self.dst_host,
            "total_ms": st.get("total-time"), "downtime_ms": st.get("downtime"),
            "setup_ms": st.get("setup-time"),
            "ram_mb": round(st.get("ram", {}).get("transferred", 0) / 1e6, 1),
            "unplug_primary_s": rel("unplug_primary"),
            "stop_s": rel("stop"), "resume_s": rel("resume"),
            "primary_plugged_s": rel("primary_plugged"),
            "guest_primary_active_s": rel("guest_primary_active"),
        }


def _merge_hooks(*tables):
    """One hook table from several: each point calls its hooks in order."""
    merged = {}
    for table in tables:
        for point, fn in (table or {}).items():
            merged.setdefault(point, []).append(fn)

    def chain(fns):
        def hook(ctx):
            for fn in fns:
                fn(ctx)
        return hook
    return {p: fns[0] if len(fns) == 1 else chain(fns) for p, fns in merged.items()}


def measure_migration(lab, vm, dst_host, hooks=None, rate=100, pre=1.0, settle=2.0,
                      max_after=60.0, timeout=60, semi_net=False):
    """Migrate vm to dst_host while the client pings the guest at rate/s.

    Pinging starts pre seconds before the migration and ends once the
    migration is complete (primary active on the destination) and the last
    settle seconds had no loss, or max_after seconds after that (without
    semi-net an outage has lasted over 10 s: nothing moves the bridge's
    entry from the standby's tap to the primary's until the guest sends).

    semi_net: the lab runs semi-netd (qemu_lab(semi_net=True)) and the
    port is on the source; the steps are run by contrib/semi-net-qmp from
    QEMU's events (QmpSteps), both daemons are watched, and the report
    has their events on the timeline and the port's counters.

    Returns (the QemuVM now running, report)."""
    g = lab.guest(vm.vm)
    src_host = vm.host
    dest = semilab.strip_len(g["ipv4"])
    steps = watches = None
    before = {}
    if semi_net:
        steps = QmpSteps(lab, vm.vm)
        hooks = _merge_hooks(steps.hooks(), hooks)
        watches = {h: Watch(lab, h, vm.vm) for h in (src_host, dst_host)}
        before = port_stats(lab, src_host, vm.vm)
    guest_before = guest_counters(vm)
    pinger = Pinger(lab, dest, rate=rate)
    mig = Migration(lab, vm, dst_host, hooks=hooks, timeout=timeout)
    semi = {}
    try:
        time.sleep(pre)
        try:
            new_vm = mig.run()
        except GuestError as e:
            t0 = mig.times.get("start", now())
            for t, role, line in (steps.log if steps is not None else []):
                mig.mark(f"qmp:{role}", f"semi-net-qmp {line}", t)
            lines = [f"    {t - t0:+8.3f}s  {s:18} {w}" for t, s, w in sorted(mig.timeline)]
            raise GuestError(f"{e}; the migration so far:\n" + "\n".join(lines)) from e
        done = now()
        # Wait for the network to follow: settle seconds of answered pings.
        while now() - done < max_after:
            time.sleep(0.1)
            if now() - done >= settle and pinger.clean_for(settle):
                break
    finally:
        ping = pinger.stop()
        if steps is not None:
            semi["qmp_log"] = steps.finish()
            semi["qmp_exit"] = steps.exit
            # The source retires the port once its announce came back.
            semi["retired"] = _wait_retired(lab, src_host, vm.vm)
            semi["after"] = port_stats(lab, dst_host, vm.vm)
            semi["port"] = port_show(lab, dst_host, vm.vm)
            semi["events"] = {h: w.stop() for h, w in watches.items()}
    t0 = mig.times.get("start", ping["start"])
    for gap in ping["gaps"]:
        mig.mark("ping", f"{gap['count']} lost from here ({gap['ms']:.0f} ms)", gap["start"])
        mig.mark("ping", "answered again", gap["end"])
    guest_after = guest_counters(new_vm)
    ping["by_window"] = lost_by_window(ping["gaps"], mig.times)
    report = {"migration": mig.summary(), "ping": ping, "semi_net": bool(semi_net),
              "guest": {"before": guest_before, "after": guest_after,
                        "refused": refused_by_failover(guest_before, guest_after)},
              "fdb": {n: fdb_port(lab, n, g["mac"]) for n in ("fabric", "hostA", "hostB")}}
    if semi_net:
        for t, role, line in semi["qmp_log"]:
            host = src_host if role == "source" else dst_host
            mig.mark(f"qmp:{host}", f"semi-net-qmp {line}", t)
        # A state event says when its path was stored (CLOCK_MONOTONIC,
        # this machine's); the others carry the wall clock in ms.
        mono = time.time() - time.monotonic()
        for h, evs in semi["events"].items():
            for ev in evs:
                t = ev["applied_ns"] / 1e9 + mono if ev.get("applied_ns") else \
                    ev["time_ms"] / 1000 if ev.get("time_ms") else ev["_read"]
                mig.mark(f"semi:{h}", describe_watch_event(ev), t)
        report["semi"] = {
            "qmp_exit": semi["qmp_exit"], "retired": semi["retired"],
            "counters_src_before": before, "counters_dst_after": semi["after"],
            "port": semi["port"],
            "events": {h: [{k: v for k, v in ev.items() if k != "_read"} for ev in evs]
                       for h, evs in semi["events"].items()}}
    report["timeline"] = [(round(t - t0, 3), s, w) for t, s, w in sorted(mig.timeline)]
    return new_vm, report


GUEST_COUNTERS = ("rx_packets", "rx_dropped", "rx_nohandler", "tx_packets")


def guest_counters(vm):
    """The guest's own counters per network device ({dev: {name: n}}), read
    on its console; {} when the console does not answer."""
    cmd = ("for d in /sys/class/net/eth*; do drv=$(readlink $d/device/driver); "
           "drv=${drv:-/none}; r=slave; [ -e $d/master ] || r=top; echo ${d##*/} " +
           " ".join(f"$(cat $d/statistics/{c})" for c in GUEST_COUNTERS) +
           " ${drv##*/} $r; done")
    try:
        st, out = vm.console.run(cmd, timeout=10)
    except (GuestError, OSError, AttributeError):
        return {}
    res = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) == len(GUEST_COUNTERS) + 3 and all(x.isdigit() for x in w[1:-2]):
            res[w[0]] = dict(zip(GUEST_COUNTERS, map(int, w[1:-2])), driver=w[-2],
                             slave=w[-1] == "slave")
    return res


def refused_by_failover(before, after):
    """Frames the guest's standby (virtio_net, a slave of the failover
    master) received and net_failover refused to deliver because a primary
    was registered: its rx_nohandler (RX_HANDLER_EXACT with no exact
    match) over the migration -- in handover these are mostly the standby
    copies of frames the primary delivered; None if unknown."""
    for dev, c in after.items():
        if c.get("driver") == "virtio_net" and c.get("slave") and dev in before:
            return c["rx_nohandler"] - before[dev]["rx_nohandler"]
    return None


def port_stats(lab, host, vm):
    """The port's counters on host (`stats PORT -j`), {} if it has none."""
    p = lab.netctl(host, "stats", vm, check=None, json_out=True)
    return p if isinstance(p, dict) else {}


def _wait_retired(lab, host, vm, timeout=5):
    """Seconds until host no longer has the port (None: still there)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if port_show(lab, host, vm) is None:
            return round(time.monotonic() - t0, 3)
        time.sleep(0.05)
    return None


WINDOWS = ("before", "unplug", "stop", "plug")


def lost_by_window(gaps, times):
    """Lost pings by where in the migration their run began (its first
    request's send time): before UNPLUG_PRIMARY; "unplug" -- from it to
    STOP (the guest lets its primary go); "stop" -- from STOP to the
    primary's plug on the destination (the VM paused, resumed there);
    "plug" -- from then on (the guest takes its new primary)."""
    bounds = [("unplug", times.get("unplug_primary")), ("stop", times.get("stop")),
              ("plug", times.get("primary_plugged"))]
    out = dict.fromkeys(WINDOWS, 0)
    for g in gaps:
        where = "before"
        for name, t in bounds:
            if t is not None and g["start"] >= t:
                where = name
        out[where] += g["count"]
    return out


def format_report(r):
    m, p = r["migration"], r["ping"]
    lines = [f"migration {m['from']} -> {m['to']}: total {m['total_ms']} ms, downtime "
             f"{m['downtime_ms']} ms, {m['ram_mb']} MB; UNPLUG_PRIMARY +{m['unplug_primary_s']}s, "
             f"STOP +{m['stop_s']}s, RESUME +{m['resume_s']}s, primary plugged "
             f"+{m['primary_plugged_s']}s, active in guest +{m['guest_primary_active_s']}s",
             f"  ping {1000 / p['interval_ms']:.0f}/s: sent {p['sent']}, received "
             f"{p['received']}, lost {p['lost']}, duplicates {p['duplicates']}; "
             f"longest outage {p['longest_outage_ms']:.0f} ms; longest silence "
             f"{p['max_silence_ms']:.0f} ms; rtt max "
             f"{(p['rtt_ms'] or {}).get('max', 0):.1f} ms",
             "  lost by window: " + ", ".join(f"{k} {v}" for k, v in
                                              p.get("by_window", {}).items()),
             "  fdb after: " + ", ".join(f"{k} {v}" for k, v in r["fdb"].items())]
    if r.get("semi"):
        sm = r["semi"]
        port = sm.get("port") or {}
        lines.append(f"  semi-net: destination port {port.get('state')}, "
                     f"source retired {'after %.2fs' % sm['retired'] if sm['retired'] is not None else 'NOT within 5s'}"
                     f"; semi-net-qmp exit {sm['qmp_exit']}")
    refused = (r.get("guest") or {}).get("refused")
    if refused is not None:
        lines.append(f"  guest: {refused} frames refused by net_failover on the standby "
                     "(rx_nohandler: a primary was registered)")
    for t, s, w in r["timeline"]:
        lines.append(f"    {t:+8.3f}s  {s:18} {w}")
    return "\n".join(lines)


def median(values):
    v = sorted(values)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def figures(reports):
    """The figures of a series of migrations, one list per figure."""
    return {
        "lost pings": [r["ping"]["lost"] for r in reports],
        "longest outage ms": [round(r["ping"]["longest_outage_ms"]) for r in reports],
        "longest silence ms": [round(r["ping"]["max_silence_ms"]) for r in reports],
        "duplicates": [r["ping"]["duplicates"] for r in reports],
        **{f"lost: {w}": [r["ping"].get("by_window", {}).get(w, 0) for r in reports]
           for w in WINDOWS},
        "QEMU downtime ms": [r["migration"]["downtime_ms"] or 0 for r in reports],
    }


def side_by_side(series):
    """A table of min / median / max per figure, one column per series
    ({title: [reports]}); then each series' runs in order."""
    cols = {t: figures(rs) for t, rs in series.items() if rs}
    if not cols:
        return "no runs"
    names = list(next(iter(cols.values())))
    width = max(30, *(len(t) + 2 for t in cols))
    lines = [f"  {'':20}" + "".join(f"{t:>{width}}" for t in cols),
             f"  {'':20}" + "".join(f"{'min / median / max':>{width}}" for _ in cols)]
    for n in names:
        row = f"  {n:20}"
        for f in cols.values():
            v = f[n]
            row += f"{f'{min(v):g} / {median(v):g} / {max(v):g}':>{width}}"
        lines.append(row)
    for t, f in cols.items():
        lines.append(f"  {t}, run by run:")
        for n in ("lost pings", "longest outage ms", "longest silence ms"):
            lines.append(f"    {n:20} {', '.join(f'{x:g}' for x in f[n])}")
    return "\n".join(lines)


def target_met(reports, outage_ms=100, lost=1):
    """Issue 7's target, run by run: longest outage under outage_ms and at
    most `lost` pings lost.  (met, [(run, lost, outage)] that miss it)."""
    miss = [(i + 1, r["ping"]["lost"], round(r["ping"]["longest_outage_ms"]))
            for i, r in enumerate(reports)
            if r["ping"]["longest_outage_ms"] >= outage_ms or r["ping"]["lost"] > lost]
    return bool(reports) and not miss, miss


def distribution(values):
    """min / median / max and every value, for a printed distribution."""
    v = sorted(values)
    if not v:
        return "no runs"
    med = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    return f"min {v[0]:g}, median {med:g}, max {v[-1]:g}  (runs: {', '.join(f'{x:g}' for x in values)})"
