"""An issue assigned again continues on the branch its earlier runs left (issue 8, item 4).

Runs of the same issue that ended are not claims against it (a live one is); the new run checks
out the existing branch (origin's head, or the worker's own if it is ahead: commits are never
lost), freeing the stale clean worktree of the earlier run that holds it. Real git, real runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coordssh.domain import models as m
from coordssh.errors import Refused, RunFailed
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.stop import stop
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, git, wait_for

LONG = 300


def _request(machine, scenario: str, *, title="Fix the widget", **more) -> AssignRequest:
    return AssignRequest(machine=machine.name, repo="demo", issue=5, title=title,
                         briefing=f"[[fake-claude:{scenario}]]", **more)


def _is_ancestor(world, older: str, newer: str) -> bool:
    import subprocess

    return subprocess.run(["git", "merge-base", "--is-ancestor", older, newer],
                          cwd=world.origin).returncode == 0


async def test_an_issue_assigned_again_continues_on_its_pushed_branch(machine, contexts, world):
    ctx = contexts(machine)
    first = (await assign(ctx, _request(machine, "success"))).assignment
    done = await wait_run(ctx, first.id, timeout=LONG)
    assert Path(first.worktree).is_dir()            # worktrees stay: it still holds the branch

    again = (await assign(ctx, _request(machine, "success"))).assignment

    assert again.branch == first.branch and again.base_sha == done.pushed_sha
    assert not Path(first.worktree).exists()        # the stale clean worktree was freed
    second = await wait_run(ctx, again.id, timeout=LONG)
    assert world.heads()[first.branch] == second.pushed_sha != done.pushed_sha
    assert _is_ancestor(world, done.pushed_sha, second.pushed_sha)


async def test_a_crashed_run_does_not_lock_its_issue_out_even_with_force(local_machine, contexts,
                                                                       world):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request(local_machine, "crashed"))).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, first.id, timeout=LONG)
    assert ctx.board.get(first.id).status == m.CRASHED
    fresh = world.advance_main()                    # the branch has no commits of its own

    again = (await assign(ctx, _request(local_machine, "success", force=True,
                                        title="Another title"))).assignment

    assert again.branch == first.branch and again.base_sha == fresh
    assert (await wait_run(ctx, again.id, timeout=LONG)).status == m.DONE
    assert [row.status for row in ctx.board.list()] == [m.CRASHED, m.DONE]


async def test_unpushed_commits_of_a_stopped_run_are_kept(local_machine, contexts, world):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request(local_machine, "hang"))).assignment
    wait_for(lambda: (Path(first.run_dir) / "stream.jsonl").stat().st_size > 0)
    await stop(ctx, first.id)
    wait_for(lambda: finished(first.run_dir))
    (Path(first.worktree) / "by-hand.txt").write_text("work the agent did not push\n")
    git("add", "by-hand.txt", cwd=Path(first.worktree))
    git("commit", "-q", "-m", "unpushed work", cwd=Path(first.worktree))
    unpushed = git("rev-parse", "HEAD", cwd=Path(first.worktree)).strip()

    again = (await assign(ctx, _request(local_machine, "success"))).assignment

    assert again.branch == first.branch and again.base_sha == unpushed
    assert (Path(again.worktree) / "by-hand.txt").exists()
    second = await wait_run(ctx, again.id, timeout=LONG)
    assert _is_ancestor(world, unpushed, world.heads()[first.branch])
    assert second.status == m.DONE


async def test_a_dirty_stale_worktree_is_refused_and_nothing_is_left(local_machine, contexts,
                                                                    world):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request(local_machine, "advisory"))).assignment
    with pytest.raises(RunFailed):                  # advisory: nothing pushed
        await wait_run(ctx, first.id, timeout=LONG)
    (Path(first.worktree) / "notes.txt").write_text("uncommitted\n")
    before = ctx.board.list()

    with pytest.raises(Refused) as info:
        await assign(ctx, _request(local_machine, "success"))

    assert first.worktree in info.value.message and "uncommitted" in info.value.message
    assert ctx.board.list() == before
    assert (Path(first.worktree) / "notes.txt").exists()


async def test_an_unknown_branch_of_the_issue_on_origin_is_continued(machine, contexts, world):
    ctx = contexts(machine)
    sha = world.push_branch("issue-5-someone-else", merged=False)
    world.push_branch("issue-55-not-this-one", merged=False)

    again = (await assign(ctx, _request(machine, "success"))).assignment

    assert again.branch == "issue-5-someone-else" and again.base_sha == sha
    second = await wait_run(ctx, again.id, timeout=LONG)
    assert _is_ancestor(world, sha, second.pushed_sha)


async def test_diverged_branches_are_refused_naming_both(local_machine, contexts, world):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request(local_machine, "success"))).assignment
    await wait_run(ctx, first.id, timeout=LONG)
    (Path(first.worktree) / "local.txt").write_text("only here\n")
    git("add", "local.txt", cwd=Path(first.worktree))
    git("commit", "-q", "-m", "local only", cwd=Path(first.worktree))
    git("fetch", "-q", "origin", cwd=world.seed)
    git("checkout", "-q", "-b", first.branch, f"origin/{first.branch}", cwd=world.seed)
    (world.seed / "remote.txt").write_text("only on origin\n")
    git("add", "remote.txt", cwd=world.seed)
    git("commit", "-q", "-m", "origin only", cwd=world.seed)
    git("push", "-q", "origin", first.branch, cwd=world.seed)
    before = ctx.board.list()

    with pytest.raises(Refused) as info:
        await assign(ctx, _request(local_machine, "success"))

    assert "diverged" in info.value.message and first.branch in info.value.message
    assert ctx.board.list() == before


async def test_the_branch_of_a_run_in_the_cold_archive_is_still_the_issues(local_machine,
                                                                             contexts, world):
    """`coordssh gc` moved the issue's run to runs-archive.jsonl; with a second branch of the
    issue on origin only that row says which is the issue's own (assign reads the cold archive
    when the item's runs are not in the others)."""
    from coordssh.board.store import Board

    ctx = contexts(local_machine)
    first = (await assign(ctx, _request(local_machine, "success"))).assignment
    await wait_run(ctx, first.id, timeout=LONG)
    world.push_branch("issue-5-someone-else", merged=False)
    mover = Board(ctx.board.state_dir, keep_terminal=0, archive_chunk=0)
    with mover.transaction():                   # every finished row to board-archive.json
        pass
    assert mover.archive_cold([first.id]) == 1
    assert ctx.board.list(include_archived=True, cold=False) == []
    assert ctx.board.get(first.id).branch == first.branch

    again = (await assign(ctx, _request(local_machine, "success", title="Another"))).assignment

    assert again.branch == first.branch
    assert (await wait_run(ctx, again.id, timeout=LONG)).status == m.DONE
