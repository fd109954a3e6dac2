# SPDX-License-Identifier: GPL-2.0
"""semi-dpbench (the measuring half of `make bench`) and bench.py itself:
each verb does what it says and counts exactly; the harness leaves nothing
behind.  No figure is asserted: the benchmarks measure, tests check."""
import json
import os
import subprocess
import sys

import pytest

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def mac(i):
    return f"52:54:00:00:00:{i:02x}"


@pytest.fixture
def dpbench(build):
    path = os.path.join(build, "bin", "semi-dpbench")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built: run 'make tests' first")
    return path


class Host:
    """wire (up0p) -- host (up0, semi-net instance; vN/tN) -- guest (vNg/tNg)."""

    def __init__(self, nss, build, nports):
        self.build = build
        self.wire, self.host, self.guest = nss.new("w"), nss.new("h"), nss.new("g")
        netns.veth(self.host, "up0", self.wire, "up0p")
        for i in range(nports):
            netns.veth(self.host, f"v{i}", self.guest, f"v{i}g")
            netns.veth(self.host, f"t{i}", self.guest, f"t{i}g")
        self.instance = netns.unique(f"db{id(self) % 10000}")
        self.dpctl("load")
        self.dpctl("attach-uplink", "up0", "native")

    def dpctl(self, *args):
        return netns.run([os.path.join(self.build, "bin", "semi-dpctl"), "-i",
                          self.instance] + [str(a) for a in args], ns=self.host.name)

    def close(self):
        netns.run([os.path.join(self.build, "bin", "semi-dpctl"), "-i", self.instance,
                   "purge"], check=False)


@pytest.fixture
def lab(nss, build):
    made = []

    def make(nports=1):
        h = Host(nss, build, nports)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def start(cmd, ns):
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns.name}", "--"] + cmd,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise RuntimeError(f"{cmd}: {line!r} {p.stderr.read()}")
    return p


def end(p, eof=False):
    if eof:
        p.stdin.close()
        p.stdin = None
    else:
        p.send_signal(2)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


@pytest.fixture
def procs():
    made = []
    yield made
    for p in made:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_redirect_baseline(nss, counters, pktgen, dpbench, procs):
    w, h, g = nss.new("w"), nss.new("h"), nss.new("g")
    netns.veth(h, "up0", w, "up0p")
    netns.veth(h, "v0", g, "v0g")
    c = counters([f"{g.name}:v0g"])
    r = start([dpbench, "redirect", "--dev", "up0", "--to", "v0"], h)
    procs.append(r)
    s = pktgen(w, "--dev", "up0p", "--count", 100000)
    assert end(r) is None
    res = c.stop()
    assert res["total"] == res["unique"] == s["sent"] == 100000


def test_cost_runs_every_program(lab, dpbench, counters):
    h = lab(2)
    hold = counters([f"{h.guest.name}:*g"])
    h.dpctl("port-put", "p0", mac(0), "vf", "v0", "tap", "t0", "path", "vf")
    h.dpctl("port-put", "p1", mac(1), "vf", "v1", "tap", "t1", "path", "tap")
    hold.stop()
    # The verbs check each program's verdict: a redirect where one is due.
    out = json.loads(netns.run([dpbench, "cost", "-i", h.instance, "--port", "p0",
                                "--tap-port", "p1", "--repeat", "1000", "--runs", "3",
                                "-j"], ns=h.host.name))
    assert set(out["ns"]) == {"xdp_pass", "bare_redirect", "uplink_xdp_vf",
                              "uplink_xdp_tap", "uplink_tc_vf", "uplink_tc_tap", "port_tc"}
    assert out["repeat"] == 1000 and out["runs"] == 3


