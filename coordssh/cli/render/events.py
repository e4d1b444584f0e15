"""Event lines for `watch`, and the one-line outcome that ends `watch` and `wait`.

By default only what says what the agent is doing is shown: init (model, session), each tool
call with its file/command/pattern, STATUS and STUCK lines, API retries, denied tool calls, a
rejected rate limit, API errors and the result. `--all` shows every event. The text comes from
`coordssh.agent.events_text` (plain, one line); it is printed as data, never as rich markup.
"""

from __future__ import annotations

import sys
from typing import TextIO

from coordssh.agent import events as ev
from coordssh.agent.events import Event
from coordssh.agent.events_text import format_epoch, one_line, render
from coordssh.domain import models as m
from coordssh.domain.models import Assignment

SHOWN = frozenset({ev.INIT, ev.TOOL_USE, ev.STATUS, ev.STUCK, ev.API_RETRY, ev.DENIAL,
                   ev.SYNTHETIC_ERROR, ev.RESULT, ev.TRUNCATED})
PREFIX = {ev.INIT: "*", ev.TOOL_USE: ">", ev.STATUS: "#", ev.STUCK: "!", ev.API_RETRY: "~",
          ev.DENIAL: "!", ev.TOOL_RESULT: "!",
          ev.RATE_LIMIT: "~", ev.SYNTHETIC_ERROR: "!", ev.RESULT: "=", ev.TRUNCATED: "!"}


def wanted(event: Event, show_all: bool) -> bool:
    if show_all:
        return True
    if event.subagent and event.kind != ev.TOOL_USE:
        return False
    if event.kind == ev.RATE_LIMIT:
        return event.get("status") == "rejected"
    if event.kind == ev.TOOL_RESULT:    # a denied call: the run may not be able to do its work
        return bool(event.is_error and event.get("denied"))
    return event.kind in SHOWN


def event_line(event: Event, show_all: bool = False) -> str:
    """The line for `event`, or "" when it is not shown."""
    if not wanted(event, show_all):
        return ""
    text = render(event)
    if not text and show_all:
        text = f"({event.kind}{' ' + event.name if event.name else ''})"
    return f"{PREFIX.get(event.kind, ' ')} {text}" if text else ""


class EventPrinter:
    """A callback for `watch_run(on_event=...)`: prints each shown event as it arrives."""

    def __init__(self, show_all: bool = False, out: TextIO | None = None) -> None:
        self.show_all = show_all
        self.out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        line = event_line(event, self.show_all)
        if line:
            self.out.write(line + "\n")
            self.out.flush()


def outcome_line(a: Assignment) -> str:
    """`abc123 done: pushed 1a2b3c4 ($0.13, 6 turns, 31s)`."""
    facts = []
    if a.cost_usd is not None:
        facts.append(f"${a.cost_usd:.2f}")
    if a.turns is not None:
        facts.append(f"{a.turns} turns")
    if a.duration_s is not None:
        facts.append(duration(a.duration_s))
    if a.status == m.USAGE_LIMITED and a.resets_at:
        facts.append(f"resets {format_epoch(a.resets_at)}")
    detail = f": {a.reason}" if a.reason else ""
    tail = f" ({', '.join(facts)})" if facts else ""
    return one_line(f"{a.id} {a.status}{detail}{tail}", 240)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
