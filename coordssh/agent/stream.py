"""The incremental fold of one run's stream-json (NDJSON) output.

`StreamState.feed` accepts arbitrary byte chunks as a tailer receives them. Only complete lines
(ending in `\\n`) are parsed (as by `stream_lines.parse_line`, inlined in `feed`); `bytes_consumed`
is the offset just past the last one, where a caller resumes tailing after a dropped connection.
Lines can be many megabytes (tool results), so the newline search resumes where the previous
chunk ended instead of rescanning the buffer, and the completed region is split once per chunk.
Each kind of event has one fold function (`_FOLD`), which also keeps the last event worth a
summary. `to_dict`/`from_dict` let the operator side keep the fold on the
board between commands and continue from `bytes_consumed`.
"""

from __future__ import annotations

from typing import Any

from coordssh.agent import events as ev
from coordssh.agent.denials import (fold_denial, fold_permission_denials, fold_tool_result,
                                    remember_call)
from coordssh.agent.events import Event
from coordssh.agent.events_text import render
from coordssh.agent.markers import find_marker
from coordssh.agent.stream_lines import (_HANDLERS, _loads, as_number, as_str, malformed,
                                         parse_line, parse_object, preview, unknown)

__all__ = ["Event", "StreamState", "parse_line", "parse_object"]

TEXT_KEEP = 4000     # characters kept of the last main-agent text