def test_switch_exact_under_traffic(lab, counters, dpbench, tools, procs):
    h = lab(1)
    g = h.guest.name
    # Receivers up while the port is put: the port takes the XDP path.
    hold = counters([f"{g}:v0g", f"{g}:t0g"])
    h.dpctl("port-put", "p0", mac(0), "vf", "v0", "tap", "t0", "path", "vf")
    hold.stop()
    sw = start([dpbench, "switch", "-i", h.instance, "--port", "p0", "--rx-a", f"{g}:v0g",
                "--rx-b", f"{g}:t0g", "--switches", "50", "--interval-us", "2000", "-j"],
               h.host)
    procs.append(sw)
    gen = subprocess.Popen(["nsenter", f"--net=/run/netns/{h.wire.name}", "--", tools.pktgen,
                            "-j", "-q", "--dev", "up0p", "--dst-mac", mac(0), "--rate",
                            "200000", "--duration", "60"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    procs.append(gen)
    assert sw.stdout.readline().strip() == "switched"
    gen.send_signal(2)
    sent = json.loads(gen.communicate(timeout=60)[0])
    res = end(sw, eof=True)
    assert res["switches"] == 50 and res["timeouts"] == 0
    assert res["latency_ns"]["n"] == 50
    assert res["latency_ns"]["p50"] >= res["after_return_ns"]["p50"]
    assert res["unique"] == res["total"] == sent["sent"]
    assert res["duplicates"] == 0
    assert res["per_device"]["v0g"] > 0 and res["per_device"]["t0g"] > 0


def test_bulk_creates_ports_and_switches_exactly(lab, dpbench, tools, procs):
    n = 16
    h = lab(n)
    g = h.guest.name
    sw = start([dpbench, "bulk", "-i", h.instance, "--prefix", "p", "--ports", str(n),
                "--mac", mac(0), "--vf-fmt", "v%u", "--tap-fmt", "t%u",
                "--rx-a", f"{g}:v%ug", "--rx-b", f"{g}:t%ug", "--switches", "20",
                "--interval-us", "2000", "-j"], h.host)
    procs.append(sw)
    ports = json.loads(h.dpctl("-j", "port-show"))
    assert len(ports) == n and all(p["vf_xdp"] and p["tap_xdp"] for p in ports)
    gen = subprocess.Popen(["nsenter", f"--net=/run/netns/{h.wire.name}", "--", tools.pktgen,
                            "-j", "-q", "--dev", "up0p", "--dst-mac", mac(0), "--dst-count",
                            str(n), "--rate", "200000", "--duration", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(gen)
    assert sw.stdout.readline().strip() == "switched"
    gen.send_signal(2)
    sent = json.loads(gen.communicate(timeout=60)[0])
    res = end(sw, eof=True)
    assert res["ports"] == n and res["created"]["ports"] == n
    assert res["timeouts"] == 0
    assert res["unique"] == res["total"] == sent["sent"] and res["duplicates"] == 0


def test_tapsink_reads_a_real_tap(nss, dpbench, pktgen, procs):
    w, h = nss.new("w"), nss.new("h")
    netns.veth(h, "up0", w, "up0p")
    h.run(["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"])
    h.ip("link set tap0 up")
    sink = start([dpbench, "tapsink", "--dev", "tap0", "-j"], h)
    procs.append(sink)
    r = start([dpbench, "redirect", "--dev", "up0", "--to", "tap0"], h)
    procs.append(r)
    s = pktgen(w, "--dev", "up0p", "--count", 2000, "--rate", 10000)
    end(r)
    res = end(sink)
    assert res["frames"] == res["unique"] == s["sent"] == 2000
    assert res["duplicates"] == 0


@pytest.mark.parametrize("args", [[], ["nosuch"], ["switch"], ["bulk", "-i", "x"],
                                  ["cost", "-i", "x"], ["redirect", "--dev", "x"],
                                  ["tapsink"], ["switch", "--bogus"], ["ctlswitch"],
                                  ["ctlswitch", "--socket", "/x", "--port", "a b"]])
def test_usage_errors(dpbench, args):
    p = subprocess.run([dpbench] + args, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr


def own_processes(token):
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token in argv and "pytest" not in argv:
            out.append(argv)
    return out


def test_harness_cleans_up(build, tmp_path):
    """bench.py (quick sections: cost, the switch through semi-netd, the
    control plane at 32 ports) leaves no namespace, pin or process behind."""
    token = netns.RUN_TOKEN + "h"
    out = tmp_path / "r.json"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py"),
                        "--build", build, "--only", "cost", "--only", "ctl_switch",
                        "--only", "scale", "--runs", "1", "--repeat", "1000",
                        "--switches", "20", "--scale-ports", "32", "--status-runs", "1",
                        "--scale-switches", "2", "--idle-seconds", "0.1",
                        "--json", str(out), "-q"],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, SEMI_TEST_TOKEN=token))
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert "uplink_xdp_vf" in res["sections"]["cost"]["ns"]
    for via, r in res["sections"]["ctl_switch"]["via"].items():
        assert r["switches"] == 20 and r["timeouts"] == 0, (via, r)
        assert r["unique"] == r["total"] == r["sent"] and r["duplicates"] == 0, (via, r)
    sc = res["sections"]["scale"]
    assert sc["ports"] == 32 and sc["add"]["state_file_writes"] >= 1
    assert sum(sc["states"].values()) == 32
    assert "Per-packet cost" in p.stdout and "semi-netd at 32 ports" in p.stdout
    assert token not in netns.run(["ip", "netns", "list"])
    assert not own_processes(token)
    pins = "/sys/fs/bpf/semi-net"
    assert not [d for d in (os.listdir(pins) if os.path.isdir(pins) else []) if token in d]
