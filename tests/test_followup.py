"""`fix`, `retry` and `continue` with the claude stand-in (tests/bin/claude): follow-up runs on the
work item's branch, the escalated model shown, every refusal changing nothing, two commands on
one item at once. The real CLI's end-to-end runs are in tests/test_real_followup.py."""

from __future__ import annotations

import asyncio
import json
import shlex
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.cli.render.followup import print_followup
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.work import Rounds
from coordssh.errors import NotFound, Refused, RunFailed, TransitionRefused, UsageError
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.continue_run import continue_run
from coordssh.services.fix import FixRequest, fix
from coordssh.services.observe import observe
from coordssh.services.retry import retry
from coordssh.services.test_run import dispatch_test
from coordssh.services.watch import wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import finished, git, wait_for

MADE = "coordssh-fake-success.txt"          # the stand-in appends a line and commits it
TWO_LINES = f"test $(wc -l < {MADE}) -ge 2 || {{ echo 'FAILED: only one line'; exit 1; }}"
LONG = 300


async def implemented(ctx, machine: str, briefing: str = "Make it.", issue: int = 5):
    run = (await assign(ctx, AssignRequest(machine=machine, repo="demo", issue=issue,
                                           title="Fix the widget", briefing=briefing))).assignment
    wait_for(lambda: finished(run.run_dir), LONG)
    await observe(ctx)
    return run


async def failed_test(ctx, key: str = "demo#5"):
    test = (await dispatch_test(ctx, key)).assignment
    with pytest.raises(RunFailed):
        await wait_run(ctx, test.id, timeout=LONG)
    assert ctx.board.get_work(key).stage == s.TEST_FAILED
    return test


def snapshot(ctx, key: str = "demo#5"):
    return (sorted(r.id for r in ctx.board.list(include_archived=True)),
            ctx.board.get_work(key), len(ctx.board.events(key)))


async def test_fix_runs_one_rung_up_on_the_same_branch_and_the_test_passes_at_the_new_sha(
        machine, contexts, world, tmp_path, capsys):
    record = tmp_path / "claude-argv.jsonl"
    ctx = contexts(machine, env={"FAKE_CLAUDE_RECORD": str(record)})
    ctx.config.repos["demo"] = replace(ctx.config.repos["demo"], test_command=TWO_LINES)
    first = await implemented(ctx, machine.name)
    assert ctx.board.get_work("demo#5").model_rung == 1           # sonnet, models.default
    await failed_test(ctx)
    failed_at = ctx.board.get_work("demo#5").head_sha
    result = await fix(ctx, FixRequest("demo#5", guidance="Append a second line."))
    run = result.assignment
    assert (run.role, run.branch, run.base_sha) == ("fix", first.branch, failed_at)
    assert run.model == "opus"
    assert run.extra["model_source"] == "escalation: rung 3 of 3 after sonnet"
    assert "FAILED: only one line" in result.prompt
    assert any(f"freeing the earlier worktree {first.worktree}" in n for n in result.notes)
    assert result.prompt.rstrip().endswith("## Operator guidance\n\nAppend a second line.")
    print_followup(result, json_output=False)
    assert "  model     opus (escalation: rung 3 of 3 after sonnet)\n" in capsys.readouterr().out
    print_followup(result, json_output=True)
    shown = json.loads(capsys.readouterr().out)
    assert (shown["id"], shown["role"], shown["model_source"]) == (
        run.id, "fix", "escalation: rung 3 of 3 after sonnet")
    done = await wait_run(ctx, run.id, timeout=LONG)
    argv = json.loads(record.read_text().splitlines()[-1])["argv"]
    assert argv[argv.index("--model") + 1] == "opus"
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.head_sha, item.rounds.fix) == (s.IMPLEMENTED, done.pushed_sha, 1)
    assert world.heads()[first.branch] == done.pushed_sha != failed_at
    test = (await dispatch_test(ctx, "demo#5")).assignment
    assert (await wait_run(ctx, test.id, timeout=LONG)).status == m.DONE
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.TESTED and item.verdict("test").sha == done.pushed_sha
    assert {ctx.board.get(r).branch for r in item.runs} == {first.branch}


async def test_fix_refusals_change_nothing(local_machine, contexts, world):
    ctx = contexts(local_machine)
    with pytest.raises(NotFound):
        await fix(ctx, FixRequest("nosuchid"))
    with pytest.raises(NotFound, match="no work item demo#9"):
        await fix(ctx, FixRequest("demo#9"))
    live = (await assign(ctx, AssignRequest(machine="localbox", repo="demo", issue=5,
                                            title="t", briefing="[[fake-claude:hang]]"))).assignment
    before = snapshot(ctx)
    with pytest.raises(Refused, match="demo#5 has nothing pushed yet \\(implementing\\)"):
        await fix(ctx, FixRequest(live.id, guidance="x"))
    assert snapshot(ctx) == before


