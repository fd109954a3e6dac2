# SPDX-License-Identifier: GPL-2.0
"""semi-pktgen -> veth -> semi-count: exact counts at a fixed rate and at
full speed, destination MAC cycling, frame validity, duplicate detection,
and teardown on every way out."""
import json
import signal
import struct
import subprocess
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

import netns

MAGIC = 0x53454D49424E4348


def dev(ns, name="r0"):
    return f"{ns.name}:{name}"


def assert_exact(res, sent):
    """Every frame sent arrived exactly once."""
    assert res["total"] == sent, res
    assert res["unique"] == sent, res
    assert res["duplicates"] == 0, res
    assert res["out_of_range"] == 0, res
    assert res["highest_seq"] == sent - 1, res


def mac_of(ns, name):
    return json.loads(ns.ip(f"-j link show dev {name}"))[0]["address"]


# --- counts -----------------------------------------------------------------

def test_fixed_rate_exact(pair, counters, pktgen):
    gen, rx = pair
    c = counters([dev(rx)], ["--expect", "100000"])
    s = pktgen(gen, "--dev", "g0", "--count", 100000, "--rate", 100000)
    res = c.stop()
    assert s["sent"] == 100000 and s["stopped_by"] == "count"
    assert s["xmit"] == 100000 and s["xmit_err"] == 0
    assert s["seq_first"] == 0 and s["seq_next"] == 100000
    assert_exact(res, 100000)
    assert res["lost"] == 0 and res["expected"] == 100000
    assert res["devices"][0]["frames"] == 100000
    assert res["devices"][0]["bytes"] == 64 * 100000
    # Paced on a schedule: frame k never leaves before first + k / rate.
    assert s["seconds"] >= 0.999 * (100000 - 1) / 100000
    assert s["pps"] <= 100000 * 1.001


def test_one_mpps_for_a_second_exact(pair, counters, pktgen):
    """The rate the datapath's switch-under-load test uses."""
    gen, rx = pair
    c = counters([dev(rx)])
    s = pktgen(gen, "--dev", "g0", "--duration", 1, "--rate", 1000000)
    res = c.stop()
    assert s["stopped_by"] == "duration"
    assert s["sent"] >= 900000
    assert s["xmit_err"] == 0
    assert_exact(res, s["sent"])


@pytest.mark.parametrize("batch", [32, 64])
def test_full_speed_exact(pair, counters, pktgen, batch):
    """Full speed on one core into a veth: back-pressure, no overrun."""
    gen, rx = pair
    n = 5000000
    c = counters([dev(rx)])
    s = pktgen(gen, "--dev", "g0", "--count", n, "--batch", batch, "--cpu", 0)
    res = c.stop()
    print(f"full speed, batch {batch}: {s['pps'] / 1e6:.2f} Mpps")
    assert s["sent"] == n
    assert s["xmit"] == n and s["xmit_err"] == 0
    assert_exact(res, n)


def test_sigint_stops_generator(pair, counters, tools):
    gen, rx = pair
    c = counters([dev(rx)])
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{gen.name}", "--",
                          tools.pktgen, "-j", "--dev", "g0", "--rate", "200000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    s = json.loads(out)
    assert s["stopped_by"] == "signal"
    assert s["sent"] > 0
    assert_exact(c.stop(), s["sent"])


def test_json_fields(pair, counters, pktgen):
    gen, rx = pair
    c = counters([dev(rx)])
    s = pktgen(gen, "--dev", "g0", "--count", 10, "--cpu", 0, "--vlan", 7,
               "--size", 100, "--dst-count", 3)
    res = c.stop()
    assert set(s) == {"dev", "size", "vlan", "dst_count", "sent", "seconds",
                      "pps", "wall_seconds", "seq_first", "seq_next", "rate",
                      "batch", "cpu", "xmit", "xmit_err", "stopped_by"}
    assert (s["dev"], s["size"], s["vlan"], s["dst_count"], s["cpu"]) == \
        ("g0", 100, 7, 3, 0)
    assert set(res) == {"devices", "total", "bytes", "unique", "duplicates",
                        "out_of_range", "other", "highest_seq", "max_seq",
                        "seconds", "attach_seconds", "stopped_by"}
    assert set(res["devices"][0]) == {"dev", "netns", "ifname", "frames",
                                      "bytes", "unique", "duplicates",
                                      "out_of_range", "other"}
    assert res["bytes"] == 1000


def test_seq_start_and_count(pair, counters, pktgen):
    gen, rx = pair
    c = counters([dev(rx)])
    s = pktgen(gen, "--dev", "g0", "--count", 1000, "--seq-start", 5000)
    res = c.stop()
    assert s["seq_first"] == 5000 and s["seq_next"] == 6000
    assert res["total"] == res["unique"] == 1000
    assert res["highest_seq"] == 5999


# --- destination MAC cycling ------------------------------------------------

