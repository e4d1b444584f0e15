"""A model script for tests/support/model_server.py: what the fake Anthropic API answers, step by step.

A script is a list of steps (a YAML file `tests/scripts/NAME.yml` with a `steps:` list, or Python
dicts). Each step is a mapping with one of these shapes:

    {text: "All done. STATUS: done"}                 final answer, stop_reason end_turn
    {tool: {name: Bash, input: {command: "ls"}}}     one tool call, stop_reason tool_use
    {tools: [{name: ..., input: ...}, ...]}          several tool calls in one response
    {tool: ..., text: "Let me look."}                text block first, then the call(s)
    {error: 401}                                     HTTP error with the API's JSON error body
    {error: {status: 429, message: "...", headers: {retry-after: "1"}}, repeat: 3}
    {error: 529, repeat: forever}                    every request from here on fails
    {cut: true}                                      SSE starts, the connection drops mid-stream
    {cut: {after_events: 4}}                         ... after that many SSE events
    {hang: true}                                     SSE starts and never ends (until stop())
    any step may carry `delay: SECONDS` (wait before answering) and `usage: {input_tokens: ..}`

Which step answers a request: text and tool steps are *responses*; error / cut / hang steps are
*faults* that come before the response they precede. A response's place in the conversation is the
number of tool_result blocks the request's `messages` hold by then (the CLI appends one per tool
call it executed), so a retried request gets the same turn again, its remaining faults first.

Placeholders: any string in a YAML script may hold `${NAME}`, replaced by `load_script(name,
NAME=value)`; unknown names stay as written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FOREVER = -1

# the Messages API's error bodies, by HTTP status (type, message)
API_ERRORS = {
    400: ("invalid_request_error", "invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model not found"),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass(frozen=True)
class Step:
    kind: str                                  # text | tools | error | cut | hang
    text: str = ""
    tools: tuple[dict, ...] = ()               # each {"name": ..., "input": {...}}
    status: int = 200
    body: dict | None = None                   # error body
    headers: dict = field(default_factory=dict)
    repeat: int = 1                            # faults only; FOREVER = -1
    delay: float = 0.0
    after_events: int = 3                      # cut
    usage: dict = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return self.kind in ("text", "tools")

    def describe(self) -> str:
        if self.kind == "tools":
            return "tools:" + ",".join(t["name"] for t in self.tools)
        if self.kind == "error":
            return f"error:{self.status}"
        return self.kind


def step(raw: dict | Step) -> Step:
    """One step from its mapping form (see the module docstring)."""
    if isinstance(raw, Step):
        return raw
    raw = dict(raw)
    common = dict(delay=float(raw.pop("delay", 0)), usage=dict(raw.pop("usage", {}) or {}))
    repeat = raw.pop("repeat", 1)
    repeat = FOREVER if repeat in ("forever", FOREVER, None) else int(repeat)
    if "error" in raw:
        spec = raw.pop("error")
        spec = {"status": spec} if isinstance(spec, int) else dict(spec)
        status = int(spec.get("status", 500))
        etype, message = API_ERRORS.get(status, ("api_error", f"HTTP {status}"))
        body = spec.get("body") or {"type": "error", "error": {
            "type": spec.get("type", etype), "message": spec.get("message", message)}}
        return Step("error", status=status, body=body, repeat=repeat,
                    headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
                    **common)
    if "cut" in raw:
        spec = raw.pop("cut")
        after = int(spec.get("after_events", 3)) if isinstance(spec, dict) else 3
        return Step("cut", repeat=repeat, after_events=after, **common)
    if raw.pop("hang", False):
        return Step("hang", repeat=repeat, **common)
    tools = raw.pop("tools", None) or ([raw.pop("tool")] if "tool" in raw else [])
    text = str(raw.pop("text", ""))
    if raw:
        raise ValueError(f"unknown keys in model script step: {sorted(raw)}")
    if tools:
        calls = tuple({"name": str(t["name"]), "input": dict(t.get("input") or {})} for t in tools)
        return Step("tools", text=text, tools=calls, **common)
    return Step("text", text=text, **common)


def load_script(name: str | Path, **params: str) -> list[Step]:
    """Steps of tests/scripts/NAME.yml (or a path), with `${NAME}` placeholders filled."""
    path = Path(name)
    if not path.suffix:
        path = SCRIPTS / f"{name}.yml"
    data = yaml.safe_load(path.read_text())
    steps = data["steps"] if isinstance(data, dict) else data
    return [step(_fill(s, params)) for s in steps]


def _fill(value, params: dict):
    if isinstance(value, str):
        return Template(value).safe_substitute(params)
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    return value


# --- the SSE events of one response ----------------------------------------------------------

def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def response_events(s: Step, *, model: str, message_id: str, tool_id_base: str) -> list[bytes]:
    """message_start, one block per text / tool call, message_delta, message_stop."""
    usage = {"input_tokens": 100, "output_tokens": 1, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, **{k: v for k, v in s.usage.items()
                                              if k != "output_tokens"}}
    events = [sse("message_start", {"type": "message_start", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}})]
    index = 0
    if s.text:
        events += _block(index, {"type": "text", "text": ""},
                         {"type": "text_delta", "text": s.text})
        index += 1
    for n, call in enumerate(s.tools):
        start = {"type": "tool_use", "id": f"{tool_id_base}_{n}", "name": call["name"], "input": {}}
        events += _block(index, start, {"type": "input_json_delta",
                                        "partial_json": json.dumps(call["input"])})
        index += 1
    stop = "tool_use" if s.tools else "end_turn"
    events.append(sse("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": int(s.usage.get("output_tokens", 20))}}))
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


def _block(index: int, start: dict, delta: dict) -> list[bytes]:
    return [sse("content_block_start", {"type": "content_block_start", "index": index,
                                        "content_block": start}),
            sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": delta}),
            sse("content_block_stop", {"type": "content_block_stop", "index": index})]
