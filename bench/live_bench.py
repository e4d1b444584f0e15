"""The live view (services/live.py) over the bench fleet: its CPU, and line-to-snapshot latency.

    sudo python3 bench/live_bench.py [--hosts 50] [--per-host 4] [--window 60] [--appends 50]
                                     [--refresh 2] [--render-window 30] [--json FILE]
    bash bench/run.sh --only live            # the same inside the whole benchmark

Standalone, it starts its own sshd fleet (`--fleet-dir`, default /tmp/coordbench-live-fleet)
and its own run roots (`~coordbench/cb-live-runs/<host>`), so it does not disturb a
`bench/run.sh` running beside it. Every host gets `--per-host` envelopes of RUNNING runs (a live
`sleep` as the wrapper, the first lines of a real stream-json transcript); the board knows them.

In this process, a `LiveView` at the default refresh runs until every machine is reachable and
every run followed (7 streaming channels per connection at most; the rest probed), settles for
two refreshes, then:

1. CPU: `time.process_time()` over `--window` seconds of wall time, nothing appended (steady
   state: one probe per host per refresh, the idle channels, snapshots on each tick).
2. CPU with drawing: the same over `--render-window` seconds while each new snapshot (and at
   least one a second) is drawn as `status --live` draws it, to a 200x50 console in memory.
3. Latency: `--appends` STATUS lines appended to runs on different hosts (the worker's file is
   local: the hosts are loopback sshd), each timed from the write to the first snapshot that
   shows it. The first is a warm-up. 0.3-0.7 s between appends, off the refresh's beat.

The process also runs the 50 sshd's traffic of its own connections; the sshd and `tail`
processes on the "workers" are other processes and are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import pwd
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import envelopes  # noqa: E402
from hosts import Fleet  # noqa: E402

WORK = Path("/tmp/coordbench-live-work")


def log(text: str) -> None:
    print(text, flush=True)


# --- the fleet's runs ------------------------------------------------------------------------------
def write_running(hosts: list, per_host: int, user: str, env: envelopes.Envelopes,
                  root_name: str) -> list[dict]:
    """`per_host` RUNNING envelopes on every host under ~user/<root_name>/<host>."""
    pw = pwd.getpwnam(user)
    fx = envelopes.fixture_dir()
    now = time.time()
    runs = []
    for hi, host in enumerate(hosts):
        root = Path(pw.pw_dir) / root_name / host.name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True, mode=0o700)
        for j in range(per_host):
            rid = envelopes.run_id(hi, j)
            pid = envelopes._start_sleeper(env, pw)
            envelopes._write_one(root / rid, rid, host.name, "running", fx, pid, now - 600 + j)
            runs.append({"id": rid, "machine": host.name, "state": "running",
                         "run_dir": str(root / rid)})
        envelopes._chown_tree(root.parent, pw.pw_uid, pw.pw_gid)
    return runs


def write_config(path: Path, hosts: list, root_name: str) -> Path:
    cfg = envelopes.write_config(path, hosts)
    text = cfg.read_text().replace("/cb-runs/", f"/{root_name}/")
    cfg.write_text(text)
    return cfg


# --- the measurement ---------------------------------------------------------------------------------
def status_line(marker: str, k: int) -> bytes:
    return (json.dumps({"type": "assistant", "session_id": "bench", "parent_tool_use_id": None,
                        "message": {"model": "claude-sonnet-4-6", "id": f"msg_live{k}",
                                    "type": "message", "role": "assistant",
                                    "content": [{"type": "text", "text": f"STATUS: {marker}"}]},
                        "uuid": f"u{k}"}) + "\n").encode()


async def until(view, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    snap = view.snapshot
    while not predicate(snap):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            snap = await asyncio.wait_for(view.next_snapshot(snap), left)
        except TimeoutError:
            return None
    return snap


def cpu_share(cpu: float, wall: float) -> float:
    return 100.0 * cpu / wall if wall else 0.0


async def measure(ctx, runs: list[dict], args) -> dict:
    from coordssh.cli.render.live import live_view
    from coordssh.services.live import LiveView
    from coordssh.services.live_link import FOLLOW_MAX

    out: dict = {"hosts": len(ctx.config.machines), "runs": len(runs), "refresh_s": args.refresh}
    want_streams = min(FOLLOW_MAX, args.per_host) * len(ctx.config.machines)
    t0 = time.perf_counter()
    async with LiveView(ctx, refresh=args.refresh) as view:
        ready = await until(view, lambda s: all(m.reachable for m in s.machines)
                            and sum(m.streams for m in s.machines) == want_streams, 180)
        out["ready_s"] = time.perf_counter() - t0
        if ready is None:
            out["error"] = f"not every run followed within 180 s: {view.snapshot.machines[:3]}"
            return out
        await asyncio.sleep(2 * args.refresh)
        out["steady"] = await _window(view, args.window, None)
        out["drawing"] = await _window(view, args.render_window, live_view)
        out["latency_ms"], out["samples_ms"], problems = await _latency(view, runs, args)
        if problems:
            out["error"] = "; ".join(problems)
        out["connections"] = sum(link.connects for link in view.links)
        out["probes"] = sum(link.refreshes for link in view.links)
    return out


async def _window(view, seconds: float, draw) -> dict:
    """CPU over `seconds` of wall time; with `draw`, every new snapshot (>= 1/s) drawn too."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200, height=50, force_terminal=True)
    probes0 = sum(link.refreshes for link in view.links)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    end = wall0 + seconds
    draws, snap = 0, view.snapshot
    while time.perf_counter() < end:
        if draw is None:
            await asyncio.sleep(end - time.perf_counter())
            break
        try:
            snap = await asyncio.wait_for(view.next_snapshot(snap), 1.0)
        except TimeoutError:
            pass
        console.file = io.StringIO()
        console.print(draw(view.snapshot, "coordinator.yml", 200, 50))
        draws += 1
        await asyncio.sleep(0.25)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"wall_s": wall, "cpu_s": cpu, "cpu_pct_of_one_core": cpu_share(cpu, wall),
            "probes": sum(link.refreshes for link in view.links) - probes0, "draws": draws}


