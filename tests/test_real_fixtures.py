"""The transcripts recorded from the real CLI (tests/fixtures/stream-json/real_*.jsonl, written by
tests/regen_fixtures.py) through the parser: what the manifest does not already pin down.
(test_stream_parser.py checks every manifest entry, these included, against its `expect`.)"""

from __future__ import annotations

from pathlib import Path

from coordssh.agent import events as ev
from coordssh.agent.outcome import classify
from coordssh.agent.stream import StreamState
from coordssh.domain import models as m

FIXTURES = Path(__file__).parent / "fixtures" / "stream-json"


def fold(name: str) -> tuple[StreamState, list[ev.Event]]:
    state = StreamState()
    events = state.feed((FIXTURES / f"real_{name}.jsonl").read_bytes())
    return state, events + state.finish()


def test_real_success_shows_the_tools_and_the_done_marker():
    state, events = fold("success")
    assert [(e.name, e.text) for e in events if e.kind == ev.TOOL_USE][1:] == [
        ("Bash", "git add hello.txt"), ("Bash", "git commit -m 'Add hello.txt'")]
    assert state.last_status == "done" and state.malformed == 0
    assert next(e for e in events if e.kind == ev.INIT).get("version") == "2.1.328"


def test_real_stuck_reason_comes_from_the_last_line():
    state, _ = fold("stuck")
    assert state.stuck_reason == "there is no payment module in this repository"


def test_real_permission_denial_is_a_tool_error():
    _, events = fold("permission_denied")
    [denied] = [e for e in events if e.kind == ev.TOOL_RESULT and e.is_error]
    assert denied.text.endswith("requires approval: git add f.txt")


def test_real_retries_are_counted():
    state, _ = fold("overloaded_recovered")
    assert state.api_retries == 2 and state.last_api_error == "overloaded (529)"
    state, _ = fold("auth_retry")
    assert state.api_retries == 2 and state.last_api_error == "authentication_failed (401)"
    assert not state.has_result
    # killed while retrying: no result, so the outcome is a crash (see the report on auth aborts)
    assert classify(state, exit_code=137, alive=False).status == m.CRASHED
