# SPDX-License-Identifier: GPL-2.0
"""The demo's report: what a run recorded (demolib.Run.result), reduced to
figures (analyze) and printed for people (format_run, format_comparison).

Every time is in ms from the start of the migration (the run's t0).  The
timeline has one row per 10 ms bucket of CLOCK_MONOTONIC; the hosts'
counters are interpolated onto the bucket edges from their 10 ms samples;
the meters' timelines (10 ms from their first frame) are moved onto the
same grid; lost frames are placed by their send schedule (seq / rate after
the stream's first frame).
"""
import math

BUCKET_NS = 10000000
SRC, DST = "hostA", "hostB"

# What the timeline shows of each host's counters, per direction:
# (counter key, label).  semi-net: the port's datapath counters; QEMU-style:
# the VM's host devices (tap, VF host end).
TO_VM = [("rx.vf", "vf"), ("rx.tap", "tap"), ("rx.tunnel", "tunnel"),
         ("tunnel_in", "from-tunnel")]
FROM_VM = [("tx.vf", "vf"), ("tx.tap", "tap")]


def ms(t_ns, t0):
    return (t_ns - t0) / 1e6


# ---- counters on the grid -------------------------------------------------------

def series(samples, key):
    """(t, value) of one counter; None and missing keys hold the last value."""
    out, last = [], 0
    for t, v in samples:
        if v is not None and key in v and isinstance(v[key], (int, float)):
            last = v[key]
        out.append((t, last))
    return out


def at(ser, t):
    """The counter at time t, linear between samples."""
    if not ser or t <= ser[0][0]:
        return ser[0][1] if ser else 0
    lo, hi = 0, len(ser) - 1
    if t >= ser[hi][0]:
        return ser[hi][1]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ser[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t1, v1), (t2, v2) = ser[lo], ser[hi]
    return v1 + (v2 - v1) * (t - t1) / (t2 - t1) if t2 > t1 else v2


def per_bucket(samples, key, edges):
    ser = series(samples, key)
    cum = [round(at(ser, e)) for e in edges]
    return [b - a for a, b in zip(cum, cum[1:])]


def total(samples, key):
    ser = series(samples, key)
    return ser[-1][1] - ser[0][1] if ser else 0


# ---- the meters -------------------------------------------------------------------

def meter_first_ns(res, direction):
    """When the receiver got its first frame (its timeline's zero): it
    stamps that against its own start, which follows 'listening on' by
    microseconds."""
    rx = res["meters"][f"{direction}.rx"]["rx"]
    return res["listen_ns"][direction] + rx["first_rx_ms"] * 1e6


def meter_buckets(res, direction, t0, nb, k0):
    """Frames received per grid bucket and label."""
    rx = res["meters"][f"{direction}.rx"]["rx"]
    first = meter_first_ns(res, direction)
    step = rx["interval_ms"] * 1e6
    out = [dict() for _ in range(nb)]
    for i, b in enumerate(rx["timeline"]):
        mid = first + i * step + step / 2
        k = math.floor((mid - t0) / BUCKET_NS) - k0
        if 0 <= k < nb:
            for label, n in b["by"].items():
                out[k][label] = out[k].get(label, 0) + n
    return out


