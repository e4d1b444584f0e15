"""The events one stream-json line turns into (see `stream.parse_line`).

An `Event` is deliberately one small shape for every kind: `kind` says what it is, `text` holds
the human-readable part (assistant text, a marker's message, a tool's input summary, an error
text), `name` the short label (tool name, system subtype, error code), and `data` the few
kind-specific fields listed below. Rendering lives in `events_text`, folding in `stream`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

INIT = "init"                # data: model, session_id, cwd, version, permission_mode
TEXT = "text"                # main agent or subagent (`subagent`) assistant text
THINKING = "thinking"
TOOL_USE = "tool_use"        # name: tool; text: file_path / command / pattern / url summary;
                             # data: message_id, tool_use_id
TOOL_RESULT = "tool_result"  # is_error; text: the start of the content; data (errors only):
                             # tool_use_id, denied (the CLI's permission check refused the call)
DENIAL = "denial"            # system/permission_denied; name: tool; text: message;
                             # data: tool_use_id
STATUS = "status"            # text: what follows `STATUS:`
STUCK = "stuck"              # text: what follows `STUCK:`
API_RETRY = "api_retry"      # data: attempt, max_retries, error_status, error, delay_s
RATE_LIMIT = "rate_limit"    # data: status, resets_at, type, utilization
SYNTHETIC_ERROR = "synthetic_error"  # name: the assistant's top-level `error`; text: its text
RESULT = "result"            # data: the whole parsed result object
COMPACT = "compact"          # data: trigger, pre_tokens
PARTIAL = "partial"          # a `stream_event` (--include-partial-messages); name: its event type
OTHER = "other"              # a known line type we do not fold (name: type or system subtype)
UNKNOWN = "unknown"          # a JSON object whose `type` we have never seen
MALFORMED = "malformed"      # not a JSON object
TRUNCATED = "truncated"      # the stream ended inside a line (reported by `StreamState.finish`)

KINDS = (INIT, TEXT, THINKING, TOOL_USE, TOOL_RESULT, DENIAL, STATUS, STUCK, API_RETRY, RATE_LIMIT,
         SYNTHETIC_ERROR, RESULT, COMPACT, PARTIAL, OTHER, UNKNOWN, MALFORMED, TRUNCATED)


NO_DATA: Mapping[str, Any] = MappingProxyType({})  # shared by every event without data


class Event(NamedTuple):
    """Immutable. A NamedTuple rather than a frozen dataclass: it is built for every line of
    every stream, and a frozen dataclass costs about twice as much to construct. The parser's
    hot path builds it with `tuple.__new__(Event, (kind, text, name, subagent, is_error, data))`
    (the generated keyword constructor costs several times more): keep the field order."""

    kind: str
    text: str = ""
    name: str = ""
    subagent: bool = False
    is_error: bool = False
    data: Mapping[str, Any] = NO_DATA

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)
