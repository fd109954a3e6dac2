# SPDX-License-Identifier: GPL-2.0
"""A test that fails with a busy lab, run by test_lab_topology.py in its own
pytest process: the fixture must still remove everything.  Not collected
by the normal run (not named test_*)."""
import os
import signal


def test_fails_with_everything_running(lab):
    lab.meter_recv("vm1", args=["-w", "600"])          # a receiver waiting
    os.kill(lab.relay_pid("vm1"), signal.SIGSTOP)      # a paused relay
    lab.steer("hostA", "vm1")                          # pins and XDP
    assert False, "this test fails on purpose"
