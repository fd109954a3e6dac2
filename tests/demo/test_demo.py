# SPDX-License-Identifier: GPL-2.0
"""`make demo`'s code path, in its quick variant (same steps, shorter
phases), so that it cannot rot: the demo's entry point runs, and its
records must add up -- every frame sent is received or lost, both runs
complete, the fabric learns the VM on its new host -- whatever the
timings.  Also: Ctrl-C in the middle leaves nothing behind."""
import json
import os
import signal
import subprocess
import time

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "demo")


def own_namespaces(name):
    return [ns for ns in netns.run(["ip", "netns", "list"]).split()
            if ns.startswith(f"{name}-")]


def own_processes(name):
    """Processes whose command line names one of the demo's labs."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace")
        except OSError:
            continue
        if f"{name}-" in argv and "pytest" not in argv:
            out.append(f"{pid}: {argv.replace(chr(0), ' ')}")
    return out


def run_demo(build, tmp_path, name, *args, timeout=180):
    out = tmp_path / "demo.json"
    env = dict(os.environ, SEMI_BUILD=build)
    p = subprocess.run([DEMO, "--quick", "--rate", "50k", "--name", name, "--json", str(out),
                        *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    leftovers = own_namespaces(name) + own_processes(name)
    assert not leftovers, f"the demo left behind: {leftovers}"
    return p, (json.loads(out.read_text()) if p.returncode == 0 else None)


def check_traffic(a):
    """The report's numbers are consistent, in each direction."""
    for d in ("to_vm", "from_vm"):
        t = a["traffic"][d]
        assert t["sent"] > 0, (a["kind"], d, t)
        assert t["sent_known"], (a["kind"], d, "the end marker never arrived")
        assert t["sent"] == t["sender_sent"], (a["kind"], d, t)
        assert t["received"] + t["lost"] == t["sent"], (a["kind"], d, t)
        assert 0 < t["received"] <= t["sent"], (a["kind"], d, t)
        # Every lost frame the meter listed is placed on the timeline.
        placed = sum(r[f"{d}_lost"] for r in a["timeline"])
        assert placed <= t["lost"], (a["kind"], d, placed, t["lost"])
    # Frames reached the guest on both of its paths at some point.
    paths = set().union(*(r["guest"].keys() for r in a["timeline"]))
    assert {"vf", "virtio"} <= paths, (a["kind"], paths)


def check_fabric_moved(a):
    moved = a["fdb"]["moved"]
    assert moved["fabric"]["before"] == ["p-hostA"], moved
    assert moved["fabric"]["after"] == ["p-hostB"], moved
    assert moved["fabric"]["t_ms"] is not None and moved["fabric"]["t_ms"] > 0, moved


def check_report_text(stdout, titles):
    for t in titles:
        assert f"== {t} ==" in stdout
    for section in ("steps", "bridges:", "traffic", "timeline, 10 ms buckets"):
        assert section in stdout


def test_qemu_style_run(build, tmp_path):
    name = netns.unique("dq")
    p, data = run_demo(build, tmp_path, name, "--only", "qemu")
    assert p.returncode == 0, p.stderr
    (a,) = data["analyses"]
    assert a["kind"] == "qemu"
    check_traffic(a)
    check_fabric_moved(a)
    check_report_text(p.stdout, [a["title"]])
    # The VM runs on hostB with its new VF behind hostB's bridge.
    assert a["fdb"]["moved"]["hostB"]["after"] == ["vf-vm1"], a["fdb"]["moved"]
    steps = [s["what"] for s in a["steps"]]
    for what in ("VF unplugged", "VM stopped", "VM resumed on hostB (RARP)", "VF plugged",
                 "net_failover takes the new VF"):
        assert any(s.startswith(what) for s in steps), (what, steps)


def test_demo_both_runs(build, tmp_path):
    name = netns.unique("dm")
    p, data = run_demo(build, tmp_path, name)
    assert p.returncode == 0, p.stderr
    kinds = [a["kind"] for a in data["analyses"]]
    assert kinds == ["semi-net", "qemu"], kinds
    for a in data["analyses"]:
        check_traffic(a)
        check_fabric_moved(a)
    check_report_text(p.stdout, [a["title"] for a in data["analyses"]])
    assert "== the same migration, both ways" in p.stdout
    sn = data["analyses"][0]
    # Every step of DESIGN section 5 was taken and answered ok.
    words = " ".join(s["what"] for s in sn["steps"])
    for verb in ("migrate in", "migrate out vm1 --begin", "migrate out vm1 --to hostB",
                 "migrate done", "port set vm1 --vf"):
        assert verb in words, (verb, words)
    # What QEMU left in the source tap went to hostB at --to (daemon/drain.c).
    assert any(s["who"] == "hostA" and s["what"].startswith("drained ") for s in sn["steps"]), \
        words
    # The VM ends assigned on hostB, the source retired its port, and the
    # host bridges followed the VM.
    assert sn["extra"]["final"] == {"hostA": None, "hostB": "assigned"}, sn["extra"]
    states = [(s["host"], s["to"]) for s in sn["states"]]
    for st in (("hostB", "incoming"), ("hostA", "handover"), ("hostA", "emulated"),
               ("hostA", "outgoing"), ("hostB", "emulated"), ("hostB", "handover"),
               ("hostB", "assigned")):
        assert st in states, (st, states)
    # The hold path is on: hostA holds from --begin, hostB from migrate in.
    paths = {(st["host"], st["to"]): st["path"] for st in sn["states"]}
    assert paths[("hostA", "handover")] == "hold" and paths[("hostB", "incoming")] == "hold", \
        sn["states"]
    moved = sn["fdb"]["moved"]
    assert "tap-vm1" not in moved["hostA"]["after"], moved
    assert moved["hostB"]["after"] == ["tap-vm1"], moved
    # The source forwarded frames to the destination during the pause.
    fwd = sum(r["to_vm"]["hostA"].get("tunnel", 0) for r in sn["timeline"])
    assert fwd > 0, "no frame went through the tunnel"


def test_interrupted_demo_leaves_nothing(build):
    """Ctrl-C while the lab is up: the demo takes everything down."""
    name = netns.unique("di")
    env = dict(os.environ, SEMI_BUILD=build)
    p = subprocess.Popen([DEMO, "--quick", "--rate", "50k", "--only", "qemu", "--name", name],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(ns.endswith("-client") for ns in own_namespaces(name)):
            assert p.poll() is None, p.stderr.read()
            assert time.monotonic() < deadline, "the lab never came up"
            time.sleep(0.01)
        time.sleep(0.5)       # streams running
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert not own_namespaces(name) and not own_processes(name)
