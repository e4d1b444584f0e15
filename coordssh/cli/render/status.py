"""`coordssh status`: machines and assignments as rich tables (`--live` is render/live.py).

`--json` is status_json.py (no rich). Untrusted text (titles, STATUS lines, reasons) is passed
to rich as `Text`, never as markup.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from coordssh.cli.render.events import duration
from coordssh.cli.render.rows import doing, model_label
from coordssh.cli.render.status_json import ASSIGNMENT_KEYS, MACHINE_KEYS  # noqa: F401 (tests)
from coordssh.domain import models as m
from coordssh.domain.models import Assignment

if TYPE_CHECKING:
    from coordssh.services.observe import MachineObservation, Observation

FINISHED_SHOWN = 20        # finished rows in the human table (--json has them all)
ASSIGNMENT_COLUMNS = ("id", "machine", "issue", "branch", "status", "model", "elapsed", "turns",
                      "cost", "doing / outcome")
WHOLE_COLUMNS = frozenset({"id", "status"})  # never cut; the others fold
PIPE_WIDTH = 200
STYLE = {m.DONE: "green", m.RUNNING: "cyan", m.STARTING: "cyan", m.UNKNOWN: "yellow",
         m.ADVISORY: "blue", m.CANCELLED: "dim", m.PUSH_FAILED: "magenta"}


# --- tables -------------------------------------------------------------------------------------
def machines_table(machines: tuple[MachineObservation, ...],
                   notes: dict | None = None) -> Table:
    table = Table(title="machines", title_justify="left", expand=False)
    for column in ("machine", "state", "running"):
        table.add_column(column, no_wrap=column != "state", overflow="fold")
    for mo in machines:
        state = Text("reachable", "green") if mo.reachable else Text(
            f"unreachable: {mo.error}", "yellow")
        note = (notes or {}).get(mo.name, {}).get("note")
        if note:   # parked until 14:00 UTC, stale since ... (services/machine_notes.py)
            state.append(f"; {note}", "yellow")
        running = f"{mo.running}/{mo.max_workers}" if mo.reachable else f"?/{mo.max_workers}"
        table.add_row(Text(mo.name), state, running)
    return table


def assignments_table(rows: tuple[Assignment, ...], now: float) -> Table:
    table = Table(title="assignments", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    cells = [(a.id, Text(a.machine), Text(f"{a.repo}#{a.issue}"), Text(a.branch),
              Text(a.status, STYLE.get(a.status, "red")), Text(model_label(a)), elapsed(a, now),
              "" if a.turns is None else str(a.turns),
              "" if a.cost_usd is None else f"${a.cost_usd:.2f}", Text(doing(a)))
             for a in rows]
    for i, column in enumerate(ASSIGNMENT_COLUMNS):
        if column in WHOLE_COLUMNS:  # never cut: the id is what every other command takes
            widest = max((len(str(row[i])) for row in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    return table


def elapsed(a: Assignment, now: float) -> str:
    if a.duration_s is not None and a.terminal:
        return duration(a.duration_s)
    return duration(now - a.started_at) if a.started_at else ""


def shown_rows(rows: tuple[Assignment, ...]) -> tuple[tuple[Assignment, ...], int]:
    """Live rows and the latest finished ones; the number of finished rows left out."""
    finished = [a for a in rows if a.terminal]
    keep = {a.id for a in sorted(finished, key=lambda a: a.finished_at or 0)[-FINISHED_SHOWN:]}
    shown = tuple(a for a in rows if a.live or a.id in keep)
    return shown, len(rows) - len(shown)


def status_view(observation: Observation, config_path: str, now: float,
                notes: dict | None = None) -> Group:
    rows, hidden = shown_rows(observation.assignments)
    parts = [Text(f"config {config_path}", "dim")]
    if observation.machines:
        parts.append(machines_table(observation.machines, notes))
    else:
        parts.append(Text("no machines in the config (add one under `machines:`; "
                          "see coordinator.example.yml)"))
    if rows:
        parts.append(assignments_table(rows, now))
    else:
        parts.append(Text("no assignments on the board (coordssh assign MACHINE REPO ISSUE)"))
    if hidden:
        parts.append(Text(f"{hidden} older finished assignments not shown (--json lists them)",
                          "dim"))
    return Group(*parts)


def console() -> Console:
    """The terminal's width; when piped, COLUMNS if set (rich reads it), else PIPE_WIDTH
    (wide enough for grep and logs, instead of rich's 80)."""
    import os

    found = Console(highlight=False)
    if found.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return found
    return Console(highlight=False, width=PIPE_WIDTH)


def print_status(observation: Observation, config_path: str, notes: dict | None = None) -> None:
    console().print(status_view(observation, config_path, time.time(), notes))
