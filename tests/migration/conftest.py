# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the live-migration tests: two-host labs with a semi-netd per
host, named after the run token, always taken down.

    def test_x(mig):                  # mig(config={...}, vf=True, fabric_xdp=True) -> miglib.Mig
        m = mig()

When a test fails, the lab's status, the relays' and both daemons' logs are
printed.  Teardown fails the test if anything of the lab is left, or if a
daemon's log has a sanitizer report.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from miglib import Mig  # noqa: E402 (puts tests/lab on the path)
import semilab  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def mig(build, request):
    made = []

    def make(config=None, vf=True, fabric_xdp=True):
        name = netns.unique(f"m{len(made)}")
        m = Mig.__new__(Mig)
        made.append(m)          # before up: a half-built lab is taken down too
        Mig.__init__(m, build, name, config=config, vf=vf, fabric_xdp=fabric_xdp)
        return m

    yield make
    rep = getattr(request.node, "rep_call", None)
    problems = semilab.take_down([m for m in made if hasattr(m, "lab")],
                                 rep is not None and rep.failed)
    if problems:
        pytest.fail("; ".join(problems))
