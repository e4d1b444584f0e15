"""`coordssh pr` and `coordssh merge` over real repos: the claude stand-in implements on a local
and an SSH machine, real test runs judge the head, the fake gh keeps PRs as branches of the real
bare origin (mergeable from `git merge-tree`, merges for real). Every gate that holds a PR back
says its name and reason; a conflict parks only its item; nothing is posted twice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordssh.config.schema import Reviews
from coordssh.domain import stages as s
from coordssh.errors import Refused, UsageError
from coordssh.services.merge_queue import run_queue
from coordssh.services.pr import open_pr
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import git
from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

MADE = "coordssh-fake-success.txt"     # the file the stand-in commits (new, different content)


def marked(comments, what: str) -> list:
    return [c for c in comments if f"coordssh:event={what} " in c["body"]]


async def test_pr_opens_once_with_the_summary_commits_and_verdict(machine, contexts, world,
                                                                    tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(5, "Fix the widget", "It is broken.")
    ctx = github_context(contexts, machine, fake)
    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, machine.name, 5)
    with pytest.raises(Refused) as early:                  # nothing to review yet, and no PR
        from coordssh.services.review import dispatch_review
        await dispatch_review(ctx, key)
    assert "has no pull request to review" in early.value.message
    await judge_head(ctx, key)
    item = ctx.board.get_work(key)
    opened = await open_pr(ctx, key)
    assert opened.created and opened.pr.head == item.branch and opened.pr.base == "main"
    pull = fake.pull(opened.pr.number)
    assert pull["title"] == "Fix the widget"
    body = pull["body"]
    assert "Closes #5" in body and f"passed at {item.head_sha[:7]}" in body
    assert f"- {item.head_sha[:7]} fake claude: success change" in body   # git log base..head
    assert f"coordssh:event=pr_opened work={key} " in body
    item = ctx.board.get_work(key)
    assert (item.stage, item.pr_number) == (s.PR_OPEN, opened.pr.number)
    again = await open_pr(ctx, key)                        # idempotent: the open PR reused
    assert not again.created and again.pr.number == opened.pr.number
    assert list(fake.load()["repos"]["o/r"]["pulls"]) == [str(opened.pr.number)]
    kinds = [e["kind"] for e in ctx.board.events(key)]
    assert kinds.count("pr_opened") == 1


async def test_a_branch_with_nothing_pushed_is_refused(local_machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(6, "Nothing to do")
    ctx = github_context(contexts, local_machine, fake)
    run = await implemented_advisory(ctx, local_machine.name, 6)
    with pytest.raises(Refused) as refused:
        await open_pr(ctx, "demo#6")
    assert "its branch has nothing pushed yet (interrupted)" in refused.value.message
    assert "pulls" not in fake.load()["repos"]["o/r"] or not fake.load()["repos"]["o/r"]["pulls"]
    assert run


async def implemented_advisory(ctx, machine_name, issue):
    from coordssh.services.assign import AssignRequest, assign
    from coordssh.services.observe import observe
    from tests.support.dispatch import finished, wait_for

    run = (await assign(ctx, AssignRequest(machine=machine_name, repo="demo", issue=issue,
                                           briefing="[[fake-claude:advisory]]"))).assignment
    wait_for(lambda: finished(run.run_dir), 300)
    await observe(ctx)
    return run


async def test_gates_hold_each_pr_back_by_name(local_machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Gate me")
    ctx = github_context(contexts, local_machine, fake)
    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, local_machine.name, 7)
    number = None

    async def held() -> tuple[str, str]:
        [line] = (await run_queue(ctx, dry_run=True)).lines
        return line.gate, line.reason

    await judge_head(ctx, key)
    number = (await open_pr(ctx, key, draft=True)).pr.number
    assert await held() == ("open", "the PR is a draft")
    fake.set_pull(number, draft=False, mergeable_unknown=1)
    gate, reason = await held()
    assert (gate, reason) == ("mergeable", "UNKNOWN - ask again later")
    allowing = ctx.config                               # the repo reports no checks at all
    ctx.config = replace(allowing, pipeline=replace(
        allowing.pipeline, merge_without_checks=False, given=frozenset({"merge_without_checks"})))
    assert await held() == ("checks",
                            "no checks reported and pipeline.merge_without_checks is false")
    ctx.config = allowing
    fake.set_pull(number, checks=[{"__typename": "CheckRun", "name": "ci", "status": "COMPLETED",
                                   "conclusion": "FAILURE"}])
    assert await held() == ("checks", "1 failed (ci)")
    fake.set_pull(number, checks=[{"__typename": "CheckRun", "name": "ci",
                                   "status": "IN_PROGRESS", "conclusion": ""}])
    assert await held() == ("checks", "1 pending")
    fake.set_pull(number, checks=[{"__typename": "CheckRun", "name": "ci", "status": "COMPLETED",
                                   "conclusion": "SUCCESS"}])
    ctx.config = _with_reviews(ctx.config)
    head = ctx.board.get_work(key).head_sha
    assert await held() == ("review", f"no review at {head[:7]}")
    ctx.config = _with_reviews(ctx.config, enabled=False)
    [line] = (await run_queue(ctx, dry_run=True)).lines
    assert (line.outcome, line.reason) == ("would_merge", f"every gate holds at {head[:7]}")
    heads = world.heads()
    assert ctx.board.get_work(key).stage == s.PR_OPEN and world.heads() == heads   # dry run
    from coordssh.domain.work import Event
    from coordssh.services import pipeline
    with ctx.board.transaction() as tx:                 # a stage that may not merge now
        pipeline.apply(tx, key, Event("parked", {"until": None, "reason": "hold it"}), 0)
    [line] = (await run_queue(ctx)).lines
    assert (line.outcome, line.gate) == ("held", "stage")
    assert line.reason.startswith(f"{key} is parked: merge started is not possible now")
    assert ctx.board.get_work(key).stage == s.PARKED and world.heads() == heads
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, key, Event("unparked", {"reason": "go"}), 0)
    from coordssh.services.verdicts import record_test_verdict
    await record_test_verdict(ctx, key, passed=False, reason="flaky login test")
    assert await held() == ("test", f"failed at {head[:7]}")
    with pytest.raises(UsageError):
        await run_queue(ctx, method="octopus")


def _with_reviews(config, enabled: bool = True):
    return replace(config, reviews=Reviews(enabled=enabled))


async def test_merging_the_first_makes_the_second_conflict(machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(8, "First", labels=())
    fake.add_issue(9, "Second")
    ctx = github_context(contexts, machine, fake)
    set_repo(ctx, test_command=f"test -f {MADE}")
    first = await implemented(ctx, machine.name, 8)
    second = await implemented(ctx, machine.name, 9)
    for key in (first, second):
        await judge_head(ctx, key)
        await open_pr(ctx, key)
    fake.rate_limit(1, command="pr merge")              # answered with a back-off
    result = await run_queue(ctx)
    by_key = {line.work: line for line in result.lines}
    assert [line.work for line in result.lines] == [first, second]       # older first
    assert by_key[first].outcome == "merged", by_key[first]
    assert (by_key[second].outcome, by_key[second].files) == ("conflict", (MADE,))
    assert f"conflicts with main in {MADE}" == by_key[second].reason
    one, two = ctx.board.get_work(first), ctx.board.get_work(second)
    assert one.stage == s.MERGED and two.stage == s.CONFLICT
    assert two.conflict_files == (MADE,)
    assert one.branch not in world.heads() and two.branch in world.heads()
    assert git("show", f"main:{MADE}", cwd=world.origin)               # merged for real
    assert fake.issue(8)["state"] == "CLOSED" and fake.issue(9)["state"] == "OPEN"
    merges = [c for c in fake.calls() if c["argv"][:2] == ["pr", "merge"]]
    assert len(merges) == 2                                # the rate-limited one, then again
    comments = fake.issue(8).get("comments", [])
    assert len(marked(comments, "merged")) == 1
    # rerun: nothing merged again, nothing posted again; the conflict stays parked
    again = await run_queue(ctx)
    assert [line.work for line in again.lines] == [second]
    assert again.lines[0].outcome == "conflict"
    assert len(marked(fake.issue(8).get("comments", []), "merged")) == 1
    assert [e["kind"] for e in ctx.board.events(second)].count("merge_conflict") == 1
