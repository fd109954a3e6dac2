#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""pinger: ICMP echo at a fixed rate, and exactly which ones went unanswered.

    pinger.py DEST [-i 0.01] [-d SECONDS] [-w 1.0] [-o out.json]

Sends echo requests on a fixed schedule (request n at start + n * interval,
so a slow moment does not shift the rest) until -d seconds have passed or
SIGTERM/SIGINT, waits -w seconds for late replies, then writes a JSON report
(stdout, or -o) and exits 0.  "started" on stderr once the first request is
out, then "progress SENT ANSWERED" every 100 ms (ANSWERED: requests with
a reply so far).  Run it inside the namespace that pings (nsenter --net=...).

Report: sent, received, lost (sent = received + lost), duplicates, rtt
(min/avg/max ms), gaps (runs of consecutive unanswered requests: first seq,
count, when, and their length: the time from the first unanswered request
to the next answered one), longest_outage_ms (the longest gap), and
max_silence_ms (the longest time between two replies, which also shows
replies that came late rather than not at all).
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

MAGIC = b"semi-pinger"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq):
    payload = MAGIC + struct.pack("!I", seq) + b"\0" * 16
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
    return struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident,
                       seq & 0xFFFF) + payload


def analyse(sent, replies, interval, start):
    """sent: {seq: send time}; replies: {seq: [recv times]}."""
    n = len(sent)
    received = [s for s in range(n) if s in replies]
    rtts = [(replies[s][0] - sent[s]) * 1000 for s in received]
    gaps, s = [], 0
    while s < n:
        if s in replies:
            s += 1
            continue
        first = s
        while s < n and s not in replies:
            s += 1
        # Up to the next answered request (or the last one sent).
        end = sent[s] if s < n else sent[n - 1] + interval
        gaps.append({"first_seq": first, "count": s - first,
                     "at": round(sent[first] - start, 3),
                     "start": sent[first], "end": end,
                     "ms": round((end - sent[first]) * 1000, 1)})
    arrivals = sorted(t for s in received for t in replies[s][:1])
    silence = max((b - a for a, b in zip(arrivals, arrivals[1:])), default=0.0)
    return {
        "sent": n,
        "received": len(received),
        "lost": n - len(received),
        "duplicates": sum(len(replies[s]) - 1 for s in received),
        "interval_ms": interval * 1000,
        "start": start,
        "end": sent[n - 1] if n else start,
        "rtt_ms": {"min": round(min(rtts), 3), "avg": round(sum(rtts) / len(rtts), 3),
                   "max": round(max(rtts), 3)} if rtts else None,
        "gaps": gaps,
        "longest_outage_ms": max((g["ms"] for g in gaps), default=0.0),
        "max_silence_ms": round(silence * 1000, 1),
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dest")
    p.add_argument("-i", "--interval", type=float, default=0.01)
    p.add_argument("-d", "--duration", type=float, default=None)
    p.add_argument("-w", "--wait", type=float, default=1.0,
                   help="seconds to wait for late replies at the end")
    p.add_argument("-o", "--out")
    a = p.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    ident = random.randrange(1, 0xFFFF)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sent, replies = {}, {}
    start = time.time()
    mono0 = time.monotonic()

    def sender():
        seq = 0
        while not stop.is_set():
            if a.duration is not None and seq * a.interval >= a.duration:
                break
            delay = mono0 + seq * a.interval - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            t = time.time()
            try:
                sock.sendto(echo_request(ident, seq), (a.dest, 0))
            except OSError:
                pass        # no route for a moment: counted as lost
            sent[seq] = t
            if seq == 0:
                print("started", file=sys.stderr, flush=True)
            seq += 1
        stop.set()

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    deadline = None
    next_progress = time.monotonic() + 0.1
    while True:
        if time.monotonic() >= next_progress:
            print(f"progress {len(sent)} {len(replies)}", file=sys.stderr, flush=True)
            next_progress += 0.1
        if stop.is_set() and deadline is None:
            deadline = time.monotonic() + a.wait
        if deadline is not None and time.monotonic() >= deadline:
            break
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        data, _ = sock.recvfrom(2048)
        t = time.time()
        ihl = (data[0] & 0x0F) * 4
        icmp = data[ihl:]
        if len(icmp) < 8 + len(MAGIC) + 4 or icmp[0] != 0:
            continue
        _, _, _, rid, _ = struct.unpack("!BBHHH", icmp[:8])
        if rid != ident or icmp[8:8 + len(MAGIC)] != MAGIC:
            continue
        seq = struct.unpack("!I", icmp[8 + len(MAGIC):12 + len(MAGIC)])[0]
        replies.setdefault(seq, []).append(t)
    th.join()
    report = analyse(dict(sent), replies, a.interval, start)
    text = json.dumps(report)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.rename(tmp, a.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
