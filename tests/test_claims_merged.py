"""Claims by patch, not ancestry: a squash- or rebase-merged branch no longer claims its issue (nor
does a branch whose work item's PR was merged); the issue's next run takes a new branch at the
fresh base. A branch with a commit the base lacks still is the issue's own."""

from __future__ import annotations

from pathlib import Path

from coordssh.domain import models as m
from coordssh.domain.work import WorkItem
from coordssh.remote.worktree import origin_facts
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import git


def branch_with_commits(world, branch: str, count: int = 2) -> str:
    seed = world.seed
    git("checkout", "-q", "-b", branch, "origin/main", cwd=seed)
    for i in range(count):
        (seed / f"{branch}-{i}.txt").write_text(f"{i}\n")
        git("add", ".", cwd=seed)
        git("commit", "-q", "-m", f"{branch} part {i}", cwd=seed)
    git("push", "-q", "origin", branch, cwd=seed)
    git("checkout", "-q", "main", cwd=seed)
    return git("rev-parse", branch, cwd=seed).strip()


def merge_into_main(world, branch: str, how: str) -> str:
    seed = world.seed
    if how == "squash":
        git("merge", "-q", "--squash", branch, cwd=seed)
        git("commit", "-q", "-m", f"{branch} (squashed)", cwd=seed)
    else:                                   # a rebase merge: the same patches, new commits
        world.advance_main(f"{branch}-meanwhile.txt")
        git("pull", "-q", "--ff-only", cwd=seed)
        commits = git("rev-list", "--reverse", f"main..{branch}", cwd=seed).split()
        git("cherry-pick", *commits, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    return git("rev-parse", "HEAD", cwd=seed).strip()


async def test_squash_and_rebase_merged_branches_are_merged_by_patch(machine, connector, world):
    branch_with_commits(world, "issue-7-add-hello")
    merge_into_main(world, "issue-7-add-hello", "squash")
    branch_with_commits(world, "issue-7-other")            # one the base does not have
    async with await connector.connect(machine) as transport:
        facts = await origin_facts(transport, str(world.clone), "main", 7, fetch=True)
    squashed, other = facts.origin("issue-7-add-hello"), facts.origin("issue-7-other")
    assert (squashed.merged, squashed.squashed) == (True, True)
    assert (other.merged, other.squashed) == (False, False)
    assert facts.unmerged() == ["issue-7-other"]
    branch_with_commits(world, "issue-8-x", 3)
    merge_into_main(world, "issue-8-x", "rebase")
    git("fetch", "-q", "origin", "issue-8-x:issue-8-x", cwd=world.clone)   # the worker's own
    async with await connector.connect(machine) as transport:
        facts = await origin_facts(transport, str(world.clone), "main", 8, fetch=True)
    assert facts.origin("issue-8-x").squashed and facts.local_branch("issue-8-x").squashed
    assert facts.local_branch("issue-8-x").in_base and facts.unmerged() == []


async def test_the_next_run_of_a_squash_merged_issue_starts_a_new_branch(local_machine,
                                                                         contexts, world):
    ctx = contexts(local_machine)
    branch_with_commits(world, "issue-7-add-hello")
    main = merge_into_main(world, "issue-7-add-hello", "squash")
    git("fetch", "-q", "origin", "issue-7-add-hello:issue-7-add-hello", cwd=world.clone)
    run = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=7,
                                           title="Add hello"))).assignment
    assert (run.branch, run.base_sha) == ("issue-7-add-hello-2", main)
    done = await wait_run(ctx, run.id, timeout=300)
    assert done.status == m.DONE and world.heads()["issue-7-add-hello-2"] == done.pushed_sha


async def test_a_merged_work_item_frees_its_branch_whatever_git_says(local_machine, contexts,
                                                                    world):
    ctx = contexts(local_machine)
    kept = branch_with_commits(world, "issue-9-thing")      # never merged into main by git
    with ctx.board.transaction() as tx:
        tx.put_work(WorkItem("demo", 9, branch="issue-9-thing", stage="merged", head_sha=kept))
    run = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=9,
                                           title="Thing", dry_run=True))).assignment
    assert run.branch == "issue-9-thing-2"
    assert run.base_sha == world.heads()["main"]
    ctx2 = contexts(local_machine)
    with ctx2.board.transaction() as tx:
        tx.put_work(WorkItem("demo", 9, branch="issue-9-thing", stage="implemented",
                             head_sha=kept))
    again = (await assign(ctx2, AssignRequest(machine="localbox", repo="demo", issue=9,
                                              title="Thing", dry_run=True))).assignment
    assert (again.branch, again.base_sha) == ("issue-9-thing", kept)   # still its own
    assert Path(world.clone).is_dir()
