# SPDX-License-Identifier: GPL-2.0
"""The control socket of a live semi-netd: bad input gets an error reply
and the connection (and the daemon) survive; every request is answered
exactly once; peer credentials; one daemon per socket; watch."""
import json
import os
import socket
import stat
import threading
import time

import pytest

from netdlib import Lines

MAC1 = "52:54:00:00:00:01"


def send_lines(s, *lines):
    s.sendall(b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines))


def test_bad_input_keeps_the_connection(host, netd):
    d = netd(host)
    with d.connect() as s:
        r = Lines(s)
        cases = [
            (b"this is not json", "bad_json"),
            (b"{\"cmd\":", "bad_json"),
            (b"[1,2,3]", "bad_request"),
            (b"{\"cmd\":\"teleport\"}", "unknown_cmd"),
            (b"{\"cmd\":\"status\",\"colour\":1}", "unknown_field"),
            (b"{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\",\"mac\":\"" + MAC1.encode()
             + b"\",\"size\":3}}", "unknown_field"),
            (b"{\"cmd\":\"port.add\",\"args\":{\"name\":\"vm1\"}}", "bad_arg"),
            (b"{\"cmd\":\"switch\",\"args\":{\"name\":\"nope\",\"to\":\"vf\"}}", "not_found"),
            (b"\xff\xfe\x00garbage", "bad_json"),
        ]
        for line, code in cases:
            send_lines(s, line)
            rep = r.next()
            assert rep["ok"] is False, (line, rep)
            assert rep["error"]["code"] == code, (line, rep)
            assert rep["error"]["message"], rep
        # Still usable after all that.
        send_lines(s, '{"id":7,"cmd":"status"}')
        rep = r.next()
        assert rep["ok"] and rep["id"] == 7
    assert d.running()


def test_oversize_line(host, netd):
    d = netd(host)
    with d.connect() as s:
        r = Lines(s)
        # 64 KiB + 1 of content: refused, once; the next line works.
        big = b'{"cmd":"status","args":{"x":"' + b"a" * 65536 + b'"}}'
        send_lines(s, big, '{"id":"after","cmd":"status"}')
        first = r.next()
        assert first["ok"] is False and first["error"]["code"] == "too_long"
        second = r.next()
        assert second["ok"] and second["id"] == "after"
        # 10 MiB without a newline, then a request: one error, one answer.
        chunk = b"x" * (1 << 20)
        for _ in range(10):
            s.sendall(chunk)
        send_lines(s, b"", '{"id":2,"cmd":"status"}')
        rep = r.next()
        assert rep["error"]["code"] == "too_long"
        rep = r.next()
        assert rep["ok"] and rep["id"] == 2
        # Just under the limit is a request like any other (and its error is
        # about its content, not its size).
        pad = 65535 - len(b'{"id":3,"cmd":"status","args":{"x":""}}')
        line = b'{"id":3,"cmd":"status","args":{"x":"' + b"b" * pad + b'"}}'
        assert len(line) + 1 == 65536
        send_lines(s, line)
        rep = r.next()
        assert rep["id"] == 3 and rep["error"]["code"] == "unknown_field"
    assert d.running()


def test_every_request_answered_once_in_order(host, netd):
    d = netd(host)
    n = 2000
    with d.connect(timeout=30) as s:
        r = Lines(s)
        lines = []
        for i in range(n):
            lines.append(json.dumps({"id": i, "cmd": "status"}) if i % 3 else
                         f'{{"id":{i},"cmd":"bogus"}}')
        # All at once, in one write: replies come back one per request.
        s.sendall(("\n".join(lines) + "\n").encode())
        ids = [r.next()["id"] for _ in range(n)]
        assert ids == list(range(n))
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            r.next()      # nothing more


def test_half_closed_client_still_answered(host, netd):
    d = netd(host)
    with d.connect() as s:
        send_lines(s, '{"id":1,"cmd":"status"}', '{"id":2,"cmd":"stats"}')
        s.shutdown(socket.SHUT_WR)
        r = Lines(s)
        assert [r.next()["id"], r.next()["id"]] == [1, 2]
        with pytest.raises(EOFError):
            r.next()


def test_hundred_concurrent_clients(host, netd):
    d = netd(host)
    nclients, per = 100, 20
    socks = [d.connect(timeout=30) for _ in range(nclients)]
    errors = []

    def client(k, s):
        try:
            r = Lines(s)
            for i in range(per):
                cmd = ("status", "stats", "port.show", "nonsense")[i % 4]
                send_lines(s, json.dumps({"id": f"{k}-{i}", "cmd": cmd}))
                rep = r.next()
                if rep.get("id") != f"{k}-{i}":
                    errors.append((k, i, rep))
        except Exception as e:  # reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k, s)) for k, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    status = d.req({"cmd": "status"})
    for s in socks:
        s.close()
    assert not errors, errors[:5]
    assert status["result"]["clients"] >= nclients


def test_silent_client_does_not_block_others(host, netd):
    d = netd(host)
    hog = d.connect()
    # Requests whose replies it never reads: the daemon stops reading it.
    req = (json.dumps({"cmd": "port.show"}) + "\n").encode() * 2000
    hog.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            sent += hog.send(req)
        except BlockingIOError:
            time.sleep(0.01)
            if sent > 4 << 20:
                break
    t0 = time.monotonic()
    assert d.req({"cmd": "status"})["ok"]
    assert time.monotonic() - t0 < 2
    hog.close()
    assert d.req({"cmd": "status"})["ok"]


