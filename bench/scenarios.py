"""The measurement groups of bench/run.py. Each `run_<group>(setup)` returns a JSON-able dict:

    {"cases": {name: summary}, "ratios": {"a / b": ratio}, "notes": [...], "missing": "..."}

A product command that does not exist yet is reported as missing (with the commit), never guessed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import envelopes
import measure
import peers
from measure import Case

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STATUS_SIZES = (1, 10, 50)


@dataclass
class Setup:
    work: Path
    home: Path
    fleet: object
    hosts: list
    env: envelopes.Envelopes
    runs: int
    quick: bool
    log: Callable[[str], None]


def coordssh_argv() -> list[str]:
    """The installed entry point beside this python (not a pyenv shim, which costs ~100 ms)."""
    script = Path(sys.executable).parent / "coordssh"
    return [str(script)] if script.exists() else [sys.executable, "-m", "coordssh"]


def client_env(s: Setup, config: Path | None = None) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE would make every coordssh run compile its modules from source (an
    # editable install has no install-time .pyc); run.py byte-compiles the package instead
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COORDSSH_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["HOME"] = str(s.home)
    if config is not None:
        env["COORDSSH_CONFIG"] = str(config)
    return env


def head_commit() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def command_missing(s: Setup, *words: str) -> str | None:
    """None when `coordssh WORDS --help` works, else the row text for the report."""
    got = subprocess.run([*coordssh_argv(), *words, "--help"], capture_output=True,
                         env=client_env(s), cwd=str(s.work))
    if got.returncode == 0:
        return None
    return f"not measured yet (command `coordssh {' '.join(words)}` missing at {head_commit()})"


def fleet_config(s: Setup, name: str, hosts: list, *, user: str | None = None,
                 finished_extra: int = 0, runs: list | None = None) -> Path:
    """A config directory with coordinator.yml over `hosts` and board rows for their envelopes."""
    cfg = envelopes.write_config(s.work / name / "coordinator.yml", hosts, user=user)
    names = {h.name for h in hosts}
    rows = runs if runs is not None else [r for r in s.env.runs if r["machine"] in names]
    envelopes.write_board(cfg.parent / ".coordssh", rows, finished_extra=finished_extra)
    return cfg


def json_check(out: bytes) -> str | None:
    try:
        json.loads(out)
    except ValueError as exc:
        return f"stdout is not JSON ({exc})"
    return None


def status_case(s: Setup, label: str, cfg: Path) -> Case:
    return Case(label, [*coordssh_argv(), "status", "--json"], env=client_env(s, cfg),
                cwd=str(cfg.parent), check=json_check)


def floor_case(s: Setup, label: str, n: int, user: str | None = None) -> Case:
    argv = [sys.executable, str(BENCH / "floor_asyncssh.py"), str(s.fleet.root / "hosts.json"),
            str(n)] + (["--user", user] if user else [])
    return Case(label, argv, env=client_env(s), cwd=str(s.work),
                check=lambda out: None if f"{n}/{n} ok".encode() in out else "floor failed")


def finish(result: measure.Result, pairs: list[tuple[str, str]], **extra) -> dict:
    ratios = {}
    for a, b in pairs:
        r = result.ratio(a, b)
        if r is not None:
            ratios[f"{a} / {b}"] = r
    return {"cases": result.summary(), "ratios": ratios, **extra}


# --- start-up ---------------------------------------------------------------------------------
def run_startup(s: Setup) -> dict:
    # the empty fleet (the budget line), and one local machine with no runs (a local `sh` probe)
    empty = s.work / "cfg-none" / "coordinator.yml"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("repos: []\nmachines: []\n")
    cfg = s.work / "cfg-empty" / "coordinator.yml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"repos:\n  - name: {envelopes.REPO_NAME}\nmachines:\n  - name: here\n"
                   f"    host: localhost\n    run_root: {cfg.parent / 'runs'}\n")
    cases = [Case("python3 -c pass", [sys.executable, "-c", "pass"], env=client_env(s)),
             Case("typer floor: one command, one option", [sys.executable,
                  str(BENCH / "typer_floor.py"), "status", "--json"], env=client_env(s)),
             Case("coordssh --version", [*coordssh_argv(), "--version"], env=client_env(s))]
    missing = command_missing(s, "status")
    if missing is None:
        cases.append(Case(NO_MACHINES, [*coordssh_argv(), "status"],
                          env=client_env(s, empty), cwd=str(empty.parent)))
        cases.append(Case(EMPTY_STATUS, [*coordssh_argv(), "status"],
                          env=client_env(s, cfg), cwd=str(cfg.parent)))
        cases.append(Case(EMPTY_PROTO, [sys.executable, str(BENCH / "proto_status_fastpath.py")],
                          env=client_env(s, cfg), cwd=str(cfg.parent), check=json_check))
    result = measure.interleave(cases, warmup=1, runs=max(s.runs, 5) * 2, log=s.log)
    return finish(result, [("coordssh --version", "python3 -c pass"),
                           (NO_MACHINES, "python3 -c pass"),
                           (EMPTY_STATUS, "python3 -c pass"),
                           (EMPTY_STATUS, "typer floor: one command, one option"),
                           (EMPTY_PROTO, "python3 -c pass")],
                  **({"missing": {EMPTY_STATUS: missing}} if missing else {}))


NO_MACHINES = "coordssh status (no machines)"
EMPTY_STATUS = "coordssh status (one local machine, no runs)"
EMPTY_PROTO = "prototype: status --json without typer/rich (one local machine)"


# --- status over 1, 10, 50 hosts -----------------------------------------------------------------
def run_status(s: Setup) -> dict:
    missing = command_missing(s, "status")
    n_max = len(s.hosts)
    sizes = [n for n in STATUS_SIZES if n < n_max and not s.quick] + [n_max]
    out: dict = {"sizes": {}}
    root_size = 10 if 10 in sizes else None   # quick mode skips the root login
    for n in sizes:
        hosts = s.hosts[:n]
        s.log(f"  -- {n} host(s), {sum(r['machine'] in {h.name for h in hosts} for r in s.env.runs)} runs")
        cases, pairs = [], []
        floor = f"floor: asyncssh fan-out, {n} hosts"
        if missing is None:
            me = f"coordssh status --json, {n} hosts"
            cfg = fleet_config(s, f"cfg-{n}", hosts)
            cases.append(status_case(s, me, cfg))
            pairs.append((me, floor))
            if n == n_max:
                proto = f"prototype: status --json without typer/rich, {n} hosts"
                cases.append(Case(proto, [sys.executable, str(BENCH / "proto_status_fastpath.py")],
                                  env=client_env(s, cfg), cwd=str(cfg.parent), check=json_check))
                pairs += [(proto, floor), (proto, me)]
        cases.append(floor_case(s, floor, n))
        if n == n_max:
            work = s.work / "peers"
            peers.write_peer_files(work, hosts, s.home, s.fleet.ssh_config)
            peer_cases = peers.cases(work, hosts, s.home)
            if s.quick:
                peer_cases = [c for c in peer_cases if "-m command" not in c.name]
            cases += peer_cases
            if missing is None:
                pairs += [(me, c.name) for c in peer_cases]
            else:
                pairs += [(floor, c.name) for c in peer_cases]
        if n == root_size:
            # the root login's ~/.bashrc runs `pyenv init`: what a user with a heavy rc file pays
            root_floor = f"floor: asyncssh fan-out, {n} hosts, root login"
            cases.append(floor_case(s, root_floor, n, user="root"))
            if missing is None:
                root_me = f"coordssh status --json, {n} hosts, root login"
                cases.append(status_case(s, root_me, fleet_config(s, f"cfg-{n}-root", hosts,
                                                                  user="root")))
                pairs.append((root_me, root_floor))
        result = measure.interleave(cases, warmup=1, runs=s.runs, log=s.log)
        out["sizes"][str(n)] = finish(result, pairs)
    if missing:
        out["missing"] = missing
    return out


# --- status with a long history on the board ------------------------------------------------------
def run_board(s: Setup) -> dict:
    """The board's cost alone: the same envelopes read through the local transport (no SSH, whose
    connection time would drown a 100 ms difference in noise), with and without 5,000 finished rows."""
    missing = command_missing(s, "status")
    if missing:
        return {"missing": missing}
    host = s.hosts[0]
    runs = [r for r in s.env.runs if r["machine"] == host.name]

    def local_config(name: str, extra: int) -> Path:
        cfg = s.work / name / "coordinator.yml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(f"repos:\n  - name: {envelopes.REPO_NAME}\nmachines:\n"
                       f"  - name: {host.name}\n    host: localhost\n    connection: local\n"
                       f"    run_root: {envelopes.run_root_for(host.user, host.name)}\n")
        envelopes.write_board(cfg.parent / ".coordssh", runs, finished_extra=extra,
                              extra_machine=host.name)
        return cfg

    base = status_case(s, "status --json, local machine, board of 4 rows",
                       local_config("cfg-board-4", 0))
    big = status_case(s, "status --json, local machine, board +5,000 finished",
                      local_config("cfg-board-5000", 5000))
    result = measure.interleave([base, big], warmup=1, runs=max(s.runs, 5) * 2, log=s.log)
    out = finish(result, [(big.name, base.name)])
    sb, sa = result.samples.get(big.name), result.samples.get(base.name)
    if sa and sb:
        deltas = [b.wall - a.wall for a, b in zip(sa, sb)]
        out["added_ms"] = {
            "of_medians": (statistics.median(x.wall for x in sb)
                           - statistics.median(x.wall for x in sa)) * 1000,
            "per_round": measure.stats([d * 1000 for d in deltas]),
            "cpu_of_medians": (statistics.median(x.cpu for x in sb)
                               - statistics.median(x.cpu for x in sa)) * 1000}
    return out


# --- stream-json parsing throughput (in a child process, so it owns a core) -----------------------
PARSE_SNIPPET = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from stream_parser import typical_stream
from coordssh.agent.stream import StreamState
data = typical_stream(int(sys.argv[2]))
state = StreamState()
w0, c0 = time.perf_counter(), time.process_time()
for i in range(0, len(data), 65536):
    state.feed(data[i:i + 65536])
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
# the floor: decoding every line with the same JSON decoder, nothing else
from coordssh.agent.stream_lines import _loads
lines = [ln for ln in data.split(b"\n") if ln]
f0 = time.perf_counter()
for ln in lines:
    _loads(ln)
floor = time.perf_counter() - f0
print(json.dumps({"events": state.events, "bytes": len(data), "wall": wall, "cpu": cpu,
                  "decode_floor": floor, "decoder": getattr(_loads, "__module__", "?")}))
"""


