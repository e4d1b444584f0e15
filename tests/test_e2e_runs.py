"""End to end on local and ssh machines: `assign` starts the claude stand-in for real, and the
observing side (observe, watch, wait, stop) reports each outcome from the run's envelope."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from coordssh.agent import events as ev
from coordssh.cli.render.events import outcome_line
from coordssh.domain import models as m
from coordssh.errors import NotFound, RunFailed, WaitTimeout
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.observe import observe
from coordssh.services.stop import stop
from coordssh.services.watch import Watch, wait_run
from tests.support.dispatch import contexts, world  # noqa: F401 (fixtures)
from tests.support.envelopes import fixture_lines, until
from tests.support.sshd import _sshd_children

LONG = 300  # seconds: generous bounds for a slow 2-core CI machine; never a timed assertion


async def start(ctx, machine, issue: int, scenario: str):
    result = await assign(ctx, AssignRequest(machine=machine.name, repo="demo", issue=issue,
                                             title=f"Scenario {scenario}",
                                             briefing=f"[[fake-claude:{scenario}]]"))
    return result.assignment


async def test_success_is_done_with_cost_turns_and_a_pushed_branch(machine, contexts, world):
    ctx = contexts(machine)
    a = await start(ctx, machine, 1, "success")
    row = await wait_run(ctx, a.id, timeout=LONG)
    assert row.status == m.DONE and row.turns == 6
    assert row.cost_usd == pytest.approx(0.13223)
    assert world.heads()[a.branch] == row.pushed_sha
    assert row.model == "claude-sonnet-4-6" and row.session_id and row.duration_s is not None
    assert row.last_status == "done"


@pytest.mark.parametrize("scenario, status", [("stuck", m.STUCK), ("max_turns", m.MAX_TURNS),
                                              ("crashed", m.CRASHED)])
async def test_failed_outcomes(machine, contexts, scenario, status):
    ctx = contexts(machine)
    a = await start(ctx, machine, 2, scenario)
    with pytest.raises(RunFailed) as failed:
        await wait_run(ctx, a.id, timeout=LONG)
    row = ctx.board.get(a.id)
    assert row.status == status and status in failed.value.message
    if scenario == "crashed":
        assert f"claude --resume {row.session_id}" in row.reason


async def test_rate_limited_shows_the_reset_time(machine, contexts):
    ctx = contexts(machine)
    a = await start(ctx, machine, 3, "rate_limited")
    with pytest.raises(RunFailed):
        await wait_run(ctx, a.id, timeout=LONG)
    row = ctx.board.get(a.id)
    assert row.status == m.USAGE_LIMITED and row.resets_at == 1784037600
    assert "2026-07-14 14:00 UTC" in outcome_line(row)


async def test_a_run_lingering_after_its_result_is_ended_and_the_result_stands(
        machine, contexts, world):
    ctx = contexts(machine, result_grace_s=2)
    a = await start(ctx, machine, 4, "linger")
    row = await wait_run(ctx, a.id, timeout=LONG)
    assert row.status == m.DONE and world.heads()[a.branch] == row.pushed_sha
    assert (Path(a.run_dir) / "lingered").exists()


async def test_stop_mid_run_cancels_and_keeps_worktree_and_branch(machine, contexts, world):
    ctx = contexts(machine)
    a = await start(ctx, machine, 5, "hang")
    await until(lambda: (Path(a.run_dir) / "stream.jsonl").stat().st_size > 0, LONG,
                "the run to write its init line")
    result = await stop(ctx, a.id)
    assert result.assignment.status == m.CANCELLED and result.signal.stopped
    assert (Path(a.run_dir) / "cancelled").exists()
    assert Path(a.worktree).is_dir()
    assert f"refs/heads/{a.branch} " in world.refs(world.clone)
    with pytest.raises(RunFailed):
        await wait_run(ctx, a.id, timeout=LONG)


async def test_two_runs_on_one_machine_at_once(machine, contexts, world):
    ctx = contexts(machine, env={"FAKE_CLAUDE_PACE": "0.5"})
    first = await start(ctx, machine, 6, "success")
    second = await start(ctx, machine, 7, "success")
    seen = await observe(ctx, [machine.name])
    assert seen.machine(machine.name).running == 2
    rows = await asyncio.gather(wait_run(ctx, first.id, timeout=LONG),
                                wait_run(ctx, second.id, timeout=LONG))
    assert [r.status for r in rows] == [m.DONE, m.DONE]
    heads = world.heads()
    assert heads[first.branch] == rows[0].pushed_sha and heads[second.branch] == rows[1].pushed_sha
    assert (await observe(ctx, [machine.name])).machine(machine.name).running == 0


async def test_wait_not_found_and_timeout(machine, contexts):
    ctx = contexts(machine)
    with pytest.raises(NotFound):
        await wait_run(ctx, "nosuchid", timeout=LONG)
    a = await start(ctx, machine, 8, "hang")
    with pytest.raises(WaitTimeout):
        await wait_run(ctx, a.id, timeout=2)
    assert ctx.board.get(a.id).live


@pytest.mark.ssh
async def test_watch_across_a_dropped_connection_shows_every_event_once(
        ssh_machine, contexts, sshd):
    ctx = contexts(ssh_machine, env={"FAKE_CLAUDE_PACE": "0.4"})
    a = await start(ctx, ssh_machine, 9, "success")
    lines: list[bytes] = []
    events: list[ev.Event] = []
    watch = Watch(ctx, ctx.board.get(a.id), on_line=lines.append, on_event=events.append,
                  deadline=asyncio.get_running_loop().time() + LONG)
    task = asyncio.create_task(watch.run())
    await until(lambda: len(lines) >= 3, LONG, "the first events")
    for pid in _sshd_children(sshd.proc.pid):      # drop every SSH connection, hard
        os.kill(pid, signal.SIGKILL)
    row = await task
    assert watch.reconnects >= 1
    expected = fixture_lines("success.jsonl")
    assert len(lines) == len(expected)
    assert [line.split(b'"session_id"')[0] for line in lines] == \
        [line.split(b'"session_id"')[0] for line in expected]
    assert [e.kind for e in events].count(ev.RESULT) == 1
    assert row.status == m.DONE
