"""An issue carried to its end (merged, or abandoned) and assigned again: the explicit assign
starts a new cycle of its work item on the new branch. `test`, `pr` and `merge` then act on that
branch and its head; the earlier PR and branch are left alone; `work --history` shows both
cycles. A live item is still refused (already claimed), and nothing but an assign reopens one.
Real repos, the fake gh over the real bare origin, the claude stand-in."""

from __future__ import annotations

import pytest

from coordssh.domain import stages as s
from coordssh.domain.work import Event, WorkItem
from coordssh.errors import Refused, TransitionRefused
from coordssh.services import pipeline
from coordssh.cli.render.assign import summary_text
from coordssh.services.assign import AssignRequest, AssignResult, assign
from coordssh.services.approve import approve
from coordssh.services.merge_queue import run_queue
from coordssh.services.plan import make_plan
from coordssh.services.pr import open_pr
from coordssh.services.stop import stop
from coordssh.services.work_view import work_views
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, reap
from tests.support.plan_fleet import PlanFleet
from tests.support.plan_world import LINES, base_files, branch_with, edit_line
from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

MADE = "coordssh-fake-success.txt"


def reopen_issue(fake, number: int) -> None:
    state = fake.load()
    state["repos"][fake.repo]["issues"][str(number)]["state"] = "OPEN"
    fake.save(state)


async def to_pr(ctx, key: str) -> int:
    await judge_head(ctx, key)
    assert ctx.board.get_work(key).stage == s.TESTED
    return (await open_pr(ctx, key)).pr.number


async def second_cycle(ctx, key: str, first: WorkItem, old_pr: int,
                       machine: str = "localbox") -> WorkItem:
    """The issue assigned again to a pushed head: the new branch is the item's, nothing of the
    first cycle's branch, head, verdicts, PR or rounds is left on it."""
    now = await implemented(ctx, machine, first.issue)
    assert now == key
    item = ctx.board.get_work(key)
    run = ctx.board.get(item.runs[-1])
    assert item.branch == run.branch == first.branch + "-2"
    assert item.head_sha == run.pushed_sha and item.head_sha != first.head_sha
    assert item.pr_number is None and item.pr_url == "" and item.verdicts == ()
    assert item.runs == (run.id,) and item.cycle == 2
    assert f"on the branch `{item.branch}`" in envelope_file(run.run_dir, "prompt.md")
    assert (item.rounds.fix, item.rounds.review, item.rounds.retry) == (0, 0, 0)
    [earlier] = item.earlier
    assert (earlier["branch"], earlier["pr_number"], earlier["head_sha"]) == (
        first.branch, old_pr, first.head_sha)
    assert earlier["stage"] == first.stage and earlier["runs"] == list(first.runs)
    return item


async def test_a_merged_item_assigned_again_works_on_its_new_branch(machine, contexts, world,
                                                                   tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    ctx = github_context(contexts, machine, fake)
    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, machine.name, 7)
    old_pr = await to_pr(ctx, key)
    [line] = (await run_queue(ctx, method="squash")).lines
    assert line.outcome == "merged", line
    first = ctx.board.get_work(key)
    assert first.stage == s.MERGED
    old_pull = fake.pull(old_pr)
    reopen_issue(fake, 7)

    item = await second_cycle(ctx, key, first, old_pr, machine.name)
    await judge_head(ctx, key)                              # tests the new head
    test_run = ctx.board.get(ctx.board.get_work(key).runs[-1])
    assert (test_run.role, test_run.base_sha) == ("test", item.head_sha)
    assert ctx.board.get_work(key).verdict("test").result == "passed"
    opened = await open_pr(ctx, key)
    assert opened.created and opened.pr.number != old_pr
    assert (opened.pr.head, opened.pr.head_sha) == (item.branch, item.head_sha)
    assert ctx.board.get_work(key).pr_number == opened.pr.number
    [line] = (await run_queue(ctx, method="squash")).lines   # only the new PR is a candidate
    assert (line.pr, line.outcome) == (opened.pr.number, "merged"), line
    assert fake.pull(old_pr) == old_pull                   # the first PR was never touched
    done = ctx.board.get_work(key)
    assert (done.stage, done.branch, done.pr_number) == (s.MERGED, item.branch, opened.pr.number)

    [view] = await work_views(ctx, key, history=True)
    kinds = [e["kind"] for e in view.history]
    assert kinds.count("reopened") == 1 and kinds.count("pr_merged") == 2
    reopened = next(e for e in view.history if e["kind"] == "reopened")
    assert reopened["data"]["branch"] == item.branch
    assert reopened["data"]["was_branch"] == first.branch
    started = [e["data"]["branch"] for e in view.history
               if e["kind"] == "run_started" and e["data"].get("role") == "implement"]
    assert started == [first.branch, item.branch]
    shown = view.to_json()
    assert shown["cycle"] == 2 and shown["earlier"][0]["branch"] == first.branch
    from coordssh.cli.render.work import work_text
    text = work_text(view)
    assert f"cycle 1    {first.branch}  merged  PR #{old_pr}" in text
    assert "reopened" in text


