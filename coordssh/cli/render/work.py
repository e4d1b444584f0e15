"""Rendering of `coordssh work`: one block per work item, or JSON (a list of items).

Plain text (no rich): untrusted text (titles, reasons, event data) goes through `clean`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from coordssh.cli.render.assign import clean
from coordssh.domain.work_cycle import total_spend
from coordssh.services.work_view import WorkView

if TYPE_CHECKING:
    from coordssh.services.test_run import DispatchedTest


def print_work(views: list[WorkView], *, json_output: bool) -> None:
    if json_output:
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps([v.to_json() for v in views], indent=indent,
                                    ensure_ascii=False) + "\n")
        return
    if not views:
        sys.stdout.write("no work items yet: `coordssh assign MACHINE REPO ISSUE` starts one\n")
        return
    sys.stdout.write("\n".join(work_text(view) for view in views))


def work_text(view: WorkView) -> str:
    item, action = view.item, view.action
    head = f" @ {item.head_sha[:7]}" if item.head_sha else ""
    pr = f"  PR #{item.pr_number}" if item.pr_number else ""
    cycle = f"  (cycle {item.cycle})" if item.earlier else ""
    lines = [f"{item.key}  {item.stage}  {item.branch or '(no branch)'}{head}{pr}{cycle}"
             + (f"  {clean(item.title)}" if item.title else "")]
    how = "auto" if action.auto else "by hand"
    lines.append(f"  next      {action.kind} ({how}): {clean(action.reason)}")
    if action.command and not action.auto:
        lines.append(f"            {action.command}")
    for row in view.runs:
        lines.append(f"  run       {row.id}  {row.role:<9} {row.status:<13} {row.model or '-'}"
                     f"  {row.machine}  {clean(row.reason)[:80]}".rstrip())
    for v in item.verdicts:
        lines.append(f"  verdict   {v.kind} {v.result} at {v.sha[:7]}"
                     + (f" (run {v.run})" if v.run else " (by hand)"))
    rounds = item.rounds
    total = f" (all cycles ${total_spend(item):.2f})" if item.earlier else ""
    lines.append(f"  rounds    fix {rounds.fix}, review {rounds.review}, retry {rounds.retry}"
                 f"   spend ${item.spend_usd:.2f}{total}")
    lines.extend(earlier_line(e) for e in item.earlier)
    if view.history:
        lines.append("  history")
        lines.extend(f"    {event_line(e)}" for e in view.history)
    return "\n".join(lines) + "\n"


def earlier_line(cycle: dict[str, Any]) -> str:
    pr = f"  PR #{cycle['pr_number']}" if cycle.get("pr_number") else ""
    head = f" @ {str(cycle.get('head_sha'))[:7]}" if cycle.get("head_sha") else ""
    runs = ", ".join(cycle.get("runs") or ()) or "none"
    return clean(f"  cycle {cycle.get('cycle', '?')}    {cycle.get('branch') or '(no branch)'}  "
                 f"{cycle.get('stage')}{pr}{head}  runs {runs}  "
                 f"spend ${float(cycle.get('spend_usd') or 0):.2f}")


def event_line(event: dict[str, Any]) -> str:
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.get("at") or 0))
    data = event.get("data") or {}
    shown = " ".join(f"{k}={_short(v)}" for k, v in data.items()
                     if v not in (None, "", [], {}) and k not in ("title",))
    run = f" {event['run']}" if event.get("run") else ""
    return clean(f"{at}Z  {event['kind']}{run}  {shown}".rstrip())


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) == 40 and all(c in "0123456789abcdef" for c in text):
        return text[:7]   # a SHA
    return text if len(text) <= 60 else text[:57] + "..."


def print_test_run(result: DispatchedTest, *, json_output: bool) -> None:
    """The new test run, the way `assign` prints a new run."""
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    a = result.assignment
    started = f"pid {result.pid}" if result.pid else "starting"
    lines = [a.id,
             f"  test      {a.work_key} at {a.base_sha[:12]} (branch {a.branch})",
             f"  machine   {a.machine}",
             f"  command   {result.command}",
             f"  run       {a.run_dir}  ({a.launcher}, {started})",
             f"  follow    coordssh wait {a.id}   (exit 0 passed, 1 failed)"]
    sys.stdout.write("\n".join(lines) + "\n")