def lost_times(res, direction):
    """When each listed lost frame was sent: frame seq left its sender when
    the sender's namespace's UDP datagram count (sampled every 10 ms)
    passed its count at the stream's first frame plus seq.  Returns
    [(t_ns, n)] per run of lost frames, split in 1 ms pieces.  (The meter
    lists the first 16 runs; later ones are counted, not placed.)"""
    rx = res["meters"][f"{direction}.rx"]["rx"]
    ser = series(res["samples"].get(f"sent-{direction}", []), "sent")
    if not ser:
        return []
    base = at(ser, meter_first_ns(res, direction))
    times = [t for t, _ in ser]
    vals = [v for _, v in ser]

    def when(seq):      # the time the count reached base + seq + 1
        target = base + seq + 1
        lo, hi = 0, len(vals) - 1
        if vals[hi] < target:
            return times[hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if vals[mid] >= target:
                hi = mid
            else:
                lo = mid + 1
        if lo == 0 or vals[lo] == vals[lo - 1]:
            return times[lo]
        t1, v1, t2, v2 = times[lo - 1], vals[lo - 1], times[lo], vals[lo]
        return t1 + (t2 - t1) * (target - v1) / (v2 - v1)

    out = []
    step = max(1, res["plan"]["rate"] // 1000)
    for a, b in rx["lost_runs"]:
        for s in range(a, b + 1, step):
            n = min(step, b + 1 - s)
            out.append((when(s + n // 2), n))
    return out


def lost_buckets(lost, t0, nb, k0):
    out = [0] * nb
    for t, n in lost:
        k = math.floor((t - t0) / BUCKET_NS) - k0
        if 0 <= k < nb:
            out[k] += n
    return out


def lost_by_window(lost, windows, total):
    """The lost frames by the window their send time falls in (the
    guest's own windows: VF unplug, VM stopped, VF plug), else "elsewhere";
    "not placed": beyond the runs the meter lists."""
    out = {name: 0 for name in windows}
    out["elsewhere"] = 0
    placed = 0
    for t, n in lost:
        name = next((w for w, (a, b) in windows.items() if a <= t <= b), "elsewhere")
        out[name] += n
        placed += n
    out["not placed"] = total - placed
    return out


# ---- one run -------------------------------------------------------------------------

def analyze(res):
    t0, t_end = res["t0_ns"], res["t_end_ns"]
    plan = res["plan"]
    a = {"kind": res["kind"], "title": res["title"], "plan": plan}

    # Traffic, per direction.
    a["traffic"] = {}
    for d, name in (("to_vm", "client -> vm1"), ("from_vm", "vm1 -> client")):
        rx = res["meters"][f"{d}.rx"]["rx"]
        tx = res["meters"][f"{d}.tx"]["tx"]
        a["traffic"][d] = {
            "name": name, "sent": rx["sent"], "sender_sent": tx["sent"],
            "sent_known": rx["sent_known"], "received": rx["received"],
            "lost": rx["lost"], "duplicated": rx["duplicated"],
            "reordered": rx["reordered"], "longest_gap_ms": rx["longest_gap_ms"],
            "lost_runs": rx["lost_runs"], "lost_runs_total": rx["lost_runs_total"],
            "paths": rx["paths"],
        }

    # Steps, state changes, bridges.
    a["steps"] = [dict(s, t_ms=ms(s["t_ns"], t0)) for s in res["steps"]]
    a["states"] = []
    for h, evs in res.get("states", {}).items():
        for e in evs:
            if e.get("event") != "state":
                continue
            t = e.get("applied_ns") or e["seen_ns"]
            a["states"].append({"t_ms": ms(t, t0), "host": h, "from": e["from"],
                                "to": e["to"], "cause": e.get("cause"),
                                "path": e.get("path")})
    a["states"].sort(key=lambda x: x["t_ms"])
    a["fdb"] = {"before": res["fdb_before"], "after": res["fdb_after"], "events": []}
    for node, evs in res["fdb_events"].items():
        for e in evs:
            a["fdb"]["events"].append(dict(e, node=node, t_ms=ms(e["t_ns"], t0)))
    a["fdb"]["events"].sort(key=lambda x: x["t_ms"])
    a["fdb"]["moved"] = fdb_moves(a["fdb"])

    # The timeline grid: from the stream's start to the run's end.
    samples = res["samples"]
    t_first = min(meter_first_ns(res, d) for d in ("to_vm", "from_vm"))
    k0 = math.floor((t_first - t0) / BUCKET_NS)
    k1 = math.ceil((t_end - t0) / BUCKET_NS)
    nb = k1 - k0
    edges = [t0 + (k0 + i) * BUCKET_NS for i in range(nb + 1)]
    hosts = {}
    for h in (SRC, DST):
        hs = samples.get(h, [])
        hosts[h] = {key: per_bucket(hs, key, edges) for key, _ in TO_VM + FROM_VM}
    guest = meter_buckets(res, "to_vm", t0, nb, k0)
    client = meter_buckets(res, "from_vm", t0, nb, k0)
    lost = {}
    windows = {k: v for k, v in res.get("windows", {}).items() if v[1] is not None}
    a["windows"] = {k: [ms(x, t0) for x in v] for k, v in windows.items()}
    for d in ("to_vm", "from_vm"):
        times = lost_times(res, d)
        lost[d] = lost_buckets(times, t0, nb, k0)
        a["traffic"][d]["lost_in"] = lost_by_window(times, windows, a["traffic"][d]["lost"])
    rows = []
    for i in range(nb):
        rows.append({
            "t_ms": (k0 + i) * BUCKET_NS / 1e6,
            "to_vm": {h: {lbl: hosts[h][key][i] for key, lbl in TO_VM if hosts[h][key][i]}
                      for h in (SRC, DST)},
            "guest": guest[i], "to_vm_lost": lost["to_vm"][i],
            "from_vm": {h: {lbl: hosts[h][key][i] for key, lbl in FROM_VM
                            if hosts[h][key][i]} for h in (SRC, DST)},
            "client": sum(client[i].values()), "from_vm_lost": lost["from_vm"][i],
        })
    a["timeline"] = rows

    # Where frames were dropped, by counter (whole run).
    drops = {}
    for h, hs in samples.items():
        keys = set()
        for _, v in hs:
            if v:
                keys.update(k for k in v if k.startswith("drop."))
        for k in sorted(keys):
            n = total(hs, k)
            if n:
                drops[f"{h} {k[5:]}"] = n
    a["drops"] = drops
    a["queued"] = res.get("queued", {})
    a["sampler_errors"] = res.get("sampler_errors", {})
    a["extra"] = res.get("extra", {})
    return a


def fdb_moves(fdb):
    """Per bridge: where the MAC was, where it is, when it got there."""
    out = {}
    for node in ("fabric", SRC, DST):
        before = [e["port"] for e in fdb["before"].get(node, [])]
        after = [e["port"] for e in fdb["after"].get(node, [])]
        evs = [e for e in fdb["events"] if e["node"] == node]
        last = None
        for e in evs:
            if e["action"] == "new" and after and e["port"] == after[0]:
                last = e
        out[node] = {"before": before, "after": after,
                     "moved": before != after,
                     "t_ms": last["t_ms"] if last and before != after else None}
    return out


# ---- printing -------------------------------------------------------------------------

def cell(d, order):
    parts = [f"{k} {d[k]}" for k in order if d.get(k)]
    parts += [f"{k} {n}" for k, n in d.items() if k not in order and n]
    return " ".join(parts) if parts else "-"


TO_ORDER = ["vf", "tap", "tunnel", "from-tunnel"]
GUEST_ORDER = ["vf", "virtio"]


def row_text(r):
    return (f"{r['t_ms']:>7.0f}  "
            f"{cell(r['to_vm'][SRC], TO_ORDER):<20} {cell(r['to_vm'][DST], TO_ORDER):<27} "
            f"{cell(r['guest'], GUEST_ORDER):<18} {r['to_vm_lost'] or '':>5}  | "
            f"{cell(r['from_vm'][SRC], TO_ORDER):<15} {cell(r['from_vm'][DST], TO_ORDER):<15} "
            f"{r['client'] or '-':>6} {r['from_vm_lost'] or '':>5}")


def signature(r):
    return (tuple(sorted(r["to_vm"][SRC])), tuple(sorted(r["to_vm"][DST])),
            tuple(sorted(r["guest"])), bool(r["to_vm_lost"]),
            tuple(sorted(r["from_vm"][SRC])), tuple(sorted(r["from_vm"][DST])),
            bool(r["client"]), bool(r["from_vm_lost"]))


def marks(a):
    """Short notes for the timeline: what happened in which bucket."""
    out = []
    for s in a["steps"]:
        out.append((s["t_ms"], short_step(s)))
    for s in a["states"]:
        out.append((s["t_ms"], f"{s['host']} {s['to']}"))
    for node, m in a["fdb"]["moved"].items():
        if m["t_ms"] is not None:
            name = "fabric" if node == "fabric" else f"{node} br0"
            out.append((m["t_ms"], f"{name} -> {m['after'][0]}"))
    return out


def short_step(s):
    """A step in a few words, for the timeline's margin."""
    w = s["what"]
    if w.startswith("semi-netctl "):
        words = w.split()[1:]
        verb = " ".join(words[:2])
        opt = next((x for x in words[2:] if x.startswith("--")), "")
        return f"{s['who']} {verb} {opt}".strip()
    return w.split(" (")[0]


def format_timeline(a, window=None, keep=2):
    """The 10 ms timeline; a run of rows alike (the same paths, loss or
    none, no event) is shortened to its first and last `keep` rows and a
    line that sums what it leaves out."""
    rows = a["timeline"]
    if window:
        rows = [r for r in rows if window[0] <= r["t_ms"] < window[1]]
    notes = {}
    for t, text in marks(a):
        k = math.floor(t / 10) * 10
        notes.setdefault(k, []).append(text)
    head = (f"{'t ms':>7}  {'client -> vm1:  hostA':<20} {'hostB':<27} {'guest got':<18} "
            f"{'lost':>5}  | {'vm1 -> client: hostA':<15} {'hostB':<15} {'client':>6} "
            f"{'lost':>5}")
    lines = [head]
    i = 0
    while i < len(rows):
        j = i
        while (j + 1 < len(rows) and signature(rows[j + 1]) == signature(rows[i])
               and round(rows[j + 1]["t_ms"]) not in notes):
            j += 1
        run = rows[i:j + 1]
        if len(run) > 2 * keep + 1:
            shown = run[:keep] + [None] + run[-keep:]
        else:
            shown = run
        for r in shown:
            if r is None:
                mid = run[keep:-keep]
                lost = [sum(x["to_vm_lost"] for x in mid), sum(x["from_vm_lost"] for x in mid)]
                extra = ", lost " + " and ".join(
                    f"{n} {d}" for n, d in zip(lost, ("client -> vm1", "vm1 -> client"))
                    if n) if any(lost) else ""
                lines.append(f"{'':>7}  ... {len(mid)} rows alike{extra}")
                continue
            text = row_text(r)
            n = notes.get(round(r["t_ms"]))
            if n:
                text += "   < " + "; ".join(n)
            lines.append(text)
        i = j + 1
    return "\n".join(lines)


def fmt_fdb_ports(ports):
    return ", ".join(ports) if ports else "(none)"


def format_run(a, timeline=True, full=False):
    L = []
    p = a["plan"]
    L.append(f"== {a['title']} ==")
    L.append(f"   {p['rate'] // 1000} kpps each way, VM paused {p['pause_ms']} ms; "
             "times in ms from the start of the migration")
    L.append("")
    L.append("steps")
    for s in a["steps"]:
        res = f"  -> {s['result']}" if s.get("result") else ""
        L.append(f"  {s['t_ms']:>8.1f}  {s['who']:<6} {s['what']}{res}")
    if a["states"]:
        L.append("")
        L.append("port states (semi-netd; when the path word was stored)")
        for s in a["states"]:
            L.append(f"  {s['t_ms']:>8.1f}  {s['host']:<6} {s['from']} -> {s['to']} "
                     f"({s['cause']}, path {s['path']})")
    L.append("")
    L.append("bridges: where the VM's MAC is (bridge fdb), and when it moved")
    for node, m in a["fdb"]["moved"].items():
        name = "fabric sw0" if node == "fabric" else f"{node} br0"
        when = f"moved at {m['t_ms']:.1f}" if m["t_ms"] is not None else (
            "moved" if m["moved"] else "unchanged")
        L.append(f"  {name:<11} {fmt_fdb_ports(m['before']):<16} -> "
                 f"{fmt_fdb_ports(m['after']):<16} {when}")
    changes = [e for e in a["fdb"]["events"]]
    if changes:
        L.append("  every change (rtnetlink):")
        for e in changes:
            name = "fabric" if e["node"] == "fabric" else e["node"]
            verb = "learned on" if e["kind"] == "learned" else "static entry on"
            if e["action"] == "del":
                verb = "removed from"
            L.append(f"  {e['t_ms']:>8.1f}  {name:<6} {verb} {e['port']}")
    L.append("")
    L.append(f"traffic {'':<15} {'sent':>9} {'received':>9} {'lost':>7} {'duplicated':>10} "
             f"{'reordered':>9}  longest gap")
    for d in ("to_vm", "from_vm"):
        t = a["traffic"][d]
        L.append(f"  {t['name']:<20} {t['sent']:>9} {t['received']:>9} {t['lost']:>7} "
                 f"{t['duplicated']:>10} {t['reordered']:>9}  {t['longest_gap_ms']:.1f} ms")
        if t["lost"]:
            L.append(f"  {'':<20} lost, by when they were sent: " + ", ".join(
                f"{k} {n}" for k, n in t["lost_in"].items() if n or k != "not placed"))
    if a["drops"]:
        L.append("  dropped, by counter: " + ", ".join(f"{k} {n}" for k, n in a["drops"].items()))
    if a["sampler_errors"]:
        L.append("  (counter sampling errors: " + "; ".join(
            f"{h}: {e}" for h, e in a["sampler_errors"].items()) + ")")
    if timeline:
        L.append("")
        L.append("timeline, 10 ms buckets: frames by path on each host (semi-net: the port's "
                 "datapath counters;")
        L.append("QEMU-style: the VM's host devices), the path the guest took them from, and "
                 "lost frames by send time")
        first = a["steps"][0]["t_ms"] if a["steps"] else 0
        last = max([s["t_ms"] for s in a["steps"]] + [m["t_ms"] for m in a["fdb"]["moved"]
                                                        .values() if m["t_ms"]] + [0])
        L.append(format_timeline(a, window=None if full else (first - 30, last + 100)))
    return "\n".join(L)


def lost_split(a, d):
    """A direction's lost frames in the comparison's columns: while the VM
    was stopped; in the lab's QEMU queues (what the source's never read,
    what the destination's still held when the guest took its VF -- at
    most the queue counted then --, and what a full queue dropped: a lab
    relay far slower than vhost-net); in the guest's own VF windows;
    elsewhere."""
    t = a["traffic"][d]
    w = t["lost_in"]
    q = a.get("queued", {}) if d == "to_vm" else {}
    at_stop = min(w.get("queued at STOP", 0), q.get("at STOP", 0))
    at_plug = min(w.get("VF plug", 0), q.get("at VF plug", 0))
    stopped = w.get("VM stopped", 0) + w.get("queued at STOP", 0) - at_stop
    vf = w.get("VF unplug", 0) + w.get("VF plug", 0) - at_plug
    full = sum(n for k, n in a.get("drops", {}).items()
               if k.endswith("tap-queue" if d == "to_vm" else "virtio-queue"))
    queues = at_stop + at_plug + min(full, max(0, t["lost"] - stopped - vf - at_stop - at_plug))
    return {"total": t["lost"], "stopped": stopped, "queues": queues, "vf": vf,
            "other": t["lost"] - stopped - queues - vf, "dup": t["duplicated"]}


def format_comparison(runs):
    cols = ("total", "stopped", "queues", "vf", "other", "dup")
    widths = (7, 8, 7, 5, 6, 4)
    names = ("total", "stopped", "queues", "VF", "other", "dup")
    head = " ".join(f"{n:>{w}}" for n, w in zip(names, widths))
    span = len(head)
    L = ["== the same migration, both ways: frames lost, by when they were sent =="]
    L.append(f"  {'':<20} {'each way':>8}  {'client -> vm1':^{span}}  {'vm1 -> client':^{span}}")
    L.append(f"  {'':<20} {'':>8}  {head}  {head}")
    for a in runs:
        cells = []
        for d in ("to_vm", "from_vm"):
            x = lost_split(a, d)
            cells.append(" ".join(f"{x[c]:>{w}}" for c, w in zip(cols, widths)))
        name = "semi-net" if a["kind"] == "semi-net" else "QEMU failover today"
        L.append(f"  {name:<20} {a['plan']['rate'] // 1000:>4} kpps  {cells[0]}  {cells[1]}")
    L.append("")
    L.append("  stopped  sent while the VM was stopped, until the network knew where it went;")
    L.append("  queues   the lab's, not semi-net's: left in the source QEMU's tap when it")
    L.append("           stopped reading it, still in the destination's when the guest took")
    L.append("           its new VF, or dropped by a full tap -- the lab's QEMU (tap-relay)")
    L.append("           is lossless to about 80 kpps each way on 2 cores;")
    L.append("  VF       the guest's own windows: between its VF's close and its removal, and")
    L.append("           when it takes its new VF (what is still on its way through virtio);")
    L.append("  other    anywhere else, and lost runs beyond the 16 the meter lists;")
    L.append("  dup      frames the guest received twice.")
    return "\n".join(L)
