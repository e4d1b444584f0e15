"""Rendering `coordssh demo`'s events: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from coordssh.domain.models import Assignment
from coordssh.services import demo as d

STATUS_STYLE = {"done": "green", "running": "cyan", "starting": "cyan", "unknown": "yellow"}


class DemoView:
    """Feed it every event of `run_demo`; call `close()` at the end (also after an error)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._live: Live | None = None
        self._shown: dict[str, tuple[str, str]] = {}

    def handle(self, event: d.DemoEvent) -> None:
        if isinstance(event, d.AgentChosen):
            self._agent(event)
        elif isinstance(event, d.SandboxReady):
            self._sandbox(event)
        elif isinstance(event, d.Assigned):
            a = event.assignment
            self.console.print(f"assigned #{a.issue} {a.title!r} -> {a.id} on {a.machine} "
                               f"(branch {a.branch})")
        elif isinstance(event, d.Progress):
            self._progress(event.assignments)
        elif isinstance(event, d.Finished):
            self.close()
            self._finished(event)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- parts ----------------------------------------------------------------------------------
    def _agent(self, event: d.AgentChosen) -> None:
        self.console.print(f"agent: {event.choice.label}")
        self.console.print(f"  why: {event.choice.reason}")

    def _sandbox(self, event: d.SandboxReady) -> None:
        machine = next(iter(event.config.machines.values()))
        self.console.print(f"sandbox: {event.sandbox.root}")
        self.console.print(f"  a bare origin, a clone and {event.sandbox.config_path.name} with one "
                           f"local machine ({machine.name}, launcher {machine.launcher})")

    def _progress(self, rows: tuple[Assignment, ...]) -> None:
        if self.console.is_terminal:
            if self._live is None:
                self._live = Live(status_table(rows), console=self.console, refresh_per_second=4)
                self._live.start()
            else:
                self._live.update(status_table(rows))
            return
        for a in rows:  # plain output: a line per change
            seen = (a.status, a.last_status)
            if self._shown.get(a.id) != seen:
                self._shown[a.id] = seen
                detail = a.reason if a.terminal else a.last_status
                self.console.print(f"  {a.id} #{a.issue} {a.status}" + (f": {detail}" if detail else ""))

    def _finished(self, event: d.Finished) -> None:
        self.console.print(outcome_table(event.outcomes))
        if event.timed_out:
            self.console.print("the demo timed out: live runs were stopped")
        if event.kept:
            self.console.print(f"sandbox kept: {event.sandbox}")
            self.console.print(f"  look around: coordssh --config {event.sandbox / 'coordinator.yml'} "
                               "status; git -C " + str(event.sandbox / "origin.git") + " log --all")
        else:
            self.console.print(f"sandbox removed: {event.sandbox} (pass --keep to look around)")
        self.console.print("demo ok: both branches pushed" if event.ok else
                           "demo failed: see the reasons above")


def status_table(rows: tuple[Assignment, ...]) -> Table:
    table = Table(title="coordssh demo", title_justify="left")
    for column in ("id", "issue", "status", "doing", "turns", "cost"):
        table.add_column(column)
    for a in rows:
        style = STATUS_STYLE.get(a.status, "red")
        table.add_row(a.id, f"#{a.issue} {a.title}", f"[{style}]{a.status}[/]",
                      a.reason if a.terminal else a.last_status,
                      "" if a.turns is None else str(a.turns),
                      "" if a.cost_usd is None else f"${a.cost_usd:.2f}")
    return table


def outcome_table(outcomes: tuple[d.BranchOutcome, ...]) -> Table:
    table = Table(title="outcome", title_justify="left")
    for column in ("id", "issue", "status", "branch on origin", "commit"):
        table.add_column(column)
    for o in outcomes:
        a = o.assignment
        style = "green" if o.ok else "red"
        pushed = o.origin_sha and f"{a.branch} @ {o.origin_sha[:7]}"
        table.add_row(a.id, f"#{a.issue} {a.title}", f"[{style}]{a.status}[/]",
                      pushed or "(not pushed)", o.subject or a.reason)
    return table
