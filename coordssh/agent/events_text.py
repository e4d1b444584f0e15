"""One line of plain text per event, for `watch`, logs and `last_event_summary`.

No colour and no rich here: the CLI decorates these lines if it wants to. `render` returns ""
for events not worth a line (partial deltas, unknown types); callers skip empty lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from coordssh.agent import events as ev
from coordssh.agent.events import Event

WIDTH = 160


def render(event: Event, width: int = WIDTH) -> str:
    """`event` as one line of at most `width` characters ("" when it is not worth showing)."""
    fn = _RENDER.get(event.kind)
    return one_line(fn(event), width) if fn else ""


def one_line(text: str, width: int = WIDTH) -> str:
    """Collapse whitespace (newlines included) and cut to `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _sub(e: Event) -> str:
    return "[subagent] " if e.subagent else ""


def _init(e: Event) -> str:
    version = f" (claude {e.get('version')})" if e.get("version") else ""
    return f"started: model {e.get('model') or '?'}, session {e.get('session_id') or '?'}{version}"


def _tool_use(e: Event) -> str:
    return f"{_sub(e)}{e.name or 'tool'}: {e.text}" if e.text else f"{_sub(e)}{e.name or 'tool'}"


def _tool_result(e: Event) -> str:
    if not e.is_error:
        return ""
    return f"{_sub(e)}{'permission denied' if e.get('denied') else 'tool error'}: {e.text}"


def _api_retry(e: Event) -> str:
    return retry_text(e.data)


def retry_text(retry: Mapping[str, Any]) -> str:
    """`API retry 6/10: authentication_failed (401), next in 17 s` (an api_retry's fields)."""
    status = retry.get("error_status")
    delay = retry.get("delay_s")
    wait = f", next in {math.ceil(delay)} s" if isinstance(delay, (int, float)) else ""
    return (f"API retry {retry.get('attempt')}/{retry.get('max_retries')}: "
            f"{retry.get('error') or 'error'}{f' ({status})' if status is not None else ''}{wait}")


def _rate_limit(e: Event) -> str:
    status = e.get("status") or "?"
    if status == "allowed":
        return ""
    resets = e.get("resets_at")
    when = f"; resets {format_epoch(resets)}" if isinstance(resets, (int, float)) else ""
    used = e.get("utilization")
    usage = f" ({used:.0%} used)" if isinstance(used, (int, float)) else ""
    return f"rate limit {status}{usage}{when}"


def _result(e: Event) -> str:
    r = e.data
    errors = r.get("errors") if isinstance(r.get("errors"), list) else []
    detail = e.text or "; ".join(str(x) for x in errors)
    cost = r.get("total_cost_usd")
    money = f", ${cost:.2f}" if isinstance(cost, (int, float)) else ""
    head = "result: error" if e.is_error else "result"
    return f"{head} ({e.name or '?'}, {r.get('num_turns', '?')} turns{money}): {detail}"


def format_epoch(epoch: float) -> str:
    """`2026-07-14 14:00 UTC`: the one way coordssh writes a moment for the operator."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


_RENDER: dict[str, Callable[[Event], str]] = {
    ev.INIT: _init,
    ev.TEXT: lambda e: f"{_sub(e)}{e.text}",
    ev.THINKING: lambda e: f"{_sub(e)}(thinking) {e.text}",
    ev.TOOL_USE: _tool_use,
    ev.TOOL_RESULT: _tool_result,
    ev.DENIAL: lambda e: f"permission denied: {e.name or 'tool'}: {e.text}",
    ev.STATUS: lambda e: f"STATUS: {e.text}",
    ev.STUCK: lambda e: f"STUCK: {e.text}",
    ev.API_RETRY: _api_retry,
    ev.RATE_LIMIT: _rate_limit,
    ev.SYNTHETIC_ERROR: lambda e: f"API error ({e.name}): {e.text}",
    ev.RESULT: _result,
    ev.COMPACT: lambda e: f"context compacted ({e.get('trigger') or 'auto'})",
    ev.MALFORMED: lambda e: f"unreadable line: {e.text}",
    ev.TRUNCATED: lambda e: f"stream ends inside a line ({e.get('bytes', '?')} bytes)",
}
