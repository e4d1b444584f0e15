"""Giving up on a work item: `coordssh abandon` (refused while a run is live, --close-pr once),
and the driver's forge watch (a PR closed unmerged on GitHub, an issue closed by hand) recording
`pr_closed` / `abandoned` once; then an explicit assign starts a new cycle. Real repos, the fake
gh over the real bare origin, the claude stand-in."""

from __future__ import annotations

import json

import pytest

from coordssh.domain import stages as s
from coordssh.domain.next_action import next_action
from coordssh.domain.policy import Policy
from coordssh.domain.work import WorkItem
from coordssh.errors import Refused
from coordssh.services.abandon import abandon
from coordssh.services.fix import FixRequest, fix
from coordssh.services.notify import notify_pass
from coordssh.services.pr import open_pr
from coordssh.services.stop import stop
from coordssh.services.work_view import work_views
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, wait_for
from tests.support.notify_world import run_cli, with_pipeline, write_config
from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

MADE = "coordssh-fake-success.txt"


def _calls(fake, *argv: str) -> list[dict]:
    return [c for c in fake.calls() if c["argv"][:len(argv)] == list(argv)]


def _driven(contexts, local_machine, world, tmp_path):
    """The fake GitHub with issue 7, and a context with a `pipeline:` section for notify."""
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    return fake, with_pipeline(github_context(contexts, local_machine, fake), test_command="true")


async def _with_pr(ctx, issue: int) -> tuple[str, int]:
    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, "localbox", issue)
    await judge_head(ctx, key)
    return key, (await open_pr(ctx, key)).pr.number


