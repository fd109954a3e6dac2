# SPDX-License-Identifier: GPL-2.0
"""Helpers for the netcfg tests: netcfg-tool in a namespace, raw frames in
and out of a namespace's devices."""
import json
import os
import socket
import subprocess
import time

import netns


# A sanitizer report must not pass for an expected "exit 1" failure.
SAN_ENV = dict(os.environ,
               ASAN_OPTIONS="exitcode=86:" + os.environ.get("ASAN_OPTIONS", ""),
               UBSAN_OPTIONS="exitcode=86:print_stacktrace=1:" + os.environ.get("UBSAN_OPTIONS", ""))


class Tool:
    """build/bin/netcfg-tool, run inside one namespace."""

    def __init__(self, path, ns):
        self.path, self.ns = path, ns

    def cmd(self, *args):
        return ["nsenter", f"--net=/run/netns/{self.ns.name}", "--", self.path] + [str(a) for a in args]

    def run(self, *args, timeout=30):
        """Run; return the CompletedProcess (never raises on exit code)."""
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout,
                              env=SAN_ENV)

    def ok(self, *args):
        """Run, require exit 0, return the JSON it printed (or None)."""
        p = self.run(*args)
        assert p.returncode == 0, f"netcfg-tool {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}"
        out = p.stdout.strip()
        return json.loads(out) if out else None

    def fails(self, *args, rc=1):
        """Run, require exit rc, return the error message on stderr."""
        p = self.run(*args)
        assert p.returncode == rc, (f"netcfg-tool {' '.join(map(str, args))}: expected exit {rc}, "
                                    f"got {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p.stderr.strip()

    def popen(self, *args):
        return subprocess.Popen(self.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, bufsize=1, env=SAN_ENV)


ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class Capture:
    """An AF_PACKET socket on one device of a namespace: frames it receives."""

    def __init__(self, ns, dev):
        with netns.open_in(ns.name):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((dev, 0))
        self.sock.setblocking(False)

    def frames(self, src=None, wait=0.3):
        """Incoming frames after `wait` seconds, optionally only from MAC src."""
        time.sleep(wait)
        want = bytes.fromhex(src.replace(":", "")) if src else None
        out = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return out
            if addr[2] == PACKET_OUTGOING:
                continue
            if want is None or data[6:12] == want:
                out.append(data)

    def close(self):
        self.sock.close()


def send_raw(ns, dev, frame):
    """Send one raw Ethernet frame on dev in namespace ns."""
    with netns.open_in(ns.name):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((dev, 0))
        s.send(frame)
    finally:
        s.close()


class Events:
    """`netcfg-tool events` running in a namespace; its JSON lines are read
    by a thread so a test can wait for a given event with a timeout."""

    def __init__(self, tool, *opts):
        import queue
        import threading

        self.proc = tool.popen("events", *opts)
        self.q = queue.Queue()
        self.seen = []          # every event, in order
        self.pending = []       # seen but not yet returned by wait()
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.q.get(timeout=15)
        assert first == "ready", f"netcfg-tool events did not start: {first!r} {self._err()}"

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(json.loads(line))
        self.q.put(None)

    def _err(self):
        if self.proc.poll() is not None:
            return self.proc.stderr.read()
        return ""

    def wait(self, pred, timeout=5.0, what="event"):
        """The first event matching pred not yet returned by wait()."""
        import queue

        for ev in self.pending:
            if pred(ev):
                self.pending.remove(ev)
                return ev
        end = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} within {timeout}s; saw {self.seen}") from None
            if ev is None:
                raise AssertionError(f"netcfg-tool events ended before {what}; saw {self.seen}; "
                                     f"stderr: {self._err()}")
            self.seen.append(ev)
            if pred(ev):
                return ev
            self.pending.append(ev)

    def finish(self):
        """Wait for the tool to exit on its own (timeout option); stderr."""
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        self.stderr = self.proc.stderr.read()
        while True:
            ev = self.q.get_nowait() if not self.q.empty() else None
            if ev is None:
                break
            self.seen.append(ev)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
