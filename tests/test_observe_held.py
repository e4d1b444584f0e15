"""observe over a transport the caller holds (the live view's path), and a stream line longer
than one probe chunk, on local and ssh machines."""

from __future__ import annotations

import json

from coordssh.agent.stream import StreamState
from coordssh.domain import models as m
from coordssh.remote.probe import CHUNK_CAP
from coordssh.services.observe import observe, observe_held, write_changes
from tests.support.envelopes import envelopes  # noqa: F401 (a fixture)
from tests.support.envelopes import fixture_lines, make_context, put

LINES = fixture_lines("success.jsonl")


def status_line(text: str) -> bytes:
    return json.dumps({"type": "assistant", "session_id": "s1", "parent_tool_use_id": None,
                       "message": {"id": "msg_long", "role": "assistant", "model": "m",
                                   "content": [{"type": "text", "text": f"STATUS: {text}"}]}
                       }).encode() + b"\n"


async def test_a_line_longer_than_a_chunk_is_folded_once(tmp_path, machine, envelopes):
    ctx = make_context(tmp_path, machine)
    long = status_line("long " + "x" * (CHUNK_CAP + 1000))
    envelopes.make("big1", stream=LINES[0] + long)
    put(ctx, machine, "big1")
    await observe(ctx)
    row = ctx.board.get("big1")
    assert row.offset == len(LINES[0]) + len(long)
    assert row.extra["stream"]["malformed"] == 0 and row.last_status.startswith("long xxx")


async def test_observe_held_probes_facts_only_for_followed_runs_and_writes_nothing(
        tmp_path, machine, envelopes, connector):
    ctx = make_context(tmp_path, machine)
    envelopes.make("h1", stream=b"".join(LINES[:3]))
    envelopes.make("h2", stream=b"".join(LINES[:3]))
    rows = [put(ctx, machine, "h1"), put(ctx, machine, "h2")]
    followed = StreamState(0)
    followed.feed(LINES[0])   # what a streaming channel delivered so far
    states = {"h1": followed}
    async with await connector.connect(machine) as transport:
        seen = await observe_held(ctx, machine, transport, rows, states, facts_only={"h1"})
    assert ctx.board.get("h1").offset == 0 and ctx.board.get("h2").offset == 0   # nothing written
    by_id = {a.id: a for a in seen.assignments}
    assert by_id["h1"].offset == len(LINES[0])                 # only what the caller fed
    assert by_id["h2"].offset == len(b"".join(LINES[:3]))     # probed with its bytes
    assert states["h1"] is followed and by_id["h1"].status == m.RUNNING
    assert write_changes(ctx, [seen])
    assert ctx.board.get("h2").offset == len(b"".join(LINES[:3]))
