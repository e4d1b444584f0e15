"""The incremental fold of one run's stream-json (NDJSON) output.

`StreamState.feed` accepts arbitrary byte chunks as a tailer receives them. Only complete lines
(ending in `\\n`) are parsed (by `stream_lines.parse_line`); `bytes_consumed` is the offset just
past the last one, where a caller resumes tailing after a dropped connection. Lines can be many
megabytes (tool results), so the newline search resumes where the previous chunk ended instead
of rescanning the buffer. `to_dict`/`from_dict` let the operator side keep the fold on the
board between commands and continue from `bytes_consumed`.
"""

from __future__ import annotations

from typing import Any

from coordssh.agent import events as ev
from coordssh.agent.events import Event
from coordssh.agent.events_text import render
from coordssh.agent.markers import find_marker
from coordssh.agent.stream_lines import as_number, as_str, parse_line, parse_object, preview

__all__ = ["Event", "StreamState", "parse_line", "parse_object"]

TEXT_KEEP = 4000     # characters kept of the last main-agent text


class StreamState:
    """The fold of one run's stream. Feed it bytes in any chunking; read the fields."""

    PERSISTED = ("bytes_consumed", "session_id", "model", "cwd", "version", "num_turns",
                 "assistant_messages", "last_message_id", "cost_usd", "duration_ms", "last_status",
                 "stuck_reason", "stuck_message_id", "last_text", "result", "rate_limit_rejected",
                 "resets_at", "rate_limit_type", "api_retries", "last_api_error",
                 "synthetic_error", "synthetic_text", "malformed", "truncated", "events")

    def __init__(self, offset: int = 0) -> None:
        self.bytes_consumed = offset
        self.session_id = self.model = self.cwd = self.version = ""
        self.num_turns: int | None = None
        self.assistant_messages = 0
        self.last_message_id = ""
        self.cost_usd: float | None = None
        self.duration_ms: int | None = None
        self.last_status = self.stuck_reason = self.stuck_message_id = self.last_text = ""
        self.result: dict[str, Any] | None = None
        self.rate_limit_rejected = False
        self.resets_at: float | None = None
        self.rate_limit_type = ""
        self.api_retries = 0
        self.last_api_error = self.synthetic_error = self.synthetic_text = ""
        self.malformed = 0
        self.truncated = False
        self.events = 0
        self._summary = ""
        self._last_event: Event | None = None
        self._buf = bytearray()
        self._scan_from = 0

    # --- feeding ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Parse every line `data` completes; keep the unfinished tail for the next call."""
        buf = self._buf
        buf += data
        nl = buf.find(b"\n", self._scan_from)
        if nl < 0:
            self._scan_from = len(buf)
            return []
        out: list[Event] = []
        apply, add, find = self.apply, out.append, buf.find  # bound once: this loop is hot
        start = 0
        while nl >= 0:
            for event in parse_line(buf[start:nl]):
                apply(event)
                add(event)
            start = nl + 1
            nl = find(b"\n", start)
        del buf[:start]
        self.bytes_consumed += start
        self._scan_from = len(buf)
        return out

    def finish(self) -> list[Event]:
        """The stream is over: report a cut-off last line (never parsed) as `truncated`."""
        if not self._buf.strip():
            return []
        event = Event(ev.TRUNCATED, text=preview(bytes(self._buf)), data={"bytes": len(self._buf)})
        self._buf.clear()
        self._scan_from = 0
        self.apply(event)
        return [event]

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    # --- folding ----------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        self.events += 1
        fold = _FOLD.get(event.kind)
        if fold is not None:
            fold(self, event)
        if event.kind in _SUMMARISED or event.is_error:
            if _worth_summary(event):
                self._last_event = event

    @property
    def turns(self) -> int | None:
        if self.num_turns is not None:
            return self.num_turns
        return self.assistant_messages or None

    @property
    def has_result(self) -> bool:
        return self.result is not None

    @property
    def last_event_summary(self) -> str:
        if self._last_event is not None:
            return render(self._last_event)
        return self._summary

    # --- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.PERSISTED}
        data["last_event_summary"] = self.last_event_summary
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamState:
        state = cls()
        for name in cls.PERSISTED:
            if name in data:
                setattr(state, name, data[name])
        state._summary = data.get("last_event_summary", "")
        return state


