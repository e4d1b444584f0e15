"""Verdicts recorded by hand: `coordssh test ID --passed | --fail --reason T`.

The verdict is for the work item's current head SHA (a verdict belongs to a SHA; a new head
voids it) and goes through `pipeline.apply` like any event, in one board transaction. The
reason is kept as the verdict's detail: a fix run is told it.
"""

from __future__ import annotations

from coordssh.domain.work import Event, WorkItem
from coordssh.errors import NotFound, Refused, UsageError
from coordssh.services import pipeline
from coordssh.services.context import Context
from coordssh.services.work_view import observe_live_runs


async def record_test_verdict(ctx: Context, which: str, *, passed: bool,
                              reason: str = "") -> WorkItem:
    """The work item after the verdict; Refused when it has no head SHA or its stage says no.
    Its live run is observed first: a run that pushed and ended a moment ago counts."""
    if not passed and not reason.strip():
        raise UsageError("a failed test needs --reason (what failed)",
                         hint="e.g. --fail --reason 'test_login fails: 500 on /api/login'; the "
                              "fix run is told it")
    key = pipeline.resolve_key(ctx.board, which)
    found = ctx.board.get_work(key)
    if found is not None:
        await observe_live_runs(ctx, [found])
    with ctx.board.transaction() as tx:
        item = tx.get_work(key)
        if item is None:
            raise NotFound(f"no work item {key} on the board",
                           hint="`coordssh work` lists the work items")
        if not item.head_sha:
            raise Refused(f"{key} has nothing pushed yet ({item.stage}): there is no SHA to "
                          "record a test verdict for",
                          hint=f"wait for its run to push (`coordssh work {key}`)")
        event = Event("test_verdict", {"result": "passed" if passed else "failed",
                                       "sha": item.head_sha, "detail": reason.strip(),
                                       "by": "hand"})
        return pipeline.apply(tx, key, event, ctx.clock())
