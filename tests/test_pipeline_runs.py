"""The run loop drives work items through services/pipeline.py: assign, observe, stop, a failed
dispatch, two commands on one item at once. Real repos, real runs of the claude stand-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.next_action import next_action
from coordssh.domain.policy import Policy
from coordssh.domain.work import Event
from coordssh.errors import RemoteCommandFailed, TransitionRefused
from coordssh.services import pipeline
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from coordssh.services.stop import stop
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.dispatch import REPO_ROOT, finished, wait_for


def _request(machine: str, scenario: str = "success", **more) -> AssignRequest:
    return AssignRequest(machine=machine, repo="demo", issue=5, title="Fix the widget",
                         briefing=f"[[fake-claude:{scenario}]]", **more)


def _kinds(ctx) -> list[str]:
    return [e["kind"] for e in ctx.board.events("demo#5")]


async def _ended(ctx, row_id: str):
    wait_for(lambda: finished(ctx.board.get(row_id).run_dir))
    await observe(ctx)
    return ctx.board.get(row_id)


async def test_assign_then_observe_carry_the_work_item(machine, contexts, world):
    ctx = contexts(machine)
    started = (await assign(ctx, _request(machine.name))).assignment
    assert started.work == "demo#5" and ctx.board.get(started.id).work == "demo#5"
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.branch, item.runs, item.active_run) == (
        s.IMPLEMENTING, "issue-5-fix-the-widget", (started.id,), started.id)
    assert item.model_rung == 1          # sonnet, the default, on haiku/sonnet/opus

    row = await _ended(ctx, started.id)
    assert row.status == m.DONE
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.head_sha, item.active_run) == (s.IMPLEMENTED, row.pushed_sha, "")
    assert item.head_sha == world.heads()["issue-5-fix-the-widget"]
    assert _kinds(ctx) == ["run_started", "run_ended"]
    ended = ctx.board.events("demo#5")[-1]
    assert (ended["run"], ended["data"]["status"], ended["data"]["sha"]) == (
        row.id, "done", row.pushed_sha)
    action = next_action(item, Policy(), 0.0)
    assert (action.kind, action.role) == ("dispatch", "test")
    await observe(ctx)                   # observing again records nothing twice
    assert _kinds(ctx) == ["run_started", "run_ended"]


async def test_a_crashed_run_interrupts_its_work_item(local_machine, contexts):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request("localbox", "crashed"))).assignment
    assert (await _ended(ctx, first.id)).status == m.CRASHED
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.INTERRUPTED and item.last_run["status"] == m.CRASHED
    action = next_action(item, Policy(auto_reassign=True), 0.0)
    assert (action.kind, action.mode, action.run, action.auto) == ("dispatch", "retry",
                                                                   first.id, True)


async def test_stop_is_recorded_then_the_cancelled_end(machine, contexts):
    ctx = contexts(machine)
    row = (await assign(ctx, _request(machine.name, "hang"))).assignment
    wait_for(lambda: Path(row.run_dir, "pid").exists())
    result = await stop(ctx, row.id)
    assert result.assignment.status == m.CANCELLED
    assert _kinds(ctx) == ["run_started", "operator_stop", "run_ended"]
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.INTERRUPTED
    assert next_action(item, Policy(), 0.0).reason.endswith("stopped by the operator")
    again = await stop(ctx, row.id)      # nothing to stop: nothing recorded
    assert again.already_finished and _kinds(ctx)[-1] == "run_ended"


async def test_a_failed_dispatch_ends_the_run_on_its_work_item(local_machine, contexts, world):
    ctx = contexts(local_machine)
    Path(local_machine.worktree_root).write_text("a file where the worktree root should be\n")
    with pytest.raises(RemoteCommandFailed):
        await assign(ctx, _request("localbox"))
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.INTERRUPTED and item.last_run["status"] == m.FAILED
    assert item.last_run["reason"].startswith("dispatch failed: ")
    assert _kinds(ctx) == ["run_started", "run_ended"]


async def test_a_run_the_stage_does_not_allow_is_refused_before_anything_runs(local_machine,
                                                                             contexts):
    ctx = contexts(local_machine)
    first = (await assign(ctx, _request("localbox"))).assignment
    await _ended(ctx, first.id)
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, "demo#5", Event("run_started", {"role": "test"}, "t1"), 1.0)
    board_before = ctx.board.path.read_bytes()
    with pytest.raises(TransitionRefused) as info:
        await assign(ctx, _request("localbox", force=True))
    assert info.value.message == ("demo#5 is testing: starting an implement run is not "
                                  "possible now")
    assert ctx.board.path.read_bytes() == board_before
    assert [row.id for row in ctx.board.list()] == [first.id]


APPLY = """
import sys
from pathlib import Path
from coordssh.board.store import Board
from coordssh.domain.work import Event
from coordssh.errors import TransitionRefused
from coordssh.services.pipeline import apply
board = Board.open(Path(sys.argv[1]))
Path(sys.argv[3]).touch()
while not Path(sys.argv[4]).exists():
    pass
