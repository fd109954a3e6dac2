# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the netcfg tests: netcfg-tool run inside a test namespace."""
import itertools
import os

import pytest

import netns
from netcfg_lib import Capture, Tool

_ids = itertools.count(1)


@pytest.fixture
def capture():
    """capture(ns, dev) -> Capture, closed after the test."""
    caps = []

    def make(ns, dev):
        caps.append(Capture(ns, dev))
        return caps[-1]
    yield make
    for c in caps:
        c.close()


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
def tool_in(tool_path):
    """netcfg-tool for another namespace: tool_in(peer).ok(...)."""
    return lambda other: Tool(tool_path, other)


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
