"""`coordssh demo` end to end: a real sandbox, the real assign/observe services, the replay agent."""

from __future__ import annotations

import re
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


STAGES = ["implementing", "implemented", "testing", "tested", "pr_open", "reviewing", "approved",
          "merging", "merged"]
FAILING_TEST = "test -f greet.py || { echo 'greet.py is missing'; exit 1; }"


def test_demo_cli_with_the_replay_agent(tmp_path, capsys):
    assert main(["demo", "--agent", "replay", "--dir", str(tmp_path), "--keep"]) == 0
    out = capsys.readouterr().out
    assert "agent: replay agent: plays a recorded transcript, no model is called" in out
    assert out.rstrip().endswith("demo ok: both issues merged into main")
    sandbox = only_sandbox(tmp_path)
    assert f"sandbox kept: {sandbox}" in out
    origin = sandbox / "origin.git"
    # both changes merged into main by merge commits, both branches deleted
    assert git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=origin) == "main\n"
    first_parent = git("log", "--first-parent", "--format=%s", "main", cwd=origin).splitlines()
    merges = sorted(re.sub(r"\(#\d+\)$", "(#N)", subject) for subject in first_parent[:2])
    assert merges == ["Merge branch 'issue-1-add-a-greeting' (#N)",
                      "Merge branch 'issue-2-document-the-demo' (#N)"]
    assert first_parent[2:] == ["Add check.py, the repository's test", "Initial commit"]
    note = git("show", "main:replay/issue-1-add-a-greeting.md", cwd=origin)
    assert note.startswith("# Add a greeting\n") and "no model was called" in note
    git("show", "main:replay/issue-2-document-the-demo.md", cwd=origin)
    for key in ("demo#1", "demo#2"):     # the stages as they were shown, in order
        shown = [line.split(": ", 1)[1] for line in out.splitlines()
                 if line.startswith(f"  {key}: ")]
        moves = [move.split(" (")[0] for line in shown for move in line.split(" -> ")]
        assert moves == STAGES
    for key in ("demo#1", "demo#2"):     # what notify did for it, pass by pass
        did = [line.split(": ", 1)[0] for line in out.splitlines()
               if line.startswith("  did ") and key in line]
        assert did[:3] == [f"  did {key} dispatch.test", f"  did {key} open_pr",
                           f"  did {key} dispatch.review"]
        assert re.search(rf"  did demo#\d merge: .*{key} #\d: merged", out)
    main_sha = git("rev-parse", "main", cwd=origin).strip()
    assert f"by {main_sha[:7]} " in out      # the last merge commit is named


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
    assert kinds[-1] == "Finished" and set(kinds[4:-1]) == {"PassDone"}
    finished = events[-1]
    assert finished.ok and finished.kept and finished.sandbox == only_sandbox(tmp_path)
    assert finished.passes == len(kinds) - 5
    for o in finished.outcomes:
        shown = [c.stage for e in events[4:-1] for c in e.changes if c.work == o.item.key]
        assert shown == STAGES
        assert o.item.stage == "merged" and o.item.verdict("test").result == "passed"
        review = o.item.verdict("review")
        assert review.result == "approve" and "no model read this change" in review.detail
        assert o.origin.contained and not o.origin.branch_left and o.problems == ()
        merge = git("rev-list", "--parents", "-1", o.origin.merge_sha,
                    cwd=finished.sandbox / "origin.git").split()
        assert merge[0] == o.origin.merge_sha and merge[2] == o.item.head_sha
    board = context_for(events[1].config).board
    assert sorted((row.role, row.status) for row in board.list()) == \
        [("implement", "done")] * 2 + [("review", "advisory")] * 2 + [("test", "done")] * 2
    config = events[1].config
    assert config.repos["demo"].test_command.endswith("check.py") and config.reviews.enabled
    assert {"auto_test", "auto_pr", "auto_review", "auto_merge"} <= config.pipeline.given
    assert "auto_fix" not in config.pipeline.given
    posted = [line for e in events[4:-1] for line in e.did if line.startswith("review posted: ")]
    assert len(posted) == 2 and all(": approve at " in line for line in posted)


