"""The board as the live view reads it: once per change of board.json, never per machine.

`BoardCache.refresh()` stats board.json and reads rows, work items and the two kv entries below
only when the file was replaced since the last read (every writer replaces it whole), from ONE
parse of the file (the Board keeps it while the file is unchanged); of the history it reads only
the events appended since the last read (`events_since`), folding them into what it keeps (the
latest EVENTS_KEPT and each item's merge hold). Between changes, every machine's refresh uses
the same `BoardView`.

Hooks for data other services record (read defensively: a missing or odd value is ignored):

- `kv["machine_parking"]`: {machine: {"until": epoch or null, "reason": text}}, a machine
  parked by a usage limit or by hand (the scheduler's).
- `kv["merge_holds"]`: {"repo#issue": {"gate": name, "reason": text, ...}}, the gate that holds
  each PR as the merge queue last judged it (`domain/gates.first_hold`). Without one, the
  latest merge event of the item says it: `merge_conflict` (gate mergeable, its files),
  `merge_failed` (gate merge, its reason), or a `merge_held` event {gate, reason}; a newer
  `merge_started`, `head_moved` or `pr_opened` clears it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordssh.domain.models import Assignment
from coordssh.domain.work import WorkItem
from coordssh.errors import CoordError

if TYPE_CHECKING:
    from coordssh.board.store import Board

PARKING_KEY = "machine_parking"
MERGE_HOLDS_KEY = "merge_holds"
EVENTS_KEPT = 12
HOLD_EVENTS = {"merge_conflict": "mergeable", "merge_failed": "merge", "merge_held": ""}
CLEARING_EVENTS = frozenset({"merge_started", "head_moved", "pr_opened", "pr_reopened"})


@dataclass(frozen=True)
class BoardView:
    rows: tuple[Assignment, ...] = ()
    work: tuple[WorkItem, ...] = ()
    events: tuple[dict[str, Any], ...] = ()          # the latest EVENTS_KEPT, newest first
    parking: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""                                  # the last read failed: what is shown is older
    live: dict[str, tuple[Assignment, ...]] = field(default_factory=dict)   # by machine

    def live_rows(self, machine: str) -> list[Assignment]:
        return list(self.live.get(machine, ()))


class BoardCache:
    def __init__(self, board: Board) -> None:
        self.board = board
        self.view = BoardView()
        self.reads = 0
        self._stamp: tuple[int, int, int] | None = None
        self._seq = 0                                   # the last event folded in
        self._recent: list[dict[str, Any]] = []         # the latest EVENTS_KEPT, oldest first
        self._holds: dict[str, dict[str, Any]] = {}     # from the merge events

    def refresh(self) -> bool:
        """Read the board again if board.json changed; True when the view is new."""
        try:
            st = os.stat(self.board.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = (0, 0, 0)
        if stamp == self._stamp:
            return False
        try:
            self.view = self._read()
        except CoordError as err:   # a board replaced by hand mid-read: keep the last view
            self.view = BoardView(**{**self.view.__dict__, "error": err.message})
            return True
        self._stamp = stamp
        self.reads += 1
        return True

    def _read(self) -> BoardView:
        board = self.board
        events = board.events_since(self._seq)
        holds = fold_holds(dict(self._holds), events)
        recent = (self._recent + events)[-EVENTS_KEPT:]
        rows = tuple(board.list())
        live: dict[str, list[Assignment]] = {}
        for row in rows:
            if row.live:
                live.setdefault(row.machine, []).append(row)
        view = BoardView(rows=rows, live={k: tuple(v) for k, v in live.items()},
                         work=tuple(board.list_work()),
                         events=tuple(reversed(recent)),
                         parking=_dicts(board.kv_get(PARKING_KEY)),
                         holds={**holds, **_dicts(board.kv_get(MERGE_HOLDS_KEY))})
        if events:      # kept only once the whole view was read
            self._seq, self._recent, self._holds = events[-1]["seq"], recent, holds
        return view


def holds_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{work key: {gate, reason}} from each item's latest merge event (oldest first in)."""
    return fold_holds({}, events)


def fold_holds(holds: dict[str, dict[str, Any]],
               events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`holds` moved on by `events` (oldest first)."""
    for doc in events:
        kind, key = doc.get("kind"), doc.get("work")
        if not isinstance(key, str):
            continue
        if kind in CLEARING_EVENTS:
            holds.pop(key, None)
        elif kind in HOLD_EVENTS:
            data = doc.get("data") if isinstance(doc.get("data"), Mapping) else {}
            files = data.get("files")
            reason = data.get("reason") or (
                "conflicts: " + ", ".join(map(str, files[:5])) if isinstance(files, list) else "")
            holds[key] = {"gate": data.get("gate") or HOLD_EVENTS[kind] or "?",
                          "reason": str(reason)}
    return holds


def _dicts(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): dict(v) for k, v in value.items() if isinstance(v, Mapping)}


def parking_of(view: BoardView, machine: str, now: float) -> tuple[float | None, str]:
    """(until, reason) of a parked machine (until None: until a human unparks it); (None, "")
    when it is not parked, or its time has passed."""
    entry = view.parking.get(machine) or {}
    until = entry.get("until")
    until = float(until) if isinstance(until, (int, float)) else None
    if not entry or (until is not None and until <= now):
        return None, ""
    return until, str(entry.get("reason") or "parked")