def run_parse(s: Setup) -> dict:
    probe = subprocess.run([sys.executable, "-c", "import coordssh.agent.stream"],
                           capture_output=True, cwd=str(REPO))
    if probe.returncode != 0:
        return {"missing": f"not measured yet (coordssh.agent.stream missing at {head_commit()})"}
    copies = 300 if s.quick else 1000
    samples = []
    for i in range(s.runs + 1):
        got = subprocess.run([sys.executable, "-c", PARSE_SNIPPET, str(BENCH), str(copies)],
                             capture_output=True, text=True, cwd=str(REPO))
        if got.returncode != 0:
            return {"error": got.stderr[-2000:]}
        if i:  # the first is the warm-up
            samples.append(json.loads(got.stdout))
    events = samples[0]["events"]
    rate_wall = [x["events"] / x["wall"] for x in samples]
    rate_cpu = [x["events"] / x["cpu"] for x in samples]
    s.log(f"    {events:,} events, {samples[0]['bytes'] / 1e6:.1f} MB: median "
          f"{statistics.median(rate_wall):,.0f} events/s (wall)")
    floor = [x["events"] / x["decode_floor"] for x in samples]
    return {"events": events, "bytes": samples[0]["bytes"], "decoder": samples[0]["decoder"],
            "decode_floor_events_per_s": measure.stats(floor),
            "vs_decode_floor": statistics.median(rate_wall) / statistics.median(floor),
            "events_per_s_wall": measure.stats(rate_wall),
            "events_per_s_cpu": measure.stats(rate_cpu)}


