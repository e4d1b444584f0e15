"""The fold of stream events into a `StreamState`: one function per kind of event (`FOLD`),
each of which also keeps the event "worth a summary" (`summary_event`: the kinds that say what
the agent is doing now; deltas, thinking and routine noise do not)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordssh.agent import events as ev
from coordssh.agent.denials import (fold_denial, fold_permission_denials, fold_tool_result,
                                    remember_call)
from coordssh.agent.events import Event
from coordssh.agent.markers import find_marker
from coordssh.agent.stream_lines import as_number, as_str

if TYPE_CHECKING:
    from coordssh.agent.stream import StreamState

TEXT_KEEP = 4000     # characters kept of the last main-agent text


def _summarise(s: StreamState, e: Event) -> None:
    s.summary_event = e


def _fold_init(s: StreamState, e: Event) -> None:
    s.session_id = e.data["session_id"] or s.session_id
    s.model = e.data["model"] or s.model
    s.cwd, s.version = e.data["cwd"], e.data["version"]
    s.summary_event = e


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
        s.summary_event = e


def _fold_tool_use(s: StreamState, e: Event) -> None:
    _fold_message(s, e)
    remember_call(s, e)
    s.summary_event = e


def _fold_status(s: StreamState, e: Event) -> None:
    s.last_status = e.text
    s.summary_event = e


def _fold_stuck(s: StreamState, e: Event) -> None:
    s.stuck_reason = e.text or "(no reason given)"
    s.stuck_message_id = e.data.get("message_id", "")
    s.summary_event = e


def _fold_retry(s: StreamState, e: Event) -> None:
    s.api_retries += 1
    data = e.data
    status = data.get("error_status")
    s.last_api_error = data.get("error", "") + (f" ({status})" if status is not None else "")
    s.api_retry = {key: data.get(key) for key in
                   ("attempt", "max_retries", "error", "error_status", "delay_s")}
    s.summary_event = e


def _fold_rate_limit(s: StreamState, e: Event) -> None:
    s.rate_limit_rejected = e.data["status"] == "rejected"
    if s.rate_limit_rejected:
        s.resets_at = e.data["resets_at"]
        s.rate_limit_type = e.data["type"]
    if e.is_error:
        s.summary_event = e


def _fold_synthetic(s: StreamState, e: Event) -> None:
    s.synthetic_error, s.synthetic_text = e.name, e.text
    s.summary_event = e


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
    s.summary_event = e


def _fold_malformed(s: StreamState, e: Event) -> None:
    s.malformed += 1
    s.summary_event = e


def _fold_truncated(s: StreamState, e: Event) -> None:
    s.truncated = True
    s.summary_event = e


# partial deltas, `other` and `unknown` fold nothing
FOLD = {
    ev.INIT: _fold_init, ev.TEXT: _fold_text, ev.THINKING: _fold_message,
    ev.TOOL_USE: _fold_tool_use, ev.TOOL_RESULT: fold_tool_result, ev.DENIAL: fold_denial,
    ev.STATUS: _fold_status,
    ev.STUCK: _fold_stuck, ev.API_RETRY: _fold_retry, ev.RATE_LIMIT: _fold_rate_limit,
    ev.SYNTHETIC_ERROR: _fold_synthetic, ev.RESULT: _fold_result, ev.COMPACT: _summarise,
    ev.MALFORMED: _fold_malformed, ev.TRUNCATED: _fold_truncated,
}
