"""Spend caps (LESSONS 20), counted from what each run's result reports (`cost_usd`).

  per run       `pipeline.budgets.run_usd` -> `claude --max-budget-usd` when the playbook sets
                none (services/brief.py); a run that hits it ends `budget`
  per item      the work item's `spend_usd` (the sum of its runs' costs, kept by the transition):
                past `item_soft_usd` a fix goes one rung down the ladder (next_action, said in
                the comment); past `item_hard_usd` the item is parked until a human decides
                (next_action's `park`, performed by notify with its reason)
  per day       the fleet's spend in the current UTC day: past `day_usd` notify starts nothing
                that needs a model (a test run costs no tokens and still goes)
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coordssh.domain.models import Assignment
    from coordssh.services.context import Context

DAY = 86400.0


def day_start(now: float) -> float:
    return now - (now % DAY)


def spent_on(rows: Iterable[Assignment], since: float) -> float:
    """The cost of the runs that ended (or last reported) at or after `since`."""
    total = 0.0
    for row in rows:
        when = row.finished_at or row.updated_at or row.created_at
        if row.cost_usd and when >= since:
            total += row.cost_usd
    return round(total, 6)


def day_spend(ctx: Context) -> float:
    # runs-archive.jsonl holds only runs finished days ago (services/gc.COLD_MIN_AGE_S)
    return spent_on(ctx.board.list(include_archived=True, cold=False), day_start(ctx.clock()))


def day_cap_reached(ctx: Context) -> str:
    """The reason nothing with a model starts now, or ""."""
    cap = ctx.config.pipeline.budgets.day_usd
    if cap is None:
        return ""
    spent = day_spend(ctx)
    if spent < cap:
        return ""
    day = time.strftime("%Y-%m-%d", time.gmtime(ctx.clock()))
    return (f"daily budget reached: ${spent:.2f} spent on {day} (UTC) of ${cap:.2f} "
            "(pipeline.budgets.day_usd)")


def cost_by(rows: Iterable[Assignment], field: str) -> dict[str, float]:
    """Total cost per value of `field` (model, machine, role), largest first."""
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        if row.cost_usd:
            totals[getattr(row, field) or "(none)"] += row.cost_usd
    return {k: round(v, 6) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def needs_model(role: str) -> bool:
    return role != "test"
