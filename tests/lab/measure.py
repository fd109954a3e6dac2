#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Measure the lab's own costs (not a test: it prints figures, asserts nothing).

    SEMI_BUILD=build tests/lab/measure.py [--seconds 2] [--rates 50k,100k,...]
                                          [--only lab,meter,relay,both,vf]
                                          [--repeat N] [--daemons]

* lab up / down time (1 VM and 4 VMs);
* semi-meter's rate on a bare veth pair (sender and receiver, no lab);
* the emulated path (client -> fabric -> hostA -> tap -> tap-relay -> guest
  virtio): delivered rate and loss at each offered rate -- tap-relay's
  throughput, the emulated path's real cost;
* the emulated path both ways at once (section "both"): semi-meter send and
  recv in each direction, as tests/demo and tests/migration run them, at
  --both-rates each way: per direction the loss, and where: the host tap
  full (frames to the guest that tap-relay did not read in time), the
  guest's virtio tap full (frames from the guest), the relay's failed
  writes, the CPU's backlog, the receivers' socket buffers; and where the
  CPU went (the relay's own time, and softirq/system/user/idle over both
  cores).  With --daemons the lab runs a semi-netd per host and vm1's VF is
  unplugged first: the datapath carries the emulated path, as in the demo;
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


def cpu_times():
    """Aggregate /proc/stat "cpu" line, in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return dict(zip(names, v))


def wait_quiet(max_wait=120.0, idle=0.85):
    """Wait until the machine is mostly idle (other tests running skew the
    figures); returns the seconds waited, or None if it never was."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        a = cpu_times()
        time.sleep(0.5)
        b = cpu_times()
        total = sum(b.values()) - sum(a.values())
        if total and (b["idle"] - a["idle"]) / total >= idle:
            return time.monotonic() - t0
    return None


def softnet_dropped():
    """Frames dropped by full per-CPU backlogs (netdev_max_backlog), all CPUs."""
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


