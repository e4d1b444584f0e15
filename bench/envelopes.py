"""Run envelopes (docs/architecture.md) on the bench hosts, the matching board rows, coordinator.yml.

Every host gets its own run_root (`/home/<user>/cb-runs/<host>`) holding M envelopes in assorted
states: running (the pid of a live `sleep` owned by the login user, its own process group) and
finished with each outcome (done, advisory, stuck, max_turns, usage_limited, api_error,
auth_failed, crashed, cancelled), with stream.jsonl taken from the stream-json fixtures.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DIRS = (REPO / "tests/fixtures/stream-json", REPO.parent / "shared/fixtures/stream-json")
DEAD_PID = 4_000_001          # above any pid this kernel hands out: kill -0 says ESRCH
REPO_NAME = "demo"

# state -> (fixture, lines kept (None: all), exit_code)
STATES = {
    "running": ("success.jsonl", 8, None),
    "done": ("success.jsonl", None, 0),
    "max_turns": ("max_turns.jsonl", None, 1),
    "stuck": ("stuck.jsonl", None, 0),
    "crashed": ("crashed.jsonl", None, 137),
    "usage_limited": ("rate_limited.jsonl", None, 1),
    "advisory": ("success.jsonl", None, 0),
    "api_error": ("api_error.jsonl", None, 1),
    "auth_failed": ("auth_failed.jsonl", None, 1),
    "cancelled": ("success.jsonl", 6, 143),
}
# the order envelopes cycle through: about one in four is running
CYCLE = ("running", "done", "max_turns", "stuck", "running", "crashed", "usage_limited",
         "advisory", "running", "api_error", "auth_failed", "cancelled")


def fixture_dir() -> Path:
    for d in FIXTURE_DIRS:
        if (d / "success.jsonl").exists():
            return d
    raise FileNotFoundError(f"no stream-json fixtures in {FIXTURE_DIRS}")


def run_id(host_index: int, j: int) -> str:
    return f"b{host_index:03d}{j:04d}"


@dataclass
class Envelopes:
    """What was written: ids per host and state, and the sleep processes behind running ones."""

    runs: list[dict] = field(default_factory=list)       # {id, machine, state, run_dir}
    sleepers: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.sleepers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.sleepers.clear()


def run_root_for(user: str, host_name: str) -> str:
    return f"{pwd.getpwnam(user).pw_dir}/cb-runs/{host_name}"


def write_envelopes(hosts: list, m: int, user: str, env: Envelopes | None = None) -> Envelopes:
    """M envelopes per host (hosts: objects with .name), states cycling through CYCLE."""
    env = env or Envelopes()
    fx = fixture_dir()
    pw = pwd.getpwnam(user)
    now = time.time()
    k = 0
    for hi, host in enumerate(hosts):
        root = Path(run_root_for(user, host.name))
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True, mode=0o700)
        for j in range(m):
            state = CYCLE[k % len(CYCLE)]
            k += 1
            rid = run_id(hi, j)
            d = root / rid
            pid = _start_sleeper(env, pw) if state == "running" else DEAD_PID
            _write_one(d, rid, host.name, state, fx, pid, now - 3600 + k)
            env.runs.append({"id": rid, "machine": host.name, "state": state, "run_dir": str(d)})
        _chown_tree(root.parent, pw.pw_uid, pw.pw_gid)
    return env


def _write_one(d: Path, rid: str, machine: str, state: str, fx: Path, pid: int,
               started: float) -> None:
    fixture, keep, exit_code = STATES[state]
    d.mkdir(mode=0o700)
    meta = {"id": rid, "machine": machine, "repo": REPO_NAME, "issue": 100,
            "branch": f"issue-100-{rid}", "base_branch": "main", "base_sha": "0" * 40,
            "worktree": f"~/.coordssh/worktrees/{REPO_NAME}/{rid}", "model": "claude-sonnet-4-6",
            "role": "implement", "launcher": "nohup", "created_at": started - 5}
    files = {
        "meta.json": json.dumps(meta),
        "prompt.md": "Fix issue #100.\n",
        "run.sh": "#!/bin/sh\n# bench stand-in: never run\nexit 0\n",
        "pid": f"{pid}\n",
        "started_at": f"{int(started)}\n",
        "stderr.log": "",
    }
    data = (fx / fixture).read_bytes()
    if keep is not None:
        data = b"".join(data.splitlines(keepends=True)[:keep])
    (d / "stream.jsonl").write_bytes(data)
    if exit_code is not None:
        files["claude_exit"] = f"{exit_code}\n"
        files["exit_code"] = f"{exit_code}\n"
        files["pushed_sha"] = ("1" * 40 + "\n") if state == "done" else "\n"
        if state == "cancelled":
            files["cancelled"] = f"{int(started + 60)}\n"
        files["finished_at"] = f"{int(started + 120)}\n"      # written last by the trap
    for name, text in files.items():
        (d / name).write_text(text)


def append_line(run_dir: str, line: bytes) -> None:
    with open(Path(run_dir) / "stream.jsonl", "ab") as fh:
        fh.write(line)


def _start_sleeper(env: Envelopes, pw: pwd.struct_passwd) -> int:
    kwargs = {} if os.geteuid() != 0 else {"user": pw.pw_uid, "group": pw.pw_gid}
    proc = subprocess.Popen(["sleep", "86400"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, **kwargs)
    env.sleepers.append(proc)
    return proc.pid


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid)


# --- the board ------------------------------------------------------------------------------------
def write_board(state_dir: Path, runs: list[dict], *, finished_extra: int = 0,
                extra_machine: str = "h0") -> str:
    """Board rows for `runs` (as dispatched: status running), plus `finished_extra` finished rows.

    Returns "board" when written through coordssh.board.store.Board, else the reason it was not.
    """
    try:
        from coordssh.board.store import Board
        from coordssh.domain import models
    except ImportError as exc:
        return f"no board ({exc})"
    if state_dir.exists():
        shutil.rmtree(state_dir)
    board = Board.open(state_dir)
    now = time.time()
    with board.transaction() as tx:
        for i, run in enumerate(runs):
            tx.put(_assignment(models, run["id"], run["machine"], run["run_dir"], models.RUNNING,
                               now - 3600 + i, None))
        terminal = sorted(models.TERMINAL_STATUSES)
        for i in range(finished_extra):
            rid = f"f{i:07d}"
            tx.put(_assignment(models, rid, extra_machine, f"/nonexistent/{rid}",
                               terminal[i % len(terminal)], now - 90 * 86400 + i * 60,
                               now - 90 * 86400 + i * 60 + 600))
    return "board"


def _assignment(models, rid: str, machine: str, run_dir: str, status: str, created: float,
                finished: float | None):
    return models.Assignment(
        id=rid, machine=machine, repo=REPO_NAME, issue=100, branch=f"issue-100-{rid}",
        title="bench assignment", worktree=f"~/.coordssh/worktrees/{REPO_NAME}/{rid}",
        run_dir=run_dir, model="claude-sonnet-4-6", status=status, created_at=created,
        started_at=created + 5, finished_at=finished, updated_at=finished or created,
        reason="bench" if finished else "")


# --- coordinator.yml ------------------------------------------------------------------------------
def write_config(path: Path, hosts: list, *, user: str | None = None, extra: str = "",
                 repo_path: str | None = None, claude_command: str | None = None) -> Path:
    """coordinator.yml for `hosts` (objects with name/host/port/user/client_key/known_hosts)."""
    lines = ["state_dir: .coordssh", ""]
    if claude_command:
        lines.append(f"claude_command: {claude_command}")
    lines += ["repos:", f"  - name: {REPO_NAME}", "", "machines:" if hosts else "machines: []"]
    for h in hosts:
        login = user or h.user
        lines += [f"  - name: {h.name}", f"    host: {h.host}", "    connection: ssh",
                  f"    port: {h.port}", f"    user: {login}",
                  f"    identity_file: {h.client_key}", f"    known_hosts: {h.known_hosts}",
                  f"    run_root: {run_root_for(h.user, h.name)}",
                  f"    worktree_root: {pwd.getpwnam(h.user).pw_dir}/cb-worktrees/{h.name}",
                  "    launcher: nohup", "    max_workers: 100"]
        if repo_path:
            lines += ["    repo_paths:", f"      {REPO_NAME}: {repo_path}"]
    lines += ["", extra]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
