"""Cycles of a work item: one branch carried to its end (merged or abandoned). Pure, no I/O.

An issue assigned again after its item was merged or abandoned starts a new cycle (the
`reopened` event, allowed by `stages.TABLE` from those two stages only). `new_cycle` is the ONE
place that says what belongs to the old branch: every field of the item returns to its
default except `KEPT` (who the item is, and the cycles before), and the cycle that ended is
summarised in `earlier` (branch, stage, head, PR, runs, rounds, spend) so `coordssh work`
still shows it; the full story stays in the history. A field added to `WorkItem` later is
reset by a reopen unless it is named here.

Spend: `spend_usd` (what the item budgets cap) is the current cycle's; `total_spend` adds the
earlier cycles'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, fields
from typing import TYPE_CHECKING, Any

from coordssh.domain import stages as s

if TYPE_CHECKING:
    from coordssh.domain.work import Event, WorkItem

KEPT = frozenset({"repo", "issue", "title", "created_at", "earlier"})


def summary(item: WorkItem) -> dict[str, Any]:
    """The cycle that ends, as `earlier` keeps it."""
    return {"cycle": cycle_of(item), "branch": item.branch, "base_branch": item.base_branch,
            "stage": item.stage, "head_sha": item.head_sha, "pr_number": item.pr_number,
            "pr_url": item.pr_url, "runs": list(item.runs), "rounds": asdict(item.rounds),
            "spend_usd": item.spend_usd, "ended_at": item.updated_at}


def new_cycle(item: WorkItem, event: Event, key: str, now: float) -> dict[str, Any]:
    """The changes `reopened` makes: everything of the old branch reset, the new branch set."""
    fresh = {f.name: (f.default if f.default is not MISSING else f.default_factory())
             for f in fields(item) if f.name not in KEPT}
    fresh.update(earlier=item.earlier + (summary(item),), branch=event.get("branch"),
                 base_branch=event.get("base_branch") or item.base_branch)
    return fresh


def cycle_of(item: WorkItem) -> int:
    return len(item.earlier) + 1


def total_spend(item: WorkItem) -> float:
    return item.spend_usd + sum(float(e.get("spend_usd") or 0) for e in item.earlier)


def retired_branches(item: WorkItem | None) -> tuple[str, ...]:
    """Branches that are no longer the issue's own: the earlier cycles', and the item's once
    it is merged or abandoned. They claim nothing and no run continues them. (A new cycle may
    reuse an old name when that branch was deleted everywhere: then it is the item's again.)"""
    if item is None:
        return ()
    if item.stage in s.FINAL_STAGES:
        names = [*(str(e.get("branch") or "") for e in item.earlier), item.branch]
    else:
        names = [str(e.get("branch") or "") for e in item.earlier
                 if e.get("branch") != item.branch]
    return tuple(name for name in dict.fromkeys(names) if name)


def stage_of_run(item: WorkItem, run_id: str) -> str:
    """The stage that counts for a run: its earlier cycle's final stage, else the item's."""
    earlier = next((e for e in item.earlier if run_id in e.get("runs", ())), None)
    return str(earlier["stage"]) if earlier is not None else item.stage


def reopen_note(item: WorkItem | None, branch: str) -> str:
    """What an assign on `branch` does to the item: "" unless it starts a new cycle."""
    if item is None or not s.reopens(item.stage):
        return ""
    pr = f", PR #{item.pr_number}" if item.pr_number else ""
    return (f"reopens {item.key} ({item.stage}: branch {item.branch}{pr}): cycle "
            f"{item.cycle + 1} on branch {branch}")


def earlier_of(data: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """`earlier` read back from the board."""
    return tuple(dict(e) for e in data.get("earlier", ()))
