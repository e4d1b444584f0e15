"""The work pipeline's follow-up runs end to end with the REAL claude CLI (tests/claude-code.version)
against the scripted model server, on a local and an ssh machine: implement -> test fails ->
fix (one rung up the ladder, as the server saw it) -> test passes at the new SHA, all on one
branch and in `work --history`; a crashed run continued with `claude --resume` (the server's
first request after it carries the earlier conversation); a run retried on another machine."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.config.schema import Models
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.errors import RunFailed
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.continue_run import continue_run
from coordssh.services.fix import FixRequest, fix
from coordssh.services.observe import observe
from coordssh.services.retry import retry
from coordssh.services.test_run import dispatch_test
from coordssh.services.watch import wait_run
from coordssh.services.work_view import work_views
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import envelope_file, finished, git, wait_for
from tests.support.model_server import tool_result_count, user_texts

pytestmark = pytest.mark.real_claude
LONG = 300
LADDER = Models(default="claude-sonnet-test",
                escalation=("claude-haiku-test", "claude-sonnet-test", "claude-opus-test"))


def write_commit(content: str, message: str) -> list[dict]:
    return [
        {"tool": {"name": "Write", "input": {"file_path": "file.txt", "content": content}}},
        {"tool": {"name": "Bash", "input": {"command": "git add file.txt", "description": "Stage"}}},
        {"tool": {"name": "Bash", "input": {"command": f"git commit -m '{message}'",
                                            "description": "Commit"}}},
        {"text": f"{message}.\n\nSTATUS: done"}]


def real(contexts, machine, claude_bin, claude_env, server, **options):
    return contexts(machine, claude_command=str(claude_bin), env=claude_env.overrides(server),
                    **options)


def saved_tool_results(home: Path, session_id: str) -> int:
    """How many tool results the CLI has written to the session's transcript under `home`."""
    return sum(path.read_text().count('"tool_result"')
               for path in (home / ".claude" / "projects").glob(f"*/{session_id}.jsonl"))


async def start(ctx, machine: str, issue: int):
    return await assign(ctx, AssignRequest(machine=machine, repo="demo", issue=issue,
                                           title="Mark the file fixed",
                                           briefing="file.txt must say fixed."))


async def test_implement_test_fails_fix_one_rung_up_test_passes_on_one_branch(
        machine, contexts, world, claude_bin, model_server, claude_env):
    implement = model_server(write_commit("broken\n", "Add file.txt"))
    ctx = real(contexts, machine, claude_bin, claude_env, implement, models=LADDER)
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"],
                                       test_command="grep -q fixed file.txt")
    first = await wait_run(ctx, (await start(ctx, machine.name, 31)).assignment.id, timeout=LONG)
    assert first.status == m.DONE and implement.problems == []
    assert implement.main_requests()[0]["body"]["model"] == "claude-sonnet-test"
    test = (await dispatch_test(ctx, "demo#31")).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, test.id, timeout=LONG)
    broken = ctx.board.get_work("demo#31")
    assert broken.stage == s.TEST_FAILED and broken.head_sha == first.pushed_sha

    repair = model_server(write_commit("fixed\n", "Mark file.txt fixed"))
    ctx = real(contexts, machine, claude_bin, claude_env, repair, models=LADDER)
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"],
                                       test_command="grep -q fixed file.txt")
    started = await fix(ctx, FixRequest(test.id, guidance="Write the word fixed."))
    assert started.assignment.extra["model_source"] == ("escalation: rung 3 of 3 after "
                                                        "claude-sonnet-test")
    fixed = await wait_run(ctx, started.assignment.id, timeout=LONG)
    asked = repair.main_requests()[0]["body"]
    assert asked["model"] == "claude-opus-test"                    # one rung up, as claude got it
    prompt = user_texts(asked)[-1]
    assert "+ grep -q fixed file.txt" in prompt and "Write the word fixed." in prompt
    assert repair.problems == []
    assert fixed.status == m.DONE and fixed.branch == first.branch
    assert world.heads()[first.branch] == fixed.pushed_sha
    assert git("show", f"{fixed.pushed_sha}:file.txt", cwd=world.origin) == "fixed\n"

    again = (await dispatch_test(ctx, "demo#31")).assignment
    assert (await wait_run(ctx, again.id, timeout=LONG)).status == m.DONE
    [view] = await work_views(ctx, "demo#31", history=True)
    data = view.to_json()
    assert (data["stage"], data["head_sha"], data["branch"]) == (s.TESTED, fixed.pushed_sha,
                                                                first.branch)
    assert [(r["role"], r["status"]) for r in data["runs"]] == [
        ("implement", "done"), ("test", "failed"), ("fix", "done"), ("test", "done")]
    assert [(v["kind"], v["result"], v["sha"]) for v in data["verdicts"]] == [
        ("test", "passed", fixed.pushed_sha)]
    trail = [(e["kind"], e["data"]["result" if e["kind"] == "test_verdict" else "role"])
             for e in data["history"]]
    assert trail == [("run_started", "implement"), ("run_ended", "implement"),
                     ("run_started", "test"), ("test_verdict", "failed"),
                     ("run_started", "fix"), ("run_ended", "fix"),
                     ("run_started", "test"), ("test_verdict", "passed")]
    assert data["history"][4]["data"]["model"] == "claude-opus-test"
    json.dumps(data)                                                # `work --json` as printed


