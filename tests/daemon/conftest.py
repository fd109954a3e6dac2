# SPDX-License-Identifier: GPL-2.0
"""Fixtures for semi-netd tests: daemons under unique names, always stopped.

    def test_x(host, netd):           # a namespace with devices; a daemon factory
        d = netd(host, uplink="up0")  # started inside host with nsenter
        d.ctl("port", "add", ...)     # semi-netctl; d.req({...}) raw protocol

Every daemon gets its own instance name (sn<token>-...), socket, state file
and lock under a private temporary folder, and the default pin root
(/sys/fs/bpf/semi-net/<instance>).  The finaliser kills what is still
running, removes the instance's pins (semi-netd --flush) and the folder,
and fails the test if a sanitizer reported anything in a daemon's log.
A daemon's log is printed only when the test fails.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lab"))

from netdlib import Host, Netd  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def netd(build, request):
    """netd(ns, **config) -> a started Netd (start=False: not started)."""
    daemons = []

    def make(ns, start=True, instance=None, extra=(), **config):
        d = Netd(build, ns, config=config, instance=instance, extra=extra)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield make
    rep = getattr(request.node, "rep_call", None)
    problems = []
    for d in daemons:
        p, text = d.cleanup()
        problems += p
        if (rep is not None and rep.failed) or p:
            print(f"---- semi-netd {d.instance} log:\n{text}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def host():
    h = Host()
    yield h
    h.close()