def test_dst_count_cycles_macs(pair, counters, pktgen, capture):
    """Frame with seq s goes to base + s % N, carrying into the upper
    bytes of the last three only (wrap-around inside them)."""
    gen, rx = pair
    cap = capture(rx, "r0")
    c = counters([dev(rx)], ["--pass"])
    n = 20
    pktgen(gen, "--dev", "g0", "--count", n, "--rate", 2000,
           "--dst-mac", "02:aa:bb:ff:ff:fe", "--dst-count", 5)
    frames = [f for f in cap.frames(n) if is_bench(f)]
    c.stop()
    assert len(frames) == n
    for f in frames:
        seq = bench_seq(f)
        lo = (0xfffffe + seq % 5) & 0xffffff
        assert f[:6] == bytes([0x02, 0xaa, 0xbb]) + lo.to_bytes(3, "big"), seq


def test_dst_count_two_receivers_behind_bridge(nss, counters, pktgen):
    """Even seqs to one MAC, odd to another; a bridge sends each MAC to its
    own port; one semi-count counts on both, in two other namespaces."""
    gen, sw, n1, n2 = nss.new("gen"), nss.new("sw"), nss.new("h1"), nss.new("h2")
    netns.veth(gen, "g0", sw, "r0")
    netns.veth(sw, "p1", n1, "q1")
    netns.veth(sw, "p2", n2, "q2")
    sw.ip("link add br0 type bridge")
    for port in ("r0", "p1", "p2"):
        sw.ip(f"link set {port} master br0")
    sw.ip("link set br0 up")
    # r0 has no XDP program: it takes redirected frames through GRO's NAPI.
    sw.run(["ethtool", "-K", "r0", "gro", "on"])
    sw.run(["bridge", "fdb", "add", "02:00:00:00:00:10", "dev", "p1",
            "master", "static"])
    sw.run(["bridge", "fdb", "add", "02:00:00:00:00:11", "dev", "p2",
            "master", "static"])
    c = counters([dev(n1, "q1"), dev(n2, "q2")])
    n = 2000
    s = pktgen(gen, "--dev", "g0", "--count", n, "--rate", 20000,
               "--dst-mac", "02:00:00:00:00:10", "--dst-count", 2)
    res = c.stop()
    assert s["sent"] == n
    assert_exact(res, n)
    by_dev = {d["dev"]: d for d in res["devices"]}
    assert by_dev[dev(n1, "q1")]["frames"] == n // 2
    assert by_dev[dev(n2, "q2")]["frames"] == n // 2
    assert by_dev[dev(n1, "q1")]["netns"] == n1.name


# --- frame validity ---------------------------------------------------------

def is_bench(frame):
    try:
        p = Ether(frame)
    except Exception:
        return False
    return UDP in p and bytes(p[UDP].payload)[:8] == MAGIC.to_bytes(8, "big")


def bench_seq(frame):
    return struct.unpack("!Q", bytes(Ether(frame)[UDP].payload)[8:16])[0]


@pytest.mark.parametrize("size,vlan", [(64, None), (1500, None),
                                       (64, 100), (1500, 4094)])
def test_frames_are_valid_ipv4_udp(pair, counters, pktgen, capture, size, vlan):
    gen, rx = pair
    cap = capture(rx, "r0")
    c = counters([dev(rx)], ["--pass"])
    n = 8
    args = ["--dev", "g0", "--count", n, "--rate", 1000, "--size", size,
            "--dst-mac", "02:00:00:00:00:42"]
    if vlan:
        args += ["--vlan", vlan]
    s = pktgen(gen, *args)
    frames = [f for f in cap.frames(n) if is_bench(f)]
    res = c.stop()
    assert s["sent"] == n
    assert res["total"] == n and res["devices"][0]["bytes"] == n * size
    assert len(frames) == n
    seqs = []
    for f in frames:
        assert len(f) == size
        p = Ether(f)
        assert p.dst == "02:00:00:00:00:42"
        assert p.src == mac_of(gen, "g0")
        if vlan:
            assert p.type == 0x8100 and Dot1Q in p
            assert p[Dot1Q].vlan == vlan and p[Dot1Q].type == 0x0800
        else:
            assert p.type == 0x0800 and Dot1Q not in p
        ip = p[IP]
        assert ip.version == 4 and ip.ihl == 5 and ip.proto == 17
        assert ip.len == size - (18 if vlan else 14)
        assert ip.flags.DF and ip.frag == 0
        # Rebuild with the checksums left to scapy: they must come out equal.
        fresh = ip.copy()
        del fresh.chksum
        del fresh[UDP].chksum
        fresh = IP(bytes(fresh))
        assert fresh.chksum == ip.chksum, "bad IPv4 header checksum"
        assert ip[UDP].chksum != 0
        assert fresh[UDP].chksum == ip[UDP].chksum, "bad UDP checksum"
        assert ip[UDP].len == ip.len - 20
        seqs.append(bench_seq(f))
    assert sorted(seqs) == list(range(n))


# --- duplicates and ranges --------------------------------------------------

def test_duplicates_on_one_device(pair, counters, pktgen):
    gen, rx = pair
    c = counters([dev(rx)], ["--expect", "2000"])
    pktgen(gen, "--dev", "g0", "--count", 1000)
    pktgen(gen, "--dev", "g0", "--count", 1000, "--seq-start", 500)
    res = c.stop()
    assert res["total"] == 2000
    assert res["unique"] == 1500
    assert res["duplicates"] == 500
    assert res["highest_seq"] == 1499
    assert res["lost"] == 500


