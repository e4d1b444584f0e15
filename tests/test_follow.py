"""Following runs (tail by byte offset, watch across drops, wait) and stopping them, on hand-made
envelopes with real processes, on local and ssh machines."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from coordssh.agent import events as ev
from coordssh.config.schema import Runs
from coordssh.domain import models as m
from coordssh.errors import NotFound, RunFailed, WaitTimeout
from coordssh.remote.follow import LogFollower
from coordssh.services.stop import stop
from coordssh.services.watch import Watch, wait_run, watch_run
from tests.support.envelopes import envelopes  # noqa: F401 (a fixture)
from tests.support.envelopes import (Envelopes, fixture, fixture_lines, make_context,
                                     processes_with, put, until)
from tests.support.sshd import _sshd_children

LINES = fixture_lines("success.jsonl")
FAST = Runs(result_grace_s=2, stop_grace_s=1)


async def test_follower_yields_complete_lines_and_resumes(machine, envelopes, connector):
    run = envelopes.make("f1", stream=b"".join(LINES[:3]) + LINES[3][:20])
    follower = LogFollower(str(run.dir))
    got: list[bytes] = []

    async def collect(transport):
        async for line in follower.lines(transport):
            got.append(line)

    async with await connector.connect(machine) as transport:
        task = asyncio.create_task(collect(transport))
        await until(lambda: len(got) == 3, what="the first three lines")
        run.append(LINES[3][20:] + LINES[4])
        await until(lambda: len(got) == 5, what="the lines appended later")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert got == LINES[:5] and follower.offset == len(b"".join(LINES[:5]))

    run.append(b"".join(LINES[5:8]))
    got.clear()
    async with await connector.connect(machine) as transport:   # a new connection resumes
        task = asyncio.create_task(collect(transport))
        await until(lambda: len(got) == 3, what="the lines after the offset")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert got == LINES[5:8]


async def test_watch_follows_to_the_outcome(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    run = envelopes.make("w1", stream=b"".join(LINES[:4]))
    put(ctx, machine, "w1")
    events: list[ev.Event] = []
    task = asyncio.create_task(watch_run(ctx, "w1", on_event=events.append, timeout=300))
    await until(lambda: any(e.kind == ev.TOOL_USE for e in events), what="a tool call")
    run.append(b"".join(LINES[4:]))
    run.finish(0, pushed_sha="abcdef1")
    row = await task
    assert row.status == m.DONE and row.turns == 6
    kinds = [e.kind for e in events]
    assert kinds[0] == ev.INIT and kinds.count(ev.RESULT) == 1 and ev.STATUS in kinds


@pytest.mark.ssh
async def test_watch_loses_and_repeats_nothing_across_a_dropped_connection(
        tmp_path, ssh_machine, sshd):
    Path(ssh_machine.run_root).mkdir(parents=True)
    envelopes = Envelopes(Path(ssh_machine.run_root))
    try:
        ctx = make_context(tmp_path, ssh_machine, runs=FAST)
        run = envelopes.make("drop1", stream=b"".join(LINES[:5]))
        put(ctx, ssh_machine, "drop1")
        seen: list[bytes] = []
        watch = Watch(ctx, ctx.board.get("drop1"), on_line=seen.append,
                      deadline=asyncio.get_running_loop().time() + 300)
        task = asyncio.create_task(watch.run())
        await until(lambda: len(seen) == 5, what="the first lines")
        for pid in _sshd_children(sshd.proc.pid):   # the per-connection server: a hard drop
            os.kill(pid, signal.SIGKILL)
        run.append(b"".join(LINES[5:9]) + LINES[9][:15])   # written while disconnected
        await until(lambda: watch.reconnects >= 1, what="a reconnect")
        run.append(LINES[9][15:] + b"".join(LINES[10:]))
        run.finish(0, pushed_sha="abcdef1")
        row = await task
        assert seen == LINES
        assert row.status == m.DONE and watch.follower.offset == len(b"".join(LINES))
    finally:
        envelopes.cleanup()


async def test_watch_resumes_when_its_tail_is_cut_off(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    run = envelopes.make("cut1", stream=b"".join(LINES[:6]))
    put(ctx, machine, "cut1")
    seen: list[bytes] = []
    watch = Watch(ctx, ctx.board.get("cut1"), on_line=seen.append)
    task = asyncio.create_task(watch.run())
    await until(lambda: len(seen) == 6, what="the first lines")
    for pid in processes_with("tail", str(run.dir)):
        os.kill(pid, signal.SIGKILL)
    await until(lambda: watch.reconnects >= 1, what="a reconnect")
    run.append(b"".join(LINES[6:]))
    run.finish(0, pushed_sha="abcdef1")
    assert (await task).status == m.DONE
    assert seen == LINES


async def test_watch_of_a_finished_run_replays_its_stream(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    envelopes.make("old1", stream=fixture("crashed.jsonl"), live=False)
    put(ctx, machine, "old1", status=m.CRASHED, reason="no result line")
    events: list[ev.Event] = []
    row = await watch_run(ctx, "old1", on_event=events.append)
    assert row.status == m.CRASHED
    assert events[0].kind == ev.INIT and events[-1].kind == ev.TRUNCATED


async def test_wait_outcomes(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    envelopes.make("good", stream=fixture("success.jsonl"), live=False).finish(0, pushed_sha="a1")
    envelopes.make("stuck", stream=fixture("stuck.jsonl"), live=False).finish(0)
    envelopes.make("slow", stream=b"".join(LINES[:2]))
    for run_id in ("good", "stuck", "slow"):
        put(ctx, machine, run_id)
    assert (await wait_run(ctx, "good", timeout=120)).status == m.DONE
    with pytest.raises(RunFailed) as failed:
        await wait_run(ctx, "stuck", timeout=120)
    assert "stuck" in failed.value.message
    with pytest.raises(NotFound):
        await wait_run(ctx, "nosuch", timeout=120)
    with pytest.raises(WaitTimeout):
        await wait_run(ctx, "slow", timeout=1)


async def test_stop_cancels_and_ends_the_process_group(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    ready = tmp_path / "handler-installed"
    interruptible = ["python3", "-c", "import signal, sys, time; "
                     "signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "open(sys.argv[1], 'w').close(); time.sleep(600)", str(ready)]
    run = envelopes.make("s1", stream=b"".join(LINES[:4]), command=interruptible)
    put(ctx, machine, "s1")
    await until(ready.exists, what="the run to handle SIGINT")
    result = await stop(ctx, "s1")
    assert result.signal.stopped and result.signal.signal == "INT"
    assert result.assignment.status == m.CANCELLED
    assert (run.dir / "cancelled").read_text().strip().isdigit()
    await until(lambda: not run.alive(), what="the process group to end")
    assert (await stop(ctx, "s1")).already_finished


async def test_stop_escalates_to_kill(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    stubborn = ["sh", "-c", "trap '' INT TERM; while :; do sleep 1; done"]
    run = envelopes.make("s2", stream=b"", command=stubborn)
    put(ctx, machine, "s2")
    result = await stop(ctx, "s2")
    assert result.signal.signal == "KILL" and result.assignment.status == m.CANCELLED
    await until(lambda: not run.alive(), what="the process group to end")
