"""`coordssh report`: what the runs did and cost, aggregated from the board. Pure data.

`build_report` works on assignment rows and (optional) work items; `report_for` reads them from
the board: every row, archived ones too, and the pipeline's `work_items` and `events` tables
when the board has them (read from the file as plain data, so a board without them, or from
before them, reports "no merges yet" instead of failing). Tokens come from the stream fold on
each row (`extra["stream"]["result"]["usage"]`), the model from the row (else the stream).
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from coordssh.domain.models import DONE, Assignment
from coordssh.errors import UsageError
from coordssh.services.context import Context

GROUPINGS = ("issue", "model", "machine", "role", "day")
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
               "cache_creation_input_tokens")
TOP_RUNS = 10
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None) -> float | None:
    """'7d', '24h', '90m', '2w' -> seconds; None or 'all' -> None (every run)."""
    if text is None or text.strip().lower() == "all":
        return None
    match = _SINCE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--since '{text}' is not a duration",
                         hint="write a number and a unit: 90m, 24h, 7d, 2w (or 'all')")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass
class Totals:
    runs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    cost_usd: float = 0.0
    turns: int = 0
    tokens: Counter = field(default_factory=Counter)
    duration_s: float = 0.0

    def add(self, row: Assignment) -> None:
        self.runs += 1
        self.outcomes[row.status] += 1
        self.cost_usd += row.cost_usd or 0.0
        self.turns += row.turns or 0
        self.tokens.update(tokens(row))
        self.duration_s += duration(row) or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "outcomes": dict(self.outcomes.most_common()),
                "cost_usd": round(self.cost_usd, 4), "turns": self.turns,
                "tokens": {k: self.tokens.get(k, 0) for k in TOKEN_KINDS},
                "duration_s": round(self.duration_s, 1)}


@dataclass
class IssueFacts:
    """One repo#issue over all its runs."""
    key: str
    title: str
    runs_by_role: Counter
    cost_usd: float
    first_run_at: float
    model: str                     # the model of its latest run: its tier
    merged_at: float | None = None
    done_at: float | None = None   # the end of its first `done` run

    @property
    def fix_rounds(self) -> int:
        return self.runs_by_role.get("fix", 0)

    @property
    def review_rounds(self) -> int:
        return self.runs_by_role.get("review", 0)

    @property
    def lead_time_s(self) -> float | None:
        end = self.merged_at if self.merged_at is not None else self.done_at
        return None if end is None else max(0.0, end - self.first_run_at)

    def to_dict(self) -> dict[str, Any]:
        return {"issue": self.key, "title": self.title, "runs_by_role": dict(self.runs_by_role),
                "fix_rounds": self.fix_rounds, "review_rounds": self.review_rounds,
                "cost_usd": round(self.cost_usd, 4), "model": self.model,
                "first_run_at": self.first_run_at, "merged_at": self.merged_at,
                "done_at": self.done_at, "lead_time_s": self.lead_time_s}


@dataclass
class Report:
    since_s: float | None
    generated_at: float
    by: str
    totals: Totals
    groups: dict[str, Totals]
    issues: list[IssueFacts]
    expensive: list[Assignment]
    spend_by_day_model: dict[str, dict[str, float]]
    outcomes_by_machine: dict[str, dict[str, int]]
    has_work_items: bool

    @property
    def merged(self) -> list[IssueFacts]:
        return [i for i in self.issues if i.merged_at is not None]

    def cost_per_merged_pr(self) -> dict[str, dict[str, float]]:
        """model tier -> {merged PRs, total cost, cost per PR}."""
        tiers: dict[str, list[float]] = defaultdict(list)
        for item in self.merged:
            tiers[item.model or "?"].append(item.cost_usd)
        return {tier: {"merged": len(costs), "cost_usd": round(sum(costs), 4),
                       "per_pr_usd": round(sum(costs) / len(costs), 4)}
                for tier, costs in sorted(tiers.items())}

    def to_dict(self) -> dict[str, Any]:
        return {"since_s": self.since_s, "generated_at": self.generated_at, "by": self.by,
                "totals": self.totals.to_dict(),
                "groups": {k: v.to_dict() for k, v in self.groups.items()},
                "issues": [i.to_dict() for i in self.issues],
                "cost_per_merged_pr": self.cost_per_merged_pr(),
                "work_items": self.has_work_items,
                "most_expensive": [run_dict(r) for r in self.expensive],
                "spend_by_day_model": self.spend_by_day_model,
                "outcomes_by_machine": self.outcomes_by_machine}


