# SPDX-License-Identifier: GPL-2.0
"""The cmocka unit tests of semi-netd (tests/daemon/test_*.c), one pytest
case per cmocka test, read from their TAP output."""
import os
import re
import subprocess

import pytest

BUILD = os.environ.get("SEMI_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
UNITS = ("fsm", "proto", "statefile")
TAP_LINE = re.compile(r"^(ok|not ok) \d+ - (.*)$")


def run_unit(unit):
    binary = os.path.join(BUILD, "bin", f"test-daemon-{unit}")
    if not os.access(binary, os.X_OK):
        return None
    p = subprocess.run([binary], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP"))
    results, pending = {}, []
    for line in p.stdout.splitlines():
        m = TAP_LINE.match(line)
        if m:
            results[m.group(2).strip()] = (m.group(1) == "ok", "\n".join(pending))
            pending = []
        else:
            pending.append(line)
    return {"results": results, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


_cache = {}


def unit_results(unit):
    if unit not in _cache:
        _cache[unit] = run_unit(unit)
    return _cache[unit]


def cases():
    out = []
    for unit in UNITS:
        r = unit_results(unit)
        if r is None or not r["results"]:
            out.append((unit, None))
            continue
        out += [(unit, name) for name in r["results"]]
    return out


@pytest.mark.parametrize("unit,name", cases(), ids=lambda v: str(v))
def test_unit(unit, name):
    r = unit_results(unit)
    if r is None:
        pytest.fail(f"test-daemon-{unit} is missing: run 'make tests'")
    if name is None:
        pytest.fail(f"test-daemon-{unit} reported nothing (rc {r['rc']}):\n"
                    f"{r['stdout']}\n{r['stderr']}")
    ok, detail = r["results"][name]
    assert ok, f"{unit}: {name}\n{detail}\n{r['stderr']}"


@pytest.mark.parametrize("unit", UNITS)
def test_unit_binary_clean(unit):
    """Each binary exits 0 with no sanitizer report (SANITIZE=1 builds)."""
    r = unit_results(unit)
    if r is None:
        pytest.fail(f"test-daemon-{unit} is missing: run 'make tests'")
    assert r["rc"] == 0, r["stdout"] + r["stderr"]
    for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert mark not in r["stderr"], r["stderr"]
