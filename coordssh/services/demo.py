"""`coordssh demo`: two issues carried to merged changes, side by side, in a throwaway sandbox.

The sandbox (demo_sandbox) holds a bare origin, a clone with a real test (`check.py`, the repo's
test_command) and a coordinator.yml with one local machine and a `pipeline:` that tests, opens
the PR and merges unattended; the agent (demo_agent) is `claude` when it is installed and logged
in, else the replay agent. Both issues go through the real `assign` service; then the notify
pass that cron runs (demo_pipeline) drives both work items until they are merged or stop, and
origin's main is asked whether each change is in it. The service yields events (data); the CLI
renders them.

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
from coordssh.domain.stages import MERGED
from coordssh.domain.work import WorkItem
from coordssh.forge.issue import Issue
from coordssh.services.context import Context
from coordssh.services.demo_agent import AgentChoice, choose_agent
from coordssh.services.demo_pipeline import Drive, PassDone, drive
from coordssh.services.demo_sandbox import (MACHINE, REPO, OnMain, Sandbox, create_sandbox, on_main,
                                            sandbox_config)

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
    replay_pause_s: float = 0.5      # the replay agent's pause between recorded steps
    poll_s: float = 0.5
    claude: str = "claude"
    test_command: str | None = None  # the sandbox repo's (default: `python3 check.py`)


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
class ItemOutcome:
    """One issue at the end: its work item, why it stopped short (if it did), origin's word."""

    item: WorkItem
    title: str
    blocked: str               # why it is not merged ("" when it is)
    origin: OnMain

    @property
    def problems(self) -> tuple[str, ...]:
        """What did not happen, each with why; () when the change is merged into main."""
        if self.item.stage != MERGED:
            return (f"not merged: {self.item.stage}: {self.blocked or 'no reason recorded'}",)
        found = []
        if not self.origin.contained:
            found.append(f"the board says merged, but its head {self.item.head_sha[:7]} is not in "
                         f"origin's main ({self.origin.main_sha[:7]})")
        if self.origin.branch_left:
            found.append(f"merged, but its branch {self.item.branch} is still on origin")
        return tuple(found)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def headline(self) -> str:
        """The problems in one line (the reasons in full are `problems`)."""
        if self.item.stage != MERGED:
            return f"#{self.item.issue} not merged: stopped at {self.item.stage}"
        return f"#{self.item.issue} " + "; ".join(self.problems)


@dataclass(frozen=True)
class Finished:
    agent: AgentChoice
    sandbox: Path
    kept: bool
    outcomes: tuple[ItemOutcome, ...]
    passes: int = 0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and len(self.outcomes) == len(DEMO_ISSUES) and \
            all(o.ok for o in self.outcomes)


DemoEvent = AgentChosen | SandboxReady | Assigned | PassDone | Finished


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
        keys = []
        for issue in DEMO_ISSUES:
            assignment = await _assign(ctx, issue)
            keys.append(assignment.work_key)
            yield Assigned(assignment)
        deadline = asyncio.get_running_loop().time() + _timeout(options, choice)
        end: Drive | None = None
        async for step in drive(ctx, keys, deadline=deadline, poll_s=options.poll_s):
            if isinstance(step, Drive):
                end = step
            else:
                yield step
        assert end is not None
        if end.timed_out:
            await _stop_live(ctx, keys)
        outcomes = await _outcomes(ctx, sandbox, end)
        kept = options.keep or end.timed_out or not all(o.ok for o in outcomes)
        finished = Finished(choice, sandbox.root, kept, outcomes, end.passes, end.timed_out)
    finally:
        if finished is not None and not finished.kept:
            sandbox.remove()
    yield finished


async def _configure(sandbox: Sandbox, choice: AgentChoice, options: DemoOptions) -> Config:
    if choice.name == "claude":
        return sandbox_config(sandbox, choice.claude_path, max_runtime_s=TIMEOUT_S["claude"],
                              test_command=options.test_command)
    from coordssh.transport.local import LocalTransport

    async with LocalTransport(MACHINE) as transport:
        agent = await install_replay_agent(transport, sandbox.run_root)
    env = {"COORDSSH_REPLAY_PAUSE": f"{options.replay_pause_s:g}"}
    return sandbox_config(sandbox, agent, env=env, max_runtime_s=TIMEOUT_S["replay"],
                          test_command=options.test_command)


async def _assign(ctx: Context, issue: Issue) -> Assignment:
    from coordssh.services.assign import AssignRequest, assign

    request = AssignRequest(machine=MACHINE, repo=REPO, issue=issue.number, title=issue.title,
                            briefing=issue.body)
    return (await assign(ctx, request)).assignment


async def _stop_live(ctx: Context, keys: list[str]) -> None:
    """Stop the items' runs still live at the timeout, and observe their ends."""
    from coordssh.remote.signals import stop_run
    from coordssh.services.observe import observe

    rows = [row for row in ctx.board.list() if row.work_key in keys and row.live and row.run_dir]
    machine = ctx.config.machine(MACHINE)
    async with await ctx.connector.connect(machine) as transport:
        await asyncio.gather(*(stop_run(transport, row.run_dir, grace=ctx.config.runs.stop_grace_s,
                                        now=ctx.clock()) for row in rows))
    await observe(ctx, [MACHINE])


async def _outcomes(ctx: Context, sandbox: Sandbox, end: Drive) -> tuple[ItemOutcome, ...]:
    titles = {issue.number: issue.title for issue in DEMO_ISSUES}
    outcomes = []
    for item in end.items:
        item = ctx.board.get_work(item.key) or item
        origin = await on_main(sandbox, item.head_sha, item.branch)
        outcomes.append(ItemOutcome(item, titles.get(item.issue, item.title),
                                    end.blocked.get(item.key, ""), origin))
    return tuple(outcomes)


def _timeout(options: DemoOptions, choice: AgentChoice) -> float:
    return options.timeout_s if options.timeout_s is not None else TIMEOUT_S[choice.name]
