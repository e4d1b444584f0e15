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
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coordssh.config.schema import Machine, Repo
from coordssh.domain import models as m
from coordssh.domain.models import Assignment, new_assignment_id
from coordssh.errors import NotFound, RemoteCommandFailed
from coordssh.remote import envelope, launcher
from coordssh.remote.checkout import Checkout, checkout_for
from coordssh.remote.tmux import session_name
from coordssh.remote.worktree import OriginFacts, branch_name, origin_facts, worktree_path
from coordssh.services import claims, pipeline
from coordssh.services.brief import ROLE, Brief, make_brief
from coordssh.services.context import Context
from coordssh.shell.paths import expand_with, join
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


@dataclass(frozen=True)
class AssignResult:
    assignment: Assignment
    prompt: str
    command: str                  # the claude command line (secrets masked)
    launch: str                   # how the wrapper is started
    dry_run: bool = False
    pid: int | None = None
    model_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        a = self.assignment
        data = {"id": a.id, "machine": a.machine, "repo": a.repo, "issue": a.issue,
                "title": a.title, "branch": a.branch, "model": a.model, "worktree": a.worktree,
                "run_dir": a.run_dir, "base_sha": a.base_sha, "status": a.status,
                "launcher": a.launcher, "session_id": a.session_id, "dry_run": self.dry_run,
                "pid": self.pid, "model_source": self.model_source}
        if self.dry_run:
            data.update(command=self.command, launch=self.launch, prompt=self.prompt,
                        notes=list(self.notes))
        return data


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
    shape = RunShape(extra={"briefing": request.briefing} if request.briefing else {})
    plan = plan_run(ctx, machine, repo, repo_path, brief, facts, checkout, claude, shape)
    notes += [checkout.note] if checkout.continued else []
    if request.dry_run:
        return plan.result(dry_run=True, notes=tuple(notes))
    return await start_run(ctx, transport, machine, plan, check_claims=not request.force,
                           on_intent=request.on_intent)


async def start_run(ctx: Context, transport: Transport, machine: Machine, plan: Plan, *,
                    check_claims: bool = True, before: Callable[[Any], None] | None = None,
                    on_intent: Callable[[Assignment], None] | None = None) -> AssignResult:
    """The intent row (refused by the work item's stage, claims, capacity: nothing written),
    then the one dispatch exec, then `running`. `before(tx)` runs first inside the intent
    transaction (a retry ends the lost run it replaces there)."""
    _record_intent(ctx, machine, plan, check_claims=check_claims, before=before)
    if on_intent is not None:
        on_intent(plan.assignment)
    pid = await _dispatch(ctx, transport, machine, plan)
    return plan.result(assignment=mark_running(ctx, plan.assignment, pid), pid=pid)


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
    new_name = branch_name(issue, brief.issue.title)
    item = ctx.board.get_work(f"{repo.name}#{issue}")
    if item is not None and item.stage == "merged" and item.branch:
        facts = claims.merged_by_pr(facts, item.branch)     # the PR says so, whatever git shows
    rows = ctx.board.list(include_archived=True, cold=False)
    if item is not None and not set(item.runs) <= {row.id for row in rows}:
        rows = ctx.board.list(include_archived=True)   # its older runs are in the cold archive
    owned = claims.issue_branch(rows, repo.name, issue, facts, new_name)
    return checkout_branch(ctx, machine, owned or new_name, facts)


def checkout_branch(ctx: Context, machine: Machine, branch: str, facts: OriginFacts) -> Checkout:
    """`branch` checked out for a new run on `machine` (continued when it exists)."""
    live = {row.worktree for row in ctx.board.list(live_only=True) if row.machine == machine.name}
    return checkout_for(facts, branch, machine=machine.name, live_worktrees=live,
                        worktree_root=expand_with(machine.worktree_root, facts.home))


