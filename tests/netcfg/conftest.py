# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the netcfg tests: netcfg-tool run inside a test namespace."""
import itertools
import json
import os
import subprocess

import pytest

import netns


_ids = itertools.count(1)


class Tool:
    """build/bin/netcfg-tool, run inside one namespace."""

    def __init__(self, path, ns):
        self.path, self.ns = path, ns

    def cmd(self, *args):
        return ["nsenter", f"--net=/run/netns/{self.ns.name}", "--", self.path] + [str(a) for a in args]

    def run(self, *args, timeout=30):
        """Run; return the CompletedProcess (never raises on exit code)."""
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout)

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
                                text=True, bufsize=1)


@pytest.fixture(scope="session")
def tool_path(build):
    path = os.path.join(build, "bin", "netcfg-tool")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run 'make tests' first")
    return path


@pytest.fixture
def ns():
    """A fresh namespace for one test, removed afterwards (also on failure)."""
    n = netns.NetNS(f"nc{next(_ids)}")
    yield n
    n.close()


@pytest.fixture
def tool(tool_path, ns):
    return Tool(tool_path, ns)


@pytest.fixture
def bridge(ns):
    """ns with bridge br0 and three ports p1..p3 (veths whose peers q1..q3
    sit in a second namespace), all up.  Returns (ns, peer_ns)."""
    peer = netns.NetNS(f"nc{next(_ids)}-peer")
    try:
        ns.ip("link add br0 type bridge forward_delay 0")
        ns.ip("link set br0 up")
        for i in (1, 2, 3):
            netns.veth(ns, f"p{i}", peer, f"q{i}")
            ns.ip(f"link set p{i} master br0")
        yield ns, peer
    finally:
        peer.close()
