# SPDX-License-Identifier: GPL-2.0
"""Group commit: port.add requests that arrive together are written to the
state file once, and each is still answered only after that write, in
order, with its own result; when the write fails, every port of the batch
is taken out again and each request gets the state_file error."""
import json
import os

from netdlib import Lines


def mac(i):
    return f"52:54:00:0b:{i >> 8:02x}:{i & 0xff:02x}"


def pipelined(d, reqs):
    """Every request in one write, then every reply (ids in order)."""
    with d.connect(timeout=30) as s:
        s.sendall("".join(json.dumps(r) + "\n" for r in reqs).encode())
        lines = Lines(s)
        return [lines.next_reply() for _ in reqs]


def add(i, name=None):
    return {"id": i, "cmd": "port.add",
            "args": {"name": name or f"b{i}", "mac": mac(i), "tap": f"bt{i}"}}


def test_pipelined_adds_saved_together_answered_in_order(host, netd):
    d = netd(host)
    gen = d.read_state()["generation"]
    reqs = [add(i) for i in range(20)]
    reqs.insert(10, add(100, name="b3"))          # a name taken earlier in the batch
    reqs.append({"id": 200, "cmd": "status"})     # ends the batch: answered last
    reps = pipelined(d, reqs)
    assert [r["id"] for r in reps] == [r["id"] for r in reqs]
    for q, r in zip(reqs, reps):
        if q["id"] == 100:
            assert not r["ok"] and r["error"]["code"] == "exists", r
        else:
            assert r["ok"], r
    assert reps[-1]["result"]["ports_total"] == 20
    st = d.read_state()
    assert sorted(p["name"] for p in st["ports"]) == sorted(f"b{i}" for i in range(20))
    # One write for the batch (one read of the socket holds all 22 lines).
    assert gen < st["generation"] < gen + 20, (gen, st["generation"])


def test_batch_undone_when_the_state_file_cannot_be_written(host, netd):
    d = netd(host)
    d.ctl("port", "add", "keep", "--mac", mac(99), "--tap", "bt99", check=0)
    # The temporary file cannot be created: every save fails.
    os.mkdir(d.state + ".tmp")
    try:
        reps = pipelined(d, [add(i) for i in range(5)])
    finally:
        os.rmdir(d.state + ".tmp")
    assert [r["error"]["code"] for r in reps] == ["state_file"] * 5, reps
    names = [p["name"] for p in d.j("port", "show")["ports"]]
    assert names == ["keep"]
    # Nothing of the batch in the datapath either: the same names go in again.
    reps = pipelined(d, [add(i) for i in range(5)])
    assert all(r["ok"] for r in reps), reps
    assert len(d.read_state()["ports"]) == 6


def test_netctl_reads_a_status_longer_than_a_request_line(host, netd):
    """A reply is not bound by the request limit (64 KiB): status of 400
    ports is ~90 KiB of JSON on one line."""
    d = netd(host)
    reps = pipelined(d, [add(i) for i in range(400)])
    assert all(r["ok"] for r in reps)
    st = d.j("status")
    assert st["ports_total"] == 400 and len(st["ports"]) == 400
    table = d.ctl("status", check=0).stdout
    assert "b399" in table
