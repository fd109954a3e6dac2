# SPDX-License-Identifier: GPL-2.0
"""Fixtures for lab tests: labs with unique names, always taken down.

    def test_x(lab):              # one lab, one VM, VF plugged, VM on hostA
    def test_y(lab_factory):      # lab_factory(vms=2, vf=False, ...) -> Lab

Every lab is named sn<run token>-l<n> (tests/lib/netns.py), so parallel
runs never collide.  Teardown stops the lab's processes, deletes its
namespaces and pins, then fails the test if anything of it is left.  When a
test fails, the lab's status and relay logs are printed.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
import semilab  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def lab_factory(build, request):
    labs = []

    def make(vms=1, **kw):
        lab = semilab.Lab(netns.unique(f"l{len(labs)}"), vms=vms, build=build, **kw)
        labs.append(lab)    # before up: a half-built lab is taken down too
        lab.up()
        return lab

    yield make

    rep = getattr(request.node, "rep_call", None)
    problems = []
    for lab in labs:
        if rep is not None and rep.failed:
            print(lab.describe())
        try:
            lab.down()
        except Exception as e:
            problems.append(str(e))
        left = lab.leftovers()
        if left:
            problems.append(f"lab {lab.name} left behind: {', '.join(left)}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def lab(lab_factory):
    return lab_factory()
