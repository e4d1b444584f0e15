"""The live view's service (services/live.py) on hand-made envelopes with real processes, over
a local machine and real sshd servers: streamed lines, one connection per machine, a machine
that drops and comes back, runs judged after their follow ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from coordssh.config.schema import Runs
from coordssh.domain import models as m
from coordssh.services.live import LiveView
from coordssh.services.live_link import FOLLOW_MAX
from coordssh.transport.connect import Connector
from tests.support.envelopes import envelopes  # noqa: F401 (a fixture)
from tests.support.envelopes import Envelopes, fixture_lines, make_context, put
from tests.support.sshd import start_sshd

LINES = fixture_lines("success.jsonl")
FAST = Runs(result_grace_s=2, stop_grace_s=1)


def status_line(text: str, n: int = 0) -> bytes:
    return json.dumps({"type": "assistant", "session_id": "s1", "parent_tool_use_id": None,
                       "message": {"id": f"msg_live{n}", "role": "assistant", "model": "m",
                                   "content": [{"type": "text", "text": f"STATUS: {text}"}]}
                       }).encode() + b"\n"


class CountingConnector(Connector):
    """A real Connector that counts the connections it opened, per machine."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: dict[str, int] = {}

    async def connect(self, machine, *, keepalive: bool = False):
        transport = await super().connect(machine, keepalive=keepalive)
        self.opened[machine.name] = self.opened.get(machine.name, 0) + 1
        return transport


async def snapshot_where(view: LiveView, predicate, what: str, timeout: float = 90.0):
    """The first snapshot for which `predicate` holds (event-driven; the deadline is generous)."""
    deadline = time.monotonic() + timeout
    snap = view.snapshot
    while True:
        try:
            if predicate(snap):
                return snap
        except (KeyError, StopIteration):
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no snapshot with {what}; the last: {snap}")
        try:
            snap = await asyncio.wait_for(view.next_snapshot(snap), left)
        except TimeoutError:
            continue


def run_of(snap, run_id):
    return next(r for r in snap.runs if r.id == run_id)


def machine_of(snap, name):
    return next(mv for mv in snap.machines if mv.name == name)


