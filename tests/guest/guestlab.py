# SPDX-License-Identifier: GPL-2.0
"""The real-guest lab: tests/lab's two hosts, a QEMU guest instead of the
guest model, live migration driven from QMP events, and the ping meter.

    lab = qemu_lab(name, build)                     # fabric, hostA/B, client, taps
    vm = QemuVM(lab, image, "vm1", "hostA").start(); vm.wait_ready()
    vm, report = measure_migration(lab, vm, "hostB", hooks={})

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


def qemu_steps(bridge_vf=True):
    """The lab's steps for a QEMU guest: tests/lab's topology up to the
    client, then the two taps per VM and host."""
    steps = [s for s in semilab.STEPS if s.name in BASE_STEPS]
    missing = set(BASE_STEPS) - {s.name for s in steps}
    if missing:
        raise semilab.LabError(f"tests/lab has no step {', '.join(sorted(missing))}")
    return steps + [semilab.Step("qemu-taps", lambda lab: _taps_up(lab, bridge_vf))]


def qemu_lab(name, build, vms=1, bridge_vf=True):
    """A lab brought up for QEMU guests (down() it when done)."""
    lab = semilab.Lab(name, vms=vms, build=build, relay=False, vf=False,
                      steps=qemu_steps(bridge_vf))
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


def measure_migration(lab, vm, dst_host, hooks=None, rate=100, pre=1.0, settle=2.0,
                      max_after=60.0, timeout=60):
    """Migrate vm to dst_host while the client pings the guest at rate/s.

    Pinging starts pre seconds before the migration and ends once the
    migration is complete (primary active on the destination) and the last
    settle seconds had no loss, or max_after seconds after that (without
    semi-net an outage has lasted over 10 s: nothing moves the bridge's
    entry from the standby's tap to the primary's until the guest sends).  Returns
    (the QemuVM now running, report)."""
    g = lab.guest(vm.vm)
    dest = semilab.strip_len(g["ipv4"])
    pinger = Pinger(lab, dest, rate=rate)
    mig = Migration(lab, vm, dst_host, hooks=hooks, timeout=timeout)
    try:
        time.sleep(pre)
        new_vm = mig.run()
        done = now()
        # Wait for the network to follow: settle seconds of answered pings.
        while now() - done < max_after:
            time.sleep(0.1)
            if now() - done >= settle and pinger.clean_for(settle):
                break
    finally:
        ping = pinger.stop()
    t0 = mig.times.get("start", ping["start"])
    for gap in ping["gaps"]:
        mig.mark("ping", f"{gap['count']} lost from here ({gap['ms']:.0f} ms)", gap["start"])
        mig.mark("ping", "answered again", gap["end"])
    report = {"migration": mig.summary(), "ping": ping,
              "timeline": [(round(t - t0, 3), s, w) for t, s, w in sorted(mig.timeline)],
              "fdb": {n: fdb_port(lab, n, g["mac"]) for n in ("fabric", "hostA", "hostB")}}
    return new_vm, report


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
             "  fdb after: " + ", ".join(f"{k} {v}" for k, v in r["fdb"].items())]
    for t, s, w in r["timeline"]:
        lines.append(f"    {t:+8.3f}s  {s:18} {w}")
    return "\n".join(lines)


def distribution(values):
    """min / median / max and every value, for a printed distribution."""
    v = sorted(values)
    if not v:
        return "no runs"
    med = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    return f"min {v[0]:g}, median {med:g}, max {v[-1]:g}  (runs: {', '.join(f'{x:g}' for x in values)})"
