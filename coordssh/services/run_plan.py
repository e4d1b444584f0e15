"""The plan of one run (services/assign.py starts it): its row, the wrapper's target, the brief,
the env and the wrapper's clocks, and what it shows (`AssignResult`).

`plan_run` builds it before anything is written; `seat` gives it a claude config slot inside
the intent transaction (services/slots.py); `carry` copies a resumed session's transcript into
that slot's dir before the dispatch exec (remote/transcript.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from coordssh.config.schema import Machine, Repo
from coordssh.domain import models as m
from coordssh.domain.models import Assignment, new_assignment_id
from coordssh.remote import envelope, launcher, transcript
from coordssh.remote.checkout import Checkout
from coordssh.remote.tmux import session_name
from coordssh.remote.worktree import OriginFacts, worktree_path
from coordssh.services import slots
from coordssh.services.brief import ROLE, Brief
from coordssh.services.context import Context
from coordssh.shell.paths import expand_with, join
from coordssh.transport.base import Transport


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
                "pid": self.pid, "model_source": self.model_source,
                **slots.shown(a)}
        if self.dry_run:
            data.update(command=self.command, launch=self.launch, prompt=self.prompt,
                        notes=list(self.notes))
        return data


@dataclass(frozen=True)
class RunShape:
    """What a run is beyond its brief; the defaults are a new implement run (`assign`)."""

    role: str = ROLE
    mode: str = "new"             # new | retry | continue (domain/stages.MODES)
    reopen: bool = False          # an explicit assign: a merged/abandoned item starts a new cycle
    worktree: str = ""            # a path to use (continue: the earlier run's, --resume's cwd)
    resume: str = ""              # the session to continue (`claude --resume`), kept as its id
    slot: str = ""                # the claude config dir to prefer (continue: the earlier run's)
    transcripts: tuple[str, ...] = ()   # the resumed session's, copied into the run's config dir
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    assignment: Assignment
    target: launcher.DispatchTarget
    brief: Brief
    env: dict[str, str]
    limits: envelope.Limits
    shape: RunShape = RunShape()
    home: str = ""                # the worker's $HOME (slot dirs are recorded with `~/`)

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
                envelope.Limits.of(runs.result_grace_s, runs.max_runtime_s), shape, home)


def fresh_id(ctx: Context) -> str:
    taken = {row.id for row in ctx.board.list(include_archived=True, cold=False)}
    while (candidate := new_assignment_id()) in taken or ctx.board.maybe_cold(candidate):
        continue
    return candidate




def seat(reader: slots.Reader, machine: Machine, plan: Plan,
         live: Iterable[Assignment] | None = None) -> Plan:
    """The plan in a claude config slot no live run holds (services/slots.py): call it inside
    the transaction that takes the machine's capacity. Unchanged without slots."""
    slot = slots.choose(reader, machine, plan.home, prefer=plan.shape.slot, live=live)
    row, env = slots.seat(plan.assignment, plan.env, slot)
    return replace(plan, assignment=row, env=env)


async def carry(transport: Transport, plan: Plan) -> None:
    """A resumed session's transcript copied where the run's claude looks for it (nothing to
    do when the run got the config dir the session ran in)."""
    if slots.held_dir(plan.assignment) == plan.shape.slot:
        return
    await transcript.carry(transport, plan.env, plan.shape.transcripts)
