"""The incremental fold of one run's stream-json (NDJSON) output.

`StreamState.feed` accepts arbitrary byte chunks as a tailer receives them. Only complete lines
(ending in `\\n`) are parsed (as by `stream_lines.parse_line`, inlined in `feed`); `bytes_consumed`
is the offset just past the last one, where a caller resumes tailing after a dropped connection.
Lines can be many megabytes (tool results), so the newline search resumes where the previous
chunk ended instead of rescanning the buffer, and the completed region is split once per chunk.
Each kind of event has one fold function (`stream_fold.FOLD`), which also keeps the last event worth a
summary. `to_dict`/`from_dict` let the operator side keep the fold on the
board between commands and continue from `bytes_consumed`.
"""

from __future__ import annotations

from typing import Any

from coordssh.agent import events as ev
from coordssh.agent.events import Event
from coordssh.agent.events_text import render
from coordssh.agent.stream_fold import FOLD
from coordssh.agent.stream_lines import (_HANDLERS, _loads, malformed, parse_line, parse_object,
                                         preview, unknown)

__all__ = ["Event", "StreamState", "parse_line", "parse_object"]


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
        self.summary_event: Event | None = None
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
        folds = FOLD
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
        fold = FOLD.get(event.kind)
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
        if self.summary_event is not None:
            return render(self.summary_event)
        return self._summary

    # --- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.PERSISTED}
        if self.result is not None:   # no tool result can follow: the calls need no names now
            data["tool_calls"] = {}
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
