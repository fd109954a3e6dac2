# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the tests of bench/'s tools: semi-pktgen and semi-count.

Everything a test makes -- namespaces, veths, processes, sockets -- is
owned by a fixture whose finaliser removes it, also when the test fails.
Traffic never leaves the test's own namespaces.
"""
import itertools
import json
import os
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

import netns

_seq = itertools.count()


class Tools:
    def __init__(self, build):
        self.pktgen = os.path.join(build, "bin", "semi-pktgen")
        self.count = os.path.join(build, "bin", "semi-count")
        for p in (self.pktgen, self.count):
            if not os.access(p, os.X_OK):
                pytest.fail(f"{p} is not built: run 'make tests' first")


@pytest.fixture(scope="session")
def tools(build):
    return Tools(build)


class Namespaces:
    """Namespaces made for one test, deleted by the fixture."""

    def __init__(self):
        self.made = []

    def new(self, role):
        ns = netns.NetNS(f"b{next(_seq)}{role}")
        self.made.append(ns)
        return ns

    def close(self):
        for ns in reversed(self.made):
            ns.close()
        self.made = []


@pytest.fixture
def nss():
    n = Namespaces()
    yield n
    n.close()


@pytest.fixture
def pair(nss):
    """A sender namespace (veth g0) and a receiver namespace (its peer r0)."""
    gen, rx = nss.new("gen"), nss.new("rx")
    netns.veth(gen, "g0", rx, "r0")
    return gen, rx


class Counter:
    """A running semi-count; stop() ends it and returns its JSON result."""

    def __init__(self, binary, devs, args=(), ready_timeout=20):
        cmd = [binary, "-j"]
        for d in devs:
            cmd += ["--dev", d]
        cmd += list(args)
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.result = None
        line = self._readline(ready_timeout)
        if line.strip() != "ready":
            self.kill()
            err = self.p.stderr.read()
            raise RuntimeError(f"{' '.join(cmd)}: no 'ready' (got {line!r}): {err}")

    def _readline(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return ""
        return self.p.stdout.readline()

    def stop(self, sig=signal.SIGINT, timeout=20):
        """Stop with signal sig (None: EOF on stdin); return the result."""
        if sig is None:
            self.p.stdin.close()
            self.p.stdin = None
        else:
            self.p.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=20):
        """Wait for the end (e.g. --duration) and return the result."""
        self.p.wait(timeout=timeout)
        out, err = self.p.stdout.read(), self.p.stderr.read()
        self.stderr = err
        if self.p.returncode != 0:
            raise RuntimeError(f"{' '.join(self.cmd)} exited {self.p.returncode}: {err}")
        self.result = json.loads(out.strip().splitlines()[-1])
        return self.result

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()

    def running(self):
        return self.p.poll() is None


@pytest.fixture
def counters(tools):
    """start(devs, args) -> Counter; every one is killed at teardown."""
    made = []

    def start(devs, args=()):
        c = Counter(tools.count, devs, args)
        made.append(c)
        return c

    yield start
    for c in made:
        c.kill()


@pytest.fixture
def pktgen(tools):
    """pktgen(ns, *args) runs semi-pktgen -j in NetNS ns to completion and
    returns its JSON summary; check=False returns the CompletedProcess."""

    def run(ns, *args, check=True, timeout=120):
        cmd = ["nsenter", f"--net=/run/netns/{ns.name}", "--", tools.pktgen,
               "-j"] + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        if not check:
            return p
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    return run


def xdp_attached(ns, dev):
    """True if dev (in NetNS ns) has an XDP program, in any mode."""
    info = json.loads(ns.ip(f"-j -d link show dev {dev}"))[0]
    return bool(info.get("xdp"))


SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
ETH_P_ALL = 0x0003


class Capture:
    """An AF_PACKET socket on dev inside ns; frames() returns raw frames
    with the VLAN tag the kernel took off put back in."""

    def __init__(self, ns, dev):
        with netns.open_in(ns.name):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.s.bind((dev, ETH_P_ALL))
        self.s.setblocking(False)

    def frames(self, want, timeout=5):
        got = []
        end = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < end:
            r, _, _ = select.select([self.s], [], [], 0.2)
            if not r:
                continue
            while True:
                try:
                    data, anc, _, addr = self.s.recvmsg(65536, 1024)
                except BlockingIOError:
                    break
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                for level, typ, cdata in anc:
                    if level == SOL_PACKET and typ == PACKET_AUXDATA:
                        st, _, _, _, _, tci, tpid = struct.unpack(
                            "IIIHHHH", cdata[:20])
                        if st & TP_STATUS_VLAN_VALID:
                            data = (data[:12] +
                                    struct.pack("!HH", tpid or 0x8100, tci) +
                                    data[12:])
                got.append(data)
        return got

    def close(self):
        self.s.close()


@pytest.fixture
def capture():
    made = []

    def start(ns, dev):
        c = Capture(ns, dev)
        made.append(c)
        return c

    yield start
    for c in made:
        c.close()


@pytest.fixture
def has_xdp():
    return xdp_attached
