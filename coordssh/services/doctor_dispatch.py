"""`doctor --dispatch`: one real dispatch per machine, with the replay agent (no tokens spent).

Over the doctor's open connection to the machine (a SharedConnector, so `assign` and the watch
reuse it): a scratch origin and clone under the machine's run_root (remote/scratch.py), the
replay agent installed beside them, then the real `assign` and `watch` services against a derived
Context: the same machine (host, launcher, env) with the scratch repo as its only repo, its
worktrees and runs inside the scratch directory, and a throwaway board in the operator's state
dir. The user's repos, origins and board are never touched. Checked: the run ended `done`, its
branch reached the scratch origin with the replay commit, the envelope says exit 0 and the sha.
Afterwards the run's processes, tmux session, scratch directory and board are removed.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from coordssh.agent.replay import install_replay_agent
from coordssh.config.schema import Machine, Repo
from coordssh.domain.models import Assignment
from coordssh.errors import CoordError, WaitTimeout
from coordssh.remote.scratch import (PREFIX, ScratchFacts, create_scratch, inspect_scratch,
                                     remove_scratch)
from coordssh.remote.signals import end_group
from coordssh.remote.tmux import session_name
from coordssh.services.assign import AssignRequest, assign
from coordssh.services.context import Context
from coordssh.services.doctor_checks import ERROR, Problem
from coordssh.services.watch import watch_run
from coordssh.shell.paths import join
from coordssh.transport.base import Transport
from coordssh.transport.shared import SharedConnector

REPO = "doctor-scratch"
ISSUE = 1
TITLE = "coordssh doctor dispatch check"
TIMEOUT_S = 180.0             # from the dispatch to the reconciled end of the run
REPLAY_PAUSE_S = "0.2"
REPLAY_SUBJECT = "replay: "


@dataclass(frozen=True)
class DispatchCheck:
    ok: bool
    seconds: float                  # end to end: scratch, dispatch, the run, checks, clean-up
    run_id: str | None = None
    status: str | None = None
    launcher: str = ""
    branch: str | None = None
    pushed_sha: str | None = None
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.seconds * 1000, 1), "run": self.run_id,
                "status": self.status, "launcher": self.launcher, "branch": self.branch,
                "pushed_sha": self.pushed_sha}


async def dispatch_check(ctx: Context, machine: Machine, transport: Transport, *,
                         timeout: float = TIMEOUT_S) -> DispatchCheck:
    started = time.perf_counter()
    token = uuid.uuid4().hex[:10]
    state_dir = ctx.config.state_dir / f"doctor-{token}"
    scratch, row, facts, problems = "", None, ScratchFacts(), []
    try:
        scratch = await create_scratch(transport, machine.run_root, PREFIX + token)
        probe_ctx = await _scratch_context(ctx, machine, transport, scratch, state_dir)
        row = await _assign(probe_ctx, machine)
        row = await watch_run(probe_ctx, row.id, timeout=timeout)   # as `coordssh wait` does
        facts = await inspect_scratch(transport, scratch, row.branch, row.run_dir)
        problems += _verdict(machine, row, facts)
    except WaitTimeout:
        problems.append(_problem(machine, f"the test run did not end within {timeout:g}s",
                                 f"{machine.name} may be overloaded, or its {machine.launcher} "
                                 "launcher stuck: run `coordssh doctor --dispatch "
                                 f"{machine.name}` again"))
    except CoordError as err:
        problems.append(_problem(machine, err.message, err.hint or ""))
    finally:
        problems += await _clean_up(ctx, machine, transport, scratch, row)
        shutil.rmtree(state_dir, ignore_errors=True)
    return DispatchCheck(
        ok=not problems, seconds=time.perf_counter() - started, run_id=row and row.id,
        status=row and row.status, launcher=machine.launcher, branch=row and row.branch,
        pushed_sha=facts.pushed_sha or None, problems=tuple(problems))


async def _scratch_context(ctx: Context, machine: Machine, transport: Transport, scratch: str,
                           state_dir) -> Context:
    """The machine as configured, serving only the scratch repo; a throwaway board."""
    agent = await install_replay_agent(transport, join(scratch, "runs"))
    worker = replace(machine, repos=(REPO,), repo_paths={REPO: join(scratch, "clone")},
                     worktree_root=join(scratch, "worktrees"), run_root=join(scratch, "runs"),
                     claude_command=agent, max_workers=1,
                     env={**machine.env, "COORDSSH_REPLAY_PAUSE": REPLAY_PAUSE_S})
    config = replace(ctx.config, state_dir=state_dir, repos={REPO: Repo(REPO)},
                     machines={machine.name: worker})
    return Context(config=config, board=type(ctx.board).open(state_dir),
                   connector=SharedConnector(transport), forge_factory=ctx.forge_factory,
                   clock=ctx.clock)


async def _assign(ctx: Context, machine: Machine) -> Assignment:
    """The same path as `coordssh assign`: worktree at the fetched sha, envelope, launcher."""
    request = AssignRequest(machine=machine.name, repo=REPO, issue=ISSUE, title=TITLE,
                            briefing="Leave a note and commit it.")
    return (await assign(ctx, request)).assignment


def _verdict(machine: Machine, row: Assignment, facts: ScratchFacts) -> list[Problem]:
    if row.status != "done":
        stderr = str(row.extra.get("stderr_tail") or "").strip()[-300:]
        return [_problem(machine, f"the test run ended {row.status}: {row.reason}"
                         + (f"; its stderr: {stderr}" if stderr else ""),
                         f"the run used the replay agent (no claude) under {machine.launcher}: "
                         f"check sh, git and {machine.launcher} on {machine.name}")]
    found = []
    if facts.exit_code != "0":
        found.append(_problem(machine, f"the test run's envelope says exit_code "
                                       f"{facts.exit_code or '(none)'}, not 0",
                              f"look at the wrapper on {machine.name}: is /bin/sh a POSIX sh?"))
    if not facts.origin_sha or facts.origin_sha != facts.pushed_sha:
        log = facts.push_log.strip().replace("\n", " | ")
        found.append(_problem(
            machine, f"the test run's branch {row.branch} did not reach its origin "
                     f"(origin {facts.origin_sha or 'none'}, pushed_sha "
                     f"{facts.pushed_sha or 'none'})" + (f"; push.log: {log}" if log else ""),
            f"check `git push` on {machine.name} (hooks, url rewrites or push settings in "
            "~/.gitconfig)"))
    elif not facts.subject.startswith(REPLAY_SUBJECT):
        found.append(_problem(machine, f"the branch on origin ends with {facts.subject!r}, "
                                       "not the replay agent's commit",
                              f"the agent could not commit in its worktree: check git's commit "
                              f"settings on {machine.name} (hooks, signing) and the machine's env"))
    return found


async def _clean_up(ctx: Context, machine: Machine, transport: Transport, scratch: str,
                    row: Assignment | None) -> list[Problem]:
    """End the run if it is still going, then remove its session and the scratch directory."""
    if not scratch:
        return []
    try:
        if row is not None and not row.terminal:
            await end_group(transport, row.run_dir, grace=ctx.config.runs.stop_grace_s)
        await remove_scratch(transport, scratch, session_name(row.id) if row else "")
    except CoordError as err:
        return [_problem(machine, err.message, err.hint or "")]
    return []


def _problem(machine: Machine, message: str, fix: str) -> Problem:
    message = message.removeprefix(f"on {machine.name}: ")   # remote errors name the machine
    return Problem(ERROR, f"dispatch on {machine.name}: {message}", fix, machine.name)
