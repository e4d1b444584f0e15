"""End to end: `assign` on a local and an ssh machine, with both launchers, runs the claude
stand-in to completion in a real worktree; the branch reaches the bare origin; the envelope
records it; hostile titles and briefings stay data. Plus the CLI (`--json`, `--dry-run`)."""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from coordssh.cli.main import main
from coordssh.domain import models as m
from coordssh.remote.envelope import RESCUE_MESSAGE
from coordssh.remote.worktree import slugify
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import FAKE_CLAUDE, GitWorld, git, reap, wait_for
from tests.support.dispatch import envelope_file as _read
from tests.support.dispatch import finished as _finished


def _hostile(u: str) -> tuple[str, str]:
    marker = f"/tmp/pwned-{u}"
    title = f"Fix 'quotes' \"and\" $(touch {marker}) `touch {marker}` ; café ✓\nsecond line"
    briefing = (f"Keep $HOME and $(touch {marker}) as text.\n`touch {marker}` || echo 'x'\n"
                "Ünïcødé: 日本語 — ok\n[[fake-claude:success]]")
    return title, briefing


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
async def test_dispatch_runs_to_completion_and_pushes(machine, launcher, contexts, world,
                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDECODE", "1")        # as if the operator ran inside Claude Code
    record = tmp_path / "claude-record.jsonl"
    ctx = contexts(machine, launcher=launcher, env={"FAKE_CLAUDE_RECORD": str(record)})
    u = uuid.uuid4().hex
    title, briefing = _hostile(u)

    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=42,
                                             title=title, briefing=briefing))

    a = result.assignment
    assert a.status == m.RUNNING and result.pid
    assert ctx.board.get(a.id).status == m.RUNNING
    assert a.branch == "issue-42-" + slugify(title)
    assert a.branch.startswith("issue-42-fix-quotes-and-touch-tmp-pwned-")
    wait_for(lambda: _finished(a.run_dir))

    run_dir = Path(a.run_dir)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    prompt = (run_dir / "prompt.md").read_bytes()
    assert prompt == result.prompt.encode("utf-8")
    assert title.encode() in prompt and briefing.strip().encode() in prompt
    assert not Path(f"/tmp/pwned-{u}").exists()
    assert _read(a.run_dir, "exit_code") == "0"
    pushed = _read(a.run_dir, "pushed_sha")
    assert pushed and world.heads()[a.branch] == pushed
    assert git("merge-base", "--is-ancestor", a.base_sha, pushed, cwd=world.clone) == ""
    meta = json.loads((run_dir / "meta.json").read_text())
    assert (meta["id"], meta["branch"], meta["base_sha"]) == (a.id, a.branch, a.base_sha)
    [seen] = [json.loads(line) for line in record.read_text().splitlines()]
    assert seen["claudecode"] is None and seen["cwd"] == a.worktree
    assert seen["prompt"] == result.prompt
    if launcher == "tmux":
        panes = subprocess.run(["tmux", "list-panes", "-t", f"=coordssh-{a.id}:", "-F",
                                "#{pane_dead}"], capture_output=True, text=True, check=True)
        assert panes.stdout.strip() == "1"       # remain-on-exit kept the finished pane

    observed = await observe(ctx, [machine.name])
    [row] = [r for r in observed.assignments if r.id == a.id]
    assert row.status == m.DONE and row.pushed_sha == pushed


@pytest.mark.parametrize("launcher", ["nohup", "tmux"])
async def test_dirty_run_is_rescued_and_lingering_run_ended(machine, launcher, contexts, world):
    ctx = contexts(machine, launcher=launcher, result_grace_s=2)
    dirty = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=1,
                                            title="Leave a mess", briefing="[[fake-claude:dirty]]"))
    linger = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=2,
                                             title="Stay around",
                                             briefing="[[fake-claude:linger]]"))
    wait_for(lambda: _finished(dirty.assignment.run_dir) and _finished(linger.assignment.run_dir))

    d = dirty.assignment
    rescue = _read(d.run_dir, "rescue_sha")
    assert git("log", "-1", "--format=%s", rescue, cwd=world.clone).strip() == \
        f"{RESCUE_MESSAGE} {d.id}"
    assert world.heads()[d.branch] == rescue == _read(d.run_dir, "pushed_sha")

    g = linger.assignment
    assert (Path(g.run_dir) / "lingered").exists()
    assert _read(g.run_dir, "exit_code") == "0"              # the result stands
    assert world.heads()[g.branch] == _read(g.run_dir, "pushed_sha")


