"""A work item built from runs recorded before work items existed (the board's v1 -> v2
migration, board/migrate.py). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from coordssh.domain import stages as s
from coordssh.domain.work import LIVE_RUN_STATUSES, Event, WorkItem, last_run_of


def item_from_runs(runs: list[Mapping[str, Any]], now: float) -> WorkItem:
    """The work item of one repo#issue from its assignment rows (dicts, any order): branch and
    base from the first run, run ids in order, stage from the latest run's status, head from
    the latest pushed SHA, spend summed."""
    rows = sorted(runs, key=lambda r: (r.get("created_at") or 0.0, r.get("id", "")))
    first, last = rows[0], rows[-1]
    role = last.get("role") if last.get("role") in s.ROLES else "implement"
    status = last.get("status", "")
    item = WorkItem(
        repo=first["repo"], issue=int(first["issue"]), branch=first.get("branch", ""),
        base_branch=first.get("base_branch") or "main", title=first.get("title", ""),
        head_sha=next((r["pushed_sha"] for r in reversed(rows) if r.get("pushed_sha")), ""),
        spend_usd=sum(float(r.get("cost_usd") or 0) for r in rows),
        runs=tuple(r["id"] for r in rows),
        created_at=first.get("created_at") or now, updated_at=now)
    if status in LIVE_RUN_STATUSES:
        return replace(item, stage=s.RUNNING_STAGE[role], active_run=last["id"])
    ended = replace(item, last_run=last_run_of(Event("run_ended", {
        "role": role, "status": status, "reason": last.get("reason", ""),
        "machine": last.get("machine"), "session_id": last.get("session_id")}, last["id"])))
    outcome = s.RUN_END_CLASS.get(status, "interrupted")
    if outcome == "done" and role in ("implement", "fix"):
        return replace(ended, stage=s.IMPLEMENTED)
    if outcome == "limited":
        return replace(ended, stage=s.PARKED, parked_until=last.get("resets_at"),
                       parked_from=s.INTERRUPTED,
                       parked_reason=f"{status}: {last.get('reason', '')}".strip())
    return replace(ended, stage=s.INTERRUPTED)
