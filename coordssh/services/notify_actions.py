"""The dispatch registry: which service performs a `next_action` when notify may do it.

A performer is `async (ctx, item, action) -> str` (what it did, one line) and raises a
CoordError when it cannot. It is looked up by the action's kind, role and mode, most specific
first: (kind, role, mode), (kind, role, *), (kind, *, mode), (kind, *, *). notify adds no second
way to do any stage: each performer calls the one service that does it by hand.

Registered now (what exists on main):
  dispatch.test.*   services/test_run.dispatch_test      (`coordssh test ID`)
  repush.*.*        services/repush.push_again           (`coordssh push ID`)
  park.*.*          pipeline.apply(parked)               (a hard budget cap, with its reason)
  unpark.*.*        pipeline.apply(unparked)             (the parking time has passed)

  dispatch.fix.*    services/fix.fix                     (`coordssh fix ID`; fix rounds, conflicts)
  dispatch.*.retry  services/retry.retry                 (`coordssh retry ID`; elsewhere)
  dispatch.*.resume services/continue_run.continue_run   (`claude --resume` after a usage limit,
                    on the run's machine; notify checks the account's parking first)
  dispatch.review.* services/review.dispatch_review      (`coordssh review ID`)
  open_pr.*.*       services/pr.open_pr                  (`coordssh pr ID`)
  merge.*.*         services/merge_queue.run_queue       (`coordssh merge --repo R`)
`continue` with a human's guidance is never automatic (next_action says so): it has no performer.

`why_not(ctx, item, action, registry, capped)` is the reason notify leaves an action alone this
pass ("" when it may perform it); notify reports it for every item it did nothing with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from coordssh.domain.models import Assignment
from coordssh.domain.next_action import Action
from coordssh.domain.work import Event, WorkItem
from coordssh.services import budgets, parking, pipeline

if TYPE_CHECKING:
    from coordssh.services.context import Context

Performer = Callable[["Context", WorkItem, Action], Awaitable[str]]
ANY = "*"
RESUME_GUIDANCE = ("The usage limit that stopped you has reset. Continue the work where you "
                   "stopped, following the original instructions.")


def action_name(action: Action) -> str:
    return f"{action.kind}.{action.role or ANY}.{action.mode or ANY}"


class Registry:
    def __init__(self) -> None:
        self._performers: dict[tuple[str, str, str], Performer] = {}

    def register(self, kind: str, performer: Performer, *, role: str = ANY,
                 mode: str = ANY) -> None:
        self._performers[kind, role, mode] = performer

    def lookup(self, action: Action) -> Performer | None:
        role, mode = action.role or ANY, action.mode or ANY
        for key in ((action.kind, role, mode), (action.kind, role, ANY),
                    (action.kind, ANY, mode), (action.kind, ANY, ANY)):
            if key in self._performers:
                return self._performers[key]
        return None

    def names(self) -> list[str]:
        return sorted(".".join(key) for key in self._performers)


def missing_reason(action: Action) -> str:
    return f"no performer for {action_name(action)} yet"


# --- why not now ---------------------------------------------------------------------------
def why_not(ctx: Context, item: WorkItem, action: Action, registry: Registry,
            capped: bool) -> str:
    """Why notify does not perform `action` now ("" : it may): the item waits or is done, a
    human must act (and the command, unless the reason names it), the flag is off, no
    performer, a cap, a parked account."""
    by_hand = f"; by hand: {action.command}" if action.command and \
        f"`{action.command}`" not in action.reason else ""
    if action.kind in ("none", "wait", "needs_human"):
        return action.reason + by_hand
    if not action.auto:
        return f"not automatic: {action.reason}{by_hand}"
    if registry.lookup(action) is None:
        return missing_reason(action)
    if action.kind not in ("dispatch", "repush"):
        return ""
    if capped:
        return "pipeline.max_dispatches_per_pass reached: next pass"
    if budgets.needs_model(action.role) and action.kind == "dispatch":
        day = budgets.day_cap_reached(ctx)
        if day:
            return day
        return parked_account(ctx, item, action)
    return ""


def active_rows(ctx: Context, item: WorkItem) -> list[Assignment]:
    """The row of the item's live run, for `next_action` (an unknown run says so)."""
    row = ctx.board.get(item.active_run) if item.active_run else None
    return [row] if row is not None else []


def parked_account(ctx: Context, item: WorkItem, action: Action) -> str:
    """A resume or continuation stays on its run's machine: wait while its account is parked."""
    if action.mode not in ("resume", "continue", "retry"):
        return ""
    name = item.last_run.get("machine")
    if action.mode == "retry" or name not in ctx.config.machines:
        return ""
    until = parking.parked_until(ctx, ctx.config.machines[name])
    if until is None:
        return ""
    from coordssh.domain.next_action import clock

    return f"account of {name} parked until {clock(until, ctx.clock())}"


# --- the performers on main -------------------------------------------------------------------
async def perform_test(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.test_run import dispatch_test

    started = await dispatch_test(ctx, item.key)
    return f"test run {started.assignment.id} on {started.assignment.machine} at " \
           f"{started.assignment.base_sha[:7]}"


async def perform_repush(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.repush import push_again

    row = await push_again(ctx, action.run)
    return f"pushed run {row.id} again: {row.status}"


async def perform_park(ctx: Context, item: WorkItem, action: Action) -> str:
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, item.key, Event("parked", {"until": action.until,
                                                      "reason": action.reason}), ctx.clock())
    return f"parked: {action.reason}"


async def perform_unpark(ctx: Context, item: WorkItem, action: Action) -> str:
    with ctx.board.transaction() as tx:
        pipeline.apply(tx, item.key, Event("unparked", {"reason": action.reason}), ctx.clock())
    return "unparked"


async def perform_fix(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.fix import FixRequest, fix

    started = await fix(ctx, FixRequest(item.key, model=action.model or None))
    return _started("fix", started)


async def perform_retry(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.retry import retry

    return _started("retry", await retry(ctx, action.run or item.key))


async def perform_resume(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.continue_run import continue_run

    return _started("resumed", await continue_run(ctx, action.run or item.key, RESUME_GUIDANCE))


async def perform_review(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.review import dispatch_review

    started = await dispatch_review(ctx, item.key, model=action.model or None)
    return f"review run {started.assignment.id} on {started.assignment.machine}"


async def perform_open_pr(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.pr import open_pr

    opened = await open_pr(ctx, item.key)
    return f"pull request #{opened.pr.number}: {opened.pr.url}"


async def perform_merge(ctx: Context, item: WorkItem, action: Action) -> str:
    from coordssh.services.merge_queue import run_queue

    result = await run_queue(ctx, repo=item.repo)
    said = [f"{line.work} #{line.pr}: {line.outcome}" + (f" ({line.gate}: {line.reason})"
                                                          if line.gate else "")
            for line in result.lines]
    return "; ".join(said) or "merge queue: nothing to merge"


def _started(what: str, result) -> str:
    a = result.assignment
    return f"{what} run {a.id} on {a.machine} ({a.model})"


def default_registry() -> Registry:
    registry = Registry()
    registry.register("dispatch", perform_test, role="test")
    registry.register("dispatch", perform_fix, role="fix")
    registry.register("dispatch", perform_retry, mode="retry")
    registry.register("dispatch", perform_resume, mode="resume")
    registry.register("dispatch", perform_review, role="review")
    registry.register("repush", perform_repush)
    registry.register("open_pr", perform_open_pr)
    registry.register("merge", perform_merge)
    registry.register("park", perform_park)
    registry.register("unpark", perform_unpark)
    return registry