class StreamState:
    """The fold of one run's stream. Feed it bytes in any chunking; read the fields."""

    PERSISTED = ("bytes_consumed", "session_id", "model", "cwd", "version", "num_turns",
                 "assistant_messages", "last_message_id", "cost_usd", "duration_ms", "last_status",
                 "stuck_reason", "stuck_message_id", "last_text", "result", "rate_limit_rejected",
                 "resets_at", "rate_limit_type", "api_retries", "last_api_error", "api_retry",
                 "denial_count", "denials", "tool_calls",
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
        # the latest API retry while it is the newest news (a later message clears it):
        # attempt, max_retries, error, error_status, delay_s
        self.api_retry: dict[str, Any] | None = None
        self.denial_count = 0
        self.denials: list[dict[str, str]] = []      # [{id, tool}], the first DENIALS_KEPT
        self.tool_calls: dict[str, str] = {}         # tool_use id -> label, the latest few
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
        scan_from = self._scan_from  # the bytes before it hold no newline (scanned last time)
        end = buf.rfind(b"\n", scan_from)
        if end < 0:
            self._scan_from = len(buf)
            return []
        with memoryview(buf) as view:  # the completed region, copied once and framed once
            region = view[:end].tobytes()
        # one line ending here (a long tool result arriving in chunks) needs no second scan
        lines = region.split(b"\n") if buf.find(b"\n", scan_from, end) >= 0 else [region]
        del buf[:end + 1]
        self.bytes_consumed += end + 1
        self._scan_from = len(buf)
        # parse_line inlined: this loop runs for every line of every stream
        out: list[Event] = []
        add, loads, handlers = out.append, _loads, _HANDLERS
        for line in lines:
            try:
                obj = loads(line)
            except ValueError:  # as parse_line: a blank line gives nothing
                if line.strip():
                    add(malformed(line))
                continue
            if not isinstance(obj, dict):
                add(malformed(line))
                continue
            kind = obj.get("type")
            handler = handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                add(unknown(kind))
            else:
                out += handler(obj)
        folds = _FOLD
        for event in out:
            fold = folds.get(event[0])
            if fold is not None:
                fold(self, event)
        self.events += len(out)
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

    @property
    def turns(self) -> int | None:
        if self.num_turns is not None:
            return self.num_turns
        return self.assistant_messages or None

    @property
    def has_result(self) -> bool:
        return self.result is not None

    @property
    def denied_tools(self) -> list[str]:
        """The labels of the denied calls, each once, in order: `Bash(echo x > f && ...)`."""
        return list(dict.fromkeys(d["tool"] for d in self.denials))

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
                value = data[name]
                if isinstance(value, (list, dict)):  # never share the board row's containers
                    value = json_copy(value)
                setattr(state, name, value)
        state._summary = data.get("last_event_summary", "")
        return state


def json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


# --- the fold: one function per kind, which also keeps the event "worth a summary" ----------
# (the kinds that say what the agent is doing now; deltas, thinking and routine noise do not)
def _summarise(s: StreamState, e: Event) -> None:
    s._last_event = e


def _fold_init(s: StreamState, e: Event) -> None:
    s.session_id = e.data["session_id"] or s.session_id
    s.model = e.data["model"] or s.model
    s.cwd, s.version = e.data["cwd"], e.data["version"]
    s._last_event = e


def _fold_message(s: StreamState, e: Event) -> None:
    if e.subagent:
        return
    mid = e.data.get("message_id", "")
    if mid and mid != s.last_message_id:
        s.last_message_id = mid
        s.assistant_messages += 1
        if s.stuck_message_id and mid != s.stuck_message_id:
            s.stuck_reason = s.stuck_message_id = ""  # the agent went on after saying STUCK
        s.api_retry = None                            # a response came: the retries are over


def _fold_text(s: StreamState, e: Event) -> None:
    text = e.text
    if not e.subagent:
        _fold_message(s, e)
        s.last_text = text[-TEXT_KEEP:]
    if text and not text.isspace():  # a subagent's text is a summary too, whitespace is not
        s._last_event = e


def _fold_tool_use(s: StreamState, e: Event) -> None:
    _fold_message(s, e)
    remember_call(s, e)
    s._last_event = e


def _fold_status(s: StreamState, e: Event) -> None:
    s.last_status = e.text
    s._last_event = e


def _fold_stuck(s: StreamState, e: Event) -> None:
    s.stuck_reason = e.text or "(no reason given)"
    s.stuck_message_id = e.data.get("message_id", "")
    s._last_event = e


def _fold_retry(s: StreamState, e: Event) -> None:
    s.api_retries += 1
    data = e.data
    status = data.get("error_status")
    s.last_api_error = data.get("error", "") + (f" ({status})" if status is not None else "")
    s.api_retry = {key: data.get(key) for key in
                   ("attempt", "max_retries", "error", "error_status", "delay_s")}
    s._last_event = e


def _fold_rate_limit(s: StreamState, e: Event) -> None:
    s.rate_limit_rejected = e.data["status"] == "rejected"
    if s.rate_limit_rejected:
        s.resets_at = e.data["resets_at"]
        s.rate_limit_type = e.data["type"]
    if e.is_error:
        s._last_event = e


def _fold_synthetic(s: StreamState, e: Event) -> None:
    s.synthetic_error, s.synthetic_text = e.name, e.text
    s._last_event = e


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
    fold_permission_denials(s, r.get("permission_denials"))
    s._last_event = e


def _fold_malformed(s: StreamState, e: Event) -> None:
    s.malformed += 1
    s._last_event = e


def _fold_truncated(s: StreamState, e: Event) -> None:
    s.truncated = True
    s._last_event = e


# partial deltas, `other` and `unknown` fold nothing
_FOLD = {
    ev.INIT: _fold_init, ev.TEXT: _fold_text, ev.THINKING: _fold_message,
    ev.TOOL_USE: _fold_tool_use, ev.TOOL_RESULT: fold_tool_result, ev.DENIAL: fold_denial,
    ev.STATUS: _fold_status,
    ev.STUCK: _fold_stuck, ev.API_RETRY: _fold_retry, ev.RATE_LIMIT: _fold_rate_limit,
    ev.SYNTHETIC_ERROR: _fold_synthetic, ev.RESULT: _fold_result, ev.COMPACT: _summarise,
    ev.MALFORMED: _fold_malformed, ev.TRUNCATED: _fold_truncated,
}
