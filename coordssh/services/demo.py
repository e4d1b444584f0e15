"""`coordssh demo`: two real assignments, side by side, in a throwaway sandbox.

The sandbox (demo_sandbox) holds a bare origin, a clone and a coordinator.yml with one local
machine; the agent (demo_agent) is `claude` when it is installed and logged in, else the replay
agent. Both issues go through the real `assign` service, then `observe` reconciles the board
until both runs end. The service yields events (data); the CLI renders them.

The sandbox is removed at the end unless `keep`; it is always kept when something went wrong
(a run still live at the timeout is stopped first), so there is something to look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from coordssh.agent.replay import install_replay_agent
from coordssh.config.schema import Config
from coordssh.domain.models import Assignment
from coordssh.forge.issue import Issue
from coordssh.services.context import Context
from coordssh.services.demo_agent import AgentChoice, choose_agent
from coordssh.services.demo_sandbox import (MACHINE, REPO, Sandbox, commit_subject, create_sandbox,
                                            origin_branches, sandbox_config)

ContextFactory = Callable[[Config, Iterable[Issue]], Context]

DEMO_ISSUES = (
    Issue(1, "Add a greeting",
          "Create greet.py with a function greet(name) that returns 'Hello, <name>!' and a "
          "`__main__` block that prints greet('world'). Keep it under 15 lines. Commit it."),
    Issue(2, "Document the demo",
          "Add a short section 'How this repository was made' to README.md: two sentences saying "
          "it was created by `coordssh demo` and that each worker got its own branch. Commit it."),
)
TIMEOUT_S = {"replay": 180.0, "claude": 1800.0}


@dataclass(frozen=True)
class DemoOptions:
    agent: str = "auto"              # auto | claude | replay
    keep: bool = False
    parent: Path | None = None       # where the sandbox directory is created (default: temp)
    timeout_s: float | None = None   # default by agent (TIMEOUT_S)
    replay_pause_s: float | None = None
    poll_s: float = 0.5
    claude: str = "claude"


# --- events -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentChosen:
    choice: AgentChoice


@dataclass(frozen=True)
class SandboxReady:
    sandbox: Sandbox
    config: Config


@dataclass(frozen=True)
class Assigned:
    assignment: Assignment


@dataclass(frozen=True)
class Progress:
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class BranchOutcome:
    assignment: Assignment
    origin_sha: str          # the branch's sha on the sandbox's origin ("" when not pushed)
    subject: str             # that commit's subject

    @property
    def ok(self) -> bool:
        a = self.assignment
        return a.status == "done" and bool(self.origin_sha) and self.origin_sha == a.pushed_sha


@dataclass(frozen=True)
class Finished:
    agent: AgentChoice
    sandbox: Path
    kept: bool
    outcomes: tuple[BranchOutcome, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(o.ok for o in self.outcomes)


DemoEvent = AgentChosen | SandboxReady | Assigned | Progress | Finished


# --- the run ------------------------------------------------------------------------------------
async def run_demo(options: DemoOptions, make_context: ContextFactory) -> AsyncIterator[DemoEvent]:
    choice = await choose_agent(options.agent, claude=options.claude)
    yield AgentChosen(choice)
    sandbox = await create_sandbox(options.parent)
    try:
        config = await _configure(sandbox, choice, options)
        ctx = make_context(config, DEMO_ISSUES)
    except BaseException:
        sandbox.remove()  # never announced: nothing to look at
        raise
    yield SandboxReady(sandbox, config)
    finished: Finished | None = None
    try:
        ids = []
        for issue in DEMO_ISSUES:
            assignment = await _assign(ctx, issue)
            ids.append(assignment.id)
            yield Assigned(assignment)
        rows, timed_out = (), False
        async for rows, timed_out in _follow(ctx, ids, _timeout(options, choice), options.poll_s):
            yield Progress(rows)
        if timed_out:
            rows = await _stop_live(ctx, rows)
        outcomes = await _outcomes(sandbox, rows)
        kept = options.keep or timed_out or not all(o.ok for o in outcomes)
        finished = Finished(choice, sandbox.root, kept, outcomes, timed_out)
    finally:
        if finished is not None and not finished.kept:
            sandbox.remove()
    yield finished


async def _configure(sandbox: Sandbox, choice: AgentChoice, options: DemoOptions) -> Config:
    if choice.name == "claude":
        return sandbox_config(sandbox, choice.claude_path, max_runtime_s=TIMEOUT_S["claude"])
    from coordssh.transport.local import LocalTransport

    async with LocalTransport(MACHINE) as transport:
        agent = await install_replay_agent(transport, sandbox.run_root)
    env = {} if options.replay_pause_s is None else \
        {"COORDSSH_REPLAY_PAUSE": f"{options.replay_pause_s:g}"}
    return sandbox_config(sandbox, agent, env=env, max_runtime_s=TIMEOUT_S["replay"])


async def _assign(ctx: Context, issue: Issue) -> Assignment:
    from coordssh.services.assign import AssignRequest, assign

    request = AssignRequest(machine=MACHINE, repo=REPO, issue=issue.number, title=issue.title,
                            briefing=issue.body)
    return (await assign(ctx, request)).assignment


async def _follow(ctx: Context, ids: list[str], timeout_s: float,
                  poll_s: float) -> AsyncIterator[tuple[tuple[Assignment, ...], bool]]:
    """(our rows, timed out?) after each observation, until every row is terminal."""
    from coordssh.services.observe import observe

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        observation = await observe(ctx, [MACHINE])
        rows = tuple(a for a in observation.assignments if a.id in ids)
        done = len(rows) == len(ids) and all(a.terminal for a in rows)
        late = not done and loop.time() >= deadline
        yield rows, late
        if done or late:
            return
        await asyncio.sleep(poll_s)


async def _stop_live(ctx: Context, rows: tuple[Assignment, ...]) -> tuple[Assignment, ...]:
    """Stop the runs still live at the timeout; their rows as observed afterwards."""
    from coordssh.remote.signals import stop_run
    from coordssh.services.observe import observe

    machine = ctx.config.machine(MACHINE)
    async with await ctx.connector.connect(machine) as transport:
        await asyncio.gather(*(stop_run(transport, row.run_dir, grace=ctx.config.runs.stop_grace_s,
                                        now=ctx.clock())
                               for row in rows if row.live and row.run_dir))
    ids = {row.id for row in rows}
    return tuple(a for a in (await observe(ctx, [MACHINE])).assignments if a.id in ids)


async def _outcomes(sandbox: Sandbox, rows: Iterable[Assignment]) -> tuple[BranchOutcome, ...]:
    branches = await origin_branches(sandbox)
    outcomes = []
    for row in rows:
        sha = branches.get(row.branch, "")
        subject = await commit_subject(sandbox, sha) if sha else ""
        outcomes.append(BranchOutcome(row, sha, subject))
    return tuple(outcomes)


def _timeout(options: DemoOptions, choice: AgentChoice) -> float:
    return options.timeout_s if options.timeout_s is not None else TIMEOUT_S[choice.name]
