"""`coordssh test ID [--machine M]`: test the work item's head SHA with the repo's commands.

The commands: the repo's `build_command` then `test_command`, else `smoke_tests.default_command`
(no model, no tokens). The machine: the one named, else the first that serves the repo, has
the capabilities `smoke_tests.capability_rules` ask for the files the branch changed
(`git diff --name-only base...head`), and has room. The run is a row of role `test` whose
`base_sha` is the SHA under test; it starts on the work item through `pipeline.record_start`
(refused when the stage does not allow a test) and its end is the verdict (observe ->
pipeline.end_event). Followed like any run: `watch`, `wait`, `log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordssh.config.schema import Machine, Repo
from coordssh.domain import models as m
from coordssh.domain.models import Assignment
from coordssh.domain.work import Event, WorkItem, transition
from coordssh.errors import Refused, RemoteCommandFailed, TransitionRefused
from coordssh.remote import envelope
from coordssh.remote import test_run as remote
from coordssh.remote.tmux import session_name
from coordssh.remote.worktree import worktree_path
from coordssh.services import claims, pipeline
from coordssh.services.assign import mark_running
from coordssh.services.run_plan import fresh_id
from coordssh.services.context import Context
from coordssh.services.work_view import observed_item
from coordssh.shell.paths import expand_with, join
from coordssh.transport.base import Transport


@dataclass(frozen=True)
class DispatchedTest:
    assignment: Assignment
    command: str
    pid: int | None
    changed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        a = self.assignment
        return {"id": a.id, "machine": a.machine, "repo": a.repo, "issue": a.issue,
                "work": a.work_key, "role": a.role, "branch": a.branch, "sha": a.base_sha,
                "model": a.model, "worktree": a.worktree, "run_dir": a.run_dir,
                "status": a.status, "launcher": a.launcher, "command": self.command,
                "pid": self.pid, "changed_files": list(self.changed)}


async def dispatch_test(ctx: Context, which: str, *,
                        machine: str | None = None) -> DispatchedTest:
    key = pipeline.resolve_key(ctx.board, which)
    item = await _item(ctx, key)
    repo = ctx.config.repo(item.repo)
    commands = _commands(ctx, repo)
    candidates = [ctx.config.machine(machine)] if machine else _serving(ctx, repo)
    refusals = []
    for candidate in candidates:
        async with await ctx.connector.connect(candidate) as transport:
            try:
                return await _on_machine(ctx, item, repo, candidate, transport, commands)
            except TransitionRefused:
                raise      # the work item says no, not the machine
            except Refused as err:
                if machine:
                    raise
                refusals.append(err.message)
    raise Refused(f"no machine can test {key} now: " + "; ".join(refusals),
                  hint="wait for a run to finish, or name a machine with --machine")


async def _item(ctx: Context, key: str) -> WorkItem:
    item = await observed_item(ctx, key)
    if not item.head_sha or not item.branch:
        raise Refused(f"{key} has nothing pushed yet ({item.stage}): there is no SHA to test",
                      hint=f"wait for its run to push (`coordssh work {key}`)")
    transition(item, Event("run_started", {"role": "test"}), ctx.clock())  # refused here, early
    return item


def _commands(ctx: Context, repo: Repo) -> list[str]:
    found = [c for c in (repo.build_command, repo.test_command) if c]
    if not repo.test_command and ctx.config.smoke_tests.default_command:
        found.append(ctx.config.smoke_tests.default_command)
    if not found:
        raise Refused(f"repo '{repo.name}' has no test_command and smoke_tests has no "
                      "default_command", hint="set test_command for the repo in coordinator.yml")
    return found


def _serving(ctx: Context, repo: Repo) -> list[Machine]:
    found = [mc for mc in ctx.config.machines.values()
             if repo.name in mc.repos and mc.repo_paths.get(repo.name)]
    if not found:
        raise Refused(f"no machine serves repo '{repo.name}'",
                      hint="add it to a machine's repos and repo_paths in coordinator.yml")
    return found


async def _on_machine(ctx: Context, item: WorkItem, repo: Repo, machine: Machine,
                      transport: Transport, commands: list[str]) -> DispatchedTest:
    repo_path = claims.ensure_serves(machine, repo)
    facts = await remote.prepare(transport, repo_path, item.base_branch, item.branch,
                                 item.head_sha)
    missing = remote.required_capabilities(ctx.config.smoke_tests.capability_rules,
                                           facts.changed) - set(machine.capabilities)
    if missing:
        raise Refused(f"machine {machine.name} lacks {', '.join(sorted(missing))} "
                      "(smoke_tests.capability_rules for the files the branch changed)",
                      hint="pick a machine with those capabilities")
    from coordssh.services.observe import observe_machine

    seen = await observe_machine(ctx, machine, transport)
    claims.ensure_capacity(machine, [row.id for row in seen.assignments if row.live])
    row = detached_row(ctx, item, machine, facts.home)
    program = envelope.env_command(machine.env, remote.program_of(commands))
    limits = envelope.Limits.of(ctx.config.runs.result_grace_s,
                                ctx.config.smoke_tests.timeout_seconds)
    run_sh = envelope.render_run_sh(row.evolve(branch=""), limits, program)
    tar = envelope.bundle(envelope.envelope_files(row, "", run_sh), mtime=ctx.clock())
    with ctx.board.transaction() as tx:   # claims and capacity again, under the lock
        live = [r.id for r in tx.list(live_only=True) if r.machine == machine.name]
        claims.ensure_capacity(machine, live)
        row = pipeline.record_start(tx, row, ctx.clock())
    pid = await launch_detached(ctx, transport, row, repo_path, facts.home, tar)
    return DispatchedTest(mark_running(ctx, row, pid), program.display(), pid, facts.changed)


def detached_row(ctx: Context, item: WorkItem, machine: Machine, home: str) -> Assignment:
    """The `starting` row of a run in a worktree detached at the item's head (test, review)."""
    run_id, now = fresh_id(ctx), ctx.clock()
    return Assignment(
        id=run_id, machine=machine.name, repo=item.repo, issue=item.issue, branch=item.branch,
        title=item.title, base_branch=item.base_branch, base_sha=item.head_sha,
        worktree=expand_with(worktree_path(machine.worktree_root, item.repo, run_id), home),
        run_dir=expand_with(join(machine.run_root, run_id), home), model="", role="test",
        launcher=machine.launcher, status=m.STARTING, created_at=now, updated_at=now)


async def launch_detached(ctx: Context, transport: Transport, row: Assignment, repo_path: str,
                  home: str, tar: bytes) -> int | None:
    try:
        return await remote.dispatch(transport, repo_path=expand_with(repo_path, home),
                                     worktree=row.worktree, sha=row.base_sha,
                                     run_dir=row.run_dir, launcher=row.launcher,
                                     session=session_name(row.id), envelope_tar=tar)
    except RemoteCommandFailed as err:
        pipeline.end_run(ctx.board, row.id, ctx.clock(), status=m.FAILED,
                         reason=f"dispatch failed: {err.message}")
        raise

