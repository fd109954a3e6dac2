# SPDX-License-Identifier: GPL-2.0
"""A real Linux guest with net_failover, run by QEMU inside the lab.

    vm = QemuVM(lab, image, "vm1", "hostA").start()
    vm.wait_ready()                 # FAILOVER_NEGOTIATED, master up, primary active
    vm.console.run("ip -br addr")   # a command in the guest
    vm.qmp.cmd("query-status")
    vm.stop()

The guest has two NICs with the lab guest's MAC (issue 7): a virtio-net
standby (failover=on) on the host's tap (the port's `tap`) and an e1000e
primary (failover_pair_id) on a second tap (the port's `vf`, representor
mode), each on its own pcie-root-port.  QEMU hides the primary until the
guest negotiates VIRTIO_NET_F_STANDBY.  TCG, q35, 256 MiB.

Every QEMU is a lab process (Lab.spawn: stopped at lab down, named after
the lab), started with a parent-death signal so that it cannot outlive the
Python that started it; its sockets and logs live in the lab's run folder.
"""
import contextlib
import json
import os
import queue
import socket
import subprocess
import threading
import time

QEMU = "qemu-system-x86_64"
MEMORY = "256"


class GuestError(Exception):
    """The guest or its QEMU did not do what was asked; says what and where."""


def now():
    """The clock of every timestamp here (wall clock: QEMU's QMP events and
    the pinger's samples carry it too)."""
    return time.time()


class EventBus:
    """Events of QMP connections and consoles, in arrival order.

    Each is a dict {"source": name, "event": NAME, "time": t, "data": {...}}.
    Any number of readers each take every event from their own cursor."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        self.listeners = []

    def post(self, ev):
        with self.cond:
            self.events.append(ev)
            listeners = list(self.listeners)
            self.cond.notify_all()
        for q in listeners:
            q.put(ev)

    def subscribe(self):
        q = queue.Queue()
        with self.cond:
            self.listeners.append(q)
        return q

    def unsubscribe(self, q):
        with self.cond:
            with contextlib.suppress(ValueError):
                self.listeners.remove(q)

    def cursor(self):
        with self.cond:
            return len(self.events)

    def wait(self, pred, timeout, since=0, what="event"):
        """The first event from index since on that satisfies pred."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuestError(f"no {what} within {timeout:.1f}s")
                self.cond.wait(left)


