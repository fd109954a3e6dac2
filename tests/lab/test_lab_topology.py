# SPDX-License-Identifier: GPL-2.0
"""The lab comes up and goes down cleanly, by the fixture and by hand."""
import json
import os
import subprocess
import sys

import netns
import semilab

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "lab")


def devices(lab, node):
    out = lab.exec(node, ["ip", "-j", "link", "show"])
    return {d["ifname"]: d for d in json.loads(out)}


def relay_processes(name):
    """tap-relay processes of lab `name` (by their namespace arguments)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) in (b"tap-relay", b"semi-meter") and any(
                a.startswith(name.encode() + b"-") for a in argv):
            found.append(int(pid))
    return found


def test_up_status_down(lab_factory):
    lab = lab_factory(vms=2)
    s = lab.status()
    assert s["up"]
    present = semilab.netns_list()
    for node, ns in s["namespaces"].items():
        assert ns in present and ns.startswith(lab.name + "-"), node

    fabric = devices(lab, "fabric")
    for port in s["fabric"]["ports"].values():
        assert fabric[port]["master"] == s["fabric"]["bridge"]
    for h, host in s["hosts"].items():
        devs = devices(lab, h)
        assert devs[host["uplink"]]["master"] == host["bridge"]
        for vm, v in host["vms"].items():
            # libvirt-style: the VM's tap in the host bridge, on every host.
            assert devs[v["tap"]]["master"] == host["bridge"]
            assert (v["vf"] is not None) == (h == "hostA")
            if v["vf"]:
                assert v["vf"] in devs and "master" not in devs[v["vf"]]
            assert v["running"] == (h == "hostA")
            # Carrier on the tap only where the VM runs (its relay attached).
            assert ("NO-CARRIER" in devs[v["tap"]]["flags"]) == (h != "hostA")
    for vm, g in s["guests"].items():
        devs = devices(lab, vm)
        for dev in (g["master"], g["virtio"], g["vf"]):
            assert devs[dev]["address"] == g["mac"], dev
        addrs = json.loads(lab.exec(vm, ["ip", "-j", "addr", "show", "dev", g["master"]]))
        local = {a["local"] for a in addrs[0]["addr_info"]}
        assert {semilab.strip_len(g["ipv4"]), semilab.strip_len(g["ipv6"])} <= local
        assert lab.guest_stats(vm)["vf"] == g["vf"]
        assert g["host"] == "hostA" and g["vf_host"] == "hostA" and g["relay_pid"]
    # Every name is unique to this lab; the run folder holds its state.
    assert os.path.exists(os.path.join(s["rundir"], "lab.json"))
    assert len(relay_processes(lab.name)) == 2

    pid = lab.relay_pid("vm1")
    lab.up()                            # idempotent: nothing changes
    assert lab.relay_pid("vm1") == pid

    lab.down()
    assert lab.leftovers() == []
    assert relay_processes(lab.name) == []
    lab.down()                          # idempotent
    assert lab.leftovers() == []


def test_two_labs_side_by_side(lab_factory):
    a, b = lab_factory(), lab_factory(vf=False)
    assert set(a.status()["namespaces"].values()).isdisjoint(b.status()["namespaces"].values())
    # Same addresses in both, separate worlds: each client reaches its guest.
    b.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    assert b.guest_stats("vm1")["rx_virtio"]["packets"] > 0
    assert a.guest_stats("vm1")["rx_virtio"]["packets"] == 0


def run_lab(*args, check=True):
    p = subprocess.run([LAB, *args], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)}: {p.returncode} {p.stderr}")
    return p


def test_cli(build):
    name = netns.unique("cli")
    try:
        out = run_lab("up", name, "--vms", "2", "--no-vf").stdout
        assert f"lab {name}: up" in out
        assert "already up" in run_lab("up", name, "--vms", "2").stdout
        assert run_lab("up", name, "--vms", "3", check=False).returncode == 1

        s = json.loads(run_lab("status", name, "-j").stdout)
        assert s["up"] and s["hosts"]["hostA"]["vms"]["vm2"]["tap"] == "tap-vm2"
        assert s["guests"]["vm1"]["vf_host"] is None

        out = run_lab("exec", name, "client", "ip", "-j", "addr", "show", "dev", "eth0").stdout
        assert "192.0.2.100" in out
        run_lab("exec", name, "client", "ping", "-c", "1", "-W", "5", "192.0.2.12")

        run_lab("plug", name, "vm1", "hostB")
        s = json.loads(run_lab("status", name, "-j").stdout)
        assert s["hosts"]["hostB"]["vms"]["vm1"]["vf"] == "vf-vm1"
        assert run_lab("plug", name, "vm1", "hostA", check=False).returncode == 1
        run_lab("unplug", name, "vm1")

        run_lab("pause", name, "vm2")
        assert json.loads(run_lab("status", name, "-j").stdout)["guests"]["vm2"]["paused"]
        run_lab("resume", name, "vm2")
        run_lab("migrate", name, "vm2", "hostB", "--announce")
        s = json.loads(run_lab("status", name, "-j").stdout)
        assert s["guests"]["vm2"]["host"] == "hostB"
        run_lab("exec", name, "client", "ping", "-c", "1", "-W", "5", "192.0.2.12")

        stats = json.loads(run_lab("guest-stats", name, "vm2", "-j").stdout)
        assert stats["rx_virtio"]["packets"] > 0
        assert run_lab("exec", name, "nosuchnode", "true", check=False).returncode == 1
        assert run_lab("bogus", check=False).returncode == 2
    finally:
        run_lab("down", name)
    assert run_lab("down", name).returncode == 0
    assert run_lab("status", name, check=False).returncode == 1
    assert not [ns for ns in semilab.netns_list() if ns.startswith(name + "-")]
    assert relay_processes(name) == []
    assert not os.path.exists(os.path.join(semilab.RUN_ROOT, name))


def test_cleanup_after_a_failing_test(build):
    """A test that fails with relays paused, a meter waiting and pins made
    leaves nothing behind."""
    token = netns.RUN_TOKEN + "f"
    env = dict(os.environ, SEMI_TEST_TOKEN=token, SEMI_BUILD=build)
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                        os.path.join(HERE, "failing_case.py")],
                       capture_output=True, text=True, timeout=120, env=env,
                       cwd=os.path.dirname(os.path.dirname(HERE)))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "this test fails on purpose" in p.stdout
    assert p.stdout.splitlines()[-1].startswith("1 failed in")  # no teardown error
    name = f"sn{token}-l0"
    assert not [ns for ns in semilab.netns_list() if ns.startswith(name)]
    assert relay_processes(name) == []
    assert not os.path.exists(os.path.join(semilab.RUN_ROOT, name))
    assert not os.path.exists(os.path.join(semilab.PIN_ROOT, name))