def test_socket_mode_and_second_daemon_refused(host, netd):
    d = netd(host)
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    # Same socket, another state file: the live socket refuses it.
    other = netd(host, start=False)
    rc, out = other.run_once("-s", d.socket)
    assert rc == 1 and "another semi-netd is listening on " + d.socket in out, out
    # Same state file, another socket: the lock refuses it.
    rc, out = other.run_once("-s", os.path.join(other.dir, "x.sock"), "--state", d.state)
    assert rc == 1 and "uses state file " + d.state in out, out
    assert not os.path.exists(os.path.join(other.dir, "x.sock"))
    assert d.running() and d.req({"cmd": "status"})["ok"]


def test_stale_socket_is_replaced(host, netd):
    d = netd(host)
    d.kill9()
    assert os.path.exists(d.socket)       # a dead daemon's socket
    d.start()
    assert d.req({"cmd": "status"})["ok"]
    assert "removing the stale socket" in d.read_log()


NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def open_dir(d):
    os.chmod(d.dir, 0o755)


def test_non_root_refused(host, netd):
    d = netd(host)
    open_dir(d)
    # The socket is 0600: the kernel refuses the connection.
    p = d.ctl("status", as_user=NOBODY, check=1)
    assert "permission denied" in p.stderr and d.socket in p.stderr
    # Even when the socket is opened up, semi-netd checks the credentials.
    os.chmod(d.socket, 0o666)
    p = d.ctl("status", as_user=NOBODY, check=1)
    assert "uid 65534" in p.stderr and "not root" in p.stderr, p.stderr
    assert "permission" in p.stderr
    assert "control socket: permission denied: uid 65534" in d.read_log()
    assert d.running()


def test_socket_group(host, netd):
    d = netd(host, socket_group="nogroup")
    open_dir(d)
    st = os.stat(d.socket)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 65534
    # A member of the group (primary or supplementary) may talk to it.
    d.ctl("status", as_user=["--reuid=65534", "--regid=65534", "--clear-groups"], check=0)
    d.ctl("status", as_user=["--reuid=65534", "--regid=1", "--groups=65534"], check=0)
    # Someone else may not: refused by the socket's mode ...
    p = d.ctl("status", as_user=["--reuid=65534", "--regid=1", "--clear-groups"], check=1)
    assert "permission denied" in p.stderr
    # ... and by the credential check when the mode is opened up.
    os.chmod(d.socket, 0o666)
    p = d.ctl("status", as_user=["--reuid=65534", "--regid=1", "--clear-groups"], check=1)
    assert "neither root nor in group nogroup" in p.stderr, p.stderr


def connected(d, timeout=5):
    """A connection the daemon has accepted and answered (earlier, closed
    connections may take a moment to be reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        s = d.connect()
        try:
            send_lines(s, '{"cmd":"status"}')
            if Lines(s).next()["ok"]:
                return s
        except (OSError, EOFError):
            pass
        s.close()
        assert time.monotonic() < deadline, "no connection accepted"
        time.sleep(0.02)


def test_too_many_clients(host, netd):
    d = netd(host, max_clients=3)
    keep = [connected(d) for _ in range(3)]
    with d.connect() as s:
        rep = Lines(s).next()
        assert rep["ok"] is False and rep["error"]["code"] == "busy"
        assert "too many clients (3)" in rep["error"]["message"]
    for s in keep:
        s.close()
    connected(d).close()      # room again once they are gone


def test_watch_streams_events(host, netd):
    d = netd(host, stats_interval_ms=50)
    with d.connect() as w:
        r = Lines(w)
        send_lines(w, '{"id":1,"cmd":"watch","args":{"port":"vm1"}}')
        rep = r.next()
        assert rep["ok"] and rep["result"]["watching"] and rep["result"]["port"] == "vm1"
        d.ctl("port", "add", "vm2", "--mac", "52:54:00:00:00:02", "--tap", "tap2", check=0)
        d.ctl("port", "add", "vm1", "--mac", MAC1, "--vf", "vf1", "--tap", "tap1", check=0)
        d.ctl("switch", "vm1", "tap", check=0)
        # Counter deltas: a frame from the tap's guest side.
        host.taps["tap1"].write(bytes.fromhex("ffffffffffff525400000001") + b"\x08\x00"
                                + b"\x00" * 50)
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ev = r.next()
            got.append(ev)
            if ev["event"] == "stats":
                break
        kinds = [(e["event"], e.get("action") or e.get("to")) for e in got]
        assert ("port", "added") in kinds
        assert ("state", "handover") in kinds and ("state", "emulated") in kinds
        assert all(e.get("port") == "vm1" for e in got), got    # filter: vm2 not shown
        stats = got[-1]
        assert stats["event"] == "stats" and stats["tx"]["tap"]["packets"] == 1
        # Requests on a watching connection are still answered, in between.
        send_lines(w, '{"id":2,"cmd":"unwatch"}')
        rep = r.next_reply()
        assert rep["id"] == 2 and rep["result"]["watching"] is False


def test_watch_via_cli(host, netd):
    d = netd(host)
    import subprocess
    p = subprocess.Popen([d.bin("semi-netctl"), "-s", d.socket, "-j", "watch", "--no-stats",
                          "--count", "2", "--timeout", "10000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # The watch is registered once the daemon counts it.
    deadline = time.monotonic() + 5
    while d.req({"cmd": "status"})["result"]["watchers"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    d.ctl("port", "add", "vm1", "--mac", MAC1, "--tap", "tap1", check=0)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["watching"] is True
    assert [x["event"] for x in lines[1:]] == ["port", "state"]
    assert lines[2]["to"] == "emulated" and lines[2]["from"] is None
