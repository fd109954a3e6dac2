# SPDX-License-Identifier: GPL-2.0
"""The datapath fixture table (tests/datapath/fixtures.c), one pytest case
per fixture, run with BPF_PROG_TEST_RUN inside a namespace of its own."""
import os
import subprocess

import pytest

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(os.environ.get("SEMI_BUILD", os.path.join(HERE, "..", "..", "build")),
                   "bin", "dp-fixtures")


def case_names():
    try:
        out = subprocess.run([BIN, "-l"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["dp-fixtures-not-built"]
    return out.split()


@pytest.fixture(scope="module")
def results():
    """Build the namespace, run every case once, keep the per-case lines."""
    if not os.path.exists(BIN):
        pytest.fail(f"{BIN} is missing: run 'make tests'")
    ns = netns.NetNS("dpfix")
    instance = netns.unique("dpfix")
    taps = []
    try:
        ns.ip("link add up0 type veth peer name up0p")
        ns.ip("link add stray0 type veth peer name stray0p")
        for i in range(1, 6):
            ns.ip(f"link add vf{i} type veth peer name vf{i}g")
        for i in range(1, 5):
            ns.ip(f"tuntap add tap{i} mode tap")  # persistent: opened below
        ns.ip("tuntap add hold0 mode tap")  # the hold device
        for dev in ["up0", "up0p", "stray0", "stray0p"] + \
                [f"vf{i}" for i in range(1, 6)] + [f"vf{i}g" for i in range(1, 6)] + \
                [f"tap{i}" for i in range(1, 5)] + ["hold0"]:
            ns.ip(f"link set {dev} up")
        ns.ip("link set up0 mtu 9100")
        ns.ip("link set up0p mtu 9100")
        # The fabric end takes XDP frames: XDP_TX out of up0 works.
        ns.run(["ethtool", "-K", "up0p", "gro", "on"])
        # vf1..vf4 take XDP frames (their peers have GRO on); vf5 does not.
        for i in range(1, 5):
            ns.run(["ethtool", "-K", f"vf{i}g", "gro", "on"])
        # A tap with a reader, as under QEMU: clones to it are accepted.
        for i in range(1, 5):
            taps.append(netns.Tap(ns, f"tap{i}", create=False))
        taps.append(netns.Tap(ns, "hold0", create=False))
        p = subprocess.run(["nsenter", f"--net=/run/netns/{ns.name}", BIN, "-i", instance],
                           capture_output=True, text=True, timeout=300)
        lines = {}
        for line in p.stdout.splitlines():
            for prefix in ("ok ", "not ok "):
                if line.startswith(prefix):
                    name = line[len(prefix):].split(":")[0]
                    lines.setdefault(name, []).append(line)
        yield {"lines": lines, "stdout": p.stdout, "stderr": p.stderr, "rc": p.returncode}
    finally:
        for t in taps:
            t.close()
        subprocess.run([BIN.replace("dp-fixtures", "semi-dpctl"), "-i", instance, "purge"],
                       capture_output=True)
        ns.close()


@pytest.mark.parametrize("case", case_names())
def test_fixture(results, case):
    got = results["lines"].get(case)
    assert got, f"case {case} did not run:\n{results['stdout']}\n{results['stderr']}"
    bad = [line for line in got if line.startswith("not ok")]
    assert not bad, "\n".join(bad)


def test_fixture_run_clean(results):
    """The runner itself finished cleanly (instance destroyed, no stray error)."""
    assert "cases, 0 failed" in results["stdout"] or results["rc"] != 0
    assert results["rc"] == 0 or any(
        line.startswith("not ok") for v in results["lines"].values() for line in v), \
        results["stderr"]