# --- the command line ---------------------------------------------------------------------------
def _config_file(tmp_path: Path, world: GitWorld) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text(
        "repos:\n  - name: demo\n"
        "machines:\n"
        "  - name: box\n    connection: local\n    launcher: nohup\n"
        f"    claude_command: {FAKE_CLAUDE}\n"
        f"    worktree_root: {tmp_path / 'wt'}\n    run_root: {tmp_path / 'runs'}\n"
        f"    repo_paths:\n      demo: {world.clone}\n"
        "runs:\n  result_grace: 5\n")
    return path


def test_cli_assign_json_then_dry_run(tmp_path, world, capsys):
    config = _config_file(tmp_path, world)
    args = ["assign", "box", "demo", "3", "--title", "Add a CLI test", "--config", str(config)]
    try:
        assert main([*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert {"id", "machine", "repo", "issue", "branch", "model", "worktree", "run_dir",
                "base_sha", "status"} <= set(data)
        assert (data["machine"], data["repo"], data["issue"], data["branch"]) == \
            ("box", "demo", 3, "issue-3-add-a-cli-test")
        # what was asked for and where from: the CLI maps `sonnet`, coordssh shows no id of its own
        assert (data["model"], data["model_source"]) == ("sonnet", "models.default")
        assert data["status"] == m.RUNNING
        wait_for(lambda: _finished(data["run_dir"]))
        assert world.heads()[data["branch"]] == _read(data["run_dir"], "pushed_sha")

        assert main(["status", "--json", "--config", str(config)]) == 0
        [row] = json.loads(capsys.readouterr().out)["assignments"]
        assert row["model"] == "claude-sonnet-4-6"   # what the stand-in's init line reports

        # the row is reconciled first; the ended run's branch is the issue's: it is continued
        assert main([*args, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["branch"] == data["branch"]
        assert again["base_sha"] == _read(data["run_dir"], "pushed_sha")
        wait_for(lambda: _finished(again["run_dir"]))

        board = (tmp_path / ".coordssh" / "board.json").read_bytes()
        assert main(["assign", "box", "demo", "4", "--title", "Plan only", "--dry-run",
                     "--model", "opus", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "  model     opus (--model)\n" in out and "claude-opus" not in out
        assert out.startswith("dry run: nothing was changed")
        assert "issue-4-plan-only" in out and "--- prompt.md ---" in out and "Plan only" in out
        assert (tmp_path / ".coordssh" / "board.json").read_bytes() == board
    finally:
        from coordssh.board.store import Board

        reap(Board.open(tmp_path / ".coordssh"))


def test_cli_plain_git_without_title_is_a_usage_error(tmp_path, world, capsys):
    config = _config_file(tmp_path, world)
    assert main(["assign", "box", "demo", "3", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "needs a --title" in err and "hint:" in err


def test_ctrl_c_after_the_run_started_names_the_run_that_keeps_running(tmp_path, world):
    """Ctrl-C once the run is up (here: while the summary is written to a full pipe) exits 130
    and says which run now runs, that it keeps running, and how to follow or stop it."""
    import os
    import signal
    import sys

    from coordssh.board.store import Board

    config = _config_file(tmp_path, world)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"." * 65536)     # fill it: the summary's write will block
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordssh", "assign", "box", "demo", "6", "--title", "Keep going",
         "--briefing", "[[fake-claude:hang]]", "--config", str(config)],
        stdout=write_end, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(write_end)
    board = Board.open(tmp_path / ".coordssh")
    try:
        row = wait_for(lambda: next((r for r in board.list() if r.status == m.RUNNING), None))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert f"run {row.id}" in err and "keeps running" in err
        assert f"coordssh watch {row.id}" in err and f"coordssh stop {row.id}" in err
        assert board.get(row.id).live and not _finished(row.run_dir)
    finally:
        os.close(read_end)
        reap(board)
