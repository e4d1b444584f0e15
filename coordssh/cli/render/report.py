"""`coordssh report` in the terminal: rich tables (the same sections as the HTML page), or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coordssh.cli.render.report_html import hours, usd, window
from coordssh.services.report import TOKEN_KINDS, Report, Totals, duration, model


def print_json(report: Report) -> None:
    sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    console.print(f"report over {window(report.since_s)}: {report.totals.runs} runs, "
                  f"{usd(report.totals.cost_usd)}", markup=False)
    if not report.totals.runs:
        console.print("no runs in this window (try --since 30d, or --since all)", markup=False)
        return
    console.print(_totals("totals", {"all runs": report.totals}))
    console.print(_totals(f"by {report.by}", report.groups))
    console.print(_table("rounds per issue", ("issue", "title", "runs", "fix", "review", "cost"),
                         [(i.key, i.title, sum(i.runs_by_role.values()), i.fix_rounds,
                           i.review_rounds, usd(i.cost_usd)) for i in report.issues]))
    tiers = report.cost_per_merged_pr()
    if tiers:
        console.print(_table("cost per merged PR by model tier",
                             ("model tier", "merged", "cost", "per PR"),
                             [(t, v["merged"], usd(v["cost_usd"]), usd(v["per_pr_usd"]))
                              for t, v in tiers.items()]))
    else:
        why = "" if report.has_work_items else " (this board has no work items yet)"
        console.print(f"cost per merged PR: no merged PRs in this window{why}", markup=False)
    console.print(_table("most expensive runs",
                         ("run", "issue", "model", "machine", "role", "outcome", "cost", "turns",
                          "time"),
                         [(r.id, f"{r.repo}#{r.issue}", model(r), r.machine, r.role, r.status,
                           usd(r.cost_usd or 0), r.turns or 0, hours(duration(r) or 0))
                          for r in report.expensive]))


def _totals(title: str, groups: dict[str, Totals]) -> Table:
    rows = [(name, t.runs, ", ".join(f"{k} {v}" for k, v in t.outcomes.most_common()),
             usd(t.cost_usd), t.turns, *(f"{t.tokens.get(k, 0):,}" for k in TOKEN_KINDS[:2]),
             f"{sum(t.tokens.get(k, 0) for k in TOKEN_KINDS[2:]):,}", hours(t.duration_s))
            for name, t in groups.items()]
    return _table(title, ("", "runs", "outcomes", "cost", "turns", "in tokens", "out tokens",
                          "cache tokens", "run time"), rows)


def _table(title: str, head: Sequence[str], rows: list[Sequence[object]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in head:
        wraps = column in ("title", "outcomes")
        table.add_column(column, overflow="fold", no_wrap=not wraps)
    for row in rows:  # Text, never markup: titles and names are data
        table.add_row(*(Text(str(v)) for v in row))
    return table
