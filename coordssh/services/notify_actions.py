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

Registration points, filled by the integrator when those branches land (until then an action
of that kind is skipped with "no performer for dispatch.fix yet", never an error):
  dispatch.fix.*            h/followup  `coordssh fix ID`       (fix rounds, conflicts)
  dispatch.*.retry          h/followup  `coordssh retry ID`     (infrastructure failures)
  dispatch.*.continue       h/followup  `coordssh continue ID`
  dispatch.*.resume         h/followup  `continue` with `claude --resume` after a usage limit
                            (must stay on the run's machine; notify checks the account first)
  dispatch.review.*         h/plan or h/forge  `coordssh review ID`
  open_pr.*.*               h/forge     `coordssh pr ID`
  merge.*.*                 h/forge     the merge queue
Each is one `registry.register(...)` line in `default_registry` below (see POINTS).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from coordssh.domain.next_action import Action
from coordssh.domain.work import Event, WorkItem
from coordssh.services import pipeline

if TYPE_CHECKING:
    from coordssh.services.context import Context

Performer = Callable[["Context", WorkItem, Action], Awaitable[str]]
ANY = "*"
# the registration points still open on main: name -> the branch that brings the performer
POINTS = {
    "dispatch.fix.*": "h/followup", "dispatch.*.retry": "h/followup",
    "dispatch.*.continue": "h/followup", "dispatch.*.resume": "h/followup",
    "dispatch.review.*": "h/plan / h/forge", "open_pr.*.*": "h/forge", "merge.*.*": "h/forge",
}


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


def default_registry() -> Registry:
    registry = Registry()
    registry.register("dispatch", perform_test, role="test")
    registry.register("repush", perform_repush)
    registry.register("park", perform_park)
    registry.register("unpark", perform_unpark)
    # --- registration points (POINTS): one line each when the branch lands -------------------
    # registry.register("dispatch", perform_fix, role="fix")              # h/followup
    # registry.register("dispatch", perform_retry, mode="retry")          # h/followup
    # registry.register("dispatch", perform_continue, mode="continue")    # h/followup
    # registry.register("dispatch", perform_resume, mode="resume")        # h/followup
    # registry.register("dispatch", perform_review, role="review")        # h/plan / h/forge
    # registry.register("open_pr", perform_open_pr)                        # h/forge
    # registry.register("merge", perform_merge)                            # h/forge
    return registry
