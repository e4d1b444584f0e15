"""stream-json parsing and folding, against the fixtures (tests/fixtures/stream-json) and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordssh.agent import events as ev
from coordssh.agent.events_text import render
from coordssh.agent.outcome import classify
from coordssh.agent.stream import StreamState, parse_line
from coordssh.domain import models as m

FIXTURES = Path(__file__).parent / "fixtures" / "stream-json"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
# the fixture README's states in coordssh's statuses (nothing is pushed in these tests)
STATE_TO_STATUS = {
    "completed": m.ADVISORY, "failed:max_turns": m.MAX_TURNS, "stuck": m.STUCK,
    "crashed": m.CRASHED, "rate_limited": m.USAGE_LIMITED, "failed:api_error": m.API_ERROR,
    "failed:auth": m.AUTH_FAILED,
}


def fold(data: bytes, chunk: int | None = None) -> tuple[StreamState, list[ev.Event]]:
    state = StreamState()
    events: list[ev.Event] = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        events += state.feed(data[i:i + step])
    events += state.finish()
    return state, events


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_fixture_gives_the_manifest_values(entry):
    expect = entry["expect"]
    state, _ = fold((FIXTURES / entry["file"]).read_bytes())
    assert state.session_id == expect["session_id"]
    assert state.model == expect["model"]
    assert state.has_result is expect["has_result"]
    result = state.result or {}
    for key in ("subtype", "is_error", "duration_api_ms", "api_error_status", "terminal_reason",
                "errors"):
        if key in expect:
            assert result.get(key) == expect[key], key
    if "num_turns" in expect:
        assert state.turns == expect["num_turns"]
    if "duration_ms" in expect:
        assert state.duration_ms == expect["duration_ms"]
    if "total_cost_usd" in expect:
        assert state.cost_usd == pytest.approx(expect["total_cost_usd"])
    if "result_text_prefix" in expect:
        assert result["result"].startswith(expect["result_text_prefix"])
    outcome = classify(state, exit_code=entry["exit_code"], alive=False)
    assert outcome.status == STATE_TO_STATUS[expect["state"]]
    if "resets_at" in expect:
        assert outcome.resets_at == expect["resets_at"]


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_any_chunking_gives_the_same_events(entry):
    data = (FIXTURES / entry["file"]).read_bytes()
    whole, whole_events = fold(data)
    for chunk in (1, 7, 4096):
        state, events = fold(data, chunk)
        assert events == whole_events
        assert state.to_dict() == whole.to_dict()
    assert whole.bytes_consumed == data.rfind(b"\n") + 1


def test_a_cut_off_line_waits_for_its_newline():
    data = (FIXTURES / "crashed.jsonl").read_bytes()
    assert not data.endswith(b"\n")
    head, tail = data[: data.rfind(b"\n") + 1], data[data.rfind(b"\n") + 1:]
    state = StreamState()
    state.feed(head)
    assert state.feed(tail) == []
    assert state.pending_bytes == len(tail)
    assert state.bytes_consumed == len(head)
    truncated = state.finish()
    assert [e.kind for e in truncated] == [ev.TRUNCATED]
    assert state.truncated and state.malformed == 0
    assert state.bytes_consumed == len(head)  # a resumed tail starts at the partial line again


def test_a_completed_partial_line_is_parsed_once():
    line = json.dumps({"type": "result", "subtype": "success", "is_error": False, "num_turns": 2,
                       "session_id": "s1", "result": "ok"}).encode()
    state = StreamState()
    assert state.feed(line[:10]) == []
    assert state.feed(line[10:-3]) == []
    events = state.feed(line[-3:] + b"\n")
    assert [e.kind for e in events] == [ev.RESULT]
    assert state.result["result"] == "ok" and state.turns == 2


def test_resume_from_a_persisted_fold():
    data = (FIXTURES / "success.jsonl").read_bytes()
    straight, _ = fold(data)
    cut = data.index(b"\n", len(data) // 2) + 1
    first = StreamState()
    first.feed(data[: cut + 25])  # a partial line is pending when the fold is saved
    saved = json.loads(json.dumps(first.to_dict()))
    assert saved["bytes_consumed"] == cut
    resumed = StreamState.from_dict(saved)
    resumed.feed(data[saved["bytes_consumed"]:])
    assert resumed.to_dict() == straight.to_dict()


@pytest.mark.parametrize("line", [
    b"not json at all",
    b'{"type":"result","subtype":"success"',           # cut off
    b'["type","result"]',                                # JSON, not an object
    b'"{\\"type\\":\\"result\\"}"',                      # a JSON string holding a result
    b"\xff\xfe{}",                                       # not UTF-8
])
def test_malformed_lines_are_counted_never_raised(line):
    state = StreamState()
    events = state.feed(line + b"\n")
    assert [e.kind for e in events] == [ev.MALFORMED]
    assert state.malformed == 1 and state.result is None


def test_result_only_from_a_top_level_result_object():
    nested = {"type": "assistant", "message": {"id": "m1", "content": [
        {"type": "text", "text": 'I will print {"type":"result","subtype":"success"} later'}]}}
    wrapped = {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t",
                                                        "content": '{"type":"result"}'}]}}
    state = StreamState()
    state.feed((json.dumps(nested) + "\n" + json.dumps(wrapped) + "\n").encode())
    assert state.result is None and not state.has_result


def test_unknown_types_and_subtypes_are_tolerated():
    lines = [{"type": "system", "subtype": "hook_started", "hook_name": "x"},
             {"type": "brand_new_event", "payload": [1, 2]},
             {"no_type": True},
             {"type": "assistant", "message": {"id": "m", "content": [{"type": "advisor_tool_result"}]}},
             {"type": "system", "subtype": "compact_boundary",
              "compact_metadata": {"trigger": "auto", "pre_tokens": 150000}}]
    events = [e for line in lines for e in parse_line(json.dumps(line))]
    assert [e.kind for e in events] == [ev.OTHER, ev.UNKNOWN, ev.UNKNOWN, ev.OTHER, ev.COMPACT]
    assert events[0].name == "hook_started" and events[1].name == "brand_new_event"
    assert events[4].get("pre_tokens") == 150000


def test_blank_lines_give_nothing():
    assert parse_line(b"") == [] and parse_line("   \r") == []


def test_markers_come_from_complete_text_not_deltas():
    _, events = fold((FIXTURES / "partial_messages.jsonl").read_bytes())
    assert [e.text for e in events if e.kind == ev.STATUS] == ["done"]
    assert sum(e.kind == ev.PARTIAL for e in events) == 10


def test_success_fixture_events():
    state, events = fold((FIXTURES / "success.jsonl").read_bytes())
    init = next(e for e in events if e.kind == ev.INIT)
    assert init.get("cwd") == "/home/dev/work/payments-api"
    assert init.get("version") == "2.1.201" and init.get("permission_mode") == "acceptEdits"
    tools = [(e.name, e.text) for e in events if e.kind == ev.TOOL_USE]
    assert tools[0] == ("Read", "/home/dev/work/payments-api/tests/test_refunds.py")
    assert ("Bash", "python -m pytest -q") in tools
    assert [e.text for e in events if e.kind == ev.STATUS] == ["running tests", "done"]
    assert state.last_status == "done"
    assert any(e.kind == ev.THINKING for e in events)
    allowed = next(e for e in events if e.kind == ev.RATE_LIMIT)
    assert allowed.get("status") == "allowed" and not state.rate_limit_rejected


def test_rate_limit_and_retry_fields():
    state, events = fold((FIXTURES / "rate_limited.jsonl").read_bytes())
    limits = [e for e in events if e.kind == ev.RATE_LIMIT]
    assert [e.get("status") for e in limits] == ["allowed_warning", "rejected"]
    assert limits[0].get("utilization") == 0.93 and limits[1].get("type") == "five_hour"
    assert state.rate_limit_rejected and state.resets_at == 1784037600
    assert state.synthetic_error == "rate_limit"
    state, events = fold((FIXTURES / "api_error.jsonl").read_bytes())
    retries = [e for e in events if e.kind == ev.API_RETRY]
    assert len(retries) == state.api_retries == 10
    assert retries[0].get("attempt") == 1 and retries[0].get("error_status") == 529
    assert retries[0].get("error") == "overloaded" and retries[0].get("delay_s") > 0


def test_subagent_text_is_flagged_and_its_markers_ignored():
    line = {"type": "assistant", "parent_tool_use_id": "toolu_1", "message": {
        "id": "m9", "content": [{"type": "text", "text": "STATUS: sub work\nSTUCK: sub problem"}]}}
    state = StreamState()
    events = state.feed((json.dumps(line) + "\n").encode())
    assert [(e.kind, e.subagent) for e in events] == [(ev.TEXT, True)]
    assert state.last_status == "" and state.stuck_reason == "" and state.turns is None


def test_stuck_then_more_work_is_not_stuck():
    def text(mid: str, body: str) -> bytes:
        return (json.dumps({"type": "assistant", "message": {
            "id": mid, "content": [{"type": "text", "text": body}]}}) + "\n").encode()
    state = StreamState()
    state.feed(text("a", "**STUCK:** no database"))
    assert state.stuck_reason == "no database"
    state.feed(text("a", "(same message, another block)"))
    assert state.stuck_reason == "no database"
    state.feed(text("b", "Found it after all. STATUS: fixing"))
    assert state.stuck_reason == "" and state.turns == 2


def test_tool_result_and_summary_shapes():
    line = {"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True,
         "content": [{"type": "text", "text": "Exit code 1\nboom"}]},
        {"type": "tool_result", "tool_use_id": "t2", "content": "x" * 10_000}]}}
    first, second = parse_line(json.dumps(line))
    assert first.is_error and first.text == "Exit code 1\nboom"
    assert not second.is_error and len(second.text) <= 300
    fetch = {"type": "assistant", "message": {"id": "m", "content": [
        {"type": "tool_use", "name": "WebFetch", "input": {"url": "https://example.org"}},
        {"type": "tool_use", "name": "Grep", "input": {"pattern": "def x"}}]}}
    assert [e.text for e in parse_line(json.dumps(fetch))] == ["https://example.org", "def x"]


def test_a_line_of_many_megabytes_in_small_chunks():
    big = {"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "y" * 20_000_000}]}}
    data = (json.dumps(big) + "\n").encode()
    state = StreamState()
    events = []
    for i in range(0, len(data), 65536):
        events += state.feed(data[i:i + 65536])
    assert [e.kind for e in events] == [ev.TOOL_RESULT]
    assert state.bytes_consumed == len(data) and state.pending_bytes == 0


def test_turns_count_assistant_messages_without_a_result():
    state, _ = fold((FIXTURES / "crashed.jsonl").read_bytes())
    assert state.result is None and state.turns == 3
    assert state.last_event_summary == "stream ends inside a line (158 bytes)"


def test_events_render_as_one_plain_line():
    _, events = fold((FIXTURES / "api_error.jsonl").read_bytes())
    lines = [render(e) for e in events]
    assert all("\n" not in line and len(line) <= 160 for line in lines)
    assert "API retry 1/10: overloaded (529), next in" in lines[next(
        i for i, e in enumerate(events) if e.kind == ev.API_RETRY)]
    result = render(events[-1])
    assert result.startswith("result: error (success, 2 turns, $0.08): API Error: Repeated 529")
    _, events = fold((FIXTURES / "rate_limited.jsonl").read_bytes())
    rejected = [render(e) for e in events if e.kind == ev.RATE_LIMIT][-1]
    assert rejected == "rate limit rejected; resets 2026-07-14 14:00 UTC"


def test_a_malformed_line_is_previewed_as_text():
    state = StreamState()
    (event,) = state.feed(b"not json\n")
    assert event.text == "not json"
    assert state.last_event_summary == "unreadable line: not json"


def test_watch_shows_api_retries_and_denied_calls_but_not_failing_commands():
    from coordssh.cli.render.events import event_line

    lines = [
        b'{"type":"system","subtype":"api_retry","attempt":6,"max_retries":10,'
        b'"retry_delay_ms":16800,"error_status":401,"error":"authentication_failed"}',
        b'{"type":"user","message":{"role":"user","content":[{"type":"tool_result",'
        b'"tool_use_id":"t1","is_error":true,"content":"This Bash command contains multiple '
        b'operations. The following part requires approval: echo x > f"}]}}',
        b'{"type":"user","message":{"role":"user","content":[{"type":"tool_result",'
        b'"tool_use_id":"t2","is_error":true,"content":"Exit code 1\\nls: x: Permission denied"}]}}',
        b'{"type":"system","subtype":"permission_denied","tool_name":"WebFetch",'
        b'"tool_use_id":"t3","message":"Permission to use WebFetch has been denied."}',
    ]
    shown = [event_line(e) for line in lines for e in parse_line(line)]
    assert shown == [
        "~ API retry 6/10: authentication_failed (401), next in 17 s",
        "! permission denied: This Bash command contains multiple operations. The following part "
        "requires approval: echo x > f",
        "",
        "! permission denied: WebFetch: Permission to use WebFetch has been denied."]
