"""`assign`: dispatch one issue to one machine (checks, prompt, worktree, envelope, launch).

Order (crash safety): everything that can refuse happens before any write; then the board row
is put with status `starting` and every path the run will use (the intent); then ONE dispatch
exec creates the worktree, writes the envelope and launches; then the row becomes `running`.
A crash in between leaves a `starting` row that `observe` resolves from the machine. A dispatch
that failed for sure (a step of the script said so) turns the row `failed` with the reason.

On the machine, in one connection: the origin facts (fetch + claims), claude's path (cached),
the dispatch. A dry run reads origin with `git ls-remote` and writes nothing anywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
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
    notes = [await _check_capacity(ctx, machine, transport, dry_run=request.dry_run)]
    facts = await origin_facts(transport, repo_path, repo.default_branch, request.issue,
                               fetch=not request.dry_run)
    checkout = _checkout(ctx, machine, repo, brief, facts)
    claude = await launcher.claude_path(transport, machine.claude_command, ctx.board,
                                        remember=not request.dry_run)
    plan = _plan(ctx, machine, repo, repo_path, brief, facts, checkout, claude)
    notes += [checkout.note] if checkout.continued else []
    if request.dry_run:
        return plan.result(dry_run=True, notes=tuple(notes))
    _record_intent(ctx, machine, plan.assignment, force=request.force)
    if request.on_intent is not None:
        request.on_intent(plan.assignment)
    pid = await _dispatch(ctx, transport, machine, plan)
    return plan.result(assignment=_mark_running(ctx, plan.assignment, pid), pid=pid)


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


async def _check_capacity(ctx: Context, machine: Machine, transport: Transport,
                          *, dry_run: bool) -> str:
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
    owned = claims.issue_branch(ctx.board.list(include_archived=True), repo.name, issue, facts,
                                new_name)
    live = {row.worktree for row in ctx.board.list(live_only=True) if row.machine == machine.name}
    return checkout_for(facts, owned or new_name, machine=machine.name, live_worktrees=live,
                        worktree_root=expand_with(machine.worktree_root, facts.home))


# --- the plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    assignment: Assignment
    target: launcher.DispatchTarget
    brief: Brief
    env: dict[str, str]
    limits: envelope.Limits

    def claude_command(self, claude: str):
        return self.brief.claude_command(claude, self.assignment.session_id)

    def run_sh(self, claude: str) -> str:
        return envelope.render_run_sh(self.assignment, self.limits,
                                      envelope.env_command(self.env, self.claude_command(claude)))

    def tar(self, claude: str, now: float) -> bytes:
        files = envelope.envelope_files(self.assignment, self.brief.prompt, self.run_sh(claude))
        return envelope.bundle(files, mtime=now)

    def result(self, *, assignment: Assignment | None = None, **more: Any) -> AssignResult:
        shown = envelope.env_command(self.env, self.claude_command(self.target.claude_path))
        return AssignResult(assignment or self.assignment, self.brief.prompt, shown.display(),
                            launcher.launch_display(self.target).display(),
                            model_source=self.brief.model_source, **more)


def _plan(ctx: Context, machine: Machine, repo: Repo, repo_path: str, brief: Brief,
          facts: OriginFacts, checkout: Checkout, claude: str) -> Plan:
    assignment_id = _fresh_id(ctx)
    home = facts.home
    extra: dict[str, Any] = {"issue_url": brief.issue.url} if brief.issue.url else {}
    if checkout.continued:
        extra["continued"] = checkout.note
    a = Assignment(
        id=assignment_id, machine=machine.name, repo=repo.name, issue=brief.issue.number,
        branch=checkout.branch, title=brief.issue.title,
        base_branch=repo.default_branch, base_sha=checkout.start_sha,
        worktree=expand_with(worktree_path(machine.worktree_root, repo.name, assignment_id), home),
        run_dir=expand_with(join(machine.run_root, assignment_id), home),
        model=brief.model, role=ROLE, launcher=machine.launcher, status=m.STARTING,
        session_id=str(uuid.uuid4()), created_at=ctx.clock(), updated_at=ctx.clock(),
        extra={**extra, **brief.model_extra()})
    target = launcher.DispatchTarget(
        repo_path=expand_with(repo_path, home), worktree=a.worktree, branch=a.branch,
        base_sha=a.base_sha, run_dir=a.run_dir, claude_path=claude, launcher=a.launcher,
        session=session_name(a.id), free_worktree=checkout.free)
    runs = ctx.config.runs
    return Plan(a, target, brief, dict(machine.env),
                envelope.Limits.of(runs.result_grace_s, runs.max_runtime_s))


def _fresh_id(ctx: Context) -> str:
    taken = {row.id for row in ctx.board.list(include_archived=True)}
    while (candidate := new_assignment_id()) in taken:
        continue
    return candidate


# --- intent, dispatch, outcome ------------------------------------------------------------------
def _record_intent(ctx: Context, machine: Machine, assignment: Assignment, *, force: bool) -> None:
    """Put the `starting` row, re-checking claim and capacity under the lock: two assigns racing
    each other both passed the checks above, only one of them may take the last slot."""
    with ctx.board.transaction() as tx:
        live = tx.list(live_only=True)
        if not force:
            holders = claims.board_holders(live, assignment.repo, assignment.issue)
            claims.ensure_unclaimed(assignment.repo, assignment.issue, holders, (), force=False)
        claims.ensure_capacity(machine, [row.id for row in live if row.machine == machine.name])
        pipeline.record_start(tx, assignment, ctx.clock(),
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


def _mark_running(ctx: Context, assignment: Assignment, pid: int | None) -> Assignment:
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
