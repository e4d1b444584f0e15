"""The driver's pass (services/notify.py) in-process: the cron-style loop, the registry, dry run,
comments once each, the forge failing mid-pass. Real repos, real runs of the claude stand-in,
the fake gh over its state file."""

from __future__ import annotations

import json
from pathlib import Path

from coordssh.domain import stages as s
from coordssh.domain.next_action import Action
from coordssh.forge import forge_for
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.notifier import LocalNotifier
from coordssh.services.notify import notify_pass
from coordssh.services.notify_actions import Registry, action_name, default_registry
from tests.support.dispatch import contexts, tree_snapshot, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, wait_for
from tests.support.fake_gh import FakeGitHub
from tests.support.notify_world import with_pipeline


def _request(machine: str, scenario: str = "success") -> AssignRequest:
    return AssignRequest(machine=machine, repo="demo", issue=5, title="Fix the widget",
                         briefing=f"[[fake-claude:{scenario}]]")


async def _until(ctx, predicate, passes: int = 60):
    """Run notify passes (cron-style) until `predicate(item)` holds; the reports."""
    reports = []
    for _ in range(passes):
        reports.append(await notify_pass(ctx))
        item = ctx.board.get_work("demo#5")
        if predicate(item):
            return reports
        wait_for(lambda: all(finished(r.run_dir) for r in ctx.board.list(live_only=True)))
    raise AssertionError(f"not reached after {passes} passes: {ctx.board.get_work('demo#5')}")


def _comments(ctx) -> list[str]:
    return [c["body"] for c in LocalNotifier(ctx.config.state_dir / "comments.json")
            .read().get("demo#5", [])]


async def test_cron_passes_carry_a_finished_implement_run_to_a_passed_test(local_machine,
                                                                         contexts):
    ctx = with_pipeline(contexts(local_machine), auto_test=True)
    await notify_pass(ctx)            # cron was set up first (a first pass posts no history)
    first = (await assign(ctx, _request("localbox"))).assignment
    wait_for(lambda: finished(first.run_dir))
    reports = await _until(ctx, lambda item: item.stage == s.TESTED)
    item = ctx.board.get_work("demo#5")
    assert item.verdict("test").result == "passed" and len(item.runs) == 2
    did = [d for r in reports for d in r.did]
    assert [(d["action"], d["role"]) for d in did] == [("dispatch", "test")]
    skipped = reports[-1].skipped
    assert skipped == [{"work": "demo#5", "stage": s.TESTED, "action": "open_pr", "role": "",
                        "mode": "", "reason": skipped[0]["reason"],
                        "skipped": skipped[0]["skipped"]}]
    assert skipped[0]["skipped"].startswith("not automatic: test passed at ")
    bodies = _comments(ctx)
    assert [b.splitlines()[0].split("`")[0] for b in bodies] == [
        "**coordssh**: implement run ", "**coordssh**: implement run ",
        "**coordssh**: test run ", "**coordssh**: tests passed at "]
    assert all("<!-- coordssh:" in b for b in bodies)
    test_run = ctx.board.get(item.runs[-1])
    wait_for(lambda: ctx.board.get(test_run.id).extra.get("gc"))     # gc: the test worktree
    assert not Path(test_run.worktree).exists() and Path(first.worktree).exists()
    again = await notify_pass(ctx)                      # nothing new: nothing done twice
    assert again.did == [] and _comments(ctx) == bodies
    assert [c["state"] for c in again.comments] == []


async def test_an_action_without_a_performer_is_skipped_with_its_name(local_machine, contexts):
    ctx = with_pipeline(contexts(local_machine), auto_test=True)
    first = (await assign(ctx, _request("localbox"))).assignment
    wait_for(lambda: finished(first.run_dir))
    report = await notify_pass(ctx, registry=Registry())          # nothing registered
    assert report.did == []
    assert report.skipped[0]["skipped"] == "no performer for dispatch.test.new yet"
    assert ctx.board.get_work("demo#5").stage == s.IMPLEMENTED
    assert set(default_registry().names()) == {
        "dispatch.test.*", "dispatch.fix.*", "dispatch.*.retry", "dispatch.*.resume",
        "dispatch.review.*", "repush.*.*", "open_pr.*.*", "merge.*.*", "park.*.*", "unpark.*.*"}
    assert action_name(Action("dispatch", "", role="fix", mode="conflict")) == \
        "dispatch.fix.conflict"


