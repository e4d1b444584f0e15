"""One stream-json line -> events. Never raises.

Unknown types and subtypes are tolerated (`unknown` / `other`); a line that is not a JSON object
is `malformed`. A line is a result only when it parses as a JSON object whose top-level `type`
is "result" (never a substring match). Markers (`STATUS:` / `STUCK:`) come only from complete
main-agent text blocks, never from `stream_event` deltas where they may be split.
"""

from __future__ import annotations

import json
from typing import Any

try:  # 3-4x faster than the stdlib on stream-json lines; optional, the stdlib is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

from coordssh.agent import events as ev
from coordssh.agent.events import Event
from coordssh.agent.markers import markers

SUMMARY_KEYS = ("file_path", "command", "pattern", "url", "notebook_path", "path", "query",
                "description", "prompt")
SHORT = 300          # characters kept of tool inputs and tool results


def parse_line(line: bytes | bytearray | str) -> list[Event]:
    """The events of one stream-json line (a blank line gives none)."""
    try:
        obj = _loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors in both decoders
        return [] if not line.strip() else [Event(ev.MALFORMED, text=preview(line))]
    if not isinstance(obj, dict):
        return [Event(ev.MALFORMED, text=preview(line))]
    return parse_object(obj)


def parse_object(obj: dict[str, Any]) -> list[Event]:
    kind = obj.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        return [Event(ev.UNKNOWN, name=str(kind) if kind is not None else "")]
    return handler(obj)


# --- one handler per top-level type -------------------------------------------------------------
def _system(obj: dict[str, Any]) -> list[Event]:
    sub = obj.get("subtype")
    if sub == "init":
        return [Event(ev.INIT, name="init", data={
            "model": as_str(obj.get("model")), "session_id": as_str(obj.get("session_id")),
            "cwd": as_str(obj.get("cwd")), "version": as_str(obj.get("claude_code_version")),
            "permission_mode": as_str(obj.get("permissionMode"))})]
    if sub == "api_retry":
        delay = obj.get("retry_delay_ms")
        return [Event(ev.API_RETRY, name=as_str(obj.get("error")), data={
            "attempt": obj.get("attempt"), "max_retries": obj.get("max_retries"),
            "error_status": obj.get("error_status"), "error": as_str(obj.get("error")),
            "delay_s": delay / 1000 if isinstance(delay, (int, float)) else None})]
    if sub == "compact_boundary":
        meta = obj.get("compact_metadata") if isinstance(obj.get("compact_metadata"), dict) else {}
        return [Event(ev.COMPACT, name="compact", data={
            "trigger": as_str(meta.get("trigger")), "pre_tokens": meta.get("pre_tokens")})]
    return [Event(ev.OTHER, name=as_str(sub) or "system")]


def _assistant(obj: dict[str, Any]) -> list[Event]:
    message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
    content = message.get("content") if isinstance(message.get("content"), list) else []
    if obj.get("error"):
        text = "\n".join(_block_text(b) for b in content if isinstance(b, dict)).strip()
        return [Event(ev.SYNTHETIC_ERROR, text=text, name=as_str(obj.get("error")), is_error=True)]
    sub = bool(obj.get("parent_tool_use_id"))
    meta = {"message_id": as_str(message.get("id"))}
    out: list[Event] = []
    for block in content:
        if isinstance(block, dict):
            _content_block(block, sub, meta, out)
    return out


def _content_block(block: dict[str, Any], sub: bool, meta: dict, out: list[Event]) -> None:
    btype = block.get("type")
    if btype == "text":
        text = as_str(block.get("text"))
        out.append(Event(ev.TEXT, text=text, subagent=sub, data=meta))
        if not sub:  # a subagent's markers are not the worker's status
            out.extend(Event(kind, text=msg, data=meta) for kind, msg in markers(text))
    elif btype == "thinking":
        out.append(Event(ev.THINKING, text=as_str(block.get("thinking")), subagent=sub, data=meta))
    elif btype in ("tool_use", "server_tool_use"):
        name = as_str(block.get("name"))
        out.append(Event(ev.TOOL_USE, text=_tool_summary(block.get("input")), name=name,
                         subagent=sub, data=meta))
    else:
        out.append(Event(ev.OTHER, name=as_str(btype) or "block", subagent=sub, data=meta))


def _user(obj: dict[str, Any]) -> list[Event]:
    message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
    content = message.get("content")
    sub = bool(obj.get("parent_tool_use_id"))
    if not isinstance(content, list):
        return [Event(ev.OTHER, text=_short(as_str(content)), name="user", subagent=sub)]
    out: list[Event] = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            out.append(Event(ev.TOOL_RESULT, text=_result_content(block.get("content")),
                             is_error=block.get("is_error") is True, subagent=sub))
        elif isinstance(block, dict):
            out.append(Event(ev.OTHER, text=_short(_block_text(block)), name="user", subagent=sub))
    return out


def _rate_limit(obj: dict[str, Any]) -> list[Event]:
    info = obj.get("rate_limit_info") if isinstance(obj.get("rate_limit_info"), dict) else {}
    status = as_str(info.get("status"))
    return [Event(ev.RATE_LIMIT, name=status, is_error=status == "rejected", data={
        "status": status, "resets_at": as_number(info.get("resetsAt")),
        "type": as_str(info.get("rateLimitType")),
        "utilization": as_number(info.get("utilization"))})]


def _result(obj: dict[str, Any]) -> list[Event]:
    text = obj.get("result")
    return [Event(ev.RESULT, text=text if isinstance(text, str) else "",
                  name=as_str(obj.get("subtype")), is_error=obj.get("is_error") is True, data=obj)]


def _stream_event(obj: dict[str, Any]) -> list[Event]:
    inner = obj.get("event") if isinstance(obj.get("event"), dict) else {}
    return [Event(ev.PARTIAL, name=as_str(inner.get("type")),
                  subagent=bool(obj.get("parent_tool_use_id")))]


def _other(obj: dict[str, Any]) -> list[Event]:
    return [Event(ev.OTHER, name=as_str(obj.get("type")))]


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


def preview(line: bytes | str) -> str:
    head = line[:200]
    return _short(head.decode("utf-8", "replace") if isinstance(head, bytes) else head).strip()


def _block_text(block: dict[str, Any]) -> str:
    return as_str(block.get("text"))


def _tool_summary(tool_input: Any) -> str:
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