def _connect_unix(path, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if proc is not None and proc.poll() is not None:
                raise GuestError(f"QEMU exited ({proc.returncode}) before {path} "
                                 "appeared") from e
            if time.monotonic() > deadline:
                raise GuestError(f"cannot connect to {path}: {e.strerror}") from e
            time.sleep(0.02)


class Qmp:
    """A QMP client: commands with replies, events onto an EventBus."""

    def __init__(self, path, source, bus, proc=None, timeout=10):
        self.source, self.bus = source, bus
        self.sock = _connect_unix(path, timeout, proc)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.lock = threading.Lock()
        self.replies = {}
        self.reply_cond = threading.Condition()
        self.next_id = 0
        self.closed = False
        greeting = json.loads(self.file.readline())
        if "QMP" not in greeting:
            raise GuestError(f"{path}: not a QMP greeting: {greeting}")
        self.version = greeting["QMP"]["version"]["qemu"]
        self.thread = threading.Thread(target=self._reader, daemon=True,
                                       name=f"qmp-{source}")
        self.thread.start()
        self.cmd("qmp_capabilities")

    def _reader(self):
        try:
            for line in self.file:
                msg = json.loads(line)
                if "event" in msg:
                    ts = msg.get("timestamp", {})
                    t = ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6
                    self.bus.post({"source": self.source, "event": msg["event"],
                                   "time": t or now(), "data": msg.get("data", {})})
                elif "id" in msg:
                    with self.reply_cond:
                        self.replies[msg["id"]] = msg
                        self.reply_cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self.reply_cond:
                self.closed = True
                self.reply_cond.notify_all()

    def cmd(self, execute, timeout=10, **args):
        """Run a command; its "return" value, or GuestError with QEMU's error."""
        with self.lock:
            self.next_id += 1
            mid = self.next_id
            msg = {"execute": execute, "id": mid}
            if args:
                msg["arguments"] = args
            try:
                self.file.write(json.dumps(msg).encode() + b"\n")
            except OSError as e:
                raise GuestError(f"{self.source}: QMP {execute}: {e.strerror}") from e
        deadline = time.monotonic() + timeout
        with self.reply_cond:
            while mid not in self.replies:
                left = deadline - time.monotonic()
                if self.closed:
                    raise GuestError(f"{self.source}: QMP closed during {execute}")
                if left <= 0:
                    raise GuestError(f"{self.source}: QMP {execute}: no reply in {timeout}s")
                self.reply_cond.wait(left)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise GuestError(f"{self.source}: QMP {execute}: {reply['error'].get('desc')}")
        return reply.get("return")

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Console:
    """The guest's serial console: a log, "SEMI-GUEST ..." lines as events
    (event GUEST_<WORD>, data: the key=value pairs), and commands."""

    def __init__(self, path, source, bus, log_path, proc=None, timeout=10):
        self.source, self.bus = source, bus
        self.sock = _connect_unix(path, timeout, proc)
        self.log = open(log_path, "a", buffering=1)
        self.lines = []
        self.cond = threading.Condition()
        self.cmd_lock = threading.Lock()
        self.seq = 0
        self.thread = threading.Thread(target=self._reader, daemon=True,
                                       name=f"console-{source}")
        self.thread.start()

    def _reader(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self._line(raw.decode(errors="replace").strip("\r"))
        except OSError:
            pass
        if buf:
            self._line(buf.decode(errors="replace"))

    def _line(self, line):
        t = now()
        self.log.write(f"{t:.3f} {line}\n")
        with self.cond:
            self.lines.append((t, line))
            self.cond.notify_all()
        i = line.find("SEMI-GUEST ")
        if i >= 0:
            words = line[i + len("SEMI-GUEST "):].split()
            if words:
                data = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                data["text"] = " ".join(words[1:])
                self.bus.post({"source": self.source, "event": "GUEST_" + words[0],
                               "time": t, "data": data})

    def run(self, command, timeout=20):
        """Run a shell command in the guest; (exit status, output)."""
        with self.cmd_lock:
            self.seq += 1
            tag = f"{os.getpid()}-{self.seq}"
            with self.cond:
                start = len(self.lines)
            self.sock.sendall(f"echo SEMI-BEGIN-{tag}; {command}; "
                              f"echo SEMI-END-{tag} $?\n".encode())
            deadline = time.monotonic() + timeout
            with self.cond:
                while True:
                    text = [l for _, l in self.lines[start:]]
                    ends = [i for i, l in enumerate(text) if l.startswith(f"SEMI-END-{tag} ")]
                    if ends:
                        begins = [i for i, l in enumerate(text) if l == f"SEMI-BEGIN-{tag}"]
                        b = begins[0] + 1 if begins else 0
                        status = int(text[ends[0]].split()[1])
                        out = [l for l in text[b:ends[0]] if not l.startswith("SEMI-GUEST ")]
                        return status, "\n".join(out)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise GuestError(f"{self.source}: '{command}' did not finish "
                                         f"in {timeout}s")
                    self.cond.wait(left)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(2)
        self.log.close()


def _qemu_version():
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


class QemuVM:
    """One QEMU process for a lab VM on one host.

    The standby uses the VM's tap on that host (lab guest "tap"), the
    primary the VF tap (lab guest "host_vf", a tap here).  With
    incoming=True it waits for a migration (-incoming defer)."""

    def __init__(self, lab, image, vm, host, incoming=False, bus=None, tag=None,
                 cmdline_extra=""):
        self.lab, self.image, self.vm, self.host = lab, image, vm, host
        self.g = lab.guest(vm)
        self.incoming = incoming
        self.bus = bus or EventBus()
        self.tag = tag or f"{vm}-{host}-{time.monotonic_ns() % 10**9}"
        self.name = f"qemu-{self.tag}"      # source name on the bus
        self.dir = os.path.join(lab.rundir, "guest", self.tag)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.con_path = os.path.join(self.dir, "console.sock")
        self.cmdline_extra = cmdline_extra
        self.proc = self.qmp = self.console = None
        self.started = None

    # The device ids; the migration stream needs them equal on both sides.
    STANDBY, PRIMARY = "sby0", "pri0"

    def command(self):
        g = self.g
        append = (f"console=ttyS0 quiet panic=-1 semi.ip4={g['ipv4']} "
                  f"semi.ip6={g['ipv6']} {self.cmdline_extra}").strip()
        cmd = [
            QEMU, "-name", f"semi-{self.lab.name}-{self.tag}",
            "-machine", "q35", "-accel", "tcg", "-m", MEMORY, "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", self.image.kernel, "-initrd", self.image.initrd,
            "-append", append,
            "-chardev", f"socket,id=con0,path={self.con_path},server=on,wait=off,"
                        f"logfile={os.path.join(self.dir, 'console.raw')}",
            "-serial", "chardev:con0",
            "-chardev", f"socket,id=qmp0,path={self.qmp_path},server=on,wait=off",
            "-mon", "chardev=qmp0,mode=control",
            "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2",
            "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x3",
            "-netdev", f"tap,id=nd-{self.STANDBY},ifname={g['tap']},script=no,"
                       "downscript=no",
            "-device", f"virtio-net-pci,netdev=nd-{self.STANDBY},id={self.STANDBY},"
                       f"mac={g['mac']},failover=on,bus=rp1",
            "-netdev", f"tap,id=nd-{self.PRIMARY},ifname={g['host_vf']},script=no,"
                       "downscript=no",
            "-device", f"e1000e,netdev=nd-{self.PRIMARY},id={self.PRIMARY},"
                       f"mac={g['mac']},failover_pair_id={self.STANDBY},bus=rp2,romfile=",
        ]
        if self.incoming:
            cmd += ["-incoming", "defer"]
        return cmd

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        # setpriv: QEMU gets SIGKILL if the Python that started it dies.
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + self.command()
        self.log_path = os.path.join(self.dir, "qemu.log")
        self.started = now()
        with open(self.log_path, "a") as log:
            self.proc = self.lab.popen(self.host, cmd, key=self.name, log=log)
        try:
            self.qmp = Qmp(self.qmp_path, self.name, self.bus, self.proc)
            self.console = Console(self.con_path, self.name, self.bus,
                                   os.path.join(self.dir, "console.log"), self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout=90, primary=True):
        """Boot done: FAILOVER_NEGOTIATED, the guest's master up with its
        addresses, and (primary=True) the primary enslaved and running.
        Returns {"negotiated": s, "ready": s, "primary": s} since start."""
        def mine(name):
            return lambda e: e["source"] == self.name and e["event"] == name

        def dead():
            if self.proc.poll() is not None:
                raise GuestError(f"QEMU {self.tag} exited ({self.proc.returncode}): "
                                 f"{self.tail(self.log_path)}")
        out = {}
        deadline = time.monotonic() + timeout
        for key, pred, what in [
                ("negotiated", mine("FAILOVER_NEGOTIATED"), "FAILOVER_NEGOTIATED"),
                ("ready", mine("GUEST_READY"), "guest READY line"),
                ("primary", lambda e: mine("GUEST_SLAVES")(e) and
                 e["data"].get("active") not in (None, e["data"].get("standby")),
                 "primary active in the guest")]:
            if key == "primary" and not primary:
                break
            while True:
                dead()
                try:
                    ev = self.bus.wait(pred, min(1.0, max(0.01, deadline - time.monotonic())),
                                       what=what)
                    break
                except GuestError:
                    if time.monotonic() > deadline:
                        raise GuestError(f"{self.tag}: no {what} within {timeout}s; "
                                         f"console: {self.tail(self.console_log(), 8)}")
            out[key] = ev["time"] - self.started
        errors = [e for e in self.bus.events
                  if e["source"] == self.name and e["event"] == "GUEST_ERROR"]
        if errors:
            raise GuestError(f"{self.tag}: guest says: {errors[0]['data']['text']}")
        return out

    def console_log(self):
        return os.path.join(self.dir, "console.log")

    @staticmethod
    def tail(path, n=5):
        try:
            with open(path) as f:
                return " | ".join(l.strip() for l in f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def primary_present(self):
        """Whether QEMU has the primary device plugged (not hidden)."""
        kids = self.qmp.cmd("qom-list", path="/machine/peripheral")
        return any(k["name"] == self.PRIMARY for k in kids)

    def stop(self, timeout=5):
        """Quit QEMU (QMP quit, then the lab's SIGTERM/SIGKILL)."""
        if self.alive() and self.qmp is not None:
            with contextlib.suppress(GuestError, OSError):
                self.qmp.cmd("quit", timeout=2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.lab.stop_proc(self.name)
        for part in (self.qmp, self.console):
            if part is not None:
                with contextlib.suppress(OSError):
                    part.close()
        self.qmp = self.console = None
