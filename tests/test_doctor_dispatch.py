"""`coordssh doctor --dispatch`: a real run with the replay agent on a local and an ssh machine.

It must pass on a healthy machine with either launcher, and leave nothing behind: no scratch
directory under run_root, no throwaway board in the state dir, no row on the real board, no tmux
session, and the user's own repo and origin unchanged. A broken machine fails with a fix.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.cli.context import build_context
from coordssh.cli.main import main
from coordssh.config.schema import Machine
from coordssh.remote.tmux import session_name
from coordssh.services.doctor import run_doctor
from tests.test_doctor import (by_name, doctor_json, fake_claude, machine_entry, repo_with_origin,
                               write_config)


def refs(repo: Path) -> str:
    return subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)"], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def has_session(name: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", f"={name}"], capture_output=True,
                          check=False).returncode == 0


def leftovers(machine: Machine, state_dir: Path) -> list[str]:
    found = [p.name for p in Path(machine.run_root).glob(".doctor-*")]
    found += [p.name for p in state_dir.glob("doctor-*")]
    return found + [row.id for row in Board.open(state_dir).list(include_archived=True)]


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
def test_dispatch_passes_and_leaves_nothing_behind(machine: Machine, launcher: str,
                                                   tmp_path: Path, capsys) -> None:
    clone = repo_with_origin(tmp_path / "src")
    origin = tmp_path / "src" / "app.git"
    before = (refs(clone), refs(origin))
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(
        machine, launcher=launcher, claude_command=str(claude), repo_paths={"app": str(clone)})])

    code, report = doctor_json(config, capsys, "--dispatch")

    m = by_name(report)[machine.name]
    assert [p for p in m["problems"] if p["severity"] == "error"] == []
    assert code == 0 and report["ok"] is True
    check = m["dispatch"]
    assert check["ok"] is True and check["status"] == "done" and check["launcher"] == launcher
    assert check["ms"] > 0 and check["branch"].startswith("issue-1-")
    assert len(check["pushed_sha"]) == 40
    assert leftovers(machine, tmp_path / "state") == []
    assert not has_session(session_name(check["run"]))
    assert (refs(clone), refs(origin)) == before

    assert main(["doctor", "--dispatch", "--config", str(config)]) == 0   # the human form
    out = capsys.readouterr().out
    assert "dispatch" in out and "all good" in out


def test_dispatch_on_an_unusable_run_root_fails_with_a_fix(machine: Machine, tmp_path: Path,
                                                           capsys) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where run_root's parent should be\n")  # even root cannot mkdir here
    run_root = str(blocker / "runs")
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(
        machine, run_root=run_root, claude_command=str(claude),
        repo_paths={"app": str(repo_with_origin(tmp_path / "src"))})])

    code, report = doctor_json(config, capsys, "--dispatch")

    assert code == 1 and report["ok"] is False
    m = by_name(report)[machine.name]
    assert m["dispatch"]["ok"] is False and m["dispatch"]["run"] is None
    [problem] = [p for p in m["problems"] if p["message"].startswith("dispatch on")]
    assert f"cannot create a scratch directory under run_root {run_root}" in problem["message"]
    assert "set run_root to a directory" in problem["fix"]
    assert leftovers(machine, tmp_path / "state") == []


def test_an_agent_whose_commit_fails_is_reported(local_machine: Machine, tmp_path: Path,
                                                 capsys) -> None:
    # the agent's git sees no repository, so its commit fails; the wrapper's rescue commit
    # reaches origin instead of the replay commit
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(
        local_machine, claude_command=str(claude), env={"GIT_DIR": str(tmp_path / "nowhere")},
        repo_paths={"app": str(repo_with_origin(tmp_path / "src"))})])

    code, report = doctor_json(config, capsys, "--dispatch")

    assert code == 1
    m = by_name(report)[local_machine.name]
    assert m["dispatch"]["ok"] is False and m["dispatch"]["run"]
    [problem] = [p for p in m["problems"] if p["message"].startswith("dispatch on")]
    assert "coordssh rescue" in problem["message"] and "not the replay agent's commit" in \
        problem["message"]
    assert problem["fix"]
    assert leftovers(local_machine, tmp_path / "state") == []


async def test_a_run_past_the_timeout_is_ended_and_removed(local_machine: Machine,
                                                           tmp_path: Path) -> None:
    # the replay agent pauses 0.2 s four times: it cannot end within 0.1 s
    claude = fake_claude(tmp_path / "bin" / "claude")
    config = write_config(tmp_path, [machine_entry(
        local_machine, claude_command=str(claude),
        repo_paths={"app": str(repo_with_origin(tmp_path / "src"))})])
    ctx = build_context(str(config))

    report = await run_doctor(ctx, dispatch=True, dispatch_timeout=0.1)

    [m] = report.machines
    assert not report.ok and m.dispatch is not None and not m.dispatch.ok
    [problem] = [p for p in m.problems if p.message.startswith("dispatch on")]
    assert "did not end within 0.1s" in problem.message and "again" in problem.fix
    assert leftovers(local_machine, tmp_path / "state") == []