async def test_an_abandoned_item_assigned_again_leaves_its_branch_and_pr(local_machine, contexts,
                                                                        world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(8, "Try this")
    ctx = github_context(contexts, local_machine, fake)
    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, "localbox", 8)
    old_pr = await to_pr(ctx, key)
    fake.set_pull(old_pr, state="CLOSED")                   # closed unmerged on GitHub
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, key, Event("abandoned", {"reason": "wrong approach"}), ctx.clock())
    first = ctx.board.get_work(key)
    assert first.stage == s.ABANDONED
    kept = world.heads()[first.branch]
    old_pull = fake.pull(old_pr)

    item = await second_cycle(ctx, key, first, old_pr)
    assert world.heads()[first.branch] == kept             # the abandoned work is kept as it was
    run = ctx.board.get(item.runs[-1])
    assert run.base_sha == world.heads()["main"]           # the new cycle starts from the base
    await judge_head(ctx, key)
    opened = await open_pr(ctx, key)
    assert opened.created and opened.pr.number != old_pr and opened.pr.head == item.branch
    assert fake.pull(old_pr) == old_pull
    assert ctx.board.get_work(key).stage == s.PR_OPEN


async def test_a_live_item_is_still_claimed_and_only_an_assign_reopens(local_machine, contexts,
                                                                      world, tmp_path):
    ctx = contexts(local_machine)
    key = "demo#9"
    with ctx.board.transaction() as tx:                     # an item merged in an earlier cycle
        tx.put_work(WorkItem("demo", 9, branch="issue-9-thing", stage=s.MERGED, pr_number=3,
                             head_sha="a" * 40, runs=("old1",)))
    with ctx.board.transaction() as tx:                     # a retry of its old run: refused
        with pytest.raises(TransitionRefused) as refused:
            pipeline.apply(tx, key, Event("run_started", {"role": "implement", "mode": "retry",
                                                          "branch": "issue-9-thing"}, "x"), 0)
    assert "demo#9 is merged: starting an implement run is not possible now" in \
        refused.value.message
    assert "coordssh assign" in refused.value.hint
    dry = await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=9,
                                          title="Thing", dry_run=True))
    assert "reopens demo#9 (merged: branch issue-9-thing, PR #3): cycle 2 on branch " \
           "issue-9-thing" in dry.notes
    assert ctx.board.get_work(key).stage == s.MERGED       # a dry run reopens nothing
    run = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=9,
                                           title="Thing", briefing="[[fake-claude:hang]]"))
           ).assignment
    assert "  note      reopens demo#9 (merged" in summary_text(
        AssignResult(ctx.board.get(run.id), "", "", ""))
    item = ctx.board.get_work(key)
    assert (item.stage, item.branch, item.cycle, item.pr_number) == (
        s.IMPLEMENTING, run.branch, 2, None)
    with pytest.raises(Refused) as claimed:
        await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=9,
                                        title="Thing"))
    assert "already claimed" in claimed.value.message and run.id in claimed.value.message
    assert ctx.board.get_work(key) == item                  # nothing written
    assert (await stop(ctx, run.id)).assignment.terminal
    assert [e["kind"] for e in ctx.board.events(key)].count("reopened") == 1


async def test_plan_and_approve_reopen_the_way_assign_does(tmp_path):
    """An abandoned item's branch on origin holds nothing (the plan proposes the issue); a
    merged item's issue too; approve dispatches through assign, which starts the new cycles."""
    fleet = PlanFleet.create(tmp_path, {"app": ()})
    world = fleet.worlds["app"]
    base_files(world, {"src/a.py": LINES})
    fleet.issue("app", 5, "five", created="2024-04-01T10:00:00Z")
    fleet.issue("app", 6, "six", created="2024-04-02T10:00:00Z")
    fleet.machine("m1", ("app",), max_workers=3)
    ctx = fleet.context()
    try:
        kept = branch_with(world, "issue-5-five", {"src/a.py": edit_line(3, "given up")})
        with ctx.board.transaction() as tx:
            tx.put_work(WorkItem("app", 5, branch="issue-5-five", stage=s.ABANDONED,
                                 pr_number=2, head_sha=kept, runs=("old5",)))
            tx.put_work(WorkItem("app", 6, branch="issue-6-six", stage=s.MERGED, pr_number=3,
                                 head_sha="c" * 40, runs=("old6",)))
        plan = await make_plan(ctx, fleet.source())
        assert sorted(p.issue for p in plan.schedule.proposals) == [5, 6], plan.schedule.skipped
        result = await approve(ctx, ["all"])
        assert [o.status for o in result.outcomes] == ["dispatched", "dispatched"], result
        five, six = ctx.board.get_work("app#5"), ctx.board.get_work("app#6")
        assert (five.branch, five.cycle, five.pr_number, five.head_sha) == (
            "issue-5-five-2", 2, None, "")
        assert (six.branch, six.cycle, six.pr_number) == ("issue-6-six", 2, None)
        assert five.earlier[0]["stage"] == s.ABANDONED and six.earlier[0]["pr_number"] == 3
        assert {ctx.board.get(five.runs[0]).branch, ctx.board.get(six.runs[0]).branch} == {
            "issue-5-five-2", "issue-6-six"}
        assert world.heads()["issue-5-five"] == kept
    finally:
        reap(ctx.board)


def test_the_merged_comment_names_the_pr_of_its_event_not_the_items_new_cycle():
    from coordssh.services.notify_comments import comment_for

    event = {"seq": 3, "work": "demo#7", "at": 100.0, "kind": "pr_merged", "run": "",
             "data": {"sha": "a" * 40, "number": 4}}
    reopened = WorkItem("demo", 7, branch="issue-7-x-2", stage=s.IMPLEMENTING, pr_number=None)
    assert comment_for(event, None, reopened).body == "**coordssh**: merged. PR #4."
    later = WorkItem("demo", 7, branch="issue-7-x-2", stage=s.PR_OPEN, pr_number=9)
    assert comment_for(event, None, later).body == "**coordssh**: merged. PR #4."
