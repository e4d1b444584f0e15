"""The assign service: its checks and refusals, the dry run, failures that leave no stray state.

Real repos (bare origin + the worker's clone), real transports (local and a real sshd), the
claude stand-in. Runs that are started are ended by `reap` at teardown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coordssh.config.schema import Models, Repo
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.errors import NotFound, Refused, RemoteCommandFailed, UsageError
from coordssh.forge import forge_for
from coordssh.services.assign import AssignRequest, assign
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import FAKE_CLAUDE, finished, git, tree_snapshot, wait_for
from tests.support.fake_gh import FakeGitHub


def _request(issue=5, **options) -> AssignRequest:
    options.setdefault("title", "Fix the widget")
    return AssignRequest(machine=options.pop("machine", "localbox"), repo="demo", issue=issue,
                         **options)


def _finished(row: Assignment) -> bool:
    return finished(row.run_dir)


async def test_dry_run_changes_nothing(machine, contexts, world, tmp_path):
    ctx = contexts(machine)
    fresh = world.advance_main()               # origin moved; the clone has not fetched it
    board_before = ctx.board.path.read_bytes()
    clone_refs, heads = world.refs(world.clone), world.heads()
    worker_paths = [Path(machine.worktree_root), Path(machine.run_root)]
    files_before = tree_snapshot(*worker_paths, world.clone / ".git")

    result = await assign(ctx, _request(machine=machine.name, briefing="Keep it small.",
                                        model="opus", dry_run=True))

    plan = result.assignment
    assert result.dry_run and plan.base_sha == fresh and plan.branch == "issue-5-fix-the-widget"
    assert plan.worktree == str(Path(machine.worktree_root) / "demo" / plan.id)
    assert plan.run_dir == str(Path(machine.run_root) / plan.id)
    assert "Fix the widget" in result.prompt and "Keep it small." in result.prompt
    assert str(FAKE_CLAUDE) in result.command and "--model opus" in result.command
    assert "run.sh" in result.launch
    # nothing anywhere: board, worker paths, the clone's refs and files, origin
    assert ctx.board.path.read_bytes() == board_before
    assert tree_snapshot(*worker_paths, world.clone / ".git") == files_before
    assert world.refs(world.clone) == clone_refs and world.heads() == heads


async def test_unknown_machine_and_unserved_repo(local_machine, contexts, world):
    ctx = contexts(local_machine)
    with pytest.raises(NotFound) as info:
        await assign(ctx, _request(machine="nope"))
    assert "unknown machine 'nope'" in info.value.message and "localbox" in info.value.hint
    ctx.config.repos["other"] = Repo(name="other")
    with pytest.raises(Refused) as info:
        await assign(ctx, AssignRequest(machine="localbox", repo="other", issue=1, title="x"))
    assert "does not serve repo 'other'" in info.value.message
    assert "(it serves: demo)" in info.value.message


async def test_plain_git_repo_needs_a_title(local_machine, contexts):
    ctx = contexts(local_machine)
    with pytest.raises(UsageError) as info:
        await assign(ctx, _request(title=None))
    assert "needs a --title" in info.value.message and "--title" in info.value.hint
    assert ctx.board.list() == []


async def test_live_work_on_the_board_claims_the_issue_unless_forced(local_machine, contexts):
    ctx = contexts(local_machine)
    holder = Assignment(id="feedbeef", machine="elsewhere", repo="demo", issue=5,
                        branch="issue-5-old", status=m.RUNNING)
    ctx.board.put(holder)
    with pytest.raises(Refused) as info:
        await assign(ctx, _request())
    assert "demo#5 is already claimed by assignment feedbeef on elsewhere" in info.value.message
    assert "--force" in info.value.hint
    assert [row.id for row in ctx.board.list()] == ["feedbeef"]

    forced = await assign(ctx, _request(force=True))
    assert forced.assignment.status in (m.RUNNING, m.STARTING)
    wait_for(lambda: _finished(forced.assignment))


async def test_several_unmerged_branches_of_the_issue_are_refused_naming_them(machine, contexts,
                                                                              world):
    ctx = contexts(machine)
    world.push_branch("issue-5-someone-else", merged=False)
    world.push_branch("issue-5-another-try", merged=False)
    world.push_branch("issue-55-not-this-one", merged=False)
    with pytest.raises(Refused) as info:
        await assign(ctx, _request(machine=machine.name))
    assert "issue-5-another-try, issue-5-someone-else" in info.value.message
    assert "issue-55" not in info.value.message and "--title" in info.value.hint
    assert ctx.board.list() == []


async def test_a_merged_branch_does_not_claim(local_machine, contexts, world):
    ctx = contexts(local_machine)
    world.push_branch("issue-5-done-before", merged=True)
    result = await assign(ctx, _request())
    assert result.assignment.base_sha == world.heads()["main"]
    wait_for(lambda: _finished(result.assignment))


async def test_capacity_refusal_names_the_running_ids(machine, contexts):
    ctx = contexts(machine, max_workers=1)
    first = await assign(ctx, _request(machine=machine.name, issue=1,
                                       briefing="[[fake-claude:hang]]"))
    with pytest.raises(Refused) as info:
        await assign(ctx, _request(machine=machine.name, issue=2))
    assert info.value.message == (f"machine {machine.name} is at capacity (1/1 running: ids "
                                  f"{first.assignment.id})")
    assert [row.issue for row in ctx.board.list()] == [1]


async def test_unreachable_origin_fails_without_fallback_or_leftovers(machine, contexts, world):
    ctx = contexts(machine)
    world.break_origin()
    with pytest.raises(RemoteCommandFailed) as info:
        await assign(ctx, _request(machine=machine.name))
    assert "cannot reach origin" in info.value.message and "stale local refs" in info.value.hint
    assert ctx.board.list() == []
    assert not Path(machine.worktree_root).exists() and not Path(machine.run_root).exists()
    assert "issue-5" not in git("branch", "--list", cwd=world.clone)


async def test_missing_claude_is_named_with_a_fix(local_machine, contexts):
    from dataclasses import replace

    ctx = contexts(local_machine)
    worker = ctx.config.machines["localbox"]
    ctx.config.machines["localbox"] = replace(worker, claude_command="no-such-claude-cli")
    with pytest.raises(NotFound) as info:
        await assign(ctx, _request())
    assert "cannot find `no-such-claude-cli`" in info.value.message
    assert "claude_command" in info.value.hint
    assert ctx.board.list() == []


async def test_a_missing_absolute_claude_is_refused_leaving_nothing(local_machine, contexts,
                                                                    tmp_path):
    from dataclasses import replace

    ctx = contexts(local_machine)
    missing = str(tmp_path / "no" / "claude")
    ctx.config.machines["localbox"] = replace(ctx.config.machines["localbox"],
                                              claude_command=missing)
    with pytest.raises(NotFound) as info:
        await assign(ctx, _request())
    assert missing in info.value.message and "claude_command" in info.value.hint
    assert info.value.exit_code == 2
    assert ctx.board.list() == []          # no `starting` row claims #5 or holds a slot
    assert not Path(local_machine.run_root).exists()


async def test_a_failed_dispatch_step_leaves_a_failed_row(local_machine, contexts, world):
    ctx = contexts(local_machine)
    Path(local_machine.worktree_root).write_text("a file where the worktree root should be\n")
    with pytest.raises(RemoteCommandFailed) as info:
        await assign(ctx, _request())
    assert "cannot create worktree" in info.value.message
    [row] = ctx.board.list()
    assert row.status == m.FAILED and row.reason.startswith("dispatch failed: ")


async def test_model_from_an_issue_label_on_github(local_machine, contexts, tmp_path):
    gh = FakeGitHub(tmp_path, repo="acme/demo")
    gh.add_issue(9, "Speed up the parser", body="It is slow.", labels=("perf", "big"))
    models = Models(labels={"big": "opus"})
    ctx = contexts(local_machine, github="acme/demo", models=models,
                   forge_factory=lambda repo: forge_for(repo, gh=gh.gh, env=gh.env))
    result = await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=9,
                                             briefing="Only the tokenizer.", dry_run=True))
    a = result.assignment
    assert (a.model, result.model_source) == ("opus", "label: big")   # the CLI maps `opus`
    assert "--model opus" in result.command
    assert a.extra["model_source"] == "label: big"
    from coordssh.cli.render.assign import plan_text
    assert "  model     opus (label: big)\n" in plan_text(result, "c.yml")
    assert a.title == "Speed up the parser" and a.branch == "issue-9-speed-up-the-parser"
    assert "It is slow." in result.prompt and "Only the tokenizer." in result.prompt


async def test_a_finished_run_not_yet_observed_does_not_claim(local_machine, contexts):
    ctx = contexts(local_machine)
    first = await assign(ctx, _request(briefing="[[fake-claude:advisory]]"))  # pushes nothing
    wait_for(lambda: _finished(first.assignment))
    assert ctx.board.get(first.assignment.id).status == m.RUNNING   # nobody has looked yet

    again = await assign(ctx, _request(title="Fix the widget, take two"))

    assert ctx.board.get(first.assignment.id).status == m.ADVISORY   # reconciled on the way
    assert again.assignment.id != first.assignment.id
    wait_for(lambda: _finished(again.assignment))


async def test_two_assigns_racing_for_the_last_slot(local_machine, contexts):
    import asyncio

    ctx = contexts(local_machine, max_workers=1)
    results = await asyncio.gather(
        *(assign(ctx, _request(issue=n, briefing="[[fake-claude:hang]]")) for n in (1, 2)),
        return_exceptions=True)
    refused = [r for r in results if isinstance(r, Refused)]
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 1 and len(won) == 1, results
    assert "at capacity (1/1" in refused[0].message
    assert [row.id for row in ctx.board.list()] == [won[0].assignment.id]


async def test_a_stale_cached_claude_path_is_looked_up_again(local_machine, contexts,
                                                             monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("PATH", f"{FAKE_CLAUDE.parent}:{os.environ['PATH']}")
    ctx = contexts(local_machine)
    ctx.config.machines["localbox"] = replace(ctx.config.machines["localbox"],
                                              claude_command="claude")
    ctx.board.kv_set("claude_path:localbox", "/nonexistent/bin/claude")   # claude was moved

    result = await assign(ctx, _request())

    assert ctx.board.kv_get("claude_path:localbox") == str(FAKE_CLAUDE)
    assert result.assignment.status == m.RUNNING
    wait_for(lambda: _finished(result.assignment))
