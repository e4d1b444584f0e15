"""The table in docs/performance.md, rebuilt from one results file (bench/results/<stamp>.json).

    python3 bench/report.py bench/results/<stamp>.json     # rewrite the docs from a saved run

Only the text between the markers is replaced; the rest of the page is prose kept by hand.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

BEGIN = "<!-- bench:begin (written by bench/run.py; edit outside the markers) -->"
END = "<!-- bench:end -->"
COMMAND = "sudo python3 bench/run.py        # or: bash bench/run.sh [--quick] [--only status,startup]"

HEADER = ("| measurement | median | min | max | CPU (median) | peak RSS (median) | ratio (same run) "
          "| budget | met? |\n|---|---|---|---|---|---|---|---|---|")


def _ms(x: float) -> str:
    return f"{x * 1000:,.0f} ms" if x >= 0.01 else f"{x * 1000:.1f} ms"


def _case_row(name: str, c: dict, ratio: str = "", budget: str = "", met: str = "") -> str:
    if "wall" not in c:
        return f"| {name} | failed: {c.get('error', '?')[:160]} | | | | | | {budget} | no |"
    w = c["wall"]
    return (f"| {name} | {_ms(w['median'])} | {_ms(w['min'])} | {_ms(w['max'])} | "
            f"{_ms(c['cpu']['median'])} | {c['rss_mb']['median']:.0f} MB | {ratio} | {budget} | {met} |")


def _cpu(ratio: dict) -> str:
    c = ratio.get("cpu_of_medians")
    return f" (CPU {c:.2f} x)" if c else ""


def _floor(parse: dict) -> str:
    r = parse.get("vs_decode_floor")
    return f"{r:.2f} x the decode-only floor" if r else ""


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("**yes**" if ok else "**NO**")


def rows(results: dict) -> list[str]:
    out: list[str] = []
    g = results.get("groups", {})
    if "startup" in g:
        st = g["startup"]
        cases = st.get("cases", {})
        for name, c in cases.items():
            budget, ok = "", None
            if name == "coordssh --version" and "wall" in c:
                budget, ok = "<= 150 ms", c["wall"]["median"] <= 0.150
            elif name == "coordssh status (no machines)" and "wall" in c:
                budget, ok = "<= 200 ms", c["wall"]["median"] <= 0.200
            r = st["ratios"].get(f"{name} / python3 -c pass")
            ratio = f"{r['of_medians']:.1f} x python{_cpu(r)}" if r else ""
            out.append(_case_row(name, c, ratio, budget, _verdict(ok)))
        for name, text in st.get("missing", {}).items():
            out.append(f"| {name} | {text} | | | | | | <= 200 ms | not measured |")
    if "status" in g:
        st = g["status"]
        if st.get("missing"):
            out.append(f"| coordssh status --json (1/10/50 hosts) | {st['missing']} | | | | | | "
                       "see budget | not measured |")
        for n, size in st.get("sizes", {}).items():
            ratios = size.get("ratios", {})
            for name, c in size.get("cases", {}).items():
                ratio, budget, ok = "", "", None
                if name.startswith("coordssh status"):
                    floor = [v for k, v in ratios.items() if k.startswith(name + " / floor")]
                    if floor:
                        ratio = f"{floor[0]['of_medians']:.2f} x floor{_cpu(floor[0])}"
                        if name.endswith("hosts") and n == str(results.get("hosts")):
                            budget, ok = "<= 1.3 x floor", floor[0]["of_medians"] <= 1.3
                    if name.endswith(f"{n} hosts") and n == str(results.get("hosts")) and "rss_mb" in c:
                        rss_ok = c["rss_mb"]["max"] < 100
                        budget += ("; " if budget else "") + "peak RSS < 100 MB"
                        ok = rss_ok if ok is None else (ok and rss_ok)
                elif name.startswith("prototype"):
                    mine = [f"{v['of_medians']:.2f} x {k.split(' / ')[1].split(',')[0]}"
                            for k, v in ratios.items() if k.startswith(name + " / ")]
                    ratio = "; ".join(mine)
                else:
                    mine = [v for k, v in ratios.items()
                            if k.endswith(" / " + name) and k.startswith("coordssh")]
                    if mine:
                        ratio = f"coordssh = {mine[0]['of_medians']:.2f} x this{_cpu(mine[0])}"
                        if name.startswith("pyinfra"):
                            budget, ok = "coordssh <= 0.6 x", mine[0]["of_medians"] <= 0.6
                        elif name == "ansible -m raw (warm ControlPersist)":
                            budget, ok = "coordssh <= 0.25 x", mine[0]["of_medians"] <= 0.25
                    elif not name.startswith("floor"):
                        floor = [v for k, v in ratios.items() if k.endswith(" / " + name)]
                        if floor:
                            ratio = f"floor = {floor[0]['of_medians']:.2f} x this"
                out.append(_case_row(name, c, ratio, budget, _verdict(ok)))
    if "board" in g:
        b = g["board"]
        if b.get("missing"):
            out.append(f"| status, +5,000 finished rows on the board | {b['missing']} | | | | | | "
                       "<= +100 ms | not measured |")
        else:
            for name, c in b.get("cases", {}).items():
                out.append(_case_row(name, c))
            if "added_ms" in b:
                # each round runs both cases back to back: the median of the paired differences
                # is robust to the load drifting between rounds, the difference of medians is not
                a = b["added_ms"]
                pr = a["per_round"]
                out.append(f"| status: added by 5,000 finished rows (paired, per round) | "
                           f"{pr['median']:+.0f} ms | {pr['min']:+.0f} ms | {pr['max']:+.0f} ms | "
                           f"{a.get('cpu_of_medians', 0):+.0f} ms | | difference of medians "
                           f"{a['of_medians']:+.0f} ms | <= +100 ms | {_verdict(pr['median'] <= 100)} |")
    if "parse" in g:
        p = g["parse"]
        if p.get("missing") or p.get("error"):
            out.append(f"| stream-json parsing | {p.get('missing') or p.get('error')[:200]} | | | | "
                       "| | >= 100,000 events/s | not measured |")
        else:
            w, c = p["events_per_s_wall"], p["events_per_s_cpu"]
            out.append(f"| stream-json parsing, {p['events']:,} typical events ({p['bytes'] / 1e6:.0f} MB)"
                       f" | {w['median']:,.0f} events/s | {w['min']:,.0f} | {w['max']:,.0f} | "
                       f"{c['median']:,.0f} events/CPU-s | | {_floor(p)} | >= 100,000 events/s | "
                       f"{_verdict(w['median'] >= 100_000)} |")
            if "decode_floor_events_per_s" in p:
                f = p["decode_floor_events_per_s"]
                out.append(f"| floor: decoding the same lines with {p['decoder']}.loads only | "
                           f"{f['median']:,.0f} events/s | {f['min']:,.0f} | {f['max']:,.0f} | | | | | |")
    if "watch" in g:
        wt = g["watch"]
        if wt.get("missing"):
            out.append(f"| watch: line appended on the worker until printed | {wt['missing']} | | | "
                       "| | | <= 100 ms | not measured |")
        elif wt.get("latency_ms"):
            lat = wt["latency_ms"]
            out.append(f"| watch: line appended on the worker until printed | {lat['median']:.1f} ms | "
                       f"{lat['min']:.1f} ms | {lat['max']:.1f} ms | | | {len(wt['samples'])} lines "
                       f"| <= 100 ms | {_verdict(lat['median'] <= 100)} |")
        else:
            out.append(f"| watch latency | failed: {wt.get('error', '?')[:200]} | | | | | | <= 100 ms | no |")
    if "live" in g:
        out += live_rows(g["live"])
    if "dispatch" in g:
        d = g["dispatch"]
        if d.get("missing") or d.get("error"):
            out.append(f"| dispatch: assign until running | {(d.get('missing') or d.get('error'))[:300]} "
                       "| | | | | | (none) | |")
        else:
            w = d["wall"]
            a = d["assign_wall"]
            out.append(f"| dispatch: `assign` until `status` shows it running | {_ms(w['median'])} | "
                       f"{_ms(w['min'])} | {_ms(w['max'])} | | | `assign` alone: "
                       f"{_ms(a['median'])} | (no budget) | |")
    return out


def table(row_lines: list[str]) -> str:
    return HEADER + "\n" + "\n".join(row_lines)


def block(results: dict, row_lines: list[str]) -> str:
    m = results["machine"]
    peers = ", ".join(f"{k} {v}" for k, v in m.get("peers", {}).items())
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(results["started_at"]))
    dirty = " (plus uncommitted product changes)" if m.get("product_tree_dirty") else ""
    return "\n".join([
        BEGIN,
        f"Measured {when} at commit `{m['commit']}`{dirty}; {results['hosts']} hosts "
        f"({m.get('mode', 'loopback')}), {results['m_per_host']} run envelopes per host, "
        f"{results['runs']} counted runs per case after one warm-up, interleaved"
        f"{' (quick mode)' if results.get('quick') else ''}; the whole run took "
        f"{results.get('elapsed_s', 0) / 60:.1f} min.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        f"{m['openssh']}, asyncssh {m['asyncssh']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['loadavg_at_start'])}." + (f" Peers: {peers}." if peers else ""),
        "",
        table(row_lines),
        "",
        f"Raw numbers: `bench/results/{time.strftime('%Y%m%dT%H%M%S', time.localtime(results['started_at']))}.json` "
        "(not committed; rerun to get your own).",
        END,
    ])


def live_rows(lv: dict) -> list[str]:
    """The live view (bench/live_bench.py): CPU of its process, and line-to-snapshot latency."""
    if "steady" not in lv:
        return [f"| status --live over the fleet | failed: {lv.get('error', '?')[:200]} | | | | | "
                "| < 5 % of one core | no |"]
    rows = []
    for key, label in (("steady", "status --live service: CPU of one core, 4 runs/host"),
                       ("drawing", "status --live service + drawing each snapshot: CPU")):
        w = lv.get(key)
        if w:
            pct = w["cpu_pct_of_one_core"]
            rows.append(f"| {label} | {pct:.1f} % | | | {w['cpu_s']:.2f} s in {w['wall_s']:.0f} s "
                        f"| | {w['probes']} probes | < 5 % | {_verdict(pct < 5)} |")
    lat = lv.get("latency_ms")
    if lat:
        rows.append(f"| status --live: line appended on a worker until a snapshot shows it | "
                    f"{lat['median']:.1f} ms | {lat['min']:.1f} ms | {lat['max']:.1f} ms | | | "
                    f"p95 {lat['p95']:.1f} ms, {lat['n']} lines | <= 1 s | "
                    f"{_verdict(lat['p95'] <= 1000)} |")
    return rows


def rewrite_docs(path: Path, results: dict, row_lines: list[str]) -> None:
    text = path.read_text() if path.exists() else ""
    new = block(results, row_lines)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + new + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Performance\n\n") + new + "\n"
    path.write_text(text)


if __name__ == "__main__":
    res = json.loads(Path(sys.argv[1]).read_text())
    lines = rows(res)
    rewrite_docs(Path(__file__).resolve().parents[1] / "docs/performance.md", res, lines)
    print(table(lines))
