"""Rendering `coordssh demo`'s events: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

from shlex import quote

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from coordssh.domain.models import Assignment
from coordssh.services import demo as d

STATUS_STYLE = {"done": "green", "running": "cyan", "starting": "cyan", "unknown": "yellow",
                "push_failed": "magenta"}


class DemoView:
    """Feed it every event of `run_demo`; call `close()` at the end (also after an error)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._live: Live | None = None
        self._shown: dict[str, tuple[str, str]] = {}
        self._skips: dict[str, str] = {}      # item -> what notify last said it left alone

    def handle(self, event: d.DemoEvent) -> None:
        if isinstance(event, d.AgentChosen):
            self._agent(event)
        elif isinstance(event, d.SandboxReady):
            self._sandbox(event)
        elif isinstance(event, d.Assigned):
            a = event.assignment
            self._say(f"assigned #{a.issue} {a.title!r} -> {a.id} on {a.machine} "
                      f"(branch {a.branch})")
        elif isinstance(event, d.PassDone):
            self._pass(event)
        elif isinstance(event, d.Finished):
            self.close()
            self._finished(event)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- parts ----------------------------------------------------------------------------------
    def _agent(self, event: d.AgentChosen) -> None:
        self._say(f"agent: {event.choice.label}")
        self._say(f"  why: {event.choice.reason}")

    def _sandbox(self, event: d.SandboxReady) -> None:
        machine = next(iter(event.config.machines.values()))
        self._say(f"sandbox: {event.sandbox.root}")
        self._say(f"  a bare origin, a clone and {event.sandbox.config_path.name} with one local "
                  f"machine ({machine.name}, launcher {machine.launcher})")

    def _pass(self, event: d.PassDone) -> None:
        """One notify pass: its runs (a live table on a terminal, else a line per change), then
        what it did and the stages it moved. A pass in which nothing changed prints nothing."""
        runs = self._runs(event.rows)
        lines = [*(f"  did {x}" for x in event.did),
                 *(f"  skipped {x}" for x in self._new_skips(event)),
                 *(f"  error in {x}" for x in event.errors)]
        for work in dict.fromkeys(c.work for c in event.changes):
            moves = " -> ".join(f"{c.stage} ({c.event})" for c in event.changes if c.work == work)
            lines.append(f"  {work}: {moves}")
        if runs or lines:
            self._say(f"notify pass {event.number}:")
        for line in runs + lines:
            self._say(line)

    def _new_skips(self, event: d.PassDone) -> list[str]:
        """Why notify left an item alone, once: not again while it says the same each pass."""
        new = [x for x in event.skipped if self._skips.get(x.split(" ", 1)[0]) != x]
        self._skips.update((x.split(" ", 1)[0], x) for x in event.skipped)
        return new

    def _runs(self, rows: tuple[Assignment, ...]) -> list[str]:
        if self.console.is_terminal:
            if self._live is None:
                self._live = Live(status_table(rows), console=self.console, refresh_per_second=4)
                self._live.start()
            else:
                self._live.update(status_table(rows))
            return []
        lines = []
        for a in rows:  # plain output: a line per change
            seen = (a.status, a.last_status)
            if self._shown.get(a.id) != seen:
                self._shown[a.id] = seen
                detail = _cut(a.reason if a.terminal else a.last_status)
                lines.append(f"  run {a.id} #{a.issue} {a.role} {a.status}"
                             + (f": {detail}" if detail else ""))
        return lines

    def _finished(self, event: d.Finished) -> None:
        self._say(f"after {event.passes} notify passes, on origin:")
        for line in outcome_lines(event.outcomes):
            self.console.print(line)
        if event.timed_out:
            self._say("the demo timed out: live runs were stopped")
        if event.kept:
            self._say(f"sandbox kept: {event.sandbox}")
            self._say(f"  look around: COORDSSH_CONFIG={quote(str(event.sandbox / 'coordinator.yml'))}"
                      f" coordssh work --history; git -C {quote(str(event.sandbox / 'origin.git'))}"
                      " log --graph --oneline --all")
        else:
            self._say(f"sandbox removed: {event.sandbox} (pass --keep to look around)")
        problems = [o.headline for o in event.outcomes if not o.ok]
        self._say("demo ok: both issues merged into main" if event.ok else
                  "demo failed: " + "; ".join(problems or ["the demo timed out"])
                  + " (the reasons are above)")

    def _say(self, text: str) -> None:
        """One plain line: untrusted text (titles, agent output, paths) is never rich markup."""
        self.console.print(escape(text))


def status_table(rows: tuple[Assignment, ...]) -> Table:
    table = Table(title="coordssh demo", title_justify="left")
    for column in ("id", "issue", "role", "status", "doing", "turns", "cost"):
        table.add_column(column, no_wrap=column == "doing", overflow="ellipsis",
                         max_width=60 if column == "doing" else None)
    for a in rows:
        style = STATUS_STYLE.get(a.status, "red")
        table.add_row(a.id, escape(f"#{a.issue} {a.title}"), a.role, f"[{style}]{a.status}[/]",
                      escape(a.reason if a.terminal else a.last_status),
                      "" if a.turns is None else str(a.turns),
                      "" if a.cost_usd is None else f"${a.cost_usd:.2f}")
    return table


def _cut(text: str, width: int = 120) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width and line == text else line[:width - 1] + "…"


def outcome_lines(outcomes: tuple[d.ItemOutcome, ...]) -> list[str]:
    lines = []
    for o in outcomes:
        item, on = o.item, o.origin
        style = "green" if o.ok else "red"
        lines.append(f"[{style}]{item.stage}[/] " + escape(f"#{item.issue} {o.title} ({item.key}, "
                                                           f"branch {item.branch})"))
        if on.contained:
            lines.append(escape(f"  in main: head {item.head_sha[:7]} by {on.merge_sha[:7]} "
                                f"{on.merge_subject!r}"))
            lines.append(escape(f"  branch {item.branch} " + (
                "still on origin" if on.branch_left else "deleted from origin")))
        for problem in o.problems:
            lines.extend(escape(f"  {line}") for line in problem.splitlines())
    return lines
