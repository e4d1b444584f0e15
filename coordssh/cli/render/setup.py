"""Rendering of `coordssh setup`: one line per step (per item when a step has several), like
Ansible's recap: ok, changed (with --check: would change), failed with its fix, skipped."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape

from coordssh.services.setup import CHANGED, FAILED, OK, SetupReport, StepResult

STYLE = {OK: "green", CHANGED: "yellow", FAILED: "red", "skipped": "dim"}


def print_json(report: SetupReport) -> None:
    sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")


def print_report(report: SetupReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    console.print(f"playbook: {escape(report.playbook)}"
                  + ("  (--check: nothing is changed)" if report.check else ""), soft_wrap=True)
    for machine in report.machines:
        console.print(f"[bold]{escape(machine.name)}[/] ({escape(machine.host)})", soft_wrap=True)
        for step in machine.steps:
            for state, label, message in _lines(step):
                word = _word(state, report.check)
                console.print(f"  [{STYLE[state]}]{word:<14}[/] {escape(label)}: "
                              f"{escape(message)}", soft_wrap=True)
        if machine.error is not None:
            console.print(f"  [red]{'unreachable' if not machine.steps else 'failed':<14}[/] "
                          f"{escape(machine.error.message)}", soft_wrap=True)
            if machine.error.hint:
                console.print(f"  {'':<14} hint: {escape(machine.error.hint)}", soft_wrap=True)
    console.print(_recap(report), soft_wrap=True)


def _lines(step: StepResult) -> list[tuple[str, str, str]]:
    if step.skipped:
        return [("skipped", step.name, step.skipped)]
    if len(step.items) == 1 and step.kind != "clones":
        item = step.items[0]
        return [(item.state, step.name, item.message)]
    return [(i.state, f"{step.name} [{i.item}]", i.message) for i in step.items]


def _word(state: str, check: bool) -> str:
    return "would change" if state == CHANGED and check else state


def _recap(report: SetupReport) -> str:
    parts = []
    for machine in report.machines:
        counts = {s: sum(1 for st in machine.steps if st.state == s) for s in STYLE}
        unreachable = " unreachable" if machine.error is not None else ""
        changed = "would change" if report.check else "changed"
        parts.append(f"{machine.name}: ok={counts[OK]} {changed}={counts[CHANGED]} "
                     f"failed={counts[FAILED]} skipped={counts['skipped']}{unreachable}")
    return "\n".join(parts)