def udp_rcvbuf_errors(lab, node):
    out = lab.exec(node, ["cat", "/proc/net/snmp"]).splitlines()
    for head, vals in zip(out, out[1:]):
        if head.startswith("Udp:") and vals.startswith("Udp:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return int(d.get("RcvbufErrors", 0))
    return 0


def both_counters(lab, vm="vm1", host="hostA"):
    g = lab.guest(vm)
    tap, virtio = lab.link_stats(host, g["tap"]), lab.link_stats(vm, g["virtio"])
    relay = lab.relay_poll(vm)
    return {
        "tap_full": tap["tx_dropped"], "tap_rx_dropped": tap["rx_dropped"],
        "virtio_full": virtio["tx_dropped"], "virtio_rx_dropped": virtio["rx_dropped"],
        "relay_werr_to_guest": relay["to_guest"]["write_errors"],
        "relay_werr_to_host": relay["to_host"]["write_errors"],
        "backlog": softnet_dropped(),
        "rcvbuf_vm": udp_rcvbuf_errors(lab, vm), "rcvbuf_client": udp_rcvbuf_errors(lab, "client"),
    }


def task_times():
    """(pid, tid) -> [ns on a CPU, ns runnable but waiting for one, comm,
    kernel thread, start time] of every thread now
    (/proc/PID/task/TID/schedstat)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(base + "/schedstat") as f:
                    run, wait = (int(x) for x in f.read().split()[:2])
                with open(base + "/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
                comm, rest = head.split("(", 1)[1], rest.split()
                kthread = bool(int(rest[6]) & 0x00200000)     # PF_KTHREAD
                start = int(rest[19])
            except (OSError, ValueError, IndexError):
                continue
            out[(int(pid), int(tid))] = [run, wait, comm, kthread, start]
    return out


def cpu_window(before, after, roles, seconds):
    """Where the CPU went between two task_times(): per role (a pid's name
    in roles; its threads apart when it has several) % of one CPU on it and
    % waiting for one; the rest as kernel threads and other processes."""
    acc = {}
    for key, (run, wait, comm, kthread, start) in after.items():
        b = before.get(key)
        if b is None or b[4] != start:
            b = [0, 0]      # a thread that started in the window
        pid, tid = key
        if pid in roles:
            name = roles[pid] if pid == tid else f"{roles[pid]} {comm}"
        else:
            name = "kernel threads" if kthread else "other processes"
        a = acc.setdefault(name, [0.0, 0.0])
        a[0] += (run - b[0]) / seconds / 1e7
        a[1] += (wait - b[1]) / seconds / 1e7
    return acc


def both_ways(lab, rate, seconds, vm="vm1"):
    """Both streams at once (client -> vm and vm -> client), as the demo and
    tests/migration run them.  Returns the two receivers' reports, where the
    frames were lost, and where the CPU went over the middle half of the
    streams."""
    vm_ip, client_ip = lab.endpoint(vm)["ipv4"], lab.endpoint("client")["ipv4"]
    rpid = lab.relay_pid(vm)
    c0 = both_counters(lab, vm)
    rx_vm = lab.meter_recv(vm, args=["-L", "1=vf", "-L", "2=virtio", "-t", "1"])
    rx_cl = lab.meter_recv("client", args=["-t", "1"])
    n = int(rate * seconds)
    tx_cl = lab.meter_send("client", vm_ip, rate, count=n)
    tx_vm = lab.meter_send(vm, client_ip, rate, count=n)
    roles = {rpid: "tap-relay", tx_cl.proc.pid: "sender client", tx_vm.proc.pid: "sender vm",
             rx_vm.proc.pid: "receiver vm", rx_cl.proc.pid: "receiver client"}
    time.sleep(seconds / 4)
    s0, k0, t0 = task_times(), cpu_times(), time.monotonic()
    time.sleep(seconds / 2)
    s1, k1, t1 = task_times(), cpu_times(), time.monotonic()
    tmo = seconds * 5 + 30
    t_cl, t_vm = tx_cl.result(timeout=tmo)["tx"], tx_vm.result(timeout=tmo)["tx"]
    r_vm, r_cl = rx_vm.result(timeout=tmo)["rx"], rx_cl.result(timeout=tmo)["rx"]
    c1 = both_counters(lab, vm)
    d = {k: c1[k] - c0[k] for k in c0}
    cpu = cpu_window(s0, s1, roles, t1 - t0)
    ticks = sum(k1.values()) - sum(k0.values())
    cores = os.cpu_count()
    stat = {k: 100.0 * cores * (k1[k] - k0[k]) / ticks for k in k0} if ticks else {}
    return (t_cl, r_vm), (t_vm, r_cl), d, (cpu, stat)


def both_rows(rate, to_vm, from_vm, d, cpu):
    (t1, r1), (t2, r2) = to_vm, from_vm
    tasks, stat = cpu
    row("->vm", t1, r1)
    row("vm->", t2, r2)
    print(f"  {'':>10}  lost where: host tap full {d['tap_full']}, guest virtio tap full "
          f"{d['virtio_full']}, relay write errors {d['relay_werr_to_guest']}/"
          f"{d['relay_werr_to_host']}, tun rx dropped {d['tap_rx_dropped']}/"
          f"{d['virtio_rx_dropped']}, backlog {d['backlog']}, socket buffers vm "
          f"{d['rcvbuf_vm']} client {d['rcvbuf_client']}", flush=True)
    cores = os.cpu_count()
    print(f"  {'':>10}  CPU mid-stream, % of one of {cores} cores: "
          + ", ".join(f"{k} {v:.0f}" for k, v in (
              ("idle", stat.get("idle", 0)), ("softirq", stat.get("softirq", 0)))) +
          "; on a CPU (waiting for one):", flush=True)
    for name, (run, wait) in sorted(tasks.items(), key=lambda kv: -kv[1][0]):
        if run >= 0.5 or name.startswith("tap-relay"):
            print(f"  {'':>12}  {name:<24} {run:5.1f}% ({wait:5.1f}%)", flush=True)


def emulated_lab(a, daemons):
    """A lab whose vm1 runs on its virtio NIC: no VF; with daemons, a
    semi-netd per host and the VF unplugged (the port goes emulated)."""
    if daemons:
        lab = semilab.Lab(a.name, vms=1, daemons=True)
        lab.up()
        lab.unplug("vm1")

        def state():
            ports = lab.netctl("hostA", "port", "show", json_out=True)["ports"]
            return [p["state"] for p in ports if p["name"] == "vm1"]
        lab.wait_for("vm1's port on hostA to go emulated", lambda: state() == ["emulated"])
    else:
        lab = semilab.Lab(a.name, vms=1, vf=False)
        lab.up()
    lab.pin_neigh("client", "vm1")
    lab.pin_neigh("vm1", "client")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    return lab


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rates", default="50k,100k,150k,200k,300k,400k,500k")
    p.add_argument("--both-rates", default="50k,80k,100k,120k,150k",
                   help="rates each way for the both-ways section")
    p.add_argument("--only", default="lab,meter,relay,both,vf",
                   help="sections: lab, meter, relay, both, vf")
    p.add_argument("--repeat", type=int, default=1, help="runs per rate")
    p.add_argument("--daemons", action="store_true",
                   help="a semi-netd per host carries the emulated path (as in the demo)")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="before each both-ways run, wait up to this long for an idle machine")
    p.add_argument("--name", default=f"meas{os.getpid()}")
    a = p.parse_args()
    rates = [parse_rate(r) for r in a.rates.split(",")]
    both_rates = [parse_rate(r) for r in a.both_rates.split(",")]
    only = set(a.only.split(","))

    if "lab" in only:
        print("lab up/down (seconds):")
        for vms in (1, 4):
            for _ in range(3):
                lab = semilab.Lab(a.name, vms=vms)
                up = timed(lab.up)
                down = timed(lab.down)
                print(f"  {vms} VM(s): up {up:.3f}  down {down:.3f}", flush=True)

    lab = None
    try:
        lab = emulated_lab(a, a.daemons)
        if "meter" in only:
            print("semi-meter on a bare veth pair (its own ceiling):")
            for rate in (500000, 1000000):
                row("meter", *bare_meter(lab, a.name, rate, a.seconds))
            print("semi-meter sender alone (the veth drops every frame):")
            for rate in (500000, 2000000):
                row("sender", *bare_meter(lab, a.name, rate, a.seconds, receiver=False))

        if "relay" in only:
            print("emulated path client -> vm1 (fabric, hostA br0, tap, tap-relay, virtio):")
            for rate in rates:
                for _ in range(a.repeat):
                    t, r = stream(lab, "client", "vm1", rate, a.seconds)
                    row("relay", t, r)
            print("emulated path vm1 -> client:")
            for rate in rates[:4]:
                for _ in range(a.repeat):
                    t, r = stream(lab, "vm1", "client", rate, a.seconds, labels=())
                    row("relay", t, r)

        if "both" in only:
            print(f"emulated path both ways at once, {a.seconds:g} s, meters send and recv "
                  f"both ways{' (semi-netd per host)' if a.daemons else ''}:")
            for rate in both_rates:
                for _ in range(a.repeat):
                    waited = wait_quiet(a.quiet_wait) if a.quiet_wait else 0
                    print(f"  {rate:,} pps each way"
                          f"{' (the machine was busy)' if waited is None else ''}:", flush=True)
                    both_rows(rate, *both_ways(lab, rate, a.seconds))

        if "vf" in only and not a.daemons:
            print("VF path client -> vm1 (XDP redirect on hostA's uplink into the VF):")
            lab.plug("vm1", "hostA")
            lab.steer("hostA", "vm1")
            for rate in rates:
                t, r = stream(lab, "client", "vm1", rate, a.seconds)
                row("vf", t, r)
    finally:
        if lab is not None:
            lab.down()


if __name__ == "__main__":
    main()
