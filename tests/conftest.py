# SPDX-License-Identifier: GPL-2.0
"""Shared pytest set-up: paths to the build, root check, session clean-up."""
import os
import signal
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import netns  # noqa: E402

BUILD = os.environ.get("SEMI_BUILD") or os.path.join(os.path.dirname(HERE), "build")


def _stop(signum, frame):
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def pytest_configure(config):
    # A run stopped by SIGTERM or SIGHUP (a CI timeout, a closed terminal)
    # ends like Ctrl-C: pytest tears the fixtures down, so labs, daemons,
    # namespaces and pins go with it instead of outliving the run.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)


def pytest_report_header(config):
    return f"semi-net build: {BUILD}; test token: {netns.RUN_TOKEN}"


@pytest.fixture(scope="session")
def build():
    if not os.path.isdir(BUILD):
        pytest.fail(f"no build folder at {BUILD}: run 'make tests' first")
    return BUILD


@pytest.fixture(scope="session", autouse=True)
def _root_and_cleanup():
    if os.geteuid() != 0:
        pytest.exit("semi-net tests need root (namespaces, BPF)", returncode=2)
    yield
    netns.cleanup_all()