async def test_a_streamed_line_shows_without_a_probe_round(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    run = envelopes.make("s1", stream=b"".join(LINES[:3]))
    put(ctx, machine, "s1")
    async with LiveView(ctx, refresh=3600) as view:
        await snapshot_where(view, lambda s: run_of(s, "s1").streaming, "s1 followed")
        link = view.links[0]
        probes = link.refreshes
        run.append(status_line("first marker", 1))
        snap = await snapshot_where(view, lambda s: run_of(s, "s1").last_status == "first marker",
                                    "the appended STATUS line")
        assert link.refreshes == probes          # the channel brought it, not a probe
        assert machine_of(snap, machine.name).reachable and link.connects == 1


async def test_a_followed_run_that_ends_is_judged_on_its_whole_stream(tmp_path, machine,
                                                                      envelopes):
    ctx = make_context(tmp_path, machine, runs=FAST)
    run = envelopes.make("e1", stream=b"".join(LINES[:3]))
    put(ctx, machine, "e1")
    async with LiveView(ctx, refresh=0.5) as view:
        await snapshot_where(view, lambda s: run_of(s, "e1").streaming, "e1 followed")
        run.append(b"".join(LINES[3:]))
        run.finish(0, pushed_sha="abc1234")
        snap = await snapshot_where(view, lambda s: run_of(s, "e1").status == m.DONE,
                                    "e1 done")
    row = ctx.board.get("e1")
    assert row.status == m.DONE and row.turns == 6 and row.cost_usd == pytest.approx(0.13223)
    assert row.offset == len(b"".join(LINES)) and not run_of(snap, "e1").streaming
    assert row.extra["stream"]["malformed"] == 0


async def test_runs_beyond_the_channel_cap_are_read_by_the_probe(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    ids = [f"c{i}" for i in range(FOLLOW_MAX + 2)]
    runs = {}
    for i, run_id in enumerate(ids):
        runs[run_id] = envelopes.make(run_id, stream=b"".join(LINES[:3]))
        put(ctx, machine, run_id, created_at=1000.0 + i)   # c0, c1: the oldest
    async with LiveView(ctx, refresh=0.3) as view:
        snap = await snapshot_where(
            view, lambda s: machine_of(s, machine.name).streams == FOLLOW_MAX, "7 follows")
        assert {r.id for r in snap.runs if not r.streaming} == {"c0", "c1"}
        runs["c0"].append(status_line("probed", 2))
        runs["c8"].append(status_line("streamed", 3))
        await snapshot_where(view, lambda s: run_of(s, "c0").last_status == "probed"
                             and run_of(s, "c8").last_status == "streamed", "both lines")
        assert view.links[0].connects == 1
    assert ctx.board.get("c0").last_status == "probed"


@pytest.mark.ssh
async def test_a_dropped_machine_is_unreachable_while_the_other_updates_and_comes_back(
        tmp_path, ssh_machine_factory, sshd):
    spare = start_sshd(tmp_path / "spare", client_key=sshd.client_key)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + spare.known_hosts_line())
    steady = ssh_machine_factory(name="steady", known_hosts=str(known),
                                 run_root=str(tmp_path / "runs-a"))
    flaky = ssh_machine_factory(name="flaky", port=spare.port, known_hosts=str(known),
                                run_root=str(tmp_path / "runs-b"), connect_timeout=5.0)
    envs = {}
    for mc in (steady, flaky):
        Path(mc.run_root).mkdir()
        envs[mc.name] = Envelopes(Path(mc.run_root))
    ctx = make_context(tmp_path, steady, flaky)
    ctx.connector = connector = CountingConnector()
    try:
        run_a = envs["steady"].make("a1", stream=b"".join(LINES[:3]))
        run_b = envs["flaky"].make("b1", stream=b"".join(LINES[:3]))
        put(ctx, steady, "a1")
        put(ctx, flaky, "b1")
        async with LiveView(ctx, refresh=0.3) as view:
            await snapshot_where(view, lambda s: run_of(s, "a1").streaming
                                 and run_of(s, "b1").streaming, "both runs followed")
            spare.stop()
            snap = await snapshot_where(view, lambda s: not machine_of(s, "flaky").reachable,
                                        "flaky unreachable")
            assert machine_of(snap, "steady").reachable
            run_a.append(status_line("still here", 4))
            snap = await snapshot_where(view, lambda s: run_of(s, "a1").last_status
                                        == "still here" and run_of(s, "b1").status == m.UNKNOWN,
                                        "steady updated while flaky is down")
            down = machine_of(snap, "flaky")
            assert down.error and down.stale_since is not None
            steady_link = view.links[0]
            probes = steady_link.refreshes
            await snapshot_where(view, lambda s: steady_link.refreshes >= probes + 10,
                                 "ten more refreshes of steady")
            spare = start_sshd(tmp_path / "spare", client_key=sshd.client_key, port=spare.port)
            await snapshot_where(view, lambda s: machine_of(s, "flaky").reachable
                                 and run_of(s, "b1").streaming, "flaky back and followed")
            run_b.append(status_line("back again", 5))
            # "stale" also means late: on a loaded machine one probe may take longer than
            # STALE_AFTER refreshes, so wait for a fresh one rather than take the first snapshot
            snap = await snapshot_where(view, lambda s: run_of(s, "b1").last_status
                                        == "back again" and run_of(s, "b1").status == m.RUNNING
                                        and machine_of(s, "flaky").stale_since is None,
                                        "flaky's line after the reconnect, seen fresh")
            assert connector.opened == {"steady": 1, "flaky": 2}
            assert machine_of(snap, "flaky").stale_since is None
        assert ctx.board.get("b1").status == m.RUNNING
    finally:
        spare.stop()
        for env in envs.values():
            env.cleanup()
