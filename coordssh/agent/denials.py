"""Denied tool calls: the CLI's permission check refused them (see contracts/claude-headless.md
section 7). They arrive as an error tool_result ("... requires approval ..."), a
`system/permission_denied` line (newer CLIs) and the result's `permission_denials`; each call is
counted once, by its tool_use id, and named like a permission rule: `Bash(echo x > f && ...)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordssh.agent.events import Event
from coordssh.agent.stream_lines import as_str, tool_summary

if TYPE_CHECKING:
    from coordssh.agent.stream import StreamState

CALLS_KEPT = 32      # recent tool calls remembered (id -> label) to name a denied one
LABEL_KEEP = 80      # characters of a tool's input kept in its label
DENIALS_KEPT = 20    # denied calls listed (all are counted)


def remember_call(s: StreamState, e: Event) -> None:
    tid = e.data.get("tool_use_id")
    if tid:
        calls = s.tool_calls
        calls[tid] = tool_label(e.name, e.text)
        if len(calls) > CALLS_KEPT:
            del calls[next(iter(calls))]


def fold_tool_result(s: StreamState, e: Event) -> None:
    if e.is_error:
        if e.data.get("denied"):
            tid = e.data.get("tool_use_id", "")
            _add_denial(s, tid, s.tool_calls.get(tid) or "a tool call")
        s.summary_event = e


def fold_denial(s: StreamState, e: Event) -> None:
    tid = e.data.get("tool_use_id", "")
    _add_denial(s, tid, s.tool_calls.get(tid) or e.name or "a tool call")
    s.summary_event = e


def _add_denial(s: StreamState, tool_use_id: str, label: str) -> None:
    """Count a denied call once, however many lines report it (tool_result, permission_denied,
    result.permission_denials)."""
    if tool_use_id and any(d["id"] == tool_use_id for d in s.denials):
        return
    s.denial_count += 1
    if len(s.denials) < DENIALS_KEPT:
        s.denials.append({"id": tool_use_id, "tool": label})


def tool_label(name: str, summary: str) -> str:
    """`Bash(echo x > f && git add f ...)`: a tool call as a permission rule would name it."""
    name = name or "tool"
    if not summary:
        return name
    flat = " ".join(summary.split())
    return f"{name}({flat if len(flat) <= LABEL_KEEP else flat[:LABEL_KEEP - 3] + '...'})"


def fold_permission_denials(s: StreamState, denials: Any) -> None:
    """The result's `permission_denials`: [{tool_name, tool_use_id, tool_input}]."""
    for denial in denials if isinstance(denials, list) else ():
        if isinstance(denial, dict):
            tid = as_str(denial.get("tool_use_id"))
            _add_denial(s, tid, s.tool_calls.get(tid) or tool_label(
                as_str(denial.get("tool_name")), tool_summary(denial.get("tool_input"))))