def test_duplicates_across_devices_and_namespaces(nss, counters, pktgen):
    """The same seqs on two devices of the same name in two namespaces."""
    g1, r1, g2, r2 = nss.new("g"), nss.new("r"), nss.new("g"), nss.new("r")
    netns.veth(g1, "g0", r1, "r0")
    netns.veth(g2, "g0", r2, "r0")
    c = counters([dev(r1), dev(r2)])
    pktgen(g1, "--dev", "g0", "--count", 3000)
    pktgen(g2, "--dev", "g0", "--count", 3000)
    res = c.stop()
    assert [d["frames"] for d in res["devices"]] == [3000, 3000]
    assert res["total"] == 6000
    assert res["unique"] == 3000
    assert res["duplicates"] == 3000


def test_out_of_range(pair, counters, pktgen):
    gen, rx = pair
    c = counters([dev(rx)], ["--max-seq", "128"])
    pktgen(gen, "--dev", "g0", "--count", 200)
    res = c.stop()
    assert res["total"] == 200
    assert res["unique"] == 128
    assert res["out_of_range"] == 72
    assert res["duplicates"] == 0


def test_other_frames_pass_and_counted_frames_drop(pair, counters, pktgen,
                                                   capture):
    gen, rx = pair
    gen.ip("addr add 10.99.0.1/24 dev g0")
    rx.ip("addr add 10.99.0.2/24 dev r0")
    cap = capture(rx, "r0")
    c = counters([dev(rx)])
    gen.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.2"])
    pktgen(gen, "--dev", "g0", "--count", 100)
    seen = cap.frames(1000, timeout=1)
    res = c.stop()
    assert res["other"] >= 3          # ARP and ICMP echo, passed: ping works
    assert res["total"] == 100
    assert not [f for f in seen if is_bench(f)], "counted frames reached the stack"


# --- teardown and errors ----------------------------------------------------

def wait_detached(ns, name, has_xdp, timeout=5):
    end = time.monotonic() + timeout
    while has_xdp(ns, name) and time.monotonic() < end:
        time.sleep(0.05)
    return not has_xdp(ns, name)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "eof", "duration",
                                 "SIGKILL"])
def test_detaches_on_every_exit(pair, counters, pktgen, has_xdp, how):
    gen, rx = pair
    args = ["--duration", "1"] if how == "duration" else []
    c = counters([dev(rx)], args)
    assert has_xdp(rx, "r0")
    if how == "duration":
        assert c.wait()["stopped_by"] == "duration"
    elif how == "SIGKILL":
        c.kill()
    else:
        res = c.stop(None if how == "eof" else getattr(signal, how))
        assert res["stopped_by"] == how
    assert wait_detached(rx, "r0", has_xdp)


def test_attach_error_undoes_the_others(pair, tools, has_xdp):
    gen, rx = pair
    p = subprocess.run([tools.count, "--dev", dev(rx), "--dev",
                        dev(rx, "nosuch0")], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert "nosuch0" in p.stderr
    assert "ready" not in p.stdout
    assert not has_xdp(rx, "r0")


def test_busy_device_refused_first_keeps_counting(pair, counters, tools,
                                                  pktgen, has_xdp):
    gen, rx = pair
    c = counters([dev(rx)])
    p = subprocess.run([tools.count, "--dev", dev(rx)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "cannot attach XDP" in p.stderr and "r0" in p.stderr
    pktgen(gen, "--dev", "g0", "--count", 1000)
    assert_exact(c.stop(), 1000)
    assert wait_detached(rx, "r0", has_xdp)


def test_missing_namespace(tools):
    p = subprocess.run([tools.count, "--dev", f"sn{netns.RUN_TOKEN}-nons:r0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "nons" in p.stderr


@pytest.mark.parametrize("args", [[], ["--dev", "x", "--size", "63"],
                                  ["--dev", "x", "--size", "1501"],
                                  ["--dev", "x", "--batch", "0"],
                                  ["--dev", "x", "--vlan", "4095"],
                                  ["--dev", "x", "--dst-mac", "nope"],
                                  ["--dev", "x", "--bogus"],
                                  ["--dev", "x", "stray"]])
def test_pktgen_usage_errors(tools, args):
    p = subprocess.run([tools.pktgen] + args, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert "Usage:" in p.stderr


@pytest.mark.parametrize("args", [[], ["--dev", ":r0"], ["--max-seq", "x"],
                                  ["--dev", "r0", "--duration", "0"]])
def test_count_usage_errors(tools, args):
    p = subprocess.run([tools.count] + args, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr


def test_help(tools):
    for b in (tools.pktgen, tools.count):
        p = subprocess.run([b, "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and "Usage:" in p.stdout and "--dev" in p.stdout


def test_pktgen_missing_device(pair, pktgen):
    gen, _ = pair
    p = pktgen(gen, "--dev", "nosuch0", "--count", 1, check=False)
    assert p.returncode == 1
    assert "nosuch0" in p.stderr
