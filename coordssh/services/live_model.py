"""The live view's snapshot: immutable values, and the pure functions that build them.

A `Snapshot` is what the renderer draws; nothing in it is shared with the service's mutable
state (stream folds are read into plain fields here). Who needs a human is decided here, once,
so every renderer marks the same items:

- a work item whose next action is `needs_human`, or whose stage is interrupted, conflict or
  parked;
- a run that ended badly (`FAILED_STATUSES`), or whose machine does not answer (`unknown`);
- a machine that cannot be reached, or is parked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from coordssh.agent.events_text import format_epoch, one_line, retry_text
from coordssh.agent.stream import StreamState
from coordssh.domain import models as m
from coordssh.domain import stages as s
from coordssh.domain.models import Assignment
from coordssh.domain.next_action import next_action
from coordssh.domain.policy import Policy
from coordssh.domain.work import WorkItem

FAILED_STATUSES = m.TERMINAL_STATUSES - {m.DONE, m.ADVISORY, m.CANCELLED}
HUMAN_STAGES = frozenset({s.INTERRUPTED, s.CONFLICT, s.PARKED})
QUEUE_STAGES = (s.PR_OPEN, s.APPROVED, s.MERGING)
STAGE_ORDER = {stage: i for i, stage in enumerate(s.STAGES)}
TEXT = 300            # characters kept of any one free-text field


@dataclass(frozen=True)
class MachineView:
    name: str
    reachable: bool
    max_workers: int
    running: int = 0
    error: str = ""
    load: float | None = None           # 1-minute load average
    free_bytes: int | None = None       # free on run_root's file system
    parked_until: float | None = None
    parked_reason: str = ""
    stale_since: float | None = None    # what is shown was read then (unreachable, or late)
    streams: int = 0                    # runs followed through a streaming channel

    @property
    def parked(self) -> bool:
        return bool(self.parked_reason) or self.parked_until is not None

    @property
    def needs_human(self) -> bool:
        return not self.reachable or self.parked


@dataclass(frozen=True)
class RunView:
    id: str
    machine: str
    work: str
    role: str
    status: str
    doing: str = ""                     # the latest event worth a line, or the outcome
    last_status: str = ""               # the last `STATUS:` line
    started_at: float | None = None
    finished_at: float | None = None
    turns: int | None = None
    cost_usd: float | None = None
    api_retries: int = 0
    denials: int = 0
    model: str = ""
    streaming: bool = False             # its lines arrive through a streaming channel

    @property
    def live(self) -> bool:
        return self.status in m.LIVE_STATUSES

    @property
    def needs_human(self) -> bool:
        return self.status in FAILED_STATUSES or self.status == m.UNKNOWN


@dataclass(frozen=True)
class WorkView:
    key: str
    stage: str
    title: str = ""
    action: str = ""                    # next_action's kind
    reason: str = ""
    auto: bool = False
    command: str = ""
    pr_number: int | None = None
    spend_usd: float = 0.0

    @property
    def needs_human(self) -> bool:
        return self.action == "needs_human" or self.stage in HUMAN_STAGES


@dataclass(frozen=True)
class QueueEntry:
    key: str
    pr_number: int | None
    stage: str
    gate: str = ""                      # the gate that holds it ("" : none recorded)
    reason: str = ""


@dataclass(frozen=True)
class EventView:
    seq: int
    at: float
    work: str
    kind: str
    text: str = ""


@dataclass(frozen=True)
class Snapshot:
    at: float
    refresh_s: float
    machines: tuple[MachineView, ...] = ()
    runs: tuple[RunView, ...] = ()      # live runs, then the latest finished ones
    work: tuple[WorkView, ...] = ()     # not final, by stage order
    queue: tuple[QueueEntry, ...] = ()
    events: tuple[EventView, ...] = ()  # newest first
    final_items: int = 0                # merged or abandoned items not listed
    notice: str = ""                    # what went wrong in the view itself (a board write)

    def needs_human(self) -> int:
        return sum(x.needs_human for group in (self.machines, self.runs, self.work)
                   for x in group)


# --- builders (pure) ------------------------------------------------------------------------
def run_view(row: Assignment, state: StreamState | None, streaming: bool = False) -> RunView:
    """A row and, when this process follows the run, its newer fold."""
    fold = _fold(row, state)
    retry = fold.get("api_retry")
    live = row.status in (m.RUNNING, m.STARTING)
    doing = (retry_text(retry) if live and isinstance(retry, dict) else "") or (
        fold.get("last_event_summary") or row.reason if live else row.reason)
    turns = fold.get("num_turns") or fold.get("assistant_messages") or row.turns
    return RunView(
        id=row.id, machine=row.machine, work=row.work_key, role=row.role, status=row.status,
        doing=one_line(doing or "", TEXT), last_status=one_line(
            fold.get("last_status") or row.last_status or "", TEXT),
        started_at=row.started_at, finished_at=row.finished_at, turns=turns,
        cost_usd=fold.get("cost_usd") if fold.get("cost_usd") is not None else row.cost_usd,
        api_retries=int(fold.get("api_retries") or 0), denials=int(fold.get("denial_count") or 0),
        model=fold.get("model") or row.model, streaming=streaming)


def _fold(row: Assignment, state: StreamState | None) -> Mapping[str, Any]:
    if state is not None:
        return {"api_retry": state.api_retry, "last_event_summary": state.last_event_summary,
                "num_turns": state.turns, "last_status": state.last_status,
                "cost_usd": state.cost_usd, "api_retries": state.api_retries,
                "denial_count": state.denial_count, "model": state.model}
    saved = row.extra.get("stream") if isinstance(row.extra, dict) else None
    return saved if isinstance(saved, dict) else {}


def work_views(items: Iterable[WorkItem], policy: Policy, now: float,
               rows: Iterable[Assignment] = ()) -> tuple[tuple[WorkView, ...], int]:
    """The items still going, by stage order then age; the number of final ones left out.
    `rows`: the runs as the board has them (a live run on a lost machine is said unknown)."""
    shown, final = [], 0
    by_id = {row.id: row for row in rows}
    for item in items:
        if item.stage in s.FINAL_STAGES:
            final += 1
            continue
        active = by_id.get(item.active_run)
        action = next_action(item, policy, now, [active] if active is not None else [])
        shown.append(WorkView(item.key, item.stage, one_line(item.title, TEXT), action.kind,
                              one_line(action.reason, TEXT), action.auto, action.command,
                              item.pr_number, item.spend_usd))
    shown.sort(key=lambda w: (STAGE_ORDER.get(w.stage, 99), w.key))
    return tuple(shown), final


def queue_entries(items: Iterable[WorkItem], holds: Mapping[str, Mapping[str, Any]]
                  ) -> tuple[QueueEntry, ...]:
    """Items with a PR on its way to merging, each with the gate recorded as holding it."""
    found = []
    for item in items:
        if item.stage not in QUEUE_STAGES:
            continue
        hold = holds.get(item.key) or {}
        found.append(QueueEntry(item.key, item.pr_number, item.stage,
                                one_line(str(hold.get("gate") or ""), 40),
                                one_line(str(hold.get("reason") or ""), TEXT)))
    order = {stage: i for i, stage in enumerate(reversed(QUEUE_STAGES))}
    return tuple(sorted(found, key=lambda q: (order[q.stage], q.key)))


EVENT_FIELDS = ("role", "mode", "machine", "status", "result", "number", "gate", "reason",
                "files", "until", "sha", "cost_usd")


def event_view(doc: Mapping[str, Any]) -> EventView:
    """One line for a board event: its kind, run and the facts it carries."""
    data = doc.get("data") if isinstance(doc.get("data"), Mapping) else {}
    parts = [str(doc.get("run") or "")]
    for key in EVENT_FIELDS:
        value = data.get(key)
        if value in (None, "", [], ()):
            continue
        if key == "sha":
            value = str(value)[:7]
        elif key == "cost_usd" and isinstance(value, (int, float)):
            value = f"${value:.2f}"
        elif key == "until" and isinstance(value, (int, float)):
            value = f"until {format_epoch(value)}"
        elif key == "number":
            value = f"PR #{value}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value[:3]))
        parts.append(str(value))
    return EventView(int(doc.get("seq") or 0), float(doc.get("at") or 0.0),
                     str(doc.get("work") or ""), str(doc.get("kind") or ""),
                     one_line(" ".join(p for p in parts if p), TEXT))
