"""Reconciling the board from hand-made run envelopes (real files, real processes), on local
and ssh machines, through a real Connector and a real board."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from coordssh.config.schema import Runs
from coordssh.domain import models as m
from coordssh.services.housekeeping import act_on
from coordssh.services.observe import observe, observe_machine
from tests.support.envelopes import envelopes  # noqa: F401 (a fixture)
from tests.support.envelopes import Envelopes, fixture, make_context, put, until
from tests.support.sshd import free_port

SUCCESS = fixture("success.jsonl")


async def test_finished_success_is_done_with_cost_and_turns(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    envelopes.make("ok1", stream=SUCCESS, live=False).finish(0, pushed_sha="feedbeef" * 5)
    put(ctx, machine, "ok1", model="sonnet")
    seen = await observe(ctx)
    row = ctx.board.get("ok1")
    assert row.status == m.DONE, row.reason
    assert row.cost_usd == pytest.approx(0.13223) and row.turns == 6
    assert row.model == "claude-sonnet-4-6" and row.session_id.startswith("49788dec")
    assert row.offset == len(SUCCESS) and row.pushed_sha == "feedbeef" * 5
    assert row.finished_at is not None and row.duration_s is not None
    assert row.last_status == "done"
    mo = seen.machine(machine.name)
    assert mo.reachable and mo.running == 0 and [a.id for a in seen.assignments] == ["ok1"]


async def test_a_live_run_is_folded_incrementally(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    cut = SUCCESS.index(b"\n", len(SUCCESS) // 2) + 10   # mid-line
    run = envelopes.make("inc1", stream=SUCCESS[:cut])
    put(ctx, machine, "inc1", status=m.STARTING)
    seen = await observe(ctx)
    row = ctx.board.get("inc1")
    assert row.status == m.RUNNING and seen.machine(machine.name).running == 1
    assert row.offset == SUCCESS.rindex(b"\n", 0, cut) + 1   # up to the last complete line
    assert row.session_id and row.cost_usd is None

    run.append(SUCCESS[cut:])
    run.finish(0, pushed_sha="abc1234")
    await observe(ctx)
    row = ctx.board.get("inc1")
    assert row.status == m.DONE and row.turns == 6 and row.offset == len(SUCCESS)
    assert row.cost_usd == pytest.approx(0.13223)
    assert row.extra["stream"]["bytes_consumed"] == len(SUCCESS)


async def test_process_gone_without_a_result_is_crashed(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    run = envelopes.make("cr1", stream=fixture("crashed.jsonl"))
    put(ctx, machine, "cr1")
    run.kill()    # killed mid-line: no trap, no finished_at
    await observe(ctx)
    row = ctx.board.get("cr1")
    assert row.status == m.CRASHED
    assert "claude --resume" in row.reason and row.session_id in row.reason


async def test_stuck_and_max_turns_from_finished_envelopes(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    envelopes.make("st1", stream=fixture("stuck.jsonl"), live=False).finish(0)
    envelopes.make("mt1", stream=fixture("max_turns.jsonl"), live=False).finish(1)
    envelopes.make("rl1", stream=fixture("rate_limited.jsonl"), live=False).finish(1)
    for run_id in ("st1", "mt1", "rl1"):
        put(ctx, machine, run_id)
    await observe(ctx)
    assert ctx.board.get("st1").status == m.STUCK
    assert ctx.board.get("mt1").status == m.MAX_TURNS
    limited = ctx.board.get("rl1")
    assert limited.status == m.USAGE_LIMITED and limited.resets_at == 1784037600


async def test_a_run_lingering_after_its_result_is_reported_then_ended_by_housekeeping(
        tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=Runs(result_grace_s=5, stop_grace_s=2))
    run = envelopes.make("lg1", stream=SUCCESS, files={"pushed_sha": "cafe123\n"})
    old = time.time() - 60
    os.utime(run.dir / "stream.jsonl", (old, old))
    put(ctx, machine, "lg1")
    seen = await observe(ctx)
    row = ctx.board.get("lg1")          # reads observe, they do not act
    assert row.status == m.RUNNING and "process still lingering" in row.reason
    assert row.reason.startswith("done (pushed cafe123)") and run.alive()
    assert [c.kind for c in seen.machine(machine.name).chores] == ["linger"]

    assert "ended" in (await act_on(ctx, seen))["lg1"]
    await until(lambda: not run.alive(), what="the process group to end")
    await observe(ctx)
    row = ctx.board.get("lg1")
    assert row.status == m.DONE and row.extra.get("ended_by_coordssh") == "linger"


async def test_a_fresh_result_gets_its_grace(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=Runs(result_grace_s=3600))
    run = envelopes.make("gr1", stream=SUCCESS)
    put(ctx, machine, "gr1")
    await observe(ctx)
    row = ctx.board.get("gr1")
    assert row.status == m.RUNNING and "result written" in row.reason
    assert run.alive()


async def test_past_max_runtime_the_run_is_reported_then_ended_and_failed(tmp_path, machine,
                                                                          envelopes):
    ctx = make_context(tmp_path, machine, runs=Runs(max_runtime_s=60, stop_grace_s=2))
    run = envelopes.make("to1", stream=SUCCESS[:300], started_at=time.time() - 3600)
    put(ctx, machine, "to1")
    seen = await observe(ctx)
    row = ctx.board.get("to1")
    assert row.status == m.RUNNING and "past max runtime (60s)" in row.reason and run.alive()

    await act_on(ctx, seen)
    await until(lambda: not run.alive(), what="the process group to end")
    await observe(ctx)
    row = ctx.board.get("to1")
    assert row.status == m.FAILED and "exceeded max_runtime" in row.reason
    assert (run.dir / "timed_out").exists()


async def test_a_run_without_pid_is_starting_then_crashed(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    put(ctx, machine, "new1", status=m.STARTING)
    put(ctx, machine, "old1", status=m.STARTING, created_at=time.time() - 3600)
    await observe(ctx)
    assert ctx.board.get("new1").status == m.STARTING
    old = ctx.board.get("old1")
    assert old.status == m.CRASHED and "did not start" in old.reason


async def test_observe_machine_for_capacity(tmp_path, machine, envelopes, connector):
    ctx = make_context(tmp_path, machine)
    envelopes.make("a1", stream=SUCCESS[:200])
    envelopes.make("a2", stream=b"")
    envelopes.make("a3", stream=SUCCESS, live=False).finish(0, pushed_sha="1234567")
    for run_id in ("a1", "a2", "a3"):
        put(ctx, machine, run_id)
    async with await connector.connect(machine) as transport:
        mo = await observe_machine(ctx, machine, transport)
    assert mo.reachable and mo.running == 2 and mo.max_workers == machine.max_workers
    assert ctx.board.get("a3").status == m.DONE


@pytest.mark.ssh
async def test_unreachable_machine_runs_are_unknown_until_it_returns(
        tmp_path, ssh_machine_factory, local_machine):
    down = ssh_machine_factory(name="down", port=free_port(), connect_timeout=3)
    Path(local_machine.run_root).mkdir(parents=True)
    env = Envelopes(Path(local_machine.run_root))
    try:
        env.make("loc1", stream=SUCCESS[:300])
        ctx = make_context(tmp_path, down, local_machine)
        put(ctx, down, "far1")
        put(ctx, local_machine, "loc1")
        seen = await observe(ctx)
        far = ctx.board.get("far1")
        assert far.status == m.UNKNOWN and far.unreachable_since is not None
        assert not seen.machine("down").reachable and seen.machine("down").error
        assert ctx.board.get("loc1").status == m.RUNNING and seen.machine("localbox").reachable
        since = far.unreachable_since

        await observe(ctx)   # still down: the first moment it was missed is kept
        assert ctx.board.get("far1").unreachable_since == since

        back = ssh_machine_factory(name="down")     # the same machine, answering again
        Envelopes(Path(back.run_root)).make("far1", stream=SUCCESS, live=False).finish(
            0, pushed_sha="7654321")
        ctx2 = make_context(tmp_path, back, local_machine)
        await observe(ctx2)
        far = ctx2.board.get("far1")
        assert far.status == m.DONE and far.unreachable_since is None
    finally:
        env.cleanup()