async def test_dry_run_changes_nothing_and_says_what_it_would_do(local_machine, contexts,
                                                                world):
    ctx = with_pipeline(contexts(local_machine), auto_test=True)
    first = (await assign(ctx, _request("localbox"))).assignment
    wait_for(lambda: finished(first.run_dir))
    board = ctx.board.path.read_bytes()
    trees = tree_snapshot(Path(local_machine.worktree_root), world.origin)
    report = await notify_pass(ctx, dry_run=True)
    assert [(d["action"], d["role"], d["would"]) for d in report.did] == [
        ("dispatch", "test", True)]
    assert {c["state"] for c in report.comments} == {"would_post"}
    assert ctx.board.path.read_bytes() == board
    assert tree_snapshot(Path(local_machine.worktree_root), world.origin) == trees
    assert not (ctx.config.state_dir / "comments.json").exists()


async def test_gh_rate_limited_mid_pass_the_comments_wait_and_come_next_pass_in_order(
        local_machine, contexts):
    fake = FakeGitHub(Path(local_machine.run_root).parent)
    fake.add_issue(5, "Fix the widget", "[[fake-claude:success]]")
    ctx = contexts(local_machine, github="o/r",
                   forge_factory=lambda repo: forge_for(repo, gh=fake.gh, env=fake.env))
    ctx = with_pipeline(ctx, auto_test=True)
    await notify_pass(ctx)            # cron was set up first (a first pass posts no history)
    first = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=5))).assignment
    wait_for(lambda: finished(first.run_dir))
    fake.update(faults=[{"kind": "secondary", "command": "issue comment", "times": 1}])
    report = await notify_pass(ctx)   # rate-limited: the other comments wait, the pass goes on
    assert [(c["kind"], c["state"]) for c in report.comments] == [
        ("run_started", "deferred"), ("run_ended", "deferred"), ("run_started", "deferred")]
    assert "rate limit" in report.comments[0]["detail"]
    assert report.comments[1]["detail"].startswith("gh is failing (GitHub rate limit hit")
    assert [(d["action"], d["role"]) for d in report.did] == [("dispatch", "test")]
    assert fake.issue(5).get("comments", []) == [] and report.errors == []
    wait_for(lambda: all(finished(r.run_dir) for r in ctx.board.list()))
    second = await notify_pass(ctx)
    assert [(c["kind"], c["state"]) for c in second.comments] == [
        ("run_started", "posted"), ("run_ended", "posted"), ("run_started", "posted"),
        ("test_verdict", "posted")]
    bodies = [c["body"] for c in fake.issue(5)["comments"]]
    markers = [b.rsplit("<!--", 1)[1] for b in bodies]
    assert len(bodies) == 4 and len(markers) == len(set(markers))   # each comment once
    comment_calls = [c for c in fake.calls() if c["argv"][:2] == ["issue", "comment"]]
    assert all(c["argv"][c["argv"].index("--body-file") + 1] == "-" for c in comment_calls)
    assert json.loads(json.dumps(second.to_json()))["errors"] == []


async def test_cron_passes_alone_carry_a_finished_implement_run_to_a_merged_pr(
        local_machine, contexts, world, tmp_path):
    """Issue 11's done-when: after the implement run, nothing but repeated passes: test (auto),
    the PR (auto), the merge queue (auto; reviews off) on a plain-git repo whose merge is a real
    merge pushed to the bare origin. Every comment once; another pass does nothing."""
    from coordssh.forge import forge_for, local_issue

    ctx = with_pipeline(contexts(local_machine), auto_test=True, auto_pr=True, auto_merge=True)
    issue = local_issue(5, "Fix the widget", "[[fake-claude:success]]")
    ctx.forge_factory = lambda repo: forge_for(repo, issues=[issue], state_dir=tmp_path / "forge",
                                               origin=str(world.origin))
    first = (await assign(ctx, _request("localbox"))).assignment
    wait_for(lambda: finished(first.run_dir))
    reports = await _until(ctx, lambda item: item.stage == s.MERGED)
    did = [(d["action"], d.get("role", "")) for r in reports for d in r.did]
    assert did == [("dispatch", "test"), ("open_pr", ""), ("merge", "")]
    item = ctx.board.get_work("demo#5")
    assert world.heads()["main"] == item.head_sha or \
        git_is_ancestor(world, item.head_sha, world.heads()["main"])
    assert item.branch not in world.heads()                      # the merged branch is deleted
    bodies = _comments(ctx)
    again = await notify_pass(ctx)
    assert again.did == [] and _comments(ctx) == bodies
    assert len(bodies) == len(set(bodies))                       # no comment twice


def git_is_ancestor(world, sha: str, of: str) -> bool:
    import subprocess

    return subprocess.run(["git", "merge-base", "--is-ancestor", sha, of], cwd=world.origin,
                          capture_output=True).returncode == 0