# --- the plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunShape:
    """What a run is beyond its brief; the defaults are a new implement run (`assign`)."""

    role: str = ROLE
    mode: str = "new"             # new | retry | continue (domain/stages.MODES)
    worktree: str = ""            # a path to use (continue: the earlier run's, --resume's cwd)
    resume: str = ""              # the session to continue (`claude --resume`), kept as its id
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    assignment: Assignment
    target: launcher.DispatchTarget
    brief: Brief
    env: dict[str, str]
    limits: envelope.Limits
    shape: RunShape = RunShape()

    def claude_command(self, claude: str):
        if self.shape.resume:
            return self.brief.claude_command(claude, None, ("--resume", self.shape.resume))
        return self.brief.claude_command(claude, self.assignment.session_id)

    def run_sh(self, claude: str) -> str:
        row = self.assignment
        if not self.brief.playbook.push:     # the wrapper skips its post-run steps (no push)
            row = row.evolve(branch="")
        return envelope.render_run_sh(row, self.limits,
                                      envelope.env_command(self.env, self.claude_command(claude)))

    def tar(self, claude: str, now: float) -> bytes:
        files = envelope.envelope_files(self.assignment, self.brief.prompt, self.run_sh(claude))
        return envelope.bundle(files, mtime=now)

    def result(self, *, assignment: Assignment | None = None, **more: Any) -> AssignResult:
        shown = envelope.env_command(self.env, self.claude_command(self.target.claude_path))
        return AssignResult(assignment or self.assignment, self.brief.prompt, shown.display(),
                            launcher.launch_display(self.target).display(),
                            model_source=self.brief.model_source, **more)


def plan_run(ctx: Context, machine: Machine, repo: Repo, repo_path: str, brief: Brief,
             facts: OriginFacts, checkout: Checkout, claude: str,
             shape: RunShape = RunShape()) -> Plan:
    assignment_id = fresh_id(ctx)
    home = facts.home
    extra: dict[str, Any] = {"issue_url": brief.issue.url} if brief.issue.url else {}
    if checkout.continued:
        extra["continued"] = checkout.note
    if shape.mode != "new":
        extra["mode"] = shape.mode
    a = Assignment(
        id=assignment_id, machine=machine.name, repo=repo.name, issue=brief.issue.number,
        branch=checkout.branch, title=brief.issue.title,
        base_branch=repo.default_branch, base_sha=checkout.start_sha,
        worktree=shape.worktree or expand_with(
            worktree_path(machine.worktree_root, repo.name, assignment_id), home),
        run_dir=expand_with(join(machine.run_root, assignment_id), home),
        model=brief.model, role=shape.role, launcher=machine.launcher, status=m.STARTING,
        session_id=shape.resume or str(uuid.uuid4()), created_at=ctx.clock(),
        updated_at=ctx.clock(), extra={**extra, **shape.extra, **brief.model_extra()})
    target = launcher.DispatchTarget(
        repo_path=expand_with(repo_path, home), worktree=a.worktree, branch=a.branch,
        base_sha=a.base_sha, run_dir=a.run_dir, claude_path=claude, launcher=a.launcher,
        session=session_name(a.id), free_worktree=checkout.free)
    runs = ctx.config.runs
    return Plan(a, target, brief, dict(machine.env),
                envelope.Limits.of(runs.result_grace_s, runs.max_runtime_s), shape)


def fresh_id(ctx: Context) -> str:
    taken = {row.id for row in ctx.board.list(include_archived=True, cold=False)}
    while (candidate := new_assignment_id()) in taken or ctx.board.maybe_cold(candidate):
        continue
    return candidate


# --- intent, dispatch, outcome ------------------------------------------------------------------
def _record_intent(ctx: Context, machine: Machine, plan: Plan, *, check_claims: bool,
                   before: Callable[[Any], None] | None = None) -> None:
    """Put the `starting` row, re-checking claim and capacity under the lock: two assigns racing
    each other both passed the checks above, only one of them may take the last slot."""
    assignment = plan.assignment
    with ctx.board.transaction() as tx:
        if before is not None:
            before(tx)
        live = tx.list(live_only=True)
        if check_claims:
            holders = claims.board_holders(live, assignment.repo, assignment.issue)
            claims.ensure_unclaimed(assignment.repo, assignment.issue, holders, (), force=False)
        claims.ensure_capacity(machine, [row.id for row in live if row.machine == machine.name])
        pipeline.record_start(tx, assignment, ctx.clock(), mode=plan.shape.mode,
                              rung=pipeline.rung_of(ctx.config, assignment.model))


async def _dispatch(ctx: Context, transport: Transport, machine: Machine, plan: Plan) -> int | None:
    target = plan.target
    try:
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
