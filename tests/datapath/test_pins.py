# SPDX-License-Identifier: GPL-2.0
"""The datapath outlives its loader: pins, adoption, SIGKILL, detach."""
import json
import os
import signal
import subprocess

import frames as fr
import netns
from test_lab import DpLab, VM1, WIRE_MAC

PIN_ROOT = "/sys/fs/bpf/semi-net"


def send_and_count(lab, n, tag0=0):
    lab.drain()
    for i in range(n):
        lab.wire_s.send(fr.udp4(VM1, WIRE_MAC, tag=tag0 + i))
    return len(lab.received()["vf1"])


def prog_exists(prog_id):
    return subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)],
                          capture_output=True).returncode == 0


def test_sigkill_loader_datapath_survives_and_is_adopted(build):
    lab = DpLab(build, "xdp")
    holder = None
    try:
        # A process that holds the instance open (fds, mappings) ...
        holder = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{lab.host.name}", lab.bin, "-i", lab.instance,
             "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ready"
        assert send_and_count(lab, 10) == 10
        attached = {a["ifname"]: a for a in json.loads(lab.dpctl("-j", "attachments"))}
        assert set(attached) == {"up0", "vf1", "tap1", "vf2", "tap2"}
        xdp_id = attached["up0"]["xdp_prog_id"]
        # ... dies with SIGKILL: nothing of the datapath goes with it.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        link = lab.host.ip("-d link show up0")
        assert f"prog/xdp id {xdp_id}" in link, link
        assert "semi_uplink_tc" in lab.host.run(["tc", "filter", "show", "dev", "up0",
                                                 "ingress"])
        assert send_and_count(lab, 10, 100) == 10
        # A new process adopts the pins and reads the same counters.
        assert lab.dpctl("load").strip() == "adopted"
        assert lab.stats("vm1")["rx_vf"]["packets"] == 20
        assert lab.ports()["vm1"]["path"] == "vf"
        # Destroy: no pin, no attachment, no program left behind.
        tc_ids = [a["tc_prog_id"] for a in attached.values()]
        lab.dpctl("destroy")
        assert not os.path.exists(os.path.join(PIN_ROOT, lab.instance))
        assert "xdp" not in lab.host.ip("-d link show up0").split("mtu")[0]
        assert "prog/xdp" not in lab.host.ip("-d link show up0")
        for dev in ("up0", "vf1", "tap1"):
            assert "bpf" not in lab.host.run(["tc", "filter", "show", "dev", dev, "ingress"])
            assert "clsact" not in lab.host.run(["tc", "qdisc", "show", "dev", dev])
        assert not prog_exists(xdp_id)
        assert not any(prog_exists(i) for i in tc_ids)
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        lab.close()


def test_adopt_keeps_paths_ports_and_counters(build):
    lab = DpLab(build, "tc")
    try:
        lab.dpctl("path", "vm1", "tap")
        assert send_and_count(lab, 3) == 0
        before = lab.stats("vm1")
        assert before["rx_tap"]["packets"] == 3
        # Every new invocation adopts; nothing was reset.
        assert lab.dpctl("load").strip() == "adopted"
        assert lab.ports()["vm1"]["path"] == "tap"
        assert lab.stats("vm1") == before
    finally:
        lab.close()


def dpctl_fail(build, instance, *args):
    p = subprocess.run([os.path.join(build, "bin", "semi-dpctl"), "-i", instance, *args],
                       capture_output=True, text=True)
    return p.returncode, p.stderr


def test_incompatible_pins_refused_with_a_clear_message(build):
    instance = netns.unique("abi")
    d = os.path.join(PIN_ROOT, instance)
    try:
        os.makedirs(d)
        subprocess.run(["bpftool", "map", "create", f"{d}/semi_ports", "type", "array",
                        "key", "4", "value", "8", "entries", "16", "name", "semi_ports"],
                       check=True)
        rc, err = dpctl_fail(build, instance, "load")
        assert rc == 1
        assert "semi_ports" in err and "incompatible" in err and "flush" in err, err
        # Nothing was changed or added next to the foreign map.
        assert os.listdir(d) == ["semi_ports"]
        rc, err = dpctl_fail(build, instance, "purge")
        assert rc == 0, err
        assert not os.path.exists(d)
    finally:
        subprocess.run(["rm", "-rf", d])
        if os.path.isdir(PIN_ROOT) and not os.listdir(PIN_ROOT):
            os.rmdir(PIN_ROOT)


def test_incomplete_pin_directory_refused(build):
    instance = netns.unique("half")
    bin_ = os.path.join(build, "bin", "semi-dpctl")
    try:
        subprocess.run([bin_, "-i", instance, "load"], check=True, capture_output=True)
        os.unlink(os.path.join(PIN_ROOT, instance, "semi_devs"))
        rc, err = dpctl_fail(build, instance, "port-show")
        assert rc == 1 and "incomplete" in err and "semi_devs" in err, err
    finally:
        subprocess.run([bin_, "-i", instance, "purge"], capture_output=True)
    assert not os.path.exists(os.path.join(PIN_ROOT, instance))


def test_missing_device_and_bad_input_are_named(build):
    lab = DpLab(build, "tc")
    try:
        for args, words in [
            (("attach-port", "nosuchdev0"), ["no device nosuchdev0"]),
            (("port-put", "vm9", "52:54:00:00:00:01"), ["already belongs to port vm1"]),
            (("port-put", "vm9", "01:00:5e:00:00:01"), ["not a unicast"]),
            (("port-put", "vm9", "52:54:00:00:00:09", "vf", "vf1"),
             ["vf1 already belongs to port vm1"]),
            (("port-put", "vm9", "52:54:00:00:00:09", "vlan", "5000"), ["VLAN 5000"]),
            (("port-del", "vm9"), ["no port 'vm9'"]),
            (("attach-uplink", "vf1"), ["already has uplink up0"]),
            (("attach-port", "up0"), ["uplink"]),
        ]:
            p = subprocess.run(["nsenter", f"--net=/run/netns/{lab.host.name}", lab.bin,
                                "-i", lab.instance, *args], capture_output=True, text=True)
            assert p.returncode == 1, (args, p.stderr)
            for w in words:
                assert w in p.stderr, (args, p.stderr)
        # Nothing that was refused changed the ports.
        assert set(lab.ports()) == {"vm1", "vm2"}
    finally:
        lab.close()