async def test_abandon_is_refused_while_a_run_is_live_then_closes_the_pr_once(
        local_machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    ctx = github_context(contexts, local_machine, fake)
    key, number = await _with_pr(ctx, 7)
    run = (await fix(ctx, FixRequest(key, guidance="[[fake-claude:hang]]"))).assignment
    before = ctx.board.events(key)
    with pytest.raises(Refused) as live:
        await abandon(ctx, key, reason="wrong approach", close_pr=True)
    assert f"has a live fix run {run.id}" in live.value.message
    assert f"`coordssh stop {run.id}` first" in live.value.hint
    assert ctx.board.events(key) == before and ctx.board.get_work(key).stage == s.FIXING
    assert _calls(fake, "pr", "close") == [] and fake.pull(number)["state"] == "OPEN"

    assert (await stop(ctx, run.id)).assignment.terminal
    branch = ctx.board.get_work(key).branch
    kept = world.heads()[branch]
    done = await abandon(ctx, run.id[:6], reason="wrong approach", close_pr=True)
    assert (done.item.stage, done.item.abandoned_reason, done.already) == (
        s.ABANDONED, "wrong approach", False)
    assert (done.pr.state, done.closed_now, done.comment) == ("CLOSED", True, "posted")
    again = await abandon(ctx, key, close_pr=True)            # a rerun: nothing twice
    assert again.already and not again.closed_now
    assert again.notes == (f"PR #{number} was already closed",)
    assert len(_calls(fake, "pr", "close")) == 1
    comments = fake.pull(number)["comments"]
    assert len(comments) == 1 and "wrong approach" in comments[0]["body"]
    assert f"<!-- coordssh:event=abandoned work={key} " in comments[0]["body"]
    assert world.heads()[branch] == kept                      # the branch and commits stay
    assert [e["kind"] for e in ctx.board.events(key)].count("abandoned") == 1
    [view] = await work_views(ctx, key)
    assert (view.action.kind, view.action.command) == ("none", "coordssh assign MACHINE demo 7")
    assert view.action.reason.startswith("abandoned: wrong approach; ")
    from coordssh.cli.render.work import work_text
    assert "            coordssh assign MACHINE demo 7" in work_text(view)

    again_run = await implemented(ctx, "localbox", 7)         # an explicit assign: cycle 2
    item = ctx.board.get_work(again_run)
    assert (item.cycle, item.branch, item.abandoned_reason) == (2, branch + "-2", "")
    assert item.earlier[0]["stage"] == s.ABANDONED and world.heads()[branch] == kept


async def test_a_pr_closed_on_github_is_recorded_once_by_notify_then_assign_reopens(
        local_machine, contexts, world, tmp_path):
    fake, ctx = _driven(contexts, local_machine, world, tmp_path)
    key, number = await _with_pr(ctx, 7)
    assert (await notify_pass(ctx)).errors == []              # open: nothing happens
    assert ctx.board.get_work(key).stage == s.PR_OPEN
    fake.set_pull(number, state="CLOSED")                      # closed by hand on GitHub
    with_pipeline(ctx, max_forge_calls_per_pass=3)  # the watch's share is 1: the listing only
    tight = await notify_pass(ctx)
    assert {"work": "demo", "forge": f"PR #{number} of {key} not read: pipeline.max_forge_"
                                     "calls_per_pass reached: next pass"} in tight.events
    assert ctx.board.get_work(key).stage == s.PR_OPEN
    with_pipeline(ctx)
    first = await notify_pass(ctx)
    assert {"work": key, "forge": f"PR #{number} closed without merging: abandoned"} in \
        first.events, first.events
    item = ctx.board.get_work(key)
    assert (item.stage, item.abandoned_reason) == (s.ABANDONED,
                                                   f"PR #{number} closed without merging")
    views = _calls(fake, "pr", "view")
    second = await notify_pass(ctx)
    assert not [e for e in second.events if "forge" in e] and second.errors == []
    assert _calls(fake, "pr", "view") == views                 # nothing asked again
    kinds = [e["kind"] for e in ctx.board.events(key)]
    assert kinds.count("pr_closed") == 1 and "abandoned" not in kinds

    reopened = await implemented(ctx, "localbox", 7)
    assert ctx.board.get_work(reopened).cycle == 2


async def test_an_issue_closed_by_hand_abandons_an_idle_item_not_a_live_one(
        local_machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    fake.add_issue(8, "Add more", "[[fake-claude:hang]]")
    ctx = with_pipeline(github_context(contexts, local_machine, fake), test_command="true")
    key = await implemented(ctx, "localbox", 7)
    from coordssh.services.assign import AssignRequest, assign
    live = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=8))).assignment
    for number in (7, 8):
        state = fake.load()
        state["repos"][fake.repo]["issues"][str(number)]["state"] = "CLOSED"
        fake.save(state)
    before = len(fake.calls())
    report = await notify_pass(ctx)
    assert {"work": key, "forge": "issue #7 closed on GitHub: abandoned"} in report.events
    during = [c["argv"] for c in fake.calls()[before:]]
    assert [a[:2] for a in during].count(["issue", "list"]) == 1   # one listing for the repo
    assert [a[2] for a in during if a[:2] == ["issue", "view"]
            and "comments" not in a] == ["7"]                  # the live item is not asked
    item = ctx.board.get_work(key)
    assert (item.stage, item.abandoned_reason) == (s.ABANDONED, "issue #7 closed on GitHub")
    assert ctx.board.get_work("demo#8").stage == s.IMPLEMENTING
    await notify_pass(ctx)
    assert [e["kind"] for e in ctx.board.events(key)].count("abandoned") == 1
    assert (await stop(ctx, live.id)).assignment.terminal
    wait_for(lambda: finished(live.run_dir))


async def test_a_cut_issue_list_proves_nothing_so_nothing_is_asked_one_by_one(
        local_machine, contexts, world, tmp_path):
    """More open issues than the listing's limit: the idle item's issue is missing from the
    list only because the list is cut. It is not asked about (that would be a call per item per
    pass, for ever) and stays as it is; the pass says why."""
    from coordssh.services.forge_watch import ISSUES_LIMIT

    fake, ctx = _driven(contexts, local_machine, world, tmp_path)
    key = await implemented(ctx, "localbox", 7)
    state = fake.load()
    for number in range(100, 100 + ISSUES_LIMIT):            # newer issues: #7 falls off
        state["repos"][fake.repo]["issues"][str(number)] = {"title": f"n{number}", "body": "",
                                                            "labels": [], "state": "OPEN"}
    state["repos"][fake.repo]["issues"]["7"]["state"] = "CLOSED"
    fake.save(state)
    before = len(fake.calls())
    report = await notify_pass(ctx)
    assert {"work": "demo", "forge": f"{ISSUES_LIMIT}+ open issues: the list is cut, so an item "
            "missing from it may still be open; not asked one by one"} in report.events
    assert not [c for c in fake.calls()[before:] if c["argv"][:3] == ["issue", "view", "7"]]
    assert ctx.board.get_work(key).stage != s.ABANDONED


