#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Measure the lab's own costs (not a test: it prints figures, asserts nothing).

    SEMI_BUILD=build tests/lab/measure.py [--seconds 2] [--rates 50k,100k,...]

* lab up / down time (1 VM and 4 VMs);
* semi-meter's rate on a bare veth pair (sender and receiver, no lab);
* the emulated path (client -> fabric -> hostA -> tap -> tap-relay -> guest
  virtio): delivered rate and loss at each offered rate -- tap-relay's
  throughput, the emulated path's real cost;
* the VF path for comparison (XDP on hostA's uplink redirecting into the
  VF, lab_steer.bpf.o standing in for semi-net).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import semilab  # noqa: E402

RATE_UNITS = {"k": 1000, "M": 1000000}


def parse_rate(s):
    return int(float(s[:-1]) * RATE_UNITS[s[-1]]) if s[-1] in RATE_UNITS else int(s)


def timed(f):
    t = time.monotonic()
    f()
    return time.monotonic() - t


def stream(lab, src, dst_node, rate, seconds, labels=("-L", "1=vf", "-L", "2=virtio")):
    rx = lab.meter_recv(dst_node, args=["-t", "1", *labels])
    tx = lab.meter_send(src, lab.endpoint(dst_node)["ipv4"], rate,
                        count=int(rate * seconds))
    t = tx.result(timeout=seconds * 5 + 30)["tx"]
    r = rx.result(timeout=seconds * 5 + 30)["rx"]
    return t, r


def row(label, t, r):
    loss = 100.0 * r["lost"] / r["sent"] if r["sent"] else 0
    print(f"  {label:>10}  offered {t['rate_pps']:>9,.0f} pps  delivered "
          f"{r['rate_pps']:>9,.0f} pps  lost {r['lost']:>8,} ({loss:5.2f}%)  "
          f"via {','.join(r['paths'])}", flush=True)
    return loss


def bare_meter(lab, name, rate, seconds, receiver=True):
    """Sender and receiver in two namespaces joined by one veth (without a
    receiver: the peer is down, the veth drops every frame)."""
    a_ns, b_ns = f"{name}-ma", f"{name}-mb"
    meter = lab.binary("semi-meter")
    try:
        for ns in (a_ns, b_ns):
            semilab.run(["ip", "netns", "add", ns])
        semilab.run(["ip", "-n", a_ns, "link", "add", "v", "type", "veth", "peer",
                     "name", "v", "netns", b_ns])
        for ns, me in ((a_ns, 1), (b_ns, 2)):
            semilab.ip_batch(ns, ["link set dev lo up", "link set dev v up",
                                  f"addr add 192.0.2.{me}/24 dev v"])
        if not receiver:
            semilab.ip_batch(b_ns, ["link set dev v down"])
            tx = subprocess.run([meter, "send", "-n", a_ns, "192.0.2.2", "-j", "-r",
                                 str(rate), "-c", str(int(rate * seconds))],
                                capture_output=True, text=True, timeout=seconds * 5 + 30)
            t = json.loads(tx.stdout)["tx"]
            return t, {"sent": t["sent"], "lost": t["sent"], "rate_pps": 0,
                       "paths": ["(dropped)"]}
        rx = subprocess.Popen([meter, "recv", "-n", b_ns, "-j", "-t", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rx.stderr.readline()
            tx = subprocess.run([meter, "send", "-n", a_ns, "192.0.2.2", "-j", "-r",
                                 str(rate), "-c", str(int(rate * seconds))],
                                capture_output=True, text=True, timeout=seconds * 5 + 30)
            out, _ = rx.communicate(timeout=seconds * 5 + 30)
        finally:
            if rx.poll() is None:
                rx.kill()
                rx.wait()
        return json.loads(tx.stdout)["tx"], json.loads(out)["rx"]
    finally:
        for ns in (a_ns, b_ns):
            semilab.run(["ip", "netns", "del", ns], check=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rates", default="50k,100k,150k,200k,300k,400k,500k")
    p.add_argument("--name", default=f"meas{os.getpid()}")
    a = p.parse_args()
    rates = [parse_rate(r) for r in a.rates.split(",")]

    print("lab up/down (seconds):")
    for vms in (1, 4):
        for _ in range(3):
            lab = semilab.Lab(a.name, vms=vms)
            up = timed(lab.up)
            down = timed(lab.down)
            print(f"  {vms} VM(s): up {up:.3f}  down {down:.3f}", flush=True)

    lab = semilab.Lab(a.name, vms=1, vf=False)
    try:
        lab.up()
        lab.pin_neigh("client", "vm1")
        lab.pin_neigh("vm1", "client")
        lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])

        print("semi-meter on a bare veth pair (its own ceiling):")
        for rate in (500000, 1000000):
            row("meter", *bare_meter(lab, a.name, rate, a.seconds))
        print("semi-meter sender alone (the veth drops every frame):")
        for rate in (500000, 2000000):
            row("sender", *bare_meter(lab, a.name, rate, a.seconds, receiver=False))

        print("emulated path client -> vm1 (fabric, hostA br0, tap, tap-relay, virtio):")
        for rate in rates:
            t, r = stream(lab, "client", "vm1", rate, a.seconds)
            row("relay", t, r)
        print("emulated path vm1 -> client:")
        for rate in rates[:4]:
            t, r = stream(lab, "vm1", "client", rate, a.seconds, labels=())
            row("relay", t, r)

        print("VF path client -> vm1 (XDP redirect on hostA's uplink into the VF):")
        lab.plug("vm1", "hostA")
        lab.steer("hostA", "vm1")
        for rate in rates:
            t, r = stream(lab, "client", "vm1", rate, a.seconds)
            row("vf", t, r)
    finally:
        lab.down()


if __name__ == "__main__":
    main()