# --- watch latency ------------------------------------------------------------------------------
def run_watch(s: Setup) -> dict:
    missing = command_missing(s, "watch")
    if missing:
        return {"missing": missing}
    return watch_latency(s)


def watch_latency(s: Setup) -> dict:
    """Append a line to a running run's stream.jsonl; time until `coordssh watch` prints it."""
    running = next(r for r in s.env.runs if r["state"] == "running")
    host = next(h for h in s.hosts if h.name == running["machine"])
    cfg = fleet_config(s, "cfg-watch", [host])
    env = dict(client_env(s, cfg), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*coordssh_argv(), "watch", running["id"]], env=env,
                            cwd=str(cfg.parent), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buf = bytearray()

    def read_until(marker: bytes, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if marker in buf:
                return time.perf_counter()
            if proc.poll() is not None and marker not in buf:
                _drain(fd, buf)
                return time.perf_counter() if marker in buf else None
            import select
            select.select([fd], [], [], 0.005)
            _drain(fd, buf)
            if marker in buf:
                return time.perf_counter()
        return None

    latencies, problems = [], []
    try:
        time.sleep(3.0)          # let watch connect, catch up and start following
        _drain(fd, buf)
        for k in range(s.runs * 2 + 1):
            marker = f"bench-watch-{k}-{time.time_ns()}"
            line = json.dumps({"type": "assistant", "message": {
                "model": "claude-sonnet-4-6", "id": f"msg_bench{k}", "type": "message",
                "role": "assistant", "content": [{"type": "text", "text": f"STATUS: {marker}"}],
                "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}},
                "parent_tool_use_id": None, "session_id": "bench", "uuid": f"u{k}"}) + "\n"
            t0 = time.perf_counter()
            envelopes.append_line(running["run_dir"], line.encode())
            t1 = read_until(marker.encode(), 10.0)
            if t1 is None:
                problems.append(f"line {k} not printed within 10 s")
                break
            if k:   # the first is the warm-up
                latencies.append((t1 - t0) * 1000)
            time.sleep(0.3)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read()[-1000:].decode("utf-8", "replace")
    out = {"latency_ms": measure.stats(latencies) if latencies else None, "samples": latencies}
    if problems:
        out["error"] = "; ".join(problems) + (f"; stderr: {err}" if err else "")
    return out


def _drain(fd: int, buf: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        buf += chunk


# --- dispatch -----------------------------------------------------------------------------------
def run_dispatch(s: Setup) -> dict:
    missing = command_missing(s, "assign") or command_missing(s, "status")
    if missing:
        return {"missing": missing}
    import dispatch
    return dispatch.measure_dispatch(s)
