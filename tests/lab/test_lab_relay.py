# SPDX-License-Identifier: GPL-2.0
"""tap-relay, the QEMU stand-in: the emulated path end to end, pause
(SIGSTOP: frames queue in the tap and overflow there), migration (the relay
moves to the other host's tap), and its error handling."""
import contextlib
import json
import os
import signal
import subprocess
import time

import netns
import pytest

LABELS = ["-L", "1=vf", "-L", "2=virtio"]


def fdb_port(lab, node, bridge, mac):
    out = lab.exec(node, ["bridge", "-j", "fdb", "show", "br", bridge])
    ports = [e["ifname"] for e in json.loads(out)
             if e["mac"] == mac and "permanent" not in e.get("state", "")]
    return ports[0] if ports else None


def test_emulated_path_reachability(lab_factory):
    """No semi-net, no VF: client <-> guests through the fabric, the host
    bridges, the taps and the relays; guest <-> guest across hosts."""
    lab = lab_factory(vms=2, vf=False)
    lab.migrate("vm2", "hostB")
    for dst in ("192.0.2.11", "2001:db8::b", "192.0.2.12", "2001:db8::c"):
        lab.exec("client", ["ping", "-c", "2", "-i", "0.2", "-W", "5", dst])
    lab.exec("vm1", ["ping", "-c", "2", "-i", "0.2", "-W", "5", "192.0.2.12"])
    lab.exec("vm2", ["ping", "-c", "2", "-i", "0.2", "-W", "5", "2001:db8::b"])
    for vm in ("vm1", "vm2"):
        st = lab.guest_stats(vm)
        assert st["rx_virtio"]["packets"] > 0 and st["tx_virtio"]["packets"] > 0
        assert st["rx_vf"]["packets"] == 0 and st["tx_vf"]["packets"] == 0
    # The switch and the host bridges learned where each VM is.
    vm1, vm2 = lab.guest("vm1")["mac"], lab.guest("vm2")["mac"]
    assert fdb_port(lab, "fabric", "sw0", vm1) == "p-hostA"
    assert fdb_port(lab, "fabric", "sw0", vm2) == "p-hostB"
    assert fdb_port(lab, "hostA", "br0", vm1) == "tap-vm1"
    assert fdb_port(lab, "hostB", "br0", vm2) == "tap-vm2"


def test_pause_queues_then_overflows(lab_factory):
    lab = lab_factory(vf=False)
    lab.pin_neigh("client", "vm1")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    qlen = lab.link_stats("hostA", "tap-vm1")["txqlen"]

    # Fewer frames than the tap holds: all arrive after the resume.
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1"])
    lab.pause("vm1")
    assert lab.status()["guests"]["vm1"]["paused"]
    n = qlen // 3
    assert lab.meter_send("client", "192.0.2.11", 20000, count=n).result()["tx"]["sent"] == n
    lab.resume("vm1")
    r = rx.result()["rx"]
    assert (r["sent"], r["received"], r["lost"], r["reordered"]) == (n, n, 0, 0)

    # Three times as many: the tap keeps what fits, drops the rest.
    dropped = lab.link_stats("hostA", "tap-vm1")["tx_dropped"]
    n = qlen * 3
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1", "-e", str(n)])
    lab.pause("vm1")
    assert lab.meter_send("client", "192.0.2.11", 20000, count=n).result()["tx"]["sent"] == n
    lab.wait_for("the tap to overflow",
                 lambda: lab.link_stats("hostA", "tap-vm1")["tx_dropped"] >= dropped + n - qlen)
    lab.resume("vm1")
    r = rx.result()["rx"]
    print(f"pause: {n} sent, {r['received']} queued in the tap, {r['lost']} dropped")
    assert 0 < r["received"] <= qlen
    assert r["received"] + r["lost"] == n
    assert r["duplicated"] == 0 and r["reordered"] == 0
    assert lab.link_stats("hostA", "tap-vm1")["tx_dropped"] - dropped >= r["lost"]
    # What the tap kept is the start of the stream.
    assert r["lost_runs"] == [[r["received"], n - 1]]