def test_the_watch_never_takes_the_last_comment():
    from coordssh.services.forge_watch import watch_share

    assert [watch_share(n) for n in (0, 1, 2, 3, 4, 30)] == [0, 0, 0, 1, 2, 15]


def test_the_command_line_json_and_its_refusals(tmp_path, local_machine, world):
    from coordssh.board.store import Board

    config = write_config(tmp_path / "coordinator.yml", local_machine, world,
                          state_dir=tmp_path / "state", pipeline={})
    board = Board.open(tmp_path / "state")
    with board.transaction() as tx:
        tx.put_work(WorkItem("demo", 9, branch="issue-9-x", stage=s.TESTED, head_sha="a" * 40))
        tx.put_work(WorkItem("demo", 10, branch="issue-10-y", stage=s.MERGED))
    done = run_cli(config, "abandon", "demo#9", "--reason", "not needed", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["stage"], shown["reason"], shown["already"], shown["pr"]) == (
        s.ABANDONED, "not needed", False, None)
    assert shown["again"] == "coordssh assign MACHINE demo 9"
    again = run_cli(config, "abandon", "demo#9")
    assert again.returncode == 0 and "demo#9  already abandoned: not needed" in again.stdout
    merged = run_cli(config, "abandon", "demo#10")
    assert merged.returncode == 1 and "demo#10 is merged" in merged.stderr
    unknown = run_cli(config, "abandon", "demo#11")
    assert unknown.returncode == 2 and "no work item demo#11" in unknown.stderr
    assert next_action(board.get_work("demo#9"), Policy(), 0).reason.startswith(
        "abandoned: not needed; `coordssh assign MACHINE demo 9` starts it again")


async def test_the_merge_queue_records_a_pr_it_finds_closed(local_machine, contexts, world,
                                                             tmp_path):
    from coordssh.services.merge_queue import run_queue

    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    ctx = github_context(contexts, local_machine, fake)
    key, number = await _with_pr(ctx, 7)
    fake.set_pull(number, state="CLOSED")
    [dry] = (await run_queue(ctx, dry_run=True)).lines
    assert (dry.outcome, dry.gate) == ("held", "open") and \
        ctx.board.get_work(key).stage == s.PR_OPEN                # a dry run records nothing
    [line] = (await run_queue(ctx)).lines
    assert (line.outcome, line.reason) == ("closed", f"PR #{number} was closed without "
                                                     f"merging: {key} is abandoned")
    assert ctx.board.get_work(key).stage == s.ABANDONED
    assert (await run_queue(ctx)).lines == ()                    # no longer a candidate


async def test_a_pr_merged_by_hand_is_finished_not_abandoned_for_its_closed_issue(
        local_machine, contexts, world, tmp_path):
    import subprocess

    fake, ctx = _driven(contexts, local_machine, world, tmp_path)
    key, number = await _with_pr(ctx, 7)
    merged = subprocess.run([fake.gh, "pr", "merge", str(number), "--repo", "o/r", "--squash"],
                            env=fake.env, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert fake.issue(7)["state"] == "CLOSED"                  # `Closes #7` closed it
    report = await notify_pass(ctx)
    assert report.errors == [], report.errors
    item = ctx.board.get_work(key)
    assert item.stage == s.MERGED, [e["kind"] for e in ctx.board.events(key)]
    assert "abandoned" not in [e["kind"] for e in ctx.board.events(key)]
    assert item.branch not in world.heads()                    # finished as the queue does
