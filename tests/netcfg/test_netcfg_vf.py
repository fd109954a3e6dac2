# SPDX-License-Identifier: GPL-2.0
"""VF settings on the PF.  This machine has no SR-IOV device (no netdevsim
either), so the VF paths are tested up to the kernel's answer: on devices
without VFs every call fails cleanly and names the device, the VF and the
VF count.  The request bytes themselves are checked in netcfg-unit."""
import pytest

MAC = "52:54:00:12:34:56"


@pytest.fixture
def devs(ns):
    ns.ip("link add pf0 type veth peer name pf0-peer")
    ns.ip("link add br0 type bridge")
    ns.ip("link set pf0 up")
    return ns


def test_vf_count_zero(devs, tool):
    for dev in ("pf0", "br0", "lo"):
        assert tool.ok("vf", "count", dev) == 0


@pytest.mark.parametrize("dev", ["pf0", "br0"])
def test_vf_get_no_such_vf(devs, tool, dev):
    assert (tool.fails("vf", "get", dev, 0) ==
            f"error: cannot read VF 0 of {dev}: {dev} has no VF 0 (it has 0 VFs)")


@pytest.mark.parametrize("args, what", [
    (["mac", MAC], f"cannot set MAC {MAC} of VF 3 on pf0"),
    (["mac", "00:00:00:00:00:00"], "cannot set MAC 00:00:00:00:00:00 of VF 3 on pf0"),
    (["vlan", 100, "qos", 5], "cannot set VLAN 100 qos 5 of VF 3 on pf0"),
    (["spoofchk", "on"], "cannot set spoofchk on of VF 3 on pf0"),
    (["trust", "off"], "cannot set trust off of VF 3 on pf0"),
    (["state", "disable"], "cannot set link state disable of VF 3 on pf0"),
    (["mac", MAC, "spoofchk", "on", "trust", "off", "state", "auto"],
     f"cannot configure VF 3 on pf0 (MAC {MAC}, spoofchk on, trust off, link state auto)"),
])
def test_vf_set_no_such_vf(devs, tool, args, what):
    msg = tool.fails("vf", "set", "pf0", 3, *args)
    assert msg == f"error: {what}: pf0 has no VF 3 (it has 0 VFs)"


def test_vf_errors_name_the_device(devs, tool):
    assert (tool.fails("vf", "get", "nosuch", 1) ==
            "error: cannot read VF 1 of nosuch: no device nosuch")
    assert (tool.fails("vf", "set", "nosuch", 1, "trust", "on") ==
            "error: cannot set trust on of VF 1 on nosuch: no device nosuch")
    assert (tool.fails("vf", "count", "nosuch") ==
            "error: cannot count the VFs of nosuch: no device nosuch")


def test_vf_set_bad_values(devs, tool):
    # checked before asking the kernel, and still naming VF and device
    msg = tool.fails("vf", "set", "pf0", 0, "vlan", 4095)
    assert msg == "error: cannot set VLAN 4095 qos 0 of VF 0 on pf0: VLAN must be 0-4094 and qos 0-7"
    msg = tool.fails("vf", "set", "pf0", 0, "vlan", 10, "qos", 8)
    assert "qos 0-7" in msg
    msg = tool.fails("vf", "set", "pf0", 0, "vlan", 0, "qos", 3)
    assert msg == "error: cannot set VLAN off of VF 0 on pf0: qos needs a VLAN"
