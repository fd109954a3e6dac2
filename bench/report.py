# SPDX-License-Identifier: GPL-2.0
"""Write docs/BENCHMARKS.md and docs/bench-throughput.svg from bench.py's
results.  The SVG is written by hand: no plotting library needed."""
import html
import os

SVG_NAME = "bench-throughput.svg"

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
         "* **Command:** `make bench` (as root; it runs `make tests` first), "
         f"{res['seconds']:.0f} s in all",
         "* **Raw results:** `build/bench/results.json`",
         ""]
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


def write(res, root, table_text):
    docs = os.path.join(root, "docs")
    os.makedirs(docs, exist_ok=True)
    t = res["sections"].get("throughput")
    if t and "figures" in t:
        svg = svg_throughput(t)
        if svg:
            with open(os.path.join(docs, SVG_NAME), "w") as f:
                f.write(svg)
    with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
        f.write(markdown(res, table_text))
