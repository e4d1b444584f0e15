"""`coordssh work`: every work item with its runs, its next action and why; its history.

The runs are the current cycle's; an item assigned again after its end lists its earlier cycles
(branch, stage, PR) and `--history` holds every event of every cycle.

A read: the runs still live among the items shown are observed first (their machines only,
one connection each; none when nothing is live), so a run that ended since the last command
has its end applied to its work item (through observe, like every read path). Nothing else is
done: the next action is reported, never performed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordssh.domain.models import Assignment
from coordssh.domain.next_action import Action, next_action
from coordssh.domain.work import WorkItem
from coordssh.domain.work_cycle import total_spend
from coordssh.errors import NotFound
from coordssh.services import pipeline
from coordssh.services.context import Context


@dataclass(frozen=True)
class WorkView:
    item: WorkItem
    action: Action
    runs: tuple[Assignment, ...]
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        item = self.item
        data: dict[str, Any] = {
            "key": item.key, "repo": item.repo, "issue": item.issue, "title": item.title,
            "branch": item.branch, "base_branch": item.base_branch, "stage": item.stage,
            "head_sha": item.head_sha, "pr_number": item.pr_number, "pr_url": item.pr_url,
            "next_action": self.action.kind, "reason": self.action.reason,
            "action": self.action.to_dict(),
            "runs": [_run_json(row) for row in self.runs],
            "verdicts": [{"kind": v.kind, "result": v.result, "sha": v.sha, "at": v.at,
                          "run": v.run} for v in item.verdicts],
            "rounds": {"fix": item.rounds.fix, "review": item.rounds.review,
                       "retry": item.rounds.retry},
            "model_rung": item.model_rung, "spend_usd": round(item.spend_usd, 6),
            "cycle": item.cycle, "total_spend_usd": round(total_spend(item), 6),
            "earlier": [dict(e) for e in item.earlier],
            "parked_until": item.parked_until, "parked_reason": item.parked_reason,
            "abandoned_reason": item.abandoned_reason,
            "created_at": item.created_at, "updated_at": item.updated_at,
        }
        if self.history:
            data["history"] = list(self.history)
        return data


def _run_json(row: Assignment) -> dict[str, Any]:
    return {"id": row.id, "role": row.role, "status": row.status, "model": row.model,
            "machine": row.machine, "reason": row.reason, "pushed_sha": row.pushed_sha,
            "created_at": row.created_at}


async def work_views(ctx: Context, which: str | None = None, *,
                     history: bool = False) -> list[WorkView]:
    """Every work item (or the one named by REPO#ISSUE or a run id), observed, with its action."""
    keys = None if which is None else [pipeline.resolve_key(ctx.board, which)]
    items = _items(ctx, keys)
    if await observe_live_runs(ctx, items):
        items = _items(ctx, keys)
    policy, now = pipeline.policy_from_config(ctx.config), ctx.clock()
    return [WorkView(item, next_action(item, policy, now, runs), runs,
                     tuple(histories.get(item.key, ())))
            for histories in [_histories(ctx, items) if history else {}] for item in items
            for runs in [_runs(ctx, item)]]


def _histories(ctx: Context, items: list[WorkItem]) -> dict[str, list[dict[str, Any]]]:
    """Each item's history: one item's lines only, or the whole history read once."""
    if len(items) == 1:
        return {items[0].key: ctx.board.events(items[0].key)}
    found: dict[str, list[dict[str, Any]]] = {}
    for event in ctx.board.events():
        found.setdefault(event["work"], []).append(event)
    return found


async def observed_item(ctx: Context, key: str) -> WorkItem:
    """The work item `key` after observing its live run's machine; NotFound when unknown."""
    item = ctx.board.get_work(key)
    if item is None:
        raise NotFound(f"no work item {key} on the board", hint="`coordssh work` lists them")
    if await observe_live_runs(ctx, [item]):
        item = ctx.board.get_work(key) or item
    return item


async def observe_live_runs(ctx: Context, items: list[WorkItem]) -> bool:
    """Observe the machines of the items' live runs (one connection each); False: none."""
    live = {row.machine for item in items if item.active_run
            for row in [ctx.board.get(item.active_run)] if row is not None and row.live}
    machines = sorted(name for name in live if name in ctx.config.machines)
    if not machines:
        return False
    from coordssh.services.observe import observe

    await observe(ctx, machines)
    return True


def _items(ctx: Context, keys: list[str] | None) -> list[WorkItem]:
    if keys is None:
        return ctx.board.list_work()
    item = ctx.board.get_work(keys[0])
    if item is None:
        known = ", ".join(i.key for i in ctx.board.list_work()[:10]) or "(none yet)"
        raise NotFound(f"no work item {keys[0]} on the board",
                       hint=f"work items: {known}; `coordssh assign` starts one")
    return [item]


def _runs(ctx: Context, item: WorkItem) -> tuple[Assignment, ...]:
    found = (ctx.board.get(run_id) for run_id in item.runs)
    return tuple(row for row in found if row is not None)
