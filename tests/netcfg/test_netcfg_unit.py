# SPDX-License-Identifier: GPL-2.0
"""The netcfg cmocka unit tests (frame bytes, message builders, parsers,
the link-event engine), run as one pytest test."""
import os
import subprocess

import pytest


def test_netcfg_unit(build):
    path = os.path.join(build, "bin", "netcfg-unit")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run 'make tests' first")
    p = subprocess.run([path], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"netcfg-unit failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    assert "PASSED" in p.stdout + p.stderr
