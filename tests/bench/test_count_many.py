# SPDX-License-Identifier: GPL-2.0
"""semi-count on hundreds of devices: one program attached to each, devices
given by glob and by --dev-file, per-device counters that tell apart
devices with the same name (and ifindex) in two namespaces."""
import json
import subprocess
import time

import netns

PER_NS = 150            # devices per receiving namespace
PER_DEV = 20            # frames each device gets


def ip_batch(ns, lines):
    netns.run(["ip", "-n", ns.name, "-b", "-"], input="\n".join(lines) + "\n")


def mac(i):
    return f"02:00:00:01:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}"


def test_hundreds_of_devices_two_namespaces(nss, counters, pktgen, has_xdp,
                                            tmp_path):
    """gen -> bridge (one port per MAC) -> 2 x 150 veths, named q0..q149 in
    both receiving namespaces; each device gets its own MAC's frames."""
    gen, sw = nss.new("gen"), nss.new("sw")
    rx = [nss.new("ra"), nss.new("rb")]
    n_dev = 2 * PER_NS
    netns.veth(gen, "g0", sw, "r0")
    lines = ["link add br0 type bridge", "link set r0 master br0"]
    for i in range(n_dev):
        lines.append(f"link add p{i} type veth peer name q{i % PER_NS} "
                     f"netns {rx[i // PER_NS].name}")
        lines.append(f"link set p{i} master br0")
        lines.append(f"link set p{i} up")
    lines.append("link set br0 up")
    ip_batch(sw, lines)
    for r in rx:
        ip_batch(r, [f"link set q{i} up" for i in range(PER_NS)])
    sw.run(["ethtool", "-K", "r0", "gro", "on"])
    netns.run(["bridge", "-n", sw.name, "-b", "-"], input="".join(
        f"fdb add {mac(i)} dev p{i} master static\n" for i in range(n_dev)))

    # Carrier changes reach the bridge through linkwatch, in batches: a port
    # forwards only once its peer's "up" got there.
    end = time.monotonic() + 30
    while time.monotonic() < end:
        states = json.loads(netns.run(["bridge", "-n", sw.name, "-j", "link", "show"]))
        if sum(1 for x in states if x.get("state") == "forwarding") == n_dev + 1:
            break
        time.sleep(0.1)

    # First namespace by glob, second by file (with a comment and a blank).
    dev_file = tmp_path / "devs"
    dev_file.write_text("# the second namespace\n\n" + "".join(
        f"  {rx[1].name}:q{i}\n" for i in range(PER_NS)))
    c = counters([f"{rx[0].name}:q*"], ["--dev-file", str(dev_file)])
    assert has_xdp(rx[0], "q0") and has_xdp(rx[1], f"q{PER_NS - 1}")
    n = n_dev * PER_DEV
    s = pktgen(gen, "--dev", "g0", "--count", n, "--rate", 30000,
               "--dst-mac", mac(0), "--dst-count", n_dev)
    res = c.stop()
    assert s["sent"] == n
    assert res["total"] == res["unique"] == n, res["total"]
    assert res["duplicates"] == 0
    devs = res["devices"]
    assert len(devs) == n_dev
    assert res["attach_seconds"] < 30
    # Device i (in its namespace) got the frames for MAC i and nothing else.
    by_key = {(d["netns"], d["ifname"]): d for d in devs}
    assert len(by_key) == n_dev
    for i in range(n_dev):
        d = by_key[(rx[i // PER_NS].name, f"q{i % PER_NS}")]
        assert d["frames"] == PER_DEV, d
        assert d["unique"] == PER_DEV and d["duplicates"] == 0, d
    # Glob expansions are named NS:IFNAME; file lines as written.
    assert devs[0]["dev"].startswith(f"{rx[0].name}:q")
    assert devs[-1]["dev"] == f"{rx[1].name}:q{PER_NS - 1}"
    for r in rx:
        assert not has_xdp(r, "q0")


def test_same_ifindex_two_namespaces_counted_apart(nss, counters, pktgen):
    """r0 in two namespaces usually has the same ifindex: the program must
    still count each on its own."""
    g1, r1, g2, r2 = nss.new("g"), nss.new("r"), nss.new("g"), nss.new("r")
    netns.veth(g1, "g0", r1, "r0")
    netns.veth(g2, "g0", r2, "r0")
    assert r1.ifindex("r0") == r2.ifindex("r0")
    c = counters([f"{r1.name}:r0", f"{r2.name}:r0"])
    pktgen(g1, "--dev", "g0", "--count", 1000)
    pktgen(g2, "--dev", "g0", "--count", 3000, "--seq-start", 1000)
    res = c.stop()
    assert [d["frames"] for d in res["devices"]] == [1000, 3000]
    assert res["unique"] == 4000 and res["duplicates"] == 0


def test_glob_matching_nothing(pair, tools, has_xdp):
    gen, rx = pair
    p = subprocess.run([tools.count, "--dev", f"{rx.name}:r0", "--dev",
                        f"{rx.name}:zz*"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert "no device matches" in p.stderr and "zz*" in p.stderr
    assert "ready" not in p.stdout
    assert not has_xdp(rx, "r0")


def test_device_given_twice(pair, tools, has_xdp):
    gen, rx = pair
    p = subprocess.run([tools.count, "--dev", f"{rx.name}:r*", "--dev",
                        f"{rx.name}:r0"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert "given twice" in p.stderr
    assert not has_xdp(rx, "r0")


def test_dev_file_errors(tools, tmp_path):
    p = subprocess.run([tools.count, "--dev-file", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "nope" in p.stderr
    bad = tmp_path / "bad"
    bad.write_text("ns:ok0\n:r0\n")
    p = subprocess.run([tools.count, "--dev-file", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and ":2:" in p.stderr


def test_dev_file_alone(pair, counters, pktgen, tmp_path):
    gen, rx = pair
    f = tmp_path / "one"
    f.write_text(f"{rx.name}:r0\n")
    c = counters([], ["--dev-file", str(f)])
    pktgen(gen, "--dev", "g0", "--count", 500)
    res = c.stop()
    assert res["total"] == res["unique"] == 500
    assert json.dumps(res["devices"][0]["netns"]) == json.dumps(rx.name)
