"""`assign`: dispatch one issue to one machine (checks, prompt, worktree, envelope, launch).

Order (crash safety): everything that can refuse happens before any write; then the board row
is put with status `starting` and every path the run will use (the intent); then ONE dispatch
exec creates the worktree, writes the envelope and launches; then the row becomes `running`.
A crash in between leaves a `starting` row that `observe` resolves from the machine. A dispatch
that failed for sure (a step of the script said so) turns the row `failed` with the reason.

On the machine, in one connection: the origin facts (fetch + claims), claude's path (cached),
the dispatch. A dry run reads origin with `git ls-remote` and writes nothing anywhere.

Follow-up runs of a work item (`fix`, `retry`, `continue`: services/followup.py) go through the
same plan and start: `plan_run` with a `RunShape` (role, mode, a worktree path to reuse, a
session to `--resume`), `checkout_branch` for the item's existing branch, `start_run`.

The plan (`Plan`, `RunShape`, `AssignResult`) is services/run_plan.py. The intent transaction
also gives the run its claude config slot when the machine has them (services/slots.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coordssh.config.schema import Machine, Repo
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.domain.work_cycle import reopen_note
from coordssh.errors import NotFound, RemoteCommandFailed
from coordssh.remote import launcher
from coordssh.remote.checkout import Checkout, checkout_for
from coordssh.remote.worktree import OriginFacts, branch_name, origin_facts
from coordssh.services import claims, pipeline, run_plan, slots
from coordssh.services.brief import Brief, make_brief, on_branch
from coordssh.services.context import Context
from coordssh.services.run_plan import AssignResult, Plan, RunShape, plan_run
from coordssh.shell.paths import expand_with
from coordssh.transport.base import Transport


@dataclass(frozen=True)
class AssignRequest:
    machine: str
    repo: str
    issue: int
    model: str | None = None
    briefing: str = ""
    title: str | None = None
    force: bool = False
    dry_run: bool = False
    # told the intent row once it is on the board: from then on a run may be going on the
    # machine whatever happens to this call (the CLI names it when Ctrl-C comes after that)
    on_intent: Callable[[Assignment], None] | None = None


async def assign(ctx: Context, request: AssignRequest) -> AssignResult:
    machine = ctx.config.machine(request.machine)
    repo = ctx.config.repo(request.repo)
    repo_path = claims.ensure_serves(machine, repo)
    brief = await make_brief(ctx, repo, request)
    if not request.force:
        claims.ensure_unclaimed(repo.name, request.issue,
                                await _live_holders(ctx, repo.name, request.issue,
                                                    reconcile=not request.dry_run), (), force=False)
    async with await ctx.connector.connect(machine) as transport:
        return await _on_machine(ctx, request, machine, repo, repo_path, brief, transport)


async def _on_machine(ctx: Context, request: AssignRequest, machine: Machine, repo: Repo,
                      repo_path: str, brief: Brief, transport: Transport) -> AssignResult:
    notes = [await check_capacity(ctx, machine, transport, dry_run=request.dry_run)]
    facts = await origin_facts(transport, repo_path, repo.default_branch, request.issue,
                               fetch=not request.dry_run)
    checkout = _checkout(ctx, machine, repo, brief, facts)
    claude = await launcher.claude_path(transport, machine.claude_command, ctx.board,
                                        remember=not request.dry_run)
    reopens = reopen_note(ctx.board.get_work(f"{repo.name}#{request.issue}"), checkout.branch)
    extra = {"briefing": request.briefing} if request.briefing else {}
    shape = RunShape(extra={**extra, **({"reopens": reopens} if reopens else {})}, reopen=True)
    brief = on_branch(brief, repo, checkout.branch, request.briefing)
    plan = plan_run(ctx, machine, repo, repo_path, brief, facts, checkout, claude, shape)
    notes += [checkout.note] if checkout.continued else []
    notes += [reopens] if reopens else []
    if request.dry_run:
        seated = run_plan.seat(ctx.board, machine, plan)     # which slot it would take now
        notes += slots.env_note(ctx.board, machine)
        return seated.result(dry_run=True, notes=tuple(notes))
    return await start_run(ctx, transport, machine, plan, check_claims=not request.force,
                           on_intent=request.on_intent)


async def start_run(ctx: Context, transport: Transport, machine: Machine, plan: Plan, *,
                    check_claims: bool = True, before: Callable[[Any], None] | None = None,
                    on_intent: Callable[[Assignment], None] | None = None) -> AssignResult:
    """The intent row (refused by the work item's stage, claims, capacity: nothing written),
    then the one dispatch exec, then `running`. `before(tx)` runs first inside the intent
    transaction (a retry ends the lost run it replaces there). The run's claude config slot is
    taken there too (on the result's row)."""
    plan = _record_intent(ctx, machine, plan, check_claims=check_claims, before=before)
    if on_intent is not None:
        on_intent(plan.assignment)
    pid = await _dispatch(ctx, transport, machine, plan)
    return plan.result(assignment=mark_running(ctx, plan.assignment, pid), pid=pid,
                       notes=slots.env_note(ctx.board, machine))


async def _live_holders(ctx: Context, repo: str, issue: int, *, reconcile: bool) -> list[Assignment]:
    """Board rows holding repo#issue, re-read from their machines first: a finished run that no
    command has observed yet must not block (phantom rows, LESSONS 4). A dry run only reads."""
    holders = claims.board_holders(ctx.board.list(live_only=True), repo, issue)
    if holders and reconcile:
        from coordssh.services.housekeeping import act_on
        from coordssh.services.observe import observe

        await act_on(ctx, await observe(ctx, sorted({row.machine for row in holders
                                                     if row.machine in ctx.config.machines})))
        holders = claims.board_holders(ctx.board.list(live_only=True), repo, issue)
    return holders


async def check_capacity(ctx: Context, machine: Machine, transport: Transport,
                         *, dry_run: bool = False) -> str:
    """Live runs reconciled from the machine (observe), runs the board did not know included;
    a dry run only reports (nothing written, nothing ended)."""
    from coordssh.services.housekeeping import act_on_machine
    from coordssh.services.observe import observe_machine

    seen = await observe_machine(ctx, machine, transport, write=not dry_run)
    if not dry_run:
        await act_on_machine(ctx, transport, seen)     # their ends free the slots for next time
    live = [row.id for row in seen.assignments if row.live]
    claims.ensure_capacity(machine, live)
    return f"capacity: {len(live)}/{machine.max_workers} running"


def _checkout(ctx: Context, machine: Machine, repo: Repo, brief: Brief,
              facts: OriginFacts) -> Checkout:
    """The issue's own branch (an earlier run's, continued) or a new one at the fresh base."""
    issue = brief.issue.number
    item = ctx.board.get_work(f"{repo.name}#{issue}")
    rows = ctx.board.list(include_archived=True, cold=False)
    if item is not None and not set(_all_runs(item)) <= {row.id for row in rows}:
        rows = ctx.board.list(include_archived=True)   # its older runs are in the cold archive
    branch = claims.branch_for(rows, item, repo.name, issue, facts,
                               branch_name(issue, brief.issue.title))
    return checkout_branch(ctx, machine, branch, facts)


def _all_runs(item) -> list[str]:
    """The item's runs, this cycle's and the earlier cycles'."""
    return [*item.runs, *(r for e in item.earlier for r in e.get("runs") or ())]


def checkout_branch(ctx: Context, machine: Machine, branch: str, facts: OriginFacts) -> Checkout:
    """`branch` checked out for a new run on `machine` (continued when it exists)."""
    live = {row.worktree for row in ctx.board.list(live_only=True) if row.machine == machine.name}
    return checkout_for(facts, branch, machine=machine.name, live_worktrees=live,
                        worktree_root=expand_with(machine.worktree_root, facts.home))


# --- intent, dispatch, outcome ------------------------------------------------------------------
def _record_intent(ctx: Context, machine: Machine, plan: Plan, *, check_claims: bool,
                   before: Callable[[Any], None] | None = None) -> Plan:
    """Put the `starting` row, re-checking claim and capacity under the lock: two assigns racing
    each other both passed the checks above, only one of them may take the last place (and
    each claude config slot goes to one of them). The plan as put (its slot)."""
    with ctx.board.transaction() as tx:
        if before is not None:
            before(tx)
        live = tx.list(live_only=True)
        if check_claims:
            holders = claims.board_holders(live, plan.assignment.repo, plan.assignment.issue)
            claims.ensure_unclaimed(plan.assignment.repo, plan.assignment.issue, holders, (),
                                    force=False)
        claims.ensure_capacity(machine, [row.id for row in live if row.machine == machine.name])
        plan = run_plan.seat(tx, machine, plan, live)
        pipeline.record_start(tx, plan.assignment, ctx.clock(), mode=plan.shape.mode,
                              rung=pipeline.rung_of(ctx.config, plan.assignment.model),
                              reopen=plan.shape.reopen)
    return plan


async def _dispatch(ctx: Context, transport: Transport, machine: Machine, plan: Plan) -> int | None:
    target = plan.target
    try:
        await run_plan.carry(transport, plan)       # a resumed session's transcript, if moved
        try:
            return await launcher.dispatch(transport, target, plan.tar(target.claude_path,
                                                                       ctx.clock()))
        except RemoteCommandFailed as err:
            if err.exit_status != launcher.CLAUDE_MISSING:
                raise
        fresh = await launcher.claude_path(transport, machine.claude_command, ctx.board,
                                           refresh=True)
        target = launcher.DispatchTarget(**{**target.__dict__, "claude_path": fresh})
        return await launcher.dispatch(transport, target, plan.tar(fresh, ctx.clock()))
    except (RemoteCommandFailed, NotFound) as err:
        # a step of the script said it failed, or claude vanished since it was checked: nothing
        # runs, so the row is final (and claims nothing)
        pipeline.end_run(ctx.board, plan.assignment.id, ctx.clock(), status=m.FAILED,
                         reason=f"dispatch failed: {err.message}")
        raise


def mark_running(ctx: Context, assignment: Assignment, pid: int | None) -> Assignment:
    """`running` once the wrapper wrote its pid; else still `starting` (observe will see it)."""
    now = ctx.clock()
    changes: dict[str, Any] = {"updated_at": now}
    if pid is not None:
        changes.update(status=m.RUNNING, started_at=now)
    with ctx.board.transaction() as tx:
        current = tx.get(assignment.id)
        if current is None or current.status != m.STARTING:
            return current or assignment   # observe or stop got there first: theirs stands
        return tx.update(assignment.id, **changes)