def _fold_init(s: StreamState, e: Event) -> None:
    s.session_id = e.data["session_id"] or s.session_id
    s.model = e.data["model"] or s.model
    s.cwd, s.version = e.data["cwd"], e.data["version"]


def _fold_message(s: StreamState, e: Event) -> None:
    if e.subagent:
        return
    mid = e.data.get("message_id", "")
    if mid and mid != s.last_message_id:
        s.last_message_id = mid
        s.assistant_messages += 1
        if s.stuck_message_id and mid != s.stuck_message_id:
            s.stuck_reason = s.stuck_message_id = ""  # the agent went on after saying STUCK
    if e.kind == ev.TEXT:
        s.last_text = e.text[-TEXT_KEEP:]


def _fold_status(s: StreamState, e: Event) -> None:
    s.last_status = e.text


def _fold_stuck(s: StreamState, e: Event) -> None:
    s.stuck_reason = e.text or "(no reason given)"
    s.stuck_message_id = e.data.get("message_id", "")


def _fold_retry(s: StreamState, e: Event) -> None:
    s.api_retries += 1
    status = e.data.get("error_status")
    s.last_api_error = e.data.get("error", "") + (f" ({status})" if status is not None else "")


def _fold_rate_limit(s: StreamState, e: Event) -> None:
    s.rate_limit_rejected = e.data["status"] == "rejected"
    if s.rate_limit_rejected:
        s.resets_at = e.data["resets_at"]
        s.rate_limit_type = e.data["type"]


def _fold_synthetic(s: StreamState, e: Event) -> None:
    s.synthetic_error, s.synthetic_text = e.name, e.text


def _fold_result(s: StreamState, e: Event) -> None:
    r = e.data
    s.result = r
    s.session_id = as_str(r.get("session_id")) or s.session_id
    turns = r.get("num_turns")
    s.num_turns = turns if isinstance(turns, int) and not isinstance(turns, bool) else s.num_turns
    s.cost_usd = as_number(r.get("total_cost_usd"))
    s.duration_ms = as_number(r.get("duration_ms"))
    stuck = find_marker(e.text, "STUCK:")
    if stuck is not None:
        s.stuck_reason = stuck or "(no reason given)"


def _fold_malformed(s: StreamState, e: Event) -> None:
    s.malformed += 1


def _fold_truncated(s: StreamState, e: Event) -> None:
    s.truncated = True


_FOLD = {
    ev.INIT: _fold_init, ev.TEXT: _fold_message, ev.THINKING: _fold_message,
    ev.TOOL_USE: _fold_message, ev.STATUS: _fold_status, ev.STUCK: _fold_stuck,
    ev.API_RETRY: _fold_retry, ev.RATE_LIMIT: _fold_rate_limit,
    ev.SYNTHETIC_ERROR: _fold_synthetic, ev.RESULT: _fold_result,
    ev.MALFORMED: _fold_malformed, ev.TRUNCATED: _fold_truncated,
}
# the kinds that say "what the agent is doing now" (deltas, thinking and routine noise do not)
_SUMMARISED = frozenset({ev.INIT, ev.TEXT, ev.TOOL_USE, ev.STATUS, ev.STUCK, ev.API_RETRY,
                         ev.SYNTHETIC_ERROR, ev.RESULT, ev.COMPACT, ev.MALFORMED, ev.TRUNCATED})


def _worth_summary(e: Event) -> bool:
    if e.kind in _SUMMARISED:
        return e.kind != ev.TEXT or bool(e.text.strip())
    return e.is_error and e.kind in (ev.TOOL_RESULT, ev.RATE_LIMIT)