async def test_no_failure_no_guidance_and_the_round_cap(local_machine, contexts, world):
    ctx = contexts(local_machine)
    await implemented(ctx, "localbox")
    before = snapshot(ctx)
    with pytest.raises(Refused) as info:
        await fix(ctx, FixRequest("demo#5"))
    assert info.value.message.startswith("demo#5 has no failure recorded at ")
    assert info.value.hint == "say what to fix: coordssh fix demo#5 --guidance '...'"
    with ctx.board.transaction() as tx:
        tx.put_work(replace(tx.get_work("demo#5"), rounds=Rounds(fix=3)))
    before = snapshot(ctx)
    with pytest.raises(Refused) as info:
        await fix(ctx, FixRequest("demo#5", guidance="try again"))
    assert info.value.message == ("demo#5 needs a human: 3 fix rounds used; raise "
                                  "pipeline.max_fix_rounds or fix by hand")
    assert snapshot(ctx) == before


async def test_two_fixes_at_once_one_wins(local_machine, contexts, world):
    ctx = contexts(local_machine)
    await implemented(ctx, "localbox")
    key, errors, results = "demo#5", [], []

    def one(context) -> None:
        try:
            results.append(asyncio.run(fix(context, FixRequest(key, guidance="go"))))
        except Refused as err:
            errors.append(err)

    threads = [threading.Thread(target=one, args=(contexts(local_machine),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1 and len(errors) == 1, errors
    # the loser is refused either by the stage table under the board lock, or, when the winner's
    # run is already live by the time it looks at the machine, by the branch that run holds
    if isinstance(errors[0], TransitionRefused):
        assert errors[0].message == "demo#5 is fixing: starting a fix run is not possible now"
    else:
        assert "the worktree of a live run" in errors[0].message
    item = ctx.board.get_work(key)
    assert item.stage == s.FIXING and item.active_run == results[0].assignment.id
    assert [r.role for r in ctx.board.list()] == ["implement", "fix"]
    assert [e["kind"] for e in ctx.board.events(key)] == ["run_started", "run_ended",
                                                          "run_started"]


def second_machine(ctx, world, tmp_path, **env) -> str:
    clone = tmp_path / "worker2" / "repo"
    git("clone", "-q", str(world.origin), str(clone))
    first = ctx.config.machines["localbox"]
    other = replace(first, name="otherbox", worktree_root=str(tmp_path / "wt2"),
                    run_root=str(tmp_path / "runs2"), repo_paths={"demo": str(clone)},
                    env=dict(env))
    ctx.config = replace(ctx.config, machines={**ctx.config.machines, "otherbox": other})
    return "otherbox"


async def test_a_crashed_run_is_retried_on_another_machine_on_its_branch(
        local_machine, contexts, world, tmp_path, capsys):
    ctx = contexts(local_machine, env={"FAKE_CLAUDE_SCENARIO": "crashed"})
    other = second_machine(ctx, world, tmp_path)
    crashed = await implemented(ctx, "localbox")
    assert ctx.board.get(crashed.id).status == m.CRASHED
    assert ctx.board.get_work("demo#5").stage == s.INTERRUPTED
    result = await retry(ctx, crashed.id)
    run = result.assignment
    assert (run.machine, run.role, run.branch, run.extra["mode"]) == (
        other, "implement", crashed.branch, "retry")
    assert run.extra["model_source"] == f"as run {crashed.id}" and run.model == "sonnet"
    assert "Make it." in result.prompt                     # the issue as the first run had it
    done = await wait_run(ctx, run.id, timeout=LONG)
    assert world.heads()[crashed.branch] == done.pushed_sha
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.rounds.retry, item.runs) == (s.IMPLEMENTED, 1, (crashed.id, run.id))
    print_followup(result, json_output=True)
    assert json.loads(capsys.readouterr().out)["mode"] == "retry"


async def test_retry_keeps_to_max_retries_unless_forced(local_machine, contexts, world,
                                                        tmp_path):
    ctx = contexts(local_machine, env={"FAKE_CLAUDE_SCENARIO": "crashed"})
    ctx.config = replace(ctx.config, concurrency=replace(ctx.config.concurrency, max_retries=1))
    second_machine(ctx, world, tmp_path)
    crashed = await implemented(ctx, "localbox")
    again = (await retry(ctx, crashed.id, machine="localbox")).assignment   # crashes again
    wait_for(lambda: finished(again.run_dir), LONG)
    await observe(ctx)
    assert ctx.board.get(again.id).status == m.CRASHED
    assert ctx.board.get_work("demo#5").rounds.retry == 1
    before = snapshot(ctx)
    with pytest.raises(Refused) as info:
        await retry(ctx, again.id, machine="localbox")
    assert info.value.message == ("demo#5 has used 1 of 1 retries (concurrency.max_retries): "
                                  "retrying again is unlikely to help")
    assert "--force" in info.value.hint and "coordssh work demo#5" in info.value.hint
    assert snapshot(ctx) == before
    forced = (await retry(ctx, again.id, machine="localbox", force=True)).assignment
    assert forced.extra["mode"] == "retry" and forced.branch == crashed.branch
    wait_for(lambda: finished(forced.run_dir), LONG)
    await observe(ctx)
    assert ctx.board.get_work("demo#5").rounds.retry == 2


async def test_retry_and_continue_refusals_change_nothing(local_machine, contexts, world,
                                                         tmp_path):
    ctx = contexts(local_machine, env={"FAKE_CLAUDE_SCENARIO": "rate_limited"})
    second_machine(ctx, world, tmp_path)
    limited = await implemented(ctx, "localbox")
    assert ctx.board.get(limited.id).status == m.USAGE_LIMITED
    before = snapshot(ctx)
    with pytest.raises(Refused) as info:
        await retry(ctx, limited.id)
    assert info.value.message.startswith(f"run {limited.id} is usage_limited (")
    assert "it must wait for the reset, not move to another machine" in info.value.message
    assert "--force" in info.value.hint
    with pytest.raises(UsageError, match="--guidance is required"):
        await continue_run(ctx, limited.id, " ")
    with pytest.raises(Refused) as info:          # the stand-in keeps no transcript
        await continue_run(ctx, limited.id, "go on")
    assert info.value.message.startswith(f"on localbox: claude has no transcript of session "
                                         f"{limited.session_id} (looked in ")
    assert f"coordssh retry {limited.id}" in info.value.hint
    with pytest.raises(NotFound):
        await retry(ctx, "feedbeef")
    assert snapshot(ctx) == before


async def test_a_done_run_is_neither_retried_nor_continued(local_machine, contexts, world):
    ctx = contexts(local_machine)
    done = await implemented(ctx, "localbox")
    before = snapshot(ctx)
    with pytest.raises(Refused) as info:
        await retry(ctx, done.id)
    assert info.value.message == (f"run {done.id} is done: retry is for runs that failed for "
                                  "infrastructure reasons (crashed, api_error, auth_failed, "
                                  "push_failed, a lost machine)")
    with pytest.raises(Refused) as info:
        await continue_run(ctx, "demo#5", "more")
    assert info.value.message.startswith(f"run {done.id} is done: continue is for runs that")
    assert info.value.hint == "test it: coordssh test demo#5"
    with pytest.raises(Refused, match="no other machine serves repo 'demo'"):
        await _retry_crashed_alone(ctx, done)
    assert snapshot(ctx) == before


async def _retry_crashed_alone(ctx, row):
    """A crashed run with no other machine to go to (the board row made crashed by hand)."""
    with ctx.board.transaction() as tx:
        tx.put(tx.get(row.id).evolve(status=m.CRASHED))
    try:
        await retry(ctx, row.id)
    finally:
        with ctx.board.transaction() as tx:
            tx.put(tx.get(row.id).evolve(status=m.DONE))


@pytest.mark.ssh
async def test_a_run_whose_machine_is_lost_is_retried_elsewhere(ssh_machine, contexts, world,
                                                                tmp_path):
    ctx = contexts(ssh_machine, env={"FAKE_CLAUDE_SCENARIO": "hang"})
    lost = (await assign(ctx, AssignRequest(machine="sshbox", repo="demo", issue=5,
                                            title="t"))).assignment
    clone = tmp_path / "worker2" / "repo"
    git("clone", "-q", str(world.origin), str(clone))
    local = replace(ctx.config.machines["sshbox"], name="otherbox", connection="local",
                    host="localhost", port=None, user=None, identity_file=None,
                    worktree_root=str(tmp_path / "wt2"), run_root=str(tmp_path / "runs2"),
                    repo_paths={"demo": str(clone)}, env={})
    gone = replace(ctx.config.machines["sshbox"], port=1, connect_timeout=3.0)  # nothing listens
    ctx.config = replace(ctx.config, machines={"sshbox": gone, "otherbox": local})
    await observe(ctx)
    assert ctx.board.get(lost.id).status == m.UNKNOWN
    assert ctx.board.get_work("demo#5").stage == s.IMPLEMENTING
    result = await retry(ctx, lost.id)
    run = result.assignment
    assert (run.machine, run.branch, run.extra["mode"]) == ("otherbox", lost.branch, "retry")
    ended = ctx.board.get(lost.id)
    assert ended.status == m.CRASHED and "machine sshbox lost (unknown)" in ended.reason
    done = await wait_run(ctx, run.id, timeout=LONG)
    assert done.status == m.DONE and world.heads()[lost.branch] == done.pushed_sha
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.runs) == (s.IMPLEMENTED, (lost.id, run.id))
    kinds = [(e["kind"], e["run"]) for e in ctx.board.events("demo#5")]
    assert kinds == [("run_started", lost.id), ("run_ended", lost.id),
                     ("run_started", run.id), ("run_ended", run.id)]


async def test_retry_of_a_push_failed_run_pushes_again_without_a_new_run(local_machine,
                                                                         contexts, world, capsys):
    hook = world.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push access denied' >&2\nexit 1\n")
    hook.chmod(0o755)
    ctx = contexts(local_machine)
    failed = await implemented(ctx, "localbox")
    assert ctx.board.get(failed.id).status == m.PUSH_FAILED
    assert ctx.board.get_work("demo#5").stage == s.INTERRUPTED
    hook.unlink()                                           # the operator fixed the access
    result = await retry(ctx, "demo#5")
    assert result.assignment.id == failed.id and result.assignment.status == m.DONE
    assert result.notes == ("pushed again: no new model run (done)",)
    assert [r.id for r in ctx.board.list()] == [failed.id]
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.head_sha) == (s.IMPLEMENTED, world.heads()[failed.branch])
    print_followup(result, json_output=True)
    assert json.loads(capsys.readouterr().out)["id"] == failed.id


