"""The whole benchmark in one command: install, start hosts, measure, write results and the table.

    python3 bench/run.py [--quick] [--only status,startup,board,parse,watch,dispatch,live]
                         [--hosts 50] [--runs 5] [--netns]

Installs what it needs (openssh-server via apt-get when missing; ansible-core, pyinfra and
parallel-ssh each in its own venv under bench/.venvs/), starts the sshd hosts (bench/hosts.py),
writes M=4 run envelopes per host and the matching board rows, runs every measurement as whole
processes interleaved A B A B (bench/measure.py), writes bench/results/<timestamp>.json and
rewrites the table in docs/performance.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import envelopes  # noqa: E402
import live_bench  # noqa: E402
import measure  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
from hosts import Fleet, netns_available  # noqa: E402

GROUPS = ("startup", "status", "board", "parse", "watch", "dispatch", "live")
WORK = Path("/tmp/coordbench-work")
M_PER_HOST = 4


def log(text: str) -> None:
    print(text, flush=True)


def machine_info() -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    try:
        import asyncssh
        asyncssh_version = asyncssh.__version__
    except ImportError:
        asyncssh_version = "missing"
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                            "coordssh"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "python_executable": sys.executable,
            "openssh": ssh, "asyncssh": asyncssh_version, "commit": commit,
            "product_tree_dirty": bool(dirty), "loadavg_at_start": os.getloadavg()}


def ensure_coordssh() -> None:
    """The project itself: installed editable when it is not importable (a fresh machine), and
    byte-compiled."""
    probe = subprocess.run([sys.executable, "-c", "import coordssh.cli.main"], capture_output=True,
                           cwd="/")
    fast = subprocess.run([sys.executable, "-c", "import orjson"], capture_output=True, cwd="/")
    if probe.returncode != 0 or fast.returncode != 0:  # the `fast` extra: orjson for the parser
        log("  installing coordssh (pip install -e .[fast])")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{REPO}[fast]"],
                       check=True)
    # what `pip install` does for a regular install: byte-compile, so no run pays for compiling
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "coordssh"), str(BENCH)],
                   check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(GROUPS),
                    help=f"comma-separated subset of {','.join(GROUPS)}")
    ap.add_argument("--quick", action="store_true",
                    help="3 counted runs, no `ansible -m command`, status over 50 hosts only")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--runs", type=int, default=None, help="counted runs per case (default 5)")
    ap.add_argument("--netns", action="store_true", help="hosts in network namespaces (root)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = ap.parse_args(argv)
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(only) - set(GROUPS)
    if unknown:
        ap.error(f"unknown group(s) {','.join(sorted(unknown))}; choose from {','.join(GROUPS)}")
    runs = args.runs or (3 if args.quick else 5)
    started = time.time()

    log("== setup")
    ensure_coordssh()
    info = machine_info()
    if args.netns and not netns_available():
        log("  --netns asked but network namespaces are not available here: using loopback")
        args.netns = False
    need_peers = "status" in only
    info["peers"] = peers.ensure_venvs(log) if need_peers else {}
    info["mode"] = "netns" if args.netns else "loopback"
    log(f"  {info['cpu']}, {info['cores']} cores, kernel {info['kernel']}, python "
        f"{info['python']}, {info['openssh']}, load {info['loadavg_at_start']}")

    if WORK.exists():
        shutil.rmtree(WORK)
    home = WORK / "home"          # HOME of every client: the user's own ~/.ssh is never touched
    home.mkdir(parents=True)
    fleet = Fleet()
    env_state = envelopes.Envelopes()
    results: dict = {"machine": info, "started_at": started, "runs": runs, "quick": args.quick,
                     "hosts": args.hosts, "m_per_host": M_PER_HOST, "groups": {}}
    try:
        log(f"== starting {args.hosts} sshd hosts ({info['mode']})")
        hosts = fleet.start(args.hosts, netns=args.netns)
        envelopes.write_envelopes(hosts, M_PER_HOST, fleet.user, env_state)
        ctx = scenarios.Setup(work=WORK, home=home, fleet=fleet, hosts=hosts, env=env_state,
                              runs=runs, quick=args.quick, log=log)
        for group in only:
            log(f"== {group}")
            t0 = time.time()
            run_group = live_bench.run_live if group == "live" else getattr(scenarios,
                                                                            f"run_{group}")
            results["groups"][group] = run_group(ctx)
            log(f"   ({time.time() - t0:.0f} s)")
    finally:
        env_state.stop()
        fleet.stop()
    results["elapsed_s"] = time.time() - started
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(started))
    out = out_dir / f"{stamp}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    log(f"== results: {out}")
    rows = report.rows(results)
    log(report.table(rows))
    if not args.no_docs:
        report.rewrite_docs(REPO / "docs/performance.md", results, rows)
        log("== docs/performance.md rewritten")
    log(f"== done in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