def migrate_mid_stream(lab, announce):
    lab.pin_neigh("client", "vm1")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    n = 20000
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1", "-e", str(n)])
    tx = lab.meter_send("client", "192.0.2.11", 10000, count=n)
    lab.wait_for("3000 frames through the relay on hostA",
                 lambda: lab.relay_poll("vm1")["to_guest"]["frames"] >= 3000)
    lab.migrate("vm1", "hostB", announce=announce)
    assert tx.result()["tx"]["sent"] == n
    return n, rx.result()["rx"]


def test_migrate_relay_with_announce(lab_factory):
    """The relay moves from hostA to hostB and announces the guest (RARP):
    the switch learns the new port and the stream continues there."""
    lab = lab_factory(vf=False)
    n, r = migrate_mid_stream(lab, announce=True)
    print(f"migration: {r['lost']} frames lost, longest gap {r['longest_gap_ms']} ms")
    assert r["received"] + r["lost"] == n and r["duplicated"] == 0
    assert r["lost_runs_total"] <= 1
    assert not r["lost_runs"] or r["lost_runs"][0][1] < n - 1   # the end arrived
    assert r["paths"] == ["virtio"]

    old, new = lab.relay_stats("vm1", "hostA"), lab.relay_poll("vm1")
    assert old["to_guest"]["frames"] >= 3000
    assert new["to_guest"]["frames"] > 0 and new["announces"] == 5
    assert old["to_guest"]["frames"] + new["to_guest"]["frames"] >= r["received"]
    s = lab.status()
    assert s["guests"]["vm1"]["host"] == "hostB"
    assert s["hosts"]["hostB"]["vms"]["vm1"]["running"]
    assert not s["hosts"]["hostA"]["vms"]["vm1"]["running"]
    assert "NO-CARRIER" in lab.link_stats("hostA", "tap-vm1")["flags"]
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostB"


def test_migrate_relay_without_announce_blackholes(lab_factory):
    """Without an announce the switch still sends the guest's frames to
    hostA, where its tap has no carrier: the rest of the stream is lost
    until the guest itself sends."""
    lab = lab_factory(vf=False)
    n, r = migrate_mid_stream(lab, announce=False)
    assert r["received"] + r["lost"] == n
    assert r["lost_runs"] == [[r["received"], n - 1]]
    assert lab.relay_poll("vm1")["to_guest"]["frames"] < 100   # floods only
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostA"

    lab.exec("vm1", ["ping", "-c", "1", "-W", "5", "192.0.2.100"])
    assert fdb_port(lab, "fabric", "sw0", lab.guest("vm1")["mac"]) == "p-hostB"
    rx = lab.meter_recv("vm1", args=LABELS + ["-t", "1"])
    lab.meter_send("client", "192.0.2.11", 10000, count=2000).result()
    assert rx.result()["rx"]["received"] == 2000


def relay(build, *args):
    return subprocess.run([os.path.join(build, "bin", "tap-relay"), *args],
                          capture_output=True, text=True, timeout=30)