async def test_a_failing_test_stops_the_item_at_test_failed(tmp_path):
    options = d.DemoOptions(agent="replay", parent=tmp_path, replay_pause_s=0,
                            test_command=FAILING_TEST)
    events = [event async for event in run(options)]
    finished = events[-1]
    assert not finished.ok and finished.kept and not finished.timed_out
    for o in finished.outcomes:
        assert o.item.stage == "test_failed" and o.item.verdict("test").result == "failed"
        shown = [c.stage for e in events[4:-1] for c in e.changes if c.work == o.item.key]
        assert shown == ["implementing", "implemented", "testing", "test_failed"]
        problem, = o.problems
        assert problem.startswith(f"not merged: test_failed: test failed at {o.item.head_sha[:7]}")
        assert "auto_fix off" in problem and "greet.py is missing" in problem
        assert not o.origin.contained and o.origin.branch_left


def test_the_cli_says_why_and_exits_non_zero_when_a_test_fails(tmp_path, capsys):
    assert main(["demo", "--agent", "replay", "--dir", str(tmp_path),
                 "--test-command", FAILING_TEST]) == 1
    out = capsys.readouterr().out
    assert "demo ok" not in out
    last = out.rstrip().splitlines()[-1]
    assert last == ("demo failed: #1 not merged: stopped at test_failed; #2 not merged: stopped "
                    "at test_failed (the reasons are above)")
    assert "  not merged: test_failed: test failed at " in out and "(auto_fix off)" in out
    assert "  test output (tail):" in out and "greet.py is missing" in out
    assert f"sandbox kept: {only_sandbox(tmp_path)}" in out


async def test_demo_timeout_stops_the_runs_and_keeps_the_sandbox(tmp_path):
    options = d.DemoOptions(agent="replay", parent=tmp_path, replay_pause_s=30, timeout_s=1)
    finished = [event async for event in run(options)][-1]
    assert finished.timed_out and not finished.ok and finished.kept
    assert finished.sandbox.exists()
    for o in finished.outcomes:
        assert o.item.stage == "interrupted"
        problem, = o.problems
        assert problem.startswith("not merged: interrupted: still implementing when the demo's "
                                  "time ran out")
    rows = context_for(context_config(finished.sandbox)).board.list()
    assert [row.status for row in rows] == ["cancelled", "cancelled"]


# --- the same flow with the real claude CLI (against the scripted model server) ----------------
SCRIPTED_APPROVAL = ('```json\n{"verdict": "approve", "summary": "scripted model server: approve", '
                     '"findings": []}\n```')
# One script serves every conversation (a step per tool_result so far): an implement run commits;
# a review run is refused that commit (read-only) and ends with the same text, whose json block
# is its verdict.
ONE_COMMIT = [
    {"tool": {"name": "Bash", "input": {"command": "git commit --allow-empty -m 'scripted change'",
                                        "description": "Commit"}}},
    {"text": f"I committed the change.\n\n{SCRIPTED_APPROVAL}\n\nSTATUS: done"},
]


@pytest.mark.real_claude
async def test_the_same_flow_with_the_real_claude(tmp_path, monkeypatch, claude_bin, model_server,
                                                  claude_env):
    server = model_server(ONE_COMMIT)
    for name, value in claude_env.overrides(server).items():   # what `claude auth status` reads
        monkeypatch.setenv(name, value)
    options = d.DemoOptions(agent="auto", claude=str(claude_bin), keep=True, parent=tmp_path,
                            timeout_s=300)
    events = [event async for event in run(options)]
    assert events[0].choice.name == "claude" and "logged in" in events[0].choice.reason, \
        events[0].choice
    finished = events[-1]
    assert finished.ok, [o.problems for o in finished.outcomes]
    passes = [(e.did, e.skipped, e.errors, e.changes) for e in events[4:-1]]
    for o in finished.outcomes:
        shown = [c.stage for e in events[4:-1] for c in e.changes if c.work == o.item.key]
        assert shown == STAGES, passes
        assert "scripted model server" in o.item.verdict("review").detail
        subject = git("log", "-1", "--format=%s", o.item.head_sha,
                      cwd=finished.sandbox / "origin.git").strip()
        assert subject == "scripted change" and o.origin.contained and not o.origin.branch_left
    assert server.problems == [], server.problems


def context_config(sandbox):
    from coordssh.config.load import load_config

    return load_config(str(sandbox / "coordinator.yml"))


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
    view.handle(d.PassDone(1, ("demo#1 open_pr: [red]pr[/red]",), (), (), (), (row,), ()))
    view.close()
    text = out.getvalue()
    assert "'[bold]x[/bold]'" in text and "running: running [tests]" in text
    assert "did demo#1 open_pr: [red]pr[/red]" in text