async def test_a_crashed_run_continues_with_resume_in_its_worktree(
        machine, contexts, world, claude_bin, model_server, claude_env):
    server = model_server([
        {"tool": {"name": "Write", "input": {"file_path": "draft.txt", "content": "draft\n"}}},
        {"hang": True},
        *write_commit("done after the guidance\n", "Finish file.txt")])
    ctx = real(contexts, machine, claude_bin, claude_env, server)
    crashed = (await start(ctx, machine.name, 32)).assignment
    server.wait_for_requests(2)                             # the CLI waits on the hung answer
    # the CLI sends a request before its session file has the tool result in it: a crash in
    # that gap loses the call on resume (as it would for a user). Crash after it is saved.
    wait_for(lambda: saved_tool_results(claude_env.home, crashed.session_id), LONG)
    os.killpg(int(envelope_file(crashed.run_dir, "claude_pid")), signal.SIGKILL)
    wait_for(lambda: finished(crashed.run_dir), LONG)
    await observe(ctx)
    row = ctx.board.get(crashed.id)
    assert row.status == m.CRASHED and ctx.board.get_work("demo#32").stage == s.INTERRUPTED
    before = len(server.main_requests())

    result = await continue_run(ctx, crashed.id, "Write file.txt and commit it.")
    run = result.assignment
    assert (run.worktree, run.session_id, run.branch, run.role) == (
        crashed.worktree, crashed.session_id, crashed.branch, "implement")
    assert run.extra["mode"] == "continue" and run.extra["continues"] == crashed.id
    assert any("reusing the earlier worktree" in note for note in result.notes)
    assert "--resume" in result.command and "--session-id" not in result.command
    done = await wait_run(ctx, run.id, timeout=LONG)
    resumed = server.main_requests()[before]["body"]
    texts = user_texts(resumed)
    earlier = user_texts(server.main_requests()[0]["body"])[-1]
    assert earlier.startswith("You are a software engineer") and earlier in texts  # the prompt
    assert tool_result_count(server.main_requests()[1]["body"]) == 1   # and the call it made
    assert tool_result_count(resumed) == 1                            # ... are both resent
    assert texts[-1].startswith("The operator read where you stopped and says:\n\nWrite "
                                "file.txt and commit it.")
    [init] = [json.loads(line) for line in Path(run.run_dir, "stream.jsonl").read_text()
              .splitlines() if '"subtype":"init"' in line]
    assert init["session_id"] == crashed.session_id
    assert done.status == m.DONE and world.heads()[crashed.branch] == done.pushed_sha
    item = ctx.board.get_work("demo#32")
    assert (item.stage, item.rounds.retry, item.runs) == (s.IMPLEMENTED, 1, (crashed.id, run.id))


async def test_a_run_that_failed_on_one_machine_is_retried_on_another(
        machine, contexts, world, tmp_path, claude_bin, model_server, claude_env):
    refused = model_server("auth_401")
    ctx = real(contexts, machine, claude_bin, claude_env, refused)
    served = model_server("commit_relative")
    clone = tmp_path / "worker2" / "repo"
    git("clone", "-q", str(world.origin), str(clone))
    other = replace(ctx.config.machines[machine.name], name="otherbox", connection="local",
                    host="localhost", port=None, user=None, identity_file=None, known_hosts=None,
                    worktree_root=str(tmp_path / "wt2"), run_root=str(tmp_path / "runs2"),
                    repo_paths={"demo": str(clone)}, env=claude_env.overrides(served))
    ctx.config = replace(ctx.config, machines={**ctx.config.machines, "otherbox": other})
    first = (await start(ctx, machine.name, 33)).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, first.id, timeout=LONG)
    assert ctx.board.get(first.id).status == m.AUTH_FAILED
    result = await retry(ctx, "demo#33")
    run = result.assignment
    assert (run.machine, run.branch, run.role, run.extra["mode"]) == (
        "otherbox", first.branch, "implement", "retry")
    done = await wait_run(ctx, run.id, timeout=LONG)
    assert done.status == m.DONE and world.heads()[first.branch] == done.pushed_sha
    assert user_texts(served.main_requests()[0]["body"])[-1] == result.prompt
    assert served.main_requests()[0]["body"]["model"] == refused.main_requests()[0]["body"][
        "model"]
    item = ctx.board.get_work("demo#33")
    assert (item.stage, item.runs, item.rounds.retry) == (s.IMPLEMENTED, (first.id, run.id), 1)