def test_relay_errors(lab_factory, build):
    lab = lab_factory(vf=False, relay=False)
    ns_a, ns_g = lab.ns("hostA"), lab.ns("vm1")
    assert relay(build).returncode == 2
    assert relay(build, "-t", "tap-vm1", "-g", "virtio0", "extra").returncode == 2
    p = relay(build, "--help")
    assert p.returncode == 0 and "usage: tap-relay" in p.stdout
    # A device that does not exist is named, and not created.
    p = relay(build, "-n", ns_a, "-t", "tap-nope", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "no tap tap-nope in " + ns_a in p.stderr
    assert "tap-nope" not in lab.exec("hostA", ["ip", "link"])
    p = relay(build, "-n", ns_a, "-t", "tap-vm1", "-N", ns_g, "-g", "virtio9")
    assert p.returncode == 1 and "no tap virtio9 in " + ns_g in p.stderr
    # Not a tap.
    p = relay(build, "-n", ns_a, "-t", "br0", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "br0" in p.stderr
    p = relay(build, "-n", "no-such-ns", "-t", "tap-vm1", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "no-such-ns" in p.stderr
    # Once the VM runs, its tap and its virtio are taken.
    lab.relay_start("vm1", "hostA")
    p = relay(build, "-n", ns_a, "-t", "tap-vm1", "-N", ns_g, "-g", "virtio0")
    assert p.returncode == 1 and "busy" in p.stderr
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_relay_exit_frees_the_tap(lab_factory, sig):
    """However the relay ends, the tap is free for the next one."""
    lab = lab_factory(vf=False)
    pid = lab.relay_pid("vm1")
    os.kill(pid, getattr(__import__("signal"), "SIG" + sig))
    lab.wait_for("the relay to exit", lambda: not lab.relay_alive("vm1"))
    lab.relay_stop("vm1")
    lab.relay_start("vm1", "hostA")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])


def test_relay_cli_values(build):
    for args in (["-c", "5"], ["-c", "200ms"], ["-c", "x"], ["-P", "-21"], ["-P", "20"],
                 ["-P", "1x"], ["-T", "0"], ["-T", "3"], ["-T", "1x"]):
        p = relay(build, *args, "-t", "tap-vm1", "-g", "virtio0")
        assert p.returncode == 2, args
        assert "usage: tap-relay" in p.stderr


def start_relay(lab, host, *extra, vm="vm1"):
    """vm's relay on host with extra options, as lab.relay_start() starts
    it (its pid file, log and stats file), so that lab.relay_poll() and
    lab down know it."""
    g, h = lab.guest(vm), lab.host(host)
    pidfile = os.path.join(lab.rundir, f"relay-{vm}.pid")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile)
    cmd = [lab.binary("tap-relay"), "-v", "-n", h["ns"], "-t", g["tap"], "-N", g["ns"],
           "-g", g["virtio"], "-p", pidfile, "-s", lab._relay_statsfile(vm, host), *extra]
    with open(os.path.join(lab.rundir, f"relay-{vm}.log"), "a") as log:
        p = lab.spawn(f"relay-{vm}", cmd, log=log)
    lab.wait_for("the relay to attach", lambda: os.path.exists(pidfile) or p.poll() is not None)
    assert p.poll() is None
    st = lab.vm_state(vm)
    st["host"], st["paused"] = host, False
    lab.save()
    return p


@pytest.mark.parametrize("extra", [(), ("-c", "0"), ("-c", "2ms"), ("-T", "1"),
                                   ("-T", "1", "-c", "0")],
                         ids=["default", "woken-per-frame", "coalesce-2ms", "one-thread",
                              "one-thread-woken-per-frame"])
def test_both_ways_at_once(lab_factory, extra):
    """A stream each way at once (a thread each): every frame arrives once
    and in order, whether the relay wakes for each frame or looks again
    after a burst; its counters account for every frame."""
    lab = lab_factory(vf=False, relay=False)
    start_relay(lab, "hostA", *extra)
    lab.pin_neigh("client", "vm1")
    lab.pin_neigh("vm1", "client")
    lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    before = lab.relay_poll("vm1")
    n, rate = 20000, 10000
    rx_vm = lab.meter_recv("vm1", args=LABELS + ["-t", "1", "-e", str(n)])
    rx_cl = lab.meter_recv("client", args=["-t", "1", "-e", str(n)])
    tx_cl = lab.meter_send("client", lab.endpoint("vm1")["ipv4"], rate, count=n)
    tx_vm = lab.meter_send("vm1", lab.endpoint("client")["ipv4"], rate, count=n)
    assert tx_cl.result()["tx"]["sent"] == n and tx_vm.result()["tx"]["sent"] == n
    for r in (rx_vm.result()["rx"], rx_cl.result()["rx"]):
        assert (r["received"], r["lost"], r["duplicated"], r["reordered"]) == (n, 0, 0, 0)
    after = lab.relay_poll("vm1")
    for d in ("to_guest", "to_host"):
        assert after[d]["frames"] - before[d]["frames"] >= n
        assert after[d]["write_errors"] == 0


