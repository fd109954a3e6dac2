# SPDX-License-Identifier: GPL-2.0
"""Write docs/BENCHMARKS.md, docs/bench-throughput.svg and
docs/bench-migration.svg from bench.py's results.  The SVGs are written by
hand: no plotting library needed."""
import html
import os

SVG_NAME = "bench-throughput.svg"
MIG_SVG_NAME = "bench-migration.svg"

# semi-net's own paths in one colour, the baselines in another.
OURS = {"a", "b", "b_tap", "e"}


def svg_throughput(t):
    figs = [(k, v) for k, v in t["figures"].items() if v.get("mpps") is not None]
    if not figs:
        return None
    top = max(v["mpps"] for _, v in figs)
    scale_max = max(1.0, float(int(top) + 1))
    left, width, bar, gap, head = 250, 460, 22, 10, 46
    height = head + len(figs) * (bar + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" '
           f'height="{height}" font-family="sans-serif" font-size="13">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">'
           f'Throughput, 64-byte frames, one core (Mpps, median of {t["runs"]} runs)</text>',
           f'<text x="10" y="38" fill="#555">semi-net in blue, baselines in grey; '
           f'real taps are read by one user-space reader on a second core</text>']
    # grid
    step = 1.0 if scale_max <= 12 else 2.0
    x = 0.0
    while x <= scale_max + 1e-9:
        px = left + width * x / scale_max
        out.append(f'<line x1="{px:.1f}" y1="{head - 4}" x2="{px:.1f}" '
                   f'y2="{height - 30}" stroke="#ddd"/>')
        out.append(f'<text x="{px:.1f}" y="{height - 14}" text-anchor="middle" '
                   f'fill="#555">{x:g}</text>')
        x += step
    for i, (k, v) in enumerate(figs):
        y = head + i * (bar + gap)
        w = width * v["mpps"] / scale_max
        colour = "#2f6fb3" if k in OURS else "#9a9a9a"
        label = html.escape(f"({k}) {v['label']}")
        out.append(f'<text x="{left - 8}" y="{y + bar - 6}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + bar - 6}">{v["mpps"]:.2f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- the migration timeline ------------------------------------------------------

COL = {"vf": "#2f6fb3", "virtio": "#e08a2c", "lost": "#c62828", "client": "#5b8f4e",
       "held": "#c9c9c9", "mark": "#666", "fdb": "#1b7f3b"}


def svg_migration(m):
    """One panel per kind (its median-loss run): per 10 ms, the frames the
    guest took by path and the frames lost (by send time), then the
    frames the client took from the VM and those lost; a dashed line per
    step, a green one where a bridge moved."""
    tls = [(k, sm["timeline"]) for k, sm in m["summary"].items() if sm.get("timeline")]
    if not tls:
        return None
    ts = [mk["t"] for _, tl in tls for mk in tl["marks"]]
    t_lo, t_hi = min(ts) - 60, max(ts) + 120
    rate = tls[0][1]["rate"]
    nominal = rate / 100                     # frames per 10 ms
    top = max([sum(r["guest"].values()) + r["to_vm_lost"] for _, tl in tls
               for r in tl["rows"] if t_lo <= r["t"] < t_hi] +
              [r["client"] + r["from_vm_lost"] for _, tl in tls for r in tl["rows"]
               if t_lo <= r["t"] < t_hi] + [nominal])
    ymax = min(top, 3 * nominal) * 1.05
    left, width, strip, lanes, lane_h = 100, 840, 80, 6, 12
    panel = 28 + lanes * lane_h + 2 * strip + 40
    head = 64
    H = head + len(tls) * panel + 30
    W = left + width + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">Live migration of vm1, '
           f'hostA -> hostB, {rate // 1000} kpps each way: the median run of each kind</text>',
           '<text x="10" y="38" fill="#555">frames per 10 ms by when they arrived '
           f'(<tspan fill="{COL["vf"]}">via the VF</tspan>, <tspan fill="{COL["virtio"]}">'
           f'via virtio</tspan>, <tspan fill="{COL["client"]}">at the client</tspan>) '
           f'and <tspan fill="{COL["lost"]}">lost</tspan> (by when they were sent); '
           'ms from the start of the migration</text>',
           '<text x="10" y="53" fill="#555"><tspan fill="#999">grey</tspan>: forwarded by '
           'hostA while the VM was stopped, held in hostB\'s tap; '
           f'<tspan fill="{COL["fdb"]}">green</tspan>: a bridge moved</text>']

    def x(t):
        return left + width * (t - t_lo) / (t_hi - t_lo)

    bw = max(1.0, width * 10 / (t_hi - t_lo) - 0.6)
    for i, (kind, tl) in enumerate(tls):
        y0 = head + i * panel
        out.append(f'<text x="10" y="{y0 + 14}" font-size="13" font-weight="bold">'
                   f'{html.escape(tl["title"])}</text>')
        out.append(f'<text x="{W - 20}" y="{y0 + 14}" text-anchor="end" fill="#555">lost: '
                   f'{tl["lost"]["to_vm"]} client -> vm1, {tl["lost"]["from_vm"]} vm1 -> client'
                   '</text>')
        # Labels of the marks, in lanes so that they do not overlap.
        ends = [-1e9] * lanes
        ly0 = y0 + 28
        sy = [ly0 + lanes * lane_h + 4, ly0 + lanes * lane_h + 4 + strip + 16]
        for mk in tl["marks"]:
            if not t_lo <= mk["t"] <= t_hi:
                continue
            px = x(mk["t"])
            wide = 5.4 * len(mk["label"])
            right = px + wide > left + width + 20     # no room: the label ends at the line
            x0 = px - wide if right else px
            lane = next((k for k in range(lanes) if ends[k] < x0 - 3), lanes - 1)
            label = html.escape(mk["label"])
            ends[lane] = x0 + wide
            colour = COL["fdb"] if mk.get("fdb") else COL["mark"]
            anchor = ' text-anchor="end"' if right else ""
            out.append(f'<text x="{px - 2 if right else px + 2:.1f}" '
                       f'y="{ly0 + lane * lane_h + 9}" fill="{colour}" font-size="10"'
                       f'{anchor}>{label}</text>')
            out.append(f'<line x1="{px:.1f}" y1="{ly0 + lane * lane_h + 10}" x2="{px:.1f}" '
                       f'y2="{sy[1] + strip}" stroke="{colour}" stroke-dasharray="3,2" '
                       'stroke-width="0.8"/>')
        for k, (name, parts) in enumerate((
                ("client -> vm1", lambda r: [(r["guest"].get("vf", 0), COL["vf"]),
                                              (r["guest"].get("virtio", 0), COL["virtio"]),
                                              (r["to_vm_lost"], COL["lost"])]),
                ("vm1 -> client", lambda r: [(r["client"], COL["client"]),
                                              (r["from_vm_lost"], COL["lost"])]))):
            base = sy[k] + strip
            out.append(f'<text x="{left - 6}" y="{sy[k] + 10}" text-anchor="end" '
                       f'font-size="10">{name}</text>')
            if k == 0:
                for r in tl["rows"]:
                    held = r.get("held", 0)
                    if t_lo <= r["t"] < t_hi and held:
                        hgt = min(strip, strip * held / ymax)
                        out.append(f'<rect x="{x(r["t"]):.1f}" y="{base - hgt:.1f}" '
                                   f'width="{bw:.1f}" height="{hgt:.1f}" fill="{COL["held"]}"/>')
            out.append(f'<line x1="{left}" y1="{base}" x2="{left + width}" y2="{base}" '
                       'stroke="#999"/>')
            yn = base - strip * nominal / ymax
            out.append(f'<line x1="{left}" y1="{yn:.1f}" x2="{left + width}" y2="{yn:.1f}" '
                       'stroke="#ccc" stroke-dasharray="2,3"/>')
            out.append(f'<text x="{left - 6}" y="{yn + 4:.1f}" text-anchor="end" fill="#777" '
                       f'font-size="9">{nominal:g}</text>')
            for r in tl["rows"]:
                if not t_lo <= r["t"] < t_hi:
                    continue
                h0 = 0.0
                for v, colour in parts(r):
                    if not v:
                        continue
                    hgt = min(strip - h0, strip * v / ymax)
                    if hgt <= 0:
                        continue
                    out.append(f'<rect x="{x(r["t"]):.1f}" y="{base - h0 - hgt:.1f}" '
                               f'width="{bw:.1f}" height="{hgt:.1f}" fill="{colour}"/>')
                    h0 += hgt
        # time axis
        axis_y = sy[1] + strip
        step = 100 if t_hi - t_lo > 600 else 50
        t = (int(t_lo) // step + 1) * step
        while t < t_hi:
            out.append(f'<text x="{x(t):.1f}" y="{axis_y + 13}" text-anchor="middle" '
                       f'fill="#555" font-size="10">{t}</text>')
            t += step
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _f(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown(res, table_text):
    m = res["machine"]
    s = res["sections"]
    L = ["# Benchmarks",
         "",
         "Latest figures of `make bench` (bench/run.sh -> bench/bench.py). The machine is "
         "shared and noisy: absolute figures drift from run to run, the ratios against a "
         "baseline measured in the same run are what to read. Nothing here is asserted by a "
         "test.",
         "",
         f"* **Machine:** {m['cpus']} CPUs ({m['cpu']}), {m['mem_mib']} MiB, "
         f"{m['os']}, kernel {m['kernel']}",
         f"* **When, what:** {m['date']}, commit {m['commit']}",
         f"* **Load** (1/5/15-minute averages, {m['cpus']} CPUs; other work on the machine "
         f"shows here): {'/'.join(map(str, m.get('loadavg_start') or []))} at the start, "
         f"{'/'.join(map(str, m.get('loadavg_end') or []))} at the end",
         "* **Command:** `make bench` (as root; it runs `make tests` first), "
         f"{res['seconds']:.0f} s in all",
         "* **Raw results:** `build/bench/results.json`",
         ""]
    L += md_targets(s)
    t = s.get("throughput")
    if t and "figures" in t:
        r = t["ratios"]
        L += ["## 2. Throughput: 64-byte frames, one core",
              "",
              f"![throughput]({SVG_NAME})",
              "",
              "| | path | Mpps | delivered / sent | what it is |",
              "|---|---|---:|---:|---|"]
        for k, v in t["figures"].items():
            if v["mpps"] is None:
                L.append(f"| ({k}) | {v['label']} | TODO | | {v.get('todo', '')} |")
                continue
            L.append(f"| ({k}) | {v['label']} | {v['mpps']:.2f} | "
                     f"{v['delivered']} / {v['sent']} | {v['what']} |")
        met = t["targets"]
        L += ["",
              "| ratio | value | target |",
              "|---|---:|---|",
              f"| a/c (semi_uplink vs bare redirect) | {_f(r['a/c'], 3)} | >= 0.90: "
              f"{'met' if met['a/c >= 0.90'] else '**not met**'} |",
              f"| a/d (semi_uplink vs Linux bridge) | {_f(r['a/d'])} | >= 5: "
              f"{'met' if met['a/d >= 5'] else '**not met**'} |",
              f"| b/d (tap path vs Linux bridge) | {_f(r['b/d'])} | |",
              f"| b_tap/d_tap (into a real tap, semi_uplink vs bridge) | {_f(r['b_tap/d_tap'])} | |",
              f"| e/d_tap (emulated path end to end vs bridge into a tap) | {_f(r['e/d_tap'])} | |",
              ""]
        pf = t.get("per_frame_ns")
        if pf:
            L += [f"Per frame, end to end on the one core: (a) {pf['a']} ns, (c) {pf['c']} ns, "
                  f"(d) {pf['d']} ns. semi_uplink costs {pf['a_over_c']} ns a frame more than "
                  f"the bare redirect; a/c >= 0.90 allows {pf['a_over_c_allowed']} ns. "
                  f"a/d >= 5 needs (a) at or under {pf['a_allowed_by_a/d']} ns a frame.", ""]
        L += ["How: one wire namespace per topology sends with `semi-pktgen` (BPF_PROG_RUN "
              "live frames, pinned to CPU 0) into a veth whose peer is the uplink. Everything "
              "after it -- the uplink's program, the redirect, the receiving veth and its XDP "
              "counter (`semi-count`: per-device counters and an exact dedup bitmap) -- runs in "
              "softirq on that same CPU, so (a)-(d) are one core end to end, generator and "
              "receiver included: the ratios are therefore compressed towards 1 by the shared "
              f"fixed cost (see the per-packet cost below). (a)-(d): {t['frames_per_run']} "
              "frames per run, the generator's rate (the path is back-pressured: a batch is "
              "processed before the next is made) times delivered/sent. Runs are taken "
              "round-robin, one of each figure per round, so that drift hits all alike.",
              "",
              "* **The vf path** is what an SR-IOV VF representor is in the lab: a veth whose "
              "peer (the guest's end) runs an XDP program; frames cross it as XDP frames.",
              "* **The tap path** has two meanings here and both are measured. (b) puts a veth "
              "in the tap's role (what the switch-under-load test does): the datapath's own "
              "cost of the tap branch, comparable with (d). (b_tap) uses a real tap: "
              "semi_uplink redirects XDP frames into it and a user-space reader "
              "(`semi-dpbench tapsink`, one read() per frame, as QEMU's tap backend) on the "
              "second core takes them; that reader, not the datapath, is the limit, and the "
              "generator's excess is dropped at the tap's queue (delivered/sent shows it). "
              "(d_tap) is the bridge into the same kind of tap and reader, (e) the whole "
              "emulated path: real tap -> `tap-relay` (QEMU's part, second core) -> the "
              f"guest's tap, counted by XDP there. {t['tap_seconds']:g} s per run.",
              ""]
    c = s.get("cost")
    if c and "ns" in c:
        L += ["## 3. Per-packet cost (BPF_PROG_RUN, repeat)",
              "",
              f"Each program run {c['repeat']} times over one 64-byte IPv4/UDP frame "
              f"(median of {c['runs']}); the kernel's figure, whole ns per run. The frame "
              "is for a port on path vf (or tap); `port_tc` is a guest frame from the vf to "
              "the fabric.",
              "",
              "| program | ns/frame | vs bare redirect | extra ns |",
              "|---|---:|---:|---:|"]
        for k, v in c["ns"].items():
            L.append(f"| {k} | {v:.0f} | x{c['vs_bare_redirect'][k]} | "
                     f"{c['over_bare_redirect_ns'][k]:+.0f} |")
        L.append("")
    for key, title in (("switch", "## 4. Path switch through the library"),
                       ("bulk", "## 4. Bulk switch through the library")):
        sw = s.get(key)
        if not sw or "latency_ns" not in sw:
            continue
        lat, call, aft = sw["latency_ns"], sw["call_ns"], sw["after_return_ns"]
        L += [title,
              "",
              f"{sw['switches']} switches of {sw['ports']} port(s) between {sw['paths']} "
              f"under {sw['offered_pps'] / 1e6:.2f} Mpps (offered at 1 Mpps; "
              f"{'one' if sw['ports'] == 1 else sw['ports']} destination MAC"
              f"{'' if sw['ports'] == 1 else 's, round-robin'}).",
              "",
              "| | p50 | p99 | max |",
              "|---|---:|---:|---:|",
              f"| library call -> first frame on the new path (us) | {lat['p50'] / 1e3:.1f} | "
              f"{lat['p99'] / 1e3:.1f} | {lat['max'] / 1e3:.1f} |",
              f"| the library call itself (us) | {call['p50'] / 1e3:.1f} | "
              f"{call['p99'] / 1e3:.1f} | {call['max'] / 1e3:.1f} |",
              f"| its return -> first frame on the new path (us) | {aft['p50'] / 1e3:.1f} | "
              f"{aft['p99'] / 1e3:.1f} | {aft['max'] / 1e3:.1f} |",
              "",
              f"Frames: sent {sw['sent']}, delivered {sw['unique']}, **lost {sw['lost']}, "
              f"duplicated {sw['duplicates']}** (target 0/0); waits without a frame "
              f"within 200 ms: {sw['timeouts']}.",
              ""]
        if "created" in sw:
            cr = sw["created"]
            L += [f"The {cr['ports']} ports were added through the library in "
                  f"{cr['seconds']:.2f} s (per port p50 {cr['put_ns']['p50'] / 1e3:.0f} us, "
                  f"p99 {cr['put_ns']['p99'] / 1e3:.0f} us).", ""]
        if key == "switch":
            L += ["How: `semi-dpbench switch` stores the path word through `semi_path_set_id` "
                  "and spins on the receivers' first-frame stamps (the BPF clock of the first "
                  "frame each receiver saw since the stamp was zeroed, in a memory-mapped "
                  "array); both clocks are CLOCK_MONOTONIC. It runs on CPU 1, the traffic on "
                  "CPU 0; 1 ms between switches. Loss and duplicates come from the same "
                  "receivers' exact sequence bitmap against the generator's count.", ""]
        else:
            L += ["How: as above, with `semi_path_set_bulk` (shadow bank, one store of the "
                  "bank word) over every port, and the first frame on any port's new path. "
                  "The call is dominated by the library resolving each port by name (a "
                  "linear scan per name: O(ports^2)); the bank store itself is its last step, "
                  "so 'its return -> first frame' bounds the datapath's part. That part is larger "
                  "than for one port because of the test topology, not the switch: with a veth "
                  "pair per port every frame needs its own NAPI poll on the receiving side "
                  "(~2 us each here), so a generator batch of 64 frames reaches its receivers "
                  "over ~100 us and the first frame decided after the flip lands up to a "
                  "batch later.", ""]
    L += md_ctl(s.get("ctl_switch"), s.get("switch"))
    L += md_migration(s.get("migration"))
    L += md_scale(s.get("scale"))
    pend = [(k, s[k]) for k in ("ctl_switch", "migration", "scale") if k in s and "pending" in s[k]]
    if pend:
        L += ["## Not yet measured", ""]
        for k, v in pend:
            L.append(f"* `{k}` ({v['pending']}): {v['what']}")
        L.append("")
    errs = [(k, v["error"]) for k, v in s.items() if "error" in v]
    if errs:
        L += ["## Sections that failed in this run", ""]
        for k, e in errs:
            L.append(f"* `{k}`: {e}")
        L.append("")
    L += ["## Terminal output of this run", "", "```", table_text, "```", ""]
    return "\n".join(L)


def md_targets(s):
    """Every target of issue 6 with this run's figure."""
    rows = []

    def yes(ok):
        return "met" if ok else "**not met**"

    t = s.get("throughput")
    if t and "ratios" in t:
        r = t["ratios"]
        rows.append(("2. a/c, semi_uplink vs bare redirect", ">= 0.90", _f(r["a/c"], 3),
                     yes(t["targets"]["a/c >= 0.90"])))
        rows.append(("2. a/d, semi_uplink vs Linux bridge", ">= 5", _f(r["a/d"]),
                     yes(t["targets"]["a/d >= 5"])))
    for key, name in (("switch", "4. library switch, 1000 x 1 port"),
                      ("bulk", "4. bulk switch, 4096 ports")):
        x = s.get(key)
        if x and "lost" in x:
            rows.append((f"{name}: lost / duplicated", "0 / 0",
                         f"{x['lost']} / {x['duplicates']}",
                         yes(x["lost"] == 0 and x["duplicates"] == 0)))
    c = s.get("ctl_switch")
    if c and "via" in c:
        for via, x in c["via"].items():
            rows.append((f"4. semi-netd switch ({via}), 1 Mpps: lost / duplicated", "0 / 0",
                         f"{x['lost']} / {x['duplicates']}",
                         yes(x["lost"] == 0 and x["duplicates"] == 0)))
    c = s.get("scale")
    if c and "targets" in c:
        tg = c["targets"]
        rows.append((f"6. add {c['ports']} ports", "< 1 s", f"{c['add']['seconds']:.2f} s",
                     yes(tg["add < 1 s"])))
        rows.append((f"6. status with {c['ports']} ports (semi-netctl -j, p50)", "< 100 ms",
                     f"{c['status_ms']['semi-netctl -j']['p50']} ms",
                     yes(tg["status < 100 ms"])))
        rows.append((f"6. semi-netd RSS at {c['ports']} ports", "< 16 MiB",
                     f"{c['rss_kib']['VmRSS'] / 1024:.1f} MiB", yes(tg["RSS < 16 MiB"])))
    if not rows:
        return []
    L = ["## Targets", "", "| target | wanted | this run | |", "|---|---|---:|---|"]
    L += [f"| {a} | {b} | {v} | {m} |" for a, b, v, m in rows]
    L += ["", "Why a target is not met is said in its section below.", ""]
    return L


def _us(ns):
    return f"{ns / 1e3:.1f} us" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def md_ctl(c, lib):
    if not c or "via" not in c:
        return []
    first = next(iter(c["via"].values()))
    L = ["## 4. Path switch through semi-netd",
         "",
         f"{first['switches']} switches per way of one port between `vf` and `tap` "
         "(`switch p0 vf` -> assigned, `switch p0 tap` -> emulated) under "
         f"{first['offered_pps'] / 1e6:.2f} Mpps, the same topology, rate and receivers as "
         "the library switch above; semi-netd on CPU 1, the traffic on CPU 0; the state "
         f"file on {c['state_file_fs']} (the machine's disk).",
         "",
         "| via | request -> first frame on the new path, p50 / p99 / max | request -> "
         "`ok`, p50 / p99 / max | first frame before the `ok` | vs the library call (p50) | "
         "sent | lost | duplicated |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for via, x in c["via"].items():
        lat, ack = x["latency_ns"], x["call_ns"]
        ratio = c.get("vs_library", {}).get(via)
        L.append(f"| {via} | {_us(lat['p50'])} / {_us(lat['p99'])} / {_us(lat['max'])} | "
                 f"{_us(ack['p50'])} / {_us(ack['p99'])} / {_us(ack['max'])} | "
                 f"{x['first_before_return']} of {x['switches']} | "
                 f"{'x' + str(ratio) if ratio else '-'} | {x['sent']} | **{x['lost']}** | "
                 f"**{x['duplicates']}** |")
    if lib and "latency_ns" in lib:
        L += ["", f"The library call (section 4 above, same run): p50 "
              f"{_us(lib['latency_ns']['p50'])} from the call to the first frame."]
    L += ["",
          "How: `semi-dpbench ctlswitch` holds the receivers (semi-count's program with "
          "first-frame stamps), zeroes the new path's stamp, stamps the clock, and sends "
          "`{\"cmd\":\"switch\",...}` on one connection to semi-netd's socket (or runs "
          "`semi-netctl -s SOCK switch p0 vf|tap` and waits for it to exit); it reads the "
          "reply, then the stamp of the first frame the new path's receiver took. The daemon "
          "stores the path word first and then writes the state file (write, fsync, rename, "
          "fsync of the folder) before it answers: so the first frame normally comes before "
          "the `ok` (the column says how often), and the `ok` costs what the disk's two "
          "fsyncs cost. Through semi-netctl, a process start (exec, dynamic linking, "
          "connect) comes on top. The daemon's part of the first frame (socket against the "
          "library call) is reading, parsing and checking the request and the state "
          "machine; the datapath's part is the same store.",
          "Targets: loss and duplicates 0/0 at 1 Mpps -- "
          + ("**met**" if all(x["lost"] == 0 and x["duplicates"] == 0
                              for x in c["via"].values()) else "**not met**") + ".",
          ""]
    return L


def md_migration(m):
    if not m or "summary" not in m:
        return []
    p = m["plan"]
    L = ["## 5. Live migration: semi-net against QEMU failover as it is today",
         "",
         f"![migration timeline]({MIG_SVG_NAME})",
         "",
         f"vm1 migrates hostA -> hostB in the lab (tests/lab) under semi-meter streams of "
         f"{m['rate'] // 1000} kpps in each direction (client -> vm1, vm1 -> client), "
         f"{m['migrations']} times with semi-net (DESIGN section 5 step by step, one semi-netd "
         "per host) and as many times as QEMU failover does it today (no forwarding, the "
         "fabric learns from QEMU's RARP), taken alternately, each in a lab of its own. The "
         "driver is `make demo`'s (tests/demo/demolib.py, quick plan: "
         f"{p['lead_ms']} ms of traffic first, pre-copy {p['precopy_ms']} ms, the VM stopped "
         f"{p['pause_ms']} ms, the new VF plugged {p['replug_min_ms']} ms or more after the "
         "resume) and its analysis (tests/demo/demo_report.py) splits every lost frame by "
         "when it was sent.",
         "",
         "Frames lost per migration:",
         "",
         "| | runs | client -> vm1: mean | median | min-max | of it while stopped (mean) | "
         "vm1 -> client: mean | median | min-max | duplicated (all runs) | fabric moved, "
         "after the resume: p50 / max |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, sm in m["summary"].items():
        if not sm.get("runs"):
            L.append(f"| {kind} | 0 | | | | | | | | | |")
            continue
        t, f = sm["to_vm"], sm["from_vm"]
        fab = sm["fabric_after_resume_ms"] or {}
        L.append(f"| {kind} | {sm['runs']} | {t['lost_mean']:.0f} | {t['lost_median']:.0f} | "
                 f"{t['lost_min']}-{t['lost_max']} | {t['lost_while_stopped'] / sm['runs']:.0f} | "
                 f"{f['lost_mean']:.0f} | {f['lost_median']:.0f} | {f['lost_min']}-{f['lost_max']} | "
                 f"{t['duplicated']} / {f['duplicated']} | {fab.get('p50', '-')} / "
                 f"{fab.get('max', '-')} ms |")
    r = m["ratios"]
    L += ["",
          "| ratio, semi-net / QEMU-style, frames lost per migration | value |",
          "|---|---:|"]
    for k, v in r.items():
        name = k.replace(" semi-net/qemu", "").replace("to_vm", "client -> vm1")
        L.append(f"| {name.replace('from_vm', 'vm1 -> client')} | {_f(v, 3)} |")
    L += ["", "All the frames lost, by when they were sent (summed over the runs):", "",
          "| | direction | while the VM was stopped | in the lab's QEMU queues | in the "
          "guest's VF windows | other |",
          "|---|---|---:|---:|---:|---:|"]
    for kind, sm in m["summary"].items():
        if not sm.get("runs"):
            continue
        for d, name in (("to_vm", "client -> vm1"), ("from_vm", "vm1 -> client")):
            x = sm[d]
            L.append(f"| {kind} | {name} | {x['lost_while_stopped']} | {x['lost_in_queues']} | "
                     f"{x['lost_in_vf_windows']} | {x['lost_other']} |")
    # What the runs say about the direction from the VM (stated from the data).
    counts = {k: sum(1 for r in rs if r["from_vm"]["lost_while_stopped"] > 0)
              for k, rs in m.get("runs", {}).items()}
    if counts.get("semi-net") is not None and counts.get("qemu") is not None:
        sn = [r["from_vm"]["lost_while_stopped"] for r in m["runs"]["semi-net"]]
        more = (m["ratios"].get("from_vm lost semi-net/qemu") or 0) > 1
        L += ["", f"vm1 -> client loses {'more' if more else 'less'} with semi-net than with "
              f"the QEMU-style run in this lab. Frames the guest sent in the window from STOP to 50 ms after the "
              f"resume were lost in {counts['semi-net']} of {len(sn)} semi-net runs "
              f"(up to {max(sn) if sn else 0}) and in {counts['qemu']} of "
              f"{len(m['runs']['qemu'])} QEMU-style runs; the guest's VF windows and its "
              "virtio queue (the lab's relay) account for most of the rest."]
        dr = m["summary"]["semi-net"].get("drops", {})
        if dr.get("hostB redirect") and dr.get("hostB redirect") == dr.get("dev-hostB vf-queue"):
            L[-1] += (" `hostB redirect` equal to `dev-hostB vf-queue` are XDP copies toward "
                      "the new VF that its veth refused (most likely while the guest's end had "
                      "no XDP program yet, between `port set --vf` and the guest taking the "
                      "VF); the port is in handover then and the tap's copy carries those "
                      "frames.")
    for kind, sm in m["summary"].items():
        if sm.get("drops"):
            L += ["", f"Drop counters that moved, {kind}, all runs (the datapath's by reason, "
                  "the taps' and the guest's full queues): " + ", ".join(
                      f"{k} {v}" for k, v in sorted(sm["drops"].items())) + "."]
    if m.get("failed"):
        why = sorted(set(x["error"].splitlines()[0][:120] for x in m["failed"]))
        L += ["", "Runs the driver could not complete and that were taken again: "
              f"{len(m['failed'])} ({'; '.join(why)})."]
    L += ["",
          "How to read it: *while the VM was stopped* is what decides the comparison -- "
          "semi-net forwards what still reaches the source to the destination's tap, where "
          "QEMU -incoming holds it; QEMU failover loses the whole stop-and-copy and what "
          "follows until its RARP has moved the fabric. *The lab's QEMU queues* are the "
          "lab's, not semi-net's: `tap-relay` (QEMU's stand-in) moves one frame per read and "
          "write and does not keep up with 100 kpps each way on 2 cores, so its queues grow "
          "while the VM runs on virtio; what is left in the source's tap at STOP is never "
          "read, and what the destination's still holds when the guest takes its new VF is "
          "dropped by the guest (tests/demo and README, *Demo*, say more). *The guest's VF "
          "windows*: between its VF closing and its removal net_failover takes frames from "
          "neither device, as Linux does. *Fabric moved*: the fabric bridge's FDB entry for "
          "the VM's MAC pointing at hostB (rtnetlink notification), after the VM resumed "
          "there (semi-net: `migrate done` announces; QEMU: its RARP).",
          ""]
    return L


def md_scale(c):
    if not c or "add" not in c:
        return []
    n, t = c["ports"], c["targets"]

    def met(k):
        return "met" if t[k] else "**not met**"

    st = c["status_ms"]
    rss = c["rss_kib"]
    lib = c["library"]["seconds"]
    maps = sorted(c["maps"]["maps"].items(), key=lambda kv: -(kv[1]["bytes"] or 0))
    L = ["## 6. Control plane at 4096 ports",
         "",
         f"semi-netd with {n} ports whose devices exist (per port a veth as VF and one as tap, "
         "the bulk section's topology), uplink attached, on CPU 1. The ports are added as an "
         "orchestrator that (re)starts a host's VMs would: every `port.add` request on one "
         "connection, written by one thread while another reads the replies, so that semi-netd "
         "can write its state file once for the requests that arrived together (group commit: "
         "each reply still comes after the write that holds its port).",
         "",
         "| | figure | target |",
         "|---|---:|---|",
         f"| add {n} ports | {c['add']['seconds']:.2f} s ({c['add']['ports_per_s']} ports/s, "
         f"{c['add']['state_file_writes']} state file writes) | < 1 s: {met('add < 1 s')} |",
         f"| ... the same ports, their devices absent (semi-netd's own work) | "
         f"{c['absent_devices']['seconds']:.2f} s | |",
         f"| ... through the library alone (libsemi_dp, no TC attachment, no state file) | "
         f"{lib:.2f} s | |",
         f"| ratio daemon / library; daemon with devices / devices absent | "
         f"x{c['add']['seconds'] / lib:.1f}; x{c['add']['seconds'] / c['absent_devices']['seconds']:.1f} | |",
         f"| `status` with {n} ports, `semi-netctl -j status` (process included), p50 / max | "
         f"{st['semi-netctl -j']['p50']} / {st['semi-netctl -j']['max']} ms | < 100 ms: "
         f"{met('status < 100 ms')} |",
         f"| ... the request on an open socket; the table (`semi-netctl status`), p50 | "
         f"{st['socket']['p50']} ms; {st['semi-netctl']['p50']} ms | |",
         f"| ... its reply | {c['status_bytes'] / 1024:.0f} KiB | |",
         f"| semi-netd RSS at rest with {n} ports (VmRSS) | {rss['VmRSS'] / 1024:.1f} MiB | "
         f"< 16 MiB: {met('RSS < 16 MiB')} |",
         f"| ... with no port; its peak (VmHWM, at start: libbpf loading) | "
         f"{c['empty']['rss_kib']['VmRSS'] / 1024:.1f} MiB; {rss['VmHWM'] / 1024:.1f} MiB | |",
         f"| BPF map memory of the instance (bpftool, memlock) | "
         f"{c['maps']['total_bytes'] / 2**20:.1f} MiB (with no port: "
         f"{c['empty']['maps']['total_bytes'] / 2**20:.1f} MiB) | |",
         f"| semi-netd's CPU at rest ({', '.join(f'{v} ports {k}' for k, v in c['states'].items())}) | "
         f"{c['idle_cpu_percent']} % | |",
         f"| one `switch` with {n} ports, request -> `ok`, p50 / max | "
         f"{c['switch_ack_ms']['p50']} / {c['switch_ack_ms']['max']} ms (state file "
         f"{c['state_file_bytes'] / 2**20:.1f} MiB) | |",
         "",
         "The maps are preallocated for 4096 ports, so their memory does not grow with "
         "ports: " + ", ".join(f"`{k}` {v['bytes'] / 2**20:.2f} MiB" for k, v in maps[:4]
                                if v["bytes"]) + ".",
         ""]
    sock, cli = st["socket"]["p50"], st["semi-netctl -j"]["p50"]
    L += ["**What `status` costs" + (" (target < 100 ms not met in this run)" if not
                                      t["status < 100 ms"] else "") + ".** "
          f"The request alone (an open socket) takes {sock} ms: semi-netd builds one JSON "
          "object per port, with the live path word read back from the datapath, and "
          f"serializes {c['status_bytes'] / 1024:.0f} KiB; semi-netctl adds "
          f"{cli - sock:.0f} ms (connect, reading and parsing that line). Both are CPU-bound "
          "on a machine whose 2 CPUs other work shares (the load in the header): the same "
          "figures stretch with it. A lighter status (counts and states only, or ports on "
          "request) is the daemon's next step if 4096-port tables are wanted under load.",
          ""]
    absent = c["absent_devices"]["seconds"]
    L += ["**Why adding 4096 ports takes " + f"{c['add']['seconds']:.1f} s" +
          (" (target < 1 s not met)" if not t["add < 1 s"] else "") + ".** "
          f"semi-netd's own work for {n} ports is {absent:.2f} s (the same requests, the "
          "devices absent); the rest is attaching `semi_port` (TC clsact ingress) to the "
          f"{2 * n} devices. `perf record` on semi-netd while it adds 4096 ports with "
          "devices (this machine, kernel 6.18): 63 % of its time in the loader's `tc_attach` "
          "-- mostly the kernel creating a clsact qdisc per device: "
          "`flow_indr_dev_setup_offload` alone 36 % (it walks a list of every tc block "
          "of the host, so each new qdisc costs more than the last), `synchronize_rcu_expedited` "
          "in `qdisc_graft` 8.5 % --, 10 % link lookups by name, 10 % the loader's port put, "
          "9 % semi-netd's linear scans (`port_check_unique`, `port_find`: O(n) per port). "
          "The fix is in the loader, not the daemon: TCX links (`bpf_link` attachment, "
          "kernel >= 6.6) need no qdisc; the daemon's scans want a name/device/MAC index "
          "next. Before the daemon's group commit (commit edc5e1f) the same add took minutes: "
          "every `port.add` rewrote the whole state file with two fsyncs (O(n^2) JSON; 1024 "
          "ports 7 s), which the daemon now does once per batch of requests that arrived "
          "together. The state file is still rewritten whole for every other command: one "
          "`switch` with 4096 ports waits for 1.8 MiB of JSON and two fsyncs (the last row).",
          ""]
    return L


def write(res, root, table_text):
    docs = os.path.join(root, "docs")
    os.makedirs(docs, exist_ok=True)
    t = res["sections"].get("throughput")
    if t and "figures" in t:
        svg = svg_throughput(t)
        if svg:
            with open(os.path.join(docs, SVG_NAME), "w") as f:
                f.write(svg)
    m = res["sections"].get("migration")
    if m and "summary" in m:
        svg = svg_migration(m)
        if svg:
            with open(os.path.join(docs, MIG_SVG_NAME), "w") as f:
                f.write(svg)
    with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
        f.write(markdown(res, table_text))
