"""Dispatch latency: `coordssh assign` until `coordssh status --json` shows the run as running.

The worker (fleet host h0, over SSH) gets a plain git repo with a bare origin and a stand-in
`claude` that prints the first lines of the success fixture, then sleeps (so the run stays
running while it is observed). Each sample assigns a new issue number.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import envelopes
import measure
import scenarios

STANDIN = """#!/bin/sh
# coordssh bench: a stand-in for `claude -p --output-format stream-json --verbose`
cat > /dev/null
head -n 4 {fixture}
sleep 120
tail -n +5 {fixture}
"""


def prepare_worker(user: str) -> tuple[str, str]:
    """A repo with an origin and the stand-in claude under the login user's home."""
    pw = pwd.getpwnam(user)
    home = Path(pw.pw_dir)
    base = home / "cb-dispatch"
    fixture = base / "success.jsonl"
    script = f"""
set -e
rm -rf {base}; mkdir -p {base}/bin
cp {envelopes.fixture_dir() / 'success.jsonl'} {fixture}
git init -q --bare -b main {base}/origin.git
git init -q -b main {base}/demo
cd {base}/demo
git config user.email bench@coordssh.invalid; git config user.name bench
echo demo > README; git add README; git commit -qm init
git remote add origin {base}/origin.git; git push -q origin main
"""
    subprocess.run(["bash", "-c", script], check=True)
    (base / "bin/claude").write_text(STANDIN.format(fixture=fixture))
    os.chmod(base / "bin/claude", 0o755)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(base)], check=True)
    return str(base / "demo"), str(base / "bin/claude")


def find_status(obj, rid: str) -> str | None:
    """The status of assignment `rid` anywhere in status's JSON."""
    if isinstance(obj, dict):
        if obj.get("id") == rid and isinstance(obj.get("status"), str):
            return obj["status"]
        obj = list(obj.values())
    if isinstance(obj, list):
        for item in obj:
            got = find_status(item, rid)
            if got is not None:
                return got
    return None


def find_id(out: bytes) -> str | None:
    try:
        data = json.loads(out)
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("id", "assignment_id"):
                if isinstance(item.get(key), str):
                    return item[key]
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    return None


def measure_dispatch(s) -> dict:
    host = s.hosts[0]
    repo_path, claude = prepare_worker(host.user)
    cfg = envelopes.write_config(s.work / "cfg-dispatch" / "coordinator.yml", [host],
                                 repo_path=repo_path, claude_command=claude)
    env = scenarios.client_env(s, cfg)
    argv = scenarios.coordssh_argv()
    walls, assign_walls, errors, ids = [], [], [], []
    try:
        for k in range(s.runs + 1):
            t0 = time.perf_counter()
            got = subprocess.run([*argv, "assign", host.name, envelopes.REPO_NAME, str(500 + k),
                                  "--title", f"bench dispatch {k}", "--briefing", "do nothing",
                                  "--json"], env=env, cwd=str(cfg.parent), capture_output=True,
                                 timeout=120)
            t_assign = time.perf_counter() - t0
            rid = find_id(got.stdout)
            if got.returncode != 0 or rid is None:
                errors.append(f"assign exit {got.returncode}: {got.stdout[-300:]!r} "
                              f"{got.stderr[-600:]!r}")
                break
            ids.append(rid)
            state = None
            while time.perf_counter() - t0 < 60:
                st = subprocess.run([*argv, "status", "--json"], env=env, cwd=str(cfg.parent),
                                    capture_output=True, timeout=120)
                try:
                    state = find_status(json.loads(st.stdout), rid)
                except ValueError:
                    state = None
                if state == "running":
                    break
                time.sleep(0.05)
            if state != "running":
                errors.append(f"run {rid} not running after 60 s (last status {state!r})")
                break
            if k:  # the first is the warm-up
                walls.append(time.perf_counter() - t0)
                assign_walls.append(t_assign)
    finally:
        _kill_runs(host, ids)
    out: dict = {}
    if walls:
        out["wall"] = measure.stats(walls)
        out["assign_wall"] = measure.stats(assign_walls)
    if errors:
        out["error"] = "; ".join(errors)
    return out


def _kill_runs(host, ids: list[str]) -> None:
    root = Path(envelopes.run_root_for(host.user, host.name))
    for rid in ids:
        try:
            pid = int((root / rid / "pid").read_text().split()[0])
            os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError, ProcessLookupError):
            pass