def test_relay_weight(lab_factory):
    """The relay runs at nice -10, and so does its autogroup when it leads
    its session (the lab starts it so); -P 0 leaves both; a relay in
    someone else's session never renices that session."""
    def nices(pid):
        out = []
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                out.append(int(f.read().rsplit(")", 1)[1].split()[16]))
        return out

    def autogroup(pid):
        with open(f"/proc/{pid}/autogroup") as f:
            return f.read()

    lab = lab_factory(vf=False)
    pid = lab.relay_pid("vm1")
    assert nices(pid) == [-10] * 3         # main thread and one per direction
    if os.path.exists(f"/proc/{pid}/autogroup"):
        assert autogroup(pid).split()[-1] == "-10"
    lab.relay_stop("vm1")
    p = start_relay(lab, "hostA", "-P", "0")
    assert nices(p.pid) == [0] * 3
    if os.path.exists(f"/proc/{p.pid}/autogroup"):
        assert autogroup(p.pid).split()[-1] == "0"
    lab.relay_stop("vm1")
    # In our session: nice -10 for the relay, our autogroup untouched.
    g = lab.guest("vm1")
    mine = autogroup(os.getpid()) if os.path.exists("/proc/self/autogroup") else None
    p = subprocess.Popen([lab.binary("tap-relay"), "-n", lab.ns("hostA"), "-t", g["tap"],
                          "-N", g["ns"], "-g", g["virtio"]], stderr=subprocess.DEVNULL)
    try:
        lab.wait_for("the relay to attach",
                     lambda: "LOWER_UP" in lab.link_stats("hostA", g["tap"])["flags"])
        assert nices(p.pid) == [-10] * 3
        if mine is not None:
            assert autogroup(os.getpid()) == mine
        lab.exec("client", ["ping", "-c", "1", "-W", "5", "192.0.2.11"])
    finally:
        p.terminate()
        p.wait(10)


def test_relay_wait_guest(lab_factory):
    """-w (the destination's QEMU): it holds its tap at once, costs next to
    no CPU while the source's relay holds the guest, and takes the guest
    as soon as that one lets go."""
    lab = lab_factory(vf=False)
    g, key = lab.guest("vm1"), "relay-vm1-in-hostB"
    pidfile = os.path.join(lab.rundir, f"{key}.pid")
    cmd = [lab.binary("tap-relay"), "-v", "-w", "-n", lab.ns("hostB"), "-t", g["tap"],
           "-N", g["ns"], "-g", g["virtio"], "-p", pidfile,
           "-s", lab._relay_statsfile("vm1", "hostB")]
    with open(os.path.join(lab.rundir, f"{key}.log"), "a") as log:
        p = lab.spawn(key, cmd, log=log)
    lab.wait_for("the waiting relay to hold its tap",
                 lambda: "LOWER_UP" in lab.link_stats("hostB", g["tap"])["flags"])
    assert not os.path.exists(pidfile)

    def cpu():
        with open(f"/proc/{p.pid}/schedstat") as f:
            return int(f.read().split()[0])
    c0, t0 = cpu(), time.monotonic()
    time.sleep(1)
    used = (cpu() - c0) / 1e9 / (time.monotonic() - t0)
    print(f"-w waiting: {100 * used:.2f}% of a CPU")
    assert used < 0.05
    assert p.poll() is None and not os.path.exists(pidfile)

    lab.relay_stop("vm1")
    lab.wait_for("the waiting relay to take the guest", lambda: os.path.exists(pidfile),
                 timeout=5)
    lab.exec("vm1", ["ping", "-c", "1", "-W", "5", "192.0.2.100"])
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(10) == 0
    with open(lab._relay_statsfile("vm1", "hostB")) as f:
        s = json.load(f)
    assert s["to_host"]["frames"] > 0 and s["to_guest"]["frames"] > 0
    lab.stop_proc(key)