async def _latency(view, runs: list[dict], args) -> tuple[dict | None, list[float], list[str]]:
    by_host: dict[str, list[dict]] = {}
    for run in runs:
        by_host.setdefault(run["machine"], []).append(run)
    order = [hr[k % len(hr)] for k in range(args.appends + 1)
             for hr in [list(by_host.values())[k % len(by_host)]]]
    samples, problems = [], []
    for k, run in enumerate(order):
        marker = f"bench-live-{k}-{time.time_ns()}"
        t0 = time.perf_counter()
        envelopes.append_line(run["run_dir"], status_line(marker, k))
        seen = await until(view, lambda s, rid=run["id"], mk=marker: any(
            r.id == rid and r.last_status == mk for r in s.runs), 10.0)
        if seen is None:
            problems.append(f"line {k} on {run['machine']} not shown within 10 s")
            continue
        if k:   # the first is the warm-up
            samples.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(random.uniform(0.3, 0.7))
    if not samples:
        return None, samples, problems
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return ({"median": statistics.median(samples), "p95": p95, "min": ordered[0],
             "max": ordered[-1], "n": len(samples)}, samples, problems)


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_NEEDED = 1024


def run_measurement(cfg: Path, home: Path, runs: list[dict], args) -> dict:
    """Each follow is a `tail -F` on the worker holding one inotify instance; Linux allows a
    user 128 (fs.inotify.max_user_instances), past which tail polls once a second. A real
    worker follows 7 runs; here 50 "workers" share one machine and one user, so the limit is
    raised for the run (root) and put back after, else a third of the lines would wait for a
    poll."""
    os.environ["HOME"] = str(home)           # asyncssh reads ~/.ssh/config: never the user's
    os.environ.pop("SSH_AUTH_SOCK", None)
    from coordssh.cli.context import build_context

    before = _inotify_limit(None)
    raised = before is not None and before < INOTIFY_NEEDED and _inotify_limit(INOTIFY_NEEDED)
    try:
        ctx = build_context(str(cfg))
        result = asyncio.run(measure(ctx, runs, args))
    finally:
        if raised:
            _inotify_limit(before)
    result["inotify_max_user_instances"] = INOTIFY_NEEDED if raised else before
    return result


def _inotify_limit(value: int | None) -> int | None:
    """Read (None) or set the limit; None/False when it cannot be done here."""
    try:
        if value is None:
            return int(INOTIFY.read_text())
        INOTIFY.write_text(f"{value}\n")
        return value
    except (OSError, ValueError):
        return None


# --- inside bench/run.py -------------------------------------------------------------------------------
def run_live(s) -> dict:
    """`bash bench/run.sh --only live`: the same measurement over run.py's fleet."""
    args = argparse.Namespace(per_host=4, window=30 if s.quick else 60, appends=50,
                              refresh=2.0, render_window=15 if s.quick else 30)
    runs = write_running(s.hosts, args.per_host, s.fleet.user, s.env, "cb-live-runs")
    cfg = write_config(s.work / "cfg-live" / "coordinator.yml", s.hosts, "cb-live-runs")
    envelopes.write_board(cfg.parent / ".coordssh", runs)
    return run_measurement(cfg, s.home, runs, args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--per-host", type=int, default=4)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--render-window", type=float, default=30.0)
    ap.add_argument("--appends", type=int, default=50)
    ap.add_argument("--refresh", type=float, default=2.0)
    ap.add_argument("--fleet-dir", default="/tmp/coordbench-live-fleet")
    ap.add_argument("--json", default="", help="also write the result here")
    args = ap.parse_args(argv)
    if WORK.exists():
        shutil.rmtree(WORK)
    home = WORK / "home"
    home.mkdir(parents=True)
    fleet = Fleet(root=Path(args.fleet_dir))
    env = envelopes.Envelopes()
    try:
        log(f"== starting {args.hosts} sshd hosts in {args.fleet_dir}")
        hosts = fleet.start(args.hosts)
        runs = write_running(hosts, args.per_host, fleet.user, env, "cb-live-runs")
        cfg = write_config(WORK / "coordinator.yml", hosts, "cb-live-runs")
        envelopes.write_board(cfg.parent / ".coordssh", runs)
        log(f"== live view over {len(hosts)} hosts x {args.per_host} running runs, refresh "
            f"{args.refresh:g} s; load {os.getloadavg()}")
        result = run_measurement(cfg, home, runs, args)
    finally:
        env.stop()
        fleet.stop()
    result["loadavg_at_end"] = os.getloadavg()
    text = json.dumps(result, indent=1, default=str)
    log(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
