"""One stream-json line -> events. Never raises.

Unknown types and subtypes are tolerated (`unknown` / `other`); a line that is not a JSON object
is `malformed`. A line is a result only when it parses as a JSON object whose top-level `type`
is "result" (never a substring match). Markers (`STATUS:` / `STUCK:`) come only from complete
main-agent text blocks, never from `stream_event` deltas where they may be split.

This runs for every line of every stream (`StreamState.feed` calls `_HANDLERS` directly), so the
handlers build each `Event` with `tuple.__new__` (positional: kind, text, name, subagent,
is_error, data), several times cheaper than the NamedTuple's keyword constructor, and test types
inline instead of calling `as_str` per field.
"""

from __future__ import annotations

import json
import re
from typing import Any

try:  # 3-4x faster than the stdlib on stream-json lines; optional (the `fast` extra), the
    from orjson import loads as _loads  # stdlib is the fallback
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

from coordssh.agent import events as ev
from coordssh.agent.events import NO_DATA, Event
from coordssh.agent.markers import STATUS_MARK, STUCK_MARK, markers

SUMMARY_KEYS = ("file_path", "command", "pattern", "url", "notebook_path", "path", "query",
                "description", "prompt")
SHORT = 300          # characters kept of tool inputs and tool results
# what the CLI says when its permission check refuses a tool call (2.1.x wordings); a failing
# shell command ("Exit code 1\n... Permission denied") is not a denial
DENIED = re.compile(r"requires approval|haven't granted it|has been denied|denied by (?:your rule|"
                    r"plugin)|running in don't ask mode", re.IGNORECASE)

_new = tuple.__new__
_INIT, _TEXT, _THINKING, _TOOL_USE = ev.INIT, ev.TEXT, ev.THINKING, ev.TOOL_USE
_TOOL_RESULT, _OTHER, _PARTIAL = ev.TOOL_RESULT, ev.OTHER, ev.PARTIAL


def parse_line(line: bytes | bytearray | str) -> list[Event]:
    """The events of one stream-json line (a blank line gives none)."""
    try:
        obj = _loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors in both decoders
        return [] if not line.strip() else [malformed(line)]
    if not isinstance(obj, dict):
        return [malformed(line)]
    return parse_object(obj)


def parse_object(obj: dict[str, Any]) -> list[Event]:
    kind = obj.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        return [unknown(kind)]
    return handler(obj)


def malformed(line: bytes | bytearray | str) -> Event:
    return _new(Event, (ev.MALFORMED, preview(line), "", False, False, NO_DATA))


def unknown(kind: Any) -> Event:
    return _new(Event, (ev.UNKNOWN, "", str(kind) if kind is not None else "", False, False,
                        NO_DATA))


# --- one handler per top-level type -------------------------------------------------------------
def _system(obj: dict[str, Any]) -> list[Event]:
    get = obj.get
    sub = get("subtype")
    if sub == "api_retry":  # the common one: a flaky API repeats it up to max_retries times
        error, delay = get("error"), get("retry_delay_ms")
        error = error if isinstance(error, str) else ""
        return [_new(Event, (ev.API_RETRY, "", error, False, False, {
            "attempt": get("attempt"), "max_retries": get("max_retries"),
            "error_status": get("error_status"), "error": error,
            "delay_s": delay / 1000 if isinstance(delay, (int, float)) else None}))]
    if sub == "init":
        return [_new(Event, (_INIT, "", "init", False, False, {
            "model": as_str(get("model")), "session_id": as_str(get("session_id")),
            "cwd": as_str(get("cwd")), "version": as_str(get("claude_code_version")),
            "permission_mode": as_str(get("permissionMode"))}))]
    if sub == "permission_denied":
        name, message = as_str(get("tool_name")), as_str(get("message"))
        return [_new(Event, (ev.DENIAL, _short(message), name, False, True,
                             {"tool_use_id": as_str(get("tool_use_id"))}))]
    if sub == "compact_boundary":
        meta = get("compact_metadata")
        meta = meta if isinstance(meta, dict) else {}
        return [_new(Event, (ev.COMPACT, "", "compact", False, False, {
            "trigger": as_str(meta.get("trigger")), "pre_tokens": meta.get("pre_tokens")}))]
    return [_new(Event, (_OTHER, "", sub if isinstance(sub, str) and sub else "system", False,
                         False, NO_DATA))]


