"""What the issue and the operator read when a cycle ends without a merge or a run's machine is
lost: one issue comment per cycle end (`pr_closed` and `abandoned` share it), the way to start
again, never the `abandon --close-pr` PR comment word for word; a run whose machine cannot be
reached is said to be unknown, with `coordssh retry ID`. Real repos, the fake gh over the real
bare origin, the claude stand-in, a real sshd."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordssh.cli.render.work import work_text
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.work import Event
from coordssh.services import pipeline
from coordssh.services.abandon import abandon
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.notify import notify_pass
from coordssh.services.work_view import work_views
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.notify_world import with_pipeline
from tests.support.prflow import github_context, github_rig, implemented, judge_head, set_repo

MADE = "coordssh-fake-success.txt"
AGAIN = "`coordssh assign MACHINE demo 7` starts a new cycle on a new branch."


async def _with_pr(ctx) -> tuple[str, int]:
    from coordssh.services.pr import open_pr

    set_repo(ctx, test_command=f"test -f {MADE}")
    key = await implemented(ctx, "localbox", 7)
    await judge_head(ctx, key)
    return key, (await open_pr(ctx, key)).pr.number


def _ends(fake) -> list[str]:
    """The cycle-end comments on issue 7, oldest first."""
    return [c["body"] for c in fake.issue(7).get("comments", [])
            if "<!-- coordssh:cycle_end:" in c["body"]]


def _text_lines(body: str) -> set[str]:
    return {line.strip() for line in body.splitlines()
            if line.strip() and not line.startswith("<!--")}


async def test_each_cycle_end_is_said_once_on_the_issue_with_the_way_to_start_again(
        local_machine, contexts, world, tmp_path):
    fake = github_rig(tmp_path, world)
    fake.add_issue(7, "Add hello")
    ctx = with_pipeline(github_context(contexts, local_machine, fake), test_command="true")
    key, first_pr = await _with_pr(ctx)
    assert (await notify_pass(ctx)).errors == []        # cron set up: no history posted
    first_branch = ctx.board.get_work(key).branch

    # cycle 1: the operator abandons it and closes the PR (which gets its own comment)
    await abandon(ctx, key, reason="wrong approach", close_pr=True)
    report = await notify_pass(ctx)
    assert [(c["kind"], c["state"]) for c in report.comments] == [("abandoned", "posted")]
    [said] = _ends(fake)
    assert said.startswith(f"**coordssh**: abandoned by the operator: wrong approach.\n"
                           f"Branch `{first_branch}` is kept. {AGAIN}\n")
    [on_pr] = [c["body"] for c in fake.pull(first_pr)["comments"]]
    assert "wrong approach" in on_pr and not _text_lines(said) & _text_lines(on_pr)
    assert (await notify_pass(ctx)).comments == [] and len(_ends(fake)) == 1

    # cycle 2: its PR closed unmerged on GitHub, reopened by a human, then abandoned: one comment
    key, second_pr = await _with_pr(ctx)
    second_branch = ctx.board.get_work(key).branch
    assert second_branch != first_branch and ctx.board.get_work(key).cycle == 2
    fake.set_pull(second_pr, state="CLOSED")
    closed = await notify_pass(ctx)
    assert ("pr_closed", "posted") in [(c["kind"], c["state"]) for c in closed.comments]
    assert ctx.board.get_work(key).stage == s.ABANDONED
    assert len(_ends(fake)) == 2 and _ends(fake)[1].startswith(
        f"**coordssh**: PR #{second_pr} was closed without merging: work stopped.\n"
        f"Branch `{second_branch}` is kept. {AGAIN}\n")
    fake.set_pull(second_pr, state="OPEN")        # reopened by hand; nothing records it yet
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, key, Event("pr_reopened", {}), ctx.clock())
    await abandon(ctx, key, reason="superseded", close_pr=True)
    after = await notify_pass(ctx)
    assert [(c["kind"], c["state"]) for c in after.comments] == [("abandoned", "recorded")]
    assert len(_ends(fake)) == 2                  # the pair of cycle 2 has one comment
    kinds = [e["kind"] for e in ctx.board.events(key)]
    assert kinds.count("pr_closed") == 1 and kinds.count("abandoned") == 2


@pytest.mark.ssh
async def test_a_run_on_an_unreachable_machine_is_said_unknown_with_retry_by_work_and_notify(
        ssh_machine, contexts):
    ctx = with_pipeline(contexts(ssh_machine, env={"FAKE_CLAUDE_SCENARIO": "hang"}),
                        auto_reassign=True)
    await notify_pass(ctx)
    run = (await assign(ctx, AssignRequest(machine="sshbox", repo="demo", issue=5,
                                           title="t"))).assignment
    gone = replace(ctx.config.machines["sshbox"], port=1, connect_timeout=3.0)  # nothing listens
    ctx.config = replace(ctx.config, machines={"sshbox": gone})
    [view] = await work_views(ctx, "demo#5")
    assert ctx.board.get(run.id).status == m.UNKNOWN
    said = (f"waiting for the implement run {run.id}: its state is unknown, machine sshbox "
            f"cannot be reached since ")
    assert (view.action.kind, view.action.command) == ("wait", f"coordssh retry {run.id}")
    assert view.action.reason.startswith(said)
    assert view.action.reason.endswith(f"; `coordssh retry {run.id}` moves it to another "
                                       "machine, or wait for the machine to answer")
    assert f"\n            coordssh retry {run.id}\n" in work_text(view)
    from coordssh.services.live_model import work_views as live_views
    from coordssh.services.pipeline import policy_from_config

    [live], _ = live_views(ctx.board.list_work(), policy_from_config(ctx.config), ctx.clock(),
                           ctx.board.list())          # `coordssh live` says it too
    assert live.reason == view.action.reason
    report = await notify_pass(ctx)
    [skipped] = [e for e in report.skipped if e["work"] == "demo#5"]
    assert skipped["skipped"] == view.action.reason      # the command is said once, not twice
    assert report.did == [] and ctx.board.get_work("demo#5").stage == s.IMPLEMENTING
