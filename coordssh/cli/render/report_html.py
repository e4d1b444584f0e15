"""`coordssh report --html FILE`: one self-contained page (inline CSS and SVG, no script, nothing
fetched) with three charts, spend per day by model, outcomes per machine and time from first run
to merge, above the tables of the text report. Every piece of data is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from html import escape

from coordssh.cli.render.svg_charts import horizontal_bars, stacked_bars
from coordssh.services.report import Report, Totals

MODEL_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22",
                "#7f7f7f")
OUTCOME_COLORS = {"done": "#2ca02c", "advisory": "#98df8a", "failed": "#d62728",
                  "stuck": "#ff9896", "max_turns": "#c49c94", "budget": "#f7b6d2",
                  "usage_limited": "#dbdb8d", "api_error": "#9edae5", "auth_failed": "#c5b0d5",
                  "crashed": "#7b241c", "cancelled": "#aec7e8", "push_failed": "#ffbb78",
                  "running": "#393b79", "starting": "#6b6ecf", "unknown": "#b5b5b5"}
MERGED_COLOR, DONE_COLOR = "#0b7285", "#66a61e"   # lead time: to merge, or to done (no merge)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: #666; margin-bottom: 16px; } figure { margin: 0 0 12px; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 3px 10px 3px 0; }
th { text-align: left; border-bottom: 1px solid #ccc; } td.n { text-align: right; }
"""


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """Each model its colour, in sorted order (the same models get the same colours)."""
    return {m: MODEL_COLORS[i % len(MODEL_COLORS)] for i, m in enumerate(sorted(set(models)))}


def usd(value: float) -> str:
    return f"${value:,.2f}"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def window(since_s: float | None) -> str:
    if since_s is None:
        return "all runs"
    if since_s >= 86400 and since_s % 86400 == 0:
        days = int(since_s // 86400)
        return f"the last {days} day{'s' if days > 1 else ''}"
    return f"the last {hours(since_s)}"


def render_html(report: Report) -> str:
    generated = datetime.fromtimestamp(report.generated_at, timezone.utc)
    meta = f"{window(report.since_s)}, generated {generated:%Y-%m-%d %H:%M} UTC"
    body = [f"<h1>coordssh report</h1><div class=\"meta\">{escape(meta)}</div>",
            "<figure>", spend_chart(report), "</figure>",
            "<figure>", outcome_chart(report), "</figure>",
            "<figure>", lead_time_chart(report), "</figure>",
            "<h2>Totals</h2>", _totals_table({"all runs": report.totals}),
            f"<h2>By {escape(report.by)}</h2>", _totals_table(report.groups),
            "<h2>Rounds per issue</h2>", _rounds_table(report),
            "<h2>Cost per merged PR by model tier</h2>", _merged_table(report),
            "<h2>Most expensive runs</h2>", _expensive_table(report)]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\"><title>coordssh report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def spend_chart(report: Report) -> str:
    days = every_day(list(report.spend_by_day_model))
    models = sorted({m for per_day in report.spend_by_day_model.values() for m in per_day})
    series = {m: [report.spend_by_day_model.get(d, {}).get(m, 0.0) for d in days]
              for m in models}
    return stacked_bars("Spend per day by model", days, series, model_colors(models), usd,
                        css_class="chart spend")


def every_day(days: list[str], limit: int = 62) -> list[str]:
    """The days from the first to the last (quiet days too), unless that is over `limit`."""
    if len(days) < 2:
        return days
    first, last = (datetime.strptime(d, "%Y-%m-%d") for d in (days[0], days[-1]))
    span = (last - first).days
    if span >= limit:
        return days
    return [(first + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(span + 1)]


def outcome_chart(report: Report) -> str:
    machines = list(report.outcomes_by_machine)
    outcomes = sorted({o for c in report.outcomes_by_machine.values() for o in c},
                      key=lambda o: (list(OUTCOME_COLORS).index(o) if o in OUTCOME_COLORS else 99, o))
    series = {o: [float(report.outcomes_by_machine[m].get(o, 0)) for m in machines]
              for o in outcomes}
    colors = {o: OUTCOME_COLORS.get(o, "#b5b5b5") for o in outcomes}
    return stacked_bars("Outcomes per machine (runs)", machines, series, colors,
                        lambda v: f"{v:g}", css_class="chart outcomes", counts=True)


def lead_time_chart(report: Report) -> str:
    timed = [i for i in report.issues if i.lead_time_s is not None]
    timed.sort(key=lambda i: i.first_run_at)
    labels = [f"{i.key} {i.title}".strip() + (" (merged)" if i.merged_at else " (done)")
              for i in timed]
    colors = [MERGED_COLOR if i.merged_at is not None else DONE_COLOR for i in timed]
    return horizontal_bars("Time from first run to merge (or to done, before a merge)", labels,
                           [i.lead_time_s or 0.0 for i in timed], colors, hours,
                           css_class="chart lead")


def _table(head: Sequence[str], rows: list[Sequence[object]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    lines = [f"<tr>{cells}</tr>"]
    for row in rows:
        lines.append("<tr>" + "".join(
            f"<td class=\"n\">{escape(str(v))}</td>" if isinstance(v, (int, float))
            else f"<td>{escape(str(v))}</td>" for v in row) + "</tr>")
    return f"<table>{''.join(lines)}</table>"


def _totals_table(groups: dict[str, Totals]) -> str:
    rows = [(name, t.runs, ", ".join(f"{k} {v}" for k, v in t.outcomes.most_common()),
             usd(t.cost_usd), t.turns, f"{sum(t.tokens.values()):,}", hours(t.duration_s))
            for name, t in groups.items()]
    return _table(("", "runs", "outcomes", "cost", "turns", "tokens", "run time"), rows)


def _rounds_table(report: Report) -> str:
    rows = [(i.key, i.title, sum(i.runs_by_role.values()), i.fix_rounds, i.review_rounds,
             usd(i.cost_usd)) for i in report.issues]
    return _table(("issue", "title", "runs", "fix rounds", "review rounds", "cost"), rows)


def _merged_table(report: Report) -> str:
    tiers = report.cost_per_merged_pr()
    if not tiers:
        why = "" if report.has_work_items else " (this board has no work items yet)"
        return f"<p>No merged PRs in this window{escape(why)}.</p>"
    return _table(("model tier", "merged PRs", "cost", "per PR"),
                  [(t, v["merged"], usd(v["cost_usd"]), usd(v["per_pr_usd"]))
                   for t, v in tiers.items()])


def _expensive_table(report: Report) -> str:
    from coordssh.services.report import duration, model

    rows = [(r.id, f"{r.repo}#{r.issue}", r.title, model(r), r.machine, r.role, r.status,
             usd(r.cost_usd or 0), r.turns or 0, hours(duration(r) or 0))
            for r in report.expensive]
    return _table(("run", "issue", "title", "model", "machine", "role", "outcome", "cost",
                   "turns", "run time"), rows)


def write_html(report: Report, path) -> None:
    """Write the page; a path that cannot be written is a usage error naming it."""
    from pathlib import Path

    from coordssh.errors import UsageError

    target = Path(path)
    try:
        target.write_text(render_html(report), encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write {target}: {err.strerror}",
                         hint="choose a file in a directory that exists and you can write") from None
