"""`coordssh demo` end to end: a real sandbox, the real assign/observe services, the replay agent."""

from __future__ import annotations

import subprocess

import pytest

from coordssh.cli.context import context_for
from coordssh.cli.main import main
from coordssh.errors import UsageError
from coordssh.services import demo as d
from coordssh.services.demo_agent import choose_agent


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def only_sandbox(parent):
    found = list(parent.glob("coordssh-demo-*"))
    assert len(found) == 1
    return found[0]


def test_demo_cli_with_the_replay_agent(tmp_path, capsys):
    assert main(["demo", "--agent", "replay", "--dir", str(tmp_path), "--keep"]) == 0
    out = capsys.readouterr().out
    assert "agent: replay agent: plays a recorded transcript, no model is called" in out
    assert "demo ok: both branches pushed" in out
    sandbox = only_sandbox(tmp_path)
    assert f"sandbox kept: {sandbox}" in out
    heads = git("for-each-ref", "--format=%(refname:short) %(subject)", "refs/heads",
                cwd=sandbox / "origin.git").splitlines()
    assert sorted(heads) == ["issue-1-add-a-greeting replay: Add a greeting",
                             "issue-2-document-the-demo replay: Document the demo",
                             "main Initial commit"]
    note = git("show", "issue-1-add-a-greeting:replay/issue-1-add-a-greeting.md",
               cwd=sandbox / "origin.git")
    assert note.startswith("# Add a greeting\n") and "no model was called" in note


async def test_demo_removes_its_sandbox_unless_kept(tmp_path):
    options = d.DemoOptions(agent="replay", parent=tmp_path, replay_pause_s=0)
    finished = [event async for event in run(options)][-1]
    assert finished.ok and not finished.kept
    assert list(tmp_path.iterdir()) == []


async def test_demo_service_events(tmp_path):
    options = d.DemoOptions(agent="replay", keep=True, parent=tmp_path, replay_pause_s=0)
    events = [event async for event in run(options)]
    kinds = [type(e).__name__ for e in events]
    assert kinds[:4] == ["AgentChosen", "SandboxReady", "Assigned", "Assigned"]
    assert kinds[-1] == "Finished" and "Progress" in kinds
    finished = events[-1]
    assert finished.ok and finished.kept and finished.sandbox == only_sandbox(tmp_path)
    assert [o.assignment.status for o in finished.outcomes] == ["done", "done"]
    for o in finished.outcomes:
        assert o.origin_sha == o.assignment.pushed_sha and o.subject.startswith("replay: ")
    board = context_for(events[1].config).board
    assert {row.status for row in board.list()} == {"done"}


async def test_demo_timeout_stops_the_runs_and_keeps_the_sandbox(tmp_path):
    options = d.DemoOptions(agent="replay", parent=tmp_path, replay_pause_s=30, timeout_s=1)
    finished = [event async for event in run(options)][-1]
    assert finished.timed_out and not finished.ok and finished.kept
    assert finished.sandbox.exists()
    assert [(o.assignment.status, o.origin_sha) for o in finished.outcomes] == \
        [("cancelled", ""), ("cancelled", "")]


def run(options):
    return d.run_demo(options, lambda config, issues: context_for(config, issues=issues))


# --- which agent ---------------------------------------------------------------------------------
def stand_in_claude(tmp_path, auth_exit):
    """A `claude` stand-in that only answers `claude auth status`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'auth status' ] && exit {auth_exit}\nexit 2\n")
    claude.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


async def test_auto_prefers_a_logged_in_claude(tmp_path):
    choice = await choose_agent("auto", env=stand_in_claude(tmp_path, 0))
    assert choice.name == "claude" and choice.claude_path == str(tmp_path / "bin" / "claude")
    assert "logged in" in choice.reason


async def test_auto_falls_back_to_replay_and_says_why(tmp_path):
    choice = await choose_agent("auto", env=stand_in_claude(tmp_path, 1))
    assert choice.name == "replay" and "not logged in" in choice.reason
    assert "no model is called" in choice.label
    missing = await choose_agent("auto", env={"PATH": str(tmp_path / "empty")})
    assert missing.name == "replay" and "not installed" in missing.reason


async def test_explicit_claude_without_claude_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError) as err:
        await choose_agent("claude", env={"PATH": str(tmp_path / "empty")})
    assert "--agent replay" in err.value.hint
    with pytest.raises(UsageError):
        await choose_agent("gpt")


def test_view_prints_agent_text_literally():
    import io

    from rich.console import Console

    from coordssh.cli.render.demo import DemoView
    from coordssh.domain.models import Assignment

    out = io.StringIO()
    view = DemoView(Console(file=out, width=200))
    row = Assignment(id="ab12cd34", machine="localhost", repo="demo", issue=1, branch="issue-1-x",
                     title="[bold]x[/bold]", status="running", last_status="running [tests]")
    view.handle(d.Assigned(row))
    view.handle(d.Progress((row,)))
    view.close()
    text = out.getvalue()
    assert "'[bold]x[/bold]'" in text and "running: running [tests]" in text
