"""The PR half of the pipeline end to end with the REAL claude CLI (tests/claude-code.version)
against the scripted model server and the fake gh over real repos, on a local and an ssh machine:
implement -> test -> pr -> review (request changes, read-only: its Write is refused) -> fix ->
test -> review (approve) -> merge, with the gates that hold the PR back on the way, a gh rate
limit answered with a back-off, and nothing posted twice (rerun; an older board.json put back).
Then, on the local machine: a verdict that cannot be parsed is not an approval, and a refused
self-review becomes a PR comment."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.config.schema import Reviews
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.services.fix import FixRequest, fix
from coordssh.services.merge_queue import run_queue
from coordssh.services.pr import open_pr
from coordssh.services.review import dispatch_review
from coordssh.services.review_post import POSTED, settle_review, wait_review
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import git
from tests.support.model_server import tool_result_count, user_texts
from tests.support.prflow import github_context, github_rig, judge_head

pytestmark = pytest.mark.real_claude
LONG = 300
CHECK = "Every behaviour change has a test"


def write_commit(content: str, message: str) -> list[dict]:
    return [
        {"tool": {"name": "Write", "input": {"file_path": "greeting.txt", "content": content}}},
        {"tool": {"name": "Bash", "input": {"command": "git add greeting.txt",
                                            "description": "Stage"}}},
        {"tool": {"name": "Bash", "input": {"command": f"git commit -m '{message}'",
                                            "description": "Commit"}}},
        {"text": f"{message}: greeting.txt now says {content.strip()}.\n\nSTATUS: done"}]


def verdict_block(verdict: str, summary: str, findings: str = "[]") -> str:
    return (f"I read the diff.\n\n```json\n{{\"verdict\": \"{verdict}\", \"summary\": "
            f"\"{summary}\", \"findings\": {findings}}}\n```\n")


FINDING = ('[{"file": "greeting.txt", "line": 1, "severity": "major", '
           '"text": "says hi, the issue asks for hello"}]')


def review_script(final: str) -> list[dict]:
    return [
        {"tool": {"name": "Bash", "input": {"command": "git diff origin/main...HEAD",
                                            "description": "The change under review"}}},
        {"tool": {"name": "Write", "input": {"file_path": "greeting.txt",
                                             "content": "reviewer was here\n"}}},
        {"text": final}]


def rig(contexts, machine, fake, claude_bin, claude_env, server, tmp_path):
    ctx = github_context(contexts, machine, fake, claude_command=str(claude_bin),
                         env=claude_env.overrides(server))
    ctx.config = replace(ctx.config, reviews=Reviews(enabled=True, checklist=(CHECK,)))
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"],
                                       test_command="test -s greeting.txt")
    return ctx


def with_claude_md(world) -> None:
    (world.seed / "CLAUDE.md").write_text("Greetings are always lowercase.\n")
    git("add", "CLAUDE.md", cwd=world.seed)
    git("commit", "-q", "-m", "CLAUDE.md", cwd=world.seed)
    git("push", "-q", "origin", "main", cwd=world.seed)


async def review_to_end(ctx, key):
    started = await dispatch_review(ctx, key)
    return started, await wait_review(ctx, started.assignment.id, timeout=LONG)


async def test_issue_to_merged_pr_through_review_fix_and_the_gates(
        machine, contexts, world, tmp_path, claude_bin, model_server, claude_env):
    with_claude_md(world)
    fake = github_rig(tmp_path, world)
    fake.add_issue(41, "Greet with hello", "greeting.txt must say hello.")
    key = "demo#41"

    implement = model_server(write_commit("hi\n", "Add greeting.txt"))
    ctx = rig(contexts, machine, fake, claude_bin, claude_env, implement, tmp_path)
    from coordssh.services.assign import AssignRequest, assign
    first = (await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=41)))
    first = await wait_run(ctx, first.assignment.id, timeout=LONG)
    await judge_head(ctx, key)
    number = (await open_pr(ctx, key)).pr.number
    assert f"Add greeting.txt: greeting.txt now says hi." in fake.pull(number)["body"]
    head = ctx.board.get_work(key).head_sha
    [held] = (await run_queue(ctx, dry_run=True)).lines
    assert (held.gate, held.reason) == ("review", f"no review at {head[:7]}")

    # review 1: request changes; its Write is refused, nothing is pushed
    reviewer = model_server(review_script(verdict_block("request_changes", "Not hello yet.",
                                                        FINDING)))
    ctx = rig(contexts, machine, fake, claude_bin, claude_env, reviewer, tmp_path)
    heads = world.heads()
    fake.rate_limit(1, command="pr review")                 # answered with a back-off
    started, outcome = await review_to_end(ctx, key)
    run = outcome.run
    assert reviewer.problems == []
    assert (run.role, run.base_sha, run.session_id) == ("review", head, started.assignment.session_id)
    assert run.session_id != first.session_id and started.same_machine
    asked = reviewer.main_requests()[0]["body"]
    assert tool_result_count(asked) == 0                          # a fresh session: no history
    assert [msg["role"] for msg in asked["messages"]].count("assistant") == 0
    prompt = user_texts(asked)[-1]                                # ours (the CLI adds reminders)
    for part in (f"origin/main...{head}", CHECK,
                 "The repository's CLAUDE.md says:\n\nGreetings are always lowercase.",
                 "greeting.txt must say hello.", "the same machine that wrote this code",
                 '"verdict": "approve"'):
        assert part in prompt, part
    assert world.heads() == heads
    assert (Path(run.worktree) / "greeting.txt").read_text() == "hi\n"     # Write refused
    assert run.status == m.ADVISORY                               # ended well, pushed nothing
    offered = {tool["name"] for tool in asked["tools"]}
    assert {"Read", "Grep", "Glob", "Bash"} <= offered and not offered & {"Write", "Edit"}
    results = str(reviewer.main_requests()[-1]["body"]["messages"])
    assert "+hi" in results and "No such tool available: Write" in results
    assert git("show", f"{head}:greeting.txt", cwd=world.origin) == "hi\n"
    item = outcome.item
    assert item.stage == s.CHANGES_REQUESTED
    verdict = item.verdict("review")
    assert (verdict.result, verdict.sha, verdict.run) == ("request_changes", head, run.id)
    assert "[major] greeting.txt:1: says hi, the issue asks for hello" in verdict.detail
    [review] = fake.pull(number)["reviews"]
    assert review["state"] == "CHANGES_REQUESTED" and verdict.detail in review["body"]
    assert f"coordssh:event=review work={key} run={run.id}" in review["body"]
    assert outcome.settled.how == "review" and outcome.settled.posted

    # the board forgets it posted (an older board): the marker on GitHub stops a second post
    with ctx.board.transaction() as tx:
        row = tx.get(run.id)
        tx.update(run.id, extra={k: v for k, v in row.extra.items() if k != POSTED})
    again = await settle_review(ctx, ctx.board.get_work(key))
    assert again is not None and not again.posted and len(fake.pull(number)["reviews"]) == 1

    # fix, test, review again: approve
    repair = model_server(write_commit("hello\n", "Say hello"))
    ctx = rig(contexts, machine, fake, claude_bin, claude_env, repair, tmp_path)
    fixed = await fix(ctx, FixRequest(key))
    fixed = await wait_run(ctx, fixed.assignment.id, timeout=LONG)
    assert "says hi, the issue asks for hello" in user_texts(repair.main_requests()[0]["body"])[-1]
    assert fixed.status == m.DONE and fixed.branch == first.branch
    await judge_head(ctx, key)
    new_head = ctx.board.get_work(key).head_sha
    [held] = (await run_queue(ctx, dry_run=True)).lines
    assert (held.gate, held.reason) == ("review", f"no review at {new_head[:7]}")
    approver = model_server([{"text": verdict_block("approve", "Says hello now.")}])
    ctx = rig(contexts, machine, fake, claude_bin, claude_env, approver, tmp_path)
    _, outcome = await review_to_end(ctx, key)
    assert outcome.item.stage == s.APPROVED and outcome.item.head_sha == new_head
    assert [r["state"] for r in fake.pull(number)["reviews"]] == ["CHANGES_REQUESTED", "APPROVED"]

    # merge; then an older board.json is put back and the queue runs again
    board_file = ctx.config.state_dir / "board.json"
    shutil.copy(board_file, tmp_path / "board-before-merge.json")
    [merged] = (await run_queue(ctx)).lines
    assert merged.outcome == "merged", merged
    assert git("show", "main:greeting.txt", cwd=world.origin) == "hello\n"
    assert first.branch not in world.heads() and fake.issue(41)["state"] == "CLOSED"
    assert ctx.board.get_work(key).stage == s.MERGED
    shutil.copy(tmp_path / "board-before-merge.json", board_file)
    assert ctx.board.get_work(key).stage == s.APPROVED
    [rerun] = (await run_queue(ctx)).lines
    assert rerun.outcome == "merged" and "comment already there" in rerun.reason
    assert ctx.board.get_work(key).stage == s.MERGED
    comments = [c for c in fake.issue(41).get("comments", []) if "coordssh:event=merged" in c["body"]]
    assert len(comments) == 1
    assert len([c for c in fake.calls() if c["argv"][:2] == ["pr", "merge"]]) == 1


async def test_an_unparsable_verdict_requests_changes_and_self_review_becomes_a_comment(
        local_machine, contexts, world, tmp_path, claude_bin, model_server, claude_env):
    fake = github_rig(tmp_path, world, author="coordbot")   # the viewer wrote the PR itself
    fake.add_issue(42, "Greet", "greeting.txt must exist.")
    key = "demo#42"
    implement = model_server(write_commit("hello\n", "Add greeting.txt"))
    ctx = rig(contexts, local_machine, fake, claude_bin, claude_env, implement, tmp_path)
    from coordssh.services.assign import AssignRequest, assign
    run = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=42))).assignment
    await wait_run(ctx, run.id, timeout=LONG)
    await judge_head(ctx, key)
    number = (await open_pr(ctx, key)).pr.number
    reviewer = model_server([{"text": "Looks fine to me, ship it!"}])     # no json verdict
    ctx = rig(contexts, local_machine, fake, claude_bin, claude_env, reviewer, tmp_path)
    _, outcome = await review_to_end(ctx, key)
    verdict = outcome.item.verdict("review")
    assert outcome.item.stage == s.CHANGES_REQUESTED and verdict.result == "request_changes"
    assert "not approved: the final message has no ```json block" in verdict.detail
    assert fake.pull(number)["reviews"] == []                          # GitHub refused it
    [comment] = fake.pull(number)["comments"]
    assert verdict.detail in comment["body"] and "coordssh:event=review" in comment["body"]
    assert outcome.settled.how == "comment"
    with ctx.board.transaction() as tx:                                 # the board forgets
        row = tx.get(outcome.run.id)
        tx.update(row.id, extra={k: v for k, v in row.extra.items() if k != POSTED})
    from coordssh.services.review_post import settle_reviews
    from coordssh.services.work_view import work_views
    await settle_reviews(ctx, [ctx.board.get_work(key)])               # notify settles again
    [view] = await work_views(ctx, key)                                 # `work` only reads
    assert len(fake.pull(number)["comments"]) == 1
    assert ctx.board.get(outcome.run.id).extra[POSTED] == "comment"
    [held] = (await run_queue(ctx, dry_run=True)).lines
    assert (held.gate, held.reason) == ("review",
                                        f"changes requested at {view.item.head_sha[:7]}")