def report_for(ctx: Context, *, since: str | None = "7d", by: str = "issue") -> Report:
    from coordssh.services.report_board import merges, work_item_tables

    rows = ctx.board.list(include_archived=True)
    items, events = work_item_tables(ctx.board)
    return build_report(rows, now=ctx.clock(), since_s=parse_since(since), by=by,
                        merged_at=merges(items, events) if items is not None else {},
                        has_work_items=items is not None)


def build_report(rows: Iterable[Assignment], *, now: float | None = None,
                 since_s: float | None = None, by: str = "issue",
                 merged_at: Mapping[str, float] | None = None,
                 has_work_items: bool = False) -> Report:
    if by not in GROUPINGS:
        raise UsageError(f"--by '{by}' is not a grouping", hint=f"use one of {', '.join(GROUPINGS)}")
    now = time.time() if now is None else now
    chosen = [r for r in rows if since_s is None or (r.created_at or 0) >= now - since_s]
    totals, groups = Totals(), defaultdict(Totals)
    spend: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    outcomes: dict[str, Counter] = defaultdict(Counter)
    for row in chosen:
        totals.add(row)
        groups[group_key(row, by)].add(row)
        spend[day(row.created_at)][model(row)] += row.cost_usd or 0.0
        outcomes[row.machine][row.status] += 1
    expensive = sorted((r for r in chosen if r.cost_usd), key=lambda r: -(r.cost_usd or 0))
    return Report(
        since_s=since_s, generated_at=now, by=by, totals=totals,
        groups=dict(sorted(groups.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))),
        issues=issue_facts(chosen, merged_at or {}), expensive=expensive[:TOP_RUNS],
        spend_by_day_model={d: dict(sorted(m.items())) for d, m in sorted(spend.items())},
        outcomes_by_machine={m: dict(c.most_common()) for m, c in sorted(outcomes.items())},
        has_work_items=has_work_items)


def issue_facts(rows: list[Assignment], merged_at: Mapping[str, float]) -> list[IssueFacts]:
    by_issue: dict[str, list[Assignment]] = defaultdict(list)
    for row in rows:
        by_issue[issue_key(row)].append(row)
    facts = []
    for key, runs in by_issue.items():
        runs.sort(key=lambda r: r.created_at or 0)
        done = [r.finished_at for r in runs if r.status == DONE and r.finished_at]
        facts.append(IssueFacts(
            key=key, title=next((r.title for r in runs if r.title), ""),
            runs_by_role=Counter(r.role for r in runs),
            cost_usd=sum(r.cost_usd or 0 for r in runs), first_run_at=runs[0].created_at or 0,
            model=model(runs[-1]), merged_at=merged_at.get(key),
            done_at=min(done) if done else None))
    return sorted(facts, key=lambda f: (-f.cost_usd, f.key))


# --- one row ---------------------------------------------------------------------------------
def issue_key(row: Assignment) -> str:
    return f"{row.repo}#{row.issue}"


def group_key(row: Assignment, by: str) -> str:
    if by == "issue":
        return issue_key(row)
    if by == "day":
        return day(row.created_at)
    return model(row) if by == "model" else str(getattr(row, by) or "?")


def day(at: float | None) -> str:
    return datetime.fromtimestamp(at or 0, timezone.utc).strftime("%Y-%m-%d")


def _stream(row: Assignment) -> Mapping[str, Any]:
    stream = row.extra.get("stream") if isinstance(row.extra, dict) else None
    return stream if isinstance(stream, dict) else {}


def model(row: Assignment) -> str:
    return row.model or str(_stream(row).get("model") or "") or "?"


def tokens(row: Assignment) -> dict[str, int]:
    result = _stream(row).get("result")
    usage = result.get("usage") if isinstance(result, dict) else None
    if not isinstance(usage, dict):
        return {}
    return {k: int(usage[k]) for k in TOKEN_KINDS
            if isinstance(usage.get(k), (int, float)) and not isinstance(usage.get(k), bool)}


def duration(row: Assignment) -> float | None:
    if row.duration_s is not None:
        return row.duration_s
    if row.started_at and row.finished_at:
        return max(0.0, row.finished_at - row.started_at)
    return None


def run_dict(row: Assignment) -> dict[str, Any]:
    return {"id": row.id, "issue": issue_key(row), "title": row.title, "model": model(row),
            "machine": row.machine, "role": row.role, "status": row.status,
            "cost_usd": row.cost_usd, "turns": row.turns, "duration_s": duration(row),
            "tokens": tokens(row), "created_at": row.created_at}