async def test_continue_resumes_the_session_in_the_same_worktree_and_warns_of_another_cwd(
        local_machine, contexts, world, tmp_path):
    home, record = tmp_path / "home", tmp_path / "argv.jsonl"
    ctx = contexts(local_machine, env={"HOME": str(home), "FAKE_CLAUDE_SCENARIO": "crashed",
                                       "FAKE_CLAUDE_RECORD": str(record)})
    crashed = await implemented(ctx, "localbox")
    assert ctx.board.get(crashed.id).status == m.CRASHED
    kept = home / ".claude" / "projects" / "-elsewhere" / f"{crashed.session_id}.jsonl"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}\n")                     # the transcript, kept for another cwd
    result = await continue_run(ctx, crashed.id, "Go on with the widget.")
    run = result.assignment
    assert result.notes[1] == (f"warning: session {crashed.session_id} was kept for another "
                               f"cwd (-elsewhere), not {crashed.worktree}: --resume looks it up "
                               "by cwd and may start afresh")
    assert f"reusing the earlier worktree {crashed.worktree}" in result.notes[-1]
    wait_for(lambda: finished(run.run_dir), LONG)
    seen = json.loads(record.read_text().splitlines()[-1])
    argv = seen["argv"]
    assert argv[argv.index("--resume") + 1] == crashed.session_id
    assert "--session-id" not in argv and seen["cwd"] == crashed.worktree
    assert seen["prompt"].startswith("The operator read where you stopped and says:\n\n"
                                     "Go on with the widget.")


async def test_a_role_whose_playbook_may_not_push_leaves_the_branch_alone(local_machine,
                                                                          contexts, world,
                                                                          tmp_path):
    from coordssh.agent.playbook import SHIPPED_DIR

    own = tmp_path / "playbooks"
    own.mkdir()
    text = (SHIPPED_DIR / "fix.yml").read_text()
    (own / "fix.yml").write_text(text.replace("\npush: true", "\npush: false"))
    ctx = contexts(local_machine)
    ctx.config = replace(ctx.config, playbooks_dir=own)
    first = await implemented(ctx, "localbox")
    heads = world.heads()
    run = (await fix(ctx, FixRequest("demo#5", guidance="only look"))).assignment
    [values] = [line for line in Path(run.run_dir, "run.sh").read_text().splitlines()
                if line.startswith("set -- ")]
    assert shlex.split(values)[2:5] == [run.run_dir, run.worktree, ""]   # no branch: no push
    wait_for(lambda: finished(run.run_dir), LONG)
    assert world.heads() == heads and heads[first.branch] == ctx.board.get(first.id).pushed_sha
    assert not Path(run.run_dir, "pushed_sha").exists()