# -- without a lab: two taps in two namespaces, semi-meter streams both ways ----

@pytest.fixture
def tap_pair(build):
    """Namespaces h and g with a tap each (htap, gtap), addresses and a static
    neighbour so that semi-meter in either sends through its tap into the
    relay; the other side drops what arrives (not its MAC)."""
    nss = []
    procs = []
    try:
        for role, me in (("rh", 1), ("rg", 2)):
            ns = netns.NetNS(role)
            nss.append(ns)
            dev = role[1] + "tap"
            ns.ip(f"tuntap add dev {dev} mode tap")
            ns.ip(f"link set {dev} up")
            ns.ip(f"addr add 198.18.{me}.1/24 dev {dev}")
            ns.ip(f"neigh add 198.18.{me}.2 lladdr 02:00:00:00:00:0{me} dev {dev} nud permanent")
        yield nss[0], nss[1], procs
    finally:
        for p in procs:
            if p.poll() is None:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, sig)
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        for ns in nss:
            ns.close()


def pair_relay(build, h, g, procs, *extra):
    p = subprocess.Popen([os.path.join(build, "bin", "tap-relay"), "-n", h.name, "-t", "htap",
                          "-N", g.name, "-g", "gtap", "-j", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    deadline = time.monotonic() + 10
    while "LOWER_UP" not in h.ip("link show htap") or "LOWER_UP" not in g.ip("link show gtap"):
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
        time.sleep(0.005)
    return p


def floods(build, h, g, procs, rate="200k"):
    meter = os.path.join(build, "bin", "semi-meter")
    for ns, me in ((h, 1), (g, 2)):
        procs.append(subprocess.Popen([meter, "send", "-n", ns.name, f"198.18.{me}.2", "-r", rate,
                                       "-d", "60", "-j"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))


def relay_frames(h, g):
    """Frames the relay moved: what each tap sent it (tx) reached the other
    tap (rx), as the kernel counts them."""
    def st(ns, dev):
        return json.loads(ns.ip(f"-j -s link show {dev}"))[0]["stats64"]
    return st(h, "htap")["tx"]["packets"], st(g, "gtap")["rx"]["packets"]


@pytest.mark.parametrize("extra", [(), ("-T", "1")], ids=["two-threads", "one-thread"])
def test_relay_stops_under_load(build, tap_pair, extra):
    """SIGTERM while both directions are busy: the threads stop, the relay
    exits 0 at once and prints what it moved."""
    h, g, procs = tap_pair
    p = pair_relay(build, h, g, procs, *extra)
    floods(build, h, g, procs)
    deadline = time.monotonic() + 20
    while relay_frames(h, g)[1] < 20000:
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    print(f"exit {1000 * (time.monotonic() - t):.0f} ms after SIGTERM")
    assert p.returncode == 0, err
    assert time.monotonic() - t < 2
    s = json.loads(out)
    assert s["to_guest"]["frames"] >= 20000 and s["to_host"]["frames"] > 0
    assert "LOWER_UP" not in h.ip("link show htap")


@pytest.mark.parametrize("side", ["htap", "gtap"], ids=["host-tap", "guest-tap"])
def test_relay_device_gone_under_load(build, tap_pair, side, tmp_path):
    """A tap deleted while both directions are busy: the relay names it,
    stops both threads, writes its counters and exits 1."""
    h, g, procs = tap_pair
    stats = str(tmp_path / "stats.json")
    p = pair_relay(build, h, g, procs, "-s", stats)
    floods(build, h, g, procs)
    deadline = time.monotonic() + 20
    while relay_frames(h, g)[1] < 10000:
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    ns = h if side == "htap" else g
    ns.ip(f"link del {side}")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1
    assert f"{side} in {ns.name} went away" in err
    with open(stats) as f:
        s = json.load(f)
    assert s["to_guest"]["frames"] >= 10000
