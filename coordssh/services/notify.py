"""`coordssh notify`: ONE pass of the periodic driver (cron every minute, or a systemd timer).

    report = await notify_pass(ctx, dry_run=False)

1. Take the driver's lock (notify_lock.py, non-blocking): when another pass holds it, return at
   once with the holder (the command exits 0).
   On the first pass ever (no comment cursor on the board yet) the comment cursor starts at
   the end of the events log: history from before notify ran is not posted; the report's
   events say how many comments that was and why (notify_comments.start_cursor).
2. Observe every machine (observe: one connection each, all at once; its writes record run ends
   on the work items through pipeline), do the chores it found (housekeeping), track
   unreachable machines (stale.py) and usage-limit parking of accounts (parking.py).
3. For each work item, `next_action`; when `action.auto` (the policy) perform it through the
   registry (notify_actions.py), bounded by `pipeline.max_dispatches_per_pass`, the day budget
   and the parked accounts. First forge_watch.py records what the forge says (PRs closed or
   merged, issues closed by hand), per repo listing. Every item nothing was done for is
   reported with its reason (`skipped`: waiting for a run, parked until 14:00 UTC, not
   automatic (the flag off) and the command, a cap reached, the day budget, no performer),
   except merged/closed items, which are counted.
4. Post the comments owed for events (notify_comments.py), bounded by what is left of
   `max_forge_calls_per_pass` (the forge watch spends it first); one not posted (gh failing,
   the cap) is posted on a later pass, once.
5. Clean up (gc.py) and run `hooks.on_round_complete` once per round (hooks.py).

Each step is guarded: one that fails is reported and the rest of the pass goes on. `dry_run`
changes nothing anywhere (the board, the machines, GitHub) and reports what it would do.
`COORDSSH_NOTIFY_PAUSE=<checkpoint>` (with `COORDSSH_NOTIFY_PAUSE_FILE`) stops the pass at a
checkpoint for the crash tests (notify killed mid-pass).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coordssh.domain.next_action import next_action
from coordssh.domain.stages import FINAL_STAGES
from coordssh.errors import CoordError
from coordssh.services import parking, stale
from coordssh.services.context import Context
from coordssh.services.forge_watch import watch_forge
from coordssh.services.notify_actions import Registry, active_rows, default_registry, why_not
from coordssh.services.notify_comments import CommentBudget, post_pending, start_cursor
from coordssh.services.notify_lock import Holder, PassLock, checkpoint
from coordssh.services.pipeline import policy_from_config

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    dry_run: bool = False
    busy: Holder | None = None                  # another pass holds the lock: nothing done
    started_at: float = 0.0
    machines: list[dict[str, Any]] = field(default_factory=list)
    did: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # parking, stale, gc, hooks
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "busy": self.busy.to_json() if self.busy else None,
                "started_at": self.started_at, "machines": self.machines, "did": self.did,
                "skipped": self.skipped, "comments": self.comments, "events": self.events,
                "errors": self.errors}


async def notify_pass(ctx: Context, *, dry_run: bool = False,
                      registry: Registry | None = None) -> PassReport:
    report = PassReport(dry_run=dry_run, started_at=ctx.clock())
    lock = PassLock(ctx.config.state_dir)
    report.busy = lock.acquire(ctx.clock())
    if report.busy is not None:
        return report
    try:
        if dry_run:
            with scratch_board(ctx) as scratch:
                await _steps(scratch, report, registry or default_registry())
        else:
            await _steps(ctx, report, registry or default_registry())
    finally:
        lock.release()
    return report


@contextmanager
def scratch_board(ctx: Context) -> Iterator[Context]:
    """The context on a throwaway copy of the board: a dry run records what it observed and
    decides on it as a real pass would, and the real board stays byte for byte as it was."""
    from coordssh.board.store import Board

    with tempfile.TemporaryDirectory(prefix="coordssh-dry-") as tmp:
        board = ctx.board
        for source in (board.path, board.archive_path, board.events_path,
                       board.events_archive_path, board.cold_path):
            if source.exists():
                shutil.copy2(source, Path(tmp) / source.name)
        yield replace(ctx, board=Board.open(Path(tmp)))


async def _steps(ctx: Context, report: PassReport, registry: Registry) -> None:
    from coordssh.services.gc import collect
    from coordssh.services.hooks import round_hooks

    dry = report.dry_run
    first = await _guard(report, "comments", _first_pass(ctx))   # before anything is recorded
    if first:
        report.events.append({"first_pass": first})
    observation = await _guard(report, "observe", _observe(ctx, report))
    checkpoint("observed")
    if observation is not None:
        await _guard(report, "machines", _machines(ctx, report, observation))
    if not dry:     # a finished review's verdict goes to GitHub (once, by its marker)
        await _guard(report, "reviews", _reviews(ctx, report))
    calls = CommentBudget(ctx.config.pipeline.max_forge_calls_per_pass)
    report.events.extend(await _guard(report, "forge", watch_forge(ctx, calls, dry_run=dry)) or [])
    await _guard(report, "actions", _actions(ctx, report, registry))
    if ctx.config.pipeline.auto_plan and not dry:
        await _guard(report, "plan", _auto_plan(ctx, report))
    report.comments = await _guard(report, "comments", post_pending(ctx, calls, dry_run=dry)) \
        or []
    gc = await _guard(report, "gc", collect(ctx, dry_run=dry))
    if gc is not None:
        report.events.extend({"gc": line} for line in gc.lines())
    hooks = await _guard(report, "hooks", round_hooks(ctx, dry_run=dry))
    report.events.extend(hooks or [])


async def _guard(report: PassReport, step: str, work: Any) -> Any:
    try:
        return await work
    except CoordError as err:
        report.errors.append({"step": step, "error": err.message, "hint": err.hint or ""})
    except Exception as err:   # one step's bug must not stop the driver's other steps
        log.exception("notify step %s failed", step)
        report.errors.append({"step": step, "error": f"{type(err).__name__}: {err}", "hint": ""})
    return None


async def _first_pass(ctx: Context) -> dict[str, Any] | None:
    return start_cursor(ctx)     # a dry run's context holds a scratch board (scratch_board)


async def _reviews(ctx: Context, report: PassReport) -> None:
    from coordssh.services.review_post import settle_reviews

    failed: list[tuple[str, str]] = []
    for settled in await settle_reviews(ctx, ctx.board.list_work(), failed):
        report.events.append({"review": f"{settled.work} PR #{settled.pr}: {settled.result} "
                                        f"at {settled.sha[:7]} ({settled.how})"})
    report.skipped.extend({"work": work, "action": "post_review",
                           "skipped": f"review verdict not posted: {error}; next pass"}
                          for work, error in failed)


async def _auto_plan(ctx: Context, report: PassReport) -> None:
    """`pipeline.auto_plan`: plan, then approve as many proposals as this pass may still start
    (the plan's own checks: claims, capacity, conflicts, parking, the day budget). Every issue
    not started is reported with the plan's reason (those on the board already have theirs)."""
    import os

    from coordssh.services.approve import DISPATCHED, approve
    from coordssh.services.plan import make_plan
    from coordssh.services.plan_source import GhIssueSource

    room = max(ctx.config.pipeline.max_dispatches_per_pass - sum(
        1 for d in report.did if d.get("action") in ("dispatch", "repush")), 0)
    plan = await make_plan(ctx, GhIssueSource(gh=os.environ.get("COORDSSH_GH", "gh")))
    report.events.extend({"plan": note} for note in plan.notes)
    on_board = {item.key for item in ctx.board.list_work()}
    later = [(f"{p.repo}#{p.issue}", "pipeline.max_dispatches_per_pass reached: next pass")
             for p in plan.schedule.proposals[room:]]
    for work, why in [*((f"{k.repo}#{k.issue}", k.reason) for k in plan.schedule.skipped),
                      *later]:
        if work not in on_board:
            report.skipped.append({"work": work, "action": "plan", "skipped": why})
    ids = [p.id for p in plan.schedule.proposals][:room]
    for outcome in (await approve(ctx, ids)).outcomes if ids else ():
        entry = {"work": f"{outcome.repo}#{outcome.issue}", "action": "plan"}
        if outcome.status == DISPATCHED:
            report.did.append({**entry, "done": f"dispatched on {outcome.machine}"})
        else:
            report.skipped.append({**entry, "skipped": f"{outcome.status}: {outcome.reason}"})


# --- machines ---------------------------------------------------------------------------------
async def _observe(ctx: Context, report: PassReport):
    from coordssh.services.observe import observe

    return await observe(ctx)      # a dry run's context holds a scratch board (scratch_board)


async def _machines(ctx: Context, report: PassReport, observation) -> None:
    from coordssh.services.housekeeping import act_on

    dry = report.dry_run
    for mo in observation.machines:
        report.machines.append({"name": mo.name, "reachable": mo.reachable, "error": mo.error,
                                "running": mo.running, "chores": [c.kind for c in mo.chores]})
    if not dry:
        done = await act_on(ctx, observation)
        report.events.extend({"chore": run, "result": what} for run, what in done.items())
    rows = ctx.board.list()
    report.events.extend({"parking": p} for p in parking.park_from_rows(ctx, rows, dry_run=dry))
    report.events.extend({"stale": s} for s in stale.track(ctx, observation.machines,
                                                           dry_run=dry))


# --- actions ----------------------------------------------------------------------------------
async def _actions(ctx: Context, report: PassReport, registry: Registry) -> None:
    policy = policy_from_config(ctx.config)
    cap = ctx.config.pipeline.max_dispatches_per_pass
    started = finished = 0
    for item in ctx.board.list_work():
        item = ctx.board.get_work(item.key) or item       # fresh: an earlier step moved it
        action = next_action(item, policy, ctx.clock(), active_rows(ctx, item))
        entry = {"work": item.key, "stage": item.stage, "action": action.kind,
                 "role": action.role, "mode": action.mode, "reason": action.reason}
        why = why_not(ctx, item, action, registry, started >= cap)
        if why:
            if item.stage in FINAL_STAGES:
                finished += 1
            else:
                report.skipped.append({**entry, "skipped": why})
            continue
        if report.dry_run:
            report.did.append({**entry, "would": True})
            continue
        performer = registry.lookup(action)
        assert performer is not None
        try:
            done = await performer(ctx, item, action)
        except CoordError as err:
            report.skipped.append({**entry, "skipped": f"failed: {err.message}",
                                   "hint": err.hint or ""})
            continue
        checkpoint("performed")
        started += action.kind in ("dispatch", "repush")
        report.did.append({**entry, "done": done})
    if finished:
        report.events.append({"finished": f"{finished} work items merged or closed: nothing "
                                          "more to do"})