def _assistant(obj: dict[str, Any]) -> list[Event]:
    message = obj.get("message")
    if not isinstance(message, dict):
        message = {}
    content = message.get("content")
    if not isinstance(content, list):
        content = []
    if obj.get("error"):
        text = "\n".join(_block_text(b) for b in content if isinstance(b, dict)).strip()
        return [_new(Event, (ev.SYNTHETIC_ERROR, text, as_str(obj.get("error")), False, True,
                             NO_DATA))]
    sub = bool(obj.get("parent_tool_use_id"))
    mid = message.get("id")
    meta = {"message_id": mid if isinstance(mid, str) else ""}
    out: list[Event] = []
    add = out.append
    for block in content:
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if not isinstance(text, str):
                text = ""
            add(_new(Event, (_TEXT, text, "", sub, False, meta)))
            # a subagent's markers are not the worker's status; the substring test keeps
            # ordinary text (nearly all of it) off the marker scan
            if not sub and (STATUS_MARK in text or STUCK_MARK in text):
                out.extend(_new(Event, (kind, msg, "", False, False, meta))
                           for kind, msg in markers(text))
        elif btype == "tool_use" or btype == "server_tool_use":
            name, tid = block.get("name"), block.get("id")
            add(_new(Event, (_TOOL_USE, tool_summary(block.get("input")),
                             name if isinstance(name, str) else "", sub, False,
                             {**meta, "tool_use_id": tid if isinstance(tid, str) else ""})))
        elif btype == "thinking":
            text = block.get("thinking")
            add(_new(Event, (_THINKING, text if isinstance(text, str) else "", "", sub, False,
                             meta)))
        else:
            add(_new(Event, (_OTHER, "", btype if isinstance(btype, str) and btype else "block",
                             sub, False, meta)))
    return out


def _user(obj: dict[str, Any]) -> list[Event]:
    message = obj.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    sub = bool(obj.get("parent_tool_use_id"))
    if not isinstance(content, list):
        return [_new(Event, (_OTHER, _short(as_str(content)), "user", sub, False, NO_DATA))]
    out: list[Event] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            text = _result_content(block.get("content"))
            if block.get("is_error") is not True:
                out.append(_new(Event, (_TOOL_RESULT, text, "", sub, False, NO_DATA)))
                continue
            denied = not text.startswith("Exit code") and DENIED.search(text) is not None
            out.append(_new(Event, (_TOOL_RESULT, text, "", sub, True, {
                "tool_use_id": as_str(block.get("tool_use_id")), "denied": denied})))
        else:
            out.append(_new(Event, (_OTHER, _short(_block_text(block)), "user", sub, False,
                                    NO_DATA)))
    return out


def _rate_limit(obj: dict[str, Any]) -> list[Event]:
    info = obj.get("rate_limit_info")
    if not isinstance(info, dict):
        info = {}
    status = as_str(info.get("status"))
    return [_new(Event, (ev.RATE_LIMIT, "", status, False, status == "rejected", {
        "status": status, "resets_at": as_number(info.get("resetsAt")),
        "type": as_str(info.get("rateLimitType")),
        "utilization": as_number(info.get("utilization"))}))]


def _result(obj: dict[str, Any]) -> list[Event]:
    text = obj.get("result")
    return [_new(Event, (ev.RESULT, text if isinstance(text, str) else "",
                         as_str(obj.get("subtype")), False, obj.get("is_error") is True, obj))]


def _stream_event(obj: dict[str, Any]) -> list[Event]:
    inner = obj.get("event")
    name = inner.get("type") if isinstance(inner, dict) else None
    return [_new(Event, (_PARTIAL, "", name if isinstance(name, str) else "",
                         bool(obj.get("parent_tool_use_id")), False, NO_DATA))]


def _other(obj: dict[str, Any]) -> list[Event]:
    return [_new(Event, (_OTHER, "", as_str(obj.get("type")), False, False, NO_DATA))]


_HANDLERS = {
    "system": _system, "assistant": _assistant, "user": _user, "result": _result,
    "rate_limit_event": _rate_limit, "stream_event": _stream_event,
    "tool_use_summary": _other, "prompt_suggestion": _other, "conversation_reset": _other,
}


# --- small helpers ------------------------------------------------------------------------------
def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _short(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(line: bytes | bytearray | str) -> str:
    head = line[:200]
    return _short(head if isinstance(head, str) else bytes(head).decode("utf-8", "replace")).strip()


def _block_text(block: dict[str, Any]) -> str:
    return as_str(block.get("text"))


def tool_summary(tool_input: Any) -> str:
    if not isinstance(tool_input, dict):
        return ""
    for key in SUMMARY_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return _short(value)
    return ""


def _result_content(content: Any) -> str:
    if isinstance(content, str):
        return _short(content)
    if isinstance(content, list):  # [{type: text, text}, ...]: only the first few blocks matter
        parts = [_block_text(b) for b in content[:4] if isinstance(b, dict)]
        return _short("\n".join(p for p in parts if p))
    return ""
