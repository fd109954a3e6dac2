# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the real-guest tests (a QEMU guest with net_failover).

    def test_x(guest):     # guest.lab (tests/lab topology), guest.image,
                           # guest.vm (the running QemuVM, or None), guest.boot()

One lab and one guest for the whole module: booting under TCG takes ~8 s.
Teardown stops every QEMU the module started, takes the lab down and fails
if anything of it is left.  QEMU itself is installed when missing
(tests/guest/deps.sh), the guest kernel and busybox fetched with apt-get
download into the build folder; when either cannot be had, the tests skip
and say why.  Migration reports are printed at the end of the run.
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import guestlab  # noqa: E402
import netns  # noqa: E402
from qemuvm import QemuVM  # noqa: E402

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    for name in ("guest", "semi_guest"):
        g = getattr(item, "funcargs", {}).get(name)
        if rep.failed and isinstance(g, GuestSession):
            rep.sections.append(("guest logs", g.describe()))


def pytest_terminal_summary(terminalreporter):
    if not guestlab.REPORTS:
        return
    terminalreporter.section("real guest: boot and migrations, without and with semi-net")
    for title, text in guestlab.REPORTS:
        terminalreporter.write_line(title)
        terminalreporter.write_line(text)
    if any(guestlab.RESULTS.values()):
        terminalreporter.write_line("the same migrations side by side (hostA -> hostB -> hostA, "
                                    "100 pings/s):")
        terminalreporter.write_line(guestlab.side_by_side(guestlab.RESULTS))


@pytest.fixture(scope="session")
def guest_image(build):
    try:
        return guestlab.prepare(build, log=lambda m: None)
    except guestlab.Unavailable as e:
        pytest.skip(str(e))


class GuestSession:
    def __init__(self, lab, image, semi_net=False):
        self.lab, self.image, self.semi_net = lab, image, semi_net
        self.vm = None
        self.boot_times = None
        self.boot_error = None
        self.port = None

    def boot(self, host="hostA"):
        """Start the guest on host and wait for failover; the boot times.
        With semi-net, the port is then registered on host (assigned)."""
        if self.boot_error:
            pytest.skip(f"the guest did not boot: {self.boot_error}")
        if self.vm is None:
            try:
                self.vm = QemuVM(self.lab, self.image, "vm1", host).start()
                self.boot_times = self.vm.wait_ready()
                if self.semi_net:
                    self.port = guestlab.add_port(self.lab, "vm1", host)
            except Exception as e:
                self.boot_error = str(e)
                raise
        return self.boot_times

    def describe(self):
        lines = []
        if self.semi_net:
            for h in self.lab.topo["hosts"].values():
                lines.append(f"--- {h['daemon']['log']}\n"
                             f"{QemuVM.tail(h['daemon']['log'], 40)}")
        for root, _, files in os.walk(os.path.join(self.lab.rundir, "guest")):
            for fn in sorted(files):
                if fn in ("console.log", "qemu.log"):
                    path = os.path.join(root, fn)
                    lines.append(f"--- {path}\n{QemuVM.tail(path, 40)}")
        return "\n".join(lines)


def _session(image, build, semi_net):
    lab = guestlab.qemu_lab(netns.unique("gs" if semi_net else "g"), build,
                            semi_net=semi_net)
    return GuestSession(lab, image, semi_net=semi_net)


def _teardown(s):
    problems = []
    lab = s.lab
    if s.vm is not None:
        s.vm.stop()
    try:
        lab.down()
    except Exception as e:
        problems.append(str(e))
    left = lab.leftovers()
    qemus = subprocess.run(["pgrep", "-f", f"semi-{lab.name}-"], capture_output=True,
                           text=True).stdout.split()
    if qemus:
        problems.append(f"QEMU left running: pids {', '.join(qemus)}")
    if left:
        problems.append(f"lab {lab.name} left behind: {', '.join(left)}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="module")
def guest(guest_image, build, request):
    """The baseline: plain learning bridges, no semi-net."""
    s = _session(guest_image, build, semi_net=False)
    yield s
    _teardown(s)


@pytest.fixture(scope="module")
def semi_guest(guest_image, build, request):
    """semi-netd on hostA and hostB (tests/lab's daemons step), the VF taps
    out of the bridges; the port is registered once the guest runs."""
    s = _session(guest_image, build, semi_net=True)
    yield s
    _teardown(s)