try:
    with board.transaction() as tx:
        apply(tx, "demo#5", Event("run_started", {"role": "test"}, sys.argv[2]), 1.0)
except TransitionRefused as err:
    print("refused:", err.message)
else:
    print("started")
"""


def test_two_commands_on_one_item_at_once_one_wins(tmp_path):
    from coordssh.board.store import Board

    state = tmp_path / "state"
    board = Board.open(state)
    with board.transaction() as tx:
        pipeline.apply(tx, "demo#5", Event("run_started", {"role": "implement"}, "r1"), 0.0)
        pipeline.apply(tx, "demo#5", Event("run_ended", {"status": "done", "sha": "a" * 40},
                                           "r1"), 0.0)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", APPLY, str(state), f"t{i}",
                               str(tmp_path / f"ready{i}"), str(go)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO_ROOT) for i in (1, 2)]
    wait_for(lambda: all((tmp_path / f"ready{i}").exists() for i in (1, 2)))
    go.touch()
    outs = sorted(p.communicate()[0].strip() for p in procs)
    assert outs == ["refused: demo#5 is testing: starting a test run is not possible now",
                    "started"]
    item = board.get_work("demo#5")
    assert item.stage == s.TESTING and len(item.runs) == 2
    assert [e["kind"] for e in board.events("demo#5")] == ["run_started", "run_ended",
                                                           "run_started"]


async def test_a_probe_that_ran_and_failed_leaves_the_machine_reachable(local_machine, contexts):
    """A remote command that failed is not an unreachable host: the rows stay as they are."""
    from dataclasses import replace

    from coordssh.services.observe import observe_machine
    from coordssh.transport.local import LocalTransport

    class GarbledShell(LocalTransport):   # a worker whose shell prints junk before every output
        async def run(self, command, **options):
            result = await super().run(command, **options)
            return replace(result, stdout=b"Welcome!\n" + result.stdout)

    ctx = contexts(local_machine)
    row = (await assign(ctx, _request("localbox", "hang"))).assignment
    wait_for(lambda: Path(row.run_dir, "pid").exists())
    before = ctx.board.get(row.id)
    seen = await observe_machine(ctx, ctx.config.machine("localbox"), GarbledShell("localbox"))
    assert seen.reachable and "garbled" in seen.error
    after = ctx.board.get(row.id)
    assert after.status == before.status != m.UNKNOWN and after.unreachable_since is None
    await stop(ctx, row.id)


async def test_a_failed_push_waits_for_push_again_then_the_item_is_implemented(local_machine,
                                                                              contexts, world):
    from coordssh.services.repush import push_again

    hook = world.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push access denied' >&2\nexit 1\n")
    hook.chmod(0o755)
    ctx = contexts(local_machine)
    row = (await assign(ctx, _request("localbox"))).assignment
    assert (await _ended(ctx, row.id)).status == m.PUSH_FAILED
    item = ctx.board.get_work("demo#5")
    assert item.stage == s.INTERRUPTED and item.head_sha == ""
    action = next_action(item, Policy(auto_reassign=True), 0.0)
    assert (action.kind, action.auto, action.command) == ("repush", True,
                                                          f"coordssh push {row.id}")
    await push_again(ctx, row.id)                        # still denied: nothing moves
    assert ctx.board.get_work("demo#5").stage == s.INTERRUPTED
    hook.unlink()
    pushed = await push_again(ctx, row.id)
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.head_sha) == (s.IMPLEMENTED, pushed.pushed_sha)
    assert item.last_run["status"] == m.DONE
    assert _kinds(ctx) == ["run_started", "run_ended", "run_pushed", "run_pushed"]


async def test_a_run_found_on_the_machine_starts_its_lost_work_item(local_machine, contexts):
    ctx = contexts(local_machine)
    row = (await assign(ctx, _request("localbox", "hang"))).assignment
    wait_for(lambda: Path(row.run_dir, "pid").exists())
    ctx.board.path.write_text("")                        # the board is lost
    await observe(ctx)
    item = ctx.board.get_work("demo#5")
    assert (item.stage, item.runs, item.branch) == (s.IMPLEMENTING, (row.id,), row.branch)
    # the history is its own file (events.jsonl): it outlives board.json, and goes on after it
    first, started = ctx.board.events("demo#5")
    assert (first["kind"], first["data"]["mode"], first["run"]) == ("run_started", "new", row.id)
    assert (started["kind"], started["data"]["mode"]) == ("run_started", "adopted")
    assert started["seq"] > first["seq"]
    assert ctx.board.get(row.id).work == "demo#5"
    await stop(ctx, row.id)
    assert ctx.board.get_work("demo#5").stage == s.INTERRUPTED
