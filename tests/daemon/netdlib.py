# SPDX-License-Identifier: GPL-2.0
"""Helpers for semi-netd tests: a daemon under unique names (Netd), JSON
lines from its socket (Lines), a namespace standing for a host (Host).
The fixtures that use them are in conftest.py."""
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lab"))

from semilab import Lines, sanitizer_report  # noqa: E402,F401 (used by the tests)

PIN_ROOT = "/sys/fs/bpf/semi-net"
_ids = itertools.count(1)


class Netd:
    """One semi-netd: its files, its process, its command line."""

    def __init__(self, build, ns, config=None, instance=None, extra=()):
        self.build = build
        self.ns = ns                      # NetNS, or a namespace name
        self.nsname = ns if isinstance(ns, str) else ns.name
        self.instance = instance or netns.unique(f"d{next(_ids)}")
        self.dir = tempfile.mkdtemp(prefix="semi-netd-")
        self.socket = os.path.join(self.dir, "netd.sock")
        self.state = os.path.join(self.dir, "state.json")
        self.config_path = os.path.join(self.dir, "netd.json")
        self.log_path = os.path.join(self.dir, "netd.log")
        self.config = dict(config or {})
        self.extra = list(extra)
        self.proc = None
        self.logs = []          # (start, text) of every run, for failures
        self.write_config()

    # -- files ---------------------------------------------------------------

    def write_config(self, config=None):
        if config is not None:
            self.config = dict(config)
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)

    def read_state(self):
        with open(self.state) as f:
            return json.load(f)

    @property
    def pin_dir(self):
        return os.path.join(PIN_ROOT, self.instance)

    def bin(self, name):
        return os.path.join(self.build, "bin", name)

    # -- the process ---------------------------------------------------------

    def argv(self, *more):
        return ["nsenter", f"--net=/run/netns/{self.nsname}", "--", self.bin("semi-netd"),
                "-f", "-c", self.config_path, "-i", self.instance, "-s", self.socket,
                "--state", self.state, *self.extra, *more]

    def start(self, wait=True, *more):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.log = open(self.log_path, "a")
        self.log.write(f"---- start {time.strftime('%T')} {' '.join(more)}\n")
        self.log.flush()
        self.proc = subprocess.Popen(self.argv(*more), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready()
        return self

    def run_once(self, *more, timeout=30):
        """Run semi-netd to completion (a refused start, --flush); (rc, log)."""
        p = subprocess.run(self.argv(*more), capture_output=True, text=True, timeout=timeout)
        out = p.stdout + p.stderr
        with open(self.log_path, "a") as f:
            f.write(f"---- run {' '.join(more)} -> {p.returncode}\n{out}")
        return p.returncode, out

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"semi-netd exited ({self.proc.returncode}) while "
                                     f"starting:\n{self.read_log()}")
            with contextlib.suppress(OSError, ValueError):
                if self.req({"cmd": "status"}, timeout=2)["ok"]:
                    return
            time.sleep(0.01)
        raise AssertionError(f"semi-netd did not become ready:\n{self.read_log()}")

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stop (SIGTERM: leaves the datapath); returns the exit status."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"semi-netd did not stop on {sig}")

    def kill9(self):
        return self.stop(signal.SIGKILL)

    # -- talking to it -------------------------------------------------------

    def ctl(self, *args, check=None, json_out=False, timeout=30, as_user=None):
        """semi-netctl ARGS; returns the CompletedProcess (check: wanted rc).
        as_user: setpriv options, e.g. ["--reuid=65534", "--regid=65534",
        "--clear-groups"]."""
        cmd = [self.bin("semi-netctl"), "-s", self.socket] + (["-j"] if json_out else []) \
            + [str(a) for a in args]
        if as_user is not None:
            cmd = ["setpriv", *as_user, "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError(f"semi-netctl {' '.join(map(str, args))}: rc {p.returncode}, "
                                 f"want {check}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        rep = sanitizer_report(p.stderr)
        assert rep is None, f"semi-netctl: sanitizer report ({rep}):\n{p.stderr}"
        return p

    def j(self, *args, check=0):
        """semi-netctl -j ARGS, parsed."""
        return json.loads(self.ctl(*args, check=check, json_out=True).stdout)

    def connect(self, timeout=5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.socket)
        return s

    def req(self, obj, timeout=10):
        """One request on a fresh connection; the reply."""
        with self.connect(timeout) as s:
            s.sendall((json.dumps(obj) + "\n").encode())
            return Lines(s).next_reply()

    def port(self, name):
        return self.j("port", "show", name)["ports"][0]

    def state_of(self, name):
        return self.port(name)["state"]

    # -- the end -------------------------------------------------------------

    def cleanup(self):
        problems = []
        if self.running():
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        # Remove the instance's datapath: pins and attachments.
        rc, out = self.run_once("--flush")
        if rc != 0:
            problems.append(f"semi-netd --flush {self.instance} failed: {out.strip()}")
        text = self.read_log()
        rep = sanitizer_report(text)
        if rep:
            problems.append(f"sanitizer report in semi-netd's log ({rep})")
        if os.path.exists(self.pin_dir):
            problems.append(f"{self.pin_dir} left behind")
        shutil.rmtree(self.dir, ignore_errors=True)
        return problems, text


class Host:
    """A namespace standing for a host: an uplink veth, VF veths, taps.

        up0 --- up0p (in wire)       vfN --- vfNg (in guest)      tapN (held open)
    """

    def __init__(self, nvf=2, ntap=2):
        self.objs = []
        self.ns = self._keep(netns.NetNS(f"h{next(_ids)}"))
        self.wire = self._keep(netns.NetNS(f"w{next(_ids)}"))
        self.guest = self._keep(netns.NetNS(f"g{next(_ids)}"))
        for n in (self.ns, self.wire, self.guest):
            n.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1"])
        netns.veth(self.ns, "up0", self.wire, "up0p")
        for i in range(1, nvf + 1):
            self.add_vf(i)
        self.taps = {}
        for i in range(1, ntap + 1):
            self.taps[f"tap{i}"] = self._keep(netns.Tap(self.ns, f"tap{i}"))

    def _keep(self, obj):
        self.objs.append(obj)
        return obj

    @property
    def name(self):
        return self.ns.name

    def add_vf(self, i, mac=None):
        netns.veth(self.ns, f"vf{i}", self.guest, f"vf{i}g")
        if mac:
            self.guest.ip(f"link set vf{i}g address {mac}")

    def del_vf(self, i):
        self.ns.ip(f"link del vf{i}")

    def ifindex(self, dev):
        return self.ns.ifindex(dev)

    def close(self):
        for obj in reversed(self.objs):
            obj.close()
